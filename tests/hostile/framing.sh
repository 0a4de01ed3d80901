#!/usr/bin/env bash
# RFC 9112 framing that lets a request be smuggled past a proxy, and NUL bytes that C strings
# would cut: each answered once with 400/501/413 and the connection closed, so the request
# hidden behind it never runs (tests/hostile/framing.py sends them).  Every answer carries
# X-Content-Type-Options: nosniff.  Well-framed requests, keep-alive and chunked bodies still
# work.  And the NUL cases through curl: the kernel is not served for <kernel>%00.txt, a boot
# request with %00 opens no install attempt.
source "$(dirname "$0")/../integration/lib.sh"
command -v python3 >/dev/null || skip "python3 missing"
command -v jq >/dev/null || skip "jq missing"

make_inventory "$T/inv.json" 2
provd_start "$T/inv.json"
port=${URL##*:}
python3 "$(dirname "$0")/framing.py" "$port" || fail "framing cases (see above)"
ok "framing: CL+TE, two CL, space before colon, folding, bare LF, Host, transfer codings, NUL: answered and closed"

expect_status 400 GET "/v1/files$T/boot/bzImage%00.txt"
expect_status 400 GET "/v1/boot/52:54:00:00:00:01%00junk"
expect_status 200 GET /v1/nodes/node-01
jq_eq .state new
expect_status 200 GET "/v1/files$T/boot/bzImage"
curl -sS -D - -o /dev/null "$URL/v1/summary" | grep -qi '^x-content-type-options: nosniff' || fail "no nosniff header"
ok "NUL in paths: 400, no file served, no attempt opened; nosniff on answers"
provd_stop
