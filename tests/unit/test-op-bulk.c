/* test-op-bulk.c — unit tests for op-bulk.c: parsing and checking the body of a bulk
 * operation request (kind, params, nodes), and the message of each refusal. */
#include "check-main.h"
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "op-bulk.h"

/* Parses text with max_nodes; returns op_bulk_parse()'s result, the message in err. */
static int parse(const char *text, size_t max_nodes, OpBulkRequest *r, char *err, size_t errlen) {
        json_error_t jerr;
        json_t *body = json_loads(text, JSON_ALLOW_NUL, &jerr);
        ck_assert_msg(body, "test body is not JSON: %s", text);
        err[0] = '\0';
        int ret = op_bulk_parse(body, max_nodes, r, err, errlen);
        json_decref(body);
        return ret;
}

/* Asserts text is refused (-EINVAL) with exactly `want` as the message, and *r left zeroed. */
static void refused(const char *text, size_t max_nodes, const char *want) {
        OpBulkRequest r = { 0 };
        char err[512];
        ck_assert_int_eq(parse(text, max_nodes, &r, err, sizeof err), -EINVAL);
        ck_assert_str_eq(err, want);
        ck_assert_ptr_null(r.nodes);
        ck_assert_uint_eq(r.n_nodes, 0);
}

START_TEST(test_op_bulk_power) {
        OpBulkRequest r = { 0 };
        char err[256];
        ck_assert_int_eq(parse("{\"kind\": \"power\", \"params\": {\"action\": \"cycle\"}, \"nodes\": [\"n1\", \"n2\", \"n3\"]}",
                               0, &r, err, sizeof err),
                         0);
        ck_assert_int_eq(r.kind, OP_BULK_POWER);
        ck_assert_str_eq(r.action, "cycle");
        ck_assert_uint_eq(r.n_nodes, 3);
        ck_assert_str_eq(r.nodes[0], "n1");
        ck_assert_str_eq(r.nodes[2], "n3"); /* the request's order */
        json_t *p = op_bulk_params_json(&r);
        char *s = json_dumps(p, JSON_COMPACT | JSON_SORT_KEYS);
        ck_assert_str_eq(s, "{\"action\":\"cycle\"}");
        free(s);
        json_decref(p);
        op_bulk_request_done(&r);
        ck_assert_ptr_null(r.nodes);
        op_bulk_request_done(&r); /* twice is fine */
}
END_TEST

START_TEST(test_op_bulk_bootdev_reinstall) {
        OpBulkRequest r = { 0 };
        char err[256];
        ck_assert_int_eq(parse("{\"kind\": \"bootdev\", \"params\": {\"device\": \"pxe\", \"persistent\": true, \"efi\": false}, "
                               "\"nodes\": [\"a\"]}",
                               0, &r, err, sizeof err),
                         0);
        ck_assert_int_eq(r.kind, OP_BULK_BOOTDEV);
        ck_assert_str_eq(r.device, "pxe");
        ck_assert(r.persistent);
        ck_assert_int_eq(r.efi, 0);
        json_t *p = op_bulk_params_json(&r);
        char *s = json_dumps(p, JSON_COMPACT | JSON_SORT_KEYS);
        ck_assert_str_eq(s, "{\"device\":\"pxe\",\"efi\":false,\"persistent\":true}");
        free(s);
        json_decref(p);
        op_bulk_request_done(&r);

        ck_assert_int_eq(parse("{\"kind\": \"bootdev\", \"params\": {\"device\": \"disk\"}, \"nodes\": [\"a\"]}", 0, &r, err,
                               sizeof err),
                         0);
        ck_assert(!r.persistent);
        ck_assert_int_eq(r.efi, -1); /* the inventory's boot_mode */
        op_bulk_request_done(&r);

        /* reboot: params absent or {} */
        ck_assert_int_eq(parse("{\"kind\": \"reboot\", \"nodes\": [\"a\"]}", 0, &r, err, sizeof err), 0);
        ck_assert_int_eq(r.kind, OP_BULK_REBOOT);
        ck_assert_str_eq(op_bulk_kind_to_string(r.kind), "reboot");
        op_bulk_request_done(&r);
        refused("{\"kind\": \"reboot\", \"params\": {\"now\": 1}, \"nodes\": [\"a\"]}", 0,
                "reboot takes no parameters: \"params\" must be {} or absent");
        /* reinstall: params absent or {} */
        ck_assert_int_eq(parse("{\"kind\": \"reinstall\", \"nodes\": [\"a\", \"b\"]}", 0, &r, err, sizeof err), 0);
        ck_assert_int_eq(r.kind, OP_BULK_REINSTALL);
        op_bulk_request_done(&r);
        ck_assert_int_eq(parse("{\"kind\": \"reinstall\", \"params\": {}, \"nodes\": [\"a\"]}", 0, &r, err, sizeof err), 0);
        op_bulk_request_done(&r);
}
END_TEST

