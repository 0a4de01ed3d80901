/* store.c — see store.h. */
#include "store.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dhcp.h"
#include "firmware.h"
#include "log.h"
#include "util.h"

#define SCHEMA_VERSION 1
#define STORE_BUSY_TIMEOUT_MS 5000

/* Slots of a connection's statement cache (see stmt_cache_get()): more than the distinct
 * statements this file runs, so that probing stays short. */
#define STORE_STMT_SLOTS 96

struct Store {
        sqlite3 *db;
        int lock_fd;
        /* The connection's prepared statements, keyed by the address of their SQL text (a
         * string literal of this file): open addressing on that address.  Finalized when the
         * connection closes. */
        struct {
                const char *sql;
                sqlite3_stmt *st;
        } stmts[STORE_STMT_SLOTS];
        bool ready; /* store_open() succeeded */
        bool in_batch; /* between store_batch_begin() and its commit or rollback */
        /* The test hook of store_set_commit_hook(), and the errno it made the last COMMIT fail with. */
        StoreCommitHook commit_hook;
        void *commit_hook_data;
        int commit_hook_error;
        /* A read connection (store_reader_acquire()) is a Store too, with only `db` and
         * `parent` (the store it reads) set; the fields below are the write store's. */
        Store *parent;
        char *db_path;
        bool exclusive; /* locking_mode=EXCLUSIVE: no other connection can read the database */
        /* The read connections: readers_lock guards the rest; readers_cond is signalled when
         * one is given back or a slot frees. */
        pthread_mutex_t readers_lock;
        pthread_cond_t readers_cond;
        Store *idle[STORE_READERS_MAX]; /* open and not lent, n_idle of them */
        size_t n_idle;
        size_t n_open; /* open (idle or lent) or being opened */
};

static inline void sqlite3_finalizep(sqlite3_stmt **st) {
        if (*st)
                sqlite3_finalize(*st);
}

/* Gives a cached statement back for its next use: resets it (ending a read it was in the
 * middle of) and drops its bindings (which may point at the caller's memory). */
static inline void stmt_donep(sqlite3_stmt **st) {
        if (*st) {
                sqlite3_reset(*st);
                sqlite3_clear_bindings(*st);
        }
}

static void stmt_cache_clear(Store *s) {
        for (size_t i = 0; i < ELEMENTSOF(s->stmts); i++) {
                sqlite3_finalize(s->stmts[i].st);
                s->stmts[i].sql = NULL;
                s->stmts[i].st = NULL;
        }
}

/* The one place SQLite result codes become errno values. */
static int sqlite_to_errno(int rc) {
        switch (rc & 0xff) {
        case SQLITE_OK:
        case SQLITE_ROW:
        case SQLITE_DONE:
                return 0;
        case SQLITE_FULL:
                return -ENOSPC;
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
                return -EBUSY;
        case SQLITE_CONSTRAINT:
                return -EEXIST;
        case SQLITE_NOMEM:
                return -ENOMEM;
        case SQLITE_READONLY:
                return -EROFS;
        case SQLITE_PERM:
        case SQLITE_AUTH:
        case SQLITE_CANTOPEN:
                return -EACCES;
        case SQLITE_CORRUPT:
        case SQLITE_NOTADB:
                return -EBADMSG;
        default:
                return -EIO;
        }
}

/* sqlite_to_errno() for a result of s's connection: an I/O error whose system call failed
 * for space (SQLite says SQLITE_FULL only for some of them: growing the -shm file is
 * SQLITE_IOERR_SHMSIZE) is -ENOSPC too (https://sqlite.org/c3ref/system_errno.html). */
static int store_errno(Store *s, int rc) {
        int r = sqlite_to_errno(rc);
        if ((rc & 0xff) == SQLITE_IOERR && s->db) {
                int e = sqlite3_system_errno(s->db);
                if (e == ENOSPC || e == EDQUOT)
                        r = -ENOSPC;
        }
        return r;
}

static int fail(Store *s, int rc, const char *what) {
        int r = store_errno(s, rc);
        if (r == 0)
                r = -EIO;
        return log_error_errno(r, "state store: %s: %s", what, s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
}

static int exec(Store *s, const char *sql) {
        char *err = NULL;
        int rc = sqlite3_exec(s->db, sql, NULL, NULL, &err);
        if (rc != SQLITE_OK) {
                int r = store_errno(s, rc);
                log_error("state store: %s: %s", sql, err ? err : sqlite3_errstr(rc));
                sqlite3_free(err);
                return r < 0 ? r : -EIO;
        }
        return 0;
}

/* Copies what the WAL holds into the database file and truncates the WAL to zero bytes
 * (PRAGMA wal_checkpoint(TRUNCATE): https://sqlite.org/pragma.html#pragma_wal_checkpoint,
 * https://sqlite.org/c3ref/wal_checkpoint_v2.html).  `wait`: wait for other connections'
 * readers up to the busy timeout; without it a reader in the way makes it a partial
 * checkpoint at once (the caller holds the daemon's lock and must not stall the boot API).
 * Returns 0 or a negative errno; logged at level `level` when it fails. */
static int wal_truncate(Store *s, bool wait, int level) {
        int frames = -1, done = -1;
        if (!wait)
                sqlite3_busy_timeout(s->db, 0);
        int rc = sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, &frames, &done);
        if (!wait)
                sqlite3_busy_timeout(s->db, STORE_BUSY_TIMEOUT_MS);
        if (rc == SQLITE_OK)
                return 0;
        int r = store_errno(s, rc);
        return log_full(level, r < 0 ? r : -EIO, NULL,
                        "state store: cannot checkpoint and truncate the WAL (%d of %d frames copied): %s", done,
                        frames, sqlite3_errmsg(s->db));
}

/* Gives back the space the WAL holds after a write failed for it (r == -ENOSPC): the next
 * write then needs only the space its own pages take.  Nothing is lost: only committed
 * transactions are in the WAL, and the checkpoint copies them first.  Returns r. */
static int reclaim_if_full(Store *s, int r) {
        if (r == -ENOSPC && sqlite3_get_autocommit(s->db))
                (void) wal_truncate(s, false, LOG_DEBUG);
        return r;
}

static int exec_cached(Store *s, const char *sql);

/* COMMIT of the open transaction.  On failure the transaction is rolled back (by SQLite, or
 * here when it is still open), and the WAL's space given back after a failure for space.
 * Returns 0 or a negative errno: the test hook's (store_set_commit_hook()) when it refused. */
static int commit(Store *s) {
        s->commit_hook_error = 0;
        int r = exec_cached(s, "COMMIT");
        if (r < 0 && s->commit_hook_error < 0)
                r = s->commit_hook_error;
        if (r < 0 && !sqlite3_get_autocommit(s->db))
                (void) exec_cached(s, "ROLLBACK");
        return reclaim_if_full(s, r);
}

/* Starts a write: its own transaction (BEGIN `begin`), or, inside a batch
 * (store_batch_begin()), a savepoint of the batch's transaction, so that a write that fails
 * undoes only itself (https://sqlite.org/lang_savepoint.html).  End it with write_end(). */
