/* test-overlay-cache.c — unit tests for overlay-cache.c: hits and misses, one credential per
 * miss and none when a source cannot be read, invalidation when the inputs key changes and
 * when a source is rewritten, touched or replaced, concurrent gets of one node issuing one
 * credential, LRU eviction under the byte cap, prune and invalidate (also during a render),
 * and blobs outliving their replacement. */
#include "check-main.h"
#include <archive.h>
#include <archive_entry.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "overlay-cache.h"
#include "util.h"

static char dir[64];
static char src_a[128], src_b[128];

static void put(const char *path, const char *data) {
        FILE *f = fopen(path, "w");
        ck_assert_ptr_nonnull(f);
        ck_assert_int_eq(fputs(data, f) >= 0, 1);
        ck_assert_int_eq(fclose(f), 0);
}

/* Rewrites a source: after a pause longer than a filesystem timestamp tick (the kernel
 * stamps files from a clock that advances once per jiffy), so the change shows in the times
 * even when the size stays. */
static void rewrite(const char *path, const char *data) {
        usleep(20000);
        put(path, data);
}

static void setup(void) {
        ck_assert_int_ge(sodium_init(), 0);
        snprintf(dir, sizeof dir, "/tmp/test-overlay-cache-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(dir));
        snprintf(src_a, sizeof src_a, "%s/ssh_host_ed25519_key", dir);
        snprintf(src_b, sizeof src_b, "%s/ssh_host_ed25519_key.pub", dir);
        put(src_a, "private key\n");
        put(src_b, "ssh-ed25519 AAAA\n");
}

static void teardown(void) {
        char cmd[256];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        ck_assert_int_eq(system(cmd), 0);
}

/* The credential function: "pvn_<node>_<n>" for the n-th credential issued overall. */
typedef struct Issuer {
        atomic_uint issued;
        atomic_uint inflight, max_inflight; /* calls running at once, and the most seen */
        int fail;             /* return this errno instead, if non-zero */
        useconds_t delay_us;  /* sleep before answering (a slow store) */
        OverlayCache *invalidate; /* if set, invalidate the node from inside the render */
} Issuer;

static int issue(void *userdata, const char *node, char *buf, size_t buflen) {
        Issuer *is = userdata;
        unsigned now = atomic_fetch_add(&is->inflight, 1) + 1, max = atomic_load(&is->max_inflight);
        while (now > max && !atomic_compare_exchange_weak(&is->max_inflight, &max, now))
                ;
        if (is->delay_us)
                usleep(is->delay_us);
        atomic_fetch_sub(&is->inflight, 1);
        if (is->fail)
                return is->fail;
        if (is->invalidate)
                overlay_cache_invalidate(is->invalidate, node);
        unsigned n = atomic_fetch_add(&is->issued, 1) + 1;
        ck_assert_uint_eq(buflen, OVERLAY_CREDENTIAL_MAX);
        snprintf(buf, buflen, "pvn_%s_%u", node, n);
        return 0;
}

static InventoryOverlayFile files2[2];

static Node node(const char *name) {
        files2[0] = (InventoryOverlayFile){ (char *) "/etc/ssh/ssh_host_ed25519_key", src_a, 0600, 0, 0 };
        files2[1] = (InventoryOverlayFile){ (char *) "/etc/ssh/ssh_host_ed25519_key.pub", src_b, 0644, 0, 0 };
        return (Node){ .name = (char *) name, .mode = NODE_MODE_STATELESS, .overlay_files = files2, .n_overlay_files = 2 };
}

static OverlayCache *cache(size_t max, Issuer *is) {
        OverlayCache *c = NULL;
        ck_assert_int_eq(overlay_cache_new(max, issue, is, &c), 0);
        return c;
}

static OverlayBlob *get(OverlayCache *c, const Node *n, const char *url) {
        OverlayBlob *b = NULL;
        char err[ERRBUF_MAX] = "";
        int r = overlay_cache_get(c, n, url, &b, err, sizeof err);
        ck_assert_msg(r == 0, "get %s: %d %s", n->name, r, err);
        ck_assert_ptr_nonnull(b);
        return b;
}

/* The bytes of `name` in blob b's archive, NUL-terminated, into buf. */
static void archive_file(const OverlayBlob *b, const char *name, char *buf, size_t size) {
        struct archive *a = archive_read_new();
        archive_read_support_format_cpio(a);
        ck_assert_int_eq(archive_read_open_memory(a, b->data, b->len), ARCHIVE_OK);
        struct archive_entry *e;
        bool found = false;
        while (!found && archive_read_next_header(a, &e) == ARCHIVE_OK)
                if (streq(archive_entry_pathname(e), name)) {
                        la_ssize_t n = archive_read_data(a, buf, size - 1);
                        ck_assert_int_ge(n, 0);
                        buf[n] = '\0';
                        found = true;
                }
        archive_read_free(a);
        ck_assert_msg(found, "%s not in the overlay", name);
}

static void check_credential(const OverlayBlob *b, const char *want) {
        char buf[256];
        archive_file(b, "var/lib/provd-node/credential", buf, sizeof buf);
        ck_assert_str_eq(buf, want);
}

static OverlayCacheStats stats(OverlayCache *c) {
        OverlayCacheStats s;
        overlay_cache_stats(c, &s);
        return s;
}

START_TEST(test_overlay_cache_hit_miss) {
        Issuer is = { 0 };
        _cleanup_(overlay_cache_freep) OverlayCache *c = cache(0, &is);
        Node n = node("c001");
        OverlayBlob *b = get(c, &n, "http://10.0.0.1:8080");
        ck_assert_uint_eq(is.issued, 1);
        check_credential(b, "pvn_c001_1\n");
        char buf[256];
        archive_file(b, "etc/ssh/ssh_host_ed25519_key", buf, sizeof buf);
        ck_assert_str_eq(buf, "private key\n");
        archive_file(b, "var/lib/provd-node/url", buf, sizeof buf);
        ck_assert_str_eq(buf, "http://10.0.0.1:8080\n");

        /* ETag: the quoted hex of a 16-byte generichash of the bytes */
        unsigned char h[16];
        char hex[33], want[40];
        crypto_generichash(h, sizeof h, b->data, b->len, NULL, 0);
        sodium_bin2hex(hex, sizeof hex, h, sizeof h);
        snprintf(want, sizeof want, "\"%s\"", hex);
        ck_assert_str_eq(b->etag, want);
        ck_assert_int_le(llabs(b->rendered_at - now_ms()), 5000);

        for (int i = 0; i < 3; i++) {
                OverlayBlob *again = get(c, &n, "http://10.0.0.1:8080");
                ck_assert_ptr_eq(again, b);
                overlay_blob_unref(again);
        }
        ck_assert_uint_eq(is.issued, 1);
        OverlayCacheStats s = stats(c);
        ck_assert_uint_eq(s.hits, 3);
        ck_assert_uint_eq(s.misses, 1);
        ck_assert_uint_eq(s.entries, 1);
        ck_assert_uint_ge(s.bytes, b->len);

        /* another node: its own overlay and credential */
        Node m = node("c002");
        OverlayBlob *bm = get(c, &m, "http://10.0.0.1:8080");
        ck_assert_uint_eq(is.issued, 2);
        check_credential(bm, "pvn_c002_2\n");
        ck_assert_str_ne(bm->etag, b->etag);
        overlay_blob_unref(bm);
        overlay_blob_unref(b);
}
END_TEST

/* A change of any input renders again with a new credential; a blob handed out before stays
 * readable (ASan would see a use after free). */
START_TEST(test_overlay_cache_inputs_key) {
        Issuer is = { 0 };
        _cleanup_(overlay_cache_freep) OverlayCache *c = cache(0, &is);
        Node n = node("c001");
        OverlayBlob *first = get(c, &n, "http://a");
        unsigned issued = 1;

        OverlayBlob *b = get(c, &n, "http://b"); /* URL */
        ck_assert_uint_eq(is.issued, ++issued);
        ck_assert_ptr_ne(b, first);
        overlay_blob_unref(b);
        b = get(c, &n, "http://b");
        ck_assert_uint_eq(is.issued, issued);
        overlay_blob_unref(b);

        files2[0].mode = 0400; /* mode */
        b = get(c, &n, "http://b");
        ck_assert_uint_eq(is.issued, ++issued);
        overlay_blob_unref(b);
        files2[1].uid = 7; /* owner */
        b = get(c, &n, "http://b");
        ck_assert_uint_eq(is.issued, ++issued);
        overlay_blob_unref(b);
        n.n_overlay_files = 1; /* the file list */
        b = get(c, &n, "http://b");
        ck_assert_uint_eq(is.issued, ++issued);
        overlay_blob_unref(b);
        n.overlay_files = NULL;
        n.n_overlay_files = 0;
        b = get(c, &n, "http://b");
        ck_assert_uint_eq(is.issued, ++issued);
        check_credential(b, "pvn_c001_6\n");
        overlay_blob_unref(b);
        b = get(c, &n, "http://b");
        ck_assert_uint_eq(is.issued, issued);
        overlay_blob_unref(b);
        ck_assert_uint_eq(stats(c).entries, 1);

        /* the first blob, replaced five times, is intact */
        check_credential(first, "pvn_c001_1\n");
        overlay_blob_unref(first);
}
END_TEST

START_TEST(test_overlay_cache_inputs_key_fields) {
        Node n = node("c001");
        uint64_t k = overlay_inputs_key(&n, "http://a");
        ck_assert_uint_eq(overlay_inputs_key(&n, "http://a"), k);
        ck_assert_uint_ne(overlay_inputs_key(&n, "http://b"), k);
        Node m = n;
        m.name = (char *) "c002";
        ck_assert_uint_ne(overlay_inputs_key(&m, "http://a"), k);
        m = n;
        m.rack = (char *) "r1"; /* not an input of the overlay */
        ck_assert_uint_eq(overlay_inputs_key(&m, "http://a"), k);
        InventoryOverlayFile f[2];
        memcpy(f, files2, sizeof f);
        m = n;
        m.overlay_files = f;
        ck_assert_uint_eq(overlay_inputs_key(&m, "http://a"), k);
        f[1].path = (char *) "/etc/other";
        ck_assert_uint_ne(overlay_inputs_key(&m, "http://a"), k);
        memcpy(f, files2, sizeof f);
        f[1].source = src_a;
        ck_assert_uint_ne(overlay_inputs_key(&m, "http://a"), k);
        memcpy(f, files2, sizeof f);
        f[1].gid = 1;
        ck_assert_uint_ne(overlay_inputs_key(&m, "http://a"), k);
        /* fields are delimited: moving bytes between name and URL changes the key */
        Node x = { .name = (char *) "ab", .mode = NODE_MODE_STATELESS }, y = x;
        y.name = (char *) "a";
        ck_assert_uint_ne(overlay_inputs_key(&x, "c"), overlay_inputs_key(&y, "bc"));
}
END_TEST

/* A source rewritten (same size), touched, or replaced by rename: a miss each time. */
START_TEST(test_overlay_cache_source_changes) {
        Issuer is = { 0 };
        _cleanup_(overlay_cache_freep) OverlayCache *c = cache(0, &is);
        Node n = node("c001");
        overlay_blob_unref(get(c, &n, "http://a"));
        ck_assert_uint_eq(is.issued, 1);

        rewrite(src_a, "PRIVATE KEY\n"); /* same size, same inode, within the same second */
        OverlayBlob *b = get(c, &n, "http://a");
        ck_assert_uint_eq(is.issued, 2);
        char buf[256];
        archive_file(b, "etc/ssh/ssh_host_ed25519_key", buf, sizeof buf);
        ck_assert_str_eq(buf, "PRIVATE KEY\n");
        overlay_blob_unref(b);
        overlay_blob_unref(get(c, &n, "http://a"));
        ck_assert_uint_eq(is.issued, 2);

        usleep(20000);
        ck_assert_int_eq(utimensat(AT_FDCWD, src_b, NULL, 0), 0); /* touch */
        overlay_blob_unref(get(c, &n, "http://a"));
        ck_assert_uint_eq(is.issued, 3);

        char tmp[160];
        snprintf(tmp, sizeof tmp, "%s/new", dir);
        put(tmp, "private key 2\n");
        ck_assert_int_eq(rename(tmp, src_a), 0); /* replaced */
        b = get(c, &n, "http://a");
        ck_assert_uint_eq(is.issued, 4);
        archive_file(b, "etc/ssh/ssh_host_ed25519_key", buf, sizeof buf);
        ck_assert_str_eq(buf, "private key 2\n");
        overlay_blob_unref(b);
        overlay_blob_unref(get(c, &n, "http://a"));
        ck_assert_uint_eq(is.issued, 4);
        ck_assert_uint_eq(stats(c).hits, 2);
}
END_TEST

/* A source that cannot be read: the get fails naming it, no credential is issued (the node's
 * current one stays), the stale entry is dropped; fixed, the next get renders. */
START_TEST(test_overlay_cache_source_errors) {
        Issuer is = { 0 };
        _cleanup_(overlay_cache_freep) OverlayCache *c = cache(0, &is);
        Node n = node("c001");
        ck_assert_int_eq(unlink(src_b), 0);
        OverlayBlob *b = (OverlayBlob *) 0x1;
        char err[ERRBUF_MAX] = "";
        ck_assert_int_eq(overlay_cache_get(c, &n, "http://a", &b, err, sizeof err), -ENOENT);
        ck_assert_ptr_eq(b, (OverlayBlob *) 0x1);
        ck_assert_ptr_nonnull(strstr(err, "node c001"));
        ck_assert_ptr_nonnull(strstr(err, "/etc/ssh/ssh_host_ed25519_key.pub"));
        ck_assert_ptr_nonnull(strstr(err, src_b));
        ck_assert_uint_eq(is.issued, 0);
        ck_assert_uint_eq(stats(c).entries, 0);

        put(src_b, "ssh-ed25519 BBBB\n");
        overlay_blob_unref(get(c, &n, "http://a"));
        ck_assert_uint_eq(is.issued, 1);

        /* cached, then a source goes: not served stale, entry dropped, nothing issued */
        ck_assert_int_eq(unlink(src_a), 0);
        ck_assert_int_eq(overlay_cache_get(c, &n, "http://a", &b, err, sizeof err), -ENOENT);
        ck_assert_uint_eq(is.issued, 1);
        OverlayCacheStats s = stats(c);
        ck_assert_uint_eq(s.entries, 0);
        ck_assert_uint_eq(s.bytes, 0);
        ck_assert_uint_eq(s.failures, 2);

        /* the credential function fails: the get fails with its errno */
        put(src_a, "k\n");
        is.fail = -EIO;
        ck_assert_int_eq(overlay_cache_get(c, &n, "http://a", &b, err, sizeof err), -EIO);
        ck_assert_ptr_nonnull(strstr(err, "node c001: cannot issue a node credential"));
        ck_assert_uint_eq(stats(c).entries, 0);
        is.fail = 0;
        overlay_blob_unref(get(c, &n, "http://a"));

        /* an install node has no overlay */
        n.mode = NODE_MODE_INSTALL;
        ck_assert_int_eq(overlay_cache_get(c, &n, "http://a", &b, err, sizeof err), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err, "c001"));
}
END_TEST

