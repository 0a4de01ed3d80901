/* stream.h — the connections of GET /v1/events/stream (Server-Sent Events, WHATWG HTML
 * §9.2): each is a libmicrohttpd callback response that sends the event hub's SSE text after
 * its cursor, then waits for the next event without holding a thread.  Other followed
 * resources (a bulk operation's progress) use the same machinery with their own source of SSE
 * text (StreamSource): such a stream ends when its source says nothing more will come.
 *
 * When a client has seen every event its connection is suspended (MHD_suspend_connection;
 * the daemon must run with MHD_ALLOW_SUSPEND_RESUME) and the hub's notify callback resumes
 * it; a timer thread resumes every stream each STREAM_KEEPALIVE_MS for a keep-alive comment.
 * One lock orders "nothing new: suspend" against "new event: resume", so no event waits for
 * the next keep-alive.  Readers that fell behind the in-memory ring are served from the
 * store (daemon_events_sse()); the lock is never held while doing that.
 *
 * Threads: streams_response() and streams_completed() run on libmicrohttpd threads; the
 * notify callback on whichever thread made the transition (daemon lock held); the timer on
 * its own thread; streams_wake_sources() on whichever thread a source changes (it takes the
 * streams lock: the caller may hold its own locks, but none a source's read() takes).  A
 * source's generation() is called under the streams lock, its read() without. */
#pragma once

#include <microhttpd.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon.h"

#define STREAM_KEEPALIVE_MS 15000

typedef struct Streams Streams;
typedef struct Stream Stream;

/* Hooks into d's event hub and starts the keep-alive timer.  d is borrowed and must outlive
 * the Streams.  Returns 0 and *ret (caller owns; streams_stop() then streams_free()), or a
 * negative errno. */
int streams_new(Daemon *d, Streams **ret);

/* Ends every stream (each finishes its current chunk and ends), unhooks from the hub and
 * stops the timer.  Call before MHD_stop_daemon(): libmicrohttpd wants no connection left
 * suspended when it stops. */
void streams_stop(Streams *s);

/* Frees; every stream's response must be gone (after MHD_stop_daemon()).  NULL is fine. */
void streams_free(Streams *s);

/* A response (text/event-stream, no-store) for a new stream that starts after event
 * `cursor` on connection c.  The response owns the stream (*ret_stream, borrowed by the
 * caller until streams_completed()).  Returns NULL on allocation failure. */
struct MHD_Response *streams_response(Streams *s, struct MHD_Connection *c, int64_t cursor, Stream **ret_stream);

/* Where a followed stream's SSE text comes from (functions and their context outlive every
 * stream of them, i.e. the Streams). */
typedef struct StreamSource {
        /* The SSE text after `cursor` for `key` (about max bytes at most) into *ret_text
         * (malloc'd; NULL and 0 when nothing is new), the cursor it reaches in *ret_last, and
         * *ret_ended when nothing follows it.  Returns 0, -ENOENT (the source is gone: the
         * stream ends), or another negative errno (the connection is dropped). */
        int (*read)(void *ctx, int64_t key, int64_t cursor, size_t max, char **ret_text, size_t *ret_len,
                    int64_t *ret_last, bool *ret_ended);
        /* A counter that changes whenever read() may have more to say; cheap and lock-free. */
        uint64_t (*generation)(void *ctx);
} StreamSource;

/* A response (text/event-stream, no-store) following src for `key` after `cursor`, starting
 * with the SSE text `preamble` (a comment, so the client sees the stream is up); ctx is
 * passed to src's functions.  Ownership as streams_response().  NULL on allocation failure. */
struct MHD_Response *streams_source_response(Streams *s, struct MHD_Connection *c, const StreamSource *src, void *ctx,
                                             int64_t key, int64_t cursor, const char *preamble, Stream **ret_stream);

/* A source has something new: resumes its suspended streams (they read it and wait again). */
void streams_wake_sources(Streams *s);

/* The request of `st` completed (libmicrohttpd's notify-completed, before the response is
 * freed): forgets its connection.  Returns the body bytes it sent. */
uint64_t streams_completed(Streams *s, Stream *st);

/* Open event streams now (GET /v1/events/stream; not the sources'). */
size_t streams_count(Streams *s);
