/* http-routes.h — provd's URL grammar: the route table's row type and the matcher over a
 * table.  http.c holds the one table (http_route_table[], api/openapi.yaml is its contract);
 * from it come dispatch (which handler answers a method and path), the 405 answer's Allow
 * header and the metrics route label (MetricsRoute) of every request.
 *
 * A row is one method on one path pattern.  A pattern is literal text with at most one
 * parameter:
 *
 *   {x}   one path segment: any bytes but '/', possibly empty (HTTP_ROUTE_NONEMPTY: not empty);
 *   {x*}  the rest of the path, '/' included, possibly empty; only at the pattern's end.
 *
 * A parameter is a node name (HTTP_ROUTE_NODE), which may be followed by more of the pattern,
 * or it ends the pattern, so that it ends the path too and handlers get it in place.
 *
 * HEAD is allowed wherever GET is (RFC 9110 §9.3.2): a GET row answers HEAD; no row is HEAD.
 *
 * Pure functions over constant tables: any thread. */
#pragma once

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>

#include "metrics.h"

typedef struct Http Http;               /* http.c's server */
typedef struct HttpRequest HttpRequest; /* http.c's per-request state */

/* Methods, in the order an Allow header lists them. */
typedef enum HttpMethod {
        HTTP_METHOD_GET,
        HTTP_METHOD_HEAD,
        HTTP_METHOD_POST,
        HTTP_METHOD_PUT,
        HTTP_METHOD_DELETE,
        HTTP_METHOD_PATCH,
        _HTTP_METHOD_MAX,
        _HTTP_METHOD_INVALID = -1, /* any other method (OPTIONS, TRACE, extension methods) */
} HttpMethod;

/* Who may call a route (api/openapi.yaml's security of the operation, by the same names). */
typedef enum HttpAuth {
        HTTP_AUTH_OPEN,    /* anyone: boot routes, files, the page (firmware sends no token) */
        HTTP_AUTH_READ,    /* a read of cluster state: an API token when read_auth is on */
        HTTP_AUTH_ADMIN,   /* an API token, always */
        HTTP_AUTH_INSTALL, /* an install attempt's token: the handler checks it, in its order
                            * with the body's checks */
        HTTP_AUTH_NODE,    /* a node's credential: the handler checks it, likewise */
} HttpAuth;

/* HttpRoute.flags. */
enum {
        HTTP_ROUTE_OPS = 1u << 0,      /* only while provd has BMC operations (HttpConfig.ops) */
        HTTP_ROUTE_CONSOLE = 1u << 1,  /* only while provd has console capture (HttpConfig.console) */
        HTTP_ROUTE_NODE = 1u << 2,     /* the parameter is a node name: dispatch answers 404 "no node"
                                        * unless it has 1..INVENTORY_NAME_MAX bytes */
        HTTP_ROUTE_NONEMPTY = 1u << 3, /* the parameter does not match an empty segment */
};

/* The features of HttpRoute.flags a running server has or lacks: a row that needs a missing
 * one is no route at all (404). */
#define HTTP_ROUTE_FEATURES (HTTP_ROUTE_OPS | HTTP_ROUTE_CONSOLE)

/* A route's handler, called once the method, the authorisation (HTTP_AUTH_READ and
 * HTTP_AUTH_ADMIN) and a node name are checked.  method is GET, HEAD, POST, ... (HEAD on a GET
 * row); arg is the pattern's parameter (NUL-terminated; a node name is a copy, any other
 * points into the URL), NULL for a pattern without one.  Returns what MHD_queue_response()
 * returns. */
typedef enum MHD_Result (*HttpHandler)(Http *h, struct MHD_Connection *c, HttpRequest *req, HttpMethod method,
                                       const char *arg);

typedef struct HttpRoute {
        HttpMethod method;   /* GET (HEAD too), POST, PUT, DELETE or PATCH */
        const char *pattern; /* "/v1/nodes/{name}/history" */
        HttpAuth auth;
        MetricsRoute label;  /* the metrics route label of its requests */
        unsigned flags;      /* HTTP_ROUTE_* */
        HttpHandler handler;
} HttpRoute;

/* A row found for a request. */
typedef struct HttpRouteMatch {
        const HttpRoute *route;
        const char *param; /* where the parameter starts in the path, NULL: the pattern has none */
        size_t param_len;  /* its length */
} HttpRouteMatch;

/* Room for any Allow value: every method, ", "-separated, and the NUL. */
#define HTTP_ROUTES_ALLOW_MAX 64

/* The method named by s ("GET", case-sensitive: RFC 9110 §9.1), or _HTTP_METHOD_INVALID. */
HttpMethod http_method_from_string(const char *s);

/* "GET", "HEAD", ...; NULL for a value outside the enum. */
const char *http_method_to_string(HttpMethod m);

/* Matches path against pattern (the grammar above, flags: the row's HTTP_ROUTE_NONEMPTY).
 * Returns 1 on a match with *ret_param and *ret_param_len set (NULL and 0 for a pattern
 * without a parameter; both may be NULL), 0 when path does not match, -EINVAL for a pattern
 * the grammar does not allow. */
int http_routes_match(const char *pattern, unsigned flags, const char *path, const char **ret_param,
                      size_t *ret_param_len);

/* The row of routes[0..n) for method on path, among the rows whose features (HTTP_ROUTE_FEATURES
 * of their flags) are all in `features`; HEAD finds a GET row.  Returns 0 and *ret; -ENOENT
 * when no such row's pattern matches path (404); -EOPNOTSUPP when some do but none has the
 * method (405: http_routes_allow() says which methods it has). */
int http_routes_find(const HttpRoute *routes, size_t n, unsigned features, HttpMethod method, const char *path,
                     HttpRouteMatch *ret);

/* The Allow header value of path (RFC 9110 §10.2.1): the methods of the rows that match it
 * (among those present with `features`, as for http_routes_find()), HEAD with GET, in
 * HttpMethod order, ", "-separated ("GET, HEAD, POST, DELETE"), into buf of `size` bytes
 * (HTTP_ROUTES_ALLOW_MAX is always enough).  Returns the number of methods (0: no row
 * matches, buf ""), or -ENOBUFS when buf is too small. */
int http_routes_allow(const HttpRoute *routes, size_t n, unsigned features, const char *path, char *buf, size_t size);

/* The metrics route label of a request for path, whatever its method and whether or not the
 * server has the rows' features: the label of the first row of routes[0..n) whose pattern
 * matches path; for a path no pattern matches, that of the first row with a parameter whose
 * pattern's text before the parameter starts path (a 404 under "/v1/nodes/" counts as
 * "nodes"); else METRICS_ROUTE_OTHER. */
MetricsRoute http_routes_label(const HttpRoute *routes, size_t n, const char *path);
