#!/bin/bash
# make bench (run by bench.sh): agentlaunch -- /bin/true, with the gateway
# it starts (start, health check, stop included) and with --skip-gateway,
# against bare /bin/true; interleaved medians (al-timeit).
# Targets (SPEC §8 and the launcher's issue): <= 30 ms over bare with the
# gateway, <= 10 ms with --skip-gateway.
set -eu
cd "$(dirname "$0")/../.."
B=${B:-build}
RUNS=${LAUNCH_RUNS:-50}
[ "$RUNS" -ge 20 ] || RUNS=20
[ "$(id -u)" -eq 0 ] || { echo "bench_launcher: run as root (--net isolated needs it)" >&2; exit 1; }
LA=${AL_LAUNCH:-$PWD/$B/bin/agentlaunch}
[ -x "$LA" ] || { echo "bench_launcher: $LA missing (make)" >&2; exit 1; }
mkdir -p "$B/bench"
[ -x "$B/bench/al-timeit" ] || cc -O2 -o "$B/bench/al-timeit" tests/bench/timeit.c
T=$(mktemp -d /tmp/albench.XXXXXX)
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/wd"
chmod 0777 "$T/wd"
spec=$T/spec.txt
cat >"$spec" <<X
bare /bin/true|/bin/true
agentlaunch -- /bin/true|$LA|--audit|$T/gw.jsonl|--workdir|$T/wd|--|/bin/true
agentlaunch --skip-gateway -- /bin/true|$LA|--skip-gateway|http://127.0.0.1:9|--audit|$T/own.jsonl|--workdir|$T/wd|--|/bin/true
agentlaunch --net rootless --skip-gateway|$LA|--net|rootless|--skip-gateway|http://127.0.0.1:9|--audit|$T/own2.jsonl|--workdir|$T/wd|--|/bin/true
X
out=$("$B/bench/al-timeit" -n "$RUNS" "$spec")
echo "$out"
med() { echo "$out" | grep -F "$1 " | head -1 | awk '{for(i=1;i<=NF;i++) if($i=="median") print $(i+1)}'; }
bare=$(med 'bare /bin/true')
over() { awk -v a="$1" -v b="$bare" 'BEGIN{printf "%.2f", a-b}'; }
g=$(over "$(med 'agentlaunch -- /bin/true')")
s=$(over "$(med 'agentlaunch --skip-gateway -- /bin/true')")
r=$(over "$(med 'agentlaunch --net rootless --skip-gateway')")
verdict() { awk -v v="$1" -v t="$2" 'BEGIN{print (v <= t) ? "ok" : "OVER TARGET"}'; }
echo
echo "agentlaunch overhead over bare, gateway started:  $g ms (target <= 30: $(verdict "$g" 30))"
echo "agentlaunch overhead over bare, --skip-gateway:   $s ms (target <= 10: $(verdict "$s" 10))"
echo "agentlaunch overhead, rootless + --skip-gateway:  $r ms"
