#!/usr/bin/env bash
# The Nix side, as far as it can be checked without nixpkgs (nix-instantiate alone): every .nix file
# parses; nix/inventory.nix, evaluated on the plain-attribute-set cluster in tests/nix/,
# gives an inventory that validates against api/inventory.schema.json and that provd serves
# (nodes listed, boot answers carry the installer's init= and the node's toplevel); bad node
# lists fail evaluation with a message naming the node; the installer is looked into once
# for all nodes, and 5000 nodes evaluate in a few seconds.  Stateless nodes (section 6):
# images (from nix/image.nix's system.build.provdImage, from a netboot system, or given as
# a set), stateless nodes and their overlay files translated; each image looked into once for
# 1000 nodes; a secret source in the Nix store (a store string, a path literal, a string with
# store context) and every other bad stateless entry fail evaluation naming the node.  The
# images are stand-ins (tests/nix/images.nix): no NixOS system is evaluated here.
source "$(dirname "$0")/lib.sh"

skip() {
        [ -n "${PROVD_TESTS_NO_SKIP:-}" ] && fail "$1 missing"
        echo "SKIP: $1"
        exit 77
}
command -v nix-instantiate >/dev/null || skip nix-instantiate
python3 -c 'import jsonschema' 2>/dev/null || skip python3-jsonschema

# Offline: no substituter (else every build first retries the public cache), no build users.
NIXI=(nix-instantiate --option substituters '' --option build-users-group '')

# 1. Every .nix file of the tree parses.
n=0
while IFS= read -r -d '' f; do
        "${NIXI[@]}" --parse "$f" >/dev/null 2>"$T/parse.err" || fail "nix-instantiate --parse $f: $(cat "$T/parse.err")"
        n=$((n + 1))
done < <(find "$SRC" \( -name .git -o -name 'build*' -o -name node_modules \) -prune -o -name '*.nix' -type f -print0)
for f in package module inventory installer install-script; do
        [ -f "$SRC/nix/$f.nix" ] || fail "nix/$f.nix missing"
done
ok "$n .nix files parse"

# 2. The generator on the sample cluster.  Boot files must exist for provd: the sample
# installer's kernel and ramdisk live in a directory this test makes.
boot=$T/installer
mkdir -p "$boot/kernel" "$boot/ramdisk"
head -c 100000 /dev/urandom >"$boot/kernel/bzImage"
head -c 50000 /dev/urandom >"$boot/ramdisk/initrd"
# eval VARIANT OUT: evaluate tests/nix/sample.nix; stdout to OUT, stderr to OUT.err
eval_sample() {
        "${NIXI[@]}" --eval --strict --json "$SRC/tests/nix/sample.nix" \
                --argstr bootRoot "$boot" --argstr variant "$1" >"$2" 2>"$2.err"
}
eval_sample good "$T/inv.json" || fail "evaluating the sample inventory: $(cat "$T/inv.json.err")"

python3 - "$SRC/api/inventory.schema.json" "$T/inv.json" <<'PY' || fail "generated inventory does not validate against the schema"
import json, sys, jsonschema
schema = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)
jsonschema.Draft202012Validator(schema).validate(json.load(open(sys.argv[2])))
PY
ok "generated inventory validates against api/inventory.schema.json"

inv() { jq -r "$1" "$T/inv.json"; }
[ "$(inv '[.nodes[].name] | join(",")')" = node-01,node-02,node-03,gpu-01 ] || fail "node names/order: $(inv '[.nodes[].name]')"
[ "$(inv '.nodes[1].mac | join(",")')" = 52:54:00:00:00:02,52:54:00:00:01:02 ] || fail "MAC spellings not normalised: $(inv '.nodes[1].mac')"
[ "$(inv '.nodes[2].mac[0]')" = 52:54:00:00:00:0a ] || fail "macAddress not normalised"
[ "$(inv '.nodes[1].bmc | "\(.host) \(.port) \(.user) \(.password_file)"')" = "10.1.0.2 6230 admin /run/credentials/provd.service/bmc-node-02" ] ||
        fail "ipmi attribute set: $(inv '.nodes[1].bmc')"
