/* db-sqlite.c — db.h on SQLite: thin wrappers over the sqlite3 API, with a statement cache per
 * connection (SQLITE_PREPARE_PERSISTENT, open addressing on the address of the SQL text).
 * See db.h for the contract; one thread at a time per connection (SQLITE_OPEN_NOMUTEX). */
#include <assert.h>
#include <errno.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "db-backend.h"
#include "log.h"
#include "util.h"

/* Slots of a connection's statement cache: more than the distinct statements the store runs,
 * so that probing stays short. */
#define DB_SQLITE_STMT_SLOTS 256

typedef struct SqliteStmt {
        DbStmt base;
        const char *sql; /* the key: a string literal's address; NULL: a free slot */
        sqlite3_stmt *st;
} SqliteStmt;

typedef struct SqliteDb {
        Db base;
        sqlite3 *db;
        SqliteStmt stmts[DB_SQLITE_STMT_SLOTS];
} SqliteDb;

static SqliteDb *sdb(Db *db) {
        assert(db->kind == DB_SQLITE);
        return (SqliteDb *) db;
}

static SqliteStmt *sst(DbStmt *st) {
        return (SqliteStmt *) st;
}

/* The one place SQLite result codes become errno values (db.h's table).  An I/O error whose
 * system call failed for space (SQLite says SQLITE_FULL only for some of them: growing the
 * -shm file is SQLITE_IOERR_SHMSIZE) is -ENOSPC too (https://sqlite.org/c3ref/system_errno.html). */
static int sqlite_errno(sqlite3 *db, int rc) {
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
        case SQLITE_IOERR:
                if (db) {
                        int e = sqlite3_system_errno(db);
                        if (e == ENOSPC || e == EDQUOT)
                                return -ENOSPC;
                }
                return -EIO;
        default:
                return -EIO;
        }
}

