"""SSM Run Command: send a host script's Command document, read its status and full output, name its errors.

No waiting happens here: ``send`` returns the command id at once and ``status`` answers None while the
command is still pending or running. Step Functions does the waiting: the host task's state waits for its task
token, which ``HostCommandDone`` completes when EventBridge reports the command's end ("EC2 Command Invocation
Status-change Notification"; docs/ssm.md). A transfer too long for one command is a host job whose polls are
commands of their own (docs/host-jobs.md).

Output: the API keeps only the first 24,000 characters of stdout (8,000 of stderr); the agent writes the
complete streams to ``s3://<output bucket>/<prefix>/<command id>/<instance id>/awsrunShellScript/<step>/``,
which ``status`` reads (up to ``max_output_bytes``), falling back to the API's content when there is none.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from botocore.exceptions import BotoCoreError, ClientError

from freshtrack_ops import host_scripts
from freshtrack_ops.config import SsmTarget
from freshtrack_ops.errors import (
    ConfigError,
    HostCommandFailed,
    HostCommandTimeout,
    HostUnreachable,
    InvalidInput,
    OpsError,
)
from freshtrack_ops.host_scripts.parameters import credential_parameters
from freshtrack_ops.host_scripts.ssm_document import EXCHANGE_PARAMETER, PLUGIN_FOLDER, STEP_NAME, document_name
from freshtrack_ops.ports import CommandResult
from freshtrack_ops.redact import redact

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_ssm import SSMClient
    from mypy_boto3_ssm.type_defs import GetCommandInvocationResultTypeDef

    from freshtrack_ops.adapters.host_exchange import HostExchange

#: final statuses and status details of a command invocation, as EventBridge reports them in
#: "EC2 Command Invocation Status-change Notification" (the completion rule matches all of them)
FINAL_INVOCATION_STATUSES = (
    "Success",
    "Failed",
    "TimedOut",
    "Cancelled",
    "Undeliverable",
    "Terminated",
    "InvalidPlatform",
    "AccessDenied",
    "DeliveryTimedOut",
    "ExecutionTimedOut",
)
#: invocation statuses that are not final yet
RUNNING_STATUSES = frozenset({"Pending", "InProgress", "Delayed"})
#: StatusDetails that say the command never reached (or never ran on) the instance
UNREACHABLE_DETAILS = frozenset({"Undeliverable", "Terminated", "InvalidPlatform"})
TIMEOUT_DETAILS = frozenset({"DeliveryTimedOut", "ExecutionTimedOut"})
CANCELLED = frozenset({"Cancelled", "Cancelling", "Canceled"})
DEFAULT_MAX_OUTPUT_BYTES = 8 << 20


def error_for(
    status: str,
    status_details: str,
    instance_id: str,
    script: str,
    *,
    response_code: int | None = None,
    output: str = "",
) -> OpsError:
    """The named error (an ASL error name) for a final, unsuccessful SSM invocation status.

    StatusDetails is the more precise of the two and is consulted first. ``output`` is what the invocation
    reported besides its status: for a ``Failed`` command whose script never ran (no exit code), that is the
    agent's own reason, e.g. a document it refused ("invalid repeat count" in an allowedPattern, a value that
    does not match one). It is added redacted: the agent quotes the refused value, which may be a presigned
    URL."""
    what = f"{instance_id}: {script}"
    details = status_details or status
    if details in UNREACHABLE_DETAILS:
        return HostUnreachable(f"{what}: the command could not be delivered ({details})")
    if details in TIMEOUT_DETAILS or status == "TimedOut":
        return HostCommandTimeout(f"{what}: SSM reports {details}")
    if details in CANCELLED or status in CANCELLED:
        return HostCommandFailed(f"{what}: the command was cancelled ({details})")
    if status == "Failed":
        if details == "AccessDenied":
            return HostCommandFailed(f"{what}: the agent was denied access ({details})")
        if response_code is not None and response_code >= 0:
            reason = f"exit code {response_code}"
        else:
            excerpt = _excerpt(output)
            reason = details + (f" (the script did not run: {excerpt})" if excerpt else "")
        return HostCommandFailed(f"{what}: failed with {reason}")
    return HostCommandFailed(f"{what}: unexpected SSM status {status}/{details}")


class SsmCommands:
    """Sends host scripts as SSM Command documents and reads their results. Thread-safe (boto3 clients are)."""

    def __init__(
        self,
        ssm: SSMClient,
        s3: S3Client,
        *,
        output_bucket: str,
        output_prefix: str = "ssm-output",
        document_prefix: str = "",
        delivery_timeout_s: int = 60,
        check_online: bool = True,
        max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES,
        exchange: HostExchange | None = None,
    ) -> None:
        if not 30 <= delivery_timeout_s <= 2_592_000:
            raise ValueError("delivery_timeout_s: SSM accepts 30..2592000 seconds")
        self._ssm = ssm
        self._s3 = s3
        self._bucket = output_bucket
        self._prefix = output_prefix.strip("/")
        self._document_prefix = document_prefix
        self._delivery_timeout_s = delivery_timeout_s
        self._check_online = check_online
        self._max_output_bytes = max_output_bytes
        self._exchange = exchange
        #: command id -> its host exchange object, until the sender takes it (``take_exchange_key``) to record it
        #: with the pending command; the completion handler deletes the object (``discard_exchange``)
        self._exchange_keys: dict[str, str] = {}

    # -- sending -------------------------------------------------------------------------------------
    def document(self, script: str) -> str:
        return self._document_prefix + document_name(script)

    def send(self, target: SsmTarget, script: str, env: Mapping[str, str]) -> str:
        """Validate ``env`` against the script's patterns and send the command; returns its id."""
        instance_id = target.instance_id
        # the parameters the script declares (as the SSH path selects them), each checked against its pattern
        env = host_scripts.script_env(script, env)
        if self._check_online:
            self.check_online(instance_id)
        # credentials (presigned URLs) never become command parameters, which ListCommands shows to anyone allowed
        # to call it: they go into a host exchange object only this instance may read (adapters/host_exchange.py)
        secret = credential_parameters(script)
        parameters = {name: value for name, value in env.items() if name not in secret}
        exchange_key = None
        if secret:
            if self._exchange is None:
                raise ConfigError(f"{script}: reads credentials, and this SSM sender has no host exchange")
            try:
                exchange_key, parameters[EXCHANGE_PARAMETER] = self._exchange.put(
                    instance_id, {name: value for name, value in env.items() if name in secret}
                )
            except (ClientError, BotoCoreError) as exc:
                raise HostCommandFailed(
                    f"{instance_id}: {script}: cannot store the host exchange object: {exc}"
                ) from exc
        try:
            response = self._ssm.send_command(
                DocumentName=self.document(script),
                InstanceIds=[instance_id],
                Parameters={name: [value] for name, value in sorted(parameters.items())},
                TimeoutSeconds=self._delivery_timeout_s,
                Comment=f"FreshTrack Ops {script} on {target.id}"[:100],
                OutputS3BucketName=self._bucket,
                OutputS3KeyPrefix=self._prefix,
                CloudWatchOutputConfig={"CloudWatchOutputEnabled": False},
            )
        except ClientError as exc:
            self._discard(exchange_key)
            raise self._send_error(exc, instance_id, script) from exc
        except BotoCoreError as exc:
            self._discard(exchange_key)
            raise HostUnreachable(f"{instance_id}: {script}: SSM could not be called: {exc}") from exc
        command_id = response["Command"]["CommandId"]
        if exchange_key is not None:
            self._exchange_keys[command_id] = exchange_key
        return command_id

    def take_exchange_key(self, command_id: str) -> str:
        """The host exchange object ``send`` wrote for ``command_id`` ("" when none), forgotten here: the sender
        records it with the pending command so that whoever handles the command's end deletes it."""
        return self._exchange_keys.pop(command_id, "")

    def discard_exchange(self, exchange_key: str) -> None:
        """Delete a host exchange object once its command has ended (fetched or never to be): the URLs in it
        must not outlive their use. Best effort: the ``ssm-exchange/`` lifecycle rule expires it too."""
        self._discard(exchange_key or None)

    def _discard(self, exchange_key: str | None) -> None:
        """Delete a host exchange object no command will fetch (best effort: the lifecycle rule expires it too)."""
        if exchange_key is None or self._exchange is None:
            return
        with contextlib.suppress(ClientError, BotoCoreError):
            self._exchange.delete(exchange_key)

    def cancel(self, command_id: str, instance_id: str) -> None:
        """Ask SSM to cancel a command (the agent stops the step); a command already finished is fine."""
        try:
            self._ssm.cancel_command(CommandId=command_id, InstanceIds=[instance_id])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("InvalidCommandId", "InvalidInstanceId"):
                raise

    def check_online(self, instance_id: str) -> None:
        """HostUnreachable unless the instance is a managed instance whose agent is Online."""
        try:
            found = self._ssm.describe_instance_information(Filters=[{"Key": "InstanceIds", "Values": [instance_id]}])[
                "InstanceInformationList"
            ]
        except (ClientError, BotoCoreError) as exc:
            raise HostUnreachable(f"{instance_id}: cannot read its SSM status: {exc}") from exc
        if not found:
            raise HostUnreachable(f"{instance_id}: not a managed instance of SSM in this account/region")
        ping = found[0].get("PingStatus", "unknown")
        if ping != "Online":
            raise HostUnreachable(f"{instance_id}: the SSM agent is {ping}, not Online")

    @staticmethod
    def _send_error(exc: ClientError, instance_id: str, script: str) -> OpsError:
        code = exc.response.get("Error", {}).get("Code", "")
        # SSM's InvalidParameters message may quote the refused value (a presigned URL, for the data path)
        message = redact(exc.response.get("Error", {}).get("Message", str(exc)))
        if code == "InvalidInstanceId":
            return HostUnreachable(f"{instance_id}: SSM cannot reach the instance: {message}")
        if code == "InvalidParameters":
            return InvalidInput(f"{script}: SSM refused the parameters: {message}")
        if code in ("InvalidDocument", "InvalidDocumentVersion"):
            return ConfigError(f"{script}: the SSM document is not deployed: {message}")
        return HostCommandFailed(f"{instance_id}: {script}: send_command failed ({code}): {message}")

    # -- results -------------------------------------------------------------------------------------
    def status(self, command_id: str, instance_id: str) -> CommandResult | None:
        """None while the command is pending/running; its result once the script has exited (any exit code,
        as ``HostRunner.run`` returns it); raises the named error when it ended without exiting
        (timed out, cancelled, undeliverable)."""
        try:
            # the run step by name: a document that fetches credentials first has two steps, and SSM then
            # requires PluginName (GetCommandInvocation); naming it for a one-step document is fine too
            invocation = self._ssm.get_command_invocation(
                CommandId=command_id, InstanceId=instance_id, PluginName=STEP_NAME
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "InvocationDoesNotExist":
                return None  # just sent: the invocation becomes visible a moment later
            raise HostUnreachable(f"{instance_id}: cannot read command {command_id}: {exc}") from exc
        except BotoCoreError as exc:
            raise HostUnreachable(f"{instance_id}: cannot read command {command_id}: {exc}") from exc
        status = invocation.get("Status", "Pending")
        if status in RUNNING_STATUSES:
            return None
        details = invocation.get("StatusDetails", "")
        code = invocation.get("ResponseCode", -1)
        script = invocation.get("DocumentName", "") or command_id
        ran_to_exit = status == "Success" or (status == "Failed" and details == "Failed" and code >= 0)
        if not ran_to_exit:
            said = invocation.get("StandardErrorContent", "") or invocation.get("StandardOutputContent", "")
            raise error_for(status, details, instance_id, script, response_code=code, output=said)
        stdout = self._output(invocation, command_id, instance_id, "stdout")
        stderr = self._output(invocation, command_id, instance_id, "stderr")
        return CommandResult(exit_code=code if status == "Failed" else 0, stdout=stdout, stderr=stderr)

    def output_key(self, command_id: str, instance_id: str, stream: str) -> str:
        """Where the agent writes a stream: <prefix>/<command id>/<instance id>/awsrunShellScript/<step>/<stream>."""
        parts = [self._prefix] if self._prefix else []
        return "/".join([*parts, command_id, instance_id, PLUGIN_FOLDER, STEP_NAME, stream])

    def _output(
        self, invocation: GetCommandInvocationResultTypeDef, command_id: str, instance_id: str, stream: str
    ) -> str:
        if stream == "stdout":
            fallback, url = invocation.get("StandardOutputContent", ""), invocation.get("StandardOutputUrl", "")
        else:
            fallback, url = invocation.get("StandardErrorContent", ""), invocation.get("StandardErrorUrl", "")
        if not self._bucket:
            return fallback
        key = self._key_from_url(url) or self.output_key(command_id, instance_id, stream)
        try:
            response = self._s3.get_object(Bucket=self._bucket, Key=key, Range=f"bytes=0-{self._max_output_bytes - 1}")
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "InvalidRange"):
                return fallback  # nothing written (e.g. an empty stream)
            raise HostCommandFailed(f"{instance_id}: cannot read s3://{self._bucket}/{key}: {exc}") from exc
        except BotoCoreError as exc:
            raise HostCommandFailed(f"{instance_id}: cannot read s3://{self._bucket}/{key}: {exc}") from exc
        with response["Body"] as body:
            text = body.read().decode("utf-8", errors="replace")
        total = _total_size(response.get("ContentRange", ""))
        if total is not None and total > self._max_output_bytes:
            text += f"\n[output cut at {self._max_output_bytes} of {total} bytes; see s3://{self._bucket}/{key}]"
        return text

    def _key_from_url(self, url: str) -> str | None:
        """The object key of a StandardOutputUrl in our bucket (path-style or virtual-hosted URL)."""
        if not url:
            return None
        parts = urlsplit(url)
        path = unquote(parts.path)
        if parts.hostname and parts.hostname.startswith(f"{self._bucket}."):
            return path.lstrip("/") or None
        prefix = f"/{self._bucket}/"
        return path[len(prefix) :] if path.startswith(prefix) else None


def _excerpt(text: str, lines: int = 5, limit: int = 1000) -> str:
    """The last non-empty lines of ``text``, redacted, at most ``limit`` characters."""
    kept = [redact(line.strip()) for line in text.strip().splitlines() if line.strip()][-lines:]
    joined = " | ".join(kept)
    return joined if len(joined) <= limit else joined[: limit - 3] + "..."


def _total_size(content_range: str) -> int | None:
    """``bytes 0-99/1234`` -> 1234."""
    _, _, total = content_range.rpartition("/")
    return int(total) if total.isdigit() else None
