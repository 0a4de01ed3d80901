#!/usr/bin/env bash
# api/inventory.schema.json agrees with provd: the shipped example and generated inventories
# validate and load; inventories provd rejects are rejected by the schema too.
source "$(dirname "$0")/lib.sh"
python3 -c 'import jsonschema' 2>/dev/null || { [ -n "${PROVD_TESTS_NO_SKIP:-}" ] && fail "python3-jsonschema missing"; echo "SKIP: python3-jsonschema"; exit 77; }

validate() {
        python3 - "$SRC/api/inventory.schema.json" "$1" <<'PY'
import json, sys, jsonschema
schema = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)
jsonschema.Draft202012Validator(schema).validate(json.load(open(sys.argv[2])))
PY
}

# validate_all valid|invalid FILE...: one validator run for many files; prints each file the
# schema judges otherwise and fails if there is one.
validate_all() {
        python3 - "$SRC/api/inventory.schema.json" "$@" <<'PY'
import json, sys, jsonschema
schema = json.load(open(sys.argv[1]))
v = jsonschema.Draft202012Validator(schema)
want_valid = sys.argv[2] == "valid"
wrong = [f for f in sys.argv[3:] if v.is_valid(json.load(open(f))) != want_valid]
for f in wrong:
    print(f)
sys.exit(1 if wrong else 0)
PY
}

validate "$SRC/examples/inventory.json" || fail "examples/inventory.json does not validate"
make_inventory "$T/inv.json" 5
validate "$T/inv.json" || fail "generated inventory does not validate"
ok "example and generated inventories validate against the schema"

# The quickstart's rendering of the example loads in provd.
sed "s|/nix/store/00000000000000000000000000000000-example-netboot|$SRC/examples/netboot|g" \
        "$SRC/examples/inventory.json" >"$T/example.json"
provd_start "$T/example.json"
expect_status 200 GET /v1/nodes
jq_eq '[.nodes[].name] | join(",")' 'c001,gpu-01,node-01,node-02' # name order
jq_eq '.nodes[3].mac | join(",")' '52:54:00:00:00:02,52:54:00:00:01:02'
expect_status 200 GET /v1/nodes/c001
jq_eq .system.toplevel /nix/store/88888888888888888888888888888888-nixos-system-compute
expect_status 200 GET "/v1/files$SRC/examples/netboot/bzImage"
provd_stop
ok "provd loads the example inventory"

# Both reject what the format forbids.
i=0
for f in '.version = 2' '.nodes[0].mac = "52:54:00:00:00:01"' '.nodes[0].boot.kernel = "bzImage"' \
        '.nodes[0].system.toplevel = "/usr/lib/sys"' '.nodes[0].boot.cmdline = "a {{ b"' \
        '.nodes[0].boot.cmdline = "x provd.token=y"' '.nodes[0].kernal = 1' 'del(.nodes[0].boot.initrd)' \
        '.nodes[0].name = "-bad"' '.nodes[0].boot.initrd = ["/a/../b"]' '.nodes[0].bmc.port = 70000' \
        '.nodes[0].mac = ["52:54:00:00:00"]' '.nodes[0].system.install = "/nix/store/a b"' \
        '.nodes[0].system.install = "/nix/store/x{{y"'; do
        i=$((i + 1))
        jq "$f" "$T/inv.json" >"$T/bad$i.json"
        if validate "$T/bad$i.json" 2>/dev/null; then fail "schema accepts: $f"; fi
        rc=0
        "$PROVD" serve --inventory "$T/bad$i.json" --state-dir "$T/s$i" --listen 127.0.0.1:0 2>"$T/err" || rc=$?
        [ "$rc" = 1 ] || fail "provd accepts ($rc): $f"
done
ok "$i invalid inventories rejected by both the schema and provd"

# What provd accepts of images, modes and overlays, the schema accepts too.
n=0
for f in 'del(.nodes[3].overlay)' '.nodes[3].overlay = null' '.nodes[3].overlay = {}' '.nodes[3].overlay.files = []' \
        '.nodes[3].overlay.files[0] += {mode: "07777", uid: 2147483647, gid: 0}' '.nodes[3].overlay.files[0].mode = "644"' \
        '.nodes[3].overlay.files[0].path = "/etc/hostname.d/x"' '.nodes[0].mode = "install"' 'del(.images.compute.cmdline)' \
        '.images.compute.cmdline = "rdinit=/x systemd.init=1"' '.images.compute.initrd = []' '.images.unused = .images.compute' \
        '.nodes[3].overlay.files += [range(62) as $i | {path: "/f\($i)", source: "/s"}]'; do
        n=$((n + 1))
        printf '%s\n' "$f" >"$T/sok$n.filter"
        jq "$f" "$T/example.json" >"$T/sok$n.json"
done
wrong=$(validate_all valid "$T"/sok*.json) || fail "schema rejects: $(for w in $wrong; do cat "${w%.json}.filter"; done)"
ok "valid variants of images, modes and overlays validate"

# The same for images, modes and overlays, from the example (nodes[3] is the stateless c001).
n=0
for f in '.nodes[3].boot = .nodes[0].boot' '.nodes[3].system = .nodes[0].system' 'del(.nodes[3].image)' \
        '.nodes[3].mode = "diskless"' '.nodes[3].image = "bad name"' '.nodes[0].image = "compute"' \
        '.nodes[0].overlay = {files: []}' '.nodes[0].mode = "stateless"' '.nodes[3].overlay.files[0].path = "/etc/hostname"' \
        '.nodes[3].overlay.files[0].path = "/var/lib/provd-node/credential"' '.nodes[3].overlay.files[0].path = "/etc/provd/x"' \
        '.nodes[3].overlay.files[0].path = "/etc"' '.nodes[3].overlay.files[0].path = "etc/x"' \
        '.nodes[3].overlay.files[0].path = "/etc/../x"' '.nodes[3].overlay.files[0].source = "/nix/store/x-secret"' \
        'del(.nodes[3].overlay.files[0].source)' '.nodes[3].overlay.files[0].mode = 384' \
        '.nodes[3].overlay.files[0].mode = "10000"' '.nodes[3].overlay.files[0].mode = "0800"' \
        '.nodes[3].overlay.files[0].uid = -1' '.nodes[3].overlay.files[0].gid = 2147483648' \
        '.nodes[3].overlay.files[0].owner = 0' '.nodes[3].overlay.filez = []' \
        '.nodes[3].overlay.files += [range(63) as $i | {path: "/f\($i)", source: "/s"}]' \
        '.images.compute.cmdline = "init=/bin/sh"' '.images.compute.cmdline = "quiet provd.node=x"' 'del(.images.compute.init)' \
        '.images.compute.toplevel = "/usr/sys"' '.images["bad name"] = .images.compute' '.images.compute.kernal = "x"' \
        '.images.compute.initrd = [range(16) | "/i"]' '.images = []'; do
        n=$((n + 1))
        printf '%s\n' "$f" >"$T/sbad$n.filter"
        jq "$f" "$T/example.json" >"$T/sbad$n.json"
        rc=0
        "$PROVD" serve --inventory "$T/sbad$n.json" --state-dir "$T/ss$n" --listen 127.0.0.1:0 2>"$T/err" || rc=$?
        [ "$rc" = 1 ] || fail "provd accepts ($rc): $f"
done
wrong=$(validate_all invalid "$T"/sbad*.json) || fail "schema accepts: $(for w in $wrong; do cat "${w%.json}.filter"; done)"
ok "$n invalid images, modes and overlays rejected by both the schema and provd"