/* Translates rc and logs the SQL's first words with SQLite's message. */
static int sqlite_fail(sqlite3 *db, int rc, const char *sql) {
        char head[80];
        int r = sqlite_errno(db, rc);
        if (r == 0)
                r = -EIO;
        db_sql_head(sql, head, sizeof head);
        return log_error_errno(r, "state store: %s: %s", head, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
}

int db_sqlite_open(const char *path, int flags, Db **ret) {
        sqlite3 *h = NULL;
        int oflags = (flags & DB_READONLY) ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
        /* NOMUTEX: one thread at a time uses a connection (db.h), so SQLite's own
         * per-connection mutex would only cost (https://sqlite.org/threadsafe.html). */
        int rc = sqlite3_open_v2(path, &h, oflags | SQLITE_OPEN_NOMUTEX, NULL);
        if (rc != SQLITE_OK) {
                int r = sqlite_errno(h, rc);
                log_error_errno(r < 0 ? r : -EIO, "state store: cannot open %s: %s", path,
                                h ? sqlite3_errmsg(h) : sqlite3_errstr(rc));
                sqlite3_close_v2(h);
                return r < 0 ? r : -EIO;
        }
        sqlite3_extended_result_codes(h, 1);
        SqliteDb *db = calloc(1, sizeof *db);
        if (!db) {
                sqlite3_close_v2(h);
                return -ENOMEM;
        }
        db->base.kind = DB_SQLITE;
        db->db = h;
        for (size_t i = 0; i < ELEMENTSOF(db->stmts); i++)
                db->stmts[i].base.db = &db->base;
        *ret = &db->base;
        return 0;
}

void db_sqlite_close(Db *d) {
        SqliteDb *db = sdb(d);
        for (size_t i = 0; i < ELEMENTSOF(db->stmts); i++)
                sqlite3_finalize(db->stmts[i].st);
        sqlite3_close_v2(db->db);
        free(db);
}

void *db_sqlite_handle(Db *d) {
        return sdb(d)->db;
}

int db_sqlite_exec(Db *d, const char *sql) {
        SqliteDb *db = sdb(d);
        char *err = NULL, head[64];
        int rc = sqlite3_exec(db->db, sql, NULL, NULL, &err);
        if (rc == SQLITE_OK)
                return 0;
        int r = sqlite_errno(db->db, rc);
        db_sql_head(sql, head, sizeof head);
        log_error("state store: %s: %s", head, err ? err : sqlite3_errstr(rc));
        sqlite3_free(err);
        return r < 0 ? r : -EIO;
}

/* The statement of `sql`, compiled on its first use and kept until the connection closes
 * (SQLITE_PREPARE_PERSISTENT: https://sqlite.org/c3ref/prepare.html), so that a transition
 * costs no parsing.  A schema change recompiles it by itself at its next step
 * (https://sqlite.org/c3ref/prepare.html, "sqlite3_prepare_v2"). */
int db_sqlite_prepare(Db *d, const char *sql, DbStmt **ret) {
        SqliteDb *db = sdb(d);
        size_t i = ((uintptr_t) sql >> 3) % DB_SQLITE_STMT_SLOTS;
        for (size_t probe = 0; probe < DB_SQLITE_STMT_SLOTS; probe++, i = (i + 1) % DB_SQLITE_STMT_SLOTS) {
                SqliteStmt *s = &db->stmts[i];
                if (s->sql == sql) {
                        *ret = &s->base;
                        return 0;
                }
                if (s->sql)
                        continue;
                sqlite3_stmt *st;
                int rc = sqlite3_prepare_v3(db->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
                if (rc != SQLITE_OK)
                        return sqlite_fail(db->db, rc, sql);
                s->sql = sql;
                s->st = st;
                *ret = &s->base;
                return 0;
        }
        /* More distinct statements than slots: a programming error. */
        assert(!"db statement cache full");
        return -ENOSPC;
}

void db_sqlite_bind_int64(DbStmt *st, int i, int64_t v) {
        sqlite3_bind_int64(sst(st)->st, i, v);
}

void db_sqlite_bind_double(DbStmt *st, int i, double v) {
        sqlite3_bind_double(sst(st)->st, i, v);
}

void db_sqlite_bind_text(DbStmt *st, int i, const char *v) {
        if (v)
                sqlite3_bind_text(sst(st)->st, i, v, -1, SQLITE_STATIC);
        else
                sqlite3_bind_null(sst(st)->st, i);
}

void db_sqlite_bind_blob(DbStmt *st, int i, const void *v, size_t n) {
        if (v)
                sqlite3_bind_blob64(sst(st)->st, i, v, n, SQLITE_STATIC);
        else
                sqlite3_bind_null(sst(st)->st, i);
}

void db_sqlite_bind_null(DbStmt *st, int i) {
        sqlite3_bind_null(sst(st)->st, i);
}

int db_sqlite_step(DbStmt *st) {
        SqliteStmt *s = sst(st);
        int rc = sqlite3_step(s->st);
        if (rc == SQLITE_ROW)
                return 1;
        if (rc == SQLITE_DONE)
                return 0;
        return sqlite_fail(sqlite3_db_handle(s->st), rc, s->sql);
}

bool db_sqlite_column_null(DbStmt *st, int col) {
        return sqlite3_column_type(sst(st)->st, col) == SQLITE_NULL;
}

int64_t db_sqlite_column_int64(DbStmt *st, int col) {
        return sqlite3_column_int64(sst(st)->st, col);
}

double db_sqlite_column_double(DbStmt *st, int col) {
        return sqlite3_column_double(sst(st)->st, col);
}

const char *db_sqlite_column_text(DbStmt *st, int col) {
        return (const char *) sqlite3_column_text(sst(st)->st, col);
}

const void *db_sqlite_column_blob(DbStmt *st, int col, size_t *ret_len) {
        sqlite3_stmt *s = sst(st)->st;
        const void *p = sqlite3_column_blob(s, col);
        *ret_len = p ? (size_t) sqlite3_column_bytes(s, col) : 0;
        return p;
}

void db_sqlite_done(DbStmt *st) {
        sqlite3_stmt *s = sst(st)->st;
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
}

int64_t db_sqlite_changes(Db *d) {
        return sqlite3_changes(sdb(d)->db);
}

bool db_sqlite_in_transaction(Db *d) {
        return !sqlite3_get_autocommit(sdb(d)->db);
}

const char *db_sqlite_errmsg(Db *d) {
        return sqlite3_errmsg(sdb(d)->db);
}
