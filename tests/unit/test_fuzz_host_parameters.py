"""Fuzzing the host parameters against the models they come from (issue 17, docs/architecture.md#fuzzing).

One pattern table (``host_scripts/parameters.py``) is the SSM documents' ``allowedPattern``/``maxChars`` and the
SSH path's check. The values come from pydantic models: the target's configuration and the workflows' requests.
The two must agree both ways:

* nothing the models accept is refused by SSM: a configuration or request the models take, drawn from the models'
  own patterns (hypothesis ``from_regex``), gives host commands whose every value fully matches its parameter's
  pattern compiled with RE2 (google-re2: Go's rules, what the SSM Agent runs) and fits its ``maxChars``; else the
  workflow would be accepted, lock the host and fail at the first host step;
* nothing dangerous passes: shell metacharacters, quotes, control characters, a leading ``-``, ``..``, spaces,
  Unicode look-alikes match no parameter's pattern where they could reach a shell;
* and should one pass anyway, the SSH path's quoting keeps it data: any text round-trips byte for byte through
  ``quoted_command`` under bash and dash (sshd runs the login shell, which may be either).
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, get_args

import pytest
import re2
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from freshtrack_ops import host_scripts
from freshtrack_ops.config import (
    ABS_PATH_PATTERN,
    DOMAIN_PATTERN,
    IDENTIFIER_PATTERN,
    IP_PATTERN,
    SERVICE_PATTERN,
    Target,
    TargetSet,
    parse_target,
)
from freshtrack_ops.daily.host import collect_command
from freshtrack_ops.daily.models import DailyHostEvent
from freshtrack_ops.errors import InvalidInput
from freshtrack_ops.host_command import HostCommand
from freshtrack_ops.host_env import host_env
from freshtrack_ops.host_scripts.parameters import PARAMETERS, SCRIPT_PARAMETERS, UPDATE_TARGET_BODY
from freshtrack_ops.maintenance.host_models import PoolEvent, RotationEvent
from freshtrack_ops.maintenance.pool import pool_command
from freshtrack_ops.maintenance.rotation import rotation_command
from freshtrack_ops.models import ValidateBackupEvent
from freshtrack_ops.remediation import host as remediation_host
from freshtrack_ops.remediation.guard import AuditEntry
from freshtrack_ops.remediation.models import RemediationHostEvent
from freshtrack_ops.restore.checks import counts_command, health_command, services_command
from freshtrack_ops.service import host as service_host
from freshtrack_ops.service.models import SINCE_PATTERN, ServiceAction, ServiceHostEvent, ValidateServiceEvent
from freshtrack_ops.service.plan import plan_service
from freshtrack_ops.update.host import deploy_command, preflight_command, schema_command, verify_command
from freshtrack_ops.update.plan import plan_update

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False
#: every parameter's pattern as the SSM Agent compiles it
AGENT = {name: re2.compile(spec.pattern, _OPTIONS) for name, spec in PARAMETERS.items()}


def agent_accepts(name: str, value: str) -> bool:
    """What the SSM Agent decides: Go's ``MatchString`` (a search; the patterns are anchored) and ``maxChars``."""
    return len(value) <= PARAMETERS[name].max_chars and AGENT[name].search(value) is not None


def assert_ssm_takes(command: HostCommand) -> None:
    """Every value of ``command`` passes its parameter's allowedPattern and maxChars, and the SSH path's check."""
    for name, value in command.env.items():
        if name in SCRIPT_PARAMETERS[command.script]:  # the rest is dropped (for_script): never sent
            assert agent_accepts(name, value), (command.script, name, value)
    host_scripts.script_env(command.script, command.env)  # the same table, as the SSH/local runners check it


def _from(pattern: str, **kwargs: Any) -> st.SearchStrategy[str]:
    return st.from_regex(pattern, fullmatch=True, **kwargs)


