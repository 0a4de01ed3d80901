/* log.c — see log.h. */
#include "log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

int log_full(int level, int err, const LogFields *fields, const char *fmt, ...) {
        int ret = err == 0 ? 0 : -abs(err);
        if (level > max_level)
                return ret;

        int saved_errno = errno;
        if (err != 0)
                errno = abs(err);

        char line[2048];
        size_t n = (size_t) snprintf(line, sizeof line, "provd: %s: ", level_name(level));
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
        line[n++] = '\n';

        ssize_t w = write(STDERR_FILENO, line, n);
        (void) w;
        errno = saved_errno;
        return ret;
}
