#!/bin/sh
# provd-node-report.sh — tell provd which NixOS system this node runs.
#
# POSIX sh; runs under busybox sh, dash and bash.  Run on an installed node (nix/node.nix
# runs it at boot, on every `nixos-rebuild switch` and from a timer).  It reads three files
# that provd-autoinstall.sh wrote into the installed system (installer/README.md):
#
#   $PROVD_NODE_DIR/url         provd's base URL, as the installer reached it
#   $PROVD_NODE_DIR/node        this node's name in provd's inventory
#   $PROVD_NODE_DIR/credential  the node credential (pvn_...), a secret
#
# (PROVD_NODE_DIR defaults to /var/lib/provd-node) and sends
#
#   POST <url>/v1/nodes/<node>/report   Authorization: Bearer <credential>
#   {"running": "<readlink -f /run/current-system>", "booted": "<readlink -f /run/booted-system>",
#    "kernel": "<uname -r>", "uptime": <first field of /proc/uptime>}
#
# On success it prints provd's verdict on stdout, e.g.
#   node-07: in_sync (running /nix/store/...-nixos-system-node-07)
#
# The credential is never on a command line (where ps and /proc/PID/cmdline show it to every
# local user) nor in a message: with curl, the header goes to curl on its standard input
# (-K -); without curl, the script speaks HTTP/1.0 itself through nc (busybox's; other
# netcats are untested), for http:// URLs only.  wget is not used here: busybox wget takes headers only as
# arguments.
#
# Environment (all optional):
#   PROVD_NODE_DIR               where url, node and credential are (default /var/lib/provd-node)
#   PROVD_NODE_REPORT_TRIES      attempts for a transient failure (default 6; pauses 1, 2, 4, 8, 8 s)
#   PROVD_NODE_REPORT_TIMEOUT    seconds per request (default 15)
#   PROVD_NODE_CURRENT_SYSTEM    default /run/current-system  \
#   PROVD_NODE_BOOTED_SYSTEM     default /run/booted-system    } for tests
#   PROVD_NODE_UPTIME_FILE       default /proc/uptime         /
#
# Exit status
#   0  provd recorded the report
#   1  provd refused it for good, not retried: 401 (unknown or revoked credential: the node was
#      reinstalled, or an admin revoked it), 403 (the credential of another node), 404 (no
#      such node in the inventory), 400 or another 4xx
#   2  usage or local error: a file missing or malformed, /run/current-system or
#      /run/booted-system not a /nix/store system, no HTTP client for the URL
#   3  no answer from provd (connection errors, timeouts, 5xx) after the retries

PROG=provd-node-report

_pnr_log() {
	printf '%s: %s\n' "$PROG" "$*" >&2
}

# _pnr_read FILE — print the first line of FILE (without the shell's help: read is a builtin,
# so the credential passes through no other process).  Returns 1 if FILE is unreadable or its
# first line is empty.
_pnr_read() {
	_pnr_line=
	[ -r "$1" ] || return 1
	IFS= read -r _pnr_line <"$1" || [ -n "$_pnr_line" ] || return 1
	_pnr_line=${_pnr_line%"$(printf '\r')"}
	[ -n "$_pnr_line" ] || return 1
	printf '%s\n' "$_pnr_line"
}

# _pnr_store_path_ok PATH — is PATH a store path as provd accepts it: /nix/store/, 32
# characters of Nix's base-32 alphabet, '-', a name of 1-211 of A-Z a-z 0-9 + - . _ ? =
_pnr_store_path_ok() {
	_pnr_c='[0123456789abcdfghijklmnpqrsvwxyz]'
	_pnr_h=$_pnr_c$_pnr_c$_pnr_c$_pnr_c$_pnr_c$_pnr_c$_pnr_c$_pnr_c
	_pnr_h=$_pnr_h$_pnr_h$_pnr_h$_pnr_h
	# shellcheck disable=SC2254 # the pattern is meant to be a pattern
	case $1 in
	/nix/store/$_pnr_h-*) ;;
	*) return 1 ;;
	esac
	_pnr_name=${1#/nix/store/????????????????????????????????-}
	case $_pnr_name in
	'' | *[!A-Za-z0-9+._?=-]*) return 1 ;;
	esac
	[ "${#_pnr_name}" -le 211 ]
}

