#!/usr/bin/env bash
# Deploy the checked-out version: `./scripts/deploy-automated.sh --reset` first when RESET=1 (the manual's
# rollback step "Clear deployment checkpoints"), then `./scripts/deploy-automated.sh` (checkpoints, image
# rebuilds, database migrations, restarts). The manual runs both with sudo: when this command's user is not
# root they run as `sudo -n` (never prompting: a user without passwordless sudo for them fails at once).
# PULL_IMAGES=1 is the manual's monthly Docker update: `docker compose pull` before the deployment, after
# removing the image pins a failed image update left (lib/compose_override.sh: only our own file; someone
# else's override file is refused with exit 65, since a pin in it would keep the old images).
# Everything the deploy script prints passes through (stdout and stderr); the exit code is the deploy
# script's (64: a bad parameter, 66: no deploy script). The control plane bounds the time and keeps the output.
# With JOB_ID set it runs as a detached host job (lib/job.sh): a deployment may outlast one Lambda invocation.
set -euo pipefail
: "${APP_DIR:?}"
RESET="${RESET:-0}"
PULL_IMAGES="${PULL_IMAGES:-0}"
DOCKER_BIN="${DOCKER_BIN:-docker}"
JOB_ID="${JOB_ID:-}"
JOB_DIR="${JOB_DIR:-/var/tmp/freshtrack-ops/jobs}"

# @include lib/job.sh
# @include lib/compose_override.sh
if [[ ! "$RESET" =~ ^(0|1)$ || ! "$PULL_IMAGES" =~ ^(0|1)$ ]]; then
  echo "refusing RESET or PULL_IMAGES: expected 0 or 1" >&2
  exit 64
fi
if [[ ! "$DOCKER_BIN" =~ ^(docker|/[A-Za-z0-9._/-]+)$ ]]; then
  echo "refusing DOCKER_BIN: expected docker or an absolute path" >&2
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

if [[ "$PULL_IMAGES" == 1 ]]; then
  override="$(override_file)"
  if [[ -n "$override" && "$(override_owner "$override")" != freshtrack-ops ]]; then
    echo "refusing: $override was not written by FreshTrack Ops; an image update would keep what it pins" >&2
    exit 65
  fi
  if [[ -n "$override" ]]; then
    rm -f -- "$override"
    echo "[freshtrack-ops] removed the image pins of an earlier image rollback ($override)"
  fi
  echo "[freshtrack-ops] docker compose pull"
  "$DOCKER_BIN" compose pull
fi
if [[ "$RESET" == 1 ]]; then
  "${as_root[@]}" ./scripts/deploy-automated.sh --reset
fi
exec "${as_root[@]}" ./scripts/deploy-automated.sh
