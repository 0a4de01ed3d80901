/* test-store-multi.c — unit tests for what several provd instances on one database rely on, on
 * SQLite and (store-multi-pg) PostgreSQL: a fresh database migrates, and on PostgreSQL two
 * stores opening at once migrate once, one waiting for the other's advisory lock; a write from
 * a stale state is refused with -ESTALE and the current state (also across two stores on one
 * PostgreSQL database); token boxes round-trip; on PostgreSQL a notification reaches another
 * connection after a commit and not after a rollback, history ids follow commit order with two
 * writers interleaving, and a write after the server restarted reconnects (one inside a
 * transaction that the restart cut fails with -ECONNRESET, having written nothing). */
#include "check-main.h"
#include "store-backend.h"
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "provision.h"
#include "store.h"
#include "token.h"
#include "util.h"

static char dir[64], dir_a[96], dir_b[96];

static void setup(void) {
        snprintf(dir, sizeof dir, "/tmp/provd-test-multi-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(dir));
        snprintf(dir_a, sizeof dir_a, "%s/a", dir);
        snprintf(dir_b, sizeof dir_b, "%s/b", dir);
        ck_assert_int_ge(token_init(), 0);
        log_set_max_level(LOG_CRIT);
}

static void teardown(void) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        ck_assert_int_eq(system(cmd), 0);
}

static void setup_pg(void) {
        store_backend_pg();
        setup();
}

/* A StoreNotifyFn: appends the payload to the JSON array `userdata`. */
static int json_array_append_new_string(void *userdata, const char *payload) {
        return json_array_append_new(userdata, json_string(payload));
}

/* store_apply() of (cur->state, ev) on node at `at`, with token box `box` (may be NULL);
 * returns store_apply()'s result, the new state in *next. */
static int apply(Store *s, const char *node, const StoreNodeState *cur, ProvisionEvent ev, int64_t at, const char *box,
                 StoreNodeState *next, int64_t *event_id) {
        const ProvisionTransition *t = provision_transition(cur->state, ev);
        ck_assert_ptr_nonnull(t);
        char token[TOKEN_STRING_MAX];
        uint8_t h[TOKEN_HASH_SIZE];
        token_new(token, h);
        StoreTransition tr = { .node = node, .t = t, .new_token_hash = h, .image = "compute", .at_ms = at,
                               .record = true, .token_box = (const uint8_t *) box, .token_box_len = box ? strlen(box) : 0 };
        return store_apply(s, &tr, cur, next, event_id);
}

static int64_t history_rows(Store *s, const char *node) {
        json_t *h = NULL;
        ck_assert_int_eq(store_history_json(s, node, &h), 0);
        int64_t n = (int64_t) json_array_size(h);
        json_decref(h);
        return n;
}

START_TEST(test_fresh_database_migrates) {
        Store *s = NULL;
        ck_assert_int_eq(test_store_open(dir_a, &s), 0);
        ck_assert_int_eq(store_is_postgresql(s), test_backend == 1);
        StoreNodeState st = { .state = PROVISION_NEW }, next;
        ck_assert_int_eq(apply(s, "n1", &st, PROVISION_EV_NETBOOT, 1000, NULL, &next, NULL), 0);
        ck_assert_int_eq(next.version, 1);
        /* the tables of several instances are there */
        DbStmt *q = NULL;
        ck_assert_int_eq(db_prepare(store_db(s), "SELECT (SELECT COUNT(*) FROM instances) + (SELECT COUNT(*) FROM leases) + "
                                                 "(SELECT COUNT(*) FROM bmc_ops)",
                                    &q),
                         0);
        ck_assert_int_eq(db_step(q), 1);
        ck_assert_int_eq(db_column_int64(q, 0), 0);
        db_done(q);
        store_free(s);
        /* reopened: current, the row as it was */
        ck_assert_int_eq(test_store_open(dir_a, &s), 0);
        ck_assert_int_eq(store_get_node(s, "n1", &st), 0);
        ck_assert_int_eq(st.state, next.state);
        ck_assert_int_eq(st.attempt_seq, 1);
        ck_assert_int_eq(st.version, 1);
        store_free(s);
        if (test_backend == 1) {
                Db *db = NULL;
                ck_assert_int_eq(db_open_postgresql(test_pg_url(), &db), 0);
                ck_assert_int_eq(db_prepare(db, "SELECT COUNT(*), MAX(version) FROM provd_schema", &q), 0);
                ck_assert_int_eq(db_step(q), 1);
                ck_assert_int_eq(db_column_int64(q, 0), 1);
                ck_assert_int_eq(db_column_int64(q, 1), 11);
                db_done(q);
                db_close(db);
        }
}
END_TEST

