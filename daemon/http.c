/* http.c — see http.h.  The routes are http_route_table[] below (api/openapi.yaml is the
 * contract): HEAD works wherever GET does.  Reads of cluster state need an API token when
 * read_auth is on; admin routes always do; boot routes, files and the page never do
 * (firmware cannot send tokens, and the page holds no data).
 *
 * The event stream's connections are stream.c's, the console routes console-http.c's, file
 * serving files.c's. */
#include "http.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "apitoken.h"
#include "cluster.h"
#include "console-http.h"
#include "files.h"
#include "framing.h"
#include "http-conns.h"
#include "http-response.h"
#include "http-routes.h"
#include "inventory.h"
#include "ipxe.h"
#include "overlay-http.h"
#include "log.h"
#include "mac.h"
#include "metrics.h"
#include "node-list.h"
#include "operations.h"
#include "status-page.h"
#include "service.h"
#include "stream.h"
#include "transfers.h"
#include "util.h"

#define MAX_BODY (64 * 1024)
#define BULK_MAX_BODY (1024 * 1024) /* POST /v1/bulk-operations: OP_BULK_NODES_MAX names of any length */
#define LIMIT_MAX 1000
#define TLS_PEM_MAX (1024 * 1024)
/* http_stop(): how long answers of resumed writes may take to go out before libmicrohttpd stops. */
#define HTTP_STOP_ANSWER_MS 5000
/* libmicrohttpd's memory pool per connection (MHD_OPTION_CONNECTION_MEMORY_LIMIT; its default
 * is 32 KiB).  It holds the request head as read, its parsed fields and the answer's head and
 * chunks, and libmicrohttpd 0.9.75 clears all of it (memset) after every request of a
 * keep-alive connection, so its size is paid on every answer.  It also bounds the request
 * head: a head (request line, fields, empty line) of up to 8 KiB is served, with up to
 * FRAMING_FIELDS_MAX fields (each takes a record from the pool) and a Cookie field counted
 * twice (libmicrohttpd copies it to parse it); from about 16 KiB libmicrohttpd refuses it with
 * 431 Request Header Fields Too Large, or 414 URI Too Long while the request line alone does
 * not fit — in the few hundred bytes where not even that answer fits, it closes the connection
 * (its manual: MHD_OPTION_CONNECTION_MEMORY_LIMIT, "half of the memory will be typically used
 * for IO").  Boot clients' heads are well under 1 KiB (iPXE, UEFI HTTP Boot, pixiecore, curl). */
#define HTTP_CONNECTION_MEMORY (16 * 1024)

struct Http {
        struct MHD_Daemon *mhd;
        Daemon *daemon; /* borrowed */
        Ops *ops;       /* borrowed */
        bool read_auth;
        char *api_tokens_path; /* NULL: no API tokens, every admin route answers 401 */
        char *tls_cert, *tls_key; /* PEM text (not paths), kept while libmicrohttpd runs */

        pthread_rwlock_t tokens_lock;
        ApiTokens *tokens; /* owned; replaced whole on reload */

        Streams *streams; /* owned: GET /v1/events/stream connections */
        Console *console; /* borrowed; NULL: no console routes */
        Cluster *cluster; /* borrowed; NULL: GET /v1/instances answers 404 */
        unsigned features; /* HTTP_ROUTE_OPS, HTTP_ROUTE_CONSOLE: which routes exist */
        char *ipxe_efi;   /* the iPXE EFI binary's path, or NULL: /v1/ipxe.efi is no route */
        HttpConns *conns; /* owned: every connection, for the request deadline and eviction */
        Transfers *transfers; /* owned: the cap on GET /v1/files bodies */
        unsigned max_connections;

        /* Suspended writes (daemon.h): writes_lock orders "not done yet: suspend" against
         * "done: resume", and counts the connections suspended on a write, which http_stop()
         * waits to see resumed, and then answered, before libmicrohttpd stops.  Once stopping,
         * a write route waits on its worker instead of suspending. */
        pthread_mutex_t writes_lock;
        pthread_cond_t writes_cond; /* a write is done, or a suspended one's request completed
                                     * (CLOCK_MONOTONIC) */
        size_t writes_suspended;    /* suspended and not resumed yet */
        size_t writes_answering;    /* suspended once, and their request not completed yet */
        bool writes_stopping;
};

/* Per-request state. */
struct HttpRequest {
        char *body;
        size_t len;
        size_t max_body; /* MAX_BODY, or BULK_MAX_BODY for the bulk route */
        bool too_large;
        MetricsRoute route;
        HttpAnswer answer; /* for the HTTP metrics */
        Stream *stream; /* borrowed: the stream's response owns it */
        ConsoleStream *console_stream; /* borrowed: GET .../console?follow=1 */
        NodeList *node_list; /* borrowed: GET /v1/nodes's response owns it */
        TransferTicket *transfer; /* owned: GET /v1/files's place under the transfer cap, or NULL */
        char *raw_target;  /* the request-target as received, before percent-decoding */
        bool head_checked; /* the access handler has seen (and checked) the request head */
        /* A write queued for the daemon's batch (daemon.h, "suspended writes"): owned, freed
         * on completion; write_answer() answers it once it is done. */
        DaemonWrite *write;
        enum MHD_Result (*write_answer)(Http *h, struct MHD_Connection *c, HttpRequest *req);
        Http *h;                    /* borrowed: for on_write_done() */
        struct MHD_Connection *conn; /* borrowed: for on_write_done() */
        bool write_done, write_suspended; /* under h->writes_lock */
        bool write_answering;      /* counted in h->writes_answering (set and read on the
                                    * connection's own worker thread, changed under writes_lock) */
        char mac[MAC_STRING_MAX];  /* a boot write's MAC, for its answer */
        Firmware fw;               /* a boot write's firmware */
        bool ipxe;                 /* a boot write of the iPXE route */
};

static enum MHD_Result boot_answer(Http *h, struct MHD_Connection *c, HttpRequest *req);
static enum MHD_Result boot_respond(struct MHD_Connection *c, HttpRequest *req, int r, DaemonBootResult result,
                                    char *body_arg);

/* A write of req is done (any thread, daemon.h's DaemonWriteDone): resumes its connection if
 * it is suspended.  req may be freed once writes_lock is released. */
static void on_write_done(void *userdata) {
        HttpRequest *req = userdata;
        Http *h = req->h;
        pthread_mutex_lock(&h->writes_lock);
        req->write_done = true;
        if (req->write_suspended) {
                req->write_suspended = false;
                MHD_resume_connection(req->conn);
                h->writes_suspended--;
        }
        pthread_cond_broadcast(&h->writes_cond);
        pthread_mutex_unlock(&h->writes_lock);
}

/* Before submitting a write of req: what on_write_done() needs. */
static void write_prepare(Http *h, struct MHD_Connection *c, HttpRequest *req,
                          enum MHD_Result (*answer)(Http *h, struct MHD_Connection *c, HttpRequest *req)) {
        req->h = h;
        req->conn = c;
        req->write_answer = answer;
        req->write_done = req->write_suspended = false;
}

/* After submitting req->write: answers now if it is done already, else suspends the connection
 * until on_write_done() resumes it (libmicrohttpd then calls on_request() again, which answers
 * with req->write_answer).  While the server stops, waits here instead (http_stop() waits for
 * the suspended ones; libmicrohttpd must not stop with a connection suspended). */
static enum MHD_Result write_wait(Http *h, struct MHD_Connection *c, HttpRequest *req) {
        pthread_mutex_lock(&h->writes_lock);
        while (h->writes_stopping && !req->write_done)
                pthread_cond_wait(&h->writes_cond, &h->writes_lock);
        bool done = req->write_done;
        if (!done) {
                req->write_suspended = req->write_answering = true;
                h->writes_suspended++;
                h->writes_answering++;
                MHD_suspend_connection(c);
        }
        pthread_mutex_unlock(&h->writes_lock);
        return done ? req->write_answer(h, c, req) : MHD_YES;
}

/* HEAD of a boot route: the status GET would give, without side effects (a GET may open an
 * install attempt; a probe must not).  No body. */
static enum MHD_Result respond_boot_probe(Http *h, struct MHD_Connection *c, const char *mac, const char *content_type,
                                          bool ipxe) {
        DaemonBootResult result;
        int r = daemon_boot_peek(h->daemon, mac, &result);
        if (r < 0)
                return http_respond_error(c, http_status_from_errno(r), "cannot answer the boot of %s", mac);
        unsigned status = ipxe || result == DAEMON_BOOT_RESULT_INSTALL || result == DAEMON_BOOT_RESULT_IMAGE
                                  ? MHD_HTTP_OK
                                  : MHD_HTTP_NOT_FOUND;
        return http_respond_buffer(c, status, NULL, 0, content_type);
}

static MetricsBootResult boot_metric(int r, DaemonBootResult result) {
        if (r < 0)
                return METRICS_BOOT_ERROR;
        return result == DAEMON_BOOT_RESULT_INSTALL ? METRICS_BOOT_INSTALL
               : result == DAEMON_BOOT_RESULT_IMAGE ? METRICS_BOOT_IMAGE
               : result == DAEMON_BOOT_RESULT_LOCAL ? METRICS_BOOT_LOCAL
                                                    : METRICS_BOOT_UNKNOWN;
}

