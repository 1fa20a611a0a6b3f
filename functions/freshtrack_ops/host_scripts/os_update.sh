#!/usr/bin/env bash
# The operations manual's "Security Maintenance -> System Updates" (`apt update && apt upgrade -y`; reboot only if
# /var/run/reboot-required exists; the services start by themselves), as the os-update workflow runs it
# (docs/maintenance.md). ACTION:
#   upgrade  `apt-get update`, the simulated upgrade (what will be upgraded), then `apt-get -y upgrade`,
#            non-interactive, keeping changed config files (--force-confdef --force-confold), installing the new
#            packages an upgrade needs (--with-new-pkgs: what the manual's `apt upgrade` does; a new kernel ABI
#            is held back by plain `apt-get upgrade`). Waits up to DPKG_LOCK_WAIT_S for another apt/dpkg run
#            (unattended-upgrades) to let go of its lock; every apt-get stops at APT_TIMEOUT_S after the start.
#            REBOOT=ssm (SSM targets): when a reboot is required, the report is saved as STATE_DIR/RUN_ID.report
#            and the script exits 194, which the SSM Agent takes as "reboot, then run this step again"; the run
#            after the reboot (same RUN_ID, a new boot id) prints the saved report with rebooted=yes, exit 0.
#   reboot   (SSH targets) schedules `systemctl reboot` 5 s later through systemd-run, so this session ends
#            cleanly first; prints the boot id before.
#   probe    boot_id, uptime_s, the reboot-required flag and the size (cpus, memory_mb, disk_gb): the control
#            plane compares boot ids to know that the host rebooted and answers again.
# Stdout, parsed by the control plane (maintenance/os_host.py), key=value lines: "report=begin" (the SSM Agent
# appends the run after a reboot to the first run's output: the parser reads from the last one),
# "upgraded=<package> <installed or -> <candidate>", "reboot_required=yes|no", "reboot_pkg=<package>",
# "lock_waited_s=<n>", "boot_id=<id>", "previous_boot_id=<id>", "rebooted=yes|no", "uptime_s=<n>",
# "failed=<command>" (before a failure exit). apt's own output goes to stderr.
# Exit codes (maintenance/os_host.py maps them to errors.py):
#   64 a refused parameter                      69 not root and `sudo -n` refused
#   70 apt-get failed (OsUpdateFailed)          71 the reboot could not be scheduled (OsUpdateFailed)
#   75 the dpkg (or package lists) lock was not obtained within DPKG_LOCK_WAIT_S (AptLockTimeout)
#   76 apt-get ran past APT_TIMEOUT_S and was stopped (AptTimedOut)
#   194 (REBOOT=ssm) reboot now and run this again: amazon-ssm-agent appconfig RebootExitCode (Linux)
set -euo pipefail
: "${ACTION:?}"
DPKG_LOCK_WAIT_S="${DPKG_LOCK_WAIT_S:-600}"
APT_TIMEOUT_S="${APT_TIMEOUT_S:-1800}"
REBOOT="${REBOOT:-none}"
RUN_ID="${RUN_ID:-}"
STATE_DIR="${STATE_DIR:-/var/tmp/freshtrack-ops/os-update}"
SSM_REBOOT_EXIT=194
# @include lib/os_update.sh
refuse() {
  echo "refusing $1 '$2'" >&2
  exit "$OSU_EXIT_REFUSED"
}
[[ "$ACTION" =~ ^(upgrade|reboot|probe)$ ]] || refuse ACTION "$ACTION"
[[ "$DPKG_LOCK_WAIT_S" =~ ^(0|[1-9][0-9]{0,3})$ && "$DPKG_LOCK_WAIT_S" -le 3600 ]] ||
  refuse DPKG_LOCK_WAIT_S "$DPKG_LOCK_WAIT_S"
[[ "$APT_TIMEOUT_S" =~ ^[1-9][0-9]{0,4}$ && "$APT_TIMEOUT_S" -le 10800 ]] || refuse APT_TIMEOUT_S "$APT_TIMEOUT_S"
[[ "$REBOOT" =~ ^(none|ssm)$ ]] || refuse REBOOT "$REBOOT"
[[ -z "$RUN_ID" || "$RUN_ID" =~ ^[A-Za-z0-9][A-Za-z0-9_-]{0,79}$ ]] || refuse RUN_ID "$RUN_ID"
[[ "$STATE_DIR" =~ ^/[A-Za-z0-9._/-]{0,254}$ && "$STATE_DIR" != *..* ]] || refuse STATE_DIR "$STATE_DIR"
if [[ "$REBOOT" == ssm && -z "$RUN_ID" ]]; then
  refuse RUN_ID "(empty: REBOOT=ssm needs it)"
