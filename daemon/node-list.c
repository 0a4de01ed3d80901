/* node-list.c — see node-list.h. */
#include "node-list.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

typedef enum NodeListPhase {
        PHASE_HEAD,  /* {"nodes":[ */
        PHASE_NODES, /* the page's nodes, a piece per call */
        PHASE_PEEK,  /* the page is full: is there a node after it? */
        PHASE_TAIL,  /* ],"next":... */
        PHASE_DONE,
} NodeListPhase;

struct NodeList {
        Daemon *d; /* borrowed */
        DaemonNodeFilter filter; /* its strings point to the copies below */
        char *name_glob, *rack;  /* owned */
        char after[INVENTORY_NAME_MAX + 1]; /* where the next piece starts */
        char last[INVENTORY_NAME_MAX + 1];  /* the last node sent: the next page's cursor */
        size_t left;                        /* nodes the page may still take */
        size_t sent;                        /* nodes sent */
        bool more;                          /* a matching node follows the page */
        NodeListPhase phase;
        char *text; /* owned: JSON text not yet handed to libmicrohttpd */
        size_t len, off, cap;
        uint64_t bytes;
};

void node_list_cursor_encode(const char *name, char ret[static NODE_LIST_CURSOR_MAX]) {
        size_t n = strnlen(name, INVENTORY_NAME_MAX);
        sodium_bin2base64(ret, NODE_LIST_CURSOR_MAX, (const unsigned char *) name, n,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

int node_list_cursor_decode(const char *text, char ret[static INVENTORY_NAME_MAX + 1], char *err, size_t errlen) {
        unsigned char raw[INVENTORY_NAME_MAX + 1];
        size_t n = 0;
        const char *end = NULL;
        size_t len = strlen(text);
        if (len == 0 || len >= NODE_LIST_CURSOR_MAX ||
            sodium_base642bin(raw, sizeof raw - 1, text, len, NULL, &n, &end, sodium_base64_VARIANT_URLSAFE_NO_PADDING) !=
                    0 ||
            end != text + len || n == 0)
                return errbuf_fail(-EINVAL, err, errlen,
                                   "cursor must be the \"next\" of an earlier answer of GET /v1/nodes, not \"%.32s\"",
                                   text);
        for (size_t i = 0; i < n; i++)
                if (raw[i] < 0x20 || raw[i] == 0x7f)
                        return errbuf_fail(-EINVAL, err, errlen,
                                           "cursor must be the \"next\" of an earlier answer of GET /v1/nodes, not \"%.32s\"",
                                           text);
        memcpy(ret, raw, n);
        ret[n] = '\0';
        return 0;
}

static void node_list_free(void *cls) {
        NodeList *nl = cls;
        free(nl->name_glob);
        free(nl->rack);
        free(nl->text);
        free(nl);
}

/* Appends n bytes of s to the text to send. */
static int append(NodeList *nl, const char *s, size_t n) {
        if (nl->len + n > nl->cap) {
                size_t cap = nl->cap ? nl->cap : 4096;
                while (cap < nl->len + n)
                        cap *= 2;
                char *t = realloc(nl->text, cap);
                if (!t)
                        return -ENOMEM;
                nl->text = t;
                nl->cap = cap;
        }
        memcpy(nl->text + nl->len, s, n);
        nl->len += n;
        return 0;
}

static int append_str(NodeList *nl, const char *s) {
        return append(nl, s, strlen(s));
}

static int dump_cb(const char *buffer, size_t size, void *data) {
        return append(data, buffer, size) < 0 ? -1 : 0;
}

/* The next piece of the page's nodes.  It asks for one node more than the page still takes
 * when that fits in the piece: if that one comes, the page ends here with a next page, and no
 * further look under the lock is needed to find that out. */
static int fill_nodes(NodeList *nl) {
        _cleanup_(json_decrefp) json_t *arr = json_array();
        bool end;
        if (!arr)
                return -ENOMEM;
        size_t max = nl->left < DAEMON_NODES_SCAN ? nl->left + 1 : DAEMON_NODES_SCAN;
        int r = daemon_nodes_scan(nl->d, &nl->filter, nl->after, max, arr, nl->after, &end);
        if (r < 0)
                return r;
        size_t n = (size_t) r > nl->left ? nl->left : (size_t) r;
        for (size_t i = 0; i < n; i++) {
                if ((nl->sent > 0 && append(nl, ",", 1) < 0) ||
                    json_dump_callback(json_array_get(arr, i), dump_cb, nl, JSON_COMPACT) < 0)
                        return -ENOMEM;
                nl->sent++;
        }
        if (n > 0)
                snprintf(nl->last, sizeof nl->last, "%s", json_string_value(json_object_get(json_array_get(arr, n - 1), "name")));
        nl->left -= n;
        if ((size_t) r > n) { /* the one more: the page is full and a node follows */
                nl->more = true;
                nl->phase = PHASE_TAIL;
        } else if (end)
                nl->phase = PHASE_TAIL;
        else if (nl->left == 0)
                nl->phase = PHASE_PEEK;
        return 0;
}

/* The page is full: one more matching node means a next page. */
static int peek(NodeList *nl) {
        _cleanup_(json_decrefp) json_t *arr = json_array();
        bool end;
        if (!arr)
                return -ENOMEM;
        int r = daemon_nodes_scan(nl->d, &nl->filter, nl->after, 1, arr, nl->after, &end);
        if (r < 0)
                return r;
        nl->more = r > 0;
        if (nl->more || end)
                nl->phase = PHASE_TAIL;
        return 0;
}

static int fill(NodeList *nl) {
        switch (nl->phase) {
        case PHASE_HEAD:
                nl->phase = PHASE_NODES;
                return append_str(nl, "{\"nodes\":[");
        case PHASE_NODES:
                return fill_nodes(nl);
        case PHASE_PEEK:
                return peek(nl);
        case PHASE_TAIL: {
                char cursor[NODE_LIST_CURSOR_MAX];
                nl->phase = PHASE_DONE;
                if (!nl->more)
                        return append_str(nl, "],\"next\":null}\n");
                node_list_cursor_encode(nl->last, cursor);
                if (append_str(nl, "],\"next\":\"") < 0 || append_str(nl, cursor) < 0)
                        return -ENOMEM;
                return append_str(nl, "\"}\n");
        }
        case PHASE_DONE:
                break;
        }
        return 0;
}

/* libmicrohttpd's content reader: the text in hand, else the next piece. */
static ssize_t node_list_read(void *cls, uint64_t pos, char *buf, size_t max) {
        NodeList *nl = cls;
        while (nl->off == nl->len) {
                if (nl->phase == PHASE_DONE)
                        return MHD_CONTENT_READER_END_OF_STREAM;
                nl->off = nl->len = 0;
                if (fill(nl) < 0) {
                        log_error("GET /v1/nodes: out of memory mid-answer: ending the connection");
                        return MHD_CONTENT_READER_END_WITH_ERROR;
                }
        }
        size_t n = nl->len - nl->off < max ? nl->len - nl->off : max;
        memcpy(buf, nl->text + nl->off, n);
        nl->off += n;
        nl->bytes += n;
        return (ssize_t) n;
}

struct MHD_Response *node_list_response(Daemon *d, const DaemonNodeFilter *filter, const char *after, size_t limit,
                                        NodeList **ret_list) {
        NodeList *nl = calloc(1, sizeof *nl);
        if (!nl)
                return NULL;
        *nl = (NodeList) { .d = d, .left = limit, .phase = PHASE_HEAD };
        if (filter) {
                nl->filter = *filter;
                if ((filter->name_glob && !(nl->name_glob = strdup(filter->name_glob))) ||
                    (filter->rack && !(nl->rack = strdup(filter->rack)))) {
                        node_list_free(nl);
                        return NULL;
                }
                nl->filter.name_glob = nl->name_glob;
                nl->filter.rack = nl->rack;
        }
        snprintf(nl->after, sizeof nl->after, "%s", after ? after : "");
        struct MHD_Response *resp =
                MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 32 * 1024, node_list_read, nl, node_list_free);
        if (!resp) {
                node_list_free(nl);
                return NULL;
        }
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
        *ret_list = nl;
        return resp;
}

uint64_t node_list_completed(NodeList *nl) {
        return nl->bytes;
}
