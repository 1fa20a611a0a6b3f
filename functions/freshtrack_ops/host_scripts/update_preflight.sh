#!/usr/bin/env bash
# Update preflight: is the app directory clean, which commit runs now, and which commit TARGET_SPEC names.
#   TARGET_SPEC = vX.Y.Z   that release tag (exit 66 when it does not exist)
#               | latest   the newest release tag vX.Y.Z by version (pre-releases such as v9.0.0-rc1 excluded)
#               | branch:NAME   the tip of refs/remotes/origin/NAME (exit 66 when missing), which must be a
#                               fast-forward of HEAD (exit 67 otherwise)
#               | commit:SHA    that commit (40 lowercase hex), which must already be in the repository
#                               (exit 66 otherwise): a rollback to a commit that ran here before; no fetch,
#                               so a rollback does not depend on origin being reachable
#               | current       what is checked out (HEAD): an image update, which keeps the code; no fetch
# Fetches first for the other three (`git fetch --tags --prune origin`, exit 68 when it fails). A dirty work
# tree (untracked files included; the image pins of a failed image update excepted) is refused with exit 65
# before anything is fetched. Exit 64: a bad parameter.
# Prints key=value lines: current_version, current_commit, target_version, target_commit, target_is_tag,
# free_disk_mb. Nothing is checked out: the control plane decides.
set -euo pipefail
: "${APP_DIR:?}" "${TARGET_SPEC:?}"
export LC_ALL=C

# @include lib/git_tree.sh

version_re='^v(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})$'
if [[ "$TARGET_SPEC" == branch:* ]]; then
  branch="${TARGET_SPEC#branch:}"
  if ! branch_name_ok "$branch"; then
    echo "refusing TARGET_SPEC: '$branch' is not an acceptable branch name" >&2
    exit 64
  fi
elif [[ "$TARGET_SPEC" != latest && "$TARGET_SPEC" != current && ! "$TARGET_SPEC" =~ $version_re &&
  ! "$TARGET_SPEC" =~ ^commit:[0-9a-f]{40}$ ]]; then
  echo "refusing TARGET_SPEC: expected vX.Y.Z, latest, branch:<name>, commit:<40 hex> or current" >&2
  exit 64
fi

cd "$APP_DIR"
refuse_dirty_tree

if [[ "$TARGET_SPEC" != current && "$TARGET_SPEC" != commit:* ]] && ! git_app fetch --quiet --tags --prune origin; then
  echo "git fetch --tags --prune origin failed in $APP_DIR" >&2
  exit 68
fi

# commit_of REF: the commit a full ref name points at (peeling annotated tags), empty when there is none
commit_of() { git_app rev-parse --quiet --verify --end-of-options "$1^{commit}" || true; }

target_is_tag=true
case "$TARGET_SPEC" in
  latest)
    target_version="$(git_app for-each-ref --format='%(refname:strip=2)' refs/tags/ \
      | { grep -E "$version_re" || true; } | sort -t . -k1.2,1n -k2,2n -k3,3n | tail -n 1)"
    if [[ -z "$target_version" ]]; then
      echo "unknown version: origin has no release tag vX.Y.Z" >&2
      exit 66
    fi
    target_commit="$(commit_of "refs/tags/$target_version")"
    ;;
  branch:*)
    target_is_tag=false
    target_commit="$(commit_of "refs/remotes/origin/$branch")"
    if [[ -z "$target_commit" ]]; then
      echo "unknown branch: origin has no branch '$branch'" >&2
      exit 66
    fi
    if ! git_app merge-base --is-ancestor --end-of-options HEAD "$target_commit"; then
      echo "refusing: origin/$branch ($target_commit) is not a fast-forward of HEAD" >&2
      exit 67
    fi
    target_version="$(git_app describe --tags --always --end-of-options "$target_commit")"
    ;;
  commit:*)
    target_is_tag=false
    target_commit="$(commit_of "${TARGET_SPEC#commit:}")"
    if [[ -z "$target_commit" ]]; then
      echo "unknown commit: ${TARGET_SPEC#commit:} is not in $APP_DIR" >&2
      exit 66
    fi
    target_version="$(git_app describe --tags --always --end-of-options "$target_commit")"
    ;;
  current)
    target_is_tag=false
    target_commit="$(git_app rev-parse --verify HEAD)"
    target_version="$(git_app describe --tags --always)"
    ;;
  *)
    target_version="$TARGET_SPEC"
    target_commit="$(commit_of "refs/tags/$TARGET_SPEC")"
    ;;
esac
if [[ ! "$target_commit" =~ ^[0-9a-f]{40}$ ]]; then
  echo "unknown version: no release tag $target_version" >&2
  exit 66
fi

echo "current_version=$(git_app describe --tags --always)"
echo "current_commit=$(git_app rev-parse --verify HEAD)"
echo "target_version=$target_version"
echo "target_commit=$target_commit"
echo "target_is_tag=$target_is_tag"
echo "free_disk_mb=$(df -Pm "$APP_DIR" | awk 'NR==2 {print $4}')"
