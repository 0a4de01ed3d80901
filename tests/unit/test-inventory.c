/* test-inventory.c — unit tests for inventory.c: a valid inventory parses into the expected
 * nodes and lookup tables; every rejection names the node and the field; a 10,000-node
 * inventory parses and every MAC is found; inventory_load_file() checks the boot files.
 *
 * Rejection tests start from a document that parses (test_inventory_base_is_valid checks
 * that) and change one member of nodes[7], "node-07", so each error is the mutation's. */
#include "check-main.h"
#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <freeipmi/freeipmi.h>
#include <ipmiconsole.h>

#include "inventory.h"
#include "mac.h"
#include "util.h"

#define BASE_NODES 8 /* the mutated node is the last one, nodes[7] */

/* A valid node: index i gives name "node-%02zu" and MAC 52:54:00:00:00:<i>. */
static json_t *base_node(size_t i) {
        char name[32], mac[32];
        snprintf(name, sizeof name, "node-%02zu", i);
        snprintf(mac, sizeof mac, "52:54:00:00:00:%02zx", i);
        json_t *n = json_pack("{s:s, s:[s], s:{s:s, s:s, s:s}, s:{s:s, s:[s, s], s:s}, s:{s:s, s:s}}",
                              "name", name,
                              "mac", mac,
                              "bmc", "host", "10.1.0.1", "user", "admin", "password_file", "/run/secrets/bmc",
                              "boot", "kernel", "/nix/store/k1-linux/bzImage",
                              "initrd", "/nix/store/i1-initrd/initrd", "https://cache.example/extra.img",
                              "cmdline", "init=/nix/store/s1-system/init loglevel=4",
                              "system", "toplevel", "/nix/store/t1-nixos-system", "install",
                              "/nix/store/n1-install/bin/install");
        ck_assert_ptr_nonnull(n);
        return n;
}

static json_t *base_inventory(void) {
        json_t *nodes = json_array();
        ck_assert_ptr_nonnull(nodes);
        for (size_t i = 0; i < BASE_NODES; i++)
                ck_assert_int_eq(json_array_append_new(nodes, base_node(i)), 0);
        json_t *doc = json_pack("{s:i, s:o}", "version", 1, "nodes", nodes);
        ck_assert_ptr_nonnull(doc);
        return doc;
}

static json_t *base_inventory_node(json_t *doc, size_t i) {
        json_t *n = json_array_get(json_object_get(doc, "nodes"), i);
        ck_assert_ptr_nonnull(n);
        return n;
}

/* Sets the member at dotted `path` ("boot.kernel") of obj to the JSON text `value`, or
 * deletes it when value is NULL. */
static void json_set_path(json_t *obj, const char *path, const char *value) {
        char buf[128];
        char *key = buf, *dot;

        snprintf(buf, sizeof buf, "%s", path);
        while ((dot = strchr(key, '.'))) {
                *dot = '\0';
                obj = json_object_get(obj, key);
                ck_assert_msg(obj != NULL, "test bug: no member %s in %s", key, path);
                key = dot + 1;
        }
        if (!value) {
                ck_assert_msg(json_object_del(obj, key) == 0, "test bug: no member %s", path);
                return;
        }
        json_error_t e;
        json_t *v = json_loads(value, JSON_DECODE_ANY, &e);
        ck_assert_msg(v != NULL, "test bug: bad JSON %s: %s", value, e.text);
        ck_assert_int_eq(json_object_set_new(obj, key, v), 0);
}

static void assert_contains(const char *s, const char *sub) {
        ck_assert_msg(s && strstr(s, sub), "\"%s\" does not contain \"%s\"", s ? s : "(null)", sub);
}

static Inventory inventory_sentinel;

static Inventory *parse_ok(const char *text, size_t len) {
        Inventory *inv = NULL;
        char err[ERRBUF_MAX] = "";
        int r = inventory_parse(text, len, &inv, err, sizeof err);
        ck_assert_msg(r == 0, "inventory_parse failed: %d: %s", r, err[0] ? err : "(no message)");
        ck_assert_str_eq(err, "");
        ck_assert_ptr_nonnull(inv);
        return inv;
}

/* Parses text, which must be rejected with -EINVAL, leaving *ret alone; returns the error
 * message (a copy; caller frees).  Also checks that a NULL err is fine and that a short buffer
 * gets a truncated, NUL-terminated start of the same message.  `what` says what the text is
 * when the test fails (NULL: the start of the text). */
static char *parse_rejected(const char *text, size_t len, const char *what) {
        Inventory *inv = &inventory_sentinel;
        char err[ERRBUF_MAX] = "";

        int r = inventory_parse(text, len, &inv, err, sizeof err);
        ck_assert_msg(r == -EINVAL, "inventory_parse returned %d, want -EINVAL, for %.*s%s", r,
                      what ? (int) strlen(what) : (int) (len < 300 ? len : 300), what ? what : text,
                      what || len < 300 ? "" : "...");
        ck_assert_msg(inv == &inventory_sentinel, "inventory_parse wrote *ret on failure");
        ck_assert_msg(err[0] != '\0', "no error message");

        inv = &inventory_sentinel;
        ck_assert_int_eq(inventory_parse(text, len, &inv, NULL, 0), -EINVAL);
        ck_assert_ptr_eq(inv, &inventory_sentinel);

        char small[8] = "xxxxxxxx";
        ck_assert_int_eq(inventory_parse(text, len, &inv, small, sizeof small - 1), -EINVAL);
        ck_assert_ptr_eq(inv, &inventory_sentinel);
        ck_assert_int_eq(small[sizeof small - 1], 'x'); /* nothing past errlen */
        ck_assert_int_eq(strncmp(small, err, sizeof small - 2), 0);
        ck_assert_int_eq(small[sizeof small - 2], '\0');

        char *copy = strdup(err);
        ck_assert_ptr_nonnull(copy);
        return copy;
}

/* Dumps doc (and drops it), parses it, expects a rejection; returns the message. */
static char *doc_rejected(json_t *doc) {
        _cleanup_free_ char *text = json_dumps(doc, JSON_COMPACT);
        json_t *nodes = json_object_get(doc, "nodes");
        _cleanup_free_ char *last = NULL;
        if (json_array_size(nodes) > 0)
                last = json_dumps(json_array_get(nodes, json_array_size(nodes) - 1), JSON_COMPACT);
        json_decref(doc);
        ck_assert_ptr_nonnull(text);
        return parse_rejected(text, strlen(text), last);
}

static Inventory *doc_ok(json_t *doc) {
        _cleanup_free_ char *text = json_dumps(doc, JSON_COMPACT);
        json_decref(doc);
        ck_assert_ptr_nonnull(text);
        return parse_ok(text, strlen(text));
}

/* ---- valid inventories ------------------------------------------------------------------ */

static const char valid_text[] =
        "{\n"
        "  \"version\": 1,\n"
        "  \"nodes\": [\n"
        "    {\"name\": \"node-a\", \"mac\": [\"52:54:00:AB:CD:01\", \"52-54-00-ab-cd-02\"],\n"
        "     \"bmc\": {\"host\": \"10.1.0.1\", \"user\": \"admin\", \"password_file\": \"/run/secrets/bmc-a\"},\n"
        "     \"boot\": {\"kernel\": \"/nix/store/k1-linux/bzImage\",\n"
        "              \"initrd\": [\"/nix/store/i1-initrd/initrd\", \"/nix/store/i1-initrd/extra\"],\n"
        "              \"cmdline\": \"init=/nix/store/s1-system/init loglevel=4\"},\n"
        "     \"system\": {\"toplevel\": \"/nix/store/t1-nixos-system-node-a\",\n"
        "                \"install\": \"/nix/store/n1-install/bin/install\"}},\n"
        "    {\"name\": \"node-b\", \"mac\": [\"5254.00ab.cd03\"],\n"
        "     \"bmc\": {\"host\": \"bmc-b.example\", \"port\": 6230},\n"
        "     \"boot\": {\"kernel\": \"/nix/store/k1-linux/bzImage\",\n"
        "              \"initrd\": [\"https://cache.example/initrd-b\", \"/srv/netboot/b\"],\n"
        "              \"cmdline\": \"\"},\n"
        "     \"system\": {\"toplevel\": \"/nix/store/t2-nixos-system-node-b\",\n"
        "                \"install\": \"/nix/store/n2-install/bin/install\"}},\n"
        "    {\"name\": \"Node_c.rack1\", \"mac\": [\"525400ABCD04\"], \"bmc\": null,\n"
        "     \"boot\": {\"kernel\": \"http://cache.example/bzImage\", \"initrd\": [], \"cmdline\": \"quiet\"},\n"
        "     \"system\": {\"toplevel\": \"/nix/store/t3-nixos-system-node-c\",\n"
        "                \"install\": \"/nix/store/n3-install/bin/install\"}}\n"
        "  ]\n"
        "}\n";

static Inventory *valid_inventory(void) {
        return parse_ok(valid_text, strlen(valid_text));
}

START_TEST(test_inventory_valid_nodes) {
        _cleanup_(inventory_freep) Inventory *inv = valid_inventory();

        ck_assert_uint_eq(inv->n_nodes, 3);
        const Node *a = &inv->nodes[0], *b = &inv->nodes[1], *c = &inv->nodes[2];

        ck_assert_str_eq(a->name, "node-a");
        ck_assert_str_eq(b->name, "node-b");
        ck_assert_str_eq(c->name, "Node_c.rack1");
        for (size_t i = 0; i < inv->n_nodes; i++)
                ck_assert_uint_eq(inv->nodes[i].index, i);

        /* MACs in file order, canonical. */
        ck_assert_uint_eq(a->n_macs, 2);
        ck_assert_str_eq(a->macs[0], "52:54:00:ab:cd:01");
        ck_assert_str_eq(a->macs[1], "52:54:00:ab:cd:02");
        ck_assert_uint_eq(b->n_macs, 1);
        ck_assert_str_eq(b->macs[0], "52:54:00:ab:cd:03");
        ck_assert_uint_eq(c->n_macs, 1);
        ck_assert_str_eq(c->macs[0], "52:54:00:ab:cd:04");

        /* BMC: port defaults to 623; user and password file are optional; null = none. */
        ck_assert(a->has_bmc);
        ck_assert_str_eq(a->bmc.host, "10.1.0.1");
        ck_assert_uint_eq(a->bmc.port, 623);
        ck_assert_str_eq(a->bmc.user, "admin");
        ck_assert_str_eq(a->bmc.password_file, "/run/secrets/bmc-a");
        ck_assert(b->has_bmc);
        ck_assert_str_eq(b->bmc.host, "bmc-b.example");
        ck_assert_uint_eq(b->bmc.port, 6230);
        ck_assert_ptr_null(b->bmc.user);
        ck_assert_ptr_null(b->bmc.password_file);
        ck_assert(!c->has_bmc);

        /* Boot files and cmdline as written. */
        ck_assert_str_eq(a->boot.kernel, "/nix/store/k1-linux/bzImage");
        ck_assert_uint_eq(a->boot.n_initrd, 2);
        ck_assert_str_eq(a->boot.initrd[0], "/nix/store/i1-initrd/initrd");
        ck_assert_str_eq(a->boot.initrd[1], "/nix/store/i1-initrd/extra");
        ck_assert_str_eq(a->boot.cmdline, "init=/nix/store/s1-system/init loglevel=4");
        ck_assert_uint_eq(b->boot.n_initrd, 2);
        ck_assert_str_eq(b->boot.initrd[0], "https://cache.example/initrd-b");
        ck_assert_str_eq(b->boot.initrd[1], "/srv/netboot/b");
        ck_assert_str_eq(b->boot.cmdline, "");
        ck_assert_str_eq(c->boot.kernel, "http://cache.example/bzImage");
        ck_assert_uint_eq(c->boot.n_initrd, 0);
        ck_assert_str_eq(c->boot.cmdline, "quiet");

        ck_assert_str_eq(a->toplevel, "/nix/store/t1-nixos-system-node-a");
        ck_assert_str_eq(a->install, "/nix/store/n1-install/bin/install");
        ck_assert_str_eq(c->toplevel, "/nix/store/t3-nixos-system-node-c");
        ck_assert_str_eq(c->install, "/nix/store/n3-install/bin/install");
}
END_TEST

START_TEST(test_inventory_find_mac_every_form) {
        _cleanup_(inventory_freep) Inventory *inv = valid_inventory();
        static const struct {
                const char *mac;
                size_t node;
        } cases[] = {
                { "52:54:00:ab:cd:01", 0 }, { "52:54:00:AB:CD:01", 0 }, { "52-54-00-ab-cd-01", 0 },
                { "5254.00ab.cd01", 0 },    { "525400abcd01", 0 },      { "525400ABcd01", 0 },
                { "52:54:00:ab:cd:02", 0 }, { "5254.00AB.CD02", 0 },    { "52:54:00:ab:cd:03", 1 },
                { "52-54-00-AB-CD-03", 1 }, { "525400abcd03", 1 },      { "52:54:00:ab:cd:04", 2 },
                { "5254.00ab.cd04", 2 },
        };

        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                char canonical[MAC_STRING_MAX];
                ck_assert_int_eq(mac_normalize(cases[i].mac, canonical), 0);
                const Node *n = inventory_find_mac(inv, canonical);
                ck_assert_msg(n == &inv->nodes[cases[i].node], "%s (%s) found %s, want %s", cases[i].mac, canonical,
                              n ? n->name : "nothing", inv->nodes[cases[i].node].name);
        }
        ck_assert_ptr_null(inventory_find_mac(inv, "52:54:00:ab:cd:05"));
        ck_assert_ptr_null(inventory_find_mac(inv, "52:54:00:ab:cd:0"));
        ck_assert_ptr_null(inventory_find_mac(inv, ""));
}
END_TEST

START_TEST(test_inventory_find_name) {
        _cleanup_(inventory_freep) Inventory *inv = valid_inventory();

        ck_assert_ptr_eq(inventory_find_name(inv, "node-a"), &inv->nodes[0]);
        ck_assert_ptr_eq(inventory_find_name(inv, "node-b"), &inv->nodes[1]);
        ck_assert_ptr_eq(inventory_find_name(inv, "Node_c.rack1"), &inv->nodes[2]);
        ck_assert_ptr_null(inventory_find_name(inv, "node-d"));
        ck_assert_ptr_null(inventory_find_name(inv, "node-"));
        ck_assert_ptr_null(inventory_find_name(inv, "node-ab"));
        ck_assert_ptr_null(inventory_find_name(inv, ""));
}
END_TEST

/* The name order is bytewise ("Node_c..." before "node-a"), and inventory_name_after() finds
 * the first name after any string, a node's name or not. */
