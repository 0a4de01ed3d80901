# listening.sh — sourced by the integration tests: wait for a starting provd to log
# "listening on URL".
#   provd_listening_url LOG PID   prints the URL once LOG has the line (up to 10 s);
#                                 returns 1 if PID exits first or time runs out.
provd_listening_url() {
        local log=$1 pid=$2 i
        for i in $(seq 1 200); do
                if grep -q -E 'listening on https?://' "$log" 2>/dev/null; then
                        grep -oE 'listening on https?://[^ ]*' "$log" | tail -n1 | cut -d' ' -f3
                        return 0
                fi
                kill -0 "$pid" 2>/dev/null || return 1
                sleep 0.05
        done
        return 1
}
