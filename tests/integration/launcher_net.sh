#!/bin/bash
# Network isolation of agentlaunch --net isolated (SPEC §2), as root.
#
# From inside, the only reachable TCP endpoints must be the gateway (at
# AGENTGW_URL, with the launch's token) and each --allow-service (at
# AGENTLAUNCH_SERVICE_<PORT>).  Not reachable: a host service bound to
# 0.0.0.0 / :: through any host address (every address `ip -o addr` lists),
# other loopback services, the relay address's other ports, the outside
# (a listener in a network namespace of the test's own, 198.18.x).  Each
# "unreachable" check is run bare too and succeeds there.
# Targets: 127.0.0.0/8, the host's own addresses, the launch's namespaces,
# the test's outside namespace.
. "$(dirname "$0")/launcher_common.sh"
need_root launcher_net
la_prereq
BEFORE=$TMPBASE/before
snapshot >"$BEFORE"
AS_NOBODY=(setpriv --reuid 65534 --regid 65534 --clear-groups)

listen_tcp ANYP "$TMPBASE/any" 0.0.0.0
listen_tcp ANY6P "$TMPBASE/any6" ::
listen_tcp SVCP "$TMPBASE/svc" 127.0.0.1 http
listen_tcp OTHERP "$TMPBASE/other" 127.0.0.1
if [ -z "$ANYP" ] || [ -z "$SVCP" ] || [ -z "$OTHERP" ] || [ -z "$ANY6P" ]; then
	fail listeners "could not start the test listeners"
	exit 0
fi

# --- the gateway -----------------------------------------------------------------
run_la -- env AGENTGW_URL
HUB=$(printf '%s' "$OUT" | sed -n 's|^OK AGENTGW_URL=http://\([0-9.]*\):9999$|\1|p')
if [ -n "$HUB" ]; then pass "AGENTGW_URL=http://$HUB:9999 (the veth's relay address)"; else fail "AGENTGW_URL" "$OUT"; fi
run_la -- env AGENTGW_TOKEN
if printf '%s' "$OUT" | grep -Eq '^OK AGENTGW_TOKEN=[0-9a-f]{64}$'; then pass "AGENTGW_TOKEN: a fresh 256-bit token"; else fail "AGENTGW_TOKEN" "$OUT"; fi
run_la -- http-get env:AGENTGW_URL /healthz
if printf '%s' "$OUT" | grep -q '^OK HTTP 200 .*"status":"ok"'; then pass "gateway reachable at AGENTGW_URL (/healthz)"; else fail "gateway /healthz" "$OUT"; fi
run_la -- http-post env:AGENTGW_URL /v1/plan '{"command":"git status"}'
if printf '%s' "$OUT" | grep -q '^OK HTTP 200 .*"decision"'; then pass "gateway accepts the launch's token (/v1/plan 200)"; else fail "gateway with token" "$OUT"; fi
OUT=$(AL_HELPER_NO_TOKEN=1 la -- "$H" http-post env:AGENTGW_URL /v1/plan '{"command":"git status"}' 2>&1 </dev/null)
if printf '%s' "$OUT" | grep -q '^OK HTTP 401'; then pass "gateway refuses requests without the token (401)"; else fail "gateway without token" "$OUT"; fi
run_la --identity agent-7 -- http-post env:AGENTGW_URL /v1/plan '{"command":"git status","identity":"someone-else"}'
if printf '%s' "$OUT" | grep -q '^OK HTTP 403 .*identity_mismatch'; then pass "the token is bound to the launch's identity (403 identity_mismatch)"; else fail "identity binding" "$OUT"; fi

