#!/usr/bin/env bash
# The node commands of the client against a real provd:
#   provd nodes (table, --state/--name/--rack filters, --json = the API's JSON), provd node
#   (details, last history entries, --json, unknown node exit 3);
#   provd reinstall: an unknown name or a glob matching nothing exits 3 with nothing submitted;
#   without --wait one operation per node; a rolling `reinstall --all --parallel 2 --no-gate` on
#   six nodes without BMCs (they never report: no health gate, see cli-roll-gates.sh) while this
#   script plays their installers (netboot, started, succeeded — one
#   node fails) and checks that provd never has more than 2 of them pending/netbooting/
#   installing at once, and that the client exits 1 naming the failed node; --wait --json;
#   provd power / bootdev against OpenIPMI ipmi_sim BMCs (the simulator's chassis state files
#   are the ground truth), a BMC that does not answer (exit 1, timeout message within the
#   configured bmc_timeout), a node without a BMC (409 message, exit 1), a busy node (409), a
#   reinstall whose BMC step fails (--wait exits 1 with the reason).
# Exit 77 (skip) when ipmi_sim, ipmitool or ss is missing, unless PROVD_TESTS_NO_SKIP=1.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib-ipmi.sh"

for tool in jq ipmi_sim ipmitool ss; do
        command -v "$tool" >/dev/null || skip "$tool not installed"
done

unset PROVD_URL PROVD_TOKEN
: >"$T/empty.ini"
cli() { "$PROVD" --config "$T/empty.ini" --url "$URL" --token-file "$T/token" "$@"; }
# run_cli WANT_EXIT ARGS...: stdout in $T/out, stderr in $T/err.
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
out_has() { grep -qE "$1" "$T/out" || fail "stdout of the last command has no line matching '$1': $(cat "$T/out")"; }
err_has() { grep -qE "$1" "$T/err" || fail "stderr of the last command has no line matching '$1': $(cat "$T/err")"; }
n_operations() {
        http GET /v1/operations
        [ "$STATUS" = 200 ] || fail "GET /v1/operations: $STATUS $(short_body)"
        printf '%s' "$BODY" | jq '.operations | length'
}
state_of() {
        http GET "/v1/nodes/$1"
        printf '%s' "$BODY" | jq -r .state
}

"$PROVD" --help >"$T/help"
for c in nodes node reinstall power bootdev; do
        grep -q "^  $c " "$T/help" || fail "provd --help does not list $c"
        "$PROVD" "$c" --help >"$T/out" || fail "provd $c --help failed"
        grep -q "^Usage: provd $c" "$T/out" || fail "provd $c --help: $(cat "$T/out")"
done
# (into a file: grep -q leaves at the first match, and a help longer than a pipe write would
# then die of SIGPIPE, failing the pipeline under pipefail)
"$PROVD" reinstall --help >"$T/out"
grep -q -- '--parallel N' "$T/out" || fail "reinstall --help does not mention --parallel"
URL=http://127.0.0.1:1
: >"$T/token"
run_cli 2 reinstall
run_cli 2 reinstall --all node-01
run_cli 2 reinstall node-01 --parallel 0
run_cli 2 reinstall node-01 --timeout 5x --wait
run_cli 2 reinstall node-01 --timeout 5m # without --wait
run_cli 2 reinstall node-01 --poll
run_cli 2 power node-01
run_cli 2 power node-01 explode
run_cli 2 power on
run_cli 2 bootdev node-01 floppy
run_cli 2 node
run_cli 2 node a b
run_cli 2 nodes extra
ok "--help of each node command; usage errors exit 2"

