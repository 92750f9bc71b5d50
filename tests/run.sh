#!/bin/bash
# Run every unit test binary and integration script; print one summary line
# "N passed, N failed".  Arguments: optional name filters (substring).
set -u
cd "$(dirname "$0")/.."
passed=0
failed=0
failures=()
want() {
	[ $# -eq 0 ] && return 0
	return 1
}
match() {
	local n=$1
	shift
	[ $# -eq 0 ] && return 0
	for f in "$@"; do case "$n" in *"$f"*) return 0 ;; esac; done
	return 1
}

for t in build/tests/test_*; do
	[ -x "$t" ] || continue
	match "$(basename "$t")" "$@" || continue
	echo "== unit: $(basename "$t")"
	out=$(CK_FORK=yes timeout 300 "$t" </dev/null 2>&1)
	rc=$?
	echo "$out" | grep -E '^[0-9]+%:|:[EF]:' || true
	line=$(echo "$out" | grep -E '^[0-9]+%: Checks: ' | tail -1)
	if [ -z "$line" ]; then
		failed=$((failed + 1))
		failures+=("$(basename "$t"): no Check summary (exit $rc)")
		continue
	fi
	n=$(echo "$line" | sed -E 's/.*Checks: ([0-9]+).*/\1/')
	f=$(echo "$line" | sed -E 's/.*Failures: ([0-9]+).*/\1/')
	e=$(echo "$line" | sed -E 's/.*Errors: ([0-9]+).*/\1/')
	passed=$((passed + n - f - e))
	failed=$((failed + f + e))
	[ $((f + e)) -gt 0 ] && failures+=("$(basename "$t"): $f failures, $e errors")
done

# Integration tests, then the slow suites (another kernel in qemu, systemd in
# nspawn, podman) that CI runs after the fast ones.
for t in tests/integration/*.sh $(cat tests/slow.list 2>/dev/null); do
	[ -f "$t" ] || continue
	match "$(basename "$t")" "$@" || continue
	echo "== integration: $(basename "$t")"
	log=$(mktemp)
	t0=$(date +%s)
	timeout 1800 bash "$t" </dev/null >"$log" 2>&1
	rc=$?
	cat "$log"
	echo "== $(basename "$t"): $(($(date +%s) - t0)) s"
	p=$(grep -c '^PASS: ' "$log")
	f=$(grep -c '^FAIL: ' "$log")
	passed=$((passed + p))
	failed=$((failed + f))
	while IFS= read -r l; do failures+=("$(basename "$t"): ${l#FAIL: }"); done < <(grep '^FAIL: ' "$log")
	if [ "$rc" -ne 0 ]; then
		failed=$((failed + 1))
		failures+=("$(basename "$t"): script exited $rc")
	fi
	rm -f "$log"
done

if [ ${#failures[@]} -gt 0 ]; then
	echo "== failures:"
	printf '  %s\n' "${failures[@]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
