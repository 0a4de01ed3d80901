/* test-capture-machine.c — unit tests for capture-machine.c: every (state, event) pair of the
 * phase and link tables (the expected row, or none), the invariants console.c relies on when
 * it carries out the actions, the backoff and the history note limit, and walks through the
 * link table checking that history notes of losses and re-establishments pair up. */
#include "check-main.h"
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture-machine.h"

#define P(x) CAPTURE_PHASE_##x
#define PE(x) CAPTURE_PHASE_EV_##x
#define PA(x) CAPTURE_PHASE_DO_##x
#define L(x) CAPTURE_LINK_##x
#define LE(x) CAPTURE_LINK_EV_##x
#define LA(x) CAPTURE_LINK_DO_##x

/* Actions of a lost session's row, with and without the history note. */
#define LOST_NOTED (LA(CLOSE_SESSION) | LA(NOTE_LOST) | LA(HISTORY_LOST) | LA(SCHEDULE_RETRY))
#define LOST_QUIET (LA(CLOSE_SESSION) | LA(NOTE_LOST) | LA(SCHEDULE_RETRY))

/* Which pairs the expect_* calls checked, so a pair nobody wrote an expectation for fails
 * test_*_every_pair. */
static bool phase_seen[_CAPTURE_PHASE_MAX][_CAPTURE_PHASE_EV_MAX];
static bool link_seen[_CAPTURE_LINK_MAX][_CAPTURE_LINK_EV_MAX];

static const char *phase_pair(CapturePhase s, CapturePhaseEvent e) {
        static char bufs[2][96];
        static unsigned next;
        char *buf = bufs[next++ % 2];
        const char *sn = capture_machine_phase_to_string(s), *en = capture_machine_phase_event_to_string(e);
        snprintf(buf, sizeof bufs[0], "%s(%d)+%s(%d)", sn ? sn : "?", (int) s, en ? en : "?", (int) e);
        return buf;
}

static const char *link_pair(CaptureLink s, CaptureLinkEvent e) {
        static char bufs[2][96];
        static unsigned next;
        char *buf = bufs[next++ % 2];
        const char *sn = capture_machine_link_to_string(s), *en = capture_machine_link_event_to_string(e);
        snprintf(buf, sizeof bufs[0], "%s(%d)+%s(%d)", sn ? sn : "?", (int) s, en ? en : "?", (int) e);
        return buf;
}

static void expect_phase(CapturePhase from, CapturePhaseEvent ev, CapturePhase to, unsigned actions) {
        const CapturePhaseTransition *t = capture_machine_phase(from, ev);
        ck_assert_msg(!phase_seen[from][ev], "%s expected twice", phase_pair(from, ev));
        phase_seen[from][ev] = true;
        ck_assert_msg(t != NULL, "no row for %s", phase_pair(from, ev));
        ck_assert_msg(t->from == from && t->event == ev, "lookup of %s returned %s", phase_pair(from, ev),
                      phase_pair(t->from, t->event));
        ck_assert_msg(t->to == to, "%s goes to %s, want %s", phase_pair(from, ev), capture_machine_phase_to_string(t->to),
                      capture_machine_phase_to_string(to));
        ck_assert_msg(t->actions == actions, "%s has actions 0x%x, want 0x%x", phase_pair(from, ev), t->actions, actions);
}

static void expect_phase_none(CapturePhase from, CapturePhaseEvent ev) {
        ck_assert_msg(!phase_seen[from][ev], "%s expected twice", phase_pair(from, ev));
        phase_seen[from][ev] = true;
        ck_assert_msg(capture_machine_phase(from, ev) == NULL, "%s has a row, want none", phase_pair(from, ev));
}

static void expect_link(CaptureLink from, CaptureLinkEvent ev, CaptureLink to, unsigned actions) {
        const CaptureLinkTransition *t = capture_machine_link(from, ev);
        ck_assert_msg(!link_seen[from][ev], "%s expected twice", link_pair(from, ev));
        link_seen[from][ev] = true;
        ck_assert_msg(t != NULL, "no row for %s", link_pair(from, ev));
        ck_assert_msg(t->from == from && t->event == ev, "lookup of %s returned %s", link_pair(from, ev),
                      link_pair(t->from, t->event));
        ck_assert_msg(t->to == to, "%s goes to %s, want %s", link_pair(from, ev), capture_machine_link_to_string(t->to),
                      capture_machine_link_to_string(to));
        ck_assert_msg(t->actions == actions, "%s has actions 0x%x, want 0x%x", link_pair(from, ev), t->actions, actions);
}

static void expect_link_none(CaptureLink from, CaptureLinkEvent ev) {
        ck_assert_msg(!link_seen[from][ev], "%s expected twice", link_pair(from, ev));
        link_seen[from][ev] = true;
        ck_assert_msg(capture_machine_link(from, ev) == NULL, "%s has a row, want none", link_pair(from, ev));
}

/* ---- phase, pair by pair ------------------------------------------------------------------ */

