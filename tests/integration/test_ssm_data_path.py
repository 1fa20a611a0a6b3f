"""The SSM data path on a real PostgreSQL host: the host streams pg_dump into S3 through presigned part URLs,
and streams the object back from a presigned GET into pg_restore --list / pg_restore.

mock_aws + the local SSM agent stand-in (send_command really runs the documents) + the local S3 endpoint
(moto's HTTP server in this process, so the host's curl reaches the same S3 that boto3 sees)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from freshtrack_ops.adapters import presign
from freshtrack_ops.adapters.host_exchange import HostExchange
from freshtrack_ops.backup.stream import parse_row_counts
from freshtrack_ops.errors import InvalidInput, UploadFailed
from freshtrack_ops.host_scripts import script_env
from freshtrack_ops.host_scripts.parameters import credential_parameters
from freshtrack_ops.host_scripts.ssm_document import STEP_NAME, document_content, document_name
from opsctl.local import ssm_executor
from opsctl.local.host import LocalHost
from opsctl.local.names import ACCOUNT as DEFAULT_ACCOUNT_ID
from opsctl.local.s3_endpoint import LocalS3Endpoint, local_s3_endpoint

pytestmark = pytest.mark.integration

REGION = "us-east-1"
BUCKET = "freshtrack-backups-local"
OUTPUT_PREFIX = "ssm-output"
INSTANCE = "mi-0a1b2c3d4e5f60718"
FINAL = {"Success", "Failed", "TimedOut", "Cancelled"}
SCRIPTS = ("ssm_backup_upload.sh", "ssm_archive_list.sh", "ssm_restore_stream.sh")
PART_SIZE = 5 * 1024 * 1024
#: ~8.7 MB of pg_dump -Fc: two parts of 5 MiB
READINGS = 1_000_000
DUMP_KEY = "backups/demo-ssm/2026/01/01/backup-ssm.dump"


@dataclass
class Env:
    s3: Any  # in-process boto3 client (the control plane's view)
    ssm: Any
    presign: Any  # boto3 client whose presigned URLs point at the local S3 endpoint
    endpoint: LocalS3Endpoint
    exchange: HostExchange  # where a command's presigned URLs go (the adapter's, adapters/host_exchange.py)


@dataclass
class Backup:
    stdout: str
    size: int
    sha256: str
    parts: int
    row_counts: dict[str, int]


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHost]:
    with LocalHost(tmp_path_factory.mktemp("ssm-data"), "demo-ssm", readings=READINGS, use_sshd=False) as h:
        yield h


@pytest.fixture(scope="module")
def env(host: LocalHost) -> Iterator[Env]:
    with pytest.MonkeyPatch.context() as mp:
        for key, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
        }.items():
            mp.setenv(key, value)
        with mock_aws(), local_s3_endpoint(region=REGION) as endpoint:
            ssm_executor.install()
            ssm_executor.register_instance(INSTANCE, host.env())
            ssm = boto3.client("ssm", region_name=REGION)
            s3 = boto3.client("s3", region_name=REGION)
            s3.create_bucket(Bucket=BUCKET)
            for script in SCRIPTS:
                ssm.create_document(
                    Name=document_name(script),
                    Content=json.dumps(document_content(script)),
                    DocumentType="Command",
                    DocumentFormat="JSON",
                )
            try:
                exchange = HostExchange(s3, BUCKET, region=REGION, account=lambda: DEFAULT_ACCOUNT_ID)
                yield Env(s3=s3, ssm=ssm, presign=endpoint.presign_client(), endpoint=endpoint, exchange=exchange)
            finally:
                assert ssm_executor.wait_idle(60)
                ssm_executor.reset()


def base_env(host: LocalHost) -> dict[str, str]:
    return {"APP_DIR": str(host.app_dir), "DOCKER_BIN": str(host.docker_bin), "PG_SERVICE": "postgres"}


def run(env: Env, script: str, parameters: dict[str, str], timeout_s: float = 60) -> tuple[dict[str, Any], str]:
    """send_command as the SSM adapter does (the presigned URLs in a host exchange object, the command naming it),
    poll get_command_invocation until final (here, in the test); the invocation and the complete stdout (from
    the S3 output object, as the adapter reads it)."""
    secret = credential_parameters(script)
    sent = {name: value for name, value in parameters.items() if name not in secret}
    exchange_key = None
    if secret & parameters.keys():
        exchange_key, sent["EXCHANGE_URL"] = env.exchange.put(
            INSTANCE, {n: v for n, v in parameters.items() if n in secret}
        )
    command_id = env.ssm.send_command(
        DocumentName=document_name(script),
        InstanceIds=[INSTANCE],
        Parameters={name: [value] for name, value in sent.items()},
        TimeoutSeconds=30,
        OutputS3BucketName=BUCKET,
        OutputS3KeyPrefix=OUTPUT_PREFIX,
    )["Command"]["CommandId"]
    deadline = time.monotonic() + timeout_s
    while True:
        invocation: dict[str, Any] = env.ssm.get_command_invocation(
            CommandId=command_id, InstanceId=INSTANCE, PluginName=STEP_NAME
        )
        if invocation["Status"] in FINAL:
            break
        assert time.monotonic() < deadline, f"{script} did not finish in {timeout_s} s"
        time.sleep(0.1)
    if exchange_key is not None:  # as the completion handler does once the command ended
        env.exchange.delete(exchange_key)
    key = f"{OUTPUT_PREFIX}/{command_id}/{INSTANCE}/awsrunShellScript/runHostScript/stdout"
    stdout = env.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode()
    return invocation, stdout


def sha256_line(stdout: str) -> tuple[str, int]:
    (line,) = [line for line in stdout.splitlines() if line.startswith("SHA256 ")]
    _, digest, size = line.split()
    return digest, int(size)


def pending_uploads(env: Env, key: str) -> list[str]:
    uploads = env.s3.list_multipart_uploads(Bucket=BUCKET, Prefix=key).get("Uploads", [])
    return [u["UploadId"] for u in uploads if u["Key"] == key]


def exists(env: Env, key: str) -> bool:
    try:
        env.s3.head_object(Bucket=BUCKET, Key=key)
    except ClientError:
        return False
    return True


def backup_parameters(host: LocalHost, list_url: str) -> dict[str, str]:
    return base_env(host) | {
        "DB_NAME": "frostguard",
        "DB_ROLE": "frostguard",
        "PART_URLS_URL": list_url,
        "PART_SIZE": str(PART_SIZE),
    }


@pytest.fixture(scope="module")
def backup(env: Env, host: LocalHost) -> Backup:
    plan = presign.plan_parts(host.sql("SELECT pg_database_size('frostguard')")[0][0], part_size=PART_SIZE)
    upload_id, list_key, list_url = presign.mint_upload(
        env.presign, BUCKET, DUMP_KEY, parts=plan.parts, expires_s=presign.expiry_for(60)
    )
    assert list_key.startswith("ssm-exchange/")
    invocation, stdout = run(env, "ssm_backup_upload.sh", backup_parameters(host, list_url))
    assert invocation["Status"] == "Success", invocation["StandardErrorContent"]
    size, digest, parts = presign.complete_from_output(
        env.presign, BUCKET, DUMP_KEY, upload_id, stdout, part_size=PART_SIZE
    )
    presign.discard_part_urls(env.presign, BUCKET, list_key)
    return Backup(stdout=stdout, size=size, sha256=digest, parts=parts, row_counts=parse_row_counts(stdout))


def test_the_host_uploads_the_dump_in_parts_and_the_control_plane_completes_it(
    env: Env, host: LocalHost, backup: Backup, tmp_path: Any
) -> None:
    assert backup.parts >= 2
    assert backup.size > PART_SIZE
    body = env.s3.get_object(Bucket=BUCKET, Key=DUMP_KEY)["Body"].read()
    assert len(body) == backup.size
    assert hashlib.sha256(body).hexdigest() == backup.sha256
    assert body[:5] == b"PGDMP"
    tags = env.s3.get_object_tagging(Bucket=BUCKET, Key=DUMP_KEY)["TagSet"]
    assert {"Key": "retention", "Value": "expiring"} in tags
    assert pending_uploads(env, DUMP_KEY) == []
    assert env.s3.list_objects_v2(Bucket=BUCKET, Prefix="ssm-exchange/").get("KeyCount") == 0
    # the archive is one pg_restore accepts, and the counts were taken in the dump's snapshot
    archive = tmp_path / "backup.dump"
    archive.write_bytes(body)
    listing = subprocess.run(
        [str(host.pg_bindir / "pg_restore"), "--list", str(archive)], capture_output=True, text=True, check=True
    ).stdout
    assert "TABLE DATA public temperature_readings" in listing
    counts = {name.removeprefix("public."): count for name, count in backup.row_counts.items()}
    assert counts == host.table_counts()
    assert counts["temperature_readings"] == READINGS
    # no URL ever reaches the output
    assert "X-Amz-" not in backup.stdout and "http" not in backup.stdout


def test_archive_list_streams_the_object_and_hashes_all_of_it(env: Env, host: LocalHost, backup: Backup) -> None:
    url = presign.object_url(env.presign, BUCKET, DUMP_KEY, presign.expiry_for(60))
    invocation, stdout = run(env, "ssm_archive_list.sh", base_env(host) | {"OBJECT_URL": url})
    assert invocation["Status"] == "Success", invocation["StandardErrorContent"]
    assert sha256_line(stdout) == (backup.sha256, backup.size)  # the whole object, not just the TOC
    entries = [line for line in stdout.splitlines() if line.strip() and not line.startswith((";", "SHA256 "))]
    assert any("TABLE DATA public temperature_readings" in line for line in entries)
    assert stdout.rstrip("\n").splitlines()[-1].startswith("SHA256 ")


def test_restore_stream_loads_the_object_into_a_scratch_database(env: Env, host: LocalHost, backup: Backup) -> None:
    scratch = "frostguard_ssm_scratch"
    host.sql(f"DROP DATABASE IF EXISTS {scratch}")
    host.sql(f"CREATE DATABASE {scratch} OWNER frostguard")
    url = presign.object_url(env.presign, BUCKET, DUMP_KEY, presign.expiry_for(60))
    invocation, stdout = run(
        env,
        "ssm_restore_stream.sh",
        base_env(host) | {"DB_ROLE": "frostguard", "TARGET_DB": scratch, "OBJECT_URL": url},
    )
    assert invocation["Status"] == "Success", invocation["StandardErrorContent"]
    assert sha256_line(stdout) == (backup.sha256, backup.size)
    assert f"restored into {scratch}" in stdout
    assert host.table_counts(db=scratch) == host.table_counts()
    host.sql(f"DROP DATABASE {scratch}")


@pytest.mark.parametrize("failure", ["expired", "too-few-parts", "wrong-list-url"])
def test_a_failing_upload_exits_non_zero_and_is_aborted(env: Env, host: LocalHost, failure: str) -> None:
    key = f"backups/demo-ssm/2026/01/01/backup-{failure}.dump"
    parts = 1 if failure == "too-few-parts" else 4
    expires_s = 1 if failure == "expired" else 120
    upload_id, list_key, list_url = presign.mint_upload(env.presign, BUCKET, key, parts=parts, expires_s=expires_s)
    if failure == "expired":
        time.sleep(2.1)
    if failure == "wrong-list-url":
        list_url = presign.object_url(env.presign, BUCKET, "ssm-exchange/no-such-list/part-urls", 120)
    refused_before = len(env.endpoint.refused)
    invocation, stdout = run(env, "ssm_backup_upload.sh", backup_parameters(host, list_url))
    assert invocation["Status"] == "Failed"
    assert invocation["ResponseCode"] != 0
    expected_error = {
        "expired": "could not fetch the list of part URLs",  # the list URL expired too
        "too-few-parts": "part 2: no presigned URL for this part",
        "wrong-list-url": "could not fetch the list of part URLs",
    }[failure]
    assert expected_error in invocation["StandardErrorContent"]
    if failure == "expired":
        assert env.endpoint.refused[refused_before:] == ["AccessDenied"]
    assert "SHA256 " not in stdout
    with pytest.raises(UploadFailed):
        presign.complete_from_output(env.presign, BUCKET, key, upload_id, stdout, part_size=PART_SIZE)
    assert pending_uploads(env, key) == []
    assert not exists(env, key)
    presign.discard_part_urls(env.presign, BUCKET, list_key)


def test_expired_part_urls_fail_the_upload_it_is_aborted(env: Env, host: LocalHost, monkeypatch: Any) -> None:
    """The list is still valid but the part URLs have expired: S3 refuses the first PUT."""
    key = "backups/demo-ssm/2026/01/01/backup-expired-parts.dump"
    upload_id, list_key, _ = presign.mint_upload(env.presign, BUCKET, key, parts=4, expires_s=1)
    list_url = presign.object_url(env.presign, BUCKET, list_key, 120)
    time.sleep(2.1)
    invocation, stdout = run(env, "ssm_backup_upload.sh", backup_parameters(host, list_url))
    assert invocation["Status"] == "Failed"
    assert "part 1: upload refused (HTTP 403)" in invocation["StandardErrorContent"]
    assert "PART " not in stdout
    with pytest.raises(UploadFailed, match="no uploaded part"):
        presign.complete_from_output(env.presign, BUCKET, key, upload_id, stdout)
    assert pending_uploads(env, key) == []
    assert not exists(env, key)


def test_an_expired_or_tampered_object_url_restores_nothing(env: Env, host: LocalHost, backup: Backup) -> None:
    scratch = "frostguard_ssm_refused"
    host.sql(f"DROP DATABASE IF EXISTS {scratch}")
    host.sql(f"CREATE DATABASE {scratch} OWNER frostguard")
    expired = presign.object_url(env.presign, BUCKET, DUMP_KEY, 1)
    time.sleep(2.1)
    tampered = presign.object_url(env.presign, BUCKET, DUMP_KEY, 120).replace(DUMP_KEY, DUMP_KEY + "x")
    for url in (expired, tampered):
        invocation, stdout = run(
            env,
            "ssm_restore_stream.sh",
            base_env(host) | {"DB_ROLE": "frostguard", "TARGET_DB": scratch, "OBJECT_URL": url},
        )
        assert invocation["Status"] == "Failed"
        assert "download failed" in invocation["StandardErrorContent"]
        assert "SHA256 " not in stdout
    assert env.endpoint.refused[-2:] == ["AccessDenied", "SignatureDoesNotMatch"]
    assert host.table_counts(db=scratch) == {}
    host.sql(f"DROP DATABASE {scratch}")


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example.com/x?X-Amz-Signature=1",
        "http://10.0.0.1:9000/bucket/key?a=b",
        "https://bucket.s3.amazonaws.com/key?a=$(id)",
        "https://bucket.s3.amazonaws.com/key?a=b;reboot",
        "https://bucket.s3.amazonaws.com/key with space?a=b",
    ],
)
def test_a_url_outside_the_pattern_is_refused_before_anything_runs(env: Env, host: LocalHost, url: str) -> None:
    runs_before = len(ssm_executor.STATE.runs)
    # the adapter checks every value against its parameter's pattern before it writes the exchange object
    with pytest.raises(InvalidInput, match="OBJECT_URL"):
        script_env("ssm_archive_list.sh", base_env(host) | {"OBJECT_URL": url})
    # and the document takes no URL as a parameter at all: SSM refuses the command
    with pytest.raises(ClientError, match="InvalidParameters"):
        env.ssm.send_command(
            DocumentName=document_name("ssm_archive_list.sh"),
            InstanceIds=[INSTANCE],
            Parameters={name: [value] for name, value in (base_env(host) | {"OBJECT_URL": url}).items()},
        )
    assert ssm_executor.wait_idle(10)
    assert len(ssm_executor.STATE.runs) == runs_before


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        ({"fail": True, "exit_code": 3}, 3),  # pg_dump fails before any byte
        ({"drop_connection_after_bytes": 6 * 1024 * 1024}, 255),  # dies mid-stream, after part 1 was uploaded
    ],
)
def test_a_failing_pg_dump_exits_non_zero_and_the_upload_is_aborted(
    env: Env, host: LocalHost, fault: dict[str, Any], code: int
) -> None:
    key = f"backups/demo-ssm/2026/01/01/backup-dump-fails-{code}.dump"
    upload_id, list_key, list_url = presign.mint_upload(env.presign, BUCKET, key, parts=4, expires_s=120)
    host.set_fault("pg_dump", fault)
    try:
        invocation, stdout = run(env, "ssm_backup_upload.sh", backup_parameters(host, list_url))
    finally:
        host.set_fault("pg_dump", None)
    assert invocation["Status"] == "Failed"
    assert invocation["ResponseCode"] == code
    assert f"pg_dump exited with status {code}" in invocation["StandardErrorContent"]
    assert "SHA256 " not in stdout
    assert ("PART 1 " in stdout) == (code == 255)
    with pytest.raises(UploadFailed):
        presign.complete_from_output(env.presign, BUCKET, key, upload_id, stdout)
    assert pending_uploads(env, key) == []
    assert not exists(env, key)
    presign.discard_part_urls(env.presign, BUCKET, list_key)
