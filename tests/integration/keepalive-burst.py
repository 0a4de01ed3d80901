#!/usr/bin/python3
"""keepalive-burst.py URL PATH CONNECTIONS ROUNDS PID TIMEOUT — keep-alive connections that all
ask at once, while the server is stopped.

Opens CONNECTIONS HTTP/1.1 connections to URL (http://HOST:PORT) and gets PATH once on each.
Then, ROUNDS times: waits 0.2 s (the server goes back to waiting for events), stops the server
process PID (SIGSTOP), sends one `GET PATH` on every connection, waits 0.2 s so that every
request is in the server's socket buffers, continues PID (SIGCONT) and reads every answer.
When the server runs again, all CONNECTIONS requests are ready at once.

Every answer must be a 200 with a Content-Length body, on a connection the server keeps open,
within TIMEOUT seconds of the SIGCONT.  Exits 0 and prints one line per round, or exits 1
with what went wrong (how many answers came, which connection the server closed).  Python
standard library only."""
import os
import selectors
import signal
import socket
import sys
import time
from urllib.parse import urlsplit


class Conn:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.done = False


def parse(conn, index):
    """One whole answer in conn.buf: checks it and returns True; False while incomplete."""
    end = conn.buf.find(b"\r\n\r\n")
    if end < 0:
        return False
    head = conn.buf[:end].decode("latin-1").split("\r\n")
    status = head[0].split(" ")
    if len(status) < 2 or status[1] != "200":
        sys.exit(f"connection {index}: answer {head[0]!r}, expected 200")
    length = None
    for line in head[1:]:
        name, _, value = line.partition(":")
        name, value = name.strip().lower(), value.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "connection" and value == "close":
            sys.exit(f"connection {index}: the server closes it (Connection: close)")
    if length is None:
        sys.exit(f"connection {index}: answer without Content-Length")
    if len(conn.buf) < end + 4 + length:
        return False
    if len(conn.buf) > end + 4 + length:
        sys.exit(f"connection {index}: {len(conn.buf) - end - 4 - length} bytes after the answer")
    conn.buf = b""
    return True


def exchange(conns, request, pid, timeout):
    """Sends request on every connection (with pid stopped meanwhile, unless None) and reads
    every answer; returns the seconds from the last send (or SIGCONT) to the last answer."""
    for c in conns:
        c.done = False
    if pid is not None:
        os.kill(pid, signal.SIGSTOP)
    try:
        for c in conns:
            c.sock.sendall(request)
        if pid is not None:
            time.sleep(0.2)
    finally:
        if pid is not None:
            os.kill(pid, signal.SIGCONT)
    t0 = time.monotonic()
    sel = selectors.DefaultSelector()
    for i, c in enumerate(conns):
        sel.register(c.sock, selectors.EVENT_READ, i)
    pending = len(conns)
    try:
        while pending:
            left = t0 + timeout - time.monotonic()
            if left <= 0:
                sys.exit(f"{len(conns) - pending} of {len(conns)} answered within {timeout:g} s "
                         "(the server stopped answering)")
            for key, _ in sel.select(left):
                i = key.data
                c = conns[i]
                data = c.sock.recv(65536)
                if not data:
                    sys.exit(f"connection {i}: closed by the server before its answer "
                             f"({len(conns) - pending} of {len(conns)} answered)")
                c.buf += data
                if parse(c, i):
                    c.done = True
                    pending -= 1
                    sel.unregister(c.sock)
    finally:
        sel.close()
    return time.monotonic() - t0


def main():
    url, path = sys.argv[1], sys.argv[2]
    count, rounds, pid, timeout = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
    u = urlsplit(url)
    request = f"GET {path} HTTP/1.1\r\nHost: {u.netloc}\r\n\r\n".encode()
    conns = []
    for _ in range(count):
        s = socket.create_connection((u.hostname, u.port), timeout=10)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.settimeout(timeout)
        conns.append(Conn(s))
    secs = exchange(conns, request, None, timeout)
    print(f"{count} connections open, each answered once in {secs:.2f} s")
    for r in range(1, rounds + 1):
        time.sleep(0.2)
        secs = exchange(conns, request, pid, timeout)
        print(f"round {r}: {count} requests sent while the server was stopped, all answered "
              f"{secs:.2f} s after it continued")
    for c in conns:
        c.sock.close()


if __name__ == "__main__":
    main()