[ "$(inv '.nodes[0].bmc | "\(.host) \(.port) \(.user)"')" = "127.0.0.11 null root" ] || fail "bmc string / default user: $(inv '.nodes[0].bmc')"
[ "$(inv '.nodes[1].bmc | "\(.workarounds) \(.cipher_suite) \(.boot_mode) \(.console)"')" = '["opensesspriv","solpayloadsize"] 17 efi ipmitool' ] ||
        fail "bmc workarounds / cipher suite / boot mode / console not passed through: $(inv '.nodes[1].bmc')"
[ "$(inv '.nodes[0].bmc.console')" = null ] || fail "bmc console set without being asked: $(inv '.nodes[0].bmc')"
[ "$(inv '.nodes[3].bmc')" = null ] || fail "gpu-01 has no BMC in the node list"
[ "$(inv '.nodes[3].boot.cmdline')" = "init=/nix/store/11111111111111111111111111111111-nixos-system-installer/init console=ttyS0,115200 loglevel=4 nomodeset" ] ||
        fail "per-node cmdline: $(inv '.nodes[3].boot.cmdline')"
# node-03's toplevel is a real (unbuilt) derivation: its store path, not an attribute set
[[ "$(inv '.nodes[2].system.toplevel')" =~ ^/nix/store/[0-9a-z]{32}-nixos-system-node-03$ ]] || fail "derivation toplevel: $(inv '.nodes[2].system.toplevel')"
# "rack" only when the schema in this tree accepts it
if jq -e '."$defs".node.properties | has("rack")' "$SRC/api/inventory.schema.json" >/dev/null; then
        [ "$(inv '.nodes[2].rack')" = r07 ] || fail "schema has rack, generator dropped it"
else
        [ "$(inv '.nodes[2] | has("rack")')" = false ] || fail "rack emitted, but the schema does not accept it"
fi
ok "node list spellings (hostname/hostName/name, mac/macs/macAddress, bmc/ipmi/ipmiAddress) translated"

# The installer is one argument, an evaluated system, read once for every node: its config
# (traced in tests/nix/installer.nix) is entered exactly once for 4 nodes, and for 5000.
[ "$(grep -c 'provd-test: installer config evaluated' "$T/inv.json.err")" = 1 ] ||
        fail "installer config entered $(grep -c 'installer config evaluated' "$T/inv.json.err") times for 4 nodes"
start=$(date +%s%N)
eval_sample scale "$T/scale.json" || fail "5000-node evaluation: $(cat "$T/scale.json.err")"
ms=$((($(date +%s%N) - start) / 1000000))
[ "$(jq '.nodes | length' "$T/scale.json")" = 5000 ] || fail "scale: wrong node count"
[ "$(grep -c 'provd-test: installer config evaluated' "$T/scale.json.err")" = 1 ] || fail "installer entered more than once for 5000 nodes"
[ "$ms" -lt 20000 ] || fail "5000 nodes took $ms ms to evaluate"
ok "installer entered once for 4 and for 5000 nodes; 5000 nodes evaluated in $ms ms"

# 3. provd serves it.
provd_start "$T/inv.json"
expect_status 200 GET /v1/nodes
jq_eq '[.nodes[].name] | join(",")' gpu-01,node-01,node-02,node-03 # name order
jq_eq '[.nodes[].state] | unique | join(",")' new
toplevel=$(inv '.nodes[2].system.toplevel')
expect_status 200 GET /v1/boot/52:54:00:00:00:0a
jq_eq '.kernel | endswith("/v1/files'"$boot"'/kernel/bzImage")' true
jq_eq '.initrd | length' 1
cmdline=$(printf '%s' "$BODY" | jq -r .cmdline)
case " $cmdline " in
*" init=/nix/store/11111111111111111111111111111111-nixos-system-installer/init "*) ;;
*) fail "boot cmdline lacks the installer's init=: $cmdline" ;;
esac
case " $cmdline " in *" nixos.install=$(inv '.nodes[2].system.install') "*) ;; *) fail "boot cmdline lacks the install script: $cmdline" ;; esac
case " $cmdline " in *" provd.node=node-03 "*) ;; *) fail "boot cmdline lacks provd.node=: $cmdline" ;; esac
kernel_url=$(printf '%s' "$BODY" | jq -r .kernel)
cmp <(curl -sS "$kernel_url") "$boot/kernel/bzImage" || fail "kernel served by provd differs"
expect_status 200 GET /v1/nodes/node-03
jq_eq .system.toplevel "$toplevel"
# the second MAC spelling of node-02 boots node-02
expect_status 200 GET /v1/boot/52:54:00:00:01:02
case $(printf '%s' "$BODY" | jq -r .cmdline) in *provd.node=node-02*) ;; *) fail "52:54:00:00:01:02 is not node-02" ;; esac
expect_status 404 GET /v1/boot/52:54:00:00:00:99
provd_stop
ok "provd serves the generated inventory: nodes, boot answers with the installer's init= and install script, kernel"

