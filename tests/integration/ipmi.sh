#!/usr/bin/env bash
# ipmi.sh — provd's BMC layer (daemon/ipmi.c through daemon/bmc-pool.c, driven by the
# provd-bmc test tool) against OpenIPMI ipmi_sim simulators on loopback:
#   power status/on/off/cycle/reset/soft and boot device pxe/disk/bios, each checked on the
#   simulator's side (its chassis_control state files) and with ipmitool / ipmi-chassis;
#   wrong password and wrong user -> EACCES without the password in any output;
#   a simulator without chassis control -> EOPNOTSUPP with the completion code;
#   no BMC at an address -> ETIMEDOUT within the configured timeout while healthy BMCs in
#   the same pool answer at once; a BMC that stops mid-session (hangs) and one killed
#   between two commands -> ETIMEDOUT; unreachable / unresolvable -> EHOSTUNREACH.
#
#   ipmi.sh PATH_TO_PROVD [SOURCE_DIR]      (provd-bmc from $PROVD_BMC, else next to provd)
#
# Exit 77 (skip) when ipmi_sim or ipmitool is missing, unless PROVD_TESTS_NO_SKIP=1.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib-ipmi.sh"

for tool in ipmi_sim ipmitool ss; do
        command -v "$tool" >/dev/null || skip "$tool not installed"
done
PROVD_BMC=${PROVD_BMC:-$(dirname "$PROVD")/tests/provd-bmc}
[ -x "$PROVD_BMC" ] || fail "provd-bmc not found at $PROVD_BMC"

# bmc ARGS...: runs provd-bmc; sets OUT (stdout), ERR (stderr), RC.  Fails on a sanitizer
# report.
bmc() {
        RC=0
        "$PROVD_BMC" "$@" >"$T/bmc.out" 2>"$T/bmc.err" || RC=$?
        OUT=$(cat "$T/bmc.out")
        ERR=$(cat "$T/bmc.err")
        if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$T/bmc.err"; then
                cat "$T/bmc.err" >&2
                fail "sanitizer report from provd-bmc $*"
        fi
}
# field N HOST-LABEL: column N (1-based) of provd-bmc's line for that host.
field() {
        awk -F'\t' -v h="$2" -v n="$1" '$1 == h { print $n }' <<<"$OUT"
}
expect_line() { # HOST-LABEL STATUS [TEXT-SUBSTRING]
        local st txt
        st=$(field 2 "$1")
        txt=$(field 3 "$1")
        [ "$st" = "$2" ] || fail "$1: expected $2, got '$st' (output: $OUT; stderr: $ERR)"
        [ -z "${3:-}" ] || [[ $txt == *"$3"* ]] || fail "$1: expected '$3' in '$txt'"
}
ms_of() { field 4 "$1"; }

# Waits up to 10 s until the file holds the value.
wait_file() {
        local file=$1 want=$2 i
        for i in $(seq 1 100); do
                [ "$(cat "$file" 2>/dev/null)" = "$want" ] && return 0
                sleep 0.1
        done
        fail "$file: expected '$want', got '$(cat "$file" 2>/dev/null)'"
}

PW=$T/bmc-password
printf '%s\n' "$SIM_PASSWORD" >"$PW"
chmod 600 "$PW"
BAD_PW=$T/bad-password
printf 'Wr0ngPassw0rd\n' >"$BAD_PW"
chmod 600 "$BAD_PW"
# ipmi_sim needs FreeIPMI's open-session-privilege workaround for IPMI 2.0.
COMMON=(-u "$SIM_USER" -p "$PW" -W opensesspriv --timeout 2000)

sim_base
for n in 1 2 3; do sim_start "$n"; done
sim_start 4 no-chassis
sim_wait 1 2 3 4
S1=$(sim_label 1) S2=$(sim_label 2) S3=$(sim_label 3) S4=$(sim_label 4)
ok "4 simulators on $SIM_NET.1-4"

# --- power -------------------------------------------------------------------------------
bmc "${COMMON[@]}" status "$S1" "$S2" "$S3"
[ "$RC" = 0 ] || fail "status: exit $RC: $OUT $ERR"
for s in "$S1" "$S2" "$S3"; do expect_line "$s" ok off; done
ok "status: all off"

