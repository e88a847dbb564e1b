"""Export recipes: YAML files naming a model and how to export it (export_recipes/*.yaml). Their keys
are the export settings (slm_edge.export.config) plus the model and a description."""

from __future__ import annotations

from pathlib import Path

from slm_edge.errors import BadInput
from slm_edge.export.config import SETTINGS, check_setting_types
from slm_edge.model.recipes import load_yaml_mapping

# keys that choose the model rather than how it is exported
SOURCE_KEYS = {"model": str, "random_weights": bool, "description": str}
RECIPE_KEYS = (*SOURCE_KEYS, *SETTINGS)


def load_recipe(path: Path) -> dict:
    """The recipe's keys and values, each checked against its declared type."""
    data = load_yaml_mapping(path, "recipe", "pass a file from export_recipes/ or your own YAML recipe", RECIPE_KEYS)
    for key in data:
        if key not in RECIPE_KEYS:
            raise BadInput(f"recipe {path} has unknown key '{key}'", f"use keys from: {', '.join(RECIPE_KEYS)}")
    where = f"recipe {path}"
    check_setting_types({k: v for k, v in data.items() if k in SETTINGS}, where)
    for key, expected in SOURCE_KEYS.items():
        value = data.get(key, expected())
        if not isinstance(value, expected):
            raise BadInput(f"{where}: '{key}' must be {expected.__name__}, got {type(value).__name__} {value!r}",
                           f"write {key} as a {expected.__name__}")
    return data


def export_settings(recipe: dict) -> dict:
    """The recipe's export settings (what `ExportConfig.from_settings` takes)."""
    return {k: v for k, v in recipe.items() if k in SETTINGS}
