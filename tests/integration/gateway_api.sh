#!/bin/bash
# agentgw as a client sees it (SPEC §3, §4, §6): every endpoint, every row of
# the error table, first-match order, identities, path tricks, shell
# operators and quoting, clamping, audit mode, rate limiting, tokens, TLS,
# the audit chain, audit write failure, SIGHUP, slow clients, shutdown, and
# the privilege separation of the front end.
#
# Real gateways with the real agentrun, on 127.0.0.1 (port 0: the gateway
# logs the port it got) and unix sockets under $TMPBASE; policies written
# here with their workspaces under $TMPBASE.
. "$(dirname "$0")/../lib.sh"
need_root gateway_api
# AL_AGENTGW / AL_AGENTRUN override the binaries (default build/bin)
GW=${AL_AGENTGW:-$BIN/agentgw}
AGENTRUN=${AL_AGENTRUN:-$AGENTRUN}
PY=/usr/bin/python3
T=$TMPBASE
GW_PIDS=()
MOUNTS=()
cleanup() {
	local p m
	for p in "${GW_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${GW_PIDS[@]}"; do
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null
	done
	for m in "${MOUNTS[@]}"; do umount "$m" 2>/dev/null; done
	rm -rf "$TMPBASE"
}
trap cleanup EXIT
for b in "$GW" "$AGENTRUN"; do
	if [ ! -x "$b" ]; then
		fail gateway-built "$b is missing: run make"
		exit 0
	fi
done

# ---- helpers -----------------------------------------------------------------

# jv JSON PATH: a field (dotted path, list indexes allowed), JSON-encoded
# unless it is a string.
jv() {
	$PY -c 'import json,sys
d=json.loads(sys.argv[1])
for k in [k for k in sys.argv[2].split(".") if k]:
    d = d[int(k)] if isinstance(d, list) else (d.get(k) if isinstance(d, dict) else None)
print(d if isinstance(d, str) else json.dumps(d))' "$1" "$2" 2>/dev/null
}

# policy FILE [PYTHON...]: the shipped default policy with workspaces under
# $T/ws, plus rules for the tests; extra python statements edit `p`.
policy() {
	local out=$1
	shift
	$PY - "$TOP/policy/default.json" "$out" "$T/ws/{identity}" "$@" <<'EOF'
import json, sys
src, out, ws = sys.argv[1:4]
p = json.load(open(src))
for pr in p["profiles"].values():
    pr["fs"]["workspace"] = ws
shell = json.loads(json.dumps(p["profiles"]["command_default"]))
shell["shell"] = True
p["profiles"]["shell_prof"] = shell
p["rate_limit"] = {"max_commands": 100000, "window_seconds": 60}
p["rules"] = [
    {"id": "deny_echo_secret", "match": {"kind": "command", "executable": "^echo$",
     "args_pattern": "^secret$"}, "effect": "deny", "reason": "no secrets"},
    {"id": "dev_only_id", "match": {"kind": "command", "executable": "^id$",
     "identity": "^dev-"}, "effect": "allow", "profile": "command_default"},
    {"id": "shell_lines", "match": {"kind": "command", "executable": "^sh$",
     "identity": "^shell-"}, "effect": "allow", "profile": "shell_prof"},
    {"id": "sleep_ok", "match": {"kind": "command", "executable": "^sleep$"},
     "effect": "allow", "profile": "command_default"},
] + p["rules"]
for stmt in sys.argv[4:]:
    exec(stmt)
json.dump(p, open(out, "w"), indent=1)
EOF
}

# start NAME ARGS...: start a gateway; sets URL, GWPID, LOG, AUDIT, SOCK.
start() {
	local name=$1
	shift
	mkdir -p "$T/$name"
	LOG=$T/$name/log
	AUDIT=${AUDIT_OVERRIDE:-$T/$name/audit.jsonl}
	SOCK=$T/$name/gw.sock
	"$GW" --listen 127.0.0.1:0 --listen "unix:$SOCK" --audit "$AUDIT" --runner "$AGENTRUN" \
		"$@" >"$LOG" 2>&1 &
	GWPID=$!
	GW_PIDS+=("$GWPID")
	URL=
	for _ in $(seq 100); do
		if grep -q 'agentgw: ready' "$LOG"; then
			URL=$(grep -oE 'https?://127\.0\.0\.1:[0-9]+' "$LOG" | head -1)
			break
		fi
		kill -0 "$GWPID" 2>/dev/null || break
		sleep 0.05
	done
	[ -n "$URL" ] || echo "gateway $name did not start: $(tail -5 "$LOG")" >&2
}

stop() {
	kill -TERM "$1" 2>/dev/null
	for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.05; done
	kill -KILL "$1" 2>/dev/null
	return 1
}

