/* test-http-routes.c — unit tests for http-routes.c and provd's route table (http.c's
 * http_route_table[]): the pattern grammar, that every row matches its own pattern and no
 * other row's, path parameters, 404 vs 405, the Allow sets, and the metrics labels, those of
 * unknown paths included. */
#include "check-main.h"
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "http-routes.h"
#include "http.h"
#include "util.h"

#define T http_route_table
#define N http_route_table_size
#define ALL HTTP_ROUTE_FEATURES

/* A path the row's pattern matches: its parameter "p", or "a/b" for a {x*}; the parameter's
 * value into *ret_value. */
static void example_path(const HttpRoute *r, char *buf, size_t size, const char **ret_value) {
        const char *open = strchr(r->pattern, '{'), *close = open ? strchr(open, '}') : NULL;
        if (!open) {
                snprintf(buf, size, "%s", r->pattern);
                *ret_value = NULL;
                return;
        }
        *ret_value = close[-1] == '*' ? "a/b" : "p";
        snprintf(buf, size, "%.*s%s%s", (int) (open - r->pattern), r->pattern, *ret_value, close + 1);
}

START_TEST(test_grammar) {
        const char *param = (const char *) 1;
        size_t len = 99;
        ck_assert_int_eq(http_routes_match("/v1/nodes", 0, "/v1/nodes", &param, &len), 1);
        ck_assert_ptr_null(param);
        ck_assert_uint_eq(len, 0);
        ck_assert_int_eq(http_routes_match("/v1/nodes", 0, "/v1/nodes/", NULL, NULL), 0);
        ck_assert_int_eq(http_routes_match("/v1/nodes", 0, "/v1/node", NULL, NULL), 0);
        ck_assert_int_eq(http_routes_match("/v1/nodes", 0, "/V1/nodes", NULL, NULL), 0);

        const char *path = "/v1/nodes/node-01/history";
        ck_assert_int_eq(http_routes_match("/v1/nodes/{name}/history", 0, path, &param, &len), 1);
        ck_assert_ptr_eq(param, path + strlen("/v1/nodes/"));
        ck_assert_uint_eq(len, strlen("node-01"));
        /* {x} is one segment: no '/' in it, nothing after the suffix */
        ck_assert_int_eq(http_routes_match("/v1/nodes/{name}/history", 0, "/v1/nodes/a/b/history", NULL, NULL), 0);
        ck_assert_int_eq(http_routes_match("/v1/nodes/{name}/history", 0, "/v1/nodes/a/history/", NULL, NULL), 0);
        ck_assert_int_eq(http_routes_match("/v1/nodes/{name}", 0, "/v1/nodes/a/", NULL, NULL), 0);
        ck_assert_int_eq(http_routes_match("/v1/nodes/{name}", 0, "/v1/nodesa", NULL, NULL), 0);
        /* empty: matches unless HTTP_ROUTE_NONEMPTY */
        ck_assert_int_eq(http_routes_match("/v1/nodes/{name}/history", 0, "/v1/nodes//history", &param, &len), 1);
        ck_assert_uint_eq(len, 0);
        ck_assert_int_eq(http_routes_match("/v1/boot/{mac}", 0, "/v1/boot/", &param, &len), 1);
        ck_assert_uint_eq(len, 0);
        ck_assert_int_eq(http_routes_match("/v1/discovered/{mac}", HTTP_ROUTE_NONEMPTY, "/v1/discovered/", NULL, NULL), 0);
        ck_assert_int_eq(http_routes_match("/v1/discovered/{mac}", HTTP_ROUTE_NONEMPTY, "/v1/discovered/x", NULL, NULL), 1);
        /* {x*}: the rest, slashes included, possibly empty */
        path = "/v1/files/nix/store/x-linux/bzImage";
        ck_assert_int_eq(http_routes_match("/v1/files/{path*}", 0, path, &param, &len), 1);
        ck_assert_str_eq(param, "nix/store/x-linux/bzImage");
        ck_assert_uint_eq(len, strlen(param));
        ck_assert_int_eq(http_routes_match("/v1/files/{path*}", 0, "/v1/files/", &param, &len), 1);
        ck_assert_uint_eq(len, 0);
        ck_assert_int_eq(http_routes_match("/v1/files/{path*}", 0, "/v1/files", NULL, NULL), 0);
        /* patterns the grammar refuses */
        static const char *const bad[] = { "/a/{x", "/a/{}", "/a/{x*}/b", "/a/{x}/{y}", "/a/{x/y}" };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                ck_assert_msg(http_routes_match(bad[i], 0, "/a/b", NULL, NULL) == -EINVAL, "pattern %s", bad[i]);
}
END_TEST

