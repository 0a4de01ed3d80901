#!/usr/bin/env bash
# A small state filesystem (a 2 MiB tmpfs this test mounts) under many transitions, then full:
#  (a) hundreds of transitions do not fill it: the SQLite WAL stays bounded;
#  (b) filled: writes answer 507 and change nothing, reads and boot answers that need no write
#      (installed node, repeated boot of an open attempt) are still given; no "cannot rollback";
#  (c) space back: writes work again within 2 s, no restart;
#  (d) stopped, filesystem filled to the last page, started again: provd starts, serves what
#      needs no write and answers 507 for what does;
#  (e) a clean stop leaves the WAL empty; every answered transition is in the history.
source "$(dirname "$0")/../integration/lib.sh"
# The state directory's disk holds the store only on SQLite (provd.db and its WAL).
sqlite_only "the WAL and provd.db on a full state filesystem" || exit 0
command -v jq >/dev/null || skip "jq missing"
command -v sqlite3 >/dev/null || skip "sqlite3 missing"
FS="$T/fs"
if ! mkdir -p "$FS" || ! mount -t tmpfs -o size=2m tmpfs "$FS" 2>"$T/mount.err"; then
        skip "cannot mount a tmpfs (needs root): $(cat "$T/mount.err")"
fi
AT_EXIT+=('umount -l "$FS" 2>/dev/null')
STATE="$FS/state"

mac_of() { printf '52:54:00:00:00:%02x' "$1"; }
wal_bytes() { stat -c %s "$STATE/provd.db-wal" 2>/dev/null || echo 0; }
avail_kib() { df --output=avail -k "$FS" | tail -n 1 | tr -d ' '; }
# fill NAME: a filler file taking every free page of the filesystem.
fill() {
        dd if=/dev/zero of="$FS/$1" bs=4k 2>/dev/null || true
        [ "$(avail_kib)" = 0 ] || fail "the filesystem still has $(avail_kib) KiB free after $1"
}
# boot MAC: GET /v1/boot/MAC; TOK = the install token in the answer ("" if none).
boot() {
        http GET "/v1/boot/$1"
        TOK=
        if [[ $BODY =~ provd\.token=([A-Za-z0-9_-]+) ]]; then TOK=${BASH_REMATCH[1]}; fi
}
state_of() {
        http GET "/v1/nodes/$1"
        [ "$STATUS" = 200 ] || fail "GET /v1/nodes/$1: $STATUS $(short_body)"
        printf '%s' "$BODY" | jq -r '"\(.state) \(.attempt.number) \(.attempt.phase)"'
}
no_rollback_noise() {
        if grep -q 'cannot rollback' "$LOG"; then fail "misleading log line: $(grep -m1 'cannot rollback' "$LOG")"; fi
}

DONE=0 # transitions answered 200: each must be one history row at the end
make_inventory "$T/inv.json" 40
provd_start "$T/inv.json"

# ---- (a) many transitions on 2 MiB ----------------------------------------------------------
# node-01 cycles netbooting -> installing (installer "started") -> netbooting (it boots again
# mid-install: the attempt is abandoned and a new one opened): one history row each.
boot "$(mac_of 1)"
[ "$STATUS" = 200 ] && [ -n "$TOK" ] || fail "first boot of node-01: $STATUS $(short_body)"
DONE=$((DONE + 1))
wal_max=0
for i in $(seq 1 200); do
        event "$TOK" '{"phase":"started"}'
        [ "$STATUS" = 200 ] || fail "(a) transition $DONE (started): $STATUS $(short_body); WAL $(wal_bytes) bytes, $(avail_kib) KiB free"
        DONE=$((DONE + 1))
        boot "$(mac_of 1)"
        [ "$STATUS" = 200 ] && [ -n "$TOK" ] ||
                fail "(a) transition $DONE (boot mid-install): $STATUS $(short_body); WAL $(wal_bytes) bytes, $(avail_kib) KiB free"
        DONE=$((DONE + 1))
        w=$(wal_bytes)
        if [ "$w" -gt "$wal_max" ]; then wal_max=$w; fi
