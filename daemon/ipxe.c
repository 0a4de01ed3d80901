/* ipxe.c — see ipxe.h. */
#include "ipxe.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *dup_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *dup_printf(const char *fmt, ...) {
        char *s = NULL;
        va_list ap;
        va_start(ap, fmt);
        int r = vasprintf(&s, fmt, ap);
        va_end(ap);
        return r < 0 ? NULL : s;
}

char *ipxe_render_chain(const char *public_url) {
        size_t base = boot_url_base_len(public_url);
        return dup_printf("#!ipxe\n"
                          "chain %.*s/v1/ipxe?mac=${netX/mac} || goto failed\n"
                          "exit\n"
                          ":failed\n"
                          "echo provd: cannot fetch this machine's boot script; leaving network boot\n"
                          "exit 1\n",
                          (int) base, public_url);
}

char *ipxe_render_install(const BootSpec *spec, const char *node, long attempt) {
        char *out = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&out, &len);
        if (!f)
                return NULL;
        fprintf(f, "#!ipxe\necho provd: installing %s (install attempt %ld)\nkernel --name kernel %s", node, attempt,
                spec->kernel);
        for (size_t i = 0; i < spec->n_initrd; i++)
                fprintf(f, " initrd=initrd%zu", i);
        fprintf(f, " %s || goto failed\n", spec->cmdline);
        for (size_t i = 0; i < spec->n_initrd; i++)
                fprintf(f, "initrd --name initrd%zu %s || goto failed\n", i, spec->initrd[i]);
        fprintf(f,
                "boot || goto failed\n"
                ":failed\n"
                "echo provd: network boot of %s failed; leaving network boot\n"
                "exit 1\n",
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

char *ipxe_render_local(const char *node, const char *why) {
        return dup_printf("#!ipxe\n"
                          "echo provd: %s %s; booting from local disk\n"
                          "exit\n",
                          node, why);
}

char *ipxe_render_unknown(const char *mac) {
        if (!mac)
                return dup_printf("#!ipxe\n"
                                  "echo provd: the request named no MAC (chain to /v1/ipxe for the right URL); leaving network boot\n"
                                  "exit\n");
        return dup_printf("#!ipxe\n"
                          "echo provd: MAC %s is not in the inventory; leaving network boot\n"
                          "exit\n",
                          mac);
}
