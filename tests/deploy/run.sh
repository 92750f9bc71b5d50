#!/bin/bash
# Run the deployment tests (root; scripts/install-deps.sh deploy first) and
# print "N passed, N failed".  Arguments: which ones (default: all four):
#   nspawn podman readme vm
cd "$(dirname "$0")/../.." || exit 2
tests=("$@")
[ ${#tests[@]} -gt 0 ] || tests=(nspawn podman readme vm)
passed=0 failed=0
for t in "${tests[@]}"; do
	[ -f "tests/deploy/$t.sh" ] || { echo "no such deployment test: $t" >&2; exit 2; }
	echo "== deploy: $t"
	log=$(mktemp)
	timeout 1800 bash "tests/deploy/$t.sh" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	passed=$((passed + $(grep -c '^PASS: ' "$log")))
	failed=$((failed + $(grep -c '^FAIL: ' "$log")))
	[ "$rc" -eq 0 ] || { failed=$((failed + 1)); echo "FAIL: $t.sh exited $rc"; }
	rm -f "$log"
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
