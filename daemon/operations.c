/* operations.c — see operations.h. */
#include "operations.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bmc-pool.h"
#include "inventory.h"
#include "ipmi.h"
#include "log.h"
#include "metrics.h"
#include "util.h"

#define OPS_MAX_STEPS 4
#define SWEEP_INTERVAL_MS 1000

typedef enum OpState { OP_QUEUED, OP_RUNNING, OP_SUCCEEDED, OP_FAILED } OpState;
typedef enum StepState { STEP_PENDING, STEP_RUNNING, STEP_SUCCEEDED, STEP_FAILED, STEP_SKIPPED } StepState;

static const char *const op_state_names[] = { "queued", "running", "succeeded", "failed" };
static const char *const step_state_names[] = { "pending", "running", "succeeded", "failed", "skipped" };

typedef struct Step {
        const char *name; /* static: mark, bootdev, power_status, power */
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
        const char *kind; /* static: reinstall, power, bootdev */
        const char *why;  /* message prefix: "reinstall: ", "after install: ", or "" */
        json_t *params;   /* owned */
        bool internal;    /* started by provd itself (boot device to disk after an install) */
        bool record_success; /* record successful steps in the history */
        OpState state;
        int64_t created_ms, finished_ms;
        char result[256];
        const char *error_code; /* static */
        char *error;            /* owned */
        Step steps[OPS_MAX_STEPS];
        size_t n_steps, cur;
        IpmiTarget target; /* with the password: wiped when the operation ends */
        struct Op *next;   /* registry, newest first */
} Op;

struct Ops {
        pthread_mutex_t lock; /* guards the registry and every Op */
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
};

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
        json_t *steps = json_array();
        for (size_t i = 0; steps && i < op->n_steps; i++) {
                const Step *s = &op->steps[i];
                json_array_append_new(
                        steps, json_pack("{s:s, s:s, s:o, s:o, s:o, s:o}", "name", s->name, "state",
                                         step_state_names[s->state], "started_at",
                                         s->started_ms ? json_string(format_rfc3339(s->started_ms, ts)) : json_null(),
                                         "finished_at",
                                         s->finished_ms ? json_string(format_rfc3339(s->finished_ms, ts2)) : json_null(),
                                         "result", s->result[0] ? json_string(s->result) : json_null(), "error",
                                         s->error ? json_string(s->error) : json_null()));
        }
        return json_pack("{s:I, s:s, s:s, s:O, s:s, s:s, s:o, s:o, s:o, s:o}", "id", (json_int_t) op->id, "node",
                         op->node, "kind", op->kind, "params", op->params, "state", op_state_names[op->state],
                         "created_at", format_rfc3339(op->created_ms, ts), "finished_at",
                         op->finished_ms ? json_string(format_rfc3339(op->finished_ms, ts2)) : json_null(), "result",
                         op->result[0] ? json_string(op->result) : json_null(), "error",
                         op->error ? json_pack("{s:s, s:s}", "code", op->error_code, "message", op->error)
                                   : json_null(),
                         "steps", steps);
}

/* Ends op (lock held): wipes the password, skips the steps that did not run. */
static void op_finish_locked(Op *op, OpState state) {
        op->state = state;
        op->finished_ms = now_ms();
        for (size_t i = 0; i < op->n_steps; i++)
                if (op->steps[i].state == STEP_PENDING)
                        op->steps[i].state = STEP_SKIPPED;
        explicit_bzero(op->target.password, sizeof op->target.password);
}

/* Fails op at its current step (lock held). */
static void op_fail_locked(Op *op, const char *code, const char *message) {
        Step *s = &op->steps[op->cur];
        s->state = STEP_FAILED;
        s->finished_ms = now_ms();
        free(s->error);
        s->error = strdup(message);
        op->error_code = code;
        free(op->error);
        op->error = strdup(message);
        op_finish_locked(op, OP_FAILED);
}

/* Adds op to the registry (lock held), forgetting the oldest finished ones beyond OPS_KEEP. */
static void registry_add_locked(Ops *ops, Op *op) {
        op->id = ++ops->next_id;
        op->next = ops->ops;
        ops->ops = op;
        ops->n_ops++;
        if (ops->n_ops <= OPS_KEEP)
                return;
        Op **pp = &ops->ops, **last_finished = NULL;
        for (; *pp; pp = &(*pp)->next)
                if ((*pp)->state == OP_SUCCEEDED || (*pp)->state == OP_FAILED)
                        last_finished = pp;
        if (last_finished) {
                Op *old = *last_finished;
                *last_finished = old->next;
                ops->n_ops--;
                op_free(old);
        }
}

