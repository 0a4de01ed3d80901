#!/usr/bin/env bash
# The connection limits one by one, with a short header_timeout (2 s) so that it stays
# bounded: a request that does not arrive whole within it, nor at header_min_rate, is closed
# (and not before); one that keeps coming at the minimum rate is answered; a kept-alive
# connection idle longer than the deadline is not closed, one whose next request dribbles
# is; an event stream is never closed; max_connections_per_client holds one address to its
# share.  Then the settings' errors, and RLIMIT_NOFILE raised (or max_connections lowered) at
# start.
source "$(dirname "$0")/../integration/lib.sh"
command -v python3 >/dev/null || skip "python3 missing"
command -v jq >/dev/null || skip "jq missing"
TOOLS="$SRC/tests/tools"

make_inventory "$T/inv.json" 3
provd_start "$T/inv.json" --header-timeout 2 --header-min-rate 500 --max-connections 256 --max-connections-per-client 20
PORT=${URL##*:}

# metric NAME{LABELS}: its value now.
metric() {
        curl -s --max-time 5 "$URL/metrics" | awk -v s="$1" '$1 == s { print $2 }'
}

# An event stream, opened first: it must outlive every deadline below.
curl -sN --interface 127.0.0.202 --max-time 60 "$URL/v1/events/stream" >"$T/sse.out" &
SSE_PID=$!
PIDS+=("$SSE_PID")

# 1. 100 connections from 10 addresses that send a header byte every 0.5 s (2 B/s): open
# after 1.5 s, all closed by provd once 2 s passed.
python3 "$TOOLS/conn-flood.py" --target "127.0.0.1:$PORT" --conns 100 --sources 127.0.3.1-10 --mode slow \
        --interval 0.5 --duration 1.5 >"$T/early.json" || fail "conn-flood.py failed"
[ "$(jq .opened "$T/early.json")" = 100 ] || fail "the slow connections did not all open: $(cat "$T/early.json")"
[ "$(jq .closed_by_server "$T/early.json")" = 0 ] || fail "slow connections closed before header_timeout: $(cat "$T/early.json")"
python3 "$TOOLS/conn-flood.py" --target "127.0.0.1:$PORT" --conns 100 --sources 127.0.3.1-10 --mode slow \
        --interval 0.5 --duration 4 >"$T/late.json" || fail "conn-flood.py failed"
echo "slow connections, 4 s: $(cat "$T/late.json")"
[ "$(jq .closed_by_server "$T/late.json")" = 100 ] || fail "slow connections not closed by header_timeout 2 s: $(cat "$T/late.json")"
[ "$(jq .bytes_sent "$T/late.json")" -ge 300 ] || fail "the slow connections sent too little to count: $(cat "$T/late.json")"
shut=$(metric 'provd_http_connections_shut_total{reason="deadline"}')
[ "${shut:-0}" -ge 100 ] || fail "provd_http_connections_shut_total{reason=\"deadline\"} is ${shut:-none}, want >= 100"
ok "a request header at 2 B/s is closed at header_timeout (2 s), not before ($shut closed for the deadline)"

# 2. One request whose headers take ~3.5 s at ~1.2 KB/s (past the deadline, above the minimum
# rate) is answered; one at ~100 B/s is closed.
cat >"$T/slowsend.py" <<'EOF'
import socket, sys, time
port, rate, total = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
req = b"GET /v1/boot/52:54:00:00:00:01 HTTP/1.1\r\nHost: provd\r\n"
pad = b"X-Pad: " + b"a" * 90 + b"\r\n"
while len(req) < total:
    req += pad
req += b"\r\n"
s = socket.socket()
s.bind(("127.0.0.204", 0))
s.settimeout(10)
s.connect(("127.0.0.1", port))
t0 = time.monotonic()
try:
    for i in range(0, len(req), 100):
        s.sendall(req[i:i + 100])
        time.sleep(100 / rate)
    data = s.recv(4096)
    print("answer %s after %.1f s" % (data.split(b"\r\n")[0].decode() if data else "none (closed)", time.monotonic() - t0))
except OSError as e:
    print("closed (%s) after %.1f s" % (type(e).__name__, time.monotonic() - t0))
EOF
fast=$(python3 "$T/slowsend.py" "$PORT" 1200 4200)
echo "4.2 KB of headers at 1.2 KB/s: $fast"
case $fast in "answer HTTP/1.1 200 OK after"*) ;; *) fail "a request arriving at 1.2 KB/s was not answered: $fast" ;; esac
slow=$(python3 "$T/slowsend.py" "$PORT" 100 1000)
echo "1 KB of headers at 100 B/s: $slow"
case $slow in "answer none (closed)"* | closed*) ;; *) fail "a request arriving at 100 B/s was not closed: $slow" ;; esac
ok "past header_timeout, a request arriving at >= header_min_rate is answered, a slower one is closed"

