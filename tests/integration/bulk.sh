#!/bin/bash
# bulk — bulk operations (POST /v1/bulk-operations, GET /v1/bulk-operations/{id}[?follow=1])
# against OpenIPMI ipmi_sim simulators, and the CLI on many nodes:
#   bad requests (unknown node, a node named twice, no nodes, too many, unknown kind, bad
#   params, body too large, no token) are refused whole with a 4xx naming the node or field,
#   and nothing starts;
#   power status and cycle of four nodes whose BMCs answer and one whose BMC does not: one
#   bulk id, the four succeed (the cycle seen by each simulator's chassis program), the dead
#   one fails alone with its timeout; the progress stream sends one `node` event per node in
#   finishing order, then `done`, and resumes after Last-Event-ID; a node without a BMC and a
#   busy node fail alone (conflict);
#   `provd power` / `provd bootdev` / `provd reinstall` on several nodes go through the bulk
#   route (one bulk operation, no single-node POST), print each node's result, exit 1 when one
#   failed, 0 when all succeeded, 3 for an unknown node (nothing started); one node keeps the
#   single-node route.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib-ipmi.sh"
for tool in ipmi_sim ipmitool jq ss; do
        command -v "$tool" >/dev/null || skip "$tool not installed"
done

sim_base
for i in 1 2 3 4; do sim_start "$i"; done
sim_wait 1 2 3 4

umask 077
printf '%s\n' "$SIM_PASSWORD" >"$T/bmc-pass"
ADMIN=$(api_token "$T/tokens")
printf '%s\n' "$ADMIN" >"$T/token"
AUTH=(-H "Authorization: Bearer $ADMIN")

# node-01..04 on simulators 1..4, node-05 on an address where nothing answers, node-06
# without a BMC.
make_inventory "$T/inv.json" 6
bmc() { printf '{"host": "%s", "user": "%s", "password_file": "%s", "workarounds": ["opensesspriv"], "console": "none"}' "$1" "$SIM_USER" "$T/bmc-pass"; }
jq --argjson b1 "$(bmc "$(sim_addr 1)")" --argjson b2 "$(bmc "$(sim_addr 2)")" --argjson b3 "$(bmc "$(sim_addr 3)")" \
        --argjson b4 "$(bmc "$(sim_addr 4)")" --argjson b5 "$(bmc "$SIM_NET.200")" \
        '.nodes[0].bmc = $b1 | .nodes[1].bmc = $b2 | .nodes[2].bmc = $b3 | .nodes[3].bmc = $b4 | .nodes[4].bmc = $b5
         | del(.nodes[5].bmc)' "$T/inv.json" >"$T/inv2.json" && mv "$T/inv2.json" "$T/inv.json"
provd_start "$T/inv.json" --api-tokens "$T/tokens" --bmc-timeout 2 --bmc-retries 0

# bulk JSON: POST /v1/bulk-operations; sets STATUS, BODY, and BULK (the id on 202).
bulk() {
        http POST /v1/bulk-operations "${AUTH[@]}" -H 'Content-Type: application/json' --data-binary "$1"
        BULK=$(printf '%s' "$BODY" | jq -r '.bulk_operation.id // empty' 2>/dev/null || true)
}
n_ops() { curl -s "$URL/v1/operations" | jq '.operations | length'; }
# follow ID [LAST-EVENT-ID]: the progress stream into $T/sse (at most 15 s).
follow() {
        local hdr=()
        [ -n "${2:-}" ] && hdr=(-H "Last-Event-ID: $2")
        curl -sS -N --max-time 15 -D "$T/sse.head" -o "$T/sse" "${hdr[@]}" "$URL/v1/bulk-operations/$1?follow=1" ||
                fail "the progress stream of bulk operation $1 did not end by itself: $(cat "$T/sse")"
}
# The node events of $T/sse as "SEQ NODE STATE", and the done event's data.
sse_nodes() { awk '/^event: node$/ { getline; sub(/^data: /, ""); print }' "$T/sse" | jq -r '"\(.seq) \(.node) \(.state)"'; }
sse_done() { awk '/^event: done$/ { getline; sub(/^data: /, ""); print }' "$T/sse"; }

