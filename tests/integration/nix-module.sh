#!/usr/bin/env bash
# nix/ through the real NixOS module system (tests/nix/nixos-eval.nix): the real nixpkgs `lib`
# (lib.evalModules, the option types), the real systemd unit options and unit rendering
# (nixos/lib/systemd-*.nix) and nixpkgs' pixiecore module, from PROVD_NIXPKGS (a nixpkgs
# checkout) or else ../shared/nixpkgs-slice beside the source tree (what CI has).  The other
# NixOS options provd's modules set are declared in tests/nix/nixos/options.nix with their
# real types; packages are stand-ins (tests/nix/nixos/pkgs.nix) made here under $T/pkgs, with
# this build's provd as the provd package.
#
#  1. module.nix, the README's configuration, socket activation + TLS + token reads +
#     discovery, the dnsmasq front end, a port below 1024: the rendered units pass
#     `systemd-analyze verify` and `security` (an empty capability set is written as
#     `CapabilityBoundingSet=`, not left out); provd started from the rendered ExecStart=,
#     with the rendered provd.ini, the credentials as LoadCredential= gives them (a private
#     mount namespace) and the module's inventory, answers GET /v1/summary; the dnsmasq
#     configuration is built with the module's command and `dnsmasq --test` accepts it with the
#     unit's arguments; firewall ports (pixiecore's PXE port is UDP 4011); each assertion fails
#     the evaluation with its message.  PostgreSQL (tests/nix/nixos/postgresql.nix stands in
#     for nixpkgs' module): on this host, the database and role ensured, provd after and
#     requiring postgresql.service (and postgresql-setup.service where the release has it),
#     state_url over /run/postgresql, the shared key credential; on another host, the URL and
#     the libpq password file (PGPASSFILE); the instance name and racks.  When this provd has
#     --state-url and the instance flags, provd from the rendered unit runs on a real
#     PostgreSQL (tests/tools/pg-cluster, its socket linked at /run/postgresql/.s.PGSQL.5432).
#  2. an inventory file outside the store (a string and a path literal): editing it changes
#     the unit only in its reload trigger, so `nixos-rebuild switch` reloads provd.
#  3. installer.nix: the unit verifies with the scripts built, nix.conf substituters/keys,
#     kernel parameters, the substituters assertion.
#  4. install-script.nix: `bash -n`, then run with a recording nixos-install; its store
#     references hold the node's system or not (systemInScriptClosure).
#  5. inventory.nix on the evaluated systems: schema-valid; store references (systemsInClosure).
#  6. package.nix through lib.callPackageWith: inputs cover every dependency() of the meson
#     files, the meson flags are options of this tree's meson build, the filtered source holds
#     every tracked file and no build directory.
#  7. node.nix: provd-node-report.service and .timer (serviceToUnit, timerToUnit) pass
#     `systemd-analyze verify` and `security`, with the reporter package built by its own
#     command; wantedBy multi-user.target, after network-online.target, Type=exec without
#     RemainAfterExit, the LoadCredential= lines, the timer's OnBootSec=/OnUnitActiveSec= the
#     interval; a credential in the store fails the assertion, a path literal the type; the
#     rendered ExecStart=, with the unit's Environment= and the LoadCredential= files in a
#     credentials directory as systemd passes them, reports to a provd that issued the node
#     its credential (GET /v1/boot, POST /v1/install/credential), and provd shows in_sync.
#  8. image.nix + stateless.nix (with a stand-in netboot.nix: no kernel or squashfs is built
#     here): system.build.provdImage is the inventory's image entry; hostName empty and no
#     NixOS /etc/hostname; the reporter's units verify and run at every boot; both assertions;
#     inventory.nix on the evaluated image: schema-valid, refers
#     to the image's system.  The rendered boot.initrd.postMountCommands then runs under
#     busybox sh in a chroot made like a stage-1 initramfs (busybox, then a cpio newc overlay
#     in daemon/overlay.h's layout unpacked on top, as the kernel unpacks concatenated
#     initrds): every manifest path lands in $targetRoot with its mode, owner and bytes; bad
#     manifest lines are skipped; no overlay is not an error.  Then the real thing: provd
#     boots c001 of that inventory and serves its overlay; stage 1 copies it; the image's
#     reporter, reading the copied files, moves c001 from booting to running.
source "$(dirname "$0")/lib.sh"

for tool in nix-instantiate nix-store systemd-analyze systemd-socket-activate unshare jq curl openssl dnsmasq meson cpio chroot busybox; do
        command -v "$tool" >/dev/null || skip "$tool missing"
done
python3 -c 'import jsonschema' 2>/dev/null || skip "python3-jsonschema missing"
unshare --mount true 2>/dev/null || skip "unshare --mount does not work here (needs root)"

if [ -n "${PROVD_NIXPKGS:-}" ]; then
        NIXPKGS=$PROVD_NIXPKGS
        echo "# nixpkgs: $NIXPKGS (PROVD_NIXPKGS)"
elif [ -d "$SRC/../shared/nixpkgs-slice" ]; then
        NIXPKGS=$(cd "$SRC/../shared/nixpkgs-slice" && pwd)
        echo "# nixpkgs: $NIXPKGS (the nixpkgs slice beside the source tree)"
else
        skip "no nixpkgs: set PROVD_NIXPKGS to a nixpkgs checkout, or put shared/nixpkgs-slice beside the source tree ($SRC/../shared/nixpkgs-slice)"
fi
for f in lib/default.nix nixos/lib/systemd-lib.nix nixos/lib/systemd-unit-options.nix nixos/lib/systemd-types.nix \
        nixos/modules/misc/assertions.nix nixos/modules/services/networking/pixiecore.nix; do
        [ -f "$NIXPKGS/$f" ] || fail "$NIXPKGS has no $f"
done

# Offline: no substituter, no build users; read-write: writeText's files are really written.
NIXI=(nix-instantiate --option substituters '' --option build-users-group '' --read-write-mode)
# nixeval CASE: $T/CASE.json, stderr in $T/CASE.err
nixeval() {
        "${NIXI[@]}" --eval --strict --json "$SRC/tests/nix/nixos-eval.nix" \
                --argstr nixpkgs "$NIXPKGS" --argstr root "$T" --argstr case "$1" >"$T/$1.json" 2>"$T/$1.err"
}
must_eval() { nixeval "$1" || fail "evaluating $1: $(cat "$T/$1.err")"; }
q() { jq -rc "$2" "$T/$1.json"; }

# ---- stand-in packages, boot files, secrets, an inventory file outside the store
mkdir -p "$T/pkgs/provd/bin" "$T/pkgs/coreutils/bin" "$T/pkgs/dnsmasq/bin" "$T/pkgs/pixiecore/bin" "$T/pkgs/postgresql-15.5/bin" \
        "$T/pkgs/ipxe" "$T/pkgs/nixos-install/bin" "$T/built" "$T/boot/kernel" "$T/boot/ramdisk" "$T/secrets"
ln -s "$PROVD" "$T/pkgs/provd/bin/provd"
ln -s "$(type -P kill)" "$T/pkgs/coreutils/bin/kill"
ln -s "$(command -v dnsmasq)" "$T/pkgs/dnsmasq/bin/dnsmasq"
printf '#!/bin/sh\necho "pixiecore stand-in: not runnable" >&2\nexit 1\n' >"$T/pkgs/pixiecore/bin/pixiecore"
printf '#!/bin/sh\necho "nixos-install $*" >>"$PROVD_TEST_LOG"\n' >"$T/pkgs/nixos-install/bin/nixos-install"
for f in postgres psql; do printf '#!/bin/sh\necho "postgresql stand-in: not runnable" >&2\nexit 1\n' >"$T/pkgs/postgresql-15.5/bin/$f"; done
chmod +x "$T/pkgs/pixiecore/bin/pixiecore" "$T/pkgs/nixos-install/bin/nixos-install" "$T/pkgs/postgresql-15.5/bin/"*
echo "iPXE stand-in" >"$T/pkgs/ipxe/snponly.efi"
echo "iPXE stand-in" >"$T/pkgs/ipxe/undionly.kpxe"
head -c 100000 /dev/urandom >"$T/boot/kernel/bzImage"
head -c 50000 /dev/urandom >"$T/boot/ramdisk/initrd"
TOKEN=$(api_token "$T/secrets/api-tokens")
echo bmc-secret-1 >"$T/secrets/bmc-node-01"
echo bmc-secret-2 >"$T/secrets/bmc-node-02"
head -c 32 /dev/urandom >"$T/secrets/shared-key"
echo 'db.cluster.example:5432:provd:provd:pg-secret' >"$T/secrets/pgpass"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
        -keyout "$T/secrets/tls-key.pem" -out "$T/secrets/tls-cert.pem" 2>/dev/null
make_inventory "$T/inventory-host.json" 3

