/* test-dnsmasq-config.c — unit tests for dnsmasq-config.c: the ProxyDHCP network parser and
 * the rendered dnsmasq configuration, read the way dnsmasq's config reader reads it (one
 * option per line, "#" at the start of a line is a comment, NAME=VALUE or NAME). */
#include "check-main.h"
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dnsmasq-config.h"
#include "util.h"

/* The option lines of a rendered configuration, comments and blank lines dropped. */
typedef struct Lines {
        char *text; /* cut into lines */
        char *orig; /* the configuration as rendered */
        char *lines[64];
        size_t n;
} Lines;

static Lines options_of(char *text) {
        Lines l = { .text = text };
        ck_assert_ptr_nonnull(text);
        l.orig = strdup(text);
        ck_assert_ptr_nonnull(l.orig);
        size_t len = strlen(text);
        ck_assert_msg(len > 0 && text[len - 1] == '\n', "config does not end with a newline");
        for (char *p = text, *nl; *p; p = nl + 1) {
                nl = strchr(p, '\n');
                *nl = '\0';
                if (p[0] == '#' || p[0] == '\0')
                        continue;
                /* Option lines start with a name and carry no comment of their own: dnsmasq
                 * would cut the line at a '#' after whitespace. */
                ck_assert_msg(p[0] >= 'a' && p[0] <= 'z', "line does not start with an option name: \"%s\"", p);
                ck_assert_msg(!strstr(p, " #") && !strchr(p, '\t'), "stray comment or tab in \"%s\"", p);
                ck_assert_uint_lt(l.n, ELEMENTSOF(l.lines));
                l.lines[l.n++] = p;
        }
        return l;
}

static void lines_done(Lines *l) {
        free(l->text);
        free(l->orig);
}

static Lines render_ok(const DnsmasqConfig *c) {
        char *out = NULL, err[256] = "";
        int r = dnsmasq_config_render(c, &out, err, sizeof err);
        ck_assert_msg(r == 0, "render failed: %d %s", r, err);
        return options_of(out);
}

static void render_fails(const DnsmasqConfig *c, const char *want_err) {
        char *out = NULL, err[256] = "";
        int r = dnsmasq_config_render(c, &out, err, sizeof err);
        ck_assert_int_eq(r, -EINVAL);
        ck_assert_ptr_null(out);
        ck_assert_msg(strstr(err, want_err), "error \"%s\" does not contain \"%s\"", err, want_err);
}

static DnsmasqSubnet subnet(const char *s) {
        DnsmasqSubnet sub;
        char err[256] = "";
        ck_assert_msg(dnsmasq_config_parse_subnet(s, &sub, err, sizeof err) == 0, "%s: %s", s, err);
        return sub;
}

static DnsmasqConfig base_config(void) {
        return (DnsmasqConfig) { .public_url = "http://10.0.0.1:8080",
                                 .subnet = subnet("10.0.0.0/24"),
                                 .interface = "eno1",
                                 .tftp_root = "/usr/lib/ipxe" };
}

START_TEST(test_subnet_forms) {
        DnsmasqSubnet s = subnet("10.0.0.0");
        ck_assert_int_eq(s.prefix, -1);
        ck_assert_uint_eq(s.network.s_addr, htonl(0x0a000000));
        s = subnet("10.0.0.0/24");
        ck_assert_int_eq(s.prefix, 24);
        s = subnet("192.168.7.128/25");
        ck_assert_int_eq(s.prefix, 25);
        ck_assert_uint_eq(s.network.s_addr, htonl(0xc0a80780));
        s = subnet("10.1.2.3/32");
        ck_assert_int_eq(s.prefix, 32);
        s = subnet("0.0.0.0/0");
        ck_assert_int_eq(s.prefix, 0);
}
END_TEST

