#!/usr/bin/env bash
# Two provd instances on one PostgreSQL database (a cluster this test starts with
# tests/tools/pg-cluster, as a non-root user): they know each other (GET /v1/instances), any
# instance answers a node's boot with the same open attempt and token, an installer reports to
# the other one and both show the result at once (a's event stream included), and 50 install deadlines racing between both
# instances' sweeps each expire exactly once (one timeout row per node in the shared history).
source "$(dirname "$0")/lib.sh"

pg_cluster_own
sql() { psql "$DB" -tA -v ON_ERROR_STOP=1 -c "$1"; }

N=51 # node-01 installs; 50 attempts then race for their deadlines
make_inventory "$T/inv.json" "$N"
head -c 32 /dev/urandom >"$T/shared.key"
chmod 0600 "$T/shared.key"

# start_instance NAME [FLAGS...]: sets NAME_URL and NAME_PID.
start_instance() {
        local name=$1
        shift
        LOG=$T/$name.log STATE=$T/$name-state
        provd_start "$T/inv.json" --state-url "$DB" --shared-key-file "$T/shared.key" --instance-name "$name" \
                --install-deadline 4 "$@"
        printf -v "${name}_URL" '%s' "$URL"
        printf -v "${name}_PID" '%s' "$PROVD_PID"
        printf -v "${name}_LOG" '%s' "$LOG"
}
start_instance a
start_instance b

# on NAME METHOD PATH [CURL ARGS]: http() against instance NAME.
on() {
        local name=$1 u
        shift
        u=${name}_URL
        URL=${!u} http "$@"
}

# PostgreSQL without the shared key: refused, naming the option.
if "$PROVD" serve --inventory "$T/inv.json" --state-dir "$T/nokey" --listen 127.0.0.1:0 --state-url "$DB" \
        >"$T/nokey.log" 2>&1; then
        fail "provd started on PostgreSQL without --shared-key-file"
fi
grep -q "shared_key_file (--shared-key-file)" "$T/nokey.log" || fail "no word of the shared key: $(tail -3 "$T/nokey.log")"
ok "PostgreSQL without a shared key is refused, naming --shared-key-file"

# 1. They know each other.
for _ in $(seq 1 50); do
        on a GET /v1/instances
        [ "$(printf '%s' "$BODY" | jq '[.instances[] | select(.alive)] | length')" = 2 ] && break
        sleep 0.2
done
jq_eq '.self' a
jq_eq '[.instances[].name] | join(",")' a,b
jq_eq ".instances[1].url" "$b_URL"
ok "GET /v1/instances on a lists a and b, alive"

# 2. One open attempt and token, whichever instance answers.
on a GET /v1/boot/52:54:00:00:00:01
[ "$STATUS" = 200 ] || fail "a: boot: $STATUS $BODY"
tok_a=$(printf '%s' "$BODY" | jq -r .cmdline | tr ' ' '\n' | sed -n 's/^provd\.token=//p')
on b GET /v1/boot/52:54:00:00:00:01
[ "$STATUS" = 200 ] || fail "b: boot: $STATUS $BODY"
tok_b=$(printf '%s' "$BODY" | jq -r .cmdline | tr ' ' '\n' | sed -n 's/^provd\.token=//p')
[ -n "$tok_a" ] && [ "$tok_a" = "$tok_b" ] || fail "a answered token '$tok_a', b '$tok_b'"
[ "$(sql "SELECT count(*) FROM attempts WHERE node = 'node-01'")" = 1 ] || fail "more than one attempt opened"
ok "a and b answer node-01's boot with one attempt and one token"

# 3. The installer reports to b; a shows it at once (its listener), in its event stream too.
curl -sN --max-time 10 "$a_URL/v1/events/stream" >"$T/stream-a" 2>/dev/null &
PIDS+=("$!")
stream_pid=$!
for _ in $(seq 1 20); do [ -s "$T/stream-a" ] && break; sleep 0.1; done
on b POST /v1/install/events -H "Authorization: Bearer $tok_a" -H 'Content-Type: application/json' \
        --data-binary '{"phase":"started"}'
