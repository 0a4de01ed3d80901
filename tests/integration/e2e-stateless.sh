#!/usr/bin/env bash
# e2e-stateless.sh — two stateless nodes, one SeaBIOS and one OVMF virtual machine, netboot the
# same shared image from provd, each with its own overlay, on every boot; one reboots itself,
# provd reboots the other through its BMC.
#
#   e2e-stateless.sh PATH_TO_PROVD [SOURCE_DIR]
#
# Peers, all inside a network namespace this test creates (provd-e2e-stateless-<pid>):
#   - a bridge br0 (10.79.0.1/24, fd00:79::1/64) with a tap for each VM;
#   - dnsmasq on br0 as DHCP + TFTP server: UEFI x64 PXE clients (option 93 = 7, no user
#     class) get snponly.efi over TFTP, iPXE (user class "iPXE") gets provd's /v1/ipxe; an
#     IPv6 router advertisement (ra-only) spares iPXE its wait for IPv6 autoconfiguration;
#   - provd on 10.79.0.1:8080 (the namespace is the test's own: the port is free), with one
#     image "standin": Debian's kernel and a busybox initramfs (tests/e2e/lib-vm.sh) whose
#     /init is tests/e2e/init-stateless, with the e1000 and virtio-net modules, and an
#     /etc/hostname "standin-image" that each node's overlay must replace; two nodes of mode
#     "stateless" on that image, each with a per-node overlay file (a fake SSH host key from
#     the test's secrets directory, mode 0600);
#   - node-bios: QEMU pc (SeaBIOS), e1000 whose iPXE ROM netboots, boot order network first,
#     and a disk whose boot sector prints a marker (tests/e2e/bios-disk-image); started by the
#     test, reboots itself when the test tells it;
#   - node-uefi: QEMU q35 (OVMF) owned by an OpenIPMI ipmi_sim BMC (tests/e2e/chassis-control-
#     qemu, VM_FIRMWARE=ovmf): virtio-net without option ROM, so OVMF's own PXE fetches
#     snponly.efi over TFTP and iPXE chains to provd; a GPT disk whose GRUB prints a marker
#     (tests/e2e/uefi-disk-image), second in the boot order;
#   - a control directory served over HTTP on 10.79.0.1:8081 (python3 http.server): the
#     stand-in polls <ctl>/<node>/<kernel boot id> for its next step (reboot, poweroff).
#
# 1. Both VMs start at once (node-bios by the test, node-uefi by `provd power node-uefi on`) and
#    go at their own pace.  Each netboots the image plus its overlay (GET /v1/overlay/<boot
#    token>, the last initrd); the stand-in checks the overlay is its own (hostname, node, url,
#    credential 0600, the manifest, the per-node file) and that provd serves it, reports
#    running with its boot token, and checks the overlay is refused (404) once running.  The
#    test sees the node `running` (GET /v1/nodes/<name>: mode, image, boot number, firmware,
#    overlay ETag; GET /v1/nodes/<name>/boots) and the token refused by the overlay route.
#    Then its second boot: node-bios reboots itself (reboot -f; SeaBIOS netboots again);
#    `provd reboot node-uefi` sets the BMC's boot device to PXE and power cycles.  Each reaches
#    `running` again with a second boot record and a new token; the old token's overlay and
#    install events are refused.
# 2. The overlays differed (hostnames, ETags); neither VM ever booted its disk (no marker on
#    any console); node-uefi's BMC saw: power on, boot pxe, power off, power on.
# 3. Everything is stopped by pid (node-uefi's QEMU by its pidfile); provd exits 0 with no
#    sanitizer report.
# Needs root (ip netns, tap devices).  Environment: E2E_TIMEOUT (seconds for each round of
# boots, default 150), E2E_KEEP=1 keeps the temp directory.  Exit 77 (skip) when a tool is
# missing, unless PROVD_TESTS_NO_SKIP=1.
set -euo pipefail

# The outer run makes the namespace and runs this script again inside it.
source "$(dirname "${BASH_SOURCE[0]}")/lib-netns.sh"
netns_enter e2e-stateless -- "$@"

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib-ipmi.sh"
source "$(dirname "${BASH_SOURCE[0]}")/../e2e/lib-vm.sh"
source "$(dirname "${BASH_SOURCE[0]}")/../e2e/lib-uefi.sh"

