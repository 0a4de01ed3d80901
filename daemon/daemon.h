/* daemon.h — provd's core: the loaded inventory, each node's provision state (in memory,
 * backed by the store), and the operations the HTTP routes call: boot answers, installer
 * events, node reads, inventory reload.
 *
 * Threads: every function may be called from any libmicrohttpd worker thread and from the
 * main thread (reload); one reader-writer lock guards the inventory, the runtime state and
 * the SQLite write connection.  Boot answers that change nothing (repeated pixiecore calls,
 * installed nodes) are served from memory under the shared lock; a transition (first boot,
 * installer event) is written under the exclusive lock in a store transaction that concurrent
 * transitions share (see "group commit" below), after which the calling thread, without that
 * lock, delivers it to the transition observers (see "transition observers" below).  The HTTP
 * write routes do not wait on their worker thread: they queue their write and suspend their
 * connection (see "suspended writes" below); the daemon's one committer thread leads the
 * batches no waiting caller leads.  Reads of what only the store holds (history, events, a
 * node's attempt, discovered MACs) run on the store's read-only connections without that lock
 * (store_reader_acquire()): they neither wait for transitions nor hold them up, and see every
 * transition answered before they started.  Nothing here blocks on the network. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "drift.h"
#include "events.h"
#include "firmware.h"
#include "inventory.h"
#include "overlay-cache.h"
#include "provision.h"
#include "store.h"
#include "sol.h"

typedef struct Daemon Daemon;

typedef struct DaemonConfig {
        const char *inventory_path;
        const char *state_dir;
        const char *state_url; /* NULL or "": SQLite in state_dir; else store_open_url()'s URL */
        const char *public_url; /* base URL nodes reach provd at, no trailing slash needed */
        int64_t silent_after_ms; /* a node whose last report is older is "silent"; 0: default */
        /* Several instances on one database: the file of the key every instance shares
         * (token-seal.h), or NULL.  Required when the store is shared (PostgreSQL). */
        const char *shared_key_file;
        /* This instance's name (leases it claims; NULL: "provd"). */
        const char *instance_name;
} DaemonConfig;

/* Nodes report at least every 15 minutes (nix/node.nix's timer); four missed reports. */
#define DAEMON_SILENT_AFTER_DEFAULT_MS (3600 * 1000LL)

/* ---- group commit ----------------------------------------------------------------------------
 * Every call that makes a transition (daemon_boot() opening or reopening an attempt,
 * daemon_install_event(), daemon_mark_reinstall(), daemon_record_bmc(),
 * daemon_record_console(), daemon_node_report(), daemon_expire_attempts()) is a *write*: a
 * function that decides and makes the transition from the in-memory state.  Writes are queued;
 * one calling thread at a time is the *leader*: it takes the queue, takes the exclusive lock,
 * runs every queued write — its own and other threads' — in ONE store transaction
 * (store_batch_begin(): each write in a savepoint of its own), takes in the writes that
 * arrived meanwhile (up to DAEMON_BATCH_MAX), COMMITs (one fsync for all: synchronous=FULL as
 * ever), and only then releases the lock and wakes the writers.  Writes that arrive while a
 * batch commits wait and form the next batch; its leader is one of them — a caller waiting in
 * the call, or the committer thread when the first of them is a suspended write (whose caller
 * does not wait; a waiting caller that arrives before the committer has taken the lead up
 * takes it over).  So:
 *   - an answer is sent only after its transition is on disk: a writer returns only when its
 *     batch has committed (or failed);
 *   - the in-memory state never shows what is not on disk: it changes inside the batch, under
 *     the exclusive lock held from the BEGIN to the end of the COMMIT, so no reader sees it
 *     before the commit.  Each node's runtime is saved before a batch first changes it (an
 *     undo log); when the COMMIT fails (or a write's failure makes SQLite roll the whole
 *     transaction back) every node the batch changed gets its saved state back, and every
 *     write of that transaction that had succeeded fails with the store's errno (-ENOSPC,
 *     -EIO, ...): its caller answers an error, hands out nothing (a token of an attempt the
 *     batch opened dies with it), and no event, metric, log line or observer call is made for
 *     it.  A write that fails by itself (a dead token, a store error confined to its
 *     savepoint) fails alone, and the others commit;
 *   - observers see each transition once, in commit order, after it is on disk: what follows
 *     a commit (live event, metrics, log line, the observers' queue) is done by the leader,
 *     still under the exclusive lock, in the order the writes ran in the transaction; each
 *     writer then delivers the queue up to its own transitions (see "transition observers"),
 *     and the leader does so for the batch's suspended writes before their done().
 * Lock order: the batch queue's mutex is taken without the daemon's lock (to queue) or after
 * it (the leader taking in late writes), never held while a write runs or a batch commits.
 * Writes that are not transitions (credentials, discovered MACs, console tails, reload) keep
 * a transaction of their own under the exclusive lock, between batches. */

