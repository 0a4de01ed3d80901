#!/usr/bin/env python3
"""kill-watch.py — kills a process with SIGKILL the moment the Nth 2xx answer arrives, for the
crash tests (crash-callbacks, instances-crash).

    kill-watch.py ACKS SKIP WANT PID

ACKS is the file the test's curl clients append a line to as each answer arrives, ending in
" STATUS" (curl's write-out "... %{http_code}\\n", line-buffered).  The first SKIP lines are
passed over (the answers of an earlier round); of the lines after them, the WANTth whose status
is 2xx makes it send SIGKILL to PID at once.  It reads ACKS as the clients write it, polling
every 50 µs, and is meant to run without nice(1), so that the kill lands right after that
answer.  Exit status 0 once PID was sent the signal; 1 (with a message) when WANT answers did
not arrive within 60 s.
"""
import os
import signal
import sys
import time

path, skip, want, pid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
seen, buf, deadline = 0, b"", time.monotonic() + 60
with open(path, "rb") as f:
    while seen < want:
        chunk = f.read()
        if not chunk:
            if time.monotonic() > deadline:
                sys.exit("only %d answers in 60 s" % seen)
            time.sleep(0.00005)
            continue
        buf += chunk
        *lines, buf = buf.split(b"\n")
        for l in lines:
            if skip > 0:
                skip -= 1
            elif l[-4:-2] == b" 2":
                seen += 1
os.kill(pid, signal.SIGKILL)
