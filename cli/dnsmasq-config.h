/* dnsmasq-config.h — the dnsmasq configuration of provd's DHCP front end, as
 * `provd dhcp-config --dnsmasq` prints it: dnsmasq as a ProxyDHCP server next to the site's
 * own DHCP server (which keeps handing out the addresses) plus dnsmasq's TFTP server, so that
 * every kind of network-booting firmware ends up in iPXE and at provd's /v1/ipxe:
 *
 *   BIOS PXE         (option 93 = 0)               TFTP undionly.kpxe  -> iPXE
 *   UEFI x64 PXE     (option 93 = 7, or 9)         TFTP snponly.efi    -> iPXE
 *   UEFI HTTP Boot   (option 93 = 16, "HTTPClient") <public_url>/v1/ipxe.efi -> iPXE
 *   iPXE             (user class "iPXE")           <public_url>/v1/ipxe
 *
 * Pure: no I/O; the CLI (cli-dhcp-config.c) reads the flags and the config file.
 *
 * Sources: dnsmasq(8) 2.90 (dhcp-range "proxy" mode, pxe-service, dhcp-pxe-vendor,
 * dhcp-userclass, dhcp-vendorclass, dhcp-boot, enable-tftp, tftp-root, port, interface) and
 * its src/rfc2131.c (proxy mode answers only when a pxe-service or pxe-prompt is configured;
 * an option 93 >= 6 client gets its pxe-service file on port 4011 when exactly one service
 * matches; the dhcp-boot file otherwise; the answer's option 60 is the dhcp-pxe-vendor string
 * the client matched); RFC 4578 §2.1 (option 93 values) and the IANA "Processor Architecture
 * Types" registry (7 and 9 are both x64 UEFI in practice); RFC 2131 §2 (the 128-octet `file`
 * field dnsmasq puts the boot file name into); UEFI 2.x §24.7 "HTTP Boot" (vendor class
 * "HTTPClient", the boot URI in the file field, a ProxyDHCP offer with an IP-literal URI).
 * What dnsmasq 2.90 did with each line against real firmware (OVMF, iPXE) is in README.md,
 * "DHCP front end (dnsmasq)". */
#pragma once

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

/* Default TFTP root: where Debian's `ipxe` package puts undionly.kpxe and snponly.efi. */
#define DNSMASQ_CONFIG_DEFAULT_TFTP_ROOT "/usr/lib/ipxe"

/* The RFC 2131 `file` field is 128 octets; dnsmasq copies the boot file name into it,
 * truncating silently, and keeps a NUL at the end. */
#define DNSMASQ_CONFIG_FILE_FIELD_MAX 127

typedef struct DnsmasqSubnet {
        struct in_addr network; /* network byte order */
        int prefix;             /* 0..32, or -1: not given (dnsmasq takes the interface's netmask) */
} DnsmasqSubnet;

typedef struct DnsmasqConfig {
        const char *public_url;   /* provd's base URL as nodes reach it; trailing '/' ignored */
        DnsmasqSubnet subnet;     /* the network dnsmasq does ProxyDHCP on */
        const char *interface;    /* NULL: every interface */
        const char *tftp_root;    /* directory holding undionly.kpxe and snponly.efi */
} DnsmasqConfig;

/* Parses the ProxyDHCP network: "10.0.0.0" or "10.0.0.0/24" (dotted quad, prefix 0..32; the
 * host bits must be zero).  Returns 0 and *ret, or -EINVAL with the reason in err (errlen
 * bytes, e.g. "10.0.0.5/24 has host bits set (the network is 10.0.0.0/24)"). */
int dnsmasq_config_parse_subnet(const char *s, DnsmasqSubnet *ret, char *err, size_t errlen);

/* Renders c as a commented dnsmasq configuration file (`dnsmasq -C FILE`).  Checks what
 * dnsmasq's config syntax or DHCP cannot carry: public_url must be http(s):// without
 * whitespace, control characters, '"' or ',' (dnsmasq splits option values at commas), and
 * <public_url>/v1/ipxe.efi must fit the 127 usable octets of the `file` field; interface is
 * 1-15 bytes without '/', ':', ',', whitespace (netdevice(7)); tftp_root is an absolute path
 * without ',', '#', '"', whitespace or control characters.  Returns 0 and *ret (a malloc'd
 * NUL-terminated string; caller frees), -EINVAL with err naming the field ("public_url",
 * "interface", "tftp_root") and the reason, or -ENOMEM. */
int dnsmasq_config_render(const DnsmasqConfig *c, char **ret, char *err, size_t errlen);
