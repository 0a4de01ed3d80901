#!/usr/bin/env bash
# bmcops-racks — BMC operations on a shared PostgreSQL database, each instance serving its own
# racks (--bmc-racks): instance a serves rack r1 (node-01, simulator 1), b serves r2 (node-02,
# simulator 2).  An operation asked of the instance that does not serve the node's rack is
# queued (202, state queued, no holder) and run by the one that does; either instance answers
# GET /v1/operations/ID with the same outcome; a bulk reinstall on a of both nodes runs node-01
# on a and learns node-02's outcome from b's run; node-02's boot device to disk after an
# install reported to a is set by b.  Each instance's inventory points the other
# rack's BMC at an address where a UDP listener counts what arrives (a BMC network only the
# other instance reaches): nothing may arrive there.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib-ipmi.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib-bmcops.sh"

sim_base
sim_start 1
sim_start 2
sim_wait 1 2
udp_trap 51
udp_trap 52
pg_start

# a's inventory: node-02's BMC at trap 52; b's: node-01's at trap 51.
make_inventory "$T/inv.json" 2
trap_json() { printf '{"host": "%s", "user": "%s", "password_file": "%s", "workarounds": ["opensesspriv"], "cipher_suite": 3, "console": "none"}' "$SIM_NET.$1" "$SIM_USER" "$T/bmc-pass"; }
jq --argjson b1 "$(bmc_json 1)" --argjson t2 "$(trap_json 52)" \
        '.nodes[0].bmc = $b1 | .nodes[0].rack = "r1" | .nodes[1].bmc = $t2 | .nodes[1].rack = "r2"' "$T/inv.json" >"$T/inv-a.json"
jq --argjson t1 "$(trap_json 51)" --argjson b2 "$(bmc_json 2)" \
        '.nodes[0].bmc = $t1 | .nodes[0].rack = "r1" | .nodes[1].bmc = $b2 | .nodes[1].rack = "r2"' "$T/inv.json" >"$T/inv-b.json"
instance a "$T/inv-a.json" --bmc-racks r1 --bmc-timeout 5 --bmc-retries 0
instance b "$T/inv-b.json" --bmc-racks r2 --bmc-timeout 5 --bmc-retries 0

# 1. power on node-02 asked of a: queued for b, run by b.
echo 0 >"$(sim_dir 2)/power"
op_post a node-02 power '{"action": "on"}'
[ "$(printf '%s' "$BODY" | jq -r '.operation.state + " " + (.operation.holder // "null")')" = "queued null" ] ||
        fail "a answered $BODY, not a queued operation"
op_wait a "$OP" 20
jq_eq .state succeeded
jq_eq .holder b
on b GET "/v1/operations/$OP"
jq_eq .state succeeded
jq_eq .result ok
[ "$(sim_power 2)" = 1 ] || fail "simulator 2's power is $(sim_power 2)"
[ "$(sql "SELECT holder || ' ' || state || ' ' || created_by FROM bmc_ops WHERE id = $OP")" = "b succeeded a" ] ||
        fail "row $OP: $(sql "SELECT * FROM bmc_ops WHERE id = $OP")"
ok "power on node-02 (rack r2) asked of a: queued, run by b, the same answer on both"

# 2. And the other way round.
echo 0 >"$(sim_dir 1)/power"
op_post b node-01 power '{"action": "on"}'
jq_eq .operation.state queued
op_wait b "$OP" 20
jq_eq .state succeeded
jq_eq .holder a
[ "$(sim_power 1)" = 1 ] || fail "simulator 1's power is $(sim_power 1)"
ok "power on node-01 (rack r1) asked of b: run by a"

# Either instance lists every instance's operations, newest first, with their holders.
for name in a b; do
        on "$name" GET /v1/operations
        jq_eq '[.operations[] | "\(.id):\(.node):\(.holder)"] | join(" ")' "$OP:node-01:a $((OP - 1)):node-02:b"
        on "$name" GET '/v1/operations?node=node-02'
        jq_eq '[.operations[].id] | join(" ")' "$((OP - 1))"
done
ok "a and b list both operations alike (GET /v1/operations[?node=])"

