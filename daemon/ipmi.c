/* ipmi.c — one BMC command over IPMI 2.0 / RMCP+ through libfreeipmi; see ipmi.h. */
#include "ipmi.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <freeipmi/freeipmi.h>

#include "util.h"

static pthread_once_t ipmi_once = PTHREAD_ONCE_INIT;
static int ipmi_init_result;
static bool ipmi_env_debug_dump; /* PROVD_IPMI_DEBUG=1 at the first ipmi_init(); read-only after */

static void ipmi_init_once(void) {
        const char *debug = getenv("PROVD_IPMI_DEBUG");
        ipmi_env_debug_dump = debug && streq(debug, "1");
        ipmi_init_result = ipmi_rmcpplus_init() < 0 ? -EIO : 0;
}

int ipmi_init(void) {
        pthread_once(&ipmi_once, ipmi_init_once);
        return ipmi_init_result;
}

static void ipmi_ctx_destroyp(ipmi_ctx_t *ctx) {
        if (*ctx)
                ipmi_ctx_destroy(*ctx);
}

static void fiid_obj_destroyp(fiid_obj_t *obj) {
        if (*obj)
                fiid_obj_destroy(*obj);
}

const char *ipmi_op_to_string(IpmiOp op) {
        static const char *const names[_IPMI_OP_MAX] = {
                [IPMI_OP_POWER_STATUS] = "status",     [IPMI_OP_POWER_ON] = "on",
                [IPMI_OP_POWER_OFF] = "off",           [IPMI_OP_POWER_CYCLE] = "cycle",
                [IPMI_OP_POWER_RESET] = "reset",       [IPMI_OP_POWER_SOFT] = "soft",
                [IPMI_OP_BOOTDEV_SET] = "bootdev-set", [IPMI_OP_BOOTDEV_GET] = "bootdev-get",
        };
        return (unsigned) op < _IPMI_OP_MAX ? names[op] : "unknown";
}

/* What the command is called in messages: the spec's name. */
static const char *ipmi_op_spec_name(IpmiOp op) {
        switch (op) {
        case IPMI_OP_POWER_STATUS:
                return "Get Chassis Status";
        case IPMI_OP_BOOTDEV_SET:
                return "Set System Boot Options (boot flags)";
        case IPMI_OP_BOOTDEV_GET:
                return "Get System Boot Options (boot flags)";
        default:
                return "Chassis Control";
        }
}

void ipmi_boot_flags_encode(const IpmiBoot *boot, uint8_t ret_data[5]) {
        /* §28.13 Table 28-14, parameter 5: data 1 [7] valid, [6] persistent, [5] EFI;
         * data 2 [5:2] boot device selector; data 3..5 left at their defaults (0). */
        ret_data[0] = (uint8_t) (0x80 | (boot->persistent ? 0x40 : 0) | (boot->efi ? 0x20 : 0));
        ret_data[1] = (uint8_t) ((boot->device & 0x0f) << 2);
        ret_data[2] = 0;
        ret_data[3] = 0;
        ret_data[4] = 0;
}

void ipmi_boot_flags_decode(const uint8_t data[2], IpmiBoot *ret) {
        *ret = (IpmiBoot){
                .valid = data[0] & 0x80,
                .persistent = data[0] & 0x40,
                .efi = data[0] & 0x20,
                .device = (uint8_t) ((data[1] >> 2) & 0x0f),
        };
}

const char *ipmi_boot_device_to_string(uint8_t device, char buf[static 8]) {
        switch (device) {
        case IPMI_BOOT_DEVICE_NONE:
                return "none";
        case IPMI_BOOT_DEVICE_PXE:
                return "pxe";
        case IPMI_BOOT_DEVICE_DISK:
                return "disk";
        case IPMI_BOOT_DEVICE_BIOS:
                return "bios";
        default:
                snprintf(buf, 8, "0x%x", device & 0x0f);
                return buf;
        }
}

