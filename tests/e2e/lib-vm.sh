# shellcheck shell=bash
# lib-vm.sh — shared pieces of the QEMU end-to-end tests (tests/integration/e2e-qemu.sh, console.sh,
# e2e-reinstall.sh), sourced by bash.  The includer defines skip MESSAGE (exit 77, or 1
# under PROVD_TESTS_NO_SKIP) and fail MESSAGE.
#   vm_find_tools              sets QEMU, BUSYBOX (static), KERNEL (newest readable
#                              /boot/vmlinuz-*) and KVER; skips when one is missing
#   vm_build_initramfs SRC DIR [MODULE...]
#                              sets INITRD=DIR/initrd.gz: busybox, the kernel modules MODULE...
#                              (default e1000; e.g. virtio_pci virtio_net for a virtio-net
#                              NIC) and what each needs (modprobe --show-depends), in load
#                              order, each once; SRC/tests/e2e/init as /init (or the file
#                              VM_INIT names), installer/provd-report.sh and
#                              installer/provd-node-report.sh.  Sets VM_MODULES (their file names)
#   strip_console              filter: serial console text without CRs, backspaces and the
#                              ANSI escapes of SeaBIOS, iPXE and the kernel
#   vm_stop_controlled DIR     kills the VM that tests/e2e/chassis-control-qemu started with
#                              state in DIR (pid from DIR/qemu.pid, checked against its
#                              command line) and its process group; waits until it is gone
#   vm_keep_tmp NAME DIR       with E2E_KEEP=1, copies DIR to a new /tmp/NAME.XXXXXX
#   vm_reinstall_wait N PATTERN [PID WHAT]...
#                              runs `provd reinstall $NODE --wait --no-gate` ($PROVD, $URL,
#                              token file $T/token; the test systems do not report what they
#                              run, so `installed` is done) and, while it runs, prints the lines of the Nth power
#                              on's console ($VMDIR/serial-N.log) that match PATTERN; fails on an
#                              installer failure (PROVD-E2E: FAIL, Kernel panic), when a PID
#                              (WHAT names it) dies, or after $TIMEOUT s; then requires exit 0
#                              and "$NODE installed" on the CLI's stdout.  Needs say, fail, PIDS
#   vm_bmc_events_expect WANT  waits (20 s at most) until the chassis program recorded
#                              "boot default", then requires $VMDIR/events, comma-joined, = WANT
#   vm_history_expect STEP...  waits (10 s at most) for the node's "boot device set to disk"
#                              BMC entry, then requires the node's history to hold the STEPs in
#                              order (other entries may lie between), BMC entries that neither
#                              change the state nor failed, and the node installed by attempt 1.
#                              A STEP is "TO|CAUSE|REGEX": the entry's to-state, cause ("!bmc":
#                              any but bmc) and a regex its message must match; empty = any.
#                              Needs node_json (writes $T/node.json) and fail
# The harness of a test that runs without lib.sh (e2e-qemu.sh, e2e-instances.sh), whose
# includer defines dump_logs (what a failure prints) and sets TMP (its scratch directory):
#   vm_harness [PROVD_BINARY [SOURCE_DIR]]
#                              the test's set-up, from its arguments: PROVD (default build/provd
#                              of this checkout), SRC (default this repository), TIMEOUT
#                              (E2E_TIMEOUT, default 180 s), MAC and NODE (the node); T0 and
#                              say MESSAGE ("[e2e SECONDSs] MESSAGE"), skip MESSAGE (exit 77, or 1
#                              under PROVD_TESTS_NO_SKIP), fail MESSAGE (vm_fail); TMP, SERIAL
#                              (the console log of the VM last started) and QEMU_PID empty
#   vm_start_qemu SERIAL NETDEV [QEMU ARGS...]
#                              starts the node in the background, in a process group of its own
#                              (setsid): TCG, 512 MiB, network boot first, its disk
#                              $TMP/disk.img on virtio, an e1000 NIC with $MAC on the user-mode
#                              network NETDEV (QEMU's -netdev, id n0), the serial console to the
#                              file SERIAL (emptied first; QEMU's own output in SERIAL.qemu).
#                              Sets SERIAL and QEMU_PID
#   vm_stop_qemu               stops the VM QEMU_PID leads (its process group: QEMU and its
#                              guestfwd "busybox nc" children): SIGTERM, SIGKILL after 5 s;
#                              clears QEMU_PID
#   vm_stop_pid PID            SIGTERM to PID, SIGKILL after 5 s, and reaps it; "" is a no-op
#   vm_dump_serial             the tail of $SERIAL, without the console's escapes (for dump_logs)
#   vm_fail MESSAGE            says FAIL: MESSAGE, sets FAILED=1, dump_logs on stderr, says it
#                              again (the last line), exit 1
#   vm_harness_traps VAR...    on exit whatever its cause (SIGINT: 130, SIGTERM: 143), stops
#                              QEMU and the process of each pid variable VAR (its value then;
#                              vm_stop_pid), reports an exit fail did not (status neither 0 nor
#                              77) with dump_logs, runs vm_exit_hook when the includer defines
#                              one, removes $TMP (kept with E2E_KEEP=1) and exits with the status
# Facts (checked on these machines): TCG only, an e1000 NIC (SeaBIOS runs its iPXE ROM),
# Debian's kernel has e1000 as a module that the initramfs must insmod.

