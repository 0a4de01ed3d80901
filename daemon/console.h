/* console.h — the console capture manager: holds Serial-over-LAN sessions (sol.h) to the
 * BMCs of nodes in an install attempt (and on demand) and writes each node's console stream
 * to log files in the state directory.  The README's "Console" section describes it for users.
 *
 * Files: <state_dir>/console/<node>/<N>.log for install attempt number N (raw bytes as
 * received, mode 0640, directories 0750), <state_dir>/console/<node>/live.log for on-demand
 * captures (truncated at each start).  A file is capped at max_size bytes: then one line
 * "\n[provd: console log truncated at N bytes]\n" is written and nothing more (the session
 * stays, so the tail in memory stays current).  When a new attempt's log is created, the
 * node's oldest attempt logs beyond `keep` are deleted.
 *
 * When capture runs: everything about install attempts comes from the daemon, through one
 * transition observer (daemon_subscribe()): a reinstall (event reinstall -> pending, made by
 * ops_reinstall before its BMC steps) starts capturing into the NEXT attempt's file, so what
 * the firmware and PXE print before the netboot is caught; an attempt that opens is captured
 * (the same file when the reinstall prepared it), until `linger` seconds after the attempt
 * ends.  On demand: from console_live_start() until console_live_stop() or its deadline.
 * It stops early when the node leaves the inventory or loses its BMC (checked every few
 * seconds) and at shutdown.
 * A session that drops (-ECONNRESET, -ETIMEDOUT, -EIO, -EBUSY) is re-opened with backoff
 * 1 s doubling to 30 s, noted in the file and in the node's history (cause "console", at
 * most once a minute per node).  -EOPNOTSUPP / -EACCES (no SOL, refused) and errors opening
 * a session are noted once; no retry for that attempt.  Never fatal to the attempt.
 *
 * A capture's lifecycle is two explicit states, driven by capture-machine.h's tables (each
 * (state, event) pair there gives the next state and the actions):
 *   phase  new -> prepared (a reinstall: the next attempt's file, before it opens) ->
 *          attempt (open) -> lingering (ended; until the linger deadline) -> closed;
 *          live (on demand, until its deadline or DELETE) -> closed.  A netboot or a reinstall
 *          for another attempt switches the file; the node leaving the inventory or losing its
 *          BMC, and shutdown, close it.
 *   link   idle -> connecting -> streaming; a loss -> backoff -> reconnecting -> streaming
 *          (the "-noted" variants when the loss went into the history, so the
 *          re-establishment does too); no SOL / refused / cannot open -> gave-up until the
 *          file switches; closed with the phase.
 * What is about the file, not the lifecycle, stays flags (the size cap reached, a write error
 * logged), and the timers stay data (deadline, backoff, next open, last history note).
 *
 * The last lines of the console (console_sanitize(): 40 lines, 8 KiB, UTF-8 without escape
 * sequences) go into the history row of a failed/timed-out attempt's ending transition
 * when the linger ends (daemon_set_console_tail()).
 *
 * Threads: one capture thread polls every session's sol_fd() and an eventfd; it alone opens,
 * reads and closes sessions and frees captures.  The other entry points run on HTTP threads,
 * the observer on whichever thread delivers the daemon's transitions (no daemon lock held);
 * they only change what is wanted, under the console lock.  The console lock is never held
 * across a call into the daemon (the capture thread makes its history notes, tails and node
 * lookups without it), nor while unsubscribing.  BMC passwords are read with
 * ipmi_password_read() when a session (re)opens, into a SolTarget on the capture thread's
 * stack that is wiped once sol_open() has taken what the session needs; never logged.
 *
 * The tail of a failed attempt is written when its linger ends, or earlier when the node's
 * next attempt starts capturing (the file switches). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon.h"

#define CONSOLE_TAIL_LINES 40
#define CONSOLE_TAIL_BYTES 8192
#define CONSOLE_LIVE_DEFAULT_S 600
#define CONSOLE_LIVE_MAX_S 86400

typedef struct Console Console;

typedef struct ConsoleConfig {
        const char *state_dir;  /* logs go to <state_dir>/console (copied) */
        uint64_t max_size;      /* bytes per log file; 0 = 16 MiB */
        unsigned keep;          /* attempt logs kept per node; 0 = all */
        unsigned linger_s;      /* seconds of capture after an attempt ends */
        const char *ipmitool;   /* ipmitool binary for SOL_BACKEND_IPMITOOL; NULL = from PATH */
} ConsoleConfig;

