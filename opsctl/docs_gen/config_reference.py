"""docs/configuration.md's reference tables, one per settings model, from the pydantic models themselves.

Columns: field, type, default, allowed values (constraints, Literal choices, patterns), meaning (the field's
``description``), example (its ``examples``). A union of models picked by ``transport`` (a target, a standby) is
one table: the fields every kind has, then each kind's own, marked with the transport they belong to.
"""

from __future__ import annotations

import re
import types
from collections.abc import Callable, Iterator, Sequence
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import AfterValidator, BaseModel, HttpUrl
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from freshtrack_ops.alerts.settings import WebhookSettings
from freshtrack_ops.chat.settings import ChatSettings
from freshtrack_ops.config import (
    BackupSettings,
    DeploymentConfig,
    DrSettings,
    LocalTarget,
    RestoreSettings,
    SshStandby,
    SshTarget,
    SsmStandby,
    SsmTarget,
    UpdateSettings,
    VpcPlacement,
    _no_dotdot,
)
from freshtrack_ops.daily.settings import Band, DailyCheckSettings, FirewallRule
from freshtrack_ops.maintenance.settings import MaintenanceSettings
from freshtrack_ops.remediation.settings import AlertRule, RemediationSettings
from freshtrack_ops.schedules import scheduler_cron

#: a table's name -> the model(s) it documents (several: a union picked by ``transport``; LocalTarget, the embedded
#: plane's kind, is never in a deployment and not documented)
CONFIG_MODELS: dict[str, tuple[type[BaseModel], ...]] = {
    "DeploymentConfig": (DeploymentConfig,),
    "WebhookSettings": (WebhookSettings,),
    "ChatSettings": (ChatSettings,),
    "VpcPlacement": (VpcPlacement,),
    "Target": (SshTarget, SsmTarget),
    "BackupSettings": (BackupSettings,),
    "RestoreSettings": (RestoreSettings,),
    "UpdateSettings": (UpdateSettings,),
    "RemediationSettings": (RemediationSettings,),
    "AlertRule": (AlertRule,),
    "DailyCheckSettings": (DailyCheckSettings,),
    "Band": (Band,),
    "FirewallRule": (FirewallRule,),
    "MaintenanceSettings": (MaintenanceSettings,),
    "DrSettings": (DrSettings,),
    "Standby": (SshStandby, SsmStandby),
}

#: validators whose rule a reader needs spelled out (the function is all the annotation carries)
_VALIDATORS: dict[Callable[..., Any], str] = {
    scheduler_cron: "an EventBridge Scheduler `cron(...)` expression (UTC; six fields, `?` in exactly one of "
    "day-of-month and day-of-week)",
    _no_dotdot: "no `..`",
}
_TO = " \N{EN DASH} "
#: a default longer than this is left to the meaning column
_MAX_DEFAULT = 60


def all_config_models() -> list[type[BaseModel]]:
    """Every model a deployment file can contain (DeploymentConfig and every model its fields reach)."""
    found: list[type[BaseModel]] = []

    def visit(model: type[BaseModel]) -> None:
        if model in found:
            return
        found.append(model)
        for field in model.model_fields.values():
            for nested in models_in(field.annotation):
                visit(nested)

    visit(DeploymentConfig)
    return [m for m in found if m is not LocalTarget]