int ipmi_boot_device_from_string(const char *s, IpmiBootDevice *ret) {
        static const struct {
                const char *name;
                IpmiBootDevice device;
        } table[] = {
                { "none", IPMI_BOOT_DEVICE_NONE },
                { "pxe", IPMI_BOOT_DEVICE_PXE },
                { "disk", IPMI_BOOT_DEVICE_DISK },
                { "bios", IPMI_BOOT_DEVICE_BIOS },
        };
        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                if (streq(s, table[i].name)) {
                        *ret = table[i].device;
                        return 0;
                }
        return -EINVAL;
}

/* The -W names of the FreeIPMI tools (freeipmi.conf(5), FreeIPMI 1.6.10).  `flags` are the
 * IPMI 2.0 session bits of <freeipmi/api/ipmi-api.h>; `why` says why a name FreeIPMI
 * accepts is refused here. */
static const struct {
        const char *name;
        unsigned flags;
        const char *why;
} ipmi_workaround_table[] = {
        { "none", 0, NULL },
        { "authcap", IPMI_WORKAROUND_FLAGS_OUTOFBAND_2_0_AUTHENTICATION_CAPABILITIES, NULL },
        { "intel20", IPMI_WORKAROUND_FLAGS_OUTOFBAND_2_0_INTEL_2_0_SESSION, NULL },
        { "supermicro20", IPMI_WORKAROUND_FLAGS_OUTOFBAND_2_0_SUPERMICRO_2_0_SESSION, NULL },
        /* ipmi-chassis(8): "sun20 ... automatically includes the opensesspriv workaround" */
        { "sun20",
          IPMI_WORKAROUND_FLAGS_OUTOFBAND_2_0_SUN_2_0_SESSION |
                  IPMI_WORKAROUND_FLAGS_OUTOFBAND_2_0_OPEN_SESSION_PRIVILEGE,
          NULL },
        { "opensesspriv", IPMI_WORKAROUND_FLAGS_OUTOFBAND_2_0_OPEN_SESSION_PRIVILEGE, NULL },
        { "integritycheckvalue", IPMI_WORKAROUND_FLAGS_OUTOFBAND_2_0_NON_EMPTY_INTEGRITY_CHECK_VALUE,
          NULL },
        { "nochecksumcheck", IPMI_WORKAROUND_FLAGS_OUTOFBAND_2_0_NO_CHECKSUM_CHECK, NULL },
#define IPMI_WA_15 "applies only to IPMI 1.5 sessions; provd speaks IPMI 2.0 (lanplus)"
        { "idzero", 0, IPMI_WA_15 },
        { "unexpectedauth", 0, IPMI_WA_15 },
        { "forcepermsg", 0, IPMI_WA_15 },
        { "endianseq", 0, IPMI_WA_15 },
        { "noauthcodecheck", 0, IPMI_WA_15 },
#define IPMI_WA_TOOL "is a FreeIPMI tool workaround, not an IPMI 2.0 session one"
        { "assumeio", 0, IPMI_WA_TOOL },
        { "spinpoll", 0, IPMI_WA_TOOL },
        { "assumemaxsdrrecordcount", 0, IPMI_WA_TOOL },
        { "solpayloadsize", 0, IPMI_WA_TOOL },
        { "solport", 0, IPMI_WA_TOOL },
        { "solstatus", 0, IPMI_WA_TOOL },
        { "solchannelsupport", 0, IPMI_WA_TOOL },
        { "serialalertsdeferred", 0, IPMI_WA_TOOL },
        { "solpacketseq", 0, IPMI_WA_TOOL },
        { "skipchecks", 0, IPMI_WA_TOOL },
        { "assumesystemevent", 0, IPMI_WA_TOOL },
        { "discretereading", 0, IPMI_WA_TOOL },
        { "ignorescanningdisabled", 0, IPMI_WA_TOOL },
        { "assumebmcowner", 0, IPMI_WA_TOOL },
        { "ignoreauthcode", 0, IPMI_WA_TOOL },
        { "slowcommit", 0, IPMI_WA_TOOL },
        { "veryslowcommit", 0, IPMI_WA_TOOL },
        { "solchannelassumelanchannel", 0, IPMI_WA_TOOL },
        { "ignorestateflag", 0, IPMI_WA_TOOL },
        { "malformedack", 0, IPMI_WA_TOOL },
        { "guidformat", 0, IPMI_WA_TOOL },
        { "ipmiping", 0, IPMI_WA_TOOL },
#undef IPMI_WA_15
#undef IPMI_WA_TOOL
};

