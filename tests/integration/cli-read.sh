#!/usr/bin/env bash
# The client commands against a real provd: `provd token new` (0600 file, token printed once,
# duplicates refused, hash = BLAKE2b-256 of the token), the token accepted on POST /v1/reload
# while no token / an install token are not; `provd summary`, `provd events` (--since, --limit,
# --json = the API's JSON), `provd events --follow` (an event made while it runs; resumes with
# Last-Event-ID across a provd restart; SIGINT exits 0), `provd history` (newest first,
# --limit, paging past 1000 entries), where the URL and token come from (--url, PROVD_URL,
# [cli] url / token_file, --token-file, PROVD_TOKEN), an unknown node (exit 3) and provd not
# running (exit 1, "cannot reach").
source "$(dirname "$0")/lib.sh"

unset PROVD_URL PROVD_TOKEN
: >"$T/empty.ini"
# Every client call names its config file, so a /etc/provd/provd.ini on this machine cannot interfere.
cli() { "$PROVD" --config "$T/empty.ini" "$@"; }
# run_cli WANT_EXIT ARGS...: runs the client, stdout in $T/out, stderr in $T/err.
run_cli() {
        local want=$1 rc=0
        shift
        cli "$@" >"$T/out" 2>"$T/err" || rc=$?
        [ "$rc" = "$want" ] || fail "provd $*: exit $rc, expected $want; stdout: $(head -c 600 "$T/out"); stderr: $(cat "$T/err")"
}
# The n-th line (1-based) of $T/out.
line() { sed -n "${1}p" "$T/out"; }

"$PROVD" --help >"$T/help"
for c in summary events history token; do
        grep -q "^  $c " "$T/help" || fail "provd --help does not list $c"
        "$PROVD" "$c" --help >"$T/out" || fail "provd $c --help failed"
        grep -q "^Usage: provd $c" "$T/out" || fail "provd $c --help: $(cat "$T/out")"
done
"$PROVD" events --help | grep -q -- '--follow' || fail "events --help does not mention --follow"
"$PROVD" history --help | grep -q -- '--limit' || fail "history --help does not mention --limit"
run_cli 2 frobnicate
run_cli 2 --json
run_cli 2 summary --bogus
ok "--help lists the client commands; each has its own --help; usage errors exit 2"

# ---- token new: local, before any daemon runs ---------------------------------------------
run_cli 0 token new --name admin --file "$T/api-tokens"
[ "$(wc -l <"$T/out")" = 1 ] || fail "token new printed more than the token: $(cat "$T/out")"
tok=$(cat "$T/out")
[[ $tok =~ ^pvd_[A-Za-z0-9_-]{43}$ ]] || fail "token new printed '$tok', not pvd_ + 43 base64url characters"
[ "$(stat -c %a "$T/api-tokens")" = 600 ] || fail "tokens file mode $(stat -c %a "$T/api-tokens"), expected 600"
hash=$(printf '%s' "$tok" | b2sum -l 256 | cut -d' ' -f1)
[ "$(cat "$T/api-tokens")" = "admin blake2b:$hash" ] || fail "tokens file: '$(cat "$T/api-tokens")', expected 'admin blake2b:$hash'"
grep -q "${tok#pvd_}" "$T/api-tokens" && fail "the token is stored in clear"
grep -q "admin" "$T/err" || fail "token new does not say what it did: $(cat "$T/err")"
cp "$T/api-tokens" "$T/api-tokens.before"
run_cli 1 token new --name admin --file "$T/api-tokens"
grep -q "already exists" "$T/err" || fail "duplicate name message: $(cat "$T/err")"
[ ! -s "$T/out" ] || fail "a refused token new printed a token"
cmp -s "$T/api-tokens" "$T/api-tokens.before" || fail "a refused token new changed the file"
run_cli 2 token new --name 'bad name' --file "$T/api-tokens"
run_cli 2 token new --file "$T/api-tokens"
run_cli 2 token frobnicate --name x
cmp -s "$T/api-tokens" "$T/api-tokens.before" || fail "a usage error changed the file"
# The default file is api_tokens= of [serve] in --config.
printf '[serve]\napi_tokens = %s\n[cli]\nurl = http://127.0.0.1:1\n' "$T/cfg-tokens" >"$T/tok.ini"
"$PROVD" token new --name ci --config "$T/tok.ini" >"$T/out" 2>"$T/err" || fail "token new --config: $(cat "$T/err")"
grep -q '^ci blake2b:[0-9a-f]\{64\}$' "$T/cfg-tokens" || fail "token new did not use api_tokens= of --config"
"$PROVD" token --help | grep -q -- '--name NAME' || fail "token --help"
ok "token new: 0600 file with the BLAKE2b-256 hash, token printed once, duplicates and bad names refused"

