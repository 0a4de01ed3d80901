/* sol.c — one Serial-over-LAN session to one BMC; see sol.h.
 *
 * ipmitool backend: `sh -c` runs `ipmitool -I lanplus -v -H h -p p -C c -N 1 -R r -E -U u
 * sol deactivate` and then execs `... sol activate` in a new session (posix_spawn, signals
 * reset), stdin/stdout on a raw pty, stderr on a pipe.  The password is only in the child's
 * environment (IPMI_PASSWORD, -E).  The banner "[SOL Session operational..." marks
 * "established" and is taken out of the stream; when the pty reads EIO the child is gone and
 * its stderr says why (table sol_ipmitool_errors).  sol_close() types "~." (ipmitool's
 * escape: it deactivates the payload and closes its RMCP+ session itself); only if it does not
 * exit within ~0.8 s is it killed and `sol deactivate` run in the background.
 *
 * libipmiconsole backend: ipmiconsole_engine_init(1 thread) once; per session
 * ipmiconsole_ctx_create() (admin privilege, the inventory's cipher suite and workaround
 * bits, session timeout = IpmiTarget's, keepalive = keepalive_ms or half the session timeout,
 * retransmission min(500 ms, keepalive/4)), engine flag OUTPUT_ON_SOL_ESTABLISHED (the NUL is
 * dropped), non-blocking ipmiconsole_engine_submit(), ipmiconsole_ctx_fd(); EOF on the fd ends
 * the session and ipmiconsole_ctx_errnum() says why (sol_ipmiconsole_errno()).
 *
 * INVESTIGATION: libipmiconsole (FreeIPMI 1.6.10) against ipmi_sim (OpenIPMI
 * 2.0.33), serial port = tests/integration/serial-standin.py (numbered lines, ground truth
 * log), measured with tests/tools/provd-sol; "ok" = every line sent during the session
 * arrived, in order, until the end.
 *   - Workarounds solchannelsupport (else Get Channel Payload Support crashes the simulator),
 *     solpayloadsize and opensesspriv are needed to reach "established".
 *   - 8 s sessions, 20 lines/s continuous: 10/10 ok with session timeout 5 s / keepalive
 *     2.5 s, 10/10 ok with libipmiconsole's defaults (60 s / 20 s); 400 lines/s (~15 KB/s):
 *     8/8 ok.  A serial port that connects 8 s after activation (a VM's): ok (1/1).
 *   - 25 s sessions, 20 lines/s continuous: 4/4 ok.
 *   - 40 s sessions, 20 lines/s continuous: 0/4 (and 0/3 in earlier 38-40 s runs): the
 *     stream stops 29.6-30.0 s after activation, then "session timeout" (ETIMEDOUT).  Packet
 *     dump: SOL data and ACKs flow normally to the last packet; no NACK; then silence; the 2
 *     keepalives sent after it are never answered.  Cause: ipmi_sim expires an RMCP+ session
 *     ~30 s after the last IPMI *message* — SOL payload packets do not count — while
 *     libipmiconsole sends its keepalive (Get Channel Payload Version) only when nothing has
 *     been received for keepalive_timeout_len, i.e. never while the console is busy.
 *     ipmitool sends a Get Device ID keepalive every ~30 s whatever the traffic, so it
 *     streams indefinitely.
 *   - 45 s sessions with output in bursts (5 s on / 4 s off, 20 lines/s): 2/2 ok — the
 *     keepalive fires in the pauses and refreshes the simulator's session.
 *   - Engine flags SERIAL_KEEPALIVE / SERIAL_KEEPALIVE_EMPTY: no change (they too fire only
 *     when idle); neither detects a `sol deactivate` from another client (the simulator
 *     keeps answering the old session).  No libipmiconsole setting sends keepalives under
 *     traffic, so no configuration streams reliably from ipmi_sim: use the ipmitool backend
 *     for it.  The "empty SOL packet NACKed" stall reported for ipmi_sim was not reproduced with the
 *     stand-in (none of the 35 sessions shorter than 30 s stalled); it may be this same 30 s
 *     limit under a VM's continuous boot output.
 *   - Against ipmi_sim either backend: a `sol deactivate` from another client is NOT seen
 *     (the stream stops, the session stays up); a killed/restarted simulator is seen as
 *     ETIMEDOUT (libipmiconsole: within the session timeout, ~4-8 s; ipmitool: at its next
 *     keepalive, 3-40 s).  No `sol` line: ipmitool EOPNOTSUPP ("Invalid command"),
 *     libipmiconsole EIO ("BMC Error").
 */
#include "sol.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <pty.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <ipmiconsole.h>

#include "util.h"

extern char **environ;

#define SOL_LABEL_MAX (IPMI_TARGET_HOST_MAX + 8)
#define SOL_STDERR_MAX 4096 /* ipmitool's stderr kept for the message */
#define SOL_PENDING_MAX 512 /* ipmitool stdout held back until its banner is seen */

/* ipmitool prints this on stdout once the BMC has activated the payload (ipmitool 1.8.19,
 * lib/ipmi_sol.c ipmi_sol_activate(): "[SOL Session operational.  Use %c? for help]\r\n"). */
static const char sol_ipmitool_banner[] = "[SOL Session operational.";

struct SolSession {
        SolBackend backend;
        char label[SOL_LABEL_MAX]; /* "host:port" for messages */
        bool established;
        bool ended;
        int status;                /* why it ended (negative errno), once ended */
        char message[IPMI_ERROR_MAX];

