"""Presigned S3 URLs for the SSM data path: the host moves the bytes with curl, holding no AWS credentials.

Backup: ``mint_upload`` creates the multipart upload (tagged ``retention=expiring`` like ``S3BackupStore``),
presigns ``UploadPart`` for parts 1..N and writes them as ``<part> <url>`` lines to a small object under
``ssm-exchange/`` (a list of thousands of URLs does not fit an SSM parameter); the host script
``ssm_backup_upload.sh`` receives one presigned GET URL of that list. A URL dies with the credentials that
signed it, whatever its expiry says, so a long upload (a host job) is fed fresh URLs for its remaining parts
as it goes: ``mint_part_urls`` writes another list next to the first, which a poll hands to the host. The
script's output (``PART <n> <etag>`` lines, ``SHA256 <hex> <bytes>``) goes to ``complete_from_output``, which
completes the upload or, on any inconsistency, aborts it. Restore and verification: ``object_url`` presigns a
GET of the backup object. A disaster recovery's transfer objects (``adapters/transfer.py``): ``put_url`` and
``object_url``.

Presign with ``presign_client(region)`` (SigV4, the regional virtual-hosted endpoint): botocore's default
S3 client presigns SigV2 URLs in us-east-1 and global-endpoint URLs elsewhere (S3 answers those with a 307
redirect, which ``curl -f`` does not treat as an error). Every URL minted here is checked to be SigV4.

Presigned URLs are bearer credentials until they expire: this module logs nothing, and no message it raises
contains one. Their expiry is the function's ``presign_validity_s`` (runtime settings, 1 h by default).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from freshtrack_ops.adapters.s3_store import UPLOAD_CHECKSUM
from freshtrack_ops.errors import UploadFailed
from freshtrack_ops.host_scripts.parameters import MAX_PART_SIZE, MIB, MIN_PART_SIZE
from freshtrack_ops.retention.tags import EXPIRING, RETENTION_TAG

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

#: where the lists of part URLs live (a lifecycle rule should expire this prefix after a day)
EXCHANGE_PREFIX = "ssm-exchange/"
#: S3's limit of parts per multipart upload
MAX_PARTS = 10_000
#: the part size when the caller does not choose one (the SSH path's DEFAULT_PART_SIZE)
DEFAULT_PART_SIZE = 8 * MIB
#: how many URLs ``plan_parts`` aims for at most (bigger dumps get bigger parts; the list stays small)
TARGET_URLS = 1_000
#: the fixed part of every expiry; ``expiry_for`` adds the estimated duration
DEFAULT_EXPIRY_S = 15 * 60
#: SigV4 presigned URLs live at most 7 days
MAX_EXPIRY_S = 7 * 24 * 3600

_PART_LINE = re.compile(r'PART ([1-9][0-9]{0,4}) ("?)([A-Za-z0-9._-]{1,128})\2')
_SHA_LINE = re.compile(r"SHA256 ([0-9a-f]{64}) (0|[1-9][0-9]{0,15})")


@dataclass(frozen=True)
class PartPlan:
    part_size: int
    parts: int


@dataclass(frozen=True)
class UploadReport:
    """What ``ssm_backup_upload.sh`` printed: the parts in order, and the hash and size of the whole stream."""

    parts: tuple[tuple[int, str], ...]
    sha256: str
    size: int


def presign_client(region: str, session: boto3.session.Session | None = None, *, endpoint_url: str = "") -> S3Client:
    """The S3 client to presign with: SigV4 and ``https://<bucket>.s3.<region>.amazonaws.com`` URLs, or
    path-style URLs on ``endpoint_url`` (an S3-compatible or interface endpoint)."""
    config = Config(
        signature_version="s3v4",
        s3={
            "addressing_style": "path" if endpoint_url else "virtual",
            "us_east_1_regional_endpoint": "regional",
        },
    )
    client: S3Client = (session or boto3.session.Session()).client(
        "s3", region_name=region, config=config, endpoint_url=endpoint_url or None
    )
    return client


def _presign(s3_client: S3Client, operation: str, params: Mapping[str, Any], expires_s: int) -> str:
    url = s3_client.generate_presigned_url(operation, Params=dict(params), ExpiresIn=expires_s)
    if "X-Amz-Signature=" not in url:
        raise ValueError("the presigning client must sign with SigV4 (use presign_client)")
    return url


def plan_parts(
    estimated_bytes: int, *, margin: float = 2.0, part_size: int | None = None, target_urls: int = TARGET_URLS
) -> PartPlan:
    """How many part URLs to mint (and how big a part is) for a dump of about ``estimated_bytes``.

    The estimate (e.g. ``pg_database_size``, usually far above the compressed dump) is multiplied by
    ``margin``; one spare part is added. Without ``part_size`` the part grows in whole MiB from 8 MiB so
    that about ``target_urls`` URLs suffice. Raises ValueError when even 512 MiB parts would need more than
    10,000 parts (over 5 TiB)."""
    if estimated_bytes < 0 or margin < 1:
        raise ValueError("estimated_bytes must be >= 0 and margin >= 1")
    needed = max(1, math.ceil(estimated_bytes * margin))
    if part_size is None:
        wanted = math.ceil(needed / target_urls / MIB) * MIB
        part_size = min(MAX_PART_SIZE, max(DEFAULT_PART_SIZE, wanted))
    if not MIN_PART_SIZE <= part_size <= MAX_PART_SIZE:
        raise ValueError(f"part_size {part_size} is outside {MIN_PART_SIZE}..{MAX_PART_SIZE}")
    parts = math.ceil(needed / part_size) + 1
    if parts > MAX_PARTS:
        raise ValueError(f"{needed} bytes need {parts} parts of {part_size} bytes, over S3's {MAX_PARTS}")
    return PartPlan(part_size=part_size, parts=parts)


def expiry_for(estimated_duration_s: float, *, base_s: int = DEFAULT_EXPIRY_S) -> int:
    """Seconds a URL must stay valid: ``base_s`` (15 min) plus the estimated duration, at most 7 days."""
    if estimated_duration_s < 0:
        raise ValueError("estimated_duration_s must be >= 0")
    return min(MAX_EXPIRY_S, base_s + math.ceil(estimated_duration_s))


def _check_expiry(expires_s: int) -> None:
    if not 1 <= expires_s <= MAX_EXPIRY_S:
        raise ValueError(f"expires_s {expires_s} is outside 1..{MAX_EXPIRY_S}")


def list_key_for(key: str, upload_id: str) -> str:
    """The exchange object of one upload (named by a hash: keys and upload ids can be long)."""
    digest = hashlib.sha256(f"{key}\0{upload_id}".encode()).hexdigest()[:32]
    return f"{EXCHANGE_PREFIX}{digest}/part-urls"


def mint_upload(
    s3_client: S3Client,
    bucket: str,
    key: str,
    *,
    parts: int,
    expires_s: int,
    metadata: Mapping[str, str] | None = None,
    content_type: str = "application/octet-stream",
) -> tuple[str, str, str]:
    """Create the multipart upload and its list of ``parts`` presigned part URLs; return
    ``(upload_id, list_key, list_url)`` where ``list_url`` is a presigned GET of the list.

    The list object is itself a credential: it expires with the upload's URLs and should be deleted with
    ``discard_part_urls`` once the upload is completed or aborted. Any failure after the upload was created
    aborts it (UploadFailed, without any URL in the message)."""
    if not 1 <= parts <= MAX_PARTS:
        raise ValueError(f"parts {parts} is outside 1..{MAX_PARTS}")
    _check_expiry(expires_s)
    try:
        response = s3_client.create_multipart_upload(
            Bucket=bucket,
            Key=key,
            ContentType=content_type,
            Metadata=dict(metadata or {}),
            Tagging=f"{RETENTION_TAG}={EXPIRING}",
        )
    except (ClientError, BotoCoreError) as exc:
        raise UploadFailed(f"s3://{bucket}/{key}: cannot start upload: {_reason(exc)}") from exc
    upload_id = response["UploadId"]
    list_key = list_key_for(key, upload_id)
    try:
        _write_part_urls(s3_client, bucket, key, upload_id, range(1, parts + 1), expires_s=expires_s, list_key=list_key)
        # fetched once, at the start of the command (delivery can queue a while): the same expiry
        list_url = object_url(s3_client, bucket, list_key, expires_s)
    except BaseException as exc:
        abort_upload(s3_client, bucket, key, upload_id)
        if isinstance(exc, ClientError | BotoCoreError):
            raise UploadFailed(f"s3://{bucket}/{key}: cannot publish the part URLs: {_reason(exc)}") from exc
        raise
    return upload_id, list_key, list_url


def mint_part_urls(
    s3_client: S3Client, bucket: str, key: str, upload_id: str, *, first: int, last: int, expires_s: int, stamp: int
) -> str:
    """Fresh URLs for parts ``first..last`` of a running upload, as another list next to the first one;
    returns a presigned GET of it (UploadFailed, without any URL in the message, when S3 refuses)."""
    if not 1 <= first <= last <= MAX_PARTS:
        raise ValueError(f"parts {first}..{last} are outside 1..{MAX_PARTS}")
    _check_expiry(expires_s)
    list_key = f"{list_key_for(key, upload_id)}-{first}-{stamp}"
    try:
        _write_part_urls(
            s3_client, bucket, key, upload_id, range(first, last + 1), expires_s=expires_s, list_key=list_key
        )
        return object_url(s3_client, bucket, list_key, expires_s)
    except (ClientError, BotoCoreError) as exc:
        raise UploadFailed(f"s3://{bucket}/{key}: cannot publish fresh part URLs: {_reason(exc)}") from exc


def _write_part_urls(
    s3_client: S3Client, bucket: str, key: str, upload_id: str, numbers: range, *, expires_s: int, list_key: str
) -> None:
    lines = [
        f"{number} "
        + _presign(
            s3_client,
            "upload_part",
            {"Bucket": bucket, "Key": key, "UploadId": upload_id, "PartNumber": number},
            expires_s,
        )
        for number in numbers
    ]
    s3_client.put_object(
        Bucket=bucket,
        Key=list_key,
        Body=("\n".join(lines) + "\n").encode("ascii"),
        ChecksumAlgorithm=UPLOAD_CHECKSUM,  # required under Object Lock (see s3_store.UPLOAD_CHECKSUM)
        ContentType="text/plain",
        Tagging=f"{RETENTION_TAG}={EXPIRING}",
    )


def object_url(s3_client: S3Client, bucket: str, key: str, expires_s: int = DEFAULT_EXPIRY_S) -> str:
    """A presigned GET of ``s3://bucket/key`` (for ``OBJECT_URL`` of the SSM restore and list scripts)."""
    _check_expiry(expires_s)
    return _presign(s3_client, "get_object", {"Bucket": bucket, "Key": key}, expires_s)