/* Writes one batch takes in at most: bounds the transaction a COMMIT makes durable (and the
 * wait of the batch's first writer); more wait for the next batch. */
#define DAEMON_BATCH_MAX 256

/* Attempts (or boots) one deadline sweep expires per batch at most; it expires the rest in
 * the batches after, so boot answers and other writes take the lock between them instead of
 * waiting for the whole sweep (one expiry is a history row and a state row: ~0.1 ms). */
#define DAEMON_EXPIRE_BATCH 128

/* Counts since daemon_new(): for tests and metrics. */
typedef struct DaemonBatchStats {
        uint64_t writes;   /* writes run in batches */
        uint64_t commits;  /* batches committed */
        uint64_t failed;   /* batch transactions that failed: nothing of them is on disk */
} DaemonBatchStats;

/* Copies the counts (shared lock). */
void daemon_batch_stats(Daemon *d, DaemonBatchStats *ret);

/* Test hook: store_set_commit_hook() on the daemon's store (exclusive lock): fn is called at
 * every COMMIT, and a negative errno from it makes that COMMIT fail. */
void daemon_set_commit_hook(Daemon *d, StoreCommitHook fn, void *userdata);

/* Loads the inventory, opens the store and reads every node's state.  On success *ret is a
 * new Daemon (caller owns; daemon_free()).  Errors are logged, with the node, field or file,
 * and returned as negative errno. */
int daemon_new(const DaemonConfig *cfg, Daemon **ret);
void daemon_free(Daemon *d);

/* Re-reads the inventory file.  On any error the old inventory stays in force and a message
 * naming the node, field or file goes to err (errlen bytes, may be NULL; not logged: the
 * caller logs or answers it); on success nodes keep their state and open attempts, matched
 * by name, and the reload is logged (with how long it held the exclusive lock).  Returns the
 * new node count or a negative errno.
 * Reloads run one at a time.  Reading and parsing the file, matching its nodes with the
 * current ones and reading the nodes new to the inventory from the store (a read connection)
 * happen without the daemon's lock: boot answers and transitions go on meanwhile, and the
 * nodes kept carry their runtime state over as it is at the swap.  The exclusive lock is held
 * only to swap the inventory and runtime pointers in (and to drop the cached boot answers of
 * nodes whose boot files changed).  Afterwards the freed memory is given back to the kernel
 * (malloc_trim(3)). */
int daemon_reload(Daemon *d, char *err, size_t errlen);

typedef enum DaemonBootFormat {
        DAEMON_BOOT_PIXIECORE, /* pixiecore API JSON; NULL body for "ignore this machine" */
        DAEMON_BOOT_IPXE,      /* iPXE script, always a body */
} DaemonBootFormat;

typedef enum DaemonBootResult {
        DAEMON_BOOT_RESULT_INSTALL,
        DAEMON_BOOT_RESULT_LOCAL,
        DAEMON_BOOT_RESULT_UNKNOWN,
        DAEMON_BOOT_RESULT_IMAGE, /* a stateless node: its image and overlay */
} DaemonBootResult;

/* Answers a network boot of the machine with canonical MAC `mac`: runs the node's netboot
 * transition and renders the answer in `fmt`.  A stateless node is answered its image with its
 * overlay (boot_spec_build_image()) on every netboot: each opens a boot with a new boot token
 * (stored hashed, like install tokens), but for pixiecore's repeats of the open boot's
 * request, which get the same answer.  `fw` is the firmware the request says it comes
 * from (FIRMWARE_UNKNOWN when it does not say): an attempt this boot opens records it, and so
 * does the transition's history message.  *ret_body is malloc'd (caller frees) or NULL
 * (pixiecore format, local/unknown: the HTTP layer answers 404).  Returns 0, or a negative
 * errno when the transition could not be persisted (-ENOSPC, -EIO, ...): then nothing was
 * handed out. */