        /* SOL_BACKEND_IPMITOOL */
        pid_t pid;     /* the child (sh, then ipmitool exec'd by it); 0 once reaped */
        int pty;       /* master side: the child's stdin and stdout */
        int errfd;     /* read end of the child's stderr */
        char errbuf[SOL_STDERR_MAX];
        size_t errlen;
        char pending[SOL_PENDING_MAX]; /* stdout before the banner, or after it not yet read */
        size_t pending_len;
        size_t pending_off;
        int64_t started_ms;
        char ipmitool[4096];       /* resolved binary, for the deactivate of sol_close() */
        char *argv_store[32];      /* the common ipmitool arguments (strings owned here) */
        size_t argc_store;
        char password_env[64];     /* "IPMI_PASSWORD=..." (secret), wiped in sol_close() */

        /* SOL_BACKEND_IPMICONSOLE */
        ipmiconsole_ctx_t ctx;
        int fd;
        bool saw_first_byte;
};

const char *sol_backend_to_string(SolBackend b) {
        static const char *const names[_SOL_BACKEND_MAX] = {
                [SOL_BACKEND_NONE] = "none",
                [SOL_BACKEND_IPMICONSOLE] = "ipmiconsole",
                [SOL_BACKEND_IPMITOOL] = "ipmitool",
        };
        return (unsigned) b < _SOL_BACKEND_MAX ? names[b] : "unknown";
}

int sol_backend_from_string(const char *s, SolBackend *ret) {
        for (int b = 0; b < _SOL_BACKEND_MAX; b++)
                if (s && streq(s, sol_backend_to_string((SolBackend) b))) {
                        *ret = (SolBackend) b;
                        return 0;
                }
        return -EINVAL;
}

/* ipmiconsole(8) "WORKAROUNDS" (FreeIPMI 1.6.10) -> IPMICONSOLE_WORKAROUND_* of
 * <ipmiconsole.h>.  "nochecksumcheck" and "none" are ipmi_workaround_parse_one() names
 * (freeipmi.conf(5)) that ipmiconsole(8) does not list; libipmiconsole has the bit, so they
 * map too. */
static const struct {
        const char *name;
        unsigned flags;
} sol_workaround_table[] = {
        { "none", 0 },
        { "authcap", IPMICONSOLE_WORKAROUND_AUTHENTICATION_CAPABILITIES },
        { "intel20", IPMICONSOLE_WORKAROUND_INTEL_2_0_SESSION },
        { "supermicro20", IPMICONSOLE_WORKAROUND_SUPERMICRO_2_0_SESSION },
        /* ipmiconsole(8): sun20 "automatically includes the opensesspriv workaround" */
        { "sun20", IPMICONSOLE_WORKAROUND_SUN_2_0_SESSION | IPMICONSOLE_WORKAROUND_OPEN_SESSION_PRIVILEGE },
        { "opensesspriv", IPMICONSOLE_WORKAROUND_OPEN_SESSION_PRIVILEGE },
        { "integritycheckvalue", IPMICONSOLE_WORKAROUND_NON_EMPTY_INTEGRITY_CHECK_VALUE },
        { "nochecksumcheck", IPMICONSOLE_WORKAROUND_NO_CHECKSUM_CHECK },
        { "solpayloadsize", IPMICONSOLE_WORKAROUND_IGNORE_SOL_PAYLOAD_SIZE },
        { "solport", IPMICONSOLE_WORKAROUND_IGNORE_SOL_PORT },
        { "solstatus", IPMICONSOLE_WORKAROUND_SKIP_SOL_ACTIVATION_STATUS },
        { "solchannelsupport", IPMICONSOLE_WORKAROUND_SKIP_CHANNEL_PAYLOAD_SUPPORT },
        { "serialalertsdeferred", IPMICONSOLE_WORKAROUND_SERIAL_ALERTS_DEFERRED },
        { "solpacketseq", IPMICONSOLE_WORKAROUND_INCREMENT_SOL_PACKET_SEQUENCE },
};

int sol_workaround_parse_one(SolBackend b, const char *name, unsigned *flags, char *err, size_t errlen) {
        for (size_t i = 0; i < ELEMENTSOF(sol_workaround_table); i++) {
                if (!streq(name, sol_workaround_table[i].name))
                        continue;
                if (b == SOL_BACKEND_IPMICONSOLE)
                        *flags |= sol_workaround_table[i].flags;
                return 0;
        }
        return errbuf_fail(-EINVAL, err, errlen,
                        "unknown workaround '%.64s' (known: authcap, intel20, supermicro20, sun20, "
                        "opensesspriv, integritycheckvalue, nochecksumcheck, solpayloadsize, solport, "
                        "solstatus, solchannelsupport, serialalertsdeferred, solpacketseq, none)",
                        name);
}

/* ---- process-wide state: the libipmiconsole engine, background children ----------------- */

static pthread_mutex_t sol_lock = PTHREAD_MUTEX_INITIALIZER;
static bool sol_engine_up;
static pid_t *sol_children; /* background `sol deactivate` runs not yet reaped */
static size_t sol_n_children;

int sol_init(void) {
        int r = 0;
        pthread_mutex_lock(&sol_lock);
        if (!sol_engine_up) {
                /* One engine thread is plenty: it multiplexes every session with poll(). */
                if (ipmiconsole_engine_init(1, 0) < 0)
                        r = -EIO;
                else
                        sol_engine_up = true;
        }
        pthread_mutex_unlock(&sol_lock);
        return r;
}

static void sol_reap_locked(bool block) {
        size_t j = 0;
        for (size_t i = 0; i < sol_n_children; i++) {
                pid_t p = waitpid(sol_children[i], NULL, block ? 0 : WNOHANG);
                if (p == 0)
                        sol_children[j++] = sol_children[i];
        }
        sol_n_children = j;
}

