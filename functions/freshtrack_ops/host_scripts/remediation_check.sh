#!/usr/bin/env bash
# An alert's condition on the host, for the remediation ACTION that clears it (docs/remediation.md), read
# before and after the action. Prints "fact.<key>=<value>" lines (lib/remediation.sh); the control plane
# compares them with the target's thresholds (remediation/host.py), the host judges nothing.
#   compose-up, restart-service  each of SERVICES running? (`docker compose ps`)
#   disk-cleanup                 the app directory's filesystem (`df -P`)
#   restart-top-memory           MEM % of each of SERVICES, the allowed list (`docker stats --no-stream`)
#   certificate-check            the served certificate's expiry (`openssl s_client` on 127.0.0.1:CERT_PORT)
# Exit 64: a refused parameter.
set -euo pipefail
: "${APP_DIR:?}" "${DOCKER_BIN:?}" "${ACTION:?}" "${DOMAIN:?}"
SERVICES="${SERVICES:-}"
CERT_PORT="${CERT_PORT:-443}"
# @include lib/names.sh
# @include lib/remediation.sh
read -r -a services <<<"$SERVICES"
service_names_ok "${services[@]}" || exit 64
cd "$APP_DIR"

case "$ACTION" in
  compose-up | restart-service) service_states fact "${services[@]}" ;;
  disk-cleanup) disk_usage fact ;;
  restart-top-memory) memory_stats fact "${services[@]}" ;;
  certificate-check) certificate_expiry fact ;;
  *)
    echo "unknown ACTION '$ACTION'" >&2
    exit 64
    ;;
esac
