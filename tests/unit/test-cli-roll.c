/* test-cli-roll.c — the rolling-reinstall scheduler (cli/cli-roll.c): never more than N
 * nodes in flight whatever order they finish in (also counting the time --before and --after
 * run and the wait at the gate), submission in order, the slot freed by a finish, which
 * observed states count (armed only; stream events from before arming are ignored); the gate
 * (installed and a fresh in_sync report; a report from before the install, reboot_pending or
 * drifted do not pass), a gate timeout stopping the roll while the nodes in flight go on, a
 * failed --before skipping its node, a failed --after recorded without stopping anything. */
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

/* The gate: installed is not the end; a fresh in_sync report is. */
START_TEST(test_gate) {
        CliRoll r;
        ck_assert_int_eq(cli_roll_init(&r, six, 3, 1), 0);
        r.gate = true;
        r.gate_timeout_ms = 60000;
        ck_assert_int_eq(cli_roll_next(&r), 0);
        ck_assert_int_eq(r.nodes[0].step, CLI_ROLL_STEP_INSTALL);
        ck_assert_int_eq(cli_roll_requested(&r, 0, 1000), 0);
        ck_assert_int_eq(cli_roll_requested(&r, 0, 2000), -EINVAL); /* once */
        ck_assert_int_eq(r.nodes[0].requested_ms, 1000);
        /* not at the gate yet: reads there do nothing */
        ck_assert_int_eq(cli_roll_gate(&r, 0, "installed", "in_sync", "2025-03-01T12:00:00.000Z", "2025-03-01T12:00:01.000Z"),
                         CLI_ROLL_GATE_IGNORED);
        cli_roll_arm(&r, 0, 10);
        ck_assert_int_eq(cli_roll_observe(&r, 0, "installing", 11), CLI_ROLL_SEEN_CHANGED);
        ck_assert_int_eq(cli_roll_observe(&r, 0, "installed", 12), CLI_ROLL_SEEN_INSTALLED);
        /* installed, but still in flight: the slot stays taken */
        ck_assert_int_eq(r.nodes[0].state, CLI_ROLL_IN_FLIGHT);
        ck_assert_int_eq(r.nodes[0].step, CLI_ROLL_STEP_GATE);
        ck_assert_int_eq(r.in_flight, 1);
        ck_assert_int_eq(r.installed, 0);
        ck_assert_int_eq(cli_roll_next(&r), -1);
        ck_assert(!cli_roll_done(&r));
        /* later states from the stream do not move it back */
        ck_assert_int_eq(cli_roll_observe(&r, 0, "installed", 13), CLI_ROLL_SEEN_IGNORED);
        /* a list read (no times): in_sync alone does not pass */
        ck_assert_int_eq(cli_roll_gate(&r, 0, "installed", "in_sync", NULL, NULL), CLI_ROLL_GATE_WAITING);
        ck_assert_str_eq(r.nodes[0].drift, "in_sync");
        ck_assert(!r.nodes[0].stale);
        /* in_sync from a report made before it became installed: the old installation */
        ck_assert_int_eq(cli_roll_gate(&r, 0, "installed", "in_sync", "2025-03-01T12:00:00.000Z", "2025-03-01T11:59:59.999Z"),
                         CLI_ROLL_GATE_WAITING);
        ck_assert(r.nodes[0].stale);
        /* a fresh report, but not in_sync */
        ck_assert_int_eq(cli_roll_gate(&r, 0, "installed", "reboot_pending", "2025-03-01T12:00:00.000Z", "2025-03-01T12:00:05.000Z"),
                         CLI_ROLL_GATE_WAITING);
        ck_assert(!r.nodes[0].stale);
        ck_assert_str_eq(r.nodes[0].drift, "reboot_pending");
        ck_assert_int_eq(cli_roll_gate(&r, 0, "installed", "drifted", "2025-03-01T12:00:00.000Z", "2025-03-01T12:00:05.000Z"),
                         CLI_ROLL_GATE_WAITING);
        ck_assert_int_eq(cli_roll_gate(&r, 0, "installed", "silent", "2025-03-01T12:00:00.000Z", NULL), CLI_ROLL_GATE_WAITING);
        ck_assert_int_eq(cli_roll_gate(&r, 0, "installed", "unknown", "2025-03-01T12:00:00.000Z", NULL), CLI_ROLL_GATE_WAITING);
        /* in_sync and fresh, but not installed (reinstalled again by someone) */
        ck_assert_int_eq(cli_roll_gate(&r, 0, "pending", "in_sync", "2025-03-01T12:00:00.000Z", "2025-03-01T12:00:05.000Z"),
                         CLI_ROLL_GATE_WAITING);
        /* unparsable times do not pass */
        ck_assert_int_eq(cli_roll_gate(&r, 0, "installed", "in_sync", "yesterday", "2025-03-01T12:00:05.000Z"),
                         CLI_ROLL_GATE_WAITING);
        ck_assert_int_eq(r.nodes[0].state, CLI_ROLL_IN_FLIGHT);
        /* through: a report at the very millisecond, in another zone's notation */
        ck_assert_int_eq(cli_roll_gate(&r, 0, "installed", "in_sync", "2025-03-01T12:00:00.000Z", "2025-03-01T13:00:00+01:00"),
                         CLI_ROLL_GATE_PASSED);
        ck_assert_int_eq(r.nodes[0].state, CLI_ROLL_INSTALLED);
        ck_assert_str_eq(cli_roll_result(&r, 0), "in_sync");
        ck_assert_int_eq(r.in_flight, 0);
        ck_assert_int_eq(r.installed, 1);
        ck_assert_int_eq(cli_roll_gate(&r, 0, "installed", "in_sync", "2025-03-01T12:00:00.000Z", "2025-03-01T12:00:05.000Z"),
                         CLI_ROLL_GATE_IGNORED);
        /* the slot is free again; a failed install still finishes at once */
        ck_assert_int_eq(cli_roll_next(&r), 1);
        cli_roll_arm(&r, 1, 0);
        ck_assert_int_eq(cli_roll_observe(&r, 1, "failed", 20), CLI_ROLL_SEEN_FAILED);
        ck_assert_int_eq(r.nodes[1].state, CLI_ROLL_FAILED);
        ck_assert(!r.stopped);
        ck_assert_int_eq(cli_roll_next(&r), 2);
        cli_roll_free(&r);

        /* without the gate installed finishes (the behaviour before gates) */
        ck_assert_int_eq(cli_roll_init(&r, six, 1, 1), 0);
        ck_assert_int_eq(cli_roll_next(&r), 0);
        cli_roll_arm(&r, 0, 0);
        ck_assert_int_eq(cli_roll_observe(&r, 0, "installed", 0), CLI_ROLL_SEEN_INSTALLED);
        ck_assert_int_eq(r.nodes[0].state, CLI_ROLL_INSTALLED);
        ck_assert_str_eq(cli_roll_result(&r, 0), "installed");
        ck_assert_int_eq(cli_roll_expire(&r, INT64_MAX / 2), -1);
        cli_roll_free(&r);
}
END_TEST

