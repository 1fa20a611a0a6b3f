"""CloudWatch dashboards: one per target (the daily check's figures, backups, outcomes) and one overview.

Every figure of ``freshtrack_ops.daily.models.FIGURES`` is an EMF metric the daily check emits once a day in the
functions' namespace with the dimensions ``host`` and ``service`` (Powertools adds ``service``), so the figure
widgets read it with statistic Maximum over a period of one day, and the dashboards open on the last 30 days with
each graph keeping its own period.

CloudWatch limits that shape them (tests/infra/test_infra_dashboards.py checks each):

- "A DashboardBody ... can include an array of between 0 and 500 widget objects" (CloudWatch API reference,
  "Dashboard Body Structure and Syntax").
- Metrics: the CloudWatch service quotas page ("Dashboards") has said "Up to 100 metrics per dashboard widget. Up
  to 500 metrics per dashboard, across all widgets" and, in its current version, 500 and 2,500; both count "all
  metrics retrieved for use in metric math functions". We count against the older, stricter pair.
- The PutDashboard API model gives ``DashboardBody`` no maximum length; what bounds it in practice is the
  CloudFormation template that carries it ("1 MB" in S3; test_infra_webhook.py checks every template). A body is
  still kept under 1 MB on its own (``DASHBOARD_BODY_LIMIT_BYTES``).
- A dashboard name: at most 255 characters of A-Z, a-z, 0-9, "-" and "_" (PutDashboard). Dashboards are global
  to the account, not regional: one deployment name deployed in two regions would claim the same names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeVar

from aws_cdk import Aws, Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from freshtrack_ops.config import Target
from freshtrack_ops.daily.models import FIGURES
from freshtrack_ops.daily.settings import Band
from freshtrack_ops.explain import METRIC_OF
from freshtrack_ops.retention.rpo import METRIC_NAME as RPO_METRIC
from stacks.function_factory import POWERTOOLS_ENV
from stacks.storage_stack import REPORT_PREFIX

NAMESPACE = POWERTOOLS_ENV["POWERTOOLS_METRICS_NAMESPACE"]
SERVICE = POWERTOOLS_ENV["POWERTOOLS_SERVICE_NAME"]
DAY = Duration.days(1)
HOUR = Duration.hours(1)
#: how far back the dashboards open (the report's charts show ``history_days``, 30 by default)
DASHBOARD_START = "-P30D"

MAX_WIDGETS_PER_DASHBOARD = 500
MAX_METRICS_PER_WIDGET = 100
MAX_METRICS_PER_DASHBOARD = 500
DASHBOARD_BODY_LIMIT_BYTES = 1_000_000
DASHBOARD_NAME_LIMIT = 255
#: our own bound (the body structure page gives the alarm status widget none): more makes an unreadable grid
MAX_ALARMS_PER_WIDGET = 50

#: the figures by widget, in dashboard order; every FIGURES entry sits in exactly one (checked at import)
FIGURE_WIDGETS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Findings (critical, warning)", ("FindingsCritical", "FindingsWarning")),
    ("Disk used (%)", ("DiskUsedPercent", "RootDiskUsedPercent")),
    ("Memory, highest container (% of limit)", ("MemoryPercentMax",)),
    ("CPU, highest container (%)", ("CpuPercentMax",)),
    ("Certificate: days left", ("CertificateDaysLeft",)),
    ("Docker: reclaimable by prune (bytes)", ("DockerReclaimableBytes",)),
    ("Backup age (hours)", ("BackupAgeHours",)),
    ("Backup size (bytes)", ("BackupSizeBytes",)),
    ("Security: banned IPs, pending security updates", ("BannedIps", "SecurityUpdates")),
    ("Application log lines (per check)", ("BackendErrors", "SlowRequests", "AuthFailures", "DatabaseErrors")),
    ("Caddy responses (per check)", ("Caddy4xx", "Caddy5xx")),
)
#: the figures the top row shows as numbers (the latest report at a glance)
LATEST_FIGURES = ("FindingsCritical", "FindingsWarning", "DiskUsedPercent", "CertificateDaysLeft", "BackupAgeHours")

#: outcome counts the handlers emit with a ``host`` dimension (Sum per day): handlers/backup.py (BackupSucceeded),
#: handlers/restore.py record (TestRestore*), handlers/update.py record (Updates*, Rollbacks*), handlers/dr.py
#: record (Dr*)
HOST_OUTCOMES: tuple[str, ...] = (
    "BackupSucceeded",
    "TestRestorePassed",
    "TestRestoreFailed",
    "UpdatesSucceeded",
    "UpdatesRolledBack",
    "RollbacksSucceeded",
    "DrDrillsSucceeded",
    "DrDrillsFailed",
    "DrRecoveriesSucceeded",
    "DrRecoveriesFailed",
)
#: how a workflow ended, per workflow: ExplainError (handlers/outcome.py) emits these with the dimension ``workflow``
WORKFLOW_OUTCOMES: tuple[str, ...] = tuple(METRIC_OF.values())
#: AWS/States execution metrics (dimension StateMachineArn): one widget per status, one line per workflow
EXECUTION_STATUSES: tuple[str, ...] = ("Succeeded", "Failed", "TimedOut", "Aborted")


def _check_figure_widgets() -> None:
    placed = [name for _, names in FIGURE_WIDGETS for name in names]
    if sorted(placed) != sorted(FIGURES) or not set(LATEST_FIGURES) <= set(FIGURES):
        raise ValueError(f"FIGURE_WIDGETS must place every figure once: {sorted(placed)} != {sorted(FIGURES)}")


_check_figure_widgets()


def target_dashboard_name(deployment: str, target_id: str) -> str:
    """``<deployment>-<target id>`` (deployment names and target ids hold only letters, digits and '-')."""
    return f"{deployment}-{target_id}"


def overview_dashboard_name(deployment: str) -> str:
    """``<deployment>_overview``: no target id holds '_', so no target's dashboard can take this name."""
    return f"{deployment}_overview"


