/* ipxe.h — iPXE scripts for sites whose own DHCP server hands out provd's iPXE URL.  Pure.
 *
 * Facts used (ipxe.org/scripting, ipxe.org/cmd): a script starts with "#!ipxe"; "${netX/mac}"
 * expands to the MAC of the device iPXE last opened, as "aa:bb:cc:dd:ee:ff"; "kernel
 * [--name N] URL ARGS..." fetches and selects the kernel with ARGS as its command line;
 * "initrd --name N URL" adds an initrd (EFI kernels find it via "initrd=N"); "boot" boots;
 * "exit" returns to the firmware, which then tries its next boot device. */
#pragma once

#include "boot.h"

/* The entry script: chains to <public_url>/v1/ipxe?mac=${netX/mac}. */
char *ipxe_render_chain(const char *public_url);

/* Installs: echoes what it does, fetches kernel and initrds, boots; on any failure echoes
 * why and exits to the firmware. */
char *ipxe_render_install(const BootSpec *spec, const char *node, long attempt);

/* Leaves network boot so the firmware boots the next device (the local disk); `why` says
 * why, e.g. "is installed". */
char *ipxe_render_local(const char *node, const char *why);

/* For a MAC that is not in the inventory (canonical form), or NULL when none was given. */
char *ipxe_render_unknown(const char *mac);

/* All return a malloc'd NUL-terminated script (caller frees) or NULL on allocation failure. */