# 4. nix/module.nix's own logic, with a stand-in for nixpkgs' lib (tests/nix/module-stub.nix:
# a smoke check, not the NixOS module system).
"${NIXI[@]}" --eval --strict --json "$SRC/tests/nix/module-stub.nix" --argstr bootRoot "$boot" -A full >"$T/full.json" 2>"$T/full.err" ||
        fail "module stub (full): $(cat "$T/full.err")"
"${NIXI[@]}" --eval --strict --json "$SRC/tests/nix/module-stub.nix" --argstr bootRoot "$boot" -A basic >"$T/basic.json" 2>"$T/basic.err" ||
        fail "module stub (basic): $(cat "$T/basic.err")"
m() { jq -r "$1" "$T/$2.json"; }
[ "$(m '.ini' full)" = "$(printf '%s\n' '[serve]' api_tokens=/run/credentials/provd.service/api-tokens bmc_retries=1 bmc_timeout=5 discovery_interface=eth0 \
        install_deadline=3600 inventory=/etc/provd/inventory.json ipxe_efi=/nix/store/ipxe/snponly.efi 'listen=[::]:8080' log_level=info state_dir=/var/lib/provd threads=4)" ] ||
        fail "rendered provd.ini: $(m .ini full)"
[ "$(m '.systemd.services.provd.serviceConfig.LoadCredential | join(" ")' full)" = "api-tokens:/s/tok bmc-node-01:/s/1 bmc-node-02:/s/2 bmc-node-03:/s/3" ] ||
        fail "LoadCredential: $(m .systemd.services.provd.serviceConfig.LoadCredential full)"
[ "$(m '.systemd.services.provd.serviceConfig | "\(.Type) \(.AmbientCapabilities | join(",")) \(.RestrictAddressFamilies | join(","))"' full)" = \
        "notify CAP_NET_RAW AF_UNIX,AF_INET,AF_INET6,AF_PACKET,AF_NETLINK" ] || fail "discovery capabilities: $(m .systemd.services.provd.serviceConfig full)"
[ "$(m '.systemd.services.provd.serviceConfig.ExecStart' full)" = "/nix/store/provd/bin/provd serve --config /nix/store/x-provd.ini" ] || fail "ExecStart"
[ "$(m '.services.pixiecore | "\(.mode) \(.apiServer) \(.dhcpNoBind)"' full)" = "api http://[::1]:8080 true" ] || fail "pixiecore: $(m .services.pixiecore full)"
[ "$(m '[.assertions[] | select(.assertion | not)] | length' full)" = 0 ] || fail "assertions fail for a good configuration: $(m .assertions full)"
[ "$(m '.systemd.services.provd.serviceConfig.AmbientCapabilities | join(",")' basic)" = CAP_NET_BIND_SERVICE ] || fail "port 80 without CAP_NET_BIND_SERVICE"
[ "$(m '[.assertions[] | select(.assertion | not) | .message] | join("")' basic)" = \
        "services.provd: the inventory points the BMC password of node(s) node-02, node-03 at /run/credentials/provd.service/bmc-<name>, but services.provd.bmcPasswordFiles has no such entry" ] ||
        fail "missing BMC credentials not asserted: $(m .assertions basic)"
