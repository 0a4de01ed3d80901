#!/usr/bin/env bash
# Boot file serving: exactly the inventory's files, Content-Length, ETag/Last-Modified,
# conditional GET, HEAD, byte ranges (Range, If-Range), no path tricks, http(s) URLs passed
# through, Cache-Control immutable for Nix store paths.  The transfer cap: files-cap.sh.
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

# Byte ranges (RFC 9110 §14): one range is 206 with Content-Range; suffix and open ranges;
# past the end 416 with Content-Range: bytes */size; several ranges answered whole.
f=$T/boot/bzImage
size=$(stat -c %s "$f")
range() { # RANGE: GET with curl -r into $T/got and $T/h; sets STATUS
        STATUS=$(curl -sS -r "$1" -D "$T/h" -o "$T/got" -w '%{http_code}' "${@:2}" "$URL/v1/files$f")
}
header() { grep -i "^$1:" "$T/h" | cut -d' ' -f2- | tr -d '\r'; }
range 0-99
[ "$STATUS" = 206 ] || fail "Range 0-99: status $STATUS"
cmp -s "$T/got" <(head -c 100 "$f") || fail "Range 0-99: wrong bytes"
[ "$(header content-range)" = "bytes 0-99/$size" ] || fail "Range 0-99: Content-Range $(header content-range)"
[ "$(header content-length)" = 100 ] || fail "Range 0-99: Content-Length $(header content-length)"
[ "$(header accept-ranges)" = bytes ] || fail "206 without Accept-Ranges: bytes"
range -100
[ "$STATUS" = 206 ] && cmp -s "$T/got" <(tail -c 100 "$f") || fail "suffix range -100: status $STATUS or bytes"
[ "$(header content-range)" = "bytes $((size - 100))-$((size - 1))/$size" ] || fail "suffix: $(header content-range)"
range 1000-
[ "$STATUS" = 206 ] && cmp -s "$T/got" <(tail -c +1001 "$f") || fail "open range 1000-: status $STATUS or bytes"
[ "$(header content-range)" = "bytes 1000-$((size - 1))/$size" ] || fail "open range: $(header content-range)"
range "$((size - 10))-$((size + 1000))"
[ "$STATUS" = 206 ] && cmp -s "$T/got" <(tail -c 10 "$f") || fail "range past the end cut: status $STATUS or bytes"
range "$size-"
[ "$STATUS" = 416 ] || fail "Range $size-: status $STATUS, expected 416"
[ "$(header content-range)" = "bytes */$size" ] || fail "416 Content-Range: $(header content-range)"
jq -e '.error.code == "range_not_satisfiable"' "$T/got" >/dev/null || fail "416 body: $(cat "$T/got")"
range 0-9,20-29
[ "$STATUS" = 200 ] && cmp -s "$T/got" "$f" || fail "several ranges: status $STATUS or not the whole file"
[ -z "$(header content-range)" ] || fail "200 with Content-Range"
range 0-9 -I
[ "$STATUS" = 200 ] && [ "$(header content-length)" = "$size" ] || fail "HEAD with Range: status $STATUS, length $(header content-length)"
[ "$(header accept-ranges)" = bytes ] || fail "HEAD without Accept-Ranges: bytes"
[ "$(header cache-control)" = no-cache ] || fail "a file outside /nix/store: Cache-Control $(header cache-control)"
ok "Range: first bytes, suffix, open end, cut at the end; 416 past the end; several ranges 200 whole; HEAD whole"