# call METHOD PATH [BODY [CURL-ARGS...]]: sets ST and BODY.
CURL_EXTRA=()
call() {
	local m=$1 p=$2 b=${3-}
	shift 2
	[ $# -gt 0 ] && shift
	local a=(-s -m 30 -o "$T/resp" -w '%{http_code}' -X "$m" "${CURL_EXTRA[@]}" "$@")
	[ -n "$b" ] && a+=(-H 'Content-Type: application/json' --data-binary "$b")
	ST=$(curl "${a[@]}" "$URL$p")
	BODY=$(cat "$T/resp" 2>/dev/null)
}

# want NAME STATUS [ERROR-CODE]: check the last call.
want() {
	local name=$1 st=$2 code=${3-}
	local got
	got=$(jv "$BODY" error.code)
	if [ "$ST" != "$st" ]; then
		fail "$name" "HTTP $ST, want $st: $(printf '%s' "$BODY" | head -c 300)"
	elif [ -n "$code" ] && [ "$got" != "$code" ]; then
		fail "$name" "error code '$got', want '$code': $(printf '%s' "$BODY" | head -c 300)"
	else
		pass "$name"
	fi
}

# is NAME GOT WANT
is() {
	if [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "got '$2', want '$3'"; fi
}

records() { grep -c "\"event\":\"$2\"" "$1"; }

P1=$T/p1.json
policy "$P1"
mkdir -p "$T/ws"

# ---- --check-policy and start-up ----------------------------------------------

out=$("$GW" --check-policy --policy "$P1" 2>/dev/null)
is check-policy-sha256 "$out" "$(sha256sum "$P1" | cut -d' ' -f1)"
policy "$T/bad.json" 'p["profiles"]["command_default"]["limits"]["mem_max_mbb"] = 1'
expect check-policy-bad-exit 1 "$GW" --check-policy --policy "$T/bad.json"
expect_out check-policy-names-field 'mem_max_mbb' "$GW" --check-policy --policy "$T/bad.json"
expect start-bad-policy-refused 1 "$GW" --listen 127.0.0.1:0 --policy "$T/bad.json" \
	--audit "$T/never.jsonl" --runner "$AGENTRUN"

start main --policy "$P1" --privsep-selftest
if [ -z "$URL" ]; then
	fail gateway-start "$(tail -20 "$LOG")"
	exit 0
fi
pass gateway-start
MAIN_URL=$URL MAIN_PID=$GWPID MAIN_AUDIT=$AUDIT MAIN_LOG=$LOG MAIN_SOCK=$SOCK

# ---- privilege separation -----------------------------------------------------

FRONT=$(pgrep -P "$MAIN_PID" | head -1)
st=/proc/$FRONT/status
is privsep-front-uid "$(awk '/^Uid:/{print $2 $3 $4 $5}' "$st")" 65534655346553465534
is privsep-front-groups "$(awk '/^Groups:/{print $2}' "$st")" ""
is privsep-front-capeff "$(awk '/^CapEff:/{print $2}' "$st")" 0000000000000000
is privsep-front-capbnd "$(awk '/^CapBnd:/{print $2}' "$st")" 0000000000000000
is privsep-front-nnp "$(awk '/^NoNewPrivs:/{print $2}' "$st")" 1
is privsep-front-seccomp "$(awk '/^Seccomp:/{print $2}' "$st")" 2
is privsep-monitor-root "$(awk '/^Uid:/{print $2}' /proc/"$MAIN_PID"/status)" 0
selftest() { # NAME ATTEMPT ERRNO
	if grep -qF "privsep-selftest: $2: $3" "$MAIN_LOG"; then pass "$1"; else
		fail "$1" "$(grep -F "privsep-selftest: $2" "$MAIN_LOG" || echo 'no selftest line')"
	fi
}
selftest privsep-no-exec 'execve(/bin/true)' EPERM
selftest privsep-no-fork 'fork()' EPERM
selftest privsep-no-userns 'unshare(CLONE_NEWUSER)' EPERM
selftest privsep-no-netns 'unshare(CLONE_NEWNET)' EPERM
selftest privsep-no-setns 'setns(0, CLONE_NEWNET)' EPERM
selftest privsep-no-mount 'mount(tmpfs, /tmp)' EPERM
selftest privsep-no-ptrace 'ptrace(PTRACE_TRACEME)' EPERM
selftest privsep-no-socket 'socket(AF_INET)' EPERM
selftest privsep-no-host-file 'open(/etc/passwd)' EACCES
selftest privsep-no-policy-file "open(policy $P1)" EACCES
selftest privsep-no-dir 'open(/)' EACCES
selftest privsep-no-create 'create(/tmp/agentgw-selftest)' EACCES
selftest privsep-no-signal-monitor "kill(monitor $MAIN_PID, 0)" EPERM
selftest privsep-no-root 'setuid(0)' EPERM
# the same attempts, made by an unconfined root process, succeed: the
# checks above can fail
if $PY -c 'import os; open("/etc/passwd").read(); os.open("/", os.O_RDONLY); os.kill(1, 0)' &&
	unshare -U -n true; then pass privsep-bare-attempts-succeed; else
	fail privsep-bare-attempts-succeed "an unconfined root process could not do them"
fi
ls -l /proc/"$FRONT"/fd 2>/dev/null | grep -q 'audit' &&
	fail privsep-front-no-audit-fd "the front end holds the audit log" || pass privsep-front-no-audit-fd

# ---- endpoints ------------------------------------------------------------------

call GET /healthz
want healthz 200
is healthz-fields "$(jv "$BODY" status) $(jv "$BODY" policy_sha256) $(jv "$BODY" active_runs)" \
	"ok $(sha256sum "$P1" | cut -d' ' -f1) 0"
[ -n "$(jv "$BODY" version)" ] && [ "$(jv "$BODY" uptime_s)" -ge 0 ] && pass healthz-version-uptime ||
	fail healthz-version-uptime "$BODY"
is healthz-launcher-events "$(jv "$BODY" launcher_events)" '["sandbox_violation", "agent_start", "agent_exit"]'
# HTTP/1.0 and "Connection: close": the JSON, "Connection: close", then EOF
for how in http10 conn-close; do
	a=(--http1.0)
	[ $how = conn-close ] && a=(-H 'Connection: close')
	ST=$(curl -s -m 5 -D "$T/hdr" -o "$T/resp" -w '%{http_code}' "${a[@]}" "$URL/healthz")
	BODY=$(cat "$T/resp")
	is "healthz-$how" "$ST $(jv "$BODY" status)" "200 ok"
	grep -qi '^Connection: close' "$T/hdr" && grep -qi '^Content-Length: [1-9]' "$T/hdr" &&
		! grep -qi 'keep-alive' "$T/hdr" && pass "healthz-$how-headers" ||
		fail "healthz-$how-headers" "$(tr -d '\r' <"$T/hdr")"
done
# raw clients that read to EOF (HTTP/1.0, and one that half-closes), over TCP and the unix socket
for tgt in tcp unix; do
	out=$($PY - "$tgt" "${URL#http://}" "$SOCK" <<'EOF'
import socket, sys
tgt, hp, sock = sys.argv[1:4]
for req in (b"GET /healthz HTTP/1.0\r\n\r\n", b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"):
    for half in (False, True):
        if tgt == "tcp":
            h, p = hp.rsplit(":", 1); s = socket.create_connection((h, int(p)), timeout=5)
        else:
            s = socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(sock)
        s.sendall(req)
        if half:
            s.shutdown(socket.SHUT_WR)
        d = b""
        while True:
            x = s.recv(65536)
            if not x:
                break
            d += x
        head, _, body = d.partition(b"\r\n\r\n")
        ok = head.startswith(b"HTTP/1.") and b" 200 " in head.split(b"\r\n")[0] and b'"status":"ok"' in body
        print("ok" if ok else "bad %r" % d[:200])
EOF
	)
	is "healthz-read-to-eof-$tgt" "$(printf '%s' "$out" | sort -u)" ok
done
# keep-alive still works (HTTP/1.1, and HTTP/1.0 asking for it): one connection
n=$(curl -s -m 5 -o /dev/null -o /dev/null -w '%{num_connects}\n' "$URL/healthz" "$URL/healthz" | paste -sd' ')
is healthz-keepalive-11 "$n" "1 0"
n=$(curl -s -m 5 --http1.0 -H 'Connection: keep-alive' -o /dev/null -o /dev/null -w '%{num_connects}\n' \
	"$URL/healthz" "$URL/healthz" | paste -sd' ')
is healthz-keepalive-10 "$n" "1 0"

call POST /v1/exec '{"command":"echo hello world","identity":"dev-1"}'
want exec-200 200
is exec-stdout "$(jv "$BODY" stdout)" "hello world"
is exec-decision "$(jv "$BODY" allowed_by_policy) $(jv "$BODY" audit_mode) $(jv "$BODY" matched_rule)" \
	"true false read_only_tools"
for k in run_id reason profile exit_code signal stderr wall_time_ms cpu_time_ms peak_mem_mb timed_out \
	oom_killed truncated_stdout truncated_stderr; do
	$PY -c 'import json,sys; sys.exit(0 if sys.argv[2] in json.loads(sys.argv[1]) else 1)' "$BODY" "$k" ||
		fail "exec-field-$k" "missing in $BODY"
done
pass exec-fields
EXEC_RUN=$(jv "$BODY" run_id)

call POST /v1/exec '{"argv":["sh","-c","exit 3"],"identity":"dev-1"}'
want exec-argv-sh-denied 403 policy_denied
call POST /v1/exec '{"argv":["ls","/nonexistent-dir"]}'
want exec-failing-command-is-200 200
[ "$(jv "$BODY" exit_code)" != 0 ] && pass exec-exit-code || fail exec-exit-code "$BODY"

CODE='print(2+2)'
call POST /v1/run "{\"code\":\"$CODE\",\"language\":\"python\"}"
want run-200 200
is run-stdout "$(jv "$BODY" stdout)" 4
is run-code-sha256 "$(jv "$BODY" code_sha256)" "$(printf '%s' "$CODE" | sha256sum | cut -d' ' -f1)"
RUN_RUN=$(jv "$BODY" run_id)

n0=$(wc -l <"$MAIN_AUDIT")
call POST /v1/plan '{"command":"ls -la","timeout_sec":9999,"mem_max_mb":64}'
want plan-200 200
is plan-decision "$(jv "$BODY" decision) $(jv "$BODY" matched_rule) $(jv "$BODY" profile) $(jv "$BODY" network)" \
	"allow read_only_tools command_default none"
is plan-limits-clamped "$(jv "$BODY" limits.timeout_sec) $(jv "$BODY" limits.mem_max_mb)" "60 64"
is plan-policy-sha "$(jv "$BODY" policy_sha256)" "$(sha256sum "$P1" | cut -d' ' -f1)"
is plan-mount-workspace "$(jv "$BODY" mounts.0.source) $(jv "$BODY" mounts.0.target) $(jv "$BODY" mounts.0.mode)" \
	"$T/ws/anonymous /work rw"
$PY -c 'import json,sys; m=json.loads(sys.argv[1])["mounts"]; sys.exit(0 if {"source":"/usr","target":"/usr","mode":"ro"} in m else 1)' "$BODY" &&
	pass plan-mount-ro || fail plan-mount-ro "$BODY"
is plan-runs-nothing "$(wc -l <"$MAIN_AUDIT")" "$n0"
call POST /v1/plan '{"command":"rm -rf /"}'
is plan-deny "$ST $(jv "$BODY" decision) $(jv "$BODY" matched_rule)" "200 deny null"
call POST /v1/plan '{"code":"print(1)"}'
is plan-code "$(jv "$BODY" decision) $(jv "$BODY" matched_rule) $(jv "$BODY" profile)" \
	"allow python_code python_sandbox"

call GET "/v1/runs/$EXEC_RUN"
want runs-get 200
is runs-record "$(jv "$BODY" records.0.run_id) $(jv "$BODY" records.0.event)" "$EXEC_RUN exec"
grep -qF "$(jv "$BODY" records.0.mac)" "$MAIN_AUDIT" && pass runs-record-is-the-logged-one ||
	fail runs-record-is-the-logged-one "$BODY"
call GET "/v1/runs/$RUN_RUN"
is runs-get-code "$ST $(jv "$BODY" records.0.event)" "200 sandbox_exec"
call GET /v1/runs/r-0123456789abcdef
want runs-unknown-404 404 not_found
call GET /v1/runs/nonsense
want runs-malformed-404 404 not_found

call GET /v1/capabilities
want capabilities 200
is capabilities-fields "$(jv "$BODY" namespaces.pid) $(jv "$BODY" seccomp.filter) $(jv "$BODY" profiles.command_default.enforceable)" \
	"true true true"
[ -n "$(jv "$BODY" cgroup.version)" ] && [ "$(jv "$BODY" landlock.abi)" != null ] &&
	pass capabilities-cgroup-landlock || fail capabilities-cgroup-landlock "$BODY"

call GET /metrics
want metrics 200
for m in 'agentgw_requests_total{endpoint="/v1/exec",status="200"}' \
	'agentgw_decisions_total{rule="read_only_tools",decision="allow"}' \
	'agentgw_run_duration_seconds_bucket{le="+Inf"}' agentgw_active_runs agentgw_queue_length \
	agentgw_violations_total agentgw_audit_write_errors_total; do
	grep -qF "$m" "$T/resp" || fail "metrics-has-$m" "$(head -c 300 "$T/resp")"
done
pass metrics-series

out=$(curl -s --unix-socket "$MAIN_SOCK" -XPOST http://gw/v1/exec -d '{"command":"echo via unix"}')
is unix-socket-listener "$(jv "$out" stdout)" "via unix"

# ---- the error table --------------------------------------------------------------

call POST /v1/exec '{"command": "ls",'
want err-bad-json 400 bad_json
call POST /v1/exec '[1,2]'
want err-bad-json-not-object 400 bad_json
call POST /v1/exec '{"command":"ls","colour":"red"}'
want err-unknown-field 400 bad_field
case "$(jv "$BODY" error.message)" in *colour*) pass err-unknown-field-named ;; *) fail err-unknown-field-named "$BODY" ;; esac
call POST /v1/exec '{"command":"ls","timeout_sec":"10"}'
want err-wrong-type 400 bad_field
case "$(jv "$BODY" error.message)" in *timeout_sec*) pass err-wrong-type-named ;; *) fail err-wrong-type-named "$BODY" ;; esac
call POST /v1/exec '{"command":["ls"]}'
want err-command-not-string 400 bad_field
call POST /v1/exec '{"command":"ls","argv":["ls"]}'
want err-command-and-argv 400 bad_field
call POST /v1/exec '{"identity":"x"}'
want err-no-command 400 bad_field
call POST /v1/exec '{"command":"ls","env":{"A":1}}'
want err-env-type 400 bad_field
call POST /v1/exec '{"command":"ls","env":{"LD_PRELOAD":"/tmp/x.so"}}'
want err-env-denied 400 bad_field
call POST /v1/run '{"code":""}'
want err-empty-code 400 empty_code
call POST /v1/run '{"code":"print(1)","language":"ruby"}'
want err-language 400 bad_field
call POST /v1/exec '{"command":"ls; id"}'
want err-shell-syntax 400 shell_syntax
call POST /v1/exec '{"command":"rm -rf /tmp/x"}'
want err-policy-denied 403 policy_denied
is err-policy-denied-fields "$(jv "$BODY" allowed_by_policy) $(jv "$BODY" matched_rule) $([ -n "$(jv "$BODY" run_id)" ] && echo id)" \
	"false null id"
