#!/bin/bash
# agentlaunch --net rootless, run by an unprivileged user (65534 through
# setpriv, no groups): user + mount + pid + ipc + network namespaces, no
# veth; the relays listen on 127.0.0.1 inside the agent's namespace.  The
# same contract as isolated mode: the lock, the filesystem view, only the
# gateway and the allowed services reachable, lifecycle, audit.  Bare
# checks run the same helper commands as the same user without the launcher.
. "$(dirname "$0")/launcher_common.sh"
need_root launcher_rootless # to create the test fixtures and switch users
la_prereq
U=(setpriv --reuid 65534 --regid 65534 --clear-groups env -u XDG_RUNTIME_DIR HOME=/nonexistent)
if ! "${U[@]}" unshare -Urn true 2>/dev/null; then
	fail "rootless: unprivileged user namespaces" "unshare -Urn fails for uid 65534 here: enable them (sysctl kernel.unprivileged_userns_clone=1, user.max_user_namespaces)"
	exit 0
fi
BEFORE=$TMPBASE/before
snapshot >"$BEFORE"
chown 65534:65534 "$WD"
chmod 0700 "$WD"
RA=$TMPBASE/ra
mkdir -p "$RA"
chown 65534:65534 "$RA"
AUDIT=$RA/audit.jsonl

# ul ARGS...: agentlaunch --net rootless as 65534
ul() { timeout -k 5 60 "${U[@]}" "$LAUNCH" --net rootless --audit "$AUDIT" --workdir "$WD" "$@"; }
run_ul() {
	local opts=()
	while [ "$1" != "--" ]; do opts+=("$1"); shift; done
	shift
	OUT=$(ul "${opts[@]}" -- "$H" "$@" 2>&1 </dev/null)
	RC=$?
}
expect_ul() {
	local name=$1 want=$2
	shift 2
	run_ul "$@"
	check_outcome "rootless: $name" "$want"
}
AS_NOBODY=(setpriv --reuid 65534 --regid 65534 --clear-groups)

OUT=$("${U[@]}" "$LAUNCH" --audit "$AUDIT" --workdir "$WD" -- "$H" marker 2>&1 </dev/null)
RC=$?
if [ "$RC" = 125 ] && printf '%s' "$OUT" | grep -q 'use --net rootless'; then pass "non-root --net isolated: 125, says to use --net rootless"; else fail "non-root isolated" "exit $RC: $OUT"; fi

run_ul -- caps
if [ "$RC" = 0 ] && printf '%s' "$OUT" | grep -q 'uid=65534 euid=65534 gid=65534 egid=65534 CapEff=0000000000000000 CapPrm=0000000000000000 CapBnd=0000000000000000 NoNewPrivs=1 Seccomp=2'; then
	pass "rootless: uid 65534, no capabilities, no_new_privs, seccomp"
else
	fail "rootless: privileges" "$OUT"
fi
expect_ul "exec denied" BLOCKED:EPERM -- exec /bin/true
expect_ul "exec-race denied" BLOCKED:EPERM -- exec-race 8
expect_ul "fork denied" BLOCKED:EPERM -- fork
expect_ul "clone3 ENOSYS" BLOCKED:ENOSYS -- clone3
expect_ul "execveat(memfd) denied" BLOCKED:EPERM -- execveat-memfd
expect_ul "i386 killed" KILLED -- exec-i386
expect_ul "threads work" OK -- threads 16
for p in mount unshare-user setns ptrace bpf io_uring_setup userfaultfd tiocsti; do
	expect_ul "deny $p" BLOCKED:EPERM -- try-syscall "$p"
done
expect_bare "bare-exec as 65534" OK "${AS_NOBODY[@]}" -- exec "$H" marker ran
expect_bare "bare-fork as 65534" OK "${AS_NOBODY[@]}" -- fork
expect_bare "bare-try-syscall unshare-user as 65534" OK "${AS_NOBODY[@]}" -- try-syscall unshare-user

# filesystem
OTHERHOME=$(mktemp -d /home/altest.XXXXXX)
chmod 0755 "$OTHERHOME"
echo secret >"$OTHERHOME/notes"
chmod 0644 "$OTHERHOME/notes"
expect_ul "other users' homes hidden" BLOCKED -- read "$OTHERHOME/notes"
expect_bare "bare-read another home as 65534" OK "${AS_NOBODY[@]}" -- read "$OTHERHOME/notes"
rm -rf "$OTHERHOME"
expect_ul "workdir writable" OK -- write "$WD"
expect_ul "/tmp writable" OK -- write /tmp
MARK=/tmp/al-private-rl-$$-$RANDOM
expect_ul "write $MARK inside" OK -- write "$MARK" data
[ -e "$MARK" ] && { fail "rootless: /tmp private" "$MARK on the host"; rm -f "$MARK"; } || pass "rootless: /tmp is private"
chmod 0777 "$RA"
expect_ul "system read-only" BLOCKED -- write "$HBIN"
chmod 0755 "$RA"
expect_ul "/run hidden" BLOCKED -- ls /run/user

