#!/usr/bin/env python3
"""client.py — the HTTP side of bench/nodes-list/run (standard library only).

  client.py list URL REPEAT            GET /v1/nodes timings: first page, whole list by cursor
  client.py poll URL SECONDS RATE      the dashboard: the whole node list RATE times a second
  client.py boots URL MACS RATE SECONDS CONNS   first boots at RATE/s, open loop

Each prints one line of key=value figures.  Times are wall-clock from just before the request
is written to the last byte of the answer.  "next" is read from the end of each answer
(the answer is not parsed as JSON: a client's parse time is not the server's)."""
import http.client
import re
import statistics
import sys
import threading
import time
import urllib.parse

NEXT = re.compile(rb'"next":\s*(null|"([A-Za-z0-9_-]+)")\s*}\s*$')


def connect(url):
    u = urllib.parse.urlsplit(url)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=120)


def get(conn, path):
    t = time.perf_counter()
    conn.request("GET", path)
    r = conn.getresponse()
    body = r.read()
    if r.status != 200:
        sys.exit("GET %s: %d %s" % (path, r.status, body[:200]))
    return time.perf_counter() - t, body


def whole_list(conn, limit=None):
    """Every node by cursor: (seconds, pages, bytes).  An answer without "next" is the whole list."""
    cursor, pages, size, total = None, 0, 0, 0.0
    while True:
        q = [x for x in (limit and "limit=%d" % limit, cursor and "cursor=" + cursor) if x]
        dt, body = get(conn, "/v1/nodes" + ("?" + "&".join(q) if q else ""))
        total += dt
        pages += 1
        size += len(body)
        m = NEXT.search(body[-200:])
        if not m or m.group(1) == b"null":
            return total, pages, size
        cursor = m.group(2).decode()


def cmd_list(url, repeat):
    conn = connect(url)
    whole_list(conn)  # warm
    first, whole, whole10k = [], [], []
    for _ in range(repeat):
        dt, body = get(conn, "/v1/nodes")
        first.append(dt)
        first_bytes = len(body)
        whole.append(whole_list(conn))
        whole10k.append(whole_list(conn, 10000))
    med = lambda xs: statistics.median(xs) * 1000
    print("first_ms=%.1f first_bytes=%d whole_ms=%.1f whole_pages=%d whole_bytes=%d whole10k_ms=%.1f whole10k_pages=%d" % (
        med(first), first_bytes, med([w[0] for w in whole]), whole[0][1], whole[0][2],
        med([w[0] for w in whole10k]), whole10k[0][1]))


def cmd_poll(url, seconds, rate):
    conn = connect(url)
    end = time.monotonic() + seconds
    times, nxt = [], time.monotonic()
    while time.monotonic() < end:
        times.append(whole_list(conn)[0])
        nxt += 1.0 / rate
        time.sleep(max(0.0, nxt - time.monotonic()))
    print("polls=%d poll_med_ms=%.1f poll_max_ms=%.1f" % (len(times), statistics.median(times) * 1000, max(times) * 1000))


def cmd_boots(url, macs_file, rate, seconds, conns):
    macs = [l.strip() for l in open(macs_file) if l.strip()]
    n = min(len(macs), int(rate * seconds))
    t0 = time.monotonic() + 0.2
    lock = threading.Lock()
    state = {"i": 0}
    sent, intended, errors = [], [], [0]

    def worker():
        conn = connect(url)
        while True:
            with lock:
                i = state["i"]
                state["i"] += 1
            if i >= n:
                return
            due = t0 + i / rate
            time.sleep(max(0.0, due - time.monotonic()))
            start = time.monotonic()
            try:
                conn.request("GET", "/v1/boot/" + macs[i])
                r = conn.getresponse()
                r.read()
                ok = r.status == 200
            except (OSError, http.client.HTTPException):
                ok = False
                conn = connect(url)
            done = time.monotonic()
            with lock:
                if not ok:
                    errors[0] += 1
                sent.append(done - start)
                intended.append(done - max(due, t0))

    threads = [threading.Thread(target=worker) for _ in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0

    def pct(xs, p):
        xs = sorted(xs)
        return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))] * 1000

    print("boots=%d rate=%.0f p50_ms=%.2f p99_ms=%.2f max_ms=%.2f ip99_ms=%.2f errors=%d" % (
        len(sent), len(sent) / elapsed, pct(sent, 50), pct(sent, 99), pct(sent, 100), pct(intended, 99), errors[0]))


if __name__ == "__main__":
    a = sys.argv[1:]
    if a[:1] == ["list"]:
        cmd_list(a[1], int(a[2]))
    elif a[:1] == ["poll"]:
        cmd_poll(a[1], float(a[2]), float(a[3]))
    elif a[:1] == ["boots"]:
        cmd_boots(a[1], a[2], float(a[3]), float(a[4]), int(a[5]))
    else:
        sys.exit(__doc__)
