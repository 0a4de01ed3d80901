# lib.sh — shared harness for provd integration tests (bash).  Source it, then:
#   provd_start INVENTORY [EXTRA FLAGS...]   starts `provd serve` on 127.0.0.1:<free port>
#   provd_stop                               SIGTERM, expect exit 0 and no sanitizer report
#   provd_kill9                              SIGKILL (state must survive)
#   http METHOD PATH [CURL ARGS...]          sets $STATUS and $BODY
#   expect_status CODE METHOD PATH [ARGS]    fails the test unless the status is CODE
#   skip REASON                              exit 77, or fail under PROVD_TESTS_NO_SKIP
#   fail MESSAGE                             says FAIL, runs the test's dump_logs if it has
#                                            one, exits 1 (said again after the logs at exit)
#   state_sql SQL, sqlite_only WHAT, ...     the state store (SQLite or PostgreSQL): lib-store.sh
# Every process started is tracked by pid and killed on exit; the temp dir is removed.
# $PROVD runs provd; $PROVD_BIN is the binary itself (under PROVD_TEST_STORE=postgresql $PROVD
# is a shim that adds --state-url to `provd serve`: lib-store.sh).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/listening.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib-store.sh"

PROVD=${PROVD:-${1:-}}
SRC=${SRC:-${2:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}}
[ -x "$PROVD" ] || { echo "usage: $0 PATH_TO_PROVD [SOURCE_DIR]" >&2; exit 2; }
PROVD=$(realpath "$PROVD")
PROVD_BIN=$PROVD

T=$(mktemp -d /tmp/provd-test.XXXXXX)
PIDS=()
PROVD_PID=
URL=
STATE="$T/state"
LOG="$T/provd.log"
TEST_NAME=$(basename "$0" .sh)

# Commands a test adds to run at exit, after its processes are killed (e.g. umount).
AT_EXIT=()

cleanup() {
        local rc=$?
        for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
        for c in "${AT_EXIT[@]}"; do eval "$c" || true; done
        if [ $rc -ne 0 ] && [ -f "$LOG" ]; then
                echo "--- provd log (last 40 lines) ---" >&2
                tail -n 40 "$LOG" >&2 || true
        fi
        [ $rc -eq 0 ] || store_log_tail >&2 || true
        store_cleanup || true
        if [ $rc -ne 0 ] && [ -s "$T/fail-messages" ]; then
                echo "--- the failure, as said above the logs ---" >&2
                tail -n 5 "$T/fail-messages" >&2 || true
        fi
        rm -rf "$T"
}
trap cleanup EXIT
store_init "$T"

# Says FAIL and keeps the message, which cleanup says again after the logs it prints
# (meson's --print-errorlogs shows only a long log's last 100 lines).  For tests' own fail().
fail_note() {
        echo "FAIL [$TEST_NAME]: $*" >&2
        printf 'FAIL [%s]: %s\n' "$TEST_NAME" "$*" >>"$T/fail-messages" 2>/dev/null || true
}

# Says FAIL, then what the test's dump_logs prints (when it defines one) on stderr, and exits 1.
fail() {
        fail_note "$*"
        if declare -F dump_logs >/dev/null; then
                dump_logs >&2
        fi
        exit 1
}

ok() {
        echo "ok - $*"
}

# A peer the test needs is missing: exit 77 (meson: skipped), or fail when
# PROVD_TESTS_NO_SKIP is set (CI, where every peer must be installed).
skip() {
        echo "SKIP [$TEST_NAME]: $*"
        [ -z "${PROVD_TESTS_NO_SKIP:-}" ] || fail "$*"
        exit 77
}

# Waits up to 10 s for the "listening on URL" line of the current log.
wait_listening() {
        URL=$(provd_listening_url "$LOG" "$PROVD_PID") ||
                fail "provd did not start listening within 10 s: $(tail -n 5 "$LOG")"
}

provd_start() {
        local inventory=$1
        shift
        : >"$LOG"
        "$PROVD" serve --inventory "$inventory" --state-dir "$STATE" --listen 127.0.0.1:0 "$@" 2>>"$LOG" &
        PROVD_PID=$!
        PIDS+=("$PROVD_PID")
        wait_listening
}

sanitizer_check() {
        if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$LOG"; then
                cat "$LOG" >&2
                fail "sanitizer report in provd's log"
        fi
}

