#!/bin/sh
# Install the Debian packages agentlaunch needs to build, test and benchmark.
# Idempotent: quiet when everything is already there. Waits for the dpkg lock.
set -eu

BUILD_PKGS="build-essential pkg-config libseccomp-dev libnl-3-dev libnl-route-3-dev \
libcgroup-dev libjansson-dev libevent-dev libssl-dev check"
TEST_PKGS="python3 curl iproute2 procps openssl util-linux"
BENCH_PKGS="bubblewrap hyperfine wrk"
# install: what scripts/install.sh needs on a server (build, the shipped
# policy's /usr/bin/python3, /bin/kill for `systemctl reload`, curl for the
# health check).
INSTALL_PKGS="python3 procps curl"
# deploy: the deployment tests (tests/deploy/): a booted systemd guest
# (debootstrap + systemd-nspawn), containers (podman + runc), the VM test (qemu).
DEPLOY_PKGS="debootstrap systemd-container podman runc uidmap qemu-system-x86 e2fsprogs"

want="$BUILD_PKGS"
case "${1:-build}" in
build) ;;
test) want="$want $TEST_PKGS" ;;
bench) want="$want $TEST_PKGS $BENCH_PKGS" ;;
all) want="$want $TEST_PKGS $BENCH_PKGS nodejs" ;;
install) want="$want $INSTALL_PKGS" ;;
deploy) want="$want $TEST_PKGS $DEPLOY_PKGS" ;;
*) echo "usage: $0 [build|test|bench|all|install|deploy]" >&2; exit 2 ;;
esac

missing=""
for p in $want; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing Debian packages:$missing" >&2
	echo "install-deps: run as root (sudo $0 ${1:-build}) or install them yourself" >&2
	exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
	echo "install-deps: apt-get not found; this script supports Debian 12 / Ubuntu 22.04+." >&2
	echo "install-deps: install these packages with your package manager:$missing" >&2
	exit 1
fi

echo "install-deps: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt_opts="-o DPkg::Lock::Timeout=300 -y -q"
apt-get $apt_opts update >/dev/null
# shellcheck disable=SC2086
apt-get $apt_opts install --no-install-recommends $missing >/dev/null