typedef struct Getter {
        OverlayCache *c;
        const Node *n;
        pthread_barrier_t *start;
        OverlayBlob *blob;
} Getter;

static void *getter(void *arg) {
        Getter *g = arg;
        pthread_barrier_wait(g->start);
        char err[ERRBUF_MAX];
        if (overlay_cache_get(g->c, g->n, "http://a", &g->blob, err, sizeof err) < 0)
                g->blob = NULL;
        return NULL;
}

/* Eight threads get one node at once, the credential function slow: one credential, and
 * every thread gets the overlay that holds it.  Then, stale, the same again. */
START_TEST(test_overlay_cache_concurrent) {
        Issuer is = { .delay_us = 200000 };
        _cleanup_(overlay_cache_freep) OverlayCache *c = cache(0, &is);
        Node n = node("c001");
        for (unsigned round = 1; round <= 2; round++) {
                enum { N = 8 };
                pthread_barrier_t start;
                pthread_barrier_init(&start, NULL, N);
                pthread_t t[N];
                Getter g[N];
                for (size_t i = 0; i < N; i++) {
                        g[i] = (Getter){ c, &n, &start, NULL };
                        ck_assert_int_eq(pthread_create(&t[i], NULL, getter, &g[i]), 0);
                }
                for (size_t i = 0; i < N; i++)
                        pthread_join(t[i], NULL);
                pthread_barrier_destroy(&start);
                ck_assert_uint_eq(is.issued, round);
                char want[32];
                snprintf(want, sizeof want, "pvn_c001_%u\n", round);
                for (size_t i = 0; i < N; i++) {
                        ck_assert_ptr_nonnull(g[i].blob);
                        ck_assert_ptr_eq(g[i].blob, g[0].blob);
                        overlay_blob_unref(g[i].blob);
                }
                check_credential(g[0].blob = get(c, &n, "http://a"), want);
                overlay_blob_unref(g[0].blob);
                rewrite(src_a, round == 1 ? "rewritten\n" : "again\n");
        }
        OverlayCacheStats s = stats(c);
        ck_assert_uint_eq(s.misses, 2);
        ck_assert_uint_ge(s.waits, 1);
}
END_TEST

