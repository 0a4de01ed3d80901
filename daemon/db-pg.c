/* db-pg.c — db.h on PostgreSQL through libpq.  Each statement is prepared once per connection
 * (PQprepare(), a named statement; again after a reconnect), its ?N placeholders rewritten $N
 * outside quotes and comments.  Parameters are sent as text (blobs in binary format), untyped
 * (the server infers each type from its use); results are read in text format, bytea through
 * PQunescapeBytea() (libpq, "Command Execution Functions" and "Escaping Strings for Inclusion
 * in SQL Commands": https://www.postgresql.org/docs/15/libpq-exec.html).  SQLSTATE -> errno as
 * db.h says.  A connection found lost outside a transaction is re-established with PQreset()
 * before the next statement runs; one lost inside a transaction fails every statement of it
 * (-ECONNRESET) until the caller ends it (COMMIT, ROLLBACK, END or ABORT).  One thread at a
 * time per connection (db.h). */
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "db-backend.h"
#include "log.h"
#include "util.h"

#define DB_PG_STMT_SLOTS 256
/* The most ?N placeholders one statement of provd has room for. */
#define DB_PG_MAX_PARAMS 32
/* Bytea columns of one row read through db_column_blob() before the row changes. */
#define DB_PG_MAX_BLOBS 8

typedef struct PgStmt {
        DbStmt base;
        const char *sql;  /* the cache key: a string literal's address */
        char name[16];    /* the prepared statement's name on the connection */
        unsigned gen;     /* the connection generation it was prepared on; 0: not yet */
        int nparams;      /* the highest N of the SQL's ?N */
        const char *values[DB_PG_MAX_PARAMS];
        int lengths[DB_PG_MAX_PARAMS];
        int formats[DB_PG_MAX_PARAMS];
        char nums[DB_PG_MAX_PARAMS][32]; /* text of bound numbers */
        PGresult *res;    /* the run's rows, NULL before it runs */
        int row;          /* the current row of res */
        int error;        /* the run's errno, once it failed */
        bool ran;
        unsigned char *blobs[DB_PG_MAX_BLOBS]; /* PQunescapeBytea() buffers of the current row */
        size_t n_blobs;
} PgStmt;

typedef struct PgDb {
        Db base;
        PGconn *conn;
        unsigned gen;   /* bumped by every reconnect: statements prepared before are gone */
        bool in_tx;     /* in a transaction, as last known (a lost connection keeps the answer) */
        int64_t changes;
        struct {
                const char *sql;
                PgStmt *st;
        } stmts[DB_PG_STMT_SLOTS];
} PgDb;

static PgDb *pdb(Db *db) {
        assert(db->kind == DB_POSTGRESQL);
        return (PgDb *) db;
}

static PgStmt *pst(DbStmt *st) {
        return (PgStmt *) st;
}

/* The server's notices (and a FATAL message received while idle, e.g. at its shutdown) go to
 * the log instead of libpq's default, stderr. */
static void notice_processor(void *arg, const char *message) {
        (void) arg;
        size_t n = strlen(message);
        while (n > 0 && message[n - 1] == '\n')
                n--;
        log_debug("state store: PostgreSQL: %.*s", (int) n, message);
}

/* db.h's SQLSTATE table (https://www.postgresql.org/docs/15/errcodes-appendix.html). */
static int pg_errno(PGconn *conn, const PGresult *res) {
        if (PQstatus(conn) == CONNECTION_BAD)
                return -ECONNRESET;
        const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
        if (!state || strlen(state) != 5)
                return -EIO;
        if (startswith(state, "23"))
                return -EEXIST;
        if (streq(state, "40001"))
                return -EAGAIN;
        if (streq(state, "40P01"))
                return -EDEADLK;
        if (streq(state, "53100"))
                return -ENOSPC;
        if (streq(state, "53200"))
                return -ENOMEM;
        if (streq(state, "55P03"))
                return -EBUSY;
        if (streq(state, "57014"))
                return -ECANCELED;
        if (startswith(state, "28"))
                return -EACCES;
        if (streq(state, "25006"))
                return -EROFS;
        if (startswith(state, "08"))
                return -ECONNRESET;
        return -EIO;
}

static int pg_fail(PgDb *db, const PGresult *res, const char *sql) {
        char head[80];
        int r = pg_errno(db->conn, res);
        const char *msg = res ? PQresultErrorMessage(res) : "";
        if (!msg || !*msg)
                msg = PQerrorMessage(db->conn);
        size_t n = strlen(msg);
        while (n > 0 && msg[n - 1] == '\n')
                n--;
        db_sql_head(sql, head, sizeof head);
        return log_error_errno(r, "state store: %s: %.*s", head, (int) n, msg);
}