done
[ "$wal_max" -le $((512 * 1024)) ] || fail "(a) the WAL grew to $wal_max bytes"
echo "# (a) $DONE transitions: WAL at most $wal_max bytes, now $(wal_bytes); database $(stat -c %s "$STATE/provd.db") bytes; $(avail_kib) KiB free"
ok "(a) $DONE transitions on a 2 MiB filesystem: the WAL stays under 512 KiB"
T1=$TOK # node-01 is netbooting

# node-02 installed, node-03 netbooting (token held), node-04 installing (token held).
boot "$(mac_of 2)"
event "$TOK" '{"phase":"started"}'
[ "$STATUS" = 200 ] || fail "node-02 started: $STATUS $(short_body)"
event "$TOK" '{"phase":"succeeded"}'
[ "$STATUS" = 200 ] || fail "node-02 succeeded: $STATUS $(short_body)"
boot "$(mac_of 3)"
T3=$TOK
boot "$(mac_of 4)"
T4=$TOK
event "$T4" '{"phase":"started"}'
[ "$STATUS" = 200 ] && [ -n "$T3" ] && [ -n "$T4" ] || fail "node-03/04: $STATUS $(short_body)"
DONE=$((DONE + 6))
[ "$(state_of node-02)" = "installed 1 succeeded" ] || fail "node-02: $(state_of node-02)"

# ---- (b) full ---------------------------------------------------------------------------
fill filler1
# The WAL's own pages may still take a few transitions; then a write must fail for space.
full_after=
for i in $(seq 1 200); do
        event "$T1" '{"phase":"started"}'
        if [ "$STATUS" = 200 ]; then
                DONE=$((DONE + 1))
                boot "$(mac_of 1)"
                [ "$STATUS" = 200 ] && T1=$TOK
        fi
        case $STATUS in
        200) DONE=$((DONE + 1)) ;;
        507) full_after=$i && break ;;
        *) fail "(b) a write on a full filesystem: $STATUS $(short_body)" ;;
        esac
done
[ -n "$full_after" ] || fail "(b) 400 writes succeeded on a full filesystem"
jq_eq .error.code insufficient_storage
before01=$(state_of node-01)
# The failed write gave the WAL's space back (checkpointed, truncated: the pages it held are
# all in the database file already, which need not grow for them).
[ "$(wal_bytes)" = 0 ] && [ "$(avail_kib)" -gt 0 ] || fail "(b) after a 507: WAL $(wal_bytes) bytes, $(avail_kib) KiB free"
wal_freed=$(avail_kib)
# Space a failed write gave back (the WAL truncated) is taken again.
fill filler2
for i in 5 6 7; do
        boot "$(mac_of $i)"
        [ "$STATUS" = 507 ] || fail "(b) first boot of node-0$i on a full filesystem: $STATUS $(short_body)"
        jq_eq .error.code insufficient_storage
        [ -z "$TOK" ] || fail "(b) a token was handed out without being stored"
        [ "$(state_of node-0$i)" = "new null null" ] || fail "(b) node-0$i after a 507: $(state_of node-0$i)"
done
event "$T4" '{"phase":"succeeded"}'
[ "$STATUS" = 507 ] || fail "(b) installer event on a full filesystem: $STATUS $(short_body)"
[ "$(state_of node-04)" = "installing 1 started" ] || fail "(b) node-04 after a 507: $(state_of node-04)"
# node-01 is netbooting or installing, depending on which write failed first.
if [ "${before01%% *}" = netbooting ]; then
        event "$T1" '{"phase":"started"}'
        [ "$STATUS" = 507 ] || fail "(b) node-01 started: $STATUS"
        boot "$(mac_of 1)" # netbooting with its token held: the same answer, no write
        [ "$STATUS" = 200 ] && [ "$TOK" = "$T1" ] || fail "(b) repeated boot of node-01: $STATUS"
