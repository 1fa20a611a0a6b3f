"""Optional VPC placement of the task functions (``vpc`` in the deployment config)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from freshtrack_ops.config import DeploymentConfig, load_deployment_config
from freshtrack_ops.errors import ConfigError
from freshtrack_ops.tasks import TASKS

from .conftest import (
    EXAMPLE_CONFIG,
    Synth,
    actions_of,
    assert_lint_clean,
    flatten,
    resources_of,
    role_policies,
    role_statements,
    statements,
    task_functions,
)
from .known_actions import templates_in, unknown_actions

pytestmark = pytest.mark.infra

SUBNETS = ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]
SECURITY_GROUPS = ["sg-0123456789abcdef0"]
ENI_ACTIONS = {
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
}
#: the DR replacement's own EC2 statements (tests/infra/test_infra_dr.py), next to the network-interface ones
DR_REPLACEMENT_SIDS = {
    "LaunchFromConfiguredTemplates",
    "LaunchWithTemplateResources",
    "LaunchTaggedReplacements",
    "TagReplacementsAtLaunch",
    "ReadReplacementConsoles",
    "TerminateDrillReplacements",
    "FollowReplacements",
    # the scale workflow (stacks/function_factory.py scale_statements)
    "DescribeInstances",
    "ScaleInstances",
}


def _with_vpc(config: DeploymentConfig, vpc: dict[str, Any]) -> DeploymentConfig:
    return DeploymentConfig.model_validate({**config.model_dump(), "vpc": vpc})


def test_without_vpc_config_no_function_is_placed_in_a_vpc(synth: Synth) -> None:
    assert synth.config.vpc is None
    for function in synth.resources("control", "AWS::Lambda::Function").values():
        assert "VpcConfig" not in function["Properties"]
    # no network-interface permission either; EC2 only where the DR replacement launches servers
    for task, spec in TASKS.items():
        ec2 = [s for s in role_statements(synth, task) if any(a.startswith("ec2:") for a in actions_of(s))]
        assert not ec2 or spec.grants & {"ec2-replacement", "drill-cleanup", "ec2-describe", "ec2-scale"}, task
        assert not any("NetworkInterface" in a for s in ec2 for a in actions_of(s)), task


def vpc_variant(config: DeploymentConfig) -> DeploymentConfig:
    """The example placed in a VPC (two subnets, one security group): this module's, the cdk-nag
    acknowledgements' and the template sizes' VPC variant, one synth for the three (``synth_of``)."""
    return _with_vpc(config, {"subnet_ids": SUBNETS, "security_group_ids": SECURITY_GROUPS})


@pytest.fixture(scope="module")
def vpc_synth(example_config: DeploymentConfig, synth_of: Callable[[DeploymentConfig], Synth]) -> Synth:
    return synth_of(vpc_variant(example_config))  # cdk-nag clean, or it raises


def test_vpc_templates_are_lint_clean(vpc_synth: Synth) -> None:
    assert_lint_clean(sorted(vpc_synth.outdir.glob("*.template.json")))


def test_every_function_gets_the_configured_subnets_and_security_groups(vpc_synth: Synth) -> None:
    functions = vpc_synth.resources("control", "AWS::Lambda::Function").values()
    assert len(functions) == len(TASKS)
    for function in functions:
        assert function["Properties"]["VpcConfig"] == {"SubnetIds": SUBNETS, "SecurityGroupIds": SECURITY_GROUPS}


@pytest.mark.parametrize("task", sorted(TASKS))
def test_every_role_may_manage_the_function_network_interfaces_inline(vpc_synth: Synth, task: str) -> None:
    """The ENI permissions of AWSLambdaVPCAccessExecutionRole as inline statements (no managed policy), in the
    role's default policy, which the function waits for (CreateFunction checks them)."""
    eni = [
        s
        for s in role_statements(vpc_synth, task)
        if any(a.startswith("ec2:") for a in actions_of(s)) and s.get("Sid") not in DR_REPLACEMENT_SIDS
    ]
    assert {a for s in eni for a in actions_of(s)} == ENI_ACTIONS
    by_sid = {s["Sid"]: s for s in eni}
    region = "arn:${AWS::Partition}:ec2:${AWS::Region}"
    assert {flatten(r) for r in resources_of(by_sid["CreateNetworkInterfaces"])} == {
        f"{region}:${{AWS::AccountId}}:network-interface/*",
        *(f"{region}:*:subnet/{subnet}" for subnet in SUBNETS),
        *(f"{region}:*:security-group/{group}" for group in SECURITY_GROUPS),
    }
    # the AWS Lambda guide: DeleteNetworkInterface on a unique id or on all ids of the account ("...:*/*")
    assert [flatten(r) for r in resources_of(by_sid["ManageNetworkInterfaces"])] == [
        f"{region}:${{AWS::AccountId}}:*/*"
    ]
    assert resources_of(by_sid["DescribeNetworkInterfaces"]) == ["*"]
    function_id, props = task_functions(vpc_synth)[task]
    role_id = props["Role"]["Fn::GetAtt"][0]
    resources = vpc_synth.control["Resources"]
    assert "ManagedPolicyArns" not in resources[role_id]["Properties"]
    (default_policy,) = [
        k
        for k, p in role_policies(vpc_synth, task).items()
        if any(s.get("Sid") == "CreateNetworkInterfaces" for s in statements(p))
    ]
    assert default_policy in resources[function_id]["DependsOn"]


