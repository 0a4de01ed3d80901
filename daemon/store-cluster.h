/* store-cluster.h — the tables of several provd instances on one database (store.h):
 *   instances(name, url, racks, host, pid, started_at, heartbeat_at): who is up, by its
 *     heartbeat (store_instance_beat());
 *   leases(name, holder, acquired_at, expires_at): named claims held by one instance at a time
 *     until they expire, renewed by their holder, taken over by another after expiry
 *     (store_lease_claim()): the install-deadline sweep, each BMC operation.
 * Written once on db.h for SQLite and PostgreSQL.  Times are ms since the epoch.
 *
 * Threads: the caller serialises, as for every write of the store (the daemon's exclusive
 * lock, between batches: these run their own transactions, never inside a batch). */
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
