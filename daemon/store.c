/* store.c — see store.h.  Written once on db.h for both backends (SQLite and PostgreSQL):
 * same tables, same migrations, same statements; the dialects differ only where db_kind()
 * picks the text (DDL types, BEGIN IMMEDIATE, FOR UPDATE, advisory locks, notifications). */
#include "store.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "db.h"
#include "dhcp.h"
#include "firmware.h"
#include "log.h"
#include "store-internal.h"
#include "util.h"

#define STORE_BUSY_TIMEOUT_MS 5000

struct Store {
        Db *db;
        DbKind kind;
        int lock_fd;
        bool ready;    /* store_open() succeeded */
        bool in_batch; /* between store_batch_begin() and its commit or rollback */
        /* PostgreSQL: the open transaction holds the history lock (STORE_PG_LOCK_HISTORY);
         * history_locked_write: it was taken in the current write's savepoint, so a ROLLBACK
         * TO that savepoint gives it back. */
        bool history_locked;
        bool history_locked_write;
        /* The test hook of store_set_commit_hook(), and the errno it made the last COMMIT fail with. */
        StoreCommitHook commit_hook;
        void *commit_hook_data;
        int commit_hook_error;
        /* A read connection (store_reader_acquire()) or a listener (store_listen_open()) is a
         * Store too, with only `db`, `kind` and `parent` (the store it reads) set; the fields
         * below are the write store's. */
        Store *parent;
        bool listener;
        char *db_path;  /* SQLite: the database file */
        char *conninfo; /* PostgreSQL: the state URL, for the read and listen connections */
        bool exclusive; /* SQLite locking_mode=EXCLUSIVE: no other connection can read the database */
        /* The read connections: readers_lock guards the rest; readers_cond is signalled when
         * one is given back or a slot frees. */
        pthread_mutex_t readers_lock;
        pthread_cond_t readers_cond;
        Store *idle[STORE_READERS_MAX]; /* open and not lent, n_idle of them */
        size_t n_idle;
        size_t n_open; /* open (idle or lent) or being opened */
};

static bool is_pg(const Store *s) {
        return s->kind == DB_POSTGRESQL;
}

static sqlite3 *sq(Store *s) {
        assert(s->kind == DB_SQLITE);
        return db_handle(s->db);
}

Db *store_db(Store *s) {
        return s->db;
}

/* Runs one statement without bound values, its rows dropped (BEGIN, COMMIT, ...), through the
 * statement cache.  Returns 0 or a negative errno (logged by db.c). */
static int exec_cached(Store *s, const char *sql) {
        _cleanup_(db_donep) DbStmt *st = NULL;
        int r = db_prepare(s->db, sql, &st);
        if (r < 0)
                return r;
        r = db_step(st);
        return r < 0 ? r : 0;
}

/* Copies what the WAL holds into the database file and truncates the WAL to zero bytes
 * (PRAGMA wal_checkpoint(TRUNCATE): https://sqlite.org/pragma.html#pragma_wal_checkpoint,
 * https://sqlite.org/c3ref/wal_checkpoint_v2.html).  `wait`: wait for other connections'
 * readers up to the busy timeout; without it a reader in the way makes it a partial
 * checkpoint at once (the caller holds the daemon's lock and must not stall the boot API).
 * SQLite only.  Returns 0 or a negative errno; logged at level `level` when it fails. */
