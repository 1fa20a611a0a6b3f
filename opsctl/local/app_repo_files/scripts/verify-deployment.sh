#!/usr/bin/env bash
# Verify a FreshTrack Pro deployment: every compose service running and the health endpoint answering 200.
#   verify-deployment.sh DOMAIN     (HEALTH_URL overrides https://DOMAIN/api/health)
set -euo pipefail

if [[ $# -lt 1 || -z "$1" ]]; then
  echo "usage: $0 DOMAIN" >&2
  exit 2
fi
domain="$1"
APP_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DOCKER="${DOCKER:-docker}"
url="${HEALTH_URL:-https://${domain}/api/health}"
cd "${APP_DIR}"

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

if command -v curl > /dev/null 2>&1; then
  code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "${url}" || true)"
else
  code="$(python3 - "${url}" << 'PY'
import sys
import urllib.error
import urllib.request

try:
    with urllib.request.urlopen(sys.argv[1], timeout=10) as response:
        print(response.status)
except urllib.error.HTTPError as error:
    print(error.code)
except Exception:
    print("000")
PY
)"
fi

if [[ "${code}" != "200" ]]; then
  echo "FAIL: health check ${url} answered ${code:-nothing} (expected 200)" >&2
  exit 1
fi
echo "OK: ${url} answered 200"
echo "Deployment verified"
