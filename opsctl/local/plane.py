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
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import shutil
import tempfile
import threading
import time
import uuid
import warnings
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
from moto import mock_aws

import state_machines
from freshtrack_ops import runtime
from freshtrack_ops.config import Target, TargetSet
from freshtrack_ops.host_scripts.parameters import SCRIPT_PARAMETERS
from freshtrack_ops.host_scripts.ssm_document import document_content, document_name
from freshtrack_ops.restore.approval import answer_approval
from freshtrack_ops.tasks import TASKS, WORKFLOWS
from opsctl.local import moto_patches, ssm_executor
from opsctl.local.host import LocalHost
from opsctl.local.ops_table import create_ops_table
from opsctl.local.s3_endpoint import LocalS3Endpoint
from opsctl.local.sshd import available as sshd_available

REGION = "us-east-1"
ACCOUNT = "123456789012"
BUCKET = "freshtrack-ops-backups-local"
TABLE = "freshtrack-ops-local"
TARGETS_PARAMETER = "/freshtrack-ops/local/targets"
TOPIC = "freshtrack-ops-local-notifications"
FUNCTION_PREFIX = "ftops-local-"
FINAL_STATUSES = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}
SSM_DOCUMENT_PREFIX = "Local-"
#: how often (and after what pause) a completion event is redelivered when the Lambda raises, like
#: Lambda's asynchronous invocation retries (two retries in AWS; a few more here, with short pauses)
EVENT_RETRY_PAUSES_S = (0.05, 0.2, 0.5, 1.0, 2.0)


def instance_id_for(host: str) -> str:
    """A stable managed-instance id (mi-…) for a local host reached through SSM."""
    return "mi-" + hashlib.sha256(host.encode()).hexdigest()[:17]


@dataclass
class StateRun:
    name: str
    entered: datetime
    exited: datetime | None
    failed: bool = False

    @property
    def duration_s(self) -> float:
        return (self.exited - self.entered).total_seconds() if self.exited else 0.0


@dataclass
class Execution:
    """A finished (or, from ``start``, running) execution as Step Functions reports it."""

    arn: str
    workflow: str
    status: str
    output: dict[str, Any] | None = None
    error: str | None = None
    cause: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    started_at: datetime | None = None
    stopped_at: datetime | None = None

    @property
    def duration_s(self) -> float:
        if self.started_at and self.stopped_at:
            return (self.stopped_at - self.started_at).total_seconds()
        return 0.0

    def states(self) -> list[StateRun]:
        """Each state entered, in order, with its duration (from the execution history)."""
        runs: list[StateRun] = []
        open_runs: dict[str, StateRun] = {}
        for event in self.history:
            kind = event["type"]
            if kind.endswith("StateEntered"):
                name = event["stateEnteredEventDetails"]["name"]
                run = StateRun(name=name, entered=event["timestamp"], exited=None)
                runs.append(run)
                open_runs[name] = run
            elif kind.endswith("StateExited"):
                name = event["stateExitedEventDetails"]["name"]
                if name in open_runs:
                    open_runs.pop(name).exited = event["timestamp"]
            elif kind in ("TaskFailed", "LambdaFunctionFailed") and runs:
                runs[-1].failed = True
        return runs

    def state_names(self) -> list[str]:
        return [run.name for run in self.states()]


