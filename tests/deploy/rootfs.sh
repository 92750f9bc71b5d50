#!/bin/bash
# rootfs.sh KIND — print the path of a cached Debian 12 rootfs tarball,
# building it first when missing (debootstrap, ~35 s; cached afterwards).
#   systemd  minbase + systemd, dbus, iproute2, procps, curl, sudo: a "fresh
#            Debian 12 server" for systemd-nspawn -b (no compiler, no make)
#   minbase  plain minbase: the base image for podman (debian:bookworm)
# Cache: $AL_TEST_CACHE (default /var/cache/agentlaunch-test); .debs are kept
# in its debs/ so a rebuild downloads nothing.  Concurrent callers wait on a lock.
set -euo pipefail

CACHE=${AL_TEST_CACHE:-/var/cache/agentlaunch-test}
FORMAT=1 # bump when the package lists or the tweaks below change

mirror() {
	local m
	m=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
	[ -n "$m" ] || m=$(awk '$1 == "deb" && $0 !~ /security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
	echo "${m:-http://deb.debian.org/debian}"
}

kind=${1:-}
case "$kind" in
systemd) include="systemd,systemd-sysv,dbus,iproute2,procps,curl,ca-certificates,sudo" ;;
minbase) include="ca-certificates" ;;
*) echo "usage: $0 systemd|minbase" >&2; exit 2 ;;
esac
tarball=$CACHE/bookworm-$kind-v$FORMAT.tar
mkdir -p "$CACHE/debs"
exec 9>"$CACHE/.lock-$kind"
flock 9
if [ -s "$tarball" ]; then
	echo "$tarball"
	exit 0
fi
command -v debootstrap >/dev/null || { echo "rootfs.sh: debootstrap missing: scripts/install-deps.sh deploy" >&2; exit 1; }
tmp=$(mktemp -d "$CACHE/build.XXXXXX")
cleanup() {
	findmnt -rn -o TARGET | awk -v p="$tmp/" 'index($0,p)==1' | sort -r |
		while read -r m; do umount -l "$m" 2>/dev/null || true; done
	rm -rf --one-file-system "$tmp"
}
trap cleanup EXIT
t0=$(date +%s)
echo "rootfs.sh: debootstrap bookworm ($kind) from $(mirror) ..." >&2
if ! debootstrap --variant=minbase --include="$include" --cache-dir="$CACHE/debs" \
	bookworm "$tmp/root" "$(mirror)" >"$tmp/log" 2>&1; then
	tail -n 20 "$tmp/log" >&2
	echo "rootfs.sh: debootstrap failed" >&2
	exit 1
fi
r=$tmp/root
# The same apt sources and settings as this host (its mirror may be a snapshot
# whose Release files are past Valid-Until).
rm -f "$r/etc/apt/sources.list"
cp /etc/apt/sources.list.d/*.sources "$r/etc/apt/sources.list.d/" 2>/dev/null || true
[ -e /etc/apt/sources.list ] && cp /etc/apt/sources.list "$r/etc/apt/sources.list"
printf 'Acquire::Check-Valid-Until "false";\nAcquire::Check-Date "false";\nAcquire::Languages "none";\n' \
	>"$r/etc/apt/apt.conf.d/99agentlaunch-test"
rm -f "$r"/var/cache/apt/archives/*.deb
rm -rf "$r"/var/lib/apt/lists/*
if [ "$kind" = systemd ]; then
	echo altest >"$r/etc/hostname"
	# A quiet, fast boot: no gettys, no timers.
	for u in getty.target console-getty.service apt-daily.timer apt-daily-upgrade.timer \
		dpkg-db-backup.timer e2scrub_all.timer fstrim.timer; do
		ln -sf /dev/null "$r/etc/systemd/system/$u"
	done
	: >"$r/etc/machine-id"
fi
tar -C "$r" --numeric-owner -cf "$tmp/out.tar" .
mv "$tmp/out.tar" "$tarball"
echo "rootfs.sh: $tarball built in $(($(date +%s) - t0)) s" >&2
echo "$tarball"
