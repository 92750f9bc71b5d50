#!/bin/bash
# agentgw under load: 2,000 /v1/exec requests from 16 concurrent keep-alive
# clients (python3 http.client threads).  Every answer must be 200, the
# audit log must hold exactly 2,000 exec records and verify, no agentrun
# process or run cgroup may be left but the idle warm pool's (and nothing
# at all after the gateway's exit), and the gateway's memory (front end +
# monitor RSS) after all 2,000 must be at most 1.5x what it was after the
# first 100.
. "$(dirname "$0")/../lib.sh"
need_root gateway_load
GW=$BIN/agentgw
PY=/usr/bin/python3
T=$TMPBASE
GWPID=
cleanup() {
	if [ -n "$GWPID" ]; then
		kill -TERM "$GWPID" 2>/dev/null
		for _ in $(seq 100); do kill -0 "$GWPID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$GWPID" 2>/dev/null
	fi
	rm -rf "$TMPBASE"
}
trap cleanup EXIT
for b in "$GW" "$AGENTRUN"; do
	if [ ! -x "$b" ]; then
		fail gateway-load-built "$b is missing: run make"
		exit 0
	fi
done

$PY - "$TOP/policy/default.json" "$T/policy.json" "$T/ws/{identity}" <<'EOF'
import json, sys
p = json.load(open(sys.argv[1]))
for pr in p["profiles"].values():
    pr["fs"]["workspace"] = sys.argv[3]
p["rate_limit"] = {"max_commands": 1000000, "window_seconds": 60}
json.dump(p, open(sys.argv[2], "w"))
EOF
mkdir -p "$T/ws"
cg_runs() { # names of run cgroups (in any hierarchy), sorted
	ls -d /sys/fs/cgroup/*/agentlaunch/r-* /sys/fs/cgroup/agentlaunch/r-* 2>/dev/null |
		sed 's|.*/||' | sort -u
}
cg_runs >"$T/cg0"
"$GW" --listen 127.0.0.1:0 --policy "$T/policy.json" --audit "$T/audit.jsonl" --runner "$AGENTRUN" \
	>"$T/log" 2>&1 &
GWPID=$!
PORT=
for _ in $(seq 100); do
	grep -q 'agentgw: ready' "$T/log" && PORT=$(grep -oE 'http://127\.0\.0\.1:[0-9]+' "$T/log" | head -1 | sed 's/.*://') && break
	sleep 0.05
done
if [ -z "$PORT" ]; then
	fail gateway-load-start "$(tail -5 "$T/log")"
	exit 0
fi
FRONT=$(pgrep -P "$GWPID" | head -1)

rss() { # front end + monitor, kB
	echo $(($(awk '/^VmRSS:/{print $2}' /proc/"$GWPID"/status) + $(awk '/^VmRSS:/{print $2}' /proc/"$FRONT"/status)))
}

# load N: N requests from 16 threads, each on one keep-alive connection;
# prints a JSON summary of the statuses.
load() {
	$PY - "$PORT" "$1" 16 <<'EOF'
import http.client, json, sys, threading, time
port, n, conc = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
body = json.dumps({"command": "true", "identity": "load-1"})
lock = threading.Lock()
counts = {}
def worker(k):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    for _ in range(k):
        try:
            c.request("POST", "/v1/exec", body, {"Content-Type": "application/json"})
            r = c.getresponse(); r.read(); st = str(r.status)
        except Exception as e:
            st = "exception " + type(e).__name__
            c.close()
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        with lock:
            counts[st] = counts.get(st, 0) + 1
per = [n // conc + (1 if i < n % conc else 0) for i in range(conc)]
ts = [threading.Thread(target=worker, args=(k,)) for k in per]
t0 = time.time()
for t in ts: t.start()
for t in ts: t.join()
print(json.dumps({"counts": counts, "seconds": round(time.time() - t0, 2)}))
EOF
}

first=$(load 100)
rss1=$(rss)
rest=$(load 1900)
rss2=$(rss)
echo "first 100: $first; next 1900: $rest; rss after 100: ${rss1} kB, after 2000: ${rss2} kB"

ok=$($PY -c 'import json,sys
a = json.loads(sys.argv[1])["counts"]; b = json.loads(sys.argv[2])["counts"]
print(int(a == {"200": 100} and b == {"200": 1900}))' "$first" "$rest")
[ "$ok" = 1 ] && pass load-all-200 ||
	fail load-all-200 "first $first; rest $rest; gateway log: $(grep -iv 'listening\|ready' "$T/log" | head -5)"

n=$(grep -c '"event":"exec"' "$T/audit.jsonl")
[ "$n" = 2000 ] && pass load-exactly-2000-exec-records || fail load-exactly-2000-exec-records "$n records"
dups=$(grep -o '"run_id":"r-[0-9a-f]*"' "$T/audit.jsonl" | sort | uniq -d | wc -l)
[ "$dups" = 0 ] && pass load-one-record-per-run || fail load-one-record-per-run "$dups run ids twice"

[ $((rss2 * 2)) -le $((rss1 * 3)) ] && pass load-rss-bounded ||
	fail load-rss-bounded "RSS ${rss2} kB after 2000 > 1.5 x ${rss1} kB after 100"

sleep 0.5
# Left between requests: only the warm pool -- idle "agentrun --warm"
# runners (at most 2 per profile; one profile here), each with its waiting
# sandbox (one cgroup each).  No runner of a request, no payload.
left=0 warm=0
for k in $(pgrep -P "$GWPID" | grep -vx "$FRONT"); do
	if tr '\0' ' ' <"/proc/$k/cmdline" 2>/dev/null | grep -q -- '--spec-fd 3 --warm'; then
		warm=$((warm + 1))
		# idle: its only descendant is the sandbox's init, which has no child
		kids=$(pgrep -P "$k" | wc -l)
		gk=$(for c in $(pgrep -P "$k"); do pgrep -P "$c"; done | wc -l)
		[ "$kids" -le 1 ] && [ "$gk" = 0 ] || left=$((left + 1))
	else
		left=$((left + 1))
	fi
done
[ "$left" = 0 ] && [ "$warm" -le 2 ] && pass "load-no-runner-left ($warm idle warm sandboxes)" ||
	fail load-no-runner-left "$left runner processes besides $warm idle warm ones: $(pgrep -a -P "$GWPID")"
runs=$(cg_runs | comm -13 "$T/cg0" - | wc -l)
[ "$runs" -le "$warm" ] && pass "load-no-cgroup-left ($runs, the warm sandboxes')" ||
	fail load-no-cgroup-left "$runs run cgroups for $warm warm sandboxes: $(cg_runs | comm -13 "$T/cg0" - | head -5)"

kill -TERM "$GWPID"
wait "$GWPID"
rc=$?
GWPID=
[ "$rc" = 0 ] && pass load-clean-exit || fail load-clean-exit "exit $rc: $(tail -3 "$T/log")"
# after the gateway: nothing of it at all, warm sandboxes included
sleep 0.2
runs=$(cg_runs | comm -13 "$T/cg0" -)
procs=$(pgrep -f -- "--spec-fd 3" | wc -l)
[ -z "$runs" ] && [ "$procs" = 0 ] && pass load-nothing-left-after-exit ||
	fail load-nothing-left-after-exit "cgroups: $runs; runner processes: $procs"
"$GW" --verify-audit "$T/audit.jsonl" >"$T/verify" 2>&1 && pass load-chain-verifies ||
	fail load-chain-verifies "$(cat "$T/verify")"
exit 0
