/* store-import.c — see store-import.h. */
#include "store-import.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "db.h"
#include "store-internal.h"
#include "util.h"

/* One table: its columns in copy order and their types (i int64, d double, t text, b blob),
 * in an order where every REFERENCES names a table copied before. */
typedef struct ImportTable {
        const char *name;
        const char *select; /* SELECT <columns> FROM <name> ORDER BY <key> */
        const char *insert; /* INSERT INTO <name> (<columns>) VALUES (?1, ...) */
        const char *types;
        size_t offset; /* of its count in StoreImportCounts */
} ImportTable;

#define TABLE(n, cols, order, params, t, field)                                                                        \
        { n, "SELECT " cols " FROM " n " ORDER BY " order, "INSERT INTO " n " (" cols ") VALUES (" params ")", t,      \
          offsetof(StoreImportCounts, field) }

static const ImportTable tables[] = {
        TABLE("attempts", "id, node, seq, token_hash, phase, message, opened_at, ended_at, outcome, firmware, token_box",
              "id", "?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11", "itibttiittb", attempts),
        TABLE("boots",
              "id, node, seq, token_hash, started_at, ended_at, outcome, message, mac, firmware, image, overlay_etag, token_box",
              "id", "?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13", "itibiittttttb", boots),
        TABLE("nodes", "name, state, state_since, attempt_id, created_at, boot_id, version", "name",
              "?1, ?2, ?3, ?4, ?5, ?6, ?7", "ttiiiii", nodes),
        TABLE("history", "id, node, at, from_state, to_state, cause, message, attempt_id, console", "id",
              "?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9", "itittttit", history),
        TABLE("node_credentials", "node, hash, issued_at, attempt_id", "node", "?1, ?2, ?3, ?4", "tbii", credentials),
        TABLE("node_reports", "node, running, booted, kernel, uptime_s, reported_at", "node", "?1, ?2, ?3, ?4, ?5, ?6",
              "ttttdi", reports),
        TABLE("discovered",
              "mac, first_seen_ms, last_seen_ms, count, arch, uuid, vendor_class, user_class, interface, ipxe", "mac",
              "?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10", "tiiiitttti", discovered),
};

/* PostgreSQL's identity sequences, moved past the copied ids so new rows do not collide. */
static const char *const pg_sequences[] = {
        "SELECT setval(pg_get_serial_sequence('attempts', 'id'), COALESCE((SELECT MAX(id) FROM attempts), 0) + 1, false)",
        "SELECT setval(pg_get_serial_sequence('boots', 'id'), COALESCE((SELECT MAX(id) FROM boots), 0) + 1, false)",
        "SELECT setval(pg_get_serial_sequence('history', 'id'), COALESCE((SELECT MAX(id) FROM history), 0) + 1, false)",
};

/* Binds column i of the source row to parameter i + 1 of the insert, by type. */
static void bind_column(DbStmt *from, DbStmt *to, int i, char type) {
        if (db_column_null(from, i)) {
                db_bind_null(to, i + 1);
                return;
        }
        switch (type) {
        case 'i':
                db_bind_int64(to, i + 1, db_column_int64(from, i));
                break;
        case 'd':
                db_bind_double(to, i + 1, db_column_double(from, i));
                break;
        case 'b': {
                size_t n;
                const void *p = db_column_blob(from, i, &n);
                db_bind_blob(to, i + 1, p, n);
                break;
        }
        default:
                db_bind_text(to, i + 1, db_column_text(from, i));
        }
}

/* Copies one table's rows; returns how many, or a negative errno. */
static int64_t copy_table(Db *dst, Db *src, const ImportTable *t) {
        _cleanup_(db_donep) DbStmt *from = NULL;
        int64_t n = 0;
        int r = db_prepare(src, t->select, &from);
        if (r < 0)
                return r;
        while ((r = db_step(from)) > 0) {
                _cleanup_(db_donep) DbStmt *to = NULL;
                r = db_prepare(dst, t->insert, &to);
                if (r < 0)
                        return r;
                for (int i = 0; t->types[i]; i++)
                        bind_column(from, to, i, t->types[i]);
                r = db_step(to);
                if (r < 0)
                        return r;
                n++;
        }
        return r < 0 ? r : n;
}

/* How many rows `sql` (a count) says. */
static int count(Db *db, const char *sql, int64_t *ret) {
        _cleanup_(db_donep) DbStmt *st = NULL;
        int r = db_prepare(db, sql, &st);
        if (r < 0)
                return r;
        r = db_step(st);
        if (r < 0)
                return r;
        *ret = r > 0 ? db_column_int64(st, 0) : 0;
        return 0;
}

static int import_locked(Db *dst, Db *src, StoreImportCounts *c, char *err, size_t errlen) {
        int64_t nodes = 0, history = 0;
        int r = count(dst, "SELECT COUNT(*) FROM nodes", &nodes);
        if (r >= 0)
                r = count(dst, "SELECT COUNT(*) FROM history", &history);
        if (r < 0)
                return errbuf_fail(r, err, errlen, "cannot read the target database: %s", strerror(-r));
        if (nodes > 0 || history > 0)
                return errbuf_fail(-EEXIST, err, errlen,
                                   "the target database already holds provd state (%lld nodes, %lld history rows): "
                                   "import into an empty database",
                                   (long long) nodes, (long long) history);
        for (size_t i = 0; i < ELEMENTSOF(tables); i++) {
                int64_t n = copy_table(dst, src, &tables[i]);
                if (n < 0)
                        return errbuf_fail((int) n, err, errlen, "cannot copy the %s table: %s (see the log)",
                                           tables[i].name, strerror((int) -n));
                *(int64_t *) ((char *) c + tables[i].offset) = n;
        }
        for (size_t i = 0; db_kind(dst) == DB_POSTGRESQL && i < ELEMENTSOF(pg_sequences); i++) {
                int64_t ignored;
                r = count(dst, pg_sequences[i], &ignored);
                if (r < 0)
                        return errbuf_fail(r, err, errlen, "cannot move the id sequences past the copied ids: %s",
                                           strerror(-r));
        }
        return 0;
}

int store_import(Store *dst, Store *src, StoreImportCounts *ret, char *err, size_t errlen) {
        StoreImportCounts c = { 0 };
        int r = store_tx_begin(dst, true);
        if (r < 0)
                return errbuf_fail(r, err, errlen, "cannot begin a transaction on the target: %s", strerror(-r));
        r = import_locked(store_db(dst), store_db(src), &c, err, errlen);
        if (r < 0) {
                store_tx_rollback(dst);
                return r;
        }
        r = store_tx_end(dst, 0);
        if (r < 0)
                return errbuf_fail(r, err, errlen, "cannot commit the import: %s (nothing was imported)", strerror(-r));
        *ret = c;
        return 0;
}