/* A reinstall prepares the next attempt's file; a capture on that file already goes on. */
static void phase_prepare(void) {
        expect_phase_none(P(NEW), PE(PREPARE)); /* a new capture has no file to be the same */
        expect_phase(P(NEW), PE(PREPARE_NEXT), P(PREPARED), PA(SWITCH_FILE));
        expect_phase(P(PREPARED), PE(PREPARE), P(PREPARED), 0);
        expect_phase(P(PREPARED), PE(PREPARE_NEXT), P(PREPARED), PA(SWITCH_FILE));
        expect_phase(P(ATTEMPT), PE(PREPARE), P(ATTEMPT), 0);
        expect_phase(P(ATTEMPT), PE(PREPARE_NEXT), P(PREPARED), PA(SWITCH_FILE));
        expect_phase(P(LINGERING), PE(PREPARE), P(LINGERING), 0);
        expect_phase(P(LINGERING), PE(PREPARE_NEXT), P(PREPARED), PA(SWITCH_FILE));
        expect_phase_none(P(LIVE), PE(PREPARE)); /* live.log is no attempt's */
        expect_phase(P(LIVE), PE(PREPARE_NEXT), P(PREPARED), PA(SWITCH_FILE));
        expect_phase(P(CLOSED), PE(PREPARE), P(CLOSED), PA(NEW_CAPTURE));
        expect_phase(P(CLOSED), PE(PREPARE_NEXT), P(CLOSED), PA(NEW_CAPTURE));
}

/* A netboot opened an attempt: its file, until it ends. */
static void phase_opened(void) {
        expect_phase_none(P(NEW), PE(ATTEMPT_OPENED));
        expect_phase(P(NEW), PE(NEXT_ATTEMPT_OPENED), P(ATTEMPT), PA(SWITCH_FILE));
        expect_phase(P(PREPARED), PE(ATTEMPT_OPENED), P(ATTEMPT), PA(CLEAR_DEADLINE));
        expect_phase(P(PREPARED), PE(NEXT_ATTEMPT_OPENED), P(ATTEMPT), PA(SWITCH_FILE));
        expect_phase(P(ATTEMPT), PE(ATTEMPT_OPENED), P(ATTEMPT), PA(CLEAR_DEADLINE));
        expect_phase(P(ATTEMPT), PE(NEXT_ATTEMPT_OPENED), P(ATTEMPT), PA(SWITCH_FILE));
        expect_phase(P(LINGERING), PE(ATTEMPT_OPENED), P(ATTEMPT), PA(CLEAR_DEADLINE));
        expect_phase(P(LINGERING), PE(NEXT_ATTEMPT_OPENED), P(ATTEMPT), PA(SWITCH_FILE));
        expect_phase_none(P(LIVE), PE(ATTEMPT_OPENED));
        expect_phase(P(LIVE), PE(NEXT_ATTEMPT_OPENED), P(ATTEMPT), PA(SWITCH_FILE));
        expect_phase(P(CLOSED), PE(ATTEMPT_OPENED), P(CLOSED), PA(NEW_CAPTURE));
        expect_phase(P(CLOSED), PE(NEXT_ATTEMPT_OPENED), P(CLOSED), PA(NEW_CAPTURE));
}

/* The attempt ended: linger (again if it is reported twice). */
static void phase_ended(void) {
        expect_phase_none(P(NEW), PE(ATTEMPT_ENDED));
        expect_phase(P(PREPARED), PE(ATTEMPT_ENDED), P(LINGERING), PA(LINGER));
        expect_phase(P(ATTEMPT), PE(ATTEMPT_ENDED), P(LINGERING), PA(LINGER));
        expect_phase(P(LINGERING), PE(ATTEMPT_ENDED), P(LINGERING), PA(LINGER));
        expect_phase_none(P(LIVE), PE(ATTEMPT_ENDED));
        expect_phase_none(P(CLOSED), PE(ATTEMPT_ENDED)); /* being freed: no note, no tail */
}

/* On demand: refused while an attempt is captured, extended while running. */
static void phase_live(void) {
        expect_phase(P(NEW), PE(LIVE_START), P(LIVE), PA(SWITCH_FILE) | PA(LIVE_DEADLINE));
        expect_phase(P(PREPARED), PE(LIVE_START), P(PREPARED), PA(REFUSE));
        expect_phase(P(ATTEMPT), PE(LIVE_START), P(ATTEMPT), PA(REFUSE));
        expect_phase(P(LINGERING), PE(LIVE_START), P(LIVE), PA(SWITCH_FILE) | PA(LIVE_DEADLINE));
        expect_phase(P(LIVE), PE(LIVE_START), P(LIVE), PA(LIVE_DEADLINE));
        expect_phase(P(CLOSED), PE(LIVE_START), P(CLOSED), PA(NEW_CAPTURE));

        expect_phase_none(P(NEW), PE(LIVE_STOP));
        expect_phase_none(P(PREPARED), PE(LIVE_STOP));
        expect_phase_none(P(ATTEMPT), PE(LIVE_STOP));
        expect_phase_none(P(LINGERING), PE(LIVE_STOP));
        expect_phase(P(LIVE), PE(LIVE_STOP), P(CLOSED), PA(END));
        expect_phase_none(P(CLOSED), PE(LIVE_STOP));
}

/* Deadlines end lingering and live captures; a prepared attempt that never opens expires. */
static void phase_timers(void) {
        expect_phase_none(P(NEW), PE(DEADLINE));
        expect_phase_none(P(PREPARED), PE(DEADLINE));
        expect_phase_none(P(ATTEMPT), PE(DEADLINE));
        expect_phase(P(LINGERING), PE(DEADLINE), P(CLOSED), PA(END));
        expect_phase(P(LIVE), PE(DEADLINE), P(CLOSED), PA(END));
        expect_phase_none(P(CLOSED), PE(DEADLINE));

        expect_phase_none(P(NEW), PE(PREPARED_EXPIRED));
        expect_phase(P(PREPARED), PE(PREPARED_EXPIRED), P(CLOSED), PA(END));
        expect_phase_none(P(ATTEMPT), PE(PREPARED_EXPIRED));
        expect_phase_none(P(LINGERING), PE(PREPARED_EXPIRED));
        expect_phase_none(P(LIVE), PE(PREPARED_EXPIRED));
        expect_phase_none(P(CLOSED), PE(PREPARED_EXPIRED));
}

