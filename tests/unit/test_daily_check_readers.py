"""The daily check's readers (host_scripts/lib/daily_check.sh) on outputs the local stand-ins never print: ufw
rules with a comment, a log flag or an interface; compose < 2.21's JSON array; fail2ban's systemd jails; a
nested or quoted ``response_time``. Each reader runs in bash with fake commands first on PATH."""

from __future__ import annotations

import subprocess
from importlib import resources
from pathlib import Path

from freshtrack_ops import host_scripts

#: the readers and the redaction they use (daily_check.sh includes both)
LIBRARY = "\n".join(
    resources.files(host_scripts).joinpath(f"lib/{name}.sh").read_text(encoding="utf-8")
    for name in ("redact", "daily_check")
)


def reader(tmp_path: Path, call: str, fakes: dict[str, str], **env: str) -> list[str]:
    """``call`` (a reader) with each fake command printing its text; the reader's lines."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, text in {**fakes, "sudo": 'shift; exec "$@"'}.items():
        (bin_dir / name).write_text(f"#!/usr/bin/env bash\n{text}\n")
        (bin_dir / name).chmod(0o755)
    script = f'{LIBRARY}\nexec 3>&1\nftops_tmp="$(mktemp -d)"\nftops_err="$ftops_tmp/err"\n{call}\n'
    proc = subprocess.run(
        ["bash", "-c", script],
        env={"PATH": f"{bin_dir}:/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return proc.stdout.splitlines()


def test_ufw_rules_keep_to_action_from_and_drop_comments(tmp_path: Path) -> None:
    status = (
        "Status: active\nLogging: on (low)\nDefault: reject (incoming), allow (outgoing), disabled (routed)\n"
        "New profiles: skip\n\n"
        f"{'To':<26} {'Action':<12}From\n{'--':<26} {'------':<12}----\n"
        f"{'22/tcp':<26} {'LIMIT IN':<12}{'Anywhere':<26} (log)\n"
        f"{'5432/tcp':<26} {'ALLOW IN':<12}{'10.0.0.0/8':<26} # PostgreSQL from internal\n"
        f"{'Anywhere on eth1':<26} {'DENY IN':<12}{'203.0.113.0/24':<26}\n"
        f"{'8080/tcp on a-very-long-interface0':<26} {'REJECT IN':<12}{'Anywhere (v6)':<26}\n\n"
    )
    lines = reader(tmp_path, "read_ufw", {"ufw": f"cat <<'EOF'\n{status}EOF"})
    assert lines == [
        "ufw.status=active",
        "ufw.default_incoming=reject",
        "ufw.rule=22/tcp|LIMIT IN|Anywhere (log)",
        "ufw.rule=5432/tcp|ALLOW IN|10.0.0.0/8",
        "ufw.rule=Anywhere on eth1|DENY IN|203.0.113.0/24",
        "ufw.rule=8080/tcp on a-very-long-interface0|REJECT IN|Anywhere (v6)",
    ]


def test_compose_ps_as_one_json_array_and_exact_container_names(tmp_path: Path) -> None:
    """compose < 2.21 prints one JSON array; a container is found by its exact name, never a suffix."""
    ps = (
        '[{"ID":"a1","Name":"fp-backend-1","Image":"x","Command":"node","Project":"fp","Service":"backend",'
        '"State":"running","Publishers":[{"URL":"","TargetPort":3000}]},'
        '{"ID":"b2","Name":"fp-caddy-1","Service":"caddy","State":"restarting","Publishers":null}]'
    )
    stats = (
        '{"CPUPerc":"99.00%","MemPerc":"99.00%","MemUsage":"1GiB / 1GiB","Name":"other-fp-backend-1"}\n'
        '{"CPUPerc":"12.50%","MemPerc":"40.25%","MemUsage":"820MiB / 2GiB","Name":"fp-backend-1"}'
    )
    docker = f"""case "$1 $2" in
  "compose ps") echo '{ps}' ;;
  "stats --no-stream") echo '{stats}' ;;
esac"""
    call = (
        "declare -A ftops_state=() ftops_container=(); ftops_services=(backend caddy worker); DOCKER_BIN=docker\n"
        "read_services; read_stats"
    )
    assert reader(tmp_path, call, {"docker": docker}) == [
        "service.backend=running",
        "service.caddy=restarting",
        "service.worker=not created",
        "stats.backend.cpu=12.50",
        "stats.backend.mem=40.25",
        "stats.backend.mem_usage=820MiB / 2GiB",
    ]


def test_fail2ban_with_a_systemd_backend_and_bad_tokens_in_the_ip_list(tmp_path: Path) -> None:
    status = (
        "Status for the jail: sshd\n|- Filter\n|  |- Currently failed:\t2\n|  |- Total failed:\t40\n"
        "|  `- Journal matches:\t_SYSTEMD_UNIT=sshd.service + _COMM=sshd\n`- Actions\n"
        "   |- Currently banned:\t2\n   |- Total banned:\t9\n   `- Banned IP list:\t192.0.2.4 $(reboot) 2001:db8::7\n"
    )
    lines = reader(tmp_path, "F2B_JAIL=sshd; read_fail2ban", {"fail2ban-client": f"cat <<'EOF'\n{status}EOF"})
    assert lines == [
        "fail2ban.status=running",
        "fail2ban.currently_failed=2",
        "fail2ban.currently_banned=2",
        "fail2ban.total_banned=9",
        "fail2ban.banned_ip=192.0.2.4",
        "fail2ban.banned_ip=2001:db8::7",
    ]


def test_only_a_top_level_response_time_makes_a_slow_request(tmp_path: Path) -> None:
    logs = "\n".join(
        [
            '{"level":30,"response_time":1500,"msg":"request completed"}',
            '{"level":30,"upstream":{"response_time":9000},"response_time":12,"msg":"x"}',
            '{"level":30,"msg":"said \\"response_time\\":5000 in text","response_time":3}',
            '{"level":30,"msg":"x","response_time":1000}',
            '{"level":30,"msg":"x","response_time": 2.5e3}',
            "not json response_time 9999",
        ]
    )
    docker = f"cat <<'EOF'\n{logs}\nEOF"
    call = "DOCKER_BIN=docker LOG_SINCE=24h SLOW_MS=1000 LOG_SAMPLES=10; read_log_queries backend backend"
    lines = reader(tmp_path, call, {"docker": docker})
    assert "log.slow_requests.count=2" in lines
    samples = [line.removeprefix("log.slow_requests.sample=") for line in lines if ".slow_requests.sample=" in line]
    assert samples == [logs.splitlines()[0], logs.splitlines()[4]]
