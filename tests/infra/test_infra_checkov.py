"""checkov (framework cloudformation) over the synthesized templates of the example deployment.

One checkov run per session (~30 s on 2 shared cores) over two copies of the templates: as synthesized, where no
check may fail (the skips in the resources' metadata honoured), and with every ``Metadata: checkov`` removed, where
the failed checks must be exactly the skipped ones (no skip is stale, none hides a second finding). checkov runs
from its own venv (``make checkov-venv``, requirements-checkov.txt), offline (``--skip-download``).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from aws_cdk.assertions import Template

from stacks.nag import (
    ASYNC_DEAD_LETTER_REASON,
    CHECKOV_METADATA,
    MIN_REASON,
    SYNC_DEAD_LETTER_REASON,
    CheckovSkips,
    skip_checkov,
)

from .conftest import REPO, Synth

pytestmark = pytest.mark.infra

CHECKOV = REPO / ".venv-checkov" / "bin" / "checkov"
CHECK_ID = re.compile(r"CKV2?_AWS_\d+")

Finding = tuple[str, str, str]  # (check id, template file name, logical id)


@dataclass(frozen=True)
class Scan:
    summary: dict[str, Any]
    failed: list[dict[str, Any]]
    bare_failed: set[Finding]


def run_checkov(root: Path, files: list[str]) -> dict[str, Any]:
    """checkov over ``files`` (relative to ``root``): its JSON report of the failed checks and the summary."""
    if not CHECKOV.exists():
        pytest.fail(f"{CHECKOV} is missing: `make checkov-venv` (part of make test and make infra) installs it")
    command = [str(CHECKOV), "--framework", "cloudformation", "--output", "json", "--quiet", "--compact"]
    command += ["--skip-download", *(arg for name in files for arg in ("-f", name))]
    result = subprocess.run(command, cwd=root, capture_output=True, text=True, check=False, timeout=240)
    assert result.returncode in (0, 1), result.stdout[-2000:] + result.stderr[-2000:]  # 1: some check failed
    report = json.loads(result.stdout)
    (cloudformation,) = report if isinstance(report, list) else [report]
    assert cloudformation["check_type"] == "cloudformation", cloudformation
    return dict(cloudformation)


def skips(template: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Logical id -> the resource's checkov skips (``Metadata: checkov: skip``)."""
    return {
        logical_id: list(resource["Metadata"][CHECKOV_METADATA]["skip"])
        for logical_id, resource in template["Resources"].items()
        if CHECKOV_METADATA in resource.get("Metadata", {})
    }


def _templates(synth: Synth) -> dict[str, dict[str, Any]]:
    """File name -> template, every template of the cloud assembly (the nested monitoring stack's too)."""
    return {path.name: json.loads(path.read_text()) for path in sorted(synth.outdir.glob("*.template.json"))}


@pytest.fixture(scope="module")
def scan(synth: Synth, tmp_path_factory: pytest.TempPathFactory) -> Scan:
    root = tmp_path_factory.mktemp("checkov")
    (root / "as-synthesized").mkdir()
    (root / "bare").mkdir()
    files = []
    for name, template in _templates(synth).items():
        shutil.copy(synth.outdir / name, root / "as-synthesized" / name)
        for resource in template["Resources"].values():
            resource.get("Metadata", {}).pop(CHECKOV_METADATA, None)
        (root / "bare" / name).write_text(json.dumps(template))
        files += [f"as-synthesized/{name}", f"bare/{name}"]
    report = run_checkov(root, files)
    failed: list[dict[str, Any]] = report["results"]["failed_checks"]

    def where(finding: dict[str, Any]) -> tuple[str, str]:
        folder, name = finding["file_path"].strip("/").split("/")
        return folder, name

    bare = {(f["check_id"], where(f)[1], f["resource"].split(".", 1)[1]) for f in failed if where(f)[0] == "bare"}
    return Scan(
        summary=report["summary"], failed=[f for f in failed if where(f)[0] == "as-synthesized"], bare_failed=bare
    )


def test_checkov_reports_no_failed_check(scan: Scan) -> None:
    print(scan.summary)  # both copies counted: see docs/configuration.md for the counts of one
    listed = [f"{f['check_id']} {f['check_name']}: {f['resource']} ({f['file_path']})" for f in scan.failed]
    assert not listed, "checkov failed checks (fix them, or skip in stacks/nag.py with the reason):\n" + "\n".join(
        listed
    )
    assert scan.summary["parsing_errors"] == 0 and scan.summary["resource_count"] > 400, scan.summary


