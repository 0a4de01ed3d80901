#!/usr/bin/env bash
# e2e-qemu.sh — end-to-end: a QEMU VM netboots through iPXE from provd,
# runs a fake installer that reports its phases with installer/provd-report.sh
# and stores the node credential on the VM's disk (provd_install_credential),
# and on its second boot is told by provd to boot from the local disk.  A third
# boot stands for the installed system: the same kernel with a second busybox
# initramfs (tests/e2e/init-node) reads the disk and reports what it runs with
# installer/provd-node-report.sh, as installed there; provd shows in_sync, and
# drifted once the inventory names another toplevel.
#
#   e2e-qemu.sh [PROVD_BINARY [SOURCE_DIR]]
#
# PROVD_BINARY defaults to build/provd of this checkout, SOURCE_DIR to the
# repository this script lives in.  Environment: E2E_TIMEOUT (seconds for
# the install boot, default 180), E2E_KEEP=1 keeps the temp directory
# (serial logs, provd log and state, initramfs).
# Exit 77 (skip) when QEMU, a readable kernel, its e1000 module or a static
# busybox is missing.
#
# Peers: provd on 127.0.0.1:<random port>; QEMU with user-mode networking,
# restrict=on, so the guest reaches nothing but provd, through
# guestfwd 10.0.2.100:80 -> "busybox nc 127.0.0.1 PORT" (one nc per
# connection).  SeaBIOS runs the legacy part of the e1000 iPXE ROM (QEMU 7.2
# on Debian loads /usr/lib/ipxe/qemu/efi-e1000.rom), QEMU's DHCP hands it
# bootfile=http://10.0.2.100/v1/ipxe.  Under TCG (KVM is unusable here, see
# ) the install boot takes about 15-25 s.

set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/listening.sh"
source "$(dirname "${BASH_SOURCE[0]}")/../e2e/lib-vm.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib-store.sh"

vm_harness "$@"
PROVD_PID=

dump_logs() {
	vm_dump_serial
	if [ -n "$TMP" ] && [ -f "$TMP/provd.log" ]; then
		echo "----- tail of provd log ($TMP/provd.log) -----"
		tail -n 60 "$TMP/provd.log"
	fi
	store_log_tail
	echo "-----"
}

vm_exit_hook() { store_cleanup || true; }
vm_harness_traps PROVD_PID

# ---------------------------------------------------------------- checks
vm_find_tools
command -v curl >/dev/null || skip "curl not installed"
command -v python3 >/dev/null || skip "python3 not installed"
[ -x "$PROVD" ] || fail "no provd binary at $PROVD"
PROVD=$(realpath "$PROVD")

TMP=$(mktemp -d "${TMPDIR:-/tmp}/provd-e2e.XXXXXX")
store_init "$TMP" # PROVD_TEST_STORE=postgresql: a cluster of this test's, $PROVD a shim
TMP=$(cd "$TMP" && pwd -P) # provd wants absolute paths

# ---------------------------------------------------------------- initramfs
# the installed system's initramfs (boot 3), then the installer's; both with a virtio disk
VM_INIT=$SRC/tests/e2e/init-node vm_build_initramfs "$SRC" "$TMP/node" e1000 virtio_pci virtio_blk
NODE_INITRD=$INITRD
vm_build_initramfs "$SRC" "$TMP" e1000 virtio_pci virtio_blk
say "initramfs $(du -k "$INITRD" | cut -f1) KiB: busybox, $VM_MODULES; kernel $KERNEL"

# ---------------------------------------------------------------- provd
# the node's system; the test installer lays out a stand-in for it on the disk
TOPLEVEL=/nix/store/1b9p07z77phvv2hf6gm9f28syp39f1ag-nixos-system-$NODE
cat >"$TMP/inventory.json" <<EOF
{
  "version": 1,
  "nodes": [
    {
      "name": "$NODE",
      "mac": ["$MAC"],
      "boot": {
        "kernel": "$KERNEL",
        "initrd": ["$INITRD"],
        "cmdline": "console=ttyS0 panic=-1 quiet e2e.disk=/dev/vda e2e.toplevel=$TOPLEVEL"
      },
      "system": {
        "toplevel": "$TOPLEVEL",
        "install": "/nix/store/7kzmq9dnb2s0dqc1sp8k8f7r2vy6y2hw-install-$NODE"
      }
    }
  ]
}
EOF
mkdir -p "$TMP/state"
"$PROVD" serve --inventory "$TMP/inventory.json" --state-dir "$TMP/state" \
	--listen 127.0.0.1:0 --public-url http://10.0.2.100:80 \
	>"$TMP/provd.log" 2>&1 &
