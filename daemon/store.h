/* store.h — provision state persisted in SQLite (WAL mode, synchronous=FULL) at
 * <state-dir>/provd.db, or in PostgreSQL (state_url = postgresql://...), which several provd
 * instances may share.  One store, written once on db.h for both: same tables, same
 * migrations, same statements.
 *
 * Tables: nodes (current provision state, attempt and version per node name), attempts (one
 * row per install attempt: token hash, sealed token, phase, outcome, times), history (every
 * transition: time, from, to, cause, message); boots, discovered, node_credentials,
 * node_reports below; instances, leases and bmc_ops (several instances on one database: the
 * functions on them are store-cluster.c's, on store_db()).  store_apply() writes the new state,
 * the attempt change and the history row in one transaction, so the history never disagrees
 * with the state and a `kill -9` at any point loses nothing that was answered.
 *
 * Threads: the write connection is not thread-safe — the caller serialises every call on the
 * Store from store_open() (daemon.c holds its lock around them).  Reads may instead go through
 * read connections, lent by store_reader_acquire() to one thread at a time, which need no
 * lock of the caller's (see "read connections" below).
 * Database errors are translated once, in db.c's backends, to negative errno (SQLITE_FULL, or
 * an I/O error whose system call said ENOSPC/EDQUOT -> -ENOSPC, SQLITE_BUSY -> -EBUSY, a lost
 * PostgreSQL connection -> -ECONNRESET, ...: db.h); the database's message is logged.
 *
 * A full filesystem (SQLite): a write that fails for space returns -ENOSPC having written
 * nothing (its transaction rolled back — by SQLite itself or here, never both), and the WAL is
 * then checkpointed and truncated so its space is free again; the next write simply tries
 * again, so writes work as soon as there is space, with no reopen.  Reads need no space.
 * Opening an up-to-date database writes nothing.  The WAL is bounded: see
 * STORE_WAL_AUTOCHECKPOINT_PAGES.
 *
 * PostgreSQL: the state directory keeps only the lock file (each instance has its own).  A
 * connection lost outside a transaction is re-established before the next statement; a write
 * whose connection was lost fails with -ECONNRESET having written nothing (db.h).  Each write
 * that changes a node notifies the other instances (store_listen_open()). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "db.h"
#include "provision.h"
#include "token.h"

typedef struct Store Store;

/* PostgreSQL advisory lock keys of provd (pg_advisory_xact_lock(bigint):
 * https://www.postgresql.org/docs/15/functions-admin.html#FUNCTIONS-ADVISORY-LOCKS): "provd" in
 * ASCII in the high bytes (0x70726f7664......), then a number; decimal, as they are pasted into
 * SQL (PostgreSQL 15 has no hexadecimal literals).  MIGRATE: held while the schema is migrated;
 * HISTORY: held from a transaction's first history row to its end (store_history_lock()).
 * Other provd keys take the next numbers. */
#define STORE_PG_LOCK_MIGRATE 8102661233867489281
#define STORE_PG_LOCK_HISTORY 8102661233867489282

/* The write connection's page cache, in KiB (PRAGMA cache_size=-N,
 * https://sqlite.org/pragma.html#pragma_cache_size; SQLite's default is 2000): the B-trees'
 * inner pages and the history's last pages stay in it; a node's leaf page that is not there
 * is one read from the kernel's page cache. */
#define STORE_CACHE_KIB 1024

/* The WAL's bounds.  SQLite checkpoints by itself after a commit that leaves at least this many
 * pages (4 KiB each) in the WAL: PRAGMA wal_autocheckpoint, whose default of 1000 pages (4 MB)
 * is more than a small state filesystem has (https://sqlite.org/pragma.html#pragma_wal_autocheckpoint).
 * The WAL then starts over from its beginning, so its file stays near this size plus the
 * last transaction (https://sqlite.org/wal.html, "Avoiding Excessively Large WAL Files").
 * A transition writes 6 to 9 pages (measured): a checkpoint every 8 to 10 transitions. */
#define STORE_WAL_AUTOCHECKPOINT_PAGES 64
/* Bytes the WAL file is truncated to when it starts over after a checkpoint, should one large
 * transaction have grown it (PRAGMA journal_size_limit; without it the file keeps its largest
 * size for ever: https://sqlite.org/pragma.html#pragma_journal_size_limit).  A plain number:
 * it is pasted into the PRAGMA. */
