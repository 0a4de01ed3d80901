#!/usr/bin/env bash
# e2e-uefi-pxe.sh — UEFI nodes boot through provd's DHCP front end: dnsmasq configured with
# exactly what `provd dhcp-config --dnsmasq` prints, as ProxyDHCP + TFTP next to a plain DHCP
# server that hands out the addresses and nothing else.
#
# In two network namespaces this test creates (deleted at exit):
#   "site" (provd-uefi-site-<pid>): the site's DHCP server, a dnsmasq with only an address
#       range (port=0, no boot options; plus an IPv6 router advertisement, without which
#       iPXE waits ~13 s in "Configuring"), on a veth whose other end is on br0;
#   the boot host (provd-uefi-<pid>): bridge br0 10.98.0.1/24, one tap per VM, `provd serve`
#       on 10.98.0.1:8080, and the ProxyDHCP dnsmasq: `provd dhcp-config --dnsmasq --config
#       provd.ini --proxy-subnet 10.98.0.0/24 --interface br0` plus only the instance plumbing
#       (pid file, lease file, log); q35 OVMF VMs (TCG) with a virtio-net NIC WITHOUT an
#       option ROM, so OVMF's own EDK2 network stack does PXE and HTTP Boot.
#   (a) UEFI PXE: VM a (NIC first in the boot order, then a GPT disk whose ESP prints a
#       marker) -> site DHCP + ProxyDHCP (port 67, then 4011) -> TFTP snponly.efi -> iPXE
#       (user class iPXE) -> provd /v1/ipxe -> kernel + initramfs whose /init reports through
#       installer/provd-report.sh -> provd records installed (firmware efi-x64).  The same VM
#       (same NVRAM) boots twice more: provd's local-boot script exits 1, OVMF walks on down
#       its boot order (PXEv4, PXEv6, HTTPv4 - provd's /v1/ipxe.efi, which exits 1 too -,
#       HTTPv6) and must reach the disk's marker; the seconds that took are printed, once as
#       OVMF comes and once with opt/org.tianocore/IPv6PXESupport=n (QEMU -fw_cfg; OvmfPkg
#       PxeBcPcdProducerLib), which takes PXEv6 out of the walk.
#   (b) UEFI HTTP Boot: VM b with IPv4 and IPv6 PXE turned off the same way, so HTTPv4 is its
#       first boot option -> DHCP option 93 = 16, vendor class HTTPClient -> the ProxyDHCP
#       offer carries option 60 "HTTPClient" and provd's /v1/ipxe.efi URL -> OVMF fetches
#       iPXE (HEAD + GET) and runs it -> iPXE chains to /v1/ipxe -> installed.
# Prints: install time (QEMU start -> installed) for (a) and (b), and the disk-after-install
# times.  About 3 minutes under TCG.
# E2E_UEFI_DEFAULTS_WALK=0 leaves boot 2 out (OVMF's own walk with its defaults, ~90 s of
# PXEv6 timeouts under TCG; firmware behaviour that is the same whatever provd's store is):
# the PostgreSQL pass of scripts/test sets it.
# Needs root (ip netns); skips (77) when a tool is missing, unless PROVD_TESTS_NO_SKIP=1.
# E2E_KEEP=1 keeps the temp directory (serial logs, dnsmasq and provd logs).
set -euo pipefail

PROVD=${1:-}
SRC=${2:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}

# The boot host's namespace (this script runs again in it) and the site DHCP server's.
source "$(dirname "${BASH_SOURCE[0]}")/lib-netns.sh"
netns_enter e2e-uefi-pxe site -- "$@"

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/../e2e/lib-vm.sh"
source "$(dirname "${BASH_SOURCE[0]}")/../e2e/lib-uefi.sh"
SITE_NS=$PROVD_NETNS_SITE

T0=$SECONDS
say() { printf '[e2e-uefi %3ds] %s\n' $((SECONDS - T0)) "$*"; }

vm_find_tools
uefi_find_tools
DNSMASQ=$(command -v dnsmasq) || skip "dnsmasq missing (dnsmasq-base)"
for t in curl jq; do
	command -v "$t" >/dev/null || skip "$t missing"
done
[ -r /usr/lib/ipxe/snponly.efi ] || skip "/usr/lib/ipxe/snponly.efi missing (ipxe)"

