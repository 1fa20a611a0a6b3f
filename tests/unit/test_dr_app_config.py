"""The app configuration of a disaster recovery (dr/app_config.py, steps/dr.py): the capture payload and the
bootstrap payload, the secret's format, the archive's refusals, the transfer objects (every version deleted,
Object Lock's governance retention bypassed), and the named errors. Never a value in a message."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import tarfile
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from pydantic import ValidationError

from freshtrack_ops import runtime
from freshtrack_ops.adapters.presign import presign_client
from freshtrack_ops.adapters.transfer import TRANSFER_PREFIX, S3TransferObjects, TransferTooLarge
from freshtrack_ops.config import LocalTarget, SsmTarget
from freshtrack_ops.dr import app_config
from freshtrack_ops.dr.app_config import (
    ARCHIVE_MAX_B64,
    CAPTURE_MAGIC,
    AppConfig,
    BootstrapContext,
    BootstrapEvent,
    CaptureConfigEvent,
    TransferContext,
)
from freshtrack_ops.errors import (
    AppConfigNotFound,
    AppConfigRefused,
    AppConfigTooLarge,
    AppConfigUnavailable,
    HostCommandFailed,
    InvalidInput,
    LocalChanges,
    RevisionNotFound,
)
from freshtrack_ops.host_scripts.ssm_document import SSH_ONLY_SCRIPTS, document_name, document_scripts
from freshtrack_ops.ports import CommandResult
from freshtrack_ops.redact import redact
from freshtrack_ops.steps.registry import DR_BOOTSTRAP, DR_CAPTURE_CONFIG, STEPS

REGION = "us-east-1"
BUCKET = "dr-unit-bucket"
SECRET = "freshtrack-ops/demo/app-config"
#: what no message, result or context may ever hold
ENV_TEXT = b"DOMAIN=demo.example\nDB_PASSWORD=pw-Never-Shown-4242\n"
JWT_TEXT = b"jwt-Never-Shown-9191\n"
TOKEN_URL = "https://x-access-token:ghp_NeverShown@github.com/your-org/freshtrack-pro.git"
CAPTURED_AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
#: a capture writes the target's own dr.app_config_secret_name only
DR = {"launch_template": "lt-0123456789abcdef0", "instance_role_arn": "arn:aws:iam::123456789012:role/host",
      "hosted_zone_id": "Z0123456789ABCDEFGHIJ", "app_config_secret_name": SECRET,
      "private_key_secret_arn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:k-AbCdEf"}  # fmt: skip
TARGET = LocalTarget(id="demo", domain="demo.example", app_dir="/opt/freshtrack-pro", dr=DR)


# -- helpers ----------------------------------------------------------------------------------------------
def tgz(*members: tuple[str, bytes] | tarfile.TarInfo) -> bytes:
    """A gzip'd tar of (name, content) plain files and raw TarInfo entries (links, directories)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                tar.addfile(member)
                continue
            name, data = member
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o600
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


GOOD_ARCHIVE = tgz((".env.production", ENV_TEXT), ("secrets/jwt_secret.txt", JWT_TEXT))


def capture_text(archive: bytes = GOOD_ARCHIVE, version: str = "v1.2.0-3-gabc1234", url: str = TOKEN_URL) -> str:
    encoded = base64.b64encode(archive).decode()
    return f"{CAPTURE_MAGIC}\napp_version={version}\nrepository_url={url}\nfiles_tgz_b64={encoded}\n"


def config(archive: bytes = GOOD_ARCHIVE, url: str = TOKEN_URL) -> AppConfig:
    return app_config.parse_capture(capture_text(archive, url=url), host="demo", captured_at=CAPTURED_AT)


def assert_no_content(text: str) -> None:
    for secret in ("pw-Never-Shown-4242", "jwt-Never-Shown-9191", "ghp_NeverShown"):
        assert secret not in text
    assert base64.b64encode(GOOD_ARCHIVE).decode()[:40] not in text


def link(name: str, kind: bytes = tarfile.SYMTYPE, target: str = "/etc/passwd") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


