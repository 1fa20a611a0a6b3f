"""The update's host steps: preflight, schema fingerprint, checkout, deploy (inline or a host job), verify, down,
and the image update's record and pin."""

from __future__ import annotations

import json
import time

from aws_lambda_powertools.metrics import MetricUnit

from freshtrack_ops import runtime
from freshtrack_ops.config import Target
from freshtrack_ops.host_command import HostCommand
from freshtrack_ops.jobs import Mode
from freshtrack_ops.observability import metrics
from freshtrack_ops.ports import CommandResult, HostRunner
from freshtrack_ops.redact import redact
from freshtrack_ops.steps.base import DataStep, HostStep, NoContext, OnEventHost, RunnerTarget
from freshtrack_ops.update import host, images
from freshtrack_ops.update.models import (
    CheckoutEvent,
    CheckoutResult,
    DeployContext,
    DeployEvent,
    DeployResult,
    HostOnlyEvent,
    ImagesRecord,
    PinImagesEvent,
    PinResult,
    SchemaEvent,
    SchemaFingerprint,
    StepDone,
    UpdateEvent,
    UpdatePreflightReport,
    VerifyDeploymentEvent,
    VerifyDeploymentResult,
)

#: where each deployment's output is kept (the bucket's expiring lifecycle removes it with the old backups)
#: deploy-automated.sh's output per update and phase; the stack grants AppDeploy PutObject under exactly this
#: prefix and expires it (stacks/storage_stack.py DEPLOY_LOG_PREFIX, checked equal by tests/infra)
DEPLOY_LOG_PREFIX = "deploy-logs/"


class UpdatePreflightStep(HostStep[UpdateEvent, NoContext, UpdatePreflightReport]):
    name = "update-preflight"
    scripts = ("update_preflight.sh",)
    domain = "update.host"
    model = UpdateEvent
    context_model = NoContext

    def host(self, event: UpdateEvent) -> str:
        return event.plan.host

    def prepare(self, event: UpdateEvent, target: Target, mode: Mode = "inline") -> tuple[HostCommand, NoContext]:
        return host.preflight_command(event.plan, target), NoContext()

    def finish(
        self, event: UpdateEvent, target: Target, context: NoContext, result: CommandResult
    ) -> UpdatePreflightReport:
        return host.read_preflight(event.plan, target, result)


class SchemaStep(OnEventHost, HostStep[SchemaEvent, NoContext, SchemaFingerprint]):
    name = "schema"
    scripts = ("schema_fingerprint.sh",)
    domain = "update.host"
    model = SchemaEvent
    context_model = NoContext

    def prepare(self, event: SchemaEvent, target: Target, mode: Mode = "inline") -> tuple[HostCommand, NoContext]:
        return host.schema_command(target), NoContext()

    def finish(
        self, event: SchemaEvent, target: Target, context: NoContext, result: CommandResult
    ) -> SchemaFingerprint:
        return host.read_schema(target, result)


class CheckoutStep(OnEventHost, HostStep[CheckoutEvent, NoContext, CheckoutResult]):
    name = "checkout"
    scripts = ("app_checkout.sh",)
    domain = "update.host"
    model = CheckoutEvent
    context_model = NoContext

    def prepare(self, event: CheckoutEvent, target: Target, mode: Mode = "inline") -> tuple[HostCommand, NoContext]:
        return host.checkout_command(event, target), NoContext()

    def finish(self, event: CheckoutEvent, target: Target, context: NoContext, result: CommandResult) -> CheckoutResult:
        return host.read_checkout(event, target, result)


