/* server.h — `provd serve` as one object: start-up in order (open-files limit, signal mask,
 * the API socket, daemon, console capture, operations, discovery, HTTP), the main loop
 * (signals, reload, watchdog) and shutdown in reverse order of whatever got started.
 *
 * Threads: the main thread only.  server_new() blocks SIGHUP, SIGTERM and SIGINT before it
 * starts the first thread, so every thread provd starts inherits the mask and only
 * server_run() takes those signals (sigwaitinfo); SIGPIPE is ignored.  The mask is left in
 * place by server_free(): a second SIGTERM during shutdown stays pending instead of ending
 * provd before its store is closed.
 *
 * Shutdown order (server_free()): console capture stops first (its followers end, so no
 * connection stays suspended for libmicrohttpd's stop; pending tails go into the history
 * while the daemon lives), then HTTP, discovery (its last batch is written before the store
 * closes), operations, console, daemon. */
#pragma once

#include "config.h"

typedef struct Server Server;

/* The start-up steps, in the order server_new() runs them. */
typedef enum ServerStep {
        SERVER_STEP_LIMITS,    /* RLIMIT_NOFILE raised for max_connections (never fails) */
        SERVER_STEP_SIGNALS,   /* SIGHUP/SIGTERM/SIGINT blocked, SIGPIPE ignored */
        SERVER_STEP_LISTEN,    /* the socket-activated socket or --listen bound; URLs */
        SERVER_STEP_DAEMON,    /* inventory and store (daemon_new()) */
        SERVER_STEP_CLUSTER,   /* heartbeat and notifications of a shared store (cluster_new()) */
        SERVER_STEP_CONSOLE,   /* console capture thread (console_new()) */
        SERVER_STEP_OPS,       /* BMC pool and deadline sweep (ops_new()) */
        SERVER_STEP_DISCOVERY, /* the DHCP capture (discovery_start()); nothing when off */
        SERVER_STEP_HTTP,      /* libmicrohttpd serving the socket (http_start()) */
        _SERVER_STEP_MAX,
} ServerStep;

/* For tests only: makes start-up step `step` fail with `error` (a negative errno) instead of
 * running; the steps before it ran and are undone as for a real failure. */
typedef struct ServerFault {
        ServerStep step;
        int error;
} ServerFault;

typedef struct ServerConfig {
        const ServeConfig *serve; /* flags and config file, checked (config_check()), inventory
                                   * set; borrowed, must outlive the Server */
        const ServerFault *fault; /* tests only; NULL in provd */
} ServerConfig;

/* "limits", "signals", "listen", ... for a step; NULL for a value out of range. */
const char *server_step_name(ServerStep step);

/* Runs the start-up steps in order.  On success *ret is a new Server, serving HTTP (caller
 * owns; server_free()).  On failure everything started so far is stopped and freed and the
 * step's negative errno is returned (logged by the step): e.g. -EADDRINUSE from listen,
 * -ENOENT / -EINVAL for a missing or broken inventory, tokens file or certificate, -EPERM
 * or -ENODEV from discovery, -EIO when libmicrohttpd refuses to start. */
int server_new(const ServerConfig *cfg, Server **ret);

/* Announces the server ("listening on URL" on the log, READY=1 with STATUS=), then takes
 * signals until SIGTERM or SIGINT (STOPPING=1): SIGHUP reloads the inventory and the API
 * tokens; the service watchdog is fed meanwhile (service_wait_signal()).  Returns 0 once
 * stopped by a signal, or a negative errno (logged) if waiting for signals failed. */
int server_run(Server *s);

/* Stops and frees, in reverse start-up order, whatever server_new() started.  NULL is fine. */
void server_free(Server *s);

static inline void server_freep(Server **s) {
        server_free(*s);
}
