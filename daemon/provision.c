/* provision.c — see provision.h.  Edit the table, not the code around it. */
#include "provision.h"

#include <stddef.h>
#include <string.h>

#define S(x) PROVISION_##x
#define E(x) PROVISION_EV_##x
#define A(x) PROVISION_ACTION_##x
#define B(x) PROVISION_BOOT_##x

static const ProvisionTransition table[] = {
        /* Racking new nodes is the main use: a node never seen installs on its first netboot. */
        { S(NEW), E(NETBOOT), S(NETBOOTING), A(OPEN_ATTEMPT), B(INSTALL), "first network boot: install attempt opened" },
        { S(NEW), E(NETBOOT_NO_TOKEN), S(NETBOOTING), A(OPEN_ATTEMPT), B(INSTALL), "first network boot: install attempt opened" },
        { S(PENDING), E(NETBOOT), S(NETBOOTING), A(OPEN_ATTEMPT), B(INSTALL), "network boot after reinstall request: install attempt opened" },
        { S(PENDING), E(NETBOOT_NO_TOKEN), S(NETBOOTING), A(OPEN_ATTEMPT), B(INSTALL), "network boot after reinstall request: install attempt opened" },

        /* pixiecore asks 5-6 times per boot (one per PXE DHCPDISCOVER, more from its own iPXE, one
         * per /_/ipxe fetch): same attempt, same token, no history row. */
        { S(NETBOOTING), E(NETBOOT), S(NETBOOTING), A(NONE), B(INSTALL), NULL },
        /* provd restarted after handing the token out; it only kept the hash. */
        { S(NETBOOTING), E(NETBOOT_NO_TOKEN), S(NETBOOTING), A(REOPEN_ATTEMPT), B(INSTALL), "network boot after a provd restart: token not recoverable, new install attempt opened" },
        /* The installer died and the node came back to the network: start over, on record. */
        { S(INSTALLING), E(NETBOOT), S(NETBOOTING), A(REOPEN_ATTEMPT), B(INSTALL), "network boot during install: attempt abandoned, new install attempt opened" },
        { S(INSTALLING), E(NETBOOT_NO_TOKEN), S(NETBOOTING), A(REOPEN_ATTEMPT), B(INSTALL), "network boot during install: attempt abandoned, new install attempt opened" },

        /* An installed node boots from its disk: no reinstall loops. */
        { S(INSTALLED), E(NETBOOT), S(INSTALLED), A(NONE), B(LOCAL), NULL },
        { S(INSTALLED), E(NETBOOT_NO_TOKEN), S(INSTALLED), A(NONE), B(LOCAL), NULL },
        /* A failed node is not retried by itself (that is a loop); an admin reinstalls it. */
        { S(FAILED), E(NETBOOT), S(FAILED), A(NONE), B(LOCAL), NULL },
        { S(FAILED), E(NETBOOT_NO_TOKEN), S(FAILED), A(NONE), B(LOCAL), NULL },

        /* A node whose inventory mode changed from stateless to install installs on its next
         * netboot (an open boot is abandoned: OPEN_ATTEMPT ends it). */
        { S(BOOTING), E(NETBOOT), S(NETBOOTING), A(OPEN_ATTEMPT), B(INSTALL), "network boot of a node that now installs: boot abandoned, install attempt opened" },
        { S(BOOTING), E(NETBOOT_NO_TOKEN), S(NETBOOTING), A(OPEN_ATTEMPT), B(INSTALL), "network boot of a node that now installs: boot abandoned, install attempt opened" },
        { S(RUNNING), E(NETBOOT), S(NETBOOTING), A(OPEN_ATTEMPT), B(INSTALL), "network boot of a node that now installs: install attempt opened" },
        { S(RUNNING), E(NETBOOT_NO_TOKEN), S(NETBOOTING), A(OPEN_ATTEMPT), B(INSTALL), "network boot of a node that now installs: install attempt opened" },

        /* A stateless node boots its image on every network boot, whatever its state: never
         * the local disk.  Each netboot is a new boot with a new token... */
        { S(NEW), E(IMAGE_NETBOOT), S(BOOTING), A(OPEN_BOOT), B(IMAGE), "network boot: boot opened" },
        { S(NEW), E(IMAGE_NETBOOT_NO_TOKEN), S(BOOTING), A(OPEN_BOOT), B(IMAGE), "network boot: boot opened" },
        { S(RUNNING), E(IMAGE_NETBOOT), S(BOOTING), A(OPEN_BOOT), B(IMAGE), "network boot: boot opened" },
        { S(RUNNING), E(IMAGE_NETBOOT_NO_TOKEN), S(BOOTING), A(OPEN_BOOT), B(IMAGE), "network boot: boot opened" },
        { S(FAILED), E(IMAGE_NETBOOT), S(BOOTING), A(OPEN_BOOT), B(IMAGE), "network boot: boot opened" },
        { S(FAILED), E(IMAGE_NETBOOT_NO_TOKEN), S(BOOTING), A(OPEN_BOOT), B(IMAGE), "network boot: boot opened" },
        /* ... except pixiecore asking again for the boot it was just answered (5-6 times per
         * boot): same boot, same token, no history row. */
        { S(BOOTING), E(IMAGE_NETBOOT), S(BOOTING), A(NONE), B(IMAGE), NULL },
        /* The node came back before it ran, or provd restarted and kept only the token's hash. */
        { S(BOOTING), E(IMAGE_NETBOOT_NO_TOKEN), S(BOOTING), A(OPEN_BOOT), B(IMAGE), "network boot during boot: boot abandoned, new boot opened" },
        /* A node whose inventory mode changed from install to stateless boots its image at
         * once (an open install attempt is abandoned: OPEN_BOOT ends it). */
        { S(PENDING), E(IMAGE_NETBOOT), S(BOOTING), A(OPEN_BOOT), B(IMAGE), "network boot of a node that is now stateless: boot opened" },
        { S(PENDING), E(IMAGE_NETBOOT_NO_TOKEN), S(BOOTING), A(OPEN_BOOT), B(IMAGE), "network boot of a node that is now stateless: boot opened" },
        { S(NETBOOTING), E(IMAGE_NETBOOT), S(BOOTING), A(OPEN_BOOT), B(IMAGE), "network boot of a node that is now stateless: install attempt abandoned, boot opened" },
        { S(NETBOOTING), E(IMAGE_NETBOOT_NO_TOKEN), S(BOOTING), A(OPEN_BOOT), B(IMAGE), "network boot of a node that is now stateless: install attempt abandoned, boot opened" },
        { S(INSTALLING), E(IMAGE_NETBOOT), S(BOOTING), A(OPEN_BOOT), B(IMAGE), "network boot of a node that is now stateless: install attempt abandoned, boot opened" },
        { S(INSTALLING), E(IMAGE_NETBOOT_NO_TOKEN), S(BOOTING), A(OPEN_BOOT), B(IMAGE), "network boot of a node that is now stateless: install attempt abandoned, boot opened" },
        { S(INSTALLED), E(IMAGE_NETBOOT), S(BOOTING), A(OPEN_BOOT), B(IMAGE), "network boot of a node that is now stateless: boot opened" },
        { S(INSTALLED), E(IMAGE_NETBOOT_NO_TOKEN), S(BOOTING), A(OPEN_BOOT), B(IMAGE), "network boot of a node that is now stateless: boot opened" },

        /* The booted node's word (boot token, or its node reporter), only while the boot is open. */
        { S(BOOTING), E(BOOT_RUNNING), S(RUNNING), A(END_BOOT), B(NONE), "node running" },
        { S(BOOTING), E(BOOT_FAILED), S(FAILED), A(END_BOOT), B(NONE), "node reported boot failure" },
        /* Boot deadline. */
        { S(BOOTING), E(TIMEOUT), S(FAILED), A(END_BOOT), B(NONE), "boot deadline passed before the node reported running" },

        /* Admin reboot of a stateless node: on record; its next netboot opens the next boot. */
        { S(NEW), E(REBOOT), S(NEW), A(NONE), B(NONE), "reboot requested" },
        { S(PENDING), E(REBOOT), S(PENDING), A(NONE), B(NONE), "reboot requested" },
        { S(NETBOOTING), E(REBOOT), S(NETBOOTING), A(NONE), B(NONE), "reboot requested" },
        { S(INSTALLING), E(REBOOT), S(INSTALLING), A(NONE), B(NONE), "reboot requested" },
        { S(INSTALLED), E(REBOOT), S(INSTALLED), A(NONE), B(NONE), "reboot requested" },
        { S(FAILED), E(REBOOT), S(FAILED), A(NONE), B(NONE), "reboot requested" },
        { S(BOOTING), E(REBOOT), S(BOOTING), A(NONE), B(NONE), "reboot requested" },
        { S(RUNNING), E(REBOOT), S(RUNNING), A(NONE), B(NONE), "reboot requested" },

        /* Installer events (token-authenticated, so only with an open attempt). */
        { S(NETBOOTING), E(PHASE), S(INSTALLING), A(SET_PHASE), B(NONE), "installer reported" },
        { S(INSTALLING), E(PHASE), S(INSTALLING), A(SET_PHASE), B(NONE), "installer reported" },
        { S(NETBOOTING), E(SUCCEEDED), S(INSTALLED), A(END_ATTEMPT_SUCCEEDED), B(NONE), "installer reported success" },
        { S(INSTALLING), E(SUCCEEDED), S(INSTALLED), A(END_ATTEMPT_SUCCEEDED), B(NONE), "installer reported success" },
        { S(NETBOOTING), E(FAILED), S(FAILED), A(END_ATTEMPT_FAILED), B(NONE), "installer reported failure" },
        { S(INSTALLING), E(FAILED), S(FAILED), A(END_ATTEMPT_FAILED), B(NONE), "installer reported failure" },

        /* Admin reinstall: from anywhere; an open attempt is abandoned. */
        { S(NEW), E(REINSTALL), S(PENDING), A(NONE), B(NONE), "reinstall requested" },
        { S(PENDING), E(REINSTALL), S(PENDING), A(NONE), B(NONE), NULL },
        { S(NETBOOTING), E(REINSTALL), S(PENDING), A(END_ATTEMPT_ABANDONED), B(NONE), "reinstall requested: open attempt abandoned" },
        { S(INSTALLING), E(REINSTALL), S(PENDING), A(END_ATTEMPT_ABANDONED), B(NONE), "reinstall requested: open attempt abandoned" },
        { S(INSTALLED), E(REINSTALL), S(PENDING), A(NONE), B(NONE), "reinstall requested" },
        { S(FAILED), E(REINSTALL), S(PENDING), A(NONE), B(NONE), "reinstall requested" },
        { S(BOOTING), E(REINSTALL), S(PENDING), A(END_BOOT), B(NONE), "reinstall requested: open boot abandoned" },
        { S(RUNNING), E(REINSTALL), S(PENDING), A(NONE), B(NONE), "reinstall requested" },

        /* Install deadline. */
        { S(NETBOOTING), E(TIMEOUT), S(FAILED), A(END_ATTEMPT_FAILED), B(NONE), "install deadline passed before the installer reported" },
        { S(INSTALLING), E(TIMEOUT), S(FAILED), A(END_ATTEMPT_FAILED), B(NONE), "install deadline passed" },

        /* A BMC command's outcome, on record; the state does not change. */
        { S(NEW), E(BMC), S(NEW), A(NONE), B(NONE), "BMC" },
        { S(PENDING), E(BMC), S(PENDING), A(NONE), B(NONE), "BMC" },
        { S(NETBOOTING), E(BMC), S(NETBOOTING), A(NONE), B(NONE), "BMC" },
        { S(INSTALLING), E(BMC), S(INSTALLING), A(NONE), B(NONE), "BMC" },
        { S(INSTALLED), E(BMC), S(INSTALLED), A(NONE), B(NONE), "BMC" },
        { S(FAILED), E(BMC), S(FAILED), A(NONE), B(NONE), "BMC" },
        { S(BOOTING), E(BMC), S(BOOTING), A(NONE), B(NONE), "BMC" },
        { S(RUNNING), E(BMC), S(RUNNING), A(NONE), B(NONE), "BMC" },

        /* A console capture note, on record; the state does not change. */
        { S(NEW), E(CONSOLE), S(NEW), A(NONE), B(NONE), "console" },
        { S(PENDING), E(CONSOLE), S(PENDING), A(NONE), B(NONE), "console" },
        { S(NETBOOTING), E(CONSOLE), S(NETBOOTING), A(NONE), B(NONE), "console" },
        { S(INSTALLING), E(CONSOLE), S(INSTALLING), A(NONE), B(NONE), "console" },
        { S(INSTALLED), E(CONSOLE), S(INSTALLED), A(NONE), B(NONE), "console" },
        { S(FAILED), E(CONSOLE), S(FAILED), A(NONE), B(NONE), "console" },
        { S(BOOTING), E(CONSOLE), S(BOOTING), A(NONE), B(NONE), "console" },
        { S(RUNNING), E(CONSOLE), S(RUNNING), A(NONE), B(NONE), "console" },

        /* A node's report of the system it runs, on record when that changed. */
        { S(NEW), E(REPORT), S(NEW), A(NONE), B(NONE), "node report" },
        { S(PENDING), E(REPORT), S(PENDING), A(NONE), B(NONE), "node report" },
        { S(NETBOOTING), E(REPORT), S(NETBOOTING), A(NONE), B(NONE), "node report" },
        { S(INSTALLING), E(REPORT), S(INSTALLING), A(NONE), B(NONE), "node report" },
        { S(INSTALLED), E(REPORT), S(INSTALLED), A(NONE), B(NONE), "node report" },
        { S(FAILED), E(REPORT), S(FAILED), A(NONE), B(NONE), "node report" },
        { S(BOOTING), E(REPORT), S(BOOTING), A(NONE), B(NONE), "node report" },
        { S(RUNNING), E(REPORT), S(RUNNING), A(NONE), B(NONE), "node report" },
};

