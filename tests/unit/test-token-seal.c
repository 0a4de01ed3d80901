/* test-token-seal.c — unit tests for token-seal.c: tokens sealed under the shared key open
 * again only under that key, unaltered; the key file is checked. */
#include "check-main.h"
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "token-seal.h"

static const uint8_t key_a[TOKEN_SEAL_KEY_SIZE] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                                    17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32 };
static const uint8_t key_b[TOKEN_SEAL_KEY_SIZE] = { 32, 31, 30, 29 };

START_TEST(test_seal_round_trip) {
        ck_assert_int_eq(token_init(), 0);
        char token[TOKEN_STRING_MAX], back[TOKEN_STRING_MAX] = "";
        uint8_t hash[TOKEN_HASH_SIZE], box[TOKEN_SEAL_BOX_MAX], box2[TOKEN_SEAL_BOX_MAX];
        token_new(token, hash);
        int n = token_seal(key_a, token, box);
        ck_assert_int_eq(n, TOKEN_SEAL_BOX_MAX);
        ck_assert_int_eq(token_unseal(key_a, box, (size_t) n, back), 0);
        ck_assert_str_eq(back, token);
        /* a fresh nonce each time: two boxes of one token differ */
        ck_assert_int_eq(token_seal(key_a, token, box2), n);
        ck_assert(memcmp(box, box2, (size_t) n) != 0);
}
END_TEST

START_TEST(test_seal_refuses) {
        ck_assert_int_eq(token_init(), 0);
        char token[TOKEN_STRING_MAX], back[TOKEN_STRING_MAX] = "untouched";
        uint8_t hash[TOKEN_HASH_SIZE], box[TOKEN_SEAL_BOX_MAX];
        token_new(token, hash);
        int n = token_seal(key_a, token, box);
        /* another key, a flipped bit anywhere, a cut box: refused, nothing written */
        ck_assert_int_eq(token_unseal(key_b, box, (size_t) n, back), -EBADMSG);
        for (int i = 0; i < n; i += 7) {
                box[i] ^= 0x10;
                ck_assert_int_eq(token_unseal(key_a, box, (size_t) n, back), -EBADMSG);
                box[i] ^= 0x10;
        }
        ck_assert_int_eq(token_unseal(key_a, box, (size_t) n - 1, back), -EBADMSG);
        ck_assert_int_eq(token_unseal(key_a, box, 39, back), -EBADMSG);
        ck_assert_str_eq(back, "untouched");
        char longer[TOKEN_STRING_MAX + 8];
        memset(longer, 'A', sizeof longer - 1);
        longer[sizeof longer - 1] = '\0';
        ck_assert_int_eq(token_seal(key_a, longer, box), -EINVAL);
}
END_TEST

static void write_file(const char *path, const void *data, size_t n, mode_t mode) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, data, n), (ssize_t) n);
        ck_assert_int_eq(fchmod(fd, mode), 0);
        close(fd);
}

START_TEST(test_seal_key_file) {
        char dir[] = "/tmp/provd-seal.XXXXXX", path[64], err[256] = "";
        uint8_t key[TOKEN_SEAL_KEY_SIZE], raw[40];
        memset(raw, 7, sizeof raw);
        ck_assert_ptr_nonnull(mkdtemp(dir));
        snprintf(path, sizeof path, "%s/key", dir);

        ck_assert_int_eq(token_seal_key_load(path, key, err, sizeof err), -ENOENT);
        ck_assert_ptr_nonnull(strstr(err, path));

        write_file(path, raw, TOKEN_SEAL_KEY_SIZE, 0600);
        ck_assert_int_eq(token_seal_key_load(path, key, err, sizeof err), 0);
        ck_assert(memcmp(key, raw, TOKEN_SEAL_KEY_SIZE) == 0);

        write_file(path, raw, 31, 0600);
        ck_assert_int_eq(token_seal_key_load(path, key, err, sizeof err), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err, "exactly 32 bytes"));
        ck_assert_ptr_nonnull(strstr(err, "not 31"));

        write_file(path, raw, 33, 0600);
        ck_assert_int_eq(token_seal_key_load(path, key, err, sizeof err), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err, "more than 32"));

        write_file(path, raw, TOKEN_SEAL_KEY_SIZE, 0644);
        ck_assert_int_eq(token_seal_key_load(path, key, err, sizeof err), -EPERM);
        ck_assert_ptr_nonnull(strstr(err, "chmod 0600"));

        unlink(path);
        rmdir(dir);
}
END_TEST

static Suite *token_seal_suite(void) {
        Suite *s = suite_create("token-seal");
        TCase *tc = tcase_create("core");
        tcase_add_test(tc, test_seal_round_trip);
        tcase_add_test(tc, test_seal_refuses);
        tcase_add_test(tc, test_seal_key_file);
        suite_add_tcase(s, tc);
        return s;
}

CHECK_MAIN(token_seal_suite)
