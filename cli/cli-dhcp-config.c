/* cli-dhcp-config.c — `provd dhcp-config --dnsmasq`: prints the dnsmasq configuration of
 * provd's DHCP front end (ProxyDHCP + TFTP, dnsmasq-config.h) for the provd at --public-url,
 * or at public_url= in [serve] of the config file, read the way `provd serve` reads it
 * (config.c).  Works locally: provd need not run. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "dnsmasq-config.h"
#include "log.h"
#include "util.h"

static void usage(FILE *f) {
        fprintf(f,
                "Usage: provd dhcp-config --dnsmasq --proxy-subnet NETWORK[/LEN] [--public-url URL]\n"
                "                         [--config FILE] [--interface IFACE] [--tftp-root DIR]\n"
                "\n"
                "Prints a dnsmasq configuration that makes dnsmasq the DHCP front end of provd next to\n"
                "the site's own DHCP server: ProxyDHCP (the site's server keeps handing out the\n"
                "addresses; dnsmasq adds only the boot information) plus dnsmasq's TFTP server.\n"
                "BIOS PXE clients get undionly.kpxe and UEFI x64 PXE clients snponly.efi by TFTP,\n"
                "UEFI HTTP Boot clients get URL/v1/ipxe.efi, and iPXE gets URL/v1/ipxe.  Run it as a\n"
                "dnsmasq instance of its own: dnsmasq --conf-file=FILE.  Works locally: provd need not run.\n"
                "\n"
                "  --dnsmasq            the format: a dnsmasq configuration (needs --dhcp-pxe-vendor;\n"
                "                       made and tested for dnsmasq 2.90)\n"
                "  --proxy-subnet NETWORK[/LEN]\n"
                "                       the network to do ProxyDHCP on, e.g. 10.0.0.0/24 or 10.0.0.0\n"
                "                       (without /LEN dnsmasq takes the interface's netmask); required\n"
                "  --public-url URL     provd's base URL as nodes reach it (default: public_url= in\n"
                "                       [serve] of the config file)\n"
                "  --config FILE        INI file to take public_url= from, read as `provd serve` reads\n"
                "                       it (default " CLI_DEFAULT_CONFIG " when it exists)\n"
                "  --interface IFACE    answer on this interface only (default: every interface)\n"
                "  --tftp-root DIR      directory holding undionly.kpxe and snponly.efi (default\n"
                "                       " DNSMASQ_CONFIG_DEFAULT_TFTP_ROOT ", Debian's ipxe package)\n"
                "  -h, --help           show this help\n");
}

/* The public URL of [serve] in the config file (--config FILE, else the default file when it
 * exists), checked as `provd serve` checks it.  Returns 0 with *ret (owned; NULL when the
 * file sets none) or an exit code (message printed). */
static int public_url_from_config(Cli *cli, char **ret) {
        const char *path = cli->opt_config ? cli->opt_config : CLI_DEFAULT_CONFIG;
        _cleanup_(config_done) ServeConfig cfg = { 0 };
        if (config_init(&cfg) < 0)
                return CLI_EXIT_ERROR;
        if (!cli->opt_config && access(path, F_OK) != 0) {
                *ret = NULL;
                return 0;
        }
        if (config_load_file(&cfg, path) < 0)
                return CLI_EXIT_ERROR; /* logged by config.c, naming the file and key */
        *ret = TAKE_PTR(cfg.public_url);
        return 0;
}

