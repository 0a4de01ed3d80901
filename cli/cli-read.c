/* cli-read.c — the read-only client commands: `provd summary`, `provd events [--follow]`,
 * `provd history NODE`.  Routes and shapes: api/openapi.yaml (GET /v1/summary,
 * /v1/events, /v1/events/stream, /v1/nodes/{name}/history).  The event stream is
 * Server-Sent Events (https://html.spec.whatwg.org/multipage/server-sent-events.html,
 * "Interpreting an event stream"), parsed here line by line from libcurl's write callback. */
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "cli-sse.h"
#include "util.h"

#define EVENTS_PAGE_MAX 1000 /* the API's largest limit for /v1/events and history */
#define STREAM_SILENCE_S 60L /* keepalives come every 15 s: reconnect after 60 s of nothing */
#define STREAM_RETRY_MAX_S 10

/* ---- summary ------------------------------------------------------------------------------ */

static const char *const states[] = { "new", "pending", "netbooting", "installing", "installed", "failed", "booting", "running" };

int cli_summary(Cli *cli, int argc, char **argv) {
        static const struct option options[] = { CLI_GLOBAL_OPTIONS, {} };
        int c;
        while ((c = cli_getopt(cli, argc, argv, options)) != -1) {
                if (c == 'h') {
                        printf("Usage: provd summary [--json]\n\n"
                               "Prints how many nodes are in each provision state, then how many run the\n"
                               "system the inventory says (drift: in_sync, drifted, reboot_pending, silent,\n"
                               "unknown; GET /v1/summary).\n\n" CLI_GLOBAL_HELP);
                        return CLI_EXIT_OK;
                }
                return CLI_EXIT_USAGE;
        }
        if (cli_no_more_arguments(cli, argc, argv))
                return CLI_EXIT_USAGE;
        int r = cli_load_settings(cli);
        if (r != 0)
                return r;

        _cleanup_(json_decrefp) json_t *j = NULL;
        r = cli_call(cli, "GET", "/v1/summary", NULL, &j);
        if (r < 0)
                return cli_exit_code(r);
        if (cli->json) {
                cli_print_json(j);
                return CLI_EXIT_OK;
        }
        _cleanup_(cli_table_freep) CliTable *t = cli_table_new(2);
        if (!t || cli_table_add(t, (const char *[]) { "STATE", "NODES" }) < 0)
                return CLI_EXIT_ERROR;
        json_t *by_state = json_object_get(j, "states");
        char buf[32];
        for (size_t i = 0; i < ELEMENTSOF(states); i++)
                if (cli_table_add(t, (const char *[]) { states[i], cli_text(json_object_get(by_state, states[i]), buf) }) < 0)
                        return CLI_EXIT_ERROR;
        const char *key;
        json_t *v;
        json_object_foreach(by_state, key, v) { /* states a newer daemon knows */
                bool known = false;
                for (size_t i = 0; i < ELEMENTSOF(states); i++)
                        known = known || streq(key, states[i]);
                if (!known && cli_table_add(t, (const char *[]) { key, cli_text(v, buf) }) < 0)
                        return CLI_EXIT_ERROR;
        }
        if (cli_table_add(t, (const char *[]) { "total", cli_text(json_object_get(j, "total"), buf) }) < 0)
                return CLI_EXIT_ERROR;
        cli_table_print(t, stdout);
        /* What the nodes report they run (a daemon without node reports has no "drift"). */
        json_t *drift = json_object_get(j, "drift");
        if (json_is_object(drift)) {
                static const char *const drifts[] = { "in_sync", "drifted", "reboot_pending", "silent", "unknown" };
                _cleanup_(cli_table_freep) CliTable *d = cli_table_new(2);
                if (!d || cli_table_add(d, (const char *[]) { "DRIFT", "NODES" }) < 0)
                        return CLI_EXIT_ERROR;
                for (size_t i = 0; i < ELEMENTSOF(drifts); i++)
                        if (cli_table_add(d, (const char *[]) { drifts[i], cli_text(json_object_get(drift, drifts[i]), buf) }) < 0)
                                return CLI_EXIT_ERROR;
                putchar('\n');
                cli_table_print(d, stdout);
        }
        return CLI_EXIT_OK;
}

/* ---- events ------------------------------------------------------------------------------- */

/* "FROM -> TO" of an Event or a history entry: malloc'd, NULL when out of memory. */
static char *transition_text(const json_t *e) {
        char b1[32], b2[32], *s;
        if (asprintf(&s, "%s -> %s", cli_text(json_object_get(e, "from"), b1), cli_text(json_object_get(e, "to"), b2)) < 0)
                return NULL;
        return s;
}

