#!/usr/bin/env bash
# pixiecore boot API and iPXE endpoint: every status code, MAC forms, same attempt on repeated
# calls within one boot, local boot once installed.
source "$(dirname "$0")/lib.sh"

make_inventory "$T/inv.json" 3
provd_start "$T/inv.json"

# HEAD is a probe: same status, no body, and it never opens an attempt.
for path in /v1/boot/52:54:00:00:00:03 '/v1/ipxe?mac=52:54:00:00:00:03'; do
        code=$(curl -sS -I -o /dev/null -w '%{http_code}' "$URL$path")
        [ "$code" = 200 ] || fail "HEAD $path: $code"
done
[ "$(curl -sS -I -o /dev/null -w '%{http_code}' "$URL/v1/boot/52:54:00:00:00:99")" = 404 ] || fail "HEAD unknown MAC"
expect_status 200 GET /v1/nodes/node-03
jq_eq .state new
jq_eq '.history | length' 0
ok "HEAD answers the status without opening an install attempt"

# A node never seen installs on its first network boot.
expect_status 200 GET /v1/boot/52:54:00:00:00:01
jq_eq '.initrd | type' array
jq_eq '.kernel' "$URL/v1/files$T/boot/bzImage"
jq_eq '.initrd[0]' "$URL/v1/files$T/boot/initrd"
printf '%s' "$BODY" | jq -r .cmdline | grep -q "^init=/nix/store/x-installer/init loglevel=4 nixos.install=/nix/store/b-install-node-01 provd.url=$URL provd.token=[A-Za-z0-9_-]\{43\} provd.node=node-01$" \
        || fail "cmdline not as specified: $BODY"
first=$BODY
ok "first boot answers 200 with kernel, initrd array, cmdline"

# pixiecore asks 3-4 times per boot: same attempt, same token; and MACs in every form.
for m in 52:54:00:00:00:01 52-54-00-00-00-01 5254.0000.0001 525400000001 52:54:00:00:00:01; do
        expect_status 200 GET "/v1/boot/$m"
        [ "$BODY" = "$first" ] || fail "boot answer for $m differs from the first: $BODY"
done
expect_status 200 GET /v1/nodes/node-01
jq_eq '.state' netbooting
jq_eq '.attempt.number' 1
jq_eq '.history | length' 1
ok "repeated calls return the same install attempt; MAC forms normalised"

# Concurrent first boots of one node (two pixiecore replicas, or iPXE and pixiecore at once)
# still open exactly one attempt.
race=()
for i in $(seq 1 24); do
        curl -sS "$URL/v1/boot/52:54:00:00:00:02" -o "$T/race.$i" &
        race+=($!)
done
wait "${race[@]}"
for i in $(seq 1 24); do cmp -s "$T/race.1" "$T/race.$i" || fail "concurrent first boots got different answers"; done
expect_status 200 GET /v1/nodes/node-02
jq_eq '.history | length' 1
jq_eq '.attempt.number' 1
ok "24 concurrent first boots of one node: one attempt, identical answers"

# pixiecore reuses connections: answers must keep the connection open.
curl -sv -o /dev/null -o /dev/null "$URL/v1/boot/52:54:00:00:00:01" "$URL/v1/boot/52:54:00:00:00:01" 2>"$T/kv"
grep -q 'Re-using existing connection' "$T/kv" || fail "connection not reused: $(grep -i '^< connection' "$T/kv")"
grep -qi '^< connection: close' "$T/kv" && fail "provd closed a keep-alive connection"
ok "keep-alive connections are reused"

expect_status 404 GET /v1/boot/52:54:00:00:00:99
jq_eq '.error.code' not_found
jq_eq '.error.message' 'MAC 52:54:00:00:00:99 is not in the inventory'
for bad in zz:54:00:00:00:01 52:54:00:00:00 52:54:00-00:00:01 '52:54:00:00:00:01%20' nonsense; do
        expect_status 400 GET "/v1/boot/$bad"
        jq_eq '.error.code' bad_request
done
expect_status 405 POST /v1/boot/52:54:00:00:00:01
expect_status 404 GET /v1/nope
ok "unknown MAC 404, malformed MACs 400, wrong method 405"

