#!/usr/bin/env bash
# Bootstrap a replacement server's app directory (the disaster recovery's dr-bootstrap step; the manual's
# "Complete Server Recovery": clone the app, put .env.production and secrets/ back), exactly and in this order:
# 1. The payload, on stdin (SSH) or from a presigned GET (PAYLOAD_URL, SSM): "FRESHTRACK-DR-BOOTSTRAP 1",
#    repository_url=<origin URL>, files_tgz_b64=<the captured archive>. Every entry of the archive must be a
#    plain file named .env.production or secrets/<file> (no other path, no absolute path, no "..", no link, no
#    directory) and .env.production must be there: exit 67 otherwise, before anything is touched.
# 2. git. APP_DIR is empty (a new server: `git init`) or a clean git work tree (a standby; exit 65 when it has
#    local changes, or when it is neither empty nor a work tree). origin is set to the repository URL without the
#    URL reaching any argv of ours (it may carry a token): printf, a builtin, writes it into .git/config. Then
#    `git fetch --tags --prune origin` (exit 68 when it fails; its messages lose any user:token@ of a URL) and
#    GIT_REVISION is resolved to a commit (git takes `git describe` output: vX.Y.Z, vX.Y.Z-N-g<hash>, <hash>):
#    exit 66 when the repository has no such revision. A new server's .git is removed again when any of this
#    fails: its app directory is left empty, as found. The commit is checked out as branch main (`git switch -C
#    main`), its upstream origin/main when origin has that branch.
# 3. The files: extracted inside .git/ (same file system, never in the work tree), mode 600 (secrets/ 700), then
#    renamed into place (.env.production atomically; secrets/ replaced as a whole, so no stale file of a standby
#    stays). /.env.production and /secrets/ are added to .git/info/exclude: they never make the tree dirty for a
#    later update, whatever the checked-out .gitignore says.
# Exit 64: a bad parameter or payload URL; 45: the payload could not be downloaded.
# Prints checked_out=<40 hex>, version=<git describe --tags --always>, config_files=<names, comma-separated>.
set -euo pipefail
: "${APP_DIR:?}" "${GIT_REVISION:?}"
PAYLOAD_URL="${PAYLOAD_URL:-}"
export LC_ALL=C

# @include lib/urls.sh
# @include lib/git_tree.sh
# @include lib/app_config.sh

