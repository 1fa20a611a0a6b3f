"""Which IAM authorizations an API call needs: (service, operation, parameters) -> ``Request``s.

The table follows the Service Authorization Reference ("Actions, resources, and condition keys for <service>")
and the services' own guides where an operation needs more than its namesake action:

* S3: HeadObject is authorized as ``s3:GetObject``; CreateMultipartUpload, UploadPart and
  CompleteMultipartUpload as ``s3:PutObject``; ListParts as ``s3:ListMultipartUploadParts``;
  ListObjects(V2) and HeadBucket as ``s3:ListBucket`` on the bucket (with ``s3:prefix``);
  ListMultipartUploads as ``s3:ListBucketMultipartUploads``; DeleteObjects as ``s3:DeleteObject`` per key;
  CopyObject as GetObject on the source and PutObject on the target; a ``VersionId`` turns Get/Delete/tagging
  actions into their ``...Version...`` forms; a ``Tagging`` on a write also needs ``s3:PutObjectTagging``
  (S3 API reference, PutObject: "To use tagging, you must have the s3:PutObjectTagging permission"); a delete
  with ``BypassGovernanceRetention`` also needs ``s3:BypassGovernanceRetention`` (API reference, DeleteObject /
  DeleteObjects: "To use this header, you must have the s3:BypassGovernanceRetention permission").
  Object ARNs are ``arn:aws:s3:::<bucket>/<key>``, the bucket's ``arn:aws:s3:::<bucket>``.
* SSE-KMS: an object written to or read from a bucket whose default encryption is a KMS key needs the
  key too, on the caller's own role (S3 user guide, "Using server-side encryption with AWS KMS keys"):
  ``kms:GenerateDataKey`` to write, ``kms:Decrypt`` to read, both for a multipart upload's create and parts.
* DynamoDB: the action is the operation, the resource the table (``.../table/<name>/index/<index>`` for a
  Query/Scan of an index); batch and transaction operations are authorized per item's table and kind. An item
  operation and a Query carry ``dynamodb:LeadingKeys`` (multivalued: the partition key values the request reads
  or writes; DynamoDB developer guide, "Using IAM policy conditions for fine-grained access control"): the key's
  partition attribute, or the Query's partition key equality.
* SNS Publish: the topic. Secrets Manager GetSecretValue, PutSecretValue, DescribeSecret: the secret's ARN (a
  name is resolved to it). SSM: GetParameter(s) the parameter ARN; SendCommand the document AND every instance
  (an EC2 instance with its tags as ``ssm:resourceTag/<key>``, Systems Manager user guide, "Restricting Run
  Command access based on tags"); GetCommandInvocation,
  ListCommandInvocations, CancelCommand and DescribeInstanceInformation no resource (``*``).
  Step Functions: StartExecution the state machine; Describe/StopExecution the execution; SendTask* the
  state machine whose task the token belongs to. CloudWatch PutMetricData: ``*``. Lambda Invoke: the function.
* EC2 ("Actions, resources, and condition keys for Amazon EC2"): RunInstances is authorized on every resource
  it uses or creates, ``image`` (``arn:aws:ec2:<region>::image/<id>``, no account), ``instance``,
  ``network-interface``, ``security-group``, ``subnet`` and ``volume`` (the created or unnamed ones as
  ``.../<type>/*``), plus the ``launch-template`` and ``key-pair`` it names; each with ``ec2:LaunchTemplate``
  (the template's ARN, when launched from one: the EC2 user guide's launch-template examples condition
  ``Resource: "*"`` on it), and each created resource with the tags of its own TagSpecification as
  ``aws:RequestTag/<key>`` and ``aws:TagKeys`` (multivalued). Tags given at launch also need ``ec2:CreateTags``
  on each tagged resource type with ``ec2:CreateAction`` = ``RunInstances`` (EC2 user guide, "Grant permission
  to tag resources during creation"), and an instance profile ``iam:PassRole`` of its role with
  ``iam:PassedToService`` = ``ec2.amazonaws.com`` (EC2 user guide, "Grant permissions to attach an IAM role to
  an instance"). The image, key pair and profile of a launch template count as named by the call.
  TerminateInstances, StopInstances, StartInstances, ModifyInstanceAttribute and GetConsoleOutput: each instance's
  ARN, with its tags as ``aws:ResourceTag/<key>`` (and ``ec2:ResourceTag/<key>``); Describe* actions support no
  resource (``*``).
* Route 53 ("Actions, resources, and condition keys for Amazon Route 53"): ChangeResourceRecordSets and
  ListResourceRecordSets the hosted zone (``arn:aws:route53:::hostedzone/<id>``, no region or account),
  GetChange the change (``arn:aws:route53:::change/<id>``). A change batch is one authorization with the
  multivalued condition keys ``route53:ChangeResourceRecordSetsNormalizedRecordNames`` (lower case, no trailing
  dot, other characters than a-z 0-9 - _ . as ``\\NNN`` octal: ``stacks.iam_keys``), ``...RecordTypes`` and
  ``...Actions``, one value per change (Route 53 developer guide, "Using IAM policy conditions for fine-grained
  access control"; policies test them with ``ForAllValues:StringEquals``, which iam_policy evaluates as IAM does).

An operation missing here raises ``UnmappedOperation``: a task calling it fails loudly in the plane (a gap in
the stand-in, to be filled with its documented authorization), never passes unchecked.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote

from opsctl.local.iam_policy import ContextValue, Request
from opsctl.local.names import ACCOUNT, REGION
from stacks.iam_keys import normalized_record_name

Params = Mapping[str, Any]


class UnmappedOperation(LookupError):
    """An API call the plane does not know the IAM authorization of."""


class Lookup(Protocol):
    """What mapping a call needs from the plane's AWS."""

    def bucket_key_arn(self, bucket: str) -> str | None:
        """The KMS key of the bucket's default encryption (SSE-KMS), or None."""

    def secret_arn(self, secret_id: str) -> str:
        """The ARN of a secret given by name or ARN."""

    def token_state_machine(self, token: str) -> str | None:
        """The state machine of the execution a task token belongs to, or None when no execution has it."""

    def launch_template(self, spec: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]]:
        """The ARN and the launch data of the template version a RunInstances ``LaunchTemplate`` names."""

    def instance_profile_role(self, profile: Mapping[str, Any]) -> str | None:
        """The ARN of the role in the instance profile (``{"Arn": ...}`` or ``{"Name": ...}``); None without one
        (nothing is passed)."""

    def instance_tags(self, instance_id: str) -> Mapping[str, str]:
        """The tags of an EC2 instance ({} for an unknown one, or a managed instance ``mi-...``)."""

    def partition_key(self, table: str, index: str | None) -> str:
        """The partition key attribute of the table (or of its index)."""