/* A gate timeout stops the roll: nothing new starts, the nodes in flight go on to the end,
 * each up to its own timeout. */
START_TEST(test_gate_timeout_stops) {
        CliRoll r;
        ck_assert_int_eq(cli_roll_init(&r, six, 6, 2), 0);
        r.gate = true;
        r.gate_timeout_ms = 10000;
        ck_assert_int_eq(cli_roll_next(&r), 0);
        ck_assert_int_eq(cli_roll_requested(&r, 0, 1000), 0);
        ck_assert_int_eq(cli_roll_next(&r), 1);
        ck_assert_int_eq(cli_roll_requested(&r, 1, 1500), 0);
        cli_roll_arm(&r, 0, 0);
        cli_roll_arm(&r, 1, 0);
        ck_assert_int_eq(cli_roll_observe(&r, 0, "installed", 0), CLI_ROLL_SEEN_INSTALLED);
        ck_assert_int_eq(cli_roll_gate(&r, 0, "installed", "silent", "2025-03-01T12:00:00.000Z", NULL), CLI_ROLL_GATE_WAITING);
        ck_assert_int_eq(cli_roll_observe(&r, 1, "installed", 0), CLI_ROLL_SEEN_INSTALLED);
        ck_assert_int_eq(cli_roll_gate(&r, 1, "installed", "in_sync", "2025-03-01T12:00:00.000Z", "2025-03-01T12:00:01.000Z"),
                         CLI_ROLL_GATE_PASSED);
        ck_assert_int_eq(cli_roll_next(&r), 2);
        ck_assert_int_eq(cli_roll_requested(&r, 2, 9000), 0);
        cli_roll_arm(&r, 2, 0);
        ck_assert_int_eq(cli_roll_observe(&r, 2, "installing", 0), CLI_ROLL_SEEN_CHANGED);
        /* one millisecond early: nothing */
        ck_assert_int_eq(cli_roll_expire(&r, 10999), -1);
        ck_assert(!r.stopped);
        /* node-01's gate times out: the roll stops although a slot is free */
        ck_assert_int_eq(cli_roll_expire(&r, 11000), 0);
        ck_assert_int_eq(cli_roll_expire(&r, 11000), -1);
        ck_assert_int_eq(r.nodes[0].state, CLI_ROLL_TIMEOUT);
        ck_assert_str_eq(r.nodes[0].why, "installed, drift silent");
        ck_assert_str_eq(cli_roll_result(&r, 0), "timeout");
        ck_assert(r.stopped);
        ck_assert_int_eq(r.stopped_by, 0);
        ck_assert_int_eq(r.timed_out, 1);
        ck_assert_int_eq(r.in_flight, 1);
        ck_assert_int_eq(cli_roll_next(&r), -1);
        ck_assert(!cli_roll_done(&r)); /* node-03 is still in flight */
        /* node-03 goes on: it may still pass ... */
        ck_assert_int_eq(cli_roll_observe(&r, 2, "installed", 0), CLI_ROLL_SEEN_INSTALLED);
        ck_assert_int_eq(cli_roll_expire(&r, 18999), -1);
        /* ... or time out itself, 10 s after its own request */
        ck_assert_int_eq(cli_roll_expire(&r, 19000), 2);
        ck_assert_str_eq(r.nodes[2].why, "installed");
        ck_assert_int_eq(r.stopped_by, 0); /* the first one stopped it */
        ck_assert(cli_roll_done(&r));
        ck_assert_int_eq(cli_roll_next(&r), -1);
        for (size_t i = 3; i < 6; i++) {
                ck_assert_int_eq(r.nodes[i].state, CLI_ROLL_WAITING);
                ck_assert_str_eq(cli_roll_result(&r, i), "not-submitted");
        }
        cli_roll_free(&r);

        /* a node that never installs times out in INSTALL, named by its state; a stale report */
        ck_assert_int_eq(cli_roll_init(&r, six, 3, 0), 0);
        r.gate = true;
        r.gate_timeout_ms = 5000;
        ck_assert_int_eq(cli_roll_next(&r), 0);
        ck_assert_int_eq(cli_roll_next(&r), 1);
        ck_assert_int_eq(cli_roll_next(&r), 2);
        ck_assert_int_eq(cli_roll_expire(&r, 100000), -1); /* not requested yet: no deadline */
        ck_assert_int_eq(cli_roll_requested(&r, 0, 1), 0);
        ck_assert_int_eq(cli_roll_requested(&r, 1, 1), 0);
        ck_assert_int_eq(cli_roll_requested(&r, 2, 1), 0);
        cli_roll_arm(&r, 1, 0);
        ck_assert_int_eq(cli_roll_observe(&r, 1, "netbooting", 0), CLI_ROLL_SEEN_CHANGED);
        cli_roll_arm(&r, 2, 0);
        ck_assert_int_eq(cli_roll_observe(&r, 2, "installed", 0), CLI_ROLL_SEEN_INSTALLED);
        ck_assert_int_eq(cli_roll_gate(&r, 2, "installed", "in_sync", "2025-03-01T12:00:00.000Z", "2025-03-01T11:00:00.000Z"),
                         CLI_ROLL_GATE_WAITING);
        ck_assert_int_eq(cli_roll_expire(&r, 5001), 0);
        ck_assert_str_eq(r.nodes[0].why, "reinstall requested, not marked yet");
        ck_assert_int_eq(cli_roll_expire(&r, 5001), 1);
        ck_assert_str_eq(r.nodes[1].why, "netbooting");
        ck_assert_int_eq(cli_roll_expire(&r, 5001), 2);
        ck_assert_str_eq(r.nodes[2].why, "installed, no report since the install; drift in_sync is from an older report");
        ck_assert_int_eq(cli_roll_expire(&r, 5001), -1);
        ck_assert(cli_roll_done(&r));
        ck_assert_int_eq(r.timed_out, 3);
        cli_roll_free(&r);
}
END_TEST