vm_find_tools() {
	QEMU=$(command -v qemu-system-x86_64) || skip "qemu-system-x86_64 not installed"
	BUSYBOX=$(command -v busybox) || skip "busybox not installed"
	if ldd "$BUSYBOX" >/dev/null 2>&1; then
		skip "$BUSYBOX is dynamically linked; install busybox-static"
	fi
	command -v cpio >/dev/null || skip "cpio not installed"
	KERNEL=
	local k
	while IFS= read -r k; do
		[ -r "$k" ] && KERNEL=$k
	done < <(printf '%s\n' /boot/vmlinuz-* | sort -V)
	[ -n "$KERNEL" ] || skip "no readable /boot/vmlinuz-*"
	KVER=${KERNEL#/boot/vmlinuz-}
	[ -d "/lib/modules/$KVER" ] || skip "no /lib/modules/$KVER for $KERNEL"
}

vm_build_initramfs() {
	local src=$1 dir=$2 m i dst applet root want
	shift 2
	[ "$#" -gt 0 ] || set -- e1000
	[ -f "$src/installer/provd-report.sh" ] || fail "no installer/provd-report.sh under $src"
	local init=${VM_INIT:-$src/tests/e2e/init}
	[ -f "$init" ] || fail "no $init"
	[ -f "$src/installer/provd-node-report.sh" ] || fail "no installer/provd-node-report.sh under $src"
	# the modules asked for and whatever they depend on, in load order, each once
	local modules=() found
	for want in "$@"; do
		found=()
		if command -v modprobe >/dev/null; then
			local verb path _
			while read -r verb path _; do
				[ "$verb" = insmod ] && found+=("$path")
			done < <(modprobe -S "$KVER" --show-depends "$want" 2>/dev/null || true)
		fi
		if [ "${#found[@]}" = 0 ]; then
			m=$(find "/lib/modules/$KVER" -name "$want.ko*" | head -n 1)
			[ -n "$m" ] || skip "no $want module for $KVER"
			found=("$m")
		fi
		for m in "${found[@]}"; do
			[[ " ${modules[*]} " == *" $m "* ]] || modules+=("$m")
		done
	done

	root=$dir/initramfs
	mkdir -p "$root"/{bin,dev,proc,sys,run,tmp,etc,lib/modules}
	cp "$BUSYBOX" "$root/bin/busybox"
	for applet in $("$BUSYBOX" --list); do
		[ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
	done
	i=0
	for m in "${modules[@]}"; do
		i=$((i + 1))
		dst=$root/lib/modules/$(printf '%02d' "$i")-$(basename "${m%%.ko*}").ko
		case $m in
		*.ko) cp "$m" "$dst" ;;
		*.ko.xz) xz -dc "$m" >"$dst" ;;
		*.ko.zst) zstd -qdc "$m" >"$dst" ;;
		*.ko.gz) gzip -dc "$m" >"$dst" ;;
		*) fail "cannot handle module $m" ;;
		esac
	done
	install -m 0755 "$init" "$root/init"
	install -m 0755 "$src/tests/e2e/udhcpc.script" "$root/etc/udhcpc.script"
	install -m 0755 "$src/installer/provd-report.sh" "$root/provd-report.sh"
	install -m 0755 "$src/installer/provd-node-report.sh" "$root/provd-node-report.sh"
	INITRD=$dir/initrd.gz
	(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) | gzip -1 >"$INITRD"
	VM_MODULES="${modules[*]##*/}"
}

strip_console() {
	tr -d '\r\b' | sed -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' -e 's/\x1b[c78]//g' -e 's/[[:space:]]*$//'
}

