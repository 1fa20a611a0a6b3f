#!/usr/bin/env bash
# Stream `pg_dump -Fc` of DB_NAME to stdout (no temporary file on the host) and, on stderr, one line
# "ROWCOUNTS <json>" with exact per-table row counts taken in the SAME snapshot as the dump:
# a psql session exports a repeatable-read snapshot, counts in it, and pg_dump --snapshot reuses it.
set -euo pipefail
: "${APP_DIR:?}" "${DOCKER_BIN:?}" "${PG_SERVICE:?}" "${DB_NAME:?}" "${DB_ROLE:?}"
PG_DUMP_COMPRESS="${PG_DUMP_COMPRESS:-}"

cd "$APP_DIR"

coproc PSQL { "$DOCKER_BIN" compose exec -T "$PG_SERVICE" psql -X -q -A -t -v ON_ERROR_STOP=1 -U "$DB_ROLE" -d "$DB_NAME"; }
to_psql="${PSQL[1]}"
from_psql="${PSQL[0]}"
# shellcheck disable=SC2153  # PSQL_PID is set by the coproc above
psql_pid="$PSQL_PID"

printf '%s\n' "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;" "SELECT pg_export_snapshot();" >&"$to_psql"
if ! read -r -t 60 snapshot <&"$from_psql" || [[ ! "$snapshot" =~ ^[0-9A-F-]+$ ]]; then
  echo "could not export a snapshot from $DB_NAME" >&2
  exit 31
fi

# Counted concurrently with the dump, inside the exported snapshot.
cat >&"$to_psql" <<'SQL'
SELECT coalesce(json_object_agg(format('%s.%s', n.nspname, c.relname),
         (xpath('/row/c/text()', query_to_xml(format('select count(*) as c from %I.%I', n.nspname, c.relname),
                                              false, true, '')))[1]::text::bigint ORDER BY n.nspname, c.relname), '{}')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg_toast%';
SQL

compress_args=()
if [[ -n "$PG_DUMP_COMPRESS" ]]; then
  compress_args=("--compress=$PG_DUMP_COMPRESS")
fi

dump_status=0
"$DOCKER_BIN" compose exec -T "$PG_SERVICE" pg_dump -U "$DB_ROLE" -Fc "${compress_args[@]}" \
  --snapshot="$snapshot" "$DB_NAME" || dump_status=$?

counts=""
read -r -t 600 counts <&"$from_psql" || true
printf '%s\n' "COMMIT;" '\q' >&"$to_psql"
exec {to_psql}>&-
wait "$psql_pid" 2>/dev/null || true

if [[ "$dump_status" -ne 0 ]]; then
  echo "pg_dump exited with status $dump_status" >&2
  exit "$dump_status"
fi
if [[ -z "$counts" ]]; then
  echo "row counts were not returned" >&2
  exit 32
fi
printf 'ROWCOUNTS %s\n' "$counts" >&2
