"""The local stand-in for S3's lifecycle engine (moto stores lifecycle rules but never runs them).

It evaluates the one rule that matters for retention, as CDK deploys it on the backup bucket: current
object versions under ``backups/`` tagged ``retention=expiring`` expire ``retention_days`` after their
creation. Like S3, the due time is creation + days rounded UP to the next midnight UTC, and expiring a
current version in a versioned bucket adds a delete marker (the data becomes a noncurrent version, which
the noncurrent-version rule removes later; not simulated here). Objects tagged otherwise
(``protected``, an operator's ``pinned``) or untagged are never touched.

Tests and the demo call it with a simulated ``now`` (e.g. 40 days ahead) instead of waiting.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from freshtrack_ops.retention.tags import EXPIRING, RETENTION_TAG


def expiry_due(created: datetime, retention_days: int) -> datetime:
    """When S3 expires an object created at ``created``: + days, rounded up to the next midnight UTC."""
    moment = (created if created.tzinfo else created.replace(tzinfo=UTC)).astimezone(UTC)
    moment += timedelta(days=retention_days)
    midnight = datetime.combine(moment.date(), time(0), tzinfo=UTC)
    return midnight if moment == midnight else midnight + timedelta(days=1)


def apply_lifecycle(
    s3_client: Any, bucket: str, *, retention_days: int, now: datetime, prefix: str = "backups/"
) -> list[str]:
    """Expire (delete the current version of) every object the rule would expire by ``now``; returns the keys."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    expired: list[str] = []
    paginator = s3_client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            key = obj["Key"]
            if expiry_due(obj["LastModified"], retention_days) > now:
                continue
            tags = s3_client.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]
            if {"Key": RETENTION_TAG, "Value": EXPIRING} not in tags:
                continue
            s3_client.delete_object(Bucket=bucket, Key=key)
            expired.append(key)
    return expired
