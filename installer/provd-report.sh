#!/bin/sh
# provd-report.sh — report install progress of a netbooted node to provd.
#
# POSIX sh; runs under busybox sh, dash and bash. Use it as a library:
#
#     . /path/to/provd-report.sh
#     provd_report started "installer up"
#     url=$(provd_cmdline_get provd.url)
#     provd_install_credential /mnt    # the node credential, into the installed system
#
# or as a script:  provd-report.sh PHASE MESSAGE
#
# Configuration: provd.url= and provd.token= on the kernel command line
# (/proc/cmdline, or the file named by $PROVD_CMDLINE_FILE), overridden by
# $PROVD_URL and $PROVD_TOKEN.  Tuning: $PROVD_REPORT_TRIES (attempts for a
# transient failure, default 6), $PROVD_REPORT_TIMEOUT (seconds per request,
# default 15), $PROVD_REPORT_STATE (directory remembering sent terminal
# phases, default /run/provd-report, else ${TMPDIR:-/tmp}/provd-report).
#
# HTTP: curl when it is on PATH, otherwise wget (busybox or GNU).
#
# provd_report returns
#   0  provd accepted the event (2xx), or a terminal phase (succeeded/failed)
#      was already sent with this token and provd now answers 403
#   1  provd rejected the event for good (400, 401, 403, other 4xx)
#   2  usage or configuration error (no URL/token, bad phase, no HTTP client)
#   3  still failing after the retries (connection errors, timeouts, 5xx)
#
# Everything this file defines starts with provd_ or _provd_, so it can be
# sourced into other scripts; it sets no shell options.

