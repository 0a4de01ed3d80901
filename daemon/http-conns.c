/* http-conns.c — see http-conns.h.
 *
 * The table is three lists, one per state, each a doubly linked list: waiting (new
 * connections, oldest first: appended when accepted), kept (kept-alive connections, oldest
 * first: appended when their previous request completed) and busy (any order); connections
 * shut down wait in a fourth list until libmicrohttpd closes them.  So eviction takes the
 * head of a list, and the sweeper walks the waiting list only as far as its deadlines have
 * passed; it asks the kernel for the byte count of every kept-alive connection each pass
 * (one getsockopt(2) each) to see whether their next request has begun. */
#include "http-conns.h"

#include <errno.h>
#include <inttypes.h>
#include <linux/tcp.h> /* struct tcp_info with tcpi_bytes_received; glibc's <netinet/tcp.h> lacks it */
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "log.h"
#include "util.h"

#define HTTP_CONNS_MIN 16
#define LOG_INTERVAL_MS 10000

typedef enum ConnState {
        CONN_WAITING, /* new, no whole request yet */
        CONN_KEPT,    /* kept alive after a request, the next one not yet whole */
        CONN_BUSY,    /* its request arrived whole: never shut down here */
        CONN_SHUT,    /* shut down, libmicrohttpd has not closed it yet */
        _CONN_STATE_MAX,
} ConnState;

struct HttpConn {
        int fd;             /* libmicrohttpd's; valid until http_conns_close() */
        ConnState state;
        bool begun;         /* the current request has begun (always, for CONN_WAITING) */
        int64_t since_ms;   /* CONN_WAITING: accepted; CONN_KEPT: previous request completed */
        int64_t begun_ms;   /* when the current request began (with begun) */
        uint64_t baseline;  /* bytes received before the current request (or the wait, CONN_KEPT) */
        HttpConn *prev, *next;
};

typedef struct ConnList {
        HttpConn *head, *tail;
        unsigned n;
} ConnList;

typedef enum ShutReason {
        SHUT_DEADLINE,
        SHUT_EVICTED,
} ShutReason;

struct HttpConns {
        HttpConnsConfig cfg;
        unsigned high_water;

        pthread_mutex_t lock; /* guards everything below, and each shutdown(2) */
        ConnList lists[_CONN_STATE_MAX];
        uint64_t shut_deadline, shut_evicted;
        uint64_t no_victim; /* new connections that found more than high_water open, all busy */

        /* The sweeper's; logged counts (under lock). */
        uint64_t logged_deadline, logged_evicted, logged_no_victim;
        int64_t last_log_ms;

        pthread_cond_t cond; /* CLOCK_MONOTONIC; wakes the sweeper to stop */
        bool stopping;
        bool thread_started;
        pthread_t thread;
};

static int64_t clock_now(const HttpConns *t) {
        return t->cfg.clock_ms ? t->cfg.clock_ms() : now_monotonic_ms();
}

static void list_append(ConnList *l, HttpConn *c) {
        c->next = NULL;
        c->prev = l->tail;
        if (l->tail)
                l->tail->next = c;
        else
                l->head = c;
        l->tail = c;
        l->n++;
}

static void list_remove(ConnList *l, HttpConn *c) {
        if (c->prev)
                c->prev->next = c->next;
        else
                l->head = c->next;
        if (c->next)
                c->next->prev = c->prev;
        else
                l->tail = c->prev;
        c->prev = c->next = NULL;
        l->n--;
}

static void set_state(HttpConns *t, HttpConn *c, ConnState state) {
        list_remove(&t->lists[c->state], c);
        c->state = state;
        list_append(&t->lists[state], c);
}

static unsigned open_count(const HttpConns *t) {
        return t->lists[CONN_WAITING].n + t->lists[CONN_KEPT].n + t->lists[CONN_BUSY].n;
}

/* Bytes the socket has received since it was connected (TCP_INFO, tcp(7)); false when the
 * kernel does not say (not TCP, or older than Linux 4.1). */
static bool bytes_received(int fd, uint64_t *ret) {
        struct tcp_info ti;
        socklen_t len = sizeof ti;
        memset(&ti, 0, sizeof ti);
        if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0 ||
            len < offsetof(struct tcp_info, tcpi_bytes_received) + sizeof ti.tcpi_bytes_received)
                return false;
        *ret = ti.tcpi_bytes_received;
        return true;
}

