/* main.c — the `provd` command: subcommand dispatch and `provd serve`, the daemon's main
 * thread (listening socket, signals: SIGHUP reloads the inventory, SIGTERM/SIGINT stop).
 * Only main() exits. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "console.h"
#include "daemon.h"
#include "discovery.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "operations.h"
#include "provd-config.h"
#include "service.h"
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
                "Usage: provd serve --inventory FILE [--state-dir DIR] [--listen ADDR:PORT]\n"
                "                   [--public-url URL] [--config FILE] [--threads N]\n"
                "                   [--log-level LEVEL] [--api-tokens FILE] [--read-auth MODE]\n"
                "                   [--tls-cert FILE --tls-key FILE] [--bmc-workers N]\n"
                "                   [--bmc-timeout SECS] [--bmc-retries N] [--install-deadline SECS]\n"
                "                   [--discovery-interface IFACE] [--discovery-max N]\n"
                "                   [--console-max-size BYTES] [--console-keep N]\n"
                "                   [--console-linger SECS] [--ipmitool PATH] [--ipxe-efi FILE]\n"
                "                   [--report-silent-after SECS]\n"
                "                   [--max-connections N] [--max-connections-per-client N]\n"
                "                   [--header-timeout SECS] [--header-min-rate BYTES_PER_S]\n"
                "\n"
                "Runs the provisioning daemon.\n"
                "\n"
                "  --inventory FILE    inventory JSON (api/inventory.schema.json); re-read on SIGHUP,\n"
                "                      a broken file keeps the current inventory\n"
                "  --state-dir DIR     where the SQLite state lives (provd.db); created if missing\n"
                "                      (default /var/lib/provd)\n"
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

/* Splits "ADDR:PORT" / "[V6]:PORT" and binds a listening TCP socket.  Returns the fd. */
static int listen_socket(const char *listen_arg, struct sockaddr_storage *ret_addr) {
        _cleanup_free_ char *copy = strdup(listen_arg);
        if (!copy)
                return -ENOMEM;
        char *host = copy, *port = strrchr(copy, ':');
        if (!port || port == copy)
                return log_error_errno(EINVAL, "--listen %s: expected ADDR:PORT, e.g. 0.0.0.0:8080 or [::]:8080", listen_arg);
        *port++ = '\0';
        if (host[0] == '[') {
                size_t n = strlen(host);
                if (n < 3 || host[n - 1] != ']')
                        return log_error_errno(EINVAL, "--listen %s: unbalanced [ ] around the IPv6 address", listen_arg);
                host[n - 1] = '\0';
                host++;
        }

        int64_t port_num;
        if (parse_int64(port, 0, 65535, &port_num) < 0)
                return log_error_errno(EINVAL, "--listen %s: port must be a number from 0 to 65535", listen_arg);

        struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV }, *ai = NULL;
        int gai = getaddrinfo(host, port, &hints, &ai);
        if (gai != 0)
                return log_error_errno(EINVAL, "--listen %s: %s", listen_arg, gai_strerror(gai));

        int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) {
                freeaddrinfo(ai);
                return log_error_errno(errno, "socket: %m");
        }
        int one = 1, zero = 0;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (ai->ai_family == AF_INET6)
                setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 1024) < 0) {
                int r = -errno;
                close(fd);
                freeaddrinfo(ai);
                return log_error_errno(r, "cannot listen on %s: %m", listen_arg);
        }
        freeaddrinfo(ai);
        socklen_t len = sizeof *ret_addr;
        getsockname(fd, (struct sockaddr *) ret_addr, &len);
        return fd;
}

/* "http(s)://ADDR:PORT" for a bound address; for a wildcard address, the host name. */
static int url_for_address(const struct sockaddr_storage *ss, bool tls, bool use_hostname_for_wildcard, char **ret) {
        char host[INET6_ADDRSTRLEN + 2], name[256];
        unsigned port;
        bool wildcard;
        if (ss->ss_family == AF_INET6) {
                const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *) ss;
                char a[INET6_ADDRSTRLEN];
                inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof a);
                snprintf(host, sizeof host, "[%s]", a);
                port = ntohs(s6->sin6_port);
                wildcard = IN6_IS_ADDR_UNSPECIFIED(&s6->sin6_addr);
        } else {
                const struct sockaddr_in *s4 = (const struct sockaddr_in *) ss;
                inet_ntop(AF_INET, &s4->sin_addr, host, sizeof host);
                port = ntohs(s4->sin_port);
                wildcard = s4->sin_addr.s_addr == htonl(INADDR_ANY);
        }
        const char *h = host;
        if (wildcard && use_hostname_for_wildcard && gethostname(name, sizeof name) == 0) {
                name[sizeof name - 1] = '\0';
                h = name;
        }
        return asprintf(ret, "%s://%s:%u", tls ? "https" : "http", h, port) < 0 ? -ENOMEM : 0;
}

/* Descriptors provd needs besides its HTTP connections: the store, logs, epoll and
 * inter-thread channels of libmicrohttpd's workers, discovery's capture, SOL sessions. */