def requests_for(service: str, operation: str, params: Params, lookup: Lookup) -> list[Request]:
    mapper = _MAPPERS.get(service)
    requests = mapper(operation, params, lookup) if mapper else None
    if requests is None:
        raise UnmappedOperation(
            f"{service}.{operation}: the local plane does not know which IAM actions this call needs; add it to "
            "opsctl/local/iam_actions.py with its documented authorization"
        )
    return requests


def _arn(service: str, resource: str) -> str:
    return f"arn:aws:{service}:{REGION}:{ACCOUNT}:{resource}"


# -- S3 --------------------------------------------------------------------------------------------------
_S3_OBJECT_ACTIONS = {
    "GetObject": ("s3:GetObject", "s3:GetObjectVersion"),
    "HeadObject": ("s3:GetObject", "s3:GetObjectVersion"),
    "DeleteObject": ("s3:DeleteObject", "s3:DeleteObjectVersion"),
    "GetObjectTagging": ("s3:GetObjectTagging", "s3:GetObjectVersionTagging"),
    "PutObjectTagging": ("s3:PutObjectTagging", "s3:PutObjectVersionTagging"),
    "DeleteObjectTagging": ("s3:DeleteObjectTagging", "s3:DeleteObjectVersionTagging"),
    "PutObject": ("s3:PutObject", "s3:PutObject"),
    "CreateMultipartUpload": ("s3:PutObject", "s3:PutObject"),
    "UploadPart": ("s3:PutObject", "s3:PutObject"),
    "CompleteMultipartUpload": ("s3:PutObject", "s3:PutObject"),
    "AbortMultipartUpload": ("s3:AbortMultipartUpload", "s3:AbortMultipartUpload"),
    "ListParts": ("s3:ListMultipartUploadParts", "s3:ListMultipartUploadParts"),
}
_S3_BUCKET_ACTIONS = {
    "ListObjectsV2": "s3:ListBucket",
    "ListObjects": "s3:ListBucket",
    "HeadBucket": "s3:ListBucket",
    "ListObjectVersions": "s3:ListBucketVersions",
    "ListMultipartUploads": "s3:ListBucketMultipartUploads",
}
#: the KMS actions an operation needs on the bucket's SSE-KMS key
_S3_KMS_ACTIONS = {
    "GetObject": ("kms:Decrypt",),
    "PutObject": ("kms:GenerateDataKey",),
    "CreateMultipartUpload": ("kms:GenerateDataKey", "kms:Decrypt"),
    "UploadPart": ("kms:GenerateDataKey", "kms:Decrypt"),
}
_WRITES_WITH_TAGGING = {"PutObject", "CreateMultipartUpload"}


