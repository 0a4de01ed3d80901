/* cli-roll.h — the scheduler of `provd reinstall --wait [--parallel N]`, the rolling reinstall:
 * which node to start next, where each started node is, and when it is finished.
 *
 * A node is "in flight" from the moment it is started (its --before begins, or, without one,
 * its reinstall is about to be requested) until it is finished; at most `parallel` nodes are
 * in flight at once, so a 500-node reinstall does not become a boot storm, and with --before
 * and --after (a site's drain and resume) at most `parallel` nodes are out of service at once.
 * An in-flight node goes through these steps (CliRollStep):
 *
 *   BEFORE   --before runs (only with `before`).  It failing finishes the node as SKIPPED:
 *            not reinstalled; the roll goes on.
 *   INSTALL  the reinstall is requested (POST /v1/nodes/{name}/reinstall -> 202).  Once the
 *            operation's `mark` step is done the node is "armed" (pending from then on), and
 *            a provision state `installed` or `failed` seen after arming ends this step: failed
 *            finishes the node as FAILED; installed moves it on.  A state is "seen after
 *            arming" when it comes from a read made after arming (event_id 0) or from a stream
 *            event whose id is greater than the newest event id known at arming (older events
 *            describe the node before the reinstall).
 *   GATE     (only with `gate`) installed; waiting for the node to report, after it became
 *            installed, that it runs the inventory's system: drift `in_sync` and a report time
 *            not before the time it became installed (a report from before describes the old
 *            installation).  `reboot_pending` does not pass: the node runs the expected system
 *            but booted another one, so the freshly installed system has not been seen to boot.
 *   AFTER    --after runs (only with `after`).  Its failure is recorded with the node, which
 *            still counts as through its gate; the roll goes on.
 *
 * With `gate`, a node still in INSTALL or GATE `gate_timeout_ms` after its reinstall was
 * requested finishes as TIMEOUT and STOPS the roll: no node is started any more; the nodes in
 * flight go on to the end (each up to its own gate timeout).  Without `gate` there is no
 * per-node deadline and installed is the end of INSTALL.
 *
 * Pure: no I/O, no clock (times are passed in); cli-ops.c does the HTTP and the processes
 * around it.  Not thread-safe (single-threaded CLI). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef enum CliRollState {
        CLI_ROLL_WAITING,   /* not started */
        CLI_ROLL_IN_FLIGHT, /* started, not finished: its slot is taken (step says where it is) */
        CLI_ROLL_INSTALLED, /* finished and passed: installed (with the gate: reporting its system) */
        CLI_ROLL_FAILED,    /* finished: failed (why says why) */
        CLI_ROLL_SKIPPED,   /* finished: --before failed, not reinstalled (why says how) */
        CLI_ROLL_TIMEOUT,   /* finished: not through its gate in time (why says where it was) */
} CliRollState;

typedef enum CliRollStep {
        CLI_ROLL_STEP_BEFORE,  /* --before runs; the reinstall is not requested */
        CLI_ROLL_STEP_INSTALL, /* the reinstall is (being) requested; until installed or failed */
        CLI_ROLL_STEP_GATE,    /* installed; until a fresh report of the expected system */
        CLI_ROLL_STEP_AFTER,   /* through (installed, or its gate); --after runs */
} CliRollStep;

typedef struct CliRollNode {
        char *name;           /* owned */
        CliRollState state;
        CliRollStep step;     /* CLI_ROLL_IN_FLIGHT: where it is */
        int64_t requested_ms; /* when its reinstall was requested (the caller's clock), 0 before */
        int64_t op_id;        /* the reinstall operation's id, 0 before it was accepted */
        bool op_finished;     /* the operation is succeeded or failed (no need to poll it) */
        bool armed;           /* the operation's mark step is done */
        int64_t armed_event;  /* the newest event id known when it was armed */
        char node_state[16];  /* the last provision state seen after arming, "" before */
        char drift[16];       /* CLI_ROLL_STEP_GATE and after: the last drift read, "" before */
        bool stale;           /* ... it was in_sync, but from a report older than the install */
        char *why;            /* FAILED, SKIPPED, TIMEOUT: the reason (owned), else NULL */
        char *after_why;      /* INSTALLED: why its --after failed (owned), NULL if it did not */
} CliRollNode;

typedef struct CliRoll {
        CliRollNode *nodes; /* owned, n of them, in start order */
        size_t n;
        size_t parallel;    /* at most this many in flight; 0 = no limit */

        /* Settings: cli_roll_init() clears them; set them before the first cli_roll_next(). */
        bool before;             /* started nodes begin in CLI_ROLL_STEP_BEFORE */
        bool after;              /* nodes through INSTALL (and the gate) go to CLI_ROLL_STEP_AFTER */
        bool gate;               /* installed nodes go to CLI_ROLL_STEP_GATE */
        int64_t gate_timeout_ms; /* with gate: > 0 */

        size_t next;        /* index of the next node to start */
        bool stopped;       /* a gate timed out: nothing is started any more */
        ssize_t stopped_by; /* ... the index of that node, else -1 */
        size_t in_flight, installed, failed, skipped, timed_out;
        size_t after_failed;  /* installed nodes whose --after failed */
        size_t max_in_flight; /* the most ever in flight at once (for tests and the summary) */
} CliRoll;

