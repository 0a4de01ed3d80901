#!/bin/bash
# operations — BMC operations through provd's API against OpenIPMI ipmi_sim simulators:
# power status/off/on, boot device, reinstall (mark -> boot device pxe -> power status ->
# cycle, or on when the node is off), boot device set to disk after the installer's success, a dead BMC (timeout, API
# still fast), a wrong password, a node without a BMC, one operation per node at a time,
# auth, bad bodies, BMC metrics, and the install deadline.  Results are checked on the
# simulators' side (the chassis_control state files), not only in provd's answers.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib-ipmi.sh"
for tool in ipmi_sim ipmitool jq; do
        command -v "$tool" >/dev/null || { echo "$tool missing"; [ "${PROVD_TESTS_NO_SKIP:-}" = 1 ] && exit 1; exit 77; }
done

sim_base
sim_start 1
sim_start 2
sim_start 3
sim_wait 1 2 3

umask 077
printf '%s\n' "$SIM_PASSWORD" >"$T/bmc-pass"
printf 'not-the-password\n' >"$T/bmc-wrong"
ADMIN=$(api_token "$T/tokens")
AUTH=(-H "Authorization: Bearer $ADMIN")

# node-01..03 on simulators 1..3 (node-03 with a wrong password), node-04 on an address
# where nothing answers, node-05 without a BMC; node-06 and node-07 on simulator 1 with a
# cipher suite it does not support (17) and without the workaround it needs.
make_inventory "$T/inv.json" 7
bmc() { printf '{"host": "%s", "user": "%s", "password_file": "%s", "workarounds": ["opensesspriv"], "cipher_suite": 3}' "$1" "$SIM_USER" "$2"; }
jq --argjson b1 "$(bmc "$(sim_addr 1)" "$T/bmc-pass")" --argjson b2 "$(bmc "$(sim_addr 2)" "$T/bmc-pass")" \
        --argjson b3 "$(bmc "$(sim_addr 3)" "$T/bmc-wrong")" --argjson b4 "$(bmc "$SIM_NET.200" "$T/bmc-pass")" \
        '.nodes[0].bmc = $b1 | .nodes[1].bmc = $b2 | .nodes[2].bmc = $b3 | .nodes[3].bmc = $b4 | del(.nodes[4].bmc)
         | .nodes[5].bmc = ($b1 | .cipher_suite = 17) | .nodes[6].bmc = ($b1 | del(.workarounds))' \
        "$T/inv.json" >"$T/inv2.json" && mv "$T/inv2.json" "$T/inv.json"

provd_start "$T/inv.json" --api-tokens "$T/tokens" --bmc-timeout 2 --bmc-retries 0

# op NODE KIND [JSON]: POST, expect 202, sets OP to the operation id.
op() {
        local body=${3:-}
        [ -n "$body" ] || body='{}'
        http POST "/v1/nodes/$1/$2" "${AUTH[@]}" -H 'Content-Type: application/json' --data-binary "$body"
        [ "$STATUS" = 202 ] || fail "POST /v1/nodes/$1/$2 $3: expected 202, got $STATUS: $(short_body)"
        OP=$(printf '%s' "$BODY" | jq -r .operation.id)
}
# op_wait [SECONDS]: polls GET /v1/operations/$OP until it ends; sets BODY to it.
op_wait() {
        local i
        for i in $(seq 1 $((${1:-10} * 10))); do
                http GET "/v1/operations/$OP"
                [ "$STATUS" = 200 ] || fail "GET /v1/operations/$OP: $STATUS $(short_body)"
                case $(printf "%s" "$BODY" | jq -r .state) in
                succeeded | failed) return 0 ;;
                esac
                sleep 0.1
        done
        fail "operation $OP did not end within ${1:-10} s: $BODY"
}

