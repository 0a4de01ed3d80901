# shellcheck shell=bash
# lib-netns.sh — runs a test inside network namespaces of its own.  Source it first (before
# lib.sh: the outer run makes no temp dir and starts nothing), then call
#   netns_enter NAME [EXTRA...] -- "$@"
# Outside (PROVD_NETNS unset): makes the namespace provd-NAME-$$ and one provd-NAME-EXTRA-$$
# per EXTRA, runs this script again inside the first with PROVD_NETNS set to it and
# PROVD_NETNS_<EXTRA> (upper case, "-" as "_") to each other one, deletes them all, and exits
# with that run's status.  Inside (PROVD_NETNS set): returns at once.  Skips (exit 77; a
# failure under PROVD_TESTS_NO_SKIP=1) without root, iproute2 or a working `ip netns add`.
netns_enter() {
	local name=$1
	shift
	local extras=() e x var err rc=0
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		extras+=("$1")
		shift
	done
	[ "${1:-}" = -- ] && shift
	[ -n "${PROVD_NETNS:-}" ] && return 0
	netns_skip() {
		echo "SKIP [$name]: $1"
		if [ -n "${PROVD_TESTS_NO_SKIP:-}" ]; then
			echo "FAIL [$name]: $1" >&2
			exit 1
		fi
		exit 77
	}
	[ "$(id -u)" = 0 ] || netns_skip "needs root (ip netns)"
	command -v ip >/dev/null || netns_skip "ip (iproute2) missing"
	NETNS_ALL=("provd-$name-$$")
	err=$(ip netns add "${NETNS_ALL[0]}" 2>&1) || netns_skip "ip netns add does not work here: $err"
	trap 'for n in "${NETNS_ALL[@]}"; do ip netns del "$n" 2>/dev/null || true; done' EXIT
	for e in "${extras[@]}"; do
		x=provd-$name-$e-$$
		var=PROVD_NETNS_${e^^}
		ip netns add "$x" || exit 1
		NETNS_ALL+=("$x")
		export "${var//-/_}=$x"
	done
	PROVD_NETNS=${NETNS_ALL[0]} ip netns exec "${NETNS_ALL[0]}" bash "$0" "$@" || rc=$?
	exit "$rc"
}
