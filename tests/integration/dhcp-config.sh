#!/usr/bin/env bash
# dhcp-config.sh — `provd dhcp-config --dnsmasq` against a real dnsmasq, at the DHCP level, for
# every kind of network-boot client (the QEMU tests cover only UEFI: no BIOS PXE ROM here
# but iPXE's own).  In two network namespaces this test creates (deleted at exit): the boot
# host (bridge br0 10.97.0.1/24; dnsmasq run with exactly the printed configuration plus
# pid file, lease file and log) and a client (a veth on br0, 10.97.0.50/24), where
# tests/tools/dhcp-probe.py asks as firmware asks and prints what came back:
#   BIOS PXE (option 93 = 0, PXEClient)   offer with a PXE boot menu (option 43), then the
#                                         boot server request to port 4011 -> undionly.kpxe
#   UEFI PXE (93 = 7 and 9, PXEClient)    offer without a file, port 4011 -> snponly.efi
#   UEFI HTTP Boot (93 = 16, HTTPClient)  offer with option 60 "HTTPClient" and
#                                         <public_url>/v1/ipxe.efi
#   iPXE (user class iPXE, 93 = 0 and 7)  <public_url>/v1/ipxe, no boot menu, on 67 and 4011
#   a client that is no PXE client        no answer
# No offer carries an address (ProxyDHCP).  The files named are fetched by TFTP (curl) and
# equal the tftp-root's.  Then each line of the configuration that matters is removed in turn
# and the client it serves must lose its answer: the configuration has no line that a test
# does not show to be needed (port=0 and interface= are dnsmasq(8)'s: no DNS, one interface).
# Also the command's usage errors and --config.  Needs root (ip netns); skips (77) when a
# tool is missing, unless PROVD_TESTS_NO_SKIP=1.
set -euo pipefail

# The boot host's namespace (this script runs again in it) and the client's.
source "$(dirname "${BASH_SOURCE[0]}")/lib-netns.sh"
netns_enter dhcp-config client -- "$@"

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
CNS=$PROVD_NETNS_CLIENT # made by netns_enter
DNSMASQ=$(command -v dnsmasq) || skip "dnsmasq missing (dnsmasq-base)"
for t in python3 curl jq; do
	command -v "$t" >/dev/null || skip "$t missing"
done
curl --version | grep -qw tftp || skip "curl has no TFTP support"
TFTP_ROOT=/usr/lib/ipxe
for f in undionly.kpxe snponly.efi; do
	[ -r "$TFTP_ROOT/$f" ] || skip "$TFTP_ROOT/$f missing (ipxe)"
done
PROBE=$SRC/tests/tools/dhcp-probe.py
PUB=http://10.97.0.1:8080
MAC=52:54:00:d4:c0:01

# --- the command's usage errors -------------------------------------------------------------
# expect_usage WANT ARGS...: exit status 2 and WANT in the message
expect_usage() {
	local want=$1 rc=0
	shift
	"$PROVD" dhcp-config "$@" >"$T/out" 2>"$T/err" || rc=$?
	[ "$rc" = 2 ] || fail "dhcp-config $*: exit $rc, want 2 ($(cat "$T/err"))"
	grep -qF -- "$want" "$T/err" || fail "dhcp-config $*: message lacks '$want': $(cat "$T/err")"
	[ ! -s "$T/out" ] || fail "dhcp-config $*: printed a configuration despite the error"
}
expect_usage '--dnsmasq' --proxy-subnet 10.97.0.0/24 --public-url "$PUB"
expect_usage '--proxy-subnet NETWORK[/LEN] is required' --dnsmasq --public-url "$PUB"
expect_usage 'bad --proxy-subnet: 10.97.0.1/24 has host bits set (the network is 10.97.0.0/24)' \
	--dnsmasq --proxy-subnet 10.97.0.1/24 --public-url "$PUB"
