/* cli-ops.c — the admin node commands of the client:
 *   provd reinstall (NODE|GLOB)...|--all [--wait] [--parallel N] [--timeout D]
 *                   [--before CMD] [--after CMD] [--gate-timeout D | --no-gate] [--hook-timeout D]
 *   provd reboot (NODE|GLOB)...|--all
 *   provd power (NODE|GLOB)...|--all on|off|cycle|reset|soft|status
 *   provd bootdev (NODE|GLOB)...|--all pxe|disk|bios [--persistent] [--efi|--legacy]
 * They POST /v1/nodes/{name}/{reinstall,reboot,power,bootdev} (202 + an Operation) and follow the
 * operations with GET /v1/operations/{id}; `reinstall --wait` hands over to cli-wait.c.
 * Node selection (names, globs, --all) and submission are shared with cli-wait.c (cli-ops.h).
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

#include "cli-ops.h"
#include "cli-wait.h"
#include "cli.h"
#include "util.h"

#define GATE_TIMEOUT_MS (90 * 60 * 1000LL) /* --gate-timeout: above the daemon's install_deadline (1 h) */
#define HOOK_TIMEOUT_MS (10 * 60 * 1000LL) /* --hook-timeout */
#define FOLLOW_ERRORS_MAX 20       /* power/bootdev: rounds in a row with an unreadable operation */

/* ---- node selection ------------------------------------------------------------------------ */

void cli_names_free(CliNames *names) {
        for (size_t i = 0; i < names->n; i++)
                free(names->v[i]);
        free(names->v);
        *names = (CliNames) { 0 };
}

bool cli_names_has(const CliNames *names, const char *s) {
        for (size_t i = 0; i < names->n; i++)
                if (streq(names->v[i], s))
                        return true;
        return false;
}

