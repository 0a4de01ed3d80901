# shellcheck shell=sh
# lib-uefi.sh — shared pieces of the UEFI (OVMF) end-to-end tests, sourced by the bash tests
# and by tests/e2e/chassis-control-qemu (POSIX sh: no arrays, no bash-isms here).  Functions
# that skip need the includer's skip MESSAGE (exit 77, or 1 under PROVD_TESTS_NO_SKIP).
#   uefi_find_tools           sets QEMU (unless set), OVMF_CODE (OVMF_CODE_4M.fd) and
#                             OVMF_VARS (OVMF_VARS_4M.fd, the NVRAM template) under
#                             /usr/share/OVMF; skips when they, QEMU or the disk image tools
#                             (grub-mkstandalone, sfdisk, mtools) are missing
#   uefi_build_disk SRC DIR   builds DIR/uefi-disk.img with SRC/tests/e2e/uefi-disk-image and
#                             sets UEFI_DISK to it and UEFI_MARKER to the line it prints when
#                             it boots ("provd-test: booted from local disk").  Build it once
#                             per test; every VM gets its own copy (uefi_qemu_args disk=)
#   uefi_vars_copy DIR        sets UEFI_VARS=DIR/OVMF_VARS.fd: the VM's NVRAM, copied from
#                             $OVMF_VARS the first time only, so the boot options and
#                             variables the firmware writes persist across that VM's boots
#   uefi_disk_copy IMAGE DIR  sets UEFI_VM_DISK=DIR/disk.img: the VM's own (sparse) copy of
#                             IMAGE, made the first time only (VMs may write their disk; the
#                             built image stays shared)
#   uefi_qemu_args DIR [KEY=VALUE...]
#                             prints QEMU arguments, shell-quoted for eval, for a q35 OVMF VM
#                             whose state lives in DIR (NVRAM and disk copies, made on first
#                             use).  Keys (all optional):
#                               mem=MiB          memory (default 512)
#                               name=NAME        -name
#                               disk=IMAGE       a virtio-blk disk: uefi_disk_copy IMAGE DIR
#                               disk-boot=N      its bootindex
#                               netdev=SPEC      -netdev SPEC (its id must be n0), with a
#                               mac=MAC          virtio-net NIC with this MAC and NO option
#                                                ROM (romfile=), so OVMF's own PXE/HTTP Boot
#                                                (EDK2 NetworkPkg) drives it
#                               net-boot=N       the NIC's bootindex
#                               serial=FILE      -serial file:FILE (without: none; add your own)
#                             bootindex (QEMU docs, "bootindex"): lower boots first; OVMF
#                             rebuilds BootOrder from it at every boot, the NIC's entry
#                             standing for its PXEv4, PXEv6, HTTPv4 and HTTPv6 boot options.
#                             Use: bash  a=$(uefi_qemu_args "$D" ...) || fail; eval "args=($a)"
#                                  sh    a=$(uefi_qemu_args "$D" ...) || exit 1
#                                        eval "set -- \"\$@\" $a"
#   uefi_quote WORD...        prints each WORD single-quoted for eval, space-separated
# The VM: -accel tcg (a nested KVM hangs iPXE), -machine q35,graphics=off and -nodefaults
# -display none: no VGA, so OVMF's console (and with it every firmware and boot-manager line,
# "BdsDxe: loading Boot0001 ...") goes to the serial port.  OVMF_CODE is read-only pflash
# unit 0, the NVRAM copy writable unit 1 (QEMU docs, "OVMF", "-drive if=pflash").
# Measured under TCG on 2 cores: QEMU start -> the disk image's marker, disk first in the boot
# order: 4.4-5.2 s with a fresh NVRAM copy, 3.3-3.9 s on its later boots.

