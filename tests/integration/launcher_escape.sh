#!/bin/bash
# Escape tests of agentlaunch (SPEC §2), --net isolated, as root: the static
# helper is the agent and tries every denial of the agent lock, exec races,
# other ABIs, the filesystem rules and the privilege drop; violations must
# reach the audit log, whose chain must verify.
#
# Each check that can be shown to succeed without its protection is run
# bare too ("bare-..."): the same helper command outside agentlaunch, as
# the same user (setpriv) or as root where the protection is a mount
# (--user 0 agents: uid 0 without capabilities).  The try-syscall probes
# are proven bare by helper_bare.sh (the same helper commands).
. "$(dirname "$0")/launcher_common.sh"
need_root launcher_escape
la_prereq
BEFORE=$TMPBASE/before
snapshot >"$BEFORE"
AS_NOBODY=(setpriv --reuid 65534 --regid 65534 --clear-groups)

# --- identity and privileges --------------------------------------------------
run_la -- caps
if [ "$RC" = 0 ] && printf '%s' "$OUT" | grep -q 'uid=65534 euid=65534 gid=65534' &&
	printf '%s' "$OUT" | grep -q 'CapEff=0000000000000000 CapPrm=0000000000000000 CapBnd=0000000000000000 NoNewPrivs=1 Seccomp=2'; then
	pass "privileges: uid/gid 65534, no capabilities (bounding set too), no_new_privs, seccomp"
else
	fail "privileges" "$(printf '%s' "$OUT" | tail -c 400)"
fi
run_la -- whoami
case "$OUT" in *"groups= pid=2 ppid=1"*) pass "no supplementary groups; pid 2 under init in a pid namespace" ;;
*) fail "groups/pid namespace" "$(printf '%s' "$OUT" | tail -c 300)" ;; esac
run_la -- fds
case "$OUT" in *"OK 3 fds: 0 1 2"*) pass "inherited fds closed (only 0 1 2)" ;;
*) fail "inherited fds closed" "$(printf '%s' "$OUT" | tail -c 300)" ;; esac
OUT=$(la -- "$H" fds 7>/dev/null 9</dev/null 2>&1 </dev/null)
case "$OUT" in *"OK 3 fds: 0 1 2"*) pass "fds 7 and 9 of the launcher not inherited" ;;
*) fail "launcher fds not inherited" "$(printf '%s' "$OUT" | tail -c 300)" ;; esac

# --- the exec/fork lock ------------------------------------------------------
expect_la "lock: exec /bin/true" BLOCKED:EPERM -- exec /bin/true
expect_bare "bare-exec (the helper re-executes itself)" OK "${AS_NOBODY[@]}" -- exec "$H" marker exec-ran
for c in exec-self execveat-memfd fork fork-raw vfork clone-process clone-vfork posix-spawn system; do
	expect_la "lock: $c" BLOCKED:EPERM -- "$c"
	expect_bare "bare-$c" OK "${AS_NOBODY[@]}" -- "$c"
done
expect_la "lock: clone3 (ENOSYS, so libc falls back to clone)" BLOCKED:ENOSYS -- clone3
expect_bare "bare-clone3" OK "${AS_NOBODY[@]}" -- clone3
expect_la "lock: exec-race, 16 threads + main spamming execve/execveat for 1 s" BLOCKED:EPERM -- exec-race 16
expect_bare "bare-exec-race" OK "${AS_NOBODY[@]}" -- exec-race 16
expect_la "lock: i386 execve (int 0x80) kills" KILLED -- exec-i386
expect_la "lock: x32 syscall kills" KILLED -- x32-getpid
OUT=$(timeout 60 "${AS_NOBODY[@]}" "$H" exec-i386 2>&1 </dev/null)
RC=$?
if [ "$RC" = 0 ] && printf '%s' "$OUT" | grep -q '^OK exec-i386-ran'; then
	pass "bare-exec-i386 ($OUT)"
elif printf '%s' "$OUT" | grep -q '^BLOCKED ENOSYS'; then
	pass "bare-exec-i386 (skipped: no IA32 emulation here, the sandbox check is vacuous: $OUT)"
else
	fail "bare-exec-i386" "exit $RC: $OUT"
fi
expect_la "threads keep working (64 threads)" OK -- threads 64

# --- the other denials of SPEC §2 (bare proof: helper_bare.sh) ---------------------
for p in ptrace process_vm_readv mount umount unshare-user unshare-net unshare-mount setns chroot \
	pivot_root bpf perf_event_open kexec_load init_module finit_module keyctl keyctl-raw \
	userfaultfd io_uring_setup tiocsti tiocsti-pty tioclinux personality personality32 \
	socket-packet socket-raw socket-alg socket-vsock socket-key open_by_handle_at fsopen \
	open_tree sethostname setuid-root; do
	expect_la "deny: $p" BLOCKED:EPERM -- try-syscall "$p"
