/* cli.c — see cli.h: the client commands' framework (options, settings, HTTP, output). */
#include "cli.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <ini.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "apitoken.h"
#include "provd-config.h"
#include "util.h"

#define CLI_BODY_MAX (64u * 1024 * 1024)

typedef struct CliCommand {
        const char *name;
        int (*run)(Cli *cli, int argc, char **argv);
        const char *summary; /* for `provd --help` */
} CliCommand;

static const CliCommand cli_commands[] = {
        { "summary", cli_summary, "node counts per provision state" },
        { "events", cli_events, "recent state changes across the cluster; --follow streams them" },
        { "history", cli_history, "one node's state changes, newest first" },
        { "token", cli_token, "`token new --name NAME`: create an API token (local, no daemon)" },
        { "nodes", cli_nodes, "the nodes and their provision state; --state, --name, --rack filter" },
        { "node", cli_node, "one node: state, attempt, MACs, BMC, system, recent history" },
        { "reinstall", cli_reinstall, "reinstall nodes (names, globs, --all); --parallel N rolls, health-gated, --before/--after" },
        { "reboot", cli_reboot, "reboot stateless nodes through their BMC (boot device PXE, power cycle)" },
        { "power", cli_power, "BMC power: on, off, cycle, reset, soft, status" },
        { "bootdev", cli_bootdev, "BMC boot device: pxe, disk, bios" },
        /* discovery */
        { "discovered", cli_discovered, "PXE clients not in the inventory; --nix for the node list; forget MAC" },
        /* console capture */
        { "console", cli_console, "a node's serial console log; --follow, --attempt N, --start/--stop" },
        /* DHCP front end */
        { "dhcp-config", cli_dhcp_config, "--dnsmasq: a ProxyDHCP + TFTP dnsmasq config for provd (local, no daemon)" },
};

static const struct option global_options[] = { CLI_GLOBAL_OPTIONS, {} };

volatile sig_atomic_t cli_interrupted = 0;

static void on_signal(int sig) {
        cli_interrupted = sig;
}

void cli_catch_signals(void) {
        struct sigaction sa = { .sa_handler = on_signal };
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
}

bool cli_is_command(const char *arg) {
        for (size_t i = 0; i < ELEMENTSOF(cli_commands); i++)
                if (streq(arg, cli_commands[i].name))
                        return true;
        if (!startswith(arg, "--"))
                return false;
        for (const struct option *o = global_options; o->name; o++) {
                size_t n = strlen(o->name);
                if (o->val != CLI_OPT_HELP && strncmp(arg + 2, o->name, n) == 0 && (arg[2 + n] == '\0' || arg[2 + n] == '='))
                        return true;
        }
        return false;
}

void cli_usage_commands(FILE *f) {
        for (size_t i = 0; i < ELEMENTSOF(cli_commands); i++)
                fprintf(f, "  %-10s  %s\n", cli_commands[i].name, cli_commands[i].summary);
}

/* Handles a global option; false if c is not one. */
static bool global_option(Cli *cli, int c, const char *arg) {
        switch (c) {
        case CLI_OPT_URL:
                cli->opt_url = arg;
                return true;
        case CLI_OPT_TOKEN_FILE:
                cli->opt_token_file = arg;
                return true;
        case CLI_OPT_JSON:
                cli->json = true;
                return true;
        case CLI_OPT_CONFIG:
                cli->opt_config = arg;
                return true;
        case CLI_OPT_CACERT:
                cli->opt_cacert = arg;
                return true;
        default:
                return false;
        }
}

static int getopt_common(Cli *cli, int argc, char **argv, const char *shortopts, const struct option *options) {
        for (;;) {
                int c = getopt_long(argc, argv, shortopts, options, NULL);
                if (global_option(cli, c, optarg))
                        continue;
                if (c == 'h' || c == CLI_OPT_HELP)
                        return 'h';
                if (c == '?' || c == ':') {
                        const char *bad = argv[optind - 1], *sp = *cli->command ? " " : "";
                        if (c == ':')
                                fprintf(stderr, "provd%s%s: option %s needs a value\n", sp, cli->command, bad);
                        else if (optopt && optopt < 0x100)
                                fprintf(stderr, "provd%s%s: unknown option -%c\n", sp, cli->command, optopt);
                        else
                                fprintf(stderr, "provd%s%s: unknown option %s\n", sp, cli->command, bad);
                        fprintf(stderr, "Try 'provd%s%s --help'.\n", sp, cli->command);
                        return '?';
                }
                return c;
        }
}

