/* test-dhcp.c — unit tests for dhcp.c: real PXE DISCOVER/REQUEST frames (iPXE under SeaBIOS,
 * busybox udhcpc with a PXE vendor class, a UEFI x64 one), RFC 3004 user classes, option 52
 * overload, RFC 3396 split options, 802.1Q tags and Linux cooked captures; and every DhcpError,
 * each with the output left untouched. */
#include "check-main.h"
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dhcp.h"
#include "tests/tools/dhcp-frames.h"

static const uint8_t mac_a[6] = { 0x52, 0x54, 0x00, 0x00, 0x00, 0x0a };

#define FRAME_MAX 8192

/* Parses an Ethernet frame; on error checks that *ret was not written. */
static DhcpError parse_eth(const uint8_t *f, size_t len, DhcpPacket *ret) {
        DhcpPacket sentinel;
        memset(&sentinel, 0xa5, sizeof sentinel);
        *ret = sentinel;
        DhcpError e = dhcp_parse_frame(DHCP_LINKTYPE_EN10MB, f, len, ret);
        if (e != DHCP_OK)
                ck_assert_msg(memcmp(ret, &sentinel, sizeof sentinel) == 0,
                              "output written on error %s", dhcp_error_to_string(e));
        return e;
}

/* A frame for mac_a with these options (the caller ends them with 255). */
static size_t build(uint8_t *f, const uint8_t *opts, size_t optlen) {
        size_t n = dhcp_frames_build(f, FRAME_MAX, mac_a, 0x01020304, opts, optlen);
        ck_assert_uint_gt(n, 0);
        return n;
}

static DhcpError parse_opts(const uint8_t *opts, size_t optlen, DhcpPacket *ret) {
        uint8_t f[FRAME_MAX];
        size_t n = build(f, opts, optlen);
        return parse_eth(f, n, ret);
}

#define OPTS(...) ((const uint8_t[]) { __VA_ARGS__ }), sizeof((const uint8_t[]) { __VA_ARGS__ })

START_TEST(test_ipxe_bios_discover) {
        DhcpPacket p;
        char uuid[37];
        ck_assert_int_eq(parse_eth(dhcp_frame_ipxe_bios_discover, sizeof dhcp_frame_ipxe_bios_discover, &p),
                         DHCP_OK);
        ck_assert_uint_eq(p.op, 1);
        ck_assert_uint_eq(p.xid, 0x784bde1d);
        ck_assert_mem_eq(p.chaddr, ((const uint8_t[]) { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 }), 6);
        ck_assert_int_eq(p.type, DHCP_DISCOVER);
        ck_assert(p.has_arch);
        ck_assert_uint_eq(p.arch, 0);
        ck_assert_str_eq(dhcp_arch_name(p.arch), "x86 BIOS");
        ck_assert(p.has_uuid);
        ck_assert_str_eq(dhcp_uuid_format(p.uuid, uuid, sizeof uuid), "4e3a7c8b-2d1f-5b4c-9a6e-0d1c2b3a4f5e");
        ck_assert_str_eq(p.vendor_class, "PXEClient:Arch:00000:UNDI:002001");
        ck_assert_uint_eq(p.vendor_class_len, 32);
        ck_assert_str_eq(p.user_class, "iPXE");
        ck_assert_uint_eq(p.user_class_len, 4);
        ck_assert(p.pxe);
        ck_assert(p.ipxe);
}
END_TEST

START_TEST(test_ipxe_bios_request) {
        DhcpPacket p;
        ck_assert_int_eq(parse_eth(dhcp_frame_ipxe_bios_request, sizeof dhcp_frame_ipxe_bios_request, &p),
                         DHCP_OK);
        ck_assert_int_eq(p.type, DHCP_REQUEST);
        ck_assert(p.pxe && p.ipxe && p.has_uuid && p.has_arch);
}
END_TEST

START_TEST(test_udhcpc_pxe) {
        DhcpPacket p;
        ck_assert_int_eq(parse_eth(dhcp_frame_udhcpc_pxe_discover, sizeof dhcp_frame_udhcpc_pxe_discover, &p),
                         DHCP_OK);
        ck_assert_int_eq(p.type, DHCP_DISCOVER);
        ck_assert_mem_eq(p.chaddr, ((const uint8_t[]) { 0x52, 0x54, 0x00, 0xab, 0xcd, 0x01 }), 6);
        ck_assert(p.has_arch);
        ck_assert_uint_eq(p.arch, 0);
        ck_assert(!p.has_uuid);
        ck_assert_str_eq(p.vendor_class, "PXEClient:Arch:00000:UNDI:002001");
        ck_assert_str_eq(p.user_class, "");
        ck_assert_uint_eq(p.user_class_len, 0);
        ck_assert(p.pxe);
        ck_assert(!p.ipxe);
}
END_TEST

