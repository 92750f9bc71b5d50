#!/bin/bash
# The README's two commands on a fresh Debian 12 (booted with systemd-nspawn
# from the cached debootstrap: no make, no compiler), from a copy of the
# checkout without build output (what a clone gives), by a cloud image's
# default user with sudo, from a clone in its home:
#   sudo ./scripts/demo.sh   run in full; must end "N passed, 0 failed"
#   sudo ./scripts/test.sh   its dependency step (install-deps.sh all); the
#                            whole suite with READMECHECK_FULL=1
# READMECHECK_ROOT=1 also runs demo.sh as root from a clone in /root.
# Needs root, systemd-nspawn, debootstrap (scripts/install-deps.sh deploy).
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/guest.sh"
need_root readme
trap 'guest_cleanup; rm -rf "$TMPBASE"' EXIT
T0=$(date +%s)
if ! guest_boot; then
	fail "readme: boot" "the guest did not boot (log above)"
	exit 0
fi
have=$(gx sh -c 'command -v make cc gcc 2>/dev/null')
if [ -z "$have" ]; then pass "readme: the fresh system has no make and no compiler"; else fail "readme: fresh system" "has $have"; fi
gx useradd -m -s /bin/bash admin
echo 'admin ALL=(ALL) NOPASSWD:ALL' | gx tee /etc/sudoers.d/admin >/dev/null
copy_to() { # copy_to DIR OWNER: the checkout as a clone would have it
	gx sh -c "mkdir -p $1 && tar -C /src --exclude=./build --exclude='./build-*' --exclude=./.git -cf - . | tar -C $1 -xf - && chown -R $2 $1"
}
as_admin() { gx runuser -u admin -- sh -c "cd ~/agentlaunch && $1"; }
copy_to /home/admin/agentlaunch admin:admin

t=$(date +%s)
out=$(as_admin 'sudo ./scripts/demo.sh' 2>&1)
rc=$?
echo "$out" | grep -E '^(-- |FAIL|[0-9]+ passed)' | sed 's/^/  | /' | tail -n 25
line=$(echo "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -1)
if [ $rc -eq 0 ]; then
	pass "readme: sudo ./scripts/demo.sh exits 0: $line ($(($(date +%s) - t)) s, packages and build included)"
else
	fail "readme: sudo ./scripts/demo.sh" "rc $rc: ${line:-$(echo "$out" | tail -5)}"
fi
expect_out "readme: demo.sh ends with 'N passed, 0 failed'" '^[0-9]+ passed, 0 failed$' echo "$line"

t=$(date +%s)
out=$(as_admin 'sudo ./scripts/install-deps.sh all && command -v node hyperfine bwrap' 2>&1)
rc=$?
if [ $rc -eq 0 ]; then pass "readme: test.sh's dependency step (install-deps.sh all) works ($(($(date +%s) - t)) s)"; else fail "readme: install-deps all" "rc $rc: $(echo "$out" | tail -5)"; fi

if [ "${READMECHECK_ROOT:-}" = 1 ]; then
	copy_to /root/agentlaunch root:root
	out=$(gx sh -c 'cd /root/agentlaunch && ./scripts/demo.sh' 2>&1)
	rc=$?
	line=$(echo "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -1)
	echo "$out" | grep -E '^FAIL' | sed 's/^/  | /'
	if [ $rc -eq 0 ]; then pass "readme: demo.sh as root from /root/agentlaunch: $line"; else fail "readme: demo.sh as root from /root/agentlaunch" "rc $rc: $line"; fi
fi
if [ "${READMECHECK_FULL:-}" = 1 ]; then
	t=$(date +%s)
	out=$(as_admin 'timeout 2400 sudo ./scripts/test.sh' 2>&1)
	rc=$?
	echo "$out" | sed -n '/== failures:/,$p' | sed 's/^/  | /' | tail -n 40
	line=$(echo "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -1)
	if [ $rc -eq 0 ]; then pass "readme: sudo ./scripts/test.sh: $line ($(($(date +%s) - t)) s)"; else fail "readme: sudo ./scripts/test.sh" "rc $rc: ${line:-no summary line}"; fi
fi
guest_cleanup
left=$(guest_leftovers)
if [ -z "$left" ]; then pass "readme: machine stopped, nothing left on the host ($(($(date +%s) - T0)) s total)"; else fail "readme: host leftovers" "$left"; fi