int cli_getopt(Cli *cli, int argc, char **argv, const struct option *options) {
        opterr = 0;
        return getopt_common(cli, argc, argv, ":h", options);
}

/* ---- settings ---------------------------------------------------------------------------- */

typedef struct IniCtx {
        Cli *cli;
        const char *path;
        char *url, *token_file, *cacert, *api_tokens;
        int error;
} IniCtx;

static int set_dup(char **field, const char *value) {
        char *s = strdup(value);
        if (!s)
                return -ENOMEM;
        free(*field);
        *field = s;
        return 0;
}

static int on_ini(void *user, const char *section, const char *name, const char *value) {
        IniCtx *ctx = user;
        int r = 0;
        if (streq(section, "cli")) {
                if (streq(name, "url"))
                        r = set_dup(&ctx->url, value);
                else if (streq(name, "token_file"))
                        r = set_dup(&ctx->token_file, value);
                else if (streq(name, "cacert"))
                        r = set_dup(&ctx->cacert, value);
                else {
                        fprintf(stderr, "provd: %s: unknown key \"%s\" in [cli] (known: url, token_file, cacert)\n",
                                ctx->path, name);
                        r = -EINVAL;
                }
        } else if (streq(section, "serve") && streq(name, "api_tokens"))
                r = set_dup(&ctx->api_tokens, value);
        /* Everything else belongs to `provd serve`, which checks it. */
        if (r < 0 && !ctx->error)
                ctx->error = r;
        return r < 0 ? 0 : 1;
}

/* Reads a token file: one API token, surrounding whitespace ignored. */
static int read_token_file(const char *path, char **ret) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        char buf[256];
        ssize_t n = read(fd, buf, sizeof buf - 1);
        if (n < 0)
                return -errno;
        buf[n] = '\0';
        char *s = buf + strspn(buf, " \t\r\n");
        s[strcspn(s, " \t\r\n")] = '\0';
        if (!apitoken_is_api_form(s))
                return -EBADMSG;
        char *t = strdup(s);
        explicit_bzero(buf, sizeof buf);
        if (!t)
                return -ENOMEM;
        *ret = t;
        return 0;
}

int cli_load_config(Cli *cli) {
        if (cli->config_loaded)
                return 0;
        const char *config = cli->opt_config ? cli->opt_config : CLI_DEFAULT_CONFIG;
        IniCtx ctx = { .cli = cli, .path = config };
        int r = 0;
        if (cli->opt_config || access(config, F_OK) == 0) {
                errno = 0;
                r = ini_parse(config, on_ini, &ctx);
                if (r == -1 && !cli->opt_config && errno == EACCES) {
                        /* e.g. a root-only /etc/provd/provd.ini and a user with --url */
                        fprintf(stderr, "provd: warning: cannot read %s: %s; going on without it\n", config, strerror(errno));
                        r = 0;
                } else if (r == -1)
                        fprintf(stderr, "provd: cannot read config file %s: %s\n", config, strerror(errno ? errno : ENOENT));
                else if (r == -2)
                        fprintf(stderr, "provd: out of memory\n");
                else if (r > 0 && !ctx.error)
                        fprintf(stderr, "provd: %s:%d: syntax error\n", config, r);
                else if (ctx.error == -ENOMEM)
                        fprintf(stderr, "provd: out of memory\n");
        }
        if (r != 0 || ctx.error < 0) {
                free(ctx.url);
                free(ctx.token_file);
                free(ctx.cacert);
                free(ctx.api_tokens);
                return CLI_EXIT_ERROR;
        }
        cli->cfg_url = ctx.url;
        cli->cfg_token_file = ctx.token_file;
        cli->cfg_cacert = ctx.cacert;
        cli->serve_api_tokens = ctx.api_tokens;
        cli->config_loaded = true;
        return 0;
}

