#!/usr/bin/env bash
# SSM variant of archive_list.sh: stream the backup object from a presigned GET URL (OBJECT_URL) into
# `pg_restore --list` and print its table of contents, then "SHA256 <hex> <bytes>" of the WHOLE object:
# pg_restore stops reading after the TOC, the rest is drained so the hash covers every byte.
# The URL is a bearer credential: it reaches curl only through a config on stdin.
set -euo pipefail
: "${APP_DIR:?}" "${DOCKER_BIN:?}" "${PG_SERVICE:?}" "${OBJECT_URL:?}"

url_re='^(https://[a-z0-9][a-z0-9.-]*|http://127\.0\.0\.1:[0-9]+)/[A-Za-z0-9._~%/?=&-]+$'
if [[ ! "$OBJECT_URL" =~ $url_re ]]; then
  echo "OBJECT_URL is not a presigned S3 URL" >&2
  exit 64
fi

cd "$APP_DIR"
work="$(mktemp -d)"
bg_pids=()
cleanup() {
  for pid in "${bg_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

mkfifo "$work/sha.fifo" "$work/len.fifo"
sha256sum <"$work/sha.fifo" >"$work/sha" &
sha_pid=$!
wc -c <"$work/len.fifo" >"$work/len" &
len_pid=$!
bg_pids=("$sha_pid" "$len_pid")

set +e
curl -sSf --proto =http,https --config - <<<"url = \"$OBJECT_URL\"" |
  tee "$work/sha.fifo" "$work/len.fifo" |
  (
    list_status=0
    "$DOCKER_BIN" compose exec -T "$PG_SERVICE" pg_restore --list || list_status=$?
    cat >/dev/null # drain: the hash must cover the whole object
    exit "$list_status"
  )
statuses=("${PIPESTATUS[@]}")
set -e

if [[ "${statuses[0]}" -ne 0 ]]; then
  echo "download failed (curl exited ${statuses[0]})" >&2
  exit 45
fi
if [[ "${statuses[1]}" -ne 0 ]]; then
  echo "tee exited with status ${statuses[1]}" >&2
  exit 46
fi
if [[ "${statuses[2]}" -ne 0 ]]; then
  echo "pg_restore --list rejected the archive (status ${statuses[2]})" >&2
  exit "${statuses[2]}"
fi
wait "$sha_pid"
wait "$len_pid"
bg_pids=()
read -r sha _ <"$work/sha"
bytes="$(tr -d '[:space:]' <"$work/len")"
printf 'SHA256 %s %s\n' "$sha" "$bytes"
