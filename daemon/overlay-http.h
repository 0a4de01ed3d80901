/* overlay-http.h — GET|HEAD /v1/overlay/<token>: a stateless node's overlay (overlay.h), the
 * last initrd of its boot answer, fetched by its kernel loader with the boot token in the path
 * (an open route: the token is the authentication, daemon_overlay_get() checks it).
 *
 * The answer: 200 application/octet-stream with Content-Length, a strong ETag (quoted hex of a
 * hash of the bytes, overlay-cache.h) and Cache-Control: no-store (it holds the node
 * credential: no cache may keep it); 304 when If-None-Match lists the ETag (RFC 9110 §13.1.2);
 * 404 "boot token not valid or boot over" once the boot is not open any more; a source file
 * that cannot be read is 404/403/500 with the message naming node, path and source.  HEAD
 * answers the same headers (libmicrohttpd sends no body for HEAD). */
#pragma once

#include <microhttpd.h>

#include "daemon.h"

/* Queues the answer for GET/HEAD of the overlay of boot token `token` (the path segment as
 * libmicrohttpd decoded it).  Returns MHD_YES/MHD_NO like a handler.  Any libmicrohttpd
 * thread; holds no lock of its own. */
enum MHD_Result overlay_http_serve(Daemon *d, struct MHD_Connection *c, const char *token);