PROVD_PID=$!

API=$(provd_listening_url "$TMP/provd.log" "$PROVD_PID") || fail "provd did not say 'listening on http://127.0.0.1:PORT' within 10 s"
PORT=${API##*:}
say "provd (pid $PROVD_PID) listening on $API"

# GET PATH -> sets HTTP_STATUS and HTTP_BODY
http_get() {
	local out
	out=$(curl -sS --max-time 10 -w '\n%{http_code}' "$API$1") || fail "GET $1: curl failed"
	HTTP_STATUS=${out##*$'\n'}
	HTTP_BODY=${out%$'\n'*}
}

# node_check PYTHON-EXPRESSION MESSAGE: evaluate over n = GET /v1/nodes/$NODE
node_check() {
	http_get "/v1/nodes/$NODE"
	[ "$HTTP_STATUS" = 200 ] || fail "GET /v1/nodes/$NODE answered $HTTP_STATUS: $HTTP_BODY"
	if ! printf '%s' "$HTTP_BODY" | python3 -c '
import json, sys
n = json.load(sys.stdin)
to = [h.get("to") for h in n.get("history", [])]
sys.exit(0 if eval(sys.argv[1]) else 1)' "$1"; then
		fail "$2; GET /v1/nodes/$NODE: $HTTP_BODY"
	fi
}

node_state() {
	http_get "/v1/nodes/$NODE"
	printf '%s' "$HTTP_BODY" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("state"))' 2>/dev/null || echo '?'
}

node_check 'n["state"] == "new"' "before install: node is not 'new'"
# what pixiecore asks (provd may open the install attempt here already)

# ---------------------------------------------------------------- QEMU
# start_qemu SERIAL [QEMU ARGS...]: the node, network boot first; its disk is virtio
start_qemu() {
	vm_start_qemu "$1" "user,id=n0,restrict=on,bootfile=http://10.0.2.100/v1/ipxe,guestfwd=tcp:10.0.2.100:80-cmd:$BUSYBOX nc 127.0.0.1 $PORT" "${@:2}"
}

# print serial console milestones as they appear
SEEN=0
progress() {
	local text
	text=$(strip_console <"$SERIAL" |
		grep -E '^iPXE |PROVD-E2E:|^provd|booting from local disk|not in the inventory|Kernel panic|^http://10\.0\.2\.100' || true)
	local lines
	lines=$(printf '%s\n' "$text" | grep -c . || true)
	if [ "$lines" -gt "$SEEN" ]; then
		printf '%s\n' "$text" | tail -n +$((SEEN + 1)) | while IFS= read -r l; do say "  console: $l"; done
		SEEN=$lines
	fi
}

# The node's local disk: a boot sector that prints a marker (what SeaBIOS boots), and
# from 1 MiB on the tar archive the test installer writes (what boot 3 reads).
DISK_MARKER="provd-test: booted from local disk (BIOS)"
"$SRC/tests/e2e/bios-disk-image" "$TMP/disk.img" "$DISK_MARKER" || fail "cannot build the test disk image"
truncate -s 2M "$TMP/disk.img"

# ---- boot 1: install
say "boot 1: netboot and install"
start_qemu "$TMP/serial-1.log"
SEEN=0
start=$SECONDS
while kill -0 "$QEMU_PID" 2>/dev/null; do
	progress
	if [ $((SECONDS - start)) -ge "$TIMEOUT" ]; then
		fail "boot 1: QEMU still running after ${TIMEOUT}s (node state: $(node_state))"
	fi
	sleep 1
done
progress
rc=0
wait "$QEMU_PID" || rc=$?
QEMU_PID=
say "boot 1: QEMU exited with status $rc after $((SECONDS - start))s"
[ "$rc" = 0 ] || fail "boot 1: QEMU failed: $(cat "$SERIAL.qemu")"
grep -q 'PROVD-E2E: ALL PHASES REPORTED' "$SERIAL" ||
	fail "boot 1: the installer did not report all phases"

node_check 'n["state"] == "installed"' "after install: node is not 'installed'"
node_check '"installing" in to and "installed" in to' "after install: history lacks installing/installed"
# The VM's own iPXE request opened the attempt (nothing else asked), then the installer's
# reports moved it on: netbooting -> installing ... -> installed.
node_check 'to[0] == "netbooting" and n["history"][0]["cause"] == "netboot" and to[-1] == "installed" and set(to[1:-1]) == {"installing"} and n["attempt"]["number"] == 1' "after install: history is not netbooting -> installing -> installed in one attempt"
# iPXE said what it runs on (the chain URL's platform and buildarch): SeaBIOS's iPXE ROM.
node_check 'n["attempt"]["firmware"] == "bios" and n["history"][0]["message"].endswith("(firmware bios)")' "after install: the attempt does not record firmware bios"
http_get "/v1/boot/$MAC"
[ "$HTTP_STATUS" = 404 ] || fail "after install: GET /v1/boot/$MAC answered $HTTP_STATUS, want 404"
say "boot 1: node-01 is installed; /v1/boot/$MAC is 404"

# ---- what the installer left on the disk: the node credential, outside the store
mkdir -p "$TMP/installed"
dd if="$TMP/disk.img" of="$TMP/installed.tar" bs=512 skip=2048 status=none
tar -t -v --numeric-owner -f "$TMP/installed.tar" >"$TMP/installed.list" 2>/dev/null ||
	fail "boot 1: no tar archive at 1 MiB on the disk"
tar -x -C "$TMP/installed" -f "$TMP/installed.tar" 2>/dev/null || fail "boot 1: cannot unpack the installed system from the disk"
# listed as "-rw------- 0/0 48 DATE TIME ./var/lib/provd-node/credential"
for f in var/lib/provd-node/ var/lib/provd-node/credential var/lib/provd-node/url var/lib/provd-node/node; do
	want=-rw-------
	[ "${f%/}" = "$f" ] || want=drwx------
	awk -v f="./$f" -v want="$want" '$NF == f && $1 == want && $2 == "0/0" { found = 1 } END { exit !found }' "$TMP/installed.list" ||
		fail "boot 1: ./$f is not on the disk as $want root: $(grep provd-node "$TMP/installed.list")"
done
CRED=$(cat "$TMP/installed/var/lib/provd-node/credential")
[[ "$CRED" =~ ^pvn_[A-Za-z0-9_-]{43}$ ]] || fail "boot 1: the credential on the disk is not pvn_ + 43 base64url characters"
[ "$(cat "$TMP/installed/var/lib/provd-node/url")" = http://10.0.2.100:80 ] ||
	fail "boot 1: url on the disk: $(cat "$TMP/installed/var/lib/provd-node/url")"
[ "$(cat "$TMP/installed/var/lib/provd-node/node")" = "$NODE" ] || fail "boot 1: node on the disk: $(cat "$TMP/installed/var/lib/provd-node/node")"
cmp -s "$TMP/installed$TOPLEVEL/sw/bin/provd-node-report" "$SRC/installer/provd-node-report.sh" ||
	fail "boot 1: the installed system's reporter is not installer/provd-node-report.sh"
if ! [ -d "$TMP/installed/nix/store" ] || [ -z "$(ls -A "$TMP/installed/nix/store")" ]; then fail "boot 1: no store on the disk"; fi
# never in the store, never on a command line or in a log: not in any file under nix/, not in
# the VM's console (its kernel command line included), provd's log or state
if grep -rqF "$CRED" "$TMP/installed/nix" "$TMP/serial-1.log" "$TMP/provd.log" "$TMP/inventory.json" "$TMP/state"; then
	fail "boot 1: the node credential is in $(grep -rlF "$CRED" "$TMP/installed/nix" "$TMP/serial-1.log" "$TMP/provd.log" "$TMP/inventory.json" "$TMP/state" | head -n 3)"
fi
node_check 'n["credential"] is True and n["drift"] == "unknown" and n["report"] is None' "boot 1: provd does not hold node-01's credential, or has a report already"
say "boot 1: the disk holds the node credential (0600 root, under /var/lib/provd-node), provd's URL and the node name; not under nix/, not in any log"
http_get "/v1/nodes/$NODE"
HISTORY_LEN=$(printf '%s' "$HTTP_BODY" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["history"]))')

# ---- boot 2: provd tells iPXE to leave the node to its disk
say "boot 2: netboot again, expect 'booting from local disk'"
start_qemu "$TMP/serial-2.log"
SEEN=0
start=$SECONDS
until grep -q 'booting from local disk' "$SERIAL"; do
	progress
	kill -0 "$QEMU_PID" 2>/dev/null || fail "boot 2: QEMU exited before iPXE printed 'booting from local disk'"
	[ $((SECONDS - start)) -lt 120 ] || fail "boot 2: no 'booting from local disk' within 120 s"
	sleep 1
done
progress
say "boot 2: iPXE was told to boot from disk after $((SECONDS - start))s"
# SeaBIOS goes on to its next boot device when iPXE leaves network boot: the disk, whose
# boot sector prints the marker.
until grep -q "$DISK_MARKER" "$SERIAL"; do
	kill -0 "$QEMU_PID" 2>/dev/null || fail "boot 2: QEMU exited before the disk's boot sector ran"
	[ $((SECONDS - start)) -lt 150 ] || fail "boot 2: SeaBIOS did not boot the local disk after iPXE left network boot: $(strip_console <"$SERIAL" | tail -n 5)"
	sleep 1
done
say "boot 2: SeaBIOS booted the local disk $((SECONDS - start))s after power on"
vm_stop_qemu
if grep -q 'PROVD-E2E:' "$SERIAL"; then
	fail "boot 2: the installer kernel ran although the node is installed"
fi
node_check 'n["state"] == "installed"' "after boot 2: node is no longer 'installed'"
node_check "len(n['history']) == $HISTORY_LEN" "after boot 2: history changed"

# ---- boot 3: the installed system reports what it runs, with the credential on its disk
say "boot 3: the installed system (kernel + initramfs of tests/e2e/init-node) reports"
start_qemu "$TMP/serial-3.log" -kernel "$KERNEL" -initrd "$NODE_INITRD" -append "console=ttyS0 panic=-1 quiet e2e.disk=/dev/vda"
SEEN=0
start=$SECONDS
while kill -0 "$QEMU_PID" 2>/dev/null; do
	progress
	[ $((SECONDS - start)) -lt 120 ] || fail "boot 3: QEMU still running after 120 s"
	sleep 1
done
progress
rc=0
wait "$QEMU_PID" || rc=$?
QEMU_PID=
[ "$rc" = 0 ] || fail "boot 3: QEMU failed: $(cat "$SERIAL.qemu")"
grep -q "PROVD-E2E: provd-node-report exited 0: $NODE: in_sync (running $TOPLEVEL)" "$SERIAL" ||
	fail "boot 3: provd-node-report did not report in_sync"
say "boot 3: reported after $((SECONDS - start))s"
node_check "n['drift'] == 'in_sync' and n['report']['running'] == n['report']['booted'] == '$TOPLEVEL' and n['report']['kernel'] == '$KVER' and n['report']['uptime'] > 0" \
	"boot 3: provd does not hold the VM's report (in_sync, running $TOPLEVEL, kernel $KVER)"
node_check "n['state'] == 'installed' and [h['cause'] for h in n['history']][-1] == 'report'" "boot 3: the first report is not in the history"
if grep -qF "$CRED" "$TMP/serial-3.log" "$TMP/provd.log"; then
	fail "boot 3: the node credential is in the console or provd's log"
fi

# The inventory moves on to another system for the node: provd shows it drifted.
sed -i "s|$TOPLEVEL|/nix/store/0c0q0kkdm1ga7wls6ng0cy79k0ay6xv8-nixos-system-$NODE|" "$TMP/inventory.json"
kill -HUP "$PROVD_PID"
for _ in $(seq 1 50); do
	http_get "/v1/nodes/$NODE"
	case $HTTP_BODY in *'"drift":"drifted"'*) break ;; esac
	sleep 0.1