/* Whether sql ends a transaction: COMMIT, END, ROLLBACK or ABORT, but not ROLLBACK TO. */
static bool sql_ends_transaction(const char *sql) {
        while (isspace((unsigned char) *sql))
                sql++;
        if (strncasecmp(sql, "COMMIT", 6) == 0 || strncasecmp(sql, "END", 3) == 0 || strncasecmp(sql, "ABORT", 5) == 0)
                return true;
        if (strncasecmp(sql, "ROLLBACK", 8) != 0)
                return false;
        const char *p = sql + 8;
        while (isspace((unsigned char) *p))
                p++;
        return strncasecmp(p, "TO", 2) != 0;
}

/* Re-establishes a lost connection (PQreset()): statements are prepared again as they are next
 * used.  Returns 0 or -ECONNRESET (logged). */
static int pg_reset(PgDb *db) {
        PQreset(db->conn);
        if (PQstatus(db->conn) != CONNECTION_OK) {
                char msg[256];
                snprintf(msg, sizeof msg, "%s", PQerrorMessage(db->conn));
                msg[strcspn(msg, "\n")] = '\0';
                return log_error_errno(ECONNRESET, "state store: cannot reconnect to PostgreSQL: %s", msg);
        }
        db->gen++;
        db->in_tx = false;
        log_info("state store: reconnected to PostgreSQL");
        return 0;
}

/* Before a statement runs: a connection lost outside a transaction is re-established; one
 * lost inside a transaction fails the statement, and the transaction is over for us once the
 * statement was the one ending it.  Outside a transaction a closed socket is noticed before
 * the statement is sent (PQconsumeInput() reads what the server said meanwhile, a FATAL
 * message at its shutdown and the end of the stream). */
static int pg_before(PgDb *db, const char *sql) {
        if (PQstatus(db->conn) == CONNECTION_OK && !db->in_tx) {
                /* Whatever the server sent while we were idle, up to the end of the stream: a
                 * read that gets data does not look further, so ask while there is more. */
                for (int i = 0; i < 4; i++) {
                        struct pollfd p = { .fd = PQsocket(db->conn), .events = POLLIN };
                        if (p.fd < 0 || poll(&p, 1, 0) <= 0)
                                break;
                        if (!PQconsumeInput(db->conn))
                                break;
                }
        }
        if (PQstatus(db->conn) == CONNECTION_OK)
                return 0;
        if (db->in_tx) {
                if (sql_ends_transaction(sql))
                        db->in_tx = false;
                char head[80];
                db_sql_head(sql, head, sizeof head);
                return log_error_errno(ECONNRESET, "state store: %s: the connection to PostgreSQL was lost in the transaction",
                                       head);
        }
        return pg_reset(db);
}

/* After a statement ran: what the connection says about its transaction. */
static void pg_after(PgDb *db, const char *sql) {
        if (PQstatus(db->conn) == CONNECTION_OK) {
                PGTransactionStatusType t = PQtransactionStatus(db->conn);
                db->in_tx = t == PQTRANS_INTRANS || t == PQTRANS_INERROR || t == PQTRANS_ACTIVE;
        } else if (sql_ends_transaction(sql))
                db->in_tx = false;
}

int db_pg_open(const char *conninfo, Db **ret) {
        PGconn *conn = PQconnectdb(conninfo);
        if (!conn)
                return log_error_errno(ENOMEM, "state store: cannot connect to PostgreSQL: out of memory");
        if (PQstatus(conn) != CONNECTION_OK) {
                /* libpq's message names the host and the reason, never the password. */
                char msg[512];
                snprintf(msg, sizeof msg, "%s", PQerrorMessage(conn));
                msg[strcspn(msg, "\n")] = '\0';
                bool denied = PQconnectionNeedsPassword(conn) || PQconnectionUsedPassword(conn) ||
                              strstr(msg, "authentication") || strstr(msg, "password") ||
                              strstr(msg, "permission denied") || strstr(msg, "does not exist");
                PQfinish(conn);
                return log_error_errno(denied ? EACCES : ECONNREFUSED, "state store: cannot connect to PostgreSQL: %s",
                                       msg);
        }
        PQsetNoticeProcessor(conn, notice_processor, NULL);
        PgDb *db = calloc(1, sizeof *db);
        if (!db) {
                PQfinish(conn);
                return -ENOMEM;
        }
        db->base.kind = DB_POSTGRESQL;
        db->conn = conn;
        db->gen = 1;
        *ret = &db->base;
        return 0;
}

static void stmt_clear_blobs(PgStmt *st) {
        for (size_t i = 0; i < st->n_blobs; i++)
                PQfreemem(st->blobs[i]);
        st->n_blobs = 0;
}

