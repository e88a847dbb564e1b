"""Progress display for long steps, and the wall time of each step (kept for the manifest)."""

from __future__ import annotations

import time
from contextlib import contextmanager

from rich.console import Console

console = Console(stderr=True)


class StageTimer:
    """Shows a spinner per step on a terminal and records how long each step took."""

    def __init__(self, quiet: bool = False):
        self.quiet = quiet
        self.seconds: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str):
        start = time.perf_counter()
        if self.quiet:
            yield
        else:
            with console.status(f"[bold]{name}[/bold]…"):
                yield
        elapsed = time.perf_counter() - start
        self.seconds[name] = self.seconds.get(name, 0.0) + elapsed
        if not self.quiet:
            console.print(f"  [green]✓[/green] {name} [dim]({elapsed:.1f} s)[/dim]")

    def total(self) -> float:
        return sum(self.seconds.values())
