/* apitoken.c — see apitoken.h. */
#include "apitoken.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "token.h"
#include "util.h"

#define APITOKEN_HASH_SIZE 32
#define APITOKEN_FILE_MAX (4 * 1024 * 1024)
#define HASH_SCHEME "blake2b:"

typedef struct ApiToken {
        char *name;
        uint8_t hash[APITOKEN_HASH_SIZE];
} ApiToken;

struct ApiTokens {
        ApiToken *entries;
        size_t n;
};

bool apitoken_is_api_form(const char *s) {
        /* the body after the prefix has the install-token form: 43 base64url chars */
        return s && startswith(s, APITOKEN_PREFIX) && token_is_form(s + strlen(APITOKEN_PREFIX));
}

bool apitoken_name_is_valid(const char *s) {
        size_t i;
        if (!s)
                return false;
        for (i = 0; s[i]; i++)
                if (i >= APITOKEN_NAME_MAX ||
                    !((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
                      s[i] == '.' || s[i] == '_' || s[i] == '-'))
                        return false;
        return i > 0;
}

void apitokens_free(ApiTokens *t) {
        if (!t)
                return;
        for (size_t i = 0; i < t->n; i++)
                free(t->entries[i].name);
        free(t->entries);
        free(t);
}

size_t apitokens_count(const ApiTokens *t) {
        return t ? t->n : 0;
}


/* Parses one line (NUL-terminated, no newline) of the file.  Returns 1 and fills *ret for a
 * token line, 0 for a blank/comment line, -EINVAL (message in err, naming path:lineno)
 * or -ENOMEM. */
static int parse_line(const char *path, unsigned lineno, char *line, ApiToken *ret, char *err, size_t errlen) {
        char *p = line + strspn(line, " \t");
        size_t n = strlen(p);
        while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\r'))
                p[--n] = '\0';
        if (n == 0 || p[0] == '#')
                return 0;

        char *name = p, *sep = p + strcspn(p, " \t");
        if (!*sep)
                return errbuf_fail(-EINVAL, err, errlen, "%s:%u: expected \"NAME blake2b:HEX\"", path, lineno);
        *sep++ = '\0';
        char *hash = sep + strspn(sep, " \t");
        if (!apitoken_name_is_valid(name))
                return errbuf_fail(-EINVAL, err, errlen,
                                   "%s:%u: bad token name \"%.80s\" (allowed: 1 to %d of A-Z a-z 0-9 . _ -)", path,
                                   lineno, name, APITOKEN_NAME_MAX);
        if (hash[strcspn(hash, " \t")])
                return errbuf_fail(-EINVAL, err, errlen, "%s:%u: unexpected text after the hash", path, lineno);
        if (!startswith(hash, HASH_SCHEME))
                return errbuf_fail(-EINVAL, err, errlen,
                                   "%s:%u: unknown hash \"%.20s\" for token \"%s\" (expected blake2b:HEX)", path,
                                   lineno, hash, name);
        const char *hex = hash + strlen(HASH_SCHEME);
        if (strlen(hex) != 2 * APITOKEN_HASH_SIZE)
                return errbuf_fail(-EINVAL, err, errlen,
                                   "%s:%u: token \"%s\": the blake2b hash must be %d hex digits, not %zu", path,
                                   lineno, name, 2 * APITOKEN_HASH_SIZE, strlen(hex));
        ApiToken tok = { 0 };
        size_t bin_len = 0;
        const char *end = NULL;
        if (sodium_hex2bin(tok.hash, sizeof tok.hash, hex, strlen(hex), NULL, &bin_len, &end) != 0 ||
            bin_len != APITOKEN_HASH_SIZE || *end != '\0')
                return errbuf_fail(-EINVAL, err, errlen, "%s:%u: token \"%s\": the blake2b hash is not hex", path,
                                   lineno, name);
        tok.name = strdup(name);
        if (!tok.name)
                return -ENOMEM;
        *ret = tok;
        return 1;
}

/* Parses a copy of the file's contents, NUL-terminated and modified in place. */
static int parse_buffer(const char *path, char *data, ApiTokens **ret, char *err, size_t errlen) {
        ApiTokens *t = calloc(1, sizeof *t);
        if (!t)
                return -ENOMEM;
        _cleanup_(apitokens_freep) ApiTokens *tokens = t;
        size_t cap = 0;
        unsigned lineno = 0;
        for (char *line = data, *next; line && *line; line = next) {
                lineno++;
                next = strchr(line, '\n');
                if (next)
                        *next++ = '\0';
                ApiToken tok;
                int r = parse_line(path, lineno, line, &tok, err, errlen);
                if (r < 0)
                        return r;
                if (r == 0)
                        continue;
                for (size_t i = 0; i < tokens->n; i++)
                        if (streq(tokens->entries[i].name, tok.name)) {
                                r = errbuf_fail(-EINVAL, err, errlen, "%s:%u: duplicate token name \"%s\"", path,
                                                lineno, tok.name);
                                free(tok.name);
                                return r;
                        }
                if (tokens->n == cap) {
                        size_t ncap = cap ? cap * 2 : 8;
                        ApiToken *e = reallocarray(tokens->entries, ncap, sizeof *e);
                        if (!e) {
                                free(tok.name);
                                return -ENOMEM;
                        }
                        tokens->entries = e;
                        cap = ncap;
                }
                tokens->entries[tokens->n++] = tok;
        }
        *ret = TAKE_PTR(tokens);
        return 0;
}

int apitokens_parse(const char *text, size_t len, const char *origin, ApiTokens **ret, char *err, size_t errlen) {
        if (len > 0 && memchr(text, '\0', len)) {
                return errbuf_fail(-EINVAL, err, errlen, "%s: contains a NUL byte; not a tokens file", origin);
        }
        _cleanup_free_ char *copy = malloc(len + 1);
        if (!copy)
                return -ENOMEM;
        if (len > 0)
                memcpy(copy, text, len);
        copy[len] = '\0';
        return parse_buffer(origin, copy, ret, err, errlen);
}

/* Reads all of fd (a regular file, at most APITOKEN_FILE_MAX) into a NUL-terminated buffer. */
static int read_all(int fd, const char *path, char **ret, size_t *ret_len, char *err, size_t errlen) {
        size_t cap = 4096, len = 0;
        _cleanup_free_ char *buf = malloc(cap);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                if (len + 1 >= cap) {
                        if (cap >= APITOKEN_FILE_MAX) {
                                return errbuf_fail(-EFBIG, err, errlen, "%s: larger than %d bytes; not a tokens file",
                                                   path, APITOKEN_FILE_MAX);
                        }
                        char *b = realloc(buf, cap * 2);
                        if (!b)
                                return -ENOMEM;
                        buf = b;
                        cap *= 2;
                }
                ssize_t k = read(fd, buf + len, cap - len - 1);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        int r = -errno;
                        return errbuf_fail(r, err, errlen, "cannot read API tokens file %s: %s", path, strerror(-r));
                }
                if (k == 0)
                        break;
                len += (size_t) k;
        }
        buf[len] = '\0';
        *ret = TAKE_PTR(buf);
        *ret_len = len;
        return 0;
}

