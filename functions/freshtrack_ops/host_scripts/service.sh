#!/usr/bin/env bash
# One service operation, the operations manual's "Service Management", "Emergency Procedures" and fail2ban unban
# (docs/daily-operations.md "Service operations"):
#   start              `docker compose up -d [SERVICE]`
#   stop               `docker compose stop SERVICE`, or `docker compose down` (all; preserves data)
#   restart            `docker compose restart [SERVICE]`
#   status             `docker compose ps [SERVICE]`
#   logs               `docker compose logs [--since SINCE] [--tail=TAIL] [SERVICE]`
#   emergency-stop     `docker compose down --timeout 5`
#   emergency-restart  `docker compose down --timeout 10`, then `docker compose up -d`
#   force-rebuild      `docker compose down`, `docker compose build --no-cache`, `docker compose up -d`
#   unban              `fail2ban-client set F2B_JAIL unbanip IP` (as root: `sudo -n` for another user)
# The control plane validated every value and asked for the typed confirmation of destructive actions before
# this runs (service/plan.py); the checks here are the host's own guard on what reaches a command line.
# Stdout, parsed by the control plane (service/host.py): "ran=<command>" for each command as it starts (the strings
# of service/commands.py), "unbanned=<fail2ban's answer>", then "after.<service>=<state>" and
# "status.<service>=<status>" for every service of SERVICES; for logs, then the marker line LOG_MARKER and the log
# lines to the end (last: nothing a log line says can be read as a report line), redacted on the host already.
# Exit 64: a refused parameter.
set -euo pipefail
: "${APP_DIR:?}" "${DOCKER_BIN:?}" "${ACTION:?}"
SERVICE="${SERVICE:-}"
SERVICES="${SERVICES:-}"
TAIL="${TAIL:-}"
SINCE="${SINCE:-}"
IP="${IP:-}"
F2B_JAIL="${F2B_JAIL:-sshd}"
LOG_MARKER="--- freshtrack-ops service logs follow ---"
# @include lib/names.sh
# @include lib/redact.sh
# @include lib/service.sh
read -r -a services <<<"$SERVICES"
service_names_ok ${SERVICE:+"$SERVICE"} "${services[@]}" || exit 64
refuse() {
  echo "refusing $1 '$2'" >&2
  exit 64
}
[[ -z "$TAIL" || "$TAIL" =~ ^[1-9][0-9]{0,4}$ ]] || refuse TAIL "$TAIL"
since_re='^([1-9][0-9]{0,6}[smh]|[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z)$'
[[ -z "$SINCE" || "$SINCE" =~ $since_re ]] || refuse SINCE "$SINCE"
[[ -z "$IP" || "$IP" =~ ^([0-9]{1,3}(\.[0-9]{1,3}){3}|[0-9a-f:]{2,39})$ ]] || refuse IP "$IP"
[[ "$F2B_JAIL" =~ ^[a-z][a-z0-9_-]{0,31}$ ]] || refuse F2B_JAIL "$F2B_JAIL"
cd "$APP_DIR"

ran() {
  printf 'ran=%s\n' "$*"
}

# compose ARG...: one `docker compose` command, its chatter on stderr (stdout is the report)
compose() {
  "$DOCKER_BIN" compose "$@" >&2
}

case "$ACTION" in
  start)
    ran "docker compose up -d${SERVICE:+ $SERVICE}"
    compose up -d ${SERVICE:+"$SERVICE"}
    ;;
  stop)
    if [[ -n "$SERVICE" ]]; then
      ran "docker compose stop $SERVICE"
      compose stop "$SERVICE"
    else
      ran "docker compose down"
      compose down
    fi
    ;;
  restart)
    ran "docker compose restart${SERVICE:+ $SERVICE}"
    compose restart ${SERVICE:+"$SERVICE"}
    ;;
  status)
    ran "docker compose ps${SERVICE:+ $SERVICE}"
    compose ps ${SERVICE:+"$SERVICE"}
    ;;
  logs)
    ran "docker compose logs${SINCE:+ --since $SINCE}${TAIL:+ --tail=$TAIL}${SERVICE:+ $SERVICE}"
    ;;
  emergency-stop)
    ran "docker compose down --timeout 5"
    compose down --timeout 5
    ;;
  emergency-restart)
    ran "docker compose down --timeout 10"
    compose down --timeout 10
    ran "docker compose up -d"
    compose up -d
    ;;
  force-rebuild)
    ran "docker compose down"
    compose down
    ran "docker compose build --no-cache"
    compose build --no-cache
    ran "docker compose up -d"
    compose up -d
    ;;
  unban)
    if [[ -z "$IP" ]]; then
      echo "unban needs IP" >&2
      exit 64
    fi
    as_root=()
    if [[ "$(id -u)" -ne 0 ]]; then
      as_root=(sudo -n)
    fi
    ran "fail2ban-client set $F2B_JAIL unbanip $IP"
    answer="$("${as_root[@]}" fail2ban-client set "$F2B_JAIL" unbanip "$IP")"
    printf 'unbanned=%s\n' "$(tr '\n' ' ' <<<"$answer" | sed 's/ *$//')"
    ;;
  *)
    echo "unknown ACTION '$ACTION'" >&2
    exit 64
    ;;
esac

service_report "${services[@]}"
if [[ "$ACTION" == logs ]]; then
  printf '%s\n' "$LOG_MARKER"
  # redacted here first: SSM keeps a command's output (GetCommandInvocation, ssm-output/ in S3) for 30 days; the
  # control plane redacts again (redact_log_line) before it saves the lines
  "$DOCKER_BIN" compose logs ${SINCE:+--since "$SINCE"} ${TAIL:+"--tail=$TAIL"} ${SERVICE:+"$SERVICE"} | redact_lines
fi
