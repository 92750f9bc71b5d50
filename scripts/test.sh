#!/bin/sh
# The README's test command: install what the build and the tests need,
# build, and run every test.  Ends with "N passed, N failed".
set -eu
cd "$(dirname "$0")/.."
./scripts/install-deps.sh all
./scripts/install-deps.sh deploy
exec make -j2 test NODEPS=1