def _object_arn(bucket: str, key: str) -> str:
    return f"arn:aws:s3:::{bucket}/{key}"


def _s3(operation: str, params: Params, lookup: Lookup) -> list[Request] | None:
    bucket = str(params.get("Bucket", ""))
    if operation in _S3_BUCKET_ACTIONS:
        context = {"s3:prefix": str(params["Prefix"])} if "Prefix" in params else {}
        return [Request(_S3_BUCKET_ACTIONS[operation], f"arn:aws:s3:::{bucket}", context)]
    if operation == "DeleteObjects":
        return [
            request
            for obj in params["Delete"]["Objects"]
            for request in _s3_delete(bucket, obj, bypass=bool(params.get("BypassGovernanceRetention")))
        ]
    if operation == "DeleteObject":
        return _s3_delete(bucket, params, bypass=bool(params.get("BypassGovernanceRetention")))
    if operation == "CopyObject":
        return _s3_copy(params, lookup)
    if operation not in _S3_OBJECT_ACTIONS:
        return None
    target = _object_arn(bucket, str(params["Key"]))
    found = [Request(_S3_OBJECT_ACTIONS[operation]["VersionId" in params], target)]
    if operation in _WRITES_WITH_TAGGING and params.get("Tagging"):
        found.append(Request("s3:PutObjectTagging", target))
    if operation == "DeleteObject" and params.get("BypassGovernanceRetention"):
        found.append(Request("s3:BypassGovernanceRetention", target))
    key_arn = lookup.bucket_key_arn(bucket)
    if key_arn:
        found += [Request(action, key_arn) for action in _S3_KMS_ACTIONS.get(operation, ())]
    return found


def _s3_delete(bucket: str, obj: Mapping[str, Any], *, bypass: bool) -> list[Request]:
    """DeleteObject(Version); with ``x-amz-bypass-governance-retention: true`` also s3:BypassGovernanceRetention,
    which S3 requires to delete a version that GOVERNANCE-mode Object Lock retains (S3 user guide, "How S3 Object
    Lock works": "you must have the s3:BypassGovernanceRetention permission and must explicitly include
    x-amz-bypass-governance-retention:true as a request header")."""
    target = _object_arn(bucket, str(obj["Key"]))
    found = [Request(_S3_OBJECT_ACTIONS["DeleteObject"]["VersionId" in obj], target)]
    if bypass:
        found.append(Request("s3:BypassGovernanceRetention", target))
    return found


def _s3_copy(params: Params, lookup: Lookup) -> list[Request]:
    source = params["CopySource"]
    if isinstance(source, str):
        path, _, query = source.lstrip("/").partition("?")
        src_bucket, _, src_key = unquote(path).partition("/")
        versioned = "versionId" in parse_qs(query)
    else:
        src_bucket, src_key, versioned = source["Bucket"], source["Key"], "VersionId" in source
    bucket = str(params["Bucket"])
    target = _object_arn(bucket, str(params["Key"]))
    found = [
        Request("s3:GetObjectVersion" if versioned else "s3:GetObject", _object_arn(src_bucket, src_key)),
        Request("s3:PutObject", target),
    ]
    if params.get("TaggingDirective") == "REPLACE" and params.get("Tagging"):
        found.append(Request("s3:PutObjectTagging", target))
    for key_arn, action in (
        (lookup.bucket_key_arn(src_bucket), "kms:Decrypt"),
        (lookup.bucket_key_arn(bucket), "kms:GenerateDataKey"),
    ):
        if key_arn:
            found.append(Request(action, key_arn))
    return found


