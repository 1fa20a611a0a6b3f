"""The disaster-recovery grants, derived from every target's ``dr`` section (docs/disaster-recovery.md, "IAM").

``ec2-replacement`` (DrReplacement), ``route53-record`` (DrDns), ``app-config-read`` (DrBootstrap) and
``app-config-write`` (DrCaptureConfig), and what disaster recovery adds to ``ssm-commands``. Each statement says why
it is as it is, with the AWS documentation it rests on. The same functions build the deployed roles
(``function_factory.grant_statements``) and the local plane's policies (opsctl/local/iam.py), whose evaluator
checks every call a task makes against them.

Sources, by the short names used below:

* [SAR-EC2]: Service Authorization Reference, "Actions, resources, and condition keys for Amazon EC2".
* [EC2-RunInstances]: Amazon EC2 user guide, "Example policies to control access the Amazon EC2 API", section
  "Launch instances (RunInstances)" (its "Applying tags", "Launch templates" examples), and "Resource-level
  permissions for RunInstances".
* [EC2-Tagging]: Amazon EC2 user guide, "Grant permission to tag Amazon EC2 resources during creation".
* [EC2-PassRole]: Amazon EC2 user guide, "Grant permissions to attach an IAM role to an instance"; IAM user guide,
  "Grant a user permissions to pass a role to an AWS service" (``iam:PassedToService``).
* [R53-Conditions]: Route 53 developer guide, "Using IAM policy conditions for fine-grained access control".
* [IAM-Multivalued]: IAM user guide, "Single-valued vs. multivalued context keys" and "Multivalued context key
  examples" (ForAllValues "also returns true if there are no context keys in the request"; pair it with
  ``Null: false``).
* [SSM-Tags]: AWS Systems Manager user guide, "Restricting Run Command access based on tags".
* [S3-ObjectLock]: Amazon S3 user guide, "Locking objects with Object Lock" (governance mode: a version under
  retention is deleted only with ``s3:BypassGovernanceRetention`` and the ``x-amz-bypass-governance-retention``
  header) and the API reference, DeleteObject (``VersionId``: "To remove a specific version, you must use the
  versionId query parameter"; without it a versioned bucket only adds a delete marker).
* [SM-ARN]: AWS Secrets Manager user guide: a secret's ARN is its name, a hyphen and six random characters, so an
  identity policy names one secret by name as ``secret:<name>-??????``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from aws_cdk import aws_iam as iam

from freshtrack_ops.config import SshStandby, SshTarget, SsmStandby, Target
from freshtrack_ops.dr.models import DR_HOST_TAG, DR_ID_TAG, DR_MODE_TAG, DR_TAG_KEYS
from stacks.iam_keys import normalized_record_name
from stacks.storage_stack import DR_TRANSFER_PREFIX

#: every DR id starts so (``config.DR_ID_PATTERN``): "tagged with a DR id" is ``StringLike dr-*``
DR_ID_VALUES = "dr-*"
#: the service a replacement's instance role is passed to ([EC2-PassRole])
EC2_SERVICE = "ec2.amazonaws.com"
R53_KEY = "route53:ChangeResourceRecordSets"
#: the only change a recovery makes to its record: UPSERT (create or update), never CREATE-only, never DELETE
DNS_ACTIONS = ("UPSERT",)
DR_GRANTS = frozenset({"ec2-replacement", "route53-record", "app-config-read", "app-config-write"})


@dataclass(frozen=True)
class AwsLocation:
    """Partition, region and account of the deployment: tokens in the stack, literals in the local plane, and
    cdk-nag's names for them (``NAG_LOCATION``) when naming its findings."""

    partition: str
    region: str
    account: str

    def arn(self, service: str, resource: str, *, regional: bool = True, in_account: bool = True) -> str:
        region = self.region if regional else ""
        account = self.account if in_account else ""
        return f"arn:{self.partition}:{service}:{region}:{account}:{resource}"


#: how cdk-nag prints the pseudo parameters in a finding's resource (``AwsSolutions-IAM5[Resource::...]``)
NAG_LOCATION = AwsLocation("<AWS::Partition>", "<AWS::Region>", "<AWS::AccountId>")


@dataclass(frozen=True)
class DnsRecords:
    """The records of one hosted zone and record type a recovery may UPSERT (normalized names)."""

    hosted_zone_id: str
    record_type: str
    names: tuple[str, ...]


