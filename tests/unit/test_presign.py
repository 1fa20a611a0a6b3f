"""Presigned URLs of the SSM data path: parsing the host's report, minting, completing/aborting, the URL and
part-size parameter patterns, and the local S3 endpoint's presigned-request check."""

from __future__ import annotations

import random
import re
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from botocore.config import Config
from moto import mock_aws

from freshtrack_ops.adapters import presign
from freshtrack_ops.adapters.presign import PartPlan, parse_upload_output
from freshtrack_ops.errors import UploadFailed
from freshtrack_ops.host_scripts.parameters import (
    MAX_PART_SIZE,
    MIN_PART_SIZE,
    PARAMETERS,
    PRESIGNED_URL_PATTERN,
    decimal_range_pattern,
)
from opsctl.local.s3_endpoint import LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY, check_presigned

MIB = 1024 * 1024
SHA = "ab" * 32
BUCKET = "freshtrack-backups-unit"
KEY = "backups/demo/2026/01/01/backup-1.dump"


def report(*lines: str) -> str:
    return "\n".join(lines) + "\n"


# -- parsing the host's report ---------------------------------------------------------------------------
def test_a_complete_report_is_parsed_and_etags_are_quoted() -> None:
    out = report('PART 1 "0123abcd"', "PART 2 4567ef", f"SHA256 {SHA} {6 * MIB}", 'ROWCOUNTS {"public.a": 1}')
    parsed = parse_upload_output(out, part_size=5 * MIB)
    assert parsed.parts == ((1, '"0123abcd"'), (2, '"4567ef"'))
    assert (parsed.sha256, parsed.size) == (SHA, 6 * MIB)


def test_crlf_and_other_lines_are_tolerated() -> None:
    out = f'noise\r\nPART 1 "aa"\r\nSHA256 {SHA} 10\r\n'
    assert parse_upload_output(out).parts == ((1, '"aa"'),)


@pytest.mark.parametrize(
    ("stdout", "message"),
    [
        (report(f"SHA256 {SHA} 10"), "no uploaded part"),
        ("", "no uploaded part"),
        (report("PART 1 aa", "PART 3 cc", f"SHA256 {SHA} 10"), r"missing \[2\]"),
        (report("PART 2 bb", f"SHA256 {SHA} 10"), r"missing \[1\]"),
        (report("PART 1 aa", "PART 1 aa", f"SHA256 {SHA} 10"), "twice"),
        (report("PART 0 aa", f"SHA256 {SHA} 10"), "malformed part"),
        (report("PART 1 a;b", f"SHA256 {SHA} 10"), "malformed part"),
        (report('PART 1 "aa', f"SHA256 {SHA} 10"), "malformed part"),
        (report("PART 1 aa"), "one SHA256 line"),
        (report("PART 1 aa", f"SHA256 {SHA} 10", f"SHA256 {SHA} 10"), "one SHA256 line"),
        (report("PART 1 aa", "SHA256 xyz 10"), "malformed digest"),
        (report("PART 1 aa", f"SHA256 {SHA} 0"), "empty stream"),
    ],
)
def test_an_inconsistent_report_is_refused(stdout: str, message: str) -> None:
    with pytest.raises(UploadFailed, match=message):
        parse_upload_output(stdout)


def test_the_part_count_must_fit_the_size() -> None:
    out = report("PART 1 aa", "PART 2 bb", f"SHA256 {SHA} {5 * MIB}")  # 5 MiB is one part of 5 MiB
    with pytest.raises(UploadFailed, match="cannot be 2 parts"):
        parse_upload_output(out, part_size=5 * MIB)
    assert len(parse_upload_output(out, part_size=4 * MIB).parts) == 2


# -- planning ----------------------------------------------------------------------------------------------
def test_plan_parts() -> None:
    assert presign.plan_parts(0) == PartPlan(part_size=8 * MIB, parts=2)
    assert presign.plan_parts(100 * MIB) == PartPlan(part_size=8 * MIB, parts=26)  # 200 MiB / 8 MiB + 1
    big = presign.plan_parts(100 * 1024**3)  # 100 GiB: parts grow so ~1,000 URLs suffice
    assert big.part_size % MIB == 0 and big.parts <= 1_001
    assert presign.plan_parts(1024**4).part_size == 512 * MIB  # 1 TiB: the largest parts
    assert presign.plan_parts(10 * MIB, part_size=5 * MIB, margin=1) == PartPlan(part_size=5 * MIB, parts=3)
    with pytest.raises(ValueError, match="over S3's 10000"):
        presign.plan_parts(3 * 1024**4)  # 6 TiB with the margin
    with pytest.raises(ValueError, match="part_size"):
        presign.plan_parts(1, part_size=MIB)
    with pytest.raises(ValueError, match="margin"):
        presign.plan_parts(1, margin=0.5)


