/* console.c — see console.h. */
#include "console.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "capture-machine.h"
#include "ipmi.h"
#include "log.h"
#include "metrics.h"
#include "sol.h"
#include "util.h"

#define CONSOLE_MAX_SIZE_DEFAULT (16u * 1024 * 1024)
#define RAW_TAIL 16384                 /* raw bytes kept per capture for the history tail */
#define CHECK_INTERVAL_MS 3000         /* how often the nodes are looked up in the inventory */
#define PREPARED_MAX_MS (3600 * 1000)  /* a prepared attempt that never opens: give up */
#define POLL_MAX_MS 1000
#define READ_BUF 65536
#define READS_PER_ROUND 16

/* Work for the daemon, done by the capture thread without the console lock. */
typedef struct Job {
        char node[64];
        int64_t event_id; /* > 0: the tail for this history row; 0: a history note */
        char *text;       /* owned */
        struct Job *next;
} Job;

/* One node's capture.  Created by the observer and HTTP entry points, freed only by the thread.
 * Its lifecycle is two states from capture-machine.h's tables, phase and link; the rest is
 * data: the file (its size, the cap reached, a write error logged), the tail ring, timers. */
typedef struct Capture {
        char node[64];
        DaemonNodeBmc bmc;     /* as of the last start or check; no password */
        int64_t attempt;       /* the file: attempt number, 0 = live.log, -1 = none yet */
        CapturePhase phase;    /* which file, until when */
        CaptureLink link;      /* the SOL session's state */
        int64_t prepared_ms;   /* monotonic, when the file switched to an attempt's */
        int64_t deadline_ms;   /* monotonic; 0 = none (lingering, live: when the phase ends) */
        int64_t tail_event_id; /* > 0: put the tail in this history row at the end */
        int fd;                /* the log file, -1 when not open */
        uint64_t written;      /* its size */
        bool truncated;        /* the file reached the size cap (about the file, not the capture) */
        bool write_failed;     /* a write error on the file was logged (so it is logged once) */
        uint8_t *ring;    /* RAW_TAIL bytes, malloc'd at the first console byte; NULL before */
        size_t ring_pos;  /* next write position */
        uint64_t ring_total; /* bytes ever put in the ring */

        /* The session: only the thread touches s (and n_sessions under the lock). */
        SolSession *s;
        unsigned backoff_ms;
        int64_t next_open_ms; /* monotonic: backoff ends */
        int64_t last_note_ms; /* monotonic, 0 = never: the last loss noted in the history */
        struct Capture *next;
} Capture;

struct Console {
        Daemon *d; /* borrowed */
        char *dir; /* <state_dir>/console */
        char *ipmitool;
        uint64_t max_size;
        unsigned keep;
        unsigned linger_s;

        pthread_mutex_t lock; /* guards everything below but the thread's own fields */
        Capture *captures;
        ConsoleFollow *follows;
        Job *jobs, **jobs_tail;
        size_t n_sessions;
        bool stopping;

        int wake_fd; /* eventfd: the thread's doorbell */
        pthread_t thread;
        bool thread_started, stopped;
        uint64_t observer; /* daemon_subscribe()'s id, 0 when not subscribed */
};

/* ---- the tail: pure ------------------------------------------------------------------------ */

/* Length of a valid UTF-8 sequence at p (n bytes available) and its code point, or 0 if it
 * is not valid (RFC 3629 §4: no overlongs, no surrogates, nothing above U+10FFFF). */
static size_t utf8_decode(const uint8_t *p, size_t n, uint32_t *ret) {
        uint32_t cp;
        size_t len;
        if (p[0] < 0x80) {
                *ret = p[0];
                return 1;
        } else if (p[0] >= 0xc2 && p[0] <= 0xdf) {
                len = 2;
                cp = p[0] & 0x1f;
        } else if (p[0] >= 0xe0 && p[0] <= 0xef) {
                len = 3;
                cp = p[0] & 0x0f;
        } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
                len = 4;
                cp = p[0] & 0x07;
        } else
                return 0;
        if (n < len)
                return 0;
        for (size_t i = 1; i < len; i++) {
                if ((p[i] & 0xc0) != 0x80)
                        return 0;
                cp = (cp << 6) | (p[i] & 0x3f);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
                return 0;
        *ret = cp;
        return len;
}

/* Skips the escape sequence starting at buf[i] == ESC (ECMA-48 §5.4: CSI = ESC [ params
 * intermediates final; OSC/DCS/SOS/PM/APC strings end with BEL or ST = ESC \; other
 * sequences: intermediates 0x20-0x2f then one final byte).  Returns the index after it. */
static size_t skip_escape(const uint8_t *buf, size_t len, size_t i) {
        i++; /* ESC */
        if (i >= len)
                return len;
        uint8_t c = buf[i++];
        if (c == '[') {
                while (i < len && buf[i] >= 0x30 && buf[i] <= 0x3f)
                        i++;
                while (i < len && buf[i] >= 0x20 && buf[i] <= 0x2f)
                        i++;
                if (i < len && buf[i] >= 0x40 && buf[i] <= 0x7e)
                        i++;
                return i;
        }
        if (c == ']' || c == 'P' || c == 'X' || c == '^' || c == '_') {
                while (i < len) {
                        if (buf[i] == 0x07)
                                return i + 1;
                        if (buf[i] == 0x1b && i + 1 < len && buf[i + 1] == '\\')
                                return i + 2;
                        if (buf[i] == 0x1b) /* a new sequence: the string was cut */
                                return i;
                        i++;
                }
                return len;
        }
        while (c >= 0x20 && c <= 0x2f && i < len)
                c = buf[i++];
        return i;
}

