#!/usr/bin/env bash
# sol.sh — provd's SOL sessions (daemon/sol.c, driven by the provd-sol test tool) against
# OpenIPMI ipmi_sim simulators whose serial port is tests/integration/serial-standin.py (a fake
# console printing numbered lines and logging what it sent: the ground truth).  No QEMU.
#   ipmitool backend: the console lines arrive, byte for byte as sent and without gaps, with
#     ipmitool's banner taken out; closing is bounded and leaves the payload free ("~.");
#     ipmi_sim killed and restarted mid-session -> ETIMEDOUT ("No response to keepalive"),
#     and a new session streams again; wrong password -> EACCES; no BMC -> ETIMEDOUT within
#     the bound; a BMC without a `sol` line -> EOPNOTSUPP.
#   libipmiconsole backend (workarounds solchannelsupport, solpayloadsize, opensesspriv):
#     established and streaming, byte for byte; ipmi_sim killed and restarted -> ETIMEDOUT
#     within the session timeout, then a new session streams; wrong password -> EACCES; no
#     BMC -> ETIMEDOUT; no `sol` line -> EIO ("BMC Error", the simulator survives); and the
#     known ipmi_sim limit: under continuous console output the stream stops ~30 s after
#     activation and the session then times out (see sol.c's top comment).
# What neither backend can see against ipmi_sim 2.0.33: a `sol deactivate` from another
# client (the simulator tells the old session nothing and keeps answering its keepalives);
# the stream just stops.  Not tested as "detected"; written down in sol.c.
#
#   sol.sh PATH_TO_PROVD [SOURCE_DIR]      (provd-sol from $PROVD_SOL, else next to provd)
#
# Exit 77 (skip) when ipmi_sim, ipmitool or python3 is missing, unless PROVD_TESTS_NO_SKIP=1.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib-ipmi.sh"

for tool in ipmi_sim ipmitool ss python3; do
        command -v "$tool" >/dev/null || skip "$tool not installed"
done
PROVD_SOL=${PROVD_SOL:-$(dirname "$PROVD")/tests/provd-sol}
[ -x "$PROVD_SOL" ] || fail "provd-sol not found at $PROVD_SOL"
LOG=$T/sol-tool.log # lib.sh's sanitizer check and failure dump read $LOG
: >"$LOG"
WA=solchannelsupport,solpayloadsize,opensesspriv # what libipmiconsole needs for ipmi_sim
PW=$T/pw
BADPW=$T/badpw
(umask 077 && printf '%s\n' "$SIM_PASSWORD" >"$PW" && printf 'not-the-password\n' >"$BADPW")

# sol NAME ARGS...: runs provd-sol; stdout -> $T/NAME.out, stderr -> $T/NAME.err (and $LOG);
# sets RC and MS (wall time).
sol() {
        local name=$1 t0
        shift
        t0=$(date +%s%N)
        RC=0
        "$PROVD_SOL" "$@" >"$T/$name.out" 2>"$T/$name.err" || RC=$?
        MS=$((($(date +%s%N) - t0) / 1000000))
        sol_checked "$name"
}
# sol_checked NAME: the tool's stderr into $LOG, sanitizer reports fail the test.
sol_checked() {
        { echo "--- $1"; cat "$T/$1.err"; } >>"$LOG"
        grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$T/$1.err" &&
                fail "sanitizer report from provd-sol ($1): $(cat "$T/$1.err")"
        ! grep -qF "$SIM_PASSWORD" "$T/$1.err" "$T/$1.out" || fail "$1: the password is in provd-sol's output"
        return 0
}
status_line() { grep -E "^$2 " "$T/$1.err" | head -1; }
expect_rc() { # NAME RC WORD: exit status and the errno name of the "ended"/"failed" line
        [ "$RC" = "$2" ] || fail "$1: exit $RC, expected $2: $(cat "$T/$1.err")"
        [ -z "${3:-}" ] || grep -qE "^(ended|failed) $3 " "$T/$1.err" ||
                fail "$1: expected $3: $(cat "$T/$1.err")"
}

# check_stream NAME SIM MIN: the console bytes of NAME are lines the stand-in of SIM sent,
# exactly, consecutive, at least MIN of them; no banner, no NUL.
check_stream() {
        python3 - "$T/$1.out" "$(sim_dir "$2")/serial-sent.log" "$3" <<'PY' || fail "$1: stream check failed"
import re, sys
got = open(sys.argv[1], "rb").read()
sent = open(sys.argv[2], "rb").read()
need = int(sys.argv[3])
assert b"\0" not in got, "a NUL byte in the console stream"
assert b"SOL Session operational" not in got, "ipmitool's banner in the console stream"
lines = got.split(b"\r\n")
# the first line may have started before the session, the last may be cut: skip both
inner = lines[1:-1]
nums = []
for l in inner:
    m = re.fullmatch(rb"standin line (\d{6}) t=[0-9.]+", l)
    assert m, "not a stand-in line: %r" % l[:80]
    assert l + b"\r\n" in sent, "line not in the ground truth: %r" % l
    nums.append(int(m.group(1)))
assert len(nums) >= need, "only %d lines, want >= %d" % (len(nums), need)
gaps = [(a, b) for a, b in zip(nums, nums[1:]) if b != a + 1]
assert not gaps, "gaps in the line numbers: %r" % gaps[:5]
# the whole inner stream is one contiguous slice of what was sent
blob = b"\r\n".join(inner) + b"\r\n"
assert blob in sent, "stream is not a contiguous slice of the ground truth"
print("stream ok: lines %d..%d (%d)" % (nums[0], nums[-1], len(nums)))
PY
}

