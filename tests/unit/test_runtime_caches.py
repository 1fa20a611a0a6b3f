"""What the tasks and the local plane cache, and what forgetting keeps.

``runtime.forget_cached_values`` (the plane after it changed the targets) must make the next read see the new
parameter and secret, yet keep the clients (a new client parses botocore's JSON models again); moto's ASL
interpreter, patched by the plane, reuses one client per service and one parsed program per definition, with every
component's heap key drawn before the program is shared between executions.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from freshtrack_ops import runtime
from freshtrack_ops.errors import ConfigError
from opsctl.local import moto_patches

REGION = "us-east-1"
PARAMETER = "/caches/targets"
DEFINITION = json.dumps(
    {
        "StartAt": "Try",
        "States": {
            "Try": {
                "Type": "Pass",
                "Next": "Map",
            },
            "Map": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "Iterator": {"StartAt": "Each", "States": {"Each": {"Type": "Pass", "End": True}}},
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Failed"}],
                "Next": "Done",
            },
            "Failed": {"Type": "Fail", "Error": "Failed"},
            "Done": {"Type": "Succeed"},
        },
    }
)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        runtime.configure(runtime.Settings(backup_bucket="bucket", ops_table="table", targets_parameter=PARAMETER))
        runtime.reset()
        yield
        runtime.configure(None)
        runtime.reset()


@pytest.mark.usefixtures("aws")
def test_forgetting_cached_values_reads_the_new_parameter_and_secret_with_the_same_clients() -> None:
    ssm = boto3.client("ssm", region_name=REGION)
    secrets = boto3.client("secretsmanager", region_name=REGION)
    ssm.put_parameter(Name=PARAMETER, Value=json.dumps({"targets": []}), Type="String")
    secret_arn = secrets.create_secret(Name="caches-key", SecretString="first")["ARN"]
    assert runtime.configured_targets().targets == ()
    assert runtime.secret(secret_arn) == "first"
    clients = (runtime.client("ssm"), runtime.client("secretsmanager"))

    ssm.put_parameter(Name=PARAMETER, Value=json.dumps({"targets": "not a list"}), Type="String", Overwrite=True)
    secrets.put_secret_value(SecretId=secret_arn, SecretString="second")
    assert runtime.secret(secret_arn) == "first"  # cached until forgotten

    runtime.forget_cached_values()
    assert runtime.secret(secret_arn) == "second"
    with pytest.raises(ConfigError, match="targets parameter"):
        runtime.configured_targets()
    assert (runtime.client("ssm"), runtime.client("secretsmanager")) == clients


@pytest.mark.usefixtures("aws")
def test_reset_forgets_the_clients_too() -> None:
    before = runtime.client("s3")
    runtime.reset()
    assert runtime.client("s3") is not before


def test_the_interpreter_reuses_one_client_per_region_and_service() -> None:
    moto_patches.install()
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

    client_for = vars(lambda_eval_utils)["boto_client_for"]  # the name the Lambda task calls
    first = client_for(REGION, "lambda")
    assert client_for(REGION, "lambda") is first
    assert client_for(REGION, "sns") is not first
    assert client_for("eu-west-1", "lambda") is not first


def test_a_definition_is_parsed_once_and_every_component_has_its_heap_key_before_it_is_shared() -> None:
    moto_patches.install()
    from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    program, _tree = AmazonStateLanguageParser.parse(DEFINITION)
    assert AmazonStateLanguageParser.parse(DEFINITION)[0] is program

    components = [item for item in moto_patches.components_of(program) if isinstance(item, EvalComponent)]
    assert len(components) > 10  # the Map's iterator and the Catch are reached, not only the top states
    assert all(component._EvalComponent__heap_key is not None for component in components)  # type: ignore[attr-defined]


def test_a_definition_that_does_not_parse_is_not_cached() -> None:
    moto_patches.install()
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    broken = json.dumps({"StartAt": "Task", "States": {"Task": {"Type": "Task", "End": True}}})
    for _ in range(2):
        with pytest.raises(Exception, match="Resource"):
            AmazonStateLanguageParser.parse(broken)
    assert broken not in moto_patches._PARSED
