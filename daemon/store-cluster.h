/* store-cluster.h — the tables of several provd instances on one database (store.h):
 *   instances(name, url, racks, host, pid, started_at, heartbeat_at): who is up, by its
 *     heartbeat (store_instance_beat());
 *   leases(name, holder, acquired_at, expires_at): named claims held by one instance at a time
 *     until they expire, renewed by their holder, taken over by another after expiry
 *     (store_lease_claim()): the deadline sweeps;
 *   bmc_ops(id, node, rack, kind, params, state, step, holder, lease_expires, created_at,
 *     created_by, ended_at, result, takeovers): each admin BMC operation, queued for the
 *     instances serving its rack, claimed by one (store_bmc_op_claim()), its claim renewed by
 *     its holder and taken over by another after expiry (below).
 * Written once on db.h for SQLite and PostgreSQL.  Times are ms since the epoch.
 *
 * Threads: the caller serialises, as for every write of the store (the daemon's exclusive
 * lock, between batches: these run their own transactions, never inside a batch); the reads
 * that say so work on a read connection. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "store.h"

#define STORE_INSTANCE_NAME_MAX 64

/* This instance, as its heartbeat records it. */
typedef struct StoreInstance {
        const char *name;  /* 1-63 bytes */
        const char *url;   /* its public URL */
        const char *racks; /* the racks whose BMCs it serves, comma-separated; "" every rack */
        const char *host;  /* gethostname() */
        int64_t pid;
        int64_t started_ms;
} StoreInstance;

/* Writes self's row with heartbeat_at = now_ms (inserted the first time, updated after).
 * Returns 0 or a negative errno. */
int store_instance_beat(Store *s, const StoreInstance *self, int64_t now_ms);

/* Removes instance `name`'s row and releases every lease it holds (a clean stop).  Returns 0 or
 * a negative errno. */
int store_instance_remove(Store *s, const char *name);

/* One instance as GET /v1/instances shows it (store_instances_json()'s objects), "holds" empty.
 * A new reference, or NULL (no memory). */
json_t *store_instance_to_json(const StoreInstance *i, int64_t heartbeat_ms, bool alive);

/* GET /v1/instances's array, by name: [{"name","url","racks":[...],"host","pid","started_at",
 * "heartbeat_at","alive","holds":[lease names]}], alive = its heartbeat is younger than
 * alive_ms at now_ms; holds = the leases it holds that have not expired at now_ms.  *ret is a
 * new reference.  Works on read connections. */
int store_instances_json(Store *s, int64_t now_ms, int64_t alive_ms, json_t **ret);

/* Claims lease `name` for `holder` until now_ms + ttl_ms, in one transaction: granted when
 * nobody holds it, when `holder` holds it already (a renewal), or when its holder's claim has
 * expired (a takeover: ret_prev, STORE_INSTANCE_NAME_MAX bytes, gets that holder's name;
 * otherwise ""). Returns 1 granted, 0 held by another holder whose claim has not expired
 * (ret_prev gets that holder's name), or a negative errno. */
int store_lease_claim(Store *s, const char *name, const char *holder, int64_t now_ms, int64_t ttl_ms,
                      char ret_prev[static STORE_INSTANCE_NAME_MAX]);

/* Gives lease `name` up if `holder` holds it.  Returns 1 released, 0 not held by holder, or a
 * negative errno. */
int store_lease_release(Store *s, const char *name, const char *holder);

/* ---- BMC operations: the bmc_ops table ----------------------------------------------------
 * One row per admin BMC operation of an instance on a shared store; its id is the operation's
 * id in the API.  state: queued (waiting for an instance that serves the node's rack), running
 * (holder runs it; its claim lasts until lease_expires, renewed while it runs), succeeded or
 * failed (ended_at set).  result: the operation's JSON as its holder last wrote it.  At most one
 * queued or running operation per node, STORE_BMC_OP_KIND_AFTER_INSTALL rows aside (a partial
 * unique index: an insert that would make a second one fails with -EEXIST).  Every change notifies "o <id>" on PostgreSQL (pg_notify,
 * https://www.postgresql.org/docs/15/sql-notify.html), in its transaction. */

/* The kind of the rows of provd's own boot device to disk after an install, queued for an
 * instance serving the node's rack: not the node's operation in progress (the index, busy). */
#define STORE_BMC_OP_KIND_AFTER_INSTALL "bootdev-after-install"

