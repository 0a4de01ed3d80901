/* overlay-cache.c — rendered overlays by node name (see overlay-cache.h). */
#include "overlay-cache.h"

#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdbool.h>

#include "util.h"

#define ETAG_HASH_BYTES 16 /* crypto_generichash_BYTES_MIN */

typedef struct CacheEntry {
        char *name;        /* owned */
        uint64_t hash;     /* of name */
        OverlayBlob *blob; /* the cache's reference, or NULL (first render running) */
        size_t cost;       /* what it counts for against the cap (with blob; 0 without) */
        bool rendering;    /* a thread renders this node's overlay now, without the lock */
        bool discard;      /* invalidated/pruned while rendering: do not store the result */
        struct CacheEntry *next;              /* bucket chain */
        struct CacheEntry *lru_prev, *lru_next; /* lru list, most recent first */
} CacheEntry;

struct OverlayCache {
        pthread_mutex_t lock; /* leaf: guards everything below */
        pthread_cond_t rendered; /* some entry's render ended */
        OverlayCredentialFn issue;
        void *userdata;
        size_t max_bytes, bytes;
        CacheEntry **buckets; /* n_buckets (a power of two) chains */
        size_t n_buckets, n_entries;
        CacheEntry lru; /* sentinel: lru.lru_next is the most recently used */
        OverlayCacheStats stats;
};

static uint64_t name_hash(const char *s) {
        uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */
        for (; *s; s++)
                h = (h ^ (unsigned char) *s) * 0x100000001b3ULL;
        return h;
}

static void hash_str(crypto_generichash_state *st, const char *s) {
        uint64_t n = s ? strlen(s) : UINT64_MAX;
        crypto_generichash_update(st, (const unsigned char *) &n, sizeof n);
        if (s)
                crypto_generichash_update(st, (const unsigned char *) s, strlen(s));
}

static void hash_u64(crypto_generichash_state *st, uint64_t v) {
        crypto_generichash_update(st, (const unsigned char *) &v, sizeof v);
}

uint64_t overlay_inputs_key(const Node *n, const char *url) {
        crypto_generichash_state st;
        unsigned char out[crypto_generichash_BYTES_MIN];
        crypto_generichash_init(&st, NULL, 0, sizeof out);
        hash_str(&st, "provd overlay inputs 1");
        hash_str(&st, n->name);
        hash_str(&st, url);
        hash_u64(&st, n->n_overlay_files);
        for (size_t i = 0; i < n->n_overlay_files; i++) {
                const InventoryOverlayFile *f = &n->overlay_files[i];
                hash_str(&st, f->path);
                hash_str(&st, f->source);
                hash_u64(&st, f->mode);
                hash_u64(&st, f->uid);
                hash_u64(&st, f->gid);
        }
        crypto_generichash_final(&st, out, sizeof out);
        uint64_t key;
        memcpy(&key, out, sizeof key);
        return key;
}

OverlayBlob *overlay_blob_ref(OverlayBlob *b) {
        atomic_fetch_add_explicit(&b->n_ref, 1, memory_order_relaxed);
        return b;
}

void overlay_blob_unref(OverlayBlob *b) {
        if (!b || atomic_fetch_sub_explicit(&b->n_ref, 1, memory_order_acq_rel) != 1)
                return;
        sodium_memzero((void *) b->data, b->len);
        free((void *) b->data);
        free(b->sources);
        free(b);
}

void overlay_blob_unref_cb(void *blob) {
        overlay_blob_unref(blob);
}