# ---- bad requests: refused whole, nothing started -------------------------------------------------
before=$(n_ops)
bulk '{"kind": "power", "params": {"action": "status"}, "nodes": ["node-01", "node-99", "node-02"]}'
[ "$STATUS" = 404 ] || fail "unknown node: $STATUS $(short_body)"
jq_eq .error.message 'unknown node "node-99" (nodes[1]): not in the inventory; nothing was started'
bulk '{"kind": "power", "params": {"action": "status"}, "nodes": ["node-01", "node-02", "node-01"]}'
[ "$STATUS" = 400 ] || fail "duplicate node: $STATUS $(short_body)"
jq_eq .error.message 'node "node-01" is named twice in "nodes" (nodes[0] and nodes[2])'
bulk '{"kind": "power", "params": {"action": "status"}, "nodes": []}'
[ "$STATUS" = 400 ] || fail "no nodes: $STATUS"
jq_eq .error.message '"nodes" must be a non-empty array of node names'
bulk "$(jq -nc '{kind: "power", params: {action: "status"}, nodes: [range(4097) | "n\(.)"]}')"
[ "$STATUS" = 400 ] || fail "too many nodes: $STATUS"
jq_eq .error.message '"nodes" names 4097 nodes; at most 4096 go in one request'
bulk '{"kind": "explode", "nodes": ["node-01"]}'
[ "$STATUS" = 400 ] || fail "unknown kind: $STATUS"
jq_eq .error.message '"kind" must be one of reinstall, power, bootdev, reboot, not "explode"'
bulk '{"kind": "power", "params": {"action": "sideways"}, "nodes": ["node-01"]}'
[ "$STATUS" = 400 ] || fail "bad action: $STATUS"
bulk '{"kind": "power", "params": {"action": "status"}, "nodes": ["node-01", 7]}'
[ "$STATUS" = 400 ] || fail "a number as a node: $STATUS"
jq_eq .error.message 'nodes[1] is not a node name (a string of 1 to 63 bytes)'
bulk '{"kind": "power", "params": {"action": "status"}, "nodes": ["node-01"], "when": "now"}'
[ "$STATUS" = 400 ] || fail "unknown field: $STATUS"
head -c 1100000 /dev/zero | tr '\0' ' ' >"$T/big.json"
http POST /v1/bulk-operations "${AUTH[@]}" -H 'Content-Type: application/json' --data-binary "@$T/big.json"
[ "$STATUS" = 413 ] || fail "body over 1 MiB: $STATUS"
http POST /v1/bulk-operations -H 'Content-Type: application/json' --data-binary '{"kind": "power", "params": {"action": "off"}, "nodes": ["node-01"]}'
[ "$STATUS" = 401 ] || fail "no token: $STATUS"
[ "$(n_ops)" = "$before" ] || fail "a refused bulk request started operations"
expect_status 404 GET /v1/bulk-operations/1
ok "bad requests refused whole (404 unknown node, 400 duplicate/empty/too many/kind/params/field, 413, 401), nothing started"

# ---- power status of five nodes, one BMC dead ---------------------------------------------------
for i in 1 2 3 4; do sim_ipmitool "$i" chassis power on >/dev/null; done
start=$(date +%s%N)
bulk '{"kind": "power", "params": {"action": "status"}, "nodes": ["node-01", "node-02", "node-03", "node-04", "node-05"]}'
[ "$STATUS" = 202 ] || fail "bulk power status: $STATUS $(short_body)"
jq_eq .bulk_operation.kind power
jq_eq .bulk_operation.params.action status
jq_eq .bulk_operation.counts.total 5
jq_eq '[.bulk_operation.nodes[].node] | join(" ")' "node-01 node-02 node-03 node-04 node-05"
jq_eq '[.bulk_operation.nodes[].operation | type] | unique | join(" ")' number
ID=$BULK
follow "$ID"
ms=$((($(date +%s%N) - start) / 1000000))
grep -qi '^content-type: text/event-stream' "$T/sse.head" || fail "follow: not an event stream: $(cat "$T/sse.head")"
[ "$(sse_nodes | wc -l)" = 5 ] || fail "follow: not 5 node events: $(cat "$T/sse")"
[ "$(sse_nodes | awk '{print $1}' | tr '\n' ' ')" = "1 2 3 4 5 " ] || fail "node events not numbered 1..5: $(sse_nodes)"
[ "$(sse_nodes | tail -n1)" = "5 node-05 failed" ] || fail "the dead BMC's node did not finish last: $(sse_nodes)"
[ "$(sse_nodes | grep -c ' succeeded$')" = 4 ] || fail "not 4 nodes succeeded: $(sse_nodes)"
[ "$(grep -c '^id: ' "$T/sse")" = 5 ] || fail "not one id per node event: $(cat "$T/sse")"
[ "$(sse_done | jq -r '.state + " " + (.counts.succeeded | tostring) + " " + (.counts.failed | tostring)')" = "failed 4 1" ] ||
        fail "done event: $(sse_done)"
