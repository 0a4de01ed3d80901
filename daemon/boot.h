/* boot.h — what a node is told to boot, and its pixiecore API rendering.  Pure: no I/O.
 *
 * The pixiecore boot API (danderson/netboot pixiecore/README.api.md, API mode): a 200 answer
 * to GET /v1/boot/<mac> is a JSON object {"kernel": URL, "initrd": [URL...], "cmdline": s};
 * anything else tells pixiecore to ignore the machine.  cmdline is read as a Go template by
 * pixiecore, so it must not contain "{{" (inventory.c rejects that), nor a newline. */
#pragma once

#include <stddef.h>

#include "inventory.h"

typedef struct BootSpec {
        char *kernel;   /* URL */
        char **initrd;  /* URLs, n_initrd entries */
        size_t n_initrd;
        char *cmdline;  /* complete kernel command line */
} BootSpec;

/* Returns the URL a boot file is fetched from: an http(s):// inventory entry unchanged,
 * else <public_url>/v1/files<path> with the path percent-encoded (RFC 3986 §2: everything
 * but unreserved characters and "/").  Returns a malloc'd string (caller frees) or NULL on
 * allocation failure. */
char *boot_file_url(const char *public_url, const char *file);

/* Builds the install boot spec for node n: its inventory kernel/initrd as URLs and its
 * cmdline followed by "nixos.install=<system.install> provd.url=<public_url>
 * provd.token=<token> provd.node=<name>".  On success fills *ret (caller owns;
 * boot_spec_done()) and returns 0; -EINVAL for a stateless node (it has no install boot);
 * -ENOMEM otherwise. */
int boot_spec_build(const Node *n, const char *public_url, const char *token, BootSpec *ret);

/* Builds the boot spec of stateless node n (n->image non-NULL) for its boot with token `token`:
 * its image's kernel and initrds as URLs, then its overlay, <public_url>/v1/overlay/<token>,
 * last (Linux unpacks concatenated initramfs archives in order, later files replacing earlier
 * ones: the kernel's initramfs buffer format), and the image's cmdline followed by
 * "init=<image init> provd.url=<public_url> provd.token=<token> provd.node=<name>" (the keys an
 * install gets, so the same node-side code reads them).  On success fills *ret (caller owns;
 * boot_spec_done()) and returns 0; -EINVAL when n has no image, -ENOMEM. */
int boot_spec_build_image(const Node *n, const char *public_url, const char *token, BootSpec *ret);

/* The URL of the overlay of the boot with token `token`: <public_url>/v1/overlay/<token>.
 * malloc'd (caller frees), or NULL on allocation failure. */
char *boot_overlay_url(const char *public_url, const char *token);

void boot_spec_done(BootSpec *spec);

/* Renders spec as pixiecore's boot API JSON.  Returns a malloc'd NUL-terminated string
 * (caller frees) or NULL on allocation failure. */
char *boot_spec_to_pixiecore_json(const BootSpec *spec);