START_TEST(test_methods) {
        for (HttpMethod m = 0; m < _HTTP_METHOD_MAX; m++)
                ck_assert_int_eq(http_method_from_string(http_method_to_string(m)), m);
        ck_assert_int_eq(http_method_from_string("GET"), HTTP_METHOD_GET);
        ck_assert_int_eq(http_method_from_string("get"), _HTTP_METHOD_INVALID); /* RFC 9110 §9.1 */
        ck_assert_int_eq(http_method_from_string("OPTIONS"), _HTTP_METHOD_INVALID);
        ck_assert_int_eq(http_method_from_string(""), _HTTP_METHOD_INVALID);
        ck_assert_ptr_null(http_method_to_string(_HTTP_METHOD_INVALID));
        ck_assert_ptr_null(http_method_to_string(_HTTP_METHOD_MAX));
}
END_TEST

/* The table's own rules (http-routes.h): valid patterns, no HEAD row, no row twice, a
 * parameter other than a node name at the pattern's end, a node row with a parameter. */
START_TEST(test_table_rules) {
        ck_assert_uint_ge(N, 20);
        for (size_t i = 0; i < N; i++) {
                const HttpRoute *r = &T[i];
                ck_assert_msg(r->pattern[0] == '/', "row %zu: %s", i, r->pattern);
                ck_assert_msg(http_routes_match(r->pattern, r->flags, "/", NULL, NULL) >= 0, "row %zu: bad pattern %s", i,
                              r->pattern);
                ck_assert_msg(r->method >= 0 && r->method < _HTTP_METHOD_MAX && r->method != HTTP_METHOD_HEAD,
                              "row %zu: method %d", i, r->method);
                ck_assert_msg(r->handler, "row %zu: no handler", i);
                ck_assert_msg(r->label >= 0 && r->label < METRICS_ROUTE_OTHER, "row %zu: label %d", i, r->label);
                const char *close = strchr(r->pattern, '}');
                if (r->flags & HTTP_ROUTE_NODE)
                        ck_assert_msg(close, "row %zu: a node row without a parameter: %s", i, r->pattern);
                else if (close)
                        ck_assert_msg(close[1] == '\0', "row %zu: parameter not at the end: %s", i, r->pattern);
                for (size_t j = 0; j < i; j++)
                        ck_assert_msg(!(T[j].method == r->method && streq(T[j].pattern, r->pattern)), "rows %zu and %zu: %s %s",
                                      j, i, http_method_to_string(r->method), r->pattern);
        }
}
END_TEST

/* Every row matches its own pattern, with its parameter, and no row of another pattern matches
 * that path, so the table's order never decides which row answers. */
