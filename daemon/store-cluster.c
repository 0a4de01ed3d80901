/* store-cluster.c — see store-cluster.h. */
#include "store-cluster.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "store-internal.h"
#include "util.h"

int store_instance_beat(Store *s, const StoreInstance *self, int64_t now_ms) {
        Db *db = store_db(s);
        _cleanup_(db_donep) DbStmt *st = NULL;
        int r = db_prepare(db,
                           "INSERT INTO instances (name, url, racks, host, pid, started_at, heartbeat_at) "
                           "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (name) DO UPDATE SET url = ?2, racks = ?3, "
                           "host = ?4, pid = ?5, started_at = ?6, heartbeat_at = ?7",
                           &st);
        if (r < 0)
                return r;
        db_bind_text(st, 1, self->name);
        db_bind_text(st, 2, self->url);
        db_bind_text(st, 3, self->racks ? self->racks : "");
        db_bind_text(st, 4, self->host ? self->host : "");
        db_bind_int64(st, 5, self->pid);
        db_bind_int64(st, 6, self->started_ms);
        db_bind_int64(st, 7, now_ms);
        r = db_step(st);
        return r < 0 ? r : 0;
}

static int run_text(Db *db, const char *sql, const char *a, const char *b) {
        _cleanup_(db_donep) DbStmt *st = NULL;
        int r = db_prepare(db, sql, &st);
        if (r < 0)
                return r;
        db_bind_text(st, 1, a);
        if (b)
                db_bind_text(st, 2, b);
        r = db_step(st);
        return r < 0 ? r : (int) db_changes(db);
}

int store_instance_remove(Store *s, const char *name) {
        Db *db = store_db(s);
        int r = store_tx_begin(s, true);
        if (r < 0)
                return r;
        r = run_text(db, "DELETE FROM leases WHERE holder = ?1", name, NULL);
        if (r >= 0)
                r = run_text(db, "DELETE FROM instances WHERE name = ?1", name, NULL);
        return store_tx_end(s, r < 0 ? r : 0);
}

/* "a,b" -> ["a","b"]; "" -> []. */
static json_t *racks_json(const char *racks) {
        json_t *a = json_array();
        for (const char *p = racks; a && p && *p;) {
                size_t n = strcspn(p, ",");
                if (json_array_append_new(a, json_stringn(p, n)) < 0) {
                        json_decref(a);
                        return NULL;
                }
                p += n + (p[n] == ',');
        }
        return a;
}

/* The leases `holder` holds at now_ms, into the array `into`. */
static int holds_json(Db *db, const char *holder, int64_t now_ms, json_t *into) {
        _cleanup_(db_donep) DbStmt *st = NULL;
        int r = db_prepare(db, "SELECT name FROM leases WHERE holder = ?1 AND expires_at > ?2 ORDER BY name", &st);
        if (r < 0)
                return r;
        db_bind_text(st, 1, holder);
        db_bind_int64(st, 2, now_ms);
        while ((r = db_step(st)) > 0)
                if (json_array_append_new(into, json_string(db_column_text(st, 0))) < 0)
                        return -ENOMEM;
        return r;
}

json_t *store_instance_to_json(const StoreInstance *i, int64_t heartbeat_ms, bool alive) {
        return json_pack("{s:s, s:s, s:o, s:s, s:I, s:I, s:I, s:b, s:[]}", "name", i->name, "url", i->url, "racks",
                         racks_json(i->racks), "host", i->host ? i->host : "", "pid", (json_int_t) i->pid, "started_at",
                         (json_int_t) i->started_ms, "heartbeat_at", (json_int_t) heartbeat_ms, "alive", alive, "holds");
}

