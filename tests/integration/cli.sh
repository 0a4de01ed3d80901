#!/usr/bin/env bash
# The command line: --help tells the truth, usage errors exit 2, start-up errors exit 1 and
# name the node/field/file, the config file is read and flags override it.
source "$(dirname "$0")/lib.sh"

"$PROVD" --help | grep -q '^  serve ' || fail "provd --help does not list serve"
"$PROVD" --version | grep -q '^provd [0-9]' || fail "provd --version"
"$PROVD" serve --help >"$T/help"
for f in --inventory --state-dir --listen --public-url --config --threads --log-level SIGHUP; do
        grep -q -- "$f" "$T/help" || fail "serve --help does not mention $f"
done
ok "--help lists every flag"

expect_exit() {
        local want=$1
        shift
        local rc=0
        "$PROVD" "$@" >"$T/out" 2>&1 || rc=$?
        [ "$rc" = "$want" ] || fail "provd $*: exit $rc, expected $want: $(cat "$T/out")"
}
expect_exit 2
expect_exit 2 frobnicate
grep -q 'unknown command "frobnicate"' "$T/out" || fail "unknown command message"
expect_exit 2 serve
grep -q -- '--inventory FILE is required' "$T/out" || fail "missing --inventory message"
expect_exit 2 serve --bogus
expect_exit 2 serve --inventory x extra
expect_exit 2 serve --inventory x --threads many
grep -q 'bad value "many" for --threads' "$T/out" || fail "bad --threads message: $(cat "$T/out")"
expect_exit 2 serve --inventory x --public-url ftp://x
expect_exit 2 serve --inventory x --public-url 'http://a b'
expect_exit 2 serve --inventory x --public-url 'http://x/{{y}}'
ok "usage errors exit 2 with a message"

make_inventory "$T/inv.json" 2
expect_exit 1 serve --inventory "$T/missing.json" --state-dir "$STATE" --listen 127.0.0.1:0
grep -q "cannot read inventory $T/missing.json: No such file or directory" "$T/out" || fail "$(cat "$T/out")"
jq '.nodes[1].mac[0] = "52:54:00:00:00"' "$T/inv.json" >"$T/bad.json"
expect_exit 1 serve --inventory "$T/bad.json" --state-dir "$STATE" --listen 127.0.0.1:0
grep -qF 'node "node-02" (nodes[1]): field "mac[0]": "52:54:00:00:00" is not a MAC address' "$T/out" || fail "$(cat "$T/out")"
expect_exit 1 serve --inventory "$T/inv.json" --state-dir "$STATE" --listen 127.0.0.1:99999
expect_exit 1 serve --inventory "$T/inv.json" --state-dir "$STATE" --listen nonsense
grep -q 'expected ADDR:PORT' "$T/out" || fail "bad --listen message: $(cat "$T/out")"
printf '[serve]\nlisten = 127.0.0.1:0\ncolour = blue\n' >"$T/bad.ini"
expect_exit 1 serve --inventory "$T/inv.json" --config "$T/bad.ini"
grep -q "$T/bad.ini: unknown key \"colour\"" "$T/out" || fail "bad config message: $(cat "$T/out")"
ok "start-up errors exit 1 and name the file, node and field"

# Config file, with a flag overriding it.
cat >"$T/provd.ini" <<INI
[serve]
inventory = $T/inv.json
state_dir = $T/from-config
listen = 127.0.0.1:0
public_url = http://config.invalid:1
INI
: >"$LOG"
"$PROVD" serve --config "$T/provd.ini" --public-url http://flag.invalid:2/ 2>>"$LOG" &
PROVD_PID=$!
PIDS+=("$PROVD_PID")
wait_listening
# (the state directory holds provd.db on SQLite, provd.lock on both)
[ -f "$T/from-config/provd.lock" ] || fail "state_dir from the config file not used"
if sqlite_only "provd.db in the state directory"; then
        [ -f "$T/from-config/provd.db" ] || fail "state_dir from the config file not used: no provd.db"
fi
expect_status 200 GET /v1/boot/52:54:00:00:00:01
jq_eq .kernel "http://flag.invalid:2/v1/files$T/boot/bzImage"
printf '%s' "$BODY" | jq -r .cmdline | grep -q ' provd.url=http://flag.invalid:2 ' || fail "provd.url: $BODY"
provd_stop
ok "config file read; --public-url overrides it (trailing slash trimmed)"

# IPv6 loopback.
: >"$LOG"
"$PROVD" serve --inventory "$T/inv.json" --state-dir "$T/v6" --listen '[::1]:0' 2>>"$LOG" &
PROVD_PID=$!
PIDS+=("$PROVD_PID")
wait_listening
case "$URL" in http://\[::1\]:*) ;; *) fail "IPv6 URL: $URL" ;; esac
expect_status 200 GET /v1/boot/52:54:00:00:00:02
jq_eq .kernel "$URL/v1/files$T/boot/bzImage"
provd_stop
ok "listens on [::1]; public URL derived from it"