START_TEST(test_rows_match_themselves) {
        for (size_t i = 0; i < N; i++) {
                char path[256];
                const char *value;
                example_path(&T[i], path, sizeof path, &value);
                HttpRouteMatch m;
                ck_assert_msg(http_routes_find(T, N, ALL, T[i].method, path, &m) == 0, "%s", path);
                ck_assert_ptr_eq(m.route, &T[i]);
                if (value) {
                        ck_assert_uint_eq(m.param_len, strlen(value));
                        ck_assert_msg(strncmp(m.param, value, m.param_len) == 0, "%s: %s", path, m.param);
                } else
                        ck_assert_ptr_null(m.param);
                if (T[i].method == HTTP_METHOD_GET) {
                        ck_assert_int_eq(http_routes_find(T, N, ALL, HTTP_METHOD_HEAD, path, &m), 0);
                        ck_assert_ptr_eq(m.route, &T[i]);
                }
                ck_assert_int_eq(http_routes_label(T, N, path), T[i].label);
                for (size_t j = 0; j < N; j++)
                        if (!streq(T[j].pattern, T[i].pattern))
                                ck_assert_msg(http_routes_match(T[j].pattern, T[j].flags, path, NULL, NULL) == 0,
                                              "%s matches %s and %s", path, T[i].pattern, T[j].pattern);
                        else
                                ck_assert_msg(T[j].label == T[i].label, "%s: two labels", T[i].pattern);
        }
}
END_TEST

START_TEST(test_find) {
        HttpRouteMatch m;
        /* 404: no pattern matches */
        static const char *const unknown[] = { "", "/v1", "/v1/", "/index.html", "/v1/nodes/a/b", "/v1/boot/a/b", "/v1/nodesX",
                                               "/v1/operationsX", "/v1/discovered/", "/v1/discovered/a/b", "/metrics/", "//" };
        for (size_t i = 0; i < ELEMENTSOF(unknown); i++)
                for (HttpMethod meth = 0; meth < _HTTP_METHOD_MAX; meth++)
                        ck_assert_msg(http_routes_find(T, N, ALL, meth, unknown[i], &m) == -ENOENT, "%s", unknown[i]);
        /* 405: the path is a route, the method is not */
        ck_assert_int_eq(http_routes_find(T, N, ALL, HTTP_METHOD_POST, "/v1/summary", &m), -EOPNOTSUPP);
        ck_assert_int_eq(http_routes_find(T, N, ALL, _HTTP_METHOD_INVALID, "/v1/summary", &m), -EOPNOTSUPP);
        ck_assert_int_eq(http_routes_find(T, N, ALL, HTTP_METHOD_GET, "/v1/reload", &m), -EOPNOTSUPP);
        ck_assert_int_eq(http_routes_find(T, N, ALL, HTTP_METHOD_HEAD, "/v1/install/events", &m), -EOPNOTSUPP);
        ck_assert_int_eq(http_routes_find(T, N, ALL, HTTP_METHOD_PUT, "/v1/nodes/x/console", &m), -EOPNOTSUPP);
        /* a row missing a feature is no route at all */
        ck_assert_int_eq(http_routes_find(T, N, ALL, HTTP_METHOD_GET, "/v1/operations", &m), 0);
        ck_assert_int_eq(http_routes_find(T, N, 0, HTTP_METHOD_GET, "/v1/operations", &m), -ENOENT);
        ck_assert_int_eq(http_routes_find(T, N, HTTP_ROUTE_CONSOLE, HTTP_METHOD_POST, "/v1/nodes/x/reinstall", &m), -ENOENT);
        ck_assert_int_eq(http_routes_find(T, N, HTTP_ROUTE_OPS, HTTP_METHOD_GET, "/v1/nodes/x/console", &m), -ENOENT);
        ck_assert_int_eq(http_routes_find(T, N, HTTP_ROUTE_CONSOLE, HTTP_METHOD_DELETE, "/v1/nodes/x/console", &m), 0);
        ck_assert_int_eq(http_routes_find(T, N, 0, HTTP_METHOD_DELETE, "/v1/nodes/x/credential", &m), 0);
        /* parameters: in place, empty ones included */
        const char *path = "/v1/boot/52:54:00:00:00:01";
        ck_assert_int_eq(http_routes_find(T, N, 0, HTTP_METHOD_GET, path, &m), 0);
        ck_assert_str_eq(m.route->pattern, "/v1/boot/{mac}");
        ck_assert_ptr_eq(m.param, path + strlen("/v1/boot/"));
        ck_assert_int_eq(http_routes_find(T, N, 0, HTTP_METHOD_GET, "/v1/boot/", &m), 0);
        ck_assert_uint_eq(m.param_len, 0);
        ck_assert_int_eq(http_routes_find(T, N, ALL, HTTP_METHOD_POST, "/v1/nodes//report", &m), 0);
        ck_assert_uint_eq(m.param_len, 0);
        ck_assert_int_eq(m.route->flags & HTTP_ROUTE_NODE, HTTP_ROUTE_NODE);
        ck_assert_int_eq(http_routes_find(T, N, ALL, HTTP_METHOD_GET, "/v1/operations/", &m), 0);
        ck_assert_str_eq(m.route->pattern, "/v1/operations/{id}");
        ck_assert_int_eq(http_routes_find(T, N, 0, HTTP_METHOD_GET, "/v1/files/nix/store/a/initrd", &m), 0);
        ck_assert_str_eq(m.param, "nix/store/a/initrd");
        ck_assert_int_eq(m.param[-1], '/');
        /* auth levels the dispatcher acts on */
        ck_assert_int_eq(http_routes_find(T, N, ALL, HTTP_METHOD_POST, "/v1/reload", &m), 0);
        ck_assert_int_eq(m.route->auth, HTTP_AUTH_ADMIN);
        ck_assert_int_eq(http_routes_find(T, N, ALL, HTTP_METHOD_GET, "/metrics", &m), 0);
        ck_assert_int_eq(m.route->auth, HTTP_AUTH_READ);
        ck_assert_int_eq(http_routes_find(T, N, ALL, HTTP_METHOD_GET, "/v1/ipxe", &m), 0);
        ck_assert_int_eq(m.route->auth, HTTP_AUTH_OPEN);
}
END_TEST

