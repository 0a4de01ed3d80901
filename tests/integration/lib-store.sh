# shellcheck shell=bash
# lib-store.sh — which state store the provd a test starts uses.  lib.sh sources it and calls
# store_init and store_cleanup; a test that does not use lib.sh sources it and calls them itself.
#
#   PROVD_TEST_STORE=sqlite (the default) or postgresql (`meson test --setup postgresql`).
#   store_init SCRATCH    on PostgreSQL: starts the test's own cluster (tests/tools/pg-cluster,
#                         in a directory of its own: the cluster runs as nobody under root) and
#                         points $PROVD at a shim in SCRATCH (tests/tools/provd-pg-serve) that
#                         gives each `provd serve` the database of its state directory.  On
#                         SQLite: nothing.
#   store_cleanup         stops the cluster (SIGINT, PostgreSQL's fast shutdown, to the
#                         postmaster's pid; SIGKILL after 10 s) and removes its directory.
#   store_log_tail        the end of the cluster's log (for a failing test's output).
#   state_sql SQL [DIR]   runs SQL on the store of state directory DIR (default $STATE) with the
#                         sqlite3 CLI or psql: rows on stdout, columns separated by "|", no
#                         header.  Write SQL both accept; sql_hex covers the one gap tests need.
#   sql_hex EXPR          SQL for the upper-case hex of a BLOB (SQLite) / BYTEA (PostgreSQL).
#   store_dump [DIR]      every row of DIR's store as text (sqlite3 .dump, pg_dump).
#   store_hold MAX_S [DIR]  another connection holds the store's write lock until store_release
#                         or MAX_S seconds after it took it (SQLite: BEGIN IMMEDIATE; PostgreSQL: every
#                         table of the database locked IN SHARE MODE — writes wait, reads do
#                         not); returns once the lock is held, with the holder's pid in
#                         STORE_HOLD_PID.
#   store_release         lets go of it and waits for the holder to end.
#   tokens_sealed         true when provd keeps install tokens sealed under a shared key (on
#                         PostgreSQL: the shim passes the test's key), so that a restarted provd
#                         hands out an open attempt's token again instead of opening a new one.
#   sqlite_only WHAT      returns 0 on SQLite; on PostgreSQL prints "# SQLite only, not run on
#                         PostgreSQL: WHAT" and returns 1 — for the parts of a test that are
#                         about SQLite itself (its file, WAL, locks, an old provd.db).
#   pg_cluster_own        a PostgreSQL cluster of the test's own, whatever PROVD_TEST_STORE
#                         says (several instances on one database, a store moved to
#                         PostgreSQL; after lib.sh): skips without psql or the server binaries,
#                         starts tests/tools/pg-cluster in a directory of its own, stopped and
#                         removed at exit (AT_EXIT), and creates the database provd there.  Sets
#                         PGC (pg-cluster), PGDIR and DB (the database's URL); another database:
#                         "$PGC" createdb "$PGDIR" NAME.
PROVD_TEST_STORE=${PROVD_TEST_STORE:-sqlite}
case $PROVD_TEST_STORE in
sqlite | postgresql) ;;
*)
        echo "PROVD_TEST_STORE=$PROVD_TEST_STORE: expected sqlite or postgresql" >&2
        exit 2
        ;;
esac
STORE_PG_DIR=
STORE_PG_PID=
STORE_SCRATCH=
STORE_HOLD_PID=
STORE_KEY=
STORE_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

store_init() {
        local scratch=$1 url
        STORE_SCRATCH=$scratch
        [ "$PROVD_TEST_STORE" = postgresql ] || return 0
        # This provd must have a PostgreSQL store.
        local help
        help=$("$PROVD" serve --help 2>&1) || true
        if [[ $help != *--state-url* ]]; then
                echo "FAIL: PROVD_TEST_STORE=postgresql, but $PROVD serve has no --state-url" >&2
                exit 1
        fi
        STORE_PG_DIR=$(mktemp -d /tmp/provd-pg.XXXXXX)
        chmod 0755 "$STORE_PG_DIR"
        local rc=0
        url=$("$STORE_SRC/tests/tools/pg-cluster" start "$STORE_PG_DIR") || rc=$?
        if [ "$rc" != 0 ]; then
                # 77: no PostgreSQL server binaries; a failure under PROVD_TESTS_NO_SKIP.
                [ "$rc" = 77 ] && [ -z "${PROVD_TESTS_NO_SKIP:-}" ] && exit 77
                echo "FAIL: cannot start a PostgreSQL cluster in $STORE_PG_DIR (pg-cluster exit $rc)" >&2
                exit 1
        fi
        STORE_PG_PID=$(head -n 1 "$STORE_PG_DIR/data/postmaster.pid")
        # The shared key, once provd has the flag.
        if [[ $help == *--shared-key-file* ]]; then
                # 0600, and the owner nobody under root: a test may run provd as nobody.
                STORE_KEY=$STORE_PG_DIR/shared.key
                (umask 077 && head -c 32 /dev/urandom >"$STORE_KEY")
                [ "$(id -u)" != 0 ] || chown nobody "$STORE_KEY"
        fi
        printf '#!/bin/sh\nexec %q %q %q %q "$@"\n' "$STORE_SRC/tests/tools/provd-pg-serve" "$PROVD" "$STORE_PG_DIR" "$STORE_KEY" \
                >"$scratch/provd"
        chmod 0755 "$scratch/provd"
        PROVD=$scratch/provd
        echo "# state store: PostgreSQL, cluster $url (pid $STORE_PG_PID), a database per state directory"
}

