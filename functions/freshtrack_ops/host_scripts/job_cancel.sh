#!/usr/bin/env bash
# Stop a host job (see lib/job.sh): TERM to its whole process group (pg_dump, curl, split, ...), KILL after
# 10 s, then record exit 143 and drop its URL list. A job that already ended is left as it is.
# stdout: "JOBSTATE cancelled", "JOBSTATE exited <code>" or "JOBSTATE absent". Never fails for a job that is
# gone: cancelling is what the janitor does after an abort, and it must be repeatable.
set -euo pipefail
: "${JOB_DIR:?}" "${JOB_ID:?}"

if [[ ! "$JOB_ID" =~ ^[0-9a-f]{16}$ ]]; then
  echo "JOB_ID is not a job id" >&2
  exit 64
fi
dir="$JOB_DIR/$JOB_ID"
if [[ ! -d "$dir" || -L "$dir" || ! -O "$dir" ]]; then
  echo "JOBSTATE absent"
  exit 0
fi
if [[ -f "$dir/exit" ]]; then
  printf 'JOBSTATE exited %s\n' "$(tr -dc '0-9' <"$dir/exit")"
  rm -f "$dir/urls" "$dir/urls.new"
  exit 0
fi
pid="$(tr -dc '0-9' <"$dir/pid" 2>/dev/null || true)"
if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
  kill -TERM -- "-$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL -- "-$pid" 2>/dev/null || true
fi
rm -f "$dir/urls" "$dir/urls.new"
if [[ ! -f "$dir/exit" ]]; then
  printf '143\n' >"$dir/exit"
fi
echo "cancelled by the control plane" >>"$dir/stderr"
echo "JOBSTATE cancelled"
