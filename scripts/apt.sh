# shellcheck shell=bash
# Sourced by the set-up scripts: one way to install Debian packages on this
# machine (the controller). Every apt call of the scripts goes through
# apt_install, which the scripts call before anything runs in parallel, so
# two apt/dpkg never run at once here. A lock held by something else
# (unattended-upgrades on a fresh VM, an operator's apt) is waited for, up
# to CELERY_FLEET_APT_LOCK_TIMEOUT seconds (default 600), then refused with
# a message naming the holder.

apt_lock_timeout=${CELERY_FLEET_APT_LOCK_TIMEOUT:-600}

apt_die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

# Who holds apt's or dpkg's lock: "process 3852 (unattended-upgr)", read
# from /proc/locks (apt names the holder only when it does not wait).
apt_lock_holder() {
  local f inode pid
  for f in /var/lib/dpkg/lock-frontend /var/lib/dpkg/lock /var/lib/apt/lists/lock /var/cache/apt/archives/lock; do
    inode=$(stat -c %i "$f" 2>/dev/null) || continue
    pid=$(awk -v i=":$inode" '$6 ~ i"$" {print $5; exit}' /proc/locks)
    [ -n "$pid" ] && { echo "process $pid ($(cat "/proc/$pid/comm" 2>/dev/null))"; return; }
  done
  echo "another process"
}

# apt_run ARGS...: apt-get ARGS, waiting for a lock held by someone else.
# apt-get waits for the dpkg lock itself (DPkg::Lock::Timeout) but fails at
# once on the package lists' lock (apt-get update), so both are retried here
# until the deadline.
apt_run() {
  local deadline=$(( $(date +%s) + apt_lock_timeout )) out rc left said=""
  while :; do
    left=$(( deadline - $(date +%s) ))
    [ "$left" -gt 0 ] || left=1
    out=$(DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout="$left" "$@" 2>&1) && return 0
    rc=$?
    if ! grep -qE 'Could not get lock|Unable to (acquire|lock)' <<<"$out"; then
      printf '%s\n' "$out" >&2
      apt_die "apt-get $* failed (exit $rc); its output is above"
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      apt_die "apt is still locked by $(apt_lock_holder) after ${apt_lock_timeout} s (apt-get $*).
Wait for it to finish (on a fresh VM: unattended-upgrades), then run this again;
CELERY_FLEET_APT_LOCK_TIMEOUT sets how long to wait."
    fi
    if [ -z "$said" ]; then
      printf '==> Waiting for apt: locked by %s (up to %s s)\n' "$(apt_lock_holder)" "$apt_lock_timeout"
      said=1
    fi
    sleep 3
  done
}

# apt_install PACKAGE...: install those not installed yet, in one apt-get call.
apt_install() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  [ "$(id -u)" = 0 ] || apt_die "installing ${missing[*]} needs root (run as root or install them yourself)"
  command -v apt-get >/dev/null || apt_die "no apt-get here: install ${missing[*]} by hand (Debian/Ubuntu are supported)"
  printf '==> Installing %s with apt\n' "${missing[*]}"
  # The lists are refreshed once per machine, not at every run.
  if [ ! -f /var/lib/apt/periodic/celery-fleet-updated ]; then
    apt_run update -qq
    mkdir -p /var/lib/apt/periodic && touch /var/lib/apt/periodic/celery-fleet-updated
  fi
  apt_run install -y -qq "${missing[@]}"
}
