#!/usr/bin/env bash
# The status page (GET /) in headless Chromium against a real provd: tiles in the right state
# and colour, grouped by rack or name prefix, counts, a node's history on click, changes made
# through the API shown live without a reload, the event stream resuming after a network
# drop; with read_auth = token, the token form; drift: nodes that report what they run marked
# drifted / reboot pending / silent on their tiles, live from report events and from the
# page's periodic refresh.  The browser side is tests/browser/status-page.mjs (playwright-core
# driving Debian's /usr/bin/chromium).
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
# toplevels that are store paths, as nodes report them
H=$(printf 'a%.0s' $(seq 1 32))
jq "(.nodes | to_entries) as \$e | .nodes = [\$e[] | .key as \$i | .value + ($rack)
      | if \$i >= 9 then .name = \"gpu-0\(\$i - 8)\" else . end
      | .system.toplevel = \"/nix/store/$H-nixos-system-\" + .name] | del(.nodes[5].bmc)" "$T/inv0.json" >"$T/inv.json"
"$PROVD" token new --name page --file "$T/tokens" >"$T/token" || fail "provd token new"
provd_start "$T/inv.json" --api-tokens "$T/tokens"

# credential TOKEN NAME: the installer's node credential, into $T/cred-NAME as a header file
# (the credential stays off command lines, as on a node)
credential() {
        http POST /v1/install/credential -H "Authorization: Bearer $1"
        [ "$STATUS" = 200 ] || fail "credential for $2: $STATUS $BODY"
        printf 'Authorization: Bearer %s\n' "$(printf '%s' "$BODY" | jq -r .credential)" >"$T/cred-$2"
}
# node_report NAME RUNNING BOOTED DRIFT: the node's report, as provd-node-report.sh sends it
node_report() {
        http POST "/v1/nodes/$1/report" -H @"$T/cred-$1" -H 'Content-Type: application/json' \
                --data "{\"running\":\"$2\",\"booted\":\"$3\",\"kernel\":\"6.1.0-28-amd64\",\"uptime\":7.5}"
        [ "$STATUS" = 200 ] || fail "report of $1: $STATUS $BODY"
        jq_eq .drift "$4"
}
sys() { printf '/nix/store/%s-nixos-system-%s' "$(printf "$1%.0s" $(seq 1 32))" "$2"; }

# A mix of states, made the way real nodes make them: pixiecore's boot call, installer events,
# the installer's credential request, the installed node's reports.
tok=$(token_of 52:54:00:00:00:01)
event "$tok" '{"phase":"started"}'
credential "$tok" node-01
event "$tok" '{"phase":"succeeded"}'
node_report node-01 "$(sys a node-01)" "$(sys a node-01)" in_sync
tok=$(token_of 52:54:00:00:00:02)
event "$tok" '{"phase":"started"}'
event "$tok" '{"phase":"failed","message":"sgdisk: /dev/nvme0n1: no such device"}'
[ "$STATUS" = 200 ] || fail "failed event: $STATUS $BODY"
tok=$(token_of 52:54:00:00:00:03)
event "$tok" '{"phase":"started"}'
event "$tok" '{"phase":"partitioning"}'
# node-03 reinstalls over a running system that was switched without a reboot
credential "$tok" node-03
node_report node-03 "$(sys a node-03)" "$(sys 0 node-03)" reboot_pending
token_of 52:54:00:00:00:04 >/dev/null
tok=$(token_of 52:54:00:00:00:0a)
event "$tok" '{"phase":"started"}'
credential "$tok" gpu-01
event "$tok" '{"phase":"succeeded"}'
node_report gpu-01 "$(sys b gpu-01)" "$(sys b gpu-01)" drifted
# node-06 (no BMC) is marked for reinstall by an admin: pending.
http POST /v1/nodes/node-06/reinstall -H "Authorization: Bearer $(cat "$T/token")"
[ "$STATUS" = 202 ] || fail "reinstall node-06: $STATUS $BODY"
expect="node-01=installed,node-02=failed,node-03=installing,node-04=netbooting,node-05=new,node-06=pending,gpu-01=installed,gpu-02=new"
drift="node-01=in_sync,node-03=reboot_pending,gpu-01=drifted,node-02=unknown"
ok "cluster driven to: $expect; $drift"

node "$BROWSER/status-page.mjs" --url "$URL" --expect "$expect" --expect-drift "$drift" --screenshot "$T/status-page.png" ||
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
node "$BROWSER/status-page.mjs" --url "$URL" --token "$(cat "$T/token")" --expect-drift "$drift" ||
        fail "status page in Chromium (read_auth = token)"
provd_stop
ok "status page with read_auth = token"

# Silence: the same state, with reports counted silent after 1 s.
provd_start "$T/inv.json" --report-silent-after 1
sleep 1.2
expect_status 200 GET /v1/summary
jq_eq '.drift | "\(.silent) \(.in_sync) \(.drifted) \(.reboot_pending)"' "5 0 0 0"
node "$BROWSER/status-page.mjs" --url "$URL" --no-live --expect-drift "node-01=silent,node-03=silent,gpu-01=silent,node-05=silent,node-06=unknown" ||
        fail "status page in Chromium (silent nodes)"
provd_stop
ok "status page: nodes whose last report is older than report_silent_after are marked silent"

# 2,500 nodes: the page reads the list in 3 pages of 1000 (following the cursors) and shows
# every node, grouped by rack.
python3 - "$T/inv-big.json" "$T/boot" <<'PY'
import json, sys
path, boot = sys.argv[1], sys.argv[2]
nodes = [{"name": "n%05d" % i, "mac": ["52:54:00:01:%02x:%02x" % (i >> 8, i & 255)], "rack": "r%d" % (i % 4),
          "boot": {"kernel": boot + "/bzImage", "initrd": [boot + "/initrd"], "cmdline": "init=/x"},
          "system": {"toplevel": "/nix/store/a-system", "install": "/nix/store/b-install"}}
         for i in (k * 7919 % 2500 for k in range(2500))]
json.dump({"version": 1, "nodes": nodes}, open(path, "w"))
PY
provd_start "$T/inv-big.json"
for i in 3 1200 2499; do http GET "/v1/boot/52:54:00:01:$(printf '%02x:%02x' $((i >> 8)) $((i & 255)))"; done
node "$BROWSER/status-page.mjs" --url "$URL" --no-live --node-pages 3 --expect n00003=netbooting,n01200=netbooting,n02499=netbooting ||
        fail "status page in Chromium (2,500 nodes, 3 pages)"
provd_stop
ok "status page: 2,500 nodes read in 3 pages of 1000, every node shown"
