#!/bin/bash
# The install as a user meets it: boot a fresh Debian 12 (systemd as PID 1,
# systemd-nspawn) and, inside it, run scripts/install.sh from the checkout;
# then check the agentgw service, a sandboxed run through it, reload, an
# agent under agentlaunch@, idempotence, and --uninstall.  Finally check the
# host: machine stopped, no mounts, no cgroups left.
# Needs root, systemd-nspawn and debootstrap (scripts/install-deps.sh deploy).
# The rootfs is cached in /var/cache/agentlaunch-test (tests/deploy/rootfs.sh).
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/guest.sh"
need_root nspawn
trap 'guest_cleanup; rm -rf "$TMPBASE"' EXIT
T0=$(date +%s)
elapsed() { echo "$(($(date +%s) - T0)) s"; }

for t in systemd-nspawn debootstrap nsenter; do
	command -v $t >/dev/null || { fail "nspawn: tools" "$t missing: run scripts/install-deps.sh deploy"; exit 0; }
done

# ---- on the host: the installer refuses what it does not support ------------
out=$("$TOP/scripts/install.sh" 2>&1)
rc=$?
if [ $rc -ne 0 ] && echo "$out" | grep -q "systemd is not running"; then
	if [ -d /run/systemd/system ]; then pass "install: refuses without systemd (skipped: host runs systemd)"; else pass "install: refuses without systemd"; fi
else
	[ -d /run/systemd/system ] && pass "install: refuses without systemd (skipped: host runs systemd)" || fail "install: refuses without systemd" "rc $rc: $out"
fi
printf 'ID=fedora\nVERSION_ID=40\nNAME=Fedora\n' >"$TMPBASE/os-release"
out=$(unshare -m sh -c "mount --bind $TMPBASE/os-release /etc/os-release && $TOP/scripts/install.sh" 2>&1)
rc=$?
if [ $rc -ne 0 ] && echo "$out" | grep -q "unsupported system 'fedora 40'"; then pass "install: refuses an unsupported OS"; else fail "install: refuses an unsupported OS" "rc $rc: $out"; fi
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$TOP/scripts/install.sh" 2>&1)
rc=$?
if [ $rc -ne 0 ] && echo "$out" | grep -q "must run as root"; then pass "install: refuses without root"; else fail "install: refuses without root" "rc $rc: $out"; fi

# ---- boot ----------------------------------------------------------------------
if ! guest_boot; then
	fail "nspawn: boot" "the guest did not boot (log above)"
	exit 0
