#!/usr/bin/env bash
# e2e-instances.sh — end-to-end with two provd instances on one PostgreSQL database (a cluster
# the test starts with tests/tools/pg-cluster): a QEMU VM netboots through iPXE from instance
# a, whose answer names instance b's URL (its --public-url: a site's front-end name), so the
# boot files come from b and the fake installer reports its phases to b; both instances show
# the node installed, and on its second boot a, which never saw an installer event, tells iPXE
# to boot the local disk, and SeaBIOS does.
#
#   e2e-instances.sh [PROVD_BINARY [SOURCE_DIR]]
#
# Peers: a and b on 127.0.0.1:<random ports>; QEMU with user-mode networking, restrict=on:
# guestfwd 10.0.2.100:80 -> a, 10.0.2.101:80 -> b ("busybox nc 127.0.0.1 PORT" per
# connection); QEMU's DHCP hands out a's per-MAC iPXE script as the bootfile
# (http://10.0.2.100/v1/ipxe?mac=...: what /v1/ipxe chains to, asked of a directly, since
# /v1/ipxe itself chains through the public URL).  Exit 77 (skip)
# when QEMU, a kernel, busybox or PostgreSQL is missing.

set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/listening.sh"
source "$(dirname "${BASH_SOURCE[0]}")/../e2e/lib-vm.sh"

vm_harness "$@"
PROVD_PID=
B_PID=
PGC=
PGDIR=

dump_logs() {
	vm_dump_serial
	for l in a b; do
		if [ -n "$TMP" ] && [ -f "$TMP/provd-$l.log" ]; then
			echo "----- tail of instance $l's log ($TMP/provd-$l.log) -----"
			tail -n 40 "$TMP/provd-$l.log"
		fi
	done
	echo "-----"
}

vm_exit_hook() {
	if [ -n "$PGDIR" ]; then
		"$PGC" stop "$PGDIR" || true
		rm -rf "$PGDIR"
	fi
}
vm_harness_traps PROVD_PID B_PID

# ---------------------------------------------------------------- checks
vm_find_tools
command -v curl >/dev/null || skip "curl not installed"
command -v python3 >/dev/null || skip "python3 not installed"
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || skip "no PostgreSQL server (Debian: postgresql)"
[ -x "$PROVD" ] || fail "no provd binary at $PROVD"
PROVD=$(realpath "$PROVD")

TMP=$(mktemp -d "${TMPDIR:-/tmp}/provd-e2e.XXXXXX")
TMP=$(cd "$TMP" && pwd -P) # provd wants absolute paths

# ---------------------------------------------------------------- PostgreSQL
PGC=$SRC/tests/tools/pg-cluster
PGDIR=$(mktemp -d /tmp/provd-pg.XXXXXX)
chmod 0755 "$PGDIR"
"$PGC" start "$PGDIR" >/dev/null || fail "cannot start PostgreSQL"
DB=$("$PGC" createdb "$PGDIR" provd) || fail "cannot create the database"
head -c 32 /dev/urandom >"$TMP/shared.key"
chmod 0600 "$TMP/shared.key"

# ---------------------------------------------------------------- initramfs
vm_build_initramfs "$SRC" "$TMP" e1000 virtio_pci virtio_blk
say "initramfs $(du -k "$INITRD" | cut -f1) KiB: busybox, $VM_MODULES; kernel $KERNEL"

# ---------------------------------------------------------------- provd a and b
TOPLEVEL=/nix/store/1b9p07z77phvv2hf6gm9f28syp39f1ag-nixos-system-$NODE
python3 - "$TMP/inventory.json" "$NODE" "$MAC" "$KERNEL" "$INITRD" "$TOPLEVEL" <<'PY'
import json, sys
path, node, mac, kernel, initrd, toplevel = sys.argv[1:]
json.dump({"version": 1, "nodes": [{
    "name": node, "mac": [mac],
    "boot": {"kernel": kernel, "initrd": [initrd],
             "cmdline": "console=ttyS0 panic=-1 quiet e2e.disk=/dev/vda e2e.toplevel=" + toplevel},
    "system": {"toplevel": toplevel,
               "install": "/nix/store/7kzmq9dnb2s0dqc1sp8k8f7r2vy6y2hw-install-" + node}}]}, open(path, "w"), indent=2)
PY
# Both name b's address as their public URL: what a answers sends the node to b.
for l in a b; do
	mkdir -p "$TMP/state-$l"
	"$PROVD" serve --inventory "$TMP/inventory.json" --state-dir "$TMP/state-$l" --listen 127.0.0.1:0 \
		--public-url http://10.0.2.101:80 --state-url "$DB" --shared-key-file "$TMP/shared.key" --instance-name "$l" \
		>"$TMP/provd-$l.log" 2>&1 &
	if [ "$l" = a ]; then PROVD_PID=$!; else B_PID=$!; fi