int cli_load_settings(Cli *cli) {
        if (cli->settings_loaded)
                return 0;
        int r = cli_load_config(cli);
        if (r != 0)
                return r;
        const char *cfg_url = cli->cfg_url, *cfg_token_file = cli->cfg_token_file, *cfg_cacert = cli->cfg_cacert;

        const char *url = cli->opt_url ? cli->opt_url : getenv("PROVD_URL");
        const char *url_src = cli->opt_url ? "--url" : "PROVD_URL";
        if (!url || !*url) {
                url = cfg_url ? cfg_url : CLI_DEFAULT_URL;
                url_src = "url in [cli]";
        }
        if (!startswith(url, "http://") && !startswith(url, "https://")) {
                fprintf(stderr, "provd: %s \"%s\": must start with http:// or https://\n", url_src, url);
                return CLI_EXIT_USAGE;
        }
        cli->url = strdup(url);
        if (!cli->url)
                return CLI_EXIT_ERROR;
        for (size_t n = strlen(cli->url); n > 0 && cli->url[n - 1] == '/'; n--)
                cli->url[n - 1] = '\0';

        const char *cacert = cli->opt_cacert ? cli->opt_cacert : cfg_cacert;
        if (cacert) {
                if (access(cacert, R_OK) < 0) {
                        fprintf(stderr, "provd: cannot read CA file %s: %s\n", cacert, strerror(errno));
                        return CLI_EXIT_ERROR;
                }
                cli->cacert = strdup(cacert);
                if (!cli->cacert)
                        return CLI_EXIT_ERROR;
        }

        const char *env_token = getenv("PROVD_TOKEN");
        const char *token_file = cli->opt_token_file;
        if (!token_file && env_token && *env_token) {
                if (!apitoken_is_api_form(env_token)) {
                        fprintf(stderr, "provd: PROVD_TOKEN is not an API token (pvd_ followed by 43 characters)\n");
                        return CLI_EXIT_ERROR;
                }
                cli->token = strdup(env_token);
                if (!cli->token)
                        return CLI_EXIT_ERROR;
        } else {
                if (!token_file)
                        token_file = cfg_token_file;
                if (token_file) {
                        r = read_token_file(token_file, &cli->token);
                        if (r == -EBADMSG) {
                                fprintf(stderr, "provd: %s does not hold an API token (pvd_ followed by 43 characters)\n",
                                        token_file);
                                return CLI_EXIT_ERROR;
                        }
                        if (r < 0) {
                                fprintf(stderr, "provd: cannot read token file %s: %s\n", token_file, strerror(-r));
                                return CLI_EXIT_ERROR;
                        }
                }
        }
        cli->settings_loaded = true;
        return 0;
}

/* ---- HTTP -------------------------------------------------------------------------------- */

typedef struct Buffer {
        char *data;
        size_t len, cap;
        bool too_big;
} Buffer;

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *user) {
        Buffer *b = user;
        size_t n = size * nmemb;
        if (b->len + n + 1 > CLI_BODY_MAX) {
                b->too_big = true;
                return 0;
        }
        if (b->len + n + 1 > b->cap) {
                size_t cap = b->cap ? b->cap : 16384;
                while (cap < b->len + n + 1)
                        cap *= 2;
                char *d = realloc(b->data, cap);
                if (!d)
                        return 0;
                b->data = d;
                b->cap = cap;
        }
        memcpy(b->data + b->len, ptr, n);
        b->len += n;
        b->data[b->len] = '\0';
        return n;
}

static void *curl_setup(Cli *cli, CURL *c, const char *method, const char *path, struct curl_slist **headers,
                        char *errbuf);

/* cli->curl, made on first use; NULL when out of memory. */
static CURL *shared_handle(Cli *cli) {
        if (!cli->curl)
                cli->curl = curl_easy_init();
        return cli->curl;
}

void *cli_curl_setup(Cli *cli, const char *method, const char *path, struct curl_slist **headers, char *errbuf) {
        CURL *c = shared_handle(cli);
        if (!c)
                return NULL;
        curl_easy_reset(c);
        return curl_setup(cli, c, method, path, headers, errbuf);
}

void *cli_curl_setup_handle(Cli *cli, void *handle, const char *method, const char *path, struct curl_slist **headers,
                            char *errbuf) {
        if (cli_load_settings(cli) != 0)
                return NULL;
        curl_easy_reset(handle);
        return curl_setup(cli, handle, method, path, headers, errbuf);
}

