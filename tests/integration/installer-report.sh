#!/usr/bin/env bash
# installer-report.sh — installer/provd-report.sh against a running provd:
# under busybox sh with only busybox wget on PATH, and under dash (or sh)
# with curl; events land in the node's history, a wrong token fails, a
# repeated event is fine, an unreachable provd gives up with status 3.
#
#   installer-report.sh [PROVD_BINARY [SOURCE_DIR]]
#
# Exit 77 (skip) when busybox or curl is missing.

set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/listening.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib-store.sh"

PROVD=${1:-$(cd "$(dirname "$0")/../.." && pwd)/build/provd}
SRC=${2:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
REPORT=$SRC/installer/provd-report.sh

T0=$SECONDS
say() { printf '[report %2ds] %s\n' $((SECONDS - T0)) "$*"; }
skip() { say "SKIP: $*"; [ -z "${PROVD_TESTS_NO_SKIP:-}" ] || exit 1; exit 77; }

TMP=
PROVD_PID=
fail() {
	say "FAIL: $*"
	if [ -n "$TMP" ] && [ -f "$TMP/provd.log" ]; then
		echo "----- tail of provd log -----" >&2
		tail -n 40 "$TMP/provd.log" >&2
	fi
	store_log_tail >&2
	exit 1
}
cleanup() {
	local rc=$?
	if [ -n "$PROVD_PID" ]; then
		kill -TERM "$PROVD_PID" 2>/dev/null || true
		wait "$PROVD_PID" 2>/dev/null || true
		if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$TMP/provd.log"; then
			cat "$TMP/provd.log" >&2
			say "FAIL: sanitizer report in provd's log"
			rc=1
		fi
	fi
	store_cleanup || true
	[ -z "$TMP" ] || rm -rf "$TMP"
	exit "$rc"
}
trap cleanup EXIT

BUSYBOX=$(command -v busybox) || skip "busybox not installed"
command -v curl >/dev/null || skip "curl not installed"
command -v python3 >/dev/null || skip "python3 not installed"
[ -x "$PROVD" ] || fail "no provd binary at $PROVD"
PROVD=$(realpath "$PROVD")
[ -f "$REPORT" ] || fail "no $REPORT"
POSIX_SH=$(command -v dash || command -v sh)

TMP=$(mktemp -d "${TMPDIR:-/tmp}/provd-report-test.XXXXXX")
TMP=$(cd "$TMP" && pwd -P)
store_init "$TMP" # PROVD_TEST_STORE=postgresql: a cluster of this test's, $PROVD a shim

# a PATH with busybox applets only: no curl, wget is busybox's
mkdir -p "$TMP/bb"
for applet in $("$BUSYBOX" --list); do
	ln -s "$BUSYBOX" "$TMP/bb/$applet"
done
[ ! -e "$TMP/bb/curl" ] || fail "busybox has a curl applet?"

printf 'kernel\n' >"$TMP/vmlinuz"
printf 'initrd\n' >"$TMP/initrd"
node_json() {
	cat <<EOF
    {
      "name": "$1",
      "mac": ["$2"],
      "boot": {"kernel": "$TMP/vmlinuz", "initrd": ["$TMP/initrd"], "cmdline": "console=ttyS0"},
      "system": {
        "toplevel": "/nix/store/1b9p07z77phvv2hf6gm9f28syp39f1ag-nixos-system-$1",
        "install": "/nix/store/7kzmq9dnb2s0dqc1sp8k8f7r2vy6y2hw-install-$1"
      }
    }
EOF
}
{
	echo '{"version": 1, "nodes": ['
	node_json node-wget 52:54:00:00:00:01
	echo ','
	node_json node-curl 52:54:00:00:00:02
	echo ']}'
} >"$TMP/inventory.json"

mkdir -p "$TMP/state"
"$PROVD" serve --inventory "$TMP/inventory.json" --state-dir "$TMP/state" \
	--listen 127.0.0.1:0 --public-url http://provd.invalid:8080 \
	>"$TMP/provd.log" 2>&1 &
PROVD_PID=$!
API=$(provd_listening_url "$TMP/provd.log" "$PROVD_PID") || fail "provd did not report its port"
PORT=${API##*:}
say "provd listening on $API"

# netboot MAC -> writes the kernel command line iPXE would boot to $TMP/cmdline-MAC
netboot() {
	local script
	script=$(curl -sSf --max-time 10 "$API/v1/ipxe?mac=$1") || fail "GET /v1/ipxe?mac=$1 failed"
	printf '%s\n' "$script" | sed -n 's/^kernel [^ ]* //p' | sed 's/ *||.*//' >"$TMP/cmdline-$1"
	grep -q 'provd.token=' "$TMP/cmdline-$1" || fail "no provd.token in the iPXE script for $1: $script"
}

# expect RC DESCRIPTION -- COMMAND...
expect() {
	local want=$1 what=$2 rc=0
	shift 3
	"$@" 2>"$TMP/stderr" || rc=$?
	if [ "$rc" != "$want" ]; then
		cat "$TMP/stderr" >&2
		fail "$what: exit status $rc, want $want"
	fi
	say "ok: $what (status $rc)"
	sed 's/^/      | /' "$TMP/stderr"
}

# node_check NODE PYTHON-EXPRESSION MESSAGE [ARG...], over n = GET /v1/nodes/NODE
# (ARGs are sys.argv[2:])
node_check() {
	local body
	body=$(curl -sSf --max-time 10 "$API/v1/nodes/$1") || fail "GET /v1/nodes/$1 failed"
	printf '%s' "$body" | python3 -c '
import json, sys
n = json.load(sys.stdin)
to = [h.get("to") for h in n.get("history", [])]
msgs = [h.get("message") for h in n.get("history", [])]
sys.exit(0 if eval(sys.argv[1]) else 1)' "$2" "${@:4}" || fail "$3; GET /v1/nodes/$1: $body"
}

# shellcheck disable=SC2016 # a literal $HOME
TRICKY=$(printf 'tab\there, "quoted", back\\slash, ünïcödé,\nsecond line, bell\a, $HOME *')

# run SHELL-AND-PATH... : provd-report.sh as a script, config from a cmdline file
# + PROVD_URL (the public URL in the command line is not reachable here)
run_report() {
	local mac=$1 path=$2 shell=$3
	shift 3
	# shellcheck disable=SC2086 # $shell may be "busybox sh"
	env -i PATH="$path" PROVD_CMDLINE_FILE="$TMP/cmdline-$mac" PROVD_URL="$API" \
		PROVD_REPORT_STATE="$TMP/marks-$mac" PROVD_REPORT_TRIES=2 \
		$shell "$REPORT" "$@"
}

# ---- busybox sh + busybox wget
M=52:54:00:00:00:01
netboot $M
say "node-wget: busybox sh, busybox wget"
expect 0 "started" -- run_report $M "$TMP/bb" "$BUSYBOX sh" started "installer up"
expect 0 "partitioning" -- run_report $M "$TMP/bb" "$BUSYBOX sh" partitioning "sda"
expect 0 "installing" -- run_report $M "$TMP/bb" "$BUSYBOX sh" installing "nixos-install"
expect 0 "installing again" -- run_report $M "$TMP/bb" "$BUSYBOX sh" installing "nixos-install, again"
expect 0 "installing, message not UTF-8" -- run_report $M "$TMP/bb" "$BUSYBOX sh" installing "$(printf 'bad \377 byte')"
expect 1 "wrong token (401)" -- env -i PATH="$TMP/bb" PROVD_URL="$API" PROVD_TOKEN=AAAAwrongTOKEN_-AAAAAAAAAAAAAAAAAAAAAAAAAAAA \
	"$BUSYBOX" sh "$REPORT" installing x
expect 0 "succeeded (tricky message)" -- run_report $M "$TMP/bb" "$BUSYBOX sh" succeeded "$TRICKY"
expect 0 "succeeded again (already recorded)" -- run_report $M "$TMP/bb" "$BUSYBOX sh" succeeded "$TRICKY"
expect 1 "installing after the attempt ended (403)" -- run_report $M "$TMP/bb" "$BUSYBOX sh" installing late
node_check node-wget 'n["state"] == "installed"' "node-wget not installed"
node_check node-wget '"installing" in to and "installed" in to' "node-wget history lacks installing/installed"
node_check node-wget 'any(sys.argv[2] in (m or "") for m in msgs)' "node-wget history lacks the succeeded message verbatim" "$TRICKY"

# ---- dash/sh + curl, library use, failed
M=52:54:00:00:00:02
netboot $M
say "node-curl: $POSIX_SH, curl"
HOSTPATH=/usr/local/bin:/usr/bin:/bin
expect 0 "started" -- run_report $M "$HOSTPATH" "$POSIX_SH" started "installer up"
# shellcheck disable=SC2016 # expanded by the inner shell
expect 0 "library: provd_cmdline_get + provd_report" -- env -i PATH="$HOSTPATH" \
	PROVD_CMDLINE_FILE="$TMP/cmdline-$M" PROVD_URL="$API" PROVD_REPORT_STATE="$TMP/marks-$M" \
	"$POSIX_SH" -c '. "$1" && node=$(provd_cmdline_get provd.node) && [ "$node" = node-curl ] &&
		provd_report installing "as library on $node"' sh "$REPORT"
expect 1 "wrong token (401)" -- env -i PATH="$HOSTPATH" PROVD_URL="$API" PROVD_TOKEN=AAAAwrongTOKEN_-AAAAAAAAAAAAAAAAAAAAAAAAAAAA \
	"$POSIX_SH" "$REPORT" installing x
expect 2 "no token anywhere" -- env -i PATH="$HOSTPATH" PROVD_URL="$API" PROVD_CMDLINE_FILE=/dev/null \
	"$POSIX_SH" "$REPORT" installing x
expect 3 "provd unreachable" -- env -i PATH="$HOSTPATH" PROVD_CMDLINE_FILE="$TMP/cmdline-$M" \
	PROVD_URL=http://127.0.0.1:9 PROVD_REPORT_TRIES=2 "$POSIX_SH" "$REPORT" installing x
expect 0 "failed" -- run_report $M "$HOSTPATH" "$POSIX_SH" failed "$(printf 'exit status 1\nlast lines of the log')"
expect 0 "failed again (already recorded)" -- run_report $M "$HOSTPATH" "$POSIX_SH" failed "again"
expect 1 "succeeded after failed (403)" -- run_report $M "$HOSTPATH" "$POSIX_SH" succeeded "too late"
node_check node-curl 'n["state"] == "failed"' "node-curl not failed"
node_check node-curl '"installing" in to and "failed" in to' "node-curl history lacks installing/failed"

say "PASS"
