/* service.c — see service.h.
 *
 * Why it looks like this:
 * - libsystemd rather than a hand-written sd_notify: the notify protocol has details
 *   (abstract socket names, SCM_CREDENTIALS, LISTEN_PID checks, WATCHDOG_PID rules) that
 *   libsystemd gets right and keeps right; Debian ships it everywhere systemd runs.
 * - The watchdog is fed by the main thread, from the loop that also takes signals, and only
 *   after daemon_ping() got the daemon's lock.  A timer thread that pings unconditionally
 *   would keep a wedged daemon alive forever; this way a main loop that hangs, or a request
 *   or reload that holds the lock and never returns, stops the pings and systemd restarts
 *   provd (WatchdogSec= with Restart=on-failure).  HTTP itself runs in libmicrohttpd's
 *   threads; a stuck libmicrohttpd thread that holds no daemon lock is not detected.
 * - sigtimedwait() with a deadline computed from CLOCK_MONOTONIC, not a fixed timeout: a
 *   stream of SIGHUPs cannot postpone the next ping.
 * - STATUS= is recomputed at every ping (node counts change as nodes install), so
 *   `systemctl status provd` shows current counts. */
#include "service.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "log.h"
#include "provision.h"
#include "util.h"

/* Without a watchdog, how often STATUS= is refreshed when a manager listens. */
#define STATUS_REFRESH_USEC (10ULL * 1000 * 1000)

/* The main thread (signals, watchdog) and HTTP threads (POST /v1/reload) notify: this lock
 * guards the two buffers below and keeps RELOADING=1 ... READY=1 pairs from interleaving. */
static pthread_mutex_t service_lock = PTHREAD_MUTEX_INITIALIZER;
static char reload_failure[128]; /* "" after a successful reload */
static char last_status[512];

static uint64_t now_monotonic_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000ULL;
}

int service_listen_fd(int *ret_fd, struct sockaddr_storage *ret_addr) {
        int n = sd_listen_fds(1);
        if (n < 0)
                return log_error_errno(n, "socket activation: cannot read LISTEN_FDS: %m");
        if (n == 0)
                return 0;
        if (n > 1)
                return log_error_errno(EINVAL,
                                       "socket activation: %d sockets passed, provd serves exactly one "
                                       "(one ListenStream= in provd.socket)",
                                       n);

        int fd = SD_LISTEN_FDS_START;
        int r = sd_is_socket_inet(fd, AF_UNSPEC, SOCK_STREAM, 1, 0);
        if (r < 0)
                return log_error_errno(r, "socket activation: fd %d: %m", fd);
        if (r == 0)
                return log_error_errno(EINVAL,
                                       "socket activation: fd %d is not a listening IPv4/IPv6 stream socket "
                                       "(provd.socket needs ListenStream=PORT or ADDR:PORT)",
                                       fd);

        /* libmicrohttpd's worker threads share the socket: a blocking accept() in one of
         * them would hang it after another took the connection. */
        int flags = fcntl(fd, F_GETFL);
        if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
                return log_error_errno(errno, "socket activation: cannot make fd %d non-blocking: %m", fd);
        /* sd_listen_fds() already set FD_CLOEXEC; that is not something to depend on. */
        if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
                return log_error_errno(errno, "socket activation: fd %d: F_SETFD: %m", fd);

        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        if (getsockname(fd, (struct sockaddr *) &ss, &len) < 0)
                return log_error_errno(errno, "socket activation: getsockname(fd %d): %m", fd);

        *ret_fd = fd;
        *ret_addr = ss;
        return 1;
}

/* "3 nodes: 1 installed, 2 new" (only the states some node is in), plus a reload note. */
static void format_status(Daemon *d, char *buf, size_t size) {
        size_t counts[_PROVISION_STATE_MAX], total = 0;
        daemon_state_counts(d, counts);
        for (size_t s = 0; s < _PROVISION_STATE_MAX; s++)
                total += counts[s];

        size_t n = (size_t) snprintf(buf, size, "%zu node%s", total, total == 1 ? "" : "s");
        const char *sep = ": ";
        /* Most interesting first: what is done, what is in flight, what went wrong. */
        static const ProvisionState order[] = {
                PROVISION_INSTALLED, PROVISION_INSTALLING, PROVISION_NETBOOTING,
                PROVISION_PENDING,   PROVISION_FAILED,     PROVISION_NEW,
        };
        for (size_t i = 0; i < ELEMENTSOF(order) && n < size; i++) {
                if (counts[order[i]] == 0)
                        continue;
                n += (size_t) snprintf(buf + n, size - n, "%s%zu %s", sep, counts[order[i]],
                                       provision_state_to_string(order[i]));
                sep = ", ";
        }
        if (reload_failure[0] && n < size)
                snprintf(buf + n, size - n, "; %s", reload_failure);
}

