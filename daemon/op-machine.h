/* op-machine.h — the BMC operation state machine, as two tables: the steps each kind of
 * operation runs, and (kind, step, event) -> next step + action.  Pure: no I/O, no locks;
 * operations.c drives it (runs each action, feeds each step's outcome back as an event).
 *
 * Kinds and their steps:
 *   reinstall            mark, bootdev (pxe, one-time), power_status, power (cycle if the
 *                        power is on, on if it is off)
 *   reinstall, no BMC    mark
 *   reboot               mark (the history's "reboot requested"), bootdev (pxe, one-time),
 *                        power_status, power (cycle if on, on if off): a stateless node's
 *                        "reinstall", its next netboot boots its image again
 *   power                power (the action asked: on, off, cycle, reset, soft or status)
 *   bootdev              bootdev (the device asked)
 *   disk after install   bootdev (disk, persistent): provd's own, when a node is installed
 *
 * An operation starts in step `queued` (event start), runs its steps in that order, each
 * until its outcome comes (succeeded, power on/off for a status read, failed, timed out,
 * cancelled), and ends in step `done`: succeeded after its last step, failed at the first
 * step that fails (the rest are skipped).  The full table is in op-machine.c. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define OP_MACHINE_MAX_STEPS 4

typedef enum OpKind {
        OP_KIND_REINSTALL,
        OP_KIND_REINSTALL_NO_BMC,
        OP_KIND_POWER,
        OP_KIND_BOOTDEV,
        OP_KIND_DISK_AFTER_INSTALL,
        OP_KIND_REBOOT,
        _OP_KIND_MAX,
} OpKind;

typedef enum OpStep {
        OP_STEP_QUEUED,       /* not started */
        OP_STEP_MARK,         /* mark the node for install (the daemon) */
        OP_STEP_BOOTDEV,      /* BMC: set the boot device */
        OP_STEP_POWER_STATUS, /* BMC: read the power status */
        OP_STEP_POWER,        /* BMC: a power command */
        OP_STEP_DONE,         /* ended: succeeded or failed */
        _OP_STEP_MAX,
} OpStep;

typedef enum OpEvent {
        OP_EV_START,     /* the operation was created: run its first step */
        OP_EV_SUCCEEDED, /* the current step succeeded (a mark, a boot device or power command) */
        OP_EV_POWER_ON,  /* the current step read the power status: on */
        OP_EV_POWER_OFF, /* the current step read the power status: off */
        OP_EV_FAILED,    /* the current step failed: the BMC refused or erred, no password, the
                          * command could not be queued, the node could not be marked */
        OP_EV_TIMED_OUT, /* the BMC did not answer within bmc_timeout x (1 + bmc_retries) */
        OP_EV_CANCELLED, /* provd is stopping: the step was cancelled or will not run */
        _OP_EV_MAX,
} OpEvent;

typedef enum OpAction {
        OP_ACTION_MARK,    /* the next step is `mark`: mark the node for install (reboot: record
                            * the reboot in its history) */
        OP_ACTION_RUN,     /* the next step is a BMC step: submit its command */
        OP_ACTION_SUCCEED, /* end the operation: succeeded */
        OP_ACTION_FAIL,    /* end the operation: failed at the current step, the rest skipped */
} OpAction;

/* The command of the next step when it is `power`. */
typedef enum OpPower {
        OP_POWER_AS_ASKED, /* the one the operation was created with */
        OP_POWER_CYCLE,    /* the power is on: cycle it */
        OP_POWER_ON,       /* the power is off: power on */
} OpPower;

typedef struct OpTransition {
        OpKind kind;
        OpStep step; /* where the operation is */
        OpEvent event;
        OpStep next; /* OP_STEP_DONE when the action ends the operation */
        OpAction action;
        OpPower power;
} OpTransition;

typedef struct OpKindInfo {
        const char *name; /* the operation's "kind" in the API: reinstall, power, bootdev, reboot */
        const char *why;  /* prefix of its messages in the history: "reinstall: ", "after install: ", "" */
        bool internal;    /* started by provd itself, not an admin (does not make the node busy) */
        size_t n_steps;
        OpStep steps[OP_MACHINE_MAX_STEPS]; /* in the order they run */
} OpKindInfo;

/* Looks up (kind, step, event).  Returns the table row (static storage), or NULL when the
 * event cannot happen in that step of that kind. */
const OpTransition *op_machine_transition(OpKind kind, OpStep step, OpEvent event);

/* The whole table, for tests: *ret_n rows. */
const OpTransition *op_machine_table(size_t *ret_n);

/* What kind `kind` is and which steps it runs (static storage); NULL out of range. */
const OpKindInfo *op_machine_kind(OpKind kind);

/* "queued", "mark", "bootdev", "power_status", "power", "done" (a step's "name" in the API);
 * NULL out of range. */
const char *op_machine_step_to_string(OpStep step);

/* "start", "succeeded", "power_on", ...; NULL out of range. */
const char *op_machine_event_to_string(OpEvent event);
