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
