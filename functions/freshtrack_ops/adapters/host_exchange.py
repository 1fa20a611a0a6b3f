"""Host exchange objects: how a command's credentials (presigned URLs) reach only the host that runs it.

Run Command parameters are not secret: whoever may ``ssm:ListCommands`` (AWS's managed ReadOnlyAccess allows it)
reads every command's parameters. So a command never carries a presigned URL as a parameter. The SSM adapter
writes the script's credential parameters (``credential_parameters``) into an object

    s3://<backup bucket>/ssm-exchange/hosts/<instance id>/<32 random hex>      (lines ``NAME value``)

tagged ``freshtrack-ops:host = <the instance's ARN>`` and sends only that object's URL (``EXCHANGE_URL``: no
signature, no credential). The document's ``aws:downloadContent`` step makes the SSM Agent on the target fetch
it with the host's own role; the host policy (``SsmHostPolicy``) allows ``s3:GetObject`` on
``ssm-exchange/hosts/*`` only where ``s3:ExistingObjectTag/freshtrack-ops:host`` equals the caller's
``${ec2:SourceInstanceARN}`` (EC2 instance profile) or ``${ssm:SourceInstanceARN}`` (hybrid managed node).
So a role shared by several hosts still lets each read only its own objects, and anyone else would need
``s3:GetObject`` and the data key's ``kms:Decrypt`` (the bucket is SSE-KMS), which ReadOnlyAccess does not give.

The object is deleted when its command ends (``HostCommandDone``, from the key recorded with the pending command;
the sender itself when the command could not be sent or recorded); the ``ssm-exchange/`` lifecycle rule (1 day)
is the backstop. The URLs in it expire sooner (``presign_validity_s``), and the run step deletes its local copy
as soon as it has read it.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING
from urllib.parse import quote

from freshtrack_ops.adapters.s3_store import UPLOAD_CHECKSUM
from freshtrack_ops.host_scripts.parameters import EXCHANGE_URL_PATTERN, HOST_EXCHANGE_PREFIX, PARAMETERS
from freshtrack_ops.retention.tags import EXPIRING, RETENTION_TAG

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

#: the object tag naming the one host that may read an exchange object (its instance ARN)
HOST_TAG = "freshtrack-ops:host"


def partition(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def instance_arn(instance_id: str, region: str, account: str) -> str:
    """What IAM sees as the source instance of a request signed with the host's credentials:
    ``ec2:SourceInstanceARN`` for an EC2 instance, ``ssm:SourceInstanceARN`` for a hybrid managed node."""
    if instance_id.startswith("mi-"):
        return f"arn:{partition(region)}:ssm:{region}:{account}:managed-instance/{instance_id}"
    return f"arn:{partition(region)}:ec2:{region}:{account}:instance/{instance_id}"


def exchange_key(instance_id: str) -> str:
    """A new object key for ``instance_id``: fixed-length random names, so no key is a prefix of another (the
    agent's S3 download lists the key as a prefix first, where it may)."""
    return f"{HOST_EXCHANGE_PREFIX}{instance_id}/{secrets.token_hex(16)}"


def exchange_url(bucket: str, region: str, key: str) -> str:
    """The object's virtual-hosted URL, the form amazon-ssm-agent's ``s3util.ParseAmazonS3URL`` reads."""
    suffix = ".amazonaws.com.cn" if region.startswith("cn-") else ".amazonaws.com"
    return f"https://{bucket}.s3.{region}{suffix}/{key}"


def exchange_body(values: Mapping[str, str]) -> bytes:
    """``NAME value`` lines, each value already checked against its parameter's pattern (no spaces, no newlines)."""
    for name, value in values.items():
        if not PARAMETERS[name].credential:
            raise ValueError(f"{name} is no credential parameter")
        if any(c in value for c in " \n\r"):
            raise ValueError(f"{name}: a credential with a space or a line break cannot be exchanged")
    return "".join(f"{name} {value}\n" for name, value in sorted(values.items())).encode("ascii")


class HostExchange:
    """Writes and deletes host exchange objects in the backup bucket (the task's ``ssm-commands`` grant)."""

    def __init__(self, s3: S3Client, bucket: str, *, region: str, account: Callable[[], str]) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._region = region
        self._account = account

    def put(self, instance_id: str, values: Mapping[str, str]) -> tuple[str, str]:
        """Store ``values`` for ``instance_id`` only; returns (key, the URL to send as ``EXCHANGE_URL``)."""
        import re

        key = exchange_key(instance_id)
        url = exchange_url(self._bucket, self._region, key)
        if not re.fullmatch(EXCHANGE_URL_PATTERN, url):
            raise ValueError(f"the exchange URL {url} does not match EXCHANGE_URL's pattern")
        arn = instance_arn(instance_id, self._region, self._account())
        self._s3.put_object(
            Bucket=self._bucket,
            Key=key,
            Body=exchange_body(values),
            ChecksumAlgorithm=UPLOAD_CHECKSUM,  # required under Object Lock (see s3_store.UPLOAD_CHECKSUM)
            ContentType="text/plain",
            Tagging=f"{quote(HOST_TAG, safe='')}={quote(arn, safe='')}&{RETENTION_TAG}={EXPIRING}",
        )
        return key, url

    def delete(self, key: str) -> None:
        if not key.startswith(HOST_EXCHANGE_PREFIX):
            raise ValueError(f"{key} is no host exchange object")
        self._s3.delete_object(Bucket=self._bucket, Key=key)


__all__ = ["HOST_TAG", "HostExchange", "exchange_body", "exchange_key", "exchange_url", "instance_arn", "partition"]
