/* overlay.c — a stateless node's overlay as a cpio newc archive (see overlay.h). */
#include "overlay.h"

#include <archive.h>
#include <archive_entry.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

#define OVERLAY_DIR_MODE 0755

struct OverlaySources {
        size_t n;
        uint8_t **data; /* n entries, each owned (NULL for an empty file) */
        size_t *len;
        OverlaySourceStat *stats;
};

/* One file entry of the archive. */
typedef struct OverlayEntry {
        const char *name; /* relative ("etc/hostname"); borrowed */
        const uint8_t *data; /* borrowed */
        size_t len;
        uint32_t mode, uid, gid;
        const char *source; /* for messages: the inventory file's source, or NULL */
} OverlayEntry;

static void stat_from(const struct stat *st, OverlaySourceStat *ret) {
        *ret = (OverlaySourceStat){
                .dev = (uint64_t) st->st_dev,
                .ino = (uint64_t) st->st_ino,
                .size = (int64_t) st->st_size,
                .mtime_ns = (int64_t) st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec,
                .ctime_ns = (int64_t) st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec,
        };
}

int overlay_source_stat(const char *path, OverlaySourceStat *ret) {
        struct stat st;
        if (stat(path, &st) < 0)
                return -errno;
        stat_from(&st, ret);
        return 0;
}

bool overlay_source_stat_equal(const OverlaySourceStat *a, const OverlaySourceStat *b) {
        return a->dev == b->dev && a->ino == b->ino && a->size == b->size && a->mtime_ns == b->mtime_ns &&
               a->ctime_ns == b->ctime_ns;
}

void overlay_sources_free(OverlaySources *src) {
        if (!src)
                return;
        for (size_t i = 0; i < src->n; i++) {
                if (src->data[i]) {
                        sodium_memzero(src->data[i], src->len[i]);
                        free(src->data[i]);
                }
        }
        free(src->data);
        free(src->len);
        free(src->stats);
        free(src);
}

const OverlaySourceStat *overlay_sources_stats(const OverlaySources *src, size_t *ret_n) {
        *ret_n = src->n;
        return src->stats;
}

static int too_big(const char *node, const InventoryOverlayFile *f, char *err, size_t errlen) {
        return errbuf_fail(-EFBIG, err, errlen, "node %s: overlay file %s: source %s is larger than %d bytes", node,
                           f->path, f->source, OVERLAY_FILE_MAX);
}

/* Reads one source: stat first (a FIFO or device is never opened), then open, fstat (the
 * file read is a regular file of at most OVERLAY_FILE_MAX bytes), then read it all. */
static int source_read(const char *node, const InventoryOverlayFile *f, uint8_t **ret_data, size_t *ret_len,
                       OverlaySourceStat *ret_stat, char *err, size_t errlen) {
        struct stat st;
        if (stat(f->source, &st) < 0) {
                int r = -errno;
                return errbuf_fail(r, err, errlen, "node %s: overlay file %s: source %s: %s", node, f->path, f->source,
                                   strerror(-r));
        }
        if (!S_ISREG(st.st_mode))
                return errbuf_fail(-EISDIR, err, errlen, "node %s: overlay file %s: source %s is not a regular file",
                                   node, f->path, f->source);
        if (st.st_size > OVERLAY_FILE_MAX)
                return too_big(node, f, err, errlen);

        _cleanup_close_ int fd = open(f->source, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0) {
                int r = -errno;
                return errbuf_fail(r, err, errlen, "node %s: overlay file %s: source %s: %s", node, f->path, f->source,
                                   strerror(-r));
        }
        if (fstat(fd, &st) < 0) {
                int r = -errno;
                return errbuf_fail(r, err, errlen, "node %s: overlay file %s: source %s: %s", node, f->path, f->source,
                                   strerror(-r));
        }
        if (!S_ISREG(st.st_mode))
                return errbuf_fail(-EISDIR, err, errlen, "node %s: overlay file %s: source %s is not a regular file",
                                   node, f->path, f->source);
        if (st.st_size > OVERLAY_FILE_MAX)
                return too_big(node, f, err, errlen);

        /* Read until EOF, one byte past the cap at most: the file may have grown since fstat. */
        size_t cap = (size_t) st.st_size + 1, len = 0;
        _cleanup_free_ uint8_t *buf = malloc(cap);
        if (!buf)
                return errbuf_fail(-ENOMEM, err, errlen, "node %s: overlay file %s: out of memory", node, f->path);
        for (;;) {
                if (len == cap) {
                        if (cap > OVERLAY_FILE_MAX) {
                                sodium_memzero(buf, len);
                                return too_big(node, f, err, errlen);
                        }
                        size_t ncap = cap * 2 > (size_t) OVERLAY_FILE_MAX + 1 ? (size_t) OVERLAY_FILE_MAX + 1 : cap * 2;
                        uint8_t *nbuf = realloc(buf, ncap);
                        if (!nbuf)
                                return errbuf_fail(-ENOMEM, err, errlen, "node %s: overlay file %s: out of memory",
                                                   node, f->path);
                        buf = nbuf;
                        cap = ncap;
                }
                ssize_t n = read(fd, buf + len, cap - len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        int r = -errno;
                        sodium_memzero(buf, len);
                        return errbuf_fail(r, err, errlen, "node %s: overlay file %s: source %s: %s", node, f->path,
                                           f->source, strerror(-r));
                }
                if (n == 0)
                        break;
                len += (size_t) n;
        }
        if (len > OVERLAY_FILE_MAX) {
                sodium_memzero(buf, len);
                return too_big(node, f, err, errlen);
        }
        stat_from(&st, ret_stat);
        *ret_len = len;
        *ret_data = TAKE_PTR(buf);
        return 0;
}