def put_url(s3_client: S3Client, bucket: str, key: str, expires_s: int = DEFAULT_EXPIRY_S) -> str:
    """A presigned PUT of ``s3://bucket/key`` (a transfer object the host uploads; it sends Content-MD5, unsigned)."""
    _check_expiry(expires_s)
    return _presign(s3_client, "put_object", {"Bucket": bucket, "Key": key}, expires_s)


def parse_upload_output(stdout: str, *, part_size: int | None = None) -> UploadReport:
    """The parts and the digest that ``ssm_backup_upload.sh`` reported; UploadFailed on anything inconsistent:
    a malformed or repeated PART line, missing parts (they must be 1..N), no part at all, no or several
    SHA256 lines, an empty stream, or (given ``part_size``) a part count that does not fit the size."""
    parts: dict[int, str] = {}
    digests: list[tuple[str, int]] = []
    for raw in stdout.splitlines():
        line = raw.rstrip("\r")
        if line.startswith("PART "):
            match = _PART_LINE.fullmatch(line)
            if match is None:
                raise UploadFailed(f"malformed part line {line[:80]!r}")
            number = int(match.group(1))
            if number in parts:
                raise UploadFailed(f"part {number} was reported twice")
            parts[number] = f'"{match.group(3)}"'
        elif line.startswith("SHA256 "):
            match = _SHA_LINE.fullmatch(line)
            if match is None:
                raise UploadFailed(f"malformed digest line {line[:100]!r}")
            digests.append((match.group(1), int(match.group(2))))
    if not parts:
        raise UploadFailed("the host reported no uploaded part")
    count = len(parts)
    if count > MAX_PARTS or sorted(parts) != list(range(1, count + 1)):
        missing = sorted(set(range(1, max(parts) + 1)) - set(parts))[:10]
        raise UploadFailed(f"the parts are not 1..{max(parts)} (missing {missing})")
    if len(digests) != 1:
        raise UploadFailed(f"expected one SHA256 line, the host printed {len(digests)}")
    sha256, size = digests[0]
    if size == 0:
        raise UploadFailed("the host uploaded an empty stream")
    if part_size is not None and count != math.ceil(size / part_size):
        raise UploadFailed(f"{size} bytes in parts of {part_size} cannot be {count} parts")
    return UploadReport(parts=tuple(sorted(parts.items())), sha256=sha256, size=size)


