#!/usr/bin/env bash
# shellcheck disable=SC2154  # ftops_err, ftops_tmp, ftops_services, ftops_state, ftops_container: daily_check.sh's
# The daily check's readers (inlined into daily_check.sh by host_scripts.load). Each prints
# "<section>.<key>=<value>" lines on fd 3 (the script's stdout) and returns 0; a reader whose command is missing
# or fails prints "<section>.error=<message>" instead of (or after) what it could read. Commands' own chatter goes
# to stderr. Needs ftops_err (a scratch file for a command's stderr) and fd 3 open on the script's stdout.

# section_error SECTION MESSAGE: "<section>.error=<message>", one line of at most 200 characters, redacted
section_error() {
  local message="${2//[$'\r\n\t']/ }"
  message="$(redact_lines <<<"$message")"
  printf '%s.error=%s\n' "$1" "${message:0:200}" >&3
}

# failure_text FILE FALLBACK: the last non-blank line of FILE (a command's stderr), else FALLBACK
failure_text() {
  local last
  last="$(grep -v '^[[:space:]]*$' "$1" 2>/dev/null | tail -n 1)" || true
  printf '%s' "${last:-$2}"
}

# capture SECTION COMMAND...: COMMAND's stdout (its stderr goes on to ours). A missing command or a failure:
# "<section>.error=<its last stderr line>" and a non-zero return.
capture() {
  local section="$1" status=0
  shift
  if ! command -v "$1" >/dev/null; then
    section_error "$section" "$1: command not found"
    return 127
  fi
  "$@" 2>"$ftops_err" || status=$?
  cat "$ftops_err" >&2
  if ((status != 0)); then
    section_error "$section" "$(failure_text "$ftops_err" "$1 exited with status $status")"
  fi
  return "$status"
}

# as_root COMMAND...: ufw and fail2ban-client need root; `sudo -n` never prompts (no passwordless sudo: it fails)
as_root() {
  if [[ $EUID -eq 0 ]]; then
    "$@"
  else
    sudo -n "$@"
  fi
}

