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
from freshtrack_ops.config import SsmTarget
from freshtrack_ops.errors import HostCommandFailed, HostCommandTimeout, HostUnreachable, InvalidInput
from freshtrack_ops.host_scripts.parameters import PARAMETERS
from freshtrack_ops.host_scripts.ssm_document import CommandDocument, document_content, document_name, document_scripts
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
        for script in document_scripts():
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
    target = SsmTarget(id="demo-ssm", instance_id=ONLINE, domain="demo.test")
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

    offline = SsmTarget(id="demo-off", instance_id=OFFLINE, domain="demo.test")
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


# -- the agent's own check: Go's regexp (RE2) ------------------------------------------------------------
#: OBJECT_URL's pattern before issue 8: Java (the SSM API) compiles it, Go (the SSM Agent) does not
OLD_PRESIGNED_URL_PATTERN = (
    r"^(https://[a-z0-9][a-z0-9.-]{0,200}\.amazonaws\.com(\.cn)?|http://127\.0\.0\.1:[1-9][0-9]{0,4})"
    r"/[A-Za-z0-9._~%/-]{1,1100}\?[A-Za-z0-9._~%=&-]{1,6000}$"
)
PRESIGNED = "http://127.0.0.1:4566/bucket/backups/x.dump?X-Amz-Credential=ASIAEXAMPLE&X-Amz-Signature=0a1b2c3d4e5f"


def archive_env(host: LocalHost, url: str) -> dict[str, str]:
    """The parameters of ssm_archive_list.sh."""
    return {
        "APP_DIR": str(host.app_dir),
        "DOCKER_BIN": str(host.docker_bin),
        "PG_SERVICE": "postgres",
        "OBJECT_URL": url,
    }


def _url_document(pattern: str | None = None) -> CommandDocument:
    """ssm_archive_list.sh's document in its shape before issue 17, with OBJECT_URL a (ENV_VAR) parameter and the
    run step only: what these tests of the agent's parameter check need (today the URL travels in the host exchange
    object, and EXCHANGE_URL's pattern is checked the same way)."""
    content = document_content("ssm_archive_list.sh")
    content["parameters"].pop("EXCHANGE_URL")
    spec = PARAMETERS["OBJECT_URL"]
    content["parameters"]["OBJECT_URL"] = {
        "type": "String",
        "description": spec.description,
        "allowedPattern": pattern or spec.pattern,
        "maxChars": spec.max_chars,
        "interpolationType": "ENV_VAR",
    }
    content["mainSteps"] = content["mainSteps"][-1:]
    return content


def _marked_document(ssm: Any, name: str, content: CommandDocument, marker: Any) -> None:
    """``content`` with a first step line that leaves ``marker`` behind: it exists only if the step ran."""
    content["mainSteps"][-1]["inputs"]["runCommand"].insert(1, f"touch {marker}")
    ssm.create_document(Name=name, Content=json.dumps(content), DocumentType="Command", DocumentFormat="JSON")


def test_a_document_whose_pattern_go_cannot_compile_fails_and_nothing_runs(
    aws: dict[str, Any], host: LocalHost, tmp_path: Any
) -> None:
    """The old ``{1,1100}``/``{1,6000}`` OBJECT_URL pattern: SendCommand accepts it (the API's Java regex
    compiles it), the agent refuses the document (Go: "invalid repeat count"), the invocation fails with no
    exit code and the script never starts. Before issue 8 the stand-in ran it."""
    ssm = aws["ssm"]
    content = _url_document(OLD_PRESIGNED_URL_PATTERN)
    marker = tmp_path / "ran"
    _marked_document(ssm, "Old-ssm_archive_list", content, marker)
    command_id = send(ssm, "Old-ssm_archive_list", ONLINE, archive_env(host, PRESIGNED))
    invocation = wait(ssm, command_id, ONLINE)
    assert (invocation["Status"], invocation["StatusDetails"], invocation["ResponseCode"]) == ("Failed", "Failed", -1)
    assert "while validating parameter /OBJECT_URL/" in invocation["StandardErrorContent"]
    assert "invalid repetition size: {1,1100}" in invocation["StandardErrorContent"]
    assert not marker.exists(), "the agent ran nothing"
    assert (command_id, ONLINE, "Failed") in ssm_executor.STATE.runs
    assert aws["s3"].list_objects_v2(Bucket=BUCKET, Prefix=f"{PREFIX}/{command_id}/").get("KeyCount") == 0
    commands = SsmCommands(ssm, aws["s3"], output_bucket=BUCKET, output_prefix=PREFIX)
    with pytest.raises(HostCommandFailed, match=r"the script did not run: .*invalid repetition size"):
        commands.status(command_id, ONLINE)