def models_in(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        return
    for arg in get_args(annotation):
        yield from models_in(arg)


def model_table(name: str) -> str:
    """The Markdown table of one entry of CONFIG_MODELS."""
    models = CONFIG_MODELS[name]
    lines = [
        "| field | type | default | allowed values | meaning | example |",
        "|---|---|---|---|---|---|",
    ]
    for field_name, field, only in _fields(models):
        meaning = _describe(field.description or "")
        if only:
            meaning = f"`{only}` only. {meaning}"
        lines.append(
            "| "
            + " | ".join(
                [
                    f"`{field_name}`",
                    _cell(_type(field.annotation)),
                    _cell(_default(field, only)),
                    _cell(_allowed(field)),
                    _cell(meaning),
                    _cell(", ".join(_code(_value(e)) for e in field.examples or [])),
                ]
            )
            + " |"
        )
    return "\n".join(lines) + "\n"


def _fields(models: Sequence[type[BaseModel]]) -> list[tuple[str, FieldInfo, str]]:
    """(name, field, the transport it belongs to or "") in declaration order: shared fields first."""
    if len(models) == 1:
        return [(n, f, "") for n, f in models[0].model_fields.items()]
    shared = [n for n in models[0].model_fields if all(n in m.model_fields for m in models)]
    first = [n for n in ("id", "transport") if n in shared]
    rows: list[tuple[str, FieldInfo, str]] = []
    for name in first:
        field = models[0].model_fields[name]
        if name == "transport":  # the discriminator: one row naming every kind
            choices = [get_args(m.model_fields[name].annotation)[0] for m in models]
            field = FieldInfo(annotation=Literal[tuple(choices)], description=field.description)  # type: ignore[arg-type]
        rows.append((name, field, ""))
    for model in models:
        transport = str(model.model_fields["transport"].default)
        rows += [(n, f, transport) for n, f in model.model_fields.items() if n not in shared]
    return rows + [(n, models[0].model_fields[n], "") for n in shared if n not in first]


def _strip(annotation: Any) -> tuple[Any, list[Any]]:
    """The annotation without Annotated/Optional wrappers, and the metadata they carried."""
    metadata: list[Any] = []
    while True:
        if get_origin(annotation) is Annotated:
            annotation, *extra = get_args(annotation)
            metadata += extra
            continue
        if _is_union(annotation):
            members = [a for a in get_args(annotation) if a is not type(None)]
            if len(members) == 1:
                annotation = members[0]
                continue
        return annotation, metadata


def _union_name(annotation: Any) -> str | None:
    """The table a union of models is documented in (``Target``, ``Standby``), if it is one."""
    members = {a for a in get_args(annotation) if a is not type(None)}
    for name, models in CONFIG_MODELS.items():
        if len(models) > 1 and set(models) <= members:
            return name
    return None


def _is_union(annotation: Any) -> bool:
    return get_origin(annotation) in (Union, types.UnionType)


def _type(annotation: Any) -> str:  # noqa: PLR0911 - one answer per kind of type
    annotation, _ = _strip(annotation)
    origin = get_origin(annotation)
    if origin is Literal:
        return "string" if all(isinstance(a, str) for a in get_args(annotation)) else "enum"
    if _is_union(annotation):
        name = _union_name(annotation)
        if name:
            return f"`{name}`"
        return " or ".join(dict.fromkeys(_type(a) for a in get_args(annotation) if a is not type(None)))
    if origin in (tuple, list):
        return f"list of {_type(get_args(annotation)[0])}"
    if origin is dict:
        key, value = get_args(annotation)
        return f"map of {_type(key)} to {_type(value)}"
    if annotation is HttpUrl:
        return "URL"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"`{annotation.__name__}`"
    names = {str: "string", int: "integer", float: "number", bool: "boolean"}
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _constraints(metadata: Sequence[Any], unit: str = "characters") -> list[str]:
    """What one level of metadata allows: ranges, lengths, patterns, validators."""
    bounds: dict[str, Any] = {}
    parts: list[str] = []
    for item in metadata:
        for attribute in ("ge", "gt", "le", "lt", "min_length", "max_length", "pattern"):
            value = getattr(item, attribute, None)
            if value is not None:
                bounds[attribute] = value
        if isinstance(item, AfterValidator) and item.func in _VALIDATORS:
            parts.append(_VALIDATORS[item.func])
    low = bounds.get("ge", bounds.get("gt"))
    high = bounds.get("le", bounds.get("lt"))
    if "ge" in bounds and "le" in bounds:
        parts.insert(0, f"{_number(low)}{_TO}{_number(high)}")
    elif low is not None or high is not None:
        ranges = []
        if low is not None:
            ranges.append(("≥ " if "ge" in bounds else "> ") + _number(low))
        if high is not None:
            ranges.append(("≤ " if "le" in bounds else "< ") + _number(high))
        parts.insert(0, ", ".join(ranges))
    if "pattern" in bounds:
        parts.insert(1 if low is not None or high is not None else 0, _code(bounds["pattern"]))
    if "min_length" in bounds or "max_length" in bounds:
        parts.append(_length(bounds.get("min_length"), bounds.get("max_length"), unit))
    return parts


def _length(low: int | None, high: int | None, unit: str) -> str:
    if low is not None and high is not None:
        return f"{low}{_TO}{high} {unit}"
    if low == 1:
        return "not empty"
    return f"at least {low} {unit}" if low is not None else f"at most {high} {unit}"


def _allowed(field: FieldInfo) -> str:
    is_list = get_origin(_strip(field.annotation)[0]) in (tuple, list)
    parts = _constraints(field.metadata, "entries" if is_list else "characters")
    parts += _allowed_in(field.annotation)
    return "; ".join(dict.fromkeys(p for p in parts if p))


def _allowed_in(annotation: Any) -> list[str]:
    annotation, metadata = _strip(annotation)
    parts = _constraints(metadata)
    origin = get_origin(annotation)
    if origin is Literal:
        parts.append(", ".join(_code(_value(a)) for a in get_args(annotation)))
    elif _is_union(annotation) and _union_name(annotation) is None:
        members = [", ".join(_allowed_in(a)) or _type(a) for a in get_args(annotation) if a is not type(None)]
        parts.append(" or ".join(members))
    elif origin in (tuple, list):
        item = "; ".join(_allowed_in(get_args(annotation)[0]))
        if item:
            parts.append(f"each {item}")
    elif origin is dict:
        key, value = (" ".join(_allowed_in(a)) for a in get_args(annotation))
        if key:
            parts.append(f"keys {key}")
        if value:
            parts.append(f"values {value}")
    elif annotation is HttpUrl:
        parts.append("an http(s) URL")
    return parts


def _default(field: FieldInfo, only: str) -> str:
    if field.default_factory is not None:
        value: Any = field.default_factory()  # type: ignore[call-arg]
    elif field.default is PydanticUndefined:
        return f"— (required for `{only}`)" if only else "— (required)"
    else:
        value = field.default
    if value is None:
        return "unset"
    if isinstance(value, BaseModel) and _is_all_defaults(value):
        return "all defaults"
    text = _code(_value(value))
    return text if len(text) <= _MAX_DEFAULT else "see meaning"


def _is_all_defaults(value: BaseModel) -> bool:
    try:
        return value == type(value)()
    except ValueError:  # a model with required fields
        return False


def _value(value: Any) -> str:
    """A value as YAML flow style would write it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, BaseModel):
        dumped = value.model_dump(mode="json", exclude_defaults=True)
        return "{" + ", ".join(f"{k}: {_value(v)}" for k, v in dumped.items()) + "}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, float) and value.is_integer():
        return f"{value:.1f}"
    return str(value)


def _number(value: Any) -> str:
    return f"{value:,}".replace(",", " ") if isinstance(value, int) and abs(value) >= 100_000 else f"{value:g}"


def _code(text: str) -> str:
    fence = "``" if "`" in text else "`"
    pad = " " if fence == "``" else ""
    return f"{fence}{pad}{text}{pad}{fence}"


_DOC_LINK = re.compile(r"(?<![\w/\[])(?<!\]\()docs/([a-z0-9-]+\.md)(#[a-z0-9-]+)?")


def _describe(text: str) -> str:
    """A description as the meaning column shows it: ``docs/x.md`` references as links (the page is in docs/)."""
    return _DOC_LINK.sub(lambda m: f"[{m.group(1)}{m.group(2) or ''}]({m.group(1)}{m.group(2) or ''})", text)


def _cell(text: str) -> str:
    """Escape what would end a Markdown table cell (a pipe, also inside code spans) and keep it on one line."""
    return " ".join(text.split()).replace("|", "\\|")


__all__ = ["CONFIG_MODELS", "all_config_models", "model_table", "models_in"]