fi
pass "nspawn: Debian 12 booted with systemd ($(elapsed))"
# The guest shares the host's network: give its gateway a free port, as an
# admin would by writing agentgw.env before installing.
PORT=$((20000 + RANDOM % 20000))
while (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null; do PORT=$((PORT + 1)); done
gx mkdir -p /etc/agentlaunch
printf 'AGENTGW_LISTEN=127.0.0.1:%s\nAGENTGW_OPTS=\n' "$PORT" | gx tee /etc/agentlaunch/agentgw.env >/dev/null
URL=http://127.0.0.1:$PORT

# ---- dry run changes nothing -----------------------------------------------------
out=$(gx /src/scripts/install.sh --dry-run 2>&1)
rc=$?
if [ $rc -eq 0 ] && echo "$out" | grep -q "would" && ! gx test -e /usr/local/bin/agentgw && ! gx test -e /etc/agentlaunch/policy.json; then
	pass "install --dry-run: reports and changes nothing"
else
	fail "install --dry-run: reports and changes nothing" "rc $rc: $(echo "$out" | tail -5)"
fi

# ---- install ----------------------------------------------------------------------
t=$(date +%s)
out=$(gx /src/scripts/install.sh 2>&1)
rc=$?
echo "$out" | sed 's/^/  | /' | tail -n 30
if [ $rc -eq 0 ] && echo "$out" | grep -q "agentgw is up"; then
	pass "install: fresh install from the checkout ($(($(date +%s) - t)) s: deps, build, units)"
else
	fail "install: fresh install" "rc $rc"
	gx journalctl -u agentgw -n 40 --no-pager
	exit 0
fi
expect_out "install: kept the pre-seeded agentgw.env, shipped one as .new" "agentgw.env is edited here" echo "$out"
expect "service: agentgw active" 0 gx systemctl is-active --quiet agentgw
expect "service: agentgw enabled" 0 gx systemctl is-enabled --quiet agentgw
h=$(curl -fsS --max-time 5 "$URL/healthz")
expect_out "service: /healthz answers" '"status":"ok"' echo "$h"
expect_out "install: audit key 0600 root" '^0 600$' gx stat -c '%u %a' /var/log/agentlaunch/audit.jsonl.key
expect_out "install: log dir 0750" '^0 750$' gx stat -c '%u %a' /var/log/agentlaunch
expect_out "install: tokens.json 0600" '^0 600$' gx stat -c '%u %a' /etc/agentlaunch/tokens.json
expect_out "install: system user _agentgw (nologin)" 'nologin' gx getent passwd _agentgw
MAINPID=$(gx systemctl show -p MainPID --value agentgw)
expect_out "service: gateway front end runs as _agentgw" "^_agentgw" gx ps -o user= --ppid "$MAINPID"
bnd=$(gx grep CapBnd "/proc/$MAINPID/status" | awk '{print $2}')
want=$(printf '%016x' $(((1 << 21) | (1 << 6) | (1 << 7) | (1 << 8) | (1 << 0) | (1 << 2))))
if [ "$bnd" = "$want" ]; then pass "service: bounding set is exactly the 6 documented capabilities"; else fail "service: bounding set" "CapBnd $bnd, want $want"; fi
expect_out "service: no_new_privs" 'NoNewPrivs:[[:space:]]*1' gx grep NoNewPrivs "/proc/$MAINPID/status"
expect_out "service: seccomp (systemd's filter) active" 'Seccomp:[[:space:]]*2' gx grep '^Seccomp:' "/proc/$MAINPID/status"

# ---- tokens and a sandboxed run in the booted system ----------------------------
expect_out "service: without a token: 401" '^401$' curl -s -o /dev/null -w '%{http_code}' -X POST "$URL/v1/run" -d '{"code":"print(1)","language":"python"}'
out=$(gx /src/scripts/install.sh --add-token tester 2>&1)
expect_out "install --add-token: token created, gateway restarted" "restarted agentgw" echo "$out"
TOKEN=$(gx cat /etc/agentlaunch/tokens/tester.token)
for i in $(seq 50); do curl -fsS -o /dev/null --max-time 1 "$URL/healthz" && break; sleep 0.1; done
run() { curl -sS --max-time 60 -H "Authorization: Bearer $TOKEN" -X POST "$URL/v1/$1" -d "$2"; }
r=$(run run '{"code":"import os\nprint(2+2, os.getuid())","language":"python"}')
expect_out "service: /v1/run works (sandboxed python, cgroups in the guest)" '"stdout":"4 65534\\n"' echo "$r"
expect_out "service: the run had every layer" 'ns:mnt,pid,net,ipc,uts,cgroup;cgroup:v[12];seccomp\+spawn-lock;landlock:[0-9]' echo "$r"
r=$(run exec '{"command":"ls /work"}')
expect_out "service: /v1/exec works" '"exit_code":0' echo "$r"
r=$(run run '{"code":"x = bytearray(300 << 20)","language":"python","mem_max_mb":64}')
expect_out "service: a run over its memory limit is OOM-killed" '"oom_killed":true' echo "$r"
expect "service: still active after a sandbox OOM kill (OOMPolicy=continue)" 0 gx systemctl is-active --quiet agentgw
r=$(run run '{"code":"while True: pass","language":"python","timeout_sec":1}')
expect_out "service: a run past its timeout is killed" '"timed_out":true' echo "$r"

# ---- reload: a bad policy keeps the old one; a good one is taken ----------------
MAINPID=$(gx systemctl show -p MainPID --value agentgw)
sha0=$(curl -fsS "$URL/healthz" | sed -n 's/.*"policy_sha256":"\([0-9a-f]*\)".*/\1/p')
gx cp /etc/agentlaunch/policy.json /root/policy.good
echo '{"version": "2.0", "rules": [' | gx tee /etc/agentlaunch/policy.json >/dev/null
gx systemctl reload agentgw
sleep 0.5
sha1=$(curl -fsS "$URL/healthz" | sed -n 's/.*"policy_sha256":"\([0-9a-f]*\)".*/\1/p')
if [ -n "$sha0" ] && [ "$sha1" = "$sha0" ] && gx systemctl is-active --quiet agentgw; then
	pass "reload: a bad policy is rejected, the old one stays in force"
else
	fail "reload: bad policy" "sha before $sha0, after $sha1"
fi
expect_out "reload: the rejection is in the journal" "policy reload FAILED" gx journalctl -u agentgw --no-pager -n 50
r=$(run run '{"code":"print(5)","language":"python"}')
expect_out "reload: runs still work under the old policy" '"stdout":"5\\n"' echo "$r"
gx sed 's/"window_seconds": 60/"window_seconds": 61/' /root/policy.good | gx tee /etc/agentlaunch/policy.json >/dev/null
gx systemctl reload agentgw
sleep 0.5
sha2=$(curl -fsS "$URL/healthz" | sed -n 's/.*"policy_sha256":"\([0-9a-f]*\)".*/\1/p')
want2=$(gx sha256sum /etc/agentlaunch/policy.json | cut -d' ' -f1)
if [ "$sha2" = "$want2" ] && [ "$sha2" != "$sha0" ]; then pass "reload: a good policy is taken without a restart"; else fail "reload: good policy" "sha $sha2, want $want2"; fi
expect_out "reload: same main process" "^$MAINPID$" gx systemctl show -p MainPID --value agentgw
expect "audit: the log verifies" 0 gx /usr/local/bin/agentgw --verify-audit /var/log/agentlaunch/audit.jsonl

# ---- an agent as a service: agentlaunch@ -------------------------------------------
gx install -d -m 0755 /opt/probe
gx install -m 0755 /src/tests/deploy/probe_agent.py /opt/probe/agent.py
printf 'AGENT="/opt/probe/agent.py"\n' | gx tee /etc/agentlaunch/agents/probe.conf >/dev/null
t=$(date +%s)
gx systemctl start agentlaunch@probe.service
res=
for i in $(seq 300); do
	res=$(gx cat /var/lib/agentlaunch/agents/probe/result.json 2>/dev/null) && [ -n "$res" ] && break
	sleep 0.1
done
echo "  | result.json: $res"
expect_out "agentlaunch@: the agent's /v1/run through AGENTGW_URL/AGENTGW_TOKEN worked ($(($(date +%s) - t)) s)" '"run_stdout": "42\\n"' echo "$res"
expect_out "agentlaunch@: restarted after its failed first start (Restart=on-failure)" '"start": 2' echo "$res"
expect_out "agentlaunch@: the agent runs as nobody" '"uid": 65534' echo "$res"
expect_out "agentlaunch@: the agent cannot start processes" '"spawn": "Operation not permitted"' echo "$res"
for i in $(seq 50); do [ "$(gx systemctl is-active agentlaunch@probe.service)" = inactive ] && break; sleep 0.1; done
expect_out "agentlaunch@: the unit ended cleanly after a good run" '^inactive$' gx systemctl is-active agentlaunch@probe.service
expect_out "agentlaunch@: denied spawn recorded as sandbox_violation" '"event":"sandbox_violation"' gx cat /var/log/agentlaunch/agent-probe.jsonl
expect "agentlaunch@: its audit log verifies" 0 gx /usr/local/bin/agentgw --verify-audit /var/log/agentlaunch/agent-probe.jsonl
left=$(gx sh -c 'ls /run/agentlaunch/launch 2>/dev/null; ip netns list 2>/dev/null')
if [ -z "$left" ]; then pass "agentlaunch@: nothing left after the agent exited"; else fail "agentlaunch@: leftovers" "$left"; fi
# The mock agent suite (tests/mock_agent), each agent as agentlaunch@mock-NAME
# through tests/deploy/mock_unit.sh: every escape check and the audit
# cross-check must pass in the installed system, as on the host.
t=$(date +%s)
out=$(gx /src/tests/mock_agent/run.sh --bin /usr/local/bin --agents "c py" \
	--launcher /src/tests/deploy/mock_unit.sh --tmp /var/lib/agentlaunch/agents/al-mock 2>&1)
rc=$?
echo "$out" | sed 's/^/  | /'
sum=$(echo "$out" | tail -1)
if [ $rc -eq 0 ] && echo "$sum" | grep -qE '^[0-9]+ passed, 0 failed$' && [ "${sum%% *}" -ge 100 ]; then
	pass "agentlaunch@: the mock agent suite passes as services ($sum, $(($(date +%s) - t)) s)"
else
	fail "agentlaunch@: the mock agent suite" "rc $rc: $sum ($(($(date +%s) - t)) s)"
fi
for row in seccomp/py.subprocess.run seccomp/c.exec-i386-int80 network/py.tcp-outside-netns filesystem/c.read-other-home audit/audit.c.chain-verifies audit/audit.py.chain-verifies audit/audit.py.own-exec-allowed; do
	expect_out "agentlaunch@: mock suite row $row passed" "^PASS [a-z]* *${row#*/} " echo "$out"
done
expect_out "agentlaunch@: the mock suite skipped nothing" '^\(0 skipped\)$' echo "$out"
left=$(gx sh -c 'ls /etc/agentlaunch/agents/mock-* /run/systemd/system/agentlaunch@mock-* /var/lib/agentlaunch/agents/al-mock* 2>/dev/null; systemctl list-units --all --plain --no-legend "agentlaunch@mock-*"')
if [ -z "$left" ]; then pass "agentlaunch@: the mock suite left no units, configs or files"; else fail "agentlaunch@: mock suite leftovers" "$left"; fi
# a stop while the agent runs: the launcher forwards SIGTERM (needs CAP_KILL)
printf 'import time\ntime.sleep(300)\n' | gx tee /opt/probe/sleeper.py >/dev/null
printf 'AGENT="/usr/bin/python3 /opt/probe/sleeper.py"\n' | gx tee /etc/agentlaunch/agents/sleeper.conf >/dev/null
gx systemctl start agentlaunch@sleeper.service
sleep 2
t=$(date +%s%N)
gx systemctl stop agentlaunch@sleeper.service
ms=$((($(date +%s%N) - t) / 1000000))
if [ $ms -lt 5000 ]; then pass "agentlaunch@: systemctl stop ends the agent promptly (${ms} ms)"; else fail "agentlaunch@: stop" "took ${ms} ms"; fi
expect_out "agentlaunch@: a stopped agent is inactive, not failed" '^inactive$' gx systemctl is-active agentlaunch@sleeper.service

# ---- idempotence --------------------------------------------------------------------
MAINPID=$(gx systemctl show -p MainPID --value agentgw)
gx cp /root/policy.good /etc/agentlaunch/policy.json
gx systemctl reload agentgw
out=$(gx /src/scripts/install.sh 2>&1)
rc=$?
if [ $rc -eq 0 ] && echo "$out" | grep -q "nothing to do"; then pass "install: a second run is a no-op and says so"; else fail "install: second run" "rc $rc: $(echo "$out" | tail -8)"; fi
expect_out "install: second run did not restart the gateway" "^$MAINPID$" gx systemctl show -p MainPID --value agentgw
# an edited policy is never overwritten
echo '{"edited": true}' | gx tee -a /root/marker >/dev/null
gx sed -i 's/"max_commands": 120/"max_commands": 100/' /etc/agentlaunch/policy.json
out=$(gx /src/scripts/install.sh 2>&1)
if echo "$out" | grep -q "policy.json is edited here" && gx grep -q '"max_commands": 100' /etc/agentlaunch/policy.json &&
	gx test -f /etc/agentlaunch/policy.json.new; then
	pass "install: an edited policy.json is kept, the shipped one goes to policy.json.new"
else
	fail "install: edited policy" "$(echo "$out" | tail -5)"
fi

# ---- uninstall -----------------------------------------------------------------------
out=$(gx /src/scripts/install.sh --uninstall 2>&1)
rc=$?
echo "$out" | sed 's/^/  | /' | tail -n 12
expect "uninstall: exits 0" 0 test $rc -eq 0
left=$(gx sh -c 'ls -d /usr/local/bin/agent* /usr/local/libexec/agentlaunch /usr/local/lib/systemd/system/agent* /var/lib/agentlaunch /run/agentlaunch /var/cache/agentlaunch /usr/local/share/doc/agentlaunch /sys/fs/cgroup/*/agentlaunch 2>/dev/null; getent passwd _agentgw; systemctl list-units --all --plain --no-legend "agent*" ; ls /etc/systemd/system/*.wants | grep agent')
if [ -z "$left" ]; then pass "uninstall: no binaries, units, user, state or cgroups left"; else fail "uninstall: leftovers" "$left"; fi
expect "uninstall: kept the policy" 0 gx test -f /etc/agentlaunch/policy.json
expect "uninstall: kept the audit log and key" 0 gx test -f /var/log/agentlaunch/audit.jsonl -a -f /var/log/agentlaunch/audit.jsonl.key
out=$(gx /src/scripts/install.sh --uninstall --purge 2>&1)
if ! gx test -e /etc/agentlaunch && ! gx test -e /var/log/agentlaunch; then pass "uninstall --purge: removes policy and logs too"; else fail "uninstall --purge" "$out"; fi

# ---- the host afterwards -------------------------------------------------------------
guest_cleanup
left=$(guest_leftovers)
if [ -z "$left" ]; then pass "nspawn: machine stopped, no mounts or cgroups left on the host ($(elapsed) total)"; else fail "nspawn: host leftovers" "$left"; fi
