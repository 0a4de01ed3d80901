/* test-http-conns.c — unit tests for http-conns.c: the request deadline with its minimum
 * rate, eviction order, and what is never shut down, on real loopback TCP connections (the
 * rate comes from the kernel's TCP_INFO) with a clock the test sets. */
#include "check-main.h"
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http-conns.h"

static int64_t fake_now;
static int64_t fake_clock(void) {
        return fake_now;
}

static int listener = -1;
static struct sockaddr_in listen_addr;

static void setup(void) {
        fake_now = 1000000;
        listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(listener, 0);
        listen_addr = (struct sockaddr_in) { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        ck_assert_int_eq(bind(listener, (struct sockaddr *) &listen_addr, sizeof listen_addr), 0);
        socklen_t len = sizeof listen_addr;
        ck_assert_int_eq(getsockname(listener, (struct sockaddr *) &listen_addr, &len), 0);
        ck_assert_int_eq(listen(listener, 64), 0);
}

static void teardown(void) {
        close(listener);
}

/* A connected pair: *client (the test's end) and the accepted server end (returned). */
static int pair(int *client) {
        *client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(*client, 0);
        ck_assert_int_eq(connect(*client, (struct sockaddr *) &listen_addr, sizeof listen_addr), 0);
        int s = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
        ck_assert_int_ge(s, 0);
        return s;
}

/* Whether the server end was shut down: the client reads end of stream at once. */
static bool was_shut(int client) {
        struct pollfd p = { .fd = client, .events = POLLIN };
        if (poll(&p, 1, 0) != 1)
                return false;
        char c;
        return recv(client, &c, 1, MSG_DONTWAIT) == 0;
}

static HttpConns *table(unsigned max, unsigned timeout_ms, unsigned rate) {
        HttpConns *t = NULL;
        ck_assert_int_eq(http_conns_new(&(HttpConnsConfig) { .max_connections = max,
                                                             .header_timeout_ms = timeout_ms,
                                                             .header_min_rate = rate,
                                                             .clock_ms = fake_clock },
                                        &t),
                         0);
        return t;
}

START_TEST(test_config) {
        HttpConns *t = NULL;
        ck_assert_int_eq(http_conns_new(&(HttpConnsConfig) { .max_connections = 15, .header_timeout_ms = 1 }, &t), -EINVAL);
        ck_assert_int_eq(http_conns_new(&(HttpConnsConfig) { .max_connections = 16, .header_timeout_ms = 0 }, &t), -EINVAL);
        ck_assert_ptr_null(t);
        t = table(4096, 10000, 500);
        HttpConnsStats st;
        http_conns_stats(t, &st);
        ck_assert_uint_eq(st.high_water, 3840); /* 15/16 */
        ck_assert_uint_eq(st.open, 0);
        http_conns_free(t);
        http_conns_free(NULL);
}
END_TEST

/* A new connection that sends nothing is shut down at the deadline, not before. */
START_TEST(test_deadline) {
        HttpConns *t = table(64, 2000, 500);
        int client, s = pair(&client);
        HttpConn *c = http_conns_open(t, s);
        ck_assert_ptr_nonnull(c);
        fake_now += 1999;
        ck_assert_uint_eq(http_conns_sweep(t, fake_now), 0);
        ck_assert(!was_shut(client));
        fake_now += 1;
        ck_assert_uint_eq(http_conns_sweep(t, fake_now), 1);
        ck_assert(was_shut(client));
        HttpConnsStats st;
        http_conns_stats(t, &st);
        ck_assert_uint_eq(st.open, 0); /* shut: no longer counted, though not closed yet */
        ck_assert_uint_eq(st.shut_deadline, 1);
        /* Shut once only. */
        fake_now += 5000;
        ck_assert_uint_eq(http_conns_sweep(t, fake_now), 0);
        http_conns_close(t, c); /* libmicrohttpd's NOTIFY_CLOSED */
        close(s);
        close(client);
        http_conns_free(t);
}
END_TEST

/* Past the deadline a connection lives on while its average rate is at least the minimum. */
START_TEST(test_min_rate) {
        HttpConns *t = table(64, 1000, 500);
        int client, s = pair(&client);
        HttpConn *c = http_conns_open(t, s);
        char buf[1000];
        memset(buf, 'a', sizeof buf);
        ck_assert_int_eq(send(client, buf, sizeof buf, 0), (ssize_t) sizeof buf);
        usleep(20000); /* loopback: received by now */
        fake_now += 1500; /* 1000 B in 1.5 s: 667 B/s */
        ck_assert_uint_eq(http_conns_sweep(t, fake_now), 0);
        ck_assert(!was_shut(client));
        fake_now += 500; /* 1000 B in 2 s: 500 B/s, still enough */
        ck_assert_uint_eq(http_conns_sweep(t, fake_now), 0);
        fake_now += 1; /* below */
        ck_assert_uint_eq(http_conns_sweep(t, fake_now), 1);
        ck_assert(was_shut(client));
        http_conns_close(t, c);
        close(s);
        close(client);

        /* With no minimum rate, the deadline alone. */
        http_conns_free(t);
        t = table(64, 1000, 0);
        s = pair(&client);
        c = http_conns_open(t, s);
        ck_assert_int_eq(send(client, buf, sizeof buf, 0), (ssize_t) sizeof buf);
        usleep(20000);
        fake_now += 1000;
        ck_assert_uint_eq(http_conns_sweep(t, fake_now), 1);
        http_conns_close(t, c);
        close(s);
        close(client);
        http_conns_free(t);
}
END_TEST

/* Requests in flight (streams included) are never shut down; kept-alive connections are
 * not either while idle, and are once their next request is late and slow. */
START_TEST(test_busy_and_kept) {
        HttpConns *t = table(64, 1000, 500);
        int cb, sb = pair(&cb), ck, sk = pair(&ck);
        HttpConn *busy = http_conns_open(t, sb), *kept = http_conns_open(t, sk);
        http_conns_request_begin(t, busy);
        http_conns_request_begin(t, kept);
        http_conns_request_end(t, kept);
        fake_now += 60000;
        ck_assert_uint_eq(http_conns_sweep(t, fake_now), 0);
        ck_assert(!was_shut(cb));
        ck_assert(!was_shut(ck));
        HttpConnsStats st;
        http_conns_stats(t, &st);
        ck_assert_uint_eq(st.busy, 1);
        ck_assert_uint_eq(st.kept, 1);

        /* The kept-alive connection's next request begins: 1 byte, then nothing. */
        ck_assert_int_eq(send(ck, "G", 1, 0), 1);
        usleep(20000);
        fake_now += 100;
        ck_assert_uint_eq(http_conns_sweep(t, fake_now), 0); /* seen: the request began now */
        fake_now += 999;
        ck_assert_uint_eq(http_conns_sweep(t, fake_now), 0);
        ck_assert(!was_shut(ck));
        fake_now += 1;
        ck_assert_uint_eq(http_conns_sweep(t, fake_now), 1);
        ck_assert(was_shut(ck));
        ck_assert(!was_shut(cb));

        /* The busy one's request ends: a kept-alive connection, idle, left alone. */
        http_conns_request_end(t, busy);
        fake_now += 60000;
        ck_assert_uint_eq(http_conns_sweep(t, fake_now), 0);
        http_conns_close(t, busy);
        http_conns_close(t, kept);
        close(sb);
        close(sk);
        close(cb);
        close(ck);
        http_conns_free(t);
}
END_TEST

/* Over high_water: the oldest waiting connection goes first, then the kept-alive one idle
 * longest; busy ones never, and the new connection itself never. */
START_TEST(test_eviction_order) {
        enum { N = 16 }; /* high_water 15 */
        HttpConns *t = table(N, 10000, 500);
        int client[N + 4], server[N + 4];
        HttpConn *c[N + 4];
        for (int i = 0; i < 15; i++) {
                server[i] = pair(&client[i]);
                c[i] = http_conns_open(t, server[i]);
                fake_now += 10;
        }
        http_conns_request_begin(t, c[0]); /* busy */
        http_conns_request_begin(t, c[1]); /* kept alive ... */
        http_conns_request_end(t, c[1]);
        for (int i = 0; i < 15; i++)
                ck_assert(!was_shut(client[i]));

        /* 16th: evicts c[2], the oldest waiting one. */
        server[15] = pair(&client[15]);
        c[15] = http_conns_open(t, server[15]);
        ck_assert(was_shut(client[2]));
        for (int i = 0; i < 16; i++)
                if (i != 2)
                        ck_assert_msg(!was_shut(client[i]), "connection %d shut", i);
        HttpConnsStats st;
        http_conns_stats(t, &st);
        ck_assert_uint_eq(st.open, 15);
        ck_assert_uint_eq(st.shut_evicted, 1);

        /* Make every waiting one busy but the newest: the next evicts the kept-alive one. */
        for (int i = 3; i < 15; i++)
                http_conns_request_begin(t, c[i]);
        http_conns_request_begin(t, c[15]);
        server[16] = pair(&client[16]);
        c[16] = http_conns_open(t, server[16]);
        ck_assert(was_shut(client[1]));
        ck_assert(!was_shut(client[16]));

        /* Now all busy but the newest two: the next evicts c[16] (waiting, older), never itself. */
        server[17] = pair(&client[17]);
        c[17] = http_conns_open(t, server[17]);
        ck_assert(was_shut(client[16]));
        ck_assert(!was_shut(client[17]));

        /* All busy: nothing to evict, the new one is kept (libmicrohttpd's limit is the bound). */
        http_conns_request_begin(t, c[17]);
        server[18] = pair(&client[18]);
        c[18] = http_conns_open(t, server[18]);
        ck_assert(!was_shut(client[18]));
        for (int i = 0; i < 19; i++)
                if (i != 1 && i != 2 && i != 16)
                        ck_assert_msg(!was_shut(client[i]), "connection %d shut", i);
        http_conns_stats(t, &st);
        ck_assert_uint_eq(st.open, 16);
        ck_assert_uint_eq(st.busy, 15);
        ck_assert_uint_eq(st.shut_evicted, 3);

        for (int i = 0; i < 19; i++) {
                http_conns_close(t, c[i]);
                close(server[i]);
                close(client[i]);
        }
        http_conns_stats(t, &st);
        ck_assert_uint_eq(st.open, 0);
        http_conns_free(t);
}
END_TEST

/* NULL entries (out of memory at open) are ignored everywhere. */
START_TEST(test_null) {
        HttpConns *t = table(16, 1000, 0);
        http_conns_request_begin(t, NULL);
        http_conns_request_end(t, NULL);
        http_conns_close(t, NULL);
        http_conns_free(t);
}
END_TEST

static Suite *http_conns_suite(void) {
        Suite *s = suite_create("http-conns");
        TCase *tc = tcase_create("http-conns");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_config);
        tcase_add_test(tc, test_deadline);
        tcase_add_test(tc, test_min_rate);
        tcase_add_test(tc, test_busy_and_kept);
        tcase_add_test(tc, test_eviction_order);
        tcase_add_test(tc, test_null);
        suite_add_tcase(s, tc);
        return s;
}

CHECK_MAIN(http_conns_suite)
