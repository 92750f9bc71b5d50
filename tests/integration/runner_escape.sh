#!/bin/bash
# Escape tests of agentrun (SPEC §5): al-helper (tests/helper/helper.c) and
# Python snippets try to break out of the sandbox; every attempt must be
# BLOCKED, killed or contained.  helper_bare.sh runs the same attempts with no
# sandbox and shows that they succeed there, so each check here can fail.
#
# Test policy: generated from $POLICY (policy/default.json) with python3.
#   escape        command_default + the helper's directory read-only,
#                 workspace under $TMPBASE, known limits (stdout cap, pids 64)
#   escape_mem64  the same with mem_max_mb 64
#   escape_lock   the same with deny_spawn_processes true (exec/fork lock)
#   python_sandbox  the shipped one, workspace under $TMPBASE
# The helper is copied to a fresh /var/tmp/al-helper.* directory (removed at
# exit): a path under /tmp or /work would collide with the sandbox's own
# /tmp tmpfs and /work workspace mounts.
# AL_HELPER / AL_AGENTRUN override the binaries (default build/bin).
. "$(dirname "$0")/../lib.sh"
HELPER=${AL_HELPER:-$HELPER}
AGENTRUN=${AL_AGENTRUN:-$AGENTRUN}
PY=/usr/bin/python3
CAP=1000000 # max_stdout_bytes of the test profiles
IDENT=escape
LISTENERS=()
HBIN=
cleanup() {
	local p
	for p in "${LISTENERS[@]}"; do kill "$p" 2>/dev/null; done
	outside_host_down
	[ -n "$HBIN" ] && rm -rf "$HBIN"
	umount -R -l "$TMPBASE/shws" 2>/dev/null
	rm -rf --one-file-system "$TMPBASE"
}
trap cleanup EXIT

need_root runner_escape
missing=
[ -x "$AGENTRUN" ] || missing="$missing agentrun ($AGENTRUN: run make)"
[ -x "$HELPER" ] || missing="$missing al-helper ($HELPER: run make)"
[ -f "$POLICY" ] || missing="$missing policy ($POLICY)"
if [ -n "$missing" ]; then
	fail prerequisites "missing:$missing"
	exit 0
fi

if ! private_helper; then
	fail prerequisites "cannot copy al-helper to /var/tmp"
	exit 0
fi
mkdir -p "$TMPBASE/ws"
chmod 0755 "$TMPBASE/ws"
TPOL=$TMPBASE/policy.json
# A workspace base on a shared mount (as / is under systemd): the sandbox's
# mounts inside the workspace (deny masks) must not propagate to the host.
SHWS=$TMPBASE/shws
mkdir -p "$SHWS" && mount -t tmpfs -o size=8m,mode=0755 al-shws "$SHWS" && mount --make-shared "$SHWS"
if ! CWD=$($PY - "$POLICY" "$TPOL" "$HBIN" "$TMPBASE/ws" "$CAP" "$SHWS" <<'PY'
import copy, json, sys
src, out, hbin, ws, cap, shws = sys.argv[1:7]
p = json.load(open(src))
profs = p["profiles"]

def adapt(prof):
    prof = copy.deepcopy(prof)
    fs = prof.setdefault("fs", {})
    fs["workspace"] = ws + "/{identity}"
    return prof

esc = adapt(profs["command_default"])
esc["fs"].setdefault("read_only", []).append(hbin)
esc["deny_spawn_processes"] = False
esc.setdefault("limits", {}).update({"timeout_sec": 30, "mem_max_mb": 256, "pids_max": 64,
                                     "max_stdout_bytes": int(cap), "max_stderr_bytes": int(cap)})
mem = copy.deepcopy(esc)
mem["limits"]["mem_max_mb"] = 64
lock = copy.deepcopy(esc)
lock["deny_spawn_processes"] = True
shared = copy.deepcopy(esc)
shared["fs"]["workspace"] = shws + "/{identity}"
shared["fs"].setdefault("deny", []).append(esc["fs"].get("cwd", "/work") + "/secret.txt")
profs.update({"escape": esc, "escape_mem64": mem, "escape_lock": lock, "escape_shared": shared,
              "python_sandbox": adapt(profs["python_sandbox"])})
json.dump(p, open(out, "w"), indent=1)
print(esc["fs"].get("cwd", "/work"))
PY
); then
	fail test-policy "cannot derive the test policy from $POLICY"
	exit 0
