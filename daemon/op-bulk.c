/* op-bulk.c — see op-bulk.h. */
#include "op-bulk.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "inventory.h"
#include "util.h"

static const char *const kind_names[_OP_BULK_KIND_MAX] = {
        [OP_BULK_REINSTALL] = "reinstall",
        [OP_BULK_POWER] = "power",
        [OP_BULK_BOOTDEV] = "bootdev",
        [OP_BULK_REBOOT] = "reboot",
};

static const char *const power_actions[] = { "on", "off", "cycle", "reset", "soft", "status", NULL };
static const char *const boot_devices[] = { "pxe", "disk", "bios", NULL };

const char *op_bulk_kind_to_string(OpBulkKind k) {
        return k >= 0 && k < _OP_BULK_KIND_MAX ? kind_names[k] : NULL;
}

/* The static string of `list` equal to s, or NULL. */
static const char *one_of(const char *const *list, const char *s) {
        for (; s && *list; list++)
                if (streq(*list, s))
                        return *list;
        return NULL;
}

void op_bulk_request_done(OpBulkRequest *r) {
        for (size_t i = 0; r->nodes && i < r->n_nodes; i++)
                free(r->nodes[i]);
        free(r->nodes);
        *r = (OpBulkRequest) { 0 };
}

/* The params of kind k (params: NULL when absent) into r. */
static int parse_params(OpBulkRequest *r, const json_t *params, char *err, size_t errlen) {
        if (params && !json_is_object(params))
                return errbuf_fail(-EINVAL, err, errlen, "\"params\" must be a JSON object");
        switch (r->kind) {
        case OP_BULK_REINSTALL:
                if (json_object_size(params) > 0)
                        return errbuf_fail(-EINVAL, err, errlen, "reinstall takes no parameters: \"params\" must be {} or absent");
                return 0;
        case OP_BULK_REBOOT:
                if (json_object_size(params) > 0)
                        return errbuf_fail(-EINVAL, err, errlen, "reboot takes no parameters: \"params\" must be {} or absent");
                return 0;
        case OP_BULK_POWER: {
                json_t *action = json_object_get(params, "action");
                r->action = json_is_string(action) ? one_of(power_actions, json_string_value(action)) : NULL;
                if (!r->action || json_object_size(params) != 1)
                        return errbuf_fail(-EINVAL, err, errlen,
                                           "power: \"params\" must be {\"action\": \"on|off|cycle|reset|soft|status\"}");
                return 0;
        }
        case OP_BULK_BOOTDEV: {
                json_t *device = json_object_get(params, "device"), *persistent = json_object_get(params, "persistent"),
                       *efi = json_object_get(params, "efi");
                size_t known = !!device + !!persistent + !!efi;
                r->device = json_is_string(device) ? one_of(boot_devices, json_string_value(device)) : NULL;
                if (!r->device || (persistent && !json_is_boolean(persistent)) || (efi && !json_is_boolean(efi)) ||
                    json_object_size(params) != known)
                        return errbuf_fail(-EINVAL, err, errlen,
                                           "bootdev: \"params\" must be {\"device\": \"pxe|disk|bios\", \"persistent\": bool, "
                                           "\"efi\": bool} (persistent and efi optional)");
                r->persistent = json_is_true(persistent);
                r->efi = efi ? json_is_true(efi) : -1;
                return 0;
        }
        default:
                return -EINVAL;
        }
}

typedef struct NameAt {
        const char *name;
        size_t index;
} NameAt;

static int name_at_compare(const void *a, const void *b) {
        const NameAt *x = a, *y = b;
        int c = strcmp(x->name, y->name);
        return c ? c : x->index < y->index ? -1 : x->index > y->index;
}

