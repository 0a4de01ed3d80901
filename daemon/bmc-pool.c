/* bmc-pool.c — BMC worker pool: one command in flight per BMC, a global limit, bounded
 * queue, retries; see bmc-pool.h.
 *
 * Structure: every BMC with work has a BmcQueue (FIFO of pending jobs), found by key in a
 * tsearch(3) tree.  A queue is on the `ready` list exactly when it has pending jobs and no job
 * running; workers take the first ready queue, run its head job with the lock released, then
 * put the queue back on the ready list (at the tail: BMCs take turns) or drop it when empty.
 * So one BMC never has two jobs running, and `workers` threads bound the total. */
#include "bmc-pool.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <search.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"

#define BMC_POOL_WORKERS_DEFAULT 16
#define BMC_POOL_WORKERS_MAX 1024
#define BMC_POOL_QUEUE_DEFAULT 4096
#define BMC_POOL_BACKOFF_DEFAULT_MS 250
#define BMC_POOL_BACKOFF_MAX_MS 8000
#define BMC_POOL_MIN_ATTEMPT_MS 100
#define BMC_POOL_KEY_MAX (IPMI_TARGET_HOST_MAX + 8)

typedef struct BmcPending {
        BmcJob job;
        int64_t submitted;   /* monotonic ms */
        int64_t deadline_at; /* monotonic ms, or 0 */
        struct BmcPending *next;
} BmcPending;

typedef struct BmcQueue {
        char key[BMC_POOL_KEY_MAX];
        BmcPending *head, *tail;
        bool busy;                  /* a worker runs this BMC's head job */
        struct BmcQueue *ready_next;
} BmcQueue;

struct BmcPool {
        pthread_mutex_t lock;
        pthread_cond_t work;  /* signalled when a queue becomes ready, broadcast on stop */
        pthread_cond_t stop;  /* broadcast on stop; backoff sleeps wait on it */
        pthread_t *threads;
        unsigned n_threads;

        void *tree;           /* tsearch root of BmcQueue, by key */
        BmcQueue *ready_head, *ready_tail;
        unsigned queued, running, bmcs;
        bool stopping;

        unsigned queue_max, timeout_ms, backoff_ms;
        BmcExecutor executor;
        void *executor_data;
};

static int bmc_queue_compare(const void *a, const void *b) {
        return strcmp(((const BmcQueue *) a)->key, ((const BmcQueue *) b)->key);
}

static int bmc_pool_ipmi_executor(void *data, const IpmiTarget *t, const IpmiRequest *req,
                                  IpmiResult *ret, char *err, size_t errlen) {
        return ipmi_run(t, req, ret, err, errlen);
}

void bmc_pool_key(const IpmiTarget *t, char *buf, size_t len) {
        ipmi_target_label(t, buf, len);
        for (; *buf; buf++)
                *buf = (char) tolower((unsigned char) *buf);
}

static void bmc_pending_free(BmcPending *p) {
        if (!p)
                return;
        explicit_bzero(p->job.target.password, sizeof p->job.target.password);
        free(p);
}

/* Calls the job's callback; the lock is not held. */
static void bmc_pending_complete(BmcPending *p, const BmcOutcome *out) {
        if (p->job.done)
                p->job.done(&p->job, out, p->job.userdata);
}

static void bmc_ready_push(BmcPool *pool, BmcQueue *q) {
        q->ready_next = NULL;
        if (pool->ready_tail)
                pool->ready_tail->ready_next = q;
        else
                pool->ready_head = q;
        pool->ready_tail = q;
        pthread_cond_signal(&pool->work);
}

static BmcQueue *bmc_ready_pop(BmcPool *pool) {
        BmcQueue *q = pool->ready_head;
        if (q) {
                pool->ready_head = q->ready_next;
                if (!pool->ready_head)
                        pool->ready_tail = NULL;
                q->ready_next = NULL;
        }
        return q;
}

static bool bmc_retryable(int r) {
        return r == -ETIMEDOUT || r == -EIO;
}

/* Waits ms on the stop condition; returns false if the pool is stopping.  Lock not held. */
static bool bmc_pool_sleep(BmcPool *pool, unsigned ms) {
        struct timespec until = timespec_after_ms(CLOCK_MONOTONIC, ms);
        pthread_mutex_lock(&pool->lock);
        while (!pool->stopping)
                if (pthread_cond_timedwait(&pool->stop, &pool->lock, &until) == ETIMEDOUT)
                        break;
        bool ok = !pool->stopping;
        pthread_mutex_unlock(&pool->lock);
        return ok;
}