/* Renders of different nodes run side by side: the credential function runs for several
 * nodes at once (the cache's lock is not held around it). */
START_TEST(test_overlay_cache_parallel_nodes) {
        Issuer is = { .delay_us = 300000 };
        _cleanup_(overlay_cache_freep) OverlayCache *c = cache(0, &is);
        enum { N = 4 };
        Node n[N];
        char names[N][8];
        pthread_barrier_t start;
        pthread_barrier_init(&start, NULL, N);
        pthread_t t[N];
        Getter g[N];
        for (size_t i = 0; i < N; i++) {
                snprintf(names[i], sizeof names[i], "c%zu", i);
                n[i] = node(names[i]);
        }
        for (size_t i = 0; i < N; i++) {
                g[i] = (Getter){ c, &n[i], &start, NULL };
                ck_assert_int_eq(pthread_create(&t[i], NULL, getter, &g[i]), 0);
        }
        for (size_t i = 0; i < N; i++)
                pthread_join(t[i], NULL);
        pthread_barrier_destroy(&start);
        ck_assert_uint_eq(is.issued, N);
        for (size_t i = 0; i < N; i++) {
                ck_assert_ptr_nonnull(g[i].blob);
                overlay_blob_unref(g[i].blob);
        }
        ck_assert_uint_ge(is.max_inflight, 2);
}
END_TEST

