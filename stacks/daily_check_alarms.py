"""Per target with ``daily_check.enabled``: alarm on a critical report, and on reports that stop arriving.

Both watch ``FindingsCritical``, which every report emits (a count: 0 included), and notify the topic on ALARM and
on OK, as the RPO alarms do.

- ``DailyCheckCritical``: Maximum over one day >= 1. No data is not a breach here (the other alarm covers it).
- ``DailyCheckMissing``: no report for ``MISSING_AFTER_HOURS``. An alarm that treats missing data as breaching
  over a one-day period would flap whenever the check ran a little later than the day before; instead hourly
  periods (SampleCount < 1, missing = breaching), all ``MISSING_AFTER_HOURS`` of them breaching. The PutMetricAlarm
  API reference (``Period``): "An alarm's total current evaluation period can be no longer than seven days, so
  Period multiplied by EvaluationPeriods can't be more than 604,800 seconds. For alarms with a period of less than
  one hour (3,600 seconds), the total evaluation period can't be longer than one day (86,400 seconds)." With a
  period of one hour, 26 periods (93,600 s) are within the seven days. (Older versions of the CloudWatch quotas
  page gave one day for every alarm; the current API reference is the one quoted.)
  Only for a schedule that runs every day: a weekday-only or weekly check would be "missing" every weekend.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_sns as sns
from constructs import Construct

from freshtrack_ops.config import Target
from stacks.dashboards import HOUR, figure_metric

CRITICAL_METRIC = "FindingsCritical"
#: a daily check plus two hours' grace (a late or retried run does not alarm)
MISSING_AFTER_HOURS = 26
MISSING_PERIOD = HOUR
#: PutMetricAlarm: period x evaluation periods, at most 7 days for periods of an hour or more, else 1 day
MAX_EVALUATION_SECONDS = 604_800
MAX_EVALUATION_SECONDS_SHORT_PERIOD = 86_400


def runs_every_day(expression: str) -> bool:
    """A ``cron(...)`` whose day-of-month, month, day-of-week and year fields leave no day out."""
    match = re.fullmatch(r"cron\((\S+) (\S+) (\S+) (\S+) (\S+) (\S+)\)", expression)
    if match is None:
        return False
    _, _, day_of_month, month, day_of_week, year = match.groups()
    return day_of_month in {"*", "?"} and day_of_week in {"*", "?"} and month == "*" and year == "*"


def evaluation_seconds(period: Duration, evaluation_periods: int) -> int:
    """Period x evaluation periods, refused beyond what PutMetricAlarm accepts for that period."""
    seconds = int(period.to_seconds()) * evaluation_periods
    limit = MAX_EVALUATION_SECONDS if period.to_seconds() >= 3600 else MAX_EVALUATION_SECONDS_SHORT_PERIOD
    if seconds > limit:
        raise ValueError(f"alarm evaluation range {seconds} s is over PutMetricAlarm's {limit} s for that period")
    return seconds


class DailyCheckAlarms(Construct):
    """``DailyCheckCritical`` and ``DailyCheckMissing`` per enabled target (``critical`` / ``missing`` by id)."""

    def __init__(self, scope: Construct, construct_id: str, *, targets: Sequence[Target], topic: sns.ITopic) -> None:
        super().__init__(scope, construct_id)
        action = cw_actions.SnsAction(topic)
        self.critical: dict[str, cloudwatch.Alarm] = {}
        self.missing: dict[str, cloudwatch.Alarm] = {}
        evaluation_seconds(MISSING_PERIOD, MISSING_AFTER_HOURS)
        for target in targets:
            if not target.daily_check.enabled:
                continue
            scope_ = Construct(self, target.id)
            critical = cloudwatch.Alarm(
                scope_,
                "DailyCheckCritical",
                alarm_description=(
                    f"DailyCheckCritical: the daily check of {target.id} found something critical (see its report "
                    "and dashboard)"
                ),
                metric=figure_metric(target.id, CRITICAL_METRIC),
                threshold=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                evaluation_periods=1,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
            self.critical[target.id] = critical
            if runs_every_day(target.daily_check.schedule):
                self.missing[target.id] = cloudwatch.Alarm(
                    scope_,
                    "DailyCheckMissing",
                    alarm_description=(
                        f"DailyCheckMissing: no daily check report of {target.id} for {MISSING_AFTER_HOURS} h "
                        "(the workflow failed or did not run)"
                    ),
                    metric=figure_metric(
                        target.id, CRITICAL_METRIC, statistic=cloudwatch.Stats.SAMPLE_COUNT, period=MISSING_PERIOD
                    ),
                    threshold=1,
                    comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
                    evaluation_periods=MISSING_AFTER_HOURS,
                    datapoints_to_alarm=MISSING_AFTER_HOURS,
                    treat_missing_data=cloudwatch.TreatMissingData.BREACHING,
                )
            for alarm in (critical, self.missing.get(target.id)):
                if alarm is not None:
                    alarm.add_alarm_action(action)
                    alarm.add_ok_action(action)

    def of(self, target_id: str) -> list[cloudwatch.IAlarm]:
        return [a for a in (self.critical.get(target_id), self.missing.get(target_id)) if a is not None]