def report_prefix(target_id: str) -> str:
    """Where a target's daily reports are kept in the backup bucket."""
    return f"{REPORT_PREFIX}{target_id}/daily/"


def figure_metric(
    target_id: str, name: str, *, statistic: str = cloudwatch.Stats.MAXIMUM, period: Duration = DAY
) -> cloudwatch.Metric:
    """A per-host metric of the functions (a daily-check figure by default: Maximum per day)."""
    return cloudwatch.Metric(
        namespace=NAMESPACE,
        metric_name=name,
        dimensions_map={"host": target_id, "service": SERVICE},
        statistic=statistic,
        period=period,
        # no label: the console labels a metric by its name, and an alarm on a labelled metric becomes a
        # metric-math alarm (``Metrics``) instead of a plain one
    )


def band_annotations(what: str, band: Band, unit: str) -> list[cloudwatch.HorizontalAnnotation]:
    """A threshold's warning and critical levels as horizontal lines (at or above: that level)."""
    return [
        cloudwatch.HorizontalAnnotation(
            value=band.warning, label=f"{what} warning {band.warning:g}{unit}", color=cloudwatch.Color.ORANGE
        ),
        cloudwatch.HorizontalAnnotation(
            value=band.critical, label=f"{what} critical {band.critical:g}{unit}", color=cloudwatch.Color.RED
        ),
    ]


def threshold_annotations(target: Target) -> dict[str, list[cloudwatch.HorizontalAnnotation]]:
    """Per figure widget title: the levels of the target's ``daily_check`` its figures are judged against."""
    settings = target.daily_check
    return {
        "Disk used (%)": band_annotations("disk", settings.disk_percent, " %"),
        "Memory, highest container (% of limit)": band_annotations("memory", settings.memory_percent, " %"),
        "CPU, highest container (%)": band_annotations("cpu", settings.cpu_percent, " %"),
        "Backup age (hours)": band_annotations("backup age", settings.backup_age_hours, " h"),
        # fewer days left is worse: below the warning line a warning, below the critical line critical
        "Certificate: days left": [
            cloudwatch.HorizontalAnnotation(
                value=settings.certificate_warning_days,
                label=f"certificate warning < {settings.certificate_warning_days} days",
                color=cloudwatch.Color.ORANGE,
            ),
            cloudwatch.HorizontalAnnotation(
                value=settings.certificate_critical_days,
                label=f"certificate critical < {settings.certificate_critical_days} days",
                color=cloudwatch.Color.RED,
            ),
        ],
    }


class WidgetRows:
    """A dashboard's rows of widgets, counted against CloudWatch's limits as they are added."""

    def __init__(self, name: str) -> None:
        if len(name) > DASHBOARD_NAME_LIMIT:
            raise ValueError(f"dashboard name: at most {DASHBOARD_NAME_LIMIT} characters (got {name!r})")
        self.name = name
        self.rows: list[list[cloudwatch.IWidget]] = []
        self.widgets = 0
        self.metrics = 0

    def add(self, *widgets: tuple[cloudwatch.IWidget, int]) -> None:
        """One row: each widget with the number of metrics it retrieves (math inputs included)."""
        for _, count in widgets:
            if count > MAX_METRICS_PER_WIDGET:
                raise ValueError(f"{self.name}: a widget with {count} metrics (at most {MAX_METRICS_PER_WIDGET})")
        self.widgets += len(widgets)
        self.metrics += sum(count for _, count in widgets)
        if self.widgets > MAX_WIDGETS_PER_DASHBOARD or self.metrics > MAX_METRICS_PER_DASHBOARD:
            raise ValueError(
                f"{self.name}: {self.widgets} widgets and {self.metrics} metrics (at most "
                f"{MAX_WIDGETS_PER_DASHBOARD} and {MAX_METRICS_PER_DASHBOARD}); split the deployment"
            )
        self.rows.append([widget for widget, _ in widgets])

    def dashboard(self, scope: Construct, construct_id: str) -> cloudwatch.Dashboard:
        return cloudwatch.Dashboard(
            scope,
            construct_id,
            dashboard_name=self.name,
            start=DASHBOARD_START,
            # each graph keeps its own period: a day for the figures, an hour for the RPO guard's metric
            period_override=cloudwatch.PeriodOverride.INHERIT,
            widgets=self.rows,
        )


