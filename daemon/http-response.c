/* http-response.c — see http-response.h. */
#include "http-response.h"

#include <errno.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "text.h"
#include "util.h"

/* The answer record of the request being handled on this thread. */
static __thread HttpAnswer *current_answer;

void http_response_track(HttpAnswer *a) {
        current_answer = a;
}

void http_note_response(unsigned status, uint64_t bytes) {
        if (current_answer) {
                current_answer->status = status;
                current_answer->bytes = bytes;
        }
}

static const struct {
        int err;
        unsigned status;
} errno_status[] = {
        { EINVAL, MHD_HTTP_BAD_REQUEST },
        { EBADMSG, MHD_HTTP_BAD_REQUEST },
        { ENOKEY, MHD_HTTP_UNAUTHORIZED },
        { EKEYEXPIRED, MHD_HTTP_FORBIDDEN },
        { EACCES, MHD_HTTP_FORBIDDEN },
        { ENOENT, MHD_HTTP_NOT_FOUND },
        { EPROTO, MHD_HTTP_CONFLICT },
        { EEXIST, MHD_HTTP_CONFLICT },
        { EALREADY, MHD_HTTP_CONFLICT },
        { ENODEV, MHD_HTTP_CONFLICT },
        { EMEDIUMTYPE, MHD_HTTP_CONFLICT }, /* an operation for the other mode (reboot, reinstall) */
        { EMSGSIZE, MHD_HTTP_CONTENT_TOO_LARGE },
        { EBUSY, MHD_HTTP_SERVICE_UNAVAILABLE },
        { ENOMEM, MHD_HTTP_SERVICE_UNAVAILABLE },
        { ENOSPC, MHD_HTTP_INSUFFICIENT_STORAGE },
};

unsigned http_status_from_errno(int err) {
        for (size_t i = 0; i < ELEMENTSOF(errno_status); i++)
                if (errno_status[i].err == abs(err))
                        return errno_status[i].status;
        return MHD_HTTP_INTERNAL_SERVER_ERROR;
}

static const char *status_code_name(unsigned status) {
        switch (status) {
        case MHD_HTTP_BAD_REQUEST:
                return "bad_request";
        case MHD_HTTP_UNAUTHORIZED:
                return "unauthorized";
        case MHD_HTTP_FORBIDDEN:
                return "forbidden";
        case MHD_HTTP_NOT_FOUND:
                return "not_found";
        case MHD_HTTP_METHOD_NOT_ALLOWED:
                return "method_not_allowed";
        case MHD_HTTP_CONFLICT:
                return "conflict";
        case MHD_HTTP_CONTENT_TOO_LARGE:
                return "payload_too_large";
        case MHD_HTTP_SERVICE_UNAVAILABLE:
                return "unavailable";
        case MHD_HTTP_INSUFFICIENT_STORAGE:
                return "insufficient_storage";
        case MHD_HTTP_NOT_IMPLEMENTED:
                return "not_implemented";
        case MHD_HTTP_RANGE_NOT_SATISFIABLE:
                return "range_not_satisfiable";
        default:
                return "internal_error";
        }
}

enum MHD_Result http_queue(struct MHD_Connection *c, unsigned status, struct MHD_Response *resp, uint64_t bytes) {
        MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
        http_note_response(status, bytes);
        enum MHD_Result ret = MHD_queue_response(c, status, resp);
        MHD_destroy_response(resp);
        return ret;
}

/* http_respond_buffer() with one more header `hname: hvalue` (hname NULL: none). */
static enum MHD_Result respond_buffer_with(struct MHD_Connection *c, unsigned status, char *body, size_t len,
                                           const char *content_type, const char *hname, const char *hvalue) {
        struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
        if (!resp) {
                free(body);
                return MHD_NO;
        }
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
        if (status == MHD_HTTP_UNAUTHORIZED)
                MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"provd\"");
        if (hname)
                MHD_add_response_header(resp, hname, hvalue);
        return http_queue(c, status, resp, len);
}

enum MHD_Result http_respond_buffer(struct MHD_Connection *c, unsigned status, char *body, size_t len,
                                    const char *content_type) {
        return respond_buffer_with(c, status, body, len, content_type, NULL, NULL);
}

/* http_respond_json_text() with one more header `hname: hvalue` (hname NULL: none). */
static enum MHD_Result respond_json_text_with(struct MHD_Connection *c, unsigned status, char *json, const char *hname,
                                              const char *hvalue) {
        if (!json)
                return MHD_NO;
        size_t len = strlen(json);
        char *body = realloc(json, len + 2);
        if (!body) {
                free(json);
                return MHD_NO;
        }
        body[len] = '\n';
        body[len + 1] = '\0';
        return respond_buffer_with(c, status, body, len + 1, "application/json", hname, hvalue);
}

