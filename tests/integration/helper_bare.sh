#!/bin/bash
# Proves that the escape tests CAN fail.  runner_escape.sh expects al-helper
# to report BLOCKED (or to be killed) inside the sandbox; here, run bare as
# root with no sandbox, the same helper commands must report OK — so a
# sandbox that lacks the protection would make runner_escape.sh fail.
# The Python snippets of runner_escape.sh are proven the same way.
#
# Host safety: probes that touch mounts run inside `unshare -m` (and
# sethostname inside `unshare -u`); file probes only write under $TMPBASE;
# the network targets are listeners on 127.0.0.1 and an abstract unix socket
# started here.  AL_HELPER=path overrides the helper (default build/bin).
. "$(dirname "$0")/../lib.sh"
HELPER=${AL_HELPER:-$HELPER}
PY=/usr/bin/python3
LISTENERS=()
cleanup() {
	local p
	for p in "${LISTENERS[@]}"; do kill "$p" 2>/dev/null; done
	rm -rf "$TMPBASE"
}
trap cleanup EXIT

need_root helper_bare
if [ ! -x "$HELPER" ]; then
	fail helper-built "$HELPER is missing: run make (or set AL_HELPER)"
	exit 0
fi

# bare_ok NAME [WRAPPER...] -- HELPER-ARGS...: the helper must report OK (exit 0).
bare_ok() {
	local name=$1 wrap=()
	shift
	while [ "$1" != "--" ]; do wrap+=("$1"); shift; done
	shift
	local out rc
	out=$(timeout 60 "${wrap[@]}" "$HELPER" "$@" 2>&1 </dev/null)
	rc=$?
	if [ "$rc" = 0 ] && printf '%s\n' "$out" | grep -q '^OK '; then
		pass "bare-$name"
	else
		fail "bare-$name" "exit $rc, want 0 and an OK line: $(printf '%s' "$out" | tail -c 300)"
	fi
}

# bare_probe NAME [WRAPPER...]: try-syscall NAME must report OK.  A probe the
# kernel itself does not implement (ENOSYS, EAFNOSUPPORT) cannot be proven on
# this machine: PASS, saying that the sandbox check is vacuous here.
bare_probe() {
	local probe=$1
	shift
	local out rc
	out=$(timeout 60 "$@" "$HELPER" try-syscall "$probe" 2>&1 </dev/null)
	rc=$?
	if [ "$rc" = 0 ] && printf '%s\n' "$out" | grep -q '^OK '; then
		pass "bare-try-syscall-$probe"
	elif printf '%s\n' "$out" | grep -Eq '^BLOCKED (ENOSYS|EAFNOSUPPORT) '; then
		pass "bare-try-syscall-$probe (skipped: this kernel lacks it, so its sandbox check is vacuous here: $out)"
	else
		fail "bare-try-syscall-$probe" "exit $rc, want 0 and an OK line: $(printf '%s' "$out" | tail -c 300)"
	fi
}

# listen_tcp FILE: a python3 listener on 127.0.0.1, port written to FILE.
listen_tcp() {
	$PY -c '
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0)); s.listen(64); s.settimeout(1)
open(sys.argv[1] + ".tmp", "w").write(str(s.getsockname()[1]))
__import__("os").rename(sys.argv[1] + ".tmp", sys.argv[1])
end = time.time() + 600
while time.time() < end:
    try:
        c, _ = s.accept(); c.close()
    except socket.timeout:
        pass
' "$1" &
	LISTENERS+=($!)
}

