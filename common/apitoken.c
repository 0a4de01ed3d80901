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

static void set_error(char **ret_error, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_error(char **ret_error, const char *fmt, ...) {
        va_list ap;
        char *s = NULL;
        va_start(ap, fmt);
        if (vasprintf(&s, fmt, ap) < 0)
                s = NULL;
        va_end(ap);
        if (ret_error)
                *ret_error = s;
        else
                free(s);
}

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
 * token line, 0 for a blank/comment line, -EINVAL (message in *ret_error, naming path:lineno)
 * or -ENOMEM. */
static int parse_line(const char *path, unsigned lineno, char *line, ApiToken *ret, char **ret_error) {
        char *p = line + strspn(line, " \t");
        size_t n = strlen(p);
        while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\r'))
                p[--n] = '\0';
        if (n == 0 || p[0] == '#')
                return 0;

        char *name = p, *sep = p + strcspn(p, " \t");
        if (!*sep) {
                set_error(ret_error, "%s:%u: expected \"NAME blake2b:HEX\"", path, lineno);
                return -EINVAL;
        }
        *sep++ = '\0';
        char *hash = sep + strspn(sep, " \t");
        if (!apitoken_name_is_valid(name)) {
                set_error(ret_error, "%s:%u: bad token name \"%.80s\" (allowed: 1 to %d of A-Z a-z 0-9 . _ -)",
                          path, lineno, name, APITOKEN_NAME_MAX);
                return -EINVAL;
        }
        if (hash[strcspn(hash, " \t")]) {
                set_error(ret_error, "%s:%u: unexpected text after the hash", path, lineno);
                return -EINVAL;
        }
        if (!startswith(hash, HASH_SCHEME)) {
                set_error(ret_error, "%s:%u: unknown hash \"%.20s\" for token \"%s\" (expected blake2b:HEX)", path,
                          lineno, hash, name);
                return -EINVAL;
        }
        const char *hex = hash + strlen(HASH_SCHEME);
        if (strlen(hex) != 2 * APITOKEN_HASH_SIZE) {
                set_error(ret_error, "%s:%u: token \"%s\": the blake2b hash must be %d hex digits, not %zu", path,
                          lineno, name, 2 * APITOKEN_HASH_SIZE, strlen(hex));
                return -EINVAL;
        }
        ApiToken tok = { 0 };
        size_t bin_len = 0;
        const char *end = NULL;
        if (sodium_hex2bin(tok.hash, sizeof tok.hash, hex, strlen(hex), NULL, &bin_len, &end) != 0 ||
            bin_len != APITOKEN_HASH_SIZE || *end != '\0') {
                set_error(ret_error, "%s:%u: token \"%s\": the blake2b hash is not hex", path, lineno, name);
                return -EINVAL;
        }
        tok.name = strdup(name);
        if (!tok.name)
                return -ENOMEM;
        *ret = tok;
        return 1;
}

/* Parses a copy of the file's contents, NUL-terminated and modified in place. */
static int parse_buffer(const char *path, char *data, ApiTokens **ret, char **ret_error) {
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
                int r = parse_line(path, lineno, line, &tok, ret_error);
                if (r < 0)
                        return r;
                if (r == 0)
                        continue;
                for (size_t i = 0; i < tokens->n; i++)
                        if (streq(tokens->entries[i].name, tok.name)) {
                                set_error(ret_error, "%s:%u: duplicate token name \"%s\"", path, lineno, tok.name);
                                free(tok.name);
                                return -EINVAL;
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

int apitokens_parse(const char *text, size_t len, const char *origin, ApiTokens **ret, char **ret_error) {
        if (len > 0 && memchr(text, '\0', len)) {
                set_error(ret_error, "%s: contains a NUL byte; not a tokens file", origin);
                return -EINVAL;
        }
        _cleanup_free_ char *copy = malloc(len + 1);
        if (!copy)
                return -ENOMEM;
        if (len > 0)
                memcpy(copy, text, len);
        copy[len] = '\0';
        return parse_buffer(origin, copy, ret, ret_error);
}

/* Reads all of fd (a regular file, at most APITOKEN_FILE_MAX) into a NUL-terminated buffer. */
static int read_all(int fd, const char *path, char **ret, size_t *ret_len, char **ret_error) {
        size_t cap = 4096, len = 0;
        _cleanup_free_ char *buf = malloc(cap);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                if (len + 1 >= cap) {
                        if (cap >= APITOKEN_FILE_MAX) {
                                set_error(ret_error, "%s: larger than %d bytes; not a tokens file", path,
                                          APITOKEN_FILE_MAX);
                                return -EFBIG;
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
                        set_error(ret_error, "cannot read API tokens file %s: %s", path, strerror(-r));
                        return r;
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

int apitokens_load(const char *path, ApiTokens **ret, char **ret_error) {
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
                set_error(ret_error, "cannot open API tokens file %s: %s", path, strerror(-r));
                return r;
        }
        struct stat st;
        if (fstat(fd, &st) < 0) {
                int r = -errno;
                set_error(ret_error, "cannot stat API tokens file %s: %s", path, strerror(-r));
                return r;
        }
        if (!S_ISREG(st.st_mode)) {
                set_error(ret_error, "API tokens file %s is not a regular file", path);
                return -EINVAL;
        }
        _cleanup_free_ char *data = NULL;
        size_t len;
        int r = read_all(fd, path, &data, &len, ret_error);
        if (r < 0)
                return r;
        return apitokens_parse(data, len, path, ret, ret_error);
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
                       char **ret_error) {
        int r;
        if (!apitoken_name_is_valid(name)) {
                set_error(ret_error, "bad token name \"%.80s\": use 1 to %d of A-Z a-z 0-9 . _ -", name ? name : "",
                          APITOKEN_NAME_MAX);
                return -EINVAL;
        }
        _cleanup_close_ int fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
        if (fd < 0) {
                r = -errno;
                set_error(ret_error, "cannot open API tokens file %s: %s", path, strerror(-r));
                return r;
        }
        if (flock(fd, LOCK_EX) < 0) {
                r = -errno;
                set_error(ret_error, "cannot lock API tokens file %s: %s", path, strerror(-r));
                return r;
        }
        struct stat st;
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                set_error(ret_error, "API tokens file %s is not a regular file", path);
                return -EINVAL;
        }
        _cleanup_free_ char *data = NULL;
        size_t len;
        r = read_all(fd, path, &data, &len, ret_error);
        if (r < 0)
                return r;
        bool needs_newline = len > 0 && data[len - 1] != '\n';
        _cleanup_(apitokens_freep) ApiTokens *existing = NULL;
        _cleanup_free_ char *parse_error = NULL;
        r = apitokens_parse(data, len, path, &existing, &parse_error);
        if (r < 0) {
                if (r == -ENOMEM)
                        return r;
                set_error(ret_error, "%s; not adding to it", parse_error ? parse_error : path);
                return r;
        }
        for (size_t i = 0; i < existing->n; i++)
                if (streq(existing->entries[i].name, name)) {
                        set_error(ret_error, "%s: a token named \"%s\" already exists", path, name);
                        return -EEXIST;
                }

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
                set_error(ret_error, "cannot write API tokens file %s: %s", path, strerror(-r));
                return r;
        }
        memcpy(ret_token, token, APITOKEN_STRING_MAX);
        sodium_memzero(token, sizeof token);
        return 0;
}
