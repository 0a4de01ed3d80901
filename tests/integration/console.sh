#!/usr/bin/env bash
# console.sh — provd captures a QEMU VM's serial console over Serial over LAN
# from the BMC that owns the VM, per install attempt.
#
#   console.sh PATH_TO_PROVD [SOURCE_DIR]
#
# Peers as in e2e-reinstall.sh: an ipmi_sim BMC whose chassis_control program
# (tests/e2e/chassis-control-qemu) owns a QEMU VM; the VM's serial port is a TCP server
# (VM_SERIAL_PORT, QEMU's logfile= is the ground truth of what the guest printed), wired to
# ipmi_sim's `sol` line by tests/e2e/serial-wire.py (ipmi_sim itself reconnects only every
# 10 s, and each power cycle restarts QEMU's socket: without the wire SOL misses the start of
# every boot, kernel command line included); provd holds the SOL session with the ipmitool backend
# (libipmiconsole does not stream from ipmi_sim 2.0.33).
#
# 1. CONSOLE_RUNS times (default 10) in a row: POST /v1/nodes/node-01/reinstall; the BMC
#    power-cycles the VM into iPXE, provd's installer reports every phase.  provd's log of
#    that attempt (GET /v1/nodes/node-01/console?attempt=N) must contain the kernel command
#    line and every installer line the VM printed — all of QEMU's logfile from the kernel's
#    "Command line:" to "PROVD-E2E: ALL PHASES REPORTED", in order — with no miss.
# 2. A failing installer (e2e.fail on the command line, after a reload): the attempt fails;
#    when the next attempt's capture starts (or the linger ends) its history entry carries the
#    console's last lines, which hold the installer's failure output.
# 3. A BMC reset mid-attempt (ipmi_sim killed and started again while the VM installs): the
#    session is lost (ipmitool notices at its next keepalive, ~30 s later: after the install),
#    noted, re-established, and the attempt's log (still captured: console_linger) goes on with
#    what the VM printed after it (an IPMI reset makes it boot again).
# Environment: CONSOLE_RUNS (default 10), E2E_TIMEOUT (seconds per install, default 180),
# E2E_KEEP=1 keeps the temp directory.  Exit 77 (skip) when a tool is missing, unless
# PROVD_TESTS_NO_SKIP=1.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib-ipmi.sh"
source "$(dirname "${BASH_SOURCE[0]}")/../e2e/lib-vm.sh"

RUNS=${CONSOLE_RUNS:-10}
TIMEOUT=${E2E_TIMEOUT:-180}
NODE=node-01
MAC=52:54:00:12:34:56
T0=$SECONDS
say() { printf '[console %3ds] %s\n' $((SECONDS - T0)) "$*"; }
VMDIR=
fail() {
	fail_note "$*"
	if [ -n "$VMDIR" ] && [ -d "$VMDIR" ]; then
		for f in "$VMDIR"/control.log "$VMDIR"/boots; do
			[ -f "$f" ] && { echo "----- $f -----"; tail -n 20 "$f"; } >&2
		done
		ls -la "$STATE/console/$NODE" >&2 2>/dev/null || true
	fi
	exit 1
}
stop_vm() { vm_stop_controlled "$VMDIR"; }
keep_tmp() { vm_keep_tmp provd-console "$T"; }
AT_EXIT+=(stop_vm keep_tmp)

for tool in ipmi_sim ipmitool ss jq curl python3; do
	command -v "$tool" >/dev/null || skip "$tool not installed"
done
vm_find_tools
CONTROL=$SRC/tests/e2e/chassis-control-qemu
vm_build_initramfs "$SRC" "$T"

# ---- provd, the BMC and its VM ---------------------------------------------------------------
sim_base
SIM_CHASSIS_CONTROL=$CONTROL
VMDIR=$(sim_dir 1)
mkdir -p "$VMDIR"
BMC=$SIM_NET.1
PW=$T/bmc-password
(umask 077 && printf '%s\n' "$SIM_PASSWORD" >"$PW")
inventory() { # CMDLINE_EXTRA
	cat >"$T/inventory.json" <<EOF
{"version": 1, "nodes": [{
  "name": "$NODE", "mac": ["$MAC"],
  "bmc": {"host": "$BMC", "port": 623, "user": "$SIM_USER", "password_file": "$PW",
          "cipher_suite": 3, "workarounds": ["opensesspriv"], "console": "ipmitool"},
  "boot": {"kernel": "$KERNEL", "initrd": ["$INITRD"], "cmdline": "console=ttyS0 panic=-1 e2e.end=reboot$1"},
  "system": {"toplevel": "/nix/store/1b9p07z77phvv2hf6gm9f28syp39f1ag-nixos-system-$NODE",
             "install": "/nix/store/7kzmq9dnb2s0dqc1sp8k8f7r2vy6y2hw-install-$NODE"}}]}
EOF
}
inventory ""
"$PROVD" token new --name console --file "$T/api-tokens" >"$T/token" 2>"$T/token.err" || fail "token: $(cat "$T/token.err")"
AUTH=(-H "Authorization: Bearer $(cat "$T/token")")
# a long linger: the drop in 3. is noticed by ipmitool's keepalive (~30 s) after the install
provd_start "$T/inventory.json" --api-tokens "$T/api-tokens" --public-url http://10.0.2.100:80 --console-linger 120 \
	--console-keep 0 --install-deadline 0
