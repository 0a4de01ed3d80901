/* dhcp-pcap — writes a pcap capture (DLT_EN10MB) of DHCP frames to replay at provd's discovery:
 * a few valid PXE DISCOVERs/REQUESTs and a large set of malformed ones, each with the outcome
 * dhcp_parse_frame() must give it, declared here by hand (never computed by the parser), and
 * checks a capture against those declarations.
 *
 *   dhcp-pcap OUT.pcap              write the capture; the expectations go to stdout
 *   dhcp-pcap --check IN.pcap EXPECT   read IN.pcap back (pcap_open_offline) and check every
 *                                   frame's dhcp_parse_frame() result against EXPECT; exit 1 on
 *                                   any difference
 *
 * Expectation lines (tab-separated, '#' lines are comments), one per frame in file order:
 *   INDEX RESULT MAC PXE TYPE FILTER DESCRIPTION
 *   INDEX   1-based frame number in the capture
 *   RESULT  dhcp_error_to_string() of the expected result ("ok", "truncated", ...)
 *   MAC     client MAC (chaddr) when RESULT is ok, else "-"
 *   PXE     "pxe" or "not_pxe" when ok (DhcpPacket.pxe), else "-"
 *   TYPE    "discover", "request", "none" (no option 53) when ok, else "-"
 *   FILTER  "yes"/"no": whether libpcap's filter DISCOVERY_FILTER (the discovery
 *           thread's) accepts the frame — computed with pcap_offline_filter(), so a consumer
 *           can tell which frames a live capture would even see
 *   DESCRIPTION  free text
 *
 * The valid frames (RESULT ok) and their MACs:
 *   52:54:00:12:34:56  iPXE (Debian's ROM, SeaBIOS, QEMU) DISCOVER and REQUEST, captured
 *   52:54:00:ab:cd:01  busybox udhcpc -V PXEClient:Arch:00000:UNDI:002001, captured
 *   52:54:00:ab:cd:07  busybox udhcpc with UEFI x64 options (arch 7, UUID), captured
 *   52:54:00:d7:00:01  built: RFC 3004 user class "iPXE", arch 7, UUID, no vendor class
 *   52:54:00:d7:00:02  built: REQUEST, ARM 64-bit UEFI (arch 11)
 *   52:54:00:d7:00:03  built: options in file/sname through option 52 = 3
 *   52:54:00:d7:00:04  built: iPXE DISCOVER behind one 802.1Q tag (filter "yes": the
 *                      filter's second half looks inside one VLAN tag)
 *   52:54:00:d7:00:05  built: a non-PXE client (vendor class "udhcp 1.35.0")      not_pxe
 *   52:54:00:d7:00:06  built: exactly DHCP_OPTIONS_MAX options walked (254 pads + END) not_pxe
 *   52:54:00:d7:00:07  built: PXE DISCOVER with Ethernet trailer bytes after the datagram
 * Every other frame is malformed or not DHCP; all frames are at most 1514 bytes, so each can
 * be sent on a 1500-MTU link. */
#include <errno.h>
#include <pcap/pcap.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dhcp.h"
#include "discovery.h"
#include "mac.h"
#include "tests/tools/dhcp-frames.h"

#define FRAME_MAX 1514
#define FILTER DISCOVERY_FILTER /* the discovery thread's own filter */

typedef struct Writer {
        pcap_t *pcap;
        pcap_dumper_t *dump;
        struct bpf_program filter;
        unsigned index;
} Writer;

static const char *const type_names[] = { [DHCP_NONE] = "none", [DHCP_DISCOVER] = "discover",
                                          [DHCP_REQUEST] = "request" };

/* Writes one frame and its expectation line.  mac/pxe/type only for DHCP_OK. */
static void emit(Writer *w, const uint8_t *f, size_t len, DhcpError expect, const uint8_t *mac, bool pxe,
                 DhcpMessageType type, const char *fmt, ...) __attribute__((format(printf, 8, 9)));

