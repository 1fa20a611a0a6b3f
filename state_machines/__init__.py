"""The ASL definitions and the one function that fills their ${Placeholders}.

CDK (``definition_substitutions``) and the local plane (text substitution) both call
``substitutions()``, so the deployed and the locally executed state machines are the same text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path

from freshtrack_ops.tasks import TASKS, WORKFLOWS

ASL_DIR = Path(__file__).resolve().parent
PLACEHOLDER = re.compile(r"\$\{([A-Za-z][A-Za-z0-9]*)\}")
TOPIC_PLACEHOLDER = "NotificationTopicArn"

#: The one Retry entry for Lambda's own transient errors (throttling, service faults), copied into every
#: Lambda task of every ASL file (JSON has no way to share it); tests/asl checks each copy against this one.
LAMBDA_SERVICE_RETRY: dict[str, object] = {
    "ErrorEquals": [
        "Lambda.ServiceException",
        "Lambda.AWSLambdaException",
        "Lambda.SdkClientException",
        "Lambda.TooManyRequestsException",
    ],
    "IntervalSeconds": 2,
    "MaxAttempts": 3,
    "BackoffRate": 2,
    "JitterStrategy": "FULL",
}


def asl_path(workflow: str) -> Path:
    return ASL_DIR / WORKFLOWS[workflow].asl_file


def asl_text(workflow: str) -> str:
    return asl_path(workflow).read_text(encoding="utf-8")


def placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text))


def substitutions(function_arns: Mapping[str, str], topic_arn: str) -> dict[str, str]:
    """Placeholder -> value for every task function and the notification topic."""
    missing = sorted(set(TASKS) - set(function_arns))
    if missing:
        raise ValueError(f"no function ARN for tasks: {', '.join(missing)}")
    values = {f"{name}FunctionArn": function_arns[name] for name in TASKS}
    values[TOPIC_PLACEHOLDER] = topic_arn
    return values


def render(workflow: str, values: Mapping[str, str]) -> str:
    """The ASL with placeholders replaced (what Step Functions ends up running); checks completeness."""
    text = asl_text(workflow)
    unknown = placeholders(text) - set(values)
    if unknown:
        raise ValueError(f"{workflow}: no value for placeholders {sorted(unknown)}")
    rendered = PLACEHOLDER.sub(lambda m: values[m.group(1)], text)
    json.loads(rendered)
    return rendered