def test_the_generated_document_with_the_same_url_runs(aws: dict[str, Any], host: LocalHost, tmp_path: Any) -> None:
    """The control for the test above: today's pattern passes the agent's check and the step starts."""
    ssm = aws["ssm"]
    marker = tmp_path / "ran"
    _marked_document(ssm, "New-ssm_archive_list", _url_document(), marker)
    command_id = send(ssm, "New-ssm_archive_list", ONLINE, archive_env(host, PRESIGNED))
    invocation = wait(ssm, command_id, ONLINE)
    assert invocation["ResponseCode"] >= 0, invocation  # the script ran (and failed to download: no endpoint)
    assert marker.exists()


def test_a_value_over_max_chars_is_refused_at_send_and_not_echoed(aws: dict[str, Any], host: LocalHost) -> None:
    ssm = aws["ssm"]
    too_long = PRESIGNED + "&pad=" + "a" * 8192  # matches the pattern; only maxChars refuses it
    before = host.commands()
    ssm.create_document(
        Name="Url-ssm_archive_list", Content=json.dumps(_url_document()), DocumentType="Command", DocumentFormat="JSON"
    )
    with pytest.raises(ClientError) as caught:
        send(ssm, "Url-ssm_archive_list", ONLINE, archive_env(host, too_long))
    assert caught.value.response["Error"]["Code"] == "InvalidParameters"
    message = caught.value.response["Error"]["Message"]
    assert "OBJECT_URL" in message and "maxChars 8192" in message
    assert "X-Amz-Signature" not in message
    assert ssm_executor.wait_idle(5)
    assert host.commands() == before


def test_the_agents_refusal_quotes_the_url_and_the_adapters_error_does_not(
    aws: dict[str, Any], host: LocalHost, tmp_path: Any
) -> None:
    """A pattern Python's re and Go's RE2 read differently (``\\w`` takes "é" in Python, not in RE2): the API
    check passes, the agent's refuses and, as the real agent does, quotes the whole value in its message.
    The named error built from that invocation carries the reason, not the URL."""
    ssm = aws["ssm"]
    content = _url_document(r"^http://127\.0\.0\.1:[0-9]+/\w+\?[A-Za-z0-9=&-]+$")
    marker = tmp_path / "ran"
    _marked_document(ssm, "Divergent-ssm_archive_list", content, marker)
    url = "http://127.0.0.1:4566/bucké?X-Amz-Credential=ASIAEXAMPLE&X-Amz-Signature=0a1b2c3d4e5f"
    command_id = send(ssm, "Divergent-ssm_archive_list", ONLINE, archive_env(host, url))
    invocation = wait(ssm, command_id, ONLINE)
    assert (invocation["Status"], invocation["ResponseCode"]) == ("Failed", -1)
    assert f"parameter value /{url}/ does not match" in invocation["StandardErrorContent"]
    assert not marker.exists()
    commands = SsmCommands(ssm, aws["s3"], output_bucket=BUCKET, output_prefix=PREFIX)
    with pytest.raises(HostCommandFailed, match="does not match the allowed pattern") as raised:
        commands.status(command_id, ONLINE)
    assert "X-Amz-Signature=0a1b" not in str(raised.value)
    assert "X-Amz-Credential=ASIA" not in str(raised.value)
    assert "bucké?<redacted>" in str(raised.value)
