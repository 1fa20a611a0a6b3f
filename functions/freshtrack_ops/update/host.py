"""The update's host commands and how their output is read (scripts: update_preflight.sh, schema_fingerprint.sh,
app_checkout.sh, app_deploy.sh, app_verify.sh, app_down.sh)."""

from __future__ import annotations

import re

from freshtrack_ops.config import Target
from freshtrack_ops.errors import (
    AlreadyAtVersion,
    DeployFailed,
    DowngradeRefused,
    HostCommandFailed,
    InvalidInput,
    LocalChanges,
    NotFastForward,
    OpsError,
    UnexpectedVersion,
    UnknownVersion,
    VerificationFailed,
)
from freshtrack_ops.host_command import HostCommand, parse_key_values, tail
from freshtrack_ops.host_env import host_env
from freshtrack_ops.ports import CommandResult
from freshtrack_ops.update.models import (
    CheckoutEvent,
    CheckoutResult,
    SchemaFingerprint,
    UpdatePlan,
    UpdatePreflightReport,
    VerifyDeploymentEvent,
    VerifyDeploymentResult,
)

_GIT_TIMEOUT_S = 300.0
_SEMVER = re.compile(r"^v(\d+)\.(\d+)\.(\d+)(?:-\d+-g[0-9a-f]+)?$")
#: update_preflight.sh's exit codes that name what is wrong with the request or the host
_PREFLIGHT_EXITS: dict[int, type[OpsError]] = {
    64: InvalidInput,
    65: LocalChanges,
    66: UnknownVersion,
    67: NotFastForward,
}


def preflight_command(plan: UpdatePlan, target: Target) -> HostCommand:
    return HostCommand("update_preflight.sh", {"APP_DIR": target.app_dir, "TARGET_SPEC": plan.version}, _GIT_TIMEOUT_S)


def read_preflight(plan: UpdatePlan, target: Target, result: CommandResult) -> UpdatePreflightReport:
    """What runs and what the request names; refuses local changes, unknown versions, non-fast-forward
    branches, the running version (an image update keeps it), another commit than a rollback expects and
    (unless allowed) a downgrade — all before anything is touched."""
    if result.exit_code != 0:
        error = _PREFLIGHT_EXITS.get(result.exit_code, HostCommandFailed)
        raise error(f"{target.id}: update to {plan.version}: {tail(result.stderr)}")
    values = parse_key_values(result.stdout)
    try:
        current, target_version = values["current_version"], values["target_version"]
        report = UpdatePreflightReport(
            current_version=current,
            current_commit=values["current_commit"],
            target_version=target_version,
            target_commit=values["target_commit"],
            target_is_tag=values["target_is_tag"] == "true",
            free_disk_mb=int(values["free_disk_mb"]),
            downgrade=is_downgrade(current, target_version),
        )
    except (KeyError, ValueError) as exc:
        raise HostCommandFailed(f"{target.id}: update preflight output incomplete ({exc})") from exc
    if plan.expected_commit is not None and report.current_commit != plan.expected_commit:
        raise UnexpectedVersion(
            f"{target.id}: {report.current_version} ({report.current_commit[:12]}) runs, but the deployment history "
            f"says {plan.expected_commit[:12]} should: it was changed outside FreshTrack Ops, so a rollback "
            "chosen from that history would not undo what runs; go back with the update workflow instead"
        )
    if report.target_commit == report.current_commit and plan.kind != "images":
        raise AlreadyAtVersion(f"{target.id}: {report.target_version} ({report.target_commit[:12]}) already runs")
    if report.downgrade and not plan.allow_downgrade:
        raise DowngradeRefused(
            f"version: {report.target_version} is older than the running {report.current_version}; "
            "set allow_downgrade to go back (or use the rollback workflow)"
        )
    return report


