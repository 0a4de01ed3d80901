/* transfers.c — see transfers.h. */
#include "transfers.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"
#include "util.h"

typedef enum TicketState {
        TICKET_NEW,       /* made, never queued nor granted */
        TICKET_WAITING,   /* in the queue, its connection suspended */
        TICKET_ACTIVE,    /* holds a slot */
        TICKET_CANCELLED, /* left the queue without a slot: client gone or server stopping */
} TicketState;

struct TransferTicket {
        struct MHD_Connection *c; /* borrowed */
        int fd;                   /* c's socket (borrowed), polled while waiting */
        uint64_t id;              /* queue order: ids grow from head to tail */
        TicketState state;
        TransferTicket *prev, *next; /* the queue, while waiting */
};

struct Transfers {
        pthread_mutex_t lock;
        pthread_cond_t cond; /* the watcher waits on it while nobody waits */
        unsigned max;        /* 0: no cap */
        unsigned active;
        size_t queued;
        uint64_t next_id;
        TransferTicket *head, *tail;
        bool stopping;
        int wake_fd; /* eventfd: a new waiter, or stop, interrupts the watcher's poll() */
        pthread_t watcher;
        bool watcher_started;
};

/* The gauges after a change; transfers lock held. */
static void publish_locked(Transfers *t) {
        metrics_file_transfers(t->active, t->queued);
}

static void queue_remove_locked(Transfers *t, TransferTicket *k) {
        if (k->prev)
                k->prev->next = k->next;
        else
                t->head = k->next;
        if (k->next)
                k->next->prev = k->prev;
        else
                t->tail = k->prev;
        k->prev = k->next = NULL;
        t->queued--;
}

static void wake_watcher(Transfers *t) {
        uint64_t one = 1;
        (void) !write(t->wake_fd, &one, sizeof one);
}

/* Polls the waiting connections' sockets until stopped; a closed one's ticket is cancelled
 * and its connection resumed (the handler then closes it). */
static void *watcher_run(void *arg) {
        Transfers *t = arg;
        struct pollfd *fds = NULL;
        uint64_t *ids = NULL;
        size_t cap = 0;

        pthread_mutex_lock(&t->lock);
        while (!t->stopping) {
                if (t->queued == 0) {
                        pthread_cond_wait(&t->cond, &t->lock);
                        continue;
                }
                if (t->queued + 1 > cap) {
                        size_t n = (t->queued + 1) * 2;
                        struct pollfd *f = realloc(fds, n * sizeof *f);
                        if (f)
                                fds = f;
                        uint64_t *i = realloc(ids, n * sizeof *i);
                        if (i)
                                ids = i;
                        if (!f || !i) {
                                /* Try again later; waiters still get their turn meanwhile. */
                                pthread_mutex_unlock(&t->lock);
                                log_error("transfers: cannot watch %zu waiting connections: out of memory", t->queued);
                                usleep(500 * 1000);
                                pthread_mutex_lock(&t->lock);
                                continue;
                        }
                        cap = n;
                }
                size_t n = 0;
                fds[n++] = (struct pollfd) { .fd = t->wake_fd, .events = POLLIN };
                for (TransferTicket *k = t->head; k; k = k->next) {
                        ids[n] = k->id;
                        fds[n++] = (struct pollfd) { .fd = k->fd, .events = POLLRDHUP };
                }
                pthread_mutex_unlock(&t->lock);

                /* The descriptors stay open while their tickets wait: a waiting connection is
                 * suspended, and libmicrohttpd closes none before transfers_stop().  A ticket
                 * that stopped waiting meanwhile is not in the queue any more (checked
                 * below), so what poll() said of a reused descriptor is ignored. */
                int r = poll(fds, n, 1000);
                if (fds[0].revents & POLLIN) {
                        uint64_t v;
                        (void) !read(t->wake_fd, &v, sizeof v);
                }

                pthread_mutex_lock(&t->lock);
                if (r <= 0)
                        continue;
                /* Both the queue and ids[] are in id order: one merge walk. */
                TransferTicket *k = t->head;
                bool changed = false;
                for (size_t i = 1; i < n && k; i++) {
                        if (!(fds[i].revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)))
                                continue;
                        while (k && k->id < ids[i])
                                k = k->next;
                        if (!k || k->id != ids[i])
                                continue;
                        TransferTicket *gone = k;
                        k = k->next;
                        queue_remove_locked(t, gone);
                        gone->state = TICKET_CANCELLED;
                        MHD_resume_connection(gone->c);
                        changed = true;
                }
                if (changed)
                        publish_locked(t);
        }
        pthread_mutex_unlock(&t->lock);
        free(fds);
        free(ids);
        return NULL;
}