int cli_dhcp_config(Cli *cli, int argc, char **argv) {
        enum {
                OPT_DNSMASQ = CLI_OPT_FIRST_COMMAND_OPTION,
                OPT_PUBLIC_URL,
                OPT_PROXY_SUBNET,
                OPT_INTERFACE,
                OPT_TFTP_ROOT,
        };
        static const struct option options[] = {
                { "dnsmasq", no_argument, NULL, OPT_DNSMASQ },
                { "public-url", required_argument, NULL, OPT_PUBLIC_URL },
                { "proxy-subnet", required_argument, NULL, OPT_PROXY_SUBNET },
                { "interface", required_argument, NULL, OPT_INTERFACE },
                { "tftp-root", required_argument, NULL, OPT_TFTP_ROOT },
                CLI_GLOBAL_OPTIONS,
                {},
        };
        const char *public_url = NULL, *subnet = NULL;
        DnsmasqConfig dc = { .tftp_root = DNSMASQ_CONFIG_DEFAULT_TFTP_ROOT };
        bool dnsmasq = false;
        int c;
        while ((c = cli_getopt(cli, argc, argv, options)) != -1) {
                switch (c) {
                case OPT_DNSMASQ:
                        dnsmasq = true;
                        break;
                case OPT_PUBLIC_URL:
                        public_url = optarg;
                        break;
                case OPT_PROXY_SUBNET:
                        subnet = optarg;
                        break;
                case OPT_INTERFACE:
                        dc.interface = optarg;
                        break;
                case OPT_TFTP_ROOT:
                        dc.tftp_root = optarg;
                        break;
                case 'h':
                        usage(stdout);
                        return CLI_EXIT_OK;
                default:
                        return CLI_EXIT_USAGE;
                }
        }
        int r = cli_no_more_arguments(cli, argc, argv);
        if (r != 0)
                return r;
        if (!dnsmasq)
                return cli_usage_error(cli, "say which DHCP server the configuration is for: --dnsmasq (the only one so far)");
        if (!subnet)
                return cli_usage_error(cli, "--proxy-subnet NETWORK[/LEN] is required: the network to do ProxyDHCP on, "
                                            "e.g. 10.0.0.0/24");
        char err[256];
        if (dnsmasq_config_parse_subnet(subnet, &dc.subnet, err, sizeof err) < 0)
                return cli_usage_error(cli, "bad --proxy-subnet: %s", err);

        _cleanup_free_ char *config_url = NULL;
        if (public_url) {
                /* Checked as `provd serve --public-url` checks it. */
                _cleanup_(config_done) ServeConfig check = { 0 };
                if (config_set(&check, "public_url", public_url) < 0)
                        return cli_usage_error(cli, "bad --public-url \"%s\": expected http://HOST[:PORT] or https://..., "
                                                    "without whitespace, '\"', '{', '}' or '$'",
                                               public_url);
                dc.public_url = public_url;
        } else {
                r = public_url_from_config(cli, &config_url);
                if (r != 0)
                        return r;
                if (!config_url)
                        return cli_usage_error(cli, "no public URL: give --public-url URL, or set public_url= in [serve] "
                                                    "of %s (--config FILE)",
                                               cli->opt_config ? cli->opt_config : CLI_DEFAULT_CONFIG);
                dc.public_url = config_url;
        }

        _cleanup_free_ char *text = NULL;
        r = dnsmasq_config_render(&dc, &text, err, sizeof err);
        if (r == -EINVAL) {
                static const struct {
                        const char *field, *flag;
                } flags[] = {
                        { "public_url", "--public-url" },
                        { "interface", "--interface" },
                        { "tftp_root", "--tftp-root" },
                        { "proxy_subnet", "--proxy-subnet" },
                };
                for (size_t i = 0; i < ELEMENTSOF(flags); i++)
                        if (startswith(err, flags[i].field) && err[strlen(flags[i].field)] == ':') {
                                const char *why = err + strlen(flags[i].field) + 2;
                                if (streq(flags[i].field, "public_url") && !public_url)
                                        return cli_usage_error(cli, "public_url= of %s: %s",
                                                               cli->opt_config ? cli->opt_config : CLI_DEFAULT_CONFIG, why);
                                return cli_usage_error(cli, "bad %s: %s", flags[i].flag, why);
                        }
                return cli_usage_error(cli, "%s", err);
        }
        if (r < 0) {
                fprintf(stderr, "provd dhcp-config: %s\n", strerror(-r));
                return CLI_EXIT_ERROR;
        }
        fputs(text, stdout);
        if (fflush(stdout) != 0) {
                fprintf(stderr, "provd dhcp-config: cannot write the configuration: %m\n");
                return CLI_EXIT_ERROR;
        }
        return CLI_EXIT_OK;
}
