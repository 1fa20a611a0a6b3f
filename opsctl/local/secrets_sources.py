"""A local plane's side of the secrets scan (``secrets_scan``): what its run created, and every place it wrote to.

``ScanRecorder`` is active while a plane runs (``activate`` at its start, ``deactivate`` when it stops). It records:

* every presigned URL minted in the process (botocore's ``generate_presigned_url`` is wrapped once per process; the
  active recorder hears of each URL, with what it grants), and the temporary presigning credentials (``note``);
* every log line the tasks write: the Powertools logger's lines at INFO and above, formatted by its own formatter
  (what a deployed function, ``POWERTOOLS_LOG_LEVEL=INFO``, sends to CloudWatch Logs), every other logger's at
  WARNING and above (the Lambda runtime's root level), and the error report Lambda's runtime logs for each
  invocation that raised (``moto_patches.STATE.observers``);
* what every Lambda invocation answered (``moto_patches.STATE.observers``): task outputs, and the webhook's HTTP
  answers, which reach the caller (Alertmanager, Grafana, a person with curl) and no execution history;
* every SSH command line a task sent (paramiko's ``Channel.exec_command`` is wrapped once per process): the host's
  process list shows it to every local user while it runs, so no secret may be in it (parameters travel as quoted
  ``env NAME=value`` words, credentials on stdin: ``host_scripts.ssh_command``);
* the hosts' secrets as they change: after every Lambda invocation it reads each host's ``secrets/`` (with a
  rotation's kept values), ``.env.production`` and SSH client key, so a password rotated and reverted within the
  run is still searched for.

``ScanRecorder.secrets`` adds what is there when the plane stops: every Secrets Manager value, every version,
secrets scheduled for deletion included (the SSH keys, the webhook's token and key, the chat URL, the captured app
configuration), the hosts' files once more, and the seeded app log secret (``logs_seed.SEEDED_SECRET``).

The ``*_places`` functions yield, through the plane's own (unchecked) clients or, where the API would take a call per
object, from moto's backends in this process (S3, SSM command output): every event of every execution of every state
machine; the recorded log lines; every SNS notification, chat message and chat dead letter; every S3 object version's
and delete marker's key, every multipart upload's key, every object's metadata and tags, and the body of every
object but the backup dumps and the data path's carriers (``ssm-exchange/``, ``dr-transfer/``: they hold presigned
URLs and the app configuration by design, readable by the bucket's owner only, and are deleted after use); every
DynamoDB item; every SSM command's parameters (what ``ssm:ListCommands`` shows) and its invocations' output
(``GetCommandInvocation``); every SSM parameter's value.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from opsctl.local import iam, moto_patches
from opsctl.local.logs_seed import SEEDED_SECRET
from opsctl.local.secrets_scan import (
    CHAT_DEAD_LETTER,
    CHAT_MESSAGE,
    DYNAMODB_ITEM,
    HISTORY,
    LAMBDA_RESPONSE,
    LOG_LINE,
    NOTIFICATION,
    S3_BODY,
    S3_KEY,
    S3_METADATA,
    S3_TAGS,
    SEEDED_LOG_SECRET,
    SSH_COMMAND,
    SSH_PRIVATE_KEY,
    SSM_OUTPUT,
    SSM_PARAMETER,
    SSM_PARAMETERS,
    Place,
    Secret,
    app_file_secrets,
    presigned_url_secrets,
    private_key_needles,
    secrets_from_secret_string,
    token_needles,
    url_purpose,
)

if TYPE_CHECKING:
    from opsctl.local.host import LocalHost

Client = Callable[[str], Any]

#: the objects whose bodies are not read: backup dumps (compressed pg_dump archives) and the data path's carriers
CARRIER_PREFIXES = ("ssm-exchange/", "dr-transfer/")
#: bodies larger than this are not read (reports, logs and manifests are far smaller)
MAX_BODY_BYTES = 16 * 1024 * 1024
#: the Powertools logger's name (``observability.SERVICE``)
TASK_LOGGER = "freshtrack-ops"


@dataclass(frozen=True)
class LogLine:
    source: str
    text: str


class _LogCapture(logging.Handler):
    def __init__(self, recorder: ScanRecorder, level: int, formatter: logging.Formatter, *, skip: str = "") -> None:
        super().__init__(level)
        self.setFormatter(formatter)
        self._recorder = recorder
        self._skip = skip

    def emit(self, record: logging.LogRecord) -> None:
        if self._skip and (record.name == self._skip or record.name.startswith(self._skip + ".")):
            return  # captured by the task logger's own handler
        try:
            text = self.format(record)
        except Exception:  # a record that cannot be formatted is not lost: its raw parts are kept
            text = f"{record.name} {record.levelname} {record.msg!r} {record.args!r}"
        self._recorder.add_log(record.name, text)


# -- process-wide hooks ---------------------------------------------------------------------------------------------
_ACTIVE: ScanRecorder | None = None
_hook_lock = threading.Lock()
_presign_wrapped = False
_ssh_wrapped = False


def note(kind: str, origin: str, value: str) -> None:
    """Tell the active plane's scan of a secret it would not find by itself (no-op when no plane scans)."""
    recorder = _ACTIVE
    if recorder is not None:
        recorder.add(Secret(kind, origin, token_needles(value)))