# ---- units: write_units CASE -> $T/units-CASE/<unit>; verify_clean DIR UNIT... (as
# systemd-units.sh: lines about the host's own units are reported, not failed)
write_units() {
        local u d=$T/units-$1
        mkdir -p "$d"
        for u in $(q "$1" '.units | keys[]'); do
                jq -r --arg u "$u" '.units[$u]' "$T/$1.json" >"$d/$u"
        done
}
verify_clean() {
        local dir=$1 out rc=0 line ours=()
        shift
        out=$(cd "$dir" && systemd-analyze verify "$@" 2>&1) || rc=$?
        while IFS= read -r line; do
                [ -n "$line" ] || continue
                if [[ $line =~ ^(/usr)?/lib/systemd/|^/etc/systemd/|^/run/systemd/ ]] && [[ $line != *provd* ]]; then
                        echo "# ignored (a host unit, not ours): $line"
                        continue
                fi
                ours+=("$line")
        done <<<"$out"
        [ "$rc" -eq 0 ] && [ "${#ours[@]}" -eq 0 ] || fail "systemd-analyze verify $* (rendered from nix/): $(printf '%s\n' "${ours[@]}")"
}
# unit_has CASE UNIT LINE: the rendered unit has LINE exactly
unit_has() { grep -qxF -- "$3" "$T/units-$1/$2" || fail "$1: $2 lacks '$3':
$(cat "$T/units-$1/$2")"; }
unit_lacks() { ! grep -q -- "$3" "$T/units-$1/$2" || fail "$1: $2 has '$3': $(grep -- "$3" "$T/units-$1/$2")"; }
# security CASE [ROW]: provd.service rated as systemd-analyze rates it (exposure at most 2.0);
# no capability left in the bounding set but those the module grants (ROW: the one ✗ row
# allowed, as systemd-analyze names it)
security() {
        local c=$1 allowed=${2:-"(none)"}
        (cd "$T/units-$c" && systemd-analyze security --offline=yes --threshold=20 ./provd.service) >"$T/security-$c.out" 2>&1 ||
                fail "$c: systemd-analyze security: exposure above 2.0: $(grep -E '✗|Overall' "$T/security-$c.out")"
        if grep '✗ CapabilityBoundingSet=' "$T/security-$c.out" | grep -vF "$allowed" | grep -q .; then
                fail "$c: provd.service keeps capabilities in its bounding set: $(grep '✗ CapabilityBoundingSet=' "$T/security-$c.out")"
        fi
}
# trigger CASE: the content of provd.service's X-Reload-Triggers file (what
# switch-to-configuration compares to decide on a reload)
trigger() { cat "$(sed -n 's/^X-Reload-Triggers=//p' "$T/units-$1/provd.service")"; }
execstart() { sed -n 's/^ExecStart=//p' "$T/units-$1/$2"; }

# run_rendered CASE [socket]: provd from the rendered ExecStart= (the package is this build's
# provd, the config the rendered provd.ini), in a private mount namespace whose /run has the
# LoadCredential= files under /run/credentials/provd.service as systemd puts them.  Flags
# override only what a test on a shared machine must: the state directory, the listening
# address (a free loopback port) and the inventory path (/etc/provd/inventory.json is the
# module's /etc entry, given here by its source).
run_rendered() {
        local c=$1 mode=${2:-} u=$T/units-$1/provd.service cmd creds=() line inv
        read -ra cmd <<<"$(execstart "$c" provd.service)"
        [ "${cmd[0]}" = "$T/pkgs/provd/bin/provd" ] && [ "${cmd[1]}" = serve ] && [ "${cmd[2]}" = --config ] && [ "${#cmd[@]}" = 4 ] ||
                fail "$c: ExecStart is not '<provd>/bin/provd serve --config <provd.ini>': ${cmd[*]}"
        [ "${cmd[3]}" = "$(q "$c" '.etc["provd/provd.ini"]')" ] || fail "$c: ExecStart's config is not /etc/provd/provd.ini's"
        while IFS= read -r line; do creds+=("$line"); done < <(sed -n 's/^LoadCredential=//p' "$u")
        inv=$(q "$c" '.etc["provd/inventory.json"]')
        grep -qxF 'inventory=/etc/provd/inventory.json' "${cmd[3]}" || fail "$c: provd.ini does not read /etc/provd/inventory.json"
        # in the namespace: credentials NAME:FILE... up to "--", then exec the rest
        local ns=(unshare --mount --propagation private bash -c '
                mount -t tmpfs -o mode=0755 tmpfs /run && mkdir -p /run/credentials/provd.service || exit 1
                # PostgreSQL on this host: its socket where services.postgresql has it
                if [ -n "${PROVD_TEST_PG_SOCKET:-}" ]; then
                        mkdir -p /run/postgresql && ln -s "$PROVD_TEST_PG_SOCKET" /run/postgresql/.s.PGSQL.5432 || exit 1
                fi
                while [ "$1" != -- ]; do cp "${1#*:}" "/run/credentials/provd.service/${1%%:*}" || exit 1; shift; done
                shift
                chmod -R go-rwx /run/credentials/provd.service && exec "$@"' run "${creds[@]}" --)
        local flags=(--inventory "$inv" --state-dir "$T/state-$c")
        : >"$LOG"
        if [ "$mode" = socket ]; then
                # provd.socket's part: systemd-socket-activate binds and passes the socket
                PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
                "${ns[@]}" systemd-socket-activate -l "127.0.0.1:$PORT" -E CREDENTIALS_DIRECTORY=/run/credentials/provd.service \
                        "${cmd[@]}" "${flags[@]}" 2>>"$LOG" &
                PROVD_PID=$! # each execs the next: the same pid ends as provd's
                PIDS+=("$PROVD_PID")
                for _ in $(seq 1 200); do
                        grep -q "Listening on 127.0.0.1:$PORT" "$LOG" && break
                        kill -0 "$PROVD_PID" 2>/dev/null || fail "$c: systemd-socket-activate exited: $(cat "$LOG")"
                        sleep 0.05
                done
                URL=https://127.0.0.1:$PORT
        else
                CREDENTIALS_DIRECTORY=/run/credentials/provd.service "${ns[@]}" "${cmd[@]}" "${flags[@]}" --listen 127.0.0.1:0 2>>"$LOG" &
                PROVD_PID=$!
                PIDS+=("$PROVD_PID")
                wait_listening
        fi
}

# ================================================================== 1. module.nix
for c in readme socket-tls-discovery dnsmasq port80; do
        must_eval "$c"
        write_units "$c"
        [ "$(q "$c" '.warnings | length')" = 0 ] || fail "$c: warnings: $(q "$c" .warnings)"
done

# --- the README's configuration: provd + nixpkgs' pixiecore in API mode
[ "$(q readme '.units | keys | join(" ")')" = "pixiecore.service provd.service" ] || fail "readme: units $(q readme '.units | keys')"
verify_clean "$T/units-readme" ./provd.service ./pixiecore.service
unit_has readme provd.service 'CapabilityBoundingSet='
unit_lacks readme provd.service '^AmbientCapabilities='
unit_has readme provd.service 'PrivateUsers=true'
unit_has readme provd.service 'Type=notify'
unit_has readme provd.service 'WatchdogSec=30s'
unit_has readme provd.service "ExecReload=$T/pkgs/coreutils/bin/kill -HUP \$MAINPID"
unit_has readme provd.service "LoadCredential=api-tokens:$T/secrets/api-tokens"
unit_has readme provd.service "LoadCredential=bmc-node-01:$T/secrets/bmc-node-01"
unit_has readme provd.service "LoadCredential=bmc-node-02:$T/secrets/bmc-node-02"
security readme
[ "$(q readme '.wantedBy.provd | join(" ")')" = multi-user.target ] || fail "readme: provd.service wantedBy $(q readme .wantedBy)"
# pixiecore asks this provd, after it, without binding the DHCP port
unit_has readme pixiecore.service 'After=network.target provd.service'
tr -d '\\\n' <"$T/units-readme/pixiecore.service" | grep -q "ExecStart=$T/pkgs/pixiecore/bin/pixiecore *'api' 'http://127.0.0.1:8080' *--dhcp-no-bind *--listen-addr '0.0.0.0' *--port 80 *--status-port 80 *Restart=always" ||
        fail "readme: pixiecore's ExecStart: $(grep -A8 ExecStart "$T/units-readme/pixiecore.service")"
# firewall: provd 8080 and pixiecore's HTTP port; pixiecore's DHCP, TFTP and PXE (4011) are UDP
[ "$(q readme '.udp | join(" ")')" = "67 69 4011" ] || fail "readme: UDP ports $(q readme .udp) (pixiecore listens on UDP 67, 69 and 4011)"
q readme '.tcp[]' | grep -qx 8080 && q readme '.tcp[]' | grep -qx 80 || fail "readme: TCP ports $(q readme .tcp)"
[ "$(q readme '.users.pixiecore | "\(.isSystemUser) \(.group)"')" = "true pixiecore" ] || fail "readme: user pixiecore $(q readme .users)"
# the /etc entries and the rendered config
ini=$(q readme '.etc["provd/provd.ini"]')
[ "$(cat "$ini")" = "$(printf '%s\n' '[serve]' api_tokens=/run/credentials/provd.service/api-tokens inventory=/etc/provd/inventory.json \
        "ipxe_efi=$T/pkgs/ipxe/snponly.efi" listen=0.0.0.0:8080 log_level=info public_url=http://boot.cluster.example:8080 state_dir=/var/lib/provd)" ] ||
        fail "readme: provd.ini: $(cat "$ini")"
cmp -s <(jq -S . "$(q readme '.etc["provd/inventory.json"]')") <(jq -S .inventory "$T/readme.json") ||
        fail "readme: /etc/provd/inventory.json is not the inventory set"
# the reload trigger is that file, whose store path is its content's hash (writeText)
[[ "$(trigger readme)" == "$(q readme '.etc["provd/inventory.json"]')" && "$(trigger readme)" == /nix/store/*-provd-inventory.json ]] ||
        fail "readme: the reload trigger is '$(trigger readme)', not the inventory's store file"
run_rendered readme
expect_status 200 GET /v1/summary
jq_eq '"\(.total) \(.states.new)"' "2 2"
expect_status 200 GET /v1/nodes/node-02
jq_eq '"\(.bmc.host) \(.bmc.user)"' "10.1.0.2 admin"
# the API tokens came in as the credential the rendered config names
expect_status 401 POST /v1/reload
expect_status 200 POST /v1/reload -H "Authorization: Bearer $TOKEN"
jq_eq '"\(.nodes) \(.api_tokens)"' "2 1"
provd_stop
ok "module, README configuration: units verify (empty capability bounding set written out), UDP 4011 open for pixiecore, provd from the rendered ExecStart answers /v1/summary"

# --- socket activation on [::]:443, TLS, token-protected reads, discovery on lo
c=socket-tls-discovery
[ "$(q $c '.units | keys | join(" ")')" = "provd.service provd.socket" ] || fail "$c: units $(q $c '.units | keys')"
verify_clean "$T/units-$c" ./provd.socket ./provd.service
unit_has $c provd.socket 'ListenStream=[::]:443'
unit_has $c provd.socket 'BindIPv6Only=both'
unit_has $c provd.service 'Requires=provd.socket'
unit_has $c provd.service 'CapabilityBoundingSet=CAP_NET_RAW'
unit_has $c provd.service 'AmbientCapabilities=CAP_NET_RAW'
unit_has $c provd.service 'RestrictAddressFamilies=AF_PACKET'
unit_has $c provd.service 'WatchdogSec=0'
unit_lacks $c provd.service 'CAP_NET_BIND_SERVICE'
security $c 'CapabilityBoundingSet=~CAP_NET_(BIND_SERVICE|BROADCAST|RAW)'
[ "$(q $c '.wantedBy["provd.socket"] | join(" ")')" = sockets.target ] || fail "$c: provd.socket wantedBy $(q $c .wantedBy)"
[ "$(q $c '"\(.tcp) \(.udp)"')" = "[] []" ] || fail "$c: firewall opened without openFirewall"
ini=$(q $c '.etc["provd/provd.ini"]')
for kv in listen=[::]:443 tls_cert=/run/credentials/provd.service/tls-cert tls_key=/run/credentials/provd.service/tls-key read_auth=token \
        discovery_interface=lo discovery_max=100 header_timeout=5 install_deadline=7200 bmc_workers=4 bmc_timeout=5 bmc_retries=1 threads=2 \
        log_level=warning; do
        grep -qxF "$kv" "$ini" || fail "$c: provd.ini lacks $kv: $(cat "$ini")"
done
run_rendered $c socket
http GET /v1/summary --cacert "$T/secrets/tls-cert.pem" -m 20
[ "$STATUS" = 401 ] || fail "$c: GET /v1/summary without a token: $STATUS (read_auth=token from the rendered config)"
expect_status 200 GET /v1/summary --cacert "$T/secrets/tls-cert.pem" -H "Authorization: Bearer $TOKEN"
jq_eq '"\(.total) \(.states.new)"' "3 3"
provd_stop
ok "module, socket activation + TLS + token reads + discovery: units verify, CAP_NET_RAW only, provd answers over TLS on the activated socket"

# --- a port below 1024 without socket activation
unit_has port80 provd.service 'CapabilityBoundingSet=CAP_NET_BIND_SERVICE'
unit_has port80 provd.service 'AmbientCapabilities=CAP_NET_BIND_SERVICE'
unit_has port80 provd.service 'PrivateUsers=false'
verify_clean "$T/units-port80" ./provd.service
ok "module, listen on port 80: CAP_NET_BIND_SERVICE"

# --- the dnsmasq front end
c=dnsmasq
[ "$(q $c '.units | keys | join(" ")')" = "provd-dnsmasq.service provd.service" ] || fail "$c: units $(q $c '.units | keys')"
[ "$(q $c '.udp | join(" ")')" = "67 69 4011" ] && [ "$(q $c '.tcp | join(" ")')" = 8080 ] || fail "$c: ports UDP $(q $c .udp) TCP $(q $c .tcp)"
[ "$(q $c '.users["provd-dnsmasq"] | "\(.isSystemUser) \(.group)"')" = "true provd-dnsmasq" ] && q $c '.groups[]' | grep -qx provd-dnsmasq ||
        fail "$c: user/group provd-dnsmasq: $(q $c '"\(.users) \(.groups)"')"
# build the configuration with the module's own command (its restart trigger), as Nix would
[ "$(q $c '.build | length')" = 1 ] || fail "$c: expected one thing to build: $(q $c .build)"
conf=$(q $c '.build[0].out')
out=$conf bash -euc "$(q $c '.build[0].script')" 2>"$T/dnsmasq-build.err" || fail "$c: building the dnsmasq configuration: $(cat "$T/dnsmasq-build.err")"
grep -qxF 'dhcp-boot=tag:httpboot,http://10.0.0.5:8080/v1/ipxe.efi' "$conf" && grep -qxF 'interface=eth0' "$conf" &&
        grep -qxF 'dhcp-range=10.0.0.0,proxy,255.255.255.0' "$conf" && grep -qxF "tftp-root=$T/pkgs/ipxe" "$conf" ||
        fail "$c: dnsmasq configuration: $(cat "$conf")"
read -ra dcmd <<<"$(execstart $c provd-dnsmasq.service)"
[ "${dcmd[0]}" = "$T/pkgs/dnsmasq/bin/dnsmasq" ] && [ "${dcmd[2]}" = "--conf-file=$conf" ] || fail "$c: provd-dnsmasq ExecStart: ${dcmd[*]}"
"${dcmd[@]}" --test >"$T/dnsmasq-test.out" 2>&1 || fail "$c: dnsmasq --test with the unit's arguments: $(cat "$T/dnsmasq-test.out")"
verify_clean "$T/units-$c" ./provd.service ./provd-dnsmasq.service
security $c
run_rendered $c
expect_status 200 GET /v1/summary
jq_eq .total 3
provd_stop
ok "module, dnsmasq front end: configuration built by the unit's command passes dnsmasq --test, UDP 67/69/4011, units verify, provd answers"

# --- several instances on PostgreSQL
for c in pg-local pg-local-setup-unit pg-remote sqlite-instance; do
        must_eval "$c"
        write_units "$c"
        [ "$(q "$c" '.warnings | length')" = 0 ] || fail "$c: warnings: $(q "$c" .warnings)"
done
# ini_is CASE LINE...: the rendered provd.ini is exactly these lines
ini_is() {
        local c=$1 ini
        shift
        ini=$(q "$c" '.etc["provd/provd.ini"]')
        [ "$(cat "$ini")" = "$(printf '%s\n' '[serve]' "$@")" ] || fail "$c: provd.ini: $(cat "$ini")"
}
c=pg-local
[ "$(q $c '.units | keys | join(" ")')" = "postgresql.service provd.service" ] || fail "$c: units $(q $c '.units | keys')"
# services.postgresql on this host: the database provd, owned by the role provd, reached over
# /run/postgresql with the peer rule (the unit's dynamic user is named provd, as the role)
[ "$(q $c '.postgresql | "\(.enable) \(.ensureDatabases) \(.ensureUsers | map("\(.name) owner=\(.ensureDBOwnership)"))"')" = 'true ["provd"] ["provd owner=true"]' ] ||
        fail "$c: services.postgresql: $(q $c .postgresql)"
q $c .postgresql.authentication | grep -qE '^local +all +all +peer$' || fail "$c: no local peer rule: $(q $c .postgresql.authentication)"
unit_has $c provd.service 'DynamicUser=true'
unit_lacks $c provd.service '^User='
unit_has $c provd.service 'After=network-online.target postgresql.service'
unit_has $c provd.service 'Requires=postgresql.service'
unit_has $c provd.service 'RestrictAddressFamilies=AF_UNIX'
unit_has $c provd.service "LoadCredential=shared-key:$T/secrets/shared-key"
ini_is $c bmc_racks=rack1,rack2 instance_name=boot-a inventory=/etc/provd/inventory.json "ipxe_efi=$T/pkgs/ipxe/snponly.efi" listen=0.0.0.0:8080 \
        log_level=info public_url=http://boot-a.cluster.example:8080 shared_key_file=/run/credentials/provd.service/shared-key state_dir=/var/lib/provd \
        'state_url=postgresql://provd@/provd?host=/run/postgresql&port=5432'
verify_clean "$T/units-$c" ./provd.service ./postgresql.service
security $c
# NixOS 25.05 on: the database and role are made by postgresql-setup.service
c=pg-local-setup-unit
unit_has $c provd.service 'After=network-online.target postgresql.service postgresql-setup.service'
unit_has $c provd.service 'Requires=postgresql.service postgresql-setup.service'
verify_clean "$T/units-$c" ./provd.service ./postgresql.service ./postgresql-setup.service
# a server elsewhere: no local PostgreSQL, the URL as given, the password file as PGPASSFILE
c=pg-remote
[ "$(q $c '.units | keys | join(" ")')" = "provd.service" ] && [ "$(q $c .postgresql.enable)" = false ] || fail "$c: units $(q $c '.units | keys'), postgresql $(q $c .postgresql)"
unit_has $c provd.service 'After=network-online.target'
unit_lacks $c provd.service '^Requires='
unit_has $c provd.service "LoadCredential=pgpass:$T/secrets/pgpass"
unit_has $c provd.service 'Environment="PGPASSFILE=/run/credentials/provd.service/pgpass"'
ini_is $c bmc_racks=rack3 instance_name=boot-b inventory=/etc/provd/inventory.json "ipxe_efi=$T/pkgs/ipxe/snponly.efi" listen=0.0.0.0:8080 \
        log_level=info public_url=http://boot-b.cluster.example:8080 shared_key_file=/run/credentials/provd.service/shared-key state_dir=/var/lib/provd \
        'state_url=postgresql://provd@db.cluster.example:5432/provd?sslmode=verify-full'
verify_clean "$T/units-$c" ./provd.service
security $c
# SQLite (the default) with an instance name and racks: no state_url, no key
ini_is sqlite-instance bmc_racks=rack1 instance_name=boot-a inventory=/etc/provd/inventory.json "ipxe_efi=$T/pkgs/ipxe/snponly.efi" listen=0.0.0.0:8080 \
        log_level=info state_dir=/var/lib/provd
# a password in the URL (user:password@, ?password=) is warned about (it would be in the store)
for c in warn-pg-url-password warn-pg-url-password-param; do
        must_eval $c
        [ "$(q $c '.warnings | join("|")')" = "services.provd.database.url holds a password, which lands in the world-readable Nix store (provd.ini); put it in services.provd.database.passFile instead" ] ||
                fail "$c: warnings $(q $c .warnings)"
done
ok "module, PostgreSQL: database and role provd ensured, provd after and requiring postgresql.service (and postgresql-setup.service where it exists), state_url over /run/postgresql, the shared key and libpq password file as credentials, instance name and racks; units verify"

# provd from the rendered unit on a real PostgreSQL: the cluster's socket where
# services.postgresql puts it (/run/postgresql/.s.PGSQL.5432, in the private namespace), the
# database provd made as ensureDatabases makes it
serve_help=$("$PROVD" serve --help 2>&1 || true)
if grep -q -- --state-url <<<"$serve_help" && grep -q -- --shared-key-file <<<"$serve_help" &&
        grep -q -- --instance-name <<<"$serve_help" && grep -q -- --bmc-racks <<<"$serve_help"; then
        command -v psql >/dev/null || skip "psql missing (postgresql-client)"
        # beside $T, not in it: as root the cluster belongs to nobody, who must reach it
        pgdir=$(mktemp -d /tmp/provd-pg.XXXXXX)
        chmod 0755 "$pgdir"
        AT_EXIT+=("'$SRC/tests/tools/pg-cluster' stop '$pgdir'; rm -rf '$pgdir'")
        "$SRC/tests/tools/pg-cluster" start "$pgdir" >/dev/null || fail "pg-cluster start: see above"
        echo "# PostgreSQL cluster in $pgdir"
        "$SRC/tests/tools/pg-cluster" createdb "$pgdir" provd >/dev/null
        pgport=$(cat "$pgdir/port")
        PROVD_TEST_PG_SOCKET=$pgdir/sock/.s.PGSQL.$pgport run_rendered pg-local
        expect_status 200 GET /v1/summary
        jq_eq .total 3
        [ "$(psql -h "$pgdir/sock" -p "$pgport" -U provd -d provd -tAc "SELECT count(*) FROM information_schema.tables WHERE table_name = 'nodes'")" = 1 ] ||
                fail "pg-local: provd answered, but the database provd has no table nodes"
        expect_status 200 GET /v1/instances
        # instance_name and bmc_racks from the rendered config
        jq -e '.self == "boot-a" and ([.instances[] | "\(.name) \(.racks | join(","))"] == ["boot-a rack1,rack2"])' <<<"$BODY" >/dev/null ||
                fail "pg-local: GET /v1/instances: $BODY"
        provd_stop
        ok "module, PostgreSQL: provd from the rendered ExecStart= keeps its state in the database provd over /run/postgresql and lists itself as boot-a serving rack1,rack2"
else
        echo "# $PROVD has no --state-url, --shared-key-file, --instance-name and --bmc-racks yet: the rendered PostgreSQL configuration is evaluated and verified, not run"
fi

# --- each assertion fails the evaluation with its message
expect_assertion() {
        local c=$1 msg=$2
        if nixeval "$c"; then fail "$c evaluated: $(head -c 300 "$T/$c.json")"; fi
        grep -q 'Failed assertions:' "$T/$c.err" && grep -qF -- "- $msg" "$T/$c.err" || fail "$c: expected the assertion '$msg', got: $(cat "$T/$c.err")"
        [ "$(grep -c '^ *- ' "$T/$c.err")" = 1 ] || fail "$c: more than this assertion failed: $(cat "$T/$c.err")"
}
expect_assertion assert-tls-half 'services.provd.tls: set both certFile and keyFile, or neither'
expect_assertion assert-token-without-tokens 'services.provd.readAuth = "token" needs services.provd.apiTokensFile'
expect_assertion assert-bmc-credential 'services.provd: the inventory points the BMC password of node(s) node-02 at /run/credentials/provd.service/bmc-<name>, but services.provd.bmcPasswordFiles has no such entry'
expect_assertion assert-two-front-ends 'services.provd: pixiecore.enable and dnsmasq.enable are two DHCP front ends for the same clients; enable one'
expect_assertion assert-dnsmasq-url 'services.provd.dnsmasq needs services.provd.publicUrl: the URL the nodes reach provd at goes into the DHCP answers'
expect_assertion assert-port-clash 'services.provd: provd (listen) and pixiecore (pixiecore.port/statusPort) use the same TCP port'
if nixeval bad-listen; then fail "listen = \"8080\" evaluated"; fi
grep -qF 'services.provd.listen: "8080" is not ADDR:PORT or [ADDR]:PORT' "$T/bad-listen.err" || fail "bad-listen: $(cat "$T/bad-listen.err")"
expect_assertion assert-pg-shared-key 'services.provd.database.type = "postgresql" needs services.provd.sharedKeyFile: every provd instance on the shared database seals install tokens with the same 32-byte key (make it once with `head -c 32 /dev/urandom >FILE` and give every boot host the same file)'
expect_assertion assert-pg-url-missing 'services.provd.database: with type = "postgresql" and createLocally = false, set url (the libpq connection URI of the shared database)'
expect_assertion assert-pg-url-local 'services.provd.database: url is for a server elsewhere, but createLocally (the default) creates the database on this host and connects over /run/postgresql; set createLocally = false to use url'
expect_assertion assert-pg-url-sqlite 'services.provd.database: url and passFile are for type = "postgresql", but type is "sqlite"'
expect_assertion assert-pg-version 'services.provd.database.createLocally: provd needs PostgreSQL 13 or later; services.postgresql.package is 12.17'
if nixeval bad-instance-name; then fail "instanceName = \"boot a\" evaluated"; fi
grep -qF "option \`services.provd.instanceName' is not of type \`null or string matching the pattern [A-Za-z0-9._-]{1,63}'" "$T/bad-instance-name.err" ||
        fail "bad-instance-name: $(cat "$T/bad-instance-name.err")"
if nixeval bad-bmc-racks; then fail "bmcRacks = [ \"rack1,rack2\" ] evaluated"; fi
grep -qF "option \`services.provd.bmcRacks.\"[definition 1-entry 1]\"' is not of type \`string matching the pattern [A-Za-z0-9._-]+'" "$T/bad-bmc-racks.err" ||
        fail "bad-bmc-racks: $(cat "$T/bad-bmc-racks.err")"
ok "module: each of the 11 assertions fails the evaluation alone with its message; a bad listen, instance name or rack is refused"

# --- secrets: one in the store is warned about, a path literal (copied into the store) refused
must_eval warn-store-secret
[ "$(q warn-store-secret '.warnings | join("|")')" = "services.provd: the secret /nix/store/00000000000000000000000000000000-api-tokens is in the world-readable Nix store" ] ||
        fail "secret in the store: warnings $(q warn-store-secret .warnings)"
if nixeval secret-literal; then fail "a path literal as apiTokensFile evaluated"; fi
grep -qF "option \`services.provd.apiTokensFile' is not of type \`null or string matching the pattern /.*'" "$T/secret-literal.err" ||
        fail "secret-literal: $(cat "$T/secret-literal.err")"

# --- the options' documentation renders (as the NixOS manual does), and nix/README.md's option
# tables name exactly the options the modules declare, with their defaults
must_eval docs
[ "$(q docs '[.[] | select(.description == null or .description == "")] | length')" = 0 ] ||
        fail "options without a description: $(q docs '[.[] | select(.description == null or .description == "") | .name]')"
python3 - "$T/docs.json" "$SRC/nix/README.md" <<'PY' || fail "nix/README.md's option tables and the modules disagree (above)"
import json, re, sys
docs = {o["name"]: o for o in json.load(open(sys.argv[1]))}
text = open(sys.argv[2]).read()
sections = {"## `module.nix`: `services.provd`": "services.provd.",
            "## `installer.nix`: `provd.installer`": "provd.installer.",
            "## `install-script.nix`: `provd.install`": "provd.install.",
            "## `node.nix`: `services.provd-node`": "services.provd-node.",
            "## `stateless.nix`: `provd.stateless`": "provd.stateless."}
unquote = lambda v: v[1:-1] if len(v) > 1 and v[0] == v[-1] == '"' else v
problems, seen = [], set()
for head, prefix in sections.items():
    if head not in text:
        problems.append(f"no section {head!r}")
        continue
    for line in text.split(head, 1)[1].split("\n## ", 1)[0].splitlines():
        m = re.match(r"^\| (`[^|]*) \| ([^|]*) \|", line)
        if not m:
            continue
        names = []
        for n in re.findall(r"`([^`]+)`", m.group(1)):
            names.append(names[-1].rsplit(".", 1)[0] + n if n.startswith(".") and names else prefix + n)
        cell = m.group(2).strip()
        lits = re.findall(r"`([^`]+)`", cell)
        # a default cell of one backticked literal per name is checked
        checked = re.fullmatch(r"`[^`]+`(, `[^`]+`)*", cell) and len(lits) == len(names)
        for i, n in enumerate(names):
            seen.add(n)
            if n not in docs:
                problems.append(f"{n}: in nix/README.md, but no such option")
            elif checked and docs[n]["defaultKind"] == "literalExpression" and unquote(lits[i]) != unquote(docs[n]["default"]):
                problems.append(f"{n}: nix/README.md says the default is {lits[i]}, the module {docs[n]['default']}")
problems += [f"{n}: declared, not in nix/README.md" for n in docs if n not in seen]
print("\n".join(problems), file=sys.stderr)
sys.exit(1 if problems else 0)
PY
ok "module: secrets in the store warned about, path literals refused; option docs render; nix/README.md lists exactly the declared options and their defaults"

# ================================================================== 2. reload on a new inventory
# inventory-string: a path string outside the store; inventory-literal: a Nix path literal.
for c in inventory-string inventory-literal; do
        must_eval $c
        write_units $c
        cp -r "$T/units-$c" "$T/units-$c.before"
        before=$(trigger $c)
        must_eval $c && write_units $c
        [ "$(trigger $c)" = "$before" ] || fail "$c: the reload trigger changed without a change of the inventory"
done
cp "$T/inventory-host.json" "$T/inventory-host.json.orig"
make_inventory "$T/inventory-host.json" 4
for c in inventory-string inventory-literal; do
        before=$(cat "$(sed -n 's/^X-Reload-Triggers=//p' "$T/units-$c.before/provd.service")")
        must_eval $c && write_units $c
        [ "$(trigger $c)" != "$before" ] || fail "$c: editing the inventory file leaves the reload trigger as it was ($before): nixos-rebuild switch would not reload provd"
        # ... and changes nothing else: a reload, not a restart
        diff <(grep -v '^X-Reload-Triggers=' "$T/units-$c.before/provd.service") <(grep -v '^X-Reload-Triggers=' "$T/units-$c/provd.service") >/dev/null ||
                fail "$c: a new inventory changes more of the unit than its reload trigger (a restart): $(diff "$T/units-$c.before/provd.service" "$T/units-$c/provd.service")"
        # /etc/provd/inventory.json is the new inventory
        [ "$(jq '.nodes | length' "$(q $c '.etc["provd/inventory.json"]')")" = 4 ] || fail "$c: /etc/provd/inventory.json is not the edited file"
done
mv "$T/inventory-host.json.orig" "$T/inventory-host.json"
ok "inventory file outside the store (string and path literal): an edit changes only the reload trigger (nixos-rebuild switch reloads provd)"

# ================================================================== 3. installer.nix
must_eval installer
write_units installer
[ "$(q installer '.units | keys | join(" ")')" = provd-autoinstall.service ] || fail "installer: units $(q installer '.units | keys')"
[ "$(q installer '.build | length')" = 1 ] || fail "installer: expected the scripts to build: $(q installer .build)"
out=$(q installer '.build[0].out') bash -euc "$(q installer '.build[0].script')" || fail "installer: building the scripts"
cmp -s "$(q installer '.build[0].out')/bin/provd-autoinstall" "$SRC/installer/provd-autoinstall.sh" &&
        cmp -s "$(q installer '.build[0].out')/bin/provd-report" "$SRC/installer/provd-report.sh" || fail "installer: scripts package"
verify_clean "$T/units-installer" ./provd-autoinstall.service
unit_has installer provd-autoinstall.service 'ConditionKernelCommandLine=nixos.install'
unit_has installer provd-autoinstall.service 'ConditionKernelCommandLine=provd.token'
unit_has installer provd-autoinstall.service 'Type=oneshot'
unit_has installer provd-autoinstall.service "Environment=\"PROVD_REPORT=$(q installer '.build[0].out')/bin/provd-report\""
unit_lacks installer provd-autoinstall.service NOREBOOT
[ "$(q installer '.nixSettings.substituters | join(" ")')" = http://boot.cluster.example:5000 ] || fail "installer: substituters $(q installer .nixSettings)"
q installer '.nixSettings["trusted-public-keys"][]' | grep -qxF 'boot.cluster.example-1:AbCd...=' || fail "installer: keys $(q installer .nixSettings)"
[ "$(q installer '.kernelParams | join(" ")')" = "console=tty0 console=ttyS0,115200" ] || fail "installer: kernelParams $(q installer .kernelParams)"
must_eval installer-default-caches
write_units installer-default-caches
[ "$(q installer-default-caches '.nixSettings.substituters | join(" ")')" = "http://boot.cluster.example:5000 https://cache.nixos.org/" ] ||
        fail "installer, onlySiteCaches = false: substituters $(q installer-default-caches .nixSettings)"
unit_has installer-default-caches provd-autoinstall.service 'Environment="PROVD_AUTOINSTALL_NOREBOOT=1"'
expect_assertion assert-installer-substituters "provd.installer.substituters must name the site's binary cache: the installer realises install scripts from it"
ok "installer.nix: unit verifies with the scripts built, site caches only (or added), keys, console, reboot switch, substituters assertion"

# ================================================================== 4. install-script.nix
must_eval install-script
printf '#!/bin/sh\necho "report $1: $2" >>"$PROVD_TEST_LOG"\n' >"$T/report"
chmod +x "$T/report"
for n in node-01 node-03-plain; do
        script=$(q install-script ".\"$n\".script")
        toplevel=$(q install-script ".\"$n\".toplevel")
        bash -n "$script" || fail "install script of $n: bash -n"
        : >"$T/install.log"
        PROVD_TEST_LOG=$T/install.log PROVD_REPORT=$T/report bash "$script" >"$T/install.out" 2>&1 || fail "install script of $n: $(cat "$T/install.out")"
        host=${n%-plain}
        case $n in
        node-01) args="--root /mnt --system $toplevel --no-root-passwd --no-channel-copy"; root=/mnt ;;
        *) args="--root /target --system $toplevel --no-root-passwd --no-channel-copy --max-jobs 4"; root=/target ;;
        esac
        [ "$(cat "$T/install.log")" = "$(printf '%s\n' "report partitioning: partitioning and mounting $root" "partitioned $host" \
                "report installing: nixos-install $toplevel" "nixos-install $args")" ] || fail "install script of $n ran: $(cat "$T/install.log")"
done
nix-store --query --references "$(q install-script '."node-01".script')" | grep -qxF "$(q install-script '."node-01".toplevel')" ||
        fail "install script of node-01 does not refer to its system (systemInScriptClosure = true)"
! nix-store --query --references "$(q install-script '."node-03-plain".script')" | grep -qF nixos-system ||
        fail "install script of node-03 refers to its system although systemInScriptClosure = false"
ok "install-script.nix: the script parses and runs (report partitioning, partition, report installing, nixos-install with the node's system); references as systemInScriptClosure says"

# ================================================================== 5. inventory.nix on evaluated systems
must_eval inventory
readme_inv=$(q inventory .readme)
python3 - "$SRC/api/inventory.schema.json" "$readme_inv" "$(q inventory .unclosed)" <<'PY' || fail "inventory from evaluated systems does not validate against the schema"
import json, sys, jsonschema
v = jsonschema.Draft202012Validator(json.load(open(sys.argv[1])))
for f in sys.argv[2:]:
    v.validate(json.load(open(f)))
PY
refs=$(nix-store --query --references "$readme_inv")
for n in node-01 node-02; do
        for p in "$(jq -r --arg n $n '.nodes[] | select(.name == $n) | .system.toplevel' "$readme_inv")" \
                "$(jq -r --arg n $n '.nodes[] | select(.name == $n) | .system.install' "$readme_inv")"; do
                grep -qxF "$p" <<<"$refs" || fail "inventory does not refer to $p (systemsInClosure = true)"
        done
done
refs=$(nix-store --query --references "$(q inventory .unclosed)")
! grep -qE -- '-nixos-system-node-|-provd-install-' <<<"$refs" || fail "inventory with systemsInClosure = false refers to: $refs"
grep -qF -- '-nixos-system-provd-installer' <<<"$refs" || fail "inventory does not refer to the installer's system: $refs"
[ "$(jq -r '.nodes[0].boot.cmdline' "$readme_inv")" = "init=$(grep -F -- -nixos-system-provd-installer <<<"$refs")/init console=tty0 console=ttyS0,115200" ] ||
        fail "inventory cmdline: $(jq -r '.nodes[0].boot.cmdline' "$readme_inv")"
ok "inventory.nix on systems evaluated with install-script.nix and installer.nix: schema-valid, installer's init= and console, references as systemsInClosure says"

# ================================================================== 6. package.nix
must_eval package
[ "$(q package .version)" = "$(sed -n "s/^  version : '\(.*\)',$/\1/p" "$SRC/meson.build")" ] || fail "package version $(q package .version) is not meson.build's"
[ "$(q package '.meta.mainProgram')" = provd ] || fail "package meta.mainProgram"
# every dependency() of the meson files, as the nixpkgs attribute that provides it
declare -A provider=([libmicrohttpd]=libmicrohttpd [jansson]=jansson [sqlite3]=sqlite [libsodium]=libsodium [inih]=libinih
        [libsystemd]=systemd [libcurl]=curl [threads]=- [libfreeipmi]=freeipmi [libipmiconsole]=freeipmi [libpcap]=libpcap [libarchive]=libarchive [check]=check [libpq]=libpq)
while read -r dep; do
        [ -n "${provider[$dep]:-}" ] || fail "meson dependency('$dep') has no nixpkgs attribute in this test's table: add it (and to nix/package.nix)"
        [ "${provider[$dep]}" = - ] || q package '.buildInputs[]' | grep -qxF "${provider[$dep]}" ||
                fail "nix/package.nix lacks ${provider[$dep]} (meson dependency('$dep')): buildInputs $(q package .buildInputs)"
done < <(grep -rhoE "dependency\('[^']+'" --include=meson.build --exclude-dir='build*' --exclude-dir=.git "$SRC" | sed -e "s/^dependency('//" -e "s/'$//" | sort -u)
for p in meson ninja pkg-config python3; do q package '.nativeBuildInputs[]' | grep -qxF $p || fail "package nativeBuildInputs lacks $p"; done
# the meson flags are options of this tree's build, with values meson takes
meson introspect --buildoptions "$(dirname "$PROVD")" >"$T/options.json" 2>/dev/null || fail "meson introspect $(dirname "$PROVD")"
while read -r flag; do
        [[ $flag =~ ^-D([^=]+)=(.*)$ ]] || fail "package mesonFlags: '$flag' is not -Dname=value"
        name=${BASH_REMATCH[1]} value=${BASH_REMATCH[2]}
        jq -e --arg n "$name" --arg v "$value" '.[] | select(.name == $n) |
                if .type == "boolean" then ($v == "true" or $v == "false") elif .choices then (.choices | index($v)) != null else true end' \
                "$T/options.json" >/dev/null || fail "package mesonFlags: $flag is not an option of this meson build (or a value it takes)"
done < <(q package '.mesonFlags[]')
[ "$(q package .doCheck)" = true ] && q package .checkPhase | grep -q -- '--suite unit' || fail "package checkPhase: $(q package .checkPhase)"
grep -q "suite : 'unit'" "$SRC/tests/meson.build" || fail "tests/meson.build has no suite 'unit' for the package's checkPhase"
# the filtered source: every tracked file, no build directory, no .git
src=$(q package .src)
[[ $src == /nix/store/* ]] && [ -f "$src/meson.build" ] || fail "package src: $src"
! find "$src" -maxdepth 1 \( -name 'build*' -o -name .git \) | grep -q . || fail "package src holds $(find "$src" -maxdepth 1 -name 'build*' -o -maxdepth 1 -name .git)"
if git -C "$SRC" rev-parse --show-toplevel >/dev/null 2>&1; then
        missing=$(cd "$SRC" && git ls-files | while IFS= read -r f; do [ -e "$src/$f" ] || [ ! -e "$f" ] || echo "$f"; done)
        [ -z "$missing" ] || fail "package src lacks tracked files: $(head -n 5 <<<"$missing")"
fi
for f in installer/provd-report.sh installer/provd-autoinstall.sh api/inventory.schema.json scripts/embed.py; do
        [ -f "$src/$f" ] || fail "package src lacks $f (postInstall / build)"
done
ok "package.nix through callPackage: $(q package .name), inputs cover meson's dependency()s, meson flags valid, source filter keeps every tracked file"

# ================================================================== 7. node.nix
# node: the defaults; node-custom: another interval and files under $T/node-files.  Units
# rendered as NixOS's systemd.nix renders systemd.services and systemd.timers (serviceToUnit,
# timerToUnit of the given nixpkgs).
for c in node node-custom; do
        must_eval $c
        write_units $c
        [ "$(q $c '.units | keys | join(" ")')" = "provd-node-report.service provd-node-report.timer" ] || fail "$c: units $(q $c '.units | keys')"
        [ "$(q $c '.warnings | length')" = 0 ] || fail "$c: warnings: $(q $c .warnings)"
done
# the reporter package, built by its own runCommand script: ExecStart= names it
pkgout=$(q node .nodePackage.out)
out=$pkgout bash -euc "$(q node .nodePackage.script)" 2>"$T/node-build.err" || fail "building services.provd-node.package: $(cat "$T/node-build.err")"
[ -x "$pkgout/bin/provd-node-report" ] && cmp -s "$pkgout/bin/provd-node-report" "$SRC/installer/provd-node-report.sh" ||
        fail "services.provd-node.package: bin/provd-node-report is not installer/provd-node-report.sh"
for c in node node-custom; do
        [ "$(execstart $c provd-node-report.service)" = "$pkgout/bin/provd-node-report" ] ||
                fail "$c: ExecStart=$(execstart $c provd-node-report.service), not the package's bin/provd-node-report"
        verify_clean "$T/units-$c" ./provd-node-report.service ./provd-node-report.timer
done
s=provd-node-report.service
# at boot: wanted by multi-user.target, after (and wanting) network-online.target; on every
# activation: inactive after a run, so starting multi-user.target starts it again
[ "$(q node '.wantedBy["provd-node-report"] | join(" ")')" = multi-user.target ] || fail "node: $s wantedBy $(q node .wantedBy)"
[ "$(q node '.wantedBy["provd-node-report.timer"] | join(" ")')" = timers.target ] || fail "node: the timer is wantedBy $(q node .wantedBy)"
unit_has node $s 'After=network-online.target'
unit_has node $s 'Wants=network-online.target'
unit_has node $s 'Type=exec'
unit_lacks node $s 'RemainAfterExit'
unit_has node $s 'DynamicUser=true'
unit_has node $s 'Environment="PROVD_NODE_DIR=%d"'
for f in url node credential; do
        unit_has node $s "LoadCredential=$f:/var/lib/provd-node/$f"
        unit_has node $s "ConditionPathExists=/var/lib/provd-node/$f"
        unit_has node-custom $s "LoadCredential=$f:$T/node-files/$f"
done
[ "$(grep -c '^LoadCredential=' "$T/units-node/$s")" = 3 ] || fail "node: $s: LoadCredential= lines: $(grep '^LoadCredential=' "$T/units-node/$s")"
# the timer: OnBootSec= and OnUnitActiveSec= are the interval, once each
for ci in node:15min node-custom:7min; do
        c=${ci%%:*} i=${ci#*:}
        for k in OnBootSec OnUnitActiveSec; do
                [ "$(sed -n "s/^$k=//p" "$T/units-$c/provd-node-report.timer")" = "$i" ] ||
                        fail "$c: the timer's $k is not the interval $i: $(cat "$T/units-$c/provd-node-report.timer")"
        done
done
(cd "$T/units-node" && systemd-analyze security --offline=yes --threshold=20 ./$s) >"$T/security-node.out" 2>&1 ||
        fail "node: systemd-analyze security: exposure above 2.0: $(grep -E '✗|Overall' "$T/security-node.out")"
# a credential in the store is refused by the assertion; a path literal by the option's type
expect_assertion assert-node-credential-in-store "services.provd-node.credentialFile is in the Nix store (/nix/store/00000000000000000000000000000000-credential): the node credential is a secret, and the store is world-readable"
if nixeval node-credential-literal; then fail "a path literal as services.provd-node.credentialFile evaluated"; fi
grep -qF "option \`services.provd-node.credentialFile' is not of type \`string'" "$T/node-credential-literal.err" ||
        fail "node-credential-literal: $(cat "$T/node-credential-literal.err")"
ok "node.nix: service and timer verify; wantedBy multi-user.target, after network-online.target, Type=exec without RemainAfterExit, 3 LoadCredential= lines, the timer on the interval; a credential in the store refused"

# --- the rendered ExecStart= against a real provd, as systemd would start it: the
# LoadCredential= files copied into a credentials directory (CREDENTIALS_DIRECTORY, %d), the
# unit's Environment= lines (PATH from the unit's `path`: curl; the stand-in coreutils gets
# the tools the reporter runs) and nothing else
mkdir -p "$T/pkgs/curl/bin"
ln -s "$(command -v curl)" "$T/pkgs/curl/bin/curl"
for tool in readlink uname tr sleep; do ln -s "$(type -P $tool)" "$T/pkgs/coreutils/bin/$tool"; done
sys=$(q node-custom .toplevel)
[[ $sys == /nix/store/*-nixos-system-node-01 && -e $sys ]] || fail "node-custom: system.build.toplevel $sys"
make_inventory "$T/inventory-node.json" 2
jq --arg s "$sys" '.nodes[0].system.toplevel = $s' "$T/inventory-node.json" >"$T/inventory-node.json.new" && mv "$T/inventory-node.json.new" "$T/inventory-node.json"
provd_start "$T/inventory-node.json"
tok=$(token_of 52:54:00:00:00:01)
expect_status 200 POST /v1/install/credential -H "Authorization: Bearer $tok"
mkdir -m 0700 "$T/node-files"
printf '%s\n' "$URL" >"$T/node-files/url"
printf '%s\n' node-01 >"$T/node-files/node"
printf '%s' "$BODY" | jq -r .credential >"$T/node-files/credential"
u=$T/units-node-custom/$s
while IFS= read -r p; do [ -e "$p" ] || fail "node-custom: ConditionPathExists=$p does not hold"; done < <(sed -n 's/^ConditionPathExists=//p' "$u")
creds=$T/node-credentials/$s
mkdir -p "$creds"
while IFS= read -r l; do cp "${l#*:}" "$creds/${l%%:*}"; done < <(sed -n 's/^LoadCredential=//p' "$u")
chmod -R go-rwx "$creds"
env=()
while IFS= read -r l; do
        l=$(jq -r . <<<"$l") # serviceToUnit writes Environment="NAME=VALUE" with JSON quoting
        l=${l//%d/$creds}
        [[ $l != *%* ]] || fail "node-custom: Environment=$l: a specifier this test does not expand"
        env+=("$l")
done < <(sed -n 's/^Environment=//p' "$u")
ln -s "$sys" "$T/node-current-system"
read -ra cmd <<<"$(execstart node-custom $s)"
env -i "${env[@]}" CREDENTIALS_DIRECTORY="$creds" PROVD_NODE_CURRENT_SYSTEM="$T/node-current-system" PROVD_NODE_BOOTED_SYSTEM="$T/node-current-system" \
        PROVD_NODE_REPORT_TRIES=1 "${cmd[@]}" >"$T/node-report.out" 2>"$T/node-report.err" ||
        fail "node-custom: the rendered ExecStart= exited $?: $(cat "$T/node-report.err")"
[ "$(cat "$T/node-report.out")" = "node-01: in_sync (running $sys)" ] || fail "node-custom: the reporter printed: $(cat "$T/node-report.out" "$T/node-report.err")"
expect_status 200 GET /v1/nodes/node-01
jq_eq .drift in_sync
jq_eq .report.running "$sys"
provd_stop
ok "node.nix: the rendered ExecStart=, with the unit's environment and the LoadCredential= files as systemd passes them, reports to provd: node-01 in_sync"

# ================================================================== 8. image.nix, stateless.nix
mkdir -p "$T/boot/image/kernel" "$T/boot/image/ramdisk"
head -c 100000 /dev/urandom >"$T/boot/image/kernel/bzImage"
head -c 50000 /dev/urandom >"$T/boot/image/ramdisk/initrd"
for c in image stateless-off; do
        must_eval $c
        write_units $c
        [ "$(q $c '.warnings | length')" = 0 ] || fail "$c: warnings: $(q $c .warnings)"
done
imgsys=$(q image .toplevel)
[[ $imgsys == /nix/store/*-nixos-system-unnamed && -e $imgsys ]] || fail "image: system.build.toplevel $imgsys"
[ "$(q image .provdImage)" = '{"cmdline":"console=ttyS0,115200 loglevel=4","init":"'"$imgsys"'/init","initrd":["'"$T"'/boot/image/ramdisk/initrd"],"kernel":"'"$T"'/boot/image/kernel/bzImage","toplevel":"'"$imgsys"'"}' ] ||
        fail "image: system.build.provdImage $(q image .provdImage)"
# the hostname is the overlay's: NixOS writes no /etc/hostname (a node that is not stateless
# still gets its own)
[ "$(q image .hostName)" = "" ] && [ "$(q image '.etc | has("hostname")')" = false ] || fail "image: hostName '$(q image .hostName)', /etc entries $(q image '.etc | keys')"
[ "$(q stateless-off '.etc | has("hostname")')" = true ] && [ "$(q stateless-off .postMountCommands)" = "" ] && [ "$(q stateless-off '.units | length')" = 0 ] ||
        fail "stateless.nix imported but not enabled changed the system: $(q stateless-off '{etc, postMountCommands, units}')"
# the reporter: at every boot (multi-user.target, inactive after a run), reading the overlay's files
[ "$(q image '.units | keys | join(" ")')" = "provd-node-report.service provd-node-report.timer" ] || fail "image: units $(q image '.units | keys')"
verify_clean "$T/units-image" ./provd-node-report.service ./provd-node-report.timer
[ "$(q image '.wantedBy["provd-node-report"] | join(" ")')" = multi-user.target ] || fail "image: the reporter is wantedBy $(q image .wantedBy)"
unit_lacks image provd-node-report.service RemainAfterExit
for f in url node credential; do unit_has image provd-node-report.service "LoadCredential=$f:/var/lib/provd-node/$f"; done
expect_assertion assert-stateless-hostname 'provd.stateless: networking.hostName is "compute": a stateless node takes its hostname from provd'"'"'s overlay (/etc/hostname); leave networking.hostName empty in the image'
expect_assertion assert-stateless-systemd-initrd "provd.stateless: boot.initrd.systemd.enable is set, but provd copies the overlay into the real root with the scripted initrd's boot.initrd.postMountCommands; use the scripted initrd in stateless images"
# inventory.nix on the evaluated image and the README's install nodes
must_eval image-inventory
iinv=$(jq -r . "$T/image-inventory.json")
[ "$(jq -c .images.compute "$iinv")" = "$(q image .provdImage)" ] || fail "image-inventory: images.compute $(jq -c .images "$iinv")"
[ "$(jq -c '[.nodes[] | "\(.name):\(.mode // "install"):\(.image // "-")"]' "$iinv")" = '["node-01:install:-","node-02:install:-","c001:stateless:compute","c002:stateless:compute"]' ] ||
        fail "image-inventory: nodes $(jq -c .nodes "$iinv")"
nix-store --query --references "$iinv" | grep -qxF "$imgsys" || fail "image-inventory does not refer to the image's system"
python3 -c 'import json, sys, jsonschema; jsonschema.Draft202012Validator(json.load(open(sys.argv[1]))).validate(json.load(open(sys.argv[2])))' \
        "$SRC/api/inventory.schema.json" "$iinv" || fail "image-inventory does not validate against the schema"
provd_start "$iinv"
expect_status 200 GET /v1/nodes/c001
jq_eq .system.toplevel "$imgsys"
expect_status 200 GET "/v1/files$T/boot/image/kernel/bzImage"
provd_stop
ok "image.nix + stateless.nix (stand-in netboot.nix): provdImage is the inventory's image entry, no NixOS /etc/hostname, the reporter runs at every boot, both assertions; inventory.nix on the image: schema-valid, provd loads it and serves the image's kernel"

# --- the stage-1 copy, run as stage 1 runs it.  A fake initramfs: busybox (stage 1's shell is
# ash) and a file of the image's own initramfs, then the overlay unpacked on top (cpio newc,
# owners and modes kept, as the kernel unpacks initramfs archives).
bb=$(command -v busybox)
[[ "$(ldd "$bb" 2>&1 || true)" == *"not a dynamic executable"* ]] || skip "$bb is not a static busybox (busybox-static), which the chroot needs"
fi=$T/initramfs
mkdir -p "$fi/bin" "$fi/etc" "$fi/mnt-root"
cp "$bb" "$fi/bin/busybox"
for a in sh cp mkdir rm cat; do ln -s busybox "$fi/bin/$a"; done
: >"$fi/etc/fstab" # stage-1-init.sh makes it
# an overlay in daemon/overlay.h's layout, made here with owners and modes the renderer's own
# test cannot give (a file owned by 997:997)
credential=pvn_not-a-real-credential
URL=http://provd.example:8080
ov=$T/overlay-src
mkdir -p "$ov/etc/provd" "$ov/etc/ssh" "$ov/etc/munge" "$ov/var/lib/provd-node"
printf 'c001\n' >"$ov/etc/hostname"
printf 'c001\n' >"$ov/var/lib/provd-node/node"
printf '%s\n' "$URL" >"$ov/var/lib/provd-node/url"
printf '%s\n' "$credential" >"$ov/var/lib/provd-node/credential"
head -c 64 /dev/urandom >"$ov/etc/ssh/ssh_host_ed25519_key"
head -c 1024 /dev/urandom >"$ov/etc/munge/munge.key"
printf '%s\n' /etc/hostname /var/lib/provd-node/node /var/lib/provd-node/url /var/lib/provd-node/credential \
        /etc/ssh/ssh_host_ed25519_key /etc/munge/munge.key >"$ov/etc/provd/overlay.manifest"
find "$ov" -type d -exec chmod 0755 {} +
chmod 0644 "$ov/etc/hostname" "$ov/var/lib/provd-node/node" "$ov/var/lib/provd-node/url" "$ov/etc/provd/overlay.manifest"
chmod 0600 "$ov/var/lib/provd-node/credential" "$ov/etc/ssh/ssh_host_ed25519_key"
chmod 0400 "$ov/etc/munge/munge.key"
chown -R 0:0 "$ov"
chown 997:997 "$ov/etc/munge/munge.key"
(cd "$ov" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet) >"$T/overlay.cpio" || fail "cpio -o"
(cd "$fi" && cpio -idmu --quiet --no-absolute-filenames) <"$T/overlay.cpio" || fail "cpio -i of the overlay"
q image .postMountCommands >"$fi/postmount.sh"
# stage1 OUT: the rendered commands, where stage-1-init.sh runs them ($targetRoot mounted)
stage1() {
        rm -rf "$fi/mnt-root" && mkdir "$fi/mnt-root"
        env -i PATH=/bin "$(command -v chroot)" "$fi" /bin/sh -c 'targetRoot=/mnt-root; . /postmount.sh; echo "stage 1 goes on"' >"$1" 2>&1 ||
                fail "the stage-1 commands failed: $(cat "$1")"
        tail -n 1 "$1" | grep -qx 'stage 1 goes on' || fail "the stage-1 commands ended stage 1: $(cat "$1")"
}
stage1 "$T/stage1.out"
grep -qx 'provd: overlay: 6 file(s) copied into /mnt-root' "$T/stage1.out" || fail "stage 1 printed: $(cat "$T/stage1.out")"
listing=$(cd "$fi/mnt-root" && find . -mindepth 1 -printf '%P %y %m %U:%G\n' | LC_ALL=C sort)
[ "$listing" = "$(printf '%s\n' 'etc d 755 0:0' 'etc/hostname f 644 0:0' 'etc/munge d 755 0:0' 'etc/munge/munge.key f 400 997:997' \
        'etc/provd d 755 0:0' 'etc/provd/overlay.manifest f 644 0:0' 'etc/ssh d 755 0:0' 'etc/ssh/ssh_host_ed25519_key f 600 0:0' \
        'var d 755 0:0' 'var/lib d 755 0:0' 'var/lib/provd-node d 755 0:0' 'var/lib/provd-node/credential f 600 0:0' \
        'var/lib/provd-node/node f 644 0:0' 'var/lib/provd-node/url f 644 0:0')" ] || fail "the real root after stage 1:
$listing"
while IFS= read -r p; do cmp -s "$ov$p" "$fi/mnt-root$p" || fail "stage 1 copied $p with other bytes"; done <"$ov/etc/provd/overlay.manifest"
ok "stage 1 (busybox sh, a real cpio overlay on an initramfs): every manifest path in \$targetRoot with its mode, owner and bytes; the manifest too"

# --- the real thing: provd boots c001 of the image inventory (its image, a boot token, the
# overlay URL last); the overlay provd serves for that boot goes into a fresh initramfs;
# stage 1 copies it; the image's reporter, reading the copied files as systemd starts it
# (credentials directory, the unit's Environment=), reports, and provd moves c001 from
# booting to running.
mkdir -p "$T/secrets/c001"
head -c 64 /dev/urandom >"$T/secrets/c001/ssh_host_ed25519_key"
provd_start "$iinv" --public-url http://127.0.0.1:1
# (public_url only names what the answers carry; the test reaches provd at $URL)
expect_status 200 GET /v1/boot/52:54:00:00:10:01
ov_url=$(printf '%s' "$BODY" | jq -r '.initrd[-1]')
cmdline=$(printf '%s' "$BODY" | jq -r .cmdline)
[ "$(printf '%s' "$BODY" | jq -r '.initrd[0]')" = "http://127.0.0.1:1/v1/files$T/boot/image/ramdisk/initrd" ] || fail "c001's first initrd: $(short_body)"
[[ $ov_url == http://127.0.0.1:1/v1/overlay/* ]] || fail "c001's last initrd is not its overlay: $ov_url"
case " $cmdline " in *" init=$imgsys/init "*" provd.node=c001 "*) ;; *) fail "c001's cmdline: $cmdline" ;; esac
case "$cmdline" in "console=ttyS0,115200 loglevel=4 "*) ;; *) fail "c001's cmdline does not start with the image's kernelParams: $cmdline" ;; esac
expect_status 200 GET "/v1/overlay/${ov_url##*/}"
cp "$T/body" "$T/c001-overlay"
expect_status 200 GET /v1/nodes/c001
jq_eq .state booting
# a fresh initramfs: busybox, then the overlay as the kernel unpacks it (gzip or not)
rm -rf "$fi" && mkdir -p "$fi/bin" "$fi/etc" "$fi/mnt-root"
cp "$bb" "$fi/bin/busybox"
for a in sh cp mkdir rm cat; do ln -s busybox "$fi/bin/$a"; done
: >"$fi/etc/fstab"
q image .postMountCommands >"$fi/postmount.sh"
if [ "$(head -c 2 "$T/c001-overlay" | od -An -tx1 | tr -d ' ')" = 1f8b ]; then unpack=(gzip -dc); else unpack=(cat); fi
"${unpack[@]}" <"$T/c001-overlay" | (cd "$fi" && cpio -idmu --quiet --no-absolute-filenames) || fail "unpacking provd's overlay of c001"
stage1 "$T/stage1-c001.out"
r=$fi/mnt-root
[ "$(cat "$r/etc/hostname")" = c001 ] && [ "$(cat "$r/var/lib/provd-node/node")" = c001 ] && [ "$(cat "$r/var/lib/provd-node/url")" = http://127.0.0.1:1 ] ||
        fail "c001's identity after stage 1: $(cat "$r/etc/hostname" "$r/var/lib/provd-node/node" "$r/var/lib/provd-node/url" 2>&1)"
cmp -s "$r/etc/ssh/ssh_host_ed25519_key" "$T/secrets/c001/ssh_host_ed25519_key" || fail "c001's SSH host key after stage 1 is not its secret"
[ "$(stat -c '%a %u:%g' "$r/var/lib/provd-node/credential" "$r/etc/ssh/ssh_host_ed25519_key" "$r/etc/hostname" | tr '\n' ' ')" = "600 0:0 600 0:0 644 0:0 " ] ||
        fail "c001's modes after stage 1: $(cd "$r" && find . -printf '%P %m %U:%G\n')"
[[ "$(cat "$r/var/lib/provd-node/credential")" == pvn_* ]] || fail "c001 has no node credential after stage 1"
# the reporter reaches provd at the test's address: the url file as a node on the cluster
# network would have it
printf '%s\n' "$URL" >"$r/var/lib/provd-node/url"
must_eval image-fakeroot
write_units image-fakeroot
u=$T/units-image-fakeroot/provd-node-report.service
while IFS= read -r p; do [ -e "$p" ] || fail "image-fakeroot: ConditionPathExists=$p does not hold"; done < <(sed -n 's/^ConditionPathExists=//p' "$u")
creds=$T/image-credentials
mkdir -p "$creds"
while IFS= read -r l; do cp "${l#*:}" "$creds/${l%%:*}"; done < <(sed -n 's/^LoadCredential=//p' "$u")
chmod -R go-rwx "$creds"
env=()
while IFS= read -r l; do
        l=$(jq -r . <<<"$l")
        env+=("${l//%d/$creds}")
done < <(sed -n 's/^Environment=//p' "$u")
ln -sfn "$imgsys" "$T/image-current-system"
read -ra cmd <<<"$(execstart image-fakeroot provd-node-report.service)"
env -i "${env[@]}" CREDENTIALS_DIRECTORY="$creds" PROVD_NODE_CURRENT_SYSTEM="$T/image-current-system" PROVD_NODE_BOOTED_SYSTEM="$T/image-current-system" \
        PROVD_NODE_REPORT_TRIES=1 "${cmd[@]}" >"$T/image-report.out" 2>"$T/image-report.err" ||
        fail "image-fakeroot: the rendered ExecStart= exited $?: $(cat "$T/image-report.err")"
[ "$(cat "$T/image-report.out")" = "c001: in_sync (running $imgsys)" ] || fail "image-fakeroot: the reporter printed: $(cat "$T/image-report.out" "$T/image-report.err")"
expect_status 200 GET /v1/nodes/c001
jq_eq .state running
jq_eq .report.running "$imgsys"
jq_eq .boot.outcome running
# the boot is over: its overlay (which holds the credential) is no longer served
expect_status 404 GET "/v1/overlay/${ov_url##*/}"
provd_stop
ok "provd boots c001 on the image and serves its overlay; stage 1 copies it (identity, credential 0600, its SSH host key); the image's reporter, reading the copied files, moves c001 from booting to running"

# bad manifest lines are skipped (the rest is copied); no overlay at all is not an error
ln -s hostname "$fi/etc/link"
printf '%s\n' etc/relative /etc/../etc/hostname /etc/missing /etc/link "" /etc/hostname >"$fi/etc/provd/overlay.manifest"
stage1 "$T/stage1-bad.out"
[ "$(cat "$T/stage1-bad.out")" = "$(printf '%s\n' "provd: overlay manifest line 'etc/relative' is not an absolute path: skipped" \
        "provd: overlay manifest path '/etc/../etc/hostname' is not clean: skipped" \
        'provd: overlay manifest path /etc/missing is not a regular file in the initramfs: skipped' \
        'provd: overlay manifest path /etc/link is not a regular file in the initramfs: skipped' \
        'provd: overlay: 1 file(s) copied into /mnt-root' 'stage 1 goes on')" ] || fail "stage 1 with bad manifest lines printed: $(cat "$T/stage1-bad.out")"
[ "$(cd "$fi/mnt-root" && find . -type f | LC_ALL=C sort | tr '\n' ' ')" = "./etc/hostname ./etc/provd/overlay.manifest " ] || fail "bad manifest: copied $(cd "$fi/mnt-root" && find . -type f)"
rm "$fi/etc/provd/overlay.manifest"
stage1 "$T/stage1-none.out"
grep -qxF 'provd: no overlay in the initramfs (/etc/provd/overlay.manifest missing): this node boots without its identity' "$T/stage1-none.out" ||
        fail "stage 1 without an overlay printed: $(cat "$T/stage1-none.out")"
[ -z "$(ls -A "$fi/mnt-root")" ] || fail "stage 1 without an overlay wrote $(ls -A "$fi/mnt-root")"
ok "stage 1: bad manifest lines (relative, unclean, missing, symlink) skipped with a message, the rest copied; no overlay: a message, boot goes on"
