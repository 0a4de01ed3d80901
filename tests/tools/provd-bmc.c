/* provd-bmc — runs one BMC command on many BMCs through provd's BMC pool (bmc-pool.c +
 * ipmi.c), for the IPMI integration test and bench/bmc.  Not installed.
 *
 *   provd-bmc [--workers N] [--timeout MS] [--retries N] [--deadline MS] [-W FLAGS]
 *             [--cipher N] [--persistent] [--efi] [--debug-dump]
 *             -u USER -p PASSWORD_FILE COMMAND HOST[:PORT]...
 *
 * COMMAND: status on off cycle reset soft bootdev-none bootdev-pxe bootdev-disk bootdev-bios
 * bootdev-get.  All hosts are submitted at once; the pool decides what runs when.  Prints one
 * line per host, in argument order, tab-separated:
 *   HOST:PORT  ok|ERRNO-NAME  RESULT-OR-MESSAGE  MILLISECONDS
 * where MILLISECONDS is submission -> completion.  Then "total <ms> ms" on stderr.
 * Exit status: 0 if every host succeeded, 1 if any failed, 2 for usage errors. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bmc-pool.h"
#include "ipmi.h"
#include "util.h"

typedef struct HostResult {
        char label[IPMI_TARGET_HOST_MAX + 16];
        int r;
        char text[IPMI_ERROR_MAX];
        int64_t ms;
        bool done;
} HostResult;

static pthread_mutex_t done_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cond = PTHREAD_COND_INITIALIZER;
static size_t n_done;

static IpmiOp op;

static void on_done(const BmcJob *job, const BmcOutcome *out, void *userdata) {
        HostResult *h = userdata;
        char dev[8];

        h->r = out->r;
        h->ms = out->wait_ms + out->duration_ms;
        if (out->r < 0)
                snprintf(h->text, sizeof h->text, "%s", out->error);
        else if (op == IPMI_OP_POWER_STATUS)
                snprintf(h->text, sizeof h->text, "%s", out->result.power_on ? "on" : "off");
        else if (op == IPMI_OP_BOOTDEV_GET)
                snprintf(h->text, sizeof h->text, "%s %s %s%s",
                         ipmi_boot_device_to_string(out->result.boot.device, dev),
                         out->result.boot.persistent ? "persistent" : "once",
                         out->result.boot.efi ? "efi" : "legacy",
                         out->result.boot.valid ? "" : " (valid bit clear)");
        else
                snprintf(h->text, sizeof h->text, "done");

        pthread_mutex_lock(&done_lock);
        h->done = true;
        n_done++;
        pthread_cond_signal(&done_cond);
        pthread_mutex_unlock(&done_lock);
}

static const char *errno_name(int r) {
        switch (-r) {
        case ETIMEDOUT:
                return "ETIMEDOUT";
        case EACCES:
                return "EACCES";
        case EOPNOTSUPP:
                return "EOPNOTSUPP";
        case EHOSTUNREACH:
                return "EHOSTUNREACH";
        case ECANCELED:
                return "ECANCELED";
        case EINVAL:
                return "EINVAL";
        case ENOMEM:
                return "ENOMEM";
        default:
                return "EIO";
        }
}

static void usage(FILE *f) {
        fputs("usage: provd-bmc [--workers N] [--timeout MS] [--retries N] [--deadline MS]\n"
              "                 [-W FLAGS] [--cipher N] [--persistent] [--efi] [--debug-dump]\n"
              "                 -u USER -p PASSWORD_FILE COMMAND HOST[:PORT]...\n"
              "COMMAND: status on off cycle reset soft bootdev-none bootdev-pxe bootdev-disk\n"
              "         bootdev-bios bootdev-get\n",
              f);
}

/* A decimal in [min, max]. */
static int parse_uint(const char *s, unsigned min, unsigned max, unsigned *ret) {
        int64_t v;
        int r = parse_int64(s, min, max, &v);
        if (r >= 0)
                *ret = (unsigned) v;
        return r;
}