static void emit(Writer *w, const uint8_t *f, size_t len, DhcpError expect, const uint8_t *mac, bool pxe,
                 DhcpMessageType type, const char *fmt, ...) {
        if (len > FRAME_MAX) {
                fprintf(stderr, "dhcp-pcap: frame %u is %zu bytes, more than %d\n", w->index + 1, len, FRAME_MAX);
                exit(1);
        }
        struct pcap_pkthdr h = { .caplen = (bpf_u_int32) len, .len = (bpf_u_int32) len };
        /* fixed timestamps (2024-01-01T00:00:00Z + 1 ms per frame): the file is reproducible */
        h.ts.tv_sec = 1704067200 + w->index / 1000;
        h.ts.tv_usec = (w->index % 1000) * 1000;
        pcap_dump((u_char *) w->dump, &h, f);
        w->index++;

        char macbuf[MAC_STRING_MAX] = "-";
        if (expect == DHCP_OK)
                mac_format(mac, macbuf);
        bool match = pcap_offline_filter(&w->filter, &h, f) != 0;
        printf("%u\t%s\t%s\t%s\t%s\t%s\t", w->index, dhcp_error_to_string(expect), macbuf,
               expect == DHCP_OK ? (pxe ? "pxe" : "not_pxe") : "-", expect == DHCP_OK ? type_names[type] : "-",
               match ? "yes" : "no");
        va_list ap;
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        putchar('\n');
}

#define MAC(a, b) ((const uint8_t[6]) { 0x52, 0x54, 0x00, a, b, 0x00 })

/* A frame for mac with options opts; aborts if it does not fit. */
static size_t build(uint8_t *f, const uint8_t *mac, const uint8_t *opts, size_t optlen) {
        size_t n = dhcp_frames_build(f, FRAME_MAX + 64, mac, 0x1d000000u | mac[3] << 8 | mac[4], opts, optlen);
        if (n == 0) {
                fprintf(stderr, "dhcp-pcap: frame does not fit\n");
                exit(1);
        }
        return n;
}

#define OPTS(...) ((const uint8_t[]) { __VA_ARGS__ }), sizeof((const uint8_t[]) { __VA_ARGS__ })
#define VENDOR_BIOS 60, 32, 'P', 'X', 'E', 'C', 'l', 'i', 'e', 'n', 't', ':', 'A', 'r', 'c', 'h', ':', \
        '0', '0', '0', '0', '0', ':', 'U', 'N', 'D', 'I', ':', '0', '0', '2', '0', '0', '1'
#define UUID_OPT 97, 17, 0, 0xa1, 0xa2, 0xa3, 0xa4, 0xb1, 0xb2, 0xc1, 0xc2, 0xd1, 0xd2, 1, 2, 3, 4, 5, 6

