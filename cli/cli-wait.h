/* cli-wait.h — `provd reinstall --wait` (cli-wait.c): requests the reinstalls, rolling at most
 * `parallel` at once, runs --before/--after, and watches the nodes until each is done (or the
 * roll stops).  Single-threaded. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cli-ops.h"
#include "cli.h"

/* What `reinstall --wait` was asked for. */
typedef struct CliWaitOptions {
        size_t parallel;         /* 0 = no limit */
        int64_t timeout_ms;      /* --timeout, 0 = none */
        const char *poll_query;  /* for GET /v1/nodes: "" or "?name=GLOB" */
        bool poll;               /* --poll: never the event stream */
        int gate;                /* -1: when the daemon reports drift, 0: --no-gate, 1: --gate-timeout given */
        int64_t gate_timeout_ms;
        const char *before, *after; /* --before / --after, or NULL */
        int64_t hook_timeout_ms;
} CliWaitOptions;

/* Runs the roll over `names` (borrowed) as `o` says; progress on stderr, the results on
 * stdout (or as JSON with --json).  Returns the exit code: 0, 1 (a submission, an operation,
 * an install or a hook failed, or --timeout), 4 (the roll stopped at a gate). */
int cli_wait_reinstall(Cli *cli, const CliNames *names, const CliWaitOptions *o);
