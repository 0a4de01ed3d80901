#!/usr/bin/env bash
# Reads of the store (node history, events, discovered MACs) run on read connections of their
# own, without the daemon's lock:
#  (a) read-your-writes over HTTP: a history or events read right after an installer event was
#      answered 200 contains it, while a "dashboard" polls history and events in parallel;
#  (b) with a transition stuck inside the daemon's lock (another program holds the store's write
#      lock — SQLite's, so the installer event waits in SQLite's busy handler for up to 5 s; on
#      PostgreSQL every table locked against writes, not reads), history,
#      events and discovered reads still answer at once, without the pending event; once the
#      other program lets go, the event is answered 200 and the next history read has it.
source "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || skip "jq missing"
[ "$PROVD_TEST_STORE" != sqlite ] || command -v sqlite3 >/dev/null || skip "sqlite3 missing"

make_inventory "$T/inv.json" 3
# Requests stuck in (b) — the installer event, and the probe that finds the lock held — each
# keep an HTTP worker; the reads need free ones.
provd_start "$T/inv.json" --threads 6

# ---- (a) read-your-writes, with a dashboard polling -----------------------------------------
dashboard() {
        while :; do
                curl -s -o /dev/null "$URL/v1/nodes/node-01/history?limit=20" &
                curl -s -o /dev/null "$URL/v1/events?limit=20" &
                curl -s -o /dev/null "$URL/v1/nodes/node-01"
                wait
        done
}
dashboard &
PIDS+=("$!")
DASH=$!
last=0
for i in $(seq 1 20); do
        tok=$(token_of 52:54:00:00:00:01) # opens (or, mid-install, reopens) attempt $i
        event "$tok" "{\"phase\":\"started\",\"message\":\"round $i\"}"
        [ "$STATUS" = 200 ] || fail "(a) round $i: installer event: $STATUS $(short_body)"
        expect_status 200 GET '/v1/nodes/node-01/history?limit=1'
        jq_eq '.history[0].to' installing
        jq_eq '.history[0].attempt' "$i"
        jq_eq '.history[0].message | endswith("round '"$i"'")' true
        id=$(printf '%s' "$BODY" | jq -r '.history[0].id')
        [ "$id" -gt "$last" ] || fail "(a) round $i: history id $id after $last"
        expect_status 200 GET "/v1/events?after=$last"
        jq_eq .last_event_id "$id"
        jq_eq '.events[-1].message | endswith("round '"$i"'")' true
        expect_status 200 GET /v1/nodes/node-01
        jq_eq '.history[-1].id' "$id"
        jq_eq '.attempt.phase' started
        last=$id
done
kill "$DASH"
wait "$DASH" 2>/dev/null || true
ok "(a) 20 installer events: each in the history, events and node read right after its 200, with a dashboard polling"

# ---- (b) a transition stuck in the daemon's lock ----------------------------------------------
tok=$(token_of 52:54:00:00:00:02)
event "$tok" '{"phase":"started"}'
[ "$STATUS" = 200 ] || fail "(b) started: $STATUS $(short_body)"
expect_status 200 GET '/v1/nodes/node-02/history'
rows=$(printf '%s' "$BODY" | jq '.history | length')

# Held for at most 4.5 s: less than provd's 5 s busy timeout on SQLite.
store_hold 4.5

curl -s -o "$T/stuck.body" -w '%{http_code}' -X POST -H "Authorization: Bearer $tok" \
        -H 'Content-Type: application/json' --data-binary '{"phase":"partitioning"}' \
        "$URL/v1/install/events" >"$T/stuck.status" &
STUCK=$!
PIDS+=("$STUCK")
# The event holds the daemon's lock once a read of the in-memory state no longer gets through.
held=
for i in $(seq 1 30); do
        if ! curl -s -o /dev/null --max-time 0.3 "$URL/v1/nodes"; then
                held=1
                break
        fi
done
[ -n "$held" ] || fail "(b) the installer event never took the daemon's lock"

start=$(date +%s%N)
for path in /v1/nodes/node-02/history '/v1/events?limit=5' /v1/discovered; do
        out=$(curl -s -o "$T/read.body" -w '%{http_code}' --max-time 2 "$URL$path") ||
                fail "(b) GET $path waited for the daemon's lock"
        [ "$out" = 200 ] || fail "(b) GET $path: $out"
done
ms=$((($(date +%s%N) - start) / 1000000))
kill -0 "$STUCK" 2>/dev/null || fail "(b) the installer event was answered while the store was locked: $(cat "$T/stuck.status")"
http GET /v1/nodes/node-02/history
jq_eq '.history | length' "$rows"
jq_eq '.history[0].to' installing
echo "# (b) history, events and discovered read in $ms ms while the installer event waited in the lock"

store_release
wait "$STUCK" || true
[ "$(cat "$T/stuck.status")" = 200 ] || fail "(b) the installer event after the lock: $(cat "$T/stuck.status") $(cat "$T/stuck.body")"
expect_status 200 GET '/v1/nodes/node-02/history?limit=1'
jq_eq '.history[0].message | endswith("partitioning")' true
ok "(b) reads answer while a transition waits inside the daemon's lock; it is in the history once answered"

provd_stop