#define STORE_WAL_LIMIT_BYTES 262144
/* The database file grows in chunks of this many bytes, allocated at once (see db_open() in
 * store.c): slack for the checkpoint that frees the WAL on a full filesystem. */
#define STORE_DB_CHUNK_BYTES (64 * 1024)

/* ---- read connections ----------------------------------------------------------------------
 * Reads of what only the database holds (history, events, attempts, the discovered table) can
 * run on read-only connections of their own instead of the write connection, so they need
 * neither it nor the lock the caller holds around it.  In WAL mode readers do not block the
 * writer and the writer does not block readers; a read transaction sees every transaction
 * committed before it started and none committed later (https://sqlite.org/wal.html,
 * "Concurrency"; https://sqlite.org/isolation.html).  So a read through a connection acquired
 * after a write returned sees that write.  Readers never write, need no space, and open only
 * once store_open() has made the schema current.  A reader inside a read transaction keeps the
 * WAL from starting over after a checkpoint (the WAL grows meanwhile) and makes the truncating
 * checkpoint after a failure for space a partial one (tried again at the next failure):
 * readers are lent for one request's reads and given back at once. */

/* Read connections open at most at once; a thread that finds all of them lent waits for one.
 * On PostgreSQL a read connection is a connection of its own, each read transaction BEGIN
 * ISOLATION LEVEL REPEATABLE READ READ ONLY: one snapshot, taken at its first statement
 * (https://www.postgresql.org/docs/15/transaction-iso.html#XACT-REPEATABLE-READ). */
#define STORE_READERS_MAX 4

/* Lends a read connection to s's database (opening one on first need; idle ones are kept)
 * and begins a read transaction on it: every read through *ret — the read functions of this
 * file take it in place of the store: store_events_json(), store_history_json(),
 * store_last_event_id(), store_attempt_json(), store_discovered_json(),
 * store_discovered_count() — sees one snapshot, taken at its first read.  Writes through it
 * fail (-EROFS).  Thread-safe; does not touch the write connection.  Returns 0 and *ret (give
 * it back with store_reader_release(), before store_free(s)), -EOPNOTSUPP when s has no
 * read connections (it was opened in exclusive locking mode, see store_open(), or SQLite was
 * built single-threaded: read through s itself then, under the caller's lock), or another
 * negative errno (logged). */
int store_reader_acquire(Store *s, Store **ret);

/* Takes the snapshot of `reader` (from store_reader_acquire(), not read through yet) now
 * instead of at its first read: the caller can take it under its own lock, so that it matches
 * what the lock guards, and run the queries after unlocking.  Quick: it reads the database
 * header, from the page cache or the WAL, and waits for no lock of the writer's.  Returns 0
 * or a negative errno (-EINVAL for the write store). */
int store_reader_snapshot(Store *reader);

/* Ends the read transaction of `reader` (from store_reader_acquire()) and takes it back.
 * Thread-safe; NULL is a no-op. */
void store_reader_release(Store *reader);

static inline void store_reader_releasep(Store **reader) {
        store_reader_release(*reader);
}

/* A node's persisted state.  A node with no row is PROVISION_NEW with no attempt. */
typedef struct StoreNodeState {
        ProvisionState state;
        int64_t since_ms;   /* when it entered `state` */
        int64_t attempt_id; /* current (last) attempt's id, 0 if none */
        int64_t attempt_seq; /* its number for this node: 1, 2, ... */
        int64_t attempt_opened_ms; /* when it was opened, 0 if none */
        char phase[16];     /* last installer phase of that attempt, "" if none */
        int64_t boot_id;    /* a stateless node's current (last) boot's id, 0 if none */
        int64_t boot_seq;   /* its number for this node: 1, 2, ... */
        int64_t boot_opened_ms; /* when the open boot started; 0 when no boot is open */
        int64_t version;    /* the row's version, bumped by every store_apply(); 0: no row */
} StoreNodeState;

/* An attempt found by its token hash. */
typedef struct StoreAttempt {
        char node[64];
        int64_t id;
        int64_t seq;
        int64_t ended_ms; /* 0 while open */
        char outcome[16]; /* "" while open; succeeded | failed | abandoned */
} StoreAttempt;

/* A boot found by its token hash. */
typedef struct StoreBoot {
        char node[64];
        int64_t id;
        int64_t seq;
        int64_t ended_ms; /* 0 while open */
        char outcome[16]; /* "" while open; running | failed | timeout | abandoned */
} StoreBoot;

