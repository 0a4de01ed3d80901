/* test-text.c — unit tests for text.c: client bytes made valid UTF-8 for JSON messages and
 * safe for iPXE scripts. */
#include "check-main.h"
#include <check.h>
#include <string.h>

#include "text.h"

START_TEST(test_text_utf8) {
        static const struct {
                const char *in, *want;
                size_t size;
        } cases[] = {
                { "plain", "plain", 64 },
                { "caf\xc3\xa9", "caf\xc3\xa9", 64 },         /* é kept whole */
                { "caf\xc3\xa9", "caf", 5 },                   /* no room for both bytes: cut before it */
                { "ab\xc3", "ab?", 64 },                       /* a cut character */
                { "\xff\xfe", "??", 64 },                      /* never valid */
                { "\xc0\xaf", "??", 64 },                      /* overlong '/' */
                { "\xe0\x80\xaf", "???", 64 },                 /* overlong, 3 bytes */
                { "\xed\xa0\x80", "???", 64 },                 /* surrogate U+D800 */
                { "\xf4\x90\x80\x80", "????", 64 },            /* above U+10FFFF */
                { "\xf0\x9f\x98\x80!", "\xf0\x9f\x98\x80!", 64 }, /* 4-byte character */
                { "a\nb\tc\x7f", "a?b?c?", 64 },               /* controls */
                { "", "", 4 },
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                char buf[64];
                text_utf8(cases[i].in, buf, cases[i].size);
                ck_assert_msg(strcmp(buf, cases[i].want) == 0, "case %zu: got \"%s\", want \"%s\"", i, buf, cases[i].want);
                ck_assert_uint_lt(strlen(buf), cases[i].size);
        }
}
END_TEST

/* Every byte string of length 1-3 comes out as valid UTF-8 (checked by a second pass being
 * the identity) with no control bytes. */
START_TEST(test_text_utf8_exhaustive) {
        char in[4] = { 0 }, out[16], again[16];
        for (unsigned a = 1; a < 256; a++)
                for (unsigned b = 0; b < 256; b += (b < 0x7f ? 31 : 1)) {
                        in[0] = (char) a;
                        in[1] = (char) b;
                        in[2] = (char) (b ? 0xbf : 0);
                        text_utf8(in, out, sizeof out);
                        text_utf8(out, again, sizeof again);
                        ck_assert_msg(strcmp(out, again) == 0, "%02x %02x: not stable", a, b);
                        for (const unsigned char *p = (const unsigned char *) out; *p; p++)
                                ck_assert(*p >= 0x20 && *p != 0x7f);
                }
}
END_TEST

START_TEST(test_text_ipxe) {
        char buf[32];
        ck_assert_str_eq(text_ipxe("52:54:00:zz", 17, buf, sizeof buf), "52:54:00:zz");
        ck_assert_str_eq(text_ipxe("a\nkernel http://e", 17, buf, sizeof buf), "a?kernel?http://e");
        ck_assert_str_eq(text_ipxe("${net0/ip}", 17, buf, sizeof buf), "??net0/ip?");
        ck_assert_str_eq(text_ipxe("#\"\\|&;\xc3\xa9", 17, buf, sizeof buf), "????????");
        ck_assert_str_eq(text_ipxe("0123456789abcdefXYZ", 17, buf, sizeof buf), "0123456789abcdefX");
        ck_assert_str_eq(text_ipxe("abcdef", 17, buf, 4), "abc");
}
END_TEST

static Suite *text_suite(void) {
        Suite *s = suite_create("text");
        TCase *tc = tcase_create("text");
        tcase_add_test(tc, test_text_utf8);
        tcase_add_test(tc, test_text_utf8_exhaustive);
        tcase_add_test(tc, test_text_ipxe);
        suite_add_tcase(s, tc);
        return s;
}

CHECK_MAIN(text_suite)
