/* cluster.h — this instance among several provd instances on one database (PostgreSQL):
 * its heartbeat in the instances table, the notifications of what every instance commits, and
 * GET /v1/instances.  Alone on its database (SQLite) an instance is its own cluster of one:
 * no thread, nothing written, GET /v1/instances lists it alone.
 *
 * Threads: two of its own when the store is shared.  The listener waits on the store's
 * notifications (store_listen_wait()) and, for each node another instance changed, refreshes
 * the daemon's copy (daemon_sync_node()), then hands the newly committed history rows to the
 * event hub (daemon_publish_committed()); when its connection breaks it reconnects (every
 * second at most) and resynchronises every node (daemon_sync_all()).  The heartbeat writes this
 * instance's row every CLUSTER_HEARTBEAT_MS (daemon_store_write()), and removes it on a clean
 * stop.  Neither holds a lock of its own while calling the daemon; cluster_free() stops and
 * joins both. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "daemon.h"

/* How often an instance writes its heartbeat, and how old a heartbeat may be for the instance
 * to count as alive (GET /v1/instances "alive", /metrics provd_instance_up). */
#define CLUSTER_HEARTBEAT_MS 2000
#define CLUSTER_ALIVE_MS 10000

typedef struct Cluster Cluster;

typedef struct ClusterConfig {
        const char *name;  /* this instance's name (config.h instance_name) */
        const char *url;   /* its public URL */
        const char *racks; /* the racks whose BMCs it serves, comma-separated; NULL or "": every rack */
} ClusterConfig;

/* Starts the listener and the heartbeat when d's store is shared.  d is borrowed and must
 * outlive the cluster.  Returns 0 and *ret (caller owns; cluster_free()), or a negative errno
 * (logged). */
int cluster_new(Daemon *d, const ClusterConfig *cfg, Cluster **ret);

/* Stops and joins the threads, removes this instance's row (a clean stop), frees.  NULL: no-op. */
void cluster_free(Cluster *c);

/* GET /v1/instances: {"self": name, "instances": [store_instances_json()'s objects]}; alone on
 * its database, this instance's object only.  *ret is a new reference. */
int cluster_instances_json(Cluster *c, json_t **ret);

/* Whether this instance serves the BMCs of nodes in `rack` (NULL or "": a node without a rack,
 * which every instance serves). */
bool cluster_serves_rack(const Cluster *c, const char *rack);

const char *cluster_name(const Cluster *c);

/* The racks this instance serves, comma-separated ("": every rack).  Borrowed, as long as c. */
const char *cluster_racks(const Cluster *c);

/* Sets the BMC operations' hook: fn(userdata, id) is called on the listener's thread for each
 * notification "o <id>" (an operation row changed, store-cluster.h); quick, holding the
 * cluster's hook lock and nothing else.  fn NULL clears it; returns once no call is running. */
void cluster_on_op(Cluster *c, void (*fn)(void *userdata, int64_t id), void *userdata);
