/* config.c — see config.h. */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

static int set_string(char **field, const char *value) {
        char *s = strdup(value);
        if (!s)
                return -ENOMEM;
        free(*field);
        *field = s;
        return 0;
}

int config_init(ServeConfig *c) {
        *c = (ServeConfig) { .log_level = LOG_INFO, .bmc_workers = 16, .bmc_timeout = 10, .bmc_retries = 2,
                             .install_deadline = 3600, .boot_deadline = 600, .discovery_max = 4096,
                             /* console capture */
                             .console_max_size = 16u * 1024 * 1024, .console_keep = 10, .console_linger = 15,
                             .report_silent_after = 3600,
                             /* HTTP connection limits: see README "Connection limits" */
                             .max_connections = 4096, .max_connections_per_client = 256, .header_timeout = 10,
                             .header_min_rate = 500,
                             /* boot storms: see README "Boot storms" */
                             .max_transfers = 64 };
        if (set_string(&c->listen, "127.0.0.1:8080") < 0 || set_string(&c->state_dir, "/var/lib/provd") < 0 ||
            set_string(&c->ipxe_efi, CONFIG_IPXE_EFI_DEFAULT) < 0)
                return -ENOMEM;
        /* A systemd credential named api-tokens (LoadCredential=api-tokens:...). */
        const char *creds = getenv("CREDENTIALS_DIRECTORY");
        if (creds && creds[0] == '/') {
                _cleanup_free_ char *path = NULL;
                if (asprintf(&path, "%s/api-tokens", creds) < 0)
                        return -ENOMEM;
                if (access(path, F_OK) == 0)
                        c->api_tokens = TAKE_PTR(path);
        }
        return 0;
}

/* Console capture: a byte count with an optional K, M or G suffix (powers of 1024),
 * 4 KiB .. 1 TiB. */
static int parse_size(const char *value, uint64_t *ret) {
        char num[32];
        size_t n = strlen(value);
        uint64_t mult = 1;
        if (n == 0 || n >= sizeof num)
                return -EINVAL;
        memcpy(num, value, n + 1);
        switch (num[n - 1]) {
        case 'K': case 'k': mult = 1024; break;
        case 'M': case 'm': mult = 1024 * 1024; break;
        case 'G': case 'g': mult = 1024 * 1024 * 1024; break;
        default: break;
        }
        if (mult > 1)
                num[n - 1] = '\0';
        int64_t v;
        if (parse_int64(num, 1, INT64_MAX / (int64_t) mult, &v) < 0)
                return -EINVAL;
        uint64_t bytes = (uint64_t) v * mult;
        if (bytes < 4096 || bytes > (uint64_t) 1 << 40)
                return -EINVAL;
        *ret = bytes;
        return 0;
}

static const struct {
        const char *key, *flag;
        unsigned min, max;
        size_t offset;
        const char *expected;
} numbers[] = {
        { "threads", "threads", 0, 256, offsetof(ServeConfig, threads), "an integer from 0 to 256" },
        { "bmc_workers", "bmc-workers", 1, 1024, offsetof(ServeConfig, bmc_workers), "an integer from 1 to 1024" },
        { "bmc_timeout", "bmc-timeout", 1, 600, offsetof(ServeConfig, bmc_timeout), "seconds, from 1 to 600" },
        { "bmc_retries", "bmc-retries", 0, 10, offsetof(ServeConfig, bmc_retries), "an integer from 0 to 10" },
        { "install_deadline", "install-deadline", 0, 7 * 24 * 3600, offsetof(ServeConfig, install_deadline),
          "seconds, from 0 (none) to 604800" },
        { "boot_deadline", "boot-deadline", 0, 7 * 24 * 3600, offsetof(ServeConfig, boot_deadline),
          "seconds, from 0 (none) to 604800" },
        { "discovery_max", "discovery-max", 1, 1000000, offsetof(ServeConfig, discovery_max),
          "an integer from 1 to 1000000" }, /* discovery */
        /* console capture */
        { "console_keep", "console-keep", 0, 100000, offsetof(ServeConfig, console_keep),
          "an integer from 0 (all) to 100000" },
        { "console_linger", "console-linger", 0, 3600, offsetof(ServeConfig, console_linger),
          "seconds, from 0 to 3600" },
        /* node reports */
        { "report_silent_after", "report-silent-after", 1, 30 * 24 * 3600, offsetof(ServeConfig, report_silent_after),
          "seconds, from 1 to 2592000" },
        /* HTTP connection limits (http-conns.h) */
        { "max_connections", "max-connections", 16, 1000000, offsetof(ServeConfig, max_connections),
          "an integer from 16 to 1000000" },
        { "max_connections_per_client", "max-connections-per-client", 0, 1000000,
          offsetof(ServeConfig, max_connections_per_client), "an integer from 0 (no limit) to 1000000" },
        { "header_timeout", "header-timeout", 1, 3600, offsetof(ServeConfig, header_timeout),
          "seconds, from 1 to 3600" },
        { "header_min_rate", "header-min-rate", 0, 1000000000, offsetof(ServeConfig, header_min_rate),
          "bytes per second, from 0 (deadline only) to 1000000000" },
        /* the file transfer cap (transfers.h) */
        { "max_transfers", "max-transfers", 0, 1000000, offsetof(ServeConfig, max_transfers),
          "an integer from 0 (no cap) to 1000000" },
};

