/* test-store-cluster.c — unit tests for store-cluster.h's bmc_ops table, on SQLite (a file in a
 * temp directory) and, when PROVD_TEST_PG_URL names a database (tests/tools/pg-cluster run),
 * PostgreSQL: one queued or running operation per node (provd's own after an install aside), a
 * claim of the racks served (queued rows, and running rows whose lease expired: a takeover
 * naming the previous holder), renewals, progress and ends refused to a holder whose row was
 * taken over, claims abandoned at a restart, a release, reads and lists; and on PostgreSQL two
 * connections claiming 50 rows at once, each row claimed exactly once (FOR UPDATE SKIP LOCKED). */
#include "check-main.h"
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db.h"
#include "store-cluster.h"
#include "store.h"
#include "util.h"

static char dir[64], dir2[64];

static void setup(void) {
        snprintf(dir, sizeof dir, "/tmp/provd-test-cluster-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(dir));
        snprintf(dir2, sizeof dir2, "/tmp/provd-test-cluster-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(dir2));
}

static void teardown(void) {
        char cmd[160];
        snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", dir, dir2);
        ck_assert_int_eq(system(cmd), 0);
}

/* The store of backend pg (0 SQLite, 1 PostgreSQL) in state dir d, its bmc_ops table emptied;
 * NULL when PostgreSQL is not there to test. */
static Store *open_store(int pg, const char *d) {
        Store *s = NULL;
        const char *url = pg ? getenv("PROVD_TEST_PG_URL") : NULL;
        if (pg && (!url || !*url))
                return NULL;
        ck_assert_int_eq(store_open_url(url, d, &s), 0);
        ck_assert_int_eq(db_kind(store_db(s)) == DB_POSTGRESQL, pg);
        ck_assert_int_eq(db_exec(store_db(s), "DELETE FROM bmc_ops"), 0);
        return s;
}

static int count_row(void *userdata, const StoreBmcOp *op) {
        (void) op;
        (*(int *) userdata)++;
        return 0;
}

START_TEST(test_rows) {
        Store *s = open_store(_i, dir);
        if (!s)
                return;
        int64_t id1, id2, id3, x;

        /* One queued or running operation per node. */
        ck_assert_int_eq(store_bmc_op_insert(s, "n1", "r1", "reinstall", "{}", "a", NULL, 1000, 0, "{\"state\":\"queued\"}", &id1),
                         0);
        ck_assert_int_eq(store_bmc_op_insert(s, "n1", "r1", "power", "{}", "b", NULL, 1000, 0, NULL, &x), -EEXIST);
        ck_assert_int_eq(store_bmc_op_busy(s, "n1", &x), 0);
        ck_assert_int_eq(x, id1);
        ck_assert_int_eq(store_bmc_op_busy(s, "n9", &x), -ENOENT);
        /* provd's own boot device to disk after an install is not the node's operation. */
        int64_t own;
        ck_assert_int_eq(store_bmc_op_insert(s, "n1", "r1", STORE_BMC_OP_KIND_AFTER_INSTALL, "{}", "a", "a", 1000, 16000,
                                             NULL, &own),
                         0);
        ck_assert_int_eq(store_bmc_op_busy(s, "n1", &x), 0);
        ck_assert_int_eq(x, id1);
        ck_assert_int_eq(store_bmc_op_finish(s, own, "a", "succeeded", 1500, "{}"), 1);
        ck_assert_int_eq(store_bmc_op_insert(s, "n2", "r2", "power", "{\"action\":\"on\"}", "a", "a", 1000, 16000, NULL, &id2), 0);
        ck_assert_int_eq(store_bmc_op_insert(s, "n3", "", "power", "{}", "a", NULL, 1000, 0, NULL, &id3), 0);
        ck_assert_int_gt(id2, id1);
        ck_assert_int_gt(id3, id2);

        /* b serves r2 and r3: the rack-less queued row only (a holds n2's until 16000). */
        StoreBmcOp ops[8];
        size_t n;
        ck_assert_int_eq(store_bmc_op_claim(s, "b", "r2,r3", 2000, 15000, 8, ops, &n), 0);
        ck_assert_uint_eq(n, 1);
        ck_assert_int_eq(ops[0].id, id3);
        ck_assert_str_eq(ops[0].state, "running");
        ck_assert_str_eq(ops[0].holder, "b");
        ck_assert_str_eq(ops[0].prev_holder, "");
        store_bmc_op_done(&ops[0]);
        ck_assert_int_eq(store_bmc_op_renew(s, "b", 5000, 15000), 1);

        /* At 19000 a's claim has expired (b's, renewed, has not): b takes n2's over. */
        ck_assert_int_eq(store_bmc_op_claim(s, "b", "r2,r3", 19000, 15000, 8, ops, &n), 0);
        ck_assert_uint_eq(n, 1);
        ck_assert_int_eq(ops[0].id, id2);
        ck_assert_str_eq(ops[0].prev_holder, "a");
        ck_assert_int_eq(ops[0].takeovers, 1);
        ck_assert_str_eq(ops[0].kind, "power");
        ck_assert_str_eq(ops[0].params, "{\"action\":\"on\"}");
        store_bmc_op_done(&ops[0]);

        /* a, late, finds it gone. */
        ck_assert_int_eq(store_bmc_op_renew(s, "a", 19500, 15000), 0);
        ck_assert_int_eq(store_bmc_op_progress(s, id2, "a", 1, "{}"), 0);
        ck_assert_int_eq(store_bmc_op_finish(s, id2, "a", "succeeded", 19500, "{}"), 0);
        ck_assert_int_eq(store_bmc_op_progress(s, id2, "b", 1, "{\"step\":1}"), 1);

        /* Nothing more for b; c serving every rack gets n1's (r1). */
        ck_assert_int_eq(store_bmc_op_claim(s, "b", "r2,r3", 20000, 15000, 8, ops, &n), 0);
        ck_assert_uint_eq(n, 0);
        ck_assert_int_eq(store_bmc_op_claim(s, "c", NULL, 20000, 15000, 8, ops, &n), 0);
        ck_assert_uint_eq(n, 1);
        ck_assert_int_eq(ops[0].id, id1);
        store_bmc_op_done(&ops[0]);

        /* b's claims abandoned (a restart of b): its two rows are claimable again; c takes them
         * over, then gives n2's back, which b claims again. */
        ck_assert_int_eq(store_bmc_op_abandon(s, "b", 21000), 2);
        ck_assert_int_eq(store_bmc_op_claim(s, "c", "r2", 21000, 15000, 8, ops, &n), 0);
        ck_assert_uint_eq(n, 2);
        ck_assert_str_eq(ops[0].prev_holder, "b");
        ck_assert_str_eq(ops[1].prev_holder, "b");
        store_bmc_op_done(&ops[0]);
        store_bmc_op_done(&ops[1]);
        ck_assert_int_eq(store_bmc_op_renew(s, "b", 21000, 15000), 0);
        ck_assert_int_eq(store_bmc_op_release(s, id2, "c", NULL), 1);
        ck_assert_int_eq(store_bmc_op_claim(s, "b", "r2", 21000, 15000, 8, ops, &n), 0);
        ck_assert_uint_eq(n, 1);
        ck_assert_str_eq(ops[0].prev_holder, "");
        store_bmc_op_done(&ops[0]);

        /* b ends n2's; read back. */
        ck_assert_int_eq(store_bmc_op_finish(s, id2, "b", "succeeded", 22000, "{\"y\":2}"), 1);
        ck_assert_int_eq(store_bmc_op_finish(s, id2, "b", "succeeded", 22000, "{\"y\":2}"), 0);
        StoreBmcOp g;
        ck_assert_int_eq(store_bmc_op_get(s, id2, &g), 0);
        ck_assert_str_eq(g.state, "succeeded");
        ck_assert_str_eq(g.holder, "b");
        ck_assert_int_eq(g.takeovers, 2);
        ck_assert_str_eq(g.result, "{\"y\":2}");
        ck_assert_int_eq(g.ended_ms, 22000);
        ck_assert_int_eq(g.lease_expires_ms, 0);
        ck_assert_str_eq(g.created_by, "a");
        store_bmc_op_done(&g);
        ck_assert_int_eq(store_bmc_op_get(s, id2 + 1000, &g), -ENOENT);

        /* A release queues it again for anyone. */
        ck_assert_int_eq(store_bmc_op_release(s, id1, "b", NULL), 0);
        ck_assert_int_eq(store_bmc_op_release(s, id1, "c", NULL), 1);
        ck_assert_int_eq(store_bmc_op_get(s, id1, &g), 0);
        ck_assert_str_eq(g.state, "queued");
        ck_assert_str_eq(g.holder, "");
        ck_assert_ptr_null(g.result);
        store_bmc_op_done(&g);

        /* n2 is free again; lists, newest first. */
        ck_assert_int_eq(store_bmc_op_insert(s, "n2", "r2", "bootdev", "{}", "a", NULL, 23000, 0, NULL, &x), 0);
        int c = 0;
        ck_assert_int_ge(store_bmc_op_foreach(s, NULL, 10, count_row, &c), 0);
        ck_assert_int_eq(c, 5);
        c = 0;
        ck_assert_int_ge(store_bmc_op_foreach(s, "n2", 10, count_row, &c), 0);
        ck_assert_int_eq(c, 2);
        c = 0;
        ck_assert_int_ge(store_bmc_op_foreach(s, NULL, 1, count_row, &c), 0);
        ck_assert_int_eq(c, 1);

        int64_t next;
        if (_i) {
                ck_assert_int_eq(store_bmc_op_next_id(s, &next), 0);
                ck_assert_int_gt(next, x);
                ck_assert_int_eq(store_bmc_op_insert(s, "n5", "", "power", "{}", "a", NULL, 1000, 0, NULL, &id1), 0);
                ck_assert_int_gt(id1, next);
        } else
                ck_assert_int_eq(store_bmc_op_next_id(s, &next), -EOPNOTSUPP);
        store_free(s);
}
END_TEST

/* One claimer: claims batches of 4 until none is left, counting each row it got. */
typedef struct Claimer {
        Store *s;
        const char *name;
        int got[64];
} Claimer;

static void *claimer_main(void *userdata) {
        Claimer *c = userdata;
        for (;;) {
                StoreBmcOp ops[4];
                size_t n = 0;
                int r = store_bmc_op_claim(c->s, c->name, "r1", 1000, 60000, 4, ops, &n);
                ck_assert_int_eq(r, 0);
                if (n == 0)
                        return NULL;
                for (size_t i = 0; i < n; i++) {
                        ck_assert_int_eq(store_bmc_op_finish(c->s, ops[i].id, c->name, "succeeded", 1000, "{}"), 1);
                        c->got[atoi(ops[i].node + 1)]++;
                        store_bmc_op_done(&ops[i]);
                }
        }
}

START_TEST(test_claim_race) {
        Store *s = open_store(1, dir), *s2 = NULL;
        if (!s)
                return;
        ck_assert_int_eq(store_open_url(getenv("PROVD_TEST_PG_URL"), dir2, &s2), 0);
        for (int i = 0; i < 50; i++) {
                char node[16];
                int64_t id;
                snprintf(node, sizeof node, "n%d", i);
                ck_assert_int_eq(store_bmc_op_insert(s, node, "r1", "power", "{}", "x", NULL, 1000, 0, NULL, &id), 0);
        }
        Claimer a = { .s = s, .name = "a" }, b = { .s = s2, .name = "b" };
        pthread_t ta, tb;
        ck_assert_int_eq(pthread_create(&ta, NULL, claimer_main, &a), 0);
        ck_assert_int_eq(pthread_create(&tb, NULL, claimer_main, &b), 0);
        pthread_join(ta, NULL);
        pthread_join(tb, NULL);
        int total_a = 0, total_b = 0;
        for (int i = 0; i < 50; i++) {
                ck_assert_int_eq(a.got[i] + b.got[i], 1);
                total_a += a.got[i];
                total_b += b.got[i];
        }
        fprintf(stderr, "claim race: a claimed %d, b %d\n", total_a, total_b);
        store_free(s2);
        store_free(s);
}
END_TEST

static Suite *store_cluster_suite(void) {
        Suite *s = suite_create("store-cluster");
        TCase *tc = tcase_create("bmc_ops");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 60);
        tcase_add_loop_test(tc, test_rows, 0, 2);
        tcase_add_test(tc, test_claim_race);
        suite_add_tcase(s, tc);
        return s;
}

CHECK_MAIN(store_cluster_suite)
