/* drift.h — whether a node runs the system the inventory says it should, from what the node
 * last reported (its /run/current-system and /run/booted-system, POST /v1/nodes/<name>/report)
 * and when.  Pure: no I/O, no state.
 *
 *   unknown         the node never reported (or has no report since provd knew it)
 *   silent          its last report is older than the silence limit
 *   drifted         it runs a system other than the inventory's toplevel
 *   reboot_pending  it runs the expected system but booted another (switched without reboot)
 *   in_sync         it runs and booted the expected system
 * Checked in that order: a silent node's old report says nothing about now. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

typedef enum Drift {
        DRIFT_UNKNOWN,
        DRIFT_IN_SYNC,
        DRIFT_DRIFTED,
        DRIFT_REBOOT_PENDING,
        DRIFT_SILENT,
        _DRIFT_MAX,
} Drift;

/* "unknown", "in_sync", "drifted", "reboot_pending", "silent"; "unknown" out of range. */
const char *drift_to_string(Drift d);

/* The inverse; -EINVAL for any other text. */
int drift_from_string(const char *s, Drift *ret);

/* The drift of a node whose inventory toplevel is `expected`, that last reported `running`
 * and `booted` (NULL: never reported) at reported_ms (ms since the epoch), at time now_ms,
 * with reports older than silent_after_ms (> 0) counting as silence. */
Drift drift_of(const char *expected, const char *running, const char *booted, int64_t reported_ms, int64_t now_ms,
               int64_t silent_after_ms);

/* True if s is a NixOS system path a node may report: "/nix/store/" followed by a store path
 * name (32 base-32 characters, '-', then 1-211 of the characters Nix allows in names: letters,
 * digits, "+-._?="; Nix manual, "Store path"), nothing after it.  NULL is false. */
bool drift_store_path_ok(const char *s);