START_TEST(test_op_bulk_refused) {
        refused("[]", 0, "body must be {\"kind\": \"reinstall|power|bootdev|reboot\", \"params\": {...}, \"nodes\": [NAME...]}");
        refused("{\"kind\": \"power\", \"params\": {\"action\": \"on\"}, \"nodes\": [\"a\"], \"force\": true}", 0,
                "unknown field \"force\" (kind, params, nodes)");
        refused("{\"params\": {}, \"nodes\": [\"a\"]}", 0, "\"kind\" must be one of reinstall, power, bootdev, reboot");
        refused("{\"kind\": \"explode\", \"nodes\": [\"a\"]}", 0, "\"kind\" must be one of reinstall, power, bootdev, reboot, not \"explode\"");
        refused("{\"kind\": 7, \"nodes\": [\"a\"]}", 0, "\"kind\" must be one of reinstall, power, bootdev, reboot");
        refused("{\"kind\": \"power\", \"params\": [], \"nodes\": [\"a\"]}", 0, "\"params\" must be a JSON object");
        refused("{\"kind\": \"power\", \"nodes\": [\"a\"]}", 0,
                "power: \"params\" must be {\"action\": \"on|off|cycle|reset|soft|status\"}");
        refused("{\"kind\": \"power\", \"params\": {\"action\": \"explode\"}, \"nodes\": [\"a\"]}", 0,
                "power: \"params\" must be {\"action\": \"on|off|cycle|reset|soft|status\"}");
        refused("{\"kind\": \"power\", \"params\": {\"action\": \"on\", \"x\": 1}, \"nodes\": [\"a\"]}", 0,
                "power: \"params\" must be {\"action\": \"on|off|cycle|reset|soft|status\"}");
        refused("{\"kind\": \"bootdev\", \"params\": {\"device\": \"floppy\"}, \"nodes\": [\"a\"]}", 0,
                "bootdev: \"params\" must be {\"device\": \"pxe|disk|bios\", \"persistent\": bool, \"efi\": bool} "
                "(persistent and efi optional)");
        refused("{\"kind\": \"bootdev\", \"params\": {\"device\": \"pxe\", \"persistent\": 1}, \"nodes\": [\"a\"]}", 0,
                "bootdev: \"params\" must be {\"device\": \"pxe|disk|bios\", \"persistent\": bool, \"efi\": bool} "
                "(persistent and efi optional)");
        refused("{\"kind\": \"reinstall\", \"params\": {\"now\": true}, \"nodes\": [\"a\"]}", 0,
                "reinstall takes no parameters: \"params\" must be {} or absent");
        refused("{\"kind\": \"reinstall\"}", 0, "\"nodes\" must be a non-empty array of node names");
        refused("{\"kind\": \"reinstall\", \"nodes\": []}", 0, "\"nodes\" must be a non-empty array of node names");
        refused("{\"kind\": \"reinstall\", \"nodes\": \"a\"}", 0, "\"nodes\" must be a non-empty array of node names");
        refused("{\"kind\": \"reinstall\", \"nodes\": [\"a\", \"b\", \"c\"]}", 2, "\"nodes\" names 3 nodes; at most 2 go in one request");
        refused("{\"kind\": \"reinstall\", \"nodes\": [\"a\", 7]}", 0, "nodes[1] is not a node name (a string of 1 to 63 bytes)");
        refused("{\"kind\": \"reinstall\", \"nodes\": [\"\"]}", 0, "nodes[0] is not a node name (a string of 1 to 63 bytes)");
        refused("{\"kind\": \"reinstall\", \"nodes\": [\"a\\u0000b\"]}", 0,
                "nodes[0] is not a node name (a string of 1 to 63 bytes)");
        refused("{\"kind\": \"reinstall\", \"nodes\": [\"a\", \"b\", \"c\", \"b\", \"a\"]}", 0,
                "node \"a\" is named twice in \"nodes\" (nodes[0] and nodes[4])");
}
END_TEST