# provd_cmdline_get KEY — print the value of KEY=VALUE from the kernel command
# line; the last occurrence wins, double quotes are removed as the kernel
# does ('provd.msg="a b"').  Returns 1 when KEY=... is absent.
provd_cmdline_get() {
	_provd_cg_key=$1
	_provd_cg_line=$(cat "${PROVD_CMDLINE_FILE:-/proc/cmdline}" 2>/dev/null) || return 1
	_provd_cg_found=1
	_provd_cg_val=
	_provd_cg_ws=$(printf ' \t\n\r.')
	_provd_cg_ws=${_provd_cg_ws%.}
	while :; do
		# skip whitespace
		_provd_cg_line=${_provd_cg_line#"${_provd_cg_line%%[!"$_provd_cg_ws"]*}"}
		[ -n "$_provd_cg_line" ] || break
		# one word: unquoted runs and "quoted runs" until unquoted whitespace
		_provd_cg_word=
		while [ -n "$_provd_cg_line" ]; do
			case $_provd_cg_line in
			[\"]*)
				_provd_cg_line=${_provd_cg_line#?}
				case $_provd_cg_line in
				*\"*)
					_provd_cg_word=$_provd_cg_word${_provd_cg_line%%\"*}
					_provd_cg_line=${_provd_cg_line#*\"}
					;;
				*)
					_provd_cg_word=$_provd_cg_word$_provd_cg_line
					_provd_cg_line=
					;;
				esac
				;;
			["$_provd_cg_ws"]*)
				break
				;;
			*)
				_provd_cg_chunk=${_provd_cg_line%%["$_provd_cg_ws"\"]*}
				_provd_cg_word=$_provd_cg_word$_provd_cg_chunk
				_provd_cg_line=${_provd_cg_line#"$_provd_cg_chunk"}
				;;
			esac
		done
		case $_provd_cg_word in
		"$_provd_cg_key"=*)
			_provd_cg_val=${_provd_cg_word#"$_provd_cg_key"=}
			_provd_cg_found=0
			;;
		esac
	done
	[ "$_provd_cg_found" = 0 ] || return 1
	printf '%s\n' "$_provd_cg_val"
}

# provd_json_string STRING — print STRING as a JSON string literal, quotes
# included: backslash and double quote escaped, \n \r \t \b \f, other control
# characters as \u00XX.  Bytes >= 0x80 are passed through unchanged.
provd_json_string() {
	_provd_js_in=$1
	_provd_js_out=
	while [ -n "$_provd_js_in" ]; do
		# longest prefix free of characters that need escaping
		_provd_js_pre=${_provd_js_in%%[\"\\[:cntrl:]]*}
		_provd_js_out=$_provd_js_out$_provd_js_pre
		_provd_js_in=${_provd_js_in#"$_provd_js_pre"}
		[ -n "$_provd_js_in" ] || break
		_provd_js_rest=${_provd_js_in#?}
		_provd_js_c=${_provd_js_in%"$_provd_js_rest"}
		_provd_js_in=$_provd_js_rest
		# shellcheck disable=SC1003 # '\\' is meant: backslash backslash
		case $_provd_js_c in
		\") _provd_js_c='\"' ;;
		\\) _provd_js_c='\\' ;;
		"
") _provd_js_c='\n' ;;
		*)
			_provd_js_n=$(printf '%d' "'$_provd_js_c" 2>/dev/null) || _provd_js_n=-1
			case $_provd_js_n in
			9) _provd_js_c='\t' ;;
			13) _provd_js_c='\r' ;;
			8) _provd_js_c='\b' ;;
			12) _provd_js_c='\f' ;;
			[0-9] | [12][0-9] | 3[01])
				_provd_js_c=$(printf '\\u%04x' "$_provd_js_n")
				;;
			esac
			;;
		esac
		_provd_js_out=$_provd_js_out$_provd_js_c
	done
	printf '"%s"\n' "$_provd_js_out"
}

_provd_log() {
	printf 'provd-report: %s\n' "$*" >&2
}

# _provd_post URL TOKEN BODY — one POST; sets _provd_status to the HTTP
# status ("000" when no response arrived) and _provd_resp to the body or
# the client's error text.
_provd_post() {
	_provd_status=000
	_provd_resp=
	if command -v curl >/dev/null 2>&1; then
		_provd_resp=$(curl -sS -w '\n%{http_code}' -X POST \
			--connect-timeout 5 --max-time "${PROVD_REPORT_TIMEOUT:-15}" \
			-H "Authorization: Bearer $2" \
			-H 'Content-Type: application/json' \
			--data-binary "$3" "$1" 2>&1)
		_provd_status=${_provd_resp##*"
"}
		case $_provd_resp in
		*"
"*) _provd_resp=${_provd_resp%"
"*} ;;
		*) _provd_resp= ;;
		esac
		case $_provd_status in
		[1-5][0-9][0-9]) ;;
		*) _provd_status=000 ;;
		esac
	elif command -v wget >/dev/null 2>&1; then
		# wget exits non-zero on any non-2xx answer; with -S both busybox
		# and GNU wget print the status line ("  HTTP/1.1 401 ...") to
		# stderr, and busybox also prints "server returned error: HTTP/...".
		#
		# Timeouts: GNU wget takes -T (and -t 1: no retries of its own).
		# Debian's busybox 1.35 is built without -T and *crashes* when
		# given it, so busybox wget runs under timeout(1) when there is
		# one.
		_provd_p_url=$1 _provd_p_token=$2 _provd_p_body=$3
		set -- wget -q -S -O-
		if wget --version 2>/dev/null | grep -q 'GNU Wget'; then
			set -- "$@" -T "${PROVD_REPORT_TIMEOUT:-15}" -t 1
		elif command -v timeout >/dev/null 2>&1; then
			set -- timeout "${PROVD_REPORT_TIMEOUT:-15}" "$@"
		fi
		_provd_tmp=$(mktemp "${TMPDIR:-/tmp}/provd-report.XXXXXX") || return 2
		_provd_resp=$("$@" \
			--header "Authorization: Bearer $_provd_p_token" \
			--header 'Content-Type: application/json' \
			--post-data "$_provd_p_body" "$_provd_p_url" 2>"$_provd_tmp")
		_provd_rc=$?
		_provd_err=$(cat "$_provd_tmp")
		rm -f "$_provd_tmp"
		_provd_status=000
		while IFS= read -r _provd_l; do
			case $_provd_l in
			*HTTP/[0-9]*\ [1-5][0-9][0-9]*)
				_provd_l=${_provd_l#*HTTP/}
				_provd_l=${_provd_l#* }
				_provd_status=${_provd_l%"${_provd_l#???}"}
				;;
			esac
		done <<EOF
$_provd_err
EOF
		if [ "$_provd_status" = 000 ] && [ "$_provd_rc" = 0 ]; then
			# a wget without -S output: success means some 2xx
			_provd_status=200
		fi
		if [ "$_provd_rc" != 0 ]; then
			# keep the error text without the header dump
			_provd_resp="$_provd_resp $(printf '%s\n' "$_provd_err" | grep -v '^  ' | tail -n 3)"
		fi
	else
		_provd_log "neither curl nor wget found in PATH"
		return 2
	fi
	# one line, for messages
	_provd_resp=$(printf '%s' "$_provd_resp" | tr '\n\r' '  ')
	return 0
}

# _provd_url_token — sets _provd_url (without a trailing /) and _provd_token from
# PROVD_URL/PROVD_TOKEN or the kernel command line (provd.url=, provd.token=); logs and
# returns 2 when either is missing or the token is malformed.
_provd_url_token() {
	_provd_url=${PROVD_URL:-$(provd_cmdline_get provd.url)}
	_provd_token=${PROVD_TOKEN:-$(provd_cmdline_get provd.token)}
	if [ -z "$_provd_url" ] || [ -z "$_provd_token" ]; then
		_provd_log "no provd.url/provd.token on the kernel command line (or PROVD_URL/PROVD_TOKEN)"
		return 2
	fi
	case $_provd_token in
	*[!A-Za-z0-9_-]*)
		_provd_log "malformed provd.token"
		return 2
		;;
	esac
	_provd_url=${_provd_url%/}
}