static void write_valid(Writer *w) {
        uint8_t f[FRAME_MAX + 64];
        size_t n;
        const uint8_t ipxe_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
        const uint8_t u1[6] = { 0x52, 0x54, 0x00, 0xab, 0xcd, 0x01 }, u7[6] = { 0x52, 0x54, 0x00, 0xab, 0xcd, 0x07 };
        uint8_t d7[6] = { 0x52, 0x54, 0x00, 0xd7, 0x00, 0x00 };

        emit(w, dhcp_frame_ipxe_bios_discover, sizeof dhcp_frame_ipxe_bios_discover, DHCP_OK, ipxe_mac, true,
             DHCP_DISCOVER, "iPXE BIOS DISCOVER (captured: Debian ipxe-qemu under SeaBIOS)");
        emit(w, dhcp_frame_ipxe_bios_request, sizeof dhcp_frame_ipxe_bios_request, DHCP_OK, ipxe_mac, true,
             DHCP_REQUEST, "iPXE BIOS REQUEST (captured, same client)");
        emit(w, dhcp_frame_udhcpc_pxe_discover, sizeof dhcp_frame_udhcpc_pxe_discover, DHCP_OK, u1, true,
             DHCP_DISCOVER, "udhcpc -V PXEClient:Arch:00000:UNDI:002001 DISCOVER (captured)");
        emit(w, dhcp_frame_udhcpc_uefi_discover, sizeof dhcp_frame_udhcpc_uefi_discover, DHCP_OK, u7, true,
             DHCP_DISCOVER, "udhcpc UEFI x64 DISCOVER, arch 7 + UUID (captured)");

        d7[5] = 1;
        n = build(f, d7, OPTS(53, 1, 1, 93, 2, 0, 7, UUID_OPT, 77, 5, 4, 'i', 'P', 'X', 'E', 255));
        emit(w, f, n, DHCP_OK, d7, true, DHCP_DISCOVER, "RFC 3004 user class iPXE, arch 7, UUID, no option 60");
        d7[5] = 2;
        n = build(f, d7,
                  OPTS(53, 1, 3, 93, 2, 0, 11, 60, 32, 'P', 'X', 'E', 'C', 'l', 'i', 'e', 'n', 't', ':', 'A', 'r', 'c',
                       'h', ':', '0', '0', '0', '1', '1', ':', 'U', 'N', 'D', 'I', ':', '0', '0', '3', '0', '0', '0',
                       255));
        emit(w, f, n, DHCP_OK, d7, true, DHCP_REQUEST, "REQUEST from ARM 64-bit UEFI (arch 11)");
        d7[5] = 3;
        n = build(f, d7, OPTS(53, 1, 1, 52, 1, 3, 255));
        memcpy(f + DHCP_FRAMES_BOOTP_OFF + 108, (const uint8_t[]) { VENDOR_BIOS, 255 }, 35);
        memcpy(f + DHCP_FRAMES_BOOTP_OFF + 44, (const uint8_t[]) { 93, 2, 0, 0, 255 }, 5);
        emit(w, f, n, DHCP_OK, d7, true, DHCP_DISCOVER, "option 52 = 3: vendor class in file, arch in sname");
        d7[5] = 4;
        n = build(f, d7, OPTS(53, 1, 1, 93, 2, 0, 0, VENDOR_BIOS, 77, 4, 'i', 'P', 'X', 'E', 255));
        n = dhcp_frames_add_tag(f, n, sizeof f, 0x8100, 42);
        emit(w, f, n, DHCP_OK, d7, true, DHCP_DISCOVER, "iPXE DISCOVER in 802.1Q VLAN 42");
        d7[5] = 5;
        n = build(f, d7,
                  OPTS(53, 1, 1, 60, 12, 'u', 'd', 'h', 'c', 'p', ' ', '1', '.', '3', '5', '.', '0', 255));
        emit(w, f, n, DHCP_OK, d7, false, DHCP_DISCOVER, "not a PXE client (vendor class udhcp 1.35.0)");
        d7[5] = 6;
        {
                uint8_t opts[DHCP_OPTIONS_MAX] = { 0 };
                opts[DHCP_OPTIONS_MAX - 1] = 255;
                n = build(f, d7, opts, sizeof opts);
        }
        emit(w, f, n, DHCP_OK, d7, false, DHCP_NONE, "exactly %d options walked (pads + END), no option 53",
             DHCP_OPTIONS_MAX);
        d7[5] = 7;
        n = build(f, d7, OPTS(53, 1, 1, VENDOR_BIOS, 255));
        memset(f + n, 0xee, 32);
        emit(w, f, n + 32, DHCP_OK, d7, true, DHCP_DISCOVER, "PXE DISCOVER + 32 Ethernet trailer bytes");
}

