/* stream.h — the connections of GET /v1/events/stream (Server-Sent Events, WHATWG HTML
 * §9.2): each is a libmicrohttpd callback response that sends the event hub's SSE text after
 * its cursor, then waits for the next event without holding a thread.
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
 * its own thread. */
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

/* The request of `st` completed (libmicrohttpd's notify-completed, before the response is
 * freed): forgets its connection.  Returns the body bytes it sent. */
uint64_t streams_completed(Streams *s, Stream *st);

/* Open streams now. */
size_t streams_count(Streams *s);
