#!/bin/bash
# stateless — stateless nodes against a real provd: every network boot answered with the
# shared image plus the node's overlay (pixiecore API and native iPXE), a boot and a new boot
# token per netboot; the overlay fetched, read back with cpio and bsdtar (hostname, node
# files, the per-node file with its mode, the manifest), its ETag/304/HEAD, and 404 once the
# boot is over; the node credential it holds reports for the node; the callback (boot token,
# phase running / failed) and the node reporter moving booting -> running; reinstall of a
# stateless node and reboot of an install node refused by name; reboot through an ipmi_sim
# BMC (boot device pxe, then power cycle, on the simulator); the boot deadline with a short
# boot_deadline; boots, history, node list filter and metrics.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib-ipmi.sh"
for tool in ipmi_sim ipmitool jq cpio bsdtar; do
        command -v "$tool" >/dev/null || skip "$tool missing"
done

sim_base
sim_start 1
sim_wait 1

umask 077
printf '%s\n' "$SIM_PASSWORD" >"$T/bmc-pass"
ADMIN=$(api_token "$T/tokens")
AUTH=(-H "Authorization: Bearer $ADMIN")
C1=52:54:00:00:10:01
C2=52:54:00:00:10:02

# node-01 installs; c001 (BMC on simulator 1, one per-node file) and c002 (no BMC, a per-node
# file whose source is missing) are stateless nodes of image "compute".
make_inventory "$T/inv.json" 1
mkdir -p "$T/img" "$T/secrets/c001"
head -c 40000 /dev/urandom >"$T/img/bzImage"
head -c 30000 /dev/urandom >"$T/img/initrd"
printf 'secret of c001\n' >"$T/secrets/c001/ssh_host_ed25519_key"
jq --arg k "$T/img/bzImage" --arg i "$T/img/initrd" --arg key "$T/secrets/c001/ssh_host_ed25519_key" \
        --arg gone "$T/secrets/c002/missing" --arg host "$(sim_addr 1)" --arg user "$SIM_USER" --arg pw "$T/bmc-pass" '
        .images = {compute: {kernel: $k, initrd: [$i], init: "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-nixos-system-compute/init",
                             toplevel: "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-nixos-system-compute", cmdline: "console=ttyS0 loglevel=4"}}
        | .nodes += [
            {name: "c001", mac: ["52:54:00:00:10:01"], mode: "stateless", image: "compute",
             overlay: {files: [{path: "/etc/ssh/ssh_host_ed25519_key", source: $key, mode: "0600"}]},
             bmc: {host: $host, user: $user, password_file: $pw, workarounds: ["opensesspriv"],
                   cipher_suite: 3, console: "none"}},
            {name: "c002", mac: ["52:54:00:00:10:02"], mode: "stateless", image: "compute",
             overlay: {files: [{path: "/etc/secret", source: $gone, mode: "0640", uid: 0, gid: 5}]}}]' \
        "$T/inv.json" >"$T/inv2.json" && mv "$T/inv2.json" "$T/inv.json"

provd_start "$T/inv.json" --api-tokens "$T/tokens" --bmc-timeout 2 --bmc-retries 0

# cmdline_key KEY: the value of KEY= in $BODY's pixiecore cmdline.
cmdline_key() { printf '%s' "$BODY" | jq -r .cmdline | tr ' ' '\n' | sed -n "s/^$1=//p"; }

