/* overlay-cache.h — the rendered overlays of stateless nodes (overlay.h), kept until the
 * node's inputs or one of its overlay files change.
 *
 * What it owns: one entry per node name that was asked for, each holding its newest overlay
 * as an OverlayBlob: an immutable, reference-counted {archive bytes, ETag, render time} that
 * an HTTP response keeps (its own reference) while the cache replaces or evicts it.
 *
 * When an entry is valid: while (a) the node's inputs key (overlay_inputs_key(): name, public
 * URL, every overlay file's path, source, mode and owner) is the one it was rendered with,
 * and (b) every overlay file's source stat(2)s as it did when it was read (device, inode,
 * size, mtime and ctime in nanoseconds).  Checked on every get (one stat(2) per overlay
 * file, no lock held); nothing watches files in between.  The kernel stamps file times from
 * a clock that advances once per tick (a few ms), so a rewrite in place that keeps the size
 * within the tick of the read is not seen; writing a new file and renaming it over the
 * source (what secret tools do) changes the inode and always is.
 *
 * A miss renders: read the sources (overlay_sources_read()), and only when all of them could
 * be read, call the credential function once for a fresh node credential (it replaces the
 * node's old one), then render.  So the credential in a cached overlay stays the node's while
 * the overlay is cached, and a source that cannot be read never costs the node its current
 * credential.  A failed miss drops the node's entry (a stale overlay is never served after).
 *
 * One render per node at a time: a miss marks the node's entry "rendering" and renders
 * without the lock; a get for that node meanwhile waits on the cache's condition variable
 * and then takes the new overlay (or, when the render failed, tries itself).  Two concurrent
 * gets of one node therefore issue one credential, and every caller is answered with the
 * overlay that holds it.  An entry invalidated or pruned while rendering is not stored when
 * the render ends (the renderer's caller still gets its overlay).
 *
 * Memory: entries cost their archive's bytes plus bookkeeping; past the byte cap (default
 * OVERLAY_CACHE_DEFAULT_MAX) the least recently used entries are dropped (an overlay alone
 * larger than the cap is handed out, not kept).  A dropped node's next get is a miss, so it
 * gets a new credential: overlays are fetched during a boot, so this only matters to a node
 * that fetches its overlay twice in one boot across an eviction (the second overlay holds
 * the credential that counts).
 *
 * Threads and locks: any thread.  The cache's mutex is a leaf: held only for table, LRU and
 * counter updates, never while calling the credential function, reading sources or
 * rendering.  A caller of overlay_cache_get() must hold no lock the credential function
 * takes (in provd: not the daemon's lock) — it may wait for another thread's render, which
 * calls the credential function.  The Node passed in is borrowed for the call only (keep its
 * inventory alive meanwhile, e.g. an inventory hold).
 *
 * Usage (the overlay route):
 *
 *     static int issue(void *userdata, const char *node, char *buf, size_t buflen) {
 *             return <issue and store a new credential of `node`, NUL-terminated, in buf>;
 *     }
 *     overlay_cache_new(0, issue, daemon, &cache);                  // start-up
 *
 *     OverlayBlob *b;                                               // GET /v1/overlay/{token}
 *     r = overlay_cache_get(cache, node, public_url, &b, err, sizeof err);
 *     if (r < 0)
 *             return <answer r with err>;
 *     if (<If-None-Match lists b->etag>) { overlay_blob_unref(b); return <304>; }
 *     resp = MHD_create_response_from_buffer_with_free_callback_cls(b->len, (void *) b->data,
 *                                                                   overlay_blob_unref_cb, b);
 *     MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, b->etag);
 *
 *     overlay_cache_prune(cache, new_inventory);                    // after a reload
 *     overlay_cache_invalidate(cache, name);                        // credential revoked
 *     overlay_cache_free(cache);                                    // shutdown
 */
#pragma once

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "inventory.h"
#include "overlay.h"

#define OVERLAY_CACHE_DEFAULT_MAX ((size_t) 64 * 1024 * 1024) /* bytes */
#define OVERLAY_ETAG_MAX 35          /* '"' + 32 hex digits + '"' + NUL */
#define OVERLAY_CREDENTIAL_MAX 256   /* the credential function's buffer, bytes */