op node-01 power '{"action": "status"}'
op_wait
jq_eq .state succeeded
jq_eq .result "$([ "$(sim_power 1)" = 1 ] && echo on || echo off)"
op node-01 power '{"action": "off"}'
op_wait
jq_eq .state succeeded
[ "$(sim_power 1)" = 0 ] || fail "power off: the simulator's power is $(sim_power 1)"
op node-01 power '{"action": "status"}'
op_wait
jq_eq .result off
op node-01 power '{"action": "on"}'
op_wait
jq_eq .state succeeded
[ "$(sim_power 1)" = 1 ] || fail "power on: the simulator's power is $(sim_power 1)"
ok "power status/off/on reach the simulator"

op node-02 bootdev '{"device": "pxe"}'
op_wait
jq_eq .state succeeded
jq_eq '.params | [.device, .persistent, .efi] | map(tostring) | join(" ")' "pxe false false"
[ "$(sim_boot 2)" = pxe ] || fail "bootdev pxe: the simulator's boot device is $(sim_boot 2)"
op node-02 bootdev '{"device": "disk", "persistent": true}'
op_wait
[ "$(sim_boot 2)" = default ] || fail "bootdev disk: the simulator's boot device is $(sim_boot 2)"
ok "boot device pxe / disk reach the simulator"

# Reinstall of a node that is off: the power status says off, so power on, not cycle.
op node-02 power '{"action": "off"}'
op_wait
[ "$(sim_power 2)" = 0 ] || fail "power off: the simulator's power is $(sim_power 2)"
op node-02 reinstall
op_wait 20
jq_eq .state succeeded
jq_eq '[.steps[] | .name + ":" + .state + ":" + (.result // "")] | join(" ")' \
        "mark:succeeded:pending bootdev:succeeded:ok power_status:succeeded:off power:succeeded:ok"
jq_eq .result "power on: the node network-boots into the installer"
for _ in $(seq 50); do [ "$(sim_power 2)" = 1 ] && break; sleep 0.1; done
[ "$(sim_power 2)" = 1 ] || fail "reinstall of a node that is off: the simulator's power is $(sim_power 2)"
expect_status 200 GET /v1/nodes/node-02
jq_eq '[.history[] | select(.cause == "bmc") | .message] | .[-3:] | join("; ")' \
        "reinstall: boot device set to pxe (one-time, legacy); reinstall: power is off; reinstall: power on"
ok "reinstall of a node that is off: power status off, then power on (not cycle)"

# Reinstall: marked, boot device pxe, then a power cycle (the node is on).
events_before=$(sim_events 1 | wc -l)
op node-01 reinstall
op_wait 20
jq_eq .state succeeded
jq_eq '[.steps[] | .name + ":" + .state] | join(" ")' "mark:succeeded bootdev:succeeded power_status:succeeded power:succeeded"
jq_eq '.steps[2].result' on
# ipmi_sim completes a cycle asynchronously: power 0, then power 1 a second or two later.
for _ in $(seq 50); do sim_events 1 | tail -n +$((events_before + 1)) | grep -q 'power 1' && break; sleep 0.1; done
sim_events 1 | tail -n +$((events_before + 1)) >"$T/ev1"
grep -q 'boot pxe' "$T/ev1" || fail "reinstall: no boot pxe on the simulator: $(cat "$T/ev1")"
grep -q 'power 0' "$T/ev1" && grep -q 'power 1' "$T/ev1" || fail "reinstall: no power cycle on the simulator: $(cat "$T/ev1")"
[ "$(grep -n 'boot pxe' "$T/ev1" | head -1 | cut -d: -f1)" -lt "$(grep -n 'power 0' "$T/ev1" | head -1 | cut -d: -f1)" ] ||
        fail "reinstall: power cycled before the boot device was set: $(cat "$T/ev1")"
expect_status 200 GET /v1/nodes/node-01
jq_eq .state pending
jq_eq '[.history[] | select(.cause == "bmc") | .message] | join("; ")' \
        "power off; power on; reinstall: boot device set to pxe (one-time, legacy); reinstall: power is on; reinstall: power cycle"
ok "reinstall: pending, boot device pxe then power cycle on the simulator, all in the history"

