/* server.c — `provd serve`'s start-up, main loop and shutdown (server.h).
 *
 * Start-up is the table steps[]: each step stores what it started in the Server, and a
 * failing step returns its errno; server_new() then hands the Server to server_free(), the
 * one place that stops and frees, in reverse order, whatever any step started. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cluster.h"
#include "console.h"
#include "daemon.h"
#include "discovery.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "operations.h"
#include "server.h"
#include "service.h"
#include "util.h"

struct Server {
        const ServeConfig *cfg;              /* borrowed */
        unsigned max_connections;            /* cfg's, lowered to what RLIMIT_NOFILE fits */
        unsigned max_connections_per_client;
        sigset_t signals;                    /* blocked in every thread; server_run() takes them */
        int fd;                              /* the listening socket until HTTP takes it, or -1 */
        char *listen_url, *public_url;
        char *instance_name; /* cfg's, or the host name */
        Daemon *daemon;
        Cluster *cluster;
        Console *console;
        Ops *ops;
        Discovery *discovery;
        Http *http;
};

static const char *const step_names[_SERVER_STEP_MAX] = {
        [SERVER_STEP_LIMITS] = "limits",       [SERVER_STEP_SIGNALS] = "signals", [SERVER_STEP_LISTEN] = "listen",
        [SERVER_STEP_DAEMON] = "daemon",       [SERVER_STEP_CLUSTER] = "cluster", [SERVER_STEP_CONSOLE] = "console", [SERVER_STEP_OPS] = "operations",
        [SERVER_STEP_DISCOVERY] = "discovery", [SERVER_STEP_HTTP] = "http",
};

const char *server_step_name(ServerStep step) {
        return (unsigned) step < _SERVER_STEP_MAX ? step_names[step] : NULL;
}

/* The test-only fault of cfg for `step`: its error (logged), or 0. */
static int server_fault(const ServerConfig *cfg, ServerStep step) {
        if (!cfg->fault || cfg->fault->step != step)
                return 0;
        return log_error_errno(cfg->fault->error, "start-up step %s fails (injected fault): %m", server_step_name(step));
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

/* Raises the soft RLIMIT_NOFILE (getrlimit(2)) to what s->max_connections needs — each
 * connection may hold its socket and the boot file it is sent (files.c), and each BMC
 * worker a socket — up to the hard limit, and logs what it got.  When the hard limit is
 * too low, lowers s->max_connections (and a per-client limit above it) to what fits, with
 * a warning: better a smaller table than libmicrohttpd failing accept() with EMFILE.
 * (libipmiconsole's engine, which console capture starts after this, raises the soft limit to
 * the hard one by itself.) */
static void raise_nofile(Server *s) {
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
                log_warning_errno(errno, "cannot read the open files limit (RLIMIT_NOFILE): %m");
                return;
        }
        rlim_t fixed = (rlim_t) s->cfg->bmc_workers + NOFILE_MARGIN;
        rlim_t need = 2 * (rlim_t) s->max_connections + fixed, old = rl.rlim_cur;
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
                                 (uintmax_t) old, (uintmax_t) rl.rlim_cur, s->max_connections);
                else
                        log_info("open files limit (RLIMIT_NOFILE) %ju: enough for max_connections %u",
                                 (uintmax_t) rl.rlim_cur, s->max_connections);
                return;
        }
        unsigned fit = rl.rlim_cur > fixed + 32 ? (unsigned) ((rl.rlim_cur - fixed) / 2) : 16;
        log_warning("open files limit (RLIMIT_NOFILE) is %ju (hard limit %ju) but max_connections %u needs %ju: "
                    "serving at most %u connections (raise LimitNOFILE= or `ulimit -Hn`)",
                    (uintmax_t) rl.rlim_cur, (uintmax_t) rl.rlim_max, s->max_connections, (uintmax_t) need, fit);
        s->max_connections = fit;
        if (s->max_connections_per_client > fit)
                s->max_connections_per_client = fit;
}

/* Start-up steps (server.h's ServerStep).  Each one stores what it started in s and returns
 * 0, or a negative errno (logged) leaving s as server_free() can take it: what a step
 * started is undone there alone. */

/* Blocks of at least this many bytes are mapped on their own and unmapped when freed.  Set
 * once, it also stops glibc from raising the threshold (and the trim threshold with it, to
 * twice as much) each time such a block is freed (mallopt(3), M_MMAP_THRESHOLD): after the
 * inventory file's buffer (MBs) was freed, the heaps would otherwise keep that much free
 * memory each. */
