/* store.c — see store.h. */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
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

struct Store {
        sqlite3 *db;
        int lock_fd;
        sqlite3_stmt *get_node;
        sqlite3_stmt *find_token;
};

static inline void sqlite3_finalizep(sqlite3_stmt **st) {
        if (*st)
                sqlite3_finalize(*st);
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

static int fail(Store *s, int rc, const char *what) {
        int r = sqlite_to_errno(rc);
        if (r == 0)
                r = -EIO;
        return log_error_errno(r, "state store: %s: %s", what, s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
}

static int exec(Store *s, const char *sql) {
        char *err = NULL;
        int rc = sqlite3_exec(s->db, sql, NULL, NULL, &err);
        if (rc != SQLITE_OK) {
                int r = sqlite_to_errno(rc);
                log_error("state store: %s: %s", sql, err ? err : sqlite3_errstr(rc));
                sqlite3_free(err);
                return r < 0 ? r : -EIO;
        }
        return 0;
}

static int prepare(Store *s, const char *sql, sqlite3_stmt **ret) {
        int rc = sqlite3_prepare_v2(s->db, sql, -1, ret, NULL);
        return rc == SQLITE_OK ? 0 : fail(s, rc, "prepare");
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
        "CREATE INDEX IF NOT EXISTS history_at ON history(at);";

/* discovery (issue 7): added to version-1 databases as they are opened (CREATE ... IF NOT
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
/* Adds the nullable column `column` (SQL type `type`) to `table` when it is missing, for
 * databases made before it; ALTER TABLE ... ADD COLUMN keeps every row (the column NULL).
 * `what` says in the log what needs it. */
static int migrate_add_column(Store *s, const char *table, const char *column, const char *type, const char *what) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        _cleanup_free_ char *alter = NULL;
        int r = prepare(s, "SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2", &st);
        if (r < 0)
                return r;
        sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, column, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
                return 0;
        if (rc != SQLITE_DONE)
                return fail(s, rc, "read the schema");
        log_info("state store: adding the %s column \"%s\" (%s)", table, column, what);
        if (asprintf(&alter, "ALTER TABLE %s ADD COLUMN %s %s", table, column, type) < 0)
                return -ENOMEM;
        return exec(s, alter);
}

int store_set_console(Store *s, int64_t event_id, const char *text) {
        int r = run(s, "UPDATE history SET console = ?1 WHERE id = ?2", "ti", text, event_id);
        if (r < 0)
                return r;
        return sqlite3_changes(s->db) > 0 ? 0 : -ENOENT;
}

int store_open(const char *state_dir, Store **ret) {
        _cleanup_(store_freep) Store *s = NULL;
        _cleanup_free_ char *lock_path = NULL, *db_path = NULL;
        int rc, r;

        if (mkdir(state_dir, 0700) < 0 && errno != EEXIST)
                return log_error_errno(errno, "cannot create state directory %s: %m", state_dir);

        s = calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;
        s->lock_fd = -1;

        if (asprintf(&lock_path, "%s/provd.lock", state_dir) < 0 || asprintf(&db_path, "%s/provd.db", state_dir) < 0)
                return -ENOMEM;
        s->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (s->lock_fd < 0)
                return log_error_errno(errno, "cannot open %s: %m", lock_path);
        if (flock(s->lock_fd, LOCK_EX | LOCK_NB) < 0) {
                if (errno == EWOULDBLOCK)
                        return log_error_errno(EBUSY, "state directory %s is in use by another provd", state_dir);
                return log_error_errno(errno, "cannot lock %s: %m", lock_path);
        }

        rc = sqlite3_open_v2(db_path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
        if (rc != SQLITE_OK)
                return fail(s, rc, db_path);
        sqlite3_busy_timeout(s->db, 5000);
        sqlite3_extended_result_codes(s->db, 1);

        /* WAL: readers never block the writer; FULL: a commit is on disk when it returns, so
         * not even a power cut loses an answered transition, let alone kill -9. */
        r = exec(s, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;");
        if (r < 0)
                return r;
        r = exec(s, schema);
        if (r < 0)
                return r;
        r = exec(s, schema_discovered); /* discovery */
        if (r < 0)
                return r;
        /* Columns added after the first schema: history.console, the console's last lines of a
         * failed attempt; attempts.firmware, what netbooted the attempt. */
        r = migrate_add_column(s, "history", "console", "TEXT", "console capture");
        if (r < 0)
                return r;
        r = migrate_add_column(s, "attempts", "firmware", "TEXT", "firmware of install attempts");
        if (r < 0)
                return r;
        r = exec(s, "PRAGMA user_version=" "1");
        if (r < 0)
                return r;

        r = prepare(s, "SELECT n.state, n.state_since, COALESCE(n.attempt_id, 0), COALESCE(a.seq, 0), "
                       "COALESCE(a.phase, ''), COALESCE(a.opened_at, 0) FROM nodes n LEFT JOIN attempts a ON a.id = n.attempt_id "
                       "WHERE n.name = ?1",
                    &s->get_node);
        if (r < 0)
                return r;
        r = prepare(s, "SELECT node, id, seq, COALESCE(ended_at, 0), COALESCE(outcome, '') FROM attempts "
                       "WHERE token_hash = ?1",
                    &s->find_token);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(s);
        return 0;
}

void store_free(Store *s) {
        if (!s)
                return;
        sqlite3_finalize(s->get_node);
        sqlite3_finalize(s->find_token);
        if (s->db)
                sqlite3_close_v2(s->db);
        if (s->lock_fd >= 0)
                close(s->lock_fd);
        free(s);
}

int store_get_node(Store *s, const char *name, StoreNodeState *ret) {
        sqlite3_stmt *st = s->get_node;
        sqlite3_reset(st);
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
        sqlite3_reset(st);
        if (n.state == _PROVISION_STATE_INVALID)
                return log_error_errno(EBADMSG, "state store: node %s has an unknown state", name);
        *ret = n;
        return 0;
}

/* Runs one statement with bound values: 'i' int64, 't' text (NULL ok), 'b' 32-byte blob. */
static int run(Store *s, const char *sql, const char *types, ...) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
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

static int apply_locked(Store *s, const StoreTransition *tr, const StoreNodeState *cur, StoreNodeState *n,
                        int64_t *ret_event_id) {
        const ProvisionTransition *t = tr->t;
        const char *message = tr->message ? tr->message : t->why;
        int r;

        *n = *cur;
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
                _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
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
                "INSERT INTO nodes (name, state, state_since, attempt_id, created_at) VALUES (?1, ?2, ?3, NULLIF(?4, 0), ?5) "
                "ON CONFLICT(name) DO UPDATE SET state = ?2, state_since = ?3, attempt_id = NULLIF(?4, 0)",
                "ttiii", tr->node, provision_state_to_string(n->state), n->since_ms,
                n->attempt_id, tr->at_ms);
        if (r < 0)
                return r;

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
        int r = exec(s, "BEGIN IMMEDIATE");
        if (r < 0)
                return r;
        r = apply_locked(s, tr, cur, &n, &event_id);
        if (r >= 0)
                r = exec(s, "COMMIT");
        if (r < 0) {
                (void) exec(s, "ROLLBACK");
                return r;
        }
        *ret = n;
        if (ret_event_id)
                *ret_event_id = event_id;
        return 0;
}

int store_find_token(Store *s, const uint8_t hash[static TOKEN_HASH_SIZE], StoreAttempt *ret) {
        sqlite3_stmt *st = s->find_token;
        sqlite3_reset(st);
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
        /* console capture (issue 7): the console's last lines, only where there are some */
        const unsigned char *console = sqlite3_column_text(st, 8);
        if (console && json_object_set_new(e, "console", json_string((const char *) console)) < 0) {
                json_decref(e);
                return -ENOMEM;
        }
        return json_array_append_new(arr, e) < 0 ? -ENOMEM : 0;
}

int store_events_json(Store *s, const StoreEventQuery *q, json_t **ret) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        _cleanup_free_ char *sql = NULL;
        /* Without a lower bound the newest `limit` rows are wanted, even in oldest-first order. */
        bool tail = !q->newest_first && q->after_id < 0 && q->since_ms <= 0;
        bool desc = q->newest_first || tail;
        if (asprintf(&sql,
                     "SELECT * FROM (SELECT h.id, h.node, h.at, h.from_state, h.to_state, h.cause, h.message, "
                     "COALESCE(a.seq, 0), h.console FROM history h LEFT JOIN attempts a ON a.id = h.attempt_id "
                     "WHERE (?1 IS NULL OR h.node = ?1) AND h.id > ?2 AND (?3 <= 0 OR h.id < ?3) AND h.at >= ?4 "
                     "ORDER BY h.id %s LIMIT ?5) ORDER BY 1 %s",
                     desc ? "DESC" : "ASC", q->newest_first ? "DESC" : "ASC") < 0)
                return -ENOMEM;
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
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
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
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
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

/* ---- discovery (issue 7): the `discovered` table ------------------------------------------ */

static int discovered_merge_locked(Store *s, const StoreDiscovered *const *entries, size_t n, int64_t max,
                                   StoreDiscoveredOutcome *outcomes) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *count = NULL, *update = NULL, *insert = NULL;
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
        int r = exec(s, "BEGIN IMMEDIATE");
        if (r < 0)
                return r;
        r = discovered_merge_locked(s, entries, n, max, out);
        if (r >= 0)
                r = exec(s, "COMMIT");
        if (r < 0) {
                (void) exec(s, "ROLLBACK");
                return r;
        }
        memcpy(outcomes, out, n * sizeof *out);
        return 0;
}

int store_discovered_json(Store *s, json_t **ret) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
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
                return r;
        return sqlite3_changes(s->db) > 0 ? 0 : -ENOENT;
}

static int discovered_prune_locked(Store *s, bool (*is_known)(void *userdata, const char *mac), void *userdata) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
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
        int r = exec(s, "BEGIN IMMEDIATE");
        if (r < 0)
                return r;
        int deleted = discovered_prune_locked(s, is_known, userdata);
        r = deleted < 0 ? deleted : exec(s, "COMMIT");
        if (r < 0) {
                (void) exec(s, "ROLLBACK");
                return r;
        }
        return deleted;
}

int store_discovered_count(Store *s, int64_t *ret) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
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
