/* cli-nodes.c — the read commands on nodes:
 *   provd nodes [--state S[,S]] [--name GLOB] [--rack R]     GET /v1/nodes, every page
 *   provd node NODE                                          GET /v1/nodes/{name}
 * Single-threaded, like all of cli*.c. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "util.h"

#define HISTORY_SHOWN 10           /* `provd node`: the newest history entries shown */

/* `provd nodes --help`. */
static void nodes_help(void) {
        printf("Usage: provd nodes [--state S[,S...]] [--drift D[,D...] | --drifted] [--name GLOB]\n"
               "                   [--rack R] [--json]\n\n"
               "Lists the nodes in name order (every page of GET /v1/nodes):\n"
               "  NAME  STATE  SINCE  ATTEMPT  PHASE  DRIFT  RACK\n"
               "(SINCE in local time; ATTEMPT and PHASE of the current install attempt; DRIFT\n"
               "whether the node reports running the inventory's system: in_sync, drifted,\n"
               "reboot_pending, silent, unknown).\n"
               "Filters combine (AND):\n"
               "  --state S[,S...]  only nodes in these states (new, pending, netbooting,\n"
               "                    installing, installed, failed, booting, running)\n"
               "  --drift D[,D...]  only nodes with these drift statuses\n"
               "  --drifted         only nodes that are not known to run their system: drifted,\n"
               "                    reboot_pending or silent\n"
               "  --name GLOB       only nodes whose name matches GLOB (quote it: 'node-0*')\n"
               "  --rack R          only nodes in rack R\n"
               "\n" CLI_GLOBAL_HELP);
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
                        nodes_help();
                        return CLI_EXIT_OK;
                default:
                        return CLI_EXIT_USAGE;
                }
        }
        if (optind < argc) {
                return cli_usage_error(cli, "unexpected argument \"%s\" (filter by name with --name GLOB)", argv[optind]);
        }
        int r = cli_load_settings(cli);
        if (r != 0)
                return r;
        _cleanup_free_ char *query = strdup("");
        if (!query || cli_add_query(cli, &query, "state", state) < 0 || cli_add_query(cli, &query, "name", name) < 0 ||
            cli_add_query(cli, &query, "rack", rack) < 0 || cli_add_query(cli, &query, "drift", drift) < 0)
                return CLI_EXIT_ERROR;
        _cleanup_(json_decrefp) json_t *nodes = NULL, *j = NULL;
        r = cli_get_nodes(cli, query, &nodes);
        if (r < 0)
                return cli_exit_code(r);
        if (!(j = json_pack("{s:O}", "nodes", nodes)))
                return CLI_EXIT_ERROR;
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

/* Prints node j (GET /v1/nodes/NAME's answer, borrowed) as `provd node` shows it.  Returns
 * the exit code. */
static int node_print(const json_t *j, const char *name) {
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
            asprintf(&running, "%s (booted %s, kernel %s, reported %s)", cli_json_str(rep, "running") ? cli_json_str(rep, "running") : "-",
                     cli_json_str(rep, "booted") ? cli_json_str(rep, "booted") : "-", cli_json_str(rep, "kernel") ? cli_json_str(rep, "kernel") : "-",
                     cli_format_time(json_object_get(rep, "reported_at"), tbuf2)) < 0)
                return CLI_EXIT_ERROR;
        const char *rows[][2] = {
                { "name:", cli_text(json_object_get(j, "name"), b1) },
                { "state:", state },
                { "attempt:", attempt ? attempt : "-" },
                { "mac:", macs ? macs : "-" },
                { "rack:", cli_text(json_object_get(j, "rack"), b2) },
                { "bmc:", bmc ? bmc : "none" },
                { "toplevel:", cli_json_str(sys, "toplevel") ? cli_json_str(sys, "toplevel") : "-" },
                { "install:", cli_json_str(sys, "install") ? cli_json_str(sys, "install") : "-" },
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
                return cli_usage_error(cli, "missing NODE");
        }
        if (optind + 1 < argc) {
                return cli_usage_error(cli, "unexpected argument \"%s\" (one node; several: provd nodes --name GLOB)",
                        argv[optind + 1]);
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

        return node_print(j, name);
}
