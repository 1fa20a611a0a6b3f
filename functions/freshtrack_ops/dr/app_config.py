"""The app's configuration in a disaster recovery: ``.env.production`` and ``secrets/`` captured from the primary
into a Secrets Manager secret (``dr-capture-config``), and written onto a replacement server with the app checked
out at the backup's version (``dr-bootstrap``). docs/disaster-recovery.md, "App configuration (capture-config and
bootstrap)".

The transport rule: the content never appears in a step's input or output, the execution history, a log line, an
argv, an SSM command parameter or an SSM command's output. Over SSH (and the local transport) it travels on the
command's stdout (capture) or stdin (bootstrap) through the command's channel, which nothing logs. SSM keeps every
command's output (GetCommandInvocation, the ssm-output/ prefix), so over SSM it goes through a transfer object under
``dr-transfer/`` (``adapters/transfer.py``): the host PUTs (capture) or GETs (bootstrap) it with a presigned URL
and prints only a receipt; ``finish`` (and ``abandon``) deletes every version of it. Step contexts, results and
error messages name files, versions and keys, never content.

The secret's value (``SecretString``, format 1)::

    {"format": 1, "host": "<primary>", "captured_at": "<ISO 8601 UTC>", "app_version": "<git describe>",
     "repository_url": "<origin URL>", "files_tgz_b64": "<gzip'd tar of .env.production and secrets/*>"}
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import re
import secrets
import tarfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, StringConstraints

from freshtrack_ops.adapters.transfer import TRANSFER_PREFIX, TransferTooLarge
from freshtrack_ops.config import SECRET_NAME_PATTERN, Target
from freshtrack_ops.errors import (
    AppConfigNotFound,
    AppConfigRefused,
    AppConfigTooLarge,
    AppConfigUnavailable,
    HostCommandFailed,
    InvalidInput,
    LocalChanges,
    OpsError,
    RevisionNotFound,
)
from freshtrack_ops.fields import HostRef, Strict
from freshtrack_ops.host_command import HostCommand, parse_key_values, tail
from freshtrack_ops.host_scripts.parameters import GIT_REVISION_MAX_CHARS, GIT_REVISION_PATTERN
from freshtrack_ops.ports import CommandResult, TransferObjects

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

SECRET_FORMAT = 1
#: Secrets Manager's limit on a SecretString (API reference: SecretString, "Maximum length of 65536")
SECRET_MAX_BYTES = 65_536
#: the largest archive (base64 characters) a capture accepts: the scripts' CONFIG_MAX_B64 (lib/app_config.sh),
#: which keeps the secret's JSON well under SECRET_MAX_BYTES
ARCHIVE_MAX_B64 = 49_152
#: what the archive may expand to (a few small files; a gzip bomb is refused before it is read out)
ARCHIVE_MAX_EXPANDED = 1024 * 1024
REPOSITORY_URL_MAX_CHARS = 2048
APP_VERSION_MAX_CHARS = 256
#: the first line of what dr_capture_config.sh prints (and ssm_dr_capture_config.sh uploads)
CAPTURE_MAGIC = "FRESHTRACK-APP-CONFIG 1"
#: the first line of what dr_bootstrap.sh reads
BOOTSTRAP_MAGIC = "FRESHTRACK-DR-BOOTSTRAP 1"
#: what a transfer object may hold at most (a capture payload: the archive and a few short lines)
TRANSFER_MAX_BYTES = ARCHIVE_MAX_B64 + REPOSITORY_URL_MAX_CHARS + APP_VERSION_MAX_CHARS + 1024
#: .env.production, or secrets/<file> (letters, digits, "._-"; not "." or ".."): lib/app_config.sh config_name_ok
CONFIG_FILE_PATTERN = (
    r"^(\.env\.production"
    r"|secrets/([A-Za-z0-9_-][A-Za-z0-9._-]{0,127}|\.[A-Za-z0-9_-][A-Za-z0-9._-]{0,126}|\.\.[A-Za-z0-9._-]{1,126}))$"
)
CAPTURE_TIMEOUT_S = 90.0  # DrCaptureConfig's Lambda timeout is 120 s
BOOTSTRAP_TIMEOUT_S = 540.0  # DrBootstrap's is 600 s: a fetch of the whole repository fits
_PRINTABLE = re.compile(r"^[\x21-\x7e]*$")
_RECEIPT = re.compile(r"^receipt sha256=([0-9a-f]{64}) bytes=(0|[1-9][0-9]{0,9})$")
_CAPTURE_EXITS: dict[int, type[OpsError]] = {
    64: InvalidInput,
    66: AppConfigNotFound,
    67: AppConfigRefused,
    69: AppConfigTooLarge,
}
_BOOTSTRAP_EXITS: dict[int, type[OpsError]] = {
    64: InvalidInput,
    65: LocalChanges,
    66: RevisionNotFound,
    67: AppConfigRefused,
}

SecretName = Annotated[str, StringConstraints(pattern=SECRET_NAME_PATTERN)]
GitRevision = Annotated[str, StringConstraints(pattern=GIT_REVISION_PATTERN, max_length=GIT_REVISION_MAX_CHARS)]
ConfigFile = Annotated[str, StringConstraints(pattern=CONFIG_FILE_PATTERN)]
CommitId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{40}$")]


# -- models -----------------------------------------------------------------------------------------------
class CaptureConfigEvent(Strict):
    """dr-capture-config: keep the app-config secret current from the primary."""

    host: HostRef
    #: the Secrets Manager secret (its name; never its value); unset: the target's ``dr.app_config_secret_name``,
    #: and a name given must be that one (a capture never writes one server's configuration into another's secret)
    secret_name: SecretName | None = None


class CaptureConfigResult(Strict):
    """What was captured: names and versions only, never content."""

    captured_at: datetime
    files: tuple[ConfigFile, ...]
    app_version: str
    #: whether an origin URL was captured (a bootstrap needs one)
    repository: bool
    secret_version_id: str


class BootstrapEvent(Strict):
    """dr-bootstrap: check the app out at ``revision`` on the replacement ``host`` and write its configuration."""

    host: HostRef
    secret_name: SecretName
    #: the backup manifest's ``app_version`` (``git describe --tags --always`` on the primary)
    revision: GitRevision


class BootstrapResult(Strict):
    checked_out: CommitId
    #: ``git describe --tags --always`` after the checkout
    version: str
    config_files: tuple[ConfigFile, ...]
    config_captured_at: datetime


class TransferContext(BaseModel):
    """The transfer object an SSM command uses (None: the SSH path, which needs none)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    transfer_key: str | None = None


