"""What the maintenance workflows deploy: EC2 rights on exactly the scalable instances, the host-not-back alarm
per target, and the maintenance tasks' catalog entries."""

from __future__ import annotations

import json

import pytest

from freshtrack_ops.handlers.maintenance import HOST_NOT_BACK_METRIC

from .conftest import Synth, actions_of, flatten, resources_of, role_statements

pytestmark = pytest.mark.infra

EC2_CHANGES = {"ec2:StopInstances", "ec2:StartInstances", "ec2:ModifyInstanceAttribute"}


def test_only_the_scale_task_may_stop_start_or_resize_and_only_the_scalable_instance(synth: Synth) -> None:
    from freshtrack_ops.tasks import TASKS

    for task in TASKS:
        found = [s for s in role_statements(synth, task) if EC2_CHANGES & set(actions_of(s))]
        if task != "ScaleInstance":
            assert found == [], task
            continue
        (statement,) = found
        assert set(actions_of(statement)) == EC2_CHANGES
        # staging (i-0123456789abcdef0) has allowed_instance_types; prod (SSH, no instance) is not scalable
        assert [flatten(r) for r in resources_of(statement)] == [
            "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:instance/i-0123456789abcdef0"
        ]


def test_describe_instances_is_for_the_scale_validator_and_task_only(synth: Synth) -> None:
    from freshtrack_ops.tasks import TASKS

    describing = {t for t in TASKS if any("ec2:DescribeInstances" in actions_of(s) for s in role_statements(synth, t))}
    # the DR tasks describe their replacement servers (stacks/dr_grants.py)
    assert {"MaintenanceValidate", "ScaleInstance"} <= describing
    assert not describing & {"MaintenanceRecord", "MaintenanceDbPool", "MaintenanceRotateSecrets", "BackupDump"}


def test_every_target_has_a_host_not_back_alarm(synth: Synth) -> None:
    alarms = {
        a["Properties"]["AlarmDescription"].split(":")[0]
        + ":"
        + next(d["Value"] for d in a["Properties"]["Dimensions"] if d["Name"] == "host"): a["Properties"]
        for path in synth.outdir.glob("*ControlPlaneMonitoring*.nested.template.json")
        for a in json.loads(path.read_text()).get("Resources", {}).values()
        if a["Type"] == "AWS::CloudWatch::Alarm" and a["Properties"].get("MetricName") == HOST_NOT_BACK_METRIC
    }
    assert set(alarms) == {f"MaintenanceHostNotBack:{t.id}" for t in synth.config.targets}
    for alarm in alarms.values():
        assert alarm["Namespace"] == "FreshTrackOps" and alarm["Statistic"] == "Sum" and alarm["Threshold"] == 1
        assert {d["Name"] for d in alarm["Dimensions"]} == {"host", "service"}
        assert alarm["TreatMissingData"] == "notBreaching" and alarm["AlarmActions"] and alarm["OKActions"]
