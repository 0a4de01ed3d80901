/* token-seal.c — see token-seal.h. */
#include "token-seal.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

int token_seal_key_load(const char *path, uint8_t ret_key[static TOKEN_SEAL_KEY_SIZE], char *err, size_t errlen) {
        uint8_t buf[TOKEN_SEAL_KEY_SIZE + 1];
        struct stat st;
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return errbuf_fail(-errno, err, errlen, "cannot open the shared key file %s: %s", path, strerror(errno));
        if (fstat(fd, &st) < 0)
                return errbuf_fail(-errno, err, errlen, "cannot stat the shared key file %s: %s", path, strerror(errno));
        if (!S_ISREG(st.st_mode))
                return errbuf_fail(-EINVAL, err, errlen, "the shared key file %s is not a regular file", path);
        if (st.st_mode & S_IROTH)
                return errbuf_fail(-EPERM, err, errlen,
                                   "the shared key file %s is readable by every user (mode %04o): chmod 0600 it",
                                   path, (unsigned) (st.st_mode & 07777));
        ssize_t n = 0;
        while ((size_t) n < sizeof buf) {
                ssize_t k = read(fd, buf + n, sizeof buf - (size_t) n);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return errbuf_fail(-errno, err, errlen, "cannot read the shared key file %s: %s", path,
                                           strerror(errno));
                if (k == 0)
                        break;
                n += k;
        }
        if (n != TOKEN_SEAL_KEY_SIZE) {
                sodium_memzero(buf, sizeof buf);
                return errbuf_fail(-EINVAL, err, errlen,
                                   "the shared key file %s must hold exactly %d bytes (head -c %d /dev/urandom), not %s%zd",
                                   path, TOKEN_SEAL_KEY_SIZE, TOKEN_SEAL_KEY_SIZE, n > TOKEN_SEAL_KEY_SIZE ? "more than " : "",
                                   n > TOKEN_SEAL_KEY_SIZE ? (ssize_t) TOKEN_SEAL_KEY_SIZE : n);
        }
        memcpy(ret_key, buf, TOKEN_SEAL_KEY_SIZE);
        sodium_memzero(buf, sizeof buf);
        return 0;
}

int token_seal(const uint8_t key[static TOKEN_SEAL_KEY_SIZE], const char *token, uint8_t *box) {
        size_t n = strlen(token);
        if (n > TOKEN_STRING_MAX - 1)
                return -EINVAL;
        randombytes_buf(box, crypto_secretbox_NONCEBYTES);
        crypto_secretbox_easy(box + crypto_secretbox_NONCEBYTES, (const unsigned char *) token, n, box, key);
        return (int) (crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + n);
}

int token_unseal(const uint8_t key[static TOKEN_SEAL_KEY_SIZE], const uint8_t *box, size_t len,
                 char ret_token[static TOKEN_STRING_MAX]) {
        char plain[TOKEN_STRING_MAX];
        if (len < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES || len > TOKEN_SEAL_BOX_MAX)
                return -EBADMSG;
        size_t n = len - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES;
        if (crypto_secretbox_open_easy((unsigned char *) plain, box + crypto_secretbox_NONCEBYTES,
                                       len - crypto_secretbox_NONCEBYTES, box, key) != 0)
                return -EBADMSG;
        plain[n] = '\0';
        memcpy(ret_token, plain, n + 1);
        sodium_memzero(plain, sizeof plain);
        return 0;
}