class BootstrapContext(TransferContext):
    """What the secret held, by name: the files the host must report, and when they were captured."""

    config_files: tuple[str, ...]
    config_captured_at: datetime


@dataclass(frozen=True)
class AppConfig:
    """A captured configuration: what the secret holds. Its repr shows names only (the URL may carry a token)."""

    host: str
    captured_at: datetime
    app_version: str
    files: tuple[str, ...]
    repository_url: str = field(repr=False)
    archive: bytes = field(repr=False)

    def secret_string(self) -> str:
        """The secret's value (format 1); AppConfigTooLarge when it would not fit a secret."""
        text = json.dumps(
            {
                "format": SECRET_FORMAT,
                "host": self.host,
                "captured_at": self.captured_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
                "app_version": self.app_version,
                "repository_url": self.repository_url,
                "files_tgz_b64": base64.b64encode(self.archive).decode("ascii"),
            },
            separators=(",", ":"),
        )
        size = len(text.encode("utf-8"))
        if size > SECRET_MAX_BYTES:
            raise AppConfigTooLarge(f"{self.host}: the configuration is {size} bytes, over a secret's limit")
        return text


# -- the archive and the payloads --------------------------------------------------------------------------
def archive_files(archive: bytes) -> tuple[str, ...]:
    """The names in a captured archive, in its order; AppConfigRefused unless it is a gzip'd tar of plain files
    named ``.env.production`` (present) and ``secrets/<file>``, each once, expanding to at most 1 MiB."""
    names: list[str] = []
    expanded = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
            for member in tar:
                if not member.isreg() or not re.fullmatch(CONFIG_FILE_PATTERN, member.name):
                    raise AppConfigRefused(
                        f"the archive holds {member.name[:80]!r}, not a plain file named .env.production or "
                        "secrets/<file>"
                    )
                expanded += member.size
                if member.name in names or expanded > ARCHIVE_MAX_EXPANDED:
                    raise AppConfigRefused(f"the archive repeats {member.name!r} or expands past 1 MiB")
                names.append(member.name)
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
        raise AppConfigRefused(f"the archive is not a gzip'd tar ({type(exc).__name__})") from exc
    if ".env.production" not in names:
        raise AppConfigRefused("the archive has no .env.production")
    return tuple(names)


