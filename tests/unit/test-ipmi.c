/* test-ipmi.c — unit tests for the pure parts of ipmi.c: FreeIPMI workaround names, the
 * password file reader, boot flag encoding (IPMI v2.0 §28.13 Table 28-14 parameter 5), and
 * the checks ipmi_run() makes before sending anything.  Talking to a BMC is tested against
 * ipmi_sim in tests/integration/ipmi.sh. */
#include "check-main.h"
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <freeipmi/freeipmi.h>

#include "ipmi.h"

START_TEST(test_workarounds_each_name) {
        static const struct {
                const char *name;
                unsigned flags;
        } table[] = {
                { "authcap", IPMI_WORKAROUND_FLAGS_OUTOFBAND_2_0_AUTHENTICATION_CAPABILITIES },
                { "intel20", IPMI_WORKAROUND_FLAGS_OUTOFBAND_2_0_INTEL_2_0_SESSION },
                { "supermicro20", IPMI_WORKAROUND_FLAGS_OUTOFBAND_2_0_SUPERMICRO_2_0_SESSION },
                { "sun20", IPMI_WORKAROUND_FLAGS_OUTOFBAND_2_0_SUN_2_0_SESSION |
                                   IPMI_WORKAROUND_FLAGS_OUTOFBAND_2_0_OPEN_SESSION_PRIVILEGE },
                { "opensesspriv", IPMI_WORKAROUND_FLAGS_OUTOFBAND_2_0_OPEN_SESSION_PRIVILEGE },
                { "integritycheckvalue",
                  IPMI_WORKAROUND_FLAGS_OUTOFBAND_2_0_NON_EMPTY_INTEGRITY_CHECK_VALUE },
                { "nochecksumcheck", IPMI_WORKAROUND_FLAGS_OUTOFBAND_2_0_NO_CHECKSUM_CHECK },
                { "none", 0 },
                { "", 0 },
                { "  ", 0 },
        };
        for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
                unsigned flags = 0xdead;
                char err[IPMI_ERROR_MAX] = "";
                ck_assert_int_eq(ipmi_workarounds_parse(table[i].name, &flags, err, sizeof err), 0);
                ck_assert_msg(flags == table[i].flags, "%s: 0x%x != 0x%x", table[i].name, flags,
                              table[i].flags);
                ck_assert_str_eq(err, "");
        }
}
END_TEST

START_TEST(test_workarounds_list) {
        unsigned flags = 0;
        char err[IPMI_ERROR_MAX];
        ck_assert_int_eq(ipmi_workarounds_parse("opensesspriv,authcap", &flags, err, sizeof err), 0);
        ck_assert_uint_eq(flags, IPMI_WORKAROUND_FLAGS_OUTOFBAND_2_0_OPEN_SESSION_PRIVILEGE |
                                         IPMI_WORKAROUND_FLAGS_OUTOFBAND_2_0_AUTHENTICATION_CAPABILITIES);
        ck_assert_int_eq(ipmi_workarounds_parse(" intel20 , nochecksumcheck ", &flags, err, sizeof err), 0);
        ck_assert_uint_eq(flags, IPMI_WORKAROUND_FLAGS_OUTOFBAND_2_0_INTEL_2_0_SESSION |
                                         IPMI_WORKAROUND_FLAGS_OUTOFBAND_2_0_NO_CHECKSUM_CHECK);
        /* the same name twice is harmless */
        ck_assert_int_eq(ipmi_workarounds_parse("authcap,authcap", &flags, err, sizeof err), 0);
        ck_assert_uint_eq(flags, IPMI_WORKAROUND_FLAGS_OUTOFBAND_2_0_AUTHENTICATION_CAPABILITIES);
}
END_TEST