int overlay_sources_read(const OverlaySpec *spec, OverlaySources **ret, char *err, size_t errlen) {
        _cleanup_(overlay_sources_freep) OverlaySources *src = calloc(1, sizeof *src);
        if (!src)
                return errbuf_fail(-ENOMEM, err, errlen, "node %s: out of memory", spec->node);
        size_t n = spec->n_files;
        if (n > 0) {
                src->data = calloc(n, sizeof *src->data);
                src->len = calloc(n, sizeof *src->len);
                src->stats = calloc(n, sizeof *src->stats);
                if (!src->data || !src->len || !src->stats)
                        return errbuf_fail(-ENOMEM, err, errlen, "node %s: out of memory", spec->node);
        }
        size_t total = 0;
        for (size_t i = 0; i < n; i++) {
                int r = source_read(spec->node, &spec->files[i], &src->data[i], &src->len[i], &src->stats[i], err,
                                    errlen);
                src->n = i + (r >= 0);
                if (r < 0)
                        return r;
                total += src->len[i];
                if (total > OVERLAY_FILES_TOTAL_MAX)
                        return errbuf_fail(-EFBIG, err, errlen,
                                           "node %s: overlay files (up to %s, source %s) are larger than %d bytes "
                                           "together",
                                           spec->node, spec->files[i].path, spec->files[i].source,
                                           OVERLAY_FILES_TOTAL_MAX);
        }
        *ret = TAKE_PTR(src);
        return 0;
}

/* True if s has a byte below 0x20 or DEL. */
static bool has_control(const char *s) {
        for (; *s; s++)
                if ((unsigned char) *s < 0x20 || *s == 0x7f)
                        return true;
        return false;
}

/* An absolute, clean path without control characters: "/a/b", never "/", "//", "/./",
 * "/../", a trailing "/" or "." / ".." components. */
static bool path_ok(const char *p) {
        if (p[0] != '/' || p[1] == '\0' || has_control(p) || strlen(p) >= 4096)
                return false;
        for (const char *c = p; *c;) {
                /* c points at a '/' */
                const char *s = c + 1, *e = strchrnul(s, '/');
                size_t n = (size_t) (e - s);
                if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
                        return false;
                c = e;
        }
        return true;
}

static int strcmp_p(const void *a, const void *b) {
        return strcmp(*(const char *const *) a, *(const char *const *) b);
}

static bool in_sorted(const char **v, size_t n, const char *s) {
        return bsearch(&s, v, n, sizeof *v, strcmp_p) != NULL;
}

/* A growing memory buffer: libarchive's write callback target. */
typedef struct OutBuf {
        uint8_t *data;
        size_t len, cap;
} OutBuf;