provd_stop() {
        kill -TERM "$PROVD_PID"
        local rc=0
        wait "$PROVD_PID" || rc=$?
        sanitizer_check
        [ "$rc" -eq 0 ] || fail "provd exited with status $rc after SIGTERM"
}

provd_kill9() {
        # It may be gone already (a test that killed it itself, and bash reaped it): fine.
        kill -KILL "$PROVD_PID" 2>/dev/null || true
        wait "$PROVD_PID" 2>/dev/null || true
}

http() {
        local method=$1 path=$2
        shift 2
        local out
        : >"$T/body"
        out=$(curl -sS -o "$T/body" -w '%{http_code}' -X "$method" "$@" "$URL$path") || fail "curl $method $path failed"
        STATUS=$out
        BODY=$(tr -d '\000' <"$T/body")
}

# The body, cut to 300 printable characters, for failure messages.
short_body() {
        printf '%s' "${BODY:0:300}" | tr -c '[:print:]\n' '?'
}

expect_status() {
        local code=$1 method=$2 path=$3
        shift 3
        http "$method" "$path" "$@"
        [ "$STATUS" = "$code" ] || fail "$method $path: expected $code, got $STATUS: $(short_body)"
}

# jq_eq FILTER EXPECTED: asserts `jq -r FILTER` of $BODY equals EXPECTED.
jq_eq() {
        local got
        got=$(printf '%s' "$BODY" | jq -r "$1") || fail "jq $1: body is not JSON: $BODY"
        [ "$got" = "$2" ] || fail "jq $1: expected '$2', got '$got' (body: $BODY)"
}

# Writes dummy boot files and an inventory with nodes node-01..node-N (MACs 52:54:00:00:00:NN),
# each with a BMC that does not exist and console capture off (bmc.console "none": a capture
# would only add "console" notes to their histories; tests of the console turn it on).
make_inventory() {
        local file=$1 n=${2:-3}
        # never /boot: a caller without the test's temp directory is a bug
        [ -n "${T:-}" ] || fail "make_inventory: no temp directory (T is empty)"
        mkdir -p "$T/boot"
        [ -f "$T/boot/bzImage" ] || head -c 100000 /dev/urandom >"$T/boot/bzImage"
        [ -f "$T/boot/initrd" ] || head -c 50000 /dev/urandom >"$T/boot/initrd"
        {
                echo '{"version": 1, "nodes": ['
                local i sep=
                for i in $(seq 1 "$n"); do
                        printf '%s{"name": "node-%02d", "mac": ["52:54:00:00:00:%02x"], ' "$sep" "$i" "$i"
                        printf '"bmc": {"host": "127.0.0.%d", "user": "admin", "password_file": "/run/credentials/bmc-node-%02d", "console": "none"}, ' "$((i + 10))" "$i"
                        printf '"boot": {"kernel": "%s", "initrd": ["%s"], "cmdline": "init=/nix/store/x-installer/init loglevel=4"}, ' "$T/boot/bzImage" "$T/boot/initrd"
                        printf '"system": {"toplevel": "/nix/store/a-nixos-system-node-%02d", "install": "/nix/store/b-install-node-%02d"}}\n' "$i" "$i"
                        sep=,
                done
                echo ']}'
        } >"$file"
}

# api_token FILE: makes an API token with `provd token new`, adds it to the tokens file FILE
# (created 0600 if missing) and prints it.
# (Named after the file's line count: callers run it in $(...), a subshell.)
api_token() {
        local n=0
        [ -f "$1" ] && n=$(wc -l <"$1")
        "$PROVD" token new --name "test-$n" --file "$1" 2>"$T/token.err" ||
                fail "provd token new --file $1: $(cat "$T/token.err")"
}

# token_of MAC: the install token in the node's current boot answer.
token_of() {
        http GET "/v1/boot/$1"
        [ "$STATUS" = 200 ] || fail "GET /v1/boot/$1: expected 200, got $STATUS: $BODY"
        printf '%s' "$BODY" | jq -r .cmdline | tr ' ' '\n' | sed -n 's/^provd\.token=//p'
}

# event TOKEN JSON: POST an installer event; sets STATUS/BODY.
event() {
        http POST /v1/install/events -H "Authorization: Bearer $1" -H 'Content-Type: application/json' --data-binary "$2"
}
