#!/bin/bash
# dashboard-api — the read API dashboards use, against a real provd: node filters, the
# per-state summary, cluster events (since an id or a time, limit), a node's paged history,
# the live event stream (SSE: new events, resume with Last-Event-ID or since=, backfill from
# the store after a restart, stop with open streams), POST /v1/reload with API tokens, and
# read_auth = token.
source "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || { echo "jq missing"; [ "${PROVD_TESTS_NO_SKIP:-}" = 1 ] && exit 1; exit 77; }

make_inventory "$T/inv.json" 6
# Racks: node-01..03 in r1, node-04..06 in r2.
jq '.nodes |= map(.rack = (if (.name | ltrimstr("node-") | tonumber) <= 3 then "r1" else "r2" end))' \
        "$T/inv.json" >"$T/inv2.json" && mv "$T/inv2.json" "$T/inv.json"

ADMIN=$(api_token "$T/tokens")

provd_start "$T/inv.json" --api-tokens "$T/tokens"

# A stream opened before anything happens sees every transition live.
curl -sN "$URL/v1/events/stream" >"$T/live.sse" &
LIVE=$!
PIDS+=("$LIVE")

expect_status 200 GET /v1/summary
jq_eq '.total' 6
jq_eq '.states.new' 6
jq_eq '.states | keys | sort | join(",")' "booting,failed,installed,installing,netbooting,new,pending,running"
jq_eq '.last_event_id' 0
ok "summary of a fresh cluster"

# node-01: installed; node-02: failed; node-03: installing; node-04: netbooting.
t1=$(token_of 52:54:00:00:00:01)
event "$t1" '{"phase":"started"}'
event "$t1" '{"phase":"installing"}'
event "$t1" '{"phase":"succeeded"}'
t2=$(token_of 52:54:00:00:00:02)
event "$t2" '{"phase":"failed","message":"disk /dev/sda not found"}'
t3=$(token_of 52:54:00:00:00:03)
event "$t3" '{"phase":"partitioning"}'
token_of 52:54:00:00:00:04 >/dev/null
# 4 + 2 + 2 + 1 transitions.
N=9

expect_status 200 GET /v1/summary
jq_eq '[.states.new, .states.netbooting, .states.installing, .states.installed, .states.failed] | join(" ")' "2 1 1 1 1"
jq_eq '.last_event_id' $N
ok "summary counts follow the transitions"

expect_status 200 GET '/v1/nodes?state=failed'
jq_eq '[.nodes[].name] | join(",")' node-02
expect_status 200 GET '/v1/nodes?state=installed,installing'
jq_eq '[.nodes[].name] | join(",")' node-01,node-03
expect_status 200 GET '/v1/nodes?name=node-0%5B4-6%5D'
jq_eq '[.nodes[].name] | join(",")' node-04,node-05,node-06
expect_status 200 GET '/v1/nodes?rack=r1&state=new,netbooting,installing'
jq_eq '[.nodes[].name] | join(",")' node-03
expect_status 200 GET '/v1/nodes?name=gpu-*'
jq_eq '.nodes | length' 0
expect_status 200 GET /v1/nodes/node-05
jq_eq '.rack' r2
expect_status 400 GET '/v1/nodes?state=installd'
jq_eq '.error.code' bad_request
printf '%s' "$BODY" | grep -q installd || fail "the 400 does not name the bad state: $BODY"
expect_status 400 GET '/v1/nodes?state='
ok "node filters: state (one, several), name glob, rack, unknown state"

expect_status 200 GET /v1/events
jq_eq '.events | length' $N
jq_eq '[.events[].id] == ([range(1; '$N' + 1)])' true
jq_eq '.events[0] | [.node, .from, .to, .cause, .attempt] | join(" ")' "node-01 new netbooting netboot 1"
jq_eq '.last_event_id' $N
expect_status 200 GET '/v1/events?limit=2'
jq_eq '[.events[].id] | join(",")' "8,9"
expect_status 200 GET '/v1/events?since=0&limit=2'
jq_eq '[.events[].id] | join(",")' "1,2"
expect_status 200 GET '/v1/events?since=7'
jq_eq '[.events[].id] | join(",")' "8,9"
jq_eq '.last_event_id' 9
expect_status 200 GET "/v1/events?since=$N"
jq_eq '.events | length' 0
jq_eq '.last_event_id' $N
expect_status 200 GET '/v1/events?since=2000-01-01T00:00:00Z&limit=3'
jq_eq '[.events[].id] | join(",")' "1,2,3"
expect_status 200 GET '/v1/events?since=2000-01-01T01:00:00%2B01:00'
jq_eq '.events | length' $N
expect_status 200 GET '/v1/events?since=2999-01-01T00:00:00.5Z'
jq_eq '.events | length' 0
expect_status 200 GET '/v1/events?since=2000-01-01T00:00:00Z&limit=1000'
jq_eq '.events | map(select(.node == "node-02" and .to == "failed")) | .[0].message' \
        "installer reported failure: disk /dev/sda not found"
