/* test-daemon-reads.c — unit tests for daemon.c's reads of the store (node history, events,
 * node detail, discovered MACs), which run on the store's read connections:
 *  - read-your-writes: a history, events or node read right after an installer event was
 *    acknowledged contains it;
 *  - they do not wait for the daemon's lock: with a transition stuck inside it (another
 *    connection holds SQLite's write lock, so the transition waits in SQLite's busy handler
 *    while holding the daemon's exclusive lock), history, events and discovered reads still
 *    answer at once, without the uncommitted transition;
 *  - a node's detail read while transitions run shows the history and attempt of exactly the
 *    state it shows;
 *  - the node list, read in pieces each built outside the lock, stays valid and in name order
 *    while reloads replace the inventory;
 *  - the attempt-deadline sweep, which looks under the shared lock first, still fails what
 *    is due, and its deadline heap follows nodes through transitions and reloads.
 * A real Daemon on an inventory and state directory in a temp directory. */
#include "check-main.h"
#include "store-backend.h"
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "util.h"

static char dir[64];

/* Writes the inventory (atomically): nodes <prefix>-01 .. <prefix>-<n>, MACs 52:54:00:00:00:<i>,
 * in that order or (reverse) the other way round. */
static void write_inventory_order(const char *prefix, int n, bool reverse) {
        char path[128], tmp[140];
        snprintf(path, sizeof path, "%s/inventory.json", dir);
        snprintf(tmp, sizeof tmp, "%s.new", path);
        FILE *f = fopen(tmp, "w");
        ck_assert_ptr_nonnull(f);
        fputs("{\"version\": 1, \"nodes\": [", f);
        for (int k = 1; k <= n; k++) {
                int i = reverse ? n + 1 - k : k;
                fprintf(f,
                        "%s{\"name\": \"%s-%02d\", \"mac\": [\"52:54:00:00:00:%02x\"], "
                        "\"boot\": {\"kernel\": \"%s/bzImage\", \"initrd\": [\"%s/initrd\"], "
                        "\"cmdline\": \"init=/nix/store/x-installer/init\"}, "
                        "\"system\": {\"toplevel\": \"/nix/store/a-system-%02d\", \"install\": \"/nix/store/b-install-%02d\"}}",
                        k > 1 ? "," : "", prefix, i, i, dir, dir, i, i);
        }
        fputs("]}\n", f);
        ck_assert_int_eq(fclose(f), 0);
        ck_assert_int_eq(rename(tmp, path), 0);
}

static void write_inventory(const char *prefix, int n) {
        write_inventory_order(prefix, n, false);
}

static void setup(void) {
        char path[128];
        snprintf(dir, sizeof dir, "/tmp/provd-test-reads-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(dir));
        const char *files[] = { "bzImage", "initrd" };
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                snprintf(path, sizeof path, "%s/%s", dir, files[i]);
                FILE *f = fopen(path, "w");
                ck_assert_ptr_nonnull(f);
                fputs("boot file\n", f);
                fclose(f);
        }
        write_inventory("node", 3);
}

static void teardown(void) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        ck_assert_int_eq(system(cmd), 0);
}

static Daemon *daemon_open(void) {
        char inv[128], state[128];
        Daemon *d;
        snprintf(inv, sizeof inv, "%s/inventory.json", dir);
        snprintf(state, sizeof state, "%s/state", dir);
        ck_assert_int_eq(daemon_new(&(DaemonConfig) { .inventory_path = inv, .state_dir = state,
                                                      .state_url = test_state_url(),
                                                      .public_url = "http://127.0.0.1:1" },
                                    &d),
                         0);
        return d;
}

/* Netboots MAC (an iPXE boot) and returns the install token in the answer (static buffer). */
static const char *boot_token(Daemon *d, const char *mac) {
        static char tok[TOKEN_STRING_MAX];
        DaemonBootResult res;
        char *body = NULL;
        ck_assert_int_eq(daemon_boot(d, mac, DAEMON_BOOT_IPXE, FIRMWARE_UNKNOWN, &res, &body), 0);
        ck_assert_int_eq(res, DAEMON_BOOT_RESULT_INSTALL);
        const char *p = strstr(body, "provd.token=");
        ck_assert_ptr_nonnull(p);
        p += strlen("provd.token=");
        size_t n = strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_");
        ck_assert_uint_lt(n, sizeof tok);
        memcpy(tok, p, n);
        tok[n] = '\0';
        free(body);
        return tok;
}

