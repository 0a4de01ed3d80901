#!/usr/bin/env bash
# kill -9 at any point loses nothing that was answered: states, attempts, history, and the
# open attempt's token (stored hashed) still works after a restart.
source "$(dirname "$0")/lib.sh"

make_inventory "$T/inv.json" 3
provd_start "$T/inv.json"
t1=$(token_of 52:54:00:00:00:01)
event "$t1" '{"phase":"started"}'
event "$t1" '{"phase":"partitioning"}'
t2=$(token_of 52:54:00:00:00:02)
event "$t2" '{"phase":"started"}'
event "$t2" '{"phase":"succeeded"}'
t3=$(token_of 52:54:00:00:00:03)
http GET /v1/nodes
before=$BODY
for n in 1 2 3; do http GET /v1/nodes/node-0$n; printf '%s' "$BODY" >"$T/before-$n"; done
provd_kill9
ok "killed with SIGKILL mid-install"

if sqlite_only "provd.db in the state directory, in WAL mode"; then
        [ -f "$STATE/provd.db" ] || fail "no database in the state dir"
        [ "$(state_sql 'PRAGMA journal_mode')" = wal ] || fail "database is not in WAL mode"
fi
provd_start "$T/inv.json"
http GET /v1/nodes
[ "$BODY" = "$before" ] || fail "node list changed across kill -9: $before -> $BODY"
for n in 1 2 3; do
        http GET /v1/nodes/node-0$n
        [ "$BODY" = "$(cat "$T/before-$n")" ] || fail "node-0$n changed across kill -9"
done
ok "states, attempts and history identical after restart"

# node-01's installer keeps going with the token it was given before the crash.
event "$t1" '{"phase":"installing"}'
[ "$STATUS" = 200 ] || fail "pre-crash token rejected: $STATUS $BODY"
event "$t1" '{"phase":"succeeded"}'
jq_eq .state installed
event "$t2" '{"phase":"started"}'
[ "$STATUS" = 403 ] || fail "ended attempt's token accepted after restart: $STATUS"
ok "open attempt's token survives the restart; ended ones stay dead"

n3=$(token_of 52:54:00:00:00:03)
expect_status 200 GET /v1/nodes/node-03
if ! tokens_sealed; then
        # node-03 was told to install but provd no longer knows its token (only the hash): its
        # next netboot opens attempt 2, and the old token is dead.
        [ "$n3" != "$t3" ] || fail "token re-issued from nowhere"
        jq_eq .attempt.number 2
        jq_eq '.history[-1].message' 'network boot after a provd restart: token not recoverable, new install attempt opened'
        event "$t3" '{"phase":"started"}'
        [ "$STATUS" = 403 ] || fail "superseded token accepted: $STATUS"
        [ "$(token_of 52:54:00:00:00:03)" = "$n3" ] || fail "repeated boot call changed the attempt"
        ok "netbooting node after restart gets a new attempt; old token dead"
else
        # The store keeps the token sealed under the shared key (PostgreSQL: any instance hands
        # out the token another handed out): the restarted provd answers with the same token
        # and attempt, and the token works.
        [ "$n3" = "$t3" ] || fail "the open attempt's token was not handed out again after the restart"
        jq_eq .attempt.number 1
        event "$t3" '{"phase":"started"}'
        [ "$STATUS" = 200 ] || fail "the open attempt's token refused after the restart: $STATUS $BODY"
        ok "netbooting node after restart gets its open attempt's token again (sealed in the store)"
fi

# Installed nodes boot from disk after the restart too.
expect_status 404 GET /v1/boot/52:54:00:00:00:02

# Tokens are never stored in clear.
store_dump >"$T/dump"
for t in "$t1" "$t2" "$t3" "$n3"; do
        if grep -rqF "$t" "$STATE"; then fail "token found in clear in the state dir"; fi
        if grep -qF "$t" "$T/dump"; then fail "token found in clear in the store"; fi
done
ok "no token in clear in the state directory and the store"

# A second daemon on the same state dir is refused.
rc=0
"$PROVD" serve --inventory "$T/inv.json" --state-dir "$STATE" --listen 127.0.0.1:0 2>"$T/second.log" || rc=$?
[ "$rc" = 1 ] || fail "second provd on the same state dir: exit $rc"
grep -q "state directory $STATE is in use by another provd" "$T/second.log" || fail "second provd: $(cat "$T/second.log")"
ok "second provd on the same state directory refused"

provd_stop
