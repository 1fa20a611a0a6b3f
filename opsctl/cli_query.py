"""Read-only commands: executions, show, backups, deployments."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from opsctl import advice, render, timeline
from opsctl.backend import Backend
from opsctl.cli_schemas import BackupRow, DeploymentRow, ExecutionRow
from opsctl.errors import InvalidArguments, NotFound
from opsctl.inputs import INPUT_MODELS
from opsctl.live import history
from opsctl.session import session

JsonFlag = Annotated[bool, typer.Option("--json", help="print JSON for scripts")]
HostOption = Annotated[str | None, typer.Option("--host", help="only this target (default: every target)")]
STATUSES = ("RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")


def _workflow_of(backend: Backend, arn: str) -> str | None:
    machine = arn.replace(":execution:", ":stateMachine:").rsplit(":", 1)[0]
    return next((name for name, known in backend.workflows().items() if known == machine), None)


def _host_of(described: dict[str, Any]) -> str:
    try:
        document = json.loads(described.get("input") or "{}")
    except ValueError:
        return ""
    return str(document.get("host") or ("fleet" if "targets" in document else "")) if isinstance(document, dict) else ""


def executions(
    ctx: typer.Context,
    workflow: Annotated[
        str | None, typer.Option("--workflow", "-w", help=f"only this workflow ({', '.join(INPUT_MODELS)})")
    ] = None,
    host: Annotated[str | None, typer.Option("--host", help="only executions whose input names this target")] = None,
    status: Annotated[str | None, typer.Option("--status", help=f"only this status ({', '.join(STATUSES)})")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="newest N executions in all")] = 20,
    json_flag: JsonFlag = False,
) -> None:
    """List recent executions, newest first (filter by workflow, host, status)."""
    current = session(ctx, json_flag)
    if workflow is not None and workflow not in INPUT_MODELS:
        raise InvalidArguments(f"--workflow: unknown workflow (got {workflow!r}; one of {', '.join(INPUT_MODELS)})")
    if status is not None and status.upper() not in STATUSES:
        raise InvalidArguments(f"--status: unknown status (got {status!r}; one of {', '.join(STATUSES)})")
    listed = _list_executions(current.backend(), workflow, host, status, limit)
    if current.json:
        current.emit_json([ExecutionRow.model_validate(row).model_dump(mode="json") for row in listed])
        return
    _print_executions(current.out, listed)


def _list_executions(
    backend: Backend, workflow: str | None, host: str | None, status: str | None, limit: int
) -> list[dict[str, Any]]:
    sfn = backend.client("stepfunctions")
    machines = backend.workflows()
    if workflow is not None:
        machines = {workflow: backend.state_machine_arn(workflow)}
    rows: list[dict[str, Any]] = []
    for name, arn in machines.items():
        kwargs: dict[str, Any] = {"stateMachineArn": arn, "maxResults": min(limit * 5, 1000) if host else limit}
        if status is not None:
            kwargs["statusFilter"] = status.upper()
        for item in sfn.list_executions(**kwargs)["executions"]:
            rows.append({"workflow": name, **item})
    rows.sort(key=lambda row: row["startDate"], reverse=True)
    listed: list[dict[str, Any]] = []
    for row in rows:
        described = sfn.describe_execution(executionArn=row["executionArn"])
        target = _host_of(described)
        if host is not None and target != host:
            continue
        listed.append(
            {
                "workflow": row["workflow"],
                "host": target,
                "status": row["status"],
                "name": row["name"],
                "execution_arn": row["executionArn"],
                "started": row["startDate"],
                "stopped": row.get("stopDate"),
                "error": described.get("error"),
            }
        )
        if len(listed) >= limit:
            break
    return listed


def _print_executions(out: Console, listed: list[dict[str, Any]]) -> None:
    if not listed:
        out.print("no executions match")
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("workflow", "host", "status", "started", "duration", "name"):
        table.add_column(column, justify="right" if column == "duration" else "left")
    for item in listed:
        stopped = item["stopped"] or render.now()
        table.add_row(
            item["workflow"],
            item["host"],
            Text(
                item["status"] + (f" {item['error']}" if item["error"] else ""),
                style=render.STATUS_STYLE.get(item["status"], ""),
            ),
            item["started"].astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
            render.seconds((stopped - item["started"]).total_seconds()),
            item["name"],
        )
    out.print(table)


def resolve_execution(backend: Backend, ref: str) -> str:
    """An execution ARN from an ARN or a name (searched among each workflow's newest 1000 executions)."""
    if ref.startswith("arn:"):
        return ref
    sfn = backend.client("stepfunctions")
    for arn in backend.workflows().values():
        for page in sfn.get_paginator("list_executions").paginate(
            stateMachineArn=arn, PaginationConfig={"MaxItems": 1000}
        ):
            for item in page["executions"]:
                if item["name"] == ref:
                    return str(item["executionArn"])
    raise NotFound(f"execution: no execution named {ref!r} (give its ARN, or see `opsctl executions`)")


def show(
    ctx: typer.Context,
    execution: Annotated[str, typer.Argument(help="an execution ARN or name (as `opsctl executions` lists it)")],
    all_states: Annotated[bool, typer.Option("--all", help="also list Choice, Pass and Wait states")] = False,
    json_flag: JsonFlag = False,
) -> None:
    """An execution's timeline, its outcome, the error and cause of a failure, and what to do next."""
    current = session(ctx, json_flag)
    backend = current.backend()
    arn = resolve_execution(backend, execution)
    sfn = backend.client("stepfunctions")
    try:
        described = sfn.describe_execution(executionArn=arn)
    except sfn.exceptions.ExecutionDoesNotExist:
        raise NotFound(f"execution: {arn} does not exist") from None
    workflow = _workflow_of(backend, arn)
    line = timeline.build(history(sfn, arn))
    if current.json:
        current.emit_json(render.execution_dict(described, workflow, line))
        return
    out = current.out
    head = Text(f"{workflow or 'execution'} ", style="bold").append(described.get("name") or arn.rsplit(":", 1)[-1])
    out.print(head)
    out.print(Text("status   ").append(render.outcome_text(described)))
    out.print(f"started  {described['startDate'].astimezone(UTC).isoformat(timespec='seconds')}", markup=False)
    out.print(f"input    {described.get('input') or ''}", markup=False)
    out.print(f"arn      {arn}", style="dim", markup=False)
    out.print(render.timeline_table(line, all_states=all_states))
    for text in render.output_lines(render.parse_json(described.get("output"))):
        out.print(f"output   {text}", markup=False)
    if described.get("error"):
        out.print(f"error    {described['error']}", style="red", markup=False)
        out.print(f"cause    {described.get('cause') or ''}", markup=False)
        for text in advice.next_steps(described["error"]):
            out.print(f"         {text}", markup=False)
    elif described["status"] == "RUNNING":
        again = f"opsctl{' --local' if current.local else ''} show {described.get('name', arn)}"
        out.print(f"running: {again} again, or start it with --wait", markup=False)


def _age(finished_at: str) -> str:
    try:
        finished = datetime.fromisoformat(finished_at)
    except ValueError:
        return "?"
    return render.seconds((render.now() - finished.astimezone(UTC)).total_seconds())


def backups(
    ctx: typer.Context,
    host: HostOption = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="newest N backups per target")] = 20,
    json_flag: JsonFlag = False,
) -> None:
    """The backup catalog: id, time, size, compression, verified, protected from expiry, age."""
    from freshtrack_ops.adapters.dynamo import DynamoCatalog
    from freshtrack_ops.retention.tags import RETENTION_TAG

    current = session(ctx, json_flag)
    backend = current.backend()
    catalog = DynamoCatalog(backend.client("dynamodb"), backend.table)
    s3 = backend.client("s3")
    listed: list[dict[str, Any]] = []
    for target in [host] if host else backend.hosts():
        for entry, manifest in catalog.list_backups_with_manifests(target)[:limit]:
            tags = s3.get_object_tagging(Bucket=backend.bucket, Key=entry.dump_key).get("TagSet", [])
            retention = next((tag["Value"] for tag in tags if tag["Key"] == RETENTION_TAG), "")
            listed.append(
                {
                    "host": target,
                    "backup_id": entry.backup_id,
                    "finished_at": entry.finished_at,
                    "size_bytes": entry.size_bytes,
                    "compression": manifest.get("compression", ""),
                    "verification": entry.verification_status,
                    "verified_at": entry.verified_at,
                    "retention": retention,
                    "dump_key": entry.dump_key,
                }
            )
    if current.json:
        current.emit_json([BackupRow.model_validate(row).model_dump(mode="json") for row in listed])
        return
    if not listed:
        current.out.print(f"no backups of {host}" if host else "no backups")
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("host", "backup id", "finished (UTC)", "size", "compression", "verified", "retention", "age"):
        table.add_column(column, justify="right" if column in ("size", "age") else "left")
    for item in listed:
        verified = item["verification"]
        table.add_row(
            item["host"],
            item["backup_id"],
            item["finished_at"][:19].replace("T", " "),
            render.mebibytes(item["size_bytes"]),
            item["compression"],
            Text(verified, style={"passed": "green", "failed": "red"}.get(verified, "yellow")),
            item["retention"],
            _age(item["finished_at"]),
        )
    current.out.print(table)


