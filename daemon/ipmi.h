/* ipmi.h — one BMC command over IPMI 2.0 / RMCP+ ("lanplus") through libfreeipmi.
 *
 * What it owns: opening an out-of-band IPMI 2.0 session to one BMC, running one chassis
 * command in it (power status / on / off / cycle / reset / soft shutdown, boot device set /
 * get), closing the session, and translating every FreeIPMI failure ONCE into a negative
 * errno plus a message.  Nothing else in provd includes <freeipmi/...>.
 *
 * Threads: ipmi_run() is synchronous.  It blocks for about the session timeout at most when
 * the BMC does not answer (FreeIPMI overshoots by up to ~15 %, see ipmi_run()), and up to
 * about twice that when the BMC stops answering after the session is open (one bound for
 * opening, one for the command).  It is safe to call
 * from several threads at once: every call creates, uses and destroys its own FreeIPMI
 * context, and the only process-wide state (libgcrypt's initialisation, which FreeIPMI asks
 * to be done before threads exist) is done once by ipmi_init().  Callers that must not block
 * — the HTTP handlers — go through bmc-pool.h instead.
 *
 * What it does not do: scheduling, retries, one-command-per-BMC (bmc-pool.c), reading the
 * inventory (the caller copies the inventory's `bmc` fields into an IpmiTarget), logging
 * (errors come back as text; the caller decides).  Passwords are copied into IpmiTarget by
 * the caller (ipmi_password_read()) and never appear in a message this module writes.
 *
 * Protocol facts cite the IPMI v2.0 specification, rev. 1.1 ("§" below). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IPMI_PORT_DEFAULT 623        /* §13.1 (RMCP, from ASF): UDP port 623 (26Fh) */
#define IPMI_CIPHER_SUITE_DEFAULT 3  /* §22.15.2: RAKP-HMAC-SHA1, HMAC-SHA1-96, AES-CBC-128 */
#define IPMI_TIMEOUT_DEFAULT_MS 5000 /* session timeout used when a target says 0 */
#define IPMI_TARGET_HOST_MAX 256     /* host name or address literal, NUL included */
#define IPMI_TARGET_USER_MAX 17      /* §22.28 Set User Name: 16 bytes, NUL included */
#define IPMI_TARGET_PASSWORD_MAX 21  /* §13.31 / §22.30: IPMI 2.0 passwords are <= 20 bytes */
#define IPMI_ERROR_MAX 512           /* size of the message buffers below */

/* Everything needed to reach one BMC.  Plain copies, no pointers: a target crosses threads
 * by value.  Zero-initialise, then fill; 0 means "default" for every number. */
typedef struct IpmiTarget {
        char host[IPMI_TARGET_HOST_MAX];         /* name, IPv4, or IPv6 literal without [] */
        uint16_t port;                           /* 0 = IPMI_PORT_DEFAULT */
        char user[IPMI_TARGET_USER_MAX];         /* "" = the null user (§13.31) */
        char password[IPMI_TARGET_PASSWORD_MAX]; /* secret: never logged, never in messages */
        uint8_t cipher_suite;                    /* 0 = IPMI_CIPHER_SUITE_DEFAULT; suite 0
                                                  * itself (no authentication, §22.15.2) is
                                                  * never used */
        unsigned workarounds;          /* FreeIPMI IPMI 2.0 workaround flags, from
                                        * ipmi_workarounds_parse() */
        unsigned session_timeout_ms;   /* whole-exchange bound; 0 = IPMI_TIMEOUT_DEFAULT_MS */
        unsigned retransmission_ms;    /* resend interval; 0 = timeout / 8, 100..1000 */
        bool debug_dump;               /* FreeIPMI packet dump on stderr; test tool only
                                        * (PROVD_IPMI_DEBUG=1 turns it on for every target,
                                        * see ipmi_init()) */
} IpmiTarget;

