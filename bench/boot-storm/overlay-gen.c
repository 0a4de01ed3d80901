/* overlay-gen — overlay generation for many stateless nodes through provd's overlay cache
 * (daemon/overlay-cache.c, daemon/overlay.c): a cold pass (every node a miss: read its
 * files, issue a credential, render the cpio archive) and warm passes (every node a hit:
 * check its inputs key and stat(2) its files).  See bench/README.md.
 *
 *   overlay-gen [--nodes N] [--files F] [--threads T] [--warm-passes W] --dir DIR
 *
 * Writes F small per-node files (SSH host key stand-ins, 411 and 97 bytes, then 64-byte
 * ones) for each of N nodes under DIR/<node>/, then runs the passes with T threads, each
 * thread taking every T-th node.  The credential function makes a random credential like
 * provd's ("pvn_" + 43 base64url characters) and stores nothing: the figures are the
 * overlay's cost, not the store's.  Prints one line per pass:
 *   pass nodes threads total_ms us_per_overlay bytes_per_overlay rss_kib user_ms sys_ms
 * (user_ms and sys_ms: the process's CPU time during the pass, getrusage(2)).
 * Never asserts on time. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "overlay-cache.h"
#include "util.h"

typedef struct Bench {
        OverlayCache *cache;
        Node *nodes;
        size_t n_nodes, n_threads;
        atomic_size_t bytes, failures;
} Bench;

typedef struct Worker {
        Bench *b;
        size_t first;
} Worker;

static int issue(void *userdata, const char *node, char *buf, size_t buflen) {
        unsigned char raw[32];
        randombytes_buf(raw, sizeof raw);
        if (buflen < 4 + sodium_base64_ENCODED_LEN(sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING))
                return -ENOBUFS;
        memcpy(buf, "pvn_", 4);
        sodium_bin2base64(buf + 4, buflen - 4, raw, sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
        return 0;
}

static void *work(void *arg) {
        Worker *w = arg;
        Bench *b = w->b;
        char err[ERRBUF_MAX];
        for (size_t i = w->first; i < b->n_nodes; i += b->n_threads) {
                OverlayBlob *blob;
                if (overlay_cache_get(b->cache, &b->nodes[i], "http://10.0.0.1:8080", &blob, err, sizeof err) < 0) {
                        if (atomic_fetch_add(&b->failures, 1) == 0)
                                fprintf(stderr, "overlay-gen: %s\n", err);
                        continue;
                }
                atomic_fetch_add(&b->bytes, blob->len);
                overlay_blob_unref(blob);
        }
        return NULL;
}

static long rss_kib(void) {
        FILE *f = fopen("/proc/self/status", "r");
        char line[256];
        long kib = -1;
        while (f && fgets(line, sizeof line, f))
                if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
                        break;
        if (f)
                fclose(f);
        return kib;
}

static double now_s(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static double cpu_ms(const struct timeval *tv) {
        return (double) tv->tv_sec * 1e3 + (double) tv->tv_usec / 1e3;
}

static int pass(Bench *b, const char *name) {
        struct rusage ru0, ru1;
        getrusage(RUSAGE_SELF, &ru0);
        pthread_t t[64];
        Worker w[64];
        atomic_store(&b->bytes, 0);
        atomic_store(&b->failures, 0);
        double t0 = now_s();
        for (size_t i = 0; i < b->n_threads; i++) {
                w[i] = (Worker){ b, i };
                if (pthread_create(&t[i], NULL, work, &w[i]) != 0) {
                        fprintf(stderr, "overlay-gen: pthread_create failed\n");
                        exit(1);
                }
        }
        for (size_t i = 0; i < b->n_threads; i++)
                pthread_join(t[i], NULL);
        double s = now_s() - t0;
        getrusage(RUSAGE_SELF, &ru1);
        if (b->failures)
                fprintf(stderr, "overlay-gen: %zu gets failed\n", (size_t) b->failures);
        printf("%-5s %6zu %2zu %9.1f %9.2f %7zu %8ld %8.1f %8.1f\n", name, b->n_nodes, b->n_threads, s * 1e3,
               s * 1e6 / (double) b->n_nodes, (size_t) b->bytes / b->n_nodes, rss_kib(),
               cpu_ms(&ru1.ru_utime) - cpu_ms(&ru0.ru_utime), cpu_ms(&ru1.ru_stime) - cpu_ms(&ru0.ru_stime));
        fflush(stdout);
        return b->failures ? -EIO : 0;
}

static void write_file(const char *path, size_t len) {
        static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        char buf[1024];
        unsigned char raw[1024];
        randombytes_buf(raw, sizeof raw);
        for (size_t i = 0; i < len && i < sizeof buf; i++)
                buf[i] = (i + 1) % 70 == 0 ? '\n' : alphabet[raw[i] % 64];
        FILE *f = fopen(path, "w");
        if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
                fprintf(stderr, "overlay-gen: cannot write %s: %s\n", path, strerror(errno));
                exit(1);
        }
}

int main(int argc, char **argv) {
        size_t n_nodes = 10000, n_files = 2, n_threads = 1, warm_passes = 3;
        const char *dir = NULL;
        static const struct option opts[] = {
                { "nodes", required_argument, NULL, 'n' },   { "files", required_argument, NULL, 'f' },
                { "threads", required_argument, NULL, 't' }, { "warm-passes", required_argument, NULL, 'w' },
                { "dir", required_argument, NULL, 'd' },     {},
        };
        int c;
        while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
                switch (c) {
                case 'n': n_nodes = strtoul(optarg, NULL, 10); break;
                case 'f': n_files = strtoul(optarg, NULL, 10); break;
                case 't': n_threads = strtoul(optarg, NULL, 10); break;
                case 'w': warm_passes = strtoul(optarg, NULL, 10); break;
                case 'd': dir = optarg; break;
                default: return 2;
                }
        }
        if (!dir || n_nodes == 0 || n_threads == 0 || n_threads > 64 || n_files > INVENTORY_MAX_OVERLAY_FILES) {
                fprintf(stderr, "usage: overlay-gen --dir DIR [--nodes N] [--files F (<= 64)] [--threads T (1-64)] "
                                "[--warm-passes W]\n");
                return 2;
        }
        if (sodium_init() < 0)
                return 1;

        /* The inventory's nodes, built directly (what inventory_parse() would give). */
        Node *nodes = calloc(n_nodes, sizeof *nodes);
        InventoryOverlayFile *files = calloc(n_nodes * (n_files ? n_files : 1), sizeof *files);
        if (!nodes || !files)
                return 1;
        static const char *const names[] = { "ssh_host_ed25519_key", "ssh_host_ed25519_key.pub" };
        static const size_t sizes[] = { 411, 97 };
        char path[4096];
        for (size_t i = 0; i < n_nodes; i++) {
                Node *n = &nodes[i];
                if (asprintf(&n->name, "c%05zu", i + 1) < 0)
                        return 1;
                n->mode = NODE_MODE_STATELESS;
                n->overlay_files = &files[i * n_files];
                n->n_overlay_files = n_files;
                snprintf(path, sizeof path, "%s/%s", dir, n->name);
                if (mkdir(path, 0700) < 0 && errno != EEXIST) {
                        fprintf(stderr, "overlay-gen: mkdir %s: %s\n", path, strerror(errno));
                        return 1;
                }
                for (size_t j = 0; j < n_files; j++) {
                        InventoryOverlayFile *f = &n->overlay_files[j];
                        char name[64];
                        if (j < 2)
                                snprintf(name, sizeof name, "%s", names[j]);
                        else
                                snprintf(name, sizeof name, "file%zu", j);
                        if (asprintf(&f->source, "%s/%s/%s", dir, n->name, name) < 0 ||
                            asprintf(&f->path, "/etc/ssh/%s", name) < 0)
                                return 1;
                        f->mode = j == 1 ? 0644 : 0600;
                        write_file(f->source, j < 2 ? sizes[j] : 64);
                }
        }

        Bench b = { .nodes = nodes, .n_nodes = n_nodes, .n_threads = n_threads };
        if (overlay_cache_new(0, issue, NULL, &b.cache) < 0)
                return 1;
        printf("pass  %6s %2s %9s %9s %7s %8s %8s %8s\n", "nodes", "T", "total_ms", "us/ovl", "bytes", "rss_kib",
               "user_ms", "sys_ms");
        int r = pass(&b, "cold");
        for (size_t i = 0; i < warm_passes && r == 0; i++)
                r = pass(&b, "warm");
        OverlayCacheStats s;
        overlay_cache_stats(b.cache, &s);
        printf("cache: %zu entries, %zu bytes (%.1f MiB), %" PRIu64 " misses, %" PRIu64 " hits, %" PRIu64
               " evictions\n",
               s.entries, s.bytes, (double) s.bytes / (1 << 20), s.misses, s.hits, s.evictions);

        overlay_cache_free(b.cache);
        for (size_t i = 0; i < n_nodes; i++) {
                for (size_t j = 0; j < n_files; j++) {
                        free(nodes[i].overlay_files[j].source);
                        free(nodes[i].overlay_files[j].path);
                }
                free(nodes[i].name);
        }
        free(files);
        free(nodes);
        return r < 0 ? 1 : 0;
}