# The node installs; then provd sets its boot device to disk, persistently.
tok=$(token_of 52:54:00:00:00:01)
event "$tok" '{"phase": "succeeded"}'
for _ in $(seq 50); do [ "$(sim_boot 1)" = default ] && break; sleep 0.1; done
[ "$(sim_boot 1)" = default ] || fail "after install: the simulator's boot device is $(sim_boot 1), not disk"
for _ in $(seq 30); do
        http GET /v1/nodes/node-01
        printf '%s' "$BODY" | jq -e '.history[-1].message == "after install: boot device set to disk (persistent, legacy)"' >/dev/null && break
        sleep 0.1
done
jq_eq '.history[-1] | [.cause, .message, .from, .to] | join("|")' "bmc|after install: boot device set to disk (persistent, legacy)|installed|installed"
ok "after the installer's success provd sets the boot device to disk (persistent) through the BMC"

# A dead BMC costs its timeout, not the API's responsiveness.
op node-04 power '{"action": "status"}'
t0=$(date +%s%N)
for _ in $(seq 5); do expect_status 200 GET /v1/summary; done
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$ms" -lt 1500 ] || fail "5 API reads took $ms ms while a BMC was timing out"
op_wait 10
jq_eq .state failed
jq_eq .error.code timeout
printf '%s' "$BODY" | jq -r .error.message | grep -q "$SIM_NET.200" || fail "timeout message does not name the BMC: $BODY"
expect_status 200 GET /v1/nodes/node-04
jq_eq '.history[-1].cause' bmc
ok "dead BMC: timeout after bmc_timeout, recorded; the API answered meanwhile ($ms ms for 5 reads)"

op node-03 power '{"action": "status"}'
op_wait
jq_eq .error.code auth
grep -q "$SIM_PASSWORD\|not-the-password" <<<"$BODY" && fail "a password appears in the answer: $BODY"
grep -q "not-the-password" "$LOG" && fail "a password appears in provd's log"
ok "wrong password: auth error, no password anywhere"

# The inventory's cipher suite and workarounds reach FreeIPMI: the same simulator that
# answers node-01 refuses suite 17 and a session without the open-session-privilege workaround.
op node-06 power '{"action": "status"}'
op_wait
jq_eq .state failed
jq_eq .error.code error
op node-07 power '{"action": "status"}'
op_wait
jq_eq .state failed
jq_eq .error.code auth
op node-01 power '{"action": "status"}'
op_wait
jq_eq .state succeeded
ok "cipher suite and workarounds come from the inventory's bmc (17 and no workaround fail on ipmi_sim)"

http POST /v1/nodes/node-05/power "${AUTH[@]}" --data-binary '{"action": "on"}'
[ "$STATUS" = 409 ] || fail "power on a node without BMC: $STATUS $BODY"
jq_eq .error.code conflict
op node-05 reinstall
op_wait
jq_eq .state succeeded
jq_eq .result "marked for install; no BMC: power-cycle the node by hand"
expect_status 200 GET /v1/nodes/node-05
jq_eq .state pending
ok "node without a BMC: power is a 409, reinstall only marks it"

# node-04's BMC does not answer: its reinstall stays in its first BMC step for 2 s.
op node-04 reinstall
first=$OP
http POST /v1/nodes/node-04/reinstall "${AUTH[@]}"
[ "$STATUS" = 409 ] || fail "second reinstall while the first runs: $STATUS $BODY"
printf '%s' "$BODY" | grep -q "operation $first" || fail "409 does not name the running operation: $BODY"
OP=$first
op_wait 20
jq_eq '[.steps[] | .name + ":" + .state] | join(" ")' "mark:succeeded bootdev:failed power_status:skipped power:skipped"
op node-04 reinstall
op_wait 20
ok "one admin operation per node at a time (409 names the running one); a failed step skips the rest"

