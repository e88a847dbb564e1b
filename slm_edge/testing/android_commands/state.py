"""The emulated phone's state, shared by its commands: files under SLM_EDGE_DEVICE_STATE (the
properties, installed packages, sensors, faults) and its log."""

from __future__ import annotations

import json
import os
from pathlib import Path

from slm_edge.testing.device_folder import append_log

STATE = Path(os.environ.get("SLM_EDGE_DEVICE_STATE", "/emulator"))


def read_state(name: str, default):
    try:
        return json.loads((STATE / name).read_text())
    except (FileNotFoundError, ValueError):
        return default


def write_state(name: str, value) -> None:
    tmp = STATE / f".{name}.tmp"
    tmp.write_text(json.dumps(value, indent=1))
    os.replace(tmp, STATE / name)


def log(tag: str, message: str, level: str = "I") -> None:
    append_log(STATE, tag, message, level)


def external_files_dir(package: str) -> str:
    """What the app's Context.getExternalFilesDir(null) returns: /storage/emulated/<user>/Android/
    data/<pkg>/files for the user it runs as (AOSP Environment.UserEnvironment), never /sdcard.
    The user is the one `pm install --user N` installed it for (0 by default)."""
    user = int(packages().get(package, {}).get("user", 0))
    return f"/storage/emulated/{user}/Android/data/{package}/files"


def device_abis() -> list[str]:
    return [abi for abi in read_state("props.json", {}).get("ro.product.cpu.abilist", "").split(",") if abi]


def packages() -> dict:
    return read_state("packages.json", {})