int overlay_cache_new(size_t max_bytes, OverlayCredentialFn issue, void *userdata, OverlayCache **ret) {
        OverlayCache *c = calloc(1, sizeof *c);
        if (!c)
                return -ENOMEM;
        c->n_buckets = 64;
        c->buckets = calloc(c->n_buckets, sizeof *c->buckets);
        if (!c->buckets) {
                free(c);
                return -ENOMEM;
        }
        pthread_mutex_init(&c->lock, NULL);
        pthread_cond_init(&c->rendered, NULL);
        c->issue = issue;
        c->userdata = userdata;
        c->max_bytes = max_bytes ? max_bytes : OVERLAY_CACHE_DEFAULT_MAX;
        c->lru.lru_next = c->lru.lru_prev = &c->lru;
        *ret = c;
        return 0;
}

static void lru_unlink(CacheEntry *e) {
        e->lru_prev->lru_next = e->lru_next;
        e->lru_next->lru_prev = e->lru_prev;
}

static void lru_push_front_locked(OverlayCache *c, CacheEntry *e) {
        e->lru_next = c->lru.lru_next;
        e->lru_prev = &c->lru;
        c->lru.lru_next->lru_prev = e;
        c->lru.lru_next = e;
}

static CacheEntry *find_locked(OverlayCache *c, const char *name, uint64_t h) {
        for (CacheEntry *e = c->buckets[h & (c->n_buckets - 1)]; e; e = e->next)
                if (e->hash == h && streq(e->name, name))
                        return e;
        return NULL;
}

/* Doubles the bucket array when the table is fuller than one entry per bucket; a failed
 * allocation leaves the table as it is (longer chains, still correct). */
static void grow_locked(OverlayCache *c) {
        if (c->n_entries <= c->n_buckets)
                return;
        size_t n = c->n_buckets * 2;
        CacheEntry **b = calloc(n, sizeof *b);
        if (!b)
                return;
        for (size_t i = 0; i < c->n_buckets; i++)
                for (CacheEntry *e = c->buckets[i], *next; e; e = next) {
                        next = e->next;
                        e->next = b[e->hash & (n - 1)];
                        b[e->hash & (n - 1)] = e;
                }
        free(c->buckets);
        c->buckets = b;
        c->n_buckets = n;
}

/* Unlinks e from the table and LRU list and frees it (its blob reference too). */
static void entry_drop_locked(OverlayCache *c, CacheEntry *e) {
        CacheEntry **p = &c->buckets[e->hash & (c->n_buckets - 1)];
        while (*p != e)
                p = &(*p)->next;
        *p = e->next;
        lru_unlink(e);
        c->n_entries--;
        c->bytes -= e->cost;
        overlay_blob_unref(e->blob);
        free(e->name);
        free(e);
}

/* Drops e now, or, if a thread renders it, tells that thread not to store the result. */
static void entry_discard_locked(OverlayCache *c, CacheEntry *e) {
        if (e->rendering)
                e->discard = true;
        else
                entry_drop_locked(c, e);
}

static size_t blob_cost(const OverlayBlob *b, const char *name) {
        return b->len + sizeof *b + b->n_sources * sizeof *b->sources + sizeof(CacheEntry) + strlen(name) + 1;
}

/* Evicts least recently used entries (not `keep`, none rendering) while over the cap. */
static void evict_locked(OverlayCache *c, const CacheEntry *keep) {
        for (CacheEntry *e = c->lru.lru_prev; c->bytes > c->max_bytes && e != &c->lru;) {
                CacheEntry *prev = e->lru_prev;
                if (e != keep && !e->rendering) {
                        entry_drop_locked(c, e);
                        c->stats.evictions++;
                }
                e = prev;
        }
}

/* True if b was rendered from n's current inputs and sources: same key, every source
 * stat(2)s the same.  Takes no lock (stat(2) only). */
static bool blob_valid(const OverlayBlob *b, const Node *n, uint64_t key) {
        if (b->inputs_key != key || b->n_sources != n->n_overlay_files)
                return false;
        for (size_t i = 0; i < b->n_sources; i++) {
                OverlaySourceStat st;
                if (overlay_source_stat(n->overlay_files[i].source, &st) < 0 ||
                    !overlay_source_stat_equal(&st, &b->sources[i]))
                        return false;
        }
        return true;
}