# ---- simulators: 1 ipmitool, 2 no SOL, 3 libipmiconsole, 4 ipmitool kill, 5 ipmiconsole 30 s ----
sim_base
for n in 1 3 4 5; do serial_standin_start "$n" 20; done
sim_start 1 no-chassis sol=auto
sim_start 2 no-chassis
sim_start 3 no-chassis sol=auto
sim_start 4 no-chassis sol=auto
sim_start 5 no-chassis sol=auto
sim_wait 1 2 3 4 5
grep -q "^sol \"tcp:127.0.0.1:${SIM_SOL_PORT[1]}\" 115200$" "$(sim_dir 1)/lan.conf" || fail "lan.conf has no sol line"
! grep -q "^sol " "$(sim_dir 2)/lan.conf" || fail "simulator 2 must have no sol line"

# Long-running scenarios in the background, checked at the end.
# (a) ipmitool, simulator 4 killed 3 s in and started again: the session ends ETIMEDOUT
# ipmitool 1.8.19 sends its keepalive every ~30 s; a missed one costs -N 1 -R 1 retries (~3 s,
# --timeout 3000), then its own deactivate attempt (~3 s): measured 39.5 s after the kill with
# -R 2, the default 5 s timeout.
"$PROVD_SOL" --backend ipmitool --timeout 3000 --seconds 60 -u "$SIM_USER" -p "$PW" "$(sim_label 4)" \
        >"$T/kill-tool.out" 2>"$T/kill-tool.err" &
KILL_TOOL_PID=$!
PIDS+=("$KILL_TOOL_PID")
# (b) libipmiconsole under continuous output for more than 30 s (ipmi_sim's limit)
"$PROVD_SOL" --backend ipmiconsole -W "$WA" --seconds 50 -u "$SIM_USER" -p "$PW" "$(sim_label 5)" \
        >"$T/long-ic.out" 2>"$T/long-ic.err" &
LONG_IC_PID=$!
PIDS+=("$LONG_IC_PID")
sleep 3
grep -q "^established " "$T/kill-tool.err" || fail "ipmitool session on sim 4 not established: $(cat "$T/kill-tool.err")"
KILL_AT=$(date +%s%N)
sim_stop 4
sim_start 4 no-chassis sol=auto
sim_wait 4

# ---- ipmitool backend ------------------------------------------------------------------------
sol tool-stream --backend ipmitool --seconds 6 -u "$SIM_USER" -p "$PW" "$(sim_label 1)"
expect_rc tool-stream 0
status_line tool-stream established >/dev/null || fail "tool-stream: never established: $(cat "$T/tool-stream.err")"
check_stream tool-stream 1 80
! grep -q "^sol_close took" "$T/tool-stream.err" || fail "sol_close not bounded: $(cat "$T/tool-stream.err")"
# "~." ended the session cleanly: the payload is free for a client that does not deactivate first
out=$(sim_ipmitool 1 sol activate </dev/null 2>&1 || true)
[[ $out == *"SOL Session operational"* ]] || fail "payload still busy after sol_close(): $out"
ok "ipmitool: console streams byte for byte, banner removed; close is bounded and frees the payload"

sol tool-badpw --backend ipmitool --seconds 10 -u "$SIM_USER" -p "$BADPW" "$(sim_label 1)"
expect_rc tool-badpw 5 EACCES
grep -q "RAKP 2 HMAC is invalid" "$T/tool-badpw.err" || fail "tool-badpw: $(cat "$T/tool-badpw.err")"
sol tool-nosol --backend ipmitool --seconds 10 -u "$SIM_USER" -p "$PW" "$(sim_label 2)"
expect_rc tool-nosol 6 EOPNOTSUPP
sol tool-nobmc --backend ipmitool --timeout 3000 --seconds 30 -u "$SIM_USER" -p "$PW" "$SIM_NET.99"
expect_rc tool-nobmc 4 ETIMEDOUT
[ "$MS" -lt 10000 ] || fail "tool-nobmc: ETIMEDOUT after $MS ms with a 3 s timeout"
nobmc_ms=$MS
sol tool-missing --backend ipmitool --ipmitool "$T/no-such-ipmitool" -u "$SIM_USER" -p "$PW" "$(sim_label 1)"
expect_rc tool-missing 1 ENOENT
ok "ipmitool: wrong password EACCES, no sol line EOPNOTSUPP, no BMC ETIMEDOUT in ${nobmc_ms} ms, missing binary ENOENT"