fi

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# ar ARGS...: agentrun with the test policy, bounded.
ar() { timeout -k 5 90 "$AGENTRUN" --policy "$TPOL" "$@"; }

# sb PROFILE HELPER-ARGS...: run the helper in the sandbox; sets OUT and RC.
sb() {
	local prof=$1
	shift
	OUT=$(ar --profile "$prof" --identity "$IDENT" -- "$H" "$@" 2>&1 </dev/null)
	RC=$?
}

# expect_sb NAME WANT PROFILE HELPER-ARGS...: sb, then check_outcome
# (tests/lib.sh) with WANT: OK | BLOCKED | BLOCKED:ERRNO | KILLED.
expect_sb() {
	local name=$1 want=$2 prof=$3
	shift 3
	sb "$prof" "$@"
	check_outcome "$name" "$want"
}

# jrun FILE ARGS...: agentrun --json ARGS > FILE; sets RC and EL (ms).
jrun() {
	local f=$1 t0
	shift
	t0=$(now_ms)
	ar --json "$@" >"$f" 2>"$f.err" </dev/null
	RC=$?
	EL=$(($(now_ms) - t0))
}
# jtest FILE PYEXPR: true when PYEXPR holds for the result object r.
jtest() {
	$PY -c 'import json,sys; r=json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' "$1" "$2" 2>/dev/null
}
# jsum FILE: the result object with long fields cut, for failure messages.
jsum() {
	$PY -c '
import json, sys
raw = open(sys.argv[1], errors="replace").read()
try:
    r = json.loads(raw)
except Exception as e:
    print("not JSON (%s): %r; stderr: %r" % (e, raw[:200], open(sys.argv[1] + ".err", errors="replace").read()[-300:]))
    sys.exit()
for k in ("stdout", "stderr"):
    if isinstance(r.get(k), str) and len(r[k]) > 120:
        r[k] = r[k][:120] + "...(%d chars)" % len(r[k])
print(json.dumps(r))' "$1"
}

listen_tcp() {
	$PY -c '
import os, socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0)); s.listen(64); s.settimeout(1)
open(sys.argv[1] + ".tmp", "w").write(str(s.getsockname()[1]))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
end = time.time() + 800
while time.time() < end:
    try:
        c, _ = s.accept(); c.close()
    except socket.timeout:
        pass
' "$1" &
	LISTENERS+=($!)
}
listen_abstract() {
	$PY -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.bind("\0" + sys.argv[1]); s.listen(64); s.settimeout(1)
open(sys.argv[2], "w").write("ready")
end = time.time() + 800
while time.time() < end:
    try:
        c, _ = s.accept(); c.close()
    except socket.timeout:
        pass
' "$1" "$2" &
	LISTENERS+=($!)
}
wait_file() {
	for _ in $(seq 100); do
		[ -s "$1" ] && return 0
		sleep 0.05
	done
	return 1
}
# Directories of per-run cgroups (anything below a cgroup named agentlaunch*).
cgroup_runs() { find /sys/fs/cgroup -maxdepth 7 -mindepth 2 -type d -path '*/agentlaunch*/*' 2>/dev/null | sort; }
# Persistent host mounts made once and kept by design are not leftovers:
# /run/netns (iproute2's, for the test's outside namespace) and the v1
# favordynmods hierarchy agentrun mounts (docs/cgroups.md).
host_mounts() { awk '{print $5}' /proc/self/mountinfo | grep -vx -e /run/netns -e /run/agentlaunch/cgfavor | sort; }
CG_START=$(cgroup_runs)
MNT_START=$(host_mounts)

# ---------------------------------------------------------------- sanity
# Everything below needs a sandbox that runs the helper at all.
sb escape marker sandbox-alive
if [ "$RC" = 0 ] && [ "$OUT" = "OK sandbox-alive" ]; then
	pass sandbox-runs-helper
else
	fail sandbox-runs-helper "exit $RC, want 0 and 'OK sandbox-alive' (stopping: every other check needs this): $(printf '%s' "$OUT" | tail -c 400)"
	exit 0
fi
expect_sb threads-work OK escape threads 16
expect_sb fork-works-in-command-profile OK escape fork

