/* dnsmasq-config.c — see dnsmasq-config.h. */
#include "dnsmasq-config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

int dnsmasq_config_parse_subnet(const char *s, DnsmasqSubnet *ret, char *err, size_t errlen) {
        char addr[INET_ADDRSTRLEN];
        const char *slash = strchr(s, '/');
        size_t n = slash ? (size_t) (slash - s) : strlen(s);
        if (n == 0 || n >= sizeof addr)
                return errbuf_fail(-EINVAL, err, errlen, "\"%s\" is not an IPv4 network (e.g. 10.0.0.0/24)", s);
        memcpy(addr, s, n);
        addr[n] = '\0';

        DnsmasqSubnet sub = { .prefix = -1 };
        /* inet_pton(3): AF_INET takes exactly the dotted quad "ddd.ddd.ddd.ddd". */
        if (inet_pton(AF_INET, addr, &sub.network) != 1)
                return errbuf_fail(-EINVAL, err, errlen, "\"%s\" is not an IPv4 network (e.g. 10.0.0.0/24)", s);
        if (slash) {
                int64_t p;
                if (parse_int64(slash + 1, 0, 32, &p) < 0)
                        return errbuf_fail(-EINVAL, err, errlen, "\"%s\": the prefix length after '/' must be 0 to 32", s);
                sub.prefix = (int) p;
                uint32_t mask = p == 0 ? 0 : UINT32_MAX << (32 - p);
                uint32_t host = ntohl(sub.network.s_addr);
                if (host & ~mask) {
                        char net[INET_ADDRSTRLEN];
                        struct in_addr a = { .s_addr = htonl(host & mask) };
                        inet_ntop(AF_INET, &a, net, sizeof net);
                        return errbuf_fail(-EINVAL, err, errlen, "%s has host bits set (the network is %s/%d)", s,
                                           net, sub.prefix);
                }
        }
        *ret = sub;
        return 0;
}

/* True if s has a byte dnsmasq's config reader or option parser would take apart (option.c
 * read_file(): whitespace separates, '#' after whitespace starts a comment, '"' quotes; the
 * option values split at ','), or a control character. */
static bool has_config_meta(const char *s, const char *also) {
        for (const unsigned char *p = (const unsigned char *) s; *p; p++)
                if (*p <= ' ' || *p == 0x7f || *p == '"' || *p == ',' || strchr(also, *p))
                        return true;
        return false;
}

static int check(const DnsmasqConfig *c, char *err, size_t errlen) {
        const char *u = c->public_url;
        if (!u || (!startswith(u, "http://") && !startswith(u, "https://")))
                return errbuf_fail(-EINVAL, err, errlen, "public_url: \"%s\" is not an http:// or https:// URL",
                                   u ? u : "");
        if (has_config_meta(u, ""))
                return errbuf_fail(-EINVAL, err, errlen,
                                   "public_url: \"%s\" has whitespace, a control character, '\"' or ',' "
                                   "(dnsmasq's config cannot carry them)",
                                   u);
        size_t base = url_base_len(u);
        if (base + strlen("/v1/ipxe.efi") > DNSMASQ_CONFIG_FILE_FIELD_MAX)
                return errbuf_fail(-EINVAL, err, errlen,
                                   "public_url: \"%.*s/v1/ipxe.efi\" is %zu bytes; the DHCP file field holds %d "
                                   "(RFC 2131)",
                                   (int) base, u, base + strlen("/v1/ipxe.efi"), DNSMASQ_CONFIG_FILE_FIELD_MAX);
        if (c->interface) {
                size_t n = strlen(c->interface);
                if (n == 0 || n > 15 || has_config_meta(c->interface, "/:#"))
                        return errbuf_fail(-EINVAL, err, errlen,
                                           "interface: \"%s\" is not an interface name (1 to 15 bytes, no '/', ':', "
                                           "',', whitespace)",
                                           c->interface);
        }
        const char *t = c->tftp_root;
        if (!t || t[0] != '/' || has_config_meta(t, "#"))
                return errbuf_fail(-EINVAL, err, errlen,
                                   "tftp_root: \"%s\" must be an absolute path without ',', '#', '\"' or whitespace",
                                   t ? t : "");
        if (c->subnet.prefix < -1 || c->subnet.prefix > 32)
                return errbuf_fail(-EINVAL, err, errlen, "proxy_subnet: prefix %d is not 0 to 32", c->subnet.prefix);
        return 0;
}

