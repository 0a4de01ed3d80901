#!/usr/bin/env bash
# e2e-reinstall.sh — end to end: `provd reinstall` drives a BMC that owns a QEMU VM.
#
#   e2e-reinstall.sh PATH_TO_PROVD [SOURCE_DIR]
#
# Peers: an OpenIPMI ipmi_sim BMC on 127.A.B.1:623 whose chassis_control program
# (tests/e2e/chassis-control-qemu) owns a QEMU VM: IPMI power on/off/cycle start and stop
# QEMU, the boot device picks QEMU's boot order (pxe: the e1000 iPXE ROM; disk: order=c
# and no ROM).  provd on 127.0.0.1:<port> with that BMC in its inventory and an API token;
# the VM reaches provd only through QEMU's restricted user network (guestfwd 10.0.2.100:80
# -> busybox nc 127.0.0.1 PORT), as in e2e-qemu.sh.
#
# 1. `provd reinstall node-01 --wait`: provd marks the node pending, sets the boot device to
#    pxe and powers the (off) VM on through the BMC; the VM netboots provd's installer with
#    iPXE, the test initramfs (tests/e2e/init) reports started .. succeeded and reboots; provd
#    then sets the boot device to disk through the BMC.  Checked on the BMC's side (the
#    chassis-control event log and the VM's boot order), on the serial console, in the
#    reinstall operation, and in the node's history, in order.
# 2. `provd power node-01 cycle`: the BMC restarts the VM, which now boots from "disk" (it
#    has none: SeaBIOS prints "No bootable device") and does not netboot at all; the node
#    stays installed with no new attempt.
# 3. Everything is stopped by pid (QEMU by its pidfile); provd exits 0 with no sanitizer
#    report.
# Environment: E2E_TIMEOUT (seconds for the install, default 180), E2E_KEEP=1 keeps the
# temp directory.  Exit 77 (skip) when a tool is missing, unless PROVD_TESTS_NO_SKIP=1.
# Facts used: TCG only, e1000 for SeaBIOS's iPXE ROM, ipmi_sim needs FreeIPMI's
# opensesspriv workaround and cipher suite 3, no -no-reboot on a BMC-controlled VM.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib-ipmi.sh"
source "$(dirname "${BASH_SOURCE[0]}")/../e2e/lib-vm.sh"

TIMEOUT=${E2E_TIMEOUT:-180}
NODE=node-01
MAC=52:54:00:12:34:56
T0=$SECONDS
say() { printf '[e2e-reinstall %3ds] %s\n' $((SECONDS - T0)) "$*"; }

VMDIR= # the BMC's directory: chassis-control-qemu state, VM serial logs
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
	for f in "$T"/cli-*.out "$T"/cli-*.err; do
		[ -s "$f" ] && { echo "----- $(basename "$f") -----"; tail -n 20 "$f"; }
	done
	echo "-----"
}

# QEMU is the BMC's child's child, daemonized: stop it by its pidfile (and its process group,
# which holds the guestfwd "busybox nc" helpers).
stop_vm() { vm_stop_controlled "$VMDIR"; }
keep_tmp() { vm_keep_tmp provd-e2e-reinstall "$T"; }
AT_EXIT+=(stop_vm keep_tmp)

for tool in ipmi_sim ipmitool ss jq curl python3; do
	command -v "$tool" >/dev/null || skip "$tool not installed"
done
vm_find_tools
CONTROL=$SRC/tests/e2e/chassis-control-qemu
[ -x "$CONTROL" ] || fail "$CONTROL is missing or not executable"

vm_build_initramfs "$SRC" "$T"
say "initramfs $(du -k "$INITRD" | cut -f1) KiB (busybox, $VM_MODULES), kernel $KERNEL"

