/* cli-bulk.c — the node commands (power, bootdev, reinstall without --wait) on more than one
 * node: one POST /v1/bulk-operations per CLI_BULK_MAX nodes, then, for power and bootdev, the
 * bulk operation's progress from GET /v1/bulk-operations/{id}?follow=1 (Server-Sent Events:
 * one `node` event per finished node, then `done`), each node's result printed as it arrives.
 * A dropped stream is resumed with Last-Event-ID.  A provd without the route (404 "no such
 * route") makes cli_bulk_run() say so, and the caller submits node by node.
 *
 * Single-threaded, like all of cli*.c. */
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli-ops.h"
#include "cli-sse.h"
#include "cli.h"
#include "util.h"

#define CLI_BULK_MAX 4096        /* nodes in one request: provd's limit */
#define BULK_SILENCE_S 60L       /* keepalives come every 15 s: reconnect after 60 s of nothing */
#define BULK_RECONNECTS_MAX 5    /* in a row without a new event */

/* One bulk operation being followed. */
typedef struct Follow {
        Cli *cli;
        long status;            /* HTTP status of the current connection, 0 before headers */
        CliSse sse;             /* sse.last_id: the last node event seen, for Last-Event-ID */
        char error_body[16384]; /* a non-200 answer (its start) */
        size_t error_len;
        int error;              /* the parser's */
        bool done;              /* the `done` event came */
        json_t *results;        /* node -> its result text (owned) */
        size_t width;           /* the NODE column */
        bool failed;            /* a node failed */
} Follow;

/* A finished node's result cell: "on", "ok", the result, or "error: ..." (malloc'd). */
static char *result_text(const json_t *n, bool *ret_failed) {
        const char *state = cli_json_str(n, "state"), *result = cli_json_str(n, "result");
        const char *msg = cli_json_str(json_object_get(n, "error"), "message");
        char *s = NULL;
        *ret_failed = !state || !streq(state, "succeeded");
        if (*ret_failed) {
                const char *node = cli_json_str(n, "node");
                size_t len = node ? strlen(node) : 0;
                if (msg && len > 0 && strncmp(msg, node, len) == 0 && strncmp(msg + len, ": ", 2) == 0)
                        msg += len + 2; /* "NODE: ...": the NODE column says it */
                if (asprintf(&s, "error: %s", msg ? msg : "the operation failed") < 0)
                        return NULL;
                return s;
        }
        return strdup(result ? result : "ok");
}

static void print_row(size_t width, const char *node, const char *cell) {
        printf("%-*s  ", (int) width, node);
        cli_fputs_oneline(cell, stdout);
        fputc('\n', stdout);
}

/* CliSseHandler: a `node` event is printed (once per node), `done` ends the follow. */
static void on_event(void *userdata, const char *type, const char *data) {
        Follow *f = userdata;
        if (streq(type, "done")) {
                f->done = true;
                return;
        }
        if (!streq(type, "node"))
                return;
        _cleanup_(json_decrefp) json_t *n = json_loads(data, 0, NULL);
        const char *node = cli_json_str(n, "node");
        if (!node || json_object_get(f->results, node))
                return;
        bool failed;
        _cleanup_free_ char *cell = result_text(n, &failed);
        if (!cell || json_object_set_new(f->results, node, json_string(cell)) < 0) {
                f->error = -ENOMEM;
                return;
        }
        f->failed = f->failed || failed;
        if (!f->cli->json) {
                print_row(f->width, node, cell);
                fflush(stdout);
        }
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *user) {
        Follow *f = user;
        size_t n = size * nmemb;
        if (f->status == 0)
                curl_easy_getinfo(f->cli->curl, CURLINFO_RESPONSE_CODE, &f->status);
        if (f->status != 200) {
                size_t k = n < sizeof f->error_body - f->error_len ? n : sizeof f->error_body - f->error_len;
                memcpy(f->error_body + f->error_len, ptr, k);
                f->error_len += k;
                return n;
        }
        int r = cli_sse_feed(&f->sse, ptr, n);
        if (r < 0)
                f->error = r;
        return f->error < 0 ? 0 : n;
}

static int on_progress(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow) {
        return cli_interrupted ? 1 : 0;
}

/* Follows bulk operation id until its `done` event (or Ctrl-C, or it cannot be read any
 * more: then the nodes not seen stay without a result).  Returns 0, or -ENOENT (provd no
 * longer knows it), -EIO (it cannot be read; message printed), -ENOMEM. */