# ---- provd with six nodes without BMCs, racks r1 and r2 ---------------------------------------
"$PROVD" token new --name ops --file "$T/api-tokens" >"$T/token" 2>/dev/null || fail "token new"
mkdir -p "$T/boot"
head -c 100000 /dev/urandom >"$T/boot/bzImage"
head -c 50000 /dev/urandom >"$T/boot/initrd"
# node_json NAME MAC RACK [BMC-JSON]
node_json() {
        printf '{"name": "%s", "mac": ["%s"], "rack": "%s", %s' "$1" "$2" "$3" "${4:+\"bmc\": $4, }"
        printf '"boot": {"kernel": "%s", "initrd": ["%s"], "cmdline": "init=/x loglevel=4"}, ' "$T/boot/bzImage" "$T/boot/initrd"
        printf '"system": {"toplevel": "/nix/store/a-system-%s", "install": "/nix/store/b-install-%s"}}\n' "$1" "$1"
}
plain_nodes() {
        local i
        for i in 1 2 3 4 5 6; do
                node_json "node-0$i" "52:54:00:00:00:0$i" "r$(((i + 2) / 3))"
                echo ,
        done
}
{
        echo '{"version": 1, "nodes": ['
        plain_nodes | sed '$d'
        echo ']}'
} >"$T/inv.json"
provd_start "$T/inv.json" --api-tokens "$T/api-tokens"

# ---- nodes / node --------------------------------------------------------------------------------
run_cli 0 nodes
[ "$(head -n1 "$T/out" | tr -s ' ')" = "NAME STATE SINCE ATTEMPT PHASE DRIFT RACK" ] || fail "nodes header: $(head -n1 "$T/out")"
[ "$(wc -l <"$T/out")" = 7 ] || fail "nodes: $(cat "$T/out")"
out_has '^node-01  +new  +-  +-  +-  +unknown  +r1$'
out_has '^node-06  +new  +-  +-  +-  +unknown  +r2$'
t2=$(token_of 52:54:00:00:00:02)
event "$t2" '{"phase":"started"}'
run_cli 0 nodes --state installing
[ "$(wc -l <"$T/out")" = 2 ] || fail "nodes --state installing: $(cat "$T/out")"
out_has '^node-02  +installing  +[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}[+-][0-9]{2}:[0-9]{2}  +1  +started  +unknown  +r1$'
run_cli 0 nodes --drifted
[ "$(wc -l <"$T/out")" = 1 ] || fail "nodes --drifted (none has reported): $(cat "$T/out")"
run_cli 0 nodes --drift unknown --name node-02
out_has '^node-02 '
run_cli 0 nodes --state new,installing --rack r1
[ "$(awk 'NR > 1 { print $1 }' "$T/out" | tr '\n' ' ')" = "node-01 node-02 node-03 " ] || fail "--state new,installing --rack r1: $(cat "$T/out")"
run_cli 0 nodes --name 'node-0[56]'
[ "$(awk 'NR > 1 { print $1 }' "$T/out" | tr '\n' ' ')" = "node-05 node-06 " ] || fail "--name 'node-0[56]': $(cat "$T/out")"
run_cli 0 nodes --rack r9
[ "$(wc -l <"$T/out")" = 1 ] || fail "nodes --rack r9 printed rows: $(cat "$T/out")"
http GET '/v1/nodes?rack=r2'
run_cli 0 nodes --rack r2 --json
# every page's nodes as one list: the answer's "nodes", without a cursor
[ "$(jq -c . "$T/out")" = "$(printf '%s' "$BODY" | jq -c '{nodes}')" ] || fail "nodes --json differs from GET /v1/nodes?rack=r2: $(cat "$T/out")"
run_cli 1 nodes --state sleeping
err_has '^provd: .*sleeping'

run_cli 0 node node-02
out_has '^state: +installing \(since '
out_has '^attempt: +1, phase started, opened '
out_has '^mac: +52:54:00:00:00:02$'
out_has '^rack: +r1$'
out_has '^bmc: +none$'
out_has '^toplevel: +/nix/store/a-system-node-02$'
out_has '^install: +/nix/store/b-install-node-02$'
out_has 'netbooting -> installing  +installer +1'
http GET /v1/nodes/node-02
run_cli 0 node node-02 --json
[ "$(cat "$T/out")" = "$BODY" ] || fail "node --json differs from GET /v1/nodes/node-02"
run_cli 3 node node-99
err_has 'node-99'
ok "nodes: table, --state/--name/--rack, --json; node: details and history, --json, unknown node exit 3"