START_TEST(test_workarounds_rejected) {
        static const struct {
                const char *list;
                const char *in_message;
        } table[] = {
                { "bogus", "unknown workaround 'bogus'" },
                { "opensesspriv,bogus", "'bogus'" },
                { "OpenSessPriv", "'OpenSessPriv'" }, /* FreeIPMI's names are lower case */
                { "opensesspriv,", "empty workaround name" },
                { ",opensesspriv", "empty workaround name" },
                { "authcap,,intel20", "empty workaround name" },
                { "idzero", "IPMI 1.5" },
                { "forcepermsg", "IPMI 1.5" },
                { "endianseq", "IPMI 1.5" },
                { "noauthcodecheck", "IPMI 1.5" },
                { "unexpectedauth", "IPMI 1.5" },
                { "solpayloadsize", "tool workaround" },
                { "assumeio", "tool workaround" },
                { "a-very-long-name-that-is-longer-than-the-sixty-four-byte-buffer-of-the-parser",
                  "unknown workaround" },
        };
        for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
                unsigned flags = 0x1234;
                char err[IPMI_ERROR_MAX] = "";
                ck_assert_int_eq(ipmi_workarounds_parse(table[i].list, &flags, err, sizeof err), -EINVAL);
                ck_assert_uint_eq(flags, 0x1234); /* untouched on failure */
                ck_assert_msg(strstr(err, table[i].in_message), "%s: message '%s' lacks '%s'",
                              table[i].list, err, table[i].in_message);
        }
}
END_TEST

/* Writes content (len bytes) to a fresh file with the given mode; returns its path. */
static char *write_file(const char *content, size_t len, mode_t mode) {
        char *path = strdup("/tmp/provd-test-ipmi.XXXXXX");
        ck_assert_ptr_nonnull(path);
        int fd = mkstemp(path);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, content, len), (ssize_t) len);
        ck_assert_int_eq(fchmod(fd, mode), 0);
        close(fd);
        return path;
}

static int read_password(const char *content, size_t len, mode_t mode, char *buf, size_t buflen,
                         char *err, size_t errlen, char **ret_path) {
        char *path = write_file(content, len, mode);
        int r = ipmi_password_read(path, buf, buflen, err, errlen);
        if (ret_path)
                *ret_path = path;
        else {
                unlink(path);
                free(path);
        }
        return r;
}

START_TEST(test_password_ok) {
        static const struct {
                const char *content;
                const char *password;
        } table[] = {
                { "secret\n", "secret" },
                { "secret", "secret" },
                { "secret\r\n", "secret" },
                { "first\nsecond\n", "first" },
                { "with space \n", "with space " },
                { "12345678901234567890\n", "12345678901234567890" }, /* 20 bytes: the max */
                { "\n", "" },
                { "", "" },
        };
        for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
                char buf[IPMI_TARGET_PASSWORD_MAX];
                char err[IPMI_ERROR_MAX] = "";
                memset(buf, 'x', sizeof buf);
                int r = read_password(table[i].content, strlen(table[i].content), 0600, buf,
                                      sizeof buf, err, sizeof err, NULL);
                ck_assert_msg(r == (int) strlen(table[i].password), "case %zu: r=%d err=%s", i, r, err);
                ck_assert_str_eq(buf, table[i].password);
        }
        /* group-readable is allowed (root:provd 0640 is a common way to share a secret) */
        char buf[IPMI_TARGET_PASSWORD_MAX], err[IPMI_ERROR_MAX];
        ck_assert_int_eq(read_password("pw\n", 3, 0640, buf, sizeof buf, err, sizeof err, NULL), 2);
}
END_TEST

