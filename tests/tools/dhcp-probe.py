#!/usr/bin/env python3
"""dhcp-probe.py — a DHCP client that asks the way network-boot firmware asks, and prints
what came back, for the dhcp-config integration test.

    dhcp-probe.py IFACE MAC [--arch N] [--vendor-class S] [--user-class S]
                  [--ciaddr A] [--wait SECONDS] [--boot-server]

Broadcasts one DHCPDISCOVER from IFACE (SO_BINDTODEVICE, port 68) with chaddr MAC and the
options a PXE client sends (RFC 2131, RFC 2132, RFC 4578 §2: option 93 client system
architecture, 94 client network interface identifier, 97 client machine identifier; option 60
vendor class, e.g. "PXEClient:Arch:00007:UNDI:003000" (PXE 2.1 §2.2.5) or
"HTTPClient:Arch:00016:UNDI:003000" (UEFI 2.x §24.7); option 77 user class "iPXE" as iPXE sends
it), and prints every DHCPOFFER received within --wait seconds as one JSON line:
{"step": "offer", "from": IP, "yiaddr", "siaddr", "file", "sname", "options": {"60": text,
"43": {"sub": hex, ...}, ...}}.

With --boot-server it then does what PXE clients do with a ProxyDHCP offer (one with yiaddr
0.0.0.0 and option 60 starting "PXEClient"): a DHCPREQUEST with ciaddr --ciaddr to that
server's port 4011 (PXE 2.1 §2.2.6 "Boot Server Discovery"), carrying option 43 suboption 71
(boot item: the first menu item's type, layer 0) when the offer had a boot menu (suboption 9),
and prints the DHCPACK as {"step": "4011", ...}: the first one, at once (that server answers the
one request once; the offers before it are waited for the whole --wait, since any server may
answer a broadcast DISCOVER).  Exit status 0 when it ran (whatever it got),
2 for bad arguments.  Stdlib only; needs CAP_NET_RAW for SO_BINDTODEVICE (root).
"""
import argparse
import json
import os
import select
import socket
import struct
import sys
import time

MAGIC = b"\x63\x82\x53\x63"


def options_bytes(opts):
    out = b""
    for code, value in opts:
        out += bytes([code, len(value)]) + value
    return out + b"\xff"


def packet(mac, xid, msg_type, args, ciaddr="0.0.0.0", extra=()):
    chaddr = bytes.fromhex(mac.replace(":", ""))
    head = struct.pack("!BBBBIHH4s4s4s4s16s64s128s", 1, 1, 6, 0, xid, 0,
                       0x8000 if ciaddr == "0.0.0.0" else 0,
                       socket.inet_aton(ciaddr), b"\0" * 4, b"\0" * 4, b"\0" * 4,
                       chaddr.ljust(16, b"\0"), b"", b"")
    opts = [(53, bytes([msg_type])),
            (57, struct.pack("!H", 1472)),
            (55, bytes([1, 3, 6, 43, 60, 66, 67, 97, 128, 129, 130, 131, 132, 133, 134, 135]))]
    if args.arch is not None:
        opts.append((93, struct.pack("!H", args.arch)))
        opts.append((94, bytes([1, 3, 0])))
        opts.append((97, b"\0" + bytes(range(16))))
    if args.vendor_class:
        opts.append((60, args.vendor_class.encode()))
    if args.user_class:
        opts.append((77, args.user_class.encode()))
    opts.extend(extra)
    return head + MAGIC + options_bytes(opts)


def parse(data):
    if len(data) < 240 or data[236:240] != MAGIC:
        return None
    op, _, _, _, xid, _, _, ciaddr, yiaddr, siaddr, giaddr, chaddr, sname, file = \
        struct.unpack("!BBBBIHH4s4s4s4s16s64s128s", data[:236])
    opts, i = {}, 240
    while i < len(data) and data[i] != 255:
        if data[i] == 0:
            i += 1
            continue
        code, n = data[i], data[i + 1]
        opts[code] = data[i + 2:i + 2 + n]
        i += 2 + n
    return {"op": op, "xid": xid, "yiaddr": socket.inet_ntoa(yiaddr),
            "siaddr": socket.inet_ntoa(siaddr), "chaddr": chaddr[:6].hex(":"),
            "sname": sname.split(b"\0")[0].decode("latin-1"),
            "file": file.split(b"\0")[0].decode("latin-1"), "raw_options": opts}


