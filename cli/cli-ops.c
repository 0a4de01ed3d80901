/* cli-ops.c — the node commands of the client:
 *   provd nodes [--state S[,S]] [--name GLOB] [--rack R]     GET /v1/nodes
 *   provd node NODE                                          GET /v1/nodes/{name}
 *   provd reinstall (NODE|GLOB)...|--all [--wait] [--parallel N] [--timeout D]
 *                   [--before CMD] [--after CMD] [--gate-timeout D | --no-gate] [--hook-timeout D]
 *   provd power (NODE|GLOB)...|--all on|off|cycle|reset|soft|status
 *   provd bootdev (NODE|GLOB)...|--all pxe|disk|bios [--persistent] [--efi|--legacy]
 * The three admin commands POST /v1/nodes/{name}/{reinstall,power,bootdev} (202 + an
 * Operation) and follow the operations with GET /v1/operations/{id}.
 *
 * `reinstall --wait` is a loop around the pure scheduler of cli-roll.c: start nodes while the
 * scheduler allows (run --before, then request the reinstall), follow the operations until
 * their mark step is done (the node is then "armed": pending), watch the armed nodes'
 * provision states until installed or failed — from the event stream GET /v1/events/stream
 * (parsed by cli-sse.c, read through a curl multi handle next to the blocking
 * requests of cli_request()), and by polling GET /v1/nodes every 2 s while the stream is not
 * connected (every 30 s as a safety net while it is) — then, with the gate, poll the installed
 * nodes' drift and report (GET /v1/nodes every 2 s, GET /v1/nodes/{name} for those that say
 * in_sync: is the report newer than the install?), and run --after.  A node's report does not
 * make an event unless its running system changed, so the gate is polled, not streamed.
 *
 * --before and --after run as `/bin/sh -c CMD` (posix_spawn; stdin /dev/null, in their own
 * process group so a timeout kills what they started) with PROVD_NODE, PROVD_URL and
 * PROVD_HOOK (before|after) in the environment, several at once when several nodes are in
 * flight; the loop reads their output (stdout and stderr, one pipe) without blocking and
 * prints each line on stderr as "TIME  NODE  --before: LINE".  Progress goes to stderr, the
 * results to stdout.
 *
 * Single-threaded, like all of cli*.c. */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli-roll.h"
#include "cli-sse.h"
#include "cli.h"
#include "util.h"

#define POLL_NODES_MS 2000        /* GET /v1/nodes while the event stream is not connected */
#define POLL_NODES_SAFETY_MS 30000 /* ... and while it is, in case it missed something */
#define POLL_OPS_MS 1000           /* GET /v1/operations/{id} for unfinished reinstall operations */
#define POLL_GATE_MS 2000          /* GET /v1/nodes while a node waits at its gate */
#define GATE_TIMEOUT_MS (90 * 60 * 1000LL) /* --gate-timeout: above the daemon's install_deadline (1 h) */
#define HOOK_TIMEOUT_MS (10 * 60 * 1000LL) /* --hook-timeout */
#define HOOK_KILL_GRACE_MS 5000    /* SIGTERM to a hook's process group, SIGKILL this much later */
#define SUMMARY_MS 30000           /* the periodic progress summary */
#define STREAM_SILENCE_S 60L       /* keepalives come every 15 s */
#define STREAM_RETRY_MAX_MS 10000
#define HISTORY_SHOWN 10           /* `provd node`: the newest history entries shown */
#define FOLLOW_ERRORS_MAX 20       /* power/bootdev: rounds in a row with an unreadable operation */

static void sleep_ms(long ms) {
        nanosleep(&(struct timespec) { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L }, NULL);
}

/* Parses a duration: a number of seconds, or numbers with units s, m, h, d ("90", "15m",
 * "1h30m").  Returns 0 with *ret_ms (> 0), or -EINVAL. */
static int parse_duration(const char *s, int64_t *ret_ms) {
        int64_t total = 0;
        const char *p = s;
        if (!*p)
                return -EINVAL;
        while (*p) {
                char *end;
                errno = 0;
                long long v = strtoll(p, &end, 10);
                if (errno || end == p || v < 0 || v > 100000000LL)
                        return -EINVAL;
                int64_t unit = 1000;
                switch (*end) {
                case '\0':
                        if (p != s)
                                return -EINVAL; /* "1h30": a unit is missing */
                        break;
                case 's':
                        end++;
                        break;
                case 'm':
                        unit = 60 * 1000;
                        end++;
                        break;
                case 'h':
                        unit = 3600 * 1000;
                        end++;
                        break;
                case 'd':
                        unit = 86400 * 1000;
                        end++;
                        break;
                default:
                        return -EINVAL;
                }
                total += v * unit;
                p = end;
        }
        if (total <= 0)
                return -EINVAL;
        *ret_ms = total;
        return 0;
}

/* Formats ms as parse_duration() reads it: "1h30m", "45m", "1m30s", "8s" (seconds rounded up). */
static const char *format_duration(int64_t ms, char buf[static 32]) {
        int64_t s = (ms + 999) / 1000, h = s / 3600, m = s / 60 % 60;
        size_t n = 0;
        buf[0] = '\0';
        if (h)
                n += (size_t) snprintf(buf + n, 32 - n, "%" PRId64 "h", h);
        if (m)
                n += (size_t) snprintf(buf + n, 32 - n, "%" PRId64 "m", m);
        if (s % 60 || n == 0)
                snprintf(buf + n, 32 - n, "%" PRId64 "s", s % 60);
        return buf;
}

static void usage_hint(Cli *cli) {
        fprintf(stderr, "Try 'provd %s --help'.\n", cli->command);
}

/* "HH:MM:SS" local time, for progress lines. */
static const char *clock_now(char buf[static 16]) {
        time_t t = time(NULL);
        struct tm tm;
        localtime_r(&t, &tm);
        strftime(buf, 16, "%H:%M:%S", &tm);
        return buf;
}

static const char *json_str(const json_t *o, const char *key) {
        return json_string_value(json_object_get(o, key));
}

/* ---- node selection ------------------------------------------------------------------------ */

typedef struct Names {
        char **v; /* owned strings */
        size_t n, cap;
} Names;

static void names_free(Names *names) {
        for (size_t i = 0; i < names->n; i++)
                free(names->v[i]);
        free(names->v);
        *names = (Names) { 0 };
}

static bool names_has(const Names *names, const char *s) {
        for (size_t i = 0; i < names->n; i++)
                if (streq(names->v[i], s))
                        return true;
        return false;
}

static int names_add(Names *names, const char *s) {
        if (names_has(names, s))
                return 0;
        if (names->n == names->cap) {
                size_t cap = names->cap ? names->cap * 2 : 16;
                char **v = reallocarray(names->v, cap, sizeof *v);
                if (!v)
                        return -ENOMEM;
                names->v = v;
                names->cap = cap;
        }
        names->v[names->n] = strdup(s);
        if (!names->v[names->n])
                return -ENOMEM;
        names->n++;
        return 0;
}

/* Appends key=value (value URL-escaped; nothing when value is NULL) to the query *q ("" or
 * "?..."; malloc'd, replaced).  Returns 0 or -ENOMEM. */
static int add_query(Cli *cli, char **q, const char *key, const char *value) {
        if (!value)
                return 0;
        _cleanup_free_ char *esc = cli_escape(cli, value);
        char *n = NULL;
        if (!esc || asprintf(&n, "%s%s%s=%s", *q, **q ? "&" : "?", key, esc) < 0)
                return -ENOMEM;
        free(*q);
        *q = n;
        return 0;
}

/* GET /v1/nodes with an optional query ("" or "?..."); *ret = the "nodes" array (owned). */
static int get_nodes(Cli *cli, const char *query, json_t **ret) {
        _cleanup_free_ char *path = NULL;
        if (asprintf(&path, "/v1/nodes%s", query) < 0)
                return -ENOMEM;
        _cleanup_(json_decrefp) json_t *j = NULL;
        int r = cli_call(cli, "GET", path, NULL, &j);
        if (r < 0)
                return r;
        json_t *nodes = json_object_get(j, "nodes");
        if (!json_is_array(nodes)) {
                fprintf(stderr, "provd: GET %s: no \"nodes\" array in the answer\n", path);
                return -EIO;
        }
        *ret = json_incref(nodes);
        return 0;
}

/* Resolves the command's node arguments (names or globs, each with GET /v1/nodes?name=ARG)
 * or --all into names, in the daemon's inventory order per argument, each once.  Returns an
 * exit code: 0, 1 (daemon or network), 3 (an argument matched no node; every such argument
 * is named). */
static int resolve_nodes(Cli *cli, char **args, size_t n_args, bool all, Names *ret) {
        Names names = { 0 };
        bool missing = false;
        for (size_t a = 0; a < (all ? 1 : n_args); a++) {
                _cleanup_free_ char *query = strdup("");
                if (!query || add_query(cli, &query, "name", all ? NULL : args[a]) < 0)
                        goto oom;
                _cleanup_(json_decrefp) json_t *nodes = NULL;
                int r = get_nodes(cli, query, &nodes);
                if (r < 0) {
                        names_free(&names);
                        return CLI_EXIT_ERROR;
                }
                if (json_array_size(nodes) == 0) {
                        if (all)
                                fprintf(stderr, "provd: the inventory has no nodes\n");
                        else if (strpbrk(args[a], "*?["))
                                fprintf(stderr, "provd: no node matches \"%s\"\n", args[a]);
                        else
                                fprintf(stderr, "provd: unknown node \"%s\"\n", args[a]);
                        missing = true;
                }
                size_t i;
                json_t *node;
                json_array_foreach(nodes, i, node) {
                        const char *name = json_str(node, "name");
                        if (name && names_add(&names, name) < 0)
                                goto oom;
                }
        }
        if (missing) {
                fprintf(stderr, "provd: nothing submitted\n");
                names_free(&names);
                return CLI_EXIT_NOT_FOUND;
        }
        *ret = names;
        return CLI_EXIT_OK;
oom:
        fprintf(stderr, "provd: out of memory\n");
        names_free(&names);
        return CLI_EXIT_ERROR;
}

/* ---- operations ------------------------------------------------------------------------------ */

static bool op_finished(const json_t *op) {
        const char *s = json_str(op, "state");
        return s && (streq(s, "succeeded") || streq(s, "failed"));
}

static bool op_failed(const json_t *op) {
        const char *s = json_str(op, "state");
        return s && streq(s, "failed");
}

/* The reinstall's `mark` step is done (the node is pending from now on). */
static bool op_marked(const json_t *op) {
        const char *s = json_str(op, "state");
        if (s && streq(s, "succeeded"))
                return true;
        size_t i;
        json_t *step;
        json_array_foreach(json_object_get(op, "steps"), i, step) {
                const char *name = json_str(step, "name"), *state = json_str(step, "state");
                if (name && state && streq(name, "mark"))
                        return streq(state, "succeeded");
        }
        return false;
}

/* Why a failed operation failed: error.message, else the failed step's error. */
static const char *op_error(const json_t *op) {
        const char *msg = json_str(json_object_get(op, "error"), "message");
        if (msg)
                return msg;
        size_t i;
        json_t *step;
        json_array_foreach(json_object_get(op, "steps"), i, step) {
                const char *e = json_str(step, "error");
                if (e)
                        return e;
        }
        return "the operation failed";
}

