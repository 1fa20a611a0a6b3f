#!/usr/bin/env bash
# Read a pg_dump custom-format archive on stdin and print its table of contents (pg_restore --list).
# Used to prove an archive is readable BEFORE anything is restored from it.
set -euo pipefail
: "${APP_DIR:?}" "${DOCKER_BIN:?}" "${PG_SERVICE:?}"
cd "$APP_DIR"
"$DOCKER_BIN" compose exec -T "$PG_SERVICE" pg_restore --list
