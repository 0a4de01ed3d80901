/* test-bmc-pool.c — unit tests for bmc-pool.c's scheduling, with a fake executor instead of
 * IPMI: one job in flight per BMC, the global worker limit, FIFO order per BMC, -EBUSY when
 * the queue is full, cancellation in bmc_pool_free(), retries only for retryable errors, the
 * per-attempt timeout and the job deadline, and a slow BMC not delaying the others.
 *
 * The fake BMC behind host "hN" is fake.bmc[N]: it sleeps `sleep_ms` (or, with
 * sleep_session_timeout, the session timeout the pool passed), then fails with `fail_r` for
 * its first `fail_times` calls and succeeds after that. */
#include "check-main.h"
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bmc-pool.h"

#define N_BMC 32
#define MAX_JOBS 256

typedef struct FakeBmc {
        unsigned sleep_ms;
        bool sleep_session_timeout;
        int fail_r;
        unsigned fail_times;
        unsigned calls;
        unsigned in_flight;
        unsigned last_session_timeout_ms;
} FakeBmc;

static struct {
        pthread_mutex_t lock;
        pthread_cond_t cond;
        FakeBmc bmc[N_BMC];
        unsigned in_flight, max_in_flight;
        bool per_bmc_violation;
        unsigned total_calls;
        /* completions */
        unsigned done;
        int order[N_BMC][MAX_JOBS]; /* per BMC: job ids in completion order */
        unsigned n_order[N_BMC];
        BmcOutcome outcome[MAX_JOBS];
        char error[MAX_JOBS][IPMI_ERROR_MAX];
        unsigned times_called[MAX_JOBS];
} fake = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

static int64_t mono_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int fake_index(const IpmiTarget *t) {
        int i = atoi(t->host + 1);
        ck_assert((t->host[0] == 'h' || t->host[0] == 'H') && i >= 0 && i < N_BMC);
        return i;
}

static int fake_executor(void *data, const IpmiTarget *t, const IpmiRequest *req,
                         IpmiResult *ret, char *err, size_t errlen) {
        ck_assert_ptr_eq(data, &fake);
        int i = fake_index(t);
        FakeBmc *b = &fake.bmc[i];

        pthread_mutex_lock(&fake.lock);
        fake.total_calls++;
        b->calls++;
        unsigned call = b->calls;
        b->last_session_timeout_ms = t->session_timeout_ms;
        if (++b->in_flight > 1)
                fake.per_bmc_violation = true;
        if (++fake.in_flight > fake.max_in_flight)
                fake.max_in_flight = fake.in_flight;
        unsigned ms = b->sleep_session_timeout ? t->session_timeout_ms : b->sleep_ms;
        pthread_mutex_unlock(&fake.lock);

        usleep(ms * 1000);

        pthread_mutex_lock(&fake.lock);
        b->in_flight--;
        fake.in_flight--;
        pthread_mutex_unlock(&fake.lock);

        if (call <= b->fail_times) {
                snprintf(err, errlen, "fake %s: failure %u", t->host, call);
                return b->fail_r;
        }
        ret->power_on = true;
        return 0;
}

static void on_done(const BmcJob *job, const BmcOutcome *out, void *userdata) {
        int id = (int) (intptr_t) userdata;
        int i = fake_index(&job->target);
        pthread_mutex_lock(&fake.lock);
        fake.outcome[id] = *out;
        snprintf(fake.error[id], sizeof fake.error[id], "%s", out->error);
        fake.outcome[id].error = fake.error[id];
        fake.times_called[id]++;
        fake.order[i][fake.n_order[i]++] = id;
        fake.done++;
        pthread_cond_broadcast(&fake.cond);
        pthread_mutex_unlock(&fake.lock);
}

static BmcPool *pool_new(unsigned workers, unsigned queue_max) {
        BmcPool *pool = NULL;
        BmcPoolConfig cfg = { .workers = workers, .queue_max = queue_max, .timeout_ms = 1000,
                              .backoff_ms = 20, .executor = fake_executor, .executor_data = &fake };
        ck_assert_int_eq(bmc_pool_new(&cfg, &pool), 0);
        return pool;
}

static BmcJob job_for(int bmc, int id) {
        BmcJob job = { .request = { .op = IPMI_OP_POWER_STATUS }, .done = on_done,
                       .userdata = (void *) (intptr_t) id };
        snprintf(job.target.host, sizeof job.target.host, "h%d", bmc);
        snprintf(job.target.password, sizeof job.target.password, "pw");
        return job;
}

