"""Fuzzing every workflow input model and the validators that read them (issue 17, docs/architecture.md#fuzzing).

Arbitrary JSON values, and near-valid inputs (a valid one with one field dropped, replaced, mangled or one key
added), must end as a validated model or pydantic's ValidationError, never another exception; through the
validation path every workflow's first task takes (``requests.parse_model``/``parse_request`` and the plan
functions behind the validate handlers) a refusal is ``InvalidInput`` whose every clause reads
``field: message (got value)`` and names the field that was mangled. The validators get no host runner at all:
that a refused input runs nothing on a host is checked where a runner exists, tests/unit/test_fuzz_host_steps.py.
"""

from __future__ import annotations

import contextlib
import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from freshtrack_ops.backup.plan import plan_backup
from freshtrack_ops.config import LocalTarget, TargetSet, parse_target
from freshtrack_ops.errors import ConfigError, InvalidInput
from freshtrack_ops.maintenance.models import ValidateMaintenanceEvent
from freshtrack_ops.maintenance.plan import plan_maintenance
from freshtrack_ops.models import ValidateBackupEvent, ValidateRestoreEvent
from freshtrack_ops.ports import CatalogEntry, InstanceInfo
from freshtrack_ops.requests import parse_model
from freshtrack_ops.restore.plan import plan_restore, plan_test_restore
from freshtrack_ops.service.models import ValidateServiceEvent
from freshtrack_ops.service.plan import plan_service
from freshtrack_ops.update.plan import plan_update
from opsctl.inputs import INPUT_MODELS
from tests.unit.fakes import FakeAudit, FakeCatalog

#: a valid input of every workflow (the README's examples), the seeds of the near-valid mutations
VALID: dict[str, dict[str, Any]] = {
    "backup": {"host": "demo", "trigger": "console", "reason": "before the v1.3 update"},
    "test-restore": {"host": "demo", "backup_id": "latest"},
    "restore": {"host": "demo", "backup_id": "latest-verified", "confirm": "frostguard", "load_while_running": False},
    "update": {"host": "demo", "version": "v1.2.3", "reason": "monthly", "rollback_database": "auto"},
    "update-fleet": {"version": "latest", "targets": "all", "canary": "demo", "max_concurrency": 2},
    "rollback": {"host": "demo", "to": "previous", "confirm": "demo", "restore_database": "auto"},
    "disaster-recovery": {"host": "demo", "mode": "recover", "confirm": "demo.example.com"},
    "capture-config": {"host": "demo"},
    "remediation": {"host": "demo", "action": "restart-service", "service": "backend", "dry_run": True},
    "daily-check": {"host": "demo", "trigger": "schedule"},
    "service": {"host": "demo", "action": "logs", "service": "backend", "tail": 50, "since": "2h"},
    "os-update": {"host": "demo", "reboot": "if-required", "dry_run": False},
    "rotate-secrets": {"host": "demo", "confirm": "demo"},
    "db-pool": {"host": "demo", "size": 20},
    "scale": {"host": "cloud", "instance_type": "t3.large", "confirm": "cloud"},
    "drop-asides": {"host": "demo"},
}
WORKFLOWS = sorted(INPUT_MODELS)

#: what an attacker or a typo puts in a string: shell metacharacters, quotes, control characters, a leading
#: dash, path traversal, look-alikes (Cyrillic a, fullwidth digits, Arabic-Indic digits, a zero-width space)
DANGEROUS = [";", "|", "&", "$", "`", "(", ")", "<", ">", "'", '"', "\\", "\n", "\r", "\t", "\x00", " ", "-",
             "..", "/", "*", "?", "~", "{", "}", "%", "#", "=",
             "\u0430", "\uff11", "\u0661", "\u200b", "\u00e9"]  # fmt: skip

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.sampled_from(DANGEROUS)
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)


