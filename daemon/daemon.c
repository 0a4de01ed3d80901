/* daemon.c — see daemon.h. */
#include "daemon.h"

#include <assert.h>
#include <errno.h>
#include <fnmatch.h>
#include <malloc.h>
#include <inttypes.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "boot.h"
#include "db.h"
#include "deadline-heap.h"
#include "events.h"
#include "inventory.h"
#include "ipxe.h"
#include "log.h"
#include "metrics.h"
#include "overlay-cache.h"
#include "provision.h"
#include "store-cluster.h"
#include "store.h"
#include "token-seal.h"
#include "token.h"
#include "util.h"

#define INSTALL_MESSAGE_MAX 8192
/* Events kept in memory for streaming clients (GET /v1/events/stream); older ones are
 * read back from the store. */
#define EVENT_RING_SIZE 1024
/* A write decided on a node state another instance changed before it was written runs again on
 * the new state; this many times at most (then -EAGAIN: 503, the client asks again). */
#define DAEMON_STALE_RETRIES 4
/* A sweep whose transitions meet this many stale nodes (other instances sweeping at once) stops
 * for this round; the next round goes on. */
#define DAEMON_STALE_SWEEP_MAX 64
/* A sweep's lease on a shared store (sweep_claim()): renewed every sweep (each second), taken
 * over by another instance this long after its holder stopped. */
#define DAEMON_SWEEP_LEASE_MS 5000

/* What provd keeps in memory per inventory node. */
typedef struct NodeRuntime {
        StoreNodeState st;
        /* The open attempt's (or, for a stateless node, the open boot's) token, only if this
         * process handed it out (the store keeps only its hash); "" otherwise. */
        char token[TOKEN_STRING_MAX];
        /* The pixiecore answer for the open attempt, rendered on first use and dropped on
         * any transition or reload (owned; NULL when not rendered). */
        char *boot_json;
        /* The node side (read from the store once per node, then kept current): the hash of
         * its node credential, and what it last reported (owned strings; NULL: no report). */
        bool has_credential;
        uint8_t credential_hash[TOKEN_HASH_SIZE];
        char *running, *booted, *kernel;
        double uptime_s;
        int64_t reported_ms;
        /* The running batch has saved this node's state before changing it (runtime_save()). */
        bool saved;
        /* The overlay ETag recorded on boot overlay_boot_id (daemon_overlay_get()), so that
         * refetches of the same overlay write nothing. */
        int64_t overlay_boot_id;
        char overlay_etag[OVERLAY_ETAG_MAX];
} NodeRuntime;

static void report_clear(NodeRuntime *rt) {
        free(rt->running);
        free(rt->booted);
        free(rt->kernel);
        rt->running = rt->booted = rt->kernel = NULL;
        rt->reported_ms = 0;
}

static void node_runtime_free(NodeRuntime *rt) {
        if (!rt)
                return;
        free(rt->boot_json);
        report_clear(rt);
        free(rt);
}

/* Frees a runtime (n entries) and every node's runtime in it. */
static void runtime_free(NodeRuntime **rt, size_t n) {
        for (size_t i = 0; rt && i < n; i++)
                node_runtime_free(rt[i]);
        free(rt);
}

/* ---- group commit (see daemon.h, "group commit") ---- */

/* A write waiting for, or run by, a batch: fn(d, ctx) runs under the exclusive lock inside the
 * batch's store transaction.  Lives on its caller's stack. */
typedef struct Write {
        int (*fn)(Daemon *d, void *ctx);
        void *ctx;
        int r;         /* fn's result; a failed batch overrides a success with its errno */
        uint64_t upto; /* the last observer seq its transitions queued, 0: none */
        bool done;     /* r and upto are final (under batch_lock) */
        bool lead;     /* its thread is to lead the next batch (under batch_lock) */
        pthread_cond_t cond; /* done or lead became true */
        struct Write *next;
        /* A suspended write (daemon_*_submit()): no thread waits for it; the thread that led
         * its batch completes it (write_complete()).  NULL: its caller waits in write_run(). */
        struct DaemonWrite *async;
        struct Write *done_next; /* the leader's list of suspended writes to complete */
} Write;

/* What kind of write a DaemonWrite is, for its *_finish(). */
typedef enum DaemonWriteKind {
        DAEMON_WRITE_BOOT,
        DAEMON_WRITE_INSTALL_EVENT,
        DAEMON_WRITE_REPORT,
        DAEMON_WRITE_RECORD, /* daemon_record_bmc_submit(): nobody waits, it frees itself */
} DaemonWriteKind;

/* A transition a batch has written and not committed yet: what to do once it is on disk
 * (metrics, the live event hub, the log line, the observers), in order. */
typedef struct Applied {
        Write *w;                     /* whose */
        const Node *n;                /* borrowed: the inventory cannot change during the batch */
        const ProvisionTransition *t; /* provision.c's table row */
        StoreNodeState before, after;
        char *message;                /* owned: the history message (also when not recorded) */
        int64_t event_id;             /* the history row, 0 if none */
        int64_t at_ms;
        bool record;                  /* a history row was written */
        bool stored;                  /* false: only a notice for observers, nothing written */
        struct Applied *next;
} Applied;

/* A node's runtime as it was before the running batch first changed it (report strings
 * deep-copied, no rendered answer): put back if the batch fails. */
typedef struct NodeUndo {
        size_t index;
        NodeRuntime saved;
} NodeUndo;

/* A transition subscribed observers have yet to hear of (see daemon.h). */
typedef struct Pending {
        DaemonTransition t;
        char *message;            /* owned; t.message points here */
        uint64_t observers_below; /* delivered to the observers with an id below this */
        struct Pending *next;
} Pending;

typedef struct Observer {
        uint64_t id;
        DaemonObserverFn fn;
        void *ctx;
        struct Observer *next;
} Observer;

/* An inventory as reads that outlive the daemon's lock hold it (inventory_hold()): the node
 * list is built from it after the lock is released.  It is freed by whoever lets go of it
 * last: the daemon when a reload replaces it, or the last such read. */
typedef struct InventoryHold {
        Inventory *inv; /* owned */
        unsigned n_holders; /* under Daemon.inv_lock */
} InventoryHold;

struct Daemon {
        /* Readers (boot answers that change nothing, node lists, file checks, the in-memory
         * part of a node's detail) share it; transitions, the write connection and reloads
         * take it exclusively.  Writers are preferred, so a stream of boot requests cannot
         * starve an installer event.  Reads of the store alone (history, events, attempts,
         * discovered MACs) take neither: they run on the store's read connections
         * (read_begin()). */
        pthread_rwlock_t lock;
        /* Guards the d->inv and d->inv_hold pointers for reads that take no `lock`
         * (node_known()), and the holds' counts; a reload swaps both holding both locks.
         * Held for a lookup or a count only.  Lock order: lock, then inv_lock. */
        pthread_mutex_t inv_lock;
        Inventory *inv; /* owned by inv_hold; replaced whole on reload */
        InventoryHold *inv_hold; /* one holder: the daemon */
        /* owned; inv->n_nodes entries, indexed by Node.index.  Each node's runtime is an
         * object of its own, so a reload carries a node's state over by moving a pointer. */
        NodeRuntime **rt;
        /* Serializes reloads (SIGHUP on the main thread, POST /v1/reload on a worker): a
         * reload reads d->inv and d->rt (the array, not the nodes' states) without `lock`,
         * since only a reload replaces them.  Taken before `lock`. */
        pthread_mutex_t reload_lock;
        /* owned; slot = Node.index: the nodes with an open install attempt, keyed by when it
         * opened (so, with one deadline for all attempts, in deadline order).  Kept with rt:
         * written under the exclusive lock (apply_report()), rebuilt with rt on reload. */
        DeadlineHeap *deadlines;
        /* owned; the same for the nodes with an open boot (stateless nodes, state booting),
         * keyed by when it opened; the boot deadline is another than the install deadline. */
        DeadlineHeap *boot_deadlines;
        Store *store;    /* owned */
        /* owned; stateless nodes' rendered overlays (its own lock, a leaf; called without
         * `lock`: a miss issues a node credential, which takes `lock`) */
        OverlayCache *overlays;
        EventHub *events; /* owned; fed by apply() under the exclusive lock */
        char *inventory_path;
        char *public_url; /* no trailing slash */
        int64_t silent_after_ms; /* a node whose last report is older is "silent" */

        /* Group commit.  batch_lock guards the queue and `leading`; it is taken before `lock`
         * is, never while holding it, and never held while a batch runs. */
        pthread_mutex_t batch_lock;
        Write *queue, **queue_tail;   /* writes waiting for the next batch, in arrival order */
        bool leading;                 /* a thread leads a batch, or has been told to (Write.lead,
                                       * committer_lead) */
        /* The committer thread leads the batches that begin with a suspended write (no thread
         * of theirs waits).  Started by the first suspended write, stopped by daemon_free(). */
        bool committer_lead;          /* told to lead; a synchronous writer may take it over */
        bool committer_started, committer_stop;
        pthread_cond_t committer_cond;
        pthread_t committer;
        /* The running batch, guarded by `lock` (held exclusively by its leader throughout). */
        bool in_batch;
        Write *current;               /* the write whose fn runs now */
        Applied *applied, **applied_tail;
        NodeUndo *undo;
        size_t n_undo, undo_cap;
        DaemonBatchStats stats;

        /* Transition observers: guarded by notify_lock, taken after `lock` (never the
         * reverse) and never held while an observer runs. */
        pthread_mutex_t notify_lock;
        pthread_cond_t notify_cond;   /* delivered_seq, delivering or calling_id changed */
        Observer *observers;          /* in id (subscription) order */
        uint64_t last_observer_id;
        Pending *pending, **pending_tail; /* in seq (commit) order */
        uint64_t queued_seq;          /* the last seq queued */
        uint64_t delivered_seq;       /* every seq up to this one has been delivered */
        bool delivering;              /* a thread is delivering: `deliverer` */
        pthread_t deliverer;
        uint64_t deliver_upto;        /* the deliverer delivers at least up to this seq */
        uint64_t calling_id;          /* the observer being called now, 0 if none */

        /* Several instances on one database (the store is shared: PostgreSQL).  Other
         * instances change nodes too: a write first reads its node's row (node_sync()) and a
         * transition from a stale state fails with -ESTALE and is decided again
         * (batch_lead()); the cluster's listener refreshes nodes other instances changed
         * (daemon_sync_node()) and hands every committed history row, this instance's too,
         * to the event hub in id order (daemon_publish_committed()). */
        bool shared;
        bool has_key;                 /* key: sealing tokens (token-seal.h) */
        uint8_t key[TOKEN_SEAL_KEY_SIZE];
        pthread_mutex_t publish_lock; /* serialises daemon_publish_committed(); guards published_id */
        int64_t published_id;         /* the last history row handed to the event hub */
        char *instance_name;          /* owned: this instance's name (leases) */
};

/* Holds the current inventory (lock held, shared: it then matches d->rt), so that it stays
 * valid after the lock is released; give it back with inventory_release(). */
static InventoryHold *inventory_hold(Daemon *d) {
        pthread_mutex_lock(&d->inv_lock);
        InventoryHold *h = d->inv_hold;
        h->n_holders++;
        pthread_mutex_unlock(&d->inv_lock);
        return h;
}

/* Lets go of h (no lock needed); the last holder frees it. */
static void inventory_release(Daemon *d, InventoryHold *h) {
        pthread_mutex_lock(&d->inv_lock);
        bool last = --h->n_holders == 0;
        pthread_mutex_unlock(&d->inv_lock);
        if (last) {
                inventory_free(h->inv);
                free(h);
        }
}

/* A runtime being built for inventory `inv` (runtime_build()) before it replaces the current
 * one: node i's runtime is the current runtime's object of the node of that name, carried
 * over (pointer, state and all: it stays current, since transitions change it in place), or
 * a new one (fresh[i]) whose state is read from the store. */
typedef struct RuntimeBuild {
        const Inventory *inv;
        NodeRuntime **rt;  /* inv->n_nodes entries; the fresh ones owned here until swapped in */
        bool *fresh;       /* inv->n_nodes entries */
        size_t n_fresh;
        size_t *stale;     /* carried-over nodes whose boot answer may differ now (boot files,
                            * cmdline or install script changed): their cached answer goes */
        size_t n_stale;
} RuntimeBuild;

static void runtime_build_done(RuntimeBuild *b, bool swapped_in) {
        if (!b->inv)
                return;
        for (size_t i = 0; b->rt && !swapped_in && i < b->inv->n_nodes; i++)
                if (b->fresh[i])
                        node_runtime_free(b->rt[i]);
        if (!swapped_in)
                free(b->rt);
        free(b->fresh);
        free(b->stale);
        *b = (RuntimeBuild) { 0 };
}

static void runtime_build_donep(RuntimeBuild *b) {
        runtime_build_done(b, false);
}

/* Whether node a's and b's boot answers are the same (the same name). */
static bool boot_same(const Node *a, const Node *b) {
        Node ia, ib;
        if (a->mode != b->mode)
                return false;
        if (a->mode == NODE_MODE_STATELESS) {
                /* The image's answer: its files, cmdline and init (by name: another inventory). */
                const InventoryImage *x = a->image, *y = b->image;
                if (!x || !y || !streq(x->name, y->name) || !streq(x->init, y->init))
                        return false;
                ia = (Node) { .boot = x->boot, .install = x->init };
                ib = (Node) { .boot = y->boot, .install = y->init };
                a = &ia;
                b = &ib;
        }
        if (!streq(a->boot.kernel, b->boot.kernel) || !streq(a->boot.cmdline, b->boot.cmdline) ||
            !streq(a->install, b->install) || a->boot.n_initrd != b->boot.n_initrd)
                return false;
        for (size_t i = 0; i < a->boot.n_initrd; i++)
                if (!streq(a->boot.initrd[i], b->boot.initrd[i]))
                        return false;
        return true;
}

/* Node `name` of inv: at index i when the node there has that name (an inventory reloaded
 * after a small change keeps most nodes where they were: no lookup), or where the by-name
 * index says, or NULL. */
static const Node *same_name_at(const Inventory *inv, size_t i, const char *name) {
        if (i < inv->n_nodes && streq(inv->nodes[i].name, name))
                return &inv->nodes[i];
        return inventory_find_name(inv, name);
}

/* Starts building the runtime of inv from the current one (old_inv, old_rt: NULL at start-up;
 * they must stay as they are meanwhile, and only reloads replace them, one at a time).  Takes
 * no lock: it reads only the inventories, which are immutable, and the array of node runtime
 * pointers, not the states they point to. */
static int runtime_build(const Inventory *inv, const Inventory *old_inv, NodeRuntime **old_rt, RuntimeBuild *ret) {
        _cleanup_(runtime_build_donep) RuntimeBuild b = { .inv = inv };
        b.rt = calloc(inv->n_nodes + 1, sizeof *b.rt);
        b.fresh = calloc(inv->n_nodes + 1, sizeof *b.fresh);
        b.stale = calloc(inv->n_nodes + 1, sizeof *b.stale);
        if (!b.rt || !b.fresh || !b.stale)
                return -ENOMEM;
        for (size_t i = 0; i < inv->n_nodes; i++) {
                const Node *n = &inv->nodes[i];
                const Node *old = old_inv ? same_name_at(old_inv, i, n->name) : NULL;
                if (old) {
                        b.rt[i] = old_rt[old->index];
                        if (!boot_same(old, n))
                                b.stale[b.n_stale++] = i;
                        continue;
                }
                b.rt[i] = calloc(1, sizeof *b.rt[i]);
                if (!b.rt[i])
                        return -ENOMEM;
                b.rt[i]->st = (StoreNodeState) { .state = PROVISION_NEW };
                b.fresh[i] = true;
                b.n_fresh++;
        }
        *ret = b;
        b = (RuntimeBuild) { 0 };
        return 0;
}

/* Puts node `index` in the deadline heap if state st has an open attempt, else takes it out. */
static void deadline_track(DeadlineHeap *h, size_t index, const StoreNodeState *st) {
        if (provision_state_has_open_attempt(st->state) && st->attempt_opened_ms > 0)
                deadline_heap_set(h, index, st->attempt_opened_ms);
        else
                deadline_heap_remove(h, index);
}

/* Puts node `index` in the boot deadline heap if state st has an open boot, else takes it out. */
static void boot_deadline_track(DeadlineHeap *h, size_t index, const StoreNodeState *st) {
        if (provision_state_has_open_boot(st->state) && st->boot_opened_ms > 0)
                deadline_heap_set(h, index, st->boot_opened_ms);
        else
                deadline_heap_remove(h, index);
}

/* Fills h (empty, at least n slots) from runtime rt (n entries). */
static void deadlines_fill(DeadlineHeap *h, NodeRuntime *const *rt, size_t n) {
        for (size_t i = 0; i < n; i++)
                deadline_track(h, i, &rt[i]->st);
}

/* Fills h (empty, at least n slots) with the open boots of runtime rt (n entries). */
static void boot_deadlines_fill(DeadlineHeap *h, NodeRuntime *const *rt, size_t n) {
        for (size_t i = 0; i < n; i++)
                boot_deadline_track(h, i, &rt[i]->st);
}

static int state_load_one(void *userdata, const char *name, const StoreNodeState *state) {
        RuntimeBuild *b = userdata;
        const Node *n = inventory_find_name(b->inv, name);
        if (n && b->fresh[n->index])
                b->rt[n->index]->st = *state;
        return 0;
}

