/* test-provision.c — unit tests for provision.c: the (state, event) table's specific rows
 * and its invariants (total for boot events, no duplicate rows, history messages for every
 * state change, install attempts opened and ended consistently), and the state names. */
#include "check-main.h"
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "provision.h"

#define S(x) PROVISION_##x
#define E(x) PROVISION_EV_##x
#define A(x) PROVISION_ACTION_##x
#define B(x) PROVISION_BOOT_##x

static bool event_is_install_boot(ProvisionEvent e) {
        return e == E(NETBOOT) || e == E(NETBOOT_NO_TOKEN);
}

static bool event_is_image_boot(ProvisionEvent e) {
        return e == E(IMAGE_NETBOOT) || e == E(IMAGE_NETBOOT_NO_TOKEN);
}

static bool event_is_boot(ProvisionEvent e) {
        return event_is_install_boot(e) || event_is_image_boot(e);
}

static bool is_open_attempt(ProvisionState s) {
        return s == S(NETBOOTING) || s == S(INSTALLING);
}

static bool event_is_installer(ProvisionEvent e) {
        return e == E(PHASE) || e == E(SUCCEEDED) || e == E(FAILED);
}

static bool action_ends_attempt(ProvisionAction a) {
        return a == A(END_ATTEMPT_SUCCEEDED) || a == A(END_ATTEMPT_FAILED) || a == A(END_ATTEMPT_ABANDONED);
}

/* "netbooting(2)+netboot(0)" for messages; two calls may share one message. */
static const char *row_name(ProvisionState s, ProvisionEvent e) {
        static char bufs[2][128];
        static unsigned next;
        char *buf = bufs[next++ % 2];
        const char *sn = provision_state_to_string(s), *en = provision_event_to_string(e);
        snprintf(buf, sizeof bufs[0], "%s(%d)+%s(%d)", sn ? sn : "?", (int) s, en ? en : "?", (int) e);
        return buf;
}

/* Looks up a row that must exist and checks its result. */
static const ProvisionTransition *expect_row(ProvisionState from, ProvisionEvent ev, ProvisionState to,
                                             ProvisionAction action, ProvisionBoot boot) {
        const ProvisionTransition *t = provision_transition(from, ev);
        ck_assert_msg(t != NULL, "no transition for %s", row_name(from, ev));
        ck_assert_msg(t->from == from && t->event == ev, "lookup of %s returned the row for %s", row_name(from, ev),
                      row_name(t->from, t->event));
        ck_assert_msg(t->to == to, "%s goes to %s, want %s", row_name(from, ev), provision_state_to_string(t->to),
                      provision_state_to_string(to));
        ck_assert_msg(t->action == action, "%s has action %d, want %d", row_name(from, ev), (int) t->action,
                      (int) action);
        ck_assert_msg(t->boot == boot, "%s has boot %d, want %d", row_name(from, ev), (int) t->boot, (int) boot);
        return t;
}

/* ---- specific rows ---------------------------------------------------------------------- */

START_TEST(test_provision_first_netboot_installs) {
        static const ProvisionState froms[] = { S(NEW), S(PENDING) };
        static const ProvisionEvent evs[] = { E(NETBOOT), E(NETBOOT_NO_TOKEN) };
        for (size_t i = 0; i < 2; i++)
                for (size_t j = 0; j < 2; j++) {
                        const ProvisionTransition *t =
                                expect_row(froms[i], evs[j], S(NETBOOTING), A(OPEN_ATTEMPT), B(INSTALL));
                        ck_assert_msg(t->why != NULL, "%s opens an attempt off the record", row_name(froms[i], evs[j]));
                }
}
END_TEST

START_TEST(test_provision_netbooting_repeat_is_silent) {
        /* pixiecore asks several times per boot: same attempt, same token, no history row. */
        const ProvisionTransition *t = expect_row(S(NETBOOTING), E(NETBOOT), S(NETBOOTING), A(NONE), B(INSTALL));
        ck_assert_ptr_null(t->why);
}
END_TEST

