/* store-cluster.c — see store-cluster.h. */
#include "store-cluster.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "db.h"
#include "util.h"

/* BEGIN of a write transaction: SQLite takes its write lock at once (BEGIN IMMEDIATE), so the
 * read that decides cannot be overtaken by another writer; PostgreSQL locks rows as it reads
 * them (SELECT ... FOR UPDATE). */
static int begin(Db *db) {
        return db_exec(db, db_kind(db) == DB_SQLITE ? "BEGIN IMMEDIATE" : "BEGIN");
}

/* Ends the transaction begin() started: COMMIT when r >= 0, else ROLLBACK.  Returns r, or the
 * COMMIT's error. */
static int end(Db *db, int r) {
        if (r >= 0) {
                int k = db_exec(db, "COMMIT");
                if (k >= 0)
                        return r;
                r = k;
        }
        if (db_in_transaction(db))
                (void) db_exec(db, "ROLLBACK");
        return r;
}

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
        int r = begin(db);
        if (r < 0)
                return r;
        r = run_text(db, "DELETE FROM leases WHERE holder = ?1", name, NULL);
        if (r >= 0)
                r = run_text(db, "DELETE FROM instances WHERE name = ?1", name, NULL);
        return end(db, r < 0 ? r : 0);
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
        int r = begin(db);
        if (r < 0)
                return r;
        r = lease_read(db, name, prev, &expires);
        if (r == -ENOENT) {
                prev[0] = '\0';
                r = 0;
        }
        if (r >= 0)
                r = lease_write(db, name, holder, now_ms, ttl_ms);
        r = end(db, r);
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
