#!/usr/bin/env bash
# provd db migrate and provd db import-sqlite: a site's SQLite state (attempts, history,
# credentials, reports) moved into an empty PostgreSQL database, after which provd on
# PostgreSQL shows the same nodes, events and ids, the open attempt's install token still works
# and new events get ids after the old ones.  Refused: a non-empty target, a source a provd is
# running on, a target that is not PostgreSQL.
source "$(dirname "$0")/lib.sh"
# It moves a state from SQLite to PostgreSQL itself: under the PostgreSQL matrix too, its first
# provd keeps its state in SQLite (the real binary, not lib-store.sh's shim).
PROVD=${PROVD_BIN:-$PROVD}

pg_cluster_own
DB2=$("$PGC" createdb "$PGDIR" other) || fail "cannot create the database"
sql() { psql "$1" -tA -v ON_ERROR_STOP=1 -c "$2"; }
head -c 32 /dev/urandom >"$T/shared.key"
chmod 0600 "$T/shared.key"

# A site on SQLite: node-01 installed, node-02 mid-install (open attempt), node-03 new.
make_inventory "$T/inv.json" 3
provd_start "$T/inv.json"
tok1=$(token_of 52:54:00:00:00:01)
event "$tok1" '{"phase":"started"}'
http POST /v1/install/credential -H "Authorization: Bearer $tok1"
[ "$STATUS" = 200 ] || fail "credential: $STATUS $BODY"
event "$tok1" '{"phase":"succeeded","message":"done"}'
[ "$STATUS" = 200 ] || fail "installer event: $STATUS $BODY"
tok2=$(token_of 52:54:00:00:00:02)
event "$tok2" '{"phase":"partitioning"}'
[ "$STATUS" = 200 ] || fail "installer event: $STATUS $BODY"
expect_status 200 GET "/v1/events?limit=100"
events_before=$(printf '%s' "$BODY" | jq -c '[.events[] | {id, node, to, message}]')
last_before=$(printf '%s' "$BODY" | jq .last_event_id)

# While provd runs on it, the source is refused.
if "$PROVD" db import-sqlite "$STATE" --state-url "$DB" >"$T/busy.out" 2>&1; then fail "imported from a running provd's state"; fi
grep -q "a provd is running on $STATE: stop it first" "$T/busy.out" || fail "no word of the running provd: $(cat "$T/busy.out")"
provd_stop
ok "import-sqlite refuses a state directory a provd runs on"

# Not PostgreSQL: refused.
if "$PROVD" db import-sqlite "$STATE" --state-dir "$T/elsewhere" >"$T/nourl.out" 2>&1; then fail "imported without --state-url"; fi
grep -q -- "--state-url postgresql://" "$T/nourl.out" || fail "no word of --state-url: $(cat "$T/nourl.out")"

# migrate: an empty database gets the schema.
"$PROVD" db migrate --state-url "$DB" >"$T/migrate.out" 2>&1 || fail "db migrate: $(cat "$T/migrate.out")"
[ "$(sql "$DB" "SELECT count(*) FROM information_schema.tables WHERE table_name IN ('nodes','attempts','history','boots','instances','leases','bmc_ops')")" = 7 ] ||
        fail "db migrate did not create the tables"
ok "db migrate creates the schema on an empty PostgreSQL database"

"$PROVD" db import-sqlite "$STATE/provd.db" --state-url "$DB" >"$T/import.out" 2>&1 || fail "import: $(cat "$T/import.out")"
grep -q "imported $STATE/provd.db: 2 nodes, 2 install attempts, " "$T/import.out" || fail "import said: $(cat "$T/import.out")"
ok "import-sqlite: $(cat "$T/import.out")"

# Again: the target is no longer empty.
if "$PROVD" db import-sqlite "$STATE" --state-url "$DB" >"$T/again.out" 2>&1; then fail "imported twice"; fi
grep -q "already holds provd state (2 nodes" "$T/again.out" || fail "no word of the state there: $(cat "$T/again.out")"
ok "a second import into the same database is refused, naming what it holds"

# provd on PostgreSQL: the same events and states; the open attempt's token still works.
LOG=$T/pg.log STATE=$T/pg-state provd_start "$T/inv.json" --state-url "$DB" --shared-key-file "$T/shared.key"
expect_status 200 GET "/v1/events?limit=100"
events_after=$(printf '%s' "$BODY" | jq -c '[.events[] | {id, node, to, message}]')
[ "$events_before" = "$events_after" ] || fail "events differ after the import: $events_before vs $events_after"
expect_status 200 GET /v1/nodes/node-01
jq_eq .state installed
jq_eq .credential true
expect_status 200 GET /v1/nodes/node-02
jq_eq .state installing
jq_eq .attempt.number 1
event "$tok2" '{"phase":"succeeded"}'
[ "$STATUS" = 200 ] || fail "the open attempt's token after the import: $STATUS $BODY"
expect_status 200 GET "/v1/events?limit=1"
new_id=$(printf '%s' "$BODY" | jq '.events[0].id')
[ "$new_id" -gt "$last_before" ] || fail "a new event got id $new_id, not after the imported $last_before"
provd_stop
ok "provd on the imported database: same events, states and credential; the open token works; new ids follow"
