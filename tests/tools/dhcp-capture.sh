#!/bin/bash
# dhcp-capture.sh DHCP_PCAP — writes dhcp-pcap's capture file, reads it back with
# pcap_open_offline (dhcp-pcap --check) and compares every frame's dhcp_parse_frame() result
# with the expectation written next to it; then checks the totals, so a file that silently
# lost frames or changed meaning fails.
set -euo pipefail
tool=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$tool" "$dir/dhcp.pcap" > "$dir/expect.tsv"
out=$("$tool" --check "$dir/dhcp.pcap" "$dir/expect.tsv")
echo "$out"
# the capture header says Ethernet (DLT_EN10MB = 1), little-endian magic a1b2c3d4
magic=$(od -An -tx4 -N4 "$dir/dhcp.pcap" | tr -d ' ')
linktype=$(od -An -tu4 -j20 -N4 "$dir/dhcp.pcap" | tr -d ' ')
[ "$magic" = a1b2c3d4 ] || { echo "bad pcap magic $magic"; exit 1; }
[ "$linktype" = 1 ] || { echo "bad linktype $linktype"; exit 1; }
# every expected class is present: 11 valid frames, each malformed class at least once, and
# the iPXE DISCOVER (442 bytes) cut at every length 1..441
count() { awk -F'\t' -v r="$1" '!/^#/ && $2 == r' "$dir/expect.tsv" | wc -l; }
[ "$(count ok)" = 11 ] || { echo "expected 11 ok frames, got $(count ok)"; exit 1; }
for r in not_dhcp truncated bad_length bad_magic bad_option bad_hwaddr too_many_options; do
        [ "$(count "$r")" -ge 1 ] || { echo "no $r frame"; exit 1; }
done
[ "$(grep -c 'cut to' "$dir/expect.tsv")" = 441 ] || { echo "not every cut length"; exit 1; }
# distinct MACs among the valid frames (the iPXE DISCOVER and REQUEST share one)
[ "$(awk -F'\t' '!/^#/ && $2 == "ok" {print $3}' "$dir/expect.tsv" | sort -u | wc -l)" = 10 ] ||
        { echo "valid frames' MACs are not as documented"; exit 1; }
grep -q " 0 mismatches" <<<"$out"