services = _from(SERVICE_PATTERN)
#: paths the configuration's pattern takes, the edge cases first (the root, empty and dot segments)
paths = st.sampled_from(["/", "//", "/.", "/..", "/opt/..", "/opt/../etc", "/a/...", "/a//b/"]) | _from(
    ABS_PATH_PATTERN
)
#: a target's configuration, each field drawn from the pattern (or the range) of its own model
target_fields = st.fixed_dictionaries(
    {"id": st.just("demo"), "transport": st.just("local"), "domain": _from(DOMAIN_PATTERN)},
    optional={
        "app_dir": paths,
        "job_dir": paths,
        "docker_bin": paths | st.just("docker"),
        "database": _from(IDENTIFIER_PATTERN),
        "db_role": _from(IDENTIFIER_PATTERN),
        "health_check_from": st.sampled_from(["host", "control-plane"]),
        "health_url": _from(r"^https?://[a-z0-9.-]{1,40}(:[0-9]{1,5})?(/[A-Za-z0-9._~%/-]*)?$"),
        "extra_services": st.lists(services | _from(r"^[a-z][a-z0-9]{62}$"), max_size=24, unique=True),
        "update": st.fixed_dictionaries({}, optional={"migrations_table": _from(IDENTIFIER_PATTERN)}),
        "daily_check": st.fixed_dictionaries(
            {},
            optional={
                "fail2ban_jail": _from(r"^[a-z][a-z0-9_-]{0,31}$"),
                "log_window_hours": st.integers(-5, 2000),
                "log_samples": st.integers(-5, 50),
                "slow_request_ms": st.integers(-5, 10**7),
            },
        ),
        "remediation": st.fixed_dictionaries(
            {}, optional={"certificate_port": st.integers(-5, 70_000), "caddy_service": services}
        ),
        "maintenance": st.fixed_dictionaries(
            {},
            optional={
                "db_pool_min": st.integers(-5, 2000),
                "db_pool_max": st.integers(-5, 2000),
                "dpkg_lock_wait_s": st.integers(-5, 10**5),
                "apt_timeout_s": st.integers(-5, 10**5),
            },
        ),
    },
)


def _target(fields: dict[str, Any]) -> Target | None:
    """The target the configuration model makes of ``fields``, or None where it refuses them."""
    raw = dict(fields)
    extra = raw.pop("extra_services", [])
    default = ("backend", "worker", "postgres", "redis", "caddy")
    caddy = raw.get("remediation", {}).get("caddy_service", "caddy")
    raw["compose_services"] = [*default, *(s for s in [*extra, caddy] if s not in default)]
    try:
        return parse_target(raw)
    except (ValidationError, ValueError):
        return None


def _commands(target: Target) -> Iterator[HostCommand]:
    """The host commands a target's configuration feeds (every workflow's, with fixed request parts)."""
    yield HostCommand("preflight.sh", host_env(target))
    yield collect_command(target, DailyHostEvent(host=target.id))
    yield counts_command(target, target.database)
    yield services_command(target, "stop", target.app_services)
    yield health_command(target)
    yield schema_command(target)
    yield deploy_command(target, reset=True, pull_images=True)
    yield verify_command(target)
    for size in (target.maintenance.db_pool_min, target.maintenance.db_pool_max):
        yield pool_command(target, PoolEvent(host=target.id, action="set", size=size))
    yield rotation_command(target, RotationEvent(host=target.id, rotation="rotate"))
    yield service_host.act_command(target, ServiceHostEvent(host=target.id, action="status"))
    cert = RemediationHostEvent(host=target.id, action="certificate-check")
    yield remediation_host.act_command(target, cert)
    yield remediation_host.check_command(target, cert)


@settings(max_examples=150)
@given(fields=target_fields)
def test_every_target_the_configuration_accepts_gives_values_ssm_accepts(fields: dict[str, Any]) -> None:
    target = _target(fields)
    if target is None:
        return
    for command in _commands(target):
        assert_ssm_takes(command)


# -- request fields that become parameters ------------------------------------------------------------------
TARGET = parse_target({"id": "demo", "transport": "local", "domain": "demo.example.com"})


