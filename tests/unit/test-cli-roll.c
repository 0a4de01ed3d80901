/* test-cli-roll.c — the rolling-reinstall scheduler (daemon/cli-roll.c): never more than N
 * nodes in flight whatever order they finish in, submission in order, the slot freed by a
 * finish, and which observed states count (armed only; stream events from before arming are
 * ignored). */
#include "check-main.h"
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli-roll.h"
#include "util.h"

static const char *const six[] = { "node-01", "node-02", "node-03", "node-04", "node-05", "node-06" };

START_TEST(test_parallel_two) {
        CliRoll r;
        ck_assert_int_eq(cli_roll_init(&r, six, 6, 2), 0);
        ck_assert(!cli_roll_done(&r));
        ck_assert_int_eq(cli_roll_next(&r), 0);
        ck_assert_int_eq(cli_roll_next(&r), 1);
        ck_assert_int_eq(cli_roll_next(&r), -1); /* two in flight: no third */
        ck_assert_int_eq(cli_roll_next(&r), -1);
        ck_assert_int_eq(r.in_flight, 2);
        ck_assert_int_eq(r.nodes[2].state, CLI_ROLL_WAITING);
        /* node-02 finishes first: node-03 may go */
        ck_assert_int_eq(cli_roll_finish(&r, 1, true, NULL), 0);
        ck_assert_int_eq(r.nodes[1].state, CLI_ROLL_INSTALLED);
        ck_assert_int_eq(cli_roll_next(&r), 2);
        ck_assert_int_eq(cli_roll_next(&r), -1);
        /* a finished node cannot finish again, a waiting one cannot finish at all */
        ck_assert_int_eq(cli_roll_finish(&r, 1, false, "x"), -EINVAL);
        ck_assert_int_eq(cli_roll_finish(&r, 4, true, NULL), -EINVAL);
        ck_assert_int_eq(cli_roll_finish(&r, 99, true, NULL), -EINVAL);
        ck_assert_int_eq(r.in_flight, 2);
        ck_assert_int_eq(r.installed, 1);
        ck_assert_int_eq(cli_roll_finish(&r, 0, false, "operation failed: BMC did not answer"), 0);
        ck_assert_str_eq(r.nodes[0].why, "operation failed: BMC did not answer");
        ck_assert_int_eq(cli_roll_next(&r), 3);
        ck_assert_int_eq(cli_roll_finish(&r, 2, true, NULL), 0);
        ck_assert_int_eq(cli_roll_finish(&r, 3, true, NULL), 0);
        ck_assert_int_eq(cli_roll_next(&r), 4);
        ck_assert_int_eq(cli_roll_next(&r), 5);
        ck_assert_int_eq(cli_roll_next(&r), -1); /* none left */
        ck_assert(!cli_roll_done(&r));
        ck_assert_int_eq(cli_roll_finish(&r, 5, true, NULL), 0);
        ck_assert_int_eq(cli_roll_next(&r), -1);
        ck_assert_int_eq(cli_roll_finish(&r, 4, false, NULL), 0);
        ck_assert_str_eq(r.nodes[4].why, "failed");
        ck_assert(cli_roll_done(&r));
        ck_assert_int_eq(r.installed, 4);
        ck_assert_int_eq(r.failed, 2);
        ck_assert_int_eq(r.max_in_flight, 2);
        cli_roll_free(&r);
}
END_TEST

START_TEST(test_unlimited) {
        CliRoll r;
        ck_assert_int_eq(cli_roll_init(&r, six, 6, 0), 0);
        for (int i = 0; i < 6; i++)
                ck_assert_int_eq(cli_roll_next(&r), i);
        ck_assert_int_eq(cli_roll_next(&r), -1);
        ck_assert_int_eq(r.in_flight, 6);
        cli_roll_free(&r);
        /* more slots than nodes; no nodes at all */
        ck_assert_int_eq(cli_roll_init(&r, six, 3, 10), 0);
        for (int i = 0; i < 3; i++)
                ck_assert_int_eq(cli_roll_next(&r), i);
        ck_assert_int_eq(cli_roll_next(&r), -1);
        cli_roll_free(&r);
        ck_assert_int_eq(cli_roll_init(&r, NULL, 0, 2), 0);
        ck_assert(cli_roll_done(&r));
        ck_assert_int_eq(cli_roll_next(&r), -1);
        cli_roll_free(&r);
}
END_TEST

