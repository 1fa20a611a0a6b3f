"""S3 upload-integrity rules that moto does not enforce, enforced in moto's S3 response layer.

Both ways the local plane reaches S3 go through ``moto.s3.responses.S3Response._key_response_put``: boto3 under
``mock_aws`` (in-process) and the host's curl through ``LocalS3Endpoint`` (moto's HTTP app). One patch there
makes both as strict as S3 for PutObject and UploadPart:

* **Object Lock needs a checksum.** When the bucket has Object Lock with a default retention (or the PutObject
  carries ``x-amz-object-lock-*`` headers), S3 refuses an upload that carries neither ``Content-MD5`` nor an
  ``x-amz-checksum-<algorithm>`` value (as a header, or announced in ``x-amz-trailer`` for an aws-chunked body):
  400 ``InvalidRequest`` "Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests with
  Object Lock parameters" ("… for Put Part requests …" for UploadPart). ``x-amz-content-sha256`` (a signed
  payload) does not count, and neither does ``x-amz-sdk-checksum-algorithm`` without a value. Sources: the S3
  API reference of PutObject's ``Content-MD5`` ("The Content-MD5 or x-amz-sdk-checksum-algorithm header is
  required for any request to upload an object with a retention period configured using Amazon S3 Object
  Lock", also in botocore's S3 model) and of UploadPart's ("This parameter is required if object lock
  parameters are specified"); S3's answers as quoted in github.com/versity/versitygw/issues/1535 (PutObject)
  and github.com/s3tools/s3cmd/issues/1436 (UploadPart, "x-amz-content-sha256 is not sufficient").
  moto checks a weaker rule for PutObject only (any ``x-amz-sdk-checksum-algorithm`` passes, another error
  code) and none for UploadPart: a part upload without a checksum passed here and failed on AWS.
* **A given Content-MD5 must match the body** (S3 checks it whatever the bucket): 400 ``BadDigest`` "The
  Content-MD5 you specified did not match what we received.", or 400 ``InvalidDigest`` when it is not the
  base64 of 16 bytes. moto ignores the header.
* **Completed multipart uploads get the bucket's default retention**, as S3 applies it to every new object
  version; moto applies it to PutObject only, so a completed dump looked unlocked here.

``refusals()`` lists what was refused (operation, error code), for tests. ``install()`` is idempotent; the local
plane (``moto_patches.install``) and ``LocalS3Endpoint.start`` both call it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import threading
from collections.abc import Callable, Mapping
from typing import Any, Literal

Operation = Literal["PutObject", "UploadPart"]

#: the x-amz-checksum-* headers that carry a value (x-amz-checksum-mode/-type/-algorithm do not)
CHECKSUM_HEADERS = frozenset(f"x-amz-checksum-{name}" for name in ("crc32", "crc32c", "crc64nvme", "sha1", "sha256"))
_LOCK_HEADERS = ("x-amz-object-lock-mode", "x-amz-object-lock-retain-until-date")
_MISSING_CHECKSUM = {
    "PutObject": "Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests with Object Lock "
    "parameters",
    "UploadPart": "Content-MD5 OR x-amz-checksum- HTTP header is required for Put Part requests with Object Lock "
    "parameters",
}
_SUBRESOURCES = ("retention", "legal-hold", "acl", "tagging")


class S3Refused(Exception):
    """What S3 answers (HTTP 400 with this error code and message)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


def content_md5(data: bytes) -> str:
    """The Content-MD5 of ``data``: base64 of the binary MD5 digest (RFC 1864)."""
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode("ascii")


def has_checksum(headers: Mapping[str, str]) -> bool:
    """A Content-MD5 or an x-amz-checksum-* value, as a header or announced as a trailer (lower-case names)."""
    if headers.get("content-md5"):
        return True
    if any(headers.get(name) for name in CHECKSUM_HEADERS):
        return True
    trailers = {name.strip().lower() for name in headers.get("x-amz-trailer", "").split(",")}
    return bool(trailers & CHECKSUM_HEADERS)