static int side_load_one(void *userdata, const StoreNodeSide *side) {
        RuntimeBuild *b = userdata;
        const Node *n = inventory_find_name(b->inv, side->node);
        if (!n || !b->fresh[n->index])
                return 0;
        NodeRuntime *rt = b->rt[n->index];
        if (side->credential_hash) {
                rt->has_credential = true;
                memcpy(rt->credential_hash, side->credential_hash, TOKEN_HASH_SIZE);
        }
        if (side->report.running) {
                if (!(rt->running = strdup(side->report.running)) || !(rt->booted = strdup(side->report.booted)) ||
                    !(rt->kernel = strdup(side->report.kernel))) {
                        report_clear(rt);
                        return -ENOMEM;
                }
                rt->uptime_s = side->report.uptime_s;
                rt->reported_ms = side->reported_ms;
        }
        return 0;
}

/* Opens node `node`'s sealed token (box, n bytes) with the shared key into token; a box that
 * does not open is logged (the instances' keys differ) and leaves token "". */
static void token_open(const uint8_t *key, const char *node, const uint8_t *box, size_t n,
                       char token[static TOKEN_STRING_MAX]) {
        if (token_unseal(key, box, n, token) < 0)
                log_node(LOG_WARNING, &((LogFields) { .node = node }),
                         "the open attempt's token does not open with the shared key: do all instances share one "
                         "shared_key_file?");
}

/* Reads the state, credential and last report of the build's fresh nodes from `store` (the
 * write store at start-up, a read connection on reload): one statement each for all nodes.
 * Nothing writes a fresh node meanwhile: transitions happen only to nodes of the current
 * inventory, and a fresh node is not in it.  Errors are logged. */
static int runtime_build_read(Store *store, RuntimeBuild *b, const uint8_t *key) {
        if (b->n_fresh == 0)
                return 0;
        int r = store_node_states_foreach(store, state_load_one, b);
        if (r < 0)
                return log_error_errno(r, "cannot read the state of the nodes: %m");
        r = store_node_side_foreach(store, side_load_one, b);
        if (r < 0)
                return log_error_errno(r, "cannot read node credentials and reports: %m");
        /* With the shared key, the open attempts' and boots' tokens are stored sealed: this
         * process hands them out again (a repeated boot request after a restart keeps its
         * attempt). */
        for (size_t i = 0; key && i < b->inv->n_nodes; i++) {
                NodeRuntime *rt = b->rt[i];
                uint8_t box[TOKEN_SEAL_BOX_MAX];
                size_t n;
                if (!b->fresh[i] ||
                    (!provision_state_has_open_attempt(rt->st.state) && !provision_state_has_open_boot(rt->st.state)))
                        continue;
                r = store_token_box(store, b->inv->nodes[i].name, box, sizeof box, &n);
                if (r == -ENOENT)
                        continue;
                if (r < 0)
                        return log_error_errno(r, "cannot read the sealed token of node %s: %m", b->inv->nodes[i].name);
                token_open(key, b->inv->nodes[i].name, box, n, rt->token);
        }
        return 0;
}

/* inventory_load_file() at start-up, where the log is where a person reads the error. */
static int load_inventory(const char *path, Inventory **ret) {
        char err[ERRBUF_MAX] = "";
        int r = inventory_load_file(path, ret, err, sizeof err);
        if (r < 0)
                return log_error_errno(r, "%s", err[0] ? err : "cannot load inventory: %m");
        return 0;
}

/* ---- discovery: helpers daemon_new()/daemon_reload() call ---- */
static bool discovered_is_known(void *userdata, const char *mac) {
        const Inventory *inv = userdata;
        return inventory_find_mac(inv, mac) != NULL;
}

/* Deletes the discovered rows of MACs now in the inventory and updates the gauge.  Called
 * with the exclusive lock held (or before d is shared). */
static int discovered_prune(Daemon *d) {
        int n = store_discovered_prune(d->store, discovered_is_known, d->inv);
        if (n < 0)
                return log_error_errno(n, "cannot remove inventory MACs from the discovered table: %m");
        if (n > 0)
                log_info("discovery: forgot %d discovered MAC(s) that are now in the inventory", n);
        int64_t rows;
        if (store_discovered_count(d->store, &rows) >= 0)
                metrics_discovered_nodes_set(rows);
        return 0;
}
/* ---- end discovery ---- */

void daemon_free(Daemon *d) {
        if (!d)
                return;
        /* The committer thread leads what is queued still, then ends. */
        pthread_mutex_lock(&d->batch_lock);
        bool started = d->committer_started;
        d->committer_stop = true;
        pthread_cond_signal(&d->committer_cond);
        pthread_mutex_unlock(&d->batch_lock);
        if (started)
                pthread_join(d->committer, NULL);
        if (d->stats.writes > 0)
                log_debug("group commit: %" PRIu64 " writes in %" PRIu64 " committed batches, %" PRIu64 " failed",
                          d->stats.writes, d->stats.commits, d->stats.failed);
        while (d->observers) {
                Observer *next = d->observers->next;
                free(d->observers);
                d->observers = next;
        }
        while (d->pending) {
                Pending *next = d->pending->next;
                free(d->pending->message);
                free(d->pending);
                d->pending = next;
        }
        pthread_mutex_destroy(&d->notify_lock);
        pthread_cond_destroy(&d->notify_cond);
        pthread_mutex_destroy(&d->reload_lock);
        pthread_mutex_destroy(&d->batch_lock);
        pthread_cond_destroy(&d->committer_cond);
        pthread_mutex_destroy(&d->publish_lock);
        sodium_memzero(d->key, sizeof d->key);
        free(d->instance_name);
        free(d->undo);
        runtime_free(d->rt, d->inv ? d->inv->n_nodes : 0);
        deadline_heap_free(d->deadlines);
        deadline_heap_free(d->boot_deadlines);
        if (d->inv_hold)
                inventory_release(d, d->inv_hold);
        else
                inventory_free(d->inv);
        overlay_cache_free(d->overlays);
        store_free(d->store);
        events_hub_free(d->events);
        free(d->inventory_path);
        free(d->public_url);
        pthread_rwlock_destroy(&d->lock);
        pthread_mutex_destroy(&d->inv_lock);
        free(d);
}

static void daemon_freep(Daemon **d) {
        daemon_free(*d);
}

static int overlay_issue_credential(void *userdata, const char *node, char *buf, size_t buflen);

int daemon_new(const DaemonConfig *cfg, Daemon **ret) {
        int64_t last_event_id;
        int r;

        r = token_init();
        if (r < 0)
                return log_error_errno(r, "cannot initialise libsodium");

        _cleanup_(daemon_freep) Daemon *d = calloc(1, sizeof *d);
        if (!d)
                return -ENOMEM;
        pthread_rwlockattr_t attr;
        pthread_rwlockattr_init(&attr);
        pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
        pthread_rwlock_init(&d->lock, &attr);
        pthread_rwlockattr_destroy(&attr);
        pthread_mutex_init(&d->notify_lock, NULL);
        pthread_cond_init(&d->notify_cond, NULL);
        d->pending_tail = &d->pending;
        pthread_mutex_init(&d->batch_lock, NULL);
        pthread_cond_init(&d->committer_cond, NULL);
        pthread_mutex_init(&d->publish_lock, NULL);
        d->queue_tail = &d->queue;
        d->applied_tail = &d->applied;
        pthread_mutex_init(&d->inv_lock, NULL);
        pthread_mutex_init(&d->reload_lock, NULL);

        r = load_inventory(cfg->inventory_path, &d->inv);
        if (r < 0)
                return r;
        d->inv_hold = calloc(1, sizeof *d->inv_hold);
        if (!d->inv_hold)
                return -ENOMEM;
        *d->inv_hold = (InventoryHold) { .inv = d->inv, .n_holders = 1 };
        r = store_open_url(cfg->state_url, cfg->state_dir, &d->store);
        if (r < 0)
                return r;
        d->shared = db_kind(store_db(d->store)) == DB_POSTGRESQL;
        if (cfg->shared_key_file) {
                char err[ERRBUF_MAX] = "";
                r = token_seal_key_load(cfg->shared_key_file, d->key, err, sizeof err);
                if (r < 0)
                        return log_error_errno(r, "%s", err);
                d->has_key = true;
        }
        if (d->shared && !d->has_key)
                return log_error_errno(EINVAL,
                                       "the state is in PostgreSQL, which several instances may share: set "
                                       "shared_key_file (--shared-key-file), a file of 32 random bytes every instance "
                                       "has (head -c 32 /dev/urandom >FILE; chmod 0600 FILE)");
        {
                _cleanup_(runtime_build_donep) RuntimeBuild b = { 0 };
                r = runtime_build(d->inv, NULL, NULL, &b);
                if (r < 0)
                        return r;
                r = runtime_build_read(d->store, &b, d->has_key ? d->key : NULL);
                if (r < 0)
                        return r;
                d->rt = TAKE_PTR(b.rt);
        }
        r = deadline_heap_new(d->inv->n_nodes, &d->deadlines);
        if (r < 0)
                return r;
        deadlines_fill(d->deadlines, d->rt, d->inv->n_nodes);
        r = deadline_heap_new(d->inv->n_nodes, &d->boot_deadlines);
        if (r < 0)
                return r;
        boot_deadlines_fill(d->boot_deadlines, d->rt, d->inv->n_nodes);
        d->silent_after_ms = cfg->silent_after_ms > 0 ? cfg->silent_after_ms : DAEMON_SILENT_AFTER_DEFAULT_MS;
        /* discovery: logged; the rows stay until the next reload or start.  Not a reason to
         * refuse to start (a full filesystem must not take the boot API down). */
        (void) discovered_prune(d);
        r = store_last_event_id(d->store, &last_event_id);
        if (r < 0)
                return log_error_errno(r, "cannot read the history: %m");
        d->published_id = last_event_id;
        r = events_hub_new(EVENT_RING_SIZE, last_event_id, &d->events);
        if (r < 0)
                return r;
        d->instance_name = strdup(cfg->instance_name ? cfg->instance_name : "provd");
        if (!d->instance_name)
                return -ENOMEM;
        d->inventory_path = strdup(cfg->inventory_path);
        d->public_url = strdup(cfg->public_url);
        if (!d->inventory_path || !d->public_url)
                return -ENOMEM;
        r = overlay_cache_new(0, overlay_issue_credential, d, &d->overlays);
        if (r < 0)
                return r;
        d->public_url[url_base_len(d->public_url)] = '\0';
        *ret = TAKE_PTR(d);
        return 0;
}

/* Where a read of the store runs (read_begin() .. read_end()): a read connection the store
 * lends, used without the daemon's lock, so that reads neither wait for transitions nor hold
 * them up; or, when the store lends none (exclusive locking mode) or cannot open one, the
 * write connection under the exclusive lock. */
typedef struct DaemonRead {
        Daemon *d;
        Store *store; /* what to pass to the store's read functions */
        bool locked;  /* the write connection: d->lock held exclusively */
} DaemonRead;

/* Starts a read of the store: its reads see one snapshot that contains every transition
 * committed before this call (store_reader_acquire()).  Never fails. */
static DaemonRead read_begin(Daemon *d) {
        Store *reader;
        if (store_reader_acquire(d->store, &reader) >= 0)
                return (DaemonRead) { .d = d, .store = reader };
        pthread_rwlock_wrlock(&d->lock);
        return (DaemonRead) { .d = d, .store = d->store, .locked = true };
}

static void read_end(DaemonRead *rd) {
        if (rd->locked)
                pthread_rwlock_unlock(&rd->d->lock);
        else
                store_reader_release(rd->store);
        rd->store = NULL;
}