static void assert_allow(unsigned features, const char *path, const char *want) {
        char buf[HTTP_ROUTES_ALLOW_MAX];
        int n = http_routes_allow(T, N, features, path, buf, sizeof buf);
        ck_assert_msg(streq(buf, want), "%s: Allow \"%s\", not \"%s\"", path, buf, want);
        int commas = 0;
        for (const char *p = want; *p; p++)
                commas += *p == ',';
        ck_assert_int_eq(n, *want ? commas + 1 : 0);
}

START_TEST(test_allow) {
        assert_allow(ALL, "/", "GET, HEAD");
        assert_allow(ALL, "/v1/boot/52:54:00:00:00:01", "GET, HEAD");
        assert_allow(ALL, "/v1/files/a/b/c", "GET, HEAD");
        assert_allow(ALL, "/v1/install/events", "POST");
        assert_allow(ALL, "/v1/reload", "POST");
        assert_allow(ALL, "/v1/nodes/node-01", "GET, HEAD");
        assert_allow(ALL, "/v1/nodes/node-01/console", "GET, HEAD, POST, DELETE");
        assert_allow(HTTP_ROUTE_OPS, "/v1/nodes/node-01/console", "");
        assert_allow(ALL, "/v1/nodes/node-01/credential", "DELETE");
        assert_allow(ALL, "/v1/nodes/node-01/power", "POST");
        assert_allow(HTTP_ROUTE_CONSOLE, "/v1/nodes/node-01/power", "");
        assert_allow(ALL, "/v1/discovered", "GET, HEAD");
        assert_allow(ALL, "/v1/discovered/52:54:00:00:00:09", "DELETE");
        assert_allow(ALL, "/v1/discovered/", "");
        assert_allow(ALL, "/nope", "");
        /* every row's path: its method is in its Allow, HEAD with GET */
        for (size_t i = 0; i < N; i++) {
                char path[256], buf[HTTP_ROUTES_ALLOW_MAX];
                const char *value;
                example_path(&T[i], path, sizeof path, &value);
                ck_assert_int_ge(http_routes_allow(T, N, ALL, path, buf, sizeof buf), 1);
                ck_assert_msg(strstr(buf, http_method_to_string(T[i].method)), "%s: %s", path, buf);
                if (T[i].method == HTTP_METHOD_GET)
                        ck_assert_msg(strstr(buf, "GET, HEAD"), "%s: %s", path, buf);
        }
        char small[8];
        ck_assert_int_eq(http_routes_allow(T, N, ALL, "/v1/nodes/x/console", small, sizeof small), -ENOBUFS);
        ck_assert_int_eq(http_routes_allow(T, N, ALL, "/v1/nodes/x/console", small, 0), -ENOBUFS);
}
END_TEST