# ---- the pixiecore answer: the image, the overlay last, a boot opened ----------------------
expect_status 200 GET "/v1/boot/$C1"
jq_eq .kernel "$URL/v1/files$T/img/bzImage"
jq_eq '.initrd | length' 2
jq_eq '.initrd[0]' "$URL/v1/files$T/img/initrd"
TOKEN1=$(cmdline_key provd.token)
[ -n "$TOKEN1" ] || fail "no provd.token in the answer: $BODY"
jq_eq '.initrd[1]' "$URL/v1/overlay/$TOKEN1"
jq_eq .cmdline "console=ttyS0 loglevel=4 init=/nix/store/0123456789abcdfghijklmnpqrsvwxyz-nixos-system-compute/init provd.url=$URL provd.token=$TOKEN1 provd.node=c001"
ANSWER1=$BODY
expect_status 200 GET "/v1/boot/$C1" # pixiecore asks again: the same boot, the same answer
[ "$BODY" = "$ANSWER1" ] || fail "pixiecore's repeat got another answer: $BODY"
expect_status 200 GET /v1/nodes/c001
jq_eq .mode stateless
jq_eq .image compute
jq_eq .state booting
jq_eq .boot.number 1
jq_eq .boot.image compute
jq_eq .boot.mac "$C1"
jq_eq .boot.outcome null
jq_eq .attempt null
jq_eq .system.toplevel /nix/store/0123456789abcdfghijklmnpqrsvwxyz-nixos-system-compute
jq_eq '[.history[] | select(.cause == "netboot")] | length' 1
jq_eq '.history[-1].message' "network boot: boot opened, image compute"
ok "pixiecore answer: the image's kernel and initrd, the overlay last, init= and provd's keys; one boot"