static int64_t now_monotonic_us(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* daemon_reload() with reload_lock held. */
static int reload_locked(Daemon *d, char *err, size_t errlen) {
        _cleanup_(inventory_freep) Inventory *inv = NULL;
        _cleanup_free_ InventoryHold *hold = NULL;
        _cleanup_(runtime_build_donep) RuntimeBuild b = { 0 };
        _cleanup_free_ char **stale_answers = NULL;
        InventoryHold *old_hold;
        int64_t t0 = now_monotonic_us();
        DeadlineHeap *deadlines = NULL, *old_deadlines, *boot_deadlines = NULL, *old_boot_deadlines;
        int r;

        /* Everything slow happens before the exclusive lock: reading and parsing the file,
         * matching nodes with the current inventory, reading the new nodes from the store. */
        r = inventory_load_file_reusing(d->inventory_path, d->inv, &inv, err, errlen);
        if (r < 0)
                return r;
        hold = calloc(1, sizeof *hold);
        if (!hold)
                return errbuf_fail(-ENOMEM, err, errlen, "out of memory");
        r = runtime_build(inv, d->inv, d->rt, &b);
        if (r >= 0) {
                DaemonRead rd = read_begin(d);
                r = runtime_build_read(rd.store, &b, d->has_key ? d->key : NULL);
                read_end(&rd);
        }
        if (r >= 0 && !(stale_answers = calloc(b.n_stale + 1, sizeof *stale_answers)))
                r = -ENOMEM;
        if (r >= 0)
                r = deadline_heap_new(inv->n_nodes, &deadlines);
        if (r >= 0)
                r = deadline_heap_new(inv->n_nodes, &boot_deadlines);
        if (r < 0) {
                deadline_heap_free(deadlines);
                return errbuf_fail(r, err, errlen, "cannot read the state of the new inventory's nodes: %s",
                                   strerror(-r));
        }

        /* The swap: pointers, and the cached boot answers of the nodes whose answer changes. */
        int64_t t1 = now_monotonic_us();
        pthread_rwlock_wrlock(&d->lock);
        int64_t t_locked = now_monotonic_us();
        for (size_t i = 0; i < b.n_stale; i++) {
                NodeRuntime *rt = b.rt[b.stale[i]];
                stale_answers[i] = TAKE_PTR(rt->boot_json);
        }
        Inventory *old_inv = d->inv;
        NodeRuntime **old_rt = d->rt;
        pthread_mutex_lock(&d->inv_lock);
        *hold = (InventoryHold) { .inv = inv, .n_holders = 1 };
        d->inv = TAKE_PTR(inv);
        old_hold = d->inv_hold;
        d->inv_hold = TAKE_PTR(hold);
        pthread_mutex_unlock(&d->inv_lock);
        d->rt = b.rt;
        /* The heap is keyed by the new inventory's node indexes: filled from the states as
         * they are now, which a transition can no longer change under the exclusive lock. */
        deadlines_fill(deadlines, d->rt, d->inv->n_nodes);
        old_deadlines = d->deadlines;
        d->deadlines = TAKE_PTR(deadlines);
        boot_deadlines_fill(boot_deadlines, d->rt, d->inv->n_nodes);
        old_boot_deadlines = d->boot_deadlines;
        d->boot_deadlines = TAKE_PTR(boot_deadlines);
        size_t n_stale = b.n_stale;
        runtime_build_done(&b, true);
        (void) discovered_prune(d); /* discovery: logged; the reload stands */
        size_t n_nodes = d->inv->n_nodes, n_reused = d->inv->n_reused;
        pthread_rwlock_unlock(&d->lock);
        int64_t t_unlocked = now_monotonic_us();

        /* The old runtime: the nodes that left the inventory go with it; the others now
         * belong to the new one. */
        for (size_t i = 0; i < old_inv->n_nodes; i++)
                if (!same_name_at(d->inv, i, old_inv->nodes[i].name))
                        node_runtime_free(old_rt[i]);
        free(old_rt);
        deadline_heap_free(old_deadlines);
        deadline_heap_free(old_boot_deadlines);
        for (size_t i = 0; i < n_stale; i++)
                free(stale_answers[i]);
        inventory_release(d, old_hold); /* the old inventory: freed by its last holder */
        overlay_cache_prune(d->overlays, d->inv); /* nodes gone or no longer stateless */
        log_info("inventory reloaded from %s: %zu nodes, %zu unchanged (read and matched in %.1f ms; the exclusive "
                 "lock held %.2f ms)",
                 d->inventory_path, n_nodes, n_reused, (double) (t1 - t0) / 1000.0, (double) (t_unlocked - t_locked) / 1000.0);
        return (int) n_nodes;
}

int daemon_reload(Daemon *d, char *err, size_t errlen) {
        pthread_mutex_lock(&d->reload_lock);
        int r = reload_locked(d, err, errlen);
        pthread_mutex_unlock(&d->reload_lock);
        /* The old inventory and runtime are freed: give the pages back (see daemon.h). */
        malloc_trim(0);
        return r;
}

size_t daemon_node_count(Daemon *d) {
        pthread_rwlock_rdlock(&d->lock);
        size_t n = d->inv->n_nodes;
        pthread_rwlock_unlock(&d->lock);
        return n;
}

const char *daemon_public_url(const Daemon *d) {
        return d->public_url;
}

bool daemon_file_allowed(Daemon *d, const char *path) {
        pthread_rwlock_rdlock(&d->lock);
        bool ok = inventory_has_file(d->inv, path);
        pthread_rwlock_unlock(&d->lock);
        return ok;
}

/* Takes the lock (exclusively, for SQLite access or a transition, if `exclusive`) and finds
 * node `name`.  Returns 0 with the lock held and *ret borrowed until the unlock, or -ENOENT
 * with the lock released. */
static int lock_node(Daemon *d, const char *name, bool exclusive, const Node **ret) {
        if (exclusive)
                pthread_rwlock_wrlock(&d->lock);
        else
                pthread_rwlock_rdlock(&d->lock);
        const Node *n = inventory_find_name(d->inv, name);
        if (!n) {
                pthread_rwlock_unlock(&d->lock);
                return -ENOENT;
        }
        *ret = n;
        return 0;
}

/* Whether node `name` is in the current inventory, without `lock`: a reader of the store
 * only (history) need not wait for a transition to learn that. */
static bool node_known(Daemon *d, const char *name) {
        pthread_mutex_lock(&d->inv_lock);
        bool known = inventory_find_name(d->inv, name) != NULL;
        pthread_mutex_unlock(&d->inv_lock);
        return known;
}

/* Copies n's BMC settings (n borrowed, lock held). */
static DaemonNodeBmc node_bmc(const Node *n) {
        DaemonNodeBmc b = { .has_bmc = n->has_bmc };
        snprintf(b.node, sizeof b.node, "%s", n->name);
        snprintf(b.rack, sizeof b.rack, "%s", n->rack ? n->rack : "");
        if (n->has_bmc) {
                snprintf(b.host, sizeof b.host, "%s", n->bmc.host);
                snprintf(b.user, sizeof b.user, "%s", n->bmc.user ? n->bmc.user : "");
                snprintf(b.password_file, sizeof b.password_file, "%s", n->bmc.password_file ? n->bmc.password_file : "");
                b.port = n->bmc.port;
                b.cipher_suite = n->bmc.cipher_suite;
                b.workarounds = n->bmc.workarounds;
                b.efi = n->bmc.efi;
                b.console = n->bmc.console;
                b.sol_workarounds = n->bmc.sol_workarounds;
        }
        return b;
}

/* Counts an attempt that transition t ends (with the state before it, `cur`). */
static void attempt_metrics(const ProvisionTransition *t, const StoreNodeState *cur, int64_t at_ms) {
        const char *outcome = provision_attempt_outcome(t);
        if (!outcome || cur->attempt_id <= 0 || !provision_state_has_open_attempt(cur->state))
                return;
        metrics_attempt_ended(outcome, cur->attempt_opened_ms > 0 ? (double) (at_ms - cur->attempt_opened_ms) / 1000.0 : -1);
}

/* Counts a boot that transition t opens or ends (with the state before it, `cur`). */
static void boot_metrics(const Node *n, const ProvisionTransition *t, const StoreNodeState *cur) {
        const char *outcome = provision_boot_outcome(t);
        if (outcome && cur->boot_id > 0)
                metrics_boot_ended(outcome);
        if (t->action == PROVISION_ACTION_OPEN_BOOT)
                metrics_boot_opened(n->image ? n->image->name : "none");
}

/* Hands a recorded transition (on disk) to the live event hub, shaped as GET /v1/events's
 * entries. */
static void publish(Daemon *d, const Applied *a) {
        _cleanup_(json_decrefp) json_t *e = store_event_to_json(
                a->event_id, a->n->name, a->at_ms, provision_state_to_string(a->before.state),
                provision_state_to_string(a->after.state), provision_event_to_string(a->t->event), a->message,
                a->after.attempt_seq);
        _cleanup_free_ char *text = e ? json_dumps(e, JSON_COMPACT) : NULL;
        /* On failure the event is only in the store; the hub makes readers backfill. */
        (void) events_publish(d->events, a->event_id, text);
}

/* ---- transition observers ---- */

/* A stateless node's boots are its "attempts" for the observers (console capture: a boot is
 * captured from the reboot that prepares it until it ends, its console tail attached to a
 * failed or timed-out boot's history row, as for an install attempt): c's attempt numbers are
 * boot numbers. */
static void notify_boot(DaemonTransition *c, const ProvisionTransition *t, const StoreNodeState *prev,
                        const StoreNodeState *next) {
        c->attempt = next->boot_seq;
        const char *outcome = provision_boot_outcome(t);
        if (outcome && prev->boot_id > 0) {
                c->ended_attempt = prev->boot_seq;
                c->outcome = outcome;
        }
        if (t->action == PROVISION_ACTION_OPEN_BOOT)
                c->opened_attempt = next->boot_seq;
}

/* Queues the copy of a committed transition for the observers (exclusive lock held, the
 * transition on disk): t ran on node n from state `prev` to `next`, recorded with `message` as
 * history row event_id (0: none).  Returns its seq, or 0 when nothing was queued: no
 * observers, or out of memory (logged: the observers miss this one). */
static uint64_t notify_queue(Daemon *d, const Node *n, const ProvisionTransition *t, const StoreNodeState *prev,
                             const StoreNodeState *next, const char *message, int64_t event_id, int64_t at_ms) {
        pthread_mutex_lock(&d->notify_lock);
        bool any = d->observers != NULL;
        pthread_mutex_unlock(&d->notify_lock);
        if (!any)
                return 0;

        Pending *p = calloc(1, sizeof *p);
        if (!p || (message && !(p->message = strdup(message)))) {
                free(p);
                log_node(LOG_ERR, &((LogFields) { .node = n->name }),
                         "out of memory: observers miss the transition %s -> %s", provision_state_to_string(prev->state),
                         provision_state_to_string(next->state));
                return 0;
        }
        DaemonTransition *c = &p->t;
        c->bmc = node_bmc(n);
        c->from = prev->state;
        c->to = next->state;
        c->event = t->event;
        c->cause = provision_event_to_string(t->event);
        c->message = p->message;
        c->attempt = next->attempt_seq;
        const char *outcome = provision_attempt_outcome(t);
        if (outcome && prev->attempt_id > 0 && provision_state_has_open_attempt(prev->state)) {
                c->ended_attempt = prev->attempt_seq;
                c->outcome = outcome;
        }
        if (t->action == PROVISION_ACTION_OPEN_ATTEMPT || t->action == PROVISION_ACTION_REOPEN_ATTEMPT)
                c->opened_attempt = next->attempt_seq;
        if (n->mode == NODE_MODE_STATELESS)
                notify_boot(c, t, prev, next);
        c->event_id = event_id;
        c->at_ms = at_ms;

        pthread_mutex_lock(&d->notify_lock);
        c->seq = ++d->queued_seq;
        p->observers_below = d->last_observer_id + 1;
        *d->pending_tail = p;
        d->pending_tail = &p->next;
        uint64_t seq = c->seq;
        pthread_mutex_unlock(&d->notify_lock);
        return seq;
}

/* Delivers the queue at least up to seq `upto` (no daemon lock held; see daemon.h): becomes
 * the deliverer, or waits for the current one — unless this thread is the deliverer (called
 * from inside an observer), which delivers it once the current observer returns. */
static void notify_deliver(Daemon *d, uint64_t upto) {
        pthread_t self = pthread_self();

        pthread_mutex_lock(&d->notify_lock);
        while (d->delivered_seq < upto) {
                if (d->delivering) {
                        /* Made from inside an observer: this thread, the deliverer, delivers
                         * it too, once the current observer call returns. */
                        if (pthread_equal(d->deliverer, self)) {
                                if (d->deliver_upto < upto)
                                        d->deliver_upto = upto;
                                break;
                        }
                        pthread_cond_wait(&d->notify_cond, &d->notify_lock);
                        continue;
                }
                if (!d->pending)
                        break; /* cannot happen: what was queued stays queued until delivered */
                d->delivering = true;
                d->deliverer = self;
                d->deliver_upto = upto;
                while (d->pending && d->delivered_seq < d->deliver_upto) {
                        Pending *p = d->pending;
                        /* Observers in id order, re-found after each call: the list may change
                         * while one runs. */
                        for (uint64_t last = 0;;) {
                                Observer *o = d->observers;
                                while (o && o->id <= last)
                                        o = o->next;
                                if (!o || o->id >= p->observers_below)
                                        break;
                                last = o->id;
                                DaemonObserverFn fn = o->fn;
                                void *ctx = o->ctx;
                                d->calling_id = o->id;
                                pthread_mutex_unlock(&d->notify_lock);
                                fn(&p->t, ctx);
                                pthread_mutex_lock(&d->notify_lock);
                                d->calling_id = 0;
                                pthread_cond_broadcast(&d->notify_cond);
                        }
                        d->pending = p->next;
                        if (!d->pending)
                                d->pending_tail = &d->pending;
                        d->delivered_seq = p->t.seq;
                        free(p->message);
                        free(p);
                }
                d->delivering = false;
                pthread_cond_broadcast(&d->notify_cond);
        }
        pthread_mutex_unlock(&d->notify_lock);
}


int daemon_subscribe(Daemon *d, DaemonObserverFn fn, void *ctx, uint64_t *ret_id) {
        Observer *o = calloc(1, sizeof *o);
        if (!o)
                return -ENOMEM;
        o->fn = fn;
        o->ctx = ctx;
        pthread_mutex_lock(&d->notify_lock);
        o->id = ++d->last_observer_id;
        Observer **pp = &d->observers;
        while (*pp)
                pp = &(*pp)->next;
        *pp = o;
        pthread_mutex_unlock(&d->notify_lock);
        *ret_id = o->id;
        return 0;
}

int daemon_unsubscribe(Daemon *d, uint64_t id) {
        pthread_t self = pthread_self();
        Observer *o = NULL;

        pthread_mutex_lock(&d->notify_lock);
        for (Observer **pp = &d->observers; *pp; pp = &(*pp)->next)
                if ((*pp)->id == id) {
                        o = *pp;
                        *pp = o->next;
                        break;
                }
        /* Unlinked: the deliverer will not find it again.  Wait for the call in progress,
         * unless it is this thread's own. */
        while (o && d->calling_id == id && !(d->delivering && pthread_equal(d->deliverer, self)))
                pthread_cond_wait(&d->notify_cond, &d->notify_lock);
        pthread_mutex_unlock(&d->notify_lock);
        if (!o)
                return -ENOENT;
        free(o);
        return 0;
}
/* ---- end transition observers ---- */

/* Runs transition t for node n (lock held).  `message` overrides t->why in the history;
 * `phase` is the installer phase for installer events.  Updates the runtime on success. */
static int apply_report(Daemon *d, const Node *n, const ProvisionTransition *t, const char *phase,
                        const char *message, Firmware fw, const StoreReport *report, bool record, const char *mac);

static int apply(Daemon *d, const Node *n, const ProvisionTransition *t, const char *phase, const char *message,
                 Firmware fw) {
        return apply_report(d, n, t, phase, message, fw, NULL, t->why != NULL, NULL);
}

/* Saves node `index`'s runtime in the running batch's undo log before its first change in
 * the batch (lock held exclusively, in a batch).  -ENOMEM. */
static int runtime_save(Daemon *d, size_t index) {
        NodeRuntime *rt = d->rt[index];
        if (rt->saved)
                return 0;
        if (d->n_undo == d->undo_cap) {
                size_t cap = d->undo_cap ? d->undo_cap * 2 : 64;
                NodeUndo *u = reallocarray(d->undo, cap, sizeof *u);
                if (!u)
                        return -ENOMEM;
                d->undo = u;
                d->undo_cap = cap;
        }
        NodeUndo *u = &d->undo[d->n_undo];
        u->index = index;
        u->saved = *rt;
        u->saved.boot_json = NULL; /* a cache: dropped on undo, rendered again on use */
        u->saved.running = u->saved.booted = u->saved.kernel = NULL;
        if (rt->running && (!(u->saved.running = strdup(rt->running)) || !(u->saved.booted = strdup(rt->booted)) ||
                            !(u->saved.kernel = strdup(rt->kernel)))) {
                report_clear(&u->saved);
                return -ENOMEM;
        }
        d->n_undo++;
        rt->saved = true;
        return 0;
}

/* ---- several instances on one database ---- */

/* What the store says of one node now, read for a refresh (node_fresh_read()). */
typedef struct NodeFresh {
        StoreNodeState st;
        char token[TOKEN_STRING_MAX]; /* the open attempt's or boot's token unsealed, or "" */
        bool side_read;               /* the fields below were read */
        bool has_credential;
        uint8_t credential_hash[TOKEN_HASH_SIZE];
        char *running, *booted, *kernel; /* owned; NULL: no report */
        double uptime_s;
        int64_t reported_ms;
} NodeFresh;

static void node_fresh_done(NodeFresh *f) {
        free(f->running);
        free(f->booted);
        free(f->kernel);
        f->running = f->booted = f->kernel = NULL;
        sodium_memzero(f->token, sizeof f->token);
}

static int fresh_side_one(void *userdata, const StoreNodeSide *side) {
        NodeFresh *f = userdata;
        if (side->credential_hash) {
                f->has_credential = true;
                memcpy(f->credential_hash, side->credential_hash, TOKEN_HASH_SIZE);
        }
        if (side->report.running) {
                if (!(f->running = strdup(side->report.running)) || !(f->booted = strdup(side->report.booted)) ||
                    !(f->kernel = strdup(side->report.kernel)))
                        return -ENOMEM;
                f->uptime_s = side->report.uptime_s;
                f->reported_ms = side->reported_ms;
        }
        return 0;
}

/* Reads node `name`'s state, the token of its open attempt or boot (unsealed with the shared
 * key: without the key, or when the box does not open, "" — this process then cannot hand that
 * token out, as after a restart) and, with `side`, its credential and last report, from `s`
 * (the write store in a batch, or a read connection).  -ENOENT: the store has no row of it. */
static int node_fresh_read(Daemon *d, Store *s, const char *name, bool side, NodeFresh *ret) {
        NodeFresh f = { 0 };
        int r = store_get_node(s, name, &f.st);
        if (r < 0)
                return r;
        if (d->has_key && (provision_state_has_open_attempt(f.st.state) || provision_state_has_open_boot(f.st.state))) {
                uint8_t box[TOKEN_SEAL_BOX_MAX];
                size_t n;
                if (store_token_box(s, name, box, sizeof box, &n) >= 0)
                        token_open(d->key, name, box, n, f.token);
        }
        if (side) {
                f.side_read = true;
                r = store_node_side_get(s, name, fresh_side_one, &f);
                if (r < 0 && r != -ENOENT) {
                        node_fresh_done(&f);
                        return r;
                }
        }
        *ret = f;
        return 0;
}

/* Brings node `index`'s runtime to f (lock held exclusively): its state when f's version is
 * newer than the runtime's (in a batch, saved for the batch's undo first), its credential and
 * report when f has them (taken from f).  The cached boot answer goes; the deadline heaps
 * follow.  Returns whether the state changed, or -ENOMEM. */
static int node_fresh_apply(Daemon *d, size_t index, NodeFresh *f) {
        NodeRuntime *rt = d->rt[index];
        bool newer = f->st.version > rt->st.version;
        if (!newer && !f->side_read)
                return 0;
        if (d->in_batch) {
                int r = runtime_save(d, index);
                if (r < 0)
                        return r;
        }
        if (newer) {
                rt->st = f->st;
                memcpy(rt->token, f->token, sizeof rt->token);
                free(rt->boot_json);
                rt->boot_json = NULL;
                deadline_track(d->deadlines, index, &rt->st);
                boot_deadline_track(d->boot_deadlines, index, &rt->st);
        }
        if (f->side_read) {
                rt->has_credential = f->has_credential;
                memcpy(rt->credential_hash, f->credential_hash, TOKEN_HASH_SIZE);
                if (f->running) {
                        report_clear(rt);
                        rt->running = TAKE_PTR(f->running);
                        rt->booted = TAKE_PTR(f->booted);
                        rt->kernel = TAKE_PTR(f->kernel);
                        rt->uptime_s = f->uptime_s;
                        rt->reported_ms = f->reported_ms;
                }
        }
        return newer;
}

/* Before a write decides anything about node n (lock held exclusively, in a batch): when the
 * store is shared, reads n's row in the batch's transaction and, if another instance changed
 * it since this one last saw it, takes that state (and the open token) over; with `side` also
 * its credential and last report.  A no-op when
 * this instance is alone on its database.  Returns 0 or a store errno. */
static int node_sync(Daemon *d, const Node *n, bool side) {
        if (!d->shared)
                return 0;
        NodeFresh f;
        int r = node_fresh_read(d, d->store, n->name, side, &f);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        r = node_fresh_apply(d, n->index, &f);
        node_fresh_done(&f);
        return r < 0 ? r : 0;
}

/* Hands the history rows committed after the last one handed over to the event hub, in id
 * order (shared store: ids are given out in commit order, store.h).  One caller at a time.
 * Returns how many, or a store errno. */
static int publish_committed(Daemon *d) {
        int total = 0;
        pthread_mutex_lock(&d->publish_lock);
        for (int round = 0; round < 64; round++) {
                _cleanup_(json_decrefp) json_t *rows = NULL;
                DaemonRead rd = read_begin(d);
                int r = store_events_json(rd.store,
                                          &(StoreEventQuery) { .after_id = d->published_id, .limit = 256, .with_node = true },
                                          &rows);
                read_end(&rd);
                if (r < 0) {
                        pthread_mutex_unlock(&d->publish_lock);
                        return r;
                }
                size_t i;
                json_t *e;
                json_array_foreach(rows, i, e) {
                        int64_t id = json_integer_value(json_object_get(e, "id"));
                        _cleanup_free_ char *text = json_dumps(e, JSON_COMPACT);
                        (void) events_publish(d->events, id, text);
                        d->published_id = id;
                        total++;
                }
                if (json_array_size(rows) < 256)
                        break;
        }
        pthread_mutex_unlock(&d->publish_lock);
        return total;
}

bool daemon_is_shared(const Daemon *d) {
        return d->shared;
}

int daemon_sync_node(Daemon *d, const char *name) {
        NodeFresh f;
        if (!node_known(d, name))
                return -ENOENT;
        DaemonRead rd = read_begin(d);
        int r = node_fresh_read(d, rd.store, name, true, &f);
        read_end(&rd);
        if (r < 0)
                return r;
        /* Read without the lock: a transition of this instance's since then has a newer
         * version and stays (node_fresh_apply() takes only newer states). */
        pthread_rwlock_wrlock(&d->lock);
        const Node *n = inventory_find_name(d->inv, name);
        r = n ? node_fresh_apply(d, n->index, &f) : -ENOENT;
        pthread_rwlock_unlock(&d->lock);
        node_fresh_done(&f);
        return r;
}

/* One node's state for daemon_sync_all(): newer ones are kept by name. */
typedef struct SyncAll {
        Daemon *d;
        const Inventory *inv;
        StoreNodeState *st; /* inv->n_nodes entries; version 0: none read */
} SyncAll;

static int sync_all_one(void *userdata, const char *name, const StoreNodeState *state) {
        SyncAll *a = userdata;
        const Node *n = inventory_find_name(a->inv, name);
        if (n)
                a->st[n->index] = *state;
        return 0;
}

int daemon_sync_all(Daemon *d) {
        int changed = 0;
        pthread_mutex_lock(&d->reload_lock); /* the inventory stays while its indexes are used */
        SyncAll a = { .d = d, .inv = d->inv, .st = calloc(d->inv->n_nodes + 1, sizeof *a.st) };
        if (!a.st) {
                pthread_mutex_unlock(&d->reload_lock);
                return -ENOMEM;
        }
        DaemonRead rd = read_begin(d);
        int r = store_node_states_foreach(rd.store, sync_all_one, &a);
        read_end(&rd);
        for (size_t i = 0; r >= 0 && i < a.inv->n_nodes; i++) {
                pthread_rwlock_rdlock(&d->lock);
                bool newer = a.st[i].version > d->rt[i]->st.version;
                pthread_rwlock_unlock(&d->lock);
                if (!newer)
                        continue;
                /* the token and the node side with it: one node at a time, as a notification would */
                int k = daemon_sync_node(d, a.inv->nodes[i].name);
                if (k < 0 && k != -ENOENT)
                        r = k;
                else if (k > 0)
                        changed++;
        }
        pthread_mutex_unlock(&d->reload_lock);
        free(a.st);
        return r < 0 ? r : changed;
}

int daemon_store_write(Daemon *d, int (*fn)(Store *s, void *userdata), void *userdata) {
        pthread_rwlock_wrlock(&d->lock);
        int r = fn(d->store, userdata);
        pthread_rwlock_unlock(&d->lock);
        return r;
}

int daemon_store_read(Daemon *d, int (*fn)(Store *s, void *userdata), void *userdata) {
        DaemonRead rd = read_begin(d);
        int r = fn(rd.store, userdata);
        read_end(&rd);
        return r;
}

/* Shared store: whether this instance runs the sweep named `lease` now — it claims the lease,
 * or renews its claim, for DAEMON_SWEEP_LEASE_MS; another instance's live claim means no.  The
 * first claim and a takeover (the holder stopped renewing: it died) are logged.  Alone on its
 * database an instance always sweeps. */
static bool sweep_claim(Daemon *d, const char *lease) {
        char prev[STORE_INSTANCE_NAME_MAX];
        if (!d->shared)
                return true;
        pthread_rwlock_wrlock(&d->lock);
        int r = store_lease_claim(d->store, lease, d->instance_name, now_ms(), DAEMON_SWEEP_LEASE_MS, prev);
        pthread_rwlock_unlock(&d->lock);
        if (r < 0) {
                log_error_errno(r, "cannot claim the %s lease: %m", lease);
                return false;
        }
        if (r > 0 && prev[0])
                log_warning("took the %s over from instance %s, whose lease had expired", lease, prev);
        return r > 0;
}

int daemon_publish_committed(Daemon *d) {
        return publish_committed(d);
}

int daemon_listen_open(Daemon *d, Store **ret) {
        pthread_rwlock_wrlock(&d->lock);
        int r = store_listen_open(d->store, ret);
        pthread_rwlock_unlock(&d->lock);
        return r;
}

/* ---- end several instances ---- */

/* Appends a (owned) to the running batch's transitions. */
static void applied_append(Daemon *d, Applied *a) {
        a->w = d->current;
        *d->applied_tail = a;
        d->applied_tail = &a->next;
}

/* apply() that also stores a node report (report non-NULL) in the same transaction, and
 * writes the history row only if `record`.  In a batch (lock held exclusively): the store's
 * write joins the batch's transaction, the runtime changes at once (saved first, for an undo),
 * and what follows a commit (metrics, live events, the log line, observers) waits for it. */
static int apply_report(Daemon *d, const Node *n, const ProvisionTransition *t, const char *phase,
                        const char *message, Firmware fw, const StoreReport *report, bool record, const char *mac) {
        NodeRuntime *rt = d->rt[n->index];
        char token[TOKEN_STRING_MAX] = "";
        uint8_t hash[TOKEN_HASH_SIZE];
        StoreNodeState next;
        const char *msg = message ? message : t->why;

        assert(d->in_batch);
        _cleanup_free_ Applied *a = calloc(1, sizeof *a);
        if (!a || (msg && !(a->message = strdup(msg)))) {
                if (a)
                        free(a->message);
                return -ENOMEM;
        }
        int r = runtime_save(d, n->index);
        if (r < 0) {
                free(a->message);
                return r;
        }
        uint8_t box[TOKEN_SEAL_BOX_MAX];
        int box_len = 0;
        if (t->action == PROVISION_ACTION_OPEN_ATTEMPT || t->action == PROVISION_ACTION_REOPEN_ATTEMPT ||
            t->action == PROVISION_ACTION_OPEN_BOOT) {
                token_new(token, hash);
                /* Sealed for the other instances, which may be asked for this boot again. */
                if (d->has_key && (box_len = token_seal(d->key, token, box)) < 0) {
                        free(a->message);
                        return box_len;
                }
        }

        StoreTransition tr = {
                .node = n->name,
                .t = t,
                .new_token_hash = token[0] ? hash : NULL,
                .phase = phase,
                .message = message,
                .firmware = fw != FIRMWARE_UNKNOWN ? firmware_name(fw) : NULL,
                .report = report,
                .mac = mac,
                .image = n->image ? n->image->name : NULL,
                .at_ms = now_ms(),
                .record = record,
                .token_box = box_len > 0 ? box : NULL,
                .token_box_len = box_len > 0 ? (size_t) box_len : 0,
        };
        int64_t event_id = 0;
        r = store_apply(d->store, &tr, &rt->st, &next, &event_id);
        if (r == -ESTALE) {
                /* Another instance changed the node since this one decided: take its state
                 * over; the write is decided again (batch_lead()). */
                free(a->message);
                int k = node_sync(d, n, false);
                return k < 0 ? k : r;
        }
        if (r < 0) {
                free(a->message);
                return log_node_errno(LOG_ERR, r, &((LogFields) { .node = n->name, .attempt = rt->st.attempt_seq }),
                                      "cannot record %s -> %s: %m", provision_state_to_string(rt->st.state),
                                      provision_state_to_string(t->to));
        }

        a->n = n;
        a->t = t;
        a->before = rt->st;
        a->after = next;
        a->event_id = event_id;
        a->at_ms = tr.at_ms;
        a->record = tr.record;
        a->stored = true;
        applied_append(d, TAKE_PTR(a));
        rt->st = next;
        deadline_track(d->deadlines, n->index, &rt->st);
        boot_deadline_track(d->boot_deadlines, n->index, &rt->st);
        free(rt->boot_json);
        rt->boot_json = NULL;
        if (token[0])
                memcpy(rt->token, token, sizeof token);
        else if (!provision_state_has_open_attempt(next.state) && !provision_state_has_open_boot(next.state))
                rt->token[0] = '\0';
        /* After an admin's reboot the next netboot is a new boot, not pixiecore repeating
         * itself: forget the open boot's token (its hash stays valid until then). */
        if (t->event == PROVISION_EV_REBOOT)
                rt->token[0] = '\0';
        return 0;
}

/* A transition that writes nothing but that observers hear of (a reinstall of a pending node),
 * delivered after the running batch commits, in its place.  Lock held exclusively, in a
 * batch.  -ENOMEM. */
static int apply_notice(Daemon *d, const Node *n, const ProvisionTransition *t) {
        Applied *a = calloc(1, sizeof *a);
        if (!a)
                return -ENOMEM;
        a->n = n;
        a->t = t;
        a->before = a->after = d->rt[n->index]->st;
        a->at_ms = now_ms();
        applied_append(d, a);
        return 0;
}

/* What follows the commit of transition a, in commit order (lock held exclusively): attempt
 * metrics, the live event, the log line, the observers' queue. */
static void applied_settle(Daemon *d, Applied *a) {
        if (a->stored) {
                attempt_metrics(a->t, &a->before, a->at_ms);
                boot_metrics(a->n, a->t, &a->before);
        }
        /* A shared store's events reach the hub in id order with other instances'
         * (publish_committed(), after the batch and from the cluster's listener). */
        if (a->event_id > 0 && !d->shared)
                publish(d, a);
        if (a->record)
                log_node(LOG_INFO, &((LogFields) { .node = a->n->name, .attempt = a->after.attempt_seq }), "%s -> %s: %s",
                         provision_state_to_string(a->before.state), provision_state_to_string(a->after.state),
                         a->message);
        uint64_t seq = notify_queue(d, a->n, a->t, &a->before, &a->after, a->record ? a->message : NULL, a->event_id,
                                    a->at_ms);
        if (seq > 0)
                a->w->upto = seq;
}

static void applied_free(Daemon *d) {
        while (d->applied) {
                Applied *next = d->applied->next;
                free(d->applied->message);
                free(d->applied);
                d->applied = next;
        }
        d->applied_tail = &d->applied;
}

/* The running batch's transaction committed (lock held exclusively): its transitions are on
 * disk; what follows each happens now, in commit order, and the undo log is dropped. */
static void batch_committed(Daemon *d) {
        for (Applied *a = d->applied; a; a = a->next)
                applied_settle(d, a);
        applied_free(d);
        for (size_t i = 0; i < d->n_undo; i++) {
                report_clear(&d->undo[i].saved);
                d->rt[d->undo[i].index]->saved = false;
        }
        d->n_undo = 0;
        d->stats.commits++;
}

/* The running batch's transaction failed to commit or was rolled back (lock held exclusively):
 * nothing of it is on disk.  Every node it changed gets back its state from before the batch,
 * its transitions are forgotten (no metrics, events, log lines or observers), and every write
 * from `from` up to (not including) `to` that had succeeded fails with `error`. */
static void batch_failed(Daemon *d, Write *from, Write *to, int error) {
        for (size_t i = d->n_undo; i-- > 0;) {
                NodeRuntime *rt = d->rt[d->undo[i].index];
                free(rt->boot_json);
                report_clear(rt);
                *rt = d->undo[i].saved; /* .saved is false there */
                deadline_track(d->deadlines, d->undo[i].index, &rt->st);
                boot_deadline_track(d->boot_deadlines, d->undo[i].index, &rt->st);
        }
        d->n_undo = 0;
        applied_free(d);
        for (Write *w = from; w != to; w = w->next)
                if (w->r >= 0)
                        w->r = error;
        d->stats.failed++;
        log_error_errno(error, "state store: a transaction of transitions failed, none of them was recorded: %m");
}

/* Runs the queue as a batch (batch_lock held on entry and on return, not in between): takes
 * the exclusive lock, runs each write's fn inside one store transaction — writes that arrive
 * meanwhile join it, up to DAEMON_BATCH_MAX — commits it, does what follows each transition
 * in commit order, releases the lock, marks every write done and wakes each writer (its own
 * condition: no herd), and hands the lead to the first write still queued, if any (to the
 * committer thread when that write is a suspended one).  Returns the batch's suspended
 * writes (linked by done_next), which the caller completes with write_complete() once it has
 * released batch_lock. */
static Write *batch_lead(Daemon *d) {
        Write *head = d->queue, *w = head, *last = NULL, *start = NULL;
        d->queue = NULL;
        d->queue_tail = &d->queue;
        pthread_mutex_unlock(&d->batch_lock);

        pthread_rwlock_wrlock(&d->lock);
        d->in_batch = true;
        bool open = false;
        int begin_r = 0;
        size_t n = 0;
        while (w) {
                if (!open && begin_r >= 0) {
                        begin_r = store_batch_begin(d->store);
                        open = begin_r >= 0;
                        start = w;
                }
                if (!open)
                        w->r = begin_r; /* no transaction: the rest fail */
                else {
                        d->current = w;
                        w->r = w->fn(d, w->ctx);
                        /* Decided on a state another instance had changed meanwhile: decide
                         * again on the state the store has now (node_sync() took it over). */
                        for (int again = 1; w->r == -ESTALE && again < DAEMON_STALE_RETRIES && store_batch_open(d->store);
                             again++)
                                w->r = w->fn(d, w->ctx);
                        if (w->r == -ESTALE)
                                w->r = -EAGAIN;
                        d->stats.writes++;
                        if (!store_batch_open(d->store)) {
                                /* A write's failure rolled the whole transaction back: the
                                 * writes before it in this transaction are lost too. */
                                store_batch_rollback(d->store);
                                batch_failed(d, start, w->next, w->r < 0 ? w->r : -EIO);
                                open = false;
                        }
                }
                n++;
                last = w;
                w = w->next;
                if (!w && n < DAEMON_BATCH_MAX) {
                        pthread_mutex_lock(&d->batch_lock);
                        w = last->next = d->queue;
                        d->queue = NULL;
                        d->queue_tail = &d->queue;
                        pthread_mutex_unlock(&d->batch_lock);
                }
        }
        d->current = NULL;
        if (open) {
                int r = store_batch_commit(d->store);
                if (r < 0)
                        batch_failed(d, start, NULL, r);
                else
                        batch_committed(d);
        }
        d->in_batch = false;
        pthread_rwlock_unlock(&d->lock);
        /* A shared store's events go to the hub in id order (publish_committed()): this
         * batch's now, other instances' committed meanwhile with them. */
        if (d->shared && open)
                (void) publish_committed(d);

        pthread_mutex_lock(&d->batch_lock);
        Write *fin = NULL, **fin_tail = &fin;
        for (w = head; w;) {
                Write *next = w->next;
                if (w->async) {
                        *fin_tail = w;
                        fin_tail = &w->done_next;
                } else {
                        w->done = true; /* its owner may return (and its Write go) once batch_lock is released */
                        pthread_cond_signal(&w->cond);
                }
                w = next;
        }
        *fin_tail = NULL;
        /* d->leading stays true when the lead is handed over */
        if (d->queue && d->queue->async) {
                d->committer_lead = true;
                pthread_cond_signal(&d->committer_cond);
        } else if (d->queue) {
                d->queue->lead = true;
                pthread_cond_signal(&d->queue->cond);
        } else
                d->leading = false;
        return fin;
}

static void write_complete(Daemon *d, Write *fin);

/* The committer thread: leads the batches handed to it (committer_lead) and completes their
 * suspended writes, until daemon_free() stops it and nothing is left for it to lead. */
static void *committer_main(void *userdata) {
        Daemon *d = userdata;
        /* Its own name: it starts from whichever thread submits first (a libmicrohttpd worker,
         * whose name it would inherit), and top/perf should tell it apart. */
        (void) pthread_setname_np(pthread_self(), "provd-commit");
        pthread_mutex_lock(&d->batch_lock);
        for (;;) {
                if (!d->committer_lead) {
                        if (d->committer_stop)
                                break;
                        pthread_cond_wait(&d->committer_cond, &d->batch_lock);
                        continue;
                }
                d->committer_lead = false;
                Write *fin = batch_lead(d);
                if (fin) {
                        pthread_mutex_unlock(&d->batch_lock);
                        write_complete(d, fin);
                        pthread_mutex_lock(&d->batch_lock);
                }
        }
        pthread_mutex_unlock(&d->batch_lock);
        return NULL;
}

/* Queues suspended write w (no daemon lock held): the committer thread leads its batch
 * unless a batch is led already.  Starts the committer thread the first time.  -EAGAIN (or
 * another errno of pthread_create()) when that thread cannot be started: nothing queued. */
static int write_submit(Daemon *d, Write *w) {
        pthread_mutex_lock(&d->batch_lock);
        if (!d->committer_started) {
                int r = pthread_create(&d->committer, NULL, committer_main, d);
                if (r != 0) {
                        pthread_mutex_unlock(&d->batch_lock);
                        return log_error_errno(r, "cannot start the committer thread: %m");
                }
                d->committer_started = true;
        }
        *d->queue_tail = w;
        d->queue_tail = &w->next;
        if (!d->leading) {
                d->leading = true;
                d->committer_lead = true;
                pthread_cond_signal(&d->committer_cond);
        }
        pthread_mutex_unlock(&d->batch_lock);
        return 0;
}

/* Runs fn(d, ctx) in a batch (see daemon.h, "group commit") and returns its result, or the
 * batch's errno when fn succeeded but the batch did not commit.  fn runs under the exclusive
 * lock, on this thread or on the batch leader's, and must only compute: no waiting, no daemon
 * call.  Returns after the batch committed (or failed) and after the observers have seen the
 * transitions fn made.  No daemon lock may be held. */
static int write_run(Daemon *d, int (*fn)(Daemon *d, void *ctx), void *ctx) {
        Write w = { .fn = fn, .ctx = ctx };
        pthread_cond_init(&w.cond, NULL);
        pthread_mutex_lock(&d->batch_lock);
        *d->queue_tail = &w;
        d->queue_tail = &w.next;
        if (!d->leading || d->committer_lead) {
                /* A lead the committer thread has not taken up yet is this thread's: the
                 * committer may be busy completing suspended writes, delivering to an
                 * observer that makes this very write. */
                d->committer_lead = false;
                d->leading = true;
                w.lead = true;
        }
        while (!w.done) {
                if (w.lead) {
                        w.lead = false;
                        Write *fin = batch_lead(d); /* takes w in, since w is queued */
                        if (fin) {
                                pthread_mutex_unlock(&d->batch_lock);
                                write_complete(d, fin);
                                pthread_mutex_lock(&d->batch_lock);
                        }
                        continue;
                }
                pthread_cond_wait(&w.cond, &d->batch_lock);
        }
        pthread_mutex_unlock(&d->batch_lock);
        pthread_cond_destroy(&w.cond);
        if (w.upto > 0)
                notify_deliver(d, w.upto);
        return w.r;
}

void daemon_batch_stats(Daemon *d, DaemonBatchStats *ret) {
        pthread_rwlock_rdlock(&d->lock);
        *ret = d->stats;
        pthread_rwlock_unlock(&d->lock);
}

void daemon_set_commit_hook(Daemon *d, StoreCommitHook fn, void *userdata) {
        pthread_rwlock_wrlock(&d->lock);
        store_set_commit_hook(d->store, fn, userdata);
        pthread_rwlock_unlock(&d->lock);
}

/* The table row for a network boot of node n: for an install node NETBOOT if this process can
 * hand out the open attempt's token again, NETBOOT_NO_TOKEN if not; for a stateless node
 * IMAGE_NETBOOT if a boot is open and this process knows its token (pixiecore asking again),
 * IMAGE_NETBOOT_NO_TOKEN if not (a new boot).  NULL: no such row. */
static const ProvisionTransition *netboot_transition(const Node *n, const NodeRuntime *rt) {
        if (n->mode == NODE_MODE_STATELESS)
                return provision_transition(rt->st.state, rt->token[0] && provision_state_has_open_boot(rt->st.state)
                                                                  ? PROVISION_EV_IMAGE_NETBOOT
                                                                  : PROVISION_EV_IMAGE_NETBOOT_NO_TOKEN);
        return provision_transition(rt->st.state, rt->token[0] ? PROVISION_EV_NETBOOT : PROVISION_EV_NETBOOT_NO_TOKEN);
}

/* The history message of a netboot that opens a boot: "<why> (firmware X), image I". */
static char *image_netboot_message(const ProvisionTransition *t, const Node *n, Firmware fw) {
        char *msg = NULL;
        if (asprintf(&msg, "%s%s%s%s, image %s", t->why, fw != FIRMWARE_UNKNOWN ? " (firmware " : "",
                     fw != FIRMWARE_UNKNOWN ? firmware_name(fw) : "", fw != FIRMWARE_UNKNOWN ? ")" : "",
                     n->image ? n->image->name : "(none)") < 0)
                return NULL;
        return msg;
}

/* Renders the image answer of stateless node n for its open boot (lock held; the token known).
 * pixiecore's answer is kept in rt->boot_json when `exclusive`.  -EAGAIN: pixiecore format,
 * not rendered yet and the lock only shared. */
static int boot_image_render(Daemon *d, bool exclusive, const Node *n, NodeRuntime *rt, DaemonBootFormat fmt,
                             char **ret_body) {
        _cleanup_(boot_spec_done) BootSpec spec = { 0 };
        _cleanup_free_ char *body = NULL;
        /* pixiecore asks 5-6 times per boot: render once per boot. */
        if (fmt == DAEMON_BOOT_PIXIECORE && rt->boot_json) {
                if (!(body = strdup(rt->boot_json)))
                        return -ENOMEM;
                *ret_body = TAKE_PTR(body);
                return 0;
        }
        if (fmt == DAEMON_BOOT_PIXIECORE && !exclusive)
                return -EAGAIN;
        int r = boot_spec_build_image(n, d->public_url, rt->token, &spec);
        if (r < 0)
                return r;
        body = fmt == DAEMON_BOOT_IPXE ? ipxe_render_image(&spec, n->name, n->image->name, (long) rt->st.boot_seq)
                                       : boot_spec_to_pixiecore_json(&spec);
        if (!body)
                return -ENOMEM;
        if (fmt == DAEMON_BOOT_PIXIECORE)
                rt->boot_json = strdup(body); /* a failure here only costs a re-render */
        *ret_body = TAKE_PTR(body);
        return 0;
}

/* Answers a boot with the lock held.  With only a read lock (exclusive == false) it
 * returns -EAGAIN instead of doing anything that writes: a transition, or filling the
 * rendered-answer cache. */
static int boot_locked(Daemon *d, bool exclusive, const char *mac, DaemonBootFormat fmt, Firmware fw,
                       DaemonBootResult *ret_result, char **ret_body) {
        _cleanup_free_ char *body = NULL;
        DaemonBootResult result;
        int r;

        const Node *n = inventory_find_mac(d->inv, mac);
        if (!n) {
                log_node(LOG_INFO, &((LogFields) { .mac = mac }), "network boot of a MAC that is not in the inventory: ignored");
                result = DAEMON_BOOT_RESULT_UNKNOWN;
                if (fmt == DAEMON_BOOT_IPXE && !(body = ipxe_render_unknown(mac)))
                        return -ENOMEM;
                goto done;
        }

        NodeRuntime *rt = d->rt[n->index];
        if (exclusive && (r = node_sync(d, n, false)) < 0)
                return r;
        const ProvisionTransition *t = netboot_transition(n, rt);
        if (!t)
                return log_error_errno(EPROTO, "node %s: no transition for netboot in state %s", n->name,
                                       provision_state_to_string(rt->st.state));
        if (t->action != PROVISION_ACTION_NONE || t->to != rt->st.state || t->why) {
                if (!exclusive)
                        return -EAGAIN;
                /* The history says what netbooted when iPXE told us (and a boot, which image). */
                _cleanup_free_ char *msg = NULL;
                if (t->boot == PROVISION_BOOT_IMAGE && t->why) {
                        if (!(msg = image_netboot_message(t, n, fw)))
                                return -ENOMEM;
                } else if (fw != FIRMWARE_UNKNOWN && t->why &&
                           asprintf(&msg, "%s (firmware %s)", t->why, firmware_name(fw)) < 0)
                        return -ENOMEM;
                r = apply_report(d, n, t, NULL, msg, fw, NULL, t->why != NULL, mac);
                if (r < 0)
                        return r;
                /* A UEFI node whose BMC is told "legacy": the reinstall's one-time PXE override
                 * would ask the firmware for a legacy (CSM) boot, which UEFI-only firmware
                 * refuses or, worse, does (IPMI v2.0 §28.13 Table 28-14, parameter 5 data 1 bit
                 * 5).  Said once per attempt, when the attempt opens. */
                if (n->has_bmc && !n->bmc.efi && fw != FIRMWARE_BIOS && fw != FIRMWARE_UNKNOWN &&
                    fw != FIRMWARE_OTHER &&
                    (t->action == PROVISION_ACTION_OPEN_ATTEMPT || t->action == PROVISION_ACTION_REOPEN_ATTEMPT))
                        log_node(LOG_WARNING, &((LogFields) { .node = n->name, .mac = mac }),
                                 "netbooted with UEFI firmware (%s) but bmc.boot_mode is legacy: set \"boot_mode\": "
                                 "\"efi\" so reinstall's PXE override and the disk boot device ask for an EFI boot",
                                 firmware_name(fw));
        }

        if (t->boot == PROVISION_BOOT_IMAGE) {
                result = DAEMON_BOOT_RESULT_IMAGE;
                r = boot_image_render(d, exclusive, n, rt, fmt, &body);
                if (r < 0)
                        return r;
        } else if (t->boot == PROVISION_BOOT_INSTALL) {
                _cleanup_(boot_spec_done) BootSpec spec = { 0 };
                result = DAEMON_BOOT_RESULT_INSTALL;
                /* pixiecore asks 5-6 times per boot: render once per attempt. */
                if (fmt == DAEMON_BOOT_PIXIECORE && rt->boot_json) {
                        if (!(body = strdup(rt->boot_json)))
                                return -ENOMEM;
                        goto done;
                }
                if (fmt == DAEMON_BOOT_PIXIECORE && !exclusive)
                        return -EAGAIN;
                r = boot_spec_build(n, d->public_url, rt->token, &spec);
                if (r < 0)
                        return r;
                body = fmt == DAEMON_BOOT_IPXE ? ipxe_render_install(&spec, n->name, (long) rt->st.attempt_seq)
                                               : boot_spec_to_pixiecore_json(&spec);
                if (!body)
                        return -ENOMEM;
                if (fmt == DAEMON_BOOT_PIXIECORE)
                        rt->boot_json = strdup(body); /* a failure here only costs a re-render */
        } else {
                result = DAEMON_BOOT_RESULT_LOCAL;
                if (fmt == DAEMON_BOOT_IPXE) {
                        const char *why = rt->st.state == PROVISION_INSTALLED
                                                  ? "is installed"
                                                  : "failed its last install attempt (reinstall it to retry)";
                        if (!(body = ipxe_render_local(n->name, why)))
                                return -ENOMEM;
                }
        }
done:
        *ret_result = result;
        *ret_body = TAKE_PTR(body);
        return 0;
}

/* A boot that makes a transition, as a batch's write. */
typedef struct BootWrite {
        const char *mac;
        DaemonBootFormat fmt;
        Firmware fw;
        DaemonBootResult result;
        char *body; /* owned */
} BootWrite;

static int boot_write(Daemon *d, void *ctx) {
        BootWrite *b = ctx;
        return boot_locked(d, true, b->mac, b->fmt, b->fw, &b->result, &b->body);
}

int daemon_boot(Daemon *d, const char *mac, DaemonBootFormat fmt, Firmware fw, DaemonBootResult *ret_result,
                char **ret_body) {
        /* Most boot requests change nothing (pixiecore repeating itself, installed nodes):
         * answer those under the shared lock; take it exclusively only to make a transition. */
        pthread_rwlock_rdlock(&d->lock);
        int r = boot_locked(d, false, mac, fmt, fw, ret_result, ret_body);
        pthread_rwlock_unlock(&d->lock);
        if (r != -EAGAIN)
                return r;
        BootWrite b = { .mac = mac, .fmt = fmt, .fw = fw };
        r = write_run(d, boot_write, &b);
        if (r < 0) {
                free(b.body); /* rendered, but the batch did not commit */
                return r;
        }
        *ret_result = b.result;
        *ret_body = b.body;
        return r;
}

int daemon_boot_peek(Daemon *d, const char *mac, DaemonBootResult *ret_result) {
        int r = 0;
        pthread_rwlock_rdlock(&d->lock);
        const Node *n = inventory_find_mac(d->inv, mac);
        if (!n)
                *ret_result = DAEMON_BOOT_RESULT_UNKNOWN;
        else {
                const NodeRuntime *rt = d->rt[n->index];
                const ProvisionTransition *t = netboot_transition(n, rt);
                if (!t)
                        r = -EPROTO;
                else
                        *ret_result = t->boot == PROVISION_BOOT_INSTALL ? DAEMON_BOOT_RESULT_INSTALL
                                      : t->boot == PROVISION_BOOT_IMAGE ? DAEMON_BOOT_RESULT_IMAGE
                                                                        : DAEMON_BOOT_RESULT_LOCAL;
        }
        pthread_rwlock_unlock(&d->lock);
        return r;
}

static int phase_to_event(const char *phase, ProvisionEvent *ret) {
        static const struct {
                const char *name;
                ProvisionEvent ev;
        } phases[] = {
                { "started", PROVISION_EV_PHASE },     { "partitioning", PROVISION_EV_PHASE },
                { "installing", PROVISION_EV_PHASE },  { "succeeded", PROVISION_EV_SUCCEEDED },
                { "failed", PROVISION_EV_FAILED },     { "running", PROVISION_EV_BOOT_RUNNING },
        };
        for (size_t i = 0; phase && i < ELEMENTSOF(phases); i++)
                if (streq(phases[i].name, phase)) {
                        *ret = phases[i].ev;
                        return 0;
                }
        return -EINVAL;
}

/* An installer event, as a batch's write: the token's attempt must be the node's open one. */
typedef struct InstallEventWrite {
        const uint8_t *hash; /* TOKEN_HASH_SIZE bytes */
        ProvisionEvent ev;
        const char *phase, *message;
        json_t *ret; /* the answer, once fn succeeded */
        char *errbuf;
        size_t errlen;
} InstallEventWrite;

/* The callback of a stateless node's boot (install_event_write() when the token is no install
 * token): phase running (booting -> running) or failed (-> failed), only while the token's
 * boot is the node's open one.  Lock held exclusively, in a batch. */
static int boot_event_write(Daemon *d, InstallEventWrite *w) {
        char *errbuf = w->errbuf;
        size_t errlen = w->errlen;
        StoreBoot b;

        int r = store_find_boot_token(d->store, w->hash, &b);
        if (r == -ENOENT)
                return errbuf_fail(-ENOKEY, errbuf, errlen, "unknown install or boot token");
        if (r < 0)
                return errbuf_fail(r, errbuf, errlen, "state store error: %s", strerror(-r));
        const Node *n = inventory_find_name(d->inv, b.node);
        if (!n)
                return errbuf_fail(-ENOENT, errbuf, errlen, "node %s is no longer in the inventory", b.node);
        if ((r = node_sync(d, n, false)) < 0)
                return errbuf_fail(r, errbuf, errlen, "state store error: %s", strerror(-r));
        NodeRuntime *rt = d->rt[n->index];
        if (b.ended_ms > 0 || rt->st.boot_id != b.id || !provision_state_has_open_boot(rt->st.state))
                return errbuf_fail(-EKEYEXPIRED, errbuf, errlen, "boot %lld of node %s is over (%s); this token is dead",
                                   (long long) b.seq, n->name, b.outcome[0] ? b.outcome : "superseded");
        ProvisionEvent ev = w->ev == PROVISION_EV_BOOT_RUNNING ? PROVISION_EV_BOOT_RUNNING
                            : w->ev == PROVISION_EV_FAILED     ? PROVISION_EV_BOOT_FAILED
                                                               : _PROVISION_EV_MAX;
        if (ev == _PROVISION_EV_MAX)
                return errbuf_fail(-EINVAL, errbuf, errlen,
                                   "a boot token reports phase \"running\" or \"failed\", not \"%s\"", w->phase);
        const ProvisionTransition *t = provision_transition(rt->st.state, ev);
        if (!t)
                return errbuf_fail(-EPROTO, errbuf, errlen, "node %s is %s: boot event %s not allowed", n->name,
                                   provision_state_to_string(rt->st.state), w->phase);
        _cleanup_free_ char *msg = NULL;
        if (asprintf(&msg, "%s (boot %lld)%s%s", t->why, (long long) b.seq, w->message && *w->message ? ": " : "",
                     w->message && *w->message ? w->message : "") < 0)
                return -ENOMEM;
        r = apply(d, n, t, NULL, msg, FIRMWARE_UNKNOWN);
        if (r < 0)
                return errbuf_fail(r, errbuf, errlen, "cannot record the event: %s", strerror(-r));
        w->ret = json_pack("{s:s, s:s, s:n, s:I, s:s, s:b}", "node", n->name, "state",
                           provision_state_to_string(rt->st.state), "attempt", "boot", (json_int_t) b.seq, "phase",
                           w->phase, "changed", true);
        return w->ret ? 0 : -ENOMEM;
}

static int install_event_write(Daemon *d, void *ctx) {
        InstallEventWrite *w = ctx;
        char *errbuf = w->errbuf;
        size_t errlen = w->errlen;
        const char *phase = w->phase, *message = w->message;
        ProvisionEvent ev = w->ev;
        StoreAttempt a;
        bool changed = false;

        int r = store_find_token(d->store, w->hash, &a);
        if (r == -ENOENT)
                return boot_event_write(d, w); /* a stateless node's boot token, or none */
        if (r < 0)
                return errbuf_fail(r, errbuf, errlen, "state store error: %s", strerror(-r));
        if (ev == PROVISION_EV_BOOT_RUNNING)
                return errbuf_fail(-EINVAL, errbuf, errlen,
                                   "phase \"running\" is a stateless node's (boot token); an installer reports "
                                   "started, partitioning, installing, succeeded or failed");
        const Node *n = inventory_find_name(d->inv, a.node);
        if (!n)
                return errbuf_fail(-ENOENT, errbuf, errlen, "node %s is no longer in the inventory", a.node);
        if ((r = node_sync(d, n, false)) < 0)
                return errbuf_fail(r, errbuf, errlen, "state store error: %s", strerror(-r));
        NodeRuntime *rt = d->rt[n->index];
        if (a.ended_ms > 0 || rt->st.attempt_id != a.id || !provision_state_has_open_attempt(rt->st.state)) {
                snprintf(errbuf, errlen, "install attempt %lld of node %s has ended (%s); this token is dead",
                         (long long) a.seq, n->name, a.outcome[0] ? a.outcome : "superseded");
                return -EKEYEXPIRED;
        }

        /* The same phase again is harmless: nothing changes, nothing is recorded. */
        if (!(ev == PROVISION_EV_PHASE && streq(rt->st.phase, phase) && rt->st.state == PROVISION_INSTALLING)) {
                const ProvisionTransition *t = provision_transition(rt->st.state, ev);
                if (!t)
                        return errbuf_fail(-EPROTO, errbuf, errlen,
                                           "node %s is %s: installer event %s not allowed", n->name,
                                           provision_state_to_string(rt->st.state), phase);
                _cleanup_free_ char *msg = NULL;
                if (asprintf(&msg, "%s%s%s%s%s", t->why, ev == PROVISION_EV_PHASE ? " " : "",
                             ev == PROVISION_EV_PHASE ? phase : "", message && *message ? ": " : "",
                             message && *message ? message : "") < 0)
                        return -ENOMEM;
                r = apply(d, n, t, phase, msg, FIRMWARE_UNKNOWN);
                if (r < 0)
                        return errbuf_fail(r, errbuf, errlen, "cannot record the event: %s", strerror(-r));
                changed = true;
        }

        w->ret = json_pack("{s:s, s:s, s:I, s:s, s:b}", "node", n->name, "state",
                           provision_state_to_string(rt->st.state), "attempt", (json_int_t) rt->st.attempt_seq, "phase",
                           rt->st.phase, "changed", changed);
        return w->ret ? 0 : -ENOMEM;
}

/* Checks an installer event's fields and hashes its token into hash and its event into *ret_ev;
 * on failure errbuf says why (-EINVAL, -ENOKEY). */
static int install_event_prepare(const char *token, const char *phase, const char *message,
                                 uint8_t hash[static TOKEN_HASH_SIZE], ProvisionEvent *ret_ev, char *errbuf,
                                 size_t errlen) {
        if (phase_to_event(phase, ret_ev) < 0)
                return errbuf_fail(-EINVAL, errbuf, errlen,
                                   "\"phase\" must be one of started, partitioning, installing, succeeded, failed "
                                   "(an installer) or running, failed (a stateless node's boot)");
        if (message && strlen(message) > INSTALL_MESSAGE_MAX)
                return errbuf_fail(-EINVAL, errbuf, errlen, "\"message\" is longer than %d bytes", INSTALL_MESSAGE_MAX);
        if (!token || token_hash(token, hash) < 0)
                return errbuf_fail(-ENOKEY, errbuf, errlen,
                                   "missing or malformed install token (Authorization: Bearer <token>)");
        if (errlen > 0)
                errbuf[0] = '\0';
        return 0;
}

/* The outcome of a write whose fn fills w_ret and errbuf (installer events, reports): r is the
 * write's result; on success *ret takes w_ret, else w_ret is dropped and errbuf says why. */
static int answer_result(int r, json_t *w_ret, const char *what, json_t **ret, char *errbuf, size_t errlen) {
        if (r < 0) {
                /* fn succeeded but the batch did not commit, or fn never ran (no transaction) */
                if (w_ret || (errlen > 0 && !errbuf[0]))
                        snprintf(errbuf, errlen, "cannot record the %s: %s", what, strerror(-r));
                json_decref(w_ret);
                return r;
        }
        *ret = w_ret;
        return 0;
}

int daemon_install_event(Daemon *d, const char *token, const char *phase, const char *message, json_t **ret,
                         char *errbuf, size_t errlen) {
        uint8_t hash[TOKEN_HASH_SIZE];
        ProvisionEvent ev;

        int r = install_event_prepare(token, phase, message, hash, &ev, errbuf, errlen);
        if (r < 0)
                return r;
        InstallEventWrite w = { .hash = hash, .ev = ev, .phase = phase, .message = message, .errbuf = errbuf,
                                .errlen = errlen };
        r = write_run(d, install_event_write, &w);
        return answer_result(r, w.ret, "event", ret, errbuf, errlen);
}

static Drift node_drift(const Daemon *d, const Node *n, const NodeRuntime *rt, int64_t now) {
        return drift_of(n->toplevel, rt->running, rt->booted, rt->reported_ms, now, d->silent_after_ms);
}

/* A node's summary (see daemon_nodes_scan()) from its inventory entry, its state and drift. */
const char *daemon_node_mode_to_string(NodeMode m) {
        switch (m) {
        case NODE_MODE_INSTALL:
                return "install";
        case NODE_MODE_STATELESS:
                return "stateless";
        default:
                return NULL;
        }
}

static json_t *summary_json(const Node *n, const StoreNodeState *st, Drift drift) {
        char ts[25];
        json_t *macs = json_array();
        for (size_t i = 0; macs && i < n->n_macs; i++)
                json_array_append_new(macs, json_string(n->macs[i]));
        json_t *attempt = st->attempt_id > 0 ? json_pack("{s:I, s:o}", "number", (json_int_t) st->attempt_seq, "phase",
                                                         st->phase[0] ? json_string(st->phase) : json_null())
                                             : json_null();
        const char *mode = daemon_node_mode_to_string(n->mode);
        return json_pack("{s:s, s:o, s:o, s:s, s:s, s:o, s:o, s:s}", "name", n->name, "mac", macs, "rack",
                         n->rack ? json_string(n->rack) : json_null(), "mode", mode ? mode : "install", "state",
                         provision_state_to_string(st->state),
                         "state_since", st->since_ms > 0 ? json_string(format_rfc3339(st->since_ms, ts)) : json_null(),
                         "attempt", attempt, "drift", drift_to_string(drift));
}

static json_t *node_summary(const Daemon *d, const Node *n, const NodeRuntime *rt, int64_t now) {
        return summary_json(n, &rt->st, node_drift(d, n, rt, now));
}

static bool node_matches(const Node *n, const StoreNodeState *st, Drift drift, const DaemonNodeFilter *f) {
        if (!f)
                return true;
        if (f->states && !(f->states & (1u << st->state)))
                return false;
        if (f->drifts && !(f->drifts & (1u << drift)))
                return false;
        if (f->name_glob && fnmatch(f->name_glob, n->name, 0) != 0)
                return false;
        if (f->rack && !(n->rack && streq(n->rack, f->rack)))
                return false;
        if (f->modes && !(f->modes & (1u << n->mode)))
                return false;
        return true;
}

/* What the node list takes of a node's in-memory state, copied under the lock. */
typedef struct NodeListed {
        StoreNodeState st;
        Drift drift;
        uint32_t index; /* Node.index */
} NodeListed;

int daemon_nodes_scan(Daemon *d, const DaemonNodeFilter *filter, const char *after, size_t max, json_t *out,
                      char ret_last[static INVENTORY_NAME_MAX + 1], bool *ret_end) {
        _cleanup_free_ NodeListed *listed = NULL;
        char last[INVENTORY_NAME_MAX + 1];
        size_t k = 0;
        bool end;
        int r = 0;

        assert(max > 0 && json_is_array(out));
        if (max > DAEMON_NODES_SCAN)
                max = DAEMON_NODES_SCAN;
        listed = malloc(max * sizeof *listed);
        if (!listed)
                return -ENOMEM;
        snprintf(last, sizeof last, "%s", after ? after : "");
        int64_t now = now_ms();
        /* Under the shared lock only a look at DAEMON_NODES_SCAN nodes at most, copying the
         * state of those that match, and the inventory held; the JSON is built after. */
        pthread_rwlock_rdlock(&d->lock);
        const Inventory *inv = d->inv;
        InventoryHold *hold = inventory_hold(d);
        size_t pos = inventory_name_after(inv, after), looked = 0;
        while (pos < inv->n_nodes && looked < DAEMON_NODES_SCAN && k < max) {
                uint32_t i = inv->name_order[pos++];
                looked++;
                Drift drift = node_drift(d, &inv->nodes[i], d->rt[i], now);
                if (node_matches(&inv->nodes[i], &d->rt[i]->st, drift, filter))
                        listed[k++] = (NodeListed) { .st = d->rt[i]->st, .drift = drift, .index = i };
        }
        if (looked > 0)
                snprintf(last, sizeof last, "%s", inv->nodes[inv->name_order[pos - 1]].name);
        end = pos >= inv->n_nodes;
        pthread_rwlock_unlock(&d->lock);

        for (size_t i = 0; i < k && r >= 0; i++)
                if (json_array_append_new(out, summary_json(&hold->inv->nodes[listed[i].index], &listed[i].st,
                                                            listed[i].drift)) < 0)
                        r = -ENOMEM;
        inventory_release(d, hold);
        if (r < 0)
                return r;
        memcpy(ret_last, last, sizeof last);
        *ret_end = end;
        return (int) k;
}

/* The in-memory part of GET /v1/nodes/<name> (lock held): the summary, with "attempt" and
 * "history" still to fill in (null), then system, report, credential, bmc. */
static json_t *node_detail(const Daemon *d, const Node *n, const NodeRuntime *rt) {
        _cleanup_(json_decrefp) json_t *o = node_summary(d, n, rt, now_ms());
        if (!o || json_object_set_new(o, "history", json_null()) < 0)
                return NULL;
        json_object_set_new(o, "system", json_pack("{s:s, s:o}", "toplevel", n->toplevel, "install",
                                                   n->install ? json_string(n->install) : json_null()));
        json_object_set_new(o, "image", n->image ? json_string(n->image->name) : json_null());
        char ts[25];
        json_object_set_new(o, "report",
                            rt->running ? json_pack("{s:s, s:s, s:s, s:f, s:s}", "running", rt->running, "booted",
                                                    rt->booted, "kernel", rt->kernel, "uptime", rt->uptime_s,
                                                    "reported_at", format_rfc3339(rt->reported_ms, ts))
                                        : json_null());
        json_object_set_new(o, "credential", json_boolean(rt->has_credential));
        json_object_set_new(o, "bmc",
                            n->has_bmc ? json_pack("{s:s, s:i, s:s?}", "host", n->bmc.host, "port", (int) n->bmc.port,
                                                   "user", n->bmc.user)
                                       : json_null());
        return TAKE_PTR(o);
}

int daemon_node_json(Daemon *d, const char *name, json_t **ret) {
        _cleanup_(json_decrefp) json_t *o = NULL, *attempt = NULL, *history = NULL, *boot = NULL;
        int64_t attempt_id = 0, boot_id = 0;
        int r = 0;

        /* The read connection first: waiting for one must not happen under the lock. */
        DaemonRead rd = read_begin(d);
        if (!rd.locked)
                pthread_rwlock_rdlock(&d->lock);
        const Node *n = inventory_find_name(d->inv, name);
        if (!n)
                r = -ENOENT;
        else if (!(o = node_detail(d, n, d->rt[n->index])))
                r = -ENOMEM;
        else {
                attempt_id = d->rt[n->index]->st.attempt_id;
                boot_id = d->rt[n->index]->st.boot_id;
                /* The store's snapshot is taken here, under the shared lock: a transition
                 * changes the store and the in-memory state together under the exclusive
                 * lock, so this snapshot is the store of exactly the state just read.  The
                 * queries then run on it outside the lock. */
                if (!rd.locked)
                        r = store_reader_snapshot(rd.store);
        }
        if (!rd.locked)
                pthread_rwlock_unlock(&d->lock);
        if (r >= 0)
                r = store_attempt_json(rd.store, attempt_id, &attempt);
        if (r >= 0)
                r = store_history_json(rd.store, name, &history);
        if (r >= 0)
                r = store_boot_json(rd.store, boot_id, &boot);
        read_end(&rd);
        if (r < 0)
                return r;
        if (json_object_set_new(o, "boot", TAKE_PTR(boot)) < 0 || json_object_set_new(o, "attempt", TAKE_PTR(attempt)) < 0 ||
            json_object_set_new(o, "history", TAKE_PTR(history)) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(o);
        return 0;
}

void daemon_state_counts(Daemon *d, size_t counts[static _PROVISION_STATE_MAX]) {
        memset(counts, 0, sizeof(size_t) * _PROVISION_STATE_MAX);
        pthread_rwlock_rdlock(&d->lock);
        for (size_t i = 0; i < d->inv->n_nodes; i++)
                if (d->rt[i]->st.state >= 0 && d->rt[i]->st.state < _PROVISION_STATE_MAX)
                        counts[d->rt[i]->st.state]++;
        pthread_rwlock_unlock(&d->lock);
}

void daemon_drift_counts(Daemon *d, size_t counts[static _DRIFT_MAX]) {
        memset(counts, 0, sizeof(size_t) * _DRIFT_MAX);
        int64_t now = now_ms();
        pthread_rwlock_rdlock(&d->lock);
        for (size_t i = 0; i < d->inv->n_nodes; i++)
                counts[node_drift(d, &d->inv->nodes[i], d->rt[i], now)]++;
        pthread_rwlock_unlock(&d->lock);
}

int daemon_summary_json(Daemon *d, json_t **ret) {
        size_t counts[_PROVISION_STATE_MAX], drifts[_DRIFT_MAX], total = 0;
        daemon_state_counts(d, counts);
        daemon_drift_counts(d, drifts);
        _cleanup_(json_decrefp) json_t *drift = json_object();
        if (!drift)
                return -ENOMEM;
        for (Drift k = 0; k < _DRIFT_MAX; k++)
                if (json_object_set_new(drift, drift_to_string(k), json_integer((json_int_t) drifts[k])) < 0)
                        return -ENOMEM;
        _cleanup_(json_decrefp) json_t *states = json_object();
        if (!states)
                return -ENOMEM;
        for (ProvisionState s = 0; s < _PROVISION_STATE_MAX; s++) {
                total += counts[s];
                if (json_object_set_new(states, provision_state_to_string(s), json_integer((json_int_t) counts[s])) < 0)
                        return -ENOMEM;
        }
        *ret = json_pack("{s:I, s:O, s:O, s:I}", "total", (json_int_t) total, "states", states, "drift", drift,
                         "last_event_id", (json_int_t) events_last_id(d->events));
        return *ret ? 0 : -ENOMEM;
}

int daemon_history_json(Daemon *d, const char *name, int64_t before, int64_t limit, json_t **ret) {
        _cleanup_(json_decrefp) json_t *history = NULL;

        /* Neither step waits for the daemon's lock.  The history needs no in-memory state:
         * the read connection's snapshot holds every transition answered before this call
         * (each is committed before its answer), so a caller sees the installer event it just
         * got a 200 for, and pages are cut by id, which later rows do not shift. */
        if (!node_known(d, name))
                return -ENOENT;
        DaemonRead rd = read_begin(d);
        /* One row more than asked tells whether an older page exists. */
        int r = store_events_json(rd.store,
                                  &(StoreEventQuery) { .node = name, .before_id = before, .limit = limit + 1,
                                                       .newest_first = true },
                                  &history);
        read_end(&rd);
        if (r < 0)
                return r;
        json_t *next = json_null();
        if ((int64_t) json_array_size(history) > limit) {
                json_array_remove(history, json_array_size(history) - 1);
                next = json_object_get(json_array_get(history, json_array_size(history) - 1), "id");
                next = json_integer(json_integer_value(next));
        }
        *ret = json_pack("{s:s, s:O, s:o}", "node", name, "history", history, "next_before", next);
        return *ret ? 0 : -ENOMEM;
}

int daemon_boots_json(Daemon *d, const char *name, int64_t before, int64_t limit, json_t **ret) {
        _cleanup_(json_decrefp) json_t *boots = NULL;
        if (!node_known(d, name))
                return -ENOENT;
        DaemonRead rd = read_begin(d);
        /* One row more than asked tells whether an older page exists. */
        int r = store_boots_json(rd.store, name, before, limit + 1, &boots);
        read_end(&rd);
        if (r < 0)
                return r;
        json_t *next = json_null();
        if ((int64_t) json_array_size(boots) > limit) {
                json_array_remove(boots, json_array_size(boots) - 1);
                next = json_integer(json_integer_value(
                        json_object_get(json_array_get(boots, json_array_size(boots) - 1), "id")));
        }
        *ret = json_pack("{s:s, s:O, s:o}", "node", name, "boots", boots, "next_before", next);
        return *ret ? 0 : -ENOMEM;
}

int daemon_events_json(Daemon *d, int64_t after_id, int64_t since_ms, int64_t limit, json_t **ret) {
        _cleanup_(json_decrefp) json_t *events = NULL;
        int64_t last = 0;

        /* Without the daemon's lock, from one snapshot (read_begin()): the rows and the newest
         * id agree, so a client that polls with after=last_event_id misses no event; ids are
         * given in commit order (one writer), so a snapshot is a prefix of the history. */
        DaemonRead rd = read_begin(d);
        int r = store_events_json(rd.store,
                                  &(StoreEventQuery) { .after_id = after_id, .since_ms = since_ms, .limit = limit,
                                                       .with_node = true },
                                  &events);
        if (r >= 0)
                r = store_last_event_id(rd.store, &last);
        read_end(&rd);
        if (r < 0)
                return r;
        size_t n = json_array_size(events);
        if (n > 0)
                last = json_integer_value(json_object_get(json_array_get(events, n - 1), "id"));
        *ret = json_pack("{s:O, s:I}", "events", events, "last_event_id", (json_int_t) last);
        return *ret ? 0 : -ENOMEM;
}

int daemon_events_sse(Daemon *d, int64_t after, size_t max_bytes, char **ret_text, size_t *ret_len, int64_t *ret_last) {
        int r = events_read_sse(d->events, after, max_bytes, ret_text, ret_len, ret_last);
        if (r != -ERANGE)
                return r;

        /* The reader is behind the in-memory ring: read the next events from the store,
         * without the daemon's lock (a snapshot is a prefix of the history: no gap). */
        _cleanup_(json_decrefp) json_t *events = NULL;
        DaemonRead rd = read_begin(d);
        r = store_events_json(rd.store, &(StoreEventQuery) { .after_id = after, .limit = 256, .with_node = true },
                              &events);
        read_end(&rd);
        if (r < 0)
                return r;

        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        if (!f)
                return -ENOMEM;
        int64_t last = after;
        size_t i;
        json_t *e;
        json_array_foreach(events, i, e) {
                int64_t id = json_integer_value(json_object_get(e, "id"));
                _cleanup_free_ char *json = json_dumps(e, JSON_COMPACT);
                _cleanup_free_ char *sse = json ? events_format_sse(id, json) : NULL;
                if (!sse) {
                        r = -ENOMEM;
                        break;
                }
                fputs(sse, f);
                last = id;
        }
        if (fclose(f) != 0 && r >= 0)
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
        return 0;
}

EventHub *daemon_events(Daemon *d) {
        return d->events;
}

void daemon_ping(Daemon *d) {
        pthread_rwlock_wrlock(&d->lock);
        pthread_rwlock_unlock(&d->lock);
}

int daemon_node_bmc(Daemon *d, const char *name, DaemonNodeBmc *ret) {
        const Node *n;
        int r = lock_node(d, name, false, &n);
        if (r < 0)
                return r;
        *ret = node_bmc(n);
        pthread_rwlock_unlock(&d->lock);
        return 0;
}

/* Applies event ev with `message` to node `name` under the exclusive lock. */
typedef struct EventWrite {
        const char *name;
        ProvisionEvent ev;
        const char *message;
        bool changed;
} EventWrite;

static int event_write(Daemon *d, void *ctx) {
        EventWrite *w = ctx;
        const Node *n = inventory_find_name(d->inv, w->name);
        if (!n)
                return -ENOENT;
        int r = node_sync(d, n, false);
        if (r < 0)
                return r;
        NodeRuntime *rt = d->rt[n->index];
        const ProvisionTransition *t = provision_transition(rt->st.state, w->ev);
        if (!t)
                return -EPROTO;
        w->changed = t->why != NULL;
        if (t->why || t->action != PROVISION_ACTION_NONE || t->to != rt->st.state)
                return apply(d, n, t, NULL, t->why ? w->message : NULL, FIRMWARE_UNKNOWN);
        /* a reinstall of a pending node: nothing to record, but observers hear of it */
        return apply_notice(d, n, t);
}

/* Applies event ev with `message` to node `name`, in a batch. */
static int apply_event(Daemon *d, const char *name, ProvisionEvent ev, const char *message, bool *ret_changed) {
        EventWrite w = { .name = name, .ev = ev, .message = message };
        int r = write_run(d, event_write, &w);
        if (r >= 0 && ret_changed)
                *ret_changed = w.changed;
        return r;
}

int daemon_mark_reinstall(Daemon *d, const char *name, bool *ret_changed) {
        return apply_event(d, name, PROVISION_EV_REINSTALL, NULL, ret_changed);
}

int daemon_record_bmc(Daemon *d, const char *name, const char *message) {
        return apply_event(d, name, PROVISION_EV_BMC, message, NULL);
}

/* The node whose open attempt is the oldest, if it opened at least deadline_ms before `now`
 * (lock held): true and *ret_index. */
static bool attempt_due(Daemon *d, int64_t deadline_ms, int64_t now, size_t *ret_index) {
        int64_t opened;
        return deadline_heap_peek(d->deadlines, ret_index, &opened) && now - opened >= deadline_ms;
}

typedef struct ExpireWrite {
        int64_t deadline_ms, now;
        int expired;
        bool more; /* stopped at DAEMON_EXPIRE_BATCH with more due */
} ExpireWrite;

/* Runs an expiring write (fn) batch after batch, each expiring at most DAEMON_EXPIRE_BATCH, so
 * that boot answers and other writes take the lock between them.  Returns how many expired in
 * all, or the errno of the batch that failed. */
static int expire_run(Daemon *d, int (*fn)(Daemon *d, void *ctx), int64_t deadline_ms, int64_t now) {
        int total = 0;
        ExpireWrite w;
        do {
                w = (ExpireWrite) { .deadline_ms = deadline_ms, .now = now };
                int r = write_run(d, fn, &w);
                if (r < 0)
                        return r;
                total += w.expired;
        } while (w.more);
        return total;
}

static int expire_write(Daemon *d, void *ctx);

int daemon_expire_attempts(Daemon *d, int64_t deadline_ms, int64_t now) {
        size_t i;
        if (deadline_ms <= 0)
                return 0;
        /* Nothing due is the usual outcome of this sweep: the oldest open attempt, read under
         * the shared lock, says so; the exclusive lock is taken (and the heap read again) only
         * to fail attempts, which leave the heap as they fail (apply_report()). */
        pthread_rwlock_rdlock(&d->lock);
        bool due = attempt_due(d, deadline_ms, now, &i);
        pthread_rwlock_unlock(&d->lock);
        if (!due || !sweep_claim(d, "install-deadline-sweep"))
                return 0;
        return expire_run(d, expire_write, deadline_ms, now);
}

static int expire_write(Daemon *d, void *ctx) {
        ExpireWrite *w = ctx;
        int64_t deadline_ms = w->deadline_ms, now = w->now;
        int r = 0, stale = 0;
        size_t i;
        while (attempt_due(d, deadline_ms, now, &i)) {
                if (w->expired == DAEMON_EXPIRE_BATCH) {
                        w->more = true;
                        break;
                }
                NodeRuntime *rt = d->rt[i];
                int64_t version = rt->st.version;
                /* Another instance may have ended (or swept) it meanwhile: look again then. */
                if ((r = node_sync(d, &d->inv->nodes[i], false)) < 0)
                        break;
                if (rt->st.version != version)
                        continue;
                const ProvisionTransition *t = provision_transition(rt->st.state, PROVISION_EV_TIMEOUT);
                if (!t) {
                        /* No timeout from this state: it cannot expire (and stays out of the
                         * heap until its next transition). */
                        deadline_heap_remove(d->deadlines, i);
                        continue;
                }
                char msg[160];
                snprintf(msg, sizeof msg, "%s (%lld s after the attempt opened)", t->why,
                         (long long) (deadline_ms / 1000));
                r = apply(d, &d->inv->nodes[i], t, NULL, msg, FIRMWARE_UNKNOWN);
                if (r == -ESTALE && ++stale < DAEMON_STALE_SWEEP_MAX) {
                        r = 0; /* taken over (node_sync()): look again */
                        continue;
                }
                if (r < 0)
                        break;
                w->expired++;
        }
        return r;
}

/* ---- boots of stateless nodes: the boot deadline, reboot ---------------------------------- */

/* The node whose open boot is the oldest, if it opened at least deadline_ms before `now`
 * (lock held): true and *ret_index. */
static bool boot_due(Daemon *d, int64_t deadline_ms, int64_t now, size_t *ret_index) {
        int64_t opened;
        return deadline_heap_peek(d->boot_deadlines, ret_index, &opened) && now - opened >= deadline_ms;
}

static int expire_boots_write(Daemon *d, void *ctx) {
        ExpireWrite *w = ctx;
        int r = 0, stale = 0;
        size_t i;
        while (boot_due(d, w->deadline_ms, w->now, &i)) {
                if (w->expired == DAEMON_EXPIRE_BATCH) {
                        w->more = true;
                        break;
                }
                NodeRuntime *rt = d->rt[i];
                int64_t version = rt->st.version;
                if ((r = node_sync(d, &d->inv->nodes[i], false)) < 0)
                        break;
                if (rt->st.version != version)
                        continue;
                const ProvisionTransition *t = provision_transition(rt->st.state, PROVISION_EV_TIMEOUT);
                if (!t || !provision_state_has_open_boot(rt->st.state)) {
                        deadline_heap_remove(d->boot_deadlines, i);
                        continue;
                }
                char msg[200];
                snprintf(msg, sizeof msg, "%s (boot %lld, %lld s after it opened)", t->why, (long long) rt->st.boot_seq,
                         (long long) (w->deadline_ms / 1000));
                r = apply(d, &d->inv->nodes[i], t, NULL, msg, FIRMWARE_UNKNOWN);
                if (r == -ESTALE && ++stale < DAEMON_STALE_SWEEP_MAX) {
                        r = 0;
                        continue;
                }
                if (r < 0)
                        break;
                w->expired++;
        }
        return r;
}

int daemon_expire_boots(Daemon *d, int64_t deadline_ms, int64_t now) {
        size_t i;
        if (deadline_ms <= 0)
                return 0;
        /* As daemon_expire_attempts(): nothing due is read under the shared lock. */
        pthread_rwlock_rdlock(&d->lock);
        bool due = boot_due(d, deadline_ms, now, &i);
        pthread_rwlock_unlock(&d->lock);
        if (!due || !sweep_claim(d, "boot-deadline-sweep"))
                return 0;
        return expire_run(d, expire_boots_write, deadline_ms, now);
}

int daemon_node_mode(Daemon *d, const char *name, NodeMode *ret) {
        const Node *n;
        int r = lock_node(d, name, false, &n);
        if (r < 0)
                return r;
        *ret = n->mode;
        pthread_rwlock_unlock(&d->lock);
        return 0;
}

int daemon_mark_reboot(Daemon *d, const char *name) {
        return apply_event(d, name, PROVISION_EV_REBOOT, NULL, NULL);
}

/* ---- the overlay route ----------------------------------------------------------------------- */

/* The overlay cache's credential function (no daemon lock held on entry): issues node `node` a
 * new node credential, replacing its old one, as daemon_issue_credential() does for an
 * installer. */
static int overlay_issue_credential(void *userdata, const char *node, char *buf, size_t buflen) {
        Daemon *d = userdata;
        char raw[TOKEN_STRING_MAX];
        uint8_t hash[TOKEN_HASH_SIZE];
        const Node *n;

        int r = lock_node(d, node, true, &n);
        if (r < 0)
                return r;
        token_new(raw, hash);
        r = store_credential_set(d->store, n->name, hash, now_ms(), 0);
        if (r >= 0) {
                NodeRuntime *rt = d->rt[n->index];
                rt->has_credential = true;
                memcpy(rt->credential_hash, hash, sizeof hash);
                if (snprintf(buf, buflen, DAEMON_CREDENTIAL_PREFIX "%s", raw) >= (int) buflen)
                        r = -ENOBUFS;
        }
        pthread_rwlock_unlock(&d->lock);
        sodium_memzero(raw, sizeof raw);
        if (r < 0)
                return log_node_errno(LOG_ERR, r, &((LogFields) { .node = node }), "cannot issue a node credential: %m");
        log_node(LOG_INFO, &((LogFields) { .node = node }),
                 "node credential issued into its overlay (the previous one, if any, is revoked)");
        return 0;
}

int daemon_overlay_get(Daemon *d, const char *token, OverlayBlob **ret, char *err, size_t errlen) {
        static const char dead[] = "boot token not valid or boot over";
        uint8_t hash[TOKEN_HASH_SIZE];
        StoreBoot b;

        if (!token || token_hash(token, hash) < 0)
                return errbuf_fail(-ENOENT, err, errlen, "%s", dead);
        /* The token's boot, from a read connection: without the daemon's lock. */
        DaemonRead rd = read_begin(d);
        int r = store_find_boot_token(rd.store, hash, &b);
        read_end(&rd);
        if (r == -ENOENT)
                return errbuf_fail(-ENOENT, err, errlen, "%s", dead);
        if (r < 0)
                return errbuf_fail(r, err, errlen, "state store error: %s", strerror(-r));

        /* Only while that boot is open: the token is on the node's /proc/cmdline, readable by
         * every user of the node, and the overlay holds the node credential. */
        pthread_rwlock_rdlock(&d->lock);
        const Node *n = inventory_find_name(d->inv, b.node);
        const NodeRuntime *rt = n ? d->rt[n->index] : NULL;
        bool open = n && n->mode == NODE_MODE_STATELESS && rt->st.boot_id == b.id &&
                    provision_state_has_open_boot(rt->st.state);
        InventoryHold *hold = open ? inventory_hold(d) : NULL;
        pthread_rwlock_unlock(&d->lock);
        if (!open)
                return errbuf_fail(-ENOENT, err, errlen, "%s", dead);

        OverlayBlob *blob = NULL;
        r = overlay_cache_get(d->overlays, n, d->public_url, &blob, err, errlen);
        inventory_release(d, hold);
        if (r < 0)
                return r;

        /* The boot records the overlay it was served (once per boot and overlay). */
        pthread_rwlock_wrlock(&d->lock);
        const Node *now = inventory_find_name(d->inv, b.node);
        NodeRuntime *nrt = now ? d->rt[now->index] : NULL;
        if (nrt && nrt->st.boot_id == b.id && (nrt->overlay_boot_id != b.id || !streq(nrt->overlay_etag, blob->etag))) {
                int k = store_boot_set_etag(d->store, b.id, blob->etag);
                if (k >= 0) {
                        nrt->overlay_boot_id = b.id;
                        snprintf(nrt->overlay_etag, sizeof nrt->overlay_etag, "%s", blob->etag);
                } else
                        log_node_errno(LOG_WARNING, k, &((LogFields) { .node = b.node }),
                                       "cannot record the overlay ETag of boot %lld: %m", (long long) b.seq);
        }
        pthread_rwlock_unlock(&d->lock);
        *ret = blob;
        return 0;
}

/* ---- discovery ------------------------------------------------------------------ */

bool daemon_mac_known(Daemon *d, const char *mac) {
        pthread_rwlock_rdlock(&d->lock);
        bool known = inventory_find_mac(d->inv, mac) != NULL;
        pthread_rwlock_unlock(&d->lock);
        return known;
}

int daemon_discovered_record(Daemon *d, const StoreDiscovered *entries, size_t n, int64_t max,
                             DaemonDiscoveredOutcome *outcomes) {
        _cleanup_free_ const StoreDiscovered **unknown = calloc(n + 1, sizeof *unknown);
        _cleanup_free_ StoreDiscoveredOutcome *store_out = calloc(n + 1, sizeof *store_out);
        _cleanup_free_ DaemonDiscoveredOutcome *out = calloc(n + 1, sizeof *out);
        size_t n_unknown = 0;
        int64_t rows = -1;
        if (!unknown || !store_out || !out)
                return -ENOMEM;

        pthread_rwlock_wrlock(&d->lock);
        /* The inventory may have changed since the packets were classified: check again. */
        for (size_t i = 0; i < n; i++) {
                if (inventory_find_mac(d->inv, entries[i].mac))
                        out[i] = DAEMON_DISCOVERED_KNOWN;
                else
                        unknown[n_unknown++] = &entries[i];
        }
        int r = store_discovered_merge(d->store, unknown, n_unknown, max, store_out);
        if (r >= 0)
                (void) store_discovered_count(d->store, &rows);
        pthread_rwlock_unlock(&d->lock);
        if (r < 0)
                return r;
        if (rows >= 0)
                metrics_discovered_nodes_set(rows);

        for (size_t i = 0, j = 0; i < n; i++) {
                if (out[i] == DAEMON_DISCOVERED_KNOWN)
                        continue;
                out[i] = store_out[j] == STORE_DISCOVERED_NEW    ? DAEMON_DISCOVERED_NEW
                         : store_out[j] == STORE_DISCOVERED_FULL ? DAEMON_DISCOVERED_FULL
                                                                 : DAEMON_DISCOVERED_RECORDED;
                j++;
        }
        memcpy(outcomes, out, n * sizeof *out);
        return 0;
}

int daemon_discovered_json(Daemon *d, json_t **ret) {
        _cleanup_(json_decrefp) json_t *arr = NULL;
        /* A read connection, without the daemon's lock: the table is the store's alone. */
        DaemonRead rd = read_begin(d);
        int r = store_discovered_json(rd.store, &arr);
        read_end(&rd);
        if (r < 0)
                return r;
        *ret = json_pack("{s:O}", "discovered", arr);
        return *ret ? 0 : -ENOMEM;
}

int daemon_discovered_forget(Daemon *d, const char *mac) {
        int64_t rows = -1;
        pthread_rwlock_wrlock(&d->lock);
        int r = store_discovered_delete(d->store, mac);
        if (r >= 0)
                (void) store_discovered_count(d->store, &rows);
        pthread_rwlock_unlock(&d->lock);
        if (rows >= 0)
                metrics_discovered_nodes_set(rows);
        return r;
}
/* ---- end discovery ------------------------------------------------------------------------ */
/* ---- console capture ------------------------------------------------------------ */

int daemon_node_attempt(Daemon *d, const char *name, int64_t *ret_seq) {
        const Node *n;
        int r = lock_node(d, name, false, &n);
        if (r < 0)
                return r;
        *ret_seq = d->rt[n->index]->st.attempt_seq;
        pthread_rwlock_unlock(&d->lock);
        return 0;
}

int daemon_record_console(Daemon *d, const char *name, const char *message) {
        return apply_event(d, name, PROVISION_EV_CONSOLE, message, NULL);
}

int daemon_set_console_tail(Daemon *d, int64_t event_id, const char *text) {
        pthread_rwlock_wrlock(&d->lock);
        int r = store_set_console(d->store, event_id, text);
        pthread_rwlock_unlock(&d->lock);
        return r;
}

/* ---- node credentials and reports ------------------------------------------------------- */

/* Finds the open attempt of install token `token`, with the lock held: as
 * daemon_install_event() does.  On success *ret_node and *ret_attempt. */
static int open_attempt_of_token(Daemon *d, const char *token, const Node **ret_node, StoreAttempt *ret_attempt,
                                 char *errbuf, size_t errlen) {
        uint8_t hash[TOKEN_HASH_SIZE];
        if (!token || token_hash(token, hash) < 0)
                return errbuf_fail(-ENOKEY, errbuf, errlen,
                                   "missing or malformed install token (Authorization: Bearer <token>)");
        int r = store_find_token(d->store, hash, ret_attempt);
        if (r == -ENOENT)
                return errbuf_fail(-ENOKEY, errbuf, errlen, "unknown install token");
        if (r < 0)
                return errbuf_fail(r, errbuf, errlen, "state store error: %s", strerror(-r));
        const Node *n = inventory_find_name(d->inv, ret_attempt->node);
        if (!n)
                return errbuf_fail(-ENOENT, errbuf, errlen, "node %s is no longer in the inventory", ret_attempt->node);
        const NodeRuntime *rt = d->rt[n->index];
        if (ret_attempt->ended_ms > 0 || rt->st.attempt_id != ret_attempt->id ||
            !provision_state_has_open_attempt(rt->st.state)) {
                snprintf(errbuf, errlen, "install attempt %lld of node %s has ended; this token is dead",
                         (long long) ret_attempt->seq, n->name);
                return -EKEYEXPIRED;
        }
        *ret_node = n;
        return 0;
}

int daemon_issue_credential(Daemon *d, const char *token, json_t **ret, char *errbuf, size_t errlen) {
        const Node *n = NULL; /* written by open_attempt_of_token() on success */
        StoreAttempt a;
        char raw[TOKEN_STRING_MAX], cred[DAEMON_CREDENTIAL_MAX];
        uint8_t hash[TOKEN_HASH_SIZE];

        pthread_rwlock_wrlock(&d->lock);
        int r = open_attempt_of_token(d, token, &n, &a, errbuf, errlen);
        if (r < 0)
                goto out;
        token_new(raw, hash);
        r = store_credential_set(d->store, n->name, hash, now_ms(), a.id);
        if (r < 0) {
                snprintf(errbuf, errlen, "cannot store the node credential: %s", strerror(-r));
                goto out;
        }
        NodeRuntime *rt = d->rt[n->index];
        rt->has_credential = true;
        memcpy(rt->credential_hash, hash, sizeof hash);
        snprintf(cred, sizeof cred, DAEMON_CREDENTIAL_PREFIX "%s", raw);
        log_node(LOG_INFO, &((LogFields) { .node = n->name, .attempt = a.seq }),
                 "node credential issued to the installer (the previous one, if any, is revoked)");
        *ret = json_pack("{s:s, s:s}", "node", n->name, "credential", cred);
        r = *ret ? 0 : -ENOMEM;
out:
        pthread_rwlock_unlock(&d->lock);
        sodium_memzero(raw, sizeof raw);
        sodium_memzero(cred, sizeof cred);
        return r;
}

int daemon_revoke_credential(Daemon *d, const char *name, char *errbuf, size_t errlen) {
        const Node *n;
        int r = lock_node(d, name, true, &n);
        if (r < 0)
                return errbuf_fail(r, errbuf, errlen, "no node \"%s\" in the inventory", name);
        NodeRuntime *rt = d->rt[n->index];
        if (!rt->has_credential) {
                r = errbuf_fail(-ENOENT, errbuf, errlen, "node %s holds no node credential", n->name);
                goto out;
        }
        r = store_credential_delete(d->store, n->name);
        if (r < 0 && r != -ENOENT) {
                snprintf(errbuf, errlen, "cannot revoke: %s", strerror(-r));
                goto out;
        }
        rt->has_credential = false;
        log_node(LOG_INFO, &((LogFields) { .node = n->name }), "node credential revoked");
        overlay_cache_invalidate(d->overlays, n->name); /* its cached overlay held it */
        r = 0;
out:
        pthread_rwlock_unlock(&d->lock);
        return r;
}

/* The kernel release a node reports: uname -r, 1-64 bytes of letters, digits and ".-_+~". */
static bool kernel_release_ok(const char *s) {
        size_t n = s ? strlen(s) : 0;
        if (n == 0 || n > 64)
                return false;
        for (; *s; s++)
                if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || strchr(".-_+~", *s)))
                        return false;
        return true;
}

