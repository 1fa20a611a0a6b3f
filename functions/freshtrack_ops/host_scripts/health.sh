#!/usr/bin/env bash
# The health check run on the host (health_check_from: host): `compose ps --format json`, then one line
# "HTTP <status>" for HEALTH_URL fetched from the host itself (000 when nothing answered within 10 s).
set -euo pipefail
: "${APP_DIR:?}" "${DOCKER_BIN:?}" "${HEALTH_URL:?}"
cd "$APP_DIR"
"$DOCKER_BIN" compose ps --format json
# the URL reaches curl through a config on stdin, like every URL the host scripts fetch
status="$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 --proto =http,https --config - <<<"url = \"$HEALTH_URL\"" 2>/dev/null)" || true
printf 'HTTP %s\n' "${status:-000}"
