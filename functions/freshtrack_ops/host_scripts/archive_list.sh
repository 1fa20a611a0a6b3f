#!/usr/bin/env bash
# Read a pg_dump custom-format archive on stdin and print its table of contents (pg_restore --list).
# (decompressed first when ARCHIVE_CODEC says: lib/archive.sh). Used to prove an archive is readable BEFORE anything is restored from it.
set -euo pipefail
: "${APP_DIR:?}" "${DOCKER_BIN:?}" "${PG_SERVICE:?}"
ARCHIVE_CODEC="${ARCHIVE_CODEC:-}"

# @include lib/archive.sh

cd "$APP_DIR"
archive_read "$DOCKER_BIN" compose exec -T "$PG_SERVICE" pg_restore --list