START_TEST(test_provision_netbooting_without_token_reopens) {
        const ProvisionTransition *t =
                expect_row(S(NETBOOTING), E(NETBOOT_NO_TOKEN), S(NETBOOTING), A(REOPEN_ATTEMPT), B(INSTALL));
        ck_assert_ptr_nonnull(t->why);
}
END_TEST

START_TEST(test_provision_installing_netboot_reopens) {
        static const ProvisionEvent evs[] = { E(NETBOOT), E(NETBOOT_NO_TOKEN) };
        for (size_t j = 0; j < 2; j++) {
                const ProvisionTransition *t =
                        expect_row(S(INSTALLING), evs[j], S(NETBOOTING), A(REOPEN_ATTEMPT), B(INSTALL));
                ck_assert_ptr_nonnull(t->why);
        }
}
END_TEST

START_TEST(test_provision_done_boots_local) {
        /* Installed and failed nodes boot from disk, and stay where they are: no loops. */
        static const ProvisionState froms[] = { S(INSTALLED), S(FAILED) };
        static const ProvisionEvent evs[] = { E(NETBOOT), E(NETBOOT_NO_TOKEN) };
        for (size_t i = 0; i < 2; i++)
                for (size_t j = 0; j < 2; j++)
                        expect_row(froms[i], evs[j], froms[i], A(NONE), B(LOCAL));
}
END_TEST

START_TEST(test_provision_installer_events) {
        static const ProvisionState froms[] = { S(NETBOOTING), S(INSTALLING) };
        for (size_t i = 0; i < 2; i++) {
                expect_row(froms[i], E(PHASE), S(INSTALLING), A(SET_PHASE), B(NONE));
                expect_row(froms[i], E(SUCCEEDED), S(INSTALLED), A(END_ATTEMPT_SUCCEEDED), B(NONE));
                expect_row(froms[i], E(FAILED), S(FAILED), A(END_ATTEMPT_FAILED), B(NONE));
        }
}
END_TEST

START_TEST(test_provision_installer_events_only_with_open_attempt) {
        for (int s = 0; s < _PROVISION_STATE_MAX; s++)
                for (int e = 0; e < _PROVISION_EV_MAX; e++) {
                        if (!event_is_installer((ProvisionEvent) e))
                                continue;
                        const ProvisionTransition *t = provision_transition((ProvisionState) s, (ProvisionEvent) e);
                        bool allowed = s == S(NETBOOTING) || s == S(INSTALLING);
                        ck_assert_msg((t != NULL) == allowed, "%s is %s", row_name((ProvisionState) s, (ProvisionEvent) e),
                                      t ? "allowed" : "refused");
                }
}
END_TEST

START_TEST(test_provision_reinstall_from_anywhere) {
        for (int s = 0; s < _PROVISION_STATE_MAX; s++) {
                const ProvisionTransition *t = provision_transition((ProvisionState) s, E(REINSTALL));
                ck_assert_msg(t != NULL, "reinstall refused in %s", provision_state_to_string((ProvisionState) s));
                ck_assert_int_eq(t->to, S(PENDING));
                ck_assert_int_eq(t->boot, B(NONE));
                ck_assert_int_eq(t->action, is_open_attempt((ProvisionState) s) ? A(END_ATTEMPT_ABANDONED)
                                            : s == S(BOOTING)                      ? A(END_BOOT)
                                                                                   : A(NONE));
        }
        ck_assert_pstr_eq(provision_boot_outcome(provision_transition(S(BOOTING), E(REINSTALL))), "abandoned");
}
END_TEST

START_TEST(test_provision_timeout) {
        for (int s = 0; s < _PROVISION_STATE_MAX; s++) {
                const ProvisionTransition *t = provision_transition((ProvisionState) s, E(TIMEOUT));
                if (is_open_attempt((ProvisionState) s) || s == S(BOOTING)) {
                        ck_assert_ptr_nonnull(t);
                        ck_assert_int_eq(t->to, S(FAILED));
                        ck_assert_int_eq(t->action, s == S(BOOTING) ? A(END_BOOT) : A(END_ATTEMPT_FAILED));
                        ck_assert_ptr_nonnull(t->why);
                } else
                        ck_assert_msg(t == NULL, "timeout allowed in %s", provision_state_to_string((ProvisionState) s));
        }
        ck_assert_pstr_eq(provision_attempt_outcome(provision_transition(S(NETBOOTING), E(TIMEOUT))), "timeout");
        ck_assert_pstr_eq(provision_boot_outcome(provision_transition(S(BOOTING), E(TIMEOUT))), "timeout");
}
END_TEST

