/* cli-sse.h — a Server-Sent Events parser for the client commands (`provd events --follow`,
 * `provd reinstall --wait`): bytes in as libcurl delivers them, one callback per dispatched
 * event out.  Follows "Interpreting an event stream" of the HTML standard
 * (https://html.spec.whatwg.org/multipage/server-sent-events.html): lines end in CRLF, LF or
 * CR; ':' starts a comment (provd's keepalives); fields data, event, id; an empty line
 * dispatches.  Only what provd sends is kept: the `retry` field and unknown fields are ignored.
 *
 * Pure: no I/O, no threads.  The event stream itself is GET /v1/events/stream. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Called for each dispatched event: type is the `event` field ("" when none), data the data
 * lines joined with "\n" (no trailing newline); both are valid only during the call.  The
 * stream's last event id (CliSse.last_id) is already updated. */
typedef void (*CliSseHandler)(void *userdata, const char *type, const char *data);

typedef struct CliSse {
        CliSseHandler on_event;
        void *userdata;
        int64_t last_id; /* highest numeric `id` seen (start value: the caller's), for Last-Event-ID */

        /* private */
        char *line;
        size_t line_len, line_cap;
        bool last_was_cr;
        char *data;
        size_t data_len, data_cap;
        bool has_data;
        char type[64];
} CliSse;

/* Feeds n bytes of the stream.  Returns 0, or -ENOMEM / -E2BIG (a line or an event larger than
 * 16 MiB); after an error the parser must be reset before it is fed again. */
int cli_sse_feed(CliSse *s, const char *buf, size_t n);

/* Drops a half-read line or event (a new connection starts clean); keeps last_id. */
void cli_sse_reset(CliSse *s);

/* Frees the buffers (the struct itself is the caller's). */
void cli_sse_free(CliSse *s);
