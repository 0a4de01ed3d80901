#!/bin/sh
# provd-autoinstall.sh — the installer side of provd, run once by
# provd-autoinstall.service in the NixOS netboot installer image.
#
# provd boots the installer with (besides the inventory's own arguments)
#   nixos.install=/nix/store/...-install-NODE   the node's install script
#   provd.url=URL provd.token=TOKEN provd.node=NODE
#   provd.cache=URL                              optional extra substituter
# This script
#   1. reports "started" (an attempt provd no longer knows, 401/403: stop
#      here without touching the disks);
#   2. realises the install script from the site's binary cache
#      (nix-store --realise; substituters and trusted keys come from the
#      image's nix.conf, provd.cache= adds one);
#   3. reports "installing" and runs the install script, which may report
#      "partitioning"/"installing" itself through "$PROVD_REPORT PHASE MSG";
#   4. gets the node credential from provd (POST /v1/install/credential,
#      while the attempt is open) and stores it, with provd's URL and the
#      node name, in the installed system: <target>/var/lib/provd-node/
#      (0700; files 0600), never in the Nix store.  <target> is /mnt, or the
#      path the install script wrote into "$PROVD_TARGET_ROOT_FILE".  The
#      installed system reports what it runs with it (provd-node-report.sh,
#      nix/node.nix).  A provd without node credentials (404) is warned
#      about and the install goes on;
#   5. on success reports "succeeded" and reboots; on any failure reports
#      "failed" with the exit status and the last lines of the log, and
#      does NOT reboot: the console is left to an admin.
#
# Environment (all optional):
#   PROVD_REPORT            path of provd-report.sh (default: next to this
#                           script, else provd-report on PATH)
#   PROVD_AUTOINSTALL_LOG   log file (default /run/provd-autoinstall.log)
#   PROVD_AUTOINSTALL_NOREBOOT=1  do not reboot after success
# plus provd-report.sh's PROVD_URL, PROVD_TOKEN, PROVD_CMDLINE_FILE, ...
#
# The install script gets PROVD_REPORT, PROVD_URL, PROVD_TOKEN, PROVD_NODE,
# PROVD_AUTOINSTALL_LOG and PROVD_TARGET_ROOT_FILE in its environment.
#
# Exit status: 0 installed (and reboot requested), 1 failed, 2 not started.

set -u

PROG=provd-autoinstall
LOG=${PROVD_AUTOINSTALL_LOG:-/run/provd-autoinstall.log}

msg() {
	printf '%s: %s\n' "$PROG" "$*"
	printf '%s %s: %s\n' "$(date -u '+%Y-%m-%dT%H:%M:%SZ' 2>/dev/null)" "$PROG" "$*" >>"$LOG" 2>/dev/null
}

banner() {
	printf '\n'
	printf '%s\n' "**********************************************************************"
	for _line in "$@"; do
		printf '*** %s\n' "$_line"
	done
	printf '%s\n\n' "**********************************************************************"
}

# ---------------------------------------------------------------- provd-report.sh
_self_dir=$(cd "$(dirname "$0")" 2>/dev/null && pwd)
if [ -z "${PROVD_REPORT:-}" ]; then
	for _c in "$_self_dir/provd-report.sh" "$_self_dir/provd-report" "$(command -v provd-report 2>/dev/null)"; do
		if [ -n "$_c" ] && [ -f "$_c" ]; then
			PROVD_REPORT=$_c
			break
		fi
	done
fi
if [ -z "${PROVD_REPORT:-}" ] || ! [ -f "$PROVD_REPORT" ]; then
	msg "cannot find provd-report.sh (set PROVD_REPORT)"
	exit 2
fi
# shellcheck disable=SC2034 # read by provd-report.sh: do not run as a script
PROVD_REPORT_LIB=1
# shellcheck source-path=SCRIPTDIR source=provd-report.sh
. "$PROVD_REPORT"
unset PROVD_REPORT_LIB
# the install script runs "$PROVD_REPORT PHASE MESSAGE": it must be executable
if ! [ -x "$PROVD_REPORT" ]; then
	_wrapper=/run/provd-autoinstall-report
	[ -w /run ] || _wrapper=${TMPDIR:-/tmp}/provd-autoinstall-report
	printf '#!/bin/sh\nexec /bin/sh %s "$@"\n' "'$PROVD_REPORT'" >"$_wrapper" &&
		chmod 0755 "$_wrapper" && PROVD_REPORT=$_wrapper
