/* fuzz-inventory.c — inventory_parse() on arbitrary bytes, then every accepted node through
 * the boot spec, pixiecore JSON and iPXE rendering and the MAC/name/file lookups: never
 * crashes or leaks; rendered answers contain no "{{" and no newline in the cmdline. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "boot.h"
#include "fuzz.h"
#include "inventory.h"
#include "ipxe.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        Inventory *inv = NULL;
        char err[ERRBUF_MAX] = "";
        if (inventory_parse((const char *) data, size, &inv, err, sizeof err) < 0) {
                assert(!inv && err[0] != '\0');
                return 0;
        }
        assert(err[0] == '\0');
        for (size_t i = 0; i < inv->n_nodes; i++) {
                const Node *n = &inv->nodes[i];
                assert(inventory_find_name(inv, n->name) == n);
                for (size_t m = 0; m < n->n_macs; m++)
                        assert(inventory_find_mac(inv, n->macs[m]) == n);
                if (!inventory_is_url(n->boot.kernel))
                        assert(inventory_has_file(inv, n->boot.kernel));
                BootSpec spec = { 0 };
                if (boot_spec_build(n, "http://10.0.0.1:8080/", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", &spec) < 0)
                        continue;
                assert(!strstr(spec.cmdline, "{{") && !strchr(spec.cmdline, '\n'));
                free(boot_spec_to_pixiecore_json(&spec));
                free(ipxe_render_install(&spec, n->name, 1));
                boot_spec_done(&spec);
        }
        inventory_free(inv);
        return 0;
}
