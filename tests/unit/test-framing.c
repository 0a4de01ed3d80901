/* test-framing.c — unit tests for framing.c: which request heads provd refuses before it
 * trusts where the request ends (RFC 9112). */
#include "check-main.h"
#include <check.h>
#include <string.h>

#include "framing.h"

#define F(n, v) { .name = (n), .name_len = sizeof(n) - 1, .value = (v), .value_len = sizeof(v) - 1 }

/* The size the head has as "Name: value" CRLF lines. */
static size_t canonical(const char *method, const char *target, const FramingField *f, size_t n) {
        size_t s = strlen(method) + 1 + strlen(target) + 1 + strlen("HTTP/1.1") + 2 + 2;
        for (size_t i = 0; i < n; i++)
                s += f[i].name_len + 2 + f[i].value_len + 2;
        return s;
}

static unsigned check(const FramingField *f, size_t n, const char *target, long size_delta, const char *version) {
        char msg[256] = "";
        FramingHead h = { .method = "POST", .raw_target = target, .version = version, .fields = f, .n_fields = n,
                          .header_size = (size_t) ((long) canonical("POST", target, f, n) + size_delta), .max_body = 65536 };
        unsigned st = framing_check(&h, msg, sizeof msg);
        ck_assert_msg(st == 0 || msg[0], "status %u without a message", st);
        return st;
}

START_TEST(test_framing_accepts) {
        FramingField ok[] = { F("Host", "x"), F("Content-Length", "2"), F("Content-Type", "application/json") };
        ck_assert_uint_eq(check(ok, 3, "/v1/install/events", 0, "HTTP/1.1"), 0);
        ck_assert_uint_eq(check(ok, 3, "/v1/install/events", -3, "HTTP/1.1"), 0); /* "Name:value" x3 */
        FramingField chunked[] = { F("Host", "x"), F("Transfer-Encoding", "Chunked") };
        ck_assert_uint_eq(check(chunked, 2, "/", 0, "HTTP/1.1"), 0);
        ck_assert_uint_eq(check(NULL, 0, "/v1/summary", 0, "HTTP/1.0"), 0); /* no Host needed */
        ck_assert_uint_eq(check(ok, 3, "/v1/files/a%2500b", 0, "HTTP/1.1"), 0); /* %25 then 00: no NUL */
}
END_TEST

START_TEST(test_framing_refuses) {
        FramingField clte[] = { F("Host", "x"), F("Content-Length", "5"), F("Transfer-Encoding", "chunked") };
        ck_assert_uint_eq(check(clte, 3, "/", 0, "HTTP/1.1"), 400);
        FramingField tecl[] = { F("Host", "x"), F("transfer-encoding", "chunked"), F("content-length", "5") };
        ck_assert_uint_eq(check(tecl, 3, "/", 0, "HTTP/1.1"), 400);
        FramingField cl2[] = { F("Host", "x"), F("Content-Length", "0"), F("Content-Length", "0") };
        ck_assert_uint_eq(check(cl2, 3, "/", 0, "HTTP/1.1"), 400);
        FramingField clbad[] = { F("Host", "x"), F("Content-Length", "1e3") };
        ck_assert_uint_eq(check(clbad, 2, "/", 0, "HTTP/1.1"), 400);
        FramingField clbig[] = { F("Host", "x"), F("Content-Length", "65537") };
        ck_assert_uint_eq(check(clbig, 2, "/", 0, "HTTP/1.1"), 413);
        FramingField clhuge[] = { F("Host", "x"), F("Content-Length", "99999999999999999999999") };
        ck_assert_uint_eq(check(clhuge, 2, "/", 0, "HTTP/1.1"), 400);
        FramingField space[] = { F("Host", "x"), F("Transfer-Encoding ", "chunked") };
        ck_assert_uint_eq(check(space, 2, "/", 0, "HTTP/1.1"), 400);
        static const char *const codings[] = { "xchunked", "chunked, identity", "gzip, chunked", "identity", "" };
        for (size_t i = 0; i < 5; i++) {
                FramingField te[] = { F("Host", "x"), { "Transfer-Encoding", 17, codings[i], strlen(codings[i]) } };
                ck_assert_msg(check(te, 2, "/", 0, "HTTP/1.1") == 501, "Transfer-Encoding: %s", codings[i]);
        }
        FramingField te2[] = { F("Host", "x"), F("Transfer-Encoding", "chunked"), F("Transfer-Encoding", "chunked") };
        ck_assert_uint_eq(check(te2, 3, "/", 0, "HTTP/1.1"), 501);
        FramingField nohost[] = { F("Accept", "*/*") };
        ck_assert_uint_eq(check(nohost, 1, "/", 0, "HTTP/1.1"), 400);
        FramingField host2[] = { F("Host", "a"), F("host", "b") };
        ck_assert_uint_eq(check(host2, 2, "/", 0, "HTTP/1.1"), 400);
        FramingField empty[] = { F("Host", "x"), F("", "v") };
        ck_assert_uint_eq(check(empty, 2, "/", 0, "HTTP/1.1"), 400);
        FramingField host[] = { F("Host", "x") };
        ck_assert_uint_eq(check(host, 1, "/v1/boot/52:54:00:00:00:01%00junk", 0, "HTTP/1.1"), 400);
        ck_assert_uint_eq(check(host, 1, "/v1/x?a=%00", 0, "HTTP/1.1"), 400);
}
END_TEST

/* The size rule: bare LF everywhere (-1 per line including the request line and the end),
 * folding (+3: CRLF SP), a NUL with bytes after it (+k), two spaces after a colon (+1). */
START_TEST(test_framing_size) {
        FramingField f[] = { F("Host", "x"), F("Accept", "*/*") };
        ck_assert_uint_eq(check(f, 2, "/", -(2 + 2), "HTTP/1.1"), 400); /* bare LF */
        ck_assert_uint_eq(check(f, 2, "/", -2, "HTTP/1.1"), 0);         /* no spaces */
        ck_assert_uint_eq(check(f, 2, "/", +3, "HTTP/1.1"), 400);       /* folding */
        ck_assert_uint_eq(check(f, 2, "/", +2, "HTTP/1.1"), 400);       /* NUL x */
        ck_assert_uint_eq(check(f, 2, "/", +1, "HTTP/1.1"), 400);       /* "Host:  x" */
        char msg[64];
        FramingHead unknown = { .method = "GET", .raw_target = "/", .version = "HTTP/1.1", .fields = f, .n_fields = 2,
                                .header_size = 0, .max_body = 1 };
        ck_assert_uint_eq(framing_check(&unknown, msg, sizeof msg), 0); /* size unknown: rule skipped */
}
END_TEST

static Suite *framing_suite(void) {
        Suite *s = suite_create("framing");
        TCase *tc = tcase_create("framing");
        tcase_add_test(tc, test_framing_accepts);
        tcase_add_test(tc, test_framing_refuses);
        tcase_add_test(tc, test_framing_size);
        suite_add_tcase(s, tc);
        return s;
}

CHECK_MAIN(framing_suite)