/* A node report, as a batch's write. */
typedef struct ReportWrite {
        const char *name;
        const uint8_t *hash; /* the credential's, TOKEN_HASH_SIZE bytes */
        const char *running, *booted, *kernel;
        double uptime_s;
        json_t *ret; /* the answer, once fn succeeded */
        char *errbuf;
        size_t errlen;
} ReportWrite;

static int report_write(Daemon *d, void *ctx) {
        ReportWrite *w = ctx;
        const char *name = w->name, *running = w->running, *booted = w->booted, *kernel = w->kernel;
        const uint8_t *hash = w->hash;
        double uptime_s = w->uptime_s;
        char *errbuf = w->errbuf;
        size_t errlen = w->errlen;
        _cleanup_free_ char *msg = NULL, *r_run = NULL, *r_boot = NULL, *r_kern = NULL;
        int r;

        const Node *n = inventory_find_name(d->inv, name);
        if (!n)
                return errbuf_fail(-ENOENT, errbuf, errlen, "no node \"%s\" in the inventory", name);
        /* Its credential may have been issued through another instance. */
        if ((r = node_sync(d, n, true)) < 0)
                return errbuf_fail(r, errbuf, errlen, "state store error: %s", strerror(-r));
        NodeRuntime *rt = d->rt[n->index];
        if (!rt->has_credential || !token_hash_equal(rt->credential_hash, hash)) {
                /* Whose is it?  A credential of another node never reports for this one. */
                bool other = false;
                for (size_t i = 0; i < d->inv->n_nodes && !other; i++)
                        other = d->rt[i]->has_credential && token_hash_equal(d->rt[i]->credential_hash, hash);
                r = errbuf_fail(other ? -EACCES : -ENOKEY, errbuf, errlen,
                                "%s", other ? "this node credential belongs to another node"
                                            : "unknown node credential");
                goto out;
        }
        bool changed = !rt->running || !streq(rt->running, running);
        r_run = strdup(running);
        r_boot = strdup(booted);
        r_kern = strdup(kernel);
        if (!r_run || !r_boot || !r_kern ||
            asprintf(&msg, "running %s%s%s (expected %s)", running, rt->running ? ", was " : "", rt->running ? rt->running : "",
                     n->toplevel) < 0) {
                r = -ENOMEM;
                goto out;
        }
        /* A stateless node's first report of a boot says it runs: booting -> running. */
        bool boot_running = n->mode == NODE_MODE_STATELESS && provision_state_has_open_boot(rt->st.state);
        const ProvisionTransition *t =
                provision_transition(rt->st.state, boot_running ? PROVISION_EV_BOOT_RUNNING : PROVISION_EV_REPORT);
        if (!t) {
                r = -EPROTO;
                goto out;
        }
        if (boot_running) {
                free(msg);
                msg = NULL;
                if (asprintf(&msg, "%s (boot %lld): node reporter says running %s (expected %s)", t->why,
                             (long long) rt->st.boot_seq, running, n->toplevel) < 0) {
                        msg = NULL;
                        r = -ENOMEM;
                        goto out;
                }
        }
        int64_t at = now_ms();
        r = apply_report(d, n, t, NULL, msg, FIRMWARE_UNKNOWN,
                         &(StoreReport) { .running = running, .booted = booted, .kernel = kernel, .uptime_s = uptime_s },
                         changed || boot_running, NULL);
        if (r < 0) {
                snprintf(errbuf, errlen, "cannot record the report: %s", strerror(-r));
                goto out;
        }
        report_clear(rt);
        rt->running = TAKE_PTR(r_run);
        rt->booted = TAKE_PTR(r_boot);
        rt->kernel = TAKE_PTR(r_kern);
        rt->uptime_s = uptime_s;
        rt->reported_ms = at;
        Drift dr = node_drift(d, n, rt, at);
        w->ret = json_pack("{s:s, s:s, s:s, s:b}", "node", n->name, "drift", drift_to_string(dr), "expected", n->toplevel,
                           "changed", changed);
        r = w->ret ? 0 : -ENOMEM;
out:
        return r;
}

