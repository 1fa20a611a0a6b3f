#!/usr/bin/env bash
# Backup preflight: is the database ready, how much disk is free, which versions run.
# Prints key=value lines; the control plane decides what is acceptable.
set -euo pipefail
: "${APP_DIR:?}" "${DOCKER_BIN:?}" "${PG_SERVICE:?}" "${DB_NAME:?}" "${DB_ROLE:?}"

cd "$APP_DIR"
compose() { "$DOCKER_BIN" compose "$@"; }
psql_value() { compose exec -T "$PG_SERVICE" psql -X -q -A -t -v ON_ERROR_STOP=1 -U "$DB_ROLE" -d "$DB_NAME" -c "$1"; }

if ! compose exec -T "$PG_SERVICE" pg_isready -q -d "$DB_NAME" -U "$DB_ROLE"; then
  echo "database_ready=false"
  exit 0
fi
echo "database_ready=true"
echo "server_version=$(psql_value 'show server_version')"
echo "database_size_bytes=$(psql_value 'select pg_database_size(current_database())')"
echo "pg_dump_version=$(compose exec -T "$PG_SERVICE" pg_dump --version)"
echo "app_version=$(git -C "$APP_DIR" describe --tags --always 2>/dev/null || echo unknown)"
echo "free_disk_mb=$(df -Pm "$APP_DIR" | awk 'NR==2 {print $4}')"
# the room a restore by swap needs is on PostgreSQL's data directory (a Docker volume: often not the app
# directory's filesystem), measured where the server keeps it. SHOW data_directory needs a superuser (or
# pg_read_all_settings): asked as the container's superuser, as database.sh connects; empty when the server
# will not say or df cannot see it (the restore then takes the old path)
pgdata_dir="$(compose exec -T "$PG_SERVICE" psql -X -q -A -t -U postgres -d postgres -c 'show data_directory' \
  2>/dev/null || true)"
pgdata_free=""
if [[ -n "$pgdata_dir" ]]; then
  pgdata_free="$(compose exec -T "$PG_SERVICE" df -Pm "$pgdata_dir" 2>/dev/null | awk 'NR==2 {print $4}' || true)"
fi
echo "pgdata_free_mb=$pgdata_free"
# the stream codecs this host has (backup.compression zstd-stream / lz4-stream need theirs: lib/archive.sh)
codecs=()
for codec in zstd lz4; do
  if command -v "$codec" >/dev/null 2>&1; then
    codecs+=("$codec")
  fi
done
echo "host_codecs=$(IFS=,; echo "${codecs[*]}")"