[ "$ms" -lt 8000 ] || fail "the stream of a 2 s BMC timeout took $ms ms"
expect_status 200 GET "/v1/bulk-operations/$ID"
jq_eq .state failed
jq_eq '.nodes[0].result' on
jq_eq '.nodes[4].state' failed
jq_eq '.nodes[4].error.code' timeout
printf '%s' "$BODY" | jq -r '.nodes[4].error.message' | grep -qE '^node-05: .*(did not answer|timed out|timeout)' || fail "node-05's error: $BODY"
jq_eq '[.nodes[].error] | map(select(. == null)) | length' 4
opid=$(printf '%s' "$BODY" | jq -r '.nodes[1].operation')
expect_status 200 GET "/v1/operations/$opid"
jq_eq .node node-02
jq_eq .result on
# Resumed after node event 3: events 4 and 5, then done.
follow "$ID" 3
[ "$(sse_nodes | awk '{print $1}' | tr '\n' ' ')" = "4 5 " ] || fail "Last-Event-ID 3: $(cat "$T/sse")"
[ -n "$(sse_done)" ] || fail "Last-Event-ID 3: no done event"
http GET "/v1/bulk-operations/$ID?follow=1" -H 'Last-Event-ID: x'
[ "$STATUS" = 400 ] || fail "Last-Event-ID x: $STATUS"
http GET "/v1/bulk-operations/$ID?follow=yes"
[ "$STATUS" = 400 ] || fail "follow=yes: $STATUS"
curl -sS --head --max-time 5 "$URL/v1/bulk-operations/$ID?follow=1" >"$T/head" || fail "HEAD follow"
grep -qi '^content-type: text/event-stream' "$T/head" || fail "HEAD follow: $(cat "$T/head")"
ok "bulk power status of 5 nodes: one id, 4 succeeded, the dead BMC failed alone (timeout) in $ms ms; stream in finishing order, done, Last-Event-ID resumes"

# ---- power cycle, with a node without a BMC and a busy node -------------------------------------
offs() { sim_events "$1" | grep -c '^power 0' || true; }
declare -A off0=()
for i in 1 2 3 4; do off0[$i]=$(offs "$i"); done
http POST /v1/nodes/node-05/power "${AUTH[@]}" -H 'Content-Type: application/json' --data-binary '{"action":"on"}'
[ "$STATUS" = 202 ] || fail "single power on of node-05: $STATUS"
bulk '{"kind": "power", "params": {"action": "cycle"}, "nodes": ["node-01", "node-02", "node-03", "node-04", "node-05", "node-06"]}'
[ "$STATUS" = 202 ] || fail "bulk cycle: $STATUS $(short_body)"
jq_eq '.bulk_operation.nodes[4].error.code' conflict
printf '%s' "$BODY" | jq -r '.bulk_operation.nodes[4].error.message' | grep -q 'node-05 already has operation [0-9]* in progress' ||
        fail "busy node-05: $BODY"
jq_eq '.bulk_operation.nodes[5].error.message' 'node node-06 has no bmc in the inventory'
jq_eq '.bulk_operation.nodes[5].operation' null
# Refused at once: already failed in the 202 answer, then in the stream.  Which node finishes
# first is not asserted: on a shared store each start before them writes its operation's row
# first, and a quick BMC's cycle may end meanwhile.
jq_eq '[.bulk_operation.nodes[4, 5].state] | join(" ")' "failed failed"
ID=$BULK
follow "$ID"
[ "$(sse_nodes | grep -c ' succeeded$')" = 4 ] || fail "cycle: not 4 succeeded: $(cat "$T/sse")"
[ "$(sse_nodes | awk '$3 == "failed" { print $2 }' | sort | tr '\n' ' ')" = "node-05 node-06 " ] ||
        fail "the refused nodes are not in the stream as failed: $(sse_nodes)"
sleep 0.5 # the simulators' chassis program runs after the answer
for i in 1 2 3 4; do
        [ "$(offs "$i")" -gt "${off0[$i]}" ] || fail "simulator $i saw no power off in the cycle: $(sim_events "$i")"
done
expect_status 200 GET "/v1/bulk-operations/$ID"
jq_eq '.state + " " + (.counts.succeeded | tostring) + " " + (.counts.failed | tostring)' "failed 4 2"
ok "bulk power cycle: 4 simulators cycled; node without a BMC and busy node fail alone (conflict)"

# ---- the CLI ------------------------------------------------------------------------------------
: >"$T/empty.ini"
cli() { "$PROVD" --config "$T/empty.ini" --url "$URL" --token-file "$T/token" "$@"; }
run_cli() {
        local want=$1 rc=0
        shift
        cli "$@" >"$T/out" 2>"$T/err" || rc=$?
        [ "$rc" = "$want" ] || fail "provd $*: exit $rc, expected $want; stdout: $(head -c 800 "$T/out"); stderr: $(head -c 800 "$T/err")"
        if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$T/err"; then
                cat "$T/err" >&2
                fail "sanitizer report from provd $*"
        fi
}
# 202 answers of the operations routes: one per single-node POST, one per bulk POST.
power_posts() { curl -s "$URL/metrics" | awk '/^provd_http_requests_total\{route="operations",code="202"\}/ { s += $NF } END { print s + 0 }'; }
next_bulk=$((ID + 1))
"$PROVD" power --help >"$T/help"
grep -q 'bulk' "$T/help" || fail "power --help says nothing of the bulk route"
grep -q '^Exit status' "$T/help" || fail "power --help has no exit status"

