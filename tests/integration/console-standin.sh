#!/usr/bin/env bash
# console-standin.sh — console capture without QEMU: ipmi_sim provides SOL for a
# stand-in serial port (tests/integration/serial-standin.py: numbered lines, 20/s, every byte
# it sent logged as ground truth), provd captures it with the ipmitool backend.
#
#   console-standin.sh PATH_TO_PROVD [SOURCE_DIR]
#
# 1. On demand: POST /v1/nodes/node-01/console (202) captures to live.log; GET shows it
#    (X-Provd-Attempt: live, X-Provd-Capturing: yes) and every line in it is a line the
#    stand-in sent, in order; `provd console` prints the same; ?follow=1 streams new lines as
#    they come and ends when DELETE (204) ends the capture; metrics count the bytes.
# 2. An attempt: a netboot opens attempt 1 and capture starts; a BMC reset (ipmi_sim killed
#    and started again) drops the session: provd notes it in the file and the history (cause
#    console) and re-establishes it (the log goes on, provd_console_reconnects_total counts
#    it); the installer reports failed: after console_linger the history entry of the failed
#    transition carries the console's last lines ("console", sanitised text, the last line the
#    stand-in sent before the capture ended), the other entries none.
# 3. A reinstall starts the capture of the NEXT attempt before the power step (2.log exists
#    before the netboot); console_keep = 2 prunes 1.log when 3.log is created; ?attempt=N
#    reads each; 400 / 404 for bad / missing attempts and unknown nodes.
# 4. A BMC without SOL (ipmi_sim without a `sol` line): a history note, once, no retry loop;
#    a node without BMC: POST 409.  A second provd with console_max_size = 4K: the log stops
#    at 4096 bytes plus one "[provd: console log truncated at 4096 bytes]" line.
# Exit 77 (skip) when a tool is missing, unless PROVD_TESTS_NO_SKIP=1.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib-ipmi.sh"

T0=$SECONDS
say() { printf '[console-standin %3ds] %s\n' $((SECONDS - T0)) "$*"; }
for tool in ipmi_sim ipmitool ss jq curl python3; do
	command -v "$tool" >/dev/null || skip "$tool not installed"
done

# ---- peers: sim 1 with SOL (stand-in), sim 2 without SOL; provd --------------------------------
sim_base
serial_standin_start 1 20
sim_start 1 sol=auto
sim_start 2
sim_wait 1 2
PW=$T/bmc-password
(umask 077 && printf '%s\n' "$SIM_PASSWORD" >"$PW")
make_inventory "$T/inv0.json" 3
jq --arg h1 "$SIM_NET.1" --arg h2 "$SIM_NET.2" --arg pw "$PW" '
	.nodes[0].bmc = {host: $h1, user: "u", password_file: $pw, workarounds: ["opensesspriv"], console: "ipmitool"} |
	.nodes[1].bmc = {host: $h2, user: "u", password_file: $pw, workarounds: ["opensesspriv"], console: "ipmitool"} |
	del(.nodes[2].bmc)' "$T/inv0.json" >"$T/inventory.json"
"$PROVD" token new --name console --file "$T/api-tokens" >"$T/token" 2>"$T/token.err" || fail "token: $(cat "$T/token.err")"
AUTH=(-H "Authorization: Bearer $(cat "$T/token")")
provd_start "$T/inventory.json" --api-tokens "$T/api-tokens" --console-linger 2 --console-keep 2 --install-deadline 0
say "provd on $URL, ipmi_sim 1 (SOL -> stand-in) and 2 (no SOL) on $SIM_NET"
SENT=$(sim_dir 1)/serial-sent.log
CDIR=$STATE/console/node-01

