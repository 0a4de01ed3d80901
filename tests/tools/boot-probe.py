#!/usr/bin/env python3
"""boot-probe.py — asks provd's boot API the way booting nodes do, and measures how long each
answer took, for the hostile tests.  Loopback only.

    boot-probe.py --target 127.0.0.1:PORT --source 127.0.0.X --path PATH [--path PATH ...]
                  [--duration SECONDS] [--interval SECONDS] [--timeout SECONDS]
                  [--keepalive [--gaps S,S,...]]

fresh (default): every --interval seconds, on a schedule that does not wait for earlier
  answers (each request runs in its own thread), opens a new connection from --source and
  sends GET PATH (the paths in turn) as HTTP/1.1, the way pixiecore asks /v1/boot/<mac> for
  a node that just sent its DHCPDISCOVER.  A request is answered when a whole response
  (status line, headers, Content-Length bytes of body) arrived within --timeout seconds
  (default 5: pixiecore's own limit); the latency runs from the start of connect() to the
  last byte.
keepalive: one connection, like pixiecore's HTTP client between boots: a request, then a
  pause of the next value of --gaps (cycled; default --interval), and again, for
  --duration.  The connection is "cut" when the server closed it while the client kept it
  (before a request): the client then opens a new one, and counts it.

Prints one JSON object: {"mode", "sent", "answered", "unanswered", "statuses": {code: n},
"p50_ms", "p99_ms", "max_ms", "errors": {text: n}} plus, in keepalive mode, "cuts" and
"connections".  Exit status 0 when it ran (whatever it measured), 2 for bad arguments.
"""
import argparse
import ipaddress
import json
import math
import select
import socket
import sys
import threading
import time


def read_response(sock, deadline):
    """Reads one HTTP/1.1 response with a Content-Length; returns the status code."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        sock.settimeout(max(0.001, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the headers")
        buf += chunk
    head, body = buf.split(b"\r\n\r\n", 1)
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        sock.settimeout(max(0.001, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed inside the body")
        body += chunk
    return status


def request_bytes(path):
    return (f"GET {path} HTTP/1.1\r\nHost: provd\r\nUser-Agent: Go-http-client/1.1\r\n"
            "Accept-Encoding: gzip\r\n\r\n").encode()


def percentile(values, p):
    if not values:
        return None
    v = sorted(values)
    k = min(len(v) - 1, max(0, math.ceil(p / 100.0 * len(v)) - 1))  # nearest rank
    return round(v[k] * 1000, 1)


class Results:
    def __init__(self):
        self.lock = threading.Lock()
        self.sent = 0
        self.latencies = []
        self.statuses = {}
        self.errors = {}

    def ok(self, status, seconds):
        with self.lock:
            self.latencies.append(seconds)
            self.statuses[str(status)] = self.statuses.get(str(status), 0) + 1

    def fail(self, what):
        with self.lock:
            self.errors[what] = self.errors.get(what, 0) + 1

    def summary(self, mode):
        return {"mode": mode, "sent": self.sent, "answered": len(self.latencies),
                "unanswered": self.sent - len(self.latencies), "statuses": self.statuses,
                "p50_ms": percentile(self.latencies, 50), "p99_ms": percentile(self.latencies, 99),
                "max_ms": percentile(self.latencies, 100), "errors": self.errors}


def one_fresh(a, host, port, path, res):
    t0 = time.monotonic()
    deadline = t0 + a.timeout
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((a.source, 0))
        s.settimeout(a.timeout)
        s.connect((host, port))
        s.sendall(request_bytes(path))
        status = read_response(s, deadline)
        res.ok(status, time.monotonic() - t0)
    except (OSError, ConnectionError, ValueError, IndexError) as e:
        res.fail(type(e).__name__ if not str(e) else f"{type(e).__name__}: {e}"[:80])
    finally:
        s.close()


def run_fresh(a, host, port, res):
    start = time.monotonic()
    threads = []
    k = 0
    while True:
        due = start + k * a.interval
        if due >= start + a.duration:
            break
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        path = a.path[k % len(a.path)]
        t = threading.Thread(target=one_fresh, args=(a, host, port, path, res), daemon=True)
        t.start()
        threads.append(t)
        res.sent += 1
        k += 1
    for t in threads:
        t.join(a.timeout + 1)


def run_keepalive(a, host, port, res):
    gaps = [float(g) for g in a.gaps.split(",")] if a.gaps else [a.interval]
    start = time.monotonic()
    sock = None
    cuts = connections = k = 0
    while time.monotonic() < start + a.duration:
        if sock is not None:
            # Did the server close the connection while we kept it?
            r, _, _ = select.select([sock], [], [], 0)
            if r:
                try:
                    closed = sock.recv(1, socket.MSG_PEEK) == b""
                except OSError:
                    closed = True
                if closed:
                    cuts += 1
                    sock.close()
                    sock = None
        t0 = time.monotonic()
        try:
            if sock is None:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.bind((a.source, 0))
                sock.settimeout(a.timeout)
                sock.connect((host, port))
                connections += 1
            res.sent += 1
            sock.sendall(request_bytes(a.path[k % len(a.path)]))
            status = read_response(sock, t0 + a.timeout)
            res.ok(status, time.monotonic() - t0)
        except (OSError, ConnectionError, ValueError, IndexError) as e:
            res.fail(f"{type(e).__name__}: {e}"[:80])
            if sock is not None:
                sock.close()
            sock = None
        time.sleep(gaps[k % len(gaps)])
        k += 1
    if sock is not None:
        sock.close()
    return cuts, connections


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--path", action="append", required=True)
    ap.add_argument("--duration", type=float, default=30.0)
    ap.add_argument("--interval", type=float, default=0.2)
    ap.add_argument("--timeout", type=float, default=5.0)
    ap.add_argument("--keepalive", action="store_true")
    ap.add_argument("--gaps")
    a = ap.parse_args()
    host, port = a.target.rsplit(":", 1)
    loop = ipaddress.IPv4Network("127.0.0.0/8")
    try:
        if ipaddress.IPv4Address(host) not in loop or ipaddress.IPv4Address(a.source) not in loop:
            raise ValueError
    except ValueError:
        print("boot-probe: loopback addresses only", file=sys.stderr)
        return 2
    if not (0 < a.duration <= 600 and 0 < a.interval and 0 < a.timeout <= 60):
        print("boot-probe: bad --duration/--interval/--timeout", file=sys.stderr)
        return 2
    res = Results()
    if a.keepalive:
        cuts, connections = run_keepalive(a, host, int(port), res)
        out = res.summary("keepalive")
        out["cuts"] = cuts
        out["connections"] = connections
    else:
        run_fresh(a, host, int(port), res)
        out = res.summary("fresh")
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