/* The node left, lost its BMC, or provd stops: every running capture ends. */
static void phase_gone(void) {
        static const CapturePhaseEvent evs[] = { PE(NODE_GONE), PE(SHUTDOWN) };
        for (size_t i = 0; i < 2; i++) {
                expect_phase_none(P(NEW), evs[i]);
                expect_phase(P(PREPARED), evs[i], P(CLOSED), PA(END));
                expect_phase(P(ATTEMPT), evs[i], P(CLOSED), PA(END));
                expect_phase(P(LINGERING), evs[i], P(CLOSED), PA(END));
                expect_phase(P(LIVE), evs[i], P(CLOSED), PA(END));
                expect_phase_none(P(CLOSED), evs[i]);
        }
}

/* An attempt's file that cannot be created: capture on; live.log: the capture ends. */
static void phase_file_failed(void) {
        expect_phase_none(P(NEW), PE(FILE_FAILED));
        expect_phase(P(PREPARED), PE(FILE_FAILED), P(PREPARED), 0);
        expect_phase(P(ATTEMPT), PE(FILE_FAILED), P(ATTEMPT), 0);
        expect_phase_none(P(LINGERING), PE(FILE_FAILED)); /* no switch lands in lingering */
        expect_phase(P(LIVE), PE(FILE_FAILED), P(CLOSED), PA(END));
        expect_phase_none(P(CLOSED), PE(FILE_FAILED));
}

START_TEST(test_phase_prepare) {
        phase_prepare();
}
END_TEST

START_TEST(test_phase_opened) {
        phase_opened();
}
END_TEST

START_TEST(test_phase_ended) {
        phase_ended();
}
END_TEST

START_TEST(test_phase_live) {
        phase_live();
}
END_TEST

START_TEST(test_phase_timers) {
        phase_timers();
}
END_TEST

START_TEST(test_phase_gone) {
        phase_gone();
}
END_TEST

START_TEST(test_phase_file_failed) {
        phase_file_failed();
}
END_TEST

START_TEST(test_phase_every_pair) {
        phase_prepare();
        phase_opened();
        phase_ended();
        phase_live();
        phase_timers();
        phase_gone();
        phase_file_failed();
        for (int s = 0; s < _CAPTURE_PHASE_MAX; s++)
                for (int e = 0; e < _CAPTURE_PHASE_EV_MAX; e++)
                        ck_assert_msg(phase_seen[s][e], "no expectation for %s",
                                      phase_pair((CapturePhase) s, (CapturePhaseEvent) e));
        /* and the table has no row the expectations did not name */
        size_t n, rows = 0;
        capture_machine_phase_table(&n);
        for (int s = 0; s < _CAPTURE_PHASE_MAX; s++)
                for (int e = 0; e < _CAPTURE_PHASE_EV_MAX; e++)
                        rows += capture_machine_phase((CapturePhase) s, (CapturePhaseEvent) e) != NULL;
        ck_assert_uint_eq(rows, n);
}
END_TEST

/* ---- link, pair by pair --------------------------------------------------------------------- */

/* Opening: at once when idle, after the backoff when lost (counted as a reconnect). */
static void link_open(void) {
        expect_link(L(IDLE), LE(OPEN_DUE), L(IDLE), LA(OPEN_SESSION));
        expect_link_none(L(CONNECTING), LE(OPEN_DUE));
        expect_link_none(L(STREAMING), LE(OPEN_DUE));
        expect_link(L(BACKOFF), LE(OPEN_DUE), L(BACKOFF), LA(OPEN_SESSION) | LA(COUNT_RECONNECT));
        expect_link(L(BACKOFF_NOTED), LE(OPEN_DUE), L(BACKOFF_NOTED), LA(OPEN_SESSION) | LA(COUNT_RECONNECT));
        expect_link_none(L(RECONNECTING), LE(OPEN_DUE));
        expect_link_none(L(RECONNECTING_NOTED), LE(OPEN_DUE));
        expect_link_none(L(GAVE_UP), LE(OPEN_DUE)); /* no retry */
        expect_link_none(L(CLOSED), LE(OPEN_DUE));

        expect_link(L(IDLE), LE(OPENED), L(CONNECTING), LA(ADOPT_SESSION));
        expect_link_none(L(CONNECTING), LE(OPENED));
        expect_link_none(L(STREAMING), LE(OPENED));
        expect_link(L(BACKOFF), LE(OPENED), L(RECONNECTING), LA(ADOPT_SESSION));
        expect_link(L(BACKOFF_NOTED), LE(OPENED), L(RECONNECTING_NOTED), LA(ADOPT_SESSION));
        expect_link_none(L(RECONNECTING), LE(OPENED));
        expect_link_none(L(RECONNECTING_NOTED), LE(OPENED));
        expect_link_none(L(GAVE_UP), LE(OPENED));
        expect_link(L(CLOSED), LE(OPENED), L(CLOSED), LA(CLOSE_SESSION)); /* stopped meanwhile */

        expect_link(L(IDLE), LE(OPEN_FAILED), L(GAVE_UP), LA(NOTE_NO_SOL));
        expect_link_none(L(CONNECTING), LE(OPEN_FAILED));
        expect_link_none(L(STREAMING), LE(OPEN_FAILED));
        expect_link(L(BACKOFF), LE(OPEN_FAILED), L(GAVE_UP), LA(NOTE_NO_SOL));
        expect_link(L(BACKOFF_NOTED), LE(OPEN_FAILED), L(GAVE_UP), LA(NOTE_NO_SOL));
        expect_link_none(L(RECONNECTING), LE(OPEN_FAILED));
        expect_link_none(L(RECONNECTING_NOTED), LE(OPEN_FAILED));
        expect_link_none(L(GAVE_UP), LE(OPEN_FAILED));
        expect_link_none(L(CLOSED), LE(OPEN_FAILED)); /* stopped meanwhile: no note */
}

