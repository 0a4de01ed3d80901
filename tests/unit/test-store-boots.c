/* test-store-boots.c — unit tests for store.c's boots of stateless nodes: a boot opened by a
 * netboot transition (number, token, MAC, firmware, image), ended by leaving booting with the
 * right outcome (running, failed, timeout, abandoned), an install attempt abandoned by a boot,
 * the JSON of one boot and of a node's boots (newest first, paged), the overlay ETag, the
 * state read back after a reopen, and the migration of a database from before boots existed.
 * On a real SQLite file in a temp directory, and on PostgreSQL (store-boots-pg, store-backend.h),
 * but the migration from an older SQLite file. */
#include "check-main.h"
#include "store-backend.h"
#include <check.h>
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "provision.h"
#include "store.h"
#include "token.h"
#include "util.h"

static char dir[64];

static void setup(void) {
        snprintf(dir, sizeof dir, "/tmp/provd-test-boots-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(dir));
        ck_assert_int_ge(token_init(), 0);
}

static void teardown(void) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        ck_assert_int_eq(system(cmd), 0);
}

/* Applies (cur->state, ev) to node `node` at `at`; a new token's hash goes to hash (may be
 * NULL when the row opens nothing). */
static StoreNodeState step(Store *s, const char *node, const StoreNodeState *cur, ProvisionEvent ev, int64_t at,
                           uint8_t hash[TOKEN_HASH_SIZE]) {
        const ProvisionTransition *t = provision_transition(cur->state, ev);
        ck_assert_ptr_nonnull(t);
        char token[TOKEN_STRING_MAX];
        uint8_t h[TOKEN_HASH_SIZE];
        token_new(token, h);
        if (hash)
                memcpy(hash, h, sizeof h);
        StoreTransition tr = { .node = node, .t = t, .new_token_hash = h, .firmware = "efi-x64",
                               .mac = "52:54:00:00:00:01", .image = "compute", .at_ms = at, .record = t->why != NULL };
        StoreNodeState next;
        int64_t event_id = 0;
        ck_assert_int_eq(store_apply(s, &tr, cur, &next, &event_id), 0);
        return next;
}

