/* operations.c — see operations.h.  Which steps an operation runs and what follows each
 * step's outcome are op-machine.c's tables; this file runs them: op_event_locked() feeds an
 * event to the machine and applies the row, the callers run the action it leaves (mark the
 * node, submit a BMC command) without the lock. */
#include "operations.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bmc-pool.h"
#include "cluster.h"
#include "inventory.h"
#include "ipmi.h"
#include "log.h"
#include "metrics.h"
#include "op-bulk.h"
#include "op-machine.h"
#include "store-cluster.h"
#include "util.h"

#define SWEEP_INTERVAL_MS 1000
#define OPS_BULK_KEEP 100 /* bulk operations kept in memory */
#define OPS_CLAIM_BATCH 16 /* rows one claim takes at most */
#define OPS_CLAIM_WAKE_MS 100 /* the least time between two claim rounds a notification asks for */

typedef enum OpState { OP_QUEUED, OP_RUNNING, OP_SUCCEEDED, OP_FAILED } OpState;
typedef enum StepState { STEP_PENDING, STEP_RUNNING, STEP_SUCCEEDED, STEP_FAILED, STEP_SKIPPED } StepState;

static const char *const op_state_names[] = { "queued", "running", "succeeded", "failed" };
static const char *const step_state_names[] = { "pending", "running", "succeeded", "failed", "skipped" };

typedef struct Step {
        OpStep step; /* mark, bootdev, power_status, power */
        StepState state;
        IpmiRequest req;  /* BMC steps */
        int64_t started_ms, finished_ms;
        char result[64];
        char *error; /* owned */
} Step;

typedef struct Op {
        struct Ops *ops;
        int64_t id;
        char node[64];
        OpKind kind;
        const OpKindInfo *info; /* op_machine_kind(kind): name, message prefix, steps */
        json_t *params;         /* owned */
        bool record_success;    /* record successful steps in the history */
        OpState state;
        OpStep at; /* where the machine is: queued, one of the steps, done */
        int64_t created_ms, finished_ms;
        char result[256];
        const char *error_code; /* static */
        char *error;            /* owned */
        Step steps[OP_MACHINE_MAX_STEPS];
        size_t n_steps, cur; /* cur: the step running (or that ended the operation) */
        IpmiTarget target; /* with the password: wiped when the operation ends */
        bool shared; /* it has a row in bmc_ops (shared store), held by this instance */
        bool lost;   /* another instance took its row over: this one stops running it */
        struct Bulk *bulk; /* borrowed: the bulk operation this one belongs to, or NULL */
        size_t bulk_index; /* its node's index in bulk->nodes */
        struct Op *next;   /* registry, newest first */
} Op;

/* One node of a bulk operation: a copy of its operation's outcome, kept after the operation
 * itself is forgotten (OPS_KEEP). */
typedef struct BulkNode {
        char node[INVENTORY_NAME_MAX + 1];
        int64_t op_id;          /* 0: no operation (not started yet, or refused) */
        OpState state;
        char result[256];
        const char *error_code; /* static; NULL unless failed */
        char *error;            /* owned; NULL unless failed */
        int64_t seq;            /* 1.. in the order the nodes finished; 0 while not finished */
        bool remote;            /* shared store: run by another instance; the outcome comes from its row */
} BulkNode;

/* A bulk operation (ops_bulk_start()): one kind on many nodes.  Lives in the ops registry's
 * bulk list, guarded by the ops lock; forgotten (the newest OPS_BULK_KEEP kept) only once
 * every node has finished, so no operation of it still points to it. */
typedef struct Bulk {
        int64_t id;
        const char *kind; /* static */
        json_t *params;   /* owned */
        int64_t created_ms, finished_ms;
        BulkNode *nodes;  /* owned, n of them, in the request's order */
        size_t n, n_done, n_failed;
        size_t *done;     /* owned: indices into nodes, in the order they finished (n_done) */
        bool starting;    /* ops_bulk_start() is still starting its nodes */
        struct Bulk *next;
} Bulk;

/* Where an operation comes from: a bulk operation (the bulk and its node's index), a row this
 * instance claimed, or (all zero, or a NULL origin) a single-node request. */
typedef struct OpOrigin {
        Bulk *bulk;       /* NULL: not a bulk operation's node */
        size_t index;
        int64_t claimed_id; /* > 0: the row this instance claimed (shared store), run under its id */
} OpOrigin;

struct Ops {
        pthread_mutex_t lock; /* guards the registry and every Op: ops_lock()/ops_unlock() */
        pthread_t owner;      /* the thread holding `lock` (atomic; 0 when none), for the checks */
        Daemon *d;            /* borrowed */
        BmcPool *pool;        /* owned */
        OpsConfig cfg;
        Op *ops; /* newest first */
        size_t n_ops;
        int64_t next_id;
        bool stopping;
        pthread_cond_t cond;
        pthread_t sweeper;
        bool sweeper_started;
        uint64_t observer; /* daemon_subscribe()'s id, 0 when not subscribed */

        /* Several instances on one database (operations.h). */
        bool shared;
        Cluster *cluster; /* borrowed */
        char self[STORE_INSTANCE_NAME_MAX]; /* this instance's name: the rows' holder */
        pthread_t claimer;
        bool claimer_started;
        pthread_cond_t claim_cond; /* the claimer waits on it (ops lock) */
        bool claim_wake;           /* a notification asked for a claim round */
        bool on_op_set;            /* cluster_on_op() was set */

        Bulk *bulks; /* newest first */
        size_t n_bulks;
        int64_t next_bulk_id;
        uint64_t bulk_generation;     /* atomic: +1 whenever a bulk's node finishes */
        pthread_mutex_t notify_lock;  /* guards notify/notify_data; held while calling notify */
        void (*notify)(void *userdata);
        void *notify_data;
};

/* The ops lock, recording its owner so that every *_locked function can check that its
 * caller holds it (ops_assert_locked()). */
static void ops_lock(Ops *ops) {
        pthread_mutex_lock(&ops->lock);
        __atomic_store_n(&ops->owner, pthread_self(), __ATOMIC_RELAXED);
}

static void ops_unlock(Ops *ops) {
        __atomic_store_n(&ops->owner, (pthread_t) 0, __ATOMIC_RELAXED);
        pthread_mutex_unlock(&ops->lock);
}

/* pthread_cond_timedwait() of cond on the ops lock (held), keeping the owner right. */
static void ops_wait(Ops *ops, pthread_cond_t *cond, const struct timespec *until) {
        pthread_t none = 0, self = pthread_self();
        __atomic_store(&ops->owner, &none, __ATOMIC_RELAXED);
        pthread_cond_timedwait(cond, &ops->lock, until);
        __atomic_store(&ops->owner, &self, __ATOMIC_RELAXED);
}

/* Aborts, naming `fn`, unless the calling thread holds the ops lock. */
static void ops_assert_locked(Ops *ops, const char *fn) {
        pthread_t owner;
        __atomic_load(&ops->owner, &owner, __ATOMIC_RELAXED);
        if (!pthread_equal(owner, pthread_self())) {
                log_error("operations: %s() called without the ops lock held", fn);
                abort();
        }
}

static void op_free(Op *op) {
        if (!op)
                return;
        explicit_bzero(op->target.password, sizeof op->target.password);
        json_decref(op->params);
        free(op->error);
        for (size_t i = 0; i < op->n_steps; i++)
                free(op->steps[i].error);
        free(op);
}

/* errno -> the operation's error code and the metrics' result label. */
static const char *error_code(int r) {
        switch (-r) {
        case 0:
                return "ok";
        case ETIMEDOUT:
                return "timeout";
        case EHOSTUNREACH:
                return "unreachable";
        case EACCES:
                return "auth";
        case EOPNOTSUPP:
                return "unsupported";
        default:
                return "error";
        }
}

static const char *metric_command(const IpmiRequest *req) {
        static const char *const names[_IPMI_OP_MAX] = {
                [IPMI_OP_POWER_STATUS] = "power_status", [IPMI_OP_POWER_ON] = "power_on",
                [IPMI_OP_POWER_OFF] = "power_off",       [IPMI_OP_POWER_CYCLE] = "power_cycle",
                [IPMI_OP_POWER_RESET] = "power_reset",   [IPMI_OP_POWER_SOFT] = "power_soft",
                [IPMI_OP_BOOTDEV_SET] = "bootdev_set",   [IPMI_OP_BOOTDEV_GET] = "bootdev_get",
        };
        return req->op < _IPMI_OP_MAX ? names[req->op] : "other";
}

/* "boot device set to pxe (one-time, legacy)" / "power cycle" / "power is on". */
static void describe(const IpmiRequest *req, const IpmiResult *res, bool ok, char *buf, size_t len) {
        char dev[8];
        switch (req->op) {
        case IPMI_OP_BOOTDEV_SET:
                snprintf(buf, len, ok ? "boot device set to %s (%s, %s)" : "setting the boot device to %s (%s, %s) failed",
                         ipmi_boot_device_to_string(req->boot.device, dev), req->boot.persistent ? "persistent" : "one-time", req->boot.efi ? "EFI" : "legacy");
                break;
        case IPMI_OP_POWER_STATUS:
                if (ok)
                        snprintf(buf, len, "power is %s", res->power_on ? "on" : "off");
                else
                        snprintf(buf, len, "reading the power status failed");
                break;
        default:
                snprintf(buf, len, ok ? "power %s" : "power %s failed", ipmi_op_to_string(req->op));
        }
}

