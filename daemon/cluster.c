/* cluster.c — see cluster.h. */
#include "cluster.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"
#include "store-cluster.h"
#include "util.h"

/* Node names one wait of the listener collects before refreshing them (more: a resync). */
#define CLUSTER_NOTES_MAX 1024

struct Cluster {
        Daemon *d; /* borrowed */
        char *name, *url, *racks;
        char host[256];
        int64_t started_ms;
        bool shared;
        pthread_mutex_t lock; /* guards stop */
        pthread_mutex_t op_lock; /* guards on_op/on_op_data; held while calling on_op */
        void (*on_op)(void *userdata, int64_t id);
        void *on_op_data;
        pthread_cond_t cond;
        bool stop;
        bool listener_started, heartbeat_started;
        pthread_t listener, heartbeat;
};

/* Waits up to ms or until stopped; returns whether stopped. */
static bool wait_stop(Cluster *c, int64_t ms) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += ms / 1000;
        until.tv_nsec += (ms % 1000) * 1000000;
        if (until.tv_nsec >= 1000000000) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000;
        }
        pthread_mutex_lock(&c->lock);
        if (!c->stop)
                pthread_cond_timedwait(&c->cond, &c->lock, &until);
        bool stop = c->stop;
        pthread_mutex_unlock(&c->lock);
        return stop;
}

static bool stopping(Cluster *c) {
        pthread_mutex_lock(&c->lock);
        bool stop = c->stop;
        pthread_mutex_unlock(&c->lock);
        return stop;
}

/* ---- the listener ---- */

/* What one wait collected: the nodes to refresh (names copied), whether history rows came. */
typedef struct Notes {
        Cluster *c;
        char (*nodes)[INVENTORY_NAME_MAX + 1];
        size_t n;
        bool overflow;
        bool events;
} Notes;

/* A notification's payload (store.h): "n <node>" a node's state or report, "c <node>" its
 * credential; other kinds are not the listener's. */
static int on_note(void *userdata, const char *payload) {
        Notes *notes = userdata;
        if (payload && payload[0] == 'o' && payload[1] == ' ') {
                int64_t id = strtoll(payload + 2, NULL, 10);
                pthread_mutex_lock(&notes->c->op_lock);
                if (notes->c->on_op && id > 0)
                        notes->c->on_op(notes->c->on_op_data, id);
                pthread_mutex_unlock(&notes->c->op_lock);
                return 0;
        }
        if (!payload || (payload[0] != 'n' && payload[0] != 'c') || payload[1] != ' ')
                return 0;
        const char *name = payload + 2;
        if (payload[0] == 'n')
                notes->events = true;
        if (strlen(name) > INVENTORY_NAME_MAX)
                return 0;
        for (size_t i = 0; i < notes->n; i++)
                if (streq(notes->nodes[i], name))
                        return 0;
        if (notes->n == CLUSTER_NOTES_MAX) {
                notes->overflow = true;
                return 0;
        }
        snprintf(notes->nodes[notes->n++], INVENTORY_NAME_MAX + 1, "%s", name);
        return 0;
}

static void *listener_main(void *userdata) {
        Cluster *c = userdata;
        Store *l = NULL;
        Notes notes = { .c = c, .nodes = calloc(CLUSTER_NOTES_MAX, sizeof *notes.nodes) };
        (void) pthread_setname_np(pthread_self(), "provd-listen");
        if (!notes.nodes) {
                log_error("cluster: out of memory: other instances' changes are not seen");
                return NULL;
        }
        while (!stopping(c)) {
                if (!l) {
                        int r = daemon_listen_open(c->d, &l);
                        if (r < 0) {
                                l = NULL;
                                if (wait_stop(c, 1000))
                                        break;
                                continue;
                        }
                        /* Whatever was committed while no connection listened. */
                        (void) daemon_sync_all(c->d);
                        (void) daemon_publish_committed(c->d);
                }
                notes.n = 0;
                notes.overflow = notes.events = false;
                int r = store_listen_wait(l, 500, on_note, &notes);
                if (r < 0) {
                        log_warning_errno(r, "cluster: the notification connection failed (%m): reconnecting");
                        store_listen_close(l);
                        l = NULL;
                        continue;
                }
                if (notes.overflow)
                        (void) daemon_sync_all(c->d);
                else
                        for (size_t i = 0; i < notes.n; i++)
                                (void) daemon_sync_node(c->d, notes.nodes[i]);
                if (notes.events || notes.overflow)
                        (void) daemon_publish_committed(c->d);
        }
        store_listen_close(l);
        free(notes.nodes);
        return NULL;
}

/* ---- the heartbeat ---- */

static StoreInstance self_of(const Cluster *c) {
        return (StoreInstance) { .name = c->name, .url = c->url, .racks = c->racks, .host = c->host, .pid = getpid(),
                                 .started_ms = c->started_ms };
}

static int beat(Store *s, void *userdata) {
        Cluster *c = userdata;
        StoreInstance self = self_of(c);
        return store_instance_beat(s, &self, now_ms());
}

static int remove_self(Store *s, void *userdata) {
        Cluster *c = userdata;
        return store_instance_remove(s, c->name);
}

