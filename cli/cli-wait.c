/* cli-wait.c — `provd reinstall --wait`: the watch loop.
 *
 * It is a loop around the pure scheduler of cli-roll.c: start nodes while the
 * scheduler allows (run --before, then request the reinstall), follow the operations until
 * their mark step is done (the node is then "armed": pending), watch the armed nodes'
 * provision states until installed or failed — from the event stream GET /v1/events/stream
 * (parsed by cli-sse.c, read through a curl multi handle next to the blocking
 * requests of cli_request()), and by polling GET /v1/nodes every 2 s while the stream is not
 * connected (every 30 s as a safety net while it is) — then, with the gate, poll the installed
 * nodes' drift and report (GET /v1/nodes every 2 s, GET /v1/nodes/{name} for those that say
 * in_sync: is the report newer than the install?), and run --after.  A node's report does not
 * make an event unless its running system changed, so the gate is polled, not streamed.
 *
 * --before and --after run as `/bin/sh -c CMD` (posix_spawn; stdin /dev/null, in their own
 * process group so a timeout kills what they started) with PROVD_NODE, PROVD_URL and
 * PROVD_HOOK (before|after) in the environment, several at once when several nodes are in
 * flight; the loop reads their output (stdout and stderr, one pipe) without blocking and
 * prints each line on stderr as "TIME  NODE  --before: LINE".  Progress goes to stderr, the
 * results to stdout.
 *
 * Single-threaded, like all of cli*.c. */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli-ops.h"
#include "cli-roll.h"
#include "cli-sse.h"
#include "cli-wait.h"
#include "cli.h"
#include "util.h"

#define POLL_NODES_MS 2000        /* GET /v1/nodes while the event stream is not connected */
#define POLL_NODES_SAFETY_MS 30000 /* ... and while it is, in case it missed something */
#define POLL_OPS_MS 1000           /* GET /v1/operations/{id} for unfinished reinstall operations */
#define POLL_GATE_MS 2000          /* GET /v1/nodes while a node waits at its gate */
#define HOOK_KILL_GRACE_MS 5000    /* SIGTERM to a hook's process group, SIGKILL this much later */
#define SUMMARY_MS 30000           /* the periodic progress summary */
#define STREAM_SILENCE_S 60L       /* keepalives come every 15 s */
#define STREAM_RETRY_MAX_MS 10000

/* ---- reinstall --wait: the watch loop ------------------------------------------------------ */

typedef struct Watch {
        Cli *cli;
        CliRoll roll;
        json_t *ops;     /* name -> the newest Operation seen (owned) */
        json_t *errors;  /* submissions that were refused: [{"node", "status", "error"}] */
        const char *poll_query; /* for GET /v1/nodes: "" or "?name=GLOB" */
        bool fatal;      /* 401/403/no answer on a submission: stop */

        /* the event stream */
        CURLM *multi;
        CURL *stream;         /* owned; in multi while stream_active */
        struct curl_slist *stream_headers;
        char stream_err[CURL_ERROR_SIZE];
        CliSse sse;
        long stream_status;
        bool stream_active;     /* a transfer is in the multi handle */
        bool stream_connected;  /* ... and it got a 200 */
        bool stream_disabled;   /* the daemon refused it (4xx): poll only */
        int64_t stream_retry_at;
        long stream_backoff_ms;
        json_t *queued;         /* events parsed by the SSE callback, handled after curl returns */

        /* --before / --after: one slot per node (only nodes in flight run one) */
        const char *before_cmd, *after_cmd; /* borrowed from argv, NULL when not given */
        int64_t hook_timeout_ms;
        struct Hook *hooks;          /* owned, roll.n of them */
        struct curl_waitfd *waitfds; /* owned, roll.n of them: the hooks' pipes, for curl_multi_poll() */

        int64_t last_nodes_poll, last_summary, last_ops_poll, last_gate_poll;
        bool changed; /* something finished since the last summary */
} Watch;

/* A running --before or --after of one node. */
typedef struct Hook {
        pid_t pid;        /* > 0 while it runs (its process group too) */
        int fd;           /* the read end of its stdout+stderr pipe, -1 when closed */
        bool after;       /* --after, else --before */
        int64_t deadline; /* now_monotonic_ms(): SIGTERM to its process group then */
        int64_t kill_at;  /* after that SIGTERM: SIGKILL then; 0 before */
        char line[512];   /* the output line read so far */
        size_t len;
} Hook;

