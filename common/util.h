/* util.h — small helpers shared by every provd module: cleanup attributes, TAKE_PTR,
 * wall-clock time, condition-variable deadlines, RFC 3339 formatting, decimal integer
 * parsing.  Header-only; no state, no I/O. */
#pragma once

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
/* A macro's value as a string literal: STRINGIFY(64) is "64". */
#define STRINGIFY(x) STRINGIFY_(x)
#define STRINGIFY_(x) #x

/* Hand the pointer over: returns it and leaves NULL behind so the cleanup does nothing. */
#define TAKE_PTR(p)                                                                                \
        ({                                                                                         \
                __typeof__(p) _p = (p);                                                            \
                (p) = NULL;                                                                        \
                _p;                                                                                \
        })

#define TAKE_FD(fd)                                                                                \
        ({                                                                                         \
                int _fd = (fd);                                                                    \
                (fd) = -1;                                                                         \
                _fd;                                                                               \
        })

static inline void freep(void *p) {
        free(*(void **) p);
}

static inline void closep(int *fd) {
        if (*fd >= 0) {
                int saved = errno;
                close(*fd);
                errno = saved;
        }
}

static inline void fclosep(FILE **f) {
        if (*f)
                fclose(*f);
}

/* Length of a base URL without its trailing slashes: "http://h:8080/" -> 13. */
static inline size_t url_base_len(const char *url) {
        size_t n = strlen(url);
        while (n > 0 && url[n - 1] == '/')
                n--;
        return n;
}

static inline int streq(const char *a, const char *b) {
        return strcmp(a, b) == 0;
}

static inline int startswith(const char *s, const char *prefix) {
        return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Wall-clock time in milliseconds since the Unix epoch (what the store persists). */
static inline int64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds on CLOCK_MONOTONIC, for durations and deadlines (never jumps). */
static inline int64_t now_monotonic_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The time `ms` (>= 0) milliseconds from now on `clock`, as an absolute deadline for
 * pthread_cond_timedwait(): CLOCK_REALTIME for a default condition variable, or the clock
 * set with pthread_condattr_setclock(). */
static inline struct timespec timespec_after_ms(clockid_t clock, int64_t ms) {
        struct timespec ts;
        clock_gettime(clock, &ts);
        ts.tv_sec += (time_t) (ms / 1000);
        ts.tv_nsec += (long) (ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
        }
        return ts;
}

/* Parses the whole of `s` as a decimal integer in [min, max] (strtoll(3): leading blanks
 * and a sign allowed).  Returns 0 and *ret, or -EINVAL (nothing written). */
static inline int parse_int64(const char *s, int64_t min, int64_t max, int64_t *ret) {
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (errno || end == s || *end || v < min || v > max)
                return -EINVAL;
        *ret = v;
        return 0;
}

/* Formats ms since the epoch as RFC 3339 UTC with milliseconds, e.g.
 * "2026-11-23T16:13:00.123Z", into buf (at least 25 bytes).  Returns buf. */
static inline char *format_rfc3339(int64_t ms, char buf[static 25]) {
        time_t s = (time_t) (ms / 1000);
        struct tm tm;
        gmtime_r(&s, &tm);
        size_t n = strftime(buf, 25, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(buf + n, 25 - n, ".%03dZ", (int) (ms % 1000));
        return buf;
}

/* Room for one error message a person reads (the `char *err, size_t errlen` convention). */
#define ERRBUF_MAX 1024

/* For functions that return a negative errno plus a message: formats the message into err
 * (errlen bytes; err NULL or errlen 0: no message) and returns r. */
__attribute__((format(printf, 4, 5))) static inline int errbuf_fail(int r, char *err, size_t errlen, const char *fmt,
                                                                   ...) {
        if (err && errlen > 0) {
                va_list ap;
                va_start(ap, fmt);
                vsnprintf(err, errlen, fmt, ap);
                va_end(ap);
        }
        return r;
}

#define _fallthrough_ __attribute__((fallthrough))
