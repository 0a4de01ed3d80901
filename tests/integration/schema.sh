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

validate "$SRC/examples/inventory.json" || fail "examples/inventory.json does not validate"
make_inventory "$T/inv.json" 5
validate "$T/inv.json" || fail "generated inventory does not validate"
ok "example and generated inventories validate against the schema"

# The quickstart's rendering of the example loads in provd.
sed "s|/nix/store/00000000000000000000000000000000-example-netboot|$SRC/examples/netboot|g" \
        "$SRC/examples/inventory.json" >"$T/example.json"
provd_start "$T/example.json"
expect_status 200 GET /v1/nodes
jq_eq '[.nodes[].name] | join(",")' 'gpu-01,node-01,node-02' # name order
jq_eq '.nodes[2].mac | join(",")' '52:54:00:00:00:02,52:54:00:00:01:02'
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
