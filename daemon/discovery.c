/* discovery.c — see discovery.h. */
#include "discovery.h"

#include <errno.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "dhcp.h"
#include "log.h"
#include "mac.h"
#include "metrics.h"
#include "store.h"
#include "util.h"

/* The contract said 1500, but pcap's snaplen counts the link-layer header too: a full
 * 1500-byte IP packet is a 1514-byte Ethernet frame (1522 with two 802.1Q tags), and with 1500
 * its last bytes were cut and a valid packet read as "truncated". */
#define DISCOVERY_SNAPLEN (1500 + 14 + 2 * 4)
#define DISCOVERY_FLUSH_MS 1000        /* at most one store transaction per second */
#define DISCOVERY_REOPEN_MS 5000       /* retry a capture that failed (interface gone) */
#define DISCOVERY_LOG_INTERVAL_MS 1000 /* at most one "malformed packet" debug line per second */
/* MACs per one-second batch (~11 MiB): a flood of spoofed MACs cannot make the batch grow to
 * a large discovery_max within one second; beyond it new MACs count as dropped_full. */
#define DISCOVERY_BATCH_MAX 16384

struct Discovery {
        Daemon *daemon; /* borrowed */
        char interface[64];
        int64_t max;

        pcap_t *pcap; /* NULL while the capture is closed after an error */
        int linktype; /* DHCP_LINKTYPE_* */
        int pcap_fd;
        int stop_fd; /* eventfd: written by discovery_stop() */
        pthread_t thread;
        bool thread_started;
        int64_t reopen_at_ms; /* monotonic; when pcap is NULL */

        /* The batch not yet written to the store: entries[0..n_entries), keyed by MAC through
         * an open-addressing table of slots (entry index + 1, 0 = empty; a power of two). */
        StoreDiscovered *entries;
        uint8_t (*keys)[6];
        size_t n_entries, cap_entries;
        uint32_t *slots;
        size_t n_slots;
        int64_t last_flush_ms; /* monotonic */

        bool full_logged;      /* "discovery_max reached" logged; reset when there is room */
        bool flush_failed;     /* the last flush failed (logged once until one succeeds) */
        int64_t last_malformed_log_ms;
        uint64_t malformed_suppressed;
};

/* ---- the batch ------------------------------------------------------------------------------ */

static size_t mac_hash(const uint8_t mac[6]) {
        uint64_t h = 1469598103934665603ULL; /* FNV-1a */
        for (size_t i = 0; i < 6; i++) {
                h ^= mac[i];
                h *= 1099511628211ULL;
        }
        return (size_t) h;
}

static void batch_index(Discovery *disc, size_t i) {
        size_t mask = disc->n_slots - 1;
        for (size_t s = mac_hash(disc->keys[i]) & mask;; s = (s + 1) & mask)
                if (disc->slots[s] == 0) {
                        disc->slots[s] = (uint32_t) i + 1;
                        return;
                }
}

/* Makes room for one more entry.  Returns 0 or -ENOMEM (then nothing changed). */
static int batch_grow(Discovery *disc) {
        if (disc->n_entries < disc->cap_entries)
                return 0;
        size_t cap = disc->cap_entries ? disc->cap_entries * 2 : 64;
        /* keep the table at most half full */
        size_t n_slots = 128;
        while (n_slots < 2 * cap)
                n_slots *= 2;
        _cleanup_free_ uint32_t *slots = calloc(n_slots, sizeof *slots);
        if (!slots)
                return -ENOMEM;
        /* A larger array than cap_entries says is harmless if the second realloc fails. */
        StoreDiscovered *e = realloc(disc->entries, cap * sizeof *e);
        if (!e)
                return -ENOMEM;
        disc->entries = e;
        uint8_t(*k)[6] = realloc(disc->keys, cap * sizeof *k);
        if (!k)
                return -ENOMEM;
        disc->keys = k;
        disc->cap_entries = cap;
        free(disc->slots);
        disc->slots = TAKE_PTR(slots);
        disc->n_slots = n_slots;
        for (size_t i = 0; i < disc->n_entries; i++)
                batch_index(disc, i);
        return 0;
}

