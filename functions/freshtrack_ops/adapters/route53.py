"""Route 53 for a recovery's DNS cut-over: UPSERT one record, then ask until the change is INSYNC."""

from __future__ import annotations

from typing import Any


class Route53Records:
    def __init__(self, client: Any) -> None:
        self._client = client

    def upsert(self, zone_id: str, name: str, record_type: str, *, ttl: int, value: str, comment: str) -> str:
        """The change id (``/change/C…`` as Route 53 answers it)."""
        response = self._client.change_resource_record_sets(
            HostedZoneId=zone_id,
            ChangeBatch={
                "Comment": comment[:256],
                "Changes": [
                    {
                        "Action": "UPSERT",
                        "ResourceRecordSet": {
                            "Name": name,
                            "Type": record_type,
                            "TTL": ttl,
                            "ResourceRecords": [{"Value": value}],
                        },
                    }
                ],
            },
        )
        return str(response["ChangeInfo"]["Id"])

    def insync(self, change_id: str) -> bool:
        """``GetChange``: PENDING until every Route 53 DNS server of the zone has the change, then INSYNC."""
        return bool(self._client.get_change(Id=change_id)["ChangeInfo"]["Status"] == "INSYNC")
