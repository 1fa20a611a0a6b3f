#!/usr/bin/env bash
# Deploy the checked-out version: `./scripts/deploy-automated.sh --reset` first when RESET=1 (the manual's
# rollback step "Clear deployment checkpoints"), then `./scripts/deploy-automated.sh` (checkpoints, image
# rebuilds, database migrations, restarts). The manual runs both with sudo: when this command's user is not
# root they run as `sudo -n` (never prompting: a user without passwordless sudo for them fails at once).
# Everything the deploy script prints passes through (stdout and stderr); the exit code is the deploy
# script's (64: a bad parameter, 66: no deploy script). The control plane bounds the time and keeps the output.
# With JOB_ID set it runs as a detached host job (lib/job.sh): a deployment may outlast one Lambda invocation.
set -euo pipefail
: "${APP_DIR:?}"
RESET="${RESET:-0}"
JOB_ID="${JOB_ID:-}"
JOB_DIR="${JOB_DIR:-/var/tmp/freshtrack-ops/jobs}"

# @include lib/job.sh
if [[ ! "$RESET" =~ ^(0|1)$ ]]; then
  echo "refusing RESET: expected 0 or 1" >&2
  exit 64
fi

job_detach_if_requested

cd "$APP_DIR"
if [[ ! -x ./scripts/deploy-automated.sh ]]; then
  echo "no executable ./scripts/deploy-automated.sh in $APP_DIR" >&2
  exit 66
fi
as_root=()
if [[ "$(id -u)" -ne 0 ]]; then
  as_root=(sudo -n)
fi

if [[ "$RESET" == 1 ]]; then
  "${as_root[@]}" ./scripts/deploy-automated.sh --reset
fi
exec "${as_root[@]}" ./scripts/deploy-automated.sh