def locked_request(headers: Mapping[str, str]) -> bool:
    """Object Lock parameters on the request itself (a retention or a legal hold)."""
    return any(headers.get(name) for name in _LOCK_HEADERS) or headers.get("x-amz-object-lock-legal-hold") == "ON"


def check_upload(operation: Operation, headers: Mapping[str, str], body: bytes, *, lock_applies: bool) -> None:
    """Raise ``S3Refused`` as S3 would for this PutObject/UploadPart; ``headers`` have lower-case names,
    ``body`` is the decoded payload, ``lock_applies`` says whether the bucket's Object Lock (a default retention)
    or the request's own lock headers cover the new object."""
    given = headers.get("content-md5")
    if given is not None:
        try:
            digest = base64.b64decode(given.strip(), validate=True)
        except (binascii.Error, ValueError):
            digest = b""
        if len(digest) != 16:
            raise S3Refused("InvalidDigest", "The Content-MD5 you specified is not valid.")
        if given.strip() != content_md5(body):
            raise S3Refused("BadDigest", "The Content-MD5 you specified did not match what we received.")
    if lock_applies and not has_checksum(headers):
        raise S3Refused("InvalidRequest", _MISSING_CHECKSUM[operation])


def operation_of(query: Mapping[str, Any], headers: Mapping[str, str]) -> Operation | None:
    """Which upload a PUT on a key is (None: a copy or a subresource such as ?tagging, not checked here)."""
    if "x-amz-copy-source" in headers:
        return None
    if query.get("uploadId") and query.get("partNumber"):
        return "UploadPart"
    if any(name in query for name in _SUBRESOURCES):
        return None
    return "PutObject"


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.installed = False
        self.refused: list[tuple[Operation, str]] = []


_STATE = _State()


def refusals() -> list[tuple[Operation, str]]:
    """(operation, error code) of every upload refused by these rules so far, in order."""
    with _STATE.lock:
        return list(_STATE.refused)


def _strict_key_put(original: Callable[..., Any]) -> Callable[..., Any]:
    def key_response_put(self: Any, query: dict[str, Any], key_name: str) -> Any:
        from moto.s3.exceptions import S3ClientError

        headers = {str(name).lower(): str(value) for name, value in self.headers.items()}
        operation = operation_of(query, headers)
        if operation is not None:
            bucket = self.backend.buckets.get(self.bucket_name)
            if bucket is not None:  # else moto answers NoSuchBucket
                lock_applies = bool(bucket.object_lock_enabled) and (
                    bool(bucket.has_default_lock) or (operation == "PutObject" and locked_request(headers))
                )
                body = self.body or b""
                try:
                    check_upload(
                        operation,
                        headers,
                        body.encode("utf-8") if isinstance(body, str) else bytes(body),
                        lock_applies=lock_applies,
                    )
                except S3Refused as refused:
                    with _STATE.lock:
                        _STATE.refused.append((operation, refused.code))
                    raise S3ClientError(refused.code, refused.message) from refused
        return original(self, query, key_name)

    return key_response_put


def _default_retention_on_complete(original: Callable[..., Any]) -> Callable[..., Any]:
    def complete_multipart_upload(self: Any, bucket_name: str, *args: Any, **kwargs: Any) -> Any:
        key = original(self, bucket_name, *args, **kwargs)
        bucket = self.get_bucket(bucket_name)
        if key is not None and bucket.has_default_lock and not key.lock_mode:
            key.lock_mode = bucket.default_lock_mode
            key.lock_until = bucket.default_retention()
        return key

    return complete_multipart_upload


def install() -> None:
    """Patch moto's S3 (idempotent)."""
    with _STATE.lock:
        if _STATE.installed:
            return
        from moto.s3.models import S3Backend
        from moto.s3.responses import S3Response

        S3Response._key_response_put = _strict_key_put(S3Response._key_response_put)  # type: ignore[method-assign]
        S3Backend.complete_multipart_upload = _default_retention_on_complete(  # type: ignore[method-assign]
            S3Backend.complete_multipart_upload
        )
        _STATE.installed = True