@dataclass(frozen=True)
class DrResources:
    """What the DR grants name, from the targets' ``dr`` sections (``dr_resources``)."""

    location: AwsLocation
    #: ``launch-template/<id>`` of every configured ``dr.launch_template``
    launch_template_arns: tuple[str, ...] = ()
    #: the targets that provision a replacement: the values ``freshtrack-ops:host`` may take at launch
    replacement_hosts: tuple[str, ...] = ()
    #: ``dr.instance_role_arn`` of the targets that provision
    instance_role_arns: tuple[str, ...] = ()
    #: some target provisions a replacement reached through SSM (its instance id is known only once launched)
    ssm_replacements: bool = False
    dns_records: tuple[DnsRecords, ...] = ()
    #: ``secret:<dr.app_config_secret_name>-??????`` of every target with a dr section
    app_config_secret_arns: tuple[str, ...] = ()

    def ec2(self, resource: str) -> str:
        return self.location.arn("ec2", resource)


def dr_resources(
    targets: Iterable[Target], location: AwsLocation, *, launch_template_id: Callable[[Target, str], str]
) -> DrResources:
    """The DR resources of these targets; ``launch_template_id(target, configured)`` turns a configured
    ``dr.launch_template`` (name or id) into its id, or raises (the stack cannot resolve a name offline)."""
    templates: set[str] = set()
    hosts: set[str] = set()
    roles: set[str] = set()
    ssm = False
    records: dict[tuple[str, str], set[str]] = {}
    secrets: set[str] = set()
    for target in targets:
        dr = target.dr
        if dr is None:
            continue
        secrets.add(location.arn("secretsmanager", f"secret:{dr.app_config_secret_name}-??????"))
        records.setdefault((dr.hosted_zone_id, dr.record_type), set()).add(
            normalized_record_name(dr.effective_record_name(target))
        )
        if dr.launch_template is None:
            continue
        templates.add(location.arn("ec2", f"launch-template/{launch_template_id(target, dr.launch_template)}"))
        hosts.add(target.id)
        if dr.instance_role_arn is not None:
            roles.add(dr.instance_role_arn)
        ssm = ssm or dr.effective_transport(target) == "ssm"
    return DrResources(
        location=location,
        launch_template_arns=tuple(sorted(templates)),
        replacement_hosts=tuple(sorted(hosts)),
        instance_role_arns=tuple(sorted(roles)),
        ssm_replacements=ssm,
        dns_records=tuple(
            DnsRecords(zone, record_type, tuple(sorted(names)))
            for (zone, record_type), names in sorted(records.items())
        ),
        app_config_secret_arns=tuple(sorted(secrets)),
    )


def ssh_key_secret_arns(targets: Iterable[Target]) -> tuple[str, ...]:
    """The SSH private keys the host tasks read: each SSH target's, each ``dr.private_key_secret_arn`` (the login
    of a provisioned replacement) and each SSH standby's."""
    found: set[str] = set()
    for target in targets:
        if isinstance(target, SshTarget):
            found.add(target.private_key_secret_arn)
        if target.dr is not None:
            if target.dr.private_key_secret_arn is not None:
                found.add(target.dr.private_key_secret_arn)
            found.update(s.private_key_secret_arn for s in target.dr.standbys if isinstance(s, SshStandby))
    return tuple(sorted(found))


def standby_instance_ids(targets: Iterable[Target]) -> tuple[str, ...]:
    """The instances of the SSM standbys: host scripts run there once a recovery uses one."""
    return tuple(
        sorted({s.instance_id for t in targets if t.dr is not None for s in t.dr.standbys if isinstance(s, SsmStandby)})
    )


# -- ec2-replacement --------------------------------------------------------------------------------------------
def drill_cleanup_statements(dr: DrResources, *, ssm: bool = True) -> list[iam.PolicyStatement]:
    """Find a drill's instances and terminate them: the replacement task's, and ``drill-cleanup`` (the lock
    janitor's, which terminates the drill server of an aborted or timed-out execution, found by its DR id tag)."""
    if not dr.launch_template_arns:
        return []
    instance = dr.ec2("instance/*")
    return [
        iam.PolicyStatement(
            # a drill terminates its server on every path; a recovery never terminates (a failed one keeps its
            # server for forensics, a promoted one IS the target's server now and still carries the DR tags): so
            # only instances tagged as a drill's
            sid="TerminateDrillReplacements",
            actions=["ec2:TerminateInstances"],
            resources=[instance],
            conditions={
                "StringLike": {f"aws:ResourceTag/{DR_ID_TAG}": DR_ID_VALUES},
                "StringEquals": {f"aws:ResourceTag/{DR_MODE_TAG}": "drill"},
            },
        ),
        iam.PolicyStatement(
            # neither supports resource-level permissions ([SAR-EC2] DescribeInstances; SSM's
            # DescribeInstanceInformation): running state and addresses, and "online in SSM"
            sid="FollowReplacements",
            actions=["ec2:DescribeInstances", *(["ssm:DescribeInstanceInformation"] if ssm else [])],
            resources=["*"],
        ),
    ]