static void on_step_done(const BmcJob *job, const BmcOutcome *outcome, void *userdata);

/* Submits op's current step to the BMC pool (lock not held).  On failure the operation
 * fails and the failure is recorded (in the history if `record`, else only in the log: the
 * installed hook runs under the daemon's lock). */
static void op_submit(Op *op, bool record) {
        Ops *ops = op->ops;
        BmcJob job = { 0 };
        char node[64], msg[512];
        int r;

        pthread_mutex_lock(&ops->lock);
        Step *s = &op->steps[op->cur];
        s->state = STEP_RUNNING;
        s->started_ms = now_ms();
        op->state = OP_RUNNING;
        job.target = op->target;
        job.request = s->req;
        job.timeout_ms = ops->cfg.bmc_timeout_ms;
        job.retries = ops->cfg.bmc_retries;
        job.done = on_step_done;
        job.userdata = op;
        pthread_mutex_unlock(&ops->lock);

        r = bmc_pool_submit(ops->pool, &job);
        explicit_bzero(job.target.password, sizeof job.target.password);
        if (r >= 0)
                return;

        pthread_mutex_lock(&ops->lock);
        snprintf(msg, sizeof msg, "%scannot queue the BMC command: %s", op->why,
                 r == -EBUSY ? "too many BMC commands queued" : strerror(-r));
        op_fail_locked(op, "error", msg);
        snprintf(node, sizeof node, "%s", op->node);
        pthread_mutex_unlock(&ops->lock);
        log_node(LOG_WARNING, &((LogFields) { .node = node }), "%s", msg);
        if (record)
                (void) daemon_record_bmc(ops->d, node, msg);
}

/* A pool worker finished op's current step. */
static void on_step_done(const BmcJob *job, const BmcOutcome *outcome, void *userdata) {
        Op *op = userdata;
        Ops *ops = op->ops;
        char what[128], msg[768], node[64];
        bool next = false, record, stopping;

        describe(&job->request, &outcome->result, outcome->r >= 0, what, sizeof what);
        metrics_bmc_command(metric_command(&job->request), error_code(outcome->r),
                            (double) outcome->duration_ms / 1000.0);

        pthread_mutex_lock(&ops->lock);
        stopping = ops->stopping;
        Step *s = &op->steps[op->cur];
        snprintf(node, sizeof node, "%s", op->node);
        if (outcome->r < 0) {
                snprintf(msg, sizeof msg, "%s%s: %s", op->why, what,
                         outcome->error[0] ? outcome->error : strerror(-outcome->r));
                op_fail_locked(op, error_code(outcome->r), msg);
                record = true;
        } else {
                s->state = STEP_SUCCEEDED;
                s->finished_ms = now_ms();
                if (job->request.op == IPMI_OP_POWER_STATUS)
                        snprintf(s->result, sizeof s->result, "%s", outcome->result.power_on ? "on" : "off");
                else if (job->request.op == IPMI_OP_BOOTDEV_GET) {
                        char dev[8];
                        snprintf(s->result, sizeof s->result, "%s",
                                 ipmi_boot_device_to_string(outcome->result.boot.device, dev));
                } else
                        snprintf(s->result, sizeof s->result, "ok");
                snprintf(msg, sizeof msg, "%s%s", op->why, what);
                record = op->record_success;

                /* Reinstall: power on if it was off, else cycle. */
                if (op->cur + 1 < op->n_steps && streq(op->steps[op->cur + 1].name, "power") &&
                    job->request.op == IPMI_OP_POWER_STATUS)
                        op->steps[op->cur + 1].req.op = outcome->result.power_on ? IPMI_OP_POWER_CYCLE : IPMI_OP_POWER_ON;

                if (op->cur + 1 < op->n_steps && !stopping) {
                        op->cur++;
                        next = true;
                } else {
                        if (streq(op->kind, "reinstall"))
                                snprintf(op->result, sizeof op->result, "%s: the node network-boots into the installer",
                                         what);
                        else
                                snprintf(op->result, sizeof op->result, "%s", s->result);
                        op_finish_locked(op, OP_SUCCEEDED);
                }
        }
        pthread_mutex_unlock(&ops->lock);

        if (outcome->r == -ECANCELED || stopping)
                return;
        if (record)
                (void) daemon_record_bmc(ops->d, node, msg);
        if (outcome->r < 0)
                log_node(LOG_WARNING, &((LogFields) { .node = node }), "%s", msg);
        if (next)
                op_submit(op, true);
}

