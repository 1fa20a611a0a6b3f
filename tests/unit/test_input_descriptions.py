"""Every field of every workflow input (and of the models inside one) says what it means: the CLI shows these
descriptions as its options' help, and docs/schemas publishes them."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from opsctl.docs_gen.config_reference import models_in
from opsctl.inputs import INPUT_MODELS


def _input_models() -> list[type[BaseModel]]:
    found: list[type[BaseModel]] = []

    def visit(model: type[BaseModel]) -> None:
        if model not in found:
            found.append(model)
            for field in model.model_fields.values():
                for nested in models_in(field.annotation):
                    visit(nested)

    for model in INPUT_MODELS.values():
        visit(model)
    return found


@pytest.mark.parametrize("model", _input_models(), ids=lambda model: model.__name__)
def test_every_input_field_has_a_short_description(model: type[BaseModel]) -> None:
    for name, field in model.model_fields.items():
        description = (field.description or "").strip()
        assert description, f"{model.__name__}.{name}: no description="
        assert "\n" not in description and len(description) <= 160, f"{model.__name__}.{name}: option help is short"