/* An installer event, run on a thread of its own as an HTTP worker would. */
typedef struct Event {
        Daemon *d;
        const char *token, *phase, *message;
        int r;
        atomic_bool done;
} Event;

static void *event_thread(void *userdata) {
        Event *e = userdata;
        char err[256];
        json_t *o = NULL;
        e->r = daemon_install_event(e->d, e->token, e->phase, e->message, &o, err, sizeof err);
        json_decref(o);
        atomic_store(&e->done, true);
        return NULL;
}

static json_t *history_newest(Daemon *d, const char *node) {
        json_t *o = NULL;
        ck_assert_int_eq(daemon_history_json(d, node, 0, 1, &o), 0);
        json_t *e = json_incref(json_array_get(json_object_get(o, "history"), 0));
        json_decref(o);
        return e;
}

static const char *str(json_t *o, const char *key) {
        return json_string_value(json_object_get(o, key));
}

/* Every node matching f, in pieces of at most `piece` (daemon_nodes_scan() from the start to
 * the end), as {"nodes": [...]}; *ret_pieces (may be NULL) counts the calls. */
static json_t *nodes_all(Daemon *d, const DaemonNodeFilter *f, size_t piece, int *ret_pieces) {
        json_t *arr = json_array();
        char after[INVENTORY_NAME_MAX + 1] = "";
        bool end = false;
        int pieces = 0;
        ck_assert_ptr_nonnull(arr);
        while (!end) {
                int r = daemon_nodes_scan(d, f, after, piece, arr, after, &end);
                ck_assert_int_ge(r, 0);
                ck_assert_uint_le((size_t) r, piece);
                pieces++;
        }
        if (ret_pieces)
                *ret_pieces = pieces;
        return json_pack("{s:o}", "nodes", arr);
}

START_TEST(test_read_your_writes) {
        Daemon *d = daemon_open();
        int64_t last = 0;
        for (int k = 1; k <= 15; k++) {
                char msg[32];
                snprintf(msg, sizeof msg, "round %d", k);
                /* The boot opens attempt k (a boot mid-install reopens), the event starts it. */
                Event e = { .d = d, .token = boot_token(d, "52:54:00:00:00:01"), .phase = "started", .message = msg };
                pthread_t t;
                ck_assert_int_eq(pthread_create(&t, NULL, event_thread, &e), 0);
                ck_assert_int_eq(pthread_join(t, NULL), 0);
                ck_assert_int_eq(e.r, 0);

                /* Acknowledged: every read from now on contains it. */
                json_t *h = history_newest(d, "node-01");
                ck_assert_ptr_nonnull(h);
                ck_assert_str_eq(str(h, "to"), "installing");
                ck_assert_ptr_nonnull(strstr(str(h, "message"), msg));
                ck_assert_int_eq(json_integer_value(json_object_get(h, "attempt")), k);
                int64_t id = json_integer_value(json_object_get(h, "id"));
                ck_assert_int_gt(id, last);

                json_t *ev = NULL;
                ck_assert_int_eq(daemon_events_json(d, last, 0, 100, &ev), 0);
                ck_assert_int_eq(json_integer_value(json_object_get(ev, "last_event_id")), id);
                json_t *events = json_object_get(ev, "events");
                json_t *newest = json_array_get(events, json_array_size(events) - 1);
                ck_assert_int_eq(json_integer_value(json_object_get(newest, "id")), id);
                ck_assert_str_eq(str(newest, "node"), "node-01");
                json_decref(ev);

                json_t *n = NULL;
                ck_assert_int_eq(daemon_node_json(d, "node-01", &n), 0);
                ck_assert_str_eq(str(n, "state"), "installing");
                json_t *attempt = json_object_get(n, "attempt");
                ck_assert_int_eq(json_integer_value(json_object_get(attempt, "number")), k);
                ck_assert_str_eq(str(attempt, "phase"), "started");
                json_t *hist = json_object_get(n, "history");
                ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(hist, json_array_size(hist) - 1), "id")),
                                 id);
                json_decref(n);
                json_decref(h);
                last = id;
        }
        daemon_free(d);
}
END_TEST