# ---- reinstall: selection, no --wait ---------------------------------------------------------------
ops_before=$(n_operations)
run_cli 3 reinstall node-01 node-99
err_has 'unknown node "node-99"'
err_has 'nothing submitted'
run_cli 3 reinstall 'node-0[12]' 'rack-*'
err_has 'no node matches "rack-\*"'
[ "$(n_operations)" = "$ops_before" ] || fail "an unknown node still submitted operations"
[ "$(state_of node-01)" = new ] || fail "node-01 changed state although nothing was to be submitted"
run_cli 1 reinstall node-01 --token-file /dev/null
err_has 'token'
"$PROVD" --config "$T/empty.ini" --url "$URL" reinstall node-01 >"$T/out" 2>"$T/err" && fail "reinstall without a token succeeded"
grep -q 'API token' "$T/err" || fail "401 without a token: no hint: $(cat "$T/err")"
[ "$(n_operations)" = "$ops_before" ] || fail "a refused reinstall made an operation"

run_cli 0 reinstall 'node-0[56]'
[ "$(head -n1 "$T/out" | tr -s ' ')" = "NODE OPERATION MESSAGE" ] || fail "reinstall header: $(cat "$T/out")"
id5=$(awk '$1 == "node-05" { print $2 }' "$T/out")
[[ $id5 =~ ^[0-9]+$ ]] || fail "reinstall printed no operation id for node-05: $(cat "$T/out")"
http GET "/v1/operations/$id5"
jq_eq .node node-05
jq_eq .kind reinstall
jq_eq .state succeeded
jq_eq .result "marked for install; no BMC: power-cycle the node by hand"
[ "$(state_of node-05)" = pending ] || fail "node-05 not pending after reinstall"
[ "$(state_of node-06)" = pending ] || fail "node-06 not pending after reinstall"
run_cli 0 reinstall node-05 --json
[ "$(jq -r '.operations[0].node + " " + .operations[0].kind' "$T/out")" = "node-05 reinstall" ] || fail "reinstall --json: $(cat "$T/out")"
[ "$(jq '.errors | length' "$T/out")" = 0 ] || fail "reinstall --json errors: $(cat "$T/out")"
http GET "/v1/operations/$(jq .operations[0].id "$T/out")"
[ "$STATUS" = 200 ] || fail "the operation of reinstall --json is not GET-able: $STATUS"
ok "reinstall: unknown names and empty globs exit 3 with nothing submitted; 401 with a hint; one operation per node; --json"