START_TEST(test_udhcpc_uefi) {
        DhcpPacket p;
        char uuid[37];
        ck_assert_int_eq(parse_eth(dhcp_frame_udhcpc_uefi_discover, sizeof dhcp_frame_udhcpc_uefi_discover, &p),
                         DHCP_OK);
        ck_assert(p.has_arch);
        ck_assert_uint_eq(p.arch, 7);
        ck_assert_str_eq(dhcp_arch_name(p.arch), "x64 UEFI");
        ck_assert(p.has_uuid);
        ck_assert_str_eq(dhcp_uuid_format(p.uuid, uuid, sizeof uuid), "11223344-5566-7788-99aa-bbccddeeff00");
        ck_assert_str_eq(p.vendor_class, "PXEClient:Arch:00007:UNDI:003016");
        ck_assert(p.pxe && !p.ipxe);
}
END_TEST

START_TEST(test_not_pxe) {
        DhcpPacket p;
        /* a plain client: vendor class "udhcp 1.35.0", no user class */
        ck_assert_int_eq(parse_opts(OPTS(53, 1, 1, 60, 12, 'u', 'd', 'h', 'c', 'p', ' ', '1', '.', '3', '5',
                                         '.', '0', 255),
                                    &p),
                         DHCP_OK);
        ck_assert_str_eq(p.vendor_class, "udhcp 1.35.0");
        ck_assert(!p.pxe && !p.ipxe && !p.has_arch && !p.has_uuid);
        /* "PXEClien" is not the prefix; "ipxe" is not "iPXE"; "iPXE2" is not "iPXE" */
        ck_assert_int_eq(parse_opts(OPTS(53, 1, 1, 60, 8, 'P', 'X', 'E', 'C', 'l', 'i', 'e', 'n', 77, 4, 'i',
                                         'p', 'x', 'e', 255),
                                    &p),
                         DHCP_OK);
        ck_assert(!p.pxe && !p.ipxe);
        ck_assert_int_eq(parse_opts(OPTS(53, 1, 1, 77, 5, 'i', 'P', 'X', 'E', '2', 255), &p), DHCP_OK);
        ck_assert(!p.pxe && !p.ipxe);
        ck_assert_str_eq(p.user_class, "iPXE2");
        /* plain BOOTP: no option 53 */
        ck_assert_int_eq(parse_opts(OPTS(255), &p), DHCP_OK);
        ck_assert_int_eq(p.type, DHCP_NONE);
        /* no END at all: the options end with the packet */
        ck_assert_int_eq(parse_opts(OPTS(53, 1, 3), &p), DHCP_OK);
        ck_assert_int_eq(p.type, DHCP_REQUEST);
}
END_TEST

START_TEST(test_user_class_rfc3004) {
        DhcpPacket p;
        /* RFC 3004 §3: two instances, "iPXE" and "other" */
        ck_assert_int_eq(parse_opts(OPTS(53, 1, 1, 77, 11, 4, 'i', 'P', 'X', 'E', 5, 'o', 't', 'h', 'e', 'r',
                                         255),
                                    &p),
                         DHCP_OK);
        ck_assert_str_eq(p.user_class, "iPXE,other");
        ck_assert_uint_eq(p.user_class_len, 11);
        ck_assert(p.ipxe && p.pxe);
        ck_assert_str_eq(p.vendor_class, "");
        /* one instance that is not iPXE */
        ck_assert_int_eq(parse_opts(OPTS(53, 1, 1, 77, 5, 4, 'i', 'P', 'X', 'F', 255), &p), DHCP_OK);
        ck_assert_str_eq(p.user_class, "iPXF");
        ck_assert(!p.ipxe && !p.pxe);
        /* a length byte that runs past the end: not RFC 3004, taken as the bare string */
        ck_assert_int_eq(parse_opts(OPTS(53, 1, 1, 77, 3, 9, 'a', 'b', 255), &p), DHCP_OK);
        ck_assert_str_eq(p.user_class, "?ab");
        /* a zero-length instance is not RFC 3004 either */
        ck_assert_int_eq(parse_opts(OPTS(53, 1, 1, 77, 3, 0, 1, 'a', 255), &p), DHCP_OK);
        ck_assert_str_eq(p.user_class, "??a");
        /* RFC 3396: the RFC 3004 data split across two option 77 instances */
        ck_assert_int_eq(parse_opts(OPTS(53, 1, 1, 77, 3, 4, 'i', 'P', 12, 0, 77, 2, 'X', 'E', 255), &p),
                         DHCP_OK);
        ck_assert_str_eq(p.user_class, "iPXE");
        ck_assert(p.ipxe);
}
END_TEST

