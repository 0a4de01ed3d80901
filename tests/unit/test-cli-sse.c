/* test-cli-sse.c — the Server-Sent Events parser (cli/cli-sse.c) on what provd's
 * /v1/events/stream sends, fed whole and one byte at a time: CRLF / LF / CR line ends,
 * comments (keepalives), event types, ids (Last-Event-ID), multi-line data, a reset between
 * connections. */
#include "check-main.h"
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli-sse.h"
#include "util.h"

typedef struct Got {
        char out[4096]; /* "type|data|id;" per event */
} Got;

static void on_event(void *userdata, const char *type, const char *data) {
        Got *g = userdata;
        size_t n = strlen(g->out);
        snprintf(g->out + n, sizeof g->out - n, "%s|%s;", type, data);
}

/* Feeds text whole (chunk 0) or in chunks of `chunk` bytes; returns the events seen. */
static void feed(CliSse *s, const char *text, size_t chunk) {
        size_t n = strlen(text);
        if (chunk == 0)
                ck_assert_int_eq(cli_sse_feed(s, text, n), 0);
        else
                for (size_t i = 0; i < n; i += chunk)
                        ck_assert_int_eq(cli_sse_feed(s, text + i, n - i < chunk ? n - i : chunk), 0);
}

static const char stream[] =
        ": keepalive\n\n"
        "id: 7\nevent: transition\ndata: {\"node\":\"node-01\",\"to\":\"pending\"}\n\n"
        "id: 8\r\nevent: transition\r\ndata: {\"a\":1}\r\n\r\n"
        "id: 9\revent: other\rdata:x\rdata: y\r\r"
        "retry: 1000\nfoo: bar\nid: nonsense\ndata\n\n"
        "id: 3\ndata: late\n\n"
        "data: unterminated";

START_TEST(test_stream) {
        static const size_t chunks[] = { 0, 1, 2, 3, 7, 64 };
        for (size_t c = 0; c < ELEMENTSOF(chunks); c++) {
                Got g = { "" };
                CliSse s = { .on_event = on_event, .userdata = &g, .last_id = 5 };
                feed(&s, stream, chunks[c]);
                ck_assert_str_eq(g.out, "transition|{\"node\":\"node-01\",\"to\":\"pending\"};"
                                        "transition|{\"a\":1};"
                                        "other|x\ny;"
                                        "|;"
                                        "|late;");
                ck_assert_int_eq(s.last_id, 9); /* ids only grow; "nonsense" ignored */
                /* the half-read event is dropped by a reset (new connection) */
                cli_sse_reset(&s);
                feed(&s, "\n\n", chunks[c]);
                ck_assert_str_eq(g.out + strlen(g.out) - 6, "|late;");
                feed(&s, "id: 10\ndata: next\n\n", chunks[c]);
                ck_assert_int_eq(s.last_id, 10);
                ck_assert_str_eq(g.out + strlen(g.out) - 6, "|next;");
                cli_sse_free(&s);
        }
}
END_TEST

START_TEST(test_crlf_split) {
        /* a CRLF split across two reads is one line end, not two (no empty line dispatching) */
        Got g = { "" };
        CliSse s = { .on_event = on_event, .userdata = &g };
        ck_assert_int_eq(cli_sse_feed(&s, "data: a\r", 8), 0);
        ck_assert_int_eq(cli_sse_feed(&s, "\ndata: b\r", 9), 0);
        ck_assert_int_eq(cli_sse_feed(&s, "\n\r\n", 3), 0);
        ck_assert_str_eq(g.out, "|a\nb;");
        cli_sse_free(&s);
}
END_TEST

static Suite *cli_sse_suite(void) {
        Suite *s = suite_create("cli-sse");
        TCase *tc = tcase_create("parser");
        tcase_add_test(tc, test_stream);
        tcase_add_test(tc, test_crlf_split);
        suite_add_tcase(s, tc);
        return s;
}

CHECK_MAIN(cli_sse_suite)