static void submit(BmcPool *pool, int bmc, int id) {
        BmcJob job = job_for(bmc, id);
        ck_assert_int_eq(bmc_pool_submit(pool, &job), 0);
}

/* Waits until n callbacks have run, at most timeout_ms. */
static void wait_done(unsigned n, unsigned timeout_ms) {
        int64_t until = mono_ms() + timeout_ms;
        pthread_mutex_lock(&fake.lock);
        while (fake.done < n) {
                pthread_mutex_unlock(&fake.lock);
                ck_assert_msg(mono_ms() < until, "only %u of %u jobs done after %u ms", fake.done, n,
                              timeout_ms);
                usleep(2000);
                pthread_mutex_lock(&fake.lock);
        }
        pthread_mutex_unlock(&fake.lock);
}

static void wait_running(BmcPool *pool, unsigned n) {
        BmcPoolStats st;
        int64_t until = mono_ms() + 5000;
        for (;;) {
                bmc_pool_stats(pool, &st);
                if (st.running >= n)
                        return;
                ck_assert_msg(mono_ms() < until, "never %u running", n);
                usleep(1000);
        }
}

START_TEST(test_one_in_flight_per_bmc) {
        BmcPool *pool = pool_new(8, 0);
        fake.bmc[0].sleep_ms = 10;
        int64_t start = mono_ms();
        for (int id = 0; id < 20; id++)
                submit(pool, 0, id);
        wait_done(20, 10000);
        int64_t took = mono_ms() - start;
        bmc_pool_free(pool);

        ck_assert(!fake.per_bmc_violation);
        ck_assert_uint_eq(fake.max_in_flight, 1); /* 8 workers, one BMC: never two at once */
        ck_assert_int_ge(took, 20 * 10);           /* serialised */
        for (int id = 0; id < 20; id++) {
                ck_assert_int_eq(fake.order[0][id], id); /* FIFO */
                ck_assert_int_eq(fake.outcome[id].r, 0);
                ck_assert(fake.outcome[id].result.power_on);
                ck_assert_uint_eq(fake.times_called[id], 1);
        }
}
END_TEST

START_TEST(test_global_limit) {
        BmcPool *pool = pool_new(4, 0);
        for (int b = 0; b < 16; b++)
                fake.bmc[b].sleep_ms = 50;
        int64_t start = mono_ms();
        for (int b = 0; b < 16; b++)
                submit(pool, b, b);
        wait_done(16, 10000);
        int64_t took = mono_ms() - start;
        bmc_pool_free(pool);

        ck_assert_uint_eq(fake.max_in_flight, 4); /* reached, never exceeded */
        ck_assert_int_ge(took, 4 * 50);           /* 16 jobs / 4 workers = 4 rounds */
        ck_assert(!fake.per_bmc_violation);
}
END_TEST

START_TEST(test_fifo_per_bmc_interleaved) {
        BmcPool *pool = pool_new(3, 0);
        for (int b = 0; b < 3; b++)
                fake.bmc[b].sleep_ms = 1 + b;
        /* ids 0..59 round-robin over 3 BMCs */
        for (int id = 0; id < 60; id++)
                submit(pool, id % 3, id);
        wait_done(60, 10000);
        bmc_pool_free(pool);

        for (int b = 0; b < 3; b++) {
                ck_assert_uint_eq(fake.n_order[b], 20);
                for (unsigned k = 0; k < 20; k++)
                        ck_assert_int_eq(fake.order[b][k], (int) (k * 3) + b);
        }
        ck_assert(!fake.per_bmc_violation);
}
END_TEST

START_TEST(test_key_normalised) {
        /* "H0", "h0:623" and "h0" with port 0 are the same BMC: never in flight together. */
        BmcPool *pool = pool_new(4, 0);
        fake.bmc[0].sleep_ms = 20;
        for (int id = 0; id < 6; id++) {
                BmcJob job = job_for(0, id);
                if (id % 3 == 1)
                        job.target.port = 623;
                else if (id % 3 == 2)
                        job.target.host[0] = 'H';
                ck_assert_int_eq(bmc_pool_submit(pool, &job), 0);
        }
        wait_done(6, 10000);
        bmc_pool_free(pool);
        ck_assert(!fake.per_bmc_violation);
        ck_assert_uint_eq(fake.max_in_flight, 1);

        char key[300];
        IpmiTarget t = { .host = "BMC-7.Example" };
        bmc_pool_key(&t, key, sizeof key);
        ck_assert_str_eq(key, "bmc-7.example:623");
        t.port = 6230;
        bmc_pool_key(&t, key, sizeof key);
        ck_assert_str_eq(key, "bmc-7.example:6230");
        IpmiTarget t6 = { .host = "FD00::7" };
        bmc_pool_key(&t6, key, sizeof key);
        ck_assert_str_eq(key, "[fd00::7]:623");
}
END_TEST