def _wrap_presigning() -> None:
    """Wrap botocore's ``RequestSigner.generate_presigned_url`` once per process (a method of the class: every client
    presigns through it, those created before too): every URL minted is told to the active recorder."""
    global _presign_wrapped  # noqa: PLW0603 - the process-wide patch, installed once
    with _hook_lock:
        if _presign_wrapped:
            return
        from botocore.signers import RequestSigner

        original = RequestSigner.generate_presigned_url

        def generate_presigned_url(self: Any, request_dict: Any, operation_name: str, *args: Any, **kwargs: Any) -> Any:
            url = original(self, request_dict, operation_name, *args, **kwargs)
            recorder = _ACTIVE
            if recorder is not None and isinstance(url, str):
                recorder.add_url(url, url_purpose(operation_name, url))
            return url

        RequestSigner.generate_presigned_url = generate_presigned_url  # type: ignore[method-assign]
        _presign_wrapped = True


def _wrap_ssh_commands() -> None:
    """Wrap paramiko's ``Channel.exec_command`` once per process: every command line sent is told to the active
    recorder (the local sshd runs it as the process's argv, as a host's does)."""
    global _ssh_wrapped  # noqa: PLW0603 - the process-wide patch, installed once
    with _hook_lock:
        if _ssh_wrapped:
            return
        from paramiko import Channel

        original = Channel.exec_command

        def exec_command(self: Any, command: str | bytes) -> Any:
            recorder = _ACTIVE
            if recorder is not None:
                text = command.decode("utf-8", "replace") if isinstance(command, bytes) else str(command)
                recorder.add_place(SSH_COMMAND, "sent over SSH", text)
            return original(self, command)

        Channel.exec_command = exec_command  # type: ignore[method-assign,assignment]
        _ssh_wrapped = True


