/* mac.c — see mac.h. */
#include "mac.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int hexval(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/* Reads 2*n hex digits from s into out; returns 0 or -EINVAL. */
static int parse_hex_run(const char *s, size_t n, uint8_t *out) {
        for (size_t i = 0; i < n; i++) {
                int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
                if (hi < 0 || lo < 0)
                        return -EINVAL;
                out[i] = (uint8_t) (hi << 4 | lo);
        }
        return 0;
}

int mac_parse(const char *s, uint8_t ret[6]) {
        uint8_t m[6];

        if (!s)
                return -EINVAL;

        size_t len = strlen(s);
        if (len == 17) {
                /* aa:bb:cc:dd:ee:ff or aa-bb-cc-dd-ee-ff; one separator kind throughout. */
                char sep = s[2];
                if (sep != ':' && sep != '-')
                        return -EINVAL;
                for (size_t i = 0; i < 6; i++) {
                        if (i < 5 && s[3 * i + 2] != sep)
                                return -EINVAL;
                        if (parse_hex_run(s + 3 * i, 1, m + i) < 0)
                                return -EINVAL;
                }
        } else if (len == 14) {
                /* aabb.ccdd.eeff */
                if (s[4] != '.' || s[9] != '.')
                        return -EINVAL;
                for (size_t i = 0; i < 3; i++)
                        if (parse_hex_run(s + 5 * i, 2, m + 2 * i) < 0)
                                return -EINVAL;
        } else if (len == 12) {
                if (parse_hex_run(s, 6, m) < 0)
                        return -EINVAL;
        } else
                return -EINVAL;

        memcpy(ret, m, 6);
        return 0;
}

char *mac_format(const uint8_t mac[6], char buf[static MAC_STRING_MAX]) {
        static const char hex[] = "0123456789abcdef";
        for (int i = 0; i < 6; i++) {
                buf[i * 3] = hex[mac[i] >> 4];
                buf[i * 3 + 1] = hex[mac[i] & 0x0f];
                buf[i * 3 + 2] = i < 5 ? ':' : '\0';
        }
        return buf;
}

int mac_normalize(const char *s, char buf[static MAC_STRING_MAX]) {
        uint8_t m[6];
        int r = mac_parse(s, m);
        if (r < 0)
                return r;
        mac_format(m, buf);
        return 0;
}

int mac_is_unusable(const uint8_t mac[6]) {
        static const uint8_t zero[6];
        return (mac[0] & 0x01) || memcmp(mac, zero, 6) == 0;
}
