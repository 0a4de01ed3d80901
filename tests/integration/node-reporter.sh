#!/usr/bin/env bash
# The node side of "nodes report what they run", against a real provd: provd-report.sh's
# provd_install_credential (the installer stores the node credential in the installed system)
# and installer/provd-node-report.sh (the installed node reports), each under busybox sh with
# busybox applets only (wget, nc; no curl) and under dash with curl.  Files and modes; the
# reports' verdicts (in_sync, reboot_pending, drifted) as provd records them; every exit
# status of the reporter; rotation; nothing written into a Nix store; the credential never in
# any process's arguments (tests/tools/argv-watch.py reads /proc/*/cmdline while the request
# waits) nor in any output.  Then installer/provd-autoinstall.sh itself, with a stand-in
# nix-store in a private mount namespace (root): the credential lands where the install
# script says the target is, and a target without a Nix store fails the install.
source "$(dirname "$0")/lib.sh"

command -v jq >/dev/null || skip "jq missing"
command -v python3 >/dev/null || skip "python3 missing"
command -v curl >/dev/null || skip "curl missing"
BUSYBOX=$(command -v busybox) || skip "busybox missing"
POSIX_SH=$(command -v dash || command -v sh)
# /run/current-system must resolve into /nix/store: the stand-in symlinks dangle, and
# readlink -f resolves a dangling last component only under an existing directory
[ -d /nix/store ] || skip "no /nix/store (Debian's nix-bin makes it)"
LIB=$SRC/installer/provd-report.sh
REPORTER=$SRC/installer/provd-node-report.sh
WATCH=$SRC/tests/tools/argv-watch.py
HOSTPATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin

# a PATH with busybox applets only: no curl; wget and nc are busybox's
mkdir -p "$T/bb"
for applet in $("$BUSYBOX" --list); do ln -s "$BUSYBOX" "$T/bb/$applet"; done
[ ! -e "$T/bb/curl" ] || fail "busybox has a curl applet?"

hash32() { # a store path hash made of N
        printf "%032d" 0 | tr 0 "$1"
}
SYS() { printf '/nix/store/%s-nixos-system-node-%s' "$(hash32 "$1")" "$2"; }
SYS1=$(SYS a 01) SYS1B=$(SYS b 01) SYS2=$(SYS c 02) SYS3=$(SYS d 03) SYS4=$(SYS 0 04)
INSTALL4=/nix/store/$(hash32 f)-install-node-04
INSTALL5=/nix/store/$(hash32 g)-install-node-05
make_inventory "$T/inv0.json" 5
jq --arg s1 "$SYS1" --arg s2 "$SYS2" --arg s3 "$SYS3" --arg s4 "$SYS4" --arg i4 "$INSTALL4" --arg i5 "$INSTALL5" \
        '.nodes[0].system.toplevel = $s1 | .nodes[1].system.toplevel = $s2 | .nodes[2].system.toplevel = $s3
         | .nodes[3].system.toplevel = $s4 | .nodes[3].system.install = $i4 | .nodes[4].system.install = $i5' "$T/inv0.json" >"$T/inv.json"
ADMIN=$(api_token "$T/api-tokens")
provd_start "$T/inv.json" --api-tokens "$T/api-tokens"

# netboot MAC: the kernel command line provd hands that node's installer -> $T/cmdline-MAC
netboot() {
        http GET "/v1/boot/$1"
        [ "$STATUS" = 200 ] || fail "GET /v1/boot/$1: $STATUS"
        printf '%s' "$BODY" | jq -r .cmdline >"$T/cmdline-$1"
}
# the stand-ins for /run/current-system and /run/booted-system
ln -s "$SYS1" "$T/sys1"
ln -s "$SYS1B" "$T/sys1b"
ln -s "$SYS2" "$T/sys2"
ln -s "$T" "$T/not-a-store-path"

CREDS=() # every credential seen: none may ever show up in an output
OUT=$T/outputs
: >"$OUT"

