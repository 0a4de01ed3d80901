/* http-routes.c — see http-routes.h. */
#include "http-routes.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

static const char *const method_names[_HTTP_METHOD_MAX] = {
        [HTTP_METHOD_GET] = "GET",       [HTTP_METHOD_HEAD] = "HEAD",     [HTTP_METHOD_POST] = "POST",
        [HTTP_METHOD_PUT] = "PUT",       [HTTP_METHOD_DELETE] = "DELETE", [HTTP_METHOD_PATCH] = "PATCH",
};

HttpMethod http_method_from_string(const char *s) {
        for (HttpMethod m = 0; m < _HTTP_METHOD_MAX; m++)
                if (streq(s, method_names[m]))
                        return m;
        return _HTTP_METHOD_INVALID;
}

const char *http_method_to_string(HttpMethod m) {
        return m >= 0 && m < _HTTP_METHOD_MAX ? method_names[m] : NULL;
}

int http_routes_match(const char *pattern, unsigned flags, const char *path, const char **ret_param,
                      size_t *ret_param_len) {
        const char *open = strchr(pattern, '{');
        const char *param = NULL;
        size_t len = 0;

        if (!open) {
                if (!streq(pattern, path))
                        return 0;
        } else {
                const char *close = strchr(open, '}');
                if (!close || close == open + 1 || strchr(close + 1, '{') || memchr(open + 1, '/', (size_t) (close - open)))
                        return -EINVAL;
                bool rest = close[-1] == '*';
                const char *suffix = close + 1;
                if (rest && *suffix)
                        return -EINVAL; /* {x*} only at the end */
                size_t prefix_len = (size_t) (open - pattern);
                if (strncmp(path, pattern, prefix_len) != 0)
                        return 0;
                param = path + prefix_len;
                len = rest ? strlen(param) : strcspn(param, "/");
                if (!streq(param + len, suffix))
                        return 0;
                if (len == 0 && (flags & HTTP_ROUTE_NONEMPTY))
                        return 0;
        }
        if (ret_param)
                *ret_param = param;
        if (ret_param_len)
                *ret_param_len = len;
        return 1;
}

/* Whether the row is served with `features`. */
static bool row_present(const HttpRoute *r, unsigned features) {
        return (r->flags & HTTP_ROUTE_FEATURES & ~features) == 0;
}

int http_routes_find(const HttpRoute *routes, size_t n, unsigned features, HttpMethod method, const char *path,
                     HttpRouteMatch *ret) {
        HttpMethod want = method == HTTP_METHOD_HEAD ? HTTP_METHOD_GET : method;
        bool path_matched = false;

        for (size_t i = 0; i < n; i++) {
                const char *param;
                size_t len;
                if (!row_present(&routes[i], features) ||
                    http_routes_match(routes[i].pattern, routes[i].flags, path, &param, &len) <= 0)
                        continue;
                path_matched = true;
                if (routes[i].method != want)
                        continue;
                *ret = (HttpRouteMatch) { .route = &routes[i], .param = param, .param_len = len };
                return 0;
        }
        return path_matched ? -EOPNOTSUPP : -ENOENT;
}

int http_routes_allow(const HttpRoute *routes, size_t n, unsigned features, const char *path, char *buf, size_t size) {
        bool has[_HTTP_METHOD_MAX] = { false };
        for (size_t i = 0; i < n; i++)
                if (row_present(&routes[i], features) && routes[i].method >= 0 && routes[i].method < _HTTP_METHOD_MAX &&
                    http_routes_match(routes[i].pattern, routes[i].flags, path, NULL, NULL) > 0)
                        has[routes[i].method] = true;
        has[HTTP_METHOD_HEAD] = has[HTTP_METHOD_HEAD] || has[HTTP_METHOD_GET];

        size_t off = 0;
        int count = 0;
        if (size == 0)
                return -ENOBUFS;
        buf[0] = '\0';
        for (HttpMethod m = 0; m < _HTTP_METHOD_MAX; m++) {
                if (!has[m])
                        continue;
                int k = snprintf(buf + off, size - off, "%s%s", count ? ", " : "", method_names[m]);
                if (k < 0 || (size_t) k >= size - off)
                        return -ENOBUFS;
                off += (size_t) k;
                count++;
        }
        return count;
}

MetricsRoute http_routes_label(const HttpRoute *routes, size_t n, const char *path) {
        for (size_t i = 0; i < n; i++)
                if (http_routes_match(routes[i].pattern, routes[i].flags, path, NULL, NULL) > 0)
                        return routes[i].label;
        for (size_t i = 0; i < n; i++) {
                const char *open = strchr(routes[i].pattern, '{');
                if (open && strncmp(path, routes[i].pattern, (size_t) (open - routes[i].pattern)) == 0)
                        return routes[i].label;
        }
        return METRICS_ROUTE_OTHER;
}
