/* cli.h — the `provd` client commands (`provd summary`, `events`, `history`, `token new`, and
 * from `reinstall`, `power`, `bootdev`, `nodes`, `node`): option parsing shared by all
 * commands, where the daemon's URL and the API token come from, one HTTP helper on libcurl,
 * and the output helpers (aligned tables, local times).
 *
 * Layout: cli.c is the framework and the command table; each group of commands lives in its
 * own cli-<group>.c (cli-read.c: summary/events/history; cli-token.c: token new; cli-ops.c:
 * nodes/node/reinstall/power/bootdev, with cli-roll.c its rolling-reinstall scheduler and
 * cli-sse.c the event-stream parser it shares with cli-read.c) and is
 * listed in cli_commands[] in cli.c.  A command is `int run(Cli *cli, int argc, char **argv)`
 * returning an exit code; it parses its own options with cli_getopt(), which also takes the
 * global options anywhere on the line.
 *
 * Settings, each from the first of: flag, environment, the [cli] section of the config file
 * (--config FILE, else /etc/provd/provd.ini when it exists), default:
 *   URL        --url       $PROVD_URL    url = ...          http://127.0.0.1:8080
 *   API token  --token-file $PROVD_TOKEN token_file = ...   none
 *              ($PROVD_TOKEN holds the token itself; the others name a file holding it)
 *   CA file    --cacert                  cacert = ...       the system's CAs
 * The [serve] section is ignored here except `api_tokens` (the default file of `token new`).
 *
 * Single-threaded; it runs in the `provd` process instead of the daemon and never shares
 * anything with it.  Messages go to stderr as "provd: ...", results to stdout.
 * Exit codes: 0 ok, 1 error from the daemon or the network,
 * 2 usage, 3 not found (unknown node); `reinstall --wait` also 4 (the roll stopped at a gate). */
#pragma once

#include <getopt.h>
#include <signal.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

enum {
        CLI_EXIT_OK = 0,
        CLI_EXIT_ERROR = 1,
        CLI_EXIT_USAGE = 2,
        CLI_EXIT_NOT_FOUND = 3,
        CLI_EXIT_STOPPED = 4, /* reinstall --wait: a node did not pass its gate in time; the roll stopped */
};

#define CLI_DEFAULT_URL "http://127.0.0.1:8080"
#define CLI_DEFAULT_CONFIG "/etc/provd/provd.ini"
#define CLI_CONNECT_TIMEOUT_MS 5000L
#define CLI_REQUEST_TIMEOUT_MS 30000L

typedef struct Cli {
        /* From the command line (borrowed from argv), NULL when not given. */
        const char *opt_url, *opt_token_file, *opt_cacert, *opt_config;
        bool json; /* --json: print the API's JSON instead of tables */

        /* Resolved by cli_load_settings(); owned. */
        char *url;          /* without a trailing '/' */
        char *token;        /* API token text, or NULL */
        char *cacert;       /* CA bundle file, or NULL for the system's */
        char *serve_api_tokens; /* [serve] api_tokens of the config file, or NULL */
        char *cfg_url, *cfg_token_file, *cfg_cacert; /* [cli] of the config file, or NULL */
        bool config_loaded, settings_loaded;

        void *curl; /* CURL *, made on first use and reused (keep-alive across pages) */
        const char *command; /* "summary", ..., for messages */
} Cli;

/* The global options, for a command's getopt table (they may come anywhere on the line):
 * end a command's `struct option[]` with CLI_GLOBAL_OPTIONS, {} and let cli_getopt() do them. */
enum {
        CLI_OPT_URL = 0x1000,
        CLI_OPT_TOKEN_FILE,
        CLI_OPT_JSON,
        CLI_OPT_CONFIG,
        CLI_OPT_CACERT,
        CLI_OPT_HELP,
        CLI_OPT_FIRST_COMMAND_OPTION, /* commands number their own long-only options from here */
};
#define CLI_GLOBAL_OPTIONS                                                                         \
        { "url", required_argument, NULL, CLI_OPT_URL },                                           \
        { "token-file", required_argument, NULL, CLI_OPT_TOKEN_FILE },                             \
        { "json", no_argument, NULL, CLI_OPT_JSON },                                               \
        { "config", required_argument, NULL, CLI_OPT_CONFIG },                                     \
        { "cacert", required_argument, NULL, CLI_OPT_CACERT },                                     \
        { "help", no_argument, NULL, CLI_OPT_HELP }

/* The global options' help lines, for a command's --help. */
#define CLI_GLOBAL_HELP                                                                            \
        "  --url URL          provd's base URL (default: $PROVD_URL, else url= in [cli] of the\n"  \
        "                     config file, else " CLI_DEFAULT_URL ")\n"                          \
        "  --token-file FILE  file holding an API token (default: $PROVD_TOKEN holding the\n"      \
        "                     token itself, else token_file= in [cli])\n"                         \
        "  --cacert FILE      CA certificate(s) to verify an https:// provd with (private CA)\n"   \
        "  --config FILE      INI file with a [cli] section (default " CLI_DEFAULT_CONFIG ")\n"  \
        "  --json             print the API's JSON instead of a table\n"                         \
        "  -h, --help         show this help\n"

