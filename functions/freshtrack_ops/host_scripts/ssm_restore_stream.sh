#!/usr/bin/env bash
# SSM variant of restore_stream.sh: stream the backup object from a presigned GET URL (OBJECT_URL) into
# pg_restore with the same flags (TARGET_DB must exist and be empty; one transaction, stop at the first
# error), then print "SHA256 <hex> <bytes>" of the whole object for the control plane to compare with the
# manifest (a mismatch fails the load, as on the SSH path).
set -euo pipefail
: "${APP_DIR:?}" "${DOCKER_BIN:?}" "${PG_SERVICE:?}" "${DB_ROLE:?}" "${TARGET_DB:?}" "${OBJECT_URL:?}"

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
stream_object_into "$OBJECT_URL" "pg_restore into $TARGET_DB" \
  archive_read "$DOCKER_BIN" compose exec -T "$PG_SERVICE" pg_restore -U "$DB_ROLE" -d "$TARGET_DB" \
  --exit-on-error --single-transaction --no-owner --role="$DB_ROLE"
echo "restored into $TARGET_DB"
