/* provd-sol — opens one SOL session through provd's sol.c and copies the console to stdout,
 * for the sol integration test and for trying a BMC by hand.  Not installed.
 *
 *   provd-sol [--backend ipmiconsole|ipmitool] [--cipher N] [-W NAME,NAME...]
 *             [--timeout MS] [--keepalive MS] [--ipmitool PATH] [--seconds N] [--debug]
 *             -u USER -p PASSWORD_FILE HOST[:PORT]|[V6]:PORT
 *
 * Console bytes go to stdout as received.  Status lines go to stderr, each starting with a
 * word a test can grep:
 *   opened <backend> <host:port>
 *   established <ms>             (ms since sol_open)
 *   ended <ERRNO-NAME> <ms> <message>
 *   closed <ms>                  (--seconds ran out, or SIGTERM/SIGINT: sol_close())
 * Exit status says how the session ended:
 *   0 closed by us (still open at the end of --seconds, default 30, or on SIGTERM/SIGINT)
 *   1 sol_open() failed (the "failed" line says why)       2 usage
 *   3 ECONNRESET  4 ETIMEDOUT  5 EACCES  6 EOPNOTSUPP  7 EBUSY  8 EIO or anything else
 * --debug: libipmiconsole's debug output and packet dumps on stderr (PROVD_SOL_DEBUG=1).
 * SIGTERM/SIGINT are blocked and taken with signalfd, as provd does, so the children sol.c
 * starts must reset their signal mask themselves. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "ipmi.h"
#include "sol.h"
#include "util.h"

static int64_t t0;

static int64_t elapsed(void) {
        return now_monotonic_ms() - t0;
}

static int exit_code(int r) {
        switch (r) {
        case -ECONNRESET:
                return 3;
        case -ETIMEDOUT:
                return 4;
        case -EACCES:
                return 5;
        case -EOPNOTSUPP:
                return 6;
        case -EBUSY:
                return 7;
        default:
                return 8;
        }
}

static int usage(void) {
        fprintf(stderr, "usage: provd-sol [--backend ipmiconsole|ipmitool] [--cipher N] [-W NAMES] "
                        "[--timeout MS] [--keepalive MS] [--ipmitool PATH] [--seconds N] [--debug] "
                        "-u USER -p PASSWORD_FILE HOST[:PORT]\n");
        return 2;
}

/* "host", "host:port", "[v6]:port", "v6" -> target host/port. */
static int parse_host(const char *arg, IpmiTarget *t) {
        const char *colon = strrchr(arg, ':');
        if (arg[0] == '[') {
                const char *end = strchr(arg, ']');
                if (!end)
                        return -EINVAL;
                snprintf(t->host, sizeof t->host, "%.*s", (int) (end - arg - 1), arg + 1);
                colon = end[1] == ':' ? end + 1 : NULL;
        } else if (colon && strchr(arg, ':') == colon) {
                snprintf(t->host, sizeof t->host, "%.*s", (int) (colon - arg), arg);
        } else {
                snprintf(t->host, sizeof t->host, "%s", arg);
                colon = NULL;
        }
        if (colon) {
                int64_t port;
                if (parse_int64(colon + 1, 1, 65535, &port) < 0)
                        return -EINVAL;
                t->port = (uint16_t) port;
        }
        return 0;
}

