#!/usr/bin/env bash
# Stream `pg_dump -Fc` of DB_NAME to stdout (no temporary file on the host) and, on stderr, one line
# "ROWCOUNTS <json>" with exact per-table row counts taken in the SAME snapshot as the dump:
# a psql session exports a repeatable-read snapshot, counts in it, and pg_dump --snapshot reuses it.
set -euo pipefail
: "${APP_DIR:?}" "${DOCKER_BIN:?}" "${PG_SERVICE:?}" "${DB_NAME:?}" "${DB_ROLE:?}"
PG_DUMP_COMPRESS="${PG_DUMP_COMPRESS:-}"

# @include lib/count_rows.sh
# @include lib/snapshot.sh

cd "$APP_DIR"

snapshot_open

compress_args=()
if [[ -n "$PG_DUMP_COMPRESS" ]]; then
  compress_args=("--compress=$PG_DUMP_COMPRESS")
fi

dump_status=0
"$DOCKER_BIN" compose exec -T "$PG_SERVICE" pg_dump -U "$DB_ROLE" -Fc "${compress_args[@]}" \
  --snapshot="$SNAPSHOT" "$DB_NAME" || dump_status=$?

snapshot_close

if [[ "$dump_status" -ne 0 ]]; then
  echo "pg_dump exited with status $dump_status" >&2
  exit "$dump_status"
fi
if [[ -z "$ROW_COUNTS" ]]; then
  echo "row counts were not returned" >&2
  exit 32
fi
printf 'ROWCOUNTS %s\n' "$ROW_COUNTS" >&2