def is_downgrade(current: str, target: str) -> bool:
    """Whether release ``target`` is older than ``current`` (both ``vX.Y.Z``, ``current`` possibly as
    ``git describe`` shows a commit after a tag); False when either is not a release version."""
    now, then = _SEMVER.match(current), _SEMVER.match(target)
    if now is None or then is None:
        return False
    return tuple(map(int, then.groups())) < tuple(map(int, now.groups()))


def schema_command(target: Target) -> HostCommand:
    env = host_env(target) | {"MIGRATIONS_TABLE": target.update.migrations_table}
    return HostCommand("schema_fingerprint.sh", env, _GIT_TIMEOUT_S)


def read_schema(target: Target, result: CommandResult) -> SchemaFingerprint:
    if result.exit_code != 0:
        raise HostCommandFailed(f"{target.id}: schema fingerprint failed: {tail(result.stderr)}")
    values = parse_key_values(result.stdout)
    try:
        return SchemaFingerprint(
            schema_sha256=values["schema_sha256"],
            migrations=int(values["migrations"]),
            last_migration=values.get("last_migration", ""),
        )
    except (KeyError, ValueError) as exc:
        raise HostCommandFailed(f"{target.id}: schema fingerprint output incomplete ({exc})") from exc


def checkout_command(event: CheckoutEvent, target: Target) -> HostCommand:
    env = {"APP_DIR": target.app_dir, "GIT_COMMIT": event.commit, "BRANCH": event.branch}
    return HostCommand("app_checkout.sh", env, _GIT_TIMEOUT_S)


def read_checkout(event: CheckoutEvent, target: Target, result: CommandResult) -> CheckoutResult:
    if result.exit_code == 65:
        raise LocalChanges(f"{target.id}: checkout of {event.commit[:12]}: {tail(result.stderr)}")
    values = parse_key_values(result.stdout)
    if result.exit_code != 0 or values.get("checked_out") != event.commit:
        raise HostCommandFailed(f"{target.id}: checkout of {event.commit[:12]} failed: {tail(result.stderr)}")
    return CheckoutResult(checked_out=event.commit)


def deploy_command(target: Target, *, reset: bool, pull_images: bool = False) -> HostCommand:
    env = {
        "APP_DIR": target.app_dir,
        "RESET": "1" if reset else "0",
        "PULL_IMAGES": "1" if pull_images else "0",
        "DOCKER_BIN": target.docker_bin,
    }
    return HostCommand("app_deploy.sh", env, float(target.update.deploy_timeout_s))


def check_deploy(target: Target, result: CommandResult) -> None:
    if result.exit_code != 0:
        output = tail(result.stderr or result.stdout)
        raise DeployFailed(f"{target.id}: scripts/deploy-automated.sh exited {result.exit_code}: {output}")


def verify_command(target: Target) -> HostCommand:
    return HostCommand("app_verify.sh", {"APP_DIR": target.app_dir, "DOMAIN": target.domain}, _GIT_TIMEOUT_S)


def read_verify(event: VerifyDeploymentEvent, target: Target, result: CommandResult) -> VerifyDeploymentResult:
    """Healthy, or "not yet" (try again), or, at the last attempt, VerificationFailed."""
    if result.exit_code == 0:
        return VerifyDeploymentResult(healthy=True, attempt=event.attempt)
    detail = tail(result.stderr or result.stdout)
    if event.attempt >= event.attempts:
        raise VerificationFailed(
            f"{target.id}: scripts/verify-deployment.sh {target.domain} still failed after {event.attempts} "
            f"attempts: {detail}"
        )
    return VerifyDeploymentResult(healthy=False, attempt=event.attempt + 1, detail=detail)


def down_command(target: Target) -> HostCommand:
    return HostCommand("app_down.sh", {"APP_DIR": target.app_dir, "DOCKER_BIN": target.docker_bin}, _GIT_TIMEOUT_S)


def check_down(target: Target, result: CommandResult) -> None:
    if result.exit_code != 0:
        raise HostCommandFailed(f"{target.id}: docker compose down failed: {tail(result.stderr)}")