done
node_check "n['drift'] == 'drifted' and n['system']['toplevel'] != n['report']['running'] == '$TOPLEVEL'" "after reload: node-01 is not drifted"
http_get "/v1/nodes?drift=drifted"
printf '%s' "$HTTP_BODY" | python3 -c 'import json,sys; sys.exit(0 if [n["name"] for n in json.load(sys.stdin)["nodes"]] == [sys.argv[1]] else 1)' "$NODE" ||
	fail "after reload: GET /v1/nodes?drift=drifted: $HTTP_BODY"
say "boot 3: provd shows $NODE in_sync, then drifted once the inventory names another toplevel"

# ---- metrics: a real scrape after the install, checked by promtool and by value
curl -sS --max-time 10 -o "$TMP/metrics.txt" "$API/metrics" || fail "GET /metrics failed"
if command -v promtool >/dev/null; then
	promtool check metrics <"$TMP/metrics.txt" || fail "promtool check metrics failed on provd's /metrics"
	say "promtool check metrics: ok"
elif [ "${PROVD_TESTS_NO_SKIP:-0}" = 1 ]; then
	fail "promtool missing (Debian package prometheus)"
else
	say "promtool missing: /metrics format not checked"
fi
# What this run implies: one attempt, succeeded, with the 4 installer reports (the
# installer's credential request and the node's report count as route node_reports); iPXE asked
# once to install (boot 1) and once more and was sent to disk (boot 2); the test's own
# GET /v1/boot after the install was a pixiecore "local"; kernel and initrd were served.
python3 - "$TMP/metrics.txt" "$(stat -c %s "$KERNEL")" "$(stat -c %s "$INITRD")" "$TIMEOUT" <<'PY' || fail "metrics do not match the install (see above)"
import re, sys
text, kernel, initrd, timeout = open(sys.argv[1]).read(), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
m = {}
for line in text.splitlines():
    if line and not line.startswith("#"):
        k, v = line.rsplit(" ", 1)
        m[k] = float(v)