def suboptions(value):
    subs, i = {}, 0
    while i + 1 < len(value) and value[i] != 255:
        if value[i] == 0:
            i += 1
            continue
        subs[value[i]] = value[i + 2:i + 2 + value[i + 1]]
        i += 2 + value[i + 1]
    return subs


def describe(p, src, step):
    opts = {}
    for code, v in p["raw_options"].items():
        if code == 43:
            opts["43"] = {str(k): s.hex() for k, s in suboptions(v).items()}
        elif code in (60, 66, 67):
            opts[str(code)] = v.decode("latin-1")
        elif code in (54, 1, 3):
            opts[str(code)] = socket.inet_ntoa(v) if len(v) == 4 else v.hex()
        else:
            opts[str(code)] = v.hex()
    return {"step": step, "from": src, "type": p["raw_options"].get(53, b"\0")[0],
            "yiaddr": p["yiaddr"], "siaddr": p["siaddr"], "file": p["file"],
            "sname": p["sname"], "options": opts}


def receive(sock, xid, mac, until, want_type, first=False):
    got = []
    while True:
        left = until - time.monotonic()
        if left <= 0:
            return got
        r, _, _ = select.select([sock], [], [], left)
        if not r:
            return got
        data, (src, _) = sock.recvfrom(4096)
        p = parse(data)
        if p and p["op"] == 2 and p["xid"] == xid and p["chaddr"] == mac.lower() \
                and p["raw_options"].get(53, b"\0")[0] == want_type:
            got.append((p, src))
            if first:
                return got


def main():
    ap = argparse.ArgumentParser(description="DHCP probe that asks like boot firmware")
    ap.add_argument("iface")
    ap.add_argument("mac")
    ap.add_argument("--arch", type=int)
    ap.add_argument("--vendor-class")
    ap.add_argument("--user-class")
    ap.add_argument("--ciaddr", default="0.0.0.0")
    ap.add_argument("--wait", type=float, default=1.5)
    ap.add_argument("--boot-server", action="store_true")
    args = ap.parse_args()

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, args.iface.encode())
    sock.bind(("0.0.0.0", 68))

    xid = struct.unpack("!I", os.urandom(4))[0]
    sock.sendto(packet(args.mac, xid, 1, args), ("255.255.255.255", 67))
    offers = receive(sock, xid, args.mac, time.monotonic() + args.wait, 2)
    for p, src in offers:
        print(json.dumps(describe(p, src, "offer"), sort_keys=True))
    if not args.boot_server:
        return 0
    for p, src in offers:
        o60 = p["raw_options"].get(60, b"")
        if p["yiaddr"] != "0.0.0.0" or not o60.startswith(b"PXEClient"):
            continue
        server = socket.inet_ntoa(p["raw_options"][54]) if 54 in p["raw_options"] else src
        extra = []
        subs = suboptions(p["raw_options"].get(43, b""))
        if 9 in subs and len(subs[9]) >= 2:  # PXE boot menu: ask for its first item, layer 0
            extra.append((43, bytes([71, 4]) + subs[9][:2] + b"\0\0" + b"\xff"))
        xid2 = struct.unpack("!I", os.urandom(4))[0]
        sock.sendto(packet(args.mac, xid2, 3, args, ciaddr=args.ciaddr, extra=extra), (server, 4011))
        for a, asrc in receive(sock, xid2, args.mac, time.monotonic() + args.wait, 5, first=True):
            print(json.dumps(describe(a, asrc, "4011"), sort_keys=True))
        break
    return 0


if __name__ == "__main__":
    sys.exit(main())
