/* events.h — the live event hub: the most recent provision-state transitions, kept in
 * memory already formatted as Server-Sent Events, for GET /v1/events/stream.
 *
 * The store's history table is the record; the hub only holds a ring of the newest
 * `capacity` events so that streaming clients are served without touching SQLite.  A reader
 * that fell further behind than the ring gets -ERANGE and backfills from the store.
 *
 * Threads: events_publish() is called by daemon.c with its exclusive lock held (so ids
 * arrive in increasing order); readers call from libmicrohttpd threads.  The hub has its own
 * mutex and calls the notify callback after releasing it.  It never blocks on I/O. */
#pragma once

#include <stddef.h>
#include <stdint.h>

typedef struct EventHub EventHub;

/* Called after each publish (hub unlocked), on the publishing thread. */
typedef void (*EventNotifyFn)(void *userdata);

/* Creates a hub holding up to `capacity` events; `last_id` is the newest id already in the
 * store (events up to it are only there).  Returns 0 and *ret (caller owns;
 * events_hub_free()), or -ENOMEM. */
int events_hub_new(size_t capacity, int64_t last_id, EventHub **ret);
void events_hub_free(EventHub *h);

/* Sets the callback run after every publish (one per hub; NULL to clear). */
void events_set_notify(EventHub *h, EventNotifyFn fn, void *userdata);

/* Adds event `id` (greater than every id before) whose JSON text is `json` (one line; the
 * hub copies it; NULL records only that the event exists).  Returns 0 or -ENOMEM (the event is then only in the store; readers that
 * need it get -ERANGE and backfill). */
int events_publish(EventHub *h, int64_t id, const char *json);

/* Formats one event as an SSE message: "id: ID\nevent: transition\ndata: JSON\n\n".
 * Returns a malloc'd string (caller frees) or NULL.  Pure. */
char *events_format_sse(int64_t id, const char *json);

/* Collects the SSE text of the events with id > after, at most max_bytes (but always at
 * least one event when there is one).  On success *ret_text is malloc'd (caller frees) or
 * NULL when there is nothing new, *ret_len its length and *ret_last the id of the last
 * event included (after when none).  Returns 0, -ERANGE when events after `after` have
 * already left the ring (backfill from the store first), or -ENOMEM. */
int events_read_sse(EventHub *h, int64_t after, size_t max_bytes, char **ret_text, size_t *ret_len,
                    int64_t *ret_last);

/* The newest event id published or known at creation. */
int64_t events_last_id(EventHub *h);