/* The JSON of one operation (ops->lock held). */
static json_t *op_json_locked(const Op *op) {
        char ts[25], ts2[25];
        ops_assert_locked(op->ops, __func__);
        json_t *steps = json_array();
        for (size_t i = 0; steps && i < op->n_steps; i++) {
                const Step *s = &op->steps[i];
                json_array_append_new(
                        steps, json_pack("{s:s, s:s, s:o, s:o, s:o, s:o}", "name", op_machine_step_to_string(s->step), "state",
                                         step_state_names[s->state], "started_at",
                                         s->started_ms ? json_string(format_rfc3339(s->started_ms, ts)) : json_null(),
                                         "finished_at",
                                         s->finished_ms ? json_string(format_rfc3339(s->finished_ms, ts2)) : json_null(),
                                         "result", s->result[0] ? json_string(s->result) : json_null(), "error",
                                         s->error ? json_string(s->error) : json_null()));
        }
        json_t *o = json_pack("{s:I, s:s, s:s, s:O, s:s, s:s, s:o, s:o, s:o, s:o}", "id", (json_int_t) op->id, "node",
                         op->node, "kind", op->info->name, "params", op->params, "state", op_state_names[op->state],
                         "created_at", format_rfc3339(op->created_ms, ts), "finished_at",
                         op->finished_ms ? json_string(format_rfc3339(op->finished_ms, ts2)) : json_null(), "result",
                         op->result[0] ? json_string(op->result) : json_null(), "error",
                         op->error ? json_pack("{s:s, s:s}", "code", op->error_code, "message", op->error)
                                   : json_null(),
                         "steps", steps);
        /* A shared store's operation names the instance that runs it (none while queued). */
        if (o && op->shared &&
            json_object_set_new(o, "holder", op->state == OP_QUEUED ? json_null() : json_string(op->ops->self)) < 0) {
                json_decref(o);
                return NULL;
        }
        return o;
}

/* Ends op (lock held) in `state`; failed: at its current step, with `code` (static) and
 * `message`.  Wipes the password, skips the steps that did not run. */
static void op_end_locked(Op *op, OpState state, const char *code, const char *message) {
        ops_assert_locked(op->ops, __func__);
        bool at_step = op->at != OP_STEP_QUEUED && op->at != OP_STEP_DONE;
        if (state == OP_FAILED) {
                if (at_step) {
                        Step *s = &op->steps[op->cur];
                        s->state = STEP_FAILED;
                        s->finished_ms = now_ms();
                        free(s->error);
                        s->error = strdup(message);
                }
                op->error_code = code;
                free(op->error);
                op->error = strdup(message);
        }
        op->state = state;
        op->finished_ms = now_ms();
        for (size_t i = 0; i < op->n_steps; i++)
                if (op->steps[i].state == STEP_PENDING)
                        op->steps[i].state = STEP_SKIPPED;
        explicit_bzero(op->target.password, sizeof op->target.password);
        op->at = OP_STEP_DONE;
}

/* Feeds event ev to op's machine (lock held) and applies the row: the current step ends
 * (succeeded; or failed with `code` (static) and `message`, for the failure events), the
 * next one runs, or the operation ends.  Returns the action left for the caller to run
 * without the lock (OP_ACTION_MARK, OP_ACTION_RUN: the new current step) or the end made
 * (OP_ACTION_SUCCEED, OP_ACTION_FAIL).  An event the table does not have for op's step is a
 * bug: logged, and the operation fails. */
static OpAction op_event_locked(Op *op, OpEvent ev, const char *code, const char *message) {
        ops_assert_locked(op->ops, __func__);
        const OpTransition *t = op_machine_transition(op->kind, op->at, ev);
        size_t next = op->at == OP_STEP_QUEUED ? 0 : op->cur + 1;
        if (!t || ((t->action == OP_ACTION_MARK || t->action == OP_ACTION_RUN) &&
                   (next >= op->n_steps || op->steps[next].step != t->next))) {
                log_error("operation %lld (%s, node %s): no transition for %s in step %s", (long long) op->id,
                          op->info->name, op->node, op_machine_event_to_string(ev), op_machine_step_to_string(op->at));
                op_end_locked(op, OP_FAILED, "error", "internal error: unexpected step outcome");
                return OP_ACTION_FAIL;
        }
        if (t->action == OP_ACTION_FAIL) {
                op_end_locked(op, OP_FAILED, code, message);
                return t->action;
        }
        if (op->at != OP_STEP_QUEUED) {
                op->steps[op->cur].state = STEP_SUCCEEDED;
                op->steps[op->cur].finished_ms = now_ms();
        }
        if (t->action == OP_ACTION_SUCCEED) {
                op_end_locked(op, OP_SUCCEEDED, NULL, NULL);
                return t->action;
        }
        op->cur = next;
        op->at = t->next;
        Step *s = &op->steps[op->cur];
        s->state = STEP_RUNNING;
        if (t->power == OP_POWER_CYCLE)
                s->req.op = IPMI_OP_POWER_CYCLE;
        else if (t->power == OP_POWER_ON)
                s->req.op = IPMI_OP_POWER_ON;
        op->state = OP_RUNNING;
        return t->action;
}

/* Whether feeding event ev to op (lock held) ends it: the table has no row for it (an
 * internal error, which fails it) or the row's action fails or succeeds the operation. */
static bool op_event_ends_locked(const Op *op, OpEvent ev) {
        ops_assert_locked(op->ops, __func__);
        const OpTransition *t = op_machine_transition(op->kind, op->at, ev);
        return !t || t->action == OP_ACTION_FAIL || t->action == OP_ACTION_SUCCEED;
}

/* Node i of bulk b finished (lock held) in `state` (its result/error already in place):
 * takes the next finishing sequence number and counts it. */
static void bulk_node_finished_locked(Ops *ops, Bulk *b, size_t i, OpState state) {
        ops_assert_locked(ops, __func__);
        BulkNode *bn = &b->nodes[i];
        bn->state = state;
        b->done[b->n_done++] = i;
        bn->seq = (int64_t) b->n_done;
        if (state == OP_FAILED)
                b->n_failed++;
        if (b->n_done == b->n)
                b->finished_ms = now_ms();
        __atomic_add_fetch(&ops->bulk_generation, 1, __ATOMIC_RELEASE);
}

/* Copies op's id, state and outcome into its bulk node (lock held; no-op without a bulk).
 * Returns true when this made the node finished: the caller calls bulk_wake() after
 * unlocking. */
static bool bulk_sync_locked(Op *op) {
        ops_assert_locked(op->ops, __func__);
        Bulk *b = op->bulk;
        if (!b)
                return false;
        BulkNode *bn = &b->nodes[op->bulk_index];
        if (bn->seq > 0)
                return false; /* finished already */
        bn->op_id = op->id;
        if (op->state != OP_SUCCEEDED && op->state != OP_FAILED) {
                bn->state = op->state;
                return false;
        }
        snprintf(bn->result, sizeof bn->result, "%s", op->result);
        if (op->state == OP_FAILED) { /* the message names the node: it is read among many */
                const char *msg = op->error ? op->error : "the operation failed";
                bn->error_code = op->error_code ? op->error_code : "error";
                if (asprintf(&bn->error, "%s: %s", op->node, msg) < 0)
                        bn->error = NULL;
        }
        bulk_node_finished_locked(op->ops, b, op->bulk_index, op->state);
        return true;
}

/* Tells the bulk observer (ops_bulk_notify()) that a bulk node finished.  Lock not held. */
static void bulk_wake(Ops *ops) {
        pthread_mutex_lock(&ops->notify_lock);
        if (ops->notify)
                ops->notify(ops->notify_data);
        pthread_mutex_unlock(&ops->notify_lock);
}

static bool registry_add_locked(Ops *ops, Op *op);

/* Adds op to the registry (lock held), forgetting the oldest finished ones beyond OPS_KEEP
 * (never op itself).  Returns bulk_sync_locked()'s answer for op. */
static bool registry_add_locked(Ops *ops, Op *op) {
        ops_assert_locked(ops, __func__);
        if (op->id == 0) /* shared store: its row's id already */
                op->id = ++ops->next_id;
        op->next = ops->ops;
        ops->ops = op;
        ops->n_ops++;
        bool finished = bulk_sync_locked(op);
        if (ops->n_ops <= OPS_KEEP)
                return finished;
        Op **pp = &op->next, **last_finished = NULL;
        for (; *pp; pp = &(*pp)->next)
                if ((*pp)->state == OP_SUCCEEDED || (*pp)->state == OP_FAILED)
                        last_finished = pp;
        if (last_finished) {
                Op *old = *last_finished;
                *last_finished = old->next;
                ops->n_ops--;
                op_free(old);
        }
        return finished;
}

/* ---- shared store: the operations' rows (store-cluster.h) ---------------------------------- */

/* One write of an operation's row, run under the daemon's lock (daemon_store_write()). */
typedef struct RowWrite {
        int64_t id;
        const char *holder;
        int64_t step;
        const char *state; /* NULL: progress; "succeeded"/"failed": the end; "queued": given back */
        int64_t ended_ms;
        const char *result;
} RowWrite;

static int row_write(Store *s, void *userdata) {
        RowWrite *w = userdata;
        if (!w->state)
                return store_bmc_op_progress(s, w->id, w->holder, w->step, w->result);
        if (streq(w->state, "queued"))
                return store_bmc_op_release(s, w->id, w->holder, NULL); /* what ran is not what runs next */
        return store_bmc_op_finish(s, w->id, w->holder, w->state, w->ended_ms, w->result);
}

/* Shared store: writes op's JSON into its row (lock not held): its progress, or its end once it
 * ended — but an operation cancelled because provd stops is given back (queued) for another
 * instance to run.  When another instance has taken the row over meanwhile, op is lost: this
 * instance runs no more of it.  Returns false when op is lost. */
static bool op_persist(Op *op) {
        Ops *ops = op->ops;
        if (!op->shared)
                return true;
        ops_lock(ops);
        bool lost = op->lost, stopping = ops->stopping;
        json_t *o = lost ? NULL : op_json_locked(op);
        RowWrite w = { .id = op->id, .holder = ops->self, .step = (int64_t) op->cur, .ended_ms = op->finished_ms };
        if (op->state == OP_SUCCEEDED || op->state == OP_FAILED)
                w.state = stopping && op->state == OP_FAILED ? "queued" : op_state_names[op->state];
        ops_unlock(ops);
        if (lost)
                return false;
        _cleanup_free_ char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        w.result = text;
        int r = text ? daemon_store_write(ops->d, row_write, &w) : -ENOMEM;
        if (r < 0) {
                log_node(LOG_WARNING, &((LogFields) { .node = op->node }),
                         "operation %lld: cannot write its progress to the shared store: %s", (long long) op->id,
                         strerror(-r));
                return true;
        }
        if (r > 0)
                return true;
        ops_lock(ops);
        op->lost = true;
        ops_unlock(ops);
        log_node(LOG_WARNING, &((LogFields) { .node = op->node }),
                 "operation %lld (%s): another instance has taken it over (this instance's claim had expired): "
                 "running no more of it",
                 (long long) op->id, op->info->name);
        return false;
}

