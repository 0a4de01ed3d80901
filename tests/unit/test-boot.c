/* test-boot.c — unit tests for boot.c: boot file URLs (percent-encoding, URL pass-through,
 * public URL trimming), the install cmdline provd appends, and the pixiecore boot API JSON. */
#include "check-main.h"
#include <check.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "boot.h"
#include "inventory.h"
#include "util.h"

static void assert_file_url(const char *public_url, const char *file, const char *expect) {
        _cleanup_free_ char *url = boot_file_url(public_url, file);
        ck_assert_msg(url != NULL, "boot_file_url(%s, %s) returned NULL", public_url, file);
        ck_assert_msg(streq(url, expect), "boot_file_url(\"%s\", \"%s\") = \"%s\", want \"%s\"", public_url, file,
                      url, expect);
}

/* ---- boot_file_url ---------------------------------------------------------------------- */

START_TEST(test_boot_file_url_plain_path) {
        assert_file_url("http://10.0.0.1:8080", "/nix/store/abc-linux-6.6/bzImage",
                        "http://10.0.0.1:8080/v1/files/nix/store/abc-linux-6.6/bzImage");
        /* Unreserved characters (RFC 3986 §2.3) and "/" stay as they are. */
        assert_file_url("http://h", "/AZaz09-._~/x", "http://h/v1/files/AZaz09-._~/x");
}
END_TEST

START_TEST(test_boot_file_url_trims_public_url) {
        static const char *const publics[] = {
                "http://10.0.0.1:8080/",
                "http://10.0.0.1:8080//",
                "http://10.0.0.1:8080///",
        };
        for (size_t i = 0; i < sizeof publics / sizeof publics[0]; i++)
                assert_file_url(publics[i], "/nix/store/abc-linux/bzImage",
                                "http://10.0.0.1:8080/v1/files/nix/store/abc-linux/bzImage");
        /* A path prefix in the public URL is kept. */
        assert_file_url("https://provd.example/netboot/", "/k", "https://provd.example/netboot/v1/files/k");
        assert_file_url("https://provd.example/netboot", "/k", "https://provd.example/netboot/v1/files/k");
}
END_TEST

START_TEST(test_boot_file_url_percent_encodes) {
        static const struct {
                const char *file, *expect;
        } cases[] = {
                { "/srv/boot/my kernel", "/srv/boot/my%20kernel" },
                { "/srv/boot/a?b", "/srv/boot/a%3Fb" },
                { "/srv/boot/a+b", "/srv/boot/a%2Bb" },
                { "/srv/boot/100%", "/srv/boot/100%25" },
                { "/srv/boot/a#b", "/srv/boot/a%23b" },
                { "/srv/boot/a&b=c", "/srv/boot/a%26b%3Dc" },
                { "/srv/boot/a:b;c,d", "/srv/boot/a%3Ab%3Bc%2Cd" },
                { "/srv/boot/{{x}}", "/srv/boot/%7B%7Bx%7D%7D" },
                { "/srv/boot/${x}", "/srv/boot/%24%7Bx%7D" },
                { "/srv/boot/\"'\\", "/srv/boot/%22%27%5C" },
                { "/srv/boot/@!*()", "/srv/boot/%40%21%2A%28%29" },
                /* bytes >= 0x80 (UTF-8 "é") as unsigned, upper-case hex */
                { "/srv/boot/caf\xc3\xa9", "/srv/boot/caf%C3%A9" },
                { "/srv/boot/\xff", "/srv/boot/%FF" },
                /* looks like a URL but is a path */
                { "/http://x", "/http%3A//x" },
                { "/a b?c+d%e#f&g=h:i~j_k.l-m", "/a%20b%3Fc%2Bd%25e%23f%26g%3Dh%3Ai~j_k.l-m" },
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                _cleanup_free_ char *expect = NULL;
                ck_assert_int_ge(asprintf(&expect, "http://10.0.0.1:8080/v1/files%s", cases[i].expect), 0);
                assert_file_url("http://10.0.0.1:8080/", cases[i].file, expect);
        }
}
END_TEST

