#!/usr/bin/env bash
# Data path of a backup through presigned URLs (every SSM backup; an SSH backup too long for one Lambda
# invocation): stream `pg_dump -Fc` of DB_NAME straight into an S3 multipart upload through presigned
# UploadPart URLs: no AWS credentials on the host and no full temporary file.
# The dump is the snapshot-consistent one of backup_dump.sh: a psql session exports a repeatable-read
# snapshot and counts rows in it while pg_dump --snapshot reuses it.
# PART_URLS_URL is a presigned GET URL of a text object listing "<part> <presigned UploadPart URL>" lines.
# The stream is cut into PART_SIZE-byte parts (GNU split --filter); each part is staged in one temporary
# file (presigned PUTs need a Content-Length, S3 takes no chunked encoding), PUT and removed.
# With JOB_ID set the script runs as a detached host job (lib/job.sh) and a part whose URL is missing or
# refused (403: URLs die with the credentials that signed them) waits for the control plane's next poll to
# deliver fresh ones (job_poll.sh replaces the list); the part is then uploaded again.
# stdout: "PART <n> <etag>" per uploaded part, then "SHA256 <hex> <bytes>" and "ROWCOUNTS <json>".
# Any failure exits non-zero; the control plane then aborts the upload. The URLs are bearer credentials:
# they reach curl only through a config on stdin, never a command line (ps) or a log line.
set -euo pipefail
: "${APP_DIR:?}" "${DOCKER_BIN:?}" "${PG_SERVICE:?}" "${DB_NAME:?}" "${DB_ROLE:?}" "${PART_URLS_URL:?}" "${PART_SIZE:?}"
PG_DUMP_COMPRESS="${PG_DUMP_COMPRESS:-}"
export ARCHIVE_CODEC="${ARCHIVE_CODEC:-}"
JOB_ID="${JOB_ID:-}"
JOB_DIR="${JOB_DIR:-/var/tmp/freshtrack-ops/jobs}"
#: how long a part waits for fresh URLs in a job (the control plane polls every few minutes at most)
url_wait_s=900

# @include lib/urls.sh
# @include lib/job.sh

if ! presigned_url_ok "$PART_URLS_URL"; then
  echo "PART_URLS_URL is not a presigned S3 URL" >&2
  exit 64
fi
if [[ ! "$PART_SIZE" =~ ^[1-9][0-9]{6,8}$ ]] || ((PART_SIZE < 5242880 || PART_SIZE > 536870912)); then
  echo "PART_SIZE must be 5 MiB..512 MiB" >&2
  exit 64
fi
job_detach_if_requested
export ftops_origin

# @include lib/count_rows.sh
# @include lib/snapshot.sh
# @include lib/dump_archive.sh