/* nodes: every element a node name, none twice (sorted copy: n log n for 4096 names). */
static int parse_nodes(OpBulkRequest *r, const json_t *nodes, size_t max, char *err, size_t errlen) {
        if (!json_is_array(nodes) || json_array_size(nodes) == 0)
                return errbuf_fail(-EINVAL, err, errlen, "\"nodes\" must be a non-empty array of node names");
        size_t n = json_array_size(nodes);
        if (n > max)
                return errbuf_fail(-EINVAL, err, errlen, "\"nodes\" names %zu nodes; at most %zu go in one request", n, max);
        _cleanup_free_ NameAt *sorted = calloc(n, sizeof *sorted);
        r->nodes = calloc(n, sizeof *r->nodes);
        if (!sorted || !r->nodes)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                const json_t *v = json_array_get(nodes, i);
                size_t len = json_is_string(v) ? json_string_length(v) : 0;
                const char *s = json_is_string(v) ? json_string_value(v) : NULL;
                if (!s || len == 0 || len > INVENTORY_NAME_MAX || strlen(s) != len)
                        return errbuf_fail(-EINVAL, err, errlen, "nodes[%zu] is not a node name (a string of 1 to %d bytes)",
                                           i, INVENTORY_NAME_MAX);
                if (!(r->nodes[i] = strdup(s)))
                        return -ENOMEM;
                r->n_nodes = i + 1;
                sorted[i] = (NameAt) { .name = r->nodes[i], .index = i };
        }
        qsort(sorted, n, sizeof *sorted, name_at_compare);
        for (size_t i = 1; i < n; i++)
                if (streq(sorted[i - 1].name, sorted[i].name))
                        return errbuf_fail(-EINVAL, err, errlen, "node \"%s\" is named twice in \"nodes\" (nodes[%zu] and nodes[%zu])",
                                           sorted[i].name, sorted[i - 1].index, sorted[i].index);
        return 0;
}

int op_bulk_parse(const json_t *body, size_t max_nodes, OpBulkRequest *ret, char *err, size_t errlen) {
        _cleanup_(op_bulk_request_done) OpBulkRequest r = { .efi = -1 };
        const char *key;
        json_t *v;
        int k;

        if (!json_is_object(body))
                return errbuf_fail(-EINVAL, err, errlen,
                                   "body must be {\"kind\": \"reinstall|power|bootdev|reboot\", \"params\": {...}, \"nodes\": [NAME...]}");
        json_object_foreach((json_t *) body, key, v)
                if (!streq(key, "kind") && !streq(key, "params") && !streq(key, "nodes"))
                        return errbuf_fail(-EINVAL, err, errlen, "unknown field \"%.64s\" (kind, params, nodes)", key);
        const json_t *kind = json_object_get(body, "kind");
        for (k = 0; k < _OP_BULK_KIND_MAX; k++)
                if (json_is_string(kind) && streq(json_string_value(kind), kind_names[k]))
                        break;
        if (k == _OP_BULK_KIND_MAX)
                return errbuf_fail(-EINVAL, err, errlen, "\"kind\" must be one of reinstall, power, bootdev, reboot%s%.32s%s",
                                   json_is_string(kind) ? ", not \"" : "", json_is_string(kind) ? json_string_value(kind) : "",
                                   json_is_string(kind) ? "\"" : "");
        r.kind = (OpBulkKind) k;
        int e = parse_params(&r, json_object_get(body, "params"), err, errlen);
        if (e < 0)
                return e;
        e = parse_nodes(&r, json_object_get(body, "nodes"), max_nodes ? max_nodes : OP_BULK_NODES_MAX, err, errlen);
        if (e < 0)
                return e;
        *ret = r;
        r = (OpBulkRequest) { 0 };
        return 0;
}

json_t *op_bulk_params_json(const OpBulkRequest *r) {
        switch (r->kind) {
        case OP_BULK_POWER:
                return json_pack("{s:s}", "action", r->action);
        case OP_BULK_BOOTDEV: {
                json_t *o = json_pack("{s:s, s:b}", "device", r->device, "persistent", r->persistent);
                if (o && r->efi >= 0 && json_object_set_new(o, "efi", json_boolean(r->efi)) < 0) {
                        json_decref(o);
                        return NULL;
                }
                return o;
        }
        default:
                return json_object();
        }
}