const char *config_expected(const char *key) {
        static const struct {
                const char *key, *flag, *expected;
        } words[] = {
                { "instance_name", "instance-name", "1 to 63 letters, digits, '-', '_' or '.'" },
                { "shared_key_file", "shared-key-file", "an absolute path" },
                { "bmc_racks", "bmc-racks", "rack names (letters, digits, '-', '_', '.') separated by commas" },
        };
        for (size_t i = 0; i < ELEMENTSOF(numbers); i++)
                if (streq(key, numbers[i].key) || streq(key, numbers[i].flag))
                        return numbers[i].expected;
        for (size_t i = 0; i < ELEMENTSOF(words); i++)
                if (streq(key, words[i].key) || streq(key, words[i].flag))
                        return words[i].expected;
        return NULL;
}

int config_check(const ServeConfig *c) {
        if (c->max_connections_per_client > c->max_connections)
                return log_error_errno(EINVAL,
                                       "max_connections_per_client %u is more than max_connections %u: lower it, or "
                                       "set 0 for no per-client limit",
                                       c->max_connections_per_client, c->max_connections);
        return 0;
}

int config_set(ServeConfig *c, const char *key, const char *value) {
        if (streq(key, "inventory"))
                return set_string(&c->inventory, value);
        if (streq(key, "state_dir") || streq(key, "state-dir"))
                return set_string(&c->state_dir, value);
        /* The scheme is checked when the store opens (store_open_url()), whose message names
         * state_url without echoing the value: it may hold a password. */
        if (streq(key, "state_url") || streq(key, "state-url"))
                return set_string(&c->state_url, value);
        if (streq(key, "listen"))
                return set_string(&c->listen, value);
        if (streq(key, "public_url") || streq(key, "public-url")) {
                if (!startswith(value, "http://") && !startswith(value, "https://"))
                        return -EINVAL;
                /* It goes into kernel command lines and iPXE scripts verbatim. */
                for (const unsigned char *p = (const unsigned char *) value; *p; p++)
                        if (*p <= ' ' || *p == 0x7f || *p == '"' || *p == '{' || *p == '}' || *p == '$')
                                return -EINVAL;
                return set_string(&c->public_url, value);
        }
        if (streq(key, "api_tokens") || streq(key, "api-tokens")) {
                if (value[0] != '/')
                        return -EINVAL;
                return set_string(&c->api_tokens, value);
        }
        if (streq(key, "read_auth") || streq(key, "read-auth")) {
                if (streq(value, "open"))
                        c->read_auth = false;
                else if (streq(value, "token"))
                        c->read_auth = true;
                else
                        return -EINVAL;
                return 0;
        }
        for (size_t i = 0; i < ELEMENTSOF(numbers); i++)
                if (streq(key, numbers[i].key) || streq(key, numbers[i].flag)) {
                        int64_t n;
                        if (parse_int64(value, numbers[i].min, numbers[i].max, &n) < 0)
                                return -EINVAL;
                        *(unsigned *) ((char *) c + numbers[i].offset) = (unsigned) n;
                        return 0;
                }
        /* discovery: an interface name (IFNAMSIZ - 1 = 15 bytes on Linux, netdevice(7)), or
         * "any" (libpcap's Linux cooked capture of every interface) */
        if (streq(key, "discovery_interface") || streq(key, "discovery-interface")) {
                if (value[0] == '\0' || strlen(value) > 15 || strpbrk(value, "/ \t:"))
                        return -EINVAL;
                return set_string(&c->discovery_interface, value);
        }
        /* ---- console capture */
        if (streq(key, "console_max_size") || streq(key, "console-max-size"))
                return parse_size(value, &c->console_max_size);
        if (streq(key, "ipmitool")) {
                if (!value[0])
                        return -EINVAL;
                return set_string(&c->ipmitool, value);
        }
        /* ---- end console capture */
        if (streq(key, "ipxe_efi") || streq(key, "ipxe-efi")) {
                if (value[0] != '/')
                        return -EINVAL;
                return set_string(&c->ipxe_efi, value);
        }
        /* ---- several instances on one database */
        if (streq(key, "instance_name") || streq(key, "instance-name")) {
                /* It is a key in the database and a label value in /metrics: a host-name-like word. */
                size_t n = strlen(value);
                if (n == 0 || n > 63 || strspn(value, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") != n)
                        return -EINVAL;
                return set_string(&c->instance_name, value);
        }
        if (streq(key, "shared_key_file") || streq(key, "shared-key-file")) {
                if (value[0] != '/')
                        return -EINVAL;
                return set_string(&c->shared_key_file, value);
        }
        if (streq(key, "bmc_racks") || streq(key, "bmc-racks")) {
                size_t n = strlen(value);
                if (n == 0 || n > 4095 || strspn(value, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.,") != n ||
                    value[0] == ',' || value[n - 1] == ',' || strstr(value, ",,"))
                        return -EINVAL;
                return set_string(&c->bmc_racks, value);
        }
        /* ---- end several instances */
        if (streq(key, "tls_cert") || streq(key, "tls-cert"))
                return set_string(&c->tls_cert, value);
        if (streq(key, "tls_key") || streq(key, "tls-key"))
                return set_string(&c->tls_key, value);
        if (streq(key, "log_level") || streq(key, "log-level")) {
                static const struct {
                        const char *name;
                        int level;
                } levels[] = { { "error", LOG_ERR }, { "warning", LOG_WARNING }, { "info", LOG_INFO }, { "debug", LOG_DEBUG } };
                for (size_t i = 0; i < ELEMENTSOF(levels); i++)
                        if (streq(levels[i].name, value)) {
                                c->log_level = levels[i].level;
                                return 0;
                        }
                return -EINVAL;
        }
        return -ENOENT;
}

typedef struct IniCtx {
        ServeConfig *c;
        const char *path;
        int error;
} IniCtx;

static int on_ini(void *user, const char *section, const char *name, const char *value) {
        IniCtx *ctx = user;
        if (streq(section, "cli")) /* the client commands' settings (cli.c) */
                return 1;
        if (!streq(section, "serve")) {
                log_error("%s: unknown section [%s] (provd reads [serve] and [cli])", ctx->path, section);
                ctx->error = -EINVAL;
                return 0;
        }
        int r = config_set(ctx->c, name, value);
        if (r == -ENOENT)
                log_error("%s: unknown key \"%s\" in [serve]", ctx->path, name);
        else if (r < 0) {
                const char *expected = config_expected(name);
                log_error("%s: bad value \"%s\" for \"%s\"%s%s", ctx->path, value, name, expected ? ": expected " : "",
                          expected ? expected : "");
        }
        if (r < 0) {
                ctx->error = r == -ENOENT ? -EINVAL : r;
                return 0;
        }
        return 1;
}

int config_load_file(ServeConfig *c, const char *path) {
        IniCtx ctx = { .c = c, .path = path };
        int r = ini_parse(path, on_ini, &ctx);
        if (r == -1)
                return log_error_errno(errno ? errno : ENOENT, "cannot read config file %s: %m", path);
        if (ctx.error < 0)
                return ctx.error;
        if (r != 0)
                return log_error_errno(EINVAL, "%s:%d: syntax error", path, r);
        return 0;
}

void config_done(ServeConfig *c) {
        free(c->inventory);
        free(c->state_dir);
        free(c->state_url);
        free(c->listen);
        free(c->public_url);
        free(c->api_tokens);
        free(c->tls_cert);
        free(c->tls_key);
        free(c->discovery_interface);
        free(c->ipmitool); /* console capture */
        free(c->ipxe_efi);
        free(c->instance_name);
        free(c->shared_key_file);
        free(c->bmc_racks);
        *c = (ServeConfig) { 0 };
}
