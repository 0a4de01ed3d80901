/* fuzz-dhcp.c — dhcp_parse_frame() over both link types and dhcp_parse() on arbitrary bytes:
 * never reads outside the input (ASan sees the exact-size buffer), always returns a DhcpError
 * with a name, returns the same with and without an output, and whatever it accepts is sane:
 * NUL-terminated printable strings within their arrays, a usable chaddr, pxe/ipxe consistent
 * with the classes.  Differential checks: an accepted Ethernet frame is accepted the same way
 * as a Linux cooked capture and with one more 802.1Q tag; an accepted bare payload is
 * accepted the same way once wrapped in Ethernet/IPv4/UDP.
 *
 * Input: byte 0 % 3 chooses 0 = DHCP_LINKTYPE_EN10MB frame, 1 = DHCP_LINKTYPE_LINUX_SLL
 * frame, 2 = bare UDP payload (dhcp_parse); the rest is the frame or payload. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "dhcp.h"
#include "fuzz.h"
#include "mac.h"
#include "tests/tools/dhcp-frames.h"

static void check_string(const char *s, size_t cap, size_t wire_len) {
        size_t n = strnlen(s, cap);
        assert(n < cap);
        assert(n <= wire_len);
        for (size_t i = 0; i < n; i++)
                assert(s[i] >= 0x20 && s[i] < 0x7f);
}

static void check_packet(const DhcpPacket *p) {
        assert(!mac_is_unusable(p->chaddr));
        check_string(p->vendor_class, sizeof p->vendor_class, p->vendor_class_len);
        /* the vendor class copy is the wire bytes, truncated: nothing else shortens it */
        size_t vn = strlen(p->vendor_class);
        assert(vn == (p->vendor_class_len < sizeof p->vendor_class ? p->vendor_class_len
                                                                   : sizeof p->vendor_class - 1));
        check_string(p->user_class, sizeof p->user_class, p->user_class_len);
        bool vendor_pxe = strncmp(p->vendor_class, "PXEClient", 9) == 0;
        assert(p->pxe == (vendor_pxe || p->ipxe));
        if (p->ipxe)
                assert(strstr(p->user_class, "iPXE") != NULL);
        (void) dhcp_arch_name(p->arch);
        char uuid[37];
        assert(strlen(dhcp_uuid_format(p->uuid, uuid, sizeof uuid)) == 36);
}

static void same_packet(const DhcpPacket *a, const DhcpPacket *b) {
        assert(a->op == b->op && a->xid == b->xid && a->type == b->type);
        assert(memcmp(a->chaddr, b->chaddr, 6) == 0);
        assert(a->has_arch == b->has_arch && a->arch == b->arch);
        assert(a->has_uuid == b->has_uuid && memcmp(a->uuid, b->uuid, 16) == 0);
        assert(a->vendor_class_len == b->vendor_class_len && strcmp(a->vendor_class, b->vendor_class) == 0);
        assert(a->user_class_len == b->user_class_len && strcmp(a->user_class, b->user_class) == 0);
        assert(a->pxe == b->pxe && a->ipxe == b->ipxe);
}

static DhcpError parse(int mode, const uint8_t *buf, size_t len, DhcpPacket *ret) {
        if (mode == 2)
                return dhcp_parse(buf, len, ret);
        return dhcp_parse_frame(mode == 0 ? DHCP_LINKTYPE_EN10MB : DHCP_LINKTYPE_LINUX_SLL, buf, len, ret);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size < 1)
                return 0;
        int mode = data[0] % 3;
        size_t len = size - 1;
        /* an exact-size copy, so any read past the end is a heap overflow ASan reports */
        uint8_t *buf = malloc(len ? len : 1);
        if (!buf)
                return 0;
        memcpy(buf, data + 1, len);

        DhcpPacket p;
        DhcpError e = parse(mode, buf, len, &p);
        assert((unsigned) e < _DHCP_ERR_MAX);
        assert(dhcp_error_to_string(e) != NULL);
        assert(parse(mode, buf, len, NULL) == e);
        if (e != DHCP_OK) {
                free(buf);
                return 0;
        }
        check_packet(&p);

        size_t cap = len + 64;
        uint8_t *alt = malloc(cap);
        if (!alt) {
                free(buf);
                return 0;
        }
        DhcpPacket q;
        if (mode == 0) {
                size_t n = dhcp_frames_to_sll(buf, len, alt, cap);
                assert(n > 0);
                assert(dhcp_parse_frame(DHCP_LINKTYPE_LINUX_SLL, alt, n, &q) == DHCP_OK);
                same_packet(&p, &q);
                memcpy(alt, buf, len);
                n = dhcp_frames_add_tag(alt, len, cap, 0x8100, 5);
                assert(n > 0);
                DhcpError t = dhcp_parse_frame(DHCP_LINKTYPE_EN10MB, alt, n, &q);
                /* a frame that already had two tags now has three */
                if (t == DHCP_OK)
                        same_packet(&p, &q);
                else
                        assert(t == DHCP_ERR_NOT_DHCP);
        } else if (mode == 2 && len <= 65535 - 28) {
                static const uint8_t src[6] = { 0x52, 0x54, 0x00, 0, 0, 1 };
                uint8_t *f = malloc(len + 42);
                if (f) {
                        size_t n = dhcp_frames_wrap(f, len + 42, src, buf, len);
                        assert(n == len + 42);
                        assert(dhcp_parse_frame(DHCP_LINKTYPE_EN10MB, f, n, &q) == DHCP_OK);
                        same_packet(&p, &q);
                        free(f);
                }
        }
        free(alt);
        free(buf);
        return 0;
}