int store_instances_json(Store *s, int64_t now_ms, int64_t alive_ms, json_t **ret) {
        Db *db = store_db(s);
        _cleanup_(json_decrefp) json_t *arr = json_array();
        _cleanup_(db_donep) DbStmt *st = NULL;
        if (!arr)
                return -ENOMEM;
        int r = db_prepare(db,
                           "SELECT name, url, racks, host, pid, started_at, heartbeat_at FROM instances ORDER BY name",
                           &st);
        if (r < 0)
                return r;
        while ((r = db_step(st)) > 0) {
                int64_t beat = db_column_int64(st, 6);
                StoreInstance i = { .name = db_column_text(st, 0), .url = db_column_text(st, 1),
                                    .racks = db_column_text(st, 2), .host = db_column_text(st, 3),
                                    .pid = db_column_int64(st, 4), .started_ms = db_column_int64(st, 5) };
                json_t *o = store_instance_to_json(&i, beat, now_ms - beat < alive_ms);
                if (!o || json_array_append_new(arr, o) < 0)
                        return -ENOMEM;
        }
        if (r < 0)
                return r;
        db_done(st);
        st = NULL;
        size_t k;
        json_t *o;
        json_array_foreach(arr, k, o) {
                r = holds_json(db, json_string_value(json_object_get(o, "name")), now_ms, json_object_get(o, "holds"));
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(arr);
        return 0;
}

/* The holder of lease `name` and when its claim expires, read in the claim's transaction (and
 * on PostgreSQL locked until it ends).  0 and the two, or -ENOENT when nobody ever held it. */
static int lease_read(Db *db, const char *name, char holder[static STORE_INSTANCE_NAME_MAX], int64_t *ret_expires) {
        _cleanup_(db_donep) DbStmt *st = NULL;
        int r = db_prepare(db,
                           db_kind(db) == DB_SQLITE ? "SELECT holder, expires_at FROM leases WHERE name = ?1"
                                                    : "SELECT holder, expires_at FROM leases WHERE name = ?1 FOR UPDATE",
                           &st);
        if (r < 0)
                return r;
        db_bind_text(st, 1, name);
        r = db_step(st);
        if (r < 0)
                return r;
        if (r == 0)
                return -ENOENT;
        snprintf(holder, STORE_INSTANCE_NAME_MAX, "%s", db_column_text(st, 0));
        *ret_expires = db_column_int64(st, 1);
        return 0;
}

/* The claim itself: granted only if, when it runs, nobody holds the lease, `holder` does, or
 * the holder's claim has expired (the WHERE of the upsert: two instances racing on a lease
 * nobody held yet both insert, and the second one's update finds the first's live claim). */
static int lease_write(Db *db, const char *name, const char *holder, int64_t now_ms, int64_t ttl_ms) {
        _cleanup_(db_donep) DbStmt *st = NULL;
        int r = db_prepare(db,
                           "INSERT INTO leases (name, holder, acquired_at, expires_at) VALUES (?1, ?2, ?3, ?4) "
                           "ON CONFLICT (name) DO UPDATE SET holder = ?2, expires_at = ?4, "
                           "acquired_at = CASE WHEN leases.holder = ?2 THEN leases.acquired_at ELSE ?3 END "
                           "WHERE leases.holder = ?2 OR leases.expires_at <= ?3",
                           &st);
        if (r < 0)
                return r;
        db_bind_text(st, 1, name);
        db_bind_text(st, 2, holder);
        db_bind_int64(st, 3, now_ms);
        db_bind_int64(st, 4, now_ms + ttl_ms);
        r = db_step(st);
        return r < 0 ? r : db_changes(db) > 0;
}

int store_lease_claim(Store *s, const char *name, const char *holder, int64_t now_ms, int64_t ttl_ms,
                      char ret_prev[static STORE_INSTANCE_NAME_MAX]) {
        Db *db = store_db(s);
        char prev[STORE_INSTANCE_NAME_MAX] = "";
        int64_t expires = 0;
        int r = store_tx_begin(s, true);
        if (r < 0)
                return r;
        r = lease_read(db, name, prev, &expires);
        if (r == -ENOENT) {
                prev[0] = '\0';
                r = 0;
        }
        if (r >= 0)
                r = lease_write(db, name, holder, now_ms, ttl_ms);
        r = store_tx_end(s, r);
        if (r < 0)
                return r;
        if (r == 0) {
                /* Refused: held by another, alive (what was read, or what a racing claim wrote). */
                snprintf(ret_prev, STORE_INSTANCE_NAME_MAX, "%s", prev);
                return 0;
        }
        /* Granted: a takeover when another holder's claim had expired. */
        snprintf(ret_prev, STORE_INSTANCE_NAME_MAX, "%s", prev[0] && !streq(prev, holder) && expires <= now_ms ? prev : "");
        return 1;
}

int store_lease_release(Store *s, const char *name, const char *holder) {
        return run_text(store_db(s), "DELETE FROM leases WHERE name = ?1 AND holder = ?2", name, holder);
}

/* ---- bmc_ops ---- */

#define BMC_OP_COLUMNS \
        "id, node, rack, kind, params, state, step, COALESCE(holder, ''), COALESCE(lease_expires, 0), created_at, " \
        "created_by, COALESCE(ended_at, 0), result, takeovers"

void store_bmc_op_done(StoreBmcOp *op) {
        free(op->params);
        free(op->result);
        op->params = op->result = NULL;
}

/* The row at st (BMC_OP_COLUMNS) into *ret. */
static int bmc_op_read(DbStmt *st, StoreBmcOp *ret) {
        StoreBmcOp op = { .id = db_column_int64(st, 0) };
        const char *result = db_column_text(st, 12);
        snprintf(op.node, sizeof op.node, "%s", db_column_text(st, 1));
        snprintf(op.rack, sizeof op.rack, "%s", db_column_text(st, 2));
        snprintf(op.kind, sizeof op.kind, "%s", db_column_text(st, 3));
        snprintf(op.state, sizeof op.state, "%s", db_column_text(st, 5));
        snprintf(op.holder, sizeof op.holder, "%s", db_column_text(st, 7));
        snprintf(op.created_by, sizeof op.created_by, "%s", db_column_text(st, 10));
        op.step = db_column_int64(st, 6);
        op.lease_expires_ms = db_column_int64(st, 8);
        op.created_ms = db_column_int64(st, 9);
        op.ended_ms = db_column_int64(st, 11);
        op.takeovers = db_column_int64(st, 13);
        op.params = strdup(db_column_text(st, 4) ? db_column_text(st, 4) : "{}");
        op.result = result ? strdup(result) : NULL;
        if (!op.params || (result && !op.result)) {
                store_bmc_op_done(&op);
                return -ENOMEM;
        }
        *ret = op;
        return 0;
}

/* Notifies "o <id>" (PostgreSQL; nothing on SQLite) in the caller's transaction. */
static int bmc_op_notify(Db *db, int64_t id) {
        if (db_kind(db) != DB_POSTGRESQL)
                return 0;
        char payload[32];
        snprintf(payload, sizeof payload, "o %lld", (long long) id);
        _cleanup_(db_donep) DbStmt *st = NULL;
        int r = db_prepare(db, "SELECT pg_notify('provd', CAST(?1 AS TEXT))", &st);
        if (r < 0)
                return r;
        db_bind_text(st, 1, payload);
        r = db_step(st);
        return r < 0 ? r : 0;
}

int store_bmc_op_insert(Store *s, const char *node, const char *rack, const char *kind, const char *params,
                        const char *created_by, const char *holder, int64_t now_ms, int64_t lease_expires_ms,
                        const char *result, int64_t *ret_id) {
        Db *db = store_db(s);
        int64_t id = 0;
        int r = store_tx_begin(s, true);
        if (r < 0)
                return r;
        /* The index refuses a second one too; asked first, the usual refusal is no SQL error. */
        r = streq(kind, STORE_BMC_OP_KIND_AFTER_INSTALL) ? -ENOENT : store_bmc_op_busy(s, node, &id);
        if (r >= 0)
                r = -EEXIST;
        else if (r == -ENOENT)
                r = 0;
        if (r >= 0) {
                _cleanup_(db_donep) DbStmt *st = NULL;
                r = db_prepare(db,
                               "INSERT INTO bmc_ops (node, rack, kind, params, state, holder, lease_expires, created_at, "
                               "created_by, result) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) RETURNING id",
                               &st);
                if (r >= 0) {
                        db_bind_text(st, 1, node);
                        db_bind_text(st, 2, rack ? rack : "");
                        db_bind_text(st, 3, kind);
                        db_bind_text(st, 4, params ? params : "{}");
                        db_bind_text(st, 5, holder ? "running" : "queued");
                        db_bind_text(st, 6, holder);
                        if (holder)
                                db_bind_int64(st, 7, lease_expires_ms);
                        else
                                db_bind_null(st, 7);
                        db_bind_int64(st, 8, now_ms);
                        db_bind_text(st, 9, created_by ? created_by : "");
                        db_bind_text(st, 10, result);
                        r = db_step(st);
                        if (r > 0)
                                id = db_column_int64(st, 0);
                        else if (r == 0)
                                r = -EIO;
                }
        }
        if (r >= 0)
                r = bmc_op_notify(db, id);
        r = store_tx_end(s, r < 0 ? r : 0);
        if (r < 0)
                return r;
        *ret_id = id;
        return 0;
}

int store_bmc_op_busy(Store *s, const char *node, int64_t *ret_id) {
        Db *db = store_db(s);
        _cleanup_(db_donep) DbStmt *st = NULL;
        int r = db_prepare(db, "SELECT id FROM bmc_ops WHERE node = ?1 AND state IN ('queued', 'running') AND "
                           "kind <> '" STORE_BMC_OP_KIND_AFTER_INSTALL "' LIMIT 1", &st);
        if (r < 0)
                return r;
        db_bind_text(st, 1, node);
        r = db_step(st);
        if (r < 0)
                return r;
        if (r == 0)
                return -ENOENT;
        *ret_id = db_column_int64(st, 0);
        return 0;
}

int store_bmc_op_next_id(Store *s, int64_t *ret_id) {
        Db *db = store_db(s);
        if (db_kind(db) != DB_POSTGRESQL)
                return -EOPNOTSUPP;
        _cleanup_(db_donep) DbStmt *st = NULL;
        int r = db_prepare(db, "SELECT nextval(pg_get_serial_sequence('bmc_ops', 'id'))", &st);
        if (r < 0)
                return r;
        r = db_step(st);
        if (r < 0)
                return r;
        if (r == 0)
                return -EIO;
        *ret_id = db_column_int64(st, 0);
        return 0;
}

/* The claimable rows, oldest first (see store_bmc_op_claim()): ?1 now, ?2 racks, ?3 limit. */
#define BMC_OP_CLAIMABLE                                                                               \
        "SELECT " BMC_OP_COLUMNS " FROM bmc_ops WHERE (state = 'queued' OR (state = 'running' AND "    \
        "lease_expires IS NOT NULL AND lease_expires < ?1)) AND (CAST(?2 AS TEXT) = '' OR rack = '' OR " \
        "',' || CAST(?2 AS TEXT) || ',' LIKE '%,' || rack || ',%') ORDER BY id LIMIT ?3"

int store_bmc_op_claim(Store *s, const char *holder, const char *racks, int64_t now_ms, int64_t ttl_ms, size_t max,
                       StoreBmcOp *ret, size_t *ret_n) {
        Db *db = store_db(s);
        size_t n = 0;
        int r = store_tx_begin(s, true);
        if (r < 0)
                return r;
        {
                _cleanup_(db_donep) DbStmt *st = NULL;
                r = db_prepare(db,
                               db_kind(db) == DB_SQLITE ? BMC_OP_CLAIMABLE : BMC_OP_CLAIMABLE " FOR UPDATE SKIP LOCKED",
                               &st);
                if (r >= 0) {
                        db_bind_int64(st, 1, now_ms);
                        db_bind_text(st, 2, racks ? racks : "");
                        db_bind_int64(st, 3, (int64_t) max);
                        while (n < max && (r = db_step(st)) > 0) {
                                r = bmc_op_read(st, &ret[n]);
                                if (r < 0)
                                        break;
                                n++;
                        }
                }
        }
        for (size_t i = 0; r >= 0 && i < n; i++) {
                StoreBmcOp *op = &ret[i];
                bool takeover = streq(op->state, "running");
                snprintf(op->prev_holder, sizeof op->prev_holder, "%s", takeover ? op->holder : "");
                _cleanup_(db_donep) DbStmt *st = NULL;
                r = db_prepare(db,
                               "UPDATE bmc_ops SET state = 'running', holder = ?2, lease_expires = ?3, step = 0, "
                               "takeovers = takeovers + ?4 WHERE id = ?1",
                               &st);
                if (r < 0)
                        break;
                db_bind_int64(st, 1, op->id);
                db_bind_text(st, 2, holder);
                db_bind_int64(st, 3, now_ms + ttl_ms);
                db_bind_int64(st, 4, takeover);
                r = db_step(st);
                if (r < 0)
                        break;
                snprintf(op->state, sizeof op->state, "running");
                snprintf(op->holder, sizeof op->holder, "%s", holder);
                op->lease_expires_ms = now_ms + ttl_ms;
                op->step = 0;
                op->takeovers += takeover;
                r = bmc_op_notify(db, op->id);
        }
        r = store_tx_end(s, r < 0 ? r : 0);
        if (r < 0) {
                for (size_t i = 0; i < n; i++)
                        store_bmc_op_done(&ret[i]);
                return r;
        }
        *ret_n = n;
        return 0;
}

/* Sets the lease of every running row of holder to `until`: how many. */
static int bmc_op_lease_all(Db *db, const char *holder, int64_t until) {
        _cleanup_(db_donep) DbStmt *st = NULL;
        int r = db_prepare(db,
                           "UPDATE bmc_ops SET lease_expires = ?2 WHERE holder = ?1 AND state = 'running' AND "
                           "lease_expires IS NOT NULL",
                           &st);
        if (r < 0)
                return r;
        db_bind_text(st, 1, holder);
        db_bind_int64(st, 2, until);
        r = db_step(st);
        return r < 0 ? r : (int) db_changes(db);
}

int store_bmc_op_renew(Store *s, const char *holder, int64_t now_ms, int64_t ttl_ms) {
        return bmc_op_lease_all(store_db(s), holder, now_ms + ttl_ms);
}

int store_bmc_op_abandon(Store *s, const char *holder, int64_t now_ms) {
        return bmc_op_lease_all(store_db(s), holder, now_ms - 1);
}

/* An UPDATE of a row holder holds, and its notification, in one transaction: 1 done, 0 not
 * held. */
static int bmc_op_held_update(Store *s, const char *sql, int64_t id, const char *holder, int64_t a, const char *b,
                              const char *c) {
        Db *db = store_db(s);
        int r = store_tx_begin(s, true);
        if (r < 0)
                return r;
        bool held = false;
        {
                _cleanup_(db_donep) DbStmt *st = NULL;
                r = db_prepare(db, sql, &st);
                if (r >= 0) {
                        db_bind_int64(st, 1, id);
                        db_bind_text(st, 2, holder);
                        db_bind_int64(st, 3, a);
                        db_bind_text(st, 4, b);
                        if (c)
                                db_bind_text(st, 5, c);
                        r = db_step(st);
                        held = r >= 0 && db_changes(db) > 0;
                }
        }
        if (r >= 0 && held)
                r = bmc_op_notify(db, id);
        return store_tx_end(s, r < 0 ? r : held);
}

int store_bmc_op_progress(Store *s, int64_t id, const char *holder, int64_t step, const char *result) {
        return bmc_op_held_update(s,
                                  "UPDATE bmc_ops SET step = ?3, result = ?4 WHERE id = ?1 AND holder = ?2 AND "
                                  "state = 'running'",
                                  id, holder, step, result, NULL);
}

int store_bmc_op_finish(Store *s, int64_t id, const char *holder, const char *state, int64_t ended_ms,
                        const char *result) {
        return bmc_op_held_update(s,
                                  "UPDATE bmc_ops SET ended_at = ?3, result = ?4, state = ?5, lease_expires = NULL "
                                  "WHERE id = ?1 AND holder = ?2 AND state = 'running'",
                                  id, holder, ended_ms, result, state);
}

int store_bmc_op_release(Store *s, int64_t id, const char *holder, const char *result) {
        return bmc_op_held_update(s,
                                  "UPDATE bmc_ops SET state = 'queued', holder = NULL, lease_expires = NULL, step = ?3, "
                                  "result = ?4 WHERE id = ?1 AND holder = ?2 AND state = 'running'",
                                  id, holder, 0, result, NULL);
}

int store_bmc_op_get(Store *s, int64_t id, StoreBmcOp *ret) {
        Db *db = store_db(s);
        _cleanup_(db_donep) DbStmt *st = NULL;
        int r = db_prepare(db, "SELECT " BMC_OP_COLUMNS " FROM bmc_ops WHERE id = ?1", &st);
        if (r < 0)
                return r;
        db_bind_int64(st, 1, id);
        r = db_step(st);
        if (r < 0)
                return r;
        if (r == 0)
                return -ENOENT;
        return bmc_op_read(st, ret);
}

int store_bmc_op_foreach(Store *s, const char *node, size_t limit, StoreBmcOpFn fn, void *userdata) {
        Db *db = store_db(s);
        _cleanup_(db_donep) DbStmt *st = NULL;
        int r = db_prepare(db,
                           "SELECT " BMC_OP_COLUMNS " FROM bmc_ops WHERE (CAST(?1 AS TEXT) IS NULL OR node = ?1) "
                           "ORDER BY id DESC LIMIT ?2",
                           &st);
        if (r < 0)
                return r;
        db_bind_text(st, 1, node);
        db_bind_int64(st, 2, (int64_t) limit);
        while ((r = db_step(st)) > 0) {
                StoreBmcOp op;
                r = bmc_op_read(st, &op);
                if (r < 0)
                        return r;
                r = fn(userdata, &op);
                store_bmc_op_done(&op);
                if (r < 0)
                        return r;
        }
        return r;
}