static void progress(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void progress(const char *name, const char *fmt, ...) {
        char cbuf[16];
        va_list ap;
        fprintf(stderr, "%s  %s  ", cli_clock_now(cbuf), name);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
}

static void print_summary(Watch *w) {
        char cbuf[16];
        const CliRoll *r = &w->roll;
        fprintf(stderr, "%s  %zu/%zu %s, %zu failed, ", cli_clock_now(cbuf), r->installed, r->n, r->gate ? "in_sync" : "installed",
                r->failed);
        if (r->skipped > 0)
                fprintf(stderr, "%zu skipped, ", r->skipped);
        if (r->timed_out > 0)
                fprintf(stderr, "%zu timed out, ", r->timed_out);
        fprintf(stderr, "%zu in progress, %zu %s\n", r->in_flight, r->n - r->next, r->stopped ? "not started (roll stopped)" : "waiting");
        w->last_summary = now_monotonic_ms();
        w->changed = false;
}

/* Node i finished as failed: say so (why from the roll). */
static void report_failed(Watch *w, size_t i) {
        progress(w->roll.nodes[i].name, "failed: %s", w->roll.nodes[i].why);
        w->changed = true;
}

/* Fills in why a node failed its install from its newest history entry into failed. */
static void explain_failure(Watch *w, size_t i) {
        _cleanup_free_ char *esc = cli_escape(w->cli, w->roll.nodes[i].name), *path = NULL;
        if (!esc || asprintf(&path, "/v1/nodes/%s/history?limit=5", esc) < 0)
                return;
        _cleanup_(json_decrefp) json_t *j = NULL;
        if (cli_call(w->cli, "GET", path, NULL, &j) < 0)
                return;
        size_t k;
        json_t *e;
        json_array_foreach(json_object_get(j, "history"), k, e) {
                const char *to = cli_json_str(e, "to"), *msg = cli_json_str(e, "message");
                if (to && streq(to, "failed")) {
                        _cleanup_free_ char *why = NULL;
                        if (asprintf(&why, "install failed: %s", msg ? msg : cli_json_str(e, "cause") ? cli_json_str(e, "cause") : "?") >= 0)
                                cli_roll_set_why(&w->roll, i, why);
                        return;
                }
        }
}

/* ---- --before / --after ---------------------------------------------------------------------- */

extern char **environ;

static void request_reinstall(Watch *w, size_t i);

static const char *hook_name(const Hook *h) {
        return h->after ? "--after" : "--before";
}

/* Prints the output line of node i's hook read so far on stderr, prefixed like progress(). */
static void hook_print_line(Watch *w, size_t i) {
        Hook *h = &w->hooks[i];
        char cbuf[16];
        h->line[h->len] = '\0';
        fprintf(stderr, "%s  %s  %s: ", cli_clock_now(cbuf), w->roll.nodes[i].name, hook_name(h));
        cli_fputs_oneline(h->line, stderr);
        fputc('\n', stderr);
        h->len = 0;
}

/* Reads what node i's hook wrote (without blocking; at most 64 KiB a call, so a chatty hook
 * does not hold up the loop) and prints its complete lines; closes the pipe at its end. */
static void hook_read(Watch *w, size_t i) {
        Hook *h = &w->hooks[i];
        char buf[4096];
        for (int rounds = 0; h->fd >= 0 && rounds < 16; rounds++) {
                ssize_t n = read(h->fd, buf, sizeof buf);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        if (n == 0 || errno != EAGAIN) {
                                close(h->fd);
                                h->fd = -1;
                        }
                        return;
                }
                for (ssize_t k = 0; k < n; k++) {
                        if (buf[k] == '\n') {
                                hook_print_line(w, i);
                                continue;
                        }
                        h->line[h->len++] = buf[k];
                        if (h->len == sizeof h->line - 1) /* a very long line: printed in pieces */
                                hook_print_line(w, i);
                }
        }
}

/* Node i's hook (after: --after, else --before) ended, ok or not (why).  --before: the
 * reinstall is requested, or the node is skipped; --after: the node is finished. */
static void hook_ended(Watch *w, size_t i, bool after, bool ok, const char *why) {
        const char *name = w->roll.nodes[i].name;
        w->changed = true;
        if (!after) {
                if (cli_roll_before_done(&w->roll, i, ok, why) < 0)
                        return;
                if (ok)
                        request_reinstall(w, i);
                else
                        progress(name, "skipped, not reinstalled: %s", w->roll.nodes[i].why);
                return;
        }
        if (cli_roll_after_done(&w->roll, i, ok, why) < 0)
                return;
        if (ok)
                progress(name, "--after succeeded");
        else
                progress(name, "%s", w->roll.nodes[i].after_why);
}

/* Starts node i's --before (after false) or --after: /bin/sh -c CMD in a process group of its
 * own, stdin /dev/null, stdout and stderr into one pipe, no other descriptor of ours, the
 * environment plus PROVD_NODE, PROVD_URL and PROVD_HOOK.  Returns 0, or a negative errno
 * (nothing runs then). */
