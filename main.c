/* main.c — the `provd` command: subcommand dispatch and `provd serve`'s options and config
 * file; the daemon itself (start-up, signals, shutdown) is server.c's.  Only main() exits. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "log.h"
#include "provd-config.h"
#include "server.h"
#include "store-import.h"
#include "store.h"
#include "util.h"

#define EXIT_USAGE 2

static void usage_main(FILE *f) {
        fprintf(f,
                "Usage: provd COMMAND [OPTIONS]\n"
                "\n"
                "PXE netboot provisioning for NixOS clusters.\n"
                "\n"
                "Commands:\n"
                "  serve       run the daemon (pixiecore boot API, iPXE scripts, boot files,\n"
                "              provision state, installer callbacks, discovery)\n"
                "  db          the state database: migrate, import-sqlite (`provd db --help`)\n"
                "  help        show this help\n"
                "\n"
                "Client commands (talk to a running provd over HTTP; `provd COMMAND --help`):\n");
        cli_usage_commands(f);
        fprintf(f,
                "\n"
                "Options:\n"
                "  -h, --help     show this help\n"
                "  --version      print the version\n"
                "\n"
                "`provd serve --help` lists the daemon's options.\n"
                "Client options: provd [--url URL] [--token-file FILE] [--json] COMMAND (`provd summary --help`).\n");
}

static void usage_serve(FILE *f) {
        fprintf(f,
                "Usage: provd serve --inventory FILE [--state-dir DIR] [--state-url URL]\n"
                "                   [--listen ADDR:PORT]\n"
                "                   [--public-url URL] [--config FILE] [--threads N]\n"
                "                   [--log-level LEVEL] [--api-tokens FILE] [--read-auth MODE]\n"
                "                   [--tls-cert FILE --tls-key FILE] [--bmc-workers N]\n"
                "                   [--bmc-timeout SECS] [--bmc-retries N] [--install-deadline SECS]\n"
                "                   [--boot-deadline SECS]\n"
                "                   [--discovery-interface IFACE] [--discovery-max N]\n"
                "                   [--console-max-size BYTES] [--console-keep N]\n"
                "                   [--console-linger SECS] [--ipmitool PATH] [--ipxe-efi FILE]\n"
                "                   [--report-silent-after SECS]\n"
                "                   [--max-connections N] [--max-connections-per-client N]\n"
                "                   [--header-timeout SECS] [--header-min-rate BYTES_PER_S]\n"
                "                   [--max-transfers N]\n"
                "                   [--instance-name NAME] [--shared-key-file FILE] [--bmc-racks R1,R2]\n"
                "\n"
                "Runs the provisioning daemon.\n"
                "\n"
                "  --inventory FILE    inventory JSON (api/inventory.schema.json); re-read on SIGHUP,\n"
                "                      a broken file keeps the current inventory\n"
                "  --state-dir DIR     where the SQLite state lives (provd.db); created if missing\n"
                "                      (default /var/lib/provd); with --state-url it holds only\n"
                "                      the lock file that keeps a second provd off it\n"
                "  --state-url URL     keep the state in PostgreSQL instead, e.g.\n"
                "                      postgresql://provd@db.example/provd or\n"
                "                      postgresql:///provd?host=/run/postgresql (a libpq URI);\n"
                "                      several provd instances may share one database; the schema\n"
                "                      is created or migrated at start; sqlite: or unset: SQLite\n"
                "  --listen ADDR:PORT  address to serve HTTP on, e.g. 0.0.0.0:8080, [::]:8080,\n"
                "                      127.0.0.1:0 (0 = any free port) (default 127.0.0.1:8080)\n"
                "  --public-url URL    base URL nodes reach provd at, used in kernel/initrd URLs\n"
                "                      and in the installer's provd.url (default: from --listen;\n"
                "                      the host name for a wildcard address)\n"
                "  --config FILE       INI file with a [serve] section of the same keys\n"
                "                      (state_dir, public_url, ...); flags override it\n"
                "  --threads N         HTTP worker threads (default 0 = one per core, at least 2)\n"
                "  --log-level LEVEL   error, warning, info (default) or debug\n"
                "  --api-tokens FILE   API tokens file (`provd token new` writes it); admin routes\n"
                "                      need one of its tokens (default: the systemd credential\n"
                "                      $CREDENTIALS_DIRECTORY/api-tokens if present, else none)\n"
                "  --read-auth MODE    open (default): anyone may read node state, events and\n"
                "                      metrics; token: reads need an API token too\n"
                "  --tls-cert FILE     serve HTTPS with this PEM certificate (chain) ...\n"
                "  --tls-key FILE      ... and this PEM private key\n"
                "  --bmc-workers N     BMC (IPMI) commands in flight at once, at most one per BMC\n"
                "                      (default 16)\n"
                "  --bmc-timeout SECS  timeout of one BMC command attempt (default 10)\n"
                "  --bmc-retries N     extra attempts after a BMC timeout (default 2)\n"
                "  --install-deadline SECS\n"
                "                      an install attempt not finished after this fails with\n"
                "                      cause timeout (default 3600; 0 = no deadline)\n"
                "  --boot-deadline SECS\n"
                "                      a stateless node's boot not reported running after this\n"
                "                      fails with cause timeout (default 600; 0 = no deadline)\n"
                "  --discovery-interface IFACE\n"
                "                      record PXE clients not in the inventory from the DHCP\n"
                "                      packets they broadcast on IFACE (libpcap; needs\n"
                "                      CAP_NET_RAW); `provd discovered` lists them (default: off)\n"
                "  --discovery-max N   unknown MACs kept at most (default 4096)\n"
                "  --console-max-size BYTES\n"
                "                      size cap of one console log (SOL capture), K/M/G suffixes\n"
                "                      (default 16M)\n"
                "  --console-keep N    console logs kept per node (default 10; 0 = all)\n"
                "  --console-linger SECS\n"
                "                      console capture after an install attempt ends (default 15)\n"
                "  --ipmitool PATH     ipmitool binary for BMCs with console \"ipmitool\"\n"
                "                      (default: ipmitool from PATH)\n"
                "  --ipxe-efi FILE     the iPXE EFI binary served at /v1/ipxe.efi, the URL to give\n"
                "                      UEFI HTTP Boot clients (default " CONFIG_IPXE_EFI_DEFAULT ")\n"
                "  --report-silent-after SECS\n"
                "                      a node whose last report (POST /v1/nodes/NAME/report) is\n"
                "                      older counts as silent (default 3600)\n"
                "  --max-connections N HTTP connections held at once, 16-1000000 (default 4096);\n"
                "                      the open-files limit (RLIMIT_NOFILE) is raised to fit\n"
                "  --max-connections-per-client N\n"
                "                      of those, from one client address (default 256; 0 = no\n"
                "                      limit: set it so behind a reverse proxy)\n"
                "  --header-timeout SECS\n"
                "                      a request (headers and body) must arrive within this\n"
                "                      after it began, 1-3600 (default 10) ...\n"
                "  --header-min-rate BYTES_PER_S\n"
                "                      ... or keep arriving at this average rate (default 500;\n"
                "                      0 = the deadline alone); slower connections are closed.\n"
                "                      When nearly every connection is taken, the one that\n"
                "                      waited longest for its request is closed for a new one.\n"
                "                      Requests being answered, event streams and console\n"
                "                      follows are never closed for either reason.\n"
                "  --max-transfers N   boot file bodies (GET /v1/files) sent at once (default 64;\n"
                "                      0 = no cap); further requests wait their turn in order,\n"
                "                      never refused\n"
                "  --instance-name NAME\n"
                "                      this instance's name among several sharing one database\n"
                "                      (default: the host name); shown by GET /v1/instances\n"
                "  --shared-key-file FILE\n"
                "                      32 random bytes every instance on one database shares\n"
                "                      (e.g. head -c 32 /dev/urandom): install and boot tokens are\n"
                "                      stored sealed with it, so any instance answers a repeated\n"
                "                      boot request with the token another handed out.  Required\n"
                "                      with a PostgreSQL --state-url\n"
                "  --bmc-racks R1,R2   run BMC operations only for nodes of these racks (the\n"
                "                      inventory's \"rack\"); another instance serves the others.\n"
                "                      Default: every node\n"
                "  -h, --help          show this help\n"
                "\n"
                "Signals: SIGHUP reloads the inventory and the API tokens; SIGTERM and SIGINT stop.\n"
                "On start it logs \"listening on URL\" to stderr.\n"
                "\n"
                "Under systemd: a socket passed by socket activation (provd.socket) is used\n"
                "instead of --listen; READY=1, STATUS=, RELOADING=1, STOPPING=1 and watchdog\n"
                "pings go to $NOTIFY_SOCKET; logs go to the journal with PROVD_NODE=,\n"
                "PROVD_MAC=, PROVD_ATTEMPT= fields when stderr is the journal (PROVD_LOG=journal\n"
                "or PROVD_LOG=stderr forces either).\n"
                "\n"
                "PROVD_IPMI_DEBUG=1 dumps every IPMI packet of the BMC commands on stderr: for\n"
                "debugging only, the dump holds session material (BMC user name, session IDs,\n"
                "RAKP HMACs), though not the password.\n");
}

/* `provd serve`'s flags (getopt_long(3)); --config and --help are handled by run_serve(). */
static const struct option serve_options[] = {
        { "inventory", required_argument, NULL, 'i' }, { "state-dir", required_argument, NULL, 's' },
        { "state-url", required_argument, NULL, 'U' },
        { "listen", required_argument, NULL, 'l' },    { "public-url", required_argument, NULL, 'u' },
        { "config", required_argument, NULL, 'c' },    { "threads", required_argument, NULL, 't' },
        { "log-level", required_argument, NULL, 'L' }, { "help", no_argument, NULL, 'h' },
        { "api-tokens", required_argument, NULL, 'a' }, { "read-auth", required_argument, NULL, 'r' },
        { "tls-cert", required_argument, NULL, 'C' },   { "tls-key", required_argument, NULL, 'K' },
        { "bmc-workers", required_argument, NULL, 'W' }, { "bmc-timeout", required_argument, NULL, 'T' },
        { "bmc-retries", required_argument, NULL, 'R' }, { "install-deadline", required_argument, NULL, 'D' },
        { "boot-deadline", required_argument, NULL, 'B' },
        /* discovery */
        { "discovery-interface", required_argument, NULL, 'I' }, { "discovery-max", required_argument, NULL, 'M' },
        /* console capture */
        { "console-max-size", required_argument, NULL, 'S' }, { "console-keep", required_argument, NULL, 'k' },
        { "console-linger", required_argument, NULL, 'g' },   { "ipmitool", required_argument, NULL, 'P' },
        { "ipxe-efi", required_argument, NULL, 'E' },
        { "report-silent-after", required_argument, NULL, 'q' },
        /* HTTP connection limits */
        { "max-connections", required_argument, NULL, 'N' },
        { "max-connections-per-client", required_argument, NULL, 'n' },
        { "header-timeout", required_argument, NULL, 'H' },
        { "header-min-rate", required_argument, NULL, 'm' },
        /* the file transfer cap */
        { "max-transfers", required_argument, NULL, 'x' },
        /* several instances on one database */
        { "instance-name", required_argument, NULL, 'Y' },
        { "shared-key-file", required_argument, NULL, 'Z' },
        { "bmc-racks", required_argument, NULL, 'Q' },
        {},
};

