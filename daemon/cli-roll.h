/* cli-roll.h — the scheduler of `provd reinstall --wait [--parallel N]` (issue 6, "Rolling
 * reinstall"): which node to submit next, which are in flight, and when a node counts as
 * finished.  At most `parallel` nodes are in flight — between "its reinstall is about to be
 * submitted" and "installed or failed" — so a 500-node reinstall does not become a boot storm.
 *
 * When a node is finished: its reinstall operation was accepted (POST
 * /v1/nodes/{name}/reinstall -> 202) and its `mark` step is done ("armed": the node is pending
 * from then on), and after that a provision state `installed` or `failed` is seen; or the
 * operation (or its submission) failed.  A state is "seen after arming" when it comes from a
 * read made after arming (event_id 0) or from a stream event whose id is greater than the
 * newest event id known at arming (older events describe the node before the reinstall).
 *
 * Pure: no I/O; cli-ops.c does the HTTP around it.  Not thread-safe (single-threaded CLI). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef enum CliRollState {
        CLI_ROLL_WAITING,   /* not submitted yet */
        CLI_ROLL_IN_FLIGHT, /* submitted (or being submitted), not finished */
        CLI_ROLL_INSTALLED, /* finished: installed */
        CLI_ROLL_FAILED,    /* finished: failed (why says why) */
} CliRollState;

typedef struct CliRollNode {
        char *name;           /* owned */
        CliRollState state;
        int64_t op_id;        /* the reinstall operation's id, 0 before it was accepted */
        bool op_finished;     /* the operation is succeeded or failed (no need to poll it) */
        bool armed;           /* the operation's mark step is done */
        int64_t armed_event;  /* the newest event id known when it was armed */
        char node_state[16];  /* the last provision state seen after arming, "" before */
        char *why;            /* CLI_ROLL_FAILED: the reason (owned), else NULL */
} CliRollNode;

typedef struct CliRoll {
        CliRollNode *nodes; /* owned, n of them, in submission order */
        size_t n;
        size_t parallel;    /* at most this many in flight; 0 = no limit */
        size_t next;        /* index of the next node to submit */
        size_t in_flight, installed, failed;
        size_t max_in_flight; /* the most ever in flight at once (for tests and the summary) */
} CliRoll;

/* What cli_roll_observe() made of a state. */
typedef enum CliRollSeen {
        CLI_ROLL_SEEN_IGNORED,   /* not in flight, not armed yet, or an event from before arming */
        CLI_ROLL_SEEN_SAME,      /* the state it already had */
        CLI_ROLL_SEEN_CHANGED,   /* a new in-between state (pending, netbooting, installing, ...) */
        CLI_ROLL_SEEN_INSTALLED, /* installed: the node is now finished (CLI_ROLL_INSTALLED) */
        CLI_ROLL_SEEN_FAILED,    /* failed: the node is now finished (CLI_ROLL_FAILED, why "install failed") */
} CliRollSeen;

/* Sets up r for the n names (copied), all waiting, in this order; parallel 0 = no limit.
 * Returns 0 or -ENOMEM (r untouched then). */
int cli_roll_init(CliRoll *r, const char *const *names, size_t n, size_t parallel);

/* Frees what r owns. */
void cli_roll_free(CliRoll *r);

/* The next node to submit: moves it to CLI_ROLL_IN_FLIGHT and returns its index, or -1 when
 * none may be submitted now (parallel nodes in flight, or none left waiting). */
ssize_t cli_roll_next(CliRoll *r);

/* Node i is finished: installed (ok) or failed with why (copied; NULL = "failed").  Frees its
 * slot.  Returns 0, or -EINVAL when node i is not in flight (nothing changes), -ENOMEM. */
int cli_roll_finish(CliRoll *r, size_t i, bool ok, const char *why);

/* Replaces the reason of a failed node i (copied).  Returns 0, -EINVAL (not failed), -ENOMEM. */
int cli_roll_set_why(CliRoll *r, size_t i, const char *why);

/* Node i's operation has its mark step done; newest_event is the newest event id known at
 * that moment (0 if none).  No effect unless node i is in flight and not armed. */
void cli_roll_arm(CliRoll *r, size_t i, int64_t newest_event);

/* A provision state of node i was seen: from a read made after arming (event_id 0), or from
 * the event stream (event_id > 0).  Finishes the node on installed / failed.  Returns what it
 * made of it (see CliRollSeen). */
CliRollSeen cli_roll_observe(CliRoll *r, size_t i, const char *state, int64_t event_id);

/* True when no node is waiting or in flight. */
bool cli_roll_done(const CliRoll *r);

/* Index of the node called name, or -1. */
ssize_t cli_roll_find(const CliRoll *r, const char *name);
