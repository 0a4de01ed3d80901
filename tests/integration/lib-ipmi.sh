# lib-ipmi.sh — OpenIPMI `ipmi_sim` BMC simulators on loopback, for tests/integration/ipmi.sh
# and bench/bmc/run (bash).  The includer provides: $T (a temp dir it removes), the array
# PIDS (pids it kills at exit) and fail().  Then:
#   sim_base                 picks a free 127.A.B.0/24 (sets SIM_NET); sims get SIM_NET.N
#   sim_start N [OPTS...]    starts simulator N at $SIM_NET.N:623 (state in $T/sim/N).  OPTS:
#                              no-chassis  no chassis_control program (power/boot 0xCC)
#                              sol=PORT    Serial over LAN: lan.conf gets
#                                          `sol "tcp:127.0.0.1:PORT" 115200`; ipmi_sim connects
#                                          to PORT as a client (a VM's serial socket, or
#                                          serial_standin_start), retrying every 10 s
#                              sol=auto    the same with $SIM_SOL_PORT[N] (serial_standin_start)
#   sim_start_at N ADDR PORT [OPTS...]      the same at ADDR:PORT (e.g. ::1 and a free port)
#   serial_standin_start N [RATE [ON:OFF]]  starts tests/integration/serial-standin.py for simulator N:
#                            a fake serial port printing RATE (default 20) numbered lines/s,
#                            "standin line 000001 t=...\r\n" (with ON:OFF in bursts: ON s of
#                            lines, OFF s of silence); sets SIM_SOL_PORT[N]; every byte
#                            it sent goes to $(sim_dir N)/serial-sent.log (ground truth), bytes
#                            typed into the console to serial-recv.log.  Start it BEFORE
#                            `sim_start N sol=auto` so ipmi_sim's first connect succeeds.
#   sim_wait N...            waits (<= 15 s each) until ipmitool gets an answer from each
#   sim_stop N               SIGKILL by pid (serial_standin_stop N: the stand-in's)
#   sim_addr N, sim_port N, sim_label N   address, port, "ADDR:PORT" / "[V6]:PORT"
#   sim_dir N                state dir; sim_power/sim_boot/sim_events N read the
#                            chassis state files written by tests/ipmi/chassis-control.sh
#   sim_ipmitool N ARGS...   ipmitool -I lanplus -C 3 against simulator N (10 s at most)
# The simulators take user "u", password "Sim-Pass-4711" ($SIM_USER / $SIM_PASSWORD), admin privilege.
# Facts: ipmi_sim needs -c/-f/-s (its defaults point to /usr/etc and /usr/var),
# -n, binds with SO_REUSEADDR (so two simulators on one address would share the port: every
# simulator gets its own address, and sim_base checks nothing else listens in its /24), and
# reports errors after start only to syslog: sim_wait watches the pid.

SIM_USER=u
SIM_PASSWORD=Sim-Pass-4711
SIM_NET=
declare -A SIM_PID=() SIM_ADDR=() SIM_PORT=() SIM_SOL_PORT=() SIM_SOL_STANDIN_PID=()
LIB_IPMI_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SIM_CHASSIS_CONTROL=$LIB_IPMI_DIR/../ipmi/chassis-control.sh

# Other tests (or helpers' tests) may run simulators on 127.0.0.x at the same time: use a
# random 127.A.B.0/24 that has no UDP socket bound in it.
sim_base() {
        local try a b bound
        for try in $(seq 1 50); do
                a=$((RANDOM % 200 + 30))
                b=$((RANDOM % 250 + 1))
                bound=$(ss -Huan | awk '{print $4}')
                if ! grep -q "^127\.$a\.$b\." <<<"$bound"; then
                        SIM_NET=127.$a.$b
                        return 0
                fi
        done
        fail "no free 127.A.B.0/24 for simulators"
}

sim_addr() { echo "${SIM_ADDR[$1]:-$SIM_NET.$1}"; }
sim_port() { echo "${SIM_PORT[$1]:-623}"; }
sim_label() {
        local a
        a=$(sim_addr "$1")
        [[ $a == *:* ]] && echo "[$a]:$(sim_port "$1")" || echo "$a:$(sim_port "$1")"
}
sim_dir() { echo "$T/sim/$1"; }
sim_power() { cat "$(sim_dir "$1")/power" 2>/dev/null || echo 0; }
sim_boot() { cat "$(sim_dir "$1")/boot" 2>/dev/null || echo none; }
sim_events() { cat "$(sim_dir "$1")/events" 2>/dev/null || true; }

sim_start() {
        [ -n "$SIM_NET" ] || sim_base
        local n=$1
        shift
        sim_start_at "$n" "$SIM_NET.$n" 623 "$@"
}