def directory(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode = tarfile.DIRTYPE, 0o700
    return info


# -- the archive ------------------------------------------------------------------------------------------
def test_an_archive_of_the_manuals_layout_is_accepted_in_its_order() -> None:
    assert app_config.archive_files(GOOD_ARCHIVE) == (".env.production", "secrets/jwt_secret.txt")
    assert app_config.archive_files(tgz((".env.production", b""))) == (".env.production",)


@pytest.mark.parametrize(
    "members",
    [
        [(".env.production", ENV_TEXT), ("../evil", b"x")],
        [(".env.production", ENV_TEXT), ("secrets/../../evil", b"x")],
        [(".env.production", ENV_TEXT), ("/etc/cron.d/evil", b"x")],
        [(".env.production", ENV_TEXT), ("secrets/sub/x.txt", b"x")],
        [(".env.production", ENV_TEXT), ("secrets/..", b"x")],
        [(".env.production", ENV_TEXT), ("docker-compose.yml", b"x")],
        [(".env.production", ENV_TEXT), ("./.env.production", b"x")],
        [(".env.production", ENV_TEXT), ("secrets/a b.txt", b"x")],
        [(".env.production", ENV_TEXT), link("secrets/jwt_secret.txt")],
        [(".env.production", ENV_TEXT), link("secrets/hard.txt", tarfile.LNKTYPE, ".env.production")],
        [(".env.production", ENV_TEXT), directory("secrets")],
        [(".env.production", ENV_TEXT), (".env.production", b"again")],
        [("secrets/jwt_secret.txt", JWT_TEXT)],
    ],
)
def test_an_archive_with_anything_else_is_refused(members: list[Any]) -> None:
    with pytest.raises(AppConfigRefused) as refused:
        app_config.archive_files(tgz(*members))
    assert_no_content(str(refused.value))


def test_an_archive_that_is_not_a_gzipd_tar_or_expands_too_far_is_refused() -> None:
    with pytest.raises(AppConfigRefused, match="not a gzip'd tar"):
        app_config.archive_files(b"not an archive")
    bomb = tgz((".env.production", b"\0" * (1024 * 1024 + 1)))
    assert len(bomb) < 2048
    with pytest.raises(AppConfigRefused, match="1 MiB"):
        app_config.archive_files(bomb)


# -- the capture payload ----------------------------------------------------------------------------------
def test_a_capture_payload_is_read_into_the_configuration() -> None:
    found = config()
    assert found.files == (".env.production", "secrets/jwt_secret.txt")
    assert (found.app_version, found.repository_url, found.archive) == ("v1.2.0-3-gabc1234", TOKEN_URL, GOOD_ARCHIVE)
    assert_no_content(repr(found))  # the dataclass never shows the URL or the archive


@pytest.mark.parametrize(
    "text",
    [
        "",
        capture_text().replace(CAPTURE_MAGIC, "FRESHTRACK-APP-CONFIG 2"),
        capture_text().replace("app_version=", "version="),
        capture_text() + "extra=1\n",
        capture_text().replace("files_tgz_b64=", "files_tgz_b64=%%"),
        capture_text(version="v1.2.0 evil"),
        capture_text(url="https://h/x\x07"),
    ],
)
def test_a_malformed_capture_payload_is_refused_without_echoing_it(text: str) -> None:
    with pytest.raises(AppConfigRefused) as refused:
        app_config.parse_capture(text, host="demo", captured_at=CAPTURED_AT)
    assert_no_content(str(refused.value))


def test_a_capture_archive_over_the_limit_is_too_large() -> None:
    encoded = "A" * (ARCHIVE_MAX_B64 + 4)
    text = f"{CAPTURE_MAGIC}\napp_version=v1\nrepository_url=\nfiles_tgz_b64={encoded}\n"
    with pytest.raises(AppConfigTooLarge):
        app_config.parse_capture(text, host="demo", captured_at=CAPTURED_AT)


@pytest.mark.parametrize(
    ("exit_code", "error"),
    [
        (66, AppConfigNotFound),
        (67, AppConfigRefused),
        (69, AppConfigTooLarge),
        (64, InvalidInput),
        (2, HostCommandFailed),
    ],
)
def test_capture_exits_are_named(exit_code: int, error: type[Exception]) -> None:
    with pytest.raises(error, match=r"demo: capturing the app configuration failed: no \.env"):
        app_config.read_capture(TARGET, CommandResult(exit_code, capture_text(), "no .env.production"), CAPTURED_AT)


class FakeTransfers:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.deleted: list[str] = []
        self.urls: list[tuple[str, str, int]] = []

    def put(self, key: str, body: bytes) -> None:
        self.objects[key] = body

    def get(self, key: str, *, max_bytes: int) -> bytes:
        if len(self.objects[key]) > max_bytes:
            raise TransferTooLarge(key)
        return self.objects[key]

    def put_url(self, key: str, expires_s: int) -> str:
        self.urls.append(("PUT", key, expires_s))
        return f"https://b.s3.us-east-1.amazonaws.com/{key}?X-Amz-Signature=put"

    def get_url(self, key: str, expires_s: int) -> str:
        self.urls.append(("GET", key, expires_s))
        return f"https://b.s3.us-east-1.amazonaws.com/{key}?X-Amz-Signature=get"

    def delete(self, key: str) -> int:
        self.deleted.append(key)
        return 1 if self.objects.pop(key, None) is not None else 0


def receipt(body: bytes) -> str:
    return f"receipt sha256={hashlib.sha256(body).hexdigest()} bytes={len(body)}\n"


def test_a_transferred_capture_must_match_the_hosts_receipt() -> None:
    transfers, key = FakeTransfers(), app_config.transfer_key("dr-capture-config")
    body = capture_text().encode()
    transfers.put(key, body)
    found = app_config.read_transferred_capture(
        TARGET, CommandResult(0, receipt(body), ""), transfers, key, CAPTURED_AT
    )
    assert found.archive == GOOD_ARCHIVE
    swapped = capture_text(url="https://evil.example/x.git").encode()
    transfers.put(key, swapped)  # someone else used the PUT URL: not what the host uploaded
    with pytest.raises(AppConfigRefused, match="does not match the host's receipt"):
        app_config.read_transferred_capture(TARGET, CommandResult(0, receipt(body), ""), transfers, key, CAPTURED_AT)
    with pytest.raises(HostCommandFailed, match="no receipt"):
        app_config.read_transferred_capture(TARGET, CommandResult(0, "", ""), transfers, key, CAPTURED_AT)
    transfers.put(key, b"x" * (app_config.TRANSFER_MAX_BYTES + 1))
    with pytest.raises(AppConfigTooLarge, match="uploaded configuration is over"):
        app_config.read_transferred_capture(TARGET, CommandResult(0, receipt(body), ""), transfers, key, CAPTURED_AT)


def test_a_receipt_without_its_upload_is_refused(aws: dict[str, Any]) -> None:
    transfers = S3TransferObjects(presign_client(REGION), aws["s3"], BUCKET)
    key = app_config.transfer_key("dr-capture-config")
    with pytest.raises(AppConfigRefused, match="its upload is not there"):
        app_config.read_transferred_capture(TARGET, CommandResult(0, receipt(b"x"), ""), transfers, key, CAPTURED_AT)


def test_transfer_keys_are_unguessable_and_under_the_prefix() -> None:
    first, second = app_config.transfer_key("dr-bootstrap"), app_config.transfer_key("dr-bootstrap")
    assert first != second
    assert re.fullmatch(rf"{TRANSFER_PREFIX}[0-9a-f]{{32}}/dr-bootstrap", first)


# -- the secret -------------------------------------------------------------------------------------------
@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        secrets = boto3.client("secretsmanager", region_name=REGION)
        secrets.create_secret(Name=SECRET, Description="app config")
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        s3.put_object_lock_configuration(
            Bucket=BUCKET,
            ObjectLockConfiguration={
                "ObjectLockEnabled": "Enabled",
                "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}},
            },
        )
        yield {"secrets": secrets, "s3": s3}


def test_the_secret_is_format_1_and_reads_back(aws: dict[str, Any]) -> None:
    secrets = aws["secrets"]
    version = app_config.write_secret(secrets, SECRET, config())
    value = json.loads(secrets.get_secret_value(SecretId=SECRET)["SecretString"])
    assert value == {
        "format": 1,
        "host": "demo",
        "captured_at": "2026-01-02T03:04:05Z",
        "app_version": "v1.2.0-3-gabc1234",
        "repository_url": TOKEN_URL,
        "files_tgz_b64": base64.b64encode(GOOD_ARCHIVE).decode(),
    }
    assert secrets.describe_secret(SecretId=SECRET)["VersionIdsToStages"][version] == ["AWSCURRENT"]
    back = app_config.read_secret(secrets, SECRET)
    assert (back.files, back.archive, back.repository_url, back.captured_at) == (
        config().files,
        GOOD_ARCHIVE,
        TOKEN_URL,
        CAPTURED_AT,
    )


def test_a_secret_missing_or_without_a_value_is_unavailable(aws: dict[str, Any]) -> None:
    with pytest.raises(AppConfigUnavailable, match="capture the configuration first"):
        app_config.read_secret(aws["secrets"], SECRET)  # created without a value
    with pytest.raises(AppConfigUnavailable, match="has no value"):
        app_config.read_secret(aws["secrets"], "freshtrack-ops/none")
    with pytest.raises(AppConfigUnavailable, match="does not exist"):
        app_config.write_secret(aws["secrets"], "freshtrack-ops/none", config())


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("   ", AppConfigUnavailable),
        ("[1, 2]", AppConfigUnavailable),
        ("not json pw-Never-Shown-4242", AppConfigUnavailable),
        (json.dumps({"format": 2}), AppConfigUnavailable),
        (json.dumps({"format": 1, "host": "demo"}), AppConfigUnavailable),
        ("bad-time", AppConfigUnavailable),
        ("bad-base64", AppConfigUnavailable),
        ("traversal", AppConfigRefused),
    ],
)
def test_a_malformed_or_tampered_secret_is_named_without_its_value(
    aws: dict[str, Any], value: str, error: type[Exception]
) -> None:
    good = json.loads(config().secret_string())
    if value == "bad-time":
        value = json.dumps(good | {"captured_at": "yesterday"})
    elif value == "bad-base64":
        value = json.dumps(good | {"files_tgz_b64": "%%pw-Never-Shown-4242"})
    elif value == "traversal":
        evil = tgz((".env.production", ENV_TEXT), ("../../etc/cron.d/x", b"* * * * * root sh\n"))
        value = json.dumps(good | {"files_tgz_b64": base64.b64encode(evil).decode()})
    aws["secrets"].put_secret_value(SecretId=SECRET, SecretString=value)
    with pytest.raises(error) as raised:
        app_config.read_secret(aws["secrets"], SECRET)
    assert_no_content(str(raised.value))


