#!/usr/bin/env bash
# Atomic edits of the app's .env.production (inlined by host_scripts.load at "# @include"): the db-pool and
# rotate-secrets workflows change one line each and must never leave a half-written file behind.

# env_get FILE KEY: the value of the last KEY= line (docker compose reads the file top to bottom: the last wins);
# empty when there is none
env_get() {
  awk -v key="$2" 'index($0, key "=") == 1 { value = substr($0, length(key) + 2) } END { print value }' "$1"
}

# env_set FILE KEY VALUE: every KEY= line set to VALUE (or one appended), written to a temporary file in the same
# directory with the file's own mode and owner, then renamed over it: a reader sees the old file or the new one,
# never a mix (rename(2) is atomic on one filesystem). VALUE travels in the environment, not awk's argv (ps).
env_set() {
  local file="$1" tmp
  tmp="$(mktemp "$file.XXXXXX")"
  chmod --reference="$file" "$tmp"
  chown --reference="$file" "$tmp" 2>/dev/null || true
  if ! ENV_VALUE="$3" awk -v key="$2" '
      index($0, key "=") == 1 { print key "=" ENVIRON["ENV_VALUE"]; found = 1; next }
      { print }
      END { if (!found) print key "=" ENVIRON["ENV_VALUE"] }' "$file" >"$tmp"; then
    rm -f "$tmp"
    return 1
  fi
  mv -f "$tmp" "$file"
}

# env_unset FILE KEY: every KEY= line removed (atomically, as env_set)
env_unset() {
  local file="$1" tmp
  tmp="$(mktemp "$file.XXXXXX")"
  chmod --reference="$file" "$tmp"
  chown --reference="$file" "$tmp" 2>/dev/null || true
  if ! awk -v key="$2" 'index($0, key "=") != 1' "$file" >"$tmp"; then
    rm -f "$tmp"
    return 1
  fi
  mv -f "$tmp" "$file"
}