#define SERVER_MMAP_THRESHOLD (128 * 1024)
/* One malloc arena for every thread (mallopt(3), M_ARENA_MAX): each further arena (glibc
 * makes up to 8 per core) keeps its own free memory, which is what freed boot batches and
 * reloads leave behind; the threads' small allocations come from their tcache first, so
 * they rarely meet on the arena's lock. */
#define SERVER_ARENA_MAX 1

static int step_limits(Server *s) {
        raise_nofile(s);
        (void) mallopt(M_MMAP_THRESHOLD, SERVER_MMAP_THRESHOLD);
        (void) mallopt(M_ARENA_MAX, SERVER_ARENA_MAX);
        return 0;
}

static int step_signals(Server *s) {
        /* Signals are taken synchronously by the main thread (server_run()); block them before
         * any other thread exists so every thread provd starts inherits the mask. */
        sigemptyset(&s->signals);
        sigaddset(&s->signals, SIGHUP);
        sigaddset(&s->signals, SIGTERM);
        sigaddset(&s->signals, SIGINT);
        int r = pthread_sigmask(SIG_BLOCK, &s->signals, NULL);
        if (r != 0)
                return log_error_errno(r, "cannot block SIGHUP, SIGTERM and SIGINT: %m");
        signal(SIGPIPE, SIG_IGN);
        return 0;
}

static int step_listen(Server *s) {
        /* The API socket: the one systemd passed (provd.socket, systemd-socket-activate), or
         * our own. */
        struct sockaddr_storage bound;
        int r = service_listen_fd(&s->fd, &bound);
        if (r < 0)
                return r;
        if (r > 0)
                log_info("socket activation: serving on the socket passed by the service manager; listen=%s is ignored",
                         s->cfg->listen);
        else {
                r = listen_socket(s->cfg->listen, &bound);
                if (r < 0)
                        return r;
                s->fd = r;
        }
        r = url_for_address(&bound, s->cfg->tls_cert, false, &s->listen_url);
        if (r < 0)
                return r;
        if (s->cfg->public_url) {
                s->public_url = strdup(s->cfg->public_url);
                return s->public_url ? 0 : -ENOMEM;
        }
        r = url_for_address(&bound, s->cfg->tls_cert, true, &s->public_url);
        if (r < 0)
                return r;
        if (!streq(s->public_url, s->listen_url))
                log_warning("listening on a wildcard address; nodes will be sent to %s — set --public-url if they cannot resolve that name",
                            s->public_url);
        return 0;
}

static int step_daemon(Server *s) {
        metrics_init();
        char host[256] = "";
        if (!s->cfg->instance_name && gethostname(host, sizeof host - 1) < 0)
                snprintf(host, sizeof host, "provd");
        s->instance_name = strdup(s->cfg->instance_name ? s->cfg->instance_name : host);
        if (!s->instance_name)
                return -ENOMEM;
        return daemon_new(&(DaemonConfig) { .inventory_path = s->cfg->inventory,
                                            .state_dir = s->cfg->state_dir,
                                            .state_url = s->cfg->state_url,
                                            .public_url = s->public_url,
                                            .silent_after_ms = (int64_t) s->cfg->report_silent_after * 1000,
                                            .shared_key_file = s->cfg->shared_key_file,
                                            .instance_name = s->instance_name },
                          &s->daemon);
}

/* ---- several instances on one database */
static int step_cluster(Server *s) {
        return cluster_new(s->daemon,
                           &(ClusterConfig) { .name = s->instance_name, .url = s->public_url, .racks = s->cfg->bmc_racks },
                           &s->cluster);
}

/* ---- console capture: SOL sessions and console logs */
static int step_console(Server *s) {
        return console_new(s->daemon,
                           &(ConsoleConfig) { .state_dir = s->cfg->state_dir,
                                              .max_size = s->cfg->console_max_size,
                                              .keep = s->cfg->console_keep,
                                              .linger_s = s->cfg->console_linger,
                                              .ipmitool = s->cfg->ipmitool },
                           &s->console);
}
/* ---- end console capture */