static int write_begin(Store *s, const char *begin) {
        return exec_cached(s, s->in_batch ? "SAVEPOINT write" : begin);
}

/* Ends the write write_begin() started: when r >= 0 COMMIT (its own transaction) or RELEASE
 * (a batch's savepoint); else ROLLBACK (TO the savepoint) — only while the transaction is still
 * open: after SQLITE_FULL, SQLITE_IOERR, SQLITE_BUSY or SQLITE_NOMEM SQLite may already have
 * rolled the whole transaction back itself, and sqlite3_get_autocommit() is how to know
 * (https://sqlite.org/c3ref/get_autocommit.html; in a batch, store_batch_open() then says
 * false).  A failure for space gives the WAL's space back (reclaim_if_full()).  Returns r, or
 * COMMIT's error. */
static int write_end(Store *s, int r) {
        if (s->in_batch) {
                if (r < 0 && !sqlite3_get_autocommit(s->db))
                        (void) exec_cached(s, "ROLLBACK TO write");
                if (!sqlite3_get_autocommit(s->db)) {
                        int k = exec_cached(s, "RELEASE write");
                        if (r >= 0)
                                r = k;
                }
                return reclaim_if_full(s, r);
        }
        if (r >= 0)
                return commit(s);
        if (!sqlite3_get_autocommit(s->db))
                (void) exec_cached(s, "ROLLBACK");
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
        sqlite3_commit_hook(s->db, fn ? commit_hook : NULL, fn ? s : NULL);
}

int store_batch_begin(Store *s) {
        if (s->in_batch || s->parent)
                return -EINVAL;
        int r = exec_cached(s, "BEGIN IMMEDIATE");
        if (r < 0)
                return reclaim_if_full(s, r);
        s->in_batch = true;
        return 0;
}

bool store_batch_open(Store *s) {
        return s->in_batch && !sqlite3_get_autocommit(s->db);
}

int store_batch_commit(Store *s) {
        if (!s->in_batch)
                return -EINVAL;
        s->in_batch = false;
        /* The transaction ended already (a write's failure rolled it all back): nothing of it
         * is on disk. */
        if (sqlite3_get_autocommit(s->db))
                return -EIO;
        return commit(s);
}

void store_batch_rollback(Store *s) {
        if (!s->in_batch)
                return;
        s->in_batch = false;
        if (!sqlite3_get_autocommit(s->db))
                (void) exec_cached(s, "ROLLBACK");
}

/* Prepares a statement the caller finalizes: for what runs once (opening, the schema). */
static int prepare_once(Store *s, const char *sql, sqlite3_stmt **ret) {
        int rc = sqlite3_prepare_v2(s->db, sql, -1, ret, NULL);
        return rc == SQLITE_OK ? 0 : fail(s, rc, "prepare");
}

/* The statement of `sql` on s's connection, compiled on its first use and kept until the
 * connection closes (SQLITE_PREPARE_PERSISTENT: https://sqlite.org/c3ref/prepare.html), so
 * that a transition costs no parsing.  `sql` must be a string literal: its address is the
 * key.  *ret is borrowed and reset with no bindings; the caller steps it and gives it back
 * with stmt_donep() (a _cleanup_), before it is used again.  A schema change recompiles it
 * by itself at its next step (https://sqlite.org/c3ref/prepare.html, "sqlite3_prepare_v2").
 * Returns 0 or a negative errno (logged). */
static int prepare(Store *s, const char *sql, sqlite3_stmt **ret) {
        size_t i = ((uintptr_t) sql >> 3) % STORE_STMT_SLOTS;
        for (size_t probe = 0; probe < STORE_STMT_SLOTS; probe++, i = (i + 1) % STORE_STMT_SLOTS) {
                if (s->stmts[i].sql == sql) {
                        *ret = s->stmts[i].st;
                        return 0;
                }
                if (s->stmts[i].sql)
                        continue;
                sqlite3_stmt *st;
                int rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
                if (rc != SQLITE_OK)
                        return fail(s, rc, "prepare");
                s->stmts[i].sql = sql;
                s->stmts[i].st = st;
                *ret = st;
                return 0;
        }
        /* More distinct statements than slots: a programming error; still correct, uncached. */
        assert(!"store statement cache full");
        return -ENOSPC;
}

/* Runs one statement without bound values or rows (BEGIN, COMMIT, ...) through the cache.
 * Returns 0 or a negative errno (logged). */
static int exec_cached(Store *s, const char *sql) {
        _cleanup_(stmt_donep) sqlite3_stmt *st = NULL;
        int r = prepare(s, sql, &st);
        if (r < 0)
                return r;
        int rc = sqlite3_step(st);
        if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
                r = store_errno(s, rc);
                log_error("state store: %s: %s", sql, sqlite3_errmsg(s->db));
                return r < 0 ? r : -EIO;
        }
        return 0;
}

static int run(Store *s, const char *sql, const char *types, ...);

static const char schema[] =
        "CREATE TABLE IF NOT EXISTS nodes ("
        "  name TEXT PRIMARY KEY,"
        "  state TEXT NOT NULL,"
        "  state_since INTEGER NOT NULL,"
        "  attempt_id INTEGER REFERENCES attempts(id),"
        "  created_at INTEGER NOT NULL);"
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

/* discovery: added to version-1 databases as they are opened (CREATE ... IF NOT
 * EXISTS is the whole migration: the table is new, nothing older refers to it). */
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
/* Boots of stateless nodes: added to older databases as they are opened, like `discovered`.
 * One row per boot: its token hash, when it started and ended, how (outcome), the MAC,
 * firmware and image it booted with, and the ETag of the overlay it was served. */
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
/* Columns added after the first schema: nullable, so ALTER TABLE ... ADD COLUMN keeps every
 * row of an older database (the column NULL).  history.console: the console's last lines of
 * a failed attempt; attempts.firmware: what netbooted the attempt; nodes.boot_id: a stateless
 * node's open (or last) boot. */
static const struct {
        const char *table, *column, *type, *what;
} schema_columns[] = {
        { "history", "console", "TEXT", "console capture" },
        { "attempts", "firmware", "TEXT", "firmware of install attempts" },
        { "nodes", "boot_id", "INTEGER", "the boot of stateless nodes" },
};

/* Whether `table` has the column `column`, into *ret. */
static int column_exists(Store *s, const char *table, const char *column, bool *ret) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int r = prepare_once(s, "SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2", &st);
        if (r < 0)
                return r;
        sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, column, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
                return fail(s, rc, "read the schema");
        *ret = rc == SQLITE_ROW;
        return 0;
}

/* Whether every table and index the statements of `sql` create exists, into *ret.  The names
 * are read from the statements' "IF NOT EXISTS <name>", so they cannot drift from the schema. */
