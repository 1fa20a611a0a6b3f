"""The local plane enforces each task's IAM policy: a call its deployed role would not allow fails as in AWS.

moto itself authorizes nothing (every call of every handler would pass with the plane's credentials), so a
task missing a grant would pass every test and fail once deployed. Here, while a task's handler runs
in-process (``running_task``, set by ``moto_patches.invoke_in_process``), every botocore API call it makes
(``BaseClient._make_api_call``, which every client call, paginator and waiter goes through) is mapped to the
IAM authorizations it needs (``iam_actions``) and evaluated against the task role's policy
(``iam_policy``); a denied call raises the ``ClientError`` AWS returns, before moto sees it.

The policy of a task is what CDK deploys: the JSON of the statements ``stacks.function_factory`` builds from
``LambdaTask.grants`` (``grant_statements``) plus the late grants the control plane stack adds
(``late_grant_statements``: test-restore and remediation starts, task callbacks), with a ``FunctionResources``
made of the plane's own ARNs. The alert webhook's secrets are granted by name (``WEBHOOK_SECRET_NAMES``, the
stack's names for deployment ``local``): the plane creates them in moto under those names. Importing aws_cdk
costs a second or two: done once per process, at the first plane.

Also covered:

* presigned URLs: minting one makes no API call, but S3 authorizes the request it signs as the task role when
  the URL is used; the plane checks the presigned operation against the role at presign time (the URL would
  be refused with 403 AccessDenied by S3 otherwise), so a task cannot hand a host a URL its role may not use;
* SSE-KMS: the plane's bucket is encrypted with a KMS key (as the storage stack's), so S3 reads and writes
  of objects also need ``kms:Decrypt`` / ``kms:GenerateDataKey`` on that key (``iam_actions``);
* threads a task's own code starts (``freshtrack_ops`` modules: the part uploader, channel feeders) run as
  the task, as Lambda's one process does; threads of moto and the plane never inherit the task.

Not covered (docs/architecture.md, "IAM in the local plane"): the roles of the state machines, scheduler and
SSM hosts; resource policies; KMS use by DynamoDB/SNS/SSM on the service's behalf; CloudWatch Logs and X-Ray
writes (Lambda's runtime makes them, not the code).
"""

from __future__ import annotations

import collections
import contextlib
import contextvars
import functools
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from freshtrack_ops import tasks
from opsctl.local.iam_actions import Lookup, requests_for
from opsctl.local.iam_policy import Decision, Policy, Request
from opsctl.local.names import ACCOUNT, BUCKET, REGION, TABLE, TARGETS_PARAMETER, function_name
from stacks.chat_names import chat_secret_name
from stacks.webhook_names import WEBHOOK_SOURCES, webhook_secret_arn_pattern, webhook_secret_name

if TYPE_CHECKING:
    from freshtrack_ops.config import Target
    from stacks.function_factory import FunctionResources

#: the deployment name the plane's secrets carry (``freshtrack-ops/local/...``, as ``names.KEY_PAIR_SECRET``)
PLANE_DEPLOYMENT = "local"
#: the webhook's secrets as the plane must create them (source -> name), granted to ``webhook-secrets`` tasks
WEBHOOK_SECRET_NAMES = {source: webhook_secret_name(PLANE_DEPLOYMENT, source) for source in WEBHOOK_SOURCES}

#: the function whose handler runs in this context (None: the plane, moto, the tests)
_TASK: contextvars.ContextVar[str | None] = contextvars.ContextVar("ftops_iam_task", default=None)
#: set for the plane's own calls made from within a task's context (the escape; never for a task's calls)
_PLANE: contextvars.ContextVar[bool] = contextvars.ContextVar("ftops_iam_plane", default=False)


class Enforcer:
    """The task roles of one plane: function name -> policy."""

    def __init__(self, policies: Mapping[str, Policy], lookup: Lookup) -> None:
        self._policies = dict(policies)
        self._lookup = lookup

    def check(self, function: str, service: str, operation: str, params: Mapping[str, Any]) -> None:
        """Raise the ClientError AWS answers when ``function``'s role may not make this call."""
        policy = self._policies.get(function)
        if policy is None:
            raise LookupError(f"function: no IAM policy modelled for {function!r}")
        requests = requests_for(service, operation, params, self._lookup)
        STATE.checked.update(f"{function} {request.action}" for request in requests)
        denied = policy.denied(requests)
        if denied is not None:
            error = access_denied(function, service, operation, *denied)
            # kept: code may catch a denial and go on (a 403 taken for "missing"); the tests see every one
            STATE.denials.append(str(error))
            raise error


