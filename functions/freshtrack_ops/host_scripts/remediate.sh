#!/usr/bin/env bash
# One remediation action, the operations manual's troubleshooting step for an alert (docs/remediation.md):
#   compose-up          `docker compose up -d [SERVICE]` (a service down; no SERVICE: all of them)
#   restart-service     `docker compose restart SERVICE` (502: the backend hangs)
#   disk-cleanup        `docker system prune -af`: unused images and stopped containers. NEVER --volumes (the
#                       manual's Disk Space line adds it; it removes every volume no container uses, which is
#                       the database's data whenever postgres is not running). `df -P` before and after.
#   restart-top-memory  `docker stats --no-stream`, then restart the top memory consumer among SERVICES (the
#                       allowed list; exit 65 when none of them runs); the overall top is reported too
#   certificate-check   the served certificate's expiry (`openssl s_client`), `docker compose restart
#                       CADDY_SERVICE`, the expiry again (once Caddy serves again, up to 30 s)
# SERVICES: the services whose state compose-up / restart-service report (restart-top-memory: the allowed list).
# Stdout, parsed by the control plane (remediation/host.py): "ran=<command>" for each command as it starts
# (written as the manual writes it: the commands in remediation/commands.py), "before.<key>=<value>" and
# "after.<key>=<value>" facts, "acted_on=<service>". Exit 64: a refused parameter; 65: nothing to act on.
set -euo pipefail
: "${APP_DIR:?}" "${DOCKER_BIN:?}" "${ACTION:?}" "${DOMAIN:?}"
SERVICE="${SERVICE:-}"
SERVICES="${SERVICES:-}"
CADDY_SERVICE="${CADDY_SERVICE:-caddy}"
CERT_PORT="${CERT_PORT:-443}"
# @include lib/names.sh
# @include lib/remediation.sh
read -r -a services <<<"$SERVICES"
service_names_ok ${SERVICE:+"$SERVICE"} "${services[@]}" "$CADDY_SERVICE" || exit 64
cd "$APP_DIR"

ran() {
  printf 'ran=%s\n' "$*"
}

case "$ACTION" in
  compose-up)
    ran "docker compose ps"
    service_states before "${services[@]}"
    ran "docker compose up -d${SERVICE:+ $SERVICE}"
    "$DOCKER_BIN" compose up -d ${SERVICE:+"$SERVICE"} >&2
    ran "docker compose ps"
    service_states after "${services[@]}"
    ;;
  restart-service)
    if [[ -z "$SERVICE" ]]; then
      echo "restart-service needs SERVICE" >&2
      exit 64
    fi
    ran "docker compose ps"
    service_states before "${services[@]}"
    ran "docker compose restart $SERVICE"
    "$DOCKER_BIN" compose restart "$SERVICE" >&2
    ran "docker compose ps"
    service_states after "${services[@]}"
    ;;
  disk-cleanup)
    ran "df -P $APP_DIR"
    disk_usage before
    ran "docker system prune -af"
    pruned="$("$DOCKER_BIN" system prune -af)"
    printf '%s\n' "$pruned" >&2
    printf 'after.reclaimed=%s\n' "$(sed -n 's/^Total reclaimed space: *//p' <<<"$pruned" | tail -n 1)"
    ran "df -P $APP_DIR"
    disk_usage after
    ;;
  restart-top-memory)
    ran "docker stats --no-stream"
    memory_stats before "${services[@]}"
    if [[ -z "$ftops_top_service" ]]; then
      echo "none of the services allowed to be restarted ($SERVICES) is running" >&2
      exit 65
    fi
    printf 'acted_on=%s\n' "$ftops_top_service"
    ran "docker compose restart $ftops_top_service"
    "$DOCKER_BIN" compose restart "$ftops_top_service" >&2
    ran "docker stats --no-stream"
    memory_stats after "${services[@]}"
    ;;
  certificate-check)
    check="openssl s_client -connect 127.0.0.1:$CERT_PORT -servername $DOMAIN | openssl x509 -noout -enddate"
    ran "$check"
    certificate_expiry before
    ran "docker compose restart $CADDY_SERVICE"
    "$DOCKER_BIN" compose restart "$CADDY_SERVICE" >&2
    ran "$check"
    # Caddy takes a moment to serve again after a restart: wait for it, 30 s at most
    deadline=$((SECONDS + 30))
    until certificate_end >/dev/null || ((SECONDS >= deadline)); do
      sleep 1
    done
    certificate_expiry after
    ;;
  *)
    echo "unknown ACTION '$ACTION'" >&2
    exit 64
    ;;
esac