else
        boot "$(mac_of 1)" # a boot mid-install opens a new attempt: a write
        [ "$STATUS" = 507 ] || fail "(b) boot of node-01 mid-install: $STATUS"
        event "$T1" '{"phase":"started"}' # the same phase again: no write
        [ "$STATUS" = 200 ] || fail "(b) node-01 started again: $STATUS $(short_body)"
        jq_eq .changed false
fi
[ "$(state_of node-01)" = "$before01" ] || fail "(b) node-01 changed after 507s: $(state_of node-01), was $before01"
# Reads and boots that need no write.
expect_status 200 GET /v1/nodes
[ "$(printf '%s' "$BODY" | jq '.nodes | length')" = 40 ] || fail "(b) GET /v1/nodes: $(short_body)"
expect_status 200 GET /v1/nodes/node-01/history
expect_status 200 GET '/v1/events?limit=5'
expect_status 404 GET "/v1/boot/$(mac_of 2)"
http GET "/v1/ipxe?mac=$(mac_of 2)"
[ "$STATUS" = 200 ] && grep -q '^exit' <<<"$BODY" || fail "(b) iPXE boot of installed node-02: $STATUS $(short_body)"
boot "$(mac_of 3)"
[ "$STATUS" = 200 ] && [ "$TOK" = "$T3" ] || fail "(b) repeated boot of node-03: $STATUS, token ${TOK:-none}"
http GET "/v1/ipxe?mac=$(mac_of 3)"
[ "$STATUS" = 200 ] && grep -qF "provd.token=$T3" <<<"$BODY" || fail "(b) iPXE repeated boot of node-03: $STATUS"
expect_status 404 GET /v1/boot/52:54:00:00:01:ff
kill -0 "$PROVD_PID" || fail "provd died on a full filesystem"
no_rollback_noise
echo "# (b) full after $((full_after - 1)) more write pairs; the 507 truncated the WAL, freeing $wal_freed KiB; WAL now $(wal_bytes) bytes, $(avail_kib) KiB free"
ok "(b) full: writes 507 and change nothing; reads, installed and repeated boots answered; no rollback noise"

# ---- (c) space back ---------------------------------------------------------------------
rm -f "$FS"/filler*
start=$(date +%s%N)
for i in $(seq 1 20); do
        boot "$(mac_of 5)"
        [ "$STATUS" = 200 ] && break
        sleep 0.1
done
[ "$STATUS" = 200 ] && [ -n "$TOK" ] || fail "(c) no write within 2 s of freeing space: $STATUS $(short_body)"
ms=$((($(date +%s%N) - start) / 1000000))
DONE=$((DONE + 1))
event "$T4" '{"phase":"succeeded"}'
[ "$STATUS" = 200 ] || fail "(c) node-04 succeeded: $STATUS $(short_body)"
DONE=$((DONE + 1))
[ "$(state_of node-04)" = "installed 1 succeeded" ] || fail "(c) node-04: $(state_of node-04)"
echo "# (c) first write $ms ms after freeing space"
ok "(c) space back: writes work again without a restart"

