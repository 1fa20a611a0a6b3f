#!/usr/bin/env bash
# The manual's rollback step 1, "Stop current deployment": `docker compose down --timeout 30` in the app
# directory (containers stop and are removed; named volumes, and so the database's data, are kept: never -v).
set -euo pipefail
: "${APP_DIR:?}" "${DOCKER_BIN:?}"
cd "$APP_DIR"
"$DOCKER_BIN" compose down --timeout 30
echo "done: compose down"