#define NOFILE_MARGIN 256

/* Raises the soft RLIMIT_NOFILE (getrlimit(2)) to what cfg->max_connections needs — each
 * connection may hold its socket and the boot file it is sent (files.c), and each BMC
 * worker a socket — up to the hard limit, and logs what it got.  When the hard limit is
 * too low, lowers cfg->max_connections (and a per-client limit above it) to what fits, with
 * a warning: better a smaller table than libmicrohttpd failing accept() with EMFILE.
 * (libipmiconsole's engine, which console capture starts after this, raises the soft limit to
 * the hard one by itself.) */
static void raise_nofile(ServeConfig *cfg) {
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
                log_warning_errno(errno, "cannot read the open files limit (RLIMIT_NOFILE): %m");
                return;
        }
        rlim_t fixed = (rlim_t) cfg->bmc_workers + NOFILE_MARGIN;
        rlim_t need = 2 * (rlim_t) cfg->max_connections + fixed, old = rl.rlim_cur;
        if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
                rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need ? need : rl.rlim_max;
                if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
                        log_warning_errno(errno, "cannot raise the open files limit (RLIMIT_NOFILE) from %ju to %ju: %m",
                                          (uintmax_t) old, (uintmax_t) rl.rlim_cur);
                        rl.rlim_cur = old;
                }
        }
        if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need) {
                if (rl.rlim_cur != old)
                        log_info("open files limit (RLIMIT_NOFILE) raised from %ju to %ju for max_connections %u",
                                 (uintmax_t) old, (uintmax_t) rl.rlim_cur, cfg->max_connections);
                else
                        log_info("open files limit (RLIMIT_NOFILE) %ju: enough for max_connections %u",
                                 (uintmax_t) rl.rlim_cur, cfg->max_connections);
                return;
        }
        unsigned fit = rl.rlim_cur > fixed + 32 ? (unsigned) ((rl.rlim_cur - fixed) / 2) : 16;
        log_warning("open files limit (RLIMIT_NOFILE) is %ju (hard limit %ju) but max_connections %u needs %ju: "
                    "serving at most %u connections (raise LimitNOFILE= or `ulimit -Hn`)",
                    (uintmax_t) rl.rlim_cur, (uintmax_t) rl.rlim_max, cfg->max_connections, (uintmax_t) need, fit);
        cfg->max_connections = fit;
        if (cfg->max_connections_per_client > fit)
                cfg->max_connections_per_client = fit;
}