START_TEST(test_labels) {
        static const struct {
                const char *path;
                MetricsRoute label;
        } cases[] = {
                { "/", METRICS_ROUTE_STATUS_PAGE },
                { "/v1/boot/52:54:00:00:00:01", METRICS_ROUTE_BOOT },
                { "/v1/ipxe", METRICS_ROUTE_IPXE },
                { "/v1/ipxe.efi", METRICS_ROUTE_FILES },
                { "/v1/files/a/b", METRICS_ROUTE_FILES },
                { "/v1/install/events", METRICS_ROUTE_INSTALL_EVENTS },
                { "/v1/install/credential", METRICS_ROUTE_NODE_REPORTS },
                { "/v1/nodes/n/report", METRICS_ROUTE_NODE_REPORTS },
                { "/v1/nodes/n/credential", METRICS_ROUTE_NODE_REPORTS },
                { "/v1/nodes/n/reinstall", METRICS_ROUTE_OPERATIONS },
                { "/v1/nodes/n/console", METRICS_ROUTE_NODES },
                { "/v1/nodes/n/history", METRICS_ROUTE_NODES },
                { "/v1/nodes", METRICS_ROUTE_NODES },
                { "/v1/reload", METRICS_ROUTE_ADMIN },
                { "/v1/operations/7", METRICS_ROUTE_OPERATIONS },
                { "/v1/discovered", METRICS_ROUTE_DISCOVERED },
                { "/metrics", METRICS_ROUTE_METRICS },
                /* unknown paths: the family of the parameterised prefix they are under, else other */
                { "/v1/boot/a/b", METRICS_ROUTE_BOOT },
                { "/v1/nodes/n/bogus", METRICS_ROUTE_NODES },
                { "/v1/nodes/a/b/report", METRICS_ROUTE_NODES },
                { "/v1/operations/1/x", METRICS_ROUTE_OPERATIONS },
                { "/v1/discovered/", METRICS_ROUTE_DISCOVERED },
                { "/v1/discovered/a/b", METRICS_ROUTE_DISCOVERED },
                { "/v1/nodesX", METRICS_ROUTE_OTHER },
                { "/v1/operationsX", METRICS_ROUTE_OTHER },
                { "/v1/summary/", METRICS_ROUTE_OTHER },
                { "/metrics/", METRICS_ROUTE_OTHER },
                { "/v1", METRICS_ROUTE_OTHER },
                { "/v1/", METRICS_ROUTE_OTHER },
                { "/index.html", METRICS_ROUTE_OTHER },
                { "", METRICS_ROUTE_OTHER },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                ck_assert_msg(http_routes_label(T, N, cases[i].path) == cases[i].label, "%s: label %d, not %d", cases[i].path,
                              http_routes_label(T, N, cases[i].path), cases[i].label);
}
END_TEST

static Suite *http_routes_suite(void) {
        Suite *s = suite_create("http-routes");
        TCase *tc = tcase_create("http-routes");
        tcase_add_test(tc, test_grammar);
        tcase_add_test(tc, test_methods);
        tcase_add_test(tc, test_table_rules);
        tcase_add_test(tc, test_rows_match_themselves);
        tcase_add_test(tc, test_find);
        tcase_add_test(tc, test_allow);
        tcase_add_test(tc, test_labels);
        suite_add_tcase(s, tc);
        return s;
}

CHECK_MAIN(http_routes_suite)