/* The config file key each flag sets, by the flag's code in serve_options[]. */
static const char *const serve_keys[128] = {
        ['i'] = "inventory", ['s'] = "state_dir", ['U'] = "state_url", ['l'] = "listen", ['u'] = "public_url",
        ['t'] = "threads",   ['L'] = "log_level", ['a'] = "api_tokens", ['r'] = "read_auth",
        ['C'] = "tls_cert",  ['K'] = "tls_key",   ['W'] = "bmc_workers", ['T'] = "bmc_timeout",
        ['R'] = "bmc_retries", ['D'] = "install_deadline", ['B'] = "boot_deadline",
        ['I'] = "discovery_interface", ['M'] = "discovery_max", /* discovery */
        /* console capture */
        ['S'] = "console_max_size", ['k'] = "console_keep", ['g'] = "console_linger", ['P'] = "ipmitool",
        ['E'] = "ipxe_efi",
        ['q'] = "report_silent_after",
        /* HTTP connection limits */
        ['N'] = "max_connections", ['n'] = "max_connections_per_client", ['H'] = "header_timeout",
        ['m'] = "header_min_rate",
        ['x'] = "max_transfers", /* the file transfer cap */
        ['Y'] = "instance_name", ['Z'] = "shared_key_file", ['Q'] = "bmc_racks", /* several instances */
};

