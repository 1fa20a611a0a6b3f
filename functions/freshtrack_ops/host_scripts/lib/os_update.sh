#!/usr/bin/env bash
# What os_update.sh reads and runs on the host (inlined by host_scripts.load at "# @include"). Needs
# DPKG_LOCK_WAIT_S and APT_TIMEOUT_S; the seams FTOPS_BOOT_ID_FILE and FTOPS_REBOOT_REQUIRED_FILE are set only by
# the local host's session environment (opsctl/local/host.py LocalHost.env), never by the control plane.

# shellcheck disable=SC2034 # the exit codes os_update.sh uses too
OSU_EXIT_REFUSED=64
OSU_EXIT_NO_ROOT=69
OSU_EXIT_APT_FAILED=70
OSU_EXIT_LOCK_TIMEOUT=75
OSU_EXIT_APT_TIMEOUT=76
# apt's words when another apt/dpkg run holds a lock: the dpkg frontend lock (install/upgrade; apt >= 1.9.11
# waits DPkg::Lock::Timeout seconds for it, then says "Unable to acquire"), the package lists' lock
# (`apt-get update`, which does not wait: measured with apt 2.6.1, it fails at once, exit 100)
OSU_LOCK_WORDS='Could not get lock|Unable to acquire the dpkg frontend lock|Unable to lock (the administration )?directory'

# osu_boot_id: this boot's id (a new random UUID at every boot)
osu_boot_id() {
  tr -d '[:space:]' <"${FTOPS_BOOT_ID_FILE:-/proc/sys/kernel/random/boot_id}"
}

# osu_uptime_s: whole seconds since boot. The local host writes its boot id file at each power-on, so there the
# file's age is the uptime; a real host reads /proc/uptime.
osu_uptime_s() {
  local up _rest
  if [[ -n "${FTOPS_BOOT_ID_FILE:-}" ]]; then
    echo $((EPOCHSECONDS - $(stat -c %Y "$FTOPS_BOOT_ID_FILE")))
    return
  fi
  read -r up _rest </proc/uptime
  echo "${up%.*}"
}

# osu_reboot_report: "reboot_required=yes|no" and a "reboot_pkg=<package>" line per package the flag names
# (/var/run/reboot-required and .pkgs, written by the packages' postinst through update-notifier's
# notify-reboot-required)
osu_reboot_report() {
  local flag="${FTOPS_REBOOT_REQUIRED_FILE:-/var/run/reboot-required}" package
  if [[ ! -e "$flag" ]]; then
    printf 'reboot_required=no\n'
    return
  fi
  printf 'reboot_required=yes\n'
  if [[ -r "$flag.pkgs" ]]; then
    while IFS= read -r package; do
      printf 'reboot_pkg=%s\n' "$package"
    done < <(grep -E '^[A-Za-z0-9.+:~_-]+$' "$flag.pkgs" | sort -u || true)
  fi
}

# osu_apt ARG...: one apt-get run as root, non-interactive, in the C locale (its messages are parsed), stopped at
# the APT_TIMEOUT_S deadline (OSU_DEADLINE). Its output goes to stderr (stdout is the report), each line as it
# comes: the first line that is not apt's "Waiting for cache lock" is when apt got its lock, so the wait is
# measured, in ms, into $OSU_TMP/waited_ms. Its exit code in $OSU_TMP/rc, its output in $OSU_TMP/out.
osu_apt() {
  local remaining=$((OSU_DEADLINE - EPOCHSECONDS)) started="${EPOCHREALTIME/./}" line locked=""
  if ((remaining <= 0)); then
    echo 124 >"$OSU_TMP/rc"
    echo 0 >"$OSU_TMP/waited_ms"
    return
  fi
  : >"$OSU_TMP/out"
  {
    local rc=0
    timeout --kill-after=30 "$remaining" "${OSU_AS_ROOT[@]}" env LC_ALL=C DEBIAN_FRONTEND=noninteractive \
      apt-get "$@" 2>&1 || rc=$?
    echo "$rc" >"$OSU_TMP/rc"
  } | while IFS= read -r line; do
    if [[ -z "$locked" && "$line" != "Waiting for cache lock"* ]]; then
      locked="${EPOCHREALTIME/./}"
      echo $(((locked - started) / 1000)) >"$OSU_TMP/waited_ms"
    fi
    printf '%s\n' "$line" >>"$OSU_TMP/out"
    printf '%s\n' "$line" >&2
  done
  [[ -s "$OSU_TMP/waited_ms" ]] || echo $(((${EPOCHREALTIME/./} - started) / 1000)) >"$OSU_TMP/waited_ms"
}

# osu_apt_outcome: 0 when the last osu_apt succeeded, else the exit code naming why it failed (lock, time, apt)
osu_apt_outcome() {
  local rc
  rc="$(cat "$OSU_TMP/rc")"
  if [[ "$rc" == 0 ]]; then
    return 0
  elif [[ "$rc" == 124 || "$rc" == 137 ]]; then # timeout(1): the deadline passed (137: killed after it)
    return "$OSU_EXIT_APT_TIMEOUT"
  elif grep -qE "$OSU_LOCK_WORDS" "$OSU_TMP/out"; then
    return "$OSU_EXIT_LOCK_TIMEOUT"
  fi
  return "$OSU_EXIT_APT_FAILED"
}

# osu_update: `apt-get update`. It takes the package lists' lock without waiting (DPkg::Lock::Timeout is the
# dpkg frontend lock's), so while that lock is held it is tried again every second until DPKG_LOCK_WAIT_S has
# passed; the seconds waited add to OSU_WAITED_MS.
osu_update() {
  local began="${EPOCHREALTIME/./}" try outcome
  while :; do
    try="${EPOCHREALTIME/./}"
    osu_apt update
    outcome=0
    osu_apt_outcome || outcome=$?
    if [[ "$outcome" != "$OSU_EXIT_LOCK_TIMEOUT" ]] || (((try - began) / 1000000 >= DPKG_LOCK_WAIT_S)); then
      OSU_WAITED_MS=$((OSU_WAITED_MS + (try - began) / 1000))
      return "$outcome"
    fi
    sleep 1
  done
}

# osu_upgrades: "upgraded=<package> <installed or -> <candidate>" for each package the upgrade will install, from
# the simulation's "Inst <package> [<installed>] (<candidate> <origins> [<arch>])" lines (a package the upgrade
# newly installs, a new kernel's, has no [<installed>]). A simulation takes no lock (apt-get(8) --simulate).
osu_upgrades() {
  local re='^Inst ([^ ]+) (\[([^]]*)\] )?\(([^ ]+) '
  while IFS= read -r line; do
    if [[ "$line" =~ $re ]]; then
      printf 'upgraded=%s %s %s\n' "${BASH_REMATCH[1]}" "${BASH_REMATCH[3]:--}" "${BASH_REMATCH[4]}"
    fi
  done <"$OSU_TMP/out"
}
