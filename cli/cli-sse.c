/* cli-sse.c — see cli-sse.h: the Server-Sent Events parser of the client commands. */
#include "cli-sse.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define CLI_SSE_MAX (16u * 1024 * 1024)

static int append(char **buf, size_t *len, size_t *cap, const char *s, size_t n) {
        if (*len + n + 1 > *cap) {
                size_t c = *cap ? *cap : 256;
                while (c < *len + n + 1)
                        c *= 2;
                if (c > CLI_SSE_MAX)
                        return -E2BIG;
                char *b = realloc(*buf, c);
                if (!b)
                        return -ENOMEM;
                *buf = b;
                *cap = c;
        }
        memcpy(*buf + *len, s, n);
        *len += n;
        (*buf)[*len] = '\0';
        return 0;
}

/* One complete line (no terminator). */
static int line(CliSse *s, char *l) {
        if (*l == '\0') { /* dispatch */
                if (s->has_data) {
                        if (s->data_len > 0 && s->data[s->data_len - 1] == '\n')
                                s->data[--s->data_len] = '\0';
                        s->on_event(s->userdata, s->type, s->data);
                }
                s->data_len = 0;
                s->has_data = false;
                s->type[0] = '\0';
                return 0;
        }
        if (*l == ':') /* comment: keepalive */
                return 0;
        char *value = strchr(l, ':');
        if (value) {
                *value++ = '\0';
                if (*value == ' ')
                        value++;
        } else
                value = l + strlen(l);
        if (streq(l, "data")) {
                int r = append(&s->data, &s->data_len, &s->data_cap, value, strlen(value));
                if (r == 0)
                        r = append(&s->data, &s->data_len, &s->data_cap, "\n", 1);
                if (r < 0)
                        return r;
                s->has_data = true;
        } else if (streq(l, "event"))
                snprintf(s->type, sizeof s->type, "%s", value);
        else if (streq(l, "id")) {
                char *end;
                errno = 0;
                long long id = strtoll(value, &end, 10);
                if (!errno && end != value && !*end && id > s->last_id)
                        s->last_id = id;
        }
        /* "retry" and unknown fields: ignored */
        return 0;
}

int cli_sse_feed(CliSse *s, const char *buf, size_t n) {
        for (size_t i = 0; i < n; i++) {
                char ch = buf[i];
                int r;
                if (ch == '\n' && s->last_was_cr) {
                        s->last_was_cr = false;
                        continue;
                }
                s->last_was_cr = ch == '\r';
                if (ch == '\n' || ch == '\r') {
                        if (!s->line && (r = append(&s->line, &s->line_len, &s->line_cap, "", 0)) < 0)
                                return r;
                        r = line(s, s->line);
                        s->line_len = 0;
                        s->line[0] = '\0';
                } else
                        r = append(&s->line, &s->line_len, &s->line_cap, &ch, 1);
                if (r < 0)
                        return r;
        }
        return 0;
}

void cli_sse_reset(CliSse *s) {
        s->line_len = 0;
        if (s->line)
                s->line[0] = '\0';
        s->last_was_cr = false;
        s->data_len = 0;
        s->has_data = false;
        s->type[0] = '\0';
}

void cli_sse_free(CliSse *s) {
        free(s->line);
        free(s->data);
        s->line = s->data = NULL;
        s->line_len = s->line_cap = s->data_len = s->data_cap = 0;
}
