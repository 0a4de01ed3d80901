#!/usr/bin/env bash
# e2e-uefi-reinstall.sh — `provd reinstall` of a UEFI node whose BMC (ipmi_sim) owns a QEMU
# OVMF virtual machine; the firmware's own PXE (EDK2) netboots it, then it boots its disk
# without touching the network.
#
#   e2e-uefi-reinstall.sh PATH_TO_PROVD [SOURCE_DIR]
#
# Peers, all inside a network namespace this test creates (provd-uefi-<pid>, deleted at exit):
#   - a bridge br0 (10.78.0.1/24, fd00:78::1/64) with a tap for the VM;
#   - dnsmasq on br0 as a plain DHCP + TFTP server: UEFI x64 PXE clients (option 93 = 7,
#     no user class) get snponly.efi over TFTP, iPXE (user class "iPXE") gets provd's
#     http://10.78.0.1:PORT/v1/ipxe; an IPv6 router advertisement (ra-only) spares iPXE its
#     wait for IPv6 autoconfiguration;
#   - an OpenIPMI ipmi_sim BMC on 127.A.B.1:623 whose chassis_control program is
#     tests/e2e/chassis-control-qemu with VM_FIRMWARE=ovmf: IPMI power starts and stops a q35
#     OVMF VM (its own NVRAM copy kept across power cycles; a virtio-net NIC without option
#     ROM; a virtio-blk disk made by tests/e2e/uefi-disk-image, "the installed system", whose
#     GRUB prints "provd-test: booted from local disk"); the boot device picks QEMU bootindex
#     values (pxe: NIC first; disk: disk first; none: the node's own order, here disk first);
#   - provd on 10.78.0.1:<port>, the node with bmc.boot_mode "efi", started with
#     PROVD_IPMI_DEBUG=1 so FreeIPMI dumps its IPMI packets into provd's log.
#
# 0. `provd power node-01 on` (BMC boot device none): the node's own order is disk first; it
#    boots its disk and the network stays silent — so what follows is the BMC's doing.
# 1. `provd reinstall node-01 --wait`: provd sets boot device PXE (one-time, EFI) and power
#    cycles; OVMF PXE -> DHCP + TFTP snponly.efi -> iPXE -> /v1/ipxe -> the test kernel and
#    initramfs (tests/e2e/init, virtio_net) report started .. succeeded and power off; provd
#    sets boot device disk (persistent, EFI).  Checked on the BMC's side (chassis-control
#    events, the VM's boot order), on the console, in the node's history and operation.
# 2. The request bytes, from FreeIPMI's dump of provd's packets: the Set System Boot Options
#    requests (parameter 5) carried data 1 = A0h (valid | EFI, one-time) with data 2 = 04h
#    (PXE), then data 1 = E0h (valid | persistent | EFI) with data 2 = 08h (disk) — IPMI v2.0
#    §28.13 Table 28-14.
# 3. `provd power node-01 on`: the VM boots its disk (marker on the console, seconds from
#    power on printed) and does not touch the network: no DHCP from its MAC in dnsmasq's log,
#    no boot request in provd's log and metrics, the node's history unchanged.
# 4. Everything is stopped by pid (QEMU by its pidfile); provd exits 0 with no sanitizer report.
#
# What the simulator cannot show: ipmi_sim 2.0.33 (lanserv/bmc_chassis.c) hands its
# chassis_control program only the device (data 2 bits [5:2]); it drops data 1 — valid,
# persistent (bit 6), EFI (bit 5) — and Get System Boot Options answers data 1 = 0, so
# neither the BMC's side nor a read-back can tell one-time from persistent or EFI from legacy.
# Its own debug output (-d) shows the packets encrypted (cipher suite 3).  Hence (2) reads what
# provd sent, not what a BMC stored.  For the same reason the chassis program treats every
# device as persistent: a one-time PXE would, on a real BMC, be cleared once the firmware has
# used it, and a guest reboot would then boot the disk; here the VM keeps the order it was
# powered on with until the next power on, so the installer powers off (the default end of
# tests/e2e/init) and the test powers the node on.
# Needs root (ip netns, a tap device).  Environment: E2E_TIMEOUT (seconds for the install,
# default 180), E2E_KEEP=1 keeps the temp directory.  Exit 77 (skip) when a tool is missing,
# unless PROVD_TESTS_NO_SKIP=1.  Runs ~1 min under TCG on 2 cores.
set -euo pipefail

