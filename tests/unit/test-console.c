/* test-console.c — unit tests for console_sanitize() (console.c): the console tail that goes
 * into a failed attempt's history entry is valid UTF-8 text without escape sequences or
 * control characters, holds the last lines only, and stays within its byte budget. */
#include "check-main.h"
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "console.h"

static char *san(const char *in, size_t lines, size_t bytes) {
        char *out = console_sanitize((const uint8_t *) in, strlen(in), lines, bytes);
        ck_assert_ptr_nonnull(out);
        return out;
}

/* Valid UTF-8 (RFC 3629), no C0/C1 controls but \n and \t, no ESC. */
static void assert_clean(const char *s) {
        const uint8_t *p = (const uint8_t *) s;
        while (*p) {
                ck_assert_msg(*p >= 0x20 || *p == '\n' || *p == '\t', "control 0x%02x in \"%s\"", *p, s);
                ck_assert_msg(*p != 0x7f, "DEL in \"%s\"", s);
                if (*p < 0x80) {
                        p++;
                        continue;
                }
                int n = *p >= 0xf0 ? 4 : *p >= 0xe0 ? 3 : 2;
                ck_assert_msg(*p >= 0xc2 && *p <= 0xf4, "bad lead byte 0x%02x", *p);
                for (int i = 1; i < n; i++)
                        ck_assert_msg((p[i] & 0xc0) == 0x80, "bad continuation in \"%s\"", s);
                ck_assert_msg(!(p[0] == 0xc2 && p[1] < 0xa0), "C1 control in \"%s\"", s);
                p += n;
        }
}

static const struct {
        const char *in, *want;
} cases[] = {
        { "plain text\n", "plain text" },
        { "a\r\nb\r\n", "a\nb" },
        { "tab\there", "tab\there" },
        /* SeaBIOS / kernel / systemd colour and cursor sequences (CSI) */
        { "\x1b[0m\x1b[1;32m  OK  \x1b[0m] Started\n", "  OK  ] Started" },
        { "\x1b[2J\x1b[H\x1b[?25lscreen", "screen" },
        { "\x1b[?7h\x1b[=3hx", "x" },
        /* OSC (window title) ended by BEL or ST */
        { "\x1b]0;title\x07" "after", "after" },
        { "\x1b]2;title\x1b\\after", "after" },
        /* two-byte and charset sequences */
        { "\x1b" "7save\x1b" "8\x1b(Bdone", "savedone" },
        { "\x1b" "c" "reset", "reset" },
        /* an escape cut off at the end */
        { "text\x1b[1;3", "text" },
        { "text\x1b", "text" },
        /* controls */
        { "bell\x07 nul-less \x08\x0c\x7f!", "bell nul-less !" },
        /* UTF-8: kept when valid */
        { "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80" },
        /* invalid: lone continuation, truncated, overlong, surrogate, > U+10FFFF, 0xff */
        { "a\x80z", "a\xef\xbf\xbdz" },
        { "a\xc3z", "a\xef\xbf\xbdz" },
        { "a\xc0\xafz", "a\xef\xbf\xbd\xef\xbf\xbdz" },
        { "a\xed\xa0\x80z", "a\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdz" },
        { "a\xf4\x90\x80\x80z", "a\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdz" },
        { "a\xffz", "a\xef\xbf\xbdz" },
        /* C1 controls encoded as UTF-8 (U+009B CSI) are dropped */
        { "a\xc2\x9b" "b", "ab" },
        /* a buffer that starts inside a character: its continuation bytes go */
        { "\x82\xac euro", " euro" },
        /* trailing blank lines and spaces */
        { "last\n\n\n  \n", "last" },
        { "", "" },
        { "\x1b[0m\r\n", "" },
};

START_TEST(test_sanitize_cases) {
        char *out = san(cases[_i].in, 40, 8192);
        ck_assert_msg(strcmp(out, cases[_i].want) == 0, "case %d: got \"%s\", want \"%s\"", _i, out, cases[_i].want);
        assert_clean(out);
        free(out);
}
END_TEST

START_TEST(test_sanitize_last_lines) {
        char in[4096] = "";
        for (int i = 1; i <= 100; i++)
                snprintf(in + strlen(in), sizeof in - strlen(in), "line %d\r\n", i);
        char *out = san(in, 40, 8192);
        ck_assert_str_eq(out + strlen(out) - 8, "line 100");
        ck_assert(strncmp(out, "line 61\n", 8) == 0);
        int n = 1;
        for (const char *p = out; *p; p++)
                n += *p == '\n';
        ck_assert_int_eq(n, 40);
        free(out);

        out = san("only\ntwo", 40, 8192);
        ck_assert_str_eq(out, "only\ntwo");
        free(out);
}
END_TEST

START_TEST(test_sanitize_max_bytes) {
        /* 20 lines of 100 bytes: 512 bytes hold the last 5 full lines (cut at a line start). */
        char in[4096] = "";
        for (int i = 0; i < 20; i++) {
                memset(in + strlen(in), 'a' + i, 99);
                strcat(in, "\n");
        }
        char *out = san(in, 40, 512);
        ck_assert_uint_le(strlen(out), 512);
        ck_assert_int_eq(out[0], 'a' + 15);
        ck_assert_int_eq(out[strlen(out) - 1], 'a' + 19);
        free(out);

        /* One long line of 3-byte characters: cut at a character boundary. */
        char euro[3 * 1000 + 1] = "";
        for (int i = 0; i < 1000; i++)
                strcat(euro, "\xe2\x82\xac");
        out = san(euro, 40, 100);
        ck_assert_uint_le(strlen(out), 100);
        ck_assert_uint_ge(strlen(out), 97);
        assert_clean(out);
        free(out);
}
END_TEST

/* Every byte value in every position: the output is always clean (a cheap fuzz). */
START_TEST(test_sanitize_all_bytes) {
        uint8_t buf[4096];
        uint32_t x = 12345;
        for (int round = 0; round < 200; round++) {
                size_t n = (size_t) (x % sizeof buf);
                for (size_t i = 0; i < n; i++) {
                        x = x * 1103515245u + 12345u;
                        buf[i] = (uint8_t) (x >> 16);
                        if ((x >> 8) % 7 == 0)
                                buf[i] = 0x1b;
                }
                char *out = console_sanitize(buf, n, 40, 8192);
                ck_assert_ptr_nonnull(out);
                assert_clean(out);
                ck_assert_uint_le(strlen(out), 8192);
                free(out);
        }
}
END_TEST

static Suite *console_suite(void) {
        Suite *s = suite_create("console");
        TCase *tc = tcase_create("sanitize");
        tcase_add_loop_test(tc, test_sanitize_cases, 0, sizeof cases / sizeof cases[0]);
        tcase_add_test(tc, test_sanitize_last_lines);
        tcase_add_test(tc, test_sanitize_max_bytes);
        tcase_add_test(tc, test_sanitize_all_bytes);
        suite_add_tcase(s, tc);
        return s;
}

CHECK_MAIN(console_suite)