def replacement_statements(dr: DrResources) -> list[iam.PolicyStatement]:
    """``ec2-replacement``: launch a replacement from a configured launch template only, tagged as a DR's; read
    its console; terminate it if it is a drill's; pass the configured instance roles to EC2 only."""
    if not dr.launch_template_arns:
        return []
    templates = list(dr.launch_template_arns)
    # [SAR-EC2], RunInstances: "ec2:LaunchTemplate" is the ARN of the template the request launches from, on every
    # resource the request authorizes (the [EC2-RunInstances] "Launch templates" examples put it on Resource "*");
    # a request without a template has no such key and matches none of these statements
    from_templates = {"ArnEquals": {"ec2:LaunchTemplate": templates}}
    instance, volume = dr.ec2("instance/*"), dr.ec2("volume/*")
    statements = [
        iam.PolicyStatement(
            # the launch-template resource itself ([SAR-EC2]: launch-template is a RunInstances resource type):
            # exactly the configured templates, by id (launch-template/<id>)
            sid="LaunchFromConfiguredTemplates",
            actions=["ec2:RunInstances"],
            resources=templates,
        ),
        iam.PolicyStatement(
            # what RunInstances uses besides the template and what it creates untagged ([EC2-RunInstances]: "requires
            # an AMI and creates an instance ... security group ... Launching into a VPC requires a subnet, and
            # creates a network interface"; the key pair when the template names one). Images belong to other
            # accounts (AMIs are arn:...:ec2:<region>::image/<id>, no account). Only from the configured templates.
            sid="LaunchWithTemplateResources",
            actions=["ec2:RunInstances"],
            resources=[
                dr.location.arn("ec2", "image/*", in_account=False),
                dr.ec2("subnet/*"),
                dr.ec2("security-group/*"),
                dr.ec2("network-interface/*"),
                dr.ec2("key-pair/*"),
            ],
            conditions=from_templates,
        ),
        iam.PolicyStatement(
            # the instance and its volumes, created tagged ([EC2-RunInstances] "Applying tags": aws:RequestTag on
            # instance/* and volume/*, "aws:TagKeys ... ForAllValues ... no other tags can be specified"): a DR id
            # must be there, the host one of the targets that provision, and no tag key but the workflow's four
            sid="LaunchTaggedReplacements",
            actions=["ec2:RunInstances"],
            resources=[instance, volume],
            conditions={
                **from_templates,
                "StringLike": {f"aws:RequestTag/{DR_ID_TAG}": DR_ID_VALUES},
                "StringEquals": {f"aws:RequestTag/{DR_HOST_TAG}": list(dr.replacement_hosts)},
                "ForAllValues:StringEquals": {"aws:TagKeys": list(DR_TAG_KEYS)},
            },
        ),
        iam.PolicyStatement(
            # tags given at launch are also authorized as ec2:CreateTags ([EC2-Tagging]); ec2:CreateAction =
            # RunInstances means only while launching: no existing resource (a primary) can be tagged as a DR's
            sid="TagReplacementsAtLaunch",
            actions=["ec2:CreateTags"],
            resources=[instance, volume],
            conditions={"StringEquals": {"ec2:CreateAction": "RunInstances"}},
        ),
        iam.PolicyStatement(
            # the new host key is pinned from the console ([SAR-EC2]: GetConsoleOutput on instance, with
            # aws:ResourceTag): only instances launched as a DR's (tagged only at launch, see above)
            sid="ReadReplacementConsoles",
            actions=["ec2:GetConsoleOutput"],
            resources=[instance],
            conditions={"StringLike": {f"aws:ResourceTag/{DR_ID_TAG}": DR_ID_VALUES}},
        ),
        *drill_cleanup_statements(dr),
    ]
    if dr.instance_role_arns:
        statements.append(
            iam.PolicyStatement(
                # a template with an instance profile passes its role ([EC2-PassRole]: "specify the ARNs of specific
                # IAM roles with iam:PassRole"), and to EC2 only
                sid="PassInstanceRoles",
                actions=["iam:PassRole"],
                resources=list(dr.instance_role_arns),
                conditions={"StringEquals": {"iam:PassedToService": EC2_SERVICE}},
            )
        )
    return statements


