#!/usr/bin/env bash
# FreshTrack Pro automated deployment (local stand-in with the real script's interface).
#   deploy-automated.sh          deploy the checked-out version (checkpoints skip finished one-time steps)
#   deploy-automated.sh --reset  clear the deployment checkpoints in .deploy-state/ and exit
set -euo pipefail

APP_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE_DIR="${APP_DIR}/.deploy-state"
DOCKER="${DOCKER:-docker}"
cd "${APP_DIR}"

if [[ "${1:-}" == "--reset" ]]; then
  mkdir -p "${STATE_DIR}"
  find "${STATE_DIR}" -mindepth 1 -delete
  echo "[deploy] deployment checkpoints cleared"
  exit 0
elif [[ $# -gt 0 ]]; then
  echo "usage: $0 [--reset]" >&2
  exit 2
fi

mkdir -p "${STATE_DIR}"
chmod 700 "${STATE_DIR}"

step_done() { [[ -f "${STATE_DIR}/$1.done" ]]; }
mark_done() { date -u +%Y-%m-%dT%H:%M:%SZ > "${STATE_DIR}/$1.done"; }

for step in preflight prerequisites; do
  if step_done "${step}"; then
    echo "[deploy] ${step}: checkpoint exists, skipping"
  else
    echo "[deploy] ${step}: ok"
    mark_done "${step}"
  fi
done

version="$(git describe --tags)"
printf 'version=%s\nstarted_at=%s\nstep=started\n' "${version}" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  > "${STATE_DIR}/checkpoint"
echo "[deploy] deploying ${version}"

"${DOCKER}" compose build
"${DOCKER}" compose up -d
"${DOCKER}" compose exec -T backend npm run db:migrate

printf 'version=%s\nfinished_at=%s\nstep=complete\n' "${version}" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  > "${STATE_DIR}/checkpoint"
printf '%s\n' "${version}" > "${STATE_DIR}/deployed_version"
echo "[deploy] ${version} deployed"