int dnsmasq_config_render(const DnsmasqConfig *c, char **ret, char *err, size_t errlen) {
        int r = check(c, err, errlen);
        if (r < 0)
                return r;

        int base = (int) url_base_len(c->public_url);
        const char *url = c->public_url;
        char net[INET_ADDRSTRLEN], mask[INET_ADDRSTRLEN] = "";
        inet_ntop(AF_INET, &c->subnet.network, net, sizeof net);
        if (c->subnet.prefix >= 0) {
                struct in_addr m = { .s_addr = htonl(c->subnet.prefix == 0 ? 0 : UINT32_MAX << (32 - c->subnet.prefix)) };
                inet_ntop(AF_INET, &m, mask, sizeof mask);
        }

        _cleanup_free_ char *out = NULL;
        size_t len = 0;
        _cleanup_fclose_ FILE *f = open_memstream(&out, &len);
        if (!f)
                return -ENOMEM;

        fprintf(f,
                "# dnsmasq configuration of provd's DHCP front end (`provd dhcp-config --dnsmasq`),\n"
                "# for provd at %.*s.  Run it as a dnsmasq instance of its own: dnsmasq --conf-file=FILE\n"
                "#\n"
                "# ProxyDHCP: the site's DHCP server keeps handing out the addresses; this dnsmasq only\n"
                "# answers network-booting clients with where to boot from, and serves the first-stage\n"
                "# iPXE binaries by TFTP.  Every client ends up in iPXE running provd's boot script:\n"
                "#   BIOS PXE       (DHCP option 93 = 0)       TFTP undionly.kpxe, then iPXE\n"
                "#   UEFI x64 PXE   (option 93 = 7 or 9)       TFTP snponly.efi, then iPXE\n"
                "#   UEFI HTTP Boot (option 93 = 16)           %.*s/v1/ipxe.efi, then iPXE\n"
                "#   iPXE           (user class \"iPXE\")        %.*s/v1/ipxe\n"
                "# Other DHCP clients get no answer from it.  Ports: 67, 4011 and 69/udp.\n"
                "\n"
                "# No DNS server here: DHCP and TFTP only (dnsmasq(8) --port: 0 disables DNS).\n"
                "port=0\n",
                base, url, base, url, base, url);
        if (c->interface)
                fprintf(f,
                        "\n"
                        "# Answer on this interface only.\n"
                        "interface=%s\n",
                        c->interface);
        fprintf(f,
                "\n"
                "# ProxyDHCP on this network (dnsmasq(8) --dhcp-range, mode \"proxy\"): boot information for\n"
                "# PXE clients, no addresses; the network must be one of the interface's.\n"
                "dhcp-range=%s,proxy%s%s\n",
                net, mask[0] ? "," : "", mask);
        fprintf(f,
                "\n"
                "# The TFTP server the PXE firmware fetches iPXE from.\n"
                "enable-tftp\n"
                "tftp-root=%s\n",
                c->tftp_root);
        fprintf(f,
                "\n"
                "# Tags.  iPXE sends user class \"iPXE\" (option 77).\n"
                "dhcp-userclass=set:ipxe,iPXE\n"
                "# UEFI HTTP Boot sends vendor class \"HTTPClient:Arch:00016:...\" (option 60; UEFI 2.x\n"
                "# section 24.7).\n"
                "dhcp-vendorclass=set:httpboot,HTTPClient\n"
                "# Proxy mode answers only clients whose vendor class starts with one of these (default\n"
                "# PXEClient alone), and names the one matched in its answer's option 60: HTTP Boot takes\n"
                "# only an offer saying \"HTTPClient\".\n"
                "dhcp-pxe-vendor=PXEClient,HTTPClient\n");
        fprintf(f,
                "\n"
                "# PXE firmware (not yet iPXE): one boot service per architecture, fetched by TFTP.  In\n"
                "# proxy mode dnsmasq answers PXE clients only when pxe-service lines exist; a UEFI client\n"
                "# gets its file from a second request to port 4011.  Not for iPXE, which would load\n"
                "# itself again.\n"
                "# BIOS (option 93 = 0):\n"
                "pxe-service=tag:!ipxe,x86PC,\"provd: iPXE\",undionly.kpxe\n"
                "# x64 UEFI: dnsmasq's x86-64_EFI is option 93 = 7, BC_EFI is 9 (RFC 4578 calls 7 \"EFI BC\"\n"
                "# and 9 \"EFI x86-64\"; x64 firmware sends either).\n"
                "pxe-service=tag:!ipxe,x86-64_EFI,\"provd: iPXE\",snponly.efi\n"
                "pxe-service=tag:!ipxe,BC_EFI,\"provd: iPXE\",snponly.efi\n");
        fprintf(f,
                "\n"
                "# iPXE: provd's boot script.\n"
                "dhcp-boot=tag:ipxe,%.*s/v1/ipxe\n"
                "# UEFI HTTP Boot: an EFI binary by HTTP (iPXE, served by provd).  The firmware needs an\n"
                "# IP address in this URL unless the site's DHCP server also hands out a DNS server.\n"
                "dhcp-boot=tag:httpboot,%.*s/v1/ipxe.efi\n",
                base, url, base, url);

        if (ferror(f))
                return -ENOMEM;
        if (fclose(TAKE_PTR(f)) != 0)
                return -ENOMEM;
        *ret = TAKE_PTR(out);
        return 0;
}