TIMEOUT=${E2E_TIMEOUT:-150}
BR=10.79.0.1
PORT=8080
CTL_PORT=8081
MAC_BIOS=52:54:00:5e:16:01
MAC_UEFI=52:54:00:5e:16:02
NODES=(node-bios node-uefi)
declare -A VM_OF=([node-bios]=bios [node-uefi]=uefi)
KEY_PATH=/etc/ssh/ssh_host_ed25519_key
T0=$SECONDS
say() { printf '[e2e-stateless %3ds] %s\n' $((SECONDS - T0)) "$*"; }

BIOS_DIR=$T/vm-bios
BIOS_PID=
UEFI_DIR= # the BMC's directory: chassis-control-qemu state, serial logs, NVRAM, disk

# vm_console NODE: everything the node's VM printed on its serial console, all boots
vm_console() {
	if [ "$1" = node-bios ]; then
		[ -f "$BIOS_DIR/serial.log" ] && strip_console <"$BIOS_DIR/serial.log"
	else
		local i=1
		while [ -f "$UEFI_DIR/serial-$i.log" ]; do
			strip_console <"$UEFI_DIR/serial-$i.log"
			i=$((i + 1))
		done
	fi
	return 0
}
dump_logs() {
	local n
	for n in "${NODES[@]}"; do
		echo "----- console of $n (${VM_OF[$n]}), last 30 lines -----"
		vm_console "$n" | grep -v '^$' | tail -n 30 | cut -c1-200
	done
	local f
	for f in "$UEFI_DIR/control.log" "$UEFI_DIR/events" "$UEFI_DIR/boots" "$T/dnsmasq.log" "$T/ctl.log"; do
		[ -n "$UEFI_DIR" ] && [ -f "$f" ] && { echo "----- $(basename "$f") -----"; tail -n 20 "$f"; }
	done
	for f in "$T"/cli-*.out "$T"/cli-*.err; do
		[ -s "$f" ] && { echo "----- $(basename "$f") -----"; tail -n 10 "$f"; }
	done
	echo "-----"
}
stop_vms() {
	if [ -n "$BIOS_PID" ]; then
		kill -KILL "$BIOS_PID" 2>/dev/null || true
		wait "$BIOS_PID" 2>/dev/null || true
		BIOS_PID=
	fi
	[ -z "$UEFI_DIR" ] || vm_stop_controlled "$UEFI_DIR"
}
keep_tmp() { vm_keep_tmp provd-e2e-stateless "$T"; }
AT_EXIT+=(stop_vms keep_tmp)

# ---- tools ------------------------------------------------------------------------------------
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

# ---- the shared image: kernel + busybox initramfs, /init = tests/e2e/init-stateless ------------
VM_INIT=$SRC/tests/e2e/init-stateless vm_build_initramfs "$SRC" "$T/image" e1000 virtio_pci virtio_net
# The image's own /etc/hostname, which each overlay must replace; repack.
echo standin-image >"$T/image/initramfs/etc/hostname"
(cd "$T/image/initramfs" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) | gzip -1 >"$INITRD"
# The kernel reads an uncompressed cpio archive only at a 4-byte-aligned offset of the
# concatenated initrds (zero bytes between archives are skipped; Documentation/driver-api/
# early-userspace/buffer-format.rst).  iPXE's BIOS loader pads each initrd to 4 KiB; under UEFI
# the Linux EFI stub (initrd=initrd0 initrd=initrd1) loads them back to back.  A real image's
# size is arbitrary: keep this one's off a multiple of 4, so every run shows the overlay
# landing on top of an image whatever its size (a trailing zero byte is skipped).
[ $(($(stat -c %s "$INITRD") % 4)) != 0 ] || printf '\0' >>"$INITRD"
say "image: kernel $KERNEL, initramfs $(du -k "$INITRD" | cut -f1) KiB (busybox, init-stateless, $VM_MODULES)"

# The local disks: what the VMs must never boot.
BIOS_MARKER="provd-test: booted from local disk (BIOS)"
mkdir -p "$BIOS_DIR"
"$SRC/tests/e2e/bios-disk-image" "$BIOS_DIR/disk.img" "$BIOS_MARKER" || fail "cannot build the BIOS test disk image"
uefi_build_disk "$SRC" "$T"

