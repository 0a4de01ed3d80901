#!/usr/bin/env bash
# Logging to a real systemd-journald: this test starts its own journald inside a private mount
# namespace (tmpfs over /run and /var/log there, so the host's journal, if any, is neither
# seen nor touched) and reads what arrived with journalctl.
#  A. stderr is a journal stream (systemd-cat, with JOURNAL_STREAM set to the stream's
#     device:inode as systemd does for a service): provd sends native entries with MESSAGE=,
#     PRIORITY=, SYSLOG_IDENTIFIER=provd and PROVD_NODE= / PROVD_ATTEMPT= / PROVD_MAC=;
#     nothing is written to the stream.  An error line carries PRIORITY=3 and ERRNO=.
#  B. JOURNAL_STREAM inherited but stderr redirected to a file: plain stderr lines as before.
#  C. PROVD_LOG=stderr under the journal stream: plain lines through the stream.
# Needs root (unshare -m, mount); skipped (exit 77) otherwise, unless PROVD_TESTS_NO_SKIP=1.
set -euo pipefail

skip() {
        echo "SKIP: $*"
        [ -z "${PROVD_TESTS_NO_SKIP:-}" ] || exit 1
        exit 77
}
JOURNALD=/lib/systemd/systemd-journald
[ -x "$JOURNALD" ] || skip "$JOURNALD missing (Debian package systemd)"
for tool in unshare systemd-cat journalctl jq curl; do
        command -v "$tool" >/dev/null || skip "$tool missing"
done
if [ -z "${PROVD_IN_MOUNT_NS:-}" ]; then
        unshare -m --propagation private true 2>/dev/null || skip "cannot create a mount namespace (needs root)"
        PROVD_IN_MOUNT_NS=1 exec unshare -m --propagation private "$BASH" "$0" "$@"
fi

source "$(dirname "$0")/lib.sh"
unset NOTIFY_SOCKET WATCHDOG_USEC WATCHDOG_PID LISTEN_FDS LISTEN_PID JOURNAL_STREAM PROVD_LOG
mount -t tmpfs tmpfs /run || fail "cannot mount a tmpfs on /run in the test's namespace"
mount -t tmpfs tmpfs /var/log || fail "cannot mount a tmpfs on /var/log in the test's namespace"
"$JOURNALD" >"$T/journald.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do
        [ -S /run/systemd/journal/socket ] && [ -S /run/systemd/journal/stdout ] && break
        sleep 0.05
done
[ -S /run/systemd/journal/socket ] || fail "journald did not start: $(cat "$T/journald.log")"