START_TEST(test_overload) {
        uint8_t f[FRAME_MAX];
        DhcpPacket p;
        /* options field: 53 DISCOVER, 52 = 3 (file and sname); file: 60 PXEClient; sname: 93 x64 */
        size_t n = build(f, OPTS(53, 1, 1, 52, 1, 3, 255));
        uint8_t *b = f + DHCP_FRAMES_BOOTP_OFF;
        memcpy(b + 108, (const uint8_t[]) { 60, 9, 'P', 'X', 'E', 'C', 'l', 'i', 'e', 'n', 't', 255 }, 12);
        memcpy(b + 44, (const uint8_t[]) { 93, 2, 0, 7, 255 }, 5);
        ck_assert_int_eq(parse_eth(f, n, &p), DHCP_OK);
        ck_assert(p.pxe);
        ck_assert(p.has_arch);
        ck_assert_uint_eq(p.arch, 7);
        /* 52 = 1: only file; sname is not read */
        b[240 + 5] = 1;
        ck_assert_int_eq(parse_eth(f, n, &p), DHCP_OK);
        ck_assert(p.pxe && !p.has_arch);
        /* 52 = 2: only sname */
        b[240 + 5] = 2;
        ck_assert_int_eq(parse_eth(f, n, &p), DHCP_OK);
        ck_assert(!p.pxe && p.has_arch);
        /* no 52: file and sname are names, not options, whatever they hold */
        n = build(f, OPTS(53, 1, 1, 255));
        memcpy(b + 108, (const uint8_t[]) { 60, 200 }, 2);
        ck_assert_int_eq(parse_eth(f, n, &p), DHCP_OK);
        ck_assert_str_eq(p.vendor_class, "");
        /* a file field filled with options up to its last byte, no END */
        n = build(f, OPTS(53, 1, 1, 52, 1, 1, 255));
        b[108] = 60;
        b[109] = 126;
        memset(b + 110, 'x', 126);
        memcpy(b + 110, "PXEClient", 9);
        ck_assert_int_eq(parse_eth(f, n, &p), DHCP_OK);
        ck_assert_uint_eq(p.vendor_class_len, 126);
        ck_assert(p.pxe);
        /* ... and one byte further runs out of the file field */
        b[109] = 127;
        ck_assert_int_eq(parse_eth(f, n, &p), DHCP_ERR_TRUNCATED);
}
END_TEST

START_TEST(test_rfc3396_split) {
        uint8_t f[FRAME_MAX];
        DhcpPacket p;
        char uuid[37];
        /* 60 in two pieces with another option between; 97 split between the options field and
         * file (overload 1), in the order RFC 3396 §5 gives: options, then file */
        size_t n = build(f, OPTS(53, 1, 1, 52, 1, 1, 60, 5, 'P', 'X', 'E', 'C', 'l', 12, 1, 'h', 60, 4, 'i',
                                 'e', 'n', 't', 97, 5, 0, 0x10, 0x11, 0x12, 0x13, 255));
        uint8_t *b = f + DHCP_FRAMES_BOOTP_OFF;
        memcpy(b + 108,
               (const uint8_t[]) { 97, 12, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
                                   255 },
               15);
        ck_assert_int_eq(parse_eth(f, n, &p), DHCP_OK);
        ck_assert_str_eq(p.vendor_class, "PXEClient");
        ck_assert_uint_eq(p.vendor_class_len, 9);
        ck_assert(p.pxe);
        ck_assert(p.has_uuid);
        ck_assert_str_eq(dhcp_uuid_format(p.uuid, uuid, sizeof uuid), "10111213-1415-1617-1819-1a1b1c1d1e1f");
        /* option 52 turned into option 12 (host name): file is not read, the UUID is 5 bytes */
        b[240 + 3] = 12;
        ck_assert_int_eq(parse_eth(f, n, &p), DHCP_ERR_BAD_OPTION);
        /* 93 split in two 1-byte halves is one 2-byte entry */
        ck_assert_int_eq(parse_opts(OPTS(93, 1, 0, 93, 1, 11, 255), &p), DHCP_OK);
        ck_assert_uint_eq(p.arch, 11);
        ck_assert_str_eq(dhcp_arch_name(p.arch), "ARM 64-bit UEFI");
        /* several architectures: the first is taken */
        ck_assert_int_eq(parse_opts(OPTS(93, 4, 0, 16, 0, 7, 255), &p), DHCP_OK);
        ck_assert_uint_eq(p.arch, 16);
}
END_TEST

