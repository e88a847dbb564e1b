"""Progress display for long steps, the wall time of each step (kept for the manifest), and this
process's resident memory (VmRSS and its peak VmHWM)."""

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


PROC_STATUS = "/proc/self/status"


def read_status_memory() -> tuple[int, int]:
    """(VmRSS, VmHWM) of this process in bytes. One small read: cheap enough for 10 ms sampling."""
    rss = hwm = 0
    with open(PROC_STATUS, "rb") as f:
        for line in f:
            if line.startswith(b"VmRSS:"):
                rss = int(line.split()[1]) * 1024
            elif line.startswith(b"VmHWM:"):
                hwm = int(line.split()[1]) * 1024
    return rss, hwm


def reset_peak_rss() -> bool:
    """Sets this process's VmHWM back to its current RSS (Linux >= 4.0: "5" to /proc/self/clear_refs,
    the kernel's Documentation/filesystems/proc.rst), so a later VmHWM is the peak of what came after.
    False where the kernel refuses: the peak then also covers what ran before."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False