bmc "${COMMON[@]}" on "$S1" "$S2"
[ "$RC" = 0 ] || fail "on: exit $RC: $OUT"
[ "$(sim_power 1)" = 1 ] && [ "$(sim_power 2)" = 1 ] || fail "on: simulators say $(sim_power 1) $(sim_power 2)"
[ "$(sim_power 3)" = 0 ] || fail "on touched simulator 3"
[[ $(sim_ipmitool 1 chassis power status) == *"Chassis Power is on"* ]] || fail "ipmitool disagrees after on"
bmc "${COMMON[@]}" status "$S1" "$S2" "$S3"
expect_line "$S1" ok on
expect_line "$S2" ok on
expect_line "$S3" ok off
ok "on: simulators 1 and 2 powered on, 3 untouched; provd-bmc and ipmitool read it back"

: >"$(sim_dir 1)/events"
bmc "${COMMON[@]}" cycle "$S1"
expect_line "$S1" ok done
wait_file "$(sim_dir 1)/power" 1
# A cycle is "power 0" then (after ipmi_sim's power-on delay) "power 1".
[ "$(sim_events 1 | grep '^power' | tr '\n' ' ')" = "power 0 power 1 " ] ||
        fail "cycle: simulator saw '$(sim_events 1 | tr '\n' ' ')'"
ok "cycle: simulator saw power off, then on"

bmc "${COMMON[@]}" off "$S2"
expect_line "$S2" ok done
[ "$(sim_power 2)" = 0 ] || fail "off: simulator 2 still $(sim_power 2)"
[[ $(sim_ipmitool 2 chassis power status) == *"Chassis Power is off"* ]] || fail "ipmitool disagrees after off"
ok "off: simulator 2 off"

: >"$(sim_dir 3)/events"
bmc "${COMMON[@]}" reset "$S3"
expect_line "$S3" ok done
bmc "${COMMON[@]}" soft "$S3"
expect_line "$S3" ok done
[ "$(sim_events 3 | tr '\n' ' ')" = "reset 1 shutdown 1 " ] || fail "reset+soft: simulator saw '$(sim_events 3)'"
ok "reset and soft shutdown reach the simulator"

# --- boot device -------------------------------------------------------------------------
# --debug-dump makes FreeIPMI print each request before encryption: the Set System Boot
# Options parameter 5 data (§28.13 Table 28-14) as a little-endian 40-bit number, so data1
# (valid/persistent/EFI) is the low byte and data2 (device << 2) the next.  ipmi_sim keeps only
# the device (lanserv/emu_cmd.c ignores data1), so the flags are checked on the wire here.
boot_param_data() {
        sed -n '/Set System Boot Options Request/,/Set System Boot Options Response/p' <<<"$ERR" |
                sed -n 's/.*\[ *\([0-9A-F]*\)h\] = configuration_parameter_data\[40b\].*/\1/p' | head -n 1
}

bmc "${COMMON[@]}" --debug-dump bootdev-pxe "$S1"
expect_line "$S1" ok done
[ "$(sim_boot 1)" = pxe ] || fail "bootdev-pxe: simulator 1 boot is '$(sim_boot 1)'"
[ "$(boot_param_data)" = 480 ] || fail "bootdev-pxe once legacy: sent data '$(boot_param_data)', want 480 (data1 80h, data2 04h)"
got=$(sim_ipmitool 1 chassis bootparam get 5)
[[ $got == *"Boot Device Selector : Force PXE"* ]] || fail "ipmitool bootparam get 5 disagrees: $got"
bmc "${COMMON[@]}" bootdev-get "$S1"
expect_line "$S1" ok "pxe once legacy"
ok "boot device pxe, once, legacy: simulator, ipmitool and provd-bmc agree; data1 = 80h on the wire"