/* The payload is active: backoff back to 1 s; a re-establishment noted where the loss was. */
static void link_established(void) {
        expect_link_none(L(IDLE), LE(ESTABLISHED));
        expect_link(L(CONNECTING), LE(ESTABLISHED), L(STREAMING), LA(RESET_BACKOFF));
        expect_link_none(L(STREAMING), LE(ESTABLISHED));
        expect_link_none(L(BACKOFF), LE(ESTABLISHED));
        expect_link_none(L(BACKOFF_NOTED), LE(ESTABLISHED));
        expect_link(L(RECONNECTING), LE(ESTABLISHED), L(STREAMING), LA(RESET_BACKOFF) | LA(NOTE_REESTABLISHED));
        expect_link(L(RECONNECTING_NOTED), LE(ESTABLISHED), L(STREAMING),
                    LA(RESET_BACKOFF) | LA(NOTE_REESTABLISHED) | LA(HISTORY_REESTABLISHED));
        expect_link_none(L(GAVE_UP), LE(ESTABLISHED));
        expect_link_none(L(CLOSED), LE(ESTABLISHED));
}

/* Lost: noted in the file every time, in the history once per outage (and not within a minute
 * of the last note); re-opened after the backoff. */
static void link_lost(void) {
        expect_link_none(L(IDLE), LE(LOST));
        expect_link(L(CONNECTING), LE(LOST), L(BACKOFF_NOTED), LOST_NOTED);
        expect_link(L(STREAMING), LE(LOST), L(BACKOFF_NOTED), LOST_NOTED);
        expect_link_none(L(BACKOFF), LE(LOST));
        expect_link_none(L(BACKOFF_NOTED), LE(LOST));
        expect_link(L(RECONNECTING), LE(LOST), L(BACKOFF), LOST_QUIET); /* same outage */
        expect_link(L(RECONNECTING_NOTED), LE(LOST), L(BACKOFF_NOTED), LOST_QUIET);
        expect_link_none(L(GAVE_UP), LE(LOST));
        expect_link(L(CLOSED), LE(LOST), L(CLOSED), LA(CLOSE_SESSION));

        expect_link_none(L(IDLE), LE(LOST_QUIET));
        expect_link(L(CONNECTING), LE(LOST_QUIET), L(BACKOFF), LOST_QUIET);
        expect_link(L(STREAMING), LE(LOST_QUIET), L(BACKOFF), LOST_QUIET);
        expect_link_none(L(BACKOFF), LE(LOST_QUIET));
        expect_link_none(L(BACKOFF_NOTED), LE(LOST_QUIET));
        expect_link(L(RECONNECTING), LE(LOST_QUIET), L(BACKOFF), LOST_QUIET);
        expect_link(L(RECONNECTING_NOTED), LE(LOST_QUIET), L(BACKOFF_NOTED), LOST_QUIET);
        expect_link_none(L(GAVE_UP), LE(LOST_QUIET));
        expect_link(L(CLOSED), LE(LOST_QUIET), L(CLOSED), LA(CLOSE_SESSION));
}

/* No SOL or refused: noted once, no retry. */
static void link_refused(void) {
        static const CaptureLink with_session[] = { L(CONNECTING), L(STREAMING), L(RECONNECTING), L(RECONNECTING_NOTED) };
        for (size_t i = 0; i < 4; i++)
                expect_link(with_session[i], LE(REFUSED), L(GAVE_UP), LA(CLOSE_SESSION) | LA(NOTE_NO_SOL));
        expect_link_none(L(IDLE), LE(REFUSED));
        expect_link_none(L(BACKOFF), LE(REFUSED));
        expect_link_none(L(BACKOFF_NOTED), LE(REFUSED));
        expect_link_none(L(GAVE_UP), LE(REFUSED));
        expect_link(L(CLOSED), LE(REFUSED), L(CLOSED), LA(CLOSE_SESSION));
}

/* Another file: backoff back to 1 s, the session stays; gave-up tries again. */
static void link_file_switched(void) {
        static const CaptureLink same[] = { L(IDLE), L(CONNECTING), L(STREAMING), L(BACKOFF), L(BACKOFF_NOTED),
                                            L(RECONNECTING), L(RECONNECTING_NOTED) };
        for (size_t i = 0; i < sizeof same / sizeof same[0]; i++)
                expect_link(same[i], LE(FILE_SWITCHED), same[i], LA(RESET_BACKOFF));
        expect_link(L(GAVE_UP), LE(FILE_SWITCHED), L(IDLE), LA(RESET_BACKOFF));
        expect_link_none(L(CLOSED), LE(FILE_SWITCHED));
}

/* The phase ended. */
static void link_stop(void) {
        expect_link(L(IDLE), LE(STOP), L(CLOSED), 0);
        expect_link(L(CONNECTING), LE(STOP), L(CLOSED), LA(CLOSE_SESSION));
        expect_link(L(STREAMING), LE(STOP), L(CLOSED), LA(CLOSE_SESSION));
        expect_link(L(BACKOFF), LE(STOP), L(CLOSED), 0);
        expect_link(L(BACKOFF_NOTED), LE(STOP), L(CLOSED), 0);
        expect_link(L(RECONNECTING), LE(STOP), L(CLOSED), LA(CLOSE_SESSION));
        expect_link(L(RECONNECTING_NOTED), LE(STOP), L(CLOSED), LA(CLOSE_SESSION));
        expect_link(L(GAVE_UP), LE(STOP), L(CLOSED), 0);
        expect_link_none(L(CLOSED), LE(STOP));
}