# _pnr_json_field KEY JSON — print the string value of "KEY" in a flat JSON object (provd's
# answers: no escapes in the values read here).
_pnr_json_field() {
	case $2 in
	*\"$1\"*) ;;
	*) return 1 ;;
	esac
	_pnr_v=${2#*\""$1"\"}
	_pnr_v=${_pnr_v#"${_pnr_v%%[!	 :]*}"}
	case $_pnr_v in
	\"*) _pnr_v=${_pnr_v#\"} && printf '%s\n' "${_pnr_v%%\"*}" ;;
	*) printf '%s\n' "${_pnr_v%%[,\}	 ]*}" ;;
	esac
}

# _pnr_post_curl URL CREDENTIAL BODY — sets _pnr_status ("000" when no answer) and _pnr_resp.
_pnr_post_curl() {
	# curl reads the header from its standard input (-K -): printf is a shell builtin, so the
	# credential reaches curl through a pipe, never through its arguments.
	_pnr_resp=$(printf 'header = "Authorization: Bearer %s"\n' "$2" |
		curl -sS -K - -w '\n%{http_code}' -X POST \
			--connect-timeout 5 --max-time "${PROVD_NODE_REPORT_TIMEOUT:-15}" \
			-H 'Content-Type: application/json' \
			--data-binary "$3" "$1" 2>&1)
	_pnr_status=${_pnr_resp##*"
"}
	case $_pnr_resp in
	*"
"*) _pnr_resp=${_pnr_resp%"
"*} ;;
	*) _pnr_resp= ;;
	esac
	case $_pnr_status in
	[1-5][0-9][0-9]) ;;
	*) _pnr_status=000 ;;
	esac
}