static enum MHD_Result route_boot(Http *h, struct MHD_Connection *c, HttpRequest *req, HttpMethod method,
                                  const char *mac_arg) {
        char mac[MAC_STRING_MAX];
        DaemonBootResult result = DAEMON_BOOT_RESULT_UNKNOWN;
        _cleanup_free_ char *body = NULL;

        if (mac_normalize(mac_arg, mac) < 0)
                return http_respond_error(c, MHD_HTTP_BAD_REQUEST, "\"%.64s\" is not a MAC address", mac_arg);
        if (method == HTTP_METHOD_HEAD)
                return respond_boot_probe(h, c, mac, "application/json", false);
        write_prepare(h, c, req, boot_answer);
        snprintf(req->mac, sizeof req->mac, "%s", mac);
        req->fw = FIRMWARE_UNKNOWN;
        req->ipxe = false;
        int r = daemon_boot_submit(h->daemon, mac, DAEMON_BOOT_PIXIECORE, FIRMWARE_UNKNOWN, on_write_done, req, &result,
                                   &body, &req->write);
        if (r > 0)
                return write_wait(h, c, req);
        return boot_respond(c, req, r, result, TAKE_PTR(body));
}

/* Answers a boot of req->mac: r and result as daemon_boot() gave them; takes body. */
static enum MHD_Result boot_respond(struct MHD_Connection *c, HttpRequest *req, int r, DaemonBootResult result,
                                    char *body_arg) {
        _cleanup_free_ char *body = body_arg;
        const char *mac = req->mac;
        metrics_boot(req->ipxe ? METRICS_API_IPXE : METRICS_API_PIXIECORE, boot_metric(r, result), req->fw);
        if (r < 0)
                return http_respond_error(c, http_status_from_errno(r), "cannot answer the boot of %s: %s", mac,
                                          strerror(-r));
        if (req->ipxe) {
                if (!body)
                        return MHD_NO;
                size_t len = strlen(body);
                return http_respond_buffer(c, MHD_HTTP_OK, TAKE_PTR(body), len, "text/plain");
        }
        switch (result) {
        case DAEMON_BOOT_RESULT_INSTALL:
        case DAEMON_BOOT_RESULT_IMAGE:
                return http_respond_json_text(c, MHD_HTTP_OK, TAKE_PTR(body));
        case DAEMON_BOOT_RESULT_LOCAL:
                return http_respond_error(c, MHD_HTTP_NOT_FOUND, "%s boots from its local disk", mac);
        default:
                return http_respond_error(c, MHD_HTTP_NOT_FOUND, "MAC %s is not in the inventory", mac);
        }
}

/* The answer of a boot write, once done. */
static enum MHD_Result boot_answer(Http *h, struct MHD_Connection *c, HttpRequest *req) {
        DaemonBootResult result = DAEMON_BOOT_RESULT_UNKNOWN;
        char *body = NULL;
        int r = daemon_boot_finish(req->write, &result, &body);
        daemon_write_free(TAKE_PTR(req->write));
        return boot_respond(c, req, r, result, body);
}

static enum MHD_Result route_ipxe(Http *h, struct MHD_Connection *c, HttpRequest *req, HttpMethod method,
                                  const char *arg) {
        const char *mac_arg = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "mac");
        char mac[MAC_STRING_MAX];
        DaemonBootResult result;
        char *body;

        if (!mac_arg) {
                body = ipxe_render_chain(daemon_public_url(h->daemon));
        } else {
                if (mac_normalize(mac_arg, mac) < 0) {
                        char *s = ipxe_render_bad_mac(mac_arg);
                        if (!s)
                                return MHD_NO;
                        return http_respond_buffer(c, MHD_HTTP_BAD_REQUEST, s, strlen(s), "text/plain");
                }
                if (method == HTTP_METHOD_HEAD)
                        return respond_boot_probe(h, c, mac, "text/plain", true);
                /* What iPXE says it runs on (the chain script passes ${platform} and
                 * ${buildarch}); absent from older chain URLs and hand-written ones. */
                Firmware fw = firmware_from_ipxe(MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "platform"),
                                                 MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "buildarch"));
                write_prepare(h, c, req, boot_answer);
                snprintf(req->mac, sizeof req->mac, "%s", mac);
                req->fw = fw;
                req->ipxe = true;
                body = NULL;
                int r = daemon_boot_submit(h->daemon, mac, DAEMON_BOOT_IPXE, fw, on_write_done, req, &result, &body,
                                           &req->write);
                if (r > 0)
                        return write_wait(h, c, req);
                return boot_respond(c, req, r, result, body);
        }
        if (!body)
                return MHD_NO;
        return http_respond_buffer(c, MHD_HTTP_OK, body, strlen(body), "text/plain");
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

/* The install token of an installer route's request into *ret; false when it answered
 * instead (*answer: 401 none, 403 an API token). */
static bool install_token(struct MHD_Connection *c, const char **ret, enum MHD_Result *answer) {
        const char *token = bearer_token(c);
        if (!token) {
                *answer = http_respond_error(c, MHD_HTTP_UNAUTHORIZED,
                                             "missing install token: send Authorization: Bearer <provd.token>");
                return false;
        }
        if (apitoken_is_api_form(token)) {
                *answer = http_respond_error(c, MHD_HTTP_FORBIDDEN,
                                             "API tokens are not accepted on install routes: send the install attempt's token (provd.token)");
                return false;
        }
        *ret = token;
        return true;
}

/* The request's body parsed as JSON into *ret (new reference); false when it answered instead
 * (*answer: 413 over MAX_BODY, 400 not JSON). */
static bool json_body(struct MHD_Connection *c, const HttpRequest *req, json_t **ret, enum MHD_Result *answer) {
        json_error_t jerr;
        if (req->too_large) {
                *answer = http_respond_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "body larger than %d bytes", MAX_BODY);
                return false;
        }
        json_t *body = json_loadb(req->body ? req->body : "", req->len, 0, &jerr);
        if (!body) {
                *answer = http_respond_error(c, MHD_HTTP_BAD_REQUEST, "body is not valid JSON: line %d, column %d: %s",
                                             jerr.line, jerr.column, jerr.text);
                return false;
        }
        *ret = body;
        return true;
}

/* POST /v1/install/credential: the installer of an open attempt asks for the node's
 * credential (no body). */
static enum MHD_Result route_install_credential(Http *h, struct MHD_Connection *c, HttpRequest *req, HttpMethod method,
                                                const char *arg) {
        char err[512] = "";
        json_t *ret = NULL;
        const char *token;
        enum MHD_Result answer;
        if (!install_token(c, &token, &answer))
                return answer;
        int r = daemon_issue_credential(h->daemon, token, &ret, err, sizeof err);
        if (r < 0)
                return http_respond_error(c, http_status_from_errno(r), "%s", err[0] ? err : strerror(-r));
        return http_respond_json(c, MHD_HTTP_OK, ret);
}

/* The answer of a report write, once done. */
static enum MHD_Result node_report_answer(Http *h, struct MHD_Connection *c, HttpRequest *req) {
        char err[512] = "";
        json_t *ret = NULL;
        int r = daemon_node_report_finish(req->write, &ret, err, sizeof err);
        daemon_write_free(TAKE_PTR(req->write));
        if (r < 0)
                return http_respond_error(c, http_status_from_errno(r), "%s", err[0] ? err : strerror(-r));
        return http_respond_json(c, MHD_HTTP_OK, ret);
}

/* The answer of an installer event write, once done. */
static enum MHD_Result install_event_answer(Http *h, struct MHD_Connection *c, HttpRequest *req) {
        char err[512] = "";
        json_t *ret = NULL;
        int r = daemon_install_event_finish(req->write, &ret, err, sizeof err);
        daemon_write_free(TAKE_PTR(req->write));
        if (r < 0)
                return http_respond_error(c, http_status_from_errno(r), "%s", err[0] ? err : strerror(-r));
        return http_respond_json(c, MHD_HTTP_OK, ret);
}

/* POST /v1/nodes/<name>/report with {"running","booted","kernel","uptime"}: the node says what
 * it runs (node credential). */
static enum MHD_Result route_node_report(Http *h, struct MHD_Connection *c, HttpRequest *req, HttpMethod method,
                                         const char *name) {
        char err[512] = "";
        enum MHD_Result answer;
        _cleanup_(json_decrefp) json_t *body = NULL;

        const char *cred = bearer_token(c);
        if (!cred && !req->too_large)
                return http_respond_error(c, MHD_HTTP_UNAUTHORIZED,
                                          "missing node credential: send Authorization: Bearer pvn_...");
        if (!json_body(c, req, &body, &answer))
                return answer;
        json_t *running = json_object_get(body, "running"), *booted = json_object_get(body, "booted"),
               *kernel = json_object_get(body, "kernel"), *uptime = json_object_get(body, "uptime");
        if (!json_is_object(body) || !json_is_string(running) || !json_is_string(booted) || !json_is_string(kernel) ||
            !json_is_number(uptime))
                return http_respond_error(c, MHD_HTTP_BAD_REQUEST,
                                          "body must be {\"running\": PATH, \"booted\": PATH, \"kernel\": RELEASE, "
                                          "\"uptime\": SECONDS}");
        write_prepare(h, c, req, node_report_answer);
        int r = daemon_node_report_submit(h->daemon, name, cred, json_string_value(running), json_string_value(booted),
                                          json_string_value(kernel), json_number_value(uptime), on_write_done, req,
                                          &req->write, err, sizeof err);
        if (r < 0)
                return http_respond_error(c, http_status_from_errno(r), "%s", err[0] ? err : strerror(-r));
        return write_wait(h, c, req);
}