expect_usage 'bad --proxy-subnet' --dnsmasq --proxy-subnet eth0 --public-url "$PUB"
expect_usage 'bad --public-url' --dnsmasq --proxy-subnet 10.97.0.0/24 --public-url 10.97.0.1:8080
expect_usage 'bad --public-url' --dnsmasq --proxy-subnet 10.97.0.0/24 --public-url "$PUB/a,b"
expect_usage 'bad --tftp-root' --dnsmasq --proxy-subnet 10.97.0.0/24 --public-url "$PUB" --tftp-root lib/ipxe
expect_usage 'bad --interface' --dnsmasq --proxy-subnet 10.97.0.0/24 --public-url "$PUB" --interface a/b
printf '[serve]\nlisten = 10.97.0.1:8080\n' >"$T/nourl.ini"
expect_usage "no public URL: give --public-url URL, or set public_url= in [serve] of $T/nourl.ini" \
	--dnsmasq --proxy-subnet 10.97.0.0/24 --config "$T/nourl.ini"
printf '[serve]\npublic_url = %s/\ninventory = /nonexistent\n' "$PUB" >"$T/provd.ini"
# The config file is read as `provd serve` reads it: a bad key is an error naming it.
printf '[serve]\npublic_url = %s\npublic_uri = x\n' "$PUB" >"$T/typo.ini"
rc=0
"$PROVD" dhcp-config --dnsmasq --proxy-subnet 10.97.0.0/24 --config "$T/typo.ini" >"$T/out" 2>"$T/err" || rc=$?
if [ "$rc" != 1 ] || ! grep -qF 'unknown key "public_uri" in [serve]' "$T/err"; then
	fail "a typo in the config file: exit $rc, $(cat "$T/err")"
fi
"$PROVD" dhcp-config --help | grep -qF -- '--proxy-subnet NETWORK[/LEN]' || fail "dhcp-config --help lacks --proxy-subnet"
ok "usage errors name the flag; the config file is checked as provd serve checks it"

# The configuration under test: public URL from provd.ini, default TFTP root.
"$PROVD" dhcp-config --dnsmasq --config "$T/provd.ini" --proxy-subnet 10.97.0.0/24 --interface br0 >"$T/proxy.conf"
"$DNSMASQ" --test --conf-file="$T/proxy.conf" 2>&1 | grep -q 'syntax check OK' || fail "dnsmasq --test rejects the configuration"
grep -qxF "tftp-root=$TFTP_ROOT" "$T/proxy.conf" || fail "default tftp-root is not $TFTP_ROOT"
ok "dhcp-config output passes dnsmasq --test"

# --- the network ----------------------------------------------------------------------------
ip link set lo up
ip link add br0 type bridge
ip addr add 10.97.0.1/24 dev br0
ip link set br0 up
ip link add c0 type veth peer name c0b
ip link set c0b master br0
ip link set c0b up
ip link set c0 netns "$CNS"
ip -n "$CNS" link set lo up
ip -n "$CNS" link set c0 address "$MAC"
ip -n "$CNS" addr add 10.97.0.50/24 dev c0
ip -n "$CNS" link set c0 up

DNSMASQ_PID=
# start_dnsmasq CONF: runs dnsmasq with CONF plus the instance plumbing; waits until it serves.
start_dnsmasq() {
	stop_dnsmasq
	: >"$T/dnsmasq.log"
	"$DNSMASQ" --conf-file="$1" --keep-in-foreground --log-dhcp --log-facility="$T/dnsmasq.log" \
		--pid-file="$T/dnsmasq.pid" --dhcp-leasefile="$T/dnsmasq.leases" 2>>"$T/dnsmasq.err" &
	DNSMASQ_PID=$!
	PIDS+=("$DNSMASQ_PID")
	for _ in $(seq 1 50); do
		grep -q 'started, version' "$T/dnsmasq.log" 2>/dev/null && return 0
		kill -0 "$DNSMASQ_PID" 2>/dev/null || fail "dnsmasq exited: $(cat "$T/dnsmasq.err" "$T/dnsmasq.log")"
		sleep 0.1
	done
	fail "dnsmasq did not start within 5 s: $(cat "$T/dnsmasq.log")"
}
stop_dnsmasq() {
	[ -n "$DNSMASQ_PID" ] || return 0
	kill -TERM "$DNSMASQ_PID" 2>/dev/null || true
	wait "$DNSMASQ_PID" 2>/dev/null || true
	DNSMASQ_PID=
}