# every line of FILE that looks like a stand-in line was sent, and they are in order
# (gaps are allowed only where provd says the session was lost)
check_lines() {
	python3 - "$1" "$SENT" "$2" <<'PY' || fail "$2: the captured lines are not what the stand-in sent (see above)"
import re, sys
got = open(sys.argv[1], "rb").read().decode("utf-8", "replace").replace("\r", "")
sent = set(l for l in open(sys.argv[2], "rb").read().decode().replace("\r", "").split("\n") if l)
nums, bad = [], []
for l in got.split("\n"):
    if l.startswith("standin line "):
        if l in sent:
            nums.append(int(l.split()[2]))
        elif not re.fullmatch(r"standin line \d{6} t=[\d.]*", l):
            bad.append(l)
if bad:
    print(sys.argv[3] + ": lines the stand-in never sent:", bad[:5]); sys.exit(1)
if len(nums) < 20:
    print(sys.argv[3] + f": only {len(nums)} stand-in lines"); sys.exit(1)
if nums != sorted(nums):
    print(sys.argv[3] + ": out of order"); sys.exit(1)
lost = got.count("[provd: SOL session lost")
gaps = sum(1 for a, b in zip(nums, nums[1:]) if b != a + 1)
if gaps > lost:
    print(sys.argv[3] + f": {gaps} gaps in the numbering but {lost} session losses: {nums}"); sys.exit(1)
print(f"  {sys.argv[3]}: {len(nums)} lines {nums[0]}..{nums[-1]}, {gaps} gaps, {lost} losses")
PY
}
metric() { curl -sS "$URL/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
wait_for() { # SECONDS DESCRIPTION COMMAND...
	local t=$1 what=$2 i
	shift 2
	for i in $(seq 1 $((t * 5))); do
		"$@" && return 0
		sleep 0.2
	done
	ls -la "$CDIR" >&2 2>/dev/null; tail -c 600 "$CDIR/live.log" "$CDIR/1.log" >&2 2>/dev/null; fail "timed out after ${t}s waiting for $what"
}
lines_in() { grep -c '^standin line' "$1" 2>/dev/null || true; }
lines_ge() { [ "$(lines_in "$1")" -ge "$2" ]; } # FILE N (for wait_for: evaluated each time)

# ---- 1. on demand ----------------------------------------------------------------------------
expect_status 404 GET /v1/nodes/node-01/console
jq_eq .error.message "node-01 has no console log"
expect_status 202 POST "/v1/nodes/node-01/console?seconds=60" "${AUTH[@]}"
jq_eq '[.node, .state, .file] | join(" ")' "node-01 capturing live"
[ -f "$CDIR/live.log" ] || fail "no live.log after POST"
[ "$(stat -c %a "$CDIR/live.log")" = 640 ] && [ "$(stat -c %a "$CDIR")" = 750 ] ||
	fail "modes: $(stat -c '%a %n' "$CDIR" "$CDIR/live.log")"
wait_for 20 "stand-in lines in live.log" lines_ge "$CDIR/live.log" 30
curl -sS -D "$T/h" -o "$T/live1" "$URL/v1/nodes/node-01/console" || fail "GET console"
grep -qi '^X-Provd-Attempt: live' "$T/h" && grep -qi '^X-Provd-Capturing: yes' "$T/h" &&
	grep -qi '^Content-Type: text/plain; charset=utf-8' "$T/h" || fail "headers: $(cat "$T/h")"
check_lines "$T/live1" "GET live"
"$PROVD" console node-01 --url "$URL" >"$T/cli1" || fail "provd console exited $?"
cmp -n "$(stat -c %s "$T/live1")" "$T/live1" "$T/cli1" || fail "provd console printed something else than GET"
# follow: starts with the file so far, then new lines, ends when the capture ends
curl -sS -N -o "$T/follow" "$URL/v1/nodes/node-01/console?follow=1" &
FPID=$!
PIDS+=("$FPID")
"$PROVD" console node-01 --follow --url "$URL" >"$T/cli-follow" &
CPID=$!
PIDS+=("$CPID")
sleep 3
before=$(lines_in "$T/follow")
sleep 2
[ "$(lines_in "$T/follow")" -gt "$before" ] || fail "?follow=1 did not stream new lines ($before, then $(lines_in "$T/follow"))"
expect_status 204 DELETE /v1/nodes/node-01/console "${AUTH[@]}"
wait_for 10 "the follow to end after DELETE" bash -c "! kill -0 $FPID 2>/dev/null"
wait "$FPID" || fail "curl ?follow=1 failed"
wait_for 10 "provd console --follow to end" bash -c "! kill -0 $CPID 2>/dev/null"
wait "$CPID" || fail "provd console --follow exited $?"
check_lines "$T/follow" "follow"
cmp "$T/follow" "$CDIR/live.log" || fail "the followed stream differs from live.log"
cmp "$T/cli-follow" "$CDIR/live.log" || fail "provd console --follow differs from live.log"
curl -sS -D "$T/h" -o /dev/null "$URL/v1/nodes/node-01/console"
grep -qi '^X-Provd-Capturing: no' "$T/h" || fail "still capturing after DELETE: $(cat "$T/h")"
[ "$(metric provd_console_bytes_total)" -ge "$(stat -c %s "$CDIR/live.log")" ] || fail "provd_console_bytes_total too small"
sessions_zero() { [ "$(metric provd_console_sessions)" = 0 ]; }
wait_for 10 "provd_console_sessions 0" sessions_zero
ok "on demand: POST 202 -> live.log (0640 in 0750), GET/CLI/follow match the stand-in, DELETE ends follow"

# ---- 2. an attempt: drop + reconnect, failure tail ---------------------------------------------
token=$(token_of 52:54:00:00:00:01) # netboot: attempt 1 opens, capture starts
[ -n "$token" ] || fail "no install token"
wait_for 20 "attempt 1 capture" lines_ge "$CDIR/1.log" 20
curl -sS -D "$T/h" -o /dev/null "$URL/v1/nodes/node-01/console"
grep -qi '^X-Provd-Attempt: 1' "$T/h" && grep -qi '^X-Provd-Capturing: yes' "$T/h" || fail "default log is not attempt 1: $(cat "$T/h")"
expect_status 409 POST /v1/nodes/node-01/console "${AUTH[@]}"
# The BMC drops the session: ipmi_sim is restarted (a BMC reset).  A forced `sol deactivate`
# from another client does not do it against ipmi_sim 2.0.33: the active ipmitool session
# is not told and just goes quiet (its keepalives still succeed).
sim_stop 1
sim_start 1 sol=auto
say "ipmi_sim 1 restarted (BMC reset)"
wait_for 60 "re-established in 1.log" grep -q 'provd: SOL session re-established' "$CDIR/1.log"
grep -q '^\[provd: SOL session lost: .*; reconnecting\]' "$CDIR/1.log" || fail "no loss line in 1.log"
n=$(lines_in "$CDIR/1.log")
wait_for 20 "lines after the reconnect" lines_ge "$CDIR/1.log" $((n + 20))
[ "$(metric provd_console_reconnects_total)" -ge 1 ] || fail "provd_console_reconnects_total = $(metric provd_console_reconnects_total)"
event "$token" '{"phase": "failed", "message": "disk on fire"}'
[ "$STATUS" = 200 ] || fail "failed event: $STATUS $BODY"
wait_for 20 "the console tail in the history" bash -c \
	"curl -sS '$URL/v1/nodes/node-01/history' | jq -e '.history[] | select(.to == \"failed\") | .console' >/dev/null"
expect_status 200 GET /v1/nodes/node-01/history
printf '%s' "$BODY" >"$T/history.json"
check_lines "$CDIR/1.log" "1.log"
python3 - "$T/history.json" "$CDIR/1.log" <<'PY' || fail "history: $(jq -c '.history[] | [.cause, .message, .console]' "$T/history.json")"
import json, sys
h = json.load(open(sys.argv[1]))["history"]
failed = [e for e in h if e["to"] == "failed"]
tail = failed[0]["console"]
assert all(ord(c) >= 0x20 or c in "\n\t" for c in tail), "control characters in the tail"
lines = tail.split("\n")
assert 1 <= len(lines) <= 40 and len(tail.encode()) <= 8192, (len(lines), len(tail))
log = open(sys.argv[2], "rb").read().decode("utf-8", "replace").replace("\r", "")
last = [l for l in log.split("\n") if l.startswith("standin line ")][-1]
assert last in lines, f"the last captured line {last!r} is not in the tail {lines[-5:]}"
others = [e for e in h if e is not failed[0] and "console" in e]
assert not others, f"console on other entries: {others}"
notes = [e["message"] for e in h if e["cause"] == "console"]
assert any("SOL session lost" in m for m in notes) and any("re-established" in m for m in notes), notes
assert all(e["from"] == e["to"] for e in h if e["cause"] == "console")
print("  tail:", lines[-1], f"({len(lines)} lines); notes: {notes}")
PY
expect_status 200 GET "/v1/events?limit=1000"
printf '%s' "$BODY" | jq -e '[.events[] | select(.to == "failed" and .node == "node-01") | .console | strings] | length == 1' >/dev/null ||
	fail "GET /v1/events does not show the tail"
wait_for 10 "capture of 1.log to end" bash -c "curl -sSI '$URL/v1/nodes/node-01/console' | grep -qi '^X-Provd-Capturing: no'"
ok "attempt 1: netboot starts capture; BMC reset -> lost + re-established (file, history, metric); failed -> tail in history/events after linger"

# ---- 3. reinstall prepares the next attempt; keep = 2 prunes; ?attempt ---------------------------
for want in 2 3; do
	expect_status 202 POST /v1/nodes/node-01/reinstall "${AUTH[@]}"
	[ -f "$CDIR/$want.log" ] || fail "reinstall did not start the capture of attempt $want before the netboot"
	wait_for 20 "lines in $want.log" lines_ge "$CDIR/$want.log" 5
	token=$(token_of 52:54:00:00:00:01)
	expect_status 200 GET /v1/nodes/node-01
	jq_eq .attempt.number "$want"
	event "$token" '{"phase": "succeeded"}'
done
[ ! -e "$CDIR/1.log" ] && [ -f "$CDIR/2.log" ] && [ -f "$CDIR/3.log" ] || fail "keep=2: $(ls "$CDIR")"
expect_status 200 GET "/v1/nodes/node-01/console?attempt=2"
curl -sS -D "$T/h" -o /dev/null "$URL/v1/nodes/node-01/console?attempt=3"
grep -qi '^X-Provd-Attempt: 3' "$T/h" || fail "?attempt=3: $(cat "$T/h")"
expect_status 404 GET "/v1/nodes/node-01/console?attempt=1"
jq_eq .error.message "node-01 has no console log for attempt 1"
expect_status 400 GET "/v1/nodes/node-01/console?attempt=0"
expect_status 400 GET "/v1/nodes/node-01/console?attempt=x"
expect_status 404 GET /v1/nodes/nope/console
"$PROVD" console node-01 --attempt 1 --url "$URL" >/dev/null 2>&1 && fail "provd console --attempt 1 exited 0"
rc=0; "$PROVD" console nope --url "$URL" >/dev/null 2>&1 || rc=$?
[ "$rc" = 3 ] || fail "provd console nope exited $rc, want 3"
ok "reinstall captures the next attempt before the power step; keep=2 pruned 1.log; ?attempt=N, 400s, 404s, CLI exit 3"

# ---- 4. no SOL, no BMC, size cap ---------------------------------------------------------------------
token=$(token_of 52:54:00:00:00:02)
wait_for 30 "the no-SOL note" bash -c \
	"curl -sS '$URL/v1/nodes/node-02/history' | jq -e '.history[] | select(.cause == \"console\")' >/dev/null"
sleep 3
expect_status 200 GET /v1/nodes/node-02/history
[ "$(printf '%s' "$BODY" | jq '[.history[] | select(.cause == "console")] | length')" = 1 ] ||
	fail "no-SOL notes: $(printf '%s' "$BODY" | jq -c '[.history[] | select(.cause == "console") | .message]')"
say "  no SOL: $(printf '%s' "$BODY" | jq -r '.history[] | select(.cause == "console") | .message')"
grep -q 'provd: no SOL console' "$STATE/console/node-02/1.log" || fail "no note in node-02's log"
expect_status 409 POST /v1/nodes/node-03/console "${AUTH[@]}"
expect_status 401 POST /v1/nodes/node-01/console
expect_status 401 DELETE /v1/nodes/node-01/console
expect_status 404 DELETE /v1/nodes/nope/console "${AUTH[@]}"
provd_stop
provd_start "$T/inventory.json" --api-tokens "$T/api-tokens" --console-max-size 4K
expect_status 202 POST "/v1/nodes/node-01/console?seconds=30" "${AUTH[@]}"
wait_for 30 "the truncation line" grep -q 'console log truncated at 4096 bytes' "$CDIR/live.log"
size=$(stat -c %s "$CDIR/live.log")
sleep 2
[ "$(stat -c %s "$CDIR/live.log")" = "$size" ] || fail "live.log grew after the cap"
[ "$size" = $((4096 + $(printf '\n[provd: console log truncated at 4096 bytes]\n' | wc -c))) ] ||
	fail "live.log is $size bytes"
[ "$(tail -c 50 "$CDIR/live.log" | tail -n 1)" = "[provd: console log truncated at 4096 bytes]" ] || fail "last line: $(tail -n 1 "$CDIR/live.log")"
provd_stop # with a capture running: ends cleanly
ok "no SOL: one history note; no BMC: 409; 401 without a token; max size 4K: truncated once, then no growth"

# ---- 5. an attempt that runs out of time: the timeout entry gets the tail too -----------------
provd_start "$T/inventory.json" --api-tokens "$T/api-tokens" --console-linger 2 --install-deadline 6
expect_status 202 POST /v1/nodes/node-01/reinstall "${AUTH[@]}"
token=$(token_of 52:54:00:00:00:01) # the netboot opens the next attempt; the installer never reports
[ -n "$token" ] || fail "no install token"
expect_status 200 GET /v1/nodes/node-01
n=$(printf '%s' "$BODY" | jq -r .attempt.number)
wait_for 20 "lines in $n.log" lines_ge "$CDIR/$n.log" 20
wait_for 30 "the timeout's console tail in the history" bash -c \
	"curl -sS '$URL/v1/nodes/node-01/history' | jq -e '.history[] | select(.cause == \"timeout\") | .console | strings' >/dev/null"
expect_status 200 GET /v1/nodes/node-01/history
last=$(tr -d '\r' <"$CDIR/$n.log" | grep '^standin line ' | tail -n 1)
printf '%s' "$BODY" | jq -e --arg last "$last" '.history[] | select(.cause == "timeout") | .console | split("\n") | index($last)' >/dev/null ||
	fail "the timeout entry's tail lacks the last captured line \"$last\": $(printf '%s' "$BODY" | jq -c '.history[] | select(.cause == "timeout")')"
provd_stop
ok "install deadline: attempt $n times out -> the console's last lines on the timeout entry"
say "PASS"