# ---------------------------------------------------------------- visibility
sb escape pids
n=$(printf '%s\n' "$OUT" | sed -nE 's/^OK ([0-9]+) procs$/\1/p')
if [ -n "$n" ] && [ "$n" -le 3 ]; then
	pass "host-processes-invisible ($n visible)"
else
	fail host-processes-invisible "want <= 3 processes in /proc: exit $RC: $OUT"
fi
expect_sb host-pid-unsignalable BLOCKED escape kill $$ 0

# ---------------------------------------------------------------- files
expect_sb shadow-unreadable BLOCKED escape read /etc/shadow
expect_sb root-home-unreadable BLOCKED escape read /root
expect_sb proc1-root-shadow-unreadable BLOCKED escape read /proc/1/root/etc/shadow
for f in /proc/kcore "$(findmnt -no SOURCE / 2>/dev/null)"; do
	case "$f" in /*) ;; *) continue ;; esac
	if "$H" read "$f" >/dev/null 2>&1; then
		expect_sb "unreadable-$f" BLOCKED escape read "$f"
	else
		pass "unreadable-$f (skipped: not readable even bare on this host)"
	fi
done
for d in / /usr /etc /bin /lib; do
	expect_sb "write-denied-$d" BLOCKED escape write "$d"
done
expect_sb write-denied-helper-dir BLOCKED escape write "$HBIN"
expect_sb write-denied-core_pattern BLOCKED escape write /proc/sys/kernel/core_pattern
if [ -e /proc/sysrq-trigger ]; then
	expect_sb write-denied-sysrq-trigger BLOCKED escape write /proc/sysrq-trigger
else
	pass "write-denied-sysrq-trigger (skipped: no /proc/sysrq-trigger in this kernel)"
fi
expect_sb workspace-writable OK escape write "$CWD"
expect_sb tmp-writable OK escape write /tmp

# ---------------------------------------------------------------- identity
sb escape caps
capline=$(printf '%s\n' "$OUT" | grep '^OK uid=')
field() { printf '%s\n' "$capline" | sed -nE "s/.* $1=([^ ]*).*/\1/p"; }
if [ -z "$capline" ]; then
	fail caps "no caps line: exit $RC: $OUT"
else
	for c in CapEff CapPrm CapBnd; do
		v=$(field "$c")
		if [ "$v" = 0000000000000000 ]; then pass "caps-$c-empty"; else fail "caps-$c-empty" "$c=$v"; fi
	done
	v=$(field NoNewPrivs)
	if [ "$v" = 1 ]; then pass no-new-privs; else fail no-new-privs "NoNewPrivs=$v"; fi
	v=$(field Seccomp)
	if [ "$v" = 2 ]; then pass seccomp-filter-mode; else fail seccomp-filter-mode "Seccomp=$v (2 = filter)"; fi
	u=$(printf '%s\n' "$capline" | sed -nE 's/^OK uid=([0-9]+) euid=([0-9]+) gid=([0-9]+) egid=([0-9]+).*/\1 \2 \3 \4/p')
	case " $u " in
	*" 0 "* | "  ") fail non-root-ids "uid euid gid egid = '$u'" ;;
	*) pass "non-root-ids ($u)" ;;
	esac
fi
OUT=$(ar --profile escape --identity "$IDENT" -- "$H" fds 2>&1 </dev/null 7</etc/hostname 9</etc/hostname)
RC=$?
fds=$(printf '%s\n' "$OUT" | sed -nE 's/^OK [0-9]+ fds:(.*)$/\1/p')
if [ "$RC" = 0 ] && [ -n "$fds" ] && [ -z "$(echo $fds | tr ' ' '\n' | grep -vxE '0|1|2')" ]; then
	pass "no-inherited-fds (${fds# })"
else
	fail no-inherited-fds "want only 0 1 2 open (the host had 7 and 9): exit $RC: $OUT"
fi

# ---------------------------------------------------------------- network
listen_tcp "$TMPBASE/port"
if wait_file "$TMPBASE/port"; then
	port=$(cat "$TMPBASE/port")
	if "$H" connect 127.0.0.1 "$port" >/dev/null; then
		expect_sb host-loopback-listener-unreachable BLOCKED escape connect 127.0.0.1 "$port"
	else
		fail host-loopback-listener-unreachable "the host itself cannot reach its listener on 127.0.0.1:$port"
	fi
else
	fail host-loopback-listener-unreachable "the python3 listener did not start"