def test_a_configuration_too_large_for_a_secret_is_refused_and_nothing_is_written(aws: dict[str, Any]) -> None:
    secrets = aws["secrets"]
    first = app_config.write_secret(secrets, SECRET, config())
    big = AppConfig(
        host="demo",
        captured_at=CAPTURED_AT,
        app_version="v1",
        files=(".env.production",),
        repository_url=TOKEN_URL,
        archive=b"\1" * 50_000,
    )
    with pytest.raises(AppConfigTooLarge):
        app_config.write_secret(secrets, SECRET, big)
    assert secrets.describe_secret(SecretId=SECRET)["VersionIdsToStages"][first] == ["AWSCURRENT"]


# -- the bootstrap ----------------------------------------------------------------------------------------
def test_the_bootstrap_payload_carries_the_url_and_the_archive_and_needs_a_url() -> None:
    payload = app_config.bootstrap_payload(config()).decode()
    assert payload.splitlines() == [
        "FRESHTRACK-DR-BOOTSTRAP 1",
        f"repository_url={TOKEN_URL}",
        f"files_tgz_b64={base64.b64encode(GOOD_ARCHIVE).decode()}",
    ]
    with pytest.raises(AppConfigUnavailable, match="no repository URL"):
        app_config.bootstrap_payload(config(url=""))


