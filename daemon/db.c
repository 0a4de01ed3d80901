/* db.c — db.h's functions: each routes the call to its connection's backend (db-sqlite.c or
 * db-pg.c) by the connection's kind.  See db.h. */
#include "db.h"

#include <ctype.h>
#include <string.h>

#include "db-backend.h"

#define DISPATCH(db, name, ...) ((db)->kind == DB_SQLITE ? db_sqlite_##name(__VA_ARGS__) : db_pg_##name(__VA_ARGS__))

void db_sql_head(const char *sql, char *buf, size_t n) {
        size_t k = 0;
        bool space = false;
        if (n == 0)
                return;
        for (const char *p = sql; *p && k + 1 < n; p++) {
                if (isspace((unsigned char) *p)) {
                        space = k > 0;
                        continue;
                }
                if (space && k + 2 < n)
                        buf[k++] = ' ';
                space = false;
                buf[k++] = *p;
        }
        buf[k] = '\0';
}

int db_open_sqlite(const char *path, int flags, Db **ret) {
        return db_sqlite_open(path, flags, ret);
}

int db_open_postgresql(const char *conninfo, Db **ret) {
        return db_pg_open(conninfo, ret);
}

void db_close(Db *db) {
        if (!db)
                return;
        if (db->kind == DB_SQLITE)
                db_sqlite_close(db);
        else
                db_pg_close(db);
}

DbKind db_kind(const Db *db) {
        return db->kind;
}

void *db_handle(Db *db) {
        return DISPATCH(db, handle, db);
}

int db_exec(Db *db, const char *sql) {
        return DISPATCH(db, exec, db, sql);
}

int db_prepare(Db *db, const char *sql, DbStmt **ret) {
        return DISPATCH(db, prepare, db, sql, ret);
}

void db_bind_int64(DbStmt *st, int i, int64_t v) {
        if (st->db->kind == DB_SQLITE)
                db_sqlite_bind_int64(st, i, v);
        else
                db_pg_bind_int64(st, i, v);
}

void db_bind_double(DbStmt *st, int i, double v) {
        if (st->db->kind == DB_SQLITE)
                db_sqlite_bind_double(st, i, v);
        else
                db_pg_bind_double(st, i, v);
}

void db_bind_text(DbStmt *st, int i, const char *v) {
        if (st->db->kind == DB_SQLITE)
                db_sqlite_bind_text(st, i, v);
        else
                db_pg_bind_text(st, i, v);
}

void db_bind_blob(DbStmt *st, int i, const void *v, size_t n) {
        if (st->db->kind == DB_SQLITE)
                db_sqlite_bind_blob(st, i, v, n);
        else
                db_pg_bind_blob(st, i, v, n);
}

void db_bind_null(DbStmt *st, int i) {
        if (st->db->kind == DB_SQLITE)
                db_sqlite_bind_null(st, i);
        else
                db_pg_bind_null(st, i);
}

int db_step(DbStmt *st) {
        return DISPATCH(st->db, step, st);
}

bool db_column_null(DbStmt *st, int col) {
        return DISPATCH(st->db, column_null, st, col);
}

int64_t db_column_int64(DbStmt *st, int col) {
        return DISPATCH(st->db, column_int64, st, col);
}

double db_column_double(DbStmt *st, int col) {
        return DISPATCH(st->db, column_double, st, col);
}

const char *db_column_text(DbStmt *st, int col) {
        return DISPATCH(st->db, column_text, st, col);
}

const void *db_column_blob(DbStmt *st, int col, size_t *ret_len) {
        return DISPATCH(st->db, column_blob, st, col, ret_len);
}

void db_done(DbStmt *st) {
        if (!st)
                return;
        if (st->db->kind == DB_SQLITE)
                db_sqlite_done(st);
        else
                db_pg_done(st);
}

int64_t db_changes(Db *db) {
        return DISPATCH(db, changes, db);
}

bool db_in_transaction(Db *db) {
        return DISPATCH(db, in_transaction, db);
}

bool db_transaction_failed(Db *db) {
        return db->kind == DB_POSTGRESQL && db_pg_transaction_failed(db);
}

const char *db_errmsg(Db *db) {
        return DISPATCH(db, errmsg, db);
}
