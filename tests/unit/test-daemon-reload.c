/* test-daemon-reload.c — unit tests for daemon_reload() on a large inventory:
 *  - boot answers go on while a reload reads and parses the file: the longest a boot answer
 *    waits during reloads is a small part of one reload (a reload that parsed, or read the
 *    store, under the daemon's exclusive lock would hold every boot answer for most of it);
 *  - transitions made while a reload runs are kept by the inventory it swaps in, and a node
 *    new to the inventory gets its state from the store (it was in an earlier inventory).
 * A real Daemon on an inventory and state directory in a temp directory. */
#include "check-main.h"
#include "store-backend.h"
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon.h"
#include "util.h"

/* Large enough that parsing it takes far longer than a boot answer (tens of ms and more). */
#define NODES 20000

static char dir[64];

static void mac_of(int i, char mac[static 18]) {
        snprintf(mac, 18, "52:54:%02x:%02x:%02x:%02x", (i >> 24) & 0xff, (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff);
}

/* Writes the inventory (atomically): nodes node-<first> .. node-<first + n - 1>, each with
 * generation gen in its cmdline, so that an inventory of another generation changes every
 * node (a reload parses each one; an unchanged node would only be copied). */
static void write_inventory(int first, int n, int gen) {
        char path[128], tmp[140], mac[18];
        snprintf(path, sizeof path, "%s/inventory.json", dir);
        snprintf(tmp, sizeof tmp, "%s.new", path);
        FILE *f = fopen(tmp, "w");
        ck_assert_ptr_nonnull(f);
        fputs("{\"version\": 1, \"nodes\": [", f);
        for (int i = first; i < first + n; i++) {
                mac_of(i, mac);
                fprintf(f,
                        "%s{\"name\": \"node-%06d\", \"rack\": \"r%d\", \"mac\": [\"%s\"], "
                        "\"boot\": {\"kernel\": \"%s/bzImage\", \"initrd\": [\"%s/initrd\"], "
                        "\"cmdline\": \"init=/nix/store/x-installer/init gen=%d\"}, "
                        "\"system\": {\"toplevel\": \"/nix/store/a-system-%06d\", \"install\": \"/nix/store/b-install\"}}\n",
                        i > first ? "," : "", i, i / 40, mac, dir, dir, gen, i);
        }
        fputs("]}\n", f);
        ck_assert_int_eq(fclose(f), 0);
        ck_assert_int_eq(rename(tmp, path), 0);
}

static void setup(void) {
        char path[128];
        snprintf(dir, sizeof dir, "/tmp/provd-test-reload-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(dir));
        const char *files[] = { "bzImage", "initrd" };
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                snprintf(path, sizeof path, "%s/%s", dir, files[i]);
                FILE *f = fopen(path, "w");
                ck_assert_ptr_nonnull(f);
                fputs("boot file\n", f);
                fclose(f);
        }
        write_inventory(1, NODES, 0);
}

static void teardown(void) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        ck_assert_int_eq(system(cmd), 0);
}

static Daemon *daemon_open(void) {
        char inv[128], state[128];
        Daemon *d;
        snprintf(inv, sizeof inv, "%s/inventory.json", dir);
        snprintf(state, sizeof state, "%s/state", dir);
        ck_assert_int_eq(daemon_new(&(DaemonConfig) { .inventory_path = inv, .state_dir = state,
                                                      .state_url = test_state_url(),
                                                      .shared_key_file = test_shared_key_file(),
                                                      .public_url = "http://127.0.0.1:1" },
                                    &d),
                         0);
        return d;
}