# run RC DESCRIPTION -- COMMAND...: COMMAND's exit status must be RC; its stdout in $T/out
run() {
        local want=$1 what=$2 rc=0
        shift 3
        "$@" >"$T/out" 2>"$T/err" || rc=$?
        cat "$T/out" "$T/err" >>"$OUT"
        if [ "$rc" != "$want" ]; then
                cat "$T/out" "$T/err" >&2
                fail "$what: exit status $rc, want $want"
        fi
        ok "$what (status $rc)"
        sed 's/^/      | /' "$T/out" "$T/err"
}
# cred_bb / cred_dash MAC ROOT: provd_install_credential ROOT as the installer of MAC
cred_bb() {
        env -i PATH="$T/bb" PROVD_CMDLINE_FILE="$T/cmdline-$1" PROVD_REPORT_TRIES=2 \
                "$BUSYBOX" sh -c '. "$1" && provd_install_credential "$2"; rc=$?; echo "http $PROVD_HTTP_STATUS"; exit $rc' sh "$LIB" "$2"
}
cred_dash() {
        env -i PATH="$HOSTPATH" PROVD_CMDLINE_FILE="$T/cmdline-$1" PROVD_REPORT_TRIES=2 \
                "$POSIX_SH" -c '. "$1" && provd_install_credential "$2"; rc=$?; echo "http $PROVD_HTTP_STATUS"; exit $rc' sh "$LIB" "$2"
}
# report_bb / report_dash DIR CURRENT BOOTED: provd-node-report.sh with the files in DIR
report_bb() {
        env -i PATH="$T/bb" PROVD_NODE_DIR="$1" PROVD_NODE_CURRENT_SYSTEM="$2" PROVD_NODE_BOOTED_SYSTEM="$3" \
                PROVD_NODE_REPORT_TRIES=2 "$BUSYBOX" sh "$REPORTER"
}
report_dash() {
        env -i PATH="$HOSTPATH" PROVD_NODE_DIR="$1" PROVD_NODE_CURRENT_SYSTEM="$2" PROVD_NODE_BOOTED_SYSTEM="$3" \
                PROVD_NODE_REPORT_TRIES=2 "$POSIX_SH" "$REPORTER"
}
# mode_owner FILE: "MODE UID GID"
mode_owner() { stat -c '%a %u %g' "$1"; }

# ---- the installer side: busybox sh + busybox wget (node-01), dash + curl (node-02)
netboot 52:54:00:00:00:01
netboot 52:54:00:00:00:02
mkdir -p "$T/root1/nix/store" "$T/root2/nix/store"
run 0 "busybox: provd_install_credential stores node-01's credential" -- cred_bb 52:54:00:00:00:01 "$T/root1"
run 0 "dash + curl: provd_install_credential stores node-02's credential" -- cred_dash 52:54:00:00:00:02 "$T/root2"
for n in 1 2; do
        d=$T/root$n/var/lib/provd-node
        [ "$(mode_owner "$d")" = "700 0 0" ] || fail "$d: $(mode_owner "$d"), want 700 root"
        [ "$(mode_owner "$T/root$n/var/lib")" = "755 0 0" ] || fail "/var/lib made $(mode_owner "$T/root$n/var/lib")"
        for f in credential url node; do
                [ "$(mode_owner "$d/$f")" = "600 0 0" ] || fail "$d/$f: $(mode_owner "$d/$f"), want 600 root"
        done
        [ "$(cat "$d/url")" = "$URL" ] || fail "$d/url: $(cat "$d/url"), want $URL"
        [ "$(cat "$d/node")" = "node-0$n" ] || fail "$d/node: $(cat "$d/node")"
        [ "$(find "$d" -mindepth 1 | wc -l)" = 3 ] || fail "$d holds more than credential, url, node: $(ls -A "$d")"
        [[ "$(cat "$d/credential")" =~ ^pvn_[A-Za-z0-9_-]{43}$ ]] || fail "$d/credential is not a node credential"
        CREDS+=("$(cat "$d/credential")")
done
[ -z "$(find "$T/root1/nix/store" "$T/root2/nix/store" -mindepth 1)" ] || fail "something was written into a target's Nix store"
expect_status 200 GET /v1/nodes/node-01
jq_eq .credential true
ok "files: /var/lib/provd-node 0700, credential/url/node 0600, root; /var/lib made 0755; nothing in nix/store"

