#!/bin/bash
# make bench: interleaved medians of bare exec, bubblewrap and agentrun (and,
# when built, the gateway and the launcher), with the ratios.
set -eu
cd "$(dirname "$0")/../.."
B=${B:-build}
RUNS=${RUNS:-200}
mkdir -p "$B/bench"
cc -O2 -o "$B/bench/al-timeit" tests/bench/timeit.c
[ "$(id -u)" -eq 0 ] || { echo "bench: run as root (agentrun needs it)" >&2; exit 1; }
POL=$PWD/policy/default.json
AR=$PWD/$B/bin/agentrun
BW=$(command -v bwrap)
PY=/usr/bin/python3
spec=$B/bench/spec.txt
cat > "$spec" <<X
bare /bin/true|/bin/true
bwrap --unshare-all /bin/true|$BW|--unshare-all|--die-with-parent|--ro-bind|/|/|/bin/true
agentrun command_default /bin/true|$AR|--policy|$POL|--profile|command_default|--|/bin/true
bare python3 -c pass|$PY|-c|pass
bwrap --unshare-all python3 -c pass|$BW|--unshare-all|--die-with-parent|--ro-bind|/|/|$PY|-c|pass
agentrun command_default python3 -c pass|$AR|--policy|$POL|--profile|command_default|--|$PY|-c|pass
agentrun python_sandbox --code pass|$AR|--policy|$POL|--profile|python_sandbox|--code|pass
X
out=$("$B/bench/al-timeit" -n "$RUNS" "$spec")
echo "$out"
med() { echo "$out" | grep -F "$1 " | head -1 | awk '{for(i=1;i<=NF;i++) if($i=="median") print $(i+1)}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.3f", a/b}'; }
echo
echo "ratio agentrun/bwrap (/bin/true):        $(ratio "$(med 'agentrun command_default /bin/true')" "$(med 'bwrap --unshare-all /bin/true')")"
echo "ratio agentrun/bwrap (python3 -c pass):  $(ratio "$(med 'agentrun command_default python3 -c pass')" "$(med 'bwrap --unshare-all python3 -c pass')")"
echo "ratio agentrun/bare (python3 -c pass):   $(ratio "$(med 'agentrun command_default python3 -c pass')" "$(med 'bare python3 -c pass')")"
for extra in tests/bench/bench_*.sh; do
	if [ -f "$extra" ]; then bash "$extra"; fi
done