static void *curl_setup(Cli *cli, CURL *c, const char *method, const char *path, struct curl_slist **headers,
                        char *errbuf) {
        _cleanup_free_ char *url = NULL;
        if (asprintf(&url, "%s%s", cli->url, path) < 0)
                return NULL;
        curl_easy_setopt(c, CURLOPT_URL, url); /* libcurl copies it */
#if LIBCURL_VERSION_NUM >= 0x075500
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#else
        curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long) (CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, CLI_CONNECT_TIMEOUT_MS);
        curl_easy_setopt(c, CURLOPT_USERAGENT, "provd/" PROVD_VERSION);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
        if (cli->cacert)
                curl_easy_setopt(c, CURLOPT_CAINFO, cli->cacert);
        if (streq(method, "GET"))
                curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
        else if (streq(method, "HEAD"))
                curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
        else
                curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        if (cli->token) {
                _cleanup_free_ char *auth = NULL;
                if (asprintf(&auth, "Authorization: Bearer %s", cli->token) < 0)
                        return NULL;
                struct curl_slist *h = curl_slist_append(*headers, auth);
                explicit_bzero(auth, strlen(auth));
                if (!h)
                        return NULL;
                *headers = h;
        }
        return c;
}

void cli_report_curl_error(Cli *cli, int code, const char *errbuf) {
        CURL *c = cli->curl;
        long os_errno = 0;
        curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &os_errno);
        const char *detail = errbuf && *errbuf ? errbuf : curl_easy_strerror((CURLcode) code);
        switch (code) {
        case CURLE_COULDNT_CONNECT:
                fprintf(stderr, "provd: cannot reach provd at %s: %s (is `provd serve` running? set --url or PROVD_URL)\n",
                        cli->url, os_errno ? strerror((int) os_errno) : detail);
                break;
        case CURLE_COULDNT_RESOLVE_HOST:
                fprintf(stderr, "provd: cannot reach provd at %s: cannot resolve the host name (set --url or PROVD_URL)\n",
                        cli->url);
                break;
        case CURLE_OPERATION_TIMEDOUT:
                fprintf(stderr, "provd: provd at %s did not answer in time: %s\n", cli->url, detail);
                break;
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_SSL_CERTPROBLEM:
                fprintf(stderr, "provd: TLS with provd at %s failed: %s (for a private CA, pass --cacert FILE)\n", cli->url,
                        detail);
                break;
        case CURLE_GOT_NOTHING:
        case CURLE_RECV_ERROR:
        case CURLE_SEND_ERROR:
                fprintf(stderr, "provd: connection to provd at %s broke: %s\n", cli->url, detail);
                break;
        default:
                fprintf(stderr, "provd: request to provd at %s failed: %s\n", cli->url, detail);
        }
}

int cli_request(Cli *cli, const char *method, const char *path, json_t *body, json_t **ret_json, long *ret_status) {
        if (cli_load_settings(cli) != 0)
                return -EINVAL;
        char errbuf[CURL_ERROR_SIZE] = "";
        struct curl_slist *headers = curl_slist_append(NULL, "Accept: application/json");
        _cleanup_free_ char *payload = NULL;
        _cleanup_free_ char *data = NULL;
        Buffer b = { 0 };
        if (!headers)
                return -ENOMEM;
        CURL *c = cli_curl_setup(cli, method, path, &headers, errbuf);
        if (!c) {
                curl_slist_free_all(headers);
                fprintf(stderr, "provd: cannot set up the HTTP request\n");
                return -ENOMEM;
        }
        if (body) {
                payload = json_dumps(body, JSON_COMPACT);
                struct curl_slist *h = payload ? curl_slist_append(headers, "Content-Type: application/json") : NULL;
                if (!h) {
                        curl_slist_free_all(headers);
                        return -ENOMEM;
                }
                headers = h;
                curl_easy_setopt(c, CURLOPT_POSTFIELDS, payload);
                curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long) strlen(payload));
        } else if (!streq(method, "GET") && !streq(method, "HEAD")) {
                curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
                curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
        }
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, CLI_REQUEST_TIMEOUT_MS);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);

        CURLcode cc = curl_easy_perform(c);
        curl_slist_free_all(headers);
        data = b.data;
        if (cc != CURLE_OK) {
                if (b.too_big)
                        fprintf(stderr, "provd: the answer from %s%s is larger than %u bytes\n", cli->url, path, CLI_BODY_MAX);
                else
                        cli_report_curl_error(cli, cc, errbuf);
                return -EIO;
        }
        long status = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        if (ret_json)
                *ret_json = data ? json_loadb(data, b.len, 0, NULL) : NULL;
        *ret_status = status;
        return 0;
}

