/* test-op-machine.c — unit tests for op-machine.c: every (kind, step, event) triple against
 * the rules the operations follow (written out here independently of the table), walks of
 * each kind from start to its end, the table's invariants (valid, unique, every step of a
 * kind reachable and able to fail), each kind's name, message prefix and steps, and names. */
#include "check-main.h"
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "op-machine.h"

#define K(x) OP_KIND_##x
#define S(x) OP_STEP_##x
#define E(x) OP_EV_##x
#define A(x) OP_ACTION_##x
#define P(x) OP_POWER_##x

/* The steps each kind runs, as the API documents them. */
static const struct {
        OpKind kind;
        size_t n;
        OpStep steps[4];
} want_steps[] = {
        { K(REINSTALL), 4, { S(MARK), S(BOOTDEV), S(POWER_STATUS), S(POWER) } },
        { K(REINSTALL_NO_BMC), 1, { S(MARK) } },
        { K(POWER), 1, { S(POWER) } },
        { K(BOOTDEV), 1, { S(BOOTDEV) } },
        { K(DISK_AFTER_INSTALL), 1, { S(BOOTDEV) } },
        { K(REBOOT), 4, { S(MARK), S(BOOTDEV), S(POWER_STATUS), S(POWER) } },
};

/* "reinstall(0)/power_status(3)+power_on(2)" for messages; two calls may share one message. */
static const char *row_name(OpKind k, OpStep s, OpEvent e) {
        static char bufs[2][128];
        static unsigned next;
        char *buf = bufs[next++ % 2];
        const OpKindInfo *ki = op_machine_kind(k);
        const char *sn = op_machine_step_to_string(s), *en = op_machine_event_to_string(e);
        snprintf(buf, sizeof bufs[0], "%s(%d)/%s(%d)+%s(%d)", ki ? ki->name : "?", (int) k, sn ? sn : "?", (int) s,
                 en ? en : "?", (int) e);
        return buf;
}

/* Position of step s in kind k's steps, or -1. */
static int step_index(OpKind k, OpStep s) {
        for (size_t i = 0; i < sizeof want_steps / sizeof want_steps[0]; i++)
                if (want_steps[i].kind == k)
                        for (size_t j = 0; j < want_steps[i].n; j++)
                                if (want_steps[i].steps[j] == s)
                                        return (int) j;
        return -1;
}

static size_t n_steps(OpKind k) {
        for (size_t i = 0; i < sizeof want_steps / sizeof want_steps[0]; i++)
                if (want_steps[i].kind == k)
                        return want_steps[i].n;
        return 0;
}

static OpStep step_at(OpKind k, size_t idx) {
        for (size_t i = 0; i < sizeof want_steps / sizeof want_steps[0]; i++)
                if (want_steps[i].kind == k)
                        return want_steps[i].steps[idx];
        return _OP_STEP_MAX;
}

/* Which events mean "this step succeeded": a power status read answers on or off; the power
 * step of a power operation may be a status read too; every other step just succeeds. */
static bool is_success(OpKind k, OpStep s, OpEvent e) {
        if (s == S(POWER_STATUS))
                return e == E(POWER_ON) || e == E(POWER_OFF);
        if (s == S(POWER) && k == K(POWER))
                return e == E(SUCCEEDED) || e == E(POWER_ON) || e == E(POWER_OFF);
        return e == E(SUCCEEDED);
}

/* What the row for (k, s, e) must be: false if there must be none. */
static bool expected(OpKind k, OpStep s, OpEvent e, OpStep *next, OpAction *action, OpPower *power) {
        *power = P(AS_ASKED);
        if (s == S(QUEUED)) {
                if (e != E(START))
                        return false;
                *next = step_at(k, 0);
                *action = *next == S(MARK) ? A(MARK) : A(RUN);
                return true;
        }
        int idx = step_index(k, s);
        if (idx < 0 || e == E(START))
                return false; /* not a step of this kind (or done): nothing happens there */
        if (s == S(MARK)) {
                /* Marking is the daemon's, synchronous: it succeeds or fails, nothing else. */
                if (e == E(FAILED)) {
                        *next = S(DONE);
                        *action = A(FAIL);
                        return true;
                }
                if (e != E(SUCCEEDED))
                        return false;
        } else if (e == E(FAILED) || e == E(TIMED_OUT) || e == E(CANCELLED)) {
                *next = S(DONE);
                *action = A(FAIL);
                return true;
        } else if (!is_success(k, s, e))
                return false;
        if ((size_t) idx + 1 == n_steps(k)) {
                *next = S(DONE);
                *action = A(SUCCEED);
                return true;
        }
        *next = step_at(k, (size_t) idx + 1);
        *action = *next == S(MARK) ? A(MARK) : A(RUN);
        if (s == S(POWER_STATUS))
                *power = e == E(POWER_ON) ? P(CYCLE) : P(ON);
        return true;
}

