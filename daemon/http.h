/* http.h — provd's HTTP API on libmicrohttpd: the server, its route table (http_route_table[],
 * rows of http-routes.h) and the routes it answers itself.  How answers go out is
 * http-response.h's; file serving is files.c's, the console routes console-http.c's and the
 * event stream stream.c's.
 *
 * Threading: HttpConfig.threads threads (one per core, at least 2, by default): libmicrohttpd's
 * thread pool on epoll, or one internal thread on poll() (http_start() says why).  Handlers
 * only touch memory and SQLite through daemon.c, never a BMC or the network, so a small pool
 * keeps up; a separate sd-event loop would buy nothing here.  The write routes (a boot that
 * makes a transition, installer events, node reports) never wait for their store transaction
 * on a worker: they queue the write (daemon.h, "suspended writes") and suspend the connection
 * (MHD_suspend_connection()); the thread that commits the write's batch resumes it, and the
 * worker then answers.  One mutex of the Http (its writes lock, a leaf: held only to suspend,
 * resume and count) orders the two.  http_stop() waits for every connection suspended on a
 * write to be resumed and answered before libmicrohttpd stops.  The listening
 * socket is made by the caller (so it can come from socket activation later). */
#pragma once

#include <microhttpd.h>
#include <stdbool.h>
#include <stdint.h>

#include "daemon.h"
#include "http-routes.h"

typedef struct Http Http;

typedef struct Ops Ops;

typedef struct HttpConfig {
        unsigned threads;       /* worker threads, 0 = one per core (at least 2) */
        Ops *ops;               /* BMC operations (borrowed); NULL: no operation routes */
        bool read_auth;         /* reads of cluster state need an API token too */
        const char *api_tokens; /* API tokens file (apitoken.h), or NULL: none */
        const char *tls_cert;   /* PEM certificate (chain) file for HTTPS, or NULL */
        const char *tls_key;    /* PEM private key file, with tls_cert */
        struct Console *console; /* console capture (borrowed), or NULL: no console routes */
        struct Cluster *cluster; /* this instance among several (borrowed), or NULL: GET /v1/instances 404 */
        const char *ipxe_efi;    /* iPXE EFI binary served at /v1/ipxe.efi (absolute path), or NULL: 404 */
        /* Connection limits (http-conns.h); 0 in max_connections or header_timeout_ms: the defaults
         * 4096 and 10000 ms. */
        unsigned max_connections;            /* libmicrohttpd's MHD_OPTION_CONNECTION_LIMIT */
        unsigned max_connections_per_client; /* MHD_OPTION_PER_IP_CONNECTION_LIMIT; 0: none */
        unsigned header_timeout_ms;          /* a request must arrive within this ... */
        unsigned header_min_rate;            /* ... or keep coming at this many bytes/s; 0: deadline only */
        unsigned max_transfers; /* GET /v1/files bodies sent at once; more wait (transfers.h); 0: no cap */
} HttpConfig;

/* Starts serving on the bound, listening socket fd (ownership passes to Http, even on
 * failure) with the settings in cfg (copied).  At most cfg->max_connections connections
 * at once, cfg->max_connections_per_client from one client address (libmicrohttpd's
 * MHD_OPTION_CONNECTION_LIMIT and MHD_OPTION_PER_IP_CONNECTION_LIMIT); the connection table
 * (http-conns.h) shuts down connections whose request is late and slow, and evicts the one
 * waiting longest for its request when the table is nearly full.  The caller has made
 * RLIMIT_NOFILE large enough.  Loads the API tokens file and, with
 * tls_cert/tls_key, serves HTTPS through libmicrohttpd's GnuTLS support.  d is borrowed
 * and must outlive the Http.  Returns 0 and *ret, or a negative errno (logged): -ENOENT /
 * -EINVAL for a missing or broken tokens, certificate or key file, -EOPNOTSUPP without TLS
 * support, -EIO when libmicrohttpd refuses to start. */
int http_start(Daemon *d, int fd, const HttpConfig *cfg, Http **ret);

/* Reloads for SIGHUP and POST /v1/reload: the inventory (daemon_reload()) and the API tokens
 * file, each independently (a broken one keeps its current version in force), between
 * systemd's RELOADING=1 and READY=1 (service.h).  Returns the new node count or the
 * inventory's negative errno; *ret_tokens (may be NULL) gets the token count or its errno.
 * Each failure is logged once here and its message, naming the node, field or file, also
 * goes to err / tokens_err (errlen / tokens_errlen bytes; either may be NULL). */
int http_reload(Http *h, char *err, size_t errlen, int *ret_tokens, char *tokens_err, size_t tokens_errlen);

/* Re-reads the API tokens file (part of http_reload()).  On error the current tokens stay
 * in force and the message naming the file goes to err (errlen bytes, may be NULL; not
 * logged).  Returns the number of tokens loaded, or a negative errno. */
int http_reload_api_tokens(Http *h, char *err, size_t errlen);

/* Stops accepting, finishes in-flight requests, frees.  Writes still suspended are committed
 * and answered first: it waits for their batch (the daemon must outlive the Http, and its
 * committer thread runs them), then up to 5 s for their answers to go out (a client that does
 * not read its answer is closed then).  Main thread. */
void http_stop(Http *h);

/* The route table (http-routes.h) every server answers from, http_route_table_size rows. */
extern const HttpRoute http_route_table[];
extern const size_t http_route_table_size;
