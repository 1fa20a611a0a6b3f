"""The local plane's SSM agent stand-in: moto's send_command really runs the generated documents."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from freshtrack_ops.adapters.ssm import SsmCommands
from freshtrack_ops.config import Target
from freshtrack_ops.errors import HostCommandTimeout, HostUnreachable, InvalidInput
from freshtrack_ops.host_scripts.parameters import SCRIPT_PARAMETERS
from freshtrack_ops.host_scripts.ssm_document import document_content, document_name
from opsctl.local import ssm_executor
from opsctl.local.host import LocalHost

pytestmark = pytest.mark.integration

REGION = "us-east-1"
BUCKET = "ssm-output-local"
PREFIX = "ssm-output"
ONLINE = "mi-0123456789abcdef0"
OFFLINE = "mi-0fedcba9876543210"
FINAL = {"Success", "Failed", "TimedOut", "Cancelled"}


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHost]:
    with LocalHost(tmp_path_factory.mktemp("ssm-host"), "demo-ssm", readings=2_000, use_sshd=False) as h:
        yield h


@pytest.fixture
def aws(host: LocalHost, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        ssm_executor.install()
        ssm_executor.install()  # idempotent
        ssm_executor.register_instance(ONLINE, host.env())
        ssm_executor.register_instance(OFFLINE, host.env(), online=False)
        ssm = boto3.client("ssm", region_name=REGION)
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        for script in SCRIPT_PARAMETERS:
            ssm.create_document(
                Name=document_name(script),
                Content=json.dumps(document_content(script)),
                DocumentType="Command",
                DocumentFormat="JSON",
            )
        try:
            yield {"ssm": ssm, "s3": s3}
        finally:
            assert ssm_executor.wait_idle(30)
            ssm_executor.reset()
            host.set_fault("pg_dump", None)


def host_env(host: LocalHost, **overrides: str) -> dict[str, str]:
    return {
        "APP_DIR": str(host.app_dir),
        "DOCKER_BIN": str(host.docker_bin),
        "PG_SERVICE": "postgres",
        "DB_NAME": "frostguard",
        "DB_ROLE": "frostguard",
        **overrides,
    }


def send(ssm: Any, document: str, instance: str, parameters: dict[str, str]) -> str:
    response = ssm.send_command(
        DocumentName=document,
        InstanceIds=[instance],
        Parameters={name: [value] for name, value in parameters.items()},
        TimeoutSeconds=30,
        OutputS3BucketName=BUCKET,
        OutputS3KeyPrefix=PREFIX,
    )
    return str(response["Command"]["CommandId"])


def wait(ssm: Any, command_id: str, instance: str, timeout_s: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        invocation: dict[str, Any] = ssm.get_command_invocation(CommandId=command_id, InstanceId=instance)
        if invocation["Status"] in FINAL or time.monotonic() > deadline:
            return invocation
        time.sleep(0.1)


def test_preflight_runs_on_the_host_and_writes_its_output_to_s3(aws: dict[str, Any], host: LocalHost) -> None:
    ssm, s3 = aws["ssm"], aws["s3"]
    command_id = send(ssm, "FreshTrackOps-preflight", ONLINE, host_env(host))
    first = ssm.get_command_invocation(CommandId=command_id, InstanceId=ONLINE)
    assert first["Status"] in {"InProgress", "Success"}
    invocation = wait(ssm, command_id, ONLINE)
    assert invocation["Status"] == "Success", invocation
    assert invocation["ResponseCode"] == 0
    assert "database_ready=true" in invocation["StandardOutputContent"]
    assert "app_version=v1.2.0" in invocation["StandardOutputContent"]
    key = f"{PREFIX}/{command_id}/{ONLINE}/awsrunShellScript/runHostScript/stdout"
    body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode()
    assert body == invocation["StandardOutputContent"]
    assert invocation["StandardOutputUrl"].endswith(f"/{BUCKET}/{key}")


def test_the_adapter_round_trip(aws: dict[str, Any], host: LocalHost) -> None:
    """SsmCommands against the executor: online check, send, poll (here, in the test), full output."""
    target = Target(id="demo-ssm", transport="ssm", instance_id=ONLINE, domain="demo.test")
    commands = SsmCommands(aws["ssm"], aws["s3"], output_bucket=BUCKET, output_prefix=PREFIX)
    command_id = commands.send(target, "preflight.sh", host_env(host))
    deadline = time.monotonic() + 60
    result = None
    while result is None and time.monotonic() < deadline:
        result = commands.status(command_id, ONLINE)
        time.sleep(0.1)
    assert result is not None
    assert result.exit_code == 0
    assert "database_ready=true" in result.stdout

    offline = Target(id="demo-off", transport="ssm", instance_id=OFFLINE, domain="demo.test")
    with pytest.raises(HostUnreachable, match="ConnectionLost"):
        commands.send(offline, "preflight.sh", host_env(host))
    with pytest.raises(InvalidInput, match="DB_NAME"):
        commands.send(target, "preflight.sh", host_env(host, DB_NAME="frostguard; rm -rf /"))


def test_a_script_exiting_non_zero_is_failed_with_its_response_code(aws: dict[str, Any], host: LocalHost) -> None:
    ssm = aws["ssm"]
    command_id = send(
        ssm,
        "FreshTrackOps-database",
        ONLINE,
        host_env(host, ACTION="drop-scratch", TARGET_DB="frostguard"),  # refuses the live database: exit 65
    )
    invocation = wait(ssm, command_id, ONLINE)
    assert invocation["Status"] == "Failed"
    assert invocation["StatusDetails"] == "Failed"
    assert invocation["ResponseCode"] == 65
    assert "is the live database" in invocation["StandardErrorContent"]


def test_the_document_timeout_kills_the_command(aws: dict[str, Any], host: LocalHost) -> None:
    ssm = aws["ssm"]
    ssm.create_document(
        Name="FreshTrackOps-backup_dump-1s",
        Content=json.dumps(document_content("backup_dump.sh", timeout_s=1)),
        DocumentType="Command",
        DocumentFormat="JSON",
    )
    host.set_fault("pg_dump", {"delay_s": 5})
    started = time.monotonic()
    command_id = send(ssm, "FreshTrackOps-backup_dump-1s", ONLINE, host_env(host))
    invocation = wait(ssm, command_id, ONLINE, timeout_s=20)
    assert invocation["Status"] == "TimedOut", invocation
    assert invocation["StatusDetails"] == "ExecutionTimedOut"
    assert time.monotonic() - started < 4.5  # killed at ~1 s, not after the 5 s pg_dump delay
    commands = SsmCommands(ssm, aws["s3"], output_bucket=BUCKET, output_prefix=PREFIX)
    with pytest.raises(HostCommandTimeout, match="ExecutionTimedOut"):
        commands.status(command_id, ONLINE)


def test_an_offline_instance_is_undeliverable(aws: dict[str, Any], host: LocalHost) -> None:
    ssm = aws["ssm"]
    before = host.commands()
    command_id = send(ssm, "FreshTrackOps-preflight", OFFLINE, host_env(host))
    invocation = wait(ssm, command_id, OFFLINE)
    assert (invocation["Status"], invocation["StatusDetails"]) == ("Failed", "Undeliverable")
    assert invocation["ResponseCode"] == -1
    assert host.commands() == before
    commands = SsmCommands(ssm, aws["s3"], output_bucket=BUCKET, output_prefix=PREFIX)
    with pytest.raises(HostUnreachable, match="Undeliverable"):
        commands.status(command_id, OFFLINE)
    info = ssm.describe_instance_information(Filters=[{"Key": "InstanceIds", "Values": [OFFLINE]}])
    assert [i["PingStatus"] for i in info["InstanceInformationList"]] == ["ConnectionLost"]


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"DB_NAME": "frostguard; rm -rf /"}, "DB_NAME"),
        ({"APP_DIR": "/opt/x$(touch /tmp/pwned)"}, "APP_DIR"),
        ({"TARGET_DB": "frostguard"}, "TARGET_DB"),  # not declared by the preflight document
    ],
)
def test_values_outside_the_allowed_patterns_are_refused_and_nothing_runs(
    aws: dict[str, Any], host: LocalHost, parameters: dict[str, str], message: str
) -> None:
    ssm = aws["ssm"]
    before = host.commands()
    with pytest.raises(ClientError) as caught:
        send(ssm, "FreshTrackOps-preflight", ONLINE, host_env(host) | parameters)
    assert caught.value.response["Error"]["Code"] == "InvalidParameters"
    assert message in caught.value.response["Error"]["Message"]
    assert ssm.list_commands()["Commands"] == []
    assert ssm_executor.wait_idle(5)
    assert host.commands() == before


def test_a_missing_required_parameter_is_refused(aws: dict[str, Any], host: LocalHost) -> None:
    parameters = host_env(host)
    del parameters["DB_ROLE"]
    with pytest.raises(ClientError, match="InvalidParameters"):
        send(aws["ssm"], "FreshTrackOps-preflight", ONLINE, parameters)
