#!/usr/bin/env bash
# ACTION=stop|start|status the compose SERVICES (space separated), then print `compose ps --format json`.
set -euo pipefail
: "${APP_DIR:?}" "${DOCKER_BIN:?}" "${ACTION:?}"
SERVICES="${SERVICES:-}"
read -r -a services <<<"$SERVICES"
for service in "${services[@]}"; do
  if [[ ! "$service" =~ ^[a-z][a-z0-9_-]{0,62}$ ]]; then
    echo "refusing service name '$service'" >&2
    exit 64
  fi
done
cd "$APP_DIR"
case "$ACTION" in
  stop | start) "$DOCKER_BIN" compose "$ACTION" "${services[@]}" >&2 ;;
  status) ;;
  *)
    echo "unknown ACTION '$ACTION'" >&2
    exit 64
    ;;
esac
"$DOCKER_BIN" compose ps --format json
