/* service.h — provd as a systemd service: the API socket from socket activation
 * (provd.socket), readiness, status, reload and stop notifications (sd_notify), and the
 * watchdog.  Journal logging is log.c's business, not this module's.
 *
 * Threads: main thread only (server.c: start-up and server_run()); module state is plain statics.
 *
 * Everything degrades to nothing outside a service manager: without LISTEN_FDS provd binds
 * its own socket, without NOTIFY_SOCKET the notifications are no-ops (libsystemd's
 * sd_notify() returns 0), without WATCHDOG_USEC there is no watchdog.  So the same binary
 * runs from a terminal, under `systemd-socket-activate`, and as provd.service.
 *
 * Protocol facts used here, from sd_listen_fds(3), sd_notify(3), sd_watchdog_enabled(3)
 * (libsystemd 252, Debian 12):
 * - passed sockets start at fd 3 (SD_LISTEN_FDS_START) and are only ours when LISTEN_PID
 *   is our pid; sd_listen_fds() checks that and sets FD_CLOEXEC on them;
 * - WATCHDOG_USEC is the manager's timeout; it is ours when WATCHDOG_PID is unset or our
 *   pid; the daemon should send WATCHDOG=1 at about half that interval;
 * - RELOADING=1 should carry MONOTONIC_USEC= (CLOCK_MONOTONIC, µs) from systemd 253 on;
 *   older managers ignore the extra field;
 * - READY=1 after RELOADING=1 ends the reload. */
#pragma once

#include <signal.h>
#include <sys/socket.h>

#include "daemon.h"

/* The listening socket passed by socket activation, if any.  Returns 1 with *ret_fd (the
 * caller owns it; made non-blocking and close-on-exec) and *ret_addr (its local address,
 * from getsockname()) when exactly one socket was passed; 0 (outputs untouched) when provd
 * was not socket-activated; -EINVAL (logged) when several fds were passed or the fd is not
 * a listening IPv4/IPv6 stream socket; another negative errno (logged) when fcntl or
 * getsockname fails.  Unsets LISTEN_FDS/LISTEN_PID/LISTEN_FDNAMES either way. */
int service_listen_fd(int *ret_fd, struct sockaddr_storage *ret_addr);

/* Sends READY=1 and STATUS= with node counts per provision state ("3 nodes: 1 installed,
 * 2 new").  Call once the inventory and store are loaded and HTTP is being served.  d is
 * borrowed. */
void service_notify_ready(Daemon *d);

/* Sends RELOADING=1 with MONOTONIC_USEC= (call before re-reading the inventory). */
void service_notify_reloading(void);

/* Ends a reload: READY=1 and a fresh STATUS=.  failure: NULL when everything was reloaded,
 * else a short text appended to STATUS= ("; TEXT") until the next successful reload, e.g.
 * "last inventory reload failed, previous inventory in force" (copied; at most 127 bytes). */
void service_notify_reloaded(Daemon *d, const char *failure);

/* Sends STOPPING=1. */
void service_notify_stopping(void);

/* Waits for one of the signals in mask (which the caller has blocked in every thread) and
 * returns its number.  While it waits it keeps the watchdog fed: every half WATCHDOG_USEC it
 * calls daemon_ping(d) — which does not return while a thread is wedged inside the daemon —
 * and only then sends WATCHDOG=1 with a fresh STATUS=.  Without a watchdog but with
 * NOTIFY_SOCKET set, STATUS= is still refreshed every 10 s.  Returns the signal number or a
 * negative errno (logged) if waiting fails. */
int service_wait_signal(Daemon *d, const sigset_t *mask);