def graph(
    title: str,
    metrics: Sequence[cloudwatch.IMetric],
    *,
    width: int = 8,
    annotations: Sequence[cloudwatch.HorizontalAnnotation] = (),
) -> tuple[cloudwatch.IWidget, int]:
    widget = cloudwatch.GraphWidget(
        title=title, left=list(metrics), left_annotations=list(annotations), width=width, height=6
    )
    return widget, len(metrics)


def execution_widgets(
    state_machines: Mapping[str, sfn.IStateMachine], *, title_suffix: str
) -> list[tuple[cloudwatch.IWidget, int]]:
    """Per AWS/States status: executions per day, one line per workflow."""
    return [
        graph(
            f"Executions {status.lower()}{title_suffix}",
            [
                machine.metric(f"Executions{status}", statistic=cloudwatch.Stats.SUM, period=DAY, label=name)
                for name, machine in state_machines.items()
            ],
            width=6,
        )
        for status in EXECUTION_STATUSES
    ]


def s3_console_url(bucket_name: str, prefix: str) -> str:
    return f"https://s3.console.aws.amazon.com/s3/buckets/{bucket_name}?region={Aws.REGION}&prefix={prefix}"


def dashboard_console_url(name: str) -> str:
    return f"https://console.aws.amazon.com/cloudwatch/home?region={Aws.REGION}#dashboards/dashboard/{name}"


class TargetDashboard(Construct):
    """``<deployment>-<target>``: what the daily check saw, backups, and how the workflows ended."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        deployment: str,
        target: Target,
        bucket_name: str,
        state_machines: Mapping[str, sfn.IStateMachine],
        alarms: Sequence[cloudwatch.IAlarm],
    ) -> None:
        super().__init__(scope, construct_id)
        self.name = target_dashboard_name(deployment, target.id)
        rows = WidgetRows(self.name)
        settings = target.daily_check
        schedule = f"{settings.schedule} (UTC)" if settings.enabled else "disabled"
        header = (
            f"# {target.id} ({target.domain}): daily check\n"
            f"Reports (JSON and HTML, one per day): [s3://{bucket_name}/{report_prefix(target.id)}]"
            f"({s3_console_url(bucket_name, report_prefix(target.id))}) · "
            f"[all targets]({dashboard_console_url(overview_dashboard_name(deployment))}) · "
            'what each widget shows and what to do: docs/daily-operations.md ("Dashboard and alarms").\n\n'
            f"Daily check: {schedule}; figures are the maximum per day. Created by CDK: edits in the console are "
            "overwritten."
        )
        top: list[tuple[cloudwatch.IWidget, int]] = [(cloudwatch.TextWidget(markdown=header, width=16, height=4), 0)]
        if alarms:
            top.append((cloudwatch.AlarmStatusWidget(alarms=list(alarms), title="Alarms", width=8, height=4), 0))
        rows.add(*top)
        latest = [figure_metric(target.id, name) for name in LATEST_FIGURES]
        rows.add(
            (cloudwatch.SingleValueWidget(metrics=latest, title="Latest daily check", width=24, height=3), len(latest))
        )
        annotations = threshold_annotations(target)
        figure_widgets = []
        for title, names in FIGURE_WIDGETS:
            metrics: list[cloudwatch.IMetric] = [figure_metric(target.id, name) for name in names]
            if names == ("BackupAgeHours",):
                # the RPO guard's hourly view of the same age (the RPO alarm watches it)
                metrics.append(figure_metric(target.id, RPO_METRIC, period=HOUR))
            figure_widgets.append(graph(title, metrics, annotations=annotations.get(title, ())))
        for start in range(0, len(figure_widgets), 3):
            rows.add(*figure_widgets[start : start + 3])
        outcomes = [figure_metric(target.id, name, statistic=cloudwatch.Stats.SUM) for name in HOST_OUTCOMES]
        rows.add(graph(f"Workflow outcomes on {target.id} (per day)", outcomes, width=24))
        if state_machines:
            rows.add(*execution_widgets(state_machines, title_suffix=" (all targets)"))
        self.rows = rows
        self.dashboard = rows.dashboard(self, "Dashboard")


def verdict_expression(index: int, target_id: str) -> cloudwatch.MathExpression:
    """0 ok, 1 warning, 2 critical: the report's verdict from its finding counts (no data: no report)."""
    return cloudwatch.MathExpression(
        expression=f"IF(c{index} > 0, 2, IF(w{index} > 0, 1, 0))",
        using_metrics={
            f"c{index}": figure_metric(target_id, "FindingsCritical"),
            f"w{index}": figure_metric(target_id, "FindingsWarning"),
        },
        label=target_id,
        period=DAY,
    )