def test_expiry() -> None:
    assert presign.expiry_for(0) == 900
    assert presign.expiry_for(600.2) == 1501
    assert presign.expiry_for(10**9) == 7 * 24 * 3600
    with pytest.raises(ValueError):
        presign.expiry_for(-1)


# -- minting, completing, aborting (in-process moto) -------------------------------------------------------
@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        client = presign.presign_client("us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def _pending(s3: Any) -> list[str]:
    return [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])]


def test_mint_upload_publishes_one_url_per_part(s3: Any) -> None:
    upload_id, list_key, list_url = presign.mint_upload(s3, BUCKET, KEY, parts=3, expires_s=600)
    assert _pending(s3) == [upload_id]
    assert re.fullmatch(r"ssm-exchange/[0-9a-f]{32}/part-urls", list_key)
    urls = s3.get_object(Bucket=BUCKET, Key=list_key)["Body"].read().decode().splitlines()
    assert len(urls) == 3
    for number, url in enumerate(urls, start=1):
        query = parse_qs(urlsplit(url).query)
        assert query["partNumber"] == [str(number)]
        assert query["uploadId"] == [upload_id]
        assert query["X-Amz-Expires"] == ["600"]
        assert urlsplit(url).path.endswith(KEY)
    assert parse_qs(urlsplit(list_url).query)["X-Amz-Expires"] == ["600"]
    assert urlsplit(list_url).path.endswith(list_key)
    tags = s3.get_object_tagging(Bucket=BUCKET, Key=list_key)["TagSet"]
    assert tags == [{"Key": "retention", "Value": "expiring"}]
    presign.discard_part_urls(s3, BUCKET, list_key)
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix="ssm-exchange/").get("KeyCount") == 0
    with pytest.raises(ValueError, match="exchange"):
        presign.discard_part_urls(s3, BUCKET, KEY)


@pytest.mark.parametrize(("parts", "expires_s"), [(0, 60), (10_001, 60), (1, 0), (1, 8 * 24 * 3600)])
def test_mint_upload_bounds(s3: Any, parts: int, expires_s: int) -> None:
    with pytest.raises(ValueError):
        presign.mint_upload(s3, BUCKET, KEY, parts=parts, expires_s=expires_s)
    assert _pending(s3) == []


def _upload(s3: Any, upload_id: str, bodies: list[bytes]) -> str:
    lines = []
    for number, body in enumerate(bodies, start=1):
        etag = s3.upload_part(Bucket=BUCKET, Key=KEY, UploadId=upload_id, PartNumber=number, Body=body)["ETag"]
        lines.append(f"PART {number} {etag}")
    import hashlib

    whole = b"".join(bodies)
    return report(*lines, f"SHA256 {hashlib.sha256(whole).hexdigest()} {len(whole)}")


def test_complete_from_output(s3: Any) -> None:
    upload_id, _, _ = presign.mint_upload(s3, BUCKET, KEY, parts=3, expires_s=600, metadata={"backup-id": "b1"})
    bodies = [b"PGDMP" + b"x" * (5 * MIB - 5), b"tail"]
    stdout = _upload(s3, upload_id, bodies)
    size, digest, parts = presign.complete_from_output(s3, BUCKET, KEY, upload_id, stdout, part_size=5 * MIB)
    assert (size, parts) == (5 * MIB + 4, 2)
    assert digest == parse_upload_output(stdout).sha256
    head = s3.head_object(Bucket=BUCKET, Key=KEY)
    assert head["ContentLength"] == size and head["Metadata"] == {"backup-id": "b1"}
    assert s3.get_object_tagging(Bucket=BUCKET, Key=KEY)["TagSet"] == [{"Key": "retention", "Value": "expiring"}]
    assert _pending(s3) == []