# probe NAME ARGS...: dhcp-probe.py from the client; its JSON lines in $T/NAME.json
probe() {
	local name=$1
	shift
	ip netns exec "$CNS" python3 "$PROBE" c0 "$MAC" --ciaddr 10.97.0.50 --wait 1.5 "$@" >"$T/$name.json" ||
		fail "dhcp-probe $name failed"
}
# got NAME JQ-FILTER MESSAGE: some line of NAME's answers passes the filter
got() {
	jq -se "any(.[]; $2)" "$T/$1.json" >/dev/null || fail "$1: $3; answers: $(cat "$T/$1.json")"
}
# answered NAME JQ-FILTER: true if some line passes (no failure)
answered() {
	jq -se "any(.[]; $2)" "$T/$1.json" >/dev/null
}

# The cases, each a probe and the answer it must get.
BIOS=(--arch 0 --vendor-class PXEClient:Arch:00000:UNDI:002001 --boot-server)
EFI7=(--arch 7 --vendor-class PXEClient:Arch:00007:UNDI:003000 --boot-server)
EFI9=(--arch 9 --vendor-class PXEClient:Arch:00009:UNDI:003016 --boot-server)
HTTP=(--arch 16 --vendor-class HTTPClient:Arch:00016:UNDI:003000)
IPXE0=(--arch 0 --vendor-class PXEClient:Arch:00000:UNDI:002001 --user-class iPXE --boot-server)
IPXE7=(--arch 7 --vendor-class PXEClient:Arch:00007:UNDI:003010 --user-class iPXE --boot-server)
W_BIOS='.step == "4011" and .file == "undionly.kpxe" and .siaddr == "10.97.0.1"'
W_EFI='.step == "4011" and .file == "snponly.efi" and .siaddr == "10.97.0.1"'
W_HTTP='.step == "offer" and .file == "'$PUB'/v1/ipxe.efi" and .options["60"] == "HTTPClient" and .yiaddr == "0.0.0.0"'
W_IPXE='.step == "offer" and .file == "'$PUB'/v1/ipxe"'

# --- every client gets its answer -----------------------------------------------------------
start_dnsmasq "$T/proxy.conf"
probe bios "${BIOS[@]}"
got bios '.step == "offer" and .file == "" and .options["60"] == "PXEClient" and (.options["43"]["9"] // "" | contains("70726f76643a2069505845"))' \
	"no offer with the PXE boot menu item \"provd: iPXE\""
got bios "$W_BIOS" "the boot server request did not get undionly.kpxe"
probe efi7 "${EFI7[@]}"
got efi7 '.step == "offer" and .file == "" and .siaddr == "10.97.0.1" and .options["60"] == "PXEClient"' "no ProxyDHCP offer"
got efi7 "$W_EFI" "port 4011 did not give snponly.efi"
probe efi9 "${EFI9[@]}"
got efi9 "$W_EFI" "port 4011 did not give snponly.efi"
probe http "${HTTP[@]}"
got http "$W_HTTP" "no HTTPClient offer with $PUB/v1/ipxe.efi"
probe ipxe0 "${IPXE0[@]}"
got ipxe0 "$W_IPXE" "iPXE (BIOS) did not get $PUB/v1/ipxe"
if answered ipxe0 '.options["43"]["9"] != null'; then fail "ipxe0: iPXE got a PXE boot menu (it would run it instead of the URL)"; fi
probe ipxe7 "${IPXE7[@]}"
got ipxe7 "$W_IPXE" "iPXE (UEFI) did not get $PUB/v1/ipxe"
got ipxe7 '.step == "4011" and .file == "'$PUB'/v1/ipxe"' "iPXE (UEFI) asking port 4011 did not get $PUB/v1/ipxe"
probe plain
if answered plain 'true'; then fail "a client that is no PXE client got an answer: $(cat "$T/plain.json")"; fi
for f in bios efi7 efi9 http ipxe0 ipxe7; do
	if answered "$f" '.step == "offer" and .yiaddr != "0.0.0.0"'; then fail "$f: ProxyDHCP offered an address"; fi