/* ---- stateless nodes -------------------------------------------------------------------- */

START_TEST(test_provision_image_netboot_opens_boot) {
        /* Every network boot of a stateless node is answered with its image, from any state:
         * never the local disk; each is a new boot but pixiecore's repeats of the open one. */
        for (int s = 0; s < _PROVISION_STATE_MAX; s++)
                for (int e = E(IMAGE_NETBOOT); e <= E(IMAGE_NETBOOT_NO_TOKEN); e++) {
                        bool repeat = s == S(BOOTING) && e == E(IMAGE_NETBOOT);
                        const ProvisionTransition *t = expect_row((ProvisionState) s, (ProvisionEvent) e, S(BOOTING),
                                                                  repeat ? A(NONE) : A(OPEN_BOOT), B(IMAGE));
                        ck_assert_msg((t->why == NULL) == repeat, "%s: history %s", row_name(t->from, t->event),
                                      t->why ? t->why : "(none)");
                        ck_assert_pstr_eq(provision_boot_outcome(t), s == S(BOOTING) && !repeat ? "abandoned" : NULL);
                        ck_assert_pstr_eq(provision_attempt_outcome(t), is_open_attempt((ProvisionState) s) ? "abandoned" : NULL);
                }
}
END_TEST

START_TEST(test_provision_boot_reports) {
        const ProvisionTransition *t = expect_row(S(BOOTING), E(BOOT_RUNNING), S(RUNNING), A(END_BOOT), B(NONE));
        ck_assert_pstr_eq(provision_boot_outcome(t), "running");
        t = expect_row(S(BOOTING), E(BOOT_FAILED), S(FAILED), A(END_BOOT), B(NONE));
        ck_assert_pstr_eq(provision_boot_outcome(t), "failed");
        /* The boot token works only while the boot is open. */
        for (int s = 0; s < _PROVISION_STATE_MAX; s++)
                if (s != S(BOOTING)) {
                        ck_assert_ptr_null(provision_transition((ProvisionState) s, E(BOOT_RUNNING)));
                        ck_assert_ptr_null(provision_transition((ProvisionState) s, E(BOOT_FAILED)));
                }
}
END_TEST

START_TEST(test_provision_install_netboot_after_stateless) {
        /* A node whose mode became install installs at its next netboot. */
        static const ProvisionState froms[] = { S(BOOTING), S(RUNNING) };
        for (size_t i = 0; i < 2; i++)
                for (int e = E(NETBOOT); e <= E(NETBOOT_NO_TOKEN); e++) {
                        const ProvisionTransition *t =
                                expect_row(froms[i], (ProvisionEvent) e, S(NETBOOTING), A(OPEN_ATTEMPT), B(INSTALL));
                        ck_assert_pstr_eq(provision_boot_outcome(t), froms[i] == S(BOOTING) ? "abandoned" : NULL);
                }
}
END_TEST

START_TEST(test_provision_reboot_records_only) {
        for (int s = 0; s < _PROVISION_STATE_MAX; s++) {
                const ProvisionTransition *t =
                        expect_row((ProvisionState) s, E(REBOOT), (ProvisionState) s, A(NONE), B(NONE));
                ck_assert_pstr_eq(t->why, "reboot requested");
                ck_assert_ptr_null(provision_boot_outcome(t));
        }
}
END_TEST

/* What the table must say for (s, e), written out independently of it: every pair is checked
 * (test_provision_every_pair), so a row added, removed or changed in one place and not the
 * other fails.  Returns false when the pair must have no row. */