static int hook_start(Watch *w, size_t i, bool after) {
        Hook *h = &w->hooks[i];
        const char *cmd = after ? w->after_cmd : w->before_cmd;
        size_t n_env = 0;
        while (environ[n_env])
                n_env++;
        _cleanup_free_ char **env = calloc(n_env + 4, sizeof *env);
        _cleanup_free_ char *e_node = NULL, *e_url = NULL, *e_hook = NULL;
        if (!env || asprintf(&e_node, "PROVD_NODE=%s", w->roll.nodes[i].name) < 0) {
                e_node = NULL;
                return -ENOMEM;
        }
        if (asprintf(&e_url, "PROVD_URL=%s", w->cli->url) < 0) {
                e_url = NULL;
                return -ENOMEM;
        }
        if (asprintf(&e_hook, "PROVD_HOOK=%s", after ? "after" : "before") < 0) {
                e_hook = NULL;
                return -ENOMEM;
        }
        size_t k = 0;
        for (size_t j = 0; j < n_env; j++)
                if (strncmp(environ[j], "PROVD_NODE=", 11) != 0 && strncmp(environ[j], "PROVD_URL=", 10) != 0 &&
                    strncmp(environ[j], "PROVD_HOOK=", 11) != 0)
                        env[k++] = environ[j];
        env[k++] = e_node;
        env[k++] = e_url;
        env[k++] = e_hook;
        env[k] = NULL;

        int fds[2];
        if (pipe2(fds, O_CLOEXEC) < 0)
                return -errno;
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        int r = posix_spawn_file_actions_init(&fa);
        if (r != 0) {
                close(fds[0]);
                close(fds[1]);
                return -r;
        }
        r = posix_spawnattr_init(&attr);
        if (r != 0) {
                posix_spawn_file_actions_destroy(&fa);
                close(fds[0]);
                close(fds[1]);
                return -r;
        }
        sigset_t dflt, none;
        sigemptyset(&none);
        sigemptyset(&dflt);
        sigaddset(&dflt, SIGINT);
        sigaddset(&dflt, SIGTERM);
        sigaddset(&dflt, SIGPIPE);
        r = posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
        if (r == 0)
                r = posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
        if (r == 0)
                r = posix_spawn_file_actions_adddup2(&fa, fds[1], STDERR_FILENO);
        if (r == 0)
                r = posix_spawn_file_actions_addclosefrom_np(&fa, 3);
        if (r == 0)
                r = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
        if (r == 0)
                r = posix_spawnattr_setpgroup(&attr, 0);
        if (r == 0)
                r = posix_spawnattr_setsigdefault(&attr, &dflt);
        if (r == 0)
                r = posix_spawnattr_setsigmask(&attr, &none);
        pid_t pid = 0;
        if (r == 0) {
                fflush(stdout);
                fflush(stderr);
                r = posix_spawn(&pid, "/bin/sh", &fa, &attr, (char *const[]) { (char *) "sh", (char *) "-c", (char *) cmd, NULL },
                                env);
        }
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&attr);
        close(fds[1]);
        if (r != 0) {
                close(fds[0]);
                return -r;
        }
        int fl = fcntl(fds[0], F_GETFL);
        if (fl >= 0)
                fcntl(fds[0], F_SETFL, fl | O_NONBLOCK);
        *h = (Hook) { .pid = pid, .fd = fds[0], .after = after, .deadline = now_monotonic_ms() + w->hook_timeout_ms };
        return 0;
}

/* Starts node i's hook, or ends it at once as failed when it cannot run. */
static void hook_run(Watch *w, size_t i, bool after) {
        int r = hook_start(w, i, after);
        if (r >= 0)
                return;
        _cleanup_free_ char *why = NULL;
        if (asprintf(&why, "%s could not be run: %s", after ? "--after" : "--before", strerror(-r)) < 0)
                why = NULL;
        hook_ended(w, i, after, false, why);
}

/* Node i's hook exited with status (waitpid()'s): prints the rest of its output, ends it. */
static void hook_exited(Watch *w, size_t i, int status) {
        Hook *h = &w->hooks[i];
        hook_read(w, i);
        if (h->len > 0)
                hook_print_line(w, i);
        if (h->fd >= 0) { /* something it started still holds the pipe: not waited for */
                close(h->fd);
                h->fd = -1;
        }
        char dbuf[32];
        _cleanup_free_ char *why = NULL;
        bool ok = false;
        int k = 0;
        if (h->kill_at > 0)
                k = asprintf(&why, "%s timed out after %s (killed)", hook_name(h), cli_format_duration(w->hook_timeout_ms, dbuf));
        else if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                ok = true;
        else if (WIFEXITED(status))
                k = asprintf(&why, "%s exited %d", hook_name(h), WEXITSTATUS(status));
        else
                k = asprintf(&why, "%s killed by signal %d (%s)", hook_name(h), WTERMSIG(status), strsignal(WTERMSIG(status)));
        if (k < 0)
                why = NULL;
        bool after = h->after;
        h->pid = 0;
        h->kill_at = 0;
        hook_ended(w, i, after, ok, why);
}

/* Reads the running hooks' output, reaps those that exited, and terminates those past
 * --hook-timeout (SIGTERM to the process group, SIGKILL HOOK_KILL_GRACE_MS later). */
static void hooks_pump(Watch *w) {
        char dbuf[32];
        for (size_t i = 0; i < w->roll.n; i++) {
                Hook *h = &w->hooks[i];
                if (h->pid <= 0)
                        continue;
                hook_read(w, i);
                int status = 0;
                pid_t p = waitpid(h->pid, &status, WNOHANG);
                if (p == h->pid || (p < 0 && errno == ECHILD)) {
                        hook_exited(w, i, p == h->pid ? status : W_EXITCODE(127, 0));
                        continue;
                }
                int64_t now = now_monotonic_ms();
                if (h->kill_at == 0 && now >= h->deadline) {
                        progress(w->roll.nodes[i].name, "%s still runs after %s (--hook-timeout): terminating it", hook_name(h),
                                 cli_format_duration(w->hook_timeout_ms, dbuf));
                        kill(-h->pid, SIGTERM);
                        h->kill_at = now + HOOK_KILL_GRACE_MS;
                } else if (h->kill_at > 0 && now >= h->kill_at) {
                        kill(-h->pid, SIGKILL);
                        h->kill_at = INT64_MAX;
                }
        }
}

/* The roll ends with hooks still running (interrupted, --timeout, a refused submission):
 * SIGTERM to their process groups, SIGKILL HOOK_KILL_GRACE_MS later, all reaped.  Their nodes
 * stay unfinished. */