START_TEST(test_long_and_binary_strings) {
        uint8_t opts[700], f[FRAME_MAX];
        DhcpPacket p;
        size_t o = 0;
        /* 300 bytes of vendor class in two instances: copy truncated to 255, length kept */
        opts[o++] = 60;
        opts[o++] = 200;
        memcpy(opts + o, "PXEClient", 9);
        memset(opts + o + 9, 'a', 191);
        o += 200;
        opts[o++] = 60;
        opts[o++] = 100;
        memset(opts + o, 'b', 100);
        opts[o + 3] = 0x00;
        opts[o + 4] = 0xff;
        o += 100;
        opts[o++] = 255;
        size_t n = build(f, opts, o);
        ck_assert_int_eq(parse_eth(f, n, &p), DHCP_OK);
        ck_assert_uint_eq(p.vendor_class_len, 300);
        ck_assert_uint_eq(strlen(p.vendor_class), 255);
        ck_assert_str_eq(p.vendor_class + 250, "bbbbb");
        ck_assert_int_eq(strncmp(p.vendor_class + 190, "aaaaaaaaaabbb??bbb", 18), 0);
        ck_assert(p.pxe);
}
END_TEST

START_TEST(test_vlan_and_sll) {
        uint8_t f[FRAME_MAX], g[FRAME_MAX];
        DhcpPacket p;
        size_t n = sizeof dhcp_frame_ipxe_bios_discover;
        memcpy(f, dhcp_frame_ipxe_bios_discover, n);
        n = dhcp_frames_add_tag(f, n, sizeof f, 0x8100, 42);
        ck_assert_int_eq(parse_eth(f, n, &p), DHCP_OK);
        ck_assert(p.ipxe);
        /* QinQ: S-tag 0x88a8 outside a C-tag */
        n = dhcp_frames_add_tag(f, n, sizeof f, 0x88a8, 7);
        ck_assert_int_eq(parse_eth(f, n, &p), DHCP_OK);
        ck_assert(p.ipxe);
        /* a third tag is more than is accepted */
        size_t n3 = dhcp_frames_add_tag(f, n, sizeof f, 0x8100, 1);
        ck_assert_int_eq(parse_eth(f, n3, &p), DHCP_ERR_NOT_DHCP);
        /* cut inside the second tag */
        ck_assert_int_eq(parse_eth(f, 16, &p), DHCP_ERR_TRUNCATED);
        ck_assert_int_eq(parse_eth(f, 19, &p), DHCP_ERR_TRUNCATED);

        /* Linux cooked capture */
        size_t m = dhcp_frames_to_sll(dhcp_frame_udhcpc_uefi_discover, sizeof dhcp_frame_udhcpc_uefi_discover, g,
                                      sizeof g);
        memset(&p, 0, sizeof p);
        ck_assert_int_eq(dhcp_parse_frame(DHCP_LINKTYPE_LINUX_SLL, g, m, &p), DHCP_OK);
        ck_assert_uint_eq(p.arch, 7);
        ck_assert_mem_eq(p.chaddr, ((const uint8_t[]) { 0x52, 0x54, 0x00, 0xab, 0xcd, 0x07 }), 6);
        ck_assert_int_eq(dhcp_parse_frame(DHCP_LINKTYPE_LINUX_SLL, g, 15, &p), DHCP_ERR_TRUNCATED);
        /* the same bytes read as Ethernet are not IPv4 */
        ck_assert_int_eq(dhcp_parse_frame(DHCP_LINKTYPE_EN10MB, g, m, &p), DHCP_ERR_NOT_DHCP);
        /* other link types */
        ck_assert_int_eq(dhcp_parse_frame(0, dhcp_frame_udhcpc_uefi_discover, sizeof dhcp_frame_udhcpc_uefi_discover,
                                          &p),
                         DHCP_ERR_NOT_DHCP);
        ck_assert_int_eq(dhcp_parse_frame(101, dhcp_frame_udhcpc_uefi_discover,
                                          sizeof dhcp_frame_udhcpc_uefi_discover, &p),
                         DHCP_ERR_NOT_DHCP);
}
END_TEST

