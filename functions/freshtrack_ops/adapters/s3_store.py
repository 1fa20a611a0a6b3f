"""BackupStore on S3: multipart uploads (bucket default encryption: SSE-KMS), manifests, listing."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from freshtrack_ops.errors import BackupNotFound, DownloadFailed, UploadFailed
from freshtrack_ops.retention.tags import EXPIRING, RETENTION_TAG

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef


#: Every backup object starts as "expiring"; the retention task re-tags the last verified ones "protected"
#: and the bucket's lifecycle rule only expires objects tagged expiring (see docs/retention.md).


#: The checksum every PutObject/UploadPart of the Lambdas names explicitly. With S3 Object Lock
#: (``object_lock_days``: a default retention on the bucket) S3 refuses an upload that carries neither
#: ``Content-MD5`` nor an ``x-amz-checksum-*`` value: 400 InvalidRequest "Content-MD5 OR x-amz-checksum- HTTP header
#: is required for Put Object requests with Object Lock parameters" (S3 API reference, PutObject ``Content-MD5``:
#: "The Content-MD5 or x-amz-sdk-checksum-algorithm header is required for any request to upload an object with
#: a retention period configured using Amazon S3 Object Lock"; docs/ssm.md). boto3 1.44 adds a CRC32 trailer by
#: default, but none when ``request_checksum_calculation`` is ``when_required`` (``AWS_REQUEST_CHECKSUM_CALCULATION``
#: or the config file), so backups must not rely on that default. Naming ``ChecksumAlgorithm`` makes botocore send
#: ``x-amz-sdk-checksum-algorithm`` and the CRC32 (a trailer over HTTPS) in either mode, and S3 verifies it. CRC32
#: rather than Content-MD5: it is what botocore computes anyway, and zlib's CRC32 costs a fraction of an MD5 pass
#: over every 8 MiB part (about 3.5 GB/s against 0.6 GB/s here) in a Lambda that already hashes the stream.
UPLOAD_CHECKSUM: Final = "CRC32"


class S3MultipartUpload:
    def __init__(self, client: S3Client, bucket: str, key: str, upload_id: str) -> None:
        self._client = client
        self._bucket = bucket
        self.key = key
        self.upload_id = upload_id
        self._parts: list[CompletedPartTypeDef] = []

    def upload_part(self, data: bytes) -> None:
        number = len(self._parts) + 1
        try:
            response = self._client.upload_part(
                Bucket=self._bucket,
                Key=self.key,
                UploadId=self.upload_id,
                PartNumber=number,
                Body=data,
                ChecksumAlgorithm=UPLOAD_CHECKSUM,  # required under Object Lock (see UPLOAD_CHECKSUM)
            )
        except (ClientError, BotoCoreError) as exc:
            raise UploadFailed(f"s3://{self._bucket}/{self.key}: part {number} failed: {exc}") from exc
        self._parts.append({"ETag": response["ETag"], "PartNumber": number})

    def complete(self) -> int:
        try:
            self._client.complete_multipart_upload(
                Bucket=self._bucket,
                Key=self.key,
                UploadId=self.upload_id,
                MultipartUpload={"Parts": self._parts},
            )
        except (ClientError, BotoCoreError) as exc:
            raise UploadFailed(f"s3://{self._bucket}/{self.key}: completing the upload failed: {exc}") from exc
        return len(self._parts)

    def abort(self) -> None:
        try:
            self._client.abort_multipart_upload(Bucket=self._bucket, Key=self.key, UploadId=self.upload_id)
        except ClientError as exc:
            if _code(exc) != "NoSuchUpload":
                raise


class S3BackupStore:
    def __init__(self, client: S3Client, bucket: str) -> None:
        self._client = client
        self.bucket = bucket

    def start_upload(self, key: str, *, content_type: str, metadata: Mapping[str, str]) -> S3MultipartUpload:
        try:
            response = self._client.create_multipart_upload(
                Bucket=self.bucket,
                Key=key,
                ContentType=content_type,
                Metadata=dict(metadata),
                Tagging=f"{RETENTION_TAG}={EXPIRING}",
            )
        except (ClientError, BotoCoreError) as exc:
            raise UploadFailed(f"s3://{self.bucket}/{key}: cannot start upload: {exc}") from exc
        return S3MultipartUpload(self._client, self.bucket, key, response["UploadId"])

    def put_json(self, key: str, body: str) -> None:
        """Write a JSON object; an overwrite keeps the object's retention tag (a protected manifest stays so)."""
        self._put_json(key, body, tagging=f"{RETENTION_TAG}={self._retention_of(key)}")

    def put_log(self, key: str, body: str) -> None:
        """Write a JSON log outside backups/ (deploy logs): no retention tag, the prefix's lifecycle expires it."""
        self._put_json(key, body)

    def put_text(self, key: str, body: str, content_type: str = "text/plain; charset=utf-8") -> None:
        """Write a text object outside backups/ (a saved log, a report): no retention tag, the prefix's lifecycle
        expires it."""
        self._put_json(key, body, content_type=content_type)

    def _put_json(
        self, key: str, body: str, tagging: str | None = None, content_type: str = "application/json"
    ) -> None:
        extra: dict[str, Any] = {"Tagging": tagging} if tagging is not None else {}
        self._client.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=body.encode("utf-8"),
            ChecksumAlgorithm=UPLOAD_CHECKSUM,  # required under Object Lock (see UPLOAD_CHECKSUM)
            ContentType=content_type,
            **extra,
        )

    def _retention_of(self, key: str) -> str:
        try:
            tags = self._client.get_object_tagging(Bucket=self.bucket, Key=key)["TagSet"]
        except ClientError as exc:
            if _code(exc) in ("NoSuchKey", "404", "NotFound"):
                return EXPIRING
            raise
        return next((tag["Value"] for tag in tags if tag["Key"] == RETENTION_TAG), EXPIRING)

    def get_text(self, key: str) -> str:
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _code(exc) in ("NoSuchKey", "404"):
                raise BackupNotFound(f"s3://{self.bucket}/{key} does not exist") from exc
            raise
        return response["Body"].read().decode("utf-8")

    def exists(self, key: str) -> bool:
        try:
            self._client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _code(exc) in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def delete(self, key: str) -> None:
        self._client.delete_object(Bucket=self.bucket, Key=key)

    def abort_incomplete_uploads(self, key: str) -> int:
        aborted = 0
        paginator = self._client.get_paginator("list_multipart_uploads")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=key):
            for upload in page.get("Uploads", []):
                if upload.get("Key") == key and "UploadId" in upload:
                    self._client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload["UploadId"])
                    aborted += 1
        return aborted

    def iter_chunks(self, key: str, chunk_size: int) -> Iterator[bytes]:
        """The object's bytes in chunks. A missing object is BackupNotFound; S3 still failing after the SDK's attempts
        (a 5xx, SlowDown) or the body cut mid-read is DownloadFailed; any other refusal (AccessDenied, KMS) stays the
        SDK's error, naming its code."""
        where = f"s3://{self.bucket}/{key}"
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _code(exc) in ("NoSuchKey", "404"):
                raise BackupNotFound(f"{where} does not exist") from exc
            if _status(exc) >= 500 or _code(exc) in S3_TRANSIENT_CODES:
                message = f"{where}: GetObject still answered {_code(exc)} after the SDK's attempts"
                raise DownloadFailed(message) from exc
            raise
        body = response["Body"]
        read = 0
        try:
            while chunk := body.read(chunk_size):
                read += len(chunk)
                yield chunk
        except BotoCoreError as exc:  # ResponseStreamingError, ReadTimeoutError: the body's connection failed
            raise DownloadFailed(f"{where}: the read failed after {read} bytes: {type(exc).__name__}") from exc


#: S3's error codes a later attempt may not get (besides every 5xx), per the S3 API reference's error list: throttling
#: (SlowDown 503) and a request S3 gave up waiting for (RequestTimeout 400)
S3_TRANSIENT_CODES: Final = frozenset({"SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable"})


def _status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)


def _code(exc: ClientError) -> str:
    error: Any = exc.response.get("Error", {})
    return str(error.get("Code", ""))