/* Creates <state_dir>/console, initialises the SOL backends (sol_init()), starts the capture
 * thread and subscribes to d's transitions.  d is borrowed and must outlive the Console.
 * Returns 0 and *ret (caller owns; console_free()), or a negative errno (logged). */
int console_new(Daemon *d, const ConsoleConfig *cfg, Console **ret);

/* Unsubscribes from the daemon (after which the observer never runs), ends every follower (console_follow_check() answers -ENODATA),
 * writes pending tails into the history, closes every session and joins the thread.  Call
 * before the daemon is freed.  Idempotent; NULL is fine. */
void console_stop(Console *c);

/* console_stop(), then frees.  NULL is fine. */
void console_free(Console *c);

/* POST /v1/nodes/<node>/console: captures to live.log (truncated now) for `seconds`
 * (1..CONSOLE_LIVE_MAX_S); a running on-demand capture is extended instead.  Errors, with a
 * message in err: -ENOENT unknown node, -ENODEV no BMC or console "none", -EBUSY the node's
 * console is being captured for an install attempt, -EIO the file cannot be created. */
int console_live_start(Console *c, const char *node, unsigned seconds, char *err, size_t errlen);

/* DELETE /v1/nodes/<node>/console: ends the on-demand capture (none running is fine).
 * -ENOENT for an unknown node. */
int console_live_stop(Console *c, const char *node);

/* One log file opened for reading. */
typedef struct ConsoleLog {
        int fd;          /* O_RDONLY, caller owns */
        int64_t attempt; /* attempt number, or 0 for live.log */
        bool capturing;  /* a capture is writing this file now */
        uint64_t size;   /* bytes in it when opened */
} ConsoleLog;

/* Opens node `node`'s log: attempt > 0 that attempt's; attempt 0 the current (or last)
 * attempt's, or live.log when an on-demand capture runs or no attempt log exists.  Errors,
 * with a message in err: -ENOENT unknown node ("no node ...") and -ENODATA no such log
 * ("node-07 has no console log for attempt 3"). */
int console_log_open(Console *c, const char *node, int64_t attempt, ConsoleLog *ret, char *err, size_t errlen);

/* A reader following one log file (GET ...?follow=1).  The caller owns it and fills node,
 * attempt (as console_log_open() returned), and the callbacks; console.c keeps it in a list
 * between console_follow_add() and console_follow_remove(). */
typedef struct ConsoleFollow {
        char node[64];
        int64_t attempt;
        /* Called with the console lock held: suspend() from console_follow_check() when there
         * is nothing new, resume() from any thread when new bytes were written or the capture
         * of that file ended.  Neither may call into console.c. */
        void (*suspend)(void *userdata);
        void (*resume)(void *userdata);
        void *userdata;
        /* console.c's */
        bool suspended;
        struct ConsoleFollow *prev, *next;
} ConsoleFollow;

void console_follow_add(Console *c, ConsoleFollow *f);
void console_follow_remove(Console *c, ConsoleFollow *f);

/* Called by a follower that read everything up to `offset` bytes: returns 1 when the file
 * has grown beyond offset meanwhile (read again), 0 after calling f->suspend() (f->resume()
 * follows when there is more), or -ENODATA when no capture writes that file any more (read
 * to the end once more, then finish). */
int console_follow_check(Console *c, ConsoleFollow *f, uint64_t offset);

/* Open sessions now (provd_console_sessions). */
size_t console_sessions(Console *c);

/* Pure: the last lines of raw console bytes as text for the history — ANSI escape sequences
 * (CSI, OSC, two-byte ESC sequences) and control characters other than \n and \t removed
 * (\r\n becomes \n), invalid UTF-8 replaced by U+FFFD, leading bytes of a cut-off character
 * dropped, trailing blank lines dropped, then the last max_lines lines and at most max_bytes
 * bytes (cut at a line or character boundary).  Returns a malloc'd NUL-terminated string
 * (possibly empty), or NULL when out of memory. */
char *console_sanitize(const uint8_t *buf, size_t len, size_t max_lines, size_t max_bytes);