static int follow_bulk(Follow *f, int64_t id) {
        char path[96];
        int tries = 0;
        snprintf(path, sizeof path, "/v1/bulk-operations/%" PRId64 "?follow=1", id);
        f->sse = (CliSse) { .on_event = on_event, .userdata = f, .last_id = 0 };
        f->done = false;
        int ret = 0;
        while (!f->done && !cli_interrupted) {
                char errbuf[CURL_ERROR_SIZE] = "", hdr[64];
                int64_t seen = f->sse.last_id;
                struct curl_slist *headers = curl_slist_append(NULL, "Accept: text/event-stream");
                if (headers && seen > 0) {
                        snprintf(hdr, sizeof hdr, "Last-Event-ID: %" PRId64, seen);
                        headers = curl_slist_append(headers, hdr);
                }
                CURL *c = headers ? cli_curl_setup(f->cli, "GET", path, &headers, errbuf) : NULL;
                if (!c) {
                        curl_slist_free_all(headers);
                        ret = -ENOMEM;
                        break;
                }
                curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
                curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
                curl_easy_setopt(c, CURLOPT_WRITEDATA, f);
                curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
                curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
                curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
                curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, BULK_SILENCE_S);
                f->status = 0;
                f->error_len = 0;
                cli_sse_reset(&f->sse);
                CURLcode cc = curl_easy_perform(c);
                curl_slist_free_all(headers);
                if (f->error < 0) {
                        ret = f->error;
                        break;
                }
                if (f->done || cli_interrupted)
                        break;
                if (f->status == 0 && cc == CURLE_OK)
                        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &f->status);
                if (f->status == 404) {
                        ret = -ENOENT;
                        break;
                }
                if (f->status != 0 && f->status != 200 && f->status < 500) {
                        _cleanup_(json_decrefp) json_t *j = json_loadb(f->error_body, f->error_len, 0, NULL);
                        ret = cli_api_error(f->cli, "GET", path, f->status, j);
                        break;
                }
                /* Dropped (or a 5xx): again from the last node seen, a few times in a row. */
                tries = f->sse.last_id > seen ? 1 : tries + 1;
                if (tries > BULK_RECONNECTS_MAX) {
                        if (f->status == 0)
                                cli_report_curl_error(f->cli, cc, errbuf);
                        fprintf(stderr, "provd: cannot follow bulk operation %" PRId64 " (%d tries); giving up\n", id, tries - 1);
                        ret = -EIO;
                        break;
                }
                cli_sleep_ms(200L * tries);
        }
        cli_sse_free(&f->sse);
        return ret;
}

/* POSTs one bulk operation (kind, params, nodes v[0..n)).  Returns 0 and *ret (the bulk
 * operation, owned); -EOPNOTSUPP: provd has no such route; or an exit code > 0 (message
 * printed): 3 an unknown node, 1 anything else. */
static int post_bulk(Cli *cli, const char *kind, json_t *params, char **v, size_t n, json_t **ret) {
        _cleanup_(json_decrefp) json_t *nodes = json_array(), *j = NULL;
        for (size_t i = 0; nodes && i < n; i++)
                if (json_array_append_new(nodes, json_string(v[i])) < 0)
                        return CLI_EXIT_ERROR;
        _cleanup_(json_decrefp) json_t *body = nodes ? json_pack("{s:s, s:O, s:O}", "kind", kind, "params", params, "nodes", nodes) : NULL;
        long status = 0;
        if (!body)
                return CLI_EXIT_ERROR;
        int r = cli_request(cli, "POST", "/v1/bulk-operations", body, &j, &status);
        if (r < 0)
                return CLI_EXIT_ERROR;
        json_t *op = json_object_get(j, "bulk_operation");
        if (status == 202 && json_is_object(op)) {
                *ret = json_incref(op);
                return 0;
        }
        const char *msg = cli_json_str(json_object_get(j, "error"), "message");
        if ((status == 404 && msg && strncmp(msg, "no such route", 13) == 0) || status == 405)
                return -EOPNOTSUPP;
        if (status == 404 && msg) {
                fprintf(stderr, "provd: %s\n", msg);
                return CLI_EXIT_NOT_FOUND;
        }
        cli_api_error(cli, "POST", "/v1/bulk-operations", status, j);
        return CLI_EXIT_ERROR;
}

