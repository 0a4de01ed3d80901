#!/usr/bin/env bash
# bmcops-race — two instances (a, b) serving rack r1 race to claim 50 BMC operations that a
# third instance (c, serving only rack r9) queued with one bulk power on of 50 nodes (ten on
# each of five simulators): each operation runs exactly once — counted on the simulators' side
# (one "power 1" per node in their chassis logs) — each row ends succeeded with one holder and
# no takeover, and c's bulk learns every node's outcome from the rows.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib-ipmi.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib-bmcops.sh"

N=50
SIMS=5
sim_base
for s in $(seq 1 $SIMS); do sim_start "$s"; done
sim_wait $(seq 1 $SIMS)
pg_start
make_inventory "$T/inv.json" $N
bmcs=$(for s in $(seq 1 $SIMS); do bmc_json "$s"; done | jq -s -c .)
jq --argjson b "$bmcs" --argjson k $SIMS \
        '.nodes |= [to_entries[] | .value + {rack: "r1", bmc: $b[.key % $k]}]' "$T/inv.json" >"$T/inv-r.json"
instance a "$T/inv-r.json" --bmc-timeout 10 --bmc-retries 1
instance b "$T/inv-r.json" --bmc-timeout 10 --bmc-retries 1
instance c "$T/inv-r.json" --bmc-racks r9
for s in $(seq 1 $SIMS); do echo 0 >"$(sim_dir "$s")/power"; done

nodes=$(jq -c '[.nodes[].name]' "$T/inv-r.json")
bulk_run c 60 "{\"kind\": \"power\", \"params\": {\"action\": \"on\"}, \"nodes\": $nodes}"
jq_eq .state succeeded
jq_eq .counts.succeeded $N
ok "c's bulk power on of $N nodes (rack r1, which c does not serve) succeeded"

# Exactly once: on the simulators' side, ten power-ons each; in the rows, one holder each.
for s in $(seq 1 $SIMS); do
        n=$(sim_events "$s" | grep -c '^power 1$' || true)
        [ "$n" = $((N / SIMS)) ] || fail "simulator $s was powered on $n times for $((N / SIMS)) operations: $(sim_events "$s" | tr '\n' ' ')"
done
[ "$(sql "SELECT count(*) FROM bmc_ops WHERE state = 'succeeded' AND takeovers = 0 AND holder IN ('a', 'b') AND created_by = 'c'")" = $N ] ||
        fail "rows: $(sql "SELECT id, node, state, holder, takeovers FROM bmc_ops")"
[ "$(sql "SELECT count(*) FROM bmc_ops")" = $N ] || fail "$(sql "SELECT count(*) FROM bmc_ops") rows for $N operations"
[ "$(sql "SELECT count(DISTINCT node) FROM bmc_ops")" = $N ] || fail "a node has two rows"
by=$(sql "SELECT holder || ':' || count(*) FROM bmc_ops GROUP BY holder ORDER BY holder" | tr '\n' ' ')
ok "each of the $N operations ran exactly once ($SIMS simulators x $((N / SIMS)) power-ons), one holder each: $by"

# Any instance answers for any of them.
id=$(printf '%s' "$BODY" | jq -r '.nodes[7].operation')
for name in a b c; do
        on "$name" GET "/v1/operations/$id"
        jq_eq .state succeeded
        jq_eq .node node-08
done
# IPMI commands each instance sent (its /metrics): c none, a and b one power on per node.
bmc_sent() {
        on "$1" GET /metrics "${AUTH[@]}"
        printf '%s\n' "$BODY" | awk '/^provd_bmc_commands_total/ { n += $NF } END { print n + 0 }'
}
[ "$(bmc_sent c)" = 0 ] || fail "c sent $(bmc_sent c) IPMI commands"
[ $(($(bmc_sent a) + $(bmc_sent b))) = $N ] || fail "a sent $(bmc_sent a) IPMI commands and b $(bmc_sent b), for $N operations"
ok "a, b and c answer GET /v1/operations/$id alike; c sent no IPMI command, a and b $N together"

for name in c b a; do
        p=${name}_PID l=${name}_LOG
        PROVD_PID=${!p} LOG=${!l} provd_stop
done
