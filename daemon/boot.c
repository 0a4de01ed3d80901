/* boot.c — see boot.h. */
#include "boot.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static int is_unreserved(unsigned char ch) {
        return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
               ch == '.' || ch == '_' || ch == '~';
}

char *boot_file_url(const char *public_url, const char *file) {
        if (inventory_is_url(file))
                return strdup(file);

        size_t base = url_base_len(public_url);
        char *out = malloc(base + strlen("/v1/files") + 3 * strlen(file) + 1);
        if (!out)
                return NULL;
        char *p = out;
        memcpy(p, public_url, base);
        p += base;
        p = stpcpy(p, "/v1/files");
        for (const unsigned char *s = (const unsigned char *) file; *s; s++) {
                if (is_unreserved(*s) || *s == '/')
                        *p++ = (char) *s;
                else
                        p += sprintf(p, "%%%02X", *s);
        }
        *p = '\0';
        return out;
}

void boot_spec_done(BootSpec *spec) {
        free(spec->kernel);
        for (size_t i = 0; i < spec->n_initrd; i++)
                free(spec->initrd[i]);
        free(spec->initrd);
        free(spec->cmdline);
        *spec = (BootSpec) { 0 };
}

int boot_spec_build(const Node *n, const char *public_url, const char *token, BootSpec *ret) {
        _cleanup_(boot_spec_done) BootSpec s = { 0 };
        if (n->mode != NODE_MODE_INSTALL)
                return -EINVAL;

        s.kernel = boot_file_url(public_url, n->boot.kernel);
        s.initrd = calloc(n->boot.n_initrd + 1, sizeof(char *));
        if (!s.kernel || !s.initrd)
                return -ENOMEM;
        for (size_t i = 0; i < n->boot.n_initrd; i++) {
                s.initrd[i] = boot_file_url(public_url, n->boot.initrd[i]);
                if (!s.initrd[i])
                        return -ENOMEM;
                s.n_initrd++;
        }

        size_t base = url_base_len(public_url);
        if (asprintf(&s.cmdline, "%s%snixos.install=%s provd.url=%.*s provd.token=%s provd.node=%s",
                     n->boot.cmdline, n->boot.cmdline[0] ? " " : "", n->install, (int) base, public_url, token,
                     n->name) < 0) {
                s.cmdline = NULL;
                return -ENOMEM;
        }

        *ret = s;
        s = (BootSpec) { 0 };
        return 0;
}

char *boot_overlay_url(const char *public_url, const char *token) {
        char *s = NULL;
        if (asprintf(&s, "%.*s/v1/overlay/%s", (int) url_base_len(public_url), public_url, token) < 0)
                return NULL;
        return s;
}

int boot_spec_build_image(const Node *n, const char *public_url, const char *token, BootSpec *ret) {
        _cleanup_(boot_spec_done) BootSpec s = { 0 };
        if (!n->image)
                return -EINVAL;
        const InventoryBoot *b = &n->image->boot;

        s.kernel = boot_file_url(public_url, b->kernel);
        s.initrd = calloc(b->n_initrd + 2, sizeof(char *));
        if (!s.kernel || !s.initrd)
                return -ENOMEM;
        for (size_t i = 0; i < b->n_initrd; i++) {
                s.initrd[i] = boot_file_url(public_url, b->initrd[i]);
                if (!s.initrd[i])
                        return -ENOMEM;
                s.n_initrd++;
        }
        s.initrd[s.n_initrd] = boot_overlay_url(public_url, token);
        if (!s.initrd[s.n_initrd])
                return -ENOMEM;
        s.n_initrd++;

        const char *cmdline = b->cmdline ? b->cmdline : "";
        size_t base = url_base_len(public_url);
        if (asprintf(&s.cmdline, "%s%sinit=%s provd.url=%.*s provd.token=%s provd.node=%s", cmdline,
                     cmdline[0] ? " " : "", n->image->init, (int) base, public_url, token, n->name) < 0) {
                s.cmdline = NULL;
                return -ENOMEM;
        }

        *ret = s;
        s = (BootSpec) { 0 };
        return 0;
}

char *boot_spec_to_pixiecore_json(const BootSpec *spec) {
        _cleanup_(json_decrefp) json_t *o = json_object();
        json_t *initrd = json_array();
        if (!o || !initrd || json_object_set_new(o, "initrd", initrd) < 0)
                return NULL;
        for (size_t i = 0; i < spec->n_initrd; i++)
                if (json_array_append_new(initrd, json_string(spec->initrd[i])) < 0)
                        return NULL;
        if (json_object_set_new(o, "kernel", json_string(spec->kernel)) < 0 ||
            json_object_set_new(o, "cmdline", json_string(spec->cmdline)) < 0)
                return NULL;
        return json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
}