TARGETS = TargetSet(targets=(TARGET,))
NOW = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)
EXECUTION = "arn:aws:states:eu-west-1:123456789012:execution:ftops:run-1"


@settings(max_examples=150)
@given(version=_from(f"^({UPDATE_TARGET_BODY})$"))
def test_every_update_version_the_request_accepts_is_a_target_spec_ssm_accepts(version: str) -> None:
    event = ValidateBackupEvent(request={"host": "demo", "version": version}, execution_id=EXECUTION, started_at=NOW)
    try:
        plan = plan_update(event, TARGETS)
    except InvalidInput:
        return
    assert_ssm_takes(preflight_command(plan, TARGET))


class Audit:
    def record(self, entry: AuditEntry) -> None:
        pass


@settings(max_examples=200)
@given(
    action=st.sampled_from(get_args(ServiceAction)),
    service=st.none() | st.sampled_from(TARGET.compose_services) | services,
    tail=st.none() | st.integers(-5, 20_000),
    since=st.none() | _from(SINCE_PATTERN),
    ip=st.none() | _from(IP_PATTERN) | st.ip_addresses().map(str),
    confirm=st.just("demo"),
)
def test_every_service_request_the_validator_accepts_gives_values_ssm_accepts(**request: Any) -> None:
    raw = {"host": "demo"} | {key: value for key, value in request.items() if value is not None}
    event = ValidateServiceEvent(request=raw, execution_id=EXECUTION)
    try:
        plan = plan_service(event, TARGETS, audit=Audit(), now=NOW)  # type: ignore[arg-type]
    except InvalidInput:
        return
    host_event = ServiceHostEvent(
        host=plan.host, action=plan.action, service=plan.service, tail=plan.tail, since=plan.since, ip=plan.ip,
        log_key=plan.log_key,
    )  # fmt: skip
    assert_ssm_takes(service_host.act_command(TARGET, host_event))


# -- dangerous values never pass ---------------------------------------------------------------------------
#: characters that mean something to a shell, or end a line or a string, and look-alikes of allowed characters
#: (Cyrillic a, fullwidth 1, Arabic-Indic 1, a zero-width space, e acute, a non-breaking space, fullwidth slash)
NEVER = [*";|$`()<>'\"\\\n\r\t\x00*?!#{}[]^", "\u0430", "\uff11", "\u0661", "\u200b", "\u00e9", "\u00a0", "\uff0f"]
#: where the rest is allowed: ``&`` separates a presigned URL's query fields (the URL reaches curl through a config
#: file on stdin, never a shell); a space separates the names of a list (SERVICES, IMAGE_PINS: word-split on
#: purpose, each word checked by the pattern)
URLS = {name for name, spec in PARAMETERS.items() if "amazonaws" in spec.pattern}
AMPERSAND = URLS
SPACE = {"SERVICES", "IMAGE_PINS"}
#: parameters that are paths on the host
PATHS = {"APP_DIR", "JOB_DIR", "STATE_DIR", "DOCKER_BIN"}
NAMES = sorted(PARAMETERS)


@st.composite
def spoiled(draw: st.DrawFn, name: str) -> tuple[str, str]:
    """A value of ``name``'s own pattern with one dangerous piece put in, and that piece."""
    value = draw(_from(PARAMETERS[name].pattern, alphabet=st.characters(codec="ascii")))
    piece = draw(st.sampled_from([*NEVER, "&", " ", "-", "/../", "/.."]))
    at = draw(st.sampled_from([0, len(value)]) | st.integers(0, len(value)))
    return value[:at] + piece + value[at:], piece


def _excused(name: str, piece: str, value: str) -> bool:
    """A piece the parameter takes on purpose (see AMPERSAND, SPACE), or one that is harmless where it landed."""
    if piece == "&":
        return name in AMPERSAND
    if piece == " ":
        return name in SPACE and not value.startswith(" ")
    if piece == "-":
        return not value.startswith("-")  # a dash inside a name is fine; only a leading one reads as an option
    if piece in ("/../", "/.."):
        return name not in PATHS  # a URL's path is the server's to resolve; a host path must not climb out
    return False


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=15)
@given(data=st.data())
def test_no_pattern_takes_a_dangerous_value(name: str, data: st.DataObject) -> None:
    value, piece = data.draw(spoiled(name))
    if agent_accepts(name, value):
        assert _excused(name, piece, value), (name, value)