/* The outcome of one POST /v1/nodes/{name}/{kind}. */
typedef struct Submit {
        json_t *op;  /* the Operation (owned) on 202, else NULL */
        json_t *err; /* {"node", "status", "error": {...}} (owned) otherwise */
        char *message; /* the error's text (owned) otherwise */
        bool fatal;  /* 401/403 (or no answer): the others would fail the same way */
} Submit;

static void submit_free(Submit *s) {
        json_decref(s->op);
        json_decref(s->err);
        free(s->message);
        *s = (Submit) { 0 };
}

/* POSTs kind for node name with body (borrowed; NULL = empty).  Returns 0 with *ret filled
 * (either op or err), -ENOMEM. */
static int submit(Cli *cli, const char *name, const char *kind, json_t *body, Submit *ret) {
        _cleanup_free_ char *esc = cli_escape(cli, name), *path = NULL;
        if (!esc || asprintf(&path, "/v1/nodes/%s/%s", esc, kind) < 0)
                return -ENOMEM;
        _cleanup_(json_decrefp) json_t *j = NULL;
        long status = 0;
        Submit s = { 0 };
        int r = cli_request(cli, "POST", path, body, &j, &status);
        if (r >= 0 && status == 202 && json_is_object(json_object_get(j, "operation"))) {
                s.op = json_incref(json_object_get(j, "operation"));
                *ret = s;
                return 0;
        }
        const json_t *error = json_object_get(j, "error");
        const char *msg = json_str(error, "message");
        if (r < 0)
                msg = "no answer from provd";
        else if (status == 401 || status == 403) {
                cli_api_error(cli, "POST", path, status, j); /* with the hint about tokens */
                s.fatal = true;
        }
        if (r < 0)
                s.fatal = true;
        if (asprintf(&s.message, "%s", msg ? msg : "unexpected answer") < 0) {
                s.message = NULL;
                return -ENOMEM;
        }
        if (!msg) {
                free(s.message);
                if (asprintf(&s.message, "POST %s: HTTP %ld", path, status) < 0) {
                        s.message = NULL;
                        return -ENOMEM;
                }
        }
        s.err = json_pack("{s:s, s:I, s:O}", "node", name, "status", (json_int_t) status, "error",
                          error ? (json_t *) error : json_null());
        if (!s.err) {
                free(s.message);
                return -ENOMEM;
        }
        *ret = s;
        return 0;
}

/* GET /v1/operations/{id}.  Returns 0 with *ret (owned), -ENOENT (gone: provd restarted),
 * other negative errno (message printed). */
static int get_operation(Cli *cli, int64_t id, json_t **ret) {
        char path[64];
        snprintf(path, sizeof path, "/v1/operations/%" PRId64, id);
        _cleanup_(json_decrefp) json_t *j = NULL;
        long status = 0;
        int r = cli_request(cli, "GET", path, NULL, &j, &status);
        if (r < 0)
                return -EIO;
        if (status == 404)
                return -ENOENT;
        if (status != 200 || !json_is_object(j))
                return cli_api_error(cli, "GET", path, status, j);
        *ret = TAKE_PTR(j);
        return 0;
}

/* ---- provd nodes ----------------------------------------------------------------------------- */

int cli_nodes(Cli *cli, int argc, char **argv) {
        enum { OPT_STATE = CLI_OPT_FIRST_COMMAND_OPTION, OPT_NAME, OPT_RACK, OPT_DRIFT, OPT_DRIFTED };
        static const struct option options[] = {
                { "state", required_argument, NULL, OPT_STATE },
                { "name", required_argument, NULL, OPT_NAME },
                { "rack", required_argument, NULL, OPT_RACK },
                { "drift", required_argument, NULL, OPT_DRIFT },
                { "drifted", no_argument, NULL, OPT_DRIFTED },
                CLI_GLOBAL_OPTIONS,
                {},
        };
        const char *state = NULL, *name = NULL, *rack = NULL, *drift = NULL;
        int c;
        while ((c = cli_getopt(cli, argc, argv, options)) != -1) {
                switch (c) {
                case OPT_STATE:
                        state = optarg;
                        break;
                case OPT_NAME:
                        name = optarg;
                        break;
                case OPT_RACK:
                        rack = optarg;
                        break;
                case OPT_DRIFT:
                        drift = optarg;
                        break;
                case OPT_DRIFTED:
                        drift = "drifted,reboot_pending,silent";
                        break;
                case 'h':
                        printf("Usage: provd nodes [--state S[,S...]] [--drift D[,D...] | --drifted] [--name GLOB]\n"
                               "                   [--rack R] [--json]\n\n"
                               "Lists the nodes in inventory order:\n"
                               "  NAME  STATE  SINCE  ATTEMPT  PHASE  DRIFT  RACK\n"
                               "(SINCE in local time; ATTEMPT and PHASE of the current install attempt; DRIFT\n"
                               "whether the node reports running the inventory's system: in_sync, drifted,\n"
                               "reboot_pending, silent, unknown).\n"
                               "Filters combine (AND):\n"
                               "  --state S[,S...]  only nodes in these states (new, pending, netbooting,\n"
                               "                    installing, installed, failed)\n"
                               "  --drift D[,D...]  only nodes with these drift statuses\n"
                               "  --drifted         only nodes that are not known to run their system: drifted,\n"
                               "                    reboot_pending or silent\n"
                               "  --name GLOB       only nodes whose name matches GLOB (quote it: 'node-0*')\n"
                               "  --rack R          only nodes in rack R\n"
                               "\n" CLI_GLOBAL_HELP);
                        return CLI_EXIT_OK;
                default:
                        return CLI_EXIT_USAGE;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "provd nodes: unexpected argument \"%s\" (filter by name with --name GLOB)\n", argv[optind]);
                usage_hint(cli);
                return CLI_EXIT_USAGE;
        }
        int r = cli_load_settings(cli);
        if (r != 0)
                return r;
        _cleanup_free_ char *query = strdup("");
        if (!query || add_query(cli, &query, "state", state) < 0 || add_query(cli, &query, "name", name) < 0 ||
            add_query(cli, &query, "rack", rack) < 0 || add_query(cli, &query, "drift", drift) < 0)
                return CLI_EXIT_ERROR;
        _cleanup_free_ char *path = NULL;
        if (asprintf(&path, "/v1/nodes%s", query) < 0)
                return CLI_EXIT_ERROR;
        _cleanup_(json_decrefp) json_t *j = NULL;
        r = cli_call(cli, "GET", path, NULL, &j);
        if (r < 0)
                return cli_exit_code(r);
        if (cli->json) {
                cli_print_json(j);
                return CLI_EXIT_OK;
        }
        _cleanup_(cli_table_freep) CliTable *t = cli_table_new(7);
        if (!t || cli_table_add(t, (const char *[]) { "NAME", "STATE", "SINCE", "ATTEMPT", "PHASE", "DRIFT", "RACK" }) < 0)
                return CLI_EXIT_ERROR;
        size_t i;
        json_t *n;
        json_array_foreach(json_object_get(j, "nodes"), i, n) {
                char tbuf[32], b1[32], b2[32], b3[32], b4[32], b5[32], b6[32];
                const json_t *attempt = json_object_get(n, "attempt");
                if (cli_table_add(t, (const char *[]) { cli_text(json_object_get(n, "name"), b1),
                                                        cli_text(json_object_get(n, "state"), b2),
                                                        cli_format_time(json_object_get(n, "state_since"), tbuf),
                                                        cli_text(json_object_get(attempt, "number"), b3),
                                                        cli_text(json_object_get(attempt, "phase"), b4),
                                                        cli_text(json_object_get(n, "drift"), b6),
                                                        cli_text(json_object_get(n, "rack"), b5) }) < 0)
                        return CLI_EXIT_ERROR;
        }
        cli_table_print(t, stdout);
        return CLI_EXIT_OK;
}

/* ---- provd node ------------------------------------------------------------------------------ */