def role_name(function: str) -> str:
    return f"{function}-role"


def access_denied(function: str, service: str, operation: str, request: Request, decision: Decision) -> ClientError:
    """AWS's answer: S3 ``AccessDenied`` (403; a HEAD has no body: ``403``/``Forbidden``), SNS
    ``AuthorizationError`` (403), the JSON services ``AccessDeniedException`` (400), with IAM's message."""
    why = (
        "with an explicit deny in an identity-based policy"
        if decision is Decision.EXPLICIT_DENY
        else f"because no identity-based policy allows the {request.action} action"
    )
    message = (
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/{role_name(function)}/{function} is not authorized to perform: "
        f"{request.action} on resource: {request.resource} {why}"
    )
    code, status = {"s3": ("AccessDenied", 403), "sns": ("AuthorizationError", 403)}.get(
        service, ("AccessDeniedException", 400)
    )
    if operation in {"HeadObject", "HeadBucket"}:
        code, message = "403", "Forbidden"
    response: Any = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(response, operation)


@dataclass
class _State:
    enforcer: Enforcer | None = None
    installed: bool = False
    #: every denial so far ("An error occurred (AccessDenied) when calling ...: User: ... is not authorized ...")
    denials: list[str] = field(default_factory=list)
    #: "<function> <action>" -> how many authorizations were evaluated (what the tests exercised)
    checked: collections.Counter[str] = field(default_factory=collections.Counter)


STATE = _State()
_install_lock = threading.Lock()


@contextlib.contextmanager
def running_task(function: str) -> Iterator[None]:
    """Within the block, API calls are the calls of ``function`` (checked against its role)."""
    token = _TASK.set(function)
    try:
        yield
    finally:
        _TASK.reset(token)


@contextlib.contextmanager
def plane_calls() -> Iterator[None]:
    """Within the block, calls are the plane's own (unchecked), even inside a task's context."""
    token = _PLANE.set(True)
    try:
        yield
    finally:
        _PLANE.reset(token)


def current_task() -> str | None:
    return None if _PLANE.get() else _TASK.get()


def _check(service: str, operation: str, params: Mapping[str, Any]) -> None:
    function, enforcer = current_task(), STATE.enforcer
    if function is not None and enforcer is not None:
        enforcer.check(function, service, operation, params)


def _checked_api_call(original: Callable[..., Any]) -> Callable[..., Any]:
    def make_api_call(self: Any, operation_name: str, api_params: Mapping[str, Any]) -> Any:
        _check(self.meta.service_model.service_name, operation_name, api_params)
        return original(self, operation_name, api_params)

    return make_api_call


def _checked_presign(original: Callable[..., Any]) -> Callable[..., Any]:
    def generate_presigned_url(self: Any, ClientMethod: str, Params: Any = None, *args: Any, **kwargs: Any) -> Any:  # noqa: N803 - botocore's names
        _check(self.meta.service_model.service_name, self._PY_TO_OP_NAME[ClientMethod], Params or {})
        return original(self, ClientMethod, Params, *args, **kwargs)

    return generate_presigned_url


def _inherits_task(thread: threading.Thread) -> bool:
    """A thread the task's own code starts (not moto's, paramiko's or the plane's)."""
    target = getattr(thread, "_target", None)
    module = getattr(target, "__module__", None) or type(thread).__module__
    return module.startswith("freshtrack_ops.")


def _task_threads(original: Callable[[threading.Thread], None]) -> Callable[[threading.Thread], None]:
    """Python 3.14's ``thread_inherit_context`` for the task's own threads: they run as the task."""

    def start(self: threading.Thread) -> None:
        if _TASK.get() is not None and _inherits_task(self):
            context, run = contextvars.copy_context(), self.run
            self.run = lambda: context.run(run)  # type: ignore[method-assign]
        original(self)

    return start


def install() -> None:
    """Patch botocore (calls and presigning) and threading once per process; inert while no task runs."""
    with _install_lock:
        if STATE.installed:
            return
        import botocore.client
        import botocore.signers

        base: Any = botocore.client.BaseClient
        base._make_api_call = _checked_api_call(base._make_api_call)
        # bound onto each client class when it is created (``add_generate_presigned_url``): clients created
        # from now on (the plane resets the tasks' cached clients when it starts) get the checked one
        botocore.signers.generate_presigned_url = _checked_presign(botocore.signers.generate_presigned_url)
        thread_class: Any = threading.Thread
        thread_class.start = _task_threads(threading.Thread.start)
        STATE.installed = True