static void hooks_stop(Watch *w) {
        bool any = false;
        for (size_t i = 0; i < w->roll.n; i++)
                if (w->hooks[i].pid > 0) {
                        progress(w->roll.nodes[i].name, "%s: terminating it (the roll ends)", hook_name(&w->hooks[i]));
                        kill(-w->hooks[i].pid, SIGTERM);
                        any = true;
                }
        int64_t until = now_monotonic_ms() + HOOK_KILL_GRACE_MS;
        while (any) {
                any = false;
                bool late = now_monotonic_ms() >= until;
                for (size_t i = 0; i < w->roll.n; i++) {
                        Hook *h = &w->hooks[i];
                        if (h->pid <= 0)
                                continue;
                        hook_read(w, i);
                        if (late)
                                kill(-h->pid, SIGKILL);
                        pid_t p = waitpid(h->pid, NULL, late ? 0 : WNOHANG);
                        if (p == h->pid || (p < 0 && errno != EINTR)) {
                                if (h->len > 0)
                                        hook_print_line(w, i);
                                if (h->fd >= 0)
                                        close(h->fd);
                                *h = (Hook) { .fd = -1 };
                        } else
                                any = true;
                }
                if (any)
                        cli_sleep_ms(50);
        }
}

/* Node i is in CLI_ROLL_STEP_AFTER: runs its --after. */
static void start_after(Watch *w, size_t i) {
        if (w->roll.nodes[i].state == CLI_ROLL_IN_FLIGHT && w->roll.nodes[i].step == CLI_ROLL_STEP_AFTER)
                hook_run(w, i, true);
}

/* Node i was seen installed: finished, at its gate, or on to --after. */
static void node_installed(Watch *w, size_t i) {
        const CliRollNode *node = &w->roll.nodes[i];
        char dbuf[32];
        w->changed = true;
        if (node->state == CLI_ROLL_IN_FLIGHT && node->step == CLI_ROLL_STEP_GATE) {
                progress(node->name, "installed; waiting for it to report running its system (--gate-timeout %s from its request)",
                         cli_format_duration(w->roll.gate_timeout_ms, dbuf));
                return;
        }
        progress(node->name, "installed");
        start_after(w, i);
}

/* A provision state of node i seen (event_id 0: from a fresh read; message: the event's). */
static void observe(Watch *w, size_t i, const char *state, int64_t event_id, const char *message) {
        switch (cli_roll_observe(&w->roll, i, state, event_id)) {
        case CLI_ROLL_SEEN_CHANGED:
                progress(w->roll.nodes[i].name, "%s", state);
                break;
        case CLI_ROLL_SEEN_INSTALLED:
                node_installed(w, i);
                break;
        case CLI_ROLL_SEEN_FAILED: {
                _cleanup_free_ char *why = NULL;
                if (message && asprintf(&why, "install failed: %s", message) >= 0)
                        cli_roll_set_why(&w->roll, i, why);
                else
                        explain_failure(w, i);
                report_failed(w, i);
                break;
        }
        default:
                break;
        }
}

/* CliSseHandler: queue transition events (no HTTP inside curl's callbacks). */
static void on_event(void *userdata, const char *type, const char *data) {
        Watch *w = userdata;
        if (*type && !streq(type, "transition"))
                return;
        json_t *e = json_loads(data, 0, NULL);
        if (json_is_object(e))
                json_array_append_new(w->queued, e);
        else
                json_decref(e);
}

static size_t on_stream_body(char *ptr, size_t size, size_t nmemb, void *user) {
        Watch *w = user;
        size_t n = size * nmemb;
        if (w->stream_status == 0)
                curl_easy_getinfo(w->stream, CURLINFO_RESPONSE_CODE, &w->stream_status);
        if (w->stream_status != 200)
                return n; /* an error body: read and ignore; the status decides */
        return cli_sse_feed(&w->sse, ptr, n) < 0 ? 0 : n;
}

static size_t on_stream_header(char *ptr, size_t size, size_t nmemb, void *user) {
        Watch *w = user;
        size_t n = size * nmemb;
        if (n <= 2 && (n == 0 || ptr[0] == '\r' || ptr[0] == '\n')) { /* end of the headers */
                curl_easy_getinfo(w->stream, CURLINFO_RESPONSE_CODE, &w->stream_status);
                if (w->stream_status == 200 && !w->stream_connected) {
                        w->stream_connected = true;
                        w->stream_backoff_ms = 1000;
                }
        }
        return n;
}

