/* test-overlay.c — unit tests for overlay.c: a rendered overlay read back with libarchive's
 * cpio reader (every entry in order: name, type and mode, owner, mtime, inode, contents, the
 * manifest), the archive unpacked by GNU cpio, and the errors (missing, unreadable,
 * non-regular or too large sources, paths that collide), each message naming the node, the
 * file's path and its source. */
#include "check-main.h"
#include <archive.h>
#include <archive_entry.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "overlay.h"
#include "util.h"

#define MTIME 1767225600 /* 2026-01-01T00:00:00Z */

static char dir[64];

static void setup(void) {
        snprintf(dir, sizeof dir, "/tmp/test-overlay-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void) {
        char cmd[256];
        snprintf(cmd, sizeof cmd, "chmod -R u+rwx %s 2>/dev/null; rm -rf %s", dir, dir);
        ck_assert_int_eq(system(cmd), 0);
}

/* Writes `len` bytes of `data` to dir/name and returns the path (static storage, 8 slots). */
static const char *put(const char *name, const void *data, size_t len) {
        static char paths[8][128];
        static unsigned next;
        char *p = paths[next++ % 8];
        snprintf(p, 128, "%s/%s", dir, name);
        FILE *f = fopen(p, "w");
        ck_assert_ptr_nonnull(f);
        ck_assert_uint_eq(fwrite(data, 1, len, f), len);
        ck_assert_int_eq(fclose(f), 0);
        return p;
}

typedef struct Entry {
        char name[128];
        unsigned mode; /* type and permission bits */
        unsigned uid, gid;
        int64_t mtime, ino;
        unsigned nlink;
        char data[4096];
        size_t len;
} Entry;

/* Reads the archive with libarchive's cpio reader into `ent` (at most max); returns the count. */
static size_t read_back(const uint8_t *data, size_t len, Entry *ent, size_t max) {
        struct archive *a = archive_read_new();
        ck_assert_ptr_nonnull(a);
        ck_assert_int_eq(archive_read_support_format_cpio(a), ARCHIVE_OK);
        ck_assert_int_eq(archive_read_open_memory(a, data, len), ARCHIVE_OK);
        size_t n = 0;
        struct archive_entry *e;
        int r;
        while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
                ck_assert_uint_lt(n, max);
                ck_assert_int_eq(archive_format(a), ARCHIVE_FORMAT_CPIO_SVR4_NOCRC); /* newc */
                Entry *x = &ent[n++];
                snprintf(x->name, sizeof x->name, "%s", archive_entry_pathname(e));
                x->mode = archive_entry_mode(e);
                x->uid = (unsigned) archive_entry_uid(e);
                x->gid = (unsigned) archive_entry_gid(e);
                x->mtime = archive_entry_mtime(e);
                x->ino = archive_entry_ino64(e);
                x->nlink = archive_entry_nlink(e);
                ck_assert_int_le(archive_entry_size(e), (int64_t) sizeof x->data);
                la_ssize_t got = archive_read_data(a, x->data, sizeof x->data);
                ck_assert_int_eq(got, archive_entry_size(e));
                x->len = (size_t) got;
        }
        ck_assert_int_eq(r, ARCHIVE_EOF);
        ck_assert_int_eq(archive_read_free(a), ARCHIVE_OK);
        return n;
}

static void check_entry(const Entry *e, const char *name, unsigned mode, unsigned uid, unsigned gid,
                        const char *data) {
        ck_assert_str_eq(e->name, name);
        ck_assert_msg(e->mode == mode, "%s: mode %o, expected %o", name, e->mode, mode);
        ck_assert_uint_eq(e->uid, uid);
        ck_assert_uint_eq(e->gid, gid);
        ck_assert_int_eq(e->mtime, MTIME);
        if (S_ISDIR(mode)) {
                ck_assert_uint_eq(e->len, 0);
                ck_assert_uint_eq(e->nlink, 2);
        } else {
                ck_assert_uint_eq(e->nlink, 1);
                ck_assert_uint_eq(e->len, strlen(data));
                ck_assert(memcmp(e->data, data, e->len) == 0);
        }
}

/* Renders spec and checks the archive's framing: newc magic, a length that is a multiple
 * of 4 (another archive may follow), the trailer last. */