int cli_bulk_run(Cli *cli, const CliNames *names, const char *kind, json_t *params, bool follow) {
        _cleanup_(json_decrefp) json_t *bulks = json_array(), *params_obj = params ? json_incref(params) : json_object();
        Follow f = { .cli = cli, .results = json_object(), .width = 4 };
        _cleanup_(json_decrefp) json_t *results = f.results;
        int ret = CLI_EXIT_OK;

        if (!bulks || !params_obj || !results)
                return CLI_EXIT_ERROR;
        for (size_t i = 0; i < names->n; i++)
                if (strlen(names->v[i]) > f.width)
                        f.width = strlen(names->v[i]);

        /* Submit every chunk first: they all run at once; then follow them in turn. */
        for (size_t at = 0; at < names->n; at += CLI_BULK_MAX) {
                size_t n = names->n - at < CLI_BULK_MAX ? names->n - at : CLI_BULK_MAX;
                json_t *b = NULL;
                int r = post_bulk(cli, kind, params_obj, names->v + at, n, &b);
                if (r == -EOPNOTSUPP && at == 0)
                        return -EOPNOTSUPP;
                if (r != 0) {
                        if (at == 0) {
                                fprintf(stderr, "provd: nothing submitted\n");
                                return r < 0 ? CLI_EXIT_ERROR : r;
                        }
                        fprintf(stderr, "provd: nodes %zu to %zu (of %zu) not submitted\n", at + 1, names->n, names->n);
                        ret = CLI_EXIT_ERROR;
                        break;
                }
                json_array_append_new(bulks, b);
        }

        if (!follow) { /* reinstall: the operations as started */
                _cleanup_(cli_table_freep) CliTable *t = cli_table_new(3);
                if (!t || cli_table_add(t, (const char *[]) { "NODE", "OPERATION", "MESSAGE" }) < 0)
                        return CLI_EXIT_ERROR;
                size_t i, k;
                json_t *b, *n;
                json_array_foreach(bulks, i, b) json_array_foreach(json_object_get(b, "nodes"), k, n) {
                        char idbuf[32] = "-";
                        json_t *opid = json_object_get(n, "operation");
                        const char *msg = cli_json_str(json_object_get(n, "error"), "message");
                        _cleanup_free_ char *cell = NULL;
                        if (json_is_integer(opid))
                                snprintf(idbuf, sizeof idbuf, "%" JSON_INTEGER_FORMAT, json_integer_value(opid));
                        if (msg && asprintf(&cell, "error: %s", msg) < 0)
                                return CLI_EXIT_ERROR;
                        if (msg && !json_is_integer(opid)) /* refused: the node never started */
                                ret = CLI_EXIT_ERROR;
                        if (cli_table_add(t, (const char *[]) { cli_json_str(n, "node"), idbuf, cell ? cell : "" }) < 0)
                                return CLI_EXIT_ERROR;
                }
                if (cli->json) {
                        _cleanup_(json_decrefp) json_t *o = json_pack("{s:O}", "bulk_operations", bulks);
                        if (!o)
                                return CLI_EXIT_ERROR;
                        cli_print_json(o);
                } else
                        cli_table_print(t, stdout);
                return ret;
        }

        cli_catch_signals();
        if (!cli->json) {
                print_row(f.width, "NODE", "RESULT");
                fflush(stdout);
        }
        size_t i;
        json_t *b;
        json_array_foreach(bulks, i, b) {
                int64_t id = json_integer_value(json_object_get(b, "id"));
                int r = cli_interrupted ? 0 : follow_bulk(&f, id);
                if (r == -ENOMEM) {
                        fprintf(stderr, "provd: out of memory\n");
                        return CLI_EXIT_ERROR;
                }
                if (cli->json) { /* the final state of each bulk operation */
                        _cleanup_(json_decrefp) json_t *now = NULL;
                        char path[64];
                        snprintf(path, sizeof path, "/v1/bulk-operations/%" PRId64, id);
                        if (cli_call(cli, "GET", path, NULL, &now) == 0)
                                json_array_set(bulks, i, now);
                }
        }
        /* The nodes without a result: interrupted, or their bulk operation could not be read. */
        for (size_t k = 0; k < names->n; k++) {
                if (json_object_get(f.results, names->v[k]))
                        continue;
                f.failed = true;
                if (!cli->json)
                        print_row(f.width, names->v[k], cli_interrupted ? "unfinished (interrupted)" : "unfinished");
        }
        if (cli->json) {
                _cleanup_(json_decrefp) json_t *o = json_pack("{s:O}", "bulk_operations", bulks);
                if (!o)
                        return CLI_EXIT_ERROR;
                cli_print_json(o);
        }
        return f.failed || cli_interrupted ? CLI_EXIT_ERROR : ret;
}