# ---- (d) restart on a filesystem filled to the last page ---------------------------------
provd_stop
no_rollback_noise
w=$(wal_bytes)
[ "$w" = 0 ] || fail "(e) WAL after a clean stop: $w bytes"
fill filler3
provd_start "$T/inv.json"
expect_status 404 GET "/v1/boot/$(mac_of 2)"
expect_status 404 GET "/v1/boot/$(mac_of 4)"
http GET "/v1/ipxe?mac=$(mac_of 2)"
[ "$STATUS" = 200 ] && grep -q '^exit' <<<"$BODY" || fail "(d) iPXE boot of installed node-02: $STATUS $(short_body)"
# node-03's token is not held by this process: its boot opens a new attempt, a write.
boot "$(mac_of 3)"
[ "$STATUS" = 507 ] && [ -z "$TOK" ] || fail "(d) boot of node-03 (needs a write) on a full filesystem: $STATUS"
boot "$(mac_of 6)"
[ "$STATUS" = 507 ] || fail "(d) first boot of node-06 on a full filesystem: $STATUS"
expect_status 200 GET /v1/nodes
expect_status 200 GET /v1/nodes/node-03
[ "$(state_of node-03)" = "netbooting 1 null" ] || fail "(d) node-03: $(state_of node-03)"
no_rollback_noise
provd_stop
w=$(wal_bytes)
[ "$w" = 0 ] || fail "(e) WAL after a clean stop on a full filesystem: $w bytes"
if grep -q 'exclusive locking mode' "$LOG"; then
        fail "(d) the -shm file provd kept was not enough: $(grep -m1 exclusive "$LOG")"
fi
echo "# (d) restarted with $(avail_kib) KiB free: installed nodes answered, writes 507; WAL after the stop $w bytes"
ok "(d) restart on a full filesystem: starts, answers what needs no write, 507 for what does"

# The same when another program closed the database last (sqlite3 removes the -wal and -shm
# files then): no space for a new -shm; provd keeps the WAL's index in memory instead.
rm -f "$FS"/filler*
[ "$(sqlite3 "$STATE/provd.db" 'SELECT COUNT(*) FROM nodes')" -gt 0 ] || fail "(d) sqlite3 read"
[ ! -e "$STATE/provd.db-shm" ] || fail "(d) sqlite3 left the -shm file"
fill filler4
provd_start "$T/inv.json"
grep -q 'exclusive locking mode' "$LOG" || fail "(d) no word of the exclusive locking mode in the log"
expect_status 404 GET "/v1/boot/$(mac_of 2)"
boot "$(mac_of 6)"
[ "$STATUS" = 507 ] || fail "(d) first boot of node-06, no -shm, full filesystem: $STATUS"
[ "$(state_of node-03)" = "netbooting 1 null" ] || fail "(d) node-03: $(state_of node-03)"
rm -f "$FS"/filler*
boot "$(mac_of 6)"
[ "$STATUS" = 200 ] && [ -n "$TOK" ] || fail "(d) first boot of node-06 with space back: $STATUS $(short_body)"
DONE=$((DONE + 1))
no_rollback_noise
provd_stop
[ "$(wal_bytes)" = 0 ] || fail "(e) WAL after a clean stop in exclusive locking mode: $(wal_bytes) bytes"
ok "(d) without its -shm file on a full filesystem: starts in exclusive locking mode, serves, writes once there is space"

# ---- (e) space back after the restart; clean stop --------------------------------------
rm -f "$FS"/filler*
provd_start "$T/inv.json"
if grep -q 'exclusive locking mode' "$LOG"; then fail "(e) exclusive locking mode with space: $(grep -m1 exclusive "$LOG")"; fi
boot "$(mac_of 3)"
[ "$STATUS" = 200 ] && [ -n "$TOK" ] && [ "$TOK" != "$T3" ] || fail "(e) boot of node-03: $STATUS"
DONE=$((DONE + 1))
provd_stop
no_rollback_noise
w=$(wal_bytes)
[ "$w" = 0 ] || fail "(e) WAL after a clean stop: $w bytes"
[ "$(sqlite3 "$STATE/provd.db" 'PRAGMA integrity_check')" = ok ] || fail "(e) integrity check"
rows=$(sqlite3 "$STATE/provd.db" 'SELECT COUNT(*) FROM history')
[ "$rows" = "$DONE" ] || fail "(e) $DONE transitions answered 200, $rows history rows"
echo "# (e) $DONE transitions answered, $rows history rows; WAL after the clean stop $w bytes"
ok "(e) a clean stop leaves the WAL empty; every answered transition is in the history"
