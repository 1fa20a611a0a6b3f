#!/usr/bin/env bash
# The compose override file that pins images after a failed image update (inlined by host_scripts.load at
# "# @include"). Run in APP_DIR.
#
# Given neither -f nor COMPOSE_FILE, docker compose reads the first existing of compose.yaml, compose.yml,
# docker-compose.yml, docker-compose.yaml in the project directory and, beside it, the FIRST existing of
# compose.override.yml, compose.override.yaml, docker-compose.override.yml, docker-compose.override.yaml
# (compose-go cli.DefaultFileNames / DefaultOverrideFileNames): the manual's own `docker compose ...` and
# `scripts/deploy-automated.sh` pick the pins up without being changed. FreshTrack Ops writes its pins into
# that override file with pin_marker as the first line; a file without it (or a symlink) belongs to someone
# else and is never written, moved or removed.
#
# override_file: the override file compose reads here ("" when there is none)
# new_override_file: the name our override file gets when there is none (docker-compose.yml is the app's file)
# override_owner FILE: "freshtrack-ops" when FILE is ours, else "foreign"
# pin_marker_line: the first line of our override file
# is_our_untracked_override PATH: PATH (relative to APP_DIR, as git status prints it) is that override file
#   and ours (what refuse_dirty_tree lets pass: our pins are not local changes to the app)

pin_marker='# FreshTrack Ops image pins'

pin_marker_line() { echo "$pin_marker"; }

new_override_file() { echo docker-compose.override.yml; }

override_file() {
  local name
  for name in compose.override.yml compose.override.yaml docker-compose.override.yml docker-compose.override.yaml; do
    if [[ -e "$name" || -L "$name" ]]; then
      echo "$name"
      return 0
    fi
  done
  echo ""
}

override_owner() {
  local first=""
  if [[ -f "$1" && ! -L "$1" ]]; then
    IFS= read -r first <"$1" || true
  fi
  if [[ "$first" == "$pin_marker" ]]; then
    echo freshtrack-ops
  else
    echo foreign
  fi
}

is_our_untracked_override() {
  [[ -n "$1" && "$1" == "$(override_file)" && "$(override_owner "$1")" == freshtrack-ops ]]
}