def parse_capture(text: str, *, host: str, captured_at: datetime) -> AppConfig:
    """What a capture printed (or uploaded): its lines checked, its archive checked (``archive_files``).

    AppConfigRefused (or AppConfigTooLarge) names what is wrong, never a value."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if len(lines) != 4 or lines[0] != CAPTURE_MAGIC:
        raise AppConfigRefused(f"{host}: the capture's output is not the capture format 1")
    values: dict[str, str] = {}
    for line, key in zip(lines[1:], ("app_version", "repository_url", "files_tgz_b64"), strict=True):
        name, sep, value = line.partition("=")
        if name != key or not sep:
            raise AppConfigRefused(f"{host}: the capture's output lacks {key}")
        values[key] = value
    version, url, encoded = values["app_version"], values["repository_url"], values["files_tgz_b64"]
    if len(version) > APP_VERSION_MAX_CHARS or not _PRINTABLE.match(version):
        raise AppConfigRefused(f"{host}: the captured app version is not printable ASCII of at most 256 characters")
    if len(url) > REPOSITORY_URL_MAX_CHARS or not url.isprintable():
        raise AppConfigRefused(f"{host}: the captured repository URL is not printable or over 2048 characters")
    if len(encoded) > ARCHIVE_MAX_B64:
        raise AppConfigTooLarge(f"{host}: the archive is {len(encoded)} characters of base64, over {ARCHIVE_MAX_B64}")
    archive = _b64decode(encoded, what=f"{host}: the captured archive")
    return AppConfig(
        host=host,
        captured_at=captured_at,
        app_version=version,
        files=archive_files(archive),
        repository_url=url,
        archive=archive,
    )


def _b64decode(encoded: str, *, what: str, error: type[OpsError] = AppConfigRefused) -> bytes:
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise error(f"{what} is not base64") from exc


def bootstrap_payload(config: AppConfig) -> bytes:
    """What dr_bootstrap.sh reads (stdin, or the transfer object): the repository URL and the archive."""
    if not config.repository_url:
        raise AppConfigUnavailable(
            f"the configuration captured from {config.host} has no repository URL (its app directory had no origin): "
            "nothing to clone from"
        )
    encoded = base64.b64encode(config.archive).decode("ascii")
    return f"{BOOTSTRAP_MAGIC}\nrepository_url={config.repository_url}\nfiles_tgz_b64={encoded}\n".encode()


# -- the secret ---------------------------------------------------------------------------------------------
def write_secret(client: SecretsManagerClient, secret_name: str, config: AppConfig) -> str:
    """PutSecretValue of ``config`` (a new AWSCURRENT version); its version id. The secret must exist (the stack
    creates it): AppConfigUnavailable otherwise."""
    text = config.secret_string()
    try:
        response = client.put_secret_value(SecretId=secret_name, SecretString=text)
    except ClientError as exc:
        if _code(exc) == "ResourceNotFoundException":
            raise AppConfigUnavailable(f"secret {secret_name} does not exist (the stack creates it)") from exc
        raise
    return response["VersionId"]


def read_secret(client: SecretsManagerClient, secret_name: str) -> AppConfig:
    """The configuration the secret holds (its AWSCURRENT version): AppConfigUnavailable when there is none or it
    is not format 1, AppConfigRefused when its archive holds anything but the app's configuration."""
    try:
        response = client.get_secret_value(SecretId=secret_name)
    except ClientError as exc:
        if _code(exc) in {"ResourceNotFoundException", "InvalidRequestException"}:
            raise AppConfigUnavailable(
                f"secret {secret_name} has no value ({_code(exc)}): capture the configuration first"
            ) from exc
        raise
    text = response.get("SecretString") or ""
    try:
        value = json.loads(text) if text.strip() else None
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise AppConfigUnavailable(f"secret {secret_name}: its value is empty or not a JSON object")
    return _from_secret(secret_name, value)


