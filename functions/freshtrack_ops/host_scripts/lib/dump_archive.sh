#!/usr/bin/env bash
# Shared by the dump scripts (inlined by host_scripts.load at "# @include").
#
# dump_archive: pg_dump -Fc of DB_NAME in the exported SNAPSHOT (lib/snapshot.sh) to stdout, compressed by
# pg_dump (--compress=PG_DUMP_COMPRESS) or, with ARCHIVE_CODEC, written uncompressed and compressed by the host
# (lib/archive.sh). Needs APP_DIR as cwd, DOCKER_BIN, PG_SERVICE, DB_ROLE, DB_NAME. Exit: pg_dump's status, 47
# when the codec is missing, 49 when the compressor failed.

# @include lib/archive.sh

dump_archive() {
  local compress_args=() statuses
  if [[ -n "${PG_DUMP_COMPRESS:-}" ]]; then
    compress_args=("--compress=$PG_DUMP_COMPRESS")
  fi
  if [[ -z "${ARCHIVE_CODEC:-}" ]]; then
    "$DOCKER_BIN" compose exec -T "$PG_SERVICE" pg_dump -U "$DB_ROLE" -Fc "${compress_args[@]}" \
      --snapshot="$SNAPSHOT" "$DB_NAME"
    return
  fi
  codec_ready || return
  set +e
  "$DOCKER_BIN" compose exec -T "$PG_SERVICE" pg_dump -U "$DB_ROLE" -Fc "${compress_args[@]}" \
    --snapshot="$SNAPSHOT" "$DB_NAME" | archive_encode
  statuses=("${PIPESTATUS[@]}")
  set -e
  if ((statuses[0] != 0)); then
    return "${statuses[0]}"
  fi
  if ((statuses[1] != 0)); then
    echo "$ARCHIVE_CODEC exited with status ${statuses[1]}" >&2
    return 49
  fi
}
