/* bmc-pool.h — runs BMC commands (ipmi.h) on a fixed set of worker threads, so that nothing
 * else in provd ever blocks on a BMC.
 *
 * What it owns: a queue per BMC and the worker threads.  Guarantees:
 *   - at most ONE command in flight per BMC (BMCs fall over when hammered); further commands
 *     for the same BMC wait, in submission order (FIFO per BMC).  A BMC is identified by
 *     "host:port" (host compared case-insensitively, port 0 = 623);
 *   - at most `workers` commands in flight in total;
 *   - bmc_pool_submit() never blocks on a BMC: it copies the job into a bounded queue and
 *     returns (-EBUSY when `queue_max` jobs are already waiting);
 *   - every command is bounded: each attempt by the job's timeout (passed to the executor as
 *     the session timeout), the whole job by retries × timeout + backoff, or by the job's
 *     deadline when it has one.  A dead or blackholed BMC therefore holds one worker for at
 *     most that long and never delays the callers or commands to other BMCs (as long as
 *     fewer than `workers` BMCs are dead at once);
 *   - retries, with exponential backoff, only for -ETIMEDOUT and -EIO — never for -EACCES
 *     (BMCs lock accounts after failed logins), -EOPNOTSUPP or -EHOSTUNREACH;
 *   - every accepted job gets its completion callback called exactly once.
 *
 * Threads: bmc_pool_submit() and bmc_pool_stats() may be called from any thread, including
 * from a completion callback.  Callbacks run on a worker thread (see BmcJobDone).
 *
 * What it does not do: talk IPMI itself (the executor does: ipmi_run() by default, a fake in
 * unit tests), read the inventory or password files, log, or export metrics (the callback
 * gets the durations for that). */
#pragma once

#include <stdint.h>

#include "ipmi.h"

typedef struct BmcPool BmcPool;
typedef struct BmcJob BmcJob;

/* What happened to a job, as the completion callback sees it. */
typedef struct BmcOutcome {
        int r;              /* 0, or negative errno (ipmi.h's codes, -ECANCELED, -ETIMEDOUT) */
        IpmiResult result;  /* valid when r == 0 */
        const char *error;  /* message when r < 0, "" otherwise; valid during the callback */
        unsigned attempts;  /* executor calls made; 0 = never ran (cancelled or expired) */
        int64_t wait_ms;    /* submission -> first attempt (or -> completion, if it never ran) */
        int64_t duration_ms; /* first attempt -> completion, retries and backoff included;
                              * what provd_bmc_command_duration_seconds is made of */
} BmcOutcome;

/* Completion callback.  Called exactly once per accepted job:
 *   - on the worker thread that ran it, after the last attempt, or
 *   - with r = -ECANCELED on the thread calling bmc_pool_free() for jobs still queued then.
 * The pool lock is not held: the callback may call bmc_pool_submit() (which fails with
 * -ECANCELED once bmc_pool_free() has started) but never bmc_pool_free().  The job's BMC
 * stays reserved until the callback returns (so job N's callback finishes before job N+1 to
 * the same BMC starts): return quickly — hand the outcome to another thread's queue.
 * `job` is the pool's copy (password included), valid only during the call. */
typedef void (*BmcJobDone)(const BmcJob *job, const BmcOutcome *outcome, void *userdata);

struct BmcJob {
        IpmiTarget target;    /* a copy; session_timeout_ms is overwritten per attempt */
        IpmiRequest request;
        unsigned timeout_ms;  /* per attempt; 0 = the pool's default */
        unsigned retries;     /* extra attempts after -ETIMEDOUT / -EIO; 0 = none */
        unsigned deadline_ms; /* 0 = none.  Else a budget counted from submission: a job still
                               * queued when it runs out completes with -ETIMEDOUT without
                               * touching the BMC, each attempt's timeout is cut to what is
                               * left, and no retry starts without 100 ms left */
        BmcJobDone done;      /* may be NULL (fire and forget) */
        void *userdata;       /* passed to done, never dereferenced by the pool */
};

/* The function that runs one attempt; same contract as ipmi_run() (which is the default),
 * plus the config's executor_data.  Called on worker threads, several at once (never two
 * for the same BMC). */
typedef int (*BmcExecutor)(void *data, const IpmiTarget *target, const IpmiRequest *req,
                           IpmiResult *ret, char *err, size_t errlen);

typedef struct BmcPoolConfig {
        unsigned workers;    /* threads = global limit of commands in flight; 0 = 16 */
        unsigned queue_max;  /* jobs waiting (not running) before submit says -EBUSY; 0 = 4096 */
        unsigned timeout_ms; /* default per-attempt timeout; 0 = IPMI_TIMEOUT_DEFAULT_MS */
        unsigned backoff_ms; /* wait before the first retry, doubled for each next one (at
                              * most 8 s); 0 = 250 */
        BmcExecutor executor; /* NULL = ipmi_run() */
        void *executor_data;
} BmcPoolConfig;

typedef struct BmcPoolStats {
        unsigned queued;  /* accepted, not started */
        unsigned running; /* on a worker now */
        unsigned bmcs;    /* BMCs with queued or running jobs */
} BmcPoolStats;

/* Starts the workers (calls ipmi_init() first when the executor is ipmi_run()).  cfg may be
 * NULL for all defaults.  On success stores the pool in *ret (caller owns; bmc_pool_free())
 * and returns 0; else -EINVAL (workers > 1024), -ENOMEM, or the pthread_create() error. */
int bmc_pool_new(const BmcPoolConfig *cfg, BmcPool **ret);

/* Queues a copy of *job (the caller keeps its struct; wipe its password when done).
 * Returns 0 (the callback will be called exactly once), -EBUSY (queue full), -EINVAL (no
 * host), -ECANCELED (the pool is being freed) or -ENOMEM; on error the callback is never
 * called.  Never blocks on a BMC; takes the pool lock briefly. */
int bmc_pool_submit(BmcPool *pool, const BmcJob *job);

/* Current counts (a snapshot). */
void bmc_pool_stats(BmcPool *pool, BmcPoolStats *ret);

/* Stops accepting jobs, lets the running ones finish (each bounded as above; a job waiting
 * to retry gives up its retry and reports its last error), joins the workers, then calls
 * every still-queued job's callback with -ECANCELED on this thread, and frees the pool,
 * wiping the passwords it held.  NULL is a no-op.  Must not be called from a callback. */
void bmc_pool_free(BmcPool *pool);

/* "host:port" key the pool serialises on: ipmi_target_label() lowercased ("[fd00::7]:623";
 * port 0 -> 623), into buf (IPMI_TARGET_HOST_MAX + 8 bytes is enough). */
void bmc_pool_key(const IpmiTarget *target, char *buf, size_t len);
