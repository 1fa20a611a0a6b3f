#!/usr/bin/env bash
# Check out GIT_COMMIT in the app directory: as the local branch BRANCH reset to it (`git checkout -B BRANCH
# GIT_COMMIT`, done as `git switch -C`) when BRANCH is set, else detached. A dirty work tree (untracked files
# included) is refused with exit 65 and left as it is; exit 66: the commit is not in the repository (fetch
# first: update_preflight.sh does); exit 64: a bad parameter. Prints checked_out=<40 hex>.
set -euo pipefail
: "${APP_DIR:?}" "${GIT_COMMIT:?}"
BRANCH="${BRANCH:-}"
export LC_ALL=C

# @include lib/git_tree.sh

if [[ ! "$GIT_COMMIT" =~ ^[0-9a-f]{40}$ ]]; then
  echo "refusing GIT_COMMIT: expected 40 lowercase hex digits" >&2
  exit 64
fi
if [[ -n "$BRANCH" ]] && ! branch_name_ok "$BRANCH"; then
  echo "refusing BRANCH: '$BRANCH' is not an acceptable branch name" >&2
  exit 64
fi

cd "$APP_DIR"
refuse_dirty_tree
if ! git_app cat-file -e "$GIT_COMMIT^{commit}" 2>/dev/null; then
  echo "unknown commit: $GIT_COMMIT is not in $APP_DIR" >&2
  exit 66
fi

# the commit after --end-of-options; the branch name cannot start with "-" (checked twice above)
if [[ -n "$BRANCH" ]]; then
  git_app switch --quiet --no-guess -C "$BRANCH" --end-of-options "$GIT_COMMIT"
else
  git_app switch --quiet --detach --end-of-options "$GIT_COMMIT"
fi

head="$(git_app rev-parse --verify HEAD)"
if [[ "$head" != "$GIT_COMMIT" ]]; then
  echo "checkout ended at $head, not $GIT_COMMIT" >&2
  exit 1
fi
echo "checked_out=$head"