static int schema_objects_exist(Store *s, const char *sql, bool *ret) {
        static const char clause[] = "IF NOT EXISTS ";
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int r = prepare_once(s, "SELECT 1 FROM sqlite_master WHERE name = ?1", &st);
        if (r < 0)
                return r;
        for (const char *p = strstr(sql, clause); p; p = strstr(p, clause)) {
                p += sizeof clause - 1;
                size_t len = strcspn(p, " (;");
                sqlite3_reset(st);
                sqlite3_bind_text(st, 1, p, (int) len, SQLITE_STATIC);
                int rc = sqlite3_step(st);
                if (rc == SQLITE_DONE) {
                        *ret = false;
                        return 0;
                }
                if (rc != SQLITE_ROW)
                        return fail(s, rc, "read the schema");
        }
        *ret = true;
        return 0;
}

/* Whether the database has the whole current schema (tables, indexes, later columns) and
 * user_version SCHEMA_VERSION: then opening it writes nothing, so a daemon on a full
 * filesystem still starts and serves what needs no write. */
static int schema_is_current(Store *s, bool *ret) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        bool ok;
        int r = prepare_once(s, "PRAGMA user_version", &st);
        if (r < 0)
                return r;
        int rc = sqlite3_step(st);
        if (rc != SQLITE_ROW)
                return fail(s, rc, "read user_version");
        if (sqlite3_column_int(st, 0) != SCHEMA_VERSION) {
                *ret = false;
                return 0;
        }
        const char *const parts[] = { schema, schema_discovered, schema_boots };
        for (size_t i = 0; i < ELEMENTSOF(parts); i++) {
                r = schema_objects_exist(s, parts[i], &ok);
                if (r < 0 || !ok) {
                        *ret = false;
                        return r < 0 ? r : 0;
                }
        }
        for (size_t i = 0; i < ELEMENTSOF(schema_columns); i++) {
                r = column_exists(s, schema_columns[i].table, schema_columns[i].column, &ok);
                if (r < 0 || !ok) {
                        *ret = false;
                        return r < 0 ? r : 0;
                }
        }
        *ret = true;
        return 0;
}

/* Creates what schema_is_current() finds missing, in one transaction: the tables and indexes
 * (CREATE ... IF NOT EXISTS), the later columns, user_version. */
static int schema_update_locked(Store *s) {
        bool ok;
        int r = exec(s, schema);
        if (r < 0)
                return r;
        r = exec(s, schema_discovered); /* discovery */
        if (r < 0)
                return r;
        r = exec(s, schema_boots);
        if (r < 0)
                return r;
        for (size_t i = 0; i < ELEMENTSOF(schema_columns); i++) {
                r = column_exists(s, schema_columns[i].table, schema_columns[i].column, &ok);
                if (r < 0)
                        return r;
                if (ok)
                        continue;
                _cleanup_free_ char *alter = NULL;
                log_info("state store: adding the %s column \"%s\" (%s)", schema_columns[i].table,
                         schema_columns[i].column, schema_columns[i].what);
                if (asprintf(&alter, "ALTER TABLE %s ADD COLUMN %s %s", schema_columns[i].table,
                             schema_columns[i].column, schema_columns[i].type) < 0)
                        return -ENOMEM;
                r = exec(s, alter);
                if (r < 0)
                        return r;
        }
        return exec(s, "PRAGMA user_version=" STRINGIFY(SCHEMA_VERSION));
}

static int schema_update(Store *s) {
        int r = exec_cached(s, "BEGIN IMMEDIATE");
        if (r < 0)
                return r;
        return write_end(s, schema_update_locked(s));
}

int store_set_console(Store *s, int64_t event_id, const char *text) {
        int r = run(s, "UPDATE history SET console = ?1 WHERE id = ?2", "ti", text, event_id);
        if (r < 0)
                return reclaim_if_full(s, r);
        return sqlite3_changes(s->db) > 0 ? 0 : -ENOENT;
}

/* Opens s->db at db_path and sets the connection up (none of it writes to a database that is
 * already in WAL mode).  `exclusive`: PRAGMA locking_mode=EXCLUSIVE first, so that SQLite keeps
 * the WAL's index in its own memory and never maps the -shm file — which needs space on the
 * filesystem when the file is missing — at the price of locking other processes out
 * (https://sqlite.org/wal.html, "Use of WAL Without Shared-Memory").  Returns 0, -ENOSPC
 * without logging when the first access found no space (the caller may retry exclusive),
 * or another negative errno, logged. */
static int db_open(Store *s, const char *db_path, bool exclusive) {
        int rc = sqlite3_open_v2(db_path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                                 NULL);
        if (rc != SQLITE_OK)
                return fail(s, rc, db_path);
        sqlite3_busy_timeout(s->db, STORE_BUSY_TIMEOUT_MS);
        sqlite3_extended_result_codes(s->db, 1);
        /* Keep the -wal and -shm files when the connection closes (the WAL truncated to zero
         * bytes, as journal_size_limit is set): a daemon restarted on a full filesystem then
         * finds the -shm's space still its own, and reads without allocating any
         * (https://sqlite.org/c3ref/c_fcntl_begin_atomic_write.html#sqlitefcntlpersistwal). */
        (void) sqlite3_file_control(s->db, "main", SQLITE_FCNTL_PERSIST_WAL, &(int) { 1 });
        /* The database file grows by STORE_DB_CHUNK_BYTES at a time, allocated when it grows
         * (https://sqlite.org/c3ref/c_fcntl_begin_atomic_write.html#sqlitefcntlchunksize):
         * the checkpoint that gives the WAL's space back after a write failed for space copies
         * the WAL's pages into the database file, which must not need new space then.  Without
         * the slack whether it did depended on where the last pages happened to fall. */
        (void) sqlite3_file_control(s->db, "main", SQLITE_FCNTL_CHUNK_SIZE, &(int) { STORE_DB_CHUNK_BYTES });
        if (exclusive) {
                int r = exec(s, "PRAGMA locking_mode=EXCLUSIVE");
                if (r < 0)
                        return r;
        }
        /* WAL: readers never block the writer; FULL: a commit is on disk when it returns, so
         * not even a power cut loses an answered transition, let alone kill -9.  The WAL is
         * bounded (see STORE_WAL_AUTOCHECKPOINT_PAGES).  journal_mode is the first access. */
        rc = sqlite3_exec(s->db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL);
        if (rc != SQLITE_OK && !exclusive && store_errno(s, rc) == -ENOSPC)
                return -ENOSPC;
        if (rc != SQLITE_OK)
                return fail(s, rc, "PRAGMA journal_mode=WAL");
        return exec(s, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; "
                       "PRAGMA wal_autocheckpoint=" STRINGIFY(STORE_WAL_AUTOCHECKPOINT_PAGES) "; "
                       "PRAGMA journal_size_limit=" STRINGIFY(STORE_WAL_LIMIT_BYTES) ";");
}

