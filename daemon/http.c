/* http.c — see http.h.  Routes:
 *
 *   GET  /v1/boot/<mac>         pixiecore boot API (README.api.md): 200 install, 404 ignore
 *   GET  /v1/ipxe[?mac=<mac>]   iPXE chain script / per-machine script
 *   GET  /v1/files/<path>       inventory boot files (files.c)
 *   POST /v1/install/events     installer callbacks, Authorization: Bearer <install token>
 *   GET  /v1/nodes              every node's provision state
 *   GET  /v1/nodes/<name>       one node, with its current attempt and history
 *
 * HEAD works wherever GET does. */
#include "http.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "files.h"
#include "ipxe.h"
#include "log.h"
#include "mac.h"
#include "status-page.h"
#include "util.h"

#define MAX_BODY (64 * 1024)

struct Http {
        struct MHD_Daemon *mhd;
        Daemon *daemon; /* borrowed */
};

/* Per-request state for requests with a body. */
typedef struct Request {
        char *body;
        size_t len;
        bool too_large;
} Request;

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
        default:
                return "internal_error";
        }
}

/* Queues body (malloc'd or NULL; always consumed) with status; `allow` (or NULL) becomes an
 * Allow header. */
static enum MHD_Result queue_buffer_allow(struct MHD_Connection *c, unsigned status, char *body, size_t len,
                                          const char *content_type, const char *allow) {
        struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
        if (!resp) {
                free(body);
                return MHD_NO;
        }
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
        if (status == MHD_HTTP_UNAUTHORIZED)
                MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"provd\"");
        if (allow)
                MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
        enum MHD_Result ret = MHD_queue_response(c, status, resp);
        MHD_destroy_response(resp);
        return ret;
}

static enum MHD_Result queue_buffer(struct MHD_Connection *c, unsigned status, char *body, size_t len,
                                    const char *content_type) {
        return queue_buffer_allow(c, status, body, len, content_type, NULL);
}

/* Queues `o` as JSON; steals the reference. */
static enum MHD_Result respond_json_allow(struct MHD_Connection *c, unsigned status, json_t *o, const char *allow) {
        char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        if (!s)
                return MHD_NO;
        size_t len = strlen(s);
        char *body = realloc(s, len + 2);
        if (!body) {
                free(s);
                return MHD_NO;
        }
        body[len] = '\n';
        body[len + 1] = '\0';
        return queue_buffer_allow(c, status, body, len + 1, "application/json", allow);
}

static enum MHD_Result respond_json(struct MHD_Connection *c, unsigned status, json_t *o) {
        return respond_json_allow(c, status, o, NULL);
}

static json_t *error_body(unsigned status, const char *msg) {
        return json_pack("{s:{s:s, s:s}}", "error", "code", status_code_name(status), "message", msg);
}

enum MHD_Result http_respond_error(struct MHD_Connection *c, unsigned status, const char *fmt, ...) {
        char msg[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        return respond_json(c, status, error_body(status, msg));
}

static enum MHD_Result respond_method_not_allowed(struct MHD_Connection *c, const char *allow) {
        char msg[128];
        snprintf(msg, sizeof msg, "allowed: %s", allow);
        return respond_json_allow(c, MHD_HTTP_METHOD_NOT_ALLOWED, error_body(MHD_HTTP_METHOD_NOT_ALLOWED, msg), allow);
}

/* HEAD of a boot route: the status GET would give, without side effects (a GET may open an
 * install attempt; a probe must not).  No body. */
static enum MHD_Result respond_boot_probe(Http *h, struct MHD_Connection *c, const char *mac, const char *content_type,
                                          bool ipxe) {
        DaemonBootResult result;
        int r = daemon_boot_peek(h->daemon, mac, &result);
        if (r < 0)
                return http_respond_error(c, http_status_from_errno(r), "cannot answer the boot of %s", mac);
        unsigned status = ipxe || result == DAEMON_BOOT_RESULT_INSTALL ? MHD_HTTP_OK : MHD_HTTP_NOT_FOUND;
        return queue_buffer(c, status, NULL, 0, content_type);
}

static enum MHD_Result route_boot(Http *h, struct MHD_Connection *c, const char *method, const char *mac_arg) {
        char mac[MAC_STRING_MAX];
        DaemonBootResult result;
        _cleanup_free_ char *body = NULL;

