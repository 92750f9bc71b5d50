# shellcheck shell=bash
# Boot a throwaway Debian 12 with systemd as PID 1 in systemd-nspawn (sourced
# by the deployment tests; needs root).  The recipe and its reasons are in
# the project's TESTING notes: own cgroups first in every hierarchy,
# --register=no --keep-unit, CAP_NET_ADMIN and the Landlock syscalls let
# through, the guest's v1 controllers remounted read-write, commands run
# with nsenter.  Everything is undone by guest_cleanup (also on EXIT).
#
#   guest_boot [--private-network]   boot a fresh copy of the cached rootfs,
#                                    a snapshot of the checkout at /src (read-only)
#   gx CMD...                        run CMD in the guest (as root, clean env)
#   guest_cleanup                    power off, unmount, remove root and cgroups
# Variables: GUEST_ROOT (the guest's / on the host), GUEST_PID1, GUEST_LOG.

DEPLOY_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$DEPLOY_DIR/../.." && pwd)
AL_TEST_CACHE=${AL_TEST_CACHE:-/var/cache/agentlaunch-test}
GUEST_NAME=altest$$
GUEST_CG=altest-$$
GUEST_DIR=
GUEST_ROOT=
GUEST_PID1=
GUEST_NSPAWN=
GUEST_LOG=
GUEST_CGDIRS=()

guest_log() { echo "# $*" >&2; }

# Own a cgroup below our current one in every hierarchy, and move this shell
# into it, so the guest's tree is contained, delegable and removable.
guest_own_cgroups() {
	local line h rel dir
	while IFS= read -r line; do
		rel=${line#*:*:}
		h=${line#*:}
		h=${h%%:*}
		case "$h" in
		'') dir=/sys/fs/cgroup/unified ;;
		name=systemd) dir=/sys/fs/cgroup/systemd ;;
		name=*) continue ;;
		*) dir=/sys/fs/cgroup/${h%%,*} ;;
		esac
		[ -d "$dir" ] || continue
		[ -d "$dir$rel" ] || continue
		mkdir -p "$dir${rel%/}/$GUEST_CG"
		GUEST_CGDIRS+=("$dir${rel%/}/$GUEST_CG")
		# a new cpuset group has no CPUs or memory nodes until given some
		if [ -f "$dir${rel%/}/$GUEST_CG/cpuset.cpus" ]; then
			cat "$dir${rel%/}/cpuset.cpus" >"$dir${rel%/}/$GUEST_CG/cpuset.cpus"
			cat "$dir${rel%/}/cpuset.mems" >"$dir${rel%/}/$GUEST_CG/cpuset.mems"
		fi
		echo $$ >"$dir${rel%/}/$GUEST_CG/cgroup.procs"
	done </proc/self/cgroup
	# A pure v2 host: one line "0::/..." handled above with dir .../unified;
	# fix that case.
	if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
		GUEST_CGDIRS=()
		rel=$(sed -n 's/^0:://p' /proc/self/cgroup)
		mkdir -p "/sys/fs/cgroup${rel%/}/$GUEST_CG"
		echo $$ >"/sys/fs/cgroup${rel%/}/$GUEST_CG/cgroup.procs"
		GUEST_CGDIRS+=("/sys/fs/cgroup${rel%/}/$GUEST_CG")
	fi
}

guest_release_cgroups() {
	local d
	for d in "${GUEST_CGDIRS[@]+"${GUEST_CGDIRS[@]}"}"; do
		[ -d "$d" ] || continue
		echo $$ >"$(dirname "$d")/cgroup.procs" 2>/dev/null || true
		# kill what is left (should be nothing), then remove depth-first
		local p
		for p in $(cat "$d"/cgroup.procs 2>/dev/null; find "$d" -mindepth 2 -name cgroup.procs -exec cat {} + 2>/dev/null); do
			[ "$p" = $$ ] || kill -KILL "$p" 2>/dev/null || true
		done
		local i
		for i in 1 2 3 4 5 6 7 8 9 10; do
			find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
			[ -d "$d" ] || break
			sleep 0.2
		done
	done
}