/* Checks a node report's fields and hashes its credential into hash; on failure errbuf says why
 * (-ENOKEY, -EACCES, -EINVAL). */
static int report_prepare(const char *credential, const char *running, const char *booted, const char *kernel,
                          double uptime_s, uint8_t hash[static TOKEN_HASH_SIZE], char *errbuf, size_t errlen) {
        if (!credential)
                return errbuf_fail(-ENOKEY, errbuf, errlen, "missing node credential (Authorization: Bearer pvn_...)");
        if (!strncmp(credential, "pvd_", 4) || token_is_form(credential))
                return errbuf_fail(-EACCES, errbuf, errlen,
                                   "%s is not accepted here: a node reports with its node credential",
                                   token_is_form(credential) ? "an install token" : "an API token");
        if (strncmp(credential, DAEMON_CREDENTIAL_PREFIX, strlen(DAEMON_CREDENTIAL_PREFIX)) != 0 ||
            token_hash(credential + strlen(DAEMON_CREDENTIAL_PREFIX), hash) < 0) {
                return errbuf_fail(-ENOKEY, errbuf, errlen,
                                   "malformed node credential (pvn_ and 43 base64url characters)");
        }
        if (!drift_store_path_ok(running) || !drift_store_path_ok(booted))
                return errbuf_fail(-EINVAL, errbuf, errlen,
                                   "\"running\" and \"booted\" must be /nix/store/ system paths");
        if (!kernel_release_ok(kernel))
                return errbuf_fail(-EINVAL, errbuf, errlen,
                                   "\"kernel\" must be a kernel release (uname -r): 1-64 of A-Z a-z 0-9 . - _ + ~");
        if (!(uptime_s >= 0 && uptime_s < 1e10))
                return errbuf_fail(-EINVAL, errbuf, errlen, "\"uptime\" must be seconds since boot, >= 0");
        if (errlen > 0)
                errbuf[0] = '\0';
        return 0;
}