static int wal_truncate(Store *s, bool wait, int level) {
        int frames = -1, done = -1;
        sqlite3 *h = sq(s);
        if (!wait)
                sqlite3_busy_timeout(h, 0);
        int rc = sqlite3_wal_checkpoint_v2(h, NULL, SQLITE_CHECKPOINT_TRUNCATE, &frames, &done);
        if (!wait)
                sqlite3_busy_timeout(h, STORE_BUSY_TIMEOUT_MS);
        if (rc == SQLITE_OK)
                return 0;
        int e = sqlite3_system_errno(h);
        int r = (rc & 0xff) == SQLITE_FULL || e == ENOSPC || e == EDQUOT ? -ENOSPC
                : (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED ? -EBUSY
                                                                             : -EIO;
        return log_full(level, r, NULL,
                        "state store: cannot checkpoint and truncate the WAL (%d of %d frames copied): %s", done,
                        frames, sqlite3_errmsg(h));
}

/* Gives back the space the WAL holds after a write failed for it (r == -ENOSPC): the next
 * write then needs only the space its own pages take.  Nothing is lost: only committed
 * transactions are in the WAL, and the checkpoint copies them first.  SQLite only (a full disk
 * on PostgreSQL is the server's).  Returns r. */
static int reclaim_if_full(Store *s, int r) {
        if (r == -ENOSPC && s->kind == DB_SQLITE && !db_in_transaction(s->db))
                (void) wal_truncate(s, false, LOG_DEBUG);
        return r;
}

/* The end of a transaction: what it held is given back. */
static void transaction_ended(Store *s) {
        s->history_locked = false;
        s->history_locked_write = false;
}

void store_tx_rollback(Store *s) {
        if (db_in_transaction(s->db))
                (void) exec_cached(s, "ROLLBACK");
        transaction_ended(s);
}

/* The statement that begins a write transaction of its own: SQLite's BEGIN IMMEDIATE (the
 * write lock at once) or BEGIN DEFERRED (only at the first write); PostgreSQL's BEGIN (row
 * locks are taken as rows are written). */
static const char *begin_sql(Store *s, bool immediate) {
        if (is_pg(s))
                return "BEGIN";
        return immediate ? "BEGIN IMMEDIATE" : "BEGIN DEFERRED";
}

int store_tx_begin(Store *s, bool immediate) {
        transaction_ended(s);
        return exec_cached(s, begin_sql(s, immediate));
}

int store_tx_end(Store *s, int r) {
        if (r >= 0) {
                int k = exec_cached(s, "COMMIT");
                if (k >= 0) {
                        transaction_ended(s);
                        return r;
                }
                r = k;
        }
        store_tx_rollback(s);
        return r;
}

/* COMMIT of the open transaction.  On failure the transaction is rolled back (by the
 * database, or here when it is still open), and the WAL's space given back after a failure
 * for space.  The test hook (store_set_commit_hook()): on SQLite SQLite's commit hook, on
 * PostgreSQL called here before the COMMIT (a refusal rolls back).  Returns 0 or a negative
 * errno: the test hook's when it refused. */
static int commit(Store *s) {
        int r = 0;
        s->commit_hook_error = 0;
        if (is_pg(s) && db_transaction_failed(s->db)) {
                /* COMMIT would roll back, and say so only in its command tag. */
                r = log_error_errno(EIO, "state store: the transaction failed; rolled back");
        } else if (is_pg(s) && s->commit_hook && (r = s->commit_hook(s->commit_hook_data)) < 0) {
                s->commit_hook_error = r;
        }
        r = store_tx_end(s, r < 0 ? r : 0);
        if (r < 0 && s->commit_hook_error < 0)
                r = s->commit_hook_error;
        return reclaim_if_full(s, r);
}

/* PostgreSQL: a write transaction takes the history lock (store_history_lock()) right after
 * its BEGIN, as SQLite's BEGIN IMMEDIATE takes the write lock: one writing transaction at a
 * time across instances, so the history lock and the row locks taken under it can never wait
 * for each other in a cycle (a deadlock, which PostgreSQL would break only after
 * deadlock_timeout by failing a write).  SQLite: nothing to do. */
static int writer_lock(Store *s) {
        int r = store_history_lock(s);
        s->history_locked_write = false; /* not the write's: a ROLLBACK TO keeps it */
        return r;
}

/* Starts a write: its own transaction, or, inside a batch (store_batch_begin()), a savepoint
 * of the batch's transaction, so that a write that fails undoes only itself
 * (https://sqlite.org/lang_savepoint.html; https://www.postgresql.org/docs/15/sql-savepoint.html).
 * End it with write_end(). */
static int write_begin(Store *s, bool immediate) {
        s->history_locked_write = false;
        if (s->in_batch)
                return exec_cached(s, "SAVEPOINT write");
        int r = store_tx_begin(s, immediate);
        if (r >= 0 && immediate)
                r = writer_lock(s);
        if (r < 0)
                store_tx_rollback(s);
        return r;
}

/* Ends the write write_begin() started: when r >= 0 COMMIT (its own transaction) or RELEASE
 * (a batch's savepoint); else ROLLBACK (TO the savepoint) — only while the transaction is still
 * open: after SQLITE_FULL, SQLITE_IOERR, SQLITE_BUSY or SQLITE_NOMEM SQLite may already have
 * rolled the whole transaction back itself, and db_in_transaction() is how to know
 * (https://sqlite.org/c3ref/get_autocommit.html; in a batch, store_batch_open() then says
 * false).  On PostgreSQL a failed statement leaves the transaction failed until the ROLLBACK
 * TO.  A failure for space gives the WAL's space back (reclaim_if_full()).  Returns r, or
 * COMMIT's error. */
static int write_end(Store *s, int r) {
        if (s->in_batch) {
                if (r < 0 && db_in_transaction(s->db)) {
                        (void) exec_cached(s, "ROLLBACK TO write");
                        if (s->history_locked_write)
                                s->history_locked = false;
                }
                if (db_in_transaction(s->db)) {
                        int k = exec_cached(s, "RELEASE write");
                        if (r >= 0)
                                r = k;
                }
                s->history_locked_write = false;
                return reclaim_if_full(s, r);
        }
        if (r >= 0)
                return commit(s);
        store_tx_rollback(s);
        return reclaim_if_full(s, r);
}

/* sqlite3_commit_hook() callback: asks the test hook; non-zero turns the COMMIT into a
 * rollback (https://sqlite.org/c3ref/commit_hook.html). */
static int commit_hook(void *userdata) {
        Store *s = userdata;
        int r = s->commit_hook ? s->commit_hook(s->commit_hook_data) : 0;
        if (r < 0) {
                s->commit_hook_error = r;
                return 1;
        }
        return 0;
}

void store_set_commit_hook(Store *s, StoreCommitHook fn, void *userdata) {
        s->commit_hook = fn;
        s->commit_hook_data = userdata;
        if (s->kind == DB_SQLITE)
                sqlite3_commit_hook(sq(s), fn ? commit_hook : NULL, fn ? s : NULL);
}

int store_batch_begin(Store *s) {
        if (s->in_batch || s->parent)
                return -EINVAL;
        int r = store_tx_begin(s, true);
        if (r >= 0)
                r = writer_lock(s);
        if (r < 0) {
                store_tx_rollback(s);
                return reclaim_if_full(s, r);
        }
        s->in_batch = true;
        return 0;
}

bool store_batch_open(Store *s) {
        return s->in_batch && db_in_transaction(s->db);
}

int store_batch_commit(Store *s) {
        if (!s->in_batch)
                return -EINVAL;
        s->in_batch = false;
        /* The transaction ended already (a write's failure rolled it all back): nothing of it
         * is on disk. */
        if (!db_in_transaction(s->db)) {
                transaction_ended(s);
                return -EIO;
        }
        return commit(s);
}

void store_batch_rollback(Store *s) {
        if (!s->in_batch)
                return;
        s->in_batch = false;
        store_tx_rollback(s);
}

int store_history_lock(Store *s) {
        if (!is_pg(s) || s->history_locked)
                return 0;
        int r = exec_cached(s, "SELECT pg_advisory_xact_lock(" STRINGIFY(STORE_PG_LOCK_HISTORY) ")");
        if (r < 0)
                return r;
        s->history_locked = true;
        s->history_locked_write = true;
        return 0;
}

int store_notify(Store *s, const char *payload) {
        if (!is_pg(s))
                return 0;
        _cleanup_(db_donep) DbStmt *st = NULL;
        int r = db_prepare(s->db, "SELECT pg_notify('provd', CAST(?1 AS TEXT))", &st);
        if (r < 0)
                return r;
        db_bind_text(st, 1, payload);
        r = db_step(st);
        return r < 0 ? r : 0;
}

/* store_notify() of "<kind> <node>". */
static int notify_node(Store *s, char kind, const char *node) {
        if (!is_pg(s))
                return 0;
        char payload[128];
        snprintf(payload, sizeof payload, "%c %s", kind, node);
        return store_notify(s, payload);
}

/* Binds `types` values of ap to st from ?1 on: 'i' int64, 't' text (NULL ok), 'b' a
 * TOKEN_HASH_SIZE-byte blob (NULL ok), 'x' a blob and its size_t length (NULL ok). */
static void bindv(DbStmt *st, const char *types, va_list ap) {
        for (int i = 0; types[i]; i++) {
                if (types[i] == 'i')
                        db_bind_int64(st, i + 1, va_arg(ap, int64_t));
                else if (types[i] == 't')
                        db_bind_text(st, i + 1, va_arg(ap, const char *));
                else if (types[i] == 'b')
                        db_bind_blob(st, i + 1, va_arg(ap, const uint8_t *), TOKEN_HASH_SIZE);
                else {
                        const uint8_t *p = va_arg(ap, const uint8_t *);
                        db_bind_blob(st, i + 1, p, va_arg(ap, size_t));
                }
        }
}

/* Runs one statement with bound values (bindv()'s types), its rows dropped. */
static int run(Store *s, const char *sql, const char *types, ...) {
        _cleanup_(db_donep) DbStmt *st = NULL;
        int r = db_prepare(s->db, sql, &st);
        if (r < 0)
                return r;
        va_list ap;
        va_start(ap, types);
        bindv(st, types, ap);
        va_end(ap);
        r = db_step(st);
        return r < 0 ? r : 0;
}

/* INSERT_ID(sql): the INSERT `sql` (a literal) twice, as run_insert() takes it: as it is and
 * with RETURNING id. */
#define INSERT_ID(sql) sql, sql " RETURNING id"

/* run() of an INSERT (bindv()'s types): the new row's id into *ret_id.  `sql` and
 * `sql_returning` (INSERT_ID()): SQLite runs the plain INSERT and reads
 * sqlite3_last_insert_rowid() (https://sqlite.org/c3ref/last_insert_rowid.html): RETURNING
 * would cost a statement journal per row inside a savepoint; PostgreSQL runs the one with
 * RETURNING id. */
static int run_insert(Store *s, int64_t *ret_id, const char *sql, const char *sql_returning, const char *types, ...) {
        _cleanup_(db_donep) DbStmt *st = NULL;
        int r = db_prepare(s->db, is_pg(s) ? sql_returning : sql, &st);
        if (r < 0)
                return r;
        va_list ap;
        va_start(ap, types);
        bindv(st, types, ap);
        va_end(ap);
        r = db_step(st);
        if (r < 0)
                return r;
        if (!is_pg(s)) {
                *ret_id = sqlite3_last_insert_rowid(sq(s));
                return 0;
        }
        if (r == 0)
                return log_error_errno(EIO, "state store: an INSERT returned no id");
        *ret_id = db_column_int64(st, 0);
        return 0;
}

/* ---- schema and migrations ------------------------------------------------------------------
 * Written in SQLite's dialect; ddl() rewrites the types for PostgreSQL.  Tables are created in
 * an order that lets each REFERENCES name a table that exists (PostgreSQL requires it). */

static const char schema[] =
        "CREATE TABLE IF NOT EXISTS attempts ("
        "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
        "  node TEXT NOT NULL,"
        "  seq INTEGER NOT NULL,"
        "  token_hash BLOB UNIQUE,"
        "  phase TEXT NOT NULL DEFAULT '',"
        "  message TEXT,"
        "  opened_at INTEGER NOT NULL,"
        "  ended_at INTEGER,"
        "  outcome TEXT);"
        "CREATE INDEX IF NOT EXISTS attempts_node ON attempts(node, seq);"
        "CREATE TABLE IF NOT EXISTS nodes ("
        "  name TEXT PRIMARY KEY,"
        "  state TEXT NOT NULL,"
        "  state_since INTEGER NOT NULL,"
        "  attempt_id INTEGER REFERENCES attempts(id),"
        "  created_at INTEGER NOT NULL);"
        "CREATE TABLE IF NOT EXISTS history ("
        "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
        "  node TEXT NOT NULL,"
        "  at INTEGER NOT NULL,"
        "  from_state TEXT NOT NULL,"
        "  to_state TEXT NOT NULL,"
        "  cause TEXT NOT NULL,"
        "  message TEXT,"
        "  attempt_id INTEGER);"
        "CREATE INDEX IF NOT EXISTS history_node ON history(node, id);"
        "CREATE INDEX IF NOT EXISTS history_at ON history(at);"
        /* node credentials (hash only) and what each node last reported it runs */
        "CREATE TABLE IF NOT EXISTS node_credentials ("
        "  node TEXT PRIMARY KEY,"
        "  hash BLOB NOT NULL UNIQUE,"
        "  issued_at INTEGER NOT NULL,"
        "  attempt_id INTEGER);"
        "CREATE TABLE IF NOT EXISTS node_reports ("
        "  node TEXT PRIMARY KEY,"
        "  running TEXT NOT NULL,"
        "  booted TEXT NOT NULL,"
        "  kernel TEXT NOT NULL,"
        "  uptime_s REAL NOT NULL,"
        "  reported_at INTEGER NOT NULL);";

/* discovery: PXE clients not in the inventory. */
static const char schema_discovered[] =
        "CREATE TABLE IF NOT EXISTS discovered ("
        "  mac TEXT PRIMARY KEY,"
        "  first_seen_ms INTEGER NOT NULL,"
        "  last_seen_ms INTEGER NOT NULL,"
        "  count INTEGER NOT NULL,"
        "  arch INTEGER,"
        "  uuid TEXT,"
        "  vendor_class TEXT NOT NULL DEFAULT '',"
        "  user_class TEXT NOT NULL DEFAULT '',"
        "  interface TEXT NOT NULL DEFAULT '',"
        "  ipxe INTEGER NOT NULL DEFAULT 0);"
        "CREATE INDEX IF NOT EXISTS discovered_last_seen ON discovered(last_seen_ms);";

/* Boots of stateless nodes.  One row per boot: its token hash, when it started and ended, how
 * (outcome), the MAC, firmware and image it booted with, and the ETag of the overlay it was
 * served. */
static const char schema_boots[] =
        "CREATE TABLE IF NOT EXISTS boots ("
        "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
        "  node TEXT NOT NULL,"
        "  seq INTEGER NOT NULL,"
        "  token_hash BLOB UNIQUE,"
        "  started_at INTEGER NOT NULL,"
        "  ended_at INTEGER,"
        "  outcome TEXT,"
        "  message TEXT,"
        "  mac TEXT,"
        "  firmware TEXT,"
        "  image TEXT,"
        "  overlay_etag TEXT);"
        "CREATE INDEX IF NOT EXISTS boots_node ON boots(node, id);";

/* Several instances on one database: who runs (instances, with a heartbeat), named leases,
 * and BMC operations with the instance that holds each and until when. */
static const char schema_cluster[] =
        "CREATE TABLE IF NOT EXISTS instances ("
        "  name TEXT PRIMARY KEY,"
        "  url TEXT NOT NULL,"
        "  racks TEXT NOT NULL DEFAULT '',"
        "  host TEXT NOT NULL DEFAULT '',"
        "  pid INTEGER NOT NULL DEFAULT 0,"
        "  started_at INTEGER NOT NULL,"
        "  heartbeat_at INTEGER NOT NULL);"
        "CREATE TABLE IF NOT EXISTS leases ("
        "  name TEXT PRIMARY KEY,"
        "  holder TEXT NOT NULL,"
        "  acquired_at INTEGER NOT NULL,"
        "  expires_at INTEGER NOT NULL);"
        "CREATE TABLE IF NOT EXISTS bmc_ops ("
        "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
        "  node TEXT NOT NULL,"
        "  rack TEXT NOT NULL DEFAULT '',"
        "  kind TEXT NOT NULL,"
        "  params TEXT NOT NULL DEFAULT '{}',"
        "  state TEXT NOT NULL,"
        "  step INTEGER NOT NULL DEFAULT 0,"
        "  holder TEXT,"
        "  lease_expires INTEGER,"
        "  created_at INTEGER NOT NULL,"
        "  created_by TEXT NOT NULL DEFAULT '',"
        "  ended_at INTEGER,"
        "  result TEXT,"
        "  takeovers INTEGER NOT NULL DEFAULT 0);"
        "CREATE INDEX IF NOT EXISTS bmc_ops_state ON bmc_ops(state, id);";

/* At most one queued or running admin BMC operation per node, whichever instance inserts it
 * (a partial index: https://www.sqlite.org/partialindex.html,
 * https://www.postgresql.org/docs/15/indexes-partial.html); provd's own boot device to disk
 * after an install (store-cluster.h STORE_BMC_OP_KIND_AFTER_INSTALL) does not count. */
static const char schema_bmc_ops_busy[] =
        "CREATE UNIQUE INDEX IF NOT EXISTS bmc_ops_busy ON bmc_ops(node) WHERE state IN ('queued', 'running') "
        "AND kind <> 'bootdev-after-install';";

/* The migrations, in order: step i (1-based) brings a database at schema version i - 1 to
 * version i.  Each is idempotent (CREATE ... IF NOT EXISTS; a column only when it is missing),
 * since SQLite databases of the first releases say version 1 whichever of steps 2 to 6 they
 * already have: a database that is not current (schema_is_current()) runs them all.  A step is either DDL (`sql`) or a column added to an existing table
 * (nullable or with a default, so ALTER TABLE ... ADD COLUMN keeps every row), then `then`. */
static const struct {
        const char *what;
        const char *sql;
        const char *table, *column, *type;
        const char *then;
} schema_steps[] = {
        { "the first tables", schema, NULL, NULL, NULL, NULL },
        { "discovered PXE clients", schema_discovered, NULL, NULL, NULL, NULL },
        { "boots of stateless nodes", schema_boots, NULL, NULL, NULL, NULL },
        { "console capture", NULL, "history", "console", "TEXT", NULL },
        { "firmware of install attempts", NULL, "attempts", "firmware", "TEXT", NULL },
        { "the boot of stateless nodes", NULL, "nodes", "boot_id", "INTEGER", NULL },
        /* a row that exists has version >= 1: 0 means "no row" (StoreNodeState.version) */
        { "node versions", NULL, "nodes", "version", "INTEGER NOT NULL DEFAULT 0", "UPDATE nodes SET version = 1" },
        { "sealed tokens of attempts", NULL, "attempts", "token_box", "BLOB", NULL },
        { "sealed tokens of boots", NULL, "boots", "token_box", "BLOB", NULL },
        { "instances, leases and BMC operations", schema_cluster, NULL, NULL, NULL, NULL },
        { "one BMC operation in progress per node", schema_bmc_ops_busy, NULL, NULL, NULL, NULL },
};

/* The current schema version: the number of steps (a literal, pasted into SQL). */
#define SCHEMA_VERSION 11
_Static_assert(ELEMENTSOF(schema_steps) == SCHEMA_VERSION, "SCHEMA_VERSION is the number of schema_steps");

/* Appends s[0..n) to *buf. */
static int append(char **buf, size_t *len, const char *s, size_t n) {
        char *b = realloc(*buf, *len + n + 1);
        if (!b)
                return -ENOMEM;
        memcpy(b + *len, s, n);
        *len += n;
        b[*len] = '\0';
        *buf = b;
        return 0;
}

/* DDL of SQLite's dialect for db's kind, into a new string: for PostgreSQL INTEGER PRIMARY KEY
 * AUTOINCREMENT -> BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, INTEGER -> BIGINT
 * (times are milliseconds), REAL -> DOUBLE PRECISION, BLOB -> BYTEA
 * (https://www.postgresql.org/docs/15/datatype.html). */
static int ddl(Store *s, const char *sql, char **ret) {
        static const struct {
                const char *from, *to;
        } words[] = {
                { "INTEGER PRIMARY KEY AUTOINCREMENT", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY" },
                { "INTEGER", "BIGINT" },
                { "REAL", "DOUBLE PRECISION" },
                { "BLOB", "BYTEA" },
        };
        _cleanup_free_ char *out = NULL;
        size_t len = 0;
        const char *p = sql;
        int r = append(&out, &len, "", 0);
        if (r < 0)
                return r;
        while (*p) {
                bool matched = false;
                bool word_start = p == sql || !(p[-1] == '_' || (p[-1] >= 'a' && p[-1] <= 'z') ||
                                                (p[-1] >= 'A' && p[-1] <= 'Z'));
                for (size_t k = 0; is_pg(s) && word_start && !matched && k < ELEMENTSOF(words); k++) {
                        size_t n = strlen(words[k].from);
                        if (strncmp(p, words[k].from, n) != 0)
                                continue;
                        char after = p[n];
                        if (after == '_' || (after >= 'A' && after <= 'Z') || (after >= 'a' && after <= 'z'))
                                continue;
                        r = append(&out, &len, words[k].to, strlen(words[k].to));
                        if (r < 0)
                                return r;
                        p += n;
                        matched = true;
                }
                if (matched)
                        continue;
                r = append(&out, &len, p, 1);
                if (r < 0)
                        return r;
                p++;
        }
        *ret = TAKE_PTR(out);
        return 0;
}

/* Whether `table` has the column `column`, into *ret. */
static int column_exists(Store *s, const char *table, const char *column, bool *ret) {
        _cleanup_(db_donep) DbStmt *st = NULL;
        int r = db_prepare(s->db,
                           is_pg(s) ? "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() "
                                      "AND table_name = ?1 AND column_name = ?2"
                                    : "SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2",
                           &st);
        if (r < 0)
                return r;
        db_bind_text(st, 1, table);
        db_bind_text(st, 2, column);
        r = db_step(st);
        if (r < 0)
                return r;
        *ret = r == 1;
        return 0;
}

/* The database's schema version into *ret: SQLite's user_version, PostgreSQL's provd_schema
 * row (0 when the table or its row is missing: an empty database). */
static int schema_version(Store *s, int64_t *ret) {
        _cleanup_(db_donep) DbStmt *st = NULL;
        int r;
        if (is_pg(s)) {
                r = db_prepare(s->db,
                               "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() "
                               "AND table_name = 'provd_schema'",
                               &st);
                if (r < 0)
                        return r;
                r = db_step(st);
                if (r < 0)
                        return r;
                bool exists = r == 1 && db_column_int64(st, 0) > 0;
                db_done(TAKE_PTR(st));
                if (!exists) {
                        *ret = 0;
                        return 0;
                }
                r = db_prepare(s->db, "SELECT COALESCE(MAX(version), 0) FROM provd_schema", &st);
        } else
                r = db_prepare(s->db, "PRAGMA user_version", &st);
        if (r < 0)
                return r;
        r = db_step(st);
        if (r < 0)
                return r;
        *ret = r == 1 ? db_column_int64(st, 0) : 0;
        return 0;
}

/* Whether every table and index the statements of `sql` create exists, into *ret.  The names
 * are read from the statements' "IF NOT EXISTS <name>", so they cannot drift from the schema. */
static int schema_objects_exist(Store *s, const char *sql, bool *ret) {
        static const char clause[] = "IF NOT EXISTS ";
        for (const char *p = strstr(sql, clause); p; p = strstr(p, clause)) {
                p += sizeof clause - 1;
                char name[64];
                size_t len = strcspn(p, " (;");
                snprintf(name, sizeof name, "%.*s", (int) (len < sizeof name ? len : sizeof name - 1), p);
                _cleanup_(db_donep) DbStmt *st = NULL;
                int r = db_prepare(s->db,
                                   is_pg(s) ? "SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                                              "WHERE n.nspname = current_schema() AND c.relname = ?1"
                                            : "SELECT 1 FROM sqlite_master WHERE name = ?1",
                                   &st);
                if (r < 0)
                        return r;
                db_bind_text(st, 1, name);
                r = db_step(st);
                if (r < 0)
                        return r;
                if (r == 0) {
                        *ret = false;
                        return 0;
                }
        }
        *ret = true;
        return 0;
}

/* Whether the database is at SCHEMA_VERSION with every table, index and column of every step
 * there (a database of the current version that lost a column is repaired too), into *ret. */
static int schema_is_current(Store *s, int64_t version, bool *ret) {
        bool ok = version == SCHEMA_VERSION;
        for (size_t i = 0; ok && i < ELEMENTSOF(schema_steps); i++) {
                int r = schema_steps[i].sql ? schema_objects_exist(s, schema_steps[i].sql, &ok)
                                            : column_exists(s, schema_steps[i].table, schema_steps[i].column, &ok);
                if (r < 0)
                        return r;
        }
        *ret = ok;
        return 0;
}

/* Runs every migration step in the open transaction (each is idempotent: what exists is
 * left as it is), then records the version.  `fresh`: an empty database (the columns added
 * are not news then). */
static int schema_update_locked(Store *s, bool fresh) {
        int r;
        for (size_t i = 0; i < ELEMENTSOF(schema_steps); i++) {
                _cleanup_free_ char *sql = NULL;
                if (schema_steps[i].sql) {
                        r = ddl(s, schema_steps[i].sql, &sql);
                        if (r < 0)
                                return r;
                        r = db_exec(s->db, sql);
                        if (r < 0)
                                return r;
                        continue;
                }
                bool ok;
                r = column_exists(s, schema_steps[i].table, schema_steps[i].column, &ok);
                if (r < 0)
                        return r;
                if (ok)
                        continue;
                _cleanup_free_ char *alter = NULL;
                if (!fresh)
                        log_info("state store: adding the %s column \"%s\" (%s)", schema_steps[i].table,
                                 schema_steps[i].column, schema_steps[i].what);
                if (asprintf(&alter, "ALTER TABLE %s ADD COLUMN %s %s", schema_steps[i].table, schema_steps[i].column,
                             schema_steps[i].type) < 0)
                        return -ENOMEM;
                r = ddl(s, alter, &sql);
                if (r < 0)
                        return r;
                r = db_exec(s->db, sql);
                if (r < 0)
                        return r;
                if (schema_steps[i].then) {
                        r = db_exec(s->db, schema_steps[i].then);
                        if (r < 0)
                                return r;
                }
        }
        if (is_pg(s))
                return db_exec(s->db, "DELETE FROM provd_schema; INSERT INTO provd_schema (version) VALUES (" STRINGIFY(SCHEMA_VERSION) ")");
        return db_exec(s->db, "PRAGMA user_version=" STRINGIFY(SCHEMA_VERSION));
}

/* Brings the schema to SCHEMA_VERSION in one transaction, only when it is older: an
 * up-to-date database is opened without a write (so a daemon on a full filesystem still
 * starts).  On PostgreSQL under pg_advisory_xact_lock(STORE_PG_LOCK_MIGRATE), the version read
 * again under it, so that instances starting at once migrate once
 * (https://www.postgresql.org/docs/15/functions-admin.html#FUNCTIONS-ADVISORY-LOCKS). */
static int schema_migrate(Store *s) {
        int64_t v;
        bool current;
        int r = schema_version(s, &v);
        if (r < 0)
                return r;
        if (v > SCHEMA_VERSION)
                return log_error_errno(EPROTO,
                                       "state store: the database's schema (version %" PRId64
                                       ") is newer than this provd's (%d): upgrade provd",
                                       v, SCHEMA_VERSION);
        r = schema_is_current(s, v, &current);
        if (r < 0 || current)
                return r;
        r = store_tx_begin(s, true);
        if (r < 0)
                return reclaim_if_full(s, r);
        if (is_pg(s)) {
                r = db_exec(s->db, "SELECT pg_advisory_xact_lock(" STRINGIFY(STORE_PG_LOCK_MIGRATE) "); "
                                   "CREATE TABLE IF NOT EXISTS provd_schema (version BIGINT NOT NULL)");
                if (r >= 0)
                        r = schema_version(s, &v);
                if (r >= 0)
                        r = schema_is_current(s, v, &current);
                if (r >= 0 && current) {
                        /* Another instance migrated meanwhile. */
                        store_tx_rollback(s);
                        return 0;
                }
                if (r < 0)
                        return write_end(s, r);
        }
        if (v == 0)
                log_info("state store: creating the schema (version %d)", SCHEMA_VERSION);
        else
                log_info("state store: migrating the schema from version %" PRId64 " to %d", v, SCHEMA_VERSION);
        return write_end(s, schema_update_locked(s, v == 0));
}

/* ---- opening and closing -------------------------------------------------------------------- */

/* Opens s->db at s->db_path and sets the SQLite connection up (none of it writes to a database
 * that is already in WAL mode).  `exclusive`: PRAGMA locking_mode=EXCLUSIVE first, so that
 * SQLite keeps the WAL's index in its own memory and never maps the -shm file — which needs
 * space on the filesystem when the file is missing — at the price of locking other processes
 * out (https://sqlite.org/wal.html, "Use of WAL Without Shared-Memory").  Returns 0, -ENOSPC
 * without logging when the first access found no space (the caller may retry exclusive),
 * or another negative errno, logged. */
static int sqlite_setup(Store *s, bool exclusive) {
        int r = db_open_sqlite(s->db_path, 0, &s->db);
        if (r < 0)
                return r;
        sqlite3 *h = sq(s);
        sqlite3_busy_timeout(h, STORE_BUSY_TIMEOUT_MS);
        /* Keep the -wal and -shm files when the connection closes (the WAL truncated to zero
         * bytes, as journal_size_limit is set): a daemon restarted on a full filesystem then
         * finds the -shm's space still its own, and reads without allocating any
         * (https://sqlite.org/c3ref/c_fcntl_begin_atomic_write.html#sqlitefcntlpersistwal). */
        (void) sqlite3_file_control(h, "main", SQLITE_FCNTL_PERSIST_WAL, &(int) { 1 });
        /* The database file grows by STORE_DB_CHUNK_BYTES at a time, allocated when it grows
         * (https://sqlite.org/c3ref/c_fcntl_begin_atomic_write.html#sqlitefcntlchunksize):
         * the checkpoint that gives the WAL's space back after a write failed for space copies
         * the WAL's pages into the database file, which must not need new space then.  Without
         * the slack whether it did depended on where the last pages happened to fall. */
        (void) sqlite3_file_control(h, "main", SQLITE_FCNTL_CHUNK_SIZE, &(int) { STORE_DB_CHUNK_BYTES });
        if (exclusive) {
                r = db_exec(s->db, "PRAGMA locking_mode=EXCLUSIVE");
                if (r < 0)
                        return r;
        }
        /* WAL: readers never block the writer; FULL: a commit is on disk when it returns, so
         * not even a power cut loses an answered transition, let alone kill -9.  The WAL is
         * bounded (see STORE_WAL_AUTOCHECKPOINT_PAGES).  journal_mode is the first access. */
        int rc = sqlite3_exec(h, "PRAGMA journal_mode=WAL", NULL, NULL, NULL);
        if (rc != SQLITE_OK) {
                int e = sqlite3_system_errno(h);
                bool full = (rc & 0xff) == SQLITE_FULL || e == ENOSPC || e == EDQUOT;
                if (full && !exclusive)
                        return -ENOSPC;
                return log_error_errno(full ? -ENOSPC : (rc & 0xff) == SQLITE_NOTADB || (rc & 0xff) == SQLITE_CORRUPT ? -EBADMSG
                                                        : (rc & 0xff) == SQLITE_BUSY                                    ? -EBUSY
                                                                                                                       : -EIO,
                                       "state store: PRAGMA journal_mode=WAL: %s", sqlite3_errmsg(h));
        }
        return db_exec(s->db, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; "
                              "PRAGMA cache_size=-" STRINGIFY(STORE_CACHE_KIB) "; "
                              "PRAGMA wal_autocheckpoint=" STRINGIFY(STORE_WAL_AUTOCHECKPOINT_PAGES) "; "
                              "PRAGMA journal_size_limit=" STRINGIFY(STORE_WAL_LIMIT_BYTES) ";");
}

/* A new Store with state_dir created and its lock file held. */
static int store_new(const char *state_dir, Store **ret) {
        _cleanup_(store_freep) Store *s = NULL;
        _cleanup_free_ char *lock_path = NULL;

        if (mkdir(state_dir, 0700) < 0 && errno != EEXIST)
                return log_error_errno(errno, "cannot create state directory %s: %m", state_dir);
        s = calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;
        s->lock_fd = -1;
        pthread_mutex_init(&s->readers_lock, NULL);
        pthread_cond_init(&s->readers_cond, NULL);
        if (asprintf(&lock_path, "%s/provd.lock", state_dir) < 0)
                return -ENOMEM;
        s->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (s->lock_fd < 0)
                return log_error_errno(errno, "cannot open %s: %m", lock_path);
        if (flock(s->lock_fd, LOCK_EX | LOCK_NB) < 0) {
                if (errno == EWOULDBLOCK)
                        return log_error_errno(EBUSY, "state directory %s is in use by another provd", state_dir);
                return log_error_errno(errno, "cannot lock %s: %m", lock_path);
        }
        *ret = TAKE_PTR(s);
        return 0;
}

int store_open(const char *state_dir, Store **ret) {
        _cleanup_(store_freep) Store *s = NULL;
        int r = store_new(state_dir, &s);
        if (r < 0)
                return r;
        s->kind = DB_SQLITE;
        if (asprintf(&s->db_path, "%s/provd.db", state_dir) < 0)
                return -ENOMEM;
        r = sqlite_setup(s, false);
        if (r == -ENOSPC) {
                /* No space to map the -shm file (it was removed, e.g. by another program that
                 * closed the database last): keep the wal-index in memory instead. */
                log_warning("state store: %s: no space for the shared-memory file (%s): opening it in exclusive "
                            "locking mode, other programs cannot open it until provd restarts",
                            s->db_path, db_errmsg(s->db));
                db_close(TAKE_PTR(s->db));
                s->exclusive = true;
                r = sqlite_setup(s, true);
        }
        if (r < 0)
                return r;
        r = schema_migrate(s);
        if (r < 0)
                return r;
        s->ready = true;
        *ret = TAKE_PTR(s);
        return 0;
}

/* The URL's scheme: "postgresql" or "postgres" (PostgreSQL), "sqlite" with nothing after it
 * but "//" (SQLite), or NULL (unknown). */
static DbKind url_kind(const char *url, bool *ret_ok) {
        *ret_ok = true;
        if (!url || !*url || streq(url, "sqlite:") || streq(url, "sqlite://"))
                return DB_SQLITE;
        if (startswith(url, "postgresql://") || startswith(url, "postgres://"))
                return DB_POSTGRESQL;
        *ret_ok = false;
        return DB_SQLITE;
}

int store_open_url(const char *state_url, const char *state_dir, Store **ret) {
        bool ok;
        DbKind kind = url_kind(state_url, &ok);
        if (!ok) {
                /* Only the scheme: the rest may hold a password. */
                size_t n = strcspn(state_url, ":");
                return log_error_errno(EINVAL,
                                       "state_url: unknown scheme \"%.*s\" (expected postgresql://..., postgres://... or "
                                       "sqlite:)",
                                       (int) (n > 32 ? 32 : n), state_url);
        }
        if (kind == DB_SQLITE)
                return store_open(state_dir, ret);

        _cleanup_(store_freep) Store *s = NULL;
        int r = store_new(state_dir, &s);
        if (r < 0)
                return r;
        s->kind = DB_POSTGRESQL;
        s->conninfo = strdup(state_url);
        if (!s->conninfo)
                return -ENOMEM;
        r = db_open_postgresql(state_url, &s->db);
        if (r < 0)
                return r;
        r = schema_migrate(s);
        if (r < 0)
                return r;
        s->ready = true;
        *ret = TAKE_PTR(s);
        return 0;
}

bool store_is_postgresql(const Store *s) {
        return is_pg(s);
}

static void reader_close(Store *r) {
        db_close(r->db);
        free(r);
}

void store_free(Store *s) {
        if (!s)
                return;
        /* Every reader is back (the caller's duty): close them first, so that the checkpoint
         * below finds no reader in its way. */
        if (s->n_idle != s->n_open)
                log_warning("state store: closed with %zu of its read connections still lent", s->n_open - s->n_idle);
        for (size_t i = 0; i < s->n_idle; i++)
                reader_close(s->idle[i]);
        pthread_mutex_destroy(&s->readers_lock);
        pthread_cond_destroy(&s->readers_cond);
        free(s->db_path);
        free(s->conninfo);
        /* A clean stop leaves an empty WAL (the close would checkpoint too, but says nothing
         * when it cannot). */
        if (s->ready && s->kind == DB_SQLITE)
                (void) wal_truncate(s, true, LOG_WARNING);
        db_close(s->db);
        if (s->lock_fd >= 0)
                close(s->lock_fd);
        free(s);
}

/* ---- read connections ---------------------------------------------------------------- */

/* Opens a read connection to s's database into *ret.  SQLite: read-only; it writes nothing
 * (not even the -shm file's size: the write connection made it) and needs no space.
 * PostgreSQL: a connection of its own. */
static int reader_open(Store *s, Store **ret) {
        Store *r = calloc(1, sizeof *r);
        if (!r)
                return -ENOMEM;
        r->lock_fd = -1;
        r->parent = s;
        r->kind = s->kind;
        int k = is_pg(s) ? db_open_postgresql(s->conninfo, &r->db) : db_open_sqlite(s->db_path, DB_READONLY, &r->db);
        if (k < 0) {
                free(r);
                return k;
        }
        /* A SQLite reader waits only while the writer resets the WAL's index (a checkpoint
         * that restarts or truncates it) or recovers it. */
        if (!is_pg(s))
                sqlite3_busy_timeout(sq(r), STORE_BUSY_TIMEOUT_MS);
        *ret = r;
        return 0;
}

/* Gives back slot of reader r (r closed, or NULL: it was never opened) and wakes a waiter. */
static void reader_drop(Store *s, Store *r) {
        if (r)
                reader_close(r);
        pthread_mutex_lock(&s->readers_lock);
        s->n_open--;
        pthread_cond_signal(&s->readers_cond);
        pthread_mutex_unlock(&s->readers_lock);
}

int store_reader_acquire(Store *s, Store **ret) {
        Store *r = NULL;
        if (s->parent)
                return -EINVAL;
        /* Exclusive locking mode: no other connection can read.  A SQLite built
         * single-threaded cannot have connections used from several threads at all
         * (https://sqlite.org/threadsafe.html). */
        if (!is_pg(s) && (s->exclusive || !sqlite3_threadsafe()))
                return -EOPNOTSUPP;
        pthread_mutex_lock(&s->readers_lock);
        while (s->n_idle == 0 && s->n_open >= STORE_READERS_MAX)
                pthread_cond_wait(&s->readers_cond, &s->readers_lock);
        if (s->n_idle > 0)
                r = s->idle[--s->n_idle];
        else
                s->n_open++; /* the slot is ours; open outside the mutex */
        pthread_mutex_unlock(&s->readers_lock);
        if (!r) {
                int k = reader_open(s, &r);
                if (k < 0) {
                        reader_drop(s, NULL);
                        return k;
                }
        }
        /* SQLite: deferred, the read transaction, and with it the snapshot, starts at the first
         * read (https://sqlite.org/lang_transaction.html).  PostgreSQL: one snapshot for the
         * whole transaction, taken at its first statement
         * (https://www.postgresql.org/docs/15/transaction-iso.html#XACT-REPEATABLE-READ). */
        int k = exec_cached(r, is_pg(s) ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" : "BEGIN");
        if (k < 0) {
                reader_drop(s, r);
                return k;
        }
        *ret = r;
        return 0;
}

int store_reader_snapshot(Store *r) {
        if (!r->parent || r->listener)
                return -EINVAL;
        /* SQLite: reading the schema cookie (in the header page) is a read: it starts the read
         * transaction (https://sqlite.org/lang_transaction.html).  PostgreSQL: any statement
         * takes the transaction's snapshot. */
        return exec_cached(r, is_pg(r) ? "SELECT 1" : "PRAGMA schema_version");
}

void store_reader_release(Store *r) {
        if (!r)
                return;
        Store *s = r->parent;
        /* A statement left mid-way would keep the read transaction, and so an old snapshot,
         * open: the WAL could then not start over after a checkpoint and would grow. */
        if (!is_pg(r))
                for (sqlite3_stmt *st = sqlite3_next_stmt(sq(r), NULL); st; st = sqlite3_next_stmt(sq(r), st))
                        sqlite3_reset(st);
        if (db_in_transaction(r->db) && exec_cached(r, "COMMIT") < 0)
                (void) exec_cached(r, "ROLLBACK");
        if (db_in_transaction(r->db)) {
                /* Still in a transaction: never lend it again. */
                reader_drop(s, r);
                return;
        }
        pthread_mutex_lock(&s->readers_lock);
        s->idle[s->n_idle++] = r;
        pthread_cond_signal(&s->readers_cond);
        pthread_mutex_unlock(&s->readers_lock);
}

/* ---- notifications --------------------------------------------------------------------- */

int store_listen_open(Store *s, Store **ret) {
        if (s->parent)
                return -EINVAL;
        if (!is_pg(s))
                return -EOPNOTSUPP;
        _cleanup_free_ Store *l = calloc(1, sizeof *l);
        if (!l)
                return -ENOMEM;
        l->lock_fd = -1;
        l->parent = s;
        l->kind = s->kind;
        l->listener = true;
        int r = db_open_postgresql(s->conninfo, &l->db);
        if (r < 0)
                return r;
        r = db_exec(l->db, "LISTEN provd");
        if (r < 0) {
                db_close(l->db);
                return r;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

int store_listen_wait(Store *l, int timeout_ms, StoreNotifyFn fn, void *userdata) {
        if (!l->listener)
                return -EINVAL;
        PGconn *conn = db_handle(l->db);
        int n = 0;
        for (int waited = 0;; waited = 1) {
                if (!PQconsumeInput(conn) || PQstatus(conn) != CONNECTION_OK)
                        return log_error_errno(ECONNRESET, "state store: the PostgreSQL connection listening for changes "
                                                           "was lost");
                PGnotify *nf;
                while ((nf = PQnotifies(conn))) {
                        int r = fn ? fn(userdata, nf->extra) : 0;
                        PQfreemem(nf);
                        n++;
                        if (r < 0)
                                return r;
                }
                if (n > 0 || waited || timeout_ms == 0)
                        return n;
                /* libpq, "Asynchronous Notification": wait on PQsocket(), then PQconsumeInput()
                 * and PQnotifies() (https://www.postgresql.org/docs/15/libpq-notify.html). */
                struct pollfd p = { .fd = PQsocket(conn), .events = POLLIN };
                if (p.fd < 0)
                        return -ECONNRESET;
                int k = poll(&p, 1, timeout_ms < 0 ? -1 : timeout_ms);
                if (k < 0)
                        return errno == EINTR ? 0 : -errno;
                if (k == 0)
                        return 0;
        }
}

void store_listen_close(Store *l) {
        if (!l)
                return;
        assert(l->listener);
        db_close(l->db);
        free(l);
}

/* ---- nodes and transitions ------------------------------------------------------------------ */

/* The columns of a StoreNodeState, after the columns before them (node_state_read()). */
#define NODE_STATE_COLUMNS                                                                                       \
        "n.state, n.state_since, COALESCE(n.attempt_id, 0), COALESCE(a.seq, 0), COALESCE(a.phase, ''), "          \
        "COALESCE(a.opened_at, 0), COALESCE(n.boot_id, 0), COALESCE(b.seq, 0), COALESCE(b.started_at, 0), "      \
        "n.version FROM nodes n LEFT JOIN attempts a ON a.id = n.attempt_id LEFT JOIN boots b ON b.id = n.boot_id"

/* Reads NODE_STATE_COLUMNS from column `col` on. */
static StoreNodeState node_state_read(DbStmt *st, int col) {
        StoreNodeState n = { 0 };
        n.state = provision_state_from_string(db_column_text(st, col));
        n.since_ms = db_column_int64(st, col + 1);
        n.attempt_id = db_column_int64(st, col + 2);
        n.attempt_seq = db_column_int64(st, col + 3);
        const char *phase = db_column_text(st, col + 4);
        snprintf(n.phase, sizeof n.phase, "%s", phase ? phase : "");
        n.attempt_opened_ms = db_column_int64(st, col + 5);
        n.boot_id = db_column_int64(st, col + 6);
        n.boot_seq = db_column_int64(st, col + 7);
        n.boot_opened_ms = db_column_int64(st, col + 8);
        n.version = db_column_int64(st, col + 9);
        return n;
}

int store_get_node(Store *s, const char *name, StoreNodeState *ret) {
        _cleanup_(db_donep) DbStmt *st = NULL;
        int r = db_prepare(s->db, "SELECT " NODE_STATE_COLUMNS " WHERE n.name = ?1", &st);
        if (r < 0)
                return r;
        db_bind_text(st, 1, name);
        r = db_step(st);
        if (r < 0)
                return r;
        if (r == 0)
                return -ENOENT;
        StoreNodeState n = node_state_read(st, 0);
        if (n.state == _PROVISION_STATE_INVALID)
                return log_error_errno(EBADMSG, "state store: node %s has an unknown state", name);
        *ret = n;
        return 0;
}

int store_node_states_foreach(Store *s, StoreNodeStateFn fn, void *userdata) {
        _cleanup_(db_donep) DbStmt *st = NULL;
        int r = db_prepare(s->db, "SELECT n.name, " NODE_STATE_COLUMNS, &st);
        if (r < 0)
                return r;
        while ((r = db_step(st)) == 1) {
                const char *name = db_column_text(st, 0);
                StoreNodeState n = node_state_read(st, 1);
                if (!name || n.state == _PROVISION_STATE_INVALID)
                        return log_error_errno(EBADMSG, "state store: node %s has an unknown state", name ? name : "(null)");
                r = fn(userdata, name, &n);
                if (r < 0)
                        return r;
        }
        return r;
}

static int end_attempt(Store *s, int64_t id, const char *outcome, const char *phase, const char *message,
                       int64_t at) {
        return run(s,
                   "UPDATE attempts SET ended_at = ?1, outcome = ?2, phase = COALESCE(?3, phase), "
                   "message = COALESCE(?4, message) WHERE id = ?5 AND ended_at IS NULL",
                   "ittti", at, outcome, phase, message, id);
}

static int end_boot(Store *s, int64_t id, const char *outcome, const char *message, int64_t at) {
        return run(s,
                   "UPDATE boots SET ended_at = ?1, outcome = ?2, message = COALESCE(?3, message) "
                   "WHERE id = ?4 AND ended_at IS NULL",
                   "itti", at, outcome, message, id);
}

/* The next number of node's rows in attempts or boots (the statement's), into *ret. */
static int next_seq(Store *s, const char *sql, const char *node, int64_t *ret) {
        _cleanup_(db_donep) DbStmt *st = NULL;
        int r = db_prepare(s->db, sql, &st);
        if (r < 0)
                return r;
        db_bind_text(st, 1, node);
        r = db_step(st);
        if (r < 0)
                return r;
        *ret = r == 1 ? db_column_int64(st, 0) : 1;
        return 0;
}

/* PostgreSQL: locks node's row (if any) until the transaction ends and checks its version
 * against cur's: -ESTALE when it moved on (SELECT ... FOR UPDATE:
 * https://www.postgresql.org/docs/15/sql-select.html#SQL-FOR-UPDATE-SHARE).  SQLite's write
 * transaction is exclusive already; there the version guard of the nodes upsert suffices. */
static int lock_node(Store *s, const char *node, const StoreNodeState *cur) {
        if (!is_pg(s))
                return 0;
        _cleanup_(db_donep) DbStmt *st = NULL;
        int r = db_prepare(s->db, "SELECT version FROM nodes WHERE name = ?1 FOR UPDATE", &st);
        if (r < 0)
                return r;
        db_bind_text(st, 1, node);
        r = db_step(st);
        if (r < 0)
                return r;
        int64_t version = r == 1 ? db_column_int64(st, 0) : 0;
        return version == cur->version ? 0 : -ESTALE;
}

static int apply_locked(Store *s, const StoreTransition *tr, const StoreNodeState *cur, StoreNodeState *n,
                        int64_t *ret_event_id) {
        const ProvisionTransition *t = tr->t;
        const char *message = tr->message ? tr->message : t->why;
        const char *boot_outcome = provision_boot_outcome(t);
        int r;

        r = lock_node(s, tr->node, cur);
        if (r < 0)
                return r;
        *n = *cur;
        /* Leaving booting (or a new boot replacing the open one) ends the open boot. */
        if (boot_outcome && cur->boot_id > 0) {
                r = end_boot(s, cur->boot_id, boot_outcome, message, tr->at_ms);
                if (r < 0)
                        return r;
                n->boot_opened_ms = 0;
        }
        switch (t->action) {
        case PROVISION_ACTION_NONE:
                break;
        case PROVISION_ACTION_REOPEN_ATTEMPT:
                if (cur->attempt_id > 0) {
                        r = end_attempt(s, cur->attempt_id, provision_attempt_outcome(t), NULL, message, tr->at_ms);
                        if (r < 0)
                                return r;
                }
                _fallthrough_;
        case PROVISION_ACTION_OPEN_ATTEMPT: {
                int64_t seq;
                r = next_seq(s, "SELECT COALESCE(MAX(seq), 0) + 1 FROM attempts WHERE node = ?1", tr->node, &seq);
                if (r < 0)
                        return r;
                r = run_insert(s, &n->attempt_id,
                               INSERT_ID("INSERT INTO attempts (node, seq, token_hash, opened_at, firmware, token_box) "
                                         "VALUES (?1, ?2, ?3, ?4, ?5, ?6)"),
                               "tibitx", tr->node, seq, tr->new_token_hash, tr->at_ms, tr->firmware, tr->token_box,
                               tr->token_box_len);
                if (r < 0)
                        return r;
                n->attempt_seq = seq;
                n->attempt_opened_ms = tr->at_ms;
                n->phase[0] = '\0';
                break;
        }
        case PROVISION_ACTION_OPEN_BOOT: {
                /* A boot instead of the open install attempt: the attempt is abandoned. */
                const char *outcome = provision_attempt_outcome(t);
                if (outcome && cur->attempt_id > 0) {
                        r = end_attempt(s, cur->attempt_id, outcome, NULL, message, tr->at_ms);
                        if (r < 0)
                                return r;
                }
                int64_t seq;
                r = next_seq(s, "SELECT COALESCE(MAX(seq), 0) + 1 FROM boots WHERE node = ?1", tr->node, &seq);
                if (r < 0)
                        return r;
                r = run_insert(s, &n->boot_id,
                               INSERT_ID("INSERT INTO boots (node, seq, token_hash, started_at, mac, firmware, image, "
                                         "token_box) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
                               "tibitttx", tr->node, seq, tr->new_token_hash, tr->at_ms, tr->mac, tr->firmware, tr->image,
                               tr->token_box, tr->token_box_len);
                if (r < 0)
                        return r;
                n->boot_seq = seq;
                n->boot_opened_ms = tr->at_ms;
                break;
        }
        case PROVISION_ACTION_END_BOOT:
                break; /* above */
        case PROVISION_ACTION_SET_PHASE:
                r = run(s, "UPDATE attempts SET phase = ?1, message = ?2 WHERE id = ?3", "tti", tr->phase,
                        tr->message, cur->attempt_id);
                if (r < 0)
                        return r;
                snprintf(n->phase, sizeof n->phase, "%s", tr->phase ? tr->phase : "");
                break;
        case PROVISION_ACTION_END_ATTEMPT_SUCCEEDED:
        case PROVISION_ACTION_END_ATTEMPT_FAILED:
        case PROVISION_ACTION_END_ATTEMPT_ABANDONED: {
                const char *outcome = provision_attempt_outcome(t);
                if (cur->attempt_id > 0) {
                        r = end_attempt(s, cur->attempt_id, outcome, tr->phase, message, tr->at_ms);
                        if (r < 0)
                                return r;
                }
                if (tr->phase)
                        snprintf(n->phase, sizeof n->phase, "%s", tr->phase);
                break;
        }
        }

        if (t->to != cur->state)
                n->since_ms = tr->at_ms;
        n->state = t->to;
        {
                /* The version guard: the row is updated only while it is at cur's version (a
                 * new node: only when there is no row), else no row is returned. */
                _cleanup_(db_donep) DbStmt *st = NULL;
                r = db_prepare(s->db,
                               "INSERT INTO nodes (name, state, state_since, attempt_id, created_at, boot_id, version) "
                               "VALUES (?1, ?2, ?3, NULLIF(CAST(?4 AS BIGINT), 0), ?5, NULLIF(CAST(?6 AS BIGINT), 0), 1) "
                               "ON CONFLICT(name) DO UPDATE SET state = ?2, state_since = ?3, "
                               "attempt_id = NULLIF(CAST(?4 AS BIGINT), 0), boot_id = NULLIF(CAST(?6 AS BIGINT), 0), "
                               "version = nodes.version + 1 WHERE nodes.version = ?7",
                               &st);
                if (r < 0)
                        return r;
                db_bind_text(st, 1, tr->node);
                db_bind_text(st, 2, provision_state_to_string(n->state));
                db_bind_int64(st, 3, n->since_ms);
                db_bind_int64(st, 4, n->attempt_id);
                db_bind_int64(st, 5, tr->at_ms);
                db_bind_int64(st, 6, n->boot_id);
                db_bind_int64(st, 7, cur->version);
                r = db_step(st);
                if (r < 0)
                        return r;
                /* Written (inserted at 1, or updated from cur's version) or not at all. */
                if (db_changes(s->db) == 0)
                        return -ESTALE;
                n->version = cur->version + 1;
        }

        if (tr->report) {
                const StoreReport *rep = tr->report;
                _cleanup_(db_donep) DbStmt *st = NULL;
                r = db_prepare(s->db,
                               "INSERT INTO node_reports (node, running, booted, kernel, uptime_s, reported_at) "
                               "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(node) DO UPDATE SET running = ?2, booted = ?3, "
                               "kernel = ?4, uptime_s = ?5, reported_at = ?6",
                               &st);
                if (r < 0)
                        return r;
                db_bind_text(st, 1, tr->node);
                db_bind_text(st, 2, rep->running);
                db_bind_text(st, 3, rep->booted);
                db_bind_text(st, 4, rep->kernel);
                db_bind_double(st, 5, rep->uptime_s);
                db_bind_int64(st, 6, tr->at_ms);
                r = db_step(st);
                if (r < 0)
                        return r;
        }

        if (tr->record) {
                r = store_history_lock(s);
                if (r < 0)
                        return r;
                r = run_insert(s, ret_event_id,
                               INSERT_ID("INSERT INTO history (node, at, from_state, to_state, cause, message, attempt_id) "
                                         "VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULLIF(CAST(?7 AS BIGINT), 0))"),
                               "titttti", tr->node, tr->at_ms, provision_state_to_string(cur->state),
                               provision_state_to_string(n->state), provision_event_to_string(t->event), message,
                               n->attempt_id);
                if (r < 0)
                        return r;
        }
        return notify_node(s, 'n', tr->node);
}

int store_apply(Store *s, const StoreTransition *tr, const StoreNodeState *cur, StoreNodeState *ret,
                int64_t *ret_event_id) {
        StoreNodeState n;
        int64_t event_id = 0;
        int r = write_begin(s, true);
        if (r < 0)
                return r;
        r = write_end(s, apply_locked(s, tr, cur, &n, &event_id));
        if (r == -ESTALE) {
                /* Written nothing: hand the caller the node's state as it is now. */
                StoreNodeState now = { .state = PROVISION_NEW };
                int k = store_get_node(s, tr->node, &now);
                if (k < 0 && k != -ENOENT)
                        return k;
                log_debug("state store: node %s moved on (version %" PRId64 ", not %" PRId64 ")", tr->node, now.version,
                          cur->version);
                *ret = now;
                return -ESTALE;
        }
        if (r < 0)
                return r;
        *ret = n;
        if (ret_event_id)
                *ret_event_id = event_id;
        return 0;
}

int store_token_box(Store *s, const char *node, uint8_t *buf, size_t cap, size_t *ret_len) {
        _cleanup_(db_donep) DbStmt *st = NULL;
        int r = db_prepare(s->db,
                           "SELECT a.token_box, b.token_box FROM nodes n "
                           "LEFT JOIN attempts a ON a.id = n.attempt_id AND a.ended_at IS NULL "
                           "LEFT JOIN boots b ON b.id = n.boot_id AND b.ended_at IS NULL WHERE n.name = ?1",
                           &st);
        if (r < 0)
                return r;
        db_bind_text(st, 1, node);
        r = db_step(st);
        if (r < 0)
                return r;
        if (r == 0)
                return -ENOENT;
        for (int col = 0; col < 2; col++) {
                size_t n;
                const void *p = db_column_blob(st, col, &n);
                if (!p)
                        continue;
                if (n > cap)
                        return -ENOBUFS;
                memcpy(buf, p, n);
                *ret_len = n;
                return 0;
        }
        return -ENOENT;
}

int store_find_token(Store *s, const uint8_t hash[static TOKEN_HASH_SIZE], StoreAttempt *ret) {
        _cleanup_(db_donep) DbStmt *st = NULL;
        int r = db_prepare(s->db,
                           "SELECT node, id, seq, COALESCE(ended_at, 0), COALESCE(outcome, '') FROM attempts "
                           "WHERE token_hash = ?1",
                           &st);
        if (r < 0)
                return r;
        db_bind_blob(st, 1, hash, TOKEN_HASH_SIZE);
        r = db_step(st);
        if (r < 0)
                return r;
        if (r == 0)
                return -ENOENT;
        StoreAttempt a = { 0 };
        snprintf(a.node, sizeof a.node, "%s", db_column_text(st, 0));
        a.id = db_column_int64(st, 1);
        a.seq = db_column_int64(st, 2);
        a.ended_ms = db_column_int64(st, 3);
        snprintf(a.outcome, sizeof a.outcome, "%s", db_column_text(st, 4));
        *ret = a;
        return 0;
}

static json_t *json_time(int64_t ms) {
        char buf[25];
        return ms > 0 ? json_string(format_rfc3339(ms, buf)) : json_null();
}

static json_t *json_text_or_null(DbStmt *st, int col) {
        const char *t = db_column_text(st, col);
        return t ? json_string(t) : json_null();
}

json_t *store_event_to_json(int64_t id, const char *node, int64_t at_ms, const char *from, const char *to,
                            const char *cause, const char *message, int64_t attempt_seq) {
        json_t *e = json_pack("{s:I, s:o, s:s, s:s, s:s, s:o, s:o}", "id", (json_int_t) id, "at", json_time(at_ms),
                              "from", from, "to", to, "cause", cause, "message",
                              message ? json_string(message) : json_null(), "attempt",
                              attempt_seq > 0 ? json_integer(attempt_seq) : json_null());
        if (e && node && json_object_set_new(e, "node", json_string(node)) < 0) {
                json_decref(e);
                return NULL;
        }
        return e;
}

/* Appends one history row (columns: id, node, at, from, to, cause, message, attempt seq) to arr. */
static int append_event(DbStmt *st, bool with_node, json_t *arr) {
        json_t *e = store_event_to_json(db_column_int64(st, 0), with_node ? db_column_text(st, 1) : NULL,
                                        db_column_int64(st, 2), db_column_text(st, 3), db_column_text(st, 4),
                                        db_column_text(st, 5), db_column_text(st, 6), db_column_int64(st, 7));
        if (!e)
                return -ENOMEM;
        /* console capture: the console's last lines, only where there are some */
        const char *console = db_column_text(st, 8);
        if (console && json_object_set_new(e, "console", json_string(console)) < 0) {
                json_decref(e);
                return -ENOMEM;
        }
        return json_array_append_new(arr, e) < 0 ? -ENOMEM : 0;
}

/* A LIMIT of "no limit" both dialects accept (SQLite takes a negative one, PostgreSQL does not). */
#define NO_LIMIT INT64_MAX

/* store_events_json()'s query, in its three orders (inner ORDER BY, outer ORDER BY): literals,
 * so that each is a statement of the cache. */
#define EVENTS_SQL(inner, outer)                                                                                 \
        "SELECT * FROM (SELECT h.id, h.node, h.at, h.from_state, h.to_state, h.cause, h.message, "             \
        "COALESCE(a.seq, 0), h.console FROM history h LEFT JOIN attempts a ON a.id = h.attempt_id "            \
        "WHERE (CAST(?1 AS TEXT) IS NULL OR h.node = ?1) AND h.id > ?2 AND (CAST(?3 AS BIGINT) <= 0 OR h.id < ?3) " \
        "AND h.at >= ?4 ORDER BY h.id " inner " LIMIT ?5) AS e ORDER BY 1 " outer
static const char events_sql_asc[] = EVENTS_SQL("ASC", "ASC");
static const char events_sql_tail[] = EVENTS_SQL("DESC", "ASC");
static const char events_sql_desc[] = EVENTS_SQL("DESC", "DESC");

int store_events_json(Store *s, const StoreEventQuery *q, json_t **ret) {
        _cleanup_(db_donep) DbStmt *st = NULL;
        /* Without a lower bound the newest `limit` rows are wanted, even in oldest-first order. */
        bool tail = !q->newest_first && q->after_id < 0 && q->since_ms <= 0;
        const char *sql = q->newest_first ? events_sql_desc : tail ? events_sql_tail : events_sql_asc;
        int r = db_prepare(s->db, sql, &st);
        if (r < 0)
                return r;
        db_bind_text(st, 1, q->node);
        db_bind_int64(st, 2, q->after_id > 0 ? q->after_id : 0);
        db_bind_int64(st, 3, q->before_id);
        db_bind_int64(st, 4, q->since_ms > 0 ? q->since_ms : 0);
        db_bind_int64(st, 5, q->limit > 0 ? q->limit : NO_LIMIT);
        _cleanup_(json_decrefp) json_t *arr = json_array();
        if (!arr)
                return -ENOMEM;
        while ((r = db_step(st)) == 1) {
                r = append_event(st, q->with_node, arr);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        *ret = TAKE_PTR(arr);
        return 0;
}

int store_history_json(Store *s, const char *node, json_t **ret) {
        return store_events_json(s, &(StoreEventQuery) { .node = node }, ret);
}

int store_last_event_id(Store *s, int64_t *ret) {
        _cleanup_(db_donep) DbStmt *st = NULL;
        int r = db_prepare(s->db, "SELECT COALESCE(MAX(id), 0) FROM history", &st);
        if (r < 0)
                return r;
        r = db_step(st);
        if (r < 0)
                return r;
        *ret = r == 1 ? db_column_int64(st, 0) : 0;
        return 0;
}

int store_attempt_json(Store *s, int64_t attempt_id, json_t **ret) {
        if (attempt_id <= 0) {
                *ret = json_null();
                return 0;
        }
        _cleanup_(db_donep) DbStmt *st = NULL;
        int r = db_prepare(s->db,
                           "SELECT seq, phase, opened_at, COALESCE(ended_at, 0), outcome, message, firmware FROM attempts "
                           "WHERE id = ?1",
                           &st);
        if (r < 0)
                return r;
        db_bind_int64(st, 1, attempt_id);
        r = db_step(st);
        if (r < 0)
                return r;
        if (r == 0)
                return -ENOENT;
        const char *phase = db_column_text(st, 1);
        json_t *o = json_pack("{s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:o}", "id", (json_int_t) attempt_id, "number",
                              (json_int_t) db_column_int64(st, 0), "phase",
                              phase && *phase ? json_string(phase) : json_null(), "opened_at",
                              json_time(db_column_int64(st, 2)), "ended_at", json_time(db_column_int64(st, 3)),
                              "outcome", json_text_or_null(st, 4), "message", json_text_or_null(st, 5), "firmware",
                              json_text_or_null(st, 6));
        if (!o)
                return -ENOMEM;
        *ret = o;
        return 0;
}

int store_set_console(Store *s, int64_t event_id, const char *text) {
        int r = run(s, "UPDATE history SET console = ?1 WHERE id = ?2", "ti", text, event_id);
        if (r < 0)
                return reclaim_if_full(s, r);
        return db_changes(s->db) > 0 ? 0 : -ENOENT;
}

/* ---- boots of stateless nodes ------------------------------------------------------------ */

int store_find_boot_token(Store *s, const uint8_t hash[static TOKEN_HASH_SIZE], StoreBoot *ret) {
        _cleanup_(db_donep) DbStmt *st = NULL;
        int r = db_prepare(s->db,
                           "SELECT node, id, seq, COALESCE(ended_at, 0), COALESCE(outcome, '') FROM boots "
                           "WHERE token_hash = ?1",
                           &st);
        if (r < 0)
                return r;
        db_bind_blob(st, 1, hash, TOKEN_HASH_SIZE);
        r = db_step(st);
        if (r < 0)
                return r;
        if (r == 0)
                return -ENOENT;
        StoreBoot b = { 0 };
        snprintf(b.node, sizeof b.node, "%s", db_column_text(st, 0));
        b.id = db_column_int64(st, 1);
        b.seq = db_column_int64(st, 2);
        b.ended_ms = db_column_int64(st, 3);
        snprintf(b.outcome, sizeof b.outcome, "%s", db_column_text(st, 4));
        *ret = b;
        return 0;
}

/* One boots row (columns: id, seq, started_at, ended_at, outcome, message, mac, firmware, image,
 * overlay_etag) as JSON. */
static json_t *boot_row_json(DbStmt *st) {
        return json_pack("{s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "id", (json_int_t) db_column_int64(st, 0),
                         "number", (json_int_t) db_column_int64(st, 1), "started_at", json_time(db_column_int64(st, 2)),
                         "ended_at", json_time(db_column_int64(st, 3)), "outcome", json_text_or_null(st, 4), "message",
                         json_text_or_null(st, 5), "mac", json_text_or_null(st, 6), "firmware",
                         json_text_or_null(st, 7), "image", json_text_or_null(st, 8), "overlay_etag",
                         json_text_or_null(st, 9));
}

#define BOOT_COLUMNS "id, seq, started_at, COALESCE(ended_at, 0), outcome, message, mac, firmware, image, overlay_etag"

int store_boot_json(Store *s, int64_t boot_id, json_t **ret) {
        if (boot_id <= 0) {
                *ret = json_null();
                return 0;
        }
        _cleanup_(db_donep) DbStmt *st = NULL;
        int r = db_prepare(s->db, "SELECT " BOOT_COLUMNS " FROM boots WHERE id = ?1", &st);
        if (r < 0)
                return r;
        db_bind_int64(st, 1, boot_id);
        r = db_step(st);
        if (r < 0)
                return r;
        if (r == 0)
                return -ENOENT;
        json_t *o = boot_row_json(st);
        if (!o)
                return -ENOMEM;
        *ret = o;
        return 0;
}

int store_boots_json(Store *s, const char *node, int64_t before_id, int64_t limit, json_t **ret) {
        _cleanup_(db_donep) DbStmt *st = NULL;
        int r = db_prepare(s->db,
                           "SELECT " BOOT_COLUMNS " FROM boots WHERE node = ?1 AND (CAST(?2 AS BIGINT) <= 0 OR id < ?2) "
                           "ORDER BY id DESC LIMIT ?3",
                           &st);
        if (r < 0)
                return r;
        db_bind_text(st, 1, node);
        db_bind_int64(st, 2, before_id);
        db_bind_int64(st, 3, limit > 0 ? limit : NO_LIMIT);
        _cleanup_(json_decrefp) json_t *arr = json_array();
        if (!arr)
                return -ENOMEM;
        while ((r = db_step(st)) == 1)
                if (json_array_append_new(arr, boot_row_json(st)) < 0)
                        return -ENOMEM;
        if (r < 0)
                return r;
        *ret = TAKE_PTR(arr);
        return 0;
}

int store_boot_set_etag(Store *s, int64_t boot_id, const char *etag) {
        int r = write_begin(s, true);
        if (r < 0)
                return r;
        r = run(s, "UPDATE boots SET overlay_etag = ?1 WHERE id = ?2", "ti", etag, boot_id);
        bool changed = r >= 0 && db_changes(s->db) > 0;
        if (changed && is_pg(s))
                r = run(s, "SELECT pg_notify('provd', 'n ' || node) FROM boots WHERE id = ?1", "i", boot_id);
        r = write_end(s, r);
        if (r < 0)
                return r;
        return changed ? 0 : -ENOENT;
}

/* ---- discovery: the `discovered` table ------------------------------------------ */

static int discovered_merge_locked(Store *s, const StoreDiscovered *const *entries, size_t n, int64_t max,
                                   StoreDiscoveredOutcome *outcomes) {
        _cleanup_(db_donep) DbStmt *count = NULL, *update = NULL, *insert = NULL;
        int r = db_prepare(s->db, "SELECT COUNT(*) FROM discovered", &count);
        if (r < 0)
                return r;
        r = db_prepare(s->db,
                       "UPDATE discovered SET "
                       "first_seen_ms = CASE WHEN ?2 < first_seen_ms THEN ?2 ELSE first_seen_ms END, "
                       "last_seen_ms = CASE WHEN ?3 > last_seen_ms THEN ?3 ELSE last_seen_ms END, "
                       "count = count + ?4, arch = COALESCE(?5, arch), uuid = COALESCE(?6, uuid), vendor_class = ?7, "
                       "user_class = ?8, interface = ?9, ipxe = CASE WHEN ?10 > ipxe THEN ?10 ELSE ipxe END WHERE mac = ?1",
                       &update);
        if (r < 0)
                return r;
        r = db_prepare(s->db,
                       "INSERT INTO discovered (mac, first_seen_ms, last_seen_ms, count, arch, uuid, vendor_class, "
                       "user_class, interface, ipxe) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                       &insert);
        if (r < 0)
                return r;
        r = db_step(count);
        if (r < 0)
                return r;
        int64_t rows = db_column_int64(count, 0);

        for (size_t i = 0; i < n; i++) {
                const StoreDiscovered *e = entries[i];
                for (int pass = 0; pass < 2; pass++) {
                        DbStmt *st = pass == 0 ? update : insert;
                        if (pass == 1 && rows >= max) {
                                outcomes[i] = STORE_DISCOVERED_FULL;
                                break;
                        }
                        db_done(st);
                        db_bind_text(st, 1, e->mac);
                        db_bind_int64(st, 2, e->first_seen_ms);
                        db_bind_int64(st, 3, e->last_seen_ms);
                        db_bind_int64(st, 4, e->count);
                        if (e->arch >= 0)
                                db_bind_int64(st, 5, e->arch);
                        else
                                db_bind_null(st, 5);
                        db_bind_text(st, 6, e->uuid[0] ? e->uuid : NULL);
                        db_bind_text(st, 7, e->vendor_class);
                        db_bind_text(st, 8, e->user_class);
                        db_bind_text(st, 9, e->interface);
                        db_bind_int64(st, 10, e->ipxe ? 1 : 0);
                        r = db_step(st);
                        if (r < 0)
                                return r;
                        if (pass == 0 && db_changes(s->db) > 0) {
                                outcomes[i] = STORE_DISCOVERED_UPDATED;
                                break;
                        }
                        if (pass == 1) {
                                outcomes[i] = STORE_DISCOVERED_NEW;
                                rows++;
                        }
                }
        }
        return 0;
}

int store_discovered_merge(Store *s, const StoreDiscovered *const *entries, size_t n, int64_t max,
                           StoreDiscoveredOutcome *outcomes) {
        if (n == 0)
                return 0;
        _cleanup_free_ StoreDiscoveredOutcome *out = calloc(n, sizeof *out);
        if (!out)
                return -ENOMEM;
        int r = write_begin(s, true);
        if (r < 0)
                return r;
        r = write_end(s, discovered_merge_locked(s, entries, n, max, out));
        if (r < 0)
                return r;
        memcpy(outcomes, out, n * sizeof *out);
        return 0;
}

int store_discovered_json(Store *s, json_t **ret) {
        _cleanup_(db_donep) DbStmt *st = NULL;
        int r = db_prepare(s->db,
                           "SELECT mac, first_seen_ms, last_seen_ms, count, arch, uuid, vendor_class, user_class, ipxe, "
                           "interface FROM discovered ORDER BY last_seen_ms DESC, mac",
                           &st);
        if (r < 0)
                return r;
        _cleanup_(json_decrefp) json_t *arr = json_array();
        if (!arr)
                return -ENOMEM;
        while ((r = db_step(st)) == 1) {
                bool has_arch = !db_column_null(st, 4);
                int64_t arch = db_column_int64(st, 4);
                const char *arch_name = has_arch && arch >= 0 && arch <= UINT16_MAX ? dhcp_arch_name((uint16_t) arch)
                                                                                    : NULL;
                json_t *e = json_pack("{s:s, s:o, s:o, s:I, s:o, s:o, s:s, s:o, s:s, s:s, s:b, s:s}", "mac",
                                      db_column_text(st, 0), "first_seen", json_time(db_column_int64(st, 1)),
                                      "last_seen", json_time(db_column_int64(st, 2)), "count",
                                      (json_int_t) db_column_int64(st, 3), "arch",
                                      has_arch ? json_integer(arch) : json_null(), "arch_name",
                                      arch_name ? json_string(arch_name) : json_null(), "firmware",
                                      firmware_name(firmware_from_arch(has_arch ? (int) arch : -1)), "uuid",
                                      json_text_or_null(st, 5), "vendor_class", db_column_text(st, 6), "user_class",
                                      db_column_text(st, 7), "ipxe", db_column_int64(st, 8) != 0, "interface",
                                      db_column_text(st, 9));
                if (!e || json_array_append_new(arr, e) < 0)
                        return -ENOMEM;
        }
        if (r < 0)
                return r;
        *ret = TAKE_PTR(arr);
        return 0;
}

int store_discovered_delete(Store *s, const char *mac) {
        int r = run(s, "DELETE FROM discovered WHERE mac = ?1", "t", mac);
        if (r < 0)
                return reclaim_if_full(s, r);
        return db_changes(s->db) > 0 ? 0 : -ENOENT;
}

static int discovered_prune_locked(Store *s, bool (*is_known)(void *userdata, const char *mac), void *userdata) {
        _cleanup_(db_donep) DbStmt *st = NULL;
        int deleted = 0;
        int r = db_prepare(s->db, "SELECT mac FROM discovered", &st);
        if (r < 0)
                return r;
        while ((r = db_step(st)) == 1) {
                const char *mac = db_column_text(st, 0);
                if (!mac || !is_known(userdata, mac))
                        continue;
                /* Deleting the row the SELECT is on is safe in SQLite (sqlite.org/isolation.html);
                 * PostgreSQL's rows were all read already. */
                r = run(s, "DELETE FROM discovered WHERE mac = ?1", "t", mac);
                if (r < 0)
                        return r;
                deleted++;
        }
        return r < 0 ? r : deleted;
}

int store_discovered_prune(Store *s, bool (*is_known)(void *userdata, const char *mac), void *userdata) {
        /* Deferred: the transaction only becomes a write with the first DELETE, so a prune
         * with nothing to delete writes nothing (a start on a full filesystem)
         * (https://sqlite.org/lang_transaction.html#deferred_immediate_and_exclusive_transactions). */
        int r = write_begin(s, false);
        if (r < 0)
                return r;
        int deleted = discovered_prune_locked(s, is_known, userdata);
        r = write_end(s, deleted);
        return r < 0 ? r : deleted;
}

int store_discovered_count(Store *s, int64_t *ret) {
        _cleanup_(db_donep) DbStmt *st = NULL;
        int r = db_prepare(s->db, "SELECT COUNT(*) FROM discovered", &st);
        if (r < 0)
                return r;
        r = db_step(st);
        if (r < 0)
                return r;
        *ret = r == 1 ? db_column_int64(st, 0) : 0;
        return 0;
}
/* ---- end discovery ------------------------------------------------------------------------ */

/* ---- node credentials and reports ------------------------------------------------------- */

int store_credential_set(Store *s, const char *node, const uint8_t hash[static TOKEN_HASH_SIZE], int64_t at_ms,
                         int64_t attempt_id) {
        int r = write_begin(s, true);
        if (r < 0)
                return r;
        r = run(s,
                "INSERT INTO node_credentials (node, hash, issued_at, attempt_id) "
                "VALUES (?1, ?2, ?3, NULLIF(CAST(?4 AS BIGINT), 0)) "
                "ON CONFLICT(node) DO UPDATE SET hash = ?2, issued_at = ?3, attempt_id = NULLIF(CAST(?4 AS BIGINT), 0)",
                "tbii", node, hash, at_ms, attempt_id);
        if (r >= 0)
                r = notify_node(s, 'c', node);
        return write_end(s, r);
}

int store_credential_delete(Store *s, const char *node) {
        int r = write_begin(s, true);
        if (r < 0)
                return r;
        r = run(s, "DELETE FROM node_credentials WHERE node = ?1", "t", node);
        bool deleted = r >= 0 && db_changes(s->db) > 0;
        if (deleted)
                r = notify_node(s, 'c', node);
        r = write_end(s, r);
        if (r < 0)
                return r;
        return deleted ? 0 : -ENOENT;
}

/* Hands the side of each row of st (n.node, c.hash, r.running .. r.reported_at) to fn. */
static int node_side_rows(DbStmt *st, StoreNodeSideFn fn, void *userdata, int *ret_rows) {
        int r;
        *ret_rows = 0;
        while ((r = db_step(st)) == 1) {
                StoreNodeSide side = { .node = db_column_text(st, 0) };
                size_t n;
                const void *hash = db_column_blob(st, 1, &n);
                if (hash && n == TOKEN_HASH_SIZE)
                        side.credential_hash = hash;
                if (!db_column_null(st, 2)) {
                        side.report = (StoreReport) { .running = db_column_text(st, 2),
                                                      .booted = db_column_text(st, 3),
                                                      .kernel = db_column_text(st, 4),
                                                      .uptime_s = db_column_double(st, 5) };
                        side.reported_ms = db_column_int64(st, 6);
                }
                (*ret_rows)++;
                r = fn(userdata, &side);
                if (r < 0)
                        return r;
        }
        return r;
}

int store_node_side_foreach(Store *s, StoreNodeSideFn fn, void *userdata) {
        _cleanup_(db_donep) DbStmt *st = NULL;
        int rows;
        int r = db_prepare(s->db,
                           "SELECT n.node, c.hash, r.running, r.booted, r.kernel, r.uptime_s, r.reported_at FROM "
                           "(SELECT node FROM node_credentials UNION SELECT node FROM node_reports) n "
                           "LEFT JOIN node_credentials c ON c.node = n.node LEFT JOIN node_reports r ON r.node = n.node",
                           &st);
        if (r < 0)
                return r;
        return node_side_rows(st, fn, userdata, &rows);
}

int store_node_side_get(Store *s, const char *node, StoreNodeSideFn fn, void *userdata) {
        _cleanup_(db_donep) DbStmt *st = NULL;
        int rows;
        int r = db_prepare(s->db,
                           "SELECT n.node, c.hash, r.running, r.booted, r.kernel, r.uptime_s, r.reported_at FROM "
                           "(SELECT CAST(?1 AS TEXT) AS node) n LEFT JOIN node_credentials c ON c.node = n.node "
                           "LEFT JOIN node_reports r ON r.node = n.node WHERE c.node IS NOT NULL OR r.node IS NOT NULL",
                           &st);
        if (r < 0)
                return r;
        db_bind_text(st, 1, node);
        r = node_side_rows(st, fn, userdata, &rows);
        return r < 0 ? r : rows > 0 ? 0 : -ENOENT;
}
