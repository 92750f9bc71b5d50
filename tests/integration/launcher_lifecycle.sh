#!/bin/bash
# Lifecycle of agentlaunch (SPEC §2), as root: exit status and signal
# propagation, SIGINT/SIGTERM/SIGHUP forwarding, the launcher SIGKILLed
# (agent and gateway gone within 2 s, leftovers swept by the next start),
# a vanished or broken gateway, launcher exit codes 125/126/127, stdio,
# terminal and environment passed through, and nothing left behind.
. "$(dirname "$0")/launcher_common.sh"
need_root launcher_lifecycle
la_prereq
BEFORE=$TMPBASE/before
snapshot >"$BEFORE"
DEFSIG=(env --default-signal=INT,TERM,HUP)

# alive PID: running (a zombie counts as gone)
alive() {
	local st
	st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ]
}

# start_bg ARGS...: agentlaunch in the background (no timeout wrapper: $!
# is the launcher); sets LPID.  Waits until the agent runs; sets APID.
start_bg() {
	"${DEFSIG[@]}" "$LAUNCH" --audit "$AUDIT" --workdir "$WD" "$@" </dev/null >"$TMPBASE/bg.out" 2>&1 &
	LPID=$!
	BGPIDS+=("$LPID")
	APID=
	local i
	for i in $(seq 100); do
		APID=$(pgrep -f "^$H sleep" | head -1)
		[ -n "$APID" ] && break
		sleep 0.05
	done
}

# --- exit status --------------------------------------------------------------------
expect "exit status passed through (7)" 7 la -- /bin/sh -c 'exit 7'
expect "exit status 0" 0 la -- "$H" marker
expect "death by signal: 128+N (SIGSEGV: 139)" 139 la -- /bin/sh -c 'kill -SEGV $$'
expect "SIGSYS of the i386 ABI: 159" 159 la -- "$H" exec-i386

# --- launcher errors ------------------------------------------------------------------
expect_out "agent not found: 127 with a message" 'not found' la -- /nonexistent/agent
expect "agent not found: 127" 127 la -- /nonexistent/agent
expect "agent not on PATH: 127" 127 la -- no-such-agent-here
printf '#!/bin/sh\n' >"$TMPBASE/noexec"
chmod 0644 "$TMPBASE/noexec"
expect "agent not executable: 126" 126 la -- "$TMPBASE/noexec"
expect "agent is a directory: 126" 126 la -- /usr
expect_out "agent not executable: message says what to do" 'chmod \+x' la -- "$TMPBASE/noexec"
expect "bad --policy: 125" 125 la --policy "$TOP/tests/policies/bad_regex.json" -- "$H" marker
OUT=$(la --policy "$TOP/tests/policies/bad_regex.json" -- "$H" marker 2>&1 </dev/null)
if printf '%s' "$OUT" | grep -q 'agentgw failed to start' && printf '%s' "$OUT" | grep -q 'agentgw: policy refused'; then
	pass "bad --policy: agentgw's stderr is shown"
else
	fail "bad --policy: agentgw's stderr is shown" "$OUT"
fi
expect "missing --gateway-bin: 125" 125 la --gateway-bin /nonexistent/agentgw -- "$H" marker
printf '#!/bin/sh\nexec sleep 30\n' >"$TMPBASE/mutegw"
chmod 0755 "$TMPBASE/mutegw"
t0=$(now_ms)
OUT=$(la --gateway-bin "$TMPBASE/mutegw" -- "$H" marker 2>&1 </dev/null)
RC=$?
el=$(($(now_ms) - t0))
if [ "$RC" = 125 ] && printf '%s' "$OUT" | grep -q 'did not answer GET /healthz' && ! printf '%s' "$OUT" | grep -q '^OK'; then
	pass "a gateway that never answers /healthz: 125 after ${el} ms, the agent never ran"
else
	fail "mute gateway" "exit $RC after $el ms: $OUT"
fi
pgrep -f "$TMPBASE/mutegw" >/dev/null && fail "mute gateway stopped" "still running" || pass "mute gateway stopped"
expect "unknown --user: 125" 125 la --user no-such-user-xyz -- "$H" marker
expect "--net isolated with --skip-gateway to nowhere still runs the agent" 0 la --skip-gateway http://127.0.0.1:9 -- "$H" marker

