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
 * overlay_render() reads the overlay files' sources and does no other I/O. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "inventory.h"

typedef struct OverlaySpec {
        const char *node;       /* node name, also the hostname */
        const char *url;        /* provd's public URL */
        const char *credential; /* the node credential ("pvn_..."), or NULL for none */
        const InventoryOverlayFile *files; /* borrowed, n_files entries */
        size_t n_files;
        int64_t mtime; /* seconds since the epoch, stamped on every entry */
} OverlaySpec;

/* Renders the overlay of `spec` as a cpio newc archive in memory.  On success stores a
 * malloc'd buffer in *ret_data (caller frees) and its size in bytes in *ret_len and returns 0.
 * Errors: -ENOENT/-EACCES/-EISDIR/-EFBIG for an overlay file's source (missing, unreadable,
 * not a regular file, larger than 1 MiB), -ENOMEM, -EIO (libarchive); the message names the
 * node, the file's path and its source. */
int overlay_render(const OverlaySpec *spec, uint8_t **ret_data, size_t *ret_len, char *err, size_t errlen);
