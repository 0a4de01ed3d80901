/* store-backend.h — the store's unit tests run on both backends: SQLite (a file in the test's
 * temp directory) always, and PostgreSQL when PROVD_TEST_PG_URL names a database (meson's
 * '<name>-pg' tests run them under tests/tools/pg-cluster run).  A test file builds one TCase
 * per backend (store_backends()), the PostgreSQL one's fixture starting with
 * store_backend_pg(), which empties the database; the tests open the store through
 * test_store_open() or pass test_state_url() to daemon_new(). */
#pragma once

#include <check.h>
#include <stdlib.h>

#include "db.h"
#include "store.h"

/* 0: SQLite; 1: PostgreSQL.  Set by the fixture in the test's own process (Check forks). */
static int test_backend;

static inline const char *test_pg_url(void) {
        const char *url = getenv("PROVD_TEST_PG_URL");
        return url && *url ? url : NULL;
}

/* How many backends to run the tests on: 2 when PostgreSQL is there, else 1. */
static inline int store_backends(void) {
        return test_pg_url() ? 2 : 1;
}

static inline const char *store_backend_name(int b) {
        return b ? "postgresql" : "sqlite";
}

/* The state URL of the test's backend: NULL (SQLite in the state directory) or the database. */
static inline const char *test_state_url(void) {
        return test_backend ? test_pg_url() : NULL;
}

static inline int test_store_open(const char *dir, Store **ret) {
        return store_open_url(test_state_url(), dir, ret);
}

/* Runs sql on the test's PostgreSQL database. */
static inline void test_pg_exec(const char *sql) {
        Db *db = NULL;
        ck_assert_ptr_nonnull(test_pg_url());
        ck_assert_int_eq(db_open_postgresql(test_pg_url(), &db), 0);
        ck_assert_int_eq(db_exec(db, sql), 0);
        db_close(db);
}

/* Fixture start of the PostgreSQL TCase: the tests of this process use PostgreSQL, on an empty
 * database. */
static inline void store_backend_pg(void) {
        test_backend = 1;
        test_pg_exec("DROP SCHEMA public CASCADE; CREATE SCHEMA public");
}