fi
abs="al-test-escape-$$-$RANDOM"
listen_abstract "$abs" "$TMPBASE/abs"
if wait_file "$TMPBASE/abs"; then
	expect_sb host-abstract-unix-unreachable BLOCKED escape connect-unix "@$abs"
else
	fail host-abstract-unix-unreachable "the python3 listener did not start"
fi
# An outside address: a listener in a network namespace of the test's own,
# reachable from the host (checked) but not from the sandbox, which has no
# route at all: the connect must fail at once (a timeout would mean a
# packet left the sandbox).
if outside_host_up; then
	if "$H" connect "$OUTSIDE_IP" "$OUTSIDE_PORT" >/dev/null; then
		sb escape connect "$OUTSIDE_IP" "$OUTSIDE_PORT"
		if [ "$RC" = 1 ] && printf '%s\n' "$OUT" | grep -Eq '^BLOCKED (ENETUNREACH|EHOSTUNREACH|EACCES|EPERM|EADDRNOTAVAIL) '; then
			pass "outside-address-unreachable ($OUT)"
		else
			fail outside-address-unreachable "want BLOCKED ENETUNREACH (no route at all): exit $RC: $OUT"
		fi
		expect_sb udp-out-unroutable BLOCKED escape udp "$OUTSIDE_IP" 53
	else
		fail outside-address-unreachable "the host cannot reach its own test listener $OUTSIDE_IP:$OUTSIDE_PORT"
	fi
else
	fail outside-address-unreachable "cannot create the test's outside network namespace"
fi
outside_host_down
expect_sb inet-sockets-still-allowed OK escape try-syscall socket-inet

# ---------------------------------------------------------------- syscalls
for p in ptrace mount umount unshare-user unshare-net unshare-mount setns keyctl keyctl-raw \
	bpf io_uring_setup perf_event_open userfaultfd process_vm_readv chroot pivot_root \
	kexec_load init_module finit_module personality tiocsti-pty socket-packet socket-raw \
	socket-alg socket-vsock socket-key mknod setuid-root open_by_handle_at fsopen open_tree \
	sethostname; do
	expect_sb "syscall-$p" BLOCKED escape try-syscall "$p"
done
# TIOCSTI into the terminal agentrun was given (stdin a pty under script(1)).
if command -v script >/dev/null; then
	OUT=$(timeout -k 5 90 script -qec "$AGENTRUN --policy $TPOL --profile escape --identity $IDENT -- $H try-syscall tiocsti" /dev/null </dev/null 2>&1)
	RC=$?
	if [ "$RC" = 1 ] && printf '%s\n' "$OUT" | grep -q 'BLOCKED '; then
		pass "tiocsti-into-terminal ($(printf '%s' "$OUT" | tr -d '\r' | grep BLOCKED))"
	else
		fail tiocsti-into-terminal "want BLOCKED: exit $RC: $(printf '%s' "$OUT" | tail -c 400)"
	fi
else
	fail tiocsti-into-terminal "script(1) is missing (apt-get install bsdutils)"
fi
expect_sb exec-i386-killed KILLED escape exec-i386
expect_sb x32-syscall-killed KILLED escape x32-getpid

# ---------------------------------------------------------------- exec/fork lock
expect_sb lock-first-exec-allowed OK escape_lock marker first-exec
expect_sb lock-threads-work OK escape_lock threads 16
for c in fork fork-raw vfork clone-process clone-vfork; do
	expect_sb "lock-$c" BLOCKED:EPERM escape_lock "$c"
done
expect_sb lock-clone3-enosys BLOCKED:ENOSYS escape_lock clone3
expect_sb lock-posix-spawn BLOCKED escape_lock posix-spawn
expect_sb lock-system BLOCKED escape_lock system
expect_sb lock-exec-true BLOCKED:EPERM escape_lock exec /bin/true
expect_sb lock-exec-self BLOCKED:EPERM escape_lock exec-self
expect_sb lock-execveat-memfd BLOCKED escape_lock execveat-memfd
expect_sb lock-exec-race BLOCKED escape_lock exec-race 8
expect_sb lock-exec-i386-killed KILLED escape_lock exec-i386