done
expect_la "sockets: AF_UNIX allowed" OK -- try-syscall socket-unix
expect_la "sockets: AF_INET allowed" OK -- try-syscall socket-inet
expect_la "sockets: AF_NETLINK allowed" OK -- try-syscall socket-netlink

# --- filesystem ------------------------------------------------------------------
# /etc/shadow: masked.  A uid-0 agent (no capabilities) could read it by
# its owner bits, so that is the one that shows the mask.
run_la --user 0:0 -- read /etc/shadow
if printf '%s' "$OUT" | grep -q 'root:'; then
	fail "fs: /etc/shadow masked (uid 0 agent)" "$(printf '%s' "$OUT" | tail -c 200)"
else
	pass "fs: /etc/shadow masked (uid 0 agent): $(printf '%s' "$OUT" | head -1)"
fi
expect_bare "bare-read /etc/shadow as root shows it" OK -- read /etc/shadow
case "$OUT" in *root:*) ;; *) fail "bare-read /etc/shadow content" "$OUT" ;; esac
expect_la "fs: /etc/shadow unreadable (uid 65534)" BLOCKED -- read /etc/shadow
expect_la "fs: /root unreadable (uid 0 agent)" BLOCKED:EACCES --user 0:0 -- ls /root
expect_bare "bare-ls /root as root" OK -- ls /root
# another user's home, readable by everyone on the host
OTHERHOME=$(mktemp -d /home/altest.XXXXXX)
chmod 0755 "$OTHERHOME"
echo secret >"$OTHERHOME/notes"
chmod 0644 "$OTHERHOME/notes"
expect_la "fs: other users' homes hidden" BLOCKED -- read "$OTHERHOME/notes"
expect_bare "bare-read another home as 65534" OK "${AS_NOBODY[@]}" -- read "$OTHERHOME/notes"
rm -rf "$OTHERHOME"
# the system is read-only: /var/tmp/al-helper.* is a host directory
expect_la "fs: system read-only (uid 0 agent writes a root-owned dir)" BLOCKED:EROFS --user 0:0 -- write "$HBIN"
expect_bare "bare-write $HBIN as root" OK -- write "$HBIN"
expect_la "fs: workdir writable" OK -- write "$WD"
expect_la "fs: /tmp writable" OK -- write /tmp
MARK=/tmp/al-private-$$-$RANDOM
expect_la "fs: write $MARK inside" OK -- write "$MARK" data
if [ -e "$MARK" ]; then
	fail "fs: /tmp is private" "$MARK appeared on the host"
	rm -f "$MARK"
else
	pass "fs: /tmp is private ($MARK not on the host)"
fi
expect_la "fs: /dev/shm writable (private)" OK -- write /dev/shm
expect_la "fs: /run hidden (runtime sockets)" BLOCKED -- ls /run/agentlaunch
run_la -- pids
case "$OUT" in "OK 2 procs"*) pass "fs: fresh /proc shows the pid namespace only ($OUT)" ;;
*) fail "fs: fresh /proc" "$OUT" ;; esac
expect_la "fs: /proc/sys read-only" BLOCKED --user 0:0 -- write /proc/sys/kernel/hostname x

# workdir: created 0700 for the agent's user when missing; refused when not writable
NEWWD=$TMPBASE/new/wd
OUT=$(timeout 30 "$LAUNCH" --audit "$AUDIT" --workdir "$NEWWD" -- "$H" write "$NEWWD" 2>&1 </dev/null)
RC=$?
if [ "$RC" = 0 ] && [ "$(stat -c '%a %u' "$NEWWD" 2>/dev/null)" = "700 65534" ]; then
	pass "workdir: created 0700 for uid 65534"
else
	fail "workdir: created" "exit $RC, $(stat -c '%a %u' "$NEWWD" 2>&1): $OUT"
fi
RODIR=$TMPBASE/ro
mkdir -p "$RODIR"
chmod 0755 "$RODIR"
OUT=$(timeout 30 "$LAUNCH" --audit "$AUDIT" --workdir "$RODIR" -- "$H" marker 2>&1 </dev/null)
RC=$?
if [ "$RC" = 125 ] && printf '%s' "$OUT" | grep -q 'not writable' && ! printf '%s' "$OUT" | grep -q '^OK'; then
	pass "workdir: refused (125) when the agent's user cannot write it"
else
	fail "workdir: refused" "exit $RC: $OUT"
fi

# --- -v ------------------------------------------------------------------------------
OUT=$(la -v -- "$H" marker 2>&1 </dev/null)
missing=
for want in 'gateway: agentgw pid [0-9]+ healthy' 'netns: veth al-hub/eth0 10\.' 'seccomp: agent lock: [0-9]+ syscalls denied' \
	'fs: mount namespace' 'privileges: uid=65534 gid=65534 groups=0 caps=0 bounding=0 ambient=0 no_new_privs=1' \
	'landlock: ABI [0-9]+' "agent: .* exec'd as pid"; do
	printf '%s' "$OUT" | grep -Eq -- "$want" || missing="$missing [$want]"
