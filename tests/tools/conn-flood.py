#!/usr/bin/env python3
"""conn-flood.py — holds many TCP connections to an HTTP server, the way a connection-
exhaustion attacker does, for the hostile tests.  Loopback only.

    conn-flood.py --target 127.0.0.1:PORT --conns N --sources A.B.C.D[-E] [--mode idle|slow]
                  [--interval SECONDS] [--rate CONNS_PER_S] [--duration SECONDS]
                  [--reconnect] [--status FILE]

Opens --conns connections spread evenly over the source addresses of --sources (each socket
is bound to its source address before connect(), so the server sees that many clients; a
range 127.0.1.1-100 is the addresses 127.0.1.1 .. 127.0.1.100), at most --rate new
connections per second, and keeps them open for --duration seconds:

  idle   sends nothing.
  slow   sends the bytes of a never-ending request header ("GET /v1/boot/... HTTP/1.1\\r\\n"
         then "X-Slow-N: aaaa...\\r\\n" lines) one byte per connection every --interval
         seconds, phases spread at random over the interval.

With --reconnect a connection the server closed is opened again (at most --rate opens per
second in all), as a persistent attacker does; without it the attack decays as the server
closes connections.  Only destinations in 127.0.0.0/8 are accepted.

Every second, and at the end, it writes one JSON object to --status (replaced atomically;
default: none) and the last one to stdout:
  {"t": seconds since start, "target": N, "open": connections established and not closed,
   "connecting": connect() in progress, "opened": connections established in all,
   "closed_by_server": closes seen (EOF, reset, or a response), "connect_errors": N,
   "bytes_sent": N, "max_open": the most established at once}
"open" counts what the client sees as established: on Linux that includes connections
the server's kernel completed but the server has not accept()ed yet.

Raises its own RLIMIT_NOFILE soft limit to --conns + 64 (fails if the hard limit is lower).
Exit status 0 when it ran for --duration, 2 for bad arguments or limits.
"""
import argparse
import errno
import heapq
import ipaddress
import json
import os
import random
import resource
import selectors
import socket
import sys
import time

IP_BIND_ADDRESS_NO_PORT = 24  # linux/in.h: pick the port at connect(), per 4-tuple


def parse_sources(spec):
    """"127.0.1.1-100" or "127.0.1.1" -> list of addresses, all in 127.0.0.0/8."""
    if "-" in spec:
        first, last = spec.split("-", 1)
        base = ipaddress.IPv4Address(first)
        if "." in last:
            end = ipaddress.IPv4Address(last)
        else:
            end = ipaddress.IPv4Address(str(base).rsplit(".", 1)[0] + "." + last)
        addrs = [str(ipaddress.IPv4Address(i)) for i in range(int(base), int(end) + 1)]
    else:
        addrs = [spec]
    loop = ipaddress.IPv4Network("127.0.0.0/8")
    for a in addrs:
        if ipaddress.IPv4Address(a) not in loop:
            raise ValueError(f"{a} is not a loopback address")
    if not addrs:
        raise ValueError("empty source range")
    return addrs


def slow_bytes(i):
    """The never-ending request a slow connection dribbles: byte n of it."""
    head = b"GET /v1/boot/52:54:00:aa:bb:cc HTTP/1.1\r\nHost: provd\r\n"
    while True:
        yield from head
        head = b"X-Slow-%d: %s\r\n" % (i, b"a" * 40)
        i += 1


