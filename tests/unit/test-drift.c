/* test-drift.c — unit tests for drift.c: a node's drift from its last report, and which store
 * paths a node may report. */
#include "check-main.h"
#include <check.h>
#include <errno.h>
#include <string.h>

#include "drift.h"

#define A "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-nixos-system-n1"
#define B "/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-nixos-system-n1"

START_TEST(test_drift_of) {
        const int64_t now = 1700000000000, limit = 3600000;
        ck_assert_int_eq(drift_of(A, NULL, NULL, 0, now, limit), DRIFT_UNKNOWN);
        ck_assert_int_eq(drift_of(A, A, A, now - 10, now, limit), DRIFT_IN_SYNC);
        ck_assert_int_eq(drift_of(A, B, B, now - 10, now, limit), DRIFT_DRIFTED);
        ck_assert_int_eq(drift_of(A, A, B, now - 10, now, limit), DRIFT_REBOOT_PENDING);
        ck_assert_int_eq(drift_of(A, B, A, now - 10, now, limit), DRIFT_DRIFTED); /* running decides */
        ck_assert_int_eq(drift_of(A, A, A, now - limit, now, limit), DRIFT_IN_SYNC); /* at the limit: not yet */
        ck_assert_int_eq(drift_of(A, A, A, now - limit - 1, now, limit), DRIFT_SILENT);
        ck_assert_int_eq(drift_of(A, B, B, now - limit - 1, now, limit), DRIFT_SILENT); /* silence first */
}
END_TEST

START_TEST(test_drift_names) {
        for (Drift d = 0; d < _DRIFT_MAX; d++) {
                Drift back;
                ck_assert_int_eq(drift_from_string(drift_to_string(d), &back), 0);
                ck_assert_int_eq(back, d);
        }
        Drift x;
        ck_assert_int_eq(drift_from_string("IN_SYNC", &x), -EINVAL);
        ck_assert_int_eq(drift_from_string("", &x), -EINVAL);
        ck_assert_str_eq(drift_to_string(_DRIFT_MAX), "unknown");
}
END_TEST

START_TEST(test_drift_store_path) {
        ck_assert(drift_store_path_ok(A));
        ck_assert(drift_store_path_ok("/nix/store/0123456789abcdfghijklmnpqrsvwxyz-a+b=c?d._-"));
        ck_assert(!drift_store_path_ok(NULL));
        ck_assert(!drift_store_path_ok("/nix/store/"));
        ck_assert(!drift_store_path_ok("/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-"));    /* empty name */
        ck_assert(!drift_store_path_ok("/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-x"));    /* 31 chars */
        ck_assert(!drift_store_path_ok("/nix/store/eaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-x"));   /* e is not base-32 */
        ck_assert(!drift_store_path_ok(A "/bin"));                                            /* a path inside */
        ck_assert(!drift_store_path_ok("/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-a b"));  /* space */
        ck_assert(!drift_store_path_ok("/etc/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-x"));
        char long_name[300] = "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-";
        memset(long_name + strlen(long_name), 'x', 211);
        ck_assert(drift_store_path_ok(long_name));
        strcat(long_name, "x");
        ck_assert(!drift_store_path_ok(long_name)); /* 212 > Nix's name limit */
}
END_TEST

static Suite *drift_suite(void) {
        Suite *s = suite_create("drift");
        TCase *tc = tcase_create("drift");
        tcase_add_test(tc, test_drift_of);
        tcase_add_test(tc, test_drift_names);
        tcase_add_test(tc, test_drift_store_path);
        suite_add_tcase(s, tc);
        return s;
}

CHECK_MAIN(drift_suite)