# listen_abstract NAME FILE: a python3 listener on the abstract socket @NAME.
listen_abstract() {
	$PY -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.bind("\0" + sys.argv[1]); s.listen(64); s.settimeout(1)
open(sys.argv[2], "w").write("ready")
end = time.time() + 600
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

# ---- syscalls the sandbox must deny (mount-related ones in a private mount ns)
for p in mount umount pivot_root open_tree fsopen; do
	bare_probe "$p" unshare -m
done
bare_probe sethostname unshare -u
for p in ptrace unshare-user unshare-net unshare-mount setns keyctl keyctl-raw bpf \
	io_uring_setup perf_event_open userfaultfd process_vm_readv chroot kexec_load \
	init_module finit_module personality tiocsti-pty socket-packet socket-raw socket-alg \
	socket-vsock socket-key mknod setuid-root open_by_handle_at; do
	bare_probe "$p"
done

# TIOCSTI on the terminal the helper was given (stdin a pty, as under `script`).
if command -v script >/dev/null; then
	out=$(timeout 30 script -qec "$HELPER try-syscall tiocsti" /dev/null </dev/null 2>&1)
	rc=$?
	if [ "$rc" = 0 ] && printf '%s\n' "$out" | grep -q 'OK ioctl(TIOCSTI) injected a byte into stdin'; then
		pass bare-tiocsti-stdin-terminal
	else
		fail bare-tiocsti-stdin-terminal "exit $rc: $(printf '%s' "$out" | tail -c 300)"
	fi
else
	fail bare-tiocsti-stdin-terminal "script(1) is missing (apt-get install bsdutils)"
fi

# ---- exec and process creation the lock must deny
out=$(timeout 30 "$HELPER" exec /bin/true 2>&1)
rc=$?
if [ "$rc" = 0 ] && [ -z "$out" ]; then pass bare-exec-true; else fail bare-exec-true "exit $rc: $out"; fi
bare_ok exec-self -- exec-self
bare_ok execveat-memfd -- execveat-memfd
bare_ok exec-race -- exec-race 4
out=$(timeout 30 "$HELPER" exec-i386 2>&1)
rc=$?
if [ "$rc" = 0 ] && [ "$out" = "OK exec-i386-ran" ]; then
	pass bare-exec-i386
else
	fail bare-exec-i386 "exit $rc, want 0 and 'OK exec-i386-ran' (no ia32 emulation in this kernel? then the sandbox's i386 test proves nothing): $out"
fi
# x32 is usually disabled in the kernel (ENOSYS): what matters is that the
# bare helper is NOT killed, so "killed by SIGSYS" in the sandbox means the filter.
out=$(timeout 30 "$HELPER" x32-getpid 2>&1)
rc=$?
if [ "$rc" = 0 ] || [ "$rc" = 1 ]; then pass "bare-x32-not-killed ($out)"; else fail bare-x32-not-killed "exit $rc: $out"; fi
for c in fork fork-raw vfork clone-process clone-vfork clone3 posix-spawn system; do
	bare_ok "$c" -- "$c"
done
bare_ok threads -- threads 16

# ---- files
bare_ok read-shadow -- read /etc/shadow
bare_ok read-root-home -- read /root
# runner_escape.sh reads /proc/1/root/etc/shadow (pid 1 = the sandbox's init);
# here pid 1 may be out of reach, so go through this shell's /proc entry.
bare_ok read-via-proc-pid-root -- read /proc/$$/root/etc/shadow
# These exist and are readable by root only on some kernels and hosts;
# runner_escape.sh tests them in the sandbox only where they are readable bare.
for f in /proc/kcore "$(findmnt -no SOURCE / 2>/dev/null)"; do
	case "$f" in /*) ;; *) continue ;; esac
	out=$("$HELPER" read "$f" 2>&1)
	if [ $? = 0 ]; then pass "bare-read-$f"; else pass "bare-read-$f (skipped: not readable bare here: $out)"; fi
done
mkdir -p "$TMPBASE/wdir"
bare_ok write-dir -- write "$TMPBASE/wdir"
bare_ok write-new-file -- write "$TMPBASE/wdir/f" data
bare_ok read-back -- read "$TMPBASE/wdir/f"
# Opening for writing only (the helper writes nothing without DATA).
bare_ok open-core_pattern-for-write -- write /proc/sys/kernel/core_pattern
if [ -e /proc/sysrq-trigger ]; then
	bare_ok open-sysrq-trigger-for-write -- write /proc/sysrq-trigger
else
	pass "bare-open-sysrq-trigger-for-write (skipped: no /proc/sysrq-trigger in this kernel)"
fi

# ---- network
listen_tcp "$TMPBASE/port"
if wait_file "$TMPBASE/port"; then
	bare_ok connect-loopback-listener -- connect 127.0.0.1 "$(cat "$TMPBASE/port")"
else
	fail bare-connect-loopback-listener "the python3 listener did not start"
fi
abs="al-test-bare-$$-$RANDOM"
listen_abstract "$abs" "$TMPBASE/abs"
if wait_file "$TMPBASE/abs"; then
	bare_ok connect-abstract-unix -- connect-unix "@$abs"
else
	fail bare-connect-abstract-unix "the python3 listener did not start"
fi

# ---- resources
bare_ok memhog-200 -- memhog 200
out=$(timeout 60 "$HELPER" forkbomb 1000 2>&1)
rc=$?
if [ "$rc" = 0 ] && [ "$out" = "OK 1000 of 1000 forks succeeded" ]; then
	pass bare-forkbomb-1000
else
	fail bare-forkbomb-1000 "exit $rc: $out"
fi
n=$(timeout 60 "$HELPER" print-bytes 3000000 2>/dev/null | wc -c)
if [ "$n" = 3000000 ]; then pass bare-print-bytes; else fail bare-print-bytes "stdout had $n bytes, want 3000000"; fi
bare_ok sleep-1 -- sleep 1
bare_ok spin-1 -- spin 1

# The grandchild of spawn-bg-sleep outlives the helper when nothing kills it.
marker="al-bare-bg-$$-$RANDOM"
# (to a file: a pipe would be held open by the grandchild)
timeout 30 "$HELPER" spawn-bg-sleep 20 "$marker" >"$TMPBASE/bg.out" 2>&1 </dev/null
rc=$?
sleep 0.2
left=$(pgrep -f -- "$marker")
if [ "$rc" = 0 ] && [ -n "$left" ]; then
	pass bare-spawn-bg-sleep-leaves-grandchild
else
	fail bare-spawn-bg-sleep-leaves-grandchild "exit $rc, leftover pids '$left': $(cat "$TMPBASE/bg.out")"
fi
for p in $left; do kill "$p" 2>/dev/null; done

# ---- identity and visibility (each of these has a sandbox counterpart)
out=$("$HELPER" caps 2>&1)
if printf '%s' "$out" | grep -q ' uid=0 ' && ! printf '%s' "$out" | grep -q 'CapEff=0000000000000000' &&
	printf '%s' "$out" | grep -q 'NoNewPrivs=0' && printf '%s' "$out" | grep -q 'Seccomp=0 '; then
	pass bare-caps-privileged
else
	fail bare-caps-privileged "want uid 0, CapEff != 0, NoNewPrivs=0, Seccomp=0: $out"
fi
out=$("$HELPER" pids 2>&1)
n=$(printf '%s' "$out" | sed -nE 's/^OK ([0-9]+) procs$/\1/p')
if [ -n "$n" ] && [ "$n" -gt 3 ]; then pass "bare-pids-host-visible ($n)"; else fail bare-pids-host-visible "$out"; fi
bare_ok kill-host-pid -- kill $$ 0
out=$("$HELPER" fds 7</etc/hostname 2>&1)
if printf '%s' "$out" | grep -Eq '^OK .*fds:.* 7( |$)'; then pass bare-fds-inherited; else fail bare-fds-inherited "fd 7 not seen: $out"; fi

# ---- the Python snippets of runner_escape.sh, bare: each escapes
py_bare() {
	local name=$1 want=$2 code=$3 out rc
	out=$(timeout 60 $PY -c "$code" 2>&1 </dev/null)
	rc=$?
	if [ "$rc" = 0 ] && printf '%s\n' "$out" | grep -q -- "$want" && ! printf '%s\n' "$out" | grep -q BLOCKED; then
		pass "bare-py-$name"
	else
		fail "bare-py-$name" "exit $rc, want '$want' and no BLOCKED: $(printf '%s' "$out" | tail -c 300)"
	fi
}
py_bare subprocess ESCAPED '
import subprocess
try:
    r = subprocess.run(["/bin/true"])
    print("ESCAPED rc=%d" % r.returncode)
except OSError as e:
    print("BLOCKED", e)'
py_bare os-system ESCAPED '
import os
r = os.system("true")
print("ESCAPED" if r == 0 else "BLOCKED status=%d" % r)'
py_bare fork ESCAPED '
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
py_bare posix-spawn ESCAPED '
import os
try:
    pid = os.posix_spawn("/bin/true", ["true"], {})
    os.waitpid(pid, 0)
    print("ESCAPED")
except OSError as e:
    print("BLOCKED", e)'
# A successful execve replaces python by /bin/echo: the marker comes from echo.
py_bare ctypes-execve ESCAPED-BY-EXEC '
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
argv = (ctypes.c_char_p * 3)(b"/bin/echo", b"ESCAPED-BY-EXEC", None)
envp = (ctypes.c_char_p * 1)(None)
libc.execve(b"/bin/echo", argv, envp)
print("BLOCKED", os.strerror(ctypes.get_errno()))'
py_bare ctypes-syscall-execve ESCAPED-BY-EXEC '
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
argv = (ctypes.c_char_p * 3)(b"/bin/echo", b"ESCAPED-BY-EXEC", None)
envp = (ctypes.c_char_p * 1)(None)
libc.syscall(59, b"/bin/echo", argv, envp)
print("BLOCKED", os.strerror(ctypes.get_errno()))'
py_bare read-shadow ESCAPED '
try:
    open("/etc/shadow").read(1)
    print("ESCAPED read /etc/shadow")
except OSError as e:
    print("BLOCKED", e)'