@pytest.mark.parametrize("name", NAMES)
def test_no_value_starts_with_a_dash_or_holds_a_shell_metacharacter(name: str) -> None:
    """Direct checks of what the fuzzer samples: the first character, and every metacharacter anywhere."""
    agent = AGENT[name]
    assert agent.search("-x") is None and agent.search("-1") is None and agent.search("--") is None
    for char in NEVER:
        assert agent.search(char) is None and agent.search(f"a{char}") is None, (name, char)


# -- the SSH quoting ---------------------------------------------------------------------------------------
SHELLS = [["bash", "-c"], ["/bin/sh", "-c"]]


@settings(max_examples=60)
@given(value=st.text(st.characters(exclude_characters="\x00", exclude_categories=["Cs"]), max_size=80))
def test_any_value_reaches_the_script_byte_for_byte_through_the_ssh_quoting(value: str) -> None:
    """Defence in depth behind the patterns: ``quoted_command`` (what the SSH runner sends) run by bash and dash,
    with the script replaced by one that prints the variable; NUL is refused before (``check_env``)."""
    script = shlex.quote(host_scripts.load("preflight.sh"))
    command = host_scripts.quoted_command("preflight.sh", {"DB_NAME": value, "APP_DIR": "/x"}).replace(
        f"bash -c {script}", "bash -c 'printf %s \"$DB_NAME\"'"
    )
    for shell in SHELLS:
        out = subprocess.run([*shell, command], capture_output=True, check=True, timeout=10).stdout
        assert out == value.encode(), shell


def test_a_nul_byte_never_reaches_a_command_line() -> None:
    with pytest.raises(InvalidInput, match="NUL"):
        host_scripts.shell_command("preflight.sh", {"DB_NAME": "a\x00b"})


def test_the_host_paths_agree_with_the_configuration_on_the_edges() -> None:
    """Found by these fuzzers: DOCKER_BIN refused ``/``, which the configuration takes (every host command of such a
    target failed at its first step, after the lock), and APP_DIR, JOB_DIR, STATE_DIR and DOCKER_BIN took ``..``
    segments, which the configuration refuses. Both ways agree now."""
    for path in ("/", "//", "/.", "/a/...", "/..a", "/opt/freshtrack-pro/", "/usr/bin/docker"):
        target = parse_target({"id": "demo", "transport": "local", "domain": "x.example", "docker_bin": path})
        assert_ssm_takes(HostCommand("preflight.sh", host_env(target)))
    for path in ("/..", "/opt/..", "/opt/../etc", "/../", "//..//"):
        with pytest.raises(ValidationError, match=r"must not contain '\.\.'"):
            parse_target({"id": "demo", "transport": "local", "domain": "x.example", "app_dir": path})
        for name in sorted(PATHS):
            assert not agent_accepts(name, path), (name, path)


def test_a_service_list_longer_than_the_services_parameter_is_refused_by_the_configuration() -> None:
    """Found by the target fuzzer: compose_services of 20 long names (more than SERVICES' 1023 characters) were
    accepted, and then the daily check, the service workflow, secret rotation and remediation refused every host
    command of that target. The configuration refuses such a list now, naming the field."""
    names = ["backend", "worker", "postgres", "redis", "caddy"] + [c * 63 for c in "abcdefghijkl"]
    target = parse_target({"id": "demo", "transport": "local", "domain": "x.example", "compose_services": names})
    assert_ssm_takes(collect_command(target, DailyHostEvent(host="demo")))
    names += [c * 63 for c in "mnopq"]
    with pytest.raises(ValidationError, match="compose_services: at most 1023 characters"):
        parse_target({"id": "demo", "transport": "local", "domain": "x.example", "compose_services": names})
