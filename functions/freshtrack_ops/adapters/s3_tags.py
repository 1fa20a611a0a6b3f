"""TagStore on S3: object tagging of the current version (the bucket is versioned)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

#: what S3 answers for a key without a current version (never existed, or a delete marker is current);
#: without s3:ListBucket it answers AccessDenied instead, which is raised, never taken for "gone"
_MISSING = frozenset({"NoSuchKey", "404", "NotFound", "MethodNotAllowed"})


class S3TagStore:
    def __init__(self, client: S3Client, bucket: str) -> None:
        self._client = client
        self.bucket = bucket

    def get_tags(self, key: str) -> dict[str, str] | None:
        try:
            response = self._client.get_object_tagging(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            error: Any = exc.response.get("Error", {})
            if str(error.get("Code", "")) in _MISSING:
                return None
            raise
        return {tag["Key"]: tag["Value"] for tag in response["TagSet"]}

    def put_tags(self, key: str, tags: dict[str, str]) -> None:
        # No explicit checksum needed: S3's model marks PutObjectTagging "requestChecksumRequired", so botocore
        # always sends x-amz-checksum-crc32 (also with request_checksum_calculation=when_required), and Object
        # Lock's checksum rule covers uploads of object data (PutObject/UploadPart), not tags.
        self._client.put_object_tagging(
            Bucket=self.bucket,
            Key=key,
            Tagging={"TagSet": [{"Key": name, "Value": value} for name, value in sorted(tags.items())]},
        )
