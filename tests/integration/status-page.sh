#!/usr/bin/env bash
# The status page (GET /) in headless Chromium against a real provd: tiles in the right state
# and colour, grouped by rack or name prefix, counts, a node's history on click, changes made
# through the API shown live without a reload, the event stream resuming after a network
# drop; with read_auth = token, the token form.  The browser side is tests/browser/
# status-page.mjs (playwright-core driving Debian's /usr/bin/chromium).
source "$(dirname "$0")/lib.sh"

skip() {
        [ -n "${PROVD_TESTS_NO_SKIP:-}" ] && fail "$*"
        echo "SKIP: $*"
        exit 77
}
BROWSER="$SRC/tests/browser"
command -v node >/dev/null || skip "node missing (scripts/deps --test)"
node -e 'process.exit(+process.versions.node.split(".")[0] >= 18 ? 0 : 1)' || skip "node $(node --version) is older than 18"
[ -x "${CHROMIUM:-/usr/bin/chromium}" ] || skip "chromium missing (scripts/deps --test)"
[ -f "$BROWSER/node_modules/playwright-core/package.json" ] ||
        skip "playwright-core missing: npm ci --prefix tests/browser (scripts/deps --test does it)"

# 12 nodes: node-01..09 in racks r1 and r2 when the inventory schema knows racks, else all
# grouped by the prefix "node"; gpu-01..03 without a rack (prefix "gpu").
make_inventory "$T/inv0.json" 12
if grep -q '"rack"' "$SRC/api/inventory.schema.json"; then
        rack='if $i < 6 then {rack: "r1"} elif $i < 9 then {rack: "r2"} else {} end'
else
        rack='{}'
fi
jq "(.nodes | to_entries) as \$e | .nodes = [\$e[] | .key as \$i | .value + ($rack)
      | if \$i >= 9 then .name = \"gpu-0\(\$i - 8)\" else . end] | del(.nodes[5].bmc)" "$T/inv0.json" >"$T/inv.json"
"$PROVD" token new --name page --file "$T/tokens" >"$T/token" || fail "provd token new"
provd_start "$T/inv.json" --api-tokens "$T/tokens"

# A mix of states, made the way real nodes make them: pixiecore's boot call, installer events.
tok=$(token_of 52:54:00:00:00:01)
event "$tok" '{"phase":"started"}'
event "$tok" '{"phase":"succeeded"}'
tok=$(token_of 52:54:00:00:00:02)
event "$tok" '{"phase":"started"}'
event "$tok" '{"phase":"failed","message":"sgdisk: /dev/nvme0n1: no such device"}'
[ "$STATUS" = 200 ] || fail "failed event: $STATUS $BODY"
tok=$(token_of 52:54:00:00:00:03)
event "$tok" '{"phase":"started"}'
event "$tok" '{"phase":"partitioning"}'
token_of 52:54:00:00:00:04 >/dev/null
tok=$(token_of 52:54:00:00:00:0a)
event "$tok" '{"phase":"started"}'
event "$tok" '{"phase":"succeeded"}'
# node-06 (no BMC) is marked for reinstall by an admin: pending.
http POST /v1/nodes/node-06/reinstall -H "Authorization: Bearer $(cat "$T/token")"
[ "$STATUS" = 202 ] || fail "reinstall node-06: $STATUS $BODY"
expect="node-01=installed,node-02=failed,node-03=installing,node-04=netbooting,node-05=new,node-06=pending,gpu-01=installed,gpu-02=new"
ok "cluster driven to: $expect"

node "$BROWSER/status-page.mjs" --url "$URL" --expect "$expect" --screenshot "$T/status-page.png" ||
        fail "status page in Chromium (read_auth = open)"
[ "$(head -c 8 "$T/status-page.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || fail "screenshot is not a PNG"
curl -sS -D "$T/h" -o /dev/null "$URL/"
grep -qi "^content-security-policy: default-src 'none'" "$T/h" || fail "GET / without the CSP: $(cat "$T/h")"
expect_status 405 POST /
provd_stop
ok "status page: rendering, history, live updates, resume after a drop"

# read_auth = token: the page asks for an API token and then works with it (stream included).
printf '[serve]\nread_auth = token\napi_tokens = %s\n' "$T/tokens" >"$T/provd.ini"
provd_start "$T/inv.json" --config "$T/provd.ini"
http GET /v1/nodes
[ "$STATUS" = 401 ] || fail "read_auth = token: GET /v1/nodes without a token: $STATUS"
expect_status 200 GET /
node "$BROWSER/status-page.mjs" --url "$URL" --token "$(cat "$T/token")" ||
        fail "status page in Chromium (read_auth = token)"
provd_stop
ok "status page with read_auth = token"