/* ---- every triple ------------------------------------------------------------------------ */

START_TEST(test_op_machine_every_triple) {
        size_t rows = 0;
        for (int k = 0; k < _OP_KIND_MAX; k++)
                for (int s = 0; s < _OP_STEP_MAX; s++)
                        for (int e = 0; e < _OP_EV_MAX; e++) {
                                OpStep next;
                                OpAction action;
                                OpPower power;
                                const char *row = row_name((OpKind) k, (OpStep) s, (OpEvent) e);
                                const OpTransition *t = op_machine_transition((OpKind) k, (OpStep) s, (OpEvent) e);
                                if (!expected((OpKind) k, (OpStep) s, (OpEvent) e, &next, &action, &power)) {
                                        ck_assert_msg(t == NULL, "%s has a row, want none", row);
                                        continue;
                                }
                                rows++;
                                ck_assert_msg(t != NULL, "%s has no row", row);
                                ck_assert_msg((int) t->kind == k && (int) t->step == s && (int) t->event == e, "%s: lookup returned %s",
                                              row, row_name(t->kind, t->step, t->event));
                                ck_assert_msg(t->next == next, "%s goes to %s, want %s", row,
                                              op_machine_step_to_string(t->next), op_machine_step_to_string(next));
                                ck_assert_msg(t->action == action, "%s: action %d, want %d", row, (int) t->action,
                                              (int) action);
                                ck_assert_msg(t->power == power, "%s: power %d, want %d", row, (int) t->power,
                                              (int) power);
                        }
        /* Nothing in the table beyond what the rules ask for. */
        size_t n = 0;
        op_machine_table(&n);
        ck_assert_uint_eq(n, rows);
}
END_TEST

START_TEST(test_op_machine_out_of_range) {
        ck_assert_ptr_null(op_machine_transition(_OP_KIND_MAX, S(QUEUED), E(START)));
        ck_assert_ptr_null(op_machine_transition((OpKind) -1, S(QUEUED), E(START)));
        ck_assert_ptr_null(op_machine_transition(K(POWER), _OP_STEP_MAX, E(START)));
        ck_assert_ptr_null(op_machine_transition(K(POWER), S(QUEUED), _OP_EV_MAX));
        ck_assert_ptr_null(op_machine_kind(_OP_KIND_MAX));
        ck_assert_ptr_null(op_machine_kind((OpKind) -1));
}
END_TEST

/* ---- walks ------------------------------------------------------------------------------- */

/* Feeds events to kind k from queued; returns the last row (asserting each exists). */
static const OpTransition *walk(OpKind k, const OpEvent *evs, size_t n, const OpStep *want_at) {
        OpStep at = S(QUEUED);
        const OpTransition *t = NULL;
        for (size_t i = 0; i < n; i++) {
                t = op_machine_transition(k, at, evs[i]);
                ck_assert_msg(t != NULL, "walk: no row for %s", row_name(k, at, evs[i]));
                at = t->next;
                ck_assert_msg(at == want_at[i], "walk: %s at step %s, want %s", op_machine_kind(k)->name,
                              op_machine_step_to_string(at), op_machine_step_to_string(want_at[i]));
        }
        return t;
}

START_TEST(test_op_machine_reinstall_power_on_cycles) {
        static const OpEvent evs[] = { E(START), E(SUCCEEDED), E(SUCCEEDED), E(POWER_ON), E(SUCCEEDED) };
        static const OpStep at[] = { S(MARK), S(BOOTDEV), S(POWER_STATUS), S(POWER), S(DONE) };
        ck_assert_int_eq(walk(K(REINSTALL), evs, 4, at)->power, P(CYCLE));
        ck_assert_int_eq(walk(K(REINSTALL), evs, 5, at)->action, A(SUCCEED));
        ck_assert_int_eq(walk(K(REINSTALL), evs, 1, at)->action, A(MARK));
}
END_TEST

START_TEST(test_op_machine_reinstall_power_off_powers_on) {
        static const OpEvent evs[] = { E(START), E(SUCCEEDED), E(SUCCEEDED), E(POWER_OFF), E(SUCCEEDED) };
        static const OpStep at[] = { S(MARK), S(BOOTDEV), S(POWER_STATUS), S(POWER), S(DONE) };
        ck_assert_int_eq(walk(K(REINSTALL), evs, 4, at)->power, P(ON));
        ck_assert_int_eq(walk(K(REINSTALL), evs, 5, at)->action, A(SUCCEED));
}
END_TEST

