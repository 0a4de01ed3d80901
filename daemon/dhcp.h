/* dhcp.h — decoding the DHCP packets PXE clients broadcast, from a captured link-layer frame
 * down to the options discovery needs.  Pure functions over untrusted bytes: no allocation,
 * no I/O, every length checked before it is read; a malformed packet is reported, never
 * half-trusted.  Fuzzed by tests/fuzz/fuzz-dhcp.c.
 *
 * Sources: RFC 2131 (BOOTP/DHCP message format, §2 and §4.1), RFC 2132 (options: 53 message
 * type, 60 vendor class identifier, 61 client identifier, 52 option overload), RFC 3396
 * (options split across several instances are concatenated), RFC 3004 (77 user class),
 * RFC 4578 (93 client system architecture, 94 client network interface identifier, 97 client
 * machine identifier/UUID), IANA "Processor Architecture Types" registry (option 93 values),
 * RFC 791 (IPv4), RFC 768 (UDP), IEEE 802.1Q (VLAN tag), pcap-linktype(7) (DLT_EN10MB,
 * DLT_LINUX_SLL). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DHCP_SERVER_PORT 67 /* RFC 2131 §4.1 */
#define DHCP_CLIENT_PORT 68

/* DHCP message types, RFC 2132 §9.6 (option 53). */
typedef enum DhcpMessageType {
        DHCP_NONE = 0, /* no option 53: plain BOOTP */
        DHCP_DISCOVER = 1,
        DHCP_OFFER = 2,
        DHCP_REQUEST = 3,
        DHCP_DECLINE = 4,
        DHCP_ACK = 5,
        DHCP_NAK = 6,
        DHCP_RELEASE = 7,
        DHCP_INFORM = 8,
} DhcpMessageType;

/* What was decoded.  Strings are NUL-terminated copies, truncated to fit (a truncation is not
 * an error: *_len keeps the length on the wire); bytes outside printable ASCII are replaced
 * by '?' in the string copies, so they can be logged and put in JSON as they are. */
typedef struct DhcpPacket {
        uint8_t op;                    /* 1 BOOTREQUEST, 2 BOOTREPLY */
        uint32_t xid;
        uint8_t chaddr[6];             /* client MAC (htype 1, hlen 6 only) */
        DhcpMessageType type;
        bool has_arch;
        uint16_t arch;                 /* option 93, first entry (RFC 4578 §2.1) */
        bool has_uuid;
        uint8_t uuid[16];              /* option 97 type 0 (RFC 4578 §2.5), 16 bytes as sent */
        char vendor_class[256];        /* option 60, "" if absent */
        size_t vendor_class_len;
        char user_class[256];          /* option 77; RFC 3004 form: the instances joined with
                                        * ','; the iPXE form (a bare string, no length bytes)
                                        * as it is */
        size_t user_class_len;
        bool pxe;                      /* vendor class starts with "PXEClient" (RFC 4578 §2.3
                                        * / PXE 2.1 spec) or a user class is "iPXE" */
        bool ipxe;                     /* a user class is "iPXE" */
} DhcpPacket;

/* Why a packet was refused.  Names for metrics: dhcp_error_to_string(). */
typedef enum DhcpError {
        DHCP_OK = 0,
        DHCP_ERR_NOT_DHCP,     /* a well-formed frame that is not DHCP to port 67 (not IPv4,
                                * not UDP, other port, IP fragment): ignored, not counted as
                                * malformed */
        DHCP_ERR_TRUNCATED,    /* a header or an option runs past the captured bytes */
        DHCP_ERR_BAD_LENGTH,   /* an IPv4/UDP length field disagrees with the frame */
        DHCP_ERR_BAD_MAGIC,    /* no 99.130.83.99 magic cookie (RFC 2131 §3) */
        DHCP_ERR_BAD_OPTION,   /* an option with a length its definition forbids (53 != 1,
                                * 93 odd or empty, 97 not 17 bytes of type 0, ...) or
                                * repeated type 53 values that disagree */
        DHCP_ERR_BAD_HWADDR,   /* htype != 1 or hlen != 6, or a multicast/zero chaddr */
        DHCP_ERR_TOO_MANY,     /* more than DHCP_OPTIONS_MAX options: refused, not walked */
        _DHCP_ERR_MAX,
} DhcpError;

#define DHCP_OPTIONS_MAX 255 /* options walked per packet before DHCP_ERR_TOO_MANY */

/* "ok", "not_dhcp", "truncated", "bad_length", "bad_magic", "bad_option", "bad_hwaddr",
 * "too_many_options". */
const char *dhcp_error_to_string(DhcpError e);

/* Decodes a BOOTP/DHCP message (the UDP payload: op, htype, ..., magic cookie, options).
 * Honours option 52 overload (options continued in `file`, then `sname`, RFC 2132 §9.3) and
 * concatenates repeated options (RFC 3396).  Returns DHCP_OK and fills *ret (only then), or
 * the error. */
DhcpError dhcp_parse(const uint8_t *buf, size_t len, DhcpPacket *ret);

/* Link types dhcp_parse_frame() accepts (values of pcap's DLT_*). */
#define DHCP_LINKTYPE_EN10MB 1     /* Ethernet II, optionally one or two 802.1Q tags */
#define DHCP_LINKTYPE_LINUX_SLL 113 /* Linux "cooked" capture (interface "any") */

/* Decodes a captured frame of link type `linktype`: Ethernet/SLL -> IPv4 (no fragments,
 * header checksum not checked: captures may be offloaded) -> UDP to port 67 -> dhcp_parse().
 * caplen is the captured length (what buf holds).  Returns as dhcp_parse(), DHCP_ERR_NOT_DHCP
 * for other traffic and for unknown link types. */
DhcpError dhcp_parse_frame(int linktype, const uint8_t *buf, size_t caplen, DhcpPacket *ret);

/* Name of an option 93 architecture (IANA registry): 0 "x86 BIOS", 6 "x86 UEFI", 7 "x64 UEFI",
 * 9 "x64 UEFI", 10 "ARM 32-bit UEFI", 11 "ARM 64-bit UEFI", 16 "x64 UEFI HTTP", 19 "ARM
 * 64-bit UEFI HTTP", ...; NULL for values it does not know. */
const char *dhcp_arch_name(uint16_t arch);

/* Formats a UUID as 8-4-4-4-12 lowercase hex (RFC 4122 §3) into buf (>= 37 bytes), the 16
 * bytes in the order they were sent (no byte swapping).  Returns buf. */
char *dhcp_uuid_format(const uint8_t uuid[16], char *buf, size_t len);