expect_status 401 POST /v1/nodes/node-01/power --data-binary '{"action": "status"}'
http POST /v1/nodes/node-01/reinstall -H "Authorization: Bearer $(token_of 52:54:00:00:00:02)"
[ "$STATUS" = 403 ] || fail "install token on reinstall: $STATUS"
expect_status 400 POST /v1/nodes/node-01/power "${AUTH[@]}" --data-binary '{"action": "explode"}'
expect_status 400 POST /v1/nodes/node-01/power "${AUTH[@]}" --data-binary '{"action": "on", "force": true}'
expect_status 400 POST /v1/nodes/node-01/bootdev "${AUTH[@]}" --data-binary '{"device": "floppy"}'
expect_status 400 POST /v1/nodes/node-01/bootdev "${AUTH[@]}" --data-binary '[]'
expect_status 400 POST /v1/nodes/node-01/reinstall "${AUTH[@]}" --data-binary '{"now": 1}'
expect_status 404 POST /v1/nodes/node-99/reinstall "${AUTH[@]}"
expect_status 405 GET /v1/nodes/node-01/reinstall
expect_status 404 GET /v1/operations/999999
expect_status 200 GET '/v1/operations?node=node-01'
jq_eq '[.operations[].node] | unique | join(",")' node-01
jq_eq '.operations[0].id > .operations[-1].id' true
ok "auth (401/403), bad bodies (400), unknown node/operation (404), wrong method (405), listing"

# An operation is reported ended only once its history note is on disk.  Another connection
# holds the store's write lock while node-02 is powered on: the BMC obeys at once, but while
# the note cannot commit GET /v1/operations/N must not say the operation ended (a script that
# reads the history when its operation ends finds the note there).
op node-02 power '{"action": "off"}'
op_wait
[ "$(sim_power 2)" = 0 ] || fail "power off: the simulator's power is $(sim_power 2)"
bmc_notes() { http GET /v1/nodes/node-02 && printf '%s' "$BODY" | jq '[.history[] | select(.cause == "bmc")] | length'; }
notes_before=$(bmc_notes)
store_hold 6
op node-02 power '{"action": "on"}'
for _ in $(seq 50); do [ "$(sim_power 2)" = 1 ] && break; sleep 0.1; done
[ "$(sim_power 2)" = 1 ] || fail "power on with the store locked: the simulator's power is $(sim_power 2)"
for _ in $(seq 10); do # 1 s more, the store still locked
        http GET "/v1/operations/$OP"
        case $(printf '%s' "$BODY" | jq -r .state) in
        succeeded | failed)
                [ "$(bmc_notes)" -gt "$notes_before" ] ||
                        fail "operation $OP says it ended while its history note is not on disk: $BODY"
                break
                ;;
        esac
        sleep 0.1
done
store_release
op_wait
jq_eq .state succeeded
expect_status 200 GET /v1/nodes/node-02
jq_eq '[.history[] | select(.cause == "bmc") | .message] | last' "power on"
ok "an operation ends only after its history note is on disk (the store locked meanwhile)"

expect_status 200 GET /metrics
grep -q '^provd_bmc_commands_total{command="power_cycle",result="ok"} [1-9]' "$T/body" || fail "no power_cycle ok in the metrics"
grep -q '^provd_bmc_commands_total{command="power_status",result="timeout"} 1$' "$T/body" || fail "the timeout is not in the metrics"
# node-03 (wrong password) and node-07 (no open-session-privilege workaround)
grep -q '^provd_bmc_commands_total{command="power_status",result="auth"} 2$' "$T/body" || fail "the auth failures are not in the metrics"
ok "BMC commands in the metrics by command and result"
provd_stop

# Install deadline: an attempt that does not finish in time fails with cause timeout.
STATE="$T/state2"
provd_start "$T/inv.json" --install-deadline 2
token_of 52:54:00:00:00:03 >/dev/null
for _ in $(seq 50); do
        http GET /v1/nodes/node-03
        [ "$(printf '%s' "$BODY" | jq -r .state)" = failed ] && break
        sleep 0.1
done
jq_eq .state failed
jq_eq '.history[-1].cause' timeout
jq_eq .attempt.outcome timeout
expect_status 200 GET /metrics
grep -q '^provd_install_attempts_total{outcome="timeout"} 1$' "$T/body" || fail "the timed-out attempt is not in the metrics"
ok "install deadline: netbooting -> failed, cause timeout, attempt outcome timeout"
provd_stop
