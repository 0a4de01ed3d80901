#!/usr/bin/env bash
# The cap on concurrent boot file transfers (--max-transfers): over it a GET waits, its
# connection suspended, in order, and gets its bytes when a transfer ends; a client that
# hangs up while waiting leaves the queue; HEAD, 304 and 416 never wait; the gauges and the
# counter of GET /metrics follow.
source "$(dirname "$0")/lib.sh"

make_inventory "$T/inv.json" 1
# Larger than every buffer between provd and a reader that stopped reading (socket buffers
# grow up to net.ipv4.tcp_rmem's maximum, 32 MiB here), so the transfer holds its slot; random
# at both ends, a hole in the middle.
big=$T/boot/big
head -c 1048576 /dev/urandom >"$big"
truncate -s $((79 * 1048576)) "$big"
head -c 1048576 /dev/urandom >>"$big"
jq --arg p "$big" '.nodes[0].boot.initrd += [$p]' "$T/inv.json" >"$T/inv2.json"
provd_start "$T/inv2.json" --max-transfers 1
want=$(sha256sum <"$big")

metric() { curl -sS "$URL/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
metric_is() { [ "$(metric "$1")" = "$2" ]; }
wait_for() { # SECONDS DESCRIPTION COMMAND...
        local t=$1 what=$2 i
        shift 2
        for i in $(seq 1 $((t * 10))); do
                "$@" && return 0
                sleep 0.1
        done
        curl -sS "$URL/metrics" | grep provd_file_transfer >&2 || true
        fail "timed out after ${t}s waiting for $what"
}

[ "$(metric provd_file_transfers_active)" = 0 ] && [ "$(metric provd_file_transfer_queue_depth)" = 0 ] &&
        [ "$(metric provd_file_transfer_waits_total)" = 0 ] || fail "transfer metrics missing or not 0"

# A holds the only slot: its reader waits for $T/go before reading past the pipe's buffer.
(curl -sS "$URL/v1/files$big" | { while [ ! -e "$T/go" ] && [ -d "$T" ]; do sleep 0.05; done; sha256sum >"$T/a.sum"; }) &
A=$!
PIDS+=("$A")
wait_for 10 "one active transfer" metric_is provd_file_transfers_active 1

# Not transfers: they answer at once while the slot is taken.
etag=$(curl -sS -I -m 5 "$URL/v1/files$big" | grep -i '^etag:' | cut -d' ' -f2 | tr -d '\r') ||
        fail "HEAD waited for a transfer slot"
[ -n "$etag" ] || fail "HEAD: no ETag"
[ "$(curl -sS -m 5 -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "$URL/v1/files$big")" = 304 ] ||
        fail "a 304 waited or failed"
[ "$(curl -sS -m 5 -o /dev/null -w '%{http_code}' -r 999999999- "$URL/v1/files$big")" = 416 ] ||
        fail "a 416 waited or failed"
metric_is provd_file_transfer_queue_depth 0 || fail "HEAD/304/416 queued"
ok "HEAD, 304 and 416 answer at once while the only slot is taken"

# B waits (never an error) ...
(curl -sS "$URL/v1/files$big" | sha256sum >"$T/b.sum") &
B=$!
PIDS+=("$B")
wait_for 10 "queue depth 1" metric_is provd_file_transfer_queue_depth 1
metric_is provd_file_transfer_waits_total 1 || fail "waits_total $(metric provd_file_transfer_waits_total)"
# ... and C behind it hangs up while waiting: it leaves the queue.
curl -sS -o /dev/null "$URL/v1/files$big" 2>/dev/null &
C=$!
PIDS+=("$C")
wait_for 10 "queue depth 2" metric_is provd_file_transfer_queue_depth 2
kill -9 "$C"
wait "$C" 2>/dev/null || true
wait_for 5 "the killed waiter to leave the queue" metric_is provd_file_transfer_queue_depth 1
metric_is provd_file_transfers_active 1 || fail "active $(metric provd_file_transfers_active) while A holds its slot"
[ ! -s "$T/b.sum" ] || fail "B finished while A held the only slot"
ok "over the cap a GET waits in the queue; a waiter that hangs up leaves it"

# A finishes; B gets the slot and every byte.
touch "$T/go"
wait_for 20 "A's and B's transfers to end" test -s "$T/b.sum"
wait "$A" || fail "A's transfer failed"
wait "$B" || fail "B's transfer failed"
[ "$(cat "$T/a.sum")" = "$want" ] || fail "A's bytes differ"
[ "$(cat "$T/b.sum")" = "$want" ] || fail "B's bytes differ after waiting"
wait_for 5 "no active transfer" metric_is provd_file_transfers_active 0
metric_is provd_file_transfer_queue_depth 0 || fail "queue depth $(metric provd_file_transfer_queue_depth) at the end"
metric_is provd_file_transfer_waits_total 2 || fail "waits_total $(metric provd_file_transfer_waits_total), expected 2"
ok "when the transfer ends the waiter gets the whole file"

# Stopping with a waiter queued: the waiter's connection is closed, provd exits cleanly.
(curl -sS "$URL/v1/files$big" 2>/dev/null | { while [ ! -e "$T/go2" ] && [ -d "$T" ]; do sleep 0.05; done; cat >/dev/null; }) &
D=$!
PIDS+=("$D")
wait_for 10 "one active transfer" metric_is provd_file_transfers_active 1
curl -sS -o /dev/null "$URL/v1/files$big" 2>/dev/null &
PIDS+=("$!")
wait_for 10 "queue depth 1" metric_is provd_file_transfer_queue_depth 1
provd_stop
touch "$T/go2"
wait "$D" || true # its body was cut short: provd stopped
ok "SIGTERM with a transfer active and one waiting: clean exit"
