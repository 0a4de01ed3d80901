/* capture-machine.h — a console capture's lifecycle (console.c), as two tables: (state,
 * event) -> next state + actions.  Pure: no I/O, no clock; console.c feeds the events (under
 * its lock) and carries out the actions.
 *
 * A capture has two independent parts, each with its own state:
 *
 * The phase — which file is written, and until when:
 *   new        just created, no file yet (lives only inside one call under the console lock)
 *   prepared   a reinstall is about to power-cycle the node: the NEXT attempt's file, waiting
 *              for that attempt to open (given up after an hour)
 *   attempt    the attempt is open: capture until it ends
 *   lingering  the attempt ended: capture until the linger deadline (the reboot or failure
 *              output), then the failed attempt's tail goes into its history row
 *   live       on-demand capture to live.log until its deadline or a stop request
 *   closed     over: the capture thread ends the file, closes the session, frees the capture
 *
 * The link — the SOL session behind it:
 *   idle            no session: open one at once
 *   connecting      a session is open, the BMC has not activated the payload yet
 *   streaming       the payload is active: console bytes flow
 *   backoff         the session was lost: re-open when the backoff (1 s doubling to 30 s)
 *                   elapses
 *   reconnecting    re-opened after a loss, not active yet
 *   backoff-noted, reconnecting-noted
 *                   the same, and the loss went into the node's history (so the
 *                   re-establishment does too)
 *   gave-up         no SOL, access refused, or the session could not be opened: no retry until
 *                   the capture switches to another file
 *   closed          the capture is over
 *
 * The phase's file switch is the link's event FILE_SWITCHED; the phase's end is the link's
 * STOP.  What is about the file and not the lifecycle stays data in console.c: its size, the
 * size cap having been reached, a write error having been logged, the tail ring, and the
 * timers (deadline, backoff, next open, last history note). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CAPTURE_BACKOFF_MIN_MS 1000     /* the first re-open after a loss */
#define CAPTURE_BACKOFF_MAX_MS 30000    /* doubling up to this */
#define CAPTURE_NOTE_INTERVAL_MS 60000  /* losses noted in the history: at most one a minute */

typedef enum CapturePhase {
        CAPTURE_PHASE_NEW,
        CAPTURE_PHASE_PREPARED,
        CAPTURE_PHASE_ATTEMPT,
        CAPTURE_PHASE_LINGERING,
        CAPTURE_PHASE_LIVE,
        CAPTURE_PHASE_CLOSED,
        _CAPTURE_PHASE_MAX,
} CapturePhase;

typedef enum CapturePhaseEvent {
        /* A reinstall prepares the attempt this capture's file is for (again). */
        CAPTURE_PHASE_EV_PREPARE,
        /* A reinstall prepares another attempt than the file's. */
        CAPTURE_PHASE_EV_PREPARE_NEXT,
        /* The attempt this capture's file is for opened (a netboot). */
        CAPTURE_PHASE_EV_ATTEMPT_OPENED,
        /* Another attempt than the file's opened. */
        CAPTURE_PHASE_EV_NEXT_ATTEMPT_OPENED,
        /* The attempt this capture's file is for ended (succeeded, failed, timeout, abandoned). */
        CAPTURE_PHASE_EV_ATTEMPT_ENDED,
        /* POST /v1/nodes/<node>/console. */
        CAPTURE_PHASE_EV_LIVE_START,
        /* DELETE /v1/nodes/<node>/console. */
        CAPTURE_PHASE_EV_LIVE_STOP,
        /* The deadline passed (the linger, or the on-demand capture's length). */
        CAPTURE_PHASE_EV_DEADLINE,
        /* Prepared an hour ago and the attempt never opened. */
        CAPTURE_PHASE_EV_PREPARED_EXPIRED,
        /* The node left the inventory, or has no BMC or console "none" any more. */
        CAPTURE_PHASE_EV_NODE_GONE,
        /* provd is stopping. */
        CAPTURE_PHASE_EV_SHUTDOWN,
        /* The file a switch pointed at could not be created. */
        CAPTURE_PHASE_EV_FILE_FAILED,
        _CAPTURE_PHASE_EV_MAX,
} CapturePhaseEvent;