typedef struct Opener {
        const char *state_dir;
        int r;
        Store *s;
        bool done;
} Opener;

static void *open_thread(void *userdata) {
        Opener *o = userdata;
        o->r = test_store_open(o->state_dir, &o->s);
        __atomic_store_n(&o->done, true, __ATOMIC_SEQ_CST);
        return NULL;
}

START_TEST(test_pg_two_open_at_once_migrate_once) {
        /* A third party holds the migration lock: both wait, then one migrates and the other
         * finds the schema current under the lock. */
        Db *holder = NULL;
        ck_assert_int_eq(db_open_postgresql(test_pg_url(), &holder), 0);
        ck_assert_int_eq(db_exec(holder, "SELECT pg_advisory_lock(" STRINGIFY(STORE_PG_LOCK_MIGRATE) ")"), 0);
        Opener a = { .state_dir = dir_a }, b = { .state_dir = dir_b };
        pthread_t ta, tb;
        ck_assert_int_eq(pthread_create(&ta, NULL, open_thread, &a), 0);
        ck_assert_int_eq(pthread_create(&tb, NULL, open_thread, &b), 0);
        usleep(500 * 1000);
        ck_assert(!__atomic_load_n(&a.done, __ATOMIC_SEQ_CST));
        ck_assert(!__atomic_load_n(&b.done, __ATOMIC_SEQ_CST));
        ck_assert_int_eq(db_exec(holder, "SELECT pg_advisory_unlock(" STRINGIFY(STORE_PG_LOCK_MIGRATE) ")"), 0);
        pthread_join(ta, NULL);
        pthread_join(tb, NULL);
        ck_assert_int_eq(a.r, 0);
        ck_assert_int_eq(b.r, 0);
        DbStmt *q = NULL;
        ck_assert_int_eq(db_prepare(holder, "SELECT COUNT(*), MAX(version) FROM provd_schema", &q), 0);
        ck_assert_int_eq(db_step(q), 1);
        ck_assert_int_eq(db_column_int64(q, 0), 1);
        ck_assert_int_eq(db_column_int64(q, 1), 11);
        db_done(q);
        db_close(holder);
        /* both work on the one database */
        StoreNodeState st = { .state = PROVISION_NEW }, next;
        ck_assert_int_eq(apply(a.s, "n1", &st, PROVISION_EV_NETBOOT, 1000, NULL, &next, NULL), 0);
        ck_assert_int_eq(store_get_node(b.s, "n1", &st), 0);
        ck_assert_int_eq(st.state, next.state);
        store_free(a.s);
        store_free(b.s);
}
END_TEST

