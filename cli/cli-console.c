/* cli-console.c — `provd console NODE [--attempt N] [--follow] [--start [--seconds N] | --stop]`
 * GET /v1/nodes/{name}/console written to stdout as it arrives (raw bytes), and the
 * on-demand capture (POST / DELETE of the same route).  Exit codes as cli.h: 3 for an unknown
 * node or no log. */
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "util.h"

typedef struct Get {
        Cli *cli;
        long status;
        char error_body[8192];
        size_t error_len;
        bool write_failed;
} Get;

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *user) {
        Get *g = user;
        size_t n = size * nmemb;
        if (g->status == 0)
                curl_easy_getinfo(g->cli->curl, CURLINFO_RESPONSE_CODE, &g->status);
        if (g->status != 200) {
                size_t k = n < sizeof g->error_body - g->error_len ? n : sizeof g->error_body - g->error_len;
                memcpy(g->error_body + g->error_len, ptr, k);
                g->error_len += k;
                return n;
        }
        if (fwrite(ptr, 1, n, stdout) != n || fflush(stdout) != 0) {
                g->write_failed = true;
                return 0;
        }
        return n;
}

static int on_progress(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow) {
        return cli_interrupted ? 1 : 0;
}

static int console_get(Cli *cli, const char *path) {
        char errbuf[CURL_ERROR_SIZE] = "";
        struct curl_slist *headers = NULL;
        Get g = { .cli = cli };
        cli_catch_signals();
        CURL *c = cli_curl_setup(cli, "GET", path, &headers, errbuf);
        if (!c) {
                curl_slist_free_all(headers);
                fprintf(stderr, "provd: out of memory\n");
                return CLI_EXIT_ERROR;
        }
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &g);
        curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
        CURLcode cc = curl_easy_perform(c);
        curl_slist_free_all(headers);
        if (cli_interrupted)
                return CLI_EXIT_OK;
        if (g.write_failed) {
                fprintf(stderr, "provd: cannot write the console to stdout: %s\n", strerror(errno));
                return CLI_EXIT_ERROR;
        }
        if (g.status == 0 && cc == CURLE_OK)
                curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &g.status);
        if (g.status != 0 && g.status != 200) {
                _cleanup_(json_decrefp) json_t *j = json_loadb(g.error_body, g.error_len, 0, NULL);
                int r = cli_api_error(cli, "GET", path, g.status, j);
                return r == -ENOENT ? CLI_EXIT_NOT_FOUND : CLI_EXIT_ERROR;
        }
        if (cc != CURLE_OK) {
                cli_report_curl_error(cli, cc, errbuf);
                return CLI_EXIT_ERROR;
        }
        return CLI_EXIT_OK;
}

/* `provd console --help`. */
static void console_help(void) {
        printf("Usage: provd console NODE [--attempt N] [--follow]\n"
               "       provd console NODE --start [--seconds N] [--follow]\n"
               "       provd console NODE --stop\n\n"
               "Writes a node's serial console, as captured over Serial over LAN, to stdout:\n"
               "the log of its current (or last) install attempt, or of the on-demand\n"
               "capture when one runs.  Exit status 3 if provd does not know NODE or has\n"
               "no such log.\n\n"
               "  --attempt N        the log of install attempt N (1, 2, ...)\n"
               "  --follow           keep writing new output until the capture ends\n"
               "                     (or Ctrl-C)\n"
               "  --start            start an on-demand capture to the node's live log\n"
               "                     (needs an API token); with --follow, follow it\n"
               "  --seconds N        ... for N seconds (default 600, at most 86400)\n"
               "  --stop             end the on-demand capture (needs an API token)\n"
               "\n" CLI_GLOBAL_HELP);
}

int cli_console(Cli *cli, int argc, char **argv) {
        enum { OPT_ATTEMPT = CLI_OPT_FIRST_COMMAND_OPTION, OPT_FOLLOW, OPT_START, OPT_STOP, OPT_SECONDS };
        static const struct option options[] = {
                { "attempt", required_argument, NULL, OPT_ATTEMPT },
                { "follow", no_argument, NULL, OPT_FOLLOW },
                { "start", no_argument, NULL, OPT_START },
                { "stop", no_argument, NULL, OPT_STOP },
                { "seconds", required_argument, NULL, OPT_SECONDS },
                CLI_GLOBAL_OPTIONS,
                {},
        };
        long attempt = 0, seconds = 0;
        bool follow = false, start = false, stop = false;
        int c;
        while ((c = cli_getopt(cli, argc, argv, options)) != -1) {
                switch (c) {
                case OPT_ATTEMPT:
                        if (cli_parse_count(optarg, INT32_MAX, &attempt) < 0) {
                                return cli_usage_error(cli, "--attempt must be a positive number, not \"%s\"", optarg);
                        }
                        break;
                case OPT_SECONDS:
                        if (cli_parse_count(optarg, 86400, &seconds) < 0) {
                                return cli_usage_error(cli, "--seconds must be a number from 1 to 86400, not \"%s\"", optarg);
                        }
                        break;
                case OPT_FOLLOW:
                        follow = true;
                        break;
                case OPT_START:
                        start = true;
                        break;
                case OPT_STOP:
                        stop = true;
                        break;
                case 'h':
                        console_help();
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
        if ((start && stop) || ((start || stop) && attempt > 0) || (stop && follow) || (seconds && !start)) {
                return cli_usage_error(cli, "--start/--seconds, --stop and --attempt do not go together");
        }
        int r = cli_load_settings(cli);
        if (r != 0)
                return r;
        _cleanup_free_ char *esc = cli_escape(cli, node), *path = NULL;
        if (!esc)
                return CLI_EXIT_ERROR;

        if (start || stop) {
                _cleanup_(json_decrefp) json_t *j = NULL;
                if (seconds > 0 ? asprintf(&path, "/v1/nodes/%s/console?seconds=%ld", esc, seconds) < 0
                                : asprintf(&path, "/v1/nodes/%s/console", esc) < 0)
                        return CLI_EXIT_ERROR;
                r = cli_call(cli, start ? "POST" : "DELETE", path, NULL, &j);
                if (r == -ENOENT)
                        return CLI_EXIT_NOT_FOUND;
                if (r < 0)
                        return cli_exit_code(r);
                if (cli->json && j)
                        cli_print_json(j);
                else if (start)
                        fprintf(stderr, "provd: capturing the console of %s to its live log\n", node);
                else
                        fprintf(stderr, "provd: on-demand capture of %s stopped\n", node);
                if (!follow)
                        return CLI_EXIT_OK;
                free(path);
                path = NULL;
        }
        if (asprintf(&path, "/v1/nodes/%s/console%s%s", esc, follow || attempt ? "?" : "", follow ? "follow=1" : "") < 0)
                return CLI_EXIT_ERROR;
        if (attempt > 0) {
                char *p = NULL;
                if (asprintf(&p, "%s%sattempt=%ld", path, follow ? "&" : "", attempt) < 0)
                        return CLI_EXIT_ERROR;
                free(path);
                path = p;
        }
        return console_get(cli, path);
}