def replacement_command_statement(dr: DrResources) -> iam.PolicyStatement | None:
    """What ``ssm-commands`` adds for SSM replacements: SendCommand on an instance launched as a DR's.

    Its id exists only once launched, so it cannot be listed like the configured instances; SendCommand is
    authorized on the document and on each instance, and an instance may be matched by its tags ([SSM-Tags]:
    ``ssm:resourceTag/<key>`` on ``instance/*``). The documents stay the host script documents (the other
    statement). This also covers a promoted replacement, which keeps its tags.
    """
    if not dr.ssm_replacements:
        return None
    return iam.PolicyStatement(
        sid="SendHostCommandsToReplacements",
        actions=["ssm:SendCommand"],
        resources=[dr.ec2("instance/*")],
        conditions={"StringLike": {f"ssm:resourceTag/{DR_ID_TAG}": DR_ID_VALUES}},
    )


# -- route53-record ---------------------------------------------------------------------------------------------
def dns_statements(dr: DrResources) -> list[iam.PolicyStatement]:
    """``route53-record``: UPSERT the configured records of the configured zones, and read a change's status.

    One statement per (zone, record type), so a record name of one zone is never allowed in another. The three
    change-batch keys are multivalued (one value per change of the batch; [R53-Conditions] policies test them
    with ``ForAllValues:StringEquals``): every change of the batch must be an UPSERT of a configured name and
    type. ``ForAllValues`` is also true when a key is missing ([IAM-Multivalued]), so ``Null: false`` requires
    all three to be there.
    """
    found = [
        iam.PolicyStatement(
            sid=f"UpsertRecords{records.hosted_zone_id}{records.record_type}",
            actions=["route53:ChangeResourceRecordSets"],
            # Route 53 resources have no region or account in their ARN
            resources=[
                dr.location.arn("route53", f"hostedzone/{records.hosted_zone_id}", regional=False, in_account=False)
            ],
            conditions={
                "ForAllValues:StringEquals": {
                    f"{R53_KEY}NormalizedRecordNames": list(records.names),
                    f"{R53_KEY}RecordTypes": [records.record_type],
                    f"{R53_KEY}Actions": list(DNS_ACTIONS),
                },
                "Null": {
                    f"{R53_KEY}NormalizedRecordNames": "false",
                    f"{R53_KEY}RecordTypes": "false",
                    f"{R53_KEY}Actions": "false",
                },
            },
        )
        for records in dr.dns_records
    ]
    if found:
        found.append(
            iam.PolicyStatement(
                # a change's id comes back from ChangeResourceRecordSets; GetChange only reads PENDING/INSYNC
                sid="FollowDnsChanges",
                actions=["route53:GetChange"],
                resources=[dr.location.arn("route53", "change/*", regional=False, in_account=False)],
            )
        )
    return found


