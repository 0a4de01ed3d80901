/* firmware.h — which firmware a network boot comes from, named one way everywhere provd shows
 * it: discovered PXE clients (from DHCP option 93), install attempts and history (from what
 * iPXE reports about itself), and the boot request metric.  Pure: no I/O, no state.
 *
 * Names: "bios" (PC BIOS / legacy PXE), "efi-ia32", "efi-x64", "efi-http" (x64 UEFI HTTP
 * Boot), "arm32", "arm64" (UEFI on 32/64-bit ARM), "arm64-http", "other" (an architecture
 * that is none of these), "unknown" (nothing was said: pixiecore's boot API carries no
 * architecture, an old chain URL carries no platform). */
#pragma once

typedef enum Firmware {
        FIRMWARE_UNKNOWN,
        FIRMWARE_BIOS,
        FIRMWARE_EFI_IA32,
        FIRMWARE_EFI_X64,
        FIRMWARE_EFI_HTTP,
        FIRMWARE_ARM32,
        FIRMWARE_ARM64,
        FIRMWARE_ARM64_HTTP,
        FIRMWARE_OTHER,
        _FIRMWARE_MAX,
} Firmware;

/* The firmware's name (above); "unknown" for values out of range.  Static string. */
const char *firmware_name(Firmware fw);

/* From a DHCP option 93 client system architecture (RFC 4578 §2.1 and the IANA "Processor
 * Architecture Types" registry): 0 bios, 6 efi-ia32, 7 and 9 efi-x64 (RFC 4578 erratum 4010:
 * x64 firmware sends 7, the registry's x86-64 entry is 9; both mean x64 UEFI in practice),
 * 10 arm32, 11 arm64, 15 and 16 efi-http (x86/x64 UEFI HTTP Boot), 19 arm64-http, any other
 * value other; arch < 0 (no option 93) unknown. */
Firmware firmware_from_arch(int arch);

/* From iPXE's own settings ${platform} and ${buildarch} (ipxe.org/cfg/platform,
 * ipxe.org/cfg/buildarch): platform "pcbios" -> bios; "efi" with buildarch "x86_64" ->
 * efi-x64, "i386" -> efi-ia32, "arm64" -> arm64, "arm32" -> arm32; NULL or empty platform ->
 * unknown; any other combination -> other.  iPXE cannot tell whether the firmware loaded it
 * by PXE or by HTTP Boot, so it never yields efi-http. */
Firmware firmware_from_ipxe(const char *platform, const char *buildarch);
