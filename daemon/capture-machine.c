/* capture-machine.c — see capture-machine.h.  Edit the tables, not the code around them. */
#include "capture-machine.h"

#include <errno.h>
#include <stddef.h>

#include "util.h"

#define P(x) CAPTURE_PHASE_##x
#define PE(x) CAPTURE_PHASE_EV_##x
#define PA(x) CAPTURE_PHASE_DO_##x
#define L(x) CAPTURE_LINK_##x
#define LE(x) CAPTURE_LINK_EV_##x
#define LA(x) CAPTURE_LINK_DO_##x

static const CapturePhaseTransition phase_table[] = {
        /* A reinstall, before its power step: the next attempt's file, so the firmware and PXE
         * output are caught.  A capture already on that file goes on as it is. */
        { P(NEW), PE(PREPARE_NEXT), P(PREPARED), PA(SWITCH_FILE) },
        { P(PREPARED), PE(PREPARE), P(PREPARED), 0 },
        { P(PREPARED), PE(PREPARE_NEXT), P(PREPARED), PA(SWITCH_FILE) },
        { P(ATTEMPT), PE(PREPARE), P(ATTEMPT), 0 },
        { P(ATTEMPT), PE(PREPARE_NEXT), P(PREPARED), PA(SWITCH_FILE) },
        { P(LINGERING), PE(PREPARE), P(LINGERING), 0 },
        /* The lingering file ends now: its tail goes into the history now. */
        { P(LINGERING), PE(PREPARE_NEXT), P(PREPARED), PA(SWITCH_FILE) },
        { P(LIVE), PE(PREPARE_NEXT), P(PREPARED), PA(SWITCH_FILE) },
        /* The thread is ending a closed capture: a new one starts next to it. */
        { P(CLOSED), PE(PREPARE), P(CLOSED), PA(NEW_CAPTURE) },
        { P(CLOSED), PE(PREPARE_NEXT), P(CLOSED), PA(NEW_CAPTURE) },

        /* A netboot opened an attempt: capture until it ends. */
        { P(NEW), PE(NEXT_ATTEMPT_OPENED), P(ATTEMPT), PA(SWITCH_FILE) },
        { P(PREPARED), PE(ATTEMPT_OPENED), P(ATTEMPT), PA(CLEAR_DEADLINE) },
        { P(PREPARED), PE(NEXT_ATTEMPT_OPENED), P(ATTEMPT), PA(SWITCH_FILE) },
        { P(ATTEMPT), PE(ATTEMPT_OPENED), P(ATTEMPT), PA(CLEAR_DEADLINE) },
        { P(ATTEMPT), PE(NEXT_ATTEMPT_OPENED), P(ATTEMPT), PA(SWITCH_FILE) },
        { P(LINGERING), PE(ATTEMPT_OPENED), P(ATTEMPT), PA(CLEAR_DEADLINE) },
        { P(LINGERING), PE(NEXT_ATTEMPT_OPENED), P(ATTEMPT), PA(SWITCH_FILE) },
        { P(LIVE), PE(NEXT_ATTEMPT_OPENED), P(ATTEMPT), PA(SWITCH_FILE) },
        { P(CLOSED), PE(ATTEMPT_OPENED), P(CLOSED), PA(NEW_CAPTURE) },
        { P(CLOSED), PE(NEXT_ATTEMPT_OPENED), P(CLOSED), PA(NEW_CAPTURE) },

        /* The attempt ended: the reboot or failure output comes after, so capture a while
         * longer (again when it is reported ended twice). */
        { P(PREPARED), PE(ATTEMPT_ENDED), P(LINGERING), PA(LINGER) },
        { P(ATTEMPT), PE(ATTEMPT_ENDED), P(LINGERING), PA(LINGER) },
        { P(LINGERING), PE(ATTEMPT_ENDED), P(LINGERING), PA(LINGER) },

        /* On demand: not while an attempt is captured (its file would end); a running
         * on-demand capture is extended. */
        { P(NEW), PE(LIVE_START), P(LIVE), PA(SWITCH_FILE) | PA(LIVE_DEADLINE) },
        { P(PREPARED), PE(LIVE_START), P(PREPARED), PA(REFUSE) },
        { P(ATTEMPT), PE(LIVE_START), P(ATTEMPT), PA(REFUSE) },
        { P(LINGERING), PE(LIVE_START), P(LIVE), PA(SWITCH_FILE) | PA(LIVE_DEADLINE) },
        { P(LIVE), PE(LIVE_START), P(LIVE), PA(LIVE_DEADLINE) },
        { P(CLOSED), PE(LIVE_START), P(CLOSED), PA(NEW_CAPTURE) },
        { P(LIVE), PE(LIVE_STOP), P(CLOSED), PA(END) },

        /* Deadlines. */
        { P(LINGERING), PE(DEADLINE), P(CLOSED), PA(END) },
        { P(LIVE), PE(DEADLINE), P(CLOSED), PA(END) },
        { P(PREPARED), PE(PREPARED_EXPIRED), P(CLOSED), PA(END) },

        /* Nothing to capture any more. */
        { P(PREPARED), PE(NODE_GONE), P(CLOSED), PA(END) },
        { P(ATTEMPT), PE(NODE_GONE), P(CLOSED), PA(END) },
        { P(LINGERING), PE(NODE_GONE), P(CLOSED), PA(END) },
        { P(LIVE), PE(NODE_GONE), P(CLOSED), PA(END) },
        { P(PREPARED), PE(SHUTDOWN), P(CLOSED), PA(END) },
        { P(ATTEMPT), PE(SHUTDOWN), P(CLOSED), PA(END) },
        { P(LINGERING), PE(SHUTDOWN), P(CLOSED), PA(END) },
        { P(LIVE), PE(SHUTDOWN), P(CLOSED), PA(END) },

        /* An attempt's file that cannot be created: capture on without it (the session and
         * the tail for the history still matter); live.log: the request fails. */
        { P(PREPARED), PE(FILE_FAILED), P(PREPARED), 0 },
        { P(ATTEMPT), PE(FILE_FAILED), P(ATTEMPT), 0 },
        { P(LIVE), PE(FILE_FAILED), P(CLOSED), PA(END) },
};