/* Phase actions, a row may have several; console.c carries them out in this order. */
enum {
        /* This capture is over (closed): a new capture for the node takes the event. */
        CAPTURE_PHASE_DO_NEW_CAPTURE = 1u << 0,
        /* Refuse the request: the node's console is captured for an install attempt. */
        CAPTURE_PHASE_DO_REFUSE = 1u << 1,
        /* End the current file (its tail into the history row, if one is wanted) and open the
         * event's file; then the link gets FILE_SWITCHED.  Clears the deadline. */
        CAPTURE_PHASE_DO_SWITCH_FILE = 1u << 2,
        /* No deadline (the attempt is open). */
        CAPTURE_PHASE_DO_CLEAR_DEADLINE = 1u << 3,
        /* Note the attempt's end in the file, keep its history row for the tail if it failed,
         * deadline = now + linger. */
        CAPTURE_PHASE_DO_LINGER = 1u << 4,
        /* Deadline = now + the on-demand capture's length. */
        CAPTURE_PHASE_DO_LIVE_DEADLINE = 1u << 5,
        /* The capture ends: the link gets STOP; the capture thread ends the file (tail into
         * the history), closes the session and frees the capture. */
        CAPTURE_PHASE_DO_END = 1u << 6,
};

typedef struct CapturePhaseTransition {
        CapturePhase from;
        CapturePhaseEvent event;
        CapturePhase to;
        unsigned actions; /* CAPTURE_PHASE_DO_* */
} CapturePhaseTransition;

typedef enum CaptureLink {
        CAPTURE_LINK_IDLE,
        CAPTURE_LINK_CONNECTING,
        CAPTURE_LINK_STREAMING,
        CAPTURE_LINK_BACKOFF,
        CAPTURE_LINK_BACKOFF_NOTED,
        CAPTURE_LINK_RECONNECTING,
        CAPTURE_LINK_RECONNECTING_NOTED,
        CAPTURE_LINK_GAVE_UP,
        CAPTURE_LINK_CLOSED,
        _CAPTURE_LINK_MAX,
} CaptureLink;

typedef enum CaptureLinkEvent {
        /* Time to open a session (idle: at once; backoff: the backoff elapsed). */
        CAPTURE_LINK_EV_OPEN_DUE,
        /* The session asked for by OPEN_SESSION is open (sol_open() succeeded). */
        CAPTURE_LINK_EV_OPENED,
        /* It could not be opened (password file, sol_open()). */
        CAPTURE_LINK_EV_OPEN_FAILED,
        /* The BMC activated the payload (sol_established()). */
        CAPTURE_LINK_EV_ESTABLISHED,
        /* The session ended with a retryable error, and no loss went into the node's history
         * in the last minute. */
        CAPTURE_LINK_EV_LOST,
        /* The same, but a loss was noted in the history less than a minute ago. */
        CAPTURE_LINK_EV_LOST_QUIET,
        /* The session ended with -EOPNOTSUPP (no SOL) or -EACCES (refused). */
        CAPTURE_LINK_EV_REFUSED,
        /* The phase switched the capture to another file. */
        CAPTURE_LINK_EV_FILE_SWITCHED,
        /* The phase ended. */
        CAPTURE_LINK_EV_STOP,
        _CAPTURE_LINK_EV_MAX,
} CaptureLinkEvent;

