"""Route 53 in the local plane: the demo domain's hosted zone, its records, and change propagation as AWS reports it.

The plane creates one public hosted zone for ``DEMO_ZONE`` with an A record per target's ``domain`` pointing
at the host it runs on (127.0.0.1: every local host listens on the loopback address, each on its own ports),
TTL ``RECORD_TTL_S``. Nothing resolves these names: the records are read back with ``LocalPlane.dns_records``.

moto applies a change at once and answers every ``ChangeResourceRecordSets`` with the same change id and
``INSYNC``. Route 53 answers ``PENDING`` ("the initial status of all change batch requests", API reference,
GetChange) with a new change id, and ``GetChange`` says ``INSYNC`` once the change has propagated to all its
DNS servers; an unknown id is ``NoSuchChange``. The patch answers the same way, so a workflow that skips the
wait for INSYNC is caught here: a change is reported ``PENDING`` by ChangeResourceRecordSets and ``INSYNC``
by every GetChange (propagation time is not modelled; AWS documents it as usually within 60 seconds).

Hosted zone ids: Route 53's start with ``Z`` (the configuration checks ``dr.hosted_zone_id`` so), moto's are 22
random letters and digits; the patch makes moto's start with ``Z`` too, so a target's dr section can name the
demo zone.
"""

from __future__ import annotations

import secrets
import string
import threading
from collections.abc import Callable, Mapping
from typing import Any

DEMO_ZONE = "freshtrack.local"
RECORD_TTL_S = 60
_CHANGE_ID_ALPHABET = string.ascii_uppercase + string.digits

Client = Callable[[str], Any]


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.installed = False
        self.changes: set[str] = set()


STATE = _State()


def _new_change_id() -> str:
    return "C" + "".join(secrets.choice(_CHANGE_ID_ALPHABET) for _ in range(20))


def install() -> None:
    """Patch moto's Route 53 responses (idempotent)."""
    with STATE.lock:
        if STATE.installed:
            return
        from moto.route53.responses import Route53

        Route53.change_resource_record_sets = _pending_change(Route53.change_resource_record_sets)  # type: ignore[method-assign]
        Route53.get_change = _get_change  # type: ignore[method-assign]
        import moto.route53.models as route53_models

        route53_models.create_route53_zone_id = _zone_id_with_z(route53_models.create_route53_zone_id)
        STATE.installed = True


def _pending_change(original: Callable[..., Any]) -> Callable[..., Any]:
    def change_resource_record_sets(self: Any) -> Any:
        result = original(self)
        change_id = _new_change_id()
        with STATE.lock:
            STATE.changes.add(change_id)
        result.result["ChangeInfo"]["Id"] = f"/change/{change_id}"
        result.result["ChangeInfo"]["Status"] = "PENDING"
        return result

    return change_resource_record_sets


def _zone_id_with_z(original: Callable[..., str]) -> Callable[..., str]:
    def create_route53_zone_id(*args: Any, **kwargs: Any) -> str:
        zone_id = original(*args, **kwargs)
        return zone_id if zone_id.startswith("Z") else "Z" + zone_id[1:]

    return create_route53_zone_id


def _get_change(self: Any) -> Any:
    from moto.core.responses import ActionResult
    from moto.core.utils import utcnow
    from moto.route53.exceptions import Route53ClientError

    change_id = str(self._get_param("Id")).removeprefix("/change/")
    with STATE.lock:
        known = change_id in STATE.changes
    if not known:
        raise Route53ClientError("NoSuchChange", f"A change with the specified change ID does not exist: {change_id}")
    return ActionResult({"ChangeInfo": {"Id": f"/change/{change_id}", "Status": "INSYNC", "SubmittedAt": utcnow()}})


def fqdn(name: str) -> str:
    return name if name.endswith(".") else name + "."


def create_zone(client: Client, records: Mapping[str, str]) -> str:
    """The demo zone with an A record per ``records`` entry (domain -> address); the zone id (``Z...``)."""
    route53 = client("route53")
    zone_id = str(
        route53.create_hosted_zone(Name=DEMO_ZONE, CallerReference="ftops-local-demo-zone")["HostedZone"]["Id"]
    ).removeprefix("/hostedzone/")
    if records:
        route53.change_resource_record_sets(
            HostedZoneId=zone_id,
            ChangeBatch={
                "Comment": "the local plane's targets",
                "Changes": [
                    {
                        "Action": "CREATE",
                        "ResourceRecordSet": {
                            "Name": fqdn(domain),
                            "Type": "A",
                            "TTL": RECORD_TTL_S,
                            "ResourceRecords": [{"Value": address}],
                        },
                    }
                    for domain, address in sorted(records.items())
                ],
            },
        )
    return zone_id


def record_values(client: Client, zone_id: str, domain: str, record_type: str = "A") -> list[str]:
    """The current values of the ``record_type`` record of ``domain`` in the zone ([] when it has none)."""
    name = fqdn(domain)
    found = client("route53").list_resource_record_sets(
        HostedZoneId=zone_id, StartRecordName=name, StartRecordType=record_type, MaxItems="1"
    )["ResourceRecordSets"]
    for record in found:
        if record["Name"] == name and record["Type"] == record_type:
            return [str(r["Value"]) for r in record.get("ResourceRecords", [])]
    return []
