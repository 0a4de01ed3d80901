/* test-server.c — unit tests for server.c's start-up and shutdown: for each start-up step k
 * (ServerFault), server_new() fails at step k with the fault's errno, leaves *ret alone, and
 * what steps 1..k-1 started is gone again: no thread is left (the entries of /proc/self/task
 * before and after are equal), no descriptor is left (/proc/self/fd), and nothing leaks
 * (LeakSanitizer in Check's forked child).  Then once without a fault: server_new() succeeds,
 * serves HTTP, and server_free() leaves the same threads and descriptors as before.
 *
 * On a real inventory and state directory in a temp directory, listening on 127.0.0.1:0.
 * Discovery captures on "lo", which needs CAP_NET_RAW: without it (not root) the discovery
 * step has nothing to start, though its fault still fails the start-up after the console,
 * operations and daemon steps ran. */
#include "check-main.h"
#include <arpa/inet.h>
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "server.h"
#include "util.h"

static char dir[64];
static ServeConfig cfg;

static void write_file(const char *name, const char *text) {
        char path[128];
        snprintf(path, sizeof path, "%s/%s", dir, name);
        FILE *f = fopen(path, "we");
        ck_assert_ptr_nonnull(f);
        ck_assert_int_ge(fputs(text, f), 0);
        ck_assert_int_eq(fclose(f), 0);
}

static void set(const char *key, const char *value) {
        ck_assert_msg(config_set(&cfg, key, value) == 0, "config_set(%s, %s)", key, value);
}