# ---- the node side: verdicts as provd records them
D1=$T/root1/var/lib/provd-node D2=$T/root2/var/lib/provd-node
run 0 "busybox (nc): node-01 runs and booted its toplevel" -- report_bb "$D1" "$T/sys1" "$T/sys1"
grep -qx "node-01: in_sync (running $SYS1)" "$T/out" || fail "output: $(cat "$T/out")"
expect_status 200 GET /v1/nodes/node-01
jq_eq .drift in_sync
jq_eq .report.running "$SYS1"
jq_eq .report.kernel "$(uname -r)"
jq_eq '.report.uptime > 0' true
run 0 "busybox (nc): node-01 booted another system" -- report_bb "$D1" "$T/sys1" "$T/sys1b"
grep -q "reboot_pending" "$T/out" || fail "output: $(cat "$T/out")"
run 0 "dash + curl: node-01 switched to another system" -- report_dash "$D1" "$T/sys1b" "$T/sys1b"
grep -qx "node-01: drifted (running $SYS1B; provd expects $SYS1)" "$T/out" || fail "output: $(cat "$T/out")"
expect_status 200 GET /v1/nodes/node-01
jq_eq .drift drifted
jq_eq .report.booted "$SYS1B"
run 0 "dash + curl: node-02 in sync" -- report_dash "$D2" "$T/sys2" "$T/sys2"
expect_status 200 'GET' '/v1/nodes?drift=in_sync'
jq_eq '[.nodes[].name] | join(",")' node-02

# ---- refusals (not retried) and local errors
cp -r "$D2" "$T/d2-other"
printf 'node-01\n' >"$T/d2-other/node"
run 1 "dash + curl: node-02's credential for node-01 (403)" -- report_dash "$T/d2-other" "$T/sys2" "$T/sys2"
grep -q '(403)' "$T/err" || fail "no 403 in: $(cat "$T/err")"
printf 'node-99\n' >"$T/d2-other/node"
run 1 "busybox (nc): no such node (404)" -- report_bb "$T/d2-other" "$T/sys2" "$T/sys2"
expect_status 204 DELETE /v1/nodes/node-02/credential -H "Authorization: Bearer $ADMIN"
start=$SECONDS
run 1 "busybox (nc): revoked credential (401), at once" -- report_bb "$D2" "$T/sys2" "$T/sys2"
[ $((SECONDS - start)) -lt 2 ] || fail "a 401 was retried"
run 1 "dash + curl: revoked credential (401)" -- report_dash "$D2" "$T/sys2" "$T/sys2"
# a new install rotates the credential: the old one stops working
cp "$D1/credential" "$T/cred1-old"
run 0 "busybox: provd_install_credential again (node-01's attempt is still open)" -- cred_bb 52:54:00:00:00:01 "$T/root1"
CREDS+=("$(cat "$D1/credential")")
[ "$(cat "$D1/credential")" != "$(cat "$T/cred1-old")" ] || fail "the credential did not rotate"
cp -r "$D1" "$T/d1-old" && cp "$T/cred1-old" "$T/d1-old/credential"
run 1 "dash + curl: the rotated-out credential (401)" -- report_dash "$T/d1-old" "$T/sys1" "$T/sys1"
run 0 "dash + curl: the new one" -- report_dash "$D1" "$T/sys1" "$T/sys1"
cp -r "$D1" "$T/d-bad"
printf 'http://127.0.0.1:9\n' >"$T/d-bad/url"
run 3 "busybox (nc): provd unreachable, 2 tries" -- report_bb "$T/d-bad" "$T/sys1" "$T/sys1"
run 3 "dash + curl: provd unreachable, 2 tries" -- report_dash "$T/d-bad" "$T/sys1" "$T/sys1"
printf 'https://127.0.0.1:9\n' >"$T/d-bad/url"
run 2 "busybox: an https:// URL without curl" -- report_bb "$T/d-bad" "$T/sys1" "$T/sys1"
cp "$D1/url" "$T/d-bad/url"
run 2 "dash + curl: /run/current-system not in /nix/store" -- report_dash "$T/d-bad" "$T/not-a-store-path" "$T/sys1"
run 2 "busybox: /run/booted-system missing" -- report_bb "$T/d-bad" "$T/sys1" "$T/nothing-here"
printf 'pvn_short\n' >"$T/d-bad/credential"
run 2 "dash + curl: a malformed credential" -- report_dash "$T/d-bad" "$T/sys1" "$T/sys1"
rm "$T/d-bad/credential"
run 2 "busybox: no credential file" -- report_bb "$T/d-bad" "$T/sys1" "$T/sys1"
run 2 "an argument" -- "$POSIX_SH" "$REPORTER" now