START_TEST(test_busy_when_full) {
        BmcPool *pool = pool_new(1, 3);
        fake.bmc[0].sleep_ms = 300;
        submit(pool, 0, 0);
        wait_running(pool, 1); /* running jobs do not count against queue_max */
        submit(pool, 1, 1);
        submit(pool, 2, 2);
        submit(pool, 0, 3);
        BmcJob job = job_for(3, 4);
        int64_t start = mono_ms();
        ck_assert_int_eq(bmc_pool_submit(pool, &job), -EBUSY);
        ck_assert_int_lt(mono_ms() - start, 100); /* never blocks */

        BmcPoolStats st;
        bmc_pool_stats(pool, &st);
        ck_assert_uint_eq(st.queued, 3);
        ck_assert_uint_eq(st.running, 1);
        ck_assert_uint_eq(st.bmcs, 3);

        wait_done(4, 10000);
        ck_assert_uint_eq(fake.times_called[4], 0); /* refused jobs get no callback */
        /* room again */
        submit(pool, 3, 5);
        wait_done(5, 10000);
        bmc_pool_free(pool);
}
END_TEST

START_TEST(test_cancel_on_free) {
        BmcPool *pool = pool_new(1, 0);
        fake.bmc[0].sleep_ms = 200;
        submit(pool, 0, 0);
        wait_running(pool, 1);
        for (int id = 1; id <= 5; id++)
                submit(pool, id % 2, id);
        bmc_pool_free(pool); /* waits for job 0, cancels 1..5 */

        ck_assert_uint_eq(fake.done, 6);
        ck_assert_int_eq(fake.outcome[0].r, 0);
        ck_assert_uint_eq(fake.outcome[0].attempts, 1);
        for (int id = 1; id <= 5; id++) {
                ck_assert_uint_eq(fake.times_called[id], 1);
                ck_assert_int_eq(fake.outcome[id].r, -ECANCELED);
                ck_assert_uint_eq(fake.outcome[id].attempts, 0);
                ck_assert_ptr_nonnull(strstr(fake.outcome[id].error, "cancelled"));
        }
        ck_assert_uint_eq(fake.bmc[1].calls, 0);
        ck_assert_uint_eq(fake.bmc[0].calls, 1);
}
END_TEST

START_TEST(test_retries_only_retryable) {
        static const struct {
                int r;
                bool retried;
        } table[] = {
                { -ETIMEDOUT, true }, { -EIO, true },          { -EACCES, false },
                { -EOPNOTSUPP, false }, { -EHOSTUNREACH, false }, { -EINVAL, false },
        };
        size_t n = sizeof table / sizeof table[0];
        BmcPool *pool = pool_new(8, 0);
        for (size_t i = 0; i < n; i++) {
                fake.bmc[i] = (FakeBmc){ .fail_r = table[i].r, .fail_times = 2 };
                BmcJob job = job_for((int) i, (int) i);
                job.retries = 3;
                ck_assert_int_eq(bmc_pool_submit(pool, &job), 0);
        }
        wait_done((unsigned) n, 10000);
        bmc_pool_free(pool);

        for (size_t i = 0; i < n; i++) {
                if (table[i].retried) {
                        /* failed twice, then succeeded on the third attempt */
                        ck_assert_int_eq(fake.outcome[i].r, 0);
                        ck_assert_uint_eq(fake.outcome[i].attempts, 3);
                        ck_assert_uint_eq(fake.bmc[i].calls, 3);
                        /* backoff 20 ms then 40 ms */
                        ck_assert_int_ge(fake.outcome[i].duration_ms, 60);
                } else {
                        ck_assert_int_eq(fake.outcome[i].r, table[i].r);
                        ck_assert_uint_eq(fake.outcome[i].attempts, 1);
                        ck_assert_uint_eq(fake.bmc[i].calls, 1);
                        ck_assert_ptr_nonnull(strstr(fake.outcome[i].error, "failure 1"));
                }
        }
}
END_TEST