void db_pg_close(Db *d) {
        PgDb *db = pdb(d);
        for (size_t i = 0; i < ELEMENTSOF(db->stmts); i++) {
                PgStmt *st = db->stmts[i].st;
                if (!st)
                        continue;
                stmt_clear_blobs(st);
                PQclear(st->res);
                free(st);
        }
        PQfinish(db->conn);
        free(db);
}

void *db_pg_handle(Db *d) {
        return pdb(d)->conn;
}

int db_pg_exec(Db *d, const char *sql) {
        PgDb *db = pdb(d);
        int r = pg_before(db, sql);
        if (r < 0)
                return r;
        PGresult *res = PQexec(db->conn, sql);
        ExecStatusType t = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
        r = 0;
        if (t != PGRES_COMMAND_OK && t != PGRES_TUPLES_OK)
                r = pg_fail(db, res, sql);
        else
                db->changes = strtoll(PQcmdTuples(res), NULL, 10);
        PQclear(res);
        pg_after(db, sql);
        return r;
}

/* sql with each ?N outside quotes and comments written $N, into a new string; the highest N
 * into *ret_max. */
static char *pg_rewrite(const char *sql, int *ret_max) {
        char *out = strdup(sql);
        if (!out)
                return NULL;
        int max = 0;
        char quote = 0;
        for (char *p = out; *p; p++) {
                if (quote) {
                        if (*p == quote)
                                quote = 0;
                        continue;
                }
                if (*p == '\'' || *p == '"') {
                        quote = *p;
                } else if (p[0] == '-' && p[1] == '-') {
                        p += strcspn(p, "\n");
                        if (!*p)
                                break;
                } else if (*p == '?' && isdigit((unsigned char) p[1])) {
                        *p = '$';
                        int n = (int) strtol(p + 1, NULL, 10);
                        if (n > max)
                                max = n;
                }
        }
        *ret_max = max;
        return out;
}

/* Prepares st on the connection if it is not prepared there yet (a new statement, or one
 * prepared before a reconnect). */
static int pg_prepare_on_server(PgDb *db, PgStmt *st) {
        if (st->gen == db->gen)
                return 0;
        int max;
        _cleanup_free_ char *text = pg_rewrite(st->sql, &max);
        if (!text)
                return -ENOMEM;
        if (max > DB_PG_MAX_PARAMS) {
                char head[80];
                db_sql_head(st->sql, head, sizeof head);
                return log_error_errno(E2BIG, "state store: %s: more than %d parameters", head, DB_PG_MAX_PARAMS);
        }
        PGresult *res = PQprepare(db->conn, st->name, text, max, NULL);
        int r = 0;
        if (!res || PQresultStatus(res) != PGRES_COMMAND_OK)
                r = pg_fail(db, res, st->sql);
        PQclear(res);
        if (r < 0)
                return r;
        st->nparams = max;
        st->gen = db->gen;
        return 0;
}

int db_pg_prepare(Db *d, const char *sql, DbStmt **ret) {
        PgDb *db = pdb(d);
        size_t i = ((uintptr_t) sql >> 3) % DB_PG_STMT_SLOTS;
        for (size_t probe = 0; probe < DB_PG_STMT_SLOTS; probe++, i = (i + 1) % DB_PG_STMT_SLOTS) {
                if (db->stmts[i].sql == sql) {
                        *ret = &db->stmts[i].st->base;
                        return 0;
                }
                if (db->stmts[i].sql)
                        continue;
                PgStmt *st = calloc(1, sizeof *st);
                if (!st)
                        return -ENOMEM;
                st->base.db = d;
                st->sql = sql;
                st->row = -1;
                snprintf(st->name, sizeof st->name, "provd_%zu", i);
                db->stmts[i].sql = sql;
                db->stmts[i].st = st;
                /* Prepared on the server at its first run (db_step()), where a lost
                 * connection is handled. */
                *ret = &st->base;
                return 0;
        }
        assert(!"db statement cache full");
        return -ENOSPC;
}

static void pg_bind(PgStmt *st, int i, const char *v, int len, int format) {
        assert(i >= 1 && i <= DB_PG_MAX_PARAMS);
        st->values[i - 1] = v;
        st->lengths[i - 1] = len;
        st->formats[i - 1] = format;
}

void db_pg_bind_int64(DbStmt *s, int i, int64_t v) {
        PgStmt *st = pst(s);
        assert(i >= 1 && i <= DB_PG_MAX_PARAMS);
        snprintf(st->nums[i - 1], sizeof st->nums[i - 1], "%" PRId64, v);
        pg_bind(st, i, st->nums[i - 1], 0, 0);
}