/* Ends op (lock not held, not registered, not started past its mark) failed with `message` and,
 * shared, its row; frees it.  For an operation that could not be started. */
static void op_discard(Op *op, const char *message) {
        Ops *ops = op->ops;
        if (op->shared) {
                ops_lock(ops);
                op_end_locked(op, OP_FAILED, "error", message);
                ops_unlock(ops);
                (void) op_persist(op);
        }
        op_free(op);
}

/* op was taken over by another instance (op_persist() found out; lock not held):
 * it ends here, failed, and its bulk node (if any) learns its outcome from the row. */
static void op_lose(Op *op) {
        Ops *ops = op->ops;
        ops_lock(ops);
        op->lost = true;
        if (op->state != OP_SUCCEEDED && op->state != OP_FAILED)
                op_end_locked(op, OP_FAILED, "error", "another instance took this operation over");
        if (op->bulk && op->bulk->nodes[op->bulk_index].seq == 0)
                op->bulk->nodes[op->bulk_index].remote = true;
        ops_unlock(ops);
}

/* An insert of an operation's row (daemon_store_write()). */
typedef struct RowInsert {
        const char *node, *rack, *kind, *params, *created_by, *holder, *result;
        int64_t id;
} RowInsert;

static int row_insert(Store *s, void *userdata) {
        RowInsert *w = userdata;
        int64_t now = now_ms();
        return store_bmc_op_insert(s, w->node, w->rack, w->kind, w->params, w->created_by, w->holder, now,
                                   now + OPS_LEASE_MS, w->result, &w->id);
}

typedef struct RowRead {
        int64_t id;
        const char *node;
        StoreBmcOp row;
} RowRead;

static int row_busy(Store *s, void *userdata) {
        RowRead *rd = userdata;
        return store_bmc_op_busy(s, rd->node, &rd->id);
}

static int row_next_id(Store *s, void *userdata) {
        RowRead *rd = userdata;
        return store_bmc_op_next_id(s, &rd->id);
}

static int row_get(Store *s, void *userdata) {
        RowRead *rd = userdata;
        return store_bmc_op_get(s, rd->id, &rd->row);
}

/* What op_share() decided. */
enum {
        OP_SHARE_RUN,    /* this instance runs op */
        OP_SHARE_QUEUED, /* queued for an instance that serves the node's rack; op freed */
};

/* Shared store: gives op (op_new()'s, not started) its row before it starts.  A claimed row's
 * operation keeps the row's id.  Otherwise a row is inserted: running, held by this instance,
 * when it serves the node's rack or the node has no BMC (OP_SHARE_RUN); else queued (OP_SHARE_QUEUED: op is freed, its
 * bulk node waits for the row, *ret (if non-NULL) is the queued operation's JSON).  Alone on
 * its database: OP_SHARE_RUN, nothing written.  Errors (op freed): -EALREADY the node has an
 * operation queued or running on some instance (err says which), -ENOMEM, a store errno. */
static int op_share(Ops *ops, Op *op, const DaemonNodeBmc *b, const OpOrigin *origin, json_t **ret, char *err,
                    size_t errlen) {
        if (!ops->shared)
                return OP_SHARE_RUN;
        op->shared = true;
        if (origin && origin->claimed_id > 0) {
                op->id = origin->claimed_id;
                return OP_SHARE_RUN;
        }
        /* Without a BMC (a reinstall's mark only) nothing goes to a rack's BMC network. */
        bool serves = !b->has_bmc || cluster_serves_rack(ops->cluster, b->rack);
        ops_lock(ops);
        json_t *o = op_json_locked(op);
        ops_unlock(ops);
        _cleanup_free_ char *result = o ? json_dumps(o, JSON_COMPACT) : NULL;
        _cleanup_free_ char *params = json_dumps(op->params, JSON_COMPACT);
        json_decref(o);
        if (!result || !params) {
                op_free(op);
                return -ENOMEM;
        }
        RowInsert w = { .node = op->node, .rack = b->rack,
                        .kind = op->kind == OP_KIND_DISK_AFTER_INSTALL ? STORE_BMC_OP_KIND_AFTER_INSTALL : op->info->name,
                        .params = params,
                        .created_by = ops->self, .holder = serves ? ops->self : NULL, .result = result };
        int r = daemon_store_write(ops->d, row_insert, &w);
        if (r == -EEXIST) {
                RowRead rd = { .node = b->node };
                op_free(op);
                if (daemon_store_read(ops->d, row_busy, &rd) < 0)
                        return errbuf_fail(-EALREADY, err, errlen, "node %s already has an operation in progress", b->node);
                return errbuf_fail(-EALREADY, err, errlen, "node %s already has operation %lld in progress", b->node,
                                   (long long) rd.id);
        }
        if (r < 0) {
                op_free(op);
                return errbuf_fail(r, err, errlen, "cannot record the operation on node %s: %s", b->node, strerror(-r));
        }
        op->id = w.id;
        if (serves)
                return OP_SHARE_RUN;

        log_node(LOG_INFO, &((LogFields) { .node = op->node }),
                 "operation %lld (%s) queued for an instance serving rack %s", (long long) op->id, op->info->name,
                 b->rack);
        ops_lock(ops);
        if (op->bulk) {
                BulkNode *bn = &op->bulk->nodes[op->bulk_index];
                bn->op_id = op->id;
                bn->state = OP_QUEUED;
                bn->remote = true;
        }
        o = ret ? op_json_locked(op) : NULL;
        ops_unlock(ops);
        op_free(op);
        if (ret) {
                if (!o)
                        return -ENOMEM;
                *ret = o;
        }
        return OP_SHARE_QUEUED;
}

static void on_step_done(const BmcJob *job, const BmcOutcome *outcome, void *userdata);

/* Submits op's current step (running) to the BMC pool (lock not held).  On failure the
 * operation fails; the failure goes into the history (the log only for provd's own
 * operations). */
static void op_submit(Op *op) {
        Ops *ops = op->ops;
        BmcJob job = { 0 };
        char node[64], msg[512];
        int r;

        ops_lock(ops);
        Step *s = &op->steps[op->cur];
        s->started_ms = now_ms();
        job.target = op->target;
        job.request = s->req;
        job.timeout_ms = ops->cfg.bmc_timeout_ms;
        job.retries = ops->cfg.bmc_retries;
        job.done = on_step_done;
        job.userdata = op;
        ops_unlock(ops);

        r = bmc_pool_submit(ops->pool, &job);
        explicit_bzero(job.target.password, sizeof job.target.password);
        if (r >= 0)
                return;

        ops_lock(ops);
        snprintf(msg, sizeof msg, "%scannot queue the BMC command: %s", op->info->why,
                 r == -EBUSY ? "too many BMC commands queued" : strerror(-r));
        snprintf(node, sizeof node, "%s", op->node);
        bool record = !op->info->internal;
        ops_unlock(ops);
        log_node(LOG_WARNING, &((LogFields) { .node = node }), "%s", msg);
        /* In the history before the operation is seen to end (see on_step_done()). */
        if (record)
                (void) daemon_record_bmc(ops->d, node, msg);
        ops_lock(ops);
        (void) op_event_locked(op, OP_EV_FAILED, "error", msg);
        bool wake = bulk_sync_locked(op);
        ops_unlock(ops);
        if (wake)
                bulk_wake(ops);
        (void) op_persist(op);
}

