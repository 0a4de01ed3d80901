#!/usr/bin/env bash
# api/openapi.yaml is the contract, checked against a real provd:
#  1. `redocly lint` (recommended ruleset, tests/openapi/redocly.yaml): 0 errors, 0 warnings.
#  2. Every operation of the spec is driven with curl to every status it documents (success
#     and each error case; 5XX ranges excepted: provd's own failures), and every answer is
#     validated with tests/openapi/validate.mjs (ajv, JSON Schema 2020-12, strict): status,
#     required headers, Content-Type, body schema, SSE events, and that provd accepted no
#     request the spec calls invalid.  validate.mjs fails when an operation or a documented
#     status was never exercised.
#  3. Routes, both ways.  provd's side is derived from provd itself:
#     - the route table, http_route_table[] in daemon/http.c, equals the spec's (method, path,
#       auth) list;
#     - every path of the spec answers every method it lacks with 405 and an Allow header that
#       lists exactly the spec's methods (and every method it has with something else, by 2.);
#     - probes with PATCH and GET of every route-like string in the provd binary, of every spec
#       path plus one more segment, each spec path with a parameter followed by each one-segment
#       string of the binary, and the routes the contract announces for later issues: all
#       must be 404 unless the spec has the path.
#  4. Auth, generated from the spec's security: every admin operation (apiToken only) answers
#     401 without a token and with a wrong one, 403 with an install token; the install
#     operation answers 403 to an API token.  A second provd with read_auth = token: every
#     read operation answers 401 without a token or with a wrong one and 2xx with an API
#     token; open operations stay open.
source "$(dirname "$0")/lib.sh"

OA="$SRC/tests/openapi"
SPEC="$SRC/api/openapi.yaml"
missing() {
        [ -n "${PROVD_TESTS_NO_SKIP:-}" ] && fail "$1 missing"
        echo "SKIP: $1"
        exit 77
}
command -v node >/dev/null || missing "node (Debian: nodejs)"
command -v jq >/dev/null || missing jq
command -v strings >/dev/null || missing "strings (binutils)"
[ "$PROVD_TEST_STORE" != sqlite ] || command -v sqlite3 >/dev/null || missing sqlite3
[ -x "$OA/node_modules/.bin/redocly" ] && [ -d "$OA/node_modules/ajv" ] ||
        missing "tests/openapi/node_modules (npm ci --prefix tests/openapi)"
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true NO_UPDATE_NOTIFIER=1
V() { node "$OA/validate.mjs" "$@"; }

# --- 1. lint ----------------------------------------------------------------------------------
"$OA/node_modules/.bin/redocly" lint --config "$OA/redocly.yaml" --format json "$SPEC" >"$T/lint.json" 2>"$T/lint.err" ||
        fail "redocly lint: $(jq -c '.problems[] | {ruleId, message, location: .location[0].pointer}' "$T/lint.json" 2>/dev/null || cat "$T/lint.err")"
jq -e '.totals.errors == 0 and .totals.warnings == 0' "$T/lint.json" >/dev/null ||
        fail "redocly lint: $(jq -c '.totals, (.problems[] | {ruleId, message, location: .location[0].pointer})' "$T/lint.json")"
ok "redocly lint: 0 errors, 0 warnings ($(jq .totals.ignored "$T/lint.json") findings ignored, each explained in redocly.yaml)"

V routes "$SPEC" >"$T/spec-routes"
V ops "$SPEC" >"$T/spec-ops"
[ -s "$T/spec-routes" ] || fail "validate.mjs routes printed nothing"

# --- exchange recording -----------------------------------------------------------------------
EX="$T/ex"
mkdir -p "$EX"
N=0
: >"$T/mismatches"
# x EXPECTED LABEL METHOD PATH [--json BODY | --body-file FILE] [--hdr 'Name: value']...
#   [--invalid] [--min-events N] [--] [CURL ARGS...]
# One exchange: sends it, records it for validate.mjs, sets STATUS and BODY.  A status other
# than EXPECTED is noted (all are listed at the end) rather than fatal, so one run shows every
# disagreement.  --hdr headers are recorded (for header parameters); --invalid says the test
# means the request to be invalid, and validate.mjs checks that the spec agrees.
x() {
        local expected=$1 label=$2 method=$3 path=$4
        shift 4
        N=$((N + 1))
        local args=() hdrs='{}' req=null invalid=false min_events=null
        while [ $# -gt 0 ]; do
                case $1 in
                --json) printf '%s' "$2" >"$EX/$N.req"; req="\"$N.req\""
                        args+=(-H 'Content-Type: application/json' --data-binary "@$EX/$N.req"); shift 2 ;;
                --body-file) cp "$2" "$EX/$N.req"; req="\"$N.req\""
                        args+=(-H 'Content-Type: application/json' --data-binary "@$EX/$N.req"); shift 2 ;;
                --hdr) args+=(-H "$2"); hdrs=$(jq -c --arg k "${2%%:*}" --arg v "${2#*: }" '. + {($k): $v}' <<<"$hdrs"); shift 2 ;;
                --invalid) invalid=true; shift ;;
                --min-events) min_events=$2; shift 2 ;;
                --) shift; args+=("$@"); break ;;
                *) args+=("$1"); shift ;;
                esac
        done
        local how=(-X "$method") rc=0
        : >"$EX/$N.body" # curl writes nothing for an empty body
        [ "$method" = HEAD ] && how=(--head)
        STATUS=$(curl -sS -o "$EX/$N.body" -D "$EX/$N.head" -w '%{http_code}' "${how[@]}" "${args[@]}" "$URL$path" 2>"$T/curl.err") || rc=$?
        # 28: --max-time ended a stream, as intended.
        [ $rc = 0 ] || [ $rc = 28 ] || fail "[$label] curl $method $path: exit $rc: $(cat "$T/curl.err")"
        [ "$method" = HEAD ] && : >"$EX/$N.body" # curl --head writes the headers there
        BODY=$(tr -d '\000' <"$EX/$N.body")
        # The record's fields, NUL-terminated; write_records makes $EX/N.json of them all at once
        # (one jq per exchange was most of this test's time on a loaded machine).
        printf '%s\0' "$N" "$label" "$method" "$path" "$STATUS" "$req" "$hdrs" "$invalid" "$min_events" >>"$EX/records"
        if [ "$expected" != any ] && ! [[ "$STATUS" =~ ^($expected)$ ]]; then
                echo "[$label] $method $path: expected $expected, got $STATUS: $(short_body)" >>"$T/mismatches"
        fi
}
# Values from the last answer, for later requests.
j() { printf '%s' "$BODY" | jq -r "$1" 2>/dev/null || echo "(not JSON)"; }
# An integer from the last answer, 0 if there is none (the answer is validated anyway).
jn() { local v; v=$(j "$1"); [[ "$v" =~ ^[0-9]+$ ]] && echo "$v" || echo 0; }

