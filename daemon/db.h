/* db.h — one SQL connection to provd's state database, SQLite or PostgreSQL, behind one small
 * interface, so that store.c's schema, migrations and statements are written once for both.
 *
 * SQL text is written in what both dialects accept: ?N placeholders (1-based; rewritten $N for
 * PostgreSQL when prepared), INSERT ... ON CONFLICT (...) DO UPDATE, RETURNING, SAVEPOINT /
 * RELEASE / ROLLBACK TO, COALESCE, NULLIF.  Where the dialects differ (DDL types, BEGIN
 * IMMEDIATE, row locks, PRAGMAs) the caller picks the text by db_kind().
 *
 * Values: integers (int64), doubles, text (UTF-8, NUL-terminated) and blobs.  PostgreSQL
 * parameters are sent untyped (the server infers each from its use, so a parameter whose type
 * it cannot infer needs a CAST in the SQL) and results are read in text format; blobs are
 * bytea, read back through PQunescapeBytea().
 *
 * Errors: every function returning int returns >= 0 or a negative errno, and logs the SQL's
 * first words and the database's message.  SQLite: SQLITE_FULL (or an I/O error whose system
 * call said ENOSPC/EDQUOT) -> -ENOSPC, BUSY/LOCKED -> -EBUSY, CONSTRAINT -> -EEXIST, NOMEM ->
 * -ENOMEM, READONLY -> -EROFS, PERM/AUTH/CANTOPEN -> -EACCES, CORRUPT/NOTADB -> -EBADMSG, else
 * -EIO.  PostgreSQL, by SQLSTATE (https://www.postgresql.org/docs/15/errcodes-appendix.html):
 * 23xxx integrity constraint -> -EEXIST, 40001 serialization failure -> -EAGAIN, 40P01
 * deadlock -> -EDEADLK, 53100 disk full -> -ENOSPC, 53200 out of memory -> -ENOMEM, 55P03 lock
 * not available -> -EBUSY, 57014 query canceled -> -ECANCELED, 28xxx authorization -> -EACCES,
 * 25006 read-only transaction -> -EROFS, a lost connection (class 08, or PQstatus() bad) ->
 * -ECONNRESET, else -EIO.  A PostgreSQL connection lost outside a transaction is re-established
 * (PQreset()) before the next statement; one lost inside a transaction fails that
 * transaction's statements until it ends.
 *
 * The backends: db-sqlite.c (a statement cache per connection, SQLITE_PREPARE_PERSISTENT) and
 * db-pg.c (libpq, each statement PQprepare()d once per connection); db.c routes each call to
 * its connection's backend.
 *
 * Threads: a Db and its statements are used by one thread at a time; the caller serialises.
 * Nothing here takes a lock of its own. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum DbKind {
        DB_SQLITE,
        DB_POSTGRESQL,
} DbKind;

typedef struct Db Db;
typedef struct DbStmt DbStmt;

/* Flags of db_open_sqlite(). */
enum {
        DB_READONLY = 1 << 0, /* SQLITE_OPEN_READONLY: a read connection */
};

/* Opens (creating unless DB_READONLY) the SQLite database file `path`.  Sets nothing else:
 * PRAGMAs are the caller's (db_exec()).  Returns 0 and *ret (caller owns; db_close()), or a
 * negative errno. */
int db_open_sqlite(const char *path, int flags, Db **ret);

/* Connects to PostgreSQL.  `conninfo`: a postgresql:// URI or a key=value string (libpq,
 * "Connection Strings": https://www.postgresql.org/docs/15/libpq-connect.html#LIBPQ-CONNSTRING).
 * Returns 0 and *ret (caller owns; db_close()), or a negative errno (-ECONNREFUSED when the
 * server cannot be reached, -EACCES when it refused the login); the reason is logged, without
 * the password. */
int db_open_postgresql(const char *conninfo, Db **ret);

/* Finalizes every cached statement and closes the connection.  NULL is a no-op. */
void db_close(Db *db);

DbKind db_kind(const Db *db);

/* The underlying handle, for what only one backend has (SQLite's PRAGMAs, checkpoints and
 * commit hook; PostgreSQL's LISTEN socket): a `sqlite3 *` or a `PGconn *`, borrowed. */
void *db_handle(Db *db);

/* Runs `sql`: one or more statements separated by ';', without parameters, their rows (if
 * any) discarded.  For DDL, BEGIN/COMMIT and the like. */
int db_exec(Db *db, const char *sql);

/* The prepared statement of `sql` on db, compiled on its first use and kept until db closes:
 * `sql` must have static storage (a string literal), its address is the cache key.  *ret is
 * borrowed, with no bindings; bind, step, and give it back with db_done() before it is
 * prepared again. */
int db_prepare(Db *db, const char *sql, DbStmt **ret);

/* Bind parameter ?i (1-based).  Text and blob values are borrowed until db_done(); a NULL
 * text or blob binds SQL NULL. */
void db_bind_int64(DbStmt *st, int i, int64_t v);
void db_bind_double(DbStmt *st, int i, double v);
void db_bind_text(DbStmt *st, int i, const char *v);
void db_bind_blob(DbStmt *st, int i, const void *v, size_t n);
void db_bind_null(DbStmt *st, int i);

/* Runs the statement (on its first call after binding) and moves to its next row.  Returns
 * 1 when a row is there to read, 0 when there are no more rows, or a negative errno. */
int db_step(DbStmt *st);

/* The current row's column col (0-based).  Text and blobs are borrowed until the next
 * db_step() or db_done(); SQL NULL reads as 0, NULL, or a NULL blob of length 0. */
bool db_column_null(DbStmt *st, int col);
int64_t db_column_int64(DbStmt *st, int col);
double db_column_double(DbStmt *st, int col);
const char *db_column_text(DbStmt *st, int col);
const void *db_column_blob(DbStmt *st, int col, size_t *ret_len);

/* Ends the statement's run (rows not read are dropped) and clears its bindings.  NULL is a
 * no-op.  For _cleanup_(db_donep). */
void db_done(DbStmt *st);
static inline void db_donep(DbStmt **st) {
        db_done(*st);
}

/* Rows the last INSERT, UPDATE or DELETE run on db changed. */
int64_t db_changes(Db *db);

/* Whether db is inside a transaction (SQLite: not in autocommit mode; PostgreSQL:
 * PQtransactionStatus() is in a transaction, failed or not). */
bool db_in_transaction(Db *db);

/* Whether db's transaction is in a failed state that only a ROLLBACK (TO SAVEPOINT) ends
 * (PostgreSQL's PQTRANS_INERROR; never on SQLite, which rolls back by itself instead). */
bool db_transaction_failed(Db *db);

/* The database's last error message, borrowed until the next call on db. */
const char *db_errmsg(Db *db);

static inline void db_closep(Db **db) {
        db_close(*db);
}
