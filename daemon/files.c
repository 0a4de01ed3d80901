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

#include "http-response.h"
#include "log.h"
#include "util.h"

/* True if the If-None-Match header value lists etag (or is "*"); RFC 9110 §13.1.2 (weak
 * comparison: a W/ prefix is ignored). */
static bool etag_matches(const char *header, const char *etag) {
        size_t elen = strlen(etag);
        const char *p = header;
        while (*p) {
                while (*p == ' ' || *p == ',' || *p == '\t')
                        p++;
                if (*p == '*')
                        return true;
                if (startswith(p, "W/"))
                        p += 2;
                size_t n = strcspn(p, ",");
                while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
                        n--;
                if (n == elen && memcmp(p, etag, n) == 0)
                        return true;
                p += strcspn(p, ",");
        }
        return false;
}

static bool not_modified_since(const char *header, time_t mtime) {
        struct tm tm = { 0 };
        const char *end = strptime(header, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        if (!end || *end != '\0')
                return false; /* unparseable: ignore the header (RFC 9110 §13.1.3) */
        return mtime <= timegm(&tm);
}

/* Serves the open regular file fd (taken: closed in every case) as `path`. */
static enum MHD_Result serve_fd(struct MHD_Connection *c, int fd_in, const struct stat *stp) {
        _cleanup_close_ int fd = fd_in;
        const struct stat st = *stp;

        char etag[96], last_modified[40];
        snprintf(etag, sizeof etag, "\"%" PRIx64 "-%" PRIx64 "-%" PRIx64 "-%" PRIx64 "%09ld\"", (uint64_t) st.st_dev,
                 (uint64_t) st.st_ino, (uint64_t) st.st_size, (uint64_t) st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
        struct tm tm;
        gmtime_r(&st.st_mtim.tv_sec, &tm);
        strftime(last_modified, sizeof last_modified, "%a, %d %b %Y %H:%M:%S GMT", &tm);

        const char *inm = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
        const char *ims = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_MODIFIED_SINCE);
        bool not_modified = inm ? etag_matches(inm, etag) : ims ? not_modified_since(ims, st.st_mtim.tv_sec) : false;

        struct MHD_Response *resp;
        unsigned status;
        if (not_modified) {
                resp = MHD_create_response_from_buffer(0, (void *) "", MHD_RESPMEM_PERSISTENT);
                status = MHD_HTTP_NOT_MODIFIED;
        } else {
                /* On success libmicrohttpd owns the fd (closed when the response is freed). */
                resp = MHD_create_response_from_fd64((uint64_t) st.st_size, fd);
                status = MHD_HTTP_OK;
                if (resp) {
                        fd = -1;
                        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/octet-stream");
                }
        }
        if (!resp)
                return MHD_NO;
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, etag);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_LAST_MODIFIED, last_modified);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
        return http_queue(c, status, resp, status == MHD_HTTP_OK ? (uint64_t) st.st_size : 0);
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

enum MHD_Result files_serve(Daemon *d, struct MHD_Connection *c, const char *path) {
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
        return serve_fd(c, fd, &st);
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
        return serve_fd(c, fd, &st);
}