# _pnr_post_nc URL — the same over nc, HTTP/1.0, for http:// URLs.
_pnr_post_nc() {
	_pnr_status=000
	_pnr_resp=
	_pnr_rest=${1#http://}
	_pnr_hostport=${_pnr_rest%%/*}
	_pnr_path=${_pnr_rest#"$_pnr_hostport"}
	_pnr_path=/${_pnr_path#/}
	case $_pnr_hostport in
	\[*\]:*) _pnr_host=${_pnr_hostport%\]:*} _pnr_port=${_pnr_hostport##*\]:} ;;
	\[*\]) _pnr_host=${_pnr_hostport%\]} _pnr_port=80 ;;
	*:*) _pnr_host=${_pnr_hostport%:*} _pnr_port=${_pnr_hostport##*:} ;;
	*) _pnr_host=$_pnr_hostport _pnr_port=80 ;;
	esac
	_pnr_host=${_pnr_host#\[}
	case $_pnr_port in
	'' | *[!0-9]*)
		_pnr_resp="bad port in $1"
		return 0
		;;
	esac
	set -- nc -w 5 "$_pnr_host" "$_pnr_port"
	if command -v timeout >/dev/null 2>&1; then
		set -- timeout "${PROVD_NODE_REPORT_TIMEOUT:-15}" "$@"
	fi
	_pnr_cr=$(printf '\r')
	# the request, credential included, goes to nc on its standard input (printf: a builtin)
	_pnr_resp=$(printf 'POST %s HTTP/1.0\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %s\r\nConnection: close\r\n\r\n%s' \
		"$_pnr_path" "$_pnr_hostport" "$_pnr_cred" "${#_pnr_body}" "$_pnr_body" | "$@" 2>&1)
	_pnr_first=${_pnr_resp%%"$_pnr_cr"*}
	_pnr_first=${_pnr_first%%"
"*}
	case $_pnr_first in
	HTTP/[0-9]*\ [1-5][0-9][0-9]*)
		_pnr_status=${_pnr_first#* }
		_pnr_status=${_pnr_status%"${_pnr_status#???}"}
		# the body: after the first empty line
		_pnr_resp=$(printf '%s' "$_pnr_resp" | tr -d '\r')
		case $_pnr_resp in
		*"

"*) _pnr_resp=${_pnr_resp#*"

"} ;;
		*) _pnr_resp= ;;
		esac
		;;
	*)
		_pnr_resp=${_pnr_resp:-no answer from $_pnr_hostport}
		;;
	esac
}

# _pnr_post URL — POST $_pnr_body with $_pnr_cred; returns 2 when no client fits the URL.
_pnr_post() {
	if command -v curl >/dev/null 2>&1; then
		_pnr_post_curl "$1" "$_pnr_cred" "$_pnr_body"
	else
		case $1 in
		http://*) ;;
		*)
			_pnr_log "$1: without curl only http:// URLs can be reached (through nc)"
			return 2
			;;
		esac
		if ! command -v nc >/dev/null 2>&1; then
			_pnr_log "neither curl nor nc found in PATH"
			return 2
		fi
		_pnr_post_nc "$1"
	fi
	# one line, for messages
	_pnr_resp=$(printf '%s' "$_pnr_resp" | tr '\n\r' '  ')
	return 0
}

if [ $# -gt 0 ]; then
	case $1 in
	-h | --help)
		sed -n '2,/^$/s/^# \{0,1\}//p' "$0" 2>/dev/null
		exit 0
		;;
	esac
	_pnr_log "usage: $PROG (no arguments; see --help)"
	exit 2
fi

# ---------------------------------------------------------------- what to send
_pnr_dir=${PROVD_NODE_DIR:-/var/lib/provd-node}
_pnr_url=$(_pnr_read "$_pnr_dir/url") || {
	_pnr_log "cannot read provd's URL from $_pnr_dir/url (written by provd-autoinstall at install time)"
	exit 2
}
_pnr_node=$(_pnr_read "$_pnr_dir/node") || {
	_pnr_log "cannot read the node name from $_pnr_dir/node"
	exit 2
}
_pnr_cred=$(_pnr_read "$_pnr_dir/credential") || {
	_pnr_log "cannot read the node credential from $_pnr_dir/credential"
	exit 2
}
case $_pnr_url in
http://?* | https://?*) ;;
*)
	_pnr_log "$_pnr_dir/url does not hold an http:// or https:// URL"
	exit 2
	;;
esac
case $_pnr_node in
[!A-Za-z0-9]* | *[!A-Za-z0-9._-]*)
	_pnr_log "$_pnr_dir/node does not hold a node name (A-Z a-z 0-9 . _ -)"
	exit 2
	;;
esac
# pvn_ and 43 base64url characters; checked without echoing it
case $_pnr_cred in
pvn_*[!A-Za-z0-9_-]* | pvn_) _pnr_cred_ok=0 ;;
pvn_*) _pnr_cred_ok=1 ;;
*) _pnr_cred_ok=0 ;;
esac
if [ "$_pnr_cred_ok" != 1 ] || [ "${#_pnr_cred}" != 47 ]; then
	_pnr_log "$_pnr_dir/credential does not hold a node credential (pvn_ and 43 base64url characters)"
	exit 2
fi

_pnr_current=${PROVD_NODE_CURRENT_SYSTEM:-/run/current-system}
_pnr_booted=${PROVD_NODE_BOOTED_SYSTEM:-/run/booted-system}
_pnr_running=$(readlink -f "$_pnr_current" 2>/dev/null) || _pnr_running=
_pnr_boot=$(readlink -f "$_pnr_booted" 2>/dev/null) || _pnr_boot=
for _pnr_p in "$_pnr_current=$_pnr_running" "$_pnr_booted=$_pnr_boot"; do
	if ! _pnr_store_path_ok "${_pnr_p#*=}"; then
		_pnr_log "${_pnr_p%%=*} is not a NixOS system in /nix/store (it resolves to '${_pnr_p#*=}')"
		exit 2
	fi
done
_pnr_kernel=$(uname -r)
case $_pnr_kernel in
'' | *[!A-Za-z0-9._+~-]*)
	_pnr_log "uname -r gave '$_pnr_kernel', not a kernel release provd accepts"
	exit 2
	;;
esac
_pnr_uptime=
IFS=' ' read -r _pnr_uptime _ 2>/dev/null <"${PROVD_NODE_UPTIME_FILE:-/proc/uptime}"
case $_pnr_uptime in
'' | *[!0-9.]* | .* | *. | *.*.*)
	_pnr_log "cannot read the uptime from ${PROVD_NODE_UPTIME_FILE:-/proc/uptime}"
	exit 2
	;;
esac
_pnr_body="{\"running\":\"$_pnr_running\",\"booted\":\"$_pnr_boot\",\"kernel\":\"$_pnr_kernel\",\"uptime\":$_pnr_uptime}"
_pnr_target=${_pnr_url%/}/v1/nodes/$_pnr_node/report

# ---------------------------------------------------------------- send it
_pnr_tries=${PROVD_NODE_REPORT_TRIES:-6}
case $_pnr_tries in '' | *[!0-9]* | 0) _pnr_tries=6 ;; esac
_pnr_try=1
_pnr_delay=1
while :; do
	_pnr_post "$_pnr_target" || exit 2
	case $_pnr_status in
	2??)
		_pnr_drift=$(_pnr_json_field drift "$_pnr_resp") || _pnr_drift="?"
		_pnr_expected=$(_pnr_json_field expected "$_pnr_resp") || _pnr_expected="?"
		if [ "$_pnr_expected" = "$_pnr_running" ]; then
			printf '%s: %s (running %s)\n' "$_pnr_node" "$_pnr_drift" "$_pnr_running"
		else
			printf '%s: %s (running %s; provd expects %s)\n' "$_pnr_node" "$_pnr_drift" "$_pnr_running" "$_pnr_expected"
		fi
		exit 0
		;;
	401)
		_pnr_log "provd does not accept this node's credential (401): it was revoked, or the node was reinstalled since; not retrying ($_pnr_resp)"
		exit 1
		;;
	403)
		_pnr_log "provd refused the report (403): the credential in $_pnr_dir/credential is not $_pnr_node's; not retrying ($_pnr_resp)"
		exit 1
		;;
	404)
		_pnr_log "provd has no node '$_pnr_node' (404), or no node reports; not retrying ($_pnr_resp)"
		exit 1
		;;
	4??)
		_pnr_log "provd refused the report ($_pnr_status): $_pnr_resp"
		exit 1
		;;
	esac
	# 000 (no answer), 5xx, 1xx/3xx: transient
	if [ "$_pnr_try" -ge "$_pnr_tries" ]; then
		_pnr_log "giving up after $_pnr_try attempts (last: HTTP $_pnr_status $_pnr_resp)"
		exit 3
	fi
	_pnr_log "attempt $_pnr_try failed (HTTP $_pnr_status $_pnr_resp); retrying in ${_pnr_delay}s"
	sleep "$_pnr_delay"
	_pnr_try=$((_pnr_try + 1))
	_pnr_delay=$((_pnr_delay * 2))
	[ "$_pnr_delay" -le 8 ] || _pnr_delay=8
done
