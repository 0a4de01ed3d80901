#!/usr/bin/env bash
# The health-gated rolling reinstall, `provd reinstall --parallel N` with --before, --after and
# the gate, against a real provd with nodes without BMCs (a reinstall marks them pending).  A
# player (Python, below) plays the nodes: each node provd wants installed network-boots
# (GET /v1/boot/<mac>), its installer reports started, gets its node credential, reports
# succeeded after a second, and the installed system then reports running the inventory's
# toplevel every second — except nodes listed as silent.  Every node ran and reported its
# system once before the roll, so each has an in_sync report from its old installation: the
# gate must wait for a newer one.
#
#   roll 1, 8 nodes, --parallel 2 --gate-timeout 8: node-02's --before fails (skipped, the roll
#   goes on), node-03 never reports after its install (timeout: the roll stops, node-05..08 are
#   not started), node-04 (in flight then: its --after waits for node-03's timeout) goes on to
#   the end and its --after exits 5 (shown in its result); --after ran after the gate with
#   PROVD_NODE and PROVD_URL set and saw a fresh in_sync report; never more than 2 nodes between the start of
#   their --before and the end of their --after (from the hooks' own log); each --before ran
#   before its node's reinstall was requested; hook output on stderr prefixed with the node;
#   the summary names every node's outcome; exit 4.
#   roll 2: no gate flag: gated by default (in_sync, not installed), exit 0, --json.
#   --no-gate: a node that never reports is done when installed, exit 0.
#   --hook-timeout: a hung --before is killed with its process group, its node skipped, exit 1.
#   a provd without node reports (a stand-in): --gate-timeout exits 1 with nothing submitted;
#   without it, a note and an ungated roll.
# Exit 77 (skip) when jq, curl or python3 is missing, unless PROVD_TESTS_NO_SKIP=1.
source "$(dirname "$0")/lib.sh"

for tool in jq curl python3; do
        command -v "$tool" >/dev/null || skip "$tool not installed"
done

unset PROVD_URL PROVD_TOKEN
: >"$T/empty.ini"
cli() { "$PROVD" --config "$T/empty.ini" --url "$URL" --token-file "$T/token" "$@"; }
no_sanitizer() { # FILE
        if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$1"; then
                cat "$1" >&2
                fail "sanitizer report in $1"
        fi
}

# ---- usage -------------------------------------------------------------------------------------
"$PROVD" reinstall --help >"$T/help"
for f in --before --after --gate-timeout --no-gate --hook-timeout PROVD_NODE PROVD_URL in_sync reboot_pending \
        skipped timeout not-submitted '4 the roll stopped'; do
        grep -q -- "$f" "$T/help" || fail "reinstall --help does not mention $f"
done
usage() { # ARGS...: exit 2 without contacting anyone (URL points nowhere)
        local rc=0
        "$PROVD" --config "$T/empty.ini" --url http://127.0.0.1:1 reinstall "$@" >"$T/out" 2>"$T/err" || rc=$?
        [ "$rc" = 2 ] || fail "reinstall $*: exit $rc, expected 2: $(cat "$T/out" "$T/err")"
        no_sanitizer "$T/err"
}
usage node-01 --no-gate
grep -q -- '--no-gate' "$T/err" || fail "--no-gate without --wait: $(cat "$T/err")"
usage node-01 --hook-timeout 5
usage node-01 --gate-timeout 10 --no-gate
grep -q -- '--gate-timeout and --no-gate' "$T/err" || fail "$(cat "$T/err")"
usage node-01 --gate-timeout 5x
grep -q -- '--gate-timeout must be a duration' "$T/err" || fail "$(cat "$T/err")"
usage node-01 --wait --hook-timeout 0
grep -q -- '--hook-timeout must be a duration' "$T/err" || fail "$(cat "$T/err")"
usage node-01 --before ''
grep -q -- '--before needs a command' "$T/err" || fail "$(cat "$T/err")"
ok "--help names the gate, the hooks, the results and exit 4; usage errors exit 2 naming the flag"

