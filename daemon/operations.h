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
 * next step; the note of the step that ends an operation is committed before the operation
 * is seen to end (the worker waits for that commit), so whoever sees it ended finds the note
 * in the history — the other steps' notes are queued and the worker goes on at once.  The
 * boot-device-to-disk operation starts from a transition observer (daemon_subscribe(): an
 * attempt that ended "succeeded"), called without the daemon's lock on the thread that
 * delivers the transition; it reads the password file and submits (a failure to start is
 * logged, not recorded).  One ops lock guards the registry and every
 * operation; each *_locked function checks that its caller holds it (and aborts if not).
 * Ops never calls into the daemon, nor submits to the pool, nor unsubscribes, with its own
 * lock held.
 *
 * A bulk operation (ops_bulk_start()) runs one kind on many nodes: one operation per node,
 * as the single-node routes start them, with each node's outcome copied into the bulk under
 * the ops lock when its operation ends, numbered in the order the nodes finish (the stream's
 * event ids).  The bulk observer (ops_bulk_notify()) hears of every finished node; it is
 * called without the ops lock, holding the notify lock (which nothing else is held under, so
 * it may take its own locks: stream.c's).
 *
 * Operations live in memory (the newest OPS_KEEP, bulk operations the newest 100 once
 * finished); the node's history is the durable record.
 *
 * Several instances on one database (OpsConfig.cluster, daemon_is_shared()): every admin
 * operation is also a row of the bmc_ops table (store-cluster.h), whose id is the operation's
 * id, so any instance answers GET /v1/operations/<id> (its own registry first, else the row).
 * The instance that is asked runs the operation itself when it serves the node's rack
 * (cluster_serves_rack()) or the node has no BMC: the row is inserted running, held by it.  Otherwise the row is
 * inserted queued and the answer is the queued operation; the claimer thread of an instance
 * that serves the rack claims it (every OPS_CLAIM_MS, and at once on the row's notification)
 * and runs it from its first step.  A holder renews its claim (OPS_LEASE_MS) every
 * OPS_RENEW_MS while the operation runs and writes the operation's JSON into the row after
 * each step; an operation whose holder stopped renewing (it died) is claimed by another
 * instance serving the rack, which records "operation N (kind) taken over from instance X,
 * whose lease expired" in the node's history and runs it again from its first step (each
 * step is safe to repeat).  A holder that finds its claim gone stops after the step running.
 * A bulk operation's nodes of racks this instance does not serve are queued the same way; the
 * claimer thread copies their outcome from their rows into the bulk once they end.  provd's
 * own boot-device-to-disk operation runs where the install's end was observed when that
 * instance serves the node's rack, without a row (its id comes from the rows' sequence), and
 * is queued as a row (STORE_BMC_OP_KIND_AFTER_INSTALL) for an instance that does otherwise.
 * Alone on its database (SQLite) none of this runs.
 * The claimer and the row writes call the daemon (daemon_store_write()/_read()) without the
 * ops lock.
 * BMC passwords are read from the inventory's password_file when an operation starts, kept
 * only in that operation's memory until it ends, and never logged or returned. */
#pragma once

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster.h"
#include "daemon.h"
#include "op-bulk.h"

#define OPS_KEEP 1000
/* Shared store: a claim on an operation lasts OPS_LEASE_MS, renewed every OPS_RENEW_MS while
 * it runs; queued operations are looked for every OPS_CLAIM_MS (and on their notification). */
#define OPS_LEASE_MS 15000
#define OPS_RENEW_MS 3000
#define OPS_CLAIM_MS 1000

typedef struct Ops Ops;

typedef struct OpsConfig {
        Cluster *cluster;            /* borrowed: this instance among others (cluster.h); NULL alone */
        unsigned bmc_workers;        /* worker threads = BMC commands in flight (0 = 16) */
        unsigned bmc_timeout_ms;     /* per command attempt (0 = 10 s) */
        unsigned bmc_retries;        /* extra attempts after a timeout or I/O error */
        int64_t install_deadline_ms; /* 0 = no deadline */
        int64_t boot_deadline_ms;    /* a stateless node's boot; 0 = no deadline */
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
 * the node is queued or running, -EMEDIUMTYPE a stateless node (nothing to reinstall: the
 * message points at provd reboot), a store errno from marking the node. */
int ops_reinstall(Ops *ops, const char *node, json_t **ret, char *err, size_t errlen);

/* POST /v1/nodes/<node>/reboot: a stateless node's reboot: recorded in its history ("reboot
 * requested"), then BMC boot device PXE (one-time) and power cycle (on if it is off).  The
 * node's next netboot opens its next boot.  Errors as ops_reinstall() plus -ENODEV no BMC,
 * -EMEDIUMTYPE an install node (err: "node n001 installs to disk: use provd reinstall"). */
int ops_reboot(Ops *ops, const char *node, json_t **ret, char *err, size_t errlen);

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

/* POST /v1/bulk-operations: req's operation on each of its nodes (req->nodes are checked by
 * op_bulk_parse()).  Every node is looked up first: an unknown one refuses the whole
 * (-ENOENT, the message names it and its index; nothing started).  Then each node starts as
 * its single-node route would; a node that cannot (no BMC, an operation in progress) fails
 * alone with that route's message (error code "conflict"), the others run.  On success *ret
 * is the bulk operation's JSON (new reference; nodes started, some maybe finished already).
 * Errors: -ENOENT, -ENOMEM, a daemon errno from the lookups. */
int ops_bulk_start(Ops *ops, const OpBulkRequest *req, json_t **ret, char *err, size_t errlen);

/* GET /v1/bulk-operations/<id>: the whole (state running | succeeded | failed, counts) and each
 * node's outcome, in the request's order.  -ENOENT if unknown (or forgotten), -ENOMEM. */
int ops_bulk_get_json(Ops *ops, int64_t id, json_t **ret);

/* The progress of bulk operation id as Server-Sent Events (WHATWG HTML §9.2), after the
 * cursor-th finished node (0: from the first): one event "node" per finished node (id: its
 * finishing number, data: its outcome with "seq"), in finishing order, about max bytes at
 * most; once every node has finished and been sent, one event "done" (no id; data: the whole,
 * without the nodes), and *ret_ended.  *ret_text is malloc'd (NULL and *ret_len 0: nothing
 * new), *ret_last the cursor reached.  -ENOENT unknown id, -ENOMEM.  Takes the ops lock. */
int ops_bulk_sse(Ops *ops, int64_t id, int64_t cursor, size_t max, char **ret_text, size_t *ret_len, int64_t *ret_last,
                 bool *ret_ended);

/* A counter that grows whenever a node of any bulk operation finishes (no lock: an atomic
 * read), for a reader to check "nothing new since I looked" before it waits. */
uint64_t ops_bulk_generation(Ops *ops);

/* Sets the bulk observer: fn(userdata) is called after a node of a bulk operation finished
 * (from a BMC worker or the request's thread; ops lock not held, notify lock held: quick,
 * and never calling back into ops).  fn NULL clears it; returns once no call is running. */
void ops_bulk_notify(Ops *ops, void (*fn)(void *userdata), void *userdata);
