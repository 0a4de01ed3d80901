# lib-bmcops.sh — several provd instances on one PostgreSQL database with ipmi_sim BMCs, for
# the bmcops-* tests (bash; after lib.sh and lib-ipmi.sh).  Then:
#   pg_start                 a throw-away PostgreSQL cluster and a database (lib-store.sh's
#                            pg_cluster_own): sets DB (its URL); sql SQL runs one statement (psql -tA)
#   bmc_json N               the inventory's bmc object for simulator N (cipher suite 3, the
#                            workaround ipmi_sim needs, the password in $T/bmc-pass)
#   instance NAME INVENTORY [FLAGS...]   starts instance NAME on the database with the shared
#                            key and the API tokens; sets NAME_URL, NAME_PID, NAME_LOG
#   on NAME METHOD PATH [CURL ARGS]      http() against instance NAME
#   op_post NAME NODE KIND [JSON]        POST /v1/nodes/NODE/KIND as admin, expects 202;
#                            sets OP (the operation's id) and BODY
#   op_wait NAME ID SECONDS  polls GET /v1/operations/ID on NAME until it ends; BODY is it
#   bulk_run NAME SECONDS JSON  POST /v1/bulk-operations JSON on NAME as admin, expects 202
#                            (sets BULK, its id), then polls GET /v1/bulk-operations/BULK on
#                            NAME while it runs, SECONDS at the most; BODY is it
#   udp_trap N               a UDP listener at $SIM_NET.N:623 that writes every datagram's
#                            size to $T/trap-N (a BMC address no command may reach)
command -v psql >/dev/null || skip "psql not installed (Debian: postgresql-client)"
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || skip "no PostgreSQL server (Debian: postgresql)"
for tool in ipmi_sim ipmitool jq python3; do
        command -v "$tool" >/dev/null || skip "$tool missing"
done

DB=

pg_start() {
        pg_cluster_own
        head -c 32 /dev/urandom >"$T/shared.key"
        chmod 0600 "$T/shared.key"
        umask 077
        printf '%s\n' "$SIM_PASSWORD" >"$T/bmc-pass"
        ADMIN=$(api_token "$T/tokens")
        AUTH=(-H "Authorization: Bearer $ADMIN")
}

sql() { psql "$DB" -tA -v ON_ERROR_STOP=1 -c "$1"; }

bmc_json() {
        printf '{"host": "%s", "user": "%s", "password_file": "%s", "workarounds": ["opensesspriv"], "cipher_suite": 3, "console": "none"}' \
                "$(sim_addr "$1")" "$SIM_USER" "$T/bmc-pass"
}

instance() {
        local name=$1 inv=$2
        shift 2
        LOG=$T/$name.log STATE=$T/$name-state
        provd_start "$inv" --state-url "$DB" --shared-key-file "$T/shared.key" --instance-name "$name" \
                --api-tokens "$T/tokens" "$@"
        printf -v "${name}_URL" '%s' "$URL"
        printf -v "${name}_PID" '%s' "$PROVD_PID"
        printf -v "${name}_LOG" '%s' "$LOG"
}

on() {
        local name=$1 u
        shift
        u=${name}_URL
        URL=${!u} http "$@"
}

op_post() {
        local body=${4:-}
        [ -n "$body" ] || body='{}'
        on "$1" POST "/v1/nodes/$2/$3" "${AUTH[@]}" -H 'Content-Type: application/json' --data-binary "$body"
        [ "$STATUS" = 202 ] || fail "$1: POST /v1/nodes/$2/$3: expected 202, got $STATUS: $(short_body)"
        OP=$(printf '%s' "$BODY" | jq -r .operation.id)
}

op_wait() {
        local name=$1 id=$2 i
        for i in $(seq 1 $(($3 * 5))); do
                on "$name" GET "/v1/operations/$id"
                [ "$STATUS" = 200 ] || fail "$name: GET /v1/operations/$id: $STATUS $(short_body)"
                case $(printf '%s' "$BODY" | jq -r .state) in
                succeeded | failed) return 0 ;;
                esac
                sleep 0.2
        done
        fail "$name: operation $id did not end within $3 s: $BODY"
}

bulk_run() {
        local name=$1
        on "$name" POST /v1/bulk-operations "${AUTH[@]}" -H 'Content-Type: application/json' --data-binary "$3"
        [ "$STATUS" = 202 ] || fail "bulk: $STATUS $(short_body)"
        BULK=$(printf '%s' "$BODY" | jq -r .bulk_operation.id)
        for _ in $(seq 1 $(($2 * 5))); do
                on "$name" GET "/v1/bulk-operations/$BULK"
                [ "$(printf '%s' "$BODY" | jq -r .state)" = running ] || break
                sleep 0.2
        done
}

udp_trap() {
        python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 623))
with open(sys.argv[2], "a") as f:
    while True:
        data, _ = s.recvfrom(65536)
        f.write("%d\n" % len(data))
        f.flush()
' "$SIM_NET.$1" "$T/trap-$1" &
        PIDS+=("$!")
        disown "$!"
        : >"$T/trap-$1"
}
