"""The servers a disaster recovery adds to the inventory: replacements being bootstrapped, promotions, retirements.

The configured targets live in the targets parameter, written by a deployment from the configuration file. A
disaster recovery changes which server a target is, at run time, without a redeploy:

* a **replacement** is registered while the workflow bootstraps it: a whole target (the primary's settings, the
  new server's access) under its own id, so every existing host step reaches it by id; it is forgotten when the
  drill ends or the recovery promotes it (and expires by TTL after a crash);
* a **promotion** says "target H is now this server": ``runtime.targets()`` applies it to H's configured entry,
  so schedules and every later workflow follow the new server. It applies only while the configuration still
  names the server it replaced: once the operator edits the file (to the new server, as the runbook says, or to
  any other), the file wins again;
* a **retirement** records the old server, with the recovery that retired it (for the record and the
  notification: a promotion already takes it out of every schedule).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from freshtrack_ops.config import SshTarget, Target, TargetSet, parse_target, server_key

#: the fields that say how a server is reached (replaced as a whole when a target moves to another server)
ACCESS_FIELDS = frozenset(
    {"transport", "address", "port", "user", "private_key_secret_arn", "host_public_key", "connect_timeout_s",
     "instance_id"}
)  # fmt: skip
#: the fields of a target that may differ between two servers of the same deployment (the embedded plane's hosts
#: live in different directories of one machine; real servers from one launch template share the primary's)
LAYOUT_FIELDS = frozenset({"app_dir", "docker_bin", "job_dir", "health_url", "health_check_from"})


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Replacement(_Record):
    """A server a disaster recovery is bootstrapping, reachable by ``target.id`` until it is forgotten."""

    target: dict[str, Any]
    dr_id: str
    host: str
    registered_at: datetime


class Promotion(_Record):
    """Target ``host`` now runs on the server ``fields`` describe (access and layout)."""

    host: str
    fields: dict[str, Any]
    #: the configured server it replaced (``config.server_key``): the promotion applies while the file names it
    replaces: str
    server: str
    dr_id: str
    promoted_at: datetime


class Retirement(_Record):
    server: str
    host: str
    dr_id: str
    retired_at: datetime


class ServerRecords(_Record):
    replacements: tuple[Replacement, ...] = ()
    promotions: tuple[Promotion, ...] = ()
    retirements: tuple[Retirement, ...] = ()


def move(target: Target, fields: dict[str, Any], *, new_id: str | None = None) -> Target:
    """``target`` on another server: its access replaced by ``fields`` (and any layout field they carry)."""
    kept = {key: value for key, value in target.model_dump().items() if key not in ACCESS_FIELDS}
    if new_id is not None:
        kept["id"] = new_id
    new_server = {fields.get("address"), fields.get("instance_id")} - {None}
    dr = kept.get("dr")
    if dr and "dr" not in fields and target.dr is not None and fields.get("transport") != target.transport:
        # "unset: the target's own" (transport, login, key) meant the configured server's: a move to another
        # transport keeps them
        dr["transport"] = target.dr.effective_transport(target)
        if isinstance(target, SshTarget):
            dr["ssh_user"] = dr.get("ssh_user") or target.user
            dr["private_key_secret_arn"] = dr.get("private_key_secret_arn") or target.private_key_secret_arn
    if dr and "dr" not in fields:
        # a standby that became the target's server is no longer a standby of it
        dr["standbys"] = [
            s for s in dr.get("standbys", ()) if not ({s.get("address"), s.get("instance_id")} & new_server)
        ]
        if not dr["standbys"] and dr.get("launch_template") is None:
            kept["dr"] = None  # nothing left to recover onto: the section would not validate
    return parse_target(kept | fields)


def apply(targets: TargetSet, records: ServerRecords) -> TargetSet:
    """The inventory as the tasks see it: promotions applied, replacements reachable by id."""
    promoted = {p.host: p for p in records.promotions}
    moved: list[Target] = []
    for configured in targets.targets:
        promotion = promoted.get(configured.id)
        if promotion is not None and server_key(configured) == promotion.replaces:
            moved.append(move(configured, promotion.fields))
        else:
            moved.append(configured)
    replacements = tuple(parse_target(r.target) for r in records.replacements)
    return TargetSet(targets=tuple(moved), replacements=replacements)


ServerKind = Literal["replacement", "promotion", "retirement"]
