"""`slm-edge recommend`: which profiled artifacts fit a budget."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from slm_edge.cli.output import human_bytes, results


@click.command()
@click.argument("run_dirs", nargs=-1, type=click.Path(path_type=Path))
@click.option("--max-memory", help="Budget for the model's own memory (peak RSS increase), e.g. 1.5GB or 800MiB.")
@click.option("--min-decode-tps", type=click.FloatRange(min=0), help="Slowest acceptable decode, tokens/s.")
@click.option("--min-agreement", type=click.FloatRange(0, 1), help="Lowest acceptable greedy agreement (from verify).")
@click.option("--max-kl", type=click.FloatRange(min=0), help="Highest acceptable mean KL(reference‖artifact) (from eval).")
@click.option("--max-ppl-ratio", type=click.FloatRange(min=1), help="Highest acceptable perplexity ratio to the reference (from eval).")
@click.option("--prompt-length", type=click.IntRange(min=1), help="Judge at this prompt length [default: the longest profiled].")
@click.option("--json", "json_out", type=click.Path(path_type=Path), help="Also write the verdicts as JSON.")
def recommend(run_dirs, max_memory, min_decode_tps, min_agreement, max_kl, max_ppl_ratio, prompt_length, json_out):
    """Which profiled artifacts (RUN_DIRS) fit a budget, best first, and why each other one fails."""
    import json

    from slm_edge.analysis.recommend import parse_size, recommend as choose

    passing, failing = choose(list(run_dirs), max_memory=parse_size(max_memory) if max_memory else None,
                              min_decode_tps=min_decode_tps, min_agreement=min_agreement, prompt_length=prompt_length,
                              max_kl=max_kl, max_ppl_ratio=max_ppl_ratio)
    table = Table(title="Candidates that fit, best first" if passing else "No candidate fits the budget",
                  title_justify="left")
    for column in ("run", "model", "scheme", "engine", "thr", "prompt", "decode tok/s", "prefill tok/s",
                   "peak memory +", "agreement", "KL", "PPL ×", "verdict"):
        table.add_column(column)
    for candidate in passing + failing:
        table.add_row(candidate.run, candidate.model, f"{candidate.backend} {candidate.scheme}", candidate.engine,
                      str(candidate.threads), str(candidate.prompt_length), f"{candidate.decode_tok_s:.1f}",
                      f"{candidate.prefill_tok_s:.0f}", human_bytes(candidate.peak_memory_bytes),
                      "—" if candidate.greedy_agreement is None else f"{candidate.greedy_agreement:.2f}",
                      "—" if candidate.kl_mean is None else f"{candidate.kl_mean:.3g}",
                      "—" if candidate.ppl_ratio is None else f"{candidate.ppl_ratio:.3f}",
                      "fits" if not candidate.reasons else "; ".join(candidate.reasons))
    results.print(table)
    if json_out:
        json_out.write_text(json.dumps({"fits": [c.as_dict() for c in passing],
                                        "fails": [c.as_dict() for c in failing]}, indent=2) + "\n")
