/* fuzz-http-range.c — http_range_parse() on arbitrary bytes and sizes: never crashes; a range
 * it returns lies inside the representation (first <= last < size); ret_* are written only for
 * a range.  The first 8 bytes are the size (little-endian, cut to 48 bits), the rest the header. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "http-range.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size < 8)
                return 0;
        uint64_t n = 0;
        for (int i = 5; i >= 0; i--)
                n = n << 8 | data[i];
        char *s = malloc(size - 8 + 1);
        if (!s)
                return 0;
        memcpy(s, data + 8, size - 8);
        s[size - 8] = '\0';
        uint64_t first = 7, last = 7;
        int r = http_range_parse(s, n, &first, &last);
        assert(r == HTTP_RANGE_WHOLE || r == HTTP_RANGE_PART || r == HTTP_RANGE_UNSATISFIABLE);
        if (r == HTTP_RANGE_PART)
                assert(first <= last && last < n);
        else
                assert(first == 7 && last == 7);
        free(s);
        return 0;
}