int cli_node(Cli *cli, int argc, char **argv) {
        static const struct option options[] = { CLI_GLOBAL_OPTIONS, {} };
        int c;
        while ((c = cli_getopt(cli, argc, argv, options)) != -1) {
                if (c == 'h') {
                        printf("Usage: provd node NODE [--json]\n\n"
                               "Shows one node: provision state, install attempt, MACs, rack, BMC (host,\n"
                               "port, user; never a password), NixOS system, drift and what the node last\n"
                               "reported it runs, and its last %d state changes\n"
                               "(all of them: `provd history NODE`).  Exit status 3 if provd does not know NODE.\n"
                               "--json prints GET /v1/nodes/NODE as is.\n\n" CLI_GLOBAL_HELP,
                               HISTORY_SHOWN);
                        return CLI_EXIT_OK;
                }
                return CLI_EXIT_USAGE;
        }
        if (optind >= argc) {
                fprintf(stderr, "provd node: missing NODE\n");
                usage_hint(cli);
                return CLI_EXIT_USAGE;
        }
        if (optind + 1 < argc) {
                fprintf(stderr, "provd node: unexpected argument \"%s\" (one node; several: provd nodes --name GLOB)\n",
                        argv[optind + 1]);
                usage_hint(cli);
                return CLI_EXIT_USAGE;
        }
        const char *name = argv[optind];
        int r = cli_load_settings(cli);
        if (r != 0)
                return r;
        _cleanup_free_ char *esc = cli_escape(cli, name), *path = NULL;
        if (!esc || asprintf(&path, "/v1/nodes/%s", esc) < 0)
                return CLI_EXIT_ERROR;
        _cleanup_(json_decrefp) json_t *j = NULL;
        r = cli_call(cli, "GET", path, NULL, &j);
        if (r == -ENOENT)
                return CLI_EXIT_NOT_FOUND;
        if (r < 0)
                return cli_exit_code(r);
        if (cli->json) {
                cli_print_json(j);
                return CLI_EXIT_OK;
        }

        char tbuf[32], tbuf2[32], b1[32], b2[32], b3[32];
        _cleanup_(cli_table_freep) CliTable *t = cli_table_new(2);
        if (!t)
                return CLI_EXIT_ERROR;
        _cleanup_free_ char *state = NULL, *attempt = NULL, *macs = NULL, *bmc = NULL;
        if (asprintf(&state, "%s (since %s)", cli_text(json_object_get(j, "state"), b1),
                     cli_format_time(json_object_get(j, "state_since"), tbuf)) < 0)
                return CLI_EXIT_ERROR;
        const json_t *a = json_object_get(j, "attempt");
        if (json_is_object(a)) {
                const json_t *outcome = json_object_get(a, "outcome"), *msg = json_object_get(a, "message");
                if (asprintf(&attempt, "%s, phase %s, opened %s%s%s%s%s%s%s", cli_text(json_object_get(a, "number"), b1),
                             cli_text(json_object_get(a, "phase"), b2), cli_format_time(json_object_get(a, "opened_at"), tbuf),
                             json_is_string(outcome) ? ", " : "", json_is_string(outcome) ? json_string_value(outcome) : "",
                             json_is_string(outcome) ? " " : "",
                             json_is_string(outcome) ? cli_format_time(json_object_get(a, "ended_at"), tbuf2) : "",
                             json_is_string(msg) ? ": " : "", json_is_string(msg) ? json_string_value(msg) : "") < 0)
                        return CLI_EXIT_ERROR;
        }
        size_t i;
        json_t *v;
        json_array_foreach(json_object_get(j, "mac"), i, v) {
                char *m = NULL;
                if (asprintf(&m, "%s%s%s", macs ? macs : "", macs ? ", " : "", cli_text(v, b1)) < 0)
                        return CLI_EXIT_ERROR;
                free(macs);
                macs = m;
        }
        const json_t *b = json_object_get(j, "bmc");
        if (json_is_object(b) && asprintf(&bmc, "%s@%s:%s", cli_text(json_object_get(b, "user"), b1),
                                          cli_text(json_object_get(b, "host"), b2),
                                          cli_text(json_object_get(b, "port"), b3)) < 0)
                return CLI_EXIT_ERROR;
        const json_t *sys = json_object_get(j, "system"), *rep = json_object_get(j, "report");
        _cleanup_free_ char *drift = NULL, *running = NULL;
        if (asprintf(&drift, "%s%s", cli_text(json_object_get(j, "drift"), b3),
                     json_is_true(json_object_get(j, "credential")) ? "" : " (no node credential)") < 0)
                return CLI_EXIT_ERROR;
        if (json_is_object(rep) &&
            asprintf(&running, "%s (booted %s, kernel %s, reported %s)", json_str(rep, "running") ? json_str(rep, "running") : "-",
                     json_str(rep, "booted") ? json_str(rep, "booted") : "-", json_str(rep, "kernel") ? json_str(rep, "kernel") : "-",
                     cli_format_time(json_object_get(rep, "reported_at"), tbuf2)) < 0)
                return CLI_EXIT_ERROR;
        const char *rows[][2] = {
                { "name:", cli_text(json_object_get(j, "name"), b1) },
                { "state:", state },
                { "attempt:", attempt ? attempt : "-" },
                { "mac:", macs ? macs : "-" },
                { "rack:", cli_text(json_object_get(j, "rack"), b2) },
                { "bmc:", bmc ? bmc : "none" },
                { "toplevel:", json_str(sys, "toplevel") ? json_str(sys, "toplevel") : "-" },
                { "install:", json_str(sys, "install") ? json_str(sys, "install") : "-" },
                { "drift:", drift },
                { "running:", running ? running : "never reported" },
        };
        for (size_t k = 0; k < ELEMENTSOF(rows); k++)
                if (cli_table_add(t, rows[k]) < 0)
                        return CLI_EXIT_ERROR;
        cli_table_print(t, stdout);

        const json_t *history = json_object_get(j, "history");
        size_t n = json_array_size(history);
        if (n == 0) {
                printf("\nNo history.\n");
                return CLI_EXIT_OK;
        }
        if (n > HISTORY_SHOWN)
                printf("\nHistory (newest first; the last %d of %zu: provd history %s):\n", HISTORY_SHOWN, n, name);
        else
                printf("\nHistory (newest first):\n");
        _cleanup_(cli_table_freep) CliTable *h = cli_history_table_new();
        if (!h)
                return CLI_EXIT_ERROR;
        for (size_t k = n; k > 0 && k + HISTORY_SHOWN > n; k--)
                if (cli_history_table_add(h, json_array_get(history, k - 1)) < 0)
                        return CLI_EXIT_ERROR;
        cli_table_print(h, stdout);
        return CLI_EXIT_OK;
}

/* ---- reinstall --wait: the watch loop ------------------------------------------------------ */

typedef struct Watch {
        Cli *cli;
        CliRoll roll;
        json_t *ops;     /* name -> the newest Operation seen (owned) */
        json_t *errors;  /* submissions that were refused: [{"node", "status", "error"}] */
        const char *poll_query; /* for GET /v1/nodes: "" or "?name=GLOB" */
        bool fatal;      /* 401/403/no answer on a submission: stop */

        /* the event stream */
        CURLM *multi;
        CURL *stream;         /* owned; in multi while stream_active */
        struct curl_slist *stream_headers;
        char stream_err[CURL_ERROR_SIZE];
        CliSse sse;
        long stream_status;
        bool stream_active;     /* a transfer is in the multi handle */
        bool stream_connected;  /* ... and it got a 200 */
        bool stream_disabled;   /* the daemon refused it (4xx): poll only */
        int64_t stream_retry_at;
        long stream_backoff_ms;
        json_t *queued;         /* events parsed by the SSE callback, handled after curl returns */

        /* --before / --after: one slot per node (only nodes in flight run one) */
        const char *before_cmd, *after_cmd; /* borrowed from argv, NULL when not given */
        int64_t hook_timeout_ms;
        struct Hook *hooks;          /* owned, roll.n of them */
        struct curl_waitfd *waitfds; /* owned, roll.n of them: the hooks' pipes, for curl_multi_poll() */

        int64_t last_nodes_poll, last_summary, last_ops_poll, last_gate_poll;
        bool changed; /* something finished since the last summary */
} Watch;

/* A running --before or --after of one node. */
typedef struct Hook {
        pid_t pid;        /* > 0 while it runs (its process group too) */
        int fd;           /* the read end of its stdout+stderr pipe, -1 when closed */
        bool after;       /* --after, else --before */
        int64_t deadline; /* now_monotonic_ms(): SIGTERM to its process group then */
        int64_t kill_at;  /* after that SIGTERM: SIGKILL then; 0 before */
        char line[512];   /* the output line read so far */
        size_t len;
} Hook;

static void progress(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void progress(const char *name, const char *fmt, ...) {
        char cbuf[16];
        va_list ap;
        fprintf(stderr, "%s  %s  ", clock_now(cbuf), name);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
}

static void print_summary(Watch *w) {
        char cbuf[16];
        const CliRoll *r = &w->roll;
        fprintf(stderr, "%s  %zu/%zu %s, %zu failed, ", clock_now(cbuf), r->installed, r->n, r->gate ? "in_sync" : "installed",
                r->failed);
        if (r->skipped > 0)
                fprintf(stderr, "%zu skipped, ", r->skipped);
        if (r->timed_out > 0)
                fprintf(stderr, "%zu timed out, ", r->timed_out);
        fprintf(stderr, "%zu in progress, %zu %s\n", r->in_flight, r->n - r->next, r->stopped ? "not started (roll stopped)" : "waiting");
        w->last_summary = now_monotonic_ms();
        w->changed = false;
}

/* Node i finished as failed: say so (why from the roll). */
static void report_failed(Watch *w, size_t i) {
        progress(w->roll.nodes[i].name, "failed: %s", w->roll.nodes[i].why);
        w->changed = true;
}

/* Fills in why a node failed its install from its newest history entry into failed. */
static void explain_failure(Watch *w, size_t i) {
        _cleanup_free_ char *esc = cli_escape(w->cli, w->roll.nodes[i].name), *path = NULL;
        if (!esc || asprintf(&path, "/v1/nodes/%s/history?limit=5", esc) < 0)
                return;
        _cleanup_(json_decrefp) json_t *j = NULL;
        if (cli_call(w->cli, "GET", path, NULL, &j) < 0)
                return;
        size_t k;
        json_t *e;
        json_array_foreach(json_object_get(j, "history"), k, e) {
                const char *to = json_str(e, "to"), *msg = json_str(e, "message");
                if (to && streq(to, "failed")) {
                        _cleanup_free_ char *why = NULL;
                        if (asprintf(&why, "install failed: %s", msg ? msg : json_str(e, "cause") ? json_str(e, "cause") : "?") >= 0)
                                cli_roll_set_why(&w->roll, i, why);
                        return;
                }
        }
}

/* ---- --before / --after ---------------------------------------------------------------------- */

extern char **environ;

static void request_reinstall(Watch *w, size_t i);

static const char *hook_name(const Hook *h) {
        return h->after ? "--after" : "--before";
}

/* Prints the output line of node i's hook read so far on stderr, prefixed like progress(). */
static void hook_print_line(Watch *w, size_t i) {
        Hook *h = &w->hooks[i];
        char cbuf[16];
        h->line[h->len] = '\0';
        fprintf(stderr, "%s  %s  %s: ", clock_now(cbuf), w->roll.nodes[i].name, hook_name(h));
        cli_fputs_oneline(h->line, stderr);
        fputc('\n', stderr);
        h->len = 0;
}

/* Reads what node i's hook wrote (without blocking; at most 64 KiB a call, so a chatty hook
 * does not hold up the loop) and prints its complete lines; closes the pipe at its end. */
static void hook_read(Watch *w, size_t i) {
        Hook *h = &w->hooks[i];
        char buf[4096];
        for (int rounds = 0; h->fd >= 0 && rounds < 16; rounds++) {
                ssize_t n = read(h->fd, buf, sizeof buf);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        if (n == 0 || errno != EAGAIN) {
                                close(h->fd);
                                h->fd = -1;
                        }
                        return;
                }
                for (ssize_t k = 0; k < n; k++) {
                        if (buf[k] == '\n') {
                                hook_print_line(w, i);
                                continue;
                        }
                        h->line[h->len++] = buf[k];
                        if (h->len == sizeof h->line - 1) /* a very long line: printed in pieces */
                                hook_print_line(w, i);
                }
        }
}

/* Node i's hook (after: --after, else --before) ended, ok or not (why).  --before: the
 * reinstall is requested, or the node is skipped; --after: the node is finished. */
static void hook_ended(Watch *w, size_t i, bool after, bool ok, const char *why) {
        const char *name = w->roll.nodes[i].name;
        w->changed = true;
        if (!after) {
                if (cli_roll_before_done(&w->roll, i, ok, why) < 0)
                        return;
                if (ok)
                        request_reinstall(w, i);
                else
                        progress(name, "skipped, not reinstalled: %s", w->roll.nodes[i].why);
                return;
        }
        if (cli_roll_after_done(&w->roll, i, ok, why) < 0)
                return;
        if (ok)
                progress(name, "--after succeeded");
        else
                progress(name, "%s", w->roll.nodes[i].after_why);
}

/* Starts node i's --before (after false) or --after: /bin/sh -c CMD in a process group of its
 * own, stdin /dev/null, stdout and stderr into one pipe, no other descriptor of ours, the
 * environment plus PROVD_NODE, PROVD_URL and PROVD_HOOK.  Returns 0, or a negative errno
 * (nothing runs then). */