/* LRU eviction under the byte cap. */
START_TEST(test_overlay_cache_lru) {
        Issuer is = { 0 };
        Node n[5];
        char names[5][8];
        for (size_t i = 0; i < 5; i++) {
                snprintf(names[i], sizeof names[i], "c%03zu", i);
                n[i] = node(names[i]);
        }
        /* the cost of one entry (all five cost the same: same name length, same files) */
        size_t one;
        {
                _cleanup_(overlay_cache_freep) OverlayCache *probe = cache(0, &is);
                overlay_blob_unref(get(probe, &n[0], "http://a"));
                one = stats(probe).bytes;
        }
        is.issued = 0;
        _cleanup_(overlay_cache_freep) OverlayCache *c = cache(3 * one + one / 2, &is);
        for (size_t i = 0; i < 3; i++)
                overlay_blob_unref(get(c, &n[i], "http://a"));
        ck_assert_uint_eq(stats(c).entries, 3);
        ck_assert_uint_eq(stats(c).bytes, 3 * one);
        overlay_blob_unref(get(c, &n[0], "http://a")); /* c000 is now the most recent */
        ck_assert_uint_eq(is.issued, 3);
        OverlayBlob *held = get(c, &n[3], "http://a"); /* evicts c001, the least recent */
        ck_assert_uint_eq(is.issued, 4);
        OverlayCacheStats s = stats(c);
        ck_assert_uint_eq(s.entries, 3);
        ck_assert_uint_eq(s.evictions, 1);
        ck_assert_uint_le(s.bytes, 3 * one + one / 2);
        overlay_blob_unref(get(c, &n[0], "http://a")); /* hit */
        overlay_blob_unref(get(c, &n[2], "http://a")); /* hit */
        ck_assert_uint_eq(is.issued, 4);
        overlay_blob_unref(get(c, &n[1], "http://a")); /* miss: evicts c003, whose blob we hold */
        ck_assert_uint_eq(is.issued, 5);
        ck_assert_uint_eq(stats(c).evictions, 2);
        check_credential(held, "pvn_c003_4\n");
        overlay_blob_unref(held);
        overlay_blob_unref(get(c, &n[3], "http://a"));
        ck_assert_uint_eq(is.issued, 6);

        /* an overlay larger than the whole cap is handed out, not kept */
        _cleanup_(overlay_cache_freep) OverlayCache *tiny = cache(64, &is);
        OverlayBlob *b = get(tiny, &n[4], "http://a");
        check_credential(b, "pvn_c004_7\n");
        overlay_blob_unref(b);
        ck_assert_uint_eq(stats(tiny).entries, 0);
        ck_assert_uint_eq(stats(tiny).bytes, 0);
        overlay_blob_unref(get(tiny, &n[4], "http://a"));
        ck_assert_uint_eq(is.issued, 8);
}
END_TEST