char *console_sanitize(const uint8_t *buf, size_t len, size_t max_lines, size_t max_bytes) {
        char *out = malloc(len * 3 + 1);
        size_t o = 0, i = 0;
        if (!out)
                return NULL;
        /* The buffer may start inside a character: its continuation bytes are not text. */
        while (i < len && i < 3 && (buf[i] & 0xc0) == 0x80)
                i++;
        while (i < len) {
                uint8_t c = buf[i];
                if (c == 0x1b) {
                        i = skip_escape(buf, len, i);
                        continue;
                }
                if (c == '\n' || c == '\t') {
                        out[o++] = (char) c;
                        i++;
                        continue;
                }
                if (c < 0x20 || c == 0x7f) {
                        i++;
                        continue;
                }
                uint32_t cp;
                size_t n = utf8_decode(buf + i, len - i, &cp);
                if (n == 0) {
                        memcpy(out + o, "\xef\xbf\xbd", 3); /* U+FFFD */
                        o += 3;
                        i++;
                        continue;
                }
                if (!(cp >= 0x80 && cp <= 0x9f)) { /* C1 controls go like C0 ones */
                        memcpy(out + o, buf + i, n);
                        o += n;
                }
                i += n;
        }
        /* Trailing blank lines and spaces. */
        while (o > 0 && (out[o - 1] == '\n' || out[o - 1] == ' ' || out[o - 1] == '\t'))
                o--;
        out[o] = '\0';

        /* The last max_lines lines. */
        size_t start = 0, lines = 0;
        for (size_t k = o; k > 0; k--)
                if (out[k - 1] == '\n' && ++lines == max_lines) {
                        start = k;
                        break;
                }
        /* At most max_bytes, cut at a line start if one is in reach, else at a character. */
        if (o - start > max_bytes) {
                size_t cut = o - max_bytes;
                char *nl = memchr(out + cut, '\n', o - cut);
                if (nl && nl + 1 < out + o)
                        cut = (size_t) (nl + 1 - out);
                else
                        while (cut < o && ((uint8_t) out[cut] & 0xc0) == 0x80)
                                cut++;
                start = cut;
        }
        memmove(out, out + start, o - start + 1);
        return out;
}

/* ---- captures (lock held unless said) -------------------------------------------------------- */

static Capture *find_locked(Console *c, const char *node) {
        for (Capture *cap = c->captures; cap; cap = cap->next)
                if (streq(cap->node, node))
                        return cap;
        return NULL;
}

static void wake_thread(Console *c) {
        uint64_t one = 1;
        (void) !write(c->wake_fd, &one, sizeof one);
}

/* Resumes the suspended followers of node's file `attempt`. */
static void wake_follows_locked(Console *c, const char *node, int64_t attempt) {
        for (ConsoleFollow *f = c->follows; f; f = f->next)
                if (f->suspended && f->attempt == attempt && streq(f->node, node)) {
                        f->suspended = false;
                        f->resume(f->userdata);
                }
}