static StoreDiscovered *batch_find(Discovery *disc, const uint8_t mac[6]) {
        if (disc->n_slots == 0)
                return NULL;
        size_t mask = disc->n_slots - 1;
        for (size_t s = mac_hash(mac) & mask; disc->slots[s]; s = (s + 1) & mask)
                if (memcmp(disc->keys[disc->slots[s] - 1], mac, 6) == 0)
                        return &disc->entries[disc->slots[s] - 1];
        return NULL;
}

static void batch_clear(Discovery *disc) {
        disc->n_entries = 0;
        if (disc->slots)
                memset(disc->slots, 0, disc->n_slots * sizeof *disc->slots);
}

static void log_full_once(Discovery *disc) {
        if (disc->full_logged)
                return;
        disc->full_logged = true;
        log_warning("discovery: %lld unknown MACs are kept (discovery_max): packets from new MACs are dropped "
                    "(forget some with `provd discovered forget MAC`, or raise discovery_max)",
                    (long long) disc->max);
}

/* Adds one recorded packet of canonical MAC `mac` seen at at_ms to the batch. */
static void batch_add(Discovery *disc, const DhcpPacket *p, const char *mac, int64_t at_ms) {
        StoreDiscovered *e = batch_find(disc, p->chaddr);
        if (!e) {
                if ((int64_t) disc->n_entries >= disc->max || disc->n_entries >= DISCOVERY_BATCH_MAX) {
                        metrics_discovery_packets(METRICS_DISCOVERY_DROPPED_FULL, 1);
                        log_full_once(disc);
                        return;
                }
                if (batch_grow(disc) < 0) {
                        metrics_discovery_packets(METRICS_DISCOVERY_DROPPED_FULL, 1);
                        return;
                }
                size_t i = disc->n_entries++;
                e = &disc->entries[i];
                *e = (StoreDiscovered) { .first_seen_ms = at_ms, .arch = -1 };
                snprintf(e->mac, sizeof e->mac, "%s", mac);
                snprintf(e->interface, sizeof e->interface, "%s", disc->interface);
                memcpy(disc->keys[i], p->chaddr, 6);
                batch_index(disc, i);
        }
        if (at_ms < e->first_seen_ms)
                e->first_seen_ms = at_ms;
        if (at_ms > e->last_seen_ms)
                e->last_seen_ms = at_ms;
        e->count++;
        if (p->has_arch)
                e->arch = p->arch;
        if (p->has_uuid)
                dhcp_uuid_format(p->uuid, e->uuid, sizeof e->uuid);
        snprintf(e->vendor_class, sizeof e->vendor_class, "%s", p->vendor_class);
        snprintf(e->user_class, sizeof e->user_class, "%s", p->user_class);
        e->ipxe = e->ipxe || p->ipxe;
}

/* Writes the batch to the store (one transaction) and counts its packets by outcome.  On a
 * store error the batch is kept for the next attempt. */
static void batch_flush(Discovery *disc) {
        disc->last_flush_ms = now_monotonic_ms();
        if (disc->n_entries == 0)
                return;
        _cleanup_free_ DaemonDiscoveredOutcome *out = calloc(disc->n_entries, sizeof *out);
        int r = out ? daemon_discovered_record(disc->daemon, disc->entries, disc->n_entries, disc->max, out)
                    : -ENOMEM;
        if (r < 0) {
                if (!disc->flush_failed)
                        log_warning_errno(r, "discovery: cannot record %zu discovered MAC(s), retrying every second: %m",
                                          disc->n_entries);
                disc->flush_failed = true;
                return;
        }
        if (disc->flush_failed)
                log_info("discovery: recording discovered MACs works again");
        disc->flush_failed = false;

        for (size_t i = 0; i < disc->n_entries; i++) {
                const StoreDiscovered *e = &disc->entries[i];
                switch (out[i]) {
                case DAEMON_DISCOVERED_NEW: {
                        const char *arch_name = e->arch >= 0 ? dhcp_arch_name((uint16_t) e->arch) : NULL;
                        char arch[64] = "none sent";
                        if (e->arch >= 0)
                                snprintf(arch, sizeof arch, "%d%s%s%s", e->arch, arch_name ? " (" : "",
                                         arch_name ? arch_name : "", arch_name ? ")" : "");
                        log_full(LOG_INFO, 0, &(LogFields) { .mac = e->mac },
                                 "discovery: new PXE client %s on %s: arch %s, vendor class \"%s\"%s%s%s", e->mac,
                                 e->interface, arch, e->vendor_class, e->ipxe ? ", iPXE" : "",
                                 e->uuid[0] ? ", UUID " : "", e->uuid);
                        disc->full_logged = false; /* there was room */
                        metrics_discovery_packets(METRICS_DISCOVERY_RECORDED, (uint64_t) e->count);
                        break;
                }
                case DAEMON_DISCOVERED_RECORDED:
                        metrics_discovery_packets(METRICS_DISCOVERY_RECORDED, (uint64_t) e->count);
                        break;
                case DAEMON_DISCOVERED_FULL:
                        metrics_discovery_packets(METRICS_DISCOVERY_DROPPED_FULL, (uint64_t) e->count);
                        log_full_once(disc);
                        break;
                case DAEMON_DISCOVERED_KNOWN:
                        metrics_discovery_packets(METRICS_DISCOVERY_KNOWN, (uint64_t) e->count);
                        break;
                }
        }
        batch_clear(disc);
}