# -- DynamoDB ----------------------------------------------------------------------------------------------
_DYNAMODB_ITEM_OPERATIONS = {"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "DescribeTable"}
_TRANSACT_KINDS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
    "Get": "GetItem",
}


def _table_arn(table: str, index: str | None = None) -> str:
    return _arn("dynamodb", f"table/{table}" + (f"/index/{index}" if index else ""))


_KEYED_ITEM = {"GetItem": "Key", "UpdateItem": "Key", "DeleteItem": "Key", "PutItem": "Item"}
_KEY_TERM = re.compile(r"^\(?\s*(#?[A-Za-z0-9_.]+)\s*=\s*(:[A-Za-z0-9_]+)\s*\)?$")


def _attribute_text(value: Mapping[str, Any]) -> str:
    """A DynamoDB attribute value ({"S": "x"}, {"N": "1"}, ...) as the condition key's string."""
    ((_, raw),) = value.items()
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def _leading_keys(operation: str, params: Params, lookup: Lookup) -> tuple[str, ...] | None:
    """``dynamodb:LeadingKeys`` of an item operation or a Query: the partition key value it addresses."""
    if operation not in _KEYED_ITEM and operation != "Query":
        return None
    table, index = str(params["TableName"]), params.get("IndexName")
    key = lookup.partition_key(table, index)
    # a request without its partition key is refused by DynamoDB itself (ValidationException): nothing to derive
    if operation in _KEYED_ITEM:
        value = params.get(_KEYED_ITEM[operation], {}).get(key)
        return None if value is None else (_attribute_text(value),)
    if "KeyConditions" in params:
        condition = params["KeyConditions"].get(key)
        return None if condition is None else (_attribute_text(condition["AttributeValueList"][0]),)
    if "KeyConditionExpression" not in params:
        return None
    names: Mapping[str, str] = params.get("ExpressionAttributeNames", {})
    values: Mapping[str, Any] = params.get("ExpressionAttributeValues", {})
    for term in re.split(r"\s+AND\s+", str(params.get("KeyConditionExpression", "")), flags=re.IGNORECASE):
        match = _KEY_TERM.match(term.strip())
        if match and names.get(match.group(1), match.group(1)) == key:
            return (_attribute_text(values[match.group(2)]),)
    raise UnmappedOperation(
        f"dynamodb.Query: no equality on the partition key {key!r} in {params.get('KeyConditionExpression')!r}; "
        "the plane cannot derive dynamodb:LeadingKeys"
    )


def _dynamodb(operation: str, params: Params, lookup: Lookup) -> list[Request] | None:
    if operation in _DYNAMODB_ITEM_OPERATIONS:
        leading = _leading_keys(operation, params, lookup)
        context: dict[str, ContextValue] = {} if leading is None else {"dynamodb:LeadingKeys": leading}
        return [Request(f"dynamodb:{operation}", _table_arn(params["TableName"], params.get("IndexName")), context)]
    if operation in {"BatchGetItem", "BatchWriteItem"}:
        return [Request(f"dynamodb:{operation}", _table_arn(table)) for table in params["RequestItems"]]
    if operation in {"TransactWriteItems", "TransactGetItems"}:
        return [
            Request(f"dynamodb:{_TRANSACT_KINDS[kind]}", _table_arn(body["TableName"]))
            for item in params["TransactItems"]
            for kind, body in item.items()
        ]
    return None


# -- SSM, Secrets Manager, SNS, Step Functions, CloudWatch, Lambda -----------------------------------------
_SSM_NO_RESOURCE = {
    "GetCommandInvocation",
    "ListCommandInvocations",
    "ListCommands",
    "CancelCommand",
    "DescribeInstanceInformation",
}


def parameter_arn(name: str) -> str:
    if name.startswith("arn:"):
        return name
    return _arn("ssm", "parameter" + (name if name.startswith("/") else "/" + name))


def instance_arn(instance_id: str) -> str:
    if instance_id.startswith("mi-"):
        return _arn("ssm", f"managed-instance/{instance_id}")
    return _arn("ec2", f"instance/{instance_id}")