# Per-node files of the overlays: fake SSH host keys in a secrets directory.
for n in "${NODES[@]}"; do
	mkdir -p "$T/secrets/$n"
	(umask 077 && printf 'fake ed25519 host key of %s\n' "$n" >"$T/secrets/$n/ssh_host_ed25519_key")
done

# ---- the network ------------------------------------------------------------------------------
ip link set lo up
ip link add br0 type bridge
ip addr add "$BR/24" dev br0
ip addr add fd00:79::1/64 dev br0 nodad
ip link set br0 up
for tap in tap-bios tap-uefi; do
	ip tuntap add dev "$tap" mode tap
	ip link set "$tap" master br0
	ip link set "$tap" up
done

# ---- provd --------------------------------------------------------------------------------------
sim_base
SIM_CHASSIS_CONTROL=$CONTROL # lib-ipmi writes: chassis_control "$CONTROL $(sim_dir 1)"
UEFI_DIR=$(sim_dir 1)
mkdir -p "$UEFI_DIR"
BMC=$SIM_NET.1
PW=$T/bmc-password
(umask 077 && printf '%s\n' "$SIM_PASSWORD" >"$PW")
IMAGE_INIT=/nix/store/0c6zx4m1r2qw7kh8c3lmm9p1hq5bcn3d-nixos-system-standin/init
IMAGE_TOPLEVEL=/nix/store/0c6zx4m1r2qw7kh8c3lmm9p1hq5bcn3d-nixos-system-standin
overlay_json() {
	printf '{"files": [{"path": "%s", "source": "%s", "mode": "0600", "uid": 0, "gid": 0}]}' \
		"$KEY_PATH" "$T/secrets/$1/ssh_host_ed25519_key"
}
cat >"$T/inventory.json" <<EOF
{
  "version": 1,
  "images": {
    "standin": {
      "kernel": "$KERNEL",
      "initrd": ["$INITRD"],
      "init": "$IMAGE_INIT",
      "toplevel": "$IMAGE_TOPLEVEL",
      "cmdline": "console=ttyS0 quiet e2e.ctl=http://$BR:$CTL_PORT e2e.file=$KEY_PATH:600"
    }
  },
  "nodes": [
    {"name": "node-bios", "mac": ["$MAC_BIOS"], "mode": "stateless", "image": "standin",
     "overlay": $(overlay_json node-bios)},
    {"name": "node-uefi", "mac": ["$MAC_UEFI"], "mode": "stateless", "image": "standin",
     "overlay": $(overlay_json node-uefi),
     "bmc": {"host": "$BMC", "port": 623, "user": "$SIM_USER", "password_file": "$PW",
             "cipher_suite": 3, "workarounds": ["opensesspriv"], "boot_mode": "efi",
             "console": "none"}}
  ]
}
EOF
"$PROVD" token new --name e2e --file "$T/api-tokens" >"$T/token" 2>"$T/token.err" ||
	fail "provd token new: $(cat "$T/token.err")"
printf '[serve]\napi_tokens = %s\npublic_url = http://%s:%s\n' "$T/api-tokens" "$BR" "$PORT" >"$T/provd.ini"
provd_start "$T/inventory.json" --config "$T/provd.ini" --listen "$BR:$PORT"
[ "$URL" = "http://$BR:$PORT" ] || fail "provd listens on $URL, not http://$BR:$PORT"
say "provd (pid $PROVD_PID) on $URL"
cli() { # NAME ARGS... -> $T/cli-NAME.out / .err, sets CLI_RC
	local name=$1
	shift
	CLI_RC=0
	"$PROVD" "$@" --url "$URL" --token-file "$T/token" >"$T/cli-$name.out" 2>"$T/cli-$name.err" || CLI_RC=$?
}
api() { # PATH -> $BODY (JSON), with the API token
	http GET "$1" -H "Authorization: Bearer $(cat "$T/token")"
	[ "$STATUS" = 200 ] || fail "GET $1: $STATUS $(short_body)"
}

