"""Retention and the RPO guard: the pure selection, protect against moto S3/DynamoDB, the handlers."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from freshtrack_ops import runtime
from freshtrack_ops.adapters.dynamo import DynamoCatalog
from freshtrack_ops.adapters.s3_tags import S3TagStore
from freshtrack_ops.config import LocalTarget, TargetSet
from freshtrack_ops.errors import ConfigError
from freshtrack_ops.ports import CatalogEntry
from freshtrack_ops.retention.policy import RetentionPolicy, newest_first, protection_reasons, select_protected
from freshtrack_ops.retention.protect import protect_host
from freshtrack_ops.retention.rpo import SENTINEL_AGE_HOURS, newest_verified, rpo_of
from opsctl.local.lifecycle import apply_lifecycle, expiry_due
from opsctl.local.moto_patches import LocalLambdaContext
from opsctl.local.ops_table import create_ops_table
from tests.unit.fakes import FakeCatalog, FakeTags

NOW = datetime(2025, 3, 12, 12, 0, tzinfo=UTC)  # a Wednesday, ISO week 2025-W11
BUCKET = "ftops-unit-backups"
TABLE = "ftops-unit-ops"


def entry(n: int, finished: datetime | str, status: str = "passed", host: str = "demo") -> CatalogEntry:
    finished_at = finished if isinstance(finished, str) else finished.isoformat()
    backup_id = f"{host}-20250101T000000Z-{n:08x}"
    prefix = f"backups/{host}/2025/01/01/{backup_id}"
    return CatalogEntry(
        host=host,
        backup_id=backup_id,
        dump_key=f"{prefix}.dump",
        manifest_key=f"{prefix}.manifest.json",
        size_bytes=100 + n,
        finished_at=finished_at,
        verification_status=status,
        verified_at=finished_at if status != "unverified" else None,
    )


def daily(count: int, *, end: datetime = NOW, status: str = "passed") -> list[CatalogEntry]:
    """``count`` backups one day apart, the newest at ``end`` - 1 h; newest first."""
    return [entry(i, end - timedelta(hours=1) - timedelta(days=i), status) for i in range(count)]


def ids(entries: list[CatalogEntry]) -> set[str]:
    return {e.backup_id for e in entries}


# -- the selection (pure) ---------------------------------------------------------------------------
def test_keeps_the_newest_n_passed_backups() -> None:
    backups = daily(10)
    assert select_protected(backups, RetentionPolicy(keep_last_verified=7), NOW) == ids(backups[:7])


def test_unverified_and_failed_backups_are_never_protected_even_when_newest() -> None:
    backups = [
        entry(100, NOW - timedelta(minutes=5), "unverified"),
        entry(101, NOW - timedelta(minutes=10), "failed"),
        *daily(9),
        entry(102, NOW - timedelta(days=30), "failed"),
    ]
    selected = select_protected(backups, RetentionPolicy(keep_last_verified=3), NOW)
    assert selected == ids(backups[2:5])


def test_fewer_passed_backups_than_n_protects_all_of_them_and_no_others() -> None:
    backups = [*daily(2), entry(50, NOW - timedelta(days=5), "unverified"), entry(51, NOW, "failed")]
    assert select_protected(backups, RetentionPolicy(keep_last_verified=7), NOW) == ids(backups[:2])
    assert select_protected([], RetentionPolicy(), NOW) == set()
    assert select_protected(daily(3, status="failed"), RetentionPolicy(keep_weekly=4, keep_monthly=3), NOW) == set()


def test_ties_protect_exactly_n_deterministically_whatever_the_input_order() -> None:
    same = NOW - timedelta(hours=2)
    backups = [entry(i, same) for i in range(5)]
    policy = RetentionPolicy(keep_last_verified=3)
    expected = select_protected(backups, policy, NOW)
    assert len(expected) == 3
    assert expected == ids(sorted(backups, key=lambda e: e.backup_id, reverse=True)[:3])
    for seed in range(5):
        shuffled = backups[:]
        random.Random(seed).shuffle(shuffled)
        assert select_protected(shuffled, policy, NOW) == expected


def test_order_is_by_time_not_by_string_across_offsets_and_naive_times_are_utc() -> None:
    east = entry(1, "2025-03-12T10:00:00+02:00")  # 08:00 UTC: sorts last as a string, is the oldest
    utc = entry(2, "2025-03-12T09:00:00+00:00")
    naive = entry(3, "2025-03-12T09:30:00")  # taken as UTC: the newest
    assert [e.backup_id for e in newest_first([east, utc, naive])] == [naive.backup_id, utc.backup_id, east.backup_id]
    assert select_protected([east, utc, naive], RetentionPolicy(keep_last_verified=2), NOW) == ids([naive, utc])


def test_input_order_from_the_catalog_does_not_matter() -> None:
    backups = daily(10)
    assert select_protected(list(reversed(backups)), RetentionPolicy(keep_last_verified=4), NOW) == ids(backups[:4])


def test_weekly_tier_keeps_the_newest_passed_backup_of_each_of_the_last_weeks() -> None:
    backups = daily(70)  # 10 weeks of dailies; the newest is 2025-03-12 11:00 (W11)
    policy = RetentionPolicy(keep_last_verified=3, keep_weekly=4)
    reasons = protection_reasons(backups, policy, NOW)
    by_id = {e.backup_id: e for e in backups}
    weekly = {by_id[i].finished_at[:10]: why for i, why in reasons.items() if any("weekly" in w for w in why)}
    # W11 (current): Wed 12th; W10: Sun 9th; W09: Sun 2nd; W08: Sun Feb 23rd
    assert weekly == {
        "2025-03-12": ("last-verified", "weekly 2025-W11"),
        "2025-03-09": ("weekly 2025-W10",),
        "2025-03-02": ("weekly 2025-W09",),
        "2025-02-23": ("weekly 2025-W08",),
    }
    assert len(reasons) == 3 + 3


def test_weekly_tier_skips_failed_and_unverified_backups_inside_a_week() -> None:
    sunday = datetime(2025, 3, 9, 23, 0, tzinfo=UTC)  # last day of W10
    backups = [
        entry(1, sunday, "failed"),
        entry(2, sunday - timedelta(days=1), "unverified"),
        entry(3, sunday - timedelta(days=2), "passed"),
        entry(4, sunday - timedelta(days=3), "passed"),
    ]
    reasons = protection_reasons(backups, RetentionPolicy(keep_last_verified=0, keep_weekly=2), NOW)
    assert reasons == {backups[2].backup_id: ("weekly 2025-W10",)}


def test_weekly_tier_does_not_reach_beyond_its_window_when_weeks_are_empty() -> None:
    old = daily(5, end=NOW - timedelta(weeks=6))
    reasons = protection_reasons(old, RetentionPolicy(keep_last_verified=1, keep_weekly=4, keep_monthly=0), NOW)
    assert reasons == {old[0].backup_id: ("last-verified",)}


def test_iso_weeks_across_the_year_boundary() -> None:
    now = datetime(2025, 1, 2, 12, tzinfo=UTC)  # Thursday of ISO 2025-W01 (which starts Mon 2024-12-30)
    backups = [
        entry(1, datetime(2024, 12, 30, 1, tzinfo=UTC)),  # 2025-W01
        entry(2, datetime(2024, 12, 29, 23, tzinfo=UTC)),  # Sunday: 2024-W52
        entry(3, datetime(2024, 12, 22, 23, tzinfo=UTC)),  # 2024-W51, outside a 2-week window
    ]
    reasons = protection_reasons(backups, RetentionPolicy(keep_last_verified=0, keep_weekly=2), now)
    assert reasons == {backups[0].backup_id: ("weekly 2025-W01",), backups[1].backup_id: ("weekly 2024-W52",)}


def test_monthly_tier_across_the_year_boundary() -> None:
    now = datetime(2025, 2, 10, tzinfo=UTC)
    backups = [
        entry(1, datetime(2025, 2, 9, tzinfo=UTC)),
        entry(2, datetime(2025, 1, 31, 23, 59, tzinfo=UTC)),
        entry(3, datetime(2025, 1, 15, tzinfo=UTC)),
        entry(4, datetime(2024, 12, 31, tzinfo=UTC), "failed"),
        entry(5, datetime(2024, 12, 1, tzinfo=UTC)),
        entry(6, datetime(2024, 11, 30, tzinfo=UTC)),  # outside 3 months
    ]
    reasons = protection_reasons(backups, RetentionPolicy(keep_last_verified=0, keep_monthly=3), now)
    assert reasons == {
        backups[0].backup_id: ("monthly 2025-02",),
        backups[1].backup_id: ("monthly 2025-01",),
        backups[4].backup_id: ("monthly 2024-12",),
    }


def test_tiers_combine_without_duplicates() -> None:
    backups = daily(400)
    policy = RetentionPolicy(keep_last_verified=7, keep_weekly=4, keep_monthly=12)
    selected = select_protected(backups, policy, NOW)
    # 7 dailies (Mar 6-12: the newest of W11, W10 and March) + W09 (Mar 2), W08 (Feb 23) + the 11 months
    # Feb 2025 (its newest, Fri Feb 28, is neither a daily nor a week's newest) back to Apr 2024
    assert len(selected) == 7 + 2 + 11
    assert selected >= ids(backups[:7])


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="keep_weekly"):
        RetentionPolicy(keep_weekly=-1)
    with pytest.raises(ValueError, match="demo-20250101T000000Z-00000001: finished_at"):
        select_protected([entry(1, "yesterday")], RetentionPolicy(), NOW)


# -- the RPO figure (pure) --------------------------------------------------------------------------
def test_rpo_is_the_age_of_the_newest_passed_backup() -> None:
    backups = [
        entry(1, NOW - timedelta(hours=1), "unverified"),
        entry(2, NOW - timedelta(hours=3), "failed"),
        entry(3, NOW - timedelta(hours=30)),
        entry(4, NOW - timedelta(hours=54)),
    ]
    result = rpo_of(backups, NOW)
    assert (result.age_hours, result.backup_id, result.metric_value) == (30.0, backups[2].backup_id, 30.0)
    assert newest_verified(reversed(backups)) == backups[2]


def test_rpo_without_a_verified_backup_reports_none_and_emits_the_sentinel() -> None:
    result = rpo_of([entry(1, NOW, "unverified"), entry(2, NOW, "failed")], NOW)
    assert (result.age_hours, result.backup_id, result.metric_value) == (None, None, SENTINEL_AGE_HOURS)
    assert rpo_of([], NOW).metric_value == SENTINEL_AGE_HOURS


def test_rpo_never_negative_when_the_clock_lags() -> None:
    assert rpo_of([entry(1, NOW + timedelta(minutes=2))], NOW).age_hours == 0.0


# -- protect against moto ---------------------------------------------------------------------------
@dataclass
class Aws:
    s3: Any
    dynamodb: Any
    catalog: DynamoCatalog
    tags: S3TagStore
    backups: list[CatalogEntry] = field(default_factory=list)

    def add(
        self,
        n: int,
        finished: datetime,
        status: str = "passed",
        *,
        tagging: str | None = "retention=expiring",
        host: str = "demo",
    ) -> CatalogEntry:
        item = entry(n, finished, status, host)
        extra = {"Tagging": tagging} if tagging is not None else {}
        self.s3.put_object(Bucket=BUCKET, Key=item.dump_key, Body=b"PGDMP" + bytes(n), **extra)
        self.s3.put_object(Bucket=BUCKET, Key=item.manifest_key, Body=b"{}", **extra)
        DynamoCatalog(self.dynamodb, TABLE).record_backup(item, "{}")
        self.backups.insert(0, item)
        return item

    def tag(self, key: str) -> str | None:
        found = self.tags.get_tags(key)
        return None if found is None else found.get("retention")


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        create_ops_table(dynamodb, TABLE)
        catalog = DynamoCatalog(dynamodb, TABLE)
        yield Aws(s3=s3, dynamodb=dynamodb, catalog=catalog, tags=S3TagStore(s3, BUCKET))


def ten_backups(aws: Aws) -> None:
    """Oldest first: 9 passed, the newest failed."""
    for i in range(10):
        aws.add(i, NOW - timedelta(days=10 - i), "failed" if i == 9 else "passed")


def test_protect_tags_the_last_verified_dump_and_manifest_and_writes_only_what_differs(aws: Aws) -> None:
    ten_backups(aws)
    policy = RetentionPolicy(keep_last_verified=7)
    result = protect_host("demo", aws.catalog, aws.tags, policy, NOW)

    newest_first_ids = [e.backup_id for e in aws.backups]
    assert result.protected == tuple(newest_first_ids[1:8])
    assert result.expiring == (newest_first_ids[0], *newest_first_ids[8:])
    assert result.forgotten == () and result.missing_manifests == ()
    assert set(result.reasons.values()) == {("last-verified",)}
    for item in aws.backups:
        want = "protected" if item.backup_id in result.protected else "expiring"
        assert (aws.tag(item.dump_key), aws.tag(item.manifest_key)) == (want, want)
    assert len(result.retagged) == 14  # everything started expiring

    again = protect_host("demo", aws.catalog, aws.tags, policy, NOW)
    assert again.retagged == ()
    assert again.protected == result.protected

    # one more verified backup: it takes the oldest protected one's place, four tags change
    newest = aws.add(20, NOW - timedelta(hours=1))
    third = protect_host("demo", aws.catalog, aws.tags, policy, NOW)
    oldest_protected = aws.backups[[e.backup_id for e in aws.backups].index(result.protected[-1])]
    assert set(third.retagged) == {
        newest.dump_key,
        newest.manifest_key,
        oldest_protected.dump_key,
        oldest_protected.manifest_key,
    }
    assert aws.tag(oldest_protected.dump_key) == "expiring"


def test_protect_preserves_other_tags_and_tags_legacy_untagged_objects(aws: Aws) -> None:
    kept = aws.add(1, NOW - timedelta(days=2), tagging="retention=expiring&owner=ops")
    legacy = aws.add(2, NOW - timedelta(days=40), "unverified", tagging=None)
    protect_host("demo", aws.catalog, aws.tags, RetentionPolicy(keep_last_verified=1), NOW)
    assert aws.tags.get_tags(kept.dump_key) == {"retention": "protected", "owner": "ops"}
    assert aws.tags.get_tags(kept.manifest_key) == {"retention": "protected", "owner": "ops"}
    assert aws.tag(legacy.dump_key) == aws.tag(legacy.manifest_key) == "expiring"


def test_an_operator_pin_is_left_alone(aws: Aws) -> None:
    pinned = aws.add(1, NOW - timedelta(days=200), "unverified", tagging="retention=pinned")
    aws.add(2, NOW - timedelta(days=1))
    result = protect_host("demo", aws.catalog, aws.tags, RetentionPolicy(keep_last_verified=1), NOW)
    assert result.pinned == (pinned.backup_id,)
    assert pinned.backup_id not in result.expiring
    assert aws.tag(pinned.dump_key) == aws.tag(pinned.manifest_key) == "pinned"


def test_expired_backups_are_forgotten_and_the_next_existing_ones_protected(aws: Aws) -> None:
    ten_backups(aws)
    policy = RetentionPolicy(keep_last_verified=7)
    first = protect_host("demo", aws.catalog, aws.tags, policy, NOW)
    # a protected backup's dump disappears (deleted by hand: a delete marker becomes current)
    lost = next(e for e in aws.backups if e.backup_id == first.protected[0])
    aws.s3.delete_object(Bucket=BUCKET, Key=lost.dump_key)
    assert aws.tags.get_tags(lost.dump_key) is None

    second = protect_host("demo", aws.catalog, aws.tags, policy, NOW)
    assert second.forgotten == (lost.backup_id,)
    assert len(second.protected) == 7  # the next verified backup took its place
    assert lost.backup_id not in second.protected
    assert aws.tag(lost.manifest_key) == "expiring"  # its manifest no longer stays forever
    assert lost.backup_id not in {e.backup_id for e in aws.catalog.list_backups("demo")}
    assert len(aws.catalog.list_backups("demo")) == 9
    assert protect_host("demo", aws.catalog, aws.tags, policy, NOW).forgotten == ()


def test_a_missing_manifest_is_reported_not_fatal(aws: Aws) -> None:
    item = aws.add(1, NOW - timedelta(days=1))
    aws.s3.delete_object(Bucket=BUCKET, Key=item.manifest_key)
    result = protect_host("demo", aws.catalog, aws.tags, RetentionPolicy(keep_last_verified=1), NOW)
    assert result.protected == (item.backup_id,)
    assert result.missing_manifests == (item.manifest_key,)
    assert aws.tag(item.dump_key) == "protected"


def test_hosts_are_independent(aws: Aws) -> None:
    other = aws.add(1, NOW - timedelta(days=1), host="other")
    aws.add(2, NOW - timedelta(days=1))
    protect_host("demo", aws.catalog, aws.tags, RetentionPolicy(keep_last_verified=1), NOW)
    assert aws.tag(other.dump_key) == "expiring"


def test_protection_is_written_before_anything_is_unprotected_or_forgotten() -> None:
    backups = daily(6)
    state = {k: {"retention": "protected"} for e in backups[3:] for k in (e.dump_key, e.manifest_key)}
    state |= {k: {"retention": "expiring"} for e in backups[:3] for k in (e.dump_key, e.manifest_key)}
    del state[backups[5].dump_key]  # gone: will be forgotten
    tags = FakeTags(state)
    catalog = FakeCatalog(backups)
    protect_host("demo", catalog, tags, RetentionPolicy(keep_last_verified=3), NOW)
    values = [value for _, value in tags.writes]
    assert values == ["protected"] * 6 + ["expiring"] * 5  # 4 objects of 2 backups + the orphan manifest
    assert catalog.forgotten == [backups[5].backup_id]

    # interrupted at the first "expiring" write: the new ones are protected, the old ones still are too
    state2 = {k: {"retention": "protected"} for e in backups[3:] for k in (e.dump_key, e.manifest_key)}
    state2 |= {k: {"retention": "expiring"} for e in backups[:3] for k in (e.dump_key, e.manifest_key)}
    failing = FakeTags(state2, fail_at=6)
    catalog2 = FakeCatalog(backups)
    with pytest.raises(RuntimeError):
        protect_host("demo", catalog2, failing, RetentionPolicy(keep_last_verified=3), NOW)
    assert all(tags == {"retention": "protected"} for tags in failing.objects.values())
    assert catalog2.forgotten == []


class _DeniedClient:
    def get_object_tagging(self, **_: Any) -> Any:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "denied"}}, "GetObjectTagging")


def test_access_denied_is_an_error_never_taken_for_a_missing_object() -> None:
    with pytest.raises(ClientError):
        S3TagStore(_DeniedClient(), BUCKET).get_tags("backups/demo/x.dump")  # type: ignore[arg-type]


# -- the local lifecycle stand-in -------------------------------------------------------------------
def test_expiry_is_rounded_up_to_the_next_midnight_utc() -> None:
    created = datetime(2025, 1, 15, 10, 30, tzinfo=UTC)
    assert expiry_due(created, 30) == datetime(2025, 2, 15, tzinfo=UTC)
    assert expiry_due(datetime(2025, 1, 15, tzinfo=UTC), 1) == datetime(2025, 1, 16, tzinfo=UTC)


def test_lifecycle_expires_only_old_objects_tagged_expiring(aws: Aws) -> None:
    expiring = aws.add(1, NOW)
    protected = aws.add(2, NOW, tagging="retention=protected")
    untagged = aws.add(3, NOW, tagging=None)
    aws.s3.put_object(Bucket=BUCKET, Key="elsewhere/x", Body=b"x", Tagging="retention=expiring")
    now = datetime.now(UTC)
    assert apply_lifecycle(aws.s3, BUCKET, retention_days=30, now=now + timedelta(days=29)) == []
    expired = apply_lifecycle(aws.s3, BUCKET, retention_days=30, now=now + timedelta(days=32))
    assert sorted(expired) == sorted([expiring.dump_key, expiring.manifest_key])
    remaining = {o["Key"] for o in aws.s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])}
    assert remaining == {
        protected.dump_key,
        protected.manifest_key,
        untagged.dump_key,
        untagged.manifest_key,
        "elsewhere/x",
    }


# -- the handlers -----------------------------------------------------------------------------------
@pytest.fixture
def wired(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    env = {
        "BACKUP_BUCKET": BUCKET,
        "OPS_TABLE": TABLE,
        "TARGETS_PARAMETER": "/ftops/unit/targets",
        "KEEP_LAST_VERIFIED": "2",
        "POWERTOOLS_SERVICE_NAME": "freshtrack-ops",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "false",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    targets = TargetSet(targets=tuple(LocalTarget(id=name, domain=f"{name}.example.com") for name in ("demo", "other")))
    boto3.client("ssm", region_name="us-east-1").put_parameter(
        Name="/ftops/unit/targets", Value=targets.model_dump_json(), Type="String"
    )
    runtime.reset()
    yield aws
    runtime.reset()


def context() -> Any:
    return LocalLambdaContext(function_name="unit", invoked_function_arn="arn:aws:lambda:us-east-1:1:function:unit")


def test_protect_handler_applies_the_configured_policy_per_host(wired: Aws) -> None:
    from freshtrack_ops.handlers import retention

    for i in range(4):
        wired.add(i, NOW - timedelta(days=4 - i))
    wired.add(9, NOW - timedelta(days=1), host="other")
    output = retention.protect({}, context())
    assert output["policy"] == {"keep_last_verified": 2, "keep_weekly": 0, "keep_monthly": 0}
    assert output["hosts"]["demo"]["protected"] == [e.backup_id for e in wired.backups if e.host == "demo"][:2]
    assert len(output["hosts"]["demo"]["expiring"]) == 2
    assert output["hosts"]["other"]["protected"] == ["other-20250101T000000Z-00000009"]

    only = retention.protect({"host": "other"}, context())
    assert set(only["hosts"]) == {"other"}
    with pytest.raises(ConfigError, match="nope"):
        retention.protect({"host": "nope"}, context())
    with pytest.raises(Exception, match="host"):
        retention.protect({"host": "Bad Host"}, context())


def test_rpo_handler_emits_one_metric_per_host_and_the_sentinel(wired: Aws, capsys: pytest.CaptureFixture[str]) -> None:
    from freshtrack_ops.handlers import retention

    recent = datetime.now(UTC) - timedelta(hours=3)
    wired.add(1, recent)
    wired.add(2, datetime.now(UTC), "unverified")
    wired.add(3, datetime.now(UTC), "failed", host="other")
    capsys.readouterr()
    output = retention.rpo({}, context())

    demo, other = output["hosts"]["demo"], output["hosts"]["other"]
    assert demo["backup_id"] == "demo-20250101T000000Z-00000001"
    assert 2.99 < demo["age_hours"] < 3.01
    assert other == {"age_hours": None, "backup_id": None, "finished_at": None, "metric_value": SENTINEL_AGE_HOURS}

    documents = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    emitted = {doc["host"]: doc for doc in documents}
    assert set(emitted) == {"demo", "other"}
    for doc in documents:
        (directive,) = doc["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == "FreshTrackOps"
        assert directive["Metrics"] == [{"Name": "NewestVerifiedBackupAgeHours", "Unit": "None"}]
        assert directive["Dimensions"] == [["host", "service"]]
        assert doc["service"] == "freshtrack-ops"
    assert emitted["other"]["NewestVerifiedBackupAgeHours"] == [SENTINEL_AGE_HOURS]
    assert 2.99 < emitted["demo"]["NewestVerifiedBackupAgeHours"][0] < 3.01