# provd_report PHASE MESSAGE — send one install event to provd; see the
# header for return values.
provd_report() {
	_provd_phase=$1
	_provd_msg=${2-}
	case $_provd_phase in
	'' | *[!a-z_-]*)
		_provd_log "invalid phase '$_provd_phase'"
		return 2
		;;
	esac
	_provd_url_token || return 2
	_provd_url=$_provd_url/v1/install/events

	# Terminal phases are remembered, so that a 403 ("this attempt already
	# ended") after our own earlier report — maybe one whose answer was
	# lost — counts as "already recorded" rather than as a failure.
	_provd_mark=
	case $_provd_phase in
	succeeded | failed)
		_provd_sdir=${PROVD_REPORT_STATE:-/run/provd-report}
		if ! mkdir -p "$_provd_sdir" 2>/dev/null || ! [ -w "$_provd_sdir" ]; then
			_provd_sdir=${TMPDIR:-/tmp}/provd-report
			mkdir -p "$_provd_sdir" 2>/dev/null
		fi
		_provd_mark=$_provd_sdir/sent-$_provd_phase-$_provd_token
		;;
	esac
	_provd_sent_before=0
	[ -n "$_provd_mark" ] && [ -e "$_provd_mark" ] && _provd_sent_before=1

	_provd_body="{\"phase\":\"$_provd_phase\",\"message\":$(provd_json_string "$_provd_msg")}"
	_provd_tries=${PROVD_REPORT_TRIES:-6}
	_provd_try=1
	_provd_delay=1
	_provd_ascii=0
	while :; do
		# mark before sending: once the request may have left, provd may
		# have recorded it
		[ -n "$_provd_mark" ] && : >"$_provd_mark" 2>/dev/null
		_provd_post "$_provd_url" "$_provd_token" "$_provd_body" || return 2
		case $_provd_status in
		2??)
			return 0
			;;
		400)
			# provd could not take the body; the only thing that can be
			# wrong with it is a message that is not valid UTF-8: retry
			# once with a plain ASCII message
			if [ "$_provd_ascii" = 0 ]; then
				_provd_ascii=1
				_provd_msg=$(printf '%s' "$_provd_msg" | tr -c '\11\12\15\40-\176' '?')
				_provd_body="{\"phase\":\"$_provd_phase\",\"message\":$(provd_json_string "$_provd_msg")}"
				continue
			fi
			_provd_log "provd rejected the '$_provd_phase' event as malformed (400): $_provd_resp"
			return 1
			;;
		401)
			_provd_log "provd does not know this install token (401): the install attempt was replaced or provd's state was reset; not retrying"
			return 1
			;;
		403)
			if [ -n "$_provd_mark" ] && { [ "$_provd_sent_before" = 1 ] || [ "$_provd_try" -gt 1 ]; }; then
				_provd_log "'$_provd_phase' already recorded by provd"
				return 0
			fi
			_provd_log "provd refused the '$_provd_phase' event (403): this install attempt has already ended; not retrying"
			return 1
			;;
		4??)
			_provd_log "provd rejected the '$_provd_phase' event ($_provd_status): $_provd_resp"
			return 1
			;;
		esac
		# 000 (no answer), 5xx, 1xx/3xx: transient
		if [ "$_provd_try" -ge "$_provd_tries" ]; then
			_provd_log "giving up on '$_provd_phase' after $_provd_try attempts (last: HTTP $_provd_status $_provd_resp)"
			return 3
		fi
		_provd_log "'$_provd_phase' attempt $_provd_try failed (HTTP $_provd_status $_provd_resp); retrying in ${_provd_delay}s"
		sleep "$_provd_delay"
		_provd_try=$((_provd_try + 1))
		_provd_delay=$((_provd_delay * 2))
		[ "$_provd_delay" -le 8 ] || _provd_delay=8
	done
}