/* The instances' gauges from the table (after a heartbeat). */
static void count_instances(Cluster *c) {
        _cleanup_(json_decrefp) json_t *o = NULL;
        if (cluster_instances_json(c, &o) < 0)
                return;
        json_t *arr = json_object_get(o, "instances"), *i;
        size_t k, alive = 0;
        json_array_foreach(arr, k, i)
                alive += json_is_true(json_object_get(i, "alive"));
        metrics_instances_set((int64_t) alive, (int64_t) json_array_size(arr));
}

static void *heartbeat_main(void *userdata) {
        Cluster *c = userdata;
        bool failing = false;
        (void) pthread_setname_np(pthread_self(), "provd-beat");
        do {
                int r = daemon_store_write(c->d, beat, c);
                if (r >= 0)
                        count_instances(c);
                if (r < 0 && !failing)
                        log_error_errno(r, "cluster: cannot write this instance's heartbeat: %m");
                else if (r >= 0 && failing)
                        log_info("cluster: the heartbeat is written again");
                failing = r < 0;
        } while (!wait_stop(c, CLUSTER_HEARTBEAT_MS));
        return NULL;
}

/* ---- the cluster ---- */

int cluster_new(Daemon *d, const ClusterConfig *cfg, Cluster **ret) {
        _cleanup_free_ Cluster *c = calloc(1, sizeof *c);
        if (!c)
                return -ENOMEM;
        c->d = d;
        if (gethostname(c->host, sizeof c->host - 1) < 0)
                snprintf(c->host, sizeof c->host, "unknown");
        c->name = strdup(cfg->name && cfg->name[0] ? cfg->name : c->host);
        c->url = strdup(cfg->url ? cfg->url : "");
        c->racks = strdup(cfg->racks ? cfg->racks : "");
        if (!c->name || !c->url || !c->racks) {
                free(c->name);
                free(c->url);
                free(c->racks);
                return -ENOMEM;
        }
        c->started_ms = now_ms();
        c->shared = daemon_is_shared(d);
        metrics_instances_set(1, 1); /* itself, until its first heartbeat says more */
        pthread_mutex_init(&c->lock, NULL);
        pthread_mutex_init(&c->op_lock, NULL);
        pthread_cond_init(&c->cond, NULL);
        if (c->shared) {
                int r = -pthread_create(&c->heartbeat, NULL, heartbeat_main, c);
                if (r == 0) {
                        c->heartbeat_started = true;
                        r = -pthread_create(&c->listener, NULL, listener_main, c);
                        c->listener_started = r == 0;
                }
                if (r < 0) {
                        Cluster *k = TAKE_PTR(c);
                        cluster_free(k);
                        return log_error_errno(r, "cluster: cannot start its threads: %m");
                }
                log_info("cluster: instance %s on a shared database%s%s", c->name, c->racks[0] ? ", BMCs of racks " : "",
                         c->racks);
        }
        *ret = TAKE_PTR(c);
        return 0;
}

void cluster_free(Cluster *c) {
        if (!c)
                return;
        pthread_mutex_lock(&c->lock);
        c->stop = true;
        pthread_cond_broadcast(&c->cond);
        pthread_mutex_unlock(&c->lock);
        if (c->listener_started)
                pthread_join(c->listener, NULL);
        if (c->heartbeat_started) {
                pthread_join(c->heartbeat, NULL);
                int r = daemon_store_write(c->d, remove_self, c);
                if (r < 0)
                        log_warning_errno(r, "cluster: cannot remove this instance from the instances table: %m");
        }
        pthread_mutex_destroy(&c->lock);
        pthread_mutex_destroy(&c->op_lock);
        pthread_cond_destroy(&c->cond);
        free(c->name);
        free(c->url);
        free(c->racks);
        free(c);
}

typedef struct InstancesRead {
        json_t *arr;
} InstancesRead;

static int instances_read(Store *s, void *userdata) {
        InstancesRead *r = userdata;
        return store_instances_json(s, now_ms(), CLUSTER_ALIVE_MS, &r->arr);
}

int cluster_instances_json(Cluster *c, json_t **ret) {
        InstancesRead rd = { 0 };
        if (c->shared) {
                int r = daemon_store_read(c->d, instances_read, &rd);
                if (r < 0)
                        return r;
        } else {
                /* Alone on its database: itself, as its heartbeat would say it. */
                StoreInstance self = self_of(c);
                rd.arr = json_pack("[o]", store_instance_to_json(&self, now_ms(), true));
                if (!rd.arr)
                        return -ENOMEM;
        }
        json_t *o = json_pack("{s:s, s:o}", "self", c->name, "instances", rd.arr);
        if (!o)
                return -ENOMEM;
        *ret = o;
        return 0;
}

bool cluster_serves_rack(const Cluster *c, const char *rack) {
        if (!c->racks[0] || !rack || !rack[0])
                return true;
        size_t n = strlen(rack);
        for (const char *p = c->racks; *p;) {
                size_t k = strcspn(p, ",");
                if (k == n && memcmp(p, rack, n) == 0)
                        return true;
                p += k + (p[k] == ',');
        }
        return false;
}

const char *cluster_name(const Cluster *c) {
        return c->name;
}

const char *cluster_racks(const Cluster *c) {
        return c->racks;
}

void cluster_on_op(Cluster *c, void (*fn)(void *userdata, int64_t id), void *userdata) {
        pthread_mutex_lock(&c->op_lock);
        c->on_op = fn;
        c->on_op_data = userdata;
        pthread_mutex_unlock(&c->op_lock);
}
