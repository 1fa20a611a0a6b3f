#!/usr/bin/env bash
# The app directory's git work tree (inlined by host_scripts.load at "# @include"). Every name that reaches
# git here was checked twice (the control plane's pattern table, then these guards) and reaches git only as
# a full refs/... name or a 40-hex commit, after --end-of-options where the command takes options: a value
# can never be read as an option.
#
# git_app: git in the current directory (APP_DIR), never prompting, never paging, no fsmonitor hooks.
# branch_name_ok NAME: NAME is a branch name the control plane accepts (ASCII letters, digits and ._/-,
#   starting with a letter, digit or _; no "..", "//", "/.", "./" or "/-"; not ending in "/", "." or ".lock";
#   at most 100 characters) and git accepts as refs/heads/NAME.
# refuse_dirty_tree: exit 65 when `git status --porcelain` is not empty (untracked files included), naming
#   up to 10 of the changed paths on one stderr line: local changes are refused, never overwritten. The one
#   untracked file that is not a local change: the image pins a failed image update left (compose_override.sh).

# @include lib/compose_override.sh

git_app() {
  GIT_TERMINAL_PROMPT=0 GIT_PAGER=cat git -c core.fsmonitor=false -c core.hooksPath=/dev/null "$@"
}

branch_name_ok() {
  local name="$1"
  [[ ${#name} -le 100 && "$name" =~ ^[A-Za-z0-9_][A-Za-z0-9._/-]*$ ]] || return 1
  case "$name" in
    *..* | *//* | */.* | *./* | */-* | */ | *. | *.lock) return 1 ;;
  esac
  git_app check-ref-format "refs/heads/$name"
}

refuse_dirty_tree() {
  local status changes="" line count shown
  if ! status="$(git_app status --porcelain --untracked-files=all)"; then
    echo "refusing: cannot read the git status of $PWD" >&2
    exit 65
  fi
  while IFS= read -r line; do
    if [[ -z "$line" ]] || { [[ "$line" == '?? '* ]] && is_our_untracked_override "${line#?? }"; }; then
      continue
    fi
    changes+="$line"$'\n'
  done <<<"$status"
  changes="${changes%$'\n'}"
  if [[ -n "$changes" ]]; then
    count="$(wc -l <<<"$changes")"
    # "XY path" lines: the path starts at the fourth character; keep the first 10, on one line
    shown="$(cut -c4- <<<"$changes" | head -n 10 | tr '\n' ' ')"
    echo "refusing: the work tree of $PWD has local changes in $((count)) path(s), which an update would not keep: ${shown% }" >&2
    exit 65
  fi
}
