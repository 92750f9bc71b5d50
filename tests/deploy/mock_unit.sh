#!/bin/bash
# mock_unit.sh NAME OUTFILE AUDITFILE -- AGENT [ARGS...]
#
# The --launcher hook of tests/mock_agent/run.sh for an installed system:
# runs AGENT as the service agentlaunch@mock-NAME, the way an admin runs
# an agent (tests/deploy/nspawn.sh calls run.sh with it inside the booted
# guest).  It writes /etc/agentlaunch/agents/mock-NAME.conf (AGENT, user
# 65534, WORKDIR=$MOCK_WORKDIR, ALLOW_SERVICES=127.0.0.1:$MOCK_SERVICE_PORT)
# and a runtime drop-in that only adds the MOCK_* variables to the unit's
# environment; the unit itself stays as installed.  It starts the unit,
# writes the launcher's pid (the unit's MainPID) to launcher.pid in the
# workdir, waits for the agent's first exit, stops the unit (before
# Restart= starts it again), and hands run.sh the agent's output (from the
# journal), its audit log (and key) and its exit status.  Everything it wrote goes.
set -u
[ $# -ge 5 ] && [ "$4" = -- ] || { echo "usage: $0 NAME OUTFILE AUDITFILE -- AGENT..." >&2; exit 2; }
name=$1 out=$2 auditcopy=$3
shift 4
inst=mock-$name
unit=agentlaunch@$inst.service
conf=/etc/agentlaunch/agents/$inst.conf
dropin=/run/systemd/system/$unit.d
log=/var/log/agentlaunch/agent-$inst.jsonl
pidf=$MOCK_WORKDIR/launcher.pid
envf=/run/al-mock-$inst.env

cleanup() {
	systemctl stop "$unit" 2>/dev/null
	systemctl reset-failed "$unit" 2>/dev/null
	rm -rf "$dropin" "$conf" "$envf"
	systemctl daemon-reload
}
trap cleanup EXIT

rm -f "$pidf"
install -d -m 0755 /etc/agentlaunch/agents
# The agent's paths and arguments have no blanks (run.sh makes them).
printf 'AGENT="%s"\nAGENT_USER=65534:65534\nWORKDIR=%s\nALLOW_SERVICES=127.0.0.1:%s\n' \
	"$*" "$MOCK_WORKDIR" "$MOCK_SERVICE_PORT" >"$conf"
chmod 0644 "$conf"
: >"$envf"
for v in MOCK_OUTSIDE_ADDR MOCK_OUTSIDE_PORT MOCK_OUTSIDE_HOST_ADDR MOCK_HOST_PORT \
	MOCK_HOST_PIDS MOCK_OTHER_HOME MOCK_SERVICE_PORT MOCK_SERVICE_TEXT; do
	printf '%s="%s"\n' "$v" "${!v}" >>"$envf"
done
printf 'MOCK_AUDIT_KEY=%s.key\nMOCK_LAUNCHER_PID=@%s\n' "$log" "$pidf" >>"$envf"
mkdir -p "$dropin"
printf '[Service]\nEnvironmentFile=%s\n' "$envf" >"$dropin/mock-env.conf"
systemctl daemon-reload

systemctl start "$unit" || { echo "mock_unit: systemctl start $unit failed" >"$out.err"; exit 125; }
inv=$(systemctl show -p InvocationID --value "$unit")
mainpid=$(systemctl show -p MainPID --value "$unit")
# Type=exec: MainPID is al-cgroup-leaf, which execs agentlaunch-agent, which
# execs agentlaunch: one pid.
printf '%s\n' "$mainpid" >"$pidf.tmp" && chmod 0644 "$pidf.tmp" && mv "$pidf.tmp" "$pidf"
# Until the main process has exited: a failed one leaves the unit "failed"
# or waiting to restart with its status kept; after a clean exit systemd
# may unload the instance at once (its ExecMain* reset): status 0.
status=
for _ in $(seq 2400); do # 240 s
	st=$(systemctl show -p ExecMainExitTimestampMonotonic,ExecMainStatus,ExecMainCode,ActiveState "$unit")
	if ! grep -q '^ExecMainExitTimestampMonotonic=0$' <<<"$st"; then
		status=$(sed -n 's/^ExecMainStatus=//p' <<<"$st")
		# ExecMainCode: 1 exited, 2 killed, 3 dumped
		grep -q '^ExecMainCode=1$' <<<"$st" || status=$((128 + status))
		break
	fi
	if grep -qE '^ActiveState=(inactive|failed)$' <<<"$st"; then
		status=0
		break
	fi
	sleep 0.1
done
systemctl stop "$unit"
[ -n "$status" ] || { echo "mock_unit: $unit still running after 240 s" >"$out.err"; status=124; }

# The journal has the agent's stdout and stderr (and the launcher's lines);
# wait until journald has stored what the unit wrote.
for _ in $(seq 30); do
	journalctl --sync 2>/dev/null
	journalctl -q -o cat --no-pager _SYSTEMD_INVOCATION_ID="$inv" >"$out"
	grep -qE '^[a-z]+_agent: [0-9]+ passed|^(PASS|FAIL|SKIP) ' "$out" && [ "$(wc -l <"$out")" = "${n:-}" ] && break
	n=$(wc -l <"$out")
	sleep 0.1
done
cp "$out" "$out.err"
cp "$log" "$auditcopy" 2>/dev/null || echo "mock_unit: no audit log $log" >>"$out.err"
cp "$log.key" "$auditcopy.key" 2>/dev/null || echo "mock_unit: no audit key $log.key" >>"$out.err"
exit "$status"