static void setup(void) {
        char path[128], inventory[2048];
        snprintf(dir, sizeof dir, "/tmp/provd-test-server-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(dir));
        write_file("bzImage", "kernel");
        write_file("initrd", "initrd");
        snprintf(inventory, sizeof inventory,
                 "{\"version\": 1, \"nodes\": [\n"
                 "{\"name\": \"node-01\", \"mac\": [\"52:54:00:00:00:01\"],\n"
                 " \"bmc\": {\"host\": \"127.0.0.11\", \"user\": \"admin\", \"password_file\": \"%s/bmc-pw\", \"console\": \"none\"},\n"
                 " \"boot\": {\"kernel\": \"%s/bzImage\", \"initrd\": [\"%s/initrd\"], \"cmdline\": \"loglevel=4\"},\n"
                 " \"system\": {\"toplevel\": \"/nix/store/a-nixos-system-node-01\", \"install\": \"/nix/store/b-install-node-01\"}}\n"
                 "]}\n",
                 dir, dir, dir);
        write_file("inventory.json", inventory);

        ck_assert_int_eq(config_init(&cfg), 0);
        snprintf(path, sizeof path, "%s/inventory.json", dir);
        set("inventory", path);
        snprintf(path, sizeof path, "%s/state", dir);
        set("state_dir", path);
        set("listen", "127.0.0.1:0");
        set("threads", "2");
        set("bmc_workers", "2");
        set("max_connections", "64");
        set("max_connections_per_client", "16");
        set("log_level", "warning");
        if (geteuid() == 0)
                set("discovery_interface", "lo");
        else
                fprintf(stderr, "test-server: not root, so no CAP_NET_RAW: discovery is off, its step starts nothing\n");
        ck_assert_int_eq(config_check(&cfg), 0);
}

static void teardown(void) {
        char cmd[128];
        config_done(&cfg);
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        ck_assert_int_eq(system(cmd), 0);
}

/* Entries of a /proc/self directory, without "." and "..". */
static unsigned count_entries(const char *path) {
        DIR *d = opendir(path);
        ck_assert_ptr_nonnull(d);
        unsigned n = 0;
        struct dirent *e;
        while ((e = readdir(d)))
                if (e->d_name[0] != '.')
                        n++;
        closedir(d);
        return n - (streq(path, "/proc/self/fd") ? 1 : 0); /* opendir's own descriptor */
}

/* Threads of this process once the count stops falling: a thread joined a moment ago may still
 * be listed while the kernel finishes its exit, so wait up to 2 s for `want`. */
static unsigned count_threads(unsigned want) {
        unsigned n = count_entries("/proc/self/task");
        for (int i = 0; i < 200 && n > want; i++) {
                nanosleep(&(struct timespec) { .tv_nsec = 10 * 1000 * 1000 }, NULL);
                n = count_entries("/proc/self/task");
        }
        return n;
}

/* A distinct errno per step, so the one that comes back is the injected one. */
static const int step_errors[_SERVER_STEP_MAX] = {
        [SERVER_STEP_LIMITS] = -EMFILE,     [SERVER_STEP_SIGNALS] = -EINTR,  [SERVER_STEP_LISTEN] = -EADDRINUSE,
        [SERVER_STEP_DAEMON] = -ENOENT,     [SERVER_STEP_CLUSTER] = -ESRCH,  [SERVER_STEP_CONSOLE] = -EIO,    [SERVER_STEP_OPS] = -ENOMEM,
        [SERVER_STEP_DISCOVERY] = -EPERM,   [SERVER_STEP_HTTP] = -EOPNOTSUPP,
};

START_TEST(test_step_fails) {
        ServerStep step = (ServerStep) _i;
        ck_assert_ptr_nonnull(server_step_name(step));
        unsigned threads = count_entries("/proc/self/task"), fds = count_entries("/proc/self/fd");

        Server *s = (Server *) &cfg; /* a sentinel: must stay as it is */
        int r = server_new(&(ServerConfig) { .serve = &cfg, .fault = &(ServerFault) { step, step_errors[step] } }, &s);
        ck_assert_msg(r == step_errors[step], "step %s: server_new() returned %d, expected %d", server_step_name(step), r,
                      step_errors[step]);
        ck_assert_ptr_eq(s, (Server *) &cfg);

        unsigned threads_after = count_threads(threads);
        ck_assert_msg(threads_after == threads, "step %s failed: %u threads before server_new(), %u after",
                      server_step_name(step), threads, threads_after);
        unsigned fds_after = count_entries("/proc/self/fd");
        ck_assert_msg(fds_after == fds, "step %s failed: %u descriptors before server_new(), %u after",
                      server_step_name(step), fds, fds_after);
}
END_TEST

/* Connects to the IPv4 listening sockets among this process's descriptors until one accepts
 * (server.c bound 127.0.0.1:0, so the port is only known through the socket).  Returns
 * whether one did. */
static int connect_any_listener(void) {
        DIR *d = opendir("/proc/self/fd");
        ck_assert_ptr_nonnull(d);
        int connected = 0;
        struct dirent *e;
        while (!connected && (e = readdir(d))) {
                int fd = atoi(e->d_name);
                struct sockaddr_in a;
                socklen_t len = sizeof a;
                int listening = 0;
                socklen_t optlen = sizeof listening;
                if (e->d_name[0] == '.' || getsockname(fd, (struct sockaddr *) &a, &len) < 0 || a.sin_family != AF_INET ||
                    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &optlen) < 0 || !listening)
                        continue;
                int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
                ck_assert_int_ge(c, 0);
                connected = connect(c, (struct sockaddr *) &a, len) == 0;
                close(c);
        }
        closedir(d);
        return connected;
}

START_TEST(test_start_and_free) {
        unsigned threads = count_entries("/proc/self/task"), fds = count_entries("/proc/self/fd");

        _cleanup_(server_freep) Server *s = NULL;
        ck_assert_int_eq(server_new(&(ServerConfig) { .serve = &cfg }, &s), 0);
        ck_assert_ptr_nonnull(s);
        ck_assert_uint_gt(count_entries("/proc/self/task"), threads);
        ck_assert_msg(connect_any_listener(), "no listening socket accepts a connection");

        server_free(TAKE_PTR(s));
        unsigned threads_after = count_threads(threads);
        ck_assert_msg(threads_after == threads, "%u threads before server_new(), %u after server_free()", threads,
                      threads_after);
        ck_assert_uint_eq(count_entries("/proc/self/fd"), fds);
}
END_TEST

static Suite *server_suite(void) {
        Suite *s = suite_create("server");
        TCase *tc = tcase_create("start-up");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 60);
        tcase_add_loop_test(tc, test_step_fails, 0, _SERVER_STEP_MAX);
        tcase_add_test(tc, test_start_and_free);
        suite_add_tcase(s, tc);
        return s;
}

CHECK_MAIN(server_suite)