START_TEST(test_boot_file_url_worst_case_length) {
        /* Every byte encoded: the output is three times the input; ASan checks the buffer. */
        char file[1 + 3000 + 1];
        file[0] = '/';
        memset(file + 1, ' ', 3000);
        file[3001] = '\0';

        _cleanup_free_ char *url = boot_file_url("http://h/", file);
        ck_assert_ptr_nonnull(url);
        ck_assert_uint_eq(strlen(url), strlen("http://h/v1/files/") + 3 * 3000);
        ck_assert(startswith(url, "http://h/v1/files/%20%20"));
}
END_TEST

START_TEST(test_boot_file_url_passes_urls_through) {
        static const char *const urls[] = {
                "http://cache.example/bzImage",
                "https://cache.example/nix/store/abc/initrd?x=1+2&y=%41#frag",
                "https://cache.example/a%20b/{{x}}",
                "http://cache.example:8080//double//slash/",
        };
        for (size_t i = 0; i < sizeof urls / sizeof urls[0]; i++) {
                assert_file_url("http://10.0.0.1:8080/", urls[i], urls[i]);
                /* A copy the caller owns, not the argument. */
                char *url = boot_file_url("http://10.0.0.1:8080/", urls[i]);
                ck_assert_ptr_ne(url, urls[i]);
                free(url);
        }
}
END_TEST

/* ---- boot_spec_build -------------------------------------------------------------------- */

#define INSTALL "/nix/store/n1-install/bin/install"
#define PROVD_KEYS(url) " nixos.install=" INSTALL " provd.url=" url " provd.token=tok-7_Ab provd.node=node-07"

static char node_name[] = "node-07";
static char node_kernel[] = "/nix/store/k1-linux/bzImage";
static char node_toplevel[] = "/nix/store/t1-nixos-system";
static char node_install[] = INSTALL;

static Node test_node(char *cmdline, char **initrd, size_t n_initrd) {
        return (Node) {
                .name = node_name,
                .boot = {
                        .kernel = node_kernel,
                        .initrd = initrd,
                        .n_initrd = n_initrd,
                        .cmdline = cmdline,
                },
                .toplevel = node_toplevel,
                .install = node_install,
        };
}

START_TEST(test_boot_spec_build_appends_keys) {
        char *initrd[] = { (char[]) { "/nix/store/i1-initrd/initrd" },
                           (char[]) { "https://cache.example/extra.img?v=1" },
                           (char[]) { "/srv/boot/my initrd" } };
        char cmdline[] = "init=/nix/store/s1-system/init loglevel=4";
        Node n = test_node(cmdline, initrd, 3);
        BootSpec spec = { 0 };

        ck_assert_int_eq(boot_spec_build(&n, "http://10.0.0.1:8080/", "tok-7_Ab", &spec), 0);

        ck_assert_str_eq(spec.cmdline, "init=/nix/store/s1-system/init loglevel=4" PROVD_KEYS("http://10.0.0.1:8080"));
        ck_assert_str_eq(spec.kernel, "http://10.0.0.1:8080/v1/files/nix/store/k1-linux/bzImage");
        ck_assert_uint_eq(spec.n_initrd, 3);
        ck_assert_str_eq(spec.initrd[0], "http://10.0.0.1:8080/v1/files/nix/store/i1-initrd/initrd");
        ck_assert_str_eq(spec.initrd[1], "https://cache.example/extra.img?v=1");
        ck_assert_str_eq(spec.initrd[2], "http://10.0.0.1:8080/v1/files/srv/boot/my%20initrd");

        /* The spec owns copies: the node's strings are untouched and separate. */
        ck_assert_ptr_ne(spec.cmdline, n.boot.cmdline);
        ck_assert_str_eq(n.boot.cmdline, "init=/nix/store/s1-system/init loglevel=4");
        ck_assert_ptr_ne(spec.initrd[1], n.boot.initrd[1]);

        boot_spec_done(&spec);
}
END_TEST

START_TEST(test_boot_spec_build_empty_cmdline) {
        char *initrd[] = { (char[]) { "/nix/store/i1-initrd/initrd" } };
        char cmdline[] = "";
        Node n = test_node(cmdline, initrd, 1);
        BootSpec spec = { 0 };

        ck_assert_int_eq(boot_spec_build(&n, "https://provd.example", "tok-7_Ab", &spec), 0);
        /* No leading space, nothing but provd's keys. */
        ck_assert_str_eq(spec.cmdline, &PROVD_KEYS("https://provd.example")[1]);
        boot_spec_done(&spec);
}
END_TEST