@pytest.mark.parametrize("revision", ["v1.2.0", "v1.2.0-3-gabc1234", "abc1234", "v9.0.0-rc1", "v9.0.0-rc1-2-g1234567"])
def test_a_revision_is_git_describe_output(revision: str) -> None:
    assert BootstrapEvent(host="spare", secret_name=SECRET, revision=revision).revision == revision


@pytest.mark.parametrize("revision", ["main", "HEAD~1", "v1.2.0..main", "-v1", "v1.2.0^{commit}", "main@{1}", "a b"])
def test_anything_else_is_not_a_revision(revision: str) -> None:
    with pytest.raises(ValidationError, match="revision"):
        BootstrapEvent(host="spare", secret_name=SECRET, revision=revision)
    with pytest.raises(ValidationError, match="secret_name"):
        CaptureConfigEvent(host="demo", secret_name="bad name")


BOOTSTRAP_CONTEXT = BootstrapContext(
    config_files=(".env.production", "secrets/jwt_secret.txt"), config_captured_at=CAPTURED_AT
)
BOOTSTRAP_EVENT = BootstrapEvent(host="spare", secret_name=SECRET, revision="v1.2.0")
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def test_a_bootstrap_reports_what_it_checked_out_and_wrote() -> None:
    out = f"checked_out={COMMIT}\nversion=v1.2.0\nconfig_files=.env.production,secrets/jwt_secret.txt\n"
    result = app_config.read_bootstrap(BOOTSTRAP_EVENT, TARGET, BOOTSTRAP_CONTEXT, CommandResult(0, out, ""))
    assert result.model_dump(mode="json") == {
        "checked_out": COMMIT,
        "version": "v1.2.0",
        "config_files": [".env.production", "secrets/jwt_secret.txt"],
        "config_captured_at": "2026-01-02T03:04:05Z",
    }
    fewer = out.replace(",secrets/jwt_secret.txt", "")
    with pytest.raises(HostCommandFailed, match=r"wrote \.env\.production, the configuration has"):
        app_config.read_bootstrap(BOOTSTRAP_EVENT, TARGET, BOOTSTRAP_CONTEXT, CommandResult(0, fewer, ""))


