/* op-machine.c — see op-machine.h.  Edit the tables, not the code around them. */
#include "op-machine.h"

#define K(x) OP_KIND_##x
#define S(x) OP_STEP_##x
#define E(x) OP_EV_##x
#define A(x) OP_ACTION_##x
#define P(x) OP_POWER_##x

static const OpKindInfo kinds[_OP_KIND_MAX] = {
        /* The boot device right before the power command: BMCs clear the override's "valid"
         * bit 60 s after it is set unless a Chassis Control follows (IPMI v2.0 §28.12,
         * Table 28-14 parameter 3); the power status decides which command. */
        [K(REINSTALL)] = { "reinstall", "reinstall: ", false, 4, { S(MARK), S(BOOTDEV), S(POWER_STATUS), S(POWER) } },
        [K(REINSTALL_NO_BMC)] = { "reinstall", "reinstall: ", false, 1, { S(MARK) } },
        [K(POWER)] = { "power", "", false, 1, { S(POWER) } },
        [K(BOOTDEV)] = { "bootdev", "", false, 1, { S(BOOTDEV) } },
        [K(DISK_AFTER_INSTALL)] = { "bootdev", "after install: ", true, 1, { S(BOOTDEV) } },
        [K(REBOOT)] = { "reboot", "reboot: ", false, 4, { S(MARK), S(BOOTDEV), S(POWER_STATUS), S(POWER) } },
};

static const OpTransition table[] = {
        /* Reinstall: marked first (no BMC needed for that), then boot device pxe, then the
         * power: cycled when on, switched on when off (a BMC may refuse or ignore a power
         * cycle while the power is off, IPMI v2.0 §28.3). */
        { K(REINSTALL), S(QUEUED), E(START), S(MARK), A(MARK), P(AS_ASKED) },
        { K(REINSTALL), S(MARK), E(SUCCEEDED), S(BOOTDEV), A(RUN), P(AS_ASKED) },
        { K(REINSTALL), S(MARK), E(FAILED), S(DONE), A(FAIL), P(AS_ASKED) },
        { K(REINSTALL), S(BOOTDEV), E(SUCCEEDED), S(POWER_STATUS), A(RUN), P(AS_ASKED) },
        { K(REINSTALL), S(BOOTDEV), E(FAILED), S(DONE), A(FAIL), P(AS_ASKED) },
        { K(REINSTALL), S(BOOTDEV), E(TIMED_OUT), S(DONE), A(FAIL), P(AS_ASKED) },
        { K(REINSTALL), S(BOOTDEV), E(CANCELLED), S(DONE), A(FAIL), P(AS_ASKED) },
        { K(REINSTALL), S(POWER_STATUS), E(POWER_ON), S(POWER), A(RUN), P(CYCLE) },
        { K(REINSTALL), S(POWER_STATUS), E(POWER_OFF), S(POWER), A(RUN), P(ON) },
        { K(REINSTALL), S(POWER_STATUS), E(FAILED), S(DONE), A(FAIL), P(AS_ASKED) },
        { K(REINSTALL), S(POWER_STATUS), E(TIMED_OUT), S(DONE), A(FAIL), P(AS_ASKED) },
        { K(REINSTALL), S(POWER_STATUS), E(CANCELLED), S(DONE), A(FAIL), P(AS_ASKED) },
        { K(REINSTALL), S(POWER), E(SUCCEEDED), S(DONE), A(SUCCEED), P(AS_ASKED) },
        { K(REINSTALL), S(POWER), E(FAILED), S(DONE), A(FAIL), P(AS_ASKED) },
        { K(REINSTALL), S(POWER), E(TIMED_OUT), S(DONE), A(FAIL), P(AS_ASKED) },
        { K(REINSTALL), S(POWER), E(CANCELLED), S(DONE), A(FAIL), P(AS_ASKED) },

        /* Reboot of a stateless node: the steps of a reinstall, the mark only on record. */
        { K(REBOOT), S(QUEUED), E(START), S(MARK), A(MARK), P(AS_ASKED) },
        { K(REBOOT), S(MARK), E(SUCCEEDED), S(BOOTDEV), A(RUN), P(AS_ASKED) },
        { K(REBOOT), S(MARK), E(FAILED), S(DONE), A(FAIL), P(AS_ASKED) },
        { K(REBOOT), S(BOOTDEV), E(SUCCEEDED), S(POWER_STATUS), A(RUN), P(AS_ASKED) },
        { K(REBOOT), S(BOOTDEV), E(FAILED), S(DONE), A(FAIL), P(AS_ASKED) },
        { K(REBOOT), S(BOOTDEV), E(TIMED_OUT), S(DONE), A(FAIL), P(AS_ASKED) },
        { K(REBOOT), S(BOOTDEV), E(CANCELLED), S(DONE), A(FAIL), P(AS_ASKED) },
        { K(REBOOT), S(POWER_STATUS), E(POWER_ON), S(POWER), A(RUN), P(CYCLE) },
        { K(REBOOT), S(POWER_STATUS), E(POWER_OFF), S(POWER), A(RUN), P(ON) },
        { K(REBOOT), S(POWER_STATUS), E(FAILED), S(DONE), A(FAIL), P(AS_ASKED) },
        { K(REBOOT), S(POWER_STATUS), E(TIMED_OUT), S(DONE), A(FAIL), P(AS_ASKED) },
        { K(REBOOT), S(POWER_STATUS), E(CANCELLED), S(DONE), A(FAIL), P(AS_ASKED) },
        { K(REBOOT), S(POWER), E(SUCCEEDED), S(DONE), A(SUCCEED), P(AS_ASKED) },
        { K(REBOOT), S(POWER), E(FAILED), S(DONE), A(FAIL), P(AS_ASKED) },
        { K(REBOOT), S(POWER), E(TIMED_OUT), S(DONE), A(FAIL), P(AS_ASKED) },
        { K(REBOOT), S(POWER), E(CANCELLED), S(DONE), A(FAIL), P(AS_ASKED) },

        /* A node without a BMC is only marked: someone power-cycles it by hand. */
        { K(REINSTALL_NO_BMC), S(QUEUED), E(START), S(MARK), A(MARK), P(AS_ASKED) },
        { K(REINSTALL_NO_BMC), S(MARK), E(SUCCEEDED), S(DONE), A(SUCCEED), P(AS_ASKED) },
        { K(REINSTALL_NO_BMC), S(MARK), E(FAILED), S(DONE), A(FAIL), P(AS_ASKED) },

        /* Power: one command; a status read ends with the power's state as its result. */
        { K(POWER), S(QUEUED), E(START), S(POWER), A(RUN), P(AS_ASKED) },
        { K(POWER), S(POWER), E(SUCCEEDED), S(DONE), A(SUCCEED), P(AS_ASKED) },
        { K(POWER), S(POWER), E(POWER_ON), S(DONE), A(SUCCEED), P(AS_ASKED) },
        { K(POWER), S(POWER), E(POWER_OFF), S(DONE), A(SUCCEED), P(AS_ASKED) },
        { K(POWER), S(POWER), E(FAILED), S(DONE), A(FAIL), P(AS_ASKED) },
        { K(POWER), S(POWER), E(TIMED_OUT), S(DONE), A(FAIL), P(AS_ASKED) },
        { K(POWER), S(POWER), E(CANCELLED), S(DONE), A(FAIL), P(AS_ASKED) },

        /* Boot device: one command. */
        { K(BOOTDEV), S(QUEUED), E(START), S(BOOTDEV), A(RUN), P(AS_ASKED) },
        { K(BOOTDEV), S(BOOTDEV), E(SUCCEEDED), S(DONE), A(SUCCEED), P(AS_ASKED) },
        { K(BOOTDEV), S(BOOTDEV), E(FAILED), S(DONE), A(FAIL), P(AS_ASKED) },
        { K(BOOTDEV), S(BOOTDEV), E(TIMED_OUT), S(DONE), A(FAIL), P(AS_ASKED) },
        { K(BOOTDEV), S(BOOTDEV), E(CANCELLED), S(DONE), A(FAIL), P(AS_ASKED) },

        /* After an install: boot device disk, persistent; no retry loop on failure (the
         * history says so, and an admin sets it). */
        { K(DISK_AFTER_INSTALL), S(QUEUED), E(START), S(BOOTDEV), A(RUN), P(AS_ASKED) },
        { K(DISK_AFTER_INSTALL), S(BOOTDEV), E(SUCCEEDED), S(DONE), A(SUCCEED), P(AS_ASKED) },
        { K(DISK_AFTER_INSTALL), S(BOOTDEV), E(FAILED), S(DONE), A(FAIL), P(AS_ASKED) },
        { K(DISK_AFTER_INSTALL), S(BOOTDEV), E(TIMED_OUT), S(DONE), A(FAIL), P(AS_ASKED) },
        { K(DISK_AFTER_INSTALL), S(BOOTDEV), E(CANCELLED), S(DONE), A(FAIL), P(AS_ASKED) },
};

