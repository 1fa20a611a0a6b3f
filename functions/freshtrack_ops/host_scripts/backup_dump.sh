#!/usr/bin/env bash
# Stream `pg_dump -Fc` of DB_NAME to stdout (compressed by pg_dump or by the host: lib/archive.sh) (no temporary file on the host) and, on stderr, one line
# "ROWCOUNTS <json>" with exact per-table row counts taken in the SAME snapshot as the dump:
# a psql session exports a repeatable-read snapshot, counts in it, and pg_dump --snapshot reuses it.
set -euo pipefail
: "${APP_DIR:?}" "${DOCKER_BIN:?}" "${PG_SERVICE:?}" "${DB_NAME:?}" "${DB_ROLE:?}"
PG_DUMP_COMPRESS="${PG_DUMP_COMPRESS:-}"
ARCHIVE_CODEC="${ARCHIVE_CODEC:-}"

# @include lib/count_rows.sh
# @include lib/snapshot.sh
# @include lib/dump_archive.sh

cd "$APP_DIR"

snapshot_open

dump_status=0
dump_archive || dump_status=$?

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