static void secret_wipe(char (*buf)[OVERLAY_CREDENTIAL_MAX]) {
        sodium_memzero(*buf, sizeof *buf);
}

/* Renders n's overlay with a new credential into a new blob (one reference, the caller's).
 * No lock held. */
static int render(OverlayCache *c, const Node *n, const char *url, uint64_t key, OverlayBlob **ret, char *err,
                  size_t errlen) {
        int64_t now = now_ms();
        OverlaySpec spec = {
                .node = n->name,
                .url = url,
                .files = n->overlay_files,
                .n_files = n->n_overlay_files,
                .mtime = now / 1000,
        };
        _cleanup_(overlay_sources_freep) OverlaySources *src = NULL;
        int r = overlay_sources_read(&spec, &src, err, errlen);
        if (r < 0)
                return r;

        /* Every source read: only now is the node's old credential replaced. */
        _cleanup_(secret_wipe) char cred[OVERLAY_CREDENTIAL_MAX] = "";
        r = c->issue(c->userdata, n->name, cred, sizeof cred);
        if (r < 0)
                return errbuf_fail(r, err, errlen, "node %s: cannot issue a node credential: %s", n->name,
                                   strerror(-r));
        if (!memchr(cred, '\0', sizeof cred))
                return errbuf_fail(-EINVAL, err, errlen, "node %s: the node credential is too long", n->name);
        spec.credential = cred;

        size_t n_src;
        const OverlaySourceStat *st = overlay_sources_stats(src, &n_src);
        OverlayBlob *b = calloc(1, sizeof *b);
        if (!b)
                return errbuf_fail(-ENOMEM, err, errlen, "node %s: out of memory", n->name);
        if (n_src > 0) {
                b->sources = malloc(n_src * sizeof *b->sources);
                if (!b->sources) {
                        free(b);
                        return errbuf_fail(-ENOMEM, err, errlen, "node %s: out of memory", n->name);
                }
                memcpy(b->sources, st, n_src * sizeof *st);
        }
        b->n_sources = n_src;
        uint8_t *data;
        size_t len;
        r = overlay_render_sources(&spec, src, &data, &len, err, errlen);
        if (r < 0) {
                free(b->sources);
                free(b);
                return r;
        }
        b->data = data;
        b->len = len;
        b->rendered_at = now;
        b->inputs_key = key;
        atomic_init(&b->n_ref, 1);
        unsigned char h[ETAG_HASH_BYTES];
        crypto_generichash(h, sizeof h, data, len, NULL, 0);
        b->etag[0] = '"';
        sodium_bin2hex(b->etag + 1, sizeof b->etag - 2, h, sizeof h);
        b->etag[1 + 2 * sizeof h] = '"';
        b->etag[2 + 2 * sizeof h] = '\0';
        *ret = b;
        return 0;
}