# ---- dnsmasq, the control directory, the BMC ----------------------------------------------------
mkdir -p "$T/tftp"
cp "$SNPONLY" "$T/tftp/snponly.efi"
"$DNSMASQ" --keep-in-foreground --conf-file=/dev/null --user=root --group=root --port=0 \
	--interface=br0 --bind-interfaces --dhcp-range=10.79.0.100,10.79.0.199,1h --no-ping \
	--enable-ra --dhcp-range=::,constructor:br0,ra-only \
	--dhcp-match=set:efi64,option:client-arch,7 --dhcp-userclass=set:ipxe,iPXE \
	"--dhcp-boot=tag:ipxe,$URL/v1/ipxe" --dhcp-boot=tag:efi64,tag:!ipxe,snponly.efi \
	--enable-tftp --tftp-root="$T/tftp" --dhcp-leasefile="$T/leases" --pid-file="$T/dnsmasq.pid" \
	--log-facility=- --log-dhcp >"$T/dnsmasq.log" 2>&1 &
DNSMASQ_PID=$!
PIDS+=("$DNSMASQ_PID")

mkdir -p "$T/ctl/node-bios" "$T/ctl/node-uefi"
python3 -m http.server "$CTL_PORT" --bind "$BR" --directory "$T/ctl" </dev/null >"$T/ctl.log" 2>&1 &
CTL_PID=$!
PIDS+=("$CTL_PID")

cat >"$UEFI_DIR/vm.env" <<EOF
QEMU='$QEMU'
VM_FIRMWARE=ovmf
OVMF_CODE='$OVMF_CODE'
OVMF_VARS='$OVMF_VARS'
VM_DISK='$UEFI_DISK'
VM_BOOT_ORDER=net
VM_MAC=$MAC_UEFI
VM_NETDEV='tap,id=n0,ifname=tap-uefi,script=no,downscript=no'
VM_MEM=512
EOF
sim_start 1
sim_wait 1
[ "$(sim_ipmitool 1 chassis power status)" = "Chassis Power is off" ] || fail "node-uefi's VM is not off before the test"
for _ in $(seq 1 50); do
	grep -q 'TFTP root is' "$T/dnsmasq.log" 2>/dev/null &&
		curl -s -o /dev/null --max-time 1 "http://$BR:$CTL_PORT/" && break
	sleep 0.1
done
kill -0 "$DNSMASQ_PID" 2>/dev/null || fail "dnsmasq exited: $(cat "$T/dnsmasq.log")"
kill -0 "$CTL_PID" 2>/dev/null || fail "the control server exited: $(cat "$T/ctl.log")"
say "dnsmasq on br0, control server on $BR:$CTL_PORT, ipmi_sim (pid ${SIM_PID[1]}) at $BMC:623 owns node-uefi's VM (off)"

for n in "${NODES[@]}"; do
	api "/v1/nodes/$n"
	printf '%s' "$BODY" | jq -e '.state == "new" and .mode == "stateless" and .image == "standin"' >/dev/null ||
		fail "$n before any boot: $(short_body)"
done

# ---- the VMs ------------------------------------------------------------------------------------
start_bios_vm() {
	: >"$BIOS_DIR/serial.log"
	"$QEMU" -accel tcg -machine pc,graphics=off -m 512 -nodefaults -display none -name node-bios \
		-boot order=n -drive "file=$BIOS_DIR/disk.img,format=raw,if=virtio" \
		-netdev tap,id=n0,ifname=tap-bios,script=no,downscript=no -device "e1000,netdev=n0,mac=$MAC_BIOS" \
		-serial "file:$BIOS_DIR/serial.log" </dev/null >"$BIOS_DIR/qemu.log" 2>&1 &
	BIOS_PID=$!
}