store_cleanup() {
        [ -n "$STORE_PG_DIR" ] || return 0
        if [ -n "$STORE_PG_PID" ] && kill -INT "$STORE_PG_PID" 2>/dev/null; then
                local i
                for i in $(seq 1 100); do
                        kill -0 "$STORE_PG_PID" 2>/dev/null || break
                        sleep 0.1
                done
                kill -KILL "$STORE_PG_PID" 2>/dev/null || true
        fi
        rm -rf "$STORE_PG_DIR"
        STORE_PG_DIR=
}

store_log_tail() {
        [ -n "$STORE_PG_DIR" ] && [ -f "$STORE_PG_DIR/postgres.log" ] || return 0
        echo "--- PostgreSQL log (last 20 lines) ---"
        tail -n 20 "$STORE_PG_DIR/postgres.log"
}

# The psql of the cluster's version (Debian: /usr/lib/postgresql/<version>/bin), else PATH's.
store_psql() {
        local d
        for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
                [ -x "$d/psql" ] && { echo "$d/psql"; return; }
        done
        command -v psql
}

state_sql() {
        local sql=$1 dir=${2:-$STATE}
        if [ "$PROVD_TEST_STORE" = sqlite ]; then
                sqlite3 -cmd '.timeout 5000' "$dir/provd.db" "$sql"
        else
                "$(store_psql)" -XAtq -v ON_ERROR_STOP=1 \
                        -d "$("$STORE_SRC/tests/tools/provd-pg-serve" --url "$STORE_PG_DIR" "$dir")" -c "$sql"
        fi
}

sql_hex() {
        if [ "$PROVD_TEST_STORE" = sqlite ]; then
                echo "hex($1)"
        else
                echo "upper(encode($1, 'hex'))"
        fi
}

store_dump() {
        local dir=${1:-$STATE} psql
        if [ "$PROVD_TEST_STORE" = sqlite ]; then
                sqlite3 -cmd '.timeout 5000' "$dir/provd.db" .dump
        else
                psql=$(store_psql)
                "$(dirname "$psql")/pg_dump" --data-only \
                        -d "$("$STORE_SRC/tests/tools/provd-pg-serve" --url "$STORE_PG_DIR" "$dir")"
        fi
}

store_hold() {
        local max=$1 dir=${2:-$STATE} held=$STORE_SCRATCH/store-held release=$STORE_SCRATCH/store-release i
        local max_us end
        max_us=$(awk -v s="$max" 'BEGIN { printf "%d", s * 1000000 }')
        rm -f "$held" "$release"
        {
                if [ "$PROVD_TEST_STORE" = sqlite ]; then
                        echo "BEGIN IMMEDIATE;"
                else
                        # SHARE: no other transaction writes the table, every one reads it.
                        echo "BEGIN; DO \$\$ DECLARE t text; BEGIN"
                        echo "  FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = current_schema() LOOP"
                        echo "    EXECUTE format('LOCK TABLE %I IN SHARE MODE', t); END LOOP; END \$\$;"
                fi
                echo "SELECT 'held';"
                # MAX_S counts from the moment the lock is held
                for i in $(seq 1 1000); do grep -qx held "$held" 2>/dev/null && break; sleep 0.01; done
                end=$((${EPOCHREALTIME/./} + max_us))
                while [ ! -e "$release" ] && [ "${EPOCHREALTIME/./}" -lt "$end" ]; do sleep 0.01; done
                echo "ROLLBACK;"
        } | if [ "$PROVD_TEST_STORE" = sqlite ]; then
                sqlite3 -cmd '.timeout 10000' "$dir/provd.db" >"$held" 2>&1
        else
                "$(store_psql)" -XAtq -v ON_ERROR_STOP=1 \
                        -d "$("$STORE_SRC/tests/tools/provd-pg-serve" --url "$STORE_PG_DIR" "$dir")" >"$held" 2>&1
        fi &
        STORE_HOLD_PID=$!
        PIDS+=("$STORE_HOLD_PID")
        for i in $(seq 1 500); do
                grep -qx held "$held" 2>/dev/null && return 0
                kill -0 "$STORE_HOLD_PID" 2>/dev/null || break
                sleep 0.01
        done
        fail "the store's write lock was not taken within 5 s: $(cat "$held" 2>/dev/null)"
}

store_release() {
        touch "$STORE_SCRATCH/store-release"
        wait "$STORE_HOLD_PID" || fail "the store's lock holder failed: $(cat "$STORE_SCRATCH/store-held")"
}

tokens_sealed() {
        [ -n "$STORE_KEY" ]
}

sqlite_only() {
        [ "$PROVD_TEST_STORE" = sqlite ] && return 0
        echo "# SQLite only, not run on PostgreSQL: $*"
        return 1
}

pg_cluster_own() {
        PGC=$SRC/tests/tools/pg-cluster
        command -v psql >/dev/null || skip "psql not installed (Debian: postgresql-client)"
        ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null ||
                skip "no PostgreSQL server (Debian: postgresql)"
        PGDIR=$(mktemp -d /tmp/provd-pg.XXXXXX)
        chmod 0755 "$PGDIR"
        AT_EXIT+=("'$PGC' stop '$PGDIR'; rm -rf '$PGDIR'")
        "$PGC" start "$PGDIR" >/dev/null || fail "cannot start PostgreSQL"
        DB=$("$PGC" createdb "$PGDIR" provd) || fail "cannot create the database"
}