void sol_reap(void) {
        pthread_mutex_lock(&sol_lock);
        sol_reap_locked(false);
        pthread_mutex_unlock(&sol_lock);
}

void sol_shutdown(void) {
        pthread_mutex_lock(&sol_lock);
        if (sol_engine_up) {
                /* 1: sessions still being torn down (closed contexts) are deactivated cleanly;
                 * bounded by their session timeout. */
                ipmiconsole_engine_teardown(1);
                sol_engine_up = false;
        }
        /* Background deactivates run with a short ipmitool timeout (~3 s); give them 1 s,
         * then end them. */
        for (int i = 0; i < 100 && sol_n_children > 0; i++) {
                sol_reap_locked(false);
                if (sol_n_children > 0) {
                        pthread_mutex_unlock(&sol_lock);
                        usleep(10 * 1000);
                        pthread_mutex_lock(&sol_lock);
                }
        }
        for (size_t i = 0; i < sol_n_children; i++)
                kill(-sol_children[i], SIGKILL);
        sol_reap_locked(true);
        free(sol_children);
        sol_children = NULL;
        pthread_mutex_unlock(&sol_lock);
}

static void sol_child_add(pid_t pid) {
        pthread_mutex_lock(&sol_lock);
        pid_t *n = realloc(sol_children, (sol_n_children + 1) * sizeof *n);
        if (n) {
                sol_children = n;
                sol_children[sol_n_children++] = pid;
        } else {
                /* cannot track it: reap it the slow way (bounded by ipmitool's -N/-R) */
                pthread_mutex_unlock(&sol_lock);
                waitpid(pid, NULL, 0);
                return;
        }
        pthread_mutex_unlock(&sol_lock);
}

/* ---- the ipmitool backend ---------------------------------------------------------------- */

/* Finds `name` like execvp() would: a name with a '/' is taken as is, else each $PATH
 * directory (default /usr/local/bin:/usr/bin:/bin).  0 and the path in buf, or -ENOENT. */
static int sol_find_program(const char *name, char *buf, size_t len) {
        if (!name || !*name)
                return -ENOENT;
        if (strchr(name, '/')) {
                if (access(name, X_OK) < 0)
                        return -errno;
                snprintf(buf, len, "%s", name);
                return 0;
        }
        const char *path = getenv("PATH");
        if (!path || !*path)
                path = "/usr/local/bin:/usr/bin:/bin";
        while (*path) {
                size_t n = strcspn(path, ":");
                if (n > 0 && (size_t) snprintf(buf, len, "%.*s/%s", (int) n, path, name) < len) {
                        struct stat st;
                        if (stat(buf, &st) == 0 && S_ISREG(st.st_mode) && access(buf, X_OK) == 0)
                                return 0;
                }
                path += n;
                if (*path == ':')
                        path++;
        }
        return -ENOENT;
}

/* ipmitool's -N (seconds per try) and -R (retries) for a session timeout.  ipmitool 1.8.19
 * lanplus backs off by one second per retry; measured against an address with no BMC:
 * -N 1 -R 1 -> ~3 s, -N 1 -R 2 -> 6.0 s, the default -N 1 -R 4 -> 20.1 s. */
static unsigned sol_ipmitool_retries(unsigned timeout_ms) {
        if (timeout_ms <= 3000)
                return 1;
        if (timeout_ms <= 6000)
                return 2;
        if (timeout_ms <= 12000)
                return 3;
        return 4;
}

static int sol_add_arg(SolSession *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int sol_add_arg(SolSession *s, const char *fmt, ...) {
        if (s->argc_store + 1 >= ELEMENTSOF(s->argv_store))
                return -E2BIG;
        va_list ap;
        va_start(ap, fmt);
        char *a = NULL;
        int r = vasprintf(&a, fmt, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        s->argv_store[s->argc_store++] = a;
        return 0;
}

/* The environment of an ipmitool child: ours without any IPMI_PASSWORD, plus the target's
 * (ipmitool -E reads it; never on the command line, where ps(1) would show it).  The array
 * is malloc'ed; the strings are borrowed.  NULL on ENOMEM. */
static char **sol_child_env(SolSession *s) {
        size_t n = 0;
        for (char **e = environ; e && *e; e++)
                n++;
        char **env = calloc(n + 2, sizeof *env);
        if (!env)
                return NULL;
        size_t j = 0;
        for (char **e = environ; e && *e; e++)
                if (!startswith(*e, "IPMI_PASSWORD="))
                        env[j++] = *e;
        env[j++] = s->password_env;
        env[j] = NULL;
        return env;
}

/* Spawns `sh -c SCRIPT provd-sol IPMITOOL ARGS... EXTRA...` (or IPMITOOL ARGS... EXTRA...
 * directly when script is NULL) in a new session (process group = pid), signals reset,
 * with stdin/stdout on `io` (or /dev/null when io < 0) and stderr on `errfd` (or /dev/null).
 * posix_spawn: the child runs nothing but exec (provd is multi-threaded). */
static int sol_spawn(SolSession *s, const char *script, const char *const *extra, int io, int errfd,
                     pid_t *ret) {
        const char *argv[64];
        size_t a = 0;
        if (script) {
                argv[a++] = "/bin/sh";
                argv[a++] = "-c";
                argv[a++] = script;
                argv[a++] = "provd-sol";
        }
        argv[a++] = s->ipmitool;
        for (size_t i = 0; i < s->argc_store; i++)
                argv[a++] = s->argv_store[i];
        for (size_t i = 0; extra && extra[i]; i++)
                argv[a++] = extra[i];
        argv[a] = NULL;

        _cleanup_free_ char **env = sol_child_env(s);
        if (!env)
                return -ENOMEM;

        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        int r = posix_spawn_file_actions_init(&fa);
        if (r)
                return -r;
        r = posix_spawnattr_init(&attr);
        if (r) {
                posix_spawn_file_actions_destroy(&fa);
                return -r;
        }
        if (io >= 0) {
                posix_spawn_file_actions_adddup2(&fa, io, 0);
                posix_spawn_file_actions_adddup2(&fa, io, 1);
        } else {
                posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
                posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
        }
        if (errfd >= 0)
                posix_spawn_file_actions_adddup2(&fa, errfd, 2);
        else
                posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);

        /* provd blocks SIGTERM/SIGINT/SIGHUP in every thread and ignores SIGPIPE (server.c);
         * both survive exec, so the child gets an empty mask and default actions. */
        sigset_t none, defaults;
        sigemptyset(&none);
        sigemptyset(&defaults);
        sigaddset(&defaults, SIGPIPE);
        sigaddset(&defaults, SIGTERM);
        sigaddset(&defaults, SIGINT);
        sigaddset(&defaults, SIGHUP);
        sigaddset(&defaults, SIGCHLD);
        posix_spawnattr_setsigmask(&attr, &none);
        posix_spawnattr_setsigdefault(&attr, &defaults);
        /* its own session: no controlling terminal of ours, and kill(-pid) ends the shell and
         * the ipmitool it runs together */
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSID);

        pid_t pid;
        r = posix_spawn(&pid, argv[0], &fa, &attr, (char *const *) argv, env);
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&attr);
        if (r)
                return -r;
        *ret = pid;
        return 0;
}