def test_an_inconsistent_report_aborts_the_upload(s3: Any) -> None:
    upload_id, _, _ = presign.mint_upload(s3, BUCKET, KEY, parts=3, expires_s=600)
    stdout = _upload(s3, upload_id, [b"PGDMP" + b"x" * (5 * MIB - 5), b"tail"])
    missing = "\n".join(line for line in stdout.splitlines() if not line.startswith("PART 1 "))
    with pytest.raises(UploadFailed, match="missing"):
        presign.complete_from_output(s3, BUCKET, KEY, upload_id, missing)
    assert _pending(s3) == []
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix=KEY).get("KeyCount") == 0


def test_a_size_that_differs_from_the_object_deletes_it(s3: Any) -> None:
    upload_id, _, _ = presign.mint_upload(s3, BUCKET, KEY, parts=1, expires_s=600)
    stdout = _upload(s3, upload_id, [b"PGDMP-small"]).replace(" 11\n", " 12\n")
    with pytest.raises(UploadFailed, match="11 bytes, the host sent 12"):
        presign.complete_from_output(s3, BUCKET, KEY, upload_id, stdout)
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix=KEY).get("KeyCount") == 0


def test_a_refused_completion_aborts_and_names_no_url(s3: Any) -> None:
    upload_id, _, list_url = presign.mint_upload(s3, BUCKET, KEY, parts=1, expires_s=600)
    with pytest.raises(UploadFailed) as caught:
        presign.complete_from_output(s3, BUCKET, KEY, upload_id, report('PART 1 "deadbeef"', f"SHA256 {SHA} 5"))
    assert "X-Amz" not in str(caught.value) and list_url not in str(caught.value)
    assert _pending(s3) == []


# -- parameter patterns ------------------------------------------------------------------------------------
def _session(token: str | None = None) -> boto3.session.Session:
    return boto3.session.Session(
        aws_access_key_id="ASIAEXAMPLEEXAMPLE00", aws_secret_access_key="secret", aws_session_token=token
    )


def test_the_presign_client_makes_regional_sigv4_urls() -> None:
    for region in ("us-east-1", "eu-central-1"):
        url = presign.object_url(presign.presign_client(region, _session()), "bucket-x", "k", 60)
        assert url.startswith(f"https://bucket-x.s3.{region}.amazonaws.com/k?")
        assert "X-Amz-Signature=" in url
    legacy = _session().client("s3", region_name="us-east-1")  # botocore's default: SigV2 in us-east-1
    with pytest.raises(ValueError, match="SigV4"):
        presign.object_url(legacy, "bucket-x", "k", 60)


def test_real_presigned_urls_match_the_url_pattern() -> None:
    token = "IQoJb3JpZ2luX2VjE" + "A" * 900 + "/+=="  # a Lambda session token: long, with / + =
    client = presign.presign_client("eu-central-1", _session(token))
    urls = [
        client.generate_presigned_url(
            "upload_part",
            Params={"Bucket": "freshtrack-backups-123456789012", "Key": KEY, "UploadId": "a.B_c-D~e", "PartNumber": 7},
            ExpiresIn=900,
        ),
        client.generate_presigned_url(
            "get_object", Params={"Bucket": "my.dotted.bucket", "Key": "backups/x y+z=1.dump"}, ExpiresIn=60
        ),
        _session()
        .client(
            "s3",
            region_name="us-east-1",
            endpoint_url="http://127.0.0.1:45123",
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        )
        .generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": KEY}, ExpiresIn=60),
    ]
    for url in urls:
        for name in ("OBJECT_URL", "PART_URLS_URL"):
            assert re.fullmatch(PARAMETERS[name].pattern, url), url