done
if [ -z "$missing" ]; then pass "-v reports every isolation step"; else fail "-v" "missing$missing: $(printf '%s' "$OUT" | tail -c 300)"; fi

# --- violations in the audit log -----------------------------------------------------
VA=$TMPBASE/viol.jsonl
OUT=$(timeout 60 "$LAUNCH" --audit "$VA" --workdir "$WD" -- "$H" exec /bin/true $'evil\n\x1b[31mred' $'\xff\xfe' 2>&1 </dev/null)
OUT2=$(timeout 60 "$LAUNCH" --audit "$VA" --workdir "$WD" -- "$H" fork-raw 2>&1 </dev/null)
OUT3=$(timeout 60 "$LAUNCH" --audit "$VA" --workdir "$WD" -- "$H" fork 2>&1 </dev/null)
if $PY - "$VA" <<'PY'; then
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
v = [r for r in recs if r.get("event") == "sandbox_violation"]
ex = [r for r in v if r.get("syscall") == "execve" and r.get("path") == "/bin/true"]
fk = [r for r in v if r.get("syscall") == "fork"]
cl = [r for r in v if r.get("syscall") == "clone"]  # glibc fork() is clone(SIGCHLD)
assert cl, "no clone violation"
assert ex, "no execve violation for /bin/true: %r" % v
r = ex[0]
assert isinstance(r.get("pid"), int) and r["pid"] > 0, r
assert r["argv"][0] == "/bin/true" and r["argv"][1].startswith("evil\n\x1b[31m"), r["argv"]
assert "\ufffd" in r["argv"][2], r["argv"]
assert fk and isinstance(fk[0].get("pid"), int), "no fork violation"
assert r.get("identity") == "al-helper", r
# the gateway's log has each launch's agent_start / agent_exit too
st = [x for x in recs if x.get("event") == "agent_start"]
ex_ = [x for x in recs if x.get("event") == "agent_exit"]
assert len(st) == 3 and len(ex_) == 3, [x.get("event") for x in recs]
assert all(x["identity"] == "al-helper" and x["identity_verified"] is True for x in st + ex_), st + ex_
assert ex_[0]["violations"] >= 1 and all(x["launch_id"] == r["launch_id"] for x in (st[0], ex_[0])), ex_[0]
PY
	pass "audit: sandbox_violation records with pid, syscall, path, argv (hostile argv escaped); agent_start/agent_exit per launch"
else
	fail "audit: sandbox_violation records" "$(tail -c 600 "$VA")"
fi
if grep -q $'\x1b' "$VA"; then fail "audit: no raw control bytes" "ESC in the log"; else pass "audit: no raw control bytes in the log"; fi
expect_out "audit: agentgw --verify-audit passes" 'OK, [0-9]+ records' "$AGENTGW" --verify-audit "$VA"
# bare proof: without the lock nothing is recorded and the exec runs
expect_bare "bare-exec with argv (runs, nothing to record)" OK "${AS_NOBODY[@]}" -- exec "$H" marker x

# an exec flood: every attempt denied, recording rate-limited, chain intact
OUT=$(timeout 60 "$LAUNCH" --audit "$VA" --workdir "$WD" -- "$H" exec-race 8 2>&1 </dev/null)
n=$(grep -c '"sandbox_violation"' "$VA")
if printf '%s' "$OUT" | grep -q '^BLOCKED EPERM' && [ "$n" -ge 50 ] && [ "$n" -le 2000 ]; then
	pass "audit: exec flood recorded, rate-limited ($n violation records): $(printf '%s' "$OUT" | head -1)"
else
	fail "audit: exec flood" "$n records: $(printf '%s' "$OUT" | tail -c 300)"
fi
expect_out "audit: chain intact after the flood" 'OK, [0-9]+ records' "$AGENTGW" --verify-audit "$VA"

# --skip-gateway: the launcher writes its own --audit file
SA=$TMPBASE/skip.jsonl
OUT=$(timeout 60 "$LAUNCH" --skip-gateway http://127.0.0.1:9 --audit "$SA" --workdir "$WD" -- "$H" exec /bin/true 2>&1 </dev/null)
if printf '%s' "$OUT" | grep -q '^BLOCKED EPERM' && grep -q '"event":"sandbox_violation"' "$SA" &&
	grep -q '"event":"agent_start"' "$SA" && grep -q '"event":"agent_exit"' "$SA" && grep -q '"source":"agentlaunch"' "$SA"; then
	pass "--skip-gateway: violation, agent_start and agent_exit in the launcher's own audit log"
else
	fail "--skip-gateway audit" "$OUT / $(tail -c 400 "$SA" 2>&1)"
fi
expect_out "--skip-gateway: its log verifies" 'OK, [0-9]+ records' "$AGENTGW" --verify-audit "$SA"

leftovers_check escape "$BEFORE"