START_TEST(test_retries_exhausted) {
        BmcPool *pool = pool_new(2, 0);
        fake.bmc[0] = (FakeBmc){ .fail_r = -ETIMEDOUT, .fail_times = 100 };
        fake.bmc[1] = (FakeBmc){ .fail_r = -EIO, .fail_times = 100 };
        BmcJob job = job_for(0, 0);
        job.retries = 2;
        ck_assert_int_eq(bmc_pool_submit(pool, &job), 0);
        job = job_for(1, 1); /* retries = 0: one attempt */
        ck_assert_int_eq(bmc_pool_submit(pool, &job), 0);
        wait_done(2, 10000);
        bmc_pool_free(pool);

        ck_assert_int_eq(fake.outcome[0].r, -ETIMEDOUT);
        ck_assert_uint_eq(fake.outcome[0].attempts, 3);
        ck_assert_ptr_nonnull(strstr(fake.outcome[0].error, "failure 3"));
        ck_assert_ptr_nonnull(strstr(fake.outcome[0].error, "after 3 attempts"));
        ck_assert_int_eq(fake.outcome[1].r, -EIO);
        ck_assert_uint_eq(fake.outcome[1].attempts, 1);
        ck_assert_ptr_null(strstr(fake.outcome[1].error, "attempts"));
}
END_TEST

START_TEST(test_timeout_and_deadline) {
        BmcPool *pool = pool_new(4, 0);

        /* A dead BMC: every attempt uses up its whole session timeout, then -ETIMEDOUT. */
        fake.bmc[0] = (FakeBmc){ .sleep_session_timeout = true, .fail_r = -ETIMEDOUT, .fail_times = 100 };
        BmcJob job = job_for(0, 0);
        job.timeout_ms = 100; /* per attempt */
        ck_assert_int_eq(bmc_pool_submit(pool, &job), 0);
        wait_done(1, 5000);
        ck_assert_int_eq(fake.outcome[0].r, -ETIMEDOUT);
        ck_assert_uint_eq(fake.bmc[0].last_session_timeout_ms, 100); /* passed to the executor */
        ck_assert_int_ge(fake.outcome[0].duration_ms, 100);
        ck_assert_int_lt(fake.outcome[0].duration_ms, 1000);

        /* Retries within a deadline: 300 ms attempts, 20 ms backoff, 450 ms budget: the
         * second attempt gets only what is left (~130 ms), no third one starts, and the job
         * ends near its deadline. */
        fake.bmc[1] = fake.bmc[0];
        job = job_for(1, 1);
        job.timeout_ms = 300;
        job.retries = 10;
        job.deadline_ms = 450;
        ck_assert_int_eq(bmc_pool_submit(pool, &job), 0);
        wait_done(2, 5000);
        ck_assert_int_eq(fake.outcome[1].r, -ETIMEDOUT);
        ck_assert_uint_eq(fake.outcome[1].attempts, 2);
        ck_assert_uint_lt(fake.bmc[1].last_session_timeout_ms, 300); /* cut to what was left */
        ck_assert_uint_ge(fake.bmc[1].last_session_timeout_ms, 50);
        ck_assert_int_ge(fake.outcome[1].wait_ms + fake.outcome[1].duration_ms, 400);
        ck_assert_int_lt(fake.outcome[1].wait_ms + fake.outcome[1].duration_ms, 450 + 150);

        /* A job still queued when its deadline passes never reaches the BMC. */
        fake.bmc[2] = (FakeBmc){ .sleep_ms = 300 };
        submit(pool, 2, 2);
        wait_running(pool, 1);
        job = job_for(2, 3);
        job.deadline_ms = 100;
        ck_assert_int_eq(bmc_pool_submit(pool, &job), 0);
        wait_done(4, 5000);
        bmc_pool_free(pool);
        ck_assert_int_eq(fake.outcome[2].r, 0);
        ck_assert_int_eq(fake.outcome[3].r, -ETIMEDOUT);
        ck_assert_uint_eq(fake.outcome[3].attempts, 0);
        ck_assert_uint_eq(fake.bmc[2].calls, 1);
        ck_assert_ptr_nonnull(strstr(fake.outcome[3].error, "deadline"));
        ck_assert_ptr_nonnull(strstr(fake.outcome[3].error, "h2:623"));
        ck_assert_int_ge(fake.outcome[3].wait_ms, 100);
}
END_TEST