START_TEST(test_op_machine_reinstall_fails_where_it_fails) {
        /* The boot device times out: failed there, nothing more runs. */
        static const OpEvent evs[] = { E(START), E(SUCCEEDED), E(TIMED_OUT) };
        static const OpStep at[] = { S(MARK), S(BOOTDEV), S(DONE) };
        const OpTransition *t = walk(K(REINSTALL), evs, 3, at);
        ck_assert_int_eq(t->action, A(FAIL));
        ck_assert_int_eq(t->step, S(BOOTDEV));
        ck_assert_ptr_null(op_machine_transition(K(REINSTALL), S(DONE), E(SUCCEEDED)));
}
END_TEST

START_TEST(test_op_machine_reboot_cycles_or_powers_on) {
        static const OpEvent on[] = { E(START), E(SUCCEEDED), E(SUCCEEDED), E(POWER_ON), E(SUCCEEDED) };
        static const OpEvent off[] = { E(START), E(SUCCEEDED), E(SUCCEEDED), E(POWER_OFF), E(SUCCEEDED) };
        static const OpStep at[] = { S(MARK), S(BOOTDEV), S(POWER_STATUS), S(POWER), S(DONE) };
        ck_assert_int_eq(walk(K(REBOOT), on, 4, at)->power, P(CYCLE));
        ck_assert_int_eq(walk(K(REBOOT), off, 4, at)->power, P(ON));
        ck_assert_int_eq(walk(K(REBOOT), on, 5, at)->action, A(SUCCEED));
}
END_TEST

START_TEST(test_op_machine_reinstall_no_bmc_only_marks) {
        static const OpEvent evs[] = { E(START), E(SUCCEEDED) };
        static const OpStep at[] = { S(MARK), S(DONE) };
        ck_assert_int_eq(walk(K(REINSTALL_NO_BMC), evs, 2, at)->action, A(SUCCEED));
        ck_assert_ptr_null(op_machine_transition(K(REINSTALL_NO_BMC), S(BOOTDEV), E(SUCCEEDED)));
}
END_TEST

START_TEST(test_op_machine_power_status_is_the_result) {
        static const OpEvent evs[] = { E(START), E(POWER_OFF) };
        static const OpStep at[] = { S(POWER), S(DONE) };
        const OpTransition *t = walk(K(POWER), evs, 2, at);
        ck_assert_int_eq(t->action, A(SUCCEED));
        ck_assert_int_eq(t->power, P(AS_ASKED));
}
END_TEST

/* ---- invariants ------------------------------------------------------------------------------ */

START_TEST(test_op_machine_rows_valid_and_unique) {
        size_t n = 0;
        const OpTransition *table = op_machine_table(&n);
        ck_assert_uint_gt(n, 0);
        for (size_t i = 0; i < n; i++) {
                const OpTransition *t = &table[i];
                ck_assert_msg((int) t->kind >= 0 && t->kind < _OP_KIND_MAX, "row %zu: bad kind", i);
                ck_assert_msg((int) t->step >= 0 && t->step < _OP_STEP_MAX, "row %zu: bad step", i);
                ck_assert_msg((int) t->next >= 0 && t->next < _OP_STEP_MAX, "row %zu: bad next", i);
                ck_assert_msg((int) t->event >= 0 && t->event < _OP_EV_MAX, "row %zu: bad event", i);
                ck_assert_msg(t->step != S(DONE), "row %zu: acts after the end", i);
                ck_assert_msg(t->next != S(QUEUED), "row %zu: goes back to queued", i);
                /* Ending is DONE, and DONE is only reached by ending. */
                bool ends = t->action == A(SUCCEED) || t->action == A(FAIL);
                ck_assert_msg(ends == (t->next == S(DONE)), "%s: action %d with next %s",
                              row_name(t->kind, t->step, t->event), (int) t->action, op_machine_step_to_string(t->next));
                /* MARK runs the mark step, RUN a BMC step. */
                if (t->action == A(MARK))
                        ck_assert_int_eq(t->next, S(MARK));
                if (t->action == A(RUN))
                        ck_assert_msg(t->next != S(MARK) && t->next != S(DONE), "%s runs no BMC step",
                                      row_name(t->kind, t->step, t->event));
                /* Only the power step gets a command chosen. */
                if (t->power != P(AS_ASKED))
                        ck_assert_int_eq(t->next, S(POWER));
                for (size_t j = i + 1; j < n; j++)
                        ck_assert_msg(table[j].kind != t->kind || table[j].step != t->step || table[j].event != t->event,
                                      "rows %zu and %zu are both %s", i, j, row_name(t->kind, t->step, t->event));
                ck_assert_ptr_eq(op_machine_transition(t->kind, t->step, t->event), t);
        }
}
END_TEST

