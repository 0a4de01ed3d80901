/* firmware.c — see firmware.h. */
#include "firmware.h"

#include <string.h>

static const char *const names[_FIRMWARE_MAX] = {
        [FIRMWARE_UNKNOWN] = "unknown",   [FIRMWARE_BIOS] = "bios",   [FIRMWARE_EFI_IA32] = "efi-ia32",
        [FIRMWARE_EFI_X64] = "efi-x64",   [FIRMWARE_EFI_HTTP] = "efi-http", [FIRMWARE_ARM32] = "arm32",
        [FIRMWARE_ARM64] = "arm64",       [FIRMWARE_ARM64_HTTP] = "arm64-http", [FIRMWARE_OTHER] = "other",
};

const char *firmware_name(Firmware fw) {
        return (unsigned) fw < _FIRMWARE_MAX ? names[fw] : names[FIRMWARE_UNKNOWN];
}

Firmware firmware_from_arch(int arch) {
        switch (arch) {
        case 0:
                return FIRMWARE_BIOS;
        case 6:
                return FIRMWARE_EFI_IA32;
        case 7:
        case 9:
                return FIRMWARE_EFI_X64;
        case 10:
                return FIRMWARE_ARM32;
        case 11:
                return FIRMWARE_ARM64;
        case 15:
        case 16:
                return FIRMWARE_EFI_HTTP;
        case 19:
                return FIRMWARE_ARM64_HTTP;
        default:
                return arch < 0 ? FIRMWARE_UNKNOWN : FIRMWARE_OTHER;
        }
}

Firmware firmware_from_ipxe(const char *platform, const char *buildarch) {
        if (!platform || !*platform)
                return FIRMWARE_UNKNOWN;
        if (strcmp(platform, "pcbios") == 0)
                return FIRMWARE_BIOS;
        if (strcmp(platform, "efi") != 0 || !buildarch)
                return FIRMWARE_OTHER;
        if (strcmp(buildarch, "x86_64") == 0)
                return FIRMWARE_EFI_X64;
        if (strcmp(buildarch, "i386") == 0)
                return FIRMWARE_EFI_IA32;
        if (strcmp(buildarch, "arm64") == 0)
                return FIRMWARE_ARM64;
        if (strcmp(buildarch, "arm32") == 0)
                return FIRMWARE_ARM32;
        return FIRMWARE_OTHER;
}
