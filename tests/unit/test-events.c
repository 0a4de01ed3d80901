/* test-events.c — unit tests for events.c: SSE formatting, reading after a cursor, the ring
 * dropping its oldest events (and readers behind it getting -ERANGE), the read size cap, and
 * the notify callback running after each publish. */
#include "check-main.h"
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"

static size_t count_ids(const char *text) {
        size_t n = 0;
        for (const char *p = text; p && (p = strstr(p, "id: ")); p++)
                n++;
        return n;
}

START_TEST(test_format_sse) {
        char *s = events_format_sse(42, "{\"a\":1}");
        ck_assert_ptr_nonnull(s);
        ck_assert_str_eq(s, "id: 42\nevent: transition\ndata: {\"a\":1}\n\n");
        free(s);
        /* A data line cannot hold a line break (it would end the field). */
        ck_assert_ptr_null(events_format_sse(1, "{\"a\":\n1}"));
        ck_assert_ptr_null(events_format_sse(1, "{\"a\":\r1}"));
}
END_TEST

START_TEST(test_read_after_cursor) {
        EventHub *h;
        char *text;
        size_t len;
        int64_t last;

        ck_assert_int_eq(events_hub_new(8, 10, &h), 0);
        ck_assert_int_eq(events_last_id(h), 10);
        /* Nothing new yet. */
        ck_assert_int_eq(events_read_sse(h, 10, 4096, &text, &len, &last), 0);
        ck_assert_ptr_null(text);
        ck_assert_uint_eq(len, 0);
        ck_assert_int_eq(last, 10);
        /* Ids up to 10 are only in the store. */
        ck_assert_int_eq(events_read_sse(h, 9, 4096, &text, &len, &last), -ERANGE);

        ck_assert_int_eq(events_publish(h, 11, "{\"n\":11}"), 0);
        ck_assert_int_eq(events_publish(h, 12, "{\"n\":12}"), 0);
        ck_assert_int_eq(events_last_id(h), 12);
        ck_assert_int_eq(events_read_sse(h, 10, 4096, &text, &len, &last), 0);
        ck_assert_str_eq(text, "id: 11\nevent: transition\ndata: {\"n\":11}\n\n"
                               "id: 12\nevent: transition\ndata: {\"n\":12}\n\n");
        ck_assert_uint_eq(len, strlen(text));
        ck_assert_int_eq(last, 12);
        free(text);
        ck_assert_int_eq(events_read_sse(h, 11, 4096, &text, &len, &last), 0);
        ck_assert_int_eq(last, 12);
        ck_assert_uint_eq(count_ids(text), 1);
        free(text);
        events_hub_free(h);
}
END_TEST

START_TEST(test_ring_drops_oldest) {
        EventHub *h;
        char *text;
        size_t len;
        int64_t last;
        char json[32];

        ck_assert_int_eq(events_hub_new(4, 0, &h), 0);
        for (int i = 1; i <= 10; i++) {
                snprintf(json, sizeof json, "{\"n\":%d}", i);
                ck_assert_int_eq(events_publish(h, i, json), 0);
        }
        /* 7..10 are left; a reader at 6 or later is served, one before that must backfill. */
        ck_assert_int_eq(events_read_sse(h, 6, 4096, &text, &len, &last), 0);
        ck_assert_uint_eq(count_ids(text), 4);
        ck_assert_ptr_nonnull(strstr(text, "id: 7\n"));
        ck_assert_int_eq(last, 10);
        free(text);
        ck_assert_int_eq(events_read_sse(h, 5, 4096, &text, &len, &last), -ERANGE);
        ck_assert_int_eq(events_read_sse(h, 0, 4096, &text, &len, &last), -ERANGE);
        events_hub_free(h);
}
END_TEST

START_TEST(test_read_cap) {
        EventHub *h;
        char *text;
        size_t len;
        int64_t last;

        ck_assert_int_eq(events_hub_new(16, 0, &h), 0);
        for (int i = 1; i <= 5; i++)
                ck_assert_int_eq(events_publish(h, i, "{\"x\":\"0123456789\"}"), 0);
        /* A cap below one event still returns one event, so a reader always progresses. */
        ck_assert_int_eq(events_read_sse(h, 0, 1, &text, &len, &last), 0);
        ck_assert_uint_eq(count_ids(text), 1);
        ck_assert_int_eq(last, 1);
        free(text);
        size_t one = strlen("id: 1\nevent: transition\ndata: {\"x\":\"0123456789\"}\n\n");
        ck_assert_int_eq(events_read_sse(h, 1, 2 * one, &text, &len, &last), 0);
        ck_assert_uint_eq(count_ids(text), 2);
        ck_assert_int_eq(last, 3);
        free(text);
        events_hub_free(h);
}
END_TEST

static int notified;
static int64_t notified_last;
static void on_notify(void *userdata) {
        /* Runs with the hub unlocked: reading from it here must not deadlock. */
        notified++;
        notified_last = events_last_id(userdata);
}

START_TEST(test_notify) {
        EventHub *h;
        ck_assert_int_eq(events_hub_new(2, 0, &h), 0);
        notified = 0;
        events_set_notify(h, on_notify, h);
        ck_assert_int_eq(events_publish(h, 1, "{}"), 0);
        ck_assert_int_eq(events_publish(h, 2, "{}"), 0);
        ck_assert_int_eq(notified, 2);
        ck_assert_int_eq(notified_last, 2);
        /* An event without text (rendering failed) still notifies, and readers backfill. */
        ck_assert_int_eq(events_publish(h, 3, NULL), -ENOMEM);
        ck_assert_int_eq(notified, 3);
        char *text;
        size_t len;
        int64_t last;
        ck_assert_int_eq(events_read_sse(h, 2, 4096, &text, &len, &last), -ERANGE);
        ck_assert_int_eq(events_read_sse(h, 3, 4096, &text, &len, &last), 0);
        ck_assert_ptr_null(text);
        events_set_notify(h, NULL, NULL);
        ck_assert_int_eq(events_publish(h, 4, "{}"), 0);
        ck_assert_int_eq(notified, 3);
        events_hub_free(h);
}
END_TEST

static Suite *events_suite(void) {
        Suite *s = suite_create("events");
        TCase *tc = tcase_create("hub");
        tcase_add_test(tc, test_format_sse);
        tcase_add_test(tc, test_read_after_cursor);
        tcase_add_test(tc, test_ring_drops_oldest);
        tcase_add_test(tc, test_read_cap);
        tcase_add_test(tc, test_notify);
        suite_add_tcase(s, tc);
        return s;
}

CHECK_MAIN(events_suite)
