"""daily_check.sh on a local host (docker shim, the ufw / fail2ban-client / apt-check / df stand-ins, the
reboot-required file), run as the transports run it: ``bash -c <script>`` with the host's session environment and
the script's parameters. What it prints for a healthy host, for seeded logs (counted exactly, samples redacted),
an unhealthy host (a stopped service, CPU and disk faults, firewall drift, bans, a reboot and updates pending), a
firewall that is off and a fail2ban that does not run; a missing command is an ``<section>.error`` line and exit 0;
a bad parameter exit 64. Each run takes about a second (eight stand-in programs start): few runs, many facts."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from freshtrack_ops.errors import InvalidInput
from freshtrack_ops.host_scripts import load, shell_command
from opsctl.local.host import LocalHost
from opsctl.local.logs_seed import SEEDED_SECRET, realistic_lines, window_counts
from opsctl.local.stand_ins.ufw import DEFAULT_RULES

pytestmark = pytest.mark.integration

SERVICES = ("backend", "worker", "postgres", "redis", "caddy")
DEFAULT_RULE_LINES = [f"{to}|{action}|{source}" for to, action, source in DEFAULT_RULES]


class Output:
    """The script's ``<section>.<key>=<value>`` lines: ``one(key)``, ``all(key)``, ``names()``."""

    def __init__(self, stdout: str) -> None:
        self.pairs = [tuple(line.split("=", 1)) for line in stdout.splitlines()]
        assert all(len(pair) == 2 for pair in self.pairs), stdout

    def all(self, key: str) -> list[str]:
        return [value for name, value in self.pairs if name == key]

    def one(self, key: str) -> str:
        (value,) = self.all(key)
        return value

    def names(self) -> set[str]:
        return {name for name, _ in self.pairs}


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHost]:
    with LocalHost(tmp_path_factory.mktemp("daily"), readings=100, use_sshd=False) as h:
        yield h


@pytest.fixture(autouse=True)
def healthy(host: LocalHost) -> None:
    """Every test starts from a healthy host with empty logs."""
    host.set_firewall()
    host.set_fail2ban()
    host.set_reboot_required(None)
    host.set_pending_updates()
    host.set_cpu_fault("backend", None)
    host.set_disk_use(None)
    host.clear_logs()