static enum MHD_Result route_install_event(Http *h, struct MHD_Connection *c, HttpRequest *req, HttpMethod method,
                                           const char *arg) {
        char err[512] = "";
        const char *token;
        enum MHD_Result answer;
        _cleanup_(json_decrefp) json_t *body = NULL;

        if (req->too_large) /* 413 before the token is looked at */
                return http_respond_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "body larger than %d bytes", MAX_BODY);
        if (!install_token(c, &token, &answer) || !json_body(c, req, &body, &answer))
                return answer;
        if (!json_is_object(body))
                return http_respond_error(c, MHD_HTTP_BAD_REQUEST,
                                          "body must be a JSON object {\"phase\": \"...\", \"message\": \"...\"}");
        json_t *phase = json_object_get(body, "phase"), *message = json_object_get(body, "message");
        if (!json_is_string(phase))
                return http_respond_error(c, MHD_HTTP_BAD_REQUEST, "\"phase\" is missing or not a string");
        if (message && !json_is_string(message) && !json_is_null(message))
                return http_respond_error(c, MHD_HTTP_BAD_REQUEST, "\"message\" must be a string");

        write_prepare(h, c, req, install_event_answer);
        int r = daemon_install_event_submit(h->daemon, token, json_string_value(phase),
                                            json_is_string(message) ? json_string_value(message) : NULL, on_write_done,
                                            req, &req->write, err, sizeof err);
        if (r < 0)
                return http_respond_error(c, http_status_from_errno(r), "%s", err[0] ? err : strerror(-r));
        return write_wait(h, c, req);
}

/* Answers 401/403 and returns false unless the request carries a valid API token. */
static bool check_api_token(Http *h, struct MHD_Connection *c, enum MHD_Result *ret) {
        const char *token = bearer_token(c);
        if (!token) {
                *ret = http_respond_error(c, MHD_HTTP_UNAUTHORIZED,
                                          "this route needs an API token: send Authorization: Bearer <token> "
                                          "(create one with `provd token new --name NAME`)");
                return false;
        }
        pthread_rwlock_rdlock(&h->tokens_lock);
        int r = apitokens_verify(h->tokens, token, NULL);
        pthread_rwlock_unlock(&h->tokens_lock);
        if (r == -EPERM) {
                *ret = http_respond_error(c, MHD_HTTP_FORBIDDEN,
                                          "install tokens are not accepted on admin routes: send an API token");
                return false;
        }
        if (r < 0) {
                *ret = http_respond_error(c, MHD_HTTP_UNAUTHORIZED, "unknown API token");
                return false;
        }
        return true;
}

/* Reads of cluster state: open, or token-protected with read_auth = token. */
static bool check_read_auth(Http *h, struct MHD_Connection *c, enum MHD_Result *ret) {
        return !h->read_auth || check_api_token(h, c, ret);
}

/* Parses an RFC 3339 date-time ("2026-11-23T10:00:00Z", fractional seconds and a
 * +hh:mm/-hh:mm offset allowed) into ms since the epoch.  RFC 3339 §5.6. */
static int parse_rfc3339(const char *s, int64_t *ret) {
        struct tm tm = { 0 };
        const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
        int64_t ms = 0;
        if (!p)
                return -EINVAL;
        if (*p == '.') {
                int64_t scale = 100;
                p++;
                if (*p < '0' || *p > '9')
                        return -EINVAL;
                for (; *p >= '0' && *p <= '9'; p++, scale /= 10)
                        ms += (*p - '0') * scale;
        }
        int64_t offset = 0;
        if (*p == 'Z' || *p == 'z')
                p++;
        else if ((*p == '+' || *p == '-' || *p == ' ') && strlen(p) == 6 && p[3] == ':') {
                /* ' ': an unencoded '+' in a query string arrives as a space. */
                int hh, mm;
                if (sscanf(p + 1, "%2d:%2d", &hh, &mm) != 2 || hh > 23 || mm > 59)
                        return -EINVAL;
                offset = (int64_t) (hh * 60 + mm) * 60 * (*p == '-' ? -1 : 1);
                p += 6;
        } else
                return -EINVAL;
        if (*p)
                return -EINVAL;
        *ret = ((int64_t) timegm(&tm) - offset) * 1000 + ms;
        return 0;
}

/* ?limit=: default `def`, 1..LIMIT_MAX. */
static bool get_limit(struct MHD_Connection *c, int64_t def, int64_t *ret, enum MHD_Result *ret_answer) {
        const char *v = http_query(c, "limit");
        *ret = def;
        if (v && parse_int64(v, 1, LIMIT_MAX, ret) < 0) {
                *ret_answer = http_respond_error(c, MHD_HTTP_BAD_REQUEST,
                                                 "limit must be an integer from 1 to %d, not \"%.32s\"", LIMIT_MAX, v);
                return false;
        }
        return true;
}

static enum MHD_Result route_nodes(Http *h, struct MHD_Connection *c, HttpRequest *req, HttpMethod method,
                                   const char *arg) {
        DaemonNodeFilter f = { .name_glob = http_query(c, "name"), .rack = http_query(c, "rack") };
        const char *states = http_query(c, "state");
        const char *mode = http_query(c, "mode");

        if (mode) {
                if (streq(mode, "install"))
                        f.modes = 1u << NODE_MODE_INSTALL;
                else if (streq(mode, "stateless"))
                        f.modes = 1u << NODE_MODE_STATELESS;
                else
                        return http_respond_error(c, MHD_HTTP_BAD_REQUEST,
                                                  "unknown mode \"%.32s\" (install, stateless)", mode);
        }

        if (states) {
                _cleanup_free_ char *copy = strdup(states);
                if (!copy)
                        return MHD_NO;
                char *save = NULL;
                for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
                        ProvisionState st = provision_state_from_string(tok);
                        if (st == _PROVISION_STATE_INVALID)
                                return http_respond_error(
                                        c, MHD_HTTP_BAD_REQUEST,
                                        "unknown state \"%.32s\" (new, pending, netbooting, installing, installed, failed, booting, running)", tok);
                        f.states |= 1u << st;
                }
                if (f.states == 0)
                        return http_respond_error(c, MHD_HTTP_BAD_REQUEST, "state= needs at least one state");
        }
        const char *drifts = http_query(c, "drift");
        if (drifts) {
                _cleanup_free_ char *copy = strdup(drifts);
                if (!copy)
                        return MHD_NO;
                char *save = NULL;
                for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
                        Drift k;
                        if (drift_from_string(tok, &k) < 0)
                                return http_respond_error(
                                        c, MHD_HTTP_BAD_REQUEST,
                                        "unknown drift \"%.32s\" (in_sync, drifted, reboot_pending, silent, unknown)", tok);
                        f.drifts |= 1u << k;
                }
                if (f.drifts == 0)
                        return http_respond_error(c, MHD_HTTP_BAD_REQUEST, "drift= needs at least one drift status");
        }
        if (f.name_glob && (strlen(f.name_glob) == 0 || strlen(f.name_glob) > 256))
                return http_respond_error(c, MHD_HTTP_BAD_REQUEST, "name= must be a glob of 1-256 characters");
        int64_t limit = NODE_LIST_LIMIT_DEFAULT;
        const char *v = http_query(c, "limit");
        if (v && parse_int64(v, 1, NODE_LIST_LIMIT_MAX, &limit) < 0)
                return http_respond_error(c, MHD_HTTP_BAD_REQUEST, "limit must be an integer from 1 to %d, not \"%.32s\"",
                                          NODE_LIST_LIMIT_MAX, v);
        char after[INVENTORY_NAME_MAX + 1] = "", err[160];
        v = http_query(c, "cursor");
        if (v && node_list_cursor_decode(v, after, err, sizeof err) < 0)
                return http_respond_error(c, MHD_HTTP_BAD_REQUEST, "%s", err);
        if (method == HTTP_METHOD_HEAD)
                return http_respond_buffer(c, MHD_HTTP_OK, NULL, 0, "application/json");
        struct MHD_Response *resp = node_list_response(h->daemon, &f, after, (size_t) limit, &req->node_list);
        if (!resp)
                return MHD_NO;
        return http_queue(c, MHD_HTTP_OK, resp, 0);
}

static enum MHD_Result route_node(Http *h, struct MHD_Connection *c, HttpRequest *req, HttpMethod method,
                                  const char *name) {
        json_t *o = NULL;
        int r = daemon_node_json(h->daemon, name, &o);
        if (r == -ENOENT)
                return http_respond_no_node(c, name);
        if (r < 0)
                return http_respond_errno(c, r, "read node state");
        return http_respond_json(c, MHD_HTTP_OK, o);
}

/* One page of a node's list (history, boots), newest first: the `limit` (default 50) and
 * `before` (an id, exclusive) query parameters, then read(); `id_what` names the id in the 400
 * ("an event id"), `what` the read in a 5xx ("read the history"). */
static enum MHD_Result respond_node_page(Http *h, struct MHD_Connection *c, const char *name,
                                         int (*read)(Daemon *d, const char *name, int64_t before, int64_t limit,
                                                     json_t **ret),
                                         const char *id_what, const char *what) {
        enum MHD_Result answer;
        int64_t limit, before = 0;
        json_t *o = NULL;

        if (!get_limit(c, 50, &limit, &answer))
                return answer;
        const char *v = http_query(c, "before");
        if (v && parse_int64(v, 1, INT64_MAX, &before) < 0)
                return http_respond_error(c, MHD_HTTP_BAD_REQUEST,
                                          "before must be %s (a positive integer), not \"%.32s\"", id_what, v);
        int r = read(h->daemon, name, before, limit, &o);
        if (r == -ENOENT)
                return http_respond_no_node(c, name);
        if (r < 0)
                return http_respond_errno(c, r, what);
        return http_respond_json(c, MHD_HTTP_OK, o);
}