class LocalPlane:
    """Embedded AWS + local FreshTrack host(s) with every workflow deployed."""

    def __init__(
        self,
        *,
        root: Path | None = None,
        hosts: tuple[str, ...] = ("demo", "demo-ssm"),
        ssm_hosts: tuple[str, ...] = ("demo-ssm",),
        ssm_aliases: Mapping[str, str] | None = None,
        readings: int = 20_000,
        use_sshd: bool | None = None,
        time_scale: float = 0.0,
        part_size_mb: int = 8,
        log_level: str = "WARNING",
        function_timeouts: Mapping[str, int] | None = None,
        credential_lifetime_s: float | None = None,
        presign_validity_s: int = 900,
        object_lock_days: int | None = None,
    ) -> None:
        """``function_timeouts``: task name -> seconds, instead of the catalog's (Lambda's timeout is enforced:
        a handler still running at it fails with Sandbox.Timedout). ``credential_lifetime_s``: the tasks
        presign with temporary credentials that live this long (renewed at half-life, as a role session is),
        and the S3 endpoint refuses URLs they signed once they have expired (ExpiredToken), whatever the
        URLs' own ``presign_validity_s`` says. ``object_lock_days``: create the backup bucket with S3 Object
        Lock and a default GOVERNANCE retention of this many days, as the storage stack does for the
        deployment config's ``object_lock_days``."""
        self._root_arg = root
        self._host_names = hosts
        self._ssm_hosts = frozenset(ssm_hosts)
        #: extra SSM targets on an existing host's machine (target id -> host name): one machine reachable
        #: over both transports, e.g. to compare them on the same database
        self._ssm_aliases = dict(ssm_aliases or {})
        self._s3_endpoint: LocalS3Endpoint | None = None
        self._event_threads: list[threading.Thread] = []
        self._readings = readings
        self._use_sshd = sshd_available() if use_sshd is None else use_sshd
        self._time_scale = time_scale
        self._part_size_mb = part_size_mb
        self._log_level = log_level
        unknown = sorted(set(function_timeouts or {}) - set(TASKS))
        if unknown:
            raise ValueError(f"function_timeouts: unknown tasks {unknown}")
        self._function_timeouts = dict(function_timeouts or {})
        self._credential_lifetime_s = credential_lifetime_s
        self._presign_validity_s = presign_validity_s
        self._credentials: tuple[str, str, float] | None = None
        self._credentials_lock = threading.Lock()
        self.object_lock_days = object_lock_days
        self._hosts: dict[str, LocalHost] = {}
        self._targets: dict[str, Target] = {}
        self._saved_env: dict[str, str | None] = {}
        self._settings: runtime.Settings | None = None
        self._mock: Any = None
        self._owns_root = root is None
        self.root = Path(root) if root else Path(tempfile.mkdtemp(prefix="ftops-plane-"))
        self.bucket = BUCKET
        self.table = TABLE
        self.topic_arn = ""
        self.notes: list[str] = []
        self._queue_url = ""
        self._notifications: list[dict[str, Any]] = []
        self._state_machines: dict[str, str] = {}

    # -- lifecycle --------------------------------------------------------------------------------
    def __enter__(self) -> LocalPlane:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def transport(self) -> str:
        return "ssh" if self._use_sshd else "local"

    def start(self) -> LocalPlane:
        try:
            self._set_env()
            self._mock = mock_aws(
                config={
                    "stepfunctions": {"execute_state_machine": True},
                    "lambda": {"use_docker": False},
                    "core": {"reset_boto3_session": True},
                }
            )
            self._mock.start()
            moto_patches.install()
            # moto logs every failed state at ERROR; the executions' own history says it better
            logging.getLogger("moto").setLevel(logging.CRITICAL)
            moto_patches.STATE.time_scale = self._time_scale
            # POWERTOOLS_METRICS_DISABLED (no EMF on stdout here) also skips clearing metrics after a flush, so
            # the next invocation in this process re-adds the "host" dimension and powertools warns about it
            warnings.filterwarnings("ignore", message="Dimension '.*' has already been added")
            runtime.reset()
            if not self._use_sshd:
                self.notes.append("sshd is not available here: the local host is reached with the local transport")
            for name in self._host_names:
                self._hosts[name] = LocalHost(
                    self.root / name, name, readings=self._readings, use_sshd=self._use_sshd and not self._is_ssm(name)
                ).start()
            self._create_aws()
            self._start_s3_endpoint()
            self._start_ssm()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self._s3_endpoint is not None:
            ssm_executor.wait_idle(60)
            ssm_executor.remove_listener(self._deliver_command_event)
            for name in self._ssm_target_names():
                ssm_executor.unregister_instance(instance_id_for(name))
            for thread in self._event_threads:
                thread.join(30)
            self._event_threads.clear()
            self._s3_endpoint.stop()
            self._s3_endpoint = None
        runtime.set_presign_credentials(None)
        for host in self._hosts.values():
            host.stop()
        self._hosts.clear()
        for name in list(TASKS):
            moto_patches.STATE.routes.pop(FUNCTION_PREFIX + name, None)
        if self._mock is not None:
            self._mock.stop()
            self._mock = None
        runtime.configure(None)
        self._settings = None
        runtime.reset()
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env.clear()
        if self._owns_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def _is_ssm(self, name: str) -> bool:
        return name in self._ssm_hosts or name in self._ssm_aliases

    def _ssm_target_names(self) -> list[str]:
        return [name for name in self._hosts if self._is_ssm(name)] + list(self._ssm_aliases)

    def _start_ssm(self) -> None:
        """The SSM side: documents, the agent stand-in per SSM host, presigned-URL endpoint, completion events."""
        if not any(self._is_ssm(name) for name in self._hosts) and not self._ssm_aliases:
            return
        ssm_executor.install()
        ssm = self.client("ssm")
        for script in SCRIPT_PARAMETERS:
            ssm.create_document(
                Name=SSM_DOCUMENT_PREFIX + document_name(script),
                Content=json.dumps(document_content(script)),
                DocumentType="Command",
                DocumentFormat="JSON",
            )
        for name in self._ssm_target_names():
            host = self.host(name)
            ssm_executor.register_instance(instance_id_for(name), host.env(), workdir=host.root)
        ssm_executor.add_listener(self._deliver_command_event)

    def _start_s3_endpoint(self) -> None:
        """S3 over HTTP on 127.0.0.1 for the hosts' curl: every SSM transfer, and an SSH transfer too long for
        one invocation (a host job), moves the backup through presigned URLs."""
        # the tasks presign with the plane's credentials (or short-lived ones); the endpoint checks signatures
        credentials = boto3.session.Session().get_credentials()
        secrets = {credentials.access_key: credentials.secret_key} if credentials else {}
        self._s3_endpoint = LocalS3Endpoint(region=REGION, extra_secrets=secrets).start()
        self._configure(presign_endpoint_url=self._s3_endpoint.url)
        if self._credential_lifetime_s is not None:
            runtime.set_presign_credentials(self._temporary_credentials)

    def _temporary_credentials(self) -> tuple[str, str, str | None]:
        """The presigning credentials of the moment: renewed at half their life, like a role session's."""
        assert self._s3_endpoint is not None and self._credential_lifetime_s is not None
        with self._credentials_lock:
            now = time.time()
            if self._credentials is None or now > self._credentials[2] - self._credential_lifetime_s / 2:
                key, secret = self._s3_endpoint.issue_credentials(self._credential_lifetime_s)
                self._credentials = (key, secret, now + self._credential_lifetime_s)
            key, secret, _ = self._credentials
            return key, secret, "local-session-token"

    @contextlib.contextmanager
    def ssm_execution_timeout(self, script: str, seconds: int) -> Iterator[None]:
        """Within the block, the Command document of ``script`` times out after ``seconds`` (a new document
        version made default, as an operator would deploy it); the original version is default again after."""
        content = document_content(script)
        content["mainSteps"][0]["inputs"]["timeoutSeconds"] = str(seconds)
        with self.ssm_document(script, content):
            yield

    @contextlib.contextmanager
    def ssm_document(self, script: str, content: Mapping[str, Any]) -> Iterator[None]:
        """Within the block, the Command document of ``script`` has ``content`` (a new document version made
        default, e.g. an older version of the script); the original version is default again after."""
        ssm = self.client("ssm")
        name = SSM_DOCUMENT_PREFIX + document_name(script)
        original = ssm.describe_document(Name=name)["Document"]["DefaultVersion"]
        version = ssm.update_document(
            Name=name, Content=json.dumps(content), DocumentVersion="$LATEST", DocumentFormat="JSON"
        )["DocumentDescription"]["DocumentVersion"]
        ssm.update_document_default_version(Name=name, DocumentVersion=version)
        try:
            yield
        finally:
            ssm.update_document_default_version(Name=name, DocumentVersion=original)

    def wait_ssm_idle(self, timeout_s: float = 60.0) -> None:
        """Wait until every SSM command has ended and its completion event has been handled."""
        if not ssm_executor.wait_idle(timeout_s):
            raise TimeoutError(f"SSM commands still running after {timeout_s} s")
        for thread in list(self._event_threads):
            thread.join(timeout_s)

    def s3_endpoint_refusals(self) -> list[str]:
        """S3 error codes of every presigned request the local S3 endpoint refused so far, in order."""
        return self._s3_endpoint.refused if self._s3_endpoint is not None else []

    def set_ssm_online(self, host: str, online: bool) -> None:
        """Take the SSM agent of ``host`` offline (ConnectionLost; commands Undeliverable) or back online."""
        ssm_executor.set_online(instance_id_for(host), online)

    def _deliver_command_event(self, event: dict[str, Any]) -> None:
        """The deployed EventBridge rule, locally: the event goes to HostCommandDone asynchronously, and is
        delivered again (a few times) while the Lambda raises, like an asynchronous invocation's retries."""
        if not str(event["detail"].get("document-name", "")).startswith(SSM_DOCUMENT_PREFIX):
            return
        thread = threading.Thread(target=self._invoke_command_done, args=(event,), daemon=True, name="ssm-event")
        self._event_threads = [t for t in self._event_threads if t.is_alive()]
        self._event_threads.append(thread)
        thread.start()

    def _invoke_command_done(self, event: dict[str, Any]) -> None:
        name = FUNCTION_PREFIX + "HostCommandDone"
        arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
        for pause in (0.0, *EVENT_RETRY_PAUSES_S):
            time.sleep(pause)
            _payload, failed = moto_patches.invoke_in_process(name, arn, json.dumps(event))
            if not failed:
                return

    def _set_env(self) -> None:
        # Only what the libraries read from the environment themselves stays there: boto3's credentials and
        # region (moto needs them too) and powertools' own settings. The tasks' Settings go through
        # runtime.configure, never os.environ.
        env = {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "POWERTOOLS_SERVICE_NAME": "freshtrack-ops",
            "POWERTOOLS_METRICS_NAMESPACE": "FreshTrackOps",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": self._log_level,
        }
        for key, value in env.items():
            self._saved_env.setdefault(key, os.environ.get(key))
            os.environ[key] = value
        self._configure()

    def _configure(self, **changes: str) -> None:
        """The tasks' settings (what CDK puts in a deployed function's environment) with ``changes``."""
        base = self._settings or runtime.Settings(
            backup_bucket=BUCKET,
            ops_table=TABLE,
            targets_parameter=TARGETS_PARAMETER,
            part_size_mb=self._part_size_mb,
            ssm_document_prefix=SSM_DOCUMENT_PREFIX,
            ssm_output_prefix="ssm-output",
            presign_validity_s=self._presign_validity_s,
        )
        self._settings = runtime.Settings.model_validate(base.model_dump() | changes)
        runtime.configure(self._settings)

    # -- embedded AWS ---------------------------------------------------------------------------
    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=REGION)  # type: ignore[call-overload]

    @property
    def s3(self) -> Any:
        return self.client("s3")

    @property
    def sfn(self) -> Any:
        return self.client("stepfunctions")

    @property
    def dynamodb(self) -> Any:
        return self.client("dynamodb")

    def _create_aws(self) -> None:
        s3 = self.s3
        s3.create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=self.object_lock_days is not None)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        if self.object_lock_days is not None:
            # what stacks/storage_stack.py deploys: every new object version is retained in GOVERNANCE mode, so
            # S3 demands a checksum on every upload (s3_strict enforces that here)
            s3.put_object_lock_configuration(
                Bucket=BUCKET,
                ObjectLockConfiguration={
                    "ObjectLockEnabled": "Enabled",
                    "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": self.object_lock_days}},
                },
            )
        s3.put_bucket_encryption(
            Bucket=BUCKET,
            ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]
            },
        )
        create_ops_table(self.dynamodb, TABLE)
        sns, sqs = self.client("sns"), self.client("sqs")
        self.topic_arn = sns.create_topic(Name=TOPIC)["TopicArn"]
        self._configure(notification_topic_arn=self.topic_arn)
        self._queue_url = sqs.create_queue(QueueName="ftops-local-notifications")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=self._queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        sns.subscribe(TopicArn=self.topic_arn, Protocol="sqs", Endpoint=queue_arn)

        for name, host in self._hosts.items():
            self._targets[name] = self._target_for(host)
        for alias, name in self._ssm_aliases.items():
            on_host = self._targets[name]
            self._targets[alias] = Target.model_validate(
                on_host.model_dump(include={"app_dir", "docker_bin", "domain", "health_url", "job_dir"})
                | {"id": alias, "transport": "ssm", "instance_id": instance_id_for(alias)}
            )
        self._write_targets()

        role_arn = self.client("iam").create_role(
            RoleName="ftops-local-task-role",
            AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
        )["Role"]["Arn"]
        lambda_client = self.client("lambda")
        arns: dict[str, str] = {}
        for name, task in TASKS.items():
            function_name = FUNCTION_PREFIX + name
            timeout_s = self._function_timeouts.get(name, task.timeout_s)
            arns[name] = lambda_client.create_function(
                FunctionName=function_name,
                Runtime="python3.12",
                Role=role_arn,
                Handler=task.handler,
                Code={"ZipFile": _dummy_zip()},
                Timeout=timeout_s,
                MemorySize=task.memory_mb,
            )["FunctionArn"]
            moto_patches.STATE.routes[function_name] = (task.handler, task.memory_mb, timeout_s)
        values = state_machines.substitutions(arns, self.topic_arn)
        sfn = self.sfn
        for workflow in WORKFLOWS:
            self._state_machines[workflow] = sfn.create_state_machine(
                name=f"ftops-local-{workflow}",
                definition=state_machines.render(workflow, values),
                roleArn=role_arn,
                type="STANDARD",
            )["stateMachineArn"]
        self._configure(test_restore_state_machine_arn=self._state_machines["test-restore"])

    def _target_for(self, host: LocalHost) -> Target:
        common: dict[str, Any] = {
            "id": host.name,
            "app_dir": str(host.app_dir),
            "docker_bin": str(host.docker_bin),
            "domain": f"{host.name}.freshtrack.local",
            "health_url": host.health_url,
            "job_dir": str(host.root / "jobs"),
        }
        if self._is_ssm(host.name):
            return Target(transport="ssm", instance_id=instance_id_for(host.name), **common)
        if host.ssh_port is None:
            return Target(transport="local", **common)
        secret_arn = self.client("secretsmanager").create_secret(
            Name=f"freshtrack-ops/local/{host.name}/ssh-key", SecretString=host.ssh_private_key
        )["ARN"]
        return Target(
            transport="ssh",
            address="127.0.0.1",
            port=host.ssh_port,
            user=host.ssh_user,
            private_key_secret_arn=secret_arn,
            host_public_key=host.ssh_host_public_key,
            connect_timeout_s=5.0,
            **common,
        )

    def _write_targets(self) -> None:
        body = TargetSet(targets=tuple(self._targets.values())).model_dump_json()
        self.client("ssm").put_parameter(Name=TARGETS_PARAMETER, Value=body, Type="String", Overwrite=True)
        runtime.reset()

    def target(self, name: str) -> Target:
        return self._targets[name]

    def update_target(self, name: str, **changes: Any) -> Target:
        """Change a target's configuration as a redeploy would (e.g. pin another host key)."""
        updated = Target.model_validate(self._targets[name].model_dump() | changes)
        self._targets[name] = updated
        self._write_targets()
        return updated

    # -- executions ------------------------------------------------------------------------------
    def host(self, name: str = "demo") -> LocalHost:
        return self._hosts[self._ssm_aliases.get(name, name)]

    def state_machine_arn(self, workflow: str) -> str:
        if workflow not in self._state_machines:
            raise KeyError(f"workflow: unknown {workflow!r} (known: {', '.join(sorted(self._state_machines))})")
        return self._state_machines[workflow]

    def start_execution(self, workflow: str, execution_input: Mapping[str, Any] | str) -> str:
        body = execution_input if isinstance(execution_input, str) else json.dumps(execution_input)
        name = f"{workflow}-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
        arn: str = self.sfn.start_execution(stateMachineArn=self.state_machine_arn(workflow), name=name, input=body)[
            "executionArn"
        ]
        return arn

    def wait(self, execution_arn: str, workflow: str = "", timeout_s: float = 900.0) -> Execution:
        sfn = self.sfn
        deadline = time.monotonic() + timeout_s
        pause = 0.01
        while True:
            described = sfn.describe_execution(executionArn=execution_arn)
            if described["status"] in FINAL_STATUSES:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"execution {execution_arn} still {described['status']} after {timeout_s} s")
            # every poll is a moto call in this process: back off so long executions are not slowed down
            time.sleep(pause)
            pause = min(pause * 1.5, 0.25)
        history = list(_history(sfn, execution_arn))
        output = json.loads(described["output"]) if described.get("output") else None
        return Execution(
            arn=execution_arn,
            workflow=workflow or described.get("stateMachineArn", "").rsplit(":ftops-local-", 1)[-1],
            status=described["status"],
            output=output,
            error=described.get("error"),
            cause=described.get("cause"),
            history=history,
            started_at=described.get("startDate"),
            stopped_at=described.get("stopDate"),
        )

    def run(self, workflow: str, execution_input: Mapping[str, Any] | str, timeout_s: float = 900.0) -> Execution:
        """Start an execution and block until it ends."""
        return self.wait(self.start_execution(workflow, execution_input), workflow, timeout_s)

    def notifications(self) -> list[dict[str, Any]]:
        """Every SNS notification published so far: {"Subject": ..., "Message": ...}."""
        sqs = self.client("sqs")
        while True:
            messages = sqs.receive_message(QueueUrl=self._queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                break
            for message in messages:
                envelope = json.loads(message["Body"])
                self._notifications.append({"Subject": envelope.get("Subject"), "Message": envelope.get("Message")})
                sqs.delete_message(QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"])
        return list(self._notifications)

    def pending_approval(self, execution_arn: str) -> bool:
        item = self.dynamodb.get_item(
            TableName=TABLE, Key={"pk": {"S": f"APPROVAL#{execution_arn}"}, "sk": {"S": "APPROVAL"}}
        ).get("Item")
        return item is not None

    def answer(self, execution_arn: str, *, approve: bool, reason: str = "") -> None:
        """Approve or reject a restore waiting for approval (what `opsctl approve|reject` does)."""
        answer_approval(
            execution_arn, approve=approve, reason=reason, table=TABLE, dynamodb=self.dynamodb, sfn=self.sfn
        )

    def abort(self, execution_arn: str) -> dict[str, Any]:
        """Stop an execution as an operator would, then deliver the status-change event EventBridge would
        send to the lock janitor (moto emits no such events: this is the plane's stand-in for the rule)."""
        sfn = self.sfn
        sfn.stop_execution(executionArn=execution_arn, error="Aborted", cause="aborted by an operator")
        deadline = time.monotonic() + 30
        while (described := sfn.describe_execution(executionArn=execution_arn))["status"] == "RUNNING":
            if time.monotonic() > deadline:
                raise TimeoutError(f"{execution_arn} still RUNNING after stop_execution")
            time.sleep(0.02)
        event = {
            "source": "aws.states",
            "detail-type": "Step Functions Execution Status Change",
            "detail": {
                "executionArn": execution_arn,
                "stateMachineArn": described["stateMachineArn"],
                "status": described["status"],
                "input": described.get("input"),
            },
        }
        name = FUNCTION_PREFIX + "LockJanitor"
        arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
        payload, failed = moto_patches.invoke_in_process(name, arn, json.dumps(event))
        result: dict[str, Any] = json.loads(payload)
        if failed:
            raise RuntimeError(f"lock janitor failed: {result}")
        return result

    def finished_invocations(self, task: str) -> int:
        """How many invocations of the task's Lambda (a ``TASKS`` name) have ended so far."""
        return sum(1 for name, _, _ in moto_patches.STATE.invocations if name == FUNCTION_PREFIX + task)

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        """The execution's events so far (it may still be running)."""
        return list(_history(self.sfn, execution_arn))

    def executions(self, workflow: str) -> list[dict[str, Any]]:
        """Every execution of a workflow so far (newest first), as list_executions reports them."""
        found: list[dict[str, Any]] = self.sfn.list_executions(stateMachineArn=self.state_machine_arn(workflow))[
            "executions"
        ]
        return found

    def lock_item(self, host: str) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self.dynamodb.get_item(
            TableName=TABLE, Key={"pk": {"S": f"LOCK#{host}"}, "sk": {"S": "LOCK"}}
        ).get("Item")
        return item

    def manifest(self, manifest_key: str) -> dict[str, Any]:
        body = self.s3.get_object(Bucket=BUCKET, Key=manifest_key)["Body"].read()
        manifest: dict[str, Any] = json.loads(body)
        return manifest

    def incomplete_uploads(self) -> list[dict[str, Any]]:
        uploads: list[dict[str, Any]] = self.s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])
        return uploads

    def object_keys(self, prefix: str = "backups/") -> list[str]:
        response = self.s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
        return [obj["Key"] for obj in response.get("Contents", [])]


def _history(sfn: Any, execution_arn: str) -> Iterator[dict[str, Any]]:
    token: str | None = None
    while True:
        kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
        if token:
            kwargs["nextToken"] = token
        page = sfn.get_execution_history(**kwargs)
        yield from page["events"]
        token = page.get("nextToken")
        if not token:
            return


def _dummy_zip() -> bytes:
    """moto wants a code package; the code really runs in-process through moto_patches."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("placeholder.py", "# the local plane routes invocations in-process\n")
    return buffer.getvalue()