# ---- the overlay ---------------------------------------------------------------------------
curl -sS -D "$T/h1" -o "$T/overlay1.cpio" "$URL/v1/overlay/$TOKEN1"
grep -q '^HTTP/1.1 200' "$T/h1" || fail "overlay: $(head -1 "$T/h1")"
grep -qi '^content-type: application/octet-stream' "$T/h1" || fail "overlay content type: $(cat "$T/h1")"
grep -qi '^cache-control: no-store' "$T/h1" || fail "overlay cache-control: $(cat "$T/h1")"
ETAG=$(sed -n 's/^[Ee][Tt][Aa][Gg]: *//p' "$T/h1" | tr -d '\r')
[[ $ETAG =~ ^\"[0-9a-f]{32}\"$ ]] || fail "overlay ETag: '$ETAG'"
len=$(sed -n 's/^[Cc]ontent-[Ll]ength: *//p' "$T/h1" | tr -d '\r')
[ "$len" = "$(stat -c %s "$T/overlay1.cpio")" ] || fail "Content-Length $len, body $(stat -c %s "$T/overlay1.cpio") bytes"
gzip -dc <"$T/overlay1.cpio" | cpio -it 2>/dev/null | sort >"$T/list"
for f in etc/hostname var/lib/provd-node/node var/lib/provd-node/url var/lib/provd-node/credential \
        etc/ssh/ssh_host_ed25519_key etc/provd/overlay.manifest; do
        grep -qx "$f" "$T/list" || fail "overlay lacks $f: $(tr '\n' ' ' <"$T/list")"
done
mkdir "$T/ov"
(cd "$T/ov" && gzip -dc <"$T/overlay1.cpio" | cpio -idm --quiet --no-absolute-filenames) || fail "cpio cannot unpack the overlay"
[ "$(cat "$T/ov/etc/hostname")" = c001 ] || fail "hostname: $(cat "$T/ov/etc/hostname")"
[ "$(cat "$T/ov/var/lib/provd-node/node")" = c001 ] || fail "node file: $(cat "$T/ov/var/lib/provd-node/node")"
[ "$(cat "$T/ov/var/lib/provd-node/url")" = "$URL" ] || fail "url file: $(cat "$T/ov/var/lib/provd-node/url")"
cmp -s "$T/ov/etc/ssh/ssh_host_ed25519_key" "$T/secrets/c001/ssh_host_ed25519_key" || fail "per-node file differs"
grep -qx /etc/ssh/ssh_host_ed25519_key "$T/ov/etc/provd/overlay.manifest" || fail "manifest: $(cat "$T/ov/etc/provd/overlay.manifest")"
bsdtar -tvf "$T/overlay1.cpio" >"$T/listv"
grep -E '^-rw------- .* etc/ssh/ssh_host_ed25519_key$' "$T/listv" >/dev/null || fail "key mode: $(cat "$T/listv")"
grep -E '^-rw------- .* var/lib/provd-node/credential$' "$T/listv" >/dev/null || fail "credential mode: $(cat "$T/listv")"
CRED=$(cat "$T/ov/var/lib/provd-node/credential")
[[ $CRED == pvn_* ]] || fail "credential: $CRED"
ok "overlay: gzip-compressed cpio newc with hostname, node, url, credential (0600), the per-node file (0600) and the manifest"

code=$(curl -sS -o /dev/null -w '%{http_code}' -H "If-None-Match: $ETAG" "$URL/v1/overlay/$TOKEN1")
[ "$code" = 304 ] || fail "If-None-Match: $code"
curl -sS -I -o /dev/null -D "$T/hh" "$URL/v1/overlay/$TOKEN1"
grep -q '^HTTP/1.1 200' "$T/hh" && grep -qi "^etag: $ETAG" "$T/hh" || fail "HEAD: $(cat "$T/hh")"
curl -sS -o "$T/overlay1b.cpio" "$URL/v1/overlay/$TOKEN1"
cmp -s "$T/overlay1.cpio" "$T/overlay1b.cpio" || fail "a second fetch of the same boot's overlay differs (credential re-issued?)"
expect_status 200 GET /v1/nodes/c001
jq_eq .boot.overlay_etag "$ETAG"
jq_eq .credential true
expect_status 404 GET /v1/overlay/not-a-token
jq_eq .error.message "boot token not valid or boot over"
ok "overlay: ETag, If-None-Match 304, HEAD, the same bytes again (cached), recorded on the boot"

# ---- the callback: running -----------------------------------------------------------------
event "$TOKEN1" '{"phase": "installing"}'
[ "$STATUS" = 400 ] || fail "boot token with an installer phase: $STATUS $BODY"
event "$TOKEN1" '{"phase": "running"}'
[ "$STATUS" = 200 ] || fail "callback running: $STATUS $BODY"
jq_eq .state running
jq_eq .boot 1
expect_status 200 GET /v1/nodes/c001
jq_eq .state running
jq_eq .boot.outcome running
jq_eq '.history[-1].cause' boot
event "$TOKEN1" '{"phase": "running"}'
[ "$STATUS" = 403 ] || fail "callback with a dead boot token: $STATUS $BODY"
expect_status 404 GET "/v1/overlay/$TOKEN1"
jq_eq .error.message "boot token not valid or boot over"
ok "callback running: booting -> running; the boot token and its overlay are dead after"

# ---- the overlay's credential reports for the node -----------------------------------------
report() { # CODE NAME CRED
        expect_status "$1" POST "/v1/nodes/$2/report" -H "Authorization: Bearer $3" -H 'Content-Type: application/json' \
                --data '{"running": "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-nixos-system-compute", "booted": "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-nixos-system-compute", "kernel": "6.6.1", "uptime": 3}'
}
report 200 c001 "$CRED"
jq_eq .drift in_sync
report 403 node-01 "$CRED"
ok "the overlay's node credential reports for c001 (in_sync with the image's toplevel), not for another node"

# ---- a second netboot (native iPXE): a new boot, a new token --------------------------------
expect_status 200 GET "/v1/ipxe?mac=$C1&platform=efi&buildarch=x86_64"
grep -q 'booting c001 from image compute (boot 2)' "$T/body" || fail "iPXE answer: $(cat "$T/body")"
TOKEN2=$(sed -n 's/.* provd\.token=\([^ ]*\) .*/\1/p' "$T/body" | head -1)
[ -n "$TOKEN2" ] && [ "$TOKEN2" != "$TOKEN1" ] || fail "second boot's token: '$TOKEN2'"
grep -q "^initrd --name initrd1 $URL/v1/overlay/$TOKEN2 || goto failed$" "$T/body" || fail "iPXE overlay initrd: $(cat "$T/body")"
grep -q "^kernel --name kernel $URL/v1/files$T/img/bzImage initrd=initrd0 initrd=initrd1 console=ttyS0 loglevel=4 init=/nix/store/0123456789abcdfghijklmnpqrsvwxyz-nixos-system-compute/init provd.url=$URL provd.token=$TOKEN2 provd.node=c001 || goto failed$" "$T/body" ||
        fail "iPXE kernel line: $(cat "$T/body")"
expect_status 404 GET "/v1/overlay/$TOKEN1"
expect_status 200 GET "/v1/overlay/$TOKEN2"
expect_status 200 GET /v1/nodes/c001
jq_eq .state booting
jq_eq .boot.number 2
jq_eq .boot.firmware efi-x64
jq_eq '.history[-1].message' "network boot: boot opened (firmware efi-x64), image compute"
# the node reporter moves the new boot to running
report 200 c001 "$CRED"
expect_status 200 GET /v1/nodes/c001
jq_eq .state running
jq_eq '.history[-1].cause' boot
jq_eq '.history[-1].message | startswith("node running (boot 2): node reporter says running")' true
ok "second netboot (iPXE): boot 2 with a new token, the old token's overlay 404; the node reporter -> running"

# ---- callback failed -------------------------------------------------------------------------
expect_status 200 GET "/v1/boot/$C1"
TOKEN3=$(cmdline_key provd.token)
event "$TOKEN3" '{"phase": "failed", "message": "stage 2 did not start"}'
[ "$STATUS" = 200 ] || fail "callback failed: $STATUS $BODY"
expect_status 200 GET /v1/nodes/c001
jq_eq .state failed
jq_eq .boot.outcome failed
jq_eq '.history[-1].message' "node reported boot failure (boot 3): stage 2 did not start"
expect_status 200 GET "/v1/boot/$C1" # a failed stateless node boots its image again: never the disk
jq_eq '.initrd | length' 2
expect_status 200 GET /v1/nodes/c001
jq_eq .state booting
jq_eq .boot.number 4
ok "callback failed: -> failed; its next netboot boots the image again (boot 4)"

# ---- boots ------------------------------------------------------------------------------------
expect_status 200 GET '/v1/nodes/c001/boots?limit=3'
jq_eq '[.boots[] | .number] | join(",")' 4,3,2
jq_eq '[.boots[] | .outcome // "open"] | join(",")' open,failed,running
NEXT=$(printf '%s' "$BODY" | jq -r .next_before)
expect_status 200 "GET" "/v1/nodes/c001/boots?before=$NEXT"
jq_eq '[.boots[] | .number] | join(",")' 1
jq_eq .next_before null
jq_eq '.boots[0].overlay_etag' "$ETAG"
expect_status 404 GET /v1/nodes/nope/boots
ok "GET /v1/nodes/c001/boots: newest first, paged, outcomes and the overlay ETag"

# ---- a per-node file that cannot be read ----------------------------------------------------
expect_status 200 GET "/v1/boot/$C2"
T2=$(cmdline_key provd.token)
http GET "/v1/overlay/$T2"
[ "$STATUS" != 200 ] || fail "overlay with a missing source: 200"
jq_eq '.error.message | contains("c002") and contains("/etc/secret") and contains("missing")' true
ok "overlay with a missing source file: an error naming node, path and source ($STATUS)"

# ---- reinstall / reboot refused by mode ------------------------------------------------------
expect_status 409 POST /v1/nodes/c001/reinstall "${AUTH[@]}"
jq_eq .error.message "node c001 is stateless: it boots its image on every boot and has nothing to reinstall; use provd reboot"
expect_status 409 POST /v1/nodes/node-01/reboot "${AUTH[@]}"
jq_eq .error.message "node node-01 installs to disk: use provd reinstall"
expect_status 409 POST /v1/nodes/c002/reboot "${AUTH[@]}"
jq_eq .error.message "node c002 has no bmc in the inventory"
expect_status 401 POST /v1/nodes/c001/reboot
ok "reinstall of a stateless node and reboot of an install node (or one without BMC) are refused by name"

# ---- reboot through the simulated BMC ---------------------------------------------------------
events_before=$(sim_events 1 | wc -l)
expect_status 202 POST /v1/nodes/c001/reboot "${AUTH[@]}"
jq_eq .operation.kind reboot
OP=$(printf '%s' "$BODY" | jq -r .operation.id)
for _ in $(seq 100); do
        http GET "/v1/operations/$OP"
        case $(printf '%s' "$BODY" | jq -r .state) in succeeded | failed) break ;; esac
        sleep 0.1
done
jq_eq .state succeeded
jq_eq '[.steps[] | .name + ":" + .state] | join(" ")' "mark:succeeded bootdev:succeeded power_status:succeeded power:succeeded"
for _ in $(seq 50); do sim_events 1 | tail -n +$((events_before + 1)) | grep -q 'power 1' && break; sleep 0.1; done
sim_events 1 | tail -n +$((events_before + 1)) >"$T/ev1"
grep -q 'boot pxe' "$T/ev1" || fail "reboot: no boot pxe on the simulator: $(cat "$T/ev1")"
grep -q 'power 0' "$T/ev1" && grep -q 'power 1' "$T/ev1" || grep -q 'power 1' "$T/ev1" ||
        fail "reboot: no power command on the simulator: $(cat "$T/ev1")"
[ "$(grep -n 'boot pxe' "$T/ev1" | head -1 | cut -d: -f1)" -lt "$(grep -n 'power' "$T/ev1" | head -1 | cut -d: -f1)" ] ||
        fail "reboot: power before the boot device: $(cat "$T/ev1")"
expect_status 200 GET /v1/nodes/c001
jq_eq '[.history[] | select(.cause == "reboot") | .message] | join(";")' "reboot requested"
jq_eq '[.history[] | select(.cause == "bmc") | .message] | .[0]' "reboot: boot device set to pxe (one-time, legacy)"
expect_status 200 GET "/v1/boot/$C1" # the netboot that follows
expect_status 200 GET /v1/nodes/c001
jq_eq .boot.number 5
# bulk: the stateless node reboots, the install node is refused alone
expect_status 202 POST /v1/bulk-operations "${AUTH[@]}" -H 'Content-Type: application/json' \
        --data '{"kind": "reboot", "nodes": ["c001", "node-01"]}'
BULK=$(printf '%s' "$BODY" | jq -r .bulk_operation.id)
for _ in $(seq 100); do
        http GET "/v1/bulk-operations/$BULK"
        [ "$(printf '%s' "$BODY" | jq -r .state)" != running ] && break
        sleep 0.1
done
jq_eq .state failed
jq_eq '[.nodes[] | .node + ":" + .state] | join(" ")' "c001:succeeded node-01:failed"
jq_eq '.nodes[1].error.message' "node node-01 installs to disk: use provd reinstall"
ok "reboot: on record, boot device pxe then power on the ipmi_sim BMC; bulk kind reboot"

# the CLI: provd reboot NODE..., with --help; an install node fails alone, naming it
printf '%s\n' "$ADMIN" >"$T/token"
: >"$T/empty.ini"
cli() { "$PROVD" --config "$T/empty.ini" --url "$URL" --token-file "$T/token" "$@"; }
"$PROVD" reboot --help >"$T/out" || fail "provd reboot --help failed"
grep -q '^Usage: provd reboot (NODE|GLOB)... | --all' "$T/out" || fail "provd reboot --help: $(head -3 "$T/out")"
"$PROVD" --help | grep -q '^ *reboot ' || fail "provd --help does not list reboot"
cli reboot c001 >"$T/out" 2>"$T/err" || fail "provd reboot c001: $(cat "$T/out" "$T/err")"
grep -q '^c001 .*the node network-boots its image' "$T/out" || fail "provd reboot c001 printed: $(cat "$T/out")"
rc=0
cli reboot c001 node-01 >"$T/out" 2>"$T/err" || rc=$?
[ "$rc" = 1 ] || fail "provd reboot c001 node-01: exit $rc: $(cat "$T/out" "$T/err")"
grep -q '^node-01 .*error: node node-01 installs to disk: use provd reinstall' "$T/out" || fail "provd reboot c001 node-01 printed: $(cat "$T/out")"
rc=0
cli reinstall c001 >"$T/out" 2>"$T/err" || rc=$?
[ "$rc" = 1 ] && grep -q 'node c001 is stateless' "$T/out" "$T/err" || fail "provd reinstall c001: exit $rc: $(cat "$T/out" "$T/err")"
rc=0
cli reboot nope >"$T/out" 2>"$T/err" || rc=$?
[ "$rc" = 3 ] || fail "provd reboot of an unknown node: exit $rc"
ok "provd reboot NODE...: one node, several (an install node refused by name), --help; provd reinstall of a stateless node refused"

# ---- node list, summary, metrics ------------------------------------------------------------
expect_status 200 GET '/v1/nodes?mode=stateless'
jq_eq '[.nodes[] | .name + ":" + .mode] | join(" ")' "c001:stateless c002:stateless"
expect_status 200 GET '/v1/nodes?mode=install'
jq_eq '[.nodes[] | .name] | join(" ")' node-01
expect_status 400 GET '/v1/nodes?mode=diskless'
expect_status 200 GET '/v1/nodes?state=booting'
jq_eq '[.nodes[] | .name] | join(" ")' "c001 c002"
expect_status 200 GET /v1/summary
jq_eq .states.booting 2
expect_status 200 GET /metrics
grep -qx 'provd_boots_total{image="compute"} 6' "$T/body" || fail "provd_boots_total: $(grep boots "$T/body")"
grep -qx 'provd_boots_ended_total{outcome="running"} 2' "$T/body" || fail "provd_boots_ended_total: $(grep boots "$T/body")"
grep -qx 'provd_nodes{state="booting"} 2' "$T/body" || fail "provd_nodes booting: $(grep provd_nodes "$T/body")"
grep -q '^provd_http_requests_total{route="overlay",code="200"} ' "$T/body" || fail "no overlay route metric"
ok "node list mode= filter, summary and metrics (boots by image, ended by outcome, booting gauge)"
provd_stop

# ---- after a restart: provd kept only the token's hash (or, with a shared key, it sealed) ----
provd_start "$T/inv.json" --api-tokens "$T/tokens"
expect_status 200 GET /v1/nodes/c001
jq_eq .state booting
if tokens_sealed; then
        expect_status 200 GET "/v1/boot/$C1" # boot 5's token was sealed: pixiecore asking again
        expect_status 200 GET /v1/nodes/c001
        jq_eq .boot.number 5
        provd_stop
        ok "after a restart, with the shared key: a netboot during a boot keeps it (its token was sealed)"
else
        expect_status 200 GET "/v1/boot/$C1" # boot 5's token is not known: a new boot
        expect_status 200 GET /v1/nodes/c001
        jq_eq .boot.number 6
        jq_eq '.history[-1].message' "network boot during boot: boot abandoned, new boot opened, image compute"
        expect_status 200 GET /v1/nodes/c001/boots
        jq_eq '.boots[1].outcome' abandoned
        provd_stop
        ok "after a restart, a netboot during a boot abandons it and opens a new one"
fi

# ---- the boot deadline ----------------------------------------------------------------------
provd_start "$T/inv.json" --api-tokens "$T/tokens" --boot-deadline 2
for _ in $(seq 60); do
        http GET /v1/nodes/c002
        [ "$(printf '%s' "$BODY" | jq -r .state)" = failed ] && break
        sleep 0.1
done
jq_eq .state failed
jq_eq .boot.outcome timeout
jq_eq '.history[-1].cause' timeout
jq_eq '.history[-1].message | startswith("boot deadline passed before the node reported running (boot 1, 2 s after it opened)")' true
for _ in $(seq 60); do # c001's open boot too, 2 s after it opened before the restart
        http GET /v1/nodes/c001
        [ "$(printf '%s' "$BODY" | jq -r .state)" = failed ] && break
        sleep 0.1
done
jq_eq .state failed
jq_eq .boot.outcome timeout
expect_status 200 GET "/v1/boot/$C2" # a timed-out node boots its image again
expect_status 200 GET /v1/nodes/c002
jq_eq .state booting
jq_eq .boot.number 2
provd_stop
ok "boot deadline: booting -> failed (timeout) with a 2 s boot_deadline; the next netboot boots the image again"