int cli_call(Cli *cli, const char *method, const char *path, json_t *body, json_t **ret_json) {
        _cleanup_(json_decrefp) json_t *j = NULL;
        long status = 0;
        int r = cli_request(cli, method, path, body, &j, &status);
        if (r < 0)
                return -EIO;
        if (status >= 200 && status < 300) {
                if (!j) {
                        fprintf(stderr, "provd: %s %s%s: the answer (HTTP %ld) is not JSON\n", method, cli->url, path, status);
                        return -EIO;
                }
                *ret_json = TAKE_PTR(j);
                return 0;
        }
        return cli_api_error(cli, method, path, status, j);
}

int cli_api_error(Cli *cli, const char *method, const char *path, long status, const json_t *j) {
        const char *msg = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
        if (msg) {
                fputs("provd: ", stderr);
                cli_fputs_oneline(msg, stderr);
                fputc('\n', stderr);
        } else
                fprintf(stderr, "provd: %s %s%s: HTTP %ld\n", method, cli->url, path, status);
        if (status == 401 && !cli->token)
                fprintf(stderr, "provd: this needs an API token: pass --token-file FILE, set PROVD_TOKEN, or token_file= in [cli] "
                                "(`provd token new` makes one)\n");
        return status == 404 ? -ENOENT : status == 401 || status == 403 ? -EACCES : -EIO;
}

int cli_usage_error(Cli *cli, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "provd %s: ", cli->command);
        vfprintf(stderr, fmt, ap);
        fprintf(stderr, "\nTry 'provd %s --help'.\n", cli->command);
        va_end(ap);
        return CLI_EXIT_USAGE;
}

int cli_no_more_arguments(Cli *cli, int argc, char **argv) {
        return optind < argc ? cli_usage_error(cli, "unexpected argument \"%s\"", argv[optind]) : 0;
}

int cli_parse_count(const char *s, long max, long *ret) {
        int64_t v;
        int r = parse_int64(s, 1, max, &v);
        if (r < 0)
                return r;
        *ret = (long) v;
        return 0;
}

int cli_exit_code(int r) {
        return r >= 0 ? CLI_EXIT_OK : CLI_EXIT_ERROR;
}

char *cli_escape(Cli *cli, const char *s) {
        CURL *c = shared_handle(cli);
        if (!c)
                return NULL;
        char *e = curl_easy_escape(c, s, 0);
        if (!e)
                return NULL;
        char *r = strdup(e);
        curl_free(e);
        return r;
}

/* ---- output ------------------------------------------------------------------------------ */

void cli_print_json(const json_t *j) {
        json_dumpf(j, stdout, JSON_COMPACT);
        fputc('\n', stdout);
}

