#!/usr/bin/env bash
# The daily check's host side (docs/daily-operations.md): what the manual's "Daily Operations", "Log Analysis",
# "Firewall Management", "Fail2ban Management" and "System Updates" read on the server, read-only. Prints
# "<section>.<key>=<value>" lines (lib/daily_check.sh); the control plane judges them against the target's
# thresholds, the host judges nothing. Sections: service, stats (docker compose ps / docker stats --no-stream),
# disk.app and disk.root (df -P), docker_df (docker system df), cert (the certificate served on
# 127.0.0.1:CERT_PORT), log (the manual's log queries over the last LOG_SINCE: counts and up to LOG_SAMPLES
# redacted samples each), ufw (ufw status verbose), fail2ban (fail2ban-client status F2B_JAIL), system (the
# reboot-required flag, pending updates). A reader that cannot read prints "<section>.error=<message>" and the
# others go on: the exit status is 0 whatever the host's state, 64 only for a refused parameter.
# ufw and fail2ban-client need root: `sudo -n` when this command's user is not root.
set -euo pipefail
: "${APP_DIR:?}" "${DOCKER_BIN:?}" "${DOMAIN:?}"
SERVICES="${SERVICES:-}"
CERT_PORT="${CERT_PORT:-443}"
LOG_SINCE="${LOG_SINCE:-24h}"
LOG_SAMPLES="${LOG_SAMPLES:-3}"
SLOW_MS="${SLOW_MS:-1000}"
F2B_JAIL="${F2B_JAIL:-sshd}"
LOG_BACKEND="${LOG_BACKEND:-backend}"
LOG_CADDY="${LOG_CADDY:-caddy}"
# @include lib/names.sh
# @include lib/redact.sh
# @include lib/remediation.sh
# @include lib/daily_check.sh

# the control plane checked the same patterns (parameters.py); this is the host's own guard, and it comes before
# any value reaches a command line or bash arithmetic
refuse() {
  echo "refusing $1 '$2'" >&2
  exit 64
}
[[ "$LOG_SINCE" =~ ^[1-9][0-9]{0,2}h$ ]] || refuse LOG_SINCE "$LOG_SINCE"
[[ "$LOG_SAMPLES" =~ ^([0-9]|10)$ ]] || refuse LOG_SAMPLES "$LOG_SAMPLES"
if [[ ! "$SLOW_MS" =~ ^[1-9][0-9]{0,5}$ ]] || ((SLOW_MS > 600000)); then refuse SLOW_MS "$SLOW_MS"; fi
[[ "$F2B_JAIL" =~ ^[a-z][a-z0-9_-]{0,31}$ ]] || refuse F2B_JAIL "$F2B_JAIL"
if [[ ! "$CERT_PORT" =~ ^[1-9][0-9]{0,4}$ ]] || ((CERT_PORT > 65535)); then refuse CERT_PORT "$CERT_PORT"; fi
[[ "$DOCKER_BIN" =~ ^(docker|/[A-Za-z0-9._/-]+)$ ]] || refuse DOCKER_BIN "$DOCKER_BIN"
[[ "$DOMAIN" =~ ^[A-Za-z0-9.-]{1,253}$ ]] || refuse DOMAIN "$DOMAIN"
read -r -a ftops_services <<<"$SERVICES"
service_names_ok "${ftops_services[@]}" "$LOG_BACKEND" "$LOG_CADDY" || exit 64

exec 3>&1 # the readers' lines; a command's own stdout never reaches it unless a reader prints it
ftops_tmp="$(mktemp -d)"
trap 'rm -rf -- "$ftops_tmp"' EXIT
# shellcheck disable=SC2034  # the readers' (lib/daily_check.sh): a scratch file and what compose ps found
{
  ftops_err="$ftops_tmp/stderr"
  declare -A ftops_state=() ftops_container=()
  ftops_ps_ok=0
}

# each reader reports its own failures; "|| section_error" is for one that stops on something unforeseen
ftops_in_app=0
if cd "$APP_DIR" 2>/dev/null; then
  ftops_in_app=1
  read_services || section_error service "reader failed ($?)"
  read_stats || section_error stats "reader failed ($?)"
else
  for section in service stats docker_df log; do
    section_error "$section" "cannot enter APP_DIR $APP_DIR"
  done
fi
read_disk disk.app "$APP_DIR" || section_error disk.app "reader failed ($?)"
read_disk disk.root / || section_error disk.root "reader failed ($?)"
if ((ftops_in_app)); then
  read_docker_df || section_error docker_df "reader failed ($?)"
fi
if command -v openssl >/dev/null; then
  certificate_expiry cert >&3 || section_error cert "reader failed ($?)"
else
  section_error cert "openssl: command not found"
fi
printf 'log.window=%s\n' "$LOG_SINCE"
if ((ftops_in_app)) && ! command -v "$DOCKER_BIN" >/dev/null; then
  section_error log "$DOCKER_BIN: command not found"
elif ((ftops_in_app)); then
  read_log_queries backend "$LOG_BACKEND" || section_error log "reader failed ($?)"
  read_log_queries caddy "$LOG_CADDY" || section_error log "reader failed ($?)"
fi
read_ufw || section_error ufw "reader failed ($?)"
read_fail2ban || section_error fail2ban "reader failed ($?)"
read_system || section_error system "reader failed ($?)"
exit 0
