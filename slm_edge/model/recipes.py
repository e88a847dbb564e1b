"""YAML files of settings (export recipes, sweep specs): a mapping, or a one-line error saying why not.
The recipe keys themselves are the export settings: see slm_edge.export.recipes."""

from __future__ import annotations

from pathlib import Path

import yaml

from slm_edge.errors import BadInput


def load_yaml_mapping(path: Path, what: str, where_to_find: str, keys) -> dict:
    """A YAML file that must hold a mapping (recipes, sweep specs), or a one-line error saying why not."""
    path = Path(path)
    if not path.is_file():
        raise BadInput(f"{what} not found: {path}", where_to_find)
    try:
        data = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise BadInput(f"{what} {path} is not valid YAML ({str(exc).splitlines()[0]})", "fix the YAML syntax") from exc
    if not isinstance(data, dict):
        raise BadInput(f"{what} {path} must be a mapping of keys to values", f"use keys from: {', '.join(keys)}")
    return data
