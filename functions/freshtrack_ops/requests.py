"""A workflow's raw input read into its request model, with the target it names."""

from __future__ import annotations

from typing import Any, Protocol, Self, TypeVar

from pydantic import BaseModel, ValidationError

from freshtrack_ops.config import Target, TargetSet, describe_validation_error
from freshtrack_ops.errors import ConfigError, InvalidInput


class HostRequest(Protocol):
    """A request model (pydantic) that names its target."""

    @property
    def host(self) -> str: ...

    @classmethod
    def model_validate(cls, obj: Any) -> Self: ...


RequestT = TypeVar("RequestT", bound=HostRequest)


ModelT = TypeVar("ModelT", bound=BaseModel)


def parse_model(model: type[ModelT], raw: dict[str, object]) -> ModelT:
    """The request, or InvalidInput naming the field and the value (its target is looked up by the caller)."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise InvalidInput(describe_validation_error(exc)) from exc


def parse_request(model: type[RequestT], raw: dict[str, object], targets: TargetSet) -> tuple[RequestT, Target]:
    """The request and its target, or InvalidInput naming the field (an unknown host names ``host``)."""
    try:
        request = model.model_validate(raw)
        return request, targets.get(request.host)
    except ValidationError as exc:
        raise InvalidInput(describe_validation_error(exc)) from exc
    except ConfigError as exc:
        raise InvalidInput(str(exc)) from exc
