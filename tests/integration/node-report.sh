#!/usr/bin/env bash
# Nodes report what they run: the installer of an open attempt gets a node credential
# (POST /v1/install/credential), the node reports with it (POST /v1/nodes/<name>/report);
# provd derives in_sync / drifted / reboot_pending / silent against the inventory's toplevel,
# shows it in node reads, ?drift= filters, the summary and /metrics, and writes a history
# entry when the running system changes.  Auth: a credential reports only for its own node;
# install tokens, API tokens, revoked and unknown credentials are refused; a new install
# rotates the credential.  Reports survive restart and reload.
source "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || skip "jq missing"

make_inventory "$T/inv.json" 3
ADMIN=$(api_token "$T/api-tokens")
provd_start "$T/inv.json" --api-tokens "$T/api-tokens" --report-silent-after 3
SYS1=/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-nixos-system-node-01
SYS1B=/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-nixos-system-node-01
# the inventory's toplevel of node-01 (make_inventory's form) and a store-path-shaped one
jq --arg s "$SYS1" '.nodes[0].system.toplevel = $s' "$T/inv.json" >"$T/inv2.json" && cp "$T/inv2.json" "$T/inv.json"
expect_status 200 POST /v1/reload -H "Authorization: Bearer $ADMIN"

# An install attempt for node-01 and node-02; the installers ask for their credentials.
tok1=$(token_of 52:54:00:00:00:01)
tok2=$(token_of 52:54:00:00:00:02)
expect_status 200 POST /v1/install/credential -H "Authorization: Bearer $tok1"
jq_eq .node node-01
CRED1=$(printf '%s' "$BODY" | jq -r .credential)
[[ "$CRED1" =~ ^pvn_[A-Za-z0-9_-]{43}$ ]] || fail "credential form: $CRED1"
expect_status 200 POST /v1/install/credential -H "Authorization: Bearer $tok2"
CRED2=$(printf '%s' "$BODY" | jq -r .credential)
state_sql "SELECT $(sql_hex hash) FROM node_credentials" | grep -qi "$(printf '%s' "${CRED1#pvn_}" | python3 -c 'import hashlib,sys; print(hashlib.blake2b(sys.stdin.buffer.read(), digest_size=32).hexdigest())')" ||
        fail "the store does not hold the credential's BLAKE2b hash"
store_dump | grep -qF "${CRED1#pvn_}" && fail "the credential is stored in clear"
ok "install tokens get node credentials (hash stored only)"

report() { # NAME CRED RUNNING BOOTED
        expect_status "$1" POST "/v1/nodes/$2/report" -H "Authorization: Bearer $3" -H 'Content-Type: application/json' \
                --data "{\"running\": \"$4\", \"booted\": \"$5\", \"kernel\": \"6.1.0-28-amd64\", \"uptime\": 42.5}"
}
expect_status 200 GET /v1/nodes/node-01
jq_eq .drift unknown
jq_eq .report null
jq_eq .credential true
report 200 node-01 "$CRED1" "$SYS1" "$SYS1"
jq_eq .drift in_sync
jq_eq .changed true
report 200 node-01 "$CRED1" "$SYS1" "$SYS1"
jq_eq .changed false
expect_status 200 GET /v1/nodes/node-01
jq_eq .drift in_sync
jq_eq .report.running "$SYS1"
jq_eq .report.kernel 6.1.0-28-amd64
jq_eq '[.history[] | select(.cause == "report")] | length' 1
report 200 node-01 "$CRED1" "$SYS1B" "$SYS1"
jq_eq .drift drifted
report 200 node-01 "$CRED1" "$SYS1" "$SYS1B"
jq_eq .drift reboot_pending
expect_status 200 GET /v1/nodes/node-01/history
jq_eq '[.history[] | select(.cause == "report")] | length' 3
jq_eq '[.history[] | select(.cause == "report")][0].message | startswith("running '"$SYS1"', was '"$SYS1B"'")' true
ok "reports: unknown -> in_sync -> drifted -> reboot_pending; history only when the running system changes"

# Auth.
expect_status 401 POST /v1/nodes/node-01/report --data "{}"
report 401 node-01 "pvn_$(head -c 32 /dev/urandom | base64 -w0 | tr '+/' '-_' | tr -d '=')" "$SYS1" "$SYS1"
report 403 node-01 "$CRED2" "$SYS1" "$SYS1"
report 403 node-01 "$tok1" "$SYS1" "$SYS1"
report 403 node-01 "$ADMIN" "$SYS1" "$SYS1"
report 401 node-01 "garbage" "$SYS1" "$SYS1"
report 404 node-99 "$CRED1" "$SYS1" "$SYS1"
report 400 node-01 "$CRED1" "/etc/passwd" "$SYS1"
report 400 node-01 "$CRED1" "$SYS1/bin" "$SYS1"
expect_status 400 POST /v1/nodes/node-01/report -H "Authorization: Bearer $CRED1" --data '{"running": 1}'
expect_status 400 POST /v1/nodes/node-01/report -H "Authorization: Bearer $CRED1" --data 'nope'
expect_status 405 GET /v1/nodes/node-01/report
expect_status 401 POST /v1/install/credential
expect_status 401 POST /v1/install/credential -H "Authorization: Bearer $(head -c 32 /dev/urandom | base64 -w0 | tr '+/' '-_' | tr -d '=' | cut -c1-43)"
expect_status 403 POST /v1/install/credential -H "Authorization: Bearer $ADMIN"
ok "a credential reports only for its node; install/API tokens, unknown credentials, bad bodies refused"

# Filters, summary, metrics.
report 200 node-02 "$CRED2" "$SYS1B" "$SYS1B"
expect_status 200 GET '/v1/nodes?drift=drifted'
jq_eq '[.nodes[].name] | join(",")' node-02
expect_status 200 GET '/v1/nodes?drift=reboot_pending,unknown'
jq_eq '[.nodes[].name] | join(",")' node-01,node-03
expect_status 400 GET '/v1/nodes?drift=sideways'
expect_status 200 GET /v1/summary
jq_eq '.drift | "\(.in_sync) \(.drifted) \(.reboot_pending) \(.silent) \(.unknown)"' "0 1 1 0 1"
expect_status 200 GET /metrics
printf '%s\n' "$BODY" | grep -qx 'provd_nodes_drift{status="drifted"} 1' || fail "metrics: $(printf '%s' "$BODY" | grep drift)"
# credential requests and reports are their own route family, not installer callbacks
printf '%s\n' "$BODY" | grep -qx 'provd_install_events_total{result="accepted"} 0' || fail "install events counted: $(printf '%s' "$BODY" | grep install_events)"
printf '%s\n' "$BODY" | grep -qE '^provd_http_requests_total\{route="node_reports",code="200"\} [1-9]' || fail "no node_reports route in the metrics"
"$PROVD" --url "$URL" nodes --drifted >"$T/cli" || fail "provd nodes --drifted failed"
[ "$(awk 'NR > 1 { print $1 "=" $6 }' "$T/cli" | tr '\n' ' ')" = "node-01=reboot_pending node-02=drifted " ] ||
        fail "provd nodes --drifted: $(cat "$T/cli")"
"$PROVD" --url "$URL" summary >"$T/cli" || fail "provd summary failed"
grep -qE '^drifted +1$' "$T/cli" && grep -qE '^unknown +1$' "$T/cli" || fail "provd summary: $(cat "$T/cli")"
"$PROVD" --url "$URL" node node-02 >"$T/cli" || fail "provd node failed"
grep -qE "^running: +$SYS1B \(booted $SYS1B, kernel 6.1.0-28-amd64" "$T/cli" || fail "provd node: $(cat "$T/cli")"
sleep 4
expect_status 200 GET /v1/nodes/node-01
jq_eq .drift silent
ok "?drift= filter, summary, provd_nodes_drift; silent after report_silent_after"

# Revocation; rotation by the next install.
expect_status 401 DELETE /v1/nodes/node-02/credential
expect_status 204 DELETE /v1/nodes/node-02/credential -H "Authorization: Bearer $ADMIN"
expect_status 404 DELETE /v1/nodes/node-02/credential -H "Authorization: Bearer $ADMIN"
report 401 node-02 "$CRED2" "$SYS1B" "$SYS1B"
expect_status 200 GET /v1/nodes/node-02
jq_eq .credential false
expect_status 200 POST /v1/install/credential -H "Authorization: Bearer $tok1"
CRED1B=$(printf '%s' "$BODY" | jq -r .credential)
report 401 node-01 "$CRED1" "$SYS1" "$SYS1"
report 200 node-01 "$CRED1B" "$SYS1" "$SYS1"
ok "revoked credential refused; a new credential rotates the old one out"

# Restart and reload keep credentials and reports.
provd_kill9
provd_start "$T/inv.json" --api-tokens "$T/api-tokens"
expect_status 200 GET /v1/nodes/node-01
jq_eq .report.running "$SYS1"
jq_eq .drift in_sync
report 200 node-01 "$CRED1B" "$SYS1" "$SYS1"
expect_status 200 POST /v1/reload -H "Authorization: Bearer $ADMIN"
report 200 node-01 "$CRED1B" "$SYS1" "$SYS1"
expect_status 200 GET /v1/nodes/node-01
jq_eq .report.running "$SYS1"
provd_stop
ok "credentials and reports survive kill -9 and reload"