# A provd without node reports (no "drift" in its summary; a stand-in on loopback): asking for
# the gate explicitly is an error before anything is submitted.
cat >"$T/old-provd.py" <<'PY'
import http.server, json, sys
class H(http.server.BaseHTTPRequestHandler):
    def answer(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def do_GET(self):
        sys.stderr.write("GET %s\n" % self.path)
        if self.path.startswith("/v1/nodes"):
            self.answer(200, {"nodes": [{"name": "node-01", "mac": ["52:54:00:00:00:01"], "rack": None, "state": "installed",
                                         "state_since": None, "attempt": None}]})
        elif self.path == "/v1/summary":
            self.answer(200, {"total": 1, "states": {"installed": 1}, "last_event_id": 7})
        else:
            self.answer(404, {"error": {"code": "not_found", "message": "no"}})
    def do_POST(self):
        sys.stderr.write("POST %s\n" % self.path)
        self.answer(500, {"error": {"code": "internal_error", "message": "a stand-in"}})
    def log_message(self, *a):
        pass
# threads: the client's event stream request must not hold up its POST (single-threaded, the
# POST waited for the client's 30 s timeout instead of getting the 500)
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print(s.server_port, flush=True)
s.serve_forever()
PY
python3 "$T/old-provd.py" >"$T/old-provd.port" 2>"$T/old-provd.log" &
PIDS+=("$!")
for i in $(seq 1 50); do
        [ -s "$T/old-provd.port" ] && break
        sleep 0.1
done
[ -s "$T/old-provd.port" ] || fail "the stand-in did not start: $(cat "$T/old-provd.log")"
printf 'pvd_%s\n' "$(printf 'a%.0s' $(seq 1 43))" >"$T/token"
rc=0
"$PROVD" --config "$T/empty.ini" --url "http://127.0.0.1:$(cat "$T/old-provd.port")" --token-file "$T/token" \
        reinstall node-01 --gate-timeout 10m >"$T/out" 2>"$T/err" || rc=$?
no_sanitizer "$T/err"
[ "$rc" = 1 ] || fail "--gate-timeout against a provd without drift: exit $rc: $(cat "$T/out" "$T/err")"
grep -q -- '--gate-timeout: provd at http://127.0.0.1:[0-9]* does not report node drift' "$T/err" || fail "$(cat "$T/err")"
grep -q 'GET /v1/summary' "$T/old-provd.log" || fail "the client did not ask the summary: $(cat "$T/old-provd.log")"
grep -q POST "$T/old-provd.log" && fail "something was submitted: $(cat "$T/old-provd.log")"
# Without the flag: a note, and the roll goes on ungated (the stand-in refuses the reinstall).
rc=0
"$PROVD" --config "$T/empty.ini" --url "http://127.0.0.1:$(cat "$T/old-provd.port")" --token-file "$T/token" \
        reinstall node-01 --wait >"$T/out" 2>"$T/err" || rc=$?
no_sanitizer "$T/err"
grep -q 'does not report node drift: the roll is not health-gated' "$T/err" || fail "no note: $(cat "$T/err")"
grep -q 'a node is done when it reports' "$T/err" && fail "gated against a provd without drift: $(cat "$T/err")"
grep -q 'POST /v1/nodes/node-01/reinstall' "$T/old-provd.log" || fail "not submitted: $(cat "$T/old-provd.log")"
[ "$rc" = 1 ] || fail "the refused reinstall: exit $rc: $(cat "$T/out" "$T/err")"
grep -q 'node-01  *failed  *not submitted: a stand-in' "$T/out" || fail "not the stand-in's refusal: $(cat "$T/out" "$T/err")"
ok "against a provd without node reports: --gate-timeout is an error (exit 1, nothing submitted); by default a note and no gate"

# ---- provd with 8 nodes without BMCs; store-path toplevels nodes can report ----------------------
"$PROVD" token new --name ops --file "$T/api-tokens" >"$T/token" 2>/dev/null || fail "token new"
mkdir -p "$T/boot"
head -c 100000 /dev/urandom >"$T/boot/bzImage"
head -c 50000 /dev/urandom >"$T/boot/initrd"
{
        echo '{"version": 1, "nodes": ['
        for i in 1 2 3 4 5 6 7 8; do
                [ "$i" = 1 ] || echo ,
                printf '{"name": "node-0%d", "mac": ["52:54:00:00:00:0%d"], ' "$i" "$i"
                printf '"boot": {"kernel": "%s", "initrd": ["%s"], "cmdline": "init=/x"}, ' "$T/boot/bzImage" "$T/boot/initrd"
                printf '"system": {"toplevel": "/nix/store/0000000000000000000000000000000%d-nixos-system-node-0%d", ' "$i" "$i"
                printf '"install": "/nix/store/b-install-node-0%d"}}\n' "$i"
        done
        echo ']}'
} >"$T/inv.json"
provd_start "$T/inv.json" --api-tokens "$T/api-tokens"

# ---- the player --------------------------------------------------------------------------------
cat >"$T/player.py" <<'PY'
import json, os, sys, time, urllib.request, urllib.error

url, tdir = sys.argv[1], sys.argv[2]
INSTALL_S, BOOT_S, REPORT_EVERY = 1.0, 0.5, 1.0
log = open(os.path.join(tdir, "player.log"), "a", buffering=1)

def req(method, path, token=None, body=None):
    data = json.dumps(body).encode() if body is not None else None
    r = urllib.request.Request(url + path, data=data, method=method)
    if token:
        r.add_header("Authorization", "Bearer " + token)
    if data is not None:
        r.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(r, timeout=5) as a:
            return a.status, json.loads(a.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, None

def names(f):
    try:
        return set(open(os.path.join(tdir, f)).read().split())
    except OSError:
        return set()

toplevel, rec = {}, {}
deadline = time.time() + 170
while time.time() < deadline and not os.path.exists(os.path.join(tdir, "player.stop")):
    silent = names("silent")
    st, j = req("GET", "/v1/nodes")
    for n in (j or {}).get("nodes", []) if st == 200 else []:
        name, state, now = n["name"], n["state"], time.time()
        r = rec.setdefault(name, {})
        if name not in toplevel:
            toplevel[name] = req("GET", "/v1/nodes/" + name)[1]["system"]["toplevel"]
        if state in ("new", "pending"):
            st, b = req("GET", "/v1/boot/" + n["mac"][0])
            if st == 200:
                tok = [w.split("=", 1)[1] for w in b["cmdline"].split() if w.startswith("provd.token=")][0]
                rec[name] = {"token": tok, "phase": "netbooting"}
                log.write("%.3f %s booted\n" % (now, name))
        elif state == "netbooting" and r.get("phase") == "netbooting":
            if req("POST", "/v1/install/events", r["token"], {"phase": "started"})[0] == 200:
                st, c = req("POST", "/v1/install/credential", r["token"])
                if st == 200:
                    r.update(phase="installing", cred=c["credential"], started=now)
        elif state == "installing" and r.get("phase") == "installing":
            if now - r["started"] >= INSTALL_S:
                if req("POST", "/v1/install/events", r["token"], {"phase": "succeeded"})[0] == 200:
                    r.update(phase="installed", installed=now, reported=0)
                    log.write("%.3f %s installed\n" % (now, name))
        elif state == "installed" and r.get("phase") == "installed" and name not in silent:
            if now - r["installed"] >= BOOT_S and now - r["reported"] >= REPORT_EVERY:
                sys_path = toplevel[name]
                st, _ = req("POST", "/v1/nodes/%s/report" % name, r["cred"],
                            {"running": sys_path, "booted": sys_path, "kernel": "6.1.0", "uptime": now - r["installed"]})
                r["reported"] = now
                log.write("%.3f %s report %d\n" % (now, name, st))
    time.sleep(0.1)
PY
python3 "$T/player.py" "$URL" "$T" 2>"$T/player.err" &
PLAYER=$!
PIDS+=("$PLAYER")

# all_in_sync: waits up to 20 s until every node is installed and in_sync.
all_in_sync() {
        local i
        for i in $(seq 1 200); do
                http GET '/v1/nodes?state=installed&drift=in_sync'
                [ "$(printf '%s' "$BODY" | jq '.nodes | length')" = 8 ] && return 0
                kill -0 "$PLAYER" 2>/dev/null || fail "the player died: $(cat "$T/player.err")"
                sleep 0.1
        done
        fail "not every node is installed and in_sync: $(printf '%s' "$BODY" | jq -c '[.nodes[].name]')"
}
all_in_sync
ok "before the roll: 8 nodes installed once, each reporting its system (in_sync)"

# ---- roll 1 ------------------------------------------------------------------------------------
export HOOKS_LOG=$T/hooks.log
: >"$HOOKS_LOG"
cat >"$T/before.sh" <<'SH'
#!/usr/bin/env bash
state=$(curl -s "$PROVD_URL/v1/nodes/$PROVD_NODE" | jq -r .state)
echo "$(date +%s%N) before-start $PROVD_NODE $PROVD_HOOK $state" >>"$HOOKS_LOG"
echo "draining $PROVD_NODE"
if [ "$PROVD_NODE" = node-02 ]; then
        echo "node-02 runs a job that cannot be drained" >&2
        echo "$(date +%s%N) before-end $PROVD_NODE failed" >>"$HOOKS_LOG"
        exit 3
fi
sleep 0.2
echo "$(date +%s%N) before-end $PROVD_NODE ok" >>"$HOOKS_LOG"
SH
cat >"$T/after.sh" <<'SH'
#!/usr/bin/env bash
seen=$(curl -s "$PROVD_URL/v1/nodes/$PROVD_NODE" | jq -r '[.state, .drift, .state_since, (.report.reported_at // "none")] | join(" ")')
echo "$(date +%s%N) after-start $PROVD_NODE $PROVD_HOOK $seen" >>"$HOOKS_LOG"
echo "resuming $PROVD_NODE"
sleep 0.5 # long enough that a slot freed before --after ended would start another node meanwhile
if [ "$PROVD_NODE" = node-04 ]; then # still in flight when node-03 times out
        for i in $(seq 1 300); do
                grep -q 'node-03  timeout' "$ROLL_ERR" && break
                sleep 0.1
        done
        echo "$(date +%s%N) after-end $PROVD_NODE" >>"$HOOKS_LOG"
        exit 5
fi
echo "$(date +%s%N) after-end $PROVD_NODE" >>"$HOOKS_LOG"
SH
chmod +x "$T/before.sh" "$T/after.sh"
http GET /v1/summary
first_event=$(printf '%s' "$BODY" | jq .last_event_id)
echo node-03 >"$T/silent"
export ROLL_ERR=$T/roll.err
start=$(date +%s)
cli reinstall --all --parallel 2 --gate-timeout 8 --before "$T/before.sh" --after "$T/after.sh" >"$T/roll.out" 2>"$ROLL_ERR" &
RPID=$!
PIDS+=("$RPID")
for i in $(seq 1 450); do
        kill -0 "$RPID" 2>/dev/null || break
        sleep 0.1
done
kill -0 "$RPID" 2>/dev/null && fail "roll 1 did not end within 45 s: $(cat "$T/roll.out" "$T/roll.err")"
rc=0
wait "$RPID" || rc=$?
elapsed=$(($(date +%s) - start))
no_sanitizer "$T/roll.err"
[ "$rc" = 4 ] || fail "roll 1 exited $rc, expected 4 (stopped); stdout: $(cat "$T/roll.out"); stderr: $(cat "$T/roll.err")"
result() { # NODE RESULT [MESSAGE-REGEX]
        local re="^$1  +$2 *\$"
        [ -z "${3:-}" ] || re="^$1  +$2  +$3\$"
        grep -qE "$re" "$T/roll.out" || fail "no result line '$1 $2 ${3:-}': $(cat "$T/roll.out")"
}
[ "$(head -n1 "$T/roll.out" | tr -s ' ')" = "NODE RESULT MESSAGE" ] || fail "header: $(cat "$T/roll.out")"
[ "$(wc -l <"$T/roll.out")" = 9 ] || fail "not one line per node: $(cat "$T/roll.out")"
result node-01 in_sync
result node-02 skipped '--before exited 3'
result node-03 timeout 'installed, no report since the install; drift in_sync is from an older report'
result node-04 in_sync '--after exited 5'
for n in node-05 node-06 node-07 node-08; do
        result "$n" not-submitted 'roll stopped: node-03 did not come back within --gate-timeout'
done
grep -q 'reinstalling 8 nodes, at most 2 at once; a node is done when it reports running its system (--gate-timeout 8s)' "$T/roll.err" ||
        fail "no start line: $(cat "$T/roll.err")"
grep -qE 'node-01  --before: draining node-01$' "$T/roll.err" || fail "--before's stdout is not passed through: $(cat "$T/roll.err")"
grep -qE 'node-02  --before: node-02 runs a job that cannot be drained$' "$T/roll.err" || fail "--before's stderr: $(cat "$T/roll.err")"
grep -qE 'node-02  skipped, not reinstalled: --before exited 3' "$T/roll.err" || fail "no skip progress: $(cat "$T/roll.err")"
grep -qE 'node-04  --after: resuming node-04$' "$T/roll.err" || fail "--after's output: $(cat "$T/roll.err")"
grep -qE 'node-01  installed; waiting for it to report' "$T/roll.err" || fail "no gate progress: $(cat "$T/roll.err")"
grep -qE 'node-01  in_sync' "$T/roll.err" || fail "no in_sync progress: $(cat "$T/roll.err")"
grep -qE 'the roll stops: node-03 did not come back in time; 4 nodes not started; waiting for the 1 in flight' "$T/roll.err" ||
        fail "no stop message: $(cat "$T/roll.err")"
grep -qE '2/8 in_sync, 0 failed, 1 skipped, 1 timed out, 0 in progress, 4 not started \(roll stopped\)' "$T/roll.err" ||
        fail "no final summary: $(cat "$T/roll.err")"
ok "roll 1 (${elapsed} s): node-02 skipped by its --before, node-03 timed out and stopped the roll, node-04 (in flight) passed, --after's failure in its result, node-05..08 not started; exit 4"

# Who was started and what provd saw: node-05..08 untouched, node-02 not reinstalled.
http GET "/v1/events?since=$first_event&limit=1000"
printf '%s' "$BODY" | jq -r '.events[] | select(.to == "pending") | .node' | sort | tr '\n' ' ' >"$T/pending"
[ "$(cat "$T/pending")" = "node-01 node-03 node-04 " ] || fail "reinstalled during roll 1: $(cat "$T/pending") (expected node-01 node-03 node-04)"
[ "$(awk '$2 == "before-start" { print $3 }' "$HOOKS_LOG" | sort | tr '\n' ' ')" = "node-01 node-02 node-03 node-04 " ] ||
        fail "--before ran for: $(awk '$2 == "before-start" { print $3 }' "$HOOKS_LOG" | tr '\n' ' ')"
[ "$(awk '$2 == "after-start" { print $3 }' "$HOOKS_LOG" | sort | tr '\n' ' ')" = "node-01 node-04 " ] ||
        fail "--after ran for: $(awk '$2 == "after-start" { print $3 }' "$HOOKS_LOG" | tr '\n' ' ') (not for a skipped or timed-out node)"
ok "provd's events agree: only node-01, node-03, node-04 were reinstalled; --before ran for node-01..04, --after for node-01 and node-04"

# --before ran while the node was still installed (not yet pending) and ended before provd
# marked it pending; --after saw the node installed and in_sync from a report newer than the
# install, with PROVD_HOOK set.
awk '$2 == "before-start" && ($4 != "before" || $5 != "installed") { print; bad = 1 } END { exit bad }' "$HOOKS_LOG" ||
        fail "--before ran when the node was not installed any more, or without PROVD_HOOK: $(cat "$HOOKS_LOG")"
awk '$2 == "after-start" && ($4 != "after" || $5 != "installed" || $6 != "in_sync" || $8 < $7) { print; bad = 1 } END { exit bad }' \
        "$HOOKS_LOG" || fail "--after ran before a fresh in_sync report: $(cat "$HOOKS_LOG")"
printf '%s' "$BODY" | jq -r '.events[] | select(.to == "pending") | "\(.node) \(.at)"' >"$T/pending-at"
python3 - "$HOOKS_LOG" "$T/pending-at" <<'PY' || fail "a reinstall was requested before its --before ended (see above)"
import sys, datetime
ends = {}
for line in open(sys.argv[1]):
    f = line.split()
    if f[1] == "before-end":
        ends[f[2]] = int(f[0]) / 1e9
for line in open(sys.argv[2]):
    node, at = line.split()
    t = datetime.datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp()
    if not ends.get(node) or t + 0.001 < ends[node]:
        print("%s pending at %s, its --before ended at %s" % (node, t, ends.get(node)))
        sys.exit(1)
PY
ok "--before ran right before the request (node still installed, pending after it ended); --after after a fresh in_sync report, PROVD_NODE/PROVD_URL/PROVD_HOOK set"

# Never more than 2 nodes between the start of their --before and the end of their --after (a
# skipped node until its --before ended; the timed-out node until the end), and 2 were used.
peak=$(sort -n "$HOOKS_LOG" | awk '
        $2 == "before-start" { n++ }
        $2 == "before-end" && $4 == "failed" { n-- }
        $2 == "after-end" { n-- }
        { if (n > peak) peak = n; if (n > 2) { print "over: " $0 > "/dev/stderr" } }
        END { print peak }')
[ "$peak" = 2 ] || fail "at most $peak nodes in flight at once (expected 2): $(sort -n "$HOOKS_LOG")"
ok "never more than 2 nodes in flight, counting --before and --after (peak $peak)"

# ---- roll 2: gated by default ------------------------------------------------------------------
: >"$T/silent"
all_in_sync
start=$(date +%s)
rc=0
cli reinstall 'node-0[56]' --parallel 1 --json >"$T/roll2.out" 2>"$T/roll2.err" || rc=$?
no_sanitizer "$T/roll2.err"
[ "$rc" = 0 ] || fail "roll 2 exited $rc: $(cat "$T/roll2.out" "$T/roll2.err")"
[ "$(jq -c '[.results[] | .node + ":" + .result]' "$T/roll2.out")" = '["node-05:in_sync","node-06:in_sync"]' ] ||
        fail "roll 2 results: $(cat "$T/roll2.out")"
[ "$(jq -c '[.gate, .stopped_by]' "$T/roll2.out")" = '[true,null]' ] || fail "roll 2 gate/stopped_by: $(cat "$T/roll2.out")"
[ "$(jq -c '[.nodes[] | .name + ":" + .drift]' "$T/roll2.out")" = '["node-05:in_sync","node-06:in_sync"]' ] ||
        fail "roll 2 final nodes: $(cat "$T/roll2.out")"
grep -q 'node-05  in_sync' "$T/roll2.err" || fail "roll 2 progress: $(cat "$T/roll2.err")"
ok "roll 2 without gate flags: gated by default (in_sync after a fresh report), exit 0, --json ($(($(date +%s) - start)) s)"

# ---- --no-gate: installed is done --------------------------------------------------------------
echo node-07 >"$T/silent"
rc=0
cli reinstall node-07 --wait --no-gate --after 'echo "after $PROVD_NODE"' >"$T/roll3.out" 2>"$T/roll3.err" || rc=$?
no_sanitizer "$T/roll3.err"
[ "$rc" = 0 ] || fail "--no-gate exited $rc: $(cat "$T/roll3.out" "$T/roll3.err")"
grep -qE '^node-07  +installed *$' "$T/roll3.out" || fail "--no-gate result: $(cat "$T/roll3.out")"
grep -q 'node-07  --after: after node-07' "$T/roll3.err" || fail "--no-gate --after: $(cat "$T/roll3.err")"
grep -q 'waiting for it to report' "$T/roll3.err" && fail "--no-gate waited for a report: $(cat "$T/roll3.err")"
ok "--no-gate: a node that never reports is done when installed, --after runs then, exit 0"

# ---- a hung --before: killed after --hook-timeout with its process group; skipped ----------------
start=$(date +%s%N)
rc=0
cli reinstall node-08 --wait --hook-timeout 1 --before 'echo $$ >"$HOOKS_LOG.pgid"; sleep 60; echo never' \
        >"$T/roll4.out" 2>"$T/roll4.err" || rc=$?
ms=$((($(date +%s%N) - start) / 1000000))
no_sanitizer "$T/roll4.err"
[ "$rc" = 1 ] || fail "a hung --before: exit $rc: $(cat "$T/roll4.out" "$T/roll4.err")"
grep -qE '^node-08  +skipped  +--before timed out after 1s \(killed\)$' "$T/roll4.out" || fail "hung --before: $(cat "$T/roll4.out")"
[ "$ms" -lt 8000 ] || fail "the hung --before took $ms ms to end with --hook-timeout 1"
pgid=$(cat "$HOOKS_LOG.pgid")
sleep 0.2
# (zombies do not count: a killed child of the killed shell waits for whoever adopts it)
[ -z "$(ps -eo pgid=,stat=,comm= | awk -v g="$pgid" '$1 == g && $2 !~ /^Z/')" ] ||
        fail "the hung --before's process group $pgid still runs: $(ps -eo pgid,pid,stat,comm | awk -v g="$pgid" '$1 == g')"
http GET /v1/nodes/node-08
jq_eq .state installed
ok "a hung --before: killed with its process group after --hook-timeout 1 (${ms} ms), node skipped, exit 1"

touch "$T/player.stop"
wait "$PLAYER" || fail "the player failed: $(cat "$T/player.err")"
provd_stop