START_TEST(test_inventory_name_order) {
        _cleanup_(inventory_freep) Inventory *inv = valid_inventory();

        ck_assert_uint_eq(inv->n_nodes, 3);
        ck_assert_uint_eq(inv->name_order[0], 2);
        ck_assert_uint_eq(inv->name_order[1], 0);
        ck_assert_uint_eq(inv->name_order[2], 1);
        ck_assert_uint_eq(inventory_name_after(inv, NULL), 0);
        ck_assert_uint_eq(inventory_name_after(inv, ""), 0);
        ck_assert_uint_eq(inventory_name_after(inv, "A"), 0);
        ck_assert_uint_eq(inventory_name_after(inv, "Node_c.rack1"), 1);
        ck_assert_uint_eq(inventory_name_after(inv, "a"), 1);
        ck_assert_uint_eq(inventory_name_after(inv, "node-"), 1);
        ck_assert_uint_eq(inventory_name_after(inv, "node-a"), 2);
        ck_assert_uint_eq(inventory_name_after(inv, "node-aa"), 2);
        ck_assert_uint_eq(inventory_name_after(inv, "node-b"), 3);
        ck_assert_uint_eq(inventory_name_after(inv, "zz"), 3);
}
END_TEST

START_TEST(test_inventory_has_file_exact_only) {
        _cleanup_(inventory_freep) Inventory *inv = valid_inventory();

        /* The local boot files, the shared kernel once. */
        static const char *const served[] = {
                "/nix/store/k1-linux/bzImage",
                "/nix/store/i1-initrd/initrd",
                "/nix/store/i1-initrd/extra",
                "/srv/netboot/b",
        };
        ck_assert_uint_eq(inv->n_files, sizeof served / sizeof served[0]);
        for (size_t i = 0; i < sizeof served / sizeof served[0]; i++) {
                ck_assert_msg(inventory_has_file(inv, served[i]), "%s not served", served[i]);
                size_t seen = 0;
                for (size_t f = 0; f < inv->n_files; f++)
                        seen += streq(inv->files[f], served[i]);
                ck_assert_msg(seen == 1, "%s is %zu times in files[]", served[i], seen);
        }

        static const char *const not_served[] = {
                /* the same files spelled differently: no normalisation */
                "/srv/netboot/a/../b",
                "/srv/netboot/./b",
                "/srv//netboot/b",
                "//srv/netboot/b",
                "/srv/netboot/b/",
                "srv/netboot/b",
                "/nix/store/i1-initrd/../k1-linux/bzImage",
                "/nix/store/k1-linux//bzImage",
                /* prefixes and extensions */
                "/nix/store/k1-linux/bzImag",
                "/nix/store/k1-linux/bzImage2",
                "/nix/store/k1-linux",
                "/nix/store/k1-linux/",
                "/",
                "",
                /* URLs are passed through, never served */
                "https://cache.example/initrd-b",
                "http://cache.example/bzImage",
                /* other paths in the inventory */
                "/nix/store/t1-nixos-system-node-a",
                "/nix/store/n1-install/bin/install",
                "/run/secrets/bmc-a",
        };
        for (size_t i = 0; i < sizeof not_served / sizeof not_served[0]; i++)
                ck_assert_msg(!inventory_has_file(inv, not_served[i]), "%s is served", not_served[i]);
}
END_TEST

START_TEST(test_inventory_is_url) {
        ck_assert(inventory_is_url("http://cache.example/bzImage"));
        ck_assert(inventory_is_url("https://cache.example/bzImage"));
        ck_assert(!inventory_is_url("/nix/store/k1-linux/bzImage"));
        ck_assert(!inventory_is_url("ftp://cache.example/bzImage"));
        ck_assert(!inventory_is_url("http:/cache.example"));
        ck_assert(!inventory_is_url("httpx://cache.example"));
        ck_assert(!inventory_is_url("/http://cache.example"));
        ck_assert(!inventory_is_url(""));
}
END_TEST

START_TEST(test_inventory_not_nul_terminated) {
        /* len bytes, need not be NUL-terminated: an exact-size copy (ASan catches a read past
         * it), and a buffer with garbage after len. */
        size_t len = strlen(valid_text);
        char *exact = malloc(len);
        ck_assert_ptr_nonnull(exact);
        memcpy(exact, valid_text, len);
        Inventory *inv = parse_ok(exact, len);
        ck_assert_uint_eq(inv->n_nodes, 3);
        inventory_free(inv);
        free(exact);

        _cleanup_free_ char *trailing = NULL;
        ck_assert_int_ge(asprintf(&trailing, "%s}}} garbage {", valid_text), 0);
        inv = parse_ok(trailing, len);
        ck_assert_uint_eq(inv->n_nodes, 3);
        inventory_free(inv);
}
END_TEST

START_TEST(test_inventory_empty) {
        static const char text[] = "{\"version\": 1, \"nodes\": []}";
        _cleanup_(inventory_freep) Inventory *inv = parse_ok(text, strlen(text));

        ck_assert_uint_eq(inv->n_nodes, 0);
        ck_assert_uint_eq(inv->n_files, 0);
        ck_assert_ptr_null(inventory_find_mac(inv, "52:54:00:00:00:01"));
        ck_assert_ptr_null(inventory_find_name(inv, "node-00"));
        ck_assert(!inventory_has_file(inv, "/nix/store/k1-linux/bzImage"));
}
END_TEST

START_TEST(test_inventory_base_is_valid) {
        /* The document the rejection tests mutate parses, with node-07 found by its MAC. */
        _cleanup_(inventory_freep) Inventory *inv = doc_ok(base_inventory());

        ck_assert_uint_eq(inv->n_nodes, BASE_NODES);
        ck_assert_ptr_eq(inventory_find_mac(inv, "52:54:00:00:00:07"), &inv->nodes[7]);
        ck_assert_str_eq(inv->nodes[7].name, "node-07");
}
END_TEST

START_TEST(test_inventory_accepts_edge_values) {
        /* Values at the edge of what is allowed, each on its own. */
        static const struct {
                const char *path, *value;
        } cases[] = {
                { "bmc.port", "1" },
                { "bmc.port", "65535" },
                { "bmc", "null" },
                { "bmc.user", NULL },
                { "bmc.password_file", NULL },
                { "boot.cmdline", "\"\"" },
                { "boot.cmdline", "\"nixos provd nixos.install provd-x=1 xprovd.token=1 a=nixos.install=1\"" },
                { "boot.initrd", "[]" },
                { "boot.kernel", "\"https://cache.example/a/b?c=d&e=f+g\"" },
                { "mac", "[\"02:00:00:00:00:01\", \"52:54:00:00:01:07\"]" },
                { "name", "\"a\"" },
                { "name", "\"012345678901234567890123456789012345678901234567890123456789012\"" },
        };

        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                json_t *doc = base_inventory();
                json_set_path(base_inventory_node(doc, 7), cases[i].path, cases[i].value);
                Inventory *inv = doc_ok(doc);
                inventory_free(inv);
        }
}
END_TEST

/* ---- rejections ------------------------------------------------------------------------- */

typedef struct RejectCase {
        const char *path;   /* member of nodes[7] to change */
        const char *value;  /* its new JSON text, or NULL to delete it */
        const char *field;  /* the field the message must name */
        const char *detail; /* a further substring the message must contain, or NULL */
} RejectCase;

/* Errors in nodes[7], "node-07", found after its name is known: the message must name the
 * node ('node "node-07"', and nodes[7]) and the field. */
static const RejectCase named_rejects[] = {
        /* missing required fields */
        { "mac", NULL, "mac", "missing" },
        { "boot", NULL, "boot", "missing" },
        { "boot.kernel", NULL, "boot.kernel", "missing" },
        { "boot.initrd", NULL, "boot.initrd", "missing" },
        { "boot.cmdline", NULL, "boot.cmdline", "missing" },
        { "system", NULL, "system", "missing" },
        { "system.toplevel", NULL, "system.toplevel", "missing" },
        { "system.install", NULL, "system.install", "missing" },
        { "bmc.host", NULL, "bmc.host", "missing" },
        /* wrong types */
        { "mac", "\"52:54:00:00:00:07\"", "mac", NULL },
        { "mac", "[]", "mac", NULL },
        { "mac", "[7]", "mac[0]", NULL },
        { "boot", "\"/nix/store/k1-linux/bzImage\"", "boot", NULL },
        { "boot.kernel", "42", "boot.kernel", NULL },
        { "boot.initrd", "\"/nix/store/i1-initrd/initrd\"", "boot.initrd", "array" },
        { "boot.initrd", "[\"/nix/store/i1-initrd/initrd\", null]", "boot.initrd[1]", NULL },
        { "boot.cmdline", "[\"quiet\"]", "boot.cmdline", NULL },
        { "boot.cmdline", "null", "boot.cmdline", NULL },
        { "system", "\"/nix/store/t1-nixos-system\"", "system", NULL },
        { "system.toplevel", "1", "system.toplevel", NULL },
        { "bmc", "\"10.1.0.1\"", "bmc", NULL },
        { "bmc.user", "7", "bmc.user", NULL },
        /* boot paths: absolute and clean */
        { "boot.kernel", "\"nix/store/k1-linux/bzImage\"", "boot.kernel", "absolute" },
        { "boot.kernel", "\"bzImage\"", "boot.kernel", "absolute" },
        { "boot.kernel", "\"\"", "boot.kernel", NULL },
        { "boot.kernel", "\"/\"", "boot.kernel", NULL },
        { "boot.kernel", "\"/nix/store/k1-linux/../../etc/shadow\"", "boot.kernel", ".." },
        { "boot.kernel", "\"/..\"", "boot.kernel", ".." },
        { "boot.kernel", "\"/nix/store/k1-linux/..\"", "boot.kernel", ".." },
        { "boot.kernel", "\"/nix/./store/k1-linux/bzImage\"", "boot.kernel", NULL },
        { "boot.kernel", "\"/nix/store//k1-linux/bzImage\"", "boot.kernel", "//" },
        { "boot.kernel", "\"//nix/store/k1-linux/bzImage\"", "boot.kernel", "//" },
        { "boot.kernel", "\"/nix/store/k1-linux/\"", "boot.kernel", "trailing" },
        { "boot.kernel", "\"/nix/store/k1-linux/bz\\nImage\"", "boot.kernel", NULL },
        { "boot.kernel", "\"http://cache.example/bz Image\"", "boot.kernel", NULL },
        { "boot.kernel", "\"https://cache.example/bz\\\"Image\"", "boot.kernel", NULL },
        { "boot.initrd", "[\"/nix/store/i1-initrd/initrd\", \"/nix/store/../etc/shadow\"]", "boot.initrd[1]", ".." },
        { "boot.initrd", "[\"initrd\"]", "boot.initrd[0]", "absolute" },
        { "boot.initrd", "[\"/nix/store/i1-initrd/\"]", "boot.initrd[0]", NULL },
        { "boot.initrd", "[\"/nix//store/i1-initrd/initrd\"]", "boot.initrd[0]", NULL },
        /* system paths: clean and in the Nix store */
        { "system.toplevel", "\"/etc/nixos-system\"", "system.toplevel", "/nix/store/" },
        { "system.toplevel", "\"/nix/store-evil/t1-nixos-system\"", "system.toplevel", "/nix/store/" },
        { "system.toplevel", "\"/nix/storet1-nixos-system\"", "system.toplevel", "/nix/store/" },
        { "system.toplevel", "\"/nix/store\"", "system.toplevel", NULL },
        { "system.toplevel", "\"/nix/store/\"", "system.toplevel", NULL },
        { "system.toplevel", "\"nix/store/t1-nixos-system\"", "system.toplevel", NULL },
        { "system.install", "\"/nix/store/../../bin/sh\"", "system.install", ".." },
        { "system.install", "\"/nix/store/n1-install//bin/install\"", "system.install", NULL },
        { "system.install", "\"/usr/bin/install\"", "system.install", "/nix/store/" },
        /* cmdline */
        { "boot.cmdline", "\"init=/x {{ .ID }}\"", "boot.cmdline", "{{" },
        { "boot.cmdline", "\"init=/x console=${console}\"", "boot.cmdline", "${" },
        { "boot.cmdline", "\"init=/x\\nloglevel=4\"", "boot.cmdline", NULL },
        { "boot.cmdline", "\"init=/x\\tloglevel=4\"", "boot.cmdline", NULL },
        { "boot.cmdline", "\"init=/x\\r\"", "boot.cmdline", NULL },
        { "boot.cmdline", "\"init=/x\\u007f\"", "boot.cmdline", NULL },
        { "boot.cmdline", "\"init=/x foo=\\\"a b\\\"\"", "boot.cmdline", NULL },
        { "boot.cmdline", "\"provd.token=abc\"", "boot.cmdline", "provd.token" },
        { "boot.cmdline", "\"init=/x provd.token=abc\"", "boot.cmdline", "provd.token" },
        { "boot.cmdline", "\"init=/x  provd.url=http://evil/ quiet\"", "boot.cmdline", "provd.url" },
        { "boot.cmdline", "\"init=/x provd.node=node-00\"", "boot.cmdline", "provd.node" },
        { "boot.cmdline", "\"nixos.install=/nix/store/evil\"", "boot.cmdline", "nixos.install" },
        { "boot.cmdline", "\"quiet nixos.install=/nix/store/evil\"", "boot.cmdline", "nixos.install" },
        /* unknown fields (typos) at every level */
        { "sytem", "{}", "sytem", "unknown" },
        { "macs", "[\"52:54:00:00:01:07\"]", "macs", "unknown" },
        { "boot.kernal", "\"/nix/store/k1-linux/bzImage\"", "boot.kernal", "unknown" },
        { "boot.initrds", "[]", "boot.initrds", "unknown" },
        { "system.toplvl", "\"/nix/store/t1-nixos-system\"", "system.toplvl", "unknown" },
        { "bmc.hots", "\"10.1.0.1\"", "bmc.hots", "unknown" },
        { "bmc.password", "\"hunter2\"", "bmc.password", "unknown" },
        /* stateless fields on an install node */
        { "image", "\"compute\"", "image", "only a stateless node" },
        { "overlay", "{\"files\": []}", "overlay", "only a stateless node" },
        { "mode", "\"diskless\"", "mode", "install or stateless" },
        { "mode", "\"Install\"", "mode", NULL },
        /* MACs */
        { "mac", "[\"01:00:5e:00:00:01\"]", "mac[0]", "multicast" },
        { "mac", "[\"52:54:00:00:01:07\", \"33:33:00:00:00:01\"]", "mac[1]", "multicast" },
        { "mac", "[\"ff:ff:ff:ff:ff:ff\"]", "mac[0]", "broadcast" },
        { "mac", "[\"00:00:00:00:00:00\"]", "mac[0]", "zero" },
        { "mac", "[\"0000.0000.0000\"]", "mac[0]", "zero" },
        { "mac", "[\"52:54:00:00:00:zz\"]", "mac[0]", "52:54:00:00:00:zz" },
        { "mac", "[\"52:54:00:00:00:07 \"]", "mac[0]", NULL },
        { "mac", "[\"52:54:00-00:00:07\"]", "mac[0]", NULL },
        { "mac",
          "[\"52:54:00:00:01:00\", \"52:54:00:00:01:01\", \"52:54:00:00:01:02\", \"52:54:00:00:01:03\","
          " \"52:54:00:00:01:04\", \"52:54:00:00:01:05\", \"52:54:00:00:01:06\", \"52:54:00:00:01:07\","
          " \"52:54:00:00:01:08\", \"52:54:00:00:01:09\", \"52:54:00:00:01:0a\", \"52:54:00:00:01:0b\","
          " \"52:54:00:00:01:0c\", \"52:54:00:00:01:0d\", \"52:54:00:00:01:0e\", \"52:54:00:00:01:0f\","
          " \"52:54:00:00:01:10\"]",
          "mac", NULL },
        /* BMC */
        { "bmc.port", "0", "bmc.port", NULL },
        { "bmc.port", "65536", "bmc.port", NULL },
        { "bmc.port", "-1", "bmc.port", NULL },
        { "bmc.port", "\"623\"", "bmc.port", NULL },
        { "bmc.host", "\"\"", "bmc.host", NULL },
        { "bmc.host", "\"bmc 07\"", "bmc.host", NULL },
        { "bmc.password_file", "\"secrets/bmc\"", "bmc.password_file", NULL },
        { "bmc.password_file", "\"/run/secrets/../bmc\"", "bmc.password_file", NULL },
        /* SOL console */
        { "bmc.console", "\"serial\"", "bmc.console", "ipmiconsole, ipmitool or none" },
        { "bmc.console", "7", "bmc.console", NULL },
        { "bmc.console", "\"\"", "bmc.console", NULL },
        { "bmc.workarounds", "[\"solfoo\"]", "bmc.workarounds[0]", "solpacketseq" },
        { "bmc.workarounds", "[\"opensesspriv\", \"idzero\"]", "bmc.workarounds[1]", "IPMI 1.5" },
        { "bmc.workarounds", "[\"assumeio\"]", "bmc.workarounds[0]", "tool" },
};

