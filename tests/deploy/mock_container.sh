#!/bin/bash
# mock_container.sh NAME OUTFILE AUDITFILE -- AGENT [ARGS...]
#
# The --launcher hook of tests/mock_agent/run.sh for the container image
# (tests/deploy/podman.sh): runs AGENT as the container's command, so the
# container's entrypoint (deploy/entrypoint.sh) wraps it in agentlaunch
# with the gateway inside, as a user runs an agent.  From the environment:
# MOCK_PODMAN (the podman command), MOCK_IMAGE, MOCK_CGROUP_PARENT.
#
# The container is a machine of its own, so the targets that run.sh puts on
# "the host" must exist inside it too: this script is also the container's
# first process (--entrypoint, MOCK_IN_CONTAINER=1), where it starts a
# listener on 0.0.0.0/[::] and the allowed service on 127.0.0.1 (same ports
# as run.sh's), another user's home with a secret and a sentinel process,
# points MOCK_HOST_PIDS at them and MOCK_LAUNCHER_PID at pid 1, then execs
# the image's entrypoint -- which execs agentlaunch, pid 1.  The "outside"
# network namespace and the host listener stay run.sh's, on the host.
set -u

inside() {
	local i
	/usr/bin/python3 /usr/local/bin/al-mock-listen host-secret "0.0.0.0:$MOCK_HOST_PORT" \
		"[::]:$MOCK_HOST_PORT" >/run/al-mock-listen.out 2>&1 &
	local lpid=$!
	mkdir -p /srv/al-mock
	echo "$MOCK_SERVICE_TEXT" >/srv/al-mock/hello.txt
	chmod -R a+rX /srv/al-mock
	/usr/bin/python3 -m http.server --bind 127.0.0.1 --directory /srv/al-mock "$MOCK_SERVICE_PORT" \
		>/run/al-mock-svc.log 2>&1 &
	local spid=$!
	mkdir -p "$MOCK_OTHER_HOME/.ssh"
	echo "the other user's secret $RANDOM" >"$MOCK_OTHER_HOME/secret.txt"
	echo "-----BEGIN OPENSSH PRIVATE KEY----- (mock)" >"$MOCK_OTHER_HOME/.ssh/id_ed25519"
	chown -R 4242:4242 "$MOCK_OTHER_HOME"
	chmod -R go-rwx "$MOCK_OTHER_HOME"
	sleep 900 &
	export MOCK_HOST_PIDS="$lpid $spid $!" MOCK_LAUNCHER_PID=1
	export MOCK_AUDIT_KEY=/var/log/agentlaunch/audit.jsonl.key
	unset MOCK_IN_CONTAINER MOCK_PODMAN MOCK_IMAGE MOCK_CGROUP_PARENT
	for i in $(seq 100); do
		grep -q '^ready' /run/al-mock-listen.out 2>/dev/null &&
			/usr/bin/python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' \
				"$MOCK_SERVICE_PORT" 2>/dev/null && break
		sleep 0.1
	done
	exec /usr/local/bin/agentlaunch-entrypoint "$@"
}
if [ "${MOCK_IN_CONTAINER:-}" = 1 ]; then
	inside "$@"
	exit 125
fi

[ $# -ge 5 ] && [ "$4" = -- ] || { echo "usage: $0 NAME OUTFILE AUDITFILE -- AGENT..." >&2; exit 2; }
name=$1 out=$2 auditcopy=$3
shift 4
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# run.sh keeps every file under one directory (--tmp): the workdir's parent.
TMP=$(dirname "$MOCK_WORKDIR")
logdir=$TMP/log-$name
mkdir -p "$logdir"
envs=()
for v in MOCK_OUTSIDE_ADDR MOCK_OUTSIDE_PORT MOCK_OUTSIDE_HOST_ADDR MOCK_HOST_PORT \
	MOCK_OTHER_HOME MOCK_SERVICE_PORT MOCK_SERVICE_TEXT; do
	envs+=(-e "$v=${!v}")
done
# shellcheck disable=SC2086 # MOCK_PODMAN is a command with its options
$MOCK_PODMAN run --rm --name "altest-mock-$name-$$" --cgroup-parent="$MOCK_CGROUP_PARENT" \
	--cap-add SYS_ADMIN --cap-add NET_ADMIN --cap-add SYS_PTRACE \
	-v "$TMP:$TMP" -v "$logdir:/var/log/agentlaunch" \
	-v "$HERE/mock_container.sh:/usr/local/bin/al-mock-fixture:ro" \
	-v "$HERE/../mock_agent/listen.py:/usr/local/bin/al-mock-listen:ro" \
	--entrypoint /usr/local/bin/al-mock-fixture -e MOCK_IN_CONTAINER=1 "${envs[@]}" \
	-e "AGENT_WORKDIR=$MOCK_WORKDIR" -e "AGENT_IDENTITY=mock-$name" \
	-e "AGENTLAUNCH_OPTS=--allow-service 127.0.0.1:$MOCK_SERVICE_PORT" \
	"$MOCK_IMAGE" "$@" >"$out" 2>"$out.err"
rc=$?
cp "$logdir/audit.jsonl" "$auditcopy" 2>/dev/null || echo "mock_container: no audit log in $logdir" >>"$out.err"
cp "$logdir/audit.jsonl.key" "$auditcopy.key" 2>/dev/null || echo "mock_container: no audit key in $logdir" >>"$out.err"
exit $rc
