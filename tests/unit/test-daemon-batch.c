/* test-daemon-batch.c — unit tests for daemon.c's group commit, on a real Daemon (an inventory
 * file and a state directory in a temp directory): concurrent first boots and installer events
 * share store transactions (fewer commits than transitions), each answered only after its
 * batch committed; observers see every transition once, in commit order (seq and history ids
 * increasing together); a COMMIT that fails (the store's commit hook refuses it, as a full
 * disk would make it fail) fails every transition of the batch with its errno, hands out
 * nothing, leaves the in-memory state as it was (no phantom attempt or token), publishes no
 * event and tells no observer — and the same transitions succeed once commits work again. */
#include "check-main.h"
#include "store-backend.h"
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "util.h"

#define N_NODES 24

static char dir[64];
static Daemon *d;

static void write_file(const char *path, const char *text) {
        FILE *f = fopen(path, "w");
        ck_assert_ptr_nonnull(f);
        fputs(text, f);
        ck_assert_int_eq(fclose(f), 0);
}

static void setup(void) {
        char path[128], kernel[128], initrd[128], state[128], json[16384];
        size_t len = 0;

        snprintf(dir, sizeof dir, "/tmp/provd-test-batch-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(dir));
        snprintf(kernel, sizeof kernel, "%s/bzImage", dir);
        snprintf(initrd, sizeof initrd, "%s/initrd", dir);
        snprintf(state, sizeof state, "%s/state", dir);
        write_file(kernel, "kernel");
        write_file(initrd, "initrd");
        len += (size_t) snprintf(json + len, sizeof json - len, "{\"version\": 1, \"nodes\": [");
        for (int i = 1; i <= N_NODES; i++)
                len += (size_t) snprintf(json + len, sizeof json - len,
                                         "%s{\"name\": \"node-%02d\", \"mac\": [\"52:54:00:00:00:%02d\"], "
                                         "\"boot\": {\"kernel\": \"%s\", \"initrd\": [\"%s\"], \"cmdline\": "
                                         "\"init=/nix/store/x/init\"}, \"system\": {\"toplevel\": "
                                         "\"/nix/store/a-system\", \"install\": \"/nix/store/b-install\"}}",
                                         i > 1 ? ", " : "", i, i, kernel, initrd);
        snprintf(json + len, sizeof json - len, "]}");
        snprintf(path, sizeof path, "%s/inventory.json", dir);
        write_file(path, json);
        log_set_max_level(LOG_CRIT);
        ck_assert_int_eq(daemon_new(&(DaemonConfig) { .inventory_path = path, .state_dir = state,
                                                      .state_url = test_state_url(),
                                                      .public_url = "http://127.0.0.1:1" },
                                    &d),
                         0);
}

static void teardown(void) {
        char cmd[128];
        daemon_free(d);
        d = NULL;
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        ck_assert_int_eq(system(cmd), 0);
}

/* ---- a recording observer ----------------------------------------------------------------- */

#define SEEN_MAX 1024

typedef struct Seen {
        uint64_t seq;
        int64_t event_id;
        char node[64];
        ProvisionState from, to;
} Seen;

static pthread_mutex_t seen_lock = PTHREAD_MUTEX_INITIALIZER;
static Seen seen[SEEN_MAX];
static size_t n_seen;

static void record(const DaemonTransition *t, void *ctx) {
        (void) ctx;
        pthread_mutex_lock(&seen_lock);
        ck_assert_uint_lt(n_seen, SEEN_MAX);
        seen[n_seen++] = (Seen) { .seq = t->seq, .event_id = t->event_id, .from = t->from, .to = t->to };
        snprintf(seen[n_seen - 1].node, sizeof seen[0].node, "%s", t->bmc.node);
        pthread_mutex_unlock(&seen_lock);
}

/* Observers saw seen[from..n_seen) in commit order: seq and history ids both increasing, each
 * node at most once (each of these tests makes one transition per node in that span). */
static void assert_commit_order(size_t from) {
        for (size_t i = from + 1; i < n_seen; i++) {
                ck_assert_uint_gt(seen[i].seq, seen[i - 1].seq);
                ck_assert_int_gt(seen[i].event_id, seen[i - 1].event_id);
        }
        for (size_t i = from; i < n_seen; i++)
                for (size_t j = i + 1; j < n_seen; j++)
                        ck_assert_str_ne(seen[i].node, seen[j].node);
}

/* ---- the commit hook: hold the first commit so that the other writers queue; fail commits - */

static atomic_int hold_ms;       /* sleep this long at the next commit (then 0) */
static atomic_int fail_errno;    /* < 0: every commit fails with it */
static atomic_int commits_seen;  /* commits the hook was asked about */

static int commit_hook(void *userdata) {
        (void) userdata;
        atomic_fetch_add(&commits_seen, 1);
        int ms = atomic_exchange(&hold_ms, 0);
        if (ms > 0)
                nanosleep(&(struct timespec) { .tv_sec = ms / 1000, .tv_nsec = (long) (ms % 1000) * 1000000L }, NULL);
        return atomic_load(&fail_errno);
}

/* ---- helpers ------------------------------------------------------------------------------- */

static void mac_of(int i, char *buf, size_t len) {
        snprintf(buf, len, "52:54:00:00:00:%02d", i);
}

/* The install token in a pixiecore answer's cmdline, into buf. */
static void token_of(const char *body, char *buf, size_t len) {
        const char *p = strstr(body, "provd.token=");
        ck_assert_ptr_nonnull(p);
        p += strlen("provd.token=");
        size_t n = strcspn(p, " \"");
        ck_assert_uint_lt(n, len);
        memcpy(buf, p, n);
        buf[n] = '\0';
}

static const char *node_state(const char *name, int64_t *ret_attempt) {
        json_t *o = NULL;
        ck_assert_int_eq(daemon_node_json(d, name, &o), 0);
        static char state[32];
        snprintf(state, sizeof state, "%s", json_string_value(json_object_get(o, "state")));
        json_t *a = json_object_get(o, "attempt");
        if (ret_attempt)
                *ret_attempt = json_is_object(a) ? json_integer_value(json_object_get(a, "number")) : 0;
        json_decref(o);
        return state;
}

static int64_t last_event_id(void) {
        json_t *o = NULL;
        ck_assert_int_eq(daemon_events_json(d, -1, 0, 1, &o), 0);
        int64_t id = json_integer_value(json_object_get(o, "last_event_id"));
        json_decref(o);
        return id;
}

/* One thread per call, started together. */
typedef struct Call {
        int i;              /* node number, 1-based */
        const char *phase;  /* NULL: a first boot; else an installer event with `token` */
        char token[128];
        int r;
        char *body;         /* boot answer */
        json_t *ret;        /* event answer */
        char err[256];
} Call;

static pthread_barrier_t start;

static void *call_thread(void *arg) {
        Call *c = arg;
        pthread_barrier_wait(&start);
        if (!c->phase) {
                char mac[32];
                DaemonBootResult result;
                mac_of(c->i, mac, sizeof mac);
                c->r = daemon_boot(d, mac, DAEMON_BOOT_PIXIECORE, FIRMWARE_UNKNOWN, &result, &c->body);
        } else
                c->r = daemon_install_event(d, c->token, c->phase, NULL, &c->ret, c->err, sizeof c->err);
        return NULL;
}

/* Runs calls[0..n) at once, each on its own thread; the first commit is held hold ms so that
 * the others queue behind it. */
static void run_concurrently(Call *calls, size_t n, int hold) {
        pthread_t th[N_NODES];
        ck_assert_uint_le(n, N_NODES);
        atomic_store(&hold_ms, hold);
        ck_assert_int_eq(pthread_barrier_init(&start, NULL, (unsigned) n), 0);
        for (size_t i = 0; i < n; i++)
                ck_assert_int_eq(pthread_create(&th[i], NULL, call_thread, &calls[i]), 0);
        for (size_t i = 0; i < n; i++)
                ck_assert_int_eq(pthread_join(th[i], NULL), 0);
        pthread_barrier_destroy(&start);
}

static void boot_all(Call *calls, size_t n) {
        for (size_t i = 0; i < n; i++) {
                calls[i] = (Call) { .i = (int) i + 1 };
                char mac[32];
                DaemonBootResult result;
                _cleanup_free_ char *body = NULL;
                mac_of(calls[i].i, mac, sizeof mac);
                ck_assert_int_eq(daemon_boot(d, mac, DAEMON_BOOT_PIXIECORE, FIRMWARE_UNKNOWN, &result, &body), 0);
                token_of(body, calls[i].token, sizeof calls[i].token);
        }
}

/* ---- concurrent transitions share commits ------------------------------------------------- */

START_TEST(test_batch_concurrent_first_boots) {
        Call calls[N_NODES];
        uint64_t id;
        DaemonBatchStats before, after;

        ck_assert_int_eq(daemon_subscribe(d, record, NULL, &id), 0);
        daemon_set_commit_hook(d, commit_hook, NULL);
        daemon_batch_stats(d, &before);
        for (int i = 0; i < N_NODES; i++)
                calls[i] = (Call) { .i = i + 1 };
        run_concurrently(calls, N_NODES, 300);

        for (int i = 0; i < N_NODES; i++) {
                char name[32], token[128];
                ck_assert_int_eq(calls[i].r, 0);
                token_of(calls[i].body, token, sizeof token);
                free(calls[i].body);
                snprintf(name, sizeof name, "node-%02d", i + 1);
                int64_t attempt;
                ck_assert_str_eq(node_state(name, &attempt), "netbooting");
                ck_assert_int_eq(attempt, 1);
        }
        daemon_batch_stats(d, &after);
        ck_assert_uint_eq(after.writes - before.writes, N_NODES);
        ck_assert_uint_eq(after.failed, before.failed);
        /* The first writer's commit was held while the others queued: they share a commit. */
        ck_assert_uint_lt(after.commits - before.commits, N_NODES / 2);
        ck_assert_int_eq(atomic_load(&commits_seen), (int) (after.commits - before.commits));
        /* Every transition once, in commit order, each on disk (history rows) before delivery. */
        ck_assert_uint_eq(n_seen, N_NODES);
        assert_commit_order(0);
        ck_assert_int_eq(last_event_id(), seen[n_seen - 1].event_id);
        daemon_set_commit_hook(d, NULL, NULL);
        ck_assert_int_eq(daemon_unsubscribe(d, id), 0);
}
END_TEST

/* ---- suspended writes: answered only after their commit, and always ------------------------- */

typedef struct Async {
        DaemonWrite *w;
        atomic_int done;        /* done() calls */
        int commits_at_done;    /* commits the hook had seen when done() ran */
        size_t seen_at_done;    /* transitions the observer had seen when done() ran */
} Async;

static pthread_mutex_t async_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t async_cond = PTHREAD_COND_INITIALIZER;
static int async_done;

static void on_done(void *userdata) {
        Async *a = userdata;
        a->commits_at_done = atomic_load(&commits_seen);
        pthread_mutex_lock(&seen_lock);
        a->seen_at_done = n_seen;
        pthread_mutex_unlock(&seen_lock);
        atomic_fetch_add(&a->done, 1);
        pthread_mutex_lock(&async_lock);
        async_done++;
        pthread_cond_broadcast(&async_cond);
        pthread_mutex_unlock(&async_lock);
}

static void wait_async(int n) {
        pthread_mutex_lock(&async_lock);
        while (async_done < n)
                pthread_cond_wait(&async_cond, &async_lock);
        pthread_mutex_unlock(&async_lock);
}

START_TEST(test_batch_suspended_writes) {
        Call calls[N_NODES];
        Async as[N_NODES];
        uint64_t id;
        DaemonBatchStats before, after;
        char err[256];

        boot_all(calls, N_NODES);
        ck_assert_int_eq(daemon_subscribe(d, record, NULL, &id), 0);
        daemon_set_commit_hook(d, commit_hook, NULL);
        atomic_store(&commits_seen, 0);
        daemon_batch_stats(d, &before);
        /* One thread submits them all: no thread of theirs waits, the committer commits. */
        atomic_store(&hold_ms, 300);
        async_done = 0;
        for (int i = 0; i < N_NODES; i++) {
                as[i] = (Async) { .w = NULL };
                ck_assert_int_eq(daemon_install_event_submit(d, calls[i].token, "partitioning", "async", on_done, &as[i],
                                                             &as[i].w, err, sizeof err),
                                 0);
        }
        wait_async(N_NODES);
        daemon_batch_stats(d, &after);
        ck_assert_uint_eq(after.writes - before.writes, N_NODES);
        ck_assert_uint_lt(after.commits - before.commits, N_NODES / 2);
        for (int i = 0; i < N_NODES; i++) {
                json_t *ret = NULL;
                /* done() once, after a commit, after the observers saw the transition */
                ck_assert_int_eq(atomic_load(&as[i].done), 1);
                ck_assert_int_ge(as[i].commits_at_done, 1);
                ck_assert_uint_ge(as[i].seen_at_done, (size_t) i + 1);
                ck_assert_int_eq(daemon_install_event_finish(as[i].w, &ret, err, sizeof err), 0);
                ck_assert(json_is_true(json_object_get(ret, "changed")));
                json_decref(ret);
                daemon_write_free(as[i].w);
        }
        ck_assert_uint_eq(n_seen, N_NODES);
        assert_commit_order(0);

        /* A commit that fails: every suspended write gets done() and the store's errno. */
        atomic_store(&fail_errno, -ENOSPC);
        async_done = 0;
        for (int i = 0; i < 4; i++) {
                as[i] = (Async) { .w = NULL };
                ck_assert_int_eq(daemon_install_event_submit(d, calls[i].token, "installing", NULL, on_done, &as[i],
                                                             &as[i].w, err, sizeof err),
                                 0);
        }
        wait_async(4);
        for (int i = 0; i < 4; i++) {
                json_t *ret = NULL;
                ck_assert_int_eq(atomic_load(&as[i].done), 1);
                ck_assert_int_eq(daemon_install_event_finish(as[i].w, &ret, err, sizeof err), -ENOSPC);
                ck_assert_ptr_null(ret);
                ck_assert_ptr_nonnull(strstr(err, "cannot record the event"));
                daemon_write_free(as[i].w);
        }
        ck_assert_uint_eq(n_seen, N_NODES);
        atomic_store(&fail_errno, 0);

        /* Bad fields: answered at once, nothing queued. */
        DaemonWrite *w = NULL;
        ck_assert_int_eq(daemon_install_event_submit(d, calls[0].token, "sleeping", NULL, on_done, &as[0], &w, err,
                                                     sizeof err),
                         -EINVAL);
        ck_assert_ptr_null(w);

        /* Writes still queued when the daemon is freed are committed and done() first. */
        atomic_store(&hold_ms, 200);
        async_done = 0;
        for (int i = 0; i < N_NODES; i++) {
                as[i] = (Async) { .w = NULL };
                ck_assert_int_eq(daemon_install_event_submit(d, calls[i].token, "installing", NULL, on_done, &as[i],
                                                             &as[i].w, err, sizeof err),
                                 0);
        }
        daemon_set_commit_hook(d, NULL, NULL);
        ck_assert_int_eq(daemon_unsubscribe(d, id), 0);
        daemon_free(d);
        d = NULL;
        ck_assert_int_eq(async_done, N_NODES);
        for (int i = 0; i < N_NODES; i++) {
                json_t *ret = NULL;
                ck_assert_int_eq(atomic_load(&as[i].done), 1);
                ck_assert_int_eq(daemon_install_event_finish(as[i].w, &ret, err, sizeof err), 0);
                json_decref(ret);
                daemon_write_free(as[i].w);
        }
}
END_TEST

/* ---- a COMMIT that fails ---------------------------------------------------------------------- */

START_TEST(test_batch_commit_fails) {
        Call calls[N_NODES];
        uint64_t id;
        DaemonBatchStats before, after;

        boot_all(calls, N_NODES);
        ck_assert_int_eq(daemon_subscribe(d, record, NULL, &id), 0);
        daemon_set_commit_hook(d, commit_hook, NULL);
        int64_t last = last_event_id();

        /* Every node's installer reports "started" at once; every commit fails for space. */
        atomic_store(&fail_errno, -ENOSPC);
        for (int i = 0; i < N_NODES; i++)
                calls[i].phase = "started";
        daemon_batch_stats(d, &before);
        run_concurrently(calls, N_NODES, 300);
        daemon_batch_stats(d, &after);
        for (int i = 0; i < N_NODES; i++) {
                char name[32];
                ck_assert_int_eq(calls[i].r, -ENOSPC);
                ck_assert_ptr_null(calls[i].ret);
                ck_assert_ptr_nonnull(strstr(calls[i].err, "cannot record the event"));
                snprintf(name, sizeof name, "node-%02d", i + 1);
                ck_assert_str_eq(node_state(name, NULL), "netbooting"); /* not installing */
        }
        ck_assert_uint_gt(after.failed, before.failed);
        ck_assert_uint_lt(after.failed - before.failed, N_NODES / 2); /* batched: few commits */
        ck_assert_uint_eq(after.commits, before.commits);
        ck_assert_uint_eq(n_seen, 0);             /* no observer heard of them */
        ck_assert_int_eq(last_event_id(), last); /* nothing in the history */

        /* Commits work again: the same events succeed, each once, in commit order. */
        atomic_store(&fail_errno, 0);
        for (int i = 0; i < N_NODES; i++)
                calls[i].err[0] = '\0';
        run_concurrently(calls, N_NODES, 300);
        for (int i = 0; i < N_NODES; i++) {
                char name[32];
                ck_assert_int_eq(calls[i].r, 0);
                ck_assert(json_is_true(json_object_get(calls[i].ret, "changed")));
                json_decref(calls[i].ret);
                snprintf(name, sizeof name, "node-%02d", i + 1);
                ck_assert_str_eq(node_state(name, NULL), "installing");
        }
        ck_assert_uint_eq(n_seen, N_NODES);
        assert_commit_order(0);
        for (size_t i = 0; i < n_seen; i++) {
                ck_assert_int_eq(seen[i].from, PROVISION_NETBOOTING);
                ck_assert_int_eq(seen[i].to, PROVISION_INSTALLING);
                ck_assert_int_gt(seen[i].event_id, last);
        }
        ck_assert_int_eq(last_event_id(), seen[n_seen - 1].event_id);
        daemon_set_commit_hook(d, NULL, NULL);
        ck_assert_int_eq(daemon_unsubscribe(d, id), 0);
}
END_TEST

/* A first boot whose batch fails hands out no token and leaves no attempt behind in memory:
 * the next boot of the node is a first boot again (it opens attempt 1 and is delivered). */
START_TEST(test_batch_commit_fails_boot) {
        Call calls[N_NODES];
        uint64_t id;

        ck_assert_int_eq(daemon_subscribe(d, record, NULL, &id), 0);
        daemon_set_commit_hook(d, commit_hook, NULL);
        atomic_store(&fail_errno, -EIO);
        for (int i = 0; i < N_NODES; i++)
                calls[i] = (Call) { .i = i + 1 };
        run_concurrently(calls, N_NODES, 300);
        for (int i = 0; i < N_NODES; i++) {
                char name[32];
                ck_assert_int_eq(calls[i].r, -EIO);
                ck_assert_ptr_null(calls[i].body);
                snprintf(name, sizeof name, "node-%02d", i + 1);
                int64_t attempt;
                ck_assert_str_eq(node_state(name, &attempt), "new");
                ck_assert_int_eq(attempt, 0);
        }
        ck_assert_uint_eq(n_seen, 0);
        ck_assert_int_eq(last_event_id(), 0);

        atomic_store(&fail_errno, 0);
        DaemonBootResult result;
        _cleanup_free_ char *body = NULL;
        ck_assert_int_eq(daemon_boot(d, "52:54:00:00:00:01", DAEMON_BOOT_PIXIECORE, FIRMWARE_UNKNOWN, &result, &body), 0);
        ck_assert_ptr_nonnull(strstr(body, "provd.token="));
        int64_t attempt;
        ck_assert_str_eq(node_state("node-01", &attempt), "netbooting");
        ck_assert_int_eq(attempt, 1);
        ck_assert_uint_eq(n_seen, 1);
        ck_assert_int_eq(seen[0].from, PROVISION_NEW);
        daemon_set_commit_hook(d, NULL, NULL);
        ck_assert_int_eq(daemon_unsubscribe(d, id), 0);
}
END_TEST

/* The fixture of the PostgreSQL TCase. */
static void setup_pg(void) {
        store_backend_pg();
        setup();
}

static Suite *batch_suite(void) {
        Suite *s = suite_create("daemon-batch");
        for (int b = 0; b < store_backends(); b++) {
                TCase *tc = tcase_create(store_backend_name(b));
                tcase_add_checked_fixture(tc, b ? setup_pg : setup, teardown);
                tcase_set_timeout(tc, 60);
                tcase_add_test(tc, test_batch_concurrent_first_boots);
                tcase_add_test(tc, test_batch_commit_fails);
                tcase_add_test(tc, test_batch_commit_fails_boot);
                tcase_add_test(tc, test_batch_suspended_writes);
                suite_add_tcase(s, tc);
        }
        return s;
}

CHECK_MAIN(batch_suite)
