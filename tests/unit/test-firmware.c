/* test-firmware.c — unit tests for firmware.c: option 93 and iPXE's platform/buildarch to
 * firmware names. */
#include "check-main.h"
#include <check.h>
#include <string.h>

#include "firmware.h"

START_TEST(test_firmware_from_arch) {
        static const struct {
                int arch;
                const char *name;
        } cases[] = {
                { -1, "unknown" }, { 0, "bios" },      { 6, "efi-ia32" },    { 7, "efi-x64" },  { 9, "efi-x64" },
                { 10, "arm32" },   { 11, "arm64" },    { 15, "efi-http" },   { 16, "efi-http" }, { 19, "arm64-http" },
                { 1, "other" },    { 12, "other" },    { 65535, "other" },
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
                ck_assert_msg(strcmp(firmware_name(firmware_from_arch(cases[i].arch)), cases[i].name) == 0,
                              "option 93 = %d: %s, want %s", cases[i].arch, firmware_name(firmware_from_arch(cases[i].arch)),
                              cases[i].name);
}
END_TEST

START_TEST(test_firmware_from_ipxe) {
        static const struct {
                const char *platform, *buildarch, *name;
        } cases[] = {
                { "pcbios", "i386", "bios" },  { "pcbios", "x86_64", "bios" }, { "efi", "x86_64", "efi-x64" },
                { "efi", "i386", "efi-ia32" }, { "efi", "arm64", "arm64" },    { "efi", "arm32", "arm32" },
                { "efi", "riscv64", "other" }, { "efi", NULL, "other" },       { "linux", "x86_64", "other" },
                { NULL, "x86_64", "unknown" }, { "", "x86_64", "unknown" },    { "EFI", "x86_64", "other" },
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                const char *got = firmware_name(firmware_from_ipxe(cases[i].platform, cases[i].buildarch));
                ck_assert_msg(strcmp(got, cases[i].name) == 0, "%s/%s: %s, want %s", cases[i].platform ? cases[i].platform : "(null)",
                              cases[i].buildarch ? cases[i].buildarch : "(null)", got, cases[i].name);
        }
}
END_TEST

START_TEST(test_firmware_names) {
        /* every value has a distinct name; out of range is "unknown" */
        for (Firmware a = 0; a < _FIRMWARE_MAX; a++)
                for (Firmware b = a + 1; b < _FIRMWARE_MAX; b++)
                        ck_assert_str_ne(firmware_name(a), firmware_name(b));
        ck_assert_str_eq(firmware_name(_FIRMWARE_MAX), "unknown");
        ck_assert_str_eq(firmware_name((Firmware) -1), "unknown");
}
END_TEST

static Suite *firmware_suite(void) {
        Suite *s = suite_create("firmware");
        TCase *tc = tcase_create("names");
        tcase_add_test(tc, test_firmware_from_arch);
        tcase_add_test(tc, test_firmware_from_ipxe);
        tcase_add_test(tc, test_firmware_names);
        suite_add_tcase(s, tc);
        return s;
}

CHECK_MAIN(firmware_suite)