/* Adds an Event as a row: TIME  NODE  FROM -> TO  CAUSE  MESSAGE. */
static int add_event_row(CliTable *t, const json_t *e) {
        char tbuf[32], b3[32], b4[32];
        _cleanup_free_ char *transition = transition_text(e);
        if (!transition)
                return -ENOMEM;
        const json_t *msg = json_object_get(e, "message");
        return cli_table_add(t, (const char *[]) { cli_format_time(json_object_get(e, "at"), tbuf),
                                                   cli_text(json_object_get(e, "node"), b3), transition,
                                                   cli_text(json_object_get(e, "cause"), b4),
                                                   json_is_string(msg) ? json_string_value(msg) : "" });
}

static int print_events_table(const json_t *events) {
        _cleanup_(cli_table_freep) CliTable *t = cli_table_new(5);
        if (!t)
                return -ENOMEM;
        size_t i;
        json_t *e;
        json_array_foreach(events, i, e)
                if (add_event_row(t, e) < 0)
                        return -ENOMEM;
        cli_table_print(t, stdout);
        return 0;
}

/* GET /v1/events: one page when limit > 0 or since is NULL, else every page after since.
 * Returns 0 with *ret = {"events": [...], "last_event_id": N}, or a cli_call() error. */
static int fetch_events(Cli *cli, const char *since, long limit, json_t **ret) {
        _cleanup_(json_decrefp) json_t *all = json_array();
        _cleanup_free_ char *cursor = since ? strdup(since) : NULL;
        json_int_t last = 0;
        if (!all || (since && !cursor))
                return -ENOMEM;
        for (;;) {
                _cleanup_free_ char *esc = cursor ? cli_escape(cli, cursor) : NULL, *path = NULL;
                long page = limit > 0 ? limit : EVENTS_PAGE_MAX;
                if (cursor && !esc)
                        return -ENOMEM;
                if ((cursor ? asprintf(&path, "/v1/events?since=%s&limit=%ld", esc, page)
                            : limit > 0 ? asprintf(&path, "/v1/events?limit=%ld", limit)
                                        : asprintf(&path, "/v1/events")) < 0)
                        return -ENOMEM;
                _cleanup_(json_decrefp) json_t *j = NULL;
                int r = cli_call(cli, "GET", path, NULL, &j);
                if (r < 0)
                        return r;
                json_t *events = json_object_get(j, "events");
                json_int_t next = json_integer_value(json_object_get(j, "last_event_id"));
                if (!json_is_array(events)) {
                        fprintf(stderr, "provd: GET %s: no \"events\" array in the answer\n", path);
                        return -EIO;
                }
                if (json_array_extend(all, events) < 0)
                        return -ENOMEM;
                last = next;
                if (!cursor || limit > 0 || json_array_size(events) < (size_t) page)
                        break;
                /* since=last_event_id: the ids only grow, so this ends. */
                free(cursor);
                if (asprintf(&cursor, "%" JSON_INTEGER_FORMAT, next) < 0) {
                        cursor = NULL;
                        return -ENOMEM;
                }
        }
        json_t *o = json_pack("{s:O, s:I}", "events", all, "last_event_id", last);
        if (!o)
                return -ENOMEM;
        *ret = o;
        return 0;
}

/* ---- events --follow: the SSE stream ------------------------------------------------------ */

typedef struct Stream {
        Cli *cli;
        long status;            /* HTTP status of the current connection, 0 before headers */
        CliSse sse;             /* the parser; sse.last_id: highest event id seen, for Last-Event-ID */
        char error_body[65536]; /* a non-200 answer (its start: provd's errors are small) */
        size_t error_len;
        size_t widths[3];       /* node, transition, cause column widths so far */
        int error;
} Stream;

/* CliSseHandler: prints a `transition` event. */
static void print_stream_event(void *userdata, const char *type, const char *data) {
        Stream *s = userdata;
        if (*type && !streq(type, "transition"))
                return;
        if (s->cli->json) {
                fputs(data, stdout);
                fputc('\n', stdout);
                fflush(stdout);
                return;
        }
        _cleanup_(json_decrefp) json_t *e = json_loads(data, 0, NULL);
        if (!json_is_object(e)) {
                fprintf(stderr, "provd: ignoring an event that is not a JSON object\n");
                return;
        }
        char tbuf[32], b3[32], b4[32];
        const char *node = cli_text(json_object_get(e, "node"), b3), *cause = cli_text(json_object_get(e, "cause"), b4);
        _cleanup_free_ char *transition = transition_text(e);
        if (!transition)
                return;
        const char *cols[3] = { node, transition, cause };
        const json_t *msg = json_object_get(e, "message");
        printf("%s", cli_format_time(json_object_get(e, "at"), tbuf));
        for (size_t i = 0; i < 3; i++) {
                size_t w = strlen(cols[i]);
                if (w > s->widths[i])
                        s->widths[i] = w;
                printf("  %-*s", i == 2 && !json_is_string(msg) ? 0 : (int) s->widths[i], cols[i]);
        }
        if (json_is_string(msg)) {
                fputs("  ", stdout);
                cli_fputs_oneline(json_string_value(msg), stdout);
        }
        fputc('\n', stdout);
        fflush(stdout);
}