def complete_from_output(
    s3_client: S3Client, bucket: str, key: str, upload_id: str, stdout: str, *, part_size: int | None = None
) -> tuple[int, str, int]:
    """Complete the upload from the host's report; return ``(size, sha256, parts)``.

    Aborts the upload (and raises UploadFailed) when the report is inconsistent, when S3 refuses to complete
    it, or when the completed object's size differs from the byte count the host hashed (the object is then
    deleted: a backup whose bytes do not match its digest must not exist)."""
    try:
        report = parse_upload_output(stdout, part_size=part_size)
        completed: list[CompletedPartTypeDef] = [{"PartNumber": n, "ETag": etag} for n, etag in report.parts]
        try:
            s3_client.complete_multipart_upload(
                Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": completed}
            )
        except (ClientError, BotoCoreError) as exc:
            raise UploadFailed(f"s3://{bucket}/{key}: completing the upload failed: {_reason(exc)}") from exc
    except BaseException:
        abort_upload(s3_client, bucket, key, upload_id)
        raise
    stored = s3_client.head_object(Bucket=bucket, Key=key)["ContentLength"]
    if stored != report.size:
        s3_client.delete_object(Bucket=bucket, Key=key)
        raise UploadFailed(f"s3://{bucket}/{key}: the object has {stored} bytes, the host sent {report.size}")
    return report.size, report.sha256, len(report.parts)


