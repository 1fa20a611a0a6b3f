#!/usr/bin/env bash
# Post-deployment tasks: print what is deployed and the service status.
#   post-deploy.sh [DOMAIN]
set -euo pipefail

APP_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${APP_DIR}"
if [[ -z "${DOCKER:-}" && -f .local-plane.env ]]; then
  DOCKER="$(sed -n 's/^DOCKER=//p' .local-plane.env | tail -n 1)"  # the local plane's docker shim
fi
DOCKER="${DOCKER:-docker}"

echo "[post-deploy] version: $(git describe --tags)"
if [[ -n "${1:-}" ]]; then
  echo "[post-deploy] domain: $1"
fi
"${DOCKER}" compose ps
echo "[post-deploy] complete"
