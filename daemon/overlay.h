/* overlay.h — a stateless node's overlay: the small extra initrd provd builds per node and
 * appends to its image's initrds.  Linux unpacks concatenated initramfs archives in order,
 * later files replacing earlier ones (the kernel's initramfs buffer format), so the overlay's
 * files land on top of the image.  The archive is cpio "newc" written with libarchive.
 *
 * What an overlay holds, every entry owned by root unless the inventory says otherwise:
 *   etc/hostname                     0644  "<node>\n"
 *   var/lib/provd-node/node          0644  "<node>\n"
 *   var/lib/provd-node/url           0644  "<provd's public URL>\n"
 *   var/lib/provd-node/credential    0600  "<node credential>\n"   (when one is given)
 *   <each inventory overlay file>    its mode, uid, gid; its source file's bytes
 *   etc/provd/overlay.manifest       0644  every path above, absolute, one per line, so a
 *                                          stage-1 initrd can copy them into the real root
 * plus the directories leading to them (0755, root).  Same layout as an installed node's
 * /var/lib/provd-node, so the node reporter works unchanged.
 *
 * Order in the archive: the directories first, sorted bytewise (a parent sorts before its
 * children), then the files in the order above, the manifest last.  Names are relative
 * ("etc/hostname"), every entry has its own inode number (1, 2, ...) and one link, and the
 * archive ends with the newc trailer, unpadded (its length is a multiple of 4, so another
 * archive may follow it).  The manifest lists files only (not directories, not itself), in
 * archive order.  Note: the kernel applies a directory entry's mode and owner to a directory
 * that already exists (init/initramfs.c), so an overlay file under a directory that is not
 * 0755 root in the image (/root, /tmp) changes that directory's mode in the initramfs; the
 * manifest does not list directories, so the copy into the real root is not affected.
 *
 * Sources are opened following symbolic links (secret managers deploy secrets as links into
 * a generation directory), but must be regular files: a source is stat(2)ed before it is
 * opened (a FIFO or a device is never opened) and fstat(2)ed once open (the file read is the
 * one checked).  At most OVERLAY_FILE_MAX bytes each and OVERLAY_FILES_TOTAL_MAX in all.
 *
 * overlay_render() reads the overlay files' sources and does no other I/O.  The same work in
 * two steps — overlay_sources_read() (the I/O) then overlay_render_sources() (pure) — lets a
 * caller check every source before it commits to anything (the overlay cache issues a node
 * credential only once the sources are read).  No state, no locks: any thread. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "inventory.h"

#define OVERLAY_FILE_MAX (1024 * 1024)               /* bytes of one overlay file's source */
#define OVERLAY_FILES_TOTAL_MAX (16 * 1024 * 1024)   /* bytes of all sources of one overlay */

typedef struct OverlaySpec {
        const char *node;       /* node name, also the hostname */
        const char *url;        /* provd's public URL */
        const char *credential; /* the node credential ("pvn_..."), or NULL for none */
        const InventoryOverlayFile *files; /* borrowed, n_files entries */
        size_t n_files;
        int64_t mtime; /* seconds since the epoch, stamped on every entry; clamped to
                        * 0..2^32-1 (newc's eight hex digits) */
} OverlaySpec;

/* What identifies the contents of a source file without reading it: fstat(2)/stat(2)'s
 * device, inode, size and modification and change times in nanoseconds.  A rewrite (even
 * of the same size within one second) changes ctime; a rename over it changes the inode. */
typedef struct OverlaySourceStat {
        uint64_t dev;
        uint64_t ino;
        int64_t size;
        int64_t mtime_ns;
        int64_t ctime_ns;
} OverlaySourceStat;

/* The bytes and stats of a spec's overlay file sources (overlay_sources_read()). */
typedef struct OverlaySources OverlaySources;

/* Renders the overlay of `spec` as a cpio newc archive in memory.  On success stores a
 * malloc'd buffer in *ret_data (caller frees) and its size in bytes in *ret_len and returns 0.
 * Errors: -ENOENT/-EACCES/-EISDIR/-EFBIG for an overlay file's source (missing, unreadable,
 * not a regular file, larger than OVERLAY_FILE_MAX, or all together larger than
 * OVERLAY_FILES_TOTAL_MAX) or another open(2)/read(2) errno; -EINVAL for a name, URL,
 * credential or path that cannot be written (control characters, a path not absolute and
 * clean, a path given twice or one that is another's directory or one provd writes itself);
 * -ENOMEM; -EIO (libarchive).  The message names the node, the file's path and its source. */
int overlay_render(const OverlaySpec *spec, uint8_t **ret_data, size_t *ret_len, char *err, size_t errlen);

/* The I/O half of overlay_render(): reads every overlay file source of `spec` (the checks and
 * errors above), stores the result in *ret (caller owns; overlay_sources_free()). */
int overlay_sources_read(const OverlaySpec *spec, OverlaySources **ret, char *err, size_t errlen);

/* The stats of the sources as they were when read (fstat(2) of the open file, before its
 * bytes were read, so a change during the read shows as a later change), one per overlay
 * file in spec order; *ret_n set to their count.  Borrowed from `src`. */
const OverlaySourceStat *overlay_sources_stats(const OverlaySources *src, size_t *ret_n);

/* Frees `src`, wiping the bytes (they may be secrets).  NULL is fine. */
void overlay_sources_free(OverlaySources *src);
static inline void overlay_sources_freep(OverlaySources **src) {
        overlay_sources_free(*src);
}

/* The pure half of overlay_render(): renders `spec` with the bytes in `src` (read for a spec
 * with the same files).  Same results and errors, but for the sources' I/O errors. */
int overlay_render_sources(const OverlaySpec *spec, const OverlaySources *src, uint8_t **ret_data, size_t *ret_len,
                           char *err, size_t errlen);

/* stat(2)s `path` (following links, as overlay_sources_read() does) into *ret.  Returns 0 or
 * the negative errno. */
int overlay_source_stat(const char *path, OverlaySourceStat *ret);

/* True if a and b describe the same file contents (every field equal). */
bool overlay_source_stat_equal(const OverlaySourceStat *a, const OverlaySourceStat *b);