static size_t on_stream(char *ptr, size_t size, size_t nmemb, void *user) {
        Stream *s = user;
        size_t n = size * nmemb;
        if (s->status == 0)
                curl_easy_getinfo(s->cli->curl, CURLINFO_RESPONSE_CODE, &s->status);
        if (s->status != 200) {
                size_t k = n < sizeof s->error_body - s->error_len ? n : sizeof s->error_body - s->error_len;
                memcpy(s->error_body + s->error_len, ptr, k);
                s->error_len += k;
                return n;
        }
        s->error = cli_sse_feed(&s->sse, ptr, n);
        return s->error < 0 ? 0 : n;
}

static int on_progress(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow) {
        return cli_interrupted ? 1 : 0;
}

static void sleep_interruptible(int seconds) {
        for (int i = 0; i < seconds * 10 && !cli_interrupted; i++)
                nanosleep(&(struct timespec) { .tv_nsec = 100 * 1000 * 1000 }, NULL);
}

/* Reads /v1/events/stream from event id `since` until SIGINT/SIGTERM; reconnects after a
 * dropped connection with Last-Event-ID.  Returns an exit code. */
static int follow(Cli *cli, json_int_t since) {
        Stream s = { .cli = cli };
        s.sse = (CliSse) { .on_event = print_stream_event, .userdata = &s, .last_id = since };
        bool ever_connected = false;
        int retry = 1, ret = CLI_EXIT_OK;

        cli_catch_signals();
        while (!cli_interrupted) {
                char errbuf[CURL_ERROR_SIZE] = "", hdr[64];
                _cleanup_free_ char *path = NULL;
                struct curl_slist *headers = curl_slist_append(NULL, "Accept: text/event-stream");
                if (!ever_connected ? asprintf(&path, "/v1/events/stream?since=%" PRId64, s.sse.last_id) < 0
                                    : !(path = strdup("/v1/events/stream")))
                        path = NULL;
                if (ever_connected) {
                        snprintf(hdr, sizeof hdr, "Last-Event-ID: %" PRId64, s.sse.last_id);
                        headers = curl_slist_append(headers, hdr);
                }
                CURL *c = headers && path ? cli_curl_setup(cli, "GET", path, &headers, errbuf) : NULL;
                if (!c) {
                        curl_slist_free_all(headers);
                        fprintf(stderr, "provd: out of memory\n");
                        ret = CLI_EXIT_ERROR;
                        break;
                }
                curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
                curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_stream);
                curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
                curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
                curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
                curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
                curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, STREAM_SILENCE_S);
                s.status = 0;
                s.error_len = 0;
                cli_sse_reset(&s.sse);

                CURLcode cc = curl_easy_perform(c);
                curl_slist_free_all(headers);
                if (cli_interrupted)
                        break;
                if (s.error < 0) {
                        fprintf(stderr, "provd: cannot read the event stream: %s\n", strerror(-s.error));
                        ret = CLI_EXIT_ERROR;
                        break;
                }
                if (s.status == 0 && cc == CURLE_OK)
                        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &s.status);
                if (s.status != 0 && s.status != 200) {
                        _cleanup_(json_decrefp) json_t *j = json_loadb(s.error_body, s.error_len, 0, NULL);
                        cli_api_error(cli, "GET", path, s.status, j);
                        if (s.status < 500 || !ever_connected) {
                                ret = CLI_EXIT_ERROR;
                                break;
                        }
                } else if (s.status == 200) {
                        ever_connected = true;
                        retry = 1;
                        fprintf(stderr, "provd: the event stream ended%s%s; reconnecting\n", cc != CURLE_OK ? ": " : "",
                                cc != CURLE_OK ? (*errbuf ? errbuf : curl_easy_strerror(cc)) : "");
                } else {
                        if (!ever_connected) {
                                cli_report_curl_error(cli, cc, errbuf);
                                ret = CLI_EXIT_ERROR;
                                break;
                        }
                        fprintf(stderr, "provd: cannot reconnect to %s: %s; retrying in %d s\n", cli->url,
                                *errbuf ? errbuf : curl_easy_strerror(cc), retry);
                }
                sleep_interruptible(retry);
                retry = retry * 2 > STREAM_RETRY_MAX_S ? STREAM_RETRY_MAX_S : retry * 2;
        }
        cli_sse_free(&s.sse);
        return ret;
}

