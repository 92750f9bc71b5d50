# Common helpers for integration tests (sourced).  Each check prints one
# line "PASS: name" or "FAIL: name: why"; tests/run.sh counts them.
set -u
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=$TOP/build/bin
HELPER=$BIN/al-helper
AGENTRUN=$BIN/agentrun
POLICY=${POLICY:-$TOP/policy/default.json}
TMPBASE=$(mktemp -d /tmp/altest.XXXXXX)
chmod 0755 "$TMPBASE"
trap 'rm -rf "$TMPBASE"' EXIT

pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1: ${2:-}"; }

# expect NAME WANT_STATUS CMD... — pass when CMD exits with WANT_STATUS.
expect() {
	local name=$1 want=$2
	shift 2
	local out rc
	out=$("$@" 2>&1)
	rc=$?
	if [ "$rc" = "$want" ]; then pass "$name"; else fail "$name" "exit $rc, want $want: $(printf '%s' "$out" | tail -c 400)"; fi
}

# expect_out NAME REGEX CMD... — pass when combined output matches REGEX.
expect_out() {
	local name=$1 re=$2
	shift 2
	local out
	out=$("$@" 2>&1)
	if printf '%s' "$out" | grep -Eq -- "$re"; then pass "$name"; else fail "$name" "output did not match /$re/: $(printf '%s' "$out" | tail -c 400)"; fi
}

# json_get JSON KEY — print a top-level field of a JSON object (python3).
json_get() {
	/usr/bin/python3 -c 'import json,sys; v=json.loads(sys.argv[1]).get(sys.argv[2]); print(json.dumps(v) if not isinstance(v,str) else v)' "$1" "$2"
}

# private_helper: copy $HELPER into a fresh world-readable directory under
# /var/tmp (a path under /tmp or /work would be hidden by the sandbox's own
# /tmp and workspace mounts) and set HBIN (the directory, the caller removes
# it) and H (the helper's path there).
private_helper() {
	HBIN=$(mktemp -d /var/tmp/al-helper.XXXXXX) || return 1
	chmod 0755 "$HBIN" && cp "$HELPER" "$HBIN/al-helper" && chmod 0755 "$HBIN/al-helper" || return 1
	H=$HBIN/al-helper
}

need_root() {
	if [ "$(id -u)" -ne 0 ]; then
		fail "${1:-root}" "these tests need root"
		exit 0
	fi
}

# An "outside host" the tests own: a network namespace with a veth to the
# host (198.18.x.2/30 inside, .1 on the host end: the benchmarking range,
# never routed), a TCP listener on OUTSIDE_IP:OUTSIDE_PORT inside it.  The
# host can reach it, so a check that a sandbox cannot is meaningful; no
# traffic ever leaves this machine.  outside_host_down removes it all.
OUTSIDE_NS=
outside_host_up() {
	local n=$(($$ % 250 + 1))
	OUTSIDE_NS=al-out-$$
	OUTSIDE_IP=198.18.$n.2
	OUTSIDE_PORT=8081
	ip netns add "$OUTSIDE_NS" || return 1
	ip link add "alo$$" type veth peer name eth0 netns "$OUTSIDE_NS" || return 1
	ip addr add "198.18.$n.1/30" dev "alo$$" && ip link set "alo$$" up &&
		ip -n "$OUTSIDE_NS" addr add "$OUTSIDE_IP/30" dev eth0 &&
		ip -n "$OUTSIDE_NS" link set eth0 up && ip -n "$OUTSIDE_NS" link set lo up || return 1
	ip netns exec "$OUTSIDE_NS" /usr/bin/python3 -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(64); s.settimeout(120)
while True:
    try: c, _ = s.accept(); c.close()
    except OSError: break
' "$OUTSIDE_IP" "$OUTSIDE_PORT" >/dev/null 2>&1 &
	OUTSIDE_PID=$!
	for _ in $(seq 50); do
		ip netns exec "$OUTSIDE_NS" ss -ltn 2>/dev/null | grep -q ":$OUTSIDE_PORT " && return 0
		sleep 0.05
	done
	return 1
}
outside_host_down() {
	[ -n "$OUTSIDE_NS" ] || return 0
	kill "$OUTSIDE_PID" 2>/dev/null
	ip link del "alo$$" 2>/dev/null
	ip netns del "$OUTSIDE_NS" 2>/dev/null
	OUTSIDE_NS=
}

# check_outcome NAME WANT: judge OUT/RC of an al-helper probe run in a
# sandbox (agentrun or agentlaunch).
#   WANT: OK | BLOCKED | BLOCKED:ERRNO | KILLED (SIGSYS: status 159)
# The helper must itself report the outcome: a launcher or agentrun failure
# (125, no OK/BLOCKED line) never counts as blocked.
check_outcome() {
	local name=$1 want=$2 line ok=0
	line=$(printf '%s\n' "$OUT" | grep -E '^(OK|BLOCKED) ' | head -1)
	case "$want" in
	OK) [ "$RC" = 0 ] && [ "${line%% *}" = OK ] && ok=1 ;;
	BLOCKED) [ "$RC" = 1 ] && [ "${line%% *}" = BLOCKED ] && ok=1 ;;
	BLOCKED:*) [ "$RC" = 1 ] && case "$line" in "BLOCKED ${want#BLOCKED:} "*) ok=1 ;; esac ;;
	KILLED) [ "$RC" = 159 ] && [ -z "$line" ] && ok=1 ;;
	esac
	if [ $ok = 1 ]; then
		pass "$name${line:+ ($line)}"
	else
		fail "$name" "want $want, got exit $RC: $(printf '%s' "$OUT" | tail -c 400)"
	fi
}
