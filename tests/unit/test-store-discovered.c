/* test-store-discovered.c — unit tests for store.c's `discovered` table: how a batch
 * merges into a row (first/last seen, count, arch/uuid kept when a packet lacks them, classes
 * of the latest packet, ipxe sticky), the discovery_max cap (updates always, inserts only
 * below it), the JSON shape and order, delete, prune by a known-MAC predicate, and that the
 * rows survive closing and reopening the store.  On a real SQLite file in a
 * temp directory, and on PostgreSQL (store-discovered-pg, store-backend.h). */
#include "check-main.h"
#include "store-backend.h"
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"
#include "util.h"

static char dir[64];

static void setup(void) {
        snprintf(dir, sizeof dir, "/tmp/provd-test-store-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        ck_assert_int_eq(system(cmd), 0);
}

static StoreDiscovered entry(const char *mac, int64_t at, int64_t count, int arch, const char *uuid,
                             const char *vendor, const char *user, bool ipxe) {
        StoreDiscovered e = { .first_seen_ms = at, .last_seen_ms = at, .count = count, .arch = arch, .ipxe = ipxe };
        snprintf(e.mac, sizeof e.mac, "%s", mac);
        snprintf(e.uuid, sizeof e.uuid, "%s", uuid);
        snprintf(e.vendor_class, sizeof e.vendor_class, "%s", vendor);
        snprintf(e.user_class, sizeof e.user_class, "%s", user);
        snprintf(e.interface, sizeof e.interface, "br0");
        return e;
}

static int merge(Store *s, StoreDiscovered *e, size_t n, int64_t max, StoreDiscoveredOutcome *out) {
        const StoreDiscovered *p[8];
        ck_assert_uint_le(n, 8);
        for (size_t i = 0; i < n; i++)
                p[i] = &e[i];
        return store_discovered_merge(s, p, n, max, out);
}

static json_t *row(Store *s, const char *mac) {
        json_t *arr = NULL, *e;
        size_t i;
        ck_assert_int_eq(store_discovered_json(s, &arr), 0);
        json_t *found = NULL;
        json_array_foreach(arr, i, e) {
                if (streq(json_string_value(json_object_get(e, "mac")), mac))
                        found = json_incref(e);
        }
        json_decref(arr);
        return found;
}

START_TEST(test_merge) {
        Store *s;
        StoreDiscoveredOutcome out[2];
        ck_assert_int_eq(test_store_open(dir, &s), 0);

        StoreDiscovered a[] = { entry("52:54:00:00:aa:01", 2000, 2, 7, "8a3f1c2e-0b4d-4e5f-9a6b-7c8d9e0f1a2b",
                                      "PXEClient:Arch:00007:UNDI:003016", "", false) };
        ck_assert_int_eq(merge(s, a, 1, 10, out), 0);
        ck_assert_int_eq(out[0], STORE_DISCOVERED_NEW);
        /* an earlier and a later packet without arch/uuid, the later one from iPXE */
        StoreDiscovered b[] = { entry("52:54:00:00:aa:01", 1000, 1, -1, "", "PXEClient", "", false) };
        ck_assert_int_eq(merge(s, b, 1, 10, out), 0);
        ck_assert_int_eq(out[0], STORE_DISCOVERED_UPDATED);
        StoreDiscovered c[] = { entry("52:54:00:00:aa:01", 5000, 3, -1, "", "PXEClient:Arch:00000:UNDI:002001", "iPXE", true) };
        ck_assert_int_eq(merge(s, c, 1, 10, out), 0);
        StoreDiscovered d[] = { entry("52:54:00:00:aa:01", 4000, 1, 0, "", "PXEClient", "", false) };
        ck_assert_int_eq(merge(s, d, 1, 10, out), 0);

        json_t *r = row(s, "52:54:00:00:aa:01");
        ck_assert_ptr_nonnull(r);
        ck_assert_str_eq(json_string_value(json_object_get(r, "first_seen")), "1970-01-01T00:00:01.000Z");
        ck_assert_str_eq(json_string_value(json_object_get(r, "last_seen")), "1970-01-01T00:00:05.000Z");
        ck_assert_int_eq(json_integer_value(json_object_get(r, "count")), 7);
        ck_assert_int_eq(json_integer_value(json_object_get(r, "arch")), 0); /* the latest that had one */
        ck_assert_str_eq(json_string_value(json_object_get(r, "arch_name")), "x86 BIOS");
        ck_assert_str_eq(json_string_value(json_object_get(r, "firmware")), "bios");
        ck_assert_str_eq(json_string_value(json_object_get(r, "uuid")), "8a3f1c2e-0b4d-4e5f-9a6b-7c8d9e0f1a2b");
        ck_assert_str_eq(json_string_value(json_object_get(r, "vendor_class")), "PXEClient"); /* the last batch's */
        ck_assert_str_eq(json_string_value(json_object_get(r, "user_class")), "");
        ck_assert(json_is_true(json_object_get(r, "ipxe"))); /* sticky */
        ck_assert_str_eq(json_string_value(json_object_get(r, "interface")), "br0");
        ck_assert_uint_eq(json_object_size(r), 12);
        json_decref(r);
        store_free(s);
}
END_TEST

START_TEST(test_cap_order_delete_prune_reopen) {
        Store *s;
        StoreDiscoveredOutcome out[3];
        int64_t n;
        ck_assert_int_eq(test_store_open(dir, &s), 0);
        StoreDiscovered e[] = {
                entry("52:54:00:00:bb:01", 1000, 1, -1, "", "PXEClient", "", false),
                entry("52:54:00:00:bb:02", 3000, 1, 42, "", "PXEClient", "", false),
                entry("52:54:00:00:bb:03", 2000, 1, -1, "", "PXEClient", "", false),
        };
        ck_assert_int_eq(merge(s, e, 3, 2, out), 0);
        ck_assert_int_eq(out[0], STORE_DISCOVERED_NEW);
        ck_assert_int_eq(out[1], STORE_DISCOVERED_NEW);
        ck_assert_int_eq(out[2], STORE_DISCOVERED_FULL);
        ck_assert_int_eq(store_discovered_count(s, &n), 0);
        ck_assert_int_eq(n, 2);
        /* at the cap an existing MAC is still updated, a new one is not inserted */
        ck_assert_int_eq(merge(s, e, 3, 2, out), 0);
        ck_assert_int_eq(out[0], STORE_DISCOVERED_UPDATED);
        ck_assert_int_eq(out[1], STORE_DISCOVERED_UPDATED);
        ck_assert_int_eq(out[2], STORE_DISCOVERED_FULL);

        /* newest last_seen first; an arch without a name has arch_name null, no uuid is null */
        json_t *arr;
        ck_assert_int_eq(store_discovered_json(s, &arr), 0);
        ck_assert_uint_eq(json_array_size(arr), 2);
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(arr, 0), "mac")), "52:54:00:00:bb:02");
        ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(arr, 0), "arch")), 42);
        ck_assert(json_is_null(json_object_get(json_array_get(arr, 0), "arch_name")));
        ck_assert(json_is_null(json_object_get(json_array_get(arr, 1), "arch")));
        ck_assert(json_is_null(json_object_get(json_array_get(arr, 1), "uuid")));
        json_decref(arr);

        ck_assert_int_eq(store_discovered_delete(s, "52:54:00:00:bb:01"), 0);
        ck_assert_int_eq(store_discovered_delete(s, "52:54:00:00:bb:01"), -ENOENT);
        ck_assert_int_eq(merge(s, e + 2, 1, 2, out), 0); /* room again */
        ck_assert_int_eq(out[0], STORE_DISCOVERED_NEW);
        store_free(s);

        ck_assert_int_eq(test_store_open(dir, &s), 0);
        ck_assert_int_eq(store_discovered_count(s, &n), 0);
        ck_assert_int_eq(n, 2);
        store_free(s);
}
END_TEST