START_TEST(test_boot_lifecycle) {
        Store *s = NULL;
        ck_assert_int_eq(test_store_open(dir, &s), 0);
        StoreNodeState st = { .state = PROVISION_NEW };
        uint8_t h1[TOKEN_HASH_SIZE], h2[TOKEN_HASH_SIZE], h3[TOKEN_HASH_SIZE];

        st = step(s, "c001", &st, PROVISION_EV_IMAGE_NETBOOT_NO_TOKEN, 1000, h1);
        ck_assert_int_eq(st.state, PROVISION_BOOTING);
        ck_assert_int_gt(st.boot_id, 0);
        ck_assert_int_eq(st.boot_seq, 1);
        ck_assert_int_eq(st.boot_opened_ms, 1000);
        ck_assert_int_eq(st.attempt_id, 0);
        int64_t first = st.boot_id;

        StoreBoot b;
        ck_assert_int_eq(store_find_boot_token(s, h1, &b), 0);
        ck_assert_str_eq(b.node, "c001");
        ck_assert_int_eq(b.id, first);
        ck_assert_int_eq(b.seq, 1);
        ck_assert_int_eq(b.ended_ms, 0);
        ck_assert_str_eq(b.outcome, "");
        StoreAttempt a;
        ck_assert_int_eq(store_find_token(s, h1, &a), -ENOENT); /* not an install token */
        ck_assert_int_eq(store_boot_set_etag(s, first, "\"abc\""), 0);
        ck_assert_int_eq(store_boot_set_etag(s, 9999, "\"abc\""), -ENOENT);

        /* running: the boot ends, the node keeps pointing at it */
        st = step(s, "c001", &st, PROVISION_EV_BOOT_RUNNING, 2000, NULL);
        ck_assert_int_eq(st.state, PROVISION_RUNNING);
        ck_assert_int_eq(st.boot_id, first);
        ck_assert_int_eq(st.boot_opened_ms, 0);
        ck_assert_int_eq(store_find_boot_token(s, h1, &b), 0);
        ck_assert_int_eq(b.ended_ms, 2000);
        ck_assert_str_eq(b.outcome, "running");

        /* the next netboot is boot 2; a new netboot while it is open abandons it */
        st = step(s, "c001", &st, PROVISION_EV_IMAGE_NETBOOT, 3000, h2);
        ck_assert_int_eq(st.boot_seq, 2);
        st = step(s, "c001", &st, PROVISION_EV_IMAGE_NETBOOT_NO_TOKEN, 4000, h3);
        ck_assert_int_eq(st.boot_seq, 3);
        ck_assert_int_eq(store_find_boot_token(s, h2, &b), 0);
        ck_assert_str_eq(b.outcome, "abandoned");
        /* deadline */
        st = step(s, "c001", &st, PROVISION_EV_TIMEOUT, 5000, NULL);
        ck_assert_int_eq(st.state, PROVISION_FAILED);
        ck_assert_int_eq(store_find_boot_token(s, h3, &b), 0);
        ck_assert_str_eq(b.outcome, "timeout");
        ck_assert_int_eq(b.ended_ms, 5000);

        json_t *o = NULL;
        ck_assert_int_eq(store_boot_json(s, first, &o), 0);
        ck_assert_int_eq(json_integer_value(json_object_get(o, "number")), 1);
        ck_assert_str_eq(json_string_value(json_object_get(o, "outcome")), "running");
        ck_assert_str_eq(json_string_value(json_object_get(o, "image")), "compute");
        ck_assert_str_eq(json_string_value(json_object_get(o, "firmware")), "efi-x64");
        ck_assert_str_eq(json_string_value(json_object_get(o, "mac")), "52:54:00:00:00:01");
        ck_assert_str_eq(json_string_value(json_object_get(o, "overlay_etag")), "\"abc\"");
        ck_assert(json_is_string(json_object_get(o, "ended_at")));
        json_decref(o);
        ck_assert_int_eq(store_boot_json(s, 0, &o), 0);
        ck_assert(json_is_null(o));
        json_decref(o);

        json_t *arr = NULL;
        ck_assert_int_eq(store_boots_json(s, "c001", 0, 2, &arr), 0);
        ck_assert_uint_eq(json_array_size(arr), 2);
        ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(arr, 0), "number")), 3);
        ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(arr, 1), "number")), 2);
        int64_t before = json_integer_value(json_object_get(json_array_get(arr, 1), "id"));
        json_decref(arr);
        ck_assert_int_eq(store_boots_json(s, "c001", before, 10, &arr), 0);
        ck_assert_uint_eq(json_array_size(arr), 1);
        ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(arr, 0), "number")), 1);
        json_decref(arr);
        ck_assert_int_eq(store_boots_json(s, "nobody", 0, 10, &arr), 0);
        ck_assert_uint_eq(json_array_size(arr), 0);
        json_decref(arr);
        store_free(s);

        /* reopened: the node's state and its last boot come back */
        s = NULL;
        ck_assert_int_eq(test_store_open(dir, &s), 0);
        StoreNodeState back;
        ck_assert_int_eq(store_get_node(s, "c001", &back), 0);
        ck_assert_int_eq(back.state, PROVISION_FAILED);
        ck_assert_int_eq(back.boot_seq, 3);
        ck_assert_int_gt(back.boot_id, first);
        store_free(s);
}
END_TEST

START_TEST(test_boot_abandons_attempt) {
        /* An install node turned stateless: its open attempt ends abandoned when the boot opens;
         * and back: the open boot ends abandoned when an install attempt opens. */
        Store *s = NULL;
        ck_assert_int_eq(test_store_open(dir, &s), 0);
        StoreNodeState st = { .state = PROVISION_NEW };
        uint8_t ha[TOKEN_HASH_SIZE], hb[TOKEN_HASH_SIZE];
        st = step(s, "n1", &st, PROVISION_EV_NETBOOT, 1000, ha);
        ck_assert_int_eq(st.state, PROVISION_NETBOOTING);
        st = step(s, "n1", &st, PROVISION_EV_IMAGE_NETBOOT_NO_TOKEN, 2000, hb);
        ck_assert_int_eq(st.state, PROVISION_BOOTING);
        StoreAttempt a;
        ck_assert_int_eq(store_find_token(s, ha, &a), 0);
        ck_assert_str_eq(a.outcome, "abandoned");
        st = step(s, "n1", &st, PROVISION_EV_NETBOOT_NO_TOKEN, 3000, NULL);
        ck_assert_int_eq(st.state, PROVISION_NETBOOTING);
        StoreBoot b;
        ck_assert_int_eq(store_find_boot_token(s, hb, &b), 0);
        ck_assert_str_eq(b.outcome, "abandoned");
        store_free(s);
}
END_TEST

