"""Export recipes: YAML files naming a model and how to export it (export_recipes/*.yaml)."""

from __future__ import annotations

from pathlib import Path

import yaml

from slm_edge.errors import SlmEdgeError

# recipe key → (type, CLI option it stands for)
RECIPE_KEYS = {
    "model": (str, "MODEL"),
    "random_weights": (bool, "--random-weights"),
    "backend": (str, "--backend"),
    "quant": (str, "--quant"),
    "group_size": (int, "--group-size"),
    "embedding_quant": (str, "--embedding-quant"),
    "max_seq_len": (int, "--max-seq-len"),
    "path": (str, "--path"),
    "block_size": (int, "--block-size"),
    "accuracy_level": (int, "--accuracy-level"),
    "execution_provider": (str, "--execution-provider"),
    "description": (str, None),
}


def load_yaml_mapping(path: Path, what: str, where_to_find: str, keys) -> dict:
    """A YAML file that must hold a mapping (recipes, sweep specs), or a one-line error saying why not."""
    path = Path(path)
    if not path.is_file():
        raise SlmEdgeError(f"{what} not found: {path}", where_to_find)
    try:
        data = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise SlmEdgeError(f"{what} {path} is not valid YAML ({str(exc).splitlines()[0]})", "fix the YAML syntax") from exc
    if not isinstance(data, dict):
        raise SlmEdgeError(f"{what} {path} must be a mapping of keys to values", f"use keys from: {', '.join(keys)}")
    return data


def load_recipe(path: Path) -> dict:
    data = load_yaml_mapping(path, "recipe", "pass a file from export_recipes/ or your own YAML recipe", RECIPE_KEYS)
    for key, value in data.items():
        if key not in RECIPE_KEYS:
            raise SlmEdgeError(f"recipe {path} has unknown key '{key}'", f"use keys from: {', '.join(RECIPE_KEYS)}")
        expected, _ = RECIPE_KEYS[key]
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise SlmEdgeError(
                f"recipe {path}: '{key}' must be {expected.__name__}, got {type(value).__name__} {value!r}",
                f"write {key} as a {expected.__name__}",
            )
    return data