/* What a node reported it runs (POST /v1/nodes/<name>/report); strings borrowed. */
typedef struct StoreReport {
        const char *running; /* /run/current-system's target, a store path */
        const char *booted;  /* /run/booted-system's target */
        const char *kernel;  /* uname -r */
        double uptime_s;     /* seconds since the node booted */
} StoreReport;

/* One transition to persist. */
typedef struct StoreTransition {
        const char *node;
        const ProvisionTransition *t; /* borrowed, from provision_transition() */
        const uint8_t *new_token_hash; /* TOKEN_HASH_SIZE bytes: for OPEN/REOPEN_ATTEMPT */
        const char *phase;   /* installer phase for SET_PHASE/END_*, else NULL */
        const char *message; /* history message (NULL: t->why) */
        const StoreReport *report; /* non-NULL: upsert the node's report (node_reports), at at_ms */
        const char *firmware; /* OPEN/REOPEN_ATTEMPT, OPEN_BOOT: the firmware that netbooted, a
                               * firmware.h name ("efi-x64"), recorded on the new attempt or
                               * boot; NULL: unknown */
        const char *mac;      /* OPEN_BOOT: the MAC that netbooted (canonical), or NULL */
        const char *image;    /* OPEN_BOOT: the image's name */
        const uint8_t *token_box; /* OPEN/REOPEN_ATTEMPT, OPEN_BOOT: opaque bytes stored with the new
                                   * attempt or boot (the sealed token, see store_token_box()), or NULL */
        size_t token_box_len;
        int64_t at_ms;
        bool record;         /* write a history row */
} StoreTransition;

/* Opens (creating if needed) <state_dir>/provd.db and takes an exclusive lock on
 * <state_dir>/provd.lock so two daemons never share a state directory.  Creates state_dir
 * (mode 0700) if missing.  Creates or migrates the schema only when something is missing: a
 * database with the current schema is opened without any write, so this succeeds on a full
 * filesystem.  The -wal and -shm files are kept across a close (SQLITE_FCNTL_PERSIST_WAL,
 * the WAL empty) so that a restart on a full filesystem needs no new space for them.  When
 * even the -shm file cannot be created for want of space the database is opened in exclusive
 * locking mode (logged): no other connection can then read it, so there are no read
 * connections.  Returns 0 and a Store (caller owns; store_free()), or a negative errno: -EBUSY when another
 * provd holds the lock, -EACCES, -ENOSPC, -EBADMSG for a corrupt database; the reason is
 * logged. */
int store_open(const char *state_dir, Store **ret);

/* Opens the store `state_url` names: NULL, "" or "sqlite:" -> store_open(state_dir) (SQLite at
 * <state_dir>/provd.db); "postgresql://..." or "postgres://..." -> that PostgreSQL database
 * (a libpq connection URI: https://www.postgresql.org/docs/15/libpq-connect.html#LIBPQ-CONNSTRING),
 * with <state_dir>/provd.lock held as for SQLite.  The schema is created or migrated as by
 * store_open(), on PostgreSQL under an advisory lock (STORE_PG_LOCK_MIGRATE), so that instances
 * starting at once migrate once.  Returns 0 and the Store (caller owns; store_free()), or a
 * negative errno, logged (never the URL's password): -EINVAL for an unknown scheme (the
 * message names state_url), -ECONNREFUSED (server unreachable), -EACCES (login refused),
 * -EPROTO (the database's schema is newer than this provd's), or one of store_open()'s. */
int store_open_url(const char *state_url, const char *state_dir, Store **ret);

/* Whether s is on PostgreSQL (several instances may share its database). */
bool store_is_postgresql(const Store *s);

/* The store's write connection, for the SQL of store-cluster.c (the instances, leases and
 * bmc_ops tables): borrowed; used under the caller's serialisation of every write (the same
 * lock as store_apply()'s), never inside a batch it did not open. */
Db *store_db(Store *s);

/* Closes the read connections (every one must have been given back), checkpoints and
 * truncates the WAL to zero bytes (PRAGMA wal_checkpoint(TRUNCATE), waiting up to the busy
 * timeout for other processes' readers; a failure is logged as a warning) and closes the
 * store.  Consumes s; NULL is a no-op. */
void store_free(Store *s);