static void job_add_locked(Console *c, const char *node, int64_t event_id, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
static void job_add_locked(Console *c, const char *node, int64_t event_id, const char *fmt, ...) {
        Job *j = calloc(1, sizeof *j);
        if (!j)
                return;
        va_list ap;
        va_start(ap, fmt);
        int r = vasprintf(&j->text, fmt, ap);
        va_end(ap);
        if (r < 0) {
                free(j);
                return;
        }
        snprintf(j->node, sizeof j->node, "%s", node);
        j->event_id = event_id;
        *c->jobs_tail = j;
        c->jobs_tail = &j->next;
}

/* Appends to the file (up to the size cap) and, unless `note`, to the tail ring. */
static void capture_write_locked(Console *c, Capture *cap, const void *data, size_t n, bool note) {
        const uint8_t *p = data;
        /* A capture whose BMC never sends a byte (most of a rack reinstalling) keeps no ring. */
        if (!note && n > 0 && !cap->ring && !(cap->ring = malloc(RAW_TAIL)))
                log_node(LOG_WARNING, &((LogFields) { .node = cap->node }),
                         "console: out of memory: no console tail for the history of %s", cap->node);
        if (!note && cap->ring) {
                for (size_t k = 0; k < n;) {
                        size_t m = RAW_TAIL - cap->ring_pos;
                        if (m > n - k)
                                m = n - k;
                        memcpy(cap->ring + cap->ring_pos, p + k, m);
                        cap->ring_pos = (cap->ring_pos + m) % RAW_TAIL;
                        k += m;
                }
                cap->ring_total += n;
        }
        if (cap->fd < 0 || cap->truncated)
                return;
        uint64_t before = cap->written;
        size_t room = cap->written < c->max_size ? (size_t) (c->max_size - cap->written) : 0;
        size_t m = n < room ? n : room;
        char line[96];
        size_t line_len = 0;
        if (m < n) {
                line_len = (size_t) snprintf(line, sizeof line, "\n[provd: console log truncated at %llu bytes]\n",
                                             (unsigned long long) c->max_size);
                cap->truncated = true;
        }
        for (int part = 0; part < 2; part++) {
                const char *b = part == 0 ? (const char *) p : line;
                size_t len = part == 0 ? m : line_len;
                while (len > 0) {
                        ssize_t w = write(cap->fd, b, len);
                        if (w < 0 && errno == EINTR)
                                continue;
                        if (w <= 0) {
                                if (!cap->write_failed)
                                        log_node_errno(LOG_WARNING, w < 0 ? errno : EIO, &((LogFields) { .node = cap->node }),
                                                       "console: cannot write the log of %s: %m", cap->node);
                                cap->write_failed = true;
                                break;
                        }
                        cap->written += (uint64_t) w;
                        b += w;
                        len -= (size_t) w;
                }
        }
        if (cap->written != before)
                wake_follows_locked(c, cap->node, cap->attempt);
}

static void capture_note_locked(Console *c, Capture *cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void capture_note_locked(Console *c, Capture *cap, const char *fmt, ...) {
        char buf[768];
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);
        if (n > 0)
                capture_write_locked(c, cap, buf, (size_t) n < sizeof buf ? (size_t) n : sizeof buf - 1, true);
}

/* The raw tail in order, without a first partial line when older bytes were dropped. */
static char *capture_tail_locked(const Capture *cap) {
        uint8_t raw[RAW_TAIL];
        size_t n;
        if (!cap->ring)
                n = 0;
        else if (cap->ring_total <= RAW_TAIL) {
                n = (size_t) cap->ring_total;
                memcpy(raw, cap->ring, n);
        } else {
                n = RAW_TAIL;
                memcpy(raw, cap->ring + cap->ring_pos, RAW_TAIL - cap->ring_pos);
                memcpy(raw + RAW_TAIL - cap->ring_pos, cap->ring, cap->ring_pos);
        }
        size_t skip = 0;
        if (cap->ring_total > RAW_TAIL) {
                uint8_t *nl = memchr(raw, '\n', n);
                skip = nl ? (size_t) (nl + 1 - raw) : 0;
        }
        return console_sanitize(raw + skip, n - skip, CONSOLE_TAIL_LINES, CONSOLE_TAIL_BYTES);
}

/* Ends the capture's current file: queues its tail for the history if one is wanted, closes
 * it and lets its followers finish. */
static void capture_end_file_locked(Console *c, Capture *cap) {
        if (cap->tail_event_id > 0) {
                _cleanup_free_ char *tail = capture_tail_locked(cap);
                if (tail)
                        job_add_locked(c, cap->node, cap->tail_event_id, "%s", tail);
                cap->tail_event_id = 0;
        }
        if (cap->fd >= 0) {
                close(cap->fd);
                cap->fd = -1;
        }
        wake_follows_locked(c, cap->node, cap->attempt);
}

static int parse_attempt_file(const char *name, int64_t *ret) {
        const char *dot = strrchr(name, '.');
        if (!dot || !streq(dot, ".log") || dot == name || (size_t) (dot - name) > 18)
                return -EINVAL;
        char num[20];
        memcpy(num, name, (size_t) (dot - name));
        num[dot - name] = '\0';
        if (num[0] < '1' || num[0] > '9')
                return -EINVAL;
        return parse_int64(num, 1, INT64_MAX, ret);
}

static int cmp_desc(const void *a, const void *b) {
        int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
        return x < y ? 1 : x > y ? -1 : 0;
}

/* Deletes the node's attempt logs beyond the newest `keep`. */
static void prune_locked(Console *c, const char *node_dir) {
        if (c->keep == 0)
                return;
        DIR *dir = opendir(node_dir);
        if (!dir)
                return;
        int64_t *nums = NULL;
        size_t n = 0, cap = 0;
        struct dirent *de;
        while ((de = readdir(dir))) {
                int64_t num;
                if (parse_attempt_file(de->d_name, &num) < 0)
                        continue;
                if (n == cap) {
                        size_t nc = cap ? cap * 2 : 32;
                        int64_t *p = realloc(nums, nc * sizeof *p);
                        if (!p)
                                break;
                        nums = p;
                        cap = nc;
                }
                nums[n++] = num;
        }
        closedir(dir);
        if (n > c->keep) {
                qsort(nums, n, sizeof *nums, cmp_desc);
                for (size_t i = c->keep; i < n; i++) {
                        char path[4200];
                        snprintf(path, sizeof path, "%s/%lld.log", node_dir, (long long) nums[i]);
                        if (unlink(path) < 0 && errno != ENOENT)
                                log_warning_errno(errno, "console: cannot delete %s: %m", path);
                }
        }
        free(nums);
}

static void log_path(const Console *c, const char *node, int64_t attempt, char *buf, size_t len) {
        if (attempt > 0)
                snprintf(buf, len, "%s/%s/%lld.log", c->dir, node, (long long) attempt);
        else
                snprintf(buf, len, "%s/%s/live.log", c->dir, node);
}

/* Points the capture at file `attempt` (0: live.log, truncated), ending the current one.
 * Only the file and the tail ring start over; the lifecycle is the caller's (phase_apply_locked()). */
static int capture_switch_locked(Console *c, Capture *cap, int64_t attempt) {
        char dir[4096], path[4200];
        capture_end_file_locked(c, cap);
        cap->attempt = attempt;
        cap->written = 0;
        cap->truncated = cap->write_failed = false;
        cap->ring_pos = 0;
        cap->ring_total = 0;

        snprintf(dir, sizeof dir, "%s/%s", c->dir, cap->node);
        if (mkdir(dir, 0750) < 0 && errno != EEXIST)
                return log_warning_errno(errno, "console: cannot create %s: %m", dir);
        log_path(c, cap->node, attempt, path, sizeof path);
        int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY | (attempt > 0 ? O_APPEND : O_TRUNC), 0640);
        if (fd < 0)
                return log_warning_errno(errno, "console: cannot create %s: %m", path);
        struct stat st;
        if (fstat(fd, &st) == 0)
                cap->written = (uint64_t) st.st_size;
        cap->truncated = cap->written >= c->max_size;
        cap->fd = fd;
        if (attempt > 0)
                prune_locked(c, dir);
        log_node(LOG_INFO, &((LogFields) { .node = cap->node, .attempt = attempt }), "console: capturing to %s", path);
        return 0;
}

static void capture_free(Capture *cap) {
        if (cap)
                free(cap->ring);
        free(cap);
}

static Capture *capture_new_locked(Console *c, const DaemonNodeBmc *b) {
        Capture *cap = calloc(1, sizeof *cap);
        if (!cap)
                return NULL;
        snprintf(cap->node, sizeof cap->node, "%s", b->node);
        cap->bmc = *b;
        cap->fd = -1;
        cap->attempt = -1; /* no file yet */
        cap->phase = CAPTURE_PHASE_NEW;
        cap->link = CAPTURE_LINK_IDLE;
        cap->backoff_ms = CAPTURE_BACKOFF_MIN_MS;
        cap->next = c->captures;
        c->captures = cap;
        return cap;
}

/* Feeds ev to cap's link and carries out the row's actions that need the lock: backoff,
 * notes in the file, the log and the history.  Opening, adopting and closing sessions are
 * the capture thread's, from the returned row.  msg: why the session ended or could not be
 * opened.  Returns the row, or NULL when ev does not concern the link's state. */
