#!/usr/bin/env bash
# provd under systemd's protocols, without systemd as PID 1: `systemd-socket-activate` passes
# the API socket (sd_listen_fds) and a notify socket this test listens on (notify-listener.py)
# stands in for the manager.
#  1. socket-activated: READY=1 only once the port answers (a connection to an activated
#     socket waits in its backlog, so the strict "not before listen()" check is part 2); the passed socket (fd 3) is used
#     and --listen is not bound; STATUS= has node counts and follows transitions; WATCHDOG=1
#     every ~0.5 s for WATCHDOG_USEC=1 s; a daemon wedged behind a store lock held by
#     another process stops the pings (what makes systemd restart a hung provd) and they
#     resume when it unwedges; SIGHUP gives RELOADING=1 (MONOTONIC_USEC=) then READY=1, also
#     for a broken inventory (STATUS= says so); SIGTERM gives STOPPING=1 and exit 0.
#  2. own socket (--listen) + NOTIFY_SOCKET + WATCHDOG_PID = provd's pid: READY=1 only after
#     the port answers, pings come.  WATCHDOG_PID of another process: no pings.
#  3. no NOTIFY_SOCKET at all: serves, reloads, stops as before.
#  4. wrong sockets passed (two, or a datagram socket): a clear error, exit 1.
source "$(dirname "$0")/lib.sh"
# Hermetic: whatever runs this test (a CI service, a systemd unit) is not our manager.
unset NOTIFY_SOCKET WATCHDOG_USEC WATCHDOG_PID LISTEN_FDS LISTEN_PID LISTEN_FDNAMES JOURNAL_STREAM PROVD_LOG

for tool in systemd-socket-activate python3 jq; do
        if ! command -v "$tool" >/dev/null; then
                [ -n "${PROVD_TESTS_NO_SKIP:-}" ] && fail "$tool missing"
                echo "SKIP: $tool missing"
                exit 77
        fi
done

LISTENER="$(dirname "$0")/notify-listener.py"
NOTES="$T/notify.jsonl"
NSOCK="$T/notify.sock"

