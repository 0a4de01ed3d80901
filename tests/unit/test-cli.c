/* test-cli.c — unit tests for cli.c's pure helpers: local RFC 3339 times, one-line output of
 * messages, aligned tables, and which argv[1] starts a client command. */
#include "check-main.h"
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "util.h"

static const char *fmt(const char *s, char buf[static 32]) {
        json_t *j = s ? json_string(s) : json_null();
        const char *r = cli_format_time(j, buf);
        json_decref(j);
        return r;
}

START_TEST(test_format_time) {
        char buf[32];
        setenv("TZ", "UTC0", 1);
        tzset();
        ck_assert_str_eq(fmt("2026-11-23T16:13:00.123Z", buf), "2026-11-23T16:13:00+00:00");
        ck_assert_str_eq(fmt("2026-11-23T16:13:00Z", buf), "2026-11-23T16:13:00+00:00");
        ck_assert_str_eq(fmt("2026-11-23T17:13:00+01:00", buf), "2026-11-23T16:13:00+00:00");
        setenv("TZ", "EST5", 1); /* POSIX TZ: no tzdata needed */
        tzset();
        ck_assert_str_eq(fmt("2026-11-23T16:13:00.999Z", buf), "2026-11-23T11:13:00-05:00");
        ck_assert_str_eq(fmt("2026-01-01T02:00:00Z", buf), "2025-12-31T21:00:00-05:00");
        setenv("TZ", "<+0530>-5:30", 1);
        tzset();
        ck_assert_str_eq(fmt("2026-11-23T16:13:00Z", buf), "2026-11-23T21:43:00+05:30");
        /* not a time: shown as is; null: "-" */
        ck_assert_str_eq(fmt("yesterday", buf), "yesterday");
        ck_assert_str_eq(fmt("2026-11-23T16:13:00", buf), "2026-11-23T16:13:00");
        ck_assert_str_eq(fmt("2026-11-23T16:13:00Zjunk", buf), "2026-11-23T16:13:00Zjunk");
        ck_assert_str_eq(fmt(NULL, buf), "-");
}
END_TEST

static char *capture(void (*fn)(FILE *, const void *), const void *arg) {
        char *out = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&out, &len);
        ck_assert_ptr_nonnull(f);
        fn(f, arg);
        ck_assert_int_eq(fclose(f), 0);
        return out;
}

static void oneline(FILE *f, const void *s) {
        cli_fputs_oneline(s, f);
}

START_TEST(test_oneline) {
        _cleanup_free_ char *a = capture(oneline, "two\nlines\tand\r\x1b[31m red \xc3\xa9");
        ck_assert_str_eq(a, "two\\nlines\\tand\\r\\x1b[31m red \xc3\xa9");
}
END_TEST

static void table(FILE *f, const void *unused) {
        CliTable *t = cli_table_new(3);
        ck_assert_ptr_nonnull(t);
        ck_assert_int_eq(cli_table_add(t, (const char *[]) { "NAME", "STATE", "MESSAGE" }), 0);
        ck_assert_int_eq(cli_table_add(t, (const char *[]) { "node-01", "installed", "done\nok" }), 0);
        ck_assert_int_eq(cli_table_add(t, (const char *[]) { "n\xc3\xa9", NULL, "" }), 0);
        cli_table_print(t, f);
        cli_table_free(t);
}

START_TEST(test_table) {
        _cleanup_free_ char *s = capture(table, NULL);
        ck_assert_str_eq(s, "NAME     STATE      MESSAGE\n"
                            "node-01  installed  done\\nok\n"
                            "n\xc3\xa9       -\n");
}
END_TEST

START_TEST(test_is_command) {
        ck_assert(cli_is_command("summary"));
        ck_assert(cli_is_command("events"));
        ck_assert(cli_is_command("history"));
        ck_assert(cli_is_command("token"));
        ck_assert(cli_is_command("nodes"));
        ck_assert(cli_is_command("node"));
        ck_assert(cli_is_command("reinstall"));
        ck_assert(cli_is_command("power"));
        ck_assert(cli_is_command("bootdev"));
        ck_assert(cli_is_command("--url"));
        ck_assert(cli_is_command("--url=http://x"));
        ck_assert(cli_is_command("--json"));
        ck_assert(cli_is_command("--token-file"));
        ck_assert(cli_is_command("--config"));
        ck_assert(!cli_is_command("serve"));
        ck_assert(!cli_is_command("--help"));
        ck_assert(!cli_is_command("--version"));
        ck_assert(!cli_is_command("--urls"));
        ck_assert(!cli_is_command("help"));
        ck_assert(!cli_is_command("summaryx"));
}
END_TEST

static Suite *cli_suite(void) {
        Suite *s = suite_create("cli");
        TCase *tc = tcase_create("helpers");
        tcase_add_test(tc, test_format_time);
        tcase_add_test(tc, test_oneline);
        tcase_add_test(tc, test_table);
        tcase_add_test(tc, test_is_command);
        suite_add_tcase(s, tc);
        return s;
}

CHECK_MAIN(cli_suite)
