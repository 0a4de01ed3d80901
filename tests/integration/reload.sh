#!/usr/bin/env bash
# SIGHUP reload: a broken inventory keeps the old one (and says which node/field); a good one
# adds/removes nodes and every node keeps its state and open attempt.
source "$(dirname "$0")/lib.sh"

make_inventory "$T/inv.json" 2
provd_start "$T/inv.json"
tok=$(token_of 52:54:00:00:00:01)
event "$tok" '{"phase":"started"}'

reload_and_wait() {
        local before
        before=$(grep -c "$1" "$LOG" || true)
        kill -HUP "$PROVD_PID"
        for i in $(seq 1 100); do
                [ "$(grep -c "$1" "$LOG" || true)" -gt "$before" ] && return 0
                sleep 0.05
        done
        fail "no '$1' in the log after SIGHUP"
}

# Broken inventories: each is rejected with the node and field named; the old one stays.
cp "$T/inv.json" "$T/good.json"
check_broken() {
        local want=$1
        reload_and_wait 'inventory reload failed'
        grep -F "$want" "$LOG" >/dev/null || fail "reload error does not say '$want': $(tail -n 3 "$LOG")"
        expect_status 200 GET /v1/boot/52:54:00:00:00:02
        expect_status 200 GET /v1/nodes
        jq_eq '.nodes | length' "${KEEP_NODES:-2}"
}
echo '{"version": 1, "nodes": [' >"$T/inv.json"
check_broken 'not valid JSON: line'
jq '.nodes[1].mac = ["52:54:00:00:00:01"]' "$T/good.json" >"$T/inv.json"
check_broken 'node "node-02" (nodes[1]): field "mac[0]": 52:54:00:00:00:01 is also a MAC of node "node-01"'
jq '.nodes[0].boot.kernel = "boot/bzImage"' "$T/good.json" >"$T/inv.json"
check_broken 'node "node-01" (nodes[0]): field "boot.kernel": "boot/bzImage" must be an absolute path'
jq 'del(.nodes[1].system.install)' "$T/good.json" >"$T/inv.json"
check_broken 'node "node-02" (nodes[1]): field "system.install": missing'
jq '.nodes[1].name = "node-01"' "$T/good.json" >"$T/inv.json"
check_broken 'field "name": duplicate'
jq --arg k "$T/boot/gone" '.nodes[0].boot.kernel = $k' "$T/good.json" >"$T/inv.json"
check_broken "node \"node-01\": field \"boot.kernel\": file $T/boot/gone: No such file or directory"
ok "broken inventories rejected with node and field named; old inventory kept"

# The open attempt survived the failed reloads.
event "$tok" '{"phase":"partitioning"}'
[ "$STATUS" = 200 ] || fail "token lost across failed reloads: $STATUS $BODY"

# A good reload: node-02 removed, node-03 added, node-01 keeps its attempt and token.
make_inventory "$T/three.json" 3
jq 'del(.nodes[1])' "$T/three.json" >"$T/inv.json"
reload_and_wait 'inventory reloaded'
expect_status 200 GET /v1/nodes
jq_eq '[.nodes[].name] | join(",")' 'node-01,node-03'
jq_eq '.nodes[0].state' installing
expect_status 404 GET /v1/boot/52:54:00:00:00:02
expect_status 200 GET /v1/boot/52:54:00:00:00:03
event "$tok" '{"phase":"succeeded"}'
[ "$STATUS" = 200 ] || fail "token lost across a good reload: $STATUS $BODY"
ok "good reload: nodes added/removed, state and open attempt kept"

# node-02's state is kept in the store while it is out of the inventory.
cp "$T/three.json" "$T/inv.json"
reload_and_wait 'inventory reloaded'
expect_status 200 GET /v1/nodes/node-02
jq_eq .state netbooting
jq_eq '.history | length' 1
ok "a node removed and re-added keeps its history"

# Images and a stateless node: a broken one is rejected naming node and field; a good one
# loads, its image's files are served, and its network boot is answered with the image (the
# open boot's answer kept across a further reload).
mkdir -p "$T/img"
head -c 30000 /dev/urandom >"$T/img/bzImage"
head -c 20000 /dev/urandom >"$T/img/initrd"
jq --arg k "$T/img/bzImage" --arg i "$T/img/initrd" '.images = {compute: {kernel: $k, initrd: [$i],
        init: "/nix/store/c-nixos-system-compute/init", toplevel: "/nix/store/c-nixos-system-compute",
        cmdline: "console=ttyS0"}}
    | .nodes += [{name: "c001", mac: ["52:54:00:00:10:01"], mode: "stateless", image: "compute",
        overlay: {files: [{path: "/etc/ssh/ssh_host_ed25519_key", source: "/var/lib/provd/secrets/c001/key",
                           mode: "0600"}]}}]' "$T/three.json" >"$T/stateless.json"
KEEP_NODES=3
jq '.nodes[3].boot = .nodes[0].boot' "$T/stateless.json" >"$T/inv.json"
check_broken 'node "c001" (nodes[3]): field "boot": a stateless node boots its image; boot is not allowed'
jq '.nodes[3].image = "gpu"' "$T/stateless.json" >"$T/inv.json"
check_broken 'node "c001" (nodes[3]): field "image": "gpu" is not one of the inventory'"'"'s "images"'
jq '.images.compute.cmdline = "init=/bin/sh"' "$T/stateless.json" >"$T/inv.json"
check_broken 'image "compute": field "cmdline": sets "init="'
jq --arg k "$T/img/gone" '.images.compute.kernel = $k' "$T/stateless.json" >"$T/inv.json"
check_broken "image \"compute\": field \"kernel\": file $T/img/gone: No such file or directory"
cp "$T/stateless.json" "$T/inv.json"
reload_and_wait 'inventory reloaded'
expect_status 200 GET /v1/nodes/c001
jq_eq .state new
jq_eq .system.toplevel /nix/store/c-nixos-system-compute
jq_eq .system.install null
expect_status 200 GET "/v1/files$T/img/bzImage"
cmp -s "$T/body" "$T/img/bzImage" || fail "image kernel served differs"
expect_status 200 GET "/v1/files$T/img/initrd"
prev=
for round in 1 2; do
        expect_status 200 GET /v1/boot/52:54:00:00:10:01
        jq_eq .kernel "$URL/v1/files$T/img/bzImage"
        jq_eq '.initrd | length' 2
        cmdline=$(jq -r .cmdline "$T/body")
        # the same boot (pixiecore asking again) keeps its answer across a reload
        [ -z "$prev" ] || [ "$cmdline" = "$prev" ] || fail "the open boot's answer changed across a reload: $cmdline"
        prev=$cmdline
        expect_status 200 GET '/v1/ipxe?mac=52:54:00:00:10:01'
        grep -q 'booting c001 from image compute' "$T/body" || fail "iPXE answer of a stateless node: $(cat "$T/body")"
        code=$(curl -sS -I -o /dev/null -w '%{http_code}' "$URL/v1/boot/52:54:00:00:10:01")
        [ "$code" = 200 ] || fail "HEAD /v1/boot of a stateless node: $code"
        expect_status 200 GET /v1/nodes/c001
        jq_eq .state booting
        jq_eq .boot.number 1
        expect_status 200 GET /v1/boot/52:54:00:00:00:03 # install nodes unchanged
        touch "$T/inv.json"
        reload_and_wait 'inventory reloaded'
done
ok "images and a stateless node: broken ones rejected by name, image files served, its boot answered and kept across reloads"

provd_stop
