#!/usr/bin/env bash
# Restore a pg_dump custom-format archive read from stdin into TARGET_DB (which must exist and be empty),
# as the manual does (pg_restore -U <role> -d <db>), in one transaction and stopping at the first error.
set -euo pipefail
: "${APP_DIR:?}" "${DOCKER_BIN:?}" "${PG_SERVICE:?}" "${DB_ROLE:?}" "${TARGET_DB:?}"
cd "$APP_DIR"
"$DOCKER_BIN" compose exec -T "$PG_SERVICE" pg_restore -U "$DB_ROLE" -d "$TARGET_DB" \
  --exit-on-error --single-transaction --no-owner --role="$DB_ROLE"
echo "restored into $TARGET_DB"
