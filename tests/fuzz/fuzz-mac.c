/* fuzz-mac.c — mac_parse() on arbitrary bytes: never crashes; whatever it accepts formats to
 * a canonical form that parses back to the same octets. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "mac.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *s = malloc(size + 1);
        if (!s)
                return 0;
        memcpy(s, data, size);
        s[size] = '\0';
        uint8_t m[6], again[6];
        if (mac_parse(s, m) == 0) {
                char buf[MAC_STRING_MAX];
                mac_format(m, buf);
                assert(strlen(buf) == 17);
                assert(mac_parse(buf, again) == 0 && memcmp(m, again, 6) == 0);
        }
        free(s);
        return 0;
}