static enum MHD_Result route_history(Http *h, struct MHD_Connection *c, HttpRequest *req, HttpMethod method,
                                     const char *name) {
        return respond_node_page(h, c, name, daemon_history_json, "an event id", "read the history");
}

static enum MHD_Result route_summary(Http *h, struct MHD_Connection *c, HttpRequest *req, HttpMethod method,
                                     const char *arg) {
        json_t *o = NULL;
        int r = daemon_summary_json(h->daemon, &o);
        if (r < 0)
                return http_respond_errno(c, r, "count nodes");
        return http_respond_json(c, MHD_HTTP_OK, o);
}

/* GET /v1/instances: the provd instances sharing this one's database (cluster.h). */
static enum MHD_Result route_instances(Http *h, struct MHD_Connection *c, HttpRequest *req, HttpMethod method,
                                       const char *arg) {
        json_t *o = NULL;
        if (!h->cluster)
                return http_respond_error(c, MHD_HTTP_NOT_FOUND, "this provd runs without its cluster");
        int r = cluster_instances_json(h->cluster, &o);
        if (r < 0)
                return http_respond_errno(c, r, "read the instances");
        return http_respond_json(c, MHD_HTTP_OK, o);
}

/* ?since= as an event id or an RFC 3339 time. */
static bool get_since(struct MHD_Connection *c, int64_t *ret_id, int64_t *ret_ms, enum MHD_Result *ret_answer) {
        const char *v = http_query(c, "since");
        *ret_id = -1;
        *ret_ms = 0;
        if (!v)
                return true;
        if (parse_int64(v, 0, INT64_MAX, ret_id) == 0 || parse_rfc3339(v, ret_ms) == 0)
                return true;
        *ret_answer = http_respond_error(
                c, MHD_HTTP_BAD_REQUEST, "since must be an event id or an RFC 3339 time (2026-11-23T10:00:00Z), not \"%.40s\"", v);
        return false;
}

static enum MHD_Result route_events(Http *h, struct MHD_Connection *c, HttpRequest *req, HttpMethod method,
                                    const char *arg) {
        enum MHD_Result answer;
        int64_t limit, since_id, since_ms;
        json_t *o = NULL;

        if (!get_limit(c, 100, &limit, &answer) || !get_since(c, &since_id, &since_ms, &answer))
                return answer;
        int r = daemon_events_json(h->daemon, since_id, since_ms, limit, &o);
        if (r < 0)
                return http_respond_errno(c, r, "read events");
        return http_respond_json(c, MHD_HTTP_OK, o);
}

static enum MHD_Result route_events_stream(Http *h, struct MHD_Connection *c, HttpRequest *req, HttpMethod method,
                                           const char *arg) {
        const char *v = http_query(c, "since");
        const char *last_event_id = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Last-Event-ID");
        int64_t cursor = events_last_id(daemon_events(h->daemon));

        /* The WHATWG EventSource reconnects with Last-Event-ID; it wins over since=. */
        if (last_event_id ? parse_int64(last_event_id, 0, INT64_MAX, &cursor) < 0
                          : v && parse_int64(v, 0, INT64_MAX, &cursor) < 0)
                return http_respond_error(c, MHD_HTTP_BAD_REQUEST, "%s must be an event id, not \"%.32s\"",
                                          last_event_id ? "Last-Event-ID" : "since", last_event_id ? last_event_id : v);
        if (method == HTTP_METHOD_HEAD)
                return http_respond_buffer(c, MHD_HTTP_OK, NULL, 0, "text/event-stream");

        Stream *st = NULL;
        struct MHD_Response *resp = streams_response(h->streams, c, cursor, &st);
        if (!resp)
                return MHD_NO;
        req->stream = st;
        return http_queue(c, MHD_HTTP_OK, resp, 0);
}

int http_reload(Http *h, char *err, size_t errlen, int *ret_tokens, char *tokens_err, size_t tokens_errlen) {
        char ibuf[ERRBUF_MAX] = "", tbuf[ERRBUF_MAX] = "";
        service_notify_reloading();
        int r = daemon_reload(h->daemon, ibuf, sizeof ibuf);
        if (r < 0)
                log_warning_errno(r, "inventory reload failed, keeping the current one (%zu nodes): %s",
                                  daemon_node_count(h->daemon), ibuf[0] ? ibuf : strerror(-r));
        int t = http_reload_api_tokens(h, tbuf, sizeof tbuf);
        if (t < 0)
                log_warning_errno(t, "API tokens reload failed, keeping the current ones: %s",
                                  tbuf[0] ? tbuf : strerror(-t));
        service_notify_reloaded(h->daemon, r < 0   ? "last inventory reload failed, previous inventory in force"
                                           : t < 0 ? "last API tokens reload failed, previous tokens in force"
                                                   : NULL);
        if (ret_tokens)
                *ret_tokens = t;
        if (t < 0)
                (void) errbuf_fail(t, tokens_err, tokens_errlen, "%s", tbuf[0] ? tbuf : strerror(-t));
        if (r < 0)
                return errbuf_fail(r, err, errlen, "%s", ibuf[0] ? ibuf : strerror(-r));
        return r;
}

static enum MHD_Result route_reload(Http *h, struct MHD_Connection *c, HttpRequest *req, HttpMethod method,
                                    const char *arg) {
        char err[ERRBUF_MAX] = "", terr[ERRBUF_MAX] = "";
        int t;
        log_info("POST /v1/reload: reloading the inventory and the API tokens");
        int r = http_reload(h, err, sizeof err, &t, terr, sizeof terr);
        if (r < 0)
                return http_respond_error(c, r == -ENOMEM ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_BAD_REQUEST,
                                          "inventory not reloaded, the current one stays in force: %s", err);
        if (t < 0)
                return http_respond_error(c, MHD_HTTP_BAD_REQUEST,
                                          "inventory reloaded (%d nodes), but the API tokens were not (the current ones stay in force): %s",
                                          r, terr);
        return http_respond_json(c, MHD_HTTP_OK, json_pack("{s:i, s:i}", "nodes", r, "api_tokens", t));
}

/* Parses a request body that must be a JSON object (an empty body is {}).  On failure
 * queues a 400/413 and returns NULL with *ret_answer set. */
static json_t *body_object(struct MHD_Connection *c, HttpRequest *req, enum MHD_Result *ret_answer) {
        json_error_t jerr;
        if (req->too_large) {
                *ret_answer = http_respond_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "body larger than %zu bytes", req->max_body);
                return NULL;
        }
        if (req->len == 0)
                return json_object();
        json_t *o = json_loadb(req->body, req->len, 0, &jerr);
        if (!o) {
                *ret_answer = http_respond_error(c, MHD_HTTP_BAD_REQUEST, "body is not valid JSON: line %d, column %d: %s",
                                                 jerr.line, jerr.column, jerr.text);
                return NULL;
        }
        if (!json_is_object(o)) {
                json_decref(o);
                *ret_answer = http_respond_error(c, MHD_HTTP_BAD_REQUEST, "body must be a JSON object");
                return NULL;
        }
        return o;
}

/* POST /v1/nodes/<name>/{reinstall,reboot,power,bootdev}: 202 with the operation. */
static enum MHD_Result route_node_operation(Http *h, struct MHD_Connection *c, const char *name, const char *what,
                                            HttpRequest *req) {
        enum MHD_Result answer = MHD_NO; /* body_object() returns NULL without an answer when out of memory */
        char err[768] = "";
        json_t *op = NULL;
        int r;

        _cleanup_(json_decrefp) json_t *body = body_object(c, req, &answer);
        if (!body)
                return answer;
        if (streq(what, "reinstall")) {
                if (json_object_size(body) > 0)
                        return http_respond_error(c, MHD_HTTP_BAD_REQUEST, "reinstall takes no parameters (send {} or nothing)");
                r = ops_reinstall(h->ops, name, &op, err, sizeof err);
        } else if (streq(what, "reboot")) {
                if (json_object_size(body) > 0)
                        return http_respond_error(c, MHD_HTTP_BAD_REQUEST, "reboot takes no parameters (send {} or nothing)");
                r = ops_reboot(h->ops, name, &op, err, sizeof err);
        } else if (streq(what, "power")) {
                json_t *action = json_object_get(body, "action");
                if (!json_is_string(action) || json_object_size(body) != 1)
                        return http_respond_error(c, MHD_HTTP_BAD_REQUEST,
                                                  "body must be {\"action\": \"on|off|cycle|reset|soft|status\"}");
                r = ops_power(h->ops, name, json_string_value(action), &op, err, sizeof err);
        } else {
                json_t *device = json_object_get(body, "device"), *persistent = json_object_get(body, "persistent"),
                       *efi = json_object_get(body, "efi");
                size_t known = !!device + !!persistent + !!efi;
                if (!json_is_string(device) || (persistent && !json_is_boolean(persistent)) ||
                    (efi && !json_is_boolean(efi)) || json_object_size(body) != known)
                        return http_respond_error(c, MHD_HTTP_BAD_REQUEST,
                                                  "body must be {\"device\": \"pxe|disk|bios\", \"persistent\": bool, \"efi\": bool} "
                                                  "(persistent and efi optional)");
                r = ops_bootdev(h->ops, name, json_string_value(device), json_is_true(persistent),
                                efi ? json_is_true(efi) : -1, &op, err, sizeof err);
        }
        if (r < 0)
                return http_respond_error(c, http_status_from_errno(r), "%s", err[0] ? err : strerror(-r));
        return http_respond_json(c, MHD_HTTP_ACCEPTED, json_pack("{s:o}", "operation", op));
}

