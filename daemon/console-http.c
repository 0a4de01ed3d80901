/* console-http.c — see console-http.h. */
#include "console-http.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http-response.h"
#include "util.h"

struct ConsoleStream {
        Console *c;               /* borrowed */
        struct MHD_Connection *conn;
        ConsoleFollow f;
        int fd;
        bool listed;              /* in console.c's follower list */
        uint64_t bytes;
};


/* follow=1|true|yes, 0|false|no; anything else is -EINVAL. */
static int parse_flag(const char *v, bool *ret) {
        if (!v) {
                *ret = false;
                return 0;
        }
        if (streq(v, "1") || streq(v, "true") || streq(v, "yes") || streq(v, "")) {
                *ret = true;
                return 0;
        }
        if (streq(v, "0") || streq(v, "false") || streq(v, "no")) {
                *ret = false;
                return 0;
        }
        return -EINVAL;
}

/* Called under the console lock. */
static void stream_suspend(void *userdata) {
        ConsoleStream *s = userdata;
        MHD_suspend_connection(s->conn);
}

static void stream_resume(void *userdata) {
        ConsoleStream *s = userdata;
        MHD_resume_connection(s->conn);
}

/* libmicrohttpd's content reader: the file from `pos`, then waits for more. */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
        ConsoleStream *s = cls;
        for (;;) {
                ssize_t n = pread(s->fd, buf, max, (off_t) pos);
                if (n > 0) {
                        s->bytes += (uint64_t) n;
                        return n;
                }
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return MHD_CONTENT_READER_END_WITH_ERROR;
                int r = console_follow_check(s->c, &s->f, pos);
                if (r > 0)
                        continue;
                if (r == 0)
                        return 0; /* suspended */
                /* The capture of this file ended: what it wrote last, then the end. */
                n = pread(s->fd, buf, max, (off_t) pos);
                if (n > 0) {
                        s->bytes += (uint64_t) n;
                        return n;
                }
                return MHD_CONTENT_READER_END_OF_STREAM;
        }
}

static void stream_free(void *cls) {
        ConsoleStream *s = cls;
        if (s->listed)
                console_follow_remove(s->c, &s->f);
        if (s->fd >= 0)
                close(s->fd);
        free(s);
}

uint64_t console_http_completed(Console *c, ConsoleStream *s) {
        if (s->listed) {
                console_follow_remove(c, &s->f);
                s->listed = false;
        }
        return s->bytes;
}

static void add_headers(struct MHD_Response *resp, const ConsoleLog *log) {
        char attempt[24];
        if (log->attempt > 0)
                snprintf(attempt, sizeof attempt, "%lld", (long long) log->attempt);
        else
                snprintf(attempt, sizeof attempt, "live");
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
        MHD_add_response_header(resp, "X-Provd-Attempt", attempt);
        MHD_add_response_header(resp, "X-Provd-Capturing", log->capturing ? "yes" : "no");
}

enum MHD_Result console_http_get(Console *c, struct MHD_Connection *conn, const char *node, bool head,
                                 ConsoleStream **ret_stream) {
        const char *a = http_query(conn, "attempt"), *fv = http_query(conn, "follow");
        int64_t attempt = 0;
        bool follow;
        char err[256];
        ConsoleLog log;

        *ret_stream = NULL;
        if (a && parse_int64(a, 1, INT64_MAX, &attempt) < 0)
                return http_respond_error(conn, MHD_HTTP_BAD_REQUEST, "attempt must be a positive integer, not \"%.32s\"", a);
        if (parse_flag(fv, &follow) < 0)
                return http_respond_error(conn, MHD_HTTP_BAD_REQUEST, "follow must be 1 or 0, not \"%.32s\"", fv);
        int r = console_log_open(c, node, attempt, &log, err, sizeof err);
        if (r == -ENOENT || r == -ENODATA)
                return http_respond_error(conn, MHD_HTTP_NOT_FOUND, "%s", err);
        if (r < 0)
                return http_respond_errno(conn, r, "read the console log");

        if (!follow || head) {
                struct MHD_Response *resp = MHD_create_response_from_fd((uint64_t) log.size, log.fd);
                if (!resp) {
                        close(log.fd);
                        return MHD_NO;
                }
                add_headers(resp, &log);
                return http_queue(conn, MHD_HTTP_OK, resp, head ? 0 : log.size);
        }

        ConsoleStream *s = calloc(1, sizeof *s);
        if (!s) {
                close(log.fd);
                return MHD_NO;
        }
        s->c = c;
        s->conn = conn;
        s->fd = log.fd;
        snprintf(s->f.node, sizeof s->f.node, "%s", node);
        s->f.attempt = log.attempt;
        s->f.suspend = stream_suspend;
        s->f.resume = stream_resume;
        s->f.userdata = s;
        struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_read, s, stream_free);
        if (!resp) {
                close(s->fd);
                free(s);
                return MHD_NO;
        }
        /* From here on the response owns s. */
        console_follow_add(c, &s->f);
        s->listed = true;
        add_headers(resp, &log);
        MHD_add_response_header(resp, "X-Accel-Buffering", "no");
        *ret_stream = s;
        return http_queue(conn, MHD_HTTP_OK, resp, 0);
}

enum MHD_Result console_http_post(Console *c, struct MHD_Connection *conn, const char *node) {
        const char *v = http_query(conn, "seconds");
        int64_t seconds = CONSOLE_LIVE_DEFAULT_S;
        char err[512] = "";
        if (v && parse_int64(v, 1, CONSOLE_LIVE_MAX_S, &seconds) < 0)
                return http_respond_error(conn, MHD_HTTP_BAD_REQUEST, "seconds must be an integer from 1 to %d, not \"%.32s\"",
                                          CONSOLE_LIVE_MAX_S, v);
        int r = console_live_start(c, node, (unsigned) seconds, err, sizeof err);
        if (r < 0) {
                unsigned status = r == -ENOENT                 ? MHD_HTTP_NOT_FOUND
                                  : r == -ENODEV || r == -EBUSY ? MHD_HTTP_CONFLICT
                                  : r == -ESHUTDOWN             ? MHD_HTTP_SERVICE_UNAVAILABLE
                                                                : http_status_from_errno(r);
                return http_respond_error(conn, status, "%s", err[0] ? err : strerror(-r));
        }
        return http_respond_json(conn, MHD_HTTP_ACCEPTED,
                                 json_pack("{s:s, s:s, s:s, s:I}", "node", node, "state", "capturing", "file", "live",
                                           "seconds", (json_int_t) seconds));
}

enum MHD_Result console_http_delete(Console *c, struct MHD_Connection *conn, const char *node) {
        int r = console_live_stop(c, node);
        if (r == -ENOENT)
                return http_respond_no_node(conn, node);
        if (r < 0)
                return http_respond_errno(conn, r, "stop the capture");
        return http_respond_no_content(conn);
}
