"""The alert webhook's grants as the local plane enforces them (opsctl/local/iam.py): the policies CDK builds for the
plane's resources, evaluated against the calls the webhook makes, with the secrets' ARNs as moto mints them."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from freshtrack_ops.tasks import TASKS
from opsctl.local import iam
from opsctl.local.iam_actions import requests_for
from opsctl.local.iam_policy import Policy
from opsctl.local.names import ACCOUNT, REGION, function_name
from stacks.webhook_names import WEBHOOK_SOURCES, WebhookSource, webhook_secret_name

KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/k1"
TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT}:topic"


def machine_arn(workflow: str) -> str:
    return f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:ftops-local-{workflow}"


STATE_MACHINES = {name: machine_arn(name) for name in ("backup", "test-restore", "remediation")}


@pytest.fixture(scope="module")
def policies() -> dict[str, Policy]:
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    resources = iam.plane_resources(key_arn=KEY_ARN, topic_arn=TOPIC_ARN, targets=(), document_names=("Local-x",))
    return {name: Policy.from_statements(doc) for name, doc in iam.task_policies(resources, STATE_MACHINES).items()}


@pytest.fixture
def secrets() -> Iterator[dict[WebhookSource, str]]:
    """The two webhook secrets created in moto under the agreed names (source -> ARN, moto's random suffix)."""
    with mock_aws():
        client = boto3.client("secretsmanager", region_name=REGION)
        arns = {
            source: client.create_secret(Name=webhook_secret_name("local", source), SecretString="{}")["ARN"]
            for source in WEBHOOK_SOURCES
        }
        client.create_secret(Name="freshtrack-ops/local/webhook/alertmanager-old", SecretString="{}")
        yield arns


def denied(policy: Policy, service: str, operation: str, params: dict[str, Any]) -> bool:
    lookup = iam.PlaneLookup({})
    return policy.denied(requests_for(service, operation, params, lookup)) is not None


def test_the_plane_grants_the_agreed_secret_names_which_it_creates() -> None:
    from opsctl.local.monitoring import credentials

    assert iam.WEBHOOK_SECRET_NAMES == {
        "alertmanager": "freshtrack-ops/local/webhook/alertmanager",
        "grafana": "freshtrack-ops/local/webhook/grafana",
    }
    assert iam.WEBHOOK_SECRET_NAMES == {
        "alertmanager": credentials.ALERTMANAGER_SECRET,
        "grafana": credentials.GRAFANA_SECRET,
    }


def test_the_webhook_reads_exactly_its_two_secrets(
    policies: dict[str, Policy], secrets: dict[WebhookSource, str]
) -> None:
    webhook = policies[function_name("AlertWebhook")]
    for source, arn in secrets.items():
        assert arn.rsplit(":", 1)[1].startswith(webhook_secret_name("local", source) + "-")
        # by name (as the handler may pass it) and by ARN (as the environment gives it)
        assert not denied(webhook, "secretsmanager", "GetSecretValue", {"SecretId": arn})
        assert not denied(
            webhook, "secretsmanager", "GetSecretValue", {"SecretId": webhook_secret_name("local", source)}
        )
        assert denied(webhook, "secretsmanager", "PutSecretValue", {"SecretId": arn, "SecretString": "x"})
    # a secret whose name merely starts like one of them is another secret
    assert denied(
        webhook, "secretsmanager", "GetSecretValue", {"SecretId": "freshtrack-ops/local/webhook/alertmanager-old"}
    )


def test_no_other_task_reads_the_webhook_secrets(
    policies: dict[str, Policy], secrets: dict[WebhookSource, str]
) -> None:
    readers = {name for name, task in TASKS.items() if "webhook-secrets" in task.grants}
    assert readers == {"AlertWebhook"}
    for name in set(TASKS) - readers:
        for arn in secrets.values():
            assert denied(policies[function_name(name)], "secretsmanager", "GetSecretValue", {"SecretId": arn}), name


def test_the_webhook_starts_remediations_and_nothing_else(policies: dict[str, Policy]) -> None:
    webhook = policies[function_name("AlertWebhook")]
    start = {"stateMachineArn": machine_arn("remediation"), "input": "{}"}
    assert not denied(webhook, "stepfunctions", "StartExecution", start)
    for other in ("backup", "test-restore"):
        assert denied(webhook, "stepfunctions", "StartExecution", start | {"stateMachineArn": machine_arn(other)})
    for name, task in TASKS.items():
        if "start-remediation" not in task.grants:
            assert denied(policies[function_name(name)], "stepfunctions", "StartExecution", start), name