static enum MHD_Result route_reinstall(Http *h, struct MHD_Connection *c, HttpRequest *req, HttpMethod method,
                                       const char *name) {
        return route_node_operation(h, c, name, "reinstall", req);
}

static enum MHD_Result route_reboot(Http *h, struct MHD_Connection *c, HttpRequest *req, HttpMethod method,
                                    const char *name) {
        return route_node_operation(h, c, name, "reboot", req);
}

static enum MHD_Result route_overlay(Http *h, struct MHD_Connection *c, HttpRequest *req, HttpMethod method,
                                     const char *token) {
        return overlay_http_serve(h->daemon, c, token);
}

static enum MHD_Result route_boots(Http *h, struct MHD_Connection *c, HttpRequest *req, HttpMethod method,
                                   const char *name) {
        return respond_node_page(h, c, name, daemon_boots_json, "a boot id", "read the boots");
}

static enum MHD_Result route_power(Http *h, struct MHD_Connection *c, HttpRequest *req, HttpMethod method,
                                   const char *name) {
        return route_node_operation(h, c, name, "power", req);
}

static enum MHD_Result route_bootdev(Http *h, struct MHD_Connection *c, HttpRequest *req, HttpMethod method,
                                     const char *name) {
        return route_node_operation(h, c, name, "bootdev", req);
}

static enum MHD_Result route_operations(Http *h, struct MHD_Connection *c, HttpRequest *req, HttpMethod method,
                                        const char *id_arg) {
        json_t *o = NULL;
        int r;
        if (!id_arg) {
                const char *node = http_query(c, "node");
                r = ops_list_json(h->ops, node, &o);
        } else {
                int64_t id;
                if (parse_int64(id_arg, 1, INT64_MAX, &id) < 0)
                        return http_respond_error(c, MHD_HTTP_NOT_FOUND, "no operation \"%.32s\"", id_arg);
                r = ops_get_json(h->ops, id, &o);
                if (r == -ENOENT)
                        return http_respond_error(c, MHD_HTTP_NOT_FOUND,
                                                  "no operation %lld (operations are kept in memory: the %d newest, until provd restarts)",
                                                  (long long) id, OPS_KEEP);
        }
        if (r < 0)
                return http_respond_errno(c, r, "read operations");
        return http_respond_json(c, MHD_HTTP_OK, o);
}

/* ---- bulk operations: POST /v1/bulk-operations, GET /v1/bulk-operations/<id>[?follow=1] ---- */

static int bulk_source_read(void *ctx, int64_t key, int64_t cursor, size_t max, char **ret_text, size_t *ret_len,
                            int64_t *ret_last, bool *ret_ended) {
        return ops_bulk_sse(ctx, key, cursor, max, ret_text, ret_len, ret_last, ret_ended);
}

static uint64_t bulk_source_generation(void *ctx) {
        return ops_bulk_generation(ctx);
}

static const StreamSource bulk_source = { .read = bulk_source_read, .generation = bulk_source_generation };

/* The bulk observer (operations.h): a node finished; its followers read it. */
static void on_bulk_progress(void *userdata) {
        streams_wake_sources(userdata);
}

/* POST /v1/bulk-operations: 202 with the bulk operation. */
static enum MHD_Result route_bulk_start(Http *h, struct MHD_Connection *c, HttpRequest *req, HttpMethod method,
                                        const char *arg) {
        enum MHD_Result answer = MHD_NO;
        _cleanup_(op_bulk_request_done) OpBulkRequest r = { 0 };
        char err[768] = "";
        json_t *o = NULL;

        _cleanup_(json_decrefp) json_t *body = body_object(c, req, &answer);
        if (!body)
                return answer;
        int e = op_bulk_parse(body, 0, &r, err, sizeof err);
        if (e == 0)
                e = ops_bulk_start(h->ops, &r, &o, err, sizeof err);
        if (e < 0)
                return http_respond_error(c, http_status_from_errno(e), "%s", err[0] ? err : strerror(-e));
        return http_respond_json(c, MHD_HTTP_ACCEPTED, json_pack("{s:o}", "bulk_operation", o));
}

/* GET /v1/bulk-operations/<id>: the bulk operation; ?follow=1: its progress as Server-Sent
 * Events until every node has finished (Last-Event-ID resumes after that node). */
static enum MHD_Result route_bulk_get(Http *h, struct MHD_Connection *c, HttpRequest *req, HttpMethod method,
                                      const char *id_arg) {
        const char *follow = http_query(c, "follow");
        const char *last_event_id = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Last-Event-ID");
        int64_t id, cursor = 0;
        json_t *o = NULL;

        if (parse_int64(id_arg, 1, INT64_MAX, &id) < 0)
                return http_respond_error(c, MHD_HTTP_NOT_FOUND, "no bulk operation \"%.32s\"", id_arg);
        if (follow && !streq(follow, "0") && !streq(follow, "1"))
                return http_respond_error(c, MHD_HTTP_BAD_REQUEST, "follow must be 0 or 1, not \"%.32s\"", follow);
        bool following = follow && streq(follow, "1");
        if (following && last_event_id && parse_int64(last_event_id, 0, INT64_MAX, &cursor) < 0)
                return http_respond_error(c, MHD_HTTP_BAD_REQUEST, "Last-Event-ID must be a node's event id, not \"%.32s\"",
                                          last_event_id);
        int r = ops_bulk_get_json(h->ops, id, &o);
        if (r == -ENOENT)
                return http_respond_error(c, MHD_HTTP_NOT_FOUND,
                                          "no bulk operation %lld (bulk operations are kept in memory: the 100 newest, until provd restarts)",
                                          (long long) id);
        if (r < 0)
                return http_respond_errno(c, r, "read the bulk operation");
        if (!following)
                return http_respond_json(c, MHD_HTTP_OK, o);
        json_decref(o);
        if (method == HTTP_METHOD_HEAD)
                return http_respond_buffer(c, MHD_HTTP_OK, NULL, 0, "text/event-stream");
        Stream *st = NULL;
        struct MHD_Response *resp = streams_source_response(h->streams, c, &bulk_source, h->ops, id, cursor,
                                                            ": provd bulk operation\n\n", &st);
        if (!resp)
                return MHD_NO;
        req->stream = st;
        return http_queue(c, MHD_HTTP_OK, resp, 0);
}

/* ---- discovery: GET /v1/discovered, DELETE /v1/discovered/<mac> ---------------- */
static enum MHD_Result route_discovered_list(Http *h, struct MHD_Connection *c, HttpRequest *req, HttpMethod method,
                                             const char *arg) {
        json_t *o = NULL;
        int r = daemon_discovered_json(h->daemon, &o);
        if (r < 0)
                return http_respond_errno(c, r, "read the discovered MACs");
        return http_respond_json(c, MHD_HTTP_OK, o);
}

static enum MHD_Result route_discovered_forget(Http *h, struct MHD_Connection *c, HttpRequest *req, HttpMethod method,
                                               const char *mac_arg) {
        char mac[MAC_STRING_MAX];
        if (mac_normalize(mac_arg, mac) < 0)
                return http_respond_error(c, MHD_HTTP_BAD_REQUEST, "\"%.64s\" is not a MAC address", mac_arg);
        int r = daemon_discovered_forget(h->daemon, mac);
        if (r == -ENOENT)
                return http_respond_error(c, MHD_HTTP_NOT_FOUND, "MAC %s is not among the discovered MACs", mac);
        if (r < 0)
                return http_respond_errno(c, r, "forget the discovered MAC");
        log_info("DELETE /v1/discovered/%s: forgot discovered MAC %s", mac, mac);
        return http_respond_no_content(c);
}

/* ---- end discovery ------------------------------------------------------------------------ */

static enum MHD_Result route_metrics(Http *h, struct MHD_Connection *c, HttpRequest *req, HttpMethod method,
                                     const char *arg) {
        MetricsGauges g = { 0 };
        char *text;
        size_t len;

        daemon_state_counts(h->daemon, g.nodes);
        daemon_drift_counts(h->daemon, g.drift);
        g.event_subscribers = streams_count(h->streams);
        HttpConnsStats cs;
        http_conns_stats(h->conns, &cs);
        g.http_waiting = cs.waiting;
        g.http_kept = cs.kept;
        g.http_busy = cs.busy;
        g.http_max_connections = h->max_connections;
        g.http_shut_deadline = cs.shut_deadline;
        g.http_shut_evicted = cs.shut_evicted;
        int r = metrics_render(&g, &text, &len);
        if (r < 0)
                return http_respond_errno(c, r, "render metrics");
        return http_respond_buffer(c, MHD_HTTP_OK, text, len, "text/plain; version=0.0.4; charset=utf-8");
}

static enum MHD_Result route_status_page(Http *h, struct MHD_Connection *c, HttpRequest *req, HttpMethod method,
                                         const char *arg) {
        struct MHD_Response *resp =
                MHD_create_response_from_buffer(status_page_html_len, (void *) status_page_html, MHD_RESPMEM_PERSISTENT);
        if (!resp)
                return MHD_NO;
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/html; charset=utf-8");
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
        /* The page is self-contained: its own script and style (by hash), fetch() to provd only. */
        MHD_add_response_header(resp, "Content-Security-Policy", status_page_html_csp);
        MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
        return http_queue(c, MHD_HTTP_OK, resp, status_page_html_len);
}

