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

need_root() {
	if [ "$(id -u)" -ne 0 ]; then
		fail "${1:-root}" "these tests need root"
		exit 0
	fi
}
