#!/usr/bin/env bash
# SSM data path of a backup: stream `pg_dump -Fc` of DB_NAME straight into an S3 multipart upload through
# presigned UploadPart URLs: no AWS credentials on the host and no full temporary file.
# The dump is the snapshot-consistent one of backup_dump.sh: a psql session exports a repeatable-read
# snapshot and counts rows in it while pg_dump --snapshot reuses it.
# PART_URLS_URL is a presigned GET URL of a text object listing one presigned UploadPart URL per line (part 1
# first). The stream is cut into PART_SIZE-byte parts (GNU split --filter); each part is staged in one
# temporary file (presigned PUTs need a Content-Length, S3 takes no chunked encoding), PUT and removed.
# stdout: "PART <n> <etag>" per uploaded part, then "SHA256 <hex> <bytes>" and "ROWCOUNTS <json>".
# Any failure exits non-zero; the control plane then aborts the upload. The URLs are bearer credentials:
# they reach curl only through a config on stdin, never a command line (ps) or a log line.
set -euo pipefail
: "${APP_DIR:?}" "${DOCKER_BIN:?}" "${PG_SERVICE:?}" "${DB_NAME:?}" "${DB_ROLE:?}" "${PART_URLS_URL:?}" "${PART_SIZE:?}"
PG_DUMP_COMPRESS="${PG_DUMP_COMPRESS:-}"

url_re='^(https://[a-z0-9][a-z0-9.-]*|http://127\.0\.0\.1:[0-9]+)/[A-Za-z0-9._~%/?=&-]+$'
if [[ ! "$PART_URLS_URL" =~ $url_re ]]; then
  echo "PART_URLS_URL is not a presigned S3 URL" >&2
  exit 64
fi
# every part URL must be on the same S3 endpoint as the list
export ftops_origin="${BASH_REMATCH[1]}"
if [[ ! "$PART_SIZE" =~ ^[1-9][0-9]{6,8}$ ]] || ((PART_SIZE < 5242880 || PART_SIZE > 536870912)); then
  echo "PART_SIZE must be 5 MiB..512 MiB" >&2
  exit 64
fi

# @include lib/count_rows.sh
# @include lib/snapshot.sh