static int hook_start(Watch *w, size_t i, bool after) {
        Hook *h = &w->hooks[i];
        const char *cmd = after ? w->after_cmd : w->before_cmd;
        size_t n_env = 0;
        while (environ[n_env])
                n_env++;
        _cleanup_free_ char **env = calloc(n_env + 4, sizeof *env);
        _cleanup_free_ char *e_node = NULL, *e_url = NULL, *e_hook = NULL;
        if (!env || asprintf(&e_node, "PROVD_NODE=%s", w->roll.nodes[i].name) < 0) {
                e_node = NULL;
                return -ENOMEM;
        }
        if (asprintf(&e_url, "PROVD_URL=%s", w->cli->url) < 0) {
                e_url = NULL;
                return -ENOMEM;
        }
        if (asprintf(&e_hook, "PROVD_HOOK=%s", after ? "after" : "before") < 0) {
                e_hook = NULL;
                return -ENOMEM;
        }
        size_t k = 0;
        for (size_t j = 0; j < n_env; j++)
                if (strncmp(environ[j], "PROVD_NODE=", 11) != 0 && strncmp(environ[j], "PROVD_URL=", 10) != 0 &&
                    strncmp(environ[j], "PROVD_HOOK=", 11) != 0)
                        env[k++] = environ[j];
        env[k++] = e_node;
        env[k++] = e_url;
        env[k++] = e_hook;
        env[k] = NULL;

        int fds[2];
        if (pipe2(fds, O_CLOEXEC) < 0)
                return -errno;
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        int r = posix_spawn_file_actions_init(&fa);
        if (r != 0) {
                close(fds[0]);
                close(fds[1]);
                return -r;
        }
        r = posix_spawnattr_init(&attr);
        if (r != 0) {
                posix_spawn_file_actions_destroy(&fa);
                close(fds[0]);
                close(fds[1]);
                return -r;
        }
        sigset_t dflt, none;
        sigemptyset(&none);
        sigemptyset(&dflt);
        sigaddset(&dflt, SIGINT);
        sigaddset(&dflt, SIGTERM);
        sigaddset(&dflt, SIGPIPE);
        r = posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
        if (r == 0)
                r = posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
        if (r == 0)
                r = posix_spawn_file_actions_adddup2(&fa, fds[1], STDERR_FILENO);
        if (r == 0)
                r = posix_spawn_file_actions_addclosefrom_np(&fa, 3);
        if (r == 0)
                r = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
        if (r == 0)
                r = posix_spawnattr_setpgroup(&attr, 0);
        if (r == 0)
                r = posix_spawnattr_setsigdefault(&attr, &dflt);
        if (r == 0)
                r = posix_spawnattr_setsigmask(&attr, &none);
        pid_t pid = 0;
        if (r == 0) {
                fflush(stdout);
                fflush(stderr);
                r = posix_spawn(&pid, "/bin/sh", &fa, &attr, (char *const[]) { (char *) "sh", (char *) "-c", (char *) cmd, NULL },
                                env);
        }
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&attr);
        close(fds[1]);
        if (r != 0) {
                close(fds[0]);
                return -r;
        }
        int fl = fcntl(fds[0], F_GETFL);
        if (fl >= 0)
                fcntl(fds[0], F_SETFL, fl | O_NONBLOCK);
        *h = (Hook) { .pid = pid, .fd = fds[0], .after = after, .deadline = now_monotonic_ms() + w->hook_timeout_ms };
        return 0;
}

/* Starts node i's hook, or ends it at once as failed when it cannot run. */
static void hook_run(Watch *w, size_t i, bool after) {
        int r = hook_start(w, i, after);
        if (r >= 0)
                return;
        _cleanup_free_ char *why = NULL;
        if (asprintf(&why, "%s could not be run: %s", after ? "--after" : "--before", strerror(-r)) < 0)
                why = NULL;
        hook_ended(w, i, after, false, why);
}

/* Node i's hook exited with status (waitpid()'s): prints the rest of its output, ends it. */
static void hook_exited(Watch *w, size_t i, int status) {
        Hook *h = &w->hooks[i];
        hook_read(w, i);
        if (h->len > 0)
                hook_print_line(w, i);
        if (h->fd >= 0) { /* something it started still holds the pipe: not waited for */
                close(h->fd);
                h->fd = -1;
        }
        char dbuf[32];
        _cleanup_free_ char *why = NULL;
        bool ok = false;
        int k = 0;
        if (h->kill_at > 0)
                k = asprintf(&why, "%s timed out after %s (killed)", hook_name(h), format_duration(w->hook_timeout_ms, dbuf));
        else if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                ok = true;
        else if (WIFEXITED(status))
                k = asprintf(&why, "%s exited %d", hook_name(h), WEXITSTATUS(status));
        else
                k = asprintf(&why, "%s killed by signal %d (%s)", hook_name(h), WTERMSIG(status), strsignal(WTERMSIG(status)));
        if (k < 0)
                why = NULL;
        bool after = h->after;
        h->pid = 0;
        h->kill_at = 0;
        hook_ended(w, i, after, ok, why);
}

/* Reads the running hooks' output, reaps those that exited, and terminates those past
 * --hook-timeout (SIGTERM to the process group, SIGKILL HOOK_KILL_GRACE_MS later). */
static void hooks_pump(Watch *w) {
        char dbuf[32];
        for (size_t i = 0; i < w->roll.n; i++) {
                Hook *h = &w->hooks[i];
                if (h->pid <= 0)
                        continue;
                hook_read(w, i);
                int status = 0;
                pid_t p = waitpid(h->pid, &status, WNOHANG);
                if (p == h->pid || (p < 0 && errno == ECHILD)) {
                        hook_exited(w, i, p == h->pid ? status : W_EXITCODE(127, 0));
                        continue;
                }
                int64_t now = now_monotonic_ms();
                if (h->kill_at == 0 && now >= h->deadline) {
                        progress(w->roll.nodes[i].name, "%s still runs after %s (--hook-timeout): terminating it", hook_name(h),
                                 format_duration(w->hook_timeout_ms, dbuf));
                        kill(-h->pid, SIGTERM);
                        h->kill_at = now + HOOK_KILL_GRACE_MS;
                } else if (h->kill_at > 0 && now >= h->kill_at) {
                        kill(-h->pid, SIGKILL);
                        h->kill_at = INT64_MAX;
                }
        }
}

/* The roll ends with hooks still running (interrupted, --timeout, a refused submission):
 * SIGTERM to their process groups, SIGKILL HOOK_KILL_GRACE_MS later, all reaped.  Their nodes
 * stay unfinished. */
static void hooks_stop(Watch *w) {
        bool any = false;
        for (size_t i = 0; i < w->roll.n; i++)
                if (w->hooks[i].pid > 0) {
                        progress(w->roll.nodes[i].name, "%s: terminating it (the roll ends)", hook_name(&w->hooks[i]));
                        kill(-w->hooks[i].pid, SIGTERM);
                        any = true;
                }
        int64_t until = now_monotonic_ms() + HOOK_KILL_GRACE_MS;
        while (any) {
                any = false;
                bool late = now_monotonic_ms() >= until;
                for (size_t i = 0; i < w->roll.n; i++) {
                        Hook *h = &w->hooks[i];
                        if (h->pid <= 0)
                                continue;
                        hook_read(w, i);
                        if (late)
                                kill(-h->pid, SIGKILL);
                        pid_t p = waitpid(h->pid, NULL, late ? 0 : WNOHANG);
                        if (p == h->pid || (p < 0 && errno != EINTR)) {
                                if (h->len > 0)
                                        hook_print_line(w, i);
                                if (h->fd >= 0)
                                        close(h->fd);
                                *h = (Hook) { .fd = -1 };
                        } else
                                any = true;
                }
                if (any)
                        sleep_ms(50);
        }
}

/* Node i is in CLI_ROLL_STEP_AFTER: runs its --after. */
static void start_after(Watch *w, size_t i) {
        if (w->roll.nodes[i].state == CLI_ROLL_IN_FLIGHT && w->roll.nodes[i].step == CLI_ROLL_STEP_AFTER)
                hook_run(w, i, true);
}

/* Node i was seen installed: finished, at its gate, or on to --after. */
static void node_installed(Watch *w, size_t i) {
        const CliRollNode *node = &w->roll.nodes[i];
        char dbuf[32];
        w->changed = true;
        if (node->state == CLI_ROLL_IN_FLIGHT && node->step == CLI_ROLL_STEP_GATE) {
                progress(node->name, "installed; waiting for it to report running its system (--gate-timeout %s from its request)",
                         format_duration(w->roll.gate_timeout_ms, dbuf));
                return;
        }
        progress(node->name, "installed");
        start_after(w, i);
}

/* A provision state of node i seen (event_id 0: from a fresh read; message: the event's). */
static void observe(Watch *w, size_t i, const char *state, int64_t event_id, const char *message) {
        switch (cli_roll_observe(&w->roll, i, state, event_id)) {
        case CLI_ROLL_SEEN_CHANGED:
                progress(w->roll.nodes[i].name, "%s", state);
                break;
        case CLI_ROLL_SEEN_INSTALLED:
                node_installed(w, i);
                break;
        case CLI_ROLL_SEEN_FAILED: {
                _cleanup_free_ char *why = NULL;
                if (message && asprintf(&why, "install failed: %s", message) >= 0)
                        cli_roll_set_why(&w->roll, i, why);
                else
                        explain_failure(w, i);
                report_failed(w, i);
                break;
        }
        default:
                break;
        }
}

/* CliSseHandler: queue transition events (no HTTP inside curl's callbacks). */
static void on_event(void *userdata, const char *type, const char *data) {
        Watch *w = userdata;
        if (*type && !streq(type, "transition"))
                return;
        json_t *e = json_loads(data, 0, NULL);
        if (json_is_object(e))
                json_array_append_new(w->queued, e);
        else
                json_decref(e);
}

static size_t on_stream_body(char *ptr, size_t size, size_t nmemb, void *user) {
        Watch *w = user;
        size_t n = size * nmemb;
        if (w->stream_status == 0)
                curl_easy_getinfo(w->stream, CURLINFO_RESPONSE_CODE, &w->stream_status);
        if (w->stream_status != 200)
                return n; /* an error body: read and ignore; the status decides */
        return cli_sse_feed(&w->sse, ptr, n) < 0 ? 0 : n;
}

static size_t on_stream_header(char *ptr, size_t size, size_t nmemb, void *user) {
        Watch *w = user;
        size_t n = size * nmemb;
        if (n <= 2 && (n == 0 || ptr[0] == '\r' || ptr[0] == '\n')) { /* end of the headers */
                curl_easy_getinfo(w->stream, CURLINFO_RESPONSE_CODE, &w->stream_status);
                if (w->stream_status == 200 && !w->stream_connected) {
                        w->stream_connected = true;
                        w->stream_backoff_ms = 1000;
                }
        }
        return n;
}

