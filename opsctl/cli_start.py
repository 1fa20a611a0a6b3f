"""``opsctl start WORKFLOW``: one command per workflow, its options generated from the workflow's input model.

The options are the model's fields (``backup_id`` -> ``--backup-id``), their help the fields' descriptions, so the
CLI cannot drift from what the state machines accept. The input is validated by the same pydantic model before
anything is started: a bad value is one line naming the field, exit 2, and no execution.
"""

from __future__ import annotations

import inspect
import secrets
import time
from collections.abc import Callable
from typing import Any

import typer
from pydantic import BaseModel, ValidationError

from opsctl.cli_schemas import StartedExecution
from opsctl.errors import InvalidArguments
from opsctl.inputs import INPUT_MODELS
from opsctl.session import session

start_app = typer.Typer(
    name="start",
    help="Start a workflow (input validated locally first); --wait follows it live.",
    no_args_is_help=True,
)

#: execution names allow 80 characters of [A-Za-z0-9-_] (Step Functions StartExecution ``name``)
_NAME_LIMIT = 80


def cli_fields(model: type[BaseModel]) -> dict[str, tuple[str, dict[str, Any]]]:
    """field -> (kind, JSON-schema property) for each field an operator can set: str, int, bool or a list given
    comma-separated. Object fields (an alert reference) are set by the webhook, not by hand."""
    schema = model.model_json_schema()
    fields: dict[str, tuple[str, dict[str, Any]]] = {}
    for name, prop in schema.get("properties", {}).items():
        alternatives = prop.get("anyOf", [prop])
        types = {alt.get("type") for alt in alternatives} - {"null", None}
        if any("$ref" in alt for alt in alternatives) or "object" in types:
            continue
        kind = "list" if "array" in types else "bool" if "boolean" in types else "int" if "integer" in types else "str"
        fields[name] = (kind, prop)
    return fields


def _choices(prop: dict[str, Any]) -> list[str]:
    values: list[str] = []
    for alt in prop.get("anyOf", [prop]):
        values += [str(v) for v in alt.get("enum", [])]
        if "const" in alt:
            values.append(str(alt["const"]))
    return values


def _help(prop: dict[str, Any], kind: str) -> str:
    text = str(prop.get("description") or "").rstrip(".")
    choices = _choices(prop)
    only_choices = all(
        "enum" in alt or "const" in alt or alt.get("type") == "null" for alt in prop.get("anyOf", [prop])
    )
    if choices:
        text += f" ({'one of' if only_choices else 'or'}: {', '.join(choices)})"
    if kind == "list":
        text += " (comma-separated)"
    if "default" in prop and prop["default"] not in (None, "", False):
        text += f" [default: {prop['default']}]"
    return text


def _option(name: str, kind: str, prop: dict[str, Any], required: bool) -> inspect.Parameter:
    flag = "--" + name.replace("_", "-")
    annotation: Any
    if kind == "bool":
        annotation, decls = bool | None, [f"{flag}/--no-{name.replace('_', '-')}"]
    else:
        annotation, decls = (int | None if kind == "int" else str | None), [flag]
    default = typer.Option(
        ... if required and kind != "bool" else None, *decls, help=_help(prop, kind), show_default=False
    )
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)


def _command(workflow: str, model: type[BaseModel]) -> Callable[..., None]:
    fields = cli_fields(model)
    required = set(model.model_json_schema().get("required", []))

    def command(ctx: typer.Context, **values: Any) -> None:
        wait, timeout, json_flag = values.pop("wait"), values.pop("timeout"), values.pop("json_flag")
        start_workflow(ctx, workflow, values, wait=wait, timeout=timeout, json_flag=json_flag)

    params = [inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context)]
    params += [_option(name, kind, prop, name in required) for name, (kind, prop) in fields.items()]
    params += [
        inspect.Parameter(
            "wait",
            inspect.Parameter.KEYWORD_ONLY,
            annotation=bool,
            default=typer.Option(
                False, "--wait", help="follow the execution live until it ends; exit 0 only if it succeeded"
            ),
        ),
        inspect.Parameter(
            "timeout",
            inspect.Parameter.KEYWORD_ONLY,
            annotation=float | None,
            default=typer.Option(None, "--timeout", help="with --wait: give up after this many seconds (exit 5)"),
        ),
        inspect.Parameter(
            "json_flag",
            inspect.Parameter.KEYWORD_ONLY,
            annotation=bool,
            default=typer.Option(False, "--json", help="print JSON for scripts"),
        ),
    ]
    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__annotations__ = {param.name: param.annotation for param in params}
    from freshtrack_ops.tasks import WORKFLOWS

    # the catalog's one-line description (the state machine's comment in the console says the same)
    command.__doc__ = WORKFLOWS[workflow].description if workflow in WORKFLOWS else f"Start {workflow}."
    command.__name__ = workflow.replace("-", "_")
    return command


for _workflow, _model in INPUT_MODELS.items():
    start_app.command(_workflow)(_command(_workflow, _model))


def parse_input(workflow: str, values: dict[str, Any]) -> BaseModel:
    """The validated input of ``workflow`` from the given option values (None: not given)."""
    model = INPUT_MODELS[workflow]
    fields = cli_fields(model)
    raw: dict[str, Any] = {}
    for name, value in values.items():
        if value is None:
            continue
        if fields[name][0] == "list" and isinstance(value, str) and value not in _choices(fields[name][1]):
            raw[name] = [part.strip() for part in value.split(",") if part.strip()]
        else:
            raw[name] = value
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        from freshtrack_ops.config import describe_validation_error

        raise InvalidArguments(f"invalid input for {workflow}: {describe_validation_error(exc)}") from None


def execution_name(workflow: str, host: str | None) -> str:
    """``backup-prod-20261201T101500Z-3f2a``: readable in the console, unique (StartExecution refuses a name used in
    the last 90 days)."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return f"{workflow}-{host or 'fleet'}-{stamp}-{secrets.token_hex(2)}"[:_NAME_LIMIT]


def start_workflow(
    ctx: typer.Context, workflow: str, values: dict[str, Any], *, wait: bool, timeout: float | None, json_flag: bool
) -> None:
    current = session(ctx, json_flag)
    payload = parse_input(workflow, values)
    backend = current.backend()
    host = getattr(payload, "host", None)
    name = execution_name(workflow, host)
    started = backend.client("stepfunctions").start_execution(
        stateMachineArn=backend.state_machine_arn(workflow),
        name=name,
        input=payload.model_dump_json(exclude_none=True),
    )
    arn = started["executionArn"]
    if not wait:
        if current.json:
            started_json = StartedExecution(execution_arn=arn, workflow=workflow, input=payload.model_dump(mode="json"))
            current.emit_json(started_json.model_dump(mode="json"))
        else:
            current.out.print(f"started {workflow}{f' on {host}' if host else ''}: {arn}")
            current.out.print(f"follow it: opsctl{' --local' if current.local else ''} show {name}", style="dim")
        return
    from opsctl.live import follow

    raise typer.Exit(follow(current, backend, arn, workflow=workflow, timeout_s=timeout))
