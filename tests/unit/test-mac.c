/* test-mac.c — unit tests for mac.c: parsing every accepted MAC form, rejecting everything
 * else without touching the output, canonical formatting, and mac_is_unusable(). */
#include "check-main.h"
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mac.h"

/* Every accepted spelling of 01:23:45:67:89:ab (all ten digits and a-f/A-F occur across
 * this and the next table, so a wrong hexval() for any digit shows up). */
static const char *const mac_accepted_0123[] = {
        "01:23:45:67:89:ab", "01:23:45:67:89:AB", "01:23:45:67:89:aB", "01-23-45-67-89-ab",
        "01-23-45-67-89-AB", "0123.4567.89ab",    "0123.4567.89AB",    "0123.4567.89Ab",
        "0123456789ab",      "0123456789AB",      "0123456789aB",
};

static const char *const mac_accepted_fedc[] = {
        "fe:dc:ba:98:76:54", "FE:DC:BA:98:76:54", "Fe-Dc-bA-98-76-54",
        "fedc.ba98.7654",    "FEDC.BA98.7654",    "FEDCBA987654",      "fEdCbA987654",
};

static const char *const mac_rejected[] = {
        /* mixed separators */
        "01:23-45:67:89:ab",
        "01-23:45-67-89-ab",
        "01:23:45:67:89-ab",
        "01-23-45-67-89:ab",
        /* separators that are not ':' or '-', or in the wrong place */
        "01.23.45.67.89.ab",
        "01 23 45 67 89 ab",
        "01_23_45_67_89_ab",
        "012:34:56:78:9a:b",
        "0:123:45:67:89:ab",
        "0123:4567:89ab",
        "0123-4567-89ab",
        "01234.567.89ab",
        "0123.45678.9ab",
        "0123.4567.89.b",
        /* wrong lengths */
        "01:23:45:67:89",
        "01:23:45:67:89:a",
        "01:23:45:67:89:ab:",
        "01:23:45:67:89:ab:cd",
        "1:23:45:67:89:ab",
        "0123456789a",
        "0123456789abc",
        "0123456789abcd",
        "0123.4567.89a",
        "0123.4567.89abc",
        "0",
        /* non-hex digits */
        "01:23:45:67:89:ag",
        "g1:23:45:67:89:ab",
        "01:23:45:67:8x:ab",
        "0123456789ag",
        "x123456789ab",
        "0123.4567.89ag",
        "0x0123456789ab",
        "+1:23:45:67:89:ab",
        "01:23:45:67:89:+b",
        /* surrounding whitespace */
        "01:23:45:67:89:ab ",
        " 01:23:45:67:89:ab",
        "01:23:45:67:89:ab\n",
        "0123456789ab ",
        " 0123456789a",
        "0123.4567.89ab\t",
        /* empty */
        "",
};

static const uint8_t mac_octets_0123[6] = { 0x01, 0x23, 0x45, 0x67, 0x89, 0xab };
static const uint8_t mac_octets_fedc[6] = { 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54 };

static void mac_check_accepted(const char *s, const uint8_t expected[6], const char *canonical) {
        uint8_t m[6];
        char buf[MAC_STRING_MAX];

        memset(m, 0x5a, sizeof m);
        ck_assert_msg(mac_parse(s, m) == 0, "mac_parse(\"%s\") failed", s);
        ck_assert_msg(memcmp(m, expected, 6) == 0, "mac_parse(\"%s\") gave the wrong octets", s);

        memset(buf, 'X', sizeof buf);
        ck_assert_msg(mac_normalize(s, buf) == 0, "mac_normalize(\"%s\") failed", s);
        ck_assert_str_eq(buf, canonical);
}

START_TEST(test_mac_parse_accepts_0123) {
        mac_check_accepted(mac_accepted_0123[_i], mac_octets_0123, "01:23:45:67:89:ab");
}
END_TEST

START_TEST(test_mac_parse_accepts_fedc) {
        mac_check_accepted(mac_accepted_fedc[_i], mac_octets_fedc, "fe:dc:ba:98:76:54");
}
END_TEST

START_TEST(test_mac_parse_rejects) {
        const char *s = mac_rejected[_i];
        uint8_t m[6], untouched[6];
        char buf[MAC_STRING_MAX], buf_untouched[MAC_STRING_MAX];

        /* ret is written only on success: not even a partial parse may leak out. */
        memset(m, 0x5a, sizeof m);
        memcpy(untouched, m, sizeof m);
        ck_assert_msg(mac_parse(s, m) == -EINVAL, "mac_parse(\"%s\") accepted it", s);
        ck_assert_msg(memcmp(m, untouched, 6) == 0, "mac_parse(\"%s\") wrote ret on failure", s);

        memset(buf, 'X', sizeof buf);
        memcpy(buf_untouched, buf, sizeof buf);
        ck_assert_msg(mac_normalize(s, buf) == -EINVAL, "mac_normalize(\"%s\") accepted it", s);
        ck_assert_msg(memcmp(buf, buf_untouched, sizeof buf) == 0, "mac_normalize(\"%s\") wrote buf on failure", s);
}
END_TEST