int daemon_boot(Daemon *d, const char *mac, DaemonBootFormat fmt, Firmware fw, DaemonBootResult *ret_result,
                char **ret_body);

/* What daemon_boot() would answer for `mac`, without changing anything (for HEAD: a probe
 * must not open an install attempt).  Returns 0 and *ret_result, or a negative errno. */
int daemon_boot_peek(Daemon *d, const char *mac, DaemonBootResult *ret_result);

/* Applies an installer event.  token: the bearer token as sent; phase: started |
 * partitioning | installing | succeeded | failed; message: free text or NULL.  On success
 * *ret is a new JSON object {"node","state","attempt","phase","changed"}.
 * Errors: -ENOKEY unknown or malformed token (HTTP 401), -EKEYEXPIRED token of an attempt
 * that has ended or been superseded (403), -EINVAL bad phase or message, -ENOENT the node
 * is no longer in the inventory, or a store errno.  `errbuf` receives a message for the
 * client in every error case. */
int daemon_install_event(Daemon *d, const char *token, const char *phase, const char *message, json_t **ret,
                         char *errbuf, size_t errlen);

/* Which nodes GET /v1/nodes lists; every given criterion must match. */
typedef struct DaemonNodeFilter {
        unsigned states;       /* bit (1 << ProvisionState) per wanted state; 0 = any */
        unsigned drifts;       /* bit (1 << Drift) per wanted drift; 0 = any */
        const char *name_glob; /* fnmatch(3) pattern on the name, or NULL */
        const char *rack;      /* exact rack, or NULL */
        unsigned modes;        /* bit (1 << NodeMode) per wanted mode; 0 = any */
} DaemonNodeFilter;

/* The most nodes daemon_nodes_scan() looks at under the shared lock in one call: a page of
 * GET /v1/nodes at the default size (and one more, to know if a page follows) in one look.
 * Looking at 1024 nodes holds the lock for ~50 µs (a release build); a transition's commit holds it
 * exclusively for milliseconds (an fsync). */
#define DAEMON_NODES_SCAN 1024

/* One bounded piece of GET /v1/nodes: appends to `out` (a JSON array) the summaries of at most
 * `max` (>= 1) nodes that match `filter` (NULL: all) and whose names sort after `after`
 * (bytewise, strcmp(3); NULL or "": from the first), in that name order, looking at no more
 * than DAEMON_NODES_SCAN nodes.  A summary is {"name","mac","rack","mode","state","state_since",
 * "attempt","drift"} (mode: "install" or "stateless") (drift.h's name of the node's drift now).  The shared lock is held only
 * for that look (copying the state of the nodes that match); the JSON is built after, from the
 * inventory of that moment (held on, should a reload replace it meanwhile).  `after` need not
 * be a current node's name, so a reload between two pieces neither repeats nor skips a node
 * that stays.  Returns how many were appended and stores in ret_last the name of the last node
 * looked at (where the next piece starts; `after` again if none was) and in *ret_end whether
 * no node sorts after that one; or -ENOMEM.  Any thread. */
int daemon_nodes_scan(Daemon *d, const DaemonNodeFilter *filter, const char *after, size_t max, json_t *out,
                      char ret_last[static INVENTORY_NAME_MAX + 1], bool *ret_end);

/* Counts the inventory's nodes per provision state into counts[]. */
void daemon_state_counts(Daemon *d, size_t counts[static _PROVISION_STATE_MAX]);

/* Counts the inventory's nodes per drift (now) into counts[]. */
void daemon_drift_counts(Daemon *d, size_t counts[static _DRIFT_MAX]);

/* ---- node credentials and reports -----------------------------------------------------------
 * A node credential is "pvn_" + 43 base64url characters (256 random bits, token.h), issued to
 * the installer of an open install attempt, which writes it into the installed system (never
 * into the Nix store); the node's reporter sends it with each report.  provd keeps its hash
 * only, one per node: issuing a new one (the next install) revokes the old. */

#define DAEMON_CREDENTIAL_PREFIX "pvn_"
#define DAEMON_CREDENTIAL_MAX (sizeof DAEMON_CREDENTIAL_PREFIX - 1 + TOKEN_STRING_MAX)

/* POST /v1/install/credential: issues the node credential of the install attempt whose install
 * token is `token`.  On success *ret is {"node","credential"}.  Errors as
 * daemon_install_event() for the token (-ENOKEY 401, -EKEYEXPIRED 403, -ENOENT), or a store
 * errno; `errbuf` gets a message for the client. */
