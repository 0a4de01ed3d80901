/* apitoken.h — API tokens: the bearer secrets admins (and, with read_auth=token, readers)
 * present on the admin routes.  A token is "pvd_" + 43 base64url chars (32 random bytes).
 *
 * The tokens file holds one token per line, only as a hash:
 *
 *     # comment
 *     NAME blake2b:HEX64
 *
 * NAME is [A-Za-z0-9._-]{1,64}, unique in the file; HEX64 is the lowercase or uppercase hex
 * of BLAKE2b-256 (libsodium crypto_generichash, no key) of the whole token text including
 * "pvd_".  Blank lines and lines starting with '#' (after optional blanks) are ignored.
 *
 * libsodium does the randomness (randombytes_buf), the hash and the constant-time compare
 * (sodium_memcmp); call token_init() (token.h) once before any function here.
 *
 * Threads: an ApiTokens set is immutable once loaded (apitokens_load(), apitokens_parse());
 * any number of threads may call apitokens_verify() on it concurrently.  The daemon swaps whole sets on reload.
 * This module does no logging: errors come back as negative errno plus a message. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define APITOKEN_PREFIX "pvd_"
#define APITOKEN_STRING_MAX 48 /* "pvd_" + 43 base64url + NUL */
#define APITOKEN_NAME_MAX 64   /* longest NAME, without the NUL */

typedef struct ApiTokens ApiTokens;

/* Loads the tokens file at path into a new set (*ret, owned by the caller; free with
 * apitokens_free()).  path NULL gives an empty set.
 * Returns 0, or a negative errno with a message naming the file in err (errlen bytes, may be NULL)
 * (and the line for a bad line): -ENOENT / -EACCES / other open/read errors, -EINVAL for a
 * bad line (bad name, duplicate name, unknown hash scheme, bad hash length or digits),
 * -ENOMEM (then err may stay unwritten).  *ret is written only on success. */
int apitokens_load(const char *path, ApiTokens **ret, char *err, size_t errlen);

/* Parses the contents of a tokens file (the format above) from text[0..len) — need not be
 * NUL-terminated; a NUL byte inside is refused — into a new set (*ret, owned by the caller;
 * free with apitokens_free()).  origin (borrowed, e.g. the file's path) starts every message.
 * Returns 0, or -EINVAL for a bad line (bad name, duplicate name, unknown hash scheme, bad
 * hash length or digits; err gets "ORIGIN:LINE: ...", errlen bytes, may be NULL) or a NUL
 * byte, or -ENOMEM (then err may stay unwritten).  *ret is written only on success.
 * apitokens_load() reads the file and calls this. */
int apitokens_parse(const char *text, size_t len, const char *origin, ApiTokens **ret, char *err, size_t errlen);

/* Frees a set; NULL is fine. */
void apitokens_free(ApiTokens *t);

static inline void apitokens_freep(ApiTokens **t) {
        apitokens_free(*t);
}

/* Number of tokens in the set (0 for NULL). */
size_t apitokens_count(const ApiTokens *t);

/* Checks a token's text as presented by a client against the set (t may be NULL: empty).
 * Returns 0 and *ret_name (borrowed, lives as long as t; ret_name may be NULL) if the token is
 * in the set; -ENOKEY if token is NULL, malformed or unknown; -EPERM if it has the form of an
 * install token (43 base64url chars, no prefix) — the caller answers 403.  Every entry is
 * compared in constant time, with no early exit, so timing leaks neither the token nor which
 * entry matched. */
int apitokens_verify(const ApiTokens *t, const char *token, const char **ret_name);

/* True if s has the API-token form: "pvd_" followed by exactly 43 base64url chars. */
bool apitoken_is_api_form(const char *s);

/* True if s is a valid token NAME: [A-Za-z0-9._-]{1,64}. */
bool apitoken_name_is_valid(const char *s);

/* Creates a new token named name and appends "NAME blake2b:HEX" to the tokens file at path
 * (creating it with mode 0600; an existing file keeps its mode and its other lines, and gets
 * a newline first if its last line lacks one).  The file is locked (flock) while it is read
 * and appended to, so concurrent adds do not interleave.  On success writes the token text to
 * ret_token (the only time it ever exists in clear) and returns 0.
 * Errors, each with a message naming the file in err (errlen bytes, may be NULL): -EINVAL for an invalid
 * name or an existing file that does not load, -EEXIST if the name is already in the file,
 * -ENOENT / -EACCES / -EIO ... from open/read/write/fsync, -ENOMEM. */
int apitokens_file_add(const char *path, const char *name, char ret_token[static APITOKEN_STRING_MAX],
                       char *err, size_t errlen);