# ---- installer refusals and local errors
run 2 "provd_install_credential: a target without nix/store" -- cred_dash 52:54:00:00:00:01 "$T/empty-root"
[ ! -e "$T/empty-root" ] || fail "something was written to a target without nix/store"
mkdir -p "$T/root-link/nix/store" "$T/root-link/var/lib"
ln -s ../../nix/store "$T/root-link/var/lib/provd-node"
run 2 "provd_install_credential: /var/lib/provd-node resolving into the target's store" -- cred_bb 52:54:00:00:00:01 "$T/root-link"
[ -z "$(ls -A "$T/root-link/nix/store")" ] || fail "the credential was written into the store: $(ls -A "$T/root-link/nix/store")"
# node-02's attempt ends: its install token can no longer get a credential
tok2=$(tr ' ' '\n' <"$T/cmdline-52:54:00:00:00:02" | sed -n 's/^provd\.token=//p')
event "$tok2" '{"phase":"succeeded"}'
[ "$STATUS" = 200 ] || fail "succeeded: $STATUS $BODY"
run 1 "provd_install_credential after the attempt ended (403)" -- cred_dash 52:54:00:00:00:02 "$T/root2"
grep -qx 'http 403' "$T/out" || fail "PROVD_HTTP_STATUS: $(cat "$T/out")"

# ---- the credential is in no process's arguments while the request is under way
# watch MODE SECRET: argv-watch.py in the background, its port in $WPORT
watch() {
        rm -f "$T/wport" "$T/watch.json"
        ARGV_WATCH_SECRET=$2 python3 "$WATCH" --port-file "$T/wport" --out "$T/watch.json" --hold 1.5 \
                --answer "{\"node\":\"node-01\",\"drift\":\"in_sync\",\"expected\":\"$SYS1\",\"changed\":false}" &
        WPID=$!
        PIDS+=("$WPID")
        for _ in $(seq 1 100); do [ -s "$T/wport" ] && break; sleep 0.05; done
        WPORT=$(cat "$T/wport") || fail "argv-watch.py did not start"
}
watched() { # WHAT: checks argv-watch.py's findings
        wait "$WPID" || fail "$1: argv-watch.py failed"
        python3 - "$T/watch.json" "$WPORT" "$1" <<'PY' || fail "$1: see above"
import json, sys
w, port, what = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
bad = []
if not w["authorized"]:
    bad.append("the request did not carry Authorization: Bearer <credential>")
if not any(port in c for c in w["clients"]):
    bad.append(f"no HTTP client process to port {port} was seen: {w['clients']}")
if w["secret_in_argv"]:
    bad.append(f"the credential is in these command lines: {w['secret_in_argv']}")
for b in bad:
    print(f"{what}: {b}")
for c in w["clients"]:
    if port in c:
        print(f"      | seen while waiting: {c}")
sys.exit(1 if bad else 0)
PY
}
C1=$(cat "$D1/credential")
cp -r "$D1" "$T/d-watch"
for how in bb dash; do
        watch report "$C1"
        printf 'http://127.0.0.1:%s\n' "$WPORT" >"$T/d-watch/url"
        run 0 "$how: report to argv-watch" -- "report_$how" "$T/d-watch" "$T/sys1" "$T/sys1"
        watched "$how report"
        jq -e --arg s "$SYS1" '.request_line == "POST /v1/nodes/node-01/report HTTP/1.0" or .request_line == "POST /v1/nodes/node-01/report HTTP/1.1"' "$T/watch.json" >/dev/null ||
                fail "request line: $(jq -r .request_line "$T/watch.json")"
        jq -e --arg s "$SYS1" '.body | fromjson | .running == $s and .booted == $s and (.uptime | type) == "number"' "$T/watch.json" >/dev/null ||
                fail "body: $(jq -r .body "$T/watch.json")"
done
ok "the credential was sent as Authorization: Bearer and was in no command line (curl and busybox nc seen while waiting)"
# The watch works: provd-report.sh hands the install token (public anyway: it is on the
# kernel command line) to curl as an argument, and argv-watch.py sees it there.
tok1=$(tr ' ' '\n' <"$T/cmdline-52:54:00:00:00:01" | sed -n 's/^provd\.token=//p')
watch event "$tok1"
run 0 "control: provd-report.sh (install token as an argument) to argv-watch" -- env -i PATH="$HOSTPATH" \
        PROVD_URL="http://127.0.0.1:$WPORT" PROVD_CMDLINE_FILE="$T/cmdline-52:54:00:00:00:01" "$POSIX_SH" "$LIB" installing x
wait "$WPID" || fail "argv-watch.py failed"
jq -e '.secret_in_argv | length > 0' "$T/watch.json" >/dev/null || fail "argv-watch.py did not see the install token in curl's arguments"
ok "control: argv-watch.py sees a token passed as an argument"