free_port() {
        python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# listener_start [PROBE_URL]: a fresh notify socket and log.
listener_start() {
        rm -f "$NSOCK"
        : >"$NOTES"
        python3 "$LISTENER" "$NSOCK" "$NOTES" "$@" &
        LISTENER_PID=$!
        PIDS+=("$LISTENER_PID")
        for _ in $(seq 1 100); do
                [ -S "$NSOCK" ] && return 0
                sleep 0.05
        done
        fail "notify listener did not start"
}

listener_stop() {
        kill "$LISTENER_PID" 2>/dev/null || true
        wait "$LISTENER_PID" 2>/dev/null || true
}

# count REGEX: datagrams so far with a line matching REGEX.
count() {
        jq -r 'select(.msg) | .msg' "$NOTES" | grep -cE "$1" || true
}

# wait_for REGEX N [SECONDS]: waits until N datagrams have a line matching REGEX.
wait_for() {
        local re=$1 n=$2 secs=${3:-10} i
        for i in $(seq 1 $((secs * 20))); do
                [ "$(count "$re")" -ge "$n" ] && return 0
                sleep 0.05
        done
        fail "waited ${secs}s for $n datagram(s) matching '$re'; got: $(jq -c . "$NOTES" | tail -n 8)"
}

# last_status: the STATUS= of the last datagram that had one.
last_status() {
        jq -r 'select(.msg) | .msg' "$NOTES" | sed -n 's/^STATUS=//p' | tail -n 1
}

# probe_after_ready: the probe result recorded right after the first READY=1 (waits for the
# listener to finish the probe).
probe_after_ready() {
        local i
        for i in $(seq 1 100); do
                grep -q '"probe"' "$NOTES" && break
                sleep 0.05
        done
        jq -r 'select(.probe) | .probe' "$NOTES" | head -n 1
}

make_inventory "$T/inv.json" 3

###### 1. socket-activated
ADMIN=$(api_token "$T/tokens")
P=$(free_port)
Q=$(free_port)
[ "$P" != "$Q" ] || Q=$(free_port)
listener_start "http://127.0.0.1:$P/v1/nodes"
: >"$LOG"
systemd-socket-activate -l "127.0.0.1:$P" -E "NOTIFY_SOCKET=$NSOCK" -E WATCHDOG_USEC=1000000 \
        "$PROVD" serve --inventory "$T/inv.json" --state-dir "$STATE" --listen "127.0.0.1:$Q" --api-tokens "$T/tokens" 2>>"$LOG" &
PROVD_PID=$! # systemd-socket-activate execs provd in place: same pid
PIDS+=("$PROVD_PID")
for _ in $(seq 1 100); do
        grep -q "Listening on 127.0.0.1:$P" "$LOG" && break
        kill -0 "$PROVD_PID" 2>/dev/null || fail "systemd-socket-activate exited: $(cat "$LOG")"
        sleep 0.05
done
# Without --accept, systemd-socket-activate execs its command on the first connection; that
# connection waits in the socket's backlog and is answered by provd.
curl -sS -m 20 -o "$T/first" -w '%{http_code}' "http://127.0.0.1:$P/v1/nodes" >"$T/first.code" 2>&1 &
CURL_PID=$!
PIDS+=("$CURL_PID")
wait_for '^READY=1$' 1
[ "$(probe_after_ready)" = 200 ] || fail "GET /v1/nodes right after READY=1: $(probe_after_ready)"
wait "$CURL_PID" || fail "the connection that triggered activation failed: $(cat "$T/first.code")"
[ "$(cat "$T/first.code")" = 200 ] || fail "the connection that triggered activation got $(cat "$T/first.code")"
[ "$(jq '.nodes | length' "$T/first")" = 3 ] || fail "first answer: $(cat "$T/first")"
ok "READY=1 once the activated port answers (GET /v1/nodes 200 at that moment)"

senders=$(jq -r 'select(.msg) | .pid' "$NOTES" | sort -u)
[ "$senders" = "$PROVD_PID" ] || fail "datagrams sent by pid(s) $senders, not provd ($PROVD_PID): NotifyAccess=main would drop them"
# The first datagram is READY=1 together with the node counts: the inventory and the store
# were loaded when it was sent.
first=$(jq -r 'select(.msg) | .msg' "$NOTES" | head -n 2 | tr '\n' '|')
[ "$first" = "READY=1|STATUS=3 nodes: 3 new|" ] || fail "first datagram is not READY=1 + STATUS=3 nodes: 3 new: $first"
ok "notifications come from provd's own pid, STATUS=3 nodes: 3 new"

# The socket provd serves on is the one it was given: fd 3 is the LISTEN socket on port P
# (/proc/net/tcp: local address, state 0A = LISTEN, inode), and nothing listens on --listen.
fd3=$(readlink "/proc/$PROVD_PID/fd/3") || fail "provd has no fd 3"
inode=$(printf '%s' "$fd3" | sed -n 's/^socket:\[\([0-9]*\)\]$/\1/p')
[ -n "$inode" ] || fail "fd 3 of provd is $fd3, not a socket"
listen_inode=$(awk -v port="$(printf '%04X' "$P")" '$2 == "0100007F:" port && $4 == "0A" { print $10 }' /proc/net/tcp)
[ "$listen_inode" = "$inode" ] || fail "fd 3 (inode $inode) is not the listening socket on 127.0.0.1:$P (inode ${listen_inode:-none})"
code=$(curl -s -m 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$Q/v1/nodes") && fail "--listen 127.0.0.1:$Q answered ($code) although a socket was passed"
grep -q "listen=127.0.0.1:$Q is ignored" "$LOG" || fail "no log line saying --listen is ignored: $(head -n 5 "$LOG")"
URL=$(grep -o 'listening on http://[^ ]*' "$LOG" | tail -n1 | cut -d' ' -f3)
[ "$URL" = "http://127.0.0.1:$P" ] || fail "provd logs 'listening on $URL', expected http://127.0.0.1:$P"
ok "fd 3 is the activated socket on :$P; --listen :$Q is not bound; the log names the real URL"

# Watchdog: pings every WATCHDOG_USEC/2 = 0.5 s, never as late as the 1 s timeout.
sleep 2.5
python3 - "$NOTES" <<'PY' || fail "watchdog pings not regular: see above"
import json, sys
t = [r["t"] for r in map(json.loads, open(sys.argv[1])) if "msg" in r and "WATCHDOG=1" in r["msg"].split("\n")]
gaps = [b - a for a, b in zip(t, t[1:])]
print("# %d pings, gaps %s" % (len(t), " ".join("%.2f" % g for g in gaps)))
sys.exit(0 if len(t) >= 5 and all(0.3 <= g <= 0.9 for g in gaps) else 1)
PY
ok "WATCHDOG=1 keeps coming every ~0.5 s (WATCHDOG_USEC=1 s)"

# STATUS follows transitions.
expect_status 200 GET /v1/boot/52:54:00:00:00:01
n=$(count '^WATCHDOG=1$')
wait_for '^WATCHDOG=1$' $((n + 2))
[ "$(last_status)" = "3 nodes: 1 netbooting, 2 new" ] || fail "STATUS after a netboot: '$(last_status)'"
ok "STATUS= follows transitions: $(last_status)"

# A wedged daemon stops the pings.  Another process holds the store's write lock for 3 s;
# a first boot of node-02 must write, so its request holds the daemon's lock while the store
# waits (SQLite: busy timeout 5 s).  The watchdog's liveness check cannot take the lock
# meanwhile: no WATCHDOG=1 for ~3 s, longer than the 1 s timeout, so systemd would restart provd.
store_hold 3
HOLDER_PID=$STORE_HOLD_PID
t_hold=$(python3 -c 'import time; print(time.monotonic())')
curl -sS -m 20 -o /dev/null -w '%{http_code}' "$URL/v1/boot/52:54:00:00:00:02" >"$T/wedged.code" &
WEDGED_PID=$!
PIDS+=("$WEDGED_PID")
wait "$HOLDER_PID" || fail "the store's lock holder failed"
wait "$WEDGED_PID" || true
[ "$(cat "$T/wedged.code")" = 200 ] || fail "boot of node-02 after the lock was released: $(cat "$T/wedged.code")"
n=$(count '^WATCHDOG=1$')
wait_for '^WATCHDOG=1$' $((n + 2))
python3 - "$NOTES" "$t_hold" <<'PY' || fail "the watchdog kept pinging while the daemon was wedged"
import json, sys
t0 = float(sys.argv[2])
t = [r["t"] for r in map(json.loads, open(sys.argv[1])) if "msg" in r and "WATCHDOG=1" in r["msg"].split("\n")]
gaps = [(a, b - a) for a, b in zip(t, t[1:]) if b > t0]
longest = max(g for _, g in gaps)
print("# longest gap between pings while wedged: %.2f s" % longest)
sys.exit(0 if longest >= 2.0 else 1)
PY
ok "a daemon wedged for 3 s sends no WATCHDOG=1 meanwhile (systemd would restart it); pings resume after"

# SIGHUP: RELOADING=1 with MONOTONIC_USEC (CLOCK_MONOTONIC, like python's time.monotonic),
# then READY=1 with the new counts.
jq '.nodes += [.nodes[0] | .name = "node-04" | .mac = ["52:54:00:00:00:04"]]' "$T/inv.json" >"$T/inv4.json"
mv "$T/inv4.json" "$T/inv.json"
ready=$(count '^READY=1$')
kill -HUP "$PROVD_PID"
wait_for '^READY=1$' $((ready + 1))
python3 - "$NOTES" <<'PY' || fail "no RELOADING=1 + MONOTONIC_USEC= right before the second READY=1"
import json, sys
recs = [r for r in map(json.loads, open(sys.argv[1])) if "msg" in r]
i = max(k for k, r in enumerate(recs) if "READY=1" in r["msg"].split("\n"))
prev = [r for r in recs[:i] if "WATCHDOG=1" not in r["msg"].split("\n")][-1]
lines = dict(l.split("=", 1) for l in prev["msg"].split("\n"))
ok = lines.get("RELOADING") == "1" and abs(int(lines["MONOTONIC_USEC"]) / 1e6 - prev["t"]) < 1.0
print("# %r then %r" % (prev["msg"], recs[i]["msg"]))
sys.exit(0 if ok else 1)
PY
[ "$(last_status)" = "4 nodes: 2 netbooting, 2 new" ] || fail "STATUS after reload: '$(last_status)'"
ok "SIGHUP: RELOADING=1 (MONOTONIC_USEC) then READY=1, STATUS=$(last_status)"

cp "$T/inv.json" "$T/inv.good"
echo '{"version": 1, "nodes": [' >"$T/inv.json"
ready=$(count '^READY=1$')
kill -HUP "$PROVD_PID"
wait_for '^READY=1$' $((ready + 1))
last_status | grep -q '^4 nodes: .*; last inventory reload failed, previous inventory in force$' ||
        fail "STATUS after a broken reload: '$(last_status)'"
ok "a broken inventory on SIGHUP: READY=1 again, STATUS says the reload failed"

# POST /v1/reload speaks the same protocol as SIGHUP.
cp "$T/inv.good" "$T/inv.json"
ready=$(count '^READY=1$')
reloading=$(count '^RELOADING=1$')
[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $ADMIN" "http://127.0.0.1:$P/v1/reload")" = 200 ] ||
        fail "POST /v1/reload did not answer 200"
wait_for '^READY=1$' $((ready + 1))
[ "$(count '^RELOADING=1$')" = $((reloading + 1)) ] || fail "POST /v1/reload sent no RELOADING=1"
[ "$(last_status)" = "4 nodes: 2 netbooting, 2 new" ] || fail "STATUS after POST /v1/reload: '$(last_status)'"
ok "POST /v1/reload: RELOADING=1 then READY=1, and the failure is gone from STATUS"

kill -TERM "$PROVD_PID"
rc=0
wait "$PROVD_PID" || rc=$?
sanitizer_check
[ "$rc" = 0 ] || fail "exit status $rc after SIGTERM"
[ "$(count '^STOPPING=1$')" = 1 ] || fail "no STOPPING=1: $(jq -c . "$NOTES" | tail -n 3)"
ok "SIGTERM: STOPPING=1 and exit 0"
listener_stop
make_inventory "$T/inv.json" 3

###### 2. own socket + NOTIFY_SOCKET; WATCHDOG_PID is provd's pid (bash -c execs provd)
Q=$(free_port)
listener_start "http://127.0.0.1:$Q/v1/nodes"
: >"$LOG"
NOTIFY_SOCKET="$NSOCK" WATCHDOG_USEC=1000000 bash -c 'export WATCHDOG_PID=$$; exec "$@"' sh \
        "$PROVD" serve --inventory "$T/inv.json" --state-dir "$STATE" --listen "127.0.0.1:$Q" 2>>"$LOG" &
PROVD_PID=$!
PIDS+=("$PROVD_PID")
wait_for '^READY=1$' 1
# Not socket-activated: had READY=1 come before listen(), this connection was refused.
[ "$(probe_after_ready)" = 200 ] || fail "own socket: GET right after READY=1: $(probe_after_ready)"
wait_for '^WATCHDOG=1$' 3 5
grep -q 'socket activation' "$LOG" && fail "socket activation reported without LISTEN_FDS"
provd_stop
[ "$(count '^STOPPING=1$')" = 1 ] || fail "own socket: no STOPPING=1"
ok "own socket (--listen): READY=1 after the port answers, WATCHDOG=1 with WATCHDOG_PID=provd, STOPPING=1"
listener_stop

# WATCHDOG_PID of another process (pid 1): the watchdog is not ours, no pings.
listener_start
: >"$LOG"
NOTIFY_SOCKET="$NSOCK" WATCHDOG_USEC=1000000 WATCHDOG_PID=1 \
        "$PROVD" serve --inventory "$T/inv.json" --state-dir "$STATE" --listen 127.0.0.1:0 2>>"$LOG" &
PROVD_PID=$!
PIDS+=("$PROVD_PID")
wait_for '^READY=1$' 1
sleep 1.5
[ "$(count '^WATCHDOG=1$')" = 0 ] || fail "WATCHDOG=1 sent although WATCHDOG_PID names another process"
provd_stop
ok "WATCHDOG_PID of another process: no pings"
listener_stop

###### 3. no service manager at all
provd_start "$T/inv.json"
expect_status 200 GET /v1/nodes
kill -HUP "$PROVD_PID"
for _ in $(seq 1 100); do grep -q 'inventory reloaded' "$LOG" && break; sleep 0.05; done
grep -q 'inventory reloaded' "$LOG" || fail "no reload without NOTIFY_SOCKET"
grep -qE 'socket activation|watchdog' "$LOG" && fail "socket activation or watchdog without a manager: $(cat "$LOG")"
provd_stop
ok "without NOTIFY_SOCKET/LISTEN_FDS: serves, reloads, stops as before"

###### 4. sockets provd cannot serve: a clear error, exit 1
# expect_refusal WHAT MESSAGE ACTIVATE-ARGS... -- TRIGGER-COMMAND
expect_refusal() {
        local what=$1 msg=$2
        shift 2
        local args=()
        while [ "$1" != -- ]; do args+=("$1"); shift; done
        shift
        : >"$LOG"
        systemd-socket-activate "${args[@]}" "$PROVD" serve --inventory "$T/inv.json" --state-dir "$STATE" 2>>"$LOG" &
        PROVD_PID=$!
        PIDS+=("$PROVD_PID")
        for _ in $(seq 1 100); do grep -q '^Listening on' "$LOG" && break; sleep 0.05; done
        "$@" || true
        local rc=0
        wait "$PROVD_PID" || rc=$?
        [ "$rc" = 1 ] || fail "$what: exit status $rc, expected 1: $(cat "$LOG")"
        grep -qF "$msg" "$LOG" || fail "$what: no '$msg' in the log: $(cat "$LOG")"
        sanitizer_check
}
P=$(free_port)
P2=$(free_port)
expect_refusal "two sockets" "socket activation: 2 sockets passed, provd serves exactly one" \
        -l "127.0.0.1:$P" -l "127.0.0.1:$P2" -- curl -s -m 3 -o /dev/null "http://127.0.0.1:$P/"
expect_refusal "a datagram socket" "socket activation: fd 3 is not a listening IPv4/IPv6 stream socket" \
        -d -l "127.0.0.1:$P" -- python3 -c "import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('127.0.0.1', $P))"
ok "two passed sockets, or a datagram socket: refused with a clear error, exit 1"