/* `provd events --help`. */
static void events_help(void) {
        printf("Usage: provd events [--since ID|TIME] [--limit N] [--follow] [--json]\n\n"
               "Prints state changes across the cluster, oldest first, one per line:\n"
               "  TIME  NODE  FROM -> TO  CAUSE  MESSAGE\n"
               "(times in local time).  Without --since: the last 100 events (or --limit N).\n\n"
               "  --since ID|TIME  events after event id ID, or at or after the RFC 3339 TIME\n"
               "                   (e.g. 2026-11-23T16:00:00Z); all of them unless --limit\n"
               "  --limit N        at most N events (1 to %d)\n"
               "  -f, --follow     then keep printing new events as they happen (the event\n"
               "                   stream, reconnecting if the connection drops) until\n"
               "                   interrupted (Ctrl-C: exit status 0).  Without --since or\n"
               "                   --limit it prints only new events.  With --json it prints\n"
               "                   one event object per line (JSON Lines)\n"
               "\n" CLI_GLOBAL_HELP,
               EVENTS_PAGE_MAX);
}

int cli_events(Cli *cli, int argc, char **argv) {
        enum { OPT_SINCE = CLI_OPT_FIRST_COMMAND_OPTION, OPT_LIMIT };
        static const struct option options[] = {
                { "since", required_argument, NULL, OPT_SINCE },
                { "limit", required_argument, NULL, OPT_LIMIT },
                { "follow", no_argument, NULL, 'f' },
                CLI_GLOBAL_OPTIONS,
                {},
        };
        const char *since = NULL;
        long limit = 0;
        bool follow_stream = false;
        int c;
        while ((c = cli_getopt(cli, argc, argv, options)) != -1) {
                switch (c) {
                case OPT_SINCE:
                        since = optarg;
                        break;
                case OPT_LIMIT:
                        if (cli_parse_count(optarg, EVENTS_PAGE_MAX, &limit) < 0) {
                                return cli_usage_error(cli, "--limit must be a number from 1 to %d, not \"%s\"",
                                        EVENTS_PAGE_MAX, optarg);
                        }
                        break;
                case 'f':
                        follow_stream = true;
                        break;
                case 'h':
                        events_help();
                        return CLI_EXIT_OK;
                default:
                        return CLI_EXIT_USAGE;
                }
        }
        if (cli_no_more_arguments(cli, argc, argv))
                return CLI_EXIT_USAGE;
        int r = cli_load_settings(cli);
        if (r != 0)
                return r;

        json_int_t from = 0;
        if (!follow_stream || since || limit > 0) {
                _cleanup_(json_decrefp) json_t *j = NULL;
                r = fetch_events(cli, since, limit, &j);
                if (r < 0)
                        return cli_exit_code(r);
                json_t *events = json_object_get(j, "events");
                if (cli->json && !follow_stream)
                        cli_print_json(j);
                else if (cli->json) {
                        size_t i;
                        json_t *e;
                        json_array_foreach(events, i, e) cli_print_json(e);
                } else if (print_events_table(events) < 0)
                        return CLI_EXIT_ERROR;
                from = json_integer_value(json_object_get(j, "last_event_id"));
        } else {
                /* Only new events: start after the current last one, so that a reconnect before
                 * the first event still misses nothing. */
                _cleanup_(json_decrefp) json_t *j = NULL;
                r = cli_call(cli, "GET", "/v1/summary", NULL, &j);
                if (r < 0)
                        return cli_exit_code(r);
                from = json_integer_value(json_object_get(j, "last_event_id"));
        }
        if (!follow_stream)
                return CLI_EXIT_OK;
        fflush(stdout);
        return follow(cli, from);
}

/* ---- history ------------------------------------------------------------------------------ */

CliTable *cli_history_table_new(void) {
        CliTable *t = cli_table_new(5);
        if (t && cli_table_add(t, (const char *[]) { "TIME", "TRANSITION", "CAUSE", "ATTEMPT", "MESSAGE" }) < 0) {
                cli_table_free(t);
                return NULL;
        }
        return t;
}