cd "$APP_DIR"
work="$(mktemp -d)"
bg_pids=()
cleanup() {
  for pid in "${bg_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# the list of part URLs: in a job it lives in the job directory, where each poll may replace it. A job whose
# first list is refused (its signer's credentials may already be gone) asks the next poll for fresh URLs.
export ftops_urls="${ftops_job_path:-$work}/urls"
export url_wait_s
fetched=0
fetch_url_list "$PART_URLS_URL" "$ftops_urls" || fetched=$?
if ((fetched != 0)); then
  if [[ -z "${ftops_job_path:-}" ]]; then
    exit "$fetched"
  fi
  printf '1\n' >"$ftops_job_path/needurls"
fi

# list_stamp: changes whenever a poll replaces the URL list (mv: a new inode)
list_stamp() {
  stat -c '%i %Y' "$ftops_urls" 2>/dev/null || echo none
}

# part_url N: the URL of part N in the current list, or nothing
part_url() {
  awk -v n="$1" '$1 == n { print $2; exit }' "$ftops_urls" 2>/dev/null || true
}

# wait_for_urls N STAMP: in a job, ask the control plane for fresh URLs from part N on and wait until the
# list changes (at most url_wait_s); fails at once outside a job (nobody would deliver any)
wait_for_urls() {
  local n="$1" stamp="$2" waited=0
  [[ -n "${ftops_job_path:-}" ]] || return 1
  printf '%s\n' "$n" >"$ftops_job_path/needurls"
  while [[ "$(list_stamp)" == "$stamp" ]]; do
    if ((waited >= url_wait_s)); then
      return 1
    fi
    sleep 1
    waited=$((waited + 1))
  done
}

# put_part URL FILE HEADERS: PUT FILE to URL with its Content-MD5, response headers into HEADERS and the
# response body into HEADERS.body; prints the HTTP status
put_part() {
  local md5
  md5="$(content_md5 "$2")" || return 1
  curl -sS --proto =http,https --retry 3 --retry-delay 1 -H "Content-MD5: $md5" -T "$2" -o "$3.body" -D "$3" \
    -w '%{http_code}' --config - <<<"url = \"$1\""
}

# url_refused STATUS BODY_FILE: S3 refused the URL itself, not the part: 403 (the URL expired) or 400
# ExpiredToken (the credentials that signed it did; a URL dies with them, whatever its own expiry says)
url_refused() {
  [[ "$1" == 403 ]] || { [[ "$1" == 400 ]] && grep -q '<Code>ExpiredToken</Code>' "$2" 2>/dev/null; }
}

export -f content_md5

# Run by split for every part (FILE is the part's staging file, e.g. .../part.00001 for part 1).
upload_part() {
  set -euo pipefail
  local part="$FILE" n url stamp status etag refused=0 bad_char='[^A-Za-z0-9._~%/?=&:-]'
  n=$((10#${part##*.}))
  cat >"$part"
  if ((n == 1)) && ! archive_magic_ok "$part"; then
    rm -f "$part"
    echo "output is not a pg_dump custom-format archive${ARCHIVE_CODEC:+ in a $ARCHIVE_CODEC frame}" >&2
    return 41
  fi
  while :; do
    stamp="$(list_stamp)"
    url="$(part_url "$n")"
    if [[ -z "$url" ]]; then
      if wait_for_urls "$n" "$stamp"; then
        continue
      fi
      rm -f "$part"
      echo "part $n: no presigned URL for this part (the upload was minted for fewer parts)" >&2
      return 42
    fi
    if [[ "$url" != "$ftops_origin/"* || "$url" =~ $bad_char ]]; then
      rm -f "$part"
      echo "part $n: the part URL is not a presigned URL on the expected S3 endpoint" >&2
      return 43
    fi
    if ! status="$(put_part "$url" "$part" "$part.headers")"; then
      rm -f "$part" "$part.headers" "$part.headers.body"
      echo "part $n: upload failed" >&2
      return 44
    fi
    if [[ "$status" == 200 ]]; then
      break
    fi
    # a job gets fresh URLs from the control plane's next poll, and uploads the part again
    refused=$((refused + 1))
    if url_refused "$status" "$part.headers.body" && ((refused <= 5)) && wait_for_urls "$n" "$stamp"; then
      continue
    fi
    rm -f "$part" "$part.headers" "$part.headers.body"
    echo "part $n: upload refused (HTTP $status)" >&2
    return 44
  done
  rm -f "$part"
  etag="$(tr -d '\r' <"$part.headers" | sed -n 's/^[Ee][Tt][Aa][Gg]:[[:space:]]*//p' | tail -n 1)"
  rm -f "$part.headers" "$part.headers.body"
  if [[ ! "$etag" =~ ^\"?[A-Za-z0-9._-]{1,128}\"?$ ]]; then
    echo "part $n: S3 returned no usable ETag" >&2
    return 44
  fi
  printf 'PART %d %s\n' "$n" "$etag"
}
export -f list_stamp part_url wait_for_urls put_part url_refused upload_part archive_magic_ok

snapshot_open

# sha256 and byte count of the whole stream, computed on the way
mkfifo "$work/sha.fifo" "$work/len.fifo"
sha256sum <"$work/sha.fifo" >"$work/sha" &
sha_pid=$!
wc -c <"$work/len.fifo" >"$work/len" &
len_pid=$!
bg_pids=("$sha_pid" "$len_pid")

set +e
dump_archive |
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
