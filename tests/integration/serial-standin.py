#!/usr/bin/python3
"""serial-standin.py PORT_FILE SENT_LOG [RATE] [RECV_LOG] [ON:OFF] — a stand-in for a serial port.

ipmi_sim's `sol "tcp:127.0.0.1:PORT" 115200` line makes the simulator CONNECT to PORT as a
client (it retries every 10 s; checked on these machines).  This program is what it
connects to: it listens on 127.0.0.1, on a free port it picks itself, and writes that port
number to PORT_FILE (written once it listens: wait for the file).  While a client is
connected it sends numbered lines at a steady RATE lines per second (default 20):

    standin line 000001 t=12.345\r\n

numbered from 1 over the program's life (a reconnect goes on with the next number), and
appends every byte it sent, exactly as sent, to SENT_LOG (flushed per line): the ground truth
of what the "console" printed.  Bytes received from the client (what a SOL user typed) are
appended to RECV_LOG if given.  One client at a time; a new connection replaces the old one.
A line is skipped (not sent, not
logged, number not used) while the client does not read.  With ON:OFF (seconds), output
comes in bursts: ON seconds of lines, then OFF seconds of silence (a console that pauses).
The environment variable SERIAL_STANDIN_PORT=N makes it listen on port N instead of a free
one (a serial port that appears after ipmi_sim started, as a VM's does).  Runs until killed.  Python standard library only."""
import os
import select
import socket
import sys
import time


def main():
    port_file, sent_path = sys.argv[1], sys.argv[2]
    rate = float(sys.argv[3]) if len(sys.argv) > 3 else 20.0
    recv_path = sys.argv[4] if len(sys.argv) > 4 and sys.argv[4] else None
    on, off = (float(x) for x in sys.argv[5].split(":")) if len(sys.argv) > 5 else (0.0, 0.0)
    interval = 1.0 / rate
    t0 = time.monotonic()

    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", int(os.environ.get("SERIAL_STANDIN_PORT", "0"))))
    srv.listen(4)
    tmp = port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.getsockname()[1])
    os.rename(tmp, port_file)

    sent = open(sent_path, "ab", buffering=0)
    recv = open(recv_path, "ab", buffering=0) if recv_path else None
    client = None
    n = 0
    next_t = time.monotonic()
    while True:
        timeout = max(0.0, next_t - time.monotonic()) if client else None
        rl = [srv] + ([client] if client else [])
        r, _, _ = select.select(rl, [], [], timeout)
        if srv in r:
            c, _ = srv.accept()
            if client:
                client.close()
            client = c
            next_t = time.monotonic()
            continue
        if client and client in r:
            try:
                data = client.recv(4096)
            except OSError:
                data = b""
            if not data:
                client.close()
                client = None
                continue
            if recv:
                recv.write(data)
        if client and off > 0 and (time.monotonic() - t0) % (on + off) >= on:
            next_t = time.monotonic() + interval  # silent phase
            continue
        if client and time.monotonic() >= next_t:
            # A reader that stopped reading (ipmi_sim does) must not block
            # this loop: a line is only sent when the socket has room, else it is skipped
            # (and not logged: SENT_LOG holds what was sent).
            _, w, _ = select.select([], [client], [], 0)
            if not w:
                next_t += interval
                continue
            n += 1
            line = b"standin line %06d t=%.3f\r\n" % (n, time.monotonic() - t0)
            try:
                client.sendall(line)
            except OSError:
                client.close()
                client = None
                n -= 1
                continue
            sent.write(line)
            next_t += interval
            if next_t < time.monotonic() - 1.0:  # fell far behind: do not burst
                next_t = time.monotonic()


if __name__ == "__main__":
    main()