START_TEST(test_boot_spec_build_public_url_forms) {
        char cmdline[] = "quiet";
        Node n = test_node(cmdline, NULL, 0);
        static const char *const publics[] = { "http://10.0.0.1:8080", "http://10.0.0.1:8080/",
                                               "http://10.0.0.1:8080//" };

        for (size_t i = 0; i < sizeof publics / sizeof publics[0]; i++) {
                BootSpec spec = { 0 };
                ck_assert_int_eq(boot_spec_build(&n, publics[i], "tok-7_Ab", &spec), 0);
                ck_assert_str_eq(spec.cmdline, "quiet" PROVD_KEYS("http://10.0.0.1:8080"));
                ck_assert_str_eq(spec.kernel, "http://10.0.0.1:8080/v1/files/nix/store/k1-linux/bzImage");
                ck_assert_uint_eq(spec.n_initrd, 0);
                boot_spec_done(&spec);
        }
}
END_TEST

START_TEST(test_boot_spec_build_from_inventory) {
        /* The same through a parsed inventory node. */
        static const char text[] =
                "{\"version\": 1, \"nodes\": [{\"name\": \"node-07\", \"mac\": [\"52:54:00:00:00:07\"],"
                " \"boot\": {\"kernel\": \"https://cache.example/bzImage\","
                "            \"initrd\": [\"/nix/store/i1-initrd/initrd\"], \"cmdline\": \"console=ttyS0\"},"
                " \"system\": {\"toplevel\": \"/nix/store/t1\", \"install\": \"" INSTALL "\"}}]}";
        Inventory *inv = NULL;
        BootSpec spec = { 0 };

        ck_assert_int_eq(inventory_parse(text, strlen(text), &inv, NULL, 0), 0);
        ck_assert_int_eq(boot_spec_build(inventory_find_name(inv, "node-07"), "http://192.0.2.1:8080", "tok-7_Ab", &spec), 0);
        ck_assert_str_eq(spec.kernel, "https://cache.example/bzImage");
        ck_assert_uint_eq(spec.n_initrd, 1);
        ck_assert_str_eq(spec.initrd[0], "http://192.0.2.1:8080/v1/files/nix/store/i1-initrd/initrd");
        ck_assert_str_eq(spec.cmdline, "console=ttyS0" PROVD_KEYS("http://192.0.2.1:8080"));
        boot_spec_done(&spec);
        inventory_free(inv);
}
END_TEST

/* ---- boot_spec_to_pixiecore_json -------------------------------------------------------- */

static json_t *render_and_load(const BootSpec *spec) {
        _cleanup_free_ char *text = boot_spec_to_pixiecore_json(spec);
        ck_assert_ptr_nonnull(text);
        ck_assert_msg(!strstr(text, "{{"), "pixiecore would read \"{{\" as a template: %s", text);

        json_error_t e;
        json_t *o = json_loads(text, 0, &e);
        ck_assert_msg(o != NULL, "not JSON: %s: %s", e.text, text);
        ck_assert_msg(json_is_object(o), "not an object: %s", text);
        return o;
}

START_TEST(test_boot_pixiecore_json_round_trip) {
        char *initrd[] = { (char[]) { "/nix/store/i1-initrd/initrd" }, (char[]) { "https://cache.example/x.img" } };
        char cmdline[] = "init=/nix/store/s1-system/init loglevel=4";
        Node n = test_node(cmdline, initrd, 2);
        BootSpec spec = { 0 };
        ck_assert_int_eq(boot_spec_build(&n, "http://10.0.0.1:8080/", "tok-7_Ab", &spec), 0);

        json_t *o = render_and_load(&spec);
        ck_assert_uint_eq(json_object_size(o), 3);

        json_t *kernel = json_object_get(o, "kernel"), *ird = json_object_get(o, "initrd"),
               *cmd = json_object_get(o, "cmdline");
        ck_assert(json_is_string(kernel));
        ck_assert_str_eq(json_string_value(kernel), spec.kernel);
        ck_assert_msg(json_is_array(ird), "initrd must be an array (pixiecore rejects a string)");
        ck_assert_uint_eq(json_array_size(ird), 2);
        for (size_t i = 0; i < 2; i++) {
                ck_assert(json_is_string(json_array_get(ird, i)));
                ck_assert_str_eq(json_string_value(json_array_get(ird, i)), spec.initrd[i]);
        }
        ck_assert(json_is_string(cmd));
        ck_assert_str_eq(json_string_value(cmd), spec.cmdline);

        json_decref(o);
        boot_spec_done(&spec);
}
END_TEST

