#!/usr/bin/env bash
# What the service workflow reads on the host (inlined by host_scripts.load at "# @include"). Prints
# "<key>=<value>" lines on stdout, parsed by the control plane (service/host.py); docker's own chatter goes to
# stderr. Needs APP_DIR as the cwd and DOCKER_BIN.

# service_report SERVICE...: "after.<service>=<State>" and "status.<service>=<Status>" for each service, from one
# `docker compose ps --all` (State: running, exited, restarting, ...; Status: "Up 2 hours (healthy)"). A service
# without a container (after `down`: compose lists none) is "absent". The Go template prints one line per
# container with the one-word fields first, so `read` splits them without parsing JSON (whose shape changed
# between compose releases: an array before 2.21, one object per line since). The template's braces are built
# at run time: SSM reads a literal double brace in a document as a parameter reference (ssm_document.py).
service_report() {
  local listing service state status name word rest lb='{'
  local template="$lb$lb.Service}} $lb$lb.State}} $lb$lb.Status}}"
  listing="$("$DOCKER_BIN" compose ps --all --format "$template")"
  for service in "$@"; do
    state="absent"
    status="no container"
    while read -r name word rest; do
      if [[ "$name" == "$service" ]]; then
        state="$word"
        status="$rest"
      fi
    done <<<"$listing"
    printf 'after.%s=%s\nstatus.%s=%s\n' "$service" "$state" "$service" "$status"
  done
}