/* Whether c's current request (begun) is past the deadline and below the minimum rate. */
static bool too_slow(const HttpConns *t, const HttpConn *c, int64_t now) {
        int64_t elapsed = now - c->begun_ms;
        if (elapsed < (int64_t) t->cfg.header_timeout_ms)
                return false;
        if (t->cfg.header_min_rate == 0)
                return true;
        uint64_t b;
        if (!bytes_received(c->fd, &b))
                return true; /* nothing to measure a rate with: the deadline alone */
        uint64_t got = b > c->baseline ? b - c->baseline : 0;
        return got * 1000 < (uint64_t) t->cfg.header_min_rate * (uint64_t) elapsed;
}

/* Called with t->lock held: the connection cannot be closed (and its descriptor reused)
 * before http_conns_close() takes the lock. */
static void shut(HttpConns *t, HttpConn *c, ShutReason why) {
        (void) shutdown(c->fd, SHUT_RDWR);
        set_state(t, c, CONN_SHUT);
        if (why == SHUT_DEADLINE)
                t->shut_deadline++;
        else
                t->shut_evicted++;
}

HttpConn *http_conns_open(HttpConns *t, int fd) {
        HttpConn *c = calloc(1, sizeof *c);
        if (!c)
                return NULL;
        int64_t now = clock_now(t);
        *c = (HttpConn) { .fd = fd, .state = CONN_WAITING, .begun = true, .since_ms = now, .begun_ms = now };

        pthread_mutex_lock(&t->lock);
        list_append(&t->lists[CONN_WAITING], c);
        while (open_count(t) > t->high_water) {
                /* The oldest new connection (never c itself: it is the newest), else the
                 * kept-alive connection idle longest. */
                HttpConn *victim = t->lists[CONN_WAITING].head;
                if (victim == c)
                        victim = t->lists[CONN_KEPT].head;
                if (!victim) {
                        t->no_victim++;
                        break;
                }
                shut(t, victim, SHUT_EVICTED);
        }
        pthread_mutex_unlock(&t->lock);
        return c;
}

void http_conns_request_begin(HttpConns *t, HttpConn *c) {
        if (!c)
                return;
        pthread_mutex_lock(&t->lock);
        if (c->state == CONN_WAITING || c->state == CONN_KEPT)
                set_state(t, c, CONN_BUSY);
        pthread_mutex_unlock(&t->lock);
}

void http_conns_request_end(HttpConns *t, HttpConn *c) {
        if (!c)
                return;
        /* On the connection's own worker thread: the descriptor is open. */
        uint64_t b = 0;
        (void) bytes_received(c->fd, &b);
        int64_t now = clock_now(t);
        pthread_mutex_lock(&t->lock);
        if (c->state == CONN_BUSY) {
                set_state(t, c, CONN_KEPT);
                c->since_ms = now;
                c->begun = false;
                c->baseline = b;
        }
        pthread_mutex_unlock(&t->lock);
}

void http_conns_close(HttpConns *t, HttpConn *c) {
        if (!c)
                return;
        pthread_mutex_lock(&t->lock);
        list_remove(&t->lists[c->state], c);
        pthread_mutex_unlock(&t->lock);
        free(c);
}

/* Called with t->lock held. */
static void log_counts_locked(HttpConns *t, int64_t now) {
        if (now - t->last_log_ms < LOG_INTERVAL_MS)
                return;
        uint64_t deadline = t->shut_deadline - t->logged_deadline, evicted = t->shut_evicted - t->logged_evicted,
                 no_victim = t->no_victim - t->logged_no_victim;
        if (deadline == 0 && evicted == 0 && no_victim == 0)
                return;
        if (deadline > 0)
                log_warning("http: shut down %" PRIu64 " connections in the last %d s whose request did not arrive "
                            "within header_timeout %u ms nor at header_min_rate %u B/s",
                            deadline, LOG_INTERVAL_MS / 1000, t->cfg.header_timeout_ms, t->cfg.header_min_rate);
        if (evicted > 0)
                log_warning("http: evicted %" PRIu64 " connections in the last %d s, those that waited longest for "
                            "their request, to make room for new ones (%u of max_connections %u open, %u busy)",
                            evicted, LOG_INTERVAL_MS / 1000, open_count(t), t->cfg.max_connections,
                            t->lists[CONN_BUSY].n);
        if (no_victim > 0)
                log_warning("http: %" PRIu64 " new connections found the table nearly full of requests in flight "
                            "(%u of max_connections %u busy): raise max_connections if this is not an attack",
                            no_victim, t->lists[CONN_BUSY].n, t->cfg.max_connections);
        t->logged_deadline = t->shut_deadline;
        t->logged_evicted = t->shut_evicted;
        t->logged_no_victim = t->no_victim;
        t->last_log_ms = now;
}

