/* token-seal.h — install and boot tokens sealed under a key every instance of one database
 * shares, so that any instance can hand out again the token another instance handed out (a
 * node's firmware and pixiecore ask several times per boot, each time possibly of another
 * instance).  The store keeps only the token's hash for checking it and this sealed box for
 * handing it out again; the box is useless without the key, which never enters the database.
 *
 * The box is libsodium's crypto_secretbox_easy() (XSalsa20-Poly1305: secret-key authenticated
 * encryption, https://doc.libsodium.org/secret-key_cryptography/secretbox) of the token text
 * under a fresh random nonce: nonce (24 bytes) || MAC (16) || ciphertext (the token's length).
 * Pure functions, any thread; token_init() (sodium_init()) must have run. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "token.h"

#define TOKEN_SEAL_KEY_SIZE 32
/* The largest box: nonce + MAC + a whole token (without its NUL). */
#define TOKEN_SEAL_BOX_MAX (24 + 16 + TOKEN_STRING_MAX - 1)

/* Reads the shared key: the file must hold exactly TOKEN_SEAL_KEY_SIZE bytes (e.g. made with
 * `head -c 32 /dev/urandom`).  A file others may read is refused (the key opens every stored
 * token).  Returns 0 and the key in ret_key, or a negative errno with err naming the file
 * and what is wrong (-ENOENT, -EACCES, -EPERM readable by others, -EINVAL wrong length). */
int token_seal_key_load(const char *path, uint8_t ret_key[static TOKEN_SEAL_KEY_SIZE], char *err, size_t errlen);

/* Seals token (NUL-terminated, at most TOKEN_STRING_MAX - 1 bytes) into box (at least
 * TOKEN_SEAL_BOX_MAX bytes).  Returns the box's length, or -EINVAL for a token too long. */
int token_seal(const uint8_t key[static TOKEN_SEAL_KEY_SIZE], const char *token, uint8_t *box);

/* Opens box (len bytes) into ret_token (TOKEN_STRING_MAX bytes, NUL-terminated).  Returns 0,
 * or -EBADMSG when the box is malformed or was not sealed under key (ret_token untouched). */
int token_unseal(const uint8_t key[static TOKEN_SEAL_KEY_SIZE], const uint8_t *box, size_t len,
                 char ret_token[static TOKEN_STRING_MAX]);
