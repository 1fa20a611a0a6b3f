#!/usr/bin/env bash
# Pin images again after a failed image update: write IMAGE_PINS ("service=repository@sha256:<64 hex>", space
# separated) as `services.<service>.image` into the compose override file compose reads in APP_DIR
# (lib/compose_override.sh: ours is replaced, a new one is docker-compose.override.yml; someone else's is
# refused with exit 65 and left as it is), then ask compose which image each service now resolves to
# (`docker compose config --images`) and fail (exit 1) unless every pin is among them: compose skips the
# default override file when COMPOSE_FILE is set (environment or .env). The deployment that follows
# (`deploy-automated.sh` runs `docker compose up -d`) recreates those containers from the pinned images.
# An empty IMAGE_PINS removes our file (there is nothing to pin). The file is written to a temporary name
# and renamed: never half-written. Exit 64: a bad parameter; 66: APP_DIR has no compose file.
# Prints pin_file=<file> and pinned=<count>.
set -euo pipefail
: "${APP_DIR:?}" "${DOCKER_BIN:?}" "${UPDATE_ID:?}"
IMAGE_PINS="${IMAGE_PINS:-}"
export LC_ALL=C

# @include lib/compose_override.sh
if [[ ! "$DOCKER_BIN" =~ ^(docker|/[A-Za-z0-9._/-]+)$ ]]; then
  echo "refusing DOCKER_BIN: expected docker or an absolute path" >&2
  exit 64
fi
if [[ ! "$UPDATE_ID" =~ ^[a-z][a-z0-9-]{0,39}-[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}$ ]]; then
  echo "refusing UPDATE_ID: expected <host>-<yyyymmdd>T<hhmmss>Z-<8 hex>" >&2
  exit 64
fi
read -r -a pins <<<"$IMAGE_PINS"
for pin in "${pins[@]}"; do
  if [[ ! "$pin" =~ ^[a-z][a-z0-9_-]{0,62}=[a-z0-9][a-z0-9._/:-]*@sha256:[0-9a-f]{64}$ ]]; then
    echo "refusing IMAGE_PINS: expected service=repository@sha256:<64 hex>, got '${pin:0:80}'" >&2
    exit 64
  fi
done

cd "$APP_DIR"
if [[ ! -f compose.yaml && ! -f compose.yml && ! -f docker-compose.yml && ! -f docker-compose.yaml ]]; then
  echo "no compose file in $APP_DIR" >&2
  exit 66
fi
override="$(override_file)"
if [[ -n "$override" && "$(override_owner "$override")" != freshtrack-ops ]]; then
  echo "refusing: $override was not written by FreshTrack Ops; it is left as it is and nothing is pinned" >&2
  exit 65
fi
file="${override:-$(new_override_file)}"
if [[ ${#pins[@]} -eq 0 ]]; then
  rm -f -- "$file"
  echo "pin_file="
  echo "pinned=0"
  exit 0
fi

tmp="$(mktemp "./.$file.XXXXXX")"
trap 'rm -f -- "$tmp"' EXIT
{
  pin_marker_line
  echo "# Written by FreshTrack Ops at $(date -u +%Y-%m-%dT%H:%M:%SZ), rolling back image update $UPDATE_ID:"
  echo "# pins the images that ran before it. The next image update removes this file; delete it to follow"
  echo "# the tags of the compose file again."
  echo "services:"
  for pin in "${pins[@]}"; do
    echo "  ${pin%%=*}:"
    echo "    image: ${pin#*=}"
  done
} >"$tmp"
chmod 644 "$tmp"
mv -f -- "$tmp" "$file"

resolved="$("$DOCKER_BIN" compose config --images)"
for pin in "${pins[@]}"; do
  if ! grep -qxF -- "${pin#*=}" <<<"$resolved"; then
    echo "compose does not use $file (is COMPOSE_FILE set?): ${pin%%=*} does not resolve to ${pin#*=}" >&2
    exit 1
  fi
done
echo "pin_file=$file"
echo "pinned=${#pins[@]}"