static const CaptureLinkTransition *link_event_locked(Console *c, Capture *cap, CaptureLinkEvent ev, const char *msg) {
        const CaptureLinkTransition *t = capture_machine_link(cap->link, ev);
        const LogFields lf = { .node = cap->node, .attempt = cap->attempt };
        int64_t now = now_monotonic_ms();
        if (!t)
                return NULL;
        if (!msg)
                msg = "";
        if (t->actions & CAPTURE_LINK_DO_RESET_BACKOFF)
                cap->backoff_ms = CAPTURE_BACKOFF_MIN_MS;
        if (t->actions & CAPTURE_LINK_DO_NOTE_LOST) {
                capture_note_locked(c, cap, "\n[provd: SOL session lost: %s; reconnecting]\n", msg);
                log_node(LOG_WARNING, &lf, "console: SOL session lost: %s; reconnecting in %u s", msg, cap->backoff_ms / 1000);
        }
        if (t->actions & CAPTURE_LINK_DO_HISTORY_LOST) {
                job_add_locked(c, cap->node, 0, "console: SOL session lost: %s; reconnecting", msg);
                cap->last_note_ms = now;
        }
        if (t->actions & CAPTURE_LINK_DO_SCHEDULE_RETRY) {
                cap->next_open_ms = now + cap->backoff_ms;
                cap->backoff_ms = capture_machine_backoff_next(cap->backoff_ms);
        }
        if (t->actions & CAPTURE_LINK_DO_NOTE_REESTABLISHED) {
                capture_note_locked(c, cap, "[provd: SOL session re-established]\n");
                log_node(LOG_INFO, &lf, "console: SOL session re-established");
        }
        if (t->actions & CAPTURE_LINK_DO_HISTORY_REESTABLISHED)
                job_add_locked(c, cap->node, 0, "console: SOL session re-established");
        if (t->actions & CAPTURE_LINK_DO_NOTE_NO_SOL) {
                capture_note_locked(c, cap, "\n[provd: no SOL console: %s; not retrying for this %s]\n", msg,
                                    cap->attempt > 0 ? "attempt" : "capture");
                job_add_locked(c, cap->node, 0, "console: %s", msg);
                log_node(LOG_WARNING, &lf, "console: %s; not retrying", msg);
        }
        cap->link = t->to;
        return t;
}

/* What a phase event brings for its row's actions. */
typedef struct PhaseArgs {
        int64_t file;                     /* SWITCH_FILE: attempt number, 0 = live.log */
        unsigned seconds;                 /* LIVE_DEADLINE */
        const DaemonTransition *ended;    /* LINGER: the transition that ended the attempt */
} PhaseArgs;

/* Carries out phase row t's actions on cap (not NEW_CAPTURE: the caller's) and moves cap to
 * t->to; a file that cannot be created is the event FILE_FAILED next.  Returns 0, or the
 * negative errno of that file. */
static int phase_apply_locked(Console *c, Capture *cap, const CapturePhaseTransition *t, const PhaseArgs *a) {
        int64_t now = now_monotonic_ms();
        int r = 0;
        if (t->actions & CAPTURE_PHASE_DO_SWITCH_FILE) {
                r = capture_switch_locked(c, cap, a->file);
                cap->deadline_ms = 0;
                cap->prepared_ms = now;
                (void) link_event_locked(c, cap, CAPTURE_LINK_EV_FILE_SWITCHED, NULL);
        }
        if (t->actions & CAPTURE_PHASE_DO_CLEAR_DEADLINE)
                cap->deadline_ms = 0;
        if (t->actions & CAPTURE_PHASE_DO_LINGER) {
                const DaemonTransition *ch = a->ended;
                cap->deadline_ms = now + (int64_t) c->linger_s * 1000;
                if (ch->event_id > 0 && ch->outcome && (streq(ch->outcome, "failed") || streq(ch->outcome, "timeout")))
                        cap->tail_event_id = ch->event_id;
                capture_note_locked(c, cap, "\n[provd: install attempt %lld ended (%s); capturing %u s more]\n",
                                    (long long) ch->ended_attempt, ch->outcome ? ch->outcome : "ended", c->linger_s);
        }
        if (t->actions & CAPTURE_PHASE_DO_LIVE_DEADLINE)
                cap->deadline_ms = now + (int64_t) a->seconds * 1000;
        if (t->actions & CAPTURE_PHASE_DO_END)
                (void) link_event_locked(c, cap, CAPTURE_LINK_EV_STOP, NULL);
        cap->phase = t->to;
        if (r < 0) {
                const CapturePhaseTransition *f = capture_machine_phase(cap->phase, CAPTURE_PHASE_EV_FILE_FAILED);
                if (f)
                        (void) phase_apply_locked(c, cap, f, a);
        }
        return r;
}

/* The node's capture that takes a starting event: its capture, or a new one (phase NEW) when
 * it has none or the table says so (NEW_CAPTURE: the old one is closed, the thread frees it).
 * The event is `same` for a capture whose file is `file`, `next` for any other.  Returns the
 * row (NULL: the event does not concern the capture) and *ret_cap, or -ENOMEM. */
static int phase_start_locked(Console *c, const DaemonNodeBmc *b, int64_t file, CapturePhaseEvent same,
                              CapturePhaseEvent next, Capture **ret_cap, const CapturePhaseTransition **ret) {
        Capture *cap = find_locked(c, b->node);
        for (;;) {
                if (!cap && !(cap = capture_new_locked(c, b)))
                        return -ENOMEM;
                const CapturePhaseTransition *t = capture_machine_phase(cap->phase, cap->attempt == file ? same : next);
                if (t && (t->actions & CAPTURE_PHASE_DO_NEW_CAPTURE)) {
                        cap = NULL;
                        continue;
                }
                *ret_cap = cap;
                *ret = t;
                return 0;
        }
}

static bool wants_console(const DaemonNodeBmc *b) {
        return b->has_bmc && b->console != SOL_BACKEND_NONE;
}

/* Capture node b->node into attempt `attempt`'s file; `opened`: the attempt is open now. */
static void start_attempt_locked(Console *c, const DaemonNodeBmc *b, int64_t attempt, bool opened) {
        Capture *cap;
        const CapturePhaseTransition *t;
        if (c->stopping || attempt <= 0 || !wants_console(b))
                return;
        if (phase_start_locked(c, b, attempt,
                               opened ? CAPTURE_PHASE_EV_ATTEMPT_OPENED : CAPTURE_PHASE_EV_PREPARE,
                               opened ? CAPTURE_PHASE_EV_NEXT_ATTEMPT_OPENED : CAPTURE_PHASE_EV_PREPARE_NEXT, &cap, &t) < 0 ||
            !t)
                return;
        cap->bmc = *b;
        (void) phase_apply_locked(c, cap, t, &(PhaseArgs) { .file = attempt });
        wake_thread(c);
}