static la_ssize_t out_write(struct archive *a, void *userdata, const void *buf, size_t len) {
        OutBuf *o = userdata;
        if (len > o->cap - o->len) {
                size_t ncap = o->cap ? o->cap : 4096;
                while (ncap - o->len < len)
                        ncap *= 2;
                uint8_t *n = realloc(o->data, ncap);
                if (!n) {
                        archive_set_error(a, ENOMEM, "out of memory");
                        return -1;
                }
                o->data = n;
                o->cap = ncap;
        }
        memcpy(o->data + o->len, buf, len);
        o->len += len;
        return (la_ssize_t) len;
}

static void archive_writep(struct archive **a) {
        if (*a)
                archive_write_free(*a);
}

static void archive_entryp(struct archive_entry **e) {
        if (*e)
                archive_entry_free(*e);
}

static void outbuf_wipe(OutBuf *o) {
        if (o->data) {
                sodium_memzero(o->data, o->len);
                free(o->data);
        }
}

static void names_free(const char ***v) {
        free(*v);
}

/* Frees a NUL-terminated secret, wiping it first. */
static void secret_freep(char **s) {
        if (*s) {
                sodium_memzero(*s, strlen(*s));
                free(*s);
        }
}

/* Writes one entry; a file's bytes follow its header. */
static int entry_write(struct archive *a, const char *node, const char *name, bool dir, uint32_t mode, uint32_t uid,
                       uint32_t gid, int64_t mtime, int64_t ino, const uint8_t *data, size_t len, char *err,
                       size_t errlen) {
        _cleanup_(archive_entryp) struct archive_entry *e = archive_entry_new();
        if (!e)
                return errbuf_fail(-ENOMEM, err, errlen, "node %s: out of memory", node);
        archive_entry_set_pathname(e, name);
        archive_entry_set_filetype(e, dir ? AE_IFDIR : AE_IFREG);
        archive_entry_set_perm(e, mode & 07777);
        archive_entry_set_uid(e, uid);
        archive_entry_set_gid(e, gid);
        archive_entry_set_mtime(e, mtime, 0);
        archive_entry_set_ino64(e, ino);
        archive_entry_set_nlink(e, dir ? 2 : 1);
        archive_entry_set_size(e, dir ? 0 : (la_int64_t) len);
        if (archive_write_header(a, e) != ARCHIVE_OK)
                goto fail;
        if (!dir && len > 0 && archive_write_data(a, data, len) != (la_ssize_t) len)
                goto fail;
        return 0;
fail:
        return errbuf_fail(archive_errno(a) == ENOMEM ? -ENOMEM : -EIO, err, errlen, "node %s: overlay entry %s: %s",
                           node, name, archive_error_string(a) ?: "libarchive failed");
}