def _from_secret(secret_name: str, value: dict[str, Any]) -> AppConfig:
    def text(key: str) -> str:
        found = value.get(key)
        if not isinstance(found, str):
            raise AppConfigUnavailable(f"secret {secret_name}: {key} is missing or not a string")
        return found

    if value.get("format") != SECRET_FORMAT:
        raise AppConfigUnavailable(f"secret {secret_name}: not the app-config format {SECRET_FORMAT}")
    try:
        captured_at = datetime.fromisoformat(text("captured_at"))
    except ValueError as exc:
        raise AppConfigUnavailable(f"secret {secret_name}: captured_at is not an ISO 8601 time") from exc
    if captured_at.tzinfo is None:
        raise AppConfigUnavailable(f"secret {secret_name}: captured_at has no time zone")
    url, encoded = text("repository_url"), text("files_tgz_b64")
    if not url.isprintable() or not encoded:
        raise AppConfigUnavailable(f"secret {secret_name}: repository_url or files_tgz_b64 is malformed")
    archive = _b64decode(encoded, what=f"secret {secret_name}: files_tgz_b64", error=AppConfigUnavailable)
    return AppConfig(
        host=text("host"),
        captured_at=captured_at,
        app_version=text("app_version"),
        files=archive_files(archive),
        repository_url=url,
        archive=archive,
    )


def _code(exc: ClientError) -> str:
    error: Any = exc.response.get("Error", {})
    return str(error.get("Code", ""))


# -- capture: commands and results --------------------------------------------------------------------------
def transfer_key(step: str) -> str:
    """A new transfer object's key: ``dr-transfer/<32 random hex>/<step>`` (unguessable; a retried command never
    meets an earlier attempt's object)."""
    return f"{TRANSFER_PREFIX}{secrets.token_hex(16)}/{step}"


def capture_command(target: Target) -> HostCommand:
    """The SSH (and local) capture: the payload on stdout."""
    return HostCommand("dr_capture_config.sh", {"APP_DIR": target.app_dir}, CAPTURE_TIMEOUT_S)


def ssm_capture_command(target: Target, key: str, upload_url: str) -> HostCommand:
    """The SSM capture: the payload PUT to the transfer object ``key`` (``upload_url``), a receipt on stdout."""
    env = {"APP_DIR": target.app_dir, "UPLOAD_URL": upload_url}
    return HostCommand("ssm_dr_capture_config.sh", env, CAPTURE_TIMEOUT_S)


def check_capture_exit(target: Target, result: CommandResult) -> None:
    """A capture that did not exit 0, as its named error (the message quotes stderr, which holds no content)."""
    if result.exit_code != 0:
        error = _CAPTURE_EXITS.get(result.exit_code, HostCommandFailed)
        raise error(f"{target.id}: capturing the app configuration failed: {tail(result.stderr)}")


def read_capture(target: Target, result: CommandResult, captured_at: datetime) -> AppConfig:
    """The SSH capture's result: the payload is its stdout."""
    check_capture_exit(target, result)
    return parse_capture(result.stdout, host=target.id, captured_at=captured_at)


