/* fuzz-ipmi-workarounds.c — ipmi_workarounds_parse() on arbitrary bytes (up to the first NUL):
 * never crashes; on success the flags are the OR of what ipmi_workaround_parse_one() gives for
 * each comma-separated name alone (blanks around names dropped; all blank = no flags); on
 * failure *ret is untouched and the message quotes ('...') text that is in the input. */
#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "ipmi.h"

/* The flags of list computed name by name; false if some name alone is refused. */
static bool flags_one_by_one(const char *list, unsigned *ret) {
        unsigned flags = 0;
        if (list[strspn(list, " \t")] == '\0') {
                *ret = 0;
                return true;
        }
        for (const char *p = list;;) {
                size_t n = strcspn(p, ",");
                size_t a = 0, b = n;
                while (a < b && (p[a] == ' ' || p[a] == '\t'))
                        a++;
                while (b > a && (p[b - 1] == ' ' || p[b - 1] == '\t'))
                        b--;
                char *name = strndup(p + a, b - a);
                assert(name);
                char err[256];
                unsigned one = 0;
                int r = b > a ? ipmi_workaround_parse_one(name, &one, err, sizeof err) : -EINVAL;
                free(name);
                if (r < 0)
                        return false;
                flags |= one;
                if (p[n] != ',')
                        break;
                p += n + 1;
        }
        *ret = flags;
        return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *list = malloc(size + 1);
        if (!list)
                return 0;
        memcpy(list, data, size);
        list[size] = '\0';

        char err[512] = "";
        unsigned flags = 0xdeadbeef, expect = 0;
        int r = ipmi_workarounds_parse(list, &flags, err, sizeof err);
        bool ok = flags_one_by_one(list, &expect);
        if (r == 0) {
                assert(ok && flags == expect);
        } else {
                assert(r == -EINVAL && !ok && flags == 0xdeadbeef);
                /* the quoted part, without a "..." that marks a cut, occurs in the input */
                char *open = strchr(err, '\''), *close = strrchr(err, '\'');
                assert(open && close > open);
                size_t qlen = (size_t) (close - open - 1);
                if (qlen >= 3 && memcmp(close - 3, "...", 3) == 0)
                        qlen -= 3;
                char *quoted = strndup(open + 1, qlen);
                assert(quoted && strstr(list, quoted));
                free(quoted);
        }
        free(list);
        return 0;
}
