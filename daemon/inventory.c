/* inventory.c — see inventory.h. */
#include "inventory.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ipmi.h"
#include "util.h"

/* ---- the string pool ---------------------------------------------------------------------
 * Every string and array of an inventory's nodes, bump-allocated from blocks mapped on their
 * own (mmap(2)): they cost no malloc header each, do not interleave with anything else on the
 * heap, and go back to the kernel whole when the inventory is freed (a reload frees the old
 * one).  Strings nodes usually share are interned: one copy, found through a hash set that
 * exists only while parsing. */

#define POOL_BLOCK_SIZE ((size_t) 1 << 20)

typedef struct PoolBlock {
        struct PoolBlock *next;
        size_t size; /* bytes mapped, this header included */
        size_t used;
} PoolBlock;

typedef struct Interned {
        uint64_t hash;
        char *s; /* in the pool; NULL: an empty slot */
} Interned;

/* How many strings interned last are remembered (a power of two): nodes next to each other
 * in a file usually share their rack, boot files and system, so most strings are one of them,
 * found without hashing. */
#define POOL_RECENT 16

struct InventoryPool {
        PoolBlock *blocks; /* the newest first */
        Interned *interned; /* while parsing: open-addressing set of interned strings */
        size_t interned_mask, n_interned;
        struct {
                const char *s; /* in the pool, NULL: none */
                size_t len;
        } recent[POOL_RECENT]; /* while parsing: slot = the length and last byte, hashed */
};

/* Every byte of the key, eight at a time, each word multiplied in (FNV's prime after an
 * xor, rotated), then a final avalanche (MurmurHash3's fmix64) so that the low bits used as
 * the table index depend on every byte.  Unseeded: the keys come from the inventory, which
 * the administrator writes; a request only looks keys up. */
static uint64_t hash_bytes(const char *s, size_t n) {
        uint64_t h = 0xcbf29ce484222325ULL ^ n;
        for (; n >= 8; s += 8, n -= 8) {
                uint64_t w;
                memcpy(&w, s, 8);
                h = (h ^ w) * 0x100000001b3ULL;
                h = (h << 29) | (h >> 35);
        }
        if (n > 0) {
                uint64_t w = 0;
                memcpy(&w, s, n);
                h = (h ^ w) * 0x100000001b3ULL;
        }
        h ^= h >> 33;
        h *= 0xff51afd7ed558ccdULL;
        h ^= h >> 33;
        h *= 0xc4ceb9fe1a85ec53ULL;
        h ^= h >> 33;
        return h;
}

static uint64_t hash_string(const char *s) {
        return hash_bytes(s, strlen(s));
}

static void pool_free(InventoryPool *p) {
        if (!p)
                return;
        while (p->blocks) {
                PoolBlock *next = p->blocks->next;
                munmap(p->blocks, p->blocks->size);
                p->blocks = next;
        }
        free(p->interned);
        free(p);
}

/* size bytes aligned to `align` (a power of two) from the pool; NULL when out of memory. */
static void *pool_alloc(InventoryPool *p, size_t size, size_t align) {
        PoolBlock *b = p->blocks;
        size_t at = b ? (b->used + align - 1) & ~(align - 1) : 0;
        if (!b || at + size > b->size) {
                size_t need = (sizeof(PoolBlock) + size + align + 4095) & ~(size_t) 4095;
                size_t bytes = need > POOL_BLOCK_SIZE ? need : POOL_BLOCK_SIZE;
                void *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
                if (m == MAP_FAILED)
                        return NULL;
                b = m;
                *b = (PoolBlock) { .next = p->blocks, .size = bytes, .used = sizeof(PoolBlock) };
                p->blocks = b;
                at = (b->used + align - 1) & ~(align - 1);
        }
        b->used = at + size;
        return (char *) b + at;
}

static char *pool_strdup(InventoryPool *p, const char *s) {
        size_t n = strlen(s) + 1;
        char *c = pool_alloc(p, n, 1);
        return c ? memcpy(c, s, n) : NULL;
}

/* The pool's copy of s, the same pointer for equal strings; with `recent_only`, the same
 * pointer only as one of the strings interned last, else a copy of its own (for strings
 * usually unique to a node, which would only fill the set). */
static char *pool_intern(InventoryPool *p, const char *s, bool recent_only) {
        size_t n = strlen(s);
        size_t r = (n * 31 + (n ? (unsigned char) s[n - 1] : 0)) & (POOL_RECENT - 1);
        if (p->recent[r].s && p->recent[r].len == n && memcmp(p->recent[r].s, s, n) == 0)
                return (char *) p->recent[r].s;
        if (recent_only) {
                char *c = pool_alloc(p, n + 1, 1);
                if (!c)
                        return NULL;
                memcpy(c, s, n + 1);
                p->recent[r].s = c;
                p->recent[r].len = n;
                return c;
        }
        if (p->n_interned * 2 >= p->interned_mask) {
                size_t cap = p->interned_mask ? (p->interned_mask + 1) * 2 : 256;
                Interned *t = calloc(cap, sizeof *t);
                if (!t)
                        return NULL;
                for (size_t i = 0; p->interned && i <= p->interned_mask; i++) {
                        if (!p->interned[i].s)
                                continue;
                        size_t k = p->interned[i].hash & (cap - 1);
                        while (t[k].s)
                                k = (k + 1) & (cap - 1);
                        t[k] = p->interned[i];
                }
                free(p->interned);
                p->interned = t;
                p->interned_mask = cap - 1;
        }
        uint64_t h = hash_bytes(s, n);
        size_t k = h & p->interned_mask;
        for (; p->interned[k].s; k = (k + 1) & p->interned_mask)
                if (p->interned[k].hash == h && streq(p->interned[k].s, s))
                        break;
        char *c = p->interned[k].s;
        if (!c) {
                c = pool_alloc(p, n + 1, 1);
                if (!c)
                        return NULL;
                memcpy(c, s, n + 1);
                p->interned[k] = (Interned) { .hash = h, .s = c };
                p->n_interned++;
        }
        p->recent[r].s = c;
        p->recent[r].len = n;
        return c;
}

/* ---- lookup tables ------------------------------------------------------------------------- */

static int index_init(InventoryIndex *ix, size_t n) {
        size_t cap = 16;
        while (cap < 2 * n + 2)
                cap *= 2;
        ix->slots = calloc(cap, sizeof *ix->slots);
        if (!ix->slots)
                return -ENOMEM;
        ix->mask = cap - 1;
        return 0;
}

/* The key of value v (a slot's content minus one) of table ix of inv. */
typedef const char *(*IndexKeyFn)(const Inventory *inv, uint32_t v);

static const char *key_of_name(const Inventory *inv, uint32_t v) {
        return inv->nodes[v].name;
}

static const char *key_of_mac(const Inventory *inv, uint32_t v) {
        return inv->nodes[v / INVENTORY_MAX_MACS_PER_NODE].macs[v % INVENTORY_MAX_MACS_PER_NODE];
}

static const char *key_of_file(const Inventory *inv, uint32_t v) {
        return inv->files[v];
}

/* Finds `key` in ix: returns its slot (holding the value + 1, or 0 when the key is absent:
 * where it would go). */
static uint32_t *index_slot(const Inventory *inv, const InventoryIndex *ix, IndexKeyFn key_of, const char *key) {
        if (!ix->slots)
                return NULL;
        size_t k = hash_string(key) & ix->mask;
        for (; ix->slots[k]; k = (k + 1) & ix->mask)
                if (streq(key_of(inv, ix->slots[k] - 1), key))
                        break;
        return &ix->slots[k];
}

static bool index_get(const Inventory *inv, const InventoryIndex *ix, IndexKeyFn key_of, const char *key,
                      uint32_t *ret) {
        uint32_t *slot = index_slot(inv, ix, key_of, key);
        if (!slot || !*slot)
                return false;
        *ret = *slot - 1;
        return true;
}

/* Error context while validating one node. */
typedef struct Ctx {
        char *err; /* the caller's message buffer, or NULL */
        size_t errlen;
        size_t index;     /* node index in "nodes" */
        const char *name; /* node name once known */
        const char *image; /* while parsing "images": the image's name (errors name it, not a node) */
        size_t n_stateless; /* stateless nodes so far: their images are resolved after the document */
        InventoryPool *pool; /* the inventory's: where strings are copied to */
        const struct Reuse *reuse; /* borrowed, read-only (shared by both parsing threads); NULL: none */
        const Inventory *prev; /* borrowed: the inventory this one replaces, or NULL */
        size_t n_reused; /* nodes copied from prev so far */
} Ctx;