static void stream_start(Watch *w) {
        if (w->stream_disabled || w->stream_active || now_monotonic_ms() < w->stream_retry_at)
                return;
        char path[64], hdr[64];
        snprintf(path, sizeof path, "/v1/events/stream?since=%" PRId64, w->sse.last_id);
        curl_slist_free_all(w->stream_headers);
        w->stream_headers = curl_slist_append(NULL, "Accept: text/event-stream");
        snprintf(hdr, sizeof hdr, "Last-Event-ID: %" PRId64, w->sse.last_id);
        if (w->stream_headers)
                w->stream_headers = curl_slist_append(w->stream_headers, hdr);
        if (!w->stream_headers || !cli_curl_setup_handle(w->cli, w->stream, "GET", path, &w->stream_headers, w->stream_err)) {
                w->stream_disabled = true;
                return;
        }
        curl_easy_setopt(w->stream, CURLOPT_HTTPHEADER, w->stream_headers);
        curl_easy_setopt(w->stream, CURLOPT_WRITEFUNCTION, on_stream_body);
        curl_easy_setopt(w->stream, CURLOPT_WRITEDATA, w);
        curl_easy_setopt(w->stream, CURLOPT_HEADERFUNCTION, on_stream_header);
        curl_easy_setopt(w->stream, CURLOPT_HEADERDATA, w);
        curl_easy_setopt(w->stream, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(w->stream, CURLOPT_LOW_SPEED_TIME, STREAM_SILENCE_S);
        w->stream_status = 0;
        w->stream_err[0] = '\0';
        cli_sse_reset(&w->sse);
        if (curl_multi_add_handle(w->multi, w->stream) != CURLM_OK) {
                w->stream_disabled = true;
                return;
        }
        w->stream_active = true;
}

/* Drives the stream transfer; handles its end.  Then handles the queued events. */
static void stream_pump(Watch *w) {
        if (!w->stream_active)
                return;
        int running = 0;
        curl_multi_perform(w->multi, &running);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(w->multi, &left))) {
                if (m->msg != CURLMSG_DONE || m->easy_handle != w->stream)
                        continue;
                CURLcode cc = m->data.result;
                curl_multi_remove_handle(w->multi, w->stream);
                w->stream_active = false;
                bool was_connected = w->stream_connected;
                w->stream_connected = false;
                if (w->stream_status >= 400 && w->stream_status < 500) {
                        fprintf(stderr, "provd: the event stream answered HTTP %ld; polling GET /v1/nodes every %d s instead\n",
                                w->stream_status, POLL_NODES_MS / 1000);
                        w->stream_disabled = true;
                } else {
                        if (was_connected)
                                fprintf(stderr, "provd: the event stream ended%s%s; reconnecting (polling meanwhile)\n",
                                        cc != CURLE_OK ? ": " : "",
                                        cc != CURLE_OK ? (*w->stream_err ? w->stream_err : curl_easy_strerror(cc)) : "");
                        w->stream_retry_at = now_monotonic_ms() + w->stream_backoff_ms;
                        w->stream_backoff_ms = w->stream_backoff_ms * 2 > STREAM_RETRY_MAX_MS ? STREAM_RETRY_MAX_MS
                                                                                                : w->stream_backoff_ms * 2;
                }
        }
        size_t k;
        json_t *e;
        json_array_foreach(w->queued, k, e) {
                const char *node = json_str(e, "node"), *to = json_str(e, "to"), *cause = json_str(e, "cause"),
                           *msg = json_str(e, "message");
                ssize_t i = node && to ? cli_roll_find(&w->roll, node) : -1;
                if (i < 0)
                        continue;
                const CliRollNode *n = &w->roll.nodes[i];
                int64_t id = json_integer_value(json_object_get(e, "id"));
                /* the reinstall's BMC steps ("boot device set to pxe", "power cycled"): state unchanged */
                if (cause && streq(cause, "bmc") && msg && n->state == CLI_ROLL_IN_FLIGHT && n->armed && id > n->armed_event)
                        progress(n->name, "%s", msg);
                observe(w, (size_t) i, to, id, msg);
        }
        json_array_clear(w->queued);
}

/* Node i's mark step is done: read its state and newest event id, arm it. */
static void arm(Watch *w, size_t i) {
        const char *name = w->roll.nodes[i].name;
        _cleanup_free_ char *esc = cli_escape(w->cli, name), *path = NULL;
        if (!esc || asprintf(&path, "/v1/nodes/%s/history?limit=1", esc) < 0)
                return;
        _cleanup_(json_decrefp) json_t *j = NULL;
        if (cli_call(w->cli, "GET", path, NULL, &j) < 0)
                return; /* tried again on the next round */
        const json_t *newest = json_array_get(json_object_get(j, "history"), 0);
        const char *state = json_str(newest, "to");
        _cleanup_(json_decrefp) json_t *node = NULL;
        if (!state) { /* no history at all: the node's state is its first */
                free(path);
                if (asprintf(&path, "/v1/nodes/%s", esc) < 0 || cli_call(w->cli, "GET", path, NULL, &node) < 0) {
                        path = NULL;
                        return;
                }
                state = json_str(node, "state");
        }
        cli_roll_arm(&w->roll, i, json_integer_value(json_object_get(newest, "id")));
        observe(w, i, state ? state : "pending", 0, NULL);
}

/* Follows the unfinished reinstall operations: arms nodes whose mark step is done, fails
 * nodes whose operation failed. */
static void poll_operations(Watch *w) {
        int64_t now = now_monotonic_ms();
        if (now - w->last_ops_poll < POLL_OPS_MS)
                return;
        w->last_ops_poll = now;
        for (size_t i = 0; i < w->roll.n && !cli_interrupted; i++) {
                CliRollNode *node = &w->roll.nodes[i];
                if (node->state != CLI_ROLL_IN_FLIGHT || node->op_id == 0 || node->op_finished)
                        continue;
                _cleanup_(json_decrefp) json_t *op = NULL;
                int r = get_operation(w->cli, node->op_id, &op);
                if (r == -ENOENT) {
                        node->op_finished = true;
                        _cleanup_free_ char *why = NULL;
                        if (asprintf(&why, "operation %" PRId64 " is gone (provd restarted?)", node->op_id) >= 0 &&
                            cli_roll_finish(&w->roll, i, false, why) == 0)
                                report_failed(w, i);
                        continue;
                }
                if (r < 0)
                        continue;
                json_object_set(w->ops, node->name, op);
                node->op_finished = op_finished(op);
                if (op_failed(op) && node->step == CLI_ROLL_STEP_INSTALL) {
                        _cleanup_free_ char *why = NULL;
                        if (asprintf(&why, "reinstall operation %" PRId64 " failed: %s", node->op_id, op_error(op)) >= 0 &&
                            cli_roll_finish(&w->roll, i, false, why) == 0)
                                report_failed(w, i);
                        continue;
                }
                if (!node->armed && op_marked(op))
                        arm(w, i);
        }
}

/* GET /v1/nodes: states of armed nodes (fresh reads). */
static void poll_nodes(Watch *w) {
        int64_t now = now_monotonic_ms();
        if (now - w->last_nodes_poll < (w->stream_connected ? POLL_NODES_SAFETY_MS : POLL_NODES_MS))
                return;
        w->last_nodes_poll = now;
        _cleanup_(json_decrefp) json_t *nodes = NULL;
        if (get_nodes(w->cli, w->poll_query, &nodes) < 0)
                return;
        size_t k;
        json_t *n;
        json_array_foreach(nodes, k, n) {
                const char *name = json_str(n, "name"), *state = json_str(n, "state");
                ssize_t i = name && state ? cli_roll_find(&w->roll, name) : -1;
                if (i >= 0)
                        observe(w, (size_t) i, state, 0, NULL);
        }
}

/* Requests node i's reinstall (it is in CLI_ROLL_STEP_INSTALL); its gate timeout counts from now. */
static void request_reinstall(Watch *w, size_t i) {
        CliRollNode *node = &w->roll.nodes[i];
        Submit s = { 0 };
        cli_roll_requested(&w->roll, i, now_monotonic_ms());
        if (submit(w->cli, node->name, "reinstall", NULL, &s) < 0) {
                cli_roll_finish(&w->roll, i, false, "out of memory");
                w->fatal = true;
                return;
        }
        if (s.op) {
                node->op_id = json_integer_value(json_object_get(s.op, "id"));
                json_object_set(w->ops, node->name, s.op);
                node->op_finished = op_finished(s.op);
                progress(node->name, "submitted (operation %" PRId64 ")", node->op_id);
                if (op_failed(s.op)) {
                        _cleanup_free_ char *why = NULL;
                        if (asprintf(&why, "reinstall operation %" PRId64 " failed: %s", node->op_id, op_error(s.op)) >= 0)
                                cli_roll_finish(&w->roll, i, false, why);
                        report_failed(w, i);
                } else if (op_marked(s.op))
                        arm(w, i);
        } else {
                _cleanup_free_ char *why = NULL;
                if (asprintf(&why, "not submitted: %s", s.message) >= 0)
                        cli_roll_finish(&w->roll, i, false, why);
                json_array_append(w->errors, s.err);
                report_failed(w, i);
                w->fatal = s.fatal;
        }
        submit_free(&s);
}

/* Starts nodes while the scheduler lets it: their --before, or their reinstall. */
static void start_next(Watch *w) {
        ssize_t i;
        while (!w->fatal && !cli_interrupted && (i = cli_roll_next(&w->roll)) >= 0) {
                if (!w->roll.before) {
                        request_reinstall(w, (size_t) i);
                        continue;
                }
                progress(w->roll.nodes[i].name, "running --before");
                hook_run(w, (size_t) i, false);
        }
}

/* With the gate: every POLL_GATE_MS while nodes wait at it, GET /v1/nodes for their drift, and
 * for those that say in_sync GET /v1/nodes/{name} for the report's time; nodes through go on
 * to --after. */
static void poll_gates(Watch *w) {
        if (!w->roll.gate)
                return;
        bool waiting = false;
        for (size_t i = 0; i < w->roll.n && !waiting; i++)
                waiting = w->roll.nodes[i].state == CLI_ROLL_IN_FLIGHT && w->roll.nodes[i].step == CLI_ROLL_STEP_GATE;
        int64_t now = now_monotonic_ms();
        if (!waiting || now - w->last_gate_poll < POLL_GATE_MS)
                return;
        w->last_gate_poll = now;
        _cleanup_(json_decrefp) json_t *nodes = NULL;
        if (get_nodes(w->cli, w->poll_query, &nodes) < 0)
                return;
        size_t k;
        json_t *n;
        json_array_foreach(nodes, k, n) {
                const char *name = json_str(n, "name"), *state = json_str(n, "state"), *drift = json_str(n, "drift");
                ssize_t i = name ? cli_roll_find(&w->roll, name) : -1;
                if (i < 0 || w->roll.nodes[i].state != CLI_ROLL_IN_FLIGHT || w->roll.nodes[i].step != CLI_ROLL_STEP_GATE)
                        continue;
                CliRollGate g;
                if (state && streq(state, "installed") && drift && streq(drift, "in_sync")) {
                        /* in_sync: but since the install, or from the old installation? */
                        _cleanup_free_ char *esc = cli_escape(w->cli, name), *path = NULL;
                        _cleanup_(json_decrefp) json_t *node = NULL;
                        if (!esc || asprintf(&path, "/v1/nodes/%s", esc) < 0) {
                                path = NULL;
                                continue;
                        }
                        if (cli_call(w->cli, "GET", path, NULL, &node) < 0)
                                continue;
                        g = cli_roll_gate(&w->roll, (size_t) i, json_str(node, "state"), json_str(node, "drift"),
                                          json_str(node, "state_since"), json_str(json_object_get(node, "report"), "reported_at"));
                } else
                        g = cli_roll_gate(&w->roll, (size_t) i, state, drift, NULL, NULL);
                if (g != CLI_ROLL_GATE_PASSED)
                        continue;
                w->changed = true;
                progress(name, "in_sync: reports running its system since it was installed");
                start_after(w, (size_t) i);
        }
}