MAC_A=52:54:00:0e:fe:0a
MAC_B=52:54:00:0e:fe:0b

# Leave the logs of a failed run behind for a look (the trap of lib.sh removes $T).
on_fail_dump() {
	local f
	for f in "$T"/*.serial; do
		[ -f "$f" ] || continue
		echo "--- $(basename "$f") (last 25 lines) ---" >&2
		strip_console <"$f" | grep -v '^$' | tail -n 25 | cut -c1-200 >&2
	done
	for f in "$T/proxy.log" "$T/site.log"; do
		[ -f "$f" ] || continue
		echo "--- $(basename "$f") (last 25 lines) ---" >&2
		tail -n 25 "$f" >&2
	done
	vm_keep_tmp provd-e2e-uefi "$T"
}
# shellcheck disable=SC2016 # evaluated by lib.sh's cleanup, where rc is its exit status
AT_EXIT+=('[ "$rc" = 0 ] || [ "$rc" = 77 ] || on_fail_dump')

# --- the network ----------------------------------------------------------------------------
ip link set lo up
ip link add br0 type bridge
ip addr add 10.98.0.1/24 dev br0
ip link set br0 up
ip link add site0 type veth peer name site0b
ip link set site0b master br0
ip link set site0b up
ip link set site0 netns "$SITE_NS"
ip -n "$SITE_NS" link set lo up
ip -n "$SITE_NS" addr add 10.98.0.2/24 dev site0
ip -n "$SITE_NS" addr add fd00:98::2/64 dev site0 nodad
ip -n "$SITE_NS" link set site0 up
for tap in tap-a tap-b; do
	ip tuntap add "$tap" mode tap
	ip link set "$tap" master br0
	ip link set "$tap" up
done

# --- the site's DHCP server: addresses only -------------------------------------------------
cat >"$T/site.conf" <<EOF
port=0
interface=site0
dhcp-range=10.98.0.100,10.98.0.199,255.255.255.0,1h
dhcp-leasefile=$T/site.leases
enable-ra
dhcp-range=::,constructor:site0,ra-only
EOF
ip netns exec "$SITE_NS" "$DNSMASQ" --conf-file="$T/site.conf" --keep-in-foreground --log-dhcp \
	--log-facility="$T/site.log" --pid-file="$T/site.pid" &
PIDS+=("$!")

# --- provd ----------------------------------------------------------------------------------
vm_build_initramfs "$SRC" "$T" virtio_pci virtio_net
say "initramfs: busybox, $VM_MODULES; kernel $KERNEL"
cat >"$T/inv.json" <<EOF
{"version": 1, "nodes": [
 {"name": "node-a", "mac": ["$MAC_A"],
  "boot": {"kernel": "$KERNEL", "initrd": ["$INITRD"], "cmdline": "console=ttyS0 panic=-1 quiet"},
  "system": {"toplevel": "/nix/store/1b9p07z77phvv2hf6gm9f28syp39f1ag-nixos-system-node-a",
             "install": "/nix/store/7kzmq9dnb2s0dqc1sp8k8f7r2vy6y2hw-install-node-a"}},
 {"name": "node-b", "mac": ["$MAC_B"],
  "boot": {"kernel": "$KERNEL", "initrd": ["$INITRD"], "cmdline": "console=ttyS0 panic=-1 quiet"},
  "system": {"toplevel": "/nix/store/1b9p07z77phvv2hf6gm9f28syp39f1ag-nixos-system-node-b",
             "install": "/nix/store/7kzmq9dnb2s0dqc1sp8k8f7r2vy6y2hw-install-node-b"}}]}
EOF
# HTTP Boot gets snponly.efi: it installs as ipxe.efi does, and it also leaves cleanly when
# provd says "boot from local disk" (exit 1), where Debian's ipxe.efi (own virtio-net
# driver) hangs for good and the node never reaches its disk.
printf '[serve]\nlisten = 10.98.0.1:8080\npublic_url = http://10.98.0.1:8080\nipxe_efi = /usr/lib/ipxe/snponly.efi\n' >"$T/provd.ini"
provd_start "$T/inv.json" --config "$T/provd.ini" --listen 10.98.0.1:8080
[ "$URL" = http://10.98.0.1:8080 ] || fail "provd listens on $URL, not http://10.98.0.1:8080"

# --- the ProxyDHCP + TFTP dnsmasq: exactly `provd dhcp-config --dnsmasq` ----------------------
"$PROVD" dhcp-config --dnsmasq --config "$T/provd.ini" --proxy-subnet 10.98.0.0/24 --interface br0 \
	>"$T/proxy.conf" 2>"$T/dhcp-config.err" || fail "provd dhcp-config failed: $(cat "$T/dhcp-config.err")"
grep -qxF 'dhcp-boot=tag:httpboot,http://10.98.0.1:8080/v1/ipxe.efi' "$T/proxy.conf" ||
	fail "dhcp-config did not take public_url from provd.ini: $(cat "$T/proxy.conf")"
"$DNSMASQ" --test --conf-file="$T/proxy.conf" >/dev/null 2>&1 || fail "dnsmasq --test rejects the config: $("$DNSMASQ" --test --conf-file="$T/proxy.conf" 2>&1)"
"$DNSMASQ" --conf-file="$T/proxy.conf" --keep-in-foreground --log-dhcp --log-facility="$T/proxy.log" \
	--pid-file="$T/proxy.pid" --dhcp-leasefile="$T/proxy.leases" &
PIDS+=("$!")
for _ in $(seq 1 50); do
	grep -q 'TFTP root is' "$T/proxy.log" 2>/dev/null && grep -q 'DHCP, IP range' "$T/site.log" 2>/dev/null && break
	sleep 0.1
done
grep -q 'DHCP, proxy on subnet 10.98.0.0' "$T/proxy.log" || fail "ProxyDHCP dnsmasq did not start: $(cat "$T/proxy.log")"
grep -q 'DHCP, IP range 10.98.0.100' "$T/site.log" || fail "site DHCP dnsmasq did not start: $(cat "$T/site.log")"
say "provd on $URL; site DHCP and ProxyDHCP dnsmasq running"

# --- VMs ------------------------------------------------------------------------------------
uefi_build_disk "$SRC" "$T"

# start_vm NAME SERIAL KEY=VALUE... [-- QEMU ARGS...]: a q35 OVMF VM with state in $T/vm-NAME
# on tap-NAME; sets VM_PID and VM_START.
start_vm() {
	local name=$1 serial=$2 a extra=()
	shift 2
	local keys=()
	while [ $# -gt 0 ] && [ "$1" != -- ]; do keys+=("$1"); shift; done
	[ $# -eq 0 ] || { shift; extra=("$@"); }
	mkdir -p "$T/vm-$name"
	a=$(uefi_qemu_args "$T/vm-$name" name="$name" "netdev=tap,id=n0,ifname=tap-$name,script=no,downscript=no" \
		serial="$serial" "${keys[@]}") || fail "uefi_qemu_args failed"
	local args
	eval "args=($a)"
	: >"$serial"
	"$QEMU" "${args[@]}" "${extra[@]}" </dev/null >"$serial.qemu" 2>&1 &
	VM_PID=$!
	VM_START=$SECONDS
	PIDS+=("$VM_PID")
}

stop_vm() {
	kill -KILL "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

node_state() {
	curl -sS --max-time 5 "$URL/v1/nodes/$1" | jq -r .state 2>/dev/null || echo '?'
}

# wait_installed NODE PID SERIAL LIMIT: until NODE is installed and its VM powered off.
wait_installed() {
	local node=$1 pid=$2 serial=$3 limit=$4 installed_at=
	while kill -0 "$pid" 2>/dev/null; do
		if [ -z "$installed_at" ] && [ "$(node_state "$node")" = installed ]; then
			installed_at=$((SECONDS - VM_START))
		fi
		[ $((SECONDS - VM_START)) -lt "$limit" ] || fail "$node: not installed and powered off within ${limit}s (state $(node_state "$node"))"
		sleep 1
	done
	wait "$pid" 2>/dev/null || true
	grep -aq 'PROVD-E2E: ALL PHASES REPORTED' "$serial" || fail "$node: the installer did not report all phases"
	[ "$(node_state "$node")" = installed ] || fail "$node: state $(node_state "$node") after the installer's power-off"
	INSTALL_S=${installed_at:-$((SECONDS - VM_START))}
}

# node_check NODE JQ-EXPRESSION MESSAGE
node_check() {
	http GET "/v1/nodes/$1"
	[ "$STATUS" = 200 ] || fail "GET /v1/nodes/$1: $STATUS"
	printf '%s' "$BODY" | jq -e "$2" >/dev/null || fail "$1: $3: $BODY"
}

# ---- (a) UEFI PXE through ProxyDHCP + TFTP snponly.efi ------------------------------------
say "(a) node-a: UEFI PXE boot, install"
start_vm a "$T/a-1.serial" disk="$UEFI_DISK" disk-boot=2 mac="$MAC_A" net-boot=1
wait_installed node-a "$VM_PID" "$T/a-1.serial" 240
A_INSTALL=$INSTALL_S
strip_console <"$T/a-1.serial" >"$T/a-1.txt"
grep -q 'Start PXE over IPv4' "$T/a-1.txt" || fail "(a) OVMF did not PXE boot"
grep -q 'NBP filename is snponly.efi' "$T/a-1.txt" || fail "(a) OVMF's PXE was not given snponly.efi"
grep -q 'Filename: http://10.98.0.1:8080/v1/ipxe' "$T/a-1.txt" || fail "(a) iPXE was not given provd's /v1/ipxe"
grep -q 'provd: installing node-a' "$T/a-1.txt" || fail "(a) provd's install script did not run"
# Who answered what: the site server gave the address, ProxyDHCP only boot information (the
# UEFI client's second request, to port 4011, got the file), TFTP sent snponly.efi.
grep -Eq "DHCPACK\(site0\) 10\.98\.0\.[0-9]+ $MAC_A" "$T/site.log" || fail "(a) the site DHCP server did not lease an address to $MAC_A"
grep -q "PXE(br0) $MAC_A proxy" "$T/proxy.log" || fail "(a) no ProxyDHCP answer to $MAC_A"
grep -q 'bootfile name: snponly.efi' "$T/proxy.log" || fail "(a) ProxyDHCP never named snponly.efi"
grep -q 'sent /usr/lib/ipxe/snponly.efi to 10.98.0.1' "$T/proxy.log" || fail "(a) TFTP did not send snponly.efi"
grep -q 'bootfile name: http://10.98.0.1:8080/v1/ipxe$' "$T/proxy.log" || fail "(a) ProxyDHCP did not give iPXE /v1/ipxe"
if grep -Eq 'DHCP(OFFER|ACK)\(br0\)' "$T/proxy.log"; then
	fail "(a) the ProxyDHCP dnsmasq handed out an address"
fi
node_check node-a '.attempt.number == 1 and .attempt.firmware == "efi-x64" and ([.history[].to] | .[0] == "netbooting" and .[-1] == "installed")' \
	"not installed in one attempt from efi-x64 firmware"
say "(a) node-a installed ${A_INSTALL}s after QEMU start (UEFI PXE -> snponly.efi -> iPXE -> provd)"

# Boots 2 and 3, same NVRAM: provd answers "boot from local disk" (exit 1 under UEFI), and
# OVMF walks on down its boot order (PXEv4, PXEv6, HTTPv4, HTTPv6, then the disk) and must
# reach the disk's marker.  Boot 2 as OVMF comes, boot 3 with IPv6 PXE off.
# boot_to_disk N LABEL [QEMU ARGS...]: sets DISK_S (QEMU start -> marker) and WALK
boot_to_disk() {
	local n=$1 label=$2 serial=$T/a-$1.serial
	shift 2
	say "(a) node-a boot $n ($label): expect its disk"
	start_vm a "$serial" disk="$UEFI_DISK" disk-boot=2 mac="$MAC_A" net-boot=1 -- "$@"
	local vm=$VM_PID
	until grep -aqF "$UEFI_MARKER" "$serial"; do
		kill -0 "$vm" 2>/dev/null || fail "(a) boot $n: QEMU exited before the disk's marker"
		[ $((SECONDS - VM_START)) -lt 240 ] || fail "(a) boot $n: no disk marker within 240 s"
		sleep 0.5
	done
	DISK_S=$((SECONDS - VM_START))
	stop_vm "$vm"
	strip_console <"$serial" >"$T/a-$n.txt"
	grep -q 'provd: node-a is installed; booting from local disk' "$T/a-$n.txt" || fail "(a) boot $n: provd did not send node-a to its disk"
	if grep -q 'PROVD-E2E:' "$T/a-$n.txt"; then fail "(a) boot $n: the installer ran again"; fi
	node_check node-a '.state == "installed" and .attempt.number == 1' "boot $n changed the node"
	WALK=$(grep -oE 'BdsDxe: (loading|failed to (load|start)) Boot[0-9A-F]+ "[^"]+"' "$T/a-$n.txt" |
		sed -e 's/BdsDxe: //' -e 's/ (MAC:[0-9A-F]*)//' | paste -sd ';' -)
	say "(a) node-a reached its disk ${DISK_S}s after QEMU start ($label); boot manager: $WALK"
}
if [ "${E2E_UEFI_DEFAULTS_WALK:-1}" != 0 ]; then
	boot_to_disk 2 "OVMF's defaults"
	A_DISK_DEFAULT=${DISK_S}s
	grep -q 'Start PXE over IPv6' "$T/a-2.txt" || fail "(a) boot 2: PXEv6 was not tried (the walk is not what OVMF does by default)"
else
	A_DISK_DEFAULT="not run (E2E_UEFI_DEFAULTS_WALK=0)"
	say "(a) node-a boot 2 (OVMF's defaults) left out: E2E_UEFI_DEFAULTS_WALK=0"
fi
boot_to_disk 3 "IPv6PXESupport=n" -fw_cfg name=opt/org.tianocore/IPv6PXESupport,string=n
A_DISK=$DISK_S
if grep -q 'Start PXE over IPv6' "$T/a-3.txt"; then fail "(a) boot 3: PXEv6 ran although IPv6PXESupport=n"; fi

# ---- (b) UEFI HTTP Boot: /v1/ipxe.efi from the ProxyDHCP offer ----------------------------
say "(b) node-b: UEFI HTTP Boot (IPv4 and IPv6 PXE off), install"
start_vm b "$T/b-1.serial" mac="$MAC_B" net-boot=1 -- \
	-fw_cfg name=opt/org.tianocore/IPv4PXESupport,string=n -fw_cfg name=opt/org.tianocore/IPv6PXESupport,string=n
wait_installed node-b "$VM_PID" "$T/b-1.serial" 240
B_INSTALL=$INSTALL_S
strip_console <"$T/b-1.serial" >"$T/b-1.txt"
if grep -q 'Start PXE over' "$T/b-1.txt"; then fail "(b) OVMF ran PXE although IPv4/IPv6PXESupport=n"; fi
grep -q 'Start HTTP Boot over IPv4' "$T/b-1.txt" || fail "(b) OVMF did not start HTTP Boot"
grep -q 'URI: http://10.98.0.1:8080/v1/ipxe.efi' "$T/b-1.txt" || fail "(b) HTTP Boot was not given provd's /v1/ipxe.efi"
grep -q 'provd: installing node-b' "$T/b-1.txt" || fail "(b) provd's install script did not run"
grep -q 'vendor class: HTTPClient:Arch:00016' "$T/proxy.log" || fail "(b) no HTTPClient (option 93 = 16) request reached ProxyDHCP"
grep -q 'bootfile name: http://10.98.0.1:8080/v1/ipxe.efi' "$T/proxy.log" || fail "(b) ProxyDHCP did not offer /v1/ipxe.efi"
# option 60 of the offer: "HTTPClient" (EDK2 HttpBootDxe ignores a proxy offer without it)
grep -q 'sent size: 10 option: 60 vendor-class  48:54:54:50:43:6c:69:65:6e:74' "$T/proxy.log" ||
	fail "(b) the ProxyDHCP offer did not carry option 60 HTTPClient"
node_check node-b '.attempt.number == 1 and .attempt.firmware == "efi-x64" and .state == "installed"' "not installed in one attempt"
say "(b) node-b installed ${B_INSTALL}s after QEMU start (HTTP Boot -> /v1/ipxe.efi -> iPXE -> provd)"

provd_stop
say "PASS: UEFI PXE install ${A_INSTALL}s; disk after install ${A_DISK_DEFAULT} (OVMF defaults), ${A_DISK}s (IPv6PXESupport=n); HTTP Boot install ${B_INSTALL}s (total $((SECONDS - T0))s)"
