"""Creating the plane's AWS resources in moto, as the CDK stacks deploy them.

The state machines are rendered from ``state_machines/*.asl.json`` with ``state_machines.substitutions`` (the
same function CDK uses), so what runs here is what deploys; the functions exist (moto wants them) but their
invocations are routed in-process to the real handlers (``moto_patches``).
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import paramiko

import state_machines
from freshtrack_ops.chat.settings import ChatSettings
from freshtrack_ops.tasks import TASKS, WORKFLOWS
from opsctl.local import moto_patches
from opsctl.local.iam import PLANE_DEPLOYMENT
from opsctl.local.names import (
    BUCKET,
    IMAGE_ID,
    INSTANCE_PROFILE,
    INSTANCE_TYPE,
    KEY_PAIR,
    KEY_PAIR_SECRET,
    LAUNCH_TEMPLATE_SSH,
    LAUNCH_TEMPLATE_SSM,
    NOTIFICATION_QUEUE,
    STATE_MACHINE_PREFIX,
    TABLE,
    TASK_ROLE,
    TOPIC,
    function_arn,
    function_name,
)
from opsctl.local.ops_table import create_ops_table
from stacks.chat_names import chat_secret_name

#: the function subscribed to the topic with chat on (stacks/control_plane_stack.py CHAT_TASK; not imported from
#: there: that module imports aws_cdk)
CHAT_TASK = "ChatNotify"

Client = Callable[[str], Any]


@dataclass
class Deployment:
    """What was created: read by the running and inspection parts of the plane."""

    topic_arn: str = ""
    #: the backup bucket's SSE-KMS key (the storage stack's data key)
    key_arn: str = ""
    queue_url: str = ""
    role_arn: str = ""
    #: workflow -> state machine ARN
    state_machines: dict[str, str] = field(default_factory=dict)
    #: launch template name -> id (``create_replacement_templates``)
    launch_templates: dict[str, str] = field(default_factory=dict)
    #: EC2 key pair name -> its public key (``<type> <base64>``), what a launched host's sshd authorizes
    key_pairs: dict[str, str] = field(default_factory=dict)
    key_pair_secret_arn: str = ""
    instance_profile_arn: str = ""
    #: the demo domain's Route 53 hosted zone (``dns``)
    hosted_zone_id: str = ""

    def state_machine_arn(self, workflow: str) -> str:
        if workflow not in self.state_machines:
            raise KeyError(f"workflow: unknown {workflow!r} (known: {', '.join(sorted(self.state_machines))})")
        return self.state_machines[workflow]


def create_storage(client: Client, deployment: Deployment, object_lock_days: int | None) -> None:
    """The data key, the backup bucket (versioned, SSE-KMS with the key, Object Lock when asked), the ops table."""
    deployment.key_arn = client("kms").create_key(Description="FreshTrack Ops data key (local)")["KeyMetadata"]["Arn"]
    s3 = client("s3")
    s3.create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=object_lock_days is not None)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    if object_lock_days is not None:
        # what stacks/storage_stack.py deploys: every new object version is retained in GOVERNANCE mode, so
        # S3 demands a checksum on every upload (s3_strict enforces that here)
        s3.put_object_lock_configuration(
            Bucket=BUCKET,
            ObjectLockConfiguration={
                "ObjectLockEnabled": "Enabled",
                "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": object_lock_days}},
            },
        )
    s3.put_bucket_encryption(
        Bucket=BUCKET,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {
                    "ApplyServerSideEncryptionByDefault": {
                        "SSEAlgorithm": "aws:kms",
                        "KMSMasterKeyID": deployment.key_arn,
                    }
                }
            ]
        },
    )
    create_ops_table(client("dynamodb"), TABLE)


def create_notifications(client: Client, deployment: Deployment) -> None:
    """The notification topic, and a queue subscribed to it so that what was published can be read back."""
    sns, sqs = client("sns"), client("sqs")
    deployment.topic_arn = sns.create_topic(Name=TOPIC)["TopicArn"]
    deployment.queue_url = sqs.create_queue(QueueName=NOTIFICATION_QUEUE)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=deployment.queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=deployment.topic_arn, Protocol="sqs", Endpoint=queue_arn)


#: the plane's chat settings: its receiver on 127.0.0.1, and short pauses (a test's retries take milliseconds)
LOCAL_CHAT = ChatSettings(
    enabled=True, allowed_hosts=("127.0.0.1",), timeout_s=2, backoff_s=0.02, max_retry_after_s=0.2
)


def create_chat(client: Client, deployment: Deployment, url: str) -> dict[str, str]:
    """What the stack deploys with ``chat.enabled``: the secret (``{"url": ...}``, named as the stack names it for
    deployment ``local``) and ChatNotify subscribed to the topic; returns the tasks' settings naming them."""
    arn = client("secretsmanager").create_secret(
        Name=chat_secret_name(PLANE_DEPLOYMENT),
        Description="FreshTrack Ops (local): the chat webhook URL (the plane's receiver)",
        SecretString=json.dumps({"url": url}),
    )["ARN"]
    client("sns").subscribe(TopicArn=deployment.topic_arn, Protocol="lambda", Endpoint=function_arn(CHAT_TASK))
    return {"chat_secret_id": arn, "chat_settings": LOCAL_CHAT.model_dump_json()}


