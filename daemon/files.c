/* files.c — see files.h. */
#include "files.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "http-range.h"
#include "http-response.h"
#include "log.h"
#include "util.h"

/* The HTTP-date `header` as a time, or -1 when it is not one (IMF-fixdate, RFC 9110 §5.6.7;
 * the obsolete forms are not accepted). */
static time_t parse_http_date(const char *header) {
        struct tm tm = { 0 };
        const char *end = strptime(header, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        if (!end || *end != '\0')
                return -1;
        return timegm(&tm);
}

static bool not_modified_since(const char *header, time_t mtime) {
        time_t t = parse_http_date(header);
        return t >= 0 && mtime <= t; /* unparseable: ignore the header (RFC 9110 §13.1.3) */
}

/* True if the If-Range value `header` validates the representation (RFC 9110 §13.1.5): an
 * entity-tag that is strong and equals etag (strong comparison, §8.8.3.2), or an HTTP-date
 * equal to the Last-Modified time `mtime` when that time is a strong validator: at least a
 * second before now (§8.8.2.2: a file changed twice within its mtime's second would
 * otherwise match). */
static bool if_range_holds(const char *header, const char *etag, time_t mtime) {
        while (*header == ' ' || *header == '\t')
                header++;
        if (startswith(header, "W/"))
                return false;
        if (header[0] == '"') {
                size_t n = strlen(header);
                while (n > 0 && (header[n - 1] == ' ' || header[n - 1] == '\t'))
                        n--;
                return n == strlen(etag) && memcmp(header, etag, n) == 0;
        }
        time_t t = parse_http_date(header);
        return t >= 0 && t == mtime && mtime < time(NULL);
}

/* How serve_fd() answers. */
typedef struct ServeOptions {
        bool head;                /* HEAD: never a range, never a transfer */
        bool ranges;              /* Range requests are answered (Accept-Ranges: bytes) */
        bool immutable;           /* a content-addressed path: cacheable for good (RFC 8246) */
        Transfers *transfers;     /* borrowed; NULL: no cap on this route */
        TransferTicket **ticket;  /* the request's ticket (with transfers) */
} ServeOptions;

/* Serves the open regular file fd (taken: closed in every case): 304 when a conditional GET
 * says the client has it (RFC 9110 §13.2.2: before Range), 206 with one byte range, 416 for
 * a range past the end, else 200 with the whole file.  A 200 or 206 body of a GET is a
 * transfer and waits for a slot of o->transfers. */
static enum MHD_Result serve_fd(struct MHD_Connection *c, int fd_in, const struct stat *stp, const ServeOptions *o) {
        _cleanup_close_ int fd = fd_in;
        const struct stat st = *stp;
        const uint64_t size = (uint64_t) st.st_size;

        char etag[96], last_modified[40];
        snprintf(etag, sizeof etag, "\"%" PRIx64 "-%" PRIx64 "-%" PRIx64 "-%" PRIx64 "%09ld\"", (uint64_t) st.st_dev,
                 (uint64_t) st.st_ino, size, (uint64_t) st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
        struct tm tm;
        gmtime_r(&st.st_mtim.tv_sec, &tm);
        strftime(last_modified, sizeof last_modified, "%a, %d %b %Y %H:%M:%S GMT", &tm);

        const char *inm = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
        const char *ims = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_MODIFIED_SINCE);
        bool not_modified = inm ? http_etag_listed(inm, etag) : ims ? not_modified_since(ims, st.st_mtim.tv_sec) : false;

        /* Range applies to GET only (RFC 9110 §14.2), and only while If-Range, if sent, holds. */
        int range = HTTP_RANGE_WHOLE;
        uint64_t first = 0, last = size ? size - 1 : 0;
        if (!not_modified && !o->head && o->ranges) {
                const char *rh = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_RANGE);
                const char *ir = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_RANGE);
                if (rh && (!ir || if_range_holds(ir, etag, st.st_mtim.tv_sec)))
                        range = http_range_parse(rh, size, &first, &last);
        }
        char content_range[64];
        if (range == HTTP_RANGE_UNSATISFIABLE) {
                snprintf(content_range, sizeof content_range, "bytes */%" PRIu64, size);
                return http_respond_error_header(c, MHD_HTTP_RANGE_NOT_SATISFIABLE, MHD_HTTP_HEADER_CONTENT_RANGE,
                                                 content_range, "the range is past the end of the file (%" PRIu64 " bytes)",
                                                 size);
        }

        struct MHD_Response *resp;
        unsigned status;
        uint64_t len = 0;
        if (not_modified) {
                resp = MHD_create_response_from_buffer(0, (void *) "", MHD_RESPMEM_PERSISTENT);
                status = MHD_HTTP_NOT_MODIFIED;
        } else {
                if (!o->head && o->transfers) {
                        int r = transfers_acquire(o->transfers, c, o->ticket);
                        if (r == 0)
                                return MHD_YES; /* suspended: called again with a slot */
                        if (r < 0)
                                return MHD_NO; /* client gone, stopping, or no memory: close */
                }
                status = range == HTTP_RANGE_PART ? MHD_HTTP_PARTIAL_CONTENT : MHD_HTTP_OK;
                len = status == MHD_HTTP_PARTIAL_CONTENT ? last - first + 1 : size;
                /* On success libmicrohttpd owns the fd (closed when the response is freed); it
                 * sends it with sendfile(2) where it can. */
                resp = MHD_create_response_from_fd_at_offset64(len, fd, first);
                if (resp) {
                        fd = -1;
                        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/octet-stream");
                        if (status == MHD_HTTP_PARTIAL_CONTENT) {
                                snprintf(content_range, sizeof content_range, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64,
                                         first, last, size);
                                MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_RANGE, content_range);
                        }
                }
        }
        if (!resp)
                return MHD_NO;
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, etag);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_LAST_MODIFIED, last_modified);
        if (o->ranges)
                MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
                                o->immutable ? "public, max-age=31536000, immutable" : "no-cache");
        return http_queue(c, status, resp, len);
}