typedef enum IpmiOp {
        IPMI_OP_POWER_STATUS, /* §28.2 Get Chassis Status: byte 1 bit 0 "power is on" */
        IPMI_OP_POWER_ON,     /* §28.3 Chassis Control 01h: power up */
        IPMI_OP_POWER_OFF,    /* §28.3 Chassis Control 00h: power down (not graceful) */
        IPMI_OP_POWER_CYCLE,  /* §28.3 Chassis Control 02h: power cycle */
        IPMI_OP_POWER_RESET,  /* §28.3 Chassis Control 03h: hard reset */
        IPMI_OP_POWER_SOFT,   /* §28.3 Chassis Control 05h: soft shutdown (ACPI overtemp) */
        IPMI_OP_BOOTDEV_SET,  /* §28.12 Set System Boot Options, parameter 5.  BMCs clear
                               * the "valid" bit 60 s later unless a Chassis Control comes
                               * (Table 28-14, parameter 3): set it right before on/cycle.
                               * ipmi_sim keeps only the device, not persistent/EFI. */
        IPMI_OP_BOOTDEV_GET,  /* §28.13 Get System Boot Options, parameter 5 */
        _IPMI_OP_MAX,
} IpmiOp;

/* Boot device selector, §28.13 Table 28-14 parameter 5, data 2 bits [5:2]. */
typedef enum IpmiBootDevice {
        IPMI_BOOT_DEVICE_NONE = 0, /* 0000b: no override */
        IPMI_BOOT_DEVICE_PXE = 1,  /* 0001b: force PXE */
        IPMI_BOOT_DEVICE_DISK = 2, /* 0010b: force boot from default hard drive */
        IPMI_BOOT_DEVICE_BIOS = 6, /* 0110b: force boot into BIOS setup */
} IpmiBootDevice;

typedef struct IpmiBoot {
        uint8_t device;  /* an IpmiBootDevice; a get may return any 4-bit selector */
        bool persistent; /* data 1 bit 6: all future boots (else: next boot only) */
        bool efi;        /* data 1 bit 5: EFI boot (else: PC compatible "legacy") */
        bool valid;      /* data 1 bit 7: boot flags valid (set always sets it) */
} IpmiBoot;

typedef struct IpmiRequest {
        IpmiOp op;
        IpmiBoot boot; /* IPMI_OP_BOOTDEV_SET only; .valid is ignored */
} IpmiRequest;

typedef struct IpmiResult {
        bool power_on; /* IPMI_OP_POWER_STATUS */
        IpmiBoot boot; /* IPMI_OP_BOOTDEV_GET */
} IpmiResult;

/* Initialises FreeIPMI's crypto (ipmi_rmcpplus_init(), which FreeIPMI wants called before
 * threads are created).  Idempotent and thread-safe (pthread_once); ipmi_run() calls it too,
 * bmc_pool_new() calls it before starting its workers.  Returns 0 or -EIO.
 *
 * It also reads the environment variable PROVD_IPMI_DEBUG, once: "1" makes every later
 * ipmi_run() dump each IPMI packet it sends and receives on stderr (FreeIPMI's
 * IPMI_FLAGS_DEBUG_DUMP: headers and command fields decoded, e.g. "IPMI 2.0 Set System Boot
 * Options Request" with its configuration_parameter_data).  For debugging and tests only:
 * the dump holds session material (user name, session IDs, RAKP random numbers and HMACs)
 * though not the password.  Off by default; SOL sessions (sol.c) are not dumped. */
int ipmi_init(void);

/* Runs one command against one BMC: opens an IPMI 2.0 session (RMCP+, §13.15-13.31) with
 * the target's cipher suite at operator privilege (enough for every command here, Appendix G
 * command table), sends the command, closes the session.
 * `req` says what; on success fills *ret (may be NULL) and returns 0.  On failure returns
 * a negative errno and writes a one-line message naming the BMC as host:port into err
 * (errlen bytes, may be 0):
 *   -ETIMEDOUT     no answer within the session timeout ("BMC 127.0.0.5:623 did not answer
 *                  within 5 s")
 *   -EHOSTUNREACH  host name does not resolve / address unusable
 *   -EACCES        user, password, K_g or privilege rejected ("BMC ... rejected user u:
 *                  password invalid")
 *   -EOPNOTSUPP    the BMC does not support the command, parameter or cipher suite
 *                  (completion code C1h/C2h/CCh/D5h/80h, with the code in the message)
 *   -EINVAL        bad target or request (checked before any packet is sent)
 *   -ENOMEM
 *   -EIO           anything else, with FreeIPMI's own text
 * The password never appears in the message. */
