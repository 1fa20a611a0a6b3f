#!/usr/bin/env bash
# Shared by the scripts that read a backup object through a presigned URL (inlined by host_scripts.load at
# "# @include"; needs lib/urls.sh).
#
# stream_object_into URL WHAT COMMAND...: download URL (a presigned GET; it reaches curl only through a
# config on stdin, never argv) and pipe it into COMMAND, hashing the WHOLE object on the way — what
# COMMAND leaves unread is drained — then print "SHA256 <hex> <bytes>". Fails (non-zero) when the
# download, tee or COMMAND fails; WHAT names COMMAND in the error.

stream_object_into() {
  local url="$1" what="$2"
  shift 2
  if ! presigned_url_ok "$url"; then
    echo "OBJECT_URL is not a presigned S3 URL" >&2
    return 64
  fi

  local work sha_pid len_pid
  work="$(mktemp -d)"
  # shellcheck disable=SC2064 # expand now: $work is local to this function
  trap "rm -rf '$work'; jobs -p | xargs -r kill 2>/dev/null || true" EXIT
  mkfifo "$work/sha.fifo" "$work/len.fifo"
  sha256sum <"$work/sha.fifo" >"$work/sha" &
  sha_pid=$!
  wc -c <"$work/len.fifo" >"$work/len" &
  len_pid=$!

  set +e
  # --retry: S3 answers some requests 500 InternalError or 503 SlowDown and asks the client to retry them
  # (https://docs.aws.amazon.com/AmazonS3/latest/userguide/ErrorBestPractices.html). The upload's curl retried,
  # this download did not: one 503 failed a whole SSM test restore, restore or recovery (tests/faults). curl
  # retries only transient errors (a timeout, HTTP 408/429/500/502/503/504:
  # https://everything.curl.dev/usingcurl/downloads/retry), which S3 sends before any byte of the body, and -f
  # writes no error body: nothing reaches the pipe twice, and the SHA256 below still covers what was read.
  curl -sSf --proto =http,https --retry 3 --retry-delay 1 --config - <<<"url = \"$url\"" |
    tee "$work/sha.fifo" "$work/len.fifo" |
    (
      status=0
      "$@" || status=$?
      cat >/dev/null # drain: the hash must cover the whole object
      exit "$status"
    )
  local statuses=("${PIPESTATUS[@]}")
  set -e

  if [[ "${statuses[0]}" -ne 0 ]]; then
    echo "download failed (curl exited ${statuses[0]}); $what exited ${statuses[2]}" >&2
    return 45
  fi
  if [[ "${statuses[1]}" -ne 0 ]]; then
    echo "tee exited with status ${statuses[1]}" >&2
    return 46
  fi
  if [[ "${statuses[2]}" -ne 0 ]]; then
    echo "$what exited with status ${statuses[2]}" >&2
    return "${statuses[2]}"
  fi
  wait "$sha_pid" "$len_pid"
  local sha bytes
  read -r sha _ <"$work/sha"
  bytes="$(tr -d '[:space:]' <"$work/len")"
  printf 'SHA256 %s %s\n' "$sha" "$bytes"
}