/* True if `arg` (argv[1] of provd) starts a client command: a command name or a global option. */
bool cli_is_command(const char *arg);

/* Runs `provd [GLOBAL OPTIONS] COMMAND [ARGS]` (argv[0] is "provd").  Returns the exit code. */
int cli_main(int argc, char **argv);

/* The "Commands:" lines of the client commands, for `provd --help`. */
void cli_usage_commands(FILE *f);

/* Prints "provd COMMAND: MESSAGE" and "Try 'provd COMMAND --help'." on stderr and returns
 * CLI_EXIT_USAGE, for a command's usage errors (COMMAND is cli->command). */
int cli_usage_error(Cli *cli, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* cli_usage_error() about argv[optind] when arguments are left over; else 0. */
int cli_no_more_arguments(Cli *cli, int argc, char **argv);

/* getopt_long() for a command: returns the next command option (as getopt_long does), having
 * handled the global options itself; -1 at the end.  On a usage error it prints a message and
 * returns '?'; on --help it returns 'h' (print the command's help and exit 0). */
int cli_getopt(Cli *cli, int argc, char **argv, const struct option *options);

/* Reads the config file (--config FILE, else /etc/provd/provd.ini if it exists): [cli] url,
 * token_file, cacert (other keys in [cli] are errors) and [serve] api_tokens; the rest of
 * [serve] and other sections belong to `provd serve` and are skipped.  Once; returns 0 or
 * exit code 1 (message printed). */
int cli_load_config(Cli *cli);

/* Resolves URL, token, CA file and [serve] api_tokens as the header says (once; later calls
 * return at once).  Returns 0 or an exit code > 0 (message printed): 2 for a bad --url,
 * 1 for an unreadable config/token file. */
int cli_load_settings(Cli *cli);

/* Sends METHOD URL+path (path starts with '/'; query values escaped with cli_escape()) with
 * an optional JSON body (borrowed), the API token as `Authorization: Bearer`, TLS verified,
 * connect timeout CLI_CONNECT_TIMEOUT_MS and total timeout CLI_REQUEST_TIMEOUT_MS.
 * Returns 0 when an HTTP answer came, with *ret_status its status and *ret_json its parsed
 * body (NULL when not JSON; owned by the caller); ret_json may be NULL.  Returns a negative
 * errno when no answer came, after printing why ("cannot reach provd at URL: Connection
 * refused (is `provd serve` running? set --url or PROVD_URL)", TLS problems, timeouts).
 * Calls cli_load_settings() first (-EINVAL if that fails). */
int cli_request(Cli *cli, const char *method, const char *path, json_t *body, json_t **ret_json,
                long *ret_status);

/* cli_request() plus error handling: 0 with *ret_json for a 2xx JSON answer; otherwise prints
 * "provd: <the error body's message>" (with a hint for 401) and returns -ENOENT for 404,
 * -EACCES for 401/403, -EIO for anything else (also when no answer came). */
int cli_call(Cli *cli, const char *method, const char *path, json_t *body, json_t **ret_json);

/* Prints the error answer of METHOD path (status, parsed body j or NULL) as cli_call() does
 * and returns the same negative errno. */
int cli_api_error(Cli *cli, const char *method, const char *path, long status, const json_t *j);

/* For cli-*.c modules that drive libcurl themselves (the event stream): sets up the shared
 * CURL handle for METHOD URL+path with the common options (no total timeout), appending the
 * Authorization header to *headers; errbuf has CURL_ERROR_SIZE bytes.  Returns the CURL *
 * (owned by cli) or NULL. */
struct curl_slist;
void *cli_curl_setup(Cli *cli, const char *method, const char *path, struct curl_slist **headers, char *errbuf);
/* The same for a CURL * the caller made and owns (handle; e.g. a second transfer in a curl
 * multi handle next to cli_request()'s): resets it and sets it up as cli_curl_setup() does.
 * Calls cli_load_settings() first.  Returns handle, or NULL (settings or out of memory). */
void *cli_curl_setup_handle(Cli *cli, void *handle, const char *method, const char *path, struct curl_slist **headers,
                            char *errbuf);
/* Prints why a transfer failed (code: a CURLcode), as cli_request() does. */
void cli_report_curl_error(Cli *cli, int code, const char *errbuf);

/* Exit code for a cli_call() result: 0 -> 0, else 1 (commands map -ENOENT to 3 themselves
 * where "not found" means an unknown node). */
int cli_exit_code(int r);

/* Parses a decimal option value in 1..max into *ret.  Returns 0 or -EINVAL. */
int cli_parse_count(const char *s, long max, long *ret);

/* Parses a duration: a number of seconds, or numbers with units s, m, h, d ("90", "15m",
 * "1h30m").  Returns 0 with *ret_ms (> 0), or -EINVAL. */
int cli_parse_duration(const char *s, int64_t *ret_ms);

/* Formats ms as cli_parse_duration() reads it ("1h30m", "45m", "1m30s", "8s"; seconds rounded
 * up) into buf.  Returns buf. */
const char *cli_format_duration(int64_t ms, char buf[static 32]);

/* "HH:MM:SS" local time, for progress lines, into buf.  Returns buf. */
const char *cli_clock_now(char buf[static 16]);

/* Sleeps ms milliseconds (a signal may cut it short). */
void cli_sleep_ms(long ms);

/* Prints "Try 'provd COMMAND --help'." on stderr. */
void cli_usage_hint(Cli *cli);

/* The string value of o's member key (borrowed), or NULL when absent or not a string. */
const char *cli_json_str(const json_t *o, const char *key);

/* Appends key=value (value URL-escaped; nothing when value is NULL) to the query *q ("" or
 * "?..."; malloc'd, replaced).  0 or -ENOMEM. */
int cli_add_query(Cli *cli, char **q, const char *key, const char *value);

/* Nodes per GET /v1/nodes page the client asks for (the server's maximum). */
#define CLI_NODES_PAGE 10000

/* GET /v1/nodes with a query ("" or "?..."), following the "next" cursor of each page to the
 * last: 0 and *ret = the nodes of every page as one array (owned), or a negative errno
 * (message printed).  A server that does not page (no "next") answers in one page. */
int cli_get_nodes(Cli *cli, const char *query, json_t **ret);

/* URL-escapes s for a path segment or query value.  Returns a malloc'd string or NULL. */
char *cli_escape(Cli *cli, const char *s);

/* Prints j (compact, as the daemon does) and a newline to stdout. */
void cli_print_json(const json_t *j);

/* Formats an RFC 3339 time from the API as local time "2026-11-23T17:13:00+01:00" into buf
 * (at least 32 bytes); a JSON null gives "-", an unparsable string is copied as is. */
const char *cli_format_time(const json_t *t, char buf[static 32]);

/* Returns a JSON string's text, "-" for null/missing, or a number's text in buf (32 bytes). */
const char *cli_text(const json_t *v, char buf[static 32]);

/* Writes s to f on one line: control characters as \n, \t, \r or \xHH. */
void cli_fputs_oneline(const char *s, FILE *f);

/* A table: rows of cells, printed with columns aligned, two spaces apart, the last column not
 * padded.  Cells are copied. */
typedef struct CliTable CliTable;
CliTable *cli_table_new(size_t n_columns);
/* Appends a row of n_columns cells (NULL = "-").  Returns 0 or -ENOMEM. */
int cli_table_add(CliTable *t, const char *const *cells);
/* Prints the table; cells of the last column through cli_fputs_oneline(). */
void cli_table_print(const CliTable *t, FILE *f);
void cli_table_free(CliTable *t);
static inline void cli_table_freep(CliTable **t) {
        cli_table_free(*t);
}

/* A table for history entries (GET /v1/nodes/{name}/history; `provd history`, `provd node`)
 * with its header row TIME  TRANSITION  CAUSE  ATTEMPT  MESSAGE (cli-read.c).  Returns NULL
 * when out of memory. */
CliTable *cli_history_table_new(void);
/* Appends one history entry e (borrowed) as a row, its time in local time.  Returns 0 or
 * -ENOMEM. */
int cli_history_table_add(CliTable *t, const json_t *e);

/* Set by SIGINT/SIGTERM once cli_catch_signals() ran; long-running commands poll it. */
extern volatile sig_atomic_t cli_interrupted;
/* Installs SIGINT/SIGTERM handlers that set cli_interrupted (no SA_RESTART). */
void cli_catch_signals(void);

/* The commands (cli-read.c, cli-token.c, cli-ops.c). */
int cli_summary(Cli *cli, int argc, char **argv);
int cli_events(Cli *cli, int argc, char **argv);
int cli_history(Cli *cli, int argc, char **argv);
int cli_token(Cli *cli, int argc, char **argv);
int cli_nodes(Cli *cli, int argc, char **argv);
int cli_node(Cli *cli, int argc, char **argv);
int cli_reinstall(Cli *cli, int argc, char **argv);
int cli_power(Cli *cli, int argc, char **argv);
int cli_reboot(Cli *cli, int argc, char **argv);
int cli_bootdev(Cli *cli, int argc, char **argv);
/* discovery (cli-discovered.c): `provd discovered [--json|--nix]`, `provd discovered forget MAC...` */
int cli_discovered(Cli *cli, int argc, char **argv);
/* console capture (cli-console.c) */
int cli_console(Cli *cli, int argc, char **argv);
/* DHCP front end (cli-dhcp-config.c): `provd dhcp-config --dnsmasq ...` */
int cli_dhcp_config(Cli *cli, int argc, char **argv);