static int run_serve(int argc, char **argv) {
        static const struct option options[] = {
                { "inventory", required_argument, NULL, 'i' }, { "state-dir", required_argument, NULL, 's' },
                { "listen", required_argument, NULL, 'l' },    { "public-url", required_argument, NULL, 'u' },
                { "config", required_argument, NULL, 'c' },    { "threads", required_argument, NULL, 't' },
                { "log-level", required_argument, NULL, 'L' }, { "help", no_argument, NULL, 'h' },
                { "api-tokens", required_argument, NULL, 'a' }, { "read-auth", required_argument, NULL, 'r' },
                { "tls-cert", required_argument, NULL, 'C' },   { "tls-key", required_argument, NULL, 'K' },
                { "bmc-workers", required_argument, NULL, 'W' }, { "bmc-timeout", required_argument, NULL, 'T' },
                { "bmc-retries", required_argument, NULL, 'R' }, { "install-deadline", required_argument, NULL, 'D' },
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
                {},
        };
        static const char *const keys[128] = {
                ['i'] = "inventory", ['s'] = "state_dir", ['l'] = "listen", ['u'] = "public_url",
                ['t'] = "threads",   ['L'] = "log_level", ['a'] = "api_tokens", ['r'] = "read_auth",
                ['C'] = "tls_cert",  ['K'] = "tls_key",   ['W'] = "bmc_workers", ['T'] = "bmc_timeout",
                ['R'] = "bmc_retries", ['D'] = "install_deadline",
                ['I'] = "discovery_interface", ['M'] = "discovery_max", /* discovery */
                /* console capture */
                ['S'] = "console_max_size", ['k'] = "console_keep", ['g'] = "console_linger", ['P'] = "ipmitool",
                ['E'] = "ipxe_efi",
                ['q'] = "report_silent_after",
                /* HTTP connection limits */
                ['N'] = "max_connections", ['n'] = "max_connections_per_client", ['H'] = "header_timeout",
                ['m'] = "header_min_rate",
        };
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
        while ((c = getopt_long(argc, argv, "h", options, &idx)) >= 0) {
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
                        flags[n_flags].name = options[idx].name;
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
                r = config_set(&cfg, keys[flags[i].opt], flags[i].value);
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

        raise_nofile(&cfg);

        /* Signals are taken synchronously by this thread; block them before any other thread
         * exists so the HTTP workers inherit the mask. */
        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGHUP);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        pthread_sigmask(SIG_BLOCK, &mask, NULL);
        signal(SIGPIPE, SIG_IGN);

        /* The API socket: the one systemd passed (provd.socket, systemd-socket-activate), or
         * our own. */
        struct sockaddr_storage bound;
        int fd = -1;
        r = service_listen_fd(&fd, &bound);
        if (r < 0)
                return EXIT_FAILURE;
        if (r > 0)
                log_info("socket activation: serving on the socket passed by the service manager; listen=%s is ignored",
                         cfg.listen);
        else {
                fd = listen_socket(cfg.listen, &bound);
                if (fd < 0)
                        return EXIT_FAILURE;
        }

        _cleanup_free_ char *listen_url = NULL, *public_url = NULL;
        if (url_for_address(&bound, cfg.tls_cert, false, &listen_url) < 0)
                return EXIT_FAILURE;
        if (cfg.public_url)
                public_url = strdup(cfg.public_url);
        else {
                if (url_for_address(&bound, cfg.tls_cert, true, &public_url) < 0)
                        return EXIT_FAILURE;
                if (!streq(public_url, listen_url))
                        log_warning("listening on a wildcard address; nodes will be sent to %s — set --public-url if they cannot resolve that name",
                                    public_url);
        }
        if (!public_url)
                return EXIT_FAILURE;

        Daemon *d = NULL;
        DaemonConfig dc = { .inventory_path = cfg.inventory,
                            .state_dir = cfg.state_dir,
                            .public_url = public_url,
                            .silent_after_ms = (int64_t) cfg.report_silent_after * 1000 };
        metrics_init();
        r = daemon_new(&dc, &d);
        if (r < 0) {
                close(fd);
                return EXIT_FAILURE;
        }

        /* ---- console capture: SOL sessions and console logs */
        Console *console = NULL;
        r = console_new(d,
                        &(ConsoleConfig) { .state_dir = cfg.state_dir,
                                           .max_size = cfg.console_max_size,
                                           .keep = cfg.console_keep,
                                           .linger_s = cfg.console_linger,
                                           .ipmitool = cfg.ipmitool },
                        &console);
        if (r < 0) {
                close(fd);
                daemon_free(d);
                return EXIT_FAILURE;
        }
        /* ---- end console capture */

        Ops *ops = NULL;
        r = ops_new(d,
                    &(OpsConfig) { .bmc_workers = cfg.bmc_workers,
                                   .bmc_timeout_ms = cfg.bmc_timeout * 1000,
                                   .bmc_retries = cfg.bmc_retries,
                                   .install_deadline_ms = (int64_t) cfg.install_deadline * 1000,
                                   .console = console },
                    &ops);
        if (r < 0) {
                close(fd);
                console_free(console);
                daemon_free(d);
                return EXIT_FAILURE;
        }

        /* discovery: opened before serving, so a capture that cannot be opened fails the start */
        Discovery *disc = NULL;
        if (cfg.discovery_interface) {
                r = discovery_start(d, &(DiscoveryConfig) { .interface = cfg.discovery_interface, .max = cfg.discovery_max },
                                    &disc);
                if (r < 0) {
                        close(fd);
                        ops_free(ops);
                        daemon_free(d);
                        return EXIT_FAILURE;
                }
        }

        Http *h = NULL;
        r = http_start(d, fd,
                       &(HttpConfig) { .threads = cfg.threads,
                                       .ops = ops,
                                       .read_auth = cfg.read_auth,
                                       .api_tokens = cfg.api_tokens,
                                       .tls_cert = cfg.tls_cert,
                                       .ipxe_efi = cfg.ipxe_efi,
                                       .tls_key = cfg.tls_key,
                                       .console = console,
                                       .max_connections = cfg.max_connections,
                                       .max_connections_per_client = cfg.max_connections_per_client,
                                       .header_timeout_ms = cfg.header_timeout * 1000,
                                       .header_min_rate = cfg.header_min_rate },
                       &h);
        if (r < 0) {
                discovery_stop(disc);
                ops_free(ops);
                console_free(console);
                daemon_free(d);
                return EXIT_FAILURE;
        }

        log_info("listening on %s (public URL %s, %zu nodes, state in %s)", listen_url, public_url,
                 daemon_node_count(d), cfg.state_dir);
        /* Inventory and store are loaded and the socket is served: only now READY=1. */
        service_notify_ready(d);

        for (;;) {
                int sig = service_wait_signal(d, &mask);
                if (sig < 0)
                        break;
                if (sig == SIGHUP) {
                        log_info("SIGHUP: reloading inventory %s", cfg.inventory);
                        (void) http_reload(h, NULL, NULL, NULL);
                        continue;
                }
                log_info("%s: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
                service_notify_stopping();
                break;
        }

        /* Console first: its followers end and no connection stays suspended for
         * MHD_stop_daemon(); pending tails go into the history while the daemon lives. */
        console_stop(console);
        http_stop(h);
        discovery_stop(disc); /* after HTTP: its last batch is written before the store closes */
        ops_free(ops);
        console_free(console);
        daemon_free(d);
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
