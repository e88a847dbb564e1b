"""`slm-edge sweep`: every model × backend × scheme of a spec, exported, verified, profiled."""

from __future__ import annotations

from pathlib import Path

import click

from slm_edge.cli.output import console, results
from slm_edge.errors import BadInput, DeviceGone


@click.command()
@click.argument("spec", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), help="Sweep folder [default: runs/sweep-NAME]; rerun to resume.")
@click.option("--models", callback=lambda ctx, param, value: value.split(",") if value else None,
              help="Run only these models of the spec (comma-separated, as the spec names them).")
@click.option("--backends", callback=lambda ctx, param, value: value.split(",") if value else None,
              help="Run only these backends of the spec (comma-separated: executorch, onnx).")
@click.option("--schemes", callback=lambda ctx, param, value: value.split(",") if value else None,
              help="Run only these quantization schemes of the spec (comma-separated, e.g. int4,8da4w).")
def sweep(spec, out, models, backends, schemes):
    """Export (cached), verify and profile every model × backend × scheme of SPEC, then one combined report."""
    from slm_edge.report import quantization_markdown, terminal_table
    from slm_edge.workflows.sweep import completed_runs, load_spec, run_sweep, write_sweep_reports

    loaded = load_spec(spec)
    out = out or Path("runs") / f"sweep-{loaded.name}"
    state = run_sweep(loaded.only(models, backends, schemes), out, progress=lambda line: console.print(line, highlight=False))
    runs = completed_runs(out, state)  # every complete cell of the folder: earlier parts' too
    if runs:
        effect = write_sweep_reports(out, runs)
        results.print(terminal_table(runs))
        results.print(quantization_markdown(effect))
        console.print(f"the survey's findings on these cells: {out / 'findings.md'}", highlight=False)
    failed = {name: cell["error"] for name, cell in state["cells"].items() if cell["status"] == "failed"}
    for name, error in failed.items():
        console.print(f"[bold red]failed[/bold red] {name}: {error}", highlight=False)
    console.print(f"sweep folder {out}: {len(runs)} cells complete, {len(failed)} failed "
                  f"(rerun the same command to retry only those)")
    stopped = state.get("stopped")
    if stopped:
        raise DeviceGone(f"the device is gone: the sweep stopped after cell {stopped['cell']}, "
                         f"{stopped['cells_not_run']} cells not run", "reconnect it and rerun the same command to resume")
    if failed and not runs:
        raise BadInput(f"every cell of the sweep failed ({len(failed)})", f"see {out / 'sweep.json'}")