static int fail(Ctx *c, const char *field, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(Ctx *c, const char *field, const char *fmt, ...) {
        if (!c->err || c->errlen == 0)
                return -EINVAL;

        char msg[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);

        if (c->image && field)
                return errbuf_fail(-EINVAL, c->err, c->errlen, "image \"%s\": field \"%s\": %s", c->image, field, msg);
        if (c->image)
                return errbuf_fail(-EINVAL, c->err, c->errlen, "image \"%s\": %s", c->image, msg);
        if (c->name)
                return errbuf_fail(-EINVAL, c->err, c->errlen, "node \"%s\" (nodes[%zu]): field \"%s\": %s",
                                   c->name, c->index, field, msg);
        if (field)
                return errbuf_fail(-EINVAL, c->err, c->errlen, "nodes[%zu]: field \"%s\": %s", c->index, field,
                                   msg);
        return errbuf_fail(-EINVAL, c->err, c->errlen, "%s", msg);
}

bool inventory_is_url(const char *s) {
        return startswith(s, "http://") || startswith(s, "https://");
}

static bool has_control_chars(const char *s) {
        for (const unsigned char *p = (const unsigned char *) s; *p; p++)
                if (*p < 0x20 || *p == 0x7f)
                        return true;
        return false;
}

/* Absolute, no empty, "." or ".." components, no trailing slash, no control characters. */
static const char *path_problem(const char *p) {
        if (p[0] != '/')
                return "must be an absolute path (start with \"/\")";
        if (strlen(p) >= 4096)
                return "is longer than PATH_MAX";
        if (has_control_chars(p))
                return "contains control characters";
        if (p[1] == '\0')
                return "names the root directory";
        const char *c = p + 1;
        for (;;) {
                const char *end = strchrnul(c, '/');
                size_t n = (size_t) (end - c);
                if (n == 0)
                        return "has an empty component (\"//\" or a trailing \"/\")";
                if ((n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
                        return "has a \".\" or \"..\" component";
                if (*end == '\0')
                        return NULL;
                c = end + 1;
        }
}

static bool name_valid(const char *s) {
        size_t n = strlen(s);
        if (n == 0 || n > INVENTORY_NAME_MAX)
                return false;
        for (size_t i = 0; i < n; i++) {
                char ch = s[i];
                bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                          (ch >= '0' && ch <= '9') || (i > 0 && (ch == '-' || ch == '_' || ch == '.'));
                if (!ok)
                        return false;
        }
        return true;
}

/* Rejects keys of obj not in the NULL-terminated list `known`. */
static int check_keys(Ctx *c, json_t *obj, const char *prefix, const char *const *known) {
        const char *key;
        json_t *v;
        json_object_foreach(obj, key, v) {
                bool found = false;
                for (const char *const *k = known; *k && !found; k++)
                        found = streq(*k, key);
                if (!found) {
                        char field[128];
                        snprintf(field, sizeof field, "%s%s", prefix, key);
                        return fail(c, field, "unknown field (a typo?)");
                }
        }
        return 0;
}

/* Gets a required (or optional, when ret may stay NULL) string member. */
static int get_string(Ctx *c, json_t *obj, const char *key, const char *field, bool required,
                      const char **ret) {
        json_t *v = json_object_get(obj, key);
        if (!v) {
                if (required)
                        return fail(c, field, "missing");
                *ret = NULL;
                return 0;
        }
        if (!json_is_string(v))
                return fail(c, field, "must be a string");
        *ret = json_string_value(v);
        return 0;
}

/* Copies s (NULL stays NULL) into the pool, interned when `shared`. */
static int dup_string(Ctx *c, const char *s, bool shared, char **ret) {
        if (!s) {
                *ret = NULL;
                return 0;
        }
        *ret = shared ? pool_intern(c->pool, s, false) : pool_strdup(c->pool, s);
        return *ret ? 0 : -ENOMEM;
}

/* Boot file: an absolute clean path, or an http(s) URL. */
static int get_boot_file(Ctx *c, json_t *v, const char *field, char **ret) {
        if (!json_is_string(v))
                return fail(c, field, "must be a string (absolute path or http(s):// URL)");
        const char *s = json_string_value(v);
        if (inventory_is_url(s)) {
                const char *host = strstr(s, "://") + 3;
                if (*host == '\0' || *host == '/')
                        return fail(c, field, "URL \"%s\" has no host", s);
                for (const unsigned char *p = (const unsigned char *) s; *p; p++)
                        if (*p <= 0x20 || *p == 0x7f || *p == '"')
                                return fail(c, field, "URL \"%s\" contains a space, quote or control character", s);
                if (strstr(s, "${"))
                        return fail(c, field, "URL \"%s\" contains \"${\", which iPXE expands as a setting", s);
        } else {
                const char *why = path_problem(s);
                if (why)
                        return fail(c, field, "\"%s\" %s", s, why);
        }
        return dup_string(c, s, true, ret);
}

static bool store_path_char(char ch) {
        return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
               ch == '+' || ch == '-' || ch == '.' || ch == '_' || ch == '?' || ch == '=' || ch == '/';
}

static int get_store_path(Ctx *c, json_t *obj, const char *key, const char *field, char **ret) {
        const char *s = NULL;
        int r = get_string(c, obj, key, field, true, &s);
        if (r < 0)
                return r;
        const char *why = path_problem(s);
        if (why)
                return fail(c, field, "\"%s\" %s", s, why);
        if (!startswith(s, "/nix/store/") || strlen(s) <= strlen("/nix/store/"))
                return fail(c, field, "\"%s\" is not a Nix store path (/nix/store/...)", s);
        /* It goes on the kernel command line: only what Nix allows in store path names
         * (A-Z a-z 0-9 + - . _ ? =) and "/", so it can neither split a word nor open a
         * pixiecore template ("{{") or an iPXE setting ("${"). */
        for (const char *p = s; *p; p++)
                if (!store_path_char(*p))
                        return fail(c, field, "\"%s\" has a character that is not valid in a Nix store path ('%c')", s, *p);
        /* A node's system is usually its own (its host name is in it): shared only with the
         * nodes just before it, without filling the set of interned strings. */
        *ret = pool_intern(c->pool, s, true);
        return *ret ? 0 : -ENOMEM;
}

/* The checks of a kernel command line from the inventory; `field` names it in messages. */
static int check_cmdline(Ctx *c, const char *s, const char *field) {
        if (strlen(s) > INVENTORY_MAX_CMDLINE)
                return fail(c, field, "longer than %d bytes", INVENTORY_MAX_CMDLINE);
        if (has_control_chars(s))
                return fail(c, field, "contains a newline or control character");
        if (strstr(s, "{{"))
                return fail(c, field, "contains \"{{\", which pixiecore's API mode reads as a Go template");
        if (strstr(s, "${"))
                return fail(c, field, "contains \"${\", which iPXE expands as a setting");
        if (strchr(s, '"'))
                return fail(c, field, "contains a double quote");
        /* Words provd appends itself. */
        const char *p = s;
        while (*p) {
                while (*p == ' ')
                        p++;
                if (startswith(p, "provd.") || startswith(p, "nixos.install="))
                        return fail(c, field,
                                    "sets \"%.*s\", which provd appends itself", (int) strcspn(p, " ="), p);
                p += strcspn(p, " ");
        }
        return 0;
}

void inventory_free(Inventory *inv) {
        if (!inv)
                return;
        free(inv->nodes);
        free(inv->files);
        free(inv->by_mac.slots);
        free(inv->by_name.slots);
        free(inv->by_file.slots);
        free(inv->name_order);
        pool_free(inv->pool);
        free(inv);
}

const Node *inventory_find_mac(const Inventory *inv, const char *mac) {
        uint32_t v;
        return index_get(inv, &inv->by_mac, key_of_mac, mac, &v) ? &inv->nodes[v / INVENTORY_MAX_MACS_PER_NODE] : NULL;
}

const Node *inventory_find_name(const Inventory *inv, const char *name) {
        uint32_t v;
        return index_get(inv, &inv->by_name, key_of_name, name, &v) ? &inv->nodes[v] : NULL;
}

bool inventory_has_file(const Inventory *inv, const char *path) {
        uint32_t v;
        return index_get(inv, &inv->by_file, key_of_file, path, &v);
}

static int parse_bmc(Ctx *c, json_t *b, Node *n) {
        static const char *const keys[] = { "host",         "port",       "user", "password_file",
                                            "cipher_suite", "workarounds", "boot_mode", "console", NULL };
        const char *host = NULL, *user = NULL, *pwf = NULL, *mode = NULL, *console = NULL;
        int r;

        if (!json_is_object(b))
                return fail(c, "bmc", "must be an object");
        r = check_keys(c, b, "bmc.", keys);
        if (r < 0)
                return r;
        r = get_string(c, b, "host", "bmc.host", true, &host);
        if (r < 0)
                return r;
        if (host[0] == '\0' || has_control_chars(host) || strchr(host, ' '))
                return fail(c, "bmc.host", "\"%s\" is not a host name or address", host);
        n->bmc.port = 623;
        json_t *port = json_object_get(b, "port");
        if (port) {
                if (!json_is_integer(port) || json_integer_value(port) < 1 || json_integer_value(port) > 65535)
                        return fail(c, "bmc.port", "must be an integer from 1 to 65535");
                n->bmc.port = (uint16_t) json_integer_value(port);
        }
        r = get_string(c, b, "user", "bmc.user", false, &user);
        if (r < 0)
                return r;
        r = get_string(c, b, "password_file", "bmc.password_file", false, &pwf);
        if (r < 0)
                return r;
        if (pwf) {
                const char *why = path_problem(pwf);
                if (why)
                        return fail(c, "bmc.password_file", "\"%s\" %s", pwf, why);
        }
        if (user && strlen(user) > 16)
                return fail(c, "bmc.user", "\"%s\" is longer than 16 bytes (IPMI v2.0 §22.28)", user);
        n->bmc.cipher_suite = 3;
        json_t *cs = json_object_get(b, "cipher_suite");
        if (cs) {
                /* §22.15.2: suites 1-17 (and OEM 0x80-0xBF); 0 has no authentication at all. */
                if (!json_is_integer(cs) || json_integer_value(cs) < 1 || json_integer_value(cs) > 17)
                        return fail(c, "bmc.cipher_suite", "must be an integer from 1 to 17 (IPMI v2.0 §22.15.2; 3 is common)");
                n->bmc.cipher_suite = (uint8_t) json_integer_value(cs);
        }
        r = get_string(c, b, "console", "bmc.console", false, &console);
        if (r < 0)
                return r;
        n->bmc.console = SOL_BACKEND_IPMICONSOLE;
        if (console && sol_backend_from_string(console, &n->bmc.console) < 0)
                return fail(c, "bmc.console", "\"%s\" is not ipmiconsole, ipmitool or none", console);
        json_t *wa = json_object_get(b, "workarounds");
        if (wa) {
                size_t i;
                json_t *v;
                if (!json_is_array(wa))
                        return fail(c, "bmc.workarounds", "must be an array of FreeIPMI workaround names");
                json_array_foreach(wa, i, v) {
                        char field[48], err[256];
                        snprintf(field, sizeof field, "bmc.workarounds[%zu]", i);
                        if (!json_is_string(v))
                                return fail(c, field, "must be a string");
                        /* One list for both: the chassis commands take the IPMI 2.0 session
                         * names and ignore the SOL-only ones (solpayloadsize, ...); the
                         * console backend takes every ipmiconsole(8) name. */
                        const char *name = json_string_value(v);
                        char sol_err[256];
                        unsigned sol_only = 0;
                        if (ipmi_workaround_parse_one(name, &n->bmc.workarounds, err, sizeof err) < 0 &&
                            sol_workaround_parse_one(SOL_BACKEND_IPMICONSOLE, name, &sol_only, sol_err,
                                                     sizeof sol_err) < 0)
                                return fail(c, field, "%s", startswith(err, "unknown") ? sol_err : err);
                        if (sol_workaround_parse_one(n->bmc.console, name, &n->bmc.sol_workarounds, err, sizeof err) < 0)
                                return fail(c, field, "%s", err);
                }
        }
        r = get_string(c, b, "boot_mode", "bmc.boot_mode", false, &mode);
        if (r < 0)
                return r;
        if (mode && !streq(mode, "legacy") && !streq(mode, "efi"))
                return fail(c, "bmc.boot_mode", "\"%s\" is not legacy or efi", mode);
        n->bmc.efi = mode && streq(mode, "efi");
        n->has_bmc = true;
        if (dup_string(c, host, false, &n->bmc.host) < 0 || dup_string(c, user, true, &n->bmc.user) < 0 ||
            dup_string(c, pwf, true, &n->bmc.password_file) < 0)
                return -ENOMEM;
        return 0;
}

static int parse_boot(Ctx *c, json_t *b, Node *n) {
        static const char *const keys[] = { "kernel", "initrd", "cmdline", NULL };
        const char *cmdline = NULL;
        int r;

        if (!b)
                return fail(c, "boot", "missing");
        if (!json_is_object(b))
                return fail(c, "boot", "must be an object");
        r = check_keys(c, b, "boot.", keys);
        if (r < 0)
                return r;

        json_t *k = json_object_get(b, "kernel");
        if (!k)
                return fail(c, "boot.kernel", "missing");
        r = get_boot_file(c, k, "boot.kernel", &n->boot.kernel);
        if (r < 0)
                return r;

        json_t *i = json_object_get(b, "initrd");
        if (!i)
                return fail(c, "boot.initrd", "missing");
        if (!json_is_array(i))
                return fail(c, "boot.initrd", "must be an array of paths or URLs (pixiecore rejects a string)");
        if (json_array_size(i) > INVENTORY_MAX_INITRDS)
                return fail(c, "boot.initrd", "more than %d entries", INVENTORY_MAX_INITRDS);
        n->boot.initrd = pool_alloc(c->pool, (json_array_size(i) + 1) * sizeof(char *), sizeof(char *));
        if (!n->boot.initrd)
                return -ENOMEM;
        size_t idx;
        json_t *v;
        json_array_foreach(i, idx, v) {
                char field[48] = "boot.initrd[0]";
                if (idx > 0) /* the name only matters in a message: no formatting for the first */
                        snprintf(field, sizeof field, "boot.initrd[%zu]", idx);
                n->boot.initrd[idx] = NULL;
                r = get_boot_file(c, v, field, &n->boot.initrd[idx]);
                if (r < 0)
                        return r;
                n->boot.n_initrd++;
        }

        r = get_string(c, b, "cmdline", "boot.cmdline", true, &cmdline);
        if (r < 0)
                return r;
        r = check_cmdline(c, cmdline, "boot.cmdline");
        if (r < 0)
                return r;
        return dup_string(c, cmdline, true, &n->boot.cmdline);
}

/* ---- images, modes and overlays --------------------------------------------------------- */

/* Whether a and b (absolute clean paths) are the same path or one is inside the other: two
 * overlay entries at such paths would be a file and a directory of the same name. */
static bool path_clash(const char *a, const char *b) {
        size_t na = strlen(a), nb = strlen(b), n = na < nb ? na : nb;
        return strncmp(a, b, n) == 0 && (na == nb || (na < nb ? b : a)[n] == '/');
}

/* The paths of a node's overlay that provd writes itself (see overlay.h). */
static const char *const overlay_own_paths[] = { "/etc/hostname", "/var/lib/provd-node", "/etc/provd" };

/* Overlay file mode: an octal string ("0600", "644", "04755") of at most 07777.  A JSON
 * number is refused: 600 would be read as decimal. */
static int get_file_mode(Ctx *c, json_t *v, const char *field, uint32_t *ret) {
        if (!json_is_string(v))
                return fail(c, field, "must be an octal string such as \"0600\" (a JSON number would be read as decimal)");
        const char *s = json_string_value(v);
        size_t len = strlen(s);
        uint32_t mode = 0;
        if (len == 0 || len > 5 || strspn(s, "01234567") != len)
                return fail(c, field, "\"%s\" is not an octal mode such as \"0600\"", s);
        for (const char *p = s; *p; p++)
                mode = mode * 8 + (uint32_t) (*p - '0');
        if (mode > 07777)
                return fail(c, field, "\"%s\" is more than 07777 (permission, setuid, setgid and sticky bits only)", s);
        *ret = mode;
        return 0;
}

/* Overlay file owner: an integer from 0 to 2^31-1. */
static int get_file_id(Ctx *c, json_t *v, const char *field, uint32_t *ret) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > INT32_MAX)
                return fail(c, field, "must be an integer from 0 to 2147483647");
        *ret = (uint32_t) json_integer_value(v);
        return 0;
}

/* A stateless node's "overlay": {"files": [{"path", "source", "mode", "uid", "gid"}, ...]}. */
static int parse_overlay(Ctx *c, json_t *ov, Node *n) {
        static const char *const keys[] = { "files", NULL };
        static const char *const file_keys[] = { "path", "source", "mode", "uid", "gid", NULL };
        int r;

        if (!json_is_object(ov))
                return fail(c, "overlay", "must be an object {\"files\": [...]}");
        r = check_keys(c, ov, "overlay.", keys);
        if (r < 0)
                return r;
        json_t *files = json_object_get(ov, "files");
        if (!files)
                return 0;
        if (!json_is_array(files))
                return fail(c, "overlay.files", "must be an array of {\"path\": ..., \"source\": ...} objects");
        if (json_array_size(files) > INVENTORY_MAX_OVERLAY_FILES)
                return fail(c, "overlay.files", "more than %d files", INVENTORY_MAX_OVERLAY_FILES);
        n->overlay_files = pool_alloc(c->pool, (json_array_size(files) + 1) * sizeof(InventoryOverlayFile),
                                      _Alignof(InventoryOverlayFile));
        if (!n->overlay_files)
                return -ENOMEM;

        size_t i;
        json_t *f;
        json_array_foreach(files, i, f) {
                InventoryOverlayFile *of = &n->overlay_files[i];
                char prefix[40], field[56];
                const char *path = NULL, *source = NULL, *why;
                json_t *v;

                snprintf(prefix, sizeof prefix, "overlay.files[%zu]", i);
                if (!json_is_object(f))
                        return fail(c, prefix, "must be an object {\"path\": ..., \"source\": ...}");
                snprintf(field, sizeof field, "%s.", prefix);
                r = check_keys(c, f, field, file_keys);
                if (r < 0)
                        return r;

                snprintf(field, sizeof field, "%s.path", prefix);
                r = get_string(c, f, "path", field, true, &path);
                if (r < 0)
                        return r;
                if ((why = path_problem(path)))
                        return fail(c, field, "\"%s\" %s", path, why);
                for (size_t k = 0; k < ELEMENTSOF(overlay_own_paths); k++)
                        if (path_clash(path, overlay_own_paths[k]))
                                return fail(c, field, "\"%s\" clashes with %s, which provd writes itself", path,
                                            overlay_own_paths[k]);
                for (size_t k = 0; k < i; k++)
                        if (path_clash(path, n->overlay_files[k].path))
                                return fail(c, field, "\"%s\" clashes with overlay.files[%zu] (\"%s\"): %s", path, k,
                                            n->overlay_files[k].path,
                                            streq(path, n->overlay_files[k].path) ? "the same path"
                                                                                   : "one is inside the other");

                snprintf(field, sizeof field, "%s.source", prefix);
                r = get_string(c, f, "source", field, true, &source);
                if (r < 0)
                        return r;
                if ((why = path_problem(source)))
                        return fail(c, field, "\"%s\" %s", source, why);
                if (streq(source, "/nix/store") || startswith(source, "/nix/store/"))
                        return fail(c, field, "\"%s\" is in the Nix store, which every user can read: keep the file outside it",
                                    source);

                *of = (InventoryOverlayFile) { .mode = 0600 };
                if ((v = json_object_get(f, "mode"))) {
                        snprintf(field, sizeof field, "%s.mode", prefix);
                        r = get_file_mode(c, v, field, &of->mode);
                        if (r < 0)
                                return r;
                }
                if ((v = json_object_get(f, "uid"))) {
                        snprintf(field, sizeof field, "%s.uid", prefix);
                        r = get_file_id(c, v, field, &of->uid);
                        if (r < 0)
                                return r;
                }
                if ((v = json_object_get(f, "gid"))) {
                        snprintf(field, sizeof field, "%s.gid", prefix);
                        r = get_file_id(c, v, field, &of->gid);
                        if (r < 0)
                                return r;
                }
                /* Paths are usually the same on every node (an SSH host key), sources not. */
                if (dup_string(c, path, true, &of->path) < 0 || dup_string(c, source, false, &of->source) < 0)
                        return -ENOMEM;
                n->n_overlay_files++;
        }
        return 0;
}

/* parse_node()'s part for "mode", "image" and "overlay": fills n->mode and checks which fields
 * the mode allows.  A stateless node's overlay files are parsed; its image may be defined later
 * in the document, so its name waits in n->toplevel until resolve_images() replaces it with
 * the image's toplevel. */
static int parse_node_mode(Ctx *c, json_t *o, Node *n) {
        const char *mode = NULL, *image = NULL;
        int r;

        r = get_string(c, o, "mode", "mode", false, &mode);
        if (r < 0)
                return r;
        if (!mode || streq(mode, "install")) {
                n->mode = NODE_MODE_INSTALL;
                if (json_object_get(o, "image"))
                        return fail(c, "image", "only a stateless node has an image (\"mode\": \"stateless\"); an install node boots \"boot\"");
                if (json_object_get(o, "overlay"))
                        return fail(c, "overlay", "only a stateless node has an overlay (\"mode\": \"stateless\")");
                return 0;
        }
        if (!streq(mode, "stateless"))
                return fail(c, "mode", "\"%s\" is not install or stateless", mode);
        n->mode = NODE_MODE_STATELESS;
        if (json_object_get(o, "boot"))
                return fail(c, "boot", "a stateless node boots its image; boot is not allowed");
        if (json_object_get(o, "system"))
                return fail(c, "system", "a stateless node runs its image's system; system is not allowed");

        r = get_string(c, o, "image", "image", true, &image);
        if (r < 0)
                return r;
        if (!name_valid(image))
                return fail(c, "image", "\"%s\" is not a valid image name", image);
        r = dup_string(c, image, true, &n->toplevel);
        if (r < 0)
                return r;
        c->n_stateless++;

        json_t *ov = json_object_get(o, "overlay");
        if (!ov || json_is_null(ov))
                return 0;
        return parse_overlay(c, ov, n);
}

/* One entry of "images" into *img (strings in the pool). */
static int parse_image(Ctx *c, const char *name, json_t *o, InventoryImage *img) {
        static const char *const keys[] = { "kernel", "initrd", "init", "toplevel", "cmdline", NULL };
        const char *cmdline = NULL;
        int r;

        if (!name_valid(name))
                return fail(c, NULL, "not a valid image name (1-%d of A-Z a-z 0-9 . _ -, starting with a letter or digit)",
                            INVENTORY_NAME_MAX);
        if (!json_is_object(o))
                return fail(c, NULL, "must be an object {\"kernel\", \"initrd\", \"init\", \"toplevel\"}");
        r = check_keys(c, o, "", keys);
        if (r < 0)
                return r;
        *img = (InventoryImage) { 0 };
        r = dup_string(c, name, false, &img->name);
        if (r < 0)
                return r;

        json_t *k = json_object_get(o, "kernel");
        if (!k)
                return fail(c, "kernel", "missing");
        r = get_boot_file(c, k, "kernel", &img->boot.kernel);
        if (r < 0)
                return r;

        /* The overlay is one more initrd: the answer stays within INVENTORY_MAX_INITRDS. */
        json_t *i = json_object_get(o, "initrd");
        if (!i)
                return fail(c, "initrd", "missing");
        if (!json_is_array(i))
                return fail(c, "initrd", "must be an array of paths or URLs");
        if (json_array_size(i) > INVENTORY_MAX_INITRDS - 1)
                return fail(c, "initrd", "more than %d entries (the node's overlay is one more)",
                            INVENTORY_MAX_INITRDS - 1);
        img->boot.initrd = pool_alloc(c->pool, (json_array_size(i) + 1) * sizeof(char *), sizeof(char *));
        if (!img->boot.initrd)
                return -ENOMEM;
        size_t idx;
        json_t *v;
        json_array_foreach(i, idx, v) {
                char field[32];
                snprintf(field, sizeof field, "initrd[%zu]", idx);
                img->boot.initrd[idx] = NULL;
                r = get_boot_file(c, v, field, &img->boot.initrd[idx]);
                if (r < 0)
                        return r;
                img->boot.n_initrd++;
        }

        r = get_store_path(c, o, "init", "init", &img->init);
        if (r < 0)
                return r;
        r = get_store_path(c, o, "toplevel", "toplevel", &img->toplevel);
        if (r < 0)
                return r;

        r = get_string(c, o, "cmdline", "cmdline", false, &cmdline);
        if (r < 0)
                return r;
        if (!cmdline)
                cmdline = "";
        r = check_cmdline(c, cmdline, "cmdline");
        if (r < 0)
                return r;
        for (const char *p = cmdline; *p; p += strcspn(p, " ")) {
                p += strspn(p, " ");
                if (startswith(p, "init="))
                        return fail(c, "cmdline", "sets \"init=\", which provd appends itself (from \"init\")");
        }
        return dup_string(c, cmdline, true, &img->boot.cmdline);
}

static int image_name_cmp(const void *a, const void *b) {
        return strcmp(((const InventoryImage *) a)->name, ((const InventoryImage *) b)->name);
}

/* The top-level "images" object (already decoded: images are few) into inv->images, sorted by
 * name. */
static int parse_images(Ctx *c, json_t *v, Inventory *inv) {
        const char *name;
        json_t *o;
        int r;

        c->name = NULL; /* after "nodes", it still names the last node */
        if (!json_is_object(v))
                return fail(c, NULL, "\"images\" must be an object of images by name");
        if (json_object_size(v) > INVENTORY_MAX_IMAGES)
                return fail(c, NULL, "more than %d images", INVENTORY_MAX_IMAGES);
        inv->images = pool_alloc(c->pool, (json_object_size(v) + 1) * sizeof(InventoryImage), _Alignof(InventoryImage));
        if (!inv->images)
                return -ENOMEM;
        json_object_foreach(v, name, o) {
                c->image = name;
                r = parse_image(c, name, o, &inv->images[inv->n_images]);
                if (r < 0)
                        return r;
                inv->n_images++;
        }
        c->image = NULL;
        qsort(inv->images, inv->n_images, sizeof(InventoryImage), image_name_cmp);
        for (size_t i = 0; i < inv->n_images; i++)
                inv->images[i].index = i;
        return 0;
}

/* Points every stateless node at its image (named in n->toplevel until now, parse_node_mode()):
 * Node.image, Node.toplevel = the image's; Node.install stays NULL. */
static int resolve_images(Ctx *c, Inventory *inv) {
        for (size_t i = 0; i < inv->n_nodes; i++) {
                Node *n = &inv->nodes[i];
                if (n->mode != NODE_MODE_STATELESS)
                        continue;
                c->index = i;
                c->name = n->name;
                const InventoryImage *img = inventory_find_image(inv, n->toplevel);
                if (!img)
                        return fail(c, "image", "\"%s\" is not one of the inventory's \"images\"%s", n->toplevel,
                                    inv->n_images == 0 ? " (it has none)" : "");
                n->image = img;
                n->toplevel = img->toplevel;
                n->install = NULL;
        }
        return 0;
}

const InventoryImage *inventory_find_image(const Inventory *inv, const char *name) {
        size_t lo = 0, hi = inv->n_images;
        if (!name)
                return NULL;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int d = strcmp(inv->images[mid].name, name);
                if (d == 0)
                        return &inv->images[mid];
                if (d < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return NULL;
}

static int parse_node(Ctx *c, json_t *o, Node *n) {
        static const char *const keys[] = { "name", "rack", "mac", "bmc", "boot", "system", "mode", "image", "overlay", NULL };
        const char *name = NULL;
        int r;

        if (!json_is_object(o))
                return fail(c, NULL, "nodes[%zu] must be an object", c->index);
        r = get_string(c, o, "name", "name", true, &name);
        if (r < 0)
                return r;
        if (!name_valid(name))
                return fail(c, "name",
                            "\"%s\" is not a valid node name (1-%d of A-Z a-z 0-9 . _ -, starting with a letter or digit)",
                            name, INVENTORY_NAME_MAX);
        r = dup_string(c, name, false, &n->name);
        if (r < 0)
                return r;
        c->name = n->name;
        r = check_keys(c, o, "", keys);
        if (r < 0)
                return r;

        const char *rack = NULL;
        r = get_string(c, o, "rack", "rack", false, &rack);
        if (r < 0)
                return r;
        if (rack && !name_valid(rack))
                return fail(c, "rack", "\"%s\" is not a valid rack name (1-%d of A-Z a-z 0-9 . _ -)", rack,
                            INVENTORY_NAME_MAX);
        r = dup_string(c, rack, true, &n->rack);
        if (r < 0)
                return r;

        json_t *macs = json_object_get(o, "mac");
        if (!macs)
                return fail(c, "mac", "missing");
        if (!json_is_array(macs) || json_array_size(macs) == 0)
                return fail(c, "mac", "must be a non-empty array of MAC addresses");
        if (json_array_size(macs) > INVENTORY_MAX_MACS_PER_NODE)
                return fail(c, "mac", "more than %d MACs", INVENTORY_MAX_MACS_PER_NODE);
        n->macs = pool_alloc(c->pool, json_array_size(macs) * sizeof *n->macs, 1);
        if (!n->macs)
                return -ENOMEM;
        size_t idx;
        json_t *v;
        json_array_foreach(macs, idx, v) {
                char field[48] = "mac[0]";
                uint8_t m[6];
                if (idx > 0) /* the name only matters in a message: no formatting for the first */
                        snprintf(field, sizeof field, "mac[%zu]", idx);
                if (!json_is_string(v))
                        return fail(c, field, "must be a string");
                if (mac_parse(json_string_value(v), m) < 0)
                        return fail(c, field,
                                    "\"%s\" is not a MAC address (aa:bb:cc:dd:ee:ff, aa-bb-cc-dd-ee-ff or aabb.ccdd.eeff)",
                                    json_string_value(v));
                if (mac_is_unusable(m))
                        return fail(c, field, "\"%s\" is a multicast, broadcast or zero address",
                                    json_string_value(v));
                mac_format(m, n->macs[idx]);
                n->n_macs++;
        }

        json_t *bmc = json_object_get(o, "bmc");
        if (bmc && !json_is_null(bmc)) {
                r = parse_bmc(c, bmc, n);
                if (r < 0)
                        return r;
        }

        r = parse_node_mode(c, o, n);
        if (r < 0 || n->mode == NODE_MODE_STATELESS)
                return r;

        r = parse_boot(c, json_object_get(o, "boot"), n);
        if (r < 0)
                return r;

        json_t *sys = json_object_get(o, "system");
        static const char *const sys_keys[] = { "toplevel", "install", NULL };
        if (!sys)
                return fail(c, "system", "missing");
        if (!json_is_object(sys))
                return fail(c, "system", "must be an object");
        r = check_keys(c, sys, "system.", sys_keys);
        if (r < 0)
                return r;
        r = get_store_path(c, sys, "toplevel", "system.toplevel", &n->toplevel);
        if (r < 0)
                return r;
        return get_store_path(c, sys, "install", "system.install", &n->install);
}

static int name_order_cmp(const void *a, const void *b, void *userdata) {
        const Inventory *inv = userdata;
        return strcmp(inv->nodes[*(const uint32_t *) a].name, inv->nodes[*(const uint32_t *) b].name);
}

/* Fills inv->name_order.  Inventories generated from a Nix attribute set come sorted already:
 * one pass finds that out, and only an unsorted one is sorted. */
static int order_names(Inventory *inv) {
        bool sorted = true;
        inv->name_order = calloc(inv->n_nodes + 1, sizeof *inv->name_order);
        if (!inv->name_order)
                return -ENOMEM;
        for (size_t i = 0; i < inv->n_nodes; i++) {
                inv->name_order[i] = (uint32_t) i;
                if (i > 0 && strcmp(inv->nodes[i - 1].name, inv->nodes[i].name) > 0)
                        sorted = false;
        }
        if (sorted)
                return 0;
        qsort_r(inv->name_order, inv->n_nodes, sizeof *inv->name_order, name_order_cmp, inv);
        return 0;
}

size_t inventory_name_after(const Inventory *inv, const char *name) {
        size_t lo = 0, hi = inv->n_nodes;
        if (!name || !name[0])
                return 0;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (strcmp(inv->nodes[inv->name_order[mid]].name, name) <= 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

/* Adds boot file `path` to the served-file set unless it is a URL or there already; *cap_files:
 * the capacity of inv->files, grown (with the table) as needed. */
static int index_add_file(Inventory *inv, char *path, size_t *cap_files) {
        if (inventory_is_url(path))
                return 0;
        uint32_t *slot = index_slot(inv, &inv->by_file, key_of_file, path);
        if (*slot)
                return 0;
        if (inv->n_files + 1 >= *cap_files) { /* the table stays at most half full */
                char **files = reallocarray(inv->files, *cap_files * 2, sizeof(char *));
                if (!files)
                        return -ENOMEM;
                inv->files = files;
                *cap_files *= 2;
                free(inv->by_file.slots);
                inv->by_file = (InventoryIndex) { 0 };
                if (index_init(&inv->by_file, *cap_files) < 0)
                        return -ENOMEM;
                for (size_t k = 0; k < inv->n_files; k++)
                        *index_slot(inv, &inv->by_file, key_of_file, inv->files[k]) = (uint32_t) k + 1;
                slot = index_slot(inv, &inv->by_file, key_of_file, path);
        }
        inv->files[inv->n_files] = path;
        *slot = (uint32_t) ++inv->n_files;
        return 0;
}

/* Whether inv's nodes have prev's names and MACs at the same indexes: then prev's tables by
 * name and MAC and its name order are inv's too (their slots hold node indexes; the keys are
 * read through the inventory). */
static bool same_names_and_macs(const Inventory *inv, const Inventory *prev) {
        if (!prev || prev->n_nodes != inv->n_nodes)
                return false;
        for (size_t i = 0; i < inv->n_nodes; i++) {
                const Node *a = &inv->nodes[i], *b = &prev->nodes[i];
                if (a->n_macs != b->n_macs || !streq(a->name, b->name) ||
                    memcmp(a->macs, b->macs, a->n_macs * sizeof *a->macs) != 0)
                        return false;
        }
        return true;
}

static int index_copy(InventoryIndex *ix, const InventoryIndex *from) {
        ix->slots = malloc((from->mask + 1) * sizeof *ix->slots);
        if (!ix->slots)
                return -ENOMEM;
        memcpy(ix->slots, from->slots, (from->mask + 1) * sizeof *ix->slots);
        ix->mask = from->mask;
        return 0;
}

/* Builds the lookup tables; reports duplicate names and MACs.  *ret_copied: the tables by name
 * and MAC were copied from the previous inventory (c->reuse), so was the name order. */
static int index_nodes(Ctx *c, Inventory *inv, bool *ret_copied) {
        size_t n_macs = 0, cap_files = 4;
        const char *last_file[2] = { NULL, NULL }; /* interned: the same pointer for the same path */
        const Inventory *prev = c->prev;
        bool copied = same_names_and_macs(inv, prev);
        for (size_t i = 0; i < inv->n_nodes; i++)
                n_macs += inv->nodes[i].n_macs;
        if (copied) {
                if (index_copy(&inv->by_name, &prev->by_name) < 0 || index_copy(&inv->by_mac, &prev->by_mac) < 0)
                        return -ENOMEM;
        } else if (index_init(&inv->by_name, inv->n_nodes) < 0 || index_init(&inv->by_mac, n_macs) < 0)
                return -ENOMEM;
        if (index_init(&inv->by_file, cap_files) < 0 || !(inv->files = calloc(cap_files, sizeof(char *))))
                return -ENOMEM;
        *ret_copied = copied;

        for (size_t i = 0; i < inv->n_nodes; i++) {
                Node *n = &inv->nodes[i];
                c->index = i;
                c->name = n->name;
                /* A stateless node has no boot files of its own (its image's are below). */
                for (size_t f = 0; n->boot.kernel && f <= n->boot.n_initrd; f++) {
                        char *path = f == 0 ? n->boot.kernel : n->boot.initrd[f - 1];
                        if (path == last_file[0] || path == last_file[1])
                                continue; /* the node before's: in the set already */
                        if (index_add_file(inv, path, &cap_files) < 0)
                                return -ENOMEM;
                        last_file[f == 0 ? 0 : 1] = path;
                }
                if (copied)
                        continue;
                uint32_t *slot = index_slot(inv, &inv->by_name, key_of_name, n->name);
                if (*slot)
                        return fail(c, "name", "duplicate: nodes[%u] has the same name", *slot - 1);
                *slot = (uint32_t) i + 1;
                for (size_t m = 0; m < n->n_macs; m++) {
                        slot = index_slot(inv, &inv->by_mac, key_of_mac, n->macs[m]);
                        if (*slot) {
                                size_t existing = (*slot - 1) / INVENTORY_MAX_MACS_PER_NODE;
                                char field[48];
                                snprintf(field, sizeof field, "mac[%zu]", m);
                                if (existing == i)
                                        return fail(c, field, "%s is listed twice", n->macs[m]);
                                return fail(c, field, "%s is also a MAC of node \"%s\"", n->macs[m],
                                            inv->nodes[existing].name);
                        }
                        *slot = (uint32_t) (i * INVENTORY_MAX_MACS_PER_NODE + m) + 1;
                }
        }
        for (size_t i = 0; i < inv->n_images; i++) {
                const InventoryImage *img = &inv->images[i];
                for (size_t f = 0; f <= img->boot.n_initrd; f++)
                        if (index_add_file(inv, f == 0 ? img->boot.kernel : img->boot.initrd[f - 1], &cap_files) < 0)
                                return -ENOMEM;
        }
        return 0;
}

/* ---- the document, one node at a time ----------------------------------------------------
 * The top level {"version": 1, "nodes": [...]} is scanned here; each value in it (the version,
 * each node) is decoded by jansson on its own (JSON_DISABLE_EOF_CHECK: it stops after the
 * value and says where), validated, copied into the inventory and freed before the next. */

typedef struct Scan {
        const char *text;
        size_t len, pos;
} Scan;

static void scan_ws(Scan *s) {
        while (s->pos < s->len &&
               (s->text[s->pos] == ' ' || s->text[s->pos] == '\n' || s->text[s->pos] == '\t' || s->text[s->pos] == '\r'))
                s->pos++;
}

/* "not valid JSON" at byte offset `at` (line and column counted from the start). */
static int scan_fail(Ctx *c, const Scan *s, size_t at, const char *what) {
        int line = 1, column = 0;
        if (!c->err || c->errlen == 0) /* nobody reads it: do not count the lines */
                return -EINVAL;
        for (size_t i = 0; i < at && i < s->len; i++, column++)
                if (s->text[i] == '\n') {
                        line++;
                        column = -1;
                }
        return fail(c, NULL, "not valid JSON: line %d, column %d: %s", line, column + 1, what);
}

/* Decodes the JSON value at the scan position into *ret and moves past it. */
static int scan_value(Ctx *c, Scan *s, json_t **ret) {
        json_error_t jerr;
        json_t *v = json_loadb(s->text + s->pos, s->len - s->pos,
                               JSON_DECODE_ANY | JSON_DISABLE_EOF_CHECK | JSON_REJECT_DUPLICATES, &jerr);
        if (!v)
                return scan_fail(c, s, s->pos + (jerr.position > 0 ? (size_t) jerr.position : 0), jerr.text);
        s->pos += (size_t) jerr.position;
        *ret = v;
        return 0;
}

/* Expects the character `ch` (after whitespace) and moves past it. */
static int scan_expect(Ctx *c, Scan *s, char ch) {
        scan_ws(s);
        if (s->pos >= s->len || s->text[s->pos] != ch) {
                char what[48];
                snprintf(what, sizeof what, "'%c' expected", ch);
                return scan_fail(c, s, s->pos, what);
        }
        s->pos++;
        return 0;
}

/* ---- reuse: a node whose text is unchanged since the last inventory is copied ---------- */

/* The end (the position after its '}') of the JSON object starting at text[pos], found by
 * counting brackets outside strings; 0 if there is none (jansson then decodes it and says
 * what is wrong).  Not a validation: only a text equal to a node's that parsed is used. */
static size_t skip_object(const char *text, size_t len, size_t pos) {
        size_t depth = 0;
        if (pos >= len || text[pos] != '{')
                return 0;
        for (size_t i = pos; i < len; i++) {
                char ch = text[i];
                if (ch == '"') {
                        for (i++;; i++) {
                                const char *q = memchr(text + i, '"', len - i);
                                if (!q)
                                        return 0;
                                i = (size_t) (q - text);
                                size_t bs = 0; /* backslashes before it: an odd count escapes it */
                                while (i - bs > pos && text[i - bs - 1] == '\\')
                                        bs++;
                                if (bs % 2 == 0)
                                        break;
                        }
                } else if (ch == '{' || ch == '[')
                        depth++;
                else if ((ch == '}' || ch == ']') && --depth == 0)
                        return i + 1;
        }
        return 0;
}

/* The previous inventory's install nodes by text hash (open addressing, at most half full). */
typedef struct Reuse {
        const Inventory *prev;
        uint32_t *slots; /* node index + 1; 0: empty */
        size_t mask;
} Reuse;

static void reuse_done(Reuse *ru) {
        free(ru->slots);
        ru->slots = NULL;
}

/* Fills ru from prev's nodes; false (no reuse) when out of memory or prev has none. */
static bool reuse_init(Reuse *ru, const Inventory *prev) {
        size_t cap = 256;
        *ru = (Reuse) { .prev = prev };
        if (!prev || prev->n_nodes == 0)
                return false;
        while (cap < prev->n_nodes * 2)
                cap *= 2;
        ru->slots = calloc(cap, sizeof *ru->slots);
        if (!ru->slots)
                return false;
        ru->mask = cap - 1;
        for (size_t i = 0; i < prev->n_nodes; i++) {
                uint64_t h = prev->nodes[i].text_hash;
                if (h == 0)
                        continue;
                size_t k = h & ru->mask;
                while (ru->slots[k])
                        k = (k + 1) & ru->mask;
                ru->slots[k] = (uint32_t) i + 1;
        }
        return true;
}

/* The previous inventory's node whose text has hash h (made odd, as stored), or NULL. */
static const Node *reuse_find(const Reuse *ru, uint64_t h) {
        h |= 1;
        for (size_t k = h & ru->mask; ru->slots[k]; k = (k + 1) & ru->mask) {
                const Node *n = &ru->prev->nodes[ru->slots[k] - 1];
                if (n->text_hash == h)
                        return n;
        }
        return NULL;
}

/* Copies install node `from` (another inventory's) into n (its index set): every string and
 * array into c's pool, shared as parse_node() shares them. */
static int node_copy(Ctx *c, const Node *from, Node *n) {
        size_t index = n->index;
        *n = *from;
        n->index = index;
        c->name = from->name;
        if (dup_string(c, from->name, false, &n->name) < 0 || dup_string(c, from->rack, true, &n->rack) < 0)
                return -ENOMEM;
        n->macs = pool_alloc(c->pool, from->n_macs * sizeof *n->macs, 1);
        if (!n->macs)
                return -ENOMEM;
        memcpy(n->macs, from->macs, from->n_macs * sizeof *n->macs);
        if (from->has_bmc &&
            (dup_string(c, from->bmc.host, false, &n->bmc.host) < 0 || dup_string(c, from->bmc.user, true, &n->bmc.user) < 0 ||
             dup_string(c, from->bmc.password_file, true, &n->bmc.password_file) < 0))
                return -ENOMEM;
        if (dup_string(c, from->boot.kernel, true, &n->boot.kernel) < 0 ||
            dup_string(c, from->boot.cmdline, true, &n->boot.cmdline) < 0)
                return -ENOMEM;
        n->boot.initrd = pool_alloc(c->pool, (from->boot.n_initrd + 1) * sizeof(char *),
                                    sizeof(char *));
        if (!n->boot.initrd)
                return -ENOMEM;
        for (size_t f = 0; f < from->boot.n_initrd; f++)
                if (dup_string(c, from->boot.initrd[f], true, &n->boot.initrd[f]) < 0)
                        return -ENOMEM;
        n->boot.initrd[from->boot.n_initrd] = NULL;
        n->toplevel = pool_intern(c->pool, from->toplevel, true);
        n->install = pool_intern(c->pool, from->install, true);
        if (!n->toplevel || !n->install)
                return -ENOMEM;
        assert(n->mode == NODE_MODE_INSTALL && !n->image && !n->overlay_files);
        return 0;
}

/* Parses the node at the scan position into (*nodes)[*n] (the array grown as needed, *cap its
 * capacity), counts it in *n and moves past it.  c->index: its index in *nodes. */
static int scan_node(Ctx *c, Scan *s, Node **nodes, size_t *n, size_t *cap) {
        _cleanup_(json_decrefp) json_t *o = NULL;
        size_t i = *n, start = s->pos, end;
        const Node *same = NULL;
        int r;

        c->index = i; /* a JSON error names no node (the one before is not it) */
        c->name = NULL;
        if (c->reuse && (end = skip_object(s->text, s->len, start)) > 0)
                same = reuse_find(c->reuse, hash_bytes(s->text + start, end - start));
        if (same)
                s->pos = end;
        else {
                r = scan_value(c, s, &o);
                if (r < 0)
                        return r;
                end = s->pos;
                while (end > start && (s->text[end - 1] == ' ' || s->text[end - 1] == '\n' ||
                                       s->text[end - 1] == '\t' || s->text[end - 1] == '\r'))
                        end--;
        }
        if (i >= INVENTORY_MAX_NODES)
                return fail(c, NULL, "more than %d nodes", INVENTORY_MAX_NODES);
        if (i == *cap) {
                size_t ncap = *cap ? *cap * 2 : 64;
                Node *grown = reallocarray(*nodes, ncap, sizeof(Node));
                if (!grown)
                        return -ENOMEM;
                *nodes = grown;
                *cap = ncap;
        }
        (*nodes)[i] = (Node) { .index = i };
        *n = i + 1;
        if (same) {
                c->n_reused++;
                return node_copy(c, same, &(*nodes)[i]);
        }
        r = parse_node(c, o, &(*nodes)[i]);
        if (r >= 0 && (*nodes)[i].mode == NODE_MODE_INSTALL)
                (*nodes)[i].text_hash = hash_bytes(s->text + start, end - start) | 1;
        return r;
}

/* Parses the nodes of the array from the scan position (the first one's start) into *nodes,
 * *n, *cap (as scan_node()).  Returns 0 once past the array's ']'; 1 when the next node starts
 * at or after `stop_at` (not 0), the scan position then at its start; -ECANCELED when *cancel
 * (may be NULL) became true. */
static int scan_node_list(Ctx *c, Scan *s, Node **nodes, size_t *n, size_t *cap, size_t stop_at,
                          const atomic_bool *cancel) {
        for (;;) {
                int r = scan_node(c, s, nodes, n, cap);
                if (r < 0)
                        return r;
                scan_ws(s);
                if (s->pos < s->len && s->text[s->pos] == ']') {
                        s->pos++;
                        return 0;
                }
                r = scan_expect(c, s, ',');
                if (r < 0)
                        return r;
                scan_ws(s);
                if (stop_at > 0 && s->pos >= stop_at)
                        return 1;
                if (cancel && atomic_load_explicit(cancel, memory_order_relaxed))
                        return -ECANCELED;
        }
}

/* ---- the second half on a second thread ---------------------------------------------------
 * A large "nodes" array is parsed by two threads, each half with jansson, without scanning the
 * JSON ourselves: the caller's thread parses from the first node on; a second thread starts at a
 * guess of where a node begins near the middle (a '{' after "}," and whitespace) and parses
 * from there to the array's end, into nodes and a pool of its own.  A guess can be wrong (the
 * bytes may be inside a string).  The first thread settles it: it parses node after node with
 * jansson, which says where each value ends, and takes the second half only if the start of one
 * of its nodes is exactly the guess — then the second thread parsed real nodes, the same ones
 * it would have.  Otherwise (it passed the guess, or the array ended first), or if the second
 * half failed, or would make too many nodes, the second half is thrown away and the first thread
 * goes on alone, so every error is found and worded as with one thread.  jansson values are
 * never shared between the threads; its hash seed is initialised thread-safely (jansson
 * manual, "Thread safety"). */

/* Arrays shorter than this are parsed by one thread (~1,300 nodes of a typical inventory). */
#define SPLIT_MIN_BYTES ((size_t) 512 * 1024)
/* How far from the middle a node start is looked for. */
#define SPLIT_SEARCH_BYTES ((size_t) 64 * 1024)

typedef struct Split {
        bool started;     /* the thread runs (or ran): join it */
        pthread_t thread;
        atomic_bool cancel; /* the first thread no longer wants the result */
        const char *text; /* the document, len bytes */
        size_t len;
        size_t start;     /* the guessed start of a node */
        Ctx c;            /* the thread's: a copy of the caller's with no message buffer and a
                           * pool of its own (anything else it counts over the nodes must be
                           * added to the caller's in split_join()) */
        Node *nodes;      /* parsed from `start` on: n_nodes of cap, strings in c.pool */
        size_t n_nodes, cap;
        size_t end;       /* the position after the array's ']' */
        int r;            /* scan_node_list()'s result */
} Split;

static void *split_run(void *userdata) {
        Split *sp = userdata;
        Scan s = { .text = sp->text, .len = sp->len, .pos = sp->start };
        sp->r = scan_node_list(&sp->c, &s, &sp->nodes, &sp->n_nodes, &sp->cap, 0, &sp->cancel);
        sp->end = s.pos;
        return NULL;
}

/* Stops (if running) and frees sp's thread and what it parsed. */
static void split_done(Split *sp) {
        if (sp->started) {
                atomic_store(&sp->cancel, true);
                pthread_join(sp->thread, NULL);
                sp->started = false;
        }
        free(sp->nodes);
        sp->nodes = NULL;
        pool_free(sp->c.pool);
        sp->c.pool = NULL;
}

/* With the scan position at the first node of a large array, starts the second thread at a
 * guessed node start near the middle of what is left.  Nothing started (sp->started false):
 * one thread parses it all. */
static void split_start(const Ctx *c, const Scan *s, Split *sp) {
        const char *t = s->text;
        /* Before the middle: after both halves, the caller's thread still builds the lookup
         * tables (~10 % of a parse's CPU at 100,000 nodes), so both finish together. */
        size_t rest = s->len - s->pos, from = s->pos + rest / 100 * 45, guess = 0;

        if (rest < SPLIT_MIN_BYTES)
                return;
        for (size_t i = from; i < s->len && i < from + SPLIT_SEARCH_BYTES && guess == 0; i++) {
                if (t[i] != '}')
                        continue;
                size_t k = i + 1;
                while (k < s->len && (t[k] == ' ' || t[k] == '\n' || t[k] == '\t' || t[k] == '\r'))
                        k++;
                if (k >= s->len || t[k] != ',')
                        continue;
                k++;
                while (k < s->len && (t[k] == ' ' || t[k] == '\n' || t[k] == '\t' || t[k] == '\r'))
                        k++;
                if (k < s->len && t[k] == '{')
                        guess = k;
        }
        if (guess == 0)
                return;
        *sp = (Split) { .text = t, .len = s->len, .start = guess, .c = *c };
        sp->c.err = NULL;
        sp->c.errlen = 0;
        sp->c.index = 0;
        sp->c.name = NULL;
        sp->c.pool = calloc(1, sizeof *sp->c.pool);
        if (!sp->c.pool)
                return;
        if (pthread_create(&sp->thread, NULL, split_run, sp) != 0) {
                pool_free(TAKE_PTR(sp->c.pool));
                return;
        }
        sp->started = true;
}

/* The first thread stopped with the next node at the scan position, at or after the guess:
 * takes the second half into inv (nodes *cap) and moves past the array if that node starts
 * exactly at the guess and the second half parsed (returns 0); else returns 1 (the first
 * thread goes on alone).  What the second thread's Ctx counted over its nodes is added to c's
 * here. */
static int split_join(Ctx *c, Scan *s, Inventory *inv, size_t *cap, Split *sp) {
        bool landed = s->pos == sp->start;
        if (!landed)
                atomic_store(&sp->cancel, true);
        pthread_join(sp->thread, NULL);
        sp->started = false;
        if (!landed || sp->r != 0 || inv->n_nodes + sp->n_nodes > INVENTORY_MAX_NODES)
                return 1;

        size_t total = inv->n_nodes + sp->n_nodes;
        if (total > *cap) {
                Node *nodes = reallocarray(inv->nodes, total, sizeof(Node));
                if (!nodes)
                        return -ENOMEM;
                inv->nodes = nodes;
                *cap = total;
        }
        for (size_t j = 0; j < sp->n_nodes; j++) {
                inv->nodes[inv->n_nodes + j] = sp->nodes[j];
                inv->nodes[inv->n_nodes + j].index = inv->n_nodes + j;
        }
        inv->n_nodes = total;
        c->n_stateless += sp->c.n_stateless; /* their images are resolved after the document */
        c->n_reused += sp->c.n_reused;
        /* Its strings: the pool's blocks go to the inventory's, after its own (the newest
         * block stays first, where the next string goes). */
        PoolBlock **tail = &inv->pool->blocks;
        while (*tail)
                tail = &(*tail)->next;
        *tail = TAKE_PTR(sp->c.pool->blocks);
        s->pos = sp->end;
        return 0;
}

/* Parses the "nodes" array at the scan position into inv, one node at a time (a large one in
 * two halves at once, see above). */
static int scan_nodes(Ctx *c, Scan *s, Inventory *inv) {
        _cleanup_(split_done) Split sp = { 0 };
        size_t cap = 0;
        int r;

        scan_ws(s);
        if (s->pos >= s->len || s->text[s->pos] != '[') {
                _cleanup_(json_decrefp) json_t *v = NULL;
                r = scan_value(c, s, &v);
                return r < 0 ? r : fail(c, NULL, "\"nodes\" must be an array");
        }
        s->pos++;
        scan_ws(s);
        if (s->pos < s->len && s->text[s->pos] == ']') {
                s->pos++;
                return 0;
        }
        split_start(c, s, &sp);
        r = scan_node_list(c, s, &inv->nodes, &inv->n_nodes, &cap, sp.started ? sp.start : 0, NULL);
        if (r == 1)
                r = split_join(c, s, inv, &cap, &sp);
        if (r == 1)
                r = scan_node_list(c, s, &inv->nodes, &inv->n_nodes, &cap, 0, NULL);
        if (r < 0)
                return r;
        if (inv->n_nodes < cap) { /* give the slack back (mremap(2) for a large array: no copy) */
                Node *nodes = reallocarray(inv->nodes, inv->n_nodes, sizeof(Node));
                if (nodes)
                        inv->nodes = nodes;
        }
        c->index = 0; /* what follows the array is no node's */
        c->name = NULL;
        return 0;
}

/* Parses the "images" object at the scan position into inv. */
static int scan_images(Ctx *c, Scan *s, Inventory *inv) {
        _cleanup_(json_decrefp) json_t *v = NULL;
        scan_ws(s);
        int r = scan_value(c, s, &v);
        return r < 0 ? r : parse_images(c, v, inv);
}

/* A document whose top level is not an object, decoded whole as before: the errors stay those
 * of jansson ("not valid JSON ...") or "must be an object". */
static int parse_not_object(Ctx *c, const char *text, size_t len) {
        json_error_t jerr;
        _cleanup_(json_decrefp) json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!root)
                return fail(c, NULL, "not valid JSON: line %d, column %d: %s", jerr.line, jerr.column, jerr.text);
        return fail(c, NULL, "the top level must be an object {\"version\": 1, \"nodes\": [...]}");
}

int inventory_parse(const char *text, size_t len, Inventory **ret, char *err, size_t errlen) {
        return inventory_parse_reusing(text, len, NULL, ret, err, errlen);
}

int inventory_parse_reusing(const char *text, size_t len, const Inventory *prev, Inventory **ret, char *err,
                            size_t errlen) {
        _cleanup_(inventory_freep) Inventory *inv = NULL;
        _cleanup_(reuse_done) Reuse reuse = { 0 };
        Ctx c = { .err = err, .errlen = errlen, .reuse = reuse_init(&reuse, prev) ? &reuse : NULL, .prev = prev };
        Scan s = { .text = text, .len = len };
        bool seen_version = false, seen_nodes = false, seen_images = false;
        json_int_t version = 0;
        int r;

        scan_ws(&s);
        if (s.pos >= len || text[s.pos] != '{')
                return parse_not_object(&c, text, len);
        s.pos++;

        inv = calloc(1, sizeof *inv);
        if (!inv || !(inv->pool = calloc(1, sizeof *inv->pool)))
                return -ENOMEM;
        c.pool = inv->pool;

        scan_ws(&s);
        if (s.pos < len && text[s.pos] == '}')
                s.pos++;
        else
                for (;;) {
                        _cleanup_(json_decrefp) json_t *key = NULL;
                        size_t key_at;
                        scan_ws(&s);
                        key_at = s.pos;
                        if (s.pos >= len || text[s.pos] != '"')
                                return scan_fail(&c, &s, s.pos, "string expected");
                        r = scan_value(&c, &s, &key);
                        if (r < 0)
                                return r;
                        const char *k = json_string_value(key);
                        r = scan_expect(&c, &s, ':');
                        if (r < 0)
                                return r;
                        if (streq(k, "nodes") || streq(k, "version") || streq(k, "images")) {
                                bool *seen = streq(k, "nodes")    ? &seen_nodes
                                             : streq(k, "images") ? &seen_images
                                                                  : &seen_version;
                                if (*seen)
                                        return scan_fail(&c, &s, key_at, "duplicate object key");
                                *seen = true;
                        } else
                                return fail(&c, NULL, "unknown top-level field \"%s\"", k);
                        if (streq(k, "nodes"))
                                r = scan_nodes(&c, &s, inv);
                        else if (streq(k, "images"))
                                r = scan_images(&c, &s, inv);
                        else {
                                _cleanup_(json_decrefp) json_t *v = NULL;
                                scan_ws(&s);
                                r = scan_value(&c, &s, &v);
                                if (r >= 0 && json_is_integer(v))
                                        version = json_integer_value(v);
                                else if (r >= 0)
                                        version = -1;
                        }
                        if (r < 0)
                                return r;
                        c.name = NULL; /* what follows "nodes" is no node's */
                        scan_ws(&s);
                        if (s.pos < len && text[s.pos] == '}') {
                                s.pos++;
                                break;
                        }
                        r = scan_expect(&c, &s, ',');
                        if (r < 0)
                                return r;
                }
        scan_ws(&s);
        if (s.pos < len)
                return scan_fail(&c, &s, s.pos, "end of file expected");

        c.index = 0;
        c.name = NULL;
        if (!seen_version || version != 1)
                return fail(&c, NULL, "\"version\" must be 1 (this provd reads inventory format version 1)");
        if (!seen_nodes)
                return fail(&c, NULL, "\"nodes\" must be an array");
        if (c.n_stateless > 0) {
                r = resolve_images(&c, inv);
                if (r < 0)
                        return r;
        }

        bool copied;
        r = index_nodes(&c, inv, &copied);
        if (r < 0)
                return r;
        if (copied) {
                inv->name_order = malloc((inv->n_nodes + 1) * sizeof *inv->name_order);
                if (!inv->name_order)
                        return -ENOMEM;
                memcpy(inv->name_order, prev->name_order, (inv->n_nodes + 1) * sizeof *inv->name_order);
        } else {
                r = order_names(inv);
                if (r < 0)
                        return r;
        }
        inv->n_reused = c.n_reused;
        /* Only parsing needs the set of interned strings. */
        free(inv->pool->interned);
        inv->pool->interned = NULL;
        inv->pool->interned_mask = inv->pool->n_interned = 0;

        *ret = TAKE_PTR(inv);
        return 0;
}

/* Whether b (a node's boot or an image's; no kernel: none) uses file p: then writes the field
 * naming it ("<prefix>kernel", "<prefix>initrd[N]") to field. */
static bool boot_file_field(const InventoryBoot *b, const char *prefix, const char *p, char *field, size_t len) {
        for (size_t f = 0; b->kernel && f <= b->n_initrd; f++) {
                if (!streq(p, f == 0 ? b->kernel : b->initrd[f - 1]))
                        continue;
                if (f == 0)
                        snprintf(field, len, "%skernel", prefix);
                else
                        snprintf(field, len, "%sinitrd[%zu]", prefix, f - 1);
                return true;
        }
        return false;
}

int inventory_load_file(const char *path, Inventory **ret, char *err, size_t errlen) {
        return inventory_load_file_reusing(path, NULL, ret, err, errlen);
}

int inventory_load_file_reusing(const char *path, const Inventory *prev, Inventory **ret, char *err, size_t errlen) {
        _cleanup_(inventory_freep) Inventory *inv = NULL;
        _cleanup_free_ char *text = NULL;
        _cleanup_close_ int fd = -1;
        struct stat st;
        int r;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) < 0) {
                r = -errno;
                return errbuf_fail(r, err, errlen, "cannot read inventory %s: %s", path, strerror(-r));
        }
        if (!S_ISREG(st.st_mode) || st.st_size > 512 * 1024 * 1024)
                return errbuf_fail(-EINVAL, err, errlen, "inventory %s is not a regular file of at most 512 MiB",
                                   path);
        text = malloc((size_t) st.st_size + 1);
        if (!text)
                return -ENOMEM;
        size_t got = 0;
        while (got < (size_t) st.st_size) {
                ssize_t n = read(fd, text + got, (size_t) st.st_size - got);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        r = n < 0 ? -errno : -EIO;
                        return errbuf_fail(r, err, errlen, "cannot read inventory %s: %s", path, strerror(-r));
                }
                got += (size_t) n;
        }

        char msg[ERRBUF_MAX] = "";
        r = inventory_parse_reusing(text, got, prev, &inv, msg, sizeof msg);
        if (r < 0)
                return errbuf_fail(r, err, errlen, "inventory %s: %s", path, msg[0] ? msg : strerror(-r));

        /* Every local boot file must be there now, or nodes would fail mid-boot.  Each
         * unique file is checked once; the error names the first node that uses it. */
        for (size_t i = 0; i < inv->n_files; i++) {
                const char *p = inv->files[i];
                struct stat fst;
                const char *why = NULL;
                if (stat(p, &fst) < 0)
                        why = strerror(errno);
                else if (!S_ISREG(fst.st_mode))
                        why = "not a regular file";
                else if (access(p, R_OK) < 0)
                        why = strerror(errno);
                if (!why)
                        continue;
                char field[48];
                for (size_t k = 0; k < inv->n_images; k++)
                        if (boot_file_field(&inv->images[k].boot, "", p, field, sizeof field))
                                return errbuf_fail(-ENOENT, err, errlen,
                                                   "inventory %s: image \"%s\": field \"%s\": file %s: %s", path,
                                                   inv->images[k].name, field, p, why);
                for (size_t k = 0; k < inv->n_nodes; k++)
                        if (boot_file_field(&inv->nodes[k].boot, "boot.", p, field, sizeof field))
                                return errbuf_fail(-ENOENT, err, errlen,
                                                   "inventory %s: node \"%s\": field \"%s\": file %s: %s", path,
                                                   inv->nodes[k].name, field, p, why);
        }

        *ret = TAKE_PTR(inv);
        return 0;
}