@pytest.mark.parametrize(
    "url",
    [
        "",
        "https://evil.example.com/key?a=b",
        "https://s3.amazonaws.com.evil.example/key?a=b",
        "http://s3.amazonaws.com/key?a=b",  # plain http only for the local plane
        "http://127.0.0.2:9000/key?a=b",
        "http://localhost:9000/key?a=b",
        "https://s3.amazonaws.com/key",  # not presigned
        "https://s3.amazonaws.com/key?a=b c",
        "https://s3.amazonaws.com/key?a=$(id)",
        "https://s3.amazonaws.com/key?a=`id`",
        "https://s3.amazonaws.com/key?a=b;c",
        "https://s3.amazonaws.com/key?a=b|c",
        "https://s3.amazonaws.com/key?a='b'",
        'https://s3.amazonaws.com/key?a="b"',
        "https://s3.amazonaws.com/key?a=b\nc",
        "https://s3.amazonaws.com/key?a=b\\c",
        "https://s3.amazonaws.com/key&x?a=b",  # & only in the query
        "https://user@s3.amazonaws.com/key?a=b",
    ],
)
def test_the_url_pattern_refuses(url: str) -> None:
    assert re.fullmatch(PARAMETERS["OBJECT_URL"].pattern, url) is None
    assert PARAMETERS["OBJECT_URL"].pattern == PRESIGNED_URL_PATTERN == PARAMETERS["PART_URLS_URL"].pattern


def test_the_part_size_pattern_is_exactly_5_to_512_mib() -> None:
    pattern = PARAMETERS["PART_SIZE"].pattern
    rng = random.Random(4)
    samples = [*range(MIN_PART_SIZE - 300, MIN_PART_SIZE + 300), *range(MAX_PART_SIZE - 300, MAX_PART_SIZE + 300)]
    samples += [rng.randrange(1, 10**10) for _ in range(20_000)]
    for n in samples:
        assert bool(re.fullmatch(pattern, str(n))) == (MIN_PART_SIZE <= n <= MAX_PART_SIZE), n
    for bad in ("", "05242880", "+5242880", "5242880 ", "5M", "8388608;id"):
        assert re.fullmatch(pattern, bad) is None


def test_decimal_range_pattern_small_ranges_exhaustively() -> None:
    for low in (*range(1, 25), 99, 100, 101, 109, 110, 199, 999):
        for high in range(low, 1100, 23):
            pattern = re.compile(decimal_range_pattern(low, high))
            for n in range(1150):
                assert bool(pattern.fullmatch(str(n))) == (low <= n <= high), (low, high, n)
    with pytest.raises(ValueError):
        decimal_range_pattern(0, 5)


# -- the local S3 endpoint's presigned-request check -------------------------------------------------------
def _local_url(expires_s: int = 60) -> tuple[str, str, str]:
    client = boto3.client(
        "s3",
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:45123",
        aws_access_key_id=LOCAL_ACCESS_KEY,
        aws_secret_access_key=LOCAL_SECRET_KEY,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    url = client.generate_presigned_url(
        "upload_part",
        Params={"Bucket": BUCKET, "Key": "backups/a b+c.dump", "UploadId": "u-1", "PartNumber": 2},
        ExpiresIn=expires_s,
    )
    parts = urlsplit(url)
    return url, parts.path, parts.query


def _check(path: str, query: str, *, now: float | None = None, method: str = "PUT") -> tuple[str, str] | None:
    return check_presigned(
        method,
        path,
        query,
        headers={"host": "127.0.0.1:45123"},
        secrets={LOCAL_ACCESS_KEY: LOCAL_SECRET_KEY},
        now=time.time() if now is None else now,
    )


def test_a_valid_presigned_request_passes() -> None:
    _, path, query = _local_url()
    assert _check(path, query) is None
    assert _check("/bucket/key", "uploads=") is None  # not presigned: left to moto


def test_expired_tampered_and_unknown_requests_are_refused() -> None:
    _, path, query = _local_url(expires_s=60)
    assert _check(path, query, now=time.time() + 61) == ("AccessDenied", "Request has expired")
    assert _check(path, query.replace("partNumber=2", "partNumber=3"))[0] == "SignatureDoesNotMatch"  # type: ignore[index]
    assert _check(path + "x", query)[0] == "SignatureDoesNotMatch"  # type: ignore[index]
    assert _check(path, query, method="GET")[0] == "SignatureDoesNotMatch"  # type: ignore[index]
    other = query.replace(LOCAL_ACCESS_KEY, "AKIAOTHERKEY00000000")
    assert _check(path, other)[0] == "InvalidAccessKeyId"  # type: ignore[index]
    assert _check(path, query.replace("X-Amz-Date=", "X-Amz-Date=x"))[0] == "AuthorizationQueryParametersError"  # type: ignore[index]