int transfers_new(unsigned max, Transfers **ret) {
        Transfers *t = calloc(1, sizeof *t);
        if (!t)
                return -ENOMEM;
        pthread_mutex_init(&t->lock, NULL);
        pthread_cond_init(&t->cond, NULL);
        t->max = max;
        t->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (t->wake_fd < 0) {
                int r = -errno;
                transfers_free(t);
                return r;
        }
        int r = pthread_create(&t->watcher, NULL, watcher_run, t);
        if (r != 0) {
                transfers_free(t);
                return -r;
        }
        t->watcher_started = true;
        metrics_file_transfers(0, 0);
        *ret = t;
        return 0;
}

void transfers_stop(Transfers *t) {
        if (!t)
                return;
        pthread_mutex_lock(&t->lock);
        t->stopping = true;
        while (t->head) {
                TransferTicket *k = t->head;
                queue_remove_locked(t, k);
                k->state = TICKET_CANCELLED;
                MHD_resume_connection(k->c);
        }
        publish_locked(t);
        pthread_cond_broadcast(&t->cond);
        pthread_mutex_unlock(&t->lock);
        if (t->watcher_started) {
                wake_watcher(t);
                pthread_join(t->watcher, NULL);
                t->watcher_started = false;
        }
}

void transfers_free(Transfers *t) {
        if (!t)
                return;
        transfers_stop(t);
        if (t->wake_fd >= 0)
                close(t->wake_fd);
        pthread_cond_destroy(&t->cond);
        pthread_mutex_destroy(&t->lock);
        free(t);
}

int transfers_acquire(Transfers *t, struct MHD_Connection *c, TransferTicket **ticket) {
        TransferTicket *k = *ticket;
        if (!k) {
                const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
                k = calloc(1, sizeof *k);
                if (!k)
                        return -ENOMEM;
                *k = (TransferTicket) { .c = c, .fd = ci ? ci->connect_fd : -1, .state = TICKET_NEW };
                *ticket = k;
        }

        pthread_mutex_lock(&t->lock);
        int r;
        switch (k->state) {
        case TICKET_ACTIVE:
                r = 1;
                break;
        case TICKET_CANCELLED:
                r = -ECANCELED;
                break;
        case TICKET_WAITING: /* resumed by nobody of ours: wait on */
                MHD_suspend_connection(c);
                r = 0;
                break;
        case TICKET_NEW:
        default:
                if (t->stopping) {
                        k->state = TICKET_CANCELLED;
                        r = -ECANCELED;
                } else if (t->max == 0 || (t->active < t->max && !t->head)) {
                        k->state = TICKET_ACTIVE;
                        t->active++;
                        r = 1;
                } else {
                        /* Suspended before anyone can see it in the queue, so no resume comes
                         * before its suspend. */
                        k->state = TICKET_WAITING;
                        k->id = t->next_id++;
                        k->prev = t->tail;
                        if (t->tail)
                                t->tail->next = k;
                        else
                                t->head = k;
                        t->tail = k;
                        t->queued++;
                        MHD_suspend_connection(c);
                        metrics_file_transfer_wait();
                        pthread_cond_signal(&t->cond);
                        wake_watcher(t);
                        r = 0;
                }
                publish_locked(t);
                break;
        }
        pthread_mutex_unlock(&t->lock);
        return r;
}

void transfers_completed(Transfers *t, TransferTicket *k) {
        if (!k)
                return;
        pthread_mutex_lock(&t->lock);
        if (k->state == TICKET_WAITING)
                queue_remove_locked(t, k);
        if (k->state == TICKET_ACTIVE) {
                t->active--;
                /* The slot goes to the first waiter: it is resumed holding it. */
                while (t->head && (t->max == 0 || t->active < t->max)) {
                        TransferTicket *w = t->head;
                        queue_remove_locked(t, w);
                        w->state = TICKET_ACTIVE;
                        t->active++;
                        MHD_resume_connection(w->c);
                }
        }
        publish_locked(t);
        pthread_mutex_unlock(&t->lock);
        free(k);
}
