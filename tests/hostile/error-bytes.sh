#!/usr/bin/env bash
# Client bytes that are not valid UTF-8, or a cut inside a multibyte character, in what an
# error message echoes: every request still gets its 4xx with a JSON error body (a JSON
# encoder refuses invalid UTF-8; the answer must not be dropped).  And the iPXE bad-MAC script
# never carries a client's newline or "${".
source "$(dirname "$0")/../integration/lib.sh"
command -v jq >/dev/null || skip "jq missing"

make_inventory "$T/inv.json" 2
provd_start "$T/inv.json"

a63=$(printf 'a%.0s' $(seq 63))
while read -r want path; do
        http GET "$path"
        [ "$STATUS" = "$want" ] || fail "GET $path: status $STATUS, want $want (body: $(short_body))"
        printf '%s' "$BODY" | jq -e '.error.code and (.error.message | type == "string")' >/dev/null ||
                fail "GET $path: no JSON error body: $(short_body)"
done <<EOF2
404 /v1/nodes/%ff
400 /v1/nodes?state=%ff
404 /v1/files/%ff
404 /v1/files/%c3
400 /v1/boot/${a63}%C3%A9
400 /v1/boot/%ff%fe
404 /v1/nodes/%ed%a0%80
400 /v1/events?limit=%f4%90%80%80
404 /v1/nodes/${a63}%C3%A9/history
EOF2
ok "invalid UTF-8 and cut characters in echoed bytes: 4xx with a JSON error body"

# The message keeps the valid part and marks the rest.
http GET "/v1/nodes/ok%ffok"
[ "$(printf '%s' "$BODY" | jq -r .error.message)" = 'no node "ok?ok" in the inventory' ] ||
        [ "$(printf '%s' "$BODY" | jq -r .error.message | grep -c 'ok?ok')" = 1 ] || fail "message: $BODY"
ok "the valid bytes are kept, each invalid one shown as ?"

# iPXE: a newline or "${" of the client's never reaches the script.
http GET '/v1/ipxe?mac=a%0Akernel%20http://e/x'
[ "$STATUS" = 400 ] || fail "bad MAC with a newline: $STATUS"
printf '%s\n' "$BODY" | grep -q '^kernel' && fail "the client's kernel line is in the script: $BODY"
[ "$(printf '%s\n' "$BODY" | wc -l)" = 6 ] || fail "the bad-MAC script has lines of the client's: $BODY"
http GET '/v1/ipxe?mac=$%7Bnet0/ip%7D'
printf '%s' "$BODY" | grep -qF '${net0' && fail "the client's \${ is in the script: $BODY"
ok "iPXE bad-MAC script: no client newline, no \${"
provd_stop