/* Runs before `sol activate` in the same child: deactivates a payload left active by a
 * killed session (it stays busy until the BMC times it out).  If the deactivate
 * could not even open a session (no BMC, wrong password: its -v text says which), that text
 * is the answer and activate is not tried, so a dead BMC costs one timeout, not two. */
static const char sol_ipmitool_script[] =
        "i=$1; shift\n"
        "e=$(\"$i\" \"$@\" sol deactivate 2>&1 </dev/null >/dev/null)\n"
        "case $e in *'Unable to establish'*|*'Address lookup'*|*'Could not open socket'*)\n"
        "  printf '%s\\n' \"$e\" >&2; exit 1;;\n"
        "esac\n"
        "exec \"$i\" \"$@\" sol activate\n";

static int sol_open_ipmitool(const SolTarget *t, SolSession *s, char *err, size_t errlen) {
        int r = sol_find_program(t->ipmitool ? t->ipmitool : "ipmitool", s->ipmitool, sizeof s->ipmitool);
        if (r < 0)
                return errbuf_fail(r == -EACCES ? -EACCES : -ENOENT, err, errlen,
                                "SOL to BMC %s: ipmitool binary '%s' not found or not executable",
                                s->label, t->ipmitool ? t->ipmitool : "ipmitool");

        unsigned timeout = t->ipmi.session_timeout_ms ? t->ipmi.session_timeout_ms : IPMI_TIMEOUT_DEFAULT_MS;
        /* -v: the reason a session cannot be opened ("RAKP 2 HMAC is invalid", "Get Auth
         * Capabilities error"); without it every failure is "Unable to establish IPMI v2 /
         * RMCP+ session".  It only adds lines to stderr. */
        if (sol_add_arg(s, "-I") < 0 || sol_add_arg(s, "lanplus") < 0 || sol_add_arg(s, "-v") < 0 ||
            sol_add_arg(s, "-H") < 0 || sol_add_arg(s, "%s", t->ipmi.host) < 0 ||
            sol_add_arg(s, "-p") < 0 ||
            sol_add_arg(s, "%u", t->ipmi.port ? t->ipmi.port : IPMI_PORT_DEFAULT) < 0 ||
            sol_add_arg(s, "-C") < 0 ||
            sol_add_arg(s, "%u", t->ipmi.cipher_suite ? t->ipmi.cipher_suite : IPMI_CIPHER_SUITE_DEFAULT) < 0 ||
            sol_add_arg(s, "-N") < 0 || sol_add_arg(s, "1") < 0 || sol_add_arg(s, "-R") < 0 ||
            sol_add_arg(s, "%u", sol_ipmitool_retries(timeout)) < 0 || sol_add_arg(s, "-E") < 0)
                return errbuf_fail(-ENOMEM, err, errlen, "out of memory");
        if (t->ipmi.user[0] && (sol_add_arg(s, "-U") < 0 || sol_add_arg(s, "%s", t->ipmi.user) < 0))
                return errbuf_fail(-ENOMEM, err, errlen, "out of memory");
        snprintf(s->password_env, sizeof s->password_env, "IPMI_PASSWORD=%s", t->ipmi.password);

        /* The pty: raw, so ipmitool's output reaches us byte for byte (its own raw mode is set
         * only after the banner). */
        struct termios tio;
        memset(&tio, 0, sizeof tio);
        cfmakeraw(&tio);
        int master = -1, slave = -1;
        if (openpty(&master, &slave, NULL, &tio, NULL) < 0)
                return errbuf_fail(-errno, err, errlen, "SOL to BMC %s: openpty: %m", s->label);
        s->pty = master;
        _cleanup_close_ int slave_fd = slave; /* closed here once the child has its copy */
        int fl = fcntl(master, F_GETFL);
        if (fl < 0 || fcntl(master, F_SETFL, fl | O_NONBLOCK) < 0 || fcntl(master, F_SETFD, FD_CLOEXEC) < 0 ||
            fcntl(slave_fd, F_SETFD, FD_CLOEXEC) < 0)
                return errbuf_fail(-errno, err, errlen, "SOL to BMC %s: fcntl: %m", s->label);

        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
                return errbuf_fail(-errno, err, errlen, "SOL to BMC %s: pipe: %m", s->label);
        s->errfd = p[0];
        _cleanup_close_ int errw = p[1];
        fl = fcntl(s->errfd, F_GETFL);
        if (fl < 0 || fcntl(s->errfd, F_SETFL, fl | O_NONBLOCK) < 0)
                return errbuf_fail(-errno, err, errlen, "SOL to BMC %s: fcntl: %m", s->label);

        s->started_ms = now_monotonic_ms();
        r = sol_spawn(s, sol_ipmitool_script, NULL, slave_fd, errw, &s->pid);
        if (r < 0)
                return errbuf_fail(r, err, errlen, "SOL to BMC %s: cannot start %s: %s", s->label,
                                s->ipmitool, strerror(-r));
        return 0;
}