T = TypeVar("T")


def chunks(items: Sequence[T], size: int) -> list[Sequence[T]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


class OverviewDashboard(Construct):
    """``<deployment>_overview``: the verdict of every target, their alarms, and how each workflow ended."""

    #: a verdict retrieves two metrics and computes one expression
    VERDICT_METRICS = 3

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        deployment: str,
        targets: Sequence[Target],
        state_machines: Mapping[str, sfn.IStateMachine],
        alarms: Sequence[cloudwatch.IAlarm],
    ) -> None:
        super().__init__(scope, construct_id)
        self.name = overview_dashboard_name(deployment)
        rows = WidgetRows(self.name)
        links = " · ".join(
            f"[{t.id}]({dashboard_console_url(target_dashboard_name(deployment, t.id))})" for t in targets
        )
        header = (
            f"# {deployment}: daily checks\nVerdict of the latest report per target: 0 ok, 1 warning, 2 critical "
            f"(no value: no report in the period). Targets: {links}. docs/daily-operations.md "
            '("Dashboard and alarms"). Created by CDK: edits in the console are overwritten.'
        )
        rows.add((cloudwatch.TextWidget(markdown=header, width=24, height=3), 0))
        per_widget = MAX_METRICS_PER_WIDGET // self.VERDICT_METRICS
        indexed = list(enumerate(targets))
        for part in chunks(indexed, per_widget):
            verdicts = [verdict_expression(i, t.id) for i, t in part]
            widget = cloudwatch.SingleValueWidget(metrics=verdicts, title="Verdict", width=24, height=3)
            rows.add((widget, len(verdicts) * self.VERDICT_METRICS))
        for name in ("FindingsCritical", "FindingsWarning"):
            for part_targets in chunks(list(targets), MAX_METRICS_PER_WIDGET):
                metrics = [figure_metric(t.id, name).with_(label=t.id) for t in part_targets]
                rows.add(graph(f"{name} per target", metrics, width=24))
        for part_alarms in chunks(list(alarms), MAX_ALARMS_PER_WIDGET):
            rows.add((cloudwatch.AlarmStatusWidget(alarms=list(part_alarms), title="Alarms", width=24, height=4), 0))
        if state_machines:
            rows.add(*execution_widgets(state_machines, title_suffix=""))
            ended = [
                cloudwatch.Metric(
                    namespace=NAMESPACE,
                    metric_name=metric,
                    dimensions_map={"workflow": name, "service": SERVICE},
                    statistic=cloudwatch.Stats.SUM,
                    period=DAY,
                    label=f"{name} {metric}",
                )
                for metric in WORKFLOW_OUTCOMES
                for name in state_machines
            ]
            for part_metrics in chunks(ended, MAX_METRICS_PER_WIDGET):
                rows.add(graph("How workflows ended (ExplainError, per day)", part_metrics, width=24))
        self.rows = rows
        self.dashboard = rows.dashboard(self, "Dashboard")


class Dashboards(Construct):
    """A dashboard per target and the overview (docs/daily-operations.md, "Dashboard and alarms")."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        deployment: str,
        targets: Sequence[Target],
        bucket_name: str,
        state_machines: Mapping[str, sfn.IStateMachine],
        alarms_by_target: Mapping[str, Sequence[cloudwatch.IAlarm]],
    ) -> None:
        super().__init__(scope, construct_id)
        self.by_target: dict[str, TargetDashboard] = {
            target.id: TargetDashboard(
                self,
                target.id,
                deployment=deployment,
                target=target,
                bucket_name=bucket_name,
                state_machines=state_machines,
                alarms=alarms_by_target.get(target.id, ()),
            )
            for target in targets
        }
        self.overview = OverviewDashboard(
            self,
            "Overview",
            deployment=deployment,
            targets=targets,
            state_machines=state_machines,
            alarms=[alarm for target in targets for alarm in alarms_by_target.get(target.id, ())],
        )