def run(host: LocalHost, path: str | None = None, **params: str) -> tuple[int, Output, str]:
    env = host.env() | {
        "APP_DIR": str(host.app_dir),
        "DOCKER_BIN": str(host.docker_bin),
        "DOMAIN": "demo.freshtrack.local",
        "SERVICES": " ".join(SERVICES),
        "CERT_PORT": "1",  # nothing listens there: "none served"
    }
    env |= params
    if path is not None:
        env["PATH"] = path
    proc = subprocess.run(
        ["bash", "-c", load("daily_check.sh"), "daily_check.sh"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    return proc.returncode, Output(proc.stdout), proc.stderr


def test_a_healthy_host_read_only(host: LocalHost) -> None:
    before = len(host.commands())
    code, out, stderr = run(host)
    assert code == 0, stderr
    assert {service: out.one(f"service.{service}") for service in SERVICES} == dict.fromkeys(SERVICES, "running")
    for service in SERVICES:
        assert 0 < float(out.one(f"stats.{service}.cpu")) < 70
        assert 0 < float(out.one(f"stats.{service}.mem")) < 80
        assert " / " in out.one(f"stats.{service}.mem_usage")
    for disk in ("disk.app", "disk.root"):
        assert 0 < int(out.one(f"{disk}.used_percent")) <= 100
        size, used = int(out.one(f"{disk}.size_kb")), int(out.one(f"{disk}.used_kb"))
        assert 0 < used + int(out.one(f"{disk}.available_kb")) <= size
        assert out.one(f"{disk}.mount").startswith("/")
    assert out.one("docker_df.images.size") == "2.31GB"
    assert out.one("docker_df.images.reclaimable") == "612.4MB (26%)"
    assert out.one("docker_df.containers.count") == "5"
    kinds = {key.split(".")[1] for key in out.names() if key.startswith("docker_df.")}
    assert kinds == {"images", "containers", "volumes", "build_cache"}
    assert out.one("cert.certificate") == "none served"
    assert out.one("log.window") == "24h"
    counts = {key: int(out.one(key)) for key in out.names() if key.endswith(".count") and key.startswith("log.")}
    assert len(counts) == 6 and set(counts.values()) == {0}
    assert out.one("ufw.status") == "active"
    assert out.one("ufw.default_incoming") == "deny"
    assert out.all("ufw.rule") == DEFAULT_RULE_LINES
    assert out.one("fail2ban.status") == "running"
    assert (out.one("fail2ban.currently_banned"), out.one("fail2ban.total_banned")) == ("0", "0")
    assert out.one("fail2ban.currently_failed") == "0"
    assert out.all("fail2ban.banned_ip") == []
    assert out.one("system.reboot_required") == "no"
    assert (out.one("system.updates"), out.one("system.security_updates")) == ("0", "0")
    assert not any(key.endswith(".error") for key in out.names()), out.pairs
    # read-only: docker was asked for nothing but what it shows
    ran = {" ".join(argv[1:3]) for argv in host.commands()[before:]}
    assert ran == {"compose ps", "stats --no-stream", "system df", "compose logs"}


def test_seeded_logs_are_counted_exactly_and_their_samples_redacted(host: LocalHost) -> None:
    seeded = host.seed_realistic_logs()
    assert all(count > 0 for count in seeded.values()), seeded
    code, out, stderr = run(host, LOG_SAMPLES="3")
    assert code == 0, stderr
    assert {query: int(out.one(f"log.{query}.count")) for query in seeded} == seeded
    for query in seeded:
        samples = out.all(f"log.{query}.sample")
        assert len(samples) == 3 and all(len(sample) <= 300 for sample in samples)
    # the newest database error carries the secret: the last (newest) sample of both queries, redacted on the host
    for query in ("backend_errors", "database_errors"):
        assert "password=<redacted> dbname=frostguard" in out.all(f"log.{query}.sample")[-1]
    everything = "\n".join(f"{key}={value}" for key, value in out.pairs)
    assert SEEDED_SECRET not in everything and SEEDED_SECRET not in stderr
    # a Caddy access-log line is longer than 300 characters: its status is past the cut
    assert all('"logger":"http.log.access.log0"' in sample for sample in out.all("log.caddy_4xx.sample"))


def test_an_unhealthy_host(host: LocalHost) -> None:
    now = datetime.now(UTC)
    host.seed_realistic_logs(now)
    host.crash_service("worker")
    host.set_cpu_fault("backend", 93.5)
    host.set_disk_use(91)
    extra = ("5432/tcp", "ALLOW IN", "10.0.0.0/8")
    host.set_firewall(default_incoming="allow", rules=(*DEFAULT_RULES[:3], extra, *DEFAULT_RULES[3:]))
    host.set_fail2ban(banned=("203.0.113.7", "198.51.100.23", "2001:db8::1"), failed=4)
    host.set_reboot_required(("linux-image-6.8.0-45-generic", "libc6", "linux-base"))
    host.set_pending_updates(updates=12, security=5)
    try:
        code, out, stderr = run(host, LOG_SAMPLES="0", SLOW_MS="3000")
    finally:
        subprocess.run([str(host.docker_bin), "compose", "start", "worker"], check=True, capture_output=True)
    assert code == 0, stderr
    assert out.one("service.worker") == "exited"
    assert not [key for key in out.names() if key.startswith("stats.worker.")]
    assert out.one("stats.backend.cpu") == "93.50"
    assert out.one("disk.app.used_percent") == "91"
    assert int(out.one("disk.app.used_kb")) == int(out.one("disk.app.size_kb")) * 91 // 100
    assert out.one("ufw.default_incoming") == "allow"
    assert out.all("ufw.rule") == [*DEFAULT_RULE_LINES[:3], "5432/tcp|ALLOW IN|10.0.0.0/8", *DEFAULT_RULE_LINES[3:]]
    assert out.all("fail2ban.banned_ip") == ["203.0.113.7", "198.51.100.23", "2001:db8::1"]
    assert (out.one("fail2ban.currently_banned"), out.one("fail2ban.currently_failed")) == ("3", "4")
    assert out.one("system.reboot_required") == "yes"
    assert out.one("system.reboot_packages") == "libc6 linux-base linux-image-6.8.0-45-generic"
    assert (out.one("system.updates"), out.one("system.security_updates")) == ("12", "5")
    # SLOW_MS and LOG_SAMPLES are the script's: slower than 3 s only, and no sample at all
    expected = window_counts(realistic_lines(now), now, slow_ms=3000)
    assert 0 < int(out.one("log.slow_requests.count")) == expected["slow_requests"] < 23
    assert not [key for key in out.names() if key.endswith(".sample")]
    assert not any(key.endswith(".error") for key in out.names()), out.pairs


def test_a_firewall_that_is_off_and_a_fail2ban_that_does_not_run(host: LocalHost) -> None:
    host.set_firewall(status="inactive")
    host.set_fail2ban(running=False)
    out = run(host)[1]
    assert out.one("ufw.status") == "inactive"
    assert out.all("ufw.rule") == [] and out.all("ufw.default_incoming") == []
    assert out.one("fail2ban.status") == "not running"
    assert not [key for key in out.names() if key.startswith("fail2ban.") and key != "fail2ban.status"]


def test_a_missing_command_is_an_error_line_and_the_rest_goes_on(host: LocalHost, tmp_path: Path) -> None:
    """No ufw, no docker, a jail fail2ban does not have, no apt-check (Debian: apt-get's simulated upgrade)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in host.bin_dir.iterdir():  # the host's PATH without ufw (and no sbin, where a real ufw would be)
        if tool.name != "ufw":
            (bin_dir / tool.name).symlink_to(tool)
    (bin_dir / "apt-get").write_text(
        "#!/usr/bin/env bash\n"
        '[[ "$*" == "-s -o Debug::NoLocking=true upgrade" ]] || exit 100\n'
        "echo 'Reading package lists...'\n"
        "echo 'Inst libssl3 [3.0.11-1~deb12u2] (3.0.15-1~deb12u1 Debian-Security:12/stable-security [amd64])'\n"
        "echo 'Inst tzdata [2024a-0+deb12u1] (2025b-0+deb12u1 Debian:12.11/stable [all])'\n"
        "echo 'Conf libssl3 (3.0.15-1~deb12u1 Debian-Security:12/stable-security [amd64])'\n"
    )
    (bin_dir / "apt-get").chmod(0o755)
    code, out, stderr = run(
        host,
        path=f"{bin_dir}:/usr/bin:/bin",
        DOCKER_BIN="/nonexistent/docker",
        F2B_JAIL="nginx-http-auth",
        FTOPS_APT_CHECK=str(tmp_path / "no-apt-check"),
    )
    assert code == 0, stderr
    assert out.one("ufw.status") == "unavailable"
    assert out.one("ufw.error") == "ufw: command not found"
    for section in ("service", "docker_df", "log"):
        assert out.one(f"{section}.error") == "/nonexistent/docker: command not found"
    assert out.one("stats.error") == "no container list (docker compose ps failed)"
    assert out.one("fail2ban.status") == "unavailable"
    assert out.one("fail2ban.error") == "Sorry but the jail 'nginx-http-auth' does not exist"
    assert (out.one("system.updates"), out.one("system.security_updates")) == ("2", "1")
    # the readers that need none of them read as ever
    assert out.one("system.reboot_required") == "no"
    assert int(out.one("disk.root.used_percent")) > 0
    assert out.one("log.window") == "24h"


@pytest.mark.parametrize(
    ("name", "value"),
    [("LOG_SINCE", "1d"), ("LOG_SINCE", "24h; reboot"), ("LOG_SAMPLES", "11"), ("SLOW_MS", "600001")],
)
def test_a_bad_parameter_is_refused(host: LocalHost, name: str, value: str) -> None:
    code, out, stderr = run(host, **{name: value})
    assert code == 64
    assert out.pairs == []
    assert f"refusing {name}" in stderr
    # and the control plane refuses it before anything runs (the same pattern table for both transports)
    with pytest.raises(InvalidInput, match=name):
        shell_command("daily_check.sh", {name: value})