# network
listen_tcp ANYP "$TMPBASE/any" 0.0.0.0
listen_tcp SVCP "$TMPBASE/svc" 127.0.0.1 http
run_ul -- env AGENTGW_URL
[ "$OUT" = "OK AGENTGW_URL=http://127.0.0.1:9999" ] && pass "rootless: AGENTGW_URL=http://127.0.0.1:9999" || fail "rootless: AGENTGW_URL" "$OUT"
run_ul -- http-get env:AGENTGW_URL /healthz
printf '%s' "$OUT" | grep -q '^OK HTTP 200 .*"status":"ok"' && pass "rootless: gateway reachable through the relay" || fail "rootless: gateway" "$OUT"
run_ul --allow-service "127.0.0.1:$SVCP" -- http-get "env:AGENTLAUNCH_SERVICE_$SVCP" /
printf '%s' "$OUT" | grep -q "^OK HTTP 200 127.0.0.1:$SVCP" && pass "rootless: allowed service at 127.0.0.1:$SVCP inside" || fail "rootless: allowed service" "$OUT"
for a in $(ip -o -4 addr show | awk '{print $4}' | cut -d/ -f1); do
	expect_ul "0.0.0.0 listener unreachable via $a" BLOCKED -- connect-to "$a:$ANYP"
	expect_bare "bare-connect $a:$ANYP as 65534" OK "${AS_NOBODY[@]}" -- connect-to "$a:$ANYP"
done
if outside_host_up; then
	expect_ul "outside unreachable" BLOCKED:ENETUNREACH -- connect-to "$OUTSIDE_IP:$OUTSIDE_PORT"
	expect_bare "bare-connect to the outside host" OK -- connect-to "$OUTSIDE_IP:$OUTSIDE_PORT"
else
	fail "outside host" "cannot create the test's outside network namespace"
fi
outside_host_down

# lifecycle
OUT=$(ul -- /bin/sh -c 'exit 9' 2>&1 </dev/null)
RC=$?
[ "$RC" = 9 ] && pass "rootless: exit status passed through" || fail "rootless: exit status" "$RC $OUT"
"${U[@]}" env --default-signal=TERM "$LAUNCH" --net rootless --audit "$AUDIT" --workdir "$WD" -- "$H" sleep 30 </dev/null >/dev/null 2>&1 &
LPID=$!
BGPIDS+=("$LPID")
for i in $(seq 100); do APID=$(pgrep -f "^$H sleep 30" | head -1); [ -n "$APID" ] && break; sleep 0.05; done
kill -TERM "$LPID"
wait "$LPID"
rc=$?
[ "$rc" = 143 ] && pass "rootless: SIGTERM forwarded (143)" || fail "rootless: SIGTERM" "exit $rc"
"${U[@]}" "$LAUNCH" --net rootless --audit "$AUDIT" --workdir "$WD" -- "$H" sleep 60 </dev/null >/dev/null 2>&1 &
LPID=$!
disown "$LPID"
for i in $(seq 100); do APID=$(pgrep -f "^$H sleep 60" | head -1); [ -n "$APID" ] && break; sleep 0.05; done
kill -KILL "$LPID"
t0=$(now_ms)
while [ $(($(now_ms) - t0)) -lt 3000 ] && [ -d "/proc/$APID" ] && [ "$(awk '{print $3}' "/proc/$APID/stat" 2>/dev/null)" != Z ]; do sleep 0.02; done
el=$(($(now_ms) - t0))
if [ "$el" -le 2000 ]; then pass "rootless: launcher SIGKILLed, agent gone in ${el} ms"; else fail "rootless: launcher SIGKILL" "agent alive after $el ms"; fi
OUT=$(ul -v -- "$H" marker 2>&1 </dev/null)
if [ ! -d "/tmp/agentlaunch-65534/launch/$LPID" ]; then pass "rootless: leftovers swept by the next start"; else fail "rootless: sweep" "$OUT"; fi

# audit
run_ul -- exec /bin/true
if grep -q '"syscall":"execve"' "$AUDIT" && [ "$("$AGENTGW" --verify-audit "$AUDIT" >/dev/null 2>&1; echo $?)" = 0 ]; then
	pass "rootless: violation in the gateway's audit log, chain verifies"
else
	fail "rootless: audit" "$(tail -c 300 "$AUDIT")"
fi

leftovers_check rootless "$BEFORE"