declare -A BOOT_ID=() TOKEN=() RECORD=() ETAG=() HOST=()
UEFI_OFF_SINCE=
# vm_progress NODE BOOT: 0 when the node's Nth boot is up (its Nth RUNNING line on the
# console and provd shows it running with N boot records), 1 while not yet; fails on a
# stand-in failure, a panic, the disk's marker or a dead VM.
vm_progress() {
	local n=$1 k=$2 text line
	text=$(vm_console "$n")
	line=$(grep -m 1 -E 'PROVD-E2E: FAIL|Kernel panic' <<<"$text" || true)
	[ -z "$line" ] || fail "$n (${VM_OF[$n]}), boot $k: $line"
	if grep -qF -e "$BIOS_MARKER" -e "$UEFI_MARKER" <<<"$text"; then
		fail "$n (${VM_OF[$n]}), boot $k: the VM booted its local disk"
	fi
	if [ "$n" = node-bios ]; then
		kill -0 "$BIOS_PID" 2>/dev/null || fail "$n (bios), boot $k: QEMU exited: $(cat "$BIOS_DIR/qemu.log")"
	elif [ "$("$CONTROL" "$UEFI_DIR" get power)" = power:1 ]; then
		UEFI_OFF_SINCE=
	else # off for a moment in a power cycle; not for long
		: "${UEFI_OFF_SINCE:=$SECONDS}"
		[ $((SECONDS - UEFI_OFF_SINCE)) -lt 15 ] || fail "$n (uefi), boot $k: the VM has been off for 15 s"
	fi
	kill -0 "$DNSMASQ_PID" 2>/dev/null || fail "dnsmasq died"
	kill -0 "${SIM_PID[1]}" 2>/dev/null || fail "ipmi_sim died"
	[ "$(grep -c 'PROVD-E2E: RUNNING' <<<"$text")" -ge "$k" ] || return 1
	api "/v1/nodes/$n"
	printf '%s' "$BODY" | jq -e '.state == "running"' >/dev/null || return 1
	line=$(grep 'PROVD-E2E: RUNNING' <<<"$text" | sed -n "${k}p")
	BOOT_ID[$n,$k]=$(sed -n 's/.* boot_id=\([^ ]*\).*/\1/p' <<<"$line")
	TOKEN[$n,$k]=$(sed -n 's/.* token=\([^ ]*\).*/\1/p' <<<"$line")
	RECORD[$n,$k]=$(printf '%s' "$BODY" | jq -r '.boot.id')
	ETAG[$n,$k]=$(printf '%s' "$BODY" | jq -r '.boot.overlay_etag')
	HOST[$n,$k]=$(grep 'PROVD-E2E: overlay ok: hostname ' <<<"$text" | sed -n "${k}s/.*hostname \([^ ,]*\).*/\1/p")
	printf '%s' "$BODY" >"$T/node-$n-$k.json"
	return 0
}
# check_boot NODE BOOT FIRMWARE: what provd recorded for the Nth boot, and the stand-in's checks
check_boot() {
	local n=$1 k=$2 fw=$3 text
	jq -e --arg fw "$fw" --argjson k "$k" '.mode == "stateless" and .image == "standin" and .boot.number == $k and
		.boot.firmware == $fw and .boot.image == "standin" and (.boot.overlay_etag | type == "string" and length > 0)' \
		"$T/node-$n-$k.json" >/dev/null ||
		fail "$n ($fw), boot $k: node detail is not a running stateless boot: $(jq -c '{state, mode, image, boot}' "$T/node-$n-$k.json")"
	api "/v1/nodes/$n/boots"
	printf '%s' "$BODY" >"$T/boots-$n-$k.json"
	[ "$(jq '.boots | length' "$T/boots-$n-$k.json")" = "$k" ] ||
		fail "$n ($fw), boot $k: provd lists $(jq '.boots | length' "$T/boots-$n-$k.json") boot records, want $k: $(short_body)"
	[ "$(jq -r '.boots[0].id' "$T/boots-$n-$k.json")" = "${RECORD[$n,$k]}" ] ||
		fail "$n ($fw), boot $k: the newest boot record is not the node's boot: $(short_body)"
	text=$(vm_console "$n")
	grep -qF "PROVD-E2E: node $n, provd at $URL, init=$IMAGE_INIT" <<<"$text" ||
		fail "$n ($fw), boot $k: the kernel command line lacks provd.node=$n, provd.url=$URL or init=$IMAGE_INIT"
	[ "${HOST[$n,$k]}" = "$n" ] || fail "$n ($fw), boot $k: the overlay's hostname is '${HOST[$n,$k]}'"
	# what iPXE fetched for this boot: the image's kernel, its initrd, then this boot's overlay
	local fetched
	fetched=$(grep -oE "^$URL/v1/(files|overlay)/[^ ]*" <<<"$text" | sed 's/[.][.][.]$//' |
		grep -B2 -xF "$URL/v1/overlay/${TOKEN[$n,$k]}" | sed -e "s|^$URL||" -e "s|^/v1/files$T/|/v1/files/T/|" | paste -sd ' ' -)
	[ "$fetched" = "/v1/files$KERNEL /v1/files/T/image/initrd.gz /v1/overlay/${TOKEN[$n,$k]}" ] ||
		fail "$n ($fw), boot $k: iPXE fetched '$fetched', want the kernel, the image's initrd, then /v1/overlay/<this boot's token>"
	[ -n "${TOKEN[$n,$k]}" ] || fail "$n ($fw), boot $k: no token on the RUNNING line"
	[ -n "${BOOT_ID[$n,$k]}" ] || fail "$n ($fw), boot $k: no boot id on the RUNNING line"
	[ "$(grep -c 'PROVD-E2E: overlay refused after running: 404' <<<"$text")" -ge "$k" ] ||
		fail "$n ($fw), boot $k: the stand-in did not see its overlay refused after running"
}
# overlay_refused NODE BOOT: the overlay route refuses that boot's token (GET and HEAD)
overlay_refused() {
	local n=$1 k=$2 st
	st=$(curl -sS -o "$T/overlay.body" -w '%{http_code}' --max-time 10 "$URL/v1/overlay/${TOKEN[$n,$k]}") || st=000
	[ "$st" = 404 ] || fail "$n, boot $k's token: GET /v1/overlay answered $st after the node was running, want 404: $(head -c 200 "$T/overlay.body")"
	st=$(curl -sS -I -o /dev/null -w '%{http_code}' --max-time 10 "$URL/v1/overlay/${TOKEN[$n,$k]}") || st=000
	[ "$st" = 404 ] || fail "$n, boot $k's token: HEAD /v1/overlay answered $st, want 404"
}