def create_workflows(client: Client, deployment: Deployment, function_timeouts: Mapping[str, int]) -> None:
    """One function per task (routed in-process) and one state machine per workflow."""
    deployment.role_arn = client("iam").create_role(
        RoleName=TASK_ROLE,
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )["Role"]["Arn"]
    lambda_client = client("lambda")
    arns: dict[str, str] = {}
    for name, task in TASKS.items():
        timeout_s = function_timeouts.get(name, task.timeout_s)
        arns[name] = lambda_client.create_function(
            FunctionName=function_name(name),
            Runtime="python3.12",
            Role=deployment.role_arn,
            Handler=task.handler,
            Code={"ZipFile": _dummy_zip()},
            Timeout=timeout_s,
            MemorySize=task.memory_mb,
        )["FunctionArn"]
        moto_patches.STATE.routes[function_name(name)] = (task.handler, task.memory_mb, timeout_s)
    sfn = client("stepfunctions")
    for workflow in WORKFLOWS:  # in catalog order: a workflow that starts another comes after it
        values = state_machines.substitutions(arns, deployment.topic_arn, deployment.state_machines)
        deployment.state_machines[workflow] = sfn.create_state_machine(
            name=f"{STATE_MACHINE_PREFIX}{workflow}",
            definition=state_machines.render(workflow, values),
            roleArn=deployment.role_arn,
            type="STANDARD",
        )["stateMachineArn"]


def create_replacement_templates(client: Client, deployment: Deployment) -> None:
    """What a replacement host is launched from (``instances``): a key pair (its private key in Secrets Manager,
    as an SSH target's key is), an instance profile (the SSM agent's role) and two launch templates, one with
    the key pair (the instance runs sshd) and one with the profile (it runs the SSM agent)."""
    ec2 = client("ec2")
    material = ec2.create_key_pair(KeyName=KEY_PAIR, KeyType="ed25519")["KeyMaterial"]
    key = paramiko.Ed25519Key.from_private_key(io.StringIO(material))
    deployment.key_pairs[KEY_PAIR] = f"{key.get_name()} {key.get_base64()}"
    deployment.key_pair_secret_arn = client("secretsmanager").create_secret(
        Name=KEY_PAIR_SECRET, SecretString=material
    )["ARN"]
    iam_client = client("iam")
    iam_client.create_role(
        RoleName=INSTANCE_PROFILE,
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
                ],
            }
        ),
    )
    deployment.instance_profile_arn = iam_client.create_instance_profile(InstanceProfileName=INSTANCE_PROFILE)[
        "InstanceProfile"
    ]["Arn"]
    iam_client.add_role_to_instance_profile(InstanceProfileName=INSTANCE_PROFILE, RoleName=INSTANCE_PROFILE)
    common = {"ImageId": IMAGE_ID, "InstanceType": INSTANCE_TYPE}
    for name, extra in (
        (LAUNCH_TEMPLATE_SSH, {"KeyName": KEY_PAIR}),
        (LAUNCH_TEMPLATE_SSM, {"IamInstanceProfile": {"Arn": deployment.instance_profile_arn}}),
    ):
        deployment.launch_templates[name] = ec2.create_launch_template(
            LaunchTemplateName=name, LaunchTemplateData=common | extra
        )["LaunchTemplate"]["LaunchTemplateId"]


def remove_function_routes() -> None:
    """Forget the in-process routes of this plane's functions."""
    for name in TASKS:
        moto_patches.STATE.routes.pop(function_name(name), None)


def _dummy_zip() -> bytes:
    """moto wants a code package; the code really runs in-process through moto_patches."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("placeholder.py", "# the local plane routes invocations in-process\n")
    return buffer.getvalue()
