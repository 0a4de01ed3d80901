#!/usr/bin/env bash
# Write routes suspend their connection while their write waits for its batch.  Here the batch
# is held back for real: a second connection holds the store's write lock (SQLite: BEGIN
# IMMEDIATE, so provd's batch waits in its own BEGIN, busy timeout; PostgreSQL: every table
# locked against writes, so the batch waits at its first write) with every installer event and
# node report behind it suspended.
#  1. Clients that disconnect while suspended: every write still commits exactly once and is in
#     the history, the daemon keeps answering, and nothing leaks (ASan at the clean stop).
#  2. SIGTERM while writes are suspended: provd answers them once the batch commits, stops
#     cleanly (exit 0) within seconds, and every acknowledged event is on disk after restart.
source "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || skip "jq missing"
[ "$PROVD_TEST_STORE" != sqlite ] || command -v sqlite3 >/dev/null || skip "sqlite3 missing"

N=40
make_inventory "$T/inv.json" "$N"
provd_start "$T/inv.json"

# Every node netboots: an open attempt, its install token and a node credential each.
for i in $(seq 1 "$N"); do
        printf 'url = "%s/v1/boot/52:54:00:00:00:%02x"\noutput = "%s/boot-%d"\n' "$URL" "$i" "$T" "$i"
done >"$T/boot.cfg"
curl -sS --parallel --parallel-immediate --parallel-max 16 -K "$T/boot.cfg"
tokens=() creds=()
for i in $(seq 1 "$N"); do
        tokens+=("$(jq -r .cmdline "$T/boot-$i" | tr ' ' '\n' | sed -n 's/^provd\.token=//p')")
        [ -n "${tokens[i - 1]}" ] || fail "no install token for node $i: $(head -c 300 "$T/boot-$i")"
        expect_status 200 POST /v1/install/credential -H "Authorization: Bearer ${tokens[i - 1]}"
        creds+=("$(printf '%s' "$BODY" | jq -r .credential)")
done

# lock_store SECONDS: holds the store's write lock from a second connection until unlock_store
# or SECONDS pass (less than provd's 5 s busy timeout on SQLite, so that its batch never fails);
# returns once the lock is held.
lock_store() { store_hold "$1"; }
unlock_store() { store_release; }

# event_cfg FILE TAG MAX_TIME: one installer event per node (message TAG-i) and one report per
# node (kernel TAG-i), as a curl config; each transfer writes "NAME STATUS EXITCODE".
event_cfg() {
        local file=$1 tag=$2 max=$3 i
        : >"$file"
        for i in $(seq 1 "$N"); do
                {
                        [ -s "$file" ] && echo next
                        printf 'url = "%s/v1/install/events"\nheader = "Authorization: Bearer %s"\n' "$URL" "${tokens[i - 1]}"
                        printf 'header = "Content-Type: application/json"\n'
                        printf 'data-binary = "{\\"phase\\":\\"%s\\",\\"message\\":\\"%s-%d\\"}"\n' \
                                "$([ "$tag" = disc ] && echo partitioning || echo installing)" "$tag" "$i"
                        printf 'output = "/dev/null"\nmax-time = %s\nwrite-out = "ev-%s-%d %%{http_code} %%{exitcode}\\n"\n' "$max" "$tag" "$i"
                        echo next
                        printf 'url = "%s/v1/nodes/node-%02d/report"\nheader = "Authorization: Bearer %s"\n' "$URL" "$i" "${creds[i - 1]}"
                        printf 'header = "Content-Type: application/json"\n'
                        printf 'data-binary = "{\\"running\\":\\"/nix/store/%032d-nixos-system-%s\\",' "$i" "$tag"
                        printf '\\"booted\\":\\"/nix/store/%032d-nixos-system-%s\\",\\"kernel\\":\\"%s-%d\\",\\"uptime\\":1}"\n' "$i" "$tag" "$tag" "$i"
                        printf 'output = "/dev/null"\nmax-time = %s\nwrite-out = "rep-%s-%d %%{http_code} %%{exitcode}\\n"\n' "$max" "$tag" "$i"
                } >>"$file"
        done
}

# history_count PATTERN: how many history rows of all nodes have a message matching PATTERN
# (GET /v1/events, page by page).
history_messages() {
        local after=0 n
        : >"$T/have"
        while :; do
                expect_status 200 GET "/v1/events?since=$after&limit=1000"
                n=$(printf '%s' "$BODY" | jq '.events | length')
                [ "$n" -gt 0 ] || break
                printf '%s' "$BODY" | jq -r '.events[].message // empty' >>"$T/have"
                after=$(printf '%s' "$BODY" | jq .last_event_id)
        done
}

