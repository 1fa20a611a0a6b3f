#!/usr/bin/env bash
# Verify a FreshTrack Pro deployment: every compose service running and the health endpoint answering 200.
#   verify-deployment.sh DOMAIN
# Exits non-zero when a service is not running or https://DOMAIN/api/health does not answer 200. Local
# plane: HEALTH_URL (the local endpoint standing for https://DOMAIN/api/health) and DOCKER come from the
# environment, else from the untracked .local-plane.env the local host writes.
set -euo pipefail

if [[ $# -lt 1 || -z "$1" ]]; then
  echo "usage: $0 DOMAIN" >&2
  exit 2
fi
domain="$1"
APP_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${APP_DIR}"
# setting NAME FILE: the value of NAME=value in FILE (read as data, never sourced)
setting() {
  [[ -f "$2" ]] || return 0
  sed -n "s/^$1=//p" "$2" | tail -n 1
}
DOCKER="${DOCKER:-$(setting DOCKER .local-plane.env)}"
DOCKER="${DOCKER:-docker}"
HEALTH_URL="${HEALTH_URL:-$(setting HEALTH_URL .local-plane.env)}"
url="${HEALTH_URL:-https://${domain}/api/health}"

if ! ps_json="$("${DOCKER}" compose ps --format json)"; then
  echo "FAIL: '${DOCKER} compose ps' failed" >&2
  exit 1
fi

count=0
failed=0
while IFS= read -r line; do
  [[ -z "${line}" ]] && continue
  count=$((count + 1))
  if [[ "${line}" != *'"State":"running"'* ]]; then
    service="$(sed -E 's/.*"Service":"([^"]*)".*/\1/' <<< "${line}")"
    echo "FAIL: service ${service} is not running" >&2
    failed=1
  fi
done <<< "${ps_json}"

if [[ "${count}" -eq 0 ]]; then
  echo "FAIL: no compose services found" >&2
  exit 1
fi
if [[ "${failed}" -ne 0 ]]; then
  exit 1
fi
echo "OK: all ${count} services running"

body_file="$(mktemp)"
trap 'rm -f -- "${body_file}"' EXIT
if command -v curl > /dev/null 2>&1; then
  code="$(curl -s -o "${body_file}" -w '%{http_code}' --max-time 10 "${url}" || true)"
else
  code="$(python3 - "${url}" "${body_file}" << 'PY'
import sys
import urllib.error
import urllib.request

try:
    with urllib.request.urlopen(sys.argv[1], timeout=10) as response:
        open(sys.argv[2], "wb").write(response.read(4096))
        print(response.status)
except urllib.error.HTTPError as error:
    open(sys.argv[2], "wb").write(error.read(4096))
    print(error.code)
except Exception:
    print("000")
PY
)"
fi

if [[ "${code}" != "200" ]]; then
  echo "FAIL: health check ${url} answered ${code:-nothing} (expected 200): $(head -c 300 "${body_file}" | tr -d '\n')" >&2
  exit 1
fi
echo "OK: ${url} answered 200"
echo "Deployment verified"