/* Reads one node's state.  Returns 0, -ENOENT if the store has no row (a new node), or
 * another negative errno. */
int store_get_node(Store *s, const char *name, StoreNodeState *ret);

/* One node's persisted state, as store_node_states_foreach() hands it out (name borrowed for
 * the call). */
typedef int (*StoreNodeStateFn)(void *userdata, const char *name, const StoreNodeState *state);

/* Calls fn for every node the store has a row of (the state store_get_node() would read), in
 * no particular order, with one statement; a negative return of fn stops and is returned.
 * Works on the write store and on a read connection (store_reader_acquire()).  Returns 0 or a
 * negative errno (-EBADMSG: a row with an unknown state, logged). */
int store_node_states_foreach(Store *s, StoreNodeStateFn fn, void *userdata);

/* Persists one transition from `cur` (the node's state as last read/applied) in a single
 * transaction (inside a batch: a savepoint of the batch's transaction, see below), and on success writes the resulting state to *ret (only then) and, if
 * ret_event_id is non-NULL, the id of the history row written (0 when tr->record is false).
 * Returns 0 or a negative errno, with nothing written: -ENOSPC when the filesystem is full
 * (the WAL's space is then given back, see the top of this file), -EBUSY, -EIO, ... */
int store_apply(Store *s, const StoreTransition *tr, const StoreNodeState *cur, StoreNodeState *ret,
                int64_t *ret_event_id);
/* Optimistic transitions: store_apply() first locks the node's row (PostgreSQL: SELECT ... FOR
 * UPDATE; SQLite's write transaction is exclusive) and writes only while the row's version is
 * cur->version (a new node: cur->version 0 and no row); the row's version is then bumped by one
 * (a new row starts at 1) and *ret has it.  When another writer (another instance) moved the
 * node on, it writes nothing and returns -ESTALE with the row's current state in *ret — the
 * one failure that writes *ret — so the caller can decide again on it.  On PostgreSQL a
 * transition also notifies "n <node>" (store_listen_open()) and takes the history lock before
 * its history row. */

/* The opaque bytes (StoreTransition.token_box) of node's open attempt, or else of its open boot,
 * copied into buf (cap bytes), their length into *ret_len.  Returns 0, -ENOENT when the node has
 * no open attempt or boot with bytes, -ENOBUFS when they are longer than cap, or an errno.
 * Works on read connections. */
int store_token_box(Store *s, const char *node, uint8_t *buf, size_t cap, size_t *ret_len);

/* PostgreSQL: takes the history lock (STORE_PG_LOCK_HISTORY) for the open write transaction,
 * once: every transaction that inserts history rows takes it before its first, so history ids
 * are handed out in commit order across instances (a reader resuming "after id N" never misses
 * a row committed later with a smaller id).  The writes of this file take it at their BEGIN
 * (store_batch_begin() and each write outside a batch), as SQLite's BEGIN IMMEDIATE takes its
 * write lock: one writing transaction at a time across instances, and no lock cycle between it
 * and row locks.  A transaction of store-cluster.c that writes history rows must take it too,
 * before any row lock of nodes.  SQLite (one writer): a no-op.  Returns 0 or a negative errno. */
int store_history_lock(Store *s);

/* PostgreSQL: pg_notify('provd', payload) in the open transaction (sent at its COMMIT, not at
 * all after a rollback: https://www.postgresql.org/docs/15/sql-notify.html).  Payloads: "n
 * <node>" (state, report or boot changed), "c <node>" (credential), "i <instance>" (heartbeat),
 * "o <op id>" (BMC operation).  SQLite: a no-op.  Returns 0 or a negative errno. */
int store_notify(Store *s, const char *payload);

/* ---- notifications (PostgreSQL) -------------------------------------------------------------
 * A listener is a connection of its own that ran LISTEN provd; it receives the payload of every
 * store_notify() committed by any instance on the database, its own included, in commit order
 * (https://www.postgresql.org/docs/15/sql-listen.html). */

typedef int (*StoreNotifyFn)(void *userdata, const char *payload);

/* Opens a listener on s's database into *ret (caller owns; store_listen_close(), before
 * store_free(s)).  Returns 0, -EOPNOTSUPP on SQLite, or a negative errno (logged).  Thread-safe
 * with respect to s (a connection of its own); the listener is used by one thread at a time. */
int store_listen_open(Store *s, Store **ret);