/* Reads what is in the stderr pipe now (non-blocking); keeps the first SOL_STDERR_MAX bytes. */
static void sol_ipmitool_drain_stderr(SolSession *s) {
        char buf[1024];
        for (;;) {
                ssize_t n = read(s->errfd, buf, sizeof buf);
                if (n <= 0)
                        return;
                size_t room = sizeof s->errbuf - 1 - s->errlen;
                size_t k = (size_t) n < room ? (size_t) n : room;
                memcpy(s->errbuf + s->errlen, buf, k);
                s->errlen += k;
                s->errbuf[s->errlen] = '\0';
        }
}

/* ipmitool's error texts (ipmitool 1.8.19: src/plugins/lanplus/lanplus.c, lib/ipmi_sol.c;
 * checked against ipmi_sim 2.0.33 where noted) -> errno.  First match wins: the specific
 * texts come before the generic "Unable to establish IPMI v2 / RMCP+ session". */
static const struct {
        const char *text;
        int errnum;
} sol_ipmitool_errors[] = {
        /* RAKP 2 check failed: wrong password (seen with ipmi_sim) */
        { "RAKP 2 HMAC is invalid", -EACCES },
        /* RAKP 2 status 0x0d: unknown user (seen with ipmi_sim) */
        { "unauthorized name", -EACCES },
        { "unauthorized role or privilege", -EACCES },
        { "invalid role", -EACCES },
        { "insufficient privilege", -EACCES },
        { "Insufficient privilege", -EACCES },
        { "RAKP 4 message has invalid integrity check", -EACCES },
        /* Open Session status codes for a cipher suite the BMC lacks (ipmi_sim with -C 17) */
        { "invalid authentication algorithm", -EOPNOTSUPP },
        { "invalid integrity algorithm", -EOPNOTSUPP },
        { "invalid confidentiality algorithm", -EOPNOTSUPP },
        { "no matching cipher suite", -EOPNOTSUPP },
        { "no Cipher Suite match", -EOPNOTSUPP },
        /* Activate Payload completion codes 80h-84h (IPMI v2.0 §24.1) */
        { "SOL payload already active on another session", -EBUSY },
        { "SOL payload activation limit reached", -EBUSY },
        { "SOL payload disabled", -EOPNOTSUPP },
        { "cannot activate SOL payload with encryption", -EOPNOTSUPP },
        { "cannot activate SOL payload without encryption", -EOPNOTSUPP },
        /* any other completion code; ipmi_sim without a `sol` line answers C1h: "Invalid
         * command" */
        { "Error activating SOL payload: Invalid command", -EOPNOTSUPP },
        { "Error activating SOL payload: Invalid data field", -EOPNOTSUPP },
        { "Error activating SOL payload: Node busy", -EBUSY },
        { "BMC requests SOL session on different port", -EOPNOTSUPP },
        { "insufficient resources for session", -EBUSY },
        /* the session ended after it was up */
        { "SOL session closed by BMC", -ECONNRESET },
        { "No response to keepalive", -ETIMEDOUT },
        /* no BMC: the first request of the session is never answered (seen: no address) */
        { "Get Auth Capabilities error", -ETIMEDOUT },
        { "No response activating SOL payload", -ETIMEDOUT },
        { "Unable to establish IPMI v2 / RMCP+ session", -ETIMEDOUT },
};

/* The ipmitool child has ended (or is ending): reap it (bounded), read the rest of its
 * stderr, classify. */