/* A pool worker finished op's current step: its outcome is the machine's next event. */
static void on_step_done(const BmcJob *job, const BmcOutcome *outcome, void *userdata) {
        Op *op = userdata;
        Ops *ops = op->ops;
        char what[128], msg[768], node[64];
        bool record, stopping;
        OpAction a;

        describe(&job->request, &outcome->result, outcome->r >= 0, what, sizeof what);
        metrics_bmc_command(metric_command(&job->request), error_code(outcome->r),
                            (double) outcome->duration_ms / 1000.0);

        ops_lock(ops);
        stopping = ops->stopping;
        bool lost = op->lost;
        ops_unlock(ops);
        if (lost) { /* taken over (op_persist() found out): nothing more of it runs here */
                op_lose(op);
                return;
        }
        /* The event this outcome feeds the operation, and its history note.  When the event
         * ends the operation, the note is committed first (this worker waits for it): whoever
         * sees the operation ended finds its note in the node's history.  A note that does
         * not end it is queued and this worker goes on at once. */
        OpEvent ev;
        ops_lock(ops);
        snprintf(node, sizeof node, "%s", op->node);
        if (outcome->r < 0) {
                snprintf(msg, sizeof msg, "%s%s: %s", op->info->why, what,
                         outcome->error[0] ? outcome->error : strerror(-outcome->r));
                ev = outcome->r == -ECANCELED  ? OP_EV_CANCELLED
                     : outcome->r == -ETIMEDOUT ? OP_EV_TIMED_OUT
                                                : OP_EV_FAILED;
                record = true;
        } else {
                ev = job->request.op != IPMI_OP_POWER_STATUS ? OP_EV_SUCCEEDED
                     : outcome->result.power_on             ? OP_EV_POWER_ON
                                                            : OP_EV_POWER_OFF;
                snprintf(msg, sizeof msg, "%s%s", op->info->why, what);
                record = op->record_success;
        }
        bool noted = record && !stopping && outcome->r != -ECANCELED && op_event_ends_locked(op, ev);
        ops_unlock(ops);
        if (noted)
                (void) daemon_record_bmc(ops->d, node, msg); /* a failure is logged */

        ops_lock(ops);
        Step *s = &op->steps[op->cur];
        if (outcome->r < 0)
                a = op_event_locked(op, ev, error_code(outcome->r), msg);
        else {
                if (job->request.op == IPMI_OP_POWER_STATUS)
                        snprintf(s->result, sizeof s->result, "%s", outcome->result.power_on ? "on" : "off");
                else if (job->request.op == IPMI_OP_BOOTDEV_GET) {
                        char dev[8];
                        snprintf(s->result, sizeof s->result, "%s",
                                 ipmi_boot_device_to_string(outcome->result.boot.device, dev));
                } else
                        snprintf(s->result, sizeof s->result, "ok");
                a = op_event_locked(op, ev, NULL, NULL);
                if (a == OP_ACTION_RUN && stopping)
                        a = op_event_locked(op, OP_EV_CANCELLED, "error", "provd is stopping: not run");
                else if (a == OP_ACTION_SUCCEED && op->kind == OP_KIND_REINSTALL)
                        snprintf(op->result, sizeof op->result, "%s: the node network-boots into the installer", what);
                else if (a == OP_ACTION_SUCCEED && op->kind == OP_KIND_REBOOT)
                        snprintf(op->result, sizeof op->result, "%s: the node network-boots its image", what);
                else if (a == OP_ACTION_SUCCEED)
                        snprintf(op->result, sizeof op->result, "%s", s->result);
        }
        ops_unlock(ops);
        bool mine = op_persist(op);
        if (!mine)
                op_lose(op);
        ops_lock(ops);
        bool wake = mine && bulk_sync_locked(op);
        ops_unlock(ops);
        if (wake)
                bulk_wake(ops);

        if (outcome->r == -ECANCELED || stopping)
                return;
        /* Queued, not waited for: this worker's next BMC command does not wait for a commit
         * (the operation goes on; its end comes after this row in the store's order). */
        if (record && !noted && daemon_record_bmc_submit(ops->d, node, msg) < 0)
                (void) daemon_record_bmc(ops->d, node, msg);
        if (outcome->r < 0)
                log_node(LOG_WARNING, &((LogFields) { .node = node }), "%s", msg);
        if (a == OP_ACTION_RUN && mine)
                op_submit(op);
}

/* A new operation of kind `kind` for the node in b, not started (step queued), with its BMC
 * target filled in but for the password (op_read_password()) and its BMC steps' commands:
 * bootdev sets *boot, power runs `power`; origin (NULL: none) may make it a bulk operation's node.
 * Takes params (even on failure).  -ENOMEM. */
static int op_new(Ops *ops, const DaemonNodeBmc *b, OpKind kind, json_t *params, const IpmiBoot *boot,
                  IpmiOp power, const OpOrigin *origin, Op **ret) {
        Op *op = calloc(1, sizeof *op);
        if (!op || !params) {
                free(op);
                json_decref(params);
                return -ENOMEM;
        }
        op->ops = ops;
        op->kind = kind;
        op->info = op_machine_kind(kind);
        op->params = params;
        op->created_ms = now_ms();
        op->record_success = true;
        op->at = OP_STEP_QUEUED;
        if (origin && origin->bulk) {
                op->bulk = origin->bulk;
                op->bulk_index = origin->index;
        }
        op->n_steps = op->info->n_steps;
        for (size_t i = 0; i < op->n_steps; i++) {
                Step *s = &op->steps[i];
                s->step = op->info->steps[i];
                if (s->step == OP_STEP_BOOTDEV) {
                        s->req.op = IPMI_OP_BOOTDEV_SET;
                        if (boot)
                                s->req.boot = *boot;
                } else if (s->step == OP_STEP_POWER_STATUS)
                        s->req.op = IPMI_OP_POWER_STATUS;
                else if (s->step == OP_STEP_POWER)
                        s->req.op = power;
        }
        snprintf(op->node, sizeof op->node, "%s", b->node);
        if (b->has_bmc) {
                snprintf(op->target.host, sizeof op->target.host, "%s", b->host);
                snprintf(op->target.user, sizeof op->target.user, "%.16s", b->user);
                op->target.port = b->port;
                op->target.cipher_suite = b->cipher_suite;
                op->target.workarounds = b->workarounds;
        }
        *ret = op;
        return 0;
}

/* Reads the BMC password into op->target (op not registered yet: only this thread sees
 * it).  On failure puts the message for the history in err and returns the errno. */
static int op_read_password(Op *op, const DaemonNodeBmc *b, char *err, size_t errlen) {
        if (!b->password_file[0])
                return 0; /* a BMC user without a password */
        char e[IPMI_ERROR_MAX];
        int r = ipmi_password_read(b->password_file, op->target.password, sizeof op->target.password, e, sizeof e);
        if (r < 0)
                return errbuf_fail(r, err, errlen, "%scannot read the BMC password: %.400s", op->info->why, e);
        return r;
}

/* Starts op (lock not held), which feeds it OP_EV_START (`a`: the action that returned, or
 * the one after marking).  Before a BMC step runs the password is read: a failure fails the
 * operation there (code "auth") and goes into the history (the log only for provd's own
 * operations).  Then registers op and submits its step.  On success *ret (if non-NULL) is
 * op's JSON (new reference). */
static int op_launch(Ops *ops, Op *op, const DaemonNodeBmc *b, OpAction a, json_t **ret) {
        char err[512], node[64];
        int r = a == OP_ACTION_RUN ? op_read_password(op, b, err, sizeof err) : 0;

        snprintf(node, sizeof node, "%s", op->node);
        /* In the history before the failed operation can be seen (see on_step_done()).  op
         * is not registered yet; its fields are read under the lock all the same. */
        ops_lock(ops);
        bool note = r < 0 && !op->info->internal;
        ops_unlock(ops);
        if (note)
                (void) daemon_record_bmc(ops->d, node, err);
        ops_lock(ops);
        if (r < 0)
                a = op_event_locked(op, OP_EV_FAILED, "auth", err);
        bool wake = registry_add_locked(ops, op);
        ops_unlock(ops);
        if (wake)
                bulk_wake(ops);
        if (r < 0 && op->info->internal)
                log_node(LOG_WARNING, &((LogFields) { .node = node }), "%s", err);
        bool mine = op_persist(op);
        if (!mine)
                op_lose(op);
        if (a == OP_ACTION_RUN && mine)
                op_submit(op);
        if (ret) {
                ops_lock(ops);
                *ret = op_json_locked(op);
                ops_unlock(ops);
                if (!*ret)
                        return -ENOMEM;
        }
        return 0;
}

static bool busy_locked(Ops *ops, const char *node, int64_t *ret_id) {
        ops_assert_locked(ops, __func__);
        for (Op *op = ops->ops; op; op = op->next)
                if (!op->info->internal && !op->lost && (op->state == OP_QUEUED || op->state == OP_RUNNING) &&
                    streq(op->node, node)) {
                        *ret_id = op->id;
                        return true;
                }
        return false;
}

/* Looks the node up and checks that it has no admin operation in flight (a claimed row is the
 * node's one: not checked). */
static int prepare(Ops *ops, const char *node, bool need_bmc, const OpOrigin *origin, DaemonNodeBmc *ret, char *err,
                   size_t errlen) {
        int64_t id;
        int r = daemon_node_bmc(ops->d, node, ret);
        if (r == -ENOENT)
                return errbuf_fail(r, err, errlen, "no node \"%.64s\" in the inventory", node);
        if (r < 0)
                return r;
        if (need_bmc && !ret->has_bmc)
                return errbuf_fail(-ENODEV, err, errlen, "node %s has no bmc in the inventory", node);
        if (origin && origin->claimed_id > 0)
                return 0;
        ops_lock(ops);
        bool busy = busy_locked(ops, node, &id);
        ops_unlock(ops);
        if (busy)
                return errbuf_fail(-EALREADY, err, errlen, "node %s already has operation %lld in progress", node,
                                   (long long) id);
        return 0;
}

/* ops_reinstall(), from origin (NULL: a request). */
static int reinstall_start(Ops *ops, const char *node, const OpOrigin *origin, json_t **ret, char *err, size_t errlen) {
        DaemonNodeBmc b;
        Op *op;
        bool changed;
        int r;

        r = prepare(ops, node, false, origin, &b, err, errlen);
        if (r < 0)
                return r;
        NodeMode mode;
        r = daemon_node_mode(ops->d, node, &mode);
        if (r < 0)
                return errbuf_fail(r, err, errlen, "no node \"%.64s\" in the inventory", node);
        if (mode == NODE_MODE_STATELESS)
                return errbuf_fail(-EMEDIUMTYPE, err, errlen,
                                   "node %s is stateless: it boots its image on every boot and has nothing to "
                                   "reinstall; use provd reboot",
                                   node);
        /* The power command is the power status row's choice; the boot device is one-time. */
        r = op_new(ops, &b, b.has_bmc ? OP_KIND_REINSTALL : OP_KIND_REINSTALL_NO_BMC, json_object(),
                   &(IpmiBoot) { .device = IPMI_BOOT_DEVICE_PXE, .efi = b.efi }, IPMI_OP_POWER_CYCLE, origin, &op);
        if (r < 0)
                return r;
        r = op_share(ops, op, &b, origin, ret, err, errlen);
        if (r < 0)
                return r;
        if (r == OP_SHARE_QUEUED)
                return 0;
        ops_lock(ops);
        OpAction a = op_event_locked(op, OP_EV_START, NULL, NULL); /* OP_ACTION_MARK: the mark step */
        op->steps[op->cur].started_ms = now_ms();
        ops_unlock(ops);

        /* Observers hear of it before this returns: console capture prepares the next
         * attempt's log before any BMC step. */
        r = a == OP_ACTION_MARK ? daemon_mark_reinstall(ops->d, node, &changed) : -EPROTO;
        if (r < 0) {
                r = errbuf_fail(r, err, errlen, "cannot mark node %s for install: %s", node, strerror(-r));
                op_discard(op, err ? err : "cannot mark the node for install"); /* never registered */
                return r;
        }
        ops_lock(ops);
        snprintf(op->steps[op->cur].result, sizeof op->steps[op->cur].result, "%s",
                 changed ? "pending" : "already pending");
        a = op_event_locked(op, OP_EV_SUCCEEDED, NULL, NULL);
        if (a == OP_ACTION_SUCCEED)
                snprintf(op->result, sizeof op->result, "marked for install; no BMC: power-cycle the node by hand");
        ops_unlock(ops);
        return op_launch(ops, op, &b, a, ret);
}

