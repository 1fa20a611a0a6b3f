#!/usr/bin/env bash
# Restore a pg_dump custom-format archive read from stdin into TARGET_DB (which must exist and be empty),
# as the manual does (pg_restore -U <role> -d <db>), in one transaction and stopping at the first error
# (decompressed first when ARCHIVE_CODEC says: lib/archive.sh).
set -euo pipefail
: "${APP_DIR:?}" "${DOCKER_BIN:?}" "${PG_SERVICE:?}" "${DB_ROLE:?}" "${TARGET_DB:?}"
ARCHIVE_CODEC="${ARCHIVE_CODEC:-}"

# @include lib/archive.sh

cd "$APP_DIR"
archive_read "$DOCKER_BIN" compose exec -T "$PG_SERVICE" pg_restore -U "$DB_ROLE" -d "$TARGET_DB" \
  --exit-on-error --single-transaction --no-owner --role="$DB_ROLE"
echo "restored into $TARGET_DB"