class ScanRecorder:
    """What a plane's run created that is secret, and the log lines its tasks wrote (module docstring)."""

    def __init__(self, hosts: Callable[[], dict[str, LocalHost]]) -> None:
        self._hosts = hosts
        self._lock = threading.Lock()
        self._secrets: dict[tuple[str, tuple[str, ...]], Secret] = {}
        self._logs: list[LogLine] = []
        #: places seen as they passed (Lambda responses, SSH command lines): nothing keeps them to be read later
        self._passing: list[Place] = []
        self._urls = 0
        #: what went wrong while recording (reported as scan errors: a recorder that missed something fails)
        self.errors: list[str] = []
        self._handlers: list[tuple[logging.Logger, logging.Handler]] = []
        self._saved_levels: list[tuple[logging.Logger | logging.Handler, int]] = []

    # -- recording ----------------------------------------------------------------------------------------------
    def add(self, secret: Secret) -> None:
        if secret.needles:
            with self._lock:
                self._secrets.setdefault((secret.kind, secret.needles), secret)

    def add_url(self, url: str, purpose: str) -> None:
        for secret in presigned_url_secrets(url, purpose):
            self.add(secret)
        with self._lock:
            self._urls += 1

    def add_log(self, source: str, text: str) -> None:
        with self._lock:
            self._logs.append(LogLine(source, text))

    def add_place(self, category: str, where: str, text: str) -> None:
        with self._lock:
            self._passing.append(Place(category, f"{where} #{len(self._passing) + 1}", text))

    def passing_places(self) -> list[Place]:
        with self._lock:
            return list(self._passing)

    @property
    def urls_minted(self) -> int:
        return self._urls

    def log_lines(self) -> list[LogLine]:
        with self._lock:
            return list(self._logs)

    def snapshot_hosts(self) -> None:
        """Read every host's secrets now (the files change: a rotation writes new ones)."""
        for name, host in self._hosts().items():
            for secret in host_secrets(name, host):
                self.add(secret)

    def _after_invocation(self, function: str, payload: bytes, failed: bool) -> None:
        try:
            text = payload.decode("utf-8", "replace")
            if failed:  # the Lambda runtime logs an unhandled error's type, message and stack trace
                self.add_log(f"{function} (Lambda error report)", text)
            self.add_place(LAMBDA_RESPONSE, function, text)
            self.snapshot_hosts()
        except Exception as exc:
            with self._lock:
                self.errors.append(f"recording after an invocation of {function}: {type(exc).__name__}")

    # -- lifecycle ----------------------------------------------------------------------------------------------
    def activate(self) -> None:
        """Start recording: the presigning hook, the log capture, the invocation observer."""
        global _ACTIVE  # noqa: PLW0603 - one plane runs at a time in a process
        _wrap_presigning()
        _wrap_ssh_commands()
        _ACTIVE = self
        task_logger = logging.getLogger(TASK_LOGGER)
        formatter = next((h.formatter for h in task_logger.handlers if h.formatter is not None), None)
        task_capture = _LogCapture(self, logging.INFO, formatter or logging.Formatter("%(message)s"))
        root_capture = _LogCapture(
            self, logging.WARNING, logging.Formatter("%(levelname)s %(name)s %(message)s"), skip=TASK_LOGGER
        )
        if task_logger.getEffectiveLevel() > logging.INFO:
            # a deployed function logs at INFO: lower the logger, keep its own handlers where they were
            old = task_logger.getEffectiveLevel()
            for handler in task_logger.handlers:
                self._saved_levels.append((handler, handler.level))
                handler.setLevel(max(handler.level, old))
            self._saved_levels.append((task_logger, task_logger.level))
            task_logger.setLevel(logging.INFO)
        for logger, handler in ((task_logger, task_capture), (logging.getLogger(), root_capture)):
            logger.addHandler(handler)
            self._handlers.append((logger, handler))
        moto_patches.STATE.observers.append(self._after_invocation)

    def deactivate(self) -> None:
        global _ACTIVE  # noqa: PLW0603 - see activate
        if _ACTIVE is self:
            _ACTIVE = None
        if self._after_invocation in moto_patches.STATE.observers:
            moto_patches.STATE.observers.remove(self._after_invocation)
        for logger, handler in self._handlers:
            logger.removeHandler(handler)
        self._handlers.clear()
        for thing, level in reversed(self._saved_levels):
            thing.setLevel(level)
        self._saved_levels.clear()

    # -- at the end -----------------------------------------------------------------------------------------------
    def secrets(self, client: Client) -> list[Secret]:
        """Everything recorded, plus what Secrets Manager and the hosts hold now, plus the seeded log secret."""
        self.snapshot_hosts()
        for secret in secrets_manager_secrets(client):
            self.add(secret)
        self.add(Secret(SEEDED_LOG_SECRET, "the app logs the local hosts seed (logs_seed)", (SEEDED_SECRET,)))
        with self._lock:
            return list(self._secrets.values())