guest_boot() {
	local net=()
	[ "${1:-}" = --private-network ] && net=(--private-network)
	command -v systemd-nspawn >/dev/null || { echo "systemd-nspawn missing: scripts/install-deps.sh deploy" >&2; return 1; }
	local tarball
	tarball=$("$DEPLOY_DIR/rootfs.sh" systemd) || return 1
	GUEST_DIR=$(mktemp -d /var/tmp/altest-guest.XXXXXX)
	GUEST_ROOT=$GUEST_DIR/root
	GUEST_LOG=$GUEST_DIR/console.log
	mkdir "$GUEST_ROOT" "$GUEST_DIR/src"
	tar -C "$GUEST_ROOT" --numeric-owner -xf "$tarball"
	# A snapshot of the checkout (sources only, as a clone has them), so that
	# edits made while the test runs do not change what the guest sees.
	tar -C "$REPO" --exclude=./build --exclude='./build-*' --exclude=./.git -cf - . |
		tar -C "$GUEST_DIR/src" -xf -
	# apt's downloads and lists survive between runs (the guest installs
	# the build dependencies itself, as a user's machine would).
	mkdir -p "$AL_TEST_CACHE/apt/archives/partial" "$AL_TEST_CACHE/apt/lists/partial"
	guest_own_cgroups
	setsid systemd-nspawn -D "$GUEST_ROOT" -b --register=no --keep-unit -M "$GUEST_NAME" \
		--console=passive "${net[@]}" \
		--capability=CAP_NET_ADMIN \
		--system-call-filter='landlock_create_ruleset landlock_add_rule landlock_restrict_self' \
		--bind-ro="$GUEST_DIR/src:/src" \
		--bind="$AL_TEST_CACHE/apt/archives:/var/cache/apt/archives" \
		--bind="$AL_TEST_CACHE/apt/lists:/var/lib/apt/lists" \
		>"$GUEST_LOG" 2>&1 </dev/null &
	GUEST_NSPAWN=$!
	local i
	for i in $(seq 200); do
		GUEST_PID1=$(pgrep -P "$GUEST_NSPAWN" -x systemd || true)
		[ -n "$GUEST_PID1" ] && break
		kill -0 "$GUEST_NSPAWN" 2>/dev/null || break
		sleep 0.05
	done
	if [ -z "$GUEST_PID1" ]; then
		cat "$GUEST_LOG" >&2
		return 1
	fi
	# The guest sees its v1 controllers read-only: make them writable (their
	# root is our own cgroup).  The mounts may appear a moment after PID 1.
	for i in $(seq 100); do
		grep -q ' - cgroup ' "/proc/$GUEST_PID1/mountinfo" && break
		sleep 0.05
	done
	awk '{for(i=7;$i!="-";i++);} $(i+1)=="cgroup" && $6 ~ /^ro/ && $(i+3) !~ /name=systemd/ {print $5}' \
		"/proc/$GUEST_PID1/mountinfo" |
		while read -r m; do nsenter -t "$GUEST_PID1" -m mount -o remount,bind,rw "$m"; done
	local st=
	for i in $(seq 300); do
		st=$(timeout 60 nsenter -t "$GUEST_PID1" -a systemctl is-system-running --wait 2>&1 || true)
		case "$st" in
		running | degraded) return 0 ;;
		*"Failed to connect to bus"* | "") sleep 0.1 ;; # not up yet
		*) break ;;
		esac
	done
	guest_log "guest state after boot: $st"
	cat "$GUEST_LOG" >&2
	nsenter -t "$GUEST_PID1" -a systemctl --failed --no-pager >&2 || true
	return 1
}

gx() {
	nsenter -t "$GUEST_PID1" -a env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		HOME=/root LANG=C.UTF-8 TERM=dumb "$@"
}

guest_cleanup() {
	if [ -n "$GUEST_NSPAWN" ] && kill -0 "$GUEST_NSPAWN" 2>/dev/null; then
		[ -n "$GUEST_PID1" ] && timeout 10 nsenter -t "$GUEST_PID1" -a systemctl poweroff >/dev/null 2>&1
		local i
		for i in $(seq 150); do kill -0 "$GUEST_NSPAWN" 2>/dev/null || break; sleep 0.1; done
		kill -TERM "$GUEST_NSPAWN" 2>/dev/null || true
		for i in $(seq 50); do kill -0 "$GUEST_NSPAWN" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$GUEST_NSPAWN" 2>/dev/null || true
	fi
	[ -z "$GUEST_NSPAWN" ] || wait "$GUEST_NSPAWN" 2>/dev/null || true
	GUEST_NSPAWN=
	guest_release_cgroups
	if [ -n "$GUEST_DIR" ] && [ -d "$GUEST_DIR" ]; then
		findmnt -rn -o TARGET | awk -v p="$GUEST_DIR/" 'index($0,p)==1' | sort -r |
			while read -r m; do umount -l "$m" 2>/dev/null || true; done
		rm -rf --one-file-system "$GUEST_DIR"
	fi
	GUEST_DIR=
}

# guest_leftovers: print what the guest left on the host (nothing, when clean).
guest_leftovers() {
	local d
	for d in "${GUEST_CGDIRS[@]+"${GUEST_CGDIRS[@]}"}"; do [ -d "$d" ] && echo "cgroup $d"; done
	[ -n "$GUEST_DIR" ] && [ -d "$GUEST_DIR" ] && echo "directory $GUEST_DIR"
	findmnt -rn -o TARGET | grep -F "/var/tmp/altest-guest." | sed 's/^/mount /'
	pgrep -f "systemd-nspawn .* -M $GUEST_NAME " | sed 's/^/process /'
	true
}
