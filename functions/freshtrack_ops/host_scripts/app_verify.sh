#!/usr/bin/env bash
# Verify the deployment as the manual does: `./scripts/verify-deployment.sh DOMAIN` in the app directory.
# Its output passes through and its exit code is this script's (64: a bad parameter, 66: no verify script).
set -euo pipefail
: "${APP_DIR:?}" "${DOMAIN:?}"
if [[ ! "$DOMAIN" =~ ^[a-z0-9.-]{1,253}$ || "$DOMAIN" == [.-]* ]]; then
  echo "refusing DOMAIN: expected a lowercase domain name" >&2
  exit 64
fi

cd "$APP_DIR"
if [[ ! -x ./scripts/verify-deployment.sh ]]; then
  echo "no executable ./scripts/verify-deployment.sh in $APP_DIR" >&2
  exit 66
fi
exec ./scripts/verify-deployment.sh "$DOMAIN"
