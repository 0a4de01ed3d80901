/* stream.c — see stream.h. */
#include "stream.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#include "events.h"
#include "log.h"
#include "util.h"

#define STREAM_CHUNK (64 * 1024)

struct Streams {
        Daemon *daemon;      /* borrowed */
        pthread_mutex_t lock; /* guards the list and each Stream's flags */
        Stream *streams;     /* open streams */
        size_t n_streams;    /* of the event hub (not the sources') */
        bool closing;
        pthread_cond_t keepalive_cond;
        pthread_t keepalive_thread;
        bool keepalive_started;
};

/* One GET /v1/events/stream, or one followed source (StreamSource).  Owned by its
 * libmicrohttpd response (freed in sse_free). */
struct Stream {
        Streams *h;
        struct MHD_Connection *c; /* NULL once the request completed */
        int64_t cursor;           /* id of the last event sent */
        const StreamSource *src;  /* NULL: the event hub */
        void *src_ctx;            /* borrowed */
        int64_t src_key;
        bool src_ended;           /* the source said nothing follows what is pending */
        bool suspended, keepalive_due;
        char *pending; /* SSE text not yet handed to libmicrohttpd */
        size_t pending_len, pending_off;
        uint64_t bytes;
        Stream *prev, *next;
};

/* libmicrohttpd's content reader for an event stream: hands out pending SSE text; when the
 * client has everything, suspends the connection until the hub or the keep-alive timer
 * resumes it (see stream.h). */
static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max) {
        Stream *s = cls;
        Streams *h = s->h;

        for (;;) {
                if (s->pending_off < s->pending_len) {
                        size_t n = s->pending_len - s->pending_off;
                        if (n > max)
                                n = max;
                        memcpy(buf, s->pending + s->pending_off, n);
                        s->pending_off += n;
                        s->bytes += n;
                        return (ssize_t) n;
                }
                free(s->pending);
                s->pending = NULL;
                s->pending_len = s->pending_off = 0;
                if (s->src_ended)
                        return MHD_CONTENT_READER_END_OF_STREAM;

                /* No lock held here: this may read the store (daemon lock) or the source. */
                char *text = NULL;
                size_t len = 0;
                int64_t last;
                uint64_t gen = s->src ? s->src->generation(s->src_ctx) : 0;
                int r = s->src ? s->src->read(s->src_ctx, s->src_key, s->cursor, STREAM_CHUNK, &text, &len, &last,
                                              &s->src_ended)
                               : daemon_events_sse(h->daemon, s->cursor, STREAM_CHUNK, &text, &len, &last);
                if (r == -ENOENT && s->src) /* the source is gone */
                        return MHD_CONTENT_READER_END_OF_STREAM;
                if (r < 0) {
                        log_warning_errno(r, "event stream: cannot read events: %m");
                        return MHD_CONTENT_READER_END_WITH_ERROR;
                }
                if (len > 0 || s->src_ended) {
                        s->pending = text;
                        s->pending_len = len;
                        s->cursor = last;
                        continue;
                }

                pthread_mutex_lock(&h->lock);
                if (h->closing) {
                        pthread_mutex_unlock(&h->lock);
                        return MHD_CONTENT_READER_END_OF_STREAM;
                }
                if (s->keepalive_due) {
                        static const char ka[] = ": keepalive\n\n";
                        s->keepalive_due = false;
                        pthread_mutex_unlock(&h->lock);
                        s->pending = strdup(ka);
                        if (!s->pending)
                                return MHD_CONTENT_READER_END_WITH_ERROR;
                        s->pending_len = strlen(ka);
                        continue;
                }
                if (s->src ? s->src->generation(s->src_ctx) != gen : events_last_id(daemon_events(h->daemon)) > s->cursor) {
                        /* Published after we looked: read again. */
                        pthread_mutex_unlock(&h->lock);
                        continue;
                }
                s->suspended = true;
                MHD_suspend_connection(s->c);
                pthread_mutex_unlock(&h->lock);
                return 0;
        }
}

static void sse_free(void *cls) {
        Stream *s = cls;
        Streams *h = s->h;
        pthread_mutex_lock(&h->lock);
        if (s->prev)
                s->prev->next = s->next;
        else
                h->streams = s->next;
        if (s->next)
                s->next->prev = s->prev;
        if (!s->src)
                h->n_streams--;
        pthread_mutex_unlock(&h->lock);
        free(s->pending);
        free(s);
}

/* Resumes every suspended stream (sources_only: those of a StreamSource); with `keepalive`,
 * also asks each for a keep-alive.  Called with h->lock held. */
static void sse_wake_locked(Streams *h, bool keepalive, bool sources_only) {
        for (Stream *s = h->streams; s; s = s->next) {
                if (sources_only && !s->src)
                        continue;
                if (keepalive)
                        s->keepalive_due = true;
                if (s->suspended && s->c) {
                        s->suspended = false;
                        MHD_resume_connection(s->c);
                }
        }
}