fi
export PROVD_REPORT

# provd_report with more patience, for the reports that must not get lost
report_patiently() {
	_rp_old=${PROVD_REPORT_TRIES-}
	PROVD_REPORT_TRIES=12
	provd_report "$@"
	_rp_rc=$?
	if [ -n "$_rp_old" ]; then PROVD_REPORT_TRIES=$_rp_old; else unset PROVD_REPORT_TRIES; fi
	return "$_rp_rc"
}

# ---------------------------------------------------------------- failure path
STAGE="starting"
FINISHED=0
_rcfile=
_rootfile=

# fail STATUS WHAT: report "failed" with the log's tail; never reboot
fail() {
	_f_status=$1
	_f_what=$2
	FINISHED=1
	trap - INT TERM HUP
	[ -z "$_rcfile" ] || rm -f "$_rcfile"
	[ -z "$_rootfile" ] || rm -f "$_rootfile"
	msg "FAILED: $_f_what (status $_f_status)"
	_f_tail=$(tail -n 25 "$LOG" 2>/dev/null | tail -c 3000)
	_f_msg=$(printf '%s (exit status %s)\n--- last lines of %s ---\n%s' \
		"$_f_what" "$_f_status" "$LOG" "$_f_tail")
	if provd_report failed "$_f_msg"; then
		_f_rep="provd was told the installation failed."
	else
		_f_rep="provd could NOT be told (see above)."
	fi
	banner "Installation of ${NODE:-this node} FAILED while $STAGE: $_f_what (status $_f_status)." \
		"$_f_rep" \
		"Not rebooting. Log: $LOG  (journalctl -u provd-autoinstall)"
	exit 1
}

# shellcheck disable=SC2317 # called from the traps
on_signal() {
	[ "$FINISHED" = 0 ] || exit 1
	fail "$2" "interrupted by SIG$1"
}
trap 'on_signal TERM 143' TERM
trap 'on_signal INT 130' INT
trap 'on_signal HUP 129' HUP

# ---------------------------------------------------------------- configuration
: >>"$LOG" 2>/dev/null || LOG=/tmp/provd-autoinstall.log

INSTALL=$(provd_cmdline_get nixos.install) || INSTALL=
NODE=${PROVD_NODE:-$(provd_cmdline_get provd.node)} || NODE=
CACHE=$(provd_cmdline_get provd.cache) || CACHE=
PROVD_URL=${PROVD_URL:-$(provd_cmdline_get provd.url)} || PROVD_URL=
PROVD_TOKEN=${PROVD_TOKEN:-$(provd_cmdline_get provd.token)} || PROVD_TOKEN=
export PROVD_URL PROVD_TOKEN PROVD_NODE="$NODE" PROVD_AUTOINSTALL_LOG="$LOG"

if [ -z "$PROVD_URL" ] || [ -z "$PROVD_TOKEN" ]; then
	msg "no provd.url=/provd.token= on the kernel command line: not booted by provd, nothing to do"
	exit 2
fi
case $INSTALL in
/nix/store/?*) ;;
*)
	# provd booted us, so it should hear about this
	fail 2 "no valid nixos.install=/nix/store/... on the kernel command line (got '$INSTALL')"
	;;
esac
case $INSTALL in
*[!A-Za-z0-9+._?=/-]*) fail 2 "malformed nixos.install path '$INSTALL'" ;;
esac

msg "node ${NODE:-?}: install $INSTALL, provd $PROVD_URL${CACHE:+, extra cache $CACHE}"

# ---------------------------------------------------------------- 1. started
STAGE="reporting started"
_addrs=$(ip -o addr show scope global 2>/dev/null | awk '{ printf "%s%s %s", (NR > 1 ? ", " : ""), $2, $4 }')
report_patiently started "installer up on $(uname -r); ${_addrs:-no global address}; installing $INSTALL"
_rc=$?
case $_rc in
0) ;;
1)
	# 401/403: this is not (or no longer) the node's current attempt;
	# another one may be running — do not touch the disks
	FINISHED=1
	banner "provd refused this install attempt (see above): not installing." \
		"Not rebooting. Log: $LOG"
	exit 2
	;;