int ops_reinstall(Ops *ops, const char *node, json_t **ret, char *err, size_t errlen) {
        return reinstall_start(ops, node, NULL, ret, err, errlen);
}

/* ops_reboot(), from origin (NULL: a request). */
static int reboot_start(Ops *ops, const char *node, const OpOrigin *origin, json_t **ret, char *err, size_t errlen) {
        DaemonNodeBmc b;
        NodeMode mode;
        Op *op;
        int r;

        r = daemon_node_mode(ops->d, node, &mode);
        if (r == -ENOENT)
                return errbuf_fail(r, err, errlen, "no node \"%.64s\" in the inventory", node);
        if (r < 0)
                return r;
        if (mode != NODE_MODE_STATELESS)
                return errbuf_fail(-EMEDIUMTYPE, err, errlen, "node %s installs to disk: use provd reinstall", node);
        r = prepare(ops, node, true, origin, &b, err, errlen);
        if (r < 0)
                return r;
        r = op_new(ops, &b, OP_KIND_REBOOT, json_object(), &(IpmiBoot) { .device = IPMI_BOOT_DEVICE_PXE, .efi = b.efi },
                   IPMI_OP_POWER_CYCLE, origin, &op);
        if (r < 0)
                return r;
        r = op_share(ops, op, &b, origin, ret, err, errlen);
        if (r < 0)
                return r;
        if (r == OP_SHARE_QUEUED)
                return 0;
        ops_lock(ops);
        OpAction a = op_event_locked(op, OP_EV_START, NULL, NULL); /* OP_ACTION_MARK */
        op->steps[op->cur].started_ms = now_ms();
        ops_unlock(ops);

        /* On record before any BMC step; observers (console capture) hear of it first. */
        r = a == OP_ACTION_MARK ? daemon_mark_reboot(ops->d, node) : -EPROTO;
        if (r < 0) {
                r = errbuf_fail(r, err, errlen, "cannot record the reboot of node %s: %s", node, strerror(-r));
                op_discard(op, err ? err : "cannot record the reboot"); /* never registered */
                return r;
        }
        ops_lock(ops);
        snprintf(op->steps[op->cur].result, sizeof op->steps[op->cur].result, "reboot requested");
        a = op_event_locked(op, OP_EV_SUCCEEDED, NULL, NULL);
        ops_unlock(ops);
        return op_launch(ops, op, &b, a, ret);
}

int ops_reboot(Ops *ops, const char *node, json_t **ret, char *err, size_t errlen) {
        return reboot_start(ops, node, NULL, ret, err, errlen);
}

/* ops_power(), from origin (NULL: a request). */
static int power_start(Ops *ops, const char *node, const char *action, const OpOrigin *origin, json_t **ret, char *err,
                       size_t errlen) {
        static const struct {
                const char *name;
                IpmiOp op;
        } actions[] = {
                { "on", IPMI_OP_POWER_ON },       { "off", IPMI_OP_POWER_OFF },   { "cycle", IPMI_OP_POWER_CYCLE },
                { "reset", IPMI_OP_POWER_RESET }, { "soft", IPMI_OP_POWER_SOFT }, { "status", IPMI_OP_POWER_STATUS },
        };
        DaemonNodeBmc b;
        Op *op;
        size_t i;
        int r;

        for (i = 0; i < ELEMENTSOF(actions); i++)
                if (action && streq(actions[i].name, action))
                        break;
        if (i == ELEMENTSOF(actions))
                return errbuf_fail(-EINVAL, err, errlen,
                                   "\"action\" must be one of on, off, cycle, reset, soft, status");
        r = prepare(ops, node, true, origin, &b, err, errlen);
        if (r < 0)
                return r;
        r = op_new(ops, &b, OP_KIND_POWER, json_pack("{s:s}", "action", action), NULL, actions[i].op, origin, &op);
        if (r < 0)
                return r;
        r = op_share(ops, op, &b, origin, ret, err, errlen);
        if (r < 0)
                return r;
        if (r == OP_SHARE_QUEUED)
                return 0;
        /* A status read changes nothing: keep it out of the history unless it fails. */
        op->record_success = actions[i].op != IPMI_OP_POWER_STATUS;
        ops_lock(ops);
        OpAction a = op_event_locked(op, OP_EV_START, NULL, NULL);
        ops_unlock(ops);
        return op_launch(ops, op, &b, a, ret);
}

int ops_power(Ops *ops, const char *node, const char *action, json_t **ret, char *err, size_t errlen) {
        return power_start(ops, node, action, NULL, ret, err, errlen);
}

/* ops_bootdev(), from origin (NULL: a request). */
static int bootdev_start(Ops *ops, const char *node, const char *device, bool persistent, int efi, const OpOrigin *origin,
                         json_t **ret, char *err, size_t errlen) {
        IpmiBootDevice dev;
        DaemonNodeBmc b;
        Op *op;
        int r;

        if (!device || (!streq(device, "pxe") && !streq(device, "disk") && !streq(device, "bios")) ||
            ipmi_boot_device_from_string(device, &dev) < 0) {
                return errbuf_fail(-EINVAL, err, errlen, "\"device\" must be one of pxe, disk, bios");
        }
        r = prepare(ops, node, true, origin, &b, err, errlen);
        if (r < 0)
                return r;
        bool use_efi = efi < 0 ? b.efi : efi > 0;
        IpmiBoot boot = { .device = (uint8_t) dev, .persistent = persistent, .efi = use_efi };
        r = op_new(ops, &b, OP_KIND_BOOTDEV,
                   json_pack("{s:s, s:b, s:b}", "device", device, "persistent", persistent, "efi", use_efi), &boot,
                   IPMI_OP_POWER_STATUS, origin, &op);
        if (r < 0)
                return r;
        r = op_share(ops, op, &b, origin, ret, err, errlen);
        if (r < 0)
                return r;
        if (r == OP_SHARE_QUEUED)
                return 0;
        ops_lock(ops);
        OpAction a = op_event_locked(op, OP_EV_START, NULL, NULL);
        ops_unlock(ops);
        return op_launch(ops, op, &b, a, ret);
}

int ops_bootdev(Ops *ops, const char *node, const char *device, bool persistent, int efi, json_t **ret, char *err,
                size_t errlen) {
        return bootdev_start(ops, node, device, persistent, efi, NULL, ret, err, errlen);
}

/* ---- bulk operations ---------------------------------------------------------------------- */

static void bulk_free(Bulk *b) {
        if (!b)
                return;
        for (size_t i = 0; b->nodes && i < b->n; i++)
                free(b->nodes[i].error);
        free(b->nodes);
        free(b->done);
        json_decref(b->params);
        free(b);
}

/* Adds b to the bulk list (lock held) with the next id, forgetting the oldest finished bulk
 * beyond OPS_BULK_KEEP (never one that is still starting or has a node not finished). */
static void bulk_registry_add_locked(Ops *ops, Bulk *b) {
        ops_assert_locked(ops, __func__);
        b->id = ++ops->next_bulk_id;
        b->next = ops->bulks;
        ops->bulks = b;
        if (++ops->n_bulks <= OPS_BULK_KEEP)
                return;
        Bulk **pp, **last_finished = NULL;
        for (pp = &b->next; *pp; pp = &(*pp)->next)
                if (!(*pp)->starting && (*pp)->n_done == (*pp)->n)
                        last_finished = pp;
        if (last_finished) {
                Bulk *old = *last_finished;
                *last_finished = old->next;
                ops->n_bulks--;
                bulk_free(old);
        }
}

static Bulk *bulk_find_locked(Ops *ops, int64_t id) {
        ops_assert_locked(ops, __func__);
        for (Bulk *b = ops->bulks; b; b = b->next)
                if (b->id == id)
                        return b;
        return NULL;
}

/* Node i of b as JSON (lock held); with seq for the stream's events. */
static json_t *bulk_node_json_locked(Ops *ops, const Bulk *b, size_t i, bool with_seq) {
        ops_assert_locked(ops, __func__);
        const BulkNode *bn = &b->nodes[i];
        json_t *o = json_pack("{s:s, s:o, s:s, s:o, s:o}", "node", bn->node, "operation",
                              bn->op_id > 0 ? json_integer(bn->op_id) : json_null(), "state", op_state_names[bn->state],
                              "result", bn->result[0] ? json_string(bn->result) : json_null(), "error",
                              bn->error ? json_pack("{s:s, s:s}", "code", bn->error_code, "message", bn->error)
                                        : json_null());
        if (o && with_seq && json_object_set_new(o, "seq", json_integer(bn->seq)) < 0) {
                json_decref(o);
                return NULL;
        }
        return o;
}

/* b as JSON (lock held): the whole, its counts, and with_nodes every node's outcome. */
static json_t *bulk_json_locked(Ops *ops, const Bulk *b, bool with_nodes) {
        char ts[25], ts2[25];
        size_t count[4] = { 0 };
        ops_assert_locked(ops, __func__);
        for (size_t i = 0; i < b->n; i++)
                count[b->nodes[i].state]++;
        const char *state = b->n_done < b->n ? "running" : b->n_failed > 0 ? "failed" : "succeeded";
        _cleanup_(json_decrefp) json_t *o = json_pack(
                "{s:I, s:s, s:O, s:s, s:s, s:o, s:{s:I, s:I, s:I, s:I, s:I}}", "id", (json_int_t) b->id, "kind", b->kind,
                "params", b->params, "state", state, "created_at", format_rfc3339(b->created_ms, ts), "finished_at",
                b->finished_ms ? json_string(format_rfc3339(b->finished_ms, ts2)) : json_null(), "counts", "total",
                (json_int_t) b->n, "queued", (json_int_t) count[OP_QUEUED], "running", (json_int_t) count[OP_RUNNING],
                "succeeded", (json_int_t) count[OP_SUCCEEDED], "failed", (json_int_t) count[OP_FAILED]);
        if (!o || !with_nodes)
                return TAKE_PTR(o);
        json_t *nodes = json_array();
        if (!nodes || json_object_set_new(o, "nodes", nodes) < 0)
                return NULL;
        for (size_t i = 0; i < b->n; i++)
                if (json_array_append_new(nodes, bulk_node_json_locked(ops, b, i, false)) < 0)
                        return NULL;
        return TAKE_PTR(o);
}