static void write_malformed(Writer *w) {
        uint8_t f[FRAME_MAX + 64], opts[FRAME_MAX];
        size_t n;
        const uint8_t *m = MAC(0xee, 0x01);
        const uint8_t *base = dhcp_frame_ipxe_bios_discover;
        const size_t base_len = sizeof dhcp_frame_ipxe_bios_discover;
        uint8_t *b = f + DHCP_FRAMES_BOOTP_OFF;

#define BAD(e, ...) emit(w, f, n, e, NULL, false, DHCP_NONE, __VA_ARGS__)
#define FROM_BASE() (memcpy(f, base, base_len), n = base_len)

        /* truncated options */
        n = build(f, m, OPTS(53, 1, 1, 60));
        BAD(DHCP_ERR_TRUNCATED, "option 60 code without its length byte at the end");
        n = build(f, m, OPTS(53, 1, 1, 60, 200, 'P', 'X', 'E', 'C', 'l', 'i', 'e', 'n', 't'));
        BAD(DHCP_ERR_TRUNCATED, "option 60 length 200 past the end (9 bytes follow)");
        n = build(f, m, OPTS(53, 1, 1, 43, 255, 0, 0, 255));
        BAD(DHCP_ERR_TRUNCATED, "option 43 length 255 past the end");
        n = build(f, m, OPTS(53, 1, 1, 52, 1, 1, 255));
        b[108] = 60, b[109] = 127;
        BAD(DHCP_ERR_TRUNCATED, "option 60 in file (overload 1) running out of the file field");
        FROM_BASE();
        n = DHCP_FRAMES_BOOTP_OFF + 239;
        f[14 + 2] = (uint8_t) ((n - 14) >> 8), f[14 + 3] = (uint8_t) (n - 14);
        f[14 + 20 + 4] = (uint8_t) ((n - 34) >> 8), f[14 + 20 + 5] = (uint8_t) (n - 34);
        BAD(DHCP_ERR_TRUNCATED, "consistent IP/UDP lengths but the BOOTP message ends inside the magic cookie");

        /* bad IPv4 / UDP lengths */
        FROM_BASE();
        f[14] = 0x44;
        BAD(DHCP_ERR_BAD_LENGTH, "IPv4 IHL 4");
        FROM_BASE();
        f[14] = 0x40;
        BAD(DHCP_ERR_BAD_LENGTH, "IPv4 IHL 0");
        FROM_BASE();
        f[14 + 2] = 0, f[14 + 3] = 27;
        BAD(DHCP_ERR_BAD_LENGTH, "IPv4 total length 27 (below IP + UDP headers)");
        FROM_BASE();
        f[14 + 2] = 0, f[14 + 3] = 0;
        BAD(DHCP_ERR_BAD_LENGTH, "IPv4 total length 0");
        FROM_BASE();
        f[14 + 20 + 4] = 0, f[14 + 20 + 5] = 7;
        BAD(DHCP_ERR_BAD_LENGTH, "UDP length 7");
        FROM_BASE();
        f[14 + 20 + 4] = 0, f[14 + 20 + 5] = 0;
        BAD(DHCP_ERR_BAD_LENGTH, "UDP length 0");
        FROM_BASE();
        f[14 + 20 + 4] = 0x01, f[14 + 20 + 5] = 0xa0;
        BAD(DHCP_ERR_BAD_LENGTH, "UDP length 416 > 408 bytes of IP payload");
        FROM_BASE();
        f[14 + 20 + 4] = 0xff, f[14 + 20 + 5] = 0xff;
        BAD(DHCP_ERR_BAD_LENGTH, "UDP length 65535");
        FROM_BASE();
        f[14 + 2] = 0x05, f[14 + 3] = 0xdc;
        BAD(DHCP_ERR_TRUNCATED, "IPv4 total length 1500 > the 428 bytes in the frame");
        FROM_BASE();
        f[14 + 2] = 0xff, f[14 + 3] = 0xff;
        BAD(DHCP_ERR_TRUNCATED, "IPv4 total length 65535");

        /* magic cookie, hardware address */
        FROM_BASE();
        b[236] = 0x63, b[237] = 0x82, b[238] = 0x53, b[239] = 0x64;
        BAD(DHCP_ERR_BAD_MAGIC, "magic cookie 99.130.83.100");
        FROM_BASE();
        memset(b + 236, 0, 4);
        BAD(DHCP_ERR_BAD_MAGIC, "magic cookie zero (RFC 951 BOOTP vendor area)");
        FROM_BASE();
        b[2] = 16;
        BAD(DHCP_ERR_BAD_HWADDR, "hlen 16");
        FROM_BASE();
        b[2] = 0;
        BAD(DHCP_ERR_BAD_HWADDR, "hlen 0");
        FROM_BASE();
        b[1] = 6;
        BAD(DHCP_ERR_BAD_HWADDR, "htype 6 (IEEE 802)");
        FROM_BASE();
        memset(b + 28, 0, 6);
        BAD(DHCP_ERR_BAD_HWADDR, "zero chaddr");
        FROM_BASE();
        memset(b + 28, 0xff, 6);
        BAD(DHCP_ERR_BAD_HWADDR, "broadcast chaddr");
        FROM_BASE();
        b[28] = 0x01;
        BAD(DHCP_ERR_BAD_HWADDR, "multicast chaddr");

        /* huge option counts (frames stay within 1514 bytes) */
        size_t room = FRAME_MAX - DHCP_FRAMES_OPTIONS_OFF;
        memset(opts, 0, room);
        n = build(f, m, opts, DHCP_OPTIONS_MAX + 1);
        BAD(DHCP_ERR_TOO_MANY, "%d pads (one more than DHCP_OPTIONS_MAX)", DHCP_OPTIONS_MAX + 1);
        n = build(f, m, opts, room);
        BAD(DHCP_ERR_TOO_MANY, "%zu pads, no END", room);
        for (size_t i = 0; i + 1 < room; i += 2)
                opts[i] = 12, opts[i + 1] = 0;
        n = build(f, m, opts, room & ~(size_t) 1);
        BAD(DHCP_ERR_TOO_MANY, "%zu empty options (12, length 0)", room / 2);
        for (size_t i = 0; i + 2 < room; i += 3)
                opts[i] = 53, opts[i + 1] = 1, opts[i + 2] = 1;
        n = build(f, m, opts, room / 3 * 3);
        BAD(DHCP_ERR_TOO_MANY, "%zu repeated option 53 DISCOVER", room / 3);
        for (size_t i = 0; i + 1 < room; i += 2)
                opts[i] = 93, opts[i + 1] = 0;
        n = build(f, m, opts, room & ~(size_t) 1);
        BAD(DHCP_ERR_TOO_MANY, "%zu empty option 93 (too many is found before they are read)", room / 2);
        memset(opts, 0, room);
        opts[0] = 52, opts[1] = 1, opts[2] = 3;
        n = build(f, m, opts, 3 + 100);
        BAD(DHCP_ERR_TOO_MANY, "overload 3 + 100 pads; file and sname all pads: 293 options");

        /* option 52 loops and other option 52 misuse */
        n = build(f, m, OPTS(53, 1, 1, 52, 1, 1, 255));
        memcpy(b + 108, (const uint8_t[]) { 52, 1, 1, 255 }, 4);
        BAD(DHCP_ERR_BAD_OPTION, "option 52 = 1 inside file (file -> file loop)");
        n = build(f, m, OPTS(53, 1, 1, 52, 1, 3, 255));
        memcpy(b + 108, (const uint8_t[]) { 255 }, 1);
        memcpy(b + 44, (const uint8_t[]) { 52, 1, 3, 255 }, 4);
        BAD(DHCP_ERR_BAD_OPTION, "option 52 = 3 inside sname (sname -> file loop)");
        n = build(f, m, OPTS(53, 1, 1, 52, 1, 3, 255));
        memcpy(b + 108, (const uint8_t[]) { 52, 1, 2, 255 }, 4);
        memcpy(b + 44, (const uint8_t[]) { 52, 1, 1, 255 }, 4);
        BAD(DHCP_ERR_BAD_OPTION, "option 52 in file pointing at sname and in sname pointing at file");
        n = build(f, m, OPTS(53, 1, 1, 52, 1, 0, 255));
        BAD(DHCP_ERR_BAD_OPTION, "option 52 = 0");
        n = build(f, m, OPTS(53, 1, 1, 52, 1, 4, 255));
        BAD(DHCP_ERR_BAD_OPTION, "option 52 = 4");
        n = build(f, m, OPTS(53, 1, 1, 52, 2, 1, 2, 255));
        BAD(DHCP_ERR_BAD_OPTION, "option 52 length 2");
        n = build(f, m, OPTS(53, 1, 1, 52, 1, 1, 52, 1, 2, 255));
        BAD(DHCP_ERR_BAD_OPTION, "option 52 twice, 1 then 2");

        /* other options with forbidden lengths */
        n = build(f, m, OPTS(53, 2, 1, 1, VENDOR_BIOS, 255));
        BAD(DHCP_ERR_BAD_OPTION, "option 53 length 2");
        n = build(f, m, OPTS(53, 1, 0, VENDOR_BIOS, 255));
        BAD(DHCP_ERR_BAD_OPTION, "option 53 = 0");
        n = build(f, m, OPTS(53, 1, 1, 53, 1, 3, VENDOR_BIOS, 255));
        BAD(DHCP_ERR_BAD_OPTION, "option 53 twice, DISCOVER then REQUEST");
        n = build(f, m, OPTS(53, 1, 1, 93, 3, 0, 7, 0, VENDOR_BIOS, 255));
        BAD(DHCP_ERR_BAD_OPTION, "option 93 length 3");
        n = build(f, m, OPTS(53, 1, 1, 93, 0, VENDOR_BIOS, 255));
        BAD(DHCP_ERR_BAD_OPTION, "option 93 length 0");
        n = build(f, m, OPTS(53, 1, 1, 94, 2, 1, 2, VENDOR_BIOS, 255));
        BAD(DHCP_ERR_BAD_OPTION, "option 94 length 2");
        n = build(f, m, OPTS(53, 1, 1, 97, 16, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, VENDOR_BIOS, 255));
        BAD(DHCP_ERR_BAD_OPTION, "option 97 length 16");
        n = build(f, m, OPTS(53, 1, 1, 97, 17, 1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, VENDOR_BIOS, 255));
        BAD(DHCP_ERR_BAD_OPTION, "option 97 type 1");

        /* not DHCP to port 67 */
        FROM_BASE();
        f[14 + 6] = 0x20;
        BAD(DHCP_ERR_NOT_DHCP, "IPv4 first fragment (MF)");
        FROM_BASE();
        f[14 + 7] = 0x10;
        BAD(DHCP_ERR_NOT_DHCP, "IPv4 fragment offset 128");
        FROM_BASE();
        f[14 + 20 + 3] = 68;
        BAD(DHCP_ERR_NOT_DHCP, "UDP to port 68");
        FROM_BASE();
        f[14 + 9] = 6;
        BAD(DHCP_ERR_NOT_DHCP, "protocol TCP");
        FROM_BASE();
        f[12] = 0x08, f[13] = 0x06;
        BAD(DHCP_ERR_NOT_DHCP, "ethertype ARP");
        FROM_BASE();
        n = dhcp_frames_add_tag(f, n, sizeof f, 0x8100, 1);
        n = dhcp_frames_add_tag(f, n, sizeof f, 0x8100, 2);
        n = dhcp_frames_add_tag(f, n, sizeof f, 0x88a8, 3);
        BAD(DHCP_ERR_NOT_DHCP, "three VLAN tags");

        /* the iPXE DISCOVER cut at every length */
        for (size_t cut = 1; cut < base_len; cut++) {
                memcpy(f, base, cut);
                n = cut;
                BAD(DHCP_ERR_TRUNCATED, "iPXE DISCOVER cut to %zu of %zu bytes", cut, base_len);
        }
#undef BAD
#undef FROM_BASE
}

