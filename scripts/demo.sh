#!/bin/sh
# The README's main command.  On a fresh Debian 12 as root: install what is
# needed (scripts/install-deps.sh all: compiler, libraries, python3, nodejs),
# build, and run the three mock agents (static C, Python, Node.js) under
# agentlaunch with the shipped policy/default.json.  Each agent tries every
# way out (exec, fork, privileged syscalls, other hosts and host ports,
# secrets on disk, signals to the launcher) and checks what it needs
# (threads, files, the allowed service, the gateway with its token, policy
# denials as 403 with the rule).  Prints one PASS/FAIL line per check,
# grouped by layer, and "N passed, N failed"; exits non-zero on any FAIL.
#
#   scripts/demo.sh [--bare] [--policy FILE]   (arguments go to run.sh)
#
# --bare runs the same agents without agentlaunch: every escape then works,
# which is what proves the checks can fail (tests/mock_agent/README.md).
set -eu
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
	echo "demo.sh: run as root (sudo $0): agentlaunch's network isolation and the test network need it" >&2
	exit 2
fi
if ! ./scripts/install-deps.sh all; then
	echo "demo.sh: could not install everything (nodejs?); trying without Node.js: its agent will be SKIP" >&2
	./scripts/install-deps.sh test
fi
echo "== building (make)" >&2
if ! make -j2 NODEPS=1 >/tmp/agentlaunch-demo-build.log 2>&1; then
	tail -n 30 /tmp/agentlaunch-demo-build.log >&2
	echo "demo.sh: the build failed (full log: /tmp/agentlaunch-demo-build.log)" >&2
	exit 1
fi
exec ./tests/mock_agent/run.sh --policy policy/default.json "$@"