# If-Range (RFC 9110 §13.1.5): the range only while the validator still matches.  The file
# is made older than a second, so its Last-Modified date is a strong validator.
touch -d '1 hour ago' "$f"
curl -sS -I -o /dev/null -D "$T/h" "$URL/v1/files$f"
etag=$(header etag)
lm=$(header last-modified)
range 0-9 -H "If-Range: $etag"
[ "$STATUS" = 206 ] || fail "If-Range with the current ETag: status $STATUS"
range 0-9 -H 'If-Range: "other"'
[ "$STATUS" = 200 ] && cmp -s "$T/got" "$f" || fail "If-Range with another ETag: status $STATUS or not whole"
range 0-9 -H "If-Range: W/$etag"
[ "$STATUS" = 200 ] || fail "If-Range with a weak ETag: status $STATUS"
range 0-9 -H "If-Range: $lm"
[ "$STATUS" = 206 ] || fail "If-Range with the Last-Modified date: status $STATUS"
range 0-9 -H 'If-Range: Thu, 01 Jan 1970 00:00:00 GMT'
[ "$STATUS" = 200 ] || fail "If-Range with another date: status $STATUS"
touch "$f"
range 0-9 -H "If-Range: $etag"
[ "$STATUS" = 200 ] || fail "If-Range after the file changed: status $STATUS"
# A Last-Modified in the second of the answer's Date is a weak validator (RFC 9110 8.8.2.2):
# the whole file.  That needs the two requests to come within the second of the change: on a
# loaded machine they may not, so the change is made again until they do (then 206 is right).
for _ in 1 2 3 4 5; do
        lm=$(header last-modified)
        range 0-9 -H "If-Range: $lm"
        [ "$(header date)" = "$lm" ] && break
        touch "$f"
        range 0-9
done
[ "$(header date)" = "$lm" ] || fail "no answer within the second of the file's change in 5 tries"
[ "$STATUS" = 200 ] || fail "If-Range with a Last-Modified of this very second (a weak validator): status $STATUS"
ok "If-Range: ETag or date match 206, mismatch / weak validator / changed file 200 whole"

provd_stop

# Store paths are content-addressed: Cache-Control immutable (RFC 8246).  provd looks at the
# path only, so the test serves a file at a real /nix/store/ path: its own directory bound
# over /nix/store in a mount namespace of provd alone (needs root and an existing /nix/store;
# nothing is written to the real store).
if [ "$(id -u)" != 0 ] || [ ! -d /nix/store ] || ! unshare -m true 2>/dev/null; then
        skip "Cache-Control immutable: needs root, unshare -m and a /nix/store directory"
fi
mkdir -p "$T/store/0a1b2c3d-image"
head -c 5000 /dev/urandom >"$T/store/0a1b2c3d-image/bzImage"
jq '.nodes[0].boot.kernel = "/nix/store/0a1b2c3d-image/bzImage"' "$T/inv.json" >"$T/inv-store.json"
: >"$LOG"
unshare -m --propagation private sh -c 'mount --bind "$1" /nix/store && shift && exec "$@"' sh "$T/store" \
        "$PROVD" serve --inventory "$T/inv-store.json" --state-dir "$STATE" --listen 127.0.0.1:0 2>>"$LOG" &
PROVD_PID=$!
PIDS+=("$PROVD_PID")
wait_listening
curl -sS -D "$T/h" -o "$T/got" "$URL/v1/files/nix/store/0a1b2c3d-image/bzImage"
cmp -s "$T/got" "$T/store/0a1b2c3d-image/bzImage" || fail "store file bytes differ"
[ "$(header cache-control)" = "public, max-age=31536000, immutable" ] ||
        fail "a /nix/store/ file: Cache-Control $(header cache-control)"
curl -sS -r 0-9 -D "$T/h" -o /dev/null "$URL/v1/files/nix/store/0a1b2c3d-image/bzImage"
[ "$(header cache-control)" = "public, max-age=31536000, immutable" ] || fail "206 of a store file: $(header cache-control)"
curl -sS -D "$T/h" -o /dev/null "$URL/v1/files$T/boot/initrd"
[ "$(header cache-control)" = no-cache ] || fail "a file outside the store: Cache-Control $(header cache-control)"
ok "Cache-Control: public, max-age=31536000, immutable under /nix/store/, no-cache elsewhere"
provd_stop