/* Runs one job to completion (attempts, backoff, callback).  Lock not held. */
static void bmc_pool_run(BmcPool *pool, BmcPending *p) {
        char err[IPMI_ERROR_MAX] = "";
        char key[BMC_POOL_KEY_MAX];
        BmcOutcome out = { .error = "" };
        int64_t start = now_monotonic_ms();
        unsigned timeout = p->job.timeout_ms ? p->job.timeout_ms : pool->timeout_ms;
        int r = 0;

        out.wait_ms = start - p->submitted;

        if (p->deadline_at && start >= p->deadline_at) {
                bmc_pool_key(&p->job.target, key, sizeof key);
                out.r = -ETIMEDOUT;
                snprintf(err, sizeof err,
                         "BMC %s: command waited %lld ms in the queue; its %u ms deadline passed "
                         "before it could start",
                         key, (long long) out.wait_ms, p->job.deadline_ms);
                out.error = err;
                bmc_pending_complete(p, &out);
                return;
        }

        IpmiTarget target = p->job.target;
        unsigned backoff = pool->backoff_ms;
        for (;;) {
                int64_t now = now_monotonic_ms();
                target.session_timeout_ms = timeout;
                if (p->deadline_at && p->deadline_at - now < (int64_t) timeout)
                        target.session_timeout_ms = (unsigned) (p->deadline_at - now);

                IpmiResult result = {};
                err[0] = '\0';
                r = pool->executor(pool->executor_data, &target, &p->job.request, &result, err,
                                   sizeof err);
                out.attempts++;
                if (r >= 0) {
                        out.result = result;
                        break;
                }
                if (!bmc_retryable(r) || out.attempts > p->job.retries)
                        break;
                now = now_monotonic_ms();
                if (p->deadline_at &&
                    p->deadline_at - now < (int64_t) backoff + BMC_POOL_MIN_ATTEMPT_MS)
                        break;
                if (!bmc_pool_sleep(pool, backoff))
                        break;
                backoff = backoff * 2 > BMC_POOL_BACKOFF_MAX_MS ? BMC_POOL_BACKOFF_MAX_MS : backoff * 2;
        }
        explicit_bzero(target.password, sizeof target.password);

        out.r = r < 0 ? r : 0;
        if (r < 0) {
                if (err[0] == '\0') {
                        bmc_pool_key(&p->job.target, key, sizeof key);
                        snprintf(err, sizeof err, "BMC %s: %s failed: %s", key,
                                 ipmi_op_to_string(p->job.request.op), strerror(-r));
                }
                if (out.attempts > 1) {
                        size_t n = strlen(err);
                        snprintf(err + n, sizeof err - n, " (after %u attempts)", out.attempts);
                }
                out.error = err;
        }
        out.duration_ms = now_monotonic_ms() - start;
        bmc_pending_complete(p, &out);
}

static void *bmc_pool_worker(void *arg) {
        BmcPool *pool = arg;

        pthread_mutex_lock(&pool->lock);
        for (;;) {
                while (!pool->stopping && !pool->ready_head)
                        pthread_cond_wait(&pool->work, &pool->lock);
                if (pool->stopping)
                        break;

                BmcQueue *q = bmc_ready_pop(pool);
                BmcPending *p = q->head;
                q->head = p->next;
                if (!q->head)
                        q->tail = NULL;
                q->busy = true;
                pool->queued--;
                pool->running++;
                pthread_mutex_unlock(&pool->lock);

                bmc_pool_run(pool, p);
                bmc_pending_free(p);

                pthread_mutex_lock(&pool->lock);
                pool->running--;
                q->busy = false;
                if (q->head)
                        bmc_ready_push(pool, q);
                else {
                        tdelete(q, &pool->tree, bmc_queue_compare);
                        pool->bmcs--;
                        free(q);
                }
        }
        pthread_mutex_unlock(&pool->lock);
        return NULL;
}