/* --before: its node holds a slot while it runs; a failure skips the node and the roll goes on. */
START_TEST(test_before_skips) {
        CliRoll r;
        ck_assert_int_eq(cli_roll_init(&r, six, 4, 2), 0);
        r.before = true;
        ck_assert_int_eq(cli_roll_next(&r), 0);
        ck_assert_int_eq(cli_roll_next(&r), 1);
        ck_assert_int_eq(cli_roll_next(&r), -1); /* two --before running: both slots taken */
        ck_assert_int_eq(r.nodes[0].step, CLI_ROLL_STEP_BEFORE);
        /* not requested while --before runs; states seen do not count */
        ck_assert_int_eq(cli_roll_requested(&r, 0, 5), -EINVAL);
        cli_roll_arm(&r, 0, 0);
        ck_assert(!r.nodes[0].armed);
        ck_assert_int_eq(cli_roll_observe(&r, 0, "installed", 0), CLI_ROLL_SEEN_IGNORED);
        ck_assert_int_eq(cli_roll_after_done(&r, 0, true, NULL), -EINVAL);
        /* node-02's --before fails: skipped, slot free, the roll goes on */
        ck_assert_int_eq(cli_roll_before_done(&r, 1, false, "--before exited 1"), 0);
        ck_assert_int_eq(r.nodes[1].state, CLI_ROLL_SKIPPED);
        ck_assert_str_eq(r.nodes[1].why, "--before exited 1");
        ck_assert_str_eq(cli_roll_result(&r, 1), "skipped");
        ck_assert_int_eq(r.skipped, 1);
        ck_assert(!r.stopped);
        ck_assert_int_eq(cli_roll_before_done(&r, 1, true, NULL), -EINVAL); /* once */
        ck_assert_int_eq(cli_roll_next(&r), 2);
        /* node-01's --before succeeds: now its reinstall may be requested */
        ck_assert_int_eq(cli_roll_before_done(&r, 0, true, NULL), 0);
        ck_assert_int_eq(r.nodes[0].step, CLI_ROLL_STEP_INSTALL);
        ck_assert_int_eq(cli_roll_requested(&r, 0, 5), 0);
        ck_assert_int_eq(cli_roll_before_done(&r, 0, true, NULL), -EINVAL);
        ck_assert_int_eq(cli_roll_before_done(&r, 2, false, NULL), 0);
        ck_assert_str_eq(r.nodes[2].why, "--before failed");
        ck_assert_int_eq(cli_roll_next(&r), 3);
        ck_assert_int_eq(cli_roll_before_done(&r, 3, false, "--before timed out after 600 s (killed)"), 0);
        cli_roll_arm(&r, 0, 0);
        ck_assert_int_eq(cli_roll_observe(&r, 0, "installed", 0), CLI_ROLL_SEEN_INSTALLED);
        ck_assert(cli_roll_done(&r));
        ck_assert_int_eq(r.installed, 1);
        ck_assert_int_eq(r.skipped, 3);
        ck_assert_int_eq(r.max_in_flight, 2);
        cli_roll_free(&r);
}
END_TEST

