#!/usr/bin/env bash
# FreshTrack Pro automated deployment (local stand-in with the real script's interface and behaviour).
#   deploy-automated.sh          deploy the checked-out version
#   deploy-automated.sh --reset  clear the deployment checkpoints in .deploy-state/ and exit
#
# A deployment, as the operations manual describes it:
#   1. one-time steps (preflight, prerequisites) run only when their checkpoint in .deploy-state/ is missing
#   2. rebuild the backend and worker images from the checked-out code (`docker compose build`)
#   3. start the database (`docker compose up -d postgres redis`) and wait until it accepts connections
#   4. apply the migrations/*.sql not yet recorded in the schema_migrations table, in name order, each in
#      one transaction together with its schema_migrations row (forward-only: nothing is ever undone, so a
#      migration applied by a newer release stays applied when an older release is deployed)
#   5. restart the services on the new images (`docker compose up -d` recreates backend and worker)
#   6. record the deployed version in .deploy-state/
# Any failure stops the deployment with a non-zero exit. The database and role come from .env.production
# (DB_NAME, DB_USER). Local plane: DOCKER and HEALTH_URL come from the environment, else from the untracked
# .local-plane.env the local host writes (sudo resets the environment), else `docker` and https://DOMAIN.
set -euo pipefail

APP_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE_DIR="${APP_DIR}/.deploy-state"
cd "${APP_DIR}"

# setting NAME FILE: the value of NAME=value in FILE (read as data, never sourced)
setting() {
  [[ -f "$2" ]] || return 0
  sed -n "s/^$1=//p" "$2" | tail -n 1
}
DOCKER="${DOCKER:-$(setting DOCKER .local-plane.env)}"
DOCKER="${DOCKER:-docker}"
DB_NAME="$(setting DB_NAME .env.production)"
DB_USER="$(setting DB_USER .env.production)"
DB_NAME="${DB_NAME:-frostguard}"
DB_USER="${DB_USER:-frostguard}"

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
checkpoint() {
  printf 'version=%s\nat=%s\nstep=%s\n' "${version}" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$1" > "${STATE_DIR}/checkpoint"
}
psql_db() { "${DOCKER}" compose exec -T postgres psql -X -q -v ON_ERROR_STOP=1 -U "${DB_USER}" -d "${DB_NAME}" "$@"; }

for step in preflight prerequisites; do
  if step_done "${step}"; then
    echo "[deploy] ${step}: checkpoint exists, skipping"
  else
    echo "[deploy] ${step}: ok"
    mark_done "${step}"
  fi
done

version="$(git describe --tags --always)"
export APP_VERSION="${version}"  # docker-compose.yml tags the app images with it
checkpoint started
echo "[deploy] deploying ${version}"

echo "[deploy] building images"
"${DOCKER}" compose build backend worker
checkpoint built

"${DOCKER}" compose up -d postgres redis
for _ in $(seq 1 60); do
  if "${DOCKER}" compose exec -T postgres pg_isready -q -U "${DB_USER}" -d "${DB_NAME}"; then
    break
  fi
  sleep 1
done

echo "[deploy] running database migrations"
psql_db -c 'SET client_min_messages = warning' -c 'CREATE TABLE IF NOT EXISTS schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())'
applied="$(psql_db -A -t -c 'SELECT name FROM schema_migrations ORDER BY name')"
count=0
shopt -s nullglob
for file in migrations/*.sql; do
  name="$(basename "${file}" .sql)"
  if grep -qxF -- "${name}" <<< "${applied}"; then
    continue
  fi
  echo "[deploy] migration ${name}: applying"
  # the file and its record in one transaction: a failing migration leaves neither
  { cat -- "${file}"; printf '\n%s\n' "INSERT INTO schema_migrations (name) VALUES (:'migration');"; } \
    | psql_db --single-transaction -v migration="${name}" -f -
  count=$((count + 1))
done
echo "[deploy] migrations: ${count} applied"
checkpoint migrated

echo "[deploy] restarting services"
"${DOCKER}" compose up -d

checkpoint complete
printf '%s\n' "${version}" > "${STATE_DIR}/deployed_version"
echo "[deploy] ${version} deployed"