static bool spec_row(ProvisionState s, ProvisionEvent e, ProvisionState *to, ProvisionAction *action,
                     ProvisionBoot *boot, bool *why) {
        bool open = is_open_attempt(s);
        *boot = B(NONE);
        *why = true;
        *to = s;
        *action = A(NONE);
        switch (e) {
        case E(NETBOOT):
        case E(NETBOOT_NO_TOKEN):
                *boot = B(INSTALL);
                *to = S(NETBOOTING);
                if (s == S(INSTALLED) || s == S(FAILED)) {
                        *to = s;
                        *boot = B(LOCAL);
                        *why = false;
                } else if (s == S(NETBOOTING) && e == E(NETBOOT))
                        *why = false;
                else if (s == S(NETBOOTING) || s == S(INSTALLING))
                        *action = A(REOPEN_ATTEMPT);
                else
                        *action = A(OPEN_ATTEMPT);
                return true;
        case E(IMAGE_NETBOOT):
        case E(IMAGE_NETBOOT_NO_TOKEN):
                *boot = B(IMAGE);
                *to = S(BOOTING);
                if (s == S(BOOTING) && e == E(IMAGE_NETBOOT))
                        *why = false;
                else
                        *action = A(OPEN_BOOT);
                return true;
        case E(PHASE):
        case E(SUCCEEDED):
        case E(FAILED):
                if (!open)
                        return false;
                *to = e == E(PHASE) ? S(INSTALLING) : e == E(SUCCEEDED) ? S(INSTALLED) : S(FAILED);
                *action = e == E(PHASE) ? A(SET_PHASE) : e == E(SUCCEEDED) ? A(END_ATTEMPT_SUCCEEDED) : A(END_ATTEMPT_FAILED);
                return true;
        case E(REINSTALL):
                *to = S(PENDING);
                *action = open ? A(END_ATTEMPT_ABANDONED) : s == S(BOOTING) ? A(END_BOOT) : A(NONE);
                *why = s != S(PENDING);
                return true;
        case E(TIMEOUT):
                if (!open && s != S(BOOTING))
                        return false;
                *to = S(FAILED);
                *action = open ? A(END_ATTEMPT_FAILED) : A(END_BOOT);
                return true;
        case E(BOOT_RUNNING):
        case E(BOOT_FAILED):
                if (s != S(BOOTING))
                        return false;
                *to = e == E(BOOT_RUNNING) ? S(RUNNING) : S(FAILED);
                *action = A(END_BOOT);
                return true;
        case E(BMC):
        case E(CONSOLE):
        case E(REPORT):
        case E(REBOOT):
                return true;
        default:
                return false;
        }
}

START_TEST(test_provision_every_pair) {
        size_t n = 0, rows = 0;
        (void) provision_table(&n);
        for (int s = 0; s < _PROVISION_STATE_MAX; s++)
                for (int e = 0; e < _PROVISION_EV_MAX; e++) {
                        ProvisionState to;
                        ProvisionAction action;
                        ProvisionBoot boot;
                        bool why;
                        const ProvisionTransition *t = provision_transition((ProvisionState) s, (ProvisionEvent) e);
                        if (!spec_row((ProvisionState) s, (ProvisionEvent) e, &to, &action, &boot, &why)) {
                                ck_assert_msg(t == NULL, "%s has a row, want none", row_name((ProvisionState) s, (ProvisionEvent) e));
                                continue;
                        }
                        rows++;
                        t = expect_row((ProvisionState) s, (ProvisionEvent) e, to, action, boot);
                        ck_assert_msg((t->why != NULL) == why, "%s: history message %s, want %s",
                                      row_name((ProvisionState) s, (ProvisionEvent) e), t->why ? t->why : "none",
                                      why ? "one" : "none");
                }
        ck_assert_uint_eq(rows, n);
}
END_TEST

START_TEST(test_provision_out_of_range) {
        ck_assert_ptr_null(provision_transition(_PROVISION_STATE_MAX, E(NETBOOT)));
        ck_assert_ptr_null(provision_transition(_PROVISION_STATE_INVALID, E(NETBOOT)));
        ck_assert_ptr_null(provision_transition(S(NEW), _PROVISION_EV_MAX));
}
END_TEST

/* ---- table invariants ------------------------------------------------------------------- */