int ipmi_workaround_parse_one(const char *name, unsigned *flags, char *err, size_t errlen) {
        for (size_t i = 0; i < ELEMENTSOF(ipmi_workaround_table); i++) {
                if (!streq(name, ipmi_workaround_table[i].name))
                        continue;
                if (ipmi_workaround_table[i].why)
                        return errbuf_fail(-EINVAL, err, errlen, "workaround '%s' %s", name,
                                         ipmi_workaround_table[i].why);
                *flags |= ipmi_workaround_table[i].flags;
                return 0;
        }
        return errbuf_fail(-EINVAL, err, errlen,
                         "unknown workaround '%.64s' (known: authcap, intel20, supermicro20, "
                         "sun20, opensesspriv, integritycheckvalue, nochecksumcheck, none)",
                         name);
}

int ipmi_workarounds_parse(const char *list, unsigned *ret, char *err, size_t errlen) {
        unsigned flags = 0;
        const char *p = list;

        if (list[strspn(list, " \t")] == '\0') { /* "" or blanks: no workarounds */
                *ret = 0;
                return 0;
        }
        for (;;) {
                while (*p == ' ' || *p == '\t')
                        p++;
                size_t n = strcspn(p, ",");
                size_t m = n;
                while (m > 0 && (p[m - 1] == ' ' || p[m - 1] == '\t'))
                        m--;
                if (m == 0)
                        return errbuf_fail(-EINVAL, err, errlen, "empty workaround name in '%.64s'",
                                         list);
                else {
                        char name[64];
                        if (m >= sizeof name)
                                return errbuf_fail(-EINVAL, err, errlen,
                                                 "unknown workaround '%.64s...'", p);
                        memcpy(name, p, m);
                        name[m] = '\0';
                        int r = ipmi_workaround_parse_one(name, &flags, err, errlen);
                        if (r < 0)
                                return r;
                }
                if (p[n] != ',')
                        break;
                p += n + 1;
        }
        *ret = flags;
        return 0;
}

int ipmi_password_read(const char *path, char *buf, size_t len, char *err, size_t errlen) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return errbuf_fail(-errno, err, errlen, "password file %s: %s", path,
                                 strerror(errno));

        struct stat st;
        if (fstat(fd, &st) < 0)
                return errbuf_fail(-errno, err, errlen, "password file %s: %s", path,
                                 strerror(errno));
        if (!S_ISREG(st.st_mode))
                return errbuf_fail(-EINVAL, err, errlen, "password file %s is not a regular file",
                                 path);
        if (st.st_mode & 0007)
                return errbuf_fail(-EPERM, err, errlen,
                                 "password file %s is accessible by others (mode %04o); "
                                 "chmod o-rwx it",
                                 path, (unsigned) (st.st_mode & 07777));
        if (st.st_size > 64)
                return errbuf_fail(-EFBIG, err, errlen,
                                 "password file %s is %lld bytes; a BMC password file holds "
                                 "one line of at most 20 bytes",
                                 path, (long long) st.st_size);

        char data[66];
        size_t n = 0;
        for (;;) {
                ssize_t k = read(fd, data + n, sizeof data - 1 - n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        int r = -errno;
                        explicit_bzero(data, sizeof data);
                        return errbuf_fail(r, err, errlen, "password file %s: %s", path,
                                         strerror(-r));
                }
                if (k == 0)
                        break;
                n += (size_t) k;
                if (n >= sizeof data - 1)
                        break;
        }
        if (n > 64) {
                explicit_bzero(data, sizeof data);
                return errbuf_fail(-EFBIG, err, errlen, "password file %s grew beyond 64 bytes",
                                 path);
        }

        /* The first line, without "\n" or "\r\n". */
        size_t end = 0;
        while (end < n && data[end] != '\n')
                end++;
        size_t plen = end;
        if (plen > 0 && data[plen - 1] == '\r')
                plen--;

        int r = 0;
        if (memchr(data, '\0', plen))
                r = errbuf_fail(-EINVAL, err, errlen, "password file %s contains a NUL byte", path);
        else if (plen > IPMI_TARGET_PASSWORD_MAX - 1)
                r = errbuf_fail(-EINVAL, err, errlen,
                              "password in %s is %zu bytes; IPMI 2.0 allows at most %d",
                              path, plen, IPMI_TARGET_PASSWORD_MAX - 1);
        else if (plen + 1 > len)
                r = errbuf_fail(-ENOBUFS, err, errlen, "password buffer too small for %s", path);
        else {
                memcpy(buf, data, plen);
                buf[plen] = '\0';
                r = (int) plen;
        }
        explicit_bzero(data, sizeof data);
        return r;
}