START_TEST(test_boot_pixiecore_json_no_initrd) {
        char *initrd[] = { NULL };
        BootSpec spec = {
                .kernel = (char[]) { "http://h/v1/files/k" },
                .initrd = initrd,
                .n_initrd = 0,
                .cmdline = (char[]) { "quiet" },
        };
        json_t *o = render_and_load(&spec);
        json_t *ird = json_object_get(o, "initrd");
        ck_assert_msg(json_is_array(ird), "initrd must be an array even when empty");
        ck_assert_uint_eq(json_array_size(ird), 0);
        json_decref(o);
}
END_TEST

START_TEST(test_boot_pixiecore_json_escapes) {
        /* Quotes, backslashes, "/" and UTF-8 come back exactly. */
        char *initrd[] = { (char[]) { "http://h/v1/files/a%22b" } };
        BootSpec spec = {
                .kernel = (char[]) { "http://h/v1/files/caf%C3%A9" },
                .initrd = initrd,
                .n_initrd = 1,
                .cmdline = (char[]) { "a=\"b c\" d=\\e f=</script> g=caf\xc3\xa9" },
        };
        json_t *o = render_and_load(&spec);
        ck_assert_str_eq(json_string_value(json_object_get(o, "cmdline")), spec.cmdline);
        ck_assert_str_eq(json_string_value(json_object_get(o, "kernel")), spec.kernel);
        ck_assert_str_eq(json_string_value(json_array_get(json_object_get(o, "initrd"), 0)), spec.initrd[0]);
        json_decref(o);
}
END_TEST

START_TEST(test_boot_pixiecore_json_encoded_braces) {
        /* A local boot file named with "{{" reaches pixiecore only percent-encoded. */
        char *initrd[] = { (char[]) { "/srv/boot/{{.ID}}" } };
        char cmdline[] = "";
        Node n = test_node(cmdline, initrd, 1);
        BootSpec spec = { 0 };
        ck_assert_int_eq(boot_spec_build(&n, "http://10.0.0.1:8080", "tok-7_Ab", &spec), 0);
        json_t *o = render_and_load(&spec);
        json_decref(o);
        boot_spec_done(&spec);
}
END_TEST

/* ---- stateless: the image ----------------------------------------------------------------- */

static char image_name[] = "compute";
static char image_kernel[] = "/nix/store/k2-linux/bzImage";
static char image_init[] = "/nix/store/s2-nixos-system-compute/init";
static char image_toplevel[] = "/nix/store/s2-nixos-system-compute";

static InventoryImage test_image(char *cmdline, char **initrd, size_t n_initrd) {
        return (InventoryImage) {
                .name = image_name,
                .boot = { .kernel = image_kernel, .initrd = initrd, .n_initrd = n_initrd, .cmdline = cmdline },
                .init = image_init,
                .toplevel = image_toplevel,
        };
}