def host_secrets(name: str, host: LocalHost) -> list[Secret]:
    """The secrets on one host: the control plane's SSH client key for it, its app's ``secrets/`` files (kept
    rotation values included) and the secret-named values of its ``.env.production``."""
    found: list[Secret] = []
    key = host.ssh_private_key
    if key:
        origin = f"host {name}: the control plane's SSH client key"
        found.append(Secret(SSH_PRIVATE_KEY, origin, private_key_needles(key)))
    app_dir = host.app_dir
    secrets_dir = app_dir / "secrets"
    files: list[Path] = []
    if secrets_dir.is_dir():
        files += [path for path in sorted(secrets_dir.rglob("*")) if path.is_file()]
    files += [path for path in sorted(app_dir.glob(".env.production*")) if path.is_file()]
    for path in files:
        try:
            if path.stat().st_size > 65_536:
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:  # renamed away meanwhile (a rotation replaces files atomically)
            continue
        found += app_file_secrets(path.relative_to(app_dir).as_posix(), text, f"host {name}")
    return found


def secrets_manager_secrets(client: Client) -> Iterator[Secret]:
    """Every version of every secret in Secrets Manager (those scheduled for deletion too)."""
    sm = client("secretsmanager")
    with iam.plane_calls():
        for page in sm.get_paginator("list_secrets").paginate(IncludePlannedDeletion=True):
            for listed in page["SecretList"]:
                arn, name = listed["ARN"], listed["Name"]
                versions = sm.list_secret_version_ids(SecretId=arn, IncludeDeprecated=True)["Versions"]
                for version in versions:
                    try:
                        value = sm.get_secret_value(SecretId=arn, VersionId=version["VersionId"])
                    except ClientError:  # deleted meanwhile, or a version without a value
                        continue
                    text = value.get("SecretString")
                    if isinstance(text, str):
                        yield from secrets_from_secret_string(name, text)


# -- places ---------------------------------------------------------------------------------------------------------
def _json(value: Any) -> str:
    return json.dumps(value, default=str, sort_keys=True)


def history_places(client: Client, account: str, region: str) -> Iterator[Place]:
    """Every event of every execution of every state machine: listed through the API, each history read from moto's
    Step Functions backend in this process (what GetExecutionHistory answers, without serializing it)."""
    from moto.stepfunctions.responses import get_backend

    sfn = client("stepfunctions")
    backend = get_backend(account, region)
    with iam.plane_calls():
        machines = [m for page in sfn.get_paginator("list_state_machines").paginate() for m in page["stateMachines"]]
        for machine in machines:
            executions = [
                e
                for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=machine["stateMachineArn"])
                for e in page["executions"]
            ]
            for execution in executions:
                label = f"{machine['name']}/{execution['name']}"
                for event in list(backend.get_execution_history(execution["executionArn"])["events"]):
                    details = {k: v for k, v in event.items() if k.endswith("EventDetails")}
                    kind = getattr(event["type"], "value", event["type"])  # moto's HistoryEventType
                    yield Place(HISTORY, f"{label} event {event['id']} ({kind})", _json(details))


def log_places(lines: list[LogLine]) -> Iterator[Place]:
    for number, line in enumerate(lines, start=1):
        yield Place(LOG_LINE, f"line {number} ({line.source})", line.text)


def notification_places(
    notifications: list[dict[str, Any]], chat_messages: list[dict[str, Any]], dead_letters: list[Any]
) -> Iterator[Place]:
    for number, notification in enumerate(notifications, start=1):
        yield Place(NOTIFICATION, f"#{number} {notification.get('Subject')!r}", _json(notification))
    for number, message in enumerate(chat_messages, start=1):
        yield Place(CHAT_MESSAGE, f"#{number}", _json(message))
    for number, letter in enumerate(dead_letters, start=1):
        yield Place(
            CHAT_DEAD_LETTER,
            f"#{number} ({getattr(letter, 'function', '?')})",
            _json({"event": getattr(letter, "event", None), "error": getattr(letter, "error", None)}),
        )


def _reads_body(key: str) -> bool:
    return not key.startswith(CARRIER_PREFIXES) and not key.endswith(".dump")