START_TEST(test_provision_total_for_netboot) {
        /* Every node that network-boots gets an answer: install or local. */
        for (int s = 0; s < _PROVISION_STATE_MAX; s++)
                for (int e = 0; e < _PROVISION_EV_MAX; e++) {
                        if (!event_is_boot((ProvisionEvent) e))
                                continue;
                        const ProvisionTransition *t = provision_transition((ProvisionState) s, (ProvisionEvent) e);
                        ck_assert_msg(t != NULL, "no transition for %s", row_name((ProvisionState) s, (ProvisionEvent) e));
                        if (event_is_image_boot((ProvisionEvent) e))
                                ck_assert_msg(t->boot == B(IMAGE), "%s: a stateless node not answered its image",
                                              row_name((ProvisionState) s, (ProvisionEvent) e));
                        else
                                ck_assert_msg(t->boot == B(INSTALL) || t->boot == B(LOCAL), "%s gives no boot answer",
                                              row_name((ProvisionState) s, (ProvisionEvent) e));
                }
}
END_TEST

START_TEST(test_provision_rows_valid_and_unique) {
        size_t n = 0;
        const ProvisionTransition *table = provision_table(&n);
        ck_assert_ptr_nonnull(table);
        ck_assert_uint_gt(n, 0);

        for (size_t i = 0; i < n; i++) {
                const ProvisionTransition *t = &table[i];
                ck_assert_msg((int) t->from >= 0 && t->from < _PROVISION_STATE_MAX, "row %zu: bad from", i);
                ck_assert_msg((int) t->to >= 0 && t->to < _PROVISION_STATE_MAX, "row %zu: bad to", i);
                ck_assert_msg((int) t->event >= 0 && t->event < _PROVISION_EV_MAX, "row %zu: bad event", i);
                for (size_t j = i + 1; j < n; j++)
                        ck_assert_msg(table[j].from != t->from || table[j].event != t->event,
                                      "rows %zu and %zu are both %s", i, j, row_name(t->from, t->event));
                /* The lookup finds exactly this row. */
                ck_assert_ptr_eq(provision_transition(t->from, t->event), t);
        }
}
END_TEST

START_TEST(test_provision_state_changes_have_history) {
        size_t n = 0;
        const ProvisionTransition *table = provision_table(&n);

        for (size_t i = 0; i < n; i++) {
                const ProvisionTransition *t = &table[i];
                if (t->to != t->from)
                        ck_assert_msg(t->why != NULL && t->why[0] != '\0', "%s changes state with no history message",
                                      row_name(t->from, t->event));
                /* Opening or ending an install attempt is on record too. */
                if (t->action != A(NONE))
                        ck_assert_msg(t->why != NULL && t->why[0] != '\0', "%s acts (%d) with no history message",
                                      row_name(t->from, t->event), (int) t->action);
        }
}
END_TEST

START_TEST(test_provision_boot_answers_consistent) {
        size_t n = 0;
        const ProvisionTransition *table = provision_table(&n);

        for (size_t i = 0; i < n; i++) {
                const ProvisionTransition *t = &table[i];
                const char *row = row_name(t->from, t->event);
                if (!event_is_boot(t->event)) {
                        ck_assert_msg(t->boot == B(NONE), "%s is not a boot event but answers one", row);
                        continue;
                }
                /* Installing hands out a token: only with an attempt open after the row; the
                 * image too: only with a boot open after it. */
                if (t->boot == B(IMAGE))
                        ck_assert_msg(provision_state_has_open_boot(t->to), "%s boots the image without an open boot", row);
                else if (t->boot == B(INSTALL))
                        ck_assert_msg(provision_state_has_open_attempt(t->to), "%s installs without an open attempt", row);
                else
                        ck_assert_msg(!provision_state_has_open_attempt(t->to), "%s boots local with an attempt open", row);
        }
}
END_TEST

