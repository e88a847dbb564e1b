"""`slm-edge report`: re-render one run's reports, or compare runs side by side."""

from __future__ import annotations

from pathlib import Path

import click

from slm_edge.cli.output import console, results
from slm_edge.errors import BadInput


@click.command()
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--format", "formats", default="table", show_default=True,
              help="Comma-separated: table, md, json, csv, html, perfetto (files go to --out).")
@click.option("--out", type=click.Path(path_type=Path), help="Folder for report files [default: the single run folder].")
@click.option("--baseline", help="Run (folder name) the others are compared to, as ratios [default: the first].")
def report(run_dirs, formats, out, baseline):
    """Re-render one run's reports, or compare several runs side by side."""
    from slm_edge.analysis.loaded import load_runs
    from slm_edge.report import TERMINAL, choose_formats, headline_table, terminal_table, write_reports

    wanted = choose_formats(formats.split(","))
    runs = load_runs(run_dirs)
    names = [run.name for run in runs]
    if baseline is not None and baseline not in names:
        raise BadInput(f"--baseline {baseline!r} is none of the runs compared", f"use one of: {', '.join(names)}")
    if TERMINAL in wanted:
        results.print(terminal_table(runs))
        results.print(headline_table(runs, baseline))
    files = [f for f in wanted if f != TERMINAL]
    if files:
        target = out or (Path(run_dirs[0]) if len(run_dirs) == 1 else None)
        if target is None:
            raise BadInput("several runs and no --out folder for the files", "pass --out DIR")
        target.mkdir(parents=True, exist_ok=True)
        for path in write_reports(target, runs, files, baseline=baseline):
            console.print(f"wrote {path}")
