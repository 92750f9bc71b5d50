#!/bin/bash
# make bench, gateway part: an allowed /v1/exec of /bin/true over HTTP
# (keep-alive, sequential) against bwrap's bare spawn in the same run;
# throughput at 8 and 32 concurrent clients (wrk); /v1/run of print(1)
# against bare python3 -c 'print(1)'; gateway RSS idle.
set -eu
cd "$(dirname "$0")/../.."
B=${B:-build}
N=${GW_RUNS:-200}
PY=/usr/bin/python3
T=$(mktemp -d /tmp/albench.XXXXXX)
GW=
cleanup() {
	[ -n "$GW" ] && kill "$GW" 2>/dev/null && wait "$GW" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
trap 'cat "$T/gw.log" >&2' ERR
mkdir -p "$T/ws" && chmod 0755 "$T/ws"
$PY - policy/default.json "$T/policy.json" "$T/ws" <<'X'
import json, sys
p = json.load(open(sys.argv[1]))
p["rate_limit"] = {"max_commands": 1000000, "window_seconds": 1}
for pr in p["profiles"].values():
    pr["fs"]["workspace"] = sys.argv[3] + "/{identity}"
json.dump(p, open(sys.argv[2], "w"))
X
PORT=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$B/bin/agentgw" --listen "127.0.0.1:$PORT" --policy "$T/policy.json" --audit "$T/audit.jsonl" \
	--runner "$PWD/$B/bin/agentrun" 2>"$T/gw.log" &
GW=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.05; done
sleep 0.5
rss() {
	local s=0 p v
	for p in $GW $(pgrep -P "$GW" -x agentgw); do
		v=$(awk '/VmRSS/{print $2}' "/proc/$p/status" 2>/dev/null) && s=$((s + ${v:-0}))
	done
	echo $s
}
IDLE_RSS=$(rss)

# Sequential keep-alive round trips, interleaved with bwrap and bare python.
$PY - "$PORT" "$N" <<'X'
import http.client, json, statistics, subprocess, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
c = http.client.HTTPConnection("127.0.0.1", port)
def post(path, body):
    c.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    r = c.getresponse(); d = r.read()
    if r.status != 200: raise SystemExit(f"{path}: {r.status} {d[:200]}")
    return json.loads(d)
cmds = {
 "bwrap --unshare-all /bin/true": ["bwrap","--unshare-all","--die-with-parent","--ro-bind","/","/","/bin/true"],
 "bare python3 -c print(1)": ["/usr/bin/python3","-c","print(1)"],
}
t = {k: [] for k in ["gateway /v1/exec /bin/true", "gateway /v1/run print(1)", *cmds]}
for i in range(n + 5):
    for k in t:
        t0 = time.perf_counter()
        if k == "gateway /v1/exec /bin/true": post("/v1/exec", {"argv": ["true"], "identity": "bench"})
        elif k == "gateway /v1/run print(1)": post("/v1/run", {"code": "print(1)", "language": "python", "identity": "bench"})
        else: subprocess.run(cmds[k], check=True, stdout=subprocess.DEVNULL)
        if i >= 5: t[k].append((time.perf_counter() - t0) * 1000)
med = {k: statistics.median(v) for k, v in t.items()}
for k, v in med.items():
    print(f"{k:40s} median {v:8.3f} ms (n={n})")
print(f"ratio gateway exec/bwrap:                {med['gateway /v1/exec /bin/true'] / med['bwrap --unshare-all /bin/true']:.2f} (target <= 1.0)")
print(f"ratio gateway /v1/run / bare python:     {med['gateway /v1/run print(1)'] / med['bare python3 -c print(1)']:.2f} (target <= 1.15)")
X

cat > "$T/post.lua" <<'X'
wrk.method = "POST"
wrk.body = '{"argv": ["true"], "identity": "bench"}'
wrk.headers["Content-Type"] = "application/json"
X
for c in 8 32; do
	out=$(wrk -t2 -c$c -d5s -s "$T/post.lua" "http://127.0.0.1:$PORT/v1/exec" 2>&1)
	rps=$(echo "$out" | awk '/Requests\/sec/{print $2}')
	non2xx=$(echo "$out" | awk '/Non-2xx/{print $NF}')
	echo "throughput /v1/exec /bin/true, $c clients:   ${rps} runs/s${non2xx:+ (non-2xx: $non2xx)}"
done
# The ceiling this machine puts on fresh sandboxes: bwrap alone (no cgroup,
# no seccomp, no gateway), as many at once, for as long.
BW=$(command -v bwrap)
for c in 8 32; do
	n=$($PY - "$BW" "$c" <<'X'
import subprocess, sys, threading, time
bw, c = sys.argv[1], int(sys.argv[2])
end = time.time() + 5
done = [0] * c
def worker(i):
    while time.time() < end:
        subprocess.run([bw, "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "/bin/true"])
        done[i] += 1
ts = [threading.Thread(target=worker, args=(i,)) for i in range(c)]
[t.start() for t in ts]
[t.join() for t in ts]
print(round(sum(done) / 5))
X
)
	echo "for comparison, bwrap alone, $c at once:      $n runs/s"
done
echo "gateway RSS idle (monitor + front end):    $((IDLE_RSS / 1024)).$(((IDLE_RSS % 1024) * 10 / 1024)) MB (target <= 8)"
echo "gateway RSS after the bench:               $(($(rss) / 1024)) MB"
# the warm pool is separate processes: agentrun --warm and its sandbox's init
ws=0 wn=0
for p in $(pgrep -f -- "--spec-fd 3 --warm"); do
	v=$(awk '/VmRSS/{print $2}' "/proc/$p/status" 2>/dev/null) && ws=$((ws + ${v:-0})) && wn=$((wn + 1))
done
echo "warm pool RSS after the bench:             $((ws / 1024)).$(((ws % 1024) * 10 / 1024)) MB ($wn processes)"