START_TEST(test_inventory_rejects_named) {
        const RejectCase *t = &named_rejects[_i];
        char quoted[160];

        json_t *doc = base_inventory();
        json_set_path(base_inventory_node(doc, 7), t->path, t->value);
        _cleanup_free_ char *err = doc_rejected(doc);

        assert_contains(err, "node \"node-07\"");
        assert_contains(err, "nodes[7]");
        snprintf(quoted, sizeof quoted, "\"%s\"", t->field);
        assert_contains(err, quoted);
        if (t->detail)
                assert_contains(err, t->detail);
}
END_TEST

/* Errors in nodes[7]'s name itself: no name to give, so the message names nodes[7]. */
static const RejectCase name_rejects[] = {
        { "name", NULL, "name", "missing" },
        { "name", "7", "name", NULL },
        { "name", "null", "name", NULL },
        { "name", "\"\"", "name", NULL },
        { "name", "\"-node-07\"", "name", "-node-07" },
        { "name", "\".node-07\"", "name", NULL },
        { "name", "\"_node-07\"", "name", NULL },
        { "name", "\"node 07\"", "name", NULL },
        { "name", "\"node/07\"", "name", NULL },
        { "name", "\"node\\\"07\"", "name", NULL },
        { "name", "\"n\\u00f6de-07\"", "name", NULL },
        { "name", "\"node-07\\n\"", "name", NULL },
        { "name", "\"0123456789012345678901234567890123456789012345678901234567890123\"", "name", NULL },
};

START_TEST(test_inventory_rejects_name) {
        const RejectCase *t = &name_rejects[_i];

        json_t *doc = base_inventory();
        json_set_path(base_inventory_node(doc, 7), t->path, t->value);
        _cleanup_free_ char *err = doc_rejected(doc);

        assert_contains(err, "nodes[7]");
        assert_contains(err, "\"name\"");
        if (t->detail)
                assert_contains(err, t->detail);
}
END_TEST

START_TEST(test_inventory_rejects_duplicate_name) {
        json_t *doc = base_inventory();
        json_set_path(base_inventory_node(doc, 7), "name", "\"node-03\"");
        _cleanup_free_ char *err = doc_rejected(doc);

        /* The second holder of the name is reported, and the first is named. */
        assert_contains(err, "node \"node-03\" (nodes[7])");
        assert_contains(err, "\"name\"");
        assert_contains(err, "duplicate");
        assert_contains(err, "nodes[3]");
}
END_TEST

START_TEST(test_inventory_rejects_duplicate_mac_across_nodes) {
        /* node-03's MAC, written in another form: the duplicate is found after normalising. */
        json_t *doc = base_inventory();
        json_set_path(base_inventory_node(doc, 7), "mac", "[\"52:54:00:00:01:07\", \"5254.0000.0003\"]");
        _cleanup_free_ char *err = doc_rejected(doc);

        assert_contains(err, "node \"node-07\"");
        assert_contains(err, "\"mac[1]\"");
        assert_contains(err, "52:54:00:00:00:03");
        assert_contains(err, "node \"node-03\"");
}
END_TEST

START_TEST(test_inventory_rejects_duplicate_mac_within_node) {
        json_t *doc = base_inventory();
        json_set_path(base_inventory_node(doc, 7), "mac", "[\"52:54:00:00:00:07\", \"52-54-00-00-00-07\"]");
        _cleanup_free_ char *err = doc_rejected(doc);

        assert_contains(err, "node \"node-07\"");
        assert_contains(err, "\"mac[1]\"");
        assert_contains(err, "52:54:00:00:00:07");
        assert_contains(err, "twice");
}
END_TEST

/* A boot file URL must name a host (api/inventory.schema.json, $defs.bootFile). */
START_TEST(test_inventory_rejects_empty_url) {
        static const struct {
                const char *path, *value, *field;
        } cases[] = {
                { "boot.kernel", "\"http://\"", "\"boot.kernel\"" },
                { "boot.kernel", "\"https://\"", "\"boot.kernel\"" },
                { "boot.kernel", "\"https:///nix/store/k1-linux/bzImage\"", "\"boot.kernel\"" },
                { "boot.initrd", "[\"/nix/store/i1-initrd/initrd\", \"https://\"]", "\"boot.initrd[1]\"" },
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                json_t *doc = base_inventory();
                json_set_path(base_inventory_node(doc, 7), cases[i].path, cases[i].value);
                _cleanup_free_ char *err = doc_rejected(doc);
                assert_contains(err, "node \"node-07\"");
                assert_contains(err, cases[i].field);
        }
}
END_TEST

START_TEST(test_inventory_rejects_non_object_node) {
        json_t *doc = base_inventory();
        ck_assert_int_eq(json_array_set_new(json_object_get(doc, "nodes"), 7, json_string("node-07")), 0);
        _cleanup_free_ char *err = doc_rejected(doc);
        assert_contains(err, "nodes[7]");
}
END_TEST

START_TEST(test_inventory_rejects_too_many_initrds) {
        json_t *doc = base_inventory();
        json_t *initrd = json_array();
        for (size_t i = 0; i <= INVENTORY_MAX_INITRDS; i++) {
                char path[64];
                snprintf(path, sizeof path, "/nix/store/i1-initrd/part%zu", i);
                ck_assert_int_eq(json_array_append_new(initrd, json_string(path)), 0);
        }
        ck_assert_int_eq(json_object_set_new(json_object_get(base_inventory_node(doc, 7), "boot"), "initrd", initrd), 0);
        _cleanup_free_ char *err = doc_rejected(doc);
        assert_contains(err, "node \"node-07\"");
        assert_contains(err, "\"boot.initrd\"");
}
END_TEST

START_TEST(test_inventory_rejects_long_cmdline) {
        char cmdline[INVENTORY_MAX_CMDLINE + 2];
        memset(cmdline, 'x', sizeof cmdline - 1);
        cmdline[sizeof cmdline - 1] = '\0';

        json_t *doc = base_inventory();
        ck_assert_int_eq(json_object_set_new(json_object_get(base_inventory_node(doc, 7), "boot"), "cmdline",
                                             json_string(cmdline)),
                         0);
        _cleanup_free_ char *err = doc_rejected(doc);
        assert_contains(err, "node \"node-07\"");
        assert_contains(err, "\"boot.cmdline\"");

        /* Exactly the limit is fine. */
        cmdline[INVENTORY_MAX_CMDLINE] = '\0';
        doc = base_inventory();
        ck_assert_int_eq(json_object_set_new(json_object_get(base_inventory_node(doc, 7), "boot"), "cmdline",
                                             json_string(cmdline)),
                         0);
        inventory_free(doc_ok(doc));
}
END_TEST

#define ONE_NODE \
        "{\"name\": \"n\", \"mac\": [\"02:00:00:00:00:01\"], \"boot\": {\"kernel\": \"/k\", \"initrd\": []," \
        " \"cmdline\": \"\"}, \"system\": {\"toplevel\": \"/nix/store/t\", \"install\": \"/nix/store/n\"}}"

/* Document-level errors: the message must contain the substring (and name no node). */
static const struct {
        const char *text;
        const char *expect;
} document_rejects[] = {
        { "{\"version\": 2, \"nodes\": []}", "version" },
        { "{\"version\": 0, \"nodes\": []}", "version" },
        { "{\"version\": \"1\", \"nodes\": []}", "version" },
        { "{\"nodes\": []}", "version" },
        { "{\"version\": 1}", "nodes" },
        { "{\"version\": 1, \"nodes\": {}}", "nodes" },
        { "{\"version\": 1, \"nodes\": null}", "nodes" },
        { "{\"version\": 1, \"nodes\": [], \"node\": []}", "\"node\"" },
        { "{\"version\": 1, \"nodes\": [], \"version\": 1}", "JSON" },
        { "[]", "object" },
        { "\"version\"", "JSON" },
        { "", "JSON" },
        { "{\"version\": 1, \"nodes\": []", "JSON" },
        /* After a node: the message names no node. */
        { "{\"nodes\": [" ONE_NODE "], \"extra\": 1, \"version\": 1}", "unknown top-level field \"extra\"" },
        { "{\"nodes\": [" ONE_NODE "], \"version\" 1}", "not valid JSON: line 1" },
        { "{\"nodes\": [" ONE_NODE "], \"version\": 2}", "\"version\" must be 1" },
};

START_TEST(test_inventory_rejects_document) {
        const char *text = document_rejects[_i].text;
        _cleanup_free_ char *err = parse_rejected(text, strlen(text), NULL);
        assert_contains(err, document_rejects[_i].expect);
        ck_assert_msg(!strstr(err, "node \"") && !strstr(err, "(null)"), "%s", err);
}
END_TEST

START_TEST(test_inventory_rejects_bad_json_after_a_node) {
        /* The message gives the position; it does not name the node before, nor a field. */
        static const char text[] =
                "{\"version\": 1, \"nodes\": [\n"
                "{\"name\": \"node-00\", \"mac\": [\"02:00:00:00:00:01\"],"
                " \"boot\": {\"kernel\": \"/k\", \"initrd\": [], \"cmdline\": \"\"},"
                " \"system\": {\"toplevel\": \"/nix/store/t\", \"install\": \"/nix/store/n\"}},\n"
                "{\"name\" \"node-01\"}\n"
                "]}\n";
        _cleanup_free_ char *err = parse_rejected(text, strlen(text), NULL);

        assert_contains(err, "not valid JSON: line 3, column ");
        ck_assert_msg(!strstr(err, "node-00") && !strstr(err, "field"), "%s", err);
}
END_TEST

/* An error after "nodes" (the top level, not a node) names no node, even when the last node
 * parsed fine. */
START_TEST(test_inventory_rejects_after_nodes_names_no_node) {
        static const char *const tails[] = { ", \"node\": []}", ", \"version\": 1, \"version\": 1}", ", 7}", "}}" };
        for (size_t i = 0; i < ELEMENTSOF(tails); i++) {
                json_t *doc = base_inventory();
                _cleanup_free_ char *body = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
                json_decref(doc);
                ck_assert_ptr_nonnull(body);
                body[strlen(body) - 1] = '\0';
                _cleanup_free_ char *text = NULL;
                ck_assert_int_ge(asprintf(&text, "%s%s", body, tails[i]), 0);
                _cleanup_free_ char *err = parse_rejected(text, strlen(text), tails[i]);
                ck_assert_msg(!strstr(err, "node \"") && !strstr(err, "(null)"), "\"%s\" names a node", err);
        }
}
END_TEST

START_TEST(test_inventory_rejects_bad_json_with_position) {
        static const char text[] =
                "{\n"
                "  \"version\": 1,\n"
                "  \"nodes\": [\n"
                "    {\"name\": \"node-00\",}\n"
                "  ]\n"
                "}\n";
        _cleanup_free_ char *err = parse_rejected(text, strlen(text), NULL);

        assert_contains(err, "JSON");
        assert_contains(err, "line 4");
        assert_contains(err, "column ");
}
END_TEST

/* ---- images, stateless nodes, overlays --------------------------------------------------- */

/* Install nodes, nodes before images (the images are resolved after the whole document), a
 * stateless node with overlay files, one without, one of a second image. */