[ "$(jv "$BODY" reason)" != null ] && pass err-policy-denied-reason || fail err-policy-denied-reason "$BODY"
call GET /nowhere
want err-not-found 404 not_found
call GET /v1/exec
want err-method 405 method_not_allowed
call PUT /healthz
want err-method-put 405 method_not_allowed
head -c 1100000 /dev/zero | tr '\0' a >"$T/big"
call POST /v1/exec "" --data-binary @"$T/big"
want err-too-large 413 too_large
call POST /v1/exec "" -H 'Expect:' --data-binary @"$T/big"
want err-too-large-no-expect 413 too_large
call GET "/$(head -c 6000 /dev/zero | tr '\0' a)"
want err-uri-too-long 414 too_large
call GET /healthz "" -H "X-Pad: $(head -c 20000 /dev/zero | tr '\0' a)"
want err-headers-too-large 431 too_large
call POST /v1/exec '{"command":"ls"}' -H 'Origin: http://evil.example'
want err-browser-origin 403 forbidden
# 401 / 403 identity_mismatch / 429 / 503: below (tokens, rate limit, overload)

# ---- first match, identities, clamping -------------------------------------------

call POST /v1/exec '{"command":"echo secret"}'
is first-match-deny-before-allow "$ST $(jv "$BODY" matched_rule)" "403 deny_echo_secret"
call POST /v1/exec '{"command":"echo public"}'
is first-match-later-allow "$ST $(jv "$BODY" matched_rule)" "200 read_only_tools"
call POST /v1/exec '{"command":"id -u","identity":"dev-7"}'
is identity-rule-match "$ST $(jv "$BODY" matched_rule) $(jv "$BODY" stdout)" "200 dev_only_id 65534"
call POST /v1/exec '{"command":"id -u","identity":"ops-7"}'
is identity-rule-nomatch "$ST $(jv "$BODY" matched_rule)" "403 null"
call POST /v1/exec '{"command":"id","identity":"../etc"}'
want identity-invalid 400 bad_field
call POST /v1/exec '{"command":"sleep 0","timeout_sec":100000,"mem_max_mb":999999,"pids_max":5}'
r=$(jv "$BODY" run_id)
lim=$(grep "\"run_id\":\"$r\"" "$MAIN_AUDIT" | head -1)
is clamp-to-ceilings "$(jv "$lim" limits.timeout_sec) $(jv "$lim" limits.mem_max_mb) $(jv "$lim" limits.pids_max)" "60 512 5"
call POST /v1/exec '{"command":"sleep 5","timeout_sec":1}'
is clamp-lower-timeout-enforced "$ST $(jv "$BODY" timed_out)" "200 true"

