"""The report formats: name → renderer. A file renderer is a function of the loaded runs and the
Page they are written for that returns {file name: content}; `table` is the terminal's (report.terminal)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from slm_edge.analysis.loaded import LoadedRun
from slm_edge.cache import atomic_write_text
from slm_edge.errors import BadInput
from slm_edge.report.fields import ROW_FIELDS, run_rows
from slm_edge.report.html_page import render_html
from slm_edge.report.markdown import markdown
from slm_edge.report.perfetto import perfetto

CSV_COLUMNS = [
    "run", "threads", "prompt_length", "repeats", "ttft_ms_median", "prefill_tok_s_median", "prefill_tok_s_cv",
    "decode_tok_s_median", "decode_tok_s_p90", "decode_tok_s_cv", "decode_step_ms_median", "decode_step_ms_p90",
    "decode_step_ms_p99", "load_ms", "peak_hwm_bytes", "rss_increase_bytes",
]
TERMINAL = "table"


@dataclass(frozen=True)
class Page:
    """Where and as what the reports are written: the folder (report.html links cells relative to
    it), the kind of page (run, comparison, sweep; None: by the number of runs) and the comparison's
    baseline run (None: the first)."""

    folder: Path | None = None
    kind: str | None = None
    baseline: str | None = None


def json_files(runs: Sequence[LoadedRun], page: Page = Page()) -> dict[str, str]:
    """One run: its analysis; several: {run name: analysis}."""
    document = runs[0].analysis.to_json() if len(runs) == 1 else {run.name: run.analysis.to_json() for run in runs}
    return {"report.json": json.dumps(document, indent=2) + "\n"}


def csv_files(runs: Sequence[LoadedRun], page: Page = Page()) -> dict[str, str]:
    """The raw figures (no units, no rounding), one line per run and row."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    writer.writerows({key: ROW_FIELDS[key].get(record) for key in CSV_COLUMNS} for record in run_rows(runs))
    return {"report.csv": buffer.getvalue()}


def markdown_files(runs: Sequence[LoadedRun], page: Page = Page()) -> dict[str, str]:
    return {"report.md": markdown(runs, page.baseline)}


def html_files(runs: Sequence[LoadedRun], page: Page = Page()) -> dict[str, str]:
    return {"report.html": render_html(runs, page.folder, page.kind, page.baseline)}


def perfetto_files(runs: Sequence[LoadedRun], page: Page = Page()) -> dict[str, str]:
    return {("perfetto.json" if len(runs) == 1 else f"perfetto-{run.name}.json"): json.dumps(perfetto(run.trace))
            for run in runs}


FILE_FORMATS: dict[str, Callable[[Sequence[LoadedRun], Page], dict[str, str]]] = {
    "json": json_files, "csv": csv_files, "md": markdown_files, "html": html_files, "perfetto": perfetto_files,
}
FORMATS = tuple(FILE_FORMATS)


def choose_formats(names: Iterable[str]) -> list[str]:
    """The formats asked for (`table` and the file formats), or a BadInput naming the first unknown one."""
    wanted = [name.strip() for name in names if name.strip()]
    unknown = [name for name in wanted if name != TERMINAL and name not in FILE_FORMATS]
    if unknown:
        raise BadInput(f"unknown report format {unknown[0]!r}", f"use any of: {TERMINAL}, {', '.join(FORMATS)}")
    return wanted


def write_reports(folder: Path, runs: Sequence[LoadedRun], formats: Iterable[str] = FORMATS, kind: str | None = None,
                  baseline: str | None = None) -> list[Path]:
    """Write the file formats asked for (in FORMATS order) into folder; returns the files written.
    A baseline must name one of the runs."""
    folder, formats = Path(folder), set(formats)
    names = [run.name for run in runs]
    if baseline is not None and baseline not in names:
        raise BadInput(f"baseline {baseline!r} is none of the runs compared", f"use one of: {', '.join(names)}")
    page = Page(folder=folder, kind=kind, baseline=baseline)
    written = []
    for name, render in FILE_FORMATS.items():
        if name in formats:
            for file_name, content in render(runs, page).items():
                atomic_write_text(folder / file_name, content)
                written.append(folder / file_name)
    return written