/* Opens path for serving: 0 and *ret_fd, *ret_st; or a negative errno (-EISDIR for
 * something that is not a regular file). */
static int open_regular(const char *path, int *ret_fd, struct stat *ret_st) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fstat(fd, ret_st) < 0)
                return -errno;
        if (!S_ISREG(ret_st->st_mode))
                return -EISDIR;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

enum MHD_Result files_serve(Daemon *d, Transfers *t, struct MHD_Connection *c, const char *path, bool head,
                            TransferTicket **ticket) {
        struct stat st;
        int fd = -1; /* set by open_regular(); initialised for gcc -O3's -Wmaybe-uninitialized */

        if (!daemon_file_allowed(d, path))
                return http_respond_error(c, MHD_HTTP_NOT_FOUND, "no boot file %s in the inventory", path);
        int r = open_regular(path, &fd, &st);
        if (r == -EISDIR)
                return http_respond_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "boot file %s is not a regular file", path);
        if (r < 0) {
                log_error_errno(r, "cannot open boot file %s: %m", path);
                return http_respond_error(c, http_status_from_errno(r == -ENOENT ? -EIO : r),
                                          "boot file %s cannot be read: %s", path, strerror(-r));
        }
        return serve_fd(c, fd, &st,
                        &(ServeOptions) { .head = head,
                                          .ranges = true,
                                          .immutable = startswith(path, FILES_IMMUTABLE_PREFIX),
                                          .transfers = t,
                                          .ticket = ticket });
}

enum MHD_Result files_serve_local(struct MHD_Connection *c, const char *path, const char *what, const char *hint) {
        struct stat st;
        int fd = -1; /* set by open_regular(); initialised for gcc -O3's -Wmaybe-uninitialized */

        int r = open_regular(path, &fd, &st);
        if (r < 0) {
                const char *why = r == -EISDIR ? "not a regular file" : strerror(-r);
                log_error("cannot serve %s %s: %s (%s)", what, path, why, hint);
                return http_respond_error(c, MHD_HTTP_NOT_FOUND, "%s %s cannot be served: %s (%s)", what, path, why, hint);
        }
        return serve_fd(c, fd, &st, &(ServeOptions) { .head = false });
}