# ---- the warm pool: after a profile's first run, runs start in sandboxes
# prepared before the request (spawn.h) -- each with the request's own limits
call POST /v1/run '{"code":"print(1)","language":"python"}'
sleep 1 # the pool fills
call GET /metrics
warm0=$(echo "$BODY" | sed -n 's/^agentgw_runs_started_total{sandbox="warm"} //p')
idle=$(echo "$BODY" | sed -n 's/^agentgw_warm_sandboxes //p')
[ "${idle:-0}" -ge 1 ] && pass "warm-pool-filled ($idle idle)" || fail warm-pool-filled "agentgw_warm_sandboxes ${idle:-missing}"
call POST /v1/run '{"code":"x = bytearray(200 << 20)\nprint(len(x))","language":"python","mem_max_mb":32}'
is warm-run-own-memory-limit "$ST $(jv "$BODY" oom_killed)" "200 true"
sleep 0.5
call POST /v1/run '{"code":"x = bytearray(200 << 20)\nprint(len(x))","language":"python"}'
is warm-run-limit-is-per-request "$ST $(jv "$BODY" oom_killed) $(jv "$BODY" stdout | tr -d '\n')" "200 false 209715200"
call POST /v1/run '{"code":"import os\nprint(os.getcwd(), sorted(os.listdir(\".\")))","language":"python","identity":"warm-b"}'
is warm-run-own-workspace "$ST $(jv "$BODY" stdout | tr -d '\n')" "200 /work []"
# a warm sandbox whose init dies while it waits is never handed a request
sleep 0.5
killed=0
for w in $(pgrep -P "$GWPID" -f -- '--spec-fd 3 --warm'); do
	for i in $(pgrep -P "$w"); do kill -KILL "$i" && killed=$((killed + 1)); done
done
sleep 0.5
call POST /v1/run '{"code":"print(5)","language":"python"}'
if [ "$killed" -gt 0 ] && [ "$ST $(jv "$BODY" stdout | tr -d '\n')" = "200 5" ] &&
	grep -q "warm runner .* ended before use.*ended before the run" "$LOG"; then
	pass "warm-dead-sandbox-not-used ($killed killed)"
else
	fail warm-dead-sandbox-not-used "killed $killed; $ST $BODY; log: $(grep 'warm runner' "$LOG" | tail -2)"
fi
call GET /metrics
warm1=$(echo "$BODY" | sed -n 's/^agentgw_runs_started_total{sandbox="warm"} //p')
[ "$((${warm1:-0} - ${warm0:-0}))" -ge 3 ] && pass warm-runs-counted ||
	fail warm-runs-counted "warm runs before ${warm0:-?}, after ${warm1:-?} (want 3 more)"

# ---- path tricks --------------------------------------------------------------------

mkdir -p "$T/x" "$T/ws/anonymous"
cp /bin/echo "$T/x/echo"
ln -s /usr/bin/ls "$T/x/ls"
call POST /v1/exec "{\"command\":\"$T/x/echo hi\"}"
is path-copied-binary-denied "$ST $(jv "$BODY" error.code)" "403 policy_denied"
call POST /v1/exec '{"command":"/usr/bin/echo named"}'
is path-named-in-ro-mount "$ST $(jv "$BODY" stdout)" "200 named"
call POST /v1/exec '{"command":"/usr/bin/../bin/echo dots"}'
is path-dotdot-resolved "$ST $(jv "$BODY" stdout)" "200 dots"
call POST /v1/exec '{"command":"./echo hi"}'
want path-relative-denied 403 policy_denied
call POST /v1/exec '{"command":"nosuchcommand-xyz"}'
want path-not-found-denied 403 policy_denied
call POST /v1/plan "{\"command\":\"$T/x/ls\"}"
is path-symlink-judged-by-target "$(jv "$BODY" path) $(jv "$BODY" decision)" "/usr/bin/ls allow"
call POST /v1/exec '{"argv":["/tmp/../usr/bin/rm","-rf","/"]}'
want path-rm-via-dots-denied 403 policy_denied

# ---- shell operators and quoting ------------------------------------------------------

for c in 'ls | wc' 'ls && id' 'ls || id' 'ls > /tmp/out' 'cat < /etc/passwd' 'echo $(id)' \
	'echo `id`' 'echo $HOME' 'echo ${PATH}' 'sleep 1 &' '(ls)' 'ls *'; do
	b=$($PY -c 'import json,sys; print(json.dumps({"command": sys.argv[1]}))' "$c")
	call POST /v1/exec "$b"
	want "shell-op: $c" 400 shell_syntax
done
call POST /v1/exec '{"command":"echo '"'"'a;b|c'"'"'"}'
is quote-single "$ST $(jv "$BODY" stdout)" "200 a;b|c"
call POST /v1/exec '{"command":"echo \"x  y\""}'
is quote-double "$ST $(jv "$BODY" stdout)" "200 x  y"
call POST /v1/exec '{"command":"echo a\\ b"}'
is quote-backslash "$ST $(jv "$BODY" stdout)" "200 a b"
call POST /v1/exec '{"command":"echo '"'"'$HOME'"'"'"}'
is quote-no-expansion "$ST $(jv "$BODY" stdout)" '200 $HOME'
call POST /v1/exec '{"argv":["echo","a;b $(x)"]}'
is argv-literal "$ST $(jv "$BODY" stdout)" '200 a;b $(x)'
call POST /v1/exec '{"command":"echo a | tr a b","identity":"shell-1"}'
is shell-profile-runs-sh "$ST $(jv "$BODY" matched_rule) $(jv "$BODY" stdout)" "200 shell_lines b"
call POST /v1/exec '{"command":"echo a | tr a b","identity":"dev-1"}'
want shell-profile-other-identity 400 shell_syntax

