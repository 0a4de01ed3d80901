/* token.c — see token.h. */
#include "token.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>

int token_init(void) {
        return sodium_init() < 0 ? -EIO : 0;
}

void token_new(char ret_token[static TOKEN_STRING_MAX], uint8_t ret_hash[static TOKEN_HASH_SIZE]) {
        uint8_t raw[TOKEN_BYTES];
        randombytes_buf(raw, sizeof raw);
        sodium_bin2base64(ret_token, TOKEN_STRING_MAX, raw, sizeof raw,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING);
        sodium_memzero(raw, sizeof raw);
        crypto_generichash(ret_hash, TOKEN_HASH_SIZE, (const unsigned char *) ret_token,
                           strlen(ret_token), NULL, 0);
}

bool token_is_form(const char *s) {
        if (!s || strlen(s) != TOKEN_STRING_MAX - 1)
                return false;
        for (const char *p = s; *p; p++)
                if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
                      *p == '-' || *p == '_'))
                        return false;
        return true;
}

int token_hash(const char *token, uint8_t ret_hash[static TOKEN_HASH_SIZE]) {
        if (!token_is_form(token))
                return -EINVAL;
        crypto_generichash(ret_hash, TOKEN_HASH_SIZE, (const unsigned char *) token, strlen(token),
                           NULL, 0);
        return 0;
}

bool token_hash_equal(const uint8_t a[static TOKEN_HASH_SIZE], const uint8_t b[static TOKEN_HASH_SIZE]) {
        return sodium_memcmp(a, b, TOKEN_HASH_SIZE) == 0;
}