# iPXE: chain script, per-MAC install script, unknown MAC script.
expect_status 200 GET /v1/ipxe
printf '%s' "$BODY" | head -n1 | grep -qx '#!ipxe' || fail "not an iPXE script: $BODY"
printf '%s' "$BODY" | grep -qF "imgfetch --name provd-node $URL/v1/ipxe?mac=\${netX/mac}&platform=\${platform}&buildarch=\${buildarch} " || fail "chain's fetch line missing: $BODY"
expect_status 200 GET '/v1/ipxe?mac=52:54:00:00:00:02'
printf '%s' "$BODY" | grep -q "^kernel --name kernel $URL/v1/files$T/boot/bzImage initrd=initrd0 init=/nix/store/x-installer/init .*provd.node=node-02 || goto failed$" \
        || fail "iPXE kernel line: $BODY"
printf '%s' "$BODY" | grep -qx "initrd --name initrd0 $URL/v1/files$T/boot/initrd || goto failed" || fail "iPXE initrd line: $BODY"
printf '%s' "$BODY" | grep -qx 'boot || goto failed' || fail "iPXE boot line: $BODY"
ipxe_token=$(printf '%s' "$BODY" | tr ' ' '\n' | sed -n 's/^provd\.token=//p')
[ "$(token_of 52:54:00:00:00:02)" = "$ipxe_token" ] || fail "iPXE and pixiecore answers disagree on the attempt"
expect_status 200 GET '/v1/ipxe?mac=52:54:00:00:00:99'
printf '%s' "$BODY" | grep -q 'MAC 52:54:00:00:00:99 is not in the inventory' || fail "unknown-MAC script: $BODY"
printf '%s' "$BODY" | grep -qx 'exit 0' || fail "unknown-MAC script does not exit (BIOS): $BODY"
printf '%s' "$BODY" | grep -qx 'exit 1' || fail "unknown-MAC script does not exit 1 (UEFI): $BODY"
expect_status 400 GET '/v1/ipxe?mac=a%0Akernel%20http://e/x'
printf '%s' "$BODY" | grep -q '^kernel' && fail "bad-MAC script runs a client's kernel line: $BODY"
expect_status 400 GET '/v1/ipxe?mac=$%7Bfoo%7D'
printf '%s' "$BODY" | grep -qF '${foo' && fail "bad-MAC script echoes the client's \${foo} that iPXE would expand: $BODY"
ok "iPXE chain, install, unknown and malformed MAC scripts"

# Once installed, the node boots from disk: 404 for pixiecore, exit for iPXE. No loop.
tok=$(token_of 52:54:00:00:00:01)
event "$tok" '{"phase":"started"}'
[ "$STATUS" = 200 ] || fail "started: $STATUS $BODY"
event "$tok" '{"phase":"succeeded","message":"done"}'
[ "$STATUS" = 200 ] || fail "succeeded: $STATUS $BODY"
for i in 1 2 3; do
        expect_status 404 GET /v1/boot/52:54:00:00:00:01
        jq_eq '.error.message' '52:54:00:00:00:01 boots from its local disk'
done
expect_status 200 GET '/v1/ipxe?mac=52:54:00:00:00:01'
printf '%s' "$BODY" | grep -q 'node-01 is installed; booting from local disk' || fail "local script: $BODY"
printf '%s' "$BODY" | grep -qx 'exit 1' || fail "local script does not exit 1 under UEFI: $BODY"
printf '%s' "$BODY" | grep -q '^kernel' && fail "local script boots a kernel: $BODY"
expect_status 200 GET /v1/nodes/node-01
jq_eq '.state' installed
jq_eq '[.history[].to] | join(",")' 'netbooting,installing,installed'
ok "installed node: pixiecore 404, iPXE exit, state installed"

# A failed install is not retried by itself.
tok=$(token_of 52:54:00:00:00:03)
event "$tok" '{"phase":"failed","message":"disk not found"}'
[ "$STATUS" = 200 ] || fail "failed: $STATUS $BODY"
expect_status 404 GET /v1/boot/52:54:00:00:00:03
expect_status 200 GET /v1/nodes/node-03
jq_eq '.state' failed
jq_eq '.attempt.outcome' failed
jq_eq '.history[-1].message' 'installer reported failure: disk not found'
ok "failed node boots from disk, no reinstall loop"

expect_status 200 GET /v1/nodes
jq_eq '[.nodes[].state] | join(",")' 'installed,netbooting,failed'
jq_eq '.nodes[1].attempt.number' 1
expect_status 404 GET /v1/nodes/node-99
ok "GET /v1/nodes lists every node with its state"

provd_stop
ok "clean shutdown"
