#!/bin/sh
# Container entrypoint (deploy/Dockerfile).
#
#   entrypoint.sh AGENT [ARGS...]              run AGENT under agentlaunch (the
#                                              container's main process), with
#                                              its own gateway inside
#   entrypoint.sh [LAUNCHER-OPTIONS] -- AGENT [ARGS...]   the same, with more
#                                              agentlaunch options (e.g. -v)
#   entrypoint.sh gateway [AGENTGW-OPTIONS]    agentgw alone, on 0.0.0.0:9999
#   entrypoint.sh --help
#
# Fails closed: when the container lacks what the sandbox needs
# (capabilities, writable cgroups) it says what to add and exits 125; it
# never runs the agent or a request unconfined.
#
# Environment:
#   AGENTLAUNCH_POLICY  policy file (default /etc/agentlaunch/policy.json)
#   AGENT_USER          the agent's user (default 65534)
#   AGENT_WORKDIR       its writable directory and cwd (default /work)
#   AGENT_IDENTITY      its identity for policy and audit (default: basename)
#   AGENTLAUNCH_OPTS    more agentlaunch options, blank-separated
#   AGENTGW_LISTEN      gateway mode: listen address (default 0.0.0.0:9999)
#   AGENTGW_TOKEN       gateway mode: accept this bearer token (identity
#                       AGENTGW_IDENTITY, default "agent"); or mount a tokens
#                       file at /etc/agentlaunch/tokens.json
#   AGENTGW_ALLOW_NO_TOKENS=1  gateway mode without tokens (development only:
#                       anyone who reaches the port runs code as any identity)
set -eu
prog=agentlaunch-entrypoint
POLICY=${AGENTLAUNCH_POLICY:-/etc/agentlaunch/policy.json}
AUDIT=/var/log/agentlaunch/audit.jsonl

die() {
	echo "$prog: $*" >&2
	exit 125
}

usage() {
	sed -n '2,/^set -eu/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
}

# ---- preflight: capabilities and cgroups ------------------------------------
cap_eff=$(sed -n 's/^CapEff:[[:space:]]*//p' /proc/self/status)
has_cap() { [ $(((0x$cap_eff >> $1) & 1)) -eq 1 ]; }
# name bit
CAPS_GATEWAY="SYS_ADMIN:21 SETUID:7 SETGID:6 SETPCAP:8 CHOWN:0"
CAPS_AGENT="$CAPS_GATEWAY NET_ADMIN:12 KILL:5"

require_caps() { # require_caps "NAME:BIT ..." HOW
	missing=
	for c in $1; do
		has_cap "${c#*:}" || missing="$missing ${c%%:*}"
	done
	# reading a 0700 directory of another uid: either will do
	has_cap 2 || has_cap 1 || missing="$missing DAC_OVERRIDE"
	if [ "$(id -u)" != 0 ]; then
		die "must run as root inside the container (it drops the agent to AGENT_USER itself): remove --user"
	fi
	if [ -n "$missing" ]; then
		flags=
		for m in $missing; do flags="$flags --cap-add $m"; done
		die "the container lacks capabilities the sandbox needs:$missing. Run it with$flags ($2). Refusing to run anything unconfined."
	fi
}

