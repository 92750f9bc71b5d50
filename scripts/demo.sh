#!/bin/sh
# The README's main command: on a fresh Debian 12 as root, install what is
# needed, build, and run the main job on the shipped defaults.
# Today the main job is agentrun running a Python snippet in the shipped
# python_sandbox profile, then proving the sandbox holds (it cannot spawn a
# process, see host processes, or read /etc/shadow).
set -eu
cd "$(dirname "$0")/.."
./scripts/install-deps.sh test
make -j2 NODEPS=1 >/dev/null
AR=./build/bin/agentrun
echo "== agentrun --profile python_sandbox --code ... (policy/default.json)"
$AR --policy policy/default.json --profile python_sandbox --identity demo --json --code '
import os, subprocess, threading
print("2+2 =", 2 + 2)
print("uid", os.getuid(), "pids visible", len([p for p in os.listdir("/proc") if p.isdigit()]))
try:
    open("/etc/shadow").read(); print("shadow: READABLE (bad)")
except OSError as e:
    print("shadow:", e.strerror)
try:
    subprocess.run(["/bin/true"]); print("subprocess: RAN (bad)")
except OSError as e:
    print("subprocess:", e.strerror)
t = threading.Thread(target=lambda: print("thread: ok")); t.start(); t.join()
'
