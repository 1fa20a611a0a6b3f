"""opsctl: the operator's command line.

opsctl demo                                  run the demo on the embedded local plane
opsctl schema backup|test-restore|restore|update|update-fleet|rollback|disaster-recovery|capture-config|remediation|
                    daily-check|service      print the JSON schema of a workflow's input
opsctl start backup --host prod --state-machine-arn ARN [--reason TEXT] [--wait]
opsctl start test-restore --host prod [--backup-id ID|latest] --state-machine-arn ARN
opsctl start restore --host prod --backup-id ID|latest-verified --confirm frostguard --state-machine-arn ARN
opsctl start update --host prod --version vX.Y.Z|latest|branch:NAME [--rollback-database auto|always|never]
                    [--allow-downgrade] --state-machine-arn ARN
opsctl start update-fleet --targets all|ID,ID,... --version ... [--canary ID] [--max-concurrency N]
                    [--rollback-database ...] [--allow-downgrade] --state-machine-arn ARN
opsctl start update --host prod --kind images --state-machine-arn ARN
                                             the manual's Docker update (compose pull; pins back on failure)
opsctl start rollback --host prod --confirm prod [--to previous|vX.Y.Z] [--restore-database auto|always|never]
                    --state-machine-arn ARN
opsctl start disaster-recovery --host prod [--mode drill] [--backup-id latest-verified|ID]
                    [--replacement provision|STANDBY_ID] --state-machine-arn ARN
opsctl start disaster-recovery --host prod --mode recover --confirm app.example.com [--replacement ...]
                    --state-machine-arn ARN
                                             a drill (throw-away server, RTO/RPO measured) or a recovery (the
                                             domain's record and the inventory move to the new server)
opsctl start capture-config --host prod --state-machine-arn ARN
                                             the app config into its secret now (daily by dr.capture_schedule)
opsctl start remediation --host prod --action compose-up|restart-service|disk-cleanup|restart-top-memory|
                    certificate-check|notify-only [--service backend] [--dry-run] --state-machine-arn ARN
                                             one of the alert actions by hand (same guard, lock and audit)
opsctl start service --host prod --action start|stop|restart|status|logs|emergency-stop|emergency-restart|
                    force-rebuild|unban [--service backend] [--tail N] [--since 2h|1d|2024-05-01T00:00:00Z]
                    [--ip 203.0.113.7] [--confirm prod] --state-machine-arn ARN
                                             a service operation (docs/daily-operations.md): stop, restart and the
                                             emergency actions need --confirm with the host id; logs go to S3
                                             validate the input locally, then start the execution
opsctl halt-fleet EXECUTION_ARN --table OPS_TABLE --reason TEXT
                                             stop a fleet update from starting more hosts (running ones finish)
opsctl approve|reject EXECUTION_ARN --table OPS_TABLE [--reason TEXT]
                                             answer a restore waiting for approval
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from pydantic import ValidationError

from freshtrack_ops.config import describe_validation_error
from opsctl.inputs import INPUT_MODELS


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="opsctl", description="FreshTrack Ops operator CLI")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run the demo on the embedded local plane")
    demo.add_argument("--readings", type=int, default=20_000, help="temperature_readings rows to seed")
    schema = sub.add_parser("schema", help="print the JSON schema of a workflow's execution input")
    schema.add_argument("workflow", choices=sorted(INPUT_MODELS))
    start = sub.add_parser("start", help="start a workflow on the deployed control plane")
    start.add_argument("workflow", choices=sorted(INPUT_MODELS))
    start.add_argument("--host", help="the target id (every workflow but update-fleet)")
    start.add_argument("--reason", help="free text recorded with the execution")
    start.add_argument(
        "--trigger", help="backup, daily-check: schedule|console|webhook|pre-update|pre-restore|pre-rollback"
    )
    start.add_argument(
        "--backup-id", help="test-restore/restore/disaster-recovery: a backup id, latest, or latest-verified"
    )
    start.add_argument(
        "--confirm",
        help="restore: the database name; rollback, service, rotate-secrets and scale: the host id; "
        "disaster-recovery --mode recover: the domain (typed to confirm what is replaced or taken down)",
    )
    start.add_argument("--mode", help="disaster-recovery: drill (default) or recover")
    start.add_argument("--replacement", help="disaster-recovery: provision (default) or a standby id")
    start.add_argument("--version", help="update: vX.Y.Z, latest or branch:NAME (not with --kind images)")
    start.add_argument("--kind", help="update: release (default) or images (docker compose pull)")
    start.add_argument("--to", help="rollback: previous (default) or vX.Y.Z, from the deployment history")
    start.add_argument("--restore-database", help="rollback: auto|always|never (the backup before the update)")
    start.add_argument("--rollback-database", help="update: auto|always|never (restore the pre-update backup)")
    start.add_argument(
        "--allow-downgrade", action="store_const", const=True, help="update: allow an older version than running"
    )
    start.add_argument("--targets", help="update-fleet: all, or target ids in rollout order, comma-separated")
    start.add_argument("--canary", help="update-fleet: the target updated first, alone (default: the first)")
    start.add_argument("--max-concurrency", type=int, help="update-fleet: hosts updated at once after the canary")
    start.add_argument(
        "--action", help="remediation: what to do (docs/remediation.md); service: docs/daily-operations.md"
    )
    start.add_argument(
        "--service",
        help="remediation: the service (compose-up: default all; restart-service); service: the one to act on "
        "(default: all)",
    )
    start.add_argument("--tail", type=int, help="service --action logs: the last N lines (default 200)")
    start.add_argument("--since", help="service --action logs: the lines since 30m, 2h, 1d or an RFC 3339 UTC time")
    start.add_argument("--ip", help="service --action unban: the address fail2ban should unban")
    start.add_argument(
        "--dry-run",
        action="store_const",
        const=True,
        help="remediation and the maintenance workflows: report the commands, change nothing",
    )
    start.add_argument("--size", type=int, help="db-pool: the new DB_POOL_SIZE")
    start.add_argument("--instance-type", help="scale: the new EC2 instance type (one of allowed_instance_types)")
    start.add_argument("--reboot", help="os-update: if-required (default) or never")
    start.add_argument(
        "--load-while-running",
        action="store_const",
        const=True,
        help="restore by swap: load while the application runs, stop it only for the swap (minimal downtime)",
    )
    start.add_argument("--state-machine-arn", required=True)
    start.add_argument("--wait", action="store_true", help="poll until the execution ends")
    for verb in ("approve", "reject"):
        answer = sub.add_parser(verb, help=f"{verb} a restore waiting for approval")
        answer.add_argument("execution_arn")
        answer.add_argument("--table", required=True, help="the ops DynamoDB table (stack output)")
        answer.add_argument("--reason", default="")
    halt = sub.add_parser("halt-fleet", help="stop a fleet update from starting more hosts (running ones finish)")
    halt.add_argument("execution_arn")
    halt.add_argument("--table", required=True, help="the ops DynamoDB table (stack output)")
    halt.add_argument("--reason", required=True)
    return parser


def _halt_fleet(args: argparse.Namespace) -> int:
    import boto3

    from freshtrack_ops.adapters.dynamo import DynamoFleetGate
    from freshtrack_ops.fleet.models import FLEET_ITEM_KEEP_S, HaltEvent
    from freshtrack_ops.fleet.outcome import halt

    try:
        event = HaltEvent(action="halt", execution_id=args.execution_arn, reason=args.reason)
    except ValidationError as exc:
        print(f"opsctl: invalid input: {describe_validation_error(exc)}", file=sys.stderr)
        return 2
    # the same item and conditional update a failed host's halt uses: running updates finish, no other starts
    gate = DynamoFleetGate(boto3.client("dynamodb"), args.table, keep_seconds=FLEET_ITEM_KEEP_S)
    in_force = halt(event, gate)
    print(f"halted {args.execution_arn} ({in_force.by}: {in_force.reason})")
    started = gate.started(args.execution_arn)
    # a mistyped ARN halts nothing real: say so rather than let the operator believe the fleet stopped
    print(f"hosts started so far: {', '.join(started) or 'none (is this the fleet execution ARN?)'}")
    return 0


def _answer(args: argparse.Namespace) -> int:
    import boto3

    from freshtrack_ops.adapters.approvals import DynamoApprovalStore
    from freshtrack_ops.adapters.task_callback import TaskCallback
    from freshtrack_ops.restore.approval import answer_approval

    answer_approval(
        args.execution_arn,
        approve=args.command == "approve",
        reason=args.reason,
        store=DynamoApprovalStore(boto3.client("dynamodb"), args.table),
        callbacks=TaskCallback(boto3.client("stepfunctions")),
    )
    print(f"{args.command}d {args.execution_arn}")
    return 0


def _start(args: argparse.Namespace) -> int:
    model = INPUT_MODELS[args.workflow]
    flags = {
        "trigger": args.trigger,
        "reason": args.reason,
        "backup_id": args.backup_id,
        "confirm": args.confirm,
        "version": args.version,
        "kind": args.kind,
        "to": args.to,
        "restore_database": args.restore_database,
        "rollback_database": args.rollback_database,
        "allow_downgrade": args.allow_downgrade,
        "load_while_running": args.load_while_running,
        "host": args.host,
        "mode": args.mode,
        "replacement": args.replacement,
        "targets": _targets(args.targets),
        "canary": args.canary,
        "max_concurrency": args.max_concurrency,
        "action": args.action,
        "service": args.service,
        "dry_run": args.dry_run,
        "tail": args.tail,
        "since": args.since,
        "ip": args.ip,
        "size": args.size,
        "instance_type": args.instance_type,
        "reboot": args.reboot,
    }
    raw: dict[str, Any] = {key: value for key, value in flags.items() if value is not None}
    try:
        payload = model.model_validate(raw)
    except ValidationError as exc:
        print(f"opsctl: invalid input: {describe_validation_error(exc)}", file=sys.stderr)
        return 2
    import boto3

    sfn = boto3.client("stepfunctions")
    name = f"{args.workflow}-{args.host or 'fleet'}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
    execution_input = payload.model_dump_json(exclude_none=True)
    arn = sfn.start_execution(stateMachineArn=args.state_machine_arn, name=name, input=execution_input)["executionArn"]
    print(arn)
    if not args.wait:
        return 0
    while (described := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        time.sleep(5)
    print(json.dumps({k: described.get(k) for k in ("status", "output", "error", "cause")}, indent=2, default=str))
    return 0 if described["status"] == "SUCCEEDED" else 1


def _targets(value: str | None) -> str | list[str] | None:
    if value is None or value == "all":
        return value
    return [target.strip() for target in value.split(",")]


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "demo":
        from opsctl.demo import run_demo

        return run_demo(readings=args.readings)
    if args.command == "schema":
        print(json.dumps(INPUT_MODELS[args.workflow].model_json_schema(), indent=2))
        return 0
    if args.command in ("approve", "reject"):
        return _answer(args)
    if args.command == "halt-fleet":
        return _halt_fleet(args)
    return _start(args)
