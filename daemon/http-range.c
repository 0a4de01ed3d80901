/* http-range.c — see http-range.h. */
#include "http-range.h"

#include <stdbool.h>
#include <stddef.h>
#include <strings.h>

static bool is_ows(char ch) {
        return ch == ' ' || ch == '\t';
}

/* 1*DIGIT at *p into *ret (saturating at UINT64_MAX); advances *p.  False if no digit. */
static bool parse_digits(const char **p, uint64_t *ret) {
        const char *s = *p;
        uint64_t v = 0;
        if (*s < '0' || *s > '9')
                return false;
        for (; *s >= '0' && *s <= '9'; s++) {
                unsigned d = (unsigned) (*s - '0');
                v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d;
        }
        *p = s;
        *ret = v;
        return true;
}

int http_range_parse(const char *header, uint64_t size, uint64_t *ret_first, uint64_t *ret_last) {
        if (!header || size == 0 || strncasecmp(header, "bytes=", 6) != 0)
                return HTTP_RANGE_WHOLE;
        /* range-set = 1#range-spec: a list, whose empty elements recipients accept (RFC 9110
         * §5.6.1.2). */
        const char *p = header + 6;
        size_t n = 0;
        uint64_t first = 0, last = 0;
        bool suffix = false;
        for (;;) {
                while (is_ows(*p) || *p == ',')
                        p++;
                if (*p == '\0')
                        break;
                if (++n > 1)
                        return HTTP_RANGE_WHOLE;
                if (*p == '-') { /* suffix-range = "-" suffix-length */
                        p++;
                        if (!parse_digits(&p, &last))
                                return HTTP_RANGE_WHOLE;
                        suffix = true;
                } else { /* int-range = first-pos "-" [ last-pos ] */
                        if (!parse_digits(&p, &first) || *p++ != '-')
                                return HTTP_RANGE_WHOLE;
                        last = UINT64_MAX;
                        if (*p >= '0' && *p <= '9') {
                                (void) parse_digits(&p, &last);
                                if (last < first)
                                        return HTTP_RANGE_WHOLE;
                        }
                }
                while (is_ows(*p))
                        p++;
                if (*p != ',' && *p != '\0')
                        return HTTP_RANGE_WHOLE;
        }
        if (n == 0)
                return HTTP_RANGE_WHOLE;
        if (suffix) {
                if (last == 0)
                        return HTTP_RANGE_UNSATISFIABLE;
                *ret_first = last >= size ? 0 : size - last;
                *ret_last = size - 1;
                return HTTP_RANGE_PART;
        }
        if (first >= size)
                return HTTP_RANGE_UNSATISFIABLE;
        *ret_first = first;
        *ret_last = last >= size ? size - 1 : last;
        return HTTP_RANGE_PART;
}