int store_open(const char *state_dir, Store **ret) {
        _cleanup_(store_freep) Store *s = NULL;
        _cleanup_free_ char *lock_path = NULL;
        int r;

        if (mkdir(state_dir, 0700) < 0 && errno != EEXIST)
                return log_error_errno(errno, "cannot create state directory %s: %m", state_dir);

        s = calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;
        s->lock_fd = -1;
        pthread_mutex_init(&s->readers_lock, NULL);
        pthread_cond_init(&s->readers_cond, NULL);

        if (asprintf(&lock_path, "%s/provd.lock", state_dir) < 0 || asprintf(&s->db_path, "%s/provd.db", state_dir) < 0)
                return -ENOMEM;
        const char *db_path = s->db_path;
        s->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (s->lock_fd < 0)
                return log_error_errno(errno, "cannot open %s: %m", lock_path);
        if (flock(s->lock_fd, LOCK_EX | LOCK_NB) < 0) {
                if (errno == EWOULDBLOCK)
                        return log_error_errno(EBUSY, "state directory %s is in use by another provd", state_dir);
                return log_error_errno(errno, "cannot lock %s: %m", lock_path);
        }

        r = db_open(s, db_path, false);
        if (r == -ENOSPC) {
                /* No space to map the -shm file (it was removed, e.g. by another program that
                 * closed the database last): keep the wal-index in memory instead. */
                log_warning("state store: %s: no space for the shared-memory file (%s): opening it in exclusive "
                            "locking mode, other programs cannot open it until provd restarts",
                            db_path, sqlite3_errmsg(s->db));
                sqlite3_close_v2(s->db);
                s->db = NULL;
                s->exclusive = true;
                r = db_open(s, db_path, true);
        }
        if (r < 0)
                return r;
        /* Schema and migrations only when something is missing: an up-to-date database is
         * opened without a single write. */
        bool current;
        r = schema_is_current(s, &current);
        if (r < 0)
                return r;
        if (!current) {
                r = schema_update(s);
                if (r < 0)
                        return r;
        }

        s->ready = true;
        *ret = TAKE_PTR(s);
        return 0;
}

static void reader_close(Store *r) {
        stmt_cache_clear(r);
        sqlite3_close_v2(r->db);
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
        stmt_cache_clear(s);
        /* A clean stop leaves an empty WAL (the close would checkpoint too, but says nothing
         * when it cannot). */
        if (s->ready)
                (void) wal_truncate(s, true, LOG_WARNING);
        if (s->db)
                sqlite3_close_v2(s->db);
        if (s->lock_fd >= 0)
                close(s->lock_fd);
        free(s);
}

/* ---- read connections ---------------------------------------------------------------- */

/* Opens a read-only connection to s's database into *ret.  It writes nothing (not even the
 * -shm file's size: the write connection made it) and needs no space. */
static int reader_open(Store *s, Store **ret) {
        Store *r = calloc(1, sizeof *r);
        if (!r)
                return -ENOMEM;
        r->lock_fd = -1;
        r->parent = s;
        /* NOMUTEX: one thread at a time uses a connection (it is lent to one), so SQLite's
         * own per-connection mutex would only cost (https://sqlite.org/threadsafe.html). */
        int rc = sqlite3_open_v2(s->db_path, &r->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
        if (rc != SQLITE_OK) {
                int k = fail(r, rc, "open a read connection");
                reader_close(r);
                return k;
        }
        /* A reader waits only while the writer resets the WAL's index (a checkpoint that
         * restarts or truncates it) or recovers it. */
        sqlite3_busy_timeout(r->db, STORE_BUSY_TIMEOUT_MS);
        sqlite3_extended_result_codes(r->db, 1);
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
        if (s->exclusive || !sqlite3_threadsafe())
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
        /* Deferred: the read transaction, and with it the snapshot, starts at the first read
         * (https://sqlite.org/lang_transaction.html). */
        int k = exec_cached(r, "BEGIN");
        if (k < 0) {
                reader_drop(s, r);
                return k;
        }
        *ret = r;
        return 0;
}

int store_reader_snapshot(Store *r) {
        if (!r->parent)
                return -EINVAL;
        /* Reading the schema cookie (in the header page) is a read: it starts the read
         * transaction (https://sqlite.org/lang_transaction.html). */
        return exec_cached(r, "PRAGMA schema_version");
}

void store_reader_release(Store *r) {
        if (!r)
                return;
        Store *s = r->parent;
        /* A statement left mid-way would keep the read transaction, and so an old snapshot,
         * open: the WAL could then not start over after a checkpoint and would grow. */
        for (sqlite3_stmt *st = sqlite3_next_stmt(r->db, NULL); st; st = sqlite3_next_stmt(r->db, st))
                sqlite3_reset(st);
        if (!sqlite3_get_autocommit(r->db) && exec_cached(r, "COMMIT") < 0)
                (void) exec_cached(r, "ROLLBACK");
        if (!sqlite3_get_autocommit(r->db)) {
                /* Still in a transaction: never lend it again. */
                reader_drop(s, r);
                return;
        }
        pthread_mutex_lock(&s->readers_lock);
        s->idle[s->n_idle++] = r;
        pthread_cond_signal(&s->readers_cond);
        pthread_mutex_unlock(&s->readers_lock);
}

int store_get_node(Store *s, const char *name, StoreNodeState *ret) {
        _cleanup_(stmt_donep) sqlite3_stmt *st = NULL;
        int r = prepare(s,
                        "SELECT n.state, n.state_since, COALESCE(n.attempt_id, 0), COALESCE(a.seq, 0), "
                        "COALESCE(a.phase, ''), COALESCE(a.opened_at, 0), COALESCE(n.boot_id, 0), COALESCE(b.seq, 0), "
                        "COALESCE(b.started_at, 0) FROM nodes n LEFT JOIN attempts a ON a.id = n.attempt_id "
                        "LEFT JOIN boots b ON b.id = n.boot_id WHERE n.name = ?1",
                        &st);
        if (r < 0)
                return r;
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_DONE) {
                sqlite3_reset(st);
                return -ENOENT;
        }
        if (rc != SQLITE_ROW) {
                sqlite3_reset(st);
                return fail(s, rc, "read node");
        }
        StoreNodeState n = { 0 };
        n.state = provision_state_from_string((const char *) sqlite3_column_text(st, 0));
        n.since_ms = sqlite3_column_int64(st, 1);
        n.attempt_id = sqlite3_column_int64(st, 2);
        n.attempt_seq = sqlite3_column_int64(st, 3);
        snprintf(n.phase, sizeof n.phase, "%s", (const char *) sqlite3_column_text(st, 4));
        n.attempt_opened_ms = sqlite3_column_int64(st, 5);
        n.boot_id = sqlite3_column_int64(st, 6);
        n.boot_seq = sqlite3_column_int64(st, 7);
        n.boot_opened_ms = sqlite3_column_int64(st, 8);
        sqlite3_reset(st);
        if (n.state == _PROVISION_STATE_INVALID)
                return log_error_errno(EBADMSG, "state store: node %s has an unknown state", name);
        *ret = n;
        return 0;
}