# -- app-config-read / app-config-write --------------------------------------------------------------------------
def app_config_statements(
    grants: frozenset[str], dr: DrResources, *, bucket_arn: str, object_lock: bool
) -> tuple[list[iam.PolicyStatement], set[str]]:
    """``app-config-read`` (DrBootstrap) reads the app-config secret, ``app-config-write`` (DrCaptureConfig) writes
    it; both move its content to or from the host through a transfer object under ``dr-transfer/``, deleted with
    every version right after. Statements, and the data-key actions they need.

    Over SSM a secret cannot travel in a command's parameters (they are kept in the command's history): the host
    fetches it from, or uploads it to, a presigned URL of one transfer object. A presigned URL can do only what
    its signer's role may ([S3] "Sharing objects with presigned URLs"), so both roles may put and get those
    objects (capture: the host puts, the task gets; bootstrap: the task puts, the host gets). In the versioned
    bucket a plain DELETE only adds a delete marker and keeps the secret's bytes: the task lists the object's
    versions and deletes each by id (s3:ListBucketVersions, s3:DeleteObjectVersion; [S3-ObjectLock]). With Object
    Lock every version is retained in governance mode, so deleting it needs s3:BypassGovernanceRetention as well
    (and the bypass header); granted only then, and only on ``dr-transfer/``. No s3:DeleteObject: it would leave
    the data. The lifecycle also expires ``dr-transfer/`` after a day (storage stack), as a backstop.

    The secrets: GetSecretValue (read) and PutSecretValue (write) on ``secret:<name>-??????`` ([SM-ARN]). The
    capture needs nothing else: PutSecretValue alone writes a new version (a ClientRequestToken derived from the
    content makes an unchanged capture a no-op without reading the secret first), so no GetSecretValue and no
    DescribeSecret for the writer.
    """
    found: list[iam.PolicyStatement] = []
    if not dr.app_config_secret_arns or not grants & {"app-config-read", "app-config-write"}:
        return found, set()
    secrets = list(dr.app_config_secret_arns)
    if "app-config-read" in grants:
        found.append(
            iam.PolicyStatement(sid="ReadAppConfig", actions=["secretsmanager:GetSecretValue"], resources=secrets)
        )
    if "app-config-write" in grants:
        found.append(
            iam.PolicyStatement(sid="WriteAppConfig", actions=["secretsmanager:PutSecretValue"], resources=secrets)
        )
    object_actions = ["s3:PutObject", "s3:GetObject", "s3:DeleteObjectVersion"]
    if object_lock:
        object_actions.append("s3:BypassGovernanceRetention")
    found.append(
        iam.PolicyStatement(
            sid="DrTransferObjects", actions=object_actions, resources=[f"{bucket_arn}/{DR_TRANSFER_PREFIX}*"]
        )
    )
    found.append(
        iam.PolicyStatement(
            sid="ListDrTransferVersions",
            actions=["s3:ListBucketVersions"],
            resources=[bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{DR_TRANSFER_PREFIX}*"]}},
        )
    )
    # SSE-KMS: a put needs GenerateDataKey, a get Decrypt (S3 user guide, SSE-KMS)
    return found, {"kms:GenerateDataKey", "kms:Decrypt"}


# -- cdk-nag ------------------------------------------------------------------------------------------------------
#: why each wildcard resource of the DR statements is what it is (by the resource's last part)
WILDCARD_REASONS = {
    "instance/*": "EC2 instance ids of replacements exist only once RunInstances creates them; every statement "
    "naming instance/* is conditioned: RunInstances on ec2:LaunchTemplate = the configured templates and the DR "
    "request tags, CreateTags on ec2:CreateAction = RunInstances, GetConsoleOutput and SendCommand on the "
    "instance's freshtrack-ops:dr-id tag, TerminateInstances also on its mode tag being drill.",
    "volume/*": "The volumes RunInstances creates get their ids at launch; RunInstances only from the configured "
    "launch templates with the DR tags, CreateTags only with ec2:CreateAction = RunInstances.",
    "image/*": "The AMI is the one the configured launch template names (it may be another account's); "
    "RunInstances only with ec2:LaunchTemplate equal to the configured templates.",
    "subnet/*": "The subnet the configured launch template names; RunInstances only with ec2:LaunchTemplate "
    "equal to the configured templates.",
    "security-group/*": "The security groups the configured launch template names; RunInstances only with "
    "ec2:LaunchTemplate equal to the configured templates.",
    "network-interface/*": "The network interface RunInstances creates for the replacement (its id exists only "
    "then); only with ec2:LaunchTemplate equal to the configured templates.",
    "key-pair/*": "The key pair the configured launch template names; RunInstances only with ec2:LaunchTemplate "
    "equal to the configured templates.",
    "change/*": "A Route 53 change id is returned by ChangeResourceRecordSets; GetChange only reads whether that "
    "change is PENDING or INSYNC.",
}


def nag_wildcards(statements: Iterable[iam.PolicyStatement]) -> dict[str, str]:
    """cdk-nag's resource text (``NAG_LOCATION`` statements) -> reason, for every DR wildcard resource."""
    found: dict[str, str] = {}
    for statement in statements:
        for resource in statement.resources:
            if "*" in resource and resource != "*":
                kind = resource.rsplit(":", 1)[-1]
                found[resource] = WILDCARD_REASONS[kind]
    return found


def nag_dr_resources(dr: DrResources) -> DrResources:
    """The same resources located as cdk-nag prints them (configured ARNs are kept: no wildcard in them)."""
    return replace(dr, location=NAG_LOCATION)