/* ---- packets -------------------------------------------------------------------------------- */

/* The link-layer source address of a frame, for logs only ("?" if there is none). */
static const char *frame_source(const Discovery *disc, const uint8_t *bytes, size_t caplen, char buf[static MAC_STRING_MAX]) {
        /* Ethernet II: destination(6) source(6); Linux cooked (pcap-linktype(7) LINKTYPE_LINUX_SLL):
         * packet type(2) ARPHRD type(2) address length(2) address(8). */
        if (disc->linktype == DHCP_LINKTYPE_EN10MB && caplen >= 12)
                return mac_format(bytes + 6, buf);
        if (disc->linktype == DHCP_LINKTYPE_LINUX_SLL && caplen >= 14 && bytes[4] == 0 && bytes[5] == 6)
                return mac_format(bytes + 6, buf);
        return "?";
}

static void log_malformed(Discovery *disc, const uint8_t *bytes, size_t caplen, size_t len, DhcpError e) {
        int64_t now = now_monotonic_ms();
        if (disc->last_malformed_log_ms && now - disc->last_malformed_log_ms < DISCOVERY_LOG_INTERVAL_MS) {
                disc->malformed_suppressed++;
                return;
        }
        char src[MAC_STRING_MAX], more[64] = "";
        if (disc->malformed_suppressed > 0)
                snprintf(more, sizeof more, " (and %llu more since the last message)",
                         (unsigned long long) disc->malformed_suppressed);
        log_debug("discovery: dropped a malformed packet on %s from %s (%zu of %zu bytes captured): %s%s", disc->interface,
                  frame_source(disc, bytes, caplen, src), caplen, len, dhcp_error_to_string(e), more);
        disc->last_malformed_log_ms = now;
        disc->malformed_suppressed = 0;
}

static void on_frame(u_char *user, const struct pcap_pkthdr *h, const u_char *bytes) {
        Discovery *disc = (Discovery *) user;
        DhcpPacket p;
        char mac[MAC_STRING_MAX];

        DhcpError e = dhcp_parse_frame(disc->linktype, bytes, h->caplen, &p);
        if (e != DHCP_OK) {
                metrics_discovery_malformed((int) e, 1);
                if (e != DHCP_ERR_NOT_DHCP)
                        log_malformed(disc, bytes, h->caplen, h->len, e);
                return;
        }
        if (!p.pxe) {
                metrics_discovery_packets(METRICS_DISCOVERY_NOT_PXE, 1);
                return;
        }
        if (p.op != 1 /* BOOTREQUEST */ || (p.type != DHCP_DISCOVER && p.type != DHCP_REQUEST)) {
                metrics_discovery_packets(METRICS_DISCOVERY_OK, 1);
                return;
        }
        mac_format(p.chaddr, mac);
        if (daemon_mac_known(disc->daemon, mac)) {
                metrics_discovery_packets(METRICS_DISCOVERY_KNOWN, 1);
                return;
        }
        int64_t at = (int64_t) h->ts.tv_sec * 1000 + h->ts.tv_usec / 1000;
        batch_add(disc, &p, mac, at > 0 ? at : now_ms());
}

/* ---- the capture ------------------------------------------------------------------------------ */