# DHCP front end: dnsmasq from `provd dhcp-config --dnsmasq --config <provd.ini>`, its ports, not with pixiecore
for v in dnsmasq dnsmasq-and-pixiecore; do
        "${NIXI[@]}" --eval --strict --json "$SRC/tests/nix/module-stub.nix" --argstr bootRoot "$boot" -A "$v" >"$T/$v.json" 2>"$T/$v.err" ||
                fail "module stub ($v): $(cat "$T/$v.err")"
done
[ "$(m '[.assertions[] | select(.assertion | not)] | length' dnsmasq)" = 0 ] || fail "dnsmasq: assertions fail: $(m .assertions dnsmasq)"
[ "$(m '.networking.firewall.allowedUDPPorts | join(",")' dnsmasq)" = 67,69,4011 ] || fail "dnsmasq: UDP ports $(m .networking.firewall.allowedUDPPorts dnsmasq)"
m '.systemd.services."provd-dnsmasq".serviceConfig.ExecStart' dnsmasq | grep -qF -- '/nix/store/dnsmasq/bin/dnsmasq --keep-in-foreground --conf-file=/nix/store/x-provd-dnsmasq.conf ' ||
        fail "dnsmasq: ExecStart $(m '.systemd.services."provd-dnsmasq".serviceConfig.ExecStart' dnsmasq)"
[ "$(m '[.assertions[] | select(.assertion | not) | .message] | join("")' dnsmasq-and-pixiecore)" = \
        "services.provd: pixiecore.enable and dnsmasq.enable are two DHCP front ends for the same clients; enable one" ] ||
        fail "pixiecore and dnsmasq together not asserted: $(m .assertions dnsmasq-and-pixiecore)"
# The unit's configuration is what the real provd prints for the module's provd.ini: run the
# module's build script with the store paths pointed at this build and this machine's iPXE.
m '.ini' dnsmasq >"$T/dnsmasq-provd.ini"
"${NIXI[@]}" --eval --strict --json "$SRC/tests/nix/module-stub.nix" --argstr bootRoot "$boot" \
        -A 'dnsmasq.systemd.services.provd-dnsmasq.restartTriggers.0.script' | jq -r . |
        sed -e "s|/nix/store/provd/bin/provd|$PROVD|" -e "s|/nix/store/x-provd.ini|$T/dnsmasq-provd.ini|" \
                -e "s|'/nix/store/ipxe'|/usr/lib/ipxe|" >"$T/dnsmasq-build.sh"
out=$T/dnsmasq.conf bash -c "$(sed 's/\$out/"$out"/' "$T/dnsmasq-build.sh")" 2>"$T/dnsmasq-build.err" || fail "dnsmasq config build: $(cat "$T/dnsmasq-build.err")"
grep -qxF 'dhcp-boot=tag:httpboot,http://10.0.0.5:8080/v1/ipxe.efi' "$T/dnsmasq.conf" && grep -qxF 'interface=eth0' "$T/dnsmasq.conf" &&
        grep -qxF 'dhcp-range=10.0.0.0,proxy,255.255.255.0' "$T/dnsmasq.conf" || fail "dnsmasq config: $(cat "$T/dnsmasq.conf")"
if command -v dnsmasq >/dev/null; then
        dnsmasq --test --conf-file="$T/dnsmasq.conf" >/dev/null 2>&1 || fail "dnsmasq --test rejects the module's config"
fi
ok "module: dnsmasq front end (provd dhcp-config on the module's provd.ini, UDP 67/69/4011, not with pixiecore)"
# provd itself reads the keys of the basic configuration (flags override the paths)
m .ini basic >"$T/provd.ini"
provd_start "$T/inv.json" --config "$T/provd.ini"
provd_stop
ok "module (stand-in lib): provd.ini keys, credentials, capabilities, pixiecore, assertions; provd reads the rendered config"