START_TEST(test_padding_and_null_ret) {
        uint8_t f[FRAME_MAX];
        DhcpPacket p;
        size_t n = sizeof dhcp_frame_udhcpc_pxe_discover;
        memcpy(f, dhcp_frame_udhcpc_pxe_discover, n);
        /* Ethernet trailer bytes after the IP datagram are ignored */
        memset(f + n, 0xee, 40);
        ck_assert_int_eq(parse_eth(f, n + 40, &p), DHCP_OK);
        /* a UDP length shorter than the IP payload: the rest is ignored (here that cuts
         * udhcpc's END, its last byte: the options then end with the datagram) */
        f[14 + 20 + 5] -= 1;
        ck_assert_int_eq(parse_eth(f, n, &p), DHCP_OK);
        /* ret may be NULL to only validate */
        ck_assert_int_eq(dhcp_parse_frame(DHCP_LINKTYPE_EN10MB, f, n, NULL), DHCP_OK);
        ck_assert_int_eq(dhcp_parse_frame(DHCP_LINKTYPE_EN10MB, NULL, 0, &p), DHCP_ERR_TRUNCATED);
        ck_assert_int_eq(dhcp_parse(NULL, 0, &p), DHCP_ERR_TRUNCATED);
}
END_TEST

START_TEST(test_not_dhcp) {
        uint8_t f[FRAME_MAX];
        DhcpPacket p;
        size_t n = sizeof dhcp_frame_ipxe_bios_discover;
#define RESET() memcpy(f, dhcp_frame_ipxe_bios_discover, n)
        RESET();
        f[12] = 0x08, f[13] = 0x06; /* ARP */
        ck_assert_int_eq(parse_eth(f, n, &p), DHCP_ERR_NOT_DHCP);
        RESET();
        f[12] = 0x86, f[13] = 0xdd; /* IPv6 */
        ck_assert_int_eq(parse_eth(f, n, &p), DHCP_ERR_NOT_DHCP);
        RESET();
        f[12] = 0x00, f[13] = 0x40; /* 802.3 length field */
        ck_assert_int_eq(parse_eth(f, n, &p), DHCP_ERR_NOT_DHCP);
        RESET();
        f[14] = 0x65; /* IP version 6 under ethertype IPv4 */
        ck_assert_int_eq(parse_eth(f, n, &p), DHCP_ERR_NOT_DHCP);
        RESET();
        f[14 + 9] = 6; /* TCP */
        ck_assert_int_eq(parse_eth(f, n, &p), DHCP_ERR_NOT_DHCP);
        RESET();
        f[14 + 6] = 0x20; /* MF: first fragment */
        ck_assert_int_eq(parse_eth(f, n, &p), DHCP_ERR_NOT_DHCP);
        RESET();
        f[14 + 7] = 0x01; /* fragment offset 8 */
        ck_assert_int_eq(parse_eth(f, n, &p), DHCP_ERR_NOT_DHCP);
        RESET();
        f[14 + 6] = 0x40; /* DF alone is fine */
        ck_assert_int_eq(parse_eth(f, n, &p), DHCP_OK);
        RESET();
        f[14 + 20 + 3] = 68; /* to the client port */
        ck_assert_int_eq(parse_eth(f, n, &p), DHCP_ERR_NOT_DHCP);
#undef RESET
}
END_TEST

START_TEST(test_truncated_every_length) {
        DhcpPacket p;
        const uint8_t *frames[] = { dhcp_frame_ipxe_bios_discover, dhcp_frame_udhcpc_uefi_discover };
        const size_t lens[] = { sizeof dhcp_frame_ipxe_bios_discover, sizeof dhcp_frame_udhcpc_uefi_discover };
        for (size_t k = 0; k < 2; k++)
                for (size_t cut = 0; cut < lens[k]; cut++) {
                        /* a heap copy of exactly `cut` bytes, so ASan sees any read past it */
                        uint8_t *c = malloc(cut ? cut : 1);
                        ck_assert_ptr_nonnull(c);
                        memcpy(c, frames[k], cut);
                        ck_assert_msg(parse_eth(c, cut, &p) == DHCP_ERR_TRUNCATED, "frame %zu cut at %zu", k, cut);
                        free(c);
                }
}
END_TEST

START_TEST(test_truncated_options) {
        DhcpPacket p;
        uint8_t b[300];
        /* shorter than the fixed header + cookie */
        dhcp_frames_bootp(b, mac_a, 1);
        for (size_t len = 0; len < 240; len++)
                ck_assert_int_eq(dhcp_parse(b, len, &p), DHCP_ERR_TRUNCATED);
        ck_assert_int_eq(dhcp_parse(b, 240, &p), DHCP_OK);
        /* an option code with no length byte */
        ck_assert_int_eq(parse_opts(OPTS(53, 1, 1, 60), &p), DHCP_ERR_TRUNCATED);
        /* a length past the end */
        ck_assert_int_eq(parse_opts(OPTS(53, 1, 1, 60, 10, 'P', 'X', 'E'), &p), DHCP_ERR_TRUNCATED);
        ck_assert_int_eq(parse_opts(OPTS(53, 1, 1, 43, 255, 0, 0, 255), &p), DHCP_ERR_TRUNCATED);
        /* an option of an unknown code running past the end is refused just the same */
        ck_assert_int_eq(parse_opts(OPTS(200, 2, 0), &p), DHCP_ERR_TRUNCATED);
}
END_TEST