/* The error code of a node whose operation could not start (the single-node route's status). */
static const char *refusal_code(int r) {
        return r == -ENOENT ? "not_found" : r == -ENODEV || r == -EALREADY || r == -EMEDIUMTYPE ? "conflict" : "error";
}

int ops_bulk_start(Ops *ops, const OpBulkRequest *req, json_t **ret, char *err, size_t errlen) {
        DaemonNodeBmc b;
        size_t unknown = 0, first = 0;
        int r;

        /* Every node first: an unknown one refuses the whole request, before anything starts. */
        for (size_t i = 0; i < req->n_nodes; i++) {
                r = daemon_node_bmc(ops->d, req->nodes[i], &b);
                if (r == -ENOENT && unknown++ == 0)
                        first = i;
                else if (r < 0 && r != -ENOENT)
                        return errbuf_fail(r, err, errlen, "cannot look up node %s: %s", req->nodes[i], strerror(-r));
        }
        if (unknown == 1)
                return errbuf_fail(-ENOENT, err, errlen, "unknown node \"%s\" (nodes[%zu]): not in the inventory; nothing was started",
                                   req->nodes[first], first);
        if (unknown > 1)
                return errbuf_fail(-ENOENT, err, errlen,
                                   "unknown node \"%s\" (nodes[%zu]) and %zu more not in the inventory; nothing was started",
                                   req->nodes[first], first, unknown - 1);

        Bulk *bk = calloc(1, sizeof *bk);
        if (!bk)
                return -ENOMEM;
        bk->n = req->n_nodes;
        bk->kind = op_bulk_kind_to_string(req->kind);
        bk->params = op_bulk_params_json(req);
        bk->nodes = calloc(bk->n, sizeof *bk->nodes);
        bk->done = calloc(bk->n, sizeof *bk->done);
        if (!bk->params || !bk->nodes || !bk->done) {
                bulk_free(bk);
                return -ENOMEM;
        }
        for (size_t i = 0; i < bk->n; i++)
                snprintf(bk->nodes[i].node, sizeof bk->nodes[i].node, "%s", req->nodes[i]);
        bk->created_ms = now_ms();
        bk->starting = true; /* not forgotten while this function still uses it */
        ops_lock(ops);
        bulk_registry_add_locked(ops, bk);
        ops_unlock(ops);

        /* A node that cannot start (no BMC, busy, gone in a reload since the check) fails
         * alone, with the single-node route's message. */
        bool wake = false;
        for (size_t i = 0; i < bk->n; i++) {
                const OpOrigin link = { .bulk = bk, .index = i };
                char e[768] = "";
                switch (req->kind) {
                case OP_BULK_REINSTALL:
                        r = reinstall_start(ops, req->nodes[i], &link, NULL, e, sizeof e);
                        break;
                case OP_BULK_REBOOT:
                        r = reboot_start(ops, req->nodes[i], &link, NULL, e, sizeof e);
                        break;
                case OP_BULK_POWER:
                        r = power_start(ops, req->nodes[i], req->action, &link, NULL, e, sizeof e);
                        break;
                default:
                        r = bootdev_start(ops, req->nodes[i], req->device, req->persistent, req->efi, &link, NULL, e,
                                          sizeof e);
                }
                if (r >= 0)
                        continue;
                ops_lock(ops);
                BulkNode *bn = &bk->nodes[i];
                if (bn->seq == 0) {
                        bn->error_code = refusal_code(r);
                        bn->error = strdup(e[0] ? e : strerror(-r));
                        bulk_node_finished_locked(ops, bk, i, OP_FAILED);
                        wake = true;
                }
                ops_unlock(ops);
        }
        if (wake)
                bulk_wake(ops);
        ops_lock(ops);
        json_t *o = bulk_json_locked(ops, bk, true);
        bk->starting = false;
        ops_unlock(ops);
        if (!o)
                return -ENOMEM;
        *ret = o;
        return 0;
}

int ops_bulk_get_json(Ops *ops, int64_t id, json_t **ret) {
        ops_lock(ops);
        Bulk *b = bulk_find_locked(ops, id);
        json_t *o = b ? bulk_json_locked(ops, b, true) : NULL;
        ops_unlock(ops);
        if (!b)
                return -ENOENT;
        if (!o)
                return -ENOMEM;
        *ret = o;
        return 0;
}

/* Appends one SSE event (`id` < 0: no id line) with o (stolen) as its data to f. */
static int sse_append(FILE *f, int64_t id, const char *event, json_t *o) {
        _cleanup_free_ char *data = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        if (!data)
                return -ENOMEM;
        if (id >= 0)
                fprintf(f, "id: %lld\n", (long long) id);
        fprintf(f, "event: %s\ndata: %s\n\n", event, data);
        return 0;
}

int ops_bulk_sse(Ops *ops, int64_t id, int64_t cursor, size_t max, char **ret_text, size_t *ret_len, int64_t *ret_last,
                 bool *ret_ended) {
        char *text = NULL;
        size_t len = 0;
        bool ended = false;
        int r = 0;

        FILE *f = open_memstream(&text, &len);
        if (!f)
                return -ENOMEM;
        ops_lock(ops);
        Bulk *b = bulk_find_locked(ops, id);
        int64_t last = cursor < 0 ? 0 : cursor;
        if (!b)
                r = -ENOENT;
        for (; b && r == 0 && last < (int64_t) b->n_done && (size_t) ftell(f) < max; last++)
                r = sse_append(f, last + 1, "node", bulk_node_json_locked(ops, b, b->done[last], true));
        if (b && r == 0 && last == (int64_t) b->n_done && b->n_done == b->n) {
                r = sse_append(f, -1, "done", bulk_json_locked(ops, b, false));
                ended = true;
        }
        ops_unlock(ops);
        if (fclose(f) != 0 && r == 0)
                r = -ENOMEM;
        if (r < 0) {
                free(text);
                return r;
        }
        if (len == 0) {
                free(text);
                text = NULL;
        }
        *ret_text = text;
        *ret_len = len;
        *ret_last = last;
        *ret_ended = ended;
        return 0;
}

uint64_t ops_bulk_generation(Ops *ops) {
        return __atomic_load_n(&ops->bulk_generation, __ATOMIC_ACQUIRE);
}

void ops_bulk_notify(Ops *ops, void (*fn)(void *userdata), void *userdata) {
        pthread_mutex_lock(&ops->notify_lock);
        ops->notify = fn;
        ops->notify_data = userdata;
        pthread_mutex_unlock(&ops->notify_lock);
}

/* Sets node bmc's boot device to disk, persistent: provd's own operation once an install
 * succeeded (lock not held).  On a shared store it runs where the install's end was seen when
 * this instance serves the node's rack (no row: an id from the rows' sequence), and is queued
 * as a row for an instance that does otherwise; origin (claimed) runs that row.  A failure to
 * start is logged (not recorded); returns 0 or its errno. */
static int disk_after_install_start(Ops *ops, const DaemonNodeBmc *bmc, const OpOrigin *origin) {
        IpmiBoot disk = { .device = IPMI_BOOT_DEVICE_DISK, .persistent = true, .efi = bmc->efi };
        char err[256] = "";
        Op *op;
        int r = op_new(ops, bmc, OP_KIND_DISK_AFTER_INSTALL,
                       json_pack("{s:s, s:b, s:b}", "device", "disk", "persistent", 1, "efi", bmc->efi), &disk,
                       IPMI_OP_POWER_STATUS, origin, &op);
        if (r < 0)
                return r;
        if (ops->shared && !(origin && origin->claimed_id > 0) && cluster_serves_rack(ops->cluster, bmc->rack)) {
                RowRead rd = { 0 };
                r = daemon_store_write(ops->d, row_next_id, &rd);
                if (r < 0) {
                        op_free(op);
                        return log_node_errno(LOG_WARNING, r, &((LogFields) { .node = bmc->node }),
                                              "after install: cannot set the boot device to disk: no operation id: %m");
                }
                op->id = rd.id;
        } else {
                r = op_share(ops, op, bmc, origin, NULL, err, sizeof err);
                if (r < 0)
                        return log_node_errno(LOG_WARNING, r, &((LogFields) { .node = bmc->node }),
                                              "after install: cannot set the boot device to disk: %s", err);
                if (r == OP_SHARE_QUEUED)
                        return 0;
        }
        ops_lock(ops);
        OpAction a = op_event_locked(op, OP_EV_START, NULL, NULL);
        ops_unlock(ops);
        return op_launch(ops, op, bmc, a, NULL);
}

/* The daemon's transition observer (no daemon lock held; quick: reads the local password
 * file and submits): a node whose install attempt succeeded (it became installed) gets its
 * boot device set to disk, persistent.  A failure to start goes to the log only, not the
 * history (the installed node's last entry stays the install's). */
static void on_transition(const DaemonTransition *t, void *userdata) {
        Ops *ops = userdata;
        const DaemonNodeBmc *bmc = &t->bmc;

        if (t->ended_attempt <= 0 || !t->outcome || !streq(t->outcome, "succeeded") || !bmc->has_bmc)
                return;
        ops_lock(ops);
        bool stopping = ops->stopping;
        ops_unlock(ops);
        if (stopping)
                return;
        (void) disk_after_install_start(ops, bmc, NULL);
}

