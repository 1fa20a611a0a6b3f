#!/usr/bin/env bash
# Host jobs (inlined by host_scripts.load at "# @include"): a data-path script that may outlive one
# control-plane invocation (a Lambda runs at most 15 minutes) runs detached on the host while Step
# Functions polls it with job_poll.sh.
#
# job_detach_if_requested: when JOB_ID is set and this is not already the job, start THIS script again
# (its text is $BASH_EXECUTION_STRING: both transports run scripts with `bash -c`) in a new session
# (setsid: the SSM agent kills the command's process group on timeout or cancel, and a session of its own
# escapes that; every fd goes to a file, so neither sshd nor the agent waits for it), print
# "JOB <id> STARTED" and exit 0. The job directory JOB_DIR/JOB_ID (mode 700) holds: script, pid (= the
# job's process group), stdout, stderr, and exit (the exit code, written last). The parameters reach the
# job the way they reached this script: as exported environment variables, never argv.
# Exit codes: 70 bad JOB_ID/JOB_DIR, 73 the job already exists.

job_dir_ok() {
  # JOB_DIR must be ours and not a symlink (another user could pre-create it on a shared host)
  [[ "$JOB_DIR" =~ ^/[A-Za-z0-9._/-]+$ && "$JOB_DIR" != *..* ]] || return 1
  (umask 077 && mkdir -p -- "$JOB_DIR") || return 1
  [[ -d "$JOB_DIR" && ! -L "$JOB_DIR" && -O "$JOB_DIR" ]]
}

job_detach_if_requested() {
  if [[ -z "${JOB_ID:-}" || -n "${ftops_job_path:-}" ]]; then
    return 0
  fi
  if [[ ! "$JOB_ID" =~ ^[0-9a-f]{16}$ ]] || ! job_dir_ok; then
    echo "JOB_ID or JOB_DIR is not usable" >&2
    exit 70
  fi
  local dir="$JOB_DIR/$JOB_ID"
  if ! (umask 077 && mkdir -- "$dir"); then
    echo "job $JOB_ID already exists" >&2
    exit 73
  fi
  printf '%s\n' "$BASH_EXECUTION_STRING" >"$dir/script"
  # the job's own wrapper: run the script, record its exit code atomically, drop the (credential) URL list
  # shellcheck disable=SC2016 # expanded by the job's bash, not here
  ftops_job_path="$dir" setsid bash -c '
    dir="$ftops_job_path"
    printf "%s\n" "$$" >"$dir/pid"
    bash -c "$(cat "$dir/script")" "$1" >"$dir/stdout" 2>"$dir/stderr"
    status=$?
    rm -f "$dir/urls" "$dir/urls.new"
    printf "%s\n" "$status" >"$dir/exit.tmp" && mv "$dir/exit.tmp" "$dir/exit"
  ' "$0" </dev/null >/dev/null 2>&1 &
  # the pid file is the job's proof of life for job_poll.sh: wait until it is there
  local tries=0
  while [[ ! -s "$dir/pid" ]] && ((tries < 100)); do
    sleep 0.05
    tries=$((tries + 1))
  done
  if [[ ! -s "$dir/pid" ]]; then
    echo "job $JOB_ID did not start" >&2
    exit 71
  fi
  echo "JOB $JOB_ID STARTED"
  exit 0
}