# ---- libipmiconsole backend ------------------------------------------------------------------
sol ic-stream --backend ipmiconsole -W "$WA" --seconds 6 -u "$SIM_USER" -p "$PW" "$(sim_label 3)"
expect_rc ic-stream 0
status_line ic-stream established >/dev/null || fail "ic-stream: never established: $(cat "$T/ic-stream.err")"
check_stream ic-stream 3 80
ok "libipmiconsole: established, console streams byte for byte"

"$PROVD_SOL" --backend ipmiconsole -W "$WA" --seconds 30 -u "$SIM_USER" -p "$PW" "$(sim_label 3)" \
        >"$T/ic-kill.out" 2>"$T/ic-kill.err" &
pid=$!
PIDS+=("$pid")
sleep 2
sim_stop 3
t0=$(date +%s%N)
sim_start 3 no-chassis sol=auto
RC=0
wait "$pid" || RC=$?
MS=$((($(date +%s%N) - t0) / 1000000))
sol_checked ic-kill
expect_rc ic-kill 4 ETIMEDOUT
[ "$MS" -lt 12000 ] || fail "ic-kill: ended $MS ms after the BMC died (session timeout 5 s)"
sim_wait 3
sol ic-again --backend ipmiconsole -W "$WA" --seconds 4 -u "$SIM_USER" -p "$PW" "$(sim_label 3)"
expect_rc ic-again 0
check_stream ic-again 3 40
ok "libipmiconsole: BMC restarted mid-session -> ETIMEDOUT after $MS ms; a new session streams"

sol ic-badpw --backend ipmiconsole -W "$WA" --seconds 10 -u "$SIM_USER" -p "$BADPW" "$(sim_label 3)"
expect_rc ic-badpw 5 EACCES
sol ic-nobmc --backend ipmiconsole -W "$WA" --timeout 3000 --seconds 30 -u "$SIM_USER" -p "$PW" "$SIM_NET.99"
expect_rc ic-nobmc 4 ETIMEDOUT
[ "$MS" -lt 8000 ] || fail "ic-nobmc: ETIMEDOUT after $MS ms with a 3 s timeout"
# Without a `sol` line ipmi_sim answers the SOL setup with an error completion code that
# libipmiconsole reports only as "BMC Error": EIO, not EOPNOTSUPP.  With solchannelsupport the
# simulator survives (without it, Get Channel Payload Support crashes it).
sol ic-nosol --backend ipmiconsole -W "$WA" --seconds 10 -u "$SIM_USER" -p "$PW" "$(sim_label 2)"
expect_rc ic-nosol 8 EIO
grep -q "BMC Error" "$T/ic-nosol.err" || fail "ic-nosol: $(cat "$T/ic-nosol.err")"
kill -0 "${SIM_PID[2]}" || fail "the simulator without SOL died"
ok "libipmiconsole: wrong password EACCES, no BMC ETIMEDOUT in ${MS} ms, no sol line EIO (BMC Error)"

# ---- the background scenarios ---------------------------------------------------------------
RC=0
wait "$KILL_TOOL_PID" || RC=$?
MS=$((($(date +%s%N) - KILL_AT) / 1000000))
sol_checked kill-tool
expect_rc kill-tool 4 ETIMEDOUT
grep -q "No response to keepalive" "$T/kill-tool.err" || fail "kill-tool: $(cat "$T/kill-tool.err")"
[ "$MS" -lt 45000 ] || fail "kill-tool: ended $MS ms after the BMC died"
sol tool-again --backend ipmitool --seconds 3 -u "$SIM_USER" -p "$PW" "$(sim_label 4)"
expect_rc tool-again 0
check_stream tool-again 4 30
ok "ipmitool: BMC restarted mid-session -> ETIMEDOUT ${MS} ms later (keepalive); a new session streams"

RC=0
wait "$LONG_IC_PID" || RC=$?
sol_checked long-ic
expect_rc long-ic 4 ETIMEDOUT
last=$(grep -ao 't=[0-9.]*' "$T/long-ic.out" | tail -1 | cut -c3- | cut -d. -f1)
[ -n "$last" ] && [ "$last" -ge 25 ] && [ "$last" -le 36 ] ||
        fail "long-ic: expected the stream to stop ~30 s in (ipmi_sim's limit), last line at t=$last"
ok "libipmiconsole: continuous output stops ~30 s after activation (last line t=${last}s), then ETIMEDOUT"

for n in 1 2 3 4 5; do
        kill -0 "${SIM_PID[$n]}" 2>/dev/null || fail "simulator $n died during the test"
done
