#!/bin/bash
# The container as a user meets it: build deploy/Dockerfile with podman (runc,
# cgroupfs) on a debian:bookworm base made from the cached debootstrap
# tarball (no registry here), then
#   - run an agent as the container's command: it calls /v1/run through the
#     gateway inside and cannot spawn processes;
#   - run the image as a gateway only, on a published port;
#   - check that the entrypoint refuses, without running anything, when the
#     container lacks the capabilities.
# Podman's storage (base and built images, layer cache) is kept in
# /var/cache/agentlaunch-test/podman; containers, cgroups (--cgroup-parent)
# and the runroot are removed afterwards.  Needs root, podman, runc.
source "$(dirname "$0")/../lib.sh"
need_root podman
DEPLOY_DIR=$TOP/tests/deploy
CACHE=${AL_TEST_CACHE:-/var/cache/agentlaunch-test}
IMAGE=localhost/agentlaunch:test
CGP=altest-podman-$$
RUNROOT=/run/altest-podman # fixed: podman's database records it
T0=$(date +%s)
for t in podman runc; do
	command -v $t >/dev/null || { fail "podman: tools" "$t missing: run scripts/install-deps.sh deploy"; exit 0; }
done
cat >"$TMPBASE/containers.conf" <<'X'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
X
export CONTAINERS_CONF=$TMPBASE/containers.conf
mkdir -p "$CACHE/podman"
exec 9>"$CACHE/podman/.lock"
flock 9 # one user of the cached storage at a time
P=(podman --root "$CACHE/podman/root" --runroot "$RUNROOT")
# What podman's CNI plugins add to the host the first time (a bridge,
# iptables chains, ip_forward): removed afterwards unless they were there.
had_bridge=
ip link show cni-podman0 >/dev/null 2>&1 && had_bridge=1
had_chains=$(iptables-save 2>/dev/null | grep -c '^:CNI-')
ip_forward=$(cat /proc/sys/net/ipv4/ip_forward)
drop_cni_chains() {
	local t r c
	for t in nat filter; do
		iptables -t $t -S 2>/dev/null | grep -E '^-A [A-Z]+ .*-j CNI-' | grep -vE '^-A CNI-' |
			while read -r r; do eval "iptables -t $t ${r/#-A/-D}" 2>/dev/null; done
		for c in $(iptables -t $t -S 2>/dev/null | sed -n 's/^-N \(CNI-.*\)/\1/p'); do
			iptables -t $t -F "$c" 2>/dev/null
		done
		for c in $(iptables -t $t -S 2>/dev/null | sed -n 's/^-N \(CNI-.*\)/\1/p'); do
			iptables -t $t -X "$c" 2>/dev/null
		done
	done
}
NAMES=()