[ "$STATUS" = 200 ] || fail "b: installer event: $STATUS $BODY"
for _ in $(seq 1 50); do
        on a GET /v1/nodes/node-01
        [ "$(printf '%s' "$BODY" | jq -r .state)" = installing ] && break
        sleep 0.1
done
jq_eq .state installing
for _ in $(seq 1 30); do grep -q '"to":"installing".*"node":"node-01"' "$T/stream-a" && break; sleep 0.1; done
kill "$stream_pid" 2>/dev/null || true
grep -q '"to":"installing".*"node":"node-01"' "$T/stream-a" || fail "a's event stream lacks b's transition: $(tail -c 400 "$T/stream-a")"
on a POST /v1/install/events -H "Authorization: Bearer $tok_a" -H 'Content-Type: application/json' \
        --data-binary '{"phase":"succeeded"}'
[ "$STATUS" = 200 ] || fail "a: installer event: $STATUS $BODY"
for name in a b; do
        for _ in $(seq 1 50); do
                on "$name" GET /v1/nodes/node-01
                [ "$(printf '%s' "$BODY" | jq -r .state)" = installed ] && break
                sleep 0.1
        done
        jq_eq .state installed
done
# Both event lists hold both instances' events, in one order.
on a GET "/v1/events?limit=100"
ev_a=$(printf '%s' "$BODY" | jq -c '[.events[] | select(.node == "node-01") | .id]')
on b GET "/v1/events?limit=100"
ev_b=$(printf '%s' "$BODY" | jq -c '[.events[] | select(.node == "node-01") | .id]')
[ "$ev_a" = "$ev_b" ] || fail "a's events $ev_a, b's $ev_b"
ok "an installer reporting to b and then a: both show node-01 installed, with one history"

# 4. Deadlines: 50 attempts opened through both instances expire once each, whichever sweeps.
for i in $(seq 2 "$N"); do
        name=$([ $((i % 2)) = 0 ] && echo a || echo b)
        on "$name" GET "/v1/boot/52:54:00:00:00:$(printf %02x "$i")"
        [ "$STATUS" = 200 ] || fail "$name: boot of node $i: $STATUS"
done
for _ in $(seq 1 100); do
        [ "$(sql "SELECT count(*) FROM history WHERE cause = 'timeout'")" -ge $((N - 1)) ] && break
        sleep 0.2
done
sleep 2 # a second sweep by either instance must find nothing more to do
timeouts=$(sql "SELECT count(*) FROM history WHERE cause = 'timeout'")
[ "$timeouts" = $((N - 1)) ] || fail "$timeouts timeout rows for $((N - 1)) attempts"
dup=$(sql "SELECT node FROM history WHERE cause = 'timeout' GROUP BY node HAVING count(*) > 1 LIMIT 1")
[ -z "$dup" ] || fail "node $dup timed out twice"
on b GET /v1/instances
holders=$(printf '%s' "$BODY" | jq -r '[.instances[] | select(.holds | index("install-deadline-sweep")) | .name] | join(",")')
[ "$holders" = a ] || [ "$holders" = b ] || fail "the sweep lease is held by '$holders'"
for name in a b; do
        on "$name" GET "/v1/nodes?state=failed&limit=100"
        [ "$(printf '%s' "$BODY" | jq '.nodes | length')" = $((N - 1)) ] || fail "$name shows $(printf '%s' "$BODY" | jq '.nodes | length') failed nodes"
done
ok "$((N - 1)) install deadlines expired exactly once each (sweep held by $holders), both instances show them failed"

# 5. A clean stop takes the instance out of the table.
PROVD_PID=$b_PID LOG=$b_LOG provd_stop
on a GET /v1/instances
jq_eq '[.instances[].name] | join(",")' a
PROVD_PID=$a_PID LOG=$a_LOG provd_stop
ok "a stopped instance leaves GET /v1/instances"