# ---------------------------------------------------------------- python profile
# py NAME WANT CODE: --code in python_sandbox; WANT must be printed, ESCAPED not.
py() {
	local name=$1 want=$2 code=$3
	OUT=$(ar --profile python_sandbox --identity "$IDENT" --code "$code" 2>&1 </dev/null)
	RC=$?
	if printf '%s\n' "$OUT" | grep -q -- "$want" && ! printf '%s\n' "$OUT" | grep -q ESCAPED; then
		pass "py-$name ($(printf '%s\n' "$OUT" | grep -- "$want" | head -1 | cut -c1-100))"
	else
		fail "py-$name" "want '$want' and no ESCAPED: exit $RC: $(printf '%s' "$OUT" | tail -c 400)"
	fi
}
py subprocess-blocked BLOCKED '
import subprocess
try:
    r = subprocess.run(["/bin/true"])
    print("ESCAPED rc=%d" % r.returncode)
except OSError as e:
    print("BLOCKED", e)'
py os-system-blocked BLOCKED '
import os
r = os.system("true")
print("ESCAPED" if r == 0 else "BLOCKED status=%d" % r)'
py fork-blocked BLOCKED '
import os
try:
    pid = os.fork()
except OSError as e:
    print("BLOCKED", e)
else:
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    print("ESCAPED fork")'
py posix-spawn-blocked BLOCKED '
import os
try:
    pid = os.posix_spawn("/bin/true", ["true"], {})
    os.waitpid(pid, 0)
    print("ESCAPED")
except OSError as e:
    print("BLOCKED", e)'
py ctypes-execve-blocked BLOCKED '
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
argv = (ctypes.c_char_p * 3)(b"/bin/echo", b"ESCAPED-BY-EXEC", None)
envp = (ctypes.c_char_p * 1)(None)
libc.execve(b"/bin/echo", argv, envp)
print("BLOCKED", os.strerror(ctypes.get_errno()))'
py ctypes-syscall-execve-blocked BLOCKED '
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
argv = (ctypes.c_char_p * 3)(b"/bin/echo", b"ESCAPED-BY-EXEC", None)
envp = (ctypes.c_char_p * 1)(None)
libc.syscall(59, b"/bin/echo", argv, envp)
print("BLOCKED", os.strerror(ctypes.get_errno()))'
py shadow-unreadable BLOCKED '
try:
    open("/etc/shadow").read(1)
    print("ESCAPED read /etc/shadow")
except OSError as e:
    print("BLOCKED", e)'
py threads-work THREADS-OK '
import threading
res = []
ts = [threading.Thread(target=lambda i=i: res.append(sum(range(10000)) + i)) for i in range(8)]
for t in ts: t.start()
for t in ts: t.join()
print("THREADS-OK" if len(res) == 8 else "THREADS-FAILED", len(res))'

# ---------------------------------------------------------------- resources
# Fork bomb: stopped by the pids limit (EAGAIN after some forks), while the
# host keeps spawning processes normally.
ar --profile escape --identity "$IDENT" -- "$H" forkbomb 1000 5 >"$TMPBASE/fb.out" 2>&1 </dev/null &
fb=$!
sleep 1.5
t0=$(now_ms)
for _ in $(seq 20); do /bin/true; done
host_ms=$(($(now_ms) - t0))
wait $fb
RC=$?
OUT=$(cat "$TMPBASE/fb.out")
n=$(printf '%s\n' "$OUT" | sed -nE 's/^BLOCKED EAGAIN ([0-9]+) of 1000 forks succeeded$/\1/p')
if [ "$RC" = 1 ] && [ -n "$n" ] && [ "$n" -ge 1 ] && [ "$n" -lt 1000 ]; then
	pass "forkbomb-contained ($OUT)"
else
	fail forkbomb-contained "want 'BLOCKED EAGAIN n of 1000' with 0 < n < 1000 (the pids limit, not a fork ban): exit $RC: $OUT"
fi
# AL_SLOW scales time limits on emulated machines (the v2 VM: tests/vm/).
if [ "$host_ms" -lt $((2000 * ${AL_SLOW:-1})) ]; then
	pass "host-responsive-during-forkbomb (20 host /bin/true in $host_ms ms)"
else
	fail host-responsive-during-forkbomb "20 host /bin/true took $host_ms ms"
fi

expect_sb memhog-under-limit-works OK escape_mem64 memhog 16
jrun "$TMPBASE/oom.json" --profile escape_mem64 --identity "$IDENT" -- "$H" memhog 200
if jtest "$TMPBASE/oom.json" 'r["oom_killed"] is True and "OK allocated" not in (r.get("stdout") or "")'; then
	pass memhog-oom-killed