START_TEST(test_link_open) {
        link_open();
}
END_TEST

START_TEST(test_link_established) {
        link_established();
}
END_TEST

START_TEST(test_link_lost) {
        link_lost();
}
END_TEST

START_TEST(test_link_refused) {
        link_refused();
}
END_TEST

START_TEST(test_link_file_switched) {
        link_file_switched();
}
END_TEST

START_TEST(test_link_stop) {
        link_stop();
}
END_TEST

START_TEST(test_link_every_pair) {
        link_open();
        link_established();
        link_lost();
        link_refused();
        link_file_switched();
        link_stop();
        for (int s = 0; s < _CAPTURE_LINK_MAX; s++)
                for (int e = 0; e < _CAPTURE_LINK_EV_MAX; e++)
                        ck_assert_msg(link_seen[s][e], "no expectation for %s", link_pair((CaptureLink) s, (CaptureLinkEvent) e));
        size_t n, rows = 0;
        capture_machine_link_table(&n);
        for (int s = 0; s < _CAPTURE_LINK_MAX; s++)
                for (int e = 0; e < _CAPTURE_LINK_EV_MAX; e++)
                        rows += capture_machine_link((CaptureLink) s, (CaptureLinkEvent) e) != NULL;
        ck_assert_uint_eq(rows, n);
}
END_TEST

/* ---- invariants console.c relies on ------------------------------------------------------------ */

START_TEST(test_tables_well_formed) {
        size_t n;
        const CapturePhaseTransition *pt = capture_machine_phase_table(&n);
        for (size_t i = 0; i < n; i++) {
                ck_assert_msg(capture_machine_phase_to_string(pt[i].from) && capture_machine_phase_to_string(pt[i].to) &&
                                      capture_machine_phase_event_to_string(pt[i].event),
                              "phase row %zu out of range", i);
                for (size_t j = 0; j < i; j++)
                        ck_assert_msg(pt[j].from != pt[i].from || pt[j].event != pt[i].event, "%s twice",
                                      phase_pair(pt[i].from, pt[i].event));
        }
        const CaptureLinkTransition *lt = capture_machine_link_table(&n);
        for (size_t i = 0; i < n; i++) {
                ck_assert_msg(capture_machine_link_to_string(lt[i].from) && capture_machine_link_to_string(lt[i].to) &&
                                      capture_machine_link_event_to_string(lt[i].event),
                              "link row %zu out of range", i);
                for (size_t j = 0; j < i; j++)
                        ck_assert_msg(lt[j].from != lt[i].from || lt[j].event != lt[i].event, "%s twice",
                                      link_pair(lt[i].from, lt[i].event));
        }
        for (int s = 0; s < _CAPTURE_PHASE_MAX; s++)
                ck_assert_ptr_nonnull(capture_machine_phase_to_string((CapturePhase) s));
        for (int e = 0; e < _CAPTURE_PHASE_EV_MAX; e++)
                ck_assert_ptr_nonnull(capture_machine_phase_event_to_string((CapturePhaseEvent) e));
        for (int s = 0; s < _CAPTURE_LINK_MAX; s++)
                ck_assert_ptr_nonnull(capture_machine_link_to_string((CaptureLink) s));
        for (int e = 0; e < _CAPTURE_LINK_EV_MAX; e++)
                ck_assert_ptr_nonnull(capture_machine_link_event_to_string((CaptureLinkEvent) e));
        ck_assert_ptr_null(capture_machine_phase_to_string(_CAPTURE_PHASE_MAX));
        ck_assert_ptr_null(capture_machine_phase_to_string((CapturePhase) -1));
        ck_assert_ptr_null(capture_machine_link_to_string(_CAPTURE_LINK_MAX));
        ck_assert_ptr_null(capture_machine_link_event_to_string(_CAPTURE_LINK_EV_MAX));
        ck_assert_ptr_null(capture_machine_phase_event_to_string(_CAPTURE_PHASE_EV_MAX));
        ck_assert_ptr_null(capture_machine_phase(_CAPTURE_PHASE_MAX, PE(SHUTDOWN)));
        ck_assert_ptr_null(capture_machine_link(L(STREAMING), _CAPTURE_LINK_EV_MAX));
}
END_TEST

/* What console.c's phase_apply_locked() assumes: each action comes with the event that carries
 * its argument, a capture leaves NEW at its first event, closed is final, and END is exactly
 * the way into closed. */
