#!/usr/bin/env bash
# GET /v1/nodes pages: 2,500 nodes written in scrambled order come back in name order, 1000 a
# page by default with a "next" cursor; following the cursors gives every node once, for any
# limit and with filters (a filter that matches one node in 2,500: the pieces that match
# nothing are skipped without ending the page); the last page says next: null, also when it
# ends exactly at the last node; a reload between pages neither repeats nor skips the nodes
# that stay; a bad limit or cursor is 400 naming it; the answer is chunked and its bytes are
# counted in the HTTP metrics; an HTTP/1.0 client gets it whole too; `provd nodes` follows the
# cursors (10,050 nodes: two pages of its 10,000).
source "$(dirname "$0")/lib.sh"

N=2500
mkdir -p "$T/boot"
head -c 1000 /dev/urandom >"$T/boot/bzImage"
head -c 1000 /dev/urandom >"$T/boot/initrd"
# inventory FILE FIRST COUNT: nodes n<FIRST>..n<FIRST+COUNT-1> (n00000 ...), written in a
# scrambled order (i * 7919 mod COUNT), racks r0..r4, unique MACs.
inventory() {
        python3 - "$1" "$2" "$3" "$T/boot" <<'PY'
import json, sys
path, first, count, boot = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
nodes = []
for k in range(count):
    i = first + (k * 7919) % count
    nodes.append({"name": "n%05d" % i, "mac": ["52:54:00:%02x:%02x:%02x" % (i >> 16, (i >> 8) & 255, i & 255)],
                  "rack": "r%d" % (i % 5),
                  "boot": {"kernel": boot + "/bzImage", "initrd": [boot + "/initrd"], "cmdline": "init=/x"},
                  "system": {"toplevel": "/nix/store/a-system", "install": "/nix/store/b-install"}})
json.dump({"version": 1, "nodes": nodes}, open(path, "w"))
PY
}
inventory "$T/inv.json" 0 "$N"
provd_start "$T/inv.json"

# all QUERY: follows "next" from the first page (one keep-alive connection); writes the names,
# one a line, into $T/all and sets PAGES to the number of requests.
all() {
        PAGES=$(python3 - "$URL" "$1" "$T/all" <<'PY'
import http.client, json, sys, urllib.parse
url, q, out = urllib.parse.urlsplit(sys.argv[1]), sys.argv[2], sys.argv[3]
conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
names, pages, cursor = [], 0, None
while True:
    path = "/v1/nodes?" + "&".join(x for x in (q, cursor and "cursor=" + cursor) if x)
    conn.request("GET", path)
    r = conn.getresponse()
    body = r.read()
    if r.status != 200:
        sys.exit("GET %s: %d %s" % (path, r.status, body[:200]))
    j = json.loads(body)
    if set(j) != {"nodes", "next"}:
        sys.exit("GET %s: keys %s" % (path, sorted(j)))
    names += [n["name"] for n in j["nodes"]]
    pages += 1
    cursor = j["next"]
    if cursor is None:
        break
    if not j["nodes"] or pages > 3000:
        sys.exit("GET %s: a page of %d nodes with next %s" % (path, len(j["nodes"]), cursor))
open(out, "w").write("".join(n + "\n" for n in names))
print(pages)
PY
) || fail "following the cursors of ?$1"
}
# expect_names FILE: $T/all holds exactly these names, in this order
expect_names() {
        cmp -s "$1" "$T/all" || fail "listed: $(wc -l <"$T/all") names, $(head -c 200 "$T/all" | tr '\n' ' ')...; wanted $(wc -l <"$1"): $(head -c 200 "$1" | tr '\n' ' ')..."
}
seq -f 'n%05g' 0 $((N - 1)) >"$T/names"

expect_status 200 GET /v1/nodes
jq_eq '.nodes | length' 1000
jq_eq '.nodes[0].name' n00000
jq_eq '.nodes[999].name' n00999
[ "$(printf '%s' "$BODY" | jq -r .next)" != null ] || fail "first page without next: ${BODY: -100}"
ok "no limit: the first 1000 nodes in name order, and a next cursor"

all ""
expect_names "$T/names"
[ "$PAGES" = 3 ] || fail "2500 nodes at the default limit: $PAGES pages, not 3"
for limit in 7 999 1000 1024 2499 2500 10000; do
        all "limit=$limit"
        expect_names "$T/names"
        want=$(((N + limit - 1) / limit))
        [ "$PAGES" = "$want" ] || fail "limit=$limit: $PAGES pages, not $want (a page that ends at the last node says next: null)"
done
ok "following next gives every node once, in name order, for limits 7 .. 10000"

awk 'substr($0, 2) % 5 == 3' "$T/names" >"$T/want"
all "limit=100&rack=r3"
expect_names "$T/want"
[ "$PAGES" = 5 ] || fail "rack=r3, limit=100: $PAGES pages, not 5"
all "limit=1&rack=r3"
expect_names "$T/want"
[ "$PAGES" = 500 ] || fail "rack=r3, limit=1: $PAGES pages, not 500"
all "name=n0249%5B89%5D&limit=1"
printf 'n02498\nn02499\n' >"$T/want"
expect_names "$T/want"
all "name=n00001"
printf 'n00001\n' >"$T/want"
expect_names "$T/want"
[ "$PAGES" = 1 ] || fail "one match in 2500: $PAGES pages"
# state filter: boot 3 nodes
for i in 7 1500 2499; do
        expect_status 200 GET "/v1/boot/52:54:00:00:$(printf '%02x:%02x' $((i >> 8)) $((i & 255)))"