START_TEST(test_subnet_bad) {
        static const char *const bad[] = { "", "/24", "10.0.0", "10.0.0/24", "10.0.0.0/", "10.0.0.0/33", "10.0.0.0/-1",
                                           "10.0.0.0/24x", " 10.0.0.0", "10.0.0.0 ", "256.0.0.0", "fd00::/64",
                                           "eno1", "10.0.0.0/24/24", "010.0.0.0/8x" };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                DnsmasqSubnet s = { .prefix = 99 };
                char err[256] = "";
                ck_assert_msg(dnsmasq_config_parse_subnet(bad[i], &s, err, sizeof err) == -EINVAL, "accepted \"%s\"", bad[i]);
                ck_assert_int_eq(s.prefix, 99); /* untouched */
                ck_assert_msg(err[0], "no reason for \"%s\"", bad[i]);
        }
        DnsmasqSubnet s;
        char err[256] = "";
        ck_assert_int_eq(dnsmasq_config_parse_subnet("10.0.0.5/24", &s, err, sizeof err), -EINVAL);
        ck_assert_str_eq(err, "10.0.0.5/24 has host bits set (the network is 10.0.0.0/24)");
}
END_TEST

/* The whole set of option lines, in order, for a typical site. */
START_TEST(test_render_lines) {
        DnsmasqConfig c = base_config();
        Lines l = render_ok(&c);
        static const char *const want[] = {
                "port=0",
                "interface=eno1",
                "dhcp-range=10.0.0.0,proxy,255.255.255.0",
                "enable-tftp",
                "tftp-root=/usr/lib/ipxe",
                "dhcp-userclass=set:ipxe,iPXE",
                "dhcp-vendorclass=set:httpboot,HTTPClient",
                "dhcp-pxe-vendor=PXEClient,HTTPClient",
                "pxe-service=tag:!ipxe,x86PC,\"provd: iPXE\",undionly.kpxe",
                "pxe-service=tag:!ipxe,x86-64_EFI,\"provd: iPXE\",snponly.efi",
                "pxe-service=tag:!ipxe,BC_EFI,\"provd: iPXE\",snponly.efi",
                "dhcp-boot=tag:ipxe,http://10.0.0.1:8080/v1/ipxe",
                "dhcp-boot=tag:httpboot,http://10.0.0.1:8080/v1/ipxe.efi",
        };
        ck_assert_uint_eq(l.n, ELEMENTSOF(want));
        for (size_t i = 0; i < l.n; i++)
                ck_assert_str_eq(l.lines[i], want[i]);
        /* The header tells an admin what the file is and for which provd. */
        ck_assert_ptr_nonnull(strstr(l.orig, "provd dhcp-config --dnsmasq"));
        ck_assert_ptr_nonnull(strstr(l.orig, "for provd at http://10.0.0.1:8080."));
        lines_done(&l);
}
END_TEST

START_TEST(test_render_variants) {
        /* No interface: no interface= line; no prefix: dnsmasq takes the interface's netmask. */
        DnsmasqConfig c = base_config();
        c.interface = NULL;
        c.subnet = subnet("172.16.0.0");
        Lines l = render_ok(&c);
        for (size_t i = 0; i < l.n; i++)
                ck_assert_msg(!startswith(l.lines[i], "interface="), "%s", l.lines[i]);
        ck_assert_str_eq(l.lines[0], "port=0");
        ck_assert_str_eq(l.lines[1], "dhcp-range=172.16.0.0,proxy");
        lines_done(&l);

        /* Trailing slashes of the public URL are dropped; https and paths are kept. */
        c = base_config();
        c.public_url = "https://boot.example:8443/provd//";
        c.subnet = subnet("10.9.0.0/16");
        c.tftp_root = "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-ipxe-1.21.1";
        l = render_ok(&c);
        ck_assert_str_eq(l.lines[2], "dhcp-range=10.9.0.0,proxy,255.255.0.0");
        ck_assert_str_eq(l.lines[4], "tftp-root=/nix/store/0123456789abcdfghijklmnpqrsvwxyz-ipxe-1.21.1");
        ck_assert_str_eq(l.lines[l.n - 2], "dhcp-boot=tag:ipxe,https://boot.example:8443/provd/v1/ipxe");
        ck_assert_str_eq(l.lines[l.n - 1], "dhcp-boot=tag:httpboot,https://boot.example:8443/provd/v1/ipxe.efi");
        lines_done(&l);

        /* Prefix edges. */
        c = base_config();
        c.subnet = subnet("0.0.0.0/0");
        l = render_ok(&c);
        ck_assert_str_eq(l.lines[2], "dhcp-range=0.0.0.0,proxy,0.0.0.0");
        lines_done(&l);
        c.subnet = subnet("10.1.2.3/32");
        l = render_ok(&c);
        ck_assert_str_eq(l.lines[2], "dhcp-range=10.1.2.3,proxy,255.255.255.255");
        lines_done(&l);
}
END_TEST

