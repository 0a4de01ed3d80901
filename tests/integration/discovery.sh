#!/usr/bin/env bash
# discovery.sh — discovery of unknown PXE clients, with real DHCP clients, inside a
# network namespace this test creates (provd-disc-<pid>, deleted at exit): a bridge br0 with
# veth pairs and a tap, provd capturing on br0 (discovery_interface = br0), and
#  (a) busybox udhcpc with the PXE vendor class, option 93 (arch 7) and option 97 (a UUID)
#      from a MAC not in the inventory -> GET /v1/discovered shows it; the same from a MAC of
#      the inventory and a plain (non-PXE) udhcpc -> not recorded, counted known / not_pxe;
#  (b) iPXE in QEMU (TCG, e1000: SeaBIOS runs Debian's iPXE ROM) with an unknown MAC, dnsmasq
#      on br0 giving it an address and provd's /v1/ipxe -> recorded with ipxe true and the
#      PXEClient vendor class; the VM's serial shows provd's "not in the inventory" script;
#  (c) the malformed capture of tests/tools/dhcp-pcap replayed onto br0 with
#      tests/tools/pcap-replay -> provd alive, its malformed counters equal the capture's
#      expected counts, and a valid packet sent afterwards is still recorded;
#  (d) DELETE /v1/discovered/{mac} and `provd discovered forget` forget; a restart keeps the
#      rows; `provd discovered --nix` parses (nix-instantiate --parse) and evaluates through
#      nix/inventory.nix as the node list; a reload that adds a discovered MAC to the
#      inventory removes its row; a capture that cannot be opened fails `provd serve`.
# Needs root (ip netns); skips (77) when a tool is missing or ip netns is unusable, unless
# PROVD_TESTS_NO_SKIP=1.  Facts: checked on these machines.
set -euo pipefail

skip() {
        if [ -n "${PROVD_TESTS_NO_SKIP:-}" ]; then
                echo "FAIL [discovery]: $1" >&2
                exit 1
        fi
        echo "SKIP: $1"
        exit 77
}

# The outer run makes the namespace and runs this script again inside it.
source "$(dirname "${BASH_SOURCE[0]}")/lib-netns.sh"
netns_enter discovery -- "$@"

source "$(dirname "$0")/lib.sh"
for t in busybox jq curl sqlite3; do
        command -v "$t" >/dev/null || skip "$t missing"
done
busybox udhcpc --help >/dev/null 2>&1 || skip "busybox has no udhcpc"
NIXI=(nix-instantiate --option substituters '' --option build-users-group '')
command -v nix-instantiate >/dev/null || skip "nix-instantiate missing (nix-bin)"
QEMU=$(command -v qemu-system-x86_64) || skip "qemu-system-x86_64 missing"
DNSMASQ=$(command -v dnsmasq) || skip "dnsmasq missing (dnsmasq-base)"
REPLAY_DIR=$(dirname "$PROVD_BIN")/tests
[ -x "$REPLAY_DIR/dhcp-pcap" ] && [ -x "$REPLAY_DIR/pcap-replay" ] || skip "tests/tools dhcp-pcap / pcap-replay not built"

# --- the network ------------------------------------------------------------------------------
ip link set lo up
ip link add br0 type bridge
ip addr add 10.77.0.1/24 dev br0
ip addr add fd00:77::1/64 dev br0 nodad
ip link set br0 up
# veth pairs: cN is the client end, cNb its bridge port
for i in 1 2 3 4; do
        ip link add "c$i" type veth peer name "c${i}b"
        ip link set "c${i}b" master br0
        ip link set "c${i}b" up
done
ip link set c1 address 52:54:00:d1:5c:01 # unknown, PXE
ip link set c2 address 52:54:00:00:00:01 # node-01 of the inventory, PXE
ip link set c3 address 52:54:00:d1:5c:03 # unknown, not PXE
ip link set c4 address 52:54:00:d1:5c:04 # unknown, PXE, sent after the malformed capture
for i in 1 2 3 4; do ip link set "c$i" up; done