# read_services SERVICE...: "service.<name>=<state>" from `docker compose ps --all --format json` (the State of
# its container: running, exited, restarting, paused, created, ...; "not created" when it has none). Sets
# ftops_state and ftops_container (service -> container name, for read_stats) and ftops_ps_ok. Compose prints
# one object per line (>= 2.21) or one JSON array (before); each container's object has its "Name", "Service"
# and "State" once, no nested object has them, so they are taken in threes, in whatever order they come.
read_services() {
  local json token name="" service="" state="" wanted
  ftops_ps_ok=0
  json="$(capture service "$DOCKER_BIN" compose ps --all --format json)" || return 0
  ftops_ps_ok=1
  while IFS= read -r token; do
    [[ "$token" =~ ^\"(Name|Service|State)\":\"(.*)\"$ ]] || continue
    case "${BASH_REMATCH[1]}" in
      Name) name="${BASH_REMATCH[2]}" ;;
      Service) service="${BASH_REMATCH[2]}" ;;
      State) state="${BASH_REMATCH[2]}" ;;
    esac
    if [[ -n "$name" && -n "$service" && -n "$state" ]]; then
      ftops_state["$service"]="$state"
      ftops_container["$service"]="$name"
      name="" service="" state=""
    fi
  done < <(grep -oE '"(Name|Service|State)":"[^"]*"' <<<"$json")
  if ((${#ftops_services[@]} == 0)); then # no SERVICES given: the ones compose lists
    ftops_services=("${!ftops_state[@]}")
  fi
  for wanted in "${ftops_services[@]}"; do
    printf 'service.%s=%s\n' "$wanted" "${ftops_state[$wanted]:-not created}" >&3
  done
}

# read_stats: "stats.<service>.cpu|mem|mem_usage" of each running service, from one `docker stats --no-stream`
# sample; a service's container is the one compose ps named (exact name, never a suffix: lib/remediation.sh)
read_stats() {
  local stats service line
  if ((ftops_ps_ok == 0)); then
    section_error stats "no container list (docker compose ps failed)"
    return 0
  fi
  stats="$(capture stats "$DOCKER_BIN" stats --no-stream --format json)" || return 0
  for service in "${ftops_services[@]}"; do
    [[ "${ftops_state[$service]:-}" == running ]] || continue
    line="$(grep -F "\"Name\":\"${ftops_container[$service]}\"" <<<"$stats" | head -n 1)" || true
    if [[ "$line" =~ \"CPUPerc\":\"([0-9.]+)%\" ]]; then
      printf 'stats.%s.cpu=%s\n' "$service" "${BASH_REMATCH[1]}" >&3
    fi
    if [[ "$line" =~ \"MemPerc\":\"([0-9.]+)%\" ]]; then
      printf 'stats.%s.mem=%s\n' "$service" "${BASH_REMATCH[1]}" >&3
    fi
    if [[ "$line" =~ \"MemUsage\":\"([^\"]*)\" ]]; then
      printf 'stats.%s.mem_usage=%s\n' "$service" "${BASH_REMATCH[1]}" >&3
    fi
  done
}

# read_disk PREFIX PATH: PATH's filesystem as `df -P -k` reports it (Capacity: used / (used + available),
# rounded up, what the manual's "Disk space low (< 15% free)" alert compares)
read_disk() {
  local prefix="$1" out size used available capacity mount
  out="$(capture "$prefix" df -P -k "$2")" || return 0
  read -r _ size used available capacity mount <<<"$(tail -n 1 <<<"$out")"
  if [[ ! "$size$used$available" =~ ^[0-9]+$ || ! "$capacity" =~ ^[0-9]+%$ ]]; then
    section_error "$prefix" "unexpected df output: $(tail -n 1 <<<"$out")"
    return 0
  fi
  printf '%s.used_percent=%s\n%s.size_kb=%s\n%s.used_kb=%s\n%s.available_kb=%s\n%s.mount=%s\n' \
    "$prefix" "${capacity%\%}" "$prefix" "$size" "$prefix" "$used" "$prefix" "$available" "$prefix" "$mount" >&3
}

# read_docker_df: `docker system df` per type as docker prints it: `--format json` (docker CLI >= 23, as
# `docker stats --format json` in lib/remediation.sh) is one JSON object per type and line (Active, Reclaimable,
# Size, TotalCount, Type). Not the json template older CLIs also know: SSM reads two braces as a parameter.
read_docker_df() {
  local out line key
  out="$(capture docker_df "$DOCKER_BIN" system df --format json)" || return 0
  while IFS= read -r line; do
    [[ "$line" =~ \"Type\":\"([^\"]*)\" ]] || continue
    case "${BASH_REMATCH[1]}" in
      Images) key=images ;;
      Containers) key=containers ;;
      "Local Volumes") key=volumes ;;
      "Build Cache") key=build_cache ;;
      *) continue ;;
    esac
    if [[ "$line" =~ \"Size\":\"([^\"]*)\" ]]; then
      printf 'docker_df.%s.size=%s\n' "$key" "${BASH_REMATCH[1]}" >&3
    fi
    if [[ "$line" =~ \"Reclaimable\":\"([^\"]*)\" ]]; then
      printf 'docker_df.%s.reclaimable=%s\n' "$key" "${BASH_REMATCH[1]}" >&3
    fi
    if [[ "$line" =~ \"TotalCount\":\"?([0-9]+) ]]; then
      printf 'docker_df.%s.count=%s\n' "$key" "${BASH_REMATCH[1]}" >&3
    fi
  done <<<"$out"
}

# The manual's log queries in one awk pass over a service's lines (POSIX awk: Ubuntu's awk is mawk). Prints
# "log.<query>.count=<n>" and the newest `samples` matching lines as "log.<query>.sample=<line>", oldest first.
# backend: backend_errors ("error"), auth_failures ("authentication failed"), database_errors ("database" and
# "error"), all case-insensitive, and slow_requests (a JSON line whose top-level "response_time" is above slow,
# the manual's `| json | response_time > 1000`); caddy: caddy_4xx / caddy_5xx (an access-log line's "status").
# shellcheck disable=SC2016  # an awk program: the $ are awk's
FTOPS_LOG_AWK='
# scan_char C: one character of a JSON line read, keeping the globals json_instr (inside a string), json_esc (after a
# backslash in one) and json_depth (object/array nesting outside strings) current
function scan_char(c) {
  if (json_instr) {
    if (json_esc) json_esc = 0
    else if (c == "\\") json_esc = 1
    else if (c == "\"") json_instr = 0
  } else if (c == "\"") json_instr = 1
  else if (c == "{" || c == "[") json_depth++
  else if (c == "}" || c == "]") json_depth--
}
# the number after "key": in a JSON object line, at its top level (depth 1, outside strings); "" when none
function top_level_number(line, key,    want, at, i, rest, value) {
  want = "\"" key "\""
  json_depth = 0; json_instr = 0; json_esc = 0; i = 1
  while ((at = index(substr(line, i), want)) > 0) {
    at += i - 1
    for (; i < at; i++) scan_char(substr(line, i, 1))
    if (!json_instr && json_depth == 1) {
      rest = substr(line, at + length(want))
      if (match(rest, /^[ \t]*:[ \t]*-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?/)) {
        value = substr(rest, 1, RLENGTH)
        sub(/^[ \t]*:[ \t]*/, "", value)
        return value
      }
    }
    # step over the key string (or the text inside a string: the key holds no brace) and go on
    for (; i < at + length(want); i++) scan_char(substr(line, i, 1))
  }
  return ""
}
function hit(query, line) {
  count[query]++
  if (samples > 0) ring[query, count[query] % samples] = line
}
{
  if (kind == "backend") {
    low = tolower($0)
    if (index(low, "error")) hit("backend_errors", $0)
    if (index(low, "\"response_time\"")) {
      rt = top_level_number($0, "response_time")
      if (rt != "" && rt + 0 > slow + 0) hit("slow_requests", $0)
    }
    if (index(low, "authentication failed")) hit("auth_failures", $0)
    if (index(low, "database") && index(low, "error")) hit("database_errors", $0)
  } else if (match($0, /"status": ?[45][0-9][0-9][,}]/)) {
    status = substr($0, RSTART, RLENGTH)
    sub(/^"status": ?/, "", status)
    hit("caddy_" substr(status, 1, 1) "xx", $0)
  }
}
END {
  n = split(kind == "backend" ? "backend_errors slow_requests auth_failures database_errors" : "caddy_4xx caddy_5xx", queries, " ")
  for (q = 1; q <= n; q++) {
    query = queries[q]
    total = count[query] + 0
    print "log." query ".count=" total
    first = total - samples + 1
    if (first < 1) first = 1
    for (k = first; k <= total; k++) print "log." query ".sample=" ring[query, k % samples]
  }
}'

# read_log_queries KIND SERVICE: the queries of KIND (backend or caddy) over SERVICE's lines of the last
# LOG_SINCE, streamed (a day of logs can be large); samples redacted, then cut to 300 characters
read_log_queries() {
  local kind="$1" service="$2" line value
  local -a statuses
  # control characters would break the one-line-per-value output: each becomes a space (\n ends the line)
  "$DOCKER_BIN" compose logs --since "$LOG_SINCE" --no-log-prefix "$service" 2>"$ftops_err" |
    tr '\000-\011\013-\037\177' ' ' |
    awk -v kind="$kind" -v slow="$SLOW_MS" -v samples="$LOG_SAMPLES" "$FTOPS_LOG_AWK" >"$ftops_tmp/found"
  statuses=("${PIPESTATUS[@]}")
  cat "$ftops_err" >&2
  if ((statuses[0] != 0)); then
    section_error log "$(failure_text "$ftops_err" "docker compose logs $service exited with status ${statuses[0]}")"
    return 0
  fi
  if ((statuses[1] != 0 || statuses[2] != 0)); then
    section_error log "the $kind log queries failed (tr/awk status ${statuses[1]}/${statuses[2]})"
    return 0
  fi
  while IFS= read -r line; do
    if [[ "$line" == log.*.sample=* ]]; then
      value="${line#*=}"
      line="${line%%=*}=${value:0:300}"
    fi
    printf '%s\n' "$line" >&3
  done < <(redact_lines <"$ftops_tmp/found")
}

# read_ufw: `ufw status verbose`: the status, the default incoming policy and one "To|Action|From" per rule
# (ufw prints "%-26s %-12s%-26s" plus " (log)" / " # comment": the action is one of ufw's, the comment dropped)
read_ufw() {
  local bin out line to action from
  local -a words
  if ! bin="$(command -v ufw)"; then
    printf 'ufw.status=unavailable\n' >&3
    section_error ufw "ufw: command not found"
    return 0
  fi
  if ! out="$(capture ufw as_root "$bin" status verbose)"; then
    printf 'ufw.status=unavailable\n' >&3
    return 0
  fi
  while IFS= read -r line; do
    if [[ "$line" =~ ^Status:\ *([a-z]+) ]]; then
      printf 'ufw.status=%s\n' "${BASH_REMATCH[1]}" >&3
    elif [[ "$line" =~ ^Default:\ *([a-z]+)\ \(incoming\) ]]; then
      printf 'ufw.default_incoming=%s\n' "${BASH_REMATCH[1]}" >&3
    elif [[ "$line" =~ ^(.*[^ ])\ +((ALLOW|DENY|REJECT|LIMIT)( (IN|OUT|FWD))?)\ +(.*)$ ]]; then
      to="${BASH_REMATCH[1]}" action="${BASH_REMATCH[2]}" from="${BASH_REMATCH[6]}"
      from="${from%% # *}"
      read -r -a words <<<"$from"
      from="${words[*]}"
      printf 'ufw.rule=%s|%s|%s\n' "$to" "$action" "$from" >&3
    fi
  done <<<"$out"
}

# read_fail2ban: `fail2ban-client status F2B_JAIL`: counts and the banned IPs (at most 50). A server that does
# not run is a finding ("not running"), not a failure to read.
read_fail2ban() {
  local bin out status=0 line ip key shown=0
  local -a ips
  if ! bin="$(command -v fail2ban-client)"; then
    printf 'fail2ban.status=unavailable\n' >&3
    section_error fail2ban "fail2ban-client: command not found"
    return 0
  fi
  out="$(as_root "$bin" status "$F2B_JAIL" 2>"$ftops_err")" || status=$?
  cat "$ftops_err" >&2
  if ((status != 0)); then
    if grep -qE 'Is fail2ban running|Unable to contact server' "$ftops_err"; then
      printf 'fail2ban.status=not running\n' >&3
      return 0
    fi
    printf 'fail2ban.status=unavailable\n' >&3
    # an unknown jail is said on stdout ("Sorry but the jail 'x' does not exist"), sudo's refusal on stderr
    section_error fail2ban "$(failure_text <(printf '%s\n' "$out") "$(failure_text "$ftops_err" "exit status $status")")"
    return 0
  fi
  printf 'fail2ban.status=running\n' >&3
  while IFS= read -r line; do
    if [[ "$line" =~ (Currently failed|Currently banned|Total banned):[[:space:]]*([0-9]+) ]]; then
      key="${BASH_REMATCH[1],,}"
      printf 'fail2ban.%s=%s\n' "${key// /_}" "${BASH_REMATCH[2]}" >&3
    elif [[ "$line" =~ Banned\ IP\ list:[[:space:]]*(.*)$ ]]; then
      read -r -a ips <<<"${BASH_REMATCH[1]}"
      for ip in "${ips[@]}"; do
        if [[ "$ip" =~ ^[0-9A-Fa-f:.]+(/[0-9]{1,3})?$ ]] && ((shown < 50)); then
          printf 'fail2ban.banned_ip=%s\n' "$ip" >&3
          shown=$((shown + 1))
        fi
      done
    fi
  done <<<"$out"
}

# read_system: the reboot-required flag (and its packages) and the pending updates. FTOPS_REBOOT_REQUIRED_FILE and
# FTOPS_APT_CHECK are the local host's stand-in seams (opsctl/local/host.py LocalHost.env sets them for its
# sessions): never a control-plane parameter, unset on a real host.
read_system() {
  local flag="${FTOPS_REBOOT_REQUIRED_FILE:-/var/run/reboot-required}"
  local apt_check="${FTOPS_APT_CHECK:-/usr/lib/update-notifier/apt-check}" counts packages
  if [[ -e "$flag" ]]; then
    printf 'system.reboot_required=yes\n' >&3
    if [[ -r "$flag.pkgs" ]]; then
      packages="$(grep -E '^[A-Za-z0-9.+:~_-]+$' "$flag.pkgs" | sort -u | tr '\n' ' ')" || true
      printf 'system.reboot_packages=%s\n' "${packages% }" >&3
    fi
  else
    printf 'system.reboot_required=no\n' >&3
  fi
  # Ubuntu's apt-check prints "<updates>;<security updates>" on stderr; without it (Debian), apt-get's simulated
  # upgrade, its "Inst" lines and those from a security origin. Both read the package lists as they are (the
  # last `apt update`, which unattended-upgrades runs daily): nothing is downloaded or locked here.
  if [[ -x "$apt_check" ]]; then
    if ! counts="$("$apt_check" 2>&1 >/dev/null)"; then
      section_error system "apt-check failed: $(tail -n 1 <<<"$counts")"
      return 0
    fi
    counts="$(tail -n 1 <<<"$counts")"
    if [[ ! "$counts" =~ ^([0-9]+)\;([0-9]+)$ ]]; then
      section_error system "apt-check printed '${counts:0:80}', not <updates>;<security>"
      return 0
    fi
    printf 'system.updates=%s\nsystem.security_updates=%s\n' "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}" >&3
  else
    counts="$(capture system apt-get -s -o Debug::NoLocking=true upgrade)" || return 0
    awk '/^Inst / { n++; if (tolower($0) ~ /security/) s++ }
      END { printf "system.updates=%d\nsystem.security_updates=%d\n", n, s }' <<<"$counts" >&3
  fi
}