static size_t render(const OverlaySpec *spec, uint8_t **ret, size_t *ret_len) {
        char err[ERRBUF_MAX] = "";
        int r = overlay_render(spec, ret, ret_len, err, sizeof err);
        ck_assert_msg(r == 0, "overlay_render: %d %s", r, err);
        ck_assert_uint_ge(*ret_len, 6);
        ck_assert(memcmp(*ret, "070701", 6) == 0);
        ck_assert_uint_eq(*ret_len % 4, 0);
        ck_assert_ptr_nonnull(memmem(*ret + *ret_len - 128, 128, "TRAILER!!!", 10));
        return *ret_len;
}

START_TEST(test_overlay_layout) {
        const char *key = put("key", "-----BEGIN OPENSSH PRIVATE KEY-----\nsecret\n", 43);
        const char *pub = put("key.pub", "ssh-ed25519 AAAA c001\n", 22);
        const char *tok = put("token", "t0k3n", 5);
        InventoryOverlayFile files[] = {
                { (char *) "/etc/ssh/ssh_host_ed25519_key", (char *) key, 0600, 0, 0 },
                { (char *) "/etc/ssh/ssh_host_ed25519_key.pub", (char *) pub, 0644, 0, 0 },
                { (char *) "/var/lib/app/token", (char *) tok, 04440, 990, 991 },
        };
        OverlaySpec spec = { "c001", "http://10.0.0.1:8080", "pvn_abcdef", files, 3, MTIME };
        _cleanup_free_ uint8_t *data = NULL;
        size_t len;
        render(&spec, &data, &len);

        Entry ent[32];
        size_t n = read_back(data, len, ent, 32);
        const char *manifest = "/etc/hostname\n/var/lib/provd-node/node\n/var/lib/provd-node/url\n"
                               "/var/lib/provd-node/credential\n/etc/ssh/ssh_host_ed25519_key\n"
                               "/etc/ssh/ssh_host_ed25519_key.pub\n/var/lib/app/token\n";
        ck_assert_uint_eq(n, 15);
        size_t i = 0;
        check_entry(&ent[i++], "etc", S_IFDIR | 0755, 0, 0, NULL);
        check_entry(&ent[i++], "etc/provd", S_IFDIR | 0755, 0, 0, NULL);
        check_entry(&ent[i++], "etc/ssh", S_IFDIR | 0755, 0, 0, NULL);
        check_entry(&ent[i++], "var", S_IFDIR | 0755, 0, 0, NULL);
        check_entry(&ent[i++], "var/lib", S_IFDIR | 0755, 0, 0, NULL);
        check_entry(&ent[i++], "var/lib/app", S_IFDIR | 0755, 0, 0, NULL);
        check_entry(&ent[i++], "var/lib/provd-node", S_IFDIR | 0755, 0, 0, NULL);
        check_entry(&ent[i++], "etc/hostname", S_IFREG | 0644, 0, 0, "c001\n");
        check_entry(&ent[i++], "var/lib/provd-node/node", S_IFREG | 0644, 0, 0, "c001\n");
        check_entry(&ent[i++], "var/lib/provd-node/url", S_IFREG | 0644, 0, 0, "http://10.0.0.1:8080\n");
        check_entry(&ent[i++], "var/lib/provd-node/credential", S_IFREG | 0600, 0, 0, "pvn_abcdef\n");
        check_entry(&ent[i++], "etc/ssh/ssh_host_ed25519_key", S_IFREG | 0600, 0, 0,
                    "-----BEGIN OPENSSH PRIVATE KEY-----\nsecret\n");
        check_entry(&ent[i++], "etc/ssh/ssh_host_ed25519_key.pub", S_IFREG | 0644, 0, 0, "ssh-ed25519 AAAA c001\n");
        check_entry(&ent[i++], "var/lib/app/token", S_IFREG | 04440, 990, 991, "t0k3n");
        check_entry(&ent[i++], "etc/provd/overlay.manifest", S_IFREG | 0644, 0, 0, manifest);
        /* every entry its own inode, numbered in order */
        for (i = 0; i < n; i++)
                ck_assert_int_eq(ent[i].ino, (int64_t) i + 1);

        /* The same inputs give the same bytes. */
        _cleanup_free_ uint8_t *again = NULL;
        size_t again_len;
        render(&spec, &again, &again_len);
        ck_assert_uint_eq(again_len, len);
        ck_assert(memcmp(again, data, len) == 0);
}
END_TEST