/* The event hub's notify callback (runs on the publishing thread, daemon lock held). */
static void sse_on_event(void *userdata) {
        Streams *h = userdata;
        pthread_mutex_lock(&h->lock);
        sse_wake_locked(h, false, false);
        pthread_mutex_unlock(&h->lock);
}

static void *sse_keepalive_thread(void *userdata) {
        Streams *h = userdata;
        pthread_mutex_lock(&h->lock);
        while (!h->closing) {
                struct timespec ts = timespec_after_ms(CLOCK_REALTIME, STREAM_KEEPALIVE_MS);
                if (pthread_cond_timedwait(&h->keepalive_cond, &h->lock, &ts) != 0 && !h->closing)
                        sse_wake_locked(h, true, false);
        }
        pthread_mutex_unlock(&h->lock);
        return NULL;
}

int streams_new(Daemon *d, Streams **ret) {
        Streams *h = calloc(1, sizeof *h);
        if (!h)
                return -ENOMEM;
        h->daemon = d;
        pthread_mutex_init(&h->lock, NULL);
        pthread_cond_init(&h->keepalive_cond, NULL);
        int r = pthread_create(&h->keepalive_thread, NULL, sse_keepalive_thread, h);
        if (r != 0) {
                pthread_mutex_destroy(&h->lock);
                pthread_cond_destroy(&h->keepalive_cond);
                free(h);
                return -r;
        }
        h->keepalive_started = true;
        events_set_notify(daemon_events(d), sse_on_event, h);
        *ret = h;
        return 0;
}

void streams_stop(Streams *h) {
        if (!h)
                return;
        events_set_notify(daemon_events(h->daemon), NULL, NULL);
        pthread_mutex_lock(&h->lock);
        h->closing = true;
        sse_wake_locked(h, false, false);
        pthread_cond_broadcast(&h->keepalive_cond);
        pthread_mutex_unlock(&h->lock);
        if (h->keepalive_started) {
                pthread_join(h->keepalive_thread, NULL);
                h->keepalive_started = false;
        }
}

void streams_free(Streams *h) {
        if (!h)
                return;
        streams_stop(h);
        pthread_mutex_destroy(&h->lock);
        pthread_cond_destroy(&h->keepalive_cond);
        free(h);
}

/* A stream of the hub (src NULL) or of src, its first text `preamble`. */
static struct MHD_Response *stream_new(Streams *h, struct MHD_Connection *c, const StreamSource *src, void *src_ctx,
                                       int64_t src_key, int64_t cursor, const char *preamble, Stream **ret_stream) {
        Stream *s = calloc(1, sizeof *s);
        if (!s)
                return NULL;
        *s = (Stream) { .h = h, .c = c, .cursor = cursor, .src = src, .src_ctx = src_ctx, .src_key = src_key };
        /* Sent first, so a client sees the stream is up even when nothing happens. */
        s->pending = strdup(preamble);
        s->pending_len = s->pending ? strlen(s->pending) : 0;

        struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, sse_read, s, sse_free);
        if (!resp) {
                free(s->pending);
                free(s);
                return NULL;
        }
        /* From here on the response owns s. */
        pthread_mutex_lock(&h->lock);
        s->next = h->streams;
        if (h->streams)
                h->streams->prev = s;
        h->streams = s;
        if (!src)
                h->n_streams++;
        pthread_mutex_unlock(&h->lock);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
        MHD_add_response_header(resp, "X-Accel-Buffering", "no");
        *ret_stream = s;
        return resp;
}

struct MHD_Response *streams_response(Streams *h, struct MHD_Connection *c, int64_t cursor, Stream **ret_stream) {
        return stream_new(h, c, NULL, NULL, 0, cursor, ": provd event stream\nretry: 3000\n\n", ret_stream);
}

struct MHD_Response *streams_source_response(Streams *h, struct MHD_Connection *c, const StreamSource *src, void *ctx,
                                             int64_t key, int64_t cursor, const char *preamble, Stream **ret_stream) {
        return stream_new(h, c, src, ctx, key, cursor, preamble, ret_stream);
}

void streams_wake_sources(Streams *h) {
        pthread_mutex_lock(&h->lock);
        sse_wake_locked(h, false, true);
        pthread_mutex_unlock(&h->lock);
}

uint64_t streams_completed(Streams *h, Stream *s) {
        pthread_mutex_lock(&h->lock);
        s->c = NULL;
        uint64_t bytes = s->bytes;
        pthread_mutex_unlock(&h->lock);
        return bytes;
}

size_t streams_count(Streams *h) {
        pthread_mutex_lock(&h->lock);
        size_t n = h->n_streams;
        pthread_mutex_unlock(&h->lock);
        return n;
}