# ---- audit records ----------------------------------------------------------------------

is audit-session-start "$(head -1 "$MAIN_AUDIT" | grep -c '"event":"session_start"')" 1
rec=$(grep "\"run_id\":\"$EXEC_RUN\"" "$MAIN_AUDIT")
is audit-one-record-per-exec "$(printf '%s\n' "$rec" | grep -c .)" 1
for k in ts seq event identity identity_verified run_id policy_sha256 decision rule command limits result layers prev mac; do
	$PY -c 'import json,sys; sys.exit(0 if sys.argv[2] in json.loads(sys.argv[1]) else 1)' "$rec" "$k" ||
		fail "audit-field-$k" "$rec"
done
pass audit-record-fields
is audit-identity-unverified "$(jv "$rec" identity_verified) $(jv "$rec" event)" "false exec"
rec=$(grep "\"run_id\":\"$RUN_RUN\"" "$MAIN_AUDIT")
is audit-run-record "$(jv "$rec" event) $(jv "$rec" code_sha256)" \
	"sandbox_exec $(printf '%s' "$CODE" | sha256sum | cut -d' ' -f1)"
case "$(jv "$rec" layers)" in *seccomp*) pass audit-layers ;; *) fail audit-layers "$rec" ;; esac
# every /v1/exec and /v1/run answer that carried a run_id has exactly one record
dups=$(grep -o '"run_id":"r-[0-9a-f]*"' "$MAIN_AUDIT" | sort | uniq -d | wc -l)
is audit-no-duplicate-records "$dups" 0
expect audit-verify-ok 0 "$GW" --verify-audit "$MAIN_AUDIT"

# ---- slow clients ------------------------------------------------------------------------

stop "$MAIN_PID"
is shutdown-socket-removed "$(test -e "$MAIN_SOCK" && echo left || echo gone)" gone
is shutdown-session-end "$(tail -1 "$MAIN_AUDIT" | grep -c '"event":"session_end"')" 1
AUDIT_OVERRIDE=$MAIN_AUDIT start restart --policy "$P1" --read-timeout-ms 1500 --idle-timeout-ms 4000
call GET "/v1/runs/$EXEC_RUN"
is runs-after-restart-from-audit "$ST $(jv "$BODY" records.0.run_id)" "200 $EXEC_RUN"
expect audit-continues-after-restart 0 "$GW" --verify-audit "$MAIN_AUDIT"
out=$($PY - "${URL##*:}" <<'EOF'
import http.client, socket, sys, time
port = int(sys.argv[1])
slow = socket.create_connection(("127.0.0.1", port))
slow.sendall(b"POST /v1/exec HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"comm")
idle = socket.create_connection(("127.0.0.1", port))
t0 = time.time()
worst = 0
for i in range(5):
    t = time.time()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    c.request("GET", "/healthz"); r = c.getresponse(); r.read(); c.close()
    worst = max(worst, time.time() - t)
slow.settimeout(10); idle.settimeout(10)
slow.recv(10); t_slow = time.time() - t0
idle.recv(10); t_idle = time.time() - t0
print("%d %d %d" % (worst < 0.5, 1.0 < t_slow < 4, 1.0 < t_idle < 4))
EOF
)
is slow-client-others-answered "$(echo "$out" | cut -d' ' -f1)" 1
is slow-client-read-timeout "$(echo "$out" | cut -d' ' -f2)" 1
is idle-connect-read-timeout "$(echo "$out" | cut -d' ' -f3)" 1
out=$($PY - "${URL##*:}" <<'EOF'
import http.client, sys, time
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10)
c.request("GET", "/healthz"); c.getresponse().read()
time.sleep(2.5)   # longer than the read timeout, shorter than the idle timeout
c.request("GET", "/healthz"); r = c.getresponse(); r.read()
print(r.status)
EOF
)
is keepalive-idle-longer-than-read-timeout "$out" 200
stop "$GWPID"

# ---- SIGHUP ---------------------------------------------------------------------------------

cp "$P1" "$T/live.json"
start hup --policy "$T/live.json"
sha1=$(sha256sum "$T/live.json" | cut -d' ' -f1)
echo '{"version": "2.0", "rules": [' >"$T/live.json"
kill -HUP "$GWPID"
sleep 0.5
call GET /healthz
is sighup-bad-policy-keeps-old "$(jv "$BODY" policy_sha256)" "$sha1"
grep -q 'policy reload FAILED' "$LOG" && pass sighup-bad-policy-logged || fail sighup-bad-policy-logged "$(tail -3 "$LOG")"
call POST /v1/exec '{"command":"echo still"}'
is sighup-bad-policy-still-serving "$ST $(jv "$BODY" stdout)" "200 still"
policy "$T/live.json" 'p["rules"].insert(0, {"id": "no_echo", "match": {"executable": "^echo$"}, "effect": "deny"})'
kill -HUP "$GWPID"
sleep 0.5
call GET /healthz
is sighup-good-policy-loaded "$(jv "$BODY" policy_sha256)" "$(sha256sum "$T/live.json" | cut -d' ' -f1)"
call POST /v1/exec '{"command":"echo now"}'
is sighup-new-rules-apply "$ST $(jv "$BODY" matched_rule)" "403 no_echo"
call POST /v1/plan '{"command":"echo now"}'
is sighup-front-end-has-new-policy "$(jv "$BODY" matched_rule)" no_echo
stop "$GWPID"

# ---- shutdown: runs finish, then the gateway exits 0 -------------------------------------------

start term --policy "$P1" --grace-ms 4000
curl -s -m 20 -XPOST "$URL/v1/exec" -d '{"command":"sleep 1"}' -o "$T/term.out" &
cpid=$!
sleep 0.4
kill -TERM "$GWPID"
wait "$cpid"
wait "$GWPID"
rc=$?
is shutdown-run-finishes "$(jv "$(cat "$T/term.out")" exit_code)" 0
is shutdown-exit-0 "$rc" 0
is shutdown-audit-end "$(tail -1 "$AUDIT" | grep -c session_end)" 1
expect shutdown-audit-verifies 0 "$GW" --verify-audit "$AUDIT"

start grace --policy "$P1" --grace-ms 500
curl -s -m 20 -XPOST "$URL/v1/exec" -d '{"command":"sleep 30"}' -o "$T/grace.out" &
cpid=$!
sleep 0.4
t0=$(date +%s%N)
kill -TERM "$GWPID"
wait "$cpid"
wait "$GWPID"
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$ms" -lt 5000 ] && pass shutdown-grace-kills-runs || fail shutdown-grace-kills-runs "took $ms ms"
is shutdown-killed-run-answered "$(jv "$(cat "$T/grace.out")" error.code)" runner_error

# ---- audit mode -------------------------------------------------------------------------------------