int daemon_node_report(Daemon *d, const char *name, const char *credential, const char *running, const char *booted,
                       const char *kernel, double uptime_s, json_t **ret, char *errbuf, size_t errlen) {
        uint8_t hash[TOKEN_HASH_SIZE];
        int r = report_prepare(credential, running, booted, kernel, uptime_s, hash, errbuf, errlen);
        if (r < 0)
                return r;
        ReportWrite w = { .name = name, .hash = hash, .running = running, .booted = booted, .kernel = kernel,
                          .uptime_s = uptime_s, .errbuf = errbuf, .errlen = errlen };
        r = write_run(d, report_write, &w);
        return answer_result(r, w.ret, "report", ret, errbuf, errlen);
}

/* ---- suspended writes (see daemon.h) ---- */

struct DaemonWrite {
        Write w; /* w.async points back here */
        DaemonWriteKind kind;
        DaemonWriteDone done;
        void *userdata;
        char err[512];                 /* the write's message (installer events, reports) */
        uint8_t hash[TOKEN_HASH_SIZE]; /* the token's or credential's */
        char *s[4];                    /* owned copies of the request's strings */
        union {
                BootWrite boot;
                InstallEventWrite ev;
                ReportWrite report;
                EventWrite record;
        } u;
};

void daemon_write_free(DaemonWrite *a) {
        if (!a)
                return;
        if (a->kind == DAEMON_WRITE_BOOT)
                free(a->u.boot.body);
        else if (a->kind == DAEMON_WRITE_INSTALL_EVENT)
                json_decref(a->u.ev.ret);
        else if (a->kind == DAEMON_WRITE_REPORT)
                json_decref(a->u.report.ret);
        for (size_t i = 0; i < ELEMENTSOF(a->s); i++)
                free(a->s[i]);
        free(a);
}