static const CaptureLinkTransition link_table[] = {
        /* Opening: at once for a new capture, after the backoff for a lost session. */
        { L(IDLE), LE(OPEN_DUE), L(IDLE), LA(OPEN_SESSION) },
        { L(BACKOFF), LE(OPEN_DUE), L(BACKOFF), LA(OPEN_SESSION) | LA(COUNT_RECONNECT) },
        { L(BACKOFF_NOTED), LE(OPEN_DUE), L(BACKOFF_NOTED), LA(OPEN_SESSION) | LA(COUNT_RECONNECT) },
        { L(IDLE), LE(OPENED), L(CONNECTING), LA(ADOPT_SESSION) },
        { L(BACKOFF), LE(OPENED), L(RECONNECTING), LA(ADOPT_SESSION) },
        { L(BACKOFF_NOTED), LE(OPENED), L(RECONNECTING_NOTED), LA(ADOPT_SESSION) },
        /* Stopped while the thread was opening: the session is not wanted. */
        { L(CLOSED), LE(OPENED), L(CLOSED), LA(CLOSE_SESSION) },
        /* Errors opening a session do not go away by themselves: noted once, no retry. */
        { L(IDLE), LE(OPEN_FAILED), L(GAVE_UP), LA(NOTE_NO_SOL) },
        { L(BACKOFF), LE(OPEN_FAILED), L(GAVE_UP), LA(NOTE_NO_SOL) },
        { L(BACKOFF_NOTED), LE(OPEN_FAILED), L(GAVE_UP), LA(NOTE_NO_SOL) },

        /* The payload is active: the backoff starts over; a re-establishment is noted where
         * the loss was. */
        { L(CONNECTING), LE(ESTABLISHED), L(STREAMING), LA(RESET_BACKOFF) },
        { L(RECONNECTING), LE(ESTABLISHED), L(STREAMING), LA(RESET_BACKOFF) | LA(NOTE_REESTABLISHED) },
        { L(RECONNECTING_NOTED), LE(ESTABLISHED), L(STREAMING),
          LA(RESET_BACKOFF) | LA(NOTE_REESTABLISHED) | LA(HISTORY_REESTABLISHED) },

        /* A session that drops is re-opened with backoff.  The history gets the first loss of
         * a series, at most one a minute per node. */
        { L(CONNECTING), LE(LOST), L(BACKOFF_NOTED),
          LA(CLOSE_SESSION) | LA(NOTE_LOST) | LA(HISTORY_LOST) | LA(SCHEDULE_RETRY) },
        { L(CONNECTING), LE(LOST_QUIET), L(BACKOFF), LA(CLOSE_SESSION) | LA(NOTE_LOST) | LA(SCHEDULE_RETRY) },
        { L(STREAMING), LE(LOST), L(BACKOFF_NOTED),
          LA(CLOSE_SESSION) | LA(NOTE_LOST) | LA(HISTORY_LOST) | LA(SCHEDULE_RETRY) },
        { L(STREAMING), LE(LOST_QUIET), L(BACKOFF), LA(CLOSE_SESSION) | LA(NOTE_LOST) | LA(SCHEDULE_RETRY) },
        { L(RECONNECTING), LE(LOST), L(BACKOFF), LA(CLOSE_SESSION) | LA(NOTE_LOST) | LA(SCHEDULE_RETRY) },
        { L(RECONNECTING), LE(LOST_QUIET), L(BACKOFF), LA(CLOSE_SESSION) | LA(NOTE_LOST) | LA(SCHEDULE_RETRY) },
        { L(RECONNECTING_NOTED), LE(LOST), L(BACKOFF_NOTED), LA(CLOSE_SESSION) | LA(NOTE_LOST) | LA(SCHEDULE_RETRY) },
        { L(RECONNECTING_NOTED), LE(LOST_QUIET), L(BACKOFF_NOTED),
          LA(CLOSE_SESSION) | LA(NOTE_LOST) | LA(SCHEDULE_RETRY) },
        { L(CLOSED), LE(LOST), L(CLOSED), LA(CLOSE_SESSION) },
        { L(CLOSED), LE(LOST_QUIET), L(CLOSED), LA(CLOSE_SESSION) },

        /* No SOL, or the user refused: noted once, no retry (BMCs lock accounts). */
        { L(CONNECTING), LE(REFUSED), L(GAVE_UP), LA(CLOSE_SESSION) | LA(NOTE_NO_SOL) },
        { L(STREAMING), LE(REFUSED), L(GAVE_UP), LA(CLOSE_SESSION) | LA(NOTE_NO_SOL) },
        { L(RECONNECTING), LE(REFUSED), L(GAVE_UP), LA(CLOSE_SESSION) | LA(NOTE_NO_SOL) },
        { L(RECONNECTING_NOTED), LE(REFUSED), L(GAVE_UP), LA(CLOSE_SESSION) | LA(NOTE_NO_SOL) },
        { L(CLOSED), LE(REFUSED), L(CLOSED), LA(CLOSE_SESSION) },

        /* Another file: the session stays, the backoff starts over, and a capture that gave
         * up tries again. */
        { L(IDLE), LE(FILE_SWITCHED), L(IDLE), LA(RESET_BACKOFF) },
        { L(CONNECTING), LE(FILE_SWITCHED), L(CONNECTING), LA(RESET_BACKOFF) },
        { L(STREAMING), LE(FILE_SWITCHED), L(STREAMING), LA(RESET_BACKOFF) },
        { L(BACKOFF), LE(FILE_SWITCHED), L(BACKOFF), LA(RESET_BACKOFF) },
        { L(BACKOFF_NOTED), LE(FILE_SWITCHED), L(BACKOFF_NOTED), LA(RESET_BACKOFF) },
        { L(RECONNECTING), LE(FILE_SWITCHED), L(RECONNECTING), LA(RESET_BACKOFF) },
        { L(RECONNECTING_NOTED), LE(FILE_SWITCHED), L(RECONNECTING_NOTED), LA(RESET_BACKOFF) },
        { L(GAVE_UP), LE(FILE_SWITCHED), L(IDLE), LA(RESET_BACKOFF) },

        /* The capture is over. */
        { L(IDLE), LE(STOP), L(CLOSED), 0 },
        { L(CONNECTING), LE(STOP), L(CLOSED), LA(CLOSE_SESSION) },
        { L(STREAMING), LE(STOP), L(CLOSED), LA(CLOSE_SESSION) },
        { L(BACKOFF), LE(STOP), L(CLOSED), 0 },
        { L(BACKOFF_NOTED), LE(STOP), L(CLOSED), 0 },
        { L(RECONNECTING), LE(STOP), L(CLOSED), LA(CLOSE_SESSION) },
        { L(RECONNECTING_NOTED), LE(STOP), L(CLOSED), LA(CLOSE_SESSION) },
        { L(GAVE_UP), LE(STOP), L(CLOSED), 0 },
};

