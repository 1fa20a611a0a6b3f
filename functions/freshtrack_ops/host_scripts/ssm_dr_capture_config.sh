#!/usr/bin/env bash
# SSM variant of dr_capture_config.sh: the same capture payload (lib/app_config.sh), uploaded with a presigned PUT
# (UPLOAD_URL: a transfer object under dr-transfer/, which the control plane reads into the secret and deletes)
# instead of printed: SSM keeps every command's output (GetCommandInvocation, the ssm-output/ prefix), so
# nothing of the payload may reach stdout or stderr. The PUT carries the payload's Content-MD5 (S3 Object Lock
# requires one; S3 checks it). The payload is staged in a private temporary directory, removed on exit.
# stdout: one line "receipt sha256=<hex> bytes=<n>" (the control plane checks the object against it).
# Exit 64: UPLOAD_URL is not a presigned S3 URL; 45: the upload failed; 66, 67, 69 as dr_capture_config.sh.
set -euo pipefail
: "${APP_DIR:?}" "${UPLOAD_URL:?}"
export LC_ALL=C

# @include lib/urls.sh
# @include lib/git_tree.sh
# @include lib/app_config.sh

if ! presigned_url_ok "$UPLOAD_URL"; then
  echo "UPLOAD_URL is not a presigned S3 URL" >&2
  exit 64
fi
work="$(umask 077 && mktemp -d)"
trap 'rm -rf "$work"' EXIT

cd "$APP_DIR"
(umask 077 && capture_config >"$work/payload")
md5="$(content_md5 "$work/payload")"
read -r sha _ < <(sha256sum "$work/payload")
bytes="$(wc -c <"$work/payload")"
# no -f: the HTTP status is read below (the URL reaches curl through a config on stdin, never argv)
if ! status="$(curl -sS --proto =http,https --retry 3 --retry-delay 1 -H "Content-MD5: $md5" -T "$work/payload" \
  -o "$work/response" -w '%{http_code}' --config - <<<"url = \"$UPLOAD_URL\"")"; then
  echo "the upload of the payload failed" >&2
  exit 45
fi
if [[ "$status" != 200 ]]; then
  # S3's error code only: its message may quote the request (and so the URL's credential fields)
  code="$(grep -o '<Code>[A-Za-z]*</Code>' "$work/response" | head -n 1 || true)"
  echo "the upload of the payload was refused: HTTP $status ${code:-}" >&2
  exit 45
fi
printf 'receipt sha256=%s bytes=%s\n' "$sha" "$((bytes))"
