#!/usr/bin/env bash
# bench/boot-storm/overlay-gen.sh [BUILD_DIR] — overlay generation time for NODES (10,000)
# stateless nodes, each with two small per-node files (SSH host key stand-ins): provd's
# overlay cache cold (every node rendered: files read, credential made, cpio written with
# libarchive) and warm (every node a cache hit: inputs key and two stat(2)s), next to GNU
# `find . | cpio -o -H newc` of the same tree staged per node (REF_NODES of them: one
# process pair per node, as a site script would run it).  Per overlay: wall-clock time and
# provd's CPU time (user + system, getrusage(2)), which a loaded machine distorts less.
# See bench/README.md.
#
# BUILD_DIR: a meson build with tests enabled (overlay-gen is built with the tests); default
# build-bench of this checkout, set up as a release build if it does not exist.  Figures are
# medians of ROUNDS (3) runs; the load average is printed.  Never fails on a figure.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/../.." && pwd)
B=${1:-$SRC/build-bench}
NODES=${NODES:-10000}
THREADS=${THREADS:-1}
ROUNDS=${ROUNDS:-3}
WARM_PASSES=${WARM_PASSES:-3}
REF_NODES=${REF_NODES:-500}

log() { printf '%s\n' "$*" >&2; }

if [ ! -d "$B" ]; then
        log "setting up $B (release, tests enabled)"
        meson setup "$B" --buildtype=release -Dtests=enabled >/dev/null
fi
ninja -C "$B" tests/overlay-gen >/dev/null || {
        log "cannot build tests/overlay-gen in $B: it needs a build with -Dtests=enabled (default: build-bench)"
        exit 1
}
BIN=$B/tests/overlay-gen
if { ldd "$BIN" 2>/dev/null | grep -Eq 'lib(a|ub|t)san'; } || { nm "$BIN" 2>/dev/null | grep -Eq '__(asan|ubsan|tsan)_init'; }; then
        log "note: $BIN is built with sanitizers; its figures will be pessimistic"
fi
command -v cpio >/dev/null || { log "cpio is not installed (Debian: cpio)"; exit 1; }

T=$(mktemp -d "${TMPDIR:-/tmp}/overlay-gen.XXXXXX")
trap 'rm -rf "$T"' EXIT INT TERM

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# GNU cpio: REF_NODES trees as provd's overlay lays them out, staged once (not timed).
stage() {
        local d=$1 n=$2
        mkdir -p "$d/etc/ssh" "$d/etc/provd" "$d/var/lib/provd-node"
        printf '%s\n' "$n" >"$d/etc/hostname"
        printf '%s\n' "$n" >"$d/var/lib/provd-node/node"
        printf 'http://10.0.0.1:8080\n' >"$d/var/lib/provd-node/url"
        printf 'pvn_%s\n' "$(head -c 32 /dev/urandom | base64 | tr -d '=\n' | tr '/+' '_-')" >"$d/var/lib/provd-node/credential"
        head -c 411 /dev/urandom | base64 >"$d/etc/ssh/ssh_host_ed25519_key"
        head -c 97 /dev/urandom | base64 >"$d/etc/ssh/ssh_host_ed25519_key.pub"
        printf '/etc/hostname\n/var/lib/provd-node/node\n/var/lib/provd-node/url\n/var/lib/provd-node/credential\n/etc/ssh/ssh_host_ed25519_key\n/etc/ssh/ssh_host_ed25519_key.pub\n' >"$d/etc/provd/overlay.manifest"
        chmod 600 "$d/var/lib/provd-node/credential" "$d/etc/ssh/ssh_host_ed25519_key"
}
for i in $(seq 1 "$REF_NODES"); do stage "$T/ref/c$i" "c$i"; done
# Prints the wall-clock and CPU (user + system of every process it ran) µs per node.
ref_run() {
        local t0 t1 cpu TIMEFORMAT='%U %S'
        t0=$(date +%s%N)
        cpu=$({ time for i in $(seq 1 "$REF_NODES"); do
                (cd "$T/ref/c$i" && find . -mindepth 1 | cpio -o -H newc --quiet >"$T/ref/c$i.cpio")
        done; } 2>&1)
        t1=$(date +%s%N)
        echo "$(((t1 - t0) / 1000 / REF_NODES)) $(awk -v n="$REF_NODES" '{ printf "%.0f", ($1 + $2) * 1e6 / n }' <<<"$cpu")"
}