@st.composite
def mangled_strings(draw: st.DrawFn, value: str) -> str:
    """``value`` near-valid: a dangerous piece inserted, cut short, doubled, upper-cased or padded."""
    how = draw(st.sampled_from(["insert", "cut", "double", "upper", "pad", "replace"]))
    if how == "insert":
        at = draw(st.integers(0, len(value)))
        return value[:at] + draw(st.sampled_from(DANGEROUS)) + value[at:]
    if how == "cut":
        return value[: draw(st.integers(0, max(len(value) - 1, 0)))]
    if how == "double":
        return value + value
    if how == "upper":
        return value.upper() if value.upper() != value else value + "X"
    if how == "pad":
        return value + "a" * draw(st.integers(1, 300))
    return draw(st.text(max_size=40))


@st.composite
def near_valid(draw: st.DrawFn, workflow: str) -> tuple[dict[str, Any], str]:
    """A valid input with one change, and the key it changed."""
    raw = dict(VALID[workflow])
    fields = sorted(INPUT_MODELS[workflow].model_fields)
    how = draw(st.sampled_from(["drop", "replace", "mangle", "extra"]))
    key = draw(st.sampled_from(sorted(raw) if how in ("drop", "mangle") else fields))
    if how == "drop":
        del raw[key]
    elif how == "replace":
        raw[key] = draw(json_values)
    elif how == "mangle":
        value = raw[key]
        raw[key] = draw(mangled_strings(value)) if isinstance(value, str) else draw(json_values)
    else:
        key = draw(st.text(min_size=1, max_size=12).filter(lambda k: k not in fields))
        raw[key] = draw(json_values)
    return raw, key


inputs = st.sampled_from(WORKFLOWS).flatmap(
    lambda w: st.tuples(
        st.just(w),
        st.one_of(
            near_valid(w),
            st.dictionaries(
                st.sampled_from(sorted(INPUT_MODELS[w].model_fields)) | st.text(max_size=8), json_values, max_size=6
            ).map(lambda raw: (raw, "")),
        ),
    )
)

#: an InvalidInput's message: one or more ``field: message (got value)`` clauses joined by ``; ``
REFUSAL = re.compile(r"^.+?: .+? \(got .*?\)(; .+?: .+? \(got .*?\))*$", re.DOTALL)


#: a refusal that names its field first
NAMES_A_FIELD = re.compile(r"""^([A-Za-z_][A-Za-z0-9_.]*|['"].*?): \S""", re.DOTALL)


def _check_refusal(message: str, key: str) -> None:
    """The message has the clause form; when one change made the input invalid, a clause names its key (an unknown
    key that is no identifier is named quoted, as ``repr`` writes it)."""
    assert REFUSAL.match(message), message
    if key:
        named = re.search(rf"(^|; ){re.escape(key)}(\.[^:]*)?: ", message) or repr(key)[:30] in message
        assert named, (key, message)


def test_every_workflow_has_a_valid_seed() -> None:
    assert sorted(VALID) == WORKFLOWS
    for workflow, raw in VALID.items():
        INPUT_MODELS[workflow].model_validate(raw)


@settings(max_examples=250)
@given(case=inputs)
def test_every_input_model_validates_or_raises_validation_error(case: tuple[str, tuple[dict[str, Any], str]]) -> None:
    workflow, (raw, _key) = case
    model: type[BaseModel] = INPUT_MODELS[workflow]
    try:
        validated = model.model_validate(raw)
    except ValidationError:
        return
    # what the model accepted survives its own round trip (the CLI dumps it, the state machine passes it on)
    assert model.model_validate(json.loads(validated.model_dump_json())) == validated


@settings(max_examples=150)
@given(workflow=st.sampled_from(WORKFLOWS), raw=json_values)
def test_any_json_value_as_the_whole_input_is_refused_cleanly(workflow: str, raw: Any) -> None:
    with contextlib.suppress(ValidationError):
        INPUT_MODELS[workflow].model_validate(raw)


@settings(max_examples=250)
@given(case=inputs)
def test_a_refusal_is_invalid_input_naming_the_field_and_the_value(
    case: tuple[str, tuple[dict[str, Any], str]],
) -> None:
    workflow, (raw, key) = case
    try:
        parse_model(INPUT_MODELS[workflow], raw)
    except InvalidInput as exc:
        _check_refusal(str(exc), key)