PORT=${URL##*:}
SERIAL_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$VMDIR/vm.env" <<EOF
QEMU='$QEMU'
VM_MAC=$MAC
VM_NETDEV='user,id=n0,restrict=on,bootfile=http://10.0.2.100/v1/ipxe,guestfwd=tcp:10.0.2.100:80-cmd:$BUSYBOX nc 127.0.0.1 $PORT'
VM_MEM=512
VM_SERIAL_PORT=$SERIAL_PORT
EOF
# the BMC's serial cable (tests/e2e/serial-wire.py): always connected to ipmi_sim, attached to
# the VM's serial socket within ms of each power on
python3 "$SRC/tests/e2e/serial-wire.py" "$T/wire.port" "$SERIAL_PORT" </dev/null >"$T/wire.log" 2>&1 &
PIDS+=("$!")
disown "$!"
for _ in $(seq 1 100); do [ -s "$T/wire.port" ] && break; sleep 0.05; done
[ -s "$T/wire.port" ] || fail "serial-wire.py did not start: $(cat "$T/wire.log")"
WIRE_PORT=$(cat "$T/wire.port")
sim_start 1 sol="$WIRE_PORT"
sim_wait 1
say "provd $URL; ipmi_sim $BMC:623 owns the VM, SOL over 127.0.0.1:$WIRE_PORT -> VM serial 127.0.0.1:$SERIAL_PORT"

node_get() { curl -sS "$URL/v1/nodes/$NODE"; }
# vm_text FILE: a console log as comparable lines (no CRs, escapes, trailing blanks)
vm_text() { strip_console <"$1"; }

# reinstall_and_wait [installed|failed]: one reinstall; sets ATTEMPT and BOOT (the VM's power-on number)
reinstall_and_wait() {
	local want=$1 start state
	expect_status 202 POST "/v1/nodes/$NODE/reinstall" "${AUTH[@]}"
	start=$SECONDS
	while :; do
		state=$(node_get | jq -r '.state + " " + (.attempt.number // 0 | tostring)')
		case $state in "$want "*) break ;; esac
		[ "${state%% *}" = failed ] && [ "$want" != failed ] && fail "the install failed: $(node_get | jq -c .attempt)"
		[ $((SECONDS - start)) -lt "$TIMEOUT" ] || fail "not $want after ${TIMEOUT}s: $state"
		kill -0 "${SIM_PID[1]}" 2>/dev/null || fail "ipmi_sim died"
		sleep 0.5
	done
	ATTEMPT=${state#* }
	BOOT=$(wc -l <"$VMDIR/boots")
}

# compare ATTEMPT BOOT: the attempt's log holds the VM's console from the kernel command line
# to the last installer line, in order.
compare() {
	local attempt=$1 boot=$2 i
	# The VM prints its last line after the success callback has been answered: under load it
	# reaches QEMU's logfile a moment after provd says "installed".
	for i in $(seq 1 100); do
		vm_text "$VMDIR/serial-$boot.log" >"$T/truth"
		grep -q '^PROVD-E2E: ALL PHASES REPORTED' "$T/truth" && break
		sleep 0.2
	done
	grep -q '^PROVD-E2E: ALL PHASES REPORTED' "$T/truth" || fail "the VM did not finish within 20 s of installed (serial-$boot.log)"
	for i in $(seq 1 50); do # the last bytes cross the BMC a moment later
		curl -sS -o "$T/got" "$URL/v1/nodes/$NODE/console?attempt=$attempt" || fail "GET console"
		vm_text "$T/got" | grep -q '^PROVD-E2E: ALL PHASES REPORTED' && break
		sleep 0.2
	done
	python3 - "$T/truth" <(vm_text "$T/got") "$attempt" <<'PY' || return 1
import sys
truth = open(sys.argv[1], errors="replace").read().split("\n")
got = open(sys.argv[2], errors="replace").read().split("\n")
a = [i for i, l in enumerate(truth) if "Command line:" in l]
z = [i for i, l in enumerate(truth) if l.startswith("PROVD-E2E: ALL PHASES REPORTED")]
if not a or not z:
    print("ground truth lacks the kernel command line or the last installer line"); sys.exit(1)
want = [l for l in truth[a[0]:z[0] + 1] if l.strip()]
j = 0
for l in got:
    if j < len(want) and l == want[j]:
        j += 1
if j < len(want):
    print(f"attempt {sys.argv[3]}: missing from provd's log (line {j + 1} of {len(want)}): {want[j]!r}")
    print("  provd's log has", len(got), "lines; around there:", [g for g in got if want[j][:20] in g][:3])
    sys.exit(1)
print(f"  attempt {sys.argv[3]}: {len(want)} console lines from '{want[0][:60]}' to the installer's last line: all there")
PY
}

# ---- 1. RUNS installs in a row ----------------------------------------------------------------------
misses=0
for run in $(seq 1 "$RUNS"); do
	rs=$SECONDS
	reinstall_and_wait installed
	if compare "$ATTEMPT" "$BOOT"; then
		say "run $run/$RUNS: attempt $ATTEMPT installed, console complete ($((SECONDS - rs))s)"
	else
		misses=$((misses + 1))
		say "run $run/$RUNS: attempt $ATTEMPT: MISS"
	fi
done
[ "$misses" = 0 ] || fail "$misses of $RUNS attempts' console logs missed what the VM printed"
ok "$RUNS installs in a row: every attempt's console log has the kernel command line and all installer output"

# ---- 2. a failing installer: the tail in the history ------------------------------------------------
inventory " e2e.fail"
expect_status 200 POST /v1/reload "${AUTH[@]}"
reinstall_and_wait failed
FAILED=$ATTEMPT
for _ in $(seq 1 100); do
	vm_text "$VMDIR/serial-$BOOT.log" | grep -q 'PROVD-E2E: FAILED ON PURPOSE' && break
	sleep 0.2
done
sleep 2 # the last lines cross the BMC
inventory ""
expect_status 200 POST /v1/reload "${AUTH[@]}"

# ---- 3. a BMC reset mid-attempt; the next attempt's capture writes attempt FAILED's tail ------------
expect_status 202 POST "/v1/nodes/$NODE/reinstall" "${AUTH[@]}"
start=$SECONDS
until node_get | jq -e '.state == "netbooting" or .state == "installing"' >/dev/null; do
	[ $((SECONDS - start)) -lt "$TIMEOUT" ] || fail "no netboot after the reinstall"
	sleep 0.5
done
DROP=$((FAILED + 1))
sim_stop 1
sim_start 1 sol="$WIRE_PORT"
say "ipmi_sim restarted during attempt $DROP"
expect_status 200 GET "/v1/nodes/$NODE/history"
printf '%s' "$BODY" >"$T/history.json"
python3 - "$T/history.json" "$FAILED" <<'PY' || fail "no console tail on the failed attempt: $(jq -c '.history[] | select(.to == "failed")' "$T/history.json")"
import json, sys
h = json.load(open(sys.argv[1]))["history"]
e = [e for e in h if e["to"] == "failed" and e["attempt"] == int(sys.argv[2])][0]
tail = e.get("console") or ""
assert "PROVD-E2E: failing on purpose" in tail, tail[-500:]
assert "\x1b" not in tail and "\r" not in tail
print("  tail of the failed attempt:", " | ".join(tail.split("\n")[-4:]))
PY
ok "failed attempt $FAILED: the history entry carries the console's last lines (the installer's failure output)"
wait_lost() { grep -q 'provd: SOL session re-established' "$STATE/console/$NODE/$DROP.log"; }
start=$SECONDS
until wait_lost; do
	[ $((SECONDS - start)) -lt 120 ] || fail "no re-established session in $DROP.log within 120 s"
	sleep 1
done
grep -q '^\[provd: SOL session lost: ' "$STATE/console/$NODE/$DROP.log" || fail "no loss line in $DROP.log"
# after the re-established line: console lines the VM printed (QEMU's logfile has them)
goes_on() {
	python3 - "$STATE/console/$NODE/$DROP.log" "$VMDIR/serial-$(wc -l <"$VMDIR/boots").log" <<'PY'
import re, sys
clean = lambda t: [re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[c78]|[\r\b]", "", l).rstrip() for l in t.split("\n")]
log = open(sys.argv[1], "rb").read().decode("utf-8", "replace")
after = clean(log[log.rindex("[provd: SOL session re-established]"):])[1:]
truth = set(clean(open(sys.argv[2], "rb").read().decode("utf-8", "replace")))
sys.exit(0 if [l for l in after if l.strip() and not l.startswith("[provd:") and l in truth] else 1)
PY
}
# The VM has long finished (its "No bootable device" came while the session was down, and
# QEMU's SeaBIOS does not retry): an IPMI reset makes it print again.
expect_status 202 POST "/v1/nodes/$NODE/power" "${AUTH[@]}" -H 'Content-Type: application/json' --data-binary '{"action": "reset"}'
start=$SECONDS
until goes_on; do
	[ $((SECONDS - start)) -lt 90 ] || fail "$DROP.log did not go on with the VM's output after the reconnect"
	sleep 1
done
node_get | jq -e '.state == "installed"' >/dev/null || fail "attempt $DROP did not install: $(node_get | jq -c .attempt)"
expect_status 200 GET "/v1/nodes/$NODE/history"
printf '%s' "$BODY" | jq -e '[.history[] | select(.cause == "console") | .message] | (map(test("SOL session lost")) | any) and (map(test("re-established")) | any)' >/dev/null ||
	fail "history notes: $(printf '%s' "$BODY" | jq -c '[.history[] | select(.cause == "console") | .message]')"
ok "BMC reset during attempt $DROP: session lost, noted, re-established; the log goes on"

stop_vm
sim_stop 1
provd_stop
say "PASS ($((SECONDS - T0))s)"