/* Link actions, a row may have several; console.c carries them out in this order. */
enum {
        /* Close the session.  Only the capture thread does: on STOP from another thread it
         * closes the session when it frees the capture. */
        CAPTURE_LINK_DO_CLOSE_SESSION = 1u << 0,
        /* Open a session (the capture thread, without the console lock; OPENED or OPEN_FAILED
         * follows). */
        CAPTURE_LINK_DO_OPEN_SESSION = 1u << 1,
        /* Count the open in provd_console_reconnects_total. */
        CAPTURE_LINK_DO_COUNT_RECONNECT = 1u << 2,
        /* The opened session is the capture's: polled, counted in provd_console_sessions. */
        CAPTURE_LINK_DO_ADOPT_SESSION = 1u << 3,
        /* Backoff back to 1 s. */
        CAPTURE_LINK_DO_RESET_BACKOFF = 1u << 4,
        /* "[provd: SOL session lost: ...; reconnecting]" in the file, a warning in the log. */
        CAPTURE_LINK_DO_NOTE_LOST = 1u << 5,
        /* "console: SOL session lost: ...; reconnecting" in the node's history. */
        CAPTURE_LINK_DO_HISTORY_LOST = 1u << 6,
        /* Re-open after the backoff, which then doubles (up to 30 s). */
        CAPTURE_LINK_DO_SCHEDULE_RETRY = 1u << 7,
        /* "[provd: SOL session re-established]" in the file, a line in the log. */
        CAPTURE_LINK_DO_NOTE_REESTABLISHED = 1u << 8,
        /* "console: SOL session re-established" in the node's history. */
        CAPTURE_LINK_DO_HISTORY_REESTABLISHED = 1u << 9,
        /* "[provd: no SOL console: ...; not retrying ...]" in the file, "console: ..." in the
         * history, a warning in the log. */
        CAPTURE_LINK_DO_NOTE_NO_SOL = 1u << 10,
};

typedef struct CaptureLinkTransition {
        CaptureLink from;
        CaptureLinkEvent event;
        CaptureLink to;
        unsigned actions; /* CAPTURE_LINK_DO_* */
} CaptureLinkTransition;

/* Looks up (phase, event).  Returns the table row (static storage), or NULL when the event
 * does not concern a capture in that phase (nothing happens). */
const CapturePhaseTransition *capture_machine_phase(CapturePhase s, CapturePhaseEvent e);

/* Looks up (link, event).  Returns the table row (static storage), or NULL when the event
 * does not concern a link in that state (nothing happens). */
const CaptureLinkTransition *capture_machine_link(CaptureLink s, CaptureLinkEvent e);

/* The whole phase table, for documentation and tests: *ret_n rows. */
const CapturePhaseTransition *capture_machine_phase_table(size_t *ret_n);

/* The whole link table, for documentation and tests: *ret_n rows. */
const CaptureLinkTransition *capture_machine_link_table(size_t *ret_n);

/* The backoff after backoff_ms: doubled, at most CAPTURE_BACKOFF_MAX_MS. */
unsigned capture_machine_backoff_next(unsigned backoff_ms);

/* True when a loss may go into the node's history at now_ms (monotonic): none did since
 * last_note_ms (0 = never) for CAPTURE_NOTE_INTERVAL_MS. */
bool capture_machine_may_note(int64_t last_note_ms, int64_t now_ms);

/* The event for a session that ended with r (negative errno from sol_read()/sol_status()):
 * REFUSED for -EOPNOTSUPP and -EACCES (retrying does not help, and BMCs lock accounts), else
 * LOST when a history note is allowed (none in the last minute), else LOST_QUIET. */
CaptureLinkEvent capture_machine_loss_event(int r, bool may_note);

/* True in link states that hold a session (it is polled; it may be lost). */
bool capture_machine_link_has_session(CaptureLink s);

/* True in link states whose session waits for the BMC to activate the payload. */
bool capture_machine_link_establishing(CaptureLink s);

/* "prepared", "lingering", ...; NULL for out-of-range values. */
const char *capture_machine_phase_to_string(CapturePhase s);
/* "attempt-opened", "deadline", ...; NULL for out-of-range values. */
const char *capture_machine_phase_event_to_string(CapturePhaseEvent e);
/* "streaming", "backoff-noted", ...; NULL for out-of-range values. */
const char *capture_machine_link_to_string(CaptureLink s);
/* "opened", "lost", ...; NULL for out-of-range values. */
const char *capture_machine_link_event_to_string(CaptureLinkEvent e);