def test_an_unknown_key_that_is_no_identifier_is_named() -> None:
    """Found by the fuzzer: ``{"dry-run": true}`` (a CLI flag's spelling) was refused as "(input): Extra inputs are
    not permitted (got True)", naming no field. The key is named now, quoted as written."""
    with pytest.raises(InvalidInput) as caught:
        parse_model(INPUT_MODELS["os-update"], {"host": "demo", "dry-run": True})
    assert str(caught.value) == "'dry-run': Extra inputs are not permitted (got True)"
    with pytest.raises(InvalidInput, match=r"^dryrun: Extra inputs are not permitted \(got True\)$"):
        parse_model(INPUT_MODELS["os-update"], {"host": "demo", "dryrun": True})


# -- the validate handlers' plan functions, with fakes ---------------------------------------------------------
NOW = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)
EXECUTION = "arn:aws:states:eu-west-1:123456789012:execution:ftops:run-1"
TARGETS = TargetSet(
    targets=(
        LocalTarget(id="demo", domain="demo.example.com"),
        parse_target(
            {"id": "cloud", "transport": "ssm", "instance_id": "i-0123456789abcdef0", "domain": "cloud.example.com",
             "maintenance": {"allowed_instance_types": ["t3.medium", "t3.large"]}}
        ),
    )
)  # fmt: skip
BACKUP = CatalogEntry(
    host="demo", backup_id="demo-20261128T020000Z-00000002",
    dump_key="backups/demo/2026/11/28/demo-20261128T020000Z-00000002.dump",
    manifest_key="backups/demo/2026/11/28/demo-20261128T020000Z-00000002.manifest.json", size_bytes=1,
    finished_at="2026-11-28T02:00:00+00:00", verification_status="passed",
)  # fmt: skip


class Instances:
    def describe(self, instance_id: str) -> InstanceInfo:
        return InstanceInfo(instance_id, "running", "t3.medium", "eu-west-1a")

    def start(self, instance_id: str) -> None:
        raise AssertionError("the validator changes nothing")

    stop = start

    def set_instance_type(self, instance_id: str, instance_type: str) -> None:
        raise AssertionError("the validator changes nothing")


def _validate(workflow: str, raw: dict[str, Any]) -> object:
    """What the workflow's validate handler does with ``raw``, on fakes."""
    if workflow in ("backup", "update"):
        event = ValidateBackupEvent(request=raw, execution_id=EXECUTION, started_at=NOW)
        return (plan_backup if workflow == "backup" else plan_update)(event, TARGETS)
    if workflow in ("test-restore", "restore"):
        restore = ValidateRestoreEvent(request=raw, execution_id=EXECUTION, started_at=NOW)
        if workflow == "test-restore":
            return plan_test_restore(restore, TARGETS, FakeCatalog([BACKUP]))
        return plan_restore(restore, TARGETS, FakeCatalog([BACKUP]))
    if workflow == "service":
        return plan_service(
            ValidateServiceEvent(request=raw, execution_id=EXECUTION), TARGETS, audit=FakeAudit(), now=NOW
        )
    maintenance = ValidateMaintenanceEvent(
        workflow=workflow, request=raw, execution_id=EXECUTION, started_at=NOW.isoformat()
    )
    return plan_maintenance(maintenance, TARGETS, audit=FakeAudit(), now=NOW, instances=Instances())


PLANNED = ["backup", "update", "test-restore", "restore", "service", "os-update", "rotate-secrets", "db-pool", "scale"]
planned_inputs = st.sampled_from(PLANNED).flatmap(lambda w: st.tuples(st.just(w), near_valid(w)))


@settings(max_examples=200)
@given(case=planned_inputs)
def test_the_validate_step_plans_or_refuses_with_invalid_input(case: tuple[str, tuple[dict[str, Any], str]]) -> None:
    workflow, (raw, _key) = case
    try:
        _validate(workflow, raw)
    except (InvalidInput, ConfigError) as exc:  # ConfigError: an unknown host, for service and maintenance
        # the model's refusals read "field: message (got value)"; what the plan refuses after the model (an unknown
        # host, a confirmation, a backup that is not there) names its field first too, in its own words
        assert NAMES_A_FIELD.match(str(exc)), str(exc)