START_TEST(test_password_rejected) {
        char buf[IPMI_TARGET_PASSWORD_MAX], err[IPMI_ERROR_MAX];
        char *path;

        /* 21 bytes: one more than IPMI 2.0 allows */
        ck_assert_int_eq(read_password("123456789012345678901\n", 22, 0600, buf, sizeof buf, err,
                                       sizeof err, &path),
                         -EINVAL);
        ck_assert_ptr_nonnull(strstr(err, path));
        ck_assert_ptr_nonnull(strstr(err, "at most 20"));
        ck_assert_ptr_null(strstr(err, "123456789")); /* never the content */
        unlink(path);
        free(path);

        /* readable by others */
        ck_assert_int_eq(read_password("topsecret\n", 10, 0644, buf, sizeof buf, err, sizeof err, &path),
                         -EPERM);
        ck_assert_ptr_nonnull(strstr(err, path));
        ck_assert_ptr_nonnull(strstr(err, "0644"));
        ck_assert_ptr_null(strstr(err, "topsecret"));
        unlink(path);
        free(path);
        ck_assert_int_eq(read_password("x\n", 2, 0602, buf, sizeof buf, err, sizeof err, NULL), -EPERM);

        /* larger than 64 bytes: not a password file */
        char big[100];
        memset(big, 'a', sizeof big);
        ck_assert_int_eq(read_password(big, sizeof big, 0600, buf, sizeof buf, err, sizeof err, NULL),
                         -EFBIG);
        ck_assert_ptr_null(strstr(err, "aaaa"));

        /* a NUL byte in the password */
        ck_assert_int_eq(read_password("ab\0cd\n", 6, 0600, buf, sizeof buf, err, sizeof err, NULL),
                         -EINVAL);
        ck_assert_ptr_nonnull(strstr(err, "NUL"));

        /* missing file, directory */
        ck_assert_int_eq(ipmi_password_read("/nonexistent/provd-pw", buf, sizeof buf, err, sizeof err),
                         -ENOENT);
        ck_assert_ptr_nonnull(strstr(err, "/nonexistent/provd-pw"));
        ck_assert_int_eq(ipmi_password_read("/", buf, sizeof buf, err, sizeof err), -EINVAL);

        /* a buffer too small for a valid password */
        char small[4];
        ck_assert_int_eq(read_password("abcdef\n", 7, 0600, small, sizeof small, err, sizeof err, NULL),
                         -ENOBUFS);
}
END_TEST

START_TEST(test_boot_flags_encode) {
        uint8_t d[5];

        /* §28.13 Table 28-14 parameter 5: data1 bit 7 valid, bit 6 persistent, bit 5 EFI;
         * data2 bits 5:2 device (1 = PXE, 2 = disk, 6 = BIOS setup). */
        ipmi_boot_flags_encode(&(IpmiBoot){ .device = IPMI_BOOT_DEVICE_PXE }, d);
        ck_assert_uint_eq(d[0], 0x80);
        ck_assert_uint_eq(d[1], 0x04);
        ck_assert_uint_eq(d[2] | d[3] | d[4], 0);

        ipmi_boot_flags_encode(&(IpmiBoot){ .device = IPMI_BOOT_DEVICE_DISK, .persistent = true }, d);
        ck_assert_uint_eq(d[0], 0xc0);
        ck_assert_uint_eq(d[1], 0x08);

        ipmi_boot_flags_encode(&(IpmiBoot){ .device = IPMI_BOOT_DEVICE_PXE, .efi = true }, d);
        ck_assert_uint_eq(d[0], 0xa0);
        ck_assert_uint_eq(d[1], 0x04);

        ipmi_boot_flags_encode(
                &(IpmiBoot){ .device = IPMI_BOOT_DEVICE_BIOS, .persistent = true, .efi = true }, d);
        ck_assert_uint_eq(d[0], 0xe0);
        ck_assert_uint_eq(d[1], 0x18);

        ipmi_boot_flags_encode(&(IpmiBoot){ .device = IPMI_BOOT_DEVICE_NONE }, d);
        ck_assert_uint_eq(d[0], 0x80);
        ck_assert_uint_eq(d[1], 0x00);

        /* all three bits together */
        ipmi_boot_flags_encode(
                &(IpmiBoot){ .device = IPMI_BOOT_DEVICE_DISK, .persistent = true, .efi = true }, d);
        ck_assert_uint_eq(d[0], 0xe0);
        ck_assert_uint_eq(d[1], 0x08);
}
END_TEST