# provd_install_credential ROOT — ask provd for this node's credential
# (POST /v1/install/credential with the install token; provd answers while
# the install attempt is open, with a new credential each time) and store it
# in the installed system mounted at ROOT, for provd-node-report.sh:
#   ROOT/var/lib/provd-node/            directory, mode 0700
#   ROOT/var/lib/provd-node/credential  the credential
#   ROOT/var/lib/provd-node/url         provd's URL (provd.url / PROVD_URL)
#   ROOT/var/lib/provd-node/node        the node's name, as provd answered
# files mode 0600, all owned by root when run as root.  ROOT must hold ROOT/nix/store (an
# installed NixOS), and the directory must not lie in a Nix store.  The
# credential is never printed, logged or passed as an argument.
# Returns 0 stored; 1 provd refused (4xx; the status is in PROVD_HTTP_STATUS:
# 404 is a provd without node credentials); 2 usage, configuration or a write
# that failed; 3 still failing after the retries (as provd_report).
provd_install_credential() {
	PROVD_HTTP_STATUS=
	_provd_root=${1:-}
	case $_provd_root in
	/*) ;;
	*)
		_provd_log "provd_install_credential: the target root must be an absolute path (got '$_provd_root')"
		return 2
		;;
	esac
	if ! [ -d "$_provd_root/nix/store" ]; then
		_provd_log "$_provd_root does not hold an installed NixOS (no $_provd_root/nix/store): not storing the node credential there"
		return 2
	fi
	_provd_url_token || return 2

	_provd_tries=${PROVD_REPORT_TRIES:-6}
	_provd_try=1
	_provd_delay=1
	while :; do
		_provd_post "$_provd_url/v1/install/credential" "$_provd_token" "" || return 2
		# shellcheck disable=SC2034 # read by callers
		PROVD_HTTP_STATUS=$_provd_status
		case $_provd_status in
		2??) break ;;
		4??)
			# an error answer holds no credential: safe to show
			_provd_log "provd refused the node credential ($_provd_status): $_provd_resp"
			return 1
			;;
		esac
		if [ "$_provd_try" -ge "$_provd_tries" ]; then
			_provd_log "giving up on the node credential after $_provd_try attempts (last: HTTP $_provd_status $_provd_resp)"
			return 3
		fi
		_provd_log "node credential: attempt $_provd_try failed (HTTP $_provd_status $_provd_resp); retrying in ${_provd_delay}s"
		sleep "$_provd_delay"
		_provd_try=$((_provd_try + 1))
		_provd_delay=$((_provd_delay * 2))
		[ "$_provd_delay" -le 8 ] || _provd_delay=8
	done

	# {"node": "...", "credential": "pvn_..."}; parsed in the shell, so the
	# credential passes through no other process
	_provd_cn=
	_provd_cc=
	for _provd_k in node credential; do
		_provd_v=$_provd_resp
		case $_provd_v in
		*\""$_provd_k"\"*) _provd_v=${_provd_v#*\""$_provd_k"\"} ;;
		*) _provd_v= ;;
		esac
		_provd_v=${_provd_v#"${_provd_v%%[!	 :]*}"}
		case $_provd_v in
		\"*) _provd_v=${_provd_v#\"} _provd_v=${_provd_v%%\"*} ;;
		*) _provd_v= ;;
		esac
		if [ "$_provd_k" = node ]; then _provd_cn=$_provd_v; else _provd_cc=$_provd_v; fi
	done
	_provd_resp=
	case $_provd_cn in
	'' | [!A-Za-z0-9]* | *[!A-Za-z0-9._-]*) _provd_cn= ;;
	esac
	case $_provd_cc in
	pvn_*[!A-Za-z0-9_-]* | pvn_) _provd_cc= ;;
	pvn_*) [ "${#_provd_cc}" = 47 ] || _provd_cc= ;;
	*) _provd_cc= ;;
	esac
	if [ -z "$_provd_cn" ] || [ -z "$_provd_cc" ]; then
		_provd_log "provd's answer to POST /v1/install/credential holds no node name and credential"
		return 2
	fi

	_provd_dir=$_provd_root/var/lib/provd-node
	# umask 077 from the start: the files are never readable by others, not even
	# for a moment; a subshell keeps the caller's umask.  /var/lib itself, if the
	# target has none yet, is made as NixOS makes it (0755).
	(
		umask 022
		mkdir -p "$_provd_root/var/lib" || exit 2
		umask 077
		mkdir -p "$_provd_dir" || exit 2
		# never into a Nix store (world-readable), whatever symlinks the target has
		_provd_real=$(cd "$_provd_dir" && pwd -P) || exit 2
		_provd_rstore=$(cd "$_provd_root/nix/store" && pwd -P) || exit 2
		case $_provd_real/ in
		"$_provd_rstore"/* | /nix/store/*)
			_provd_log "$_provd_dir resolves to $_provd_real, inside a Nix store: not storing the node credential there"
			exit 2
			;;
		esac
		chmod 0700 "$_provd_dir" || exit 2
		for _provd_f in credential url node; do
			case $_provd_f in
			credential) _provd_v=$_provd_cc ;;
			url) _provd_v=$_provd_url ;;
			node) _provd_v=$_provd_cn ;;
			esac
			rm -f "$_provd_dir/.$_provd_f.new" &&
				printf '%s\n' "$_provd_v" >"$_provd_dir/.$_provd_f.new" &&
				chmod 0600 "$_provd_dir/.$_provd_f.new" || exit 2
			if [ "$(id -u)" = 0 ]; then
				chown 0:0 "$_provd_dir" "$_provd_dir/.$_provd_f.new" || exit 2
			fi
			mv -f "$_provd_dir/.$_provd_f.new" "$_provd_dir/$_provd_f" || exit 2
		done
	)
	_provd_rc=$?
	_provd_cc=
	if [ "$_provd_rc" != 0 ]; then
		_provd_log "cannot write the node credential to $_provd_dir"
		return 2
	fi
	return 0
}

# Run as a script unless sourced (sourcing scripts have their own $0) or
# PROVD_REPORT_LIB=1 is set.
if [ -z "${PROVD_REPORT_LIB-}" ]; then
	case ${0##*/} in
	provd-report.sh | provd-report)
		if [ $# -lt 1 ] || [ $# -gt 2 ]; then
			echo "usage: ${0##*/} PHASE [MESSAGE]" >&2
			exit 2
		fi
		provd_report "$1" "${2-}"
		exit $?
		;;
	esac
fi
