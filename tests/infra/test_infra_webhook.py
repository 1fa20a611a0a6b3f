"""The alert webhook in the control plane (stacks/webhook.py): the HTTP API, its secrets, the grants of the webhook
function, the alarms; and the templates' sizes. Properties, not snapshots: each test reads what the template holds."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Template

from freshtrack_ops.alerts.settings import WebhookSettings
from freshtrack_ops.config import DeploymentConfig
from freshtrack_ops.tasks import TASKS
from stacks.names import camel
from stacks.webhook import ROUTES, SECRET_LENGTH, WebhookApi, WebhookSecrets
from stacks.webhook_names import SECRET_ENV, SECRET_FIELDS, WebhookSource, webhook_secret_name

from .conftest import Synth, actions_of, resources_of, role_statements, synthesize, task_functions
from .test_infra_dr import dr_variant
from .test_infra_vpc import vpc_variant

pytestmark = pytest.mark.infra

#: CloudFormation's limit for a template body in S3 ("1 MB"; counted here in decimal bytes, the stricter reading)
TEMPLATE_LIMIT_BYTES = 1_000_000


def _only(synth: Synth, type_: str) -> tuple[str, dict[str, Any]]:
    ((logical_id, resource),) = synth.resources("control", type_).items()
    return logical_id, resource["Properties"]


def _machine_id(synth: Synth, workflow: str) -> str:
    ref: str = synth.control["Outputs"][f"{camel(workflow)}StateMachineArn"]["Value"]["Ref"]
    return ref


def _secret_ids(synth: Synth) -> dict[WebhookSource, str]:
    """source -> logical id of its secret (by the name the stack gives it)."""
    by_name = {
        r["Properties"]["Name"]: logical_id
        for logical_id, r in synth.resources("control", "AWS::SecretsManager::Secret").items()
    }
    return {source: by_name[webhook_secret_name(synth.config.name, source)] for source in SECRET_FIELDS}


def _topic_ref(synth: Synth) -> dict[str, str]:
    return {"Ref": next(iter(synth.resources("control", "AWS::SNS::Topic")))}


# -- the API ----------------------------------------------------------------------------------------------------
def test_exactly_the_two_routes_post_to_the_webhook_function_with_payload_2(synth: Synth) -> None:
    api_id, api = _only(synth, "AWS::ApiGatewayV2::Api")
    assert api["ProtocolType"] == "HTTP"
    routes = synth.resources("control", "AWS::ApiGatewayV2::Route")
    assert sorted(r["Properties"]["RouteKey"] for r in routes.values()) == ["POST /alertmanager", "POST /grafana"]
    webhook_id, _ = task_functions(synth)["AlertWebhook"]
    integrations = synth.resources("control", "AWS::ApiGatewayV2::Integration")
    assert integrations
    for route in routes.values():
        assert route["Properties"]["ApiId"] == {"Ref": api_id}
        target = route["Properties"]["Target"]["Fn::Join"][1]
        assert target[0] == "integrations/" and target[1]["Ref"] in integrations
    for integration in integrations.values():
        props = integration["Properties"]
        assert props["IntegrationType"] == "AWS_PROXY"
        assert props["PayloadFormatVersion"] == "2.0"
        assert props["IntegrationUri"] == {"Fn::GetAtt": [webhook_id, "Arn"]}


def test_api_gateway_may_invoke_the_webhook_through_the_two_routes_only(synth: Synth) -> None:
    webhook_id, _ = task_functions(synth)["AlertWebhook"]
    permissions = [
        p["Properties"]
        for p in synth.resources("control", "AWS::Lambda::Permission").values()
        if p["Properties"]["Principal"] == "apigateway.amazonaws.com"
    ]
    assert all(p["FunctionName"] == {"Fn::GetAtt": [webhook_id, "Arn"]} for p in permissions)
    tails = sorted(p["SourceArn"]["Fn::Join"][1][-1] for p in permissions)
    assert tails == ["/*/*/alertmanager", "/*/*/grafana"]


def test_the_default_stage_is_throttled_and_access_logged_without_bodies_or_credentials(synth: Synth) -> None:
    _, stage = _only(synth, "AWS::ApiGatewayV2::Stage")
    assert stage["StageName"] == "$default" and stage["AutoDeploy"] is True
    settings = stage["DefaultRouteSettings"]
    assert settings["ThrottlingRateLimit"] == synth.config.webhook.throttle_rate_per_s
    assert settings["ThrottlingBurstLimit"] == synth.config.webhook.throttle_burst
    assert settings["DetailedMetricsEnabled"] is True  # per-route 4xx/5xx/Count
    group_id = stage["AccessLogSettings"]["DestinationArn"]["Fn::GetAtt"][0]
    assert synth.control["Resources"][group_id]["Properties"]["RetentionInDays"]
    access_log = json.loads(stage["AccessLogSettings"]["Format"])
    assert {"requestId", "status", "routeKey", "sourceIp", "integrationError"} <= set(access_log)
    assert all(re.fullmatch(r"\$context\.[A-Za-z.]+", value) for value in access_log.values()), access_log
    text = stage["AccessLogSettings"]["Format"].lower()
    assert not any(word in text for word in ("authorization", "header", "body", "$request", "secret"))


def test_throttling_is_the_configured_one(tmp_path: Path) -> None:
    """A stack of its own: a configuration other than the defaults reaches the stage as configured."""
    stack = cdk.Stack(cdk.App(outdir=str(tmp_path)), "Probe")
    function = lambda_.Function(
        stack, "Fn", runtime=lambda_.Runtime.PYTHON_3_12, handler="h.h", code=lambda_.Code.from_inline("x=1")
    )
    settings = WebhookSettings(throttle_rate_per_s=7, throttle_burst=13)
    WebhookApi(
        stack,
        "Webhook",
        deployment="Probe",
        function=function,
        settings=settings,
        topic=sns.Topic(stack, "T"),
        log_key=kms.Key(stack, "K"),
    )
    Template.from_stack(stack).has_resource_properties(
        "AWS::ApiGatewayV2::Stage",
        {
            "DefaultRouteSettings": {
                "ThrottlingRateLimit": 7,
                "ThrottlingBurstLimit": 13,
                "DetailedMetricsEnabled": True,
            }
        },
    )


def test_the_two_urls_are_outputs(synth: Synth) -> None:
    outputs = synth.control["Outputs"]
    api_id, _ = _only(synth, "AWS::ApiGatewayV2::Api")
    for source, path in ROUTES.items():
        parts = outputs[f"{camel(source)}WebhookUrl"]["Value"]["Fn::Join"][1]
        assert parts[:2] == ["https://", {"Ref": api_id}]
        assert parts[-2:] == [{"Ref": "AWS::URLSuffix"}, path]  # the $default stage: no stage in the path
        assert outputs[f"{camel(source)}WebhookSecretName"]["Value"] == webhook_secret_name(synth.config.name, source)


# -- the secrets ------------------------------------------------------------------------------------------------
def test_both_secrets_are_generated_by_secrets_manager_under_the_agreed_names(synth: Synth) -> None:
    secrets = synth.resources("control", "AWS::SecretsManager::Secret")
    # and the chat webhook's (chat.enabled in the example: tests/infra/test_infra_chat.py)
    webhook = {k for k, r in secrets.items() if "/webhook/" in r["Properties"]["Name"]}
    assert len(webhook) == 2 and len(secrets) == 3
    for source, logical_id in _secret_ids(synth).items():
        props = secrets[logical_id]["Properties"]
        assert props["Name"] == f"freshtrack-ops/{synth.config.name}/webhook/{source}"
        assert "SecretString" not in props  # no value in the template
        generated = props["GenerateSecretString"]
        assert synth.config.webhook.alertmanager_auth == "bearer"
        assert generated["SecretStringTemplate"] == "{}"
        assert generated["GenerateStringKey"] == {"alertmanager": "token", "grafana": "hmac_key"}[source]
        assert generated["ExcludePunctuation"] is True and generated["IncludeSpace"] is False
        assert generated["PasswordLength"] == SECRET_LENGTH >= 32
        assert props["KmsKeyId"] == {"Fn::ImportValue": f"{synth.config.name}-DataKeyArn"}


def test_basic_auth_secret_holds_a_username_and_a_generated_password(tmp_path: Path) -> None:
    stack = cdk.Stack(cdk.App(outdir=str(tmp_path)), "Probe")
    key = kms.Key(stack, "Key")
    WebhookSecrets(stack, "Secrets", deployment="Probe", key=key, settings=WebhookSettings(alertmanager_auth="basic"))
    generators = {
        props["Name"]: props["GenerateSecretString"]
        for props in (
            r["Properties"] for r in Template.from_stack(stack).find_resources("AWS::SecretsManager::Secret").values()
        )
    }
    alertmanager = generators[webhook_secret_name("Probe", "alertmanager")]
    assert json.loads(alertmanager["SecretStringTemplate"]) == {"username": "alertmanager"}
    assert alertmanager["GenerateStringKey"] == "password"
    assert generators[webhook_secret_name("Probe", "grafana")]["GenerateStringKey"] == "hmac_key"


def test_the_webhook_function_gets_the_secret_arns_the_settings_and_the_remediation_machine(synth: Synth) -> None:
    _, props = task_functions(synth)["AlertWebhook"]
    env = props["Environment"]["Variables"]
    for source, logical_id in _secret_ids(synth).items():
        assert env[SECRET_ENV[source]] == {"Ref": logical_id}  # a secret's Ref is its ARN
    assert WebhookSettings.model_validate_json(env["WEBHOOK_SETTINGS"]) == synth.config.webhook
    assert env["REMEDIATION_STATE_MACHINE_ARN"] == {"Ref": _machine_id(synth, "remediation")}
    for task, (_, other) in task_functions(synth).items():
        if task != "AlertWebhook":
            assert not {*SECRET_ENV.values(), "WEBHOOK_SETTINGS"} & set(other["Environment"]["Variables"]), task


# -- the grants -------------------------------------------------------------------------------------------------
def test_only_the_webhook_reads_the_secrets_and_only_these_two(synth: Synth) -> None:
    secret_refs = [{"Ref": logical_id} for logical_id in _secret_ids(synth).values()]
    for task in TASKS:
        reads = [s for s in role_statements(synth, task) if "secretsmanager:GetSecretValue" in actions_of(s)]
        webhook_reads = [s for s in reads if any(r in secret_refs for r in resources_of(s))]
        if task == "AlertWebhook":
            (statement,) = webhook_reads
            assert actions_of(statement) == ["secretsmanager:GetSecretValue"]
            assert sorted(map(json.dumps, resources_of(statement))) == sorted(map(json.dumps, secret_refs))
            # and the data key they are encrypted with
            assert any(
                "kms:Decrypt" in actions_of(s)
                and resources_of(s) == [{"Fn::ImportValue": f"{synth.config.name}-DataKeyArn"}]
                for s in role_statements(synth, task)
            )
        else:
            assert not webhook_reads, task


def test_start_execution_only_on_the_machine_each_grant_names(synth: Synth) -> None:
    expected = {
        "start-remediation": {"Ref": _machine_id(synth, "remediation")},
        "start-test-restore": {"Ref": _machine_id(synth, "test-restore")},
    }
    for task, spec in TASKS.items():
        starts = [s for s in role_statements(synth, task) if "states:StartExecution" in actions_of(s)]
        allowed = [r for s in starts for r in resources_of(s)]
        assert all(actions_of(s) == ["states:StartExecution"] for s in starts), task
        assert sorted(map(json.dumps, allowed)) == sorted(
            json.dumps(ref) for grant, ref in expected.items() if grant in spec.grants
        ), task
    assert "start-remediation" in TASKS["AlertWebhook"].grants


# -- the alarms -------------------------------------------------------------------------------------------------
def _alarms(synth: Synth) -> list[dict[str, Any]]:
    return [a["Properties"] for a in synth.resources("control", "AWS::CloudWatch::Alarm").values()]


def test_api_alarms_on_5xx_count_and_4xx_rate_notify_the_topic(synth: Synth) -> None:
    api_id, _ = _only(synth, "AWS::ApiGatewayV2::Api")
    api_dimension = [{"Name": "ApiId", "Value": {"Ref": api_id}}]
    server = [a for a in _alarms(synth) if a.get("MetricName") == "5xx"]
    (five,) = server
    assert five["Namespace"] == "AWS/ApiGateway" and five["Dimensions"] == api_dimension
    assert five["Statistic"] == "Sum" and five["Threshold"] == 0
    assert five["ComparisonOperator"] == "GreaterThanThreshold"

    rate = [a for a in _alarms(synth) if "Metrics" in a and "4xx" in json.dumps(a["Metrics"])]
    (four,) = rate
    stats = {m["MetricStat"]["Metric"]["MetricName"]: m for m in four["Metrics"] if "MetricStat" in m}
    assert set(stats) == {"4xx", "Count"}
    for metric in stats.values():
        assert metric["MetricStat"]["Metric"]["Namespace"] == "AWS/ApiGateway"
        assert metric["MetricStat"]["Metric"]["Dimensions"] == api_dimension
        assert metric["MetricStat"]["Stat"] == "Sum" and metric["ReturnData"] is False
    (expression,) = [m for m in four["Metrics"] if "Expression" in m]
    ids = {name: m["Id"] for name, m in stats.items()}
    assert f"{ids['4xx']} / {ids['Count']}" in expression["Expression"]
    assert 0 < four["Threshold"] < 1
    for alarm in (five, four):
        assert alarm["AlarmActions"] == [_topic_ref(synth)]
        assert alarm["TreatMissingData"] == "notBreaching"


def test_escalations_and_failed_remediations_alarm_the_topic(synth: Synth) -> None:
    (escalations,) = [a for a in _alarms(synth) if a.get("MetricName") == "RemediationEscalations"]
    assert escalations["Namespace"] == "FreshTrackOps"  # observability.metrics' namespace
    assert escalations["Dimensions"] == [{"Name": "service", "Value": "freshtrack-ops"}]
    assert escalations["Statistic"] == "Sum" and escalations["Threshold"] == 0
    machine = {"Ref": _machine_id(synth, "remediation")}
    (failed,) = [
        a
        for a in _alarms(synth)
        if a.get("MetricName") == "ExecutionsFailed"
        and a["Dimensions"] == [{"Name": "StateMachineArn", "Value": machine}]
    ]
    assert failed["Namespace"] == "AWS/States" and failed["Threshold"] == 0
    for alarm in (escalations, failed):
        assert alarm["AlarmActions"] == [_topic_ref(synth)]
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold"


# -- the webhook (and chat notifications) switched off ----------------------------------------------------------
@pytest.fixture(scope="module")
def disabled_synth(example_config: DeploymentConfig, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synth]:
    """The optional features off in one synth (a synth costs tens of seconds): the webhook and chat notifications."""
    webhook = example_config.webhook.model_copy(update={"enabled": False})
    chat = example_config.chat.model_copy(update={"enabled": False})
    yield synthesize(
        example_config.model_copy(update={"webhook": webhook, "chat": chat}), tmp_path_factory.mktemp("cdk.out.off")
    )


def test_webhook_disabled_means_no_api_no_secrets_and_no_secret_grant(disabled_synth: Synth) -> None:
    types = {r["Type"] for r in disabled_synth.control["Resources"].values()}
    assert not {t for t in types if t.startswith("AWS::ApiGatewayV2::")}
    assert "AWS::SecretsManager::Secret" not in types
    assert not [o for o in disabled_synth.control["Outputs"] if "Webhook" in o]
    statements = role_statements(disabled_synth, "AlertWebhook")
    assert not [s for s in statements if any(a.startswith("secretsmanager:") for a in actions_of(s))]
    env = task_functions(disabled_synth)["AlertWebhook"][1]["Environment"]["Variables"]
    assert not {*SECRET_ENV.values(), "WEBHOOK_SETTINGS"} & set(env)
    # remediation still runs (opsctl starts it): its alarms stay
    assert [a for a in _alarms(disabled_synth) if a.get("MetricName") == "RemediationEscalations"]


def test_chat_disabled_means_no_subscription_no_secret_no_grant_and_no_dead_letters(disabled_synth: Synth) -> None:
    from stacks.chat_names import SECRET_ENV as CHAT_SECRET_ENV
    from stacks.control_plane_stack import CHAT_TASK

    subscriptions = disabled_synth.resources("control", "AWS::SNS::Subscription").values()
    assert not [s for s in subscriptions if s["Properties"]["Protocol"] == "lambda"]
    function_id, props = task_functions(disabled_synth)[CHAT_TASK]
    assert CHAT_SECRET_ENV not in props["Environment"]["Variables"]
    assert not [s for s in role_statements(disabled_synth, CHAT_TASK) if s.get("Sid") == "ReadChatSecret"]
    configs = disabled_synth.resources("control", "AWS::Lambda::EventInvokeConfig").values()
    assert not [c for c in configs if c["Properties"]["FunctionName"] == {"Ref": function_id}]
    permissions = disabled_synth.resources("control", "AWS::Lambda::Permission").values()
    assert not [p for p in permissions if p["Properties"]["FunctionName"] == {"Fn::GetAtt": [function_id, "Arn"]}]
    assert "ChatSecretName" not in disabled_synth.control["Outputs"]


# -- template sizes ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("variant", ["example", "vpc", "dr"])
def test_every_template_is_under_cloudformations_limit(
    synth: Synth, example_config: DeploymentConfig, synth_of: Callable[[DeploymentConfig], Synth], variant: str
) -> None:
    """The file the CDK CLI uploads (as synthesized) is what CloudFormation counts; the VPC variant is the largest
    control plane (each role has the network-interface statements)."""
    if variant == "example":
        outdir = synth.outdir
    else:
        config = vpc_variant(example_config) if variant == "vpc" else dr_variant(example_config)
        outdir = synth_of(config).outdir  # the synth test_infra_vpc.py / test_infra_dr.py test
    sizes = {path.name: path.stat().st_size for path in outdir.glob("*.template.json")}
    print(variant, sizes)
    assert len(sizes) == 4  # with the control plane's nested monitoring stack (dashboards)
    assert all(size < TEMPLATE_LIMIT_BYTES for size in sizes.values()), sizes