# --- stdio, terminal, environment -------------------------------------------------------
OUT=$(echo "piped-in" | la -- /bin/cat 2>&1)
[ "$OUT" = "piped-in" ] && pass "stdin and stdout passed through" || fail "stdio" "$OUT"
OUT=$(la -- /bin/sh -c 'echo to-stderr >&2' 2>&1 >/dev/null)
[ "$OUT" = "to-stderr" ] && pass "stderr passed through" || fail "stderr" "$OUT"
OUT=$(AL_TEST_VAR=kept la -- "$H" env AL_TEST_VAR 2>&1 </dev/null)
[ "$OUT" = "OK AL_TEST_VAR=kept" ] && pass "environment passed through" || fail "environment" "$OUT"
if command -v script >/dev/null; then
	OUT=$(script -qec "$LAUNCH --audit $AUDIT --workdir $WD -- /usr/bin/tty" /dev/null 2>&1 | tr -d '\r')
	case "$OUT" in */dev/pts/*) pass "the terminal is kept ($OUT)" ;; *) fail "terminal kept" "$OUT" ;; esac
	expect_la "TIOCSTI denied on the kept terminal" BLOCKED:EPERM -- try-syscall tiocsti
fi

# --- signals forwarded ---------------------------------------------------------------------
for sig in TERM INT HUP; do
	start_bg -- "$H" sleep 30
	if [ -z "$APID" ]; then
		fail "SIG$sig forwarded" "the agent did not start: $(cat "$TMPBASE/bg.out")"
		continue
	fi
	t0=$(now_ms)
	kill -"$sig" "$LPID"
	wait "$LPID"
	rc=$?
	el=$(($(now_ms) - t0))
	want=$((128 + $(kill -l "$sig")))
	if [ "$rc" = "$want" ] && ! alive "$APID" && [ "$el" -lt 2000 ]; then
		pass "SIG$sig forwarded: the agent died of it, launcher exit $rc in ${el} ms"
	else
		fail "SIG$sig forwarded" "exit $rc (want $want) after $el ms, agent alive: $(alive "$APID" && echo yes || echo no): $(cat "$TMPBASE/bg.out")"
	fi
done

# an agent that handles SIGTERM gets it and exits on its own terms
start_bg -- /usr/bin/python3 -c 'import signal,sys,time; signal.signal(signal.SIGTERM, lambda *a: sys.exit(42)); print("ready", flush=True); time.sleep(30)'
for i in $(seq 100); do grep -q ready "$TMPBASE/bg.out" && break; sleep 0.05; done
kill -TERM "$LPID"
wait "$LPID"
rc=$?
[ "$rc" = 42 ] && pass "SIGTERM reaches the agent's own handler (exit 42)" || fail "SIGTERM handler" "exit $rc: $(cat "$TMPBASE/bg.out")"

# --- the launcher SIGKILLed --------------------------------------------------------------
start_bg -- "$H" sleep 60
GPID=$(pgrep -P "$LPID" -x agentgw)
IPID=$(awk '{print $4}' "/proc/$APID/stat" 2>/dev/null)
if [ -z "$APID" ] || [ -z "$GPID" ]; then
	fail "launcher SIGKILL" "could not find the agent ($APID) or the gateway ($GPID)"
else
	disown "$LPID" # no job-control noise: its status is not needed
	kill -KILL "$LPID"
	t0=$(now_ms)
	while [ $(($(now_ms) - t0)) -lt 3000 ]; do
		alive "$APID" || alive "$GPID" || alive "$IPID" || break
		sleep 0.02
	done
	el=$(($(now_ms) - t0))
	if ! alive "$APID" && ! alive "$GPID" && ! alive "$IPID" && [ "$el" -le 2000 ]; then
		pass "launcher SIGKILLed: agent, its init and the gateway gone in ${el} ms"
	else
		fail "launcher SIGKILLed" "after $el ms: agent $(alive "$APID" && echo alive), init $(alive "$IPID" && echo alive), gateway $(alive "$GPID" && echo alive)"
	fi
	if [ -d "/run/agentlaunch/launch/$LPID" ]; then
		pass "what a SIGKILLed launcher leaves: its state directory"
		OUT=$(la -v -- "$H" marker 2>&1 </dev/null)
		if printf '%s' "$OUT" | grep -q "sweep: removed what dead launcher $LPID left" && [ ! -d "/run/agentlaunch/launch/$LPID" ]; then
			pass "the next start swept it"
		else
			fail "sweep" "$(printf '%s' "$OUT" | grep sweep) / $(ls /run/agentlaunch/launch)"
		fi
	else
		pass "nothing of the SIGKILLed launcher left (no state dir to sweep)"
	fi
fi

# --- the gateway vanishes ------------------------------------------------------------------
start_bg -- "$H" sleep 30
GPID=$(pgrep -P "$LPID" -x agentgw)
if [ -n "$GPID" ] && [ -n "$APID" ]; then
	kill -KILL "$GPID"
	t0=$(now_ms)
	wait "$LPID"
	rc=$?
	el=$(($(now_ms) - t0))
	if [ "$rc" = 125 ] && grep -q 'agentgw (pid [0-9]*) exited unexpectedly' "$TMPBASE/bg.out" && ! alive "$APID"; then
		pass "gateway killed: agent stopped, exit 125 with a message, in ${el} ms"
	else
		fail "gateway vanished" "exit $rc, agent $(alive "$APID" && echo alive): $(cat "$TMPBASE/bg.out")"
	fi
else
	fail "gateway vanished" "no gateway/agent found"
fi

# --- agent_start / agent_exit --------------------------------------------------------------
LA2=$TMPBASE/lc-skip.jsonl
timeout 30 "$LAUNCH" --skip-gateway http://127.0.0.1:9 --audit "$LA2" --workdir "$WD" --identity lc-test -- /bin/sh -c 'exit 3' </dev/null >/dev/null 2>&1
if $PY - "$LA2" <<'PY'; then
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
s = [r for r in recs if r["event"] == "agent_start"][0]
e = [r for r in recs if r["event"] == "agent_exit"][0]
assert s["identity"] == "lc-test" and s["argv"] == ["/bin/sh", "-c", "exit 3"], s
L = s["layers"]
assert L["net"] == "isolated" and "veth" in L and "pid" in L["namespaces"] and L["seccomp"] == "agent-lock", L
assert e["exit_code"] == 3 and e["signal"] is None, e
PY
	pass "agent_start (argv, identity, isolation layers) and agent_exit (status) recorded"
else
	fail "agent_start/agent_exit" "$(cat "$LA2" 2>&1 | tail -c 600)"
fi

# ... and through the agentgw the launcher starts: its audit log has them
LA3=$TMPBASE/lc-gw.jsonl
timeout 30 "$LAUNCH" --audit "$LA3" --workdir "$WD" --identity lc-gw -- /bin/sh -c 'exit 5' </dev/null >/dev/null 2>&1
rc=$?
timeout 30 "$LAUNCH" --audit "$LA3" --workdir "$WD" --identity lc-gw -- /bin/sh -c 'kill -TERM $$' </dev/null >/dev/null 2>&1
rc2=$?
if [ "$rc $rc2" = "5 143" ] && $PY - "$LA3" <<'PY'; then
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
ev = [r["event"] for r in recs]
# per launch: session_start, agent_start, agent_exit, session_end (in that order)
assert ev == ["session_start", "agent_start", "agent_exit", "session_end"] * 2, ev
s, e, e2 = recs[1], recs[2], recs[6]
for r in (s, e, e2):
    assert r["source"] == "agentlaunch" and r["identity"] == "lc-gw" and r["identity_verified"] is True, r
    assert r["launch_id"] == s["launch_id"] or r is e2, r
assert s["argv"] == ["/bin/sh", "-c", "exit 5"] and s["path"].endswith("sh"), s
assert isinstance(s["pid"], int) and isinstance(s["launcher_pid"], int), s
L = s["layers"]
assert L["net"] == "isolated" and "veth" in L and "net" in L["namespaces"] and "pid" in L["namespaces"], L
assert L["seccomp"] == "agent-lock" and L["exec_lock"] is True and L["no_new_privs"] is True, L
assert "warning" not in s and "rejected_fields" not in s, s
assert e["exit_code"] == 5 and e["signal"] is None and e["reason"] and e["duration_ms"] >= 0, e
assert e2["exit_code"] == 143 and e2["signal"] == 15, e2
PY
	pass "agentgw's log: agent_start (argv, layers) and agent_exit (exit 5; SIGTERM 143/15), launcher identity verified"
else
	fail "agent_start/agent_exit in agentgw's log" "exit $rc/$rc2: $(cat "$LA3" 2>&1 | tail -c 800)"
fi
expect_out "agentgw's log with launch events verifies" 'OK, [0-9]+ records' "$AGENTGW" --verify-audit "$LA3"

leftovers_check lifecycle "$BEFORE"