static void daemon_write_freep(DaemonWrite **a) {
        daemon_write_free(*a);
}

/* A new suspended write of `kind` with copies of the n strings in v (NULL entries stay NULL),
 * or NULL when out of memory. */
static DaemonWrite *write_new(DaemonWriteKind kind, DaemonWriteDone done, void *userdata, const char *const *v, size_t n) {
        _cleanup_(daemon_write_freep) DaemonWrite *a = calloc(1, sizeof *a);
        if (!a)
                return NULL;
        a->kind = kind;
        a->done = done;
        a->userdata = userdata;
        a->w.async = a;
        for (size_t i = 0; i < n; i++)
                if (v[i] && !(a->s[i] = strdup(v[i])))
                        return NULL;
        return TAKE_PTR(a);
}

/* Completes the suspended writes of a batch (linked by done_next; no lock held): delivers
 * their transitions to the observers, then calls each one's done().  A write may be freed
 * by its owner as soon as its done() is called. */
static void write_complete(Daemon *d, Write *fin) {
        uint64_t upto = 0;
        for (Write *w = fin; w; w = w->done_next)
                if (w->upto > upto)
                        upto = w->upto;
        if (upto > 0)
                notify_deliver(d, upto);
        while (fin) {
                Write *next = fin->done_next;
                DaemonWrite *a = fin->async;
                a->done(a->userdata);
                fin = next;
        }
}