static const char stateless_text[] =
        "{\"version\": 1,\n"
        " \"nodes\": [\n"
        "  {\"name\": \"c001\", \"mac\": [\"52:54:00:00:10:01\"], \"mode\": \"stateless\", \"image\": \"compute\",\n"
        "   \"overlay\": {\"files\": [\n"
        "     {\"path\": \"/etc/ssh/ssh_host_ed25519_key\", \"source\": \"/var/lib/provd/secrets/c001/ssh_host_ed25519_key\",\n"
        "      \"mode\": \"0400\", \"uid\": 0, \"gid\": 996},\n"
        "     {\"path\": \"/etc/munge/munge.key\", \"source\": \"/var/lib/provd/secrets/munge.key\", \"mode\": \"600\",\n"
        "      \"uid\": 2147483647}]},\n"
        "   \"bmc\": {\"host\": \"10.1.0.1\"}, \"rack\": \"r1\"},\n"
        "  {\"name\": \"c002\", \"mac\": [\"52:54:00:00:10:02\"], \"mode\": \"stateless\", \"image\": \"compute\",\n"
        "   \"overlay\": {\"files\": [\n"
        "     {\"path\": \"/etc/ssh/ssh_host_ed25519_key\", \"source\": \"/var/lib/provd/secrets/c002/ssh_host_ed25519_key\"}]}},\n"
        "  {\"name\": \"g001\", \"mac\": [\"52:54:00:00:20:01\"], \"mode\": \"stateless\", \"image\": \"gpu\"},\n"
        "  {\"name\": \"n001\", \"mac\": [\"52:54:00:00:30:01\"], \"mode\": \"install\",\n"
        "   \"boot\": {\"kernel\": \"/nix/store/k1-linux/bzImage\", \"initrd\": [\"/nix/store/i1-initrd/initrd\"],\n"
        "            \"cmdline\": \"init=/nix/store/s1-system/init\"},\n"
        "   \"system\": {\"toplevel\": \"/nix/store/t1-nixos-system\", \"install\": \"/nix/store/n1-install/bin/install\"}}\n"
        " ],\n"
        " \"images\": {\n"
        "  \"gpu\": {\"kernel\": \"https://cache.example/gpu/bzImage\", \"initrd\": [\"https://cache.example/gpu/initrd\"],\n"
        "          \"init\": \"/nix/store/g2-nixos-system-gpu/init\", \"toplevel\": \"/nix/store/g2-nixos-system-gpu\"},\n"
        "  \"compute\": {\"kernel\": \"/nix/store/k1-linux/bzImage\",\n"
        "              \"initrd\": [\"/nix/store/r1-initrd/initrd\", \"/srv/netboot/extra\"],\n"
        "              \"init\": \"/nix/store/c1-nixos-system-compute/init\",\n"
        "              \"toplevel\": \"/nix/store/c1-nixos-system-compute\",\n"
        "              \"cmdline\": \"console=ttyS0 loglevel=4\"},\n"
        "  \"unused\": {\"kernel\": \"/srv/unused/bzImage\", \"initrd\": [], \"init\": \"/nix/store/u1/init\",\n"
        "             \"toplevel\": \"/nix/store/u1\"}\n"
        " }}\n";

START_TEST(test_inventory_stateless_valid) {
        _cleanup_(inventory_freep) Inventory *inv = parse_ok(stateless_text, strlen(stateless_text));

        /* Images in name order, found by name. */
        ck_assert_uint_eq(inv->n_images, 3);
        ck_assert_str_eq(inv->images[0].name, "compute");
        ck_assert_str_eq(inv->images[1].name, "gpu");
        ck_assert_str_eq(inv->images[2].name, "unused");
        for (size_t i = 0; i < inv->n_images; i++) {
                ck_assert_uint_eq(inv->images[i].index, i);
                ck_assert_ptr_eq(inventory_find_image(inv, inv->images[i].name), &inv->images[i]);
        }
        ck_assert_ptr_null(inventory_find_image(inv, "Compute"));
        ck_assert_ptr_null(inventory_find_image(inv, "comput"));
        ck_assert_ptr_null(inventory_find_image(inv, "zzz"));
        ck_assert_ptr_null(inventory_find_image(inv, ""));
        ck_assert_ptr_null(inventory_find_image(inv, NULL));

        const InventoryImage *compute = &inv->images[0], *gpu = &inv->images[1];
        ck_assert_str_eq(compute->boot.kernel, "/nix/store/k1-linux/bzImage");
        ck_assert_uint_eq(compute->boot.n_initrd, 2);
        ck_assert_str_eq(compute->boot.initrd[0], "/nix/store/r1-initrd/initrd");
        ck_assert_str_eq(compute->boot.initrd[1], "/srv/netboot/extra");
        ck_assert_str_eq(compute->boot.cmdline, "console=ttyS0 loglevel=4");
        ck_assert_str_eq(compute->init, "/nix/store/c1-nixos-system-compute/init");
        ck_assert_str_eq(compute->toplevel, "/nix/store/c1-nixos-system-compute");
        ck_assert_str_eq(gpu->boot.kernel, "https://cache.example/gpu/bzImage");
        ck_assert_str_eq(gpu->boot.cmdline, ""); /* absent: empty */
        ck_assert_uint_eq(inv->images[2].boot.n_initrd, 0);

        /* Nodes: mode, image, toplevel = the image's, no install, no boot. */
        ck_assert_uint_eq(inv->n_nodes, 4);
        const Node *c1 = &inv->nodes[0], *c2 = &inv->nodes[1], *g1 = &inv->nodes[2], *n1 = &inv->nodes[3];
        ck_assert_int_eq(c1->mode, NODE_MODE_STATELESS);
        ck_assert_ptr_eq(c1->image, compute);
        ck_assert_ptr_eq(c1->toplevel, compute->toplevel);
        ck_assert_ptr_null(c1->install);
        ck_assert_ptr_null(c1->boot.kernel);
        ck_assert_uint_eq(c1->boot.n_initrd, 0);
        ck_assert_str_eq(c1->rack, "r1");
        ck_assert(c1->has_bmc);
        ck_assert_ptr_eq(c2->image, compute);
        ck_assert_ptr_eq(g1->image, gpu);
        ck_assert_str_eq(g1->toplevel, "/nix/store/g2-nixos-system-gpu");
        ck_assert_uint_eq(g1->n_overlay_files, 0);
        ck_assert_ptr_eq(inventory_find_mac(inv, "52:54:00:00:20:01"), g1);
        ck_assert_int_eq(n1->mode, NODE_MODE_INSTALL);
        ck_assert_ptr_null(n1->image);
        ck_assert_uint_eq(n1->n_overlay_files, 0);
        ck_assert_str_eq(n1->install, "/nix/store/n1-install/bin/install");

        /* Overlay files as written, defaults 0600 root:root. */
        ck_assert_uint_eq(c1->n_overlay_files, 2);
        ck_assert_str_eq(c1->overlay_files[0].path, "/etc/ssh/ssh_host_ed25519_key");
        ck_assert_str_eq(c1->overlay_files[0].source, "/var/lib/provd/secrets/c001/ssh_host_ed25519_key");
        ck_assert_uint_eq(c1->overlay_files[0].mode, 0400);
        ck_assert_uint_eq(c1->overlay_files[0].uid, 0);
        ck_assert_uint_eq(c1->overlay_files[0].gid, 996);
        ck_assert_str_eq(c1->overlay_files[1].path, "/etc/munge/munge.key");
        ck_assert_uint_eq(c1->overlay_files[1].mode, 0600);
        ck_assert_uint_eq(c1->overlay_files[1].uid, 2147483647);
        ck_assert_uint_eq(c1->overlay_files[1].gid, 0);
        ck_assert_uint_eq(c2->n_overlay_files, 1);
        ck_assert_str_eq(c2->overlay_files[0].source, "/var/lib/provd/secrets/c002/ssh_host_ed25519_key");
        ck_assert_uint_eq(c2->overlay_files[0].mode, 0600);
        ck_assert_uint_eq(c2->overlay_files[0].uid, 0);
        /* The path every node shares is stored once. */
        ck_assert_ptr_eq(c1->overlay_files[0].path, c2->overlay_files[0].path);

        /* Served files: the images' local ones (also an unused image's) and the install
         * node's, each once; never an overlay source. */
        static const char *const served[] = {
                "/nix/store/k1-linux/bzImage", "/nix/store/r1-initrd/initrd", "/srv/netboot/extra",
                "/srv/unused/bzImage",         "/nix/store/i1-initrd/initrd",
        };
        ck_assert_uint_eq(inv->n_files, ELEMENTSOF(served));
        for (size_t i = 0; i < ELEMENTSOF(served); i++)
                ck_assert_msg(inventory_has_file(inv, served[i]), "%s not served", served[i]);
        ck_assert(!inventory_has_file(inv, "/var/lib/provd/secrets/munge.key"));
        ck_assert(!inventory_has_file(inv, "https://cache.example/gpu/bzImage"));
}
END_TEST

/* An inventory with images and no stateless node, and images before nodes. */
START_TEST(test_inventory_images_without_stateless_nodes) {
        json_t *doc = base_inventory();
        json_set_path(doc, "images",
                      "{\"compute\": {\"kernel\": \"/srv/c/bzImage\", \"initrd\": [\"/srv/c/initrd\"],"
                      " \"init\": \"/nix/store/c1/init\", \"toplevel\": \"/nix/store/c1\"}}");
        _cleanup_(inventory_freep) Inventory *inv = doc_ok(doc);
        ck_assert_uint_eq(inv->n_images, 1);
        ck_assert(inventory_has_file(inv, "/srv/c/bzImage"));
        ck_assert(inventory_has_file(inv, "/srv/c/initrd"));
        for (size_t i = 0; i < inv->n_nodes; i++) {
                ck_assert_int_eq(inv->nodes[i].mode, NODE_MODE_INSTALL);
                ck_assert_ptr_null(inv->nodes[i].image);
        }

        static const char text[] = "{\"images\": {}, \"version\": 1, \"nodes\": []}";
        _cleanup_(inventory_freep) Inventory *empty = parse_ok(text, strlen(text));
        ck_assert_uint_eq(empty->n_images, 0);
        ck_assert_ptr_null(inventory_find_image(empty, "compute"));
}
END_TEST

/* base_inventory() with images "compute" and "gpu" and node-07 stateless (image compute, one
 * overlay file). */
static json_t *stateless_inventory(void) {
        json_t *doc = base_inventory();
        json_set_path(doc, "images",
                      "{\"compute\": {\"kernel\": \"/nix/store/k1-linux/bzImage\","
                      " \"initrd\": [\"/nix/store/r1-initrd/initrd\"], \"init\": \"/nix/store/c1-system/init\","
                      " \"toplevel\": \"/nix/store/c1-system\", \"cmdline\": \"console=ttyS0\"},"
                      " \"gpu\": {\"kernel\": \"/nix/store/k1-linux/bzImage\", \"initrd\": [],"
                      " \"init\": \"/nix/store/g1-system/init\", \"toplevel\": \"/nix/store/g1-system\"}}");
        json_t *n = base_inventory_node(doc, 7);
        json_set_path(n, "boot", NULL);
        json_set_path(n, "system", NULL);
        json_set_path(n, "mode", "\"stateless\"");
        json_set_path(n, "image", "\"compute\"");
        json_set_path(n, "overlay",
                      "{\"files\": [{\"path\": \"/etc/ssh/ssh_host_ed25519_key\","
                      " \"source\": \"/var/lib/provd/secrets/node-07/ssh_host_ed25519_key\"}]}");
        return doc;
}

START_TEST(test_inventory_stateless_base_is_valid) {
        _cleanup_(inventory_freep) Inventory *inv = doc_ok(stateless_inventory());
        const Node *n = &inv->nodes[7];
        ck_assert_int_eq(n->mode, NODE_MODE_STATELESS);
        ck_assert_ptr_eq(n->image, inventory_find_image(inv, "compute"));
        ck_assert_str_eq(n->toplevel, "/nix/store/c1-system");
        ck_assert_uint_eq(n->n_overlay_files, 1);
        ck_assert_int_eq(inv->nodes[6].mode, NODE_MODE_INSTALL);
}
END_TEST

