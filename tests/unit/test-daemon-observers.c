/* test-daemon-observers.c — unit tests for daemon.c's transition observers, on a real Daemon
 * (an inventory file and a state directory in a temp directory): what a DaemonTransition
 * carries (attempt opened, ended and its outcome, a reinstall of a pending node), delivery
 * outside the daemon's lock and in commit order from several threads at once with nothing
 * delivered twice at the same time, a daemon call returning only after its transition was
 * delivered, a transition made from inside an observer (delivered after the current one, no
 * deadlock), observers subscribed from inside an observer, and unsubscribe: while the
 * observer runs on another thread (waits for it; nothing after), from inside itself. */
#include "check-main.h"
#include "store-backend.h"
#include <check.h>
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

#define N_NODES 4

static char dir[64];
static Daemon *d;

static void write_file(const char *path, const char *text) {
        FILE *f = fopen(path, "w");
        ck_assert_ptr_nonnull(f);
        fputs(text, f);
        ck_assert_int_eq(fclose(f), 0);
}

static void setup(void) {
        char path[128], kernel[128], initrd[128], state[128], json[4096];
        size_t len = 0;

        snprintf(dir, sizeof dir, "/tmp/provd-test-observers-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(dir));
        snprintf(kernel, sizeof kernel, "%s/bzImage", dir);
        snprintf(initrd, sizeof initrd, "%s/initrd", dir);
        snprintf(state, sizeof state, "%s/state", dir);
        write_file(kernel, "kernel");
        write_file(initrd, "initrd");
        len += (size_t) snprintf(json + len, sizeof json - len, "{\"version\": 1, \"nodes\": [");
        for (int i = 1; i <= N_NODES; i++)
                len += (size_t) snprintf(
                        json + len, sizeof json - len,
                        "%s{\"name\": \"node-%02d\", \"mac\": [\"52:54:00:00:00:%02d\"], "
                        "\"bmc\": {\"host\": \"192.0.2.%d\", \"user\": \"admin\", \"password_file\": \"%s/pw\"}, "
                        "\"boot\": {\"kernel\": \"%s\", \"initrd\": [\"%s\"], \"cmdline\": \"init=/nix/store/x/init\"}, "
                        "\"system\": {\"toplevel\": \"/nix/store/a-system\", \"install\": \"/nix/store/b-install\"}}",
                        i > 1 ? ", " : "", i, i, i, dir, kernel, initrd);
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

/* ---- a recording observer ---------------------------------------------------------------- */

#define LOG_MAX 4096

/* What observers saw, in call order, across every observer of a test. */
typedef struct Seen {
        int observer; /* Recorder.tag */
        DaemonTransition t;
        char message[128];
        char node[64];
} Seen;

static pthread_mutex_t seen_lock = PTHREAD_MUTEX_INITIALIZER;
static Seen seen[LOG_MAX];
static size_t n_seen;
static atomic_int inside;     /* observer calls running now */
static atomic_int overlapped; /* calls that found another one running */

typedef struct Recorder {
        int tag;
        /* optional: called after recording (daemon calls from inside an observer) */
        void (*then)(struct Recorder *r, const DaemonTransition *t);
        uint64_t id;
} Recorder;

static void record(const DaemonTransition *t, void *ctx) {
        Recorder *r = ctx;
        if (atomic_fetch_add(&inside, 1) != 0)
                atomic_fetch_add(&overlapped, 1);
        pthread_mutex_lock(&seen_lock);
        ck_assert_uint_lt(n_seen, LOG_MAX);
        Seen *s = &seen[n_seen++];
        s->observer = r->tag;
        s->t = *t;
        snprintf(s->message, sizeof s->message, "%s", t->message ? t->message : "");
        snprintf(s->node, sizeof s->node, "%s", t->bmc.node);
        s->t.message = NULL;
        pthread_mutex_unlock(&seen_lock);
        if (r->then)
                r->then(r, t);
        atomic_fetch_sub(&inside, 1);
}

/* Index of the first entry of observer `tag` with this message, or -1. */
static ssize_t seen_find(int tag, const char *message) {
        ssize_t found = -1;
        pthread_mutex_lock(&seen_lock);
        for (size_t i = 0; i < n_seen && found < 0; i++)
                if (seen[i].observer == tag && streq(seen[i].message, message))
                        found = (ssize_t) i;
        pthread_mutex_unlock(&seen_lock);
        return found;
}

static void subscribe(Recorder *r) {
        ck_assert_int_eq(daemon_subscribe(d, record, r, &r->id), 0);
        ck_assert_uint_gt(r->id, 0);
}

/* The install token daemon_boot() handed out in the pixiecore answer's cmdline. */
static void boot_token(const char *mac, char *buf, size_t len) {
        DaemonBootResult result;
        _cleanup_free_ char *body = NULL;
        ck_assert_int_eq(daemon_boot(d, mac, DAEMON_BOOT_PIXIECORE, FIRMWARE_UNKNOWN, &result, &body), 0);
        ck_assert_int_eq(result, DAEMON_BOOT_RESULT_INSTALL);
        const char *p = strstr(body, "provd.token=");
        ck_assert_ptr_nonnull(p);
        p += strlen("provd.token=");
        size_t n = strcspn(p, " \"");
        ck_assert_uint_lt(n, len);
        memcpy(buf, p, n);
        buf[n] = '\0';
}

/* ---- what a transition carries ------------------------------------------------------------ */

START_TEST(test_observers_fields) {
        Recorder r = { .tag = 1 };
        char token[128];
        json_t *ret = NULL;
        char err[256];

        subscribe(&r);
        /* new -> netbooting: attempt 1 opens */
        boot_token("52:54:00:00:00:01", token, sizeof token);
        ck_assert_uint_eq(n_seen, 1);
        const DaemonTransition *t = &seen[0].t;
        ck_assert_str_eq(seen[0].node, "node-01");
        ck_assert(t->bmc.has_bmc);
        ck_assert_str_eq(t->bmc.host, "192.0.2.1");
        ck_assert_int_eq(t->from, PROVISION_NEW);
        ck_assert_int_eq(t->to, PROVISION_NETBOOTING);
        ck_assert_int_eq(t->event, PROVISION_EV_NETBOOT_NO_TOKEN); /* no token handed out yet */
        ck_assert_str_eq(t->cause, "netboot");
        ck_assert_int_eq(t->opened_attempt, 1);
        ck_assert_int_eq(t->ended_attempt, 0);
        ck_assert_ptr_null(t->outcome);
        ck_assert_int_eq(t->attempt, 1);
        ck_assert_int_gt(t->event_id, 0);
        ck_assert_int_gt(t->at_ms, 0);
        ck_assert_uint_eq(t->seq, 1);
        ck_assert_str_eq(seen[0].message, "first network boot: install attempt opened");

        /* The same boot again (pixiecore repeats): nothing changes, nothing delivered. */
        char again[128];
        boot_token("52:54:00:00:00:01", again, sizeof again);
        ck_assert_str_eq(again, token);
        ck_assert_uint_eq(n_seen, 1);

        /* installer success: attempt 1 ends, succeeded */
        ck_assert_int_eq(daemon_install_event(d, token, "succeeded", NULL, &ret, err, sizeof err), 0);
        json_decref(ret);
        ck_assert_uint_eq(n_seen, 2);
        t = &seen[1].t;
        ck_assert_int_eq(t->from, PROVISION_NETBOOTING);
        ck_assert_int_eq(t->to, PROVISION_INSTALLED);
        ck_assert_int_eq(t->ended_attempt, 1);
        ck_assert_str_eq(t->outcome, "succeeded");
        ck_assert_int_eq(t->opened_attempt, 0);
        ck_assert_int_gt(t->event_id, seen[0].t.event_id);
        ck_assert_uint_eq(t->seq, 2);

        /* reinstall: installed -> pending, then again: pending -> pending, nothing recorded */
        bool changed = false;
        ck_assert_int_eq(daemon_mark_reinstall(d, "node-01", &changed), 0);
        ck_assert(changed);
        ck_assert_int_eq(daemon_mark_reinstall(d, "node-01", &changed), 0);
        ck_assert(!changed);
        ck_assert_uint_eq(n_seen, 4);
        t = &seen[2].t;
        ck_assert_int_eq(t->event, PROVISION_EV_REINSTALL);
        ck_assert_int_eq(t->from, PROVISION_INSTALLED);
        ck_assert_int_eq(t->to, PROVISION_PENDING);
        ck_assert_int_eq(t->attempt, 1);
        ck_assert_int_eq(t->ended_attempt, 0);
        ck_assert_int_gt(t->event_id, 0);
        t = &seen[3].t;
        ck_assert_int_eq(t->event, PROVISION_EV_REINSTALL);
        ck_assert_int_eq(t->from, PROVISION_PENDING);
        ck_assert_int_eq(t->to, PROVISION_PENDING);
        ck_assert_int_eq(t->event_id, 0);
        ck_assert_str_eq(seen[3].message, "");

        /* pending -> netbooting (attempt 2), then a reinstall abandons it */
        boot_token("52:54:00:00:00:01", token, sizeof token);
        ck_assert_int_eq(daemon_mark_reinstall(d, "node-01", NULL), 0);
        ck_assert_uint_eq(n_seen, 6);
        ck_assert_int_eq(seen[4].t.opened_attempt, 2);
        t = &seen[5].t;
        ck_assert_int_eq(t->ended_attempt, 2);
        ck_assert_str_eq(t->outcome, "abandoned");
        ck_assert_int_eq(t->to, PROVISION_PENDING);

        /* attempt 3 times out */
        boot_token("52:54:00:00:00:01", token, sizeof token);
        ck_assert_int_eq(daemon_expire_attempts(d, 1000, now_ms() + 5000), 1);
        ck_assert_uint_eq(n_seen, 8);
        t = &seen[7].t;
        ck_assert_int_eq(t->event, PROVISION_EV_TIMEOUT);
        ck_assert_int_eq(t->ended_attempt, 3);
        ck_assert_str_eq(t->outcome, "timeout");
        ck_assert_int_eq(t->to, PROVISION_FAILED);

        /* a BMC note: state unchanged, on record */
        ck_assert_int_eq(daemon_record_bmc(d, "node-02", "power cycle"), 0);
        ck_assert_uint_eq(n_seen, 9);
        t = &seen[8].t;
        ck_assert_str_eq(seen[8].node, "node-02");
        ck_assert_int_eq(t->from, PROVISION_NEW);
        ck_assert_int_eq(t->to, PROVISION_NEW);
        ck_assert_str_eq(t->cause, "bmc");
        ck_assert_str_eq(seen[8].message, "power cycle");
        for (size_t i = 0; i < n_seen; i++)
                ck_assert_uint_eq(seen[i].t.seq, i + 1);

        ck_assert_int_eq(daemon_unsubscribe(d, r.id), 0);
        ck_assert_int_eq(daemon_unsubscribe(d, r.id), -ENOENT);
        ck_assert_int_eq(daemon_record_bmc(d, "node-02", "power off"), 0);
        ck_assert_uint_eq(n_seen, 9);
}
END_TEST

/* ---- outside the lock, re-entrant ------------------------------------------------------------ */

static atomic_int inner_r = 1;
static atomic_long inner_seen_at_return = -2;

/* On "outer": reads and writes the daemon (deadlocks if called under its lock), then makes a
 * transition itself. */
static void make_inner(Recorder *r, const DaemonTransition *t) {
        (void) r;
        if (!t->message || !streq(t->message, "outer"))
                return;
        json_t *j = NULL;
        ck_assert_int_eq(daemon_node_json(d, "node-01", &j), 0);
        json_decref(j);
        atomic_store(&inner_r, daemon_record_bmc(d, "node-01", "inner"));
        /* Delivered after the current one, so not yet. */
        atomic_store(&inner_seen_at_return, (long) seen_find(1, "inner"));
}

START_TEST(test_observers_transition_from_inside) {
        Recorder a = { .tag = 1, .then = make_inner }, b = { .tag = 2 };
        subscribe(&a);
        subscribe(&b);
        ck_assert_int_eq(daemon_record_bmc(d, "node-01", "outer"), 0);
        ck_assert_int_eq(atomic_load(&inner_r), 0);
        ck_assert_int_eq(atomic_load(&inner_seen_at_return), -1);
        /* Both delivered before the outer call returned: outer to a then b, then inner. */
        ck_assert_uint_eq(n_seen, 4);
        static const struct {
                int observer;
                const char *message;
        } want[] = { { 1, "outer" }, { 2, "outer" }, { 1, "inner" }, { 2, "inner" } };
        for (size_t i = 0; i < 4; i++) {
                ck_assert_int_eq(seen[i].observer, want[i].observer);
                ck_assert_str_eq(seen[i].message, want[i].message);
        }
        ck_assert_uint_lt(seen[0].t.seq, seen[2].t.seq);
        ck_assert_int_eq(atomic_load(&overlapped), 0);
}
END_TEST

/* ---- subscribing from inside an observer ------------------------------------------------------ */

static Recorder late = { .tag = 2 };

static void subscribe_late(Recorder *r, const DaemonTransition *t) {
        (void) r;
        if (t->message && streq(t->message, "first"))
                subscribe(&late);
}

START_TEST(test_observers_subscribe_from_inside) {
        Recorder a = { .tag = 1, .then = subscribe_late };
        subscribe(&a);
        ck_assert_int_eq(daemon_record_bmc(d, "node-01", "first"), 0);
        ck_assert_int_eq(daemon_record_bmc(d, "node-01", "second"), 0);
        /* The late one hears only what was committed after it subscribed. */
        ck_assert_int_eq(seen_find(2, "first"), -1);
        ck_assert_int_ge(seen_find(2, "second"), 0);
        ck_assert_uint_eq(n_seen, 3);
}
END_TEST

/* ---- commit order from several threads -------------------------------------------------------- */

#define THREADS 4
#define PER_THREAD 60

static void *transitions_thread(void *arg) {
        int k = (int) (intptr_t) arg;
        char node[16], msg[32];
        snprintf(node, sizeof node, "node-%02d", k % N_NODES + 1);
        for (int i = 0; i < PER_THREAD; i++) {
                snprintf(msg, sizeof msg, "t%d-%d", k, i);
                ck_assert_int_eq(daemon_record_bmc(d, node, msg), 0);
                /* Returned: every observer has seen it. */
                ck_assert_int_ge(seen_find(1, msg), 0);
                ck_assert_int_ge(seen_find(2, msg), 0);
        }
        return NULL;
}

/* Slows delivery so that threads pile up behind the deliverer. */
static void dawdle(Recorder *r, const DaemonTransition *t) {
        (void) r;
        (void) t;
        nanosleep(&(struct timespec) { .tv_nsec = 200 * 1000 }, NULL);
}

START_TEST(test_observers_commit_order_concurrent) {
        Recorder a = { .tag = 1, .then = dawdle }, b = { .tag = 2 };
        pthread_t th[THREADS];
        subscribe(&a);
        subscribe(&b);
        for (int k = 0; k < THREADS; k++)
                ck_assert_int_eq(pthread_create(&th[k], NULL, transitions_thread, (void *) (intptr_t) k), 0);
        for (int k = 0; k < THREADS; k++)
                ck_assert_int_eq(pthread_join(th[k], NULL), 0);

        /* Serialized: one transition at a time, a then b, in commit order (the history's ids
         * are given in the same transaction as the commit), each thread's own in its order. */
        ck_assert_uint_eq(n_seen, 2 * THREADS * PER_THREAD);
        ck_assert_int_eq(atomic_load(&overlapped), 0);
        int next_of[THREADS] = { 0 };
        for (size_t i = 0; i < n_seen; i += 2) {
                ck_assert_int_eq(seen[i].observer, 1);
                ck_assert_int_eq(seen[i + 1].observer, 2);
                ck_assert_uint_eq(seen[i].t.seq, seen[i + 1].t.seq);
                ck_assert_str_eq(seen[i].message, seen[i + 1].message);
                ck_assert_uint_eq(seen[i].t.seq, i / 2 + 1);
                if (i > 0)
                        ck_assert_int_gt(seen[i].t.event_id, seen[i - 2].t.event_id);
                int k, n;
                ck_assert_int_eq(sscanf(seen[i].message, "t%d-%d", &k, &n), 2);
                ck_assert_int_eq(n, next_of[k]);
                next_of[k]++;
        }
}
END_TEST

/* ---- unsubscribe while the observer runs -------------------------------------------------------- */

typedef struct Slow {
        pthread_mutex_t lock;
        pthread_cond_t cond;
        bool entered, left;
        int calls;
} Slow;

static atomic_bool unsubscribed;
static atomic_int calls_after;

static void slow_observer(const DaemonTransition *t, void *ctx) {
        Slow *s = ctx;
        (void) t;
        if (atomic_load(&unsubscribed))
                atomic_fetch_add(&calls_after, 1);
        pthread_mutex_lock(&s->lock);
        s->calls++;
        s->entered = true;
        pthread_cond_broadcast(&s->cond);
        pthread_mutex_unlock(&s->lock);
        nanosleep(&(struct timespec) { .tv_nsec = 100 * 1000 * 1000 }, NULL);
        pthread_mutex_lock(&s->lock);
        s->left = true;
        pthread_mutex_unlock(&s->lock);
        if (atomic_load(&unsubscribed))
                atomic_fetch_add(&calls_after, 1);
}

static atomic_bool stop_threads;

static void *busy_thread(void *arg) {
        (void) arg;
        for (int i = 0; !atomic_load(&stop_threads); i++) {
                char msg[32];
                snprintf(msg, sizeof msg, "busy %d", i);
                ck_assert_int_eq(daemon_record_bmc(d, "node-02", msg), 0);
        }
        return NULL;
}

START_TEST(test_observers_unsubscribe_while_running) {
        Slow *s = calloc(1, sizeof *s);
        uint64_t id;
        pthread_t th[2];
        ck_assert_ptr_nonnull(s);
        pthread_mutex_init(&s->lock, NULL);
        pthread_cond_init(&s->cond, NULL);
        ck_assert_int_eq(daemon_subscribe(d, slow_observer, s, &id), 0);
        for (int k = 0; k < 2; k++)
                ck_assert_int_eq(pthread_create(&th[k], NULL, busy_thread, NULL), 0);

        /* Wait until the observer runs on one of the threads, then unsubscribe. */
        pthread_mutex_lock(&s->lock);
        while (!s->entered)
                pthread_cond_wait(&s->cond, &s->lock);
        ck_assert(!s->left);
        pthread_mutex_unlock(&s->lock);
        ck_assert_int_eq(daemon_unsubscribe(d, id), 0);
        atomic_store(&unsubscribed, true);
        /* It waited for the call in progress. */
        pthread_mutex_lock(&s->lock);
        ck_assert(s->left);
        pthread_mutex_unlock(&s->lock);
        pthread_mutex_destroy(&s->lock);
        pthread_cond_destroy(&s->cond);
        free(s); /* a later call would be a use after free (AddressSanitizer) */

        /* The threads go on making transitions: no call comes any more. */
        nanosleep(&(struct timespec) { .tv_nsec = 300 * 1000 * 1000 }, NULL);
        atomic_store(&stop_threads, true);
        for (int k = 0; k < 2; k++)
                ck_assert_int_eq(pthread_join(th[k], NULL), 0);
        ck_assert_int_eq(atomic_load(&calls_after), 0);
}
END_TEST

/* ---- unsubscribe from inside the observer itself ------------------------------------------------ */

static void unsubscribe_self(Recorder *r, const DaemonTransition *t) {
        (void) t;
        ck_assert_int_eq(daemon_unsubscribe(d, r->id), 0);
}

START_TEST(test_observers_unsubscribe_from_inside) {
        Recorder a = { .tag = 1, .then = unsubscribe_self }, b = { .tag = 2 };
        subscribe(&a);
        subscribe(&b);
        ck_assert_int_eq(daemon_record_bmc(d, "node-01", "one"), 0);
        ck_assert_int_eq(daemon_record_bmc(d, "node-01", "two"), 0);
        ck_assert_int_ge(seen_find(1, "one"), 0);
        ck_assert_int_eq(seen_find(1, "two"), -1);
        ck_assert_int_ge(seen_find(2, "one"), 0);
        ck_assert_int_ge(seen_find(2, "two"), 0);
        ck_assert_int_eq(daemon_unsubscribe(d, b.id), 0);
}
END_TEST

/* The fixture of the PostgreSQL TCase. */
static void setup_pg(void) {
        store_backend_pg();
        setup();
}

static Suite *observers_suite(void) {
        Suite *s = suite_create("daemon-observers");
        for (int b = 0; b < store_backends(); b++) {
                TCase *tc = tcase_create(store_backend_name(b));
                tcase_add_checked_fixture(tc, b ? setup_pg : setup, teardown);
                tcase_set_timeout(tc, 60);
                tcase_add_test(tc, test_observers_fields);
                tcase_add_test(tc, test_observers_transition_from_inside);
                tcase_add_test(tc, test_observers_subscribe_from_inside);
                tcase_add_test(tc, test_observers_commit_order_concurrent);
                tcase_add_test(tc, test_observers_unsubscribe_while_running);
                tcase_add_test(tc, test_observers_unsubscribe_from_inside);
                suite_add_tcase(s, tc);
        }
        return s;
}

CHECK_MAIN(observers_suite)