START_TEST(test_mac_parse_rejects_null) {
        uint8_t m[6] = { 1, 2, 3, 4, 5, 6 };
        char buf[MAC_STRING_MAX] = "unchanged";

        ck_assert_int_eq(mac_parse(NULL, m), -EINVAL);
        ck_assert_int_eq(m[0], 1);
        ck_assert_int_eq(m[5], 6);
        ck_assert_int_eq(mac_normalize(NULL, buf), -EINVAL);
        ck_assert_str_eq(buf, "unchanged");
}
END_TEST

START_TEST(test_mac_parse_rejects_embedded_nul) {
        /* A string whose first 17 bytes look right but that ends early is not a MAC. */
        static const char s[] = "01:23:45:67\0:89:ab";
        uint8_t m[6];
        ck_assert_int_eq(mac_parse(s, m), -EINVAL);
}
END_TEST

START_TEST(test_mac_format) {
        char buf[MAC_STRING_MAX];

        memset(buf, 'X', sizeof buf);
        ck_assert_ptr_eq(mac_format(mac_octets_fedc, buf), buf);
        ck_assert_str_eq(buf, "fe:dc:ba:98:76:54");

        static const uint8_t low[6] = { 0x00, 0x0a, 0x01, 0x10, 0xf0, 0x0f };
        ck_assert_str_eq(mac_format(low, buf), "00:0a:01:10:f0:0f");
        ck_assert_uint_eq(strlen(buf), MAC_STRING_MAX - 1);
}
END_TEST

START_TEST(test_mac_format_parse_round_trip) {
        /* Every octet value survives format -> parse in every position. */
        for (unsigned v = 0; v < 256; v++) {
                uint8_t in[6], out[6];
                char buf[MAC_STRING_MAX];
                for (unsigned k = 0; k < 6; k++)
                        in[k] = (uint8_t) (v + 37 * k);
                mac_format(in, buf);
                ck_assert_int_eq(mac_parse(buf, out), 0);
                ck_assert_msg(memcmp(in, out, 6) == 0, "round trip of %s lost octets", buf);
        }
}
END_TEST

START_TEST(test_mac_is_unusable) {
        static const struct {
                uint8_t mac[6];
                int unusable;
        } cases[] = {
                { { 0x00, 0x00, 0x00, 0x00, 0x00, 0x00 }, 1 }, /* zero */
                { { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff }, 1 }, /* broadcast */
                { { 0x01, 0x00, 0x5e, 0x00, 0x00, 0x01 }, 1 }, /* IPv4 multicast */
                { { 0x33, 0x33, 0x00, 0x00, 0x00, 0x01 }, 1 }, /* IPv6 multicast */
                { { 0x01, 0x80, 0xc2, 0x00, 0x00, 0x00 }, 1 }, /* STP group address */
                { { 0x03, 0x00, 0x00, 0x00, 0x00, 0x00 }, 1 }, /* group + local bit */
                { { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 }, 0 }, /* QEMU */
                { { 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 }, 0 }, /* locally administered unicast */
                { { 0x00, 0x00, 0x00, 0x00, 0x00, 0x01 }, 0 }, /* non-zero */
                { { 0x00, 0x00, 0x00, 0x00, 0x01, 0x00 }, 0 },
                { { 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff }, 0 }, /* I/G bit clear */
                { { 0x00, 0x1b, 0x21, 0x0a, 0x0b, 0x0c }, 0 }, /* a real OUI */
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                char buf[MAC_STRING_MAX];
                int got = mac_is_unusable(cases[i].mac) != 0;
                ck_assert_msg(got == cases[i].unusable, "mac_is_unusable(%s) = %d, want %d",
                              mac_format(cases[i].mac, buf), got, cases[i].unusable);
        }
}
END_TEST

static Suite *mac_suite(void) {
        Suite *s = suite_create("mac");
        TCase *tc;

        tc = tcase_create("parse");
        tcase_add_loop_test(tc, test_mac_parse_accepts_0123, 0, sizeof mac_accepted_0123 / sizeof mac_accepted_0123[0]);
        tcase_add_loop_test(tc, test_mac_parse_accepts_fedc, 0, sizeof mac_accepted_fedc / sizeof mac_accepted_fedc[0]);
        tcase_add_loop_test(tc, test_mac_parse_rejects, 0, sizeof mac_rejected / sizeof mac_rejected[0]);
        tcase_add_test(tc, test_mac_parse_rejects_null);
        tcase_add_test(tc, test_mac_parse_rejects_embedded_nul);
        suite_add_tcase(s, tc);

        tc = tcase_create("format");
        tcase_add_test(tc, test_mac_format);
        tcase_add_test(tc, test_mac_format_parse_round_trip);
        suite_add_tcase(s, tc);

        tc = tcase_create("unusable");
        tcase_add_test(tc, test_mac_is_unusable);
        suite_add_tcase(s, tc);

        return s;
}

CHECK_MAIN(mac_suite)