/* The loop's way of using the scheduler (submit while allowed, then one node finishes), with
 * nodes finishing in a random order, installed or failed, and failures at submission: the
 * number in flight never exceeds N, every slot is used while nodes wait, every node is
 * submitted once and in order, and all finish. */
START_TEST(test_random_never_more_than_n) {
        enum { NODES = 200 };
        char *names[NODES];
        for (int i = 0; i < NODES; i++)
                ck_assert_int_ge(asprintf(&names[i], "n%03d", i), 0);
        static const size_t parallels[] = { 1, 2, 3, 7, 50, 199, 200, 500 };
        for (size_t p = 0; p < ELEMENTSOF(parallels); p++)
                for (unsigned seed = 1; seed <= 20; seed++) {
                        size_t n_par = parallels[p];
                        CliRoll r;
                        srandom(seed);
                        ck_assert_int_eq(cli_roll_init(&r, (const char *const *) names, NODES, n_par), 0);
                        size_t submitted = 0, finishes = 0;
                        while (!cli_roll_done(&r)) {
                                ssize_t i;
                                while ((i = cli_roll_next(&r)) >= 0) {
                                        ck_assert_int_eq(i, (ssize_t) submitted); /* in order, once */
                                        submitted++;
                                        ck_assert_uint_le(r.in_flight, n_par);
                                        if (random() % 10 == 0) { /* refused at submission */
                                                ck_assert_int_eq(cli_roll_finish(&r, (size_t) i, false, "409"), 0);
                                                finishes++;
                                        }
                                }
                                ck_assert_uint_le(r.in_flight, n_par);
                                /* slots are not left idle while nodes wait */
                                if (r.next < r.n)
                                        ck_assert_uint_eq(r.in_flight, n_par);
                                if (r.in_flight == 0)
                                        continue;
                                /* a random in-flight node finishes */
                                size_t pick = (size_t) random() % r.in_flight, k;
                                for (k = 0; k < r.n; k++)
                                        if (r.nodes[k].state == CLI_ROLL_IN_FLIGHT && pick-- == 0)
                                                break;
                                ck_assert_uint_lt(k, r.n);
                                cli_roll_arm(&r, k, 0);
                                ck_assert_int_ne(cli_roll_observe(&r, k, random() % 4 ? "installed" : "failed", 0),
                                                 CLI_ROLL_SEEN_IGNORED);
                                finishes++;
                        }
                        ck_assert_uint_eq(submitted, NODES);
                        ck_assert_uint_eq(finishes, NODES);
                        ck_assert_uint_eq(r.installed + r.failed, NODES);
                        ck_assert_uint_le(r.max_in_flight, n_par);
                        if (n_par <= 50) /* with ~10% refused at submission, big N run out of nodes first */
                                ck_assert_uint_eq(r.max_in_flight, n_par);
                        for (size_t k = 0; k < r.n; k++)
                                ck_assert(r.nodes[k].state == CLI_ROLL_INSTALLED || r.nodes[k].state == CLI_ROLL_FAILED);
                        cli_roll_free(&r);
                }
        for (int i = 0; i < NODES; i++)
                free(names[i]);
}
END_TEST