# ---- provd: node-01 with a BMC, an API token ------------------------------------------------
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
              "cipher_suite": 3, "workarounds": ["opensesspriv"], "console": "none"},
      "boot": {
        "kernel": "$KERNEL",
        "initrd": ["$INITRD"],
        "cmdline": "console=ttyS0 panic=-1 quiet e2e.end=reboot"
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
provd_start "$T/inventory.json" --config "$T/provd.ini" --public-url http://10.0.2.100:80
PORT=${URL##*:}
say "provd (pid $PROVD_PID) on $URL"
AUTH=(-H "Authorization: Bearer $(cat "$T/token")")
# the client commands: NAME ARGS... -> $T/cli-NAME.out / .err, sets CLI_RC
cli() {
	local name=$1
	shift
	CLI_RC=0
	"$PROVD" "$@" --url "$URL" --token-file "$T/token" >"$T/cli-$name.out" 2>"$T/cli-$name.err" || CLI_RC=$?
}

# ---- the BMC and its VM ---------------------------------------------------------------------
cat >"$VMDIR/vm.env" <<EOF
QEMU='$QEMU'
VM_MAC=$MAC
VM_NETDEV='user,id=n0,restrict=on,bootfile=http://10.0.2.100/v1/ipxe,guestfwd=tcp:10.0.2.100:80-cmd:$BUSYBOX nc 127.0.0.1 $PORT'
VM_MEM=512
EOF
sim_start 1
sim_wait 1
[ "$(sim_ipmitool 1 chassis power status)" = "Chassis Power is off" ] ||
	fail "the BMC's VM is not off before the test"
[ ! -e "$VMDIR/boots" ] || fail "the VM was started before the test: $(cat "$VMDIR/boots")"
say "ipmi_sim (pid ${SIM_PID[1]}) at $BMC:623 owns the VM (off)"

expect_status 200 GET "/v1/nodes/$NODE"
jq_eq .state new
jq_eq .bmc.host "$BMC"

# node_json: GET /v1/nodes/$NODE into $T/node.json
node_json() {
	expect_status 200 GET "/v1/nodes/$NODE"
	printf '%s' "$BODY" >"$T/node.json"
}
serial() { strip_console <"$VMDIR/serial-$1.log"; }

# ---- 1. provd reinstall node-01 --wait ------------------------------------------------------
# The CLI submits POST /v1/nodes/NODE/reinstall and waits (event stream) until the node is
# installed or failed; meanwhile the test follows the VM's console and fails fast when the
# installer fails.
vm_reinstall_wait 1 '^provd|PROVD-E2E:|No bootable device' "${SIM_PID[1]}" ipmi_sim
node_json
jq -e '.state == "installed"' "$T/node.json" >/dev/null || fail "node not installed: $(cat "$T/node.json")"

# The VM: powered on once by the BMC with boot device pxe, iPXE ran provd's install script,
# the installer reported every phase and rebooted.
[ -f "$VMDIR/boots" ] || fail "the BMC never started the VM"
read -r _ boot order rom _ <"$VMDIR/boots"
[ "$boot $order $rom" = "boot=pxe order=n rom=on" ] ||
	fail "first power on: $(head -n 1 "$VMDIR/boots"), want boot=pxe order=n rom=on"
serial 1 | grep -q "^provd: installing $NODE (install attempt 1)" ||
	fail "the VM did not netboot provd's installer"
serial 1 | grep -q 'PROVD-E2E: reported succeeded' || fail "the installer did not report succeeded"
ok "the BMC powered the VM on with boot device pxe; it netbooted provd's installer, which reported succeeded"

# provd sets the boot device to disk after `succeeded`: on the BMC's side the events are, in
# order, boot pxe, power 1 (the VM was off: reinstall powers it on), boot default (= disk).
vm_bmc_events_expect "boot pxe,power 1,boot default"
[ "$(cat "$VMDIR/boot")" = default ] || fail "the BMC's boot device is '$(cat "$VMDIR/boot")', want default (disk)"
ok "BMC events in order: boot pxe, power on, boot default (disk)"

# The node's history, in order: reinstall requested (-> pending), bmc bootdev pxe, bmc power,
# netbooting (the VM's iPXE), installing (installer phases), installed, bmc bootdev disk.
vm_history_expect \
	'pending|!bmc|' \
	'|bmc|boot device set to pxe' \
	'|bmc|power(ed)? on' \
	'netbooting|netboot|' \
	'installing|installer|' \
	'installed|installer|' \
	'|bmc|boot device set to disk \(persistent\b'
ok "history: pending, bmc bootdev pxe, bmc power on, netbooting, installing, installed, bmc bootdev disk"

# The reinstall operation: all four steps succeeded.
expect_status 200 GET "/v1/operations?node=$NODE" "${AUTH[@]}"
printf '%s' "$BODY" >"$T/ops.json"
jq -e '[.operations[] | select(.kind == "reinstall")] | length == 1' "$T/ops.json" >/dev/null ||
	fail "not exactly one reinstall operation: $BODY"
jq_eq '[.operations[] | select(.kind == "reinstall")][0] | [.state, ([.steps[] | .name + ":" + .state] | join(","))] | join(" ")' \
	"succeeded mark:succeeded,bootdev:succeeded,power_status:succeeded,power:succeeded"
ok "operation: reinstall succeeded (mark, bootdev, power_status, power)"

# ---- 2. power cycle: the VM boots from "disk", not from the network ----------------------------
HISTORY_TO=$(jq -c '[.history[] | select(.cause != "bmc") | .to]' "$T/node.json")
cli power power "$NODE" cycle
[ "$CLI_RC" = 0 ] || fail "provd power $NODE cycle exited $CLI_RC: $(cat "$T/cli-power.out" "$T/cli-power.err")"
awk -v n="$NODE" '$1 == n && $2 !~ /^error/' "$T/cli-power.out" | grep -q . ||
	fail "provd power $NODE cycle did not report success: $(cat "$T/cli-power.out")"
expect_status 200 GET "/v1/operations?node=$NODE" "${AUTH[@]}"
jq_eq '.operations[0] | [.kind, .state, .params.action] | join(" ")' "power succeeded cycle"
for _ in $(seq 1 100); do
	[ "$(wc -l <"$VMDIR/boots")" -ge 2 ] && break
	sleep 0.1
done
[ "$(wc -l <"$VMDIR/boots")" = 2 ] || fail "the power cycle did not restart the VM exactly once: $(cat "$VMDIR/boots")"
read -r _ boot order rom _ < <(sed -n 2p "$VMDIR/boots")
[ "$boot $order $rom" = "boot=default order=c rom=off" ] ||
	fail "second power on: $(sed -n 2p "$VMDIR/boots"), want boot=default order=c rom=off"
tail -n 2 "$VMDIR/events" | paste -sd, | grep -qx 'power 0,power 1' ||
	fail "BMC events after the cycle: $(paste -sd, "$VMDIR/events")"
start=$SECONDS
until serial 2 | grep -q 'No bootable device'; do
	[ $((SECONDS - start)) -lt 60 ] || fail "the restarted VM did not reach 'No bootable device' within 60 s"
	sleep 1
done
if serial 2 | grep -qE 'iPXE|^provd|PROVD-E2E'; then
	fail "the VM netbooted after the power cycle"
fi
say "  console 2: $(serial 2 | grep -v '^$' | paste -sd'|')"
node_json
jq -e --argjson to "$HISTORY_TO" '.state == "installed" and .attempt.number == 1 and
	[.history[] | select(.cause != "bmc") | .to] == $to' "$T/node.json" >/dev/null ||
	fail "after the cycle the node changed: $(jq -c '{state, attempt, history: [.history[] | [.to, .cause, .message]]}' "$T/node.json")"
ok "power cycle: the BMC restarted the VM with boot order disk; no netboot, node still installed (attempt 1)"

# ---- metrics: the five BMC commands of this run, all ok ----------------------------------------
curl -sS --max-time 10 -o "$T/metrics.txt" "$URL/metrics" || fail "GET /metrics failed"
python3 - "$T/metrics.txt" <<'PY' || fail "BMC metrics do not match the run (see above)"
import sys
m = {}
for line in open(sys.argv[1]).read().splitlines():
    if line.startswith("provd_bmc_command"):
        k, v = line.rsplit(" ", 1)
        m[k] = float(v)
want = {("bootdev_set", "ok"): 2, ("power_status", "ok"): 1, ("power_on", "ok"): 1, ("power_cycle", "ok"): 1}
got = {}
for k, v in m.items():
    if k.startswith("provd_bmc_commands_total{") and v:
        labels = dict(p.split("=", 1) for p in k[k.index("{") + 1:-1].split(","))
        got[(labels["command"].strip('"'), labels["result"].strip('"'))] = v
bad = [] if got == want else [f"provd_bmc_commands_total: {got}, want {want}"]
if m.get("provd_bmc_command_duration_seconds_count") != 5:
    bad.append(f"provd_bmc_command_duration_seconds_count = {m.get('provd_bmc_command_duration_seconds_count')}, want 5")
for b in bad:
    print("metrics:", b)
sys.exit(1 if bad else 0)
PY
ok "metrics: bootdev_set x2, power_status, power_on, power_cycle, all ok"

# ---- 3. stop everything by pid -----------------------------------------------------------------
stop_vm || fail "QEMU did not stop"
sim_stop 1
provd_stop
say "PASS ($((SECONDS - T0))s)"