/* --after: runs once through the gate (or installed, without it), holds the slot; a failure is
 * kept with the node, which still passed, and nothing stops. */
START_TEST(test_after) {
        CliRoll r;
        ck_assert_int_eq(cli_roll_init(&r, six, 3, 1), 0);
        r.after = true;
        r.gate = true;
        r.gate_timeout_ms = 1000;
        ck_assert_int_eq(cli_roll_next(&r), 0);
        ck_assert_int_eq(cli_roll_requested(&r, 0, 1), 0);
        cli_roll_arm(&r, 0, 0);
        ck_assert_int_eq(cli_roll_observe(&r, 0, "installed", 0), CLI_ROLL_SEEN_INSTALLED);
        ck_assert_int_eq(r.nodes[0].step, CLI_ROLL_STEP_GATE); /* not --after before the gate */
        ck_assert_int_eq(cli_roll_after_done(&r, 0, true, NULL), -EINVAL);
        ck_assert_int_eq(cli_roll_gate(&r, 0, "installed", "in_sync", "2025-03-01T12:00:00.000Z", "2025-03-01T12:00:00.500Z"),
                         CLI_ROLL_GATE_PASSED);
        ck_assert_int_eq(r.nodes[0].step, CLI_ROLL_STEP_AFTER);
        ck_assert_int_eq(r.nodes[0].state, CLI_ROLL_IN_FLIGHT);
        ck_assert_int_eq(cli_roll_next(&r), -1); /* --after runs: the slot is still taken */
        /* through its gate: the gate timeout no longer applies while --after runs */
        ck_assert_int_eq(cli_roll_expire(&r, 1000000), -1);
        ck_assert_int_eq(cli_roll_after_done(&r, 0, false, "--after exited 5"), 0);
        ck_assert_int_eq(r.nodes[0].state, CLI_ROLL_INSTALLED);
        ck_assert_str_eq(r.nodes[0].after_why, "--after exited 5");
        ck_assert_ptr_null(r.nodes[0].why);
        ck_assert_str_eq(cli_roll_result(&r, 0), "in_sync");
        ck_assert_int_eq(r.after_failed, 1);
        ck_assert_int_eq(r.installed, 1);
        ck_assert(!r.stopped);
        ck_assert_int_eq(cli_roll_next(&r), 1);
        cli_roll_free(&r);

        /* without the gate: installed -> --after */
        ck_assert_int_eq(cli_roll_init(&r, six, 1, 1), 0);
        r.after = true;
        ck_assert_int_eq(cli_roll_next(&r), 0);
        cli_roll_arm(&r, 0, 0);
        ck_assert_int_eq(cli_roll_observe(&r, 0, "installed", 0), CLI_ROLL_SEEN_INSTALLED);
        ck_assert_int_eq(r.nodes[0].step, CLI_ROLL_STEP_AFTER);
        ck_assert_int_eq(cli_roll_after_done(&r, 0, true, NULL), 0);
        ck_assert_ptr_null(r.nodes[0].after_why);
        ck_assert_int_eq(r.after_failed, 0);
        ck_assert_str_eq(cli_roll_result(&r, 0), "installed");
        ck_assert(cli_roll_done(&r));
        cli_roll_free(&r);
}
END_TEST