@pytest.mark.parametrize(
    ("exit_code", "error"),
    [(66, RevisionNotFound), (65, LocalChanges), (67, AppConfigRefused), (64, InvalidInput), (68, HostCommandFailed)],
)
def test_bootstrap_exits_are_named(exit_code: int, error: type[Exception]) -> None:
    with pytest.raises(error, match=r"^demo: bootstrap at v1\.2\.0 failed"):
        app_config.read_bootstrap(BOOTSTRAP_EVENT, TARGET, BOOTSTRAP_CONTEXT, CommandResult(exit_code, "", "why"))


# -- transfer objects in a versioned bucket with Object Lock ------------------------------------------------
def test_every_version_of_a_transfer_object_is_deleted_despite_governance_retention(aws: dict[str, Any]) -> None:
    s3 = aws["s3"]
    transfers = S3TransferObjects(presign_client(REGION), s3, BUCKET)
    key = app_config.transfer_key("dr-bootstrap")
    transfers.put(key, b"first")
    transfers.put(key, b"second")
    s3.delete_object(Bucket=BUCKET, Key=key)  # a plain delete: only a delete marker, both versions kept
    versions = s3.list_object_versions(Bucket=BUCKET, Prefix=key)
    assert len(versions["Versions"]) == 2 and len(versions["DeleteMarkers"]) == 1
    retained = versions["Versions"][0]["VersionId"]
    with pytest.raises(ClientError, match="AccessDenied"):  # what a delete without the bypass gets
        s3.delete_object(Bucket=BUCKET, Key=key, VersionId=retained)
    assert transfers.delete(key) == 3
    after = s3.list_object_versions(Bucket=BUCKET, Prefix=TRANSFER_PREFIX)
    assert after.get("Versions", []) == [] and after.get("DeleteMarkers", []) == []
    assert transfers.delete(key) == 0


