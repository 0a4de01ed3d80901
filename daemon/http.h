/* http.h — provd's HTTP API on libmicrohttpd: routes, the errno -> HTTP status table, the
 * one error body shape {"error": {"code", "message"}}, and file serving (files.c).
 *
 * Threading: libmicrohttpd's internal epoll thread pool (one thread per core, at least 2).
 * Handlers only touch memory and SQLite through daemon.c, never a BMC or the network, so a
 * small pool keeps up; a separate sd-event loop would buy nothing here.  The listening
 * socket is made by the caller (so it can come from socket activation later). */
#pragma once

#include <microhttpd.h>
#include <stdint.h>

#include "daemon.h"

typedef struct Http Http;

/* Starts serving on the bound, listening socket fd (ownership passes to Http, even on
 * failure).  threads: worker count (0 = one per core, at least 2).  d is borrowed and must
 * outlive the Http.  Returns 0 and *ret, or a negative errno (logged). */
int http_start(Daemon *d, int fd, unsigned threads, Http **ret);

/* Stops accepting, finishes in-flight requests, frees. */
void http_stop(Http *h);

/* Maps a negative errno from the daemon to an HTTP status (the one table, in http.c). */
unsigned http_status_from_errno(int err);

/* Queues an error answer with the common body {"error": {"code": "<code>", "message": ...}};
 * code is derived from the status ("bad_request", "not_found", ...).  For HEAD the body is
 * dropped by libmicrohttpd.  Returns the MHD_queue_response() result. */
enum MHD_Result http_respond_error(struct MHD_Connection *c, unsigned status, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
