# lib-conn.sh — sourced by the connection-exhaustion tests (after ../integration/lib.sh):
#   conn_attack_run FLOOD_ARGS...
# starts, against the provd already running ($URL):
#   - an event stream (GET /v1/events/stream, curl from 127.0.0.202), opened before the attack;
#   - a pixiecore-like keep-alive client (tests/tools/boot-probe.py --keepalive, 127.0.0.201):
#     one connection, GET /v1/boot/<node-01> with pauses of 1, 1, 1 and 12 s (longer than
#     header_timeout: an idle kept-alive connection is not a late request);
#   - the attack: tests/tools/conn-flood.py FLOOD_ARGS (its own 127.x source addresses);
# then, once the attack holds the table, fresh boot requests from 127.0.0.200 (a new
# connection each, every 0.1 s for $PROBE_S seconds, GET /v1/boot/<node-02> and
# /v1/ipxe?mac=<node-02> in turn, each given 5 s as pixiecore gives it) and prints the
# figures.  It fails when a fresh request went unanswered or was not a 200, when their p99
# is above 1 s, when the keep-alive client was cut or not answered, or when the event
# stream did not get the event of a boot made after the attack.
# Knobs: RAMP_S (default 6: the attack's head start), PROBE_S (default 30).
command -v python3 >/dev/null || skip "python3 missing"
command -v jq >/dev/null || skip "jq missing"
command -v curl >/dev/null || skip "curl missing"

TOOLS="$SRC/tests/tools"
RAMP_S=${RAMP_S:-6}
PROBE_S=${PROBE_S:-30}

# jq on a file, failing the test if it is not JSON.
jqf() {
        jq -r "$1" "$2" || fail "$2 is not JSON: $(head -c 300 "$2")"
}

conn_attack_run() {
        local port=${URL##*:}
        local target="127.0.0.1:$port"
        local attack_s=$((RAMP_S + PROBE_S + 4))

        # The event stream, opened before the attack; it must still get events after it.
        curl -sN --interface 127.0.0.202 --max-time $((attack_s + 30)) "$URL/v1/events/stream" >"$T/sse.out" 2>"$T/sse.err" &
        local sse_pid=$!
        PIDS+=("$sse_pid")
        local i
        for i in $(seq 1 50); do
                grep -q 'provd event stream' "$T/sse.out" && break
                sleep 0.1
        done
        grep -q 'provd event stream' "$T/sse.out" || fail "the event stream did not open: $(cat "$T/sse.err")"

        python3 "$TOOLS/boot-probe.py" --keepalive --target "$target" --source 127.0.0.201 \
                --path /v1/boot/52:54:00:00:00:01 --gaps 1,1,1,12 --duration $((attack_s - 2)) >"$T/keepalive.json" &
        local ka_pid=$!
        PIDS+=("$ka_pid")

        python3 "$TOOLS/conn-flood.py" --target "$target" --status "$T/flood-status.json" --duration "$attack_s" \
                "$@" >"$T/flood.json" 2>"$T/flood.err" &
        local flood_pid=$!
        PIDS+=("$flood_pid")
        sleep "$RAMP_S"
        [ -f "$T/flood-status.json" ] || fail "the attack did not start: $(cat "$T/flood.err")"
        echo "attack after ${RAMP_S} s: $(cat "$T/flood-status.json")"

        python3 "$TOOLS/boot-probe.py" --target "$target" --source 127.0.0.200 --duration "$PROBE_S" --interval 0.1 \
                --path /v1/boot/52:54:00:00:00:02 --path '/v1/ipxe?mac=52:54:00:00:00:02' >"$T/fresh.json"

        # What provd holds, in the middle of the attack (a fresh request too).
        curl -s --interface 127.0.0.203 --max-time 5 "$URL/metrics" >"$T/metrics.txt" || true
        local held
        held=$(awk '/^provd_http_connections\{/ { n += $2 } END { print n + 0 }' "$T/metrics.txt")
        echo "provd holds $held connections: $(grep -E '^provd_http_connections' "$T/metrics.txt" | tr '\n' ' ')"
        echo "attack at the end of the probes: $(cat "$T/flood-status.json")"

        wait "$flood_pid" || fail "conn-flood.py failed: $(cat "$T/flood.err")"
        wait "$ka_pid" || fail "boot-probe.py --keepalive failed"
        echo "attack summary: $(cat "$T/flood.json")"

        # After the attack: a boot that makes an event (node-03: new -> netbooting), which the
        # stream opened before the attack must carry.
        expect_status 200 GET /v1/boot/52:54:00:00:00:03
        for i in $(seq 1 50); do
                grep -q 'node-03' "$T/sse.out" && break
                sleep 0.1
        done
        kill -0 "$sse_pid" 2>/dev/null || fail "the event stream ended during the attack: $(tail -c 300 "$T/sse.out")"
        grep -q 'node-03' "$T/sse.out" || fail "the event stream opened before the attack did not get node-03's event"
        ok "the event stream opened before the attack still carries events after it"

        local sent answered p50 p99 max statuses
        sent=$(jqf .sent "$T/fresh.json")
        answered=$(jqf .answered "$T/fresh.json")
        p50=$(jqf .p50_ms "$T/fresh.json")
        p99=$(jqf .p99_ms "$T/fresh.json")
        max=$(jqf .max_ms "$T/fresh.json")
        statuses=$(jq -c .statuses "$T/fresh.json")
        echo "fresh boot requests during the attack: $answered of $sent answered, p50 ${p50} ms, p99 ${p99} ms, max ${max} ms, statuses $statuses, errors $(jq -c .errors "$T/fresh.json")"
        [ "$sent" -gt 0 ] || fail "no fresh request was sent"
        [ "$answered" = "$sent" ] || fail "$((sent - answered)) of $sent fresh boot requests went unanswered within 5 s: $(jq -c .errors "$T/fresh.json")"
        [ "$(jq '[.statuses | to_entries[] | select(.key != "200") | .value] | add // 0' "$T/fresh.json")" = 0 ] ||
                fail "fresh boot requests answered other than 200: $statuses"
        awk -v p="$p99" 'BEGIN { exit !(p <= 1000) }' || fail "fresh boot requests: p99 ${p99} ms > 1000 ms"
        ok "every fresh boot request answered during the attack, p99 ${p99} ms <= 1 s"

        echo "keep-alive client: $(cat "$T/keepalive.json")"
        [ "$(jqf .cuts "$T/keepalive.json")" = 0 ] || fail "the keep-alive client's connection was cut: $(cat "$T/keepalive.json")"
        [ "$(jqf .unanswered "$T/keepalive.json")" = 0 ] || fail "the keep-alive client had unanswered requests: $(cat "$T/keepalive.json")"
        [ "$(jqf .connections "$T/keepalive.json")" = 1 ] || fail "the keep-alive client needed several connections: $(cat "$T/keepalive.json")"
        ok "the keep-alive client kept its one connection and got every answer ($(jqf .answered "$T/keepalive.json") requests, idle 12 s between some)"

        kill "$sse_pid" 2>/dev/null || true
        wait "$sse_pid" 2>/dev/null || true
}