const char *cli_format_time(const json_t *t, char buf[static 32]) {
        const char *s = json_string_value(t);
        if (!s)
                return strcpy(buf, "-");
        struct tm tm = { 0 };
        const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
        long offset = 0;
        if (p && *p == '.')
                for (p++; *p >= '0' && *p <= '9'; p++)
                        ;
        if (p && (*p == 'Z' || *p == 'z') && p[1] == '\0')
                offset = 0;
        else if (p && (*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
                int hh = 0, mm = 0;
                if (sscanf(p + 1, "%2d:%2d", &hh, &mm) != 2)
                        p = NULL;
                else
                        offset = (*p == '-' ? -1 : 1) * (hh * 3600L + mm * 60L);
        } else
                p = NULL;
        if (!p) {
                snprintf(buf, 32, "%s", s);
                return buf;
        }
        time_t when = timegm(&tm) - offset;
        struct tm local;
        localtime_r(&when, &local);
        char zone[8];
        strftime(zone, sizeof zone, "%z", &local); /* +0100 */
        size_t n = strftime(buf, 32, "%Y-%m-%dT%H:%M:%S", &local);
        snprintf(buf + n, 32 - n, "%.3s:%.2s", zone, zone + 3);
        return buf;
}

const char *cli_text(const json_t *v, char buf[static 32]) {
        if (json_is_string(v))
                return json_string_value(v);
        if (json_is_integer(v)) {
                snprintf(buf, 32, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
                return buf;
        }
        if (json_is_true(v))
                return "true";
        if (json_is_false(v))
                return "false";
        return "-";
}

void cli_fputs_oneline(const char *s, FILE *f) {
        for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
                if (*p == '\n')
                        fputs("\\n", f);
                else if (*p == '\t')
                        fputs("\\t", f);
                else if (*p == '\r')
                        fputs("\\r", f);
                else if (*p < 0x20 || *p == 0x7f)
                        fprintf(f, "\\x%02x", *p);
                else
                        fputc(*p, f);
        }
}

struct CliTable {
        size_t n_columns, n_rows, cap;
        char **cells; /* n_rows * n_columns */
};

CliTable *cli_table_new(size_t n_columns) {
        CliTable *t = calloc(1, sizeof *t);
        if (t)
                t->n_columns = n_columns;
        return t;
}

int cli_table_add(CliTable *t, const char *const *cells) {
        if (t->n_rows == t->cap) {
                size_t cap = t->cap ? t->cap * 2 : 16;
                char **c = reallocarray(t->cells, cap * t->n_columns, sizeof *c);
                if (!c)
                        return -ENOMEM;
                t->cells = c;
                t->cap = cap;
        }
        char **row = t->cells + t->n_rows * t->n_columns;
        for (size_t i = 0; i < t->n_columns; i++) {
                row[i] = strdup(cells[i] ? cells[i] : "-");
                if (!row[i]) {
                        while (i > 0)
                                free(row[--i]);
                        return -ENOMEM;
                }
        }
        t->n_rows++;
        return 0;
}

/* Display width of a UTF-8 string (code points; good enough for names and states). */
static size_t display_width(const char *s) {
        size_t w = 0;
        for (; *s; s++)
                if (((unsigned char) *s & 0xc0) != 0x80)
                        w++;
        return w;
}

void cli_table_print(const CliTable *t, FILE *f) {
        size_t width[16] = { 0 };
        size_t nc = t->n_columns < ELEMENTSOF(width) ? t->n_columns : ELEMENTSOF(width);
        for (size_t r = 0; r < t->n_rows; r++)
                for (size_t c = 0; c + 1 < nc; c++) {
                        size_t w = display_width(t->cells[r * t->n_columns + c]);
                        if (w > width[c])
                                width[c] = w;
                }
        for (size_t r = 0; r < t->n_rows; r++) {
                for (size_t c = 0; c < t->n_columns; c++) {
                        const char *cell = t->cells[r * t->n_columns + c];
                        if (c + 1 == t->n_columns) {
                                cli_fputs_oneline(cell, f);
                                break;
                        }
                        fputs(cell, f);
                        if (c + 2 == t->n_columns && !*t->cells[r * t->n_columns + c + 1])
                                break; /* no padding before an empty last cell */
                        if (c < nc)
                                fprintf(f, "%*s", (int) (width[c] - display_width(cell) + 2), "");
                }
                fputc('\n', f);
        }
}

void cli_table_free(CliTable *t) {
        if (!t)
                return;
        for (size_t i = 0; i < t->n_rows * t->n_columns; i++)
                free(t->cells[i]);
        free(t->cells);
        free(t);
}

/* ---- main -------------------------------------------------------------------------------- */

static void usage(FILE *f) {
        fprintf(f, "Usage: provd [--url URL] [--token-file FILE] [--json] COMMAND [ARGS]\n\nCommands:\n");
        cli_usage_commands(f);
        fprintf(f, "\nGlobal options (also accepted after COMMAND):\n" CLI_GLOBAL_HELP
                   "\n`provd COMMAND --help` describes each command.\n"
                   "Exit status: 0 ok, 1 error from provd or the network, 2 usage, 3 not found.\n");
}

int cli_main(int argc, char **argv) {
        Cli cli = { .command = "" };
        int r;

        opterr = 0;
        optind = 0;
        r = getopt_common(&cli, argc, argv, "+:h", global_options);
        if (r == 'h') {
                usage(stdout);
                return CLI_EXIT_OK;
        }
        if (r != -1) {
                if (r != '?')
                        fprintf(stderr, "Try 'provd --help'.\n");
                return CLI_EXIT_USAGE;
        }
        if (optind >= argc) {
                fprintf(stderr, "provd: missing COMMAND\n\n");
                usage(stderr);
                return CLI_EXIT_USAGE;
        }
        const CliCommand *cmd = NULL;
        for (size_t i = 0; i < ELEMENTSOF(cli_commands); i++)
                if (streq(argv[optind], cli_commands[i].name))
                        cmd = &cli_commands[i];
        if (!cmd) {
                fprintf(stderr, "provd: unknown command \"%s\"\nTry 'provd --help'.\n", argv[optind]);
                return CLI_EXIT_USAGE;
        }
        cli.command = cmd->name;

        if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
                fprintf(stderr, "provd: cannot initialise libcurl\n");
                return CLI_EXIT_ERROR;
        }
        int sub_argc = argc - optind;
        char **sub_argv = argv + optind;
        optind = 0;
        r = cmd->run(&cli, sub_argc, sub_argv);

        if (cli.curl)
                curl_easy_cleanup(cli.curl);
        curl_global_cleanup();
        if (cli.token)
                explicit_bzero(cli.token, strlen(cli.token));
        free(cli.token);
        free(cli.url);
        free(cli.cacert);
        free(cli.serve_api_tokens);
        free(cli.cfg_url);
        free(cli.cfg_token_file);
        free(cli.cfg_cacert);
        if (fflush(stdout) != 0 || ferror(stdout)) {
                fprintf(stderr, "provd: cannot write the output: %s\n", strerror(errno));
                return r ? r : CLI_EXIT_ERROR;
        }
        return r;
}

