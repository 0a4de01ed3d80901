/* fuzz-sse.c — the CLI's Server-Sent Events parser (cli_sse_feed()) on arbitrary bytes: never
 * crashes or leaks; the stream fed in one chunk, one byte at a time, and in chunks whose
 * lengths the input's first bytes choose (a length 0 feeds nothing, then one byte) gives the
 * same events (last id, type, data) in the same order; an event's type has no line end and
 * fits CliSse.type, its data has no CR (a line end); last_id never goes down; after
 * cli_sse_reset() empty lines dispatch nothing.
 *
 * Input: byte 0 & 7 = k, bytes 1..k = chunk lengths (each % 32, cycled), the rest = stream. */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli-sse.h"
#include "fuzz.h"

typedef struct Events {
        char *buf; /* "ID\0TYPE\0DATA\0" per event */
        size_t len, cap;
        size_t n;
        const CliSse *s;
        int64_t last_id;
} Events;

static void put(Events *e, const char *s, size_t n) {
        if (e->len + n + 1 > e->cap) {
                size_t c = e->cap ? e->cap : 256;
                while (c < e->len + n + 1)
                        c *= 2;
                char *b = realloc(e->buf, c);
                assert(b);
                e->buf = b;
                e->cap = c;
        }
        memcpy(e->buf + e->len, s, n);
        e->buf[e->len + n] = '\0';
        e->len += n + 1;
}

static void on_event(void *userdata, const char *type, const char *data) {
        Events *e = userdata;
        assert(strlen(type) < sizeof e->s->type && !strpbrk(type, "\r\n"));
        size_t dl = strlen(data);
        assert(!strchr(data, '\r'));
        assert(e->s->last_id >= e->last_id);
        e->last_id = e->s->last_id;
        char id[32];
        int k = snprintf(id, sizeof id, "%lld", (long long) e->s->last_id);
        put(e, id, (size_t) k);
        put(e, type, strlen(type));
        put(e, data, dl);
        e->n++;
}

/* Feeds stream in chunks of the lengths in ctl[0..nctl) (cycled; none: one chunk) and
 * collects the events in *e. */
static void run(const char *stream, size_t size, const uint8_t *ctl, size_t nctl, Events *e) {
        CliSse s = { .on_event = on_event, .userdata = e, .last_id = -1 };
        *e = (Events) { .s = &s, .last_id = -1 };
        if (nctl == 0)
                assert(cli_sse_feed(&s, stream, size) == 0);
        else
                for (size_t i = 0, c = 0; i < size; c++) {
                        size_t n = ctl[c % nctl] % 32;
                        if (n == 0) { /* an empty feed, then one byte: always progress */
                                assert(cli_sse_feed(&s, stream + i, 0) == 0);
                                n = 1;
                        }
                        if (n > size - i)
                                n = size - i;
                        assert(cli_sse_feed(&s, stream + i, n) == 0);
                        i += n;
                }
        /* a reset drops the half-read line and event: empty lines then dispatch nothing */
        size_t before = e->n;
        cli_sse_reset(&s);
        assert(cli_sse_feed(&s, "\n\r\n\r", 4) == 0);
        assert(e->n == before);
        cli_sse_free(&s);
        e->s = NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size == 0)
                return 0;
        size_t nctl = data[0] & 7;
        if (nctl > size - 1)
                nctl = size - 1;
        const uint8_t *ctl = data + 1;
        const char *stream = (const char *) data + 1 + nctl;
        size_t len = size - 1 - nctl;

        Events whole, bytes, chunks;
        run(stream, len, NULL, 0, &whole);
        run(stream, len, (const uint8_t *) "\x01", 1, &bytes);
        run(stream, len, ctl, nctl, &chunks);
        assert(bytes.n == whole.n && bytes.len == whole.len);
        assert(chunks.n == whole.n && chunks.len == whole.len);
        assert(whole.len == 0 || (memcmp(bytes.buf, whole.buf, whole.len) == 0 &&
                                  memcmp(chunks.buf, whole.buf, whole.len) == 0));
        free(whole.buf);
        free(bytes.buf);
        free(chunks.buf);
        return 0;
}