# 5. Bad node lists fail evaluation, naming the node.
expect_eval_error() {
        local variant=$1 pattern=$2
        if eval_sample "$variant" "$T/$variant.json"; then fail "variant $variant evaluated: $(head -c 300 "$T/$variant.json")"; fi
        grep -q -- "$pattern" "$T/$variant.json.err" || fail "variant $variant: expected '$pattern' in: $(cat "$T/$variant.json.err")"
}
expect_eval_error dup-mac 'MAC 52:54:00:00:00:01 is used by node "node-01" and by node "node-03"'
expect_eval_error dup-name 'node name "node-01" appears more than once'
expect_eval_error missing-config 'node "node-99" is not in nixosConfigurations'
expect_eval_error no-install-script 'node "bare": nixosConfigurations.bare.config.system.build.provdInstallScript is missing'
expect_eval_error bad-mac 'node "node-02": "52:54:00:00:02" is not a MAC address'
expect_eval_error bad-cmdline 'node "node-01": kernel command line sets provd.token=x'
ok "duplicate MAC, duplicate name, node missing from nixosConfigurations, missing install script, bad MAC, provd key in cmdline: evaluation fails naming the node"

# 6. Stateless nodes and images (tests/nix/images.nix: stand-ins shaped like a system
# evaluated with nix/image.nix, a netboot system without it, and an image set given as is).
mkdir -p "$boot/image/kernel" "$boot/image/ramdisk"
head -c 100000 /dev/urandom >"$boot/image/kernel/bzImage"
head -c 50000 /dev/urandom >"$boot/image/ramdisk/initrd"
eval_stateless() {
        "${NIXI[@]}" --eval --strict --json "$SRC/tests/nix/sample.nix" \
                --argstr bootRoot "$boot" --argstr secrets "$T/secrets" --argstr variant "$1" >"$2" 2>"$2.err"
}
eval_stateless stateless "$T/stateless.json" || fail "evaluating the stateless sample: $(cat "$T/stateless.json.err")"
s() { jq -rc "$1" "$T/stateless.json"; }
st=/nix/store/cccccccccccccccccccccccccccccccc-nixos-system
[ "$(s '.images | keys | join(",")')" = compute,gpu,login ] || fail "images: $(s '.images | keys')"
[ "$(s .images.compute)" = '{"cmdline":"console=ttyS0,115200 loglevel=4","init":"'$st'-compute/init","initrd":["'"$boot"'/image/ramdisk/initrd"],"kernel":"'"$boot"'/image/kernel/bzImage","toplevel":"'$st'-compute"}' ] ||
        fail "image from system.build.provdImage: $(s .images.compute)"
[ "$(s .images.gpu)" = '{"cmdline":"nomodeset","init":"'$st'-gpu/init","initrd":["'"$boot"'/image/ramdisk/initrd"],"kernel":"'"$boot"'/image/kernel/bzImage","toplevel":"'$st'-gpu"}' ] ||
        fail "image from a netboot system's files: $(s .images.gpu)"
[ "$(s .images.login)" = '{"init":"'$st'-login/init","initrd":["http://images.cluster.example/login/initrd"],"kernel":"http://images.cluster.example/login/bzImage","toplevel":"'$st'-login"}' ] ||
        fail "image given as a set (initrd as a string, no cmdline): $(s .images.login)"
# install nodes unchanged; stateless nodes: mode, image, MACs, BMC, rack, overlay; no boot/system
[ "$(s '.nodes[0] | has("mode") or has("image") or has("overlay")')" = false ] || fail "install node changed: $(s '.nodes[0]')"
cmp -s <(s '.nodes[0]') <(jq -c '.nodes[0] | del(.bmc.user)' "$T/inv.json") || fail "install node-01 differs from the install-only inventory: $(s '.nodes[0]')"
[ "$(s '[.nodes[1:][] | "\(.name):\(.mode):\(.image):\(.mac | join("+")):\(has("boot") or has("system"))"] | join(" ")')" = \
        "c001:stateless:compute:52:54:00:00:10:01:false c002:stateless:compute:52:54:00:00:10:02:false g001:stateless:gpu:52:54:00:00:20:01:false l001:stateless:login:52:54:00:00:30:01:false" ] ||
        fail "stateless nodes: $(s '.nodes[1:]')"