void cli_sleep_ms(long ms) {
        nanosleep(&(struct timespec) { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L }, NULL);
}

/* Parses a duration: a number of seconds, or numbers with units s, m, h, d ("90", "15m",
 * "1h30m").  Returns 0 with *ret_ms (> 0), or -EINVAL. */
int cli_parse_duration(const char *s, int64_t *ret_ms) {
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

/* Formats ms as cli_parse_duration() reads it: "1h30m", "45m", "1m30s", "8s" (seconds rounded up). */
const char *cli_format_duration(int64_t ms, char buf[static 32]) {
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

void cli_usage_hint(Cli *cli) {
        fprintf(stderr, "Try 'provd %s --help'.\n", cli->command);
}

/* "HH:MM:SS" local time, for progress lines. */
const char *cli_clock_now(char buf[static 16]) {
        time_t t = time(NULL);
        struct tm tm;
        localtime_r(&t, &tm);
        strftime(buf, 16, "%H:%M:%S", &tm);
        return buf;
}

const char *cli_json_str(const json_t *o, const char *key) {
        return json_string_value(json_object_get(o, key));
}

/* Appends key=value (value URL-escaped; nothing when value is NULL) to the query *q ("" or
 * "?..."; malloc'd, replaced).  Returns 0 or -ENOMEM. */
int cli_add_query(Cli *cli, char **q, const char *key, const char *value) {
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

/* GET /v1/nodes with an optional query ("" or "?..."), every page: the answer is paged (its
 * "next" is the cursor of the next page, null or absent on the last); *ret = the nodes of all
 * pages, in the server's (name) order (owned). */
int cli_get_nodes(Cli *cli, const char *query, json_t **ret) {
        _cleanup_(json_decrefp) json_t *all = json_array();
        _cleanup_free_ char *cursor = NULL;
        if (!all)
                return -ENOMEM;
        for (;;) {
                _cleanup_free_ char *path = NULL, *esc = cursor ? cli_escape(cli, cursor) : NULL;
                if ((cursor && !esc) || asprintf(&path, "/v1/nodes%s%slimit=%d%s%s", query, query[0] ? "&" : "?",
                                                 CLI_NODES_PAGE, esc ? "&cursor=" : "", esc ? esc : "") < 0)
                        return -ENOMEM;
                _cleanup_(json_decrefp) json_t *j = NULL;
                int r = cli_call(cli, "GET", path, NULL, &j);
                if (r < 0)
                        return r;
                json_t *nodes = json_object_get(j, "nodes"), *next = json_object_get(j, "next");
                if (!json_is_array(nodes) || (next && !json_is_null(next) && !json_is_string(next))) {
                        fprintf(stderr, "provd: GET %s: no \"nodes\" array or a bad \"next\" in the answer\n", path);
                        return -EIO;
                }
                if (json_array_extend(all, nodes) < 0)
                        return -ENOMEM;
                free(cursor);
                cursor = NULL;
                if (!json_is_string(next))
                        break;
                if (json_array_size(nodes) == 0) {
                        fprintf(stderr, "provd: GET %s: an empty page with a next page\n", path);
                        return -EIO;
                }
                if (!(cursor = strdup(json_string_value(next))))
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(all);
        return 0;
}