static void stream_start(Watch *w) {
        if (w->stream_disabled || w->stream_active || now_monotonic_ms() < w->stream_retry_at)
                return;
        char path[64], hdr[64];
        snprintf(path, sizeof path, "/v1/events/stream?since=%" PRId64, w->sse.last_id);
        curl_slist_free_all(w->stream_headers);
        w->stream_headers = curl_slist_append(NULL, "Accept: text/event-stream");
        snprintf(hdr, sizeof hdr, "Last-Event-ID: %" PRId64, w->sse.last_id);
        if (w->stream_headers)
                w->stream_headers = curl_slist_append(w->stream_headers, hdr);
        if (!w->stream_headers || !cli_curl_setup_handle(w->cli, w->stream, "GET", path, &w->stream_headers, w->stream_err)) {
                w->stream_disabled = true;
                return;
        }
        curl_easy_setopt(w->stream, CURLOPT_HTTPHEADER, w->stream_headers);
        curl_easy_setopt(w->stream, CURLOPT_WRITEFUNCTION, on_stream_body);
        curl_easy_setopt(w->stream, CURLOPT_WRITEDATA, w);
        curl_easy_setopt(w->stream, CURLOPT_HEADERFUNCTION, on_stream_header);
        curl_easy_setopt(w->stream, CURLOPT_HEADERDATA, w);
        curl_easy_setopt(w->stream, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(w->stream, CURLOPT_LOW_SPEED_TIME, STREAM_SILENCE_S);
        w->stream_status = 0;
        w->stream_err[0] = '\0';
        cli_sse_reset(&w->sse);
        if (curl_multi_add_handle(w->multi, w->stream) != CURLM_OK) {
                w->stream_disabled = true;
                return;
        }
        w->stream_active = true;
}

/* Drives the stream transfer; handles its end.  Then handles the queued events. */
static void stream_pump(Watch *w) {
        if (!w->stream_active)
                return;
        int running = 0;
        curl_multi_perform(w->multi, &running);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(w->multi, &left))) {
                if (m->msg != CURLMSG_DONE || m->easy_handle != w->stream)
                        continue;
                CURLcode cc = m->data.result;
                curl_multi_remove_handle(w->multi, w->stream);
                w->stream_active = false;
                bool was_connected = w->stream_connected;
                w->stream_connected = false;
                if (w->stream_status >= 400 && w->stream_status < 500) {
                        fprintf(stderr, "provd: the event stream answered HTTP %ld; polling GET /v1/nodes every %d s instead\n",
                                w->stream_status, POLL_NODES_MS / 1000);
                        w->stream_disabled = true;
                } else {
                        if (was_connected)
                                fprintf(stderr, "provd: the event stream ended%s%s; reconnecting (polling meanwhile)\n",
                                        cc != CURLE_OK ? ": " : "",
                                        cc != CURLE_OK ? (*w->stream_err ? w->stream_err : curl_easy_strerror(cc)) : "");
                        w->stream_retry_at = now_monotonic_ms() + w->stream_backoff_ms;
                        w->stream_backoff_ms = w->stream_backoff_ms * 2 > STREAM_RETRY_MAX_MS ? STREAM_RETRY_MAX_MS
                                                                                                : w->stream_backoff_ms * 2;
                }
        }
        size_t k;
        json_t *e;
        json_array_foreach(w->queued, k, e) {
                const char *node = cli_json_str(e, "node"), *to = cli_json_str(e, "to"), *cause = cli_json_str(e, "cause"),
                           *msg = cli_json_str(e, "message");
                ssize_t i = node && to ? cli_roll_find(&w->roll, node) : -1;
                if (i < 0)
                        continue;
                const CliRollNode *n = &w->roll.nodes[i];
                int64_t id = json_integer_value(json_object_get(e, "id"));
                /* the reinstall's BMC steps ("boot device set to pxe", "power cycled"): state unchanged */
                if (cause && streq(cause, "bmc") && msg && n->state == CLI_ROLL_IN_FLIGHT && n->armed && id > n->armed_event)
                        progress(n->name, "%s", msg);
                observe(w, (size_t) i, to, id, msg);
        }
        json_array_clear(w->queued);
}

/* Node i's mark step is done: read its state and newest event id, arm it. */
static void arm(Watch *w, size_t i) {
        const char *name = w->roll.nodes[i].name;
        _cleanup_free_ char *esc = cli_escape(w->cli, name), *path = NULL;
        if (!esc || asprintf(&path, "/v1/nodes/%s/history?limit=1", esc) < 0)
                return;
        _cleanup_(json_decrefp) json_t *j = NULL;
        if (cli_call(w->cli, "GET", path, NULL, &j) < 0)
                return; /* tried again on the next round */
        const json_t *newest = json_array_get(json_object_get(j, "history"), 0);
        const char *state = cli_json_str(newest, "to");
        _cleanup_(json_decrefp) json_t *node = NULL;
        if (!state) { /* no history at all: the node's state is its first */
                free(path);
                if (asprintf(&path, "/v1/nodes/%s", esc) < 0 || cli_call(w->cli, "GET", path, NULL, &node) < 0) {
                        path = NULL;
                        return;
                }
                state = cli_json_str(node, "state");
        }
        cli_roll_arm(&w->roll, i, json_integer_value(json_object_get(newest, "id")));
        observe(w, i, state ? state : "pending", 0, NULL);
}

/* Follows the unfinished reinstall operations: arms nodes whose mark step is done, fails
 * nodes whose operation failed. */
static void poll_operations(Watch *w) {
        int64_t now = now_monotonic_ms();
        if (now - w->last_ops_poll < POLL_OPS_MS)
                return;
        w->last_ops_poll = now;
        for (size_t i = 0; i < w->roll.n && !cli_interrupted; i++) {
                CliRollNode *node = &w->roll.nodes[i];
                if (node->state != CLI_ROLL_IN_FLIGHT || node->op_id == 0 || node->op_finished)
                        continue;
                _cleanup_(json_decrefp) json_t *op = NULL;
                int r = cli_get_operation(w->cli, node->op_id, &op);
                if (r == -ENOENT) {
                        node->op_finished = true;
                        _cleanup_free_ char *why = NULL;
                        if (asprintf(&why, "operation %" PRId64 " is gone (provd restarted?)", node->op_id) >= 0 &&
                            cli_roll_finish(&w->roll, i, false, why) == 0)
                                report_failed(w, i);
                        continue;
                }
                if (r < 0)
                        continue;
                json_object_set(w->ops, node->name, op);
                node->op_finished = cli_op_finished(op);
                if (cli_op_failed(op) && node->step == CLI_ROLL_STEP_INSTALL) {
                        _cleanup_free_ char *why = NULL;
                        if (asprintf(&why, "reinstall operation %" PRId64 " failed: %s", node->op_id, cli_op_error(op)) >= 0 &&
                            cli_roll_finish(&w->roll, i, false, why) == 0)
                                report_failed(w, i);
                        continue;
                }
                if (!node->armed && cli_op_marked(op))
                        arm(w, i);
        }
}