*)
	FINISHED=1
	banner "Cannot reach provd at $PROVD_URL (see above): not installing," \
		"because provd could never learn the outcome." \
		"Not rebooting. Log: $LOG"
	exit 2
	;;
esac

# ---------------------------------------------------------------- 2. realise
STAGE="fetching the install script"
set -- nix-store --realise "$INSTALL"
if [ -n "$CACHE" ]; then
	set -- "$@" --option extra-substituters "$CACHE"
fi
msg "running: $*"
# 'tee' for the console and the log; the exit status goes through a file
_rcfile=$(mktemp "${TMPDIR:-/tmp}/provd-autoinstall.XXXXXX") || fail 1 "mktemp failed"
{
	"$@" 2>&1
	echo $? >"$_rcfile"
} | tee -a "$LOG"
_rc=$(cat "$_rcfile" 2>/dev/null)
[ "$_rc" = 0 ] || fail "${_rc:-1}" "nix-store --realise $INSTALL failed"

# the install script: an executable file, or a package with one bin/ entry
RUN=
if [ -f "$INSTALL" ] && [ -x "$INSTALL" ]; then
	RUN=$INSTALL
elif [ -d "$INSTALL/bin" ]; then
	for _f in "$INSTALL"/bin/*; do
		if ! [ -f "$_f" ] || ! [ -x "$_f" ]; then
			continue
		fi
		[ -z "$RUN" ] || fail 1 "$INSTALL/bin holds more than one program"
		RUN=$_f
	done
fi
[ -n "$RUN" ] || fail 1 "$INSTALL is neither an executable nor a package with one program in bin/"

# ---------------------------------------------------------------- 3. install
STAGE="installing"
provd_report installing "running $RUN" || msg "could not report 'installing'; going on"
# where the install script leaves the installed system mounted, if not /mnt
_rootfile=$(mktemp "${TMPDIR:-/tmp}/provd-autoinstall-root.XXXXXX") || fail 1 "mktemp failed"
export PROVD_TARGET_ROOT_FILE="$_rootfile"
msg "running: $RUN"
{
	"$RUN" 2>&1 </dev/null
	echo $? >"$_rcfile"
} | tee -a "$LOG"
_rc=$(cat "$_rcfile" 2>/dev/null)
rm -f "$_rcfile"
[ "$_rc" = 0 ] || fail "${_rc:-1}" "install script $RUN failed"

# ---------------------------------------------------------------- 4. node credential
STAGE="storing the node credential"
TARGET=
IFS= read -r TARGET <"$_rootfile" 2>/dev/null || :
rm -f "$_rootfile"
_rootfile=
TARGET=${TARGET:-/mnt}
msg "storing the node credential in $TARGET/var/lib/provd-node"
provd_install_credential "$TARGET"
_rc=$?
case $_rc in
0) msg "node credential stored: the installed system can report what it runs" ;;
1)
	if [ "${PROVD_HTTP_STATUS:-}" = 404 ]; then
		msg "WARNING: provd issues no node credentials (404): this node will not report what it runs"
	else
		fail 1 "provd refused the node credential (HTTP ${PROVD_HTTP_STATUS:-?})"
	fi
	;;
*) fail "$_rc" "cannot store the node credential in $TARGET/var/lib/provd-node" ;;
esac

# ---------------------------------------------------------------- 5. succeeded
STAGE="reporting success"
FINISHED=1
trap - INT TERM HUP
msg "install script finished"
if ! report_patiently succeeded "installed ${NODE:-node} with $INSTALL"; then
	# without provd knowing, the next netboot would install again
	banner "${NODE:-This node} is installed, but provd could not be told (see above)." \
		"Not rebooting: tell provd, then reboot.  Log: $LOG"
	exit 1
fi
sync
if [ "${PROVD_AUTOINSTALL_NOREBOOT:-0}" = 1 ]; then
	banner "${NODE:-This node} is installed; not rebooting (PROVD_AUTOINSTALL_NOREBOOT=1)."
	exit 0
fi
banner "${NODE:-This node} is installed; rebooting."
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
	# --no-block: this unit is part of the transaction being stopped
	systemctl --no-block reboot
else
	reboot
fi
exit 0