/* HOST, HOST:PORT, [V6]:PORT or a bare IPv6 literal. */
static int parse_host(const char *arg, IpmiTarget *t) {
        const char *host = arg;
        size_t hlen = strlen(arg);
        unsigned port = 0;

        if (arg[0] == '[') {
                const char *close = strchr(arg, ']');
                if (!close)
                        return -EINVAL;
                host = arg + 1;
                hlen = (size_t) (close - host);
                if (close[1] == ':') {
                        if (parse_uint(close + 2, 0, 65535, &port) < 0)
                                return -EINVAL;
                } else if (close[1])
                        return -EINVAL;
        } else {
                const char *colon = strrchr(arg, ':');
                if (colon && colon == strchr(arg, ':')) {
                        hlen = (size_t) (colon - arg);
                        if (parse_uint(colon + 1, 0, 65535, &port) < 0)
                                return -EINVAL;
                }
        }
        if (hlen == 0 || hlen >= sizeof t->host)
                return -EINVAL;
        memcpy(t->host, host, hlen);
        t->host[hlen] = '\0';
        t->port = (uint16_t) port;
        return 0;
}

int main(int argc, char **argv) {
        static const struct option options[] = {
                { "workers", required_argument, NULL, 'w' },
                { "timeout", required_argument, NULL, 't' },
                { "retries", required_argument, NULL, 'r' },
                { "deadline", required_argument, NULL, 'd' },
                { "cipher", required_argument, NULL, 'c' },
                { "workarounds", required_argument, NULL, 'W' },
                { "user", required_argument, NULL, 'u' },
                { "password-file", required_argument, NULL, 'p' },
                { "persistent", no_argument, NULL, 'P' },
                { "efi", no_argument, NULL, 'E' },
                { "debug-dump", no_argument, NULL, 'D' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        unsigned workers = 0, timeout = 0, retries = 0, deadline = 0, cipher = 0;
        const char *password_file = NULL;
        bool persistent = false, efi = false, debug_dump = false;
        char err[IPMI_ERROR_MAX];
        IpmiTarget base = {};
        int c;

        while ((c = getopt_long(argc, argv, "w:t:r:d:c:W:u:p:h", options, NULL)) >= 0) {
                switch (c) {
                case 'w':
                        if (parse_uint(optarg, 1, 1024, &workers) < 0)
                                goto bad;
                        break;
                case 't':
                        if (parse_uint(optarg, 1, 3600000, &timeout) < 0)
                                goto bad;
                        break;
                case 'r':
                        if (parse_uint(optarg, 0, 100, &retries) < 0)
                                goto bad;
                        break;
                case 'd':
                        if (parse_uint(optarg, 0, 3600000, &deadline) < 0)
                                goto bad;
                        break;
                case 'c':
                        if (parse_uint(optarg, 1, 255, &cipher) < 0)
                                goto bad;
                        break;
                case 'W':
                        if (ipmi_workarounds_parse(optarg, &base.workarounds, err, sizeof err) < 0) {
                                fprintf(stderr, "provd-bmc: %s\n", err);
                                return 2;
                        }
                        break;
                case 'u':
                        if (strlen(optarg) >= sizeof base.user) {
                                fprintf(stderr, "provd-bmc: user name longer than 16 bytes\n");
                                return 2;
                        }
                        snprintf(base.user, sizeof base.user, "%s", optarg);
                        break;
                case 'p':
                        password_file = optarg;
                        break;
                case 'P':
                        persistent = true;
                        break;
                case 'E':
                        efi = true;
                        break;
                case 'D':
                        debug_dump = true;
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                default:
                bad:
                        usage(stderr);
                        return 2;
                }
        }
        if (argc - optind < 2 || !password_file) {
                usage(stderr);
                return 2;
        }

        const char *command = argv[optind];
        IpmiRequest req = { .boot = { .persistent = persistent, .efi = efi } };
        static const struct {
                const char *name;
                IpmiOp op;
                IpmiBootDevice device;
        } commands[] = {
                { "status", IPMI_OP_POWER_STATUS, 0 },
                { "on", IPMI_OP_POWER_ON, 0 },
                { "off", IPMI_OP_POWER_OFF, 0 },
                { "cycle", IPMI_OP_POWER_CYCLE, 0 },
                { "reset", IPMI_OP_POWER_RESET, 0 },
                { "soft", IPMI_OP_POWER_SOFT, 0 },
                { "bootdev-none", IPMI_OP_BOOTDEV_SET, IPMI_BOOT_DEVICE_NONE },
                { "bootdev-pxe", IPMI_OP_BOOTDEV_SET, IPMI_BOOT_DEVICE_PXE },
                { "bootdev-disk", IPMI_OP_BOOTDEV_SET, IPMI_BOOT_DEVICE_DISK },
                { "bootdev-bios", IPMI_OP_BOOTDEV_SET, IPMI_BOOT_DEVICE_BIOS },
                { "bootdev-get", IPMI_OP_BOOTDEV_GET, 0 },
        };
        size_t i;
        for (i = 0; i < ELEMENTSOF(commands); i++)
                if (streq(command, commands[i].name))
                        break;
        if (i == ELEMENTSOF(commands)) {
                fprintf(stderr, "provd-bmc: unknown command '%s'\n", command);
                usage(stderr);
                return 2;
        }
        op = req.op = commands[i].op;
        req.boot.device = (uint8_t) commands[i].device;

        if (ipmi_password_read(password_file, base.password, sizeof base.password, err,
                               sizeof err) < 0) {
                fprintf(stderr, "provd-bmc: %s\n", err);
                return 2;
        }
        base.cipher_suite = (uint8_t) cipher;
        base.debug_dump = debug_dump;

        size_t n = (size_t) (argc - optind - 1);
        HostResult *hosts = calloc(n, sizeof *hosts);
        if (!hosts)
                return 1;

        BmcPool *pool = NULL;
        int r = bmc_pool_new(&(BmcPoolConfig){ .workers = workers, .timeout_ms = timeout,
                                               .queue_max = (unsigned) n + 1 },
                             &pool);
        if (r < 0) {
                fprintf(stderr, "provd-bmc: cannot start the BMC pool: %s\n", strerror(-r));
                return 1;
        }

        int64_t start = now_monotonic_ms();
        size_t submitted = 0;
        for (i = 0; i < n; i++) {
                BmcJob job = { .target = base, .request = req, .timeout_ms = timeout,
                               .retries = retries, .deadline_ms = deadline, .done = on_done,
                               .userdata = &hosts[i] };
                if (parse_host(argv[optind + 1 + i], &job.target) < 0) {
                        fprintf(stderr, "provd-bmc: bad host '%s'\n", argv[optind + 1 + i]);
                        hosts[i].r = -EINVAL;
                        snprintf(hosts[i].text, sizeof hosts[i].text, "bad host");
                        snprintf(hosts[i].label, sizeof hosts[i].label, "%s", argv[optind + 1 + i]);
                        hosts[i].done = true;
                        continue;
                }
                bmc_pool_key(&job.target, hosts[i].label, sizeof hosts[i].label);
                r = bmc_pool_submit(pool, &job);
                explicit_bzero(job.target.password, sizeof job.target.password);
                if (r < 0) {
                        hosts[i].r = r;
                        snprintf(hosts[i].text, sizeof hosts[i].text, "submit: %s", strerror(-r));
                        hosts[i].done = true;
                        continue;
                }
                submitted++;
        }
        explicit_bzero(base.password, sizeof base.password);

        pthread_mutex_lock(&done_lock);
        while (n_done < submitted)
                pthread_cond_wait(&done_cond, &done_lock);
        pthread_mutex_unlock(&done_lock);
        int64_t total = now_monotonic_ms() - start;
        bmc_pool_free(pool);

        int failed = 0;
        for (i = 0; i < n; i++) {
                printf("%s\t%s\t%s\t%lld\n", hosts[i].label, hosts[i].r < 0 ? errno_name(hosts[i].r) : "ok",
                       hosts[i].text, (long long) hosts[i].ms);
                if (hosts[i].r < 0)
                        failed = 1;
        }
        fprintf(stderr, "total %lld ms\n", (long long) total);
        free(hosts);
        return failed;
}