static void sol_ipmitool_finish(SolSession *s) {
        int st = 0;
        bool reaped = false;
        for (int i = 0; i < 100 && s->pid > 0; i++) { /* EIO on the pty: it is exiting */
                pid_t p = waitpid(s->pid, &st, WNOHANG);
                if (p == s->pid || (p < 0 && errno == ECHILD)) {
                        reaped = p == s->pid;
                        s->pid = 0;
                        break;
                }
                usleep(10 * 1000);
        }
        if (s->pid > 0) { /* the shell or ipmitool hangs on with the pty closed: end it */
                kill(-s->pid, SIGKILL);
                if (waitpid(s->pid, &st, 0) == s->pid)
                        reaped = true;
                s->pid = 0;
        }
        sol_ipmitool_drain_stderr(s);

        /* the last non-informational stderr line, for the message */
        char line[256] = "";
        for (char *p = s->errbuf; *p;) {
                size_t n = strcspn(p, "\r\n");
                if (n > 0 && !startswith(p, "Loading IANA") && !startswith(p, "tcgetattr") &&
                    !startswith(p, "Running Get VSO") && !startswith(p, "Discovered IPMB") &&
                    !startswith(p, "Invalid completion code received: Invalid command"))
                        snprintf(line, sizeof line, "%.*s", (int) n, p);
                p += n;
                p += strspn(p, "\r\n");
        }

        s->status = 0;
        for (size_t i = 0; i < ELEMENTSOF(sol_ipmitool_errors); i++)
                if (strstr(s->errbuf, sol_ipmitool_errors[i].text)) {
                        s->status = sol_ipmitool_errors[i].errnum;
                        snprintf(line, sizeof line, "%s", sol_ipmitool_errors[i].text);
                        break;
                }
        if (s->status == 0) {
                if (reaped && WIFEXITED(st) && WEXITSTATUS(st) == 0)
                        s->status = -ECONNRESET; /* ended without an error: the payload went away */
                else
                        s->status = -EIO;
        }
        char how[64];
        if (reaped && WIFEXITED(st))
                snprintf(how, sizeof how, "exit status %d", WEXITSTATUS(st));
        else if (reaped && WIFSIGNALED(st))
                snprintf(how, sizeof how, "killed by signal %d", WTERMSIG(st));
        else
                snprintf(how, sizeof how, "ended");
        snprintf(s->message, sizeof s->message, "SOL to BMC %s (ipmitool) %s: %s (%s)", s->label,
                 s->established ? "ended" : "failed", line[0] ? line : "no error text", how);
        s->ended = true;
}

/* Takes the banner out of the stream: until it is seen, stdout bytes collect in pending. */
static void sol_ipmitool_scan_banner(SolSession *s) {
        char *b = memmem(s->pending, s->pending_len, sol_ipmitool_banner, sizeof sol_ipmitool_banner - 1);
        if (b) {
                char *nl = memchr(b, '\n', s->pending_len - (size_t) (b - s->pending));
                if (!nl)
                        return; /* the rest of the banner line is still to come */
                s->established = true;
                s->pending_off = (size_t) (nl + 1 - s->pending);
                return;
        }
        if (s->pending_len == sizeof s->pending) {
                /* no banner in 512 bytes: pass it on as console output */
                s->established = true;
                s->pending_off = 0;
        }
}