unsigned http_conns_sweep(HttpConns *t, int64_t now) {
        unsigned n = 0;
        HttpConn *next;

        pthread_mutex_lock(&t->lock);
        /* Oldest first: stop at the first whose deadline is still ahead. */
        for (HttpConn *c = t->lists[CONN_WAITING].head; c; c = next) {
                next = c->next;
                if (now - c->begun_ms < (int64_t) t->cfg.header_timeout_ms)
                        break;
                if (too_slow(t, c, now)) {
                        shut(t, c, SHUT_DEADLINE);
                        n++;
                }
        }
        for (HttpConn *c = t->lists[CONN_KEPT].head; c; c = next) {
                next = c->next;
                if (!c->begun) {
                        uint64_t b;
                        if (bytes_received(c->fd, &b) && b > c->baseline) {
                                c->begun = true;
                                c->begun_ms = now;
                        }
                        continue;
                }
                if (too_slow(t, c, now)) {
                        shut(t, c, SHUT_DEADLINE);
                        n++;
                }
        }
        log_counts_locked(t, now);
        pthread_mutex_unlock(&t->lock);
        return n;
}

void http_conns_stats(HttpConns *t, HttpConnsStats *ret) {
        pthread_mutex_lock(&t->lock);
        *ret = (HttpConnsStats) {
                .open = open_count(t),
                .waiting = t->lists[CONN_WAITING].n,
                .kept = t->lists[CONN_KEPT].n,
                .busy = t->lists[CONN_BUSY].n,
                .high_water = t->high_water,
                .shut_deadline = t->shut_deadline,
                .shut_evicted = t->shut_evicted,
        };
        pthread_mutex_unlock(&t->lock);
}

static void *sweeper(void *userdata) {
        HttpConns *t = userdata;
        pthread_mutex_lock(&t->lock);
        while (!t->stopping) {
                struct timespec ts = timespec_after_ms(CLOCK_MONOTONIC, t->cfg.sweep_ms);
                if (pthread_cond_timedwait(&t->cond, &t->lock, &ts) == 0 || t->stopping)
                        continue;
                pthread_mutex_unlock(&t->lock);
                (void) http_conns_sweep(t, clock_now(t));
                pthread_mutex_lock(&t->lock);
        }
        pthread_mutex_unlock(&t->lock);
        return NULL;
}

int http_conns_new(const HttpConnsConfig *cfg, HttpConns **ret) {
        if (cfg->max_connections < HTTP_CONNS_MIN || cfg->header_timeout_ms == 0)
                return -EINVAL;
        HttpConns *t = calloc(1, sizeof *t);
        if (!t)
                return -ENOMEM;
        t->cfg = *cfg;
        t->high_water = cfg->max_connections - cfg->max_connections / 16;
        pthread_mutex_init(&t->lock, NULL);
        pthread_condattr_t attr;
        pthread_condattr_init(&attr);
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        pthread_cond_init(&t->cond, &attr);
        pthread_condattr_destroy(&attr);
        t->last_log_ms = clock_now(t);
        if (cfg->sweep_ms > 0) {
                int r = pthread_create(&t->thread, NULL, sweeper, t);
                if (r != 0) {
                        http_conns_free(t);
                        return -r;
                }
                t->thread_started = true;
        }
        *ret = t;
        return 0;
}

void http_conns_free(HttpConns *t) {
        if (!t)
                return;
        if (t->thread_started) {
                pthread_mutex_lock(&t->lock);
                t->stopping = true;
                pthread_cond_broadcast(&t->cond);
                pthread_mutex_unlock(&t->lock);
                pthread_join(t->thread, NULL);
        }
        for (int s = 0; s < _CONN_STATE_MAX; s++)
                while (t->lists[s].head) {
                        HttpConn *c = t->lists[s].head;
                        list_remove(&t->lists[s], c);
                        free(c);
                }
        pthread_cond_destroy(&t->cond);
        pthread_mutex_destroy(&t->lock);
        free(t);
}