/* GET /v1/nodes: states of armed nodes (fresh reads). */
static void poll_nodes(Watch *w) {
        int64_t now = now_monotonic_ms();
        if (now - w->last_nodes_poll < (w->stream_connected ? POLL_NODES_SAFETY_MS : POLL_NODES_MS))
                return;
        w->last_nodes_poll = now;
        _cleanup_(json_decrefp) json_t *nodes = NULL;
        if (cli_get_nodes(w->cli, w->poll_query, &nodes) < 0)
                return;
        size_t k;
        json_t *n;
        json_array_foreach(nodes, k, n) {
                const char *name = cli_json_str(n, "name"), *state = cli_json_str(n, "state");
                ssize_t i = name && state ? cli_roll_find(&w->roll, name) : -1;
                if (i >= 0)
                        observe(w, (size_t) i, state, 0, NULL);
        }
}

/* Requests node i's reinstall (it is in CLI_ROLL_STEP_INSTALL); its gate timeout counts from now. */
static void request_reinstall(Watch *w, size_t i) {
        CliRollNode *node = &w->roll.nodes[i];
        CliSubmit s = { 0 };
        cli_roll_requested(&w->roll, i, now_monotonic_ms());
        if (cli_submit(w->cli, node->name, "reinstall", NULL, &s) < 0) {
                cli_roll_finish(&w->roll, i, false, "out of memory");
                w->fatal = true;
                return;
        }
        if (s.op) {
                node->op_id = json_integer_value(json_object_get(s.op, "id"));
                json_object_set(w->ops, node->name, s.op);
                node->op_finished = cli_op_finished(s.op);
                progress(node->name, "submitted (operation %" PRId64 ")", node->op_id);
                if (cli_op_failed(s.op)) {
                        _cleanup_free_ char *why = NULL;
                        if (asprintf(&why, "reinstall operation %" PRId64 " failed: %s", node->op_id, cli_op_error(s.op)) >= 0)
                                cli_roll_finish(&w->roll, i, false, why);
                        report_failed(w, i);
                } else if (cli_op_marked(s.op))
                        arm(w, i);
        } else {
                _cleanup_free_ char *why = NULL;
                if (asprintf(&why, "not submitted: %s", s.message) >= 0)
                        cli_roll_finish(&w->roll, i, false, why);
                json_array_append(w->errors, s.err);
                report_failed(w, i);
                w->fatal = s.fatal;
        }
        cli_submit_free(&s);
}

/* Starts nodes while the scheduler lets it: their --before, or their reinstall. */
static void start_next(Watch *w) {
        ssize_t i;
        while (!w->fatal && !cli_interrupted && (i = cli_roll_next(&w->roll)) >= 0) {
                if (!w->roll.before) {
                        request_reinstall(w, (size_t) i);
                        continue;
                }
                progress(w->roll.nodes[i].name, "running --before");
                hook_run(w, (size_t) i, false);
        }
}

/* With the gate: every POLL_GATE_MS while nodes wait at it, GET /v1/nodes for their drift, and
 * for those that say in_sync GET /v1/nodes/{name} for the report's time; nodes through go on
 * to --after. */
static void poll_gates(Watch *w) {
        if (!w->roll.gate)
                return;
        bool waiting = false;
        for (size_t i = 0; i < w->roll.n && !waiting; i++)
                waiting = w->roll.nodes[i].state == CLI_ROLL_IN_FLIGHT && w->roll.nodes[i].step == CLI_ROLL_STEP_GATE;
        int64_t now = now_monotonic_ms();
        if (!waiting || now - w->last_gate_poll < POLL_GATE_MS)
                return;
        w->last_gate_poll = now;
        _cleanup_(json_decrefp) json_t *nodes = NULL;
        if (cli_get_nodes(w->cli, w->poll_query, &nodes) < 0)
                return;
        size_t k;
        json_t *n;
        json_array_foreach(nodes, k, n) {
                const char *name = cli_json_str(n, "name"), *state = cli_json_str(n, "state"), *drift = cli_json_str(n, "drift");
                ssize_t i = name ? cli_roll_find(&w->roll, name) : -1;
                if (i < 0 || w->roll.nodes[i].state != CLI_ROLL_IN_FLIGHT || w->roll.nodes[i].step != CLI_ROLL_STEP_GATE)
                        continue;
                CliRollGate g;
                if (state && streq(state, "installed") && drift && streq(drift, "in_sync")) {
                        /* in_sync: but since the install, or from the old installation? */
                        _cleanup_free_ char *esc = cli_escape(w->cli, name), *path = NULL;
                        _cleanup_(json_decrefp) json_t *node = NULL;
                        if (!esc || asprintf(&path, "/v1/nodes/%s", esc) < 0) {
                                path = NULL;
                                continue;
                        }
                        if (cli_call(w->cli, "GET", path, NULL, &node) < 0)
                                continue;
                        g = cli_roll_gate(&w->roll, (size_t) i, cli_json_str(node, "state"), cli_json_str(node, "drift"),
                                          cli_json_str(node, "state_since"), cli_json_str(json_object_get(node, "report"), "reported_at"));
                } else
                        g = cli_roll_gate(&w->roll, (size_t) i, state, drift, NULL, NULL);
                if (g != CLI_ROLL_GATE_PASSED)
                        continue;
                w->changed = true;
                progress(name, "in_sync: reports running its system since it was installed");
                start_after(w, (size_t) i);
        }
}