/* With the gate: nodes past --gate-timeout finish as timed out and stop the roll. */
static void expire_gates(Watch *w) {
        ssize_t i;
        char dbuf[32];
        while ((i = cli_roll_expire(&w->roll, now_monotonic_ms())) >= 0) {
                const CliRollNode *node = &w->roll.nodes[i];
                w->changed = true;
                progress(node->name, "timeout: not back within --gate-timeout %s (%s)", format_duration(w->roll.gate_timeout_ms, dbuf),
                         node->why);
                if (w->roll.stopped_by == i && w->roll.next < w->roll.n)
                        fprintf(stderr, "provd: the roll stops: %s did not come back in time; %zu node%s not started; waiting for the %zu in flight\n",
                                node->name, w->roll.n - w->roll.next, w->roll.n - w->roll.next == 1 ? "" : "s", w->roll.in_flight);
        }
}

/* The message of node i's result: why it failed, was skipped, timed out, did not finish or was
 * not started; its --after's failure; "" for a plain pass. */
static const char *result_message(const Watch *w, size_t i, const char *unfinished_why, char *buf, size_t size) {
        const CliRollNode *node = &w->roll.nodes[i];
        switch (node->state) {
        case CLI_ROLL_INSTALLED:
                return node->after_why ? node->after_why : "";
        case CLI_ROLL_FAILED:
        case CLI_ROLL_SKIPPED:
        case CLI_ROLL_TIMEOUT:
                return node->why ? node->why : "";
        case CLI_ROLL_WAITING:
                if (w->roll.stopped && w->roll.stopped_by >= 0) {
                        snprintf(buf, size, "roll stopped: %s did not come back within --gate-timeout",
                                 w->roll.nodes[w->roll.stopped_by].name);
                        return buf;
                }
                return unfinished_why ? unfinished_why : "";
        default:
                return unfinished_why ? unfinished_why : "";
        }
}

/* Prints the results (stdout): a table NODE RESULT MESSAGE, or with --json {"operations",
 * "nodes" (final NodeSummary of the selected nodes), "results", "errors", "gate",
 * "stopped_by"}. */
static int print_results(Watch *w, const char *unfinished_why) {
        char mbuf[256];
        if (w->cli->json) {
                _cleanup_(json_decrefp) json_t *ops = json_array(), *results = json_array(), *final = json_array();
                _cleanup_(json_decrefp) json_t *all = NULL;
                if (!ops || !results || !final)
                        return -ENOMEM;
                get_nodes(w->cli, w->poll_query, &all); /* on failure: "nodes" stays empty */
                for (size_t i = 0; i < w->roll.n; i++) {
                        const CliRollNode *node = &w->roll.nodes[i];
                        json_t *op = json_object_get(w->ops, node->name);
                        if (op)
                                json_array_append(ops, op);
                        size_t k;
                        json_t *n;
                        json_array_foreach(all, k, n)
                                if (json_str(n, "name") && streq(json_str(n, "name"), node->name))
                                        json_array_append(final, n);
                        const char *why = result_message(w, i, unfinished_why, mbuf, sizeof mbuf);
                        json_array_append_new(results, json_pack("{s:s, s:s, s:s?}", "node", node->name, "result",
                                                                 cli_roll_result(&w->roll, i), "message", *why ? why : NULL));
                }
                _cleanup_(json_decrefp) json_t *o = json_pack(
                        "{s:O, s:O, s:O, s:O, s:b, s:s?}", "operations", ops, "nodes", final, "results", results, "errors",
                        w->errors, "gate", w->roll.gate, "stopped_by",
                        w->roll.stopped_by >= 0 ? w->roll.nodes[w->roll.stopped_by].name : NULL);
                if (!o)
                        return -ENOMEM;
                cli_print_json(o);
                return 0;
        }
        _cleanup_(cli_table_freep) CliTable *t = cli_table_new(3);
        if (!t || cli_table_add(t, (const char *[]) { "NODE", "RESULT", "MESSAGE" }) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < w->roll.n; i++) {
                const char *why = result_message(w, i, unfinished_why, mbuf, sizeof mbuf);
                if (cli_table_add(t, (const char *[]) { w->roll.nodes[i].name, cli_roll_result(&w->roll, i), why }) < 0)
                        return -ENOMEM;
        }
        cli_table_print(t, stdout);
        return 0;
}

/* What `reinstall --wait` was asked for. */
typedef struct RollOptions {
        size_t parallel;         /* 0 = no limit */
        int64_t timeout_ms;      /* --timeout, 0 = none */
        const char *poll_query;  /* for GET /v1/nodes: "" or "?name=GLOB" */
        bool poll;               /* --poll: never the event stream */
        int gate;                /* -1: when the daemon reports drift, 0: --no-gate, 1: --gate-timeout given */
        int64_t gate_timeout_ms;
        const char *before, *after; /* --before / --after, or NULL */
        int64_t hook_timeout_ms;
} RollOptions;

/* reinstall --wait: the loop.  Returns the exit code. */
static int reinstall_wait(Cli *cli, const Names *names, const RollOptions *o) {
        Watch w = { .cli = cli, .poll_query = o->poll_query, .stream_backoff_ms = 1000, .stream_disabled = o->poll,
                    .before_cmd = o->before, .after_cmd = o->after, .hook_timeout_ms = o->hook_timeout_ms };
        _cleanup_(json_decrefp) json_t *summary = NULL;
        int ret = CLI_EXIT_ERROR;
        const char *unfinished_why = NULL;
        char dbuf[32];

        w.sse = (CliSse) { .on_event = on_event, .userdata = &w };
        if (cli_roll_init(&w.roll, (const char *const *) names->v, names->n, o->parallel) < 0)
                return CLI_EXIT_ERROR;
        w.ops = json_object();
        w.errors = json_array();
        w.queued = json_array();
        w.multi = curl_multi_init();
        w.stream = curl_easy_init();
        w.hooks = calloc(names->n ? names->n : 1, sizeof *w.hooks);
        w.waitfds = calloc(names->n ? names->n : 1, sizeof *w.waitfds);
        if (!w.ops || !w.errors || !w.queued || !w.multi || !w.stream || !w.hooks || !w.waitfds) {
                fprintf(stderr, "provd: out of memory\n");
                goto finish;
        }
        for (size_t i = 0; i < names->n; i++)
                w.hooks[i].fd = -1;

        /* The stream starts after the newest event now: nothing later is missed.  The summary's
         * "drift" says whether this provd knows node reports, which the gate needs. */
        if (cli_call(cli, "GET", "/v1/summary", NULL, &summary) < 0)
                goto finish;
        w.sse.last_id = json_integer_value(json_object_get(summary, "last_event_id"));
        bool drift = json_is_object(json_object_get(summary, "drift"));
        if (o->gate > 0 && !drift) {
                fprintf(stderr, "provd: --gate-timeout: provd at %s does not report node drift (no \"drift\" in GET /v1/summary), "
                                "so nodes cannot be gated; nothing submitted (--no-gate: a node is done when installed)\n",
                        cli->url);
                goto finish;
        }
        if (o->gate < 0 && !drift)
                fprintf(stderr, "provd: provd at %s does not report node drift: the roll is not health-gated, a node is done "
                                "when installed (--no-gate silences this)\n",
                        cli->url);
        w.roll.gate = o->gate != 0 && drift;
        w.roll.gate_timeout_ms = o->gate_timeout_ms;
        w.roll.before = o->before != NULL;
        w.roll.after = o->after != NULL;

        cli_catch_signals();
        int64_t start = now_monotonic_ms(), deadline = o->timeout_ms > 0 ? start + o->timeout_ms : INT64_MAX;
        w.last_summary = start;
        if (o->parallel > 0 && o->parallel < names->n)
                fprintf(stderr, "provd: reinstalling %zu nodes, at most %zu at once", names->n, o->parallel);
        else
                fprintf(stderr, "provd: reinstalling %zu node%s", names->n, names->n == 1 ? "" : "s");
        if (w.roll.gate)
                fprintf(stderr, "; a node is done when it reports running its system (--gate-timeout %s)",
                        format_duration(w.roll.gate_timeout_ms, dbuf));
        fputc('\n', stderr);
        while (!cli_roll_done(&w.roll)) {
                if (cli_interrupted) {
                        unfinished_why = "interrupted";
                        break;
                }
                if (w.fatal) {
                        unfinished_why = "not submitted: an earlier submission was refused";
                        break;
                }
                if (now_monotonic_ms() >= deadline) {
                        unfinished_why = "timed out (--timeout)";
                        break;
                }
                stream_start(&w);
                stream_pump(&w);
                start_next(&w);
                hooks_pump(&w);
                poll_operations(&w);
                stream_pump(&w);
                poll_nodes(&w);
                poll_gates(&w);
                expire_gates(&w);
                if (cli_roll_done(&w.roll))
                        break;
                int64_t now = now_monotonic_ms();
                if (w.changed || now - w.last_summary >= SUMMARY_MS)
                        print_summary(&w);
                /* Wait for stream data or hook output, at most until the next poll is due. */
                unsigned n_fds = 0;
                for (size_t i = 0; i < w.roll.n; i++)
                        if (w.hooks[i].pid > 0 && w.hooks[i].fd >= 0)
                                w.waitfds[n_fds++] = (struct curl_waitfd) { .fd = w.hooks[i].fd, .events = CURL_WAIT_POLLIN };
                curl_multi_poll(w.multi, n_fds ? w.waitfds : NULL, n_fds, 250, NULL);
        }
        hooks_stop(&w);
        print_summary(&w);
        if (unfinished_why) {
                size_t in_flight = w.roll.in_flight, waiting = w.roll.n - w.roll.next;
                fprintf(stderr, "provd: %s: %zu node%s still in progress, %zu not submitted\n", unfinished_why, in_flight,
                        in_flight == 1 ? "" : "s", waiting);
        } else if (w.roll.stopped && w.roll.stopped_by >= 0)
                fprintf(stderr, "provd: the roll stopped: %s did not come back within --gate-timeout %s; %zu node%s not started\n",
                        w.roll.nodes[w.roll.stopped_by].name, format_duration(w.roll.gate_timeout_ms, dbuf), w.roll.n - w.roll.next,
                        w.roll.n - w.roll.next == 1 ? "" : "s");
        if (print_results(&w, unfinished_why) < 0) {
                fprintf(stderr, "provd: out of memory\n");
                goto finish;
        }
        if (w.roll.stopped)
                ret = CLI_EXIT_STOPPED;
        else
                ret = w.roll.installed == w.roll.n && w.roll.after_failed == 0 ? CLI_EXIT_OK : CLI_EXIT_ERROR;

finish:
        if (w.hooks)
                hooks_stop(&w);
        if (w.stream_active)
                curl_multi_remove_handle(w.multi, w.stream);
        if (w.stream)
                curl_easy_cleanup(w.stream);
        if (w.multi)
                curl_multi_cleanup(w.multi);
        curl_slist_free_all(w.stream_headers);
        cli_sse_free(&w.sse);
        json_decref(w.queued);
        json_decref(w.ops);
        json_decref(w.errors);
        free(w.hooks);
        free(w.waitfds);
        cli_roll_free(&w.roll);
        return ret;
}