static void notify_with_status_locked(Daemon *d, const char *head);

/* Sends `head` (e.g. "READY=1") followed by STATUS=; errors only matter for debugging.
 * Takes service_lock. */
static void notify_with_status(Daemon *d, const char *head) {
        pthread_mutex_lock(&service_lock);
        notify_with_status_locked(d, head);
        pthread_mutex_unlock(&service_lock);
}

static void notify_with_status_locked(Daemon *d, const char *head) {
        char status[sizeof last_status];
        format_status(d, status, sizeof status);
        int r = sd_notifyf(0, "%s%sSTATUS=%s", head, head[0] ? "\n" : "", status);
        if (r < 0)
                log_debug("sd_notify(%s): %s", head[0] ? head : "STATUS", strerror(-r));
        memcpy(last_status, status, sizeof last_status);
}

void service_notify_ready(Daemon *d) {
        notify_with_status(d, "READY=1");
}

void service_notify_reloading(void) {
        int r = sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu", (unsigned long long) now_monotonic_usec());
        if (r < 0)
                log_debug("sd_notify(RELOADING=1): %s", strerror(-r));
}

void service_notify_reloaded(Daemon *d, const char *failure) {
        pthread_mutex_lock(&service_lock);
        snprintf(reload_failure, sizeof reload_failure, "%s", failure ? failure : "");
        notify_with_status_locked(d, "READY=1");
        pthread_mutex_unlock(&service_lock);
}

void service_notify_stopping(void) {
        int r = sd_notify(0, "STOPPING=1");
        if (r < 0)
                log_debug("sd_notify(STOPPING=1): %s", strerror(-r));
}

/* The watchdog's ping: only a daemon whose lock can be taken is alive. */
static void watchdog_ping(Daemon *d) {
        daemon_ping(d);
        notify_with_status(d, "WATCHDOG=1");
}

static void status_refresh(Daemon *d) {
        char status[sizeof last_status];
        pthread_mutex_lock(&service_lock);
        format_status(d, status, sizeof status);
        if (!streq(status, last_status))
                notify_with_status_locked(d, "");
        pthread_mutex_unlock(&service_lock);
}

int service_wait_signal(Daemon *d, const sigset_t *mask) {
        static bool initialized;
        static uint64_t interval_usec, next_usec; /* 0: nothing to do periodically */
        static bool watchdog;

        if (!initialized) {
                uint64_t wd = 0;
                int r = sd_watchdog_enabled(0, &wd);
                if (r < 0)
                        log_warning_errno(r, "ignoring the watchdog settings (WATCHDOG_USEC/WATCHDOG_PID): %m");
                if (r > 0 && wd > 0) {
                        watchdog = true;
                        interval_usec = wd / 2;
                        log_info("watchdog enabled: timeout %llu ms, ping every %llu ms",
                                 (unsigned long long) (wd / 1000), (unsigned long long) (interval_usec / 1000));
                } else if (getenv("NOTIFY_SOCKET"))
                        interval_usec = STATUS_REFRESH_USEC;
                next_usec = now_monotonic_usec();
                initialized = true;
        }

        for (;;) {
                int sig;
                if (interval_usec == 0)
                        sig = sigwaitinfo(mask, NULL);
                else {
                        uint64_t now = now_monotonic_usec();
                        if (now >= next_usec) {
                                if (watchdog)
                                        watchdog_ping(d);
                                else
                                        status_refresh(d);
                                now = now_monotonic_usec();
                                next_usec = now + interval_usec;
                        }
                        uint64_t left = next_usec - now;
                        struct timespec ts = { .tv_sec = (time_t) (left / 1000000ULL),
                                               .tv_nsec = (long) (left % 1000000ULL) * 1000L };
                        sig = sigtimedwait(mask, NULL, &ts);
                }
                if (sig >= 0)
                        return sig;
                if (errno == EAGAIN || errno == EINTR)
                        continue;
                return log_error_errno(errno, "waiting for signals: %m");
        }
}