int overlay_render_sources(const OverlaySpec *spec, const OverlaySources *src, uint8_t **ret_data, size_t *ret_len,
                           char *err, size_t errlen) {
        const char *node = spec->node;
        if (!node || !node[0] || strchr(node, '/') || has_control(node))
                return errbuf_fail(-EINVAL, err, errlen, "overlay: node name \"%s\" cannot be a hostname",
                                   node ?: "(null)");
        if (!spec->url || !spec->url[0] || has_control(spec->url))
                return errbuf_fail(-EINVAL, err, errlen, "node %s: overlay: the public URL is empty or has control "
                                                         "characters",
                                   node);
        if (spec->credential && (!spec->credential[0] || has_control(spec->credential)))
                return errbuf_fail(-EINVAL, err, errlen, "node %s: overlay: the node credential is empty or has control "
                                                         "characters",
                                   node);
        assert(src->n == spec->n_files);

        /* The file entries, in archive order but for the manifest, which lists them. */
        size_t n_fixed = spec->credential ? 4 : 3;
        size_t n_entries = n_fixed + spec->n_files + 1;
        _cleanup_free_ OverlayEntry *ent = calloc(n_entries, sizeof *ent);
        _cleanup_free_ char *hostname = NULL, *url = NULL, *manifest = NULL;
        _cleanup_(secret_freep) char *cred = NULL;
        if (!ent || asprintf(&hostname, "%s\n", node) < 0 || asprintf(&url, "%s\n", spec->url) < 0)
                return errbuf_fail(-ENOMEM, err, errlen, "node %s: out of memory", node);
        size_t cred_len = 0;
        if (spec->credential) {
                cred_len = strlen(spec->credential) + 1;
                cred = malloc(cred_len + 1);
                if (!cred)
                        return errbuf_fail(-ENOMEM, err, errlen, "node %s: out of memory", node);
                memcpy(cred, spec->credential, cred_len - 1);
                cred[cred_len - 1] = '\n';
                cred[cred_len] = '\0';
        }
        size_t k = 0;
        ent[k++] = (OverlayEntry){ "etc/hostname", (uint8_t *) hostname, strlen(hostname), 0644, 0, 0, NULL };
        ent[k++] = (OverlayEntry){ "var/lib/provd-node/node", (uint8_t *) hostname, strlen(hostname), 0644, 0, 0,
                                   NULL };
        ent[k++] = (OverlayEntry){ "var/lib/provd-node/url", (uint8_t *) url, strlen(url), 0644, 0, 0, NULL };
        if (cred)
                ent[k++] = (OverlayEntry){ "var/lib/provd-node/credential", (uint8_t *) cred, cred_len, 0600, 0,
                                           0, NULL };
        for (size_t i = 0; i < spec->n_files; i++) {
                const InventoryOverlayFile *f = &spec->files[i];
                if (!path_ok(f->path))
                        return errbuf_fail(-EINVAL, err, errlen,
                                           "node %s: overlay file %s (source %s): not an absolute, clean path", node,
                                           f->path, f->source);
                if (f->mode > 07777)
                        return errbuf_fail(-EINVAL, err, errlen,
                                           "node %s: overlay file %s (source %s): mode %o is more than 07777", node,
                                           f->path, f->source, (unsigned) f->mode);
                ent[k++] = (OverlayEntry){ f->path + 1, src->data[i], src->len[i], f->mode, f->uid, f->gid, f->source };
        }
        ent[k++] = (OverlayEntry){ "etc/provd/overlay.manifest", NULL, 0, 0644, 0, 0, NULL };
        assert(k == n_entries);

        /* No name twice, none another's directory, none under another's name.  provd's own
         * entries never collide with each other, so a collision is an inventory file's. */
        _cleanup_(names_free) const char **files = calloc(n_entries, sizeof *files);
        size_t n_dirs_max = 0, names_len = 0; /* every directory of every name, and their bytes */
        for (size_t i = 0; i < n_entries; i++)
                for (const char *c = ent[i].name; *c; c++)
                        if (*c == '/') {
                                n_dirs_max++;
                                names_len += (size_t) (c - ent[i].name) + 1;
                        }
        _cleanup_(names_free) const char **dirs = calloc(n_dirs_max + 1, sizeof *dirs);
        _cleanup_free_ char *dir_names = malloc(names_len + 1);
        if (!files || !dirs || !dir_names)
                return errbuf_fail(-ENOMEM, err, errlen, "node %s: out of memory", node);
        size_t n_dirs = 0;
        char *p = dir_names;
        for (size_t i = 0; i < n_entries; i++) {
                files[i] = ent[i].name;
                for (const char *c = strchr(ent[i].name, '/'); c; c = strchr(c + 1, '/')) {
                        size_t n = (size_t) (c - ent[i].name);
                        memcpy(p, ent[i].name, n);
                        p[n] = '\0';
                        dirs[n_dirs++] = p;
                        p += n + 1;
                }
        }
        qsort(files, n_entries, sizeof *files, strcmp_p);
        qsort(dirs, n_dirs, sizeof *dirs, strcmp_p);
        size_t u = 0;
        for (size_t i = 0; i < n_dirs; i++)
                if (u == 0 || !streq(dirs[u - 1], dirs[i]))
                        dirs[u++] = dirs[i];
        n_dirs = u;
        /* First a path given twice or under another file (blamed on the deeper path, naming
         * the other), then a path that is a directory of another (one provd writes). */
        for (size_t i = 0; i < n_entries; i++) {
                const OverlayEntry *e = &ent[i];
                if (!e->source)
                        continue;
                const char **at = bsearch(&e->name, files, n_entries, sizeof *files, strcmp_p);
                assert(at);
                if ((at > files && streq(at[-1], e->name)) || (at + 1 < files + n_entries && streq(at[1], e->name)))
                        return errbuf_fail(-EINVAL, err, errlen,
                                           "node %s: overlay file /%s (source %s): the path is given twice or is one "
                                           "provd writes itself",
                                           node, e->name, e->source);
                char dir[4096];
                for (const char *c = strchr(e->name, '/'); c; c = strchr(c + 1, '/')) {
                        size_t n = (size_t) (c - e->name);
                        memcpy(dir, e->name, n);
                        dir[n] = '\0';
                        if (in_sorted(files, n_entries, dir))
                                return errbuf_fail(-EINVAL, err, errlen,
                                                   "node %s: overlay file /%s (source %s): its directory /%s is "
                                                   "another overlay file",
                                                   node, e->name, e->source, dir);
                }
        }
        for (size_t i = 0; i < n_entries; i++)
                if (ent[i].source && in_sorted(dirs, n_dirs, ent[i].name))
                        return errbuf_fail(-EINVAL, err, errlen,
                                           "node %s: overlay file /%s (source %s): the path is the directory of a "
                                           "file provd writes",
                                           node, ent[i].name, ent[i].source);

        /* The manifest: every file above, absolute, one per line. */
        size_t mlen = 0;
        for (size_t i = 0; i + 1 < n_entries; i++)
                mlen += strlen(ent[i].name) + 2;
        manifest = malloc(mlen + 1);
        if (!manifest)
                return errbuf_fail(-ENOMEM, err, errlen, "node %s: out of memory", node);
        p = manifest;
        for (size_t i = 0; i + 1 < n_entries; i++)
                p += sprintf(p, "/%s\n", ent[i].name);
        ent[n_entries - 1].data = (uint8_t *) manifest;
        ent[n_entries - 1].len = mlen;

        int64_t mtime = spec->mtime < 0 ? 0 : spec->mtime > (int64_t) UINT32_MAX ? (int64_t) UINT32_MAX : spec->mtime;
        size_t estimate = 512;
        for (size_t i = 0; i < n_entries; i++)
                estimate += 120 + strlen(ent[i].name) + ent[i].len + 8;
        for (size_t i = 0; i < n_dirs; i++)
                estimate += 120 + strlen(dirs[i]);

        _cleanup_(outbuf_wipe) OutBuf out = { .data = malloc(estimate), .cap = estimate };
        _cleanup_(archive_writep) struct archive *a = archive_write_new();
        if (!out.data || !a)
                return errbuf_fail(-ENOMEM, err, errlen, "node %s: out of memory", node);
        /* Block size 0: no padding to 10240-byte blocks, the bytes go straight to out_write()
         * (archive_write_set_bytes_per_block(3)). */
        if (archive_write_set_format_cpio_newc(a) != ARCHIVE_OK || archive_write_set_bytes_per_block(a, 0) != ARCHIVE_OK ||
            archive_write_open2(a, &out, NULL, out_write, NULL, NULL) != ARCHIVE_OK)
                return errbuf_fail(-EIO, err, errlen, "node %s: overlay: %s", node,
                                   archive_error_string(a) ?: "libarchive failed");
        int64_t ino = 1;
        for (size_t i = 0; i < n_dirs; i++) {
                int r = entry_write(a, node, dirs[i], true, OVERLAY_DIR_MODE, 0, 0, mtime, ino++, NULL, 0, err, errlen);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < n_entries; i++) {
                int r = entry_write(a, node, ent[i].name, false, ent[i].mode, ent[i].uid, ent[i].gid, mtime, ino++,
                                    ent[i].data, ent[i].len, err, errlen);
                if (r < 0)
                        return r;
        }
        if (archive_write_close(a) != ARCHIVE_OK)
                return errbuf_fail(archive_errno(a) == ENOMEM ? -ENOMEM : -EIO, err, errlen, "node %s: overlay: %s",
                                   node, archive_error_string(a) ?: "libarchive failed");

        if (out.cap > out.len) { /* the estimate was generous: give the rest back */
                uint8_t *exact = realloc(out.data, out.len);
                if (exact) {
                        out.data = exact;
                        out.cap = out.len;
                }
        }
        *ret_len = out.len;
        *ret_data = TAKE_PTR(out.data);
        return 0;
}

int overlay_render(const OverlaySpec *spec, uint8_t **ret_data, size_t *ret_len, char *err, size_t errlen) {
        _cleanup_(overlay_sources_freep) OverlaySources *src = NULL;
        int r = overlay_sources_read(spec, &src, err, errlen);
        if (r < 0)
                return r;
        return overlay_render_sources(spec, src, ret_data, ret_len, err, errlen);
}