else
	fail memhog-oom-killed "want oom_killed true: exit $RC: $(jsum "$TMPBASE/oom.json")"
fi

for c in sleep spin; do
	jrun "$TMPBASE/to-$c.json" --profile escape --identity "$IDENT" --timeout 1 -- "$H" "$c" 30
	if [ "$EL" -lt 10000 ] && jtest "$TMPBASE/to-$c.json" 'r["timed_out"] is True and r["wall_time_ms"] < 10000'; then
		pass "timeout-$c ($EL ms)"
	else
		fail "timeout-$c" "want timed_out true within 10 s: took $EL ms, exit $RC: $(jsum "$TMPBASE/to-$c.json")"
	fi
done

# A setsid()'d grandchild must die with the run, whether the helper exits at
# once (bg) or stays until the timeout (bg-wait).
for c in spawn-bg-sleep spawn-bg-sleep-wait; do
	marker="al-escape-$c-$$-$RANDOM"
	jrun "$TMPBASE/$c.json" --profile escape --identity "$IDENT" --timeout 2 -- "$H" "$c" 30 "$marker"
	sleep 0.5
	left=$(pgrep -f -- "$marker" | tr '\n' ' ')
	extra=True
	[ "$c" = spawn-bg-sleep-wait ] && extra='r["timed_out"] is True'
	if [ "$EL" -lt 15000 ] && [ -z "$left" ] && jtest "$TMPBASE/$c.json" "$extra"; then
		pass "$c-no-leftover ($EL ms, timed_out $($PY -c 'import json,sys; print(json.load(open(sys.argv[1])).get("timed_out"))' "$TMPBASE/$c.json" 2>/dev/null))"
	else
		fail "$c-no-leftover" "took $EL ms (want < 15 s), leftover host pids '$left': $(jsum "$TMPBASE/$c.json")"
	fi
	for p in $left; do kill -KILL "$p" 2>/dev/null; done
done

jrun "$TMPBASE/out.json" --profile escape --identity "$IDENT" --timeout 20 -- "$H" print-bytes 100000000
if [ "$EL" -lt 25000 ] && jtest "$TMPBASE/out.json" "r['truncated_stdout'] is True and len(r['stdout']) == $CAP"; then
	pass "stdout-capped ($EL ms)"
else
	fail stdout-capped "want truncated_stdout true and exactly $CAP bytes within 25 s: took $EL ms, exit $RC: $(jsum "$TMPBASE/out.json")"
fi

# ---------------------------------------------------------------- workspaces
data="al-persist-$$-$RANDOM"
IDENT=persist-a expect_sb workspace-write OK escape write "$CWD/persist.txt" "$data"
IDENT=persist-a sb escape read "$CWD/persist.txt"
if [ "$RC" = 0 ] && printf '%s\n' "$OUT" | grep -q -- "$data"; then
	pass workspace-persists-across-runs
else
	fail workspace-persists-across-runs "second run of persist-a: exit $RC: $OUT"
fi
if [ "$(cat "$TMPBASE/ws/persist-a/persist.txt" 2>/dev/null)" = "$data" ]; then
	pass workspace-on-host-path
else
	fail workspace-on-host-path "$TMPBASE/ws/persist-a/persist.txt does not hold the data"
fi
IDENT=persist-b expect_sb workspace-per-identity BLOCKED:ENOENT escape read "$CWD/persist.txt"
OUT=$(ar --profile escape --identity ../al-evil -- "$H" marker evil 2>&1 </dev/null)
RC=$?
if [ "$RC" = 125 ] && [ ! -e "$TMPBASE/al-evil" ]; then
	pass identity-traversal-refused
else
	fail identity-traversal-refused "--identity ../al-evil: exit $RC (want 125): $OUT"
fi

# Every run has net and ipc namespaces of its own, never the host's, never
# another run's (two runs alive at once: a namespace's inode number is
# reused once it is gone).
ns_of() { ar --profile escape --identity "$IDENT" -- /bin/sh -c 'readlink /proc/self/ns/net /proc/self/ns/ipc; sleep "$0"' "$1" 2>&1 </dev/null | tr '\n' ' '; }
ns_of 2 >"$TMPBASE/ns1" &
nsjob=$!
sleep 0.7
n2=$(ns_of 0)
wait "$nsjob"
n1=$(cat "$TMPBASE/ns1")
hostns="$(readlink /proc/self/ns/net) $(readlink /proc/self/ns/ipc) "
case "$n1$n2" in
*"$(readlink /proc/self/ns/net)"* | *"$(readlink /proc/self/ns/ipc)"* | *"rror"* | "")
	fail net-ipc-namespaces-fresh "run 1: $n1; run 2: $n2; host: $hostns" ;;
