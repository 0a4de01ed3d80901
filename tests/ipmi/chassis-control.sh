#!/bin/sh
# chassis-control.sh DIR get|set ARGS... — the `chassis_control` program of an ipmi_sim test
# BMC.  ipmi_sim (OpenIPMI 2.0.33, lanserv/extcmd.c) runs it synchronously as
#   PROGRAM get power boot ...    -> print "power:0|1" / "boot:none|pxe|default|cdrom|bios"
#   PROGRAM set power 0|1 / set reset 1 / set boot DEV / set shutdown 1 ...
# The chassis state lives in files under DIR so a test can read it: DIR/power ("0"/"1"),
# DIR/boot (the last boot device), and DIR/events, one line per "set" ("power 0", "reset 1",
# "boot pxe"...) in the order ipmi_sim asked for them.
# While DIR/hang exists the program waits, and so does the whole simulator (it runs the
# program synchronously): a BMC that stops answering in the middle of a session.
dir=$1
op=$2
shift 2
while [ -e "$dir/hang" ]; do sleep 0.1; done
[ -f "$dir/power" ] || echo 0 >"$dir/power"
[ -f "$dir/boot" ] || echo none >"$dir/boot"
case $op in
get)
        for item in "$@"; do
                case $item in
                power) echo "power:$(cat "$dir/power")" ;;
                boot) echo "boot:$(cat "$dir/boot")" ;;
                esac
        done
        ;;
set)
        while [ $# -ge 2 ]; do
                echo "$1 $2" >>"$dir/events"
                case $1 in
                power) echo "$2" >"$dir/power" ;;
                boot) echo "$2" >"$dir/boot" ;;
                shutdown) [ "$2" = 1 ] && echo 0 >"$dir/power" ;;
                esac
                shift 2
        done
        ;;
esac
exit 0
