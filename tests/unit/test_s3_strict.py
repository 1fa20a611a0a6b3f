"""S3 Object Lock's checksum rule and Content-MD5 checking in the local plane's S3 (``opsctl.local.s3_strict``),
the local endpoint's refusal of unsigned x-amz-* headers, and the product code's explicit checksum on every
upload, even where botocore would send none (``request_checksum_calculation=when_required``)."""

from __future__ import annotations

import base64
import hashlib
import time
import zlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws

from freshtrack_ops.adapters import presign
from freshtrack_ops.adapters.s3_store import S3BackupStore
from opsctl.local import s3_strict
from opsctl.local.s3_endpoint import LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY, check_presigned
from opsctl.local.s3_strict import S3Refused, check_upload, content_md5

LOCKED = "freshtrack-backups-locked"
PLAIN = "freshtrack-backups-plain"
BODY = b"PGDMP" + bytes(range(256)) * 8
MD5 = base64.b64encode(hashlib.md5(BODY).digest()).decode()


# -- the rule itself ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "headers",
    [
        {"content-md5": MD5},
        {"x-amz-checksum-crc32": "AAAAAA=="},
        {"x-amz-checksum-sha256": "x"},
        {"x-amz-trailer": "x-amz-checksum-crc32", "content-encoding": "aws-chunked"},  # botocore's default
        {"x-amz-trailer": "X-Amz-Checksum-CRC64NVME"},
    ],
)
@pytest.mark.parametrize("operation", ["PutObject", "UploadPart"])
def test_an_upload_with_a_checksum_passes_under_object_lock(operation: Any, headers: dict[str, str]) -> None:
    check_upload(operation, headers, BODY, lock_applies=True)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-amz-content-sha256": hashlib.sha256(BODY).hexdigest()},  # a signed payload is not enough
        {"x-amz-sdk-checksum-algorithm": "CRC32"},  # an algorithm without a value
        {"x-amz-checksum-mode": "ENABLED", "x-amz-checksum-type": "COMPOSITE"},
        {"x-amz-trailer": "x-amz-meta-other"},
    ],
)
@pytest.mark.parametrize(
    ("operation", "requests"), [("PutObject", "Put Object requests"), ("UploadPart", "Put Part requests")]
)
def test_an_upload_without_a_checksum_is_refused_under_object_lock(
    operation: Any, requests: str, headers: dict[str, str]
) -> None:
    with pytest.raises(S3Refused) as refused:
        check_upload(operation, headers, BODY, lock_applies=True)
    assert refused.value.code == "InvalidRequest"
    assert refused.value.message == (
        f"Content-MD5 OR x-amz-checksum- HTTP header is required for {requests} with Object Lock parameters"
    )
    check_upload(operation, headers, BODY, lock_applies=False)  # without Object Lock nothing is required


@pytest.mark.parametrize("lock_applies", [True, False])
def test_a_content_md5_must_match_the_body_whatever_the_bucket(lock_applies: bool) -> None:
    with pytest.raises(S3Refused, match="did not match what we received") as refused:
        check_upload("UploadPart", {"content-md5": content_md5(b"other")}, BODY, lock_applies=lock_applies)
    assert refused.value.code == "BadDigest"
    for bad in ("abc", base64.b64encode(b"short").decode(), "!!!!"):
        with pytest.raises(S3Refused) as refused:
            check_upload("PutObject", {"content-md5": bad}, BODY, lock_applies=lock_applies)
        assert refused.value.code == "InvalidDigest"


def test_content_md5_is_base64_of_the_binary_digest() -> None:
    assert content_md5(b"") == "1B2M2Y8AsgTpgAmY7PhCfg=="  # RFC 1864: MD5("") = d41d8cd98f00b204e9800998ecf8427e
    assert content_md5(BODY) == MD5


# -- in moto, in-process -----------------------------------------------------------------------------------------
@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(key, value)
    s3_strict.install()
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=PLAIN)
        client.create_bucket(Bucket=LOCKED, ObjectLockEnabledForBucket=True)
        client.put_object_lock_configuration(
            Bucket=LOCKED,
            ObjectLockConfiguration={
                "ObjectLockEnabled": "Enabled",
                "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}},
            },
        )
        yield client


def _when_required() -> Any:
    """A client that sends a checksum only where S3's model requires one, as AWS_REQUEST_CHECKSUM_CALCULATION=
    when_required (or the config file) makes every client."""
    return boto3.client("s3", region_name="us-east-1", config=Config(request_checksum_calculation="when_required"))