static ssize_t sol_read_ipmitool(SolSession *s, void *buf, size_t len) {
        sol_ipmitool_drain_stderr(s);
        for (;;) {
                if (s->established && s->pending_off < s->pending_len) {
                        size_t n = s->pending_len - s->pending_off;
                        if (n > len)
                                n = len;
                        memcpy(buf, s->pending + s->pending_off, n);
                        s->pending_off += n;
                        if (s->pending_off == s->pending_len)
                                s->pending_off = s->pending_len = 0;
                        return (ssize_t) n;
                }
                ssize_t n;
                if (s->established)
                        n = read(s->pty, buf, len);
                else
                        n = read(s->pty, s->pending + s->pending_len, sizeof s->pending - s->pending_len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        return -EAGAIN;
                if (n <= 0) { /* EIO: every slave fd is closed, the child is gone */
                        sol_ipmitool_finish(s);
                        return 0;
                }
                if (s->established)
                        return n;
                s->pending_len += (size_t) n;
                sol_ipmitool_scan_banner(s);
                if (!s->established)
                        return -EAGAIN;
        }
}

/* Ends the child: "~." (ipmitool's escape: it deactivates the payload and closes its
 * session itself), up to ~0.8 s for it to do so, else SIGKILL to the group and a
 * background `sol deactivate` (a killed session keeps the payload busy). */
static void sol_close_ipmitool(SolSession *s) {
        if (s->pid > 0) {
                bool clean = false;
                if (s->established && !s->ended)
                        (void) !write(s->pty, "~.", 2);
                else
                        kill(-s->pid, SIGTERM);
                for (int i = 0; i < 80; i++) {
                        int st;
                        pid_t p = waitpid(s->pid, &st, WNOHANG);
                        if (p == s->pid || (p < 0 && errno == ECHILD)) {
                                clean = p == s->pid && WIFEXITED(st) && WEXITSTATUS(st) == 0 && s->established;
                                s->pid = 0;
                                break;
                        }
                        usleep(10 * 1000);
                }
                if (s->pid > 0) {
                        kill(-s->pid, SIGKILL);
                        waitpid(s->pid, NULL, 0);
                        s->pid = 0;
                }
                if (!clean) {
                        /* -R 1: ~3 s against a dead BMC; reaped by sol_reap() */
                        bool ok = true;
                        for (size_t i = 0; i + 1 < s->argc_store; i++)
                                if (streq(s->argv_store[i], "-R")) {
                                        char *one = strdup("1");
                                        if (!one) {
                                                ok = false;
                                                break;
                                        }
                                        free(s->argv_store[i + 1]);
                                        s->argv_store[i + 1] = one;
                                }
                        static const char *const deactivate[] = { "sol", "deactivate", NULL };
                        pid_t pid;
                        if (ok && sol_spawn(s, NULL, deactivate, -1, -1, &pid) == 0)
                                sol_child_add(pid);
                }
        }
}

/* ---- the libipmiconsole backend -------------------------------------------------------- */

/* ipmiconsole_ctx_errnum() (FreeIPMI 1.6.10 <ipmiconsole.h>) -> errno. */
static int sol_ipmiconsole_errno(int e) {
        switch (e) {
        case IPMICONSOLE_ERR_SOL_UNAVAILABLE:
        case IPMICONSOLE_ERR_SOL_REQUIRES_ENCRYPTION:
        case IPMICONSOLE_ERR_SOL_REQUIRES_NO_ENCRYPTION:
        case IPMICONSOLE_ERR_IPMI_2_0_UNAVAILABLE:
        case IPMICONSOLE_ERR_CIPHER_SUITE_ID_UNAVAILABLE:
                return -EOPNOTSUPP;
        case IPMICONSOLE_ERR_USERNAME_INVALID:
        case IPMICONSOLE_ERR_PASSWORD_INVALID:
        case IPMICONSOLE_ERR_K_G_INVALID:
        case IPMICONSOLE_ERR_PRIVILEGE_LEVEL_INSUFFICIENT:
        case IPMICONSOLE_ERR_PRIVILEGE_LEVEL_CANNOT_BE_OBTAINED:
                return -EACCES;
        case IPMICONSOLE_ERR_SOL_INUSE:
        case IPMICONSOLE_ERR_SOL_STOLEN:
        case IPMICONSOLE_ERR_BMC_BUSY:
                return -EBUSY;
        case IPMICONSOLE_ERR_CONNECTION_TIMEOUT:
        case IPMICONSOLE_ERR_SESSION_TIMEOUT:
        case IPMICONSOLE_ERR_EXCESS_RETRANSMISSIONS_SENT:
                return -ETIMEDOUT;
        case IPMICONSOLE_ERR_EXCESS_ERRORS_RECEIVED:
                return -ECONNRESET;
        case IPMICONSOLE_ERR_OUT_OF_MEMORY:
                return -ENOMEM;
        case IPMICONSOLE_ERR_TOO_MANY_OPEN_FILES:
                return -EMFILE;
        default:
                return -EIO;
        }
}

static int sol_open_ipmiconsole(const SolTarget *t, SolSession *s, char *err, size_t errlen) {
        int r = sol_init();
        if (r < 0)
                return errbuf_fail(r, err, errlen, "SOL to BMC %s: cannot start the libipmiconsole engine", s->label);

        char host[SOL_LABEL_MAX];
        /* libipmiconsole takes "host:port" and "[v6]:port" */
        ipmi_target_label(&t->ipmi, host, sizeof host);
        char user[IPMI_TARGET_USER_MAX], password[IPMI_TARGET_PASSWORD_MAX];
        snprintf(user, sizeof user, "%s", t->ipmi.user);
        snprintf(password, sizeof password, "%s", t->ipmi.password);

        unsigned timeout = t->ipmi.session_timeout_ms ? t->ipmi.session_timeout_ms : IPMI_TIMEOUT_DEFAULT_MS;
        struct ipmiconsole_ipmi_config ic = {
                .username = user,
                .password = password,
                .k_g = NULL,
                .k_g_len = 0,
                /* ipmiconsole(8)'s default; SOL activation usually needs more than user */
                .privilege_level = IPMICONSOLE_PRIVILEGE_ADMIN,
                .cipher_suite_id = t->ipmi.cipher_suite ? t->ipmi.cipher_suite : IPMI_CIPHER_SUITE_DEFAULT,
                .workaround_flags = t->workarounds,
        };
        /* libipmiconsole refuses (EINVAL) a retransmission interval above the keepalive
         * interval, or either above the session timeout (ipmiconsole_ctx_config_setup()). */
        unsigned keepalive = t->keepalive_ms ? t->keepalive_ms : timeout / 2;
        if (keepalive > timeout)
                keepalive = timeout;
        if (keepalive < 100)
                keepalive = 100;
        unsigned retrans = keepalive / 4 < 500 ? keepalive / 4 : 500;
        unsigned retrans_keepalive = keepalive / 2 < 5000 ? keepalive / 2 : 5000;
        struct ipmiconsole_protocol_config pc = {
                .session_timeout_len = (int) (timeout > keepalive ? timeout : keepalive),
                .retransmission_timeout_len = (int) retrans,
                .retransmission_backoff_count = -1,
                .keepalive_timeout_len = (int) keepalive,
                .retransmission_keepalive_timeout_len = (int) retrans_keepalive,
                .acceptable_packet_errors_count = -1,
                .maximum_retransmission_count = -1,
        };
        struct ipmiconsole_engine_config ec = {
                /* a NUL on the fd when the payload is active: wakes the poller, marks
                 * established, and is dropped by sol_read() */
                .engine_flags = IPMICONSOLE_ENGINE_OUTPUT_ON_SOL_ESTABLISHED,
                .behavior_flags = 0, /* take the payload over from a stale session */
                .debug_flags = 0,
        };
        if (getenv("PROVD_SOL_DEBUG")) /* tests/tools/provd-sol --debug */
                ec.debug_flags = IPMICONSOLE_DEBUG_STDERR | IPMICONSOLE_DEBUG_IPMI_PACKETS;
        if (getenv("PROVD_SOL_ENGINE_FLAGS"))
                ec.engine_flags |= (unsigned) strtoul(getenv("PROVD_SOL_ENGINE_FLAGS"), NULL, 0);

        errno = 0;
        s->ctx = ipmiconsole_ctx_create(host, &ic, &pc, &ec);
        explicit_bzero(password, sizeof password);
        if (!s->ctx) {
                int e = errno;
                if (e == ENOMEM || e == EMFILE)
                        return errbuf_fail(-e, err, errlen, "SOL to BMC %s: %s", s->label, strerror(e));
                return errbuf_fail(-EINVAL, err, errlen, "SOL to BMC %s: libipmiconsole refused the target: %s",
                                s->label, strerror(e ? e : EINVAL));
        }
        if (ipmiconsole_engine_submit(s->ctx, NULL, NULL) < 0) {
                int e = ipmiconsole_ctx_errnum(s->ctx);
                int rr = sol_ipmiconsole_errno(e);
                if (e == IPMICONSOLE_ERR_HOSTNAME_INVALID || e == IPMICONSOLE_ERR_PARAMETERS)
                        rr = -EINVAL;
                return errbuf_fail(rr, err, errlen, "SOL to BMC %s: %s", s->label, ipmiconsole_ctx_errormsg(s->ctx));
        }
        s->fd = ipmiconsole_ctx_fd(s->ctx);
        if (s->fd < 0)
                return errbuf_fail(-EIO, err, errlen, "SOL to BMC %s: %s", s->label, ipmiconsole_ctx_errormsg(s->ctx));
        int fl = fcntl(s->fd, F_GETFL);
        if (fl < 0 || fcntl(s->fd, F_SETFL, fl | O_NONBLOCK) < 0 || fcntl(s->fd, F_SETFD, FD_CLOEXEC) < 0)
                return errbuf_fail(-errno, err, errlen, "SOL to BMC %s: fcntl: %m", s->label);
        return 0;
}

static void sol_ipmiconsole_finish(SolSession *s) {
        int e = ipmiconsole_ctx_errnum(s->ctx);
        if (e == IPMICONSOLE_ERR_SUCCESS)
                s->status = -ECONNRESET; /* EOF with no error recorded: the session went away */
        else
                s->status = sol_ipmiconsole_errno(e);
        snprintf(s->message, sizeof s->message, "SOL to BMC %s (libipmiconsole) %s: %s", s->label,
                 s->established ? "ended" : "failed",
                 e == IPMICONSOLE_ERR_SUCCESS ? "session closed" : ipmiconsole_ctx_errormsg(s->ctx));
        s->ended = true;
}

static ssize_t sol_read_ipmiconsole(SolSession *s, void *buf, size_t len) {
        for (;;) {
                ssize_t n = read(s->fd, buf, len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        return -EAGAIN;
                if (n <= 0) {
                        sol_ipmiconsole_finish(s);
                        return 0;
                }
                if (!s->saw_first_byte) {
                        s->saw_first_byte = true;
                        s->established = true;
                        if (((char *) buf)[0] == '\0') { /* OUTPUT_ON_SOL_ESTABLISHED's NUL */
                                memmove(buf, (char *) buf + 1, (size_t) n - 1);
                                n--;
                                if (n == 0)
                                        continue;
                        }
                }
                return n;
        }
}

/* ---- common ------------------------------------------------------------------------------- */

int sol_open(const SolTarget *t, SolSession **ret, char *err, size_t errlen) {
        if (!t || !t->ipmi.host[0])
                return errbuf_fail(-EINVAL, err, errlen, "SOL: no BMC host");
        if (t->backend != SOL_BACKEND_IPMICONSOLE && t->backend != SOL_BACKEND_IPMITOOL)
                return errbuf_fail(-EINVAL, err, errlen, "SOL: backend '%s' cannot open a session",
                                sol_backend_to_string(t->backend));
        SolSession *s = calloc(1, sizeof *s);
        if (!s)
                return errbuf_fail(-ENOMEM, err, errlen, "out of memory");
        s->backend = t->backend;
        s->pty = s->errfd = s->fd = -1;
        ipmi_target_label(&t->ipmi, s->label, sizeof s->label);
        int r = t->backend == SOL_BACKEND_IPMITOOL ? sol_open_ipmitool(t, s, err, errlen)
                                                   : sol_open_ipmiconsole(t, s, err, errlen);
        if (r < 0) {
                sol_close(s);
                return r;
        }
        *ret = s;
        return 0;
}

int sol_fd(SolSession *s) {
        return s->backend == SOL_BACKEND_IPMITOOL ? s->pty : s->fd;
}

bool sol_established(SolSession *s) {
        if (!s->established && s->backend == SOL_BACKEND_IPMICONSOLE && s->ctx &&
            ipmiconsole_ctx_status(s->ctx) == IPMICONSOLE_CTX_STATUS_SOL_ESTABLISHED)
                s->established = true;
        return s->established;
}

ssize_t sol_read(SolSession *s, void *buf, size_t len) {
        if (s->ended)
                return 0;
        if (len == 0)
                return -EAGAIN;
        return s->backend == SOL_BACKEND_IPMITOOL ? sol_read_ipmitool(s, buf, len)
                                                  : sol_read_ipmiconsole(s, buf, len);
}

int sol_status(SolSession *s, char *err, size_t errlen) {
        if (!s->ended) {
                if (err && errlen)
                        err[0] = '\0';
                return 0;
        }
        if (err && errlen)
                snprintf(err, errlen, "%s", s->message);
        return s->status;
}

void sol_close(SolSession *s) {
        if (!s)
                return;
        if (s->backend == SOL_BACKEND_IPMITOOL)
                sol_close_ipmitool(s);
        if (s->pty >= 0)
                close(s->pty);
        if (s->errfd >= 0)
                close(s->errfd);
        if (s->fd >= 0)
                close(s->fd); /* libipmiconsole: closing the fd ends the session in the engine */
        if (s->ctx)
                ipmiconsole_ctx_destroy(s->ctx); /* garbage-collected by the engine: no wait */
        for (size_t i = 0; i < s->argc_store; i++)
                free(s->argv_store[i]);
        explicit_bzero(s->password_env, sizeof s->password_env);
        free(s);
}
