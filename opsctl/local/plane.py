"""The embedded local plane: moto as AWS, the real ASL files, in-process Lambda tasks, a local host.

    from opsctl.local import LocalPlane
    with LocalPlane() as plane:
        ex = plane.run("backup", {"host": "demo"})        # over SSH (or the local transport)
        ex = plane.run("backup", {"host": "demo-ssm"})    # over SSM Run Command
        ex.status, ex.output, ex.error, ex.cause, ex.history

Hosts named in ``ssm_hosts`` are reached through SSM: moto's ``send_command`` runs the Command documents on
them (``ssm_executor``), their data path uses presigned URLs served by a local S3 endpoint on 127.0.0.1
(``s3_endpoint``), and each finished command is delivered to the completion Lambda as EventBridge would.

The state machines are created from ``state_machines/*.asl.json`` with ``state_machines.substitutions``
(the same function CDK uses), so what runs here is what deploys.

EC2 ``RunInstances`` from the plane's launch templates (``launch_templates``) boots a blank local host per
instance, reached with ``host(<instance id>)`` and listed by ``hosts()``; ``TerminateInstances`` removes it
(``instances``). Every configured host also is an EC2 instance of its own (``ec2_instances``, its target's
``maintenance.ec2_instance_id``) that a scale stops, resizes and starts: ``set_power_callback`` hears of each stop
and start, ``set_ec2_capacity_fault`` makes a start of one type fail (``ec2_scaling``). Route 53 holds the demo
domain's zone, one A record per target (``dns``, ``dns_records``).

The alert webhook: a local stand-in for its API Gateway HTTP API (``monitoring.bridge``) is always there,
``webhook(name)`` gives its URL with valid credentials (secrets in the plane's Secrets Manager,
``monitoring.credentials``) and ``sign_grafana`` signs a Grafana body. With ``monitoring`` a real Prometheus,
Alertmanager and, per monitored host, Caddy and a backend process run too (``monitoring``, ``plane.monitoring``):
each monitored target's health URL is then its Caddy's (TLS, verified against the plane's CA bundle).

Chat notifications (``LocalPlane(chat=True)``): a Slack-compatible receiver on 127.0.0.1 (``chat_receiver``), its
URL in the chat secret, and ChatNotify subscribed to the topic; SNS delivers to it as AWS does, asynchronously
with the SNS event (``sns_delivery``). ``chat_messages`` is what the receiver took, ``chat_receiver.fail_next``
makes it answer 429/500 for a while, ``chat_dead_letters`` what still failed after Lambda's retries.

A fleet of many targets on few machines: ``ssh_aliases`` and ``ssm_aliases`` (target id -> configured host) add
targets on a host's machine, each a target of its own (its own lock, catalog and ``backups/<id>/`` prefix, the
machine's database and app directory); ``fire_schedules(workflow)`` starts every target's scheduled run at the same
moment with the input its EventBridge Scheduler schedule holds, as when their schedules share a minute
(tests/integration/test_fleet_load.py, docs/fleet-load.md).

The secrets scan (issue 17, ``secrets_scan``, docs/architecture.md "Secrets scan"): with ``secrets_scan`` (by default
when ``FTOPS_SECRETS_SCAN`` names a results directory, as the test session does) the plane records the secrets its
run creates (``secrets_sources.ScanRecorder``), and ``stop`` searches every place the run wrote to for them, writes
the results file and raises ``SecretLeak`` on any hit, after everything is stopped. ``secrets_scan_report()`` runs
the same scan at any time.

``LocalPlane`` is a facade over parts with one job each: ``provisioning`` (AWS resources), ``targets``,
``ssm_side`` and ``presign_endpoint`` (setting up), ``running`` and ``events`` (executions and the
EventBridge rules), ``inspection`` (what tests look at), ``configuration`` (the tasks' settings).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import boto3
from moto import mock_aws

from freshtrack_ops import runtime
from freshtrack_ops.config import Target, TargetSet
from freshtrack_ops.dr.inventory import ServerRecords
from freshtrack_ops.host_scripts.ssm_document import document_name, document_scripts
from freshtrack_ops.models import AsideRecord
from freshtrack_ops.tasks import TASKS
from opsctl.local import dns, ec2_scaling, iam, instances, moto_patches, provisioning, sns_delivery
from opsctl.local.chat_receiver import ChatReceiver
from opsctl.local.configuration import EnvironmentOverlay, TaskSettings, library_environment
from opsctl.local.events import EVENT_RETRY_PAUSES_S, EventRules
from opsctl.local.execution import FINAL_STATUSES, Execution, StateRun
from opsctl.local.host import LocalHost
from opsctl.local.inspection import Inspection
from opsctl.local.instances import ProvisionedHosts
from opsctl.local.monitoring.bridge import WebhookBridge, handler_invoker, lambda_invoker
from opsctl.local.monitoring.credentials import WebhookCredentials
from opsctl.local.monitoring.stack import MonitoringStack
from opsctl.local.names import (
    ACCOUNT,
    BUCKET,
    FUNCTION_PREFIX,
    LAUNCH_TEMPLATE_SSH,
    LAUNCH_TEMPLATE_SSM,
    REGION,
    SSM_DOCUMENT_PREFIX,
    TABLE,
    TARGETS_PARAMETER,
    TOPIC,
    instance_id_for,
)
from opsctl.local.presign_endpoint import PresignEndpoint
from opsctl.local.provisioning import Deployment
from opsctl.local.running import Runner
from opsctl.local.secrets_scan import Report, SecretLeak, results_dir, scan, write_result
from opsctl.local.secrets_sources import (
    ScanRecorder,
    dynamodb_places,
    history_places,
    log_places,
    notification_places,
    s3_places,
    ssm_places,
)
from opsctl.local.sshd import available as sshd_available
from opsctl.local.ssm_side import SsmSide
from opsctl.local.targets import Targets
from stacks.scheduled_runs import schedule_inputs

__all__ = [
    "ACCOUNT",
    "BUCKET",
    "EVENT_RETRY_PAUSES_S",
    "FINAL_STATUSES",
    "FUNCTION_PREFIX",
    "LAUNCH_TEMPLATE_SSH",
    "LAUNCH_TEMPLATE_SSM",
    "REGION",
    "SSM_DOCUMENT_PREFIX",
    "TABLE",
    "TARGETS_PARAMETER",
    "TOPIC",
    "Execution",
    "LocalPlane",
    "StateRun",
    "instance_id_for",
]


class LocalPlane:
    """Embedded AWS + local FreshTrack host(s) with every workflow deployed."""

    def __init__(
        self,
        *,
        root: Path | None = None,
        hosts: tuple[str, ...] = ("demo", "demo-ssm"),
        ssm_hosts: tuple[str, ...] = ("demo-ssm",),
        ssm_aliases: Mapping[str, str] | None = None,
        ssh_aliases: Mapping[str, str] | None = None,
        readings: int = 20_000,
        use_sshd: bool | None = None,
        time_scale: float = 0.0,
        part_size_mb: int = 8,
        log_level: str = "WARNING",
        function_timeouts: Mapping[str, int] | None = None,
        credential_lifetime_s: float | None = None,
        presign_validity_s: int = 900,
        object_lock_days: int | None = None,
        monitoring: bool | tuple[str, ...] = False,
        webhook_handler: Callable[[dict[str, Any], Any], Any] | None = None,
        chat: bool = False,
        secrets_scan: bool | None = None,
    ) -> None:
        """``function_timeouts``: task name -> seconds, instead of the catalog's (Lambda's timeout is enforced:
        a handler still running at it fails with Sandbox.Timedout). ``credential_lifetime_s``: the tasks
        presign with temporary credentials that live this long (renewed at half-life, as a role session is),
        and the S3 endpoint refuses URLs they signed once they have expired (ExpiredToken), whatever the
        URLs' own ``presign_validity_s`` says. ``object_lock_days``: create the backup bucket with S3 Object
        Lock and a default GOVERNANCE retention of this many days, as the storage stack does for the
        deployment config's ``object_lock_days``. ``monitoring``: run the real monitoring stack for every host
        not reached through SSM (True) or for the hosts named (``plane.monitoring``). ``webhook_handler``:
        what the webhook bridge calls with each request's API Gateway event, ``handler(event, context)``,
        instead of the AlertWebhook function (tests capture deliveries with it). ``chat``: chat notifications on,
        to the plane's chat receiver (``chat_messages``). ``secrets_scan``: record the run's secrets and scan for them
        when the plane stops (module docstring); None: when ``FTOPS_SECRETS_SCAN`` is set."""
        unknown = sorted(set(function_timeouts or {}) - set(TASKS))
        if unknown:
            raise ValueError(f"function_timeouts: unknown tasks {unknown}")
        self._host_names = hosts
        self._ssm_hosts = frozenset(ssm_hosts)
        #: extra SSM targets on an existing host's machine (target id -> host name): one machine reachable
        #: over both transports, e.g. to compare them on the same database
        self._ssm_aliases = dict(ssm_aliases or {})
        #: extra SSH targets on an existing SSH host's machine (target id -> host name): the same sshd, login and
        #: app directory under another target id, e.g. a fleet of many targets on a few machines
        self._ssh_aliases = dict(ssh_aliases or {})
        self._check_aliases(hosts)
        self._readings = readings
        self._use_sshd = sshd_available() if use_sshd is None else use_sshd
        self._time_scale = time_scale
        self._log_level = log_level
        self._function_timeouts = dict(function_timeouts or {})
        self.object_lock_days = object_lock_days
        if monitoring is True:
            self._monitored: tuple[str, ...] = tuple(h for h in hosts if h not in self._ssm_hosts)
        else:
            self._monitored = tuple(monitoring or ())
        if set(self._monitored) - set(hosts):
            raise ValueError(f"monitoring: not hosts of this plane: {sorted(set(self._monitored) - set(hosts))}")
        self._owns_root = root is None
        self.root = Path(root) if root else Path(tempfile.mkdtemp(prefix="ftops-plane-"))
        self.bucket = BUCKET
        self.table = TABLE
        self.notes: list[str] = []
        self._mock: Any = None
        self._clients: dict[str, Any] = {}
        self._clients_lock = threading.Lock()
        self._hosts: dict[str, LocalHost] = {}
        self._environment = EnvironmentOverlay()
        self._settings = TaskSettings(part_size_mb=part_size_mb, presign_validity_s=presign_validity_s)
        self._deployment = Deployment()
        self._targets = Targets(self.client)
        self._events = EventRules()
        self._ssm = SsmSide(self.client, self._events.command_finished)
        self._presign = PresignEndpoint(credential_lifetime_s)
        self._bridge = WebhookBridge(
            handler_invoker(webhook_handler) if webhook_handler is not None else lambda_invoker("AlertWebhook")
        )
        self._credentials: WebhookCredentials | None = None
        self._chat = ChatReceiver() if chat else None
        self._monitoring: MonitoringStack | None = None
        #: host -> its EC2 instance (``ec2_scaling``), and who is told when one is stopped or started
        self._ec2_instances: dict[str, str] = {}
        self._power_callback: ec2_scaling.PowerCallback | None = None
        scanning = results_dir() is not None if secrets_scan is None else secrets_scan
        self._scan: ScanRecorder | None = ScanRecorder(self.hosts) if scanning else None
        self._started = False
        self._runner = Runner(self.client, self._deployment, self._events)
        self._inspection = Inspection(self.client, self._deployment)
        self._provisioned = ProvisionedHosts(
            self.root / "instances",
            templates=lambda: set(self._deployment.launch_templates),
            key_pairs=lambda: self._deployment.key_pairs,
            use_sshd=self._use_sshd,
            register_agent=self._ssm.add_instance,
            unregister_agent=self._ssm.remove_instance,
        )

    # -- lifecycle --------------------------------------------------------------------------------
    def __enter__(self) -> LocalPlane:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def transport(self) -> str:
        return "ssh" if self._use_sshd else "local"

    @property
    def topic_arn(self) -> str:
        return self._deployment.topic_arn

    @property
    def key_arn(self) -> str:
        """The backup bucket's SSE-KMS key (the storage stack's ``DataKeyArn``)."""
        return self._deployment.key_arn

    def start(self) -> LocalPlane:
        try:
            if self._scan is not None:
                self._scan.activate()
            self._environment.apply(library_environment(self._log_level))
            self._settings.apply()
            self._start_moto()
            if not self._use_sshd:
                self.notes.append("sshd is not available here: the local host is reached with the local transport")
            for name in self._host_names:
                self._hosts[name] = LocalHost(
                    self.root / name, name, readings=self._readings, use_sshd=self._use_sshd and not self._is_ssm(name)
                ).start()
            self._credentials = WebhookCredentials.create(self.client)
            webhook_url = self._bridge.start()
            if self._monitored:
                self._start_monitoring(webhook_url, self._credentials.token)
            self._deploy()
            if self._chat is not None:
                self._settings.apply(**provisioning.create_chat(self.client, self._deployment, self._chat.start()))
            self._settings.apply(presign_endpoint_url=self._presign.start())
            self._ssm.start({name: self.host(name) for name in self._ssm_target_names()})
            runtime.set_server_layout(self._server_layout)
            if self._scan is not None:
                self._scan.snapshot_hosts()
        except BaseException:
            self.stop()
            raise
        self._started = True
        return self

    def _start_monitoring(self, webhook_url: str, token: str) -> None:
        stack = self._monitoring = MonitoringStack(self.root / "monitoring")
        stack.start(
            {name: self._hosts[name] for name in self._monitored},
            domains={name: Targets.domain_of(name) for name in self._monitored},
            webhook_url=f"{webhook_url}/alertmanager",
            token=token,
        )
        # the tasks fetch the health URLs over TLS with Python's default context (monitoring.stack)
        self._environment.apply({"SSL_CERT_FILE": str(stack.ca_bundle)})

    def _start_moto(self) -> None:
        self._mock = mock_aws(
            config={
                "stepfunctions": {"execute_state_machine": True},
                "lambda": {"use_docker": False},
                "core": {"reset_boto3_session": True},
            }
        )
        self._mock.start()
        moto_patches.install()
        sns_delivery.install()
        sns_delivery.STATE.dead_letters.clear()
        instances.install()
        ec2_scaling.install()
        dns.install()
        instances.STATE.launcher = self._provisioned
        # moto logs every failed state at ERROR; the executions' own history says it better
        logging.getLogger("moto").setLevel(logging.CRITICAL)
        moto_patches.STATE.time_scale = self._time_scale
        runtime.reset()

    def _deploy(self) -> None:
        """What the stacks deploy: storage, notifications, targets, functions and state machines."""
        provisioning.create_storage(self.client, self._deployment, self.object_lock_days)
        provisioning.create_notifications(self.client, self._deployment)
        self._settings.apply(notification_topic_arn=self._deployment.topic_arn)
        self._targets.deploy(
            self._hosts, self._ssm_hosts | self._ssm_aliases.keys(), self._ssm_aliases, self._ssh_aliases
        )
        self._ec2_instances = ec2_scaling.launch_host_instances(self.client, list(self._hosts))
        self._targets.add_scaling(self._ec2_instances, ec2_scaling.LOCAL_ALLOWED_TYPES)
        ec2_scaling.activate(self._on_power, set(self._ec2_instances.values()))
        if self._monitoring is not None:
            for name in self._monitored:
                # Caddy serves the health URL; its internal CA's leaves live 12 hours, so no 30-day minimum (for
                # remediation's certificate check and for the daily check's certificate levels)
                target = self._targets.get(name)
                self._targets.update(
                    name,
                    health_url=self._monitoring.caddy_url(name),
                    remediation=target.remediation.model_copy(
                        update={"certificate_port": self._monitoring.caddy_port(name), "certificate_min_days": 0}
                    ),
                    daily_check=target.daily_check.model_copy(
                        update={"certificate_warning_days": 0, "certificate_critical_days": 0}
                    ),
                )
        provisioning.create_replacement_templates(self.client, self._deployment)
        # every local host listens on the loopback address (each on its own ports)
        self._deployment.hosted_zone_id = dns.create_zone(
            self.client, {target.domain: "127.0.0.1" for target in self._targets.all()}
        )
        self._targets.add_disaster_recovery(
            self._deployment, {name: self.host(name).ssh_user for name in [*self._hosts, *self._ssh_aliases]}
        )
        provisioning.create_workflows(self.client, self._deployment, self._function_timeouts)
        self._settings.apply(test_restore_state_machine_arn=self._deployment.state_machine_arn("test-restore"))
        if self._credentials is not None:
            self._settings.apply(**self._credentials.task_settings(self._deployment.state_machine_arn("remediation")))
        self.reload_task_policies()

    def reload_task_policies(self) -> None:
        """Each task runs with its role's policy, as CDK builds it for the plane's resources from ``TASKS``
        (opsctl/local/iam.py); built at start, and again here after a test changed a task's grants."""
        iam.STATE.enforcer = iam.build_enforcer(
            key_arn=self._deployment.key_arn,
            topic_arn=self._deployment.topic_arn,
            targets=self._targets.all(),
            document_names=[SSM_DOCUMENT_PREFIX + document_name(script) for script in document_scripts()],
            state_machines=self._deployment.state_machines,
            object_lock=self.object_lock_days is not None,
        )

    def stop(self) -> None:
        """Stop everything; with the secrets scan on (and the plane fully started), scan before the hosts and the
        embedded AWS go, and raise ``SecretLeak`` after everything has stopped if it found anything."""
        if self._presign.started:
            self._ssm.stop()
            self._events.close()
        self._presign.stop()
        self._bridge.stop()
        sns_delivery.wait_delivered(30)
        if self._chat is not None:
            self._chat.stop()
        monitoring, self._monitoring = self._monitoring, None
        if monitoring is not None:
            monitoring.stop()
        report = self._final_scan()
        runtime.set_server_layout(None)
        ec2_scaling.deactivate()
        self._provisioned.stop()
        instances.STATE.launcher = None
        for host in self._hosts.values():
            host.stop()
        self._hosts.clear()
        provisioning.remove_function_routes()
        iam.STATE.enforcer = None
        if self._mock is not None:
            self._mock.stop()
            self._mock = None
        self._clients.clear()
        self._settings.clear()
        runtime.reset()
        self._environment.restore()
        if self._owns_root:
            shutil.rmtree(self.root, ignore_errors=True)
        if report is not None and not report.ok:
            raise SecretLeak(report)

    def _final_scan(self) -> Report | None:
        """The scan at stop (once): its results file written where ``FTOPS_SECRETS_SCAN`` says; the recorder is
        deactivated whatever happens."""
        recorder, self._scan = self._scan, None
        if recorder is None:
            return None
        try:
            if not self._started:
                return None
            report = self._scan_with(recorder)
            directory = results_dir()
            if directory is not None:
                write_result(report, directory)
            return report
        finally:
            recorder.deactivate()

    def secrets_scan_report(self) -> Report:
        """Scan now for every secret the run created so far, in every place (docs/architecture.md, "Secrets
        scan"); needs the plane's secrets scan on (``LocalPlane(secrets_scan=True)`` or ``FTOPS_SECRETS_SCAN``)."""
        if self._scan is None or not self._started:
            raise RuntimeError("secrets scan: the plane records no secrets (LocalPlane(secrets_scan=True))")
        return self._scan_with(self._scan)

    def _scan_with(self, recorder: ScanRecorder) -> Report:
        began = time.monotonic()
        label = os.environ.get("PYTEST_CURRENT_TEST", "").split("::", 1)[0] or self.root.name
        errors = list(recorder.errors)
        try:
            secrets = recorder.secrets(self.client)
        except Exception as exc:  # without the secrets nothing can be scanned: that fails the scan
            secrets = []
            errors.append(f"collecting the secrets failed: {type(exc).__name__}")
        places = itertools.chain(
            history_places(self.client, ACCOUNT, REGION),
            log_places(recorder.log_lines()),
            recorder.passing_places(),
            notification_places(self.notifications(), self.chat_messages, self.chat_dead_letters),
            s3_places(ACCOUNT),
            dynamodb_places(self.client),
            ssm_places(self.client, ACCOUNT, REGION),
        )
        report = scan(label, secrets, places, errors)
        report.seconds = time.monotonic() - began  # the whole scan: the secrets' collection too
        return report

    def _check_aliases(self, hosts: tuple[str, ...]) -> None:
        """Every alias names a host of this plane (an SSH alias: one reached over SSH) and no target id twice."""
        ssh_on_ssm = sorted(alias for alias, name in self._ssh_aliases.items() if name in self._ssm_hosts)
        if ssh_on_ssm:
            raise ValueError(f"ssh_aliases: {ssh_on_ssm} name hosts reached through SSM (no sshd to share)")
        for option, aliases in (("ssm_aliases", self._ssm_aliases), ("ssh_aliases", self._ssh_aliases)):
            unknown = sorted(alias for alias, name in aliases.items() if name not in hosts)
            if unknown:
                raise ValueError(f"{option}: {unknown} name no host of this plane (hosts: {', '.join(hosts)})")
        ids = [*hosts, *self._ssm_aliases, *self._ssh_aliases]
        repeated = sorted({name for name in ids if ids.count(name) > 1})
        if repeated:
            raise ValueError(f"target ids configured twice: {repeated}")

    def _is_ssm(self, name: str) -> bool:
        return name in self._ssm_hosts or name in self._ssm_aliases

    def _ssm_target_names(self) -> list[str]:
        return [name for name in self._hosts if self._is_ssm(name)] + list(self._ssm_aliases)

    # -- embedded AWS and configuration -------------------------------------------------------------
    def client(self, service: str) -> Any:
        """The embedded AWS's client for ``service``, one per plane (creating one parses botocore's JSON models
        again: the plane's and tests' polls made new ones for every call)."""
        with self._clients_lock:
            found = self._clients.get(service)
            if found is None:
                found = self._clients[service] = boto3.client(service, region_name=REGION)  # type: ignore[call-overload]
            return found

    @property
    def s3(self) -> Any:
        return self.client("s3")

    @property
    def sfn(self) -> Any:
        return self.client("stepfunctions")

    @property
    def dynamodb(self) -> Any:
        return self.client("dynamodb")

    def host(self, name: str = "demo") -> LocalHost:
        """A configured host by name (an SSM or SSH alias: the host it runs on), or a launched instance's host by
        its instance id (``i-...``)."""
        name = self._ssm_aliases.get(name, self._ssh_aliases.get(name, name))
        if name in self._hosts:
            return self._hosts[name]
        provisioned = self._provisioned.hosts()
        if name in provisioned:
            return provisioned[name]
        raise KeyError(f"host: unknown {name!r} (known: {', '.join(sorted(self.hosts()))})")

    def _server_layout(self, server: str) -> dict[str, Any]:
        """Where a launched instance's host really is (``runtime.set_server_layout``): every local host listens on
        127.0.0.1 at its own ports and lives in its own directories; on EC2 the instance's address and the
        primary's layout are right as they are."""
        host = self._provisioned.hosts().get(server)
        if host is None:
            return {}
        layout: dict[str, Any] = {
            "app_dir": str(host.app_dir),
            "docker_bin": str(host.docker_bin),
            "job_dir": str(host.root / "jobs"),
            "health_url": host.health_url,
        }
        if host.ssh_port is not None:
            layout |= {"address": "127.0.0.1", "port": host.ssh_port}
        return layout

    def hosts(self) -> dict[str, LocalHost]:
        """Every host running now: the configured ones by name, then the ones ``RunInstances`` launched from
        the plane's templates by instance id (a terminated instance's host is gone)."""
        return dict(self._hosts) | self._provisioned.hosts()

    @property
    def launch_templates(self) -> dict[str, str]:
        """The launch templates replacement hosts are launched from (name -> id): ``LAUNCH_TEMPLATE_SSH``'s
        instances run sshd and authorize the key pair whose private key is in ``key_pair_secret_arn``,
        ``LAUNCH_TEMPLATE_SSM``'s run the SSM agent (opsctl/local/instances.py)."""
        return dict(self._deployment.launch_templates)

    @property
    def key_pair_secret_arn(self) -> str:
        return self._deployment.key_pair_secret_arn

    @property
    def hosted_zone_id(self) -> str:
        """The demo domain's Route 53 hosted zone (``dns.DEMO_ZONE``): an A record per target's domain."""
        return self._deployment.hosted_zone_id

    def dns_records(self, domain: str) -> list[str]:
        """The current values of ``domain``'s A record in the demo zone ([] when it has none)."""
        with iam.plane_calls():
            return dns.record_values(self.client, self._deployment.hosted_zone_id, domain)

    def dr_history(self, host: str) -> list[dict[str, Any]]:
        """``host``'s disaster recoveries and drills as recorded (RTO, RPO, phases, outcome), newest first."""
        with iam.plane_calls():
            return self._inspection.dr_history(host)

    def servers(self) -> ServerRecords:
        """Replacements being bootstrapped, promotions and retired servers (what disaster recoveries changed)."""
        with iam.plane_calls():
            return self._inspection.servers()

    def inventory(self) -> TargetSet:
        """The targets as the tasks see them now: the configuration with the promotions applied."""
        with iam.plane_calls():
            return runtime.targets()

    def target(self, name: str) -> Target:
        return self._targets.get(name)

    def update_target(self, name: str, **changes: Any) -> Target:
        """Change a target's configuration as a redeploy would (e.g. pin another host key)."""
        return self._targets.update(name, **changes)

    def state_machine_arn(self, workflow: str) -> str:
        return self._deployment.state_machine_arn(workflow)

    @contextlib.contextmanager
    def ssm_execution_timeout(self, script: str, seconds: int) -> Iterator[None]:
        """Within the block, the Command document of ``script`` times out after ``seconds`` (a new document
        version made default, as an operator would deploy it); the original version is default again after."""
        with self._ssm.execution_timeout(script, seconds):
            yield

    @contextlib.contextmanager
    def ssm_document(self, script: str, content: Mapping[str, Any]) -> Iterator[None]:
        """Within the block, the Command document of ``script`` has ``content`` (a new document version made
        default, e.g. an older version of the script); the original version is default again after."""
        with self._ssm.document(script, content):
            yield

    # -- EC2 scaling ---------------------------------------------------------------------------------
    def ec2_instance_id(self, host: str) -> str:
        """The EC2 instance of a configured host (its target's ``maintenance.ec2_instance_id``)."""
        if host not in self._ec2_instances:
            raise KeyError(f"host: no EC2 instance for {host!r} (known: {', '.join(sorted(self._ec2_instances))})")
        return self._ec2_instances[host]

    @property
    def ec2_instances(self) -> dict[str, str]:
        """Every configured host's EC2 instance (host -> instance id): running from the plane's start, never
        terminated by it, so not a launched server."""
        return dict(self._ec2_instances)

    def set_power_callback(self, callback: ec2_scaling.PowerCallback | None) -> None:
        """``callback(instance_id, on)`` after StopInstances (False) or StartInstances (True) changed the state of a
        host's instance (``ec2_instance_id``); None: nobody is told."""
        self._power_callback = callback

    def set_ec2_capacity_fault(self, instance_type: str | None) -> None:
        """StartInstances of an instance of ``instance_type`` fails with InsufficientInstanceCapacity and leaves it
        stopped (None: EC2 has capacity again)."""
        with ec2_scaling.STATE.lock:
            ec2_scaling.STATE.capacity_fault = instance_type

    def _on_power(self, instance_id: str, on: bool) -> None:
        """A host's instance stopped or started: its local host powers off or on (services, sshd, the SSM agent),
        then the test's callback hears of it."""
        for name, instance in self._ec2_instances.items():
            if instance == instance_id:
                host = self._hosts[name]
                host.power_on() if on else host.power_off()
        callback = self._power_callback
        if callback is not None:
            callback(instance_id, on)

    def set_ssm_online(self, host: str, online: bool) -> None:
        """Take the SSM agent of ``host`` offline (ConnectionLost; commands Undeliverable) or back online."""
        self._ssm.set_online(host, online)

    # -- executions ------------------------------------------------------------------------------
    def start_execution(self, workflow: str, execution_input: Mapping[str, Any] | str) -> str:
        return self._runner.start_execution(workflow, execution_input)

    def fire_schedules(self, workflow: str, targets: Iterable[str] | None = None) -> dict[str, str]:
        """What EventBridge Scheduler does when the ``workflow`` schedules of many targets come due in the same minute
        (EventBridge Scheduler never fires here): one StartExecution per target with the input its schedule holds
        (``stacks.scheduled_runs.schedule_inputs``, from which the control-plane stack writes each schedule's
        ``Input``), all released at the same moment, one thread each. ``targets``: only these (each must have such
        a schedule); default: every target that has one. A flexible time window is not waited out: every run starts
        at the window's opening, the most load at once. Target id -> execution ARN (``wait`` for each)."""
        scheduled = schedule_inputs(workflow, self._targets.all())
        chosen = list(scheduled) if targets is None else list(targets)
        unscheduled = sorted(set(chosen) - set(scheduled))
        if unscheduled:
            raise KeyError(f"targets: no {workflow} schedule for {unscheduled} (scheduled: {', '.join(scheduled)})")
        return self._runner.start_together(workflow, {target: scheduled[target] for target in chosen})

    def wait(self, execution_arn: str, workflow: str = "", timeout_s: float = 900.0) -> Execution:
        return self._runner.wait(execution_arn, workflow, timeout_s)

    def run(self, workflow: str, execution_input: Mapping[str, Any] | str, timeout_s: float = 900.0) -> Execution:
        """Start an execution and block until it ends."""
        return self._runner.run(workflow, execution_input, timeout_s)

    def abort(self, execution_arn: str) -> dict[str, Any]:
        """Stop an execution as an operator would, then deliver the status-change event EventBridge would
        send to the lock janitor (moto emits no such events: this is the plane's stand-in for the rule)."""
        return self._runner.abort(execution_arn)

    def answer(self, execution_arn: str, *, approve: bool, reason: str = "") -> None:
        """Approve or reject a restore waiting for approval (what `opsctl approve|reject` does)."""
        self._runner.answer(execution_arn, approve=approve, reason=reason)

    def wait_ssm_idle(self, timeout_s: float = 60.0) -> None:
        """Wait until every SSM command has ended and its completion event has been handled."""
        if not self._ssm.wait_idle(timeout_s):
            raise TimeoutError(f"SSM commands still running after {timeout_s} s")
        self._events.wait_delivered(timeout_s)

    def wait_idle(self, timeout_s: float = 120.0) -> None:
        """Wait until nothing runs: no webhook request in the bridge, no execution of any workflow running, no Lambda
        invocation in flight (a task of an execution that already ended may still run), every SSM command ended and
        its completion handled (checked again after each wait: one may start another)."""
        deadline = time.monotonic() + timeout_s
        while True:
            if not self._bridge.wait_idle(max(0.0, deadline - time.monotonic())):
                raise TimeoutError(f"webhook requests still in flight after {timeout_s} s")
            running = self._running_workflows()
            if moto_patches.invocations_in_flight() or sns_delivery.in_flight():
                running.append("lambda invocations")
            if not running:
                self.wait_ssm_idle(max(0.1, deadline - time.monotonic()))
                if (
                    self._bridge.wait_idle(0)
                    and not self._running_workflows()
                    and not moto_patches.invocations_in_flight()
                    and not sns_delivery.in_flight()
                ):
                    return
            if time.monotonic() > deadline:
                raise TimeoutError(f"executions still running after {timeout_s} s: {', '.join(running) or 'late ones'}")
            time.sleep(0.05)

    def _running_workflows(self) -> list[str]:
        with iam.plane_calls():
            return [
                workflow
                for workflow, arn in self._deployment.state_machines.items()
                if self.sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING", maxResults=1)["executions"]
            ]

    # -- alert webhook and monitoring ---------------------------------------------------------------------
    def webhook(self, name: str) -> tuple[str, dict[str, str]]:
        """The URL of the webhook route ``name`` (``alertmanager`` or ``grafana``) and headers with valid
        credentials: Alertmanager's bearer token; for Grafana everything but the per-body signature
        (``sign_grafana``)."""
        credentials = self._webhook_credentials()
        if name == "alertmanager":
            return f"{self._bridge.url}/alertmanager", credentials.alertmanager_headers()
        if name == "grafana":
            return f"{self._bridge.url}/grafana", {"Content-Type": "application/json"}
        raise KeyError(f"webhook: unknown {name!r} (known: alertmanager, grafana)")

    def sign_grafana(self, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        """Grafana's signature and timestamp headers for ``body`` (hex HMAC-SHA256 over ``timestamp:body`` with the
        plane's key; ``timestamp``: now unless given, in Unix seconds), named as ``WebhookSettings`` says."""
        return self._webhook_credentials().sign_grafana(body, timestamp)

    def _webhook_credentials(self) -> WebhookCredentials:
        if self._credentials is None:
            raise RuntimeError("LocalPlane is not started")
        return self._credentials

    @property
    def monitoring(self) -> MonitoringStack:
        """The monitoring stack (``LocalPlane(monitoring=...)``): prometheus_url, alertmanager_url,
        caddy_url(host), active_alerts(), prometheus_alerts(), wait_alert(name, ...)."""
        if self._monitoring is None:
            raise RuntimeError("monitoring: the plane runs no monitoring stack (LocalPlane(monitoring=True))")
        return self._monitoring

    @property
    def webhook_answers(self) -> list[tuple[str, int]]:
        """(route path, HTTP status) of every request the webhook bridge answered, in order."""
        return list(self._bridge.answered)

    # -- chat notifications -----------------------------------------------------------------------
    @property
    def chat_receiver(self) -> ChatReceiver:
        """The plane's Slack-compatible receiver (``LocalPlane(chat=True)``): ``fail_next(status, count)``,
        ``answers``, ``clear()``."""
        if self._chat is None:
            raise RuntimeError("chat: the plane has no chat receiver (LocalPlane(chat=True))")
        return self._chat

    @property
    def chat_messages(self) -> list[dict[str, Any]]:
        """What the chat receiver took so far (each a Slack message: ``{"text": ...}``), in order."""
        return list(self._chat.messages) if self._chat is not None else []

    @property
    def chat_dead_letters(self) -> list[sns_delivery.DeadLetter]:
        """Messages SNS delivered to a subscribed function that still failed after Lambda's two retries."""
        return list(sns_delivery.STATE.dead_letters)

    # -- inspection ------------------------------------------------------------------------------
    def notifications(self) -> list[dict[str, Any]]:
        """Every SNS notification published so far: {"Subject": ..., "Message": ...}."""
        return self._inspection.notifications()

    def pending_approval(self, execution_arn: str) -> bool:
        return self._inspection.pending_approval(execution_arn)

    def asides(self, host: str) -> list[AsideRecord]:
        """The catalog's aside databases of ``host`` (restores by swap, docs/restore-swap.md), oldest first."""
        from freshtrack_ops.adapters.dynamo import DynamoAsideCatalog

        return DynamoAsideCatalog(self.dynamodb, self.table).asides(host)

    def drop_asides(self, host: str) -> None:
        """Drop what restores by swap left aside on ``host`` now (a whole copy of the database each) and forget
        their records: what drop-asides does once they are due, for tests and benchmarks that cannot wait."""
        from freshtrack_ops.adapters.dynamo import DynamoAsideCatalog

        catalog = DynamoAsideCatalog(self.dynamodb, self.table)
        for record in self.asides(host):
            self.host(host).sql(f'DROP DATABASE IF EXISTS "{record.name}" WITH (FORCE)', db="postgres")
            catalog.forget_aside(record.host, record.name)

    def lock_item(self, host: str) -> dict[str, Any] | None:
        return self._inspection.lock_item(host)

    def manifest(self, manifest_key: str) -> dict[str, Any]:
        return self._inspection.manifest(manifest_key)

    def incomplete_uploads(self) -> list[dict[str, Any]]:
        return self._inspection.incomplete_uploads()

    def object_keys(self, prefix: str = "backups/") -> list[str]:
        return self._inspection.object_keys(prefix)

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        """The execution's events so far (it may still be running)."""
        return self._inspection.history(execution_arn)

    def executions(self, workflow: str) -> list[dict[str, Any]]:
        """Every execution of a workflow so far (newest first), as list_executions reports them."""
        return self._inspection.executions(workflow)

    def finished_invocations(self, task: str) -> int:
        """How many invocations of the task's Lambda (a ``TASKS`` name) have ended so far."""
        return self._inspection.finished_invocations(task)

    def take_iam_denials(self) -> list[str]:
        """Every call of a task its role's policy refused since the last take (and forget them)."""
        denials = list(iam.STATE.denials)
        iam.STATE.denials.clear()
        return denials

    def s3_endpoint_refusals(self) -> list[str]:
        """S3 error codes of every presigned request the local S3 endpoint refused so far, in order."""
        return self._presign.refusals()
