#!/usr/bin/env bash
# The host's own guard on compose service names (inlined by host_scripts.load at "# @include"; every script that
# puts a service name on docker's command line).

# service_names_ok NAME...: every name is a compose service name (the control plane checked the same
# pattern, parameters.py; this is the host's own guard before a name reaches docker's command line)
service_names_ok() {
  local name
  for name in "$@"; do
    if [[ ! "$name" =~ ^[a-z][a-z0-9_-]{0,62}$ ]]; then
      echo "refusing service name '$name'" >&2
      return 64
    fi
  done
}
