/* provision.h — the provision state machine, as one table: (state, event) -> next state,
 * action, and what the boot API answers.  Pure: no I/O; the store (store.c) applies the
 * result and writes the history row in the same transaction.
 *
 *   new         in the inventory, never network-booted: installs on its first netboot
 *   netbooting  told to install (install attempt open, token handed out); waiting for the
 *               installer's first event
 *   installing  the installer reported a phase (started, partitioning, installing)
 *   installed   the installer reported success: boots from disk from now on
 *   failed      the installer reported failure (or the attempt was abandoned): boots from
 *               disk, no retry loop, until an admin asks for a reinstall
 *   pending     an admin asked for a reinstall: installs on its next netboot
 *   booting     a stateless node was answered its image (a boot is open, its token handed
 *               out); waiting for the node to report running
 *   running     a stateless node's boot reported running (the boot is over, its token dead)
 *
 * "new" and "failed" are shared: a stateless node that never netbooted is new, one whose boot
 * failed (the node said so, or the boot deadline passed) is failed.  Which netboot event a
 * node's boot request is depends on its inventory mode (install or stateless), not its state,
 * so a node whose mode changes moves on at its next netboot.
 * The full table, with the reason for each row, is in provision.c and the README. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

typedef enum ProvisionState {
        PROVISION_NEW,
        PROVISION_PENDING,
        PROVISION_NETBOOTING,
        PROVISION_INSTALLING,
        PROVISION_INSTALLED,
        PROVISION_FAILED,
        PROVISION_BOOTING,
        PROVISION_RUNNING,
        _PROVISION_STATE_MAX,
        _PROVISION_STATE_INVALID = -1,
} ProvisionState;

typedef enum ProvisionEvent {
        /* A boot request (pixiecore API or iPXE) for the node, and its install token for the
         * open attempt is still known to this process. */
        PROVISION_EV_NETBOOT,
        /* Same, but the open attempt's token is not known (provd restarted since it was
         * handed out: tokens are stored only hashed), so it cannot be handed out again. */
        PROVISION_EV_NETBOOT_NO_TOKEN,
        /* Installer events, authenticated by the attempt's token. */
        PROVISION_EV_PHASE, /* started | partitioning | installing */
        PROVISION_EV_SUCCEEDED,
        PROVISION_EV_FAILED,
        /* Admin asked for a reinstall. */
        PROVISION_EV_REINSTALL,
        /* The install deadline passed. */
        PROVISION_EV_TIMEOUT,
        /* A BMC command finished (its outcome goes into the history; no state change). */
        PROVISION_EV_BMC,
        /* A console capture note (SOL session lost, no SOL); no state change. */
        PROVISION_EV_CONSOLE,
        /* The node reported the system it runs and that changed (history only; no state
         * change). */
        PROVISION_EV_REPORT,
        /* A boot request for a stateless node, and the token of its open boot is known to this
         * process (pixiecore asking again for the same boot). */
        PROVISION_EV_IMAGE_NETBOOT,
        /* Same, with no open boot or its token not known (a new boot of the node). */
        PROVISION_EV_IMAGE_NETBOOT_NO_TOKEN,
        /* The node of the open boot runs: its callback (boot token, phase running) or its node
         * reporter said so. */
        PROVISION_EV_BOOT_RUNNING,
        /* The node of the open boot said it failed (boot token, phase failed). */
        PROVISION_EV_BOOT_FAILED,
        /* Admin asked for a reboot of a stateless node (history only; the netboot that follows
         * opens the next boot). */
        PROVISION_EV_REBOOT,
        _PROVISION_EV_MAX,
} ProvisionEvent;

typedef enum ProvisionAction {
        PROVISION_ACTION_NONE,
        PROVISION_ACTION_OPEN_ATTEMPT,          /* open a new attempt with a new token */
        PROVISION_ACTION_REOPEN_ATTEMPT,        /* end the open attempt (abandoned), open a new one */
        PROVISION_ACTION_END_ATTEMPT_SUCCEEDED, /* end the open attempt: succeeded */
        PROVISION_ACTION_END_ATTEMPT_FAILED,    /* end the open attempt: failed */
        PROVISION_ACTION_END_ATTEMPT_ABANDONED, /* end the open attempt, if any: abandoned */
        PROVISION_ACTION_SET_PHASE,             /* record the installer's phase on the attempt */
        PROVISION_ACTION_OPEN_BOOT,             /* open a new boot with a new token (an open boot
                                                 * ends abandoned, an open attempt too) */
        PROVISION_ACTION_END_BOOT,              /* end the open boot (outcome: provision_boot_outcome()) */
} ProvisionAction;

typedef enum ProvisionBoot {
        PROVISION_BOOT_NONE,    /* not a boot event */
        PROVISION_BOOT_INSTALL, /* answer with the installer (kernel, initrd, cmdline) */
        PROVISION_BOOT_LOCAL,   /* answer "boot from disk": pixiecore 404, iPXE exit */
        PROVISION_BOOT_IMAGE,   /* answer with the node's image and overlay (stateless) */
} ProvisionBoot;

typedef struct ProvisionTransition {
        ProvisionState from;
        ProvisionEvent event;
        ProvisionState to;
        ProvisionAction action;
        ProvisionBoot boot;
        const char *why; /* the history message for this transition */
} ProvisionTransition;

/* Looks up (state, event).  Returns the table row (static storage), or NULL when the event
 * is not allowed in that state. */
const ProvisionTransition *provision_transition(ProvisionState state, ProvisionEvent event);

/* The whole table, for documentation and tests: *ret_n rows. */
const ProvisionTransition *provision_table(size_t *ret_n);

/* "new", "netbooting", ...; NULL for out-of-range values. */
const char *provision_state_to_string(ProvisionState s);
/* Inverse of the above; _PROVISION_STATE_INVALID for unknown strings. */
ProvisionState provision_state_from_string(const char *s);
/* "netboot", "phase", "succeeded", ... (the history's cause column). */
const char *provision_event_to_string(ProvisionEvent e);

/* True in states where an install attempt is open (its token works). */
bool provision_state_has_open_attempt(ProvisionState s);

/* How transition t ends the open attempt: "succeeded", "failed", "timeout" (the install
 * deadline) or "abandoned" (reinstall, a new attempt reopened, or a boot of the node's image
 * opened instead); NULL when t ends none. */
const char *provision_attempt_outcome(const ProvisionTransition *t);

/* True in the state where a boot of a stateless node is open (its token works): booting. */
bool provision_state_has_open_boot(ProvisionState s);

/* How transition t ends the open boot: "running", "failed", "timeout" (the boot deadline) or
 * "abandoned" (a new boot opened, a reinstall, an install attempt opened instead); NULL when
 * t ends none (it does not leave booting, or stays in it with no new boot). */
const char *provision_boot_outcome(const ProvisionTransition *t);
