"""The disaster recovery's host steps that move the app's configuration: capture it from the primary into its
secret (``dr-capture-config``), and bootstrap a replacement from it (``dr-bootstrap``).

Both are written once for every transport, with one difference that is the point of them (``dr.app_config``):
the content may travel on an SSH channel (``run``: stdout, stdin) but never through SSM, which keeps command
output and parameters; there (``prepare``/``finish``) it goes through a transfer object that ``finish`` and
``abandon`` delete, every version. The secret is read and written by the task, never by the host.
"""

from __future__ import annotations

from freshtrack_ops import runtime
from freshtrack_ops.config import Target
from freshtrack_ops.dr import app_config
from freshtrack_ops.dr.app_config import (
    AppConfig,
    BootstrapContext,
    BootstrapEvent,
    BootstrapResult,
    CaptureConfigEvent,
    CaptureConfigResult,
    TransferContext,
)
from freshtrack_ops.host_command import HostCommand
from freshtrack_ops.jobs import Mode
from freshtrack_ops.observability import logger
from freshtrack_ops.ports import CommandResult, HostRunner
from freshtrack_ops.steps.base import HostStep, OnEventHost, Recorder, RunnerTarget


class CaptureConfigStep(OnEventHost, HostStep[CaptureConfigEvent, TransferContext, CaptureConfigResult]):
    """Keep the app-config secret current from the primary (PutSecretValue: a new AWSCURRENT version)."""

    name = "dr-capture-config"
    scripts = ("dr_capture_config.sh", "ssm_dr_capture_config.sh")
    domain = "dr.app_config"
    model = CaptureConfigEvent
    context_model = TransferContext

    def prepare(
        self, event: CaptureConfigEvent, target: Target, mode: Mode = "inline"
    ) -> tuple[HostCommand, TransferContext]:
        """The SSM command: the host PUTs the payload to a new transfer object and prints a receipt."""
        app_config.capture_secret(event, target)
        key = app_config.transfer_key(self.name)
        url = runtime.transfer_objects().put_url(key, runtime.settings().presign_validity_s)
        return app_config.ssm_capture_command(target, key, url), TransferContext(transfer_key=key)

    def run(
        self,
        event: CaptureConfigEvent,
        target: RunnerTarget,
        runner: HostRunner,
        mode: Mode = "inline",
        record: Recorder | None = None,
    ) -> CaptureConfigResult:
        """SSH and local targets: the payload comes back on the command's stdout (no transfer object)."""
        app_config.capture_secret(event, target)
        context = TransferContext()
        if record is not None:
            record(context)
        return self.finish(event, target, context, app_config.capture_command(target).run(runner))

    def finish(
        self, event: CaptureConfigEvent, target: Target, context: TransferContext, result: CommandResult
    ) -> CaptureConfigResult:
        captured_at = app_config.now()
        if context.transfer_key is None:
            config = app_config.read_capture(target, result, captured_at)
        else:
            transfers = runtime.transfer_objects()
            try:
                config = app_config.read_transferred_capture(
                    target, result, transfers, context.transfer_key, captured_at
                )
            except BaseException:
                _discard_transfer(context)
                raise
            # before the secret is written: the content must not outlive the command in S3 (raises if it would)
            transfers.delete(context.transfer_key)
        return _store(event, target, config)

    def abandon(self, event: CaptureConfigEvent, target: Target, context: TransferContext) -> None:
        _discard_transfer(context)


def _store(event: CaptureConfigEvent, target: Target, config: AppConfig) -> CaptureConfigResult:
    secret = app_config.capture_secret(event, target)
    version_id = app_config.write_secret(runtime.client("secretsmanager"), secret, config)
    logger.info(
        "app configuration captured",
        extra={"host": event.host, "files": len(config.files), "secret_version_id": version_id},
    )
    return CaptureConfigResult(
        captured_at=config.captured_at,
        files=config.files,
        app_version=config.app_version,
        repository=bool(config.repository_url),
        secret_version_id=version_id,
    )


class BootstrapStep(OnEventHost, HostStep[BootstrapEvent, BootstrapContext, BootstrapResult]):
    """Check the app out at the backup's version on a replacement and write its configuration from the secret."""

    name = "dr-bootstrap"
    scripts = ("dr_bootstrap.sh",)
    domain = "dr.app_config"
    model = BootstrapEvent
    context_model = BootstrapContext

    def prepare(
        self, event: BootstrapEvent, target: Target, mode: Mode = "inline"
    ) -> tuple[HostCommand, BootstrapContext]:
        """The SSM command: the payload is written to a new transfer object the host GETs with a presigned URL."""
        config = _read_secret(event)
        payload = app_config.bootstrap_payload(config)
        key = app_config.transfer_key(self.name)
        transfers = runtime.transfer_objects()
        transfers.put(key, payload)
        context = _context(config, key)
        try:
            url = transfers.get_url(key, runtime.settings().presign_validity_s)
        except BaseException:
            _discard_transfer(context)
            raise
        return app_config.bootstrap_command(target, event.revision, url), context

    def run(
        self,
        event: BootstrapEvent,
        target: RunnerTarget,
        runner: HostRunner,
        mode: Mode = "inline",
        record: Recorder | None = None,
    ) -> BootstrapResult:
        """SSH and local targets: the payload goes to the command's stdin (no transfer object)."""
        config = _read_secret(event)
        payload = app_config.bootstrap_payload(config)
        context = _context(config, None)
        if record is not None:
            record(context)
        result = app_config.bootstrap_command(target, event.revision).run(runner, stdin=[payload])
        return self.finish(event, target, context, result)

    def finish(
        self, event: BootstrapEvent, target: Target, context: BootstrapContext, result: CommandResult
    ) -> BootstrapResult:
        if context.transfer_key is not None:
            # whatever the command did: the content must not outlive it in S3 (raises if it would)
            runtime.transfer_objects().delete(context.transfer_key)
        output = app_config.read_bootstrap(event, target, context, result)
        logger.info(
            "replacement bootstrapped",
            extra={"host": event.host, "revision": event.revision, "commit": output.checked_out},
        )
        return output

    def abandon(self, event: BootstrapEvent, target: Target, context: BootstrapContext) -> None:
        _discard_transfer(context)


def _read_secret(event: BootstrapEvent) -> AppConfig:
    return app_config.read_secret(runtime.client("secretsmanager"), event.secret_name)


def _context(config: AppConfig, key: str | None) -> BootstrapContext:
    return BootstrapContext(transfer_key=key, config_files=config.files, config_captured_at=config.captured_at)


def _discard_transfer(context: TransferContext) -> None:
    """Delete the command's transfer object, every version (``abandon``: never raises)."""
    if context.transfer_key is None:
        return
    try:
        runtime.transfer_objects().delete(context.transfer_key)
    except Exception as exc:  # abandon never raises; the prefix's lifecycle is the backstop
        logger.warning("transfer object not deleted", extra={"key": context.transfer_key, "error": type(exc).__name__})


#: the one instance of each step (steps/catalog.py finds them by name)
DR_CAPTURE_CONFIG = CaptureConfigStep()
DR_BOOTSTRAP = BootstrapStep()