make_inventory "$T/inv.json" 2
cp "$T/inv.json" "$T/inv-good.json"
api_token "$T/api-tokens" >"$T/token"
printf '[serve]\napi_tokens = %s\ndiscovery_interface = br0\n' "$T/api-tokens" >"$T/provd.ini"
start() { provd_start "$T/inv.json" --config "$T/provd.ini" --listen 10.77.0.1:0 --log-level debug; }
start
grep -qF 'discovery: capturing DHCP ((udp and dst port 67) or (vlan and udp and dst port 67)) on interface br0' "$LOG" || fail "no capture start line: $(cat "$LOG")"

# metric NAME: a sample's value in /metrics (0 when absent)
metric() {
        curl -sS "$URL/metrics" | awk -v k="$1" '$1 == k { print $2; f = 1 } END { if (!f) print 0 }'
}
dresult() { metric "provd_discovery_packets_total{result=\"$1\"}"; }
# wait_discovered MAC JQ_CONDITION SECONDS: until GET /v1/discovered has MAC with the condition
wait_discovered() {
        local mac=$1 cond=$2 n=$(($3 * 10))
        for _ in $(seq "$n"); do
                http GET /v1/discovered
                [ "$(jq -r --arg m "$mac" "[.discovered[] | select(.mac == \$m) | select($cond)] | length" <<<"$BODY")" = 1 ] && return 0
                sleep 0.1
        done
        fail "GET /v1/discovered: no $mac with $cond after $3 s: $BODY"
}
UUID_HEX=8a3f1c2e0b4d4e5f9a6b7c8d9e0f1a2b
UUID=8a3f1c2e-0b4d-4e5f-9a6b-7c8d9e0f1a2b
PXE_OPTS=(-V PXEClient:Arch:00007:UNDI:003016 -x 0x5d:0007 -x "0x61:00$UUID_HEX")
udhcpc() { busybox udhcpc -f -n -q -t 2 -T 1 -s /bin/true "$@" >>"$T/udhcpc.log" 2>&1; }

# --- (a) udhcpc ----------------------------------------------------------------------------------
udhcpc -i c1 "${PXE_OPTS[@]}" &
p1=$!
udhcpc -i c2 "${PXE_OPTS[@]}" &
p2=$!
udhcpc -i c3 &
p3=$!
PIDS+=("$p1" "$p2" "$p3")
wait "$p1" || true
wait "$p2" || true
wait "$p3" || true
grep -q 'broadcasting discover' "$T/udhcpc.log" || fail "udhcpc sent nothing: $(cat "$T/udhcpc.log")"
wait_discovered 52:54:00:d1:5c:01 '.count >= 1' 5
e=$(jq -c '.discovered[] | select(.mac == "52:54:00:d1:5c:01")' <<<"$BODY")
[ "$(jq -r '"\(.arch) \(.arch_name) \(.uuid) \(.vendor_class) \(.user_class == "") \(.ipxe) \(.interface)"' <<<"$e")" = \
        "7 x64 UEFI $UUID PXEClient:Arch:00007:UNDI:003016 true false br0" ] || fail "udhcpc's entry: $e"
[ "$(jq '.discovered | length' <<<"$BODY")" = 1 ] || fail "more than the unknown PXE client recorded: $BODY"
[ "$(dresult known)" -ge 1 ] || fail "the inventory MAC's DISCOVERs were not counted as known"
[ "$(dresult not_pxe)" -ge 1 ] || fail "the plain udhcpc's DISCOVERs were not counted as not_pxe"
[ "$(metric provd_discovered_nodes)" = 1 ] || fail "provd_discovered_nodes is not 1"
grep -q 'discovery: new PXE client 52:54:00:d1:5c:01 on br0: arch 7 (x64 UEFI)' "$LOG" || fail "no log line for the new client"
ok "(a) udhcpc: unknown PXE client recorded (arch 7, UUID, vendor class); inventory MAC counted known, non-PXE counted not_pxe, neither recorded"