START_TEST(test_stale_version) {
        Store *s = NULL;
        ck_assert_int_eq(test_store_open(dir_a, &s), 0);
        StoreNodeState fresh = { .state = PROVISION_NEW }, v1, v2, ret;
        ck_assert_int_eq(apply(s, "n1", &fresh, PROVISION_EV_NETBOOT, 1000, NULL, &v1, NULL), 0);
        ck_assert_int_eq(v1.version, 1);
        ck_assert_int_eq(apply(s, "n1", &v1, PROVISION_EV_SUCCEEDED, 2000, NULL, &v2, NULL), 0);
        ck_assert_int_eq(v2.version, 2);
        ck_assert_int_eq(v2.state, PROVISION_INSTALLED);
        int64_t rows = history_rows(s, "n1");

        /* From a state that is no longer the row's: nothing written, the current state back. */
        memset(&ret, 0xaa, sizeof ret);
        ck_assert_int_eq(apply(s, "n1", &v1, PROVISION_EV_FAILED, 3000, NULL, &ret, NULL), -ESTALE);
        ck_assert_int_eq(ret.state, PROVISION_INSTALLED);
        ck_assert_int_eq(ret.version, 2);
        ck_assert_int_eq(ret.since_ms, 2000);
        ck_assert_int_eq(ret.attempt_seq, 1);
        /* a node "new" to the caller that has a row */
        ck_assert_int_eq(apply(s, "n1", &fresh, PROVISION_EV_NETBOOT, 3000, NULL, &ret, NULL), -ESTALE);
        ck_assert_int_eq(ret.version, 2);
        ck_assert_int_eq(history_rows(s, "n1"), rows);
        ck_assert_int_eq(store_get_node(s, "n1", &ret), 0);
        ck_assert_int_eq(ret.state, PROVISION_INSTALLED);
        /* inside a batch only that write is undone */
        ck_assert_int_eq(store_batch_begin(s), 0);
        ck_assert_int_eq(apply(s, "n1", &v1, PROVISION_EV_FAILED, 3000, NULL, &ret, NULL), -ESTALE);
        ck_assert(store_batch_open(s));
        ck_assert_int_eq(apply(s, "n2", &fresh, PROVISION_EV_NETBOOT, 3000, NULL, &ret, NULL), 0);
        ck_assert_int_eq(store_batch_commit(s), 0);
        ck_assert_int_eq(store_get_node(s, "n2", &ret), 0);
        ck_assert_int_eq(ret.version, 1);

        if (test_backend == 1) {
                /* Another instance moves the node on: the first one's next write is stale. */
                Store *b = NULL;
                ck_assert_int_eq(test_store_open(dir_b, &b), 0);
                StoreNodeState b_cur, b_next;
                ck_assert_int_eq(store_get_node(b, "n1", &b_cur), 0);
                ck_assert_int_eq(apply(b, "n1", &b_cur, PROVISION_EV_REINSTALL, 4000, NULL, &b_next, NULL), 0);
                ck_assert_int_eq(b_next.version, 3);
                ck_assert_int_eq(apply(s, "n1", &v2, PROVISION_EV_REINSTALL, 4001, NULL, &ret, NULL), -ESTALE);
                ck_assert_int_eq(ret.version, 3);
                ck_assert_int_eq(ret.state, b_next.state);
                store_free(b);
        }
        store_free(s);
}
END_TEST

START_TEST(test_token_box) {
        Store *s = NULL;
        uint8_t buf[64];
        size_t n = 0;
        ck_assert_int_eq(test_store_open(dir_a, &s), 0);
        StoreNodeState st = { .state = PROVISION_NEW }, next;
        ck_assert_int_eq(store_token_box(s, "n1", buf, sizeof buf, &n), -ENOENT);
        /* an attempt's box, binary bytes included */
        const char box[] = "sealed\001\377\\x00 box";
        ck_assert_int_eq(apply(s, "n1", &st, PROVISION_EV_NETBOOT, 1000, box, &next, NULL), 0);
        ck_assert_int_eq(store_token_box(s, "n1", buf, sizeof buf, &n), 0);
        ck_assert_uint_eq(n, strlen(box));
        ck_assert_mem_eq(buf, box, n);
        ck_assert_int_eq(store_token_box(s, "n1", buf, 4, &n), -ENOBUFS);
        /* read connections see it too */
        Store *r = NULL;
        ck_assert_int_eq(store_reader_acquire(s, &r), 0);
        n = 0;
        ck_assert_int_eq(store_token_box(r, "n1", buf, sizeof buf, &n), 0);
        ck_assert_uint_eq(n, strlen(box));
        store_reader_release(r);
        /* the attempt ends: no box */
        st = next;
        ck_assert_int_eq(apply(s, "n1", &st, PROVISION_EV_SUCCEEDED, 2000, NULL, &next, NULL), 0);
        ck_assert_int_eq(store_token_box(s, "n1", buf, sizeof buf, &n), -ENOENT);
        /* a boot's box */
        st = next;
        ck_assert_int_eq(apply(s, "n1", &st, PROVISION_EV_IMAGE_NETBOOT_NO_TOKEN, 3000, "boot box", &next, NULL), 0);
        ck_assert_int_eq(next.state, PROVISION_BOOTING);
        ck_assert_int_eq(store_token_box(s, "n1", buf, sizeof buf, &n), 0);
        ck_assert_uint_eq(n, 8);
        ck_assert_mem_eq(buf, "boot box", 8);
        store_free(s);
}
END_TEST