static int write_capture(const char *path) {
        Writer w = { .index = 0 };
        w.pcap = pcap_open_dead(DLT_EN10MB, 65535);
        if (!w.pcap) {
                fprintf(stderr, "dhcp-pcap: pcap_open_dead failed\n");
                return 1;
        }
        if (pcap_compile(w.pcap, &w.filter, FILTER, 1, PCAP_NETMASK_UNKNOWN) < 0) {
                fprintf(stderr, "dhcp-pcap: %s\n", pcap_geterr(w.pcap));
                return 1;
        }
        w.dump = pcap_dump_open(w.pcap, path);
        if (!w.dump) {
                fprintf(stderr, "dhcp-pcap: %s: %s\n", path, pcap_geterr(w.pcap));
                return 1;
        }
        printf("# dhcp-pcap expectations for %s: INDEX RESULT MAC PXE TYPE FILTER(%s) DESCRIPTION\n", path,
               FILTER);
        write_valid(&w);
        write_malformed(&w);
        if (pcap_dump_flush(w.dump) < 0) {
                fprintf(stderr, "dhcp-pcap: %s: write failed\n", path);
                return 1;
        }
        pcap_dump_close(w.dump);
        pcap_freecode(&w.filter);
        pcap_close(w.pcap);
        if (fflush(stdout) != 0) {
                perror("dhcp-pcap: stdout");
                return 1;
        }
        return 0;
}

