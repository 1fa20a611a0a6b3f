"""Chain a test restore to a finished backup (config ``backup.verify_after_backup``)."""

from __future__ import annotations

import json
from typing import Any

from freshtrack_ops.config import Target
from freshtrack_ops.models import BackupOutput, ChainResult


def chain_test_restore(result: BackupOutput, target: Target, sfn: Any, state_machine_arn: str) -> ChainResult:
    if not target.backup.verify_after_backup:
        return ChainResult(started=False, reason="backup.verify_after_backup is off for this target")
    if not state_machine_arn:
        return ChainResult(started=False, reason="no test-restore state machine configured")
    response = sfn.start_execution(
        stateMachineArn=state_machine_arn,
        # one verification per backup: Step Functions refuses a second execution with the same name
        name=f"verify-{result.backup_id}"[:80],
        input=json.dumps({"host": result.host, "backup_id": result.backup_id}),
    )
    return ChainResult(started=True, execution_arn=str(response["executionArn"]))
