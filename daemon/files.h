/* files.h — serving the inventory's kernel and initrd files under /v1/files/<path>.
 *
 * Only paths that are exactly an inventory boot file are served (daemon_file_allowed()):
 * no directory listing, no normalisation, so "..", "//" or symlink games match nothing.
 * Bodies go out with sendfile(2) (libmicrohttpd fd responses), with Content-Length, a
 * strong ETag from (device, inode, size, mtime), Last-Modified, conditional GET (304 on
 * If-None-Match / If-Modified-Since, RFC 9110 §13) and HEAD. */
#pragma once

#include <microhttpd.h>

#include "daemon.h"

/* Queues the answer for GET/HEAD of `path` (the URL path after "/v1/files", already
 * percent-decoded by libmicrohttpd).  Returns MHD_YES/MHD_NO like a handler. */
enum MHD_Result files_serve(Daemon *d, struct MHD_Connection *c, const char *path);

/* Queues the answer for GET/HEAD of the local file `path` (absolute), with the same headers
 * and conditional GET as above, for a file provd serves by configuration rather than by
 * inventory (the iPXE EFI binary of /v1/ipxe.efi).  `what` names it in errors ("the iPXE EFI
 * binary").  A missing or unreadable file is 404 with a message naming the path and `hint`
 * (which setting to change), logged once per call. */
enum MHD_Result files_serve_local(struct MHD_Connection *c, const char *path, const char *what, const char *hint);
