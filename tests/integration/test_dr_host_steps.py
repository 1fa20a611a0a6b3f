"""The disaster recovery's config steps on real hosts: dr-capture-config on a normal local host, dr-bootstrap onto an
empty app directory (a new server) or a previous checkout (a standby), over SSH and over SSM (the local plane's agent
stand-in), through the real handlers, their IAM roles and S3 Object Lock. And the transport rule: the configuration's
content never appears in a step result, the execution history, a log line, an SSM command's parameters or output,
or S3 afterwards (the transfer objects are gone, every version).

The first part runs the host scripts alone (the local transport) against a real git origin; the second runs the
steps as a workflow does (``lambda:invoke.waitForTaskToken``), in the plane's disaster-recovery state machine, whose
definition this module replaces with the two tasks (the workflow itself is written elsewhere)."""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import shutil
import stat
import subprocess
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from freshtrack_ops.adapters.local import LocalRunner
from freshtrack_ops.adapters.transfer import TRANSFER_PREFIX
from freshtrack_ops.dr import app_config
from freshtrack_ops.host_scripts.parameters import HOST_EXCHANGE_PREFIX
from freshtrack_ops.host_scripts.ssm_document import STEP_NAME
from freshtrack_ops.ports import CommandResult
from opsctl.local import app_repo
from opsctl.local.plane import Execution, LocalPlane
from opsctl.local.sshd import available as sshd_available
from tests.integration.conftest import host_task_state

pytestmark = pytest.mark.integration

RUNNER = LocalRunner("dr-tests")
SECRET = "freshtrack-ops/local/demo/app-config"
CONFIG_FILES = (".env.production", "secrets/jwt_secret.txt", "secrets/postgres_password.txt")
MARKER = "DR_TEST_MARKER=never-shown-5f1c2e"


# -- the host scripts alone ---------------------------------------------------------------------------------
@dataclass
class Repo:
    root: Path  # <root>/opt/freshtrack-pro (the primary's app dir) and <root>/upstream/freshtrack-pro.git
    app: Path
    upstream: Path
    blank: Path  # a new server's empty app directory


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    root = tmp_path / "primary"
    app = app_repo.create_app_repo(root)
    with (app / ".env.production").open("a", encoding="utf-8") as env:
        env.write(MARKER + "\n")
    blank = tmp_path / "replacement" / "opt" / "freshtrack-pro"
    blank.mkdir(parents=True)
    return Repo(root, app, root / "upstream" / "freshtrack-pro.git", blank)


def capture(app: Path) -> CommandResult:
    return RUNNER.run("dr_capture_config.sh", {"APP_DIR": str(app)}, timeout_s=60)


def bootstrap(app: Path, revision: str, payload: bytes) -> CommandResult:
    env = {"APP_DIR": str(app), "GIT_REVISION": revision, "PAYLOAD_URL": ""}
    return RUNNER.run("dr_bootstrap.sh", env, timeout_s=120, stdin=[payload])


def captured(app: Path) -> app_config.AppConfig:
    result = capture(app)
    assert result.exit_code == 0, result.stderr
    return app_config.parse_capture(result.stdout, host="primary", captured_at=app_config.now())


def git(app: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(app), *args], capture_output=True, text=True, check=True).stdout.strip()