static int64_t now_us(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* PXE clients, as HTTP workers would run them until told to stop: the booter netboots node
 * after node (first boots: each a transition, a store transaction under the exclusive lock);
 * the asker asks what a node would boot (the shared lock; no store) and times each answer. */
typedef struct Clients {
        Daemon *d;
        atomic_bool stop;
        int next;        /* the booter's next node (1-based) */
        int failed;      /* boot answers that were not "install" */
        int asked;
        int64_t max_us;  /* the asker's longest answer */
} Clients;

static void *booter_thread(void *userdata) {
        Clients *c = userdata;
        char mac[18];
        while (!atomic_load(&c->stop) && c->next <= NODES) {
                DaemonBootResult res;
                char *body = NULL;
                mac_of(c->next, mac);
                int r = daemon_boot(c->d, mac, DAEMON_BOOT_PIXIECORE, FIRMWARE_UNKNOWN, &res, &body);
                free(body);
                if (r < 0 || res != DAEMON_BOOT_RESULT_INSTALL)
                        c->failed++;
                c->next++;
        }
        return NULL;
}

static void *asker_thread(void *userdata) {
        Clients *c = userdata;
        char mac[18];
        for (unsigned i = 1; !atomic_load(&c->stop); i++) {
                DaemonBootResult res;
                mac_of((int) (i * 7919u % NODES) + 1, mac);
                int64_t t0 = now_us();
                int r = daemon_boot_peek(c->d, mac, &res);
                int64_t dt = now_us() - t0;
                if (r < 0 || res != DAEMON_BOOT_RESULT_INSTALL)
                        c->failed++;
                if (dt > c->max_us)
                        c->max_us = dt;
                c->asked++;
        }
        return NULL;
}

static ProvisionState state_of(Daemon *d, int i) {
        char name[32];
        json_t *o = NULL;
        snprintf(name, sizeof name, "node-%06d", i);
        ck_assert_int_eq(daemon_node_json(d, name, &o), 0);
        const char *s = json_string_value(json_object_get(o, "state"));
        ck_assert_ptr_nonnull(s);
        ProvisionState st = provision_state_from_string(s);
        json_decref(o);
        return st;
}

START_TEST(test_boot_answers_during_reloads) {
        Daemon *d = daemon_open();
        char err[256];
        Clients c = { .d = d, .next = 1 };
        pthread_t booter, asker;
        int64_t shortest_reload = INT64_MAX;

        ck_assert_int_eq(pthread_create(&booter, NULL, booter_thread, &c), 0);
        ck_assert_int_eq(pthread_create(&asker, NULL, asker_thread, &c), 0);
        for (int k = 0; k < 3; k++) {
                /* Every node changed: the reload parses all of them, which is what must
                 * happen outside the lock. */
                write_inventory(1, NODES, k + 1);
                int64_t t0 = now_us();
                ck_assert_int_eq(daemon_reload(d, err, sizeof err), NODES);
                int64_t dt = now_us() - t0;
                if (dt < shortest_reload)
                        shortest_reload = dt;
        }
        atomic_store(&c.stop, true);
        ck_assert_int_eq(pthread_join(booter, NULL), 0);
        ck_assert_int_eq(pthread_join(asker, NULL), 0);

        int booted = c.next - 1;
        printf("3 reloads of %d nodes, the shortest %.1f ms; meanwhile %d first boots and %d answers from memory, "
               "the longest %.1f ms\n",
               NODES, (double) shortest_reload / 1000.0, booted, c.asked, (double) c.max_us / 1000.0);
        ck_assert_int_eq(c.failed, 0);
        ck_assert_int_gt(booted, 0);
        ck_assert_int_gt(c.asked, 0);
        /* Under the lock only the swap: an answer never waits for a whole reload (the margin
         * is for a first boot's fsync and a descheduled thread on a busy machine). */
        ck_assert_msg(c.max_us * 2 < shortest_reload,
                      "a boot answer waited %.1f ms, a reload takes %.1f ms: the reload held the lock while it read",
                      (double) c.max_us / 1000.0, (double) shortest_reload / 1000.0);
        /* Every first boot made meanwhile is in the runtime swapped in. */
        for (int i = 1; i <= booted; i++)
                ck_assert_int_eq(state_of(d, i), PROVISION_NETBOOTING);
        ck_assert_int_eq(state_of(d, booted + 1), PROVISION_NEW);
        daemon_free(d);
}
END_TEST

START_TEST(test_node_back_in_inventory) {
        Daemon *d = daemon_open();
        char err[256], mac[18];
        DaemonBootResult res;
        char *body = NULL;

        /* node 1 and node NODES netboot (an open attempt each), then leave the inventory and
         * come back: their state comes from the store. */
        for (int i = 1; i <= NODES; i += NODES - 1) {
                mac_of(i, mac);
                ck_assert_int_eq(daemon_boot(d, mac, DAEMON_BOOT_IPXE, FIRMWARE_UNKNOWN, &res, &body), 0);
                free(body);
                body = NULL;
        }
        write_inventory(2, NODES - 2, 0);
        ck_assert_int_eq(daemon_reload(d, err, sizeof err), NODES - 2);
        ck_assert_ptr_null(daemon_mac_known(d, "52:54:00:00:00:01") ? "known" : NULL);
        write_inventory(1, NODES, 0);
        ck_assert_int_eq(daemon_reload(d, err, sizeof err), NODES);
        ck_assert_int_eq(state_of(d, 1), PROVISION_NETBOOTING);
        ck_assert_int_eq(state_of(d, NODES), PROVISION_NETBOOTING);
        ck_assert_int_eq(state_of(d, 2), PROVISION_NEW);
        /* The attempt goes on: the same node netbooting again is no new transition. */
        mac_of(1, mac);
        ck_assert_int_eq(daemon_boot_peek(d, mac, &res), 0);
        ck_assert_int_eq(res, DAEMON_BOOT_RESULT_INSTALL);
        daemon_free(d);
}
END_TEST

/* The fixture of the PostgreSQL TCase. */
static void setup_pg(void) {
        store_backend_pg();
        setup();
}

static Suite *daemon_reload_suite(void) {
        Suite *s = suite_create("daemon-reload");
        for (int b = 0; b < store_backends(); b++) {
                TCase *tc = tcase_create(store_backend_name(b));
                tcase_add_checked_fixture(tc, b ? setup_pg : setup, teardown);
                tcase_set_timeout(tc, 100);
                tcase_add_test(tc, test_boot_answers_during_reloads);
                tcase_add_test(tc, test_node_back_in_inventory);
                suite_add_tcase(s, tc);
        }
        return s;
}

CHECK_MAIN(daemon_reload_suite)