revision_re='^v(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})(-[0-9A-Za-z]+(\.[0-9A-Za-z]+)*)?(-(0|[1-9][0-9]{0,8})-g[0-9a-f]{4,40})?$'
if [[ ${#GIT_REVISION} -gt 128 ]] || [[ ! "$GIT_REVISION" =~ $revision_re && ! "$GIT_REVISION" =~ ^[0-9a-f]{4,40}$ ]]; then
  echo "refusing GIT_REVISION: expected git describe output (vX.Y.Z, vX.Y.Z-N-g<hash>) or an abbreviated commit" >&2
  exit 64
fi

work="$(umask 077 && mktemp -d)"
fresh=0
checked_out=0
stage=""
cleanup() {
  rm -rf "$work"
  if [[ -n "$stage" ]]; then rm -rf "$stage"; fi
  if ((fresh && !checked_out)); then rm -rf "$APP_DIR/.git"; fi
}
trap cleanup EXIT

# refuse_payload WHY: exit 67, naming what is wrong (never a value of the payload)
refuse_payload() {
  echo "refusing the payload: $1" >&2
  exit 67
}

# read_payload FILE ARCHIVE: the repository URL into repository_url, the archive into ARCHIVE (checked, its
# entries' names into config_names)
read_payload() {
  local file="$1" archive="$2" magic="" url_line="" tgz_line="" rest=""
  {
    IFS= read -r magic || true
    IFS= read -r url_line || true
    IFS= read -r tgz_line || true
    IFS= read -r rest || true
  } <"$file"
  if [[ "$magic" != "FRESHTRACK-DR-BOOTSTRAP 1" || "$url_line" != repository_url=?* || "$tgz_line" != files_tgz_b64=?* ||
    -n "$rest" ]]; then
    refuse_payload "not a bootstrap payload of format 1"
  fi
  repository_url="${url_line#repository_url=}"
  if [[ "$repository_url" == *[[:cntrl:]]* ]]; then
    refuse_payload "the repository URL holds a control character"
  fi
  if ! printf '%s' "${tgz_line#files_tgz_b64=}" | base64 -d >"$archive" 2>/dev/null; then
    refuse_payload "the archive is not base64"
  fi
  list_archive "$archive"
}

# list_archive ARCHIVE: config_names = its entries, each a plain file with an acceptable name, once each
list_archive() {
  local archive="$1" listed line name
  config_names=()
  if ! listed="$(tar -tzf "$archive" 2>/dev/null)"; then
    refuse_payload "the archive is not a gzip'd tar"
  fi
  while IFS= read -r line; do
    name="${line##* }"
    # GNU tar's verbose listing: the type first ("-" a plain file), the name last (checked names hold no space)
    if [[ "${line:0:1}" != - ]] || ! config_name_ok "$name"; then
      refuse_payload "entry $(printf '%q' "$name") is not a plain file named .env.production or secrets/<file>"
    fi
    config_names+=("$name")
  done < <(tar -tvzf "$archive" 2>/dev/null)
  # the names listed on their own must be exactly those (a name with a space or a newline would differ)
  if [[ ${#config_names[@]} -eq 0 || "$(printf '%s\n' "${config_names[@]}")" != "$listed" ]]; then
    refuse_payload "the archive's entries cannot be listed unambiguously"
  fi
  if [[ -n "$(printf '%s\n' "${config_names[@]}" | sort | uniq -d)" ]]; then
    refuse_payload "an entry is in the archive twice"
  fi
  if [[ ! " ${config_names[*]} " == *" .env.production "* ]]; then
    refuse_payload "the archive has no .env.production"
  fi
}

# set_origin URL: [remote "origin"] in .git/config with URL, written by printf (a builtin: no argv holds it)
set_origin() {
  local url="$1" escaped
  git_app config --remove-section remote.origin 2>/dev/null || true
  escaped="${url//\\/\\\\}"
  escaped="${escaped//\"/\\\"}"
  printf '[remote "origin"]\n\turl = "%s"\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n' "$escaped" >>.git/config
  if [[ "$(git_app config --get remote.origin.url)" != "$url" ]]; then
    echo "could not set origin's URL in $APP_DIR/.git/config" >&2
    exit 1
  fi
}

# ensure_excluded: /.env.production and /secrets/ in .git/info/exclude (once each)
ensure_excluded() {
  local pattern
  mkdir -p .git/info
  for pattern in /.env.production /secrets/; do
    if ! grep -qxF -e "$pattern" .git/info/exclude 2>/dev/null; then
      printf '%s\n' "$pattern" >>.git/info/exclude
    fi
  done
}

# -- 1. the payload, checked before anything is touched --------------------------------------------------------
if [[ -n "$PAYLOAD_URL" ]]; then
  if ! presigned_url_ok "$PAYLOAD_URL"; then
    echo "PAYLOAD_URL is not a presigned S3 URL" >&2
    exit 64
  fi
  if ! (umask 077 && curl_url "$PAYLOAD_URL" --retry 3 --retry-delay 1 -o "$work/payload"); then
    echo "could not fetch the payload" >&2
    exit 45
  fi
else
  (umask 077 && cat >"$work/payload")
fi
repository_url=""
config_names=()
read_payload "$work/payload" "$work/config.tgz"

# -- 2. the code at GIT_REVISION ------------------------------------------------------------------------------
mkdir -p -- "$APP_DIR"
cd "$APP_DIR"
if [[ ! -e .git ]]; then
  if [[ -n "$(ls -A)" ]]; then
    echo "refusing: $APP_DIR is neither empty nor a git work tree" >&2
    exit 65
  fi
  fresh=1
  git_app -c init.defaultBranch=main init --quiet
else
  ensure_excluded
  refuse_dirty_tree
fi
set_origin "$repository_url"
if ! git_app fetch --quiet --tags --prune origin 2>"$work/fetch.err"; then
  echo "git fetch --tags --prune origin failed: $(sed -E 's#(://)[^/@[:space:]]*@#\1<redacted>@#g' "$work/fetch.err" |
    tail -n 3 | tr '\n' ' ')" >&2
  exit 68
fi
if ! commit="$(git_app rev-parse --quiet --verify --end-of-options "$GIT_REVISION^{commit}")"; then
  echo "unknown revision: the repository has no commit $GIT_REVISION (no such tag, or no such commit)" >&2
  exit 66
fi
git_app switch --quiet --no-guess -C main --end-of-options "$commit"
if git_app rev-parse --quiet --verify refs/remotes/origin/main >/dev/null; then
  git_app branch --quiet --set-upstream-to=origin/main main
fi
head="$(git_app rev-parse --verify HEAD)"
if [[ "$head" != "$commit" ]]; then
  echo "checkout ended at $head, not $commit" >&2
  exit 1
fi
checked_out=1
ensure_excluded

# -- 3. the configuration -------------------------------------------------------------------------------------
stage="$(umask 077 && mktemp -d "$APP_DIR/.git/ftops-config.XXXXXX")"
(umask 077 && tar -xzf "$work/config.tgz" -C "$stage" --no-same-owner --no-same-permissions --touch -- "${config_names[@]}")
find "$stage" -type f -exec chmod 600 {} +
if [[ -d "$stage/secrets" ]]; then
  chmod 700 "$stage/secrets"
fi
mv -fT "$stage/.env.production" .env.production
if [[ -e secrets || -L secrets ]]; then
  mv -T secrets "$stage/previous-secrets"
fi
if [[ -d "$stage/secrets" ]]; then
  mv -T "$stage/secrets" secrets
fi

echo "checked_out=$head"
echo "version=$(git_app describe --tags --always)"
(
  IFS=,
  echo "config_files=${config_names[*]}"
)
