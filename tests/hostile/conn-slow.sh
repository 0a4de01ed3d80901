#!/usr/bin/env bash
# Connection exhaustion, slow: 4,300 connections from 43 client addresses (127.0.2.1-43, 100
# each, under the per-client limit of 256) that each send one byte of a request header every
# 20 s (~215 B/s in all) — every byte resets libmicrohttpd's own 60 s timeout — opened again
# as soon as provd closes one (up to 4,000 a second).  Fresh boot requests from another
# address are answered within 1 s all along (p50/p99 printed); an event stream opened before
# the attack still gets events after it; a pixiecore-like keep-alive client keeps its
# connection.  provd runs with its defaults (header_timeout 10 s, header_min_rate 500 B/s,
# max_connections 4096): the attack is not scaled down, and is bounded by its duration
# (~40 s).  On provd without the connection table the boot API stops answering.
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/lib-conn.sh"

make_inventory "$T/inv.json" 3
provd_start "$T/inv.json"

conn_attack_run --conns 4300 --sources 127.0.2.1-43 --mode slow --interval 20 --rate 4000 --reconnect
[ "$(jq .bytes_sent "$T/flood.json")" -gt 0 ] || fail "the slow attack sent no byte: $(cat "$T/flood.json")"
grep -E 'http: (evicted|shut down)' "$LOG" | tail -n 2 || true
provd_stop