# The outer run makes the namespace and runs this script again inside it.
source "$(dirname "${BASH_SOURCE[0]}")/lib-netns.sh"
netns_enter e2e-uefi-reinstall -- "$@"

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib-ipmi.sh"
source "$(dirname "${BASH_SOURCE[0]}")/../e2e/lib-vm.sh"
source "$(dirname "${BASH_SOURCE[0]}")/../e2e/lib-uefi.sh"

TIMEOUT=${E2E_TIMEOUT:-180}
NODE=node-01
MAC=52:54:00:e7:1f:01
BR=10.78.0.1
T0=$SECONDS
say() { printf '[e2e-uefi-reinstall %3ds] %s\n' $((SECONDS - T0)) "$*"; }

VMDIR= # the BMC's directory: chassis-control-qemu state, VM serial logs, NVRAM, disk
dump_logs() {
	[ -n "$VMDIR" ] && [ -d "$VMDIR" ] || return 0
	local f
	for f in "$VMDIR"/serial-*.log; do
		[ -f "$f" ] || continue
		echo "----- tail of $(basename "$f") -----"
		tail -c 3000 "$f" | strip_console | grep -v '^$' | tail -n 25
	done
	for f in control.log events boots; do
		[ -f "$VMDIR/$f" ] && { echo "----- $f -----"; tail -n 30 "$VMDIR/$f"; }
	done
	[ -f "$T/dnsmasq.log" ] && { echo "----- dnsmasq.log -----"; tail -n 30 "$T/dnsmasq.log"; }
	for f in "$T"/cli-*.out "$T"/cli-*.err; do
		[ -s "$f" ] && { echo "----- $(basename "$f") -----"; tail -n 20 "$f"; }
	done
	echo "-----"
}

stop_vm() { vm_stop_controlled "$VMDIR"; }
keep_tmp() { vm_keep_tmp provd-e2e-uefi-reinstall "$T"; }
AT_EXIT+=(stop_vm keep_tmp)

for tool in ipmi_sim ipmitool ss jq curl python3; do
	command -v "$tool" >/dev/null || skip "$tool not installed"
done
DNSMASQ=$(command -v dnsmasq) || skip "dnsmasq not installed (dnsmasq-base)"
SNPONLY=/usr/lib/ipxe/snponly.efi
[ -r "$SNPONLY" ] || skip "no $SNPONLY (install ipxe)"
[ -c /dev/net/tun ] || skip "no /dev/net/tun"
vm_find_tools
uefi_find_tools
CONTROL=$SRC/tests/e2e/chassis-control-qemu
[ -x "$CONTROL" ] || fail "$CONTROL is missing or not executable"

vm_build_initramfs "$SRC" "$T" virtio_pci virtio_net
say "initramfs $(du -k "$INITRD" | cut -f1) KiB (busybox, $VM_MODULES), kernel $KERNEL"
uefi_build_disk "$SRC" "$T"
say "disk image $UEFI_DISK ($(du -k "$UEFI_DISK" | cut -f1) KiB used), marker '$UEFI_MARKER'"

# ---- the network: br0 with the VM's tap, dnsmasq -----------------------------------------
ip link set lo up
ip link add br0 type bridge
ip addr add "$BR/24" dev br0
ip addr add fd00:78::1/64 dev br0 nodad
ip link set br0 up
ip tuntap add dev tap0 mode tap
ip link set tap0 master br0
ip link set tap0 up

# ---- provd: node-01, UEFI, with a BMC ------------------------------------------------------
sim_base
SIM_CHASSIS_CONTROL=$CONTROL # lib-ipmi writes: chassis_control "$CONTROL $(sim_dir 1)"
VMDIR=$(sim_dir 1)
mkdir -p "$VMDIR"
BMC=$SIM_NET.1
PW=$T/bmc-password
(umask 077 && printf '%s\n' "$SIM_PASSWORD" >"$PW")
cat >"$T/inventory.json" <<EOF
{
  "version": 1,
  "nodes": [
    {
      "name": "$NODE",
      "mac": ["$MAC"],
      "bmc": {"host": "$BMC", "port": 623, "user": "$SIM_USER", "password_file": "$PW",
              "cipher_suite": 3, "workarounds": ["opensesspriv"], "boot_mode": "efi",
              "console": "none"},
      "boot": {
        "kernel": "$KERNEL",
        "initrd": ["$INITRD"],
        "cmdline": "console=ttyS0 panic=-1 quiet"
      },
      "system": {
        "toplevel": "/nix/store/1b9p07z77phvv2hf6gm9f28syp39f1ag-nixos-system-$NODE",
        "install": "/nix/store/7kzmq9dnb2s0dqc1sp8k8f7r2vy6y2hw-install-$NODE"
      }
    }
  ]
}
EOF
"$PROVD" token new --name e2e --file "$T/api-tokens" >"$T/token" 2>"$T/token.err" ||
	fail "provd token new: $(cat "$T/token.err")"