# --- the topology, seen from outside while an agent runs ---------------------------------
la -- "$H" sleep 20 </dev/null >/dev/null 2>&1 &
TOPO=$!
BGPIDS+=("$TOPO")
for i in $(seq 100); do APID=$(pgrep -f "^$H sleep 20" | head -1); [ -n "$APID" ] && break; sleep 0.05; done
if [ -n "$APID" ]; then
	inside=$(nsenter -t "$APID" -n ip -o addr show 2>&1)
	routes=$(nsenter -t "$APID" -n ip route show 2>&1; nsenter -t "$APID" -n ip -6 route show 2>&1)
	links=$(nsenter -t "$APID" -n ip -o link show 2>&1 | awk -F': ' '{print $2}' | tr '\n' ' ')
	if printf '%s' "$inside" | grep -q "eth0 *inet $HUB" || printf '%s' "$inside" | grep -Eq "eth0 +inet ${HUB%.*}\.[0-9]+/30"; then
		pass "agent namespace: veth eth0 with a /30 next to $HUB (links: $links)"
	else
		fail "agent namespace addresses" "$inside"
	fi
	if printf '%s' "$routes" | grep -q '^default'; then fail "agent namespace: no default route" "$routes"; else pass "agent namespace: no default route ($(printf '%s' "$routes" | head -1))"; fi
	if ip -o link show | grep -q 'al-hub'; then fail "host namespace untouched" "al-hub on the host"; else pass "host namespace untouched: no veth end on the host"; fi
	if ip -o addr show | grep -q " ${HUB%.*}\."; then fail "host namespace: no relay address" "$(ip -o addr | grep "${HUB%.*}")"; else pass "host namespace: the relay address is not a host address"; fi
	kill "$APID" 2>/dev/null
else
	fail "topology" "agent did not start"
fi
wait "$TOPO"

# --- allowed and other loopback services ----------------------------------------------
run_la --allow-service "127.0.0.1:$SVCP" -- env "AGENTLAUNCH_SERVICE_$SVCP"
if [ "$OUT" = "OK AGENTLAUNCH_SERVICE_$SVCP=$HUB:$SVCP" ]; then pass "AGENTLAUNCH_SERVICE_$SVCP=$HUB:$SVCP"; else fail "AGENTLAUNCH_SERVICE_<PORT>" "$OUT"; fi
run_la --allow-service "127.0.0.1:$SVCP" -- http-get "env:AGENTLAUNCH_SERVICE_$SVCP" /
if printf '%s' "$OUT" | grep -q '^OK HTTP 200 .*"service":"ok"'; then pass "allowed service reachable through its relay"; else fail "allowed service" "$OUT"; fi
run_la --allow-service "localhost:$SVCP" -- http-get "$HUB:$SVCP" /
if printf '%s' "$OUT" | grep -q '^OK HTTP 200'; then pass "--allow-service localhost:P works too"; else fail "allow-service localhost" "$OUT"; fi
expect_la "other loopback service: not at 127.0.0.1 inside" BLOCKED --allow-service "127.0.0.1:$SVCP" -- connect-to "127.0.0.1:$OTHERP"
expect_la "other loopback service: not at the relay address" BLOCKED --allow-service "127.0.0.1:$SVCP" -- connect-to "$HUB:$OTHERP"
expect_bare "bare-connect to that loopback service" OK -- connect-to "127.0.0.1:$OTHERP"
expect_la "the allowed service is unreachable without --allow-service" BLOCKED -- connect-to "$HUB:$SVCP"

# --- host services on 0.0.0.0 / :: through every host address -----------------------
addrs=$(ip -o addr show | awk '{print $4}' | cut -d/ -f1 | grep -v '^fe80:')
[ -n "$HUB" ] && addrs="$addrs $HUB"
n=0
for a in $addrs; do
	case "$a" in *:*) hp="[$a]:$ANY6P" ;; *) hp="$a:$ANYP" ;; esac
	run_la -- connect-to "$hp"
	check_outcome "0.0.0.0/:: listener unreachable via $hp" BLOCKED
	if [ "$a" != "$HUB" ]; then
		expect_bare "bare-connect $hp (the listener answers on the host)" OK -- connect-to "$hp"
	fi
	n=$((n + 1))
done
[ "$n" -ge 3 ] && pass "checked $n addresses (ip -o addr + the relay address)" || fail "host addresses" "only $n: $addrs"
expect_la "relay address: no other port open (22)" BLOCKED -- connect-to "$HUB:22"