START_TEST(test_overlay_no_credential_no_files) {
        OverlaySpec spec = { "n7", "https://provd.example/", NULL, NULL, 0, MTIME };
        _cleanup_free_ uint8_t *data = NULL;
        size_t len;
        render(&spec, &data, &len);
        Entry ent[16];
        size_t n = read_back(data, len, ent, 16);
        ck_assert_uint_eq(n, 9);
        size_t i = 0;
        check_entry(&ent[i++], "etc", S_IFDIR | 0755, 0, 0, NULL);
        check_entry(&ent[i++], "etc/provd", S_IFDIR | 0755, 0, 0, NULL);
        check_entry(&ent[i++], "var", S_IFDIR | 0755, 0, 0, NULL);
        check_entry(&ent[i++], "var/lib", S_IFDIR | 0755, 0, 0, NULL);
        check_entry(&ent[i++], "var/lib/provd-node", S_IFDIR | 0755, 0, 0, NULL);
        check_entry(&ent[i++], "etc/hostname", S_IFREG | 0644, 0, 0, "n7\n");
        check_entry(&ent[i++], "var/lib/provd-node/node", S_IFREG | 0644, 0, 0, "n7\n");
        check_entry(&ent[i++], "var/lib/provd-node/url", S_IFREG | 0644, 0, 0, "https://provd.example/\n");
        check_entry(&ent[i++], "etc/provd/overlay.manifest", S_IFREG | 0644, 0, 0,
                    "/etc/hostname\n/var/lib/provd-node/node\n/var/lib/provd-node/url\n");
}
END_TEST

/* An empty source, a source of exactly OVERLAY_FILE_MAX bytes, a source through a symbolic
 * link, a UTF-8 path (written as its bytes, whatever the locale), and an mtime beyond newc's
 * 32 bits (clamped). */
START_TEST(test_overlay_edges) {
        _cleanup_free_ char *big = malloc(OVERLAY_FILE_MAX);
        ck_assert_ptr_nonnull(big);
        memset(big, 'x', OVERLAY_FILE_MAX);
        const char *empty = put("empty", "", 0);
        const char *max = put("max", big, OVERLAY_FILE_MAX);
        const char *target = put("target", "via link\n", 9);
        char link[128];
        snprintf(link, sizeof link, "%s/link", dir);
        ck_assert_int_eq(symlink(target, link), 0);
        InventoryOverlayFile files[] = {
                { (char *) "/empty", (char *) empty, 0600, 0, 0 },
                { (char *) "/big", (char *) max, 0600, 0, 0 },
                { (char *) "/linked", link, 0644, 0, 0 },
                { (char *) "/etc/caf\xc3\xa9", (char *) empty, 0600, 0, 0 }, /* UTF-8: bytes as given */
        };
        OverlaySpec spec = { "c2", "http://p", "pvn_x", files, 4, (int64_t) 1 << 40 };
        _cleanup_free_ uint8_t *data = NULL;
        size_t len;
        char err[ERRBUF_MAX] = "";
        ck_assert_int_eq(overlay_render(&spec, &data, &len, err, sizeof err), 0);
        struct archive *a = archive_read_new();
        archive_read_support_format_cpio(a);
        ck_assert_int_eq(archive_read_open_memory(a, data, len), ARCHIVE_OK);
        struct archive_entry *e;
        int seen = 0;
        while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
                ck_assert_int_eq(archive_entry_mtime(e), (int64_t) UINT32_MAX);
                const char *name = archive_entry_pathname(e);
                if (streq(name, "empty")) {
                        ck_assert_int_eq(archive_entry_size(e), 0);
                        seen++;
                } else if (streq(name, "big")) {
                        ck_assert_int_eq(archive_entry_size(e), OVERLAY_FILE_MAX);
                        seen++;
                } else if (streq(name, "etc/caf\xc3\xa9")) {
                        seen++;
                } else if (streq(name, "linked")) {
                        char buf[16];
                        ck_assert_int_eq(archive_read_data(a, buf, sizeof buf), 9);
                        ck_assert(memcmp(buf, "via link\n", 9) == 0);
                        ck_assert(S_ISREG(archive_entry_mode(e)));
                        seen++;
                }
        }
        archive_read_free(a);
        ck_assert_int_eq(seen, 4);
}
END_TEST