/* The form is also the hostname libfreeipmi accepts with a port (checked:
 * ipmi_ctx_open_outofband_2_0()). */
void ipmi_target_label(const IpmiTarget *t, char *buf, size_t len) {
        unsigned port = t->port ? t->port : IPMI_PORT_DEFAULT;
        if (strchr(t->host, ':'))
                snprintf(buf, len, "[%s]:%u", t->host, port);
        else
                snprintf(buf, len, "%s:%u", t->host, port);
}

static void ipmi_format_duration(unsigned ms, char buf[static 32]) {
        if (ms % 1000 == 0)
                snprintf(buf, 32, "%u s", ms / 1000);
        else
                snprintf(buf, 32, "%u ms", ms);
}

/* Translates the failure of the last FreeIPMI call on ctx (obj: the response object of the
 * command, or NULL while opening the session) into -errno + message.  The one place provd
 * maps FreeIPMI errors. */
static int ipmi_translate(ipmi_ctx_t ctx, fiid_obj_t obj, const IpmiTarget *t, const char *bmc,
                          IpmiOp op, unsigned timeout_ms, char *err, size_t errlen) {
        int saved_errno = errno;
        int e = ipmi_ctx_errnum(ctx);
        const char *text = ipmi_ctx_errormsg(ctx);
        const char *user = t->user[0] ? t->user : "(null user)";
        char dur[32];

        switch (e) {
        case IPMI_ERR_CONNECTION_TIMEOUT:
        case IPMI_ERR_SESSION_TIMEOUT:
        case IPMI_ERR_MESSAGE_TIMEOUT:
        case IPMI_ERR_DRIVER_TIMEOUT:
                ipmi_format_duration(timeout_ms, dur);
                return errbuf_fail(-ETIMEDOUT, err, errlen, "BMC %s did not answer within %s (%s)",
                                 bmc, dur, text);

        case IPMI_ERR_USERNAME_INVALID:
        case IPMI_ERR_PASSWORD_INVALID:
        case IPMI_ERR_K_G_INVALID:
        case IPMI_ERR_PRIVILEGE_LEVEL_INSUFFICIENT:
        case IPMI_ERR_PRIVILEGE_LEVEL_CANNOT_BE_OBTAINED:
        case IPMI_ERR_AUTHENTICATION_TYPE_UNAVAILABLE:
        case IPMI_ERR_PERMISSION:
        case IPMI_ERR_PASSWORD_VERIFICATION_TIMEOUT:
                /* A wrong password is never retried (bmc-pool.c): BMCs lock accounts. */
                return errbuf_fail(-EACCES, err, errlen, "BMC %s rejected user %s: %s", bmc, user,
                                 text);

        case IPMI_ERR_CIPHER_SUITE_ID_UNAVAILABLE:
                return errbuf_fail(-EOPNOTSUPP, err, errlen,
                                 "BMC %s does not support cipher suite %u (%s)", bmc,
                                 t->cipher_suite ? t->cipher_suite : IPMI_CIPHER_SUITE_DEFAULT,
                                 text);
        case IPMI_ERR_IPMI_2_0_UNAVAILABLE:
                return errbuf_fail(-EOPNOTSUPP, err, errlen,
                                 "BMC %s does not support IPMI 2.0 / RMCP+ (%s)", bmc, text);

        case IPMI_ERR_HOSTNAME_INVALID:
                return errbuf_fail(-EHOSTUNREACH, err, errlen, "BMC %s: cannot resolve the host name (%s)",
                                 bmc, text);

        case IPMI_ERR_OUT_OF_MEMORY:
                return errbuf_fail(-ENOMEM, err, errlen, "BMC %s: out of memory", bmc);

        case IPMI_ERR_SYSTEM_ERROR:
                if (saved_errno == EHOSTUNREACH || saved_errno == ENETUNREACH ||
                    saved_errno == EADDRNOTAVAIL || saved_errno == ECONNREFUSED)
                        return errbuf_fail(-EHOSTUNREACH, err, errlen, "BMC %s unreachable: %s",
                                         bmc, strerror(saved_errno));
                return errbuf_fail(-EIO, err, errlen, "BMC %s: %s (%s)", bmc, text,
                                 strerror(saved_errno));

        case IPMI_ERR_COMMAND_INVALID_OR_UNSUPPORTED:
                /* FreeIPMI's own name for C1h/CCh/... answers to some commands */
        case IPMI_ERR_BAD_COMPLETION_CODE: {
                uint64_t cc = 0;
                char cctext[160] = "";
                if (!obj || fiid_obj_get(obj, "comp_code", &cc) <= 0) {
                        if (e == IPMI_ERR_COMMAND_INVALID_OR_UNSUPPORTED)
                                return errbuf_fail(-EOPNOTSUPP, err, errlen,
                                                 "BMC %s does not support %s (%s)", bmc,
                                                 ipmi_op_spec_name(op), text);
                        return errbuf_fail(-EIO, err, errlen, "BMC %s: %s failed: %s", bmc,
                                         ipmi_op_spec_name(op), text);
                }
                if (ipmi_completion_code_strerror_cmd_r(obj, IPMI_NET_FN_CHASSIS_RQ, cctext,
                                                        sizeof cctext) < 0)
                        snprintf(cctext, sizeof cctext, "%s", text);
                bool boot_options = op == IPMI_OP_BOOTDEV_SET || op == IPMI_OP_BOOTDEV_GET;
                /* §5.2 Table 5-2: C1h invalid command, C2h invalid for LUN, CCh invalid data
                 * field (what a BMC without the capability answers, e.g. ipmi_sim without a
                 * chassis_control program), D5h parameter not supported; §28.12/§28.13:
                 * 80h "parameter not supported" for the boot options commands. */
                if (cc == IPMI_COMP_CODE_INVALID_COMMAND ||
                    cc == IPMI_COMP_CODE_COMMAND_INVALID_FOR_LUN ||
                    cc == IPMI_COMP_CODE_INVALID_DATA_FIELD_IN_REQUEST ||
                    cc == IPMI_COMP_CODE_REQUEST_PARAMETER_NOT_SUPPORTED ||
                    (boot_options && cc == IPMI_COMP_CODE_SET_BOOT_OPTIONS_PARAMETER_NOT_SUPPORTED))
                        return errbuf_fail(-EOPNOTSUPP, err, errlen,
                                         "BMC %s does not support %s: completion code 0x%02X (%s)",
                                         bmc, ipmi_op_spec_name(op), (unsigned) cc, cctext);
                if (cc == IPMI_COMP_CODE_INSUFFICIENT_PRIVILEGE_LEVEL)
                        return errbuf_fail(-EACCES, err, errlen,
                                         "BMC %s: user %s lacks the privilege for %s: completion "
                                         "code 0x%02X (%s)",
                                         bmc, user, ipmi_op_spec_name(op), (unsigned) cc, cctext);
                return errbuf_fail(-EIO, err, errlen, "BMC %s answered %s with completion code 0x%02X (%s)",
                                 bmc, ipmi_op_spec_name(op), (unsigned) cc, cctext);
        }

        default:
                return errbuf_fail(-EIO, err, errlen, "BMC %s: %s failed: %s", bmc,
                                 obj ? ipmi_op_spec_name(op) : "opening the IPMI 2.0 session",
                                 text);
        }
}