START_TEST(test_listen) {
        Store *s = NULL, *l = NULL;
        ck_assert_int_eq(test_store_open(dir_a, &s), 0);
        if (test_backend == 0) {
                ck_assert_int_eq(store_listen_open(s, &l), -EOPNOTSUPP);
                store_free(s);
                return;
        }
        ck_assert_int_eq(store_listen_open(s, &l), 0);
        json_t *got = json_array();
        StoreNodeState st = { .state = PROVISION_NEW }, next;
        /* rolled back: nothing arrives */
        ck_assert_int_eq(store_batch_begin(s), 0);
        ck_assert_int_eq(apply(s, "n1", &st, PROVISION_EV_NETBOOT, 1000, NULL, &next, NULL), 0);
        store_batch_rollback(s);
        ck_assert_int_eq(store_listen_wait(l, 300, NULL, NULL), 0);
        /* committed: "n <node>", once the COMMIT is done */
        ck_assert_int_eq(store_batch_begin(s), 0);
        ck_assert_int_eq(apply(s, "n1", &st, PROVISION_EV_NETBOOT, 1000, NULL, &next, NULL), 0);
        ck_assert_int_eq(store_listen_wait(l, 200, NULL, NULL), 0);
        ck_assert_int_eq(store_batch_commit(s), 0);
        ck_assert_int_eq(store_listen_wait(l, 5000, json_array_append_new_string, got), 1);
        ck_assert_uint_eq(json_array_size(got), 1);
        ck_assert_str_eq(json_string_value(json_array_get(got, 0)), "n n1");
        /* credentials, and store_notify() of the caller's own */
        uint8_t h[TOKEN_HASH_SIZE] = { 1 };
        ck_assert_int_eq(store_credential_set(s, "n1", h, 2000, next.attempt_id), 0);
        ck_assert_int_eq(store_batch_begin(s), 0);
        ck_assert_int_eq(store_notify(s, "i instance-a"), 0);
        ck_assert_int_eq(store_batch_commit(s), 0);
        for (int i = 0; i < 10 && json_array_size(got) < 3; i++)
                ck_assert_int_ge(store_listen_wait(l, 1000, json_array_append_new_string, got), 0);
        ck_assert_uint_eq(json_array_size(got), 3);
        ck_assert_str_eq(json_string_value(json_array_get(got, 1)), "c n1");
        ck_assert_str_eq(json_string_value(json_array_get(got, 2)), "i instance-a");
        json_decref(got);
        store_listen_close(l);
        store_free(s);
}
END_TEST

typedef struct Writer {
        Store *s;
        const char *node;
        int r;
        int64_t event_id;
        bool done;
} Writer;

/* A batch of one transition, committed. */
static void *writer_thread(void *userdata) {
        Writer *w = userdata;
        StoreNodeState st = { .state = PROVISION_NEW }, next;
        w->r = store_batch_begin(w->s);
        if (w->r >= 0)
                w->r = apply(w->s, w->node, &st, PROVISION_EV_NETBOOT, 1000, NULL, &next, &w->event_id);
        if (w->r >= 0)
                w->r = store_batch_commit(w->s);
        else
                store_batch_rollback(w->s);
        __atomic_store_n(&w->done, true, __ATOMIC_SEQ_CST);
        return NULL;
}