const ProvisionTransition *provision_transition(ProvisionState state, ProvisionEvent event) {
        for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
                if (table[i].from == state && table[i].event == event)
                        return &table[i];
        return NULL;
}

const ProvisionTransition *provision_table(size_t *ret_n) {
        *ret_n = sizeof table / sizeof table[0];
        return table;
}

static const char *const state_names[_PROVISION_STATE_MAX] = {
        [PROVISION_NEW] = "new",
        [PROVISION_PENDING] = "pending",
        [PROVISION_NETBOOTING] = "netbooting",
        [PROVISION_INSTALLING] = "installing",
        [PROVISION_INSTALLED] = "installed",
        [PROVISION_FAILED] = "failed",
        [PROVISION_BOOTING] = "booting",
        [PROVISION_RUNNING] = "running",
};

static const char *const event_names[_PROVISION_EV_MAX] = {
        [PROVISION_EV_NETBOOT] = "netboot",
        [PROVISION_EV_NETBOOT_NO_TOKEN] = "netboot",
        [PROVISION_EV_PHASE] = "installer",
        [PROVISION_EV_SUCCEEDED] = "installer",
        [PROVISION_EV_FAILED] = "installer",
        [PROVISION_EV_REINSTALL] = "reinstall",
        [PROVISION_EV_TIMEOUT] = "timeout",
        [PROVISION_EV_BMC] = "bmc",
        [PROVISION_EV_CONSOLE] = "console",
        [PROVISION_EV_REPORT] = "report",
        [PROVISION_EV_IMAGE_NETBOOT] = "netboot",
        [PROVISION_EV_IMAGE_NETBOOT_NO_TOKEN] = "netboot",
        [PROVISION_EV_BOOT_RUNNING] = "boot",
        [PROVISION_EV_BOOT_FAILED] = "boot",
        [PROVISION_EV_REBOOT] = "reboot",
};