def deployments(
    ctx: typer.Context,
    host: HostOption = None,
    json_flag: JsonFlag = False,
) -> None:
    """The update history: each update, rollback and image update, newest first."""
    from freshtrack_ops.adapters.dynamo import DynamoDeploymentHistory

    current = session(ctx, json_flag)
    backend = current.backend()
    store = DynamoDeploymentHistory(backend.client("dynamodb"), backend.table)
    listed = [
        {"host": target, **outcome.model_dump(mode="json")}
        for target in ([host] if host else backend.hosts())
        for outcome in store.deployments(target)
    ]
    if current.json:
        current.emit_json([DeploymentRow.model_validate(row).model_dump(mode="json") for row in listed])
        return
    if not listed:
        current.out.print(f"no deployments recorded for {host}" if host else "no deployments recorded")
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("host", "update id", "kind", "from", "to", "schema", "outcome", "duration", "backup before"):
        table.add_column(column)
    for item in listed:
        table.add_row(
            item["host"],
            item["update_id"],
            item["kind"],
            item["from_version"],
            item["to_version"],
            "changed" if item["schema_changed"] else "same",
            Text(item["outcome"], style="green" if item["outcome"] == "succeeded" else "yellow"),
            render.seconds(item["duration_s"]),
            item["backup_id"],
        )
    current.out.print(table)