for bad in 'limit=0' 'limit=1001' 'limit=x' 'since=yesterday' 'since=-1' 'since=2026-13-01T00:00:00Z'; do
        expect_status 400 GET "/v1/events?$bad"
        jq_eq '.error.code' bad_request
done
ok "events: all, last N, since an id, since a time (Z and offset), bad since/limit"

expect_status 200 GET '/v1/nodes/node-01/history?limit=3'
jq_eq '[.history[].id] | join(",")' "4,3,2"
jq_eq '.history[0].to' installed
before=$(printf '%s' "$BODY" | jq .next_before)
expect_status 200 GET "/v1/nodes/node-01/history?limit=3&before=$before"
jq_eq '[.history[].id] | join(",")' "1"
jq_eq '.next_before' null
expect_status 200 GET '/v1/nodes/node-06/history'
jq_eq '.history | length' 0
jq_eq '.next_before' null
expect_status 404 GET '/v1/nodes/node-99/history'
jq_eq '.error.code' not_found
expect_status 400 GET '/v1/nodes/node-01/history?before=abc'
expect_status 400 GET '/v1/nodes/node-01/history?limit=5000'
expect_status 200 GET /v1/nodes/node-01
jq_eq '[.history[].id] | join(",")' "1,2,3,4"
ok "paged history, newest first; the full history stays on the node"

# Live stream: every transition arrived, in order, as one SSE message each.
for _ in $(seq 50); do
        [ "$(grep -c '^id: ' "$T/live.sse")" -ge $N ] && break
        sleep 0.1
done
[ "$(grep -c '^event: transition$' "$T/live.sse")" -eq $N ] || fail "live stream: expected $N events, got: $(cat "$T/live.sse")"
[ "$(grep '^id: ' "$T/live.sse" | cut -d' ' -f2 | tr '\n' ' ')" = "1 2 3 4 5 6 7 8 9 " ] || fail "live stream out of order"
grep '^data: ' "$T/live.sse" | sed 's/^data: //' | jq -e -s 'length == 9 and .[5].node == "node-02" and .[5].to == "failed"' >/dev/null ||
        fail "live stream data is not the events' JSON"
ok "event stream delivers each transition live, in order"

# Resume: Last-Event-ID and since= replay what was missed, then go on live.
curl -sN -H 'Last-Event-ID: 7' --max-time 2 "$URL/v1/events/stream" >"$T/resume.sse" || true
[ "$(grep '^id: ' "$T/resume.sse" | cut -d' ' -f2 | tr '\n' ' ')" = "8 9 " ] || fail "Last-Event-ID resume: $(cat "$T/resume.sse")"
curl -sN --max-time 2 "$URL/v1/events/stream?since=8" >"$T/since.sse" || true
[ "$(grep '^id: ' "$T/since.sse" | cut -d' ' -f2 | tr '\n' ' ')" = "9 " ] || fail "since= resume: $(cat "$T/since.sse")"
expect_status 400 GET '/v1/events/stream?since=x'
curl -sN -H 'Last-Event-ID: 9' "$URL/v1/events/stream" >"$T/late.sse" &
LATE=$!
PIDS+=("$LATE")
sleep 0.5
token_of 52:54:00:00:00:05 >/dev/null
N=10
for _ in $(seq 50); do grep -q '^id: 10$' "$T/late.sse" && break; sleep 0.1; done
grep -q '^id: 10$' "$T/late.sse" || fail "a resumed stream did not go on live: $(cat "$T/late.sse")"
grep -q '^id: 10$' "$T/live.sse" || fail "the first stream missed event 10"
ok "event stream resumes after Last-Event-ID or since= and then goes on live"

