"""A profile run folder read back: its trace and the trace's analysis. Every command that compares or
reports runs (report, recommend, sweep, profile) loads them here, once."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from slm_edge.analysis.run import RunAnalysis, analyze
from slm_edge.contract import TRACE_FILE
from slm_edge.errors import BadInput
from slm_edge.records.trace import Trace


@dataclass(frozen=True)
class LoadedRun:
    name: str  # how reports label the run: its folder's name
    folder: Path | None  # None for a trace that was never written to a run folder
    trace: Trace  # validated
    analysis: RunAnalysis


def loaded(name: str, trace: Trace, folder: Path | None = None) -> LoadedRun:
    return LoadedRun(name=name, folder=folder, trace=trace, analysis=analyze(trace))


def load_run(folder: Path, name: str | None = None) -> LoadedRun:
    folder = Path(folder)
    if not (folder / TRACE_FILE).is_file():
        raise BadInput(f"{folder} has no {TRACE_FILE}, so it is not a profile run folder",
                       "pass folders that `slm-edge profile` wrote")
    return loaded(name or folder.name, Trace.load(folder / TRACE_FILE), folder)


def load_runs(folders: Iterable[Path]) -> list[LoadedRun]:
    """One LoadedRun per folder, named by the folder; a name given twice is spelled out as the path."""
    runs: list[LoadedRun] = []
    for folder in folders:
        name = Path(folder).name
        if any(run.name == name for run in runs):
            name = str(folder)
        runs.append(load_run(folder, name))
    return runs
