/* fuzz-inventory.c — inventory_parse() on arbitrary bytes, then every accepted install node
 * through the boot spec, pixiecore JSON and iPXE rendering and the MAC/name/file lookups, every
 * stateless node and image through the invariants the parser promises (image found, toplevel
 * the image's, overlay files within the rules, image files served) and its image answer (the
 * overlay last, one init=, pixiecore JSON and iPXE): never crashes or leaks;
 * rendered answers contain no "{{" and no newline in the cmdline; a reparse reusing the
 * inventory copies every install node and gives the same nodes. */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
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
                if (n->mode == NODE_MODE_STATELESS) {
                        /* A stateless node: its image, its toplevel, no install boot; overlay
                         * files within the rules. */
                        assert(n->image && inventory_find_image(inv, n->image->name) == n->image);
                        assert(n->toplevel == n->image->toplevel && !n->install && !n->boot.kernel);
                        assert(n->n_overlay_files <= INVENTORY_MAX_OVERLAY_FILES);
                        for (size_t f = 0; f < n->n_overlay_files; f++) {
                                const InventoryOverlayFile *of = &n->overlay_files[f];
                                assert(of->path[0] == '/' && of->source[0] == '/' && of->mode <= 07777);
                                assert(!streq(of->path, "/etc/hostname") && !startswith(of->source, "/nix/store/"));
                                assert(of->uid <= INT32_MAX && of->gid <= INT32_MAX);
                        }
                        BootSpec spec = { 0 };
                        assert(boot_spec_build(n, "http://10.0.0.1:8080/", "AAAA", &spec) == -EINVAL);
                        /* Its answer: the image, the overlay last, one init= (provd's). */
                        if (boot_spec_build_image(n, "http://10.0.0.1:8080/", "BBBB", &spec) < 0)
                                continue;
                        assert(spec.n_initrd == n->image->boot.n_initrd + 1);
                        assert(streq(spec.initrd[spec.n_initrd - 1], "http://10.0.0.1:8080/v1/overlay/BBBB"));
                        assert(!strstr(spec.cmdline, "{{") && !strchr(spec.cmdline, '\n'));
                        size_t inits = startswith(spec.cmdline, "init=") ? 1 : 0;
                        for (const char *p = strstr(spec.cmdline, " init="); p; p = strstr(p + 1, " init="))
                                inits++;
                        assert(inits == 1);
                        free(boot_spec_to_pixiecore_json(&spec));
                        free(ipxe_render_image(&spec, n->name, n->image->name, 1));
                        boot_spec_done(&spec);
                        continue;
                }
                assert(n->mode == NODE_MODE_INSTALL && !n->image && n->n_overlay_files == 0 && n->install);
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
        /* Every image: found by name, in name order, its local files served, no init= of its own. */
        for (size_t i = 0; i < inv->n_images; i++) {
                const InventoryImage *img = &inv->images[i];
                assert(img->index == i && inventory_find_image(inv, img->name) == img);
                assert(i == 0 || strcmp(inv->images[i - 1].name, img->name) < 0);
                assert(img->boot.n_initrd < INVENTORY_MAX_INITRDS && img->boot.cmdline && img->init && img->toplevel);
                for (size_t f = 0; f <= img->boot.n_initrd; f++) {
                        const char *p = f == 0 ? img->boot.kernel : img->boot.initrd[f - 1];
                        assert(inventory_is_url(p) || inventory_has_file(inv, p));
                }
                assert(!startswith(img->boot.cmdline, "init=") && !strstr(img->boot.cmdline, " init="));
        }
        /* A reload of the same text copies every install node from it: the same nodes. */
        Inventory *again = NULL;
        size_t n_install = 0;
        assert(inventory_parse_reusing((const char *) data, size, inv, &again, err, sizeof err) == 0);
        assert(again->n_nodes == inv->n_nodes && again->n_files == inv->n_files);
        for (size_t i = 0; i < inv->n_nodes; i++) {
                const Node *a = &inv->nodes[i], *b = &again->nodes[i];
                n_install += a->mode == NODE_MODE_INSTALL;
                assert(streq(a->name, b->name) && a->name != b->name && a->n_macs == b->n_macs);
                assert(memcmp(a->macs, b->macs, a->n_macs * sizeof *a->macs) == 0);
                assert(streq(a->toplevel, b->toplevel) && a->mode == b->mode && a->text_hash == b->text_hash);
                assert(inventory_find_name(again, b->name) == b && inventory_find_mac(again, b->macs[0]) == b);
                if (a->mode != NODE_MODE_INSTALL)
                        continue;
                assert(streq(a->boot.kernel, b->boot.kernel) && streq(a->boot.cmdline, b->boot.cmdline));
                assert(a->boot.n_initrd == b->boot.n_initrd && streq(a->install, b->install));
                for (size_t f = 0; f < a->boot.n_initrd; f++)
                        assert(streq(a->boot.initrd[f], b->boot.initrd[f]));
                assert(a->has_bmc == b->has_bmc && (!a->has_bmc || streq(a->bmc.host, b->bmc.host)));
        }
        assert(again->n_reused == n_install);
        inventory_free(again);
        inventory_free(inv);
        return 0;
}