int store_node_states_foreach(Store *s, StoreNodeStateFn fn, void *userdata) {
        _cleanup_(stmt_donep) sqlite3_stmt *st = NULL;
        int r = prepare(s,
                        "SELECT n.name, n.state, n.state_since, COALESCE(n.attempt_id, 0), COALESCE(a.seq, 0), "
                        "COALESCE(a.phase, ''), COALESCE(a.opened_at, 0), COALESCE(n.boot_id, 0), COALESCE(b.seq, 0), "
                        "COALESCE(b.started_at, 0) FROM nodes n LEFT JOIN attempts a ON a.id = n.attempt_id "
                        "LEFT JOIN boots b ON b.id = n.boot_id",
                        &st);
        if (r < 0)
                return r;
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                const char *name = (const char *) sqlite3_column_text(st, 0);
                StoreNodeState n = { 0 };
                n.state = provision_state_from_string((const char *) sqlite3_column_text(st, 1));
                n.since_ms = sqlite3_column_int64(st, 2);
                n.attempt_id = sqlite3_column_int64(st, 3);
                n.attempt_seq = sqlite3_column_int64(st, 4);
                snprintf(n.phase, sizeof n.phase, "%s", (const char *) sqlite3_column_text(st, 5));
                n.attempt_opened_ms = sqlite3_column_int64(st, 6);
                n.boot_id = sqlite3_column_int64(st, 7);
                n.boot_seq = sqlite3_column_int64(st, 8);
                n.boot_opened_ms = sqlite3_column_int64(st, 9);
                if (!name || n.state == _PROVISION_STATE_INVALID)
                        return log_error_errno(EBADMSG, "state store: node %s has an unknown state", name ? name : "(null)");
                r = fn(userdata, name, &n);
                if (r < 0)
                        return r;
        }
        if (rc != SQLITE_DONE)
                return fail(s, rc, "read the nodes' states");
        return 0;
}

/* Runs one statement with bound values: 'i' int64, 't' text (NULL ok), 'b' 32-byte blob. */
static int run(Store *s, const char *sql, const char *types, ...) {
        _cleanup_(stmt_donep) sqlite3_stmt *st = NULL;
        int r = prepare(s, sql, &st);
        if (r < 0)
                return r;
        va_list ap;
        va_start(ap, types);
        for (int i = 0; types[i]; i++) {
                if (types[i] == 'i')
                        sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t));
                else if (types[i] == 't')
                        sqlite3_bind_text(st, i + 1, va_arg(ap, const char *), -1, SQLITE_TRANSIENT);
                else
                        sqlite3_bind_blob(st, i + 1, va_arg(ap, const uint8_t *), TOKEN_HASH_SIZE, SQLITE_TRANSIENT);
        }
        va_end(ap);
        int rc = sqlite3_step(st);
        if (rc != SQLITE_DONE && rc != SQLITE_ROW)
                return fail(s, rc, "write");
        return 0;
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

static int apply_locked(Store *s, const StoreTransition *tr, const StoreNodeState *cur, StoreNodeState *n,
                        int64_t *ret_event_id) {
        const ProvisionTransition *t = tr->t;
        const char *message = tr->message ? tr->message : t->why;
        const char *boot_outcome = provision_boot_outcome(t);
        int r;

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
                int64_t seq = 1;
                _cleanup_(stmt_donep) sqlite3_stmt *st = NULL;
                r = prepare(s, "SELECT COALESCE(MAX(seq), 0) + 1 FROM attempts WHERE node = ?1", &st);
                if (r < 0)
                        return r;
                sqlite3_bind_text(st, 1, tr->node, -1, SQLITE_STATIC);
                if (sqlite3_step(st) == SQLITE_ROW)
                        seq = sqlite3_column_int64(st, 0);
                r = run(s, "INSERT INTO attempts (node, seq, token_hash, opened_at, firmware) VALUES (?1, ?2, ?3, ?4, ?5)",
                        "tibit", tr->node, seq, tr->new_token_hash, tr->at_ms, tr->firmware);
                if (r < 0)
                        return r;
                n->attempt_id = sqlite3_last_insert_rowid(s->db);
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
                int64_t seq = 1;
                _cleanup_(stmt_donep) sqlite3_stmt *st = NULL;
                r = prepare(s, "SELECT COALESCE(MAX(seq), 0) + 1 FROM boots WHERE node = ?1", &st);
                if (r < 0)
                        return r;
                sqlite3_bind_text(st, 1, tr->node, -1, SQLITE_STATIC);
                if (sqlite3_step(st) == SQLITE_ROW)
                        seq = sqlite3_column_int64(st, 0);
                r = run(s,
                        "INSERT INTO boots (node, seq, token_hash, started_at, mac, firmware, image) "
                        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                        "tibittt", tr->node, seq, tr->new_token_hash, tr->at_ms, tr->mac, tr->firmware, tr->image);
                if (r < 0)
                        return r;
                n->boot_id = sqlite3_last_insert_rowid(s->db);
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
        r = run(s,
                "INSERT INTO nodes (name, state, state_since, attempt_id, created_at, boot_id) "
                "VALUES (?1, ?2, ?3, NULLIF(?4, 0), ?5, NULLIF(?6, 0)) "
                "ON CONFLICT(name) DO UPDATE SET state = ?2, state_since = ?3, attempt_id = NULLIF(?4, 0), "
                "boot_id = NULLIF(?6, 0)",
                "ttiiii", tr->node, provision_state_to_string(n->state), n->since_ms,
                n->attempt_id, tr->at_ms, n->boot_id);
        if (r < 0)
                return r;

        if (tr->report) {
                const StoreReport *rep = tr->report;
                _cleanup_(stmt_donep) sqlite3_stmt *st = NULL;
                r = prepare(s,
                            "INSERT INTO node_reports (node, running, booted, kernel, uptime_s, reported_at) "
                            "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(node) DO UPDATE SET running = ?2, booted = ?3, "
                            "kernel = ?4, uptime_s = ?5, reported_at = ?6",
                            &st);
                if (r < 0)
                        return r;
                sqlite3_bind_text(st, 1, tr->node, -1, SQLITE_STATIC);
                sqlite3_bind_text(st, 2, rep->running, -1, SQLITE_STATIC);
                sqlite3_bind_text(st, 3, rep->booted, -1, SQLITE_STATIC);
                sqlite3_bind_text(st, 4, rep->kernel, -1, SQLITE_STATIC);
                sqlite3_bind_double(st, 5, rep->uptime_s);
                sqlite3_bind_int64(st, 6, tr->at_ms);
                int rc = sqlite3_step(st);
                if (rc != SQLITE_DONE)
                        return fail(s, rc, "write node report");
        }

        if (tr->record) {
                r = run(s,
                        "INSERT INTO history (node, at, from_state, to_state, cause, message, attempt_id) "
                        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULLIF(?7, 0))",
                        "titttti", tr->node, tr->at_ms, provision_state_to_string(cur->state),
                        provision_state_to_string(n->state), provision_event_to_string(t->event), message,
                        n->attempt_id);
                if (r < 0)
                        return r;
                *ret_event_id = sqlite3_last_insert_rowid(s->db);
        }
        return 0;
}

int store_apply(Store *s, const StoreTransition *tr, const StoreNodeState *cur, StoreNodeState *ret,
                int64_t *ret_event_id) {
        StoreNodeState n;
        int64_t event_id = 0;
        int r = write_begin(s, "BEGIN IMMEDIATE");
        if (r < 0)
                return r;
        r = write_end(s, apply_locked(s, tr, cur, &n, &event_id));
        if (r < 0)
                return r;
        *ret = n;
        if (ret_event_id)
                *ret_event_id = event_id;
        return 0;
}