# second_boot NODE: node-bios reboots itself (the test writes its step), provd reboots node-uefi
second_boot() {
	if [ "$1" = node-bios ]; then
		say "node-bios: reboot yourself (step for kernel boot id ${BOOT_ID[node-bios,1]})"
		printf 'reboot\n' >"$T/ctl/node-bios/${BOOT_ID[node-bios,1]}"
	else
		say "node-uefi: provd reboot node-uefi (BMC: boot device PXE, power cycle)"
		cli reboot reboot node-uefi
		[ "$CLI_RC" = 0 ] || fail "provd reboot node-uefi exited $CLI_RC: $(cat "$T/cli-reboot.out" "$T/cli-reboot.err")"
		grep -E '^node-uefi ' "$T/cli-reboot.out" | grep -qv 'error' || fail "provd reboot node-uefi printed: $(cat "$T/cli-reboot.out")"
		say "  $(grep -E '^node-uefi ' "$T/cli-reboot.out")"
	fi
}
# after_boot NODE BOOT: the checks of a node's boot, once it is up; after boot 1 its second boot
after_boot() {
	local n=$1 k=$2 fw st
	[ "$n" = node-bios ] && fw=bios || fw=efi-x64
	check_boot "$n" "$k" "$fw"
	overlay_refused "$n" 1
	if [ "$k" = 1 ]; then
		ok "$n ($fw): boot 1 running; the stand-in checked its overlay (hostname, node, url, credential 0600, manifest, $KEY_PATH 0600); its token gets 404 from /v1/overlay now"
		second_boot "$n"
		return 0
	fi
	[ "${TOKEN[$n,2]}" != "${TOKEN[$n,1]}" ] || fail "$n, boot 2: the same boot token as boot 1"
	[ "${RECORD[$n,2]}" != "${RECORD[$n,1]}" ] || fail "$n, boot 2: the same boot record as boot 1 (${RECORD[$n,1]})"
	[ "${BOOT_ID[$n,2]}" != "${BOOT_ID[$n,1]}" ] || fail "$n, boot 2: the same kernel boot id: the VM did not boot again"
	overlay_refused "$n" 2
	# the first boot's token reports nothing any more
	st=$(curl -sS -o "$T/events.body" -w '%{http_code}' --max-time 10 -X POST \
		-H "Authorization: Bearer ${TOKEN[$n,1]}" -H 'Content-Type: application/json' \
		--data '{"phase":"failed","message":"stale token"}' "$URL/v1/install/events") || st=000
	case $st in 401 | 403 | 404 | 409) ;; *) fail "$n: POST /v1/install/events with boot 1's token answered $st: $(head -c 200 "$T/events.body")" ;; esac
	api "/v1/nodes/$n"
	printf '%s' "$BODY" | jq -e '.state == "running"' >/dev/null || fail "$n: boot 1's token changed the node: $(short_body)"
	ok "$n ($fw): boot 2 running from the network image: boot record ${RECORD[$n,2]} (was ${RECORD[$n,1]}), a new token; boot 1's token refused (overlay 404, events $st)"
}