int bmc_pool_new(const BmcPoolConfig *cfg, BmcPool **ret) {
        BmcPoolConfig c = cfg ? *cfg : (BmcPoolConfig){};
        int r;

        if (c.workers > BMC_POOL_WORKERS_MAX)
                return -EINVAL;
        if (!c.executor) {
                c.executor = bmc_pool_ipmi_executor;
                r = ipmi_init();
                if (r < 0)
                        return r;
        }

        BmcPool *pool = calloc(1, sizeof *pool);
        if (!pool)
                return -ENOMEM;
        pool->queue_max = c.queue_max ? c.queue_max : BMC_POOL_QUEUE_DEFAULT;
        pool->timeout_ms = c.timeout_ms ? c.timeout_ms : IPMI_TIMEOUT_DEFAULT_MS;
        pool->backoff_ms = c.backoff_ms ? c.backoff_ms : BMC_POOL_BACKOFF_DEFAULT_MS;
        pool->executor = c.executor;
        pool->executor_data = c.executor_data;

        unsigned n = c.workers ? c.workers : BMC_POOL_WORKERS_DEFAULT;
        pool->threads = calloc(n, sizeof *pool->threads);
        if (!pool->threads) {
                free(pool);
                return -ENOMEM;
        }

        pthread_condattr_t attr;
        pthread_condattr_init(&attr);
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        pthread_mutex_init(&pool->lock, NULL);
        pthread_cond_init(&pool->work, NULL);
        pthread_cond_init(&pool->stop, &attr);
        pthread_condattr_destroy(&attr);

        for (unsigned i = 0; i < n; i++) {
                r = pthread_create(&pool->threads[i], NULL, bmc_pool_worker, pool);
                if (r != 0) {
                        bmc_pool_free(pool);
                        return -r;
                }
                pool->n_threads++;
        }
        *ret = pool;
        return 0;
}

int bmc_pool_submit(BmcPool *pool, const BmcJob *job) {
        if (job->target.host[0] == '\0' || !memchr(job->target.host, '\0', sizeof job->target.host))
                return -EINVAL;

        BmcPending *p = calloc(1, sizeof *p);
        if (!p)
                return -ENOMEM;
        p->job = *job;
        p->submitted = now_monotonic_ms();
        p->deadline_at = job->deadline_ms ? p->submitted + job->deadline_ms : 0;

        /* Built outside the lock; used as the search key, and kept if the BMC is new. */
        BmcQueue *fresh = calloc(1, sizeof *fresh);
        if (!fresh) {
                bmc_pending_free(p);
                return -ENOMEM;
        }
        bmc_pool_key(&job->target, fresh->key, sizeof fresh->key);

        pthread_mutex_lock(&pool->lock);
        int r = 0;
        if (pool->stopping)
                r = -ECANCELED;
        else if (pool->queued >= pool->queue_max)
                r = -EBUSY;
        if (r < 0) {
                pthread_mutex_unlock(&pool->lock);
                free(fresh);
                bmc_pending_free(p);
                return r;
        }

        BmcQueue **slot = tsearch(fresh, &pool->tree, bmc_queue_compare);
        if (!slot) {
                pthread_mutex_unlock(&pool->lock);
                free(fresh);
                bmc_pending_free(p);
                return -ENOMEM;
        }
        BmcQueue *q = *slot;
        if (q == fresh) {
                fresh = NULL;
                pool->bmcs++;
        }

        if (q->tail)
                q->tail->next = p;
        else
                q->head = p;
        q->tail = p;
        pool->queued++;
        if (!q->busy && q->head == p)
                bmc_ready_push(pool, q);
        pthread_mutex_unlock(&pool->lock);

        free(fresh);
        return 0;
}

void bmc_pool_stats(BmcPool *pool, BmcPoolStats *ret) {
        pthread_mutex_lock(&pool->lock);
        *ret = (BmcPoolStats){
                .queued = pool->queued,
                .running = pool->running,
                .bmcs = pool->bmcs,
        };
        pthread_mutex_unlock(&pool->lock);
}

/* tdestroy() callback after the workers are gone: cancel what is still queued. */
static void bmc_queue_cancel(void *node) {
        BmcQueue *q = node;
        BmcPending *p;

        while ((p = q->head)) {
                q->head = p->next;
                char err[IPMI_ERROR_MAX];
                snprintf(err, sizeof err, "BMC %s: command cancelled: the BMC pool is shutting down",
                         q->key);
                BmcOutcome out = {
                        .r = -ECANCELED,
                        .error = err,
                        .wait_ms = now_monotonic_ms() - p->submitted,
                };
                bmc_pending_complete(p, &out);
                bmc_pending_free(p);
        }
        free(q);
}

void bmc_pool_free(BmcPool *pool) {
        if (!pool)
                return;

        pthread_mutex_lock(&pool->lock);
        pool->stopping = true;
        pthread_cond_broadcast(&pool->work);
        pthread_cond_broadcast(&pool->stop);
        pthread_mutex_unlock(&pool->lock);

        for (unsigned i = 0; i < pool->n_threads; i++)
                pthread_join(pool->threads[i], NULL);

        /* No worker left: every queue still in the tree has only queued jobs. */
        tdestroy(pool->tree, bmc_queue_cancel);
        pthread_cond_destroy(&pool->work);
        pthread_cond_destroy(&pool->stop);
        pthread_mutex_destroy(&pool->lock);
        free(pool->threads);
        free(pool);
}