/* What cli_roll_observe() made of a state. */
typedef enum CliRollSeen {
        CLI_ROLL_SEEN_IGNORED,   /* not in CLI_ROLL_STEP_INSTALL, not armed yet, or an event from before arming */
        CLI_ROLL_SEEN_SAME,      /* the state it already had */
        CLI_ROLL_SEEN_CHANGED,   /* a new in-between state (pending, netbooting, installing, ...) */
        CLI_ROLL_SEEN_INSTALLED, /* installed: the node is finished (CLI_ROLL_INSTALLED) or moved on to
                                    CLI_ROLL_STEP_GATE / CLI_ROLL_STEP_AFTER */
        CLI_ROLL_SEEN_FAILED,    /* failed: the node is now finished (CLI_ROLL_FAILED, why "install failed") */
} CliRollSeen;

/* What cli_roll_gate() made of a read. */
typedef enum CliRollGate {
        CLI_ROLL_GATE_IGNORED, /* the node is not in CLI_ROLL_STEP_GATE */
        CLI_ROLL_GATE_WAITING, /* not through yet (drift and stale updated) */
        CLI_ROLL_GATE_PASSED,  /* through: finished (CLI_ROLL_INSTALLED) or moved on to CLI_ROLL_STEP_AFTER */
} CliRollGate;

/* Sets up r for the n names (copied), all waiting, in this order; parallel 0 = no limit; no
 * gate, no --before or --after.  Returns 0 or -ENOMEM (r untouched then). */
int cli_roll_init(CliRoll *r, const char *const *names, size_t n, size_t parallel);

/* Frees what r owns. */
void cli_roll_free(CliRoll *r);

/* The next node to start: moves it to CLI_ROLL_IN_FLIGHT (step BEFORE with r->before, else
 * INSTALL) and returns its index, or -1 when none may be started now (parallel nodes in flight,
 * none left waiting, or the roll stopped). */
ssize_t cli_roll_next(CliRoll *r);

/* Node i's --before ended: ok moves it to CLI_ROLL_STEP_INSTALL; otherwise it is finished as
 * CLI_ROLL_SKIPPED with why (copied; NULL = "--before failed").  Returns 0, -EINVAL when node i
 * is not in CLI_ROLL_STEP_BEFORE (nothing changes), -ENOMEM. */
int cli_roll_before_done(CliRoll *r, size_t i, bool ok, const char *why);

/* Node i's reinstall was requested at now_ms (its gate timeout counts from then).  Returns 0,
 * or -EINVAL when node i is not in CLI_ROLL_STEP_INSTALL or was requested before. */
int cli_roll_requested(CliRoll *r, size_t i, int64_t now_ms);

/* Node i is finished, whatever its step: installed (ok) or failed with why (copied; NULL =
 * "failed").  Frees its slot.  Returns 0, or -EINVAL when node i is not in flight (nothing
 * changes), -ENOMEM. */
int cli_roll_finish(CliRoll *r, size_t i, bool ok, const char *why);

/* Replaces the reason of a failed node i (copied).  Returns 0, -EINVAL (not failed), -ENOMEM. */
int cli_roll_set_why(CliRoll *r, size_t i, const char *why);

/* Node i's operation has its mark step done; newest_event is the newest event id known at
 * that moment (0 if none).  No effect unless node i is in CLI_ROLL_STEP_INSTALL and not armed. */
void cli_roll_arm(CliRoll *r, size_t i, int64_t newest_event);

/* A provision state of node i was seen: from a read made after arming (event_id 0), or from
 * the event stream (event_id > 0).  Ends CLI_ROLL_STEP_INSTALL on installed / failed.  Returns
 * what it made of it (see CliRollSeen). */
CliRollSeen cli_roll_observe(CliRoll *r, size_t i, const char *state, int64_t event_id);

/* A read of node i at its gate: its provision state, drift, state_since and report.reported_at
 * (RFC 3339 times as the API writes them; NULL when not known, e.g. from a list read, or
 * never reported).  The node passes when state is "installed", drift "in_sync" and reported_at
 * is not before state_since.  Returns what it made of it (see CliRollGate). */
CliRollGate cli_roll_gate(CliRoll *r, size_t i, const char *state, const char *drift, const char *state_since,
                          const char *reported_at);

/* Node i's --after ended: it is finished as CLI_ROLL_INSTALLED; when !ok, with after_why (why,
 * copied; NULL = "--after failed").  Returns 0, -EINVAL when node i is not in
 * CLI_ROLL_STEP_AFTER (nothing changes), -ENOMEM. */
int cli_roll_after_done(CliRoll *r, size_t i, bool ok, const char *why);

/* With the gate: finds a node in CLI_ROLL_STEP_INSTALL or GATE whose gate timeout passed at
 * now_ms, finishes it as CLI_ROLL_TIMEOUT (why: where it was, e.g. "installed, drift silent")
 * and stops the roll.  Returns its index (call again for more), or -1 (none; -ENOMEM leaves
 * the node in flight and returns -1 too). */
ssize_t cli_roll_expire(CliRoll *r, int64_t now_ms);

/* True when no node is in flight and none may be started any more (none waiting, or the
 * roll stopped). */
bool cli_roll_done(const CliRoll *r);

/* Index of the node called name, or -1. */
ssize_t cli_roll_find(const CliRoll *r, const char *name);

/* The result word of node i for the summary: "in_sync" (passed, with the gate), "installed"
 * (passed, without), "failed", "skipped", "timeout", "unfinished" (in flight), "not-submitted"
 * (waiting). */
const char *cli_roll_result(const CliRoll *r, size_t i);

/* Parses an RFC 3339 time ("2025-03-01T12:00:00.123Z", "...+01:00"; fraction optional) into
 * milliseconds since the epoch.  Returns 0 or -EINVAL. */
int cli_roll_parse_time(const char *s, int64_t *ret_ms);