# 3. A kept-alive connection idle 3 s between requests (longer than the deadline) is kept; one
# whose next request stops after one byte is closed.
python3 "$TOOLS/boot-probe.py" --keepalive --target "127.0.0.1:$PORT" --source 127.0.0.201 \
        --path /v1/boot/52:54:00:00:00:01 --gaps 3 --duration 7 >"$T/keepalive.json"
echo "keep-alive client, 3 s pauses: $(cat "$T/keepalive.json")"
[ "$(jq .cuts "$T/keepalive.json")" = 0 ] && [ "$(jq .connections "$T/keepalive.json")" = 1 ] &&
        [ "$(jq .unanswered "$T/keepalive.json")" = 0 ] || fail "the idle kept-alive connection was cut: $(cat "$T/keepalive.json")"
stalled=$(python3 - "$PORT" <<'EOF'
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.205", 0))
s.settimeout(10)
s.connect(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /v1/boot/52:54:00:00:00:01 HTTP/1.1\r\nHost: provd\r\n\r\n")
first = s.recv(65536)
time.sleep(3)
s.sendall(b"G")
t0 = time.monotonic()
try:
    rest = s.recv(65536)
    print("%s after %.1f s" % ("closed" if not rest else "data", time.monotonic() - t0))
except OSError as e:
    print("closed (%s) after %.1f s" % (type(e).__name__, time.monotonic() - t0))
EOF
)
echo "kept-alive connection, then one byte of the next request: $stalled"
case $stalled in closed*) ;; *) fail "a stalled request on a kept-alive connection was not closed: $stalled" ;; esac
ok "an idle kept-alive connection is kept past header_timeout; a stalled next request is closed"

# 4. max_connections_per_client 20: 50 idle connections from one address, 30 closed at once.
python3 "$TOOLS/conn-flood.py" --target "127.0.0.1:$PORT" --conns 50 --sources 127.0.4.1 --duration 1.5 \
        >"$T/perclient.json" || fail "conn-flood.py failed"
echo "50 connections from one address: $(cat "$T/perclient.json")"
[ "$(jq .closed_by_server "$T/perclient.json")" = 30 ] || fail "max_connections_per_client 20 did not hold: $(cat "$T/perclient.json")"
expect_status 200 GET /v1/boot/52:54:00:00:00:02
ok "max_connections_per_client: one address holds 20 connections, the other 30 are closed"

# 5. The event stream, opened before all that (well past the deadline), gets an event.
expect_status 200 GET /v1/boot/52:54:00:00:00:03
for _ in $(seq 1 50); do
        grep -q node-03 "$T/sse.out" && break
        sleep 0.1
done
kill -0 "$SSE_PID" 2>/dev/null && grep -q node-03 "$T/sse.out" || fail "the event stream was closed or missed node-03: $(tail -c 300 "$T/sse.out")"
kill "$SSE_PID" 2>/dev/null || true
ok "an event stream is never closed by the deadline"
provd_stop