int ipmi_run(const IpmiTarget *target, const IpmiRequest *req, IpmiResult *ret, char *err,
             size_t errlen);

/* Encodes the 5 data bytes of boot option parameter 5 (§28.13 Table 28-14, "boot flags") for
 * a Set System Boot Options request: data1 = valid(7) | persistent(6) | efi(5), data2 =
 * device << 2, data3..5 = 0 (no lock-outs, BIOS-default console redirection and verbosity,
 * no mux override, device instance 0).  Pure. */
void ipmi_boot_flags_encode(const IpmiBoot *boot, uint8_t ret_data[5]);

/* Decodes data 1 and 2 of parameter 5 (inverse of the above for the fields IpmiBoot has). */
void ipmi_boot_flags_decode(const uint8_t data[2], IpmiBoot *ret);

/* "none", "pxe", "disk", "bios", or "0xN" for other selectors (into buf, >= 8 bytes). */
const char *ipmi_boot_device_to_string(uint8_t device, char buf[static 8]);

/* Parses "none" / "pxe" / "disk" / "bios".  Returns 0 and stores the device, or -EINVAL. */
int ipmi_boot_device_from_string(const char *s, IpmiBootDevice *ret);

/* Parses one FreeIPMI workaround name, as accepted by the FreeIPMI tools' -W option
 * (freeipmi.conf(5), ipmipower(8) "WORKAROUNDS"), into IPMI_WORKAROUND_FLAGS_OUTOFBAND_2_0_*
 * bits for an IPMI 2.0 session:
 *   authcap, intel20, supermicro20, sun20 (implies opensesspriv, as in FreeIPMI),
 *   opensesspriv, integritycheckvalue, nochecksumcheck; "none" = no flag.
 * Names FreeIPMI accepts that cannot apply to provd's IPMI 2.0 sessions are refused with a
 * message saying why: the IPMI 1.5-only ones (idzero, unexpectedauth, forcepermsg,
 * endianseq, noauthcodecheck) and the tool-specific ones (solpayloadsize, assumeio, ...).
 * Returns 0 and ORs the bits into *flags, or -EINVAL with a message naming the word. */
int ipmi_workaround_parse_one(const char *name, unsigned *flags, char *err, size_t errlen);

/* Parses a comma-separated list of the names above ("opensesspriv,authcap"; spaces around
 * names are ignored; "" = none).  On success stores the flags in *ret and returns 0; on
 * failure returns -EINVAL, leaves *ret untouched, and names the bad word in err. */
int ipmi_workarounds_parse(const char *list, unsigned *ret, char *err, size_t errlen);

/* Reads a BMC password from `path`: the first line, without its trailing "\n" or "\r\n".
 * Refuses (err names the file, never the content):
 *   -EPERM    the file is accessible by "other" (mode & 0007): it holds a secret
 *   -EFBIG    the file is larger than 64 bytes (not a password file)
 *   -EINVAL   not a regular file, a NUL byte in the password, or a password longer than
 *             20 bytes (IPMI 2.0 maximum: §13.31 RAKP, §22.30 Set User Password)
 *   -errno    from open/read (e.g. -ENOENT, -EACCES)
 * On success copies the password, NUL-terminated, into buf (len bytes, at least 21) and
 * returns its length.  An empty password is allowed (some BMCs have one). */
int ipmi_password_read(const char *path, char *buf, size_t len, char *err, size_t errlen);

/* How a BMC is named in messages: "host:port", "[v6]:port" for IPv6 literals (port 0 ->
 * IPMI_PORT_DEFAULT), host as given, into buf (IPMI_TARGET_HOST_MAX + 8 bytes is enough). */
void ipmi_target_label(const IpmiTarget *target, char *buf, size_t len);

/* "status", "on", "off", "cycle", "reset", "soft", "bootdev-set", "bootdev-get". */
const char *ipmi_op_to_string(IpmiOp op);