START_TEST(test_provision_attempts_consistent) {
        /* An attempt is opened when entering a state that has one, ended when leaving it, never
         * opened twice (OPEN while one is open would orphan it: that is REOPEN) and never ended
         * when there is none. */
        size_t n = 0;
        const ProvisionTransition *table = provision_table(&n);

        for (size_t i = 0; i < n; i++) {
                const ProvisionTransition *t = &table[i];
                const char *row = row_name(t->from, t->event);
                bool open_from = provision_state_has_open_attempt(t->from);
                bool open_to = provision_state_has_open_attempt(t->to);

                if (!open_from && open_to)
                        ck_assert_msg(t->action == A(OPEN_ATTEMPT), "%s enters %s without opening an attempt", row,
                                      provision_state_to_string(t->to));
                if (open_from && !open_to)
                        ck_assert_msg(action_ends_attempt(t->action) || t->action == A(OPEN_BOOT),
                                      "%s leaves %s without ending the attempt", row, provision_state_to_string(t->from));
                if (open_from && !open_to)
                        ck_assert_msg(provision_attempt_outcome(t) != NULL, "%s ends the attempt with no outcome", row);
                if (!open_from)
                        ck_assert_msg(t->action == A(NONE) || t->action == A(OPEN_ATTEMPT) || t->action == A(OPEN_BOOT) ||
                                              t->action == A(END_BOOT),
                                      "%s acts (%d) on an attempt that is not open", row, (int) t->action);
                if (open_from)
                        ck_assert_msg(t->action != A(OPEN_ATTEMPT), "%s opens a second attempt", row);
                if (open_from && open_to)
                        ck_assert_msg(!action_ends_attempt(t->action), "%s ends the attempt but stays in %s", row,
                                      provision_state_to_string(t->to));
        }
}
END_TEST

START_TEST(test_provision_boots_consistent) {
        /* A boot is opened when entering booting, ended when leaving it (with an outcome), and
         * a new one replaces the open one only by OPEN_BOOT. */
        size_t n = 0;
        const ProvisionTransition *table = provision_table(&n);

        for (size_t i = 0; i < n; i++) {
                const ProvisionTransition *t = &table[i];
                const char *row = row_name(t->from, t->event);
                bool open_from = provision_state_has_open_boot(t->from);
                bool open_to = provision_state_has_open_boot(t->to);
                if (!open_from && open_to)
                        ck_assert_msg(t->action == A(OPEN_BOOT), "%s enters booting without opening a boot", row);
                if (open_from && !open_to)
                        ck_assert_msg(provision_boot_outcome(t) != NULL, "%s leaves booting without ending the boot", row);
                if (t->action == A(END_BOOT))
                        ck_assert_msg(open_from && !open_to, "%s ends a boot that is not open, or stays", row);
                if (t->action == A(OPEN_BOOT))
                        ck_assert_msg(open_to, "%s opens a boot but leaves booting", row);
                if (open_from && open_to)
                        ck_assert_msg((provision_boot_outcome(t) != NULL) == (t->action == A(OPEN_BOOT)),
                                      "%s: boot outcome and action disagree", row);
        }
        for (int s = 0; s < _PROVISION_STATE_MAX; s++)
                ck_assert_int_eq(provision_state_has_open_boot((ProvisionState) s), s == S(BOOTING));
}
END_TEST

START_TEST(test_provision_has_open_attempt) {
        for (int s = 0; s < _PROVISION_STATE_MAX; s++)
                ck_assert_msg(provision_state_has_open_attempt((ProvisionState) s) ==
                                      (s == S(NETBOOTING) || s == S(INSTALLING)),
                              "has_open_attempt(%s) is wrong", provision_state_to_string((ProvisionState) s));
}
END_TEST

/* ---- names ------------------------------------------------------------------------------ */

START_TEST(test_provision_state_strings) {
        /* The spellings are stored in the database and shown by the API. */
        static const struct {
                ProvisionState s;
                const char *name;
        } names[] = {
                { S(NEW), "new" },           { S(PENDING), "pending" },     { S(NETBOOTING), "netbooting" },
                { S(INSTALLING), "installing" }, { S(INSTALLED), "installed" }, { S(FAILED), "failed" },
                { S(BOOTING), "booting" },       { S(RUNNING), "running" },
        };
        ck_assert_uint_eq(sizeof names / sizeof names[0], _PROVISION_STATE_MAX);
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
                ck_assert_pstr_eq(provision_state_to_string(names[i].s), names[i].name);
                ck_assert_int_eq(provision_state_from_string(names[i].name), names[i].s);
        }
}
END_TEST