const char *provision_state_to_string(ProvisionState s) {
        if ((int) s < 0 || s >= _PROVISION_STATE_MAX)
                return NULL;
        return state_names[s];
}

ProvisionState provision_state_from_string(const char *s) {
        for (int i = 0; s && i < _PROVISION_STATE_MAX; i++)
                if (strcmp(state_names[i], s) == 0)
                        return (ProvisionState) i;
        return _PROVISION_STATE_INVALID;
}

const char *provision_event_to_string(ProvisionEvent e) {
        if ((int) e < 0 || e >= _PROVISION_EV_MAX)
                return NULL;
        return event_names[e];
}

bool provision_state_has_open_attempt(ProvisionState s) {
        return s == PROVISION_NETBOOTING || s == PROVISION_INSTALLING;
}

const char *provision_attempt_outcome(const ProvisionTransition *t) {
        switch (t->action) {
        case PROVISION_ACTION_END_ATTEMPT_SUCCEEDED:
                return "succeeded";
        case PROVISION_ACTION_END_ATTEMPT_FAILED:
                return t->event == PROVISION_EV_TIMEOUT ? "timeout" : "failed";
        case PROVISION_ACTION_END_ATTEMPT_ABANDONED:
        case PROVISION_ACTION_REOPEN_ATTEMPT:
                return "abandoned";
        case PROVISION_ACTION_OPEN_BOOT:
                return provision_state_has_open_attempt(t->from) ? "abandoned" : NULL;
        default:
                return NULL;
        }
}

bool provision_state_has_open_boot(ProvisionState s) {
        return s == PROVISION_BOOTING;
}

const char *provision_boot_outcome(const ProvisionTransition *t) {
        if (!provision_state_has_open_boot(t->from))
                return NULL;
        if (provision_state_has_open_boot(t->to) && t->action != PROVISION_ACTION_OPEN_BOOT)
                return NULL;
        switch (t->event) {
        case PROVISION_EV_BOOT_RUNNING:
                return "running";
        case PROVISION_EV_BOOT_FAILED:
                return "failed";
        case PROVISION_EV_TIMEOUT:
                return "timeout";
        default:
                return "abandoned";
        }
}