cleanup() {
	local n d
	for n in "${NAMES[@]+"${NAMES[@]}"}" $("${P[@]}" ps -aq --filter name=altest-mock 2>/dev/null); do
		"${P[@]}" rm -f -t 2 "$n" >/dev/null 2>&1
	done
	"${P[@]}" container cleanup --all >/dev/null 2>&1
	# podman's overlay driver bind-mounts its storage and runroot on themselves
	findmnt -rn -o TARGET | grep -E "^($CACHE/podman|$RUNROOT)" | sort -r |
		while read -r m; do umount -l "$m" 2>/dev/null; done
	rm -rf "$RUNROOT"
	for d in /sys/fs/cgroup/*/"$CGP" /sys/fs/cgroup/"$CGP"; do
		[ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
	done
	[ -n "$had_bridge" ] || ip link del cni-podman0 2>/dev/null
	[ "$had_chains" != 0 ] || drop_cni_chains
	echo "$ip_forward" >/proc/sys/net/ipv4/ip_forward
	rm -rf "$TMPBASE"
}
trap cleanup EXIT

# ---- base image and build ----------------------------------------------------------
if ! "${P[@]}" image exists docker.io/library/debian:bookworm; then
	tarball=$("$DEPLOY_DIR/rootfs.sh" minbase) || { fail "podman: base image" "rootfs.sh minbase failed"; exit 0; }
	"${P[@]}" import -q "$tarball" docker.io/library/debian:bookworm >/dev/null ||
		{ fail "podman: base image" "podman import failed"; exit 0; }
fi
t=$(date +%s)
if "${P[@]}" build -q -f "$TOP/deploy/Dockerfile" -t "$IMAGE" "$TOP" >"$TMPBASE/build.log" 2>&1; then
	pass "podman: image built from deploy/Dockerfile ($(($(date +%s) - t)) s)"
else
	fail "podman: image build" "$(tail -n 15 "$TMPBASE/build.log")"
	exit 0
fi
# dangling images of earlier builds go; the base and this image stay cached
"${P[@]}" image prune -f >/dev/null 2>&1

prun() { # prun NAME ARGS... -- podman run --rm with our cgroup parent
	local n=$1
	shift
	NAMES+=("$n")
	timeout 120 "${P[@]}" run --rm --name "$n" --cgroup-parent="/$CGP" "$@"
}

# ---- an agent as the container's command ------------------------------------------
mkdir -p "$TMPBASE/agent" "$TMPBASE/work" "$TMPBASE/log"
install -m 0755 "$DEPLOY_DIR/probe_agent.py" "$TMPBASE/agent/agent.py"
chown 65534:65534 "$TMPBASE/work"
chmod 0700 "$TMPBASE/work"
out=$(prun altest-agent-$$ --cap-add SYS_ADMIN --cap-add NET_ADMIN --cap-add SYS_PTRACE \
	-v "$TMPBASE/agent:/agent:ro" -v "$TMPBASE/work:/work" -v "$TMPBASE/log:/var/log/agentlaunch" \
	"$IMAGE" /usr/bin/python3 /agent/agent.py --once 2>&1)
rc=$?
res=$(cat "$TMPBASE/work/result.json" 2>/dev/null)
echo "  | result.json: $res"
if [ $rc -eq 0 ] && echo "$res" | grep -q '"run_stdout": "42\\n"'; then
	pass "container: the agent's /v1/run through the gateway inside worked"
else
	fail "container: agent run" "rc $rc: $(echo "$out" | tail -5)"
fi
expect_out "container: the agent runs as 65534" '"uid": 65534' echo "$res"
expect_out "container: the agent cannot start processes" '"spawn": "Operation not permitted"' echo "$res"
expect_out "container: the run had cgroups, seccomp and landlock" 'cgroup:v[12];seccomp\+spawn-lock;landlock:[0-9]' echo "$res"
expect_out "container: the denied spawn is in the audit log" '"event":"sandbox_violation"' cat "$TMPBASE/log/audit.jsonl"
prun altest-st-$$ --cap-add SYS_ADMIN --cap-add NET_ADMIN -v "$TMPBASE/agent:/agent:ro" \
	"$IMAGE" /usr/bin/python3 -c 'import sys; sys.exit(7)' >/dev/null 2>&1
rc=$?
expect "container: exits with the agent's status" 0 test $rc -eq 7

# ---- the mock agent suite as the container's command ----------------------------------
# Each mock agent (tests/mock_agent) is the command of a container of the
# image; tests/deploy/mock_container.sh is the hook.  Every escape check and
# the audit cross-check must pass, as on the host.
t=$(date +%s)
out=$(MOCK_PODMAN="${P[*]}" MOCK_IMAGE=$IMAGE MOCK_CGROUP_PARENT=/$CGP \
	"$TOP/tests/mock_agent/run.sh" --agents "c py" --launcher "$DEPLOY_DIR/mock_container.sh" \
	--tmp /var/tmp/al-mock-podman 2>&1)
rc=$?
echo "$out" | sed 's/^/  | /'
sum=$(echo "$out" | tail -1)
if [ $rc -eq 0 ] && echo "$sum" | grep -qE '^[0-9]+ passed, 0 failed$' && [ "${sum%% *}" -ge 100 ]; then
	pass "container: the mock agent suite passes as the container's command ($sum, $(($(date +%s) - t)) s)"
else
	fail "container: the mock agent suite" "rc $rc: $sum ($(($(date +%s) - t)) s)"
fi
for row in seccomp/py.subprocess.run seccomp/c.exec-i386-int80 network/c.host-port-127.0.0.1 network/py.tcp-outside-netns filesystem/c.read-other-home audit/audit.c.chain-verifies audit/audit.py.chain-verifies audit/audit.py.own-exec-allowed; do
	expect_out "container: mock suite row $row passed" "^PASS [a-z]* *${row#*/} " echo "$out"
done
expect_out "container: the mock suite skipped nothing" '^\(0 skipped\)$' echo "$out"
left=$(ls -d /var/tmp/al-mock-podman.* 2>/dev/null; "${P[@]}" ps -aq --filter name=altest-mock 2>/dev/null)
if [ -z "$left" ]; then pass "container: the mock suite left no containers or files"; else fail "container: mock suite leftovers" "$left"; fi

# ---- refuses without the capabilities, runs nothing -----------------------------------
rm -f "$TMPBASE/work/result.json" "$TMPBASE/work/starts"
out=$(prun altest-nocap-$$ -v "$TMPBASE/agent:/agent:ro" -v "$TMPBASE/work:/work" \
	"$IMAGE" /usr/bin/python3 /agent/agent.py --once 2>&1)