[ "$(s '.nodes[1] | "\(.bmc.host) \(.bmc.password_file) \(.rack)"')" = "10.1.1.1 /run/credentials/provd.service/bmc-c001 r01" ] || fail "c001 bmc/rack: $(s '.nodes[1]')"
[ "$(s '.nodes[1].overlay.files')" = '[{"mode":"0600","path":"/etc/ssh/ssh_host_ed25519_key","source":"'"$T"'/secrets/c001/ssh_host_ed25519_key"},{"mode":"0644","path":"/etc/ssh/ssh_host_ed25519_key.pub","source":"'"$T"'/secrets/c001/ssh_host_ed25519_key.pub"},{"gid":997,"mode":"0400","path":"/etc/munge/munge.key","source":"'"$T"'/secrets/munge.key","uid":997}]' ] ||
        fail "c001 overlay files: $(s '.nodes[1].overlay')"
[ "$(s '.nodes[2] | has("overlay")')" = false ] || fail "c002 has no overlay files, but an overlay was emitted: $(s '.nodes[2]')"
# a cluster of stateless nodes only needs neither installer nor nixosConfigurations
eval_stateless stateless-only "$T/stateless-only.json" || fail "stateless nodes without an installer: $(cat "$T/stateless-only.json.err")"
cmp -s <(jq -c '.nodes' "$T/stateless-only.json") <(s '.nodes[1:]') || fail "stateless-only: nodes differ"
# the schema
python3 - "$SRC/api/inventory.schema.json" "$T/stateless.json" "$T/stateless-only.json" <<'PY' || fail "stateless inventory does not validate against the schema"
import json, sys, jsonschema
v = jsonschema.Draft202012Validator(json.load(open(sys.argv[1])))
for f in sys.argv[2:]:
    v.validate(json.load(open(f)))
PY
# each image is looked into once, for 4 nodes and for 1000 nodes of one image
[ "$(grep -c 'provd-test: image compute evaluated' "$T/stateless.json.err")" = 1 ] || fail "image compute entered $(grep -c 'image compute evaluated' "$T/stateless.json.err") times"
start=$(date +%s%N)
eval_stateless stateless-scale "$T/stateless-scale.json" || fail "1000 stateless nodes: $(cat "$T/stateless-scale.json.err")"
ms=$((($(date +%s%N) - start) / 1000000))
[ "$(jq '[.nodes[] | select(.mode == "stateless" and .image == "compute")] | length' "$T/stateless-scale.json")" = 1000 ] || fail "stateless-scale: wrong node count"
[ "$(grep -c 'provd-test: image compute evaluated' "$T/stateless-scale.json.err")" = 1 ] || fail "image compute entered more than once for 1000 nodes"
[ "$(jq '.images | keys | join(",")' -r "$T/stateless-scale.json")" = compute,gpu,login ] || fail "stateless-scale: images $(jq -c '.images | keys' "$T/stateless-scale.json")"
ok "stateless nodes: images (image.nix's provdImage, netboot files, a set), mode/image/overlay files, install nodes unchanged, no installer needed; schema-valid; image entered once for 1000 nodes ($ms ms)"

# provd loads it: every node, the stateless ones on their image's toplevel, the image's
# local kernel and ramdisk served
provd_start "$T/stateless.json"
expect_status 200 GET /v1/nodes
jq_eq '[.nodes[].name] | join(",")' c001,c002,g001,l001,node-01
expect_status 200 GET /v1/nodes/c001
jq_eq .system.toplevel "$st-compute"
jq_eq .system.install null
expect_status 200 GET "/v1/files$boot/image/kernel/bzImage"
cmp -s "$T/body" "$boot/image/kernel/bzImage" || fail "image kernel served by provd differs"
expect_status 200 GET "/v1/files$boot/image/ramdisk/initrd"
# network boots: the image's files, its cmdline and init=, the node's overlay last
expect_status 200 GET /v1/boot/52:54:00:00:10:01
jq_eq '.kernel | endswith("/v1/files'"$boot"'/image/kernel/bzImage")' true
jq_eq '"\(.initrd[0] | endswith("/v1/files'"$boot"'/image/ramdisk/initrd")) \(.initrd[1] | contains("/v1/overlay/")) \(.initrd | length)"' "true true 2"
jq_eq '.cmdline | startswith("console=ttyS0,115200 loglevel=4 init='"$st"'-compute/init ")' true
expect_status 200 GET /v1/boot/52:54:00:00:30:01
jq_eq '"\(.kernel) \(.initrd[0])"' "http://images.cluster.example/login/bzImage http://images.cluster.example/login/initrd"
provd_stop
ok "provd loads the stateless inventory: nodes, image toplevels, the image's kernel and ramdisk served, network boots answered with the image and the overlay"