        if (mac_normalize(mac_arg, mac) < 0)
                return http_respond_error(c, MHD_HTTP_BAD_REQUEST, "\"%.64s\" is not a MAC address", mac_arg);
        if (streq(method, MHD_HTTP_METHOD_HEAD))
                return respond_boot_probe(h, c, mac, "application/json", false);
        int r = daemon_boot(h->daemon, mac, DAEMON_BOOT_PIXIECORE, &result, &body);
        if (r < 0)
                return http_respond_error(c, http_status_from_errno(r), "cannot answer the boot of %s: %s", mac,
                                          strerror(-r));
        switch (result) {
        case DAEMON_BOOT_RESULT_INSTALL: {
                size_t len = strlen(body);
                return queue_buffer(c, MHD_HTTP_OK, TAKE_PTR(body), len, "application/json");
        }
        case DAEMON_BOOT_RESULT_LOCAL:
                return http_respond_error(c, MHD_HTTP_NOT_FOUND, "%s boots from its local disk", mac);
        default:
                return http_respond_error(c, MHD_HTTP_NOT_FOUND, "MAC %s is not in the inventory", mac);
        }
}

static enum MHD_Result route_ipxe(Http *h, struct MHD_Connection *c, const char *method) {
        const char *mac_arg = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "mac");
        char mac[MAC_STRING_MAX];
        DaemonBootResult result;
        char *body;

        if (!mac_arg) {
                body = ipxe_render_chain(daemon_public_url(h->daemon));
        } else {
                if (mac_normalize(mac_arg, mac) < 0) {
                        char *s = NULL;
                        if (asprintf(&s, "#!ipxe\necho provd: \"%.17s\" is not a MAC address; leaving network boot\nexit 1\n",
                                     mac_arg) < 0)
                                return MHD_NO;
                        /* Sanitise: the echo must not let iPXE expand anything of the client's. */
                        for (char *p = s + 7; *p; p++)
                                if (*p == '$' || (unsigned char) *p < 0x20)
                                        *p = *p == '\n' ? '\n' : '?';
                        return queue_buffer(c, MHD_HTTP_BAD_REQUEST, s, strlen(s), "text/plain");
                }
                if (streq(method, MHD_HTTP_METHOD_HEAD))
                        return respond_boot_probe(h, c, mac, "text/plain", true);
                int r = daemon_boot(h->daemon, mac, DAEMON_BOOT_IPXE, &result, &body);
                if (r < 0)
                        return http_respond_error(c, http_status_from_errno(r), "cannot answer the boot of %s: %s",
                                                  mac, strerror(-r));
        }
        if (!body)
                return MHD_NO;
        return queue_buffer(c, MHD_HTTP_OK, body, strlen(body), "text/plain");
}

static const char *bearer_token(struct MHD_Connection *c) {
        const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
        if (!auth || strncasecmp(auth, "Bearer ", 7) != 0)
                return NULL;
        auth += 7;
        while (*auth == ' ')
                auth++;
        return auth;
}

static enum MHD_Result route_install_event(Http *h, struct MHD_Connection *c, Request *req) {
        json_error_t jerr;
        char err[512] = "";
        json_t *ret = NULL;

        if (req->too_large)
                return http_respond_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "body larger than %d bytes", MAX_BODY);
        const char *token = bearer_token(c);
        if (!token)
                return http_respond_error(c, MHD_HTTP_UNAUTHORIZED,
                                          "missing install token: send Authorization: Bearer <provd.token>");

        _cleanup_(json_decrefp) json_t *body = json_loadb(req->body ? req->body : "", req->len, 0, &jerr);
        if (!body)
                return http_respond_error(c, MHD_HTTP_BAD_REQUEST, "body is not valid JSON: line %d, column %d: %s",
                                          jerr.line, jerr.column, jerr.text);
        if (!json_is_object(body))
                return http_respond_error(c, MHD_HTTP_BAD_REQUEST,
                                          "body must be a JSON object {\"phase\": \"...\", \"message\": \"...\"}");
        json_t *phase = json_object_get(body, "phase"), *message = json_object_get(body, "message");
        if (!json_is_string(phase))
                return http_respond_error(c, MHD_HTTP_BAD_REQUEST, "\"phase\" is missing or not a string");
        if (message && !json_is_string(message) && !json_is_null(message))
                return http_respond_error(c, MHD_HTTP_BAD_REQUEST, "\"message\" must be a string");

        int r = daemon_install_event(h->daemon, token, json_string_value(phase),
                                     json_is_string(message) ? json_string_value(message) : NULL, &ret, err,
                                     sizeof err);
        if (r < 0)
                return http_respond_error(c, http_status_from_errno(r), "%s", err[0] ? err : strerror(-r));
        return respond_json(c, MHD_HTTP_OK, ret);
}

static enum MHD_Result route_nodes(Http *h, struct MHD_Connection *c, const char *name) {
        json_t *o = NULL;
        int r = name ? daemon_node_json(h->daemon, name, &o) : daemon_nodes_json(h->daemon, &o);
        if (r == -ENOENT)
                return http_respond_error(c, MHD_HTTP_NOT_FOUND, "no node \"%.64s\" in the inventory", name);
        if (r < 0)
                return http_respond_error(c, http_status_from_errno(r), "cannot read node state: %s", strerror(-r));
        return respond_json(c, MHD_HTTP_OK, o);
}

static bool is_get(const char *method) {
        return streq(method, MHD_HTTP_METHOD_GET) || streq(method, MHD_HTTP_METHOD_HEAD);
}