int store_find_token(Store *s, const uint8_t hash[static TOKEN_HASH_SIZE], StoreAttempt *ret) {
        _cleanup_(stmt_donep) sqlite3_stmt *st = NULL;
        int r = prepare(s,
                        "SELECT node, id, seq, COALESCE(ended_at, 0), COALESCE(outcome, '') FROM attempts "
                        "WHERE token_hash = ?1",
                        &st);
        if (r < 0)
                return r;
        sqlite3_bind_blob(st, 1, hash, TOKEN_HASH_SIZE, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_DONE) {
                sqlite3_reset(st);
                return -ENOENT;
        }
        if (rc != SQLITE_ROW) {
                sqlite3_reset(st);
                return fail(s, rc, "find token");
        }
        StoreAttempt a = { 0 };
        snprintf(a.node, sizeof a.node, "%s", (const char *) sqlite3_column_text(st, 0));
        a.id = sqlite3_column_int64(st, 1);
        a.seq = sqlite3_column_int64(st, 2);
        a.ended_ms = sqlite3_column_int64(st, 3);
        snprintf(a.outcome, sizeof a.outcome, "%s", (const char *) sqlite3_column_text(st, 4));
        sqlite3_reset(st);
        *ret = a;
        return 0;
}

static json_t *json_time(int64_t ms) {
        char buf[25];
        return ms > 0 ? json_string(format_rfc3339(ms, buf)) : json_null();
}

static json_t *json_text_or_null(sqlite3_stmt *st, int col) {
        const unsigned char *t = sqlite3_column_text(st, col);
        return t ? json_string((const char *) t) : json_null();
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
static int append_event(sqlite3_stmt *st, bool with_node, json_t *arr) {
        json_t *e = store_event_to_json(
                sqlite3_column_int64(st, 0), with_node ? (const char *) sqlite3_column_text(st, 1) : NULL,
                sqlite3_column_int64(st, 2), (const char *) sqlite3_column_text(st, 3),
                (const char *) sqlite3_column_text(st, 4), (const char *) sqlite3_column_text(st, 5),
                (const char *) sqlite3_column_text(st, 6), sqlite3_column_int64(st, 7));
        if (!e)
                return -ENOMEM;
        /* console capture: the console's last lines, only where there are some */
        const unsigned char *console = sqlite3_column_text(st, 8);
        if (console && json_object_set_new(e, "console", json_string((const char *) console)) < 0) {
                json_decref(e);
                return -ENOMEM;
        }
        return json_array_append_new(arr, e) < 0 ? -ENOMEM : 0;
}

/* store_events_json()'s query, in its three orders (inner ORDER BY, outer ORDER BY): literals,
 * so that each is a statement of the cache. */
#define EVENTS_SQL(inner, outer)                                                                                 \
        "SELECT * FROM (SELECT h.id, h.node, h.at, h.from_state, h.to_state, h.cause, h.message, "             \
        "COALESCE(a.seq, 0), h.console FROM history h LEFT JOIN attempts a ON a.id = h.attempt_id "            \
        "WHERE (?1 IS NULL OR h.node = ?1) AND h.id > ?2 AND (?3 <= 0 OR h.id < ?3) AND h.at >= ?4 "           \
        "ORDER BY h.id " inner " LIMIT ?5) ORDER BY 1 " outer
static const char events_sql_asc[] = EVENTS_SQL("ASC", "ASC");
static const char events_sql_tail[] = EVENTS_SQL("DESC", "ASC");
static const char events_sql_desc[] = EVENTS_SQL("DESC", "DESC");

int store_events_json(Store *s, const StoreEventQuery *q, json_t **ret) {
        _cleanup_(stmt_donep) sqlite3_stmt *st = NULL;
        /* Without a lower bound the newest `limit` rows are wanted, even in oldest-first order. */
        bool tail = !q->newest_first && q->after_id < 0 && q->since_ms <= 0;
        const char *sql = q->newest_first ? events_sql_desc : tail ? events_sql_tail : events_sql_asc;
        int r = prepare(s, sql, &st);
        if (r < 0)
                return r;
        if (q->node)
                sqlite3_bind_text(st, 1, q->node, -1, SQLITE_STATIC);
        else
                sqlite3_bind_null(st, 1);
        sqlite3_bind_int64(st, 2, q->after_id > 0 ? q->after_id : 0);
        sqlite3_bind_int64(st, 3, q->before_id);
        sqlite3_bind_int64(st, 4, q->since_ms > 0 ? q->since_ms : 0);
        sqlite3_bind_int64(st, 5, q->limit > 0 ? q->limit : -1);
        _cleanup_(json_decrefp) json_t *arr = json_array();
        if (!arr)
                return -ENOMEM;
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                r = append_event(st, q->with_node, arr);
                if (r < 0)
                        return r;
        }
        if (rc != SQLITE_DONE)
                return fail(s, rc, "read history");
        *ret = TAKE_PTR(arr);
        return 0;
}

int store_history_json(Store *s, const char *node, json_t **ret) {
        return store_events_json(s, &(StoreEventQuery) { .node = node }, ret);
}

int store_last_event_id(Store *s, int64_t *ret) {
        _cleanup_(stmt_donep) sqlite3_stmt *st = NULL;
        int r = prepare(s, "SELECT COALESCE(MAX(id), 0) FROM history", &st);
        if (r < 0)
                return r;
        int rc = sqlite3_step(st);
        if (rc != SQLITE_ROW)
                return fail(s, rc, "read history");
        *ret = sqlite3_column_int64(st, 0);
        return 0;
}

int store_attempt_json(Store *s, int64_t attempt_id, json_t **ret) {
        if (attempt_id <= 0) {
                *ret = json_null();
                return 0;
        }
        _cleanup_(stmt_donep) sqlite3_stmt *st = NULL;
        int r = prepare(s,
                        "SELECT seq, phase, opened_at, COALESCE(ended_at, 0), outcome, message, firmware FROM attempts "
                        "WHERE id = ?1",
                        &st);
        if (r < 0)
                return r;
        sqlite3_bind_int64(st, 1, attempt_id);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
                return -ENOENT;
        if (rc != SQLITE_ROW)
                return fail(s, rc, "read attempt");
        const char *phase = (const char *) sqlite3_column_text(st, 1);
        json_t *o = json_pack("{s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:o}", "id", (json_int_t) attempt_id, "number",
                              (json_int_t) sqlite3_column_int64(st, 0),
                              "phase", phase && *phase ? json_string(phase) : json_null(), "opened_at",
                              json_time(sqlite3_column_int64(st, 2)), "ended_at", json_time(sqlite3_column_int64(st, 3)),
                              "outcome", json_text_or_null(st, 4), "message", json_text_or_null(st, 5), "firmware",
                              json_text_or_null(st, 6));
        if (!o)
                return -ENOMEM;
        *ret = o;
        return 0;
}

