/* store-backend.h — the store's unit tests run on both backends: SQLite (a file in the test's
 * temp directory) always, and PostgreSQL when PROVD_TEST_PG_URL names a database (meson's
 * '<name>-pg' tests run them under tests/tools/pg-cluster run).  A test file builds one TCase
 * per backend (store_backends()), the PostgreSQL one's fixture starting with
 * store_backend_pg(), which empties the database; the tests open the store through
 * test_store_open() or pass test_state_url() to daemon_new().  test-db.c, on db.h alone, uses
 * the PostgreSQL helpers (test_pg_url(), test_pg_restart()). */
#pragma once

#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* Whether the test's PostgreSQL cluster can be restarted (test_pg_restart()): it runs under
 * tests/tools/pg-cluster run, which says where (PROVD_TEST_PG_DIR, PROVD_PG_CLUSTER). */
static inline bool test_pg_can_restart(void) {
        return getenv("PROVD_TEST_PG_DIR") && getenv("PROVD_PG_CLUSTER");
}

/* Restarts the test's PostgreSQL cluster (tests/tools/pg-cluster restart): every client
 * connection is closed by the server. */
static inline void test_pg_restart(void) {
        const char *pgdir = getenv("PROVD_TEST_PG_DIR"), *tool = getenv("PROVD_PG_CLUSTER");
        char cmd[1024];
        ck_assert_ptr_nonnull(pgdir);
        ck_assert_ptr_nonnull(tool);
        snprintf(cmd, sizeof cmd, "'%s' restart '%s' >/dev/null", tool, pgdir);
        ck_assert_int_eq(system(cmd), 0);
}

/* Fixture start of the PostgreSQL TCase: the tests of this process use PostgreSQL, on an empty
 * database. */
static inline void store_backend_pg(void) {
        test_backend = 1;
        test_pg_exec("DROP SCHEMA public CASCADE; CREATE SCHEMA public");
}

static inline void test_shared_key_remove(void) {
        char path[64];
        snprintf(path, sizeof path, "/tmp/provd-test-key.%d", (int) getpid());
        (void) unlink(path);
}

/* The shared key file daemon_new() needs on PostgreSQL (DaemonConfig.shared_key_file): 32
 * bytes written once per process under /tmp (mode 0600), or NULL on SQLite. */
static inline const char *test_shared_key_file(void) {
        static char path[64];
        if (!test_backend)
                return NULL;
        if (!path[0]) {
                snprintf(path, sizeof path, "/tmp/provd-test-key.%d", (int) getpid());
                FILE *f = fopen(path, "w");
                ck_assert_ptr_nonnull(f);
                for (int i = 0; i < 32; i++)
                        fputc(i * 7 + 1, f);
                ck_assert_int_eq(fclose(f), 0);
                ck_assert_int_eq(chmod(path, 0600), 0);
                atexit(test_shared_key_remove);
        }
        return path;
}