START_TEST(test_boot_flags_decode) {
        IpmiBoot b;

        ipmi_boot_flags_decode((const uint8_t[]){ 0x00, 0x04 }, &b); /* what ipmi_sim answers */
        ck_assert(!b.valid && !b.persistent && !b.efi);
        ck_assert_uint_eq(b.device, IPMI_BOOT_DEVICE_PXE);

        ipmi_boot_flags_decode((const uint8_t[]){ 0xe0, 0x08 | 0x80 | 0x03 }, &b);
        ck_assert(b.valid && b.persistent && b.efi);
        ck_assert_uint_eq(b.device, IPMI_BOOT_DEVICE_DISK); /* other bits of data2 ignored */

        for (unsigned dev = 0; dev < 16; dev++)
                for (unsigned flags = 0; flags < 8; flags++) {
                        IpmiBoot in = { .device = (uint8_t) dev, .persistent = flags & 1,
                                        .efi = flags & 2, .valid = true }, out;
                        uint8_t d[5];
                        ipmi_boot_flags_encode(&in, d);
                        ipmi_boot_flags_decode(d, &out);
                        ck_assert(out.device == in.device && out.persistent == in.persistent &&
                                  out.efi == in.efi && out.valid);
                }
}
END_TEST

START_TEST(test_boot_device_names) {
        IpmiBootDevice d;
        char buf[8];
        static const char *const names[] = { "none", "pxe", "disk", "bios" };
        for (size_t i = 0; i < 4; i++) {
                ck_assert_int_eq(ipmi_boot_device_from_string(names[i], &d), 0);
                ck_assert_str_eq(ipmi_boot_device_to_string((uint8_t) d, buf), names[i]);
        }
        ck_assert_int_eq(ipmi_boot_device_from_string("cdrom", &d), -EINVAL);
        ck_assert_int_eq(ipmi_boot_device_from_string("PXE", &d), -EINVAL);
        ck_assert_str_eq(ipmi_boot_device_to_string(5, buf), "0x5");
}
END_TEST

START_TEST(test_run_rejects_bad_input) {
        IpmiTarget t = {};
        IpmiRequest req = { .op = IPMI_OP_POWER_STATUS };
        char err[IPMI_ERROR_MAX] = "";

        /* no host: refused before any packet */
        ck_assert_int_eq(ipmi_run(&t, &req, NULL, err, sizeof err), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err, "host"));

        snprintf(t.host, sizeof t.host, "127.0.0.1");
        req.op = _IPMI_OP_MAX;
        ck_assert_int_eq(ipmi_run(&t, &req, NULL, err, sizeof err), -EINVAL);

        req = (IpmiRequest){ .op = IPMI_OP_BOOTDEV_SET, .boot = { .device = 16 } };
        ck_assert_int_eq(ipmi_run(&t, &req, NULL, err, sizeof err), -EINVAL);

        /* an unterminated password is refused, and the message does not echo it */
        memset(t.password, 'Z', sizeof t.password);
        req = (IpmiRequest){ .op = IPMI_OP_POWER_STATUS };
        ck_assert_int_eq(ipmi_run(&t, &req, NULL, err, sizeof err), -EINVAL);
        ck_assert_ptr_null(strstr(err, "ZZZ"));
}
END_TEST

START_TEST(test_op_names) {
        ck_assert_str_eq(ipmi_op_to_string(IPMI_OP_POWER_STATUS), "status");
        ck_assert_str_eq(ipmi_op_to_string(IPMI_OP_POWER_CYCLE), "cycle");
        ck_assert_str_eq(ipmi_op_to_string(IPMI_OP_BOOTDEV_GET), "bootdev-get");
        ck_assert_str_eq(ipmi_op_to_string(_IPMI_OP_MAX), "unknown");
        ck_assert_int_eq(ipmi_init(), 0);
        ck_assert_int_eq(ipmi_init(), 0);
}
END_TEST

static Suite *ipmi_suite(void) {
        Suite *s = suite_create("ipmi");
        TCase *tc = tcase_create("core");
        tcase_add_test(tc, test_workarounds_each_name);
        tcase_add_test(tc, test_workarounds_list);
        tcase_add_test(tc, test_workarounds_rejected);
        tcase_add_test(tc, test_password_ok);
        tcase_add_test(tc, test_password_rejected);
        tcase_add_test(tc, test_boot_flags_encode);
        tcase_add_test(tc, test_boot_flags_decode);
        tcase_add_test(tc, test_boot_device_names);
        tcase_add_test(tc, test_run_rejects_bad_input);
        tcase_add_test(tc, test_op_names);
        suite_add_tcase(s, tc);
        return s;
}

CHECK_MAIN(ipmi_suite)
