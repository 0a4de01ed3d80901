#!/usr/bin/python3
"""notify-listener.py SOCKET OUT [PROBE_URL] — a stand-in for systemd's notify socket.

Binds an AF_UNIX datagram socket at SOCKET (what NOTIFY_SOCKET points to, sd_notify(3)) and
appends one JSON line per datagram to OUT: {"t": CLOCK_MONOTONIC seconds, "pid": sender pid
(SCM_CREDENTIALS, as systemd checks it for NotifyAccess=main), "msg": the datagram text}.
When a datagram carries READY=1 and PROBE_URL is given, it GETs PROBE_URL at once (2 s
timeout) and appends {"t": ..., "probe": HTTP status or "error: ..."}: what a client that
trusted READY=1 would have seen.  Runs until killed.  Python standard library only."""
import json
import socket
import struct
import sys
import time
import urllib.error
import urllib.request


def main():
    path, out_path = sys.argv[1], sys.argv[2]
    probe_url = sys.argv[3] if len(sys.argv) > 3 else None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    sock.bind(path)
    with open(out_path, "a", buffering=1) as out:
        while True:
            data, ancdata, _flags, _addr = sock.recvmsg(4096, socket.CMSG_SPACE(12))
            t = time.monotonic()
            pid = None
            for level, kind, payload in ancdata:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    pid, _uid, _gid = struct.unpack("iII", payload[:12])
            msg = data.decode("utf-8", "replace")
            out.write(json.dumps({"t": t, "pid": pid, "msg": msg}) + "\n")
            if probe_url and "READY=1" in msg.split("\n"):
                try:
                    with urllib.request.urlopen(probe_url, timeout=2) as r:
                        status = r.status
                except urllib.error.HTTPError as e:
                    status = e.code
                except Exception as e:  # refused, timeout: the point of the probe
                    status = "error: %s" % e
                out.write(json.dumps({"t": time.monotonic(), "probe": status}) + "\n")


if __name__ == "__main__":
    main()
