/* dhcp.c — decoding the DHCP packets PXE clients broadcast (see dhcp.h).  Pure: no allocation,
 * no I/O, no state; safe from any thread.
 *
 * Every read is preceded by a check against the end of what was captured, and every length
 * field is checked against the bytes that hold it before it is used: a frame is refused
 * (DhcpError) at the first thing that does not add up, and nothing is written to the caller's
 * DhcpPacket unless the whole packet decoded.
 *
 * How the errors are chosen (tests/unit/test-dhcp.c holds one case for each):
 *  - the captured bytes end before a header, or before the end of what an IPv4 total length
 *    or an option's length says: DHCP_ERR_TRUNCATED (without the wire length a cut capture
 *    and a length that lies are the same thing);
 *  - an IPv4 IHL below 5, a total length below the IP header plus 8, a UDP length below 8 or
 *    above the IP payload: DHCP_ERR_BAD_LENGTH (a UDP length shorter than the IP payload is
 *    accepted and the rest ignored, as Linux's udp_rcv does);
 *  - another ethertype (after at most two 802.1Q/802.1ad tags), an IP version other than 4,
 *    another protocol, an IP fragment, another port: DHCP_ERR_NOT_DHCP.
 *
 * Options (RFC 2131 §4.1, RFC 2132 §2, §9.3): the options field is walked first; when it holds
 * option 52 (exactly one byte, 1..3; only there — option 52 in `file` or `sname` is refused,
 * so an overload cannot loop), `file` and then `sname` are walked as well.  Each field ends at
 * option 255 or at its last byte.  Every option walked counts toward DHCP_OPTIONS_MAX, pad
 * (0) included: a packet that needs more is refused before its options are looked at, so
 * the work per packet is bounded by the bytes captured and the segment table below.
 * Repeated options are concatenated in the order walked (RFC 3396 §5), read back through
 * OptReader without copying; option 53 and 52 are the exception: each instance must be one
 * byte and all must agree. */
#include "dhcp.h"

#include <stdio.h>
#include <string.h>

#include "mac.h"

/* BOOTP/DHCP fixed header, RFC 2131 §2 figure 1. */
#define BOOTP_OFF_OP 0
#define BOOTP_OFF_HTYPE 1
#define BOOTP_OFF_HLEN 2
#define BOOTP_OFF_XID 4
#define BOOTP_OFF_CHADDR 28
#define BOOTP_OFF_SNAME 44
#define BOOTP_SNAME_LEN 64
#define BOOTP_OFF_FILE 108
#define BOOTP_FILE_LEN 128
#define BOOTP_OFF_COOKIE 236
#define BOOTP_OFF_OPTIONS 240

/* Option codes, RFC 2132 / RFC 3004 / RFC 4578. */
enum {
        OPT_PAD = 0,
        OPT_OVERLOAD = 52,
        OPT_MESSAGE_TYPE = 53,
        OPT_VENDOR_CLASS = 60,
        OPT_USER_CLASS = 77,
        OPT_CLIENT_ARCH = 93,
        OPT_CLIENT_NDI = 94,
        OPT_CLIENT_UUID = 97,
        OPT_END = 255,
};

/* Ethertypes (IEEE 802.1Q, IANA). */
#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_VLAN 0x8100  /* 802.1Q C-tag */
#define ETHERTYPE_QINQ 0x88a8  /* 802.1ad S-tag */
#define ETH_HEADER_LEN 14
#define SLL_HEADER_LEN 16      /* pcap-linktype(7), LINKTYPE_LINUX_SLL */
#define VLAN_TAGS_MAX 2

static const uint8_t dhcp_magic[4] = { 99, 130, 83, 99 }; /* RFC 2131 §3 */

static uint16_t get_be16(const uint8_t *p) {
        return (uint16_t) ((uint16_t) p[0] << 8 | p[1]);
}

