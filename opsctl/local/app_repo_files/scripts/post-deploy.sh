#!/usr/bin/env bash
# Post-deployment tasks: print what is deployed and the service status.
#   post-deploy.sh [DOMAIN]
set -euo pipefail

APP_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DOCKER="${DOCKER:-docker}"
cd "${APP_DIR}"

echo "[post-deploy] version: $(git describe --tags)"
if [[ -n "${1:-}" ]]; then
  echo "[post-deploy] domain: $1"
fi
"${DOCKER}" compose ps
echo "[post-deploy] complete"
