"""SsmCommands: what it sends, how SSM statuses map to named errors, where the full output is read from."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from freshtrack_ops.adapters.ssm import SsmCommands, error_for
from freshtrack_ops.config import SsmTarget
from freshtrack_ops.errors import (
    ConfigError,
    HostCommandFailed,
    HostCommandTimeout,
    HostUnreachable,
    InvalidInput,
)
from freshtrack_ops.ports import CommandResult

BUCKET = "ssm-output-test"
INSTANCE = "mi-0123456789abcdef0"
TARGET = SsmTarget(id="demo-ssm", instance_id=INSTANCE, domain="demo.test")
ENV = {
    "APP_DIR": "/opt/freshtrack-pro",
    "DOCKER_BIN": "docker",
    "PG_SERVICE": "postgres",
    "DB_NAME": "frostguard",
    "DB_ROLE": "frostguard",
}


def _client_error(code: str, operation: str = "SendCommand") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"{code} happened"}}, operation)


class FakeSsm:
    """The few SSM calls the adapter makes, answering what a test sets."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.invocation: dict[str, Any] = {}
        self.ping: str | None = "Online"
        self.send_error: ClientError | None = None
        self.invocation_error: ClientError | None = None

    def send_command(self, **kwargs: Any) -> dict[str, Any]:
        if self.send_error is not None:
            raise self.send_error
        self.sent.append(kwargs)
        return {"Command": {"CommandId": "cmd-1"}}

    def describe_instance_information(self, **_: Any) -> dict[str, Any]:
        found = [] if self.ping is None else [{"InstanceId": INSTANCE, "PingStatus": self.ping}]
        return {"InstanceInformationList": found}

    def get_command_invocation(self, **_: Any) -> dict[str, Any]:
        if self.invocation_error is not None:
            raise self.invocation_error
        return self.invocation


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


@pytest.fixture
def ssm() -> FakeSsm:
    return FakeSsm()


def _commands(ssm: FakeSsm, s3: Any, **kwargs: Any) -> SsmCommands:
    return SsmCommands(ssm, s3, output_bucket=BUCKET, output_prefix="ssm/out", **kwargs)  # type: ignore[arg-type]


def _invocation(status: str, details: str, code: int = -1, **extra: Any) -> dict[str, Any]:
    return {
        "CommandId": "cmd-1",
        "InstanceId": INSTANCE,
        "DocumentName": "FreshTrackOps-preflight",
        "Status": status,
        "StatusDetails": details,
        "ResponseCode": code,
        "StandardOutputContent": "",
        "StandardErrorContent": "",
        "StandardOutputUrl": "",
        "StandardErrorUrl": "",
        **extra,
    }


# -- send --------------------------------------------------------------------------------------------------
def test_send_passes_parameters_as_lists_to_the_prefixed_document(ssm: FakeSsm, s3: Any) -> None:
    command_id = _commands(ssm, s3, document_prefix="Prod-", delivery_timeout_s=45).send(TARGET, "preflight.sh", ENV)
    assert command_id == "cmd-1"
    (sent,) = ssm.sent
    assert sent["DocumentName"] == "Prod-FreshTrackOps-preflight"
    assert sent["InstanceIds"] == [INSTANCE]
    assert sent["Parameters"] == {name: [value] for name, value in ENV.items()}
    assert sent["TimeoutSeconds"] == 45
    assert sent["OutputS3BucketName"] == BUCKET
    assert sent["OutputS3KeyPrefix"] == "ssm/out"
    assert sent["CloudWatchOutputConfig"] == {"CloudWatchOutputEnabled": False}


def test_send_refuses_an_injection_before_calling_ssm(ssm: FakeSsm, s3: Any) -> None:
    with pytest.raises(InvalidInput, match="DB_NAME"):
        _commands(ssm, s3).send(TARGET, "preflight.sh", ENV | {"DB_NAME": "frostguard; rm -rf /"})
    with pytest.raises(InvalidInput, match="NOT_A_PARAMETER"):
        _commands(ssm, s3).send(TARGET, "preflight.sh", ENV | {"NOT_A_PARAMETER": "x"})
    assert ssm.sent == []


def test_send_passes_only_the_parameters_the_document_declares(ssm: FakeSsm, s3: Any) -> None:
    _commands(ssm, s3).send(TARGET, "preflight.sh", ENV | {"TARGET_DB": "frostguard_verify_0a1b2c3d"})
    assert "TARGET_DB" not in ssm.sent[0]["Parameters"]