enum MHD_Result http_respond_json_text(struct MHD_Connection *c, unsigned status, char *json) {
        return respond_json_text_with(c, status, json, NULL, NULL);
}

/* A JSON answer at least this long gives the memory of its tree back to the kernel. */
#define HTTP_TRIM_AFTER_BYTES (1024 * 1024)

/* http_respond_json() with one more header `hname: hvalue` (hname NULL: none). */
static enum MHD_Result respond_json_with(struct MHD_Connection *c, unsigned status, json_t *o, const char *hname,
                                         const char *hvalue) {
        char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        /* A large answer's tree (the whole node list: about 1 KiB of small allocations per
         * node) was just freed on this thread's malloc arena, which would keep it: give it
         * back (malloc_trim(3) also returns free pages inside the arenas, not only at their
         * top). */
        if (s && strlen(s) >= HTTP_TRIM_AFTER_BYTES)
                malloc_trim(0);
        if (!s) {
                /* The answer could not be built (no memory, or text jansson refuses): still an
                 * answer, never a dropped connection. */
                static const char body[] = "{\"error\":{\"code\":\"internal_error\",\"message\":\"the answer could not be "
                                           "built\"}}\n";
                log_error("cannot build a JSON answer (status %u): answering 500", status);
                struct MHD_Response *resp =
                        MHD_create_response_from_buffer(sizeof body - 1, (void *) body, MHD_RESPMEM_PERSISTENT);
                if (!resp)
                        return MHD_NO;
                MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
                return http_queue(c, MHD_HTTP_INTERNAL_SERVER_ERROR, resp, sizeof body - 1);
        }
        return respond_json_text_with(c, status, s, hname, hvalue);
}

enum MHD_Result http_respond_json(struct MHD_Connection *c, unsigned status, json_t *o) {
        return respond_json_with(c, status, o, NULL, NULL);
}

static json_t *error_body(unsigned status, const char *msg) {
        return json_pack("{s:{s:s, s:s}}", "error", "code", status_code_name(status), "message", msg);
}

/* http_respond_error() with one more header (hname NULL: none). */
static enum MHD_Result respond_error_v(struct MHD_Connection *c, unsigned status, const char *hname, const char *hvalue,
                                       const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));
static enum MHD_Result respond_error_v(struct MHD_Connection *c, unsigned status, const char *hname, const char *hvalue,
                                       const char *fmt, va_list ap) {
        char msg[1024];
        vsnprintf(msg, sizeof msg, fmt, ap);
        /* Messages echo client bytes (a path, a MAC, a filter), possibly cut inside a
         * character by a %.Ns: made valid UTF-8 here, once, for every error answer. */
        char safe[sizeof msg];
        return respond_json_with(c, status, error_body(status, text_utf8(msg, safe, sizeof safe)), hname, hvalue);
}

enum MHD_Result http_respond_error(struct MHD_Connection *c, unsigned status, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        enum MHD_Result ret = respond_error_v(c, status, NULL, NULL, fmt, ap);
        va_end(ap);
        return ret;
}

enum MHD_Result http_respond_error_header(struct MHD_Connection *c, unsigned status, const char *hname,
                                          const char *hvalue, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        enum MHD_Result ret = respond_error_v(c, status, hname, hvalue, fmt, ap);
        va_end(ap);
        return ret;
}

enum MHD_Result http_respond_errno(struct MHD_Connection *c, int r, const char *what) {
        return http_respond_error(c, http_status_from_errno(r), "cannot %s: %s", what, strerror(-r));
}

enum MHD_Result http_respond_no_route(struct MHD_Connection *c, const char *url) {
        return http_respond_error(c, MHD_HTTP_NOT_FOUND, "no such route: %.200s", url);
}

enum MHD_Result http_respond_no_node(struct MHD_Connection *c, const char *name) {
        return http_respond_error(c, MHD_HTTP_NOT_FOUND, "no node \"%.64s\" in the inventory", name);
}

enum MHD_Result http_respond_method_not_allowed(struct MHD_Connection *c, const char *allow) {
        char msg[128];
        snprintf(msg, sizeof msg, "allowed: %s", allow);
        return respond_json_with(c, MHD_HTTP_METHOD_NOT_ALLOWED, error_body(MHD_HTTP_METHOD_NOT_ALLOWED, msg),
                                 MHD_HTTP_HEADER_ALLOW, allow);
}

enum MHD_Result http_respond_no_content(struct MHD_Connection *c) {
        struct MHD_Response *resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
        if (!resp)
                return MHD_NO;
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
        return http_queue(c, MHD_HTTP_NO_CONTENT, resp, 0);
}

bool http_etag_listed(const char *header, const char *etag) {
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