START_TEST(test_provision_state_round_trip) {
        for (int s = 0; s < _PROVISION_STATE_MAX; s++) {
                const char *name = provision_state_to_string((ProvisionState) s);
                ck_assert_msg(name != NULL && name[0] != '\0', "state %d has no name", s);
                ck_assert_int_eq(provision_state_from_string(name), s);
                for (int o = 0; o < s; o++)
                        ck_assert_str_ne(provision_state_to_string((ProvisionState) o), name);
        }
        ck_assert_ptr_null(provision_state_to_string(_PROVISION_STATE_MAX));
        ck_assert_ptr_null(provision_state_to_string(_PROVISION_STATE_INVALID));
        ck_assert_int_eq(provision_state_from_string(NULL), _PROVISION_STATE_INVALID);
        ck_assert_int_eq(provision_state_from_string(""), _PROVISION_STATE_INVALID);
        ck_assert_int_eq(provision_state_from_string("bogus"), _PROVISION_STATE_INVALID);
        ck_assert_int_eq(provision_state_from_string("installed "), _PROVISION_STATE_INVALID);
        ck_assert_int_eq(provision_state_from_string("install"), _PROVISION_STATE_INVALID);
}
END_TEST

START_TEST(test_provision_event_strings) {
        for (int e = 0; e < _PROVISION_EV_MAX; e++) {
                const char *name = provision_event_to_string((ProvisionEvent) e);
                ck_assert_msg(name != NULL && name[0] != '\0', "event %d has no name", e);
        }
        ck_assert_pstr_eq(provision_event_to_string(E(NETBOOT)), "netboot");
        ck_assert_pstr_eq(provision_event_to_string(E(REINSTALL)), "reinstall");
        ck_assert_pstr_eq(provision_event_to_string(E(TIMEOUT)), "timeout");
        ck_assert_pstr_eq(provision_event_to_string(E(IMAGE_NETBOOT)), "netboot");
        ck_assert_pstr_eq(provision_event_to_string(E(BOOT_RUNNING)), "boot");
        ck_assert_pstr_eq(provision_event_to_string(E(REBOOT)), "reboot");
        ck_assert_ptr_null(provision_event_to_string(_PROVISION_EV_MAX));
        ck_assert_ptr_null(provision_event_to_string((ProvisionEvent) -1));
}
END_TEST

static Suite *provision_suite(void) {
        Suite *s = suite_create("provision");
        TCase *tc;

        tc = tcase_create("rows");
        tcase_add_test(tc, test_provision_first_netboot_installs);
        tcase_add_test(tc, test_provision_netbooting_repeat_is_silent);
        tcase_add_test(tc, test_provision_netbooting_without_token_reopens);
        tcase_add_test(tc, test_provision_installing_netboot_reopens);
        tcase_add_test(tc, test_provision_done_boots_local);
        tcase_add_test(tc, test_provision_installer_events);
        tcase_add_test(tc, test_provision_installer_events_only_with_open_attempt);
        tcase_add_test(tc, test_provision_reinstall_from_anywhere);
        tcase_add_test(tc, test_provision_timeout);
        tcase_add_test(tc, test_provision_out_of_range);
        tcase_add_test(tc, test_provision_image_netboot_opens_boot);
        tcase_add_test(tc, test_provision_boot_reports);
        tcase_add_test(tc, test_provision_install_netboot_after_stateless);
        tcase_add_test(tc, test_provision_reboot_records_only);
        tcase_add_test(tc, test_provision_every_pair);
        suite_add_tcase(s, tc);

        tc = tcase_create("invariants");
        tcase_add_test(tc, test_provision_total_for_netboot);
        tcase_add_test(tc, test_provision_rows_valid_and_unique);
        tcase_add_test(tc, test_provision_state_changes_have_history);
        tcase_add_test(tc, test_provision_boot_answers_consistent);
        tcase_add_test(tc, test_provision_attempts_consistent);
        tcase_add_test(tc, test_provision_boots_consistent);
        tcase_add_test(tc, test_provision_has_open_attempt);
        suite_add_tcase(s, tc);

        tc = tcase_create("names");
        tcase_add_test(tc, test_provision_state_strings);
        tcase_add_test(tc, test_provision_state_round_trip);
        tcase_add_test(tc, test_provision_event_strings);
        suite_add_tcase(s, tc);

        return s;
}

CHECK_MAIN(provision_suite)
