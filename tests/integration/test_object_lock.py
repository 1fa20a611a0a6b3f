"""Backups with S3 Object Lock (``object_lock_days``) on both transports, end to end on the local plane.

With a default retention on the bucket, S3 refuses every PutObject/UploadPart that carries neither Content-MD5
nor an x-amz-checksum-* value (400 InvalidRequest). The plane's S3 enforces that (``s3_strict``) for boto3 and
for the host's curl alike. The plane runs with ``AWS_REQUEST_CHECKSUM_CALCULATION=when_required``, so botocore
adds no checksum of its own to uploads: only the checksums our code asks for count (the Lambdas name CRC32, the
host script sends Content-MD5)."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from freshtrack_ops import runtime
from freshtrack_ops.adapters import presign
from freshtrack_ops.host_scripts.ssm_document import document_content
from opsctl.local import s3_strict
from opsctl.local.plane import LocalPlane
from opsctl.local.s3_strict import content_md5
from opsctl.local.sshd import available as sshd_available

pytestmark = pytest.mark.integration

SCRIPT = "ssm_backup_upload.sh"


@pytest.fixture(scope="module")
def plane() -> Iterator[LocalPlane]:
    if not sshd_available():
        pytest.fail("the integration tests need OpenSSH's sshd (make sysdeps installs it)")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_REQUEST_CHECKSUM_CALCULATION", "when_required")
        with LocalPlane(readings=20_000, use_sshd=True, object_lock_days=1) as local_plane:
            yield local_plane


def _leftovers(plane: LocalPlane) -> tuple[set[str], list[dict[str, Any]], list[str]]:
    return set(plane.object_keys()), plane.incomplete_uploads(), plane.object_keys("ssm-exchange/")


def test_the_plane_is_as_strict_as_s3_with_object_lock(plane: LocalPlane) -> None:
    lock = plane.s3.get_object_lock_configuration(Bucket=plane.bucket)["ObjectLockConfiguration"]
    assert lock["Rule"]["DefaultRetention"]["Mode"] == "GOVERNANCE"
    assert lock["Rule"]["DefaultRetention"]["Days"] == 1
    # the Lambda tasks' clients add no checksum by themselves: what passes below passes on our own checksums
    assert runtime.client("s3").meta.config.request_checksum_calculation == "when_required"
    assert runtime.presigner().meta.config.request_checksum_calculation == "when_required"  # type: ignore[attr-defined]  # not in botocore-stubs


def test_backup_and_test_restore_succeed_with_object_lock(plane: LocalPlane, host_name: str) -> None:
    refused_before = len(s3_strict.refusals())

    ex = plane.run("backup", {"host": host_name, "reason": "object lock"})

    assert ex.status == "SUCCEEDED", (ex.error, ex.cause)
    assert ex.output is not None
    body = plane.s3.get_object(Bucket=plane.bucket, Key=ex.output["dump_key"])["Body"].read()
    assert hashlib.sha256(body).hexdigest() == plane.manifest(ex.output["manifest_key"])["sha256"]
    for key in (ex.output["dump_key"], ex.output["manifest_key"]):
        assert plane.s3.head_object(Bucket=plane.bucket, Key=key)["ObjectLockMode"] == "GOVERNANCE", key

    check = plane.run("test-restore", {"host": host_name, "backup_id": ex.output["backup_id"]})

    assert check.status == "SUCCEEDED", (check.error, check.cause)
    assert plane.manifest(ex.output["manifest_key"])["verification"]["status"] == "passed"  # rewritten, locked
    assert s3_strict.refusals()[refused_before:] == []
    assert plane.lock_item(host_name) is None


def test_the_ssm_backup_without_content_md5_fails_under_object_lock(plane: LocalPlane) -> None:
    """The host script as it was before it sent Content-MD5: S3 refuses its first part, nothing is left."""
    content = document_content(SCRIPT)
    lines = content["mainSteps"][-1]["inputs"]["runCommand"]
    old_lines = [line.replace('-H "Content-MD5: $md5" ', "") for line in lines]
    assert sum(a != b for a, b in zip(lines, old_lines, strict=True)) == 1
    content["mainSteps"][-1]["inputs"]["runCommand"] = old_lines
    before = _leftovers(plane)
    refused_before = len(s3_strict.refusals())

    with plane.ssm_document(SCRIPT, content):
        ex = plane.run("backup", {"host": "demo-ssm", "reason": "old script"})

    assert ex.status == "FAILED"
    assert ex.error == "UploadFailed", ex.cause
    assert "part 1: upload refused (HTTP 400)" in (ex.cause or "")
    # StreamDump retries UploadFailed: every attempt's first part is refused; retried commands may still be
    # ending (and undoing their upload) after the execution failed
    plane.wait_ssm_idle()
    refused = s3_strict.refusals()[refused_before:]
    assert refused and set(refused) == {("UploadPart", "InvalidRequest")}
    assert _leftovers(plane) == (before[0], [], [])
    assert plane.lock_item("demo-ssm") is None


def _curl_put(url: str, part: Path, *headers: str) -> tuple[int, str]:
    """PUT the file to a presigned URL as the host's script does (the URL on stdin, never in argv)."""
    argv = ["curl", "-sS", "--proto", "=http", "-T", str(part), "-o", "-", "-w", "\n%{http_code}"]
    for header in headers:
        argv += ["-H", header]
    done = subprocess.run(
        [*argv, "--config", "-"], input=f'url = "{url}"\n', capture_output=True, text=True, check=True, timeout=30
    )
    body, _, status = done.stdout.rpartition("\n")
    code = re.search(r"<Code>([^<]+)</Code>", body)
    return int(status), code.group(1) if code else ""


def test_a_presigned_part_upload_needs_content_md5_and_only_content_md5_fits(plane: LocalPlane, tmp_path: Path) -> None:
    s3 = presign.presign_client("us-east-1", endpoint_url=runtime.settings().presign_endpoint_url)
    key = "backups/demo-ssm/lock-probe.dump"
    upload_id = s3.create_multipart_upload(Bucket=plane.bucket, Key=key)["UploadId"]
    url = s3.generate_presigned_url(
        "upload_part", Params={"Bucket": plane.bucket, "Key": key, "UploadId": upload_id, "PartNumber": 1}, ExpiresIn=60
    )
    part = tmp_path / "part"
    part.write_bytes(b"PGDMP" + os.urandom(64 * 1024))
    sha256 = base64.b64encode(hashlib.sha256(part.read_bytes()).digest()).decode()
    refused_before = len(s3_strict.refusals())
    try:
        assert _curl_put(url, part) == (400, "InvalidRequest")
        assert _curl_put(url, part, f"Content-MD5: {content_md5(b'another part')}") == (400, "BadDigest")
        # a checksum header S3 would accept on a signed request is refused on a presigned one: it is not signed
        assert _curl_put(url, part, f"x-amz-checksum-sha256: {sha256}") == (403, "AccessDenied")
        assert _curl_put(url, part, f"Content-MD5: {content_md5(part.read_bytes())}") == (200, "")
    finally:
        presign.abort_upload(s3, plane.bucket, key, upload_id)
    assert s3_strict.refusals()[refused_before:] == [("UploadPart", "InvalidRequest"), ("UploadPart", "BadDigest")]