/* `provd serve`: the flags and the config file make the settings, then the Server runs until
 * SIGTERM or SIGINT.  Returns the exit code: 0, 1 (start-up failed), EXIT_USAGE (bad usage). */
static int run_serve(int argc, char **argv) {
        const char *config_path = NULL;
        struct {
                int opt;
                const char *name;
                const char *value;
        } flags[32];
        size_t n_flags = 0;
        _cleanup_(config_done) ServeConfig cfg = { 0 };
        int c, r, idx = 0;

        optind = 1;
        while ((c = getopt_long(argc, argv, "h", serve_options, &idx)) >= 0) {
                switch (c) {
                case 'h':
                        usage_serve(stdout);
                        return EXIT_SUCCESS;
                case 'c':
                        config_path = optarg;
                        break;
                case '?':
                        fprintf(stderr, "Try 'provd serve --help'.\n");
                        return EXIT_USAGE;
                default:
                        if (n_flags == ELEMENTSOF(flags)) {
                                fprintf(stderr, "provd serve: too many options\n");
                                return EXIT_USAGE;
                        }
                        flags[n_flags].opt = c;
                        flags[n_flags].name = serve_options[idx].name;
                        flags[n_flags++].value = optarg;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "provd serve: unexpected argument \"%s\"\nTry 'provd serve --help'.\n", argv[optind]);
                return EXIT_USAGE;
        }

        if (config_init(&cfg) < 0)
                return EXIT_FAILURE;
        if (config_path && config_load_file(&cfg, config_path) < 0)
                return EXIT_FAILURE;
        for (size_t i = 0; i < n_flags; i++) {
                r = config_set(&cfg, serve_keys[flags[i].opt], flags[i].value);
                if (r < 0) {
                        const char *expected = config_expected(flags[i].name);
                        fprintf(stderr, "provd serve: bad value \"%s\" for --%s%s%s\n", flags[i].value, flags[i].name,
                                expected ? ": expected " : "", expected ? expected : "");
                        return EXIT_USAGE;
                }
        }
        if (config_check(&cfg) < 0)
                return EXIT_USAGE;
        log_set_max_level(cfg.log_level);
        /* Not fatal: only UEFI HTTP Boot clients need it, and pixiecore sites need none. */
        if (access(cfg.ipxe_efi, R_OK) < 0)
                log_warning_errno(errno, "ipxe_efi %s cannot be read (%m): GET /v1/ipxe.efi will answer 404, so UEFI "
                                  "HTTP Boot clients cannot boot; install iPXE (Debian: ipxe) or set ipxe_efi / --ipxe-efi",
                                  cfg.ipxe_efi);
        if (!cfg.inventory) {
                fprintf(stderr, "provd serve: --inventory FILE is required (or inventory= in the config file)\n"
                                "Try 'provd serve --help'.\n");
                return EXIT_USAGE;
        }

        _cleanup_(server_freep) Server *server = NULL;
        if (server_new(&(ServerConfig) { .serve = &cfg }, &server) < 0)
                return EXIT_FAILURE;
        /* A failed wait for signals is logged; provd then stops as after SIGTERM. */
        (void) server_run(server);
        return EXIT_SUCCESS;
}