/* Opens the capture on disc->interface; failures are logged at `level`.  Returns 0 or a
 * negative errno (see discovery_start()). */
static int capture_open(Discovery *disc, int level) {
        char errbuf[PCAP_ERRBUF_SIZE] = "";
        const char *iface = disc->interface;
        int err = EIO;
        struct bpf_program prog;

        pcap_t *p = pcap_create(iface, errbuf);
        if (!p)
                return log_full(level, EIO, NULL, "discovery: cannot capture on interface %s: %s", iface, errbuf);
        if (pcap_set_snaplen(p, DISCOVERY_SNAPLEN) != 0 || pcap_set_immediate_mode(p, 1) != 0 ||
            pcap_set_promisc(p, 0) != 0) {
                log_full(level, EIO, NULL, "discovery: cannot set up the capture on interface %s: %s", iface, pcap_geterr(p));
                goto fail;
        }
        int rc = pcap_activate(p);
        if (rc < 0) {
                /* pcap_activate(3PCAP): the text is in pcap_geterr() for PCAP_ERROR,
                 * PCAP_ERROR_NO_SUCH_DEVICE and PCAP_ERROR_PERM_DENIED, else pcap_statustostr(). */
                const char *msg = pcap_geterr(p);
                if (!msg || !*msg || (rc != PCAP_ERROR && rc != PCAP_ERROR_NO_SUCH_DEVICE && rc != PCAP_ERROR_PERM_DENIED))
                        msg = pcap_statustostr(rc);
                err = rc == PCAP_ERROR_PERM_DENIED ? EPERM : rc == PCAP_ERROR_NO_SUCH_DEVICE ? ENODEV : EIO;
                log_full(level, err, NULL, "discovery: cannot capture on interface %s: %s%s", iface, msg,
                         err == EPERM ? " (discovery needs the capability CAP_NET_RAW)" : "");
                goto fail;
        }
        if (rc > 0)
                log_warning("discovery: capture on interface %s: %s", iface, pcap_statustostr(rc));

        /* dhcp.c decodes Ethernet and Linux cooked captures; "any" may default to the
         * newer cooked format (LINKTYPE_LINUX_SLL2), so ask for one it knows. */
        int lt = pcap_datalink(p);
        if (lt != DHCP_LINKTYPE_EN10MB && lt != DHCP_LINKTYPE_LINUX_SLL) {
                if (pcap_set_datalink(p, DHCP_LINKTYPE_EN10MB) == 0 || pcap_set_datalink(p, DHCP_LINKTYPE_LINUX_SLL) == 0)
                        lt = pcap_datalink(p);
        }
        if (lt != DHCP_LINKTYPE_EN10MB && lt != DHCP_LINKTYPE_LINUX_SLL) {
                err = EOPNOTSUPP;
                log_full(level, err, NULL,
                         "discovery: interface %s has link type %s; discovery decodes Ethernet and Linux cooked captures only",
                         iface, pcap_datalink_val_to_name(lt) ? pcap_datalink_val_to_name(lt) : "(unknown)");
                goto fail;
        }
        if (pcap_compile(p, &prog, DISCOVERY_FILTER, 1, PCAP_NETMASK_UNKNOWN) != 0) {
                log_full(level, EIO, NULL, "discovery: cannot compile the filter \"%s\" for %s: %s", DISCOVERY_FILTER,
                         iface, pcap_geterr(p));
                goto fail;
        }
        rc = pcap_setfilter(p, &prog);
        pcap_freecode(&prog);
        if (rc != 0) {
                log_full(level, EIO, NULL, "discovery: cannot set the filter on %s: %s", iface, pcap_geterr(p));
                goto fail;
        }
        if (pcap_setnonblock(p, 1, errbuf) != 0) {
                log_full(level, EIO, NULL, "discovery: cannot make the capture on %s non-blocking: %s", iface, errbuf);
                goto fail;
        }
        int fd = pcap_get_selectable_fd(p);
        if (fd < 0) {
                log_full(level, EIO, NULL, "discovery: the capture on %s has no selectable file descriptor", iface);
                goto fail;
        }
        disc->pcap = p;
        disc->linktype = lt;
        disc->pcap_fd = fd;
        return 0;
fail:
        pcap_close(p);
        return -err;
}