/* ---- boots of stateless nodes ------------------------------------------------------------ */

int store_find_boot_token(Store *s, const uint8_t hash[static TOKEN_HASH_SIZE], StoreBoot *ret) {
        _cleanup_(stmt_donep) sqlite3_stmt *st = NULL;
        int r = prepare(s,
                        "SELECT node, id, seq, COALESCE(ended_at, 0), COALESCE(outcome, '') FROM boots "
                        "WHERE token_hash = ?1",
                        &st);
        if (r < 0)
                return r;
        sqlite3_bind_blob(st, 1, hash, TOKEN_HASH_SIZE, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
                return -ENOENT;
        if (rc != SQLITE_ROW)
                return fail(s, rc, "find boot token");
        StoreBoot b = { 0 };
        snprintf(b.node, sizeof b.node, "%s", (const char *) sqlite3_column_text(st, 0));
        b.id = sqlite3_column_int64(st, 1);
        b.seq = sqlite3_column_int64(st, 2);
        b.ended_ms = sqlite3_column_int64(st, 3);
        snprintf(b.outcome, sizeof b.outcome, "%s", (const char *) sqlite3_column_text(st, 4));
        *ret = b;
        return 0;
}

/* One boots row (columns: id, seq, started_at, ended_at, outcome, message, mac, firmware, image,
 * overlay_etag) as JSON. */
static json_t *boot_row_json(sqlite3_stmt *st) {
        return json_pack("{s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "id",
                         (json_int_t) sqlite3_column_int64(st, 0), "number", (json_int_t) sqlite3_column_int64(st, 1),
                         "started_at", json_time(sqlite3_column_int64(st, 2)), "ended_at",
                         json_time(sqlite3_column_int64(st, 3)), "outcome", json_text_or_null(st, 4), "message",
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
        _cleanup_(stmt_donep) sqlite3_stmt *st = NULL;
        int r = prepare(s, "SELECT " BOOT_COLUMNS " FROM boots WHERE id = ?1", &st);
        if (r < 0)
                return r;
        sqlite3_bind_int64(st, 1, boot_id);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
                return -ENOENT;
        if (rc != SQLITE_ROW)
                return fail(s, rc, "read boot");
        json_t *o = boot_row_json(st);
        if (!o)
                return -ENOMEM;
        *ret = o;
        return 0;
}

int store_boots_json(Store *s, const char *node, int64_t before_id, int64_t limit, json_t **ret) {
        _cleanup_(stmt_donep) sqlite3_stmt *st = NULL;
        int r = prepare(s,
                        "SELECT " BOOT_COLUMNS " FROM boots WHERE node = ?1 AND (?2 <= 0 OR id < ?2) "
                        "ORDER BY id DESC LIMIT ?3",
                        &st);
        if (r < 0)
                return r;
        sqlite3_bind_text(st, 1, node, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, before_id);
        sqlite3_bind_int64(st, 3, limit > 0 ? limit : -1);
        _cleanup_(json_decrefp) json_t *arr = json_array();
        if (!arr)
                return -ENOMEM;
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
                if (json_array_append_new(arr, boot_row_json(st)) < 0)
                        return -ENOMEM;
        if (rc != SQLITE_DONE)
                return fail(s, rc, "read boots");
        *ret = TAKE_PTR(arr);
        return 0;
}

int store_boot_set_etag(Store *s, int64_t boot_id, const char *etag) {
        int r = write_begin(s, "BEGIN IMMEDIATE");
        if (r < 0)
                return r;
        r = write_end(s, run(s, "UPDATE boots SET overlay_etag = ?1 WHERE id = ?2", "ti", etag, boot_id));
        if (r < 0)
                return r;
        return sqlite3_changes(s->db) > 0 ? 0 : -ENOENT;
}

/* ---- discovery: the `discovered` table ------------------------------------------ */

static int discovered_merge_locked(Store *s, const StoreDiscovered *const *entries, size_t n, int64_t max,
                                   StoreDiscoveredOutcome *outcomes) {
        _cleanup_(stmt_donep) sqlite3_stmt *count = NULL, *update = NULL, *insert = NULL;
        int r = prepare(s, "SELECT COUNT(*) FROM discovered", &count);
        if (r < 0)
                return r;
        r = prepare(s,
                    "UPDATE discovered SET first_seen_ms = MIN(first_seen_ms, ?2), last_seen_ms = MAX(last_seen_ms, ?3), "
                    "count = count + ?4, arch = COALESCE(?5, arch), uuid = COALESCE(?6, uuid), vendor_class = ?7, "
                    "user_class = ?8, interface = ?9, ipxe = MAX(ipxe, ?10) WHERE mac = ?1",
                    &update);
        if (r < 0)
                return r;
        r = prepare(s,
                    "INSERT INTO discovered (mac, first_seen_ms, last_seen_ms, count, arch, uuid, vendor_class, "
                    "user_class, interface, ipxe) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                    &insert);
        if (r < 0)
                return r;
        int rc = sqlite3_step(count);
        if (rc != SQLITE_ROW)
                return fail(s, rc, "count discovered");
        int64_t rows = sqlite3_column_int64(count, 0);

        for (size_t i = 0; i < n; i++) {
                const StoreDiscovered *e = entries[i];
                for (int pass = 0; pass < 2; pass++) {
                        sqlite3_stmt *st = pass == 0 ? update : insert;
                        if (pass == 1 && rows >= max) {
                                outcomes[i] = STORE_DISCOVERED_FULL;
                                break;
                        }
                        sqlite3_reset(st);
                        sqlite3_bind_text(st, 1, e->mac, -1, SQLITE_STATIC);
                        sqlite3_bind_int64(st, 2, e->first_seen_ms);
                        sqlite3_bind_int64(st, 3, e->last_seen_ms);
                        sqlite3_bind_int64(st, 4, e->count);
                        if (e->arch >= 0)
                                sqlite3_bind_int(st, 5, e->arch);
                        else
                                sqlite3_bind_null(st, 5);
                        if (e->uuid[0])
                                sqlite3_bind_text(st, 6, e->uuid, -1, SQLITE_STATIC);
                        else
                                sqlite3_bind_null(st, 6);
                        sqlite3_bind_text(st, 7, e->vendor_class, -1, SQLITE_STATIC);
                        sqlite3_bind_text(st, 8, e->user_class, -1, SQLITE_STATIC);
                        sqlite3_bind_text(st, 9, e->interface, -1, SQLITE_STATIC);
                        sqlite3_bind_int(st, 10, e->ipxe ? 1 : 0);
                        rc = sqlite3_step(st);
                        if (rc != SQLITE_DONE)
                                return fail(s, rc, "record discovered");
                        if (pass == 0 && sqlite3_changes(s->db) > 0) {
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
        int r = write_begin(s, "BEGIN IMMEDIATE");
        if (r < 0)
                return r;
        r = write_end(s, discovered_merge_locked(s, entries, n, max, out));
        if (r < 0)
                return r;
        memcpy(outcomes, out, n * sizeof *out);
        return 0;
}

int store_discovered_json(Store *s, json_t **ret) {
        _cleanup_(stmt_donep) sqlite3_stmt *st = NULL;
        int r = prepare(s,
                        "SELECT mac, first_seen_ms, last_seen_ms, count, arch, uuid, vendor_class, user_class, ipxe, "
                        "interface FROM discovered ORDER BY last_seen_ms DESC, mac",
                        &st);
        if (r < 0)
                return r;
        _cleanup_(json_decrefp) json_t *arr = json_array();
        if (!arr)
                return -ENOMEM;
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                bool has_arch = sqlite3_column_type(st, 4) != SQLITE_NULL;
                int arch = sqlite3_column_int(st, 4);
                const char *arch_name = has_arch && arch >= 0 && arch <= UINT16_MAX ? dhcp_arch_name((uint16_t) arch)
                                                                                    : NULL;
                json_t *e = json_pack("{s:s, s:o, s:o, s:I, s:o, s:o, s:s, s:o, s:s, s:s, s:b, s:s}", "mac",
                                      (const char *) sqlite3_column_text(st, 0), "first_seen",
                                      json_time(sqlite3_column_int64(st, 1)), "last_seen",
                                      json_time(sqlite3_column_int64(st, 2)), "count",
                                      (json_int_t) sqlite3_column_int64(st, 3), "arch",
                                      has_arch ? json_integer(arch) : json_null(), "arch_name",
                                      arch_name ? json_string(arch_name) : json_null(), "firmware",
                                      firmware_name(firmware_from_arch(has_arch ? arch : -1)), "uuid",
                                      json_text_or_null(st, 5), "vendor_class",
                                      (const char *) sqlite3_column_text(st, 6), "user_class",
                                      (const char *) sqlite3_column_text(st, 7), "ipxe",
                                      sqlite3_column_int(st, 8) != 0, "interface",
                                      (const char *) sqlite3_column_text(st, 9));
                if (!e || json_array_append_new(arr, e) < 0)
                        return -ENOMEM;
        }
        if (rc != SQLITE_DONE)
                return fail(s, rc, "read discovered");
        *ret = TAKE_PTR(arr);
        return 0;
}

int store_discovered_delete(Store *s, const char *mac) {
        int r = run(s, "DELETE FROM discovered WHERE mac = ?1", "t", mac);
        if (r < 0)
                return reclaim_if_full(s, r);
        return sqlite3_changes(s->db) > 0 ? 0 : -ENOENT;
}

static int discovered_prune_locked(Store *s, bool (*is_known)(void *userdata, const char *mac), void *userdata) {
        _cleanup_(stmt_donep) sqlite3_stmt *st = NULL;
        int deleted = 0;
        int r = prepare(s, "SELECT mac FROM discovered", &st);
        if (r < 0)
                return r;
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                const char *mac = (const char *) sqlite3_column_text(st, 0);
                if (!mac || !is_known(userdata, mac))
                        continue;
                /* Deleting the row the SELECT is on is safe in SQLite (sqlite.org/isolation.html). */
                r = run(s, "DELETE FROM discovered WHERE mac = ?1", "t", mac);
                if (r < 0)
                        return r;
                deleted++;
        }
        if (rc != SQLITE_DONE)
                return fail(s, rc, "read discovered");
        return deleted;
}

int store_discovered_prune(Store *s, bool (*is_known)(void *userdata, const char *mac), void *userdata) {
        /* Deferred: the transaction only becomes a write with the first DELETE, so a prune
         * with nothing to delete writes nothing (a start on a full filesystem)
         * (https://sqlite.org/lang_transaction.html#deferred_immediate_and_exclusive_transactions). */
        int r = write_begin(s, "BEGIN DEFERRED");
        if (r < 0)
                return r;
        int deleted = discovered_prune_locked(s, is_known, userdata);
        r = write_end(s, deleted);
        return r < 0 ? r : deleted;
}

int store_discovered_count(Store *s, int64_t *ret) {
        _cleanup_(stmt_donep) sqlite3_stmt *st = NULL;
        int r = prepare(s, "SELECT COUNT(*) FROM discovered", &st);
        if (r < 0)
                return r;
        int rc = sqlite3_step(st);
        if (rc != SQLITE_ROW)
                return fail(s, rc, "count discovered");
        *ret = sqlite3_column_int64(st, 0);
        return 0;
}
/* ---- end discovery ------------------------------------------------------------------------ */

/* ---- node credentials and reports ------------------------------------------------------- */

int store_credential_set(Store *s, const char *node, const uint8_t hash[static TOKEN_HASH_SIZE], int64_t at_ms,
                         int64_t attempt_id) {
        int r = write_begin(s, "BEGIN IMMEDIATE");
        if (r < 0)
                return r;
        r = run(s,
                "INSERT INTO node_credentials (node, hash, issued_at, attempt_id) VALUES (?1, ?2, ?3, NULLIF(?4, 0)) "
                "ON CONFLICT(node) DO UPDATE SET hash = ?2, issued_at = ?3, attempt_id = NULLIF(?4, 0)",
                "tbii", node, hash, at_ms, attempt_id);
        return write_end(s, r);
}

int store_credential_delete(Store *s, const char *node) {
        int r = write_begin(s, "BEGIN IMMEDIATE");
        if (r < 0)
                return r;
        r = run(s, "DELETE FROM node_credentials WHERE node = ?1", "t", node);
        bool deleted = r >= 0 && sqlite3_changes(s->db) > 0;
        r = write_end(s, r);
        if (r < 0)
                return r;
        return deleted ? 0 : -ENOENT;
}

int store_node_side_foreach(Store *s, StoreNodeSideFn fn, void *userdata) {
        _cleanup_(stmt_donep) sqlite3_stmt *st = NULL;
        int r = prepare(s,
                        "SELECT n.node, c.hash, r.running, r.booted, r.kernel, r.uptime_s, r.reported_at FROM "
                        "(SELECT node FROM node_credentials UNION SELECT node FROM node_reports) n "
                        "LEFT JOIN node_credentials c ON c.node = n.node LEFT JOIN node_reports r ON r.node = n.node",
                        &st);
        if (r < 0)
                return r;
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                StoreNodeSide side = { .node = (const char *) sqlite3_column_text(st, 0) };
                if (sqlite3_column_type(st, 1) == SQLITE_BLOB && sqlite3_column_bytes(st, 1) == TOKEN_HASH_SIZE)
                        side.credential_hash = sqlite3_column_blob(st, 1);
                if (sqlite3_column_type(st, 2) != SQLITE_NULL) {
                        side.report = (StoreReport) { .running = (const char *) sqlite3_column_text(st, 2),
                                                      .booted = (const char *) sqlite3_column_text(st, 3),
                                                      .kernel = (const char *) sqlite3_column_text(st, 4),
                                                      .uptime_s = sqlite3_column_double(st, 5) };
                        side.reported_ms = sqlite3_column_int64(st, 6);
                }
                r = fn(userdata, &side);
                if (r < 0)
                        return r;
        }
        if (rc != SQLITE_DONE)
                return fail(s, rc, "read node credentials and reports");
        return 0;
}
