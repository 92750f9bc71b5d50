#!/bin/bash
# The mock agent suite (tests/mock_agent/run.sh) both ways:
#   confined (under agentlaunch, shipped policy) — every check must pass;
#   --bare (no agentlaunch) — every escape check must succeed, i.e. each
#   escape check is shown to fail without the protection it tests.
# One PASS/FAIL line per check of each run, prefixed confined-/bare-.
. "$(dirname "$0")/../lib.sh"
need_root mock_agents
RUN=$TOP/tests/mock_agent/run.sh
BINDIR=${AL_BIN:-$BIN}

for b in agentgw agentrun; do
	if [ ! -x "$BINDIR/$b" ]; then
		fail "mock-agents-built" "$BINDIR/$b is missing: run make"
		exit 0
	fi
done

# run_mode MODE [ARGS]: run.sh's table rows become lib.sh lines.
run_mode() {
	local mode=$1 out rc
	shift
	out=$(timeout 600 "$RUN" --bin "$BINDIR" "$@" 2>&1)
	rc=$?
	printf '%s\n' "$out" | awk -v m="$mode" '
		/^(PASS|FAIL) / && NF >= 3 {
			v = $1; name = $3; $1 = ""; $2 = ""; $3 = ""; sub(/^ +/, "")
			if (v == "PASS") print "PASS: " m "-" name
			else print "FAIL: " m "-" name ": " $0
		}'
	local last
	last=$(printf '%s\n' "$out" | tail -1)
	if printf '%s' "$last" | grep -Eq '^[0-9]+ passed, 0 failed$' && [ "$rc" -eq 0 ]; then
		pass "$mode-suite ($last)"
	else
		fail "$mode-suite" "exit $rc, last line '$last': $(printf '%s' "$out" | grep -v '^PASS ' | tail -c 600)"
	fi
}

if [ -x "$BINDIR/agentlaunch" ]; then
	run_mode confined
else
	fail confined-suite "$BINDIR/agentlaunch is missing: run make"
fi
run_mode bare --bare