/* Waits up to timeout_ms (< 0: for ever; 0: not at all) for notifications, then calls
 * fn(userdata, payload) for each one received (payload borrowed for the call); a negative
 * return of fn stops and is returned.  Returns the number received (0: none in time), or a
 * negative errno: -ECONNRESET when the connection was lost (notifications may have been
 * missed: close, reopen, and read everything again). */
int store_listen_wait(Store *l, int timeout_ms, StoreNotifyFn fn, void *userdata);

/* Closes a listener.  NULL is a no-op. */
void store_listen_close(Store *l);


/* ---- group commit: one transaction, one fsync, for many writes ------------------------------
 * A batch is one write transaction (BEGIN IMMEDIATE ... COMMIT) that several writes share:
 * store_apply() and the other writes of this file run inside it, each in a SAVEPOINT of its
 * own, so a write that fails undoes only itself and the others stand
 * (https://sqlite.org/lang_savepoint.html).  The COMMIT makes all of them durable with one
 * sync of the WAL (synchronous=FULL, as for a single write: https://sqlite.org/pragma.html#pragma_synchronous),
 * or none of them: a failed COMMIT rolls the whole batch back.  Some failures of a single
 * statement (SQLITE_FULL, SQLITE_IOERR, SQLITE_BUSY, SQLITE_NOMEM) may make SQLite roll back
 * the whole transaction at once (https://sqlite.org/lang_transaction.html, "Response To
 * Errors Within A Transaction"): store_batch_open() then says false, and what the batch wrote
 * before is gone too.  On PostgreSQL the batch is BEGIN ... COMMIT, each write in a SAVEPOINT
 * likewise (a failed statement fails the transaction only until its ROLLBACK TO:
 * https://www.postgresql.org/docs/15/sql-rollback-to.html).  Reads through s inside a batch
 * see its writes; read connections see none of them until the COMMIT.  The caller serialises
 * as for every write (daemon.c: under its exclusive lock, from the BEGIN to the end of the
 * COMMIT). */

/* Begins a batch.  Returns 0, -EINVAL when one is open already, or a store errno. */
int store_batch_begin(Store *s);

/* Whether the batch's transaction is still open: false after a write's failure made SQLite
 * roll it all back (everything the batch wrote is gone), or outside a batch. */
bool store_batch_open(Store *s);

/* Commits the batch: 0 when everything it wrote is on disk, or a negative errno when nothing
 * of it is (rolled back; after a failure for space the WAL's space is given back): -ENOSPC,
 * -EIO (also when the transaction had already ended, see store_batch_open()), -EBUSY, or the
 * commit hook's errno.  The batch is over either way. */
int store_batch_commit(Store *s);

/* Rolls the batch back (nothing of it is written) and ends it.  No batch: a no-op. */
void store_batch_rollback(Store *s);

/* Test hook: fn(userdata) is called at every COMMIT of a write transaction on s's write
 * connection, before the commit is made durable (SQLite: sqlite3_commit_hook():
 * https://sqlite.org/c3ref/commit_hook.html; PostgreSQL: called just before the COMMIT is sent,
 * a refusal rolling the transaction back).  Returning 0 lets it proceed; a negative errno
 * turns the COMMIT into a rollback and the commit fails with that errno — a COMMIT failure
 * through SQLite's own path, as a full disk or an I/O error would make it.  fn NULL removes
 * the hook.  Same serialisation as the writes. */
typedef int (*StoreCommitHook)(void *userdata);
void store_set_commit_hook(Store *s, StoreCommitHook fn, void *userdata);

/* Finds the attempt a token hash belongs to.  Returns 0, -ENOENT if none, or an errno. */
int store_find_token(Store *s, const uint8_t hash[static TOKEN_HASH_SIZE], StoreAttempt *ret);

/* A query over the history table (the cluster's events).  Rows match all given bounds. */
typedef struct StoreEventQuery {
        const char *node;   /* only this node's rows, or NULL for all */
        int64_t after_id;   /* only ids greater than this; < 0: no lower bound (see below) */
        int64_t before_id;  /* > 0: only ids less than this */
        int64_t since_ms;   /* > 0: only rows at or after this time (ms since the epoch) */
        int64_t limit;      /* > 0: at most this many rows */
        bool newest_first;  /* order by id descending */
        bool with_node;     /* add "node" to each row (events across nodes) */
} StoreEventQuery;

