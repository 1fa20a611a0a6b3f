#!/usr/bin/env bash
# The manual's "Database Scaling" (docs/maintenance.md): DB_POOL_SIZE in .env.production, then the backend
# recreated so it reads it. `docker compose restart` (the manual's command) keeps the container and its
# environment: a changed env_file only reaches a container that is recreated ("docker compose restart": "If you
# make changes to your compose.yml configuration, these changes are not reflected after running this command"),
# hence `up -d --no-deps --force-recreate`. POOL_SIZE=read prints the value and changes nothing; an empty POOL_SIZE
# removes the line (a revert to a file that had none: the app's default applies again).
# Stdout, parsed by the control plane (maintenance/pool.py): "previous=<old value or empty>", "size=<new or empty>",
# "ran=<command>", then "after.<service>=<state>" / "status.<service>=<status>" for the restarted services.
# Exit 64: a refused parameter; 66: no .env.production.
set -euo pipefail
: "${APP_DIR:?}" "${DOCKER_BIN:?}" "${SERVICES:?}"
POOL_SIZE="${POOL_SIZE:-}"
# @include lib/names.sh
# @include lib/env_file.sh
# @include lib/service.sh
read -r -a services <<<"$SERVICES"
service_names_ok "${services[@]}" || exit 64
if [[ ! "$POOL_SIZE" =~ ^(read|[1-9][0-9]{0,3})?$ ]]; then
  echo "refusing POOL_SIZE '$POOL_SIZE'" >&2
  exit 64
fi
cd "$APP_DIR"
if [[ ! -f .env.production ]]; then
  echo "no $APP_DIR/.env.production" >&2
  exit 66
fi
printf 'previous=%s\n' "$(env_get .env.production DB_POOL_SIZE)"
if [[ "$POOL_SIZE" == read ]]; then
  exit 0
elif [[ -z "$POOL_SIZE" ]]; then
  env_unset .env.production DB_POOL_SIZE
else
  env_set .env.production DB_POOL_SIZE "$POOL_SIZE"
fi
printf 'size=%s\n' "$(env_get .env.production DB_POOL_SIZE)"
printf 'ran=docker compose up -d --no-deps --force-recreate %s\n' "${services[*]}"
"$DOCKER_BIN" compose up -d --no-deps --force-recreate "${services[@]}" >&2
service_report "${services[@]}"
