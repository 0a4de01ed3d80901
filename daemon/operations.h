/* operations.h — admin operations on nodes through their BMCs: reinstall (mark for install,
 * boot device pxe, power cycle or on), power (on/off/cycle/reset/soft/status) and boot
 * device; plus the boot-device-to-disk step after a successful install and the install
 * deadline sweep.  Contract: api/openapi.yaml and the README's "Operations".
 *
 * Each kind's steps, and which step (or end) follows each step's outcome, are op-machine.c's
 * tables; operations.c feeds them the outcomes (succeeded, power on/off, failed, timed out,
 * cancelled) and runs what they say next (mark the node, submit a BMC command).
 *
 * Threads: the ops_* entry points are called from HTTP handlers and return at once (202):
 * every BMC command runs on the BMC worker pool (bmc-pool.c), at most one in flight per BMC,
 * each bounded by bmc_timeout x (1 + bmc_retries).  A step's completion callback (on a pool
 * worker) updates the operation, records the outcome in the node's history and submits the
 * next step.  The boot-device-to-disk operation starts from a transition observer
 * (daemon_subscribe(): an attempt that ended "succeeded"), called without the daemon's lock
 * on the thread that delivers the transition; it reads the password file and submits (a
 * failure to start is logged, not recorded).  One ops lock guards the registry and every
 * operation; each *_locked function checks that its caller holds it (and aborts if not).
 * Ops never calls into the daemon, nor submits to the pool, nor unsubscribes, with its own
 * lock held.
 *
 * Operations live in memory (the newest OPS_KEEP); the node's history is the durable record.
 * BMC passwords are read from the inventory's password_file when an operation starts, kept
 * only in that operation's memory until it ends, and never logged or returned. */
#pragma once

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon.h"

#define OPS_KEEP 1000

typedef struct Ops Ops;

typedef struct OpsConfig {
        unsigned bmc_workers;        /* worker threads = BMC commands in flight (0 = 16) */
        unsigned bmc_timeout_ms;     /* per command attempt (0 = 10 s) */
        unsigned bmc_retries;        /* extra attempts after a timeout or I/O error */
        int64_t install_deadline_ms; /* 0 = no deadline */
} OpsConfig;

/* Starts the BMC pool and the deadline sweep, and subscribes to the daemon's transitions so
 * a node that becomes installed gets its boot device set to disk.  d is borrowed and must outlive the Ops.
 * Returns 0 and *ret (caller owns; ops_free()), or a negative errno (logged). */
int ops_new(Daemon *d, const OpsConfig *cfg, Ops **ret);

/* Unsubscribes (after which the observer never runs), stops the sweep, cancels queued BMC
 * commands and waits for running ones, frees. */
void ops_free(Ops *ops);

/* POST /v1/nodes/<node>/reinstall.  On success *ret is the new operation's JSON (new
 * reference).  Errors (message in err): -ENOENT unknown node, -EALREADY an operation for
 * the node is queued or running, a store errno from marking the node. */
int ops_reinstall(Ops *ops, const char *node, json_t **ret, char *err, size_t errlen);

/* POST /v1/nodes/<node>/power: action on | off | cycle | reset | soft | status.  Errors as
 * above plus -EINVAL bad action, -ENODEV the node has no BMC. */
int ops_power(Ops *ops, const char *node, const char *action, json_t **ret, char *err, size_t errlen);

/* POST /v1/nodes/<node>/bootdev: device pxe | disk | bios, persistent, efi (< 0: the
 * inventory's boot_mode).  Errors as ops_power(). */
int ops_bootdev(Ops *ops, const char *node, const char *device, bool persistent, int efi, json_t **ret, char *err,
                size_t errlen);

/* GET /v1/operations/<id>: -ENOENT if unknown (or forgotten). */
int ops_get_json(Ops *ops, int64_t id, json_t **ret);

/* GET /v1/operations[?node=]: {"operations": [...]} newest first; node NULL = all. */
int ops_list_json(Ops *ops, const char *node, json_t **ret);