def abort_upload(s3_client: S3Client, bucket: str, key: str, upload_id: str) -> None:
    """Abort a multipart upload (its parts are deleted); an upload that no longer exists is fine."""
    try:
        s3_client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
    except ClientError as exc:
        if _code(exc) != "NoSuchUpload":
            raise


def discard_part_urls(s3_client: S3Client, bucket: str, list_key: str) -> None:
    """Delete an upload's lists of part URLs: the first and every fresh one minted for a job (only keys under
    ``ssm-exchange/``)."""
    if not list_key.startswith(EXCHANGE_PREFIX):
        raise ValueError(f"{list_key!r} is not an exchange object")
    listed = s3_client.list_objects_v2(Bucket=bucket, Prefix=list_key)
    keys = {obj["Key"] for obj in listed.get("Contents", [])} | {list_key}
    for stale in sorted(keys):
        s3_client.delete_object(Bucket=bucket, Key=stale)


def _code(exc: ClientError) -> str:
    error: Any = exc.response.get("Error", {})
    return str(error.get("Code", ""))


def _reason(exc: ClientError | BotoCoreError) -> str:
    """The error code only: botocore messages never carry presigned URLs, but keep it that way."""
    return _code(exc) if isinstance(exc, ClientError) else type(exc).__name__


class S3PresignedUploads:
    """``PresignedUploads`` on S3: URLs signed by ``presigner`` (see ``presign_client``), everything else done
    with ``client``."""

    def __init__(self, presigner: S3Client, client: S3Client, bucket: str) -> None:
        self._presigner = presigner
        self._client = client
        self.bucket = bucket

    def start(self, key: str, *, parts: int, expires_s: int, metadata: Mapping[str, str]) -> tuple[str, str, str]:
        return mint_upload(self._presigner, self.bucket, key, parts=parts, expires_s=expires_s, metadata=metadata)

    def fresh_part_urls(self, key: str, upload_id: str, *, first: int, last: int, expires_s: int, stamp: int) -> str:
        return mint_part_urls(
            self._presigner, self.bucket, key, upload_id, first=first, last=last, expires_s=expires_s, stamp=stamp
        )

    def object_url(self, key: str, expires_s: int) -> str:
        return object_url(self._presigner, self.bucket, key, expires_s)

    def complete(self, key: str, upload_id: str, report: str, *, part_size: int) -> tuple[int, str, int]:
        return complete_from_output(self._client, self.bucket, key, upload_id, report, part_size=part_size)

    def abort(self, key: str, upload_id: str) -> None:
        abort_upload(self._client, self.bucket, key, upload_id)

    def discard_lists(self, list_key: str) -> None:
        discard_part_urls(self._client, self.bucket, list_key)