/* The attempt t->ended_attempt of node t->bmc.node ended (console lock held). */
static void end_attempt_locked(Console *c, const DaemonTransition *ch) {
        Capture *cap = find_locked(c, ch->bmc.node);
        if (!cap || cap->attempt != ch->ended_attempt)
                return;
        const CapturePhaseTransition *t = capture_machine_phase(cap->phase, CAPTURE_PHASE_EV_ATTEMPT_ENDED);
        if (!t)
                return;
        (void) phase_apply_locked(c, cap, t, &(PhaseArgs) { .ended = ch });
        wake_thread(c);
}

/* The daemon's transition observer (no daemon lock held; quick: only the console lock): an
 * attempt that ended lingers, one that opened is captured, and a reinstall (a stateless node's
 * reboot: its boots are its attempts, see daemon.h) starts capturing the node's next attempt (before the reinstall's power step, so the firmware's and PXE's
 * output are caught).  A reopen is an end, then an open. */
static void on_transition(const DaemonTransition *t, void *userdata) {
        Console *c = userdata;
        bool prepares = t->event == PROVISION_EV_REINSTALL || t->event == PROVISION_EV_REBOOT;
        if (t->ended_attempt <= 0 && t->opened_attempt <= 0 && !prepares)
                return;
        pthread_mutex_lock(&c->lock);
        if (t->ended_attempt > 0)
                end_attempt_locked(c, t);
        if (t->opened_attempt > 0)
                start_attempt_locked(c, &t->bmc, t->opened_attempt, true);
        if (prepares) /* a stateless node's reboot prepares its next boot's log (boot numbers) */
                start_attempt_locked(c, &t->bmc, t->attempt + 1, false);
        pthread_mutex_unlock(&c->lock);
}

int console_live_start(Console *c, const char *node, unsigned seconds, char *err, size_t errlen) {
        DaemonNodeBmc b;
        int r = daemon_node_bmc(c->d, node, &b);
        if (r == -ENOENT)
                return errbuf_fail(r, err, errlen, "no node \"%.64s\" in the inventory", node);
        if (r < 0)
                return r;
        if (!b.has_bmc)
                return errbuf_fail(-ENODEV, err, errlen, "node %s has no bmc in the inventory: no console to capture",
                                   node);
        if (b.console == SOL_BACKEND_NONE)
                return errbuf_fail(-ENODEV, err, errlen,
                                   "node %s has bmc.console \"none\" in the inventory: no console to capture", node);
        if (seconds == 0)
                seconds = CONSOLE_LIVE_DEFAULT_S;
        Capture *cap = NULL;
        const CapturePhaseTransition *t = NULL;
        pthread_mutex_lock(&c->lock);
        if (c->stopping) {
                r = errbuf_fail(-ESHUTDOWN, err, errlen, "provd is stopping");
        } else if ((r = phase_start_locked(c, &b, 0, CAPTURE_PHASE_EV_LIVE_START, CAPTURE_PHASE_EV_LIVE_START, &cap, &t)) < 0)
                ;
        else if (t && (t->actions & CAPTURE_PHASE_DO_REFUSE)) {
                r = errbuf_fail(-EBUSY, err, errlen,
                                "the console of %s is being captured for install attempt %lld (GET /v1/nodes/%s/console)",
                                node, (long long) cap->attempt, node);
        } else if (t) {
                cap->bmc = b;
                r = phase_apply_locked(c, cap, t, &(PhaseArgs) { .file = 0, .seconds = seconds });
                if (r < 0) {
                        r = errbuf_fail(-EIO, err, errlen, "cannot create the console log of %s: %s", node,
                                        strerror(-r));
                }
        }
        if (r >= 0)
                log_node(LOG_INFO, &((LogFields) { .node = node }), "console: on-demand capture for %u s", seconds);
        wake_thread(c);
        pthread_mutex_unlock(&c->lock);
        return r;
}

int console_live_stop(Console *c, const char *node) {
        DaemonNodeBmc b;
        int r = daemon_node_bmc(c->d, node, &b);
        if (r < 0)
                return r;
        pthread_mutex_lock(&c->lock);
        Capture *cap = find_locked(c, node);
        const CapturePhaseTransition *t = cap ? capture_machine_phase(cap->phase, CAPTURE_PHASE_EV_LIVE_STOP) : NULL;
        if (t) {
                (void) phase_apply_locked(c, cap, t, &(PhaseArgs) { 0 });
                log_node(LOG_INFO, &((LogFields) { .node = node }), "console: on-demand capture stopped");
                wake_thread(c);
        }
        pthread_mutex_unlock(&c->lock);
        return 0;
}

/* ---- reading ---------------------------------------------------------------------------------- */

static int open_log(Console *c, const char *node, int64_t attempt, ConsoleLog *ret) {
        char path[4200];
        log_path(c, node, attempt, path, sizeof path);
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        struct stat st;
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                close(fd);
                return -ENODATA;
        }
        *ret = (ConsoleLog) { .fd = fd, .attempt = attempt, .size = (uint64_t) st.st_size };
        return 0;
}

int console_log_open(Console *c, const char *node, int64_t attempt, ConsoleLog *ret, char *err, size_t errlen) {
        int64_t current = 0;
        int r = daemon_node_attempt(c->d, node, &current);
        if (r == -ENOENT)
                return errbuf_fail(r, err, errlen, "no node \"%.64s\" in the inventory", node);
        if (r < 0)
                return r;
        ConsoleLog log;
        if (attempt > 0) {
                r = open_log(c, node, attempt, &log);
                if (r < 0)
                        return errbuf_fail(-ENODATA, err, errlen, "%s has no console log for attempt %lld", node,
                                           (long long) attempt);
        } else {
                /* Which file is being written, if any: a running capture decides. */
                int64_t want = -1;
                pthread_mutex_lock(&c->lock);
                Capture *cap = find_locked(c, node);
                if (cap && cap->phase != CAPTURE_PHASE_CLOSED && cap->fd >= 0)
                        want = cap->attempt;
                pthread_mutex_unlock(&c->lock);
                r = -ENODATA;
                if (want >= 0)
                        r = open_log(c, node, want, &log);
                if (r < 0 && current > 0)
                        r = open_log(c, node, current, &log);
                if (r < 0)
                        r = open_log(c, node, 0, &log);
                if (r < 0)
                        return errbuf_fail(-ENODATA, err, errlen, "%s has no console log", node);
        }
        pthread_mutex_lock(&c->lock);
        Capture *cap = find_locked(c, node);
        log.capturing = cap && cap->phase != CAPTURE_PHASE_CLOSED && cap->fd >= 0 && cap->attempt == log.attempt;
        pthread_mutex_unlock(&c->lock);
        *ret = log;
        return 0;
}

