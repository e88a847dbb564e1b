"""What every command shares: where output goes, how sizes and lists read, and the human/JSON choice."""

from __future__ import annotations

import json
import sys
from typing import Any, Callable

import click
from rich.console import Console

from slm_edge.errors import BadInput
from slm_edge.progress import console  # progress and errors: stderr

# Tables go to stdout (full width when piped to a file), progress and errors to stderr.
results = Console() if sys.stdout.isatty() else Console(width=200)

__all__ = ["console", "emit", "explicit", "human_bytes", "int_list", "results"]


def emit(data: Any, as_json: bool, human: Callable[[], None]) -> None:
    """One result, printed as JSON on stdout or as the command's human rendering."""
    if as_json:
        click.echo(json.dumps(data, indent=2))
    else:
        human()


def human_bytes(n: int | None) -> str:
    if n is None:
        return "—"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def explicit(ctx: click.Context, name: str) -> bool:
    """Whether the user gave option `name` (not its default)."""
    return ctx.get_parameter_source(name) not in (click.core.ParameterSource.DEFAULT, None)


def int_list(value: str, option: str) -> list[int]:
    """A comma-separated list of positive integers given to `option` (e.g. --prompt-lengths 32,128)."""
    try:
        items = [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise BadInput(f"{option} {value!r} is not a comma-separated list of integers",
                       f"write e.g. {option} 32,128") from None
    if not items or any(v < 1 for v in items):
        raise BadInput(f"{option} {value!r} must list positive integers", f"write e.g. {option} 32,128")
    return items