START_TEST(test_observe) {
        CliRoll r;
        ck_assert_int_eq(cli_roll_init(&r, six, 3, 0), 0);
        /* waiting: nothing counts */
        ck_assert_int_eq(cli_roll_observe(&r, 0, "installed", 0), CLI_ROLL_SEEN_IGNORED);
        ck_assert_int_eq(cli_roll_next(&r), 0);
        /* in flight but not armed (its mark step is not done): an installed node is the old install */
        ck_assert_int_eq(cli_roll_observe(&r, 0, "installed", 0), CLI_ROLL_SEEN_IGNORED);
        ck_assert_int_eq(cli_roll_observe(&r, 0, "installed", 50), CLI_ROLL_SEEN_IGNORED);
        ck_assert_int_eq(r.nodes[0].state, CLI_ROLL_IN_FLIGHT);
        cli_roll_arm(&r, 0, 40);
        ck_assert(r.nodes[0].armed);
        ck_assert_int_eq(r.nodes[0].armed_event, 40);
        cli_roll_arm(&r, 0, 99); /* armed once */
        ck_assert_int_eq(r.nodes[0].armed_event, 40);
        /* stream events up to the id known at arming describe the node before the reinstall */
        ck_assert_int_eq(cli_roll_observe(&r, 0, "installed", 39), CLI_ROLL_SEEN_IGNORED);
        ck_assert_int_eq(cli_roll_observe(&r, 0, "installed", 40), CLI_ROLL_SEEN_IGNORED);
        ck_assert_int_eq(r.nodes[0].state, CLI_ROLL_IN_FLIGHT);
        ck_assert_int_eq(cli_roll_observe(&r, 0, "pending", 0), CLI_ROLL_SEEN_CHANGED);
        ck_assert_str_eq(r.nodes[0].node_state, "pending");
        ck_assert_int_eq(cli_roll_observe(&r, 0, "pending", 0), CLI_ROLL_SEEN_SAME);
        ck_assert_int_eq(cli_roll_observe(&r, 0, "netbooting", 41), CLI_ROLL_SEEN_CHANGED);
        ck_assert_int_eq(cli_roll_observe(&r, 0, "installing", 0), CLI_ROLL_SEEN_CHANGED);
        ck_assert_int_eq(cli_roll_observe(&r, 0, NULL, 0), CLI_ROLL_SEEN_IGNORED);
        ck_assert_int_eq(cli_roll_observe(&r, 0, "installed", 45), CLI_ROLL_SEEN_INSTALLED);
        ck_assert_int_eq(r.nodes[0].state, CLI_ROLL_INSTALLED);
        ck_assert_int_eq(r.in_flight, 0);
        /* finished: later states do not count again */
        ck_assert_int_eq(cli_roll_observe(&r, 0, "failed", 46), CLI_ROLL_SEEN_IGNORED);
        ck_assert_int_eq(r.installed, 1);
        ck_assert_int_eq(r.failed, 0);

        ck_assert_int_eq(cli_roll_next(&r), 1);
        cli_roll_arm(&r, 1, 0); /* a node without any history yet */
        ck_assert_int_eq(cli_roll_observe(&r, 1, "failed", 3), CLI_ROLL_SEEN_FAILED);
        ck_assert_int_eq(r.nodes[1].state, CLI_ROLL_FAILED);
        ck_assert_str_eq(r.nodes[1].why, "install failed");
        ck_assert_int_eq(cli_roll_set_why(&r, 1, "install failed: disk /dev/sda not found"), 0);
        ck_assert_str_eq(r.nodes[1].why, "install failed: disk /dev/sda not found");
        ck_assert_int_eq(cli_roll_set_why(&r, 0, "x"), -EINVAL); /* not failed */
        ck_assert_int_eq(r.failed, 1);

        /* arming a node that is not in flight does nothing */
        cli_roll_arm(&r, 2, 5);
        ck_assert(!r.nodes[2].armed);
        ck_assert_int_eq(cli_roll_find(&r, "node-03"), 2);
        ck_assert_int_eq(cli_roll_find(&r, "node-04"), -1); /* only the three given */
        cli_roll_free(&r);
}
END_TEST

static Suite *cli_roll_suite(void) {
        Suite *s = suite_create("cli-roll");
        TCase *tc = tcase_create("scheduler");
        tcase_add_test(tc, test_parallel_two);
        tcase_add_test(tc, test_unlimited);
        tcase_add_test(tc, test_random_never_more_than_n);
        tcase_add_test(tc, test_observe);
        suite_add_tcase(s, tc);
        return s;
}

CHECK_MAIN(cli_roll_suite)
