/* mac.h — parsing and formatting of Ethernet MAC addresses.  Pure: no I/O, no state. */
#pragma once

#include <stdint.h>

/* "aa:bb:cc:dd:ee:ff" plus NUL. */
#define MAC_STRING_MAX 18

/* Parses a MAC address written in any common form:
 *   "AA:BB:CC:DD:EE:FF", "aa-bb-cc-dd-ee-ff" (one separator kind throughout),
 *   "aabb.ccdd.eeff" (Cisco), "aabbccddeeff" (bare).
 * Hex digits may be upper or lower case; surrounding whitespace is not accepted.
 * On success writes the 6 octets to ret (only then) and returns 0.
 * Returns -EINVAL for anything else, including NULL. */
int mac_parse(const char *s, uint8_t ret[6]);

/* Formats 6 octets as the canonical form "aa:bb:cc:dd:ee:ff" (lowercase, colons: what Go's
 * HardwareAddr.String() and so pixiecore send) into buf; returns buf. */
char *mac_format(const uint8_t mac[6], char buf[static MAC_STRING_MAX]);

/* Normalises s to the canonical form into buf.  Returns 0, or -EINVAL like mac_parse(). */
int mac_normalize(const char *s, char buf[static MAC_STRING_MAX]);

/* True for the I/G (group) bit set — multicast/broadcast — or all zeros: never a NIC's
 * own address (IEEE 802-2014 §8.2). */
int mac_is_unusable(const uint8_t mac[6]);