/* A row's operation as JSON: the JSON its holder last wrote, with the row's id, state and
 * holder (a queued row's own JSON when nobody wrote one).  A new reference, or NULL. */
static json_t *row_json(const StoreBmcOp *row) {
        char ts[25], ts2[25];
        json_t *o = row->result ? json_loads(row->result, 0, NULL) : NULL;
        if (!json_is_object(o)) {
                json_decref(o);
                json_t *params = json_loads(row->params, 0, NULL);
                o = json_pack("{s:s, s:s, s:o, s:s, s:o, s:n, s:n, s:[]}", "node", row->node, "kind", row->kind,
                              "params", json_is_object(params) ? params : (json_decref(params), json_object()),
                              "created_at", format_rfc3339(row->created_ms, ts), "finished_at",
                              row->ended_ms ? json_string(format_rfc3339(row->ended_ms, ts2)) : json_null(), "result",
                              "error", "steps");
        }
        if (!o || json_object_set_new(o, "id", json_integer(row->id)) < 0 ||
            json_object_set_new(o, "state", json_string(row->state)) < 0 ||
            json_object_set_new(o, "holder", row->holder[0] ? json_string(row->holder) : json_null()) < 0) {
                json_decref(o);
                return NULL;
        }
        return o;
}

/* Op id of this instance's registry, not lost (lock held), or NULL. */
static Op *op_find_locked(Ops *ops, int64_t id) {
        ops_assert_locked(ops, __func__);
        for (Op *op = ops->ops; op; op = op->next)
                if (op->id == id && !op->lost)
                        return op;
        return NULL;
}

int ops_get_json(Ops *ops, int64_t id, json_t **ret) {
        int r = -ENOENT;
        ops_lock(ops);
        Op *op = op_find_locked(ops, id);
        if (op) {
                *ret = op_json_locked(op);
                r = *ret ? 0 : -ENOMEM;
        }
        ops_unlock(ops);
        if (op || !ops->shared)
                return r;
        /* Another instance's (or one this instance gave up): its row. */
        RowRead rd = { .id = id };
        r = daemon_store_read(ops->d, row_get, &rd);
        if (r < 0)
                return r;
        json_t *o = row_json(&rd.row);
        store_bmc_op_done(&rd.row);
        if (!o)
                return -ENOMEM;
        *ret = o;
        return 0;
}

/* Operations for ops_list_json() on a shared store: by id, newest first. */
typedef struct ListItem {
        int64_t id;
        json_t *o; /* owned */
} ListItem;

typedef struct ListRead {
        const char *node; /* NULL: every node */
        ListItem *items;  /* owned */
        size_t n, cap;
} ListRead;

static int list_add(ListRead *l, int64_t id, json_t *o) {
        if (!o)
                return -ENOMEM;
        if (l->n == l->cap) {
                size_t cap = l->cap ? l->cap * 2 : 64;
                ListItem *p = realloc(l->items, cap * sizeof *p);
                if (!p) {
                        json_decref(o);
                        return -ENOMEM;
                }
                l->items = p;
                l->cap = cap;
        }
        l->items[l->n++] = (ListItem) { .id = id, .o = o };
        return 0;
}

static int list_row(void *userdata, const StoreBmcOp *row) {
        return list_add(userdata, row->id, row_json(row));
}

static int list_rows(Store *s, void *userdata) {
        ListRead *l = userdata;
        return store_bmc_op_foreach(s, l->node, OPS_KEEP, list_row, l);
}

static int list_item_cmp(const void *a, const void *b) {
        const ListItem *x = a, *y = b;
        return x->id < y->id ? 1 : x->id > y->id ? -1 : 0;
}

/* ops_list_json() on a shared store: the rows (every instance's operations), each as this
 * instance knows it when it runs it, and this instance's own boot-device-to-disk operations
 * (no row), newest first. */
static int list_shared(Ops *ops, const char *node, json_t **ret) {
        ListRead l = { .node = node };
        int r = daemon_store_read(ops->d, list_rows, &l);
        ops_lock(ops);
        for (size_t i = 0; r >= 0 && i < l.n; i++) {
                Op *op = op_find_locked(ops, l.items[i].id);
                json_t *o = op ? op_json_locked(op) : NULL;
                if (o) {
                        json_decref(l.items[i].o);
                        l.items[i].o = o;
                }
        }
        for (Op *op = ops->ops; r >= 0 && op; op = op->next)
                if (op->info->internal && (!node || streq(op->node, node)))
                        r = list_add(&l, op->id, op_json_locked(op));
        ops_unlock(ops);
        json_t *arr = r >= 0 ? json_array() : NULL;
        if (r >= 0 && !arr)
                r = -ENOMEM;
        if (r >= 0 && l.n > 0) /* no items: l.items is NULL, which qsort(3) must not get */
                qsort(l.items, l.n, sizeof *l.items, list_item_cmp);
        for (size_t i = 0; i < l.n; i++) {
                if (r >= 0 && i < OPS_KEEP && json_array_append(arr, l.items[i].o) < 0)
                        r = -ENOMEM;
                json_decref(l.items[i].o);
        }
        free(l.items);
        json_t *o = r >= 0 ? json_pack("{s:o}", "operations", arr) : (json_decref(arr), NULL);
        if (r < 0)
                return r;
        if (!o)
                return -ENOMEM;
        *ret = o;
        return 0;
}

int ops_list_json(Ops *ops, const char *node, json_t **ret) {
        if (ops->shared)
                return list_shared(ops, node, ret);
        _cleanup_(json_decrefp) json_t *arr = json_array();
        int r = arr ? 0 : -ENOMEM;
        ops_lock(ops);
        for (Op *op = ops->ops; op && r == 0; op = op->next)
                if (!node || streq(op->node, node))
                        if (json_array_append_new(arr, op_json_locked(op)) < 0)
                                r = -ENOMEM;
        ops_unlock(ops);
        if (r < 0)
                return r;
        *ret = json_pack("{s:O}", "operations", arr);
        return *ret ? 0 : -ENOMEM;
}

/* Fails install attempts and boots of stateless nodes past their deadlines, once a second. */
static void *sweeper_thread(void *userdata) {
        Ops *ops = userdata;
        ops_lock(ops);
        while (!ops->stopping) {
                struct timespec ts = timespec_after_ms(CLOCK_REALTIME, SWEEP_INTERVAL_MS);
                ops_wait(ops, &ops->cond, &ts);
                if (ops->stopping)
                        break;
                ops_unlock(ops);
                int r = daemon_expire_attempts(ops->d, ops->cfg.install_deadline_ms, now_ms());
                if (r < 0)
                        log_warning_errno(r, "install deadline: cannot fail expired attempts: %m");
                r = daemon_expire_boots(ops->d, ops->cfg.boot_deadline_ms, now_ms());
                if (r < 0)
                        log_warning_errno(r, "boot deadline: cannot fail expired boots: %m");
                ops_lock(ops);
        }
        ops_unlock(ops);
        return NULL;
}

/* ---- shared store: the claimer --------------------------------------------------------------- */

/* A claim of rows for this instance (daemon_store_write()). */
typedef struct ClaimWrite {
        const char *holder, *racks;
        StoreBmcOp rows[OPS_CLAIM_BATCH];
        size_t n;
} ClaimWrite;

static int claim_write(Store *s, void *userdata) {
        ClaimWrite *w = userdata;
        return store_bmc_op_claim(s, w->holder, w->racks, now_ms(), OPS_LEASE_MS, OPS_CLAIM_BATCH, w->rows, &w->n);
}

/* The error code (static) an operation's JSON says, for a bulk node. */
static const char *error_code_static(const char *code) {
        static const char *const codes[] = { "timeout", "unreachable", "auth", "unsupported" };
        for (size_t i = 0; code && i < ELEMENTSOF(codes); i++)
                if (streq(code, codes[i]))
                        return codes[i];
        return "error";
}

/* A claimed row whose operation cannot run here (unknown node, no BMC, bad parameters): ends
 * it failed with `message`. */
static void row_fail(Ops *ops, const StoreBmcOp *row, const char *message) {
        char ts[25];
        json_t *o = row_json(row);
        if (o) {
                json_object_set_new(o, "state", json_string("failed"));
                json_object_set_new(o, "finished_at", json_string(format_rfc3339(now_ms(), ts)));
                json_object_set_new(o, "error", json_pack("{s:s, s:s}", "code", "error", "message", message));
        }
        _cleanup_free_ char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        RowWrite w = { .id = row->id, .holder = ops->self, .state = "failed", .ended_ms = now_ms(), .result = text };
        int r = daemon_store_write(ops->d, row_write, &w);
        if (r < 0)
                log_warning_errno(r, "operation %lld: cannot end it in the shared store: %m", (long long) row->id);
        log_warning("operation %lld (%s, node %s) cannot run on this instance: %s", (long long) row->id, row->kind,
                    row->node, message);
}

/* Runs a row this instance claimed (queued, or taken over) from its first step, as its kind's
 * route would start it. */