/* DELETE /v1/nodes/<name>/credential: the node's credential is revoked (204). */
static enum MHD_Result route_revoke_credential(Http *h, struct MHD_Connection *c, HttpRequest *req, HttpMethod method,
                                               const char *name) {
        char err[256] = "";
        int r = daemon_revoke_credential(h->daemon, name, err, sizeof err);
        if (r < 0)
                return http_respond_error(c, http_status_from_errno(r), "%s", err[0] ? err : strerror(-r));
        return http_respond_no_content(c);
}

static enum MHD_Result route_ipxe_efi(Http *h, struct MHD_Connection *c, HttpRequest *req, HttpMethod method,
                                      const char *arg) {
        if (!h->ipxe_efi)
                return http_respond_no_route(c, "/v1/ipxe.efi");
        return files_serve_local(c, h->ipxe_efi, "the iPXE EFI binary", "set ipxe_efi / --ipxe-efi");
}

static enum MHD_Result route_files(Http *h, struct MHD_Connection *c, HttpRequest *req, HttpMethod method,
                                   const char *path) {
        /* The file's absolute path: {path*} with the '/' before it (path points into the URL). */
        return files_serve(h->daemon, h->transfers, c, path - 1, method == HTTP_METHOD_HEAD, &req->transfer);
}

/* ---- console capture: /v1/nodes/<name>/console (console-http.c) */
static enum MHD_Result route_console_get(Http *h, struct MHD_Connection *c, HttpRequest *req, HttpMethod method,
                                         const char *name) {
        return console_http_get(h->console, c, name, method == HTTP_METHOD_HEAD, &req->console_stream);
}

static enum MHD_Result route_console_post(Http *h, struct MHD_Connection *c, HttpRequest *req, HttpMethod method,
                                          const char *name) {
        return console_http_post(h->console, c, name);
}

static enum MHD_Result route_console_delete(Http *h, struct MHD_Connection *c, HttpRequest *req, HttpMethod method,
                                            const char *name) {
        return console_http_delete(h->console, c, name);
}
/* ---- end console capture */

/* The routes (http-routes.h): api/openapi.yaml's operations.  tests/integration/openapi.sh
 * reads the rows from this file and compares them with the spec's, so the table holds rows
 * only, one a line, in this form.  For an unknown path http_routes_label() takes the first
 * row under its prefix: GET /v1/nodes/{name} comes before the other node rows. */
const HttpRoute http_route_table[] = {
        { HTTP_METHOD_GET, "/", HTTP_AUTH_OPEN, METRICS_ROUTE_STATUS_PAGE, 0, route_status_page },
        { HTTP_METHOD_GET, "/v1/boot/{mac}", HTTP_AUTH_OPEN, METRICS_ROUTE_BOOT, 0, route_boot },
        { HTTP_METHOD_GET, "/v1/ipxe", HTTP_AUTH_OPEN, METRICS_ROUTE_IPXE, 0, route_ipxe },
        { HTTP_METHOD_GET, "/v1/ipxe.efi", HTTP_AUTH_OPEN, METRICS_ROUTE_FILES, 0, route_ipxe_efi },
        { HTTP_METHOD_GET, "/v1/files/{path*}", HTTP_AUTH_OPEN, METRICS_ROUTE_FILES, 0, route_files },
        { HTTP_METHOD_POST, "/v1/install/events", HTTP_AUTH_INSTALL, METRICS_ROUTE_INSTALL_EVENTS, 0, route_install_event },
        { HTTP_METHOD_POST, "/v1/install/credential", HTTP_AUTH_INSTALL, METRICS_ROUTE_NODE_REPORTS, 0, route_install_credential },
        { HTTP_METHOD_GET, "/v1/overlay/{token}", HTTP_AUTH_OPEN, METRICS_ROUTE_OVERLAY, HTTP_ROUTE_NONEMPTY, route_overlay },
        { HTTP_METHOD_GET, "/v1/nodes", HTTP_AUTH_READ, METRICS_ROUTE_NODES, 0, route_nodes },
        { HTTP_METHOD_GET, "/v1/nodes/{name}", HTTP_AUTH_READ, METRICS_ROUTE_NODES, HTTP_ROUTE_NODE, route_node },
        { HTTP_METHOD_GET, "/v1/nodes/{name}/history", HTTP_AUTH_READ, METRICS_ROUTE_NODES, HTTP_ROUTE_NODE, route_history },
        { HTTP_METHOD_GET, "/v1/nodes/{name}/boots", HTTP_AUTH_READ, METRICS_ROUTE_NODES, HTTP_ROUTE_NODE, route_boots },
        { HTTP_METHOD_POST, "/v1/nodes/{name}/report", HTTP_AUTH_NODE, METRICS_ROUTE_NODE_REPORTS, HTTP_ROUTE_NODE, route_node_report },
        { HTTP_METHOD_DELETE, "/v1/nodes/{name}/credential", HTTP_AUTH_ADMIN, METRICS_ROUTE_NODE_REPORTS, HTTP_ROUTE_NODE, route_revoke_credential },
        { HTTP_METHOD_GET, "/v1/nodes/{name}/console", HTTP_AUTH_READ, METRICS_ROUTE_NODES, HTTP_ROUTE_NODE | HTTP_ROUTE_CONSOLE, route_console_get },
        { HTTP_METHOD_POST, "/v1/nodes/{name}/console", HTTP_AUTH_ADMIN, METRICS_ROUTE_NODES, HTTP_ROUTE_NODE | HTTP_ROUTE_CONSOLE, route_console_post },
        { HTTP_METHOD_DELETE, "/v1/nodes/{name}/console", HTTP_AUTH_ADMIN, METRICS_ROUTE_NODES, HTTP_ROUTE_NODE | HTTP_ROUTE_CONSOLE, route_console_delete },
        { HTTP_METHOD_POST, "/v1/nodes/{name}/reinstall", HTTP_AUTH_ADMIN, METRICS_ROUTE_OPERATIONS, HTTP_ROUTE_NODE | HTTP_ROUTE_OPS, route_reinstall },
        { HTTP_METHOD_POST, "/v1/nodes/{name}/reboot", HTTP_AUTH_ADMIN, METRICS_ROUTE_OPERATIONS, HTTP_ROUTE_NODE | HTTP_ROUTE_OPS, route_reboot },
        { HTTP_METHOD_POST, "/v1/nodes/{name}/power", HTTP_AUTH_ADMIN, METRICS_ROUTE_OPERATIONS, HTTP_ROUTE_NODE | HTTP_ROUTE_OPS, route_power },
        { HTTP_METHOD_POST, "/v1/nodes/{name}/bootdev", HTTP_AUTH_ADMIN, METRICS_ROUTE_OPERATIONS, HTTP_ROUTE_NODE | HTTP_ROUTE_OPS, route_bootdev },
        { HTTP_METHOD_GET, "/v1/summary", HTTP_AUTH_READ, METRICS_ROUTE_SUMMARY, 0, route_summary },
        { HTTP_METHOD_GET, "/v1/instances", HTTP_AUTH_READ, METRICS_ROUTE_INSTANCES, 0, route_instances },
        { HTTP_METHOD_GET, "/v1/events", HTTP_AUTH_READ, METRICS_ROUTE_EVENTS, 0, route_events },
        { HTTP_METHOD_GET, "/v1/events/stream", HTTP_AUTH_READ, METRICS_ROUTE_EVENTS_STREAM, 0, route_events_stream },
        { HTTP_METHOD_POST, "/v1/reload", HTTP_AUTH_ADMIN, METRICS_ROUTE_ADMIN, 0, route_reload },
        { HTTP_METHOD_GET, "/v1/operations", HTTP_AUTH_READ, METRICS_ROUTE_OPERATIONS, HTTP_ROUTE_OPS, route_operations },
        { HTTP_METHOD_GET, "/v1/operations/{id}", HTTP_AUTH_READ, METRICS_ROUTE_OPERATIONS, HTTP_ROUTE_OPS, route_operations },
        { HTTP_METHOD_POST, "/v1/bulk-operations", HTTP_AUTH_ADMIN, METRICS_ROUTE_OPERATIONS, HTTP_ROUTE_OPS, route_bulk_start },
        { HTTP_METHOD_GET, "/v1/bulk-operations/{bulk_id}", HTTP_AUTH_READ, METRICS_ROUTE_OPERATIONS, HTTP_ROUTE_OPS, route_bulk_get },
        { HTTP_METHOD_GET, "/v1/discovered", HTTP_AUTH_READ, METRICS_ROUTE_DISCOVERED, 0, route_discovered_list },
        { HTTP_METHOD_DELETE, "/v1/discovered/{mac}", HTTP_AUTH_ADMIN, METRICS_ROUTE_DISCOVERED, HTTP_ROUTE_NONEMPTY, route_discovered_forget },
        { HTTP_METHOD_GET, "/metrics", HTTP_AUTH_READ, METRICS_ROUTE_METRICS, 0, route_metrics },
};
const size_t http_route_table_size = ELEMENTSOF(http_route_table);

/* Answers a whole request: its row of the table, else 404 or 405; the row's authorisation;
 * a node name's length; then the row's handler. */