def s3_places(account: str) -> Iterator[Place]:
    """Every bucket's objects, read from moto's S3 backend in this process (what ListObjectVersions, GetObject and
    GetObjectTagging answer, without three API round trips per object): every version's and delete marker's key,
    every multipart upload's key and metadata, every object's metadata and tags, and the bodies ``_reads_body``."""
    from moto.s3.models import FakeDeleteMarker, s3_backends

    backend = s3_backends[account]["aws"]
    for bucket in list(backend.buckets.values()):
        for name, versions in list(bucket.keys.iterlists()):
            where = f"s3://{bucket.name}/{name}"
            for version in list(versions):
                if isinstance(version, FakeDeleteMarker):
                    yield Place(S3_KEY, f"{where} (delete marker)", name)
                    continue
                yield Place(S3_KEY, where, name)
                # user metadata and the stored headers (Content-Type, Content-Disposition, ...)
                yield Place(S3_METADATA, where, _json(dict(version.metadata)))
                yield Place(S3_TAGS, where, _json(backend.tagger.get_tag_dict_for_resource(version.arn)))
                if _reads_body(name) and version.size <= MAX_BODY_BYTES:
                    yield Place(S3_BODY, where, version.value.decode("utf-8", "replace"))
        for upload in list(bucket.multiparts.values()):
            where = f"s3://{bucket.name}/{upload.key_name} (multipart upload)"
            yield Place(S3_KEY, where, upload.key_name)
            yield Place(S3_METADATA, where, _json(dict(upload.metadata or {})))


def dynamodb_places(client: Client) -> Iterator[Place]:
    dynamodb = client("dynamodb")
    with iam.plane_calls():
        for table in [t for page in dynamodb.get_paginator("list_tables").paginate() for t in page["TableNames"]]:
            key_names = [k["AttributeName"] for k in dynamodb.describe_table(TableName=table)["Table"]["KeySchema"]]
            for page in dynamodb.get_paginator("scan").paginate(TableName=table):
                for item in page.get("Items", []):
                    key = "/".join(str(next(iter(item.get(name, {"?": "?"}).values()))) for name in key_names)
                    yield Place(DYNAMODB_ITEM, f"{table} {key}", _json(item))


def ssm_places(client: Client, account: str, region: str) -> Iterator[Place]:
    """Every SSM command's parameters as ``ssm:ListCommands`` shows them, its invocations' output (read from moto's
    SSM backend, where the local agent writes it: what GetCommandInvocation answers) and every parameter's value."""
    from moto.ssm.models import ssm_backends

    from opsctl.local import ssm_executor

    ssm = client("ssm")
    with iam.plane_calls():
        commands: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {}
        while True:
            page = ssm.list_commands(**kwargs)
            commands += page.get("Commands", [])
            if not page.get("NextToken"):
                break
            kwargs["NextToken"] = page["NextToken"]
        for command in commands:
            where = f"{command.get('DocumentName')} {command['CommandId']}"
            shown = {k: command.get(k) for k in ("Parameters", "Comment", "OutputS3KeyPrefix", "NotificationConfig")}
            yield Place(SSM_PARAMETERS, where, _json(shown))
        with ssm_executor.STATE.lock:  # the agent's threads update the invocations
            invocations = [
                (f"{command.document_name} {command.command_id} on {invocation.get('InstanceId')}", dict(invocation))
                for command in ssm_backends[account][region]._commands
                for invocation in command.invocations
            ]
        for where, invocation in invocations:
            shown_keys = ("StandardOutputContent", "StandardErrorContent", "StatusDetails")
            yield Place(SSM_OUTPUT, where, _json({k: invocation.get(k) for k in shown_keys}))
        for page in ssm.get_paginator("describe_parameters").paginate():
            for parameter in page.get("Parameters", []):
                if parameter.get("Type") == "SecureString":
                    continue  # a secret's home, like Secrets Manager
                value = ssm.get_parameter(Name=parameter["Name"])["Parameter"].get("Value", "")
                yield Place(SSM_PARAMETER, parameter["Name"], value)


__all__ = [
    "CARRIER_PREFIXES",
    "LogLine",
    "ScanRecorder",
    "dynamodb_places",
    "history_places",
    "host_secrets",
    "log_places",
    "note",
    "notification_places",
    "s3_places",
    "secrets_manager_secrets",
    "ssm_places",
]