# The sandboxes need cgroups of their own (memory, pids, CPU limits), made
# inside the container's own cgroup.  Container engines mount the cgroup
# tree read-only; with CAP_SYS_ADMIN (required anyway) it is remounted
# read-write -- it is the container's own subtree.  On cgroup v2 this process
# then moves into a leaf (<own>/agentlaunch-main) so the sandboxes' parent can
# hand them controllers, and AGENTLAUNCH_CGROUP_BASE points there.
cg_dir() {
	if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
		d=/sys/fs/cgroup$(sed -n 's/^0:://p' /proc/self/cgroup)
		d=${d%/}
		[ -d "$d" ] || d=/sys/fs/cgroup
		echo "$d"
	else
		echo /sys/fs/cgroup/memory
	fi
}
cg_writable() {
	probe=$1/agentlaunch-probe.$$
	mkdir "$probe" 2>/dev/null && rmdir "$probe"
}
require_cgroups() {
	dir=$(cg_dir)
	if ! cg_writable "$dir"; then
		awk '{for (i = 7; $i != "-"; i++);} $(i+1) == "cgroup" || $(i+1) == "cgroup2" {print $5}' \
			/proc/self/mountinfo |
			while read -r m; do
				mount -o remount,bind,rw "$m" 2>/dev/null || mount -o remount,rw "$m" 2>/dev/null || true
			done
		dir=$(cg_dir)
	fi
	if ! cg_writable "$dir"; then
		die "cannot create cgroups under $dir (read-only, or a security profile forbids the remount): the sandboxes need memory, pids and CPU limits of their own. Give the container CAP_SYS_ADMIN and, where AppArmor confines containers (Ubuntu), --security-opt apparmor=unconfined; see docs/deploy.md. Refusing to run anything unconfined."
	fi
	if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
		mkdir -p "$dir/agentlaunch-main"
		echo $$ >"$dir/agentlaunch-main/cgroup.procs" ||
			die "cannot move into $dir/agentlaunch-main"
		AGENTLAUNCH_CGROUP_BASE=${dir#/sys/fs/cgroup}
		AGENTLAUNCH_CGROUP_BASE=${AGENTLAUNCH_CGROUP_BASE#/}
		export AGENTLAUNCH_CGROUP_BASE
	fi
}

case "${1:---help}" in
-h | --help | help)
	usage
	exit 0
	;;
gateway)
	shift
	require_caps "$CAPS_GATEWAY" "gateway mode"
	require_cgroups
	set -- --listen "${AGENTGW_LISTEN:-0.0.0.0:9999}" --policy "$POLICY" --audit "$AUDIT" "$@"
	if [ -f /etc/agentlaunch/tokens.json ]; then
		set -- --tokens /etc/agentlaunch/tokens.json "$@"
	elif [ -n "${AGENTGW_TOKEN:-}" ]; then
		mkdir -p /run/agentlaunch
		sum=$(printf '%s' "$AGENTGW_TOKEN" | sha256sum | cut -d' ' -f1)
		id=${AGENTGW_IDENTITY:-agent}
		(umask 077 && printf '{"tokens": [{"identity": "%s", "sha256": "%s"}]}\n' "$id" "$sum" \
			>/run/agentlaunch/tokens.json)
		unset AGENTGW_TOKEN
		set -- --tokens /run/agentlaunch/tokens.json "$@"
	elif [ "${AGENTGW_ALLOW_NO_TOKENS:-}" = 1 ]; then
		echo "$prog: WARNING: no tokens (AGENTGW_ALLOW_NO_TOKENS=1): anyone who reaches the port runs code as any identity" >&2
	else
		die "gateway mode listens on the network: give it a token (-e AGENTGW_TOKEN=...), or mount a tokens file at /etc/agentlaunch/tokens.json, or set AGENTGW_ALLOW_NO_TOKENS=1 for development"
	fi
	exec /usr/local/bin/agentgw "$@"
	;;
esac

# ---- agent mode ------------------------------------------------------------------
require_caps "$CAPS_AGENT" "agent mode: namespaces, the isolated network, dropping to the agent's user"
require_cgroups
has_cap 19 || echo "$prog: note: without --cap-add SYS_PTRACE the audit records of denied exec attempts lack their path and argv" >&2
# With "--" in the arguments, what precedes it are more agentlaunch options.
n=0
for a in "$@"; do
	n=$((n + 1))
	[ "$a" = -- ] && break
done
[ "$n" -eq $# ] && [ "$a" != -- ] && n=0
opts_file=$(mktemp)
i=0
for a in "$@"; do
	i=$((i + 1))
	[ "$i" -lt "$n" ] && printf '%s\n' "$a" >>"$opts_file"
done
[ "$n" -gt 0 ] && shift "$n"
[ $# -gt 0 ] || die "no agent given: $0 AGENT [ARGS...] (or --help)"
agent_argv_count=$#
# Rebuild the arguments: defaults, extra options, "--", the agent's argv.
for a in --policy "$POLICY" --audit "$AUDIT" --workdir "${AGENT_WORKDIR:-/work}" --user "${AGENT_USER:-65534}"; do
	set -- "$@" "$a"
done
[ -z "${AGENT_IDENTITY:-}" ] || set -- "$@" --identity "$AGENT_IDENTITY"
set -f
# shellcheck disable=SC2086
for a in ${AGENTLAUNCH_OPTS:-}; do set -- "$@" "$a"; done
set +f
while IFS= read -r a; do set -- "$@" "$a"; done <"$opts_file"
rm -f "$opts_file"
set -- "$@" --
# rotate the agent's argv (now at the front) to the end
while [ "$agent_argv_count" -gt 0 ]; do
	a=$1
	shift
	set -- "$@" "$a"
	agent_argv_count=$((agent_argv_count - 1))
done
exec /usr/local/bin/agentlaunch "$@"
