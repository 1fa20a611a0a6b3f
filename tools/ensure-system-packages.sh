#!/usr/bin/env bash
# Install the Debian packages the local plane needs when they are missing (only as root; otherwise
# say what is missing). The tests need a real PostgreSQL server and a real OpenSSH server; the local plane's
# monitoring mode (opsctl/local/monitoring) runs Debian's Prometheus, Alertmanager and Caddy binaries itself;
# the HTML report's test runs Debian's chromium.
set -euo pipefail

missing=()
[[ -x /usr/sbin/sshd ]] || missing+=(openssh-server)
command -v ssh-keygen >/dev/null 2>&1 || missing+=(openssh-client)
if ! compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null; then
  missing+=(postgresql)
fi
command -v git >/dev/null 2>&1 || missing+=(git)
# backup.compression zstd-stream / lz4-stream: the host compresses the dump stream (host_scripts/lib/archive.sh)
command -v zstd >/dev/null 2>&1 || missing+=(zstd)
command -v lz4 >/dev/null 2>&1 || missing+=(lz4)
# the paths opsctl/local/monitoring runs (Debian's packages install them there)
[[ -x /usr/bin/prometheus ]] || missing+=(prometheus)
[[ -x /usr/bin/prometheus-alertmanager ]] || missing+=(prometheus-alertmanager)
[[ -x /usr/bin/caddy ]] || missing+=(caddy)
# the daily report's page is checked in Debian's headless Chromium (tests/integration/test_daily_report_html.py)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
# opsctl --wait's live view is checked once in a real terminal (tests/integration/test_cli_terminal.py)
command -v tmux >/dev/null 2>&1 || missing+=(tmux)

if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi
if [[ "$(id -u)" -ne 0 ]]; then
  echo "missing Debian packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})" >&2
  exit 1
fi
echo "installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Their postinst scripts would start system services (prometheus on :9090, alertmanager on :9093, caddy on :80);
# the local plane runs its own on free ports. invoke-rc.d and deb-systemd-invoke ask policy-rc.d first: 101 is
# "action forbidden" (Debian policy-rc.d interface), for the duration of this install only.
policy=/usr/sbin/policy-rc.d
if [[ ! -e "$policy" ]]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  trap 'rm -f "$policy"' EXIT
fi
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# With policy-rc.d in place no service started (not even the PostgreSQL cluster or sshd): the local plane runs
# its own of each, on other ports.
