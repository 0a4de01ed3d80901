/* config.h — `provd serve` settings: an INI file (inih) overridden by command-line flags.
 *
 *   [serve]
 *   inventory  = /etc/provd/inventory.json
 *   state_dir  = /var/lib/provd
 *   state_url  = postgresql://provd@db.example/provd ; the state in PostgreSQL (several
 *                                      ; instances may share it); unset or sqlite: SQLite in state_dir
 *   listen     = 0.0.0.0:8080          ; ADDR:PORT, [V6ADDR]:PORT
 *   public_url = http://boot.example:8080
 *   threads    = 0                     ; HTTP workers, 0 = one per core (min 2)
 *   log_level  = info                  ; error | warning | info | debug
 *   api_tokens = /etc/provd/api-tokens ; API tokens file (default: the systemd
 *                                      ; credential $CREDENTIALS_DIRECTORY/api-tokens)
 *   read_auth  = open                  ; open | token: reads need an API token too
 *   tls_cert   = /etc/provd/tls.crt    ; HTTPS with this PEM certificate (chain) ...
 *   tls_key    = /etc/provd/tls.key    ; ... and this PEM key
 *   bmc_workers = 16                   ; BMC commands in flight at once (1-1024)
 *   bmc_timeout = 10                   ; seconds per BMC command attempt (1-600)
 *   bmc_retries = 2                    ; extra attempts after a timeout (0-10)
 *   install_deadline = 3600            ; seconds until an install attempt fails (0 = none)
 *   boot_deadline = 600                ; seconds until a stateless node's boot fails (0 = none)
 *   discovery_interface = eno1         ; capture PXE clients' DHCP here (unset: discovery off)
 *   discovery_max = 4096               ; distinct unknown MACs kept (1-1000000)
 *   console_max_size = 16M             ; bytes per console log (K/M/G suffixes)
 *   console_keep = 10                  ; console logs kept per node (0 = all)
 *   console_linger = 15                ; seconds of console capture after an attempt ends
 *   ipmitool = ipmitool                ; ipmitool binary for bmc.console "ipmitool"
 *   ipxe_efi = /usr/lib/ipxe/snponly.efi ; iPXE EFI binary served at /v1/ipxe.efi (HTTP Boot)
 *   max_connections = 4096             ; HTTP connections held at once (16-1000000)
 *   max_connections_per_client = 256   ; of those, from one client address (0 = no limit)
 *   header_timeout = 10                ; seconds for a request to arrive whole (1-3600) ...
 *   header_min_rate = 500              ; ... or keep coming at this many bytes/s (0 = deadline only)
 *   max_transfers = 64                 ; GET /v1/files bodies sent at once, more wait (0 = no cap)
 *   report_silent_after = 3600         ; seconds without a node report until the node is "silent"
 *   instance_name = boot-a             ; this instance's name among several (default: the host name)
 *   shared_key_file = /etc/provd/shared.key ; 32 bytes every instance shares: seals install tokens
 *   bmc_racks = r1,r2                  ; run BMC operations only for nodes of these racks (unset: all)
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

typedef struct ServeConfig {
        char *inventory;
        char *state_dir;
        char *state_url; /* NULL: SQLite in state_dir; postgresql://...: PostgreSQL (libpq URI) */
        char *listen;
        char *public_url;
        unsigned threads;
        int log_level; /* syslog level */
        char *api_tokens;
        bool read_auth;
        char *tls_cert;
        char *tls_key;
        unsigned bmc_workers;      /* BMC commands in flight at once (default 16) */
        unsigned bmc_timeout;      /* seconds per BMC command attempt (default 10) */
        unsigned bmc_retries;      /* extra attempts after a timeout (default 2) */
        unsigned install_deadline; /* seconds; 0 = none (default 3600) */
        unsigned boot_deadline;    /* seconds until a stateless node's boot fails; 0 = none (default 600) */
        /* discovery */
        char *discovery_interface; /* NULL: discovery off */
        unsigned discovery_max;    /* distinct unknown MACs kept (default 4096) */
        /* console capture */
        uint64_t console_max_size; /* bytes per console log (default 16 MiB) */
        unsigned console_keep;     /* console logs kept per node; 0 = all (default 10) */
        unsigned console_linger;   /* seconds of capture after an attempt ends (default 15) */
        char *ipmitool;            /* ipmitool binary (default "ipmitool" from PATH) */
        unsigned report_silent_after; /* seconds; a node's last report older than this: "silent" */
        char *ipxe_efi;            /* iPXE EFI binary for UEFI HTTP Boot (default CONFIG_IPXE_EFI_DEFAULT) */
        /* HTTP connection limits (http-conns.h) */
        unsigned max_connections;            /* connections held at once (default 4096) */
        unsigned max_connections_per_client; /* from one client address; 0 = no limit (default 256) */
        unsigned header_timeout;             /* seconds for a request to arrive whole (default 10) */
        unsigned header_min_rate;            /* bytes/s that extend it; 0 = deadline only (default 500) */
        unsigned max_transfers; /* boot file bodies sent at once, others wait; 0 = no cap (default 64) */
        /* several instances on one database */
        char *instance_name;   /* NULL: the host name */
        char *shared_key_file; /* NULL: none (an instance alone on its database) */
        char *bmc_racks;       /* comma-separated rack names; NULL: every rack */
} ServeConfig;

/* Debian's `ipxe` package's EFI iPXE that drives the NIC through the firmware's own SNP
 * driver (UEFI spec 2.x §24.1, Simple Network Protocol), as HTTP Boot left it.  Measured with
 * OVMF: it runs provd's scripts and, when told to leave network boot, returns to the firmware
 * at once; the full ipxe.efi (its own NIC drivers) hung after "No more network devices" for
 * over 2 minutes instead, so a node whose boot order passes HTTP Boot never reached its disk. */
#define CONFIG_IPXE_EFI_DEFAULT "/usr/lib/ipxe/snponly.efi"

/* Fills defaults: listen 127.0.0.1:8080, state_dir /var/lib/provd, threads 0, log info,
 * ipxe_efi CONFIG_IPXE_EFI_DEFAULT, and the others listed above. */
int config_init(ServeConfig *c);

/* Reads an INI file into c, overriding what is there.  Unknown sections or keys and bad
 * values are errors naming the file and key (syntax errors: the line).  Returns 0 or a negative errno (logged). */
int config_load_file(ServeConfig *c, const char *path);

/* Sets one key as the INI file would (used for flags too).  Returns 0, -ENOENT for an
 * unknown key, -EINVAL for a bad value, -ENOMEM. */
int config_set(ServeConfig *c, const char *key, const char *value);

/* What a valid value of a numeric key looks like ("an integer from 16 to 1000000"), for
 * error messages; key may be the INI key or the flag's name.  NULL for other keys.  The
 * text is static. */
const char *config_expected(const char *key);

/* Checks the settings together (each value was checked alone by config_set()): a per-client
 * connection limit above max_connections.  Returns 0, or -EINVAL with the reason logged. */
int config_check(const ServeConfig *c);

void config_done(ServeConfig *c);