/* One history row as GET /v1/events shows it: {"id","at","from","to","cause","message",
 * "attempt"} (rows read from the store also carry "console" when that column is set) plus "node" when `node` is non-NULL.  at_ms: ms since the epoch; message NULL
 * and attempt_seq <= 0 become JSON null.  Returns a new reference, or NULL (no memory).
 * Pure: also how daemon.c shapes the live events of the stream. */
json_t *store_event_to_json(int64_t id, const char *node, int64_t at_ms, const char *from, const char *to,
                            const char *cause, const char *message, int64_t attempt_seq);

/* History rows as a JSON array of {"id","at","from","to","cause","message","attempt"} (plus
 * "node" with q->with_node).  `id` is the row id, increasing across the cluster; `attempt`
 * the node's attempt number or null.  Oldest first unless q->newest_first; oldest first
 * with a limit and no lower bound (after_id < 0, since_ms <= 0) returns the newest `limit`
 * rows, still oldest first.  *ret is a new reference. */
int store_events_json(Store *s, const StoreEventQuery *q, json_t **ret);

/* A node's whole history, oldest first (store_events_json() for one node). */
int store_history_json(Store *s, const char *node, json_t **ret);

/* The highest history row id, 0 if there is none. */
int store_last_event_id(Store *s, int64_t *ret);

/* One attempt as a JSON object {"id","number","phase","opened_at","ended_at","outcome",
 * "message","firmware"} (firmware: a firmware.h name or null), or JSON null when attempt_id is 0.  *ret is a new reference. */
int store_attempt_json(Store *s, int64_t attempt_id, json_t **ret);

/* ---- boots of stateless nodes ----------------------------------------------------------------
 * boots(id, node, seq, token_hash UNIQUE, started_at, ended_at, outcome, message, mac, firmware,
 * image, overlay_etag): one row per network boot of a stateless node, opened and ended by
 * store_apply() (PROVISION_ACTION_OPEN_BOOT; leaving booting ends it with
 * provision_boot_outcome()); nodes.boot_id is the node's open (or last) boot.  Added to older
 * databases as they are opened. */

/* Finds the boot a token hash belongs to.  Returns 0, -ENOENT if none, or an errno. */
int store_find_boot_token(Store *s, const uint8_t hash[static TOKEN_HASH_SIZE], StoreBoot *ret);

/* One boot as JSON {"id","number","started_at","ended_at","outcome","message","mac","firmware",
 * "image","overlay_etag"} (absent values null), or JSON null when boot_id is 0.  -ENOENT when
 * there is no such boot.  *ret is a new reference.  Works on read connections. */
int store_boot_json(Store *s, int64_t boot_id, json_t **ret);

/* Node `node`'s boots as a JSON array of the objects above, newest first, at most `limit`
 * (<= 0: all) with id < before_id (<= 0: from the newest).  *ret is a new reference. */
int store_boots_json(Store *s, const char *node, int64_t before_id, int64_t limit, json_t **ret);

/* Records the ETag of the overlay served for boot boot_id (its own transaction, or a
 * savepoint in a batch).  Returns 0, -ENOENT if no such boot, or an errno. */
int store_boot_set_etag(Store *s, int64_t boot_id, const char *etag);

/* ---- discovery: the `discovered` table ----------------------------------------
 * discovered(mac TEXT PRIMARY KEY, first_seen_ms, last_seen_ms, count, arch INTEGER NULL,
 * uuid TEXT NULL, vendor_class TEXT, user_class TEXT, interface TEXT, ipxe INT): PXE clients
 * whose MAC is not in the inventory, written by discovery.c's batches (daemon.c). */

/* One discovered MAC: a row, or what a batch of packets adds to it. */
typedef struct StoreDiscovered {
        char mac[18];            /* canonical "aa:bb:cc:dd:ee:ff" */
        int64_t first_seen_ms;   /* ms since the epoch */
        int64_t last_seen_ms;
        int64_t count;           /* DISCOVER/REQUEST packets seen (a batch: since the last one) */
        int arch;                /* DHCP option 93, -1 if none was sent */
        char uuid[37];           /* option 97 as 8-4-4-4-12 hex, "" if none was sent */
        char vendor_class[256];  /* option 60 of the latest packet, "" if absent */
        char user_class[256];    /* option 77 of the latest packet, "" if absent */
        char interface[64];      /* the interface it was captured on */
        bool ipxe;               /* an iPXE user class was seen from this MAC */
} StoreDiscovered;

