/* text.c — see text.h. */
#include "text.h"

#include <stdbool.h>
#include <stdint.h>

/* Length of the well-formed UTF-8 character at s (RFC 3629 §4, Table 3-7 of the Unicode
 * standard), or 0 if the bytes there are not one. */
static size_t utf8_char_len(const unsigned char *s) {
        unsigned char c = s[0];
        if (c < 0x80)
                return 1;
        size_t n;
        unsigned char lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF)
                n = 2;
        else if (c >= 0xE0 && c <= 0xEF) {
                n = 3;
                if (c == 0xE0)
                        lo = 0xA0; /* no overlong forms */
                else if (c == 0xED)
                        hi = 0x9F; /* no surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
                n = 4;
                if (c == 0xF0)
                        lo = 0x90;
                else if (c == 0xF4)
                        hi = 0x8F; /* nothing above U+10FFFF */
        } else
                return 0;
        if (s[1] < lo || s[1] > hi)
                return 0;
        for (size_t i = 2; i < n; i++)
                if (s[i] < 0x80 || s[i] > 0xBF)
                        return 0;
        return n;
}

char *text_utf8(const char *in, char *buf, size_t size) {
        const unsigned char *s = (const unsigned char *) in;
        size_t o = 0;
        while (*s) {
                size_t n = utf8_char_len(s);
                if (n == 0) {
                        n = 1;
                        if (o + 1 >= size)
                                break;
                        buf[o++] = '?';
                } else if (n == 1) {
                        if (o + 1 >= size)
                                break;
                        buf[o++] = *s < 0x20 || *s == 0x7f ? '?' : (char) *s;
                } else {
                        if (o + n >= size)
                                break;
                        for (size_t i = 0; i < n; i++)
                                buf[o++] = (char) s[i];
                }
                s += n;
        }
        buf[o] = '\0';
        return buf;
}

char *text_ipxe(const char *in, size_t max, char *buf, size_t size) {
        size_t i = 0;
        for (; in[i] && i < max && i + 1 < size; i++) {
                unsigned char ch = (unsigned char) in[i];
                bool ok = (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '.' ||
                          ch == ':' || ch == '-' || ch == '_' || ch == '/' || ch == '=' || ch == '+' || ch == ',';
                buf[i] = ok ? (char) ch : '?';
        }
        buf[i] = '\0';
        return buf;
}