def test_transfer_objects_are_bounded_and_confined_to_their_prefix(aws: dict[str, Any]) -> None:
    transfers = S3TransferObjects(presign_client(REGION), aws["s3"], BUCKET)
    key = app_config.transfer_key("dr-capture-config")
    transfers.put(key, b"x" * 100)
    with pytest.raises(TransferTooLarge):
        transfers.get(key, max_bytes=99)
    assert transfers.get(key, max_bytes=100) == b"x" * 100
    assert "X-Amz-Signature=" in transfers.put_url(key, 60) and "X-Amz-Signature=" in transfers.get_url(key, 60)
    for bad in ("backups/x", "dr-transfer/../backups/x"):
        with pytest.raises(ValueError, match="not a transfer object"):
            transfers.delete(bad)


# -- the steps, with fakes ----------------------------------------------------------------------------------
class ScriptedRunner:
    def __init__(self, result: CommandResult) -> None:
        self.result = result
        self.calls: list[tuple[str, dict[str, str], bytes]] = []

    def run(self, script: str, env: Any, *, timeout_s: float, stdin: Any = None) -> CommandResult:
        self.calls.append((script, dict(env), b"".join(stdin or [])))
        return self.result

    def stream(self, script: str, env: Any, *, timeout_s: float) -> Any:
        raise AssertionError("the config steps never stream")

    def close(self) -> None:
        return None