static void capture_close(Discovery *disc) {
        if (disc->pcap)
                pcap_close(disc->pcap);
        disc->pcap = NULL;
        disc->pcap_fd = -1;
}

static void *discovery_thread(void *userdata) {
        Discovery *disc = userdata;
        for (;;) {
                int64_t now = now_monotonic_ms();
                int timeout = -1;
                if (disc->n_entries > 0) {
                        int64_t left = disc->last_flush_ms + DISCOVERY_FLUSH_MS - now;
                        timeout = left > 0 ? (int) left : 0;
                }
                if (!disc->pcap) {
                        int64_t left = disc->reopen_at_ms - now;
                        int t = left > 0 ? (int) left : 0;
                        if (timeout < 0 || t < timeout)
                                timeout = t;
                }
                struct pollfd pfd[2] = { { .fd = disc->stop_fd, .events = POLLIN },
                                         { .fd = disc->pcap ? disc->pcap_fd : -1, .events = POLLIN } };
                int n = poll(pfd, 2, timeout);
                if (n < 0 && errno != EINTR) {
                        log_error_errno(errno, "discovery: poll: %m");
                        break;
                }
                if (n > 0 && pfd[0].revents)
                        break;
                if (n > 0 && disc->pcap && (pfd[1].revents & (POLLIN | POLLERR | POLLHUP))) {
                        int r = pcap_dispatch(disc->pcap, -1, on_frame, (u_char *) disc);
                        if (r == PCAP_ERROR) {
                                log_error("discovery: capture on interface %s failed: %s; retrying every %d s",
                                          disc->interface, pcap_geterr(disc->pcap), DISCOVERY_REOPEN_MS / 1000);
                                capture_close(disc);
                                disc->reopen_at_ms = now_monotonic_ms() + DISCOVERY_REOPEN_MS;
                        }
                }
                now = now_monotonic_ms();
                if (!disc->pcap && now >= disc->reopen_at_ms) {
                        if (capture_open(disc, LOG_DEBUG) >= 0)
                                log_info("discovery: capturing on interface %s again", disc->interface);
                        else
                                disc->reopen_at_ms = now + DISCOVERY_REOPEN_MS;
                }
                if (disc->n_entries > 0 && now - disc->last_flush_ms >= DISCOVERY_FLUSH_MS)
                        batch_flush(disc);
        }
        batch_flush(disc);
        return NULL;
}

static void discovery_free(Discovery *disc) {
        if (!disc)
                return;
        capture_close(disc);
        if (disc->stop_fd >= 0)
                close(disc->stop_fd);
        free(disc->entries);
        free(disc->keys);
        free(disc->slots);
        free(disc);
}

int discovery_start(Daemon *d, const DiscoveryConfig *cfg, Discovery **ret) {
        if (!cfg->interface || cfg->max == 0)
                return -EINVAL;
        Discovery *disc = calloc(1, sizeof *disc);
        if (!disc)
                return -ENOMEM;
        disc->daemon = d;
        disc->max = cfg->max;
        disc->pcap_fd = -1;
        snprintf(disc->interface, sizeof disc->interface, "%s", cfg->interface);
        disc->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (disc->stop_fd < 0) {
                int r = log_error_errno(errno, "discovery: eventfd: %m");
                discovery_free(disc);
                return r;
        }
        int r = capture_open(disc, LOG_ERR);
        if (r < 0) {
                discovery_free(disc);
                return r;
        }
        r = -pthread_create(&disc->thread, NULL, discovery_thread, disc);
        if (r < 0) {
                log_error_errno(r, "discovery: cannot start the capture thread: %m");
                discovery_free(disc);
                return r;
        }
        disc->thread_started = true;
        log_info("discovery: capturing DHCP (%s) on interface %s, keeping at most %u unknown MACs", DISCOVERY_FILTER,
                 disc->interface, cfg->max);
        *ret = disc;
        return 0;
}

void discovery_stop(Discovery *disc) {
        if (!disc)
                return;
        if (disc->thread_started) {
                uint64_t one = 1;
                if (write(disc->stop_fd, &one, sizeof one) < 0)
                        log_warning_errno(errno, "discovery: cannot signal the capture thread: %m");
                pthread_join(disc->thread, NULL);
        }
        discovery_free(disc);
}
