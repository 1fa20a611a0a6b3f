#!/usr/bin/env bash
# SSM variant of archive_list.sh: stream the backup object from a presigned GET URL (OBJECT_URL) into
# `pg_restore --list` and print its table of contents, then "SHA256 <hex> <bytes>" of the WHOLE object:
# pg_restore stops reading after the TOC, the rest is drained so the hash covers every byte.
set -euo pipefail
: "${APP_DIR:?}" "${DOCKER_BIN:?}" "${PG_SERVICE:?}" "${OBJECT_URL:?}"

ARCHIVE_CODEC="${ARCHIVE_CODEC:-}"
JOB_ID="${JOB_ID:-}"
JOB_DIR="${JOB_DIR:-/var/tmp/freshtrack-ops/jobs}"

# @include lib/urls.sh
# @include lib/stream_object.sh
# @include lib/job.sh
# @include lib/archive.sh

# a read too long for one Lambda invocation runs as a detached host job (lib/job.sh)
job_detach_if_requested

cd "$APP_DIR"
stream_object_into "$OBJECT_URL" "pg_restore --list (the archive was rejected)" \
  archive_read "$DOCKER_BIN" compose exec -T "$PG_SERVICE" pg_restore --list