int daemon_issue_credential(Daemon *d, const char *token, json_t **ret, char *errbuf, size_t errlen);

/* DELETE /v1/nodes/<name>/credential: revokes node `name`'s credential.  -ENOENT unknown node
 * or none to revoke (errbuf says which), or a store errno. */
int daemon_revoke_credential(Daemon *d, const char *name, char *errbuf, size_t errlen);

/* POST /v1/nodes/<name>/report: node `name` reports, authenticated by `credential` (the bearer
 * text as sent), that it runs `running`, booted `booted` (NixOS system store paths), kernel
 * `kernel` (uname -r, 1-64 printable bytes), up `uptime_s` seconds.  Stores it; when the
 * running system changed (or it is the node's first report) that goes into the history
 * (cause "report").  On success *ret is {"node","drift","expected","changed"}.
 * Errors, with a message in errbuf: -ENOKEY (401) no credential, or one provd does not know;
 * -EACCES (403) an install token or API token, or another node's credential; -ENOENT (404)
 * unknown node; -EINVAL (400) a bad field; or a store errno (507 on a full disk). */
int daemon_node_report(Daemon *d, const char *name, const char *credential, const char *running, const char *booted,
                       const char *kernel, double uptime_s, json_t **ret, char *errbuf, size_t errlen);

/* GET /v1/summary: {"total", "states": {state: count, all six}, "drift": {drift: count, all
 * five}, "last_event_id"}. */
int daemon_summary_json(Daemon *d, json_t **ret);

/* GET /v1/nodes/<name>/history: {"node", "history": [entry...] newest first, at most
 * `limit` (> 0) entries with id < before (before <= 0: from the newest), "next_before": id
 * to pass as `before` for the next page, or null}.  -ENOENT for an unknown node.  Takes no
 * daemon lock (a read connection; the name is checked under a mutex held for one lookup). */
int daemon_history_json(Daemon *d, const char *name, int64_t before, int64_t limit, json_t **ret);

/* GET /v1/events: {"events": [event...] oldest first, "last_event_id"}.  after_id >= 0: only
 * ids above it; since_ms > 0: only events at or after that time; neither (after_id < 0,
 * since_ms <= 0): the newest `limit` events.  last_event_id is the last id returned, or the newest id when none.
 * Takes no daemon lock: the events and last_event_id come from one snapshot of the store. */
int daemon_events_json(Daemon *d, int64_t after_id, int64_t since_ms, int64_t limit, json_t **ret);

/* The SSE text of events after `after` (see events_read_sse()), read from the store when
 * the in-memory ring no longer has them (through a read connection, without the daemon's
 * lock).  Same ownership and errors, never -ERANGE. */
int daemon_events_sse(Daemon *d, int64_t after, size_t max_bytes, char **ret_text, size_t *ret_len,
                      int64_t *ret_last);

/* The live event hub (borrowed; lives as long as d): for waiting on new events. */
EventHub *daemon_events(Daemon *d);

/* GET /v1/nodes/<name>: the summary plus system, bmc (never the password), the current
 * attempt in full, the whole history, and "report": the node's last report {"running",
 * "booted","kernel","uptime","reported_at"} or null, "credential": whether it holds a node
 * credential, "image": a stateless node's image name (null for an install node), "boot": its
 * latest boot (store_boot_json()) or null.  -ENOENT for an unknown name.  The in-memory part is read under the shared lock,
 * the attempt and history from a read connection outside it; the history is exactly that of
 * the state shown (see daemon.c). */
int daemon_node_json(Daemon *d, const char *name, json_t **ret);

/* GET /v1/nodes/<name>/boots: {"node", "boots": [boot...] newest first (store_boots_json()), at
 * most `limit` (> 0) with id < before (<= 0: from the newest), "next_before": the id to pass
 * as `before` for the next page, or null}.  -ENOENT for an unknown node.  Takes no daemon
 * lock (a read connection). */
int daemon_boots_json(Daemon *d, const char *name, int64_t before, int64_t limit, json_t **ret);