@pytest.fixture
def wired(aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> FakeTransfers:
    transfers = FakeTransfers()
    monkeypatch.setattr(runtime, "transfer_objects", lambda: transfers)
    monkeypatch.setattr(runtime, "client", lambda service: aws[{"secretsmanager": "secrets"}[service]])
    monkeypatch.setattr(
        runtime,
        "settings",
        lambda: runtime.Settings(
            backup_bucket=BUCKET, ops_table="table", targets_parameter="/t", presign_validity_s=300
        ),
    )
    return transfers


def test_the_steps_are_registered_under_their_names() -> None:
    assert STEPS["dr-capture-config"] is DR_CAPTURE_CONFIG and STEPS["dr-bootstrap"] is DR_BOOTSTRAP


def test_capture_over_ssh_reads_stdout_and_writes_the_secret(wired: FakeTransfers, aws: dict[str, Any]) -> None:
    event = CaptureConfigEvent(host="demo", secret_name=SECRET)
    runner = ScriptedRunner(CommandResult(0, capture_text(), ""))
    result = DR_CAPTURE_CONFIG.run(event, TARGET, runner)
    assert runner.calls == [("dr_capture_config.sh", {"APP_DIR": "/opt/freshtrack-pro"}, b"")]
    assert result.files == (".env.production", "secrets/jwt_secret.txt") and result.repository
    assert_no_content(result.model_dump_json())
    assert app_config.read_secret(aws["secrets"], SECRET).archive == GOOD_ARCHIVE
    assert wired.urls == []  # no transfer object over SSH


def test_capture_over_ssm_uploads_then_the_object_is_read_and_deleted(wired: FakeTransfers) -> None:
    event = CaptureConfigEvent(host="demo-ssm", secret_name=SECRET)
    target = SsmTarget(id="demo-ssm", instance_id="mi-0123456789abcdef0", domain="demo.example", dr=DR)
    command, context = DR_CAPTURE_CONFIG.prepare(event, target)
    assert command.script == "ssm_dr_capture_config.sh" and set(command.env) == {"APP_DIR", "UPLOAD_URL"}
    assert wired.urls == [("PUT", context.transfer_key, 300)]
    assert context.transfer_key is not None
    body = capture_text().encode()
    wired.put(context.transfer_key, body)  # what the host's PUT did
    result = DR_CAPTURE_CONFIG.finish(event, target, context, CommandResult(0, receipt(body), ""))
    assert result.app_version == "v1.2.0-3-gabc1234"
    assert wired.objects == {} and wired.deleted == [context.transfer_key]


def test_a_failed_ssm_capture_still_deletes_its_object_and_writes_no_secret(
    wired: FakeTransfers, aws: dict[str, Any]
) -> None:
    event = CaptureConfigEvent(host="demo-ssm", secret_name=SECRET)
    target = SsmTarget(id="demo-ssm", instance_id="mi-0123456789abcdef0", domain="demo.example", dr=DR)
    _command, context = DR_CAPTURE_CONFIG.prepare(event, target)
    assert context.transfer_key is not None
    wired.put(context.transfer_key, b"partial")
    with pytest.raises(AppConfigNotFound):
        DR_CAPTURE_CONFIG.finish(event, target, context, CommandResult(66, "", "no .env.production"))
    assert wired.objects == {}
    DR_CAPTURE_CONFIG.abandon(event, target, context)  # again, harmless
    assert wired.deleted == [context.transfer_key] * 2
    with pytest.raises(AppConfigUnavailable):
        app_config.read_secret(aws["secrets"], SECRET)


def test_bootstrap_over_ssh_feeds_stdin_and_over_ssm_a_transfer_object(
    wired: FakeTransfers, aws: dict[str, Any]
) -> None:
    app_config.write_secret(aws["secrets"], SECRET, config())
    out = f"checked_out={COMMIT}\nversion=v1.2.0\nconfig_files=.env.production,secrets/jwt_secret.txt\n"
    runner = ScriptedRunner(CommandResult(0, out, ""))
    result = DR_BOOTSTRAP.run(BOOTSTRAP_EVENT, TARGET, runner)
    ((script, env, stdin),) = runner.calls
    assert (script, env["GIT_REVISION"], env["PAYLOAD_URL"]) == ("dr_bootstrap.sh", "v1.2.0", "")
    assert stdin == app_config.bootstrap_payload(config())
    assert result.checked_out == COMMIT and result.config_captured_at == CAPTURED_AT

    target = SsmTarget(id="spare-ssm", instance_id="mi-0123456789abcdef0", domain="demo.example")
    command, context = DR_BOOTSTRAP.prepare(BOOTSTRAP_EVENT, target)
    assert context.transfer_key is not None
    assert wired.objects == {context.transfer_key: app_config.bootstrap_payload(config())}
    assert command.env["PAYLOAD_URL"].startswith("https://") and wired.urls == [("GET", context.transfer_key, 300)]
    assert_no_content(json.dumps(command.env) + context.model_dump_json())
    with pytest.raises(RevisionNotFound):
        DR_BOOTSTRAP.finish(BOOTSTRAP_EVENT, target, context, CommandResult(66, "", "unknown revision"))
    assert wired.objects == {}


def test_a_bootstrap_without_a_usable_secret_runs_nothing(wired: FakeTransfers) -> None:
    runner = ScriptedRunner(CommandResult(0, "", ""))
    with pytest.raises(AppConfigUnavailable):
        DR_BOOTSTRAP.run(BOOTSTRAP_EVENT, TARGET, runner)
    assert runner.calls == [] and wired.objects == {}


# -- what never leaves: SSM documents, messages ---------------------------------------------------------------
def test_the_capture_that_prints_secrets_has_no_ssm_document() -> None:
    assert "dr_capture_config.sh" in SSH_ONLY_SCRIPTS
    assert "dr_capture_config.sh" not in document_scripts()
    assert {"ssm_dr_capture_config.sh", "dr_bootstrap.sh"} <= set(document_scripts())
    with pytest.raises(ValueError, match="SSH only"):
        document_name("dr_capture_config.sh")


def test_a_urls_user_information_is_redacted() -> None:
    text = f"fatal: unable to access '{TOKEN_URL}/': 403"
    assert redact(text) == "fatal: unable to access 'https://<redacted>@github.com/your-org/freshtrack-pro.git/': 403"


def test_step_contexts_never_hold_content() -> None:
    assert set(TransferContext.model_fields) == {"transfer_key"}
    assert set(BootstrapContext.model_fields) == {"transfer_key", "config_files", "config_captured_at"}


def test_a_capture_writes_only_the_targets_own_secret() -> None:
    from freshtrack_ops.dr.app_config import capture_secret
    from freshtrack_ops.errors import InvalidInput

    assert capture_secret(CaptureConfigEvent(host="demo"), TARGET) == SECRET
    with pytest.raises(InvalidInput, match=r"^secret_name: target 'demo' keeps its app config in"):
        capture_secret(CaptureConfigEvent(host="demo", secret_name="freshtrack/other/app-config"), TARGET)
    with pytest.raises(InvalidInput, match=r"^host: target 'bare' has no dr section"):
        capture_secret(CaptureConfigEvent(host="bare"), LocalTarget(id="bare", domain="demo.example"))
