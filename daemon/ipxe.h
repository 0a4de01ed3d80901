/* ipxe.h — iPXE scripts for sites whose own DHCP server hands out provd's iPXE URL.  Pure.
 *
 * Facts used (ipxe.org/scripting, ipxe.org/cmd): a script starts with "#!ipxe"; "${netX/mac}"
 * expands to the MAC of the device iPXE last opened, as "aa:bb:cc:dd:ee:ff"; "kernel
 * [--name N] URL ARGS..." fetches and selects the kernel with ARGS as its command line;
 * "initrd --name N URL" adds an initrd (EFI kernels find it via "initrd=N"); "boot" boots;
 * "exit [STATUS]" ends the script that runs it and hands STATUS to whoever ran it: the
 * "chain"/"imgexec" that ran a chained script, or the firmware for the outermost one.
 * "${platform}" is "pcbios" or "efi", "${buildarch}" "i386", "x86_64", "arm64", ...
 *
 * Leaving network boot (measured with QEMU: SeaBIOS + iPXE ROM, OVMF + EDK2 PXE + snponly.efi):
 * a BIOS moves on to its next boot device whatever the status.  UEFI firmware treats status 0
 * from a boot option's image as "this boot option succeeded" (UEFI spec 2.x §3.1.1: after a
 * successful return the boot manager does not try further Boot#### options) and stops in its
 * boot manager menu; a non-zero status makes it try the next BootOrder entry, eventually the
 * disk.  So every script that leaves network boot ends with status 1 under UEFI, 0 under BIOS,
 * decided by iPXE itself at run time ("iseq ${platform} efi"), whichever URL fetched it. */
#pragma once

#include "boot.h"

/* The entry script: fetches <public_url>/v1/ipxe?mac=${netX/mac}&platform=${platform}&
 * buildarch=${buildarch} and runs it.  If the fetch fails it says so and leaves network boot;
 * when the fetched script ends (on purpose: boot from local disk, unknown MAC, failed boot) it
 * passes that script's status on to the firmware, saying nothing more. */
char *ipxe_render_chain(const char *public_url);

/* Installs: echoes what it does, fetches kernel and initrds, boots; on any failure echoes
 * why and exits to the firmware. */
char *ipxe_render_install(const BootSpec *spec, const char *node, long attempt);

/* Boots a stateless node's image (spec from boot_spec_build_image(): the overlay is its last
 * initrd): echoes what it does, fetches kernel and initrds, boots; on any failure echoes why
 * and exits to the firmware. */
char *ipxe_render_image(const BootSpec *spec, const char *node, const char *image, long boot);

/* Leaves network boot so the firmware boots the next device (the local disk); `why` says
 * why, e.g. "is installed". */
char *ipxe_render_local(const char *node, const char *why);

/* For a MAC that is not in the inventory (canonical form), or NULL when none was given. */
char *ipxe_render_unknown(const char *mac);

/* For a `mac` query argument that is not a MAC address: says so and leaves network boot.
 * `arg` is the client's text as received (any bytes); at most 17 of them are shown, through
 * text_ipxe(), so nothing of the client's reaches iPXE's parser (no "${", no newline that
 * would start a command of its own). */
char *ipxe_render_bad_mac(const char *arg);

/* All return a malloc'd NUL-terminated script (caller frees) or NULL on allocation failure. */