policy "$T/audit-mode.json" 'p["mode"] = "audit"'
start auditmode --policy "$T/audit-mode.json"
call POST /v1/exec '{"command":"id -u","identity":"ops-1"}'
is audit-mode-runs-denied "$ST $(jv "$BODY" audit_mode) $(jv "$BODY" allowed_by_policy) $(jv "$BODY" stdout)" \
	"200 true false 65534"
call POST /v1/exec '{"command":"echo secret"}'
is audit-mode-names-rule "$ST $(jv "$BODY" matched_rule) $(jv "$BODY" audit_mode)" "200 deny_echo_secret true"
call POST /v1/exec '{"command":"echo fine"}'
is audit-mode-allowed-normal "$ST $(jv "$BODY" audit_mode) $(jv "$BODY" allowed_by_policy)" "200 false true"
stop "$GWPID"

# ---- rate limiting -------------------------------------------------------------------------------------

policy "$T/rl.json" 'p["rate_limit"] = {"max_commands": 3, "window_seconds": 60}'
start rl --policy "$T/rl.json"
for i in 1 2 3; do call POST /v1/exec '{"command":"rm x","identity":"rl-a"}'; done
is rate-under-limit "$ST" 403
call POST /v1/exec '{"command":"echo x","identity":"rl-a"}' -D "$T/hdr"
want rate-limited 429 rate_limited
ra=$(grep -i '^Retry-After:' "$T/hdr" | tr -dc 0-9)
[ -n "$ra" ] && [ "$ra" -ge 1 ] && [ "$ra" -le 60 ] && pass rate-retry-after || fail rate-retry-after "'$ra'"
call POST /v1/exec '{"command":"echo x","identity":"rl-b"}'
is rate-per-identity "$ST" 200
is rate-one-audit-record "$(records "$AUDIT" rate_limited)" 1
stop "$GWPID"

# ---- overload and unenforceable ---------------------------------------------------------------------------

start busy --policy "$P1" --max-concurrency 1 --queue 0
curl -s -m 20 -XPOST "$URL/v1/exec" -d '{"command":"sleep 2"}' -o /dev/null &
cpid=$!
sleep 0.5
call POST /v1/exec '{"command":"sleep 0"}'
want overloaded 503 overloaded
wait "$cpid"
call POST /v1/exec '{"command":"sleep 0"}'
is overload-recovers "$ST" 200
stop "$GWPID"

start unenf --policy "$P1" --pretend-missing cgroup.cpu
call POST /v1/exec '{"command":"echo x"}'
want unenforceable 503 unenforceable
call GET /v1/capabilities
is unenforceable-in-capabilities "$(jv "$BODY" profiles.command_default.enforceable)" false
call POST /v1/plan '{"command":"echo x"}'
is unenforceable-in-plan "$(jv "$BODY" enforceable)" false
stop "$GWPID"

# ---- tokens ------------------------------------------------------------------------------------------------

TOKEN=tok-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf '{"tokens":[{"identity":"agent-1","sha256":"%s"}]}\n' "$(printf '%s' "$TOKEN" | sha256sum | cut -d' ' -f1)" >"$T/tokens.json"
start tokens --policy "$P1" --tokens "$T/tokens.json"
call POST /v1/exec '{"command":"echo x"}'
want token-missing 401 unauthorized
call POST /v1/exec '{"command":"echo x"}' -H 'Authorization: Bearer wrong-token'
want token-unknown 401 unauthorized
call GET /metrics
want token-required-metrics 401 unauthorized
call POST /v1/exec '{"command":"echo x","identity":"agent-2"}' -H "Authorization: Bearer $TOKEN"
want token-identity-mismatch 403 identity_mismatch
call POST /v1/exec '{"command":"echo ok"}' -H "Authorization: Bearer $TOKEN"
is token-ok "$ST $(jv "$BODY" stdout)" "200 ok"
r=$(jv "$BODY" run_id)
rec=$(grep "\"run_id\":\"$r\"" "$AUDIT")
is token-identity-verified "$(jv "$rec" identity) $(jv "$rec" identity_verified) $(jv "$rec" token_id)" \
	"agent-1 true $(printf '%s' "$TOKEN" | sha256sum | cut -c1-8)"
grep -qF "$TOKEN" "$AUDIT" && fail token-not-in-audit "the token is in the log" || pass token-not-in-audit
call GET "/v1/runs/$r" "" -H "Authorization: Bearer $TOKEN"
is token-runs-own "$ST" 200
stop "$GWPID"
TOK2=fd-token-$$
start tokenfd --policy "$P1" --token-fd 7 7< <(printf 'agent-9 %s\n' "$(printf '%s' "$TOK2" | sha256sum | cut -d' ' -f1)")
call POST /v1/exec '{"command":"echo fd"}' -H "Authorization: Bearer $TOK2"
is token-fd "$ST $(jv "$BODY" stdout)" "200 fd"
call POST /v1/exec '{"command":"echo fd"}'
want token-fd-required 401 unauthorized
stop "$GWPID"

# ---- TLS -------------------------------------------------------------------------------------------------

openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/ca.key" -out "$T/ca.pem" -days 2 \
	-subj /CN=test-ca >/dev/null 2>&1
openssl req -newkey rsa:2048 -nodes -keyout "$T/srv.key" -out "$T/srv.csr" -subj /CN=127.0.0.1 >/dev/null 2>&1
printf 'subjectAltName=IP:127.0.0.1\n' >"$T/san.ext"
openssl x509 -req -in "$T/srv.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial -out "$T/srv.pem" \
	-days 2 -extfile "$T/san.ext" >/dev/null 2>&1
openssl req -newkey rsa:2048 -nodes -keyout "$T/cli.key" -out "$T/cli.csr" -subj /CN=client >/dev/null 2>&1
openssl x509 -req -in "$T/cli.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial -out "$T/cli.pem" \
	-days 2 >/dev/null 2>&1
start tls --policy "$P1" --tls-cert "$T/srv.pem" --tls-key "$T/srv.key"
case "$URL" in https://*) pass tls-listener ;; *) fail tls-listener "$URL" ;; esac
CURL_EXTRA=(--cacert "$T/ca.pem")
call POST /v1/exec '{"command":"echo over tls"}'
is tls-request "$ST $(jv "$BODY" stdout)" "200 over tls"
CURL_EXTRA=()
code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' "${URL/https:/http:}/healthz")
is tls-plain-http-refused "$code" 000
stop "$GWPID"
start mtls --policy "$P1" --tls-cert "$T/srv.pem" --tls-key "$T/srv.key" --tls-client-ca "$T/ca.pem"
CURL_EXTRA=(--cacert "$T/ca.pem")
call GET /healthz
is mtls-no-client-cert-refused "$ST" 000
CURL_EXTRA=(--cacert "$T/ca.pem" --cert "$T/cli.pem" --key "$T/cli.key")
call GET /healthz
is mtls-client-cert "$ST" 200
CURL_EXTRA=()
stop "$GWPID"

# ---- the audit chain: tampering is detected ------------------------------------------------------------------

