#!/bin/bash
# Shared by the launcher_*.sh tests (sourced).  Run directly (tests/run.sh
# runs every *.sh here) it does nothing.
#
#   AL_LAUNCH / AL_HELPER / AL_AGENTGW override the binaries (default build/bin).
#   The helper is copied to a fresh /var/tmp/al-helper.* directory (0755):
#   the agent's /tmp is private, so a helper under /tmp would not be there.
[[ "${BASH_SOURCE[0]}" != "$0" ]] || exit 0
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
LAUNCH=${AL_LAUNCH:-$BIN/agentlaunch}
HELPER=${AL_HELPER:-$HELPER}
AGENTGW=${AL_AGENTGW:-$BIN/agentgw}
PY=/usr/bin/python3
LISTENERS=()
BGPIDS=()
HBIN=
cleanup() {
	local p
	for p in "${BGPIDS[@]}" "${LISTENERS[@]}"; do
		kill -9 "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	[ -n "$HBIN" ] && rm -rf "$HBIN"
	outside_host_down
	rm -rf "$TMPBASE"
}
trap cleanup EXIT

la_prereq() {
	local missing=
	[ -x "$LAUNCH" ] || missing="$missing agentlaunch ($LAUNCH: run make)"
	[ -x "$HELPER" ] || missing="$missing al-helper ($HELPER: run make)"
	[ -x "$AGENTGW" ] || missing="$missing agentgw ($AGENTGW: run make)"
	if [ -n "$missing" ]; then
		fail prerequisites "missing:$missing"
		exit 0
	fi
	private_helper || {
		fail prerequisites "cannot copy al-helper to /var/tmp"
		exit 0
	}
	WD=$TMPBASE/wd
	mkdir -p "$WD"
	chmod 0777 "$WD"
	AUDIT=$TMPBASE/audit.jsonl
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# la ARGS...: agentlaunch with the test audit log and workdir, bounded.
la() { timeout -k 5 60 "$LAUNCH" --audit "$AUDIT" --workdir "$WD" "$@"; }

# run_la [LAUNCHER-OPTS...] -- HELPER-ARGS...: sets OUT and RC.
run_la() {
	local opts=()
	while [ "$1" != "--" ]; do opts+=("$1"); shift; done
	shift
	OUT=$(la "${opts[@]}" -- "$H" "$@" 2>&1 </dev/null)
	RC=$?
}

# expect_la NAME WANT [LAUNCHER-OPTS...] -- HELPER-ARGS...
expect_la() {
	local name=$1 want=$2
	shift 2
	run_la "$@"
	check_outcome "$name" "$want"
}

# expect_bare NAME WANT [WRAPPER...] -- HELPER-ARGS...: the same helper, no sandbox.
expect_bare() {
	local name=$1 want=$2 wrap=()
	shift 2
	while [ "$1" != "--" ]; do wrap+=("$1"); shift; done
	shift
	OUT=$(timeout 60 "${wrap[@]}" "$H" "$@" 2>&1 </dev/null)
	RC=$?
	check_outcome "$name" "$want"
}

# listen_tcp VAR FILE ADDR [http]: a python3 listener (an HTTP server with
# "http"); its port goes to FILE once it listens, and to variable VAR.
# (Not through $(...): the command substitution would wait for it.)
listen_tcp() {
	local var=$1 file=$2 addr=$3 kind=${4:-accept}
	$PY - "$file" "$addr" "$kind" >/dev/null 2>&1 <<'PY' &
import os, socket, sys, time
f, addr, kind = sys.argv[1:4]
fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
s = socket.socket(fam)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((addr, 0)); s.listen(64); s.settimeout(1)
open(f + ".tmp", "w").write(str(s.getsockname()[1]))
os.rename(f + ".tmp", f)
end = time.time() + 600
body = b'{"service":"ok"}'
while time.time() < end:
    try:
        c, _ = s.accept()
    except socket.timeout:
        continue
    if kind == "http":
        c.settimeout(2)
        try:
            c.recv(65536)
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        except OSError:
            pass
    c.close()
PY
	LISTENERS+=($!)
	local i
	for i in $(seq 100); do [ -s "$file" ] && break; sleep 0.05; done
	printf -v "$var" '%s' "$(cat "$file" 2>/dev/null)"
}

# The state a launch must not leave behind: host links, named netns,
# network namespaces held by processes, launch state dirs, our processes.
snapshot() {
	{
		# the launcher's links and addresses (other tools on a shared test
		# machine add and remove their own veths: those are not ours)
		echo "== links"
		ip -o link show | awk -F': ' '{print $2}' | grep -E '^al-' | sort
		ip -o addr show | grep -E ' (10\.77\.|100\.(6[4-9]|[7-9][0-9]|1[01][0-9]|12[0-7])\.)' | sort
		echo "== netns"
		ip netns list 2>/dev/null | sort
		echo "== state"
		ls /run/agentlaunch/launch /tmp/agentlaunch-*/launch 2>/dev/null | sort
		echo "== procs"
		ps -eo args= | grep -F -e "$HBIN" -e "/run/agentlaunch/launch/" | grep -v -e grep -e "ps -eo" | sort
		echo "== cgroups"
		ls -d /sys/fs/cgroup/*/agentlaunch*/la-* 2>/dev/null | sort
	}
}

# leftovers_check NAME BEFORE-FILE: after a test, nothing new may remain
# (given 2 s for asynchronous namespace teardown).
leftovers_check() {
	local name=$1 before=$2 i diffout
	for i in $(seq 20); do
		diffout=$(diff <(cat "$before") <(snapshot) | grep '^>')
		[ -z "$diffout" ] && break
		sleep 0.1
	done
	if [ -z "$diffout" ]; then
		pass "no-leftovers-$name"
	else
		fail "no-leftovers-$name" "left behind: $(echo "$diffout" | tr '\n' ' ' | tail -c 400)"
	fi
}
