#!/usr/bin/env bash
# Report on a host job (see lib/job.sh) for the control plane's poll, and hand it fresh part URLs.
# FRESH_URLS_URL (optional): a presigned GET of a new list of "<part> <presigned UploadPart URL>" lines; it
# replaces the job's list atomically (URLs die with the credentials that signed them, so a long upload is
# fed fresh ones as it goes).
# stdout, first line: "JOBSTATE running", "JOBSTATE exited <code>" or "JOBSTATE lost" (no exit code and no
# live process: the host rebooted or the job was killed). Running: "JOBPROGRESS parts=<n> bytes=<b>
# needurls=<part or 0> elapsed=<s>". Exited: the job's whole stdout follows, and its stderr goes to stderr,
# so the control plane reads the result exactly as if the script had run in the foreground.
# Exit codes: 66 no such job, 45 the URL list could not be fetched, 64 a bad URL or list.
set -euo pipefail
: "${JOB_DIR:?}" "${JOB_ID:?}"
FRESH_URLS_URL="${FRESH_URLS_URL:-}"

# @include lib/urls.sh

if [[ ! "$JOB_ID" =~ ^[0-9a-f]{16}$ ]]; then
  echo "JOB_ID is not a job id" >&2
  exit 64
fi
dir="$JOB_DIR/$JOB_ID"
if [[ ! -d "$dir" || -L "$dir" || ! -O "$dir" || ! -s "$dir/pid" ]]; then
  echo "no job $JOB_ID on this host" >&2
  exit 66
fi
# old jobs' directories go (a job's result is read within minutes of its end)
find "$JOB_DIR" -mindepth 1 -maxdepth 1 -type d -mtime +2 -exec rm -rf {} + 2>/dev/null || true

if [[ -n "$FRESH_URLS_URL" && ! -f "$dir/exit" ]]; then
  fetch_url_list "$FRESH_URLS_URL" "$dir/urls.new" || exit
  mv -f "$dir/urls.new" "$dir/urls"
  rm -f "$dir/needurls"
fi

if [[ -f "$dir/exit" ]]; then
  printf 'JOBSTATE exited %s\n' "$(tr -dc '0-9' <"$dir/exit")"
  cat "$dir/stdout"
  cat "$dir/stderr" >&2
  exit 0
fi
pid="$(tr -dc '0-9' <"$dir/pid")"
if ! kill -0 "$pid" 2>/dev/null; then
  # the wrapper writes "exit" after the script ends: look again before calling the job lost
  sleep 1
  if [[ -f "$dir/exit" ]]; then
    printf 'JOBSTATE exited %s\n' "$(tr -dc '0-9' <"$dir/exit")"
    cat "$dir/stdout"
    cat "$dir/stderr" >&2
    exit 0
  fi
  echo "JOBSTATE lost"
  tail -c 2000 "$dir/stderr" >&2 || true
  exit 0
fi
parts="$(grep -c '^PART ' "$dir/stdout" || true)"
bytes="$(stat -c %s "$dir/stdout" 2>/dev/null || echo 0)"
needurls="$(tr -dc '0-9' <"$dir/needurls" 2>/dev/null || true)"
started="$(stat -c %Y "$dir/pid")"
echo "JOBSTATE running"
printf 'JOBPROGRESS parts=%s bytes=%s needurls=%s elapsed=%s\n' \
  "${parts:-0}" "$bytes" "${needurls:-0}" "$(($(date +%s) - started))"