vm_stop_controlled() {
	local dir=$1 pid pgid
	pid=$(cat "$dir/qemu.pid" 2>/dev/null) || return 0
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$dir/qemu.pid" || return 0
	pgid=$(ps -o pgid= -p "$pid" | tr -d ' ')
	kill -KILL "$pid" 2>/dev/null || true
	[ -z "$pgid" ] || [ "$pgid" = "$(ps -o pgid= -p $$ | tr -d ' ')" ] || kill -KILL -- "-$pgid" 2>/dev/null || true
	for _ in $(seq 1 100); do # reparented to pid 1: gone or a zombie soon
		[ "$(ps -o stat= -p "$pid" 2>/dev/null | cut -c1)" = Z ] && return 0
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.05
	done
	echo "QEMU pid $pid did not die" >&2
	return 1
}

vm_keep_tmp() {
	[ "${E2E_KEEP:-0}" = 1 ] || return 0
	local keep
	keep=$(mktemp -d "/tmp/$1.XXXXXX")
	cp -a "$2/." "$keep/" 2>/dev/null || true
	echo "kept $keep" >&2
}

vm_reinstall_wait() {
	local n=$1 pattern=$2
	shift 2
	local watch=("$@") seen=0 start=$SECONDS text lines rc=0 i cli
	say "provd reinstall $NODE --wait --no-gate"
	"$PROVD" reinstall "$NODE" --wait --no-gate --timeout 300 --url "$URL" --token-file "$T/token" \
		>"$T/cli-reinstall.out" 2>"$T/cli-reinstall.err" &
	cli=$!
	PIDS+=("$cli")
	while :; do
		if [ -f "$VMDIR/serial-$n.log" ]; then
			text=$(strip_console <"$VMDIR/serial-$n.log" | grep -E "$pattern|PROVD-E2E: FAIL|Kernel panic" || true)
			lines=$(printf '%s\n' "$text" | grep -c . || true)
			if [ "$lines" -gt "$seen" ]; then
				printf '%s\n' "$text" | tail -n +$((seen + 1)) | while IFS= read -r l; do say "  console: $l"; done
				seen=$lines
			fi
			if grep -qE 'PROVD-E2E: FAIL|Kernel panic' <<<"$text"; then
				fail "the installer failed on the VM"
			fi
		fi
		kill -0 "$cli" 2>/dev/null || break
		for ((i = 0; i < ${#watch[@]}; i += 2)); do
			kill -0 "${watch[i]}" 2>/dev/null || fail "${watch[i + 1]} died"
		done
		[ $((SECONDS - start)) -lt "$TIMEOUT" ] || fail "provd reinstall --wait still running after ${TIMEOUT}s"
		sleep 0.5
	done
	wait "$cli" || rc=$?
	sed 's/^/  reinstall: /' "$T/cli-reinstall.err"
	say "provd reinstall --wait exited $rc after $((SECONDS - start))s: $(cat "$T/cli-reinstall.out")"
	[ "$rc" = 0 ] || fail "provd reinstall $NODE --wait exited $rc"
	[ "$(awk -v n="$NODE" '$1 == n { print $2 }' "$T/cli-reinstall.out")" = installed ] ||
		fail "provd reinstall --wait did not print '$NODE installed': $(cat "$T/cli-reinstall.out")"
}

vm_bmc_events_expect() {
	local want=$1 events
	for _ in $(seq 1 100); do
		grep -qx 'boot default' "$VMDIR/events" 2>/dev/null && break
		sleep 0.2
	done
	events=$(paste -sd, "$VMDIR/events")
	[ "$events" = "$want" ] || fail "BMC chassis events: '$events', want '$want'"
}

vm_history_expect() {
	node_json
	for _ in $(seq 1 50); do # the bootdev-disk entry is written when the BMC command returns
		jq -e '.history | map(select(.cause == "bmc" and (.message // "" | test("disk")))) | length > 0' \
			"$T/node.json" >/dev/null && break
		sleep 0.2
		node_json
	done
	python3 - "$T/node.json" "$@" <<'PY' || fail "history is not the reinstall sequence: $(jq -c '[.history[] | [.from, .to, .cause, .message]]' "$T/node.json")"
import json, re, sys
n = json.load(open(sys.argv[1]))
h = n["history"]
for e in h:
    print(f'  history: {e["from"]:>10} -> {e["to"]:<10} {e["cause"]:<9} {e.get("message")}')
def msg(e):
    return e.get("message") or ""
def matches(step, e):
    to, cause, rx = step.split("|", 2)
    if to and e["to"] != to:
        return False
    if cause.startswith("!") and e["cause"] == cause[1:]:
        return False
    if cause and not cause.startswith("!") and e["cause"] != cause:
        return False
    return not rx or re.search(rx, msg(e)) is not None
i = 0
for step in sys.argv[2:]:
    while i < len(h) and not matches(step, h[i]):
        i += 1
    if i == len(h):
        print("history: missing, or out of order:", step)
        sys.exit(1)
    i += 1
bad = [e for e in h if e["cause"] == "bmc" and (e["from"] != e["to"] or re.search(r"fail", msg(e)))]
if bad:
    print("history: bmc entries that change the state or failed:", bad)
    sys.exit(1)
if n["state"] != "installed" or n["attempt"]["number"] != 1 or n["attempt"]["outcome"] != "succeeded":
    print("node:", n["state"], n["attempt"])
    sys.exit(1)
PY
}

# shellcheck disable=SC2034,SC2317 # the includer's variables and functions
vm_harness() {
	PROVD=${1:-$(cd "$(dirname "$0")/../.." && pwd)/build/provd}
	SRC=${2:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
	TIMEOUT=${E2E_TIMEOUT:-180}
	MAC=52:54:00:12:34:56
	NODE=node-01
	T0=$SECONDS
	say() { printf '[e2e %3ds] %s\n' $((SECONDS - T0)) "$*"; }
	skip() { say "SKIP: $*"; [ -z "${PROVD_TESTS_NO_SKIP:-}" ] || exit 1; exit 77; }
	fail() { vm_fail "$@"; }
	TMP=
	SERIAL=
	QEMU_PID=
	FAILED=0
}

vm_start_qemu() {
	SERIAL=$1
	local netdev=$2
	shift 2
	: >"$SERIAL"
	setsid "$QEMU" -accel tcg -machine pc,graphics=off -m 512 -nodefaults \
		-display none -no-reboot -boot n \
		-drive "file=$TMP/disk.img,format=raw,if=virtio" \
		-netdev "$netdev" \
		-device "e1000,netdev=n0,mac=$MAC" \
		-serial "file:$SERIAL" "$@" \
		</dev/null >"$SERIAL.qemu" 2>&1 &
	QEMU_PID=$!
}

vm_stop_qemu() {
	[ -n "$QEMU_PID" ] || return 0
	kill -TERM -- "-$QEMU_PID" 2>/dev/null || true
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		kill -0 "$QEMU_PID" 2>/dev/null || break
		sleep 0.5
	done
	kill -KILL -- "-$QEMU_PID" 2>/dev/null || true
	wait "$QEMU_PID" 2>/dev/null || true
	QEMU_PID=
}

vm_stop_pid() {
	local pid=$1
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.5
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

vm_dump_serial() {
	if [ -n "$SERIAL" ] && [ -f "$SERIAL" ]; then
		echo "----- tail of serial console ($SERIAL) -----"
		# iPXE draws with ANSI escapes and CRs
		tail -c 4000 "$SERIAL" | strip_console | tail -n 40
	fi
}

vm_fail() {
	say "FAIL: $*"
	FAILED=1
	dump_logs >&2
	# again after the dump: meson's --print-errorlogs shows only a long log's last 100 lines
	say "FAIL (repeated after the logs above): $*"
	exit 1
}

# vm_harness_exit RC PID...: the EXIT trap vm_harness_traps sets.
vm_harness_exit() {
	local rc=$1 pid
	shift
	trap - EXIT INT TERM
	vm_stop_qemu
	for pid in "$@"; do
		vm_stop_pid "$pid"
	done
	if [ "$rc" != 0 ] && [ "$rc" != 77 ] && [ "$FAILED" = 0 ]; then
		say "FAIL: exited with status $rc"
		dump_logs >&2
	fi
	if declare -F vm_exit_hook >/dev/null; then
		vm_exit_hook
	fi
	if [ -n "$TMP" ]; then
		if [ "${E2E_KEEP:-0}" = 1 ]; then
			say "kept $TMP"
		else
			rm -rf "$TMP"
		fi
	fi
	exit "$rc"
}

vm_harness_traps() {
	local on_exit='vm_harness_exit $?' var
	for var in "$@"; do
		on_exit+=" \"\${$var}\""
	done
	# shellcheck disable=SC2064 # the variables' names now, their values at exit
	trap "$on_exit" EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}
