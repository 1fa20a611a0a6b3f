"""Metrics the host steps share."""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit

from freshtrack_ops.config import Target
from freshtrack_ops.observability import metrics


def job_started(target: Target) -> None:
    """A transfer started as a host job (its own figures come with its last poll)."""
    metrics.add_dimension(name="host", value=target.id)
    metrics.add_metric(name="HostJobsStarted", unit=MetricUnit.Count, value=1)
