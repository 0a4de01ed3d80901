/* deadline-heap.h — a binary min-heap of deadlines, one per slot (a slot is a small integer the
 * caller picks: the daemon uses node indexes), with each slot's position tracked so that a
 * slot's deadline can be changed or removed in O(log n) and the earliest one read in O(1).
 * The install-deadline sweep reads only the deadlines that have passed.
 *
 * Pure: no I/O, no locks (the caller's lock guards it), no allocation after deadline_heap_new(),
 * so no operation but that one can fail.  Unit-tested (tests/unit/test-deadline-heap.c). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct DeadlineHeap DeadlineHeap;

/* A heap for slots 0..n_slots-1 (n_slots < 2^32), empty.  Returns 0 and *ret (caller owns;
 * deadline_heap_free()), or -ENOMEM, or -ERANGE for too many slots. */
int deadline_heap_new(size_t n_slots, DeadlineHeap **ret);
void deadline_heap_free(DeadlineHeap *h);

/* Gives `slot` (< n_slots) the deadline `key` (any int64_t, e.g. ms since the epoch), adding
 * it if it had none.  Slots with equal keys come out in no particular order. */
void deadline_heap_set(DeadlineHeap *h, size_t slot, int64_t key);

/* Removes `slot`'s deadline; nothing if it had none. */
void deadline_heap_remove(DeadlineHeap *h, size_t slot);

/* Whether `slot` has a deadline; if so and ret_key is non-NULL, *ret_key is it. */
bool deadline_heap_get(const DeadlineHeap *h, size_t slot, int64_t *ret_key);

/* The slot with the earliest deadline: true and *ret_slot, *ret_key (either may be NULL), or
 * false when the heap is empty (nothing written). */
bool deadline_heap_peek(const DeadlineHeap *h, size_t *ret_slot, int64_t *ret_key);

/* How many slots have a deadline. */
size_t deadline_heap_size(const DeadlineHeap *h);