/* Renders spec expecting error `expect`, with a message containing each of the strings. */
static void expect_fail(const OverlaySpec *spec, int expect, const char *s1, const char *s2, const char *s3) {
        uint8_t *data = (uint8_t *) 0x1;
        size_t len = 12345;
        char err[ERRBUF_MAX] = "";
        int r = overlay_render(spec, &data, &len, err, sizeof err);
        ck_assert_msg(r == expect, "expected %d, got %d (%s)", expect, r, err);
        ck_assert_ptr_eq(data, (uint8_t *) 0x1); /* ret_* untouched */
        ck_assert_uint_eq(len, 12345);
        const char *want[] = { s1, s2, s3 };
        for (size_t i = 0; i < 3; i++)
                ck_assert_msg(!want[i] || strstr(err, want[i]), "message \"%s\" lacks \"%s\"", err, want[i]);
}

START_TEST(test_overlay_source_errors) {
        const char *ok = put("ok", "ok\n", 3);
        char missing[128], fifo[128], sub[128];
        snprintf(missing, sizeof missing, "%s/missing", dir);
        snprintf(fifo, sizeof fifo, "%s/fifo", dir);
        snprintf(sub, sizeof sub, "%s/sub", dir);
        ck_assert_int_eq(mkfifo(fifo, 0600), 0);
        ck_assert_int_eq(mkdir(sub, 0700), 0);
        _cleanup_free_ char *big = calloc(1, OVERLAY_FILE_MAX + 1);
        const char *too_big = put("too-big", big, OVERLAY_FILE_MAX + 1);

        InventoryOverlayFile files[2] = { { (char *) "/etc/ok", (char *) ok, 0600, 0, 0 } };
        OverlaySpec spec = { "c003", "http://p", "pvn_x", files, 2, MTIME };

        files[1] = (InventoryOverlayFile){ (char *) "/etc/ssh/key", missing, 0600, 0, 0 };
        expect_fail(&spec, -ENOENT, "node c003", "/etc/ssh/key", missing);
        files[1].source = sub;
        expect_fail(&spec, -EISDIR, "node c003", "/etc/ssh/key", sub);
        files[1].source = fifo; /* never opened: a FIFO without a writer would block */
        expect_fail(&spec, -EISDIR, "node c003", "/etc/ssh/key", fifo);
        files[1].source = (char *) "/dev/null";
        expect_fail(&spec, -EISDIR, "node c003", "/etc/ssh/key", "/dev/null");
        files[1].source = (char *) too_big;
        expect_fail(&spec, -EFBIG, "node c003", "/etc/ssh/key", too_big);
        /* a dangling link is a missing file */
        char link[128];
        snprintf(link, sizeof link, "%s/dangling", dir);
        ck_assert_int_eq(symlink(missing, link), 0);
        files[1].source = link;
        expect_fail(&spec, -ENOENT, "node c003", "/etc/ssh/key", link);
}
END_TEST

/* OVERLAY_FILES_TOTAL_MAX over all sources: 17 files of 1 MiB. */
START_TEST(test_overlay_total_too_big) {
        _cleanup_free_ char *big = calloc(1, OVERLAY_FILE_MAX);
        const char *src = put("mib", big, OVERLAY_FILE_MAX);
        InventoryOverlayFile files[17];
        char paths[17][16];
        for (size_t i = 0; i < 17; i++) {
                snprintf(paths[i], sizeof paths[i], "/f%zu", i);
                files[i] = (InventoryOverlayFile){ paths[i], (char *) src, 0600, 0, 0 };
        }
        OverlaySpec spec = { "c004", "http://p", NULL, files, 16, MTIME };
        uint8_t *data = NULL;
        size_t len;
        ck_assert_int_eq(overlay_render(&spec, &data, &len, NULL, 0), 0);
        free(data);
        spec.n_files = 17;
        expect_fail(&spec, -EFBIG, "node c004", "/f16", src);
}
END_TEST

/* Unreadable source: as root, checked in a child that drops to nobody. */
START_TEST(test_overlay_unreadable) {
        const char *secret = put("secret", "s\n", 2);
        ck_assert_int_eq(chmod(secret, 0), 0);
        ck_assert_int_eq(chmod(dir, 0755), 0);
        InventoryOverlayFile files[] = { { (char *) "/etc/secret", (char *) secret, 0600, 0, 0 } };
        OverlaySpec spec = { "c005", "http://p", NULL, files, 1, MTIME };
        if (geteuid() != 0) {
                expect_fail(&spec, -EACCES, "node c005", "/etc/secret", secret);
                return;
        }
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                if (setgid(65534) < 0 || setuid(65534) < 0)
                        _exit(2);
                uint8_t *data;
                size_t len;
                char err[ERRBUF_MAX] = "";
                int r = overlay_render(&spec, &data, &len, err, sizeof err);
                _exit(r == -EACCES && strstr(err, "node c005") && strstr(err, "/etc/secret") && strstr(err, secret) ? 0 : 1);
        }
        int status;
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert(WIFEXITED(status));
        ck_assert_int_eq(WEXITSTATUS(status), 0);
}
END_TEST