int main(int argc, char **argv) {
        static const struct option opts[] = {
                { "backend", required_argument, NULL, 'b' }, { "cipher", required_argument, NULL, 'C' },
                { "timeout", required_argument, NULL, 't' }, { "keepalive", required_argument, NULL, 'k' },
                { "ipmitool", required_argument, NULL, 'i' }, { "seconds", required_argument, NULL, 's' },
                { "debug", no_argument, NULL, 'd' },         { "user", required_argument, NULL, 'u' },
                { "password-file", required_argument, NULL, 'p' }, {}
        };
        SolTarget t = { .backend = SOL_BACKEND_IPMICONSOLE };
        const char *workarounds = NULL, *pwfile = NULL;
        int64_t seconds = 30, v;
        char err[IPMI_ERROR_MAX];
        int c;

        while ((c = getopt_long(argc, argv, "W:u:p:", opts, NULL)) >= 0) {
                switch (c) {
                case 'b':
                        if (sol_backend_from_string(optarg, &t.backend) < 0 || t.backend == SOL_BACKEND_NONE)
                                return usage();
                        break;
                case 'C':
                        if (parse_int64(optarg, 1, 255, &v) < 0)
                                return usage();
                        t.ipmi.cipher_suite = (uint8_t) v;
                        break;
                case 't':
                        if (parse_int64(optarg, 1, 600000, &v) < 0)
                                return usage();
                        t.ipmi.session_timeout_ms = (unsigned) v;
                        break;
                case 'k':
                        if (parse_int64(optarg, 1, 600000, &v) < 0)
                                return usage();
                        t.keepalive_ms = (unsigned) v;
                        break;
                case 'i':
                        t.ipmitool = optarg;
                        break;
                case 's':
                        if (parse_int64(optarg, 0, 86400, &seconds) < 0)
                                return usage();
                        break;
                case 'd':
                        setenv("PROVD_SOL_DEBUG", "1", 1);
                        break;
                case 'W':
                        workarounds = optarg;
                        break;
                case 'u':
                        snprintf(t.ipmi.user, sizeof t.ipmi.user, "%s", optarg);
                        break;
                case 'p':
                        pwfile = optarg;
                        break;
                default:
                        return usage();
                }
        }
        if (optind != argc - 1 || !pwfile || parse_host(argv[optind], &t.ipmi) < 0)
                return usage();
        if (workarounds) {
                _cleanup_free_ char *list = strdup(workarounds);
                if (!list)
                        return 1;
                for (char *save = NULL, *w = strtok_r(list, ",", &save); w; w = strtok_r(NULL, ",", &save))
                        if (sol_workaround_parse_one(t.backend, w, &t.workarounds, err, sizeof err) < 0) {
                                fprintf(stderr, "provd-sol: %s\n", err);
                                return 2;
                        }
        }
        if (ipmi_password_read(pwfile, t.ipmi.password, sizeof t.ipmi.password, err, sizeof err) < 0) {
                fprintf(stderr, "provd-sol: %s\n", err);
                return 2;
        }

        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        pthread_sigmask(SIG_BLOCK, &mask, NULL);
        signal(SIGPIPE, SIG_IGN);
        _cleanup_close_ int sfd = signalfd(-1, &mask, SFD_CLOEXEC);
        if (sfd < 0) {
                perror("provd-sol: signalfd");
                return 1;
        }

        if (t.backend == SOL_BACKEND_IPMICONSOLE && sol_init() < 0) {
                fprintf(stderr, "failed EIO 0 cannot start the libipmiconsole engine\n");
                return 1;
        }
        t0 = now_monotonic_ms();
        SolSession *s = NULL;
        int r = sol_open(&t, &s, err, sizeof err);
        explicit_bzero(t.ipmi.password, sizeof t.ipmi.password);
        if (r < 0) {
                fprintf(stderr, "failed %s %" PRId64 " %s\n", strerrorname_np(-r), elapsed(), err);
                sol_shutdown();
                return 1;
        }
        char label[IPMI_TARGET_HOST_MAX + 8];
        ipmi_target_label(&t.ipmi, label, sizeof label);
        fprintf(stderr, "opened %s %s\n", sol_backend_to_string(t.backend), label);

        int rc = 0;
        bool said_established = false;
        int64_t deadline = t0 + seconds * 1000;
        for (;;) {
                if (!said_established && sol_established(s)) {
                        fprintf(stderr, "established %" PRId64 "\n", elapsed());
                        said_established = true;
                }
                int64_t left = deadline - now_monotonic_ms();
                if (left <= 0)
                        break;
                struct pollfd p[2] = { { .fd = sol_fd(s), .events = POLLIN }, { .fd = sfd, .events = POLLIN } };
                int n = poll(p, 2, left > 200 ? 200 : (int) left); /* 200 ms: see "established" soon */
                if (n < 0 && errno != EINTR) {
                        perror("provd-sol: poll");
                        rc = 1;
                        break;
                }
                sol_reap();
                if (p[1].revents)
                        break;
                if (!p[0].revents)
                        continue;
                char buf[4096];
                ssize_t k = sol_read(s, buf, sizeof buf);
                if (k == -EAGAIN)
                        continue;
                if (k > 0) {
                        if (fwrite(buf, 1, (size_t) k, stdout) != (size_t) k) {
                                rc = 1;
                                break;
                        }
                        fflush(stdout);
                        continue;
                }
                if (k == 0) {
                        r = sol_status(s, err, sizeof err);
                        if (!said_established && sol_established(s))
                                fprintf(stderr, "established %" PRId64 "\n", elapsed());
                        fprintf(stderr, "ended %s %" PRId64 " %s\n", r ? strerrorname_np(-r) : "0", elapsed(), err);
                        rc = exit_code(r);
                        break;
                }
                fprintf(stderr, "provd-sol: sol_read: %s\n", strerror((int) -k));
                rc = 8;
                break;
        }
        if (rc == 0)
                fprintf(stderr, "closed %" PRId64 "\n", elapsed());
        int64_t c0 = now_monotonic_ms();
        sol_close(s);
        int64_t close_ms = now_monotonic_ms() - c0;
        if (close_ms > 200)
                fprintf(stderr, "sol_close took %" PRId64 " ms\n", close_ms);
        sol_shutdown();
        return rc;
}
