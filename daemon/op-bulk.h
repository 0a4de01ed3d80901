/* op-bulk.h — the request of a bulk operation (POST /v1/bulk-operations): one operation kind
 * with its parameters, run on many nodes.  Parses and checks the JSON body; operations.c runs
 * it (ops_bulk_start()).
 *
 * The body: {"kind": "reinstall" | "power" | "bootdev" | "reboot", "params": {...}, "nodes": [NAME...]}.
 * params are the single-node route's body: power {"action": on|off|cycle|reset|soft|status},
 * bootdev {"device": pxe|disk|bios, "persistent": bool, "efi": bool} (both optional),
 * reinstall and reboot {} (or absent).  nodes: 1..OP_BULK_NODES_MAX names, each once.
 *
 * Pure: no I/O, no locks, any thread.  Whether the nodes exist is the caller's question. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Nodes in one request: as many as the BMC pool queues (bmc-pool.h's default queue_max). */
#define OP_BULK_NODES_MAX 4096

typedef enum OpBulkKind {
        OP_BULK_REINSTALL,
        OP_BULK_POWER,
        OP_BULK_BOOTDEV,
        OP_BULK_REBOOT,
        _OP_BULK_KIND_MAX,
} OpBulkKind;

typedef struct OpBulkRequest {
        OpBulkKind kind;
        const char *action; /* power: "on", ..., "status" (static) */
        const char *device; /* bootdev: "pxe", "disk" or "bios" (static) */
        bool persistent;    /* bootdev */
        int efi;            /* bootdev: 1 EFI, 0 legacy, -1 the inventory's boot_mode */
        char **nodes;       /* owned, each owned; in the request's order */
        size_t n_nodes;
} OpBulkRequest;

/* Parses body (borrowed) into *ret (op_bulk_request_done() frees it).  Returns 0, -ENOMEM,
 * or -EINVAL with a message in err naming the field or node: not an object, an unknown
 * field, kind not one of the three, params not the kind's, nodes absent, empty, more than
 * max_nodes (0 = OP_BULK_NODES_MAX), an element that is no node name (a string of 1 to
 * INVENTORY_NAME_MAX bytes), or a node named twice. */
int op_bulk_parse(const json_t *body, size_t max_nodes, OpBulkRequest *ret, char *err, size_t errlen);

/* Frees what r holds and zeroes it; a zeroed r is fine. */
void op_bulk_request_done(OpBulkRequest *r);

/* "reinstall", "power", "bootdev", "reboot"; NULL outside the enum. */
const char *op_bulk_kind_to_string(OpBulkKind k);

/* The request's params as the single-node operation reports them (new reference, NULL when
 * out of memory): {} / {"action"} / {"device", "persistent"} plus "efi" when it was given. */
json_t *op_bulk_params_json(const OpBulkRequest *r);