START_TEST(test_dead_bmc_does_not_delay_others) {
        BmcPool *pool = pool_new(2, 0);
        fake.bmc[0] = (FakeBmc){ .sleep_ms = 1000, .fail_r = -ETIMEDOUT, .fail_times = 100 };
        fake.bmc[1] = (FakeBmc){ .sleep_ms = 5 };
        submit(pool, 0, 0); /* the dead one, first */
        submit(pool, 0, 1); /* more for the dead one: they wait behind it, not elsewhere */
        int64_t start = mono_ms();
        for (int id = 2; id < 12; id++)
                submit(pool, 1, id);
        wait_done(10, 5000); /* the 10 healthy ones */
        int64_t took = mono_ms() - start;
        ck_assert_int_lt(took, 700); /* done long before the dead BMC's first timeout */
        for (int id = 2; id < 12; id++)
                ck_assert_int_eq(fake.outcome[id].r, 0);
        BmcPoolStats st;
        bmc_pool_stats(pool, &st);
        ck_assert_uint_eq(st.running, 1);
        ck_assert_uint_eq(st.queued, 1);
        bmc_pool_free(pool); /* job 0 finishes (timeout), job 1 is cancelled */
        ck_assert_int_eq(fake.outcome[0].r, -ETIMEDOUT);
        ck_assert_int_eq(fake.outcome[1].r, -ECANCELED);
        ck_assert_uint_eq(fake.max_in_flight, 2);
}
END_TEST

static BmcPool *chain_pool;

static void on_done_chain(const BmcJob *job, const BmcOutcome *out, void *userdata) {
        int id = (int) (intptr_t) userdata;
        on_done(job, out, userdata);
        if (id < 5) { /* each completion queues the next command to the same BMC */
                BmcJob next = job_for(0, id + 1);
                next.done = on_done_chain;
                ck_assert_int_eq(bmc_pool_submit(chain_pool, &next), 0);
        }
}

START_TEST(test_submit_from_callback) {
        chain_pool = pool_new(2, 0);
        BmcJob job = job_for(0, 0);
        job.done = on_done_chain;
        ck_assert_int_eq(bmc_pool_submit(chain_pool, &job), 0);
        wait_done(6, 5000);
        bmc_pool_free(chain_pool);
        for (int id = 0; id < 6; id++)
                ck_assert_int_eq(fake.order[0][id], id);
}
END_TEST

START_TEST(test_invalid) {
        BmcPool *pool = NULL;
        ck_assert_int_eq(bmc_pool_new(&(BmcPoolConfig){ .workers = 100000 }, &pool), -EINVAL);
        pool = pool_new(1, 0);
        BmcJob job = job_for(0, 0);
        job.target.host[0] = '\0';
        ck_assert_int_eq(bmc_pool_submit(pool, &job), -EINVAL);
        bmc_pool_free(pool);
        bmc_pool_free(NULL);
        ck_assert_uint_eq(fake.done, 0);
}
END_TEST

START_TEST(test_default_executor_is_ipmi) {
        /* With no executor the pool runs ipmi_run(): a job without a usable target fails in
         * ipmi_run()'s own checks (-EINVAL), proving the default path is wired. */
        BmcPool *pool = NULL;
        ck_assert_int_eq(bmc_pool_new(NULL, &pool), 0);
        BmcJob job = job_for(0, 0);
        job.request.op = _IPMI_OP_MAX;
        ck_assert_int_eq(bmc_pool_submit(pool, &job), 0);
        wait_done(1, 5000);
        bmc_pool_free(pool);
        ck_assert_int_eq(fake.outcome[0].r, -EINVAL);
        ck_assert_ptr_nonnull(strstr(fake.outcome[0].error, "unknown IPMI operation"));
        ck_assert_uint_eq(fake.bmc[0].calls, 0);
}
END_TEST

static Suite *bmc_pool_suite(void) {
        Suite *s = suite_create("bmc-pool");
        TCase *tc = tcase_create("core");
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_one_in_flight_per_bmc);
        tcase_add_test(tc, test_global_limit);
        tcase_add_test(tc, test_fifo_per_bmc_interleaved);
        tcase_add_test(tc, test_key_normalised);
        tcase_add_test(tc, test_busy_when_full);
        tcase_add_test(tc, test_cancel_on_free);
        tcase_add_test(tc, test_retries_only_retryable);
        tcase_add_test(tc, test_retries_exhausted);
        tcase_add_test(tc, test_timeout_and_deadline);
        tcase_add_test(tc, test_dead_bmc_does_not_delay_others);
        tcase_add_test(tc, test_submit_from_callback);
        tcase_add_test(tc, test_invalid);
        tcase_add_test(tc, test_default_executor_is_ipmi);
        suite_add_tcase(s, tc);
        return s;
}

CHECK_MAIN(bmc_pool_suite)
