#!/usr/bin/env bash
# Installer callbacks: token checks (401/403), bad bodies (400/413), repeated events are
# harmless, a token dies with its attempt, a netboot during install opens a new attempt.
source "$(dirname "$0")/lib.sh"

make_inventory "$T/inv.json" 3
provd_start "$T/inv.json"
tok=$(token_of 52:54:00:00:00:01)
hist() { http GET /v1/nodes/node-01; printf '%s' "$BODY" | jq '.history | length'; }

# Authentication.
http POST /v1/install/events --data-binary '{"phase":"started"}'
[ "$STATUS" = 401 ] || fail "no Authorization: $STATUS"
grep -qi '^www-authenticate: Bearer' <(curl -sS -D - -o /dev/null -X POST --data-binary '{}' "$URL/v1/install/events") \
        || fail "401 without WWW-Authenticate"
http POST /v1/install/events -H "Authorization: Basic $tok" --data-binary '{"phase":"started"}'
[ "$STATUS" = 401 ] || fail "Basic auth: $STATUS"
event garbage '{"phase":"started"}'
[ "$STATUS" = 401 ] || fail "malformed token: $STATUS"
bad=${tok%?}; [ "${tok: -1}" = A ] && bad=${bad}B || bad=${bad}A
event "$bad" '{"phase":"started"}'
[ "$STATUS" = 401 ] || fail "wrong token of the right form: $STATUS $BODY"
jq_eq '.error.message' 'unknown install or boot token'
other=$(token_of 52:54:00:00:00:02)
[ "$other" != "$tok" ] || fail "two nodes got the same token"
[ "$(hist)" = 1 ] || fail "a rejected event changed the history"
ok "missing, non-Bearer, malformed and unknown tokens: 401, nothing changes"

# Bad bodies.
for b in '' 'not json' '[]' '"started"' '{}' '{"phase":1}' '{"phase":"rebooting"}' '{"phase":"started","message":7}'; do
        event "$tok" "$b"
        [ "$STATUS" = 400 ] || fail "body '$b': expected 400, got $STATUS $BODY"
        jq_eq '.error.code' bad_request
done
head -c 70000 /dev/zero | tr '\0' a | sed 's/^/{"phase":"started","message":"/; s/$/"}/' >"$T/big"
event "$tok" "@$T/big"
[ "$STATUS" = 413 ] || fail "oversized body: $STATUS"
[ "$(hist)" = 1 ] || fail "a bad body changed the history"
ok "bad JSON, wrong types, unknown phase: 400; oversized: 413; nothing changes"

# Phases; repeats are harmless.
event "$tok" '{"phase":"started","message":"installer up"}'
[ "$STATUS" = 200 ] || fail "started: $STATUS $BODY"
jq_eq .state installing
jq_eq .changed true
for i in 1 2 3; do
        event "$tok" '{"phase":"started","message":"installer up"}'
        [ "$STATUS" = 200 ] || fail "repeat: $STATUS"
        jq_eq .changed false
done
[ "$(hist)" = 2 ] || fail "repeated event recorded again"
event "$tok" '{"phase":"partitioning","message":"/dev/vda: \"gpt\" \u00e9\n2 partitions"}'
jq_eq .phase partitioning
event "$tok" '{"phase":"installing"}'
[ "$(hist)" = 4 ] || fail "phase changes not recorded"
http GET /v1/nodes/node-01
jq_eq '.history[2].message' "$(printf 'installer reported partitioning: /dev/vda: "gpt" \u00e9\n2 partitions')"
ok "phases recorded once each; repeats harmless; messages kept verbatim"

event "$tok" '{"phase":"succeeded"}'
jq_eq .state installed
for p in succeeded started failed; do
        event "$tok" "{\"phase\":\"$p\"}"
        [ "$STATUS" = 403 ] || fail "dead token, phase $p: $STATUS $BODY"
done
http GET /v1/nodes/node-01
jq_eq .state installed
jq_eq '.history | length' 5
ok "token dead once the attempt ended: 403, state unchanged"

# A netboot during install abandons the attempt; the old token dies, a new one works.
event "$other" '{"phase":"started"}'
jq_eq .state installing
new=$(token_of 52:54:00:00:00:02)
[ "$new" != "$other" ] || fail "netboot during install reused the token"
event "$other" '{"phase":"installing"}'
[ "$STATUS" = 403 ] || fail "superseded token: $STATUS $BODY"
event "$new" '{"phase":"failed","message":"nix-store: cannot substitute"}'
jq_eq .state failed
jq_eq .attempt 2
http GET /v1/nodes/node-02
jq_eq '[.history[].to] | join(",")' 'netbooting,installing,netbooting,failed'
jq_eq '.history[2].cause' netboot
jq_eq '.attempt.outcome' failed
ok "netboot during install: attempt 1 abandoned, attempt 2 opened; failure recorded"

expect_status 405 GET /v1/install/events
provd_stop
# An installer message with a newline stays one log line.
grep -q '^2 partitions' "$LOG" && fail "installer message split a log line"
ok "installer messages cannot split log lines"
