#!/bin/bash
# The install on a pure cgroup v2 system with another kernel (Debian 12's
# 6.1, systemd 252), where the unit's cgroup delegation is real: boots the
# VM of ../shared/tools/vmtest.sh (or $VMTEST) with a copy of the checkout
# and host-built binaries, and runs tests/deploy/vm_checks.sh inside.
# The VM has no network: install.sh finds every package already there.
source "$(dirname "$0")/../lib.sh"
need_root vm
VMTEST=${VMTEST:-$TOP/../shared/tools/vmtest.sh}
[ -x "$VMTEST" ] || { fail "vm: vmtest.sh" "not found at $VMTEST (set VMTEST=)"; exit 0; }
T0=$(date +%s)
DIR=$TMPBASE/src
mkdir -p "$DIR"
tar -C "$TOP" --exclude=./build --exclude='./build-*' --exclude=./.git -cf - . | tar -C "$DIR" -xf -
if ! make -C "$TOP" -j"$(nproc)" NODEPS=1 B="$DIR/build-vm" >"$TMPBASE/build.log" 2>&1; then
	fail "vm: host build" "$(tail -5 "$TMPBASE/build.log")"
	exit 0
fi
out=$(VMTEST_QUIET=1 timeout 900 "$VMTEST" "$DIR" -- bash tests/deploy/vm_checks.sh 2>&1)
rc=$?
echo "$out" | grep -Ev '^(PASS|FAIL): '
echo "$out" | grep -E '^(PASS|FAIL): '
n=$(echo "$out" | grep -c '^PASS: ')
if [ $rc -eq 0 ] && [ "$n" -gt 10 ]; then pass "vm: ran ($(($(date +%s) - T0)) s)"; else fail "vm: run" "rc $rc, $n checks passed"; fi