# 6. Settings: clear errors for bad values.
serve_usage() {
        local rc=0
        "$PROVD" serve --inventory "$T/inv.json" --state-dir "$T/state2" --listen 127.0.0.1:0 "$@" >"$T/out" 2>&1 || rc=$?
        echo "$rc"
}
[ "$(serve_usage --max-connections 5)" = 2 ] && grep -q 'bad value "5" for --max-connections: expected an integer from 16 to 1000000' "$T/out" ||
        fail "--max-connections 5: $(cat "$T/out")"
[ "$(serve_usage --header-timeout 0)" = 2 ] && grep -q 'for --header-timeout: expected seconds, from 1 to 3600' "$T/out" ||
        fail "--header-timeout 0: $(cat "$T/out")"
[ "$(serve_usage --header-min-rate -1)" = 2 ] && grep -q 'header-min-rate: expected bytes per second' "$T/out" ||
        fail "--header-min-rate -1: $(cat "$T/out")"
[ "$(serve_usage --max-connections 100 --max-connections-per-client 200)" = 2 ] &&
        grep -q 'max_connections_per_client 200 is more than max_connections 100' "$T/out" ||
        fail "per-client above max: $(cat "$T/out")"
printf '[serve]\nmax_connections_per_client = lots\n' >"$T/bad.ini"
[ "$(serve_usage --config "$T/bad.ini")" = 1 ] &&
        grep -q 'bad value "lots" for "max_connections_per_client": expected an integer from 0 (no limit) to 1000000' "$T/out" ||
        fail "bad config value: $(cat "$T/out")"
"$PROVD" serve --help >"$T/help"
for f in '--max-connections N' '--max-connections-per-client N' '--header-timeout SECS' '--header-min-rate BYTES_PER_S'; do
        grep -q -- "$f" "$T/help" || fail "serve --help lacks $f"
done
ok "bad values of max_connections, header_timeout, header_min_rate, max_connections_per_client: exit 2/1 with the accepted range"

# 7. RLIMIT_NOFILE: a soft limit of 1024 is raised to what 4096 connections need; a hard
# limit of 2048 lowers max_connections to what fits, with a warning.
start_limited() { # start_limited ULIMIT_ARGS...: provd with those limits, its log in $LOG
        : >"$LOG"
        (ulimit "$@" && exec "$PROVD" serve --inventory "$T/inv.json" --state-dir "$STATE" --listen 127.0.0.1:0) 2>>"$LOG" &
        PROVD_PID=$!
        PIDS+=("$PROVD_PID")
        wait_listening
}
start_limited -Sn 1024
grep -q 'open files limit (RLIMIT_NOFILE) raised from 1024 to 8464 for max_connections 4096' "$LOG" ||
        fail "RLIMIT_NOFILE not raised: $(grep -i rlimit "$LOG")"
# (libipmiconsole's engine, started for console capture, raises it to the hard limit later.)
soft=$(awk '/^Max open files/ { print $4 }' "/proc/$PROVD_PID/limits")
[ "$soft" -ge 8464 ] || fail "limits: $(grep 'open files' "/proc/$PROVD_PID/limits")"
echo "$(grep RLIMIT "$LOG")"
provd_stop
start_limited -n 2048
grep -q 'open files limit (RLIMIT_NOFILE) is 2048 (hard limit 2048) but max_connections 4096 needs 8464: serving at most 888 connections' "$LOG" ||
        fail "low hard limit: $(grep -i rlimit "$LOG")"
[ "$(metric provd_http_connections_max)" = 888 ] || fail "provd_http_connections_max is not 888: $(metric provd_http_connections_max)"
echo "$(grep RLIMIT "$LOG")"
provd_stop
ok "RLIMIT_NOFILE raised to fit max_connections, or max_connections lowered to fit the hard limit"