done
all "state=netbooting&limit=2"
printf 'n00007\nn01500\nn02499\n' >"$T/want"
expect_names "$T/want"
ok "filters page too (rack, name glob, state), also when a match is rare"

# A reload between pages: n00000..n00999 go, n02500..n02999 come.
expect_status 200 GET '/v1/nodes?limit=1200'
cursor=$(printf '%s' "$BODY" | jq -r .next)
printf '%s' "$BODY" | jq -r '.nodes[].name' >"$T/first"
inventory "$T/inv.json" 1000 2000
kill -HUP "$PROVD_PID"
for _ in $(seq 50); do
        grep -q 'inventory reloaded' "$LOG" && break
        sleep 0.1
done
grep -q 'inventory reloaded' "$LOG" || fail "no reload: $(tail -3 "$LOG")"
expect_status 200 GET "/v1/nodes?limit=10000&cursor=$cursor"
jq_eq .next null
printf '%s' "$BODY" | jq -r '.nodes[].name' >"$T/rest"
seq -f 'n%05g' 1200 2999 >"$T/want"
cmp -s "$T/want" "$T/rest" || fail "after a reload between pages: $(head -3 "$T/rest" | tr '\n' ' ')... ($(wc -l <"$T/rest") names)"
ok "a reload between pages: the list goes on after the cursor, no node repeated or skipped"

for q in limit=0 limit=10001 limit=abc limit=1.5 'limit=-1'; do
        expect_status 400 GET "/v1/nodes?$q"
        jq_eq '.error.message | startswith("limit must be an integer from 1 to 10000")' true
done
# not base64url; empty; longer than a name; a control character (base64url of "\001")
for c in '%40%40' '' "$(printf 'A%.0s' $(seq 90))" AQ; do
        expect_status 400 GET "/v1/nodes?cursor=$c"
        jq_eq '.error.message | startswith("cursor must be the \"next\" of an earlier answer")' true
done
expect_status 400 GET '/v1/nodes?state=nope&cursor=%40'
ok "a bad limit or cursor is 400, naming it"

# Chunked, counted in the metrics; HTTP/1.0 gets it whole (no chunking, the connection ends it).
curl -sS -D "$T/h" -o /dev/null "$URL/v1/nodes?limit=10000"
grep -qi '^transfer-encoding: chunked' "$T/h" || fail "not chunked: $(cat "$T/h")"
grep -qi '^content-type: application/json' "$T/h" || fail "content type: $(cat "$T/h")"
grep -qi '^cache-control: no-store' "$T/h" || fail "cache-control: $(cat "$T/h")"
curl -sS -0 -o "$T/b10" "$URL/v1/nodes?limit=10000"
[ "$(jq '.nodes | length' "$T/b10")" = 2000 ] || fail "HTTP/1.0: $(head -c 200 "$T/b10")"
bytes=$(curl -sS "$URL/metrics" | awk '/^provd_http_response_bytes_total\{route="nodes"/ { print $2 }' | head -1)
[ -n "$bytes" ] && awk -v b="$bytes" 'BEGIN { exit !(b > 500000) }' ||
        fail "the node list's bytes are not in the metrics: $(curl -sS "$URL/metrics" | grep 'route="nodes"' | head -5)"
ok "chunked application/json, no-store; bytes in the metrics; HTTP/1.0 too"
provd_stop

# The CLI follows the cursors (it asks for 10,000 a page): 10,050 nodes are 2 pages.
inventory "$T/inv.json" 0 10050
: >"$T/empty.ini"
provd_start "$T/inv.json"
"$PROVD" --config "$T/empty.ini" --url "$URL" nodes --json >"$T/cli.json" 2>"$T/cli.err" || fail "provd nodes --json: $(cat "$T/cli.err")"
seq -f 'n%05g' 0 10049 >"$T/want"
jq -r '.nodes[].name' "$T/cli.json" >"$T/all"
expect_names "$T/want"
[ "$(jq -c 'keys' "$T/cli.json")" = '["nodes"]' ] || fail "provd nodes --json: keys $(jq -c keys "$T/cli.json")"
"$PROVD" --config "$T/empty.ini" --url "$URL" nodes --rack r4 >"$T/cli.txt" 2>"$T/cli.err" || fail "provd nodes --rack r4: $(cat "$T/cli.err")"
[ "$(($(wc -l <"$T/cli.txt") - 1))" = 2010 ] || fail "provd nodes --rack r4: $(($(wc -l <"$T/cli.txt") - 1)) rows, not 2010"
grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$T/cli.err" && fail "sanitizer: $(cat "$T/cli.err")"
[ "$(awk '/^provd_http_requests_total\{route="nodes",code="200"\}/ { print $2 }' <(curl -sS "$URL/metrics"))" = 3 ] ||
        fail "the CLI did not take 2 + 1 pages: $(curl -sS "$URL/metrics" | grep 'route="nodes"')"
provd_stop
ok "provd nodes follows the cursors: 10,050 nodes in name order, filters kept on every page"