START_TEST(test_op_machine_every_step_can_fail) {
        /* A step that cannot fail would leave an operation running forever when it does. */
        for (int k = 0; k < _OP_KIND_MAX; k++) {
                const OpKindInfo *ki = op_machine_kind((OpKind) k);
                for (size_t i = 0; i < ki->n_steps; i++) {
                        const OpTransition *t = op_machine_transition((OpKind) k, ki->steps[i], E(FAILED));
                        ck_assert_msg(t && t->action == A(FAIL), "%s cannot fail",
                                      row_name((OpKind) k, ki->steps[i], E(FAILED)));
                }
        }
}
END_TEST

START_TEST(test_op_machine_kinds) {
        static const struct {
                OpKind kind;
                const char *name, *why;
                bool internal;
        } want[] = {
                { K(REINSTALL), "reinstall", "reinstall: ", false },
                { K(REINSTALL_NO_BMC), "reinstall", "reinstall: ", false },
                { K(POWER), "power", "", false },
                { K(BOOTDEV), "bootdev", "", false },
                { K(DISK_AFTER_INSTALL), "bootdev", "after install: ", true },
                { K(REBOOT), "reboot", "reboot: ", false },
        };
        ck_assert_uint_eq(sizeof want / sizeof want[0], _OP_KIND_MAX);
        ck_assert_uint_eq(sizeof want_steps / sizeof want_steps[0], _OP_KIND_MAX);
        for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
                const OpKindInfo *ki = op_machine_kind(want[i].kind);
                ck_assert_ptr_nonnull(ki);
                ck_assert_str_eq(ki->name, want[i].name);
                ck_assert_str_eq(ki->why, want[i].why);
                ck_assert_int_eq(ki->internal, want[i].internal);
                ck_assert_uint_eq(ki->n_steps, n_steps(want[i].kind));
                ck_assert_uint_le(ki->n_steps, OP_MACHINE_MAX_STEPS);
                for (size_t j = 0; j < ki->n_steps; j++)
                        ck_assert_int_eq(ki->steps[j], step_at(want[i].kind, j));
        }
}
END_TEST

/* ---- names ------------------------------------------------------------------------------------ */

START_TEST(test_op_machine_names) {
        /* The step names are the API's. */
        ck_assert_pstr_eq(op_machine_step_to_string(S(MARK)), "mark");
        ck_assert_pstr_eq(op_machine_step_to_string(S(BOOTDEV)), "bootdev");
        ck_assert_pstr_eq(op_machine_step_to_string(S(POWER_STATUS)), "power_status");
        ck_assert_pstr_eq(op_machine_step_to_string(S(POWER)), "power");
        for (int s = 0; s < _OP_STEP_MAX; s++) {
                const char *name = op_machine_step_to_string((OpStep) s);
                ck_assert_msg(name && name[0], "step %d has no name", s);
                for (int o = 0; o < s; o++)
                        ck_assert_str_ne(op_machine_step_to_string((OpStep) o), name);
        }
        for (int e = 0; e < _OP_EV_MAX; e++) {
                const char *name = op_machine_event_to_string((OpEvent) e);
                ck_assert_msg(name && name[0], "event %d has no name", e);
                for (int o = 0; o < e; o++)
                        ck_assert_str_ne(op_machine_event_to_string((OpEvent) o), name);
        }
        ck_assert_ptr_null(op_machine_step_to_string(_OP_STEP_MAX));
        ck_assert_ptr_null(op_machine_step_to_string((OpStep) -1));
        ck_assert_ptr_null(op_machine_event_to_string(_OP_EV_MAX));
        ck_assert_ptr_null(op_machine_event_to_string((OpEvent) -1));
}
END_TEST

static Suite *op_machine_suite(void) {
        Suite *s = suite_create("op-machine");
        TCase *tc;

        tc = tcase_create("rows");
        tcase_add_test(tc, test_op_machine_every_triple);
        tcase_add_test(tc, test_op_machine_out_of_range);
        tcase_add_test(tc, test_op_machine_reinstall_power_on_cycles);
        tcase_add_test(tc, test_op_machine_reinstall_power_off_powers_on);
        tcase_add_test(tc, test_op_machine_reinstall_fails_where_it_fails);
        tcase_add_test(tc, test_op_machine_reinstall_no_bmc_only_marks);
        tcase_add_test(tc, test_op_machine_reboot_cycles_or_powers_on);
        tcase_add_test(tc, test_op_machine_power_status_is_the_result);
        suite_add_tcase(s, tc);

        tc = tcase_create("invariants");
        tcase_add_test(tc, test_op_machine_rows_valid_and_unique);
        tcase_add_test(tc, test_op_machine_every_step_can_fail);
        tcase_add_test(tc, test_op_machine_kinds);
        suite_add_tcase(s, tc);

        tc = tcase_create("names");
        tcase_add_test(tc, test_op_machine_names);
        suite_add_tcase(s, tc);
        return s;
}

CHECK_MAIN(op_machine_suite)