expect_stateless_error() {
        local variant=$1 pattern=$2
        if eval_stateless "$variant" "$T/$variant.json"; then fail "variant $variant evaluated: $(head -c 300 "$T/$variant.json")"; fi
        grep -qF -- "$pattern" "$T/$variant.json.err" || fail "variant $variant: expected '$pattern' in: $(cat "$T/$variant.json.err")"
}
# a secret source that would be (or is) in the Nix store
expect_stateless_error overlay-store-source 'node "c001": overlay.files[0] (/etc/ssh/ssh_host_ed25519_key): source "/nix/store/dddddddddddddddddddddddddddddddd-keys/c001" is in the Nix store, which is world-readable'
expect_stateless_error overlay-path-literal 'node "c001": overlay.files[0] (/etc/ssh/ssh_host_ed25519_key): source is a Nix path literal, which would copy the file (a secret) into the world-readable Nix store; give its path on the boot host as a string'
expect_stateless_error overlay-store-context 'node "c001": overlay.files[0] (/etc/ssh/ssh_host_ed25519_key): source "/nix/store/'
ok "a per-node file whose source is in the Nix store (a store string, a path literal, a string with store context) fails evaluation naming the node"
expect_stateless_error overlay-relative-source 'node "c001": overlay.files[0] (/etc/ssh/ssh_host_ed25519_key): source "secrets/c001/key" is not an absolute clean path'
expect_stateless_error overlay-reserved-path 'node "c001": overlay.files[0]: path /var/lib/provd-node/credential is one provd writes itself'
expect_stateless_error overlay-hostname 'node "c001": overlay.files[0]: path /etc/hostname is one provd writes itself'
expect_stateless_error overlay-bad-mode 'node "c001": overlay.files[0] (/etc/ssh/ssh_host_ed25519_key): mode 384 is not an octal string such as "0600"'
expect_stateless_error overlay-big-mode 'node "c001": overlay.files[0] (/etc/ssh/ssh_host_ed25519_key): mode 17777 is not an octal string such as "0600" (at most 07777)'
expect_stateless_error overlay-bad-uid 'node "c001": overlay.files[0] (/etc/ssh/ssh_host_ed25519_key): uid -1 is not an integer 0..2147483647'
expect_stateless_error overlay-dir-path 'node "c001": overlay.files[0]: path /var/lib is a directory of the files provd writes itself'
expect_stateless_error overlay-nested-path 'node "c001": overlay file path /etc/ssh/k/x is inside overlay file path /etc/ssh/k'
expect_stateless_error overlay-dup-path 'node "c001": overlay file path /etc/ssh/k appears more than once'
expect_stateless_error overlay-too-many 'node "c001": more than 64 overlay files'
expect_stateless_error stateless-no-image 'node "c002" is stateless but names no image'
expect_stateless_error stateless-unknown-image 'node "c002": image "storage" is not in images (compute, gpu, login)'
expect_stateless_error stateless-cmdline 'node "c002": a stateless node boots its image; cmdline is not allowed'
expect_stateless_error stateless-bad-mode 'node "c002": mode "diskless" is not "install" or "stateless"'
expect_stateless_error install-with-image 'node "node-01" installs to disk (mode "install", the default): image and overlay are for stateless nodes'
expect_stateless_error install-without-installer 'node "node-01" installs to disk (mode "install", the default), but no installer is given'
expect_stateless_error image-init-in-cmdline 'image "compute": kernel command line sets init=: provd appends the image'"'"'s init= itself'
expect_stateless_error image-store-init 'image "login": init "/sbin/init" is not a /nix/store path'
expect_stateless_error image-not-netboot 'image "gpu": its system has neither config.system.build.provdImage nor the netboot files'
expect_stateless_error image-dup-mac 'MAC 52:54:00:00:00:01 is used by node "node-01" and by node "c002"'
ok "bad stateless entries and images fail evaluation naming the node or image (reserved paths, mode, uid, duplicates, 64 files, missing/unknown image, cmdline, install node with an image, no installer, init= in an image cmdline)"