/* ---- submitting without waiting for installs ------------------------------------------------- */

/* The operation for node name in ops, or NULL. */
static json_t *find_op(const json_t *ops, const char *name) {
        size_t i;
        json_t *op;
        json_array_foreach(ops, i, op)
                if (json_str(op, "node") && streq(json_str(op, "node"), name))
                        return op;
        return NULL;
}

/* Submits kind with body for every name; with follow, then polls each accepted operation until
 * it finished.  Prints NODE RESULT lines (or the JSON).  Returns the exit code. */
static int submit_all(Cli *cli, const Names *names, const char *kind, json_t *body, bool follow) {
        _cleanup_(json_decrefp) json_t *ops = json_array(), *errors = json_array(), *messages = json_object();
        if (!ops || !errors || !messages)
                return CLI_EXIT_ERROR;
        bool failed = false, fatal = false;
        for (size_t i = 0; i < names->n && !fatal; i++) {
                Submit s = { 0 };
                if (submit(cli, names->v[i], kind, body, &s) < 0)
                        return CLI_EXIT_ERROR;
                if (s.op)
                        json_array_append(ops, s.op);
                else {
                        json_array_append(errors, s.err);
                        json_object_set_new(messages, names->v[i], json_string(s.message));
                        failed = true;
                        fatal = s.fatal;
                }
                submit_free(&s);
        }

        /* Follow the operations until each finished. */
        long wait = 100;
        int bad_rounds = 0;
        cli_catch_signals();
        while (follow && !cli_interrupted) {
                bool pending = false, bad = false;
                size_t i;
                json_t *op;
                json_array_foreach(ops, i, op) {
                        if (op_finished(op) || json_is_true(json_object_get(op, "_gone")))
                                continue;
                        _cleanup_(json_decrefp) json_t *now = NULL;
                        int r = get_operation(cli, json_integer_value(json_object_get(op, "id")), &now);
                        if (r == -ENOENT) {
                                json_object_set_new(op, "_gone", json_true());
                                continue;
                        }
                        if (r < 0 || !json_is_object(now)) {
                                pending = bad = true;
                                continue;
                        }
                        json_array_set(ops, i, now);
                        pending = pending || !op_finished(now);
                }
                if (!pending)
                        break;
                bad_rounds = bad ? bad_rounds + 1 : 0;
                if (bad_rounds >= FOLLOW_ERRORS_MAX) {
                        fprintf(stderr, "provd: cannot read the operations (%d times in a row); giving up\n", bad_rounds);
                        break;
                }
                sleep_ms(wait);
                wait = wait * 2 > 1000 ? 1000 : wait * 2;
        }

        _cleanup_(cli_table_freep) CliTable *t = cli_table_new(follow ? 2 : 3);
        if (!t || cli_table_add(t, follow ? (const char *[]) { "NODE", "RESULT" }
                                          : (const char *[]) { "NODE", "OPERATION", "MESSAGE" }) < 0)
                return CLI_EXIT_ERROR;
        for (size_t k = 0; k < names->n; k++) {
                const char *name = names->v[k];
                _cleanup_free_ char *cell = NULL;
                char idbuf[32] = "-";
                const json_t *msg = json_object_get(messages, name);
                if (msg) {
                        if (asprintf(&cell, "error: %s", json_string_value(msg)) < 0)
                                return CLI_EXIT_ERROR;
                } else {
                        json_t *op = find_op(ops, name);
                        if (!op) /* not submitted after a fatal error */
                                cell = strdup("error: not submitted");
                        else if (!follow) {
                                snprintf(idbuf, sizeof idbuf, "%" JSON_INTEGER_FORMAT, json_integer_value(json_object_get(op, "id")));
                                cell = strdup("");
                        } else if (json_is_true(json_object_get(op, "_gone")))
                                cell = strdup("error: the operation is gone (provd restarted?)");
                        else if (op_failed(op)) {
                                if (asprintf(&cell, "error: %s", op_error(op)) < 0)
                                        cell = NULL;
                        } else if (!op_finished(op))
                                cell = strdup(cli_interrupted ? "unfinished (interrupted)" : "unfinished");
                        else
                                cell = strdup(json_str(op, "result") ? json_str(op, "result") : "ok");
                        if (op && (json_is_true(json_object_get(op, "_gone")) || (follow && !op_finished(op)) || op_failed(op)))
                                failed = true;
                        if (!op)
                                failed = true;
                }
                if (!cell)
                        return CLI_EXIT_ERROR;
                if (cli_table_add(t, follow ? (const char *[]) { name, cell } : (const char *[]) { name, idbuf, cell }) < 0)
                        return CLI_EXIT_ERROR;
        }
        if (cli->json) {
                size_t i;
                json_t *op;
                json_array_foreach(ops, i, op) json_object_del(op, "_gone");
                _cleanup_(json_decrefp) json_t *o = json_pack("{s:O, s:O}", "operations", ops, "errors", errors);
                if (!o)
                        return CLI_EXIT_ERROR;
                cli_print_json(o);
        } else
                cli_table_print(t, stdout);
        return failed || cli_interrupted ? CLI_EXIT_ERROR : CLI_EXIT_OK;
}

/* ---- provd reinstall ------------------------------------------------------------------------- */

int cli_reinstall(Cli *cli, int argc, char **argv) {
        enum {
                OPT_ALL = CLI_OPT_FIRST_COMMAND_OPTION,
                OPT_WAIT,
                OPT_PARALLEL,
                OPT_TIMEOUT,
                OPT_POLL,
                OPT_BEFORE,
                OPT_AFTER,
                OPT_GATE_TIMEOUT,
                OPT_NO_GATE,
                OPT_HOOK_TIMEOUT,
        };
        static const struct option options[] = {
                { "all", no_argument, NULL, OPT_ALL },
                { "poll", no_argument, NULL, OPT_POLL },
                { "wait", no_argument, NULL, OPT_WAIT },
                { "parallel", required_argument, NULL, OPT_PARALLEL },
                { "timeout", required_argument, NULL, OPT_TIMEOUT },
                { "before", required_argument, NULL, OPT_BEFORE },
                { "after", required_argument, NULL, OPT_AFTER },
                { "gate-timeout", required_argument, NULL, OPT_GATE_TIMEOUT },
                { "no-gate", no_argument, NULL, OPT_NO_GATE },
                { "hook-timeout", required_argument, NULL, OPT_HOOK_TIMEOUT },
                CLI_GLOBAL_OPTIONS,
                {},
        };
        bool all = false, wait = false, poll = false, no_gate = false, gate_timeout = false, hook_timeout = false;
        long parallel = 0;
        int64_t timeout_ms = 0, gate_timeout_ms = GATE_TIMEOUT_MS, hook_timeout_ms = HOOK_TIMEOUT_MS;
        const char *before = NULL, *after = NULL;
        char d1[32], d2[32];
        int c;
        while ((c = cli_getopt(cli, argc, argv, options)) != -1) {
                switch (c) {
                case OPT_ALL:
                        all = true;
                        break;
                case OPT_WAIT:
                        wait = true;
                        break;
                case OPT_POLL:
                        poll = true;
                        break;
                case OPT_PARALLEL:
                        if (cli_parse_count(optarg, 1000000, &parallel) < 0) {
                                fprintf(stderr, "provd reinstall: --parallel must be a positive number, not \"%s\"\n", optarg);
                                return CLI_EXIT_USAGE;
                        }
                        wait = true;
                        break;
                case OPT_TIMEOUT:
                case OPT_GATE_TIMEOUT:
                case OPT_HOOK_TIMEOUT: {
                        const char *flag = c == OPT_TIMEOUT ? "--timeout" : c == OPT_GATE_TIMEOUT ? "--gate-timeout" : "--hook-timeout";
                        int64_t *ms = c == OPT_TIMEOUT ? &timeout_ms : c == OPT_GATE_TIMEOUT ? &gate_timeout_ms : &hook_timeout_ms;
                        if (parse_duration(optarg, ms) < 0) {
                                fprintf(stderr, "provd reinstall: %s must be a duration like 90, 90s, 45m, 2h or 1h30m, not \"%s\"\n",
                                        flag, optarg);
                                return CLI_EXIT_USAGE;
                        }
                        if (c == OPT_GATE_TIMEOUT) {
                                gate_timeout = true;
                                wait = true;
                        }
                        if (c == OPT_HOOK_TIMEOUT)
                                hook_timeout = true;
                        break;
                }
                case OPT_BEFORE:
                case OPT_AFTER:
                        if (!*optarg) {
                                fprintf(stderr, "provd reinstall: %s needs a command\n", c == OPT_BEFORE ? "--before" : "--after");
                                return CLI_EXIT_USAGE;
                        }
                        *(c == OPT_BEFORE ? &before : &after) = optarg;
                        wait = true;
                        break;
                case OPT_NO_GATE:
                        no_gate = true;
                        break;
                case 'h':
                        printf("Usage: provd reinstall (NODE|GLOB)... | --all  [--wait] [--parallel N] [--timeout DURATION]\n"
                               "                      [--before CMD] [--after CMD] [--gate-timeout DURATION | --no-gate]\n"
                               "                      [--hook-timeout DURATION] [--poll]\n\n"
                               "Marks nodes for reinstallation and, for nodes with a BMC, sets the boot device to\n"
                               "PXE (one-time) and power-cycles them (POST /v1/nodes/NODE/reinstall).  Nodes\n"
                               "without a BMC install on their next network boot: power-cycle them by hand.\n"
                               "Arguments are node names or globs ('node-0*', quoted); a NODE or GLOB matching no\n"
                               "node is an error (exit 3) and nothing is submitted.\n\n"
                               "  --all              every node in the inventory\n"
                               "  --wait             wait until every node is done (see below), showing each step\n"
                               "                     and a summary on stderr\n"
                               "  --parallel N       rolling reinstall (implies --wait): at most N nodes in flight\n"
                               "                     at once; the next node starts when one is done.  A node is in\n"
                               "                     flight from the start of its --before to the end of its --after,\n"
                               "                     so at most N nodes are drained at once\n"
                               "  --timeout DURATION with --wait: give up waiting after DURATION (90, 90s, 45m, 2h,\n"
                               "                     1h30m); nodes not done then are unfinished (exit 1) and the\n"
                               "                     ones not yet started are not started\n"
                               "  --poll             with --wait: watch the nodes by polling GET /v1/nodes every\n"
                               "                     2 s instead of the event stream (for proxies that buffer\n"
                               "                     Server-Sent Events; the stream is used by default, polling\n"
                               "                     only while it is down)\n\n"
                               "Health gate (the default with --wait when provd reports node drift; an older provd:\n"
                               "a note, no gate): a node is done when it is installed AND, after that, reports\n"
                               "running the inventory's system (drift in_sync; a report from before the install\n"
                               "does not count).  reboot_pending does not count either: the node runs that system\n"
                               "without having booted it, so the new installation has not been seen to boot.\n"
                               "Nodes report from their installed system (POST /v1/nodes/NODE/report); for nodes\n"
                               "that do not, use --no-gate.  A failed install is a result of its own (failed)\n"
                               "and does not stop the roll, gated or not.\n"
                               "  --gate-timeout DURATION  (implies --wait) a node not done DURATION after its\n"
                               "                     reinstall was requested (default %s) is a timeout and STOPS\n"
                               "                     the roll: no more nodes are started, nodes in flight go on to\n"
                               "                     the end (each up to its own timeout); its --after does not run\n"
                               "  --no-gate          with --wait: a node is done when installed (no reports\n"
                               "                     needed, no per-node timeout, nothing stops the roll)\n\n"
                               "Hooks (imply --wait), run per node with /bin/sh -c CMD, with PROVD_NODE=<node>,\n"
                               "PROVD_URL=<provd's URL> and PROVD_HOOK=before|after in the environment, stdin\n"
                               "/dev/null; each line of their output goes to stderr as \"TIME  NODE  --before: LINE\":\n"
                               "  --before CMD       right before the node's reinstall is requested (e.g. drain\n"
                               "                     it); exiting non-zero or timing out SKIPS the node (not\n"
                               "                     reinstalled) and the roll goes on\n"
                               "  --after CMD        once the node is done (through its gate; with --no-gate,\n"
                               "                     installed), e.g. resume it; a failure is shown in the node's\n"
                               "                     result, the roll goes on\n"
                               "  --hook-timeout DURATION  with --wait: a hook still running after DURATION (default\n"
                               "                     %s) is failed; its process group gets SIGTERM, SIGKILL 5 s later\n"
                               "Hooks still running when the wait ends (Ctrl-C, --timeout) are terminated alike.\n\n"
                               "Output: without --wait, NODE OPERATION MESSAGE per node; with --wait, NODE RESULT\n"
                               "MESSAGE per node, RESULT one of: in_sync (done, gated), installed (done, not\n"
                               "gated), failed, skipped (--before failed), timeout (not through its gate; MESSAGE\n"
                               "says where it was, e.g. \"installed, drift silent\"), unfinished, not-submitted\n"
                               "(never started: the roll stopped, --timeout, or interrupted).  --json prints\n"
                               "{\"operations\": [...], \"errors\": [...]} and with --wait also \"nodes\" (their final\n"
                               "state), \"results\", \"gate\" (true/false) and \"stopped_by\" (the node, or null).\n"
                               "Exit status: 0 all submitted (with --wait: every node done, every --after\n"
                               "succeeded), 1 a submission, an operation, an install, a --before or --after\n"
                               "failed, or --timeout, 2 usage, 3 unknown node, 4 the roll stopped: a node did\n"
                               "not pass its gate within --gate-timeout.\n\n" CLI_GLOBAL_HELP,
                               format_duration(GATE_TIMEOUT_MS, d1), format_duration(HOOK_TIMEOUT_MS, d2));
                        return CLI_EXIT_OK;
                default:
                        return CLI_EXIT_USAGE;
                }
        }
        if (all && optind < argc) {
                fprintf(stderr, "provd reinstall: --all and node names do not go together\n");
                usage_hint(cli);
                return CLI_EXIT_USAGE;
        }
        if (!all && optind >= argc) {
                fprintf(stderr, "provd reinstall: name the nodes (names or globs) or pass --all\n");
                usage_hint(cli);
                return CLI_EXIT_USAGE;
        }
        if ((timeout_ms > 0 || poll || no_gate || hook_timeout) && !wait) {
                fprintf(stderr, "provd reinstall: --timeout, --poll, --no-gate and --hook-timeout need --wait (or --parallel, "
                                "--before, --after, --gate-timeout)\n");
                usage_hint(cli);
                return CLI_EXIT_USAGE;
        }
        if (no_gate && gate_timeout) {
                fprintf(stderr, "provd reinstall: --gate-timeout and --no-gate do not go together\n");
                usage_hint(cli);
                return CLI_EXIT_USAGE;
        }
        int r = cli_load_settings(cli);
        if (r != 0)
                return r;
        _cleanup_(names_free) Names names = { 0 };
        r = resolve_nodes(cli, argv + optind, (size_t) (argc - optind), all, &names);
        if (r != 0)
                return r;
        if (!wait)
                return submit_all(cli, &names, "reinstall", NULL, false);
        /* One glob or --all: poll with the same selection, else all nodes. */
        _cleanup_free_ char *query = strdup("");
        if (!query || add_query(cli, &query, "name", !all && argc - optind == 1 ? argv[optind] : NULL) < 0)
                return CLI_EXIT_ERROR;
        return reinstall_wait(cli, &names,
                              &(RollOptions) { .parallel = (size_t) parallel,
                                               .timeout_ms = timeout_ms,
                                               .poll_query = query,
                                               .poll = poll,
                                               .gate = no_gate ? 0 : gate_timeout ? 1 : -1,
                                               .gate_timeout_ms = gate_timeout_ms,
                                               .before = before,
                                               .after = after,
                                               .hook_timeout_ms = hook_timeout_ms });
}