fi

# as root: through `sudo -n` (never a password prompt) for another user
OSU_AS_ROOT=()
if ((EUID != 0)); then
  OSU_AS_ROOT=(sudo -n)
fi
need_root() {
  if ((EUID != 0)) && ! sudo -n true 2>/dev/null; then
    echo "$ACTION needs root: user $(id -un) may not run sudo without a password" >&2
    exit "$OSU_EXIT_NO_ROOT"
  fi
}

# failed COMMAND CODE: say where it stopped and exit with CODE
failed() {
  printf 'failed=%s\nlock_waited_s=%d\n' "$1" $((OSU_WAITED_MS / 1000))
  exit "$2"
}

upgrade() {
  local saved="$STATE_DIR/$RUN_ID.report" before now outcome wait_left report
  if [[ "$REBOOT" == ssm && -s "$saved" ]]; then
    before="$(sed -n 's/^boot_id=//p' "$saved")"
    now="$(osu_boot_id)"
    printf 'report=begin\n'
    grep -v '^boot_id=' "$saved"
    if [[ "$before" != "$now" ]]; then
      printf 'rebooted=yes\nprevious_boot_id=%s\nboot_id=%s\n' "$before" "$now"
      return 0
    fi
    # the run before asked for the reboot and it has not happened yet (this command was sent again): ask again
    printf 'rebooted=no\nboot_id=%s\n' "$now"
    exit "$SSM_REBOOT_EXIT"
  fi
  need_root
  OSU_TMP="$(mktemp -d)"
  trap 'rm -rf "$OSU_TMP"' EXIT
  # shellcheck disable=SC2034 # read by osu_apt
  OSU_DEADLINE=$((EPOCHSECONDS + APT_TIMEOUT_S))
  OSU_WAITED_MS=0
  outcome=0
  osu_update || outcome=$?
  ((outcome == 0)) || failed "apt-get update" "$outcome"
  osu_apt -s --with-new-pkgs upgrade
  osu_apt_outcome || failed "apt-get -s upgrade" "$?"
  report="$(osu_upgrades)"
  wait_left=$((DPKG_LOCK_WAIT_S - OSU_WAITED_MS / 1000))
  ((wait_left > 0)) || wait_left=0
  osu_apt -y -o "DPkg::Lock::Timeout=$wait_left" -o Dpkg::Options::=--force-confdef \
    -o Dpkg::Options::=--force-confold --with-new-pkgs upgrade
  OSU_WAITED_MS=$((OSU_WAITED_MS + $(cat "$OSU_TMP/waited_ms")))
  osu_apt_outcome || failed "apt-get -y upgrade" "$?"
  report="$(
    [[ -z "$report" ]] || printf '%s\n' "$report"
    osu_reboot_report
    printf 'lock_waited_s=%d\n' $((OSU_WAITED_MS / 1000))
  )"
  now="$(osu_boot_id)"
  printf 'report=begin\n%s\nboot_id=%s\nrebooted=no\n' "$report" "$now"
  if [[ "$REBOOT" == ssm ]] && grep -qx 'reboot_required=yes' <<<"$report"; then
    # kept where a reboot does not clear it (/var/tmp), for the run the agent starts after the reboot
    mkdir -p "$STATE_DIR"
    chmod 700 "$STATE_DIR"
    find "$STATE_DIR" -maxdepth 1 -name '*.report' -mtime +30 -delete
    printf '%s\nboot_id=%s\n' "$report" "$now" >"$saved.tmp"
    mv -f "$saved.tmp" "$saved"
    exit "$SSM_REBOOT_EXIT"
  fi
}

case "$ACTION" in
  probe)
    printf 'boot_id=%s\nuptime_s=%s\n' "$(osu_boot_id)" "$(osu_uptime_s)"
    # the size a scale reports after (empty when a tool is missing: the control plane reads "not known")
    printf 'cpus=%s\nmemory_mb=%s\ndisk_gb=%s\n' "$(nproc 2>/dev/null || true)" \
      "$(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo 2>/dev/null || true)" \
      "$(df -P -k / 2>/dev/null | awk 'NR == 2 { print int($2 / 1048576) }' || true)"
    osu_reboot_report
    ;;
  reboot)
    need_root
    printf 'boot_id=%s\n' "$(osu_boot_id)"
    # a timer 5 s ahead: this command returns and the SSH session ends before the host goes down
    if ! "${OSU_AS_ROOT[@]}" systemd-run --quiet --on-active=5 --timer-property=AccuracySec=1s \
      "$(command -v systemctl)" reboot >&2; then
      printf 'failed=systemd-run systemctl reboot\n'
      exit 71
    fi
    ;;
  upgrade)
    upgrade
    ;;
esac
