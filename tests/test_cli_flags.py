"""Library messages name settings as `{setting}` and the CLI renders them as flags (slm_edge/errors.py):
every such placeholder must be a known setting, and every known setting must render to a real option."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import click

import slm_edge
from slm_edge.cli import main
from slm_edge.errors import SETTINGS, BadInput, cli_flag

ERROR_TYPES = {"SlmEdgeError", "BadInput", "DeviceGone", "RuntimeFailure", "DeviceBusy"}
PLACEHOLDER = re.compile(r"\{([a-z][a-z0-9_]*)\}")


def _all_options(group: click.Group) -> set[str]:
    options = set()
    for command in group.commands.values():
        if isinstance(command, click.Group):
            options |= _all_options(command)
        for param in command.params:
            options.update(getattr(param, "opts", ()))
    return options


def _error_placeholders() -> dict[str, list[str]]:
    """`{name}` in the literal text of every error raised in slm_edge, by name → where."""
    found: dict[str, list[str]] = {}
    root = Path(slm_edge.__file__).parent
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) in ERROR_TYPES):
                continue
            for part in ast.walk(node):
                if isinstance(part, ast.Constant) and isinstance(part.value, str):
                    for name in PLACEHOLDER.findall(part.value):
                        found.setdefault(name, []).append(f"{path.relative_to(root)}:{node.lineno}")
    return found


def test_every_setting_renders_to_a_real_option():
    options = _all_options(main)
    missing = {s: cli_flag(s) for s in SETTINGS if cli_flag(s) not in options}
    assert not missing, f"settings whose flag no command has (fix errors.CLI_FLAGS or SETTINGS): {missing}"


def test_every_placeholder_in_an_error_is_a_setting():
    unknown = {name: where for name, where in _error_placeholders().items() if name not in SETTINGS}
    assert not unknown, f"placeholders users would see with their braces (add to errors.SETTINGS or reword): {unknown}"


def test_rendering_leaves_other_braces_alone():
    err = BadInput("Maven said ${basedir} is unset for {max_seq_len}", "use {serial} X or {path} generic")
    assert err.one_line(cli=True) == "Maven said ${basedir} is unset for --max-seq-len. Fix: use --device X or --path generic."
    assert str(err) == "Maven said ${basedir} is unset for max_seq_len. Fix: use serial X or path generic."