/* GET|HEAD /v1/overlay/<token>: the overlay of the stateless node whose boot token is `token`,
 * only while that boot is open (state booting) — the token is on the node's /proc/cmdline,
 * readable by every user of the node, and the overlay holds the node credential.  From the
 * overlay cache (overlay-cache.h): a miss renders it and issues the node a new node
 * credential (replacing its old one), a hit hands out the cached one; the boot records the
 * overlay's ETag.  On success *ret is a new reference (overlay_blob_unref()).  Errors, with a
 * message in err: -ENOENT "boot token not valid or boot over" (malformed or unknown token, a
 * boot that has ended or been superseded), overlay_cache_get()'s (a source file missing or
 * unreadable, naming node, path and source), or a store errno.  Takes no daemon lock while
 * rendering; call it holding none. */
int daemon_overlay_get(Daemon *d, const char *token, OverlayBlob **ret, char *err, size_t errlen);

/* "install" or "stateless"; NULL out of range. */
const char *daemon_node_mode_to_string(NodeMode m);

/* True if `path` is one of the current inventory's local boot files. */
bool daemon_file_allowed(Daemon *d, const char *path);

/* Number of nodes in the current inventory. */
size_t daemon_node_count(Daemon *d);

const char *daemon_public_url(const Daemon *d);

/* Liveness probe for the service watchdog (service.c): takes the daemon's lock exclusively
 * and releases it at once.  It returns only when no thread holds the lock, so it does not
 * return while a request or a reload is wedged inside the daemon (e.g. SQLite stuck on a
 * lock held by another process); the watchdog ping it guards is then not sent. */
void daemon_ping(Daemon *d);

/* What operations need to reach a node's BMC: copies, safe to hand to another thread. */
typedef struct DaemonNodeBmc {
        char node[64];
        bool has_bmc;
        char rack[64];    /* the inventory's rack, "" if none (whose instances serve the BMC) */
        char host[256];
        uint16_t port;
        char user[64];
        char password_file[4096]; /* "" if none */
        uint8_t cipher_suite;
        unsigned workarounds;
        bool efi;
        /* console capture: the inventory's bmc.console and its SOL workaround bits */
        SolBackend console;
        unsigned sol_workarounds;
} DaemonNodeBmc;

/* Copies node `name`'s BMC settings into *ret.  -ENOENT for an unknown node. */
int daemon_node_bmc(Daemon *d, const char *name, DaemonNodeBmc *ret);

/* Marks a node for install on its next netboot (provision event reinstall: -> pending; an
 * open attempt is abandoned), recorded in the history.  *ret_changed (may be NULL) is false
 * when the node was already pending.  -ENOENT unknown node, or a store errno. */
int daemon_mark_reinstall(Daemon *d, const char *name, bool *ret_changed);

/* Records a BMC command's outcome in the node's history (cause "bmc", state unchanged).
 * -ENOENT if the node is no longer in the inventory, or a store errno. */
int daemon_record_bmc(Daemon *d, const char *name, const char *message);

/* daemon_record_bmc() without the wait: queues the record for the next batch (strings
 * copied) and returns 0, or -ENOMEM or the errno of starting the committer thread (nothing
 * queued).  The batch commits it
 * after the caller has gone on; an error then (an unknown node, a store errno) is logged.
 * For BMC worker threads, whose next command must not wait for a commit.  Any thread, no
 * lock held.  Writes queued later by any thread commit after it (the batch queue's order). */
int daemon_record_bmc_submit(Daemon *d, const char *name, const char *message);

/* Fails every open install attempt older than deadline_ms (ms, > 0) at time `now` (ms since
 * the epoch): -> failed, cause timeout, attempt outcome timeout.  Returns how many expired,
 * or a store errno.  The open attempts are kept in a heap by opening time: with nothing due
 * this reads the oldest under the shared lock and returns; the exclusive lock is taken only
 * to fail what is due, and only those attempts are touched, at most DAEMON_EXPIRE_BATCH per
 * batch (the rest in the batches after, the lock released between them).  On a shared store
 * only the instance holding the lease "install-deadline-sweep" sweeps (it claims or renews it
 * here; another takes it over DAEMON_SWEEP_LEASE_MS after its holder stopped), and an attempt
 * another instance ended meanwhile is not touched (node_sync()).  Any thread. */
int daemon_expire_attempts(Daemon *d, int64_t deadline_ms, int64_t now);

/* ---- several instances on one database ----------------------------------------------------
 * When the store is PostgreSQL (store.h), other provd instances share it: each keeps its own
 * in-memory state and makes its own transitions, and the database is the one truth.  A write
 * reads its node's row first and is decided again when another instance changed the node
 * before it was written (store_apply()'s -ESTALE); tokens are stored sealed under the shared
 * key (token-seal.h) so any instance answers a repeated boot request with the same token;
 * the cluster's listener (cluster.h) calls the functions below for what other instances
 * commit. */