A=$T/chain.jsonl
AUDIT_OVERRIDE=$A start chain --policy "$P1" --audit-key "$T/chain.key"
for i in 1 2 3 4; do call POST /v1/exec "{\"command\":\"echo $i\"}"; done
stop "$GWPID"
expect chain-verifies 0 "$GW" --verify-audit "$A" --audit-key "$T/chain.key"
cp "$A" "$T/flip.jsonl"
$PY - "$T/flip.jsonl" <<'EOF'
import sys
p = sys.argv[1]; lines = open(p, "rb").read().split(b"\n")
l = bytearray(lines[2]); i = l.index(b'"identity":"') + 12; l[i] ^= 1; lines[2] = bytes(l)
open(p, "wb").write(b"\n".join(lines))
EOF
expect chain-byte-flip-detected 1 "$GW" --verify-audit "$T/flip.jsonl" --audit-key "$T/chain.key"
expect_out chain-byte-flip-line 'line 3' "$GW" --verify-audit "$T/flip.jsonl" --audit-key "$T/chain.key"
sed '3d' "$A" >"$T/del.jsonl"
expect chain-deleted-line-detected 1 "$GW" --verify-audit "$T/del.jsonl" --audit-key "$T/chain.key"
expect_out chain-deleted-line-where 'line 3' "$GW" --verify-audit "$T/del.jsonl" --audit-key "$T/chain.key"
$PY - "$A" "$T/swap.jsonl" <<'EOF'
import sys
l = open(sys.argv[1]).read().splitlines(True); l[2], l[3] = l[3], l[2]
open(sys.argv[2], "w").write("".join(l))
EOF
expect chain-swapped-lines-detected 1 "$GW" --verify-audit "$T/swap.jsonl" --audit-key "$T/chain.key"

# ---- audit write failure: 503, nothing runs, recovers ----------------------------------------------------------

mkdir -p "$T/afs"
if mount -t tmpfs -o size=128k tmpfs "$T/afs"; then
	MOUNTS+=("$T/afs")
	AUDIT_OVERRIDE=$T/afs/audit.jsonl start afull --policy "$P1" --audit-key "$T/afull.key"
	call POST /v1/exec '{"command":"echo before"}'
	is audit-full-before "$ST" 200
	dd if=/dev/zero of="$T/afs/fill" bs=4k count=64 2>/dev/null
	got503=0
	for i in $(seq 12); do # the last page of the log may still take a few records
		call POST /v1/exec "{\"command\":\"echo $i\"}"
		if [ "$ST" = 503 ]; then got503=1 && break; fi
	done
	is audit-full-503 "$got503 $(jv "$BODY" error.code)" "1 audit_unavailable"
	n_before=$(grep -c . "$T/afs/audit.jsonl")
	call POST /v1/exec '{"command":"rm /nothing"}'
	is audit-full-refuses-everything "$ST" 503
	call GET /healthz
	is audit-full-health "$(jv "$BODY" status) $(jv "$BODY" audit_ok)" "degraded false"
	rm -f "$T/afs/fill"
	call POST /v1/exec '{"command":"echo after"}'
	is audit-recovers "$ST $(jv "$BODY" stdout)" "200 after"
	is audit-recovery-recorded "$(grep -c '"event":"audit_resumed"' "$T/afs/audit.jsonl")" 1
	stop "$GWPID"
	expect audit-full-chain-intact 0 "$GW" --verify-audit "$T/afs/audit.jsonl" --audit-key "$T/afull.key"
	[ "$n_before" -ge 2 ] || true
else
	fail audit-full "cannot mount a tmpfs"
fi

# ---- violations hand-over (--violation-fd) -----------------------------------------------------------------------

mkfifo "$T/viol.fifo"
start viol --policy "$P1" --violation-fd 8 8<>"$T/viol.fifo"
printf '%s\n' '{"pid":4242,"syscall":"execve","path":"/bin/sh","argv":["sh","-c","id"],"identity":"agent-1","token":"x"}' >"$T/viol.fifo"
sleep 0.5
rec=$(grep '"event":"sandbox_violation"' "$AUDIT")
is violation-recorded "$(jv "$rec" pid) $(jv "$rec" syscall) $(jv "$rec" path) $(jv "$rec" argv.2)" "4242 execve /bin/sh id"
is violation-no-extra-fields "$(jv "$rec" token)" null
call GET /metrics
grep -q '^agentgw_violations_total 1' "$T/resp" && pass violation-metric || fail violation-metric "$(grep violations "$T/resp")"
stop "$GWPID"

# ---- launcher events (--violation-fd): dispatch, hostile lines, drain on SIGTERM ----------------------------------
# As agentlaunch runs it: --token-fd registers the agent's identity, the
# launcher holds the only write end of the pipe and closes it before SIGTERM.

LTOK=$(printf 'tok-la' | sha256sum | cut -c1-64)
LE=$T/le.py
cat >"$LE" <<'EOF'
import json, sys
big = "A" * 70000
def w(o): sys.stdout.write((o if isinstance(o, str) else json.dumps(o)) + "\n")
w({"event": "sandbox_violation", "pid": 77, "syscall": "execve", "path": "/bin/sh",
   "argv": ["sh", "-c", "id"], "repeats": 300, "launch_id": "00112233aabbccdd",
   "identity": "la-agent", "token": "SECRET", "mac": "forged", "seq": 1})
w({"event": "agent_start", "argv": ["/usr/bin/agent", "--x"], "path": "/usr/bin/agent",
   "pid": 1234, "launcher_pid": 1233, "launch_id": "00112233aabbccdd", "identity": "la-agent",
   "warning": "--net host: the agent has no network isolation",
   "layers": {"net": "host", "namespaces": ["mount", "pid", "ipc"], "seccomp": "agent-lock",
              "exec_lock": True, "no_new_privs": True, "uid": 65534, "landlock_abi": 3,
              "evil": {"deep": [1, 2]}, "gid": "zero"}})
w({"event": "agent_exit", "exit_code": 3, "signal": None, "duration_ms": 42, "violations": 301,
   "reason": "exited", "launch_id": "00112233aabbccdd", "identity": "la-agent"})
w({"event": "agent_exit", "exit_code": "3", "signal": "KILL", "duration_ms": -5,
   "launch_id": "../../etc", "reason": ["x"], "identity": "la-agent"})
w({"event": "sandbox_violation", "pid": 5, "syscall": "fork", "identity": "someone-else"})
w({"event": "session_end", "identity": "la-agent"})
w({"event": "policy_reload", "result": "loaded"})
w({"event": 7})
w('{"event":"agent_exit","exit_code":1,"exit_code":2}')
w("[1,2,3]")
w("not json \x1b[31m")
w('{"event":"sandbox_violation","path":"' + big + '"}')
w({"event": "sandbox_violation", "pid": 6, "syscall": "execve", "path": "\u00e9" * 3000,
   "argv": ["x" * 5000] + ["y"] * 299})
w({"event": "agent_start", "identity": "la-agent", "argv": [1, 2], "pid": 2**40})
sys.stdout.write('{"event":"agent_exit","exit_code":0,"identity":"la-agent","reason":"last"}')
EOF
mkdir -p "$T/le"
AUDIT=$T/le/audit.jsonl
"$GW" --listen "unix:$T/le/gw.sock" --policy "$P1" --audit "$AUDIT" --runner "$AGENTRUN" \
	--token-fd 3 --violation-fd 4 3< <(echo "la-agent $LTOK") 4< <(sleep 0.5; $PY "$LE") >"$T/le/log" 2>&1 &