/* The HTTP Boot URL must fit the 127 usable octets of the DHCP file field. */
START_TEST(test_render_url_length) {
        char url[256];
        size_t suffix = strlen("/v1/ipxe.efi");
        DnsmasqConfig c = base_config();

        size_t n = DNSMASQ_CONFIG_FILE_FIELD_MAX - suffix; /* exactly fits */
        snprintf(url, sizeof url, "http://h/%0*d", (int) (n - strlen("http://h/")), 0);
        ck_assert_uint_eq(strlen(url), n);
        c.public_url = url;
        Lines l = render_ok(&c);
        ck_assert_uint_eq(strlen(strchr(l.lines[l.n - 1], ',') + 1), DNSMASQ_CONFIG_FILE_FIELD_MAX);
        lines_done(&l);

        snprintf(url, sizeof url, "http://h/%0*d", (int) (n + 1 - strlen("http://h/")), 0); /* one too many */
        render_fails(&c, "public_url: ");
        render_fails(&c, "is 128 bytes; the DHCP file field holds 127");

        /* A trailing slash does not count. */
        snprintf(url, sizeof url, "http://h/%0*d/", (int) (n - strlen("http://h/")), 0);
        l = render_ok(&c);
        lines_done(&l);
}
END_TEST

START_TEST(test_render_bad_inputs) {
        DnsmasqConfig c = base_config();
        static const char *const bad_urls[] = { "",
                                                "10.0.0.1:8080",
                                                "ftp://10.0.0.1",
                                                "http://10.0.0.1:8080/a,b",
                                                "http://10.0.0.1:8080/a b",
                                                "http://10.0.0.1:8080/a\"b",
                                                "http://10.0.0.1:8080/\n",
                                                "http://10.0.0.1:8080/\x7f" };
        for (size_t i = 0; i < ELEMENTSOF(bad_urls); i++) {
                c.public_url = bad_urls[i];
                render_fails(&c, "public_url: ");
        }
        c.public_url = NULL;
        render_fails(&c, "public_url: ");

        c = base_config();
        static const char *const bad_ifaces[] = { "", "0123456789abcdef", "eno1/x", "br0:1", "a b", "a,b", "a#" };
        for (size_t i = 0; i < ELEMENTSOF(bad_ifaces); i++) {
                c.interface = bad_ifaces[i];
                render_fails(&c, "interface: ");
        }
        c.interface = "0123456789abcde"; /* 15 bytes: fine */
        Lines l = render_ok(&c);
        ck_assert_str_eq(l.lines[1], "interface=0123456789abcde");
        lines_done(&l);

        c = base_config();
        static const char *const bad_roots[] = { "", "usr/lib/ipxe", "/srv/a,b", "/srv/a b", "/srv/#x", "/srv/\"x" };
        for (size_t i = 0; i < ELEMENTSOF(bad_roots); i++) {
                c.tftp_root = bad_roots[i];
                render_fails(&c, "tftp_root: ");
        }
        c.tftp_root = NULL;
        render_fails(&c, "tftp_root: ");
}
END_TEST

static Suite *dnsmasq_config_suite(void) {
        Suite *s = suite_create("dnsmasq-config");
        TCase *tc = tcase_create("subnet");
        tcase_add_test(tc, test_subnet_forms);
        tcase_add_test(tc, test_subnet_bad);
        suite_add_tcase(s, tc);

        tc = tcase_create("render");
        tcase_add_test(tc, test_render_lines);
        tcase_add_test(tc, test_render_variants);
        tcase_add_test(tc, test_render_url_length);
        tcase_add_test(tc, test_render_bad_inputs);
        suite_add_tcase(s, tc);
        return s;
}

CHECK_MAIN(dnsmasq_config_suite)