want = {
    'provd_nodes{state="installed"}': 1,
    'provd_nodes{state="new"}': 0,
    'provd_install_attempts_total{outcome="succeeded"}': 1,
    'provd_install_attempts_total{outcome="failed"}': 0,
    'provd_install_attempts_total{outcome="abandoned"}': 0,
    'provd_install_duration_seconds_count': 1,
    'provd_install_events_total{result="accepted"}': 4,
    'provd_install_events_total{result="rejected"}': 0,
    'provd_boot_requests_total{api="ipxe",result="install",firmware="bios"}': 1,
    'provd_boot_requests_total{api="ipxe",result="local",firmware="bios"}': 1,
    'provd_boot_requests_total{api="ipxe",result="install",firmware="unknown"}': 0,
    'provd_boot_requests_total{api="pixiecore",result="local",firmware="unknown"}': 1,
    'provd_boot_requests_total{api="pixiecore",result="install",firmware="unknown"}': 0,
    'provd_build_info{version="0.1.0"}': 1,
    'provd_nodes_drift{status="drifted"}': 1,
    'provd_nodes_drift{status="in_sync"}': 0,
}
bad = [f"{k} = {m.get(k)}, want {v}" for k, v in want.items() if m.get(k) != v]
s = m.get("provd_install_duration_seconds_sum", -1)
if not 1 <= s <= timeout:
    bad.append(f"install duration {s} s is not within 1..{timeout} s")