printf '[serve]\napi_tokens = %s\n' "$T/api-tokens" >"$T/provd.ini"
# PROVD_IPMI_DEBUG=1: FreeIPMI's dump of every IPMI packet goes to provd's stderr ($LOG)
PROVD_IPMI_DEBUG=1 provd_start "$T/inventory.json" --config "$T/provd.ini" --listen "$BR:0"
PORT=${URL##*:}
say "provd (pid $PROVD_PID) on $URL"
cli() { # NAME ARGS... -> $T/cli-NAME.out / .err, sets CLI_RC
	local name=$1
	shift
	CLI_RC=0
	"$PROVD" "$@" --url "$URL" --token-file "$T/token" >"$T/cli-$name.out" 2>"$T/cli-$name.err" || CLI_RC=$?
}

mkdir -p "$T/tftp"
cp "$SNPONLY" "$T/tftp/snponly.efi"
"$DNSMASQ" --keep-in-foreground --conf-file=/dev/null --user=root --group=root --port=0 \
	--interface=br0 --bind-interfaces --dhcp-range=10.78.0.100,10.78.0.199,1h \
	--enable-ra --dhcp-range=::,constructor:br0,ra-only \
	--dhcp-match=set:efi64,option:client-arch,7 --dhcp-userclass=set:ipxe,iPXE \
	"--dhcp-boot=tag:ipxe,http://$BR:$PORT/v1/ipxe" --dhcp-boot=tag:efi64,tag:!ipxe,snponly.efi \
	--enable-tftp --tftp-root="$T/tftp" --dhcp-leasefile="$T/leases" --pid-file="$T/dnsmasq.pid" \
	--log-facility=- --log-dhcp >"$T/dnsmasq.log" 2>&1 &
PIDS+=($!)
DNSMASQ_PID=$!

# ---- the BMC and its VM ---------------------------------------------------------------------
cat >"$VMDIR/vm.env" <<EOF
QEMU='$QEMU'
VM_FIRMWARE=ovmf
OVMF_CODE='$OVMF_CODE'
OVMF_VARS='$OVMF_VARS'
VM_DISK='$UEFI_DISK'
VM_BOOT_ORDER=disk
VM_MAC=$MAC
VM_NETDEV='tap,id=n0,ifname=tap0,script=no,downscript=no'
VM_MEM=512
EOF
sim_start 1
sim_wait 1
[ "$(sim_ipmitool 1 chassis power status)" = "Chassis Power is off" ] ||
	fail "the BMC's VM is not off before the test"
[ ! -e "$VMDIR/boots" ] || fail "the VM was started before the test: $(cat "$VMDIR/boots")"
kill -0 "$DNSMASQ_PID" 2>/dev/null || fail "dnsmasq exited: $(cat "$T/dnsmasq.log")"
say "ipmi_sim (pid ${SIM_PID[1]}) at $BMC:623 owns the OVMF VM (off); dnsmasq on br0"

expect_status 200 GET "/v1/nodes/$NODE"
jq_eq .state new

node_json() {
	expect_status 200 GET "/v1/nodes/$NODE"
	printf '%s' "$BODY" >"$T/node.json"
}
serial() { strip_console <"$VMDIR/serial-$1.log"; }
# dhcp_seen: lines of dnsmasq's log about the VM's MAC (DHCP and TFTP are logged per client)
dhcp_seen() { grep -ci "$MAC" "$T/dnsmasq.log" || true; }
# boot_requests: provd's boot requests of every API, summed from /metrics
boot_requests() {
	curl -sS --max-time 10 "$URL/metrics" | awk '/^provd_boot_requests_total[{ ]/ { s += $NF } END { print s + 0 }'
}
# power_on_to_marker N: powers the node on with `provd power`, waits for the disk's marker
# on the Nth boot's console; sets MARKER_S (seconds from the power-on command to the marker)
power_on_to_marker() {
	local n=$1 start
	start=$(date +%s.%N)
	cli "power$n" power "$NODE" on
	[ "$CLI_RC" = 0 ] || fail "provd power $NODE on exited $CLI_RC: $(cat "$T/cli-power$n.out" "$T/cli-power$n.err")"
	for _ in $(seq 1 240); do
		[ -f "$VMDIR/serial-$n.log" ] && serial "$n" | grep -qF "$UEFI_MARKER" && break
		sleep 0.25
	done
	serial "$n" | grep -qF "$UEFI_MARKER" || fail "boot $n: no '$UEFI_MARKER' on the console within 60 s"
	MARKER_S=$(python3 -c "import sys, time; print(f'{time.time() - float(sys.argv[1]):.1f}')" "$start")
}
# vm_off_wait SECONDS: until the chassis program says the VM is off
vm_off_wait() {
	for _ in $(seq 1 $(($1 * 4))); do
		[ "$("$CONTROL" "$VMDIR" get power)" = power:0 ] && return 0
		sleep 0.25
	done
	return 1
}

# ---- 0. the node's own boot order is disk first ----------------------------------------------
power_on_to_marker 1
read -r _ boot order rom _ <"$VMDIR/boots"
[ "$boot $order $rom" = "boot=none order=disk rom=off" ] ||
	fail "first power on: $(head -n 1 "$VMDIR/boots"), want boot=none order=disk rom=off"
serial 1 | grep -qE '>>Start PXE|iPXE|^provd: ' && fail "boot 1 (own order, disk first) touched the network"
[ "$(dhcp_seen)" = 0 ] || fail "boot 1: dnsmasq saw the VM: $(grep -i "$MAC" "$T/dnsmasq.log")"
ok "power on with BMC boot device none: the VM booted its disk in ${MARKER_S}s, no DHCP"

# ---- 1. provd reinstall node-01 --wait ------------------------------------------------------
vm_reinstall_wait 2 '>>Start PXE|NBP file|iPXE initialising|^provd|PROVD-E2E:' "${SIM_PID[1]}" ipmi_sim "$DNSMASQ_PID" dnsmasq

[ "$(wc -l <"$VMDIR/boots")" = 2 ] || fail "the reinstall did not start the VM exactly once: $(cat "$VMDIR/boots")"
read -r _ boot order rom _ < <(sed -n 2p "$VMDIR/boots")
[ "$boot $order $rom" = "boot=pxe order=net rom=off" ] ||
	fail "second power on: $(sed -n 2p "$VMDIR/boots"), want boot=pxe order=net rom=off"
serial 2 | grep -q '>>Start PXE over IPv4' || fail "OVMF's own PXE did not run"
serial 2 | grep -q "^provd: installing $NODE (install attempt 1)" || fail "the VM did not netboot provd's installer"
serial 2 | grep -q 'PROVD-E2E: reported succeeded' || fail "the installer did not report succeeded"
grep -qiE "vendor class: PXEClient:Arch:00007" "$T/dnsmasq.log" || fail "dnsmasq saw no UEFI x64 PXE client"
grep -qiE "sent .*snponly.efi" "$T/dnsmasq.log" || fail "dnsmasq did not send snponly.efi over TFTP"
ok "BMC: boot pxe + power cycle; OVMF PXE -> TFTP snponly.efi -> iPXE -> provd's installer, which reported succeeded"

vm_bmc_events_expect "power 1,boot pxe,power 0,power 1,boot default"
ok "BMC events in order: power on, boot pxe, power off, power on (the cycle), boot default (disk)"

vm_history_expect \
	'pending|!bmc|' \
	'|bmc|boot device set to pxe \(one-time, EFI\)' \
	'|bmc|cycle' \
	'netbooting|netboot|' \
	'installed|installer|' \
	'|bmc|boot device set to disk \(persistent, EFI\)'
ok "history: pending, bmc bootdev pxe (one-time, EFI), bmc cycle, netbooting, installed, bmc bootdev disk (persistent, EFI)"

# ---- 2. the boot flags provd sent, from FreeIPMI's packet dump ----------------------------------
# Each request is a block "IPMI 2.0 Set System Boot Options Request" .. the next "=====" line;
# configuration_parameter_data[40b] is the 5 data bytes as one little-endian number (data 1
# in the low byte).
python3 - "$LOG" "$BMC" <<'PY' || fail "the IPMI dump does not show the boot flags provd should send (see above)"
import re, sys
log, bmc = sys.argv[1], sys.argv[2]
reqs, cur = [], None
for line in open(log, errors="replace"):
    if not line.startswith(bmc + ": "):
        continue
    text = line[len(bmc) + 2:].rstrip("\n")
    if text.startswith("IPMI 2.0 "):
        cur = {} if text == "IPMI 2.0 Set System Boot Options Request" else None
        if cur is not None:
            reqs.append(cur)
        continue
    m = re.match(r"\[\s*([0-9A-F]+)h\] = (parameter_selector|configuration_parameter_data)\[", text)
    if cur is not None and m:
        cur[m.group(2)] = int(m.group(1), 16)
got = [(r.get("parameter_selector"), r.get("configuration_parameter_data", 0).to_bytes(5, "little"))
       for r in reqs]
for sel, data in got:
    print(f"  Set System Boot Options: parameter {sel}, data {data.hex(' ')}")
want = [(5, bytes([0xA0, 0x04, 0, 0, 0])), (5, bytes([0xE0, 0x08, 0, 0, 0]))]
if got != want:
    print("want:", [(s, d.hex(" ")) for s, d in want])
    sys.exit(1)
PY
ok "IPMI requests: boot flags A0 04 (valid|EFI, one-time, PXE), then E0 08 (valid|persistent|EFI, disk)"

# ---- 3. power on: the VM boots its disk without touching the network -------------------------
vm_off_wait 30 || fail "the VM did not power off after the installer finished"
node_json
HISTORY_TO=$(jq -c '[.history[] | select(.cause != "bmc") | .to]' "$T/node.json")
DHCP_BEFORE=$(dhcp_seen)
BOOTREQ_BEFORE=$(boot_requests)
LOG_BEFORE=$(grep -cE 'netboot|/v1/ipxe|/v1/boot/' "$LOG" || true)
power_on_to_marker 3
say "power on -> '$UEFI_MARKER' in ${MARKER_S}s"
read -r _ boot order rom _ < <(sed -n 3p "$VMDIR/boots")
[ "$boot $order $rom" = "boot=default order=disk rom=off" ] ||
	fail "third power on: $(sed -n 3p "$VMDIR/boots"), want boot=default order=disk rom=off"
sleep 2 # anything the firmware would send after the disk's boot loader started
if serial 3 | grep -qE '>>Start PXE|iPXE|^provd: |PROVD-E2E'; then
	fail "the VM touched the network after the install"
fi
[ "$(dhcp_seen)" = "$DHCP_BEFORE" ] ||
	fail "dnsmasq saw the VM after the install: $(grep -i "$MAC" "$T/dnsmasq.log" | tail -n 5)"
[ "$(boot_requests)" = "$BOOTREQ_BEFORE" ] ||
	fail "provd counted boot requests after the install: $BOOTREQ_BEFORE -> $(boot_requests)"
[ "$(grep -cE 'netboot|/v1/ipxe|/v1/boot/' "$LOG" || true)" = "$LOG_BEFORE" ] ||
	fail "provd logged a boot request after the install: $(grep -E 'netboot|/v1/ipxe|/v1/boot/' "$LOG" | tail -n 3)"
node_json
jq -e --argjson to "$HISTORY_TO" '.state == "installed" and .attempt.number == 1 and
	[.history[] | select(.cause != "bmc") | .to] == $to' "$T/node.json" >/dev/null ||
	fail "after the power on the node changed: $(jq -c '{state, attempt, history: [.history[] | [.to, .cause, .message]]}' "$T/node.json")"
ok "power on: the VM booted its disk in ${MARKER_S}s; no DHCP, no boot request, node still installed (attempt 1)"

# ---- 4. stop everything by pid -----------------------------------------------------------------
stop_vm || fail "QEMU did not stop"
sim_stop 1
kill -TERM "$DNSMASQ_PID" 2>/dev/null || true
provd_stop
say "PASS ($((SECONDS - T0))s)"