def _code(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    return str(exc.value.response["Error"]["Code"]), int(exc.value.response["ResponseMetadata"]["HTTPStatusCode"])


def test_moto_refuses_uploads_without_a_checksum_to_a_locked_bucket(s3: Any) -> None:
    bare = _when_required()
    before = len(s3_strict.refusals())
    with pytest.raises(ClientError, match="Put Object requests with Object Lock") as refused:
        bare.put_object(Bucket=LOCKED, Key="k.json", Body=b"{}")
    assert _code(refused) == ("InvalidRequest", 400)
    upload_id = bare.create_multipart_upload(Bucket=LOCKED, Key="d.dump")["UploadId"]
    with pytest.raises(ClientError, match="Put Part requests with Object Lock") as refused:
        bare.upload_part(Bucket=LOCKED, Key="d.dump", UploadId=upload_id, PartNumber=1, Body=BODY)
    assert _code(refused) == ("InvalidRequest", 400)
    with pytest.raises(ClientError) as refused:
        bare.upload_part(
            Bucket=LOCKED, Key="d.dump", UploadId=upload_id, PartNumber=1, Body=BODY, ContentMD5=content_md5(b"x")
        )
    assert _code(refused) == ("BadDigest", 400)
    assert s3_strict.refusals()[before:] == [
        ("PutObject", "InvalidRequest"),
        ("UploadPart", "InvalidRequest"),
        ("UploadPart", "BadDigest"),
    ]
    # what is not refused: the same without Object Lock, tagging (botocore always sends its required checksum)
    bare.put_object(Bucket=PLAIN, Key="k.json", Body=b"{}")
    part = bare.upload_part(Bucket=LOCKED, Key="d.dump", UploadId=upload_id, PartNumber=1, Body=BODY, ContentMD5=MD5)
    bare.complete_multipart_upload(
        Bucket=LOCKED,
        Key="d.dump",
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]},
    )
    bare.put_object_tagging(Bucket=LOCKED, Key="d.dump", Tagging={"TagSet": [{"Key": "retention", "Value": "x"}]})
    # and the completed upload carries the bucket's default retention, as on S3
    assert s3.head_object(Bucket=LOCKED, Key="d.dump")["ObjectLockMode"] == "GOVERNANCE"


def test_botocore_sends_a_crc32_trailer_by_default_and_nothing_when_required(s3: Any) -> None:
    """The premise of the explicit Content-MD5: boto3's default checksum depends on the environment."""
    s3.put_object(Bucket=LOCKED, Key="default.json", Body=b"{}")  # CRC32 trailer: accepted
    with pytest.raises(ClientError) as refused:
        _when_required().put_object(Bucket=LOCKED, Key="bare.json", Body=b"{}")
    assert _code(refused) == ("InvalidRequest", 400)


def test_the_backup_store_names_a_checksum_on_every_upload(s3: Any) -> None:
    """Manifest/catalog JSON and dump parts pass under Object Lock even from a client that adds no checksum."""
    store = S3BackupStore(_when_required(), LOCKED)
    store.put_json("backups/demo/m.manifest.json", '{"a": 1}')
    store.put_json("backups/demo/m.manifest.json", '{"a": 2}')  # the rewrite of a verified manifest
    upload = store.start_upload("backups/demo/d.dump", content_type="application/octet-stream", metadata={})
    upload.upload_part(BODY * 2600)  # > 5 MiB
    upload.upload_part(BODY)
    assert upload.complete() == 2
    body = s3.get_object(Bucket=LOCKED, Key="backups/demo/d.dump")["Body"].read()
    assert body == BODY * 2601
    assert s3.get_object(Bucket=LOCKED, Key="backups/demo/m.manifest.json")["Body"].read() == b'{"a": 2}'
    head = s3.head_object(Bucket=LOCKED, Key="backups/demo/m.manifest.json", ChecksumMode="ENABLED")
    assert head["ChecksumCRC32"] == base64.b64encode(zlib.crc32(b'{"a": 2}').to_bytes(4, "big")).decode()


def test_minting_an_ssm_upload_writes_its_url_list_with_a_checksum(s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REQUEST_CHECKSUM_CALCULATION", "when_required")
    presigner = presign.presign_client("us-east-1")
    assert presigner.meta.config.request_checksum_calculation == "when_required"  # type: ignore[attr-defined]  # not in botocore-stubs
    upload_id, list_key, _ = presign.mint_upload(presigner, LOCKED, "backups/demo-ssm/d.dump", parts=3, expires_s=60)
    urls = s3.get_object(Bucket=LOCKED, Key=list_key)["Body"].read().decode().splitlines()
    assert len(urls) == 3
    presign.abort_upload(s3, LOCKED, "backups/demo-ssm/d.dump", upload_id)


# -- presigned requests: only Content-MD5 can be added after signing -----------------------------------------------
def _presigned_part() -> tuple[str, str]:
    client = boto3.client(
        "s3",
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:45123",
        aws_access_key_id=LOCAL_ACCESS_KEY,
        aws_secret_access_key=LOCAL_SECRET_KEY,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    url = client.generate_presigned_url(
        "upload_part", Params={"Bucket": LOCKED, "Key": "d.dump", "UploadId": "u-1", "PartNumber": 1}, ExpiresIn=60
    )
    parts = urlsplit(url)
    return parts.path, parts.query


def _check(headers: dict[str, str]) -> tuple[str, str] | None:
    path, query = _presigned_part()
    return check_presigned(
        "PUT",
        path,
        query,
        headers={"host": "127.0.0.1:45123"} | headers,
        secrets={LOCAL_ACCESS_KEY: LOCAL_SECRET_KEY},
        now=time.time(),
    )


def test_an_unsigned_content_md5_passes_an_unsigned_x_amz_header_does_not() -> None:
    assert _check({"content-md5": MD5, "content-type": "application/octet-stream"}) is None
    sha = base64.b64encode(hashlib.sha256(BODY).digest()).decode()
    for header in ({"x-amz-checksum-sha256": sha}, {"x-amz-sdk-checksum-algorithm": "SHA256"}):
        assert _check(header) == ("AccessDenied", "There were headers present in the request which were not signed")