/* Whether the store is shared by several instances (PostgreSQL). */
bool daemon_is_shared(const Daemon *d);

/* Reads node `name`'s state, open token, credential and last report from the store (a read
 * connection, without the daemon's lock) and takes them over when the state is newer than this
 * instance's (exclusive lock, briefly).  Returns 1 when the state changed, 0 when not,
 * -ENOENT for a node not in the inventory or not in the store, or a store errno. */
int daemon_sync_node(Daemon *d, const char *name);

/* daemon_sync_node() for every node whose stored state is newer than this instance's (after
 * the listener lost its connection and may have missed notifications).  Returns how many
 * changed, or a store errno. */
int daemon_sync_all(Daemon *d);

/* Hands every history row committed after the last one handed over to the live event hub, in
 * id order (which is commit order on a shared store).  On a shared store this is how events,
 * this instance's too, reach GET /v1/events/stream.  Returns how many, or a store errno. */
int daemon_publish_committed(Daemon *d);

/* store_listen_open() on the daemon's store: a connection of its own that receives the
 * notifications of every instance's commits.  Returns 0 and *ret (caller owns;
 * store_listen_close()), -EOPNOTSUPP on SQLite, or a store errno. */
int daemon_listen_open(Daemon *d, Store **ret);

/* Runs fn(store, userdata) on the daemon's write connection under its exclusive lock, between
 * batches (store-cluster.h's writes: heartbeats, leases).  Returns fn's result. */
int daemon_store_write(Daemon *d, int (*fn)(Store *s, void *userdata), void *userdata);

/* Runs fn(store, userdata) on a read connection (or the write connection under the lock when
 * the store lends none).  Returns fn's result. */
int daemon_store_read(Daemon *d, int (*fn)(Store *s, void *userdata), void *userdata);

/* ---- suspended writes ------------------------------------------------------------------------
 * The HTTP write routes (boot answers that make a transition, installer events, node reports)
 * do not wait for their batch on the worker thread that called them: *_submit() checks the
 * request, queues the write and returns at once; the caller suspends its connection.  The
 * thread that leads the write's batch — the daemon's committer thread when no synchronous
 * writer leads — commits it, delivers its transitions to the observers (as for any write), and
 * only then calls done(userdata) (on that thread, no daemon lock held; done must be quick: it
 * resumes the connection).  The caller then reads the outcome with the matching *_finish()
 * and frees the write with daemon_write_free().  So a batch holds as many writes as there are
 * clients waiting, not as many as there are HTTP threads, and an answer is still sent only
 * after its transaction is on disk.  The committer thread starts with the first suspended
 * write and daemon_free() ends it after it has led what is queued; every submitted write gets
 * its done() before daemon_free() returns.  A submitted write is never cancelled: it commits
 * (or fails) whether or not its client is still connected.  Lock: daemon_boot_submit() first
 * looks under the shared lock (an answer that changes nothing needs no write); the other
 * *_submit() take no daemon lock, only the batch queue's mutex, so a worker thread never
 * waits for a batch, only (for boots) for the exclusive lock a batch holds. */

typedef struct DaemonWrite DaemonWrite;

/* Called once per submitted write, after its batch committed (or failed) and its transitions
 * were delivered; from then on the write is the caller's to finish and free. */
typedef void (*DaemonWriteDone)(void *userdata);

/* daemon_boot() without the wait: returns 0 when it answered at once (nothing to write:
 * *ret_result, *ret_body as daemon_boot(), *ret_write = NULL), 1 when it queued a write
 * (*ret_write, owned by the caller once done() is called; daemon_boot_finish() gives the
 * answer), or a negative errno (nothing queued). */
int daemon_boot_submit(Daemon *d, const char *mac, DaemonBootFormat fmt, Firmware fw, DaemonWriteDone done,
                       void *userdata, DaemonBootResult *ret_result, char **ret_body, DaemonWrite **ret_write);

/* The answer of a boot write after its done(): as daemon_boot() (*ret_body moves to the
 * caller). */
int daemon_boot_finish(DaemonWrite *w, DaemonBootResult *ret_result, char **ret_body);

/* daemon_install_event() without the wait: checks the fields (errors as daemon_install_event(),
 * errbuf says why, nothing queued) and queues the write: 0 and *ret_write.  The strings are
 * copied. */