void console_follow_add(Console *c, ConsoleFollow *f) {
        pthread_mutex_lock(&c->lock);
        f->suspended = false;
        f->prev = NULL;
        f->next = c->follows;
        if (c->follows)
                c->follows->prev = f;
        c->follows = f;
        pthread_mutex_unlock(&c->lock);
}

void console_follow_remove(Console *c, ConsoleFollow *f) {
        pthread_mutex_lock(&c->lock);
        if (f->prev)
                f->prev->next = f->next;
        else if (c->follows == f)
                c->follows = f->next;
        if (f->next)
                f->next->prev = f->prev;
        f->prev = f->next = NULL;
        f->suspended = false;
        pthread_mutex_unlock(&c->lock);
}

int console_follow_check(Console *c, ConsoleFollow *f, uint64_t offset) {
        int r;
        pthread_mutex_lock(&c->lock);
        Capture *cap = find_locked(c, f->node);
        if (c->stopping || !cap || cap->phase == CAPTURE_PHASE_CLOSED || cap->fd < 0 || cap->attempt != f->attempt)
                r = -ENODATA;
        else if (cap->written > offset)
                r = 1;
        else {
                f->suspended = true;
                f->suspend(f->userdata);
                r = 0;
        }
        pthread_mutex_unlock(&c->lock);
        return r;
}

size_t console_sessions(Console *c) {
        pthread_mutex_lock(&c->lock);
        size_t n = c->n_sessions;
        pthread_mutex_unlock(&c->lock);
        return n;
}

/* ---- the capture thread -------------------------------------------------------------------- */

/* Runs the queued daemon work (no console lock held). */
static void run_jobs(Console *c) {
        pthread_mutex_lock(&c->lock);
        Job *j = c->jobs;
        c->jobs = NULL;
        c->jobs_tail = &c->jobs;
        pthread_mutex_unlock(&c->lock);
        while (j) {
                Job *next = j->next;
                int r = j->event_id > 0 ? daemon_set_console_tail(c->d, j->event_id, j->text)
                                        : daemon_record_console(c->d, j->node, j->text);
                if (r < 0 && r != -ENOENT)
                        log_node_errno(LOG_WARNING, r, &((LogFields) { .node = j->node }),
                                       "console: cannot write to the history: %m");
                free(j->text);
                free(j);
                j = next;
        }
}

/* Opens a session for cap (no lock held; only this thread touches cap->s) and feeds the
 * result to its link.  The password is read from the inventory's password_file now, lives in
 * this function's SolTarget only, and is wiped once sol_open() has taken what the session
 * needs.  count_reconnect: the row asked for provd_console_reconnects_total. */
static void session_open(Console *c, Capture *cap, bool count_reconnect) {
        char err[IPMI_ERROR_MAX] = "", msg[IPMI_ERROR_MAX + 64];
        SolTarget t = { 0 };
        SolSession *s = NULL;
        int r;

        pthread_mutex_lock(&c->lock);
        DaemonNodeBmc b = cap->bmc;
        pthread_mutex_unlock(&c->lock);

        snprintf(t.ipmi.host, sizeof t.ipmi.host, "%s", b.host);
        snprintf(t.ipmi.user, sizeof t.ipmi.user, "%.16s", b.user);
        t.ipmi.port = b.port;
        t.ipmi.cipher_suite = b.cipher_suite;
        t.ipmi.workarounds = b.workarounds;
        t.backend = b.console;
        t.workarounds = b.sol_workarounds;
        t.ipmitool = c->ipmitool;
        r = 0;
        if (b.password_file[0]) {
                r = ipmi_password_read(b.password_file, t.ipmi.password, sizeof t.ipmi.password, err, sizeof err);
                if (r < 0)
                        snprintf(msg, sizeof msg, "cannot read the BMC password: %s", err);
        }
        if (r >= 0) {
                r = sol_open(&t, &s, err, sizeof err);
                if (r < 0)
                        snprintf(msg, sizeof msg, "%s", err[0] ? err : strerror(-r));
        }
        explicit_bzero(&t, sizeof t); /* sol_open() keeps what the session needs */
        if (count_reconnect)
                metrics_console_reconnect();
        pthread_mutex_lock(&c->lock);
        if (r < 0)
                (void) link_event_locked(c, cap, CAPTURE_LINK_EV_OPEN_FAILED, msg);
        else {
                const CaptureLinkTransition *lt = link_event_locked(c, cap, CAPTURE_LINK_EV_OPENED, NULL);
                if (lt && (lt->actions & CAPTURE_LINK_DO_ADOPT_SESSION)) {
                        cap->s = TAKE_PTR(s);
                        c->n_sessions++;
                        metrics_console_sessions((int) c->n_sessions);
                }
        }
        pthread_mutex_unlock(&c->lock);
        sol_close(s); /* not adopted: the capture ended meanwhile */
}

/* Ends cap's session (no lock held). */
static void session_close(Console *c, Capture *cap) {
        SolSession *s = cap->s;
        if (!s)
                return;
        pthread_mutex_lock(&c->lock);
        cap->s = NULL;
        c->n_sessions--;
        metrics_console_sessions((int) c->n_sessions);
        pthread_mutex_unlock(&c->lock);
        sol_close(s);
}