static enum MHD_Result dispatch(Http *h, struct MHD_Connection *c, const char *url, const char *method_name,
                                HttpRequest *req) {
        HttpMethod method = http_method_from_string(method_name);
        HttpRouteMatch m;
        enum MHD_Result answer;

        int r = http_routes_find(http_route_table, ELEMENTSOF(http_route_table), h->features, method, url, &m);
        if (r == -ENOENT)
                return http_respond_no_route(c, url);
        if (r < 0) {
                char allow[HTTP_ROUTES_ALLOW_MAX];
                (void) http_routes_allow(http_route_table, ELEMENTSOF(http_route_table), h->features, url, allow,
                                         sizeof allow);
                return http_respond_method_not_allowed(c, allow);
        }
        if (m.route->auth == HTTP_AUTH_ADMIN && !check_api_token(h, c, &answer))
                return answer;
        if (m.route->auth == HTTP_AUTH_READ && !check_read_auth(h, c, &answer))
                return answer;
        if (!(m.route->flags & HTTP_ROUTE_NODE))
                return m.route->handler(h, c, req, method, m.param);
        /* The name, copied out of "/v1/nodes/<name>/...": no inventory name is empty or longer. */
        char name[INVENTORY_NAME_MAX + 1];
        if (m.param_len == 0 || m.param_len > INVENTORY_NAME_MAX)
                return http_respond_no_node(c, m.param);
        memcpy(name, m.param, m.param_len);
        name[m.param_len] = '\0';
        return m.route->handler(h, c, req, method, name);
}

/* Called by libmicrohttpd with the request-target as received, before anything else of the
 * request; what it returns becomes the request's context (*con_cls of on_request()). */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c) {
        HttpRequest *req = calloc(1, sizeof *req);
        if (!req)
                return NULL;
        if (!(req->raw_target = strdup(uri))) {
                free(req);
                return NULL;
        }
        return req;
}

typedef struct FieldList {
        FramingField fields[FRAMING_FIELDS_MAX];
        size_t n;
        bool too_many;
} FieldList;

static enum MHD_Result collect_field(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size,
                                     const char *value, size_t value_size) {
        FieldList *l = cls;
        if (l->n == FRAMING_FIELDS_MAX) {
                l->too_many = true;
                return MHD_NO;
        }
        l->fields[l->n++] = (FramingField) { .name = key, .name_len = key_size, .value = value ? value : "",
                                             .value_len = value ? value_size : 0 };
        return MHD_YES;
}

/* The framing checks of framing.h on the request head: MHD_YES to go on, or the refusal
 * queued at once (libmicrohttpd then closes the connection without reading a body). */
static enum MHD_Result check_head(struct MHD_Connection *c, const char *method, const char *version, HttpRequest *req) {
        FieldList l = { .n = 0 };
        MHD_get_connection_values_n(c, MHD_HEADER_KIND, collect_field, &l);
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
        char msg[256];
        unsigned status = 400;
        if (l.too_many)
                snprintf(msg, sizeof msg, "more than %d header fields", FRAMING_FIELDS_MAX);
        else
                status = framing_check(&(FramingHead) { .method = method,
                                                        .raw_target = req->raw_target,
                                                        .version = version,
                                                        .fields = l.fields,
                                                        .n_fields = l.n,
                                                        .header_size = ci ? ci->header_size : 0,
                                                        .max_body = req->max_body },
                                       msg, sizeof msg);
        if (status == 0)
                return MHD_YES;
        http_response_track(&req->answer);
        enum MHD_Result ret = http_respond_error(c, status, "%s", msg);
        http_response_track(NULL);
        return ret;
}

/* The connection table's entry of c (its socket context, set by on_connection()), or NULL. */
static HttpConn *connection_entry(struct MHD_Connection *c) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        return ci ? ci->socket_context : NULL;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
        Http *h = cls;
        HttpRequest *req = *con_cls;

        if (!req) /* on_uri() could not allocate it */
                return MHD_NO;
        if (!req->head_checked) {
                /* The first call only sees the head.  Answering now makes libmicrohttpd close
                 * the connection ("early response"), which is right for a request whose
                 * framing cannot be trusted and wrong for any other: pixiecore and iPXE reuse
                 * connections, so those are answered once the request is complete. */
                req->head_checked = true;
                req->route = http_routes_label(http_route_table, ELEMENTSOF(http_route_table), url);
                req->max_body = streq(url, "/v1/bulk-operations") ? BULK_MAX_BODY : MAX_BODY;
                return check_head(c, method, version, req);
        }
        if (*upload_data_size > 0) {
                size_t n = *upload_data_size;
                *upload_data_size = 0;
                if (req->too_large || req->len + n > req->max_body) {
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
        if (req->write) {
                /* Resumed: its write is done (on_write_done() has let go of writes_lock). */
                pthread_mutex_lock(&h->writes_lock);
                pthread_mutex_unlock(&h->writes_lock);
                http_response_track(&req->answer);
                enum MHD_Result ret = req->write_answer(h, c, req);
                http_response_track(NULL);
                return ret;
        }
        /* The request arrived whole: from now on the connection table never shuts it down
         * (answers, event streams and console follows take as long as they take). */
        http_conns_request_begin(h->conns, connection_entry(c));
        http_response_track(&req->answer);
        enum MHD_Result ret = dispatch(h, c, url, method, req);
        http_response_track(NULL);
        if (streq(method, MHD_HTTP_METHOD_HEAD))
                req->answer.bytes = 0;
        return ret;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
        Http *h = cls;
        HttpRequest *req = *con_cls;
        http_conns_request_end(h->conns, connection_entry(c));
        if (!req)
                return;
        if (req->stream)
                req->answer.bytes = streams_completed(h->streams, req->stream);
        if (req->node_list)
                req->answer.bytes = node_list_completed(req->node_list);
        if (req->console_stream) /* console capture */
                req->answer.bytes = console_http_completed(h->console, req->console_stream);
        transfers_completed(h->transfers, req->transfer); /* the next waiter may start */
        if (req->answer.status > 0) {
                metrics_http(req->route, req->answer.status, req->answer.bytes);
                if (req->route == METRICS_ROUTE_INSTALL_EVENTS)
                        metrics_install_event(req->answer.status == MHD_HTTP_OK);
        }
        daemon_write_free(req->write); /* done: a connection is never closed while suspended */
        if (req->write_answering) {
                pthread_mutex_lock(&h->writes_lock);
                h->writes_answering--;
                pthread_cond_broadcast(&h->writes_cond);
                pthread_mutex_unlock(&h->writes_lock);
        }
        free(req->body);
        free(req->raw_target);
        free(req);
        *con_cls = NULL;
}

/* A connection starts or ends (MHD_OPTION_NOTIFY_CONNECTION): it enters or leaves the
 * connection table, its entry kept as the socket context.  CLOSED comes before libmicrohttpd
 * closes the descriptor (http-conns.h).  Headers and body of small answers must not wait for
 * Nagle + delayed ACK: pixiecore reuses connections and a split write cost ~40 ms per call
 * (measured with pixiecore, which uses Go's HTTP client). */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context, enum MHD_ConnectionNotificationCode code) {
        Http *h = cls;
        if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
                http_conns_close(h->conns, *socket_context);
                *socket_context = NULL;
                return;
        }
        if (code != MHD_CONNECTION_NOTIFY_STARTED)
                return;
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (ci) {
                int one = 1;
                (void) setsockopt(ci->connect_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                *socket_context = http_conns_open(h->conns, ci->connect_fd);
        }
}

/* libmicrohttpd's messages, at most one of each kind (its format string, a constant) per
 * MHD_LOG_INTERVAL_MS: under a flood of connections it writes one per connection ("Server
 * reached connection limit. Closing inbound connection." for each one refused by
 * MHD_OPTION_PER_IP_CONNECTION_LIMIT, "Connection was closed by remote side with incomplete
 * request." for each one shut down by the connection table). */
#define MHD_LOG_INTERVAL_MS 10000
#define MHD_LOG_KINDS 32
static struct {
        pthread_mutex_t lock;
        struct {
                const char *fmt;
                int64_t last_ms;
                uint64_t suppressed;
        } kinds[MHD_LOG_KINDS];
} mhd_log = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void on_mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
        int64_t now = now_monotonic_ms();
        uint64_t suppressed = 0;
        pthread_mutex_lock(&mhd_log.lock);
        size_t i = 0, oldest = 0;
        while (i < MHD_LOG_KINDS && mhd_log.kinds[i].fmt && mhd_log.kinds[i].fmt != fmt) {
                if (mhd_log.kinds[i].last_ms < mhd_log.kinds[oldest].last_ms)
                        oldest = i;
                i++;
        }
        if (i == MHD_LOG_KINDS) /* every slot taken by another kind: reuse the quietest */
                mhd_log.kinds[i = oldest] = (typeof(mhd_log.kinds[0])) { .fmt = NULL };
        if (mhd_log.kinds[i].fmt == fmt && now - mhd_log.kinds[i].last_ms < MHD_LOG_INTERVAL_MS) {
                mhd_log.kinds[i].suppressed++;
                pthread_mutex_unlock(&mhd_log.lock);
                return;
        }
        suppressed = mhd_log.kinds[i].fmt == fmt ? mhd_log.kinds[i].suppressed : 0;
        mhd_log.kinds[i] = (typeof(mhd_log.kinds[0])) { .fmt = fmt, .last_ms = now };
        pthread_mutex_unlock(&mhd_log.lock);

        char msg[512];
        vsnprintf(msg, sizeof msg, fmt, ap);
        msg[strcspn(msg, "\n")] = '\0';
        if (suppressed > 0)
                log_warning("http: %s (and %" PRIu64 " more like it in the last %d s)", msg, suppressed,
                            MHD_LOG_INTERVAL_MS / 1000);
        else
                log_warning("http: %s", msg);
}

