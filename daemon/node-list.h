/* node-list.h — the answer of GET /v1/nodes: one page of the node list in name order,
 * {"nodes": [summary...], "next": cursor or null}, streamed as libmicrohttpd asks for more
 * (a callback response, chunked), built from pieces of at most DAEMON_NODES_SCAN nodes
 * (daemon_nodes_scan()), so the daemon's lock is never held for more than one piece and no
 * answer is ever held whole in memory.
 *
 * Paging: `limit` nodes per page (NODE_LIST_LIMIT_DEFAULT, at most NODE_LIST_LIMIT_MAX);
 * "next" is an opaque cursor (the page's last name, base64url without padding, RFC 4648 §5)
 * to pass as ?cursor= for the next page, or null on the last page.  A cursor names a position
 * in name order, not a node, so reloads between pages neither repeat nor skip a node that
 * stays in the inventory.
 *
 * Threads: node_list_response() on a libmicrohttpd worker; the stream then runs on the
 * worker of its connection.  node_list_completed() in libmicrohttpd's notify-completed. */
#pragma once

#include <microhttpd.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon.h"
#include "inventory.h"

/* Nodes per page when the client does not say: ~130 KB of JSON, a few ms to build and send,
 * so a client that wants one screenful waits for one screenful; 10 requests for the whole of
 * a 10,000-node cluster. */
#define NODE_LIST_LIMIT_DEFAULT 1000
/* At most: ~1.3 MB and some tens of ms of one worker's time per answer (the worker serves
 * its other connections after it; the lock is held per piece whatever the limit). */
#define NODE_LIST_LIMIT_MAX 10000

/* A cursor's text: base64url of at most INVENTORY_NAME_MAX bytes, and its NUL. */
#define NODE_LIST_CURSOR_MAX ((INVENTORY_NAME_MAX + 2) / 3 * 4 + 1)

typedef struct NodeList NodeList;

/* The cursor of a page that ends with node `name` (1..INVENTORY_NAME_MAX bytes) into ret. */
void node_list_cursor_encode(const char *name, char ret[static NODE_LIST_CURSOR_MAX]);

/* Decodes ?cursor= `text` into the name it carries (ret, NUL-terminated).  -EINVAL when it is
 * not a cursor provd makes (not base64url, empty, longer than a name, or holding a NUL or a
 * control character); `err` then says so, naming the parameter. */
int node_list_cursor_decode(const char *text, char ret[static INVENTORY_NAME_MAX + 1], char *err, size_t errlen);

/* A 200 response (application/json, no-store) streaming the page of at most `limit` (1 ..
 * NODE_LIST_LIMIT_MAX) nodes matching `filter` (copied; NULL: all) after name `after` (NULL
 * or "": from the first) from d (borrowed; must outlive the response).  The response owns
 * the stream; *ret_list is borrowed until node_list_completed().  NULL when out of memory.
 * A failure mid-stream (out of memory) ends the connection without the body's end, so a
 * client never takes a cut list for a whole one. */
struct MHD_Response *node_list_response(Daemon *d, const DaemonNodeFilter *filter, const char *after, size_t limit,
                                        NodeList **ret_list);

/* The request of `nl` completed (before its response is freed): the body bytes it sent. */
uint64_t node_list_completed(NodeList *nl);
