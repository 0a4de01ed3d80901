#!/usr/bin/env bash
# systemd/provd.service and systemd/provd.socket pass `systemd-analyze verify` without a
# single warning, and the service's sandbox stays tight (`systemd-analyze security`).
#
# verify checks that ExecStart='s binary exists, so the units are copied to a temp dir with
# /usr/bin/provd and /etc/provd/provd.ini rewritten to this build's provd and a temp config.
# verify also loads the units ours depend on (network-online.target, sockets.target, ...)
# from the host and prints their warnings too: those lines name a unit file under
# /lib/systemd, /usr/lib/systemd, /etc/systemd or /run/systemd and are reported but ignored
# (they are the host's, not ours).  Every other line fails the test.  The test first proves
# it can fail: a copy with a misspelt directive and one with a missing binary must be caught.
source "$(dirname "$0")/lib.sh"

if ! command -v systemd-analyze >/dev/null; then
        [ -n "${PROVD_TESTS_NO_SKIP:-}" ] && fail "systemd-analyze missing (Debian package systemd)"
        echo "SKIP: systemd-analyze missing (Debian package systemd)"
        exit 77
fi

U="$T/units"
mkdir -p "$U"
cat >"$T/provd.ini" <<EOF
[serve]
inventory = $T/inv.json
state_dir = $T/state
EOF
for f in provd.service provd.socket; do
        sed -e "s#/usr/bin/provd#$PROVD#g" -e "s#/etc/provd/provd.ini#$T/provd.ini#g" "$SRC/systemd/$f" >"$U/$f"
done
grep -qF "ExecStart=$PROVD serve --config $T/provd.ini" "$U/provd.service" ||
        fail "ExecStart= of provd.service is not '/usr/bin/provd serve --config /etc/provd/provd.ini' any more: update this test"

# verify_clean FILE...: runs verify; fails on a non-zero exit or on any line not from the host.
verify_clean() {
        local out rc=0 line ours=()
        out=$(cd "$U" && systemd-analyze verify "$@" 2>&1) || rc=$?
        while IFS= read -r line; do
                [ -n "$line" ] || continue
                if [[ $line =~ ^(/usr)?/lib/systemd/|^/etc/systemd/|^/run/systemd/ ]] && [[ $line != *provd* ]]; then
                        echo "# ignored (a host unit, not ours): $line"
                        continue
                fi
                ours+=("$line")
        done <<<"$out"
        if [ "$rc" -ne 0 ] || [ "${#ours[@]}" -gt 0 ]; then
                printf '%s\n' "${ours[@]}" >"$T/verify.out"
                return 1
        fi
        return 0
}

# The test can fail: a misspelt directive and a bad value are warnings (exit status 0!),
# a missing binary is an error.
{ cat "$U/provd.service"; echo 'ProtectSytem=strict'; } | sed 's/^WatchdogSec=.*/WatchdogSec=thirty/' >"$U/bad-key.service"
verify_clean ./bad-key.service && fail "verify_clean accepted a unit with a misspelt directive"
grep -q "Unknown key 'ProtectSytem'" "$T/verify.out" || fail "no 'Unknown key' warning: $(cat "$T/verify.out")"
grep -q "thirty" "$T/verify.out" || fail "no warning for WatchdogSec=thirty: $(cat "$T/verify.out")"
sed "s#^ExecStart=$PROVD#ExecStart=$T/no-such-provd#" "$U/provd.service" >"$U/no-binary.service"
verify_clean ./no-binary.service && fail "verify_clean accepted a unit whose binary does not exist"
rm "$U/bad-key.service" "$U/no-binary.service"
ok "a misspelt directive, a bad value and a missing binary are caught"

verify_clean ./provd.socket ./provd.service || fail "systemd-analyze verify: $(cat "$T/verify.out")"
ok "systemd-analyze verify provd.socket provd.service: no warnings"

# The properties the daemon relies on, as systemd parsed them would be best; without a
# running manager, the file is the source.
for want in 'Type=notify' 'NotifyAccess=main' 'WatchdogSec=30s' 'DynamicUser=yes' 'StateDirectory=provd' \
        'ProtectSystem=strict' 'CapabilityBoundingSet=CAP_NET_RAW' 'LoadCredential=api-tokens:/etc/provd/api-tokens'; do
        grep -qxF "$want" "$U/provd.service" || fail "provd.service lacks $want"
done
grep -qx 'ListenStream=8080' "$U/provd.socket" || fail "provd.socket lacks ListenStream=8080"

# Exposure as systemd-analyze rates it (0 = fully sandboxed, 10 = none); the unit is at 1.6
# with systemd 252.  Loosening the sandbox past 2.0 fails here.
if ! (cd "$U" && systemd-analyze security --offline=yes --threshold=20 ./provd.service) >"$T/security.out" 2>&1; then
        cat "$T/security.out" >&2
        fail "systemd-analyze security: exposure above 2.0: $(tail -n 1 "$T/security.out")"
fi
ok "systemd-analyze security: $(grep -o 'exposure level for provd.service: .*' "$T/security.out")"
