/* sol.h — one Serial-over-LAN session to one BMC: the console byte stream of a node, read
 * through a file descriptor the caller polls.  Two backends, chosen per BMC in the inventory
 * (`bmc.console`):
 *
 *   SOL_BACKEND_IPMICONSOLE  FreeIPMI's libipmiconsole (IPMI v2.0 §15 and §24: activate the
 *                            SOL payload in an RMCP+ session).  Its engine threads do the
 *                            protocol; the session's fd (ipmiconsole_ctx_fd()) carries the
 *                            console bytes.  The default: no extra process per node.
 *   SOL_BACKEND_IPMITOOL     `ipmitool -I lanplus ... sol activate` on a pty, as Ironic runs
 *                            its consoles: the child's stdout is the stream.  For BMCs where
 *                            libipmiconsole does not stream (OpenIPMI's ipmi_sim 2.0.33, see
 *                            the README's "Console").  Runs `sol deactivate` first: a session
 *                            killed earlier keeps the payload busy until the BMC times it out.
 *
 * What it owns: opening, reading and closing one session; classifying why a session ended
 * into a negative errno plus a one-line message naming the BMC (never the password).
 * What it does not do: threads of its own (beyond libipmiconsole's engine), retries or
 * reconnects (console.c decides), files, the inventory.
 *
 * Threads: a SolSession is used by one thread at a time (console.c's capture thread).
 * sol_init() once before any session (console.c calls it before starting its thread). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "ipmi.h"

typedef enum SolBackend {
        SOL_BACKEND_NONE,        /* inventory "none": no console capture for this BMC */
        SOL_BACKEND_IPMICONSOLE, /* inventory "ipmiconsole" (default) */
        SOL_BACKEND_IPMITOOL,    /* inventory "ipmitool" */
        _SOL_BACKEND_MAX,
} SolBackend;

/* "none" | "ipmiconsole" | "ipmitool". */
const char *sol_backend_to_string(SolBackend b);
/* Inverse; -EINVAL for anything else. */
int sol_backend_from_string(const char *s, SolBackend *ret);

/* Where and how to open a session: plain copies, crosses threads by value. */
typedef struct SolTarget {
        IpmiTarget ipmi;          /* host, port, user, password (secret), cipher suite,
                                   * session_timeout_ms; ipmi.workarounds is ignored here */
        SolBackend backend;
        unsigned workarounds;     /* sol_workarounds_parse() bits for this backend */
        unsigned keepalive_ms;    /* libipmiconsole keepalive/session timeout; 0 = its default */
        const char *ipmitool;     /* ipmitool binary for SOL_BACKEND_IPMITOOL; NULL = "ipmitool"
                                   * from PATH (tests point it elsewhere) */
} SolTarget;

/* Parses the inventory's `bmc.workarounds` names for the console backend `b`: FreeIPMI's
 * ipmiconsole -W names (ipmiconsole(8) "WORKAROUNDS": authcap, intel20, supermicro20, sun20,
 * opensesspriv, integritycheckvalue, solpayloadsize, solport, solstatus, solchannelsupport,
 * serialalertsdeferred, solpacketseq) into IPMICONSOLE_WORKAROUND_* bits for
 * SOL_BACKEND_IPMICONSOLE.  For SOL_BACKEND_IPMITOOL the names are accepted and ignored
 * (ipmitool has no equivalent flags).  Names that are valid for the chassis commands
 * (ipmi_workaround_parse_one()) but mean nothing for SOL are accepted too.  Returns 0 and
 * ORs bits into *flags, or -EINVAL with a message naming the word. */
int sol_workaround_parse_one(SolBackend b, const char *name, unsigned *flags, char *err, size_t errlen);

/* Process-wide setup (libipmiconsole engine threads).  Idempotent, thread-safe.  0 or -EIO. */
int sol_init(void);
/* Tears down what sol_init() set up; after every session is closed.  Idempotent. */
void sol_shutdown(void);

typedef struct SolSession SolSession;

/* Starts opening a session; does not wait for the BMC.  On success *ret is the new session
 * (caller owns; sol_close()) and 0 is returned; errors found before any packet is sent
 * (-EINVAL bad target, -ENOENT ipmitool not found, -ENOMEM, -EMFILE) return a negative
 * errno and a message in err. */
int sol_open(const SolTarget *t, SolSession **ret, char *err, size_t errlen);

/* The fd to poll for POLLIN: console data, or the end of the session.  Borrowed. */
int sol_fd(SolSession *s);

/* True once the BMC has activated the payload (console bytes can flow). */
bool sol_established(SolSession *s);

/* Reads console bytes.  Returns > 0 bytes read, -EAGAIN nothing now, or 0 when the session
 * has ended: then sol_status() says why.  Never blocks. */
ssize_t sol_read(SolSession *s, void *buf, size_t len);

/* Why the session ended (0 = still open, or closed by sol_close()), with a one-line
 * message naming the BMC as host:port in err:
 *   -EOPNOTSUPP  the BMC has no SOL, or SOL is disabled on it (not worth retrying soon)
 *   -EACCES      user/password/privilege rejected (do not retry: BMCs lock accounts)
 *   -EBUSY       the SOL payload is in use by another session
 *   -ETIMEDOUT   no answer / the session timed out
 *   -ECONNRESET  the BMC deactivated the payload or dropped the session
 *   -EIO         anything else, with the backend's own text */
int sol_status(SolSession *s, char *err, size_t errlen);

/* Ends the session (deactivates the payload; for ipmitool: ends the child, then runs `sol
 * deactivate` in the background, reaped later) and frees it.  Bounded: never waits more
 * than ~1 s.  NULL is fine. */
void sol_close(SolSession *s);

/* Reaps finished background children (the `sol deactivate` runs of sol_close()) without
 * blocking.  The capture thread calls it each time round its loop. */
void sol_reap(void);
