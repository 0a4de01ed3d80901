/* ipxe.c — see ipxe.h. */
#include "ipxe.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"
#include "util.h"

static char *dup_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *dup_printf(const char *fmt, ...) {
        char *s = NULL;
        va_list ap;
        va_start(ap, fmt);
        int r = vasprintf(&s, fmt, ap);
        va_end(ap);
        return r < 0 ? NULL : s;
}

/* The end of every script that leaves network boot: status 1 under UEFI, 0 under a BIOS
 * (see ipxe.h).  "iseq" fails when the strings differ; the trailing "||" keeps that failure
 * from ending the script. */
#define IPXE_LEAVE                                                                                                     \
        "iseq ${platform} efi && goto provd_leave_efi ||\n"                                                           \
        "exit 0\n"                                                                                                    \
        ":provd_leave_efi\n"                                                                                          \
        "exit 1\n"

char *ipxe_render_chain(const char *public_url) {
        size_t base = url_base_len(public_url);
        /* imgfetch and imgexec apart, so that a failed fetch is told from a fetched script
         * that ended with a non-zero status on purpose. */
        return dup_printf("#!ipxe\n"
                          "imgfetch --name provd-node %.*s/v1/ipxe?mac=${netX/mac}&platform=${platform}&buildarch=${buildarch} "
                          "|| goto provd_failed\n"
                          "imgexec --autofree provd-node || exit 1\n"
                          "exit 0\n"
                          ":provd_failed\n"
                          "echo provd: cannot fetch this machine's boot script from %.*s; leaving network boot\n" IPXE_LEAVE,
                          (int) base, public_url, (int) base, public_url);
}

/* Fetches spec's kernel and initrds and boots, after the heading `what` (an echo line); on any
 * failure says so and leaves network boot. */
static char *render_boot(const BootSpec *spec, const char *node, const char *what) {
        char *out = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&out, &len);
        if (!f)
                return NULL;
        fprintf(f, "#!ipxe\necho provd: %s\nkernel --name kernel %s", what, spec->kernel);
        for (size_t i = 0; i < spec->n_initrd; i++)
                fprintf(f, " initrd=initrd%zu", i);
        fprintf(f, " %s || goto failed\n", spec->cmdline);
        for (size_t i = 0; i < spec->n_initrd; i++)
                fprintf(f, "initrd --name initrd%zu %s || goto failed\n", i, spec->initrd[i]);
        fprintf(f,
                "boot || goto failed\n"
                ":failed\n"
                "echo provd: network boot of %s failed; leaving network boot\n" IPXE_LEAVE,
                node);
        if (ferror(f)) {
                fclose(f);
                free(out);
                return NULL;
        }
        if (fclose(f) != 0) {
                free(out);
                return NULL;
        }
        return out;
}

char *ipxe_render_install(const BootSpec *spec, const char *node, long attempt) {
        _cleanup_free_ char *what = dup_printf("installing %s (install attempt %ld)", node, attempt);
        return what ? render_boot(spec, node, what) : NULL;
}

char *ipxe_render_image(const BootSpec *spec, const char *node, const char *image, long boot) {
        _cleanup_free_ char *what = dup_printf("booting %s from image %s (boot %ld)", node, image, boot);
        return what ? render_boot(spec, node, what) : NULL;
}

char *ipxe_render_local(const char *node, const char *why) {
        return dup_printf("#!ipxe\n"
                          "echo provd: %s %s; booting from local disk\n" IPXE_LEAVE,
                          node, why);
}

char *ipxe_render_unknown(const char *mac) {
        if (!mac)
                return dup_printf("#!ipxe\n"
                                  "echo provd: the request named no MAC (chain to /v1/ipxe for the right URL); leaving network boot\n" IPXE_LEAVE);
        return dup_printf("#!ipxe\n"
                          "echo provd: MAC %s is not in the inventory; leaving network boot\n" IPXE_LEAVE,
                          mac);
}

char *ipxe_render_bad_mac(const char *arg) {
        char shown[18];
        return dup_printf("#!ipxe\n"
                          "echo provd: \"%s\" is not a MAC address; leaving network boot\n" IPXE_LEAVE,
                          text_ipxe(arg, 17, shown, sizeof shown));
}