START_TEST(test_inventory_stateless_accepts_edge_values) {
        static const struct {
                const char *path, *value;
        } cases[] = {
                { "overlay", NULL },
                { "overlay", "null" },
                { "overlay", "{}" },
                { "overlay.files", "[]" },
                { "image", "\"gpu\"" },
                { "bmc", NULL },
                { "overlay.files",
                  "[{\"path\": \"/a\", \"source\": \"/b\", \"mode\": \"07777\", \"uid\": 2147483647, \"gid\": 2147483647},"
                  " {\"path\": \"/etc/hostname.d/x\", \"source\": \"/nix/storex\", \"mode\": \"0\", \"uid\": 0, \"gid\": 0},"
                  " {\"path\": \"/etc/provdx\", \"source\": \"/b\", \"mode\": \"4755\"},"
                  " {\"path\": \"/var/lib/provd-nodes/x\", \"source\": \"/nix/store-x/y\", \"mode\": \"000\"},"
                  " {\"path\": \"/ab\", \"source\": \"/b\"}]" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                json_t *doc = stateless_inventory();
                json_set_path(base_inventory_node(doc, 7), cases[i].path, cases[i].value);
                Inventory *inv = doc_ok(doc);
                inventory_free(inv);
        }

        /* The most overlay files a node may have. */
        json_t *doc = stateless_inventory();
        json_t *files = json_array();
        for (size_t i = 0; i < INVENTORY_MAX_OVERLAY_FILES; i++) {
                char path[32];
                snprintf(path, sizeof path, "/etc/f%02zu", i);
                json_array_append_new(files, json_pack("{s:s, s:s}", "path", path, "source", "/srv/s"));
        }
        json_object_set_new(json_object_get(base_inventory_node(doc, 7), "overlay"), "files", files);
        _cleanup_(inventory_freep) Inventory *inv = doc_ok(doc);
        ck_assert_uint_eq(inv->nodes[7].n_overlay_files, INVENTORY_MAX_OVERLAY_FILES);
}
END_TEST

/* Errors in the stateless node-07 of stateless_inventory(): they name the node and field. */
static const RejectCase stateless_rejects[] = {
        { "mode", "\"diskless\"", "mode", "install or stateless" },
        { "mode", "1", "mode", NULL },
        { "mode", "null", "mode", NULL },
        { "image", NULL, "image", "missing" },
        { "image", "\"nope\"", "image", "\"nope\" is not one of the inventory's \"images\"" },
        { "image", "\"Compute\"", "image", "Compute" },
        { "image", "\"bad name\"", "image", "not a valid image name" },
        { "image", "7", "image", NULL },
        { "image", "null", "image", NULL },
        { "boot", "{\"kernel\": \"/k\", \"initrd\": [], \"cmdline\": \"\"}", "boot", "a stateless node boots its image; boot is not allowed" },
        { "boot", "null", "boot", "not allowed" },
        { "system", "{\"toplevel\": \"/nix/store/t\", \"install\": \"/nix/store/i\"}", "system", "not allowed" },
        { "overlay", "[]", "overlay", "object" },
        { "overlay", "\"x\"", "overlay", NULL },
        { "overlay.filez", "[]", "overlay.filez", "unknown" },
        { "overlay.files", "{}", "overlay.files", "array" },
        { "overlay.files", "[7]", "overlay.files[0]", "object" },
        { "overlay.files", "[{\"source\": \"/s\"}]", "overlay.files[0].path", "missing" },
        { "overlay.files", "[{\"path\": \"/p\"}]", "overlay.files[0].source", "missing" },
        { "overlay.files", "[{\"path\": \"/p\", \"source\": \"/s\", \"owner\": 0}]", "overlay.files[0].owner", "unknown" },
        /* path: absolute, clean, clear of provd's own files and of the node's other files */
        { "overlay.files", "[{\"path\": 7, \"source\": \"/s\"}]", "overlay.files[0].path", NULL },
        { "overlay.files", "[{\"path\": \"etc/x\", \"source\": \"/s\"}]", "overlay.files[0].path", "absolute" },
        { "overlay.files", "[{\"path\": \"/etc/../x\", \"source\": \"/s\"}]", "overlay.files[0].path", ".." },
        { "overlay.files", "[{\"path\": \"/etc//x\", \"source\": \"/s\"}]", "overlay.files[0].path", "//" },
        { "overlay.files", "[{\"path\": \"/etc/x/\", \"source\": \"/s\"}]", "overlay.files[0].path", NULL },
        { "overlay.files", "[{\"path\": \"/\", \"source\": \"/s\"}]", "overlay.files[0].path", "root" },
        { "overlay.files", "[{\"path\": \"/etc/x\\ny\", \"source\": \"/s\"}]", "overlay.files[0].path", "control" },
        { "overlay.files", "[{\"path\": \"/etc/hostname\", \"source\": \"/s\"}]", "overlay.files[0].path", "provd writes itself" },
        { "overlay.files", "[{\"path\": \"/var/lib/provd-node/credential\", \"source\": \"/s\"}]", "overlay.files[0].path", "/var/lib/provd-node" },
        { "overlay.files", "[{\"path\": \"/var/lib/provd-node\", \"source\": \"/s\"}]", "overlay.files[0].path", "provd writes itself" },
        { "overlay.files", "[{\"path\": \"/etc/provd/overlay.manifest\", \"source\": \"/s\"}]", "overlay.files[0].path", "/etc/provd" },
        { "overlay.files", "[{\"path\": \"/etc/provd/x\", \"source\": \"/s\"}]", "overlay.files[0].path", "/etc/provd" },
        { "overlay.files", "[{\"path\": \"/etc\", \"source\": \"/s\"}]", "overlay.files[0].path", "/etc/hostname" },
        { "overlay.files", "[{\"path\": \"/var/lib\", \"source\": \"/s\"}]", "overlay.files[0].path", "/var/lib/provd-node" },
        { "overlay.files", "[{\"path\": \"/a\", \"source\": \"/s\"}, {\"path\": \"/a\", \"source\": \"/t\"}]", "overlay.files[1].path", "the same path" },
        { "overlay.files", "[{\"path\": \"/a/b\", \"source\": \"/s\"}, {\"path\": \"/a\", \"source\": \"/t\"}]", "overlay.files[1].path", "inside" },
        { "overlay.files", "[{\"path\": \"/a\", \"source\": \"/s\"}, {\"path\": \"/b\", \"source\": \"/s\"}, {\"path\": \"/a/c\", \"source\": \"/t\"}]", "overlay.files[2].path", "overlay.files[0]" },
        /* source: absolute, clean, not in the Nix store */
        { "overlay.files", "[{\"path\": \"/p\", \"source\": \"s\"}]", "overlay.files[0].source", "absolute" },
        { "overlay.files", "[{\"path\": \"/p\", \"source\": \"/a/../s\"}]", "overlay.files[0].source", ".." },
        { "overlay.files", "[{\"path\": \"/p\", \"source\": null}]", "overlay.files[0].source", NULL },
        { "overlay.files", "[{\"path\": \"/p\", \"source\": \"/nix/store/abc-secret/key\"}]", "overlay.files[0].source", "Nix store" },
        { "overlay.files", "[{\"path\": \"/p\", \"source\": \"/nix/store\"}]", "overlay.files[0].source", "Nix store" },
        /* mode: an octal string up to 07777 */
        { "overlay.files", "[{\"path\": \"/p\", \"source\": \"/s\", \"mode\": 600}]", "overlay.files[0].mode", "octal string" },
        { "overlay.files", "[{\"path\": \"/p\", \"source\": \"/s\", \"mode\": \"0800\"}]", "overlay.files[0].mode", "0800" },
        { "overlay.files", "[{\"path\": \"/p\", \"source\": \"/s\", \"mode\": \"10000\"}]", "overlay.files[0].mode", "07777" },
        { "overlay.files", "[{\"path\": \"/p\", \"source\": \"/s\", \"mode\": \"010000\"}]", "overlay.files[0].mode", NULL },
        { "overlay.files", "[{\"path\": \"/p\", \"source\": \"/s\", \"mode\": \"\"}]", "overlay.files[0].mode", NULL },
        { "overlay.files", "[{\"path\": \"/p\", \"source\": \"/s\", \"mode\": \"0x1ff\"}]", "overlay.files[0].mode", NULL },
        { "overlay.files", "[{\"path\": \"/p\", \"source\": \"/s\", \"mode\": \"-600\"}]", "overlay.files[0].mode", NULL },
        { "overlay.files", "[{\"path\": \"/p\", \"source\": \"/s\", \"mode\": \" 600\"}]", "overlay.files[0].mode", NULL },
        { "overlay.files", "[{\"path\": \"/p\", \"source\": \"/s\", \"mode\": \"rw-------\"}]", "overlay.files[0].mode", NULL },
        /* uid, gid: 0 .. 2^31-1 */
        { "overlay.files", "[{\"path\": \"/p\", \"source\": \"/s\", \"uid\": -1}]", "overlay.files[0].uid", "2147483647" },
        { "overlay.files", "[{\"path\": \"/p\", \"source\": \"/s\", \"uid\": 2147483648}]", "overlay.files[0].uid", NULL },
        { "overlay.files", "[{\"path\": \"/p\", \"source\": \"/s\", \"uid\": \"0\"}]", "overlay.files[0].uid", NULL },
        { "overlay.files", "[{\"path\": \"/p\", \"source\": \"/s\", \"uid\": 1.0}]", "overlay.files[0].uid", NULL },
        { "overlay.files", "[{\"path\": \"/p\", \"source\": \"/s\", \"gid\": -5}]", "overlay.files[0].gid", NULL },
        { "overlay.files", "[{\"path\": \"/p\", \"source\": \"/s\", \"gid\": 4294967296}]", "overlay.files[0].gid", NULL },
        { "overlay.files", "[{\"path\": \"/p\", \"source\": \"/s\", \"gid\": null}]", "overlay.files[0].gid", NULL },
};

START_TEST(test_inventory_rejects_stateless) {
        const RejectCase *t = &stateless_rejects[_i];
        char quoted[160];

        json_t *doc = stateless_inventory();
        json_set_path(base_inventory_node(doc, 7), t->path, t->value);
        _cleanup_free_ char *err = doc_rejected(doc);

        assert_contains(err, "node \"node-07\"");
        assert_contains(err, "nodes[7]");
        snprintf(quoted, sizeof quoted, "field \"%s\"", t->field);
        assert_contains(err, quoted);
        if (t->detail)
                assert_contains(err, t->detail);
}
END_TEST

START_TEST(test_inventory_rejects_too_many_overlay_files) {
        json_t *doc = stateless_inventory();
        json_t *files = json_array();
        for (size_t i = 0; i <= INVENTORY_MAX_OVERLAY_FILES; i++) {
                char path[32];
                snprintf(path, sizeof path, "/etc/f%02zu", i);
                json_array_append_new(files, json_pack("{s:s, s:s}", "path", path, "source", "/srv/s"));
        }
        json_object_set_new(json_object_get(base_inventory_node(doc, 7), "overlay"), "files", files);
        _cleanup_free_ char *err = doc_rejected(doc);
        assert_contains(err, "node \"node-07\"");
        assert_contains(err, "field \"overlay.files\"");
        assert_contains(err, "more than 64");
}
END_TEST

/* Errors in image "compute" of stateless_inventory(): they name the image and the field. */
static const RejectCase image_rejects[] = {
        { "kernel", NULL, "kernel", "missing" },
        { "kernel", "7", "kernel", NULL },
        { "kernel", "\"bzImage\"", "kernel", "absolute" },
        { "kernel", "\"/nix/store/k1-linux/../bzImage\"", "kernel", ".." },
        { "kernel", "\"http://\"", "kernel", "no host" },
        { "kernel", "\"http://cache/${x}\"", "kernel", "${" },
        { "initrd", NULL, "initrd", "missing" },
        { "initrd", "\"/nix/store/r1-initrd/initrd\"", "initrd", "array" },
        { "initrd", "[\"/nix/store/r1-initrd/initrd\", 7]", "initrd[1]", NULL },
        { "initrd", "[\"/nix/store/r1-initrd/\"]", "initrd[0]", NULL },
        { "initrd",
          "[\"/i/0\", \"/i/1\", \"/i/2\", \"/i/3\", \"/i/4\", \"/i/5\", \"/i/6\", \"/i/7\", \"/i/8\", \"/i/9\", \"/i/a\","
          " \"/i/b\", \"/i/c\", \"/i/d\", \"/i/e\", \"/i/f\"]",
          "initrd", "more than 15" },
        { "init", NULL, "init", "missing" },
        { "init", "\"/sbin/init\"", "init", "/nix/store/" },
        { "init", "\"/nix/store/c1 system/init\"", "init", NULL },
        { "init", "7", "init", NULL },
        { "toplevel", NULL, "toplevel", "missing" },
        { "toplevel", "\"/etc/system\"", "toplevel", "/nix/store/" },
        { "toplevel", "\"/nix/store/\"", "toplevel", NULL },
        { "cmdline", "7", "cmdline", NULL },
        { "cmdline", "\"init=/nix/store/c1-system/init\"", "cmdline", "init=" },
        { "cmdline", "\"console=ttyS0  init=/bin/sh\"", "cmdline", "init=" },
        { "cmdline", "\"provd.token=x\"", "cmdline", "provd.token" },
        { "cmdline", "\"nixos.install=/nix/store/x\"", "cmdline", "nixos.install" },
        { "cmdline", "\"a {{ .ID }}\"", "cmdline", "{{" },
        { "cmdline", "\"a ${x}\"", "cmdline", "${" },
        { "cmdline", "\"a\\nb\"", "cmdline", NULL },
        { "cmdline", "\"a=\\\"b c\\\"\"", "cmdline", NULL },
        { "kernal", "\"/k\"", "kernal", "unknown" },
        { "system", "{}", "system", "unknown" },
};

START_TEST(test_inventory_rejects_image) {
        const RejectCase *t = &image_rejects[_i];
        char quoted[160];

        json_t *doc = stateless_inventory();
        json_set_path(json_object_get(json_object_get(doc, "images"), "compute"), t->path, t->value);
        _cleanup_free_ char *err = doc_rejected(doc);

        assert_contains(err, "image \"compute\"");
        snprintf(quoted, sizeof quoted, "field \"%s\"", t->field);
        assert_contains(err, quoted);
        if (t->detail)
                assert_contains(err, t->detail);
        ck_assert_msg(!strstr(err, "node \""), "\"%s\" names a node", err);
}
END_TEST

START_TEST(test_inventory_image_edge_values) {
        static const struct {
                const char *path, *value;
        } cases[] = {
                { "cmdline", NULL },
                { "cmdline", "\"\"" },
                { "cmdline", "\"rdinit=/x xinit=1 systemd.init=1 init\"" },
                { "initrd", "[]" },
                { "initrd",
                  "[\"/i/0\", \"/i/1\", \"/i/2\", \"/i/3\", \"/i/4\", \"/i/5\", \"/i/6\", \"/i/7\", \"/i/8\", \"/i/9\","
                  " \"/i/a\", \"/i/b\", \"/i/c\", \"/i/d\", \"https://cache.example/i/e\"]" },
                { "kernel", "\"https://cache.example/bzImage\"" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                json_t *doc = stateless_inventory();
                json_set_path(json_object_get(json_object_get(doc, "images"), "compute"), cases[i].path,
                              cases[i].value);
                Inventory *inv = doc_ok(doc);
                inventory_free(inv);
        }
}
END_TEST

/* Whole images and the "images" member itself. */
START_TEST(test_inventory_rejects_images) {
        static const struct {
                const char *images; /* the "images" member's JSON text */
                const char *expect[2];
        } cases[] = {
                { "[]", { "\"images\" must be an object", NULL } },
                { "null", { "\"images\" must be an object", NULL } },
                { "{\"compute\": \"/nix/store/x\"}", { "image \"compute\"", "must be an object" } },
                { "{\"bad name\": {}}", { "image \"bad name\"", "not a valid image name" } },
                { "{\"-x\": {}}", { "image \"-x\"", "not a valid image name" } },
                { "{\"\": {}}", { "image \"\"", "not a valid image name" } },
                { "{\"a\": {}, \"a\": {}}", { "JSON", "duplicate" } },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                json_t *doc = stateless_inventory();
                json_set_path(doc, "images", NULL);
                _cleanup_free_ char *body = json_dumps(doc, JSON_COMPACT);
                json_decref(doc);
                /* "images" last, after "nodes", as written (duplicate keys cannot be built with jansson) */
                _cleanup_free_ char *text = NULL;
                body[strlen(body) - 1] = '\0';
                ck_assert_int_ge(asprintf(&text, "%s, \"images\": %s}", body, cases[i].images), 0);
                _cleanup_free_ char *err = parse_rejected(text, strlen(text), cases[i].images);
                for (size_t k = 0; k < 2 && cases[i].expect[k]; k++)
                        assert_contains(err, cases[i].expect[k]);
                ck_assert_msg(!strstr(err, "node \""), "\"%s\" names a node", err);
        }

        /* Twice "images" at the top level. */
        static const char twice[] = "{\"version\": 1, \"images\": {}, \"nodes\": [], \"images\": {}}";
        _cleanup_free_ char *err = parse_rejected(twice, strlen(twice), NULL);
        assert_contains(err, "duplicate");

        /* More images than INVENTORY_MAX_IMAGES. */
        _cleanup_free_ char *many = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&many, &len);
        ck_assert_ptr_nonnull(f);
        fputs("{\"version\": 1, \"nodes\": [], \"images\": {", f);
        for (size_t i = 0; i <= INVENTORY_MAX_IMAGES; i++)
                fprintf(f, "%s\"i%04zu\": {\"kernel\": \"/k\", \"initrd\": [], \"init\": \"/nix/store/i/init\","
                           " \"toplevel\": \"/nix/store/i\"}", i ? ", " : "", i);
        fputs("}}", f);
        ck_assert_int_eq(fclose(f), 0);
        _cleanup_free_ char *err2 = parse_rejected(many, len, "1025 images");
        assert_contains(err2, "more than 1024 images");
}
END_TEST

START_TEST(test_inventory_rejects_stateless_no_images) {
        /* A stateless node naming an image of an inventory that has none. */
        json_t *doc = stateless_inventory();
        json_set_path(doc, "images", NULL);
        _cleanup_free_ char *err = doc_rejected(doc);
        assert_contains(err, "node \"node-07\" (nodes[7]): field \"image\"");
        assert_contains(err, "has none");
}
END_TEST

/* ---- a large inventory ------------------------------------------------------------------ */

#define LARGE_NODES 10000

static void large_mac_octets(size_t i, unsigned k, uint8_t ret[6]) {
        ret[0] = 0x02;
        ret[1] = 0x10;
        ret[2] = (uint8_t) (0x20 + k);
        ret[3] = (uint8_t) (i >> 16);
        ret[4] = (uint8_t) (i >> 8);
        ret[5] = (uint8_t) i;
}

/* MAC k (0 or 1) of node i, in one of four spellings chosen by i. */
static void large_mac_text(size_t i, unsigned k, char ret[32]) {
        uint8_t m[6];
        large_mac_octets(i, k, m);
        switch ((i + k) % 4) {
        case 0:
                snprintf(ret, 32, "%02X:%02X:%02X:%02X:%02X:%02X", m[0], m[1], m[2], m[3], m[4], m[5]);
                break;
        case 1:
                snprintf(ret, 32, "%02x-%02x-%02x-%02x-%02x-%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
                break;
        case 2:
                snprintf(ret, 32, "%02x%02x.%02x%02x.%02x%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
                break;
        default:
                snprintf(ret, 32, "%02X%02x%02X%02x%02X%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
                break;
        }
}

START_TEST(test_inventory_large) {
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        ck_assert_ptr_nonnull(f);

        fputs("{\"version\": 1, \"nodes\": [\n", f);
        for (size_t i = 0; i < LARGE_NODES; i++) {
                char mac0[32], mac1[32];
                large_mac_text(i, 0, mac0);
                large_mac_text(i, 1, mac1);
                fprintf(f,
                        "%s{\"name\": \"node-%05zu\", \"mac\": [\"%s\", \"%s\"],"
                        " \"bmc\": {\"host\": \"10.2.%zu.%zu\"},"
                        " \"boot\": {\"kernel\": \"/nix/store/k1-linux/bzImage\","
                        " \"initrd\": [\"/nix/store/i-%05zu-initrd/initrd\"], \"cmdline\": \"init=/x\"},"
                        " \"system\": {\"toplevel\": \"/nix/store/t-%05zu\", \"install\": \"/nix/store/n1/install\"}}\n",
                        i ? "," : "", i, mac0, mac1, i / 256, i % 256, i, i);
        }
        fputs("]}\n", f);
        ck_assert_int_eq(fclose(f), 0);

        _cleanup_(inventory_freep) Inventory *inv = parse_ok(text, len);
        ck_assert_uint_eq(inv->n_nodes, LARGE_NODES);
        ck_assert_uint_eq(inv->n_files, LARGE_NODES + 1);
        ck_assert(inventory_has_file(inv, "/nix/store/k1-linux/bzImage"));

        for (size_t i = 0; i < LARGE_NODES; i++) {
                char name[32], path[64];
                const Node *n = &inv->nodes[i];

                snprintf(name, sizeof name, "node-%05zu", i);
                ck_assert_str_eq(n->name, name);
                ck_assert_ptr_eq(inventory_find_name(inv, name), n);
                ck_assert_uint_eq(inv->name_order[i], i); /* already in name order */
                ck_assert_uint_eq(inventory_name_after(inv, name), i + 1);
                ck_assert_uint_eq(n->n_macs, 2);
                for (unsigned k = 0; k < 2; k++) {
                        char raw[32], canonical[MAC_STRING_MAX], expect[MAC_STRING_MAX];
                        uint8_t m[6];
                        large_mac_text(i, k, raw);
                        large_mac_octets(i, k, m);
                        mac_format(m, expect);
                        ck_assert_str_eq(n->macs[k], expect);
                        ck_assert_int_eq(mac_normalize(raw, canonical), 0);
                        ck_assert_msg(inventory_find_mac(inv, canonical) == n, "%s (%s) not found as %s", raw,
                                      canonical, name);
                }
                snprintf(path, sizeof path, "/nix/store/i-%05zu-initrd/initrd", i);
                ck_assert_msg(inventory_has_file(inv, path), "%s not served", path);
        }

        /* Nothing beyond the last node. */
        char canonical[MAC_STRING_MAX];
        uint8_t m[6];
        large_mac_octets(LARGE_NODES, 0, m);
        ck_assert_ptr_null(inventory_find_mac(inv, mac_format(m, canonical)));
        ck_assert_ptr_null(inventory_find_name(inv, "node-10000"));
}
END_TEST

START_TEST(test_inventory_large_duplicate_mac_at_end) {
        /* The last of many nodes repeats the first node's MAC: still found. */
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        ck_assert_ptr_nonnull(f);

        fputs("{\"version\": 1, \"nodes\": [\n", f);
        for (size_t i = 0; i < LARGE_NODES; i++) {
                char mac[32];
                large_mac_text(i == LARGE_NODES - 1 ? 0 : i, 0, mac);
                fprintf(f,
                        "%s{\"name\": \"node-%05zu\", \"mac\": [\"%s\"],"
                        " \"boot\": {\"kernel\": \"/k\", \"initrd\": [], \"cmdline\": \"\"},"
                        " \"system\": {\"toplevel\": \"/nix/store/t\", \"install\": \"/nix/store/n\"}}\n",
                        i ? "," : "", i, mac);
        }
        fputs("]}\n", f);
        ck_assert_int_eq(fclose(f), 0);

        _cleanup_free_ char *err = parse_rejected(text, len, "10,000 nodes, the last with node-00000's MAC");
        assert_contains(err, "node \"node-09999\"");
        assert_contains(err, "node \"node-00000\"");
        assert_contains(err, "\"mac[0]\"");
}
END_TEST

/* ---- large arrays, parsed in two halves at once ----------------------------------------- */

#define SPLIT_NODES 6000 /* ~1.3 MB of text: parsed by two threads */

/* An inventory of `n` nodes, one a line after the first line; node `bad` (n or more: none) is
 * `bad_text` instead.  Every node's cmdline is `cmdline`, its last field. */
static char *split_text(size_t n, const char *cmdline, size_t bad, const char *bad_text, size_t *ret_len) {
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        ck_assert_ptr_nonnull(f);
        fputs("{\"version\": 1, \"nodes\": [\n", f);
        for (size_t i = 0; i < n; i++) {
                char mac[32];
                large_mac_text(i, 0, mac);
                if (i == bad)
                        fprintf(f, "%s%s\n", i ? "," : "", bad_text);
                else
                        fprintf(f,
                                "%s{\"name\": \"node-%06zu\", \"rack\": \"r%zu\", \"mac\": [\"%s\"],"
                                " \"system\": {\"toplevel\": \"/nix/store/t-%zu\", \"install\": \"/nix/store/n\"},"
                                " \"boot\": {\"kernel\": \"/k\", \"initrd\": [\"/i\"], \"cmdline\": \"%s\"}}\n",
                                i ? "," : "", i, i / 40, mac, i, cmdline);
        }
        fputs("]}\n", f);
        ck_assert_int_eq(fclose(f), 0);
        *ret_len = len;
        return text;
}

static void assert_split_nodes(const Inventory *inv, size_t n, const char *cmdline) {
        ck_assert_uint_eq(inv->n_nodes, n);
        ck_assert_uint_eq(inv->n_files, 2);
        for (size_t i = 0; i < n; i++) {
                char name[32], rack[16], toplevel[64], mac[MAC_STRING_MAX];
                uint8_t m[6];
                const Node *node = &inv->nodes[i];
                snprintf(name, sizeof name, "node-%06zu", i);
                snprintf(rack, sizeof rack, "r%zu", i / 40);
                snprintf(toplevel, sizeof toplevel, "/nix/store/t-%zu", i);
                ck_assert_str_eq(node->name, name);
                ck_assert_uint_eq(node->index, i);
                ck_assert_ptr_eq(inventory_find_name(inv, name), node);
                ck_assert_uint_eq(inv->name_order[i], i);
                ck_assert_str_eq(node->rack, rack);
                ck_assert_str_eq(node->toplevel, toplevel);
                ck_assert_str_eq(node->install, "/nix/store/n");
                ck_assert_str_eq(node->boot.kernel, "/k");
                ck_assert_uint_eq(node->boot.n_initrd, 1);
                ck_assert_str_eq(node->boot.initrd[0], "/i");
                ck_assert_str_eq(node->boot.cmdline, cmdline);
                large_mac_octets(i, 0, m);
                ck_assert_ptr_eq(inventory_find_mac(inv, mac_format(m, mac)), node);
        }
}

START_TEST(test_inventory_split_valid) {
        size_t len;
        _cleanup_free_ char *text = split_text(SPLIT_NODES, "init=/x", SIZE_MAX, NULL, &len);
        _cleanup_(inventory_freep) Inventory *inv = parse_ok(text, len);
        assert_split_nodes(inv, SPLIT_NODES, "init=/x");
}
END_TEST

START_TEST(test_inventory_split_guess_inside_a_string) {
        /* Most of every node is a string full of what looks like the start of the next node
         * ("},{" and "}, {}"): the second thread's guess is one of them, inside a string, so
         * its nodes are not taken; the first thread parses them all. */
        char cmdline[1024] = "";
        for (int i = 0; i < 40; i++)
                strcat(cmdline, i % 2 ? "a}, {} " : "b},{c ");
        size_t len;
        _cleanup_free_ char *text = split_text(SPLIT_NODES, cmdline, SIZE_MAX, NULL, &len);
        _cleanup_(inventory_freep) Inventory *inv = parse_ok(text, len);
        assert_split_nodes(inv, SPLIT_NODES, cmdline);
}
END_TEST

/* Errors in either half read as with one thread: the right node, index and line. */
static const struct {
        size_t at;          /* the bad node's index */
        const char *node;   /* its text */
        const char *expect; /* in the message */
        const char *expect2;
} split_rejects[] = {
        { 10, "{\"name\": \"n-10\", \"rack\": \"-r\"}", "node \"n-10\" (nodes[10]): field \"rack\"", "not a valid rack" },
        { 4500, "{\"name\": \"n-4500\", \"rack\": \"-r\"}", "node \"n-4500\" (nodes[4500]): field \"rack\"", "not a valid rack" },
        { 5999, "{\"name\": \"n-5999\", \"mac\": []}", "node \"n-5999\" (nodes[5999]): field \"mac\"", "non-empty array" },
        { 4500, "{\"name\": \"n-4500\", \"rack\" \"r\"}", "not valid JSON: line 4502, column ", "':'" },
        { 4500, "[]", "nodes[4500] must be an object", "nodes[4500]" },
        { 4500, "{\"name\": \"node-000001\"}", "node \"node-000001\" (nodes[4500])", "field \"mac\"" },
};

START_TEST(test_inventory_split_rejects) {
        size_t len;
        _cleanup_free_ char *text = split_text(SPLIT_NODES, "init=/x", split_rejects[_i].at, split_rejects[_i].node, &len);
        _cleanup_free_ char *err = parse_rejected(text, len, split_rejects[_i].node);
        assert_contains(err, split_rejects[_i].expect);
        assert_contains(err, split_rejects[_i].expect2);
        ck_assert_msg(!strstr(err, "(null)") && !strstr(err, "nodes[4499]"), "%s", err);
}
END_TEST

START_TEST(test_inventory_split_duplicate_across_halves) {
        /* Node 5000 has node 3's name: found once both halves are one inventory. */
        char bad[512];
        snprintf(bad, sizeof bad,
                 "{\"name\": \"node-000003\", \"mac\": [\"02:99:00:00:00:01\"],"
                 " \"system\": {\"toplevel\": \"/nix/store/t\", \"install\": \"/nix/store/n\"},"
                 " \"boot\": {\"kernel\": \"/k\", \"initrd\": [], \"cmdline\": \"\"}}");
        size_t len;
        _cleanup_free_ char *text = split_text(SPLIT_NODES, "init=/x", 5000, bad, &len);
        _cleanup_free_ char *err = parse_rejected(text, len, "node 5000 named as node 3");
        assert_contains(err, "node \"node-000003\" (nodes[5000]): field \"name\": duplicate: nodes[3]");
}
END_TEST

START_TEST(test_inventory_split_stateless_in_second_half) {
        /* The only stateless node is in the second thread's half: its image is still resolved
         * once both halves are one inventory. */
        const char *node = "{\"name\": \"c-5000\", \"mac\": [\"02:99:00:00:00:01\"], \"mode\": \"stateless\","
                           " \"image\": \"compute\"}";
        size_t len;
        _cleanup_free_ char *text = split_text(SPLIT_NODES, "init=/x", 5000, node, &len);
        const char *images = "], \"images\": {\"compute\": {\"kernel\": \"/ik\", \"initrd\": [\"/ii\"],"
                             " \"init\": \"/nix/store/s/init\", \"toplevel\": \"/nix/store/s\"}}}\n";
        ck_assert(len >= 3 && strcmp(text + len - 3, "]}\n") == 0);
        _cleanup_free_ char *full = NULL;
        ck_assert_int_ge(asprintf(&full, "%.*s%s", (int) (len - 3), text, images), 0);
        _cleanup_(inventory_freep) Inventory *inv = NULL;
        char err[ERRBUF_MAX] = "";
        ck_assert_msg(inventory_parse(full, strlen(full), &inv, err, sizeof err) == 0, "%s", err);
        const Node *n = inventory_find_name(inv, "c-5000");
        ck_assert_ptr_nonnull(n);
        ck_assert_int_eq(n->mode, NODE_MODE_STATELESS);
        ck_assert_ptr_nonnull(n->image);
        ck_assert_str_eq(n->image->name, "compute");
        ck_assert_str_eq(n->toplevel, "/nix/store/s");
}
END_TEST

/* ---- a reload: unchanged nodes copied from the inventory before ----------------------- */

static void assert_str_same(const char *a, const char *b) {
        if (!a || !b)
                ck_assert_ptr_eq(a, b);
        else
                ck_assert_str_eq(a, b);
}

/* Every field of a and b (nodes of two inventories) is equal; none shares a pointer. */
static void assert_node_same(const Node *a, const Node *b) {
        assert_str_same(a->name, b->name);
        assert_str_same(a->rack, b->rack);
        ck_assert_uint_eq(a->n_macs, b->n_macs);
        ck_assert_mem_eq(a->macs, b->macs, a->n_macs * sizeof *a->macs);
        ck_assert_int_eq(a->has_bmc, b->has_bmc);
        assert_str_same(a->bmc.host, b->bmc.host);
        ck_assert_uint_eq(a->bmc.port, b->bmc.port);
        assert_str_same(a->bmc.user, b->bmc.user);
        assert_str_same(a->bmc.password_file, b->bmc.password_file);
        ck_assert_uint_eq(a->bmc.cipher_suite, b->bmc.cipher_suite);
        ck_assert_uint_eq(a->bmc.workarounds, b->bmc.workarounds);
        ck_assert_int_eq(a->bmc.efi, b->bmc.efi);
        ck_assert_int_eq(a->bmc.console, b->bmc.console);
        ck_assert_uint_eq(a->bmc.sol_workarounds, b->bmc.sol_workarounds);
        assert_str_same(a->boot.kernel, b->boot.kernel);
        ck_assert_uint_eq(a->boot.n_initrd, b->boot.n_initrd);
        ck_assert_int_eq(!!a->boot.initrd, !!b->boot.initrd);
        for (size_t f = 0; a->boot.initrd && f <= a->boot.n_initrd; f++)
                assert_str_same(a->boot.initrd[f], b->boot.initrd[f]);
        assert_str_same(a->boot.cmdline, b->boot.cmdline);
        assert_str_same(a->toplevel, b->toplevel);
        assert_str_same(a->install, b->install);
        ck_assert_int_eq(a->mode, b->mode);
        ck_assert_int_eq(!!a->image, !!b->image);
        if (a->image)
                ck_assert_str_eq(a->image->name, b->image->name);
        ck_assert_uint_eq(a->n_overlay_files, b->n_overlay_files);
        ck_assert_uint_eq(a->index, b->index);
        ck_assert_uint_eq(a->text_hash, b->text_hash);
        ck_assert(a->name != b->name && a->macs != b->macs && (!a->boot.kernel || a->boot.kernel != b->boot.kernel));
}

/* Parses `text` reusing prev (freed right after, so nothing may point into it), checks the
 * result equals a fresh parse of the same text, node for node, with the same lookups, and
 * that `reused` nodes were copied. */
static Inventory *reparse_same(Inventory *prev, const char *text, size_t len, size_t reused) {
        Inventory *inv = NULL;
        char err[ERRBUF_MAX] = "";
        int r = inventory_parse_reusing(text, len, prev, &inv, err, sizeof err);
        ck_assert_msg(r == 0, "inventory_parse_reusing failed: %d: %s", r, err);
        inventory_free(prev);
        _cleanup_(inventory_freep) Inventory *fresh = parse_ok(text, len);
        ck_assert_uint_eq(inv->n_reused, reused);
        ck_assert_uint_eq(fresh->n_reused, 0);
        ck_assert_uint_eq(inv->n_nodes, fresh->n_nodes);
        ck_assert_uint_eq(inv->n_files, fresh->n_files);
        for (size_t i = 0; i < inv->n_nodes; i++) {
                const Node *n = &inv->nodes[i];
                assert_node_same(n, &fresh->nodes[i]);
                ck_assert_uint_eq(inv->name_order[i], fresh->name_order[i]);
                ck_assert_ptr_eq(inventory_find_name(inv, n->name), n);
                for (size_t m = 0; m < n->n_macs; m++)
                        ck_assert_ptr_eq(inventory_find_mac(inv, n->macs[m]), n);
                for (size_t f = 0; n->boot.kernel && f <= n->boot.n_initrd; f++) {
                        const char *p = f ? n->boot.initrd[f - 1] : n->boot.kernel;
                        ck_assert_int_eq(inventory_has_file(inv, p), !inventory_is_url(p));
                }
        }
        return inv;
}

static char *replace_once(const char *text, const char *from, const char *to) {
        const char *at = strstr(text, from);
        ck_assert_ptr_nonnull(at);
        char *out = NULL;
        ck_assert_int_ge(asprintf(&out, "%.*s%s%s", (int) (at - text), text, to, at + strlen(from)), 0);
        return out;
}

START_TEST(test_inventory_reuse_unchanged_nodes) {
        Inventory *inv = valid_inventory();
        /* The same text: every node copied. */
        inv = reparse_same(inv, valid_text, strlen(valid_text), 3);
        /* node-b's cmdline changed: node-b parsed, the others copied. */
        _cleanup_free_ char *changed = replace_once(valid_text, "\"cmdline\": \"\"}", "\"cmdline\": \"quiet\"}");
        inv = reparse_same(inv, changed, strlen(changed), 2);
        /* Back again: node-b's text is the first inventory's, no longer the one before. */
        inv = reparse_same(inv, valid_text, strlen(valid_text), 2);
        /* Whitespace inside a node is part of its text; around it is not. */
        _cleanup_free_ char *spaced = replace_once(valid_text, "\"bmc\": null,", "\"bmc\":  null,");
        inv = reparse_same(inv, spaced, strlen(spaced), 2);
        _cleanup_free_ char *around = replace_once(valid_text, "  ]\n", "\n\n   ]");
        inv = reparse_same(inv, around, strlen(around), 2);
        inventory_free(inv);
}
END_TEST

START_TEST(test_inventory_reuse_moved_nodes) {
        /* node-a moves to the end: copied all the same, the lookup tables rebuilt. */
        const char *a = strstr(valid_text, "    {\"name\": \"node-a\"");
        const char *b = strstr(valid_text, "    {\"name\": \"node-b\"");
        const char *end = strstr(valid_text, "\n  ]\n");
        ck_assert(a && b && end);
        _cleanup_free_ char *moved = NULL;
        ck_assert_int_ge(asprintf(&moved, "%.*s%.*s,\n%.*s%s", (int) (a - valid_text), valid_text, (int) (end - b), b,
                                  (int) (b - a - 2), a, end),
                         0);
        Inventory *inv = valid_inventory();
        inv = reparse_same(inv, moved, strlen(moved), 3);
        ck_assert_str_eq(inv->nodes[2].name, "node-a");
        inventory_free(inv);
}
END_TEST

START_TEST(test_inventory_reuse_errors_as_fresh) {
        /* node-a twice: the copy is found a duplicate, with the message of a fresh parse. */
        const char *a = strstr(valid_text, "    {\"name\": \"node-a\"");
        const char *b = strstr(valid_text, "    {\"name\": \"node-b\"");
        _cleanup_free_ char *twice = NULL;
        ck_assert_int_ge(asprintf(&twice, "%.*s%.*s%s", (int) (b - valid_text), valid_text, (int) (b - a), a, b), 0);
        _cleanup_(inventory_freep) Inventory *prev = valid_inventory();
        Inventory *inv = &inventory_sentinel;
        char err[ERRBUF_MAX] = "";
        ck_assert_int_eq(inventory_parse_reusing(twice, strlen(twice), prev, &inv, err, sizeof err), -EINVAL);
        ck_assert_ptr_eq(inv, &inventory_sentinel);
        _cleanup_free_ char *fresh = parse_rejected(twice, strlen(twice), "node-a twice");
        ck_assert_str_eq(err, fresh);
        assert_contains(err, "duplicate");
}
END_TEST

START_TEST(test_inventory_reuse_stateless_parsed) {
        /* Stateless nodes are parsed again (their image is resolved anew); install nodes copied. */
        json_t *doc = stateless_inventory();
        _cleanup_free_ char *text = json_dumps(doc, JSON_COMPACT);
        size_t n_install = 0, n = json_array_size(json_object_get(doc, "nodes"));
        for (size_t i = 0; i < n; i++)
                if (!json_is_string(json_object_get(json_array_get(json_object_get(doc, "nodes"), i), "mode")) ||
                    strcmp(json_string_value(json_object_get(json_array_get(json_object_get(doc, "nodes"), i), "mode")),
                           "stateless") != 0)
                        n_install++;
        json_decref(doc);
        Inventory *inv = parse_ok(text, strlen(text));
        inv = reparse_same(inv, text, strlen(text), n_install);
        inventory_free(inv);
}
END_TEST

START_TEST(test_inventory_reuse_split) {
        /* Both parsing threads copy: one node of 6,000 changed in the second half. */
        size_t len, len2;
        _cleanup_free_ char *text = split_text(SPLIT_NODES, "init=/x", SIZE_MAX, NULL, &len);
        char node[512], mac[32];
        large_mac_text(4500, 0, mac);
        snprintf(node, sizeof node,
                 "{\"name\": \"node-004500\", \"rack\": \"r999\", \"mac\": [\"%s\"],"
                 " \"system\": {\"toplevel\": \"/nix/store/t-4500\", \"install\": \"/nix/store/n\"},"
                 " \"boot\": {\"kernel\": \"/k\", \"initrd\": [\"/i\"], \"cmdline\": \"init=/x\"}}",
                 mac);
        _cleanup_free_ char *text2 = split_text(SPLIT_NODES, "init=/x", 4500, node, &len2);
        Inventory *inv = parse_ok(text, len);
        inv = reparse_same(inv, text2, len2, SPLIT_NODES - 1);
        ck_assert_str_eq(inv->nodes[4500].rack, "r999");
        inv = reparse_same(inv, text, len, SPLIT_NODES - 1);
        inv = reparse_same(inv, text, len, SPLIT_NODES);
        assert_split_nodes(inv, SPLIT_NODES, "init=/x");
        inventory_free(inv);
}
END_TEST

START_TEST(test_inventory_too_many_nodes) {
        /* One node more than the limit, in two halves of fewer nodes each. */
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        ck_assert_ptr_nonnull(f);
        fputs("{\"version\": 1, \"nodes\": [", f);
        for (size_t i = 0; i <= INVENTORY_MAX_NODES; i++)
                fprintf(f,
                        "%s{\"name\":\"n%zu\",\"mac\":[\"02:00:00:%02zx:%02zx:%02zx\"],\"boot\":{\"kernel\":\"/k\","
                        "\"initrd\":[],\"cmdline\":\"\"},\"system\":{\"toplevel\":\"/nix/store/t\",\"install\":\"/nix/store/n\"}}",
                        i ? "," : "", i, (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff);
        fputs("]}", f);
        ck_assert_int_eq(fclose(f), 0);
        Inventory *inv = &inventory_sentinel;
        char err[ERRBUF_MAX] = "";
        ck_assert_int_eq(inventory_parse(text, len, &inv, err, sizeof err), -EINVAL);
        ck_assert_ptr_eq(inv, &inventory_sentinel);
        assert_contains(err, "more than 100000 nodes");
}
END_TEST

/* ---- inventory_load_file() -------------------------------------------------------------- */

static char load_dir[] = "/tmp/provd-test-inventory-XXXXXX";

static void load_setup(void) {
        ck_assert_ptr_nonnull(mkdtemp(load_dir));
}

static int load_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(path);
}

static void load_teardown(void) {
        nftw(load_dir, load_rm, 16, FTW_DEPTH | FTW_PHYS);
}

static void write_file(const char *path, const char *content) {
        FILE *f = fopen(path, "w");
        ck_assert_msg(f != NULL, "cannot create %s", path);
        fputs(content, f);
        ck_assert_int_eq(fclose(f), 0);
}

/* Writes <dir>/<tag>/{bzImage,initrd,inventory.json}; returns the inventory's path. */
static char *load_fixture(const char *tag, bool kernel, bool initrd) {
        _cleanup_free_ char *dir = NULL, *kpath = NULL, *ipath = NULL, *json = NULL;
        char *ipath_inv = NULL;

        ck_assert_int_ge(asprintf(&dir, "%s/%s", load_dir, tag), 0);
        ck_assert_int_eq(mkdir(dir, 0755), 0);
        ck_assert_int_ge(asprintf(&kpath, "%s/bzImage", dir), 0);
        ck_assert_int_ge(asprintf(&ipath, "%s/initrd", dir), 0);
        if (kernel)
                write_file(kpath, "kernel");
        if (initrd)
                write_file(ipath, "initrd");
        ck_assert_int_ge(asprintf(&json,
                                  "{\"version\": 1, \"nodes\": [{\"name\": \"node-00\", \"mac\": [\"52:54:00:00:00:01\"],"
                                  " \"boot\": {\"kernel\": \"%s\", \"initrd\": [\"https://cache.example/x\", \"%s\"],"
                                  " \"cmdline\": \"\"},"
                                  " \"system\": {\"toplevel\": \"/nix/store/t\", \"install\": \"/nix/store/n\"}}]}",
                                  kpath, ipath),
                         0);
        ck_assert_int_ge(asprintf(&ipath_inv, "%s/inventory.json", dir), 0);
        write_file(ipath_inv, json);
        return ipath_inv;
}

START_TEST(test_inventory_load_file_ok) {
        _cleanup_free_ char *path = load_fixture("ok", true, true);
        _cleanup_free_ char *kpath = NULL;
        Inventory *inv = NULL;
        char err[ERRBUF_MAX] = "";

        ck_assert_int_ge(asprintf(&kpath, "%s/ok/bzImage", load_dir), 0);
        int r = inventory_load_file(path, &inv, err, sizeof err);
        ck_assert_msg(r == 0, "inventory_load_file: %d: %s", r, err[0] ? err : "(no message)");
        ck_assert_str_eq(err, "");
        ck_assert_uint_eq(inv->n_nodes, 1);
        ck_assert(inventory_has_file(inv, kpath));
        inventory_free(inv);
}
END_TEST

START_TEST(test_inventory_load_file_missing_boot_file) {
        _cleanup_free_ char *path = load_fixture("noinitrd", true, false);
        _cleanup_free_ char *ipath = NULL;
        char err[ERRBUF_MAX] = "";
        Inventory *inv = &inventory_sentinel;

        ck_assert_int_ge(asprintf(&ipath, "%s/noinitrd/initrd", load_dir), 0);
        ck_assert_int_eq(inventory_load_file(path, &inv, err, sizeof err), -ENOENT);
        ck_assert_ptr_eq(inv, &inventory_sentinel);
        assert_contains(err, path);
        assert_contains(err, "node \"node-00\"");
        assert_contains(err, "\"boot.initrd[1]\"");
        assert_contains(err, ipath);
}
END_TEST

START_TEST(test_inventory_load_file_boot_file_is_directory) {
        _cleanup_free_ char *path = load_fixture("kdir", false, true);
        _cleanup_free_ char *kpath = NULL;
        char err[ERRBUF_MAX] = "";
        Inventory *inv = &inventory_sentinel;

        ck_assert_int_ge(asprintf(&kpath, "%s/kdir/bzImage", load_dir), 0);
        ck_assert_int_eq(mkdir(kpath, 0755), 0);
        ck_assert_int_lt(inventory_load_file(path, &inv, err, sizeof err), 0);
        ck_assert_ptr_eq(inv, &inventory_sentinel);
        assert_contains(err, "node \"node-00\"");
        assert_contains(err, "\"boot.kernel\"");
        assert_contains(err, "regular file");
}
END_TEST

START_TEST(test_inventory_load_file_errors) {
        _cleanup_free_ char *missing = NULL, *bad = NULL;
        char err[ERRBUF_MAX] = "";
        Inventory *inv = &inventory_sentinel;

        ck_assert_int_ge(asprintf(&missing, "%s/does-not-exist.json", load_dir), 0);
        ck_assert_int_eq(inventory_load_file(missing, &inv, err, sizeof err), -ENOENT);
        ck_assert_ptr_eq(inv, &inventory_sentinel);
        assert_contains(err, missing);
        err[0] = '\0';

        ck_assert_int_eq(inventory_load_file(load_dir, &inv, err, sizeof err), -EINVAL);
        ck_assert_ptr_eq(inv, &inventory_sentinel);
        assert_contains(err, load_dir);
        err[0] = '\0';

        /* A parse error keeps the parser's message and names the file. */
        ck_assert_int_ge(asprintf(&bad, "%s/bad.json", load_dir), 0);
        write_file(bad, "{\"version\": 1, \"nodes\": [{\"name\": \"node-00\"}]}");
        ck_assert_int_eq(inventory_load_file(bad, &inv, err, sizeof err), -EINVAL);
        ck_assert_ptr_eq(inv, &inventory_sentinel);
        assert_contains(err, bad);
        assert_contains(err, "node \"node-00\"");
        assert_contains(err, "\"mac\"");
}
END_TEST

START_TEST(test_inventory_load_file_missing_image_file) {
        _cleanup_free_ char *dir = NULL, *kpath = NULL, *json = NULL, *path = NULL;
        char err[ERRBUF_MAX] = "";
        Inventory *inv = &inventory_sentinel;

        ck_assert_int_ge(asprintf(&dir, "%s/image", load_dir), 0);
        ck_assert_int_eq(mkdir(dir, 0755), 0);
        ck_assert_int_ge(asprintf(&kpath, "%s/bzImage", dir), 0);
        write_file(kpath, "kernel");
        ck_assert_int_ge(asprintf(&json,
                                  "{\"version\": 1, \"nodes\": [{\"name\": \"c001\", \"mac\": [\"52:54:00:00:00:01\"],"
                                  " \"mode\": \"stateless\", \"image\": \"compute\"}],"
                                  " \"images\": {\"compute\": {\"kernel\": \"%s\", \"initrd\": [\"%s/initrd\"],"
                                  " \"init\": \"/nix/store/c/init\", \"toplevel\": \"/nix/store/c\"}}}",
                                  kpath, dir),
                         0);
        ck_assert_int_ge(asprintf(&path, "%s/inventory.json", dir), 0);
        write_file(path, json);

        ck_assert_int_eq(inventory_load_file(path, &inv, err, sizeof err), -ENOENT);
        ck_assert_ptr_eq(inv, &inventory_sentinel);
        assert_contains(err, path);
        assert_contains(err, "image \"compute\": field \"initrd[0]\"");
        assert_contains(err, "/initrd");

        /* With the initrd there, it loads; a stateless node has no boot files of its own. */
        _cleanup_free_ char *ipath = NULL;
        ck_assert_int_ge(asprintf(&ipath, "%s/initrd", dir), 0);
        write_file(ipath, "initrd");
        err[0] = '\0';
        inv = NULL;
        int r = inventory_load_file(path, &inv, err, sizeof err);
        ck_assert_msg(r == 0, "inventory_load_file: %d: %s", r, err);
        ck_assert_uint_eq(inv->n_files, 2);
        ck_assert_ptr_eq(inv->nodes[0].image, &inv->images[0]);
        inventory_free(inv);
}
END_TEST

/* bmc.console and the SOL workaround names: one `workarounds` list serves both the
 * chassis commands (IPMI 2.0 session names only; the SOL-only names are ignored there) and
 * the console backend (every ipmiconsole(8) name, as libipmiconsole bits). */
START_TEST(test_inventory_bmc_console) {
        static const struct {
                const char *console; /* NULL: absent */
                SolBackend want;
                unsigned want_sol;
        } cases[] = {
                { NULL, SOL_BACKEND_IPMICONSOLE,
                  IPMICONSOLE_WORKAROUND_OPEN_SESSION_PRIVILEGE | IPMICONSOLE_WORKAROUND_IGNORE_SOL_PAYLOAD_SIZE |
                          IPMICONSOLE_WORKAROUND_SKIP_CHANNEL_PAYLOAD_SUPPORT },
                { "\"ipmiconsole\"", SOL_BACKEND_IPMICONSOLE,
                  IPMICONSOLE_WORKAROUND_OPEN_SESSION_PRIVILEGE | IPMICONSOLE_WORKAROUND_IGNORE_SOL_PAYLOAD_SIZE |
                          IPMICONSOLE_WORKAROUND_SKIP_CHANNEL_PAYLOAD_SUPPORT },
                { "\"ipmitool\"", SOL_BACKEND_IPMITOOL, 0 },
                { "\"none\"", SOL_BACKEND_NONE, 0 },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                json_t *doc = base_inventory();
                json_t *node = base_inventory_node(doc, 7);
                json_set_path(node, "bmc.workarounds", "[\"opensesspriv\", \"solpayloadsize\", \"solchannelsupport\"]");
                if (cases[i].console)
                        json_set_path(node, "bmc.console", cases[i].console);
                _cleanup_(inventory_freep) Inventory *inv = doc_ok(doc);
                const InventoryBmc *b = &inv->nodes[7].bmc;
                ck_assert_int_eq(b->console, cases[i].want);
                ck_assert_uint_eq(b->sol_workarounds, cases[i].want_sol);
                /* chassis: opensesspriv only */
                ck_assert_uint_eq(b->workarounds, IPMI_WORKAROUND_FLAGS_OUTOFBAND_2_0_OPEN_SESSION_PRIVILEGE);
        }
        /* a node without workarounds: nothing for either */
        _cleanup_(inventory_freep) Inventory *inv = doc_ok(base_inventory());
        ck_assert_int_eq(inv->nodes[7].bmc.console, SOL_BACKEND_IPMICONSOLE);
        ck_assert_uint_eq(inv->nodes[7].bmc.sol_workarounds, 0);
}
END_TEST

/* sol_workaround_parse_one(): every ipmiconsole(8) name maps to its bit; sun20 brings
 * opensesspriv along (as in FreeIPMI); ipmitool accepts the names and sets nothing. */
START_TEST(test_inventory_sol_workaround_names) {
        static const struct {
                const char *name;
                unsigned bits;
        } names[] = {
                { "none", 0 },
                { "authcap", IPMICONSOLE_WORKAROUND_AUTHENTICATION_CAPABILITIES },
                { "intel20", IPMICONSOLE_WORKAROUND_INTEL_2_0_SESSION },
                { "supermicro20", IPMICONSOLE_WORKAROUND_SUPERMICRO_2_0_SESSION },
                { "sun20", IPMICONSOLE_WORKAROUND_SUN_2_0_SESSION | IPMICONSOLE_WORKAROUND_OPEN_SESSION_PRIVILEGE },
                { "opensesspriv", IPMICONSOLE_WORKAROUND_OPEN_SESSION_PRIVILEGE },
                { "integritycheckvalue", IPMICONSOLE_WORKAROUND_NON_EMPTY_INTEGRITY_CHECK_VALUE },
                { "nochecksumcheck", IPMICONSOLE_WORKAROUND_NO_CHECKSUM_CHECK },
                { "solpayloadsize", IPMICONSOLE_WORKAROUND_IGNORE_SOL_PAYLOAD_SIZE },
                { "solport", IPMICONSOLE_WORKAROUND_IGNORE_SOL_PORT },
                { "solstatus", IPMICONSOLE_WORKAROUND_SKIP_SOL_ACTIVATION_STATUS },
                { "solchannelsupport", IPMICONSOLE_WORKAROUND_SKIP_CHANNEL_PAYLOAD_SUPPORT },
                { "serialalertsdeferred", IPMICONSOLE_WORKAROUND_SERIAL_ALERTS_DEFERRED },
                { "solpacketseq", IPMICONSOLE_WORKAROUND_INCREMENT_SOL_PACKET_SEQUENCE },
        };
        char err[256];
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                unsigned f = 0, g = 0;
                ck_assert_int_eq(sol_workaround_parse_one(SOL_BACKEND_IPMICONSOLE, names[i].name, &f, err, sizeof err), 0);
                ck_assert_uint_eq(f, names[i].bits);
                ck_assert_int_eq(sol_workaround_parse_one(SOL_BACKEND_IPMITOOL, names[i].name, &g, err, sizeof err), 0);
                ck_assert_uint_eq(g, 0);
        }
        unsigned f = 0;
        ck_assert_int_eq(sol_workaround_parse_one(SOL_BACKEND_IPMICONSOLE, "idzero", &f, err, sizeof err), -EINVAL);
        assert_contains(err, "'idzero'");
        ck_assert_uint_eq(f, 0);

        SolBackend b;
        ck_assert_int_eq(sol_backend_from_string("ipmitool", &b), 0);
        ck_assert_int_eq(b, SOL_BACKEND_IPMITOOL);
        ck_assert_int_eq(sol_backend_from_string("IPMITOOL", &b), -EINVAL);
        for (int i = 0; i < _SOL_BACKEND_MAX; i++) {
                ck_assert_int_eq(sol_backend_from_string(sol_backend_to_string((SolBackend) i), &b), 0);
                ck_assert_int_eq(b, i);
        }
}
END_TEST

static Suite *inventory_suite(void) {
        Suite *s = suite_create("inventory");
        TCase *tc;

        tc = tcase_create("valid");
        tcase_add_test(tc, test_inventory_valid_nodes);
        tcase_add_test(tc, test_inventory_find_mac_every_form);
        tcase_add_test(tc, test_inventory_find_name);
        tcase_add_test(tc, test_inventory_name_order);
        tcase_add_test(tc, test_inventory_has_file_exact_only);
        tcase_add_test(tc, test_inventory_is_url);
        tcase_add_test(tc, test_inventory_not_nul_terminated);
        tcase_add_test(tc, test_inventory_empty);
        tcase_add_test(tc, test_inventory_base_is_valid);
        tcase_add_test(tc, test_inventory_accepts_edge_values);
        tcase_add_test(tc, test_inventory_bmc_console);
        tcase_add_test(tc, test_inventory_sol_workaround_names);
        tcase_add_test(tc, test_inventory_stateless_valid);
        tcase_add_test(tc, test_inventory_images_without_stateless_nodes);
        tcase_add_test(tc, test_inventory_stateless_base_is_valid);
        tcase_add_test(tc, test_inventory_stateless_accepts_edge_values);
        tcase_add_test(tc, test_inventory_image_edge_values);
        suite_add_tcase(s, tc);

        tc = tcase_create("reject");
        tcase_add_loop_test(tc, test_inventory_rejects_named, 0, sizeof named_rejects / sizeof named_rejects[0]);
        tcase_add_loop_test(tc, test_inventory_rejects_name, 0, sizeof name_rejects / sizeof name_rejects[0]);
        tcase_add_test(tc, test_inventory_rejects_duplicate_name);
        tcase_add_test(tc, test_inventory_rejects_duplicate_mac_across_nodes);
        tcase_add_test(tc, test_inventory_rejects_duplicate_mac_within_node);
        tcase_add_test(tc, test_inventory_rejects_empty_url);
        tcase_add_test(tc, test_inventory_rejects_non_object_node);
        tcase_add_test(tc, test_inventory_rejects_too_many_initrds);
        tcase_add_test(tc, test_inventory_rejects_long_cmdline);
        tcase_add_loop_test(tc, test_inventory_rejects_document, 0, sizeof document_rejects / sizeof document_rejects[0]);
        tcase_add_test(tc, test_inventory_rejects_bad_json_after_a_node);
        tcase_add_test(tc, test_inventory_rejects_bad_json_with_position);
        tcase_add_test(tc, test_inventory_rejects_after_nodes_names_no_node);
        tcase_add_loop_test(tc, test_inventory_rejects_stateless, 0, ELEMENTSOF(stateless_rejects));
        tcase_add_test(tc, test_inventory_rejects_too_many_overlay_files);
        tcase_add_loop_test(tc, test_inventory_rejects_image, 0, ELEMENTSOF(image_rejects));
        tcase_add_test(tc, test_inventory_rejects_images);
        tcase_add_test(tc, test_inventory_rejects_stateless_no_images);
        suite_add_tcase(s, tc);

        tc = tcase_create("large");
        tcase_set_timeout(tc, 120); /* no timing asserts: only room for a sanitizer build */
        tcase_add_test(tc, test_inventory_large);
        tcase_add_test(tc, test_inventory_large_duplicate_mac_at_end);
        tcase_add_test(tc, test_inventory_split_valid);
        tcase_add_test(tc, test_inventory_split_guess_inside_a_string);
        tcase_add_test(tc, test_inventory_split_stateless_in_second_half);
        tcase_add_loop_test(tc, test_inventory_split_rejects, 0, sizeof split_rejects / sizeof split_rejects[0]);
        tcase_add_test(tc, test_inventory_split_duplicate_across_halves);
        tcase_add_test(tc, test_inventory_too_many_nodes);
        tcase_add_test(tc, test_inventory_reuse_unchanged_nodes);
        tcase_add_test(tc, test_inventory_reuse_moved_nodes);
        tcase_add_test(tc, test_inventory_reuse_errors_as_fresh);
        tcase_add_test(tc, test_inventory_reuse_stateless_parsed);
        tcase_add_test(tc, test_inventory_reuse_split);
        suite_add_tcase(s, tc);

        tc = tcase_create("load_file");
        tcase_add_unchecked_fixture(tc, load_setup, load_teardown);
        tcase_add_test(tc, test_inventory_load_file_ok);
        tcase_add_test(tc, test_inventory_load_file_missing_boot_file);
        tcase_add_test(tc, test_inventory_load_file_boot_file_is_directory);
        tcase_add_test(tc, test_inventory_load_file_errors);
        tcase_add_test(tc, test_inventory_load_file_missing_image_file);
        suite_add_tcase(s, tc);

        return s;
}

CHECK_MAIN(inventory_suite)