int cli_history_table_add(CliTable *t, const json_t *e) {
        char tbuf[32], b1[32], b2[32];
        _cleanup_free_ char *transition = transition_text(e);
        if (!transition)
                return -ENOMEM;
        const json_t *msg = json_object_get(e, "message");
        return cli_table_add(t, (const char *[]) { cli_format_time(json_object_get(e, "at"), tbuf), transition,
                                                   cli_text(json_object_get(e, "cause"), b1),
                                                   cli_text(json_object_get(e, "attempt"), b2),
                                                   json_is_string(msg) ? json_string_value(msg) : "" });
}

int cli_history(Cli *cli, int argc, char **argv) {
        enum { OPT_LIMIT = CLI_OPT_FIRST_COMMAND_OPTION };
        static const struct option options[] = {
                { "limit", required_argument, NULL, OPT_LIMIT },
                CLI_GLOBAL_OPTIONS,
                {},
        };
        long limit = 0;
        int c;
        while ((c = cli_getopt(cli, argc, argv, options)) != -1) {
                switch (c) {
                case OPT_LIMIT:
                        if (cli_parse_count(optarg, 1000000000L, &limit) < 0) {
                                return cli_usage_error(cli, "--limit must be a positive number, not \"%s\"", optarg);
                        }
                        break;
                case 'h':
                        printf("Usage: provd history NODE [--limit N] [--json]\n\n"
                               "Prints a node's state changes, newest first:\n"
                               "  TIME  TRANSITION  CAUSE  ATTEMPT  MESSAGE\n"
                               "(times in local time; ATTEMPT is the node's install attempt number).\n"
                               "Exit status 3 if provd does not know NODE.\n\n"
                               "  --limit N          only the newest N entries (default: all of them)\n"
                               "\n" CLI_GLOBAL_HELP);
                        return CLI_EXIT_OK;
                default:
                        return CLI_EXIT_USAGE;
                }
        }
        if (optind >= argc) {
                return cli_usage_error(cli, "missing NODE");
        }
        const char *node = argv[optind++];
        if (cli_no_more_arguments(cli, argc, argv))
                return CLI_EXIT_USAGE;
        int r = cli_load_settings(cli);
        if (r != 0)
                return r;
        _cleanup_free_ char *esc = cli_escape(cli, node);
        _cleanup_(json_decrefp) json_t *all = json_array(), *next_before = json_null(), *name = NULL;
        if (!esc || !all)
                return CLI_EXIT_ERROR;

        for (;;) {
                long want = EVENTS_PAGE_MAX;
                if (limit > 0 && limit - (long) json_array_size(all) < want)
                        want = limit - (long) json_array_size(all);
                _cleanup_free_ char *path = NULL;
                if ((json_is_integer(next_before)
                             ? asprintf(&path, "/v1/nodes/%s/history?limit=%ld&before=%" JSON_INTEGER_FORMAT, esc, want,
                                        json_integer_value(next_before))
                             : asprintf(&path, "/v1/nodes/%s/history?limit=%ld", esc, want)) < 0)
                        return CLI_EXIT_ERROR;
                _cleanup_(json_decrefp) json_t *j = NULL;
                r = cli_call(cli, "GET", path, NULL, &j);
                if (r == -ENOENT)
                        return CLI_EXIT_NOT_FOUND;
                if (r < 0)
                        return cli_exit_code(r);
                json_t *h = json_object_get(j, "history");
                if (!json_is_array(h)) {
                        fprintf(stderr, "provd: GET %s: no \"history\" array in the answer\n", path);
                        return CLI_EXIT_ERROR;
                }
                if (json_array_extend(all, h) < 0)
                        return CLI_EXIT_ERROR;
                if (!name)
                        name = json_incref(json_object_get(j, "node"));
                json_decref(next_before);
                next_before = json_incref(json_object_get(j, "next_before"));
                if (!next_before)
                        next_before = json_null();
                if (!json_is_integer(next_before) || json_array_size(h) == 0 ||
                    (limit > 0 && (long) json_array_size(all) >= limit))
                        break;
        }

        if (cli->json) {
                _cleanup_(json_decrefp) json_t *o = json_pack("{s:O?, s:O, s:O}", "node", name, "history", all, "next_before", next_before);
                if (!o)
                        return CLI_EXIT_ERROR;
                cli_print_json(o);
                return CLI_EXIT_OK;
        }
        _cleanup_(cli_table_freep) CliTable *t = cli_history_table_new();
        if (!t)
                return CLI_EXIT_ERROR;
        size_t i;
        json_t *e;
        json_array_foreach(all, i, e)
                if (cli_history_table_add(t, e) < 0)
                        return CLI_EXIT_ERROR;
        cli_table_print(t, stdout);
        return CLI_EXIT_OK;
}
