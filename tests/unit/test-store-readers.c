/* test-store-readers.c — unit tests for store.c's read connections (store_reader_acquire()):
 * a reader sees one snapshot for as long as it is lent (taken at its first read, or at
 * store_reader_snapshot()) and every write made before it was lent (read-your-writes), it does not wait for a write transaction another connection holds
 * open and does not see it, it cannot write, and no more than STORE_READERS_MAX are lent at
 * once (one more waits until one is given back).  On a real SQLite file in a temp directory,
 * and on PostgreSQL (store-readers-pg, store-backend.h: each read connection its own, in a
 * REPEATABLE READ READ ONLY transaction) but the writer holding SQLite's lock, with the
 * `discovered` table as the data (it needs no provision transitions). */
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

#include "store.h"
#include "util.h"

static char dir[64];

static void setup(void) {
        snprintf(dir, sizeof dir, "/tmp/provd-test-readers-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        ck_assert_int_eq(system(cmd), 0);
}

/* Records MAC 52:54:00:00:cc:<i> in the discovered table through the write connection. */
static void record(Store *s, int i) {
        StoreDiscovered e = { .first_seen_ms = 1000, .last_seen_ms = 1000, .count = 1, .arch = -1 };
        snprintf(e.mac, sizeof e.mac, "52:54:00:00:cc:%02x", i);
        const StoreDiscovered *p = &e;
        StoreDiscoveredOutcome out;
        ck_assert_int_eq(store_discovered_merge(s, &p, 1, 1000, &out), 0);
        ck_assert_int_eq(out, STORE_DISCOVERED_NEW);
}

static int64_t count(Store *s) {
        int64_t n = -1;
        ck_assert_int_eq(store_discovered_count(s, &n), 0);
        return n;
}

static int64_t elapsed_ms(const struct timespec *t0) {
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

START_TEST(test_snapshot_and_read_your_writes) {
        Store *s, *r1, *r2;
        ck_assert_int_eq(test_store_open(dir, &s), 0);
        record(s, 1);

        /* Lent after the write returned: it sees the write. */
        ck_assert_int_eq(store_reader_acquire(s, &r1), 0);
        ck_assert_ptr_ne(r1, s);
        ck_assert_int_eq(count(r1), 1);
        /* The writer is not held up by the open read transaction ... */
        record(s, 2);
        ck_assert_int_eq(count(s), 2);
        /* ... and the reader keeps its snapshot: both reads through it agree. */
        ck_assert_int_eq(count(r1), 1);
        json_t *arr = NULL;
        ck_assert_int_eq(store_discovered_json(r1, &arr), 0);
        ck_assert_uint_eq(json_array_size(arr), 1);
        json_decref(arr);
        store_reader_release(r1);

        /* The next loan (the same connection, given back) starts a new snapshot. */
        ck_assert_int_eq(store_reader_acquire(s, &r2), 0);
        ck_assert_int_eq(count(r2), 2);
        store_reader_release(r2);

        /* store_reader_snapshot() takes the snapshot before the first read: a write after it
         * is not seen. */
        ck_assert_int_eq(store_reader_acquire(s, &r1), 0);
        ck_assert_int_eq(store_reader_snapshot(r1), 0);
        record(s, 3);
        ck_assert_int_eq(count(r1), 2);
        store_reader_release(r1);
        ck_assert_int_eq(store_reader_snapshot(s), -EINVAL);

        /* Many write/read rounds: every read sees the write just before it. */
        for (int i = 4; i < 40; i++) {
                record(s, i);
                ck_assert_int_eq(store_reader_acquire(s, &r1), 0);
                ck_assert_int_eq(count(r1), i);
                store_reader_release(r1);
        }
        store_reader_release(NULL);
        store_free(s);
}
END_TEST

START_TEST(test_read_only) {
        Store *s, *r;
        ck_assert_int_eq(test_store_open(dir, &s), 0);
        record(s, 1);
        ck_assert_int_eq(store_reader_acquire(s, &r), 0);
        ck_assert_int_eq(store_discovered_delete(r, "52:54:00:00:cc:01"), -EROFS);
        /* a reader lends no reader */
        Store *rr;
        ck_assert_int_eq(store_reader_acquire(r, &rr), -EINVAL);
        store_reader_release(r);
        ck_assert_int_eq(count(s), 1);
        store_free(s);
}
END_TEST

/* Another connection (another process, as far as SQLite can tell) holds a write transaction
 * open with a row not yet committed: a reader neither waits for it nor sees the row. */
START_TEST(test_not_blocked_by_a_writer) {
        Store *s, *r;
        sqlite3 *other;
        char path[128];
        ck_assert_int_eq(test_store_open(dir, &s), 0);
        record(s, 1);
        snprintf(path, sizeof path, "%s/provd.db", dir);
        ck_assert_int_eq(sqlite3_open(path, &other), SQLITE_OK);
        ck_assert_int_eq(sqlite3_exec(other,
                                      "BEGIN IMMEDIATE; INSERT INTO discovered (mac, first_seen_ms, last_seen_ms, count) "
                                      "VALUES ('52:54:00:00:cc:99', 1, 1, 1)",
                                      NULL, NULL, NULL),
                         SQLITE_OK);

        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        ck_assert_int_eq(store_reader_acquire(s, &r), 0);
        ck_assert_int_eq(count(r), 1);
        store_reader_release(r);
        /* The busy timeout is 5 s: a read that waited for the lock would take that long. */
        ck_assert_int_lt(elapsed_ms(&t0), 2000);

        ck_assert_int_eq(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(other);
        ck_assert_int_eq(store_reader_acquire(s, &r), 0);
        ck_assert_int_eq(count(r), 2);
        store_reader_release(r);
        store_free(s);
}
END_TEST

typedef struct Borrower {
        Store *s;
        Store *got;
        atomic_bool done;
} Borrower;

static void *borrow(void *userdata) {
        Borrower *b = userdata;
        ck_assert_int_eq(store_reader_acquire(b->s, &b->got), 0);
        atomic_store(&b->done, true);
        return NULL;
}

START_TEST(test_pool_bound) {
        Store *s, *lent[STORE_READERS_MAX];
        ck_assert_int_eq(test_store_open(dir, &s), 0);
        record(s, 1);
        for (size_t i = 0; i < STORE_READERS_MAX; i++) {
                ck_assert_int_eq(store_reader_acquire(s, &lent[i]), 0);
                ck_assert_int_eq(count(lent[i]), 1);
                for (size_t j = 0; j < i; j++)
                        ck_assert_ptr_ne(lent[i], lent[j]);
        }
        /* All lent: one more waits ... */
        Borrower b = { .s = s };
        pthread_t t;
        ck_assert_int_eq(pthread_create(&t, NULL, borrow, &b), 0);
        usleep(300 * 1000);
        ck_assert(!atomic_load(&b.done));
        /* ... until one is given back, and then gets that one. */
        store_reader_release(lent[1]);
        ck_assert_int_eq(pthread_join(t, NULL), 0);
        ck_assert(atomic_load(&b.done));
        ck_assert_ptr_eq(b.got, lent[1]);
        ck_assert_int_eq(count(b.got), 1);
        store_reader_release(b.got);
        for (size_t i = 0; i < STORE_READERS_MAX; i++)
                if (i != 1)
                        store_reader_release(lent[i]);
        store_free(s);
}
END_TEST

/* The fixture of the PostgreSQL TCase. */
static void setup_pg(void) {
        store_backend_pg();
        setup();
}

static Suite *store_readers_suite(void) {
        Suite *s = suite_create("store-readers");
        for (int b = 0; b < store_backends(); b++) {
                TCase *tc = tcase_create(store_backend_name(b));
                tcase_add_checked_fixture(tc, b ? setup_pg : setup, teardown);
                tcase_set_timeout(tc, 30);
                tcase_add_test(tc, test_snapshot_and_read_your_writes);
                tcase_add_test(tc, test_read_only);
                if (b == 0) /* SQLite only */
                        tcase_add_test(tc, test_not_blocked_by_a_writer);
                tcase_add_test(tc, test_pool_bound);
                suite_add_tcase(s, tc);
        }
        return s;
}

CHECK_MAIN(store_readers_suite)