@pytest.mark.parametrize("ping", ["ConnectionLost", "Inactive", None])
def test_an_instance_that_is_not_online_is_unreachable(ssm: FakeSsm, s3: Any, ping: str | None) -> None:
    ssm.ping = ping
    with pytest.raises(HostUnreachable, match=INSTANCE):
        _commands(ssm, s3).send(TARGET, "preflight.sh", ENV)
    assert ssm.sent == []
    ssm.ping = "ConnectionLost"
    assert _commands(ssm, s3, check_online=False).send(TARGET, "preflight.sh", ENV) == "cmd-1"


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("InvalidInstanceId", HostUnreachable),
        ("InvalidParameters", InvalidInput),
        ("InvalidDocument", ConfigError),
        ("InternalServerError", HostCommandFailed),
    ],
)
def test_send_errors_are_named(ssm: FakeSsm, s3: Any, code: str, error: type[Exception]) -> None:
    ssm.send_error = _client_error(code)
    with pytest.raises(error, match=code):
        _commands(ssm, s3).send(TARGET, "preflight.sh", ENV)


# -- status mapping ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("status", ["Pending", "InProgress", "Delayed"])
def test_not_finished_is_none(ssm: FakeSsm, s3: Any, status: str) -> None:
    ssm.invocation = _invocation(status, status)
    assert _commands(ssm, s3).status("cmd-1", INSTANCE) is None


def test_an_invocation_not_yet_visible_is_none(ssm: FakeSsm, s3: Any) -> None:
    ssm.invocation_error = _client_error("InvocationDoesNotExist", "GetCommandInvocation")
    assert _commands(ssm, s3).status("cmd-1", INSTANCE) is None


@pytest.mark.parametrize(
    ("status", "details", "error", "message"),
    [
        ("TimedOut", "ExecutionTimedOut", HostCommandTimeout, "ExecutionTimedOut"),
        ("TimedOut", "DeliveryTimedOut", HostCommandTimeout, "DeliveryTimedOut"),
        ("TimedOut", "", HostCommandTimeout, "TimedOut"),
        ("Cancelled", "Canceled", HostCommandFailed, "cancelled"),
        ("Cancelling", "Cancelling", HostCommandFailed, "cancelled"),
        ("Failed", "Undeliverable", HostUnreachable, "Undeliverable"),
        ("Failed", "Terminated", HostUnreachable, "Terminated"),
        ("Failed", "InvalidPlatform", HostUnreachable, "InvalidPlatform"),
        ("Failed", "AccessDenied", HostCommandFailed, "denied"),
    ],
)
def test_statuses_without_an_exit_raise_named_errors(
    ssm: FakeSsm, s3: Any, status: str, details: str, error: type[Exception], message: str
) -> None:
    ssm.invocation = _invocation(status, details)
    with pytest.raises(error, match=message):
        _commands(ssm, s3).status("cmd-1", INSTANCE)
    assert isinstance(error_for(status, details, INSTANCE, "preflight.sh"), error)


def test_failed_with_an_exit_code_is_a_result_and_maps_to_host_command_failed(ssm: FakeSsm, s3: Any) -> None:
    ssm.invocation = _invocation("Failed", "Failed", 3, StandardErrorContent="boom\n")
    assert _commands(ssm, s3).status("cmd-1", INSTANCE) == CommandResult(3, "", "boom\n")
    failed = error_for("Failed", "Failed", INSTANCE, "preflight.sh", response_code=3)
    assert isinstance(failed, HostCommandFailed)
    assert "exit code 3" in str(failed)


# -- output ------------------------------------------------------------------------------------------------
def test_full_output_is_read_from_s3_not_the_truncated_api_content(ssm: FakeSsm, s3: Any) -> None:
    commands = _commands(ssm, s3)
    full = "x" * 30_000 + "\ndatabase_ready=true\n"
    s3.put_object(Bucket=BUCKET, Key=commands.output_key("cmd-1", INSTANCE, "stdout"), Body=full.encode())
    s3.put_object(Bucket=BUCKET, Key=commands.output_key("cmd-1", INSTANCE, "stderr"), Body=b"warning\n")
    ssm.invocation = _invocation(
        "Success", "Success", 0, StandardOutputContent=full[:24_000], StandardErrorContent="warning\n"
    )
    result = commands.status("cmd-1", INSTANCE)
    assert result == CommandResult(0, full, "warning\n")
    assert commands.output_key("cmd-1", INSTANCE, "stdout") == (
        f"ssm/out/cmd-1/{INSTANCE}/awsrunShellScript/runHostScript/stdout"
    )


def test_the_output_url_wins_over_the_computed_key(ssm: FakeSsm, s3: Any) -> None:
    key = f"ssm/out/cmd-1/{INSTANCE}/awsrunShellScript/otherStep/stdout"
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"from the url\n")
    for url in (
        f"https://s3.us-east-1.amazonaws.com/{BUCKET}/{key}",
        f"https://{BUCKET}.s3.us-east-1.amazonaws.com/{key}",
    ):
        ssm.invocation = _invocation("Success", "Success", 0, StandardOutputContent="api", StandardOutputUrl=url)
        result = _commands(ssm, s3).status("cmd-1", INSTANCE)
        assert result is not None
        assert result.stdout == "from the url\n"


