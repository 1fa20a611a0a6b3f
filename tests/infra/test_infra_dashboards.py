"""Dashboards per target, the overview, the daily-check alarms and schedule (stacks/dashboards.py,
stacks/daily_check_alarms.py, stacks/monitoring_stack.py).

Tests marked PRECONDITION need the daily-check workflow in the catalog (``WORKFLOWS["daily-check"]``); they fail
until it is there.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk.assertions import Template

from freshtrack_ops.config import DeploymentConfig, Target
from freshtrack_ops.daily.models import FIGURES, DailyCheckRequest
from freshtrack_ops.daily.settings import Band
from freshtrack_ops.tasks import WORKFLOWS
from stacks.daily_check_alarms import (
    MAX_EVALUATION_SECONDS,
    MISSING_AFTER_HOURS,
    DailyCheckAlarms,
    evaluation_seconds,
    runs_every_day,
)
from stacks.dashboards import (
    DASHBOARD_BODY_LIMIT_BYTES,
    EXECUTION_STATUSES,
    HOST_OUTCOMES,
    MAX_METRICS_PER_DASHBOARD,
    MAX_METRICS_PER_WIDGET,
    MAX_WIDGETS_PER_DASHBOARD,
    TargetDashboard,
    WidgetRows,
    overview_dashboard_name,
    target_dashboard_name,
)
from stacks.scheduled_runs import DAILY_CHECK_WORKFLOW, SCHEDULED_RUNS

from .conftest import Synth, flatten, synthesize

pytestmark = pytest.mark.infra

DAY, HOUR = 86_400, 3_600
#: CloudFormation: a template in S3 at most 1 MB (decimal, the stricter reading), at most 500 resources
TEMPLATE_LIMIT_BYTES = 1_000_000
RESOURCE_LIMIT = 500
SCALE_TARGETS = 20


def _nested(outdir: Path, deployment: str) -> dict[str, Any]:
    (path,) = outdir.glob(f"{deployment}ControlPlaneMonitoring*.nested.template.json")
    template: dict[str, Any] = json.loads(path.read_text())
    return template


def _bodies(template: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    """Dashboard name -> (body as deployed, with references as ``${...}``; parsed body)."""
    found = {}
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::CloudWatch::Dashboard":
            text = flatten(resource["Properties"]["DashboardBody"])
            found[resource["Properties"]["DashboardName"]] = (text, json.loads(text))
    return found


def _metric_rows(body: dict[str, Any]) -> list[list[Any]]:
    return [row for w in body["widgets"] if w["type"] == "metric" for row in w["properties"]["metrics"]]


def _by_name(rows: list[list[Any]]) -> dict[str, list[list[Any]]]:
    found: dict[str, list[list[Any]]] = {}
    for row in rows:
        if isinstance(row[0], str):
            found.setdefault(row[1], []).append(row)
    return found


def _dims(row: list[Any]) -> dict[str, str]:
    plain = [part for part in row[2:] if not isinstance(part, dict)]
    return dict(zip(plain[::2], plain[1::2], strict=True))


@pytest.fixture(scope="module")
def monitoring(synth: Synth) -> dict[str, Any]:
    return _nested(synth.outdir, synth.config.name)


def test_one_dashboard_per_target_and_the_overview(synth: Synth, monitoring: dict[str, Any]) -> None:
    names = set(_bodies(monitoring))
    deployment = synth.config.name
    expected = {target_dashboard_name(deployment, t.id) for t in synth.config.targets}
    assert names == expected | {overview_dashboard_name(deployment)}
    assert target_dashboard_name(deployment, "prod") == f"{deployment}-prod"
    # the control plane's own template only holds the nested stack
    assert not synth.resources("control", "AWS::CloudWatch::Dashboard")
    assert len(synth.resources("control", "AWS::CloudFormation::Stack")) == 1


@pytest.mark.parametrize("target_id", ["prod", "staging"])
def test_every_figure_per_day_with_the_targets_dimensions(
    synth: Synth, monitoring: dict[str, Any], target_id: str
) -> None:
    _, body = _bodies(monitoring)[target_dashboard_name(synth.config.name, target_id)]
    assert body["start"] == "-P30D" and body["periodOverride"] == "inherit"
    by_name = _by_name(_metric_rows(body))
    for figure in FIGURES:
        assert figure in by_name, figure
        for row in by_name[figure]:
            assert row[0] == "FreshTrackOps"
            assert _dims(row) == {"host": target_id, "service": "freshtrack-ops"}
            assert row[-1]["stat"] == "Maximum" and row[-1]["period"] == DAY
    (rpo,) = by_name["NewestVerifiedBackupAgeHours"]
    assert _dims(rpo) == {"host": target_id, "service": "freshtrack-ops"} and rpo[-1]["period"] == HOUR
    for outcome in HOST_OUTCOMES:
        (row,) = by_name[outcome]
        assert _dims(row) == {"host": target_id, "service": "freshtrack-ops"} and row[-1]["stat"] == "Sum"


def test_workflow_executions_of_every_state_machine(synth: Synth, monitoring: dict[str, Any]) -> None:
    """AWS/States per status, one line per workflow, by the ARN the control plane passes (a nested parameter)."""
    parameters = monitoring["Parameters"]
    _, body = _bodies(monitoring)[target_dashboard_name(synth.config.name, "prod")]
    by_name = _by_name(_metric_rows(body))
    for status in EXECUTION_STATUSES:
        rows = by_name[f"Executions{status}"]
        assert {row[-1]["label"] for row in rows} == set(WORKFLOWS)
        assert all(row[0] == "AWS/States" and row[2] == "StateMachineArn" for row in rows)
        assert all(row[3].startswith("${") and row[3][2:-1] in parameters for row in rows)
        assert len({row[3] for row in rows}) == len(WORKFLOWS)


def test_header_links_the_reports_the_overview_and_the_docs(synth: Synth, monitoring: dict[str, Any]) -> None:
    _, body = _bodies(monitoring)[target_dashboard_name(synth.config.name, "prod")]
    text = body["widgets"][0]
    assert text["type"] == "text" and (text["x"], text["y"]) == (0, 0)
    markdown = text["properties"]["markdown"]
    bucket = f"${{Import:{synth.config.name}-BackupBucketName}}"
    assert f"s3://{bucket}/reports/prod/daily/" in markdown
    assert f"s3.console.aws.amazon.com/s3/buckets/{bucket}?region=${{AWS::Region}}&prefix=reports/prod/daily/" in (
        markdown
    )
    assert "docs/daily-operations.md" in markdown
    assert f"#dashboards/dashboard/{overview_dashboard_name(synth.config.name)}" in markdown


def test_the_rpo_alarm_shows_on_its_targets_dashboard(synth: Synth, monitoring: dict[str, Any]) -> None:
    for target in synth.config.targets:
        _, body = _bodies(monitoring)[target_dashboard_name(synth.config.name, target.id)]
        (alarms,) = [w for w in body["widgets"] if w["type"] == "alarm"]
        # RPO and MaintenanceHostNotBack alarms (+ the two daily-check alarms once the workflow exists)
        assert len(alarms["properties"]["alarms"]) == 2 + 2 * (DAILY_CHECK_WORKFLOW in WORKFLOWS)


def test_overview_shows_a_verdict_per_target(synth: Synth, monitoring: dict[str, Any]) -> None:
    _, body = _bodies(monitoring)[overview_dashboard_name(synth.config.name)]
    (verdict,) = [w for w in body["widgets"] if w["properties"].get("title") == "Verdict"]
    expressions = [row[0] for row in verdict["properties"]["metrics"] if "expression" in row[0]]
    assert [e["label"] for e in expressions] == [t.id for t in synth.config.targets]
    assert all(e["expression"].startswith("IF(c") for e in expressions)
    inputs = [row for row in verdict["properties"]["metrics"] if isinstance(row[0], str)]
    assert {(row[1], _dims(row)["host"]) for row in inputs} == {
        (name, t.id) for t in synth.config.targets for name in ("FindingsCritical", "FindingsWarning")
    }


# -- thresholds, from the target's daily_check (one small stack, no app synth) ---------------------------------
def _annotations(target: Target) -> dict[str, list[tuple[float, str]]]:
    stack = cdk.Stack(cdk.App(), "Dash")
    machine = sfn.StateMachine.from_state_machine_arn(
        stack, "M", "arn:aws:states:eu-west-1:123456789012:stateMachine:backup"
    )
    TargetDashboard(
        stack, "D", deployment="Ops", target=target, bucket_name="bucket", state_machines={"backup": machine}, alarms=()
    )
    (resource,) = Template.from_stack(stack).find_resources("AWS::CloudWatch::Dashboard").values()
    body = json.loads(flatten(resource["Properties"]["DashboardBody"]))
    return {
        w["properties"]["title"]: [(a["value"], a["label"]) for a in w["properties"]["annotations"]["horizontal"]]
        for w in body["widgets"]
        if "annotations" in w.get("properties", {})
    }


def test_thresholds_are_annotated_from_the_targets_daily_check(example_config: DeploymentConfig) -> None:
    prod = example_config.targets[0]
    settings = prod.daily_check.model_copy(
        update={
            "disk_percent": Band(warning=61, critical=82),
            "memory_percent": Band(warning=71, critical=93),
            "cpu_percent": Band(warning=55, critical=88),
            "backup_age_hours": Band(warning=30, critical=48),
            "certificate_warning_days": 21,
            "certificate_critical_days": 5,
        }
    )
    found = _annotations(prod.model_copy(update={"daily_check": settings}))
    assert [v for v, _ in found["Disk used (%)"]] == [61, 82]
    assert [v for v, _ in found["Memory, highest container (% of limit)"]] == [71, 93]
    assert [v for v, _ in found["CPU, highest container (%)"]] == [55, 88]
    assert [v for v, _ in found["Backup age (hours)"]] == [30, 48]
    assert [v for v, _ in found["Certificate: days left"]] == [21, 5]
    assert "warning" in found["Disk used (%)"][0][1] and "critical" in found["Disk used (%)"][1][1]


def test_widget_rows_refuse_what_cloudwatch_would() -> None:
    rows = WidgetRows("Ops-prod")
    widget: Any = object()  # counted, never rendered
    with pytest.raises(ValueError, match="a widget with 101 metrics"):
        rows.add((widget, MAX_METRICS_PER_WIDGET + 1))
    for _ in range(MAX_METRICS_PER_DASHBOARD // MAX_METRICS_PER_WIDGET):
        rows.add((widget, MAX_METRICS_PER_WIDGET))
    with pytest.raises(ValueError, match="split the deployment"):
        rows.add((widget, 1))
    with pytest.raises(ValueError, match="dashboard name"):
        WidgetRows("x" * 256)


# -- alarms (one small stack) -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("expression", "daily"),
    [
        ("cron(0 7 * * ? *)", True),
        ("cron(30 6 ? * * *)", True),
        ("cron(0 */6 * * ? *)", True),
        ("cron(0 7 ? * MON-FRI *)", False),
        ("cron(0 7 1 * ? *)", False),
        ("cron(0 7 * 1-6 ? *)", False),
    ],
)
def test_runs_every_day(expression: str, daily: bool) -> None:
    assert runs_every_day(expression) is daily


def test_the_missing_alarms_range_is_one_putmetricalarm_accepts() -> None:
    assert evaluation_seconds(cdk.Duration.hours(1), MISSING_AFTER_HOURS) == 93_600 <= MAX_EVALUATION_SECONDS
    with pytest.raises(ValueError, match="over PutMetricAlarm"):
        evaluation_seconds(cdk.Duration.minutes(5), 289)  # over a day with a period under an hour
    with pytest.raises(ValueError, match="over PutMetricAlarm"):
        evaluation_seconds(cdk.Duration.hours(1), 24 * 7 + 1)


def _alarm_targets(example_config: DeploymentConfig) -> tuple[Target, ...]:
    prod, staging = example_config.targets
    weekdays = prod.model_copy(
        update={
            "id": "weekdays",
            "daily_check": prod.daily_check.model_copy(update={"schedule": "cron(0 7 ? * MON-FRI *)"}),
        }
    )
    off = staging.model_copy(
        update={"id": "off", "daily_check": staging.daily_check.model_copy(update={"enabled": False})}
    )
    return (prod, weekdays, off)


def test_daily_check_alarms_watch_critical_findings_and_missing_reports(example_config: DeploymentConfig) -> None:
    stack = cdk.Stack(cdk.App(), "Alarms")
    topic = sns.Topic(stack, "Topic")
    DailyCheckAlarms(stack, "DailyCheckAlarms", targets=_alarm_targets(example_config), topic=topic)
    template = Template.from_stack(stack)
    topic_ref = {"Ref": stack.resolve(stack.get_logical_id(topic.node.default_child))}  # type: ignore[arg-type]
    alarms = {k: a["Properties"] for k, a in template.find_resources("AWS::CloudWatch::Alarm").items()}
    by_host: dict[str, dict[str, dict[str, Any]]] = {}
    for logical_id, props in alarms.items():
        (host,) = [d["Value"] for d in props["Dimensions"] if d["Name"] == "host"]
        kind = "critical" if "DailyCheckCritical" in logical_id else "missing"
        by_host.setdefault(host, {})[kind] = props
    # no alarm for a disabled check; no missing alarm for a check that skips days
    assert {h: set(kinds) for h, kinds in by_host.items()} == {
        "prod": {"critical", "missing"},
        "weekdays": {"critical"},
    }
    for kinds in by_host.values():
        for props in kinds.values():
            assert props["Namespace"] == "FreshTrackOps" and props["MetricName"] == "FindingsCritical"
            assert {d["Name"]: d["Value"] for d in props["Dimensions"]}["service"] == "freshtrack-ops"
            assert props["AlarmActions"] == [topic_ref] and props["OKActions"] == [topic_ref]
    critical = by_host["prod"]["critical"]
    assert (critical["Statistic"], critical["Period"], critical["EvaluationPeriods"]) == ("Maximum", DAY, 1)
    assert (critical["ComparisonOperator"], critical["Threshold"]) == ("GreaterThanOrEqualToThreshold", 1)
    assert critical["TreatMissingData"] == "notBreaching"
    missing = by_host["prod"]["missing"]
    assert (missing["Statistic"], missing["Period"]) == ("SampleCount", HOUR)
    assert missing["EvaluationPeriods"] == missing["DatapointsToAlarm"] == MISSING_AFTER_HOURS == 26
    assert (missing["ComparisonOperator"], missing["Threshold"]) == ("LessThanThreshold", 1)
    assert missing["TreatMissingData"] == "breaching"
    assert missing["Period"] * missing["EvaluationPeriods"] <= MAX_EVALUATION_SECONDS


def test_no_daily_check_alarm_without_the_workflow(synth: Synth, monitoring: dict[str, Any]) -> None:
    """The alarms follow the workflow: without it DailyCheckMissing could only ever be in alarm."""
    metrics = {a["Properties"].get("MetricName") for a in monitoring["Resources"].values() if "Alarm" in a["Type"]}
    assert ("FindingsCritical" in metrics) is (DAILY_CHECK_WORKFLOW in WORKFLOWS)


def test_PRECONDITION_daily_check_alarms_notify_the_topic_in_the_deployment(
    synth: Synth, monitoring: dict[str, Any]
) -> None:
    assert DAILY_CHECK_WORKFLOW in WORKFLOWS, "PRECONDITION: the daily-check workflow is not in the catalog yet"
    alarms = [
        a["Properties"]
        for a in monitoring["Resources"].values()
        if a["Type"] == "AWS::CloudWatch::Alarm" and a["Properties"]["MetricName"] == "FindingsCritical"
    ]
    enabled = {t.id for t in synth.config.targets if t.daily_check.enabled}
    hosts = [next(d["Value"] for d in a["Dimensions"] if d["Name"] == "host") for a in alarms]
    assert sorted(hosts) == sorted([*enabled, *enabled])
    (topic_parameter,) = {json.dumps(a["AlarmActions"]) for a in alarms}
    assert all(json.dumps(a["OKActions"]) == topic_parameter for a in alarms)
    assert json.loads(topic_parameter)[0]["Ref"] in monitoring["Parameters"]


# -- the schedule ----------------------------------------------------------------------------------------------
def test_the_daily_check_schedule_follows_daily_check_settings(example_config: DeploymentConfig) -> None:
    (run,) = [r for r in SCHEDULED_RUNS if r.workflow == DAILY_CHECK_WORKFLOW]
    assert run.construct_id == "DailyCheckSchedules"
    prod, staging = example_config.targets
    assert run.expression(prod) == prod.daily_check.schedule == "cron(0 7 * * ? *)"
    off = staging.model_copy(update={"daily_check": staging.daily_check.model_copy(update={"enabled": False})})
    assert run.expression(off) is None
    payload = run.execution_input(prod)
    assert payload == {"host": "prod", "trigger": "schedule", "reason": "scheduled daily check"}
    DailyCheckRequest.model_validate(payload)


# -- 20 targets: CloudWatch's and CloudFormation's limits (the one extra synth) -------------------------------
def scaled_config(config: DeploymentConfig, count: int) -> DeploymentConfig:
    """The example plus SSM targets shaped like staging, ``count`` targets in all."""
    data = config.model_dump(mode="json")
    staging = next(t for t in data["targets"] if t["id"] == "staging")
    for n in range(count - len(data["targets"])):
        data["targets"].append({**staging, "id": f"host{n:02d}", "instance_id": f"i-0123456789abcd{n:03x}"})
    return DeploymentConfig.model_validate(data)


@pytest.fixture(scope="module")
def scaled(example_config: DeploymentConfig, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synth]:
    # synthesize raises on any unacknowledged cdk-nag finding: this is also the nag check at scale
    yield synthesize(scaled_config(example_config, SCALE_TARGETS), tmp_path_factory.mktemp("cdk.out.scaled"))


def test_twenty_targets_stay_within_cloudwatch_and_cloudformation_limits(scaled: Synth) -> None:
    templates = sorted(scaled.outdir.glob("*.template.json"))
    sizes = {path.name: path.stat().st_size for path in templates}
    print(sizes)
    assert all(size < TEMPLATE_LIMIT_BYTES for size in sizes.values()), sizes
    for path in templates:
        assert len(json.loads(path.read_text())["Resources"]) < RESOURCE_LIMIT, path.name
    nested = _nested(scaled.outdir, scaled.config.name)
    assert len(nested["Parameters"]) < 200  # CloudFormation: at most 200 parameters per template
    bodies = _bodies(nested)
    assert len(bodies) == SCALE_TARGETS + 1
    for name, (text, body) in bodies.items():
        assert len(text.encode()) < DASHBOARD_BODY_LIMIT_BYTES, name
        assert len(body["widgets"]) <= MAX_WIDGETS_PER_DASHBOARD, name
        per_widget = [len(w["properties"]["metrics"]) for w in body["widgets"] if w["type"] == "metric"]
        assert max(per_widget) <= MAX_METRICS_PER_WIDGET and sum(per_widget) <= MAX_METRICS_PER_DASHBOARD, name
    print({name: len(text) for name, (text, _) in bodies.items() if name.endswith(("-prod", "_overview"))})