*)
	if [ "$n1" != "$n2" ] && [ "$(echo "$n1" | wc -w)" = 2 ]; then
		pass net-ipc-namespaces-fresh
	else
		fail net-ipc-namespaces-fresh "run 1: $n1; run 2: $n2"
	fi
	;;
esac

# The workspace mount is private even when its base is shared: the deny
# mask over $CWD/secret.txt stays in the sandbox (fails without the
# workspace's MS_PRIVATE: the mask propagates to the host and stays there).
ar --profile escape_shared --identity shared -- /bin/true >/dev/null 2>&1 </dev/null
echo "host secret" >"$SHWS/shared/secret.txt"
OUT=$(ar --profile escape_shared --identity shared -- /bin/cat /proc/self/mountinfo "$CWD/secret.txt" 2>&1 </dev/null)
wsline=$(echo "$OUT" | awk -v c="$CWD" '$5 == c')
hostmnt=$(awk -v p="$SHWS/" 'index($5, p) == 1' /proc/self/mountinfo)
if [ -n "$wsline" ] && ! echo "$wsline" | grep -q 'shared:' && ! echo "$OUT" | grep -q "host secret" &&
	[ -z "$hostmnt" ]; then
	pass workspace-mount-private-on-shared-base
else
	fail workspace-mount-private-on-shared-base "in the sandbox: $wsline; secret seen: $(echo "$OUT" | grep -c 'host secret'); host mounts under $SHWS: $hostmnt"
fi
umount -R -l "$SHWS" 2>/dev/null

# ---------------------------------------------------------------- cleanup
cg0=$(cgroup_runs)
m0=$(host_mounts)
marker="al-escape-loop-$$-$RANDOM"
bad=0
first=
for _ in $(seq 100); do
	out=$(ar --profile escape --identity "$IDENT" -- "$H" marker "$marker" 2>&1 </dev/null)
	[ "$out" = "OK $marker" ] || { bad=$((bad + 1)); first=${first:-$out}; }
done
sleep 0.3
if [ $bad = 0 ]; then pass 100-sequential-runs; else fail 100-sequential-runs "$bad of 100 runs did not print OK: first bad: $first"; fi
# Compare twice a moment apart, so that a run of someone else still in flight
# is not counted; only what stays counts as left over.
leftover_cg() { comm -13 <(printf '%s\n' "$1") <(cgroup_runs); }
left=$(leftover_cg "$cg0")
[ -n "$left" ] && sleep 2 && left=$(leftover_cg "$cg0")
if [ -z "$left" ]; then pass no-cgroups-left-after-100-runs; else fail no-cgroups-left-after-100-runs "$(echo $left)"; fi
newm=$(comm -13 <(printf '%s\n' "$m0") <(host_mounts))
if [ -z "$newm" ]; then pass no-mounts-left-after-100-runs; else fail no-mounts-left-after-100-runs "$(echo $newm)"; fi
left=$(pgrep -f -- "$marker")
if [ -z "$left" ]; then pass no-processes-left-after-100-runs; else fail no-processes-left-after-100-runs "pids $(echo $left)"; fi

# Everything this script ran (OOM, timeouts, fork bomb included).
left=$(leftover_cg "$CG_START")
[ -n "$left" ] && sleep 2 && left=$(leftover_cg "$CG_START")
if [ -z "$left" ]; then pass no-cgroups-left-at-end; else fail no-cgroups-left-at-end "$(echo $left)"; fi
newm=$(comm -13 <(printf '%s\n' "$MNT_START") <(host_mounts))
if [ -z "$newm" ]; then pass no-mounts-left-at-end; else fail no-mounts-left-at-end "$(echo $newm)"; fi
left=$(pgrep -f -- "$HBIN/")
if [ -z "$left" ]; then pass no-helper-processes-left-at-end; else fail no-helper-processes-left-at-end "pids $(echo $left)"; fi
