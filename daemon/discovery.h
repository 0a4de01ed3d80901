/* discovery.h — discovery of unknown PXE clients: a libpcap capture of the DHCP packets
 * broadcast to port 67 on one interface (`discovery_interface`), decoded by dhcp.c, and the
 * MACs not in the inventory recorded in the store's `discovered` table (daemon.c).
 *
 * Thread: one capture thread per Discovery.  It polls the pcap selectable fd and a stop
 * eventfd; each frame goes through dhcp_parse_frame(); only DHCPDISCOVER and DHCPREQUEST
 * from PXE clients (vendor class "PXEClient..." or user class "iPXE", op BOOTREQUEST) are
 * recorded.  A malformed packet is counted (provd_discovery_packets_total{result=<error>})
 * and dropped, never trusted; a debug line says so, at most once a second.  Recorded packets
 * are merged in an in-memory map (at most `max` MACs, and 16384) that is written to the store at most
 * once a second in one transaction, so a DHCP storm cannot become an fsync storm; the map is
 * also written when the thread stops.  A MAC of the inventory is "known": counted, never
 * recorded.  When `max` MACs are kept, packets from new MACs are counted as dropped_full and
 * that is logged once (again after there was room).
 *
 * Privileges: libpcap opens an AF_PACKET socket, which needs CAP_NET_RAW, and nothing else.
 * No promiscuous mode: PXE clients broadcast their DISCOVERs and REQUESTs.
 *
 * Sources: pcap(3PCAP) (pcap_create, pcap_set_immediate_mode, pcap_get_selectable_fd),
 * pcap-filter(7), the PXE 2.1 specification and RFC 4578 (what PXE clients send). */
#pragma once

#include "daemon.h"

/* The capture's BPF filter (pcap-filter(7)).  The second half matches 802.1Q-tagged frames
 * ("vlan" moves later offsets past the tag); dhcp_parse_frame() decodes up to two tags. */
#define DISCOVERY_FILTER "(udp and dst port 67) or (vlan and udp and dst port 67)"

typedef struct Discovery Discovery;

typedef struct DiscoveryConfig {
        const char *interface; /* the interface to capture on ("any" works: cooked capture) */
        unsigned max;          /* distinct unknown MACs kept (discovery_max), > 0 */
} DiscoveryConfig;

/* Opens the capture on cfg->interface (pcap_create, immediate mode, snaplen 1522: one 1500-byte
 * IP packet plus an Ethernet header and two VLAN tags; filter
 * "udp and dst port 67", untagged or 802.1Q-tagged, non-blocking) and starts the capture thread.  d is borrowed and
 * must outlive the Discovery.  Returns 0 and *ret (caller owns; discovery_stop()), or a
 * negative errno with the interface and libpcap's message logged: -EPERM without
 * CAP_NET_RAW, -ENODEV for no such interface, -EOPNOTSUPP for a link type dhcp.c cannot
 * decode, -EIO for other libpcap failures. */
int discovery_start(Daemon *d, const DiscoveryConfig *cfg, Discovery **ret);

/* Stops the capture thread, writes what it holds to the store, closes the capture and
 * frees.  NULL is fine. */
void discovery_stop(Discovery *disc);
