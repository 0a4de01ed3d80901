#!/usr/bin/env bash
# Connection exhaustion, idle: 10,000 connections that send nothing, from 100 client
# addresses (127.0.1.1-100, 100 each), opened at up to 4,000 a second and opened again as
# soon as provd closes one — more than provd's max_connections (4096, the default).  Fresh
# boot requests from another address are answered within 1 s all along (p50/p99 printed);
# an event stream opened before the attack still gets events after it; a pixiecore-like
# keep-alive client keeps its connection.  On provd without the connection table the boot
# API stops answering: libmicrohttpd holds 4096 idle connections, stops accept()ing, and the
# rest wait in the listen queue.
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/lib-conn.sh"

make_inventory "$T/inv.json" 3
provd_start "$T/inv.json"
grep -E 'RLIMIT_NOFILE' "$LOG" || true

conn_attack_run --conns 10000 --sources 127.0.1.1-100 --mode idle --rate 4000 --reconnect
grep -E 'http: (evicted|shut down)' "$LOG" | tail -n 2 || true
provd_stop