/* Whole rolls with every step, random outcomes and timings: never more than N in flight
 * (counting --before, the gate and --after), slots not left idle while nodes wait unless the
 * roll stopped, nothing started after a stop, every started node finishes once. */
START_TEST(test_random_steps_never_more_than_n) {
        enum { NODES = 60 };
        char *names[NODES];
        for (int i = 0; i < NODES; i++)
                ck_assert_int_ge(asprintf(&names[i], "n%03d", i), 0);
        static const size_t parallels[] = { 1, 2, 3, 8, 60 };
        for (size_t p = 0; p < ELEMENTSOF(parallels); p++)
                for (unsigned seed = 1; seed <= 40; seed++) {
                        size_t n_par = parallels[p];
                        CliRoll r;
                        srandom(seed);
                        ck_assert_int_eq(cli_roll_init(&r, (const char *const *) names, NODES, n_par), 0);
                        r.before = random() % 2;
                        r.after = random() % 2;
                        r.gate = random() % 4 != 0;
                        r.gate_timeout_ms = 100;
                        int64_t now = 1;
                        size_t started = 0, rounds = 0;
                        bool stop_seen = false;
                        while (!cli_roll_done(&r)) {
                                ck_assert_uint_lt(++rounds, 100000);
                                ssize_t i;
                                while ((i = cli_roll_next(&r)) >= 0) {
                                        ck_assert(!stop_seen);
                                        ck_assert_int_eq(i, (ssize_t) started);
                                        started++;
                                        ck_assert_uint_le(r.in_flight, n_par);
                                        if (!r.before)
                                                ck_assert_int_eq(cli_roll_requested(&r, (size_t) i, now), 0);
                                }
                                ck_assert_uint_le(r.in_flight, n_par);
                                if (r.stopped)
                                        stop_seen = true;
                                else if (r.next < r.n)
                                        ck_assert_uint_eq(r.in_flight, n_par);
                                now += random() % 30;
                                while (cli_roll_expire(&r, now) >= 0)
                                        ck_assert(r.stopped);
                                if (r.in_flight == 0)
                                        continue;
                                /* a random in-flight node makes one step */
                                size_t pick = (size_t) random() % r.in_flight, k;
                                for (k = 0; k < r.n; k++)
                                        if (r.nodes[k].state == CLI_ROLL_IN_FLIGHT && pick-- == 0)
                                                break;
                                ck_assert_uint_lt(k, r.n);
                                CliRollNode *node = &r.nodes[k];
                                switch (node->step) {
                                case CLI_ROLL_STEP_BEFORE:
                                        if (random() % 5 == 0)
                                                ck_assert_int_eq(cli_roll_before_done(&r, k, false, "--before exited 1"), 0);
                                        else {
                                                ck_assert_int_eq(cli_roll_before_done(&r, k, true, NULL), 0);
                                                ck_assert_int_eq(cli_roll_requested(&r, k, now), 0);
                                        }
                                        break;
                                case CLI_ROLL_STEP_INSTALL:
                                        cli_roll_arm(&r, k, 0);
                                        ck_assert_int_ne(cli_roll_observe(&r, k, random() % 6 ? "installed" : "failed", 0),
                                                         CLI_ROLL_SEEN_IGNORED);
                                        break;
                                case CLI_ROLL_STEP_GATE:
                                        ck_assert(r.gate);
                                        cli_roll_gate(&r, k, "installed", random() % 3 ? "in_sync" : "silent",
                                                      "2025-03-01T12:00:00.000Z", "2025-03-01T12:00:01.000Z");
                                        break;
                                case CLI_ROLL_STEP_AFTER:
                                        ck_assert(r.after);
                                        ck_assert_int_eq(cli_roll_after_done(&r, k, random() % 4 != 0, "--after exited 1"), 0);
                                        break;
                                }
                        }
                        ck_assert_uint_le(r.max_in_flight, n_par);
                        ck_assert_uint_eq(r.installed + r.failed + r.skipped + r.timed_out, started);
                        ck_assert_uint_eq(started, r.next);
                        ck_assert(r.stopped == (r.timed_out > 0));
                        if (!r.stopped)
                                ck_assert_uint_eq(started, NODES);
                        for (size_t k = 0; k < r.n; k++)
                                ck_assert(k < started ? r.nodes[k].state != CLI_ROLL_IN_FLIGHT && r.nodes[k].state != CLI_ROLL_WAITING
                                                      : r.nodes[k].state == CLI_ROLL_WAITING);
                        cli_roll_free(&r);
                }
        for (int i = 0; i < NODES; i++)
                free(names[i]);
}
END_TEST

