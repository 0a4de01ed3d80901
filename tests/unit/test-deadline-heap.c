/* test-deadline-heap.c — unit tests for deadline-heap.c: the earliest deadline first, set
 * (insert and update in both directions), removal from any position, and many random
 * operations checked against a plain array after each one. */
#include "check-main.h"
#include <check.h>
#include <errno.h>
#include <stdlib.h>

#include "deadline-heap.h"
#include "util.h"

static void heap_freep(DeadlineHeap **h) {
        deadline_heap_free(*h);
}

static DeadlineHeap *heap(size_t n) {
        DeadlineHeap *h = NULL;
        ck_assert_int_eq(deadline_heap_new(n, &h), 0);
        ck_assert_ptr_nonnull(h);
        return h;
}

/* Pops every entry: they come out in key order, and the heap is empty after. */
static void drain_sorted(DeadlineHeap *h, size_t expect_n) {
        int64_t prev = INT64_MIN, key;
        size_t slot, n = 0;
        while (deadline_heap_peek(h, &slot, &key)) {
                ck_assert_int_ge(key, prev);
                int64_t again;
                ck_assert(deadline_heap_get(h, slot, &again));
                ck_assert_int_eq(again, key);
                deadline_heap_remove(h, slot);
                ck_assert(!deadline_heap_get(h, slot, NULL));
                prev = key;
                n++;
        }
        ck_assert_uint_eq(n, expect_n);
        ck_assert_uint_eq(deadline_heap_size(h), 0);
}

START_TEST(test_deadline_heap_empty) {
        _cleanup_(heap_freep) DeadlineHeap *h = heap(4);
        size_t slot = 99;
        int64_t key = 99;
        ck_assert(!deadline_heap_peek(h, &slot, &key));
        ck_assert_uint_eq(slot, 99); /* untouched */
        ck_assert_int_eq(key, 99);
        ck_assert_uint_eq(deadline_heap_size(h), 0);
        ck_assert(!deadline_heap_get(h, 3, NULL));
        deadline_heap_remove(h, 3); /* nothing to remove: fine */
        ck_assert_uint_eq(deadline_heap_size(h), 0);

        _cleanup_(heap_freep) DeadlineHeap *none = heap(0);
        ck_assert(!deadline_heap_peek(none, NULL, NULL));
}
END_TEST

START_TEST(test_deadline_heap_order) {
        static const int64_t keys[] = { 50, 10, 40, 10, -5, 70, 30, 20, 60, 0 };
        _cleanup_(heap_freep) DeadlineHeap *h = heap(ELEMENTSOF(keys));
        for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                deadline_heap_set(h, i, keys[i]);
        ck_assert_uint_eq(deadline_heap_size(h), ELEMENTSOF(keys));
        size_t slot;
        int64_t key;
        ck_assert(deadline_heap_peek(h, &slot, &key));
        ck_assert_uint_eq(slot, 4);
        ck_assert_int_eq(key, -5);
        drain_sorted(h, ELEMENTSOF(keys));
}
END_TEST

START_TEST(test_deadline_heap_update) {
        _cleanup_(heap_freep) DeadlineHeap *h = heap(8);
        for (size_t i = 0; i < 8; i++)
                deadline_heap_set(h, i, 100 + (int64_t) i * 10);
        size_t slot;
        int64_t key;
        /* Later: the earliest moves down, the next one comes up. */
        deadline_heap_set(h, 0, 1000);
        ck_assert(deadline_heap_peek(h, &slot, &key));
        ck_assert_uint_eq(slot, 1);
        ck_assert_int_eq(key, 110);
        /* Earlier: a leaf comes to the top. */
        deadline_heap_set(h, 7, 1);
        ck_assert(deadline_heap_peek(h, &slot, &key));
        ck_assert_uint_eq(slot, 7);
        ck_assert_int_eq(key, 1);
        /* The same key again: a no-op; setting does not add a second entry. */
        deadline_heap_set(h, 7, 1);
        ck_assert_uint_eq(deadline_heap_size(h), 8);
        ck_assert(deadline_heap_get(h, 0, &key));
        ck_assert_int_eq(key, 1000);
        drain_sorted(h, 8);
}
END_TEST

START_TEST(test_deadline_heap_remove) {
        _cleanup_(heap_freep) DeadlineHeap *h = heap(16);
        for (size_t i = 0; i < 16; i++)
                deadline_heap_set(h, i, (int64_t) ((i * 7) % 16));
        /* The top, a leaf, one in the middle, and the last entry. */
        size_t top;
        ck_assert(deadline_heap_peek(h, &top, NULL));
        deadline_heap_remove(h, top);
        deadline_heap_remove(h, 15);
        deadline_heap_remove(h, 5);
        deadline_heap_remove(h, 5); /* twice: no-op */
        ck_assert_uint_eq(deadline_heap_size(h), 13);
        ck_assert(!deadline_heap_get(h, top, NULL));
        ck_assert(!deadline_heap_get(h, 15, NULL));
        ck_assert(!deadline_heap_get(h, 5, NULL));
        /* A removed slot can come back. */
        deadline_heap_set(h, 5, -1);
        size_t slot;
        ck_assert(deadline_heap_peek(h, &slot, NULL));
        ck_assert_uint_eq(slot, 5);
        drain_sorted(h, 14);
}
END_TEST