static bool known_bb03(void *userdata, const char *mac) {
        (*(int *) userdata)++;
        return streq(mac, "52:54:00:00:bb:03");
}

START_TEST(test_prune) {
        Store *s;
        StoreDiscoveredOutcome out[3];
        int64_t n;
        int calls = 0;
        ck_assert_int_eq(test_store_open(dir, &s), 0);
        StoreDiscovered e[] = {
                entry("52:54:00:00:bb:01", 1000, 1, -1, "", "PXEClient", "", false),
                entry("52:54:00:00:bb:03", 2000, 1, -1, "", "PXEClient", "", false),
                entry("52:54:00:00:bb:04", 3000, 1, -1, "", "PXEClient", "", false),
        };
        ck_assert_int_eq(merge(s, e, 3, 100, out), 0);
        ck_assert_int_eq(store_discovered_prune(s, known_bb03, &calls), 1);
        ck_assert_int_eq(calls, 3);
        ck_assert_int_eq(store_discovered_count(s, &n), 0);
        ck_assert_int_eq(n, 2);
        json_t *r = row(s, "52:54:00:00:bb:03");
        ck_assert_ptr_null(r);
        ck_assert_int_eq(store_discovered_prune(s, known_bb03, &calls), 0);
        store_free(s);
}
END_TEST

/* The fixture of the PostgreSQL TCase. */
static void setup_pg(void) {
        store_backend_pg();
        setup();
}

static Suite *store_discovered_suite(void) {
        Suite *s = suite_create("store-discovered");
        for (int b = 0; b < store_backends(); b++) {
                TCase *tc = tcase_create(store_backend_name(b));
                tcase_add_checked_fixture(tc, b ? setup_pg : setup, teardown);
                tcase_add_test(tc, test_merge);
                tcase_add_test(tc, test_cap_order_delete_prune_reopen);
                tcase_add_test(tc, test_prune);
                suite_add_tcase(s, tc);
        }
        return s;
}

CHECK_MAIN(store_discovered_suite)