/* Runs one of the reads below on a thread, to wait for it with a deadline. */
typedef struct Read {
        Daemon *d;
        int which; /* 0 history, 1 events, 2 discovered */
        int r;
        json_t *o;
        atomic_bool done;
} Read;

static void *read_thread(void *userdata) {
        Read *rd = userdata;
        switch (rd->which) {
        case 0:
                rd->r = daemon_history_json(rd->d, "node-01", 0, 100, &rd->o);
                break;
        case 1:
                rd->r = daemon_events_json(rd->d, -1, 0, 100, &rd->o);
                break;
        default:
                rd->r = daemon_discovered_json(rd->d, &rd->o);
        }
        atomic_store(&rd->done, true);
        return NULL;
}

/* Waits up to ms for *flag. */
static bool wait_flag(atomic_bool *flag, int ms) {
        for (int i = 0; i < ms / 10 && !atomic_load(flag); i++)
                usleep(10 * 1000);
        return atomic_load(flag);
}

typedef struct Probe {
        Daemon *d;
        atomic_bool done;
} Probe;

static void *probe_thread(void *userdata) {
        Probe *p = userdata;
        (void) daemon_node_count(p->d); /* the shared lock */
        atomic_store(&p->done, true);
        return NULL;
}

START_TEST(test_reads_do_not_wait_for_a_transition) {
        Daemon *d = daemon_open();
        char path[128];
        const char *tok = boot_token(d, "52:54:00:00:00:01");
        Event started = { .d = d, .token = tok, .phase = "started" };
        event_thread(&started);
        ck_assert_int_eq(started.r, 0);

        /* Another connection takes SQLite's write lock, so the next transition waits in the
         * store (busy timeout 5 s) with the daemon's exclusive lock held. */
        sqlite3 *other;
        snprintf(path, sizeof path, "%s/state/provd.db", dir);
        ck_assert_int_eq(sqlite3_open(path, &other), SQLITE_OK);
        ck_assert_int_eq(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
        Event stuck = { .d = d, .token = tok, .phase = "partitioning" };
        pthread_t te;
        ck_assert_int_eq(pthread_create(&te, NULL, event_thread, &stuck), 0);

        /* Wait until it holds the lock: a shared-lock probe no longer gets through. */
        Probe probe = { .d = d };
        pthread_t tp;
        bool held = false;
        for (int i = 0; i < 40 && !held; i++) {
                probe = (Probe) { .d = d };
                ck_assert_int_eq(pthread_create(&tp, NULL, probe_thread, &probe), 0);
                held = !wait_flag(&probe.done, 150);
                if (!held)
                        ck_assert_int_eq(pthread_join(tp, NULL), 0);
        }
        ck_assert_msg(held, "the installer event never took the daemon's lock");

        /* History, events and discovered reads answer while it is stuck there. */
        Read reads[3];
        pthread_t tr[3];
        for (int i = 0; i < 3; i++) {
                reads[i] = (Read) { .d = d, .which = i };
                ck_assert_int_eq(pthread_create(&tr[i], NULL, read_thread, &reads[i]), 0);
        }
        for (int i = 0; i < 3; i++)
                ck_assert_msg(wait_flag(&reads[i].done, 2000), "read %d waited for the daemon's lock", i);
        ck_assert(!atomic_load(&stuck.done));
        ck_assert(!atomic_load(&probe.done));

        /* ... and do not contain the transition that is not committed. */
        for (int i = 0; i < 3; i++) {
                ck_assert_int_eq(pthread_join(tr[i], NULL), 0);
                ck_assert_int_eq(reads[i].r, 0);
        }
        json_t *hist = json_object_get(reads[0].o, "history");
        ck_assert_uint_eq(json_array_size(hist), 2);
        ck_assert_str_eq(str(json_array_get(hist, 0), "to"), "installing");
        json_t *events = json_object_get(reads[1].o, "events");
        ck_assert_uint_eq(json_array_size(events), 2);
        ck_assert_int_eq(json_integer_value(json_object_get(reads[1].o, "last_event_id")), 2);
        ck_assert_uint_eq(json_array_size(json_object_get(reads[2].o, "discovered")), 0);
        for (int i = 0; i < 3; i++)
                json_decref(reads[i].o);

        /* Released: the transition goes through and the next read has it. */
        ck_assert_int_eq(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(other);
        ck_assert_int_eq(pthread_join(te, NULL), 0);
        ck_assert_int_eq(pthread_join(tp, NULL), 0);
        ck_assert_int_eq(stuck.r, 0);
        json_t *h = history_newest(d, "node-01");
        ck_assert_ptr_nonnull(strstr(str(h, "message"), "partitioning"));
        json_decref(h);
        daemon_free(d);
}
END_TEST

/* CHURN_ROUNDS rounds of two transitions of node-01 (boot: attempt reopened, installer
 * "started") on one thread, while node reads run on another. */
#define CHURN_ROUNDS 150
typedef struct Churn {
        Daemon *d;
        atomic_bool done;
} Churn;

static void *churn_thread(void *userdata) {
        Churn *c = userdata;
        for (int i = 0; i < CHURN_ROUNDS; i++) {
                Event e = { .d = c->d, .token = boot_token(c->d, "52:54:00:00:00:01"), .phase = "started" };
                event_thread(&e);
                ck_assert_int_eq(e.r, 0);
        }
        atomic_store(&c->done, true);
        return NULL;
}

/* Node reads until the churn is done; returns how many showed a history. */
#define NODE_READERS (2 * STORE_READERS_MAX)
typedef struct NodeReader {
        Daemon *d;
        Churn *churn;
        int reads;
} NodeReader;

static void *node_reader_thread(void *userdata) {
        NodeReader *nr = userdata;
        while (!atomic_load(&nr->churn->done)) {
                json_t *n = NULL;
                ck_assert_int_eq(daemon_node_json(nr->d, "node-01", &n), 0);
                json_t *hist = json_object_get(n, "history");
                if (json_array_size(hist) > 0) {
                        /* The history and the attempt are those of the state shown: the
                         * history ends with the state and the attempt, the attempt is open
                         * and in the phase of the state. */
                        json_t *newest = json_array_get(hist, json_array_size(hist) - 1);
                        json_t *attempt = json_object_get(n, "attempt");
                        ck_assert_str_eq(str(newest, "to"), str(n, "state"));
                        ck_assert_int_eq(json_integer_value(json_object_get(newest, "attempt")),
                                         json_integer_value(json_object_get(attempt, "number")));
                        ck_assert(json_is_null(json_object_get(attempt, "ended_at")));
                        if (streq(str(n, "state"), "installing"))
                                ck_assert_str_eq(str(attempt, "phase"), "started");
                        else
                                ck_assert(json_is_null(json_object_get(attempt, "phase")));
                        nr->reads++;
                }
                json_decref(n);
        }
        return NULL;
}

/* More readers than read connections: some wait for one between reading the state and
 * reading the history, while transitions commit. */
START_TEST(test_node_detail_consistent) {
        Daemon *d = daemon_open();
        Churn c = { .d = d };
        NodeReader nr[NODE_READERS];
        pthread_t t, tr[NODE_READERS];
        int reads = 0;
        ck_assert_int_eq(pthread_create(&t, NULL, churn_thread, &c), 0);
        for (int i = 0; i < NODE_READERS; i++) {
                nr[i] = (NodeReader) { .d = d, .churn = &c };
                ck_assert_int_eq(pthread_create(&tr[i], NULL, node_reader_thread, &nr[i]), 0);
        }
        ck_assert_int_eq(pthread_join(t, NULL), 0);
        for (int i = 0; i < NODE_READERS; i++) {
                ck_assert_int_eq(pthread_join(tr[i], NULL), 0);
                reads += nr[i].reads;
        }
        ck_assert_int_gt(reads, 10);
        daemon_free(d);
}
END_TEST

/* Reloads alternating between two inventories until told to stop. */
typedef struct Reloader {
        Daemon *d;
        atomic_bool stop;
        int reloads;
} Reloader;

static void *reload_thread(void *userdata) {
        Reloader *rl = userdata;
        while (!atomic_load(&rl->stop)) {
                bool other = rl->reloads % 2 == 0;
                write_inventory(other ? "rack" : "node", other ? 40 : 3);
                ck_assert_int_eq(daemon_reload(rl->d, NULL, 0), other ? 40 : 3);
                rl->reloads++;
        }
        return NULL;
}

/* The node list is read in pieces, each built after the lock is released from the inventory
 * it holds: a reload meanwhile must neither free it under the piece (AddressSanitizer would
 * say so) nor mix two inventories in one piece; across pieces the names only go up. */
START_TEST(test_node_list_during_reloads) {
        Daemon *d = daemon_open();
        Reloader rl = { .d = d };
        pthread_t t;
        ck_assert_int_eq(pthread_create(&t, NULL, reload_thread, &rl), 0);
        int lists = 0;
        for (int i = 0; i < 400 || rl.reloads < 10; i++) {
                json_t *arr = json_array();
                char after[INVENTORY_NAME_MAX + 1] = "", prev[INVENTORY_NAME_MAX + 1] = "";
                bool end = false;
                ck_assert_ptr_nonnull(arr);
                while (!end) {
                        size_t before = json_array_size(arr);
                        int r = daemon_nodes_scan(d, NULL, after, 7, arr, after, &end);
                        ck_assert_int_ge(r, 0);
                        ck_assert_uint_eq(json_array_size(arr), before + (size_t) r);
                        for (size_t k = before; k < json_array_size(arr); k++) {
                                const char *name = str(json_array_get(arr, k), "name");
                                ck_assert(startswith(name, str(json_array_get(arr, before), "name")[0] == 'n' ? "node-" : "rack-"));
                                ck_assert_int_gt(strcmp(name, prev), 0);
                                snprintf(prev, sizeof prev, "%s", name);
                        }
                }
                ck_assert_uint_le(json_array_size(arr), 40);
                lists++;
                json_decref(arr);
                /* history reads check the name against the inventory of the moment */
                json_t *o = NULL;
                int r = daemon_history_json(d, "rack-40", 0, 10, &o);
                ck_assert(r == 0 || r == -ENOENT);
                if (r == 0)
                        json_decref(o);
        }
        atomic_store(&rl.stop, true);
        ck_assert_int_eq(pthread_join(t, NULL), 0);
        ck_assert_int_gt(lists, 0);
        /* At rest: every node, once, in name order, however small the pieces. */
        write_inventory_order("node", 12, true);
        ck_assert_int_eq(daemon_reload(d, NULL, 0), 12);
        for (size_t piece = 1; piece <= 13; piece += 4) {
                int pieces;
                json_t *o = nodes_all(d, NULL, piece, &pieces);
                json_t *nodes = json_object_get(o, "nodes");
                ck_assert_uint_eq(json_array_size(nodes), 12);
                for (size_t k = 0; k < 12; k++) {
                        char want[16];
                        snprintf(want, sizeof want, "node-%02zu", k + 1);
                        ck_assert_str_eq(str(json_array_get(nodes, k), "name"), want);
                }
                ck_assert_int_eq(pieces, (int) ((12 + piece - 1) / piece));
                json_decref(o);
        }
        /* A position that is no node's name, and one after every name. */
        json_t *arr = json_array();
        char last[INVENTORY_NAME_MAX + 1];
        bool end;
        ck_assert_int_eq(daemon_nodes_scan(d, NULL, "node-05a", 2, arr, last, &end), 2);
        ck_assert_str_eq(str(json_array_get(arr, 0), "name"), "node-06");
        ck_assert_str_eq(last, "node-07");
        ck_assert(!end);
        ck_assert_int_eq(daemon_nodes_scan(d, NULL, "zzz", 2, arr, last, &end), 0);
        ck_assert_str_eq(last, "zzz");
        ck_assert(end);
        json_decref(arr);
        daemon_free(d);
}
END_TEST

/* The attempt-deadline sweep looks under the shared lock first: nothing due changes nothing,
 * and what is due is still failed. */
START_TEST(test_expire_sweep) {
        Daemon *d = daemon_open();
        (void) boot_token(d, "52:54:00:00:00:01");
        (void) boot_token(d, "52:54:00:00:00:02");
        int64_t now = now_ms();
        ck_assert_int_eq(daemon_expire_attempts(d, 3600 * 1000, now), 0);
        json_t *o = NULL;
        o = nodes_all(d, &(DaemonNodeFilter) { .states = 1u << PROVISION_NETBOOTING }, 100, NULL);
        ck_assert_uint_eq(json_array_size(json_object_get(o, "nodes")), 2);
        json_decref(o);
        ck_assert_int_eq(daemon_expire_attempts(d, 1000, now + 5000), 2);
        ck_assert_int_eq(daemon_expire_attempts(d, 1000, now + 5000), 0);
        o = nodes_all(d, &(DaemonNodeFilter) { .states = 1u << PROVISION_FAILED }, 100, NULL);
        ck_assert_uint_eq(json_array_size(json_object_get(o, "nodes")), 2);
        json_decref(o);
        json_t *h = history_newest(d, "node-02");
        ck_assert_str_eq(str(h, "cause"), "timeout");
        json_decref(h);
        daemon_free(d);
}
END_TEST

/* The deadline heap follows the nodes through transitions and reloads: a reload that moves
 * every node to another index, a node that installs (its attempt closes), a node the reload
 * removes; only the attempts still open and past the deadline fail. */
START_TEST(test_expire_after_reload) {
        write_inventory("node", 4);
        Daemon *d = daemon_open();
        const char *tok1 = strdup(boot_token(d, "52:54:00:00:00:01"));
        (void) boot_token(d, "52:54:00:00:00:03");
        (void) boot_token(d, "52:54:00:00:00:04");
        int64_t now = now_ms();
        write_inventory_order("node", 3, true); /* node-03 is index 0 now; node-04 is gone */
        ck_assert_int_eq(daemon_reload(d, NULL, 0), 3);
        char err[256];
        json_t *o = NULL;
        ck_assert_int_eq(daemon_install_event(d, tok1, "succeeded", NULL, &o, err, sizeof err), 0);
        json_decref(o);
        free((char *) tok1);
        ck_assert_int_eq(daemon_expire_attempts(d, 1000, now), 0);
        ck_assert_int_eq(daemon_expire_attempts(d, 1000, now + 5000), 1);
        ck_assert_int_eq(daemon_expire_attempts(d, 1000, now + 5000), 0);
        json_t *h = history_newest(d, "node-03");
        ck_assert_str_eq(str(h, "cause"), "timeout");
        json_decref(h);
        h = history_newest(d, "node-01");
        ck_assert_str_eq(str(h, "to"), "installed");
        json_decref(h);
        /* A reinstall and a netboot open a new attempt: it has a deadline again. */
        bool changed;
        ck_assert_int_eq(daemon_mark_reinstall(d, "node-01", &changed), 0);
        (void) boot_token(d, "52:54:00:00:00:01");
        ck_assert_int_eq(daemon_expire_attempts(d, 1000, now_ms() + 5000), 1);
        daemon_free(d);
}
END_TEST

/* The fixture of the PostgreSQL TCase. */
static void setup_pg(void) {
        store_backend_pg();
        setup();
}

static Suite *daemon_reads_suite(void) {
        Suite *s = suite_create("daemon-reads");
        for (int b = 0; b < store_backends(); b++) {
                TCase *tc = tcase_create(store_backend_name(b));
                tcase_add_checked_fixture(tc, b ? setup_pg : setup, teardown);
                tcase_set_timeout(tc, 60);
                tcase_add_test(tc, test_read_your_writes);
                if (b == 0) /* SQLite only */
                        tcase_add_test(tc, test_reads_do_not_wait_for_a_transition);
                tcase_add_test(tc, test_node_detail_consistent);
                tcase_add_test(tc, test_node_list_during_reloads);
                tcase_add_test(tc, test_expire_sweep);
                tcase_add_test(tc, test_expire_after_reload);
                suite_add_tcase(s, tc);
        }
        return s;
}

CHECK_MAIN(daemon_reads_suite)