/* A removal whose hole the last entry fills from another subtree, where it belongs higher up. */
START_TEST(test_deadline_heap_remove_sifts_up) {
        _cleanup_(heap_freep) DeadlineHeap *h = heap(7);
        /*            0:1
         *       1:100     2:2
         *     3:101 4:102 5:3 6:4       remove slot 4: the last (6:4) goes under 1:100 -> up */
        static const int64_t keys[] = { 1, 100, 2, 101, 102, 3, 4 };
        for (size_t i = 0; i < 7; i++)
                deadline_heap_set(h, i, keys[i]);
        deadline_heap_remove(h, 4);
        int64_t prev = INT64_MIN, key;
        static const size_t order[] = { 0, 2, 5, 6, 1, 3 };
        for (size_t i = 0; i < ELEMENTSOF(order); i++) {
                size_t slot;
                ck_assert(deadline_heap_peek(h, &slot, &key));
                ck_assert_uint_eq(slot, order[i]);
                ck_assert_int_ge(key, prev);
                prev = key;
                deadline_heap_remove(h, slot);
        }
        ck_assert(!deadline_heap_peek(h, NULL, NULL));
}
END_TEST

START_TEST(test_deadline_heap_too_many_slots) {
        DeadlineHeap *h = NULL;
        ck_assert_int_eq(deadline_heap_new((size_t) UINT32_MAX, &h), -ERANGE);
        ck_assert_ptr_null(h);
}
END_TEST

#define MANY 20000

/* Many random sets, updates and removals, checked after each against a plain array: the
 * peek is the minimum key among the slots that have one, and the size their number. */
START_TEST(test_deadline_heap_many) {
        _cleanup_(heap_freep) DeadlineHeap *h = heap(MANY);
        _cleanup_free_ int64_t *model = malloc(MANY * sizeof *model);
        _cleanup_free_ bool *has = calloc(MANY, sizeof *has);
        ck_assert(model && has);
        unsigned seed = 18;
        size_t n = 0;
        for (size_t step = 0; step < 200000; step++) {
                size_t slot = (size_t) rand_r(&seed) % MANY;
                if (rand_r(&seed) % 3 == 0) {
                        deadline_heap_remove(h, slot);
                        n -= has[slot];
                        has[slot] = false;
                } else {
                        int64_t key = (int64_t) (rand_r(&seed) % 100000) - 50000;
                        deadline_heap_set(h, slot, key);
                        n += !has[slot];
                        has[slot] = true;
                        model[slot] = key;
                }
                ck_assert_uint_eq(deadline_heap_size(h), n);
                if (step % 997 == 0 || step > 199000) {
                        /* Full check now and then (a scan of the model is O(MANY)). */
                        int64_t min = INT64_MAX;
                        for (size_t i = 0; i < MANY; i++)
                                if (has[i] && model[i] < min)
                                        min = model[i];
                        int64_t key;
                        size_t top;
                        ck_assert_int_eq(deadline_heap_peek(h, &top, &key), n > 0);
                        if (n > 0) {
                                ck_assert_int_eq(key, min);
                                ck_assert(has[top]);
                                ck_assert_int_eq(model[top], min);
                        }
                }
        }
        for (size_t i = 0; i < MANY; i++) {
                int64_t key;
                ck_assert_int_eq(deadline_heap_get(h, i, &key), has[i]);
                if (has[i])
                        ck_assert_int_eq(key, model[i]);
        }
        drain_sorted(h, n);
}
END_TEST

static Suite *deadline_heap_suite(void) {
        Suite *s = suite_create("deadline-heap");
        TCase *tc = tcase_create("deadline-heap");
        tcase_add_test(tc, test_deadline_heap_empty);
        tcase_add_test(tc, test_deadline_heap_order);
        tcase_add_test(tc, test_deadline_heap_update);
        tcase_add_test(tc, test_deadline_heap_remove);
        tcase_add_test(tc, test_deadline_heap_remove_sifts_up);
        tcase_add_test(tc, test_deadline_heap_too_many_slots);
        tcase_add_test(tc, test_deadline_heap_many);
        suite_add_tcase(s, tc);
        return s;
}

CHECK_MAIN(deadline_heap_suite)
