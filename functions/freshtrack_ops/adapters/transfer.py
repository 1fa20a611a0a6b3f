"""Transfer objects: small objects under ``dr-transfer/`` through which a host over SSM sends or receives content
that must never be an SSM command's output or parameter (the app configuration of a disaster recovery).

The host holds no AWS credentials: it PUTs or GETs the object with a presigned URL. The control plane reads or
writes it with the task's own client and deletes it once the command ended — every version of it: the bucket is
versioned, so a plain DELETE would only add a delete marker and keep the content as a noncurrent version; and with
S3 Object Lock every new version is retained in GOVERNANCE mode, so each version is deleted with
``BypassGovernanceRetention`` (the role needs ``s3:DeleteObjectVersion``, ``s3:BypassGovernanceRetention`` and
``s3:ListBucketVersions`` on the prefix). Writes carry a checksum (Object Lock requires one; ``UPLOAD_CHECKSUM``).

Nothing here logs, and no message it raises holds a URL or the content.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from freshtrack_ops.adapters.presign import object_url, put_url
from freshtrack_ops.adapters.s3_store import UPLOAD_CHECKSUM

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

#: where transfer objects live (the storage stack's lifecycle should expire the prefix after a day, as a backstop)
TRANSFER_PREFIX = "dr-transfer/"


class TransferTooLarge(ValueError):
    """The object is larger than the reader accepts (its content is not read)."""


def _check_key(key: str) -> None:
    if not key.startswith(TRANSFER_PREFIX) or ".." in key:
        raise ValueError(f"{key!r} is not a transfer object")


class S3TransferObjects:
    """Transfer objects in ``bucket``: URLs signed by ``presigner`` (``presign.presign_client``), everything else
    done with ``client``."""

    def __init__(self, presigner: S3Client, client: S3Client, bucket: str) -> None:
        self._presigner = presigner
        self._client = client
        self.bucket = bucket

    def put(self, key: str, body: bytes) -> None:
        _check_key(key)
        self._client.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=body,
            ChecksumAlgorithm=UPLOAD_CHECKSUM,  # required under Object Lock (s3_store.UPLOAD_CHECKSUM)
            ContentType="application/octet-stream",
        )

    def get(self, key: str, *, max_bytes: int) -> bytes:
        """The object's bytes; TransferTooLarge (nothing read) when it has more than ``max_bytes``."""
        _check_key(key)
        response = self._client.get_object(Bucket=self.bucket, Key=key)
        body = response["Body"]
        try:
            if response["ContentLength"] > max_bytes:
                raise TransferTooLarge(f"{key}: {response['ContentLength']} bytes, over {max_bytes}")
            return body.read()
        finally:
            body.close()

    def put_url(self, key: str, expires_s: int) -> str:
        """A presigned PUT of ``key`` (the host sends Content-MD5 with it)."""
        _check_key(key)
        return put_url(self._presigner, self.bucket, key, expires_s)

    def get_url(self, key: str, expires_s: int) -> str:
        _check_key(key)
        return object_url(self._presigner, self.bucket, key, expires_s)

    def delete(self, key: str) -> int:
        """Delete every version and delete marker of ``key`` (bypassing GOVERNANCE retention when there is any); how
        many there were.
        A key that never existed is fine (0)."""
        _check_key(key)
        versions: list[str] = []
        paginator = self._client.get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=key):
            for entry in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
                if entry.get("Key") == key and "VersionId" in entry:
                    versions.append(entry["VersionId"])
        for version in versions:
            self._delete_version(key, version)
        return len(versions)

    def _delete_version(self, key: str, version: str) -> None:
        """Without Object Lock a version is deleted as asked; with it, S3 refuses (AccessDenied) to delete a version
        GOVERNANCE retains unless the request carries the bypass header, which the role is then granted (only
        then: stacks/dr_grants.py). So: ask plainly, and bypass only when the retention refused."""
        from botocore.exceptions import ClientError

        try:
            self._client.delete_object(Bucket=self.bucket, Key=key, VersionId=version)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "AccessDenied":
                raise
            self._client.delete_object(Bucket=self.bucket, Key=key, VersionId=version, BypassGovernanceRetention=True)