def test_every_checkov_skip_matches_a_real_finding(synth: Synth, scan: Scan) -> None:
    """Without the skips, checkov fails exactly the skipped checks: none is stale, each was needed."""
    skipped = {
        (skip["id"], name, logical_id)
        for name, template in _templates(synth).items()
        for logical_id, entries in skips(template).items()
        for skip in entries
    }
    assert skipped, "expected the documented skips"
    assert scan.bare_failed == skipped, (sorted(scan.bare_failed - skipped), sorted(skipped - scan.bare_failed))
    # and checkov honoured each of them in the templates as synthesized (the summary counts both copies)
    assert scan.summary["skipped"] == len(skipped)


def test_every_checkov_skip_carries_a_specific_reason(synth: Synth) -> None:
    found = 0
    for name, template in _templates(synth).items():
        for logical_id, entries in skips(template).items():
            ids = [skip["id"] for skip in entries]
            assert len(ids) == len(set(ids)), (name, logical_id, ids)
            for skip in entries:
                assert set(skip) == {"id", "comment"} and CHECK_ID.fullmatch(skip["id"]), (name, logical_id, skip)
                assert len(str(skip["comment"]).strip()) >= MIN_REASON, (name, logical_id, skip)
                found += 1
    assert found


# -- the aspect: a skip only where the property that justifies it holds (probe stacks, no synth of the app) ------
def _probe() -> cdk.Stack:
    stack = cdk.Stack(cdk.App(), "Probe")
    cdk.Aspects.of(stack).add(CheckovSkips())
    return stack


def _function(stack: cdk.Stack, construct_id: str) -> lambda_.Function:
    return lambda_.Function(
        stack,
        construct_id,
        runtime=lambda_.Runtime.PYTHON_3_12,
        handler="h.h",
        code=lambda_.Code.from_inline("x=1"),
        environment={"NAME": "value"},
    )


def _skip_ids(stack: cdk.Stack, logical_prefix: str) -> dict[str, str]:
    template = Template.from_stack(stack).to_json()
    (entries,) = [v for k, v in skips(template).items() if k.startswith(logical_prefix)]
    return {skip["id"]: skip["comment"] for skip in entries}


def test_a_function_in_a_vpc_or_with_reserved_concurrency_keeps_those_checks() -> None:
    stack = _probe()
    plain = _function(stack, "Plain")
    placed = _function(stack, "Placed")
    cfn_placed = placed.node.default_child
    assert isinstance(cfn_placed, lambda_.CfnFunction)
    cfn_placed.vpc_config = lambda_.CfnFunction.VpcConfigProperty(subnet_ids=["subnet-1"], security_group_ids=["sg-1"])
    cfn_placed.reserved_concurrent_executions = 5
    plain.configure_async_invoke(retry_attempts=0)
    assert set(_skip_ids(stack, "Plain")) == {"CKV_AWS_115", "CKV_AWS_116", "CKV_AWS_117", "CKV_AWS_173"}
    assert _skip_ids(stack, "Plain")["CKV_AWS_116"] == ASYNC_DEAD_LETTER_REASON
    assert set(_skip_ids(stack, "Placed")) == {"CKV_AWS_116", "CKV_AWS_173"}
    assert _skip_ids(stack, "Placed")["CKV_AWS_116"] == SYNC_DEAD_LETTER_REASON


def test_only_an_sse_sqs_queue_skips_the_kms_check() -> None:
    stack = _probe()
    sqs.Queue(stack, "Managed", encryption=sqs.QueueEncryption.SQS_MANAGED)
    sqs.Queue(stack, "Plain", encryption=sqs.QueueEncryption.UNENCRYPTED)
    assert set(_skip_ids(stack, "Managed")) == {"CKV_AWS_27"}
    template = Template.from_stack(stack).to_json()
    assert not [k for k in skips(template) if k.startswith("Plain")]


def test_skips_on_one_resource_add_up_and_need_a_reason() -> None:
    queue = sqs.CfnQueue(cdk.Stack(cdk.App(), "Probe"), "Queue")
    skip_checkov(queue, "CKV_AWS_27", "a first reason, long enough to say why this check does not apply")
    skip_checkov(queue, "CKV_AWS_1", "a second check on the same resource keeps the first one and its reason")
    assert [s["id"] for s in queue.get_metadata(CHECKOV_METADATA)["skip"]] == ["CKV_AWS_1", "CKV_AWS_27"]
    with pytest.raises(ValueError, match="needs a specific reason"):
        skip_checkov(queue, "CKV_AWS_27", "because")