START_TEST(test_overlay_bad_paths) {
        const char *ok = put("ok", "ok\n", 3);
        InventoryOverlayFile files[2] = { { (char *) "/etc/ssh/key", (char *) ok, 0600, 0, 0 } };
        OverlaySpec spec = { "c006", "http://p", "pvn_x", files, 2, MTIME };
        static const char *const bad[][2] = {
                { "/etc/hostname", "given twice or is one provd writes itself" },
                { "/var/lib/provd-node/credential", "given twice" },
                { "/etc/provd/overlay.manifest", "given twice" },
                { "/etc/ssh/key", "given twice" },
                { "/etc", "/etc/ssh/key (source" }, /* its directory /etc is another overlay file */
                { "/var/lib/provd-node", "the directory of a file provd writes" },
                { "/etc/ssh", "its directory /etc/ssh is another" },
                { "/etc/hostname/x", "its directory /etc/hostname is another" },
                { "/etc/ssh/key/x", "its directory /etc/ssh/key is another" },
                { "etc/x", "absolute, clean" },
                { "/", "absolute, clean" },
                { "/etc//x", "absolute, clean" },
                { "/etc/./x", "absolute, clean" },
                { "/etc/../x", "absolute, clean" },
                { "/etc/x/", "absolute, clean" },
                { "/etc/x\ny", "absolute, clean" },
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                files[1] = (InventoryOverlayFile){ (char *) bad[i][0], (char *) ok, 0600, 0, 0 };
                expect_fail(&spec, -EINVAL, "node c006", bad[i][0], bad[i][1]);
        }
        files[1] = (InventoryOverlayFile){ (char *) "/etc/x", (char *) ok, 010000, 0, 0 };
        expect_fail(&spec, -EINVAL, "node c006", "/etc/x", "mode");
        /* the name, URL and credential must be writable one-line files */
        spec.n_files = 1;
        spec.node = "a/b";
        expect_fail(&spec, -EINVAL, "a/b", NULL, NULL);
        spec.node = "c006";
        spec.url = "http://p\n";
        expect_fail(&spec, -EINVAL, "node c006", "URL", NULL);
        spec.url = "http://p";
        spec.credential = "";
        expect_fail(&spec, -EINVAL, "node c006", "credential", NULL);
}
END_TEST

/* The two halves: the stats of what was read, and a render from the bytes read even after
 * the source changed. */
START_TEST(test_overlay_sources) {
        const char *k = put("k", "one\n", 4);
        InventoryOverlayFile files[] = { { (char *) "/k", (char *) k, 0600, 0, 0 } };
        OverlaySpec spec = { "c007", "http://p", "pvn_x", files, 1, MTIME };
        _cleanup_(overlay_sources_freep) OverlaySources *src = NULL;
        ck_assert_int_eq(overlay_sources_read(&spec, &src, NULL, 0), 0);
        size_t n;
        const OverlaySourceStat *st = overlay_sources_stats(src, &n);
        ck_assert_uint_eq(n, 1);
        OverlaySourceStat now;
        ck_assert_int_eq(overlay_source_stat(k, &now), 0);
        ck_assert(overlay_source_stat_equal(&st[0], &now));
        ck_assert_int_eq(st[0].size, 4);

        put("k", "two\n", 4); /* same size, same second: ctime/mtime nanoseconds differ */
        usleep(10000);
        put("k", "two\n", 4);
        ck_assert_int_eq(overlay_source_stat(k, &now), 0);
        ck_assert(!overlay_source_stat_equal(&st[0], &now));
        ck_assert_int_eq(overlay_source_stat("/nonexistent/x", &now), -ENOENT);

        _cleanup_free_ uint8_t *data = NULL;
        size_t len;
        ck_assert_int_eq(overlay_render_sources(&spec, src, &data, &len, NULL, 0), 0);
        ck_assert_ptr_nonnull(memmem(data, len, "one\n", 4));
        ck_assert_ptr_null(memmem(data, len, "two\n", 4));
}
END_TEST

