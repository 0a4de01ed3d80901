/* log.h — one line per event on stderr, with the node, MAC and install attempt as fields.
 *
 * Thread-safe (each line is written with one write(2)).  Levels are syslog's.  "%m" in a
 * format expands to strerror(errno); the *_errno variants set errno from their error first
 * and return it as a negative errno, so callers can write `return log_error_errno(r, ...)`.
 *
 * Under systemd (stderr is the journal stream: $JOURNAL_STREAM matches stderr's device and
 * inode, see systemd.exec(5)) each line is sent with sd_journal_sendv() instead, as one
 * entry with MESSAGE= (the line without the "provd: LEVEL: " prefix), PRIORITY=,
 * SYSLOG_IDENTIFIER=provd, ERRNO= for *_errno lines, and PROVD_NODE=, PROVD_MAC=,
 * PROVD_ATTEMPT= for the fields that are set — so `journalctl PROVD_NODE=node-07` works.
 * The environment variable PROVD_LOG=journal or PROVD_LOG=stderr forces either target
 * (PROVD_LOG=auto or unset: detect).  If the journal refuses an entry the line goes to
 * stderr. */
#pragma once

#include <stdint.h>
#include <syslog.h>

/* Fields attached to a log line; any member may be NULL / 0 when unknown. */
typedef struct LogFields {
        const char *node;
        const char *mac;
        int64_t attempt;
} LogFields;

/* Sets the maximum level printed (default LOG_INFO). */
void log_set_max_level(int level);

/* Writes one line at `level`.  Returns -|err| if err != 0, else 0. */
int log_full(int level, int err, const LogFields *fields, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

#define log_debug(...) log_full(LOG_DEBUG, 0, NULL, __VA_ARGS__)
#define log_info(...) log_full(LOG_INFO, 0, NULL, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, 0, NULL, __VA_ARGS__)
#define log_error(...) log_full(LOG_ERR, 0, NULL, __VA_ARGS__)
#define log_error_errno(err, ...) log_full(LOG_ERR, (err), NULL, __VA_ARGS__)
#define log_warning_errno(err, ...) log_full(LOG_WARNING, (err), NULL, __VA_ARGS__)

/* Node-scoped lines: `log_node(LOG_INFO, &(LogFields){ .node = n, .attempt = a }, "...")`. */
#define log_node(level, fields, ...) log_full((level), 0, (fields), __VA_ARGS__)
#define log_node_errno(level, err, fields, ...) log_full((level), (err), (fields), __VA_ARGS__)