def _config_error(tmp_path: Path, vpc: object) -> str:
    data = yaml.safe_load(EXAMPLE_CONFIG.read_text())
    data["vpc"] = vpc
    path = tmp_path / "deployment.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as raised:
        load_deployment_config(path)
    return str(raised.value)


@pytest.mark.parametrize(
    ("vpc", "expected"),
    [
        (
            {"subnet_ids": ["subnet-xyz"], "security_group_ids": SECURITY_GROUPS},
            "vpc.subnet_ids.0: String should match pattern '^subnet-[0-9a-f]{8,17}$' (got 'subnet-xyz')",
        ),
        (
            {"subnet_ids": SUBNETS, "security_group_ids": ["sg-1"]},
            "vpc.security_group_ids.0: String should match pattern '^sg-[0-9a-f]{8,17}$' (got 'sg-1')",
        ),
        (
            {"subnet_ids": [], "security_group_ids": SECURITY_GROUPS},
            "vpc.subnet_ids: Tuple should have at least 1 item after validation, not 0 (got [])",
        ),
        ({"subnet_ids": SUBNETS}, "vpc.security_group_ids: Field required"),
        (
            {"subnet_ids": [SUBNETS[0], SUBNETS[0]], "security_group_ids": SECURITY_GROUPS},
            f"vpc.subnet_ids: Value error, listed more than once: {SUBNETS[0]} (got ",
        ),
        (
            {"subnet_ids": SUBNETS, "security_group_ids": [f"sg-0000000{n}" for n in range(6)]},
            "vpc.security_group_ids: Tuple should have at most 5 items after validation, not 6",
        ),
        ({"subnet_ids": SUBNETS, "security_group_ids": SECURITY_GROUPS, "vpc_id": "x"}, "vpc.vpc_id: Extra inputs"),
    ],
    ids=["bad-subnet", "bad-group", "no-subnet", "no-group", "duplicate-subnet", "six-groups", "unknown-field"],
)
def test_bad_vpc_config_names_field_and_value(tmp_path: Path, vpc: dict[str, Any], expected: str) -> None:
    assert expected in _config_error(tmp_path, vpc)


def test_vpc_templates_name_only_known_iam_actions(vpc_synth: Synth) -> None:
    """The network-interface statements name only actions that exist."""
    assert unknown_actions(templates_in(vpc_synth.outdir)) == []