# write_records: $EX/N.json for every exchange x() recorded: {label, method, path, status,
# headers, body, request_body, request_headers, expect_invalid[, min_events]}.
write_records() {
        python3 - "$EX" <<'PY' || fail "cannot write the exchange records"
import json, os, sys
ex = sys.argv[1]
f = open(os.path.join(ex, "records"), "rb").read().split(b"\0")[:-1]
for i in range(0, len(f), 9):
    n, label, method, path, status, req, hdrs, invalid, me = (v.decode("utf-8", "surrogateescape") for v in f[i:i + 9])
    r = {"label": label, "method": method, "path": path, "status": int(status),
         "headers": n + ".head", "body": n + ".body", "request_body": json.loads(req),
         "request_headers": json.loads(hdrs), "expect_invalid": json.loads(invalid)}
    if json.loads(me) is not None:
        r["min_events"] = json.loads(me)
    with open(os.path.join(ex, n + ".json"), "w", encoding="utf-8", errors="surrogateescape") as o:
        json.dump(r, o, ensure_ascii=False)
PY
}

validate_all() {
        local rc=0
        write_records
        V batch "$SPEC" "$EX" "$@" >"$T/validate.out" 2>&1 || rc=$?
        if [ -s "$T/mismatches" ] || [ $rc != 0 ]; then
                cat "$T/mismatches" "$T/validate.out" >&2
                fail "$(wc -l <"$T/mismatches") unexpected statuses; validate.mjs: $(tail -n1 "$T/validate.out")"
        fi
        ok "$(tail -n1 "$T/validate.out")"
}

# --- the provd under test -----------------------------------------------------------------------
make_inventory "$T/inv.json" 4
# node-03 has no BMC (power/bootdev: 409); the others' BMCs do not exist (their operations
# are accepted and fail in the background).
(umask 077 && echo secret >"$T/bmc-pass")
# s001 is a stateless node of image "compute" (its BMC does not exist either).
jq --arg pw "$T/bmc-pass" --arg k "$T/boot/bzImage" --arg i "$T/boot/initrd" '.nodes[0].rack = "r1" | .nodes[1].rack = "r1" | .nodes[2].rack = "r2" | del(.nodes[2].bmc) | .nodes[0].bmc.password_file = $pw | .nodes[1].bmc.console = "ipmiconsole"
  | .images = {compute: {kernel: $k, initrd: [$i], init: "/nix/store/c-nixos-system-compute/init", toplevel: "/nix/store/c-nixos-system-compute"}}
  | .nodes += [{name: "s001", mac: ["52:54:00:00:00:05"], mode: "stateless", image: "compute", bmc: (.nodes[3].bmc)}]' "$T/inv.json" >"$T/inv.tmp" && mv "$T/inv.tmp" "$T/inv.json"