/* The schema of a database from before boots existed (no boots table, no nodes.boot_id). */
static const char old_schema[] =
        "CREATE TABLE nodes (name TEXT PRIMARY KEY, state TEXT NOT NULL, state_since INTEGER NOT NULL,"
        "  attempt_id INTEGER REFERENCES attempts(id), created_at INTEGER NOT NULL);"
        "CREATE TABLE attempts (id INTEGER PRIMARY KEY AUTOINCREMENT, node TEXT NOT NULL, seq INTEGER NOT NULL,"
        "  token_hash BLOB UNIQUE, phase TEXT NOT NULL DEFAULT '', message TEXT, opened_at INTEGER NOT NULL,"
        "  ended_at INTEGER, outcome TEXT, firmware TEXT);"
        "CREATE INDEX attempts_node ON attempts(node, seq);"
        "CREATE TABLE history (id INTEGER PRIMARY KEY AUTOINCREMENT, node TEXT NOT NULL, at INTEGER NOT NULL,"
        "  from_state TEXT NOT NULL, to_state TEXT NOT NULL, cause TEXT NOT NULL, message TEXT, attempt_id INTEGER,"
        "  console TEXT);"
        "CREATE INDEX history_node ON history(node, id);"
        "CREATE INDEX history_at ON history(at);"
        "CREATE TABLE node_credentials (node TEXT PRIMARY KEY, hash BLOB NOT NULL UNIQUE, issued_at INTEGER NOT NULL,"
        "  attempt_id INTEGER);"
        "CREATE TABLE node_reports (node TEXT PRIMARY KEY, running TEXT NOT NULL, booted TEXT NOT NULL,"
        "  kernel TEXT NOT NULL, uptime_s REAL NOT NULL, reported_at INTEGER NOT NULL);"
        "CREATE TABLE discovered (mac TEXT PRIMARY KEY, first_seen_ms INTEGER NOT NULL, last_seen_ms INTEGER NOT NULL,"
        "  count INTEGER NOT NULL, arch INTEGER, uuid TEXT, vendor_class TEXT NOT NULL DEFAULT '',"
        "  user_class TEXT NOT NULL DEFAULT '', interface TEXT NOT NULL DEFAULT '', ipxe INTEGER NOT NULL DEFAULT 0);"
        "CREATE INDEX discovered_last_seen ON discovered(last_seen_ms);"
        "INSERT INTO attempts (node, seq, opened_at, ended_at, outcome) VALUES ('n1', 1, 100, 200, 'succeeded');"
        "INSERT INTO nodes VALUES ('n1', 'installed', 200, 1, 100);"
        "INSERT INTO history (node, at, from_state, to_state, cause, message, attempt_id)"
        "  VALUES ('n1', 200, 'installing', 'installed', 'installer', 'done', 1);"
        "PRAGMA journal_mode=WAL;"
        "PRAGMA user_version=1;";

START_TEST(test_boot_migration) {
        char path[128];
        snprintf(path, sizeof path, "%s/provd.db", dir);
        sqlite3 *db = NULL;
        ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
        char *msg = NULL;
        ck_assert_msg(sqlite3_exec(db, old_schema, NULL, NULL, &msg) == SQLITE_OK, "%s", msg ? msg : "");
        sqlite3_close(db);

        Store *s = NULL;
        ck_assert_int_eq(test_store_open(dir, &s), 0);
        /* the old rows are as they were */
        StoreNodeState st;
        ck_assert_int_eq(store_get_node(s, "n1", &st), 0);
        ck_assert_int_eq(st.state, PROVISION_INSTALLED);
        ck_assert_int_eq(st.attempt_seq, 1);
        ck_assert_int_eq(st.boot_id, 0);
        json_t *h = NULL;
        ck_assert_int_eq(store_history_json(s, "n1", &h), 0);
        ck_assert_uint_eq(json_array_size(h), 1);
        json_decref(h);
        /* and the node can turn stateless */
        uint8_t hb[TOKEN_HASH_SIZE];
        st = step(s, "n1", &st, PROVISION_EV_IMAGE_NETBOOT_NO_TOKEN, 1000, hb);
        ck_assert_int_eq(st.state, PROVISION_BOOTING);
        ck_assert_int_eq(st.boot_seq, 1);
        store_free(s);

        /* a second open finds the schema current */
        s = NULL;
        ck_assert_int_eq(test_store_open(dir, &s), 0);
        ck_assert_int_eq(store_get_node(s, "n1", &st), 0);
        ck_assert_int_eq(st.state, PROVISION_BOOTING);
        ck_assert_int_eq(st.boot_seq, 1);
        ck_assert_int_eq(st.boot_opened_ms, 1000);
        store_free(s);
}
END_TEST

/* The fixture of the PostgreSQL TCase. */
static void setup_pg(void) {
        store_backend_pg();
        setup();
}

static Suite *store_boots_suite(void) {
        Suite *s = suite_create("store-boots");
        for (int b = 0; b < store_backends(); b++) {
                TCase *tc = tcase_create(store_backend_name(b));
                tcase_add_checked_fixture(tc, b ? setup_pg : setup, teardown);
                tcase_add_test(tc, test_boot_lifecycle);
                tcase_add_test(tc, test_boot_abandons_attempt);
                if (b == 0) /* SQLite only */
                        tcase_add_test(tc, test_boot_migration);
                suite_add_tcase(s, tc);
        }
        return s;
}

CHECK_MAIN(store_boots_suite)
