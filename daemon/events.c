/* events.c — see events.h. */
#include "events.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

typedef struct Slot {
        int64_t id;
        char *sse; /* owned, formatted SSE message */
        size_t len;
} Slot;

struct EventHub {
        pthread_mutex_t lock;
        Slot *ring;      /* capacity slots; the newest is at (head + n - 1) % capacity */
        size_t capacity;
        size_t head, n;
        int64_t last_id; /* newest id published (or known at creation) */
        int64_t gone_id; /* every id <= gone_id is not (or no longer) in the ring */
        EventNotifyFn notify;
        void *notify_userdata;
};

int events_hub_new(size_t capacity, int64_t last_id, EventHub **ret) {
        EventHub *h = calloc(1, sizeof *h);
        if (!h || capacity == 0)
                goto fail;
        h->ring = calloc(capacity, sizeof *h->ring);
        if (!h->ring)
                goto fail;
        pthread_mutex_init(&h->lock, NULL);
        h->capacity = capacity;
        h->last_id = h->gone_id = last_id;
        *ret = h;
        return 0;
fail:
        free(h);
        return capacity == 0 ? -EINVAL : -ENOMEM;
}

void events_hub_free(EventHub *h) {
        if (!h)
                return;
        for (size_t i = 0; i < h->capacity; i++)
                free(h->ring[i].sse);
        free(h->ring);
        pthread_mutex_destroy(&h->lock);
        free(h);
}

void events_set_notify(EventHub *h, EventNotifyFn fn, void *userdata) {
        pthread_mutex_lock(&h->lock);
        h->notify = fn;
        h->notify_userdata = userdata;
        pthread_mutex_unlock(&h->lock);
}

char *events_format_sse(int64_t id, const char *json) {
        char *s = NULL;
        /* SSE (WHATWG HTML §9.2): a data line ends at CR or LF, so the JSON must be one line;
         * jansson's compact output escapes both inside strings. */
        if (strpbrk(json, "\r\n"))
                return NULL;
        if (asprintf(&s, "id: %" PRId64 "\nevent: transition\ndata: %s\n\n", id, json) < 0)
                return NULL;
        return s;
}

int events_publish(EventHub *h, int64_t id, const char *json) {
        char *sse = json ? events_format_sse(id, json) : NULL;
        EventNotifyFn fn;
        void *userdata;

        pthread_mutex_lock(&h->lock);
        if (id > h->last_id)
                h->last_id = id;
        if (!sse) {
                /* Readers before this point must backfill from the store. */
                for (size_t i = 0; i < h->n; i++) {
                        Slot *old = &h->ring[(h->head + i) % h->capacity];
                        free(old->sse);
                        old->sse = NULL;
                }
                h->gone_id = id;
                h->head = h->n = 0;
        } else {
                if (h->n == h->capacity) {
                        Slot *old = &h->ring[h->head];
                        h->gone_id = old->id;
                        free(old->sse);
                        old->sse = NULL;
                        h->head = (h->head + 1) % h->capacity;
                        h->n--;
                }
                h->ring[(h->head + h->n) % h->capacity] = (Slot) { .id = id, .sse = sse, .len = strlen(sse) };
                h->n++;
        }
        fn = h->notify;
        userdata = h->notify_userdata;
        pthread_mutex_unlock(&h->lock);
        if (fn)
                fn(userdata);
        return sse ? 0 : -ENOMEM;
}

int events_read_sse(EventHub *h, int64_t after, size_t max_bytes, char **ret_text, size_t *ret_len,
                    int64_t *ret_last) {
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        int64_t last = after;
        int r = 0;

        pthread_mutex_lock(&h->lock);
        if (after < h->gone_id) {
                r = -ERANGE;
                goto out;
        }
        for (size_t i = 0; i < h->n; i++) {
                const Slot *s = &h->ring[(h->head + i) % h->capacity];
                if (s->id <= after)
                        continue;
                if (len > 0 && len + s->len > max_bytes)
                        break;
                char *t = realloc(text, len + s->len + 1);
                if (!t) {
                        r = -ENOMEM;
                        goto out;
                }
                text = t;
                memcpy(text + len, s->sse, s->len + 1);
                len += s->len;
                last = s->id;
        }
out:
        pthread_mutex_unlock(&h->lock);
        if (r < 0)
                return r;
        *ret_text = TAKE_PTR(text);
        *ret_len = len;
        *ret_last = last;
        return 0;
}

int64_t events_last_id(EventHub *h) {
        pthread_mutex_lock(&h->lock);
        int64_t id = h->last_id;
        pthread_mutex_unlock(&h->lock);
        return id;
}