# ---- a provd with that tokens file; [cli] in its config file does not bother it -------------
make_inventory "$T/inv.json" 3
cat >"$T/provd.ini" <<INI
[serve]
api_tokens = $T/api-tokens
[cli]
url = http://127.0.0.1:1
INI
provd_start "$T/inv.json" --config "$T/provd.ini"
PORT=${URL##*:}

http POST /v1/reload
[ "$STATUS" = 401 ] || fail "POST /v1/reload without a token: $STATUS $(short_body)"
http POST /v1/reload -H "Authorization: Bearer pvd_${tok:5}x"
[ "$STATUS" = 401 ] || fail "POST /v1/reload with an unknown API token: $STATUS $(short_body)"
http POST /v1/reload -H "Authorization: Bearer $tok"
[ "$STATUS" = 200 ] || fail "POST /v1/reload with the new token: $STATUS $(short_body)"
jq_eq .nodes 3
ok "the token from token new is accepted on POST /v1/reload; none or an unknown one: 401"

# Drive node-01 through an install, node-02 into netbooting; node-03 stays new.
t1=$(token_of 52:54:00:00:00:01)
http POST /v1/reload -H "Authorization: Bearer $t1"
[ "$STATUS" = 403 ] || fail "POST /v1/reload with an install token: $STATUS $(short_body)"
event "$t1" '{"phase":"started","message":"installer up"}'
event "$t1" '{"phase":"installing","message":"two\nlines"}'
event "$t1" '{"phase":"succeeded"}'
[ "$STATUS" = 200 ] || fail "succeeded: $STATUS $BODY"
token_of 52:54:00:00:00:02 >/dev/null

# ---- summary --------------------------------------------------------------------------------
run_cli 0 summary --url "$URL"
[ "$(line 1 | tr -s ' ')" = "STATE NODES" ] || fail "summary header: $(cat "$T/out")"
for s in new:1 pending:0 netbooting:1 installing:0 installed:1 failed:0 total:3; do
        got=$(awk -v k="${s%:*}" '$1 == k { print $2 }' "$T/out")
        [ "$got" = "${s#*:}" ] || fail "summary: ${s%:*} = '$got', expected ${s#*:}: $(cat "$T/out")"
done
http GET /v1/summary
run_cli 0 summary --url "$URL" --json
[ "$(cat "$T/out")" = "$BODY" ] || fail "summary --json differs from GET /v1/summary: $(cat "$T/out") vs $BODY"
run_cli 0 --json --url "$URL" summary # global options before the command
[ "$(cat "$T/out")" = "$BODY" ] || fail "provd --json summary"
PROVD_URL=$URL run_cli 0 summary
grep -q '^installed  *1$' "$T/out" || fail "summary with PROVD_URL: $(cat "$T/out")"
printf '[cli]\nurl = %s/\n' "$URL" >"$T/cli.ini"
"$PROVD" --config "$T/cli.ini" summary >"$T/out" 2>"$T/err" || fail "summary with url= in [cli]: $(cat "$T/err")"
PROVD_URL=http://127.0.0.1:1 run_cli 0 summary --url "$URL" # the flag wins
run_cli 2 summary --url ftp://x
run_cli 2 summary extra
"$PROVD" summary --help | grep -q -- '--json' || fail "summary --help"
ok "summary: table with every state, --json = the API's JSON; URL from --url, PROVD_URL, [cli] url"

# ---- events ---------------------------------------------------------------------------------
http GET /v1/events
printf '%s' "$BODY" >"$T/events.json"
n_events=$(jq '.events | length' "$T/events.json")
[ "$n_events" -ge 5 ] || fail "expected at least 5 events, got $n_events: $BODY"
run_cli 0 events --url "$URL"
[ "$(wc -l <"$T/out")" = "$n_events" ] || fail "events: $(wc -l <"$T/out") lines for $n_events events: $(cat "$T/out")"
# TIME  NODE  FROM -> TO  CAUSE  MESSAGE, in the API's order (oldest first).
jq -r '.events[] | "\(.node) \(.from) -> \(.to) \(.cause)"' "$T/events.json" >"$T/want"
awk '{ print $2, $3, $4, $5, $6 }' "$T/out" >"$T/got"
diff "$T/want" "$T/got" >&2 || fail "events lines differ from GET /v1/events (node, from -> to, cause, in order)"
[[ $(line 1) =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[+-][0-9]{2}:[0-9]{2}\ \  ]] || fail "time column: $(line 1)"
grep -q 'netbooting -> installing .*installer reported started: installer up$' "$T/out" || fail "message column: $(cat "$T/out")"
grep -qF 'two\nlines' "$T/out" || fail "a message with a newline is not kept on one line: $(cat "$T/out")"
run_cli 0 events --url "$URL" --json
[ "$(cat "$T/out")" = "$BODY" ] || fail "events --json differs from GET /v1/events"
mid=$(jq '.events[1].id' "$T/events.json")
run_cli 0 events --url "$URL" --since "$mid" --json
[ "$(jq '[.events[].id] | map(select(. <= '"$mid"')) | length' "$T/out")" = 0 ] || fail "--since $mid returned older events"
[ "$(jq '.events | length' "$T/out")" = "$(jq "[.events[] | select(.id > $mid)] | length" "$T/events.json")" ] ||
        fail "--since $mid: wrong number of events: $(cat "$T/out")"
run_cli 0 events --url "$URL" --since "$mid"
[ "$(wc -l <"$T/out")" = "$((n_events - 2))" ] || fail "events --since $mid: $(cat "$T/out")"
at3=$(jq -r '.events[2].at' "$T/events.json")
run_cli 0 events --url "$URL" --since "$at3" --json
[ "$(jq '.events[0].at' "$T/out")" != null ] || fail "--since TIME returned nothing: $(cat "$T/out")"
[ "$(jq -r '[.events[].at | . >= "'"$at3"'"] | all' "$T/out")" = true ] || fail "--since $at3 returned older events: $(cat "$T/out")"
run_cli 0 events --url "$URL" --limit 2
[ "$(wc -l <"$T/out")" = 2 ] || fail "--limit 2: $(cat "$T/out")"
[ "$(awk '{print $2, $3, $4, $5}' "$T/out" | tail -n1)" = "$(tail -n1 "$T/want" | cut -d' ' -f1-4)" ] ||
        fail "--limit 2 does not end with the newest event: $(cat "$T/out")"
run_cli 2 events --url "$URL" --limit 0
run_cli 2 events --url "$URL" --limit 1001
run_cli 1 events --url "$URL" --since yesterday
grep -q '^provd: ' "$T/err" || fail "a 400 is not printed as 'provd: <message>': $(cat "$T/err")"
ok "events: one line per event in order, --since ID and TIME, --limit, --json = the API's JSON"

# ---- history --------------------------------------------------------------------------------
http GET /v1/nodes/node-01
n_hist=$(printf '%s' "$BODY" | jq '.history | length')
run_cli 0 history node-01 --url "$URL"
[ "$(line 1 | tr -s ' ')" = "TIME TRANSITION CAUSE ATTEMPT MESSAGE" ] || fail "history header: $(line 1)"
[ "$(($(wc -l <"$T/out") - 1))" = "$n_hist" ] || fail "history: $(cat "$T/out") for $n_hist entries"
line 2 | grep -q 'installing -> installed' || fail "history is not newest first: $(cat "$T/out")"
tail -n1 "$T/out" | grep -q 'new -> netbooting' || fail "history's last line is not the oldest: $(cat "$T/out")"
run_cli 0 history node-01 --url "$URL" --limit 2
[ "$(wc -l <"$T/out")" = 3 ] || fail "history --limit 2: $(cat "$T/out")"
run_cli 0 history --url "$URL" --json node-01
[ "$(jq -c '[.history[].id]' "$T/out")" = "$(printf '%s' "$BODY" | jq -c '[.history[].id] | reverse')" ] ||
        fail "history --json ids are not GET /v1/nodes/node-01's, newest first: $(cat "$T/out")"
run_cli 3 history node-99 --url "$URL"
grep -q 'node-99' "$T/err" || fail "unknown node message: $(cat "$T/err")"
run_cli 2 history --url "$URL"
run_cli 2 history node-01 node-02 --url "$URL"
ok "history: newest first, --limit, --json; unknown node exits 3"

# ---- events --follow ------------------------------------------------------------------------
# From the current last event: what happens next must show up.
last=$(cli summary --url "$URL" --json | jq .last_event_id)
printf '%s\n' "$tok" >"$T/api-tokens-tok"
# Not through cli(): $! must be provd itself (a backgrounded function is a subshell that
# ignores SIGINT).
"$PROVD" --config "$T/empty.ini" events --follow --since "$last" --url "$URL" --token-file "$T/api-tokens-tok" \
        >"$T/follow.out" 2>"$T/follow.err" &
FPID=$!
PIDS+=("$FPID")
wait_for_line() { # FILE REGEX: up to 15 s
        local i
        for i in $(seq 1 150); do
                grep -qE "$2" "$1" && return 0
                kill -0 "$FPID" 2>/dev/null || fail "events --follow exited: $(cat "$T/follow.err")"
                sleep 0.1
        done
        fail "no line matching '$2' in $1 within 15 s: $(cat "$1"); stderr: $(cat "$T/follow.err")"
}
token_of 52:54:00:00:00:03 >/dev/null
wait_for_line "$T/follow.out" 'node-03  *new -> netbooting'
ok "events --follow prints an event made while it runs"

# provd restarts (on the same port; read_auth=token now) and an event happens before the
# client can reconnect (it is stopped meanwhile): the stream resumes from the last event id
# (Last-Event-ID), so the event is not lost.
kill -STOP "$FPID"
provd_stop
printf '[serve]\napi_tokens = %s\nread_auth = token\n' "$T/api-tokens" >"$T/provd2.ini"
provd_start "$T/inv.json" --config "$T/provd2.ini" --listen "127.0.0.1:$PORT"
t2=$(token_of 52:54:00:00:00:02)
event "$t2" '{"phase":"started"}'
[ "$STATUS" = 200 ] || fail "node-02 started: $STATUS $BODY"
kill -CONT "$FPID"
wait_for_line "$T/follow.out" 'node-02  *netbooting -> installing'
# (polled: the notice is written before the reconnect, but the check must not depend on when
# this shell gets to read the file; once in CI it found the file empty right after the line)
for _ in $(seq 1 50); do grep -q 'reconnecting' "$T/follow.err" && break; sleep 0.1; done
grep -q 'reconnecting' "$T/follow.err" ||
        fail "no word about the dropped connection within 5 s: stderr '$(cat "$T/follow.err")'; stdout: $(cat "$T/follow.out")"
[ "$(grep -c 'node-03  *new -> netbooting' "$T/follow.out")" = 1 ] || fail "an event was printed twice after the reconnect: $(cat "$T/follow.out")"
kill -INT "$FPID"
rc=0
wait "$FPID" || rc=$?
[ "$rc" = 0 ] || fail "events --follow exited $rc after SIGINT: $(cat "$T/follow.err")"
ok "events --follow resumes after a provd restart without losing or repeating events; SIGINT exits 0"

# ---- the token from the client's side (read_auth=token now) ----------------------------------
run_cli 1 summary --url "$URL"
grep -q 'API token' "$T/err" || fail "401 without a token gives no hint: $(cat "$T/err")"
run_cli 0 summary --url "$URL" --token-file "$T/api-tokens-tok"
PROVD_TOKEN=$tok run_cli 0 summary --url "$URL"
printf '[cli]\nurl = %s\ntoken_file = %s\n' "$URL" "$T/api-tokens-tok" >"$T/cli.ini"
"$PROVD" --config "$T/cli.ini" summary >"$T/out" 2>"$T/err" || fail "summary with token_file= in [cli]: $(cat "$T/err")"
grep -q '^installing  *1$' "$T/out" || fail "summary after the restart: $(cat "$T/out")"
PROVD_TOKEN=garbage run_cli 1 summary --url "$URL"
run_cli 1 summary --url "$URL" --token-file "$T/api-tokens" # the hashes file is not a token
ok "API token from --token-file, PROVD_TOKEN, [cli] token_file; without one: 401 with a hint"

# ---- paging: more than one page of history and of events ----------------------------------
provd_stop
state_sql "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1500)
        INSERT INTO history (node, at, from_state, to_state, cause, message, attempt_id)
        SELECT 'node-03', 1700000000000 + i, 'failed', 'failed', 'test', 'row ' || i, NULL FROM n;"
provd_start "$T/inv.json" --config "$T/provd.ini" --listen "127.0.0.1:$PORT"
http GET /v1/nodes/node-03
n3=$(printf '%s' "$BODY" | jq '.history | length')
[ "$n3" -gt 1500 ] || fail "node-03 has only $n3 history entries"
run_cli 0 history node-03 --url "$URL" --json
[ "$(jq '.history | length' "$T/out")" = "$n3" ] || fail "history did not page through all $n3 entries: $(jq '.history | length' "$T/out")"
[ "$(jq '[.history[].id] | . == (sort | reverse)' "$T/out")" = true ] || fail "paged history is not newest first"
[ "$(jq '[.history[].id] | unique | length' "$T/out")" = "$n3" ] || fail "paged history repeats entries"
[ "$(jq .next_before "$T/out")" = null ] || fail "next_before after the last page: $(jq .next_before "$T/out")"
run_cli 0 history node-03 --url "$URL" --limit 1234
[ "$(wc -l <"$T/out")" = 1235 ] || fail "history --limit 1234: $(wc -l <"$T/out") lines"
# --since 1, not 0: GET /v1/events?since=0 answers like no since (the newest `limit` events).
run_cli 0 events --url "$URL" --since 1 --json
total=$(state_sql 'SELECT COUNT(*) FROM history WHERE id > 1')
[ "$(jq '.events | length' "$T/out")" = "$total" ] || fail "events --since 1 did not page through all $total events: $(jq '.events | length' "$T/out")"
[ "$(jq '[.events[].id] | . == sort and . == unique' "$T/out")" = true ] || fail "paged events are not oldest first, each once"
ok "history and events --since page through more than 1000 entries"

# ---- provd not running ----------------------------------------------------------------------
provd_stop
run_cli 1 summary --url "$URL"
grep -qF "cannot reach provd at $URL: Connection refused (is \`provd serve\` running? set --url or PROVD_URL)" "$T/err" ||
        fail "not-running message: $(cat "$T/err")"
run_cli 1 events --follow --url "$URL"
grep -q "cannot reach provd" "$T/err" || fail "events --follow with provd down: $(cat "$T/err")"
ok "provd not running: exit 1, 'cannot reach provd at URL: Connection refused ...'"

# ---- TLS: verified by default; --cacert / cacert= in [cli] for a private CA ----------------
if ! command -v openssl >/dev/null; then
        [ -z "${PROVD_TESTS_NO_SKIP:-}" ] || fail "openssl is missing"
        echo "SKIP: openssl is missing; TLS part not run"
        exit 77
fi
mkdir "$T/tls"
(
        cd "$T/tls"
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem -days 2 \
                -subj /CN=provd-test-ca
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout srv.key -out srv.csr -subj /CN=127.0.0.1
        printf 'subjectAltName=IP:127.0.0.1\n' >ext
        openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem -days 2 -extfile ext
) >"$T/tls/log" 2>&1 || fail "openssl: $(cat "$T/tls/log")"
: >"$LOG"
"$PROVD" serve --inventory "$T/inv.json" --state-dir "$STATE" --listen 127.0.0.1:0 \
        --tls-cert "$T/tls/srv.pem" --tls-key "$T/tls/srv.key" 2>>"$LOG" &
PROVD_PID=$!
PIDS+=("$PROVD_PID")
for i in $(seq 1 200); do
        grep -q 'listening on https://' "$LOG" && break
        kill -0 "$PROVD_PID" 2>/dev/null || fail "provd with TLS did not start: $(cat "$LOG")"
        sleep 0.05
done
URL=$(grep -o 'listening on https://[^ ]*' "$LOG" | head -n1 | cut -d' ' -f3)
[ -n "$URL" ] || fail "provd with TLS did not log its https:// URL: $(cat "$LOG")"
run_cli 1 summary --url "$URL"
grep -q 'TLS with provd at .* --cacert FILE' "$T/err" || fail "unverified TLS message: $(cat "$T/err")"
run_cli 0 summary --url "$URL" --cacert "$T/tls/ca.pem"
grep -q '^total  *3$' "$T/out" || fail "summary over TLS: $(cat "$T/out")"
printf '[cli]\nurl = %s\ncacert = %s\n' "$URL" "$T/tls/ca.pem" >"$T/cli.ini"
"$PROVD" --config "$T/cli.ini" history node-01 >"$T/out" 2>"$T/err" || fail "history with cacert= in [cli]: $(cat "$T/err")"
run_cli 1 summary --url "$URL" --cacert "$T/missing.pem"
provd_stop
ok "https: unverified certificate refused with a hint; --cacert and cacert= in [cli] work"