/* Splits line at tabs into at most n fields; returns the count. */
static size_t split(char *line, char **fields, size_t n) {
        size_t k = 0;
        char *save = NULL;
        for (char *t = strtok_r(line, "\t\n", &save); t && k < n; t = strtok_r(NULL, "\t\n", &save))
                fields[k++] = t;
        return k;
}

static int check_capture(const char *path, const char *expect_path) {
        char errbuf[PCAP_ERRBUF_SIZE];
        FILE *ef = fopen(expect_path, "re");
        if (!ef) {
                fprintf(stderr, "dhcp-pcap: %s: %s\n", expect_path, strerror(errno));
                return 1;
        }
        pcap_t *p = pcap_open_offline(path, errbuf);
        if (!p) {
                fprintf(stderr, "dhcp-pcap: %s: %s\n", path, errbuf);
                fclose(ef);
                return 1;
        }
        int linktype = pcap_datalink(p);
        struct bpf_program filter;
        if (pcap_compile(p, &filter, FILTER, 1, PCAP_NETMASK_UNKNOWN) < 0) {
                fprintf(stderr, "dhcp-pcap: %s\n", pcap_geterr(p));
                return 1;
        }
        unsigned frames = 0, bad = 0, counts[_DHCP_ERR_MAX] = { 0 };
        char line[1024];
        struct pcap_pkthdr *h;
        const u_char *data;
        int r;
        while ((r = pcap_next_ex(p, &h, &data)) == 1) {
                frames++;
                char *fl[7];
                do {
                        if (!fgets(line, sizeof line, ef)) {
                                fprintf(stderr, "frame %u: no expectation left\n", frames);
                                bad++;
                                goto next;
                        }
                } while (line[0] == '#');
                if (split(line, fl, 7) != 7 || strtoul(fl[0], NULL, 10) != frames) {
                        fprintf(stderr, "frame %u: malformed expectation line\n", frames);
                        bad++;
                        goto next;
                }
                DhcpPacket pkt;
                DhcpError e = dhcp_parse_frame(linktype, data, h->caplen, &pkt);
                counts[e]++;
                const char *match = pcap_offline_filter(&filter, h, data) ? "yes" : "no";
                if (strcmp(dhcp_error_to_string(e), fl[1]) != 0) {
                        fprintf(stderr, "frame %u (%s): got %s, expected %s\n", frames, fl[6], dhcp_error_to_string(e),
                                fl[1]);
                        bad++;
                } else if (e == DHCP_OK) {
                        char macbuf[MAC_STRING_MAX];
                        const char *type = (unsigned) pkt.type < sizeof type_names / sizeof type_names[0] &&
                                                           type_names[pkt.type]
                                                   ? type_names[pkt.type]
                                                   : "other";
                        if (strcmp(mac_format(pkt.chaddr, macbuf), fl[2]) != 0 ||
                            strcmp(pkt.pxe ? "pxe" : "not_pxe", fl[3]) != 0 || strcmp(type, fl[4]) != 0) {
                                fprintf(stderr, "frame %u (%s): got %s %s %s, expected %s %s %s\n", frames, fl[6], macbuf,
                                        pkt.pxe ? "pxe" : "not_pxe", type, fl[2], fl[3], fl[4]);
                                bad++;
                        }
                }
                if (strcmp(match, fl[5]) != 0) {
                        fprintf(stderr, "frame %u (%s): filter %s, expected %s\n", frames, fl[6], match, fl[5]);
                        bad++;
                }
        next:;
        }
        if (r != PCAP_ERROR_BREAK) {
                fprintf(stderr, "dhcp-pcap: %s: %s\n", path, pcap_geterr(p));
                bad++;
        }
        while (fgets(line, sizeof line, ef))
                if (line[0] != '#') {
                        fprintf(stderr, "expectation without a frame: %s", line);
                        bad++;
                }
        printf("%s: %u frames, linktype %d:", path, frames, linktype);
        for (int e = 0; e < _DHCP_ERR_MAX; e++)
                printf(" %s=%u", dhcp_error_to_string((DhcpError) e), counts[e]);
        printf("; %u mismatches\n", bad);
        pcap_freecode(&filter);
        pcap_close(p);
        fclose(ef);
        return bad == 0 && frames > 0 ? 0 : 1;
}

int main(int argc, char **argv) {
        if (argc == 2 && argv[1][0] != '-')
                return write_capture(argv[1]);
        if (argc == 4 && strcmp(argv[1], "--check") == 0)
                return check_capture(argv[2], argv[3]);
        fprintf(stderr,
                "usage: dhcp-pcap OUT.pcap > EXPECT.tsv\n"
                "       dhcp-pcap --check IN.pcap EXPECT.tsv\n");
        return 2;
}
