/* token.h — install tokens: random secrets handed to the installer on the kernel cmdline,
 * one per install attempt.  Only their hash is ever stored.  libsodium does the randomness
 * (randombytes_buf), the hash (BLAKE2b-256, crypto_generichash) and the constant-time
 * compare (sodium_memcmp).  Thread-safe after token_init(). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#define TOKEN_BYTES 32     /* 256 bits of entropy */
#define TOKEN_STRING_MAX 44 /* base64url without padding: 43 chars + NUL */
#define TOKEN_HASH_SIZE 32

/* Initialises libsodium.  Returns 0 or -EIO. */
int token_init(void);

/* Makes a new token: writes its base64url text to ret_token and its hash to ret_hash. */
void token_new(char ret_token[static TOKEN_STRING_MAX], uint8_t ret_hash[static TOKEN_HASH_SIZE]);

/* True if s has the install-token form: exactly TOKEN_STRING_MAX - 1 (43) base64url
 * characters (A-Z a-z 0-9 - _).  s may be NULL (false). */
bool token_is_form(const char *s);

/* Hashes a token's text as presented by a client.  Returns 0, or -EINVAL if the text is
 * not of the token form (so garbage never reaches the database). */
int token_hash(const char *token, uint8_t ret_hash[static TOKEN_HASH_SIZE]);

/* Constant-time comparison of two hashes. */
bool token_hash_equal(const uint8_t a[static TOKEN_HASH_SIZE], const uint8_t b[static TOKEN_HASH_SIZE]);
