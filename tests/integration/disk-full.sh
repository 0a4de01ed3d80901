#!/usr/bin/env bash
# A full disk under the state directory (a small tmpfs this test mounts): boot answers that
# would open an attempt fail with 507 and hand nothing out, reads keep working, nothing
# crashes, and once space is back everything proceeds with nothing lost.
source "$(dirname "$0")/lib.sh"
# The state directory's disk holds the store only on SQLite (provd.db and its WAL).
sqlite_only "a full disk under the state directory, where provd.db is" || exit 0
if ! mkdir -p "$T/fs" || ! mount -t tmpfs -o size=512k tmpfs "$T/fs" 2>"$T/mount.err"; then
        [ -n "${PROVD_TESTS_NO_SKIP:-}" ] && fail "cannot mount a tmpfs: $(cat "$T/mount.err")"
        echo "SKIP: cannot mount a tmpfs (needs root)"
        exit 77
fi
AT_EXIT+=('umount -l "$T/fs" 2>/dev/null')
STATE="$T/fs/state"

make_inventory "$T/inv.json" 40
provd_start "$T/inv.json"
tok=$(token_of 52:54:00:00:00:01)
event "$tok" '{"phase":"started"}'
[ "$STATUS" = 200 ] || fail "started: $STATUS"

# Fill the file system.
dd if=/dev/zero of="$T/fs/filler" bs=4k 2>/dev/null || true
full=0
for i in $(seq 2 40); do
        mac=$(printf '52:54:00:00:00:%02x' "$i")
        http GET "/v1/boot/$mac"
        case $STATUS in
        200) ;;
        507)
                full=1
                jq_eq .error.code insufficient_storage
                printf '%s' "$BODY" | grep -q provd.token && fail "a token was handed out without being stored"
                http GET /v1/nodes/node-$(printf '%02d' "$i")
                jq_eq .state new
                break
                ;;
        *) fail "GET /v1/boot/$mac on a full disk: $STATUS $(short_body)" ;;
        esac
done
[ "$full" = 1 ] || fail "the state store never ran out of space"
event "$tok" '{"phase":"partitioning"}'
[ "$STATUS" = 507 ] || [ "$STATUS" = 200 ] || fail "installer event on a full disk: $STATUS"
expect_status 200 GET /v1/nodes
expect_status 200 GET /v1/nodes/node-01
kill -0 "$PROVD_PID" || fail "provd died on a full disk"
ok "full disk: 507 insufficient_storage, no token handed out, reads still work"

rm -f "$T/fs/filler"
expect_status 200 GET "/v1/boot/$mac"
event "$tok" '{"phase":"succeeded"}'
[ "$STATUS" = 200 ] || fail "after freeing space: $STATUS $BODY"
expect_status 200 GET /v1/nodes/node-01
jq_eq .state installed
provd_stop
ok "space back: transitions proceed, nothing lost"