# 3. One operation per node across instances: while node-02's runs (its BMC hangs), a second
# one asked of a is refused, naming the first.
touch "$(sim_dir 2)/hang"
op_post b node-02 power '{"action": "status"}'
first=$OP
on a POST /v1/nodes/node-02/power "${AUTH[@]}" -H 'Content-Type: application/json' --data-binary '{"action": "off"}'
[ "$STATUS" = 409 ] || fail "a second operation on node-02: $STATUS $(short_body)"
printf '%s' "$BODY" | grep -q "operation $first in progress" || fail "the refusal does not name operation $first: $BODY"
rm "$(sim_dir 2)/hang"
op_wait a "$first" 20
jq_eq .state succeeded
ok "a second operation on node-02 while one runs on b: 409 naming it"

# 4. A bulk reinstall on a: node-01 runs on a, node-02 on b; a's bulk shows both outcomes.
echo 1 >"$(sim_dir 1)/power"
echo 1 >"$(sim_dir 2)/power"
bulk_run a 30 '{"kind": "reinstall", "nodes": ["node-01", "node-02"]}'
jq_eq .state succeeded
jq_eq .counts.succeeded 2
for n in 0 1; do
        id=$(printf '%s' "$BODY" | jq -r ".nodes[$n].operation")
        want=$([ $n = 0 ] && echo a || echo b)
        [ "$(sql "SELECT holder || ' ' || state FROM bmc_ops WHERE id = $id")" = "$want succeeded" ] ||
                fail "bulk node $n: row $(sql "SELECT * FROM bmc_ops WHERE id = $id")"
done
for n in 1 2; do
        # ipmi_sim powers a cycled chassis on again a moment after it powered it off.
        for _ in $(seq 1 50); do
                sim_events "$n" | tail -n 3 | tr '\n' ' ' | grep -q 'boot pxe power 0 power 1' && break
                sleep 0.2
        done
        sim_events "$n" | tail -n 3 | tr '\n' ' ' | grep -q 'boot pxe power 0 power 1' ||
                fail "simulator $n: no boot pxe then power cycle: $(sim_events "$n" | tail -n 4 | tr '\n' ' ')"
done
ok "a bulk reinstall on a: node-01 run by a, node-02 by b, both succeeded in a's bulk"

# 5. node-02 installs through a (boot and installer's success both to a): the boot device to
# disk after the install is queued for b, which serves r2, and runs there.
tok=$(URL=$a_URL token_of 52:54:00:00:00:02)
URL=$a_URL event "$tok" '{"phase": "succeeded"}'
[ "$STATUS" = 200 ] || fail "installer event to a: $STATUS $(short_body)"
for _ in $(seq 1 100); do [ "$(sim_boot 2)" = default ] && break; sleep 0.1; done
[ "$(sim_boot 2)" = default ] || fail "after install: simulator 2's boot device is $(sim_boot 2), not disk"
for _ in $(seq 1 50); do
        on a GET /v1/nodes/node-02
        printf '%s' "$BODY" | jq -e '.history[-1].message == "after install: boot device set to disk (persistent, legacy)"' >/dev/null && break
        sleep 0.1
done
jq_eq '.history[-1] | [.cause, .message, .to] | join("|")' "bmc|after install: boot device set to disk (persistent, legacy)|installed"
[ "$(sql "SELECT holder || ' ' || state || ' ' || created_by FROM bmc_ops WHERE kind = 'bootdev-after-install'")" = "b succeeded a" ] ||
        fail "after-install rows: $(sql "SELECT * FROM bmc_ops WHERE kind = 'bootdev-after-install'")"
ok "node-02 installed through a: its boot device set to disk by b"

# 6. Nothing reached a BMC address of a rack the instance does not serve.
for n in 51 52; do
        [ ! -s "$T/trap-$n" ] || fail "$(wc -l <"$T/trap-$n") datagrams reached the BMC address $SIM_NET.$n"
done
ok "no instance sent anything to a BMC of a rack it does not serve"

PROVD_PID=$b_PID LOG=$b_LOG provd_stop
PROVD_PID=$a_PID LOG=$a_LOG provd_stop