def read_transferred_capture(
    target: Target, result: CommandResult, transfers: TransferObjects, key: str, captured_at: datetime
) -> AppConfig:
    """The SSM capture's result: the transfer object, checked against the receipt the host printed (its SHA-256
    and size), so what the host uploaded, and only that, becomes the secret."""
    check_capture_exit(target, result)
    receipts = [m for line in result.stdout.splitlines() if (m := _RECEIPT.fullmatch(line.strip()))]
    if len(receipts) != 1:
        raise HostCommandFailed(f"{target.id}: the capture printed no receipt of its upload")
    sha256, size = receipts[0].group(1), int(receipts[0].group(2))
    try:
        body = transfers.get(key, max_bytes=TRANSFER_MAX_BYTES)
    except TransferTooLarge as exc:
        raise AppConfigTooLarge(f"{target.id}: the uploaded configuration is over {TRANSFER_MAX_BYTES} bytes") from exc
    except ClientError as exc:
        if _code(exc) not in {"NoSuchKey", "404"}:
            raise
        raise AppConfigRefused(f"{target.id}: the host printed a receipt, but its upload is not there") from exc
    if len(body) != size or hashlib.sha256(body).hexdigest() != sha256:
        raise AppConfigRefused(f"{target.id}: the uploaded configuration does not match the host's receipt")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AppConfigRefused(f"{target.id}: the uploaded configuration is not text") from exc
    return parse_capture(text, host=target.id, captured_at=captured_at)


# -- bootstrap: commands and results ------------------------------------------------------------------------
def bootstrap_command(target: Target, revision: str, payload_url: str = "") -> HostCommand:
    """dr_bootstrap.sh at ``revision``: the payload on stdin (SSH, ``payload_url`` empty) or from the transfer
    object's presigned GET (SSM)."""
    env = {"APP_DIR": target.app_dir, "GIT_REVISION": revision, "PAYLOAD_URL": payload_url}
    return HostCommand("dr_bootstrap.sh", env, BOOTSTRAP_TIMEOUT_S)


def read_bootstrap(
    event: BootstrapEvent, target: Target, context: BootstrapContext, result: CommandResult
) -> BootstrapResult:
    """The bootstrap's result; its named error when it did not exit 0 (RevisionNotFound, LocalChanges,
    AppConfigRefused, InvalidInput, HostCommandFailed)."""
    if result.exit_code != 0:
        error = _BOOTSTRAP_EXITS.get(result.exit_code, HostCommandFailed)
        raise error(f"{target.id}: bootstrap at {event.revision} failed: {tail(result.stderr)}")
    values = parse_key_values(result.stdout)
    files = tuple(name for name in values.get("config_files", "").split(",") if name)
    checked_out = values.get("checked_out", "")
    if not re.fullmatch(r"[0-9a-f]{40}", checked_out) or "version" not in values:
        raise HostCommandFailed(f"{target.id}: the bootstrap's output is incomplete")
    if files != context.config_files:
        raise HostCommandFailed(
            f"{target.id}: the bootstrap wrote {', '.join(files) or 'no file'}, the configuration has "
            f"{', '.join(context.config_files)}"
        )
    return BootstrapResult(
        checked_out=checked_out,
        version=values["version"],
        config_files=files,
        config_captured_at=context.config_captured_at,
    )


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def capture_secret(event: CaptureConfigEvent, target: Target) -> str:
    """The secret a capture writes: the target's ``dr.app_config_secret_name``; a name given must be that one."""
    if target.dr is None:
        raise InvalidInput(f"host: target {target.id!r} has no dr section (no app-config secret to keep current)")
    configured = target.dr.app_config_secret_name
    if event.secret_name is not None and event.secret_name != configured:
        raise InvalidInput(
            f"secret_name: target {target.id!r} keeps its app config in {configured!r} (got {event.secret_name!r})"
        )
    return configured