/* GET / — the status page (status-page.h): static, always open, with its hash-based CSP. */
static enum MHD_Result route_status_page(struct MHD_Connection *c) {
        struct MHD_Response *resp = MHD_create_response_from_buffer(status_page_html_len, (void *) status_page_html,
                                                                    MHD_RESPMEM_PERSISTENT);
        if (!resp)
                return MHD_NO;
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/html; charset=utf-8");
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
        MHD_add_response_header(resp, "Content-Security-Policy", status_page_html_csp);
        MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
        MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
        enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, resp);
        MHD_destroy_response(resp);
        return ret;
}

static enum MHD_Result dispatch(Http *h, struct MHD_Connection *c, const char *url, const char *method,
                                Request *req) {
        if (streq(url, "/")) {
                if (!is_get(method))
                        return respond_method_not_allowed(c, "GET, HEAD");
                return route_status_page(c);
        }
        if (startswith(url, "/v1/boot/")) {
                if (!is_get(method))
                        return respond_method_not_allowed(c, "GET, HEAD");
                return route_boot(h, c, method, url + strlen("/v1/boot/"));
        }
        if (streq(url, "/v1/ipxe")) {
                if (!is_get(method))
                        return respond_method_not_allowed(c, "GET, HEAD");
                return route_ipxe(h, c, method);
        }
        if (startswith(url, "/v1/files/")) {
                if (!is_get(method))
                        return respond_method_not_allowed(c, "GET, HEAD");
                return files_serve(h->daemon, c, url + strlen("/v1/files"));
        }
        if (streq(url, "/v1/install/events")) {
                if (!streq(method, MHD_HTTP_METHOD_POST))
                        return respond_method_not_allowed(c, "POST");
                return route_install_event(h, c, req);
        }
        if (streq(url, "/v1/nodes") || startswith(url, "/v1/nodes/")) {
                if (!is_get(method))
                        return respond_method_not_allowed(c, "GET, HEAD");
                const char *name = url[strlen("/v1/nodes")] ? url + strlen("/v1/nodes/") : NULL;
                return route_nodes(h, c, name);
        }
        return http_respond_error(c, MHD_HTTP_NOT_FOUND, "no such route: %.200s", url);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
        Http *h = cls;
        Request *req = *con_cls;

        if (!req) {
                /* The first call only sees the headers.  Answering now would make
                 * libmicrohttpd close the connection ("early response"), and pixiecore and
                 * iPXE reuse connections: always answer once the request is complete. */
                req = calloc(1, sizeof *req);
                if (!req)
                        return MHD_NO;
                *con_cls = req;
                return MHD_YES;
        }
        if (*upload_data_size > 0) {
                size_t n = *upload_data_size;
                *upload_data_size = 0;
                if (req->too_large || req->len + n > MAX_BODY) {
                        req->too_large = true;
                        return MHD_YES;
                }
                char *b = realloc(req->body, req->len + n + 1);
                if (!b)
                        return MHD_NO;
                memcpy(b + req->len, upload_data, n);
                req->body = b;
                req->len += n;
                req->body[req->len] = '\0';
                return MHD_YES;
        }
        return dispatch(h, c, url, method, req);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
        Request *req = *con_cls;
        if (req) {
                free(req->body);
                free(req);
                *con_cls = NULL;
        }
}

/* Headers and body of small answers must not wait for Nagle + delayed ACK: pixiecore reuses
 * connections and a split write cost ~40 ms per call (TESTBED.md). */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context, enum MHD_ConnectionNotificationCode code) {
        if (code != MHD_CONNECTION_NOTIFY_STARTED)
                return;
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (ci) {
                int one = 1;
                (void) setsockopt(ci->connect_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        }
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
        char msg[512];
        vsnprintf(msg, sizeof msg, fmt, ap);
        msg[strcspn(msg, "\n")] = '\0';
        log_warning("http: %s", msg);
}

int http_start(Daemon *d, int fd, unsigned threads, Http **ret) {
        Http *h = calloc(1, sizeof *h);
        if (!h) {
                close(fd);
                return -ENOMEM;
        }
        if (threads == 0) {
                long n = sysconf(_SC_NPROCESSORS_ONLN);
                threads = n < 2 ? 2 : (unsigned) n;
        }
        h->daemon = d;
        h->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, NULL, NULL,
                                  on_request, h, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, h, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_THREAD_POOL_SIZE, threads,
                                  MHD_OPTION_NOTIFY_COMPLETED, on_completed, h, MHD_OPTION_NOTIFY_CONNECTION,
                                  on_connection, h, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned) 60,
                                  MHD_OPTION_CONNECTION_LIMIT, (unsigned) 4096, MHD_OPTION_END);
        if (!h->mhd) {
                close(fd);
                free(h);
                return log_error_errno(EIO, "cannot start the HTTP server (libmicrohttpd)");
        }
        *ret = h;
        return 0;
}

void http_stop(Http *h) {
        if (!h)
                return;
        MHD_stop_daemon(h->mhd);
        free(h);
}