def tree(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def assert_config_written(app: Path, primary: Path) -> None:
    """The replacement's .env.production and secrets/ equal the primary's, files 600 and secrets/ 700, nothing more."""
    for name in CONFIG_FILES:
        written = app / name
        assert written.read_bytes() == (primary / name).read_bytes(), name
        assert stat.S_IMODE(written.stat().st_mode) == 0o600, name
        assert written.is_file() and not written.is_symlink()
    assert stat.S_IMODE((app / "secrets").stat().st_mode) == 0o700
    assert sorted(p.name for p in (app / "secrets").iterdir()) == ["jwt_secret.txt", "postgres_password.txt"]


def test_capture_prints_the_manuals_config_files_and_the_origin(repo: Repo) -> None:
    config = captured(repo.app)
    assert config.files == CONFIG_FILES
    assert (config.app_version, config.repository_url) == ("v1.2.0", str(repo.upstream))
    with tarfile.open(fileobj=io.BytesIO(config.archive), mode="r:gz") as tar:
        for member in tar.getmembers():
            assert (member.mode, member.uid, member.gid, member.isreg()) == (0o600, 0, 0, True)
            extracted = tar.extractfile(member)
            assert extracted is not None and extracted.read() == (repo.app / member.name).read_bytes()


def test_capture_refuses_what_is_not_the_manuals_layout(repo: Repo) -> None:
    (repo.app / "secrets" / "link.txt").symlink_to("/etc/hostname")
    refused = capture(repo.app)
    assert refused.exit_code == 67 and refused.stdout == "" and "link.txt" in refused.stderr
    (repo.app / "secrets" / "link.txt").unlink()
    (repo.app / "secrets" / "sub").mkdir()
    assert capture(repo.app).exit_code == 67
    (repo.app / "secrets" / "sub").rmdir()
    (repo.app / "secrets" / "huge.bin").write_bytes(os.urandom(60_000))  # does not compress: over 48 KiB of base64
    too_large = capture(repo.app)
    assert too_large.exit_code == 69 and too_large.stdout == ""
    (repo.app / "secrets" / "huge.bin").unlink()
    secret_text = (repo.app / ".env.production").read_text()
    (repo.app / ".env.production").unlink()
    missing = capture(repo.app)
    assert missing.exit_code == 66 and missing.stdout == "" and "no .env.production" in missing.stderr
    assert MARKER not in missing.stderr + too_large.stderr + refused.stderr and secret_text


def test_bootstrap_onto_an_empty_directory_at_a_describe_revision(repo: Repo) -> None:
    """A commit after the newest tag: the manifest records ``v1.2.0-1-g<hash>``, and that commit is checked out."""
    commit = app_repo.publish_branch(repo.root, "main", message="after v1.2.0")
    revision = git(repo.upstream, "describe", "--tags", "--always", commit)
    assert revision.startswith("v1.2.0-1-g")
    result = bootstrap(repo.blank, revision, app_config.bootstrap_payload(captured(repo.app)))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"checked_out={commit}",
        f"version={revision}",
        "config_files=" + ",".join(CONFIG_FILES),
    ]
    assert git(repo.blank, "rev-parse", "HEAD") == commit
    assert git(repo.blank, "rev-parse", "--abbrev-ref", "HEAD") == "main"
    assert git(repo.blank, "rev-parse", "--abbrev-ref", "main@{upstream}") == "origin/main"
    assert git(repo.blank, "remote", "get-url", "origin") == str(repo.upstream)
    assert_config_written(repo.blank, repo.app)
    assert git(repo.blank, "status", "--porcelain", "--untracked-files=all") == ""  # an update will not refuse
    assert {"/.env.production", "/secrets/"} <= set((repo.blank / ".git" / "info" / "exclude").read_text().split())
    assert not list((repo.blank / ".git").glob("ftops-config.*"))  # the staging directory is gone


def test_bootstrap_at_a_tag_or_an_abbreviated_commit(repo: Repo) -> None:
    payload = app_config.bootstrap_payload(captured(repo.app))
    older = git(repo.upstream, "rev-parse", "v1.1.0^{commit}")
    at_tag = bootstrap(repo.blank, "v1.1.0", payload)
    assert at_tag.exit_code == 0, at_tag.stderr
    assert git(repo.blank, "rev-parse", "HEAD") == older
    # again onto the same directory (a retried step): a clean work tree, checked out anew
    newer = git(repo.upstream, "rev-parse", "v1.2.0^{commit}")
    by_hash = bootstrap(repo.blank, newer[:10], payload)
    assert by_hash.exit_code == 0, by_hash.stderr
    assert git(repo.blank, "rev-parse", "HEAD") == newer and "version=v1.2.0" in by_hash.stdout


def test_an_unknown_revision_leaves_a_new_server_as_found(repo: Repo) -> None:
    result = bootstrap(repo.blank, "v7.7.7", app_config.bootstrap_payload(captured(repo.app)))
    assert result.exit_code == 66 and "unknown revision" in result.stderr and result.stdout == ""
    assert tree(repo.blank) == []  # no .git, no .env.production, no secrets/


def tampered(*members: tuple[str, bytes] | tarfile.TarInfo, url: str = "") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                tar.addfile(member)
                continue
            info = tarfile.TarInfo(member[0])
            info.size, info.mode = len(member[1]), 0o600
            tar.addfile(info, io.BytesIO(member[1]))
    encoded = base64.b64encode(buffer.getvalue()).decode()
    return f"{app_config.BOOTSTRAP_MAGIC}\nrepository_url={url}\nfiles_tgz_b64={encoded}\n".encode()