/* Many nodes: the table grows, every node found again. */
START_TEST(test_overlay_cache_many) {
        Issuer is = { 0 };
        _cleanup_(overlay_cache_freep) OverlayCache *c = cache(0, &is);
        enum { N = 1000 };
        static char names[N][8];
        static Node n[N];
        for (size_t i = 0; i < N; i++) {
                snprintf(names[i], sizeof names[i], "n%04zu", i);
                n[i] = node(names[i]);
                overlay_blob_unref(get(c, &n[i], "http://a"));
        }
        for (size_t i = 0; i < N; i++)
                overlay_blob_unref(get(c, &n[i], "http://a"));
        ck_assert_uint_eq(is.issued, N);
        ck_assert_uint_eq(stats(c).entries, N);
        ck_assert_uint_eq(stats(c).hits, N);
}
END_TEST

static Inventory *parse(const char *json) {
        Inventory *inv = NULL;
        char err[ERRBUF_MAX] = "";
        ck_assert_msg(inventory_parse(json, strlen(json), &inv, err, sizeof err) == 0, "%s", err);
        return inv;
}

#define INV_NODE(name, mac)                                                                                            \
        "{\"name\":\"" name "\",\"mac\":[\"" mac "\"],\"boot\":{\"kernel\":\"/k\",\"initrd\":[\"/i\"],"              \
        "\"cmdline\":\"x\"},\"system\":{\"toplevel\":\"/nix/store/t\",\"install\":\"/nix/store/i\"}}"