/* What store_discovered_merge() did with one entry. */
typedef enum StoreDiscoveredOutcome {
        STORE_DISCOVERED_UPDATED, /* the MAC's row existed and was updated */
        STORE_DISCOVERED_NEW,     /* a row was created */
        STORE_DISCOVERED_FULL,    /* not recorded: the table already has `max` rows */
} StoreDiscoveredOutcome;

/* Merges n batch entries (borrowed) into the table in ONE transaction: a MAC's row gets
 * first_seen = min, last_seen = max, count += count, arch/uuid of the entry when it has one
 * (else kept), vendor_class/user_class/interface of the entry, ipxe ORed.  A MAC without a
 * row is inserted only while the table has fewer than max rows.  On success outcomes[i]
 * (n entries, written only then) says what happened to entries[i].  Returns 0 or a negative
 * errno (nothing written). */
int store_discovered_merge(Store *s, const StoreDiscovered *const *entries, size_t n, int64_t max,
                           StoreDiscoveredOutcome *outcomes);

/* GET /v1/discovered's array: [{"mac","first_seen","last_seen","count","arch","arch_name",
 * "firmware","uuid","vendor_class","user_class","ipxe","interface"}...] (firmware: the
 * firmware.h name of arch, "unknown" without one), newest last_seen first.  *ret
 * is a new reference. */
int store_discovered_json(Store *s, json_t **ret);

/* Deletes the row of canonical MAC `mac`.  Returns 0, -ENOENT if there is none, or an errno. */
int store_discovered_delete(Store *s, const char *mac);

/* Deletes, in one transaction, every row whose MAC `is_known(userdata, mac)` says is known
 * (the inventory's MACs); when no row is known it only reads.  Returns the number of rows
 * deleted, or a negative errno (nothing deleted). */
int store_discovered_prune(Store *s, bool (*is_known)(void *userdata, const char *mac), void *userdata);

/* The number of rows, into *ret. */
int store_discovered_count(Store *s, int64_t *ret);
/* ---- end discovery ------------------------------------------------------------------------ */
/* Console capture: sets history row event_id's `console` text (the console's last
 * lines; NULL clears it).  Returns 0, -ENOENT if there is no such row, or an errno. */
int store_set_console(Store *s, int64_t event_id, const char *text);

/* ---- node credentials and reports ---------------------------------------------------------
 * node_credentials(node PRIMARY KEY, hash BLOB UNIQUE, issued_at, attempt_id): the one valid
 * node credential of each node, as a BLAKE2b hash (token.h); node_reports(node PRIMARY KEY,
 * running, booted, kernel, uptime_s, reported_at): each node's last report.  Reports are
 * written by store_apply() (StoreTransition.report), with the history row of a change. */

/* Sets node's credential hash (replacing the one it had: rotation), issued at at_ms for the
 * install attempt attempt_id (0: none), in one transaction.  Returns 0 or a negative errno. */
int store_credential_set(Store *s, const char *node, const uint8_t hash[static TOKEN_HASH_SIZE], int64_t at_ms,
                         int64_t attempt_id);

/* Revokes node's credential.  Returns 0, -ENOENT if it had none, or a negative errno. */
int store_credential_delete(Store *s, const char *node);

/* One node's credential and report, as store_node_side_foreach() hands them out (borrowed for
 * the call). */
typedef struct StoreNodeSide {
        const char *node;
        const uint8_t *credential_hash; /* TOKEN_HASH_SIZE bytes, or NULL: no credential */
        StoreReport report;             /* .running NULL: no report */
        int64_t reported_ms;
} StoreNodeSide;
typedef int (*StoreNodeSideFn)(void *userdata, const StoreNodeSide *side);

/* Calls fn for every node that has a credential or a report, in no particular order; a
 * negative return of fn stops and is returned.  Works on the write store and on a read
 * connection.  Returns 0 or a negative errno. */
int store_node_side_foreach(Store *s, StoreNodeSideFn fn, void *userdata);

/* store_node_side_foreach() for node `node` alone: fn is called once when it has a credential
 * or a report.  Returns 0, -ENOENT when it has neither, or a negative errno. */
int store_node_side_get(Store *s, const char *node, StoreNodeSideFn fn, void *userdata);

static inline void store_freep(Store **s) {
        if (*s)
                store_free(*s);
}