done
for f in undionly.kpxe snponly.efi; do
	ip netns exec "$CNS" curl -sS --max-time 10 -o "$T/tftp-$f" "tftp://10.97.0.1/$f" || fail "TFTP $f failed"
	cmp -s "$T/tftp-$f" "$TFTP_ROOT/$f" || fail "TFTP $f differs from $TFTP_ROOT/$f"
done
ok "BIOS PXE -> undionly.kpxe, UEFI PXE (7, 9) -> snponly.efi, HTTP Boot -> /v1/ipxe.efi, iPXE -> /v1/ipxe; TFTP serves both; no addresses"

# --- every line is needed: remove it, and the client it serves loses its answer -------------
# ablate PATTERN PROBE-NAME WANT-FILTER WHY: without the lines matching PATTERN (grep -E), the
# probe's answers must no longer pass WANT-FILTER.
ablate() {
	local pattern=$1 name=$2 want=$3 why=$4
	shift 4
	grep -qE "$pattern" "$T/proxy.conf" || fail "ablation: no line matches $pattern"
	grep -vE "$pattern" "$T/proxy.conf" >"$T/ablated.conf"
	start_dnsmasq "$T/ablated.conf"
	probe "$name-without" "$@"
	if answered "$name-without" "$want"; then
		fail "without /$pattern/ the $name client still got its answer: the line is not needed?"
	fi
	echo "  without /$pattern/: $why"
}
ablate '^dhcp-range=' efi7 "$W_EFI" "no ProxyDHCP at all" "${EFI7[@]}"
grep -vE '^enable-tftp$' "$T/proxy.conf" >"$T/ablated.conf"
start_dnsmasq "$T/ablated.conf"
if ip netns exec "$CNS" curl -sS --max-time 5 -o /dev/null tftp://10.97.0.1/snponly.efi 2>/dev/null; then
	fail "without enable-tftp snponly.efi could still be fetched by TFTP"
fi
echo "  without /^enable-tftp$/: the files named cannot be fetched (no TFTP server)"
ablate '^pxe-service=' http "$W_HTTP" "no pxe-service: proxy mode answers nobody, HTTP Boot included" "${HTTP[@]}"
ablate '^pxe-service=.*x86PC' bios "$W_BIOS" "BIOS PXE gets no boot file" "${BIOS[@]}"
ablate '^pxe-service=.*x86-64_EFI' efi7 "$W_EFI" "UEFI option 93 = 7 gets no boot file" "${EFI7[@]}"
ablate '^pxe-service=.*BC_EFI' efi9 "$W_EFI" "UEFI option 93 = 9 gets no boot file" "${EFI9[@]}"
ablate '^dhcp-pxe-vendor=' http "$W_HTTP" "HTTPClient is not a PXE vendor class: no offer" "${HTTP[@]}"
ablate '^dhcp-vendorclass=set:httpboot' http "$W_HTTP" "no httpboot tag: the offer has no /v1/ipxe.efi URL" "${HTTP[@]}"
ablate '^dhcp-boot=tag:httpboot' http "$W_HTTP" "no URL for HTTP Boot" "${HTTP[@]}"
ablate '^dhcp-userclass=' ipxe7 "$W_IPXE" "iPXE is not told apart: it gets snponly.efi again (a loop)" "${IPXE7[@]}"
ablate '^dhcp-boot=tag:ipxe,' ipxe7 "$W_IPXE" "no URL for iPXE" "${IPXE7[@]}"
# tag:!ipxe on the pxe-service lines: without it iPXE is offered the boot service (itself).
sed 's/^pxe-service=tag:!ipxe,/pxe-service=/' "$T/proxy.conf" >"$T/ablated.conf"
start_dnsmasq "$T/ablated.conf"
probe ipxe7-untagged "${IPXE7[@]}"
if answered ipxe7-untagged '.step == "4011" and .file == "'$PUB'/v1/ipxe"'; then
	fail "without tag:!ipxe iPXE (UEFI) on port 4011 still got the URL"
fi
got ipxe7-untagged '.step == "4011" and .file == "snponly.efi"' "without tag:!ipxe iPXE should get snponly.efi again"
echo "  without tag:!ipxe: iPXE (UEFI) is handed snponly.efi again on port 4011 (a loop)"
stop_dnsmasq
ok "each line is needed: without it a client loses its answer"