int daemon_install_event_submit(Daemon *d, const char *token, const char *phase, const char *message,
                                DaemonWriteDone done, void *userdata, DaemonWrite **ret_write, char *errbuf,
                                size_t errlen);

/* The outcome of an installer event write after its done(): as daemon_install_event(). */
int daemon_install_event_finish(DaemonWrite *w, json_t **ret, char *errbuf, size_t errlen);

/* daemon_node_report() without the wait, as daemon_install_event_submit(). */
int daemon_node_report_submit(Daemon *d, const char *name, const char *credential, const char *running,
                              const char *booted, const char *kernel, double uptime_s, DaemonWriteDone done,
                              void *userdata, DaemonWrite **ret_write, char *errbuf, size_t errlen);

/* The outcome of a report write after its done(): as daemon_node_report(). */
int daemon_node_report_finish(DaemonWrite *w, json_t **ret, char *errbuf, size_t errlen);

/* Frees a write after its done() was called (never before: the batch still uses it).  NULL is
 * allowed. */
void daemon_write_free(DaemonWrite *w);
/* Fails every open boot of a stateless node older than deadline_ms (ms, > 0) at time `now`
 * (ms since the epoch): booting -> failed, cause timeout, boot outcome timeout (the console
 * capture attaches the console's tail to that history row, as for an install attempt).
 * Returns how many expired, or a store errno.  The open boots are kept in a heap of their
 * own by opening time, read under the shared lock when nothing is due; at most
 * DAEMON_EXPIRE_BATCH expire per batch, as daemon_expire_attempts().  Any thread. */
int daemon_expire_boots(Daemon *d, int64_t deadline_ms, int64_t now);

/* The inventory mode of node `name` into *ret.  -ENOENT for an unknown node. */
int daemon_node_mode(Daemon *d, const char *name, NodeMode *ret);

/* Records an admin's reboot of node `name` in its history (cause "reboot", "reboot requested",
 * state unchanged: the node's next netboot opens its next boot).  -ENOENT unknown node, or a
 * store errno. */
int daemon_mark_reboot(Daemon *d, const char *name);

/* ---- transition observers -----------------------------------------------------------------
 * Other modules hear of the daemon's transitions through one list of observers (operations:
 * boot device to disk once a node is installed; console capture: attempts opening, ending,
 * and the reinstall that asks for the next one).
 *
 * What is delivered: every transition the daemon commits (one store transaction under the
 * exclusive lock: netboots that open or reopen an attempt, installer events, reinstalls,
 * install deadlines, BMC and console notes, node reports), plus an admin's reinstall of a node
 * that is already pending (it changes nothing and records nothing: event_id 0, from = to =
 * pending; it still asks for the next attempt).  Not delivered: what changes nothing (a
 * repeated boot request of the same attempt, the same installer phase again), reloads.
 *
 * How: under the exclusive lock, right after the commit of the batch that wrote it (see "group
 * commit"), a copy of the transition (a DaemonTransition, node and BMC settings included) is
 * appended to a queue, so the queue is in commit order; a batch that fails queues nothing.
 * After the exclusive lock is released, the thread whose call made the transition delivers
 * the queue: one thread at a time delivers (the "deliverer"; the
 * others wait for it), calling every observer with each queued transition, oldest first,
 * observers in subscription order, holding no lock of the daemon while an observer runs.  So:
 *   - delivery is serialized and in commit order, for every observer, whatever threads made
 *     the transitions;
 *   - when a daemon call that made a transition returns, every observer has returned from
 *     that transition (and from all earlier ones);
 *   - observers may call back into the daemon.  A transition made from inside an observer
 *     is queued like any other and delivered after the current one, by the same thread,
 *     once the current observer call returns: the call that made it returns before it is
 *     delivered (it does not wait for itself, so it never deadlocks);
 *   - an observer receives the transitions committed after daemon_subscribe() returned,
 *     and none after daemon_unsubscribe() returned.
 * Every thread making a transition may wait for the observers of earlier ones: an observer
 * must be quick (take its own lock, note what to do, hand slow work to its own thread),
 * must not wait for another thread that may itself be making a transition, and must not
 * hold a lock across the call that another observer takes.  Lock order: the daemon's lock,
 * then the delivery mutex; an observer runs with neither. */

/* A committed transition, as observers see it: a copy made under the exclusive lock, valid
 * for the duration of the observer call. */