START_TEST(test_boot_spec_build_image) {
        char *initrd[] = { (char[]) { "/nix/store/r2-initrd/initrd" }, (char[]) { "https://cache.example/fw.img" } };
        InventoryImage image = test_image((char[]) { "console=ttyS0 loglevel=4" }, initrd, 2);
        /* The node's own boot fields are not used (a stateless node has none). */
        Node n = test_node((char[]) { "must-not-appear" }, NULL, 0);
        n.mode = NODE_MODE_STATELESS;
        n.image = &image;
        n.install = NULL;
        BootSpec spec = { 0 };

        ck_assert_int_eq(boot_spec_build_image(&n, "http://10.0.0.1:8080//", "tok-7_Ab", &spec), 0);
        ck_assert_str_eq(spec.kernel, "http://10.0.0.1:8080/v1/files/nix/store/k2-linux/bzImage");
        ck_assert_uint_eq(spec.n_initrd, 3);
        ck_assert_str_eq(spec.initrd[0], "http://10.0.0.1:8080/v1/files/nix/store/r2-initrd/initrd");
        ck_assert_str_eq(spec.initrd[1], "https://cache.example/fw.img");
        ck_assert_str_eq(spec.initrd[2], "http://10.0.0.1:8080/v1/overlay/tok-7_Ab"); /* last: lands on top */
        ck_assert_str_eq(spec.cmdline, "console=ttyS0 loglevel=4 init=/nix/store/s2-nixos-system-compute/init "
                                       "provd.url=http://10.0.0.1:8080 provd.token=tok-7_Ab provd.node=node-07");
        _cleanup_free_ char *json = boot_spec_to_pixiecore_json(&spec);
        ck_assert_str_eq(json, "{\"cmdline\":\"console=ttyS0 loglevel=4 init=/nix/store/s2-nixos-system-compute/init "
                               "provd.url=http://10.0.0.1:8080 provd.token=tok-7_Ab provd.node=node-07\",\"initrd\":"
                               "[\"http://10.0.0.1:8080/v1/files/nix/store/r2-initrd/initrd\",\"https://cache.example/fw.img\","
                               "\"http://10.0.0.1:8080/v1/overlay/tok-7_Ab\"],\"kernel\":"
                               "\"http://10.0.0.1:8080/v1/files/nix/store/k2-linux/bzImage\"}");
        boot_spec_done(&spec);
}
END_TEST

START_TEST(test_boot_spec_build_image_no_cmdline) {
        /* An image without cmdline (or an empty one): init= comes first, no leading space. */
        InventoryImage image = test_image(NULL, NULL, 0);
        Node n = test_node((char[]) { "" }, NULL, 0);
        n.image = &image;
        BootSpec spec = { 0 };
        ck_assert_int_eq(boot_spec_build_image(&n, "http://p", "t", &spec), 0);
        ck_assert_str_eq(spec.cmdline,
                         "init=/nix/store/s2-nixos-system-compute/init provd.url=http://p provd.token=t provd.node=node-07");
        ck_assert_uint_eq(spec.n_initrd, 1);
        ck_assert_str_eq(spec.initrd[0], "http://p/v1/overlay/t");
        boot_spec_done(&spec);
        image.boot.cmdline = (char[]) { "" };
        ck_assert_int_eq(boot_spec_build_image(&n, "http://p", "t", &spec), 0);
        ck_assert_str_eq(spec.cmdline,
                         "init=/nix/store/s2-nixos-system-compute/init provd.url=http://p provd.token=t provd.node=node-07");
        boot_spec_done(&spec);
        /* no image: refused */
        n.image = NULL;
        ck_assert_int_eq(boot_spec_build_image(&n, "http://p", "t", &spec), -EINVAL);
}
END_TEST

static Suite *boot_suite(void) {
        Suite *s = suite_create("boot");
        TCase *tc;

        tc = tcase_create("file_url");
        tcase_add_test(tc, test_boot_file_url_plain_path);
        tcase_add_test(tc, test_boot_file_url_trims_public_url);
        tcase_add_test(tc, test_boot_file_url_percent_encodes);
        tcase_add_test(tc, test_boot_file_url_worst_case_length);
        tcase_add_test(tc, test_boot_file_url_passes_urls_through);
        suite_add_tcase(s, tc);

        tc = tcase_create("spec_build");
        tcase_add_test(tc, test_boot_spec_build_appends_keys);
        tcase_add_test(tc, test_boot_spec_build_empty_cmdline);
        tcase_add_test(tc, test_boot_spec_build_public_url_forms);
        tcase_add_test(tc, test_boot_spec_build_from_inventory);
        suite_add_tcase(s, tc);

        tc = tcase_create("pixiecore_json");
        tcase_add_test(tc, test_boot_pixiecore_json_round_trip);
        tcase_add_test(tc, test_boot_pixiecore_json_no_initrd);
        tcase_add_test(tc, test_boot_pixiecore_json_escapes);
        tcase_add_test(tc, test_boot_pixiecore_json_encoded_braces);
        tcase_add_test(tc, test_boot_spec_build_image);
        tcase_add_test(tc, test_boot_spec_build_image_no_cmdline);
        suite_add_tcase(s, tc);

        return s;
}

CHECK_MAIN(boot_suite)
