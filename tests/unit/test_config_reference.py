"""The configuration reference (docs/configuration.md's tables) is generated from the models: every field of every
model a deployment file can hold says what it means, and every such model has its table."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from opsctl.docs_gen.config_reference import CONFIG_MODELS, all_config_models, model_table

MODELS = all_config_models()


@pytest.mark.parametrize("model", MODELS, ids=lambda model: model.__name__)
def test_every_config_field_has_a_description(model: type[BaseModel]) -> None:
    missing = [name for name, field in model.model_fields.items() if not (field.description or "").strip()]
    assert not missing, f"{model.__name__}: fields without description=: {missing}"


def test_every_config_model_has_a_table() -> None:
    documented = {model for models in CONFIG_MODELS.values() for model in models}
    assert set(MODELS) <= documented | {model.__base__ for model in documented}, "add it to CONFIG_MODELS"
    assert {m.__name__ for m in MODELS} >= {"DeploymentConfig", "DrSettings", "DailyCheckSettings", "ChatSettings"}


def test_a_table_shows_type_default_constraints_meaning_and_example() -> None:
    rows = {line.split(" | ")[0].strip("| `"): line for line in model_table("BackupSettings").splitlines()[2:]}
    assert rows["lock_lease_seconds"].startswith("| `lock_lease_seconds` | integer | `3600` | 60 \N{EN DASH} 86400 |")
    assert "`auto`, `gzip-default`" in rows["compression"]
    assert "[performance.md](performance.md)" in rows["compression"]  # docs/ references become links
    assert "`cron(0 2 * * ? *)`, `rate(6 hours)` |" in rows["schedule"]
    target = model_table("Target")
    assert "| `address` | string | — (required for `ssh`) |" in target
    assert "| `transport` | string | — (required) | `ssh`, `ssm` |" in target
    assert "\\|" in model_table("WebhookSettings")  # a pattern's pipe does not end the cell