expect_status 200 GET /metrics
grep -q '^provd_event_stream_clients [1-9]' "$T/body" || fail "no open streams in the metrics: $(grep stream "$T/body")"

# Reload needs an API token; an install token is refused on admin routes.
expect_status 401 POST /v1/reload
jq_eq '.error.code' unauthorized
http POST /v1/reload -H "Authorization: Bearer pvd_$(printf 'x%.0s' $(seq 43))"
[ "$STATUS" = 401 ] || fail "wrong API token: $STATUS"
t5=$(token_of 52:54:00:00:00:05)
http POST /v1/reload -H "Authorization: Bearer $t5"
[ "$STATUS" = 403 ] || fail "install token on an admin route: $STATUS $BODY"
jq_eq '.error.code' forbidden
event "$ADMIN" '{"phase":"started"}'
[ "$STATUS" = 403 ] || fail "API token on the install route: $STATUS $BODY"
http POST /v1/reload -H "Authorization: Bearer $ADMIN"
[ "$STATUS" = 200 ] || fail "reload with the API token: $STATUS $BODY"
jq_eq '.nodes' 6
jq_eq '.api_tokens' 1
# A broken inventory is refused with its error; the old one stays.
cp "$T/inv.json" "$T/inv.good"
echo '{"version": 1, "nodes": [{"name": "x"}]}' >"$T/inv.json"
http POST /v1/reload -H "Authorization: Bearer $ADMIN"
[ "$STATUS" = 400 ] || fail "reload of a broken inventory: $STATUS $BODY"
printf '%s' "$BODY" | grep -q '"x"\|nodes\[0\]' || fail "the reload error does not name the node: $BODY"
cp "$T/inv.good" "$T/inv.json"
expect_status 200 GET /v1/summary
jq_eq '.total' 6
ok "POST /v1/reload: 401 without/with a wrong token, 403 with an install token, 200 with an API token, 400 naming a broken inventory"

# Stopping with streams open is clean (streams are suspended between events).
provd_stop
wait "$LIVE" 2>/dev/null || true
wait "$LATE" 2>/dev/null || true
ok "provd stops cleanly with event streams open"

# After a restart the in-memory ring is empty: a resume is served from the store.
provd_start "$T/inv.json" --api-tokens "$T/tokens" --read-auth token
curl -sN -H "Authorization: Bearer $ADMIN" -H 'Last-Event-ID: 0' --max-time 2 "$URL/v1/events/stream" >"$T/backfill.sse" || true
[ "$(grep -c '^id: ' "$T/backfill.sse")" -eq $N ] || fail "backfill after restart: $(grep -c '^id: ' "$T/backfill.sse") events"
ok "a stream resumed after a restart is backfilled from the store"

# read_auth = token: every read needs the API token; boot routes and the page stay open.
for path in /v1/nodes /v1/nodes/node-01 /v1/nodes/node-01/history /v1/summary /v1/events /v1/events/stream /metrics; do
        expect_status 401 GET "$path"
        jq_eq '.error.code' unauthorized
        http GET "$path" -H "Authorization: Bearer $t5"
        [ "$STATUS" = 403 ] || fail "install token on $path with read_auth=token: $STATUS"
done
for path in /v1/nodes /v1/summary /v1/events /metrics; do
        expect_status 200 GET "$path" -H "Authorization: Bearer $ADMIN"
done
expect_status 200 GET /
expect_status 404 GET /v1/boot/52:54:00:00:00:01
expect_status 200 GET '/v1/ipxe'
ok "read_auth=token: reads need an API token; boot routes and the page stay open"
provd_stop

# Under systemd the tokens file comes as a credential: with no api_tokens setting provd reads
# $CREDENTIALS_DIRECTORY/api-tokens (LoadCredential=api-tokens:...).
mkdir -p "$T/creds"
cp "$T/tokens" "$T/creds/api-tokens"
CREDENTIALS_DIRECTORY="$T/creds" provd_start "$T/inv.json"
expect_status 401 POST /v1/reload
expect_status 200 POST /v1/reload -H "Authorization: Bearer $ADMIN"
jq_eq '.api_tokens' 1
ok "without api_tokens, the systemd credential \$CREDENTIALS_DIRECTORY/api-tokens holds the API tokens"
provd_stop
