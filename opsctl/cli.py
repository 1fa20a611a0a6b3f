"""opsctl: the operator's command line.

    opsctl demo                                  run the demo on the embedded local plane
    opsctl schema backup                         print the JSON schema of a workflow's input
    opsctl start backup --host prod --state-machine-arn ARN [--reason TEXT] [--wait]
                                                 validate the input locally, then start the execution
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from pydantic import BaseModel, ValidationError

from freshtrack_ops.config import describe_validation_error
from freshtrack_ops.models import BackupRequest

INPUT_MODELS: dict[str, type[BaseModel]] = {"backup": BackupRequest}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="opsctl", description="FreshTrack Ops operator CLI")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run the demo on the embedded local plane")
    demo.add_argument("--readings", type=int, default=20_000, help="temperature_readings rows to seed")
    schema = sub.add_parser("schema", help="print the JSON schema of a workflow's execution input")
    schema.add_argument("workflow", choices=sorted(INPUT_MODELS))
    start = sub.add_parser("start", help="start a workflow on the deployed control plane")
    start.add_argument("workflow", choices=sorted(INPUT_MODELS))
    start.add_argument("--host", required=True)
    start.add_argument("--reason", default="")
    start.add_argument("--trigger", default="console")
    start.add_argument("--state-machine-arn", required=True)
    start.add_argument("--wait", action="store_true", help="poll until the execution ends")
    return parser


def _start(args: argparse.Namespace) -> int:
    model = INPUT_MODELS[args.workflow]
    raw: dict[str, Any] = {"host": args.host, "trigger": args.trigger, "reason": args.reason}
    try:
        payload = model.model_validate(raw)
    except ValidationError as exc:
        print(f"opsctl: invalid input: {describe_validation_error(exc)}", file=sys.stderr)
        return 2
    import boto3

    sfn = boto3.client("stepfunctions")
    name = f"{args.workflow}-{args.host}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
    arn = sfn.start_execution(stateMachineArn=args.state_machine_arn, name=name, input=payload.model_dump_json())[
        "executionArn"
    ]
    print(arn)
    if not args.wait:
        return 0
    while (described := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        time.sleep(5)
    print(json.dumps({k: described.get(k) for k in ("status", "output", "error", "cause")}, indent=2, default=str))
    return 0 if described["status"] == "SUCCEEDED" else 1


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "demo":
        from opsctl.demo import run_demo

        return run_demo(readings=args.readings)
    if args.command == "schema":
        print(json.dumps(INPUT_MODELS[args.workflow].model_json_schema(), indent=2))
        return 0
    return _start(args)
