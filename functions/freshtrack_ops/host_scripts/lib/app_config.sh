#!/usr/bin/env bash
# The app's configuration in its directory: the manual's .env.production and secrets/<file>, nothing else
# (inlined by host_scripts.load at "# @include"; needs lib/git_tree.sh). These files are the app's secrets:
# nothing here prints their content anywhere but the payload on stdout, and never a name that is not checked.
#
# config_name_ok NAME: NAME is ".env.production" or "secrets/<file>", <file> being 1-128 of [A-Za-z0-9._-] and
#   not "." or ".." (no other directory, no absolute path, no "..").
# capture_config: in the app directory, print the capture payload (format 1, docs/disaster-recovery.md):
#     FRESHTRACK-APP-CONFIG 1
#     app_version=<git describe --tags --always>        (empty without a git work tree)
#     repository_url=<git remote get-url origin>        (empty without an origin)
#     files_tgz_b64=<gzip'd tar of .env.production and every file of secrets/, base64 on one line>
#   The archive holds plain files only, mode 600, owner 0, time 0. Exit 66: there is no .env.production; 67: an
#   entry of secrets/ is not a plain file (a link, a directory, a device) or its name is refused; 69: the archive
#   is over CONFIG_MAX_B64 characters of base64 (a Secrets Manager secret holds 64 KiB).

CONFIG_MAX_B64=49152

config_name_ok() {
  local name="$1" file
  [[ "$name" == .env.production ]] && return 0
  [[ "$name" == secrets/* ]] || return 1
  file="${name#secrets/}"
  [[ ${#file} -le 128 && "$file" =~ ^[A-Za-z0-9._-]+$ && "$file" != . && "$file" != .. ]]
}

capture_config() {
  local names=(.env.production) entry archive version="" origin=""
  if [[ -L .env.production || ! -f .env.production ]]; then
    echo "no .env.production in $PWD (not a plain file): there is no app configuration to capture" >&2
    exit 66
  fi
  if [[ -L secrets || (-e secrets && ! -d secrets) ]]; then
    echo "refusing: $PWD/secrets is not a directory" >&2
    exit 67
  fi
  if [[ -d secrets ]]; then
    shopt -s nullglob dotglob
    for entry in secrets/*; do
      if [[ -L "$entry" || ! -f "$entry" ]] || ! config_name_ok "$entry"; then
        echo "refusing: $(printf '%q' "$PWD/$entry") is not a plain file with an acceptable name" >&2
        exit 67
      fi
      names+=("$entry")
    done
    shopt -u nullglob dotglob
  fi
  archive="$(tar --create --no-recursion --format=ustar --numeric-owner --owner=0 --group=0 --mode=0600 \
    --mtime=@0 --file=- -- "${names[@]}" | gzip -n -9 | base64 -w 0)"
  if ((${#archive} > CONFIG_MAX_B64)); then
    echo "refusing: the configuration's archive is ${#archive} characters of base64, over $CONFIG_MAX_B64" >&2
    exit 69
  fi
  if git_app rev-parse --git-dir >/dev/null 2>&1; then
    version="$(git_app describe --tags --always 2>/dev/null || true)"
    origin="$(git_app remote get-url origin 2>/dev/null || true)"
  fi
  if [[ "$origin" == *[[:cntrl:]]* ]]; then
    echo "refusing: origin's URL holds a control character" >&2
    exit 67
  fi
  printf 'FRESHTRACK-APP-CONFIG 1\napp_version=%s\nrepository_url=%s\nfiles_tgz_b64=%s\n' "$version" "$origin" "$archive"
}