static uint32_t get_be32(const uint8_t *p) {
        return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

const char *dhcp_error_to_string(DhcpError e) {
        static const char *const names[_DHCP_ERR_MAX] = {
                [DHCP_OK] = "ok",
                [DHCP_ERR_NOT_DHCP] = "not_dhcp",
                [DHCP_ERR_TRUNCATED] = "truncated",
                [DHCP_ERR_BAD_LENGTH] = "bad_length",
                [DHCP_ERR_BAD_MAGIC] = "bad_magic",
                [DHCP_ERR_BAD_OPTION] = "bad_option",
                [DHCP_ERR_BAD_HWADDR] = "bad_hwaddr",
                [DHCP_ERR_TOO_MANY] = "too_many_options",
        };
        if ((unsigned) e >= _DHCP_ERR_MAX)
                return NULL;
        return names[e];
}

/* One instance of an option we read: where its data is in the packet. */
typedef struct OptSeg {
        uint8_t code;
        uint8_t len;
        size_t off;
} OptSeg;

typedef struct OptTable {
        OptSeg seg[DHCP_OPTIONS_MAX];
        size_t n;     /* segments kept (only the codes opt_wanted() names) */
        size_t count; /* options walked, pad included */
} OptTable;

static bool opt_wanted(uint8_t code) {
        switch (code) {
        case OPT_OVERLOAD:
        case OPT_MESSAGE_TYPE:
        case OPT_VENDOR_CLASS:
        case OPT_USER_CLASS:
        case OPT_CLIENT_ARCH:
        case OPT_CLIENT_NDI:
        case OPT_CLIENT_UUID:
                return true;
        default:
                return false;
        }
}

/* Walks the options in buf[start, end).  Records the wanted ones in t.  in_options: the
 * options field proper (the only place option 52 may be). */
static DhcpError opt_walk(const uint8_t *buf, size_t start, size_t end, bool in_options,
                          OptTable *t) {
        size_t i = start;
        while (i < end) {
                uint8_t code = buf[i];
                if (++t->count > DHCP_OPTIONS_MAX)
                        return DHCP_ERR_TOO_MANY;
                if (code == OPT_PAD) {
                        i++;
                        continue;
                }
                if (code == OPT_END)
                        return DHCP_OK;
                if (end - i < 2)
                        return DHCP_ERR_TRUNCATED;
                uint8_t len = buf[i + 1];
                if (end - i - 2 < len)
                        return DHCP_ERR_TRUNCATED;
                if (code == OPT_OVERLOAD && !in_options)
                        return DHCP_ERR_BAD_OPTION;
                if (opt_wanted(code))
                        /* t->n <= t->count - 1 < DHCP_OPTIONS_MAX: there is room */
                        t->seg[t->n++] = (OptSeg) { .code = code, .len = len, .off = i + 2 };
                i += 2 + (size_t) len;
        }
        return DHCP_OK;
}

/* Sequential reader over the concatenation of every instance of one option (RFC 3396). */
typedef struct OptReader {
        const uint8_t *buf;
        const OptTable *t;
        uint8_t code;
        size_t seg, pos;
} OptReader;

static OptReader opt_reader(const uint8_t *buf, const OptTable *t, uint8_t code) {
        return (OptReader) { .buf = buf, .t = t, .code = code };
}

/* Next byte of the option's data, or -1 at its end. */
static int opt_next(OptReader *r) {
        while (r->seg < r->t->n) {
                const OptSeg *s = &r->t->seg[r->seg];
                if (s->code == r->code && r->pos < s->len)
                        return r->buf[s->off + r->pos++];
                r->seg++;
                r->pos = 0;
        }
        return -1;
}

/* Total data length of an option over all its instances; *ret_present whether it occurs. */
static size_t opt_length(const OptTable *t, uint8_t code, bool *ret_present) {
        size_t total = 0;
        bool present = false;
        for (size_t i = 0; i < t->n; i++)
                if (t->seg[i].code == code) {
                        present = true;
                        total += t->seg[i].len;
                }
        *ret_present = present;
        return total;
}

/* Option 52/53: every instance exactly one byte, all the same value.  *ret is -1 if absent. */
static DhcpError opt_single_byte(const uint8_t *buf, const OptTable *t, uint8_t code, int *ret) {
        int v = -1;
        for (size_t i = 0; i < t->n; i++) {
                const OptSeg *s = &t->seg[i];
                if (s->code != code)
                        continue;
                if (s->len != 1)
                        return DHCP_ERR_BAD_OPTION;
                if (v >= 0 && v != buf[s->off])
                        return DHCP_ERR_BAD_OPTION;
                v = buf[s->off];
        }
        *ret = v;
        return DHCP_OK;
}

static char printable(int c) {
        return c >= 0x20 && c < 0x7f ? (char) c : '?';
}

/* Appends c to the string dst (capacity cap, NUL kept) unless full. */
static void str_append(char *dst, size_t cap, size_t *len, int c) {
        if (*len + 1 < cap) {
                dst[(*len)++] = printable(c);
                dst[*len] = '\0';
        }
}

/* True if the option 77 data is in RFC 3004 §3 form: instances of (length >= 1, data) that
 * exactly fill it.  iPXE sends a bare "iPXE" instead; 'i' (105) as a length runs past the
 * end, so the two cannot be confused for iPXE's string. */
static bool user_class_is_rfc3004(const uint8_t *buf, const OptTable *t, size_t total) {
        if (total == 0)
                return false;
        OptReader r = opt_reader(buf, t, OPT_USER_CLASS);
        size_t left = total;
        while (left > 0) {
                int l = opt_next(&r);
                left--;
                if (l <= 0 || (size_t) l > left)
                        return false;
                for (int k = 0; k < l; k++)
                        (void) opt_next(&r);
                left -= (size_t) l;
        }
        return true;
}

/* Appends the next `len` bytes of r to p->user_class (at *n).  True if they are "iPXE". */
static bool copy_user_class(OptReader *r, size_t len, DhcpPacket *p, size_t *n) {
        static const char ipxe[] = "iPXE";
        bool is_ipxe = len == strlen(ipxe);
        for (size_t k = 0; k < len; k++) {
                int c = opt_next(r);
                if (is_ipxe && c != ipxe[k])
                        is_ipxe = false;
                str_append(p->user_class, sizeof p->user_class, n, c);
        }
        return is_ipxe;
}

static void decode_user_class(const uint8_t *buf, const OptTable *t, size_t total, DhcpPacket *p) {
        size_t n = 0;
        OptReader r = opt_reader(buf, t, OPT_USER_CLASS);

        p->user_class[0] = '\0';
        p->user_class_len = total;
        if (!user_class_is_rfc3004(buf, t, total)) {
                if (copy_user_class(&r, total, p, &n))
                        p->ipxe = true;
                return;
        }
        int l;
        for (bool first = true; (l = opt_next(&r)) > 0; first = false) {
                if (!first)
                        str_append(p->user_class, sizeof p->user_class, &n, ',');
                if (copy_user_class(&r, (size_t) l, p, &n))
                        p->ipxe = true;
        }
}

static DhcpError decode_options(const uint8_t *buf, const OptTable *t, DhcpPacket *p) {
        DhcpError e;
        bool present;
        size_t total;
        int v;

        /* 53: RFC 2132 §9.6, one byte, 1..; unknown later types (RFC 3203, 4388, ...) kept. */
        e = opt_single_byte(buf, t, OPT_MESSAGE_TYPE, &v);
        if (e != DHCP_OK)
                return e;
        if (v == 0)
                return DHCP_ERR_BAD_OPTION;
        p->type = v < 0 ? DHCP_NONE : (DhcpMessageType) v;

        /* 93: RFC 4578 §2.1, a list of 16-bit types; the first is the client's. */
        total = opt_length(t, OPT_CLIENT_ARCH, &present);
        if (present) {
                if (total == 0 || total % 2 != 0)
                        return DHCP_ERR_BAD_OPTION;
                OptReader r = opt_reader(buf, t, OPT_CLIENT_ARCH);
                int hi = opt_next(&r), lo = opt_next(&r);
                p->has_arch = true;
                p->arch = (uint16_t) (hi << 8 | lo);
        }

        /* 94: RFC 4578 §2.2, type 1 + major + minor: exactly 3 bytes. */
        total = opt_length(t, OPT_CLIENT_NDI, &present);
        if (present && total != 3)
                return DHCP_ERR_BAD_OPTION;

        /* 97: RFC 4578 §2.5, type 0 + 16 bytes of UUID. */
        total = opt_length(t, OPT_CLIENT_UUID, &present);
        if (present) {
                OptReader r = opt_reader(buf, t, OPT_CLIENT_UUID);
                if (total != 17 || opt_next(&r) != 0)
                        return DHCP_ERR_BAD_OPTION;
                for (size_t k = 0; k < 16; k++)
                        p->uuid[k] = (uint8_t) opt_next(&r);
                p->has_uuid = true;
        }

        /* 60: RFC 2132 §9.13, opaque; PXE clients send "PXEClient:Arch:xxxxx:UNDI:yyyzzz". */
        total = opt_length(t, OPT_VENDOR_CLASS, &present);
        {
                OptReader r = opt_reader(buf, t, OPT_VENDOR_CLASS);
                size_t n = 0;
                p->vendor_class[0] = '\0';
                p->vendor_class_len = total;
                for (size_t k = 0; k < total; k++)
                        str_append(p->vendor_class, sizeof p->vendor_class, &n, opt_next(&r));
                if (strncmp(p->vendor_class, "PXEClient", strlen("PXEClient")) == 0)
                        p->pxe = true;
        }

        /* 77: RFC 3004 §3, or iPXE's bare string. */
        total = opt_length(t, OPT_USER_CLASS, &present);
        decode_user_class(buf, t, total, p);
        if (p->ipxe)
                p->pxe = true;
        return DHCP_OK;
}

DhcpError dhcp_parse(const uint8_t *buf, size_t len, DhcpPacket *ret) {
        OptTable t = { .n = 0, .count = 0 };
        DhcpPacket p;
        DhcpError e;
        int overload;

        if (!buf || len < BOOTP_OFF_OPTIONS)
                return DHCP_ERR_TRUNCATED;
        if (memcmp(buf + BOOTP_OFF_COOKIE, dhcp_magic, sizeof dhcp_magic) != 0)
                return DHCP_ERR_BAD_MAGIC;
        /* htype 1 = Ethernet (IANA ARP hardware types), hlen 6. */
        if (buf[BOOTP_OFF_HTYPE] != 1 || buf[BOOTP_OFF_HLEN] != 6 ||
            mac_is_unusable(buf + BOOTP_OFF_CHADDR))
                return DHCP_ERR_BAD_HWADDR;

        e = opt_walk(buf, BOOTP_OFF_OPTIONS, len, true, &t);
        if (e != DHCP_OK)
                return e;
        e = opt_single_byte(buf, &t, OPT_OVERLOAD, &overload);
        if (e != DHCP_OK)
                return e;
        if (overload == 0 || overload > 3)
                return DHCP_ERR_BAD_OPTION;
        /* RFC 2132 §9.3: 1 = file holds options, 2 = sname, 3 = both; file is read first
         * (RFC 3396 §5). */
        if (overload > 0 && (overload & 1)) {
                e = opt_walk(buf, BOOTP_OFF_FILE, BOOTP_OFF_FILE + BOOTP_FILE_LEN, false, &t);
                if (e != DHCP_OK)
                        return e;
        }
        if (overload > 0 && (overload & 2)) {
                e = opt_walk(buf, BOOTP_OFF_SNAME, BOOTP_OFF_SNAME + BOOTP_SNAME_LEN, false, &t);
                if (e != DHCP_OK)
                        return e;
        }

        memset(&p, 0, sizeof p);
        p.op = buf[BOOTP_OFF_OP];
        p.xid = get_be32(buf + BOOTP_OFF_XID);
        memcpy(p.chaddr, buf + BOOTP_OFF_CHADDR, sizeof p.chaddr);
        e = decode_options(buf, &t, &p);
        if (e != DHCP_OK)
                return e;
        if (ret)
                *ret = p;
        return DHCP_OK;
}

/* IPv4 (RFC 791 §3.1) carrying UDP (RFC 768) to port 67, starting at buf[0]. */
static DhcpError parse_ipv4(const uint8_t *buf, size_t caplen, DhcpPacket *ret) {
        if (caplen < 20)
                return DHCP_ERR_TRUNCATED;
        if (buf[0] >> 4 != 4)
                return DHCP_ERR_NOT_DHCP;
        size_t ihl = (size_t) (buf[0] & 0x0f) * 4;
        if (ihl < 20)
                return DHCP_ERR_BAD_LENGTH;
        if (caplen < ihl)
                return DHCP_ERR_TRUNCATED;
        if (buf[9] != 17) /* protocol: UDP */
                return DHCP_ERR_NOT_DHCP;
        /* flags+fragment offset: MF set or a non-zero offset is a fragment. */
        if ((get_be16(buf + 6) & 0x3fff) != 0)
                return DHCP_ERR_NOT_DHCP;
        size_t total = get_be16(buf + 2);
        if (total < ihl + 8)
                return DHCP_ERR_BAD_LENGTH;
        if (caplen < total)
                return DHCP_ERR_TRUNCATED;

        const uint8_t *udp = buf + ihl;
        size_t udp_avail = total - ihl;
        if (get_be16(udp + 2) != DHCP_SERVER_PORT)
                return DHCP_ERR_NOT_DHCP;
        size_t ulen = get_be16(udp + 4);
        if (ulen < 8 || ulen > udp_avail)
                return DHCP_ERR_BAD_LENGTH;
        return dhcp_parse(udp + 8, ulen - 8, ret);
}

DhcpError dhcp_parse_frame(int linktype, const uint8_t *buf, size_t caplen, DhcpPacket *ret) {
        size_t off;
        uint16_t ethertype;

        if (!buf)
                return DHCP_ERR_TRUNCATED;
        switch (linktype) {
        case DHCP_LINKTYPE_EN10MB:
                if (caplen < ETH_HEADER_LEN)
                        return DHCP_ERR_TRUNCATED;
                ethertype = get_be16(buf + 12);
                off = ETH_HEADER_LEN;
                break;
        case DHCP_LINKTYPE_LINUX_SLL:
                /* packet type, ARPHRD type, address length, 8 address bytes, protocol */
                if (caplen < SLL_HEADER_LEN)
                        return DHCP_ERR_TRUNCATED;
                ethertype = get_be16(buf + 14);
                off = SLL_HEADER_LEN;
                break;
        default:
                return DHCP_ERR_NOT_DHCP;
        }
        /* 802.1Q tag: TCI (2 bytes), then the encapsulated ethertype. */
        for (int tags = 0; ethertype == ETHERTYPE_VLAN || ethertype == ETHERTYPE_QINQ; tags++) {
                if (tags == VLAN_TAGS_MAX)
                        return DHCP_ERR_NOT_DHCP;
                if (caplen - off < 4)
                        return DHCP_ERR_TRUNCATED;
                ethertype = get_be16(buf + off + 2);
                off += 4;
        }
        if (ethertype != ETHERTYPE_IPV4)
                return DHCP_ERR_NOT_DHCP;
        return parse_ipv4(buf + off, caplen - off, ret);
}

const char *dhcp_arch_name(uint16_t arch) {
        /* IANA "Processor Architecture Types" (DHCPv6 parameters registry, shared with DHCPv4
         * option 93).  7 and 9: RFC 4578 errata 4010 — firmware sends 7 for x64 UEFI, the
         * registry's "EFI x86-64" is 9; both are x64 UEFI in practice. */
        static const char *const names[] = {
                [0] = "x86 BIOS",
                [1] = "NEC/PC98",
                [2] = "Itanium",
                [3] = "DEC Alpha",
                [4] = "Arc x86",
                [5] = "Intel Lean Client",
                [6] = "x86 UEFI",
                [7] = "x64 UEFI",
                [8] = "EFI Xscale",
                [9] = "x64 UEFI",
                [10] = "ARM 32-bit UEFI",
                [11] = "ARM 64-bit UEFI",
                [12] = "PowerPC Open Firmware",
                [13] = "PowerPC ePAPR",
                [14] = "POWER OPAL v3",
                [15] = "x86 UEFI HTTP",
                [16] = "x64 UEFI HTTP",
                [17] = "EBC UEFI HTTP",
                [18] = "ARM 32-bit UEFI HTTP",
                [19] = "ARM 64-bit UEFI HTTP",
                [20] = "x86 BIOS HTTP",
                [21] = "ARM 32-bit U-Boot",
                [22] = "ARM 64-bit U-Boot",
                [23] = "ARM 32-bit U-Boot HTTP",
                [24] = "ARM 64-bit U-Boot HTTP",
                [25] = "RISC-V 32-bit UEFI",
                [26] = "RISC-V 32-bit UEFI HTTP",
                [27] = "RISC-V 64-bit UEFI",
                [28] = "RISC-V 64-bit UEFI HTTP",
                [29] = "RISC-V 128-bit UEFI",
                [30] = "RISC-V 128-bit UEFI HTTP",
                [31] = "s390 Basic",
                [32] = "s390 Extended",
                [33] = "MIPS 32-bit UEFI",
                [34] = "MIPS 64-bit UEFI",
                [35] = "Sunway 32-bit UEFI",
                [36] = "Sunway 64-bit UEFI",
                [37] = "LoongArch 32-bit UEFI",
                [38] = "LoongArch 32-bit UEFI HTTP",
                [39] = "LoongArch 64-bit UEFI",
                [40] = "LoongArch 64-bit UEFI HTTP",
                [41] = "ARM rpiboot",
        };
        if (arch >= sizeof names / sizeof names[0])
                return NULL;
        return names[arch];
}

char *dhcp_uuid_format(const uint8_t uuid[16], char *buf, size_t len) {
        if (!buf || len == 0)
                return buf;
        snprintf(buf, len,
                 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                 uuid[0], uuid[1], uuid[2], uuid[3], uuid[4], uuid[5], uuid[6], uuid[7], uuid[8],
                 uuid[9], uuid[10], uuid[11], uuid[12], uuid[13], uuid[14], uuid[15]);
        return buf;
}