# ---- the installers: netboot, started, (1 s), succeeded (node-04: failed) --------------------------
# play_installers PID MAX: until PID exits, every 0.2 s: GET /v1/nodes; fail if more than MAX
# nodes are pending/netbooting/installing; boot pending nodes and report for them.  Sets PEAK.
play_installers() {
        local pid=$1 max=$2 now n state busy
        declare -A started=()
        PEAK=0
        while kill -0 "$pid" 2>/dev/null; do
                http GET /v1/nodes
                [ "$STATUS" = 200 ] || fail "GET /v1/nodes: $STATUS"
                printf '%s' "$BODY" | jq -r '.nodes[] | "\(.name) \(.state)"' >"$T/states"
                busy=$(grep -cE ' (pending|netbooting|installing)$' "$T/states" || true)
                [ "$busy" -le "$max" ] || fail "$busy nodes in progress at once (at most $max): $(tr '\n' ' ' <"$T/states")"
                [ "$busy" -le "$PEAK" ] || PEAK=$busy
                now=$(date +%s%N)
                while read -r n state; do
                        local mac=52:54:00:00:00:${n#node-}
                        if [ "$state" = pending ]; then
                                TOK[$n]=$(token_of "$mac")
                                event "${TOK[$n]}" '{"phase":"started"}'
                                [ "$STATUS" = 200 ] || fail "$n started: $STATUS $BODY"
                                started[$n]=$now
                        elif [ "$state" = installing ] && [ -n "${started[$n]:-}" ] &&
                                [ $((now - ${started[$n]})) -ge 1000000000 ]; then
                                if [ "$n" = "${FAIL_NODE:-}" ]; then
                                        event "${TOK[$n]}" '{"phase":"failed","message":"disk /dev/sda not found"}'
                                else
                                        event "${TOK[$n]}" '{"phase":"succeeded"}'
                                fi
                                [ "$STATUS" = 200 ] || fail "$n end: $STATUS $BODY"
                                unset "started[$n]"
                        fi
                done <"$T/states"
                sleep 0.2
        done
}
declare -A TOK=()

# wait_exit PID SECONDS OUT ERR: waits for the client PID to exit (its status in $rc); fails
# after SECONDS with its output.
wait_exit() {
        local i
        for i in $(seq 1 $(($2 * 10))); do
                kill -0 "$1" 2>/dev/null || break
                sleep 0.1
        done
        kill -0 "$1" 2>/dev/null && fail "the client did not exit within $2 s: $(cat "$3") $(cat "$4")"
        rc=0
        wait "$1" || rc=$?
}

# Settle the nodes first: node-02 is installing, node-05/06 pending; install them.
event "$t2" '{"phase":"succeeded"}'
for m in 05 06; do
        t=$(token_of "52:54:00:00:00:$m")
        event "$t" '{"phase":"started"}'
        event "$t" '{"phase":"succeeded"}'
        [ "$(state_of "node-$m")" = installed ] || fail "node-$m did not settle: $(state_of "node-$m")"
done
FAIL_NODE=node-04
start=$(date +%s)
cli reinstall --all --parallel 2 --no-gate >"$T/roll.out" 2>"$T/roll.err" &
RPID=$!
PIDS+=("$RPID")
play_installers "$RPID" 2
rc=0
wait "$RPID" || rc=$?
elapsed=$(($(date +%s) - start))
grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$T/roll.err" && { cat "$T/roll.err" >&2; fail "sanitizer report from reinstall"; }
[ "$rc" = 1 ] || fail "reinstall --all --parallel 2 with one failed node exited $rc; stdout: $(cat "$T/roll.out"); stderr: $(cat "$T/roll.err")"
[ "$PEAK" = 2 ] || fail "at most $PEAK nodes were in progress at once: the rolling reinstall did not use its 2 slots"
for i in 1 2 3 5 6; do
        grep -qE "^node-0$i  +installed" "$T/roll.out" || fail "node-0$i not installed: $(cat "$T/roll.out")"
        [ "$(state_of node-0$i)" = installed ] || fail "node-0$i is $(state_of node-0$i)"
done
grep -qE '^node-04  +failed  +install failed: .*disk /dev/sda not found' "$T/roll.out" ||
        fail "the result does not name node-04 and why it failed: $(cat "$T/roll.out")"
grep -qE 'reinstalling 6 nodes, at most 2 at once' "$T/roll.err" || fail "no start line: $(cat "$T/roll.err")"
grep -qE 'node-03  submitted \(operation [0-9]+\)' "$T/roll.err" || fail "no submission progress: $(cat "$T/roll.err")"
grep -qE 'node-03  installing' "$T/roll.err" || fail "no state-change progress: $(cat "$T/roll.err")"
grep -qE 'node-04  failed: install failed' "$T/roll.err" || fail "no failure progress: $(cat "$T/roll.err")"
grep -qE '5/6 installed, 1 failed, 0 in progress, 0 waiting' "$T/roll.err" || fail "no final summary: $(cat "$T/roll.err")"
grep -qE '[0-9]/6 installed, [0-9] failed, 2 in progress, [1-4] waiting' "$T/roll.err" || fail "no summary while rolling: $(cat "$T/roll.err")"
ok "reinstall --all --parallel 2: never more than 2 nodes in progress (peak $PEAK), node-04's failure named, exit 1 (${elapsed} s)"

# The order of submissions is the inventory's, and none before a slot was free: each node's
# pending transition comes after an earlier node finished, once two are running.
http GET '/v1/events?limit=1000'
printf '%s' "$BODY" | jq -r '.events[] | select(.to == "pending" or .to == "installed" or .to == "failed") | "\(.node) \(.to)"' |
        tail -n 12 >"$T/order"
awk '{ if ($2 == "pending") busy++; else busy--; if (busy > 2) { print "over at " NR; exit 1 } }' "$T/order" ||
        fail "the event log shows more than 2 nodes between pending and installed/failed: $(tr '\n' ' ' <"$T/order")"
[ "$(awk '$2 == "pending" { print $1 }' "$T/order" | tr '\n' ' ')" = "node-01 node-02 node-03 node-04 node-05 node-06 " ] ||
        fail "nodes were not submitted in inventory order: $(tr '\n' ' ' <"$T/order")"
ok "the event log agrees: submissions in inventory order, at most 2 between pending and installed/failed"

# Rolling by polling GET /v1/nodes instead of the event stream, one at a time, --json; no
# failure: exit 0, the final states and operations.
FAIL_NODE=
cli reinstall node-01 'node-0[36]' --parallel 1 --poll --no-gate --json >"$T/wait.out" 2>"$T/wait.err" &
RPID=$!
PIDS+=("$RPID")
play_installers "$RPID" 1
rc=0
wait "$RPID" || rc=$?
[ "$rc" = 0 ] || fail "reinstall --parallel 1 --poll --json exited $rc: $(cat "$T/wait.out") $(cat "$T/wait.err")"
[ "$PEAK" = 1 ] || fail "--parallel 1 --poll: peak $PEAK nodes in progress"
jq -e . "$T/wait.out" >/dev/null || fail "reinstall --wait --json is not JSON: $(cat "$T/wait.out")"
[ "$(jq -c '[.results[] | .node + ":" + .result]' "$T/wait.out")" = '["node-01:installed","node-03:installed","node-06:installed"]' ] ||
        fail "--json results: $(cat "$T/wait.out")"
[ "$(jq -c '[.nodes[] | .name + ":" + .state]' "$T/wait.out")" = '["node-01:installed","node-03:installed","node-06:installed"]' ] ||
        fail "--json final node states: $(cat "$T/wait.out")"
[ "$(jq -c '[.operations[] | .kind + ":" + .state]' "$T/wait.out")" = '["reinstall:succeeded","reinstall:succeeded","reinstall:succeeded"]' ] ||
        fail "--json operations: $(cat "$T/wait.out")"
grep -q 'node-03  installed' "$T/wait.err" || fail "no progress while polling: $(cat "$T/wait.err")"
ok "reinstall --parallel 1 --poll --json: one at a time by polling, exit 0, results, final node states and operations"

# --timeout: nobody plays the installer; the wait ends after the timeout with exit 1.
start=$(date +%s)
run_cli 1 reinstall node-03 --wait --timeout 2
[ $(($(date +%s) - start)) -le 8 ] || fail "--timeout 2 took $(($(date +%s) - start)) s"
out_has '^node-03  +unfinished  +timed out'
err_has 'timed out \(--timeout\): 1 node still in progress'
ok "reinstall --wait --timeout: gives up after the timeout, exit 1"
provd_stop

# ---- BMCs: ipmi_sim simulators -------------------------------------------------------------------
PW=$T/bmc-password
printf '%s\n' "$SIM_PASSWORD" >"$PW"
chmod 600 "$PW"
sim_base
sim_start 1
sim_wait 1
bmc_json() { # N: a bmc object for simulator N (N = 2: nothing runs there)
        printf '{"host": "%s", "port": 623, "user": "%s", "password_file": "%s", "workarounds": ["opensesspriv"]}' \
                "$SIM_NET.$1" "$SIM_USER" "$PW"
}
{
        echo '{"version": 1, "nodes": ['
        plain_nodes
        node_json bmc-01 52:54:00:00:01:01 r3 "$(bmc_json 1)"
        echo ,
        node_json bmc-02 52:54:00:00:01:02 r3 "$(bmc_json 2)"
        echo ']}'
} >"$T/inv-bmc.json"
provd_start "$T/inv-bmc.json" --api-tokens "$T/api-tokens" --bmc-timeout 2 --bmc-retries 0

run_cli 0 node bmc-01
out_has "^bmc: +$SIM_USER@$SIM_NET.1:623$"
run_cli 0 power bmc-01 on
out_has '^bmc-01  +'
[ "$(sim_power 1)" = 1 ] || fail "power on: simulator power is $(sim_power 1)"
run_cli 0 power bmc-01 status
[ "$(tr -s ' ' <"$T/out")" = "$(printf 'NODE RESULT\nbmc-01 on')" ] || fail "power status: $(cat "$T/out")"
run_cli 0 power bmc-01 off
[ "$(sim_power 1)" = 0 ] || fail "power off: simulator power is $(sim_power 1)"
run_cli 0 power 'bmc-0[1]' status
out_has '^bmc-01  +off$'
run_cli 0 power bmc-01 status --json
[ "$(jq -r '.operations[0].kind + " " + .operations[0].state + " " + .operations[0].result' "$T/out")" = "power succeeded off" ] ||
        fail "power status --json: $(cat "$T/out")"
run_cli 0 bootdev bmc-01 pxe
[ "$(sim_boot 1)" = pxe ] || fail "bootdev pxe: simulator boot device is $(sim_boot 1)"
run_cli 0 bootdev bmc-01 disk --persistent
[ "$(sim_boot 1)" = default ] || fail "bootdev disk: simulator boot device is $(sim_boot 1)"
ok "power on/off/status and bootdev pxe/disk reach the simulator; status prints on/off; --json"

start=$(date +%s%N)
run_cli 1 power bmc-02 status
ms=$((($(date +%s%N) - start) / 1000000))
out_has '^bmc-02  +error: .*(did not answer|timed out|timeout)'
[ "$ms" -lt 8000 ] || fail "a dead BMC took $ms ms with --bmc-timeout 2 --bmc-retries 0"
run_cli 1 power node-01 status
out_has '^node-01  +error: .*no bmc'
run_cli 1 power bmc-01 node-01 status
out_has '^bmc-01  +off$'
out_has '^node-01  +error: '
run_cli 1 bootdev node-01 pxe --json
[ "$(jq -r '.errors[0].node + " " + (.errors[0].status | tostring) + " " + .errors[0].error.code' "$T/out")" = "node-01 409 conflict" ] ||
        fail "bootdev on a node without a BMC --json: $(cat "$T/out")"
ops_before=$(n_operations)
run_cli 3 power bmc-01 'nope-*' off
[ "$(n_operations)" = "$ops_before" ] || fail "power with an unknown node submitted operations"
[ "$(sim_power 1)" = 0 ] || fail "power with an unknown node changed the simulator"
ok "a dead BMC: exit 1 with a timeout message in ${ms} ms; no BMC: 409 message, exit 1; unknown node: exit 3, nothing submitted"

# A reinstall whose BMC does not answer: the operation fails, --wait exits 1 with the reason;
# meanwhile the node is busy (409).
cli reinstall bmc-02 --wait >"$T/r2.out" 2>"$T/r2.err" &
RPID=$!
PIDS+=("$RPID")
for i in $(seq 1 50); do
        grep -q 'bmc-02  submitted' "$T/r2.err" && break
        sleep 0.1
done
run_cli 1 power bmc-02 status
out_has '^bmc-02  +error: .*already has operation [0-9]+ in progress'
wait_exit "$RPID" 20 "$T/r2.out" "$T/r2.err"
[ "$rc" = 1 ] || fail "reinstall --wait of a node with a dead BMC exited $rc: $(cat "$T/r2.out") $(cat "$T/r2.err")"
grep -qE '^bmc-02  +failed  +reinstall operation [0-9]+ failed: .*' "$T/r2.out" || fail "reinstall failure: $(cat "$T/r2.out")"
ok "reinstall with a dead BMC: the operation's failure ends --wait with exit 1; a busy node answers 409"

# A reinstall with a working BMC: boot device pxe and a power cycle on the simulator.
run_cli 0 reinstall bmc-01
id=$(awk '$1 == "bmc-01" { print $2 }' "$T/out")
for i in $(seq 1 100); do
        http GET "/v1/operations/$id"
        [ "$(printf '%s' "$BODY" | jq -r .state)" = succeeded ] && break
        [ "$(printf '%s' "$BODY" | jq -r .state)" = failed ] && fail "reinstall of bmc-01 failed: $BODY"
        sleep 0.1
done
jq_eq .state succeeded
[ "$(sim_boot 1)" = pxe ] || fail "reinstall: boot device $(sim_boot 1), expected pxe"
[ "$(sim_power 1)" = 1 ] || fail "reinstall: power $(sim_power 1), expected 1"
ok "reinstall of a node with a BMC: boot device pxe, powered on, node pending"
provd_stop