cp "$T/inv.json" "$T/inv-good.json"
M1=52:54:00:00:00:01 M2=52:54:00:00:00:02 M3=52:54:00:00:00:03 M4=52:54:00:00:00:04 MS=52:54:00:00:00:05
KERNEL=${T#/}/boot/bzImage # the {path} of the kernel: its absolute path without the leading slash

# The API token, made by the CLI; its line in the tokens file is checked independently
# (NAME blake2b:HEX, HEX = BLAKE2b-256 of the token: libsodium's crypto_generichash without a
# key is BLAKE2b, which python3's hashlib has).
new_api_token() {
        local name=$1 t
        t=$("$PROVD" token new --name "$name" --file "$T/api-tokens" 2>"$T/token.err") || fail "provd token new: $(cat "$T/token.err")"
        grep -qx "$name blake2b:$(printf '%s' "$t" | python3 -c 'import hashlib,sys; print(hashlib.blake2b(sys.stdin.buffer.read(), digest_size=32).hexdigest())')" "$T/api-tokens" ||
                fail "the tokens file has no line '$name blake2b:<BLAKE2b-256 of the token>': $(cat "$T/api-tokens")"
        printf '%s' "$t"
}
ADMIN=$(new_api_token admin)
[[ "$ADMIN" =~ ^pvd_[A-Za-z0-9_-]{43}$ ]] || fail "API token has the wrong form: $ADMIN"
WRONG_API=pvd_$(head -c 32 /dev/urandom | base64 -w0 | tr '+/' '-_' | tr -d '=')
WRONG_INSTALL=$(head -c 32 /dev/urandom | base64 -w0 | tr '+/' '-_' | tr -d '=')
# The iPXE EFI binary for /v1/ipxe.efi: any file serves the contract (a real one in e2e-uefi-pxe).
head -c 70000 /dev/urandom >"$T/ipxe.efi"
printf '[serve]\napi_tokens = %s\nbmc_timeout = 2\nbmc_retries = 0\nipxe_efi = %s\n' "$T/api-tokens" "$T/ipxe.efi" >"$T/provd.ini"
provd_start "$T/inv.json" --config "$T/provd.ini"
AUTH=(-H "Authorization: Bearer $ADMIN")

# --- 2. every operation, every documented status ---------------------------------------------
x 200 "status page" GET /
x 200 "status page" HEAD /

# Boot API.  HEAD first: a probe of a new node is 200 and opens nothing.
x 200 "probe new node" HEAD "/v1/boot/$M1"
x 404 "probe unknown MAC" HEAD /v1/boot/52:54:00:00:99:99
x 400 "probe malformed MAC" HEAD /v1/boot/zz:54 --invalid
x 200 "boot new node" GET "/v1/boot/$M1"
TOK1=$(j .cmdline | tr ' ' '\n' | sed -n 's/^provd\.token=//p')
[[ "$TOK1" =~ ^[A-Za-z0-9_-]{43}$ ]] || fail "no install token in the boot answer: $BODY"
x 200 "boot again, other MAC form" GET /v1/boot/52-54-00-00-00-01
x 400 "malformed MAC" GET /v1/boot/not-a-mac --invalid
x 400 "MAC too long" GET /v1/boot/52:54:00:00:00:01:02 --invalid
x 404 "unknown MAC" GET /v1/boot/52:54:00:00:99:99

# iPXE.
x 200 "chain script" GET /v1/ipxe
x 200 "install script" GET "/v1/ipxe?mac=$M2&platform=efi&buildarch=x86_64"
TOK2=$(printf '%s' "$BODY" | grep -o 'provd\.token=[A-Za-z0-9_-]*' | cut -d= -f2)
[[ "$TOK2" =~ ^[A-Za-z0-9_-]{43}$ ]] || fail "no install token in the iPXE script: $BODY"
x 200 "unknown MAC script" GET /v1/ipxe?mac=aabbccddeeff
x 400 "malformed MAC script" GET '/v1/ipxe?mac=52:54:00:zz' --invalid
x 200 "probe chain" HEAD /v1/ipxe
x 200 "probe install" HEAD "/v1/ipxe?mac=$M3"
x 400 "probe malformed" HEAD '/v1/ipxe?mac=nope' --invalid

# The iPXE EFI binary (UEFI HTTP Boot): HEAD for the size first, then GET, as the firmware does.
x 200 "iPXE EFI binary (HEAD)" HEAD /v1/ipxe.efi
grep -qix 'content-length: 70000' <(tr -d '\r' <"$EX/$N.head") || fail "HEAD /v1/ipxe.efi: no Content-Length 70000: $(cat "$EX/$N.head")"
x 200 "iPXE EFI binary" GET /v1/ipxe.efi
cmp -s "$EX/$N.body" "$T/ipxe.efi" || fail "GET /v1/ipxe.efi: not the binary's bytes"
EFI_ETAG=$(grep -i '^etag:' "$EX/$N.head" | cut -d' ' -f2- | tr -d '\r')
x 304 "iPXE EFI binary, If-None-Match" GET /v1/ipxe.efi --hdr "If-None-Match: $EFI_ETAG"
x 304 "iPXE EFI binary headers, If-None-Match" HEAD /v1/ipxe.efi --hdr "If-None-Match: $EFI_ETAG"
mv "$T/ipxe.efi" "$T/ipxe.efi.away"
x 404 "iPXE EFI binary missing" GET /v1/ipxe.efi
j .error.message | grep -qF "$T/ipxe.efi" || fail "the 404 of a missing ipxe_efi does not name the path: $BODY"
x 404 "iPXE EFI binary missing (HEAD)" HEAD /v1/ipxe.efi
mv "$T/ipxe.efi.away" "$T/ipxe.efi"

# Boot files.
x 200 "kernel" GET "/v1/files/$KERNEL"
cmp -s "$EX/$N.body" "$T/boot/bzImage" || fail "GET /v1/files/$KERNEL: not the kernel's bytes"
ETAG=$(grep -i '^etag:' "$EX/$N.head" | cut -d' ' -f2- | tr -d '\r')
LASTMOD=$(grep -i '^last-modified:' "$EX/$N.head" | cut -d' ' -f2- | tr -d '\r')
x 200 "kernel headers" HEAD "/v1/files/$KERNEL"
x 304 "kernel, If-None-Match" GET "/v1/files/$KERNEL" --hdr "If-None-Match: $ETAG"
x 304 "kernel, If-Modified-Since" GET "/v1/files/$KERNEL" --hdr "If-Modified-Since: $LASTMOD"
x 304 "kernel headers, If-None-Match" HEAD "/v1/files/$KERNEL" --hdr "If-None-Match: $ETAG"
x 200 "kernel, other ETag" GET "/v1/files/$KERNEL" --hdr 'If-None-Match: "other"'
x 206 "kernel, first 100 bytes" GET "/v1/files/$KERNEL" --hdr 'Range: bytes=0-99'
x 206 "kernel, last 100 bytes, If-Range" GET "/v1/files/$KERNEL" --hdr 'Range: bytes=-100' --hdr "If-Range: $ETAG"
x 416 "kernel, range past the end" GET "/v1/files/$KERNEL" --hdr 'Range: bytes=999999999-'
x 200 "kernel headers, Range ignored" HEAD "/v1/files/$KERNEL" --hdr 'Range: bytes=0-99'
x 404 "not an inventory file" GET /v1/files/etc/passwd
x 404 "not an inventory file (HEAD)" HEAD /v1/files/etc/passwd
x 404 "directory of a boot file" GET "/v1/files/${T#/}/boot"

# A stateless node: its image answer (a boot opened), its overlay while the boot is open.
x 200 "boot stateless node" GET "/v1/boot/$MS"
BTOK=$(j .cmdline | tr ' ' '\n' | sed -n 's/^provd\.token=//p')
[[ "$BTOK" =~ ^[A-Za-z0-9_-]{43}$ ]] || fail "no boot token in the stateless node's answer: $BODY"
x 200 "iPXE of a stateless node (the same boot)" GET "/v1/ipxe?mac=$MS"
x 200 "overlay" GET "/v1/overlay/$BTOK"
OV_ETAG=$(grep -i '^etag:' "$EX/$N.head" | cut -d' ' -f2- | tr -d '\r')
x 200 "overlay (HEAD)" HEAD "/v1/overlay/$BTOK"
x 304 "overlay, If-None-Match" GET "/v1/overlay/$BTOK" --hdr "If-None-Match: $OV_ETAG"
x 304 "overlay headers, If-None-Match" HEAD "/v1/overlay/$BTOK" --hdr "If-None-Match: $OV_ETAG"
x 404 "overlay, unknown token" GET /v1/overlay/not-a-boot-token
x 404 "overlay, unknown token (HEAD)" HEAD /v1/overlay/not-a-boot-token
x 200 "stateless node" GET /v1/nodes/s001
[ "$(j '.mode + " " + .state + " " + (.boot.number | tostring)')" = "stateless booting 1" ] || echo "[stateless node] $BODY" >>"$T/mismatches"
x 200 "boots" GET /v1/nodes/s001/boots
x 200 "boots, 1 per page" GET '/v1/nodes/s001/boots?limit=1'
x 200 "boots of an install node" GET /v1/nodes/node-01/boots
x 200 "boots (HEAD)" HEAD /v1/nodes/s001/boots
x 400 "boots, before abc" GET '/v1/nodes/s001/boots?before=abc' --invalid
x 400 "boots, limit 0 (HEAD)" HEAD '/v1/nodes/s001/boots?limit=0' --invalid
x 404 "boots, unknown node" GET /v1/nodes/node-99/boots
x 404 "boots, unknown node (HEAD)" HEAD /v1/nodes/node-99/boots
x 200 "nodes, mode filter" GET '/v1/nodes?mode=stateless'
[ "$(j '[.nodes[].name] | join(",")')" = s001 ] || echo "[nodes?mode=stateless] $BODY" >>"$T/mismatches"
x 400 "nodes, unknown mode" GET '/v1/nodes?mode=diskless' --invalid
x 400 "boot event, an installer phase" POST /v1/install/events --json '{"phase":"installing"}' -H "Authorization: Bearer $BTOK"
x 200 "boot event running" POST /v1/install/events --json '{"phase":"running"}' -H "Authorization: Bearer $BTOK"
[ "$(j '.state + " " + (.boot | tostring)')" = "running 1" ] || echo "[boot event running] $BODY" >>"$T/mismatches"
x 403 "boot event, dead boot token" POST /v1/install/events --json '{"phase":"running"}' -H "Authorization: Bearer $BTOK"
x 404 "overlay of a boot that is over" GET "/v1/overlay/$BTOK"
x 202 "reboot a stateless node" POST /v1/nodes/s001/reboot "${AUTH[@]}"
x 409 "reboot an install node" POST /v1/nodes/node-02/reboot "${AUTH[@]}"
x 409 "reinstall a stateless node" POST /v1/nodes/s001/reinstall "${AUTH[@]}"
x 400 "reboot, parameters" POST /v1/nodes/s001/reboot --json '{"now":true}' "${AUTH[@]}" --invalid
x 404 "reboot, unknown node" POST /v1/nodes/node-99/reboot "${AUTH[@]}"

# Install events.
x 401 "event, no token" POST /v1/install/events --json '{"phase":"started"}'
x 401 "event, unknown token" POST /v1/install/events --json '{"phase":"started"}' -H "Authorization: Bearer $WRONG_INSTALL"
x 401 "event, Basic auth" POST /v1/install/events --json '{"phase":"started"}' -H "Authorization: Basic $TOK1"
x 403 "event, API token" POST /v1/install/events --json '{"phase":"started"}' "${AUTH[@]}"
for b in '' 'not json' '[]' '{}' '{"phase":"rebooting"}' '{"phase":1}' '{"phase":"started","message":7}'; do
        x 400 "event body '$b'" POST /v1/install/events --json "$b" --invalid -H "Authorization: Bearer $TOK1"
done
head -c 70000 /dev/zero | tr '\0' a | sed 's/^/{"phase":"started","message":"/; s/$/"}/' >"$T/big"
x 413 "event body over 64 KiB" POST /v1/install/events --body-file "$T/big" -H "Authorization: Bearer $TOK1"
x 200 "event started" POST /v1/install/events --json '{"phase":"started","message":"installer up"}' -H "Authorization: Bearer $TOK1"
x 200 "event repeated" POST /v1/install/events --json '{"phase":"started","message":"installer up"}' -H "Authorization: Bearer $TOK1"
[ "$(j .changed)" = false ] || echo "[event repeated] changed is not false: $BODY" >>"$T/mismatches"
x 200 "event partitioning, null message" POST /v1/install/events --json '{"phase":"partitioning","message":null}' -H "Authorization: Bearer $TOK1"
x 200 "event succeeded" POST /v1/install/events --json '{"phase":"succeeded"}' -H "Authorization: Bearer $TOK1"
x 403 "event, dead token" POST /v1/install/events --json '{"phase":"failed"}' -H "Authorization: Bearer $TOK1"
x 200 "node-02 fails" POST /v1/install/events --json '{"phase":"failed","message":"disk not found"}' -H "Authorization: Bearer $TOK2"
x 404 "boot of an installed node" GET "/v1/boot/$M1"
x 404 "probe of a failed node" HEAD "/v1/boot/$M2"
x 200 "iPXE of an installed node (exit script)" GET "/v1/ipxe?mac=$M1"
# node-04 netboots, then leaves the inventory: its token's node is gone (404).
x 200 "boot node-04" GET "/v1/boot/$M4"
TOK4=$(j .cmdline | tr ' ' '\n' | sed -n 's/^provd\.token=//p')
jq 'del(.nodes[3])' "$T/inv-good.json" >"$T/inv.json"
x 200 "reload without node-04" POST /v1/reload "${AUTH[@]}"
[ "$(j .nodes)" = 4 ] || echo "[reload] expected 4 nodes: $BODY" >>"$T/mismatches"
x 404 "event of a node no longer in the inventory" POST /v1/install/events --json '{"phase":"started"}' -H "Authorization: Bearer $TOK4"
x 404 "credential of a node no longer in the inventory" POST /v1/install/credential -H "Authorization: Bearer $TOK4"
cp "$T/inv-good.json" "$T/inv.json"
echo '{"version": 1, "nodes": [' >"$T/inv.json"
x 400 "reload, broken inventory" POST /v1/reload "${AUTH[@]}"
cp "$T/inv-good.json" "$T/inv.json"
x 200 "reload, inventory back" POST /v1/reload "${AUTH[@]}"
x 200 "boot node-03" GET "/v1/boot/$M3"
TOK3=$(j .cmdline | tr ' ' '\n' | sed -n 's/^provd\.token=//p')

# Node credentials and reports: node-03's installer gets its credential, node-03 reports.
REPORT_BODY='{"running":"/nix/store/00000000000000000000000000000000-nixos-system-node-03","booted":"/nix/store/00000000000000000000000000000000-nixos-system-node-03","kernel":"6.1.0-28-amd64","uptime":12.5}'
x 401 "credential, no token" POST /v1/install/credential
x 401 "credential, unknown token" POST /v1/install/credential -H "Authorization: Bearer $WRONG_INSTALL"
x 403 "credential, API token" POST /v1/install/credential "${AUTH[@]}"
x 403 "credential, dead token" POST /v1/install/credential -H "Authorization: Bearer $TOK1"
x 200 "credential of node-03" POST /v1/install/credential -H "Authorization: Bearer $TOK3"
CRED3=$(j .credential)
x 200 "node-03 reports" POST /v1/nodes/node-03/report --json "$REPORT_BODY" -H "Authorization: Bearer $CRED3"
[ "$(j .drift)" = drifted ] || echo "[node-03 reports] drift is not drifted (inventory toplevel differs): $BODY" >>"$T/mismatches"
x 200 "node-03 reports again" POST /v1/nodes/node-03/report --json "$REPORT_BODY" -H "Authorization: Bearer $CRED3"
x 400 "report, running not a store path" POST /v1/nodes/node-03/report --json '{"running":"/etc","booted":"/etc","kernel":"6","uptime":1}' --invalid -H "Authorization: Bearer $CRED3"
x 400 "report, not JSON" POST /v1/nodes/node-03/report --json 'nope' --invalid -H "Authorization: Bearer $CRED3"
x 401 "report, unknown credential" POST /v1/nodes/node-03/report --json "$REPORT_BODY" -H "Authorization: Bearer pvn_$WRONG_INSTALL"
x 403 "report for another node" POST /v1/nodes/node-01/report --json "$REPORT_BODY" -H "Authorization: Bearer $CRED3"
x 404 "report, node not in the inventory" POST /v1/nodes/node-99/report --json "$REPORT_BODY" -H "Authorization: Bearer $CRED3"
printf '%s' "$REPORT_BODY" | sed 's/}$//' >"$T/bigreport"
{ printf ',"pad":"'; head -c 70000 /dev/zero | tr '\0' a; printf '"}'; } >>"$T/bigreport"
x 413 "report body over 64 KiB" POST /v1/nodes/node-03/report --body-file "$T/bigreport" -H "Authorization: Bearer $CRED3"
x 200 "nodes, drift filter" GET '/v1/nodes?drift=drifted,unknown'
[ "$(j '[.nodes[] | select(.drift == "drifted") | .name] | join(",")')" = node-03 ] || echo "[drift filter] $BODY" >>"$T/mismatches"
x 400 "nodes, unknown drift" GET '/v1/nodes?drift=sideways' --invalid
x 200 "node-03 with its report" GET /v1/nodes/node-03
[ "$(j '.report.kernel')" = 6.1.0-28-amd64 ] || echo "[node-03 report] $BODY" >>"$T/mismatches"
x 204 "revoke node-03's credential" DELETE /v1/nodes/node-03/credential "${AUTH[@]}"
x 404 "revoke again" DELETE /v1/nodes/node-03/credential "${AUTH[@]}"
x 401 "report, revoked credential" POST /v1/nodes/node-03/report --json "$REPORT_BODY" -H "Authorization: Bearer $CRED3"

# Operations (BMCs that do not exist: accepted, then failed in the background; node-01's
# times out after 2 s, so it is "in progress" meanwhile).
x 202 "power status" POST /v1/nodes/node-01/power --json '{"action":"status"}' "${AUTH[@]}"
OPID=$(jn .operation.id)
x 409 "power, operation in progress" POST /v1/nodes/node-01/power --json '{"action":"on"}' "${AUTH[@]}"
# (right after: node-01's operation ends after bmc_timeout, 2 s, and a loaded machine takes that
# for a dozen exchanges)
x 409 "reinstall, operation in progress" POST /v1/nodes/node-01/reinstall "${AUTH[@]}"
x 202 "bootdev" POST /v1/nodes/node-02/bootdev --json '{"device":"pxe","persistent":true,"efi":false}' "${AUTH[@]}"
x 409 "power, node without BMC" POST /v1/nodes/node-03/power --json '{"action":"on"}' "${AUTH[@]}"
x 409 "bootdev, node without BMC" POST /v1/nodes/node-03/bootdev --json '{"device":"disk"}' "${AUTH[@]}"
x 400 "power, bad action" POST /v1/nodes/node-02/power --json '{"action":"explode"}' "${AUTH[@]}" --invalid
x 400 "bootdev, bad device" POST /v1/nodes/node-02/bootdev --json '{"device":"floppy"}' "${AUTH[@]}" --invalid
x 400 "reinstall, parameters" POST /v1/nodes/node-02/reinstall --json '{"now":true}' "${AUTH[@]}" --invalid
x 400 "power, not JSON" POST /v1/nodes/node-02/power --json 'on' "${AUTH[@]}" --invalid
head -c 70000 /dev/zero | tr '\0' ' ' >"$T/big-op.json"
x 413 "power, body too large" POST /v1/nodes/node-02/power --body-file "$T/big-op.json" "${AUTH[@]}" --invalid
x 413 "bootdev, body too large" POST /v1/nodes/node-02/bootdev --body-file "$T/big-op.json" "${AUTH[@]}" --invalid
x 413 "reinstall, body too large" POST /v1/nodes/node-02/reinstall --body-file "$T/big-op.json" "${AUTH[@]}" --invalid
x 404 "power, unknown node" POST /v1/nodes/node-99/power --json '{"action":"on"}' "${AUTH[@]}"
x 404 "bootdev, unknown node" POST /v1/nodes/node-99/bootdev --json '{"device":"pxe"}' "${AUTH[@]}"
x 404 "reinstall, unknown node" POST /v1/nodes/node-99/reinstall "${AUTH[@]}"
x 202 "reinstall" POST /v1/nodes/node-04/reinstall "${AUTH[@]}"
x 413 "reboot, body too large" POST /v1/nodes/s001/reboot --body-file "$T/big-op.json" "${AUTH[@]}" --invalid
# Console capture.  The BMCs do not exist: captures run, their sessions fail in the
# background; node-02's attempt 1 was captured (its log exists), node-03 has no BMC.
x 404 "console, no log" GET /v1/nodes/node-03/console
x 409 "console capture, node without BMC" POST /v1/nodes/node-03/console "${AUTH[@]}"
x 202 "console capture" POST "/v1/nodes/node-02/console?seconds=30" "${AUTH[@]}"
x 200 "console log" GET /v1/nodes/node-02/console
x 200 "console log (HEAD)" HEAD /v1/nodes/node-02/console
x 200 "console, follow" GET "/v1/nodes/node-02/console?follow=1" --max-time 1
x 200 "console of attempt 1" GET "/v1/nodes/node-02/console?attempt=1"
x 400 "console, attempt 0" GET "/v1/nodes/node-02/console?attempt=0" --invalid
x 400 "console, attempt abc (HEAD)" HEAD "/v1/nodes/node-02/console?attempt=abc" --invalid
x 404 "console, no such attempt" GET "/v1/nodes/node-02/console?attempt=99"
x 404 "console, unknown node (HEAD)" HEAD /v1/nodes/node-99/console
x 400 "console capture, seconds 0" POST "/v1/nodes/node-02/console?seconds=0" "${AUTH[@]}" --invalid
x 404 "console capture, unknown node" POST /v1/nodes/node-99/console "${AUTH[@]}"
x 204 "end console capture" DELETE /v1/nodes/node-02/console "${AUTH[@]}"
x 404 "end console capture, unknown node" DELETE /v1/nodes/node-99/console "${AUTH[@]}"
x 200 "operation" GET "/v1/operations/$OPID"
x 200 "operation (HEAD)" HEAD "/v1/operations/$OPID"
x 404 "unknown operation" GET /v1/operations/999999
x 404 "unknown operation (HEAD)" HEAD /v1/operations/999999
x 200 "operations" GET /v1/operations
x 200 "operations of a node" GET '/v1/operations?node=node-01'
x 200 "operations (HEAD)" HEAD /v1/operations
# Let node-01's failed operation end before the auth walk reuses it.
for _ in $(seq 100); do
        [ "$(curl -s "$URL/v1/operations/$OPID" | jq -r .state)" = failed ] && break
        sleep 0.1
done

# Bulk operations: node-02's BMC does not exist (it fails after bmc_timeout, 2 s), node-03 has
# none (fails at once: conflict).  The progress stream ends by itself after both and `done`.
x 202 "bulk power status" POST /v1/bulk-operations --json '{"kind":"power","params":{"action":"status"},"nodes":["node-02","node-03"]}' "${AUTH[@]}"
BULK=$(jn .bulk_operation.id)
x 200 "bulk operation" GET "/v1/bulk-operations/$BULK"
x 200 "bulk operation (HEAD)" HEAD "/v1/bulk-operations/$BULK"
x 200 "bulk progress" GET "/v1/bulk-operations/$BULK?follow=1" --min-events 3 -- -N --max-time 10
grep -q '^event: done' "$EX/$N.body" || echo "[bulk progress] no done event: $(head -c 300 "$EX/$N.body")" >>"$T/mismatches"
x 200 "bulk progress, Last-Event-ID" GET "/v1/bulk-operations/$BULK?follow=1" --hdr "Last-Event-ID: 1" --min-events 2 -- -N --max-time 10
x 200 "bulk progress (HEAD)" HEAD "/v1/bulk-operations/$BULK?follow=1"
x 400 "bulk, follow garbage" GET "/v1/bulk-operations/$BULK?follow=yes" --invalid
x 400 "bulk, follow garbage (HEAD)" HEAD "/v1/bulk-operations/$BULK?follow=yes" --invalid
x 404 "unknown bulk operation" GET /v1/bulk-operations/999999
x 404 "unknown bulk operation (HEAD)" HEAD /v1/bulk-operations/999999
x 400 "bulk, node named twice" POST /v1/bulk-operations --json '{"kind":"power","params":{"action":"status"},"nodes":["node-02","node-02"]}' "${AUTH[@]}" --invalid
x 400 "bulk, unknown kind" POST /v1/bulk-operations --json '{"kind":"explode","nodes":["node-02"]}' "${AUTH[@]}" --invalid
x 400 "bulk, no nodes" POST /v1/bulk-operations --json '{"kind":"power","params":{"action":"on"},"nodes":[]}' "${AUTH[@]}" --invalid
x 404 "bulk, unknown node" POST /v1/bulk-operations --json '{"kind":"power","params":{"action":"on"},"nodes":["node-02","node-99"]}' "${AUTH[@]}"
head -c 1100000 /dev/zero | tr '\0' ' ' >"$T/big-bulk.json"
x 413 "bulk, body too large" POST /v1/bulk-operations --body-file "$T/big-bulk.json" "${AUTH[@]}" --invalid

# Discovery.  This provd captures nothing (no discovery_interface; discovery.sh
# drives the capture with real DHCP clients): two rows are written into its store the way
# the capture writes them, one with every optional field, one with none.
state_sql "INSERT INTO discovered (mac, first_seen_ms, last_seen_ms, count, arch, uuid, vendor_class, user_class, interface, ipxe) VALUES
        ('52:54:00:aa:00:01', 1700000000000, 1700000005000, 3, 7, '8a3f1c2e-0b4d-4e5f-9a6b-7c8d9e0f1a2b', 'PXEClient:Arch:00007:UNDI:003016', 'iPXE', 'br0', 1),
        ('52:54:00:aa:00:02', 1700000001000, 1700000009000, 1, NULL, NULL, 'PXEClient', '', 'br0', 0)" ||
        fail "cannot write discovered rows into the store"
x 200 "discovered" GET /v1/discovered
[ "$(j '[.discovered[] | "\(.mac) \(.count) \(.arch) \(.arch_name) \(.firmware) \(.ipxe)"] | join(",")')" = "52:54:00:aa:00:02 1 null null unknown false,52:54:00:aa:00:01 3 7 x64 UEFI efi-x64 true" ] ||
        echo "[discovered] order/content: $BODY" >>"$T/mismatches"
x 200 "discovered (HEAD)" HEAD /v1/discovered
x 204 "forget a discovered MAC (other MAC form)" DELETE /v1/discovered/52-54-00-AA-00-01 "${AUTH[@]}"
x 404 "forget it again" DELETE /v1/discovered/52:54:00:aa:00:01 "${AUTH[@]}"
x 400 "forget a malformed MAC" DELETE /v1/discovered/52:54:zz --invalid "${AUTH[@]}"
x 200 "discovered after forget" GET /v1/discovered
[ "$(j '[.discovered[].mac] | join(",")')" = 52:54:00:aa:00:02 ] || echo "[discovered after forget] $BODY" >>"$T/mismatches"

# Nodes.
x 200 "nodes" GET /v1/nodes
[ "$(j '[.nodes[].name] | join(",")')" = node-01,node-02,node-03,node-04,s001 ] || echo "[nodes] order/content: $BODY" >>"$T/mismatches"
x 200 "nodes, state filter" GET '/v1/nodes?state=failed,installed'
[ "$(j '[.nodes[].name] | join(",")')" = node-01,node-02 ] || echo "[nodes?state=failed,installed] $BODY" >>"$T/mismatches"
x 200 "nodes, name glob" GET '/v1/nodes?name=node-0%5B34%5D'
[ "$(j '[.nodes[].name] | join(",")')" = node-03,node-04 ] || echo "[nodes?name=node-0[34]] $BODY" >>"$T/mismatches"
x 200 "nodes, rack" GET '/v1/nodes?rack=r1&name=node-*'
[ "$(j '[.nodes[].name] | join(",")')" = node-01,node-02 ] || echo "[nodes?rack=r1] $BODY" >>"$T/mismatches"
x 200 "nodes, filters AND" GET '/v1/nodes?rack=r1&state=failed'
[ "$(j '[.nodes[].name] | join(",")')" = node-02 ] || echo "[nodes?rack=r1&state=failed] $BODY" >>"$T/mismatches"
x 400 "nodes, unknown state" GET '/v1/nodes?state=broken' --invalid
x 400 "nodes, one unknown state" GET '/v1/nodes?state=failed,broken' --invalid
x 400 "nodes, empty state" GET '/v1/nodes?state=' --invalid
x 400 "nodes, empty name glob" GET '/v1/nodes?name=' --invalid
x 400 "nodes, name glob too long" GET "/v1/nodes?name=$(printf 'n%.0s' $(seq 257))" --invalid
x 200 "nodes, no such rack" GET '/v1/nodes?rack=r9'
[ "$(j '.nodes | length')" = 0 ] || echo "[nodes?rack=r9] $BODY" >>"$T/mismatches"
x 200 "nodes, one page" GET '/v1/nodes?limit=3'
[ "$(j '[.nodes[].name] | join(",")')" = node-01,node-02,node-03 ] && [ "$(j '.next | type')" = string ] ||
        echo "[nodes?limit=3] $BODY" >>"$T/mismatches"
x 200 "nodes, the next page" GET "/v1/nodes?limit=3&cursor=$(j .next)"
[ "$(j '[.nodes[].name] | join(",")')" = node-04,s001 ] && [ "$(j .next)" = null ] ||
        echo "[nodes?limit=3&cursor=] $BODY" >>"$T/mismatches"
x 400 "nodes, limit 0" GET '/v1/nodes?limit=0' --invalid
x 400 "nodes, limit too large" GET '/v1/nodes?limit=10001' --invalid
x 400 "nodes, not a cursor" GET '/v1/nodes?cursor=%40%40' --invalid
x 200 "nodes (HEAD)" HEAD /v1/nodes
x 400 "nodes, unknown state (HEAD)" HEAD '/v1/nodes?state=x' --invalid
x 200 "node-01" GET /v1/nodes/node-01
x 200 "node-04 (never booted)" GET /v1/nodes/node-04
x 200 "node-02 (booted by iPXE on efi x86_64)" GET /v1/nodes/node-02
[ "$(j '.attempt.firmware')" = efi-x64 ] &&
[ "$(j '[.history[] | select(.cause == "netboot")][0].message | endswith("(firmware efi-x64)")')" = true ] ||
        echo "[node-02 firmware] the netboot history entry does not name firmware efi-x64: $BODY" >>"$T/mismatches"
x 404 "unknown node" GET /v1/nodes/node-99
x 200 "node-01 (HEAD)" HEAD /v1/nodes/node-01
x 404 "unknown node (HEAD)" HEAD /v1/nodes/node-99

# History, paged.
x 200 "history" GET /v1/nodes/node-01/history
x 200 "history, 1 per page" GET '/v1/nodes/node-01/history?limit=1'
NB=$(jn .next_before)
x 200 "history, page 2" GET "/v1/nodes/node-01/history?limit=1&before=$NB"
x 200 "history, node without events" GET /v1/nodes/node-04/history
[ "$(j .next_before)" = null ] || echo "[history node-04] next_before not null: $BODY" >>"$T/mismatches"
x 400 "history, limit 0" GET '/v1/nodes/node-01/history?limit=0' --invalid
x 400 "history, limit 1001" GET '/v1/nodes/node-01/history?limit=1001' --invalid
x 400 "history, limit abc" GET '/v1/nodes/node-01/history?limit=abc' --invalid
x 400 "history, before abc" GET '/v1/nodes/node-01/history?before=abc' --invalid
x 400 "history, before 0" GET '/v1/nodes/node-01/history?before=0' --invalid
x 404 "history, unknown node" GET /v1/nodes/node-99/history
x 200 "history (HEAD)" HEAD /v1/nodes/node-01/history
x 400 "history, bad limit (HEAD)" HEAD '/v1/nodes/node-01/history?limit=-1' --invalid
x 404 "history, unknown node (HEAD)" HEAD /v1/nodes/node-99/history

# Summary, events.
x 200 "summary" GET /v1/summary
LAST=$(jn .last_event_id)
x 200 "summary (HEAD)" HEAD /v1/summary
x 200 "events" GET /v1/events
x 200 "events since 0, limit 2" GET '/v1/events?since=0&limit=2'
SINCE=$(jn .last_event_id)
x 200 "events since an id" GET "/v1/events?since=$SINCE"
x 200 "events since a time" GET '/v1/events?since=2000-01-01T00:00:00.000Z'
x 200 "events since the last" GET "/v1/events?since=$LAST"
[ "$(j '.events | length')" = 0 ] && [ "$(j .last_event_id)" = "$LAST" ] || echo "[events since last] $BODY" >>"$T/mismatches"
x 400 "events, since garbage" GET '/v1/events?since=yesterday' --invalid
x 400 "events, since negative" GET '/v1/events?since=-1' --invalid
x 400 "events, since a date without time" GET '/v1/events?since=2020-01-01' --invalid
x 400 "events, limit 0" GET '/v1/events?limit=0' --invalid
x 400 "events, limit 5000" GET '/v1/events?limit=5000' --invalid
x 200 "events (HEAD)" HEAD /v1/events
x 400 "events, bad since (HEAD)" HEAD '/v1/events?since=x' --invalid

# The event stream: history replayed from since=0, and from Last-Event-ID; a live event.
x 200 "stream since 0" GET '/v1/events/stream?since=0' --min-events "$LAST" -- -N --max-time 2
x 200 "stream, Last-Event-ID" GET /v1/events/stream --hdr "Last-Event-ID: 1" --min-events "$((LAST - 1))" -- -N --max-time 2
N=$((N + 1))
LIVE=$N
curl -sS -N --max-time 3 -o "$EX/$LIVE.body" -D "$EX/$LIVE.head" -w '%{http_code}' "$URL/v1/events/stream" >"$T/live.status" 2>/dev/null &
LIVE_PID=$!
PIDS+=("$LIVE_PID")
sleep 1
x 200 "node-03 started (live event)" POST /v1/install/events --json '{"phase":"started"}' -H "Authorization: Bearer $TOK3"
wait "$LIVE_PID" || true
jq -n --arg h "$LIVE.head" --arg b "$LIVE.body" --argjson s "$(cat "$T/live.status")" \
        '{label: "live stream", method: "GET", path: "/v1/events/stream", status: $s, headers: $h, body: $b, min_events: 1}' >"$EX/$LIVE.json"
grep -q '"to":"installing"' "$EX/$LIVE.body" || echo "[live stream] the new event did not arrive: $(head -c 300 "$EX/$LIVE.body")" >>"$T/mismatches"
x 400 "stream, since garbage" GET '/v1/events/stream?since=abc' --invalid -- --max-time 2
x 400 "stream, Last-Event-ID garbage" GET /v1/events/stream --hdr 'Last-Event-ID: abc' --invalid -- --max-time 2
x 200 "stream (HEAD)" HEAD /v1/events/stream -- --max-time 2
x 400 "stream, bad since (HEAD)" HEAD '/v1/events/stream?since=-5' --invalid -- --max-time 2

x 200 "metrics" GET /metrics
x 200 "metrics (HEAD)" HEAD /metrics

# A path provd does not serve.
x 404 "unknown path" GET /v1/nope
x 404 "unknown path" POST /v2/nodes

# --- 4a. auth, generated from the spec --------------------------------------------------------
# A concrete path for a spec path template.
concrete() {
        local p=$1
        p=${p//\{mac\}/$M2}
        p=${p//\{name\}/node-02}
        p=${p//\{path\}/$KERNEL}
        p=${p//\{id\}/${OP_READ:-1}}
        p=${p//\{bulk_id\}/${BULK_READ:-1}}
        p=${p//\{token\}/${BTOK_READ:-$BTOK}}
        [[ "$p" == *"{"* ]] && fail "the test has no value for a parameter of $1: add it to concrete()"
        printf '%s' "$p"
}
# A live install token (node-03's attempt is open).
n_admin=0
while read -r method tpl auth; do
        p=$(concrete "$tpl")
        case $auth in
        admin)
                [ "$method" = GET ] || [ "$method" = HEAD ] && continue
                n_admin=$((n_admin + 1))
                x 401 "admin, no token" "$method" "$p"
                x 401 "admin, unknown API token" "$method" "$p" -H "Authorization: Bearer $WRONG_API"
                x 401 "admin, not Bearer" "$method" "$p" -H "Authorization: Basic YWRtaW46YWRtaW4="
                x 403 "admin, install token" "$method" "$p" -H "Authorization: Bearer $TOK3"
                ;;
        install)
                x 403 "install route, API token" "$method" "$p" --json '{"phase":"installing"}' "${AUTH[@]}"
                ;;
        node)
                x 401 "node route, no credential" "$method" "$p" --json "$REPORT_BODY"
                x 403 "node route, API token" "$method" "$p" --json "$REPORT_BODY" "${AUTH[@]}"
                x 403 "node route, install token" "$method" "$p" --json "$REPORT_BODY" -H "Authorization: Bearer $TOK3"
                ;;
        esac
done <"$T/spec-ops"
[ "$n_admin" -ge 1 ] || fail "the spec has no admin operation"
ok "auth: $n_admin admin operation(s): no token / unknown / Basic -> 401, install token -> 403; API token on the install route -> 403"

# --- 3. routes ------------------------------------------------------------------------------
# (a) The route table itself, http_route_table[] in daemon/http.c: one row a line, read with a
#     strict pattern.  Every line between the table's first line and its "};" must be a row
#     (a line this test cannot read fails it, rather than a route going unchecked).  A GET row
#     serves HEAD too (http-routes.h).  Each (method, path) pair and its auth level (the
#     table's HTTP_AUTH_OPEN/READ/ADMIN/INSTALL/NODE, the spec's security as validate.mjs ops
#     names it) must be the spec's.
row_re='^        \{ HTTP_METHOD_(GET|POST|PUT|DELETE|PATCH), "(/[^"{}]*(\{[a-z_]+\*?\}[^"{}]*)?)", HTTP_AUTH_(OPEN|READ|ADMIN|INSTALL|NODE), METRICS_ROUTE_[A-Z_]+, (0|HTTP_ROUTE_[A-Z]+( \| HTTP_ROUTE_[A-Z]+)*), route_[a-z_]+ \},$'
in_table=0 closed=0
: >"$T/table-routes"
while IFS= read -r line; do
        if [ $in_table = 0 ]; then
                [ "$line" = "const HttpRoute http_route_table[] = {" ] && in_table=1
                continue
        fi
        [ "$line" = "};" ] && { closed=1; break; }
        [[ "$line" =~ $row_re ]] || fail "daemon/http.c: a line of http_route_table[] is not a row this test can read: $line"
        m=${BASH_REMATCH[1]} p=${BASH_REMATCH[2]} a=${BASH_REMATCH[4],,}
        p=$(sed -E 's/\{[^}]*\}/{}/g' <<<"$p")
        echo "$m $p $a" >>"$T/table-routes"
        [ "$m" = GET ] && echo "HEAD $p $a" >>"$T/table-routes"
done <"$SRC/daemon/http.c"
[ $in_table = 1 ] || fail "no 'const HttpRoute http_route_table[] = {' line in daemon/http.c"
[ $closed = 1 ] || fail "http_route_table[] in daemon/http.c has no closing '};' line"
[ -s "$T/table-routes" ] || fail "http_route_table[] in daemon/http.c has no rows"
sort -u -o "$T/table-routes" "$T/table-routes"
sed -E 's/\{[^}]*\}/{}/g' "$T/spec-ops" | sort -u >"$T/spec-routes-norm"
if diff -u "$T/spec-routes-norm" "$T/table-routes" >"$T/routes.diff"; then
        ok "daemon/http.c's route table = the spec's $(wc -l <"$T/spec-routes") (method, path, auth) triples"
else
        { echo "routes in api/openapi.yaml (-) and in daemon/http.c's route table (+) differ:"; grep '^[-+][A-Z]' "$T/routes.diff"; } >>"$T/mismatches"
fi

# (b) Every spec path: each method it lacks is 405 with Allow = the spec's methods (validate.mjs
#     checks Allow; the methods it has are exercised above).
npaths=0
for tpl in $(cut -d' ' -f2 "$T/spec-routes" | sort -u); do
        npaths=$((npaths + 1))
        p=$(concrete "$tpl")
        for m in GET HEAD POST PUT DELETE PATCH; do
                grep -qx "$m $tpl" "$T/spec-routes" && continue
                x 405 "method not in the spec" "$m" "$p"
        done
done

# (c) Probes for paths provd serves and the spec lacks.
{
        # route-like strings of the binary: /v1..., /metrics, any lowercase absolute path
        # (a prefix ending in "/" gets one more segment)
        strings -n 2 "$PROVD_BIN" | grep -E '^/[a-z][a-z0-9_/.-]*$' |
                grep -vE '^/(nix|proc|dev|etc|tmp|run|usr|var|sys|lib|bin|sbin|home|root|srv|opt)(/|$)|\.(c|h|so|py|html)$' | sed 's|/$|/x|'
        for tpl in $(cut -d' ' -f2 "$T/spec-routes" | sort -u); do
                p=$(concrete "$tpl")
                echo "${p%/}/x"
        done
        # the routes the contract announces for issues 6 and 7
        printf '%s\n' /v1 /v1/ /v1/nodes/node-02/reinstall /v1/nodes/node-02/power /v1/nodes/node-02/bootdev \
                /v1/discovered "/v1/discovered/$M2" /v1/operations /v1/operations/1 /v1/tokens /index.html
} | sort -u >"$T/candidates"
# each one-segment string of the binary (3+ letters) after each spec path that has a parameter
for tpl in $(cut -d' ' -f2 "$T/spec-routes" | sort -u | grep '{'); do
        p=$(concrete "$tpl")
        grep -E '^/[a-z][a-z_-]{2,}$' "$T/candidates" | sed "s|^|${p%/}|"
done | sort -u >"$T/candidates-sub"
# The spec's paths are covered by 2. and (b).  A path provd does not serve answers 404 to any
# method; PATCH is the probe because no route has it, so a served path answers 405 (or more).
V unmatched "$SPEC" <"$T/candidates" >"$T/probes"
V unmatched "$SPEC" <"$T/candidates-sub" >"$T/probes-sub"
while read -r c; do
        x 404 "probe: not in the spec" PATCH "$c"
        x 404 "probe: not in the spec" GET "$c"
done <"$T/probes"
while read -r c; do
        x 404 "probe: not in the spec" PATCH "$c"
done <"$T/probes-sub"
nprobe=$(cat "$T/probes" "$T/probes-sub" | wc -l)
echo "# probed $nprobe paths not in the spec (from provd's binary, spec paths + 1 segment, future routes): results with the validation below"

provd_stop

# --- 4b. read_auth = token ------------------------------------------------------------------
STATE="$T/state2"
printf '[serve]\napi_tokens = %s\nread_auth = token\n' "$T/api-tokens" >"$T/provd.ini"
provd_start "$T/inv.json" --config "$T/provd.ini"
x 202 "an operation to read (node-04 has no working BMC)" POST /v1/nodes/node-04/reinstall "${AUTH[@]}"
OP_READ=$(jn .operation.id)
x 202 "a bulk operation to read (node-03 has no BMC: only marked)" POST /v1/bulk-operations --json '{"kind":"reinstall","nodes":["node-03"]}' "${AUTH[@]}"
BULK_READ=$(jn .bulk_operation.id)
x 202 "a console log to read (console capture)" POST "/v1/nodes/node-02/console?seconds=30" "${AUTH[@]}"
x 200 "boot node-01 (opens an install token)" GET "/v1/boot/$M1"
TOKR=$(j .cmdline | tr ' ' '\n' | sed -n 's/^provd\.token=//p')
x 200 "boot s001 (opens a boot: its overlay can be read)" GET "/v1/boot/$MS"
BTOK_READ=$(j .cmdline | tr ' ' '\n' | sed -n 's/^provd\.token=//p')
n_read=0 n_open=0
while read -r method tpl auth; do
        p=$(concrete "$tpl")
        stream=()
        [[ "$tpl" == */stream ]] && stream=(-- -N --max-time 1)
        case $auth in
        read)
                n_read=$((n_read + 1))
                x 401 "read_auth=token, no token" "$method" "$p" "${stream[@]}"
                x 401 "read_auth=token, unknown token" "$method" "$p" -H "Authorization: Bearer $WRONG_API" "${stream[@]}"
                x 200 "read_auth=token, API token" "$method" "$p" "${stream[@]}" "${AUTH[@]}"
                x 403 "read_auth=token, install token" "$method" "$p" "${stream[@]}" -H "Authorization: Bearer $TOKR"
                ;;
        open)
                n_open=$((n_open + 1))
                [ "$method" = GET ] && [[ "$tpl" == /v1/boot/* ]] && continue # a boot changes state; HEAD probes it
                x '200' "read_auth=token, open route without a token" "$method" "$p"
                ;;
        esac
done <"$T/spec-ops"
[ "$n_read" -ge 1 ] || fail "the spec has no read operation"
ok "read_auth=token: $n_read read operations: 401 without or with an unknown token, 403 with an install token, 200 with an API token; $n_open open operations stay open"
provd_stop

# Every exchange of both provds, and coverage.  409: a live install token implies `netbooting`
# or `installing`, where the transition table allows every phase, so "event not allowed in
# this state" cannot be provoked from outside.
validate_all --exempt "POST /v1/install/events 409"