const OpTransition *op_machine_transition(OpKind kind, OpStep step, OpEvent event) {
        for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
                if (table[i].kind == kind && table[i].step == step && table[i].event == event)
                        return &table[i];
        return NULL;
}

const OpTransition *op_machine_table(size_t *ret_n) {
        *ret_n = sizeof table / sizeof table[0];
        return table;
}

const OpKindInfo *op_machine_kind(OpKind kind) {
        if ((int) kind < 0 || kind >= _OP_KIND_MAX)
                return NULL;
        return &kinds[kind];
}

static const char *const step_names[_OP_STEP_MAX] = {
        [S(QUEUED)] = "queued",       [S(MARK)] = "mark",   [S(BOOTDEV)] = "bootdev",
        [S(POWER_STATUS)] = "power_status", [S(POWER)] = "power", [S(DONE)] = "done",
};

static const char *const event_names[_OP_EV_MAX] = {
        [E(START)] = "start",         [E(SUCCEEDED)] = "succeeded", [E(POWER_ON)] = "power_on",
        [E(POWER_OFF)] = "power_off", [E(FAILED)] = "failed",       [E(TIMED_OUT)] = "timed_out",
        [E(CANCELLED)] = "cancelled",
};

const char *op_machine_step_to_string(OpStep step) {
        if ((int) step < 0 || step >= _OP_STEP_MAX)
                return NULL;
        return step_names[step];
}

const char *op_machine_event_to_string(OpEvent event) {
        if ((int) event < 0 || event >= _OP_EV_MAX)
                return NULL;
        return event_names[event];
}