/* One row as read back (store_bmc_op_get(), store_bmc_op_foreach(), claims). */
typedef struct StoreBmcOp {
        int64_t id;
        char node[64];
        char rack[64];
        char kind[32];
        char state[16];
        char holder[STORE_INSTANCE_NAME_MAX];     /* "" when none */
        char created_by[STORE_INSTANCE_NAME_MAX];
        char prev_holder[STORE_INSTANCE_NAME_MAX]; /* a claim: the holder whose lease had expired, or "" */
        int64_t step;
        int64_t lease_expires_ms; /* 0: none */
        int64_t created_ms, ended_ms;
        int64_t takeovers;
        char *params; /* owned JSON text */
        char *result; /* owned JSON text, or NULL */
} StoreBmcOp;

/* Frees what op owns (not op). */
void store_bmc_op_done(StoreBmcOp *op);

/* A new row.  holder NULL: queued (for the instances serving `rack`); else running, claimed by
 * holder until lease_expires_ms.  params and result are JSON text (result may be NULL).  Returns
 * 0 and *ret_id, -EEXIST when node already has a queued or running operation, or a negative
 * errno. */
int store_bmc_op_insert(Store *s, const char *node, const char *rack, const char *kind, const char *params,
                        const char *created_by, const char *holder, int64_t now_ms, int64_t lease_expires_ms,
                        const char *result, int64_t *ret_id);

/* The id of node's queued or running operation: 0 and *ret_id, -ENOENT none. */
int store_bmc_op_busy(Store *s, const char *node, int64_t *ret_id);

/* A fresh operation id from the table's sequence, with no row (PostgreSQL only: ids of
 * operations that run on one instance and have no row, unique among all instances').  0 and
 * *ret_id; -EOPNOTSUPP on SQLite. */
int store_bmc_op_next_id(Store *s, int64_t *ret_id);

/* Claims, in one transaction, up to `max` operations for holder, oldest first: queued ones, and
 * running ones whose lease expired before now_ms (a takeover: the row's takeovers + 1, and
 * ret[i].prev_holder names the holder it is taken from), of the racks in `racks` ("a,b"; "" or
 * NULL: every rack; a row without a rack is everyone's).  Each becomes running, held by holder
 * until now_ms + ttl_ms.  Rows another instance's claim has locked are skipped (PostgreSQL:
 * SELECT ... FOR UPDATE SKIP LOCKED, https://www.postgresql.org/docs/15/sql-select.html#SQL-FOR-UPDATE-SHARE;
 * SQLite's write transaction is exclusive).  ret holds max rows; on success *ret_n are filled
 * (the caller store_bmc_op_done()s each).  Returns 0 or a negative errno (nothing claimed). */
int store_bmc_op_claim(Store *s, const char *holder, const char *racks, int64_t now_ms, int64_t ttl_ms, size_t max,
                       StoreBmcOp *ret, size_t *ret_n);

/* Extends holder's claims on all its running operations to now_ms + ttl_ms (one taken over
 * meanwhile is no longer holder's: its holder's next write says so).  Returns how many, or a
 * negative errno. */
int store_bmc_op_renew(Store *s, const char *holder, int64_t now_ms, int64_t ttl_ms);

/* Ends holder's claims on its running operations now (lease_expires = now_ms - 1), so that the
 * next claim takes them over: at start, those a previous process of the same instance name
 * held when it died.  Returns how many, or a negative errno. */
int store_bmc_op_abandon(Store *s, const char *holder, int64_t now_ms);

/* Writes operation id's progress (step: its index of the step running; result: its JSON) while
 * holder holds it.  Returns 1, 0 when holder no longer holds it, or a negative errno. */
int store_bmc_op_progress(Store *s, int64_t id, const char *holder, int64_t step, const char *result);

/* Ends operation id, held by holder, in state "succeeded" or "failed" at ended_ms with its last
 * JSON.  Returns 1, 0 when holder no longer holds it, or a negative errno. */
int store_bmc_op_finish(Store *s, int64_t id, const char *holder, const char *state, int64_t ended_ms,
                        const char *result);

/* Gives operation id, held by holder, back: queued again, with no holder, its JSON `result`
 * (an instance that stops hands its unfinished operations to the others at once).  Returns 1,
 * 0 when holder no longer holds it, or a negative errno. */
int store_bmc_op_release(Store *s, int64_t id, const char *holder, const char *result);

/* Reads row id into *ret (caller store_bmc_op_done()s it).  -ENOENT none.  Works on read
 * connections. */
int store_bmc_op_get(Store *s, int64_t id, StoreBmcOp *ret);

/* Calls fn for the newest `limit` rows (of node, unless NULL), newest first; fn's row is
 * borrowed for the call.  A negative return of fn stops and is returned.  Works on read
 * connections. */
typedef int (*StoreBmcOpFn)(void *userdata, const StoreBmcOp *op);
int store_bmc_op_foreach(Store *s, const char *node, size_t limit, StoreBmcOpFn fn, void *userdata);

