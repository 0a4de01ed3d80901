/* fuzz-apitoken.c — apitokens_parse() on arbitrary bytes: never crashes or leaks; a refusal
 * always comes with a message; an accepted set holds one entry per non-comment line, verifies
 * no token it was not given (one derived from the input, an install-form one), and still
 * accepts one more line "fuzz-known blake2b:HASH" after it, whose token then verifies under
 * that name (unless the input already used the name: then a duplicate refusal). */
#include <assert.h>
#include <errno.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "apitoken.h"
#include "util.h"
#include "fuzz.h"

#define KNOWN_NAME "fuzz-known"
#define KNOWN_TOKEN "pvd_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

/* Counts the lines a tokens file must hold a token on: split at '\n'; blanks and tabs in front
 * and blanks, tabs and '\r' behind do not count; empty lines and '#' lines hold none. */
static size_t count_token_lines(const uint8_t *data, size_t size) {
        size_t n = 0, i = 0;
        while (i < size) {
                size_t end = i;
                while (end < size && data[end] != '\n')
                        end++;
                size_t a = i, b = end;
                while (a < b && (data[a] == ' ' || data[a] == '\t'))
                        a++;
                while (b > a && (data[b - 1] == ' ' || data[b - 1] == '\t' || data[b - 1] == '\r'))
                        b--;
                if (a < b && data[a] != '#')
                        n++;
                i = end + 1;
        }
        return n;
}

/* True if some line of the input is a token line named exactly KNOWN_NAME. */
static bool has_name(const uint8_t *data, size_t size, const char *name) {
        size_t nl = strlen(name);
        for (size_t i = 0; i < size;) {
                size_t a = i;
                while (a < size && (data[a] == ' ' || data[a] == '\t'))
                        a++;
                if (a + nl < size && memcmp(data + a, name, nl) == 0 && (data[a + nl] == ' ' || data[a + nl] == '\t'))
                        return true;
                while (i < size && data[i] != '\n')
                        i++;
                i++;
        }
        return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static bool init;
        if (!init) {
                assert(sodium_init() >= 0);
                init = true;
        }

        ApiTokens *t = NULL;
        char err[ERRBUF_MAX] = "";
        int r = apitokens_parse((const char *) data, size, "fuzz", &t, err, sizeof err);
        if (r < 0) {
                assert(r == -EINVAL || r == -ENOMEM);
                assert(!t);
                if (r == -EINVAL)
                        assert(strncmp(err, "fuzz", 4) == 0 && strlen(err) > strlen("fuzz: "));
                return 0;
        }
        assert(r == 0 && t && err[0] == '\0');
        size_t n = apitokens_count(t);
        assert(n == count_token_lines(data, size));

        /* A token nobody hashed into the input: the base64url of the input's hash. */
        uint8_t h[32];
        char tok[APITOKEN_STRING_MAX] = APITOKEN_PREFIX;
        crypto_generichash(h, sizeof h, data, size, NULL, 0);
        sodium_bin2base64(tok + 4, sizeof tok - 4, h, sizeof h, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
        assert(apitoken_is_api_form(tok));
        const char *name = NULL;
        assert(apitokens_verify(t, tok, &name) == -ENOKEY && !name);
        assert(apitokens_verify(t, tok + 4, &name) == -EPERM && !name); /* install-token form */
        assert(apitoken_is_api_form(KNOWN_TOKEN) && apitokens_verify(t, KNOWN_TOKEN, &name) == -ENOKEY);
        assert(apitokens_verify(t, NULL, &name) == -ENOKEY);
        apitokens_free(t);

        /* The input plus one line we know the token of. */
        char hex[65];
        crypto_generichash(h, sizeof h, (const unsigned char *) KNOWN_TOKEN, strlen(KNOWN_TOKEN), NULL, 0);
        sodium_bin2hex(hex, sizeof hex, h, sizeof h);
        static const char pre[] = "\n" KNOWN_NAME " blake2b:";
        size_t len2 = size + strlen(pre) + 64 + 1;
        char *buf = malloc(len2);
        if (!buf)
                return 0;
        memcpy(buf, data, size);
        memcpy(buf + size, pre, strlen(pre));
        memcpy(buf + size + strlen(pre), hex, 64);
        buf[len2 - 1] = '\n';
        t = NULL;
        r = apitokens_parse(buf, len2, "fuzz", &t, err, sizeof err);
        if (has_name(data, size, KNOWN_NAME)) {
                assert(r == -EINVAL && !t && strstr(err, "duplicate"));
        } else {
                assert(r == 0 && err[0] == '\0');
                assert(apitokens_count(t) == n + 1);
                assert(apitokens_verify(t, KNOWN_TOKEN, &name) == 0 && strcmp(name, KNOWN_NAME) == 0);
                apitokens_free(t);
        }
        free(buf);
        return 0;
}