class Conn:
    __slots__ = ("sock", "src", "state", "gen", "due")

    def __init__(self, sock, src):
        self.sock = sock
        self.src = src
        self.state = "connecting"
        self.gen = None
        self.due = 0.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", required=True)
    ap.add_argument("--conns", type=int, required=True)
    ap.add_argument("--sources", required=True)
    ap.add_argument("--mode", choices=["idle", "slow"], default="idle")
    ap.add_argument("--interval", type=float, default=20.0)
    ap.add_argument("--rate", type=float, default=2000.0)
    ap.add_argument("--duration", type=float, default=30.0)
    ap.add_argument("--reconnect", action="store_true")
    ap.add_argument("--status")
    a = ap.parse_args()

    host, port = a.target.rsplit(":", 1)
    port = int(port)
    try:
        if ipaddress.IPv4Address(host) not in ipaddress.IPv4Network("127.0.0.0/8"):
            raise ValueError
        sources = parse_sources(a.sources)
    except ValueError as e:
        print(f"conn-flood: loopback addresses only: {e or host}", file=sys.stderr)
        return 2
    if not (1 <= a.conns <= 100000) or a.rate <= 0 or not (0 < a.duration <= 600) or a.interval <= 0:
        print("conn-flood: bad --conns/--rate/--duration/--interval", file=sys.stderr)
        return 2

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = a.conns + 64
    if soft < need:
        if hard != resource.RLIM_INFINITY and hard < need:
            print(f"conn-flood: RLIMIT_NOFILE hard limit {hard} < {need}", file=sys.stderr)
            return 2
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))

    sel = selectors.DefaultSelector()
    conns = {}  # fd -> Conn
    timers = []  # (due, seq, fd, gen-token) for slow sends
    seq = 0
    stats = {"target": a.conns, "open": 0, "connecting": 0, "opened": 0, "closed_by_server": 0,
             "connect_errors": 0, "bytes_sent": 0, "max_open": 0}
    to_open = a.conns  # connections wanted but not opened
    start = time.monotonic()
    end = start + a.duration
    budget = 0.0
    last_budget = start
    next_status = start
    src_i = 0
    rng = random.Random(1)

    def write_status(now):
        st = dict(stats)
        st["t"] = round(now - start, 3)
        st["open"] = sum(1 for c in conns.values() if c.state == "open")
        st["connecting"] = sum(1 for c in conns.values() if c.state == "connecting")
        if a.status:
            tmp = a.status + ".tmp"
            with open(tmp, "w") as f:
                json.dump(st, f)
            os.replace(tmp, a.status)
        return st

    def drop(c, by_server):
        nonlocal to_open
        fd = c.sock.fileno()
        try:
            sel.unregister(c.sock)
        except (KeyError, ValueError):
            pass
        c.sock.close()
        conns.pop(fd, None)
        if by_server:
            stats["closed_by_server"] += 1
        if a.reconnect:
            to_open += 1

    def open_one():
        nonlocal src_i
        src = sources[src_i % len(sources)]
        src_i += 1
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        except OSError:
            pass
        try:
            s.bind((src, 0))
            rc = s.connect_ex((host, port))
        except OSError as e:
            s.close()
            stats["connect_errors"] += 1
            return e.errno
        if rc not in (0, errno.EINPROGRESS):
            s.close()
            stats["connect_errors"] += 1
            return rc
        c = Conn(s, src)
        conns[s.fileno()] = c
        sel.register(s, selectors.EVENT_WRITE, c)
        return 0

    while True:
        now = time.monotonic()
        if now >= end:
            break
        # connection opens, paced by a token bucket of --rate per second
        budget = min(budget + (now - last_budget) * a.rate, max(a.rate / 10, 1))
        last_budget = now
        while to_open > 0 and budget >= 1:
            budget -= 1
            to_open -= 1
            if open_one() != 0:  # e.g. no free port yet: try again on the next round
                to_open += 1
                break
        # slow sends that are due
        while timers and timers[0][0] <= now:
            _, _, fd, c = heapq.heappop(timers)
            if conns.get(fd) is not c or c.state != "open":
                continue
            try:
                n = c.sock.send(bytes([next(c.gen)]))
                stats["bytes_sent"] += n
            except BlockingIOError:
                pass
            except OSError:
                drop(c, True)
                continue
            c.due = now + a.interval
            seq += 1
            heapq.heappush(timers, (c.due, seq, fd, c))
        timeout = 0.05
        if timers:
            timeout = max(0.0, min(timeout, timers[0][0] - now))
        for key, ev in sel.select(timeout):
            c = key.data
            if c.state == "connecting":
                err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err != 0:
                    stats["connect_errors"] += 1
                    drop(c, False)
                    continue
                c.state = "open"
                stats["opened"] += 1
                sel.modify(c.sock, selectors.EVENT_READ, c)
                if a.mode == "slow":
                    c.gen = slow_bytes(c.sock.fileno())
                    c.due = time.monotonic() + rng.uniform(0, a.interval)
                    seq += 1
                    heapq.heappush(timers, (c.due, seq, c.sock.fileno(), c))
                continue
            # readable: the server answered or closed; either way the connection is over
            try:
                data = c.sock.recv(65536)
            except OSError:
                data = b""
            if not data:
                drop(c, True)
        if now >= next_status:
            st = write_status(now)
            stats["max_open"] = max(stats["max_open"], st["open"])
            next_status = now + 1.0
    st = write_status(time.monotonic())
    stats["max_open"] = max(stats["max_open"], st["open"])
    st["max_open"] = stats["max_open"]
    for c in list(conns.values()):
        c.sock.close()
    print(json.dumps(st), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
