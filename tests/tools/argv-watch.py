#!/usr/bin/env python3
"""argv-watch.py — a stand-in for provd that answers ONE HTTP request late and, while the client
waits for the answer, reads every process's command line (/proc/PID/cmdline, what `ps` shows
to every local user), to show whether a secret the client sends is in anyone's arguments.

    ARGV_WATCH_SECRET=... argv-watch.py --port-file FILE --out FILE [--hold SECONDS]
                                        [--status CODE] [--answer JSON]

The secret comes from the environment, never from an argument (this program's own command
line is read too).  It listens on 127.0.0.1 (any free port, written to --port-file once
listening), accepts one connection, reads the request (head and Content-Length body), then
for --hold seconds (default 1.5) reads /proc/*/cmdline every 20 ms, then answers CODE
(default 200) with the --answer body (default a provd node report answer) and closes.
Writes to --out a JSON object:
  request_line     the request line
  authorized       whether the request carried "Authorization: Bearer <secret>"
  body             the request body
  clients          distinct command lines seen that run curl, wget or nc
  secret_in_argv   distinct command lines that hold the secret
Exit status 0 when one request was served, 1 when none came within 60 s.
"""
import argparse
import json
import os
import socket
import sys
import time


def cmdlines():
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                raw = f.read()
        except OSError:
            continue
        if raw:
            out.append(raw.rstrip(b"\0").replace(b"\0", b" ").decode("utf-8", "replace"))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--hold", type=float, default=1.5)
    ap.add_argument("--status", type=int, default=200)
    ap.add_argument("--answer", default='{"node":"node-01","drift":"in_sync","expected":"","changed":false}')
    args = ap.parse_args()
    secret = os.environ.get("ARGV_WATCH_SECRET", "")
    if not secret:
        sys.exit("argv-watch.py: ARGV_WATCH_SECRET is not set")

    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(srv.getsockname()[1]))
    os.rename(args.port_file + ".tmp", args.port_file)
    srv.settimeout(60)
    try:
        conn, _ = srv.accept()
    except socket.timeout:
        sys.exit("argv-watch.py: no request within 60 s")
    conn.settimeout(10)
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = conn.recv(65536)
        if not chunk:
            break
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    want = int(headers.get("content-length", "0") or 0)
    while len(body) < want:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk

    clients, leaks = set(), set()
    end = time.monotonic() + args.hold
    while time.monotonic() < end:
        for c in cmdlines():
            words = c.split()
            prog = os.path.basename(words[0]) if words else ""
            if prog in ("curl", "wget", "nc", "timeout", "busybox") or any(w in ("curl", "wget", "nc") for w in words[:3]):
                clients.add(c)
            if secret in c:
                leaks.add(c)
        time.sleep(0.02)

    answer = args.answer.encode()
    reason = {200: "OK", 401: "Unauthorized", 404: "Not Found", 503: "Service Unavailable"}.get(args.status, "X")
    conn.sendall(b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
                 % (args.status, reason.encode(), len(answer)) + answer)
    conn.close()
    srv.close()
    with open(args.out, "w") as f:
        json.dump({
            "request_line": lines[0] if lines else "",
            "authorized": headers.get("authorization", "") == "Bearer " + secret,
            "body": body.decode("utf-8", "replace"),
            "clients": sorted(clients),
            "secret_in_argv": sorted(leaks),
        }, f)


if __name__ == "__main__":
    main()