files = m.get('provd_http_response_bytes_total{route="files"}', 0)
if files < kernel + initrd:
    bad.append(f"files bytes {files} < kernel + initrd {kernel + initrd}")
if m.get('provd_http_requests_total{route="files",code="200"}', 0) < 2:
    bad.append("fewer than 2 boot file downloads counted")
for b in bad:
    print("metrics:", b)
sys.exit(1 if bad else 0)
PY
say "metrics: 1 attempt succeeded in $(grep '^provd_install_duration_seconds_sum' "$TMP/metrics.txt" | cut -d' ' -f2) s, 4 installer reports, iPXE install + local, files served, 1 node drifted"

# ---- provd stops cleanly on SIGTERM
kill -TERM "$PROVD_PID"
rc=
for _ in $(seq 1 100); do
	if ! kill -0 "$PROVD_PID" 2>/dev/null; then
		rc=0
		wait "$PROVD_PID" || rc=$?
		break
	fi
	sleep 0.1
done
[ -n "$rc" ] || fail "provd still running 10 s after SIGTERM"
PROVD_PID=
[ "$rc" = 0 ] || fail "provd exited with status $rc on SIGTERM"
if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$TMP/provd.log"; then
	fail "sanitizer report in provd's log"
fi

say "PASS ($((SECONDS - T0))s)"