START_TEST(test_bad_length) {
        uint8_t f[FRAME_MAX];
        DhcpPacket p;
        size_t n = sizeof dhcp_frame_ipxe_bios_discover;
#define RESET() memcpy(f, dhcp_frame_ipxe_bios_discover, n)
        RESET();
        f[14] = 0x44; /* IHL 4 */
        ck_assert_int_eq(parse_eth(f, n, &p), DHCP_ERR_BAD_LENGTH);
        RESET();
        f[14] = 0x40; /* IHL 0 */
        ck_assert_int_eq(parse_eth(f, n, &p), DHCP_ERR_BAD_LENGTH);
        RESET();
        f[14 + 2] = 0, f[14 + 3] = 27; /* total length below IP + UDP headers */
        ck_assert_int_eq(parse_eth(f, n, &p), DHCP_ERR_BAD_LENGTH);
        RESET();
        f[14 + 2] = 0, f[14 + 3] = 0;
        ck_assert_int_eq(parse_eth(f, n, &p), DHCP_ERR_BAD_LENGTH);
        RESET();
        f[14 + 20 + 4] = 0, f[14 + 20 + 5] = 7; /* UDP length below its header */
        ck_assert_int_eq(parse_eth(f, n, &p), DHCP_ERR_BAD_LENGTH);
        RESET();
        f[14 + 20 + 4] = 0x01, f[14 + 20 + 5] = 0xa0; /* 416 > 408 bytes of IP payload */
        ck_assert_int_eq(parse_eth(f, n, &p), DHCP_ERR_BAD_LENGTH);
        RESET();
        f[14 + 20 + 4] = 0xff, f[14 + 20 + 5] = 0xff;
        ck_assert_int_eq(parse_eth(f, n, &p), DHCP_ERR_BAD_LENGTH);
        /* IHL 15 (60 bytes of header): the UDP header is then read from where the options
         * would be, and this one's is not port 67 */
        RESET();
        f[14] = 0x4f;
        ck_assert_int_eq(parse_eth(f, n, &p), DHCP_ERR_NOT_DHCP);
        /* an IPv4 total length past the captured bytes is a truncation */
        RESET();
        f[14 + 2] = 0x05, f[14 + 3] = 0xdc;
        ck_assert_int_eq(parse_eth(f, n, &p), DHCP_ERR_TRUNCATED);
#undef RESET
}
END_TEST

START_TEST(test_bad_magic) {
        uint8_t f[FRAME_MAX];
        DhcpPacket p;
        size_t n = sizeof dhcp_frame_ipxe_bios_discover;
        for (size_t k = 0; k < 4; k++) {
                memcpy(f, dhcp_frame_ipxe_bios_discover, n);
                f[DHCP_FRAMES_BOOTP_OFF + 236 + k] ^= 0x01;
                ck_assert_int_eq(parse_eth(f, n, &p), DHCP_ERR_BAD_MAGIC);
        }
}
END_TEST

START_TEST(test_bad_hwaddr) {
        uint8_t f[FRAME_MAX];
        DhcpPacket p;
        size_t n = sizeof dhcp_frame_ipxe_bios_discover;
        uint8_t *b = f + DHCP_FRAMES_BOOTP_OFF;
#define RESET() memcpy(f, dhcp_frame_ipxe_bios_discover, n)
        RESET();
        b[1] = 6; /* htype IEEE 802 */
        ck_assert_int_eq(parse_eth(f, n, &p), DHCP_ERR_BAD_HWADDR);
        RESET();
        b[2] = 16; /* hlen 16 */
        ck_assert_int_eq(parse_eth(f, n, &p), DHCP_ERR_BAD_HWADDR);
        RESET();
        b[2] = 0;
        ck_assert_int_eq(parse_eth(f, n, &p), DHCP_ERR_BAD_HWADDR);
        RESET();
        memset(b + 28, 0, 6); /* zero MAC */
        ck_assert_int_eq(parse_eth(f, n, &p), DHCP_ERR_BAD_HWADDR);
        RESET();
        memset(b + 28, 0xff, 6); /* broadcast */
        ck_assert_int_eq(parse_eth(f, n, &p), DHCP_ERR_BAD_HWADDR);
        RESET();
        b[28] |= 0x01; /* multicast */
        ck_assert_int_eq(parse_eth(f, n, &p), DHCP_ERR_BAD_HWADDR);
        RESET();
        b[28] |= 0x02; /* locally administered is fine */
        ck_assert_int_eq(parse_eth(f, n, &p), DHCP_OK);
#undef RESET
}
END_TEST