rc=$?
if [ $rc -eq 125 ] && echo "$out" | grep -q "lacks capabilities.*--cap-add SYS_ADMIN --cap-add NET_ADMIN" && [ ! -e "$TMPBASE/work/starts" ]; then
	pass "container: without SYS_ADMIN/NET_ADMIN it refuses (125) and runs nothing"
else
	fail "container: refusal without capabilities" "rc $rc: $out"
fi
out=$(prun altest-nonet-$$ --cap-add SYS_ADMIN -v "$TMPBASE/agent:/agent:ro" -v "$TMPBASE/work:/work" \
	"$IMAGE" /usr/bin/python3 /agent/agent.py --once 2>&1)
rc=$?
if [ $rc -eq 125 ] && echo "$out" | grep -q "NET_ADMIN" && [ ! -e "$TMPBASE/work/starts" ]; then
	pass "container: with SYS_ADMIN but no NET_ADMIN it still refuses"
else
	fail "container: refusal without NET_ADMIN" "rc $rc: $out"
fi
out=$(prun altest-gwnocap-$$ -e AGENTGW_TOKEN=x "$IMAGE" gateway 2>&1)
rc=$?
if [ $rc -eq 125 ] && echo "$out" | grep -q "SYS_ADMIN"; then pass "container: gateway mode without SYS_ADMIN refuses"; else fail "container: gateway refusal" "rc $rc: $out"; fi
out=$(prun altest-gwnotok-$$ --cap-add SYS_ADMIN "$IMAGE" gateway 2>&1)
rc=$?
if [ $rc -eq 125 ] && echo "$out" | grep -q "give it a token"; then pass "container: gateway mode without a token refuses"; else fail "container: gateway without token" "rc $rc: $out"; fi

# ---- gateway only, on a published port -------------------------------------------------
PORT=$((20000 + RANDOM % 20000))
while (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null; do PORT=$((PORT + 1)); done
TOKEN=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
GW=altest-gw-$$
NAMES+=("$GW")
"${P[@]}" run -d --name "$GW" --cgroup-parent="/$CGP" -p "127.0.0.1:$PORT:9999" --cap-add SYS_ADMIN \
	-e AGENTGW_TOKEN="$TOKEN" "$IMAGE" gateway >/dev/null
h=
for i in $(seq 100); do
	h=$(curl -fsS --max-time 1 "http://127.0.0.1:$PORT/healthz" 2>/dev/null) && break
	sleep 0.1
done
expect_out "container gateway: /healthz answers on the published port" '"status":"ok"' echo "$h"
r=$(curl -sS --max-time 60 -H "Authorization: Bearer $TOKEN" -X POST "http://127.0.0.1:$PORT/v1/run" \
	-d '{"code":"print(2+2)","language":"python"}')
expect_out "container gateway: /v1/run with the token works" '"stdout":"4\\n"' echo "$r"
expect_out "container gateway: without the token: 401" '^401$' curl -s -o /dev/null -w '%{http_code}' \
	-X POST "http://127.0.0.1:$PORT/v1/run" -d '{"code":"print(1)","language":"python"}'
env1=$("${P[@]}" exec "$GW" cat /proc/1/environ 2>&1 | tr '\0' '\n')
if echo "$env1" | grep -q '^PATH=' && ! echo "$env1" | grep -q AGENTGW_TOKEN; then
	pass "container gateway: the token is not left in its environment"
else
	fail "container gateway: token in environment" "$env1"
fi
"${P[@]}" stop -t 10 "$GW" >/dev/null 2>&1
st=$("${P[@]}" inspect -f '{{.State.ExitCode}}' "$GW" 2>/dev/null)
expect_out "container gateway: stops cleanly on SIGTERM" '^0$' echo "$st"

cleanup
trap - EXIT
left=$(
	ls -d /sys/fs/cgroup/*/"$CGP" 2>/dev/null
	findmnt -rn -o TARGET | grep -E "^($CACHE/podman|$RUNROOT)"
	[ -e "$RUNROOT" ] && echo "$RUNROOT"
	podman --root "$CACHE/podman/root" --runroot "$RUNROOT" ps -aq 2>/dev/null
	rm -rf "$RUNROOT"
	[ -n "$had_bridge" ] || ! ip link show cni-podman0 >/dev/null 2>&1 || echo "bridge cni-podman0"
	[ "$had_chains" != 0 ] || iptables-save | grep '^:CNI-'
)
if [ -z "$left" ]; then pass "podman: no containers, mounts or cgroups left ($(($(date +%s) - T0)) s total)"; else fail "podman: leftovers" "$left"; fi