int apitokens_load(const char *path, ApiTokens **ret, char *err, size_t errlen) {
        if (!path) {
                ApiTokens *t = calloc(1, sizeof *t);
                if (!t)
                        return -ENOMEM;
                *ret = t;
                return 0;
        }
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                int r = -errno;
                return errbuf_fail(r, err, errlen, "cannot open API tokens file %s: %s", path, strerror(-r));
        }
        struct stat st;
        if (fstat(fd, &st) < 0) {
                int r = -errno;
                return errbuf_fail(r, err, errlen, "cannot stat API tokens file %s: %s", path, strerror(-r));
        }
        if (!S_ISREG(st.st_mode))
                return errbuf_fail(-EINVAL, err, errlen, "API tokens file %s is not a regular file", path);
        _cleanup_free_ char *data = NULL;
        size_t len;
        int r = read_all(fd, path, &data, &len, err, errlen);
        if (r < 0)
                return r;
        return apitokens_parse(data, len, path, ret, err, errlen);
}

int apitokens_verify(const ApiTokens *t, const char *token, const char **ret_name) {
        if (!token)
                return -ENOKEY;
        if (!apitoken_is_api_form(token))
                return token_is_form(token) ? -EPERM : -ENOKEY;

        uint8_t hash[APITOKEN_HASH_SIZE];
        crypto_generichash(hash, sizeof hash, (const unsigned char *) token, strlen(token), NULL, 0);

        /* Branch-free select: found stays 0 or becomes all-ones; which = the matching index. */
        size_t found = 0, which = 0;
        for (size_t i = 0; t && i < t->n; i++) {
                size_t eq = (size_t) 0 - (size_t) (sodium_memcmp(hash, t->entries[i].hash, sizeof hash) == 0);
                which |= i & eq & ~found;
                found |= eq;
        }
        sodium_memzero(hash, sizeof hash);
        if (!found)
                return -ENOKEY;
        if (ret_name)
                *ret_name = t->entries[which].name;
        return 0;
}