static int ipmi_check(const IpmiTarget *t, const IpmiRequest *req, char *err, size_t errlen) {
        if (t->host[0] == '\0' || !memchr(t->host, '\0', sizeof t->host))
                return errbuf_fail(-EINVAL, err, errlen, "BMC host missing");
        if (!memchr(t->user, '\0', sizeof t->user) ||
            !memchr(t->password, '\0', sizeof t->password))
                return errbuf_fail(-EINVAL, err, errlen, "BMC user or password not terminated");
        if ((unsigned) req->op >= _IPMI_OP_MAX)
                return errbuf_fail(-EINVAL, err, errlen, "unknown IPMI operation %d", (int) req->op);
        if (req->op == IPMI_OP_BOOTDEV_SET && req->boot.device > 0x0f)
                return errbuf_fail(-EINVAL, err, errlen, "boot device selector %u out of range",
                                 req->boot.device);
        return 0;
}

int ipmi_run(const IpmiTarget *t, const IpmiRequest *req, IpmiResult *ret, char *err,
             size_t errlen) {
        char bmc[IPMI_TARGET_HOST_MAX + 16];
        int r;

        r = ipmi_check(t, req, err, errlen);
        if (r < 0)
                return r;
        ipmi_target_label(t, bmc, sizeof bmc);

        r = ipmi_init();
        if (r < 0)
                return errbuf_fail(r, err, errlen, "cannot initialise FreeIPMI's crypto library");

        unsigned timeout = t->session_timeout_ms ? t->session_timeout_ms : IPMI_TIMEOUT_DEFAULT_MS;
        unsigned retrans = t->retransmission_ms;
        if (retrans == 0) {
                /* FreeIPMI checks the session timeout only when a retransmission is due and
                 * backs the interval off, so it overshoots.  Measured against a stopped
                 * ipmi_sim: 2 s timeout with a 500 ms interval -> 3.0 s; with timeout/8 ->
                 * 1 s: 1.14 s, 2 s: 2.3 s, 5 s: 5.6 s.  1/8 keeps the overshoot near 15 %
                 * without flooding a slow BMC. */
                retrans = timeout / 8;
                if (retrans < 100)
                        retrans = 100;
                if (retrans > 1000)
                        retrans = 1000;
        }
        if (retrans >= timeout) /* FreeIPMI wants it below the session timeout */
                retrans = timeout > 1 ? timeout / 2 : 1;
        if (timeout < 2)
                timeout = 2;
        uint8_t cipher = t->cipher_suite ? t->cipher_suite : IPMI_CIPHER_SUITE_DEFAULT;

        _cleanup_(ipmi_ctx_destroyp) ipmi_ctx_t ctx = ipmi_ctx_create();
        if (!ctx)
                return errbuf_fail(-ENOMEM, err, errlen, "BMC %s: out of memory", bmc);

        if (ipmi_ctx_open_outofband_2_0(ctx, bmc, t->user[0] ? t->user : NULL,
                                        t->password[0] ? t->password : NULL, NULL, 0,
                                        IPMI_PRIVILEGE_LEVEL_OPERATOR, cipher, timeout, retrans,
                                        t->workarounds,
                                        t->debug_dump || ipmi_env_debug_dump ? IPMI_FLAGS_DEBUG_DUMP
                                                                             : IPMI_FLAGS_DEFAULT) < 0)
                return ipmi_translate(ctx, NULL, t, bmc, req->op, timeout, err, errlen);

        IpmiResult result = {};
        _cleanup_(fiid_obj_destroyp) fiid_obj_t obj = NULL;
        int k;

        switch (req->op) {
        case IPMI_OP_POWER_STATUS: {
                obj = fiid_obj_create(tmpl_cmd_get_chassis_status_rs);
                if (!obj)
                        return errbuf_fail(-ENOMEM, err, errlen, "BMC %s: out of memory", bmc);
                k = ipmi_cmd_get_chassis_status(ctx, obj);
                if (k < 0)
                        break;
                uint64_t on = 0;
                if (fiid_obj_get(obj, "current_power_state.power_is_on", &on) < 0)
                        return errbuf_fail(-EIO, err, errlen,
                                         "BMC %s: malformed Get Chassis Status answer: %s", bmc,
                                         fiid_obj_errormsg(obj));
                result.power_on = on;
                break;
        }
        case IPMI_OP_POWER_ON:
        case IPMI_OP_POWER_OFF:
        case IPMI_OP_POWER_CYCLE:
        case IPMI_OP_POWER_RESET:
        case IPMI_OP_POWER_SOFT: {
                static const uint8_t control[_IPMI_OP_MAX] = {
                        [IPMI_OP_POWER_OFF] = IPMI_CHASSIS_CONTROL_POWER_DOWN,
                        [IPMI_OP_POWER_ON] = IPMI_CHASSIS_CONTROL_POWER_UP,
                        [IPMI_OP_POWER_CYCLE] = IPMI_CHASSIS_CONTROL_POWER_CYCLE,
                        [IPMI_OP_POWER_RESET] = IPMI_CHASSIS_CONTROL_HARD_RESET,
                        [IPMI_OP_POWER_SOFT] = IPMI_CHASSIS_CONTROL_INITIATE_SOFT_SHUTDOWN,
                };
                obj = fiid_obj_create(tmpl_cmd_chassis_control_rs);
                if (!obj)
                        return errbuf_fail(-ENOMEM, err, errlen, "BMC %s: out of memory", bmc);
                k = ipmi_cmd_chassis_control(ctx, control[req->op], obj);
                break;
        }
        case IPMI_OP_BOOTDEV_SET: {
                uint8_t data[5];
                ipmi_boot_flags_encode(&req->boot, data);
                obj = fiid_obj_create(tmpl_cmd_set_system_boot_options_rs);
                if (!obj)
                        return errbuf_fail(-ENOMEM, err, errlen, "BMC %s: out of memory", bmc);
                k = ipmi_cmd_set_system_boot_options(ctx, IPMI_SYSTEM_BOOT_OPTION_PARAMETER_BOOT_FLAGS,
                                                     IPMI_SYSTEM_BOOT_OPTIONS_PARAMETER_VALID_UNLOCKED,
                                                     data, sizeof data, obj);
                break;
        }
        case IPMI_OP_BOOTDEV_GET: {
                obj = fiid_obj_create(tmpl_cmd_get_system_boot_options_boot_flags_rs);
                if (!obj)
                        return errbuf_fail(-ENOMEM, err, errlen, "BMC %s: out of memory", bmc);
                k = ipmi_cmd_get_system_boot_options_boot_flags(
                        ctx, IPMI_SYSTEM_BOOT_OPTIONS_NO_SET_SELECTOR,
                        IPMI_SYSTEM_BOOT_OPTIONS_NO_BLOCK_SELECTOR, obj);
                if (k < 0)
                        break;
                uint64_t valid = 0, persistent = 0, efi = 0, device = 0;
                if (fiid_obj_get(obj, "boot_flags_valid", &valid) < 0 ||
                    fiid_obj_get(obj, "boot_flags_persistent", &persistent) < 0 ||
                    fiid_obj_get(obj, "bios_boot_type", &efi) < 0 ||
                    fiid_obj_get(obj, "boot_device", &device) < 0)
                        return errbuf_fail(-EIO, err, errlen,
                                         "BMC %s: malformed Get System Boot Options answer: %s",
                                         bmc, fiid_obj_errormsg(obj));
                result.boot = (IpmiBoot){ .valid = valid, .persistent = persistent, .efi = efi,
                                          .device = (uint8_t) device };
                break;
        }
        default:
                return errbuf_fail(-EINVAL, err, errlen, "unknown IPMI operation");
        }
        if (k < 0)
                return ipmi_translate(ctx, obj, t, bmc, req->op, timeout, err, errlen);

        /* Close Session (§22.19); its failure does not undo the command. */
        (void) ipmi_ctx_close(ctx);
        if (ret)
                *ret = result;
        return 0;
}
