#!/usr/bin/env bash
# Many keep-alive connections on few HTTP threads: with `--threads 1` and 256 connections
# (the default per-client limit) and with `--threads 2` and 512, every boot request is
# answered, promptly, on the connection it came on.
#
# 1. A burst: keepalive-burst.py opens every connection, then stops provd (SIGSTOP), sends
#    one request on each and continues provd, so that all of them are ready when provd's
#    worker next waits for events — as when a worker was busy — which is more than one
#    epoll_wait() of libmicrohttpd returns (128).  Three rounds, each within BURST_BOUND.
# 2. Load: curl --parallel keeps every connection busy (each asks again as soon as it has its
#    answer) for PER_CONN requests per connection, within LOAD_BOUND, and needs no more
#    connections than it started with: provd closed none.
#
# --header-timeout is 30 s here: the connection table closes a connection whose request waited
# longer than that, which would end a stall (and hide it) inside the bounds otherwise.
source "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || skip "python3 is missing"
curl --help all 2>/dev/null | grep -q -- --parallel-immediate || skip "curl has no --parallel-immediate (7.68+)"

PER_CONN=20     # requests per connection in the load
BURST_BOUND=10  # seconds for each burst's answers; a good burst takes < 0.5 s (ASan build, 2 cores)
LOAD_BOUND=20   # seconds for the load; a good run takes about 1 s

make_inventory "$T/inv.json" 3

# fanout THREADS CONNECTIONS PATH [SERVE FLAGS...]
fanout() {
        local threads=$1 conns=$2 path=$3
        shift 3
        local n=$((conns * PER_CONN)) i rc
        provd_start "$T/inv.json" --threads "$threads" --header-timeout 30 "$@"
        http GET "$path" # the first boot (an install attempt, one SQLite write) before the load
        [ "$STATUS" = 200 ] || fail "GET $path: $STATUS: $(short_body)"

        rc=0
        python3 "$SRC/tests/integration/keepalive-burst.py" "$URL" "$path" "$conns" 3 "$PROVD_PID" "$BURST_BOUND" \
                >"$T/burst.out" 2>&1 || rc=$?
        kill -CONT "$PROVD_PID" 2>/dev/null || true
        [ "$rc" -eq 0 ] || fail "threads $threads, $conns connections, burst: $(tail -n 1 "$T/burst.out")"
        ok "--threads $threads, $conns keep-alive connections asking at once: $(tail -n 1 "$T/burst.out")"

        # curl runs at most 300 transfers at once: one curl per 256 connections.
        local clients=$(((conns + 255) / 256)) pids=() c
        rm -f "$T"/codes.* "$T"/curl.err.*
        for ((i = 0; i < n / clients; i++)); do
                printf 'url = "%s%s"\noutput = "/dev/null"\n' "$URL" "$path"
        done >"$T/curl.cfg"
        local t0=$EPOCHREALTIME
        for ((c = 0; c < clients; c++)); do
                timeout "$LOAD_BOUND" curl -sS --parallel --parallel-immediate --parallel-max $((conns / clients)) \
                        -K "$T/curl.cfg" -w '%{http_code} %{num_connects}\n' >"$T/codes.$c" 2>"$T/curl.err.$c" &
                pids+=($!)
        done
        PIDS+=("${pids[@]}")
        for ((c = 0; c < clients; c++)); do
                rc=0
                wait "${pids[c]}" || rc=$?
                [ "$rc" -ne 124 ] || fail "threads $threads, $conns connections: $(cat "$T"/codes.* | grep -c '^200 ') of $n requests answered in ${LOAD_BOUND} s"
                [ "$rc" -eq 0 ] || fail "threads $threads: curl exited $rc: $(head -n 3 "$T/curl.err.$c")"
        done
        local secs answered connects
        secs=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
        answered=$(cat "$T"/codes.* | grep -c '^200 ' || true)
        connects=$(cat "$T"/codes.* | awk '{ s += $2 } END { print s + 0 }')
        [ "$answered" -eq "$n" ] || fail "threads $threads: $answered of $n requests answered 200 ($(cat "$T"/codes.* | sort | uniq -c | head -n 3 | tr '\n' ' '))"
        [ "$connects" -le "$conns" ] ||
                fail "threads $threads: curl needed $connects connections for $conns transfers at a time (provd closed kept-alive connections)"
        provd_stop
        ok "--threads $threads, $conns keep-alive connections under load: $n requests answered in ${secs} s on $connects connections"
}

fanout 1 256 /v1/boot/52:54:00:00:00:01
fanout 2 512 '/v1/ipxe?mac=52:54:00:00:00:02' --max-connections-per-client 0
