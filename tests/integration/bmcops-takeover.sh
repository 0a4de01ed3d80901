#!/usr/bin/env bash
# bmcops-takeover — a reinstall started on instance a, which is killed (-9) in the middle of its
# BMC steps (its simulator holds the boot device command: the chassis_control program waits),
# is taken over by instance b once a's lease on it expired: b records the takeover in node-01's
# history, runs the operation again from its first step ("already pending") and the simulator
# sees the boot device set to pxe and a power cycle after a died.  Both instances serve every
# rack; the operation's row ends succeeded, held by b, taken over once.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib-ipmi.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib-bmcops.sh"

sim_base
sim_start 1
sim_wait 1
pg_start
make_inventory "$T/inv.json" 1
jq --argjson b1 "$(bmc_json 1)" '.nodes[0].bmc = $b1 | .nodes[0].rack = "r1"' "$T/inv.json" >"$T/inv1.json"
instance a "$T/inv1.json" --bmc-timeout 60 --bmc-retries 0
instance b "$T/inv1.json" --bmc-timeout 10 --bmc-retries 0

# step_running K: waits (up to 10 s) until step K of operation $OP is running, as b sees it;
# $BODY is then that operation.
step_running() {
        for _ in $(seq 1 100); do
                on b GET "/v1/operations/$OP"
                [ "$(printf '%s' "$BODY" | jq -r ".steps[$1].state")" = running ] && return 0
                sleep 0.1
        done
}

# a runs the reinstall itself (it serves every rack); the simulator holds its boot device
# command.
echo 1 >"$(sim_dir 1)/power"
touch "$(sim_dir 1)/hang"
op_post a node-01 reinstall
jq_eq .operation.holder a
step_running 1
jq_eq '.steps[0].result' pending
jq_eq '.steps[1].state' running
jq_eq .holder a
kill -KILL "$a_PID"
wait "$a_PID" 2>/dev/null || true
killed_at=$(date +%s)
events_before=$(sim_events 1 | wc -l)
rm "$(sim_dir 1)/hang"
ok "a killed while its reinstall waits on the BMC (b shows the operation running on a)"

# b takes it over after the lease (15 s after a's last renewal) and runs it to the end.
op_wait b "$OP" 45
jq_eq .state succeeded
jq_eq .holder b
jq_eq '.steps[0].result' "already pending"
took=$(($(date +%s) - killed_at))
[ "$(sql "SELECT state || ' ' || holder || ' ' || takeovers FROM bmc_ops WHERE id = $OP")" = "succeeded b 1" ] ||
        fail "row $OP: $(sql "SELECT * FROM bmc_ops WHERE id = $OP")"
on b GET /v1/nodes/node-01
printf '%s' "$BODY" | jq -e --arg m "operation $OP (reinstall) taken over from instance a, whose lease expired" \
        '[.history[] | select(.message == $m)] | length == 1' >/dev/null ||
        fail "no takeover in node-01's history: $(printf '%s' "$BODY" | jq -c '[.history[].message]')"
jq_eq .state pending
ok "b took operation $OP over ${took} s after a died, recorded it in the history, and finished it"

# The simulator saw, after a died, the boot device set to pxe and a power cycle.
for _ in $(seq 1 50); do
        sim_events 1 | tail -n +$((events_before + 1)) | tr '\n' ' ' | grep -q 'boot pxe.*power 0 power 1' && break
        sleep 0.2
done
after=$(sim_events 1 | tail -n +$((events_before + 1)) | tr '\n' ' ')
printf '%s' "$after" | grep -q 'boot pxe.*power 0 power 1' || fail "the simulator after a died: $after"
ok "the simulator saw boot pxe and a power cycle after a died: $after"

# b restarted under its name after a kill -9 takes its own operations over at once, without
# waiting for their leases.
touch "$(sim_dir 1)/hang"
op_post b node-01 power '{"action": "cycle"}'
step_running 0
jq_eq '.steps[0].state' running
kill -KILL "$b_PID"
wait "$b_PID" 2>/dev/null || true
events_before=$(sim_events 1 | wc -l)
rm "$(sim_dir 1)/hang"
killed_at=$(date +%s)
instance b "$T/inv1.json" --bmc-timeout 10 --bmc-retries 0
op_wait b "$OP" 30
jq_eq .state succeeded
took=$(($(date +%s) - killed_at))
[ "$took" -lt 12 ] || fail "the restarted b took operation $OP over after $took s, as if it waited for the lease"
[ "$(sql "SELECT state || ' ' || holder || ' ' || takeovers FROM bmc_ops WHERE id = $OP")" = "succeeded b 1" ] ||
        fail "row $OP: $(sql "SELECT * FROM bmc_ops WHERE id = $OP")"
on b GET /v1/nodes/node-01
printf '%s' "$BODY" | jq -e --arg m "operation $OP (power) taken over from instance b, whose lease expired" \
        '[.history[] | select(.message == $m)] | length == 1' >/dev/null ||
        fail "no takeover in node-01's history: $(printf '%s' "$BODY" | jq -c '[.history[].message]')"
for _ in $(seq 1 50); do
        sim_events 1 | tail -n +$((events_before + 1)) | tr '\n' ' ' | grep -q 'power 0 power 1' && break
        sleep 0.2
done
sim_events 1 | tail -n +$((events_before + 1)) | tr '\n' ' ' | grep -q 'power 0 power 1' ||
        fail "no power cycle after b restarted: $(sim_events 1 | tail -n +$((events_before + 1)) | tr '\n' ' ')"
ok "b killed -9 with a power cycle in flight and restarted: it took operation $OP over itself after ${took} s"

PROVD_PID=$b_PID LOG=$b_LOG provd_stop
