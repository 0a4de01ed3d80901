#!/usr/bin/env bash
# Boot file serving: exactly the inventory's files, Content-Length, ETag/Last-Modified,
# conditional GET, HEAD, no path tricks, http(s) URLs passed through.
source "$(dirname "$0")/lib.sh"

make_inventory "$T/inv.json" 1
mkdir -p "$T/boot/sub dir"
printf 'initrd two' >"$T/boot/sub dir/initrd+2"
echo secret >"$T/boot/not-in-inventory"
jq --arg p "$T/boot/sub dir/initrd+2" '.nodes += [{"name": "node-url", "mac": ["52:54:00:00:01:01"],
      "boot": {"kernel": "https://cache.example/bzImage", "initrd": ["http://cache.example/initrd", $p], "cmdline": ""},
      "system": {"toplevel": "/nix/store/a-sys", "install": "/nix/store/b-inst"}}]' "$T/inv.json" >"$T/inv2.json"
provd_start "$T/inv2.json"

size=$(stat -c %s "$T/boot/bzImage")
curl -sS -D "$T/h" -o "$T/got" "$URL/v1/files$T/boot/bzImage"
cmp -s "$T/got" "$T/boot/bzImage" || fail "kernel bytes differ"
grep -qi "^content-length: $size" "$T/h" || fail "Content-Length missing or wrong: $(cat "$T/h")"
etag=$(grep -i '^etag:' "$T/h" | cut -d' ' -f2 | tr -d '\r')
lm=$(grep -i '^last-modified:' "$T/h" | cut -d' ' -f2- | tr -d '\r')
[ -n "$etag" ] && [ -n "$lm" ] || fail "ETag/Last-Modified missing: $(cat "$T/h")"
ok "GET serves the file with Content-Length, ETag, Last-Modified"

curl -sS -I -o /dev/null -D "$T/h" "$URL/v1/files$T/boot/bzImage"
grep -q '^HTTP/1.1 200' "$T/h" || fail "HEAD status: $(cat "$T/h")"
grep -qi "^content-length: $size" "$T/h" || fail "HEAD Content-Length: $(cat "$T/h")"
ok "HEAD"

expect_status 304 GET "/v1/files$T/boot/bzImage" -H "If-None-Match: $etag"
[ -z "$BODY" ] || fail "304 has a body"
expect_status 304 GET "/v1/files$T/boot/bzImage" -H "If-Modified-Since: $lm"
expect_status 200 GET "/v1/files$T/boot/bzImage" -H 'If-None-Match: "other"'
expect_status 200 GET "/v1/files$T/boot/bzImage" -H 'If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT'
ok "conditional GET: 304 on matching ETag / unmodified, 200 otherwise"

# The ETag changes with the file.
sleep 0.01
head -c 10 /dev/urandom >>"$T/boot/bzImage"
expect_status 200 GET "/v1/files$T/boot/bzImage" -H "If-None-Match: $etag"
[ "${#BODY}" -gt 0 ] || fail "no body after the file changed"
ok "changed file gets a new ETag"

# Percent-encoded names (space, '+') round-trip.
expect_status 200 GET /v1/boot/52:54:00:00:01:01
jq_eq '.kernel' https://cache.example/bzImage
jq_eq '.initrd[0]' http://cache.example/initrd
u=$(printf '%s' "$BODY" | jq -r '.initrd[1]')
[ "$u" = "$URL/v1/files$T/boot/sub%20dir/initrd%2B2" ] || fail "encoded URL: $u"
[ "$(curl -sS "$u")" = 'initrd two' ] || fail "encoded URL does not serve the file"
ok "http(s) URLs passed through; other names percent-encoded and served"

# Nothing but inventory files.
for p in "$T/boot/not-in-inventory" /etc/passwd "$T/boot" "$T/boot/../boot/bzImage" "$T/boot//bzImage" \
        "$T/boot/./bzImage" "$T/boot/%2e%2e/boot/bzImage" /cache.example/bzImage; do
        expect_status 404 GET "/v1/files$p" --path-as-is
        jq_eq '.error.code' not_found
done
expect_status 405 POST "/v1/files$T/boot/bzImage"
ok "no path tricks: non-inventory files, .., //, ., encoded dots all 404"

provd_stop