GWPID=$!
GW_PIDS+=("$GWPID")
for _ in $(seq 60); do grep -q 'launcher event channel closed' "$T/le/log" && break; sleep 0.05; done
kill -0 "$GWPID" 2>/dev/null && pass launcher-events-gateway-survives || fail launcher-events-gateway-survives "$(tail -3 "$T/le/log")"
stop "$GWPID"
$PY - "$AUDIT" "$T/le/log" >"$T/le/check" 2>&1 <<'EOF'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
log = open(sys.argv[2], errors="replace").read()
src = [r for r in recs if r.get("source") == "agentlaunch"]
def chk(name, cond, what=""):
    print(("PASS: " if cond else "FAIL: ") + name + ("" if cond else ": " + str(what)[:400]))
ev = [r["event"] for r in src]
chk("launcher-events-dispatch", ev == ["sandbox_violation", "agent_start", "agent_exit", "agent_exit",
    "sandbox_violation", "sandbox_violation", "agent_start", "agent_exit"], ev)
v, s, e, bad_e, other, huge, bad_s, last = src + [None] * (8 - len(src)) if len(src) < 8 else src[:8]
chk("launcher-violation-fields", v and (v["pid"], v["syscall"], v["path"], v["argv"], v["repeats"], v["launch_id"])
    == (77, "execve", "/bin/sh", ["sh", "-c", "id"], 300, "00112233aabbccdd"), v)
chk("launcher-violation-no-smuggled-fields", v and "token" not in v and v["mac"] != "forged" and v["seq"] != 1, v)
chk("launcher-identity-verified", all(r and r["identity"] == "la-agent" and r["identity_verified"] is True
    for r in (v, s, e, last)), [(r or {}).get("identity_verified") for r in (v, s, e, last)])
chk("launcher-start-fields", s and (s["argv"], s["path"], s["pid"], s["launcher_pid"], s["launch_id"], s["warning"])
    == (["/usr/bin/agent", "--x"], "/usr/bin/agent", 1234, 1233, "00112233aabbccdd",
        "--net host: the agent has no network isolation"), s)
L = (s or {}).get("layers", {})
chk("launcher-start-layers", L.get("net") == "host" and L.get("namespaces") == ["mount", "pid", "ipc"]
    and L.get("exec_lock") is True and L.get("uid") == 65534 and "evil" not in L and "gid" not in L
    and "layers.gid" in s.get("rejected_fields", []), s)
chk("launcher-exit-fields", e and (e["exit_code"], e["signal"], e["duration_ms"], e["violations"], e["reason"],
    e["launch_id"]) == (3, None, 42, 301, "exited", "00112233aabbccdd"), e)
chk("launcher-exit-wrong-types-dropped", bad_e and not any(k in bad_e for k in
    ("exit_code", "signal", "duration_ms", "launch_id", "reason")) and sorted(bad_e.get("rejected_fields", []))
    == sorted(["exit_code", "signal", "duration_ms", "reason", "launch_id"]), bad_e)
chk("launcher-identity-mismatch-marked", other and other["identity"] == "someone-else"
    and other["identity_verified"] is False and other.get("launcher_identity") == "la-agent", other)
chk("launcher-bounded-strings", huge and len(huge["path"].encode()) <= 4096 and huge["path"].startswith("\u00e9")
    and len(huge["argv"]) == 256 and len(huge["argv"][0]) == 4096, (huge or {}).get("path", "")[:20])
chk("launcher-start-bad-types", bad_s and "argv" not in bad_s and "pid" not in bad_s, bad_s)
chk("launcher-last-line-without-newline", last and last["reason"] == "last", last)
chk("launcher-unknown-events-not-recorded", not any(r["event"] in ("policy_reload",) and r.get("source") for r in recs)
    and [r["event"] for r in recs].count("session_end") == 1, [r["event"] for r in recs])
chk("launcher-unknown-events-logged", 'unknown event "session_end"' in log and 'unknown event "policy_reload"' in log
    and "(not a string)" in log and "longer than 65536 bytes" in log and "\x1b" not in log, log[-600:])
chk("launcher-warning-logged", "WARNING from agentlaunch" in log and "--net host" in log, log[-400:])
chk("launcher-drained-before-session-end", recs[-1]["event"] == "session_end" and recs[-2].get("reason") == "last",
    [r["event"] for r in recs[-3:]])
EOF
cat "$T/le/check"
expect launcher-events-chain-verifies 0 "$GW" --verify-audit "$AUDIT"

# drain on SIGTERM: events written just before the launcher closes its end
# and signals are recorded before session_end
mkdir -p "$T/dr"
AUDIT=$T/dr/audit.jsonl
$PY - "$GW" "$P1" "$AUDIT" "$AGENTRUN" "$T/dr/gw.sock" "$T/dr/log" <<'EOF' >"$T/dr/out" 2>&1
import os, signal, subprocess, sys, time, json
gw, pol, audit, runner, sock, logf = sys.argv[1:7]
r, w = os.pipe()
p = subprocess.Popen([gw, "--listen", "unix:" + sock, "--policy", pol, "--audit", audit, "--runner", runner,
                      "--violation-fd", str(r)], pass_fds=(r,), stdout=open(logf, "w"), stderr=subprocess.STDOUT)
os.close(r)
for _ in range(100):
    if "ready" in open(logf).read():
        break
    time.sleep(0.05)
lines = "".join(json.dumps({"event": "sandbox_violation", "pid": i, "syscall": "execve", "path": "/x"}) + "\n"
                for i in range(200))
lines += json.dumps({"event": "agent_exit", "exit_code": 0, "reason": "drain-test"}) + "\n"
os.write(w, lines.encode())
p.send_signal(signal.SIGTERM)
t0 = time.time()
time.sleep(0.3)  # stopping: the gateway waits (bounded) for the channel's end
os.write(w, (json.dumps({"event": "agent_exit", "exit_code": 0, "reason": "after-term"}) + "\n").encode())
os.close(w)
rc = p.wait(10)
print(rc, round(time.time() - t0, 1))
EOF
recs=$($PY -c 'import json,sys; r=[json.loads(l) for l in open(sys.argv[1])]; print(sum(x["event"]=="sandbox_violation" for x in r), r[-3].get("reason"), r[-2].get("reason"), r[-1]["event"])' "$AUDIT" 2>&1)
is launcher-drain-on-sigterm "$(cut -d' ' -f1 "$T/dr/out") $recs" "0 200 drain-test after-term session_end"
dr_s=$(cut -d' ' -f2 "$T/dr/out")
$PY -c 'import sys; sys.exit(0 if float(sys.argv[1]) < 2.5 else 1)' "${dr_s:-99}" && pass launcher-drain-bounded ||
	fail launcher-drain-bounded "$(cat "$T/dr/out")"
expect launcher-drain-chain-verifies 0 "$GW" --verify-audit "$AUDIT"

exit 0