/* Reads what cap's session has (no lock held); an ended session is an event for its link. */
static void session_read(Console *c, Capture *cap, uint8_t *buf) {
        for (int i = 0; i < READS_PER_ROUND && cap->s; i++) {
                ssize_t n = sol_read(cap->s, buf, READ_BUF);
                if (n == -EAGAIN)
                        return;
                if (n > 0) {
                        metrics_console_bytes((uint64_t) n);
                        pthread_mutex_lock(&c->lock);
                        capture_write_locked(c, cap, buf, (size_t) n, false);
                        pthread_mutex_unlock(&c->lock);
                        continue;
                }
                char err[IPMI_ERROR_MAX] = "";
                int r = n < 0 ? (int) n : sol_status(cap->s, err, sizeof err);
                if (r == 0)
                        r = -EIO;
                if (!err[0])
                        snprintf(err, sizeof err, "%s", strerror(-r));
                pthread_mutex_lock(&c->lock);
                bool may_note = capture_machine_may_note(cap->last_note_ms, now_monotonic_ms());
                const CaptureLinkTransition *lt = link_event_locked(c, cap, capture_machine_loss_event(r, may_note), err);
                pthread_mutex_unlock(&c->lock);
                if (!lt || (lt->actions & CAPTURE_LINK_DO_CLOSE_SESSION)) /* no row: it ended all the same */
                        session_close(c, cap);
                return;
        }
}

/* Looks every captured node up in the inventory (no lock held): gone, no BMC or console
 * "none" ends its capture; otherwise its BMC settings are refreshed for the next open. */
static void check_nodes(Console *c) {
        char (*names)[64] = NULL;
        size_t n = 0;
        pthread_mutex_lock(&c->lock);
        for (Capture *cap = c->captures; cap; cap = cap->next)
                n++;
        names = n ? calloc(n, sizeof *names) : NULL;
        n = 0;
        for (Capture *cap = c->captures; cap && names; cap = cap->next)
                snprintf(names[n++], sizeof names[0], "%s", cap->node);
        pthread_mutex_unlock(&c->lock);
        for (size_t i = 0; i < n; i++) {
                DaemonNodeBmc b;
                int r = daemon_node_bmc(c->d, names[i], &b);
                if (r < 0 && r != -ENOENT)
                        continue;
                pthread_mutex_lock(&c->lock);
                Capture *cap = find_locked(c, names[i]);
                if (cap && (r == -ENOENT || !wants_console(&b))) {
                        const CapturePhaseTransition *t = capture_machine_phase(cap->phase, CAPTURE_PHASE_EV_NODE_GONE);
                        if (t) {
                                log_node(LOG_INFO, &((LogFields) { .node = cap->node }),
                                         "console: capture ended: the node %s", r == -ENOENT ? "left the inventory" : "has no console any more");
                                (void) phase_apply_locked(c, cap, t, &(PhaseArgs) { 0 });
                        }
                } else if (cap && cap->phase != CAPTURE_PHASE_CLOSED)
                        cap->bmc = b;
                pthread_mutex_unlock(&c->lock);
        }
        free(names);
}

/* Feeds a timer's or the shutdown's event to cap's phase (lock held). */
static void phase_event_locked(Console *c, Capture *cap, CapturePhaseEvent ev) {
        const CapturePhaseTransition *t = capture_machine_phase(cap->phase, ev);
        if (t)
                (void) phase_apply_locked(c, cap, t, &(PhaseArgs) { 0 });
}

/* A session to open, and whether the open counts as a reconnect. */
typedef struct ToOpen {
        Capture *cap;
        bool count_reconnect;
} ToOpen;