/* GNU cpio unpacks it (as the kernel would, names relative): contents, modes, owners. */
START_TEST(test_overlay_gnu_cpio) {
        if (system("command -v cpio >/dev/null 2>&1") != 0) {
                if (getenv("PROVD_TESTS_NO_SKIP"))
                        ck_abort_msg("cpio is not installed");
                return;
        }
        const char *key = put("key", "private\n", 8);
        InventoryOverlayFile files[] = {
                { (char *) "/etc/ssh/ssh_host_ed25519_key", (char *) key, 0600, 0, 0 },
                { (char *) "/var/lib/app/token", (char *) key, 0440, 990, 991 },
        };
        OverlaySpec spec = { "c008", "http://10.0.0.1:8080", "pvn_abc", files, 2, MTIME };
        _cleanup_free_ uint8_t *data = NULL;
        size_t len;
        render(&spec, &data, &len);
        const char *archive = put("overlay.cpio", data, len);
        char root[128], cmd[512], p[512];
        snprintf(root, sizeof root, "%s/root", dir);
        ck_assert_int_eq(mkdir(root, 0755), 0);
        snprintf(cmd, sizeof cmd, "cd %s && cpio -idm --quiet --no-absolute-filenames <%s", root, archive);
        ck_assert_int_eq(system(cmd), 0);

        static const struct {
                const char *path, *data;
                unsigned mode, uid, gid;
        } want[] = {
                { "etc/hostname", "c008\n", 0644, 0, 0 },
                { "var/lib/provd-node/node", "c008\n", 0644, 0, 0 },
                { "var/lib/provd-node/url", "http://10.0.0.1:8080\n", 0644, 0, 0 },
                { "var/lib/provd-node/credential", "pvn_abc\n", 0600, 0, 0 },
                { "etc/ssh/ssh_host_ed25519_key", "private\n", 0600, 0, 0 },
                { "var/lib/app/token", "private\n", 0440, 990, 991 },
                { "etc/provd/overlay.manifest",
                  "/etc/hostname\n/var/lib/provd-node/node\n/var/lib/provd-node/url\n/var/lib/provd-node/credential\n"
                  "/etc/ssh/ssh_host_ed25519_key\n/var/lib/app/token\n",
                  0644, 0, 0 },
        };
        for (size_t i = 0; i < ELEMENTSOF(want); i++) {
                snprintf(p, sizeof p, "%s/%s", root, want[i].path);
                struct stat st;
                ck_assert_msg(stat(p, &st) == 0, "%s not unpacked", want[i].path);
                ck_assert(S_ISREG(st.st_mode));
                ck_assert_msg((st.st_mode & 07777) == want[i].mode, "%s: mode %o", want[i].path, st.st_mode & 07777);
                ck_assert_int_eq(st.st_mtime, MTIME); /* -m */
                if (geteuid() == 0) { /* cpio keeps owners only for root */
                        ck_assert_uint_eq(st.st_uid, want[i].uid);
                        ck_assert_uint_eq(st.st_gid, want[i].gid);
                }
                char buf[512];
                int fd = open(p, O_RDONLY);
                ck_assert_int_ge(fd, 0);
                ssize_t n = read(fd, buf, sizeof buf);
                close(fd);
                ck_assert_int_eq(n, (ssize_t) strlen(want[i].data));
                ck_assert(memcmp(buf, want[i].data, (size_t) n) == 0);
        }
        struct stat st;
        snprintf(p, sizeof p, "%s/var/lib/provd-node", root);
        ck_assert_int_eq(stat(p, &st), 0);
        ck_assert(S_ISDIR(st.st_mode));
        ck_assert_uint_eq(st.st_mode & 07777, 0755);
}
END_TEST

static Suite *overlay_suite(void) {
        Suite *s = suite_create("overlay");
        TCase *tc = tcase_create("overlay");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_overlay_layout);
        tcase_add_test(tc, test_overlay_no_credential_no_files);
        tcase_add_test(tc, test_overlay_edges);
        tcase_add_test(tc, test_overlay_source_errors);
        tcase_add_test(tc, test_overlay_total_too_big);
        tcase_add_test(tc, test_overlay_unreadable);
        tcase_add_test(tc, test_overlay_bad_paths);
        tcase_add_test(tc, test_overlay_sources);
        tcase_add_test(tc, test_overlay_gnu_cpio);
        suite_add_tcase(s, tc);
        return s;
}

CHECK_MAIN(overlay_suite)