START_TEST(test_parse_time) {
        int64_t ms = 0;
        ck_assert_int_eq(cli_roll_parse_time("1970-01-01T00:00:01.234Z", &ms), 0);
        ck_assert_int_eq(ms, 1234);
        ck_assert_int_eq(cli_roll_parse_time("1970-01-01T01:00:01+01:00", &ms), 0);
        ck_assert_int_eq(ms, 1000);
        ck_assert_int_eq(cli_roll_parse_time("1970-01-01T00:00:01.5-00:30", &ms), 0);
        ck_assert_int_eq(ms, 1500 + 1800000);
        ck_assert_int_eq(cli_roll_parse_time("2025-03-01T12:00:00.123456Z", &ms), 0);
        ck_assert_int_eq(ms % 1000, 123);
        ms = 7;
        ck_assert_int_eq(cli_roll_parse_time("2025-03-01T12:00:00", &ms), -EINVAL); /* no zone */
        ck_assert_int_eq(cli_roll_parse_time("2025-03-01T12:00:00.Z", &ms), -EINVAL);
        ck_assert_int_eq(cli_roll_parse_time("2025-03-01T12:00:00Zjunk", &ms), -EINVAL);
        ck_assert_int_eq(cli_roll_parse_time("2025-03-01", &ms), -EINVAL);
        ck_assert_int_eq(cli_roll_parse_time("", &ms), -EINVAL);
        ck_assert_int_eq(cli_roll_parse_time(NULL, &ms), -EINVAL);
        ck_assert_int_eq(ms, 7);
}
END_TEST

static Suite *cli_roll_suite(void) {
        Suite *s = suite_create("cli-roll");
        TCase *tc = tcase_create("scheduler");
        tcase_add_test(tc, test_parallel_two);
        tcase_add_test(tc, test_unlimited);
        tcase_add_test(tc, test_random_never_more_than_n);
        tcase_add_test(tc, test_observe);
        tcase_add_test(tc, test_gate);
        tcase_add_test(tc, test_gate_timeout_stops);
        tcase_add_test(tc, test_before_skips);
        tcase_add_test(tc, test_after);
        tcase_add_test(tc, test_random_steps_never_more_than_n);
        tcase_add_test(tc, test_parse_time);
        suite_add_tcase(s, tc);
        return s;
}

CHECK_MAIN(cli_roll_suite)