uefi_find_tools() {
	if [ -z "${QEMU:-}" ]; then
		QEMU=$(command -v qemu-system-x86_64) || skip "qemu-system-x86_64 not installed"
	fi
	OVMF_CODE=/usr/share/OVMF/OVMF_CODE_4M.fd
	OVMF_VARS=/usr/share/OVMF/OVMF_VARS_4M.fd
	if [ ! -r "$OVMF_CODE" ] || [ ! -r "$OVMF_VARS" ]; then
		skip "no $OVMF_CODE / $OVMF_VARS (install ovmf)"
	fi
	if ! command -v grub-mkstandalone >/dev/null 2>&1 || [ ! -d /usr/lib/grub/x86_64-efi ]; then
		skip "no grub-mkstandalone for x86_64-efi (install grub-efi-amd64-bin)"
	fi
	command -v sfdisk >/dev/null 2>&1 || skip "sfdisk not installed (fdisk)"
	for _t in mformat mmd mcopy; do
		command -v "$_t" >/dev/null 2>&1 || skip "$_t not installed (mtools)"
	done
}

uefi_build_disk() {
	UEFI_MARKER="provd-test: booted from local disk"
	UEFI_DISK=$2/uefi-disk.img
	"$1/tests/e2e/uefi-disk-image" "$UEFI_DISK" "$UEFI_MARKER" >"$2/uefi-disk-image.log" 2>&1 ||
		fail "tests/e2e/uefi-disk-image failed: $(cat "$2/uefi-disk-image.log")"
}

uefi_vars_copy() {
	UEFI_VARS=$1/OVMF_VARS.fd
	[ -f "$UEFI_VARS" ] || cp "$OVMF_VARS" "$UEFI_VARS"
}

uefi_disk_copy() {
	UEFI_VM_DISK=$2/disk.img
	[ -f "$UEFI_VM_DISK" ] || cp --sparse=always "$1" "$UEFI_VM_DISK"
}

uefi_quote() {
	for w in "$@"; do
		printf "'%s' " "$(printf '%s' "$w" | sed "s/'/'\\\\''/g")"
	done
}

uefi_qemu_args() {
	_d=$1
	shift
	_mem=512 _name='' _disk='' _diskboot='' _netdev='' _mac='' _netboot='' _serial=''
	for _kv in "$@"; do
		case $_kv in
		mem=*) _mem=${_kv#*=} ;;
		name=*) _name=${_kv#*=} ;;
		disk=*) _disk=${_kv#*=} ;;
		disk-boot=*) _diskboot=${_kv#*=} ;;
		netdev=*) _netdev=${_kv#*=} ;;
		mac=*) _mac=${_kv#*=} ;;
		net-boot=*) _netboot=${_kv#*=} ;;
		serial=*) _serial=${_kv#*=} ;;
		*)
			echo "uefi_qemu_args: unknown key '$_kv'" >&2
			return 1
			;;
		esac
	done
	if [ -z "${OVMF_CODE:-}" ] || [ -z "${OVMF_VARS:-}" ]; then
		echo "uefi_qemu_args: OVMF_CODE / OVMF_VARS not set (uefi_find_tools)" >&2
		return 1
	fi
	uefi_vars_copy "$_d" || return 1
	uefi_quote -accel tcg -machine q35,graphics=off -m "$_mem" -nodefaults -display none \
		-drive "if=pflash,format=raw,unit=0,readonly=on,file=$OVMF_CODE" \
		-drive "if=pflash,format=raw,unit=1,file=$UEFI_VARS"
	[ -z "$_name" ] || uefi_quote -name "$_name"
	if [ -n "$_disk" ]; then
		uefi_disk_copy "$_disk" "$_d" || return 1
		uefi_quote -drive "if=none,id=disk0,format=raw,file=$UEFI_VM_DISK" \
			-device "virtio-blk-pci,drive=disk0${_diskboot:+,bootindex=$_diskboot}"
	fi
	if [ -n "$_netdev" ]; then
		uefi_quote -netdev "$_netdev" \
			-device "virtio-net-pci,netdev=n0${_mac:+,mac=$_mac},romfile=${_netboot:+,bootindex=$_netboot}"
	fi
	[ -z "$_serial" ] || uefi_quote -serial "file:$_serial"
}
