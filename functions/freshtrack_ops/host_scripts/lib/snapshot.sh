#!/usr/bin/env bash
# Shared by the dump scripts (inlined by host_scripts.load at "# @include"; needs lib/count_rows.sh): exact per-table row counts taken
# in the SAME snapshot pg_dump reads. A psql session exports a repeatable-read snapshot and counts every
# table in it while the caller's `pg_dump --snapshot="$SNAPSHOT"` runs.
#
# snapshot_open: start the session (needs APP_DIR as cwd, DOCKER_BIN, PG_SERVICE, DB_ROLE, DB_NAME), set
# SNAPSHOT and start the count; exits 31 when no snapshot could be exported.
# snapshot_close: set ROW_COUNTS to the counts as JSON (empty when none came), commit and end the session.

snapshot_open() {
  coproc PSQL { "$DOCKER_BIN" compose exec -T "$PG_SERVICE" psql -X -q -A -t -v ON_ERROR_STOP=1 -U "$DB_ROLE" -d "$DB_NAME"; }
  ftops_to_psql="${PSQL[1]}"
  ftops_from_psql="${PSQL[0]}"
  # shellcheck disable=SC2153  # PSQL_PID is set by the coproc above
  ftops_psql_pid="$PSQL_PID"

  printf '%s\n' "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;" "SELECT pg_export_snapshot();" >&"$ftops_to_psql"
  if ! read -r -t 60 SNAPSHOT <&"$ftops_from_psql" || [[ ! "$SNAPSHOT" =~ ^[0-9A-F-]+$ ]]; then
    echo "could not export a snapshot from $DB_NAME" >&2
    exit 31
  fi

  # Counted concurrently with the dump, inside the exported snapshot.
  count_rows_sql >&"$ftops_to_psql"
}

# shellcheck disable=SC2034  # ROW_COUNTS is read by the caller
snapshot_close() {
  ROW_COUNTS=""
  read -r -t 600 ROW_COUNTS <&"$ftops_from_psql" || true
  printf '%s\n' "COMMIT;" '\q' >&"$ftops_to_psql"
  exec {ftops_to_psql}>&-
  wait "$ftops_psql_pid" 2>/dev/null || true
}