bmc "${COMMON[@]}" --debug-dump --persistent bootdev-disk "$S2"
expect_line "$S2" ok done
[ "$(sim_boot 2)" = default ] || fail "bootdev-disk: simulator 2 boot is '$(sim_boot 2)' (ipmi_sim calls the disk 'default')"
[ "$(boot_param_data)" = 8C0 ] || fail "bootdev-disk persistent: sent '$(boot_param_data)', want 8C0 (data1 C0h)"
if command -v ipmi-chassis >/dev/null; then
        got=$(ipmi-chassis -D LAN_2_0 -W opensesspriv -h "$(sim_addr 2)" -u "$SIM_USER" \
                -p "$SIM_PASSWORD" --get-boot-flags)
        grep -qE 'Boot device selector +: Force boot from default Hard drive' <<<"$got" ||
                fail "ipmi-chassis --get-boot-flags disagrees: $got"
fi
bmc "${COMMON[@]}" bootdev-get "$S2"
expect_line "$S2" ok "disk"
ok "boot device disk, persistent: simulator, ipmi-chassis and provd-bmc agree; data1 = C0h on the wire"

bmc "${COMMON[@]}" --debug-dump --persistent --efi bootdev-bios "$S3"
expect_line "$S3" ok done
[ "$(sim_boot 3)" = bios ] || fail "bootdev-bios: simulator 3 boot is '$(sim_boot 3)'"
[ "$(boot_param_data)" = 18E0 ] || fail "bootdev-bios persistent efi: sent '$(boot_param_data)', want 18E0"
bmc "${COMMON[@]}" bootdev-none "$S3"
[ "$(sim_boot 3)" = none ] || fail "bootdev-none: simulator 3 boot is '$(sim_boot 3)'"
ok "boot device bios (persistent, EFI: data1 = E0h) and none"

# --- command not supported ---------------------------------------------------------------
bmc "${COMMON[@]}" on "$S4"
expect_line "$S4" EOPNOTSUPP "completion code 0xCC"
bmc "${COMMON[@]}" bootdev-pxe "$S4"
expect_line "$S4" EOPNOTSUPP "Set System Boot Options"
ok "a BMC without chassis control: EOPNOTSUPP with completion code 0xCC"

# --- credentials -------------------------------------------------------------------------
bmc -u "$SIM_USER" -p "$BAD_PW" -W opensesspriv --timeout 2000 --retries 3 status "$S1" "$S2"
[ "$RC" = 1 ] || fail "wrong password: exit $RC"
expect_line "$S1" EACCES "rejected user $SIM_USER: password invalid"
expect_line "$S2" EACCES "password invalid"
[ "$(ms_of "$S1")" -lt 1000 ] || fail "wrong password took $(ms_of "$S1") ms (retried?)"
if grep -q -e Wr0ngPassw0rd -e "$SIM_PASSWORD" <<<"$OUT$ERR"; then
        fail "a password appears in provd-bmc's output"
fi
bmc -u nobody -p "$PW" -W opensesspriv --timeout 2000 status "$S1"
expect_line "$S1" EACCES "rejected user nobody"
ok "wrong password / user: EACCES, not retried, no password in the output"

# --- dead, blackholed, hung and killed BMCs ----------------------------------------------
DEAD=$SIM_NET.99:623 # no simulator there
bmc -u "$SIM_USER" -p "$PW" -W opensesspriv --timeout 2000 --workers 4 status "$DEAD" "$S1" "$S2" "$S3"
[ "$RC" = 1 ] || fail "dead BMC: exit $RC"
expect_line "$DEAD" ETIMEDOUT "did not answer within 2 s"
ms=$(ms_of "$DEAD")
[ "$ms" -ge 1900 ] && [ "$ms" -le 3500 ] || fail "dead BMC: timed out after $ms ms (timeout 2000)"
for s in "$S1" "$S2" "$S3"; do
        expect_line "$s" ok
        [ "$(ms_of "$s")" -lt 1000 ] || fail "$s waited $(ms_of "$s") ms behind the dead BMC"
done
ok "no BMC at $DEAD: ETIMEDOUT after $ms ms; the healthy BMCs in the same pool answered in $(ms_of "$S1")/$(ms_of "$S2")/$(ms_of "$S3") ms"

# Blackholed: the simulator is alive but stopped (SIGSTOP) — packets are queued, never answered.
kill -STOP "${SIM_PID[3]}"
bmc "${COMMON[@]}" --workers 2 status "$S3" "$S1"
kill -CONT "${SIM_PID[3]}"
expect_line "$S3" ETIMEDOUT
expect_line "$S1" ok
[ "$(ms_of "$S1")" -lt 1000 ] || fail "healthy BMC waited $(ms_of "$S1") ms behind a blackholed one"
ok "blackholed BMC: ETIMEDOUT after $(ms_of "$S3") ms, the other answered in $(ms_of "$S1") ms"

