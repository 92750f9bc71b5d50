#!/bin/bash
# agentrun as a user meets it (SPEC §5): exit statuses, --json result
# fields, stdin, code runs, the interpreter pin, errors that say what to do.
. "$(dirname "$0")/../lib.sh"
need_root runner_cli
AR=$AGENTRUN
PY=/usr/bin/python3
WS=$TMPBASE/ws
mkdir -p "$WS" && chmod 0755 "$WS"
TPOL=$TMPBASE/policy.json
$PY - "$POLICY" "$TPOL" "$WS" <<'X'
import json, sys
p = json.load(open(sys.argv[1]))
for prof in p["profiles"].values():
    prof["fs"]["workspace"] = sys.argv[3] + "/{identity}"
json.dump(p, open(sys.argv[2], "w"))
X
run() { "$AR" --policy "$TPOL" "$@"; }

expect exit-status-passthrough 3 run --profile command_default -- /bin/sh -c 'exit 3'
expect signal-status-128+N 143 run --profile command_default -- /bin/sh -c 'kill -TERM $$'
expect program-not-found-127 127 run --profile command_default -- no-such-program-xyz
cp /bin/true "$TMPBASE/true"
expect outside-read-only-mounts-126 126 run --profile command_default -- "$TMPBASE/true"
expect_out unknown-profile-says-which 'profile .nosuch. is not in' run --profile nosuch -- /bin/true
echo '{"version": "2.0", "profiles": 7}' > "$TMPBASE/bad.json"
expect_out bad-policy-names-field 'bad.json: profiles' run --policy "$TMPBASE/bad.json" --profile x -- /bin/true
expect bad-policy-exit-125 125 "$AR" --policy "$TMPBASE/bad.json" --profile x -- /bin/true
# A rule's bad pattern is refused though agentrun never matches rules (and
# again: a refused policy leaves no compiled-patterns marker behind).
$PY - "$TPOL" "$TMPBASE/bad-re.json" <<'X'
import json, sys
p = json.load(open(sys.argv[1]))
p["rules"][0]["match"]["args_pattern"] = "(unclosed"
json.dump(p, open(sys.argv[2], "w"))
X
for i in 1 2; do
	expect_out bad-rule-pattern-refused-$i 'rules\[0\].match.args_pattern: invalid regular expression' run --policy "$TMPBASE/bad-re.json" --profile command_default -- /bin/true
done
expect_out not-root-refused-with-reason 'must run as root' setpriv --reuid 65534 --regid 65534 --clear-groups "$AR" --policy "$TPOL" --profile command_default -- /bin/true

out=$(run --profile command_default --json -- /bin/sh -c 'echo out; echo err >&2; exit 4')
keys=$(printf '%s' "$out" | $PY -c 'import json,sys; print(",".join(sorted(json.load(sys.stdin))))')
want="cpu_time_ms,exit_code,layers,oom_killed,peak_mem_mb,run_id,signal,stderr,stdout,timed_out,truncated_stderr,truncated_stdout,violations,wall_time_ms"
[ "$keys" = "$want" ] && pass json-result-fields || fail json-result-fields "got $keys"
[ "$(json_get "$out" stdout)" = "out" ] && [ "$(json_get "$out" stderr)" = "err" ] &&
	[ "$(json_get "$out" exit_code)" = 4 ] && pass json-result-values || fail json-result-values "$out"

out=$(printf 'from stdin' | run --profile command_default --json -- /bin/cat)
[ "$(json_get "$out" stdout)" = "from stdin" ] && pass stdin-passed-in || fail stdin-passed-in "$out"
# ... and closed after it: cat sees EOF at once instead of waiting for the timeout.
[ "$(json_get "$out" timed_out)" = false ] && [ "$(json_get "$out" wall_time_ms)" -lt 5000 ] &&
	pass stdin-then-eof || fail stdin-then-eof "$out"

code='print(6*7)'
out=$(run --profile python_sandbox --json --code "$code")
want=$(printf '%s' "$code" | sha256sum | cut -d' ' -f1)
[ "$(json_get "$out" code_sha256)" = "$want" ] && [ "$(json_get "$out" stdout)" = "42" ] &&
	pass code-run-and-sha256 || fail code-run-and-sha256 "$out"
expect_out code-from-stdin '^42$' sh -c "printf 'print(6*7)' | '$AR' --policy '$TPOL' --profile python_sandbox --code -"
expect_out code-needs-language 'has no language' run --profile command_default --code 'print(1)'

# The interpreter pin: the right hash runs, a wrong one refuses (125) and
# names both hashes.  Without the check the wrong pin would run and print.
real=$(sha256sum "$(readlink -f $PY)" | cut -d' ' -f1)
for v in good bad; do
	h=$real
	[ $v = bad ] && h=$(printf '%064d' 0)
	$PY - "$TPOL" "$TMPBASE/pin-$v.json" "$h" <<'X'
import json, sys
p = json.load(open(sys.argv[1]))
p["profiles"]["python_sandbox"]["interpreter_sha256"] = sys.argv[3]
json.dump(p, open(sys.argv[2], "w"))
X
done
expect_out pin-matching-runs '^pinned$' "$AR" --policy "$TMPBASE/pin-good.json" --profile python_sandbox --code 'print("pinned")'
expect pin-mismatch-refused 125 "$AR" --policy "$TMPBASE/pin-bad.json" --profile python_sandbox --code 'print("pinned")'
expect_out pin-mismatch-says-why 'pins 0000' "$AR" --policy "$TMPBASE/pin-bad.json" --profile python_sandbox --code 'print("pinned")'

# The timeout flag lowers the profile's limit and reports timed_out.
out=$(run --profile command_default --timeout 1 --json -- /bin/sleep 5)
[ "$(json_get "$out" timed_out)" = true ] && pass timeout-flag || fail timeout-flag "$out"

# Code runs start Python with -I -S and a bootstrap (runner/run.c): the
# code runs as __main__, sees the system dist-packages, has exit(), and
# tracebacks point at its own lines.
expect code-exit-builtin 7 run --profile python_sandbox --code 'exit(7)'
expect_out code-main-and-dist-packages '^__main__ True$' run --profile python_sandbox --code 'import sys; print(__name__, "/usr/lib/python3/dist-packages" in sys.path)'
expect_out code-traceback-own-lines '^  File "<string>", line 2, in <module>' run --profile python_sandbox --code 'x = 1
raise ValueError("boom")'

# Concurrent first runs of one identity: the workspace appears whole (made
# under a temporary name, chowned, renamed without replacing), so none of
# them sees a half-made workspace owned by root.
bad=0
for round in $(seq 10); do
	for k in 1 2 3 4 5 6; do run --profile command_default --identity "race$round" -- /bin/true 2>>"$TMPBASE/race.err" & done
	wait
done
[ ! -s "$TMPBASE/race.err" ] && pass workspace-creation-race ||
	fail workspace-creation-race "$(head -2 "$TMPBASE/race.err")"
leftover=$(find "$WS" -maxdepth 1 -name '*.new-*' | head -1)
[ -z "$leftover" ] && pass workspace-no-temporary-left || fail workspace-no-temporary-left "$leftover"
