/* db-backend.h — what db.c's dispatch and the two backends (db-sqlite.c, db-pg.c) share; not
 * for db.h's users.  A Db and a DbStmt begin with these headers, so db.c routes each call of
 * db.h to the backend by db->kind.  No state, no I/O. */
#pragma once

#include "db.h"

struct Db {
        DbKind kind;
};

struct DbStmt {
        Db *db; /* borrowed: the connection the statement belongs to */
};

/* The first `n` bytes of sql with runs of white space folded, for log messages: the SQL's
 * first words, never its parameters. */
void db_sql_head(const char *sql, char *buf, size_t n);

int db_sqlite_open(const char *path, int flags, Db **ret);
void db_sqlite_close(Db *db);
void *db_sqlite_handle(Db *db);
int db_sqlite_exec(Db *db, const char *sql);
int db_sqlite_prepare(Db *db, const char *sql, DbStmt **ret);
void db_sqlite_bind_int64(DbStmt *st, int i, int64_t v);
void db_sqlite_bind_double(DbStmt *st, int i, double v);
void db_sqlite_bind_text(DbStmt *st, int i, const char *v);
void db_sqlite_bind_blob(DbStmt *st, int i, const void *v, size_t n);
void db_sqlite_bind_null(DbStmt *st, int i);
int db_sqlite_step(DbStmt *st);
bool db_sqlite_column_null(DbStmt *st, int col);
int64_t db_sqlite_column_int64(DbStmt *st, int col);
double db_sqlite_column_double(DbStmt *st, int col);
const char *db_sqlite_column_text(DbStmt *st, int col);
const void *db_sqlite_column_blob(DbStmt *st, int col, size_t *ret_len);
void db_sqlite_done(DbStmt *st);
int64_t db_sqlite_changes(Db *db);
bool db_sqlite_in_transaction(Db *db);
const char *db_sqlite_errmsg(Db *db);

int db_pg_open(const char *conninfo, Db **ret);
void db_pg_close(Db *db);
void *db_pg_handle(Db *db);
int db_pg_exec(Db *db, const char *sql);
int db_pg_prepare(Db *db, const char *sql, DbStmt **ret);
void db_pg_bind_int64(DbStmt *st, int i, int64_t v);
void db_pg_bind_double(DbStmt *st, int i, double v);
void db_pg_bind_text(DbStmt *st, int i, const char *v);
void db_pg_bind_blob(DbStmt *st, int i, const void *v, size_t n);
void db_pg_bind_null(DbStmt *st, int i);
int db_pg_step(DbStmt *st);
bool db_pg_column_null(DbStmt *st, int col);
int64_t db_pg_column_int64(DbStmt *st, int col);
double db_pg_column_double(DbStmt *st, int col);
const char *db_pg_column_text(DbStmt *st, int col);
const void *db_pg_column_blob(DbStmt *st, int col, size_t *ret_len);
void db_pg_done(DbStmt *st);
int64_t db_pg_changes(Db *db);
bool db_pg_in_transaction(Db *db);
bool db_pg_transaction_failed(Db *db);
const char *db_pg_errmsg(Db *db);
