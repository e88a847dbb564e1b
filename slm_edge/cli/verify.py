"""`slm-edge verify`: run an artifact here and compare it with the PyTorch reference."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from slm_edge.cli.output import console, results
from slm_edge.runtime.engines import ENGINES


@click.command()
@click.argument("artifact", type=click.Path(path_type=Path))
@click.option("--steps", type=click.IntRange(min=1), default=32, show_default=True, help="Greedy decode steps compared.")
@click.option("--prompt", default="What is the capital of France?", show_default=True)
@click.option("--threads", type=click.IntRange(min=0), default=0, help="Runtime threads (0 = runtime default).")
@click.option("--engine", type=click.Choice(ENGINES), default=None,
              help="Runtime to run the artifact with [default: the artifact's first engine].")
def verify(artifact, steps, prompt, threads, engine):
    """Run ARTIFACT with its runtime here and compare it with the PyTorch reference."""
    from slm_edge.quality.verify import verify_artifact

    with console.status("running the artifact and the PyTorch reference…"):
        result = verify_artifact(artifact, steps=steps, prompt=prompt, threads=threads, engine=engine)
    table = Table(title=f"verify {artifact} ({result['scheme']}, {result['export_path']}) on {result['engine']}",
                  show_header=False,
                  title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    table.add_row("greedy agreement", f"{result['greedy_agreement']:.3f} over {steps} tokens"
                  + ("  (identical)" if result["identical_tokens"] else f"  (first divergence at {result['first_divergence']})"))
    table.add_row("teacher-forced top-1", f"{result['teacher_forced_top1_agreement']:.3f}")
    table.add_row("mean KL(ref‖artifact)", f"{result['mean_kl']:.2e}")
    if result["artifact_text"] is not None:
        table.add_row("prompt", result["prompt"])
        table.add_row("artifact says", repr(result["artifact_text"]))
        table.add_row("reference says", repr(result["reference_text"]))
    results.print(table)