def test_without_s3_objects_the_api_content_is_used(ssm: FakeSsm, s3: Any) -> None:
    ssm.invocation = _invocation("Success", "Success", 0, StandardOutputContent="short\n", StandardErrorContent="e")
    assert _commands(ssm, s3).status("cmd-1", INSTANCE) == CommandResult(0, "short\n", "e")
    no_bucket = SsmCommands(ssm, s3, output_bucket="")  # type: ignore[arg-type]
    assert no_bucket.status("cmd-1", INSTANCE) == CommandResult(0, "short\n", "e")


def test_output_beyond_the_limit_is_cut_with_a_pointer(ssm: FakeSsm, s3: Any) -> None:
    commands = _commands(ssm, s3, max_output_bytes=1000)
    key = commands.output_key("cmd-1", INSTANCE, "stdout")
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"y" * 5000)
    ssm.invocation = _invocation("Success", "Success", 0)
    result = commands.status("cmd-1", INSTANCE)
    assert result is not None
    assert result.stdout.startswith("y" * 1000)
    assert f"cut at 1000 of 5000 bytes; see s3://{BUCKET}/{key}" in result.stdout


# -- credentials travel in a host exchange object, never as parameters -----------------------------------
PRESIGNED = "https://b.s3.us-east-1.amazonaws.com/backups/x.dump?X-Amz-Credential=AKIA%2Fx&X-Amz-Signature=0a1b"
READ_ENV = {"APP_DIR": "/opt/freshtrack-pro", "DOCKER_BIN": "docker", "PG_SERVICE": "postgres", "OBJECT_URL": PRESIGNED}


def _exchange(s3: Any) -> Any:
    from freshtrack_ops.adapters.host_exchange import HostExchange

    return HostExchange(s3, BUCKET, region="us-east-1", account=lambda: "123456789012")


def test_a_credential_goes_to_a_host_exchange_object_tagged_for_the_instance_not_into_the_parameters(
    ssm: FakeSsm, s3: Any
) -> None:
    from freshtrack_ops.host_scripts.parameters import EXCHANGE_URL_PATTERN
    from freshtrack_ops.redact import looks_presigned

    _commands(ssm, s3, exchange=_exchange(s3)).send(TARGET, "ssm_archive_list.sh", READ_ENV)
    (sent,) = ssm.sent
    parameters = {name: value for name, (value,) in sent["Parameters"].items()}
    assert "OBJECT_URL" not in parameters
    assert not any(looks_presigned(value) or "X-Amz" in value for value in parameters.values())
    url = parameters["EXCHANGE_URL"]
    assert re.fullmatch(EXCHANGE_URL_PATTERN, url), url
    key = url.split(".amazonaws.com/", 1)[1]
    assert key.startswith(f"ssm-exchange/hosts/{INSTANCE}/")
    assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == f"OBJECT_URL {PRESIGNED}\n".encode()
    tags = {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=BUCKET, Key=key)["TagSet"]}
    assert tags["freshtrack-ops:host"] == f"arn:aws:ssm:us-east-1:123456789012:managed-instance/{INSTANCE}"


def test_an_ec2_instance_is_named_by_its_instance_arn() -> None:
    from freshtrack_ops.adapters.host_exchange import instance_arn

    assert instance_arn("i-0abc1234", "eu-west-1", "1") == "arn:aws:ec2:eu-west-1:1:instance/i-0abc1234"
    assert instance_arn("i-0abc1234", "cn-north-1", "1") == "arn:aws-cn:ec2:cn-north-1:1:instance/i-0abc1234"


def test_a_refused_send_deletes_its_exchange_object(ssm: FakeSsm, s3: Any) -> None:
    ssm.send_error = _client_error("InvalidParameters")
    with pytest.raises(InvalidInput):
        _commands(ssm, s3, exchange=_exchange(s3)).send(TARGET, "ssm_archive_list.sh", READ_ENV)
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix="ssm-exchange/").get("KeyCount") == 0


def test_a_credential_without_a_host_exchange_is_refused_before_anything_is_sent(ssm: FakeSsm, s3: Any) -> None:
    with pytest.raises(ConfigError, match="host exchange"):
        _commands(ssm, s3).send(TARGET, "ssm_archive_list.sh", READ_ENV)
    assert ssm.sent == []


def test_status_names_the_run_step(ssm: FakeSsm, s3: Any) -> None:
    seen: list[dict[str, Any]] = []
    ssm.invocation = _invocation("Success", "Success", 0)
    original = ssm.get_command_invocation

    def recording(**kwargs: Any) -> dict[str, Any]:
        seen.append(kwargs)
        return original(**kwargs)

    ssm.get_command_invocation = recording  # type: ignore[method-assign]
    _commands(ssm, s3).status("cmd-1", INSTANCE)
    assert seen == [{"CommandId": "cmd-1", "InstanceId": INSTANCE, "PluginName": "runHostScript"}]