START_TEST(test_phase_action_contracts) {
        size_t n;
        const CapturePhaseTransition *t = capture_machine_phase_table(&n);
        for (size_t i = 0; i < n; i++) {
                const char *row = phase_pair(t[i].from, t[i].event);
                if (t[i].actions & PA(SWITCH_FILE))
                        ck_assert_msg(t[i].event == PE(PREPARE_NEXT) || t[i].event == PE(NEXT_ATTEMPT_OPENED) ||
                                              t[i].event == PE(LIVE_START),
                                      "%s switches without a file", row);
                if (t[i].actions & PA(LINGER))
                        ck_assert_msg(t[i].event == PE(ATTEMPT_ENDED), "%s lingers without an ended attempt", row);
                if (t[i].actions & (PA(LIVE_DEADLINE) | PA(REFUSE)))
                        ck_assert_msg(t[i].event == PE(LIVE_START), "%s: live deadline/refusal without a request", row);
                ck_assert_msg(((t[i].actions & PA(END)) != 0) == (t[i].to == P(CLOSED) && t[i].from != P(CLOSED)),
                              "%s: END must be exactly the way into closed", row);
                ck_assert_msg(((t[i].actions & PA(NEW_CAPTURE)) != 0) == (t[i].from == P(CLOSED)),
                              "%s: only a closed capture hands events to a new one", row);
                if (t[i].from == P(CLOSED))
                        ck_assert_msg(t[i].to == P(CLOSED) && t[i].actions == PA(NEW_CAPTURE), "%s reopens a closed capture", row);
                if (t[i].from == P(NEW))
                        ck_assert_msg(t[i].to != P(NEW) && (t[i].actions & PA(SWITCH_FILE)), "%s: a new capture stays without a file",
                                      row);
                ck_assert_msg(t[i].to != P(NEW), "%s goes back to new", row);
                if (t[i].actions & PA(REFUSE))
                        ck_assert_msg(t[i].to == t[i].from && t[i].actions == PA(REFUSE), "%s refuses and acts", row);
                /* a switch lands in the phase the event names */
                if (t[i].actions & PA(SWITCH_FILE))
                        ck_assert_msg(t[i].to == (t[i].event == PE(PREPARE_NEXT)          ? P(PREPARED)
                                                  : t[i].event == PE(NEXT_ATTEMPT_OPENED) ? P(ATTEMPT)
                                                                                           : P(LIVE)),
                                      "%s switches into %s", row, capture_machine_phase_to_string(t[i].to));
        }
        /* The events a capture is created for take it out of NEW. */
        static const CapturePhaseEvent starts[] = { PE(PREPARE_NEXT), PE(NEXT_ATTEMPT_OPENED), PE(LIVE_START) };
        for (size_t i = 0; i < 3; i++)
                ck_assert_ptr_nonnull(capture_machine_phase(P(NEW), starts[i]));
        /* Phases with a deadline, and only they, end at it. */
        for (int s = 0; s < _CAPTURE_PHASE_MAX; s++) {
                bool timed = s == P(LINGERING) || s == P(LIVE);
                ck_assert_msg((capture_machine_phase((CapturePhase) s, PE(DEADLINE)) != NULL) == timed, "%s",
                              phase_pair((CapturePhase) s, PE(DEADLINE)));
        }
}
END_TEST

/* What console.c's capture thread assumes: a session is adopted only into a state that holds
 * one and every way out of such a state closes it; an ended session is never ignored; only
 * states without a session open one; stop and file switches reach every live state. */
START_TEST(test_link_action_contracts) {
        size_t n;
        const CaptureLinkTransition *t = capture_machine_link_table(&n);
        for (size_t i = 0; i < n; i++) {
                const char *row = link_pair(t[i].from, t[i].event);
                bool had = capture_machine_link_has_session(t[i].from), has = capture_machine_link_has_session(t[i].to);
                if (t[i].actions & LA(ADOPT_SESSION))
                        ck_assert_msg(!had && has && t[i].event == LE(OPENED), "%s adopts wrongly", row);
                else if (!had)
                        ck_assert_msg(!has, "%s gets a session without adopting one", row);
                if (had && !has)
                        ck_assert_msg(t[i].actions & LA(CLOSE_SESSION), "%s leaves a session open", row);
                if (had && has)
                        ck_assert_msg(!(t[i].actions & LA(CLOSE_SESSION)), "%s closes the session it keeps", row);
                if (t[i].actions & LA(CLOSE_SESSION))
                        ck_assert_msg(had || t[i].from == L(CLOSED), "%s closes no session", row);
                if (t[i].actions & LA(OPEN_SESSION))
                        ck_assert_msg(!had && t[i].event == LE(OPEN_DUE) && t[i].to == t[i].from, "%s opens wrongly", row);
                if (t[i].actions & LA(COUNT_RECONNECT))
                        ck_assert_msg(t[i].actions & LA(OPEN_SESSION), "%s counts a reconnect without opening", row);
                if (t[i].actions & LA(SCHEDULE_RETRY))
                        ck_assert_msg(t[i].to == L(BACKOFF) || t[i].to == L(BACKOFF_NOTED), "%s schedules without backoff", row);
                if (t[i].to == L(BACKOFF) || t[i].to == L(BACKOFF_NOTED))
                        ck_assert_msg(t[i].from == t[i].to || (t[i].actions & LA(SCHEDULE_RETRY)), "%s backs off unscheduled",
                                      row);
                if (t[i].actions & LA(HISTORY_REESTABLISHED))
                        ck_assert_msg(t[i].actions & LA(NOTE_REESTABLISHED), "%s: history without the file note", row);
                if (t[i].actions & LA(HISTORY_LOST))
                        ck_assert_msg((t[i].actions & LA(NOTE_LOST)) && t[i].event == LE(LOST),
                                      "%s: history note past the limit or without the file note", row);
                if (t[i].actions & LA(NOTE_NO_SOL))
                        ck_assert_msg(t[i].to == L(GAVE_UP), "%s notes no SOL and retries", row);
                if (t[i].from == L(CLOSED))
                        ck_assert_msg(t[i].to == L(CLOSED) && t[i].actions == LA(CLOSE_SESSION), "%s acts after the end", row);
        }
        for (int s = 0; s < _CAPTURE_LINK_MAX; s++) {
                CaptureLink l = (CaptureLink) s;
                if (capture_machine_link_has_session(l) || l == L(CLOSED)) {
                        ck_assert_ptr_nonnull(capture_machine_link(l, LE(LOST)));
                        ck_assert_ptr_nonnull(capture_machine_link(l, LE(LOST_QUIET)));
                        ck_assert_ptr_nonnull(capture_machine_link(l, LE(REFUSED)));
                }
                if (capture_machine_link_establishing(l)) {
                        ck_assert_msg(capture_machine_link_has_session(l), "%s establishes without a session",
                                      capture_machine_link_to_string(l));
                        ck_assert_ptr_nonnull(capture_machine_link(l, LE(ESTABLISHED)));
                } else
                        ck_assert_ptr_null(capture_machine_link(l, LE(ESTABLISHED)));
                if (l != L(CLOSED)) {
                        const CaptureLinkTransition *stop = capture_machine_link(l, LE(STOP));
                        ck_assert_msg(stop && stop->to == L(CLOSED), "%s does not stop", capture_machine_link_to_string(l));
                        ck_assert_ptr_nonnull(capture_machine_link(l, LE(FILE_SWITCHED)));
                }
        }
        ck_assert(!capture_machine_link_has_session(L(CLOSED)));
        ck_assert(!capture_machine_link_has_session(L(GAVE_UP)));
        ck_assert(capture_machine_link_has_session(L(STREAMING)));
        ck_assert(!capture_machine_link_establishing(L(STREAMING)));
}
END_TEST