/* A new operation for the node in b, with its BMC target filled in but for the password
 * (op_read_password()).  Takes params (even on failure). */
static int op_new(Ops *ops, const DaemonNodeBmc *b, const char *kind, const char *why, json_t *params, Op **ret,
                  char *err, size_t errlen) {
        Op *op = calloc(1, sizeof *op);
        if (!op) {
                json_decref(params);
                return -ENOMEM;
        }
        op->ops = ops;
        op->kind = kind;
        op->why = why;
        op->params = params;
        op->created_ms = now_ms();
        op->record_success = true;
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

/* Reads the BMC password into op->target (op not registered yet).  On failure fails op at
 * its current step with code "auth", puts the message in err and returns the errno; the
 * caller records the message. */
static int op_read_password(Op *op, const DaemonNodeBmc *b, char *err, size_t errlen) {
        if (!b->password_file[0])
                return 0; /* a BMC user without a password */
        char e[IPMI_ERROR_MAX];
        int r = ipmi_password_read(b->password_file, op->target.password, sizeof op->target.password, e, sizeof e);
        if (r < 0) {
                snprintf(err, errlen, "%scannot read the BMC password: %.400s", op->why, e);
                op_fail_locked(op, "auth", err);
        }
        return r;
}

static void add_step(Op *op, const char *name, IpmiOp ipmi_op, const IpmiBoot *boot) {
        Step *s = &op->steps[op->n_steps++];
        s->name = name;
        s->req.op = ipmi_op;
        if (boot)
                s->req.boot = *boot;
}

/* Registers op and starts it (or finishes it when it has no BMC step to run).  `record`:
 * see op_submit(). */
static int op_start(Ops *ops, Op *op, bool record, json_t **ret) {
        pthread_mutex_lock(&ops->lock);
        registry_add_locked(ops, op);
        bool run = op->cur < op->n_steps && op->steps[op->cur].state == STEP_PENDING && op->state != OP_FAILED &&
                   op->state != OP_SUCCEEDED;
        pthread_mutex_unlock(&ops->lock);
        if (run)
                op_submit(op, record);
        if (ret) {
                pthread_mutex_lock(&ops->lock);
                *ret = op_json_locked(op);
                pthread_mutex_unlock(&ops->lock);
                if (!*ret)
                        return -ENOMEM;
        }
        return 0;
}

static bool busy_locked(Ops *ops, const char *node, int64_t *ret_id) {
        for (Op *op = ops->ops; op; op = op->next)
                if (!op->internal && (op->state == OP_QUEUED || op->state == OP_RUNNING) && streq(op->node, node)) {
                        *ret_id = op->id;
                        return true;
                }
        return false;
}

/* Looks the node up and checks that it has no admin operation in flight. */
static int prepare(Ops *ops, const char *node, bool need_bmc, DaemonNodeBmc *ret, char *err, size_t errlen) {
        int64_t id;
        int r = daemon_node_bmc(ops->d, node, ret);
        if (r == -ENOENT) {
                snprintf(err, errlen, "no node \"%.64s\" in the inventory", node);
                return r;
        }
        if (r < 0)
                return r;
        if (need_bmc && !ret->has_bmc) {
                snprintf(err, errlen, "node %s has no bmc in the inventory", node);
                return -ENODEV;
        }
        pthread_mutex_lock(&ops->lock);
        bool busy = busy_locked(ops, node, &id);
        pthread_mutex_unlock(&ops->lock);
        if (busy) {
                snprintf(err, errlen, "node %s already has operation %lld in progress", node, (long long) id);
                return -EALREADY;
        }
        return 0;
}

int ops_reinstall(Ops *ops, const char *node, json_t **ret, char *err, size_t errlen) {
        DaemonNodeBmc b;
        Op *op;
        bool changed;
        int r;

        r = prepare(ops, node, false, &b, err, errlen);
        if (r < 0)
                return r;
        r = op_new(ops, &b, "reinstall", "reinstall: ", json_object(), &op, err, errlen);
        if (r < 0)
                return r;
        op->steps[op->n_steps++] = (Step) { .name = "mark", .state = STEP_RUNNING, .started_ms = now_ms() };
        if (b.has_bmc) {
                IpmiBoot pxe = { .device = IPMI_BOOT_DEVICE_PXE, .efi = b.efi };
                add_step(op, "bootdev", IPMI_OP_BOOTDEV_SET, &pxe);
                add_step(op, "power_status", IPMI_OP_POWER_STATUS, NULL);
                add_step(op, "power", IPMI_OP_POWER_CYCLE, NULL);
        }

        r = daemon_mark_reinstall(ops->d, node, &changed);
        if (r < 0) {
                snprintf(err, errlen, "cannot mark node %s for install: %s", node, strerror(-r));
                op_free(op);
                return r;
        }
        op->steps[0].state = STEP_SUCCEEDED;
        op->steps[0].finished_ms = now_ms();
        snprintf(op->steps[0].result, sizeof op->steps[0].result, "%s", changed ? "pending" : "already pending");
        op->cur = 1;
        if (!b.has_bmc) {
                snprintf(op->result, sizeof op->result, "marked for install; no BMC: power-cycle the node by hand");
                op_finish_locked(op, OP_SUCCEEDED);
        } else if (op_read_password(op, &b, err, errlen) < 0)
                (void) daemon_record_bmc(ops->d, node, err);
        return op_start(ops, op, true, ret);
}

int ops_power(Ops *ops, const char *node, const char *action, json_t **ret, char *err, size_t errlen) {
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
        if (i == ELEMENTSOF(actions)) {
                snprintf(err, errlen, "\"action\" must be one of on, off, cycle, reset, soft, status");
                return -EINVAL;
        }
        r = prepare(ops, node, true, &b, err, errlen);
        if (r < 0)
                return r;
        r = op_new(ops, &b, "power", "", json_pack("{s:s}", "action", action), &op, err, errlen);
        if (r < 0)
                return r;
        add_step(op, "power", actions[i].op, NULL);
        /* A status read changes nothing: keep it out of the history unless it fails. */
        op->record_success = actions[i].op != IPMI_OP_POWER_STATUS;
        if (op_read_password(op, &b, err, errlen) < 0)
                (void) daemon_record_bmc(ops->d, node, err);
        return op_start(ops, op, true, ret);
}

int ops_bootdev(Ops *ops, const char *node, const char *device, bool persistent, int efi, json_t **ret, char *err,
                size_t errlen) {
        IpmiBootDevice dev;
        DaemonNodeBmc b;
        Op *op;
        int r;

        if (!device || (!streq(device, "pxe") && !streq(device, "disk") && !streq(device, "bios")) ||
            ipmi_boot_device_from_string(device, &dev) < 0) {
                snprintf(err, errlen, "\"device\" must be one of pxe, disk, bios");
                return -EINVAL;
        }
        r = prepare(ops, node, true, &b, err, errlen);
        if (r < 0)
                return r;
        bool use_efi = efi < 0 ? b.efi : efi > 0;
        r = op_new(ops, &b, "bootdev", "",
                   json_pack("{s:s, s:b, s:b}", "device", device, "persistent", persistent, "efi", use_efi), &op, err,
                   errlen);
        if (r < 0)
                return r;
        IpmiBoot boot = { .device = (uint8_t) dev, .persistent = persistent, .efi = use_efi };
        add_step(op, "bootdev", IPMI_OP_BOOTDEV_SET, &boot);
        if (op_read_password(op, &b, err, errlen) < 0)
                (void) daemon_record_bmc(ops->d, node, err);
        return op_start(ops, op, true, ret);
}

/* The daemon's transition observer (no daemon lock held): a node whose install attempt
 * succeeded (it became installed) gets its boot device set to disk, persistent. */
static void on_transition(const DaemonTransition *t, void *userdata) {
        Ops *ops = userdata;
        const DaemonNodeBmc *bmc = &t->bmc;
        char err[IPMI_ERROR_MAX];
        Op *op;

        if (t->ended_attempt <= 0 || !t->outcome || !streq(t->outcome, "succeeded") || !bmc->has_bmc)
                return;
        pthread_mutex_lock(&ops->lock);
        bool stopping = ops->stopping;
        pthread_mutex_unlock(&ops->lock);
        if (stopping)
                return;
        if (op_new(ops, bmc, "bootdev", "after install: ",
                   json_pack("{s:s, s:b, s:b}", "device", "disk", "persistent", 1, "efi", bmc->efi), &op, err, sizeof err) < 0)
                return;
        op->internal = true;
        IpmiBoot disk = { .device = IPMI_BOOT_DEVICE_DISK, .persistent = true, .efi = bmc->efi };
        add_step(op, "bootdev", IPMI_OP_BOOTDEV_SET, &disk);
        /* A failure to start goes to the log only, not the history (the installed node's last
         * entry stays the install's). */
        if (op_read_password(op, bmc, err, sizeof err) < 0)
                log_node(LOG_WARNING, &((LogFields) { .node = bmc->node }), "%s", err);
        (void) op_start(ops, op, false, NULL);
}

int ops_get_json(Ops *ops, int64_t id, json_t **ret) {
        int r = -ENOENT;
        pthread_mutex_lock(&ops->lock);
        for (Op *op = ops->ops; op; op = op->next)
                if (op->id == id) {
                        *ret = op_json_locked(op);
                        r = *ret ? 0 : -ENOMEM;
                        break;
                }
        pthread_mutex_unlock(&ops->lock);
        return r;
}

int ops_list_json(Ops *ops, const char *node, json_t **ret) {
        _cleanup_(json_decrefp) json_t *arr = json_array();
        int r = arr ? 0 : -ENOMEM;
        pthread_mutex_lock(&ops->lock);
        for (Op *op = ops->ops; op && r == 0; op = op->next)
                if (!node || streq(op->node, node))
                        if (json_array_append_new(arr, op_json_locked(op)) < 0)
                                r = -ENOMEM;
        pthread_mutex_unlock(&ops->lock);
        if (r < 0)
                return r;
        *ret = json_pack("{s:O}", "operations", arr);
        return *ret ? 0 : -ENOMEM;
}

/* Fails install attempts past the deadline, once a second. */
static void *sweeper_thread(void *userdata) {
        Ops *ops = userdata;
        pthread_mutex_lock(&ops->lock);
        while (!ops->stopping) {
                struct timespec ts = timespec_after_ms(CLOCK_REALTIME, SWEEP_INTERVAL_MS);
                pthread_cond_timedwait(&ops->cond, &ops->lock, &ts);
                if (ops->stopping)
                        break;
                pthread_mutex_unlock(&ops->lock);
                int r = daemon_expire_attempts(ops->d, ops->cfg.install_deadline_ms, now_ms());
                if (r < 0)
                        log_warning_errno(r, "install deadline: cannot fail expired attempts: %m");
                pthread_mutex_lock(&ops->lock);
        }
        pthread_mutex_unlock(&ops->lock);
        return NULL;
}

int ops_new(Daemon *d, const OpsConfig *cfg, Ops **ret) {
        Ops *ops = calloc(1, sizeof *ops);
        int r;
        if (!ops)
                return -ENOMEM;
        pthread_mutex_init(&ops->lock, NULL);
        pthread_cond_init(&ops->cond, NULL);
        ops->d = d;
        ops->cfg = *cfg;
        if (ops->cfg.bmc_timeout_ms == 0)
                ops->cfg.bmc_timeout_ms = 10000;
        r = bmc_pool_new(&(BmcPoolConfig) { .workers = cfg->bmc_workers, .timeout_ms = ops->cfg.bmc_timeout_ms },
                         &ops->pool);
        if (r < 0) {
                ops_free(ops);
                return log_error_errno(r, "cannot start the BMC worker pool: %m");
        }
        if (cfg->install_deadline_ms > 0) {
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
        *ret = ops;
        return 0;
}

void ops_free(Ops *ops) {
        if (!ops)
                return;
        if (ops->observer > 0)
                (void) daemon_unsubscribe(ops->d, ops->observer); /* waits for a call in progress */
        pthread_mutex_lock(&ops->lock);
        ops->stopping = true;
        pthread_cond_broadcast(&ops->cond);
        pthread_mutex_unlock(&ops->lock);
        if (ops->sweeper_started)
                pthread_join(ops->sweeper, NULL);
        bmc_pool_free(ops->pool);
        for (Op *op = ops->ops, *next; op; op = next) {
                next = op->next;
                op_free(op);
        }
        pthread_mutex_destroy(&ops->lock);
        pthread_cond_destroy(&ops->cond);
        free(ops);
}