static int step_ops(Server *s) {
        return ops_new(s->daemon,
                       &(OpsConfig) { .cluster = s->cluster,
                                      .bmc_workers = s->cfg->bmc_workers,
                                      .bmc_timeout_ms = s->cfg->bmc_timeout * 1000,
                                      .bmc_retries = s->cfg->bmc_retries,
                                      .install_deadline_ms = (int64_t) s->cfg->install_deadline * 1000,
                                      .boot_deadline_ms = (int64_t) s->cfg->boot_deadline * 1000 },
                       &s->ops);
}

/* discovery: opened before serving, so a capture that cannot be opened fails the start */
static int step_discovery(Server *s) {
        if (!s->cfg->discovery_interface)
                return 0;
        return discovery_start(s->daemon,
                               &(DiscoveryConfig) { .interface = s->cfg->discovery_interface,
                                                    .max = s->cfg->discovery_max },
                               &s->discovery);
}

static int step_http(Server *s) {
        /* http_start() owns the socket from here on, even when it fails. */
        return http_start(s->daemon, TAKE_FD(s->fd),
                          &(HttpConfig) { .threads = s->cfg->threads,
                                          .ops = s->ops,
                                          .read_auth = s->cfg->read_auth,
                                          .api_tokens = s->cfg->api_tokens,
                                          .tls_cert = s->cfg->tls_cert,
                                          .ipxe_efi = s->cfg->ipxe_efi,
                                          .tls_key = s->cfg->tls_key,
                                          .console = s->console,
                                          .cluster = s->cluster,
                                          .max_connections = s->max_connections,
                                          .max_connections_per_client = s->max_connections_per_client,
                                          .header_timeout_ms = s->cfg->header_timeout * 1000,
                                          .header_min_rate = s->cfg->header_min_rate,
                                          .max_transfers = s->cfg->max_transfers },
                          &s->http);
}

static int (*const steps[_SERVER_STEP_MAX])(Server *s) = {
        [SERVER_STEP_LIMITS] = step_limits, [SERVER_STEP_SIGNALS] = step_signals,
        [SERVER_STEP_LISTEN] = step_listen, [SERVER_STEP_DAEMON] = step_daemon, [SERVER_STEP_CLUSTER] = step_cluster,
        [SERVER_STEP_CONSOLE] = step_console, [SERVER_STEP_OPS] = step_ops,
        [SERVER_STEP_DISCOVERY] = step_discovery, [SERVER_STEP_HTTP] = step_http,
};

int server_new(const ServerConfig *cfg, Server **ret) {
        _cleanup_(server_freep) Server *s = calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;
        s->cfg = cfg->serve;
        s->fd = -1;
        s->max_connections = s->cfg->max_connections;
        s->max_connections_per_client = s->cfg->max_connections_per_client;

        for (ServerStep step = 0; step < _SERVER_STEP_MAX; step++) {
                int r = server_fault(cfg, step);
                if (r >= 0)
                        r = steps[step](s);
                if (r < 0)
                        return r; /* server_freep undoes the steps that ran */
        }
        *ret = TAKE_PTR(s);
        return 0;
}

int server_run(Server *s) {
        log_info("listening on %s (public URL %s, %zu nodes, state in %s)", s->listen_url, s->public_url,
                 daemon_node_count(s->daemon), s->cfg->state_dir);
        /* Inventory and store are loaded and the socket is served: only now READY=1. */
        service_notify_ready(s->daemon);
        /* Parsing the inventory and reading the store freed much: give it back. */
        malloc_trim(0);

        for (;;) {
                int sig = service_wait_signal(s->daemon, &s->signals);
                if (sig < 0)
                        return sig;
                if (sig == SIGHUP) {
                        log_info("SIGHUP: reloading inventory %s", s->cfg->inventory);
                        (void) http_reload(s->http, NULL, 0, NULL, NULL, 0); /* logged there */
                        continue;
                }
                log_info("%s: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
                service_notify_stopping();
                return 0;
        }
}

void server_free(Server *s) {
        if (!s)
                return;
        /* Console first: its followers end and no connection stays suspended for
         * MHD_stop_daemon(); pending tails go into the history while the daemon lives. */
        console_stop(s->console);
        http_stop(s->http);
        discovery_stop(s->discovery); /* after HTTP: its last batch is written before the store closes */
        ops_free(s->ops);
        console_free(s->console);
        cluster_free(s->cluster);
        daemon_free(s->daemon);
        if (s->fd >= 0)
                close(s->fd);
        free(s->listen_url);
        free(s->public_url);
        free(s->instance_name);
        free(s);
}