START_TEST(test_bad_option) {
        DhcpPacket p;
        uint8_t f[FRAME_MAX];
        /* 53 */
        ck_assert_int_eq(parse_opts(OPTS(53, 2, 1, 1, 255), &p), DHCP_ERR_BAD_OPTION);
        ck_assert_int_eq(parse_opts(OPTS(53, 0, 255), &p), DHCP_ERR_BAD_OPTION);
        ck_assert_int_eq(parse_opts(OPTS(53, 1, 0, 255), &p), DHCP_ERR_BAD_OPTION);
        ck_assert_int_eq(parse_opts(OPTS(53, 1, 1, 53, 1, 3, 255), &p), DHCP_ERR_BAD_OPTION);
        ck_assert_int_eq(parse_opts(OPTS(53, 1, 3, 53, 1, 3, 255), &p), DHCP_OK);
        ck_assert_int_eq(p.type, DHCP_REQUEST);
        ck_assert_int_eq(parse_opts(OPTS(53, 1, 13, 255), &p), DHCP_OK); /* RFC 4388 LEASEQUERY */
        ck_assert_int_eq((int) p.type, 13);
        /* 93 */
        ck_assert_int_eq(parse_opts(OPTS(93, 0, 255), &p), DHCP_ERR_BAD_OPTION);
        ck_assert_int_eq(parse_opts(OPTS(93, 1, 0, 255), &p), DHCP_ERR_BAD_OPTION);
        ck_assert_int_eq(parse_opts(OPTS(93, 3, 0, 7, 0, 255), &p), DHCP_ERR_BAD_OPTION);
        /* 94 */
        ck_assert_int_eq(parse_opts(OPTS(94, 2, 1, 2, 255), &p), DHCP_ERR_BAD_OPTION);
        /* 97 */
        ck_assert_int_eq(parse_opts(OPTS(97, 16, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 255), &p),
                         DHCP_ERR_BAD_OPTION);
        ck_assert_int_eq(parse_opts(OPTS(97, 17, 1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 255), &p),
                         DHCP_ERR_BAD_OPTION);
        ck_assert_int_eq(parse_opts(OPTS(97, 0, 255), &p), DHCP_ERR_BAD_OPTION);
        /* 52: bad value, bad length, repeated with different values */
        ck_assert_int_eq(parse_opts(OPTS(52, 1, 4, 255), &p), DHCP_ERR_BAD_OPTION);
        ck_assert_int_eq(parse_opts(OPTS(52, 1, 0, 255), &p), DHCP_ERR_BAD_OPTION);
        ck_assert_int_eq(parse_opts(OPTS(52, 2, 1, 1, 255), &p), DHCP_ERR_BAD_OPTION);
        ck_assert_int_eq(parse_opts(OPTS(52, 1, 1, 52, 1, 2, 255), &p), DHCP_ERR_BAD_OPTION);
        /* 52 inside file or sname (an overload loop) */
        size_t n = build(f, OPTS(53, 1, 1, 52, 1, 3, 255));
        uint8_t *b = f + DHCP_FRAMES_BOOTP_OFF;
        memcpy(b + 108, (const uint8_t[]) { 52, 1, 1, 255 }, 4);
        ck_assert_int_eq(parse_eth(f, n, &p), DHCP_ERR_BAD_OPTION);
        memcpy(b + 108, (const uint8_t[]) { 255 }, 1);
        memcpy(b + 44, (const uint8_t[]) { 52, 1, 2, 255 }, 4);
        ck_assert_int_eq(parse_eth(f, n, &p), DHCP_ERR_BAD_OPTION);
        /* an option 52 that is not walked (after END) changes nothing */
        ck_assert_int_eq(parse_opts(OPTS(53, 1, 1, 255, 52, 1, 9), &p), DHCP_OK);
}
END_TEST

