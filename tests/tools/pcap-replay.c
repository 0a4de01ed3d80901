/* pcap-replay — sends every frame of a capture file, as captured, on a network interface
 * (pcap_open_live + pcap_sendpacket: an AF_PACKET socket, so it needs CAP_NET_RAW).  Used by
 * the discovery test to put dhcp-pcap's malformed frames on a veth inside a network namespace.
 *
 *   pcap-replay [--repeat N] [--delay-us US] INTERFACE FILE.pcap
 *
 * --repeat N     send the whole file N times (default 1)
 * --delay-us US  wait US microseconds after each frame (default 0)
 *
 * The file's link type must be the interface's.  Frames shorter than the link-layer header
 * (14 bytes for Ethernet) are skipped: Linux refuses to send them (EINVAL from the packet
 * socket), so they cannot reach a receiver anyway.  Any other frame the kernel refuses (for
 * example one longer than the MTU) is reported on stderr and counted as failed.
 * Prints "pcap-replay: sent S of N frames on IFACE (K skipped, F failed)" to stdout.  Exit status
 * 0 if every frame not skipped was sent, 3 if some were refused, 1 on any other error, 2 on bad
 * usage.  A receiver that counts the frames needs a receive buffer for the whole burst (or
 * --delay-us): a packet socket with the default 208 KiB buffer was seen to drop more than half
 * of dhcp-pcap's 489 sendable frames; libpcap's default 2 MiB buffer holds them. */
#include <errno.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int usage(void) {
        fprintf(stderr, "usage: pcap-replay [--repeat N] [--delay-us US] INTERFACE FILE.pcap\n");
        return 2;
}

static int parse_uint(const char *s, unsigned long *ret) {
        char *end;
        errno = 0;
        unsigned long v = strtoul(s, &end, 10);
        if (errno != 0 || end == s || *end != '\0' || s[0] == '-')
                return -EINVAL;
        *ret = v;
        return 0;
}

int main(int argc, char **argv) {
        unsigned long repeat = 1, delay_us = 0;
        int i = 1;
        for (; i < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
                if (i + 1 >= argc)
                        return usage();
                if (strcmp(argv[i], "--repeat") == 0) {
                        if (parse_uint(argv[i + 1], &repeat) < 0 || repeat == 0)
                                return usage();
                } else if (strcmp(argv[i], "--delay-us") == 0) {
                        if (parse_uint(argv[i + 1], &delay_us) < 0)
                                return usage();
                } else
                        return usage();
        }
        if (argc - i != 2)
                return usage();
        const char *ifname = argv[i], *path = argv[i + 1];

        char errbuf[PCAP_ERRBUF_SIZE];
        pcap_t *out = pcap_open_live(ifname, 65535, 0, 100, errbuf);
        if (!out) {
                fprintf(stderr, "pcap-replay: %s: %s\n", ifname, errbuf);
                return 1;
        }
        unsigned long sent = 0, failed = 0, skipped = 0, total = 0;
        /* the smallest frame the kernel sends on this link type */
        unsigned min_len = pcap_datalink(out) == DLT_EN10MB ? 14 : 1;
        for (unsigned long round = 0; round < repeat; round++) {
                pcap_t *in = pcap_open_offline(path, errbuf);
                if (!in) {
                        fprintf(stderr, "pcap-replay: %s: %s\n", path, errbuf);
                        pcap_close(out);
                        return 1;
                }
                if (pcap_datalink(in) != pcap_datalink(out)) {
                        fprintf(stderr, "pcap-replay: %s has link type %s, %s has %s\n", path,
                                pcap_datalink_val_to_name(pcap_datalink(in)), ifname,
                                pcap_datalink_val_to_name(pcap_datalink(out)));
                        pcap_close(in);
                        pcap_close(out);
                        return 1;
                }
                struct pcap_pkthdr *h;
                const u_char *data;
                int r;
                unsigned long index = 0;
                while ((r = pcap_next_ex(in, &h, &data)) == 1) {
                        index++;
                        total++;
                        if (h->caplen < min_len) {
                                skipped++;
                                continue;
                        }
                        if (pcap_sendpacket(out, data, (int) h->caplen) < 0) {
                                fprintf(stderr, "pcap-replay: frame %lu (%u bytes): %s\n", index, h->caplen,
                                        pcap_geterr(out));
                                failed++;
                        } else
                                sent++;
                        if (delay_us > 0) {
                                struct timespec ts = { .tv_sec = (time_t) (delay_us / 1000000),
                                                       .tv_nsec = (long) (delay_us % 1000000) * 1000 };
                                nanosleep(&ts, NULL);
                        }
                }
                if (r != PCAP_ERROR_BREAK) {
                        fprintf(stderr, "pcap-replay: %s: %s\n", path, pcap_geterr(in));
                        pcap_close(in);
                        pcap_close(out);
                        return 1;
                }
                pcap_close(in);
        }
        pcap_close(out);
        printf("pcap-replay: sent %lu of %lu frames on %s (%lu skipped, %lu failed)\n", sent, total, ifname, skipped,
               failed);
        return failed == 0 ? 0 : 3;
}