# --- 1. clients that disconnect while their write is suspended --------------------------------
lock_store 4.5
event_cfg "$T/disc.cfg" disc 2
curl -s --parallel --parallel-immediate --parallel-max $((2 * N)) -K "$T/disc.cfg" >"$T/disc.out" 2>/dev/null || true
unlock_store
[ "$(grep -c ' 000 28$' "$T/disc.out")" = $((2 * N)) ] ||
        fail "not every client timed out while the store was locked: $(grep -v ' 000 28$' "$T/disc.out" | head -n 5 | tr '\n' ' ')"
ok "$((2 * N)) clients (events, reports) disconnected while their writes waited for the locked store"

# Their writes commit all the same, each once: wait for the batch, then count.
for _ in $(seq 1 100); do
        expect_status 200 GET /v1/nodes/node-$(printf %02d "$N")
        [ "$(printf '%s' "$BODY" | jq -r '.report.kernel // empty')" = "disc-$N" ] && break
        sleep 0.1
done
history_messages
for i in $(seq 1 "$N"); do
        c=$(grep -c ": disc-$i\$" "$T/have" || true)
        [ "$c" = 1 ] || fail "event disc-$i is $c times in the history"
        c=$(grep -c "^running /nix/store/$(printf %032d "$i")-nixos-system-disc" "$T/have" || true)
        [ "$c" = 1 ] || fail "report disc-$i is $c times in the history"
        expect_status 200 GET "/v1/nodes/node-$(printf %02d "$i")"
        jq_eq .report.kernel "disc-$i"
        jq_eq .attempt.phase partitioning
done
ok "every disconnected client's event and report is committed exactly once"

# The daemon is healthy: new writes and reads are answered at once.
for phase in installing partitioning; do # and back: every node is partitioning for part 2
        event "${tokens[0]}" "{\"phase\":\"$phase\",\"message\":\"after-disc\"}"
        [ "$STATUS" = 200 ] || fail "an event after the disconnects: $STATUS $BODY"
        jq_eq .changed true
done
expect_status 200 GET /v1/summary
expect_status 200 GET /metrics
ok "provd answers writes and reads after the disconnects"

# A clean stop: exit 0 and no leak (ASan) of the abandoned connections' writes.
provd_stop
ok "clean stop after the disconnects: exit 0, no sanitizer report"

# --- 2. SIGTERM while writes are suspended ----------------------------------------------------
provd_start "$T/inv.json"
lock_store 4.5
event_cfg "$T/term.cfg" term 20
curl -s --parallel --parallel-immediate --parallel-max $((2 * N)) -K "$T/term.cfg" >"$T/term.out" 2>/dev/null &
CURL_PID=$!
PIDS+=("$CURL_PID")
sleep 1 # the requests arrive and suspend behind the locked store
kill -TERM "$PROVD_PID"
sleep 0.5
unlock_store
start=$(date +%s%N)
rc=0
wait "$PROVD_PID" || rc=$?
ms=$((($(date +%s%N) - start) / 1000000))
sanitizer_check
[ "$rc" = 0 ] || fail "provd exited with status $rc after SIGTERM with writes suspended"
[ "$ms" -lt 10000 ] || fail "provd took $ms ms to stop after the store was unlocked"
wait "$CURL_PID" || true
# Every request arrived before the SIGTERM and provd stops only after answering them all.
acked=$(grep -c ' 200 0$' "$T/term.out" || true)
[ "$acked" = $((2 * N)) ] ||
        fail "$acked of $((2 * N)) suspended writes answered 200 before the stop: $(awk '{print $2, $3}' "$T/term.out" | sort | uniq -c | tr '\n' ' ')"
ok "SIGTERM with writes suspended: all $acked answered, exit 0 in $ms ms after the store was unlocked"

provd_start "$T/inv.json"
history_messages
for m in $(grep ' 200 0$' "$T/term.out" | cut -d' ' -f1); do
        i=${m##*-}
        case $m in
        ev-*) c=$(grep -c ": term-$i\$" "$T/have" || true) ;;
        rep-*) c=$(grep -c "^running /nix/store/$(printf %032d "$i")-nixos-system-term" "$T/have" || true) ;;
        esac
        [ "$c" = 1 ] || fail "$m was answered 200 but is $c times in the history after the restart"
done
ok "every acknowledged write is on disk after the restart, once"
provd_stop