# jentries FILTER...: the journal's entries (JSON lines) matching journalctl FILTERs.
jentries() {
        journalctl -D /run/log/journal --no-pager -o json "$@" 2>/dev/null || true
}
# wait_entry JQ-CONDITION FILTER...: waits up to 5 s for an entry for which the jq condition holds.
wait_entry() {
        local cond=$1
        shift
        for _ in $(seq 1 100); do
                [ -n "$(jentries "$@" | jq -c "select($cond)")" ] && return 0
                sleep 0.05
        done
        fail "no journal entry with $cond among: $(jentries "$@" | jq -c '{MESSAGE, PRIORITY, PROVD_NODE, _TRANSPORT}' | tail -n 8)"
}
free_port() {
        python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_http() {
        for _ in $(seq 1 200); do
                curl -s -o /dev/null "$URL/v1/nodes" && return 0
                kill -0 "$PROVD_PID" 2>/dev/null || fail "provd exited"
                sleep 0.05
        done
        fail "provd did not answer on $URL"
}

make_inventory "$T/inv.json" 2

###### A. native entries when stderr is the journal stream
URL="http://127.0.0.1:$(free_port)"
# systemd-cat connects stdout/stderr to journald's stream socket; a service manager would
# also set JOURNAL_STREAM to that socket's device:inode — the wrapper does it here.
systemd-cat -t provd-stream bash -c 'export JOURNAL_STREAM=$(stat -L -c %d:%i /proc/self/fd/2); exec "$@"' sh \
        "$PROVD" serve --inventory "$T/inv.json" --state-dir "$STATE" --listen "${URL#http://}" &
PROVD_PID=$!
PIDS+=("$PROVD_PID")
wait_http
expect_status 200 GET /v1/boot/52:54:00:00:00:01
expect_status 404 GET /v1/boot/52:54:00:00:00:99
kill -TERM "$PROVD_PID"
rc=0
wait "$PROVD_PID" || rc=$?
[ "$rc" = 0 ] || fail "provd under systemd-cat exited with $rc"

wait_entry '.MESSAGE | startswith("listening on http://")' SYSLOG_IDENTIFIER=provd
wait_entry '.MESSAGE == "SIGTERM: stopping"' SYSLOG_IDENTIFIER=provd
jentries SYSLOG_IDENTIFIER=provd >"$T/native.json"
e=$(jq -c 'select(.PROVD_NODE == "node-01")' "$T/native.json")
[ -n "$e" ] || fail "no entry with PROVD_NODE=node-01: $(jq -c '{MESSAGE, PROVD_NODE}' "$T/native.json")"
[ "$(jq -r .MESSAGE <<<"$e")" = "node-01: new -> netbooting: first network boot: install attempt opened attempt=1" ] ||
        fail "node-01 entry MESSAGE: $(jq -r .MESSAGE <<<"$e")"
[ "$(jq -r '[.PROVD_ATTEMPT, .PRIORITY, ._TRANSPORT, ._PID] | join(" ")' <<<"$e")" = "1 6 journal $PROVD_PID" ] ||
        fail "node-01 entry fields: $e"
e=$(jq -c 'select(.PROVD_MAC == "52:54:00:00:00:99")' "$T/native.json")
[ -n "$e" ] || fail "no entry with PROVD_MAC=52:54:00:00:00:99"
[ "$(jq -r '.PROVD_NODE // "none"' <<<"$e")" = none ] || fail "unknown-MAC entry has a PROVD_NODE: $e"
leaked=$(jentries SYSLOG_IDENTIFIER=provd-stream | jq -r .MESSAGE)
[ -z "$leaked" ] || fail "lines went to the stream as well: $leaked"
ok "journal stream detected: native entries with PROVD_NODE, PROVD_ATTEMPT, PROVD_MAC, PRIORITY; nothing on the stream"

# An error: PRIORITY=3 (LOG_ERR) and ERRNO= (the inventory file does not exist).
PROVD_LOG=journal "$PROVD" serve --inventory "$T/missing.json" --state-dir "$STATE" --listen 127.0.0.1:0 2>"$T/err.out" &&
        fail "provd started without an inventory"
[ ! -s "$T/err.out" ] || fail "PROVD_LOG=journal still wrote to stderr: $(cat "$T/err.out")"
wait_entry '.PRIORITY == "3" and (.MESSAGE | contains("missing.json")) and .ERRNO == "2"' SYSLOG_IDENTIFIER=provd
ok "PROVD_LOG=journal: an error entry with PRIORITY=3, ERRNO=2"

###### B. JOURNAL_STREAM inherited, stderr elsewhere: stderr lines.  Once naming journald's
# stream socket (another device than stderr's), once another file on stderr's file system
# (same device, other inode).
for stream in "$(stat -L -c %d:%i /run/systemd/journal/stdout)" "$(stat -L -c %d:%i "$T/inv.json")"; do
        : >"$LOG"
        JOURNAL_STREAM=$stream "$PROVD" serve --inventory "$T/inv.json" --state-dir "$STATE" --listen 127.0.0.1:0 2>>"$LOG" &
        PROVD_PID=$!
        PIDS+=("$PROVD_PID")
        wait_listening
        before=$(jentries SYSLOG_IDENTIFIER=provd | wc -l)
        expect_status 404 GET /v1/boot/52:54:00:00:00:99
        provd_stop
        grep -q '^provd: info: network boot of a MAC that is not in the inventory: ignored mac=52:54:00:00:00:99$' "$LOG" ||
                fail "JOURNAL_STREAM=$stream: no stderr line for the unknown MAC: $(cat "$LOG")"
        [ "$(jentries SYSLOG_IDENTIFIER=provd | wc -l)" = "$before" ] ||
                fail "JOURNAL_STREAM=$stream: entries went to the journal although stderr is $LOG"
done
ok "JOURNAL_STREAM not matching stderr (other device; same device, other inode): plain stderr lines"

###### C. PROVD_LOG=stderr under the journal stream: plain lines through the stream
URL="http://127.0.0.1:$(free_port)"
PROVD_LOG=stderr systemd-cat -t provd-plain bash -c 'export JOURNAL_STREAM=$(stat -L -c %d:%i /proc/self/fd/2); exec "$@"' sh \
        "$PROVD" serve --inventory "$T/inv.json" --state-dir "$STATE" --listen "${URL#http://}" &
PROVD_PID=$!
PIDS+=("$PROVD_PID")
wait_http
kill -TERM "$PROVD_PID"
wait "$PROVD_PID" || fail "provd (PROVD_LOG=stderr) did not exit 0"
wait_entry '.MESSAGE | startswith("provd: info: listening on http://")' SYSLOG_IDENTIFIER=provd-plain
[ -z "$(jentries SYSLOG_IDENTIFIER=provd-plain | jq -c 'select(.PROVD_NODE or ._TRANSPORT != "stdout")')" ] ||
        fail "PROVD_LOG=stderr: native entries"
ok "PROVD_LOG=stderr: plain lines through the stream"