# Wait for node-05's single power on to end (its BMC is dead).
for _ in $(seq 50); do
        [ "$(curl -s "$URL/v1/operations?node=node-05" | jq -r '.operations[0].state')" = failed ] && break
        sleep 0.1
done
run_cli 1 power 'node-0[1-5]' status
[ "$(head -n1 "$T/out" | tr -s ' ')" = "NODE RESULT" ] || fail "power status header: $(cat "$T/out")"
[ "$(wc -l <"$T/out")" = 6 ] || fail "power status on 5 nodes: $(cat "$T/out")"
for n in 1 2 3 4; do grep -qE "^node-0$n  +on$" "$T/out" || fail "node-0$n not on: $(cat "$T/out")"; done
grep -qE '^node-05  +error: .*(did not answer|timed out|timeout)' "$T/out" || fail "node-05's error: $(cat "$T/out")"
[ "$(tail -n1 "$T/out" | awk '{print $1}')" = node-05 ] || fail "node-05 (2 s timeout) not printed last: $(cat "$T/out")"
expect_status 200 GET "/v1/bulk-operations/$next_bulk"
jq_eq '.counts.total' 5
next_bulk=$((next_bulk + 1))
ok "provd power GLOB status: one bulk operation, each node's result as it finished, the dead BMC's error, exit 1"

posts=$(power_posts)
run_cli 0 power node-01 node-03 node-02 status
[ "$(awk 'NR > 1 {print $1}' "$T/out" | sort | tr '\n' ' ')" = "node-01 node-02 node-03 " ] || fail "power status of 3 names: $(cat "$T/out")"
[ "$(($(power_posts) - posts))" = 1 ] || fail "power on 3 names made $(($(power_posts) - posts)) POSTs, expected one"
run_cli 0 bootdev node-01 node-02 pxe
[ "$(sim_boot 1) $(sim_boot 2)" = "pxe pxe" ] || fail "bootdev pxe: simulators' boot devices $(sim_boot 1) $(sim_boot 2)"
grep -qE '^node-01  +ok$' "$T/out" || fail "bootdev output: $(cat "$T/out")"
run_cli 0 power node-01 node-02 status --json
[ "$(jq -r '.bulk_operations[0].state + " " + (.bulk_operations[0].counts.succeeded | tostring)' "$T/out")" = "succeeded 2" ] ||
        fail "power --json: $(cat "$T/out")"
next_bulk=$((next_bulk + 3))
before=$(n_ops)
run_cli 3 power node-01 node-98 node-99 off
grep -q 'unknown node "node-98" (nodes\[1\]) and 1 more not in the inventory' "$T/err" || fail "unknown nodes: $(cat "$T/err")"
grep -q 'nothing submitted' "$T/err" || fail "unknown nodes: $(cat "$T/err")"
[ "$(n_ops)" = "$before" ] && [ "$(sim_power 1)" = 1 ] || fail "power with unknown nodes changed something"
ok "provd power/bootdev on several names: one POST, exit 0, simulators changed; --json; unknown names: exit 3, nothing started"

# One node: the single-node route, as before.
run_cli 0 power node-02 status
[ "$(tr -s ' ' <"$T/out")" = "$(printf 'NODE RESULT\nnode-02 on')" ] || fail "one node: $(cat "$T/out")"
http GET "/v1/bulk-operations/$next_bulk"
[ "$STATUS" = 404 ] || fail "one node went through the bulk route"

# reinstall without --wait: the operations as started; node-06 (no BMC) only marked.
run_cli 0 reinstall node-06 node-03
[ "$(head -n1 "$T/out" | tr -s ' ')" = "NODE OPERATION MESSAGE" ] || fail "reinstall header: $(cat "$T/out")"
id6=$(awk '$1 == "node-06" { print $2 }' "$T/out")
[[ $id6 =~ ^[0-9]+$ ]] || fail "reinstall printed no operation id for node-06: $(cat "$T/out")"
expect_status 200 GET "/v1/operations/$id6"
jq_eq .kind reinstall
jq_eq .state succeeded
expect_status 200 GET "/v1/bulk-operations/$next_bulk"
jq_eq .kind reinstall
jq_eq '[.nodes[].node] | join(" ")' "node-06 node-03"
ok "one node keeps the single-node route; reinstall of two nodes: one bulk operation, their operation ids"
provd_stop
