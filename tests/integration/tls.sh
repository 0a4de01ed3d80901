#!/bin/bash
# tls — HTTPS through libmicrohttpd's GnuTLS support: a self-signed certificate made here
# with openssl; curl verifies it; boot answers carry https:// URLs; bad TLS settings fail
# at start with an error naming the file.
source "$(dirname "$0")/lib.sh"
command -v openssl >/dev/null || { echo "openssl missing"; [ "${PROVD_TESTS_NO_SKIP:-}" = 1 ] && exit 1; exit 77; }

make_inventory "$T/inv.json" 2
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
        -keyout "$T/key.pem" -out "$T/cert.pem" 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=other -keyout "$T/other-key.pem" -out "$T/other.pem" 2>/dev/null

provd_start "$T/inv.json" --tls-cert "$T/cert.pem" --tls-key "$T/key.pem"
case "$URL" in https://127.0.0.1:*) ;; *) fail "listening URL is not https: $URL" ;; esac
expect_status 200 GET /v1/summary --cacert "$T/cert.pem"
jq_eq '.total' 2
expect_status 200 GET /v1/boot/52:54:00:00:00:01 --cacert "$T/cert.pem"
jq_eq '.kernel | startswith("https://127.0.0.1:")' true
kernel=$(printf '%s' "$BODY" | jq -r .kernel)
curl -sS --cacert "$T/cert.pem" -o "$T/k" "$kernel" || fail "kernel over https"
cmp -s "$T/k" "$T/boot/bzImage" || fail "kernel served over https differs"
# An unverified certificate is refused by curl, and plain HTTP gets no answer.
if curl -sS -o /dev/null "$URL/v1/summary" 2>/dev/null; then fail "curl accepted an unknown CA"; fi
if curl -sS -m 3 -o /dev/null "${URL/https/http}/v1/summary" 2>/dev/null; then fail "plain HTTP answered on the TLS port"; fi
ok "HTTPS: verified certificate, https boot URLs, kernel download, no plain HTTP"
provd_stop

start_fails() {
        local want=$1
        shift
        : >"$LOG"
        local rc=0
        timeout 10 "$PROVD" serve --inventory "$T/inv.json" --state-dir "$STATE" --listen 127.0.0.1:0 "$@" 2>>"$LOG" || rc=$?
        [ "$rc" -ne 0 ] || fail "provd started with $*"
        [ "$rc" -ne 124 ] || fail "provd kept running with $*"
        grep -q -- "$want" "$LOG" || fail "error for $* does not say '$want': $(cat "$LOG")"
        sanitizer_check
}
start_fails "$T/missing.pem" --tls-cert "$T/missing.pem" --tls-key "$T/key.pem"
start_fails "both tls_cert and tls_key" --tls-cert "$T/cert.pem"
start_fails "not PEM" --tls-cert "$T/inv.json" --tls-key "$T/key.pem"
start_fails "matching PEM pair" --tls-cert "$T/other.pem" --tls-key "$T/key.pem"
ok "bad TLS settings stop provd at start with an error naming the problem"