/* The name length limit, and the default node limit with a request of exactly that many. */
START_TEST(test_op_bulk_limits) {
        char name[80], err[256];
        memset(name, 'x', 63);
        name[63] = '\0';
        OpBulkRequest r = { 0 };
        json_t *body = json_pack("{s:s, s:[s]}", "kind", "reinstall", "nodes", name);
        ck_assert_int_eq(op_bulk_parse(body, 0, &r, err, sizeof err), 0);
        op_bulk_request_done(&r);
        json_decref(body);
        strcat(name, "x");
        body = json_pack("{s:s, s:[s]}", "kind", "reinstall", "nodes", name);
        ck_assert_int_eq(op_bulk_parse(body, 0, &r, err, sizeof err), -EINVAL);
        json_decref(body);

        json_t *nodes = json_array();
        for (int i = 0; i < OP_BULK_NODES_MAX; i++) {
                snprintf(name, sizeof name, "node-%05d", OP_BULK_NODES_MAX - i); /* unsorted on purpose */
                json_array_append_new(nodes, json_string(name));
        }
        body = json_pack("{s:s, s:{s:s}, s:O}", "kind", "power", "params", "action", "status", "nodes", nodes);
        ck_assert_int_eq(op_bulk_parse(body, 0, &r, err, sizeof err), 0);
        ck_assert_uint_eq(r.n_nodes, OP_BULK_NODES_MAX);
        op_bulk_request_done(&r);
        json_array_append_new(nodes, json_string("one-more"));
        json_decref(body);
        body = json_pack("{s:s, s:{s:s}, s:O}", "kind", "power", "params", "action", "status", "nodes", nodes);
        ck_assert_int_eq(op_bulk_parse(body, 0, &r, err, sizeof err), -EINVAL);
        ck_assert_str_eq(err, "\"nodes\" names 4097 nodes; at most 4096 go in one request");
        /* a duplicate far apart in a large request */
        json_array_remove(nodes, OP_BULK_NODES_MAX);
        json_array_set_new(nodes, 4000, json_string("node-00007"));
        json_decref(body);
        body = json_pack("{s:s, s:{s:s}, s:O}", "kind", "power", "params", "action", "status", "nodes", nodes);
        ck_assert_int_eq(op_bulk_parse(body, 0, &r, err, sizeof err), -EINVAL);
        ck_assert_str_eq(err, "node \"node-00007\" is named twice in \"nodes\" (nodes[4000] and nodes[4089])");
        json_decref(body);
        json_decref(nodes);
}
END_TEST

START_TEST(test_op_bulk_kind_names) {
        ck_assert_str_eq(op_bulk_kind_to_string(OP_BULK_REINSTALL), "reinstall");
        ck_assert_str_eq(op_bulk_kind_to_string(OP_BULK_POWER), "power");
        ck_assert_str_eq(op_bulk_kind_to_string(OP_BULK_BOOTDEV), "bootdev");
        ck_assert_ptr_null(op_bulk_kind_to_string(_OP_BULK_KIND_MAX));
}
END_TEST

static Suite *op_bulk_suite(void) {
        Suite *s = suite_create("op-bulk");
        TCase *tc = tcase_create("op-bulk");
        tcase_add_test(tc, test_op_bulk_power);
        tcase_add_test(tc, test_op_bulk_bootdev_reinstall);
        tcase_add_test(tc, test_op_bulk_refused);
        tcase_add_test(tc, test_op_bulk_limits);
        tcase_add_test(tc, test_op_bulk_kind_names);
        suite_add_tcase(s, tc);
        return s;
}

CHECK_MAIN(op_bulk_suite)
