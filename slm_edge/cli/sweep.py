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
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Exports at a time on this machine (fewer if its free memory cannot hold them).")
@click.option("--devices", callback=lambda ctx, param, value: value.split(",") if value else None,
              help="Profile on these devices at once, one worker each: adb serials, or emulated / emulated-NAME.")
@click.option("--ray", "ray_address", metavar="ADDRESS|local",
              help="Run the cells on a Ray cluster (exports on CPU workers, profiles on the nodes that own devices); "
                   "local: a one-node cluster of this machine. Needs pip install 'slm-edge[ray]'.")
@click.option("--store", metavar="FOLDER|URL",
              help="With --ray: where nodes share artifacts (a shared folder, or an fsspec URL such as s3://bucket/x).")
def sweep(spec, out, models, backends, schemes, jobs, devices, ray_address, store):
    """Export (cached), verify and profile every model × backend × scheme of SPEC, then one combined report."""
    from slm_edge.report import quantization_markdown, terminal_table
    from slm_edge.workflows.sweep import completed_runs, load_spec, run_sweep, write_sweep_reports

    loaded = load_spec(spec)
    out = out or Path("runs") / f"sweep-{loaded.name}"
    chosen = loaded.only(models, backends, schemes)
    progress = lambda line: console.print(line, highlight=False)  # noqa: E731
    if ray_address and (devices or jobs > 1):
        raise BadInput("--ray runs the cells on the cluster's nodes and devices; --jobs and --devices are for one "
                       "machine", "drop --jobs/--devices, or drop --ray")
    if store and not ray_address:
        raise BadInput("--store is where a Ray cluster's nodes share artifacts", "use it with --ray")
    if ray_address:
        from slm_edge.workflows.scale import ray_sweep

        state = ray_sweep(chosen, out, address=ray_address, store=str(store) if store else None, progress=progress)
    elif devices or jobs > 1:
        from slm_edge.workflows.scale import parallel_sweep

        state = parallel_sweep(chosen, out, jobs=jobs, devices=devices, progress=progress)
    else:
        state = run_sweep(chosen, out, progress=progress)
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
