#!/usr/bin/env bash
# The images the compose services' containers run now, recorded before an image update so that a failed one
# can pin them again (app_images_pin.sh). Prints, in this order:
#   override=<file>            the compose override file compose reads in APP_DIR (empty: none)
#   override_owner=<owner>     freshtrack-ops (our pins of an earlier failed update), foreign, or none
#   ### compose ps             `docker compose ps --all --format json` (the containers' services; --all: a
#                              stopped container is recreated by the deployment's `up -d` too, so its image
#                              is recorded as well)
#   ### compose images         `docker compose images --format json` (each container's image id)
#   ### image <id>             `docker image inspect --format '<json .RepoDigests in double braces>' <id>`:
#                              per image id, the registry digests a pin needs (an image id is not one; a
#                              built image has none)
# Nothing is changed. Exit 64: a bad parameter.
set -euo pipefail
: "${APP_DIR:?}" "${DOCKER_BIN:?}"
export LC_ALL=C

# @include lib/compose_override.sh
if [[ ! "$DOCKER_BIN" =~ ^(docker|/[A-Za-z0-9._/-]+)$ ]]; then
  echo "refusing DOCKER_BIN: expected docker or an absolute path" >&2
  exit 64
fi

# docker's Go template, spelled without two adjacent braces: SSM reads that pair in a document's command text
# as the start of a parameter reference, so no host script may contain it
brace='{'
repo_digests_format="$brace${brace}json .RepoDigests}}"

cd "$APP_DIR"
override="$(override_file)"
owner=none
if [[ -n "$override" ]]; then
  owner="$(override_owner "$override")"
fi
echo "override=$override"
echo "override_owner=$owner"
echo "### compose ps"
"$DOCKER_BIN" compose ps --all --format json
echo "### compose images"
"$DOCKER_BIN" compose images --format json
ids="$("$DOCKER_BIN" compose images -q)"
while IFS= read -r id; do
  [[ -z "$id" ]] && continue
  if [[ ! "$id" =~ ^[0-9a-f]{12,64}$ ]]; then
    echo "unexpected image id in 'docker compose images -q': ${id:0:80}" >&2
    exit 1
  fi
  echo "### image $id"
  "$DOCKER_BIN" image inspect --format "$repo_digests_format" "$id"
done <<<"$ids"
