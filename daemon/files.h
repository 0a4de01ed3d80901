/* files.h — serving the inventory's kernel and initrd files under /v1/files/<path>.
 *
 * Only paths that are exactly an inventory boot file are served (daemon_file_allowed()):
 * no directory listing, no normalisation, so "..", "//" or symlink games match nothing.
 * Bodies go out with sendfile(2) (libmicrohttpd fd responses), with Content-Length, a
 * strong ETag from (device, inode, size, mtime), Last-Modified, conditional GET (304 on
 * If-None-Match / If-Modified-Since, RFC 9110 §13) and HEAD.  A GET may ask for one byte
 * range (Range, RFC 9110 §14.2; If-Range §13.1.5): 206 with Content-Range, 416 with a
 * Content-Range that gives the size for a range past the end, several ranges answered 200 whole; every
 * answer says Accept-Ranges: bytes.  Files under FILES_IMMUTABLE_PREFIX are content-addressed
 * (a Nix store path's hash names its content), so their URL never changes meaning:
 * Cache-Control: public, max-age=31536000, immutable (RFC 8246), for HTTP caches in front of
 * provd; other files no-cache (revalidate with the ETag).
 *
 * The bodies of GET /v1/files (200 and 206) are transfers under the cap of transfers.h: over
 * it, the request waits with its connection suspended.  HEAD, 304, 416 and errors never wait. */
#pragma once

#include <microhttpd.h>

#include "daemon.h"
#include "transfers.h"

/* Paths under it are content-addressed (the Nix store). */
#define FILES_IMMUTABLE_PREFIX "/nix/store/"

/* Queues the answer for GET/HEAD (`head`) of `path` (the URL path after "/v1/files", already
 * percent-decoded by libmicrohttpd); a body waits for a slot of t (NULL: no cap) with the
 * request's *ticket (see transfers_acquire(): the caller keeps it and hands it to
 * transfers_completed() when the request completes).  Returns MHD_YES/MHD_NO like a handler:
 * MHD_YES with no answer queued when the request waits (the connection is suspended and the
 * handler is called again when it is resumed). */
enum MHD_Result files_serve(Daemon *d, Transfers *t, struct MHD_Connection *c, const char *path, bool head,
                            TransferTicket **ticket);

/* Queues the answer for GET/HEAD of the local file `path` (absolute), with the same headers
 * and conditional GET as above, for a file provd serves by configuration rather than by
 * inventory (the iPXE EFI binary of /v1/ipxe.efi).  `what` names it in errors ("the iPXE EFI
 * binary").  A missing or unreadable file is 404 with a message naming the path and `hint`
 * (which setting to change), logged once per call. */
enum MHD_Result files_serve_local(struct MHD_Connection *c, const char *path, const char *what, const char *hint);