# Stops mid-session: the session opens, then the simulator hangs in its chassis_control
# program (it runs it synchronously) and answers nothing until it is released.
touch "$(sim_dir 2)/hang"
bmc "${COMMON[@]}" status "$S2" "$S1"
rm -f "$(sim_dir 2)/hang"
expect_line "$S2" ETIMEDOUT "session timeout"
expect_line "$S1" ok
ms=$(ms_of "$S2")
[ "$ms" -ge 1900 ] && [ "$ms" -le 3500 ] || fail "hung BMC: timed out after $ms ms (timeout 2000)"
sim_wait 2
bmc "${COMMON[@]}" status "$S2"
expect_line "$S2" ok
ok "BMC that stops mid-session: ETIMEDOUT (session timeout) after $ms ms; recovers afterwards"

# Killed between two commands.
bmc "${COMMON[@]}" on "$S3"
expect_line "$S3" ok done
sim_stop 3
bmc "${COMMON[@]}" --retries 1 off "$S3"
expect_line "$S3" ETIMEDOUT "after 2 attempts"
[ "$(sim_power 3)" = 1 ] || fail "killed BMC: state changed to $(sim_power 3)"
ok "BMC killed between two commands: ETIMEDOUT after a retry, state untouched"

# --- unreachable / unresolvable (in an empty network namespace: no packet leaves) --------
if unshare -n true 2>/dev/null; then
        RC=0
        unshare -n "$PROVD_BMC" "${COMMON[@]}" status "$S1" no-such-bmc.invalid >"$T/bmc.out" 2>"$T/bmc.err" || RC=$?
        OUT=$(cat "$T/bmc.out")
        ERR=$(cat "$T/bmc.err")
        expect_line "$S1" EHOSTUNREACH "unreachable"
        expect_line "no-such-bmc.invalid:623" EHOSTUNREACH "cannot resolve"
        ok "unreachable address and unresolvable name: EHOSTUNREACH"
elif [ -n "${PROVD_TESTS_NO_SKIP:-}" ]; then
        fail "unshare -n not permitted"
else
        echo "note: unshare -n not permitted; EHOSTUNREACH not checked"
fi

# --- IPv6 --------------------------------------------------------------------------------
if ip -6 addr show dev lo 2>/dev/null | grep -q '::1/128'; then
        bound=$(ss -Huan | awk '{print $4}')
        for try in $(seq 1 20); do
                port=$((RANDOM % 20000 + 20000))
                grep -q ":$port\$" <<<"$bound" || break
        done
        sim_start_at 5 ::1 "$port"
        sim_wait 5
        S5=$(sim_label 5)
        bmc "${COMMON[@]}" on "$S5"
        expect_line "$S5" ok done
        [ "$(sim_power 5)" = 1 ] || fail "on over IPv6: simulator 5 says $(sim_power 5)"
        ok "IPv6: $S5 powered on"
elif [ -n "${PROVD_TESTS_NO_SKIP:-}" ]; then
        fail "no ::1 on lo"
else
        echo "note: no ::1 on lo; IPv6 not checked"
fi

# --- bad input ---------------------------------------------------------------------------
bmc -u "$SIM_USER" -p "$PW" -W opensesspriv,idzero status "$S1"
[ "$RC" = 2 ] && [[ $ERR == *"'idzero'"*"IPMI 1.5"* ]] || fail "-W idzero: rc $RC: $ERR"
chmod 644 "$PW"
bmc "${COMMON[@]}" status "$S1"
[ "$RC" = 2 ] && [[ $ERR == *"$PW"*"accessible by others"* ]] || fail "world-readable password file: rc $RC: $ERR"
chmod 600 "$PW"
ok "unknown workaround and world-readable password file refused"

for n in 1 2 4; do
        kill -0 "${SIM_PID[$n]}" 2>/dev/null || fail "simulator $n died during the test: $(cat "$(sim_dir "$n")/sim.log")"
done
ok "all done"
