/* http-conns.h — the HTTP connection table: every connection libmicrohttpd holds for provd,
 * since when, and whether its current request has arrived whole.  It enforces what
 * libmicrohttpd 0.9.75 has no option for, so that connections that send nothing, or send a
 * request a byte at a time, cannot take every slot and shut the boot API for everyone:
 *
 *  - a deadline for a request, with a minimum rate: a connection whose request (request
 *    line, headers, and body if any) has not arrived header_timeout_ms after it began, and
 *    which received fewer than header_min_rate bytes per second on average since it began,
 *    is shut down (the "sweeper", this module's thread, looks every sweep_ms).
 *    libmicrohttpd's own MHD_OPTION_CONNECTION_TIMEOUT (the manual, "Options") is an idle
 *    timeout that every byte received resets: one byte every 20 s keeps a connection forever;
 *  - eviction: when a new connection makes more than high_water connections open (15/16 of
 *    max_connections), the connection that has waited longest for its request is shut down
 *    at once — first those that never sent a whole request, then kept-alive ones between two
 *    requests — so that a new connection always finds a slot below libmicrohttpd's
 *    MHD_OPTION_CONNECTION_LIMIT, where libmicrohttpd would stop accept()ing.
 *
 * A connection whose request has arrived whole — a request being answered, an event stream
 * (GET /v1/events/stream), a console follow — is never shut down here, however long it
 * lasts.  Nor is a kept-alive connection that is merely idle between two requests (that is
 * libmicrohttpd's idle timeout's business), except by eviction.
 *
 * When a request begins: on a new connection, when it was accepted; on a kept-alive
 * connection, when the sweeper first sees bytes of the next request arrive, from the socket's
 * TCP_INFO tcpi_bytes_received (tcp(7); Linux >= 4.1), which is also what the rate is
 * computed from.  The rate is an average since the request began, so a request's bytes
 * are bounded by libmicrohttpd's buffer (MHD_OPTION_CONNECTION_MEMORY_LIMIT, 32 KiB by
 * default) and its time by that divided by header_min_rate.
 *
 * Shutting down is shutdown(2) (SHUT_RDWR), never close(2): libmicrohttpd sees the end of the
 * stream, closes the connection itself and calls MHD_CONNECTION_NOTIFY_CLOSED before it
 * closes the descriptor (libmicrohttpd 0.9.75's MHD_cleanup_connections()).  The table's mutex is
 * held around each shutdown(2) and http_conns_close() takes it, so a descriptor is never shut
 * down after it was closed and reused.
 *
 * Threads: every function may be called from any thread (libmicrohttpd's workers call the
 * notification hooks); one mutex guards the table.  The sweeper is this module's own thread;
 * it also logs, at most every 10 s, how many connections were shut down and why. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

typedef struct HttpConns HttpConns;
typedef struct HttpConn HttpConn;

typedef struct HttpConnsConfig {
        unsigned max_connections;   /* the table's size: libmicrohttpd's MHD_OPTION_CONNECTION_LIMIT (>= 16) */
        unsigned header_timeout_ms; /* a request must arrive within this (> 0) ... */
        unsigned header_min_rate;   /* ... or keep coming at this many bytes/s on average; 0: deadline only */
        unsigned sweep_ms;          /* how often the sweeper looks; 0: no sweeper thread (tests call
                                     * http_conns_sweep() themselves) */
        int64_t (*clock_ms)(void);  /* monotonic milliseconds; NULL: CLOCK_MONOTONIC (tests set their own) */
} HttpConnsConfig;

typedef struct HttpConnsStats {
        unsigned open;       /* connections in the table and not shut down */
        unsigned waiting;    /* of those: new connections that never sent a whole request */
        unsigned kept;       /* of those: kept-alive connections between two requests */
        unsigned busy;       /* of those: whose request arrived whole (being answered, streams) */
        unsigned high_water; /* more open than this and a new connection evicts one */
        uint64_t shut_deadline; /* shut down since start: request too slow (deadline and rate) */
        uint64_t shut_evicted;  /* shut down since start: evicted for a new connection */
} HttpConnsStats;

/* Makes a table for cfg (copied) and, when cfg->sweep_ms > 0, starts the sweeper thread.
 * Returns 0 and *ret (the caller frees it with http_conns_free()), -EINVAL for a
 * max_connections below 16 or a header_timeout_ms of 0, -ENOMEM, or the pthread_create()
 * error. */
int http_conns_new(const HttpConnsConfig *cfg, HttpConns **ret);

/* Stops the sweeper and frees the table and any entries left (after MHD_stop_daemon(): by
 * then libmicrohttpd has closed every connection).  NULL is fine. */
void http_conns_free(HttpConns *t);

/* A connection was accepted (MHD_CONNECTION_NOTIFY_STARTED, on the worker thread that
 * accepted it); fd is its socket, still owned by libmicrohttpd.  Adds it as waiting for its
 * first request and, when that makes more than high_water connections open, evicts the one
 * that waited longest (see above).  Returns its entry (owned by the table until
 * http_conns_close()), or NULL when out of memory: the connection is then served
 * untracked. */
HttpConn *http_conns_open(HttpConns *t, int fd);

/* The connection's request arrived whole (the access handler's call that answers it): from
 * now on until http_conns_request_end() it is never shut down.  NULL c is fine. */
void http_conns_request_begin(HttpConns *t, HttpConn *c);

/* The connection's request completed (MHD_OPTION_NOTIFY_COMPLETED): if libmicrohttpd keeps
 * the connection it is a kept-alive one, waiting for its next request.  NULL c is fine. */
void http_conns_request_end(HttpConns *t, HttpConn *c);

/* libmicrohttpd is closing the connection (MHD_CONNECTION_NOTIFY_CLOSED, before it closes
 * the descriptor): forgets and frees c.  NULL c is fine. */
void http_conns_close(HttpConns *t, HttpConn *c);

/* One pass of the sweeper at time now_ms (the config's clock): shuts down the connections
 * whose request is late and too slow.  Returns how many it shut down.  The sweeper thread
 * calls it; exposed for tests that run without one. */
unsigned http_conns_sweep(HttpConns *t, int64_t now_ms);

/* The table's counts now. */
void http_conns_stats(HttpConns *t, HttpConnsStats *ret);
