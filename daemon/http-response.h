/* http-response.h — how every answer of provd's HTTP API goes out, for http.c and the route
 * modules (files.c, console-http.c): queueing a response with the headers every answer
 * carries, JSON and text bodies, the one error body shape {"error": {"code", "message"}}, the
 * errno -> HTTP status table, 204, 404 and 405 with its Allow header, and the status and body
 * size of each answer for the HTTP metrics.
 *
 * Route modules include this header, never http.h: http.c includes them.
 *
 * Threads: libmicrohttpd's workers, each answering its own connection; the answer record
 * (http_response_track()) is per thread.  Every function returns what MHD_queue_response()
 * returns: MHD_NO also when the answer could not be allocated (libmicrohttpd then closes the
 * connection). */
#pragma once

#include <stdbool.h>

#include <jansson.h>
#include <microhttpd.h>
#include <stdint.h>

/* The status and body bytes of a request's answer, for the HTTP metrics. */
typedef struct HttpAnswer {
        unsigned status; /* 0: nothing queued yet */
        uint64_t bytes;
} HttpAnswer;

/* Makes `a` (borrowed; NULL: none) the calling thread's answer record: the answers queued on
 * this thread until the next call are noted there.  http.c sets it around each request. */
void http_response_track(HttpAnswer *a);

/* Records the status and body size of the answer the calling thread's current request got
 * (no-op without an answer record); for answers queued without http_queue(). */
void http_note_response(unsigned status, uint64_t bytes);

/* Queues resp on c with status, as every answer of provd goes out: adds the headers every
 * answer carries (X-Content-Type-Options: nosniff, so no browser second-guesses a
 * Content-Type; WHATWG Fetch §3.5), notes status and `bytes` of body for the metrics, and
 * releases the caller's reference to resp. */
enum MHD_Result http_queue(struct MHD_Connection *c, unsigned status, struct MHD_Response *resp, uint64_t bytes);

/* Maps a negative (or positive) errno from the daemon to an HTTP status; unknown errnos are
 * 500. */
unsigned http_status_from_errno(int err);

/* The value of query parameter key in c's request URL (decoded by libmicrohttpd; borrowed,
 * valid until the request ends), or NULL when the URL has none. */
static inline const char *http_query(struct MHD_Connection *c, const char *key) {
        return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, key);
}

/* Queues body (len bytes, malloc'd or NULL; always consumed) with status, Content-Type
 * content_type and Cache-Control: no-store; a 401 also gets WWW-Authenticate: Bearer
 * (RFC 6750 §3). */
enum MHD_Result http_respond_buffer(struct MHD_Connection *c, unsigned status, char *body, size_t len,
                                    const char *content_type);

/* Queues the JSON text `json` (malloc'd or NULL; always consumed: NULL is MHD_NO) as
 * application/json with a newline appended: every JSON answer ends with one (pixiecore's
 * decoder ignores it). */
enum MHD_Result http_respond_json_text(struct MHD_Connection *c, unsigned status, char *json);

/* Queues `o` (reference stolen; NULL allowed) as JSON.  When it cannot be serialised (no
 * memory, or text jansson refuses) the answer is a 500 error body, never a dropped
 * connection. */
enum MHD_Result http_respond_json(struct MHD_Connection *c, unsigned status, json_t *o);

/* Queues an error answer with the common body {"error": {"code": "<code>", "message": ...}};
 * code is derived from the status ("bad_request", "not_found", ...); the message (cut at
 * 1 KiB) is made valid UTF-8.  For HEAD the body is dropped by libmicrohttpd. */
enum MHD_Result http_respond_error(struct MHD_Connection *c, unsigned status, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* http_respond_error() with one more header `hname: hvalue` (416's Content-Range, RFC 9110
 * §15.5.17). */
enum MHD_Result http_respond_error_header(struct MHD_Connection *c, unsigned status, const char *hname,
                                          const char *hvalue, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* The error answer for a negative errno r from the daemon: its status
 * (http_status_from_errno()) and the message "cannot <what>: <strerror>". */
enum MHD_Result http_respond_errno(struct MHD_Connection *c, int r, const char *what);

/* 404 "no such route: <url>" (the URL cut at 200 bytes): no route has this path. */
enum MHD_Result http_respond_no_route(struct MHD_Connection *c, const char *url);

/* 404 "no node "<name>" in the inventory" (the name cut at 64 bytes). */
enum MHD_Result http_respond_no_node(struct MHD_Connection *c, const char *name);

/* 405 with the error body and the header Allow: `allow` (a ", "-separated method list, the
 * target's methods: RFC 9110 §15.5.6 and §10.2.1). */
enum MHD_Result http_respond_method_not_allowed(struct MHD_Connection *c, const char *allow);

/* 204, no body, Cache-Control: no-store. */
enum MHD_Result http_respond_no_content(struct MHD_Connection *c);

/* True if `header`, an If-None-Match value, lists `etag` (a quoted entity tag) or is "*":
 * RFC 9110 §13.1.2, weak comparison (a W/ prefix is ignored), §13.1.2's list syntax. */
bool http_etag_listed(const char *header, const char *etag);