# -- the plane's policies ------------------------------------------------------------------------------------
class PlaneLookup:
    """``iam_actions.Lookup`` on the plane's moto."""

    def __init__(self, bucket_keys: Mapping[str, str]) -> None:
        self._bucket_keys = dict(bucket_keys)
        self._partition_keys: dict[tuple[str, str | None], str] = {}

    def bucket_key_arn(self, bucket: str) -> str | None:
        return self._bucket_keys.get(bucket)

    def secret_arn(self, secret_id: str) -> str:
        if secret_id.startswith("arn:"):
            return secret_id
        import boto3

        with plane_calls():
            arn: str = boto3.client("secretsmanager", region_name=REGION).describe_secret(SecretId=secret_id)["ARN"]
        return arn

    def launch_template(self, spec: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]]:
        import boto3

        ec2 = boto3.client("ec2", region_name=REGION)
        named = (
            {"LaunchTemplateId": spec["LaunchTemplateId"]}
            if "LaunchTemplateId" in spec
            else {"LaunchTemplateName": spec["LaunchTemplateName"]}
        )
        with plane_calls():
            version = ec2.describe_launch_template_versions(**named, Versions=[str(spec.get("Version", "$Default"))])[
                "LaunchTemplateVersions"
            ][0]
        arn = f"arn:aws:ec2:{REGION}:{ACCOUNT}:launch-template/{version['LaunchTemplateId']}"
        return arn, version["LaunchTemplateData"]

    def instance_profile_role(self, profile: Mapping[str, Any]) -> str | None:
        import boto3

        name = str(profile.get("Name") or str(profile["Arn"]).rsplit("/", 1)[-1])
        with plane_calls():
            roles = boto3.client("iam", region_name=REGION).get_instance_profile(InstanceProfileName=name)[
                "InstanceProfile"
            ]["Roles"]
        return str(roles[0]["Arn"]) if roles else None

    def instance_tags(self, instance_id: str) -> Mapping[str, str]:
        if not instance_id.startswith("i-"):
            return {}  # managed instances (mi-...) of the plane carry no tags
        import boto3
        from botocore.exceptions import ClientError as BotoClientError

        with plane_calls():
            try:
                reservations = boto3.client("ec2", region_name=REGION).describe_instances(InstanceIds=[instance_id])[
                    "Reservations"
                ]
            except BotoClientError:
                return {}  # an unknown instance: the service itself answers the call
        return {str(t["Key"]): str(t["Value"]) for r in reservations for i in r["Instances"] for t in i.get("Tags", ())}

    def partition_key(self, table: str, index: str | None) -> str:
        if (table, index) not in self._partition_keys:
            import boto3

            with plane_calls():
                description = boto3.client("dynamodb", region_name=REGION).describe_table(TableName=table)["Table"]
            schemas = {None: description["KeySchema"]} | {
                i["IndexName"]: i["KeySchema"]
                for i in [*description.get("GlobalSecondaryIndexes", ()), *description.get("LocalSecondaryIndexes", ())]
            }
            (hash_key,) = [k["AttributeName"] for k in schemas[index] if k["KeyType"] == "HASH"]
            self._partition_keys[(table, index)] = str(hash_key)
        return self._partition_keys[(table, index)]

    def token_state_machine(self, token: str) -> str | None:
        from moto.stepfunctions.parser.models import stepfunctions_parser_backends

        for execution in stepfunctions_parser_backends[ACCOUNT][REGION]._get_executions():
            # an execution's worker has no env before it starts and after it ended (seen in make demo: an
            # AttributeError here failed a SendTaskSuccess)
            env = getattr(getattr(execution, "exec_worker", None), "env", None)
            if env is not None and env.callback_pool_manager.get(token) is not None:
                arn: str = execution.state_machine_arn
                return arn
        return None


def plane_launch_template_id(target: Target, configured: str) -> str:
    """A configured ``dr.launch_template`` (a name, as the plane's own, or an id) as its id in the plane's moto.

    The stack accepts ids only (IAM names a template by id, synth asks AWS nothing); the plane can ask its own
    EC2, so a name is resolved here, once per policy build, as a deployment-time lookup would."""
    import boto3
    from botocore.exceptions import ClientError as BotoClientError

    from freshtrack_ops.config import LAUNCH_TEMPLATE_ID_PATTERN

    if re.fullmatch(LAUNCH_TEMPLATE_ID_PATTERN, configured):
        return configured
    with plane_calls():
        try:
            templates = boto3.client("ec2", region_name=REGION).describe_launch_templates(
                LaunchTemplateNames=[configured]
            )["LaunchTemplates"]
        except BotoClientError as exc:
            raise LookupError(
                f"targets.{target.id}.dr.launch_template: no launch template {configured!r} in the plane"
            ) from exc
    return str(templates[0]["LaunchTemplateId"])


