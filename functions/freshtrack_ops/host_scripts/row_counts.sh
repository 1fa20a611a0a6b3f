#!/usr/bin/env bash
# Print exact per-table row counts of TARGET_DB as one JSON object ({"schema.table": n, ...}).
set -euo pipefail
: "${APP_DIR:?}" "${DOCKER_BIN:?}" "${PG_SERVICE:?}" "${DB_ROLE:?}" "${TARGET_DB:?}"

# @include lib/count_rows.sh

cd "$APP_DIR"
count_rows_sql | "$DOCKER_BIN" compose exec -T "$PG_SERVICE" psql -X -q -A -t -v ON_ERROR_STOP=1 -U "$DB_ROLE" -d "$TARGET_DB"