START_TEST(test_too_many) {
        uint8_t opts[6000];
        DhcpPacket p;
        /* DHCP_OPTIONS_MAX options walked, END included: fine; one more: refused */
        memset(opts, 0, sizeof opts);
        opts[DHCP_OPTIONS_MAX - 1] = 255;
        ck_assert_int_eq(parse_opts(opts, DHCP_OPTIONS_MAX, &p), DHCP_OK);
        memset(opts, 0, sizeof opts);
        opts[DHCP_OPTIONS_MAX] = 255;
        ck_assert_int_eq(parse_opts(opts, DHCP_OPTIONS_MAX + 1, &p), DHCP_ERR_TOO_MANY);
        /* thousands of pads */
        memset(opts, 0, sizeof opts);
        ck_assert_int_eq(parse_opts(opts, 4000, &p), DHCP_ERR_TOO_MANY);
        /* thousands of empty options (code, length 0): refused before any is read, even
         * ones that would be bad options */
        for (size_t i = 0; i + 1 < 6000; i += 2) {
                opts[i] = 93;
                opts[i + 1] = 0;
        }
        ck_assert_int_eq(parse_opts(opts, 6000, &p), DHCP_ERR_TOO_MANY);
        /* the count spans the overloaded fields too */
        uint8_t f[FRAME_MAX];
        memset(opts, 0, sizeof opts);
        opts[0] = 52, opts[1] = 1, opts[2] = 3;
        size_t n = build(f, opts, 3 + 100); /* 1 + 100 pads, no END */
        ck_assert_int_eq(parse_eth(f, n, &p), DHCP_ERR_TOO_MANY); /* + 128 + 64 pads > 255 */
        n = build(f, opts, 3 + 50);
        ck_assert_int_eq(parse_eth(f, n, &p), DHCP_OK); /* 1 + 50 + 128 + 64 = 243 */
}
END_TEST

START_TEST(test_names) {
        static const char *const names[] = { "ok", "not_dhcp", "truncated", "bad_length", "bad_magic",
                                             "bad_option", "bad_hwaddr", "too_many_options" };
        ck_assert_int_eq(sizeof names / sizeof names[0], _DHCP_ERR_MAX);
        for (int e = 0; e < _DHCP_ERR_MAX; e++)
                ck_assert_str_eq(dhcp_error_to_string((DhcpError) e), names[e]);
        ck_assert_ptr_null(dhcp_error_to_string(_DHCP_ERR_MAX));
        ck_assert_ptr_null(dhcp_error_to_string((DhcpError) -1));

        ck_assert_str_eq(dhcp_arch_name(0), "x86 BIOS");
        ck_assert_str_eq(dhcp_arch_name(6), "x86 UEFI");
        ck_assert_str_eq(dhcp_arch_name(7), "x64 UEFI");
        ck_assert_str_eq(dhcp_arch_name(9), "x64 UEFI");
        ck_assert_str_eq(dhcp_arch_name(10), "ARM 32-bit UEFI");
        ck_assert_str_eq(dhcp_arch_name(16), "x64 UEFI HTTP");
        ck_assert_str_eq(dhcp_arch_name(19), "ARM 64-bit UEFI HTTP");
        ck_assert_str_eq(dhcp_arch_name(41), "ARM rpiboot");
        ck_assert_ptr_null(dhcp_arch_name(42));
        ck_assert_ptr_null(dhcp_arch_name(0xffff));

        const uint8_t u[16] = { 0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0xa, 0xb };
        char buf[37], small[9];
        ck_assert_str_eq(dhcp_uuid_format(u, buf, sizeof buf), "deadbeef-0001-0203-0405-060708090a0b");
        ck_assert_str_eq(dhcp_uuid_format(u, small, sizeof small), "deadbeef");
}
END_TEST

static Suite *dhcp_suite(void) {
        Suite *s = suite_create("dhcp");
        TCase *tc = tcase_create("core");
        tcase_add_test(tc, test_ipxe_bios_discover);
        tcase_add_test(tc, test_ipxe_bios_request);
        tcase_add_test(tc, test_udhcpc_pxe);
        tcase_add_test(tc, test_udhcpc_uefi);
        tcase_add_test(tc, test_not_pxe);
        tcase_add_test(tc, test_user_class_rfc3004);
        tcase_add_test(tc, test_overload);
        tcase_add_test(tc, test_rfc3396_split);
        tcase_add_test(tc, test_long_and_binary_strings);
        tcase_add_test(tc, test_vlan_and_sll);
        tcase_add_test(tc, test_padding_and_null_ret);
        tcase_add_test(tc, test_not_dhcp);
        tcase_add_test(tc, test_truncated_every_length);
        tcase_add_test(tc, test_truncated_options);
        tcase_add_test(tc, test_bad_length);
        tcase_add_test(tc, test_bad_magic);
        tcase_add_test(tc, test_bad_hwaddr);
        tcase_add_test(tc, test_bad_option);
        tcase_add_test(tc, test_too_many);
        tcase_add_test(tc, test_names);
        suite_add_tcase(s, tc);
        return s;
}

CHECK_MAIN(dhcp_suite)