static void *capture_thread(void *userdata) {
        Console *c = userdata;
        _cleanup_free_ uint8_t *buf = malloc(READ_BUF);
        int64_t next_check = now_monotonic_ms() + CHECK_INTERVAL_MS;
        size_t cap_fds = 0;
        struct pollfd *fds = NULL;
        Capture **polled = NULL;
        bool stopping = false;

        if (!buf)
                log_error("console: out of memory: capture thread not running");
        while (buf) {
                /* 1. Under the lock: the timers' events, what to end, open and poll. */
                Capture *ended = NULL;
                ToOpen *to_open = NULL;
                size_t n_open = 0, n_fds = 1, n_caps = 0;
                int64_t now = now_monotonic_ms(), timeout = POLL_MAX_MS;

                pthread_mutex_lock(&c->lock);
                stopping = c->stopping;
                for (Capture *cap = c->captures; cap; cap = cap->next)
                        n_caps++;
                if (n_caps + 1 > cap_fds) {
                        struct pollfd *f = realloc(fds, (n_caps + 1) * sizeof *f);
                        Capture **p = f ? realloc(polled, (n_caps + 1) * sizeof *p) : NULL;
                        if (f)
                                fds = f;
                        if (p) {
                                polled = p;
                                cap_fds = n_caps + 1;
                        }
                }
                to_open = n_caps ? calloc(n_caps, sizeof *to_open) : NULL;
                for (Capture **pp = &c->captures; *pp;) {
                        Capture *cap = *pp;
                        if (stopping)
                                phase_event_locked(c, cap, CAPTURE_PHASE_EV_SHUTDOWN);
                        if (cap->deadline_ms > 0 && now >= cap->deadline_ms)
                                phase_event_locked(c, cap, CAPTURE_PHASE_EV_DEADLINE);
                        if (now - cap->prepared_ms > PREPARED_MAX_MS)
                                phase_event_locked(c, cap, CAPTURE_PHASE_EV_PREPARED_EXPIRED);
                        if (cap->phase == CAPTURE_PHASE_CLOSED) {
                                *pp = cap->next;
                                capture_end_file_locked(c, cap);
                                cap->next = ended;
                                ended = cap;
                                continue;
                        }
                        if (cap->s && capture_machine_link_establishing(cap->link) && sol_established(cap->s))
                                (void) link_event_locked(c, cap, CAPTURE_LINK_EV_ESTABLISHED, NULL);
                        if (cap->s) {
                                if (n_fds < cap_fds) {
                                        fds[n_fds] = (struct pollfd) { .fd = sol_fd(cap->s), .events = POLLIN };
                                        polled[n_fds++] = cap;
                                }
                                if (capture_machine_link_establishing(cap->link) && timeout > 200)
                                        timeout = 200;
                        } else if (to_open && capture_machine_link(cap->link, CAPTURE_LINK_EV_OPEN_DUE)) {
                                if (now >= cap->next_open_ms) {
                                        const CaptureLinkTransition *lt =
                                                link_event_locked(c, cap, CAPTURE_LINK_EV_OPEN_DUE, NULL);
                                        if (lt->actions & CAPTURE_LINK_DO_OPEN_SESSION)
                                                to_open[n_open++] = (ToOpen) {
                                                        cap, (lt->actions & CAPTURE_LINK_DO_COUNT_RECONNECT) != 0
                                                };
                                } else if (cap->next_open_ms - now < timeout)
                                        timeout = cap->next_open_ms - now;
                        }
                        if (cap->deadline_ms > 0 && cap->deadline_ms - now < timeout)
                                timeout = cap->deadline_ms - now < 0 ? 0 : cap->deadline_ms - now;
                        pp = &cap->next;
                }
                pthread_mutex_unlock(&c->lock);

                /* 2. Without the lock: close, write to the history, open. */
                while (ended) {
                        Capture *next = ended->next;
                        session_close(c, ended);
                        capture_free(ended);
                        ended = next;
                }
                run_jobs(c);
                if (stopping) {
                        free(to_open);
                        break;
                }
                for (size_t i = 0; i < n_open; i++)
                        session_open(c, to_open[i].cap, to_open[i].count_reconnect);
                free(to_open);
                run_jobs(c);
                sol_reap();
                if (n_open > 0)
                        continue; /* poll the new sessions' fds */

                /* 3. Wait. */
                fds[0] = (struct pollfd) { .fd = c->wake_fd, .events = POLLIN };
                if (next_check - now < timeout)
                        timeout = next_check - now < 0 ? 0 : next_check - now;
                int pr = poll(fds, n_fds, (int) timeout);
                if (pr < 0 && errno != EINTR) {
                        log_error_errno(errno, "console: poll: %m");
                        usleep(100000);
                }
                if (pr > 0 && (fds[0].revents & POLLIN)) {
                        uint64_t v;
                        (void) !read(c->wake_fd, &v, sizeof v);
                }
                for (size_t i = 1; pr > 0 && i < n_fds; i++)
                        if (fds[i].revents)
                                session_read(c, polled[i], buf);
                run_jobs(c);
                if (now_monotonic_ms() >= next_check) {
                        check_nodes(c);
                        next_check = now_monotonic_ms() + CHECK_INTERVAL_MS;
                }
        }
        free(fds);
        free(polled);
        /* Wake whoever still waits: followers end on -ENODATA. */
        pthread_mutex_lock(&c->lock);
        for (ConsoleFollow *f = c->follows; f; f = f->next)
                if (f->suspended) {
                        f->suspended = false;
                        f->resume(f->userdata);
                }
        pthread_mutex_unlock(&c->lock);
        return NULL;
}

/* ---- lifetime ---------------------------------------------------------------------------------- */

int console_new(Daemon *d, const ConsoleConfig *cfg, Console **ret) {
        int r;
        Console *c = calloc(1, sizeof *c);
        if (!c)
                return -ENOMEM;
        pthread_mutex_init(&c->lock, NULL);
        c->d = d;
        c->wake_fd = -1;
        c->jobs_tail = &c->jobs;
        c->max_size = cfg->max_size ? cfg->max_size : CONSOLE_MAX_SIZE_DEFAULT;
        c->keep = cfg->keep;
        c->linger_s = cfg->linger_s;
        c->stopped = true; /* until sol_init() has run */
        if (asprintf(&c->dir, "%s/console", cfg->state_dir) < 0) {
                c->dir = NULL;
                console_free(c);
                return -ENOMEM;
        }
        if (cfg->ipmitool && !(c->ipmitool = strdup(cfg->ipmitool))) {
                console_free(c);
                return -ENOMEM;
        }
        if (mkdir(c->dir, 0750) < 0 && errno != EEXIST) {
                r = log_error_errno(errno, "cannot create the console log directory %s: %m", c->dir);
                console_free(c);
                return r;
        }
        c->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (c->wake_fd < 0) {
                r = log_error_errno(errno, "console: eventfd: %m");
                console_free(c);
                return r;
        }
        r = sol_init();
        if (r < 0) {
                console_free(c);
                return log_error_errno(r, "console: cannot initialise the SOL backends");
        }
        c->stopped = false; /* from here console_stop() has sol_init() to undo */
        r = pthread_create(&c->thread, NULL, capture_thread, c);
        if (r != 0) {
                console_free(c);
                return log_error_errno(r, "console: cannot start the capture thread: %m");
        }
        c->thread_started = true;
        r = daemon_subscribe(d, on_transition, c, &c->observer);
        if (r < 0) {
                console_free(c);
                return log_error_errno(r, "console: cannot observe the daemon's transitions: %m");
        }
        *ret = c;
        return 0;
}

void console_stop(Console *c) {
        if (!c || c->stopped)
                return;
        if (c->observer > 0) {
                /* Waits for a call in progress: without the console lock, which it takes. */
                (void) daemon_unsubscribe(c->d, c->observer);
                c->observer = 0;
        }
        pthread_mutex_lock(&c->lock);
        c->stopping = true;
        pthread_mutex_unlock(&c->lock);
        wake_thread(c);
        if (c->thread_started) {
                pthread_join(c->thread, NULL);
                c->thread_started = false;
        }
        sol_shutdown();
        c->stopped = true;
}

void console_free(Console *c) {
        if (!c)
                return;
        console_stop(c);
        while (c->captures) { /* only when the thread never ran */
                Capture *next = c->captures->next;
                if (c->captures->fd >= 0)
                        close(c->captures->fd);
                capture_free(c->captures);
                c->captures = next;
        }
        while (c->jobs) {
                Job *next = c->jobs->next;
                free(c->jobs->text);
                free(c->jobs);
                c->jobs = next;
        }
        if (c->wake_fd >= 0)
                close(c->wake_fd);
        pthread_mutex_destroy(&c->lock);
        free(c->dir);
        free(c->ipmitool);
        free(c);
}