# The answer matches the OpenAPI spec (when its validator is installed).
OA="$SRC/tests/openapi"
if command -v node >/dev/null && [ -d "$OA/node_modules/ajv" ]; then
        curl -sS -D "$T/d.head" -o "$T/d.body" "$URL/v1/discovered"
        node "$OA/validate.mjs" check "$SRC/api/openapi.yaml" GET /v1/discovered 200 "$T/d.head" "$T/d.body" >"$T/validate.out" 2>&1 ||
                fail "GET /v1/discovered does not match api/openapi.yaml: $(cat "$T/validate.out")"
        ok "GET /v1/discovered validates against api/openapi.yaml"
fi

# --- (b) iPXE in QEMU ----------------------------------------------------------------------------
PORT=${URL##*:}
VM_MAC=52:54:00:d1:5c:07
VM_UUID=5c0b1e3a-7d2f-4c69-8e14-0a9b8c7d6e5f
"$DNSMASQ" --keep-in-foreground --conf-file=/dev/null --user=root --group=root --port=0 --interface=br0 --bind-interfaces \
        --dhcp-range=10.77.0.100,10.77.0.199,1h --enable-ra --dhcp-range=::,constructor:br0,ra-only \
        --dhcp-userclass=set:ipxe,iPXE "--dhcp-boot=tag:ipxe,http://10.77.0.1:$PORT/v1/ipxe" \
        --dhcp-leasefile="$T/leases" --pid-file="$T/dnsmasq.pid" --log-facility=- --log-dhcp >"$T/dnsmasq.log" 2>&1 &
PIDS+=($!)
ip tuntap add dev tap0 mode tap
ip link set tap0 master br0
ip link set tap0 up
"$QEMU" -accel tcg -machine pc,graphics=off -m 256 -nodefaults -display none -boot n -uuid "$VM_UUID" \
        -netdev tap,id=n0,ifname=tap0,script=no,downscript=no -device "e1000,netdev=n0,mac=$VM_MAC" \
        -serial "file:$T/serial.log" </dev/null >"$T/qemu.log" 2>&1 &
QEMU_PID=$!
PIDS+=("$QEMU_PID")
wait_discovered "$VM_MAC" '.ipxe' 60
e=$(jq -c --arg m "$VM_MAC" '.discovered[] | select(.mac == $m)' <<<"$BODY")
echo "# iPXE's entry: $e"
[[ "$(jq -r .vendor_class <<<"$e")" == PXEClient* ]] || fail "iPXE's vendor class: $e"
[[ "$(jq -r .user_class <<<"$e")" == *iPXE* ]] || fail "iPXE's user class: $e"
[ "$(jq -r '"\(.arch) \(.arch_name)"' <<<"$e")" = "0 x86 BIOS" ] || fail "iPXE's arch (BIOS): $e"
# Option 97 as iPXE sends it: the SMBIOS UUID bytes as SMBIOS stores them, the first three
# fields little-endian (QEMU -uuid 5c0b1e3a-7d2f-4c69-... -> 3a1e0b5c-2f7d-694c-...); provd
# shows the bytes in the order sent.
[ "$(jq -r .uuid <<<"$e")" = 3a1e0b5c-2f7d-694c-8e14-0a9b8c7d6e5f ] || fail "iPXE's UUID (option 97): $e"
# Let iPXE get its address and ask provd, then stop it.
for _ in $(seq 200); do
        grep -q 'not in the inventory' "$T/serial.log" && break
        sleep 0.2
done
strip() { tr -d '\r\b' <"$1" | sed -e 's/\x1b\[[0-9;?]*[A-Za-z]//g'; }
grep -q 'not in the inventory' "$T/serial.log" ||
        fail "iPXE did not show provd's unknown-MAC script within 40 s; serial: $(strip "$T/serial.log" | tail -n 8); dnsmasq: $(tail -n 8 "$T/dnsmasq.log")"
kill -KILL "$QEMU_PID"
wait "$QEMU_PID" 2>/dev/null || true
ok "(b) iPXE in QEMU: recorded with ipxe true, vendor class $(jq -r .vendor_class <<<"$e"), arch 0, UUID; iPXE then got provd's unknown-MAC script"

# --- (c) a malformed capture replayed ------------------------------------------------------------
# dhcp-pcap writes the capture and one expectation per frame (INDEX RESULT MAC PXE TYPE FILTER
# DESCRIPTION; FILTER: whether the discovery thread's filter passes it).  pcap-replay sends it from
# br0 itself: a packet socket on br0 sees br0's outgoing frames as sent, whereas frames
# entering through a bridge port are filtered by the bridge (invalid source MACs dropped,
# unicast to other hosts not passed up).  1 frame per 100 us keeps the capture buffer ahead.
"$REPLAY_DIR/dhcp-pcap" "$T/dhcp.pcap" >"$T/expect.tsv" || fail "dhcp-pcap failed"
sleep 1.2 # the VM's last packets are in the store and counted: the counters are settled
results=(ok not_pxe known recorded dropped_full not_dhcp truncated bad_length bad_magic bad_option bad_hwaddr too_many_options)
declare -A before want
for r in "${results[@]}"; do before[$r]=$(dresult "$r"); want[$r]=0; done
while IFS=$'\t' read -r _ result _ pxe type filter _; do
        [ "$filter" = yes ] || continue
        if [ "$result" != ok ]; then
                want[$result]=$((want[$result] + 1))
        elif [ "$pxe" = not_pxe ]; then
                want[not_pxe]=$((want[not_pxe] + 1))
        elif [ "$type" = discover ] || [ "$type" = request ]; then
                want[recorded]=$((want[recorded] + 1)) # none of the capture's MACs is in the inventory
        else
                want[ok]=$((want[ok] + 1))
        fi
done < <(grep -v '^#' "$T/expect.tsv")
n_frames=$(grep -vc '^#' "$T/expect.tsv")
rc=0
"$REPLAY_DIR/pcap-replay" --delay-us 100 br0 "$T/dhcp.pcap" >"$T/replay.out" 2>"$T/replay.err" || rc=$?
# 3: frames the kernel refuses (shorter than an Ethernet header) were not sent; the filter
# would not pass them anyway (their FILTER is "no").
[ "$rc" = 0 ] || [ "$rc" = 3 ] || fail "pcap-replay: exit $rc: $(cat "$T/replay.err")"
kill -0 "$PROVD_PID" 2>/dev/null || fail "provd died during the replay"
# recorded/not_pxe/known are counted when the batch is written (at most 1 s later)
for _ in $(seq 50); do
        [ $(($(dresult recorded) - before[recorded])) -ge "${want[recorded]}" ] && break
        sleep 0.1
done
sleep 1.2 # one more flush interval: nothing more may arrive
bad=
for r in "${results[@]}"; do
        got=$(($(dresult "$r") - before[$r]))
        [ "$got" = "${want[$r]}" ] || bad+=" $r: got $got, expected ${want[$r]};"
done
[ -z "$bad" ] || fail "after replaying $n_frames frames ($(cat "$T/replay.out")):$bad"
expect_status 200 GET /v1/summary
http GET /v1/discovered
for m in 52:54:00:12:34:56 52:54:00:ab:cd:01 52:54:00:ab:cd:07 52:54:00:d7:00:01 52:54:00:d7:00:02 52:54:00:d7:00:03 52:54:00:d7:00:04 52:54:00:d7:00:07; do
        jq -e --arg m "$m" 'any(.discovered[]; .mac == $m)' <<<"$BODY" >/dev/null || fail "replayed PXE client $m not recorded: $BODY"
done
for m in 52:54:00:d7:00:05 52:54:00:d7:00:06; do
        jq -e --arg m "$m" 'any(.discovered[]; .mac == $m) | not' <<<"$BODY" >/dev/null || fail "$m recorded (not PXE): $BODY"
done
sanitizer_check
udhcpc -i c4 "${PXE_OPTS[@]}" || true # (a lease from dnsmasq or none: either way it broadcast)
wait_discovered 52:54:00:d1:5c:04 '.count >= 1' 5
summary=$(for r in "${results[@]}"; do [ "${want[$r]}" = 0 ] || printf '%s=%s ' "$r" "${want[$r]}"; done)
ok "(c) $n_frames frames replayed onto br0: provd alive, counters exactly as expected (${summary% }); a DISCOVER sent afterwards is recorded"

# --- (d) forget, restart, --nix, reload ------------------------------------------------------------
PROVD_TOKEN=$(cat "$T/token")
export PROVD_URL=$URL PROVD_TOKEN
AUTH=(-H "Authorization: Bearer $PROVD_TOKEN")
expect_status 401 DELETE /v1/discovered/52:54:00:d1:5c:01
expect_status 400 DELETE /v1/discovered/52:54:00:zz:5c:01 "${AUTH[@]}"
expect_status 204 DELETE /v1/discovered/52-54-00-D1-5C-01 "${AUTH[@]}"
expect_status 404 DELETE /v1/discovered/52:54:00:d1:5c:01 "${AUTH[@]}"
"$PROVD" discovered forget 52:54:00:ab:cd:01 5254.00d7.0001 >"$T/forget.out" 2>&1 || fail "provd discovered forget: $(cat "$T/forget.out")"
grep -qx '52:54:00:d7:00:01 forgotten' "$T/forget.out" || fail "forget output: $(cat "$T/forget.out")"
rc=0
"$PROVD" discovered forget 52:54:00:ab:cd:01 >"$T/forget.out" 2>&1 || rc=$?
[ "$rc" = 3 ] || fail "forgetting an unrecorded MAC: exit $rc, expected 3: $(cat "$T/forget.out")"
rc=0
"$PROVD" discovered forget not-a-mac >"$T/forget.out" 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "forgetting a malformed MAC: exit $rc, expected 2"
http GET /v1/discovered
for m in 52:54:00:d1:5c:01 52:54:00:ab:cd:01 52:54:00:d7:00:01; do
        jq -e --arg m "$m" 'any(.discovered[]; .mac == $m) | not' <<<"$BODY" >/dev/null || fail "$m still listed after forget: $BODY"
done
before_restart=$(jq -c '[.discovered[] | {mac, count, first_seen, last_seen, arch, uuid, ipxe}]' <<<"$BODY")
ok "DELETE /v1/discovered/{mac}: 401 without a token, 400 bad MAC, 204, then 404; provd discovered forget: 0, 3 unknown, 2 malformed"

provd_stop
start
http GET /v1/discovered
[ "$(jq -c '[.discovered[] | {mac, count, first_seen, last_seen, arch, uuid, ipxe}]' <<<"$BODY")" = "$before_restart" ] ||
        fail "rows changed across a restart: before $before_restart, after $BODY"
PROVD_URL=$URL
"$PROVD" discovered >"$T/table" || fail "provd discovered failed"
head -n1 "$T/table" | grep -qE '^MAC +LAST-SEEN +COUNT +FIRMWARE +ARCH +UUID$' || fail "table header: $(head -n1 "$T/table")"
grep -qE "^$VM_MAC .* bios +x86 BIOS +3a1e0b5c-2f7d-694c-8e14-0a9b8c7d6e5f$" "$T/table" || fail "table row of the VM: $(cat "$T/table")"
"$PROVD" discovered --json | jq -e ".discovered | length == $(jq length <<<"$before_restart")" >/dev/null || fail "provd discovered --json"
"$PROVD" discovered --nix >"$T/nodes.nix" || fail "provd discovered --nix failed"
echo "# provd discovered --nix:"
sed 's/^/#   /' "$T/nodes.nix"
printf '[\n%s\n]\n' "$(cat "$T/nodes.nix")" >"$T/list.nix"
"${NIXI[@]}" --parse "$T/list.nix" >/dev/null 2>"$T/parse.err" || fail "--nix output does not parse: $(cat "$T/parse.err")"
# Through nix/inventory.nix, with a stand-in configuration per placeholder name.
mkdir -p "$T/installer/kernel" "$T/installer/ramdisk"
cp "$T/boot/bzImage" "$T/installer/kernel/bzImage"
cp "$T/boot/initrd" "$T/installer/ramdisk/initrd"
{
        echo 'let'
        echo "  nodes = import $T/list.nix;"
        echo '  sys = name: { config.system.build = {'
        echo '    toplevel = "/nix/store/99999999999999999999999999999999-nixos-system-${name}";'
        echo '    provdInstallScript = "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-install-${name}";'
        echo '  }; };'
        echo "in import $SRC/nix/inventory.nix {"
        echo '  inherit nodes;'
        echo '  nixosConfigurations = builtins.listToAttrs (map (n: { name = n.name; value = sys n.name; }) nodes);'
        echo "  installer = import $SRC/tests/nix/installer.nix { bootRoot = \"$T/installer\"; };"
        echo '}'
} >"$T/eval.nix"
"${NIXI[@]}" --eval --strict --json "$T/eval.nix" >"$T/gen.json" 2>"$T/eval.err" || fail "evaluating the --nix entries through nix/inventory.nix: $(cat "$T/eval.err")"
[ "$(jq -c '[.nodes[] | .mac[0]] | sort' "$T/gen.json")" = "$(jq -c '[.[].mac] | sort' <<<"$before_restart")" ] ||
        fail "generated inventory's MACs differ from the discovered ones: $(jq -c '[.nodes[] | {name, mac}]' "$T/gen.json")"
jq -e --arg n "new-${VM_MAC//:/-}" 'any(.nodes[]; .name == $n)' "$T/gen.json" >/dev/null || fail "no placeholder name new-${VM_MAC//:/-}"
ok "restart keeps the rows; provd discovered (table, --json); --nix parses and evaluates through nix/inventory.nix ($(jq '.nodes | length' "$T/gen.json") nodes)"

# The VM's MAC joins the inventory: a reload removes its row.
jq --arg m "$VM_MAC" '.nodes[1].mac += [$m]' "$T/inv-good.json" >"$T/inv.json"
expect_status 200 POST /v1/reload "${AUTH[@]}"
http GET /v1/discovered
jq -e --arg m "$VM_MAC" 'any(.discovered[]; .mac == $m) | not' <<<"$BODY" >/dev/null || fail "$VM_MAC still discovered after it joined the inventory: $BODY"
[ "$(metric provd_discovered_nodes)" = "$(jq '.discovered | length' <<<"$BODY")" ] || fail "provd_discovered_nodes disagrees with GET /v1/discovered"
grep -q 'forgot 1 discovered MAC(s) that are now in the inventory' "$LOG" || fail "no log line for the reload's removal"
rows=$(jq '.discovered | length' <<<"$BODY")
provd_stop
ok "reload: a discovered MAC that joined the inventory is removed"

# discovery_max: room for one more MAC; two new PXE clients -> one recorded, one dropped.
provd_start "$T/inv.json" --config "$T/provd.ini" --listen 10.77.0.1:0 --discovery-max "$((rows + 1))"
udhcpc -i c1 "${PXE_OPTS[@]}" &
p1=$!
udhcpc -i c3 "${PXE_OPTS[@]}" &
p3=$!
PIDS+=("$p1" "$p3")
wait "$p1" || true
wait "$p3" || true
for _ in $(seq 30); do
        [ "$(dresult dropped_full)" -ge 1 ] && [ "$(dresult recorded)" -ge 1 ] && break
        sleep 0.1
done
http GET /v1/discovered
[ "$(jq '.discovered | length' <<<"$BODY")" = "$((rows + 1))" ] || fail "discovery_max $((rows + 1)): $(jq '.discovered | length' <<<"$BODY") rows"
[ "$(jq '[.discovered[] | select(.mac == "52:54:00:d1:5c:01" or .mac == "52:54:00:d1:5c:03")] | length' <<<"$BODY")" = 1 ] ||
        fail "not exactly one of the two new MACs recorded: $BODY"
[ "$(dresult dropped_full)" -ge 1 ] || fail "no dropped_full count"
[ "$(grep -c 'unknown MACs are kept (discovery_max): packets from new MACs are dropped' "$LOG")" = 1 ] ||
        fail "the full table was not logged exactly once: $(grep -c 'discovery_max' "$LOG")"
provd_stop
ok "discovery_max: the table stops at $((rows + 1)) MACs, packets of further new MACs count as dropped_full, logged once"

# --- a capture that cannot be opened fails the start -------------------------------------------
rc=0
"$PROVD" serve --inventory "$T/inv.json" --state-dir "$T/state-x" --listen 127.0.0.1:0 --discovery-interface nosuch0 >"$T/x.out" 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "--discovery-interface nosuch0: exit $rc, expected 1: $(cat "$T/x.out")"
grep -q 'discovery: cannot capture on interface nosuch0: ' "$T/x.out" || fail "no message naming the interface: $(cat "$T/x.out")"
if command -v setpriv >/dev/null; then
        rc=0
        setpriv --bounding-set=-net_raw "$PROVD" serve --inventory "$T/inv.json" --state-dir "$T/state-x" \
                --listen 127.0.0.1:0 --discovery-interface br0 >"$T/x.out" 2>&1 || rc=$?
        [ "$rc" = 1 ] || fail "without CAP_NET_RAW: exit $rc, expected 1: $(cat "$T/x.out")"
        grep -q 'discovery: cannot capture on interface br0: .*CAP_NET_RAW' "$T/x.out" || fail "no CAP_NET_RAW hint: $(cat "$T/x.out")"
fi
ok "a capture that cannot be opened fails provd serve, naming the interface and libpcap's error ($(tail -n1 "$T/x.out" | sed 's/^provd: error: //'))"

# --- CAP_NET_RAW is all it needs: an unprivileged user with only that capability -------------
if command -v setpriv >/dev/null; then
        chmod 755 "$T"
        mkdir "$T/state-nr"
        chown nobody "$T/state-nr"
        setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps=-all,+net_raw --ambient-caps=-all,+net_raw \
                --bounding-set=-all,+net_raw "$PROVD" serve --inventory "$T/inv.json" --state-dir "$T/state-nr" \
                --listen 10.77.0.1:0 --discovery-interface br0 --log-level debug >"$T/nr.log" 2>&1 &
        nr=$!
        PIDS+=("$nr")
        for _ in $(seq 50); do grep -q 'discovery: capturing DHCP' "$T/nr.log" && break; sleep 0.1; done
        grep -q 'discovery: capturing DHCP' "$T/nr.log" || fail "as nobody with CAP_NET_RAW only: $(cat "$T/nr.log")"
        udhcpc -i c1 "${PXE_OPTS[@]}" || true
        for _ in $(seq 50); do grep -q 'discovery: new PXE client 52:54:00:d1:5c:01' "$T/nr.log" && break; sleep 0.1; done
        grep -q 'discovery: new PXE client 52:54:00:d1:5c:01' "$T/nr.log" || fail "nothing recorded as nobody + CAP_NET_RAW: $(cat "$T/nr.log")"
        [ "$(awk '$1 == "CapEff:" { print $2 }' "/proc/$nr/status")" = 0000000000002000 ] ||
                fail "provd's effective capabilities are not CAP_NET_RAW alone: $(grep Cap "/proc/$nr/status")"
        kill -TERM "$nr"
        wait "$nr" || fail "provd (nobody, CAP_NET_RAW) exited $?: $(tail -n 5 "$T/nr.log")"
        ok "as user nobody with CAP_NET_RAW as its only capability, discovery captures and records"
fi
