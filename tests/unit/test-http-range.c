/* test-http-range.c — unit tests for http-range.c: the Range header against a size (RFC 9110
 * §14.1.2, §14.2). */
#include "check-main.h"
#include <check.h>
#include <stdint.h>

#include "http-range.h"

START_TEST(test_http_range) {
        static const struct {
                const char *header;
                uint64_t size;
                int want;
                uint64_t first, last;
        } cases[] = {
                { NULL, 100, HTTP_RANGE_WHOLE, 0, 0 },
                { "bytes=0-9", 100, HTTP_RANGE_PART, 0, 9 },
                { "BYTES=0-9", 100, HTTP_RANGE_PART, 0, 9 },        /* the unit is case-insensitive */
                { "bytes=0-0", 100, HTTP_RANGE_PART, 0, 0 },
                { "bytes=10-", 100, HTTP_RANGE_PART, 10, 99 },      /* open end */
                { "bytes=90-200", 100, HTTP_RANGE_PART, 90, 99 },   /* last cut to the end */
                { "bytes=99-99", 100, HTTP_RANGE_PART, 99, 99 },
                { "bytes=-10", 100, HTTP_RANGE_PART, 90, 99 },      /* suffix */
                { "bytes=-100", 100, HTTP_RANGE_PART, 0, 99 },
                { "bytes=-1000", 100, HTTP_RANGE_PART, 0, 99 },     /* suffix longer than the file */
                { "bytes= 0-9 ,", 100, HTTP_RANGE_PART, 0, 9 },     /* OWS and an empty element */
                { "bytes=0-99999999999999999999999", 100, HTTP_RANGE_PART, 0, 99 }, /* saturates */
                { "bytes=100-", 100, HTTP_RANGE_UNSATISFIABLE, 0, 0 },
                { "bytes=100-200", 100, HTTP_RANGE_UNSATISFIABLE, 0, 0 },
                { "bytes=99999999999999999999999-", 100, HTTP_RANGE_UNSATISFIABLE, 0, 0 },
                { "bytes=-0", 100, HTTP_RANGE_UNSATISFIABLE, 0, 0 },
                { "bytes=0-9,20-29", 100, HTTP_RANGE_WHOLE, 0, 0 }, /* several: answered whole */
                { "bytes=9-0", 100, HTTP_RANGE_WHOLE, 0, 0 },       /* invalid: last < first */
                { "bytes=", 100, HTTP_RANGE_WHOLE, 0, 0 },
                { "bytes=,", 100, HTTP_RANGE_WHOLE, 0, 0 },
                { "bytes=a-b", 100, HTTP_RANGE_WHOLE, 0, 0 },
                { "bytes=0-9x", 100, HTTP_RANGE_WHOLE, 0, 0 },
                { "bytes=--5", 100, HTTP_RANGE_WHOLE, 0, 0 },
                { "bytes=5", 100, HTTP_RANGE_WHOLE, 0, 0 },
                { "bytes 0-9", 100, HTTP_RANGE_WHOLE, 0, 0 },
                { "items=0-9", 100, HTTP_RANGE_WHOLE, 0, 0 },       /* other unit */
                { "bytes=0-9", 0, HTTP_RANGE_WHOLE, 0, 0 },         /* empty representation */
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                uint64_t first = 12345, last = 12345;
                int r = http_range_parse(cases[i].header, cases[i].size, &first, &last);
                ck_assert_msg(r == cases[i].want, "case %zu (%s): got %d, want %d", i, cases[i].header, r, cases[i].want);
                if (r == HTTP_RANGE_PART) {
                        ck_assert_msg(first == cases[i].first && last == cases[i].last, "case %zu: got %ju-%ju", i,
                                      (uintmax_t) first, (uintmax_t) last);
                } else {
                        ck_assert_msg(first == 12345 && last == 12345, "case %zu: ret_* written", i);
                }
        }
}
END_TEST

static Suite *http_range_suite(void) {
        Suite *s = suite_create("http-range");
        TCase *tc = tcase_create("parse");
        tcase_add_test(tc, test_http_range);
        suite_add_tcase(s, tc);
        return s;
}

CHECK_MAIN(http_range_suite)