load_before=$(cut -d' ' -f1 /proc/loadavg)
for f in cold warm ref-us rss cold-cpu warm-cpu; do : >"$T/$f"; done
for r in $(seq 1 "$ROUNDS"); do
        rm -rf "$T/src" && mkdir "$T/src"
        "$BIN" --dir "$T/src" --nodes "$NODES" --threads "$THREADS" --warm-passes "$WARM_PASSES" | tee "$T/out.$r" >&2
        awk '$1 == "cold" { print $5 }' "$T/out.$r" >>"$T/cold"
        awk '$1 == "warm" { print $5 }' "$T/out.$r" | median >>"$T/warm"
        awk -v n="$NODES" '$1 == "cold" { printf "%.2f\n", ($8 + $9) * 1000 / n }' "$T/out.$r" >>"$T/cold-cpu"
        awk -v n="$NODES" '$1 == "warm" { printf "%.2f\n", ($8 + $9) * 1000 / n }' "$T/out.$r" | median >>"$T/warm-cpu"
        awk '$1 == "cold" { b = $6 } $1 == "warm" { rss = $7 } END { print b, rss }' "$T/out.$r" >>"$T/rss"
        ref_run >>"$T/ref-us"
done
load_after=$(cut -d' ' -f1 /proc/loadavg)

cold=$(median <"$T/cold")
cold_ms=$(awk '$1 == "cold" { print $4 }' "$T"/out.* | median)
warm=$(median <"$T/warm")
ref=$(awk '{ print $1 }' "$T/ref-us" | median)
ref_cpu=$(awk '{ print $2 }' "$T/ref-us" | median)
bytes=$(awk '{ print $1 }' "$T/rss" | median)
rss=$(awk '{ print $2 }' "$T/rss" | median)
ref_bytes=$(stat -c %s "$T/ref/c1.cpio")
cold_cpu=$(median <"$T/cold-cpu")
warm_cpu=$(median <"$T/warm-cpu")

echo
echo "overlay generation: $NODES nodes x 2 files, $THREADS thread(s), medians of $ROUNDS runs; load average $load_before -> $load_after"
printf '%-44s %12s %14s %14s %10s\n' "" "total ms" "us/overlay" "CPU us/ovl" "bytes"
printf '%-44s %12s %14s %14s %10s\n' "provd cold (read files, credential, render)" "$cold_ms" "$cold" "$cold_cpu" "$bytes"
printf '%-44s %12s %14s %14s %10s\n' "provd warm (cache hit: key + 2 stat)" "$(awk -v u="$warm" -v n="$NODES" 'BEGIN { printf "%.1f", u * n / 1000 }')" "$warm" "$warm_cpu" "$bytes"
printf '%-44s %12s %14s %14s %10s\n' "GNU find | cpio -o -H newc ($REF_NODES nodes)" "$(awk -v u="$ref" -v n="$NODES" 'BEGIN { printf "(%.0f)", u * n / 1000 }')" "$ref" "$ref_cpu" "$ref_bytes"
awk -v c="$cold" -v w="$warm" -v r="$ref" -v cc="$cold_cpu" -v wc="$warm_cpu" -v rc="$ref_cpu" 'BEGIN {
        printf "cpio / provd cold: %.0fx (CPU %.0fx)   cpio / provd warm: %.0fx (CPU %.0fx)\n", r / c, rc / cc, r / w, rc / wc }'
echo "provd RSS after the passes: $rss KiB (the whole process: $NODES nodes' overlays cached, plus the benchmark's node table)"
