#!/usr/bin/env bash
# Presigned S3 URLs on the host (inlined by host_scripts.load at "# @include"). A presigned URL is a bearer
# credential until it expires: it reaches curl only through a config read from stdin, never a command line
# (ps) or a log line.

# presigned_url_ok URL: URL looks like a presigned S3 URL (https on AWS, or the local plane's endpoint on
# 127.0.0.1); sets ftops_origin to its scheme://host[:port]. The control plane checks the full pattern
# (allowedPattern / parameters.py); this is the host's own guard.
presigned_url_ok() {
  local re='^(https://[a-z0-9][a-z0-9.-]*|http://127\.0\.0\.1:[0-9]+)/[A-Za-z0-9._~%/?=&-]+$'
  [[ "$1" =~ $re ]] || return 1
  ftops_origin="${BASH_REMATCH[1]}"
}

# curl_url URL [curl options...]
curl_url() {
  local url="$1"
  shift
  curl -sSf --proto =http,https "$@" --config - <<<"url = \"$url\""
}

# fetch_url_list URL FILE: download a list of "<part> <presigned URL>" lines into FILE (mode 600); every line
# must be well-formed and every URL on the list's own S3 endpoint. Returns 45 (download) or 64 (bad list).
fetch_url_list() {
  local url="$1" file="$2" origin line n bad part_url bad_char='[^A-Za-z0-9._~%/?=&:-]'
  if ! presigned_url_ok "$url"; then
    echo "the URL list's URL is not a presigned S3 URL" >&2
    return 64
  fi
  origin="$ftops_origin"
  if ! (umask 077 && curl_url "$url" --retry 3 --retry-delay 1 -o "$file.tmp"); then
    rm -f "$file.tmp"
    echo "could not fetch the list of part URLs" >&2
    return 45
  fi
  n=0 bad=0
  while IFS= read -r line; do
    [[ -z "$line" ]] && continue
    part_url="${line#* }"
    if [[ ! "${line%% *}" =~ ^[1-9][0-9]{0,4}$ || "$part_url" != "$origin/"* || "$part_url" =~ $bad_char ]]; then
      bad=1
      break
    fi
    n=$((n + 1))
  done <"$file.tmp"
  if ((bad || n == 0)); then
    rm -f "$file.tmp"
    echo "the list of part URLs is malformed or empty" >&2
    return 64
  fi
  mv -f "$file.tmp" "$file"
}

# content_md5 FILE: its Content-MD5 (base64 of the binary MD5, RFC 1864). With S3 Object Lock, S3 refuses a
# PutObject or UploadPart without Content-MD5 or an x-amz-checksum-* value (400 InvalidRequest); an x-amz-*
# header would have to be signed into the presigned URL before the body exists, Content-MD5 may be sent
# unsigned (docs/ssm.md). md5sum, printf and base64 are coreutils/bash, which these scripts need anyway
# (openssl may be missing or refuse MD5 in FIPS mode, xxd is not installed everywhere).
content_md5() {
  local hex i bytes=""
  hex="$(md5sum <"$1")"
  hex="${hex%% *}"
  [[ "$hex" =~ ^[0-9a-f]{32}$ ]] || return 1
  for ((i = 0; i < 32; i += 2)); do bytes+="\\x${hex:i:2}"; done
  printf '%b' "$bytes" | base64
}