/* Makes a new token text and its hash. */
static void apitoken_new(char ret_token[static APITOKEN_STRING_MAX], uint8_t ret_hash[static APITOKEN_HASH_SIZE]) {
        uint8_t raw[32];
        size_t plen = strlen(APITOKEN_PREFIX);
        memcpy(ret_token, APITOKEN_PREFIX, plen);
        randombytes_buf(raw, sizeof raw);
        sodium_bin2base64(ret_token + plen, APITOKEN_STRING_MAX - plen, raw, sizeof raw,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING);
        sodium_memzero(raw, sizeof raw);
        crypto_generichash(ret_hash, APITOKEN_HASH_SIZE, (const unsigned char *) ret_token, strlen(ret_token), NULL, 0);
}

static int write_all(int fd, const char *s, size_t n) {
        while (n > 0) {
                ssize_t k = write(fd, s, n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                s += k;
                n -= (size_t) k;
        }
        return 0;
}

int apitokens_file_add(const char *path, const char *name, char ret_token[static APITOKEN_STRING_MAX],
                       char *err, size_t errlen) {
        int r;
        if (!apitoken_name_is_valid(name))
                return errbuf_fail(-EINVAL, err, errlen, "bad token name \"%.80s\": use 1 to %d of A-Z a-z 0-9 . _ -",
                                   name ? name : "", APITOKEN_NAME_MAX);
        _cleanup_close_ int fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
        if (fd < 0) {
                r = -errno;
                return errbuf_fail(r, err, errlen, "cannot open API tokens file %s: %s", path, strerror(-r));
        }
        if (flock(fd, LOCK_EX) < 0) {
                r = -errno;
                return errbuf_fail(r, err, errlen, "cannot lock API tokens file %s: %s", path, strerror(-r));
        }
        struct stat st;
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
                return errbuf_fail(-EINVAL, err, errlen, "API tokens file %s is not a regular file", path);
        _cleanup_free_ char *data = NULL;
        size_t len;
        r = read_all(fd, path, &data, &len, err, errlen);
        if (r < 0)
                return r;
        bool needs_newline = len > 0 && data[len - 1] != '\n';
        _cleanup_(apitokens_freep) ApiTokens *existing = NULL;
        char parse_error[ERRBUF_MAX] = "";
        r = apitokens_parse(data, len, path, &existing, parse_error, sizeof parse_error);
        if (r < 0) {
                if (r == -ENOMEM)
                        return r;
                return errbuf_fail(r, err, errlen, "%s; not adding to it", parse_error[0] ? parse_error : path);
        }
        for (size_t i = 0; i < existing->n; i++)
                if (streq(existing->entries[i].name, name))
                        return errbuf_fail(-EEXIST, err, errlen, "%s: a token named \"%s\" already exists", path,
                                           name);

        char token[APITOKEN_STRING_MAX];
        uint8_t hash[APITOKEN_HASH_SIZE];
        char hex[2 * APITOKEN_HASH_SIZE + 1];
        apitoken_new(token, hash);
        sodium_bin2hex(hex, sizeof hex, hash, sizeof hash);

        _cleanup_free_ char *line = NULL;
        if (asprintf(&line, "%s%s " HASH_SCHEME "%s\n", needs_newline ? "\n" : "", name, hex) < 0) {
                sodium_memzero(token, sizeof token);
                return -ENOMEM;
        }
        r = write_all(fd, line, strlen(line));
        if (r == 0 && fsync(fd) < 0)
                r = -errno;
        if (r < 0) {
                sodium_memzero(token, sizeof token);
                return errbuf_fail(r, err, errlen, "cannot write API tokens file %s: %s", path, strerror(-r));
        }
        memcpy(ret_token, token, APITOKEN_STRING_MAX);
        sodium_memzero(token, sizeof token);
        return 0;
}