def _ssm(operation: str, params: Params, lookup: Lookup) -> list[Request] | None:
    if operation in _SSM_NO_RESOURCE:
        return [Request(f"ssm:{operation}", "*")]
    if operation == "GetParameter":
        return [Request("ssm:GetParameter", parameter_arn(str(params["Name"])))]
    if operation == "GetParameters":
        return [Request("ssm:GetParameters", parameter_arn(str(name))) for name in params["Names"]]
    if operation == "SendCommand" and "Targets" not in params:
        name = str(params["DocumentName"])
        document = name if name.startswith("arn:") else _arn("ssm", f"document/{name}")
        return [Request("ssm:SendCommand", document)] + [
            Request("ssm:SendCommand", instance_arn(str(i)), _tag_context(lookup.instance_tags(str(i)), "ssm"))
            for i in params.get("InstanceIds", ())
        ]
    return None


def _secretsmanager(operation: str, params: Params, lookup: Lookup) -> list[Request] | None:
    if operation in {"GetSecretValue", "DescribeSecret", "PutSecretValue"}:
        return [Request(f"secretsmanager:{operation}", lookup.secret_arn(str(params["SecretId"])))]
    return None


def _sns(operation: str, params: Params, _lookup: Lookup) -> list[Request] | None:
    if operation == "Publish":
        return [Request("sns:Publish", str(params.get("TopicArn") or params.get("TargetArn")))]
    return None


def _states(operation: str, params: Params, lookup: Lookup) -> list[Request] | None:
    if operation in {"SendTaskSuccess", "SendTaskFailure", "SendTaskHeartbeat"}:
        machine = lookup.token_state_machine(str(params["taskToken"]))
        # a token no execution holds any more (closed or unknown) is refused by the service itself
        # (TaskTimedOut, InvalidToken, as moto and moto_patches answer): nothing to authorize against
        return [Request(f"states:{operation}", machine)] if machine else []
    if operation == "StartExecution":
        return [Request("states:StartExecution", str(params["stateMachineArn"]))]
    if operation in {"DescribeExecution", "StopExecution"}:
        return [Request(f"states:{operation}", str(params["executionArn"]))]
    return None


def _cloudwatch(operation: str, _params: Params, _lookup: Lookup) -> list[Request] | None:
    return [Request("cloudwatch:PutMetricData", "*")] if operation == "PutMetricData" else None


def _lambda(operation: str, params: Params, _lookup: Lookup) -> list[Request] | None:
    if operation != "Invoke":
        return None
    name = str(params["FunctionName"])
    return [Request("lambda:InvokeFunction", name if name.startswith("arn:") else _arn("lambda", f"function:{name}"))]


# -- EC2 and Route 53 ---------------------------------------------------------------------------------------
_EC2_NO_RESOURCE = {"DescribeInstances", "DescribeInstanceStatus", "DescribeLaunchTemplates"}
#: what RunInstances creates (tagged with its own TagSpecification) and what it uses without naming it
_RUN_INSTANCES_CREATED = ("instance", "network-interface", "volume")
_RUN_INSTANCES_USED = ("security-group", "subnet")
#: the service an instance profile's role is passed to
EC2_SERVICE = "ec2.amazonaws.com"


def ec2_arn(resource: str) -> str:
    return _arn("ec2", resource)


def _tag_context(tags: Mapping[str, str], *prefixes: str) -> dict[str, ContextValue]:
    """A resource's tags as ``aws:ResourceTag/<key>`` and the service's own key (``ec2:ResourceTag/<key>``,
    ``ssm:resourceTag/<key>``)."""
    context: dict[str, ContextValue] = {f"aws:ResourceTag/{key}": value for key, value in tags.items()}
    for prefix in prefixes:
        name = "resourceTag" if prefix == "ssm" else "ResourceTag"
        context |= {f"{prefix}:{name}/{key}": value for key, value in tags.items()}
    return context


def _ec2(operation: str, params: Params, lookup: Lookup) -> list[Request] | None:
    if operation in _EC2_NO_RESOURCE:
        return [Request(f"ec2:{operation}", "*")]
    if operation in {"TerminateInstances", "StopInstances", "StartInstances"}:
        return [
            Request(f"ec2:{operation}", ec2_arn(f"instance/{i}"), _tag_context(lookup.instance_tags(i), "ec2"))
            for i in params["InstanceIds"]
        ]
    if operation == "ModifyInstanceAttribute":
        instance = str(params["InstanceId"])
        tags = _tag_context(lookup.instance_tags(instance), "ec2")
        return [Request("ec2:ModifyInstanceAttribute", ec2_arn(f"instance/{instance}"), tags)]
    if operation == "GetConsoleOutput":
        instance = str(params["InstanceId"])
        tags = _tag_context(lookup.instance_tags(instance), "ec2")
        return [Request("ec2:GetConsoleOutput", ec2_arn(f"instance/{instance}"), tags)]
    if operation == "RunInstances":
        return _run_instances(params, lookup)
    return None