/* ---- backoff, note limit, loss events ------------------------------------------------------ */

START_TEST(test_backoff_doubles_to_30s) {
        static const unsigned want[] = { 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000 };
        unsigned b = CAPTURE_BACKOFF_MIN_MS;
        for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
                ck_assert_uint_eq(b, want[i]);
                b = capture_machine_backoff_next(b);
        }
        ck_assert_uint_eq(capture_machine_backoff_next(15000), 30000);
        ck_assert_uint_eq(capture_machine_backoff_next(14999), 29998);
        ck_assert_uint_eq(capture_machine_backoff_next(4000000000u), 30000); /* no overflow */
}
END_TEST

START_TEST(test_note_limit_one_a_minute) {
        ck_assert(capture_machine_may_note(0, 5));              /* never noted */
        ck_assert(!capture_machine_may_note(1000, 1000));
        ck_assert(!capture_machine_may_note(1000, 60999));
        ck_assert(capture_machine_may_note(1000, 61000));
        ck_assert(capture_machine_may_note(1000, 1000000));
}
END_TEST

START_TEST(test_loss_event) {
        ck_assert_int_eq(capture_machine_loss_event(-EOPNOTSUPP, true), LE(REFUSED));
        ck_assert_int_eq(capture_machine_loss_event(-EACCES, false), LE(REFUSED));
        static const int retry[] = { -ECONNRESET, -ETIMEDOUT, -EIO, -EBUSY, -ENOMEM };
        for (size_t i = 0; i < sizeof retry / sizeof retry[0]; i++) {
                ck_assert_int_eq(capture_machine_loss_event(retry[i], true), LE(LOST));
                ck_assert_int_eq(capture_machine_loss_event(retry[i], false), LE(LOST_QUIET));
        }
}
END_TEST

/* ---- walks ------------------------------------------------------------------------------------ */

/* Steps the link through a row that must exist; returns its actions. */
static unsigned step(CaptureLink *l, CaptureLinkEvent e) {
        const CaptureLinkTransition *t = capture_machine_link(*l, e);
        ck_assert_msg(t != NULL, "no row for %s", link_pair(*l, e));
        *l = t->to;
        return t->actions;
}

START_TEST(test_link_outage_story) {
        /* First session, two drops within a minute (one outage), a re-establishment, then a drop
         * within the note limit: the file hears of everything, the history of the first loss
         * and of the re-establishment only. */
        CaptureLink l = L(IDLE);
        ck_assert_uint_eq(step(&l, LE(OPEN_DUE)), LA(OPEN_SESSION));
        ck_assert_uint_eq(step(&l, LE(OPENED)), LA(ADOPT_SESSION));
        ck_assert_uint_eq(step(&l, LE(ESTABLISHED)), LA(RESET_BACKOFF));
        ck_assert_int_eq(l, L(STREAMING));
        ck_assert(step(&l, LE(LOST)) & LA(HISTORY_LOST));
        ck_assert(step(&l, LE(OPEN_DUE)) & LA(COUNT_RECONNECT));
        step(&l, LE(OPENED));
        ck_assert_uint_eq(step(&l, LE(LOST)) & (LA(HISTORY_LOST) | LA(NOTE_LOST)), LA(NOTE_LOST));
        step(&l, LE(OPEN_DUE));
        step(&l, LE(OPENED));
        ck_assert_uint_eq(step(&l, LE(ESTABLISHED)) & (LA(NOTE_REESTABLISHED) | LA(HISTORY_REESTABLISHED)),
                          LA(NOTE_REESTABLISHED) | LA(HISTORY_REESTABLISHED));
        ck_assert_uint_eq(step(&l, LE(LOST_QUIET)) & LA(HISTORY_LOST), 0);
        step(&l, LE(OPEN_DUE));
        step(&l, LE(OPENED));
        ck_assert_uint_eq(step(&l, LE(ESTABLISHED)) & (LA(NOTE_REESTABLISHED) | LA(HISTORY_REESTABLISHED)),
                          LA(NOTE_REESTABLISHED));
        /* Then the BMC says no: given up, until the next attempt's file. */
        ck_assert(step(&l, LE(REFUSED)) & LA(NOTE_NO_SOL));
        ck_assert_ptr_null(capture_machine_link(l, LE(OPEN_DUE)));
        step(&l, LE(FILE_SWITCHED));
        ck_assert_uint_eq(step(&l, LE(OPEN_DUE)), LA(OPEN_SESSION)); /* a fresh start, not a reconnect */
        ck_assert(step(&l, LE(STOP)) == 0 && l == L(CLOSED));
}
END_TEST