const CapturePhaseTransition *capture_machine_phase(CapturePhase s, CapturePhaseEvent e) {
        for (size_t i = 0; i < ELEMENTSOF(phase_table); i++)
                if (phase_table[i].from == s && phase_table[i].event == e)
                        return &phase_table[i];
        return NULL;
}

const CaptureLinkTransition *capture_machine_link(CaptureLink s, CaptureLinkEvent e) {
        for (size_t i = 0; i < ELEMENTSOF(link_table); i++)
                if (link_table[i].from == s && link_table[i].event == e)
                        return &link_table[i];
        return NULL;
}

const CapturePhaseTransition *capture_machine_phase_table(size_t *ret_n) {
        *ret_n = ELEMENTSOF(phase_table);
        return phase_table;
}

const CaptureLinkTransition *capture_machine_link_table(size_t *ret_n) {
        *ret_n = ELEMENTSOF(link_table);
        return link_table;
}

unsigned capture_machine_backoff_next(unsigned backoff_ms) {
        return backoff_ms >= CAPTURE_BACKOFF_MAX_MS / 2 ? CAPTURE_BACKOFF_MAX_MS : backoff_ms * 2;
}

bool capture_machine_may_note(int64_t last_note_ms, int64_t now_ms) {
        return last_note_ms == 0 || now_ms - last_note_ms >= CAPTURE_NOTE_INTERVAL_MS;
}

