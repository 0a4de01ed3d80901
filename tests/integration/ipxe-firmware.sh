#!/usr/bin/env bash
# What iPXE says it runs on reaches the install attempt, the history, the metrics and the log:
# the chain script's fetch URL, filled in the way iPXE fills it (${netX/mac}, ${platform},
# ${buildarch}), opens an attempt that records the firmware; a UEFI node whose BMC is set to
# legacy boot gets a warning; HEAD records nothing; a repeat boot keeps the attempt's
# firmware; a database made before attempts.firmware existed is migrated on start.
source "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || skip "jq missing"
[ "$PROVD_TEST_STORE" != sqlite ] || command -v sqlite3 >/dev/null || skip "sqlite3 missing"

make_inventory "$T/inv.json" 5
# node-02's BMC asks for EFI boots; node-05 has no BMC.
jq '.nodes[1].bmc.boot_mode = "efi" | del(.nodes[4].bmc)' "$T/inv.json" >"$T/inv2.json"
provd_start "$T/inv2.json"

# The chain script's fetch line, as iPXE would expand it for a NIC and a platform.
expect_status 200 GET /v1/ipxe
fetch=$(printf '%s\n' "$BODY" | sed -n 's/^imgfetch --name provd-node \([^ ]*\) .*/\1/p')
[ -n "$fetch" ] || fail "no imgfetch line in the chain script: $BODY"
ipxe_fetch() { # MAC PLATFORM BUILDARCH -> GET of the expanded URL
        local u=${fetch//'${netX/mac}'/$1}
        u=${u//'${platform}'/$2}
        u=${u//'${buildarch}'/$3}
        expect_status 200 GET "/v1/${u#*/v1/}" # the path: the port changes across restarts
}
node_get() { expect_status 200 GET "/v1/nodes/$1"; }

ipxe_fetch 52:54:00:00:00:01 efi x86_64
printf '%s' "$BODY" | grep -q '^kernel ' || fail "node-01: not an install script: $BODY"
node_get node-01
jq_eq .attempt.firmware efi-x64
jq_eq '.history[0].message | endswith("(firmware efi-x64)")' true
grep -q 'node-01.*UEFI firmware (efi-x64) but bmc.boot_mode is legacy' "$LOG" ||
        fail "no warning for node-01 (UEFI firmware, legacy BMC boot mode): $(tail -n 5 "$LOG")"
ok "UEFI x64: attempt and history record efi-x64; legacy boot_mode warned"

ipxe_fetch 52:54:00:00:00:02 efi x86_64
node_get node-02
jq_eq .attempt.firmware efi-x64
grep -q 'node-02.*bmc.boot_mode is legacy' "$LOG" && fail "node-02 (boot_mode efi) was warned"
ipxe_fetch 52:54:00:00:00:03 pcbios i386
node_get node-03
jq_eq .attempt.firmware bios
jq_eq '.history[0].message | endswith("(firmware bios)")' true
grep -q 'node-03.*bmc.boot_mode is legacy' "$LOG" && fail "node-03 (BIOS) was warned"
ipxe_fetch 52:54:00:00:00:05 efi arm64
node_get node-05
jq_eq .attempt.firmware arm64
ok "efi BMC, BIOS and no BMC: firmware recorded, no warning"

# HEAD opens nothing; pixiecore and a hand-written URL say nothing about the firmware.
expect_status 200 HEAD '/v1/ipxe?mac=52:54:00:00:00:04&platform=efi&buildarch=x86_64'
node_get node-04
jq_eq .state new
expect_status 200 GET /v1/boot/52:54:00:00:00:04
node_get node-04
jq_eq .attempt.firmware null
jq_eq '.history[0].message | test("firmware")' false
ok "HEAD records nothing; pixiecore's boot: firmware null"

# A repeat boot of an open attempt keeps the attempt's firmware; a strange platform is "other".
ipxe_fetch 52:54:00:00:00:01 pcbios i386
node_get node-01
jq_eq .attempt.firmware efi-x64
jq_eq '.history | length' 1
expect_status 200 GET '/v1/ipxe?mac=52:54:00:00:00:99&platform=weird%0A&buildarch=x'
printf '%s' "$BODY" | grep -q 'not in the inventory' || fail "unknown MAC: $BODY"

expect_status 200 GET /metrics
m() { printf '%s\n' "$BODY" | grep -F "provd_boot_requests_total{$1}" | awk '{print $2}'; }
[ "$(m 'api="ipxe",result="install",firmware="efi-x64"')" = 2 ] || fail "efi-x64 installs: $(printf '%s' "$BODY" | grep boot_requests)"
[ "$(m 'api="ipxe",result="install",firmware="bios"')" = 2 ] || fail "bios installs (node-03, node-01 again): $(printf '%s' "$BODY" | grep boot_requests)"
[ "$(m 'api="ipxe",result="install",firmware="arm64"')" = 1 ] || fail "arm64 installs"
[ "$(m 'api="ipxe",result="unknown",firmware="other"')" = 1 ] || fail "unknown MAC from firmware other"
[ "$(m 'api="pixiecore",result="install",firmware="unknown"')" = 1 ] || fail "pixiecore install"
[ -z "$(m 'api="ipxe",result="local",firmware="efi-x64"')" ] || fail "a series for a firmware that never got that answer"
ok "provd_boot_requests_total by firmware"

# Restart keeps it; an older database (no attempts.firmware) is migrated, its attempts null.
provd_kill9
provd_start "$T/inv2.json"
node_get node-01
jq_eq .attempt.firmware efi-x64
provd_stop
if sqlite_only "the migration of a provd.db older than attempts.firmware"; then
        state_sql "ALTER TABLE attempts DROP COLUMN firmware" || fail "cannot drop attempts.firmware"
        provd_start "$T/inv2.json"
        grep -q 'adding the attempts column "firmware"' "$LOG" || fail "no migration logged: $(cat "$LOG")"
        node_get node-01
        jq_eq .attempt.firmware null
else
        provd_start "$T/inv2.json"
        node_get node-01
fi
jq_eq .attempt.number 1
ipxe_fetch 52:54:00:00:00:04 efi x86_64
node_get node-04
if ! tokens_sealed; then
        # node-04 was netbooting when provd stopped: its token is lost, so its next boot opens
        # attempt 2, which records.
        jq_eq .attempt.number 2
        jq_eq .attempt.firmware efi-x64
else
        # its token is sealed in the store: the boot goes on with attempt 1 (pixiecore's: null)
        jq_eq .attempt.number 1
        jq_eq .attempt.firmware null
fi
provd_stop
ok "firmware survives kill -9; a database without the column is migrated"