int overlay_cache_get(OverlayCache *c, const Node *n, const char *url, OverlayBlob **ret, char *err, size_t errlen) {
        if (n->mode != NODE_MODE_STATELESS)
                return errbuf_fail(-EINVAL, err, errlen, "node %s is not a stateless node: it has no overlay", n->name);
        uint64_t key = overlay_inputs_key(n, url);
        uint64_t h = name_hash(n->name);
        CacheEntry *e;

        pthread_mutex_lock(&c->lock);
        bool waited = false;
        for (;;) {
                e = find_locked(c, n->name, h);
                if (!e) {
                        e = calloc(1, sizeof *e);
                        if (e)
                                e->name = strdup(n->name);
                        if (!e || !e->name) {
                                free(e);
                                pthread_mutex_unlock(&c->lock);
                                return errbuf_fail(-ENOMEM, err, errlen, "node %s: out of memory", n->name);
                        }
                        e->hash = h;
                        e->next = c->buckets[h & (c->n_buckets - 1)];
                        c->buckets[h & (c->n_buckets - 1)] = e;
                        lru_push_front_locked(c, e);
                        c->n_entries++;
                        grow_locked(c);
                        break;
                }
                if (e->rendering) {
                        waited = true;
                        pthread_cond_wait(&c->rendered, &c->lock);
                        continue; /* e may be gone: look again */
                }
                /* Every entry not rendering has a blob (a failed render drops its entry). */
                lru_unlink(e);
                lru_push_front_locked(c, e);
                OverlayBlob *b = overlay_blob_ref(e->blob);
                pthread_mutex_unlock(&c->lock);
                if (blob_valid(b, n, key)) {
                        pthread_mutex_lock(&c->lock);
                        c->stats.hits++;
                        c->stats.waits += waited;
                        pthread_mutex_unlock(&c->lock);
                        *ret = b;
                        return 0;
                }
                pthread_mutex_lock(&c->lock);
                e = find_locked(c, n->name, h);
                bool same = e && !e->rendering && e->blob == b; /* compared while b is held */
                overlay_blob_unref(b);
                if (same)
                        break; /* stale: render it again */
                /* replaced or dropped meanwhile: look again */
        }
        e->rendering = true;
        e->discard = false;
        c->stats.misses++;
        c->stats.waits += waited;
        pthread_mutex_unlock(&c->lock);

        OverlayBlob *nb = NULL;
        int r = render(c, n, url, key, &nb, err, errlen);

        pthread_mutex_lock(&c->lock);
        e->rendering = false;
        if (r < 0) {
                c->stats.failures++;
                entry_drop_locked(c, e);
        } else if (e->discard) {
                entry_drop_locked(c, e);
        } else {
                size_t cost = blob_cost(nb, e->name);
                if (cost > c->max_bytes)
                        entry_drop_locked(c, e); /* handed out, not kept */
                else {
                        OverlayBlob *old = e->blob;
                        c->bytes -= e->cost;
                        e->blob = overlay_blob_ref(nb);
                        e->cost = cost;
                        c->bytes += cost;
                        lru_unlink(e);
                        lru_push_front_locked(c, e);
                        evict_locked(c, e);
                        overlay_blob_unref(old);
                }
        }
        pthread_cond_broadcast(&c->rendered);
        pthread_mutex_unlock(&c->lock);
        if (r < 0)
                return r;
        *ret = nb;
        return 0;
}

void overlay_cache_invalidate(OverlayCache *c, const char *name) {
        pthread_mutex_lock(&c->lock);
        CacheEntry *e = find_locked(c, name, name_hash(name));
        if (e)
                entry_discard_locked(c, e);
        pthread_mutex_unlock(&c->lock);
}

void overlay_cache_prune(OverlayCache *c, const Inventory *inv) {
        pthread_mutex_lock(&c->lock);
        for (size_t i = 0; i < c->n_buckets; i++)
                for (CacheEntry *e = c->buckets[i], *next; e; e = next) {
                        next = e->next;
                        const Node *n = inventory_find_name(inv, e->name);
                        if (!n || n->mode != NODE_MODE_STATELESS)
                                entry_discard_locked(c, e);
                }
        pthread_mutex_unlock(&c->lock);
}

void overlay_cache_stats(OverlayCache *c, OverlayCacheStats *ret) {
        pthread_mutex_lock(&c->lock);
        *ret = c->stats;
        ret->entries = c->n_entries;
        ret->bytes = c->bytes;
        pthread_mutex_unlock(&c->lock);
}

void overlay_cache_free(OverlayCache *c) {
        if (!c)
                return;
        for (size_t i = 0; i < c->n_buckets; i++)
                for (CacheEntry *e = c->buckets[i], *next; e; e = next) {
                        next = e->next;
                        overlay_blob_unref(e->blob);
                        free(e->name);
                        free(e);
                }
        free(c->buckets);
        pthread_cond_destroy(&c->rendered);
        pthread_mutex_destroy(&c->lock);
        free(c);
}
