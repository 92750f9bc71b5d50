#!/bin/bash
# Runs inside the pure cgroup v2 VM (tests/deploy/vm.sh), as root, from a
# writable copy of the checkout with host-built binaries in build-vm/bin:
# install.sh --build-dir, then the service checks that depend on cgroup v2
# (delegation, the gateway's leaf, OOMPolicy=continue), an agent under
# agentlaunch@, reload, a second install, --uninstall.
cd "$(dirname "$0")/../.." || exit 2
pass() { echo "PASS: vm: $1"; }
fail() { echo "FAIL: vm: $1: ${2:-}"; }
check() { # check NAME REGEX CMD...
	local n=$1 re=$2 out
	shift 2
	out=$("$@" 2>&1)
	if printf '%s' "$out" | grep -Eq -- "$re"; then pass "$n"; else fail "$n" "$(printf '%s' "$out" | tail -c 300)"; fi
}
[ -f /sys/fs/cgroup/cgroup.controllers ] && pass "pure cgroup v2 ($(cat /sys/fs/cgroup/cgroup.controllers))" || fail "pure cgroup v2" "not v2"

out=$(./scripts/install.sh --build-dir build-vm 2>&1)
rc=$?
echo "$out" | tail -n 4 | sed 's/^/  | /'
if [ $rc -eq 0 ]; then pass "install.sh --build-dir"; else fail "install.sh --build-dir" "rc $rc: $(echo "$out" | tail -5)"; journalctl -u agentgw -n 30 --no-pager; exit 0; fi
URL=http://127.0.0.1:9999
check "agentgw active" '^active$' systemctl is-active agentgw
./scripts/install.sh --add-token vmtester >/dev/null 2>&1
MAIN=$(systemctl show -p MainPID --value agentgw)
check "the gateway runs in its unit's leaf cgroup" '^0::/system.slice/agentgw.service/gateway$' cat /proc/$MAIN/cgroup
TOKEN=$(cat /etc/agentlaunch/tokens/vmtester.token)
for i in $(seq 50); do curl -fsS -o /dev/null --max-time 1 $URL/healthz && break; sleep 0.1; done
run() { curl -sS --max-time 60 -H "Authorization: Bearer $TOKEN" -X POST "$URL/v1/$1" -d "$2"; }
r=$(run run '{"code":"print(2+2)","language":"python"}')
check "/v1/run in the delegated v2 subtree" '"stdout":"4\\n"' echo "$r"
check "the run used cgroup v2" 'cgroup:v2' echo "$r"
r=$(run run '{"code":"x = bytearray(300 << 20)","language":"python","mem_max_mb":64}')
check "a run over its memory limit is OOM-killed" '"oom_killed":true' echo "$r"
sleep 0.5
check "agentgw still active after the OOM kill (OOMPolicy=continue)" '^active$' systemctl is-active agentgw
check "same main process after the OOM kill" "^$MAIN$" systemctl show -p MainPID --value agentgw
r=$(run run '{"code":"print(3)","language":"python"}')
check "runs still work after the OOM kill" '"stdout":"3\\n"' echo "$r"
# between requests only the warm pool's sandboxes hold groups (one each)
sleep 0.5
sub=$(find /sys/fs/cgroup/system.slice/agentgw.service/agentlaunch -mindepth 1 -maxdepth 1 -type d 2>/dev/null | wc -l)
nwarm=$(pgrep -P "$MAIN" -f -- '--spec-fd 3 --warm' | wc -l)
[ "$sub" -le "$nwarm" ] && pass "no run cgroups left in the unit's subtree ($sub of the $nwarm warm sandboxes)" ||
	fail "run cgroups left" "$sub groups for $nwarm warm sandboxes: $(ls /sys/fs/cgroup/system.slice/agentgw.service/agentlaunch)"
cp /etc/agentlaunch/policy.json /root/p.good
echo '{"broken": ' >/etc/agentlaunch/policy.json
systemctl reload agentgw
sleep 0.5
check "reload with a bad policy keeps the service" '^active$' systemctl is-active agentgw
cp /root/p.good /etc/agentlaunch/policy.json
systemctl reload agentgw

install -d -m 0755 /opt/probe
install -m 0755 tests/deploy/probe_agent.py /opt/probe/agent.py
echo 'AGENT="/opt/probe/agent.py"' >/etc/agentlaunch/agents/probe.conf
systemctl start agentlaunch@probe
res=
for i in $(seq 600); do
	res=$(cat /var/lib/agentlaunch/agents/probe/result.json 2>/dev/null) && [ -n "$res" ] && break
	sleep 0.1
done
echo "  | result.json: $res"
check "agentlaunch@: the agent's /v1/run worked (v2)" '"run_stdout": "42\\n"' echo "$res"
check "agentlaunch@: restarted after a failed first start" '"start": 2' echo "$res"
check "agentlaunch@: the run used cgroup v2" 'cgroup:v2' echo "$res"
check "agentlaunch@: spawn refused" '"spawn": "Operation not permitted"' echo "$res"
[ -z "$res" ] && journalctl -u agentlaunch@probe -n 30 --no-pager

out=$(./scripts/install.sh --build-dir build-vm 2>&1)
check "a second install.sh is a no-op" 'nothing to do' echo "$out"
out=$(./scripts/install.sh --uninstall 2>&1)
left=$(ls -d /usr/local/bin/agent* /usr/local/libexec/agentlaunch /usr/local/lib/systemd/system/agent* /var/lib/agentlaunch /sys/fs/cgroup/system.slice/agentgw.service 2>/dev/null; getent passwd _agentgw)
[ -z "$left" ] && pass "uninstall leaves only policy and logs" || fail "uninstall leftovers" "$left"