/* A rendered overlay.  Immutable once handed out; freed by its last overlay_blob_unref(). */
typedef struct OverlayBlob {
        const uint8_t *data; /* the cpio archive, len bytes */
        size_t len;
        char etag[OVERLAY_ETAG_MAX]; /* quoted lowercase hex of a 16-byte BLAKE2b
                                      * (crypto_generichash) of the bytes: an HTTP strong
                                      * entity tag (RFC 9110 §8.8.3) */
        int64_t rendered_at; /* ms since the epoch; the entries' mtime is its second */
        /* private to overlay-cache.c */
        atomic_uint n_ref;
        uint64_t inputs_key;
        OverlaySourceStat *sources; /* n_sources, owned: the stats of the files read, in the
                                     * node's overlay file order */
        size_t n_sources;
} OverlayBlob;

/* Issues a fresh node credential for `node` (replacing its previous one) and writes it,
 * NUL-terminated, into buf (buflen = OVERLAY_CREDENTIAL_MAX bytes).  Returns >= 0, or a
 * negative errno (the cache's get fails with it). */
typedef int (*OverlayCredentialFn)(void *userdata, const char *node, char *buf, size_t buflen);

typedef struct OverlayCache OverlayCache;

typedef struct OverlayCacheStats {
        uint64_t hits;      /* gets answered from the cache */
        uint64_t misses;    /* gets that rendered (or tried to) */
        uint64_t waits;     /* gets that waited for another thread's render of the node */
        uint64_t failures;  /* misses that failed (sources, credential, render) */
        uint64_t evictions; /* entries dropped for the byte cap */
        size_t entries;     /* nodes cached now */
        size_t bytes;       /* bytes they count for against the cap */
} OverlayCacheStats;

/* A 64-bit key of everything a node's overlay is rendered from but its sources' bytes and
 * the credential: node name, `url`, each overlay file's path, source, mode, uid and gid, in
 * order (BLAKE2b, crypto_generichash, of the length-delimited fields).  Pure. */
uint64_t overlay_inputs_key(const Node *n, const char *url);

/* Creates a cache of at most `max_bytes` (0: OVERLAY_CACHE_DEFAULT_MAX) that calls
 * `issue(userdata, ...)` on every miss.  Stores it in *ret (caller owns; overlay_cache_free())
 * and returns 0, or -ENOMEM. */
int overlay_cache_new(size_t max_bytes, OverlayCredentialFn issue, void *userdata, OverlayCache **ret);

/* Frees the cache and its references to blobs (a blob an HTTP response still holds lives on
 * until its unref).  No get may be running.  NULL is fine. */
void overlay_cache_free(OverlayCache *c);
static inline void overlay_cache_freep(OverlayCache **c) {
        overlay_cache_free(*c);
}

/* The overlay of stateless node `n` with provd's public URL `url`: the cached one if still
 * valid (see above), else a new one (one credential issued, see above).  On success stores a
 * new reference in *ret (caller unrefs: overlay_blob_unref()) and returns 0.  Errors:
 * -EINVAL `n` is not a stateless node; overlay_render()'s errors (a source missing, not a
 * regular file, too large...), with its message naming node, path and source; the credential
 * function's errno ("node X: cannot issue a node credential"); -ENOMEM. */
int overlay_cache_get(OverlayCache *c, const Node *n, const char *url, OverlayBlob **ret, char *err, size_t errlen);

/* Drops node `name`'s entry, e.g. when its credential is revoked: its next get renders with
 * a new credential.  A render running for it is not stored.  Unknown names are fine. */
void overlay_cache_invalidate(OverlayCache *c, const char *name);

/* Drops the entries of nodes that are not stateless nodes of `inv` (gone, or install nodes
 * now), e.g. after a reload.  Entries whose inputs changed are left for their next get. */
void overlay_cache_prune(OverlayCache *c, const Inventory *inv);

/* Counters and sizes, a consistent snapshot. */
void overlay_cache_stats(OverlayCache *c, OverlayCacheStats *ret);

/* Takes another reference to b; returns b. */
OverlayBlob *overlay_blob_ref(OverlayBlob *b);

/* Lets go of one reference; the last frees the blob (wiping its bytes: they hold the node
 * credential).  NULL is fine.  Any thread, no lock. */
void overlay_blob_unref(OverlayBlob *b);
static inline void overlay_blob_unrefp(OverlayBlob **b) {
        overlay_blob_unref(*b);
}

/* overlay_blob_unref() as libmicrohttpd's MHD_ContentReaderFreeCallback (libmicrohttpd
 * manual, MHD_create_response_from_buffer_with_free_callback_cls). */
void overlay_blob_unref_cb(void *blob);