done
API_A=$(provd_listening_url "$TMP/provd-a.log" "$PROVD_PID") || fail "a did not start listening within 10 s"
API_B=$(provd_listening_url "$TMP/provd-b.log" "$B_PID") || fail "b did not start listening within 10 s"
say "instance a on $API_A, b on $API_B, one PostgreSQL database"

# node_state API -> the node's state as that instance shows it
node_state() {
	curl -sS --max-time 10 "$1/v1/nodes/$NODE" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("state"))' 2>/dev/null || echo '?'
}
[ "$(node_state "$API_A")" = new ] || fail "before install: a does not show the node new"

start_qemu() {
	vm_start_qemu "$1" "user,id=n0,restrict=on,bootfile=http://10.0.2.100/v1/ipxe?mac=$MAC&platform=pcbios&buildarch=i386,guestfwd=tcp:10.0.2.100:80-cmd:$BUSYBOX nc 127.0.0.1 ${API_A##*:},guestfwd=tcp:10.0.2.101:80-cmd:$BUSYBOX nc 127.0.0.1 ${API_B##*:}" "${@:2}"
}

DISK_MARKER="provd-test: booted from local disk (BIOS)"
"$SRC/tests/e2e/bios-disk-image" "$TMP/disk.img" "$DISK_MARKER" || fail "cannot build the test disk image"
truncate -s 2M "$TMP/disk.img"

# ---- boot 1: netboot through a, install reporting to b
say "boot 1: netboot through a, install reporting to b"
start_qemu "$TMP/serial-1.log"
start=$SECONDS
while kill -0 "$QEMU_PID" 2>/dev/null; do
	[ $((SECONDS - start)) -lt "$TIMEOUT" ] || fail "boot 1: QEMU still running after ${TIMEOUT}s (a: $(node_state "$API_A"), b: $(node_state "$API_B"))"
	sleep 1
done
rc=0
wait "$QEMU_PID" || rc=$?
QEMU_PID=
say "boot 1: QEMU exited with status $rc after $((SECONDS - start))s"
[ "$rc" = 0 ] || fail "boot 1: QEMU failed: $(cat "$SERIAL.qemu")"
grep -q 'PROVD-E2E: ALL PHASES REPORTED' "$SERIAL" || fail "boot 1: the installer did not report all phases"
# Who did what, from each instance's log: a opened the attempt, b took the installer's events.
grep -q "$NODE: new -> netbooting: first network boot: install attempt opened (firmware bios)" "$TMP/provd-a.log" || fail "boot 1: a did not open the install attempt"
grep -q "$NODE: .*-> installed" "$TMP/provd-b.log" || fail "boot 1: b did not take the installer's success"
if grep -q "$NODE: .*-> installed" "$TMP/provd-a.log"; then fail "boot 1: the installer reported to a"; fi
for api in "$API_A" "$API_B"; do
	for _ in $(seq 1 20); do
		[ "$(node_state "$api")" = installed ] && break
		sleep 0.2
	done
	[ "$(node_state "$api")" = installed ] || fail "after install: $api shows $(node_state "$api")"
done
ev_a=$(curl -sS "$API_A/v1/nodes/$NODE/history" | python3 -c 'import json,sys; print([e["id"] for e in json.load(sys.stdin)["history"]])')
ev_b=$(curl -sS "$API_B/v1/nodes/$NODE/history" | python3 -c 'import json,sys; print([e["id"] for e in json.load(sys.stdin)["history"]])')
[ "$ev_a" = "$ev_b" ] || fail "after install: a's history $ev_a, b's $ev_b"
say "boot 1: a opened the attempt, b took the installer's reports; both show $NODE installed with one history"

# ---- boot 2: a tells iPXE to leave the node to its disk
say "boot 2: netboot through a again, expect 'booting from local disk'"
start_qemu "$TMP/serial-2.log"
start=$SECONDS
until grep -q 'booting from local disk' "$SERIAL"; do
	kill -0 "$QEMU_PID" 2>/dev/null || fail "boot 2: QEMU exited before iPXE printed 'booting from local disk'"
	[ $((SECONDS - start)) -lt 120 ] || fail "boot 2: no 'booting from local disk' within 120 s"
	sleep 1
done
until grep -q "$DISK_MARKER" "$SERIAL"; do
	kill -0 "$QEMU_PID" 2>/dev/null || fail "boot 2: QEMU exited before the disk's boot sector ran"
	[ $((SECONDS - start)) -lt 150 ] || fail "boot 2: SeaBIOS did not boot the local disk: $(strip_console <"$SERIAL" | tail -n 5)"
	sleep 1
done
vm_stop_qemu
if grep -q 'PROVD-E2E:' "$SERIAL"; then fail "boot 2: the installer kernel ran although the node is installed"; fi
say "boot 2: a sent the installed node to its disk; SeaBIOS booted it"
say "PASS"