/* prune drops nodes gone or no longer stateless; invalidate drops one node. */
START_TEST(test_overlay_cache_prune_invalidate) {
        Issuer is = { 0 };
        _cleanup_(overlay_cache_freep) OverlayCache *c = cache(0, &is);
        Node n1 = node("c1"), n2 = node("c2"), n3 = node("c3"), n9 = node("c9");
        Node *all[] = { &n1, &n2, &n3, &n9 };
        for (size_t i = 0; i < ELEMENTSOF(all); i++)
                overlay_blob_unref(get(c, all[i], "http://a"));
        ck_assert_uint_eq(stats(c).entries, 4);

        /* c1, c2 stateless; c3 an install node; c9 gone.  (The stateless mode is set on the
         * parsed nodes: this is the cache's test, not the parser's.) */
        _cleanup_(inventory_freep) Inventory *inv =
                parse("{\"version\":1,\"nodes\":[" INV_NODE("c1", "52:54:00:00:00:01") "," INV_NODE(
                        "c2", "52:54:00:00:00:02") "," INV_NODE("c3", "52:54:00:00:00:03") "]}");
        ck_assert_uint_eq(inv->n_nodes, 3);
        inv->nodes[0].mode = inv->nodes[1].mode = NODE_MODE_STATELESS;
        overlay_cache_prune(c, inv);
        OverlayCacheStats s = stats(c);
        ck_assert_uint_eq(s.entries, 2);
        overlay_blob_unref(get(c, &n1, "http://a"));
        overlay_blob_unref(get(c, &n2, "http://a"));
        ck_assert_uint_eq(is.issued, 4);
        overlay_blob_unref(get(c, &n9, "http://a"));
        ck_assert_uint_eq(is.issued, 5);

        overlay_cache_invalidate(c, "c1");
        overlay_cache_invalidate(c, "nobody");
        ck_assert_uint_eq(stats(c).entries, 2);
        OverlayBlob *b = get(c, &n1, "http://a");
        ck_assert_uint_eq(is.issued, 6);
        check_credential(b, "pvn_c1_6\n");
        overlay_blob_unref(b);

        /* invalidated while rendering (from the credential function, which runs without the
         * cache's lock): the caller gets its overlay, the cache does not keep it */
        is.invalidate = c;
        overlay_cache_invalidate(c, "c2");
        b = get(c, &n2, "http://a");
        check_credential(b, "pvn_c2_7\n");
        overlay_blob_unref(b);
        ck_assert_uint_eq(stats(c).entries, 2); /* c1, c9 */
        is.invalidate = NULL;
        overlay_blob_unref(get(c, &n2, "http://a"));
        ck_assert_uint_eq(is.issued, 8);
        overlay_blob_unref(get(c, &n2, "http://a"));
        ck_assert_uint_eq(is.issued, 8);
}
END_TEST

static Suite *overlay_cache_suite(void) {
        Suite *s = suite_create("overlay-cache");
        TCase *tc = tcase_create("overlay-cache");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_overlay_cache_hit_miss);
        tcase_add_test(tc, test_overlay_cache_inputs_key);
        tcase_add_test(tc, test_overlay_cache_inputs_key_fields);
        tcase_add_test(tc, test_overlay_cache_source_changes);
        tcase_add_test(tc, test_overlay_cache_source_errors);
        tcase_add_test(tc, test_overlay_cache_concurrent);
        tcase_add_test(tc, test_overlay_cache_parallel_nodes);
        tcase_add_test(tc, test_overlay_cache_lru);
        tcase_add_test(tc, test_overlay_cache_many);
        tcase_add_test(tc, test_overlay_cache_prune_invalidate);
        suite_add_tcase(s, tc);
        return s;
}

CHECK_MAIN(overlay_cache_suite)