sim_start_at() {
        local n=$1 addr=$2 port=$3 chassis=yes sol= opt dir
        shift 3
        for opt in "$@"; do
                case $opt in
                "") ;;
                no-chassis) chassis=no ;;
                sol=auto)
                        sol=${SIM_SOL_PORT[$n]:-}
                        [ -n "$sol" ] || fail "sim_start_at $n sol=auto: no serial_standin_start $n"
                        ;;
                sol=*) sol=${opt#sol=} ;;
                *) fail "sim_start_at: unknown option '$opt'" ;;
                esac
        done
        SIM_ADDR[$n]=$addr
        SIM_PORT[$n]=$port
        dir=$(sim_dir "$n")
        mkdir -p "$dir/state"
        {
                echo "name \"sim$n\""
                echo "set_working_mc 0x20"
                echo "startlan 1"
                echo "  addr $addr $port"
                echo "  priv_limit admin"
                echo "  allowed_auths_callback none md2 md5 straight"
                echo "  allowed_auths_user none md2 md5 straight"
                echo "  allowed_auths_operator none md2 md5 straight"
                echo "  allowed_auths_admin none md2 md5 straight"
                printf '  guid a1234567%08xa123456789abcdef\n' "$n"
                echo "endlan"
                [ "$chassis" = no ] || echo "chassis_control \"$SIM_CHASSIS_CONTROL $dir\""
                [ -z "$sol" ] || echo "sol \"tcp:127.0.0.1:$sol\" 115200"
                echo "user 2 true \"$SIM_USER\" \"$SIM_PASSWORD\" admin 10 none md2 md5 straight"
        } >"$dir/lan.conf"
        cat >"$dir/sim.emu" <<'EOF'
mc_setbmc 0x20
mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr
sel_enable 0x20 1000 0x0a
mc_enable 0x20
EOF
        ipmi_sim -c "$dir/lan.conf" -f "$dir/sim.emu" -s "$dir/state" -n \
                </dev/null >"$dir/sim.log" 2>&1 &
        SIM_PID[$n]=$!
        PIDS+=("$!")
        disown "$!" # no "Killed" job notice when the includer's cleanup kills it
}

sim_ipmitool() {
        local n=$1
        shift
        timeout 10 ipmitool -I lanplus -C 3 -H "$(sim_addr "$n")" -p "$(sim_port "$n")" \
                -U "$SIM_USER" -P "$SIM_PASSWORD" "$@"
}

sim_wait() {
        local n i
        for n in "$@"; do
                for i in $(seq 1 75); do
                        kill -0 "${SIM_PID[$n]}" 2>/dev/null ||
                                fail "ipmi_sim $n exited: $(cat "$(sim_dir "$n")/sim.log")"
                        if sim_ipmitool "$n" -N 1 -R 1 chassis power status >/dev/null 2>&1 ||
                                sim_ipmitool "$n" -N 1 -R 1 mc info >/dev/null 2>&1; then
                                continue 2
                        fi
                        sleep 0.2
                done
                fail "ipmi_sim $n at $(sim_label "$n") did not answer within 15 s"
        done
}

sim_stop() {
        local n=$1 i
        kill -KILL "${SIM_PID[$n]}" 2>/dev/null || true
        for i in $(seq 1 50); do # disowned: not waitable; gone (or a zombie) within 1 s
                [ "$(ps -o stat= -p "${SIM_PID[$n]}" 2>/dev/null | cut -c1)" = Z ] && return 0
                kill -0 "${SIM_PID[$n]}" 2>/dev/null || return 0
                sleep 0.02
        done
}

serial_standin_start() {
        local n=$1 rate=${2:-20} bursts=${3:-} dir i
        dir=$(sim_dir "$n")
        mkdir -p "$dir"
        rm -f "$dir/serial.port"
        python3 "$LIB_IPMI_DIR/serial-standin.py" "$dir/serial.port" "$dir/serial-sent.log" \
                "$rate" "$dir/serial-recv.log" ${bursts:+"$bursts"} </dev/null >"$dir/serial-standin.log" 2>&1 &
        SIM_SOL_STANDIN_PID[$n]=$!
        PIDS+=("$!")
        disown "$!"
        for i in $(seq 1 100); do
                [ -s "$dir/serial.port" ] && break
                kill -0 "${SIM_SOL_STANDIN_PID[$n]}" 2>/dev/null ||
                        fail "serial-standin.py exited: $(cat "$dir/serial-standin.log")"
                sleep 0.05
        done
        [ -s "$dir/serial.port" ] || fail "serial-standin.py did not listen within 5 s"
        SIM_SOL_PORT[$n]=$(cat "$dir/serial.port")
}

serial_standin_stop() {
        kill -KILL "${SIM_SOL_STANDIN_PID[$1]}" 2>/dev/null || true
}