# ---- 1. both VMs boot twice, each at its own pace ----------------------------------------------------
# Each node: boot 1 up -> its checks -> its second boot -> boot 2 up -> its checks.
say "node-bios (SeaBIOS, iPXE ROM) started by the test, node-uefi (OVMF PXE) by provd power on"
start_bios_vm
cli power-on power node-uefi on
[ "$CLI_RC" = 0 ] || fail "provd power node-uefi on exited $CLI_RC: $(cat "$T/cli-power-on.out" "$T/cli-power-on.err")"
declare -A STAGE=([node-bios]=1 [node-uefi]=1) SINCE=([node-bios]=$SECONDS [node-uefi]=$SECONDS)
while [ "${STAGE[node-bios]}${STAGE[node-uefi]}" != 33 ]; do
	for n in "${NODES[@]}"; do
		k=${STAGE[$n]}
		[ "$k" != 3 ] || continue
		if vm_progress "$n" "$k"; then
			say "$n (${VM_OF[$n]}): boot $k running after $((SECONDS - SINCE[$n]))s"
			after_boot "$n" "$k"
			STAGE[$n]=$((k + 1))
			SINCE[$n]=$SECONDS
		elif [ $((SECONDS - SINCE[$n])) -ge "$TIMEOUT" ]; then
			api "/v1/nodes/$n"
			fail "$n (${VM_OF[$n]}), boot $k: not running within ${TIMEOUT}s (provd: $(printf '%s' "$BODY" | jq -c '{state, boot}'))"
		fi
	done
	sleep 0.5
done

# ---- 2. what both show ----------------------------------------------------------------------------------
[ "${ETAG[node-bios,1]}" != "${ETAG[node-uefi,1]}" ] || fail "both nodes got the same overlay (ETag ${ETAG[node-bios,1]})"
ok "one shared image, two overlays: hostnames ${HOST[node-bios,1]} / ${HOST[node-uefi,1]}, ETags ${ETAG[node-bios,1]} / ${ETAG[node-uefi,1]}"
vm_console node-uefi | grep -q '>>Start PXE over IPv4' || fail "node-uefi (uefi): OVMF's own PXE did not run"
grep -qiE "sent .*snponly.efi" "$T/dnsmasq.log" || fail "node-uefi (uefi): dnsmasq did not send snponly.efi over TFTP"
vm_console node-bios | grep -q 'PROVD-E2E: step: reboot' || fail "node-bios (bios), boot 2: it did not reboot itself"
[ "$(vm_console node-bios | grep -c 'iPXE initialising')" -ge 2 ] || fail "node-bios (bios), boot 2: its iPXE ROM did not run twice"
read -r _ boot order _ < <(sed -n 2p "$UEFI_DIR/boots") || true
[ "$boot $order" = "boot=pxe order=net" ] || fail "node-uefi (uefi), boot 2: power on $(sed -n 2p "$UEFI_DIR/boots"), want boot=pxe order=net"
# (uniq: under load ipmi_sim may run a command twice when the client sent it again while the
# chassis program was starting QEMU; a second "power 1" finds the VM on)
events=$(uniq "$UEFI_DIR/events" | paste -sd, -)
[ "$events" = "power 1,boot pxe,power 0,power 1" ] || fail "node-uefi (uefi): BMC chassis events '$events', want 'power 1,boot pxe,power 0,power 1'"
api "/v1/nodes/node-uefi"
printf '%s' "$BODY" | jq -e '[.history[].message // ""] | any(test("reboot requested"))' >/dev/null ||
	fail "node-uefi: no 'reboot requested' in its history: $(printf '%s' "$BODY" | jq -c '[.history[] | [.to, .cause, .message]]')"
ok "provd reboot node-uefi: BMC events power on, boot pxe, power off, power on; history 'reboot requested'"
for n in "${NODES[@]}"; do
	if vm_console "$n" | grep -qF -e "$BIOS_MARKER" -e "$UEFI_MARKER"; then
		fail "$n (${VM_OF[$n]}): the VM booted its local disk"
	fi
done
ok "no disk marker on either console: every boot was the network image"

# ---- 3. stop everything by pid ------------------------------------------------------------------------
stop_vms
sim_stop 1
kill -TERM "$DNSMASQ_PID" "$CTL_PID" 2>/dev/null || true
provd_stop
say "PASS ($((SECONDS - T0))s)"