def plane_resources(
    *,
    key_arn: str,
    topic_arn: str,
    targets: Iterable[Target],
    document_names: Iterable[str],
    object_lock: bool = False,
) -> FunctionResources:
    """The ``FunctionResources`` of the plane: what the control plane stack passes, with local ARNs."""
    from freshtrack_ops.config import SsmTarget
    from opsctl.local.iam_actions import instance_arn, parameter_arn
    from stacks.dr_grants import AwsLocation, dr_resources, ssh_key_secret_arns, standby_instance_ids
    from stacks.function_factory import FunctionResources, scale_instance_ids
    from stacks.storage_stack import StorageRefs

    targets = list(targets)
    storage = StorageRefs(
        bucket_name=BUCKET,
        bucket_arn=f"arn:aws:s3:::{BUCKET}",
        table_name=TABLE,
        table_arn=f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{TABLE}",
        key_arn=key_arn,
        bucket_arn_export="local-bucket-arn",
    )
    ssm_instances = {t.instance_id for t in targets if isinstance(t, SsmTarget)} | set(standby_instance_ids(targets))
    return FunctionResources(
        storage=storage,
        targets_parameter_arn=parameter_arn(TARGETS_PARAMETER),
        topic_arn=topic_arn,
        ssh_key_secret_arns=ssh_key_secret_arns(targets),
        document_arns=tuple(f"arn:aws:ssm:{REGION}:{ACCOUNT}:document/{name}" for name in sorted(document_names)),
        ssm_instance_arns=tuple(sorted(instance_arn(i) for i in ssm_instances)),
        object_lock=object_lock,
        dr=dr_resources(targets, AwsLocation("aws", REGION, ACCOUNT), launch_template_id=plane_launch_template_id)
        if any(t.dr is not None for t in targets)
        else None,
        # by name: the stack knows its secrets' ARNs, the plane's are created after the policies are built
        webhook_secret_arns=tuple(
            webhook_secret_arn_pattern("aws", REGION, ACCOUNT, name) for name in WEBHOOK_SECRET_NAMES.values()
        ),
        # the same for the chat secret (``LocalPlane(chat=True)`` creates it; moto's secrets use no KMS key)
        chat_secret_arns=(webhook_secret_arn_pattern("aws", REGION, ACCOUNT, chat_secret_name(PLANE_DEPLOYMENT)),),
        scale_instance_arns=tuple(instance_arn(i) for i in scale_instance_ids(targets)),
    )


def task_policies(resources: FunctionResources, state_machines: Mapping[str, str]) -> dict[str, list[dict[str, Any]]]:
    """function name -> the statements (JSON) of its role, built by the CDK code (``tasks.TASKS`` as it is
    now: a test may swap a task's grants)."""
    from stacks.function_factory import callback_state_machine_arns, grant_statements, late_grant_statements

    policies: dict[str, list[dict[str, Any]]] = {}
    for name, task in tasks.TASKS.items():
        statements = [
            *grant_statements(task.grants, resources),
            *late_grant_statements(
                task.grants,
                test_restore_arn=state_machines.get("test-restore"),
                remediation_arn=state_machines.get("remediation"),
                callback_arns=callback_state_machine_arns(name, state_machines) if state_machines else (),
            ),
        ]
        policies[function_name(name)] = [_statement_json(st) for st in statements]
    return policies


def _statement_json(statement: Any) -> dict[str, Any]:
    found: dict[str, Any] = statement.to_statement_json()
    return found


@functools.cache
def _cdk_loaded() -> bool:
    """Import aws_cdk (and start its jsii runtime) once per process."""
    import stacks.function_factory  # noqa: F401

    return True


def build_enforcer(
    *,
    key_arn: str,
    topic_arn: str,
    targets: Iterable[Target],
    document_names: Iterable[str],
    state_machines: Mapping[str, str],
    object_lock: bool = False,
) -> Enforcer:
    _cdk_loaded()
    resources = plane_resources(
        key_arn=key_arn, topic_arn=topic_arn, targets=targets, document_names=document_names, object_lock=object_lock
    )
    policies = {name: Policy.from_statements(doc) for name, doc in task_policies(resources, state_machines).items()}
    return Enforcer(policies, PlaneLookup({BUCKET: key_arn}))
