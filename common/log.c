/* log.c — see log.h. */
#include "log.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include "util.h"

static int max_level = LOG_INFO;

void log_set_max_level(int level) {
        max_level = level;
}

static const char *level_name(int level) {
        switch (level) {
        case LOG_EMERG:
        case LOG_ALERT:
        case LOG_CRIT:
        case LOG_ERR:
                return "error";
        case LOG_WARNING:
                return "warning";
        case LOG_NOTICE:
        case LOG_INFO:
                return "info";
        default:
                return "debug";
        }
}

/* Where lines go, decided once (first log call): the journal when stderr is connected to
 * it, else stderr.  PROVD_LOG=journal|stderr overrides the detection (tests, debugging). */
typedef enum LogTarget {
        LOG_TARGET_STDERR,
        LOG_TARGET_JOURNAL,
} LogTarget;

static LogTarget target = LOG_TARGET_STDERR;
static pthread_once_t target_once = PTHREAD_ONCE_INIT;

/* systemd.exec(5), "$JOURNAL_STREAM": set to "DEVICE:INODE" (decimal) of the stream
 * systemd connected stdout/stderr to; a process should compare it with fstat() of its
 * stderr and only then log natively to the journal (the variable is inherited by children
 * whose stderr may have been redirected elsewhere). */
static bool stderr_is_journal(void) {
        const char *e = getenv("JOURNAL_STREAM");
        if (!e)
                return false;
        unsigned long long dev, ino;
        int end = 0;
        if (sscanf(e, "%llu:%llu%n", &dev, &ino, &end) != 2 || e[end] != '\0')
                return false;
        struct stat st;
        if (fstat(STDERR_FILENO, &st) < 0)
                return false;
        return (unsigned long long) st.st_dev == dev && (unsigned long long) st.st_ino == ino;
}

static void target_init(void) {
        const char *e = getenv("PROVD_LOG");
        if (e && strcmp(e, "journal") == 0)
                target = LOG_TARGET_JOURNAL;
        else if (e && strcmp(e, "stderr") == 0)
                target = LOG_TARGET_STDERR;
        else {
                if (e && *e && strcmp(e, "auto") != 0) {
                        static const char msg[] = "provd: warning: PROVD_LOG must be journal, stderr or auto; using auto\n";
                        ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
                        (void) w;
                }
                target = stderr_is_journal() ? LOG_TARGET_JOURNAL : LOG_TARGET_STDERR;
        }
}

static bool log_to_journal(void) {
        pthread_once(&target_once, target_init);
        return target == LOG_TARGET_JOURNAL;
}

/* One journal entry; the text part of the line is MESSAGE=, the fields are separate.
 * Returns sd_journal_sendv()'s result (negative errno if the journal is unreachable). */
static int journal_send(int level, int err, const LogFields *fields, const char *text, size_t len) {
        char priority[16], errno_field[32], attempt[48];
        _cleanup_free_ char *message = NULL, *node = NULL, *mac = NULL;
        struct iovec iov[8];
        size_t n = 0;

        if (asprintf(&message, "MESSAGE=%.*s", (int) len, text) < 0)
                return -ENOMEM;
        iov[n++] = (struct iovec){ message, strlen(message) };
        snprintf(priority, sizeof priority, "PRIORITY=%d", level);
        iov[n++] = (struct iovec){ priority, strlen(priority) };
        static char ident[] = "SYSLOG_IDENTIFIER=provd";
        iov[n++] = (struct iovec){ ident, sizeof ident - 1 };
        if (err != 0) {
                snprintf(errno_field, sizeof errno_field, "ERRNO=%d", abs(err));
                iov[n++] = (struct iovec){ errno_field, strlen(errno_field) };
        }
        if (fields && fields->node) {
                if (asprintf(&node, "PROVD_NODE=%s", fields->node) < 0)
                        return -ENOMEM;
                iov[n++] = (struct iovec){ node, strlen(node) };
        }
        if (fields && fields->mac) {
                if (asprintf(&mac, "PROVD_MAC=%s", fields->mac) < 0)
                        return -ENOMEM;
                iov[n++] = (struct iovec){ mac, strlen(mac) };
        }
        if (fields && fields->attempt > 0) {
                snprintf(attempt, sizeof attempt, "PROVD_ATTEMPT=%" PRId64, fields->attempt);
                iov[n++] = (struct iovec){ attempt, strlen(attempt) };
        }
        return sd_journal_sendv(iov, (int) n);
}

int log_full(int level, int err, const LogFields *fields, const char *fmt, ...) {
        int ret = err == 0 ? 0 : -abs(err);
        if (level > max_level)
                return ret;

        int saved_errno = errno;
        if (err != 0)
                errno = abs(err);

        char line[2048];
        size_t n = (size_t) snprintf(line, sizeof line, "provd: %s: ", level_name(level));
        /* The journal has its own identifier and priority: its MESSAGE= starts here. */
        size_t text_start = n;
        if (fields && fields->node && n < sizeof line)
                n += (size_t) snprintf(line + n, sizeof line - n, "%s: ", fields->node);

        va_list ap;
        va_start(ap, fmt);
        if (n < sizeof line)
                n += (size_t) vsnprintf(line + n, sizeof line - n, fmt, ap);
        va_end(ap);

        if (fields && n < sizeof line) {
                if (fields->mac)
                        n += (size_t) snprintf(line + n, sizeof line - n, " mac=%s", fields->mac);
                if (fields->attempt > 0 && n < sizeof line)
                        n += (size_t) snprintf(line + n, sizeof line - n, " attempt=%" PRId64,
                                               fields->attempt);
        }
        if (n >= sizeof line - 1)
                n = sizeof line - 2;
        /* One event, one line: control characters from clients (installer messages) must not
         * forge or split lines. */
        for (size_t i = 0; i < n; i++)
                if ((unsigned char) line[i] < 0x20 || line[i] == 0x7f)
                        line[i] = line[i] == '\n' || line[i] == '\r' || line[i] == '\t' ? ' ' : '?';

        /* If the journal cannot take the entry, the line still goes to stderr. */
        if (!log_to_journal() || journal_send(level, err, fields, line + text_start, n - text_start) < 0) {
                line[n++] = '\n';
                ssize_t w = write(STDERR_FILENO, line, n);
                (void) w;
        }
        errno = saved_errno;
        return ret;
}
