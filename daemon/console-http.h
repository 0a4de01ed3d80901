/* console-http.h — the console routes, called from http.c's dispatch once the route,
 * the method and the authorisation are checked:
 *
 *   GET    /v1/nodes/<name>/console[?attempt=N][&follow=1]   the log as text/plain (read auth)
 *   POST   /v1/nodes/<name>/console[?seconds=N]              on-demand capture (API token), 202
 *   DELETE /v1/nodes/<name>/console                          end it (API token), 204
 *
 * A follow=1 answer is a libmicrohttpd callback response that sends the file so far, then
 * suspends its connection (MHD_ALLOW_SUSPEND_RESUME) until console.c says the file grew or
 * its capture ended — never holding a thread, like stream.c's event stream.  Threads:
 * libmicrohttpd's; the resume callback runs under the console lock on the capture thread. */
#pragma once

#include <microhttpd.h>
#include <stdbool.h>
#include <stdint.h>

#include "console.h"

typedef struct ConsoleStream ConsoleStream;

/* GET/HEAD.  For a follow=1 answer *ret_stream is its stream (owned by the response; hand it
 * to console_http_completed() when the request completes), else NULL. */
enum MHD_Result console_http_get(Console *c, struct MHD_Connection *conn, const char *node, bool head,
                                 ConsoleStream **ret_stream);
enum MHD_Result console_http_post(Console *c, struct MHD_Connection *conn, const char *node);
enum MHD_Result console_http_delete(Console *c, struct MHD_Connection *conn, const char *node);

/* The request of a follow stream completed: stops resuming its connection.  Returns the body
 * bytes it sent. */
uint64_t console_http_completed(Console *c, ConsoleStream *s);
