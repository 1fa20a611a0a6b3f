"""Where the daily check keeps its reports: each day's figures on the ops table (the charts' 30 days in one query)
and the report itself, JSON and HTML, in the bucket under ``reports/<host>/daily/``."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING

from freshtrack_ops.daily.models import HistoryPoint

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

#: a day's figures outlive the reports' lifecycle (400 days, stacks/storage_stack.py) by nothing: same horizon
HISTORY_TTL_S = 400 * 86_400


class DynamoDailyHistory:
    """Items pk ``DAILY#<host>``, sk the day (``YYYY-MM-DD``: sorts by date), the figures as a map of numbers."""

    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def put(self, host: str, date: str, figures: Mapping[str, float], verdict: str, *, now_epoch: int) -> None:
        self._client.put_item(
            TableName=self._table,
            Item={
                "pk": {"S": f"DAILY#{host}"},
                "sk": {"S": date},
                "verdict": {"S": verdict},
                # str(Decimal(repr)) keeps the float's shortest form (DynamoDB numbers are decimal strings)
                "figures": {"M": {name: {"N": str(Decimal(repr(value)))} for name, value in figures.items()}},
                "expires_at": {"N": str(now_epoch + HISTORY_TTL_S)},
            },
        )

    def since(self, host: str, first_date: str, last_date: str) -> list[HistoryPoint]:
        """The days from ``first_date`` to ``last_date`` (inclusive) that have figures, oldest first."""
        points: list[HistoryPoint] = []
        paginator = self._client.get_paginator("query")
        for page in paginator.paginate(
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND sk BETWEEN :first AND :last",
            ExpressionAttributeValues={
                ":pk": {"S": f"DAILY#{host}"},
                ":first": {"S": first_date},
                ":last": {"S": last_date},
            },
        ):
            for item in page.get("Items", []):
                figures = {name: float(value["N"]) for name, value in item.get("figures", {}).get("M", {}).items()}
                points.append(HistoryPoint(date=item["sk"]["S"], figures=figures))
        return points


class S3ReportStore:
    """The report objects; written once per host and day (a re-run of the same day replaces them)."""

    def __init__(self, client: S3Client, bucket: str) -> None:
        self._client = client
        self.bucket = bucket

    def put(self, key: str, body: str, content_type: str) -> None:
        self._client.put_object(
            Bucket=self.bucket, Key=key, Body=body.encode("utf-8"), ContentType=content_type, CacheControl="no-cache"
        )