# ---- provd-autoinstall.sh, with a stand-in nix-store, in a private mount namespace
autoinstall_test() {
mkdir -p "$T/ai/bin" "$T/ai-root"
cat >"$T/ai/bin/nix-store" <<'EOF'
#!/bin/sh
# stand-in: the install script is already "in the store" (a tmpfs in this mount namespace)
[ "$1" = --realise ] && [ -x "$2" ]
EOF
# the install script: "installs" into $AI_ROOT and says so through PROVD_TARGET_ROOT_FILE
# (node-04), or installs nothing and leaves the default /mnt (node-05)
cat >"$T/ai/install" <<'EOF'
#!/bin/sh
set -e
"$PROVD_REPORT" partitioning "stand-in install script"
if [ -n "${AI_ROOT:-}" ]; then
        mkdir -p "$AI_ROOT$AI_SYSTEM"
        printf '%s\n' "$AI_ROOT" >"$PROVD_TARGET_ROOT_FILE"
fi
EOF
chmod 0755 "$T/ai/bin/nix-store" "$T/ai/install"
# autoinstall MAC INSTALL-PATH [VAR=VALUE...]
autoinstall() {
        local mac=$1 install=$2
        shift 2
        unshare --mount --propagation private -- /bin/sh -c '
                mount -t tmpfs tmpfs /nix/store && mount -t tmpfs tmpfs /mnt || exit 9
                install -m 0755 "$1" "$2" || exit 9
                shift 2
                exec "$@"' sh "$T/ai/install" "$install" \
                env -i PATH="$T/ai/bin:$HOSTPATH" PROVD_CMDLINE_FILE="$T/cmdline-$mac" PROVD_AUTOINSTALL_NOREBOOT=1 \
                PROVD_AUTOINSTALL_LOG="$T/ai-$mac.log" PROVD_REPORT_STATE="$T/ai-marks" TMPDIR="$T" "$@" \
                "$POSIX_SH" "$SRC/installer/provd-autoinstall.sh"
}
netboot 52:54:00:00:00:04
run 0 "provd-autoinstall.sh: node-04 installed into the root its install script names" -- autoinstall 52:54:00:00:00:04 "$INSTALL4" AI_ROOT="$T/ai-root" AI_SYSTEM="$SYS4"
D4=$T/ai-root/var/lib/provd-node
[ "$(mode_owner "$D4/credential")" = "600 0 0" ] || fail "$D4/credential: $(mode_owner "$D4/credential")"
[ "$(cat "$D4/node")" = node-04 ] && [ "$(cat "$D4/url")" = "$URL" ] || fail "$D4: node $(cat "$D4/node"), url $(cat "$D4/url")"
CREDS+=("$(cat "$D4/credential")")
expect_status 200 GET /v1/nodes/node-04
jq_eq .state installed
jq_eq .credential true
[ -d "$T/ai-root$SYS4" ] || fail "the stand-in install script did not run"
ln -s "$SYS4" "$T/sys4"
run 0 "the credential provd-autoinstall.sh stored reports for node-04" -- report_dash "$D4" "$T/sys4" "$T/sys4"
grep -q '^node-04: in_sync' "$T/out" || fail "output: $(cat "$T/out")"
netboot 52:54:00:00:00:05
run 1 "provd-autoinstall.sh: node-05's target (/mnt) holds no NixOS: the install fails" -- autoinstall 52:54:00:00:00:05 "$INSTALL5"
expect_status 200 GET /v1/nodes/node-05
jq_eq .state failed
jq_eq '.history[-1].message | contains("cannot store the node credential in /mnt/var/lib/provd-node")' true
jq_eq .credential false # the target is checked before provd is asked
ok "provd-autoinstall.sh: credential stored before 'succeeded'; a target that is no NixOS fails the install"
}
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null && [ -d /mnt ]; then
        autoinstall_test
else
        [ -z "${PROVD_TESTS_NO_SKIP:-}" ] || fail "provd-autoinstall.sh needs root, unshare and /mnt"
        echo "# SKIP provd-autoinstall.sh: needs root, unshare and /mnt (a private mount namespace with tmpfs /nix/store, /mnt)"
fi

# ---- no credential in any output or log
for c in "${CREDS[@]}"; do
        if grep -rqsF "$c" "$OUT" "$LOG" "$T"/ai-*.log; then
                fail "a node credential is in an output or a log: $(grep -rlsF "$c" "$OUT" "$LOG" "$T"/ai-*.log)"
        fi
done
ok "no node credential (${#CREDS[@]} issued) in any output, provd's log or the installer's log"
provd_stop