/* ---- provd power / bootdev ---------------------------------------------------------------- */

/* The common front of power and bootdev: options, the trailing ACTION argument (one of
 * actions), the nodes. */
static int parse_targets(Cli *cli, int argc, char **argv, const char *const *actions, const char *what, bool all,
                         Names *ret_names, const char **ret_action) {
        if (optind >= argc) {
                fprintf(stderr, "provd %s: missing %s\n", cli->command, what);
                usage_hint(cli);
                return CLI_EXIT_USAGE;
        }
        const char *action = argv[argc - 1];
        bool known = false;
        for (const char *const *a = actions; *a; a++)
                known = known || streq(*a, action);
        if (!known) {
                fprintf(stderr, "provd %s: the last argument must be the %s (", cli->command, what);
                for (const char *const *a = actions; *a; a++)
                        fprintf(stderr, "%s%s", a == actions ? "" : ", ", *a);
                fprintf(stderr, "), not \"%s\"\n", action);
                usage_hint(cli);
                return CLI_EXIT_USAGE;
        }
        size_t n_nodes = (size_t) (argc - 1 - optind);
        if (all && n_nodes > 0) {
                fprintf(stderr, "provd %s: --all and node names do not go together\n", cli->command);
                usage_hint(cli);
                return CLI_EXIT_USAGE;
        }
        if (!all && n_nodes == 0) {
                fprintf(stderr, "provd %s: name the nodes (names or globs) or pass --all\n", cli->command);
                usage_hint(cli);
                return CLI_EXIT_USAGE;
        }
        int r = cli_load_settings(cli);
        if (r != 0)
                return r;
        r = resolve_nodes(cli, argv + optind, n_nodes, all, ret_names);
        if (r != 0)
                return r;
        *ret_action = action;
        return 0;
}

int cli_power(Cli *cli, int argc, char **argv) {
        enum { OPT_ALL = CLI_OPT_FIRST_COMMAND_OPTION };
        static const struct option options[] = {
                { "all", no_argument, NULL, OPT_ALL },
                CLI_GLOBAL_OPTIONS,
                {},
        };
        static const char *const actions[] = { "on", "off", "cycle", "reset", "soft", "status", NULL };
        bool all = false;
        int c;
        while ((c = cli_getopt(cli, argc, argv, options)) != -1) {
                switch (c) {
                case OPT_ALL:
                        all = true;
                        break;
                case 'h':
                        printf("Usage: provd power (NODE|GLOB)... | --all  on|off|cycle|reset|soft|status\n\n"
                               "Runs a power command on each node's BMC (POST /v1/nodes/NODE/power) and waits\n"
                               "for each to finish.  Prints NODE RESULT per node: for status \"on\" or \"off\", an\n"
                               "\"error: ...\" line for a node whose BMC failed or that has no BMC.\n"
                               "  soft: ACPI soft shutdown; reset: hard reset; cycle: off, then on.\n"
                               "--json prints {\"operations\": [final Operation...], \"errors\": [refused...]}.\n"
                               "Exit status: 0 all succeeded, 1 any failed, 2 usage, 3 unknown node (nothing\n"
                               "submitted).\n\n"
                               "  --all              every node in the inventory\n\n" CLI_GLOBAL_HELP);
                        return CLI_EXIT_OK;
                default:
                        return CLI_EXIT_USAGE;
                }
        }
        _cleanup_(names_free) Names names = { 0 };
        const char *action = NULL;
        int r = parse_targets(cli, argc, argv, actions, "action", all, &names, &action);
        if (r != 0)
                return r;
        _cleanup_(json_decrefp) json_t *body = json_pack("{s:s}", "action", action);
        if (!body)
                return CLI_EXIT_ERROR;
        return submit_all(cli, &names, "power", body, true);
}

int cli_bootdev(Cli *cli, int argc, char **argv) {
        enum { OPT_ALL = CLI_OPT_FIRST_COMMAND_OPTION, OPT_PERSISTENT, OPT_EFI, OPT_LEGACY };
        static const struct option options[] = {
                { "all", no_argument, NULL, OPT_ALL },
                { "persistent", no_argument, NULL, OPT_PERSISTENT },
                { "efi", no_argument, NULL, OPT_EFI },
                { "legacy", no_argument, NULL, OPT_LEGACY },
                CLI_GLOBAL_OPTIONS,
                {},
        };
        static const char *const devices[] = { "pxe", "disk", "bios", NULL };
        bool all = false, persistent = false;
        int efi = -1;
        int c;
        while ((c = cli_getopt(cli, argc, argv, options)) != -1) {
                switch (c) {
                case OPT_ALL:
                        all = true;
                        break;
                case OPT_PERSISTENT:
                        persistent = true;
                        break;
                case OPT_EFI:
                        efi = 1;
                        break;
                case OPT_LEGACY:
                        efi = 0;
                        break;
                case 'h':
                        printf("Usage: provd bootdev (NODE|GLOB)... | --all  pxe|disk|bios [--persistent] [--efi|--legacy]\n\n"
                               "Sets the boot device through each node's BMC (POST /v1/nodes/NODE/bootdev) and\n"
                               "waits for each to finish.  Prints NODE RESULT per node (\"error: ...\" for a node\n"
                               "whose BMC failed or that has no BMC).\n\n"
                               "  --persistent  for every boot from now on (default: the next boot only)\n"
                               "  --efi         ask for an EFI boot (default: the inventory's bmc.boot_mode)\n"
                               "  --legacy      ask for a legacy BIOS boot\n"
                               "  --all         every node in the inventory\n\n"
                               "--json prints {\"operations\": [final Operation...], \"errors\": [refused...]}.\n"
                               "Exit status: 0 all succeeded, 1 any failed, 2 usage, 3 unknown node (nothing\n"
                               "submitted).\n\n" CLI_GLOBAL_HELP);
                        return CLI_EXIT_OK;
                default:
                        return CLI_EXIT_USAGE;
                }
        }
        _cleanup_(names_free) Names names = { 0 };
        const char *device = NULL;
        int r = parse_targets(cli, argc, argv, devices, "device", all, &names, &device);
        if (r != 0)
                return r;
        _cleanup_(json_decrefp) json_t *body = json_pack("{s:s, s:b}", "device", device, "persistent", persistent);
        if (!body || (efi >= 0 && json_object_set_new(body, "efi", json_boolean(efi)) < 0))
                return CLI_EXIT_ERROR;
        return submit_all(cli, &names, "bootdev", body, true);
}
