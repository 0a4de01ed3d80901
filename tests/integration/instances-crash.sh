#!/usr/bin/env bash
# Two provd instances on one PostgreSQL database, 200 installers reporting at once, half to
# each: kill -9 of instance a in the middle loses no answered event — every event a or b
# answered 2xx is in the shared history — and b goes on answering its installers meanwhile.
# Then a restarts on the same database and shows the same history.
source "$(dirname "$0")/lib.sh"

pg_cluster_own
sql() { psql "$DB" -tA -v ON_ERROR_STOP=1 -c "$1"; }

N=200 # installers, one node each
K=10  # events each sends
make_inventory "$T/inv.json" "$N"
head -c 32 /dev/urandom >"$T/shared.key"
chmod 0600 "$T/shared.key"

start_instance() {
        local name=$1
        LOG=$T/$name.log STATE=$T/$name-state
        provd_start "$T/inv.json" --state-url "$DB" --shared-key-file "$T/shared.key" --instance-name "$name"
        printf -v "${name}_URL" '%s' "$URL"
        printf -v "${name}_PID" '%s' "$PROVD_PID"
}
start_instance a
start_instance b

# Every node netboots once, through either instance: an open attempt and its token each.
for i in $(seq 1 "$N"); do
        u=$([ $((i % 2)) = 1 ] && echo "$a_URL" || echo "$b_URL")
        printf 'url = "%s/v1/boot/52:54:00:00:00:%02x"\n' "$u" "$i"
done >"$T/boot.cfg"
curl -sS --parallel --parallel-max 32 -K "$T/boot.cfg" 2>"$T/boot.err" | jq -r .cmdline |
        tr ' ' '\n' | sed -n 's/^provd\.token=//p' >"$T/tokens"
[ "$(wc -l <"$T/tokens")" = "$N" ] || fail "$(wc -l <"$T/tokens") tokens for $N nodes: $(head -c 300 "$T/boot.err")"

# Installer i reports to a when i is odd, to b when even: K phase changes on one connection,
# each answer logged as "cb-I-K STATUS".
awk -v n="$N" -v k1="$K" -v ua="$a_URL" -v ub="$b_URL" -v dir="$T" -v tokens="$T/tokens" 'BEGIN {
        for (i = 1; i <= n; i++) {
                getline tok <tokens
                url = i % 2 ? ua : ub
                cfg = dir "/installer-" i ".cfg"
                printf "" >cfg
                for (k = 1; k <= k1; k++) {
                        phase = k == 1 ? "started" : k % 2 == 0 ? "partitioning" : "installing"
                        printf "url = \"%s/v1/install/events\"\nheader = \"Authorization: Bearer %s\"\n", url, tok >>cfg
                        printf "header = \"Content-Type: application/json\"\n" >>cfg
                        printf "data-binary = \"{\\\"phase\\\":\\\"%s\\\",\\\"message\\\":\\\"cb-%d-%d\\\"}\"\n", phase, i, k >>cfg
                        printf "output = \"/dev/null\"\nwrite-out = \"cb-%d-%d %%{http_code}\\n\"\nmax-time = 30\n", i, k >>cfg
                        if (k < k1) print "next" >>cfg
                }
                close(cfg)
        }
}'
: >"$T/acks"
inst_pids=()
for i in $(seq 1 "$N"); do
        stdbuf -oL curl -s -K "$T/installer-$i.cfg" >>"$T/acks" 2>/dev/null &
        inst_pids+=("$!")
        PIDS+=("$!")
done
# kill -9 a the moment the (2 N)th answer arrives.
"$SRC/tests/tools/kill-watch.py" "$T/acks" 0 $((2 * N)) "$a_PID" || fail "the kill watcher failed"
for p in "${inst_pids[@]}"; do wait "$p" 2>/dev/null || true; done

acked=$(grep -c ' 2[0-9][0-9]$' "$T/acks" || true)
cut_a=$(grep -E '^cb-[0-9]*[13579]-' "$T/acks" | grep -vc ' 2[0-9][0-9]$' || true)
cut_b=$(grep -E '^cb-[0-9]*[02468]-' "$T/acks" | grep -vc ' 2[0-9][0-9]$' || true)
[ "$cut_a" -gt 0 ] || fail "every callback to a was answered before the kill"
[ "$cut_b" = 0 ] || fail "b failed $cut_b of its callbacks while a was killed: $(grep -E '^cb-[0-9]*[02468]-' "$T/acks" | grep -v ' 2[0-9][0-9]$' | head -3 | tr '\n' ' ')"
ok "a killed with SIGKILL after $acked answers ($cut_a of a's callbacks not answered); b answered all $((N / 2 * K)) of its own"

# Every answered event is in the shared history: its message is unique.
sql "SELECT message FROM history WHERE message LIKE '%cb-%'" | grep -o 'cb-[0-9]*-[0-9]*' | sort -u >"$T/have"
grep ' 2[0-9][0-9]$' "$T/acks" | cut -d' ' -f1 | sort -u >"$T/want"
missing=$(comm -23 "$T/want" "$T/have" | wc -l)
[ "$missing" = 0 ] || fail "$missing answered callbacks are not in the history: $(comm -23 "$T/want" "$T/have" | head -n 10 | tr '\n' ' ')"
ok "all $(wc -l <"$T/want") answered callbacks are in the shared history"

# a again, on the same database: its history of every node is the database's.
start_instance a
URL=$a_URL expect_status 200 GET "/v1/events?limit=1"
last_a=$(printf '%s' "$BODY" | jq .last_event_id)
URL=$b_URL expect_status 200 GET "/v1/events?limit=1"
last_b=$(printf '%s' "$BODY" | jq .last_event_id)
[ "$last_a" = "$last_b" ] || fail "after the restart a's last event is $last_a, b's $last_b"
tok=$(head -n 1 "$T/tokens")
URL=$a_URL event "$tok" '{"phase":"succeeded"}'
[ "$STATUS" = 200 ] || fail "a token was rejected by a after its restart: $STATUS $BODY"
ok "a restarted on the shared database: same last event as b, open attempts' tokens work"