static void run_claimed(Ops *ops, const StoreBmcOp *row) {
        char e[768] = "", msg[512];
        int r;

        ops_lock(ops);
        Op *mine = op_find_locked(ops, row->id);
        bool running = mine && mine->state != OP_SUCCEEDED && mine->state != OP_FAILED;
        ops_unlock(ops);
        if (running)
                return; /* this instance's own, claimed again after a late renewal: it goes on */
        if (row->prev_holder[0]) {
                snprintf(msg, sizeof msg, "operation %lld (%s) taken over from instance %s, whose lease expired",
                         (long long) row->id, row->kind, row->prev_holder);
                log_node(LOG_WARNING, &((LogFields) { .node = row->node }), "%s", msg);
                (void) daemon_record_bmc(ops->d, row->node, msg);
        }
        const OpOrigin origin = { .claimed_id = row->id };
        json_t *params = json_loads(row->params, 0, NULL);
        if (streq(row->kind, "reinstall"))
                r = reinstall_start(ops, row->node, &origin, NULL, e, sizeof e);
        else if (streq(row->kind, "reboot"))
                r = reboot_start(ops, row->node, &origin, NULL, e, sizeof e);
        else if (streq(row->kind, "power"))
                r = power_start(ops, row->node, json_string_value(json_object_get(params, "action")), &origin, NULL, e,
                                sizeof e);
        else if (streq(row->kind, "bootdev"))
                r = bootdev_start(ops, row->node, json_string_value(json_object_get(params, "device")),
                                  json_is_true(json_object_get(params, "persistent")),
                                  json_is_boolean(json_object_get(params, "efi")) ? json_is_true(json_object_get(params, "efi")) : -1,
                                  &origin, NULL, e, sizeof e);
        else if (streq(row->kind, STORE_BMC_OP_KIND_AFTER_INSTALL)) {
                DaemonNodeBmc b;
                r = daemon_node_bmc(ops->d, row->node, &b);
                if (r < 0)
                        snprintf(e, sizeof e, "no node \"%.64s\" in the inventory", row->node);
                else if (!b.has_bmc)
                        r = errbuf_fail(-ENODEV, e, sizeof e, "node %s has no bmc in the inventory", row->node);
                else
                        r = disk_after_install_start(ops, &b, &origin);
        } else
                r = errbuf_fail(-EINVAL, e, sizeof e, "unknown operation kind \"%s\"", row->kind);
        json_decref(params);
        if (r < 0)
                row_fail(ops, row, e[0] ? e : strerror(-r));
}

static int renew_write(Store *s, void *userdata) {
        return store_bmc_op_renew(s, userdata, now_ms(), OPS_LEASE_MS);
}

static int abandon_write(Store *s, void *userdata) {
        return store_bmc_op_abandon(s, userdata, now_ms());
}

/* Bulk nodes another instance runs: copies the outcome of those whose rows ended. */
static void bulk_poll(Ops *ops) {
        struct {
                int64_t bulk, op;
                size_t index;
        } want[256];
        size_t n = 0;
        bool wake = false;
        ops_lock(ops);
        for (Bulk *b = ops->bulks; b; b = b->next)
                for (size_t i = 0; i < b->n && n < ELEMENTSOF(want); i++)
                        if (b->nodes[i].remote && b->nodes[i].seq == 0 && b->nodes[i].op_id > 0) {
                                want[n].bulk = b->id;
                                want[n].op = b->nodes[i].op_id;
                                want[n++].index = i;
                        }
        ops_unlock(ops);
        for (size_t k = 0; k < n; k++) {
                RowRead rd = { .id = want[k].op };
                if (daemon_store_read(ops->d, row_get, &rd) < 0)
                        continue;
                bool ended = streq(rd.row.state, "succeeded") || streq(rd.row.state, "failed");
                json_t *o = ended ? row_json(&rd.row) : NULL;
                ops_lock(ops);
                Bulk *b = bulk_find_locked(ops, want[k].bulk);
                BulkNode *bn = b ? &b->nodes[want[k].index] : NULL;
                if (bn && bn->seq == 0 && !ended)
                        bn->state = streq(rd.row.state, "running") ? OP_RUNNING : OP_QUEUED;
                else if (bn && bn->seq == 0) {
                        bool failed = streq(rd.row.state, "failed");
                        const char *result = json_string_value(json_object_get(o, "result"));
                        json_t *error = json_object_get(o, "error");
                        const char *message = json_string_value(json_object_get(error, "message"));
                        snprintf(bn->result, sizeof bn->result, "%s", result ? result : "");
                        if (failed) {
                                bn->error_code = error_code_static(json_string_value(json_object_get(error, "code")));
                                if (asprintf(&bn->error, "%s: %s", bn->node, message ? message : "the operation failed") < 0)
                                        bn->error = NULL;
                        }
                        bulk_node_finished_locked(ops, b, want[k].index, failed ? OP_FAILED : OP_SUCCEEDED);
                        wake = true;
                }
                ops_unlock(ops);
                json_decref(o);
                store_bmc_op_done(&rd.row);
        }
        if (wake)
                bulk_wake(ops);
}

/* cluster_on_op()'s hook (the listener's thread): a row changed, a claim round soon. */
static void on_op_note(void *userdata, int64_t id) {
        Ops *ops = userdata;
        (void) id;
        ops_lock(ops);
        ops->claim_wake = true;
        pthread_cond_signal(&ops->claim_cond);
        ops_unlock(ops);
}

/* Shared store: claims queued (and abandoned) operations of the racks this instance serves and
 * runs them, renews its claims, and follows its bulk operations' nodes run elsewhere: every
 * OPS_CLAIM_MS, or OPS_CLAIM_WAKE_MS after a notification. */
static void *claimer_thread(void *userdata) {
        Ops *ops = userdata;
        int64_t last = 0, last_renew = now_ms();
        (void) pthread_setname_np(pthread_self(), "provd-claim");
        ops_lock(ops);
        while (!ops->stopping) {
                int64_t due = last + (ops->claim_wake ? OPS_CLAIM_WAKE_MS : OPS_CLAIM_MS), now = now_ms();
                if (now < due) {
                        struct timespec ts = timespec_after_ms(CLOCK_REALTIME, due - now);
                        ops_wait(ops, &ops->claim_cond, &ts);
                        continue;
                }
                ops->claim_wake = false;
                last = now;
                ops_unlock(ops);
                if (now - last_renew >= OPS_RENEW_MS) {
                        /* Every operation this instance holds (one taken over meanwhile is
                         * lost at its next write: op_persist()). */
                        int k = daemon_store_write(ops->d, renew_write, ops->self);
                        if (k < 0)
                                log_warning_errno(k, "cannot renew this instance's claims on its BMC operations: %m");
                        last_renew = now;
                }
                ClaimWrite w = { .holder = ops->self, .racks = cluster_racks(ops->cluster) };
                int r = daemon_store_write(ops->d, claim_write, &w);
                if (r < 0)
                        log_warning_errno(r, "cannot claim queued BMC operations: %m");
                for (size_t i = 0; r >= 0 && i < w.n; i++) {
                        run_claimed(ops, &w.rows[i]);
                        store_bmc_op_done(&w.rows[i]);
                }
                bulk_poll(ops);
                ops_lock(ops);
                if (r >= 0 && w.n == OPS_CLAIM_BATCH)
                        ops->claim_wake = true; /* more may be waiting */
        }
        ops_unlock(ops);
        return NULL;
}

int ops_new(Daemon *d, const OpsConfig *cfg, Ops **ret) {
        Ops *ops = calloc(1, sizeof *ops);
        int r;
        if (!ops)
                return -ENOMEM;
        pthread_mutex_init(&ops->lock, NULL);
        pthread_mutex_init(&ops->notify_lock, NULL);
        pthread_cond_init(&ops->cond, NULL);
        pthread_cond_init(&ops->claim_cond, NULL);
        ops->d = d;
        ops->cfg = *cfg;
        ops->cluster = cfg->cluster;
        ops->shared = cfg->cluster && daemon_is_shared(d);
        if (ops->shared)
                snprintf(ops->self, sizeof ops->self, "%s", cluster_name(cfg->cluster));
        if (ops->cfg.bmc_timeout_ms == 0)
                ops->cfg.bmc_timeout_ms = 10000;
        r = bmc_pool_new(&(BmcPoolConfig) { .workers = cfg->bmc_workers, .timeout_ms = ops->cfg.bmc_timeout_ms },
                         &ops->pool);
        if (r < 0) {
                ops_free(ops);
                return log_error_errno(r, "cannot start the BMC worker pool: %m");
        }
        if (cfg->install_deadline_ms > 0 || cfg->boot_deadline_ms > 0) {
                r = pthread_create(&ops->sweeper, NULL, sweeper_thread, ops);
                if (r != 0) {
                        ops_free(ops);
                        return log_error_errno(r, "cannot start the install deadline thread");
                }
                ops->sweeper_started = true;
        }
        r = daemon_subscribe(d, on_transition, ops, &ops->observer);
        if (r < 0) {
                ops_free(ops);
                return log_error_errno(r, "cannot observe the daemon's transitions: %m");
        }
        if (ops->shared) {
                /* Rows a previous process of this name held when it died: taken over at the
                 * first claim (by this instance or another), not left until their leases end. */
                r = daemon_store_write(d, abandon_write, ops->self);
                if (r > 0)
                        log_warning("%d BMC operations this instance held before it restarted will be taken over", r);
                if (r < 0) {
                        ops_free(ops);
                        return log_error_errno(r, "cannot read the BMC operations this instance held: %m");
                }
                r = -pthread_create(&ops->claimer, NULL, claimer_thread, ops);
                if (r < 0) {
                        ops_free(ops);
                        return log_error_errno(r, "cannot start the BMC operations' claimer thread: %m");
                }
                ops->claimer_started = true;
                cluster_on_op(ops->cluster, on_op_note, ops);
                ops->on_op_set = true;
        }
        *ret = ops;
        return 0;
}

void ops_free(Ops *ops) {
        if (!ops)
                return;
        if (ops->observer > 0)
                (void) daemon_unsubscribe(ops->d, ops->observer); /* waits for a call in progress */
        if (ops->on_op_set)
                cluster_on_op(ops->cluster, NULL, NULL); /* waits for a call in progress */
        ops_lock(ops);
        ops->stopping = true;
        pthread_cond_broadcast(&ops->cond);
        pthread_cond_broadcast(&ops->claim_cond);
        ops_unlock(ops);
        if (ops->sweeper_started)
                pthread_join(ops->sweeper, NULL);
        if (ops->claimer_started)
                pthread_join(ops->claimer, NULL);
        bmc_pool_free(ops->pool);
        for (Op *op = ops->ops, *next; op; op = next) {
                next = op->next;
                op_free(op);
        }
        for (Bulk *b = ops->bulks, *next; b; b = next) {
                next = b->next;
                bulk_free(b);
        }
        pthread_mutex_destroy(&ops->lock);
        pthread_mutex_destroy(&ops->notify_lock);
        pthread_cond_destroy(&ops->cond);
        pthread_cond_destroy(&ops->claim_cond);
        free(ops);
}