/* With the gate: nodes past --gate-timeout finish as timed out and stop the roll. */
static void expire_gates(Watch *w) {
        ssize_t i;
        char dbuf[32];
        while ((i = cli_roll_expire(&w->roll, now_monotonic_ms())) >= 0) {
                const CliRollNode *node = &w->roll.nodes[i];
                w->changed = true;
                progress(node->name, "timeout: not back within --gate-timeout %s (%s)", cli_format_duration(w->roll.gate_timeout_ms, dbuf),
                         node->why);
                if (w->roll.stopped_by == i && w->roll.next < w->roll.n)
                        fprintf(stderr, "provd: the roll stops: %s did not come back in time; %zu node%s not started; waiting for the %zu in flight\n",
                                node->name, w->roll.n - w->roll.next, w->roll.n - w->roll.next == 1 ? "" : "s", w->roll.in_flight);
        }
}

/* The message of node i's result: why it failed, was skipped, timed out, did not finish or was
 * not started; its --after's failure; "" for a plain pass. */
static const char *result_message(const Watch *w, size_t i, const char *unfinished_why, char *buf, size_t size) {
        const CliRollNode *node = &w->roll.nodes[i];
        switch (node->state) {
        case CLI_ROLL_INSTALLED:
                return node->after_why ? node->after_why : "";
        case CLI_ROLL_FAILED:
        case CLI_ROLL_SKIPPED:
        case CLI_ROLL_TIMEOUT:
                return node->why ? node->why : "";
        case CLI_ROLL_WAITING:
                if (w->roll.stopped && w->roll.stopped_by >= 0) {
                        snprintf(buf, size, "roll stopped: %s did not come back within --gate-timeout",
                                 w->roll.nodes[w->roll.stopped_by].name);
                        return buf;
                }
                return unfinished_why ? unfinished_why : "";
        default:
                return unfinished_why ? unfinished_why : "";
        }
}

/* Prints the results (stdout): a table NODE RESULT MESSAGE, or with --json {"operations",
 * "nodes" (final NodeSummary of the selected nodes), "results", "errors", "gate",
 * "stopped_by"}. */
static int print_results(Watch *w, const char *unfinished_why) {
        char mbuf[256];
        if (w->cli->json) {
                _cleanup_(json_decrefp) json_t *ops = json_array(), *results = json_array(), *final = json_array();
                _cleanup_(json_decrefp) json_t *all = NULL;
                if (!ops || !results || !final)
                        return -ENOMEM;
                cli_get_nodes(w->cli, w->poll_query, &all); /* on failure: "nodes" stays empty */
                for (size_t i = 0; i < w->roll.n; i++) {
                        const CliRollNode *node = &w->roll.nodes[i];
                        json_t *op = json_object_get(w->ops, node->name);
                        if (op)
                                json_array_append(ops, op);
                        size_t k;
                        json_t *n;
                        json_array_foreach(all, k, n)
                                if (cli_json_str(n, "name") && streq(cli_json_str(n, "name"), node->name))
                                        json_array_append(final, n);
                        const char *why = result_message(w, i, unfinished_why, mbuf, sizeof mbuf);
                        json_array_append_new(results, json_pack("{s:s, s:s, s:s?}", "node", node->name, "result",
                                                                 cli_roll_result(&w->roll, i), "message", *why ? why : NULL));
                }
                _cleanup_(json_decrefp) json_t *o = json_pack(
                        "{s:O, s:O, s:O, s:O, s:b, s:s?}", "operations", ops, "nodes", final, "results", results, "errors",
                        w->errors, "gate", w->roll.gate, "stopped_by",
                        w->roll.stopped_by >= 0 ? w->roll.nodes[w->roll.stopped_by].name : NULL);
                if (!o)
                        return -ENOMEM;
                cli_print_json(o);
                return 0;
        }
        _cleanup_(cli_table_freep) CliTable *t = cli_table_new(3);
        if (!t || cli_table_add(t, (const char *[]) { "NODE", "RESULT", "MESSAGE" }) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < w->roll.n; i++) {
                const char *why = result_message(w, i, unfinished_why, mbuf, sizeof mbuf);
                if (cli_table_add(t, (const char *[]) { w->roll.nodes[i].name, cli_roll_result(&w->roll, i), why }) < 0)
                        return -ENOMEM;
        }
        cli_table_print(t, stdout);
        return 0;
}