class DeployStep(OnEventHost, DataStep[DeployEvent, DeployContext, DeployResult]):
    """scripts/deploy-automated.sh, bounded by the target's ``deploy_timeout_s``: inline when it fits the
    invocation (or the SSM document's hour), a host job otherwise. Its whole output is kept in S3."""

    name = "deploy"
    scripts = ("app_deploy.sh",)
    domain = "update.host"
    model = DeployEvent
    context_model = DeployContext

    def estimate_s(self, event: DeployEvent, target: Target) -> float:
        return float(target.update.assumed_deploy_s)

    def ssm_budget_s(self) -> float:
        from freshtrack_ops.host_scripts.ssm_document import execution_timeout

        return float(execution_timeout("app_deploy.sh"))

    def job_limit_s(self, target: Target) -> float:
        return float(target.update.deploy_timeout_s)

    def stream(self, event: DeployEvent, target: RunnerTarget, runner: HostRunner) -> DeployResult:
        command, context = self.command(event, target)
        return self.interpret(event, target, context, command.run(runner))

    def command(self, event: DeployEvent, target: Target) -> tuple[HostCommand, DeployContext]:
        command = host.deploy_command(target, reset=event.reset, pull_images=event.pull_images)
        return command, DeployContext(started_at=time.time())

    def interpret(
        self, event: DeployEvent, target: Target, context: DeployContext, result: CommandResult
    ) -> DeployResult:
        duration = round(time.time() - context.started_at, 3)
        log_key = f"{DEPLOY_LOG_PREFIX}{event.host}/{event.update_id}/{event.phase}.json"
        log = {
            "host": event.host,
            "update_id": event.update_id,
            "phase": event.phase,
            "reset": event.reset,
            "pull_images": event.pull_images,
            "exit_code": result.exit_code,
            "duration_s": duration,
            "stdout": redact(result.stdout),
            "stderr": redact(result.stderr),
        }
        runtime.store().put_log(log_key, json.dumps(log, indent=2))
        host.check_deploy(target, result)
        return DeployResult(log_key=log_key, duration_s=duration)

    def record_transfer_metrics(self, output: DeployResult) -> None:
        metrics.add_metric(name="DeploySeconds", unit=MetricUnit.Seconds, value=output.duration_s)


class VerifyDeploymentStep(OnEventHost, HostStep[VerifyDeploymentEvent, NoContext, VerifyDeploymentResult]):
    name = "verify-deployment"
    scripts = ("app_verify.sh",)
    domain = "update.host"
    model = VerifyDeploymentEvent
    context_model = NoContext

    def prepare(
        self, event: VerifyDeploymentEvent, target: Target, mode: Mode = "inline"
    ) -> tuple[HostCommand, NoContext]:
        return host.verify_command(target), NoContext()

    def finish(
        self, event: VerifyDeploymentEvent, target: Target, context: NoContext, result: CommandResult
    ) -> VerifyDeploymentResult:
        return host.read_verify(event, target, result)


class DownStep(OnEventHost, HostStep[HostOnlyEvent, NoContext, StepDone]):
    """The manual's rollback step 1: ``docker compose down --timeout 30``."""

    name = "down"
    scripts = ("app_down.sh",)
    domain = "update.host"
    model = HostOnlyEvent
    context_model = NoContext

    def prepare(self, event: HostOnlyEvent, target: Target, mode: Mode = "inline") -> tuple[HostCommand, NoContext]:
        return host.down_command(target), NoContext()

    def finish(self, event: HostOnlyEvent, target: Target, context: NoContext, result: CommandResult) -> StepDone:
        host.check_down(target, result)
        return StepDone()


class ImagesStep(OnEventHost, HostStep[HostOnlyEvent, NoContext, ImagesRecord]):
    """Before an image update: the images the containers run, by registry digest."""

    name = "images"
    scripts = ("app_images.sh",)
    domain = "update.images"
    model = HostOnlyEvent
    context_model = NoContext

    def prepare(self, event: HostOnlyEvent, target: Target, mode: Mode = "inline") -> tuple[HostCommand, NoContext]:
        return images.record_command(target), NoContext()

    def finish(self, event: HostOnlyEvent, target: Target, context: NoContext, result: CommandResult) -> ImagesRecord:
        return images.read_record(target, result)


class PinImagesStep(OnEventHost, HostStep[PinImagesEvent, NoContext, PinResult]):
    """An image update's rollback: the recorded images pinned by digest in the compose override file."""

    name = "pin-images"
    scripts = ("app_images_pin.sh",)
    domain = "update.images"
    model = PinImagesEvent
    context_model = NoContext

    def prepare(self, event: PinImagesEvent, target: Target, mode: Mode = "inline") -> tuple[HostCommand, NoContext]:
        return images.pin_command(event, target), NoContext()

    def finish(self, event: PinImagesEvent, target: Target, context: NoContext, result: CommandResult) -> PinResult:
        return images.read_pin(event, target, result)


#: the one instance of each step (steps/catalog.py finds them by name)
UPDATE_PREFLIGHT = UpdatePreflightStep()
SCHEMA = SchemaStep()
CHECKOUT = CheckoutStep()
DEPLOY = DeployStep()
VERIFY_DEPLOYMENT = VerifyDeploymentStep()
DOWN = DownStep()
IMAGES = ImagesStep()
PIN_IMAGES = PinImagesStep()