CaptureLinkEvent capture_machine_loss_event(int r, bool may_note) {
        if (r == -EOPNOTSUPP || r == -EACCES)
                return CAPTURE_LINK_EV_REFUSED;
        return may_note ? CAPTURE_LINK_EV_LOST : CAPTURE_LINK_EV_LOST_QUIET;
}

bool capture_machine_link_has_session(CaptureLink s) {
        return s == L(CONNECTING) || s == L(STREAMING) || s == L(RECONNECTING) || s == L(RECONNECTING_NOTED);
}

bool capture_machine_link_establishing(CaptureLink s) {
        return s == L(CONNECTING) || s == L(RECONNECTING) || s == L(RECONNECTING_NOTED);
}

static const char *const phase_names[_CAPTURE_PHASE_MAX] = {
        [P(NEW)] = "new",
        [P(PREPARED)] = "prepared",
        [P(ATTEMPT)] = "attempt",
        [P(LINGERING)] = "lingering",
        [P(LIVE)] = "live",
        [P(CLOSED)] = "closed",
};

static const char *const phase_event_names[_CAPTURE_PHASE_EV_MAX] = {
        [PE(PREPARE)] = "prepare",
        [PE(PREPARE_NEXT)] = "prepare-next",
        [PE(ATTEMPT_OPENED)] = "attempt-opened",
        [PE(NEXT_ATTEMPT_OPENED)] = "next-attempt-opened",
        [PE(ATTEMPT_ENDED)] = "attempt-ended",
        [PE(LIVE_START)] = "live-start",
        [PE(LIVE_STOP)] = "live-stop",
        [PE(DEADLINE)] = "deadline",
        [PE(PREPARED_EXPIRED)] = "prepared-expired",
        [PE(NODE_GONE)] = "node-gone",
        [PE(SHUTDOWN)] = "shutdown",
        [PE(FILE_FAILED)] = "file-failed",
};

static const char *const link_names[_CAPTURE_LINK_MAX] = {
        [L(IDLE)] = "idle",
        [L(CONNECTING)] = "connecting",
        [L(STREAMING)] = "streaming",
        [L(BACKOFF)] = "backoff",
        [L(BACKOFF_NOTED)] = "backoff-noted",
        [L(RECONNECTING)] = "reconnecting",
        [L(RECONNECTING_NOTED)] = "reconnecting-noted",
        [L(GAVE_UP)] = "gave-up",
        [L(CLOSED)] = "closed",
};

static const char *const link_event_names[_CAPTURE_LINK_EV_MAX] = {
        [LE(OPEN_DUE)] = "open-due",
        [LE(OPENED)] = "opened",
        [LE(OPEN_FAILED)] = "open-failed",
        [LE(ESTABLISHED)] = "established",
        [LE(LOST)] = "lost",
        [LE(LOST_QUIET)] = "lost-quiet",
        [LE(REFUSED)] = "refused",
        [LE(FILE_SWITCHED)] = "file-switched",
        [LE(STOP)] = "stop",
};

const char *capture_machine_phase_to_string(CapturePhase s) {
        return (int) s >= 0 && s < _CAPTURE_PHASE_MAX ? phase_names[s] : NULL;
}

const char *capture_machine_phase_event_to_string(CapturePhaseEvent e) {
        return (int) e >= 0 && e < _CAPTURE_PHASE_EV_MAX ? phase_event_names[e] : NULL;
}

const char *capture_machine_link_to_string(CaptureLink s) {
        return (int) s >= 0 && s < _CAPTURE_LINK_MAX ? link_names[s] : NULL;
}

const char *capture_machine_link_event_to_string(CaptureLinkEvent e) {
        return (int) e >= 0 && e < _CAPTURE_LINK_EV_MAX ? link_event_names[e] : NULL;
}