# --- outside, DNS ------------------------------------------------------------------------
# The outside: a listener in a namespace of the test's own (tests/lib.sh),
# which the host reaches and the agent must not.
if outside_host_up; then
	expect_la "outside $OUTSIDE_IP:$OUTSIDE_PORT unreachable (no default route)" BLOCKED:ENETUNREACH -- connect-to "$OUTSIDE_IP:$OUTSIDE_PORT"
	expect_bare "bare-connect $OUTSIDE_IP:$OUTSIDE_PORT (the host has a route)" OK -- connect-to "$OUTSIDE_IP:$OUTSIDE_PORT"
	expect_la "outside: no route for UDP either" BLOCKED:ENETUNREACH -- udp "$OUTSIDE_IP" 53
else
	fail "outside host" "cannot create the test's outside network namespace"
fi
outside_host_down
ns=$(awk '$1 == "nameserver" {print $2; exit}' /etc/resolv.conf)
if [ -n "$ns" ]; then
	case "$ns" in *:*) nsp="[$ns]" ;; *) nsp=$ns ;; esac
	run_la -- udp "$ns" 53
	check_outcome "no DNS: the host's resolver $ns unreachable" BLOCKED
	: "$nsp"
fi
expect_la "IPv6 outside unreachable" BLOCKED:ENETUNREACH -- udp 2001:db8::1 53

# --- two launches on the same --port at once --------------------------------------------
# (each starts its own agentgw, and an audit log has exactly one writer)
(AUDIT=$TMPBASE/a1.jsonl la -- "$H" http-get env:AGENTGW_URL /healthz >"$TMPBASE/c1" 2>&1 </dev/null) &
p1=$!
(AUDIT=$TMPBASE/a2.jsonl la -- "$H" http-get env:AGENTGW_URL /healthz >"$TMPBASE/c2" 2>&1 </dev/null) &
p2=$!
wait $p1 $p2
if grep -q '^OK HTTP 200' "$TMPBASE/c1" && grep -q '^OK HTTP 200' "$TMPBASE/c2"; then
	pass "two launches at once, both on port 9999, each reaches its own gateway"
else
	fail "two launches at once" "$(cat "$TMPBASE/c1" "$TMPBASE/c2" | tail -c 400)"
fi

# --- --net host: loud ----------------------------------------------------------------
HP=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
OUT=$(la --net host --port "$HP" -- "$H" http-get env:AGENTGW_URL /healthz 2>&1 </dev/null)
if printf '%s' "$OUT" | grep -q '^agentlaunch: WARNING:' && printf '%s' "$OUT" | grep -q "^OK HTTP 200 127.0.0.1:$HP"; then
	pass "--net host: 'agentlaunch: WARNING:' on stderr, gateway at 127.0.0.1:$HP"
else
	fail "--net host" "$(printf '%s' "$OUT" | tail -c 400)"
fi
if $PY - "$AUDIT" <<'PY'; then
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
s = [r for r in recs if r["event"] == "agent_start" and r["layers"]["net"] == "host"][-1]
assert s["warning"].startswith("--net host") and s["source"] == "agentlaunch" and s["identity_verified"] is True, s
assert "net" not in s["layers"]["namespaces"], s
PY
	pass "--net host: its warning is in agentgw's audit log (agent_start)"
else
	fail "--net host: warning in agentgw's log" "$(tail -c 600 "$AUDIT")"
fi
expect_out "--net host: agentgw's log verifies" 'OK, [0-9]+ records' "$AGENTGW" --verify-audit "$AUDIT"
HA=$TMPBASE/host-skip.jsonl
OUT=$(timeout 30 "$LAUNCH" --net host --skip-gateway http://127.0.0.1:9 --audit "$HA" --workdir "$WD" -- "$H" marker 2>&1 </dev/null)
if grep -q '"warning":"--net host' "$HA" 2>/dev/null; then pass "--net host: recorded in the audit log (agent_start warning)"; else fail "--net host audit" "$OUT $(cat "$HA" 2>&1 | tail -c 300)"; fi

leftovers_check net "$BEFORE"
