#!/usr/bin/env bash
# What remediation reads on the host (inlined by host_scripts.load at "# @include"; shared by remediate.sh and
# remediation_check.sh). Each reader prints "<prefix>.<key>=<value>" lines on stdout, which the control plane
# parses (remediation/host.py); docker's own chatter goes to stderr. Needs APP_DIR as the cwd and DOCKER_BIN.

# service_states PREFIX SERVICE...: "<prefix>.<service>=running" or "=not running" for each service.
# `ps --services --status running` names exactly the running services, with no JSON to parse here.
service_states() {
  local prefix="$1" running service
  shift
  running=" $("$DOCKER_BIN" compose ps --services --status running | tr '\n' ' ') "
  for service in "$@"; do
    if [[ "$running" == *" $service "* ]]; then
      printf '%s.%s=running\n' "$prefix" "$service"
    else
      printf '%s.%s=not running\n' "$prefix" "$service"
    fi
  done
}

# disk_usage PREFIX: the app directory's filesystem as `df -P` reports it (Capacity: used / (used + available),
# rounded up, what the manual's "Disk space low (< 15% free)" alert compares)
disk_usage() {
  local prefix="$1" line used available capacity mount
  line="$(df -P -k "$APP_DIR" | tail -n 1)"
  read -r _ _ used available capacity mount <<<"$line"
  printf '%s.used_percent=%s\n' "$prefix" "${capacity%\%}"
  printf '%s.used_kb=%s\n' "$prefix" "$used"
  printf '%s.available_kb=%s\n' "$prefix" "$available"
  printf '%s.mount=%s\n' "$prefix" "$mount"
}

# percent_above A B: A > B (decimal percentages; bash has integers only)
percent_above() {
  awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 > b + 0) }'
}

# memory_stats PREFIX SERVICE...: one `docker stats --no-stream` sample. Prints "<prefix>.mem.<service>=<MEM %>"
# for each running SERVICE and the top consumer of all ("<prefix>.top_container", "<prefix>.top_mem_percent");
# sets ftops_top_service to the top consumer among the SERVICEs ("" when none of them runs).
# A service's container is found by its name from `compose ps` (exact), never by a name suffix: "backend"
# must not match another project's or service's "...-backend-1". `--format json` is docker's one JSON object per
# container and line (docker-container-stats(1): "'json': Print in JSON format"), MemPerc as "31.00%".
# shellcheck disable=SC2034  # ftops_top_service is read by the caller
memory_stats() {
  local prefix="$1" stats line service container percent top_percent=-1 all_top_percent=-1 all_top=""
  local name_re='"Name":"([^"]*)"' mem_re='"MemPerc":"([0-9.]+)%"'
  shift
  ftops_top_service=""
  stats="$("$DOCKER_BIN" stats --no-stream --format json)"
  while IFS= read -r line; do
    [[ "$line" =~ $name_re ]] || continue
    container="${BASH_REMATCH[1]}"
    [[ "$line" =~ $mem_re ]] || continue
    if percent_above "${BASH_REMATCH[1]}" "$all_top_percent"; then
      all_top="$container"
      all_top_percent="${BASH_REMATCH[1]}"
    fi
  done <<<"$stats"
  for service in "$@"; do
    line="$("$DOCKER_BIN" compose ps --format json "$service")"
    [[ "$line" =~ $name_re ]] || continue
    container="${BASH_REMATCH[1]}"
    line="$(grep -F "\"Name\":\"$container\"" <<<"$stats" || true)"
    [[ "$line" =~ $mem_re ]] || continue # not running: docker stats lists running containers only
    percent="${BASH_REMATCH[1]}"
    printf '%s.mem.%s=%s\n' "$prefix" "$service" "$percent"
    if percent_above "$percent" "$top_percent"; then
      ftops_top_service="$service"
      top_percent="$percent"
    fi
  done
  if [[ -n "$all_top" ]]; then
    printf '%s.top_container=%s\n%s.top_mem_percent=%s\n' "$prefix" "$all_top" "$prefix" "$all_top_percent"
  fi
}

# certificate_end: the notAfter of the certificate served on 127.0.0.1:CERT_PORT for DOMAIN (SNI), the manual's
# `openssl s_client | openssl x509 -noout -dates`; fails when nothing answers with a certificate within 15 s
certificate_end() {
  local end
  end="$(timeout 15 openssl s_client -connect "127.0.0.1:$CERT_PORT" -servername "$DOMAIN" </dev/null 2>/dev/null |
    openssl x509 -noout -enddate 2>/dev/null)" || return 1
  printf '%s\n' "${end#notAfter=}"
}

# certificate_expiry PREFIX: "<prefix>.not_after" (UTC) and "<prefix>.seconds_left" of the served certificate
# (negative: expired), or "<prefix>.certificate=none served"
certificate_expiry() {
  local prefix="$1" end not_after
  if ! end="$(certificate_end)"; then
    printf '%s.certificate=none served\n' "$prefix"
    return 0
  fi
  not_after="$(date -u -d "$end" +%s)"
  printf '%s.not_after=%s\n' "$prefix" "$(date -u -d "@$not_after" +%Y-%m-%dT%H:%M:%SZ)"
  printf '%s.seconds_left=%s\n' "$prefix" "$((not_after - $(date -u +%s)))"
}
