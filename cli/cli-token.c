/* cli-token.c — `provd token new --name NAME [--file PATH]`: makes an API token locally (no
 * daemon needed), appends its hash to the tokens file and prints the token once
 * (the file format is apitoken.h's). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "apitoken.h"
#include "cli.h"
#include "token.h"
#include "util.h"

#define CLI_DEFAULT_API_TOKENS "/etc/provd/api-tokens"

static void usage(FILE *f) {
        fprintf(f, "Usage: provd token new --name NAME [--file PATH] [--config FILE] [--json]\n\n"
                   "Creates an API token, appends \"NAME blake2b:HASH\" to the tokens file (creating it\n"
                   "with mode 0600) and prints the token on stdout.  The token is shown only this once;\n"
                   "the file keeps only its hash.  Works locally: provd need not run.  A running provd\n"
                   "picks the new token up on SIGHUP or POST /v1/reload.\n\n"
                   "  --name NAME    what the token is for: 1 to 64 of A-Z a-z 0-9 . _ -, unique in the file\n"
                   "  --file PATH    the tokens file (default: api_tokens= in [serve] of the config file,\n"
                   "                 else " CLI_DEFAULT_API_TOKENS ")\n"
                   "  --config FILE  INI file to take api_tokens= from (default " CLI_DEFAULT_CONFIG ")\n"
                   "  --json         print {\"name\", \"file\", \"token\"} instead of the bare token\n"
                   "  -h, --help     show this help\n");
}

int cli_token(Cli *cli, int argc, char **argv) {
        enum { OPT_NAME = CLI_OPT_FIRST_COMMAND_OPTION, OPT_FILE };
        static const struct option options[] = {
                { "name", required_argument, NULL, OPT_NAME },
                { "file", required_argument, NULL, OPT_FILE },
                CLI_GLOBAL_OPTIONS,
                {},
        };
        const char *name = NULL, *file = NULL;
        int c;
        while ((c = cli_getopt(cli, argc, argv, options)) != -1) {
                switch (c) {
                case OPT_NAME:
                        name = optarg;
                        break;
                case OPT_FILE:
                        file = optarg;
                        break;
                case 'h':
                        usage(stdout);
                        return CLI_EXIT_OK;
                default:
                        return CLI_EXIT_USAGE;
                }
        }
        if (optind >= argc || !streq(argv[optind], "new")) {
                if (optind < argc)
                        fprintf(stderr, "provd token: unknown subcommand \"%s\"\n", argv[optind]);
                else
                        fprintf(stderr, "provd token: missing subcommand (new)\n");
                fprintf(stderr, "Try 'provd token --help'.\n");
                return CLI_EXIT_USAGE;
        }
        if (optind + 1 < argc) {
                fprintf(stderr, "provd token new: unexpected argument \"%s\"\nTry 'provd token --help'.\n", argv[optind + 1]);
                return CLI_EXIT_USAGE;
        }
        if (!name) {
                fprintf(stderr, "provd token new: --name NAME is required\nTry 'provd token --help'.\n");
                return CLI_EXIT_USAGE;
        }
        if (!apitoken_name_is_valid(name)) {
                fprintf(stderr, "provd token new: bad --name \"%s\": use 1 to %d of A-Z a-z 0-9 . _ -\n", name,
                        APITOKEN_NAME_MAX);
                return CLI_EXIT_USAGE;
        }
        if (!file) {
                int r = cli_load_config(cli);
                if (r != 0)
                        return r;
                file = cli->serve_api_tokens ? cli->serve_api_tokens : CLI_DEFAULT_API_TOKENS;
        }
        if (token_init() < 0) {
                fprintf(stderr, "provd: cannot initialise libsodium\n");
                return CLI_EXIT_ERROR;
        }

        char token[APITOKEN_STRING_MAX];
        char error[ERRBUF_MAX] = "";
        int r = apitokens_file_add(file, name, token, error, sizeof error);
        if (r < 0) {
                fprintf(stderr, "provd: %s\n", error[0] ? error : strerror(-r));
                return CLI_EXIT_ERROR;
        }
        if (cli->json) {
                json_t *o = json_pack("{s:s, s:s, s:s}", "name", name, "file", file, "token", token);
                if (o)
                        cli_print_json(o);
                json_decref(o);
        } else
                printf("%s\n", token);
        explicit_bzero(token, sizeof token);
        fprintf(stderr, "provd: added API token \"%s\" to %s; it is shown only this once. "
                        "A running provd uses it after SIGHUP or POST /v1/reload.\n",
                name, file);
        return CLI_EXIT_OK;
}
