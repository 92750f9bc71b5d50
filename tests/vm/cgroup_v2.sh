#!/bin/bash
# The cgroup v2 checks, in a throwaway VM: Debian 12's own kernel (6.1) on
# pure cgroup v2 (systemd.unified_cgroup_hierarchy=1 cgroup_no_v1=all),
# booted by ../shared/tools/vmtest.sh (read /work/shared/VMTEST.md).  This
# host is v1 hybrid; most users run v2.
#
# It runs the binaries built here (same Debian 12 libraries; nothing is
# compiled in the emulated, slow guest):
#   build/tests/test_cgroup, build/tests/test_landlock  (one line per test)
#   tests/integration/runner_cli.sh, runner_escape.sh  (build/bin/agentrun,
#                                                       build/bin/al-helper)
#   tests/integration/gateway_api.sh, gateway_load.sh  (build/bin/agentgw)
# and prints every result as "PASS: v2-NAME" / "FAIL: v2-NAME: why" (the
# tests/lib.sh format, so tests/run.sh can count them); other lines are
# information (timings).  A VM that cannot boot, a missing binary or a step
# that did not finish is a FAIL line with the reason, never a silent skip.
# Exit status 0 (the lines carry the results), as the integration scripts.
#
# Needs root (qemu, and debootstrap for the first run, which builds the
# image in ~100 s and caches it in /var/cache/vmtest).  Build first:
#   make all build/tests/test_cgroup build/tests/test_landlock
# Environment: B=build (build directory, as in the Makefile), VMTEST=path of
# vmtest.sh, and vmtest's own VMTEST_* knobs.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
B=${B:-build}
case $B in /*) BD=$B ;; *) BD=$TOP/$B ;; esac
VMTEST=${VMTEST:-$TOP/../shared/tools/vmtest.sh}
export VMTEST_TIMEOUT=${VMTEST_TIMEOUT:-2700}
P=v2-
UNITS="test_cgroup test_landlock"
SCRIPTS="runner_cli runner_escape gateway_api gateway_load"

fail() { echo "FAIL: $P$1: ${2:-}"; }

if [ "$(id -u)" -ne 0 ]; then
	fail vm "needs root (qemu, debootstrap in $VMTEST)"
	exit 0
fi
if [ ! -x "$VMTEST" ]; then
	fail vm "no VM runner at $VMTEST (CI keeps ../shared beside the clone; or set VMTEST=)"
	exit 0
fi
missing=
for f in bin/agentrun bin/agentgw bin/al-helper tests/test_cgroup tests/test_landlock; do
	[ -x "$BD/$f" ] || missing="$missing $BD/$f"
done
if [ -n "$missing" ]; then
	fail prerequisites "missing:$missing (make all $B/tests/test_cgroup $B/tests/test_landlock)"
	exit 0
fi

# The guest gets a small tree shaped like the repository (tests/lib.sh finds
# the binaries in build/bin), copied to /build and run there as root.
DIR=$(mktemp -d /tmp/al-vm.XXXXXX)
OUT=$DIR.out
LOG=$DIR.log
trap 'rm -rf "$DIR" "$OUT" "$LOG"' EXIT
mkdir -p "$DIR/build/bin" "$DIR/build/tests" "$DIR/tests/integration" "$DIR/policy"
cp -p "$BD/bin/agentrun" "$BD/bin/agentgw" "$BD/bin/al-helper" "$DIR/build/bin/"
for t in $UNITS; do cp -p "$BD/tests/$t" "$DIR/build/tests/"; done
cp -p "$TOP/tests/lib.sh" "$DIR/tests/"
for s in $SCRIPTS; do cp -p "$TOP/tests/integration/$s.sh" "$DIR/tests/integration/"; done
cp -p "$TOP"/policy/*.json "$DIR/policy/"
cat >"$DIR/guest.sh" <<'GUEST'
# Runs in the guest, in /build.  Check's TAP log gives one line per test.
cd /build || exit 1
echo "== guest: kernel $(uname -r), /sys/fs/cgroup is $(stat -fc %T /sys/fs/cgroup)," \
	"controllers: $(cat /sys/fs/cgroup/cgroup.controllers 2>&1)"
unit() {
	local t=$1 tap=/tmp/$1.tap rc
	echo "== unit: $t"
	CK_FORK=yes CK_TAP_LOG_FILE_NAME=$tap timeout 900 "build/tests/$t" >"/tmp/$t.log" 2>&1
	rc=$?
	grep -vE '^(PASS|FAIL): ' "/tmp/$t.log"
	sed -nE -e "s/^ok [0-9]+ - [^:]*:[^:]*:([^:]*):.*/PASS: $t-\1/p" \
		-e "s/^not ok [0-9]+ - [^:]*:[^:]*:([^:]*):(.*)/FAIL: $t-\1:\2/p" "$tap" 2>/dev/null
	if [ ! -s "$tap" ] || { [ "$rc" -ne 0 ] && ! grep -q '^not ok' "$tap"; }; then
		echo "FAIL: $t: exit $rc without per-test results"
	fi
	echo "== end: $t"
}
integration() {
	local s=$1 rc
	echo "== integration: $s"
	AL_SLOW=4 timeout 1500 bash "tests/integration/$s.sh" </dev/null 2>&1
	rc=$?
	[ "$rc" -eq 0 ] || echo "FAIL: $s: script exited $rc"
	echo "== end: $s"
}
for t in $UNITS; do unit "$t"; done
for s in $SCRIPTS; do integration "$s"; done
GUEST
sed -i "1i UNITS=\"$UNITS\"; SCRIPTS=\"$SCRIPTS\"" "$DIR/guest.sh"

echo "== vm: booting the pure cgroup v2 VM ($VMTEST)"
"$VMTEST" "$DIR" -- bash guest.sh 2>"$LOG" | tee "$OUT" | sed -u -E "s/^(PASS|FAIL): /\1: $P/"
rc=${PIPESTATUS[0]}
grep '^vmtest: ' "$LOG" | grep -v error | sed 's/^/== /'
why=$(grep -E 'error|guest did not|timeout|without reporting' "$LOG" | tail -3 | tr '\n' ' ')
case $rc in
124) fail vm "timed out after ${VMTEST_TIMEOUT}s: $why" ;;
125) fail vm "the VM did not run the tests (exit 125): ${why:-$(tail -c 400 "$LOG")}" ;;
esac
for step in $UNITS $SCRIPTS; do
	grep -qx "== end: $step" "$OUT" || fail "$step" "did not finish in the VM (VM exit $rc)"
done
exit 0