static void usage_db(FILE *f) {
        fprintf(f,
                "Usage: provd db migrate [--config FILE] [--state-url URL | --state-dir DIR]\n"
                "       provd db import-sqlite SOURCE [--config FILE] [--state-url URL]\n"
                "\n"
                "The state database of `provd serve`, without starting it.\n"
                "\n"
                "  migrate        brings the database to this provd's schema (serve does it too,\n"
                "                 at start): run it once before starting new instances on a\n"
                "                 shared PostgreSQL database, then start them\n"
                "  import-sqlite  copies a site's SQLite state (SOURCE: its state directory or\n"
                "                 its provd.db) into the empty PostgreSQL database of --state-url:\n"
                "                 nodes, install attempts, history, boots, node credentials and\n"
                "                 reports, discovered PXE clients, with their ids, in one\n"
                "                 transaction.  Stop the provd using SOURCE first (its lock is\n"
                "                 taken); the tokens of open attempts stay valid\n"
                "\n"
                "  --config FILE     the serve config file: state_url and state_dir from it\n"
                "  --state-url URL   postgresql://... (libpq connection URI)\n"
                "  --state-dir DIR   an SQLite state directory (default /var/lib/provd)\n");
}

/* `provd db`: migrate or import-sqlite.  Returns the exit code. */
static int run_db(int argc, char **argv) {
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' },    { "state-url", required_argument, NULL, 'U' },
                { "state-dir", required_argument, NULL, 's' }, { "help", no_argument, NULL, 'h' },
                {},
        };
        const char *config_path = NULL, *state_url = NULL, *state_dir = NULL;
        _cleanup_(config_done) ServeConfig cfg = { 0 };
        char err[ERRBUF_MAX] = "";
        int c, r;

        optind = 1;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        usage_db(stdout);
                        return EXIT_SUCCESS;
                case 'c':
                        config_path = optarg;
                        break;
                case 'U':
                        state_url = optarg;
                        break;
                case 's':
                        state_dir = optarg;
                        break;
                default:
                        fprintf(stderr, "Try 'provd db --help'.\n");
                        return EXIT_USAGE;
                }
        const char *sub = optind < argc ? argv[optind++] : NULL;
        bool import = sub && streq(sub, "import-sqlite");
        if (!sub || (!import && !streq(sub, "migrate")) || argc - optind != (import ? 1 : 0)) {
                usage_db(stderr);
                return EXIT_USAGE;
        }
        if (config_init(&cfg) < 0 || (config_path && config_load_file(&cfg, config_path) < 0))
                return EXIT_FAILURE;
        if ((state_url && config_set(&cfg, "state_url", state_url) < 0) ||
            (state_dir && config_set(&cfg, "state_dir", state_dir) < 0)) {
                fprintf(stderr, "provd db: bad --state-url or --state-dir\n");
                return EXIT_USAGE;
        }
        if (import && (!cfg.state_url || !startswith(cfg.state_url, "postgres"))) {
                fprintf(stderr, "provd db import-sqlite: --state-url postgresql://... (or state_url in --config) names "
                                "the database to import into\n");
                return EXIT_USAGE;
        }

        _cleanup_(store_freep) Store *dst = NULL;
        r = store_open_url(cfg.state_url, cfg.state_dir, &dst);
        if (r < 0)
                return EXIT_FAILURE; /* logged, naming the database */
        if (!import) {
                printf("the state database is at this provd's schema\n");
                return EXIT_SUCCESS;
        }

        /* SOURCE: a state directory, or the provd.db in one. */
        _cleanup_free_ char *src_dir = strdup(argv[optind]);
        if (!src_dir)
                return EXIT_FAILURE;
        size_t n = strlen(src_dir);
        if (n >= 9 && streq(src_dir + n - 9, "/provd.db"))
                src_dir[n - 9] = '\0';
        else if (n >= 8 && streq(src_dir, "provd.db"))
                strcpy(src_dir, ".");
        struct stat st;
        if (stat(src_dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
                fprintf(stderr, "provd db import-sqlite: %s is neither a state directory nor its provd.db\n", argv[optind]);
                return EXIT_USAGE;
        }
        _cleanup_free_ char *db_path = NULL;
        if (asprintf(&db_path, "%s/provd.db", src_dir) < 0)
                return EXIT_FAILURE;
        if (access(db_path, R_OK) < 0) {
                fprintf(stderr, "provd db import-sqlite: cannot read %s: %s\n", db_path, strerror(errno));
                return EXIT_FAILURE;
        }
        _cleanup_(store_freep) Store *src = NULL;
        r = store_open(src_dir, &src);
        if (r == -EBUSY) {
                fprintf(stderr, "provd db import-sqlite: a provd is running on %s: stop it first\n", src_dir);
                return EXIT_FAILURE;
        }
        if (r < 0)
                return EXIT_FAILURE;
        StoreImportCounts counts;
        r = store_import(dst, src, &counts, err, sizeof err);
        if (r < 0) {
                fprintf(stderr, "provd db import-sqlite: %s\n", err);
                return EXIT_FAILURE;
        }
        printf("imported %s: %" PRId64 " nodes, %" PRId64 " install attempts, %" PRId64 " history rows, %" PRId64
               " boots, %" PRId64 " node credentials, %" PRId64 " node reports, %" PRId64 " discovered PXE clients\n",
               db_path, counts.nodes, counts.attempts, counts.history, counts.boots, counts.credentials, counts.reports,
               counts.discovered);
        return EXIT_SUCCESS;
}

int main(int argc, char **argv) {
        if (argc < 2) {
                usage_main(stderr);
                return EXIT_USAGE;
        }
        const char *cmd = argv[1];
        if (streq(cmd, "serve"))
                return run_serve(argc - 1, argv + 1);
        if (streq(cmd, "db"))
                return run_db(argc - 1, argv + 1);
        if (cli_is_command(cmd))
                return cli_main(argc, argv);
        if (streq(cmd, "help") || streq(cmd, "--help") || streq(cmd, "-h")) {
                usage_main(stdout);
                return EXIT_SUCCESS;
        }
        if (streq(cmd, "--version")) {
                printf("provd %s\n", PROVD_VERSION);
                return EXIT_SUCCESS;
        }
        fprintf(stderr, "provd: unknown command \"%s\"\n\n", cmd);
        usage_main(stderr);
        return EXIT_USAGE;
}