typedef struct DaemonTransition {
        uint64_t seq;          /* commit order: 1, 2, ... per Daemon (transitions with observers) */
        DaemonNodeBmc bmc;     /* the node (bmc.node is its name) and its BMC settings, no password */
        ProvisionState from, to;
        ProvisionEvent event;
        const char *cause;     /* the history's cause: provision_event_to_string(event) */
        const char *message;   /* the history message, or NULL when nothing was recorded */
        int64_t attempt;       /* the node's current (or last) attempt number after it, 0: none yet.
                                * For a stateless node the attempt numbers below are its boot
                                * numbers (console capture numbers its logs by boot) */
        int64_t opened_attempt; /* > 0: this attempt number opened */
        int64_t ended_attempt;  /* > 0: this attempt number ended, with `outcome` */
        const char *outcome;    /* ended: "succeeded", "failed", "timeout" or "abandoned"; else NULL */
        int64_t event_id;       /* the history row written, 0 if none */
        int64_t at_ms;          /* ms since the epoch */
} DaemonTransition;

/* An observer: t is borrowed for the call; ctx as given to daemon_subscribe(). */
typedef void (*DaemonObserverFn)(const DaemonTransition *t, void *ctx);

/* Adds an observer, called as described above, after the observers already subscribed.
 * Any thread (also from inside an observer).  On success *ret_id (> 0) names it for
 * daemon_unsubscribe().  -ENOMEM. */
int daemon_subscribe(Daemon *d, DaemonObserverFn fn, void *ctx, uint64_t *ret_id);

/* Removes observer `id`.  When it returns the observer is not running and will not be called
 * again, so its ctx may be freed — except when called from inside that very observer's call
 * (then the current call goes on; no later one comes).  It may wait for the deliverer: call
 * it without holding a lock that the observer takes.  -ENOENT if no such observer. */
int daemon_unsubscribe(Daemon *d, uint64_t id);
/* ---- end transition observers ------------------------------------------------------------ */

/* ---- discovery: unknown PXE clients, fed by discovery.c -------------------------
 * The discovered table never holds a MAC of the current inventory: daemon_new() and every
 * successful daemon_reload() delete such rows, and daemon_discovered_record() skips them. */

/* True if canonical MAC `mac` belongs to a node of the current inventory (shared lock). */
bool daemon_mac_known(Daemon *d, const char *mac);

/* What daemon_discovered_record() did with one entry. */
typedef enum DaemonDiscoveredOutcome {
        DAEMON_DISCOVERED_RECORDED, /* its row was updated */
        DAEMON_DISCOVERED_NEW,      /* a row was created */
        DAEMON_DISCOVERED_FULL,     /* not recorded: `max` MACs are kept already */
        DAEMON_DISCOVERED_KNOWN,    /* not recorded: the MAC is in the inventory */
} DaemonDiscoveredOutcome;

/* Records a batch of n entries (borrowed) in one store transaction (store_discovered_merge()),
 * keeping at most `max` rows, under the exclusive lock.  On success outcomes[i] (written only
 * then) says what happened to entries[i].  Returns 0 or a store errno (nothing recorded). */
int daemon_discovered_record(Daemon *d, const StoreDiscovered *entries, size_t n, int64_t max,
                             DaemonDiscoveredOutcome *outcomes);

/* GET /v1/discovered: {"discovered": [...]} (store_discovered_json()), read without the
 * daemon's lock.  New reference. */
int daemon_discovered_json(Daemon *d, json_t **ret);

/* DELETE /v1/discovered/<mac>: forgets canonical MAC `mac`.  -ENOENT if it is not recorded. */
int daemon_discovered_forget(Daemon *d, const char *mac);
/* ---- end discovery ------------------------------------------------------------------------ */
/* ---- console capture ------------------------------------------------------------ */

/* The node's current (or last) attempt number, 0 if it never had one.  -ENOENT unknown node. */
int daemon_node_attempt(Daemon *d, const char *name, int64_t *ret_seq);

/* Records a console capture note in the node's history (cause "console", state unchanged).
 * -ENOENT if the node is no longer in the inventory, or a store errno. */
int daemon_record_console(Daemon *d, const char *name, const char *message);

/* Sets the `console` text (the console's last lines) of history row event_id.  -ENOENT if no
 * such row, or a store errno. */
int daemon_set_console_tail(Daemon *d, int64_t event_id, const char *text);