def symlink_member(name: str, target: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.SYMTYPE, target
    return info


@pytest.mark.parametrize(
    "case", ["dotdot", "secrets-dotdot", "absolute", "symlink", "other-file", "no-env", "not-a-payload"]
)
def test_a_tampered_payload_is_refused_before_anything_is_written(repo: Repo, tmp_path: Path, case: str) -> None:
    escape = tmp_path / "replacement" / "escaped.txt"
    env = (".env.production", b"X=1\n")
    members: dict[str, list[tuple[str, bytes] | tarfile.TarInfo]] = {
        "dotdot": [env, ("../escaped.txt", b"pwned\n")],
        "secrets-dotdot": [env, ("secrets/../../escaped.txt", b"pwned\n")],
        "absolute": [env, (str(escape), b"pwned\n")],
        "symlink": [env, symlink_member("secrets/jwt_secret.txt", str(escape))],
        "other-file": [env, ("scripts/deploy-automated.sh", b"#!/bin/sh\n")],
        "no-env": [("secrets/jwt_secret.txt", b"x\n")],
        "not-a-payload": [],
    }
    payload = tampered(*members[case], url=str(repo.upstream)) if members[case] else b"hello\n"
    result = bootstrap(repo.blank, "v1.2.0", payload)
    assert result.exit_code == 67, (result.stdout, result.stderr)
    assert "refusing the payload" in result.stderr and result.stdout == ""
    assert tree(repo.blank) == [] and not escape.exists()


def test_a_standby_with_a_previous_checkout_is_moved_exactly(repo: Repo, tmp_path: Path) -> None:
    standby = tmp_path / "standby" / "freshtrack-pro"
    subprocess.run(["git", "clone", "-q", str(repo.upstream), str(standby)], check=True)
    git(standby, "switch", "-q", "--detach", "v1.1.0")
    (standby / ".env.production").write_text("OLD=1\n")
    (standby / "secrets").mkdir()
    (standby / "secrets" / "stale.txt").write_text("stale\n")
    (standby / ".local-plane.env").write_text("DOCKER=/x\n")  # ignored by the app's .gitignore: kept
    git(standby, "remote", "set-url", "origin", str(tmp_path / "elsewhere.git"))
    payload = app_config.bootstrap_payload(captured(repo.app))

    (standby / "Caddyfile").write_text("edited on the standby\n")  # a local change: refused, nothing touched
    dirty = bootstrap(standby, "v1.2.0", payload)
    assert dirty.exit_code == 65 and "Caddyfile" in dirty.stderr
    assert (standby / ".env.production").read_text() == "OLD=1\n" and (standby / "secrets" / "stale.txt").exists()
    git(standby, "checkout", "--", "Caddyfile")

    result = bootstrap(standby, "v1.2.0", payload)
    assert result.exit_code == 0, result.stderr
    assert git(standby, "rev-parse", "HEAD") == git(repo.upstream, "rev-parse", "v1.2.0^{commit}")
    assert git(standby, "remote", "get-url", "origin") == str(repo.upstream)
    assert_config_written(standby, repo.app)  # secrets/stale.txt is gone: the directory was replaced
    assert (standby / ".local-plane.env").read_text() == "DOCKER=/x\n"
    assert git(standby, "status", "--porcelain", "--untracked-files=all") == ""


def test_the_repository_url_never_reaches_an_argv_of_ours(
    repo: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The URL may carry a token: every git command the script runs is logged by a shim first on PATH, and none
    names it (git's own remote helpers are git's business: docs/disaster-recovery.md)."""
    token_path = repo.root / "upstream" / "x-access-token-SEKRIT-freshtrack-pro.git"
    token_path.symlink_to(repo.upstream, target_is_directory=True)
    git(repo.app, "remote", "set-url", "origin", str(token_path))
    shim_dir, log = tmp_path / "shim", tmp_path / "argv.log"
    shim_dir.mkdir()
    real_git = shutil.which("git")
    assert real_git is not None
    (shim_dir / "git").write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >>{log}\nexec {real_git} "$@"\n')
    (shim_dir / "git").chmod(0o755)
    monkeypatch.setenv("PATH", f"{shim_dir}:{os.environ['PATH']}")
    config = captured(repo.app)
    assert config.repository_url == str(token_path)
    result = bootstrap(repo.blank, "v1.2.0", app_config.bootstrap_payload(config))
    assert result.exit_code == 0, result.stderr
    assert git(repo.blank, "remote", "get-url", "origin") == str(token_path)
    logged = log.read_text()
    assert "fetch --quiet --tags --prune origin" in logged and "remote get-url origin" in logged  # the shim saw them
    assert "SEKRIT" not in logged


# -- the steps, as the workflow runs them -------------------------------------------------------------------
#: the two tasks as the disaster-recovery workflow will call them (host, secret name, revision: no value)
DEFINITION = {
    "StartAt": "Which",
    "States": {
        "Which": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.step", "StringEquals": "capture", "Next": "CaptureConfig"}],
            "Default": "Bootstrap",
        },
        "CaptureConfig": host_task_state("DrCaptureConfig", {"host.$": "$.host", "secret_name.$": "$.secret_name"}),
        "Bootstrap": host_task_state(
            "DrBootstrap", {"host.$": "$.host", "secret_name.$": "$.secret_name", "revision.$": "$.revision"}
        ),
    },
}
#: primary and replacement per transport: "spare" is a second server (its SSM alias "spare-ssm")
HOSTS = {"ssh": ("demo", "spare"), "ssm": ("demo-ssm", "spare-ssm")}


@pytest.fixture(scope="module")
def plane() -> Iterator[LocalPlane]:
    if not sshd_available():
        pytest.fail("the integration tests need OpenSSH's sshd (make sysdeps installs it)")
    with pytest.MonkeyPatch.context() as mp:
        # botocore adds no checksum of its own: only the checksums our code sends count under Object Lock
        mp.setenv("AWS_REQUEST_CHECKSUM_CALCULATION", "when_required")
        with LocalPlane(
            hosts=("demo", "spare"),
            ssm_hosts=(),
            ssm_aliases={"demo-ssm": "demo", "spare-ssm": "spare"},
            readings=200,
            use_sshd=True,
            object_lock_days=1,
        ) as local_plane:
            local_plane.sfn.update_state_machine(
                stateMachineArn=local_plane.state_machine_arn("disaster-recovery"), definition=json.dumps(DEFINITION)
            )
            # the plane created the (empty) app-config secret of each target's dr section, as an operator does;
            # the SSM aliases and the spare are the demo's and the spare's own machines: here they share one
            assert plane_secret_name(local_plane) == SECRET
            for alias in ("demo-ssm", "spare", "spare-ssm"):
                dr = local_plane.target(alias).dr
                assert dr is not None
                local_plane.update_target(alias, dr=dr.model_dump() | {"app_config_secret_name": SECRET})
            local_plane.reload_task_policies()
            with (local_plane.host("demo").app_dir / ".env.production").open("a", encoding="utf-8") as env:
                env.write(MARKER + "\n")
            yield local_plane


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Every record of the functions' logger (DEBUG and up) and every other INFO record (botocore's DEBUG lines,
    off in Lambda, print request parameters verbatim: not ours to judge)."""
    ours = logging.getLogger("freshtrack-ops")
    level = ours.level
    ours.addHandler(caplog.handler)
    ours.setLevel(logging.DEBUG)
    caplog.set_level(logging.INFO)
    try:
        yield caplog
    finally:
        ours.removeHandler(caplog.handler)
        ours.setLevel(level)


def plane_secret_name(plane: LocalPlane) -> str:
    dr = plane.target("demo").dr
    assert dr is not None
    return dr.app_config_secret_name


def blank(plane: LocalPlane) -> Path:
    """The spare server's app directory emptied: a new server before its bootstrap."""
    app = plane.host("spare").app_dir
    shutil.rmtree(app)
    app.mkdir()
    return app


def run(plane: LocalPlane, step: str, host: str, **fields: str) -> Execution:
    execution = plane.run(
        "disaster-recovery", {"step": step, "host": host, "secret_name": SECRET, **fields}, timeout_s=180
    )
    plane.wait_ssm_idle()
    return execution


def secret_values(plane: LocalPlane) -> list[str]:
    """What must never be seen: the primary's secret files and the marker, the secret's archive."""
    app = plane.host("demo").app_dir
    values = [MARKER, *((app / name).read_text().strip() for name in CONFIG_FILES[1:])]
    stored = plane.client("secretsmanager").get_secret_value(SecretId=SECRET)["SecretString"]
    values.append(json.loads(stored)["files_tgz_b64"][:64])
    return values


def assert_nothing_leaked(plane: LocalPlane, executions: list[Execution], text: str) -> None:
    """No secret value in: the executions' outputs and histories, ``text`` (logs), any SSM command's parameters or
    output (the API and the ssm-output/ objects); and no transfer object left, not even a noncurrent version."""
    seen = [text]
    for execution in executions:
        seen.append(json.dumps(execution.output, default=str))
        seen.append(json.dumps(plane.history(execution.arn), default=str))
    ssm = plane.client("ssm")
    for command in ssm.list_commands()["Commands"]:
        seen.append(json.dumps(command, default=str))
        for instance in command.get("InstanceIds", []):
            # the run step by name: documents that fetch a host exchange object first have two steps
            invocation = ssm.get_command_invocation(
                CommandId=command["CommandId"], InstanceId=instance, PluginName=STEP_NAME
            )
            seen.append(json.dumps(invocation, default=str))
    for key in plane.object_keys("ssm-output/"):
        seen.append(plane.s3.get_object(Bucket=plane.bucket, Key=key)["Body"].read().decode(errors="replace"))
    everything = "\n".join(seen)
    for value in secret_values(plane):
        assert value not in everything
    versions = plane.s3.list_object_versions(Bucket=plane.bucket, Prefix=TRANSFER_PREFIX)
    assert versions.get("Versions", []) == [] and versions.get("DeleteMarkers", []) == []
    plane.wait_idle()
    assert plane.object_keys(HOST_EXCHANGE_PREFIX) == [], "every host exchange object is deleted when its command ends"


@pytest.mark.parametrize("transport", sorted(HOSTS))
def test_capture_then_bootstrap_a_new_server(
    plane: LocalPlane, transport: str, logs: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    primary, replacement = HOSTS[transport]
    demo = plane.host("demo")
    app = blank(plane)
    captured_run = run(plane, "capture", primary)
    assert captured_run.status == "SUCCEEDED", (captured_run.error, captured_run.cause)
    output = captured_run.output or {}
    assert output["files"] == list(CONFIG_FILES) and output["repository"] is True
    assert output["app_version"] == demo.app_version() and output["secret_version_id"]
    stored = json.loads(plane.client("secretsmanager").get_secret_value(SecretId=SECRET)["SecretString"])
    assert (stored["format"], stored["host"], stored["repository_url"]) == (
        1,
        primary,
        str(demo.root / "upstream" / "freshtrack-pro.git"),
    )

    # a commit after the tag: the manifest of a backup taken now would record v1.2.0-N-g<hash>
    commit = demo.publish_branch("main", message=f"after v1.2.0 ({transport})")
    revision = git(demo.root / "upstream" / "freshtrack-pro.git", "describe", "--tags", "--always", commit)
    booted = run(plane, "bootstrap", replacement, revision=revision)
    assert booted.status == "SUCCEEDED", (booted.error, booted.cause)
    assert booted.output == {
        "checked_out": commit,
        "version": revision,
        "config_files": list(CONFIG_FILES),
        "config_captured_at": output["captured_at"],
    }
    assert git(app, "rev-parse", "HEAD") == commit
    assert_config_written(app, demo.app_dir)
    assert git(app, "status", "--porcelain", "--untracked-files=all") == ""
    if transport == "ssm":  # both went through SSM documents, the content through transfer objects
        sent = {c["DocumentName"]: c["Parameters"] for c in plane.client("ssm").list_commands()["Commands"]}
        # the URLs went in host exchange objects (adapters/host_exchange.py): the parameters name the object only
        assert set(sent["Local-FreshTrackOps-ssm_dr_capture_config"]) == {"APP_DIR", "EXCHANGE_URL"}
        assert "PAYLOAD_URL" not in sent["Local-FreshTrackOps-dr_bootstrap"]
        exchange_url = sent["Local-FreshTrackOps-dr_bootstrap"]["EXCHANGE_URL"][0]
        assert "/ssm-exchange/hosts/" in exchange_url and "X-Amz-" not in exchange_url
        assert "Local-FreshTrackOps-dr_capture_config" not in sent
    out, err = capfd.readouterr()
    logged = "\n".join(record.getMessage() + json.dumps(record.__dict__, default=str) for record in logs.records)
    assert "app configuration captured" in logged and "replacement bootstrapped" in logged  # the logs were seen
    assert_nothing_leaked(plane, [captured_run, booted], logged + out + err)
    with pytest.raises(AssertionError):  # the scan does see a value where there is one
        assert_nothing_leaked(plane, [], f"a log line with {MARKER}")


def test_an_unknown_revision_fails_named_and_writes_nothing(plane: LocalPlane, logs: pytest.LogCaptureFixture) -> None:
    app = blank(plane)
    assert run(plane, "capture", "demo").status == "SUCCEEDED"
    for replacement in ("spare", "spare-ssm"):
        failed = run(plane, "bootstrap", replacement, revision="v7.7.7")
        assert (failed.status, failed.error) == ("FAILED", "RevisionNotFound"), failed.cause
        assert "v7.7.7" in (failed.cause or "")
        assert tree(app) == []
        assert_nothing_leaked(plane, [failed], "\n".join(r.getMessage() for r in logs.records))


def test_a_tampered_secret_is_refused_before_the_host_is_touched(plane: LocalPlane) -> None:
    app = blank(plane)
    assert run(plane, "capture", "demo").status == "SUCCEEDED"
    secrets = plane.client("secretsmanager")
    value = json.loads(secrets.get_secret_value(SecretId=SECRET)["SecretString"])
    evil = io.BytesIO()
    with tarfile.open(fileobj=evil, mode="w:gz") as tar:
        for name, data in ((".env.production", b"X=1\n"), ("../../escaped.txt", b"pwned\n")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    value["files_tgz_b64"] = base64.b64encode(evil.getvalue()).decode()
    secrets.put_secret_value(SecretId=SECRET, SecretString=json.dumps(value))
    try:
        for replacement in ("spare", "spare-ssm"):
            failed = run(plane, "bootstrap", replacement, revision="v1.2.0")
            assert (failed.status, failed.error) == ("FAILED", "AppConfigRefused"), failed.cause
            assert tree(app) == [] and not (app.parent.parent / "escaped.txt").exists()
    finally:
        assert run(plane, "capture", "demo").status == "SUCCEEDED"  # the next test's secret is the real one


def test_a_standby_over_its_previous_checkout(plane: LocalPlane) -> None:
    """The spare server as it is (its own clone at v1.2.0, its own config and origin): moved onto the primary's."""
    spare, demo = plane.host("spare"), plane.host("demo")
    shutil.rmtree(spare.app_dir)
    app_repo.create_app_repo(spare.root)  # a standby: a previous deployment of its own
    (spare.app_dir / "secrets" / "stale.txt").write_text("stale\n")
    assert run(plane, "capture", "demo-ssm").status == "SUCCEEDED"
    booted = run(plane, "bootstrap", "spare", revision="v1.1.0")
    assert booted.status == "SUCCEEDED", (booted.error, booted.cause)
    assert git(spare.app_dir, "rev-parse", "HEAD") == git(demo.app_dir, "rev-parse", "v1.1.0^{commit}")
    assert git(spare.app_dir, "remote", "get-url", "origin") == str(demo.root / "upstream" / "freshtrack-pro.git")
    assert_config_written(spare.app_dir, demo.app_dir)
    assert git(spare.app_dir, "status", "--porcelain", "--untracked-files=all") == ""


def test_a_capture_without_env_production_fails_named_and_keeps_the_secret(plane: LocalPlane) -> None:
    demo = plane.host("demo")
    secrets = plane.client("secretsmanager")
    assert run(plane, "capture", "demo").status == "SUCCEEDED"
    before = secrets.get_secret_value(SecretId=SECRET)["VersionId"]
    env = demo.app_dir / ".env.production"
    kept = env.read_bytes()
    env.unlink()
    try:
        for primary in ("demo", "demo-ssm"):
            failed = run(plane, "capture", primary)
            assert (failed.status, failed.error) == ("FAILED", "AppConfigNotFound"), failed.cause
            assert secrets.get_secret_value(SecretId=SECRET)["VersionId"] == before
            assert_nothing_leaked(plane, [failed], "")
    finally:
        env.write_bytes(kept)
        env.chmod(0o600)