/* Queues write a (fn over ctx, a part of a) for the next batch; on success hands it to
 * *ret_write (the caller's once its done() is called) and returns 0, else leaves it with the
 * caller's cleanup and returns write_submit()'s errno. */
static int write_start(Daemon *d, DaemonWrite **a, int (*fn)(Daemon *d, void *ctx), void *ctx,
                       DaemonWrite **ret_write) {
        (*a)->w.fn = fn;
        (*a)->w.ctx = ctx;
        int r = write_submit(d, &(*a)->w);
        if (r < 0)
                return r;
        *ret_write = TAKE_PTR(*a);
        return 0;
}

int daemon_boot_submit(Daemon *d, const char *mac, DaemonBootFormat fmt, Firmware fw, DaemonWriteDone done,
                       void *userdata, DaemonBootResult *ret_result, char **ret_body, DaemonWrite **ret_write) {
        pthread_rwlock_rdlock(&d->lock);
        int r = boot_locked(d, false, mac, fmt, fw, ret_result, ret_body);
        pthread_rwlock_unlock(&d->lock);
        if (r != -EAGAIN) {
                if (r >= 0)
                        *ret_write = NULL;
                return r;
        }
        _cleanup_(daemon_write_freep) DaemonWrite *a = write_new(DAEMON_WRITE_BOOT, done, userdata, &mac, 1);
        if (!a)
                return -ENOMEM;
        a->u.boot = (BootWrite) { .mac = a->s[0], .fmt = fmt, .fw = fw };
        r = write_start(d, &a, boot_write, &a->u.boot, ret_write);
        return r < 0 ? r : 1;
}

int daemon_boot_finish(DaemonWrite *a, DaemonBootResult *ret_result, char **ret_body) {
        assert(a->kind == DAEMON_WRITE_BOOT);
        if (a->w.r < 0)
                return a->w.r;
        *ret_result = a->u.boot.result;
        *ret_body = TAKE_PTR(a->u.boot.body);
        return 0;
}

int daemon_install_event_submit(Daemon *d, const char *token, const char *phase, const char *message,
                                DaemonWriteDone done, void *userdata, DaemonWrite **ret_write, char *errbuf,
                                size_t errlen) {
        ProvisionEvent ev;
        _cleanup_(daemon_write_freep) DaemonWrite *a =
                write_new(DAEMON_WRITE_INSTALL_EVENT, done, userdata, (const char *const[]) { phase, message }, 2);
        if (!a)
                return -ENOMEM;
        int r = install_event_prepare(token, phase, message, a->hash, &ev, errbuf, errlen);
        if (r < 0)
                return r;
        a->u.ev = (InstallEventWrite) { .hash = a->hash, .ev = ev, .phase = a->s[0], .message = a->s[1],
                                        .errbuf = a->err, .errlen = sizeof a->err };
        return write_start(d, &a, install_event_write, &a->u.ev, ret_write);
}

int daemon_install_event_finish(DaemonWrite *a, json_t **ret, char *errbuf, size_t errlen) {
        assert(a->kind == DAEMON_WRITE_INSTALL_EVENT);
        snprintf(errbuf, errlen, "%s", a->err);
        return answer_result(a->w.r, TAKE_PTR(a->u.ev.ret), "event", ret, errbuf, errlen);
}

int daemon_node_report_submit(Daemon *d, const char *name, const char *credential, const char *running,
                              const char *booted, const char *kernel, double uptime_s, DaemonWriteDone done,
                              void *userdata, DaemonWrite **ret_write, char *errbuf, size_t errlen) {
        _cleanup_(daemon_write_freep) DaemonWrite *a = write_new(
                DAEMON_WRITE_REPORT, done, userdata, (const char *const[]) { name, running, booted, kernel }, 4);
        if (!a)
                return -ENOMEM;
        int r = report_prepare(credential, running, booted, kernel, uptime_s, a->hash, errbuf, errlen);
        if (r < 0)
                return r;
        a->u.report = (ReportWrite) { .name = a->s[0], .hash = a->hash, .running = a->s[1], .booted = a->s[2],
                                      .kernel = a->s[3], .uptime_s = uptime_s, .errbuf = a->err,
                                      .errlen = sizeof a->err };
        return write_start(d, &a, report_write, &a->u.report, ret_write);
}

/* The done() of a record nobody waits for (the batch leader's thread, no lock held). */
static void record_done(void *userdata) {
        DaemonWrite *a = userdata;
        if (a->w.r < 0)
                log_node(LOG_WARNING, &((LogFields) { .node = a->u.record.name }),
                         "cannot record a BMC outcome in the history: %s", strerror(-a->w.r));
        daemon_write_free(a);
}

int daemon_record_bmc_submit(Daemon *d, const char *name, const char *message) {
        _cleanup_(daemon_write_freep) DaemonWrite *a =
                write_new(DAEMON_WRITE_RECORD, record_done, NULL, (const char *const[]) { name, message }, 2);
        if (!a)
                return -ENOMEM;
        a->userdata = a;
        a->u.record = (EventWrite) { .name = a->s[0], .ev = PROVISION_EV_BMC, .message = a->s[1] };
        DaemonWrite *queued;
        return write_start(d, &a, event_write, &a->u.record, &queued);
}

int daemon_node_report_finish(DaemonWrite *a, json_t **ret, char *errbuf, size_t errlen) {
        assert(a->kind == DAEMON_WRITE_REPORT);
        snprintf(errbuf, errlen, "%s", a->err);
        return answer_result(a->w.r, TAKE_PTR(a->u.report.ret), "report", ret, errbuf, errlen);
}