void db_pg_bind_double(DbStmt *s, int i, double v) {
        PgStmt *st = pst(s);
        assert(i >= 1 && i <= DB_PG_MAX_PARAMS);
        snprintf(st->nums[i - 1], sizeof st->nums[i - 1], "%.17g", v);
        pg_bind(st, i, st->nums[i - 1], 0, 0);
}

void db_pg_bind_text(DbStmt *s, int i, const char *v) {
        pg_bind(pst(s), i, v, 0, 0);
}

void db_pg_bind_blob(DbStmt *s, int i, const void *v, size_t n) {
        /* Binary format: the bytes as they are, no escaping (libpq, PQexecParams()). */
        pg_bind(pst(s), i, v, (int) n, v ? 1 : 0);
}

void db_pg_bind_null(DbStmt *s, int i) {
        pg_bind(pst(s), i, NULL, 0, 0);
}

/* Runs st: every row arrives at once, in text format. */
static int pg_run(PgStmt *st) {
        PgDb *db = pdb(st->base.db);
        int r = pg_before(db, st->sql);
        if (r < 0)
                return r;
        r = pg_prepare_on_server(db, st);
        if (r < 0) {
                pg_after(db, st->sql);
                return r;
        }
        PGresult *res = PQexecPrepared(db->conn, st->name, st->nparams, st->values, st->lengths, st->formats, 0);
        ExecStatusType t = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
        if (t != PGRES_COMMAND_OK && t != PGRES_TUPLES_OK) {
                r = pg_fail(db, res, st->sql);
                PQclear(res);
                pg_after(db, st->sql);
                return r;
        }
        db->changes = strtoll(PQcmdTuples(res), NULL, 10);
        st->res = res;
        st->row = -1;
        pg_after(db, st->sql);
        return 0;
}

int db_pg_step(DbStmt *s) {
        PgStmt *st = pst(s);
        if (!st->ran) {
                st->ran = true;
                st->error = pg_run(st);
        }
        if (st->error < 0)
                return st->error;
        stmt_clear_blobs(st);
        if (!st->res || st->row + 1 >= PQntuples(st->res))
                return 0;
        st->row++;
        return 1;
}

static const char *pg_value(PgStmt *st, int col) {
        if (!st->res || st->row < 0 || col >= PQnfields(st->res) || PQgetisnull(st->res, st->row, col))
                return NULL;
        return PQgetvalue(st->res, st->row, col);
}

bool db_pg_column_null(DbStmt *s, int col) {
        return !pg_value(pst(s), col);
}

int64_t db_pg_column_int64(DbStmt *s, int col) {
        const char *v = pg_value(pst(s), col);
        if (!v)
                return 0;
        /* A boolean column reads as 1 or 0. */
        if (streq(v, "t"))
                return 1;
        if (streq(v, "f"))
                return 0;
        return strtoll(v, NULL, 10);
}

double db_pg_column_double(DbStmt *s, int col) {
        const char *v = pg_value(pst(s), col);
        return v ? strtod(v, NULL) : 0.0;
}

const char *db_pg_column_text(DbStmt *s, int col) {
        return pg_value(pst(s), col);
}

const void *db_pg_column_blob(DbStmt *s, int col, size_t *ret_len) {
        PgStmt *st = pst(s);
        const char *v = pg_value(st, col);
        *ret_len = 0;
        if (!v || st->n_blobs >= DB_PG_MAX_BLOBS)
                return NULL;
        size_t n = 0;
        unsigned char *b = PQunescapeBytea((const unsigned char *) v, &n);
        if (!b)
                return NULL;
        st->blobs[st->n_blobs++] = b;
        *ret_len = n;
        return b;
}

void db_pg_done(DbStmt *s) {
        PgStmt *st = pst(s);
        stmt_clear_blobs(st);
        PQclear(st->res);
        st->res = NULL;
        st->row = -1;
        st->ran = false;
        st->error = 0;
        memset(st->values, 0, sizeof st->values);
        memset(st->lengths, 0, sizeof st->lengths);
        memset(st->formats, 0, sizeof st->formats);
}

int64_t db_pg_changes(Db *d) {
        return pdb(d)->changes;
}

bool db_pg_in_transaction(Db *d) {
        PgDb *db = pdb(d);
        if (PQstatus(db->conn) != CONNECTION_OK)
                return db->in_tx;
        PGTransactionStatusType t = PQtransactionStatus(db->conn);
        return t == PQTRANS_INTRANS || t == PQTRANS_INERROR || t == PQTRANS_ACTIVE;
}

bool db_pg_transaction_failed(Db *d) {
        PgDb *db = pdb(d);
        return PQstatus(db->conn) == CONNECTION_OK && PQtransactionStatus(db->conn) == PQTRANS_INERROR;
}

const char *db_pg_errmsg(Db *d) {
        return PQerrorMessage(pdb(d)->conn);
}
