/* deadline-heap.c — see deadline-heap.h. */
#include "deadline-heap.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>

#define NOWHERE UINT32_MAX

struct DeadlineHeap {
        size_t n_slots;
        size_t n;       /* entries in heap[] */
        uint32_t *heap; /* n slots; heap[i]'s key <= its children's (2i+1, 2i+2) */
        uint32_t *pos;  /* n_slots: the slot's index in heap[], or NOWHERE */
        int64_t *key;   /* n_slots: the slot's deadline, valid while pos[slot] != NOWHERE */
};

int deadline_heap_new(size_t n_slots, DeadlineHeap **ret) {
        if (n_slots >= NOWHERE)
                return -ERANGE;
        DeadlineHeap *h = calloc(1, sizeof *h);
        if (!h)
                return -ENOMEM;
        h->n_slots = n_slots;
        h->heap = malloc((n_slots + 1) * sizeof *h->heap);
        h->pos = malloc((n_slots + 1) * sizeof *h->pos);
        h->key = malloc((n_slots + 1) * sizeof *h->key);
        if (!h->heap || !h->pos || !h->key) {
                deadline_heap_free(h);
                return -ENOMEM;
        }
        for (size_t i = 0; i < n_slots; i++)
                h->pos[i] = NOWHERE;
        *ret = h;
        return 0;
}

void deadline_heap_free(DeadlineHeap *h) {
        if (!h)
                return;
        free(h->heap);
        free(h->pos);
        free(h->key);
        free(h);
}

static void place(DeadlineHeap *h, size_t i, uint32_t slot) {
        h->heap[i] = slot;
        h->pos[slot] = (uint32_t) i;
}

/* Moves the entry at i towards the root while its parent's deadline is later. */
static void sift_up(DeadlineHeap *h, size_t i) {
        uint32_t slot = h->heap[i];
        while (i > 0) {
                size_t parent = (i - 1) / 2;
                if (h->key[h->heap[parent]] <= h->key[slot])
                        break;
                place(h, i, h->heap[parent]);
                i = parent;
        }
        place(h, i, slot);
}

/* Moves the entry at i towards the leaves while a child's deadline is earlier. */
static void sift_down(DeadlineHeap *h, size_t i) {
        uint32_t slot = h->heap[i];
        for (;;) {
                size_t child = 2 * i + 1;
                if (child >= h->n)
                        break;
                if (child + 1 < h->n && h->key[h->heap[child + 1]] < h->key[h->heap[child]])
                        child++;
                if (h->key[slot] <= h->key[h->heap[child]])
                        break;
                place(h, i, h->heap[child]);
                i = child;
        }
        place(h, i, slot);
}

void deadline_heap_set(DeadlineHeap *h, size_t slot, int64_t key) {
        assert(slot < h->n_slots);
        uint32_t i = h->pos[slot];
        if (i == NOWHERE) {
                h->key[slot] = key;
                place(h, h->n++, (uint32_t) slot);
                sift_up(h, h->n - 1);
                return;
        }
        int64_t old = h->key[slot];
        h->key[slot] = key;
        if (key < old)
                sift_up(h, i);
        else if (key > old)
                sift_down(h, i);
}

void deadline_heap_remove(DeadlineHeap *h, size_t slot) {
        assert(slot < h->n_slots);
        uint32_t i = h->pos[slot];
        if (i == NOWHERE)
                return;
        h->pos[slot] = NOWHERE;
        uint32_t last = h->heap[--h->n];
        if (i == h->n)
                return;
        /* The last entry takes the hole; it may belong above or below it. */
        place(h, i, last);
        if (i > 0 && h->key[h->heap[(i - 1) / 2]] > h->key[last])
                sift_up(h, i);
        else
                sift_down(h, i);
}

bool deadline_heap_get(const DeadlineHeap *h, size_t slot, int64_t *ret_key) {
        assert(slot < h->n_slots);
        if (h->pos[slot] == NOWHERE)
                return false;
        if (ret_key)
                *ret_key = h->key[slot];
        return true;
}

bool deadline_heap_peek(const DeadlineHeap *h, size_t *ret_slot, int64_t *ret_key) {
        if (h->n == 0)
                return false;
        if (ret_slot)
                *ret_slot = h->heap[0];
        if (ret_key)
                *ret_key = h->key[h->heap[0]];
        return true;
}

size_t deadline_heap_size(const DeadlineHeap *h) {
        return h->n;
}
