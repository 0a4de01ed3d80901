/* test-db.c — unit tests for db.h on both backends: SQLite on a file in a temp directory and,
 * when PROVD_TEST_PG_URL names a database (tests/tools/pg-cluster run), PostgreSQL.  Values of
 * every type through parameters and back, ?N reused and inside quotes, NULLs, the statement
 * cache, changes, errors as errno (a constraint is -EEXIST), a failed transaction that a
 * ROLLBACK TO SAVEPOINT recovers, and (PostgreSQL) the reconnect of a connection lost outside
 * a transaction and the failure of one lost inside it. */
#include "check-main.h"
#include "store-backend.h"
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db.h"
#include "util.h"

static char dir[64];

static void setup(void) {
        snprintf(dir, sizeof dir, "/tmp/provd-test-db-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        ck_assert_int_eq(system(cmd), 0);
}

/* Opens backend `pg` (0 SQLite, 1 PostgreSQL) with an empty table t; NULL when PostgreSQL is
 * not configured. */
static Db *open_db(int pg) {
        Db *db = NULL;
        if (pg) {
                const char *url = test_pg_url();
                if (!url)
                        return NULL;
                ck_assert_int_eq(db_open_postgresql(url, &db), 0);
                ck_assert_int_eq(db_kind(db), DB_POSTGRESQL);
                ck_assert_int_eq(db_exec(db, "DROP TABLE IF EXISTS t; CREATE TABLE t (id BIGINT PRIMARY KEY, "
                                             "name TEXT, x DOUBLE PRECISION, b BYTEA UNIQUE)"),
                                 0);
        } else {
                char path[128];
                snprintf(path, sizeof path, "%s/t.db", dir);
                ck_assert_int_eq(db_open_sqlite(path, 0, &db), 0);
                ck_assert_int_eq(db_kind(db), DB_SQLITE);
                ck_assert_int_eq(db_exec(db, "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, x REAL, b BLOB UNIQUE)"), 0);
        }
        return db;
}

static const char insert_sql[] = "INSERT INTO t (id, name, x, b) VALUES (?1, ?2, ?3, ?4) RETURNING id";
static const char select_sql[] =
        "SELECT id, name, x, b, '?1 is not a parameter', ?2 FROM t WHERE id = ?1 OR name = ?2 ORDER BY id";

static int insert(Db *db, int64_t id, const char *name, double x, const void *b, size_t n) {
        _cleanup_(db_donep) DbStmt *st = NULL;
        ck_assert_int_eq(db_prepare(db, insert_sql, &st), 0);
        db_bind_int64(st, 1, id);
        db_bind_text(st, 2, name);
        db_bind_double(st, 3, x);
        db_bind_blob(st, 4, b, n);
        int r = db_step(st);
        if (r < 0)
                return r;
        ck_assert_int_eq(r, 1);
        ck_assert_int_eq(db_column_int64(st, 0), id);
        ck_assert_int_eq(db_step(st), 0);
        return 0;
}

START_TEST(test_values) {
        _cleanup_(db_closep) Db *db = open_db(_i);
        if (!db)
                return;
        const uint8_t blob[] = { 0, 1, 2, 0xff, '\\', 'x', 0 };
        ck_assert_int_eq(insert(db, 5000000000LL, "a'b", 1.5, blob, sizeof blob), 0);
        ck_assert_int_eq(db_changes(db), 1);
        ck_assert_int_eq(insert(db, 2, NULL, -0.25, NULL, 0), 0);
        ck_assert_int_eq(insert(db, 3, "c", 0, "dup", 3), 0);
        ck_assert_int_eq(insert(db, 4, "d", 0, "dup", 3), -EEXIST);

        for (int pass = 0; pass < 2; pass++) { /* the second from the statement cache */
                _cleanup_(db_donep) DbStmt *st = NULL;
                ck_assert_int_eq(db_prepare(db, select_sql, &st), 0);
                db_bind_int64(st, 1, 2);
                db_bind_text(st, 2, "a'b");
                ck_assert_int_eq(db_step(st), 1);
                ck_assert_int_eq(db_column_int64(st, 0), 2);
                ck_assert(db_column_null(st, 1));
                ck_assert_ptr_null(db_column_text(st, 1));
                ck_assert(db_column_double(st, 2) == -0.25);
                size_t n = 99;
                ck_assert_ptr_null(db_column_blob(st, 3, &n));
                ck_assert_uint_eq(n, 0);
                ck_assert_str_eq(db_column_text(st, 4), "?1 is not a parameter");
                ck_assert_str_eq(db_column_text(st, 5), "a'b");
                ck_assert_int_eq(db_step(st), 1);
                ck_assert_int_eq(db_column_int64(st, 0), 5000000000LL);
                ck_assert_str_eq(db_column_text(st, 1), "a'b");
                ck_assert(db_column_double(st, 2) == 1.5);
                const void *b = db_column_blob(st, 3, &n);
                ck_assert_uint_eq(n, sizeof blob);
                ck_assert_mem_eq(b, blob, sizeof blob);
                ck_assert_int_eq(db_step(st), 0);
        }
        {
                /* A run left mid-way is dropped by db_done(). */
                DbStmt *st = NULL;
                ck_assert_int_eq(db_prepare(db, "SELECT id FROM t ORDER BY id", &st), 0);
                ck_assert_int_eq(db_step(st), 1);
                db_done(st);
                ck_assert_int_eq(db_prepare(db, "SELECT id FROM t ORDER BY id", &st), 0);
                ck_assert_int_eq(db_step(st), 1);
                ck_assert_int_eq(db_column_int64(st, 0), 2);
                db_done(st);
        }
        ck_assert_int_eq(db_exec(db, "UPDATE t SET x = 7"), 0);
        ck_assert_int_eq(db_changes(db), 3);
        ck_assert_int_eq(db_exec(db, "SELECT nonsense FROM t"), -EIO);
}
END_TEST

START_TEST(test_transactions) {
        _cleanup_(db_closep) Db *db = open_db(_i);
        if (!db)
                return;
        ck_assert(!db_in_transaction(db));
        ck_assert_int_eq(db_exec(db, "BEGIN"), 0);
        ck_assert(db_in_transaction(db));
        ck_assert_int_eq(insert(db, 1, "a", 0, "1", 1), 0);
        ck_assert_int_eq(db_exec(db, "SAVEPOINT write"), 0);
        ck_assert_int_eq(insert(db, 2, "b", 0, "1", 1), -EEXIST);
        ck_assert(db_in_transaction(db));
        ck_assert_int_eq(db_transaction_failed(db), _i == 1);
        ck_assert_int_eq(db_exec(db, "ROLLBACK TO write"), 0);
        ck_assert_int_eq(db_exec(db, "RELEASE write"), 0);
        ck_assert(!db_transaction_failed(db));
        ck_assert_int_eq(insert(db, 3, "c", 0, "3", 1), 0);
        ck_assert_int_eq(db_exec(db, "COMMIT"), 0);
        ck_assert(!db_in_transaction(db));
        DbStmt *st = NULL;
        ck_assert_int_eq(db_prepare(db, "SELECT COUNT(*) FROM t", &st), 0);
        ck_assert_int_eq(db_step(st), 1);
        ck_assert_int_eq(db_column_int64(st, 0), 2);
        db_done(st);
}
END_TEST

START_TEST(test_pg_reconnect) {
        _cleanup_(db_closep) Db *db = open_db(1);
        if (!db || !test_pg_can_restart())
                return;
        ck_assert_int_eq(insert(db, 1, "a", 0, "1", 1), 0);
        /* Lost outside a transaction: the next statement reconnects first and succeeds. */
        test_pg_restart();
        ck_assert_int_eq(insert(db, 2, "b", 0, "2", 1), 0);
        /* Lost inside a transaction: its statements fail until it ends, then all is well. */
        ck_assert_int_eq(db_exec(db, "BEGIN"), 0);
        ck_assert_int_eq(insert(db, 3, "c", 0, "3", 1), 0);
        test_pg_restart();
        ck_assert_int_eq(insert(db, 4, "d", 0, "4", 1), -ECONNRESET);
        ck_assert(db_in_transaction(db));
        ck_assert_int_eq(insert(db, 5, "e", 0, "5", 1), -ECONNRESET);
        ck_assert_int_eq(db_exec(db, "COMMIT"), -ECONNRESET);
        ck_assert(!db_in_transaction(db));
        ck_assert_int_eq(insert(db, 6, "f", 0, "6", 1), 0);
        DbStmt *st = NULL;
        ck_assert_int_eq(db_prepare(db, "SELECT string_agg(name, ',' ORDER BY id) FROM t", &st), 0);
        ck_assert_int_eq(db_step(st), 1);
        ck_assert_str_eq(db_column_text(st, 0), "a,b,f");
        db_done(st);
}
END_TEST

static Suite *db_suite(void) {
        Suite *s = suite_create("db");
        TCase *tc = tcase_create("db");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 60);
        tcase_add_loop_test(tc, test_values, 0, 2);
        tcase_add_loop_test(tc, test_transactions, 0, 2);
        tcase_add_test(tc, test_pg_reconnect);
        suite_add_tcase(s, tc);
        return s;
}

CHECK_MAIN(db_suite)