START_TEST(test_link_random_walks_pair_history_notes) {
        /* Whatever happens: the file hears of every loss, and of the re-establishment exactly
         * when a loss ended that way; the history hears of the first loss of an outage when the
         * note limit allows, never of a second one, and of the re-establishment exactly when it
         * heard of the loss; a session is held exactly in the states that say so, and one
         * opened after the capture stopped is closed. */
        unsigned seed = 12345;
        for (int walk = 0; walk < 5000; walk++) {
                CaptureLink l = L(IDLE);
                bool in_outage = false, outage_noted = false, opening = false;
                int sessions = 0;
                for (int i = 0; i < 80 && l != L(CLOSED); i++) {
                        seed = seed * 1103515245u + 12345u;
                        CaptureLinkEvent e = (CaptureLinkEvent) ((seed >> 16) % _CAPTURE_LINK_EV_MAX);
                        if (e == LE(OPENED) || e == LE(OPEN_FAILED)) {
                                if (!opening)
                                        continue; /* a result comes only for an open asked for */
                        } else if (opening && e != LE(FILE_SWITCHED) && e != LE(STOP))
                                continue; /* the thread is in sol_open(): only other threads act */
                        const CaptureLinkTransition *t = capture_machine_link(l, e);
                        if (!t)
                                continue;
                        const char *row = link_pair(l, e);
                        unsigned a = t->actions;
                        if (e == LE(OPENED) || e == LE(OPEN_FAILED))
                                opening = false;
                        if (a & LA(OPEN_SESSION))
                                opening = true;
                        sessions += (a & LA(ADOPT_SESSION)) ? 1 : 0;
                        sessions -= (a & LA(CLOSE_SESSION)) ? 1 : 0;
                        ck_assert_msg(sessions == (capture_machine_link_has_session(t->to) ? 1 : 0), "%s: %d sessions in %s",
                                      row, sessions, capture_machine_link_to_string(t->to));

                        if (e == LE(LOST) || e == LE(LOST_QUIET)) {
                                ck_assert_msg(a & LA(NOTE_LOST), "%s: a loss not in the file", row);
                                ck_assert_msg(((a & LA(HISTORY_LOST)) != 0) == (e == LE(LOST) && !in_outage),
                                              "%s: history note %s", row, (a & LA(HISTORY_LOST)) ? "too many" : "missing");
                                outage_noted = outage_noted || (a & LA(HISTORY_LOST));
                                in_outage = true;
                        } else
                                ck_assert_msg(!(a & (LA(NOTE_LOST) | LA(HISTORY_LOST))), "%s notes a loss", row);
                        if (t->to == L(STREAMING) && t->from != L(STREAMING)) {
                                ck_assert_msg(((a & LA(NOTE_REESTABLISHED)) != 0) == in_outage, "%s: file note", row);
                                ck_assert_msg(((a & LA(HISTORY_REESTABLISHED)) != 0) == outage_noted, "%s: history note", row);
                        } else
                                ck_assert_msg(!(a & (LA(NOTE_REESTABLISHED) | LA(HISTORY_REESTABLISHED))),
                                              "%s notes a re-establishment", row);
                        if (t->to == L(STREAMING) || t->to == L(GAVE_UP) || t->to == L(CLOSED))
                                in_outage = outage_noted = false;
                        l = t->to;
                }
                if (l == L(CLOSED) && opening) {
                        const CaptureLinkTransition *t = capture_machine_link(l, LE(OPENED));
                        ck_assert_msg(t && (t->actions & LA(CLOSE_SESSION)), "a session opened after the stop stays open");
                }
        }
}
END_TEST

static Suite *capture_machine_suite(void) {
        Suite *s = suite_create("capture-machine");
        TCase *tc = tcase_create("phase");
        tcase_add_test(tc, test_phase_prepare);
        tcase_add_test(tc, test_phase_opened);
        tcase_add_test(tc, test_phase_ended);
        tcase_add_test(tc, test_phase_live);
        tcase_add_test(tc, test_phase_timers);
        tcase_add_test(tc, test_phase_gone);
        tcase_add_test(tc, test_phase_file_failed);
        tcase_add_test(tc, test_phase_every_pair);
        suite_add_tcase(s, tc);

        tc = tcase_create("link");
        tcase_add_test(tc, test_link_open);
        tcase_add_test(tc, test_link_established);
        tcase_add_test(tc, test_link_lost);
        tcase_add_test(tc, test_link_refused);
        tcase_add_test(tc, test_link_file_switched);
        tcase_add_test(tc, test_link_stop);
        tcase_add_test(tc, test_link_every_pair);
        suite_add_tcase(s, tc);

        tc = tcase_create("invariants");
        tcase_add_test(tc, test_tables_well_formed);
        tcase_add_test(tc, test_phase_action_contracts);
        tcase_add_test(tc, test_link_action_contracts);
        tcase_add_test(tc, test_backoff_doubles_to_30s);
        tcase_add_test(tc, test_note_limit_one_a_minute);
        tcase_add_test(tc, test_loss_event);
        tcase_add_test(tc, test_link_outage_story);
        tcase_add_test(tc, test_link_random_walks_pair_history_notes);
        suite_add_tcase(s, tc);
        return s;
}

CHECK_MAIN(capture_machine_suite)