int cli_names_add(CliNames *names, const char *s) {
        if (cli_names_has(names, s))
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

/* Resolves the command's node arguments (names or globs, each with GET /v1/nodes?name=ARG)
 * or --all into names, in the daemon's inventory order per argument, each once.  Returns an
 * exit code: 0, 1 (daemon or network), 3 (an argument matched no node; every such argument
 * is named). */
static int resolve_nodes(Cli *cli, char **args, size_t n_args, bool all, CliNames *ret) {
        CliNames names = { 0 };
        bool missing = false;
        for (size_t a = 0; a < (all ? 1 : n_args); a++) {
                _cleanup_free_ char *query = strdup("");
                if (!query || cli_add_query(cli, &query, "name", all ? NULL : args[a]) < 0)
                        goto oom;
                _cleanup_(json_decrefp) json_t *nodes = NULL;
                int r = cli_get_nodes(cli, query, &nodes);
                if (r < 0) {
                        cli_names_free(&names);
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
                        const char *name = cli_json_str(node, "name");
                        if (name && cli_names_add(&names, name) < 0)
                                goto oom;
                }
        }
        if (missing) {
                fprintf(stderr, "provd: nothing submitted\n");
                cli_names_free(&names);
                return CLI_EXIT_NOT_FOUND;
        }
        *ret = names;
        return CLI_EXIT_OK;
oom:
        fprintf(stderr, "provd: out of memory\n");
        cli_names_free(&names);
        return CLI_EXIT_ERROR;
}

static int submit_all(Cli *cli, const CliNames *names, const char *kind, json_t *body, bool follow);

/* The node arguments of a command that may run in bulk: globs (and --all) are resolved as
 * resolve_nodes() does, plain names are taken as they are (provd's bulk route refuses an
 * unknown one, naming it).  With fewer than two nodes the names are resolved as before, for
 * the single-node route.  *ret_bulk says which.  Returns an exit code as resolve_nodes(). */
static int select_nodes(Cli *cli, char **args, size_t n_args, bool all, CliNames *ret, bool *ret_bulk) {
        _cleanup_(cli_names_free) CliNames names = { 0 };
        size_t n_plain = 0;
        for (size_t a = 0; a < n_args && !all; a++)
                if (!strpbrk(args[a], "*?["))
                        n_plain++;
        if (all || n_plain == 0) {
                int r = resolve_nodes(cli, args, n_args, all, &names);
                if (r != 0)
                        return r;
        } else
                for (size_t a = 0; a < n_args; a++) {
                        CliNames one = { 0 };
                        int r = strpbrk(args[a], "*?[") ? resolve_nodes(cli, args + a, 1, false, &one)
                                                        : cli_names_add(&one, args[a]) < 0 ? CLI_EXIT_ERROR : 0;
                        for (size_t i = 0; r == 0 && i < one.n; i++)
                                if (cli_names_add(&names, one.v[i]) < 0)
                                        r = CLI_EXIT_ERROR;
                        cli_names_free(&one);
                        if (r != 0)
                                return r;
                }
        *ret_bulk = names.n > 1;
        if (names.n <= 1 && n_plain > 0) { /* one node: looked up, for the single-node route */
                cli_names_free(&names);
                int r = resolve_nodes(cli, args, n_args, all, &names);
                if (r != 0)
                        return r;
        }
        *ret = names;
        names = (CliNames) { 0 };
        return CLI_EXIT_OK;
}

/* Runs kind on names: in bulk when *bulk (names unchecked), else (or when provd has no bulk
 * route: args resolved first) node by node as submit_all(). */
static int run_nodes(Cli *cli, char **args, size_t n_args, bool all, CliNames *names, bool bulk, const char *kind,
                     json_t *body, bool follow) {
        if (bulk) {
                int r = cli_bulk_run(cli, names, kind, body, follow);
                if (r != -EOPNOTSUPP)
                        return r;
                cli_names_free(names);
                r = resolve_nodes(cli, args, n_args, all, names);
                if (r != 0)
                        return r;
        }
        return submit_all(cli, names, kind, body, follow);
}

/* ---- operations ------------------------------------------------------------------------------ */

bool cli_op_finished(const json_t *op) {
        const char *s = cli_json_str(op, "state");
        return s && (streq(s, "succeeded") || streq(s, "failed"));
}

bool cli_op_failed(const json_t *op) {
        const char *s = cli_json_str(op, "state");
        return s && streq(s, "failed");
}

/* The reinstall's `mark` step is done (the node is pending from now on). */
bool cli_op_marked(const json_t *op) {
        const char *s = cli_json_str(op, "state");
        if (s && streq(s, "succeeded"))
                return true;
        size_t i;
        json_t *step;
        json_array_foreach(json_object_get(op, "steps"), i, step) {
                const char *name = cli_json_str(step, "name"), *state = cli_json_str(step, "state");
                if (name && state && streq(name, "mark"))
                        return streq(state, "succeeded");
        }
        return false;
}

/* Why a failed operation failed: error.message, else the failed step's error. */
const char *cli_op_error(const json_t *op) {
        const char *msg = cli_json_str(json_object_get(op, "error"), "message");
        if (msg)
                return msg;
        size_t i;
        json_t *step;
        json_array_foreach(json_object_get(op, "steps"), i, step) {
                const char *e = cli_json_str(step, "error");
                if (e)
                        return e;
        }
        return "the operation failed";
}

void cli_submit_free(CliSubmit *s) {
        json_decref(s->op);
        json_decref(s->err);
        free(s->message);
        *s = (CliSubmit) { 0 };
}

/* POSTs kind for node name with body (borrowed; NULL = empty).  Returns 0 with *ret filled
 * (either op or err), -ENOMEM. */
int cli_submit(Cli *cli, const char *name, const char *kind, json_t *body, CliSubmit *ret) {
        _cleanup_free_ char *esc = cli_escape(cli, name), *path = NULL;
        if (!esc || asprintf(&path, "/v1/nodes/%s/%s", esc, kind) < 0)
                return -ENOMEM;
        _cleanup_(json_decrefp) json_t *j = NULL;
        long status = 0;
        CliSubmit s = { 0 };
        int r = cli_request(cli, "POST", path, body, &j, &status);
        if (r >= 0 && status == 202 && json_is_object(json_object_get(j, "operation"))) {
                s.op = json_incref(json_object_get(j, "operation"));
                *ret = s;
                return 0;
        }
        const json_t *error = json_object_get(j, "error");
        const char *msg = cli_json_str(error, "message");
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
int cli_get_operation(Cli *cli, int64_t id, json_t **ret) {
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

/* ---- submitting without waiting for installs ------------------------------------------------- */

/* The operation for node name in ops, or NULL. */
static json_t *find_op(const json_t *ops, const char *name) {
        size_t i;
        json_t *op;
        json_array_foreach(ops, i, op)
                if (cli_json_str(op, "node") && streq(cli_json_str(op, "node"), name))
                        return op;
        return NULL;
}

/* Submits kind with body for every name; with follow, then polls each accepted operation until
 * it finished.  Prints NODE RESULT lines (or the JSON).  Returns the exit code. */
static int submit_all(Cli *cli, const CliNames *names, const char *kind, json_t *body, bool follow) {
        _cleanup_(json_decrefp) json_t *ops = json_array(), *errors = json_array(), *messages = json_object();
        if (!ops || !errors || !messages)
                return CLI_EXIT_ERROR;
        bool failed = false, fatal = false;
        for (size_t i = 0; i < names->n && !fatal; i++) {
                CliSubmit s = { 0 };
                if (cli_submit(cli, names->v[i], kind, body, &s) < 0)
                        return CLI_EXIT_ERROR;
                if (s.op)
                        json_array_append(ops, s.op);
                else {
                        json_array_append(errors, s.err);
                        json_object_set_new(messages, names->v[i], json_string(s.message));
                        failed = true;
                        fatal = s.fatal;
                }
                cli_submit_free(&s);
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
                        if (cli_op_finished(op) || json_is_true(json_object_get(op, "_gone")))
                                continue;
                        _cleanup_(json_decrefp) json_t *now = NULL;
                        int r = cli_get_operation(cli, json_integer_value(json_object_get(op, "id")), &now);
                        if (r == -ENOENT) {
                                json_object_set_new(op, "_gone", json_true());
                                continue;
                        }
                        if (r < 0 || !json_is_object(now)) {
                                pending = bad = true;
                                continue;
                        }
                        json_array_set(ops, i, now);
                        pending = pending || !cli_op_finished(now);
                }
                if (!pending)
                        break;
                bad_rounds = bad ? bad_rounds + 1 : 0;
                if (bad_rounds >= FOLLOW_ERRORS_MAX) {
                        fprintf(stderr, "provd: cannot read the operations (%d times in a row); giving up\n", bad_rounds);
                        break;
                }
                cli_sleep_ms(wait);
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
                        else if (cli_op_failed(op)) {
                                if (asprintf(&cell, "error: %s", cli_op_error(op)) < 0)
                                        cell = NULL;
                        } else if (!cli_op_finished(op))
                                cell = strdup(cli_interrupted ? "unfinished (interrupted)" : "unfinished");
                        else
                                cell = strdup(cli_json_str(op, "result") ? cli_json_str(op, "result") : "ok");
                        if (op && (json_is_true(json_object_get(op, "_gone")) || (follow && !cli_op_finished(op)) || cli_op_failed(op)))
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

/* `provd reinstall --help`. */
static void reinstall_help(void) {
        char d1[32], d2[32];
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
               "Without --wait, more than one node are submitted as one bulk operation (POST\n"
               "/v1/bulk-operations, 4096 nodes a request; --json then prints {\"bulk_operations\":\n"
               "[...]}), one node as POST /v1/nodes/NODE/reinstall.\n"
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
               cli_format_duration(GATE_TIMEOUT_MS, d1), cli_format_duration(HOOK_TIMEOUT_MS, d2));
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
                                return cli_usage_error(cli, "--parallel must be a positive number, not \"%s\"", optarg);
                        }
                        wait = true;
                        break;
                case OPT_TIMEOUT:
                case OPT_GATE_TIMEOUT:
                case OPT_HOOK_TIMEOUT: {
                        const char *flag = c == OPT_TIMEOUT ? "--timeout" : c == OPT_GATE_TIMEOUT ? "--gate-timeout" : "--hook-timeout";
                        int64_t *ms = c == OPT_TIMEOUT ? &timeout_ms : c == OPT_GATE_TIMEOUT ? &gate_timeout_ms : &hook_timeout_ms;
                        if (cli_parse_duration(optarg, ms) < 0) {
                                return cli_usage_error(cli, "%s must be a duration like 90, 90s, 45m, 2h or 1h30m, not \"%s\"",
                                        flag, optarg);
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
                                return cli_usage_error(cli, "%s needs a command", c == OPT_BEFORE ? "--before" : "--after");
                        }
                        *(c == OPT_BEFORE ? &before : &after) = optarg;
                        wait = true;
                        break;
                case OPT_NO_GATE:
                        no_gate = true;
                        break;
                case 'h':
                        reinstall_help();
                        return CLI_EXIT_OK;
                default:
                        return CLI_EXIT_USAGE;
                }
        }
        if (all && optind < argc) {
                return cli_usage_error(cli, "--all and node names do not go together");
        }
        if (!all && optind >= argc) {
                return cli_usage_error(cli, "name the nodes (names or globs) or pass --all");
        }
        if ((timeout_ms > 0 || poll || no_gate || hook_timeout) && !wait) {
                return cli_usage_error(cli, "--timeout, --poll, --no-gate and --hook-timeout need --wait (or --parallel, "
                                        "--before, --after, --gate-timeout)");
        }
        if (no_gate && gate_timeout) {
                return cli_usage_error(cli, "--gate-timeout and --no-gate do not go together");
        }
        int r = cli_load_settings(cli);
        if (r != 0)
                return r;
        _cleanup_(cli_names_free) CliNames names = { 0 };
        if (!wait) {
                bool bulk = false;
                r = select_nodes(cli, argv + optind, (size_t) (argc - optind), all, &names, &bulk);
                if (r != 0)
                        return r;
                return run_nodes(cli, argv + optind, (size_t) (argc - optind), all, &names, bulk, "reinstall", NULL, false);
        }
        r = resolve_nodes(cli, argv + optind, (size_t) (argc - optind), all, &names);
        if (r != 0)
                return r;
        /* One glob or --all: poll with the same selection, else all nodes. */
        _cleanup_free_ char *query = strdup("");
        if (!query || cli_add_query(cli, &query, "name", !all && argc - optind == 1 ? argv[optind] : NULL) < 0)
                return CLI_EXIT_ERROR;
        return cli_wait_reinstall(cli, &names,
                              &(CliWaitOptions) { .parallel = (size_t) parallel,
                                               .timeout_ms = timeout_ms,
                                               .poll_query = query,
                                               .poll = poll,
                                               .gate = no_gate ? 0 : gate_timeout ? 1 : -1,
                                               .gate_timeout_ms = gate_timeout_ms,
                                               .before = before,
                                               .after = after,
                                               .hook_timeout_ms = hook_timeout_ms });
}

/* ---- provd reboot ---------------------------------------------------------------------------- */

int cli_reboot(Cli *cli, int argc, char **argv) {
        enum { OPT_ALL = CLI_OPT_FIRST_COMMAND_OPTION };
        static const struct option options[] = {
                { "all", no_argument, NULL, OPT_ALL },
                CLI_GLOBAL_OPTIONS,
                {},
        };
        bool all = false;
        int c;
        while ((c = cli_getopt(cli, argc, argv, options)) != -1) {
                switch (c) {
                case OPT_ALL:
                        all = true;
                        break;
                case 'h':
                        printf("Usage: provd reboot (NODE|GLOB)... | --all\n\n"
                               "Reboots stateless nodes: records the reboot in each node's history, sets its boot\n"
                               "device to PXE (one-time) and power-cycles it (powers it on if it is off) through\n"
                               "its BMC, and waits for each to finish.  The node's next network boot boots its\n"
                               "image again (a new boot, state booting).  A stateless node has nothing to\n"
                               "reinstall: this is its \"reinstall\".  An install node is refused (\"node n001\n"
                               "installs to disk: use provd reinstall\"), so is a node without a BMC.\n"
                               "Arguments are node names or globs ('c0*', quoted); a NODE or GLOB matching no\n"
                               "node is an error (exit 3) and nothing is submitted.\n"
                               "One node: POST /v1/nodes/NODE/reboot.  More nodes: one bulk operation (POST\n"
                               "/v1/bulk-operations, kind reboot, 4096 nodes a request) and its progress stream.\n"
                               "Prints NODE RESULT per node, \"error: ...\" for a node that was refused or whose\n"
                               "BMC failed.  --json prints, for one node, {\"operations\": [...], \"errors\":\n"
                               "[...]}; for more, {\"bulk_operations\": [...]}.\n"
                               "Exit status: 0 all succeeded, 1 any failed (or is unfinished), 2 usage, 3 unknown\n"
                               "node (nothing submitted).\n\n"
                               "  --all              every node in the inventory (install nodes fail)\n\n" CLI_GLOBAL_HELP);
                        return CLI_EXIT_OK;
                default:
                        return CLI_EXIT_USAGE;
                }
        }
        if (all && optind < argc)
                return cli_usage_error(cli, "--all and node names do not go together");
        if (!all && optind >= argc)
                return cli_usage_error(cli, "name the nodes (names or globs) or pass --all");
        int r = cli_load_settings(cli);
        if (r != 0)
                return r;
        _cleanup_(cli_names_free) CliNames names = { 0 };
        bool bulk = false;
        r = select_nodes(cli, argv + optind, (size_t) (argc - optind), all, &names, &bulk);
        if (r != 0)
                return r;
        return run_nodes(cli, argv + optind, (size_t) (argc - optind), all, &names, bulk, "reboot", NULL, true);
}

/* ---- provd power / bootdev ---------------------------------------------------------------- */

/* The common front of power and bootdev: options, the trailing ACTION argument (one of
 * actions), the nodes (select_nodes(): *ret_bulk, and the node arguments in *ret_args and
 * *ret_n_args). */
static int parse_targets(Cli *cli, int argc, char **argv, const char *const *actions, const char *what, bool all,
                         CliNames *ret_names, bool *ret_bulk, char ***ret_args, size_t *ret_n_args,
                         const char **ret_action) {
        if (optind >= argc) {
                return cli_usage_error(cli, "missing %s", what);
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
                cli_usage_hint(cli);
                return CLI_EXIT_USAGE;
        }
        size_t n_nodes = (size_t) (argc - 1 - optind);
        if (all && n_nodes > 0) {
                return cli_usage_error(cli, "--all and node names do not go together");
        }
        if (!all && n_nodes == 0) {
                return cli_usage_error(cli, "name the nodes (names or globs) or pass --all");
        }
        int r = cli_load_settings(cli);
        if (r != 0)
                return r;
        r = select_nodes(cli, argv + optind, n_nodes, all, ret_names, ret_bulk);
        if (r != 0)
                return r;
        *ret_args = argv + optind;
        *ret_n_args = n_nodes;
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
                               "Runs a power command on each node's BMC and waits for each to finish.  Prints\n"
                               "NODE RESULT per node: for status \"on\" or \"off\", an \"error: ...\" line for a node\n"
                               "whose BMC failed or that has no BMC.\n"
                               "  soft: ACPI soft shutdown; reset: hard reset; cycle: off, then on.\n"
                               "One node: POST /v1/nodes/NODE/power, its line once it finished.  More nodes: one\n"
                               "bulk operation (POST /v1/bulk-operations, 4096 nodes a request) and its progress\n"
                               "stream; each node's line is printed as soon as it finished (in that order).\n"
                               "--json prints, for one node, {\"operations\": [final Operation...], \"errors\":\n"
                               "[refused...]}; for more, {\"bulk_operations\": [final BulkOperation...]}.\n"
                               "Exit status: 0 all succeeded, 1 any failed (or is unfinished), 2 usage, 3 unknown\n"
                               "node (nothing submitted).\n\n"
                               "  --all              every node in the inventory\n\n" CLI_GLOBAL_HELP);
                        return CLI_EXIT_OK;
                default:
                        return CLI_EXIT_USAGE;
                }
        }
        _cleanup_(cli_names_free) CliNames names = { 0 };
        const char *action = NULL;
        char **args = NULL;
        size_t n_args = 0;
        bool bulk = false;
        int r = parse_targets(cli, argc, argv, actions, "action", all, &names, &bulk, &args, &n_args, &action);
        if (r != 0)
                return r;
        _cleanup_(json_decrefp) json_t *body = json_pack("{s:s}", "action", action);
        if (!body)
                return CLI_EXIT_ERROR;
        return run_nodes(cli, args, n_args, all, &names, bulk, "power", body, true);
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
                               "One node: POST /v1/nodes/NODE/bootdev.  More nodes: one bulk operation (POST\n"
                               "/v1/bulk-operations, 4096 nodes a request) and its progress stream; each node's\n"
                               "line is printed as soon as it finished (in that order).\n"
                               "--json prints, for one node, {\"operations\": [final Operation...], \"errors\":\n"
                               "[refused...]}; for more, {\"bulk_operations\": [final BulkOperation...]}.\n"
                               "Exit status: 0 all succeeded, 1 any failed (or is unfinished), 2 usage, 3 unknown\n"
                               "node (nothing submitted).\n\n" CLI_GLOBAL_HELP);
                        return CLI_EXIT_OK;
                default:
                        return CLI_EXIT_USAGE;
                }
        }
        _cleanup_(cli_names_free) CliNames names = { 0 };
        const char *device = NULL;
        char **args = NULL;
        size_t n_args = 0;
        bool bulk = false;
        int r = parse_targets(cli, argc, argv, devices, "device", all, &names, &bulk, &args, &n_args, &device);
        if (r != 0)
                return r;
        _cleanup_(json_decrefp) json_t *body = json_pack("{s:s, s:b}", "device", device, "persistent", persistent);
        if (!body || (efi >= 0 && json_object_set_new(body, "efi", json_boolean(efi)) < 0))
                return CLI_EXIT_ERROR;
        return run_nodes(cli, args, n_args, all, &names, bulk, "bootdev", body, true);
}