START_TEST(test_pg_history_commit_order) {
        Store *a = NULL, *b = NULL;
        ck_assert_int_eq(test_store_open(dir_a, &a), 0);
        ck_assert_int_eq(test_store_open(dir_b, &b), 0);
        /* A writes its history row and holds its transaction open; B writes another node's
         * meanwhile: B's row must not get an id below A's and commit first, or a reader that
         * saw B's row would skip A's for ever. */
        StoreNodeState st = { .state = PROVISION_NEW }, next;
        int64_t id_a = 0;
        ck_assert_int_eq(store_batch_begin(a), 0);
        ck_assert_int_eq(apply(a, "na", &st, PROVISION_EV_NETBOOT, 1000, NULL, &next, &id_a), 0);
        Writer w = { .s = b, .node = "nb" };
        pthread_t t;
        ck_assert_int_eq(pthread_create(&t, NULL, writer_thread, &w), 0);
        usleep(500 * 1000);
        ck_assert(!__atomic_load_n(&w.done, __ATOMIC_SEQ_CST)); /* waits for A's history lock */
        ck_assert_int_eq(store_batch_commit(a), 0);
        pthread_join(t, NULL);
        ck_assert_int_eq(w.r, 0);
        ck_assert_int_gt(w.event_id, id_a);
        /* every row, in id order, is in commit order: na then nb */
        json_t *ev = NULL;
        ck_assert_int_eq(store_events_json(a, &(StoreEventQuery) { .after_id = -1, .with_node = true }, &ev), 0);
        ck_assert_uint_eq(json_array_size(ev), 2);
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(ev, 0), "node")), "na");
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(ev, 1), "node")), "nb");
        json_decref(ev);
        store_free(a);
        store_free(b);
}
END_TEST

START_TEST(test_pg_reconnect) {
        if (!test_pg_can_restart())
                return;
        Store *s = NULL, *r = NULL;
        ck_assert_int_eq(test_store_open(dir_a, &s), 0);
        StoreNodeState st = { .state = PROVISION_NEW }, v1, v2, ret;
        ck_assert_int_eq(apply(s, "n1", &st, PROVISION_EV_NETBOOT, 1000, NULL, &v1, NULL), 0);
        ck_assert_int_eq(store_reader_acquire(s, &r), 0);
        store_reader_release(r);

        /* Lost between transactions: the next write reconnects first and succeeds. */
        test_pg_restart();
        ck_assert_int_eq(apply(s, "n1", &v1, PROVISION_EV_SUCCEEDED, 2000, NULL, &v2, NULL), 0);
        ck_assert_int_eq(v2.state, PROVISION_INSTALLED);

        /* Lost inside a batch: its writes fail, its COMMIT fails, nothing of it is written. */
        ck_assert_int_eq(store_batch_begin(s), 0);
        ck_assert_int_eq(apply(s, "n2", &st, PROVISION_EV_NETBOOT, 3000, NULL, &ret, NULL), 0);
        test_pg_restart();
        ck_assert_int_eq(apply(s, "n3", &st, PROVISION_EV_NETBOOT, 3000, NULL, &ret, NULL), -ECONNRESET);
        ck_assert_int_lt(store_batch_commit(s), 0);
        /* and then all is well again, on the write and the read connections */
        ck_assert_int_eq(store_get_node(s, "n2", &ret), -ENOENT);
        ck_assert_int_eq(apply(s, "n3", &st, PROVISION_EV_NETBOOT, 4000, NULL, &ret, NULL), 0);
        ck_assert_int_eq(store_reader_acquire(s, &r), 0);
        ck_assert_int_eq(store_get_node(r, "n1", &ret), 0);
        ck_assert_int_eq(ret.state, PROVISION_INSTALLED);
        ck_assert_int_eq(store_get_node(r, "n3", &ret), 0);
        store_reader_release(r);
        store_free(s);
}
END_TEST

static Suite *store_multi_suite(void) {
        Suite *s = suite_create("store-multi");
        for (int b = 0; b < store_backends(); b++) {
                TCase *tc = tcase_create(store_backend_name(b));
                tcase_add_checked_fixture(tc, b ? setup_pg : setup, teardown);
                tcase_set_timeout(tc, 60);
                tcase_add_test(tc, test_fresh_database_migrates);
                tcase_add_test(tc, test_stale_version);
                tcase_add_test(tc, test_token_box);
                tcase_add_test(tc, test_listen);
                if (b == 1) {
                        tcase_add_test(tc, test_pg_two_open_at_once_migrate_once);
                        tcase_add_test(tc, test_pg_history_commit_order);
                        tcase_add_test(tc, test_pg_reconnect);
                }
                suite_add_tcase(s, tc);
        }
        return s;
}

CHECK_MAIN(store_multi_suite)
