#!/usr/bin/env bash
# Print exact per-table row counts of TARGET_DB as one JSON object ({"schema.table": n, ...}).
set -euo pipefail
: "${APP_DIR:?}" "${DOCKER_BIN:?}" "${PG_SERVICE:?}" "${DB_ROLE:?}" "${TARGET_DB:?}"
cd "$APP_DIR"
"$DOCKER_BIN" compose exec -T "$PG_SERVICE" psql -X -q -A -t -v ON_ERROR_STOP=1 -U "$DB_ROLE" -d "$TARGET_DB" <<'SQL'
SELECT coalesce(json_object_agg(format('%s.%s', n.nspname, c.relname),
         (xpath('/row/c/text()', query_to_xml(format('select count(*) as c from %I.%I', n.nspname, c.relname),
                                              false, true, '')))[1]::text::bigint ORDER BY n.nspname, c.relname), '{}')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg_toast%';
SQL