/* Reads a PEM file whole (NUL-terminated, malloc'd). */
static int read_pem(const char *path, const char *what, char **ret) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0)
                return log_error_errno(errno, "cannot read the TLS %s %s: %m", what, path);
        if (!S_ISREG(st.st_mode) || st.st_size <= 0 || st.st_size > TLS_PEM_MAX)
                return log_error_errno(EINVAL, "the TLS %s %s is not a PEM file of 1 B to 1 MiB", what, path);
        _cleanup_free_ char *buf = malloc((size_t) st.st_size + 1);
        if (!buf)
                return -ENOMEM;
        ssize_t n = read(fd, buf, (size_t) st.st_size);
        if (n != st.st_size)
                return log_error_errno(n < 0 ? errno : EIO, "cannot read the TLS %s %s: %m", what, path);
        buf[n] = '\0';
        if (!strstr(buf, "-----BEGIN "))
                return log_error_errno(EINVAL, "the TLS %s %s is not PEM (no -----BEGIN line)", what, path);
        *ret = TAKE_PTR(buf);
        return 0;
}

int http_reload_api_tokens(Http *h, char *err, size_t errlen) {
        ApiTokens *t = NULL;
        int r = apitokens_load(h->api_tokens_path, &t, err, errlen);
        if (r < 0)
                return r;
        pthread_rwlock_wrlock(&h->tokens_lock);
        ApiTokens *old = h->tokens;
        h->tokens = t;
        pthread_rwlock_unlock(&h->tokens_lock);
        apitokens_free(old);
        return (int) apitokens_count(t);
}

static void http_free(Http *h) {
        if (!h)
                return;
        apitokens_free(h->tokens);
        free(h->api_tokens_path);
        free(h->ipxe_efi);
        free(h->tls_cert);
        free(h->tls_key);
        pthread_rwlock_destroy(&h->tokens_lock);
        pthread_mutex_destroy(&h->writes_lock);
        pthread_cond_destroy(&h->writes_cond);
        streams_free(h->streams);
        transfers_free(h->transfers);
        http_conns_free(h->conns);
        free(h);
}

int http_start(Daemon *d, int fd, const HttpConfig *cfg, Http **ret) {
        _cleanup_close_ int listen_fd = fd;
        unsigned threads = cfg->threads;
        int r;

        Http *h = calloc(1, sizeof *h);
        if (!h)
                return -ENOMEM;
        pthread_rwlock_init(&h->tokens_lock, NULL);
        pthread_mutex_init(&h->writes_lock, NULL);
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&h->writes_cond, &ca);
        pthread_condattr_destroy(&ca);
        h->daemon = d;
        r = streams_new(d, &h->streams);
        if (r < 0) {
                http_free(h);
                return r;
        }
        unsigned max_connections = cfg->max_connections ? cfg->max_connections : 4096;
        unsigned header_timeout_ms = cfg->header_timeout_ms ? cfg->header_timeout_ms : 10000;
        unsigned sweep_ms = header_timeout_ms / 8;
        r = http_conns_new(&(HttpConnsConfig) { .max_connections = max_connections,
                                                .header_timeout_ms = header_timeout_ms,
                                                .header_min_rate = cfg->header_min_rate,
                                                .sweep_ms = sweep_ms < 100 ? 100 : sweep_ms > 500 ? 500 : sweep_ms },
                           &h->conns);
        if (r < 0) {
                http_free(h);
                return log_error_errno(r, "cannot set up the HTTP connection table: %m");
        }
        h->max_connections = max_connections;
        r = transfers_new(cfg->max_transfers, &h->transfers);
        if (r < 0) {
                http_free(h);
                return log_error_errno(r, "cannot set up the file transfer cap: %m");
        }
        h->ops = cfg->ops;
        h->console = cfg->console; /* console capture */
        h->cluster = cfg->cluster;
        h->features = (h->ops ? HTTP_ROUTE_OPS : 0) | (h->console ? HTTP_ROUTE_CONSOLE : 0);
        if (cfg->ipxe_efi && !(h->ipxe_efi = strdup(cfg->ipxe_efi))) {
                http_free(h);
                return -ENOMEM;
        }
        h->read_auth = cfg->read_auth;
        if (cfg->api_tokens && !(h->api_tokens_path = strdup(cfg->api_tokens))) {
                http_free(h);
                return -ENOMEM;
        }
        char err[ERRBUF_MAX] = "";
        r = apitokens_load(h->api_tokens_path, &h->tokens, err, sizeof err);
        if (r < 0) {
                log_error_errno(r, "%s", err[0] ? err : "cannot load the API tokens: %m");
                http_free(h);
                return r;
        }
        if (!!cfg->tls_cert != !!cfg->tls_key) {
                http_free(h);
                return log_error_errno(EINVAL, "TLS needs both tls_cert and tls_key");
        }
        if (threads == 0) {
                long n = sysconf(_SC_NPROCESSORS_ONLN);
                threads = n < 2 ? 2 : (unsigned) n;
        }
        /* One thread: poll(), not epoll.  libmicrohttpd 0.9.75's MHD_epoll() collects events in
         * rounds of at most 128 and, after a round of exactly 128, calls epoll_wait() again with
         * the same timeout (up to the 60 s connection timeout) before serving any of them.  One
         * thread that finds exactly 128 or 256 requests ready at once (256 keep-alive clients
         * that all asked while it was busy) sleeps on requests it has already been told of: 258
         * answers/s instead of 86,000.  MHD_poll_all() waits once per round, on every
         * connection; that scan of every connection on each wake-up is its cost (thousands of
         * idle connections slow every answer).
         *
         * Two or more threads: libmicrohttpd's pool on epoll, each worker with its own epoll set
         * and MHD_epoll(), which waits so only when a multiple of 128 of that worker's own
         * connections became ready at once with none after them: not seen with up to 1,024
         * keep-alive connections over 2 and 4 threads, nor in bursts of 256 and 512.  poll()
         * there costs too much: with 3,840 idle connections held open by an attacker, fresh
         * boot requests waited seconds (p99 4.5 s, against 13 ms on epoll).  The manual lists
         * both ("Thread modes and event loops"). */
        unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | (threads > 1 ? MHD_USE_EPOLL : MHD_USE_POLL) |
                         MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME;
        if (cfg->tls_cert) {
                if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
                        http_free(h);
                        return log_error_errno(EOPNOTSUPP, "this libmicrohttpd was built without TLS support");
                }
                if ((r = read_pem(cfg->tls_cert, "certificate", &h->tls_cert)) < 0 ||
                    (r = read_pem(cfg->tls_key, "key", &h->tls_key)) < 0) {
                        http_free(h);
                        return r;
                }
                flags |= MHD_USE_TLS;
        }
        struct MHD_OptionItem tls_opts[] = {
                { h->tls_cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, h->tls_cert },
                { MHD_OPTION_HTTPS_MEM_KEY, 0, h->tls_key },
                { MHD_OPTION_END, 0, NULL },
        };
        /* One thread is the internal polling thread alone: libmicrohttpd warns that a pool of 1
         * is ignored. */
        struct MHD_OptionItem pool_opts[] = {
                { threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, threads, NULL },
                { MHD_OPTION_END, 0, NULL },
        };
        h->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, h,
                                  MHD_OPTION_LISTEN_SOCKET, listen_fd, MHD_OPTION_ARRAY, pool_opts,
                                  MHD_OPTION_URI_LOG_CALLBACK, on_uri, h, MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
                                  MHD_OPTION_NOTIFY_CONNECTION,
                                  on_connection, h, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned) 60,
                                  MHD_OPTION_CONNECTION_LIMIT, max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                                  cfg->max_connections_per_client, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                                  (size_t) HTTP_CONNECTION_MEMORY, MHD_OPTION_ARRAY, tls_opts, MHD_OPTION_END);
        if (!h->mhd) {
                http_free(h);
                return log_error_errno(EIO, "cannot start the HTTP server (libmicrohttpd)%s",
                                       cfg->tls_cert ? ": check that tls_cert and tls_key are a matching PEM pair" : "");
        }
        listen_fd = -1; /* libmicrohttpd owns it now */
        if (h->ops)
                ops_bulk_notify(h->ops, on_bulk_progress, h->streams);
        *ret = h;
        return 0;
}

void http_stop(Http *h) {
        if (!h)
                return;
        if (h->ops)
                ops_bulk_notify(h->ops, NULL, NULL); /* waits for a call in progress */
        streams_stop(h->streams);
        /* No connection may stay suspended on a write when libmicrohttpd stops: writes still
         * queued get their answer (the daemon outlives this), and from now on a write route
         * waits on its worker instead of suspending.  A resumed connection is answered by its
         * worker later on (MHD_resume_connection() only wakes it), and MHD_stop_daemon() would
         * close it unanswered: wait for those requests to complete too, but not longer than
         * HTTP_STOP_ANSWER_MS for a client that does not read its answer. */
        pthread_mutex_lock(&h->writes_lock);
        h->writes_stopping = true;
        while (h->writes_suspended > 0)
                pthread_cond_wait(&h->writes_cond, &h->writes_lock);
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += HTTP_STOP_ANSWER_MS / 1000;
        int w = 0;
        while (h->writes_answering > 0 && w != ETIMEDOUT)
                w = pthread_cond_timedwait(&h->writes_cond, &h->writes_lock, &until);
        if (h->writes_answering > 0)
                log_warning("stopping with %zu write answers not sent after %d ms", h->writes_answering,
                            HTTP_STOP_ANSWER_MS);
        pthread_mutex_unlock(&h->writes_lock);
        transfers_stop(h->transfers); /* no connection stays suspended */
        MHD_stop_daemon(h->mhd);
        http_free(h);
}