cd "$APP_DIR"
work="$(mktemp -d)"
bg_pids=()
cleanup() {
  for pid in "${bg_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# curl_url URL [curl options...]: the URL goes to curl in a config read from stdin
curl_url() {
  local url="$1"
  shift
  curl -sSf --proto =http,https "$@" --config - <<<"url = \"$url\""
}
export -f curl_url

export ftops_urls="$work/part-urls"
if ! curl_url "$PART_URLS_URL" --retry 3 --retry-delay 1 -o "$ftops_urls"; then
  echo "could not fetch the list of part URLs" >&2
  exit 45
fi

# part_md5 FILE: its Content-MD5 (base64 of the binary MD5, RFC 1864). With S3 Object Lock, S3 refuses an
# UploadPart without Content-MD5 or an x-amz-checksum-* value (400 InvalidRequest); an x-amz-* header would
# have to be signed into the presigned URL before the part exists, Content-MD5 may be sent unsigned
# (docs/ssm.md). md5sum, printf and base64 are coreutils/bash, which this script needs anyway (openssl may
# be missing or refuse MD5 in FIPS mode, xxd is not installed everywhere).
part_md5() {
  local hex i bytes=""
  hex="$(md5sum <"$1")"
  hex="${hex%% *}"
  [[ "$hex" =~ ^[0-9a-f]{32}$ ]] || return 1
  for ((i = 0; i < 32; i += 2)); do bytes+="\\x${hex:i:2}"; done
  printf '%b' "$bytes" | base64
}
export -f part_md5

# Run by split for every part (FILE is the part's staging file, e.g. .../part.00001 for part 1).
upload_part() {
  set -euo pipefail
  local part="$FILE" n url headers etag md5 bad_char='[^A-Za-z0-9._~%/?=&:-]'
  n=$((10#${part##*.}))
  cat >"$part"
  if ((n == 1)) && [[ "$(head -c 5 "$part")" != "PGDMP" ]]; then
    rm -f "$part"
    echo "output is not a pg_dump custom-format archive" >&2
    return 41
  fi
  url="$(sed -n "${n}{p;q}" "$ftops_urls")"
  if [[ -z "$url" ]]; then
    rm -f "$part"
    echo "part $n: no presigned URL left (the upload was minted for fewer parts)" >&2
    return 42
  fi
  if [[ "$url" != "$ftops_origin/"* || "$url" =~ $bad_char ]]; then
    rm -f "$part"
    echo "part $n: the part URL is not a presigned URL on the expected S3 endpoint" >&2
    return 43
  fi
  if ! md5="$(part_md5 "$part")" || ! headers="$(curl_url "$url" --retry 3 --retry-delay 1 \
    -H "Content-MD5: $md5" -T "$part" -o /dev/null -D -)"; then
    rm -f "$part"
    echo "part $n: upload failed" >&2
    return 44
  fi
  rm -f "$part"
  etag="$(printf '%s\n' "$headers" | tr -d '\r' | sed -n 's/^[Ee][Tt][Aa][Gg]:[[:space:]]*//p' | tail -n 1)"
  if [[ ! "$etag" =~ ^\"?[A-Za-z0-9._-]{1,128}\"?$ ]]; then
    echo "part $n: S3 returned no usable ETag" >&2
    return 44
  fi
  printf 'PART %d %s\n' "$n" "$etag"
}
export -f upload_part

snapshot_open

compress_args=()
if [[ -n "$PG_DUMP_COMPRESS" ]]; then
  compress_args=("--compress=$PG_DUMP_COMPRESS")
fi

# sha256 and byte count of the whole stream, computed on the way
mkfifo "$work/sha.fifo" "$work/len.fifo"
sha256sum <"$work/sha.fifo" >"$work/sha" &
sha_pid=$!
wc -c <"$work/len.fifo" >"$work/len" &
len_pid=$!
bg_pids=("$sha_pid" "$len_pid")

set +e
"$DOCKER_BIN" compose exec -T "$PG_SERVICE" pg_dump -U "$DB_ROLE" -Fc "${compress_args[@]}" \
  --snapshot="$SNAPSHOT" "$DB_NAME" |
  tee "$work/sha.fifo" "$work/len.fifo" |
  SHELL="$(command -v bash)" split -b "$PART_SIZE" -a 5 --numeric-suffixes=1 --filter=upload_part - "$work/part."
statuses=("${PIPESTATUS[@]}")
set -e

snapshot_close

if [[ "${statuses[2]}" -ne 0 ]]; then
  echo "upload failed (split exited ${statuses[2]})" >&2
  exit 44
fi
if [[ "${statuses[0]}" -ne 0 ]]; then
  echo "pg_dump exited with status ${statuses[0]}" >&2
  exit "${statuses[0]}"
fi
if [[ "${statuses[1]}" -ne 0 ]]; then
  echo "tee exited with status ${statuses[1]}" >&2
  exit 46
fi
wait "$sha_pid"
wait "$len_pid"
bg_pids=()
read -r sha _ <"$work/sha"
bytes="$(tr -d '[:space:]' <"$work/len")"
if [[ ! "$sha" =~ ^[0-9a-f]{64}$ || ! "$bytes" =~ ^[0-9]+$ ]] || ((bytes < 5)); then
  echo "pg_dump produced no archive" >&2
  exit 47
fi
if [[ -z "$ROW_COUNTS" ]]; then
  echo "row counts were not returned" >&2
  exit 32
fi
printf 'SHA256 %s %s\n' "$sha" "$bytes"
printf 'ROWCOUNTS %s\n' "$ROW_COUNTS"
