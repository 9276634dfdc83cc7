#!/usr/bin/env bash
# Install the named Debian packages that are not installed yet. Quiet when all are present.
#
# Another apt or dpkg (unattended-upgrades, a second `make`) may hold the package locks: wait
# for them, up to APT_LOCK_TIMEOUT seconds (default 600), instead of failing at once.
# `apt-get install` waits by itself with DPkg::Lock::Timeout; `apt-get update` ignores that
# option for its lists lock (apt 2.6), so the script retries while a lock is the only error.
#
# `--optional "WHAT IT COSTS"` first: the packages are a comfort, not a need (`make run`). Where
# there is no apt (not Debian), no root and no sudo, or the install fails, the script says in
# one line what is missing and what that costs, and succeeds.
set -euo pipefail
optional=""
if [ "${1:-}" = "--optional" ]; then
    optional="$2"
    shift 2
fi
skip() {  # $1: why the packages cannot be installed
    echo "not installed: ${missing[*]} ($1) — $optional" >&2
    exit 0
}
missing=()
if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
    [ -n "$optional" ] || { echo "apt-get and dpkg-query are needed to install: $*" >&2; exit 1; }
    missing=("$@")
    skip "no apt on this machine"
fi
for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if [ -n "$optional" ] && ! sudo -n true 2>/dev/null; then
        skip "not root, and sudo needs a password"
    fi
    SUDO="sudo"
fi
TIMEOUT="${APT_LOCK_TIMEOUT:-600}"
deadline=$((SECONDS + TIMEOUT))

# Runs apt-get with the given arguments; while it fails only because a lock is held, waits and
# tries again until the deadline. Any other failure ends the script with apt-get's message.
apt_get() {
    local log status
    log="$(mktemp)"
    while true; do
        status=0
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout="$TIMEOUT" "$@" >"$log" 2>&1 || status=$?
        if [ "$status" -eq 0 ]; then
            rm -f "$log"
            return 0
        fi
        if grep -q "Could not get lock" "$log" && [ "$SECONDS" -lt "$deadline" ]; then
            echo "apt is busy (another package manager holds its lock); waiting..." >&2
            sleep 3
            continue
        fi
        cat "$log" >&2
        rm -f "$log"
        return "$status"
    done
}

echo "installing Debian packages: ${missing[*]}"
if [ -n "$optional" ]; then
    (apt_get update -qq && apt_get install -y -qq --no-install-recommends "${missing[@]}") || skip "apt-get failed"
    exit 0
fi
apt_get update -qq
apt_get install -y -qq --no-install-recommends "${missing[@]}"