/* reinstall --wait: the loop.  Returns the exit code. */
int cli_wait_reinstall(Cli *cli, const CliNames *names, const CliWaitOptions *o) {
        Watch w = { .cli = cli, .poll_query = o->poll_query, .stream_backoff_ms = 1000, .stream_disabled = o->poll,
                    .before_cmd = o->before, .after_cmd = o->after, .hook_timeout_ms = o->hook_timeout_ms };
        _cleanup_(json_decrefp) json_t *summary = NULL;
        int ret = CLI_EXIT_ERROR;
        const char *unfinished_why = NULL;
        char dbuf[32];

        w.sse = (CliSse) { .on_event = on_event, .userdata = &w };
        if (cli_roll_init(&w.roll, (const char *const *) names->v, names->n, o->parallel) < 0)
                return CLI_EXIT_ERROR;
        w.ops = json_object();
        w.errors = json_array();
        w.queued = json_array();
        w.multi = curl_multi_init();
        w.stream = curl_easy_init();
        w.hooks = calloc(names->n ? names->n : 1, sizeof *w.hooks);
        w.waitfds = calloc(names->n ? names->n : 1, sizeof *w.waitfds);
        if (!w.ops || !w.errors || !w.queued || !w.multi || !w.stream || !w.hooks || !w.waitfds) {
                fprintf(stderr, "provd: out of memory\n");
                goto finish;
        }
        for (size_t i = 0; i < names->n; i++)
                w.hooks[i].fd = -1;

        /* The stream starts after the newest event now: nothing later is missed.  The summary's
         * "drift" says whether this provd knows node reports, which the gate needs. */
        if (cli_call(cli, "GET", "/v1/summary", NULL, &summary) < 0)
                goto finish;
        w.sse.last_id = json_integer_value(json_object_get(summary, "last_event_id"));
        bool drift = json_is_object(json_object_get(summary, "drift"));
        if (o->gate > 0 && !drift) {
                fprintf(stderr, "provd: --gate-timeout: provd at %s does not report node drift (no \"drift\" in GET /v1/summary), "
                                "so nodes cannot be gated; nothing submitted (--no-gate: a node is done when installed)\n",
                        cli->url);
                goto finish;
        }
        if (o->gate < 0 && !drift)
                fprintf(stderr, "provd: provd at %s does not report node drift: the roll is not health-gated, a node is done "
                                "when installed (--no-gate silences this)\n",
                        cli->url);
        w.roll.gate = o->gate != 0 && drift;
        w.roll.gate_timeout_ms = o->gate_timeout_ms;
        w.roll.before = o->before != NULL;
        w.roll.after = o->after != NULL;

        cli_catch_signals();
        int64_t start = now_monotonic_ms(), deadline = o->timeout_ms > 0 ? start + o->timeout_ms : INT64_MAX;
        w.last_summary = start;
        if (o->parallel > 0 && o->parallel < names->n)
                fprintf(stderr, "provd: reinstalling %zu nodes, at most %zu at once", names->n, o->parallel);
        else
                fprintf(stderr, "provd: reinstalling %zu node%s", names->n, names->n == 1 ? "" : "s");
        if (w.roll.gate)
                fprintf(stderr, "; a node is done when it reports running its system (--gate-timeout %s)",
                        cli_format_duration(w.roll.gate_timeout_ms, dbuf));
        fputc('\n', stderr);
        while (!cli_roll_done(&w.roll)) {
                if (cli_interrupted) {
                        unfinished_why = "interrupted";
                        break;
                }
                if (w.fatal) {
                        unfinished_why = "not submitted: an earlier submission was refused";
                        break;
                }
                if (now_monotonic_ms() >= deadline) {
                        unfinished_why = "timed out (--timeout)";
                        break;
                }
                stream_start(&w);
                stream_pump(&w);
                start_next(&w);
                hooks_pump(&w);
                poll_operations(&w);
                stream_pump(&w);
                poll_nodes(&w);
                poll_gates(&w);
                expire_gates(&w);
                if (cli_roll_done(&w.roll))
                        break;
                int64_t now = now_monotonic_ms();
                if (w.changed || now - w.last_summary >= SUMMARY_MS)
                        print_summary(&w);
                /* Wait for stream data or hook output, at most until the next poll is due. */
                unsigned n_fds = 0;
                for (size_t i = 0; i < w.roll.n; i++)
                        if (w.hooks[i].pid > 0 && w.hooks[i].fd >= 0)
                                w.waitfds[n_fds++] = (struct curl_waitfd) { .fd = w.hooks[i].fd, .events = CURL_WAIT_POLLIN };
                curl_multi_poll(w.multi, n_fds ? w.waitfds : NULL, n_fds, 250, NULL);
        }
        hooks_stop(&w);
        print_summary(&w);
        if (unfinished_why) {
                size_t in_flight = w.roll.in_flight, waiting = w.roll.n - w.roll.next;
                fprintf(stderr, "provd: %s: %zu node%s still in progress, %zu not submitted\n", unfinished_why, in_flight,
                        in_flight == 1 ? "" : "s", waiting);
        } else if (w.roll.stopped && w.roll.stopped_by >= 0)
                fprintf(stderr, "provd: the roll stopped: %s did not come back within --gate-timeout %s; %zu node%s not started\n",
                        w.roll.nodes[w.roll.stopped_by].name, cli_format_duration(w.roll.gate_timeout_ms, dbuf), w.roll.n - w.roll.next,
                        w.roll.n - w.roll.next == 1 ? "" : "s");
        if (print_results(&w, unfinished_why) < 0) {
                fprintf(stderr, "provd: out of memory\n");
                goto finish;
        }
        if (w.roll.stopped)
                ret = CLI_EXIT_STOPPED;
        else
                ret = w.roll.installed == w.roll.n && w.roll.after_failed == 0 ? CLI_EXIT_OK : CLI_EXIT_ERROR;

finish:
        if (w.hooks)
                hooks_stop(&w);
        if (w.stream_active)
                curl_multi_remove_handle(w.multi, w.stream);
        if (w.stream)
                curl_easy_cleanup(w.stream);
        if (w.multi)
                curl_multi_cleanup(w.multi);
        curl_slist_free_all(w.stream_headers);
        cli_sse_free(&w.sse);
        json_decref(w.queued);
        json_decref(w.ops);
        json_decref(w.errors);
        free(w.hooks);
        free(w.waitfds);
        cli_roll_free(&w.roll);
        return ret;
}