def _run_instances(params: Params, lookup: Lookup) -> list[Request]:
    template_arn, data = lookup.launch_template(params["LaunchTemplate"]) if "LaunchTemplate" in params else ("", {})
    tags_of: dict[str, dict[str, str]] = {}
    for spec in params.get("TagSpecifications", ()):
        tags_of.setdefault(str(spec["ResourceType"]), {}).update(
            {str(tag["Key"]): str(tag["Value"]) for tag in spec.get("Tags", ())}
        )
    common: dict[str, ContextValue] = {"ec2:LaunchTemplate": template_arn} if template_arn else {}

    def request_tags(kind: str) -> dict[str, ContextValue]:
        tags = tags_of.get(kind, {})
        context: dict[str, ContextValue] = {f"aws:RequestTag/{key}": value for key, value in tags.items()}
        return context | ({"aws:TagKeys": tuple(tags)} if tags else {})

    found = [
        Request("ec2:RunInstances", ec2_arn(f"{kind}/*"), common | request_tags(kind))
        for kind in _RUN_INSTANCES_CREATED
    ]
    found += [Request("ec2:RunInstances", ec2_arn(f"{kind}/*"), common) for kind in _RUN_INSTANCES_USED]
    image = params.get("ImageId") or data.get("ImageId")
    if image:
        found.append(Request("ec2:RunInstances", f"arn:aws:ec2:{REGION}::image/{image}", common))
    if template_arn:
        found.append(Request("ec2:RunInstances", template_arn, common))
    key_name = params.get("KeyName") or data.get("KeyName")
    if key_name:
        found.append(Request("ec2:RunInstances", ec2_arn(f"key-pair/{key_name}"), common))
    for kind, tags in tags_of.items():
        if tags:
            context = request_tags(kind) | {"ec2:CreateAction": "RunInstances"}
            found.append(Request("ec2:CreateTags", ec2_arn(f"{kind}/*"), context))
    profile = params.get("IamInstanceProfile") or data.get("IamInstanceProfile")
    role = lookup.instance_profile_role(profile) if profile else None
    if role:
        found.append(Request("iam:PassRole", role, {"iam:PassedToService": EC2_SERVICE}))
    return found


def _route53(operation: str, params: Params, _lookup: Lookup) -> list[Request] | None:
    if operation == "GetChange":
        return [Request("route53:GetChange", "arn:aws:route53:::change/" + str(params["Id"]).removeprefix("/change/"))]
    if operation not in {"ChangeResourceRecordSets", "ListResourceRecordSets"}:
        return None
    zone = "arn:aws:route53:::hostedzone/" + str(params["HostedZoneId"]).removeprefix("/hostedzone/")
    if operation == "ListResourceRecordSets":
        return [Request("route53:ListResourceRecordSets", zone)]
    changes = params["ChangeBatch"]["Changes"]
    prefix = "route53:ChangeResourceRecordSets"
    return [
        Request(
            prefix,
            zone,
            {
                f"{prefix}NormalizedRecordNames": tuple(
                    normalized_record_name(str(c["ResourceRecordSet"]["Name"])) for c in changes
                ),
                f"{prefix}RecordTypes": tuple(str(c["ResourceRecordSet"]["Type"]) for c in changes),
                f"{prefix}Actions": tuple(str(c["Action"]) for c in changes),
            },
        )
    ]


def _sts(operation: str, _params: Params, _lookup: Lookup) -> list[Request] | None:
    # GetCallerIdentity: "No permissions are required to perform this operation" (STS API reference); the SSM
    # adapter asks it once for the account of the instance ARN a host exchange object is tagged with
    return [] if operation == "GetCallerIdentity" else None


_MAPPERS: dict[str, Callable[[str, Params, Lookup], list[Request] | None]] = {
    "sts": _sts,
    "s3": _s3,
    "dynamodb": _dynamodb,
    "ssm": _ssm,
    "secretsmanager": _secretsmanager,
    "sns": _sns,
    "stepfunctions": _states,
    "cloudwatch": _cloudwatch,
    "lambda": _lambda,
    "ec2": _ec2,
    "route53": _route53,
}
