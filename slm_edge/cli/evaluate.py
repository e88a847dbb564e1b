"""`slm-edge eval`: quality over a corpus (perplexity, KL, top-1 vs the PyTorch reference), here or on a device."""

from __future__ import annotations

import time
from pathlib import Path

import click
from rich.table import Table

from slm_edge.cli.output import console, emit, results
from slm_edge.errors import BadInput
from slm_edge.quality.verdict import quality_line
from slm_edge.runtime.engines import ENGINES


def _render(entry: dict) -> None:
    s = entry["summary"]
    table = Table(title=f"eval {entry['scheme']} ({entry['backend']}) on {entry['engine']}, corpus {entry['corpus']['name']}, "
                        f"{entry['chunks']} chunks × {entry['context']} tokens, {s['scored_tokens']} scored "
                        f"(positions ≥ {entry['first_scored_position']}, llama.cpp's definitions)",
                  show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    table.add_row("perplexity", f"{s['ppl_artifact']:.3f} ± {s['ppl_artifact_se']:.3f}   reference "
                                f"{s['ppl_reference']:.3f} ± {s['ppl_reference_se']:.3f}")
    table.add_row("PPL ratio / difference", f"{s['ppl_ratio']:.4f} ± {s['ppl_ratio_se']:.4f}   {s['ppl_difference']:+.3f}")
    table.add_row("KL(ref‖artifact)", f"mean {s['kl_mean']:.3g} ± {s['kl_mean_se']:.2g}, median {s['kl_median']:.3g}, "
                                      f"p90 {s['kl_p90']:.3g}, p99 {s['kl_p99']:.3g}, max {s['kl_max']:.3g}")
    table.add_row("same top-1", f"{s['top1_agreement']:.4f} ± {s['top1_agreement_se']:.4f}")
    table.add_row("Δp (next token)", f"mean {s['delta_p_mean']:+.4f}, RMS {s['delta_p_rms']:.4f}")
    t = entry["timing"]
    table.add_row("time", f"{t['total_s']:.1f} s: artifact {t['artifact_s']:.1f} s ({entry['feed']}), reference "
                          f"{t['reference_s']:.1f} s{' (cached)' if t['reference_cached'] else ''}, load {t['load_s']:.1f} s, "
                          f"figures {t['figures_s']:.1f} s")
    results.print(table)
    by_position = Table(title="by position in the chunk", title_justify="left")
    for column in ("positions", "tokens", "PPL ratio", "mean KL", "same top-1"):
        by_position.add_column(column, justify="right")
    for row in entry["by_position"]:
        by_position.add_row(f"{row['positions'][0]}–{row['positions'][1] - 1}", str(row["tokens"]),
                            f"{row['ppl_ratio']:.4f}", f"{row['kl_mean']:.3g}", f"{row['top1_agreement']:.4f}")
    results.print(by_position)
    device_run = entry.get("device_run")
    if device_run and device_run.get("summary"):
        d = device_run["summary"]
        line = (f"on {device_run['serial']} ({device_run['device']}, {device_run['producer']}): perplexity "
                f"{d['ppl_device']:.3f} (×{d['ppl_ratio_vs_reference']:.4f} the reference), same top-1 as the reference "
                f"{d['top1_agreement_vs_reference']:.4f}")
        if "top1_agreement_vs_host" in d:
            line += (f"; vs this machine's run: same argmax {d['top1_agreement_vs_host']:.4f}, "
                     f"|Δ log p| max {d['logprob_abs_diff_vs_host_max']:.2g}")
        results.print(line)
    if entry.get("note"):
        console.print(f"[yellow]note:[/yellow] {entry['note']}")
    results.print("quality: " + quality_line(s))


@click.command(name="eval")
@click.argument("artifact", type=click.Path(path_type=Path))
@click.option("--text", type=click.Path(path_type=Path), help="Your own text: plain UTF-8, or .jsonl of prompts "
                                                              "(one string or {\"text\": ...} per line).")
@click.option("--corpus", help="A corpus shipped with slm-edge: prose (default), dialogue, code.")
@click.option("--tokens", type=int, default=4096, show_default=True, help="Scored tokens wanted.")
@click.option("--context", type=int, default=None,
              help="Chunk length [default: 512, or the artifact's max length if shorter].")
@click.option("--engine", type=click.Choice(ENGINES), default=None,
              help="Runtime [default: the artifact's first engine].")
@click.option("--feed", type=click.Choice(["prefill", "steps"]), default=None,
              help="One forward per chunk or one token a step [default: prefill where the engine returns every "
                   "position's logits, else steps; a device always steps].")
@click.option("--threads", type=click.IntRange(min=0), default=0, help="Runtime threads here (0 = runtime default).")
@click.option("--emulated", is_flag=True, help="Score on the emulated device (the app's own Java for ONNX).")
@click.option("--device", "serial", help="adb serial of a phone running the profiler app.")
@click.option("--runner", type=click.Choice(["python", "app"]), default="python", show_default=True,
              help="With --emulated: the Linux runner, or the app's own Java on this JVM (ONNX artifacts).")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=1), default=3600.0, show_default=True)
@click.option("--keep", is_flag=True, help="Keep the run's files on the device.")
@click.option("--lock-wait", "lock_wait_s", type=click.FloatRange(min=0), default=0.0, show_default=True)
@click.option("--out", type=click.Path(path_type=Path), help="Device run folder [default: runs/eval-ARTIFACT-TIMESTAMP].")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON (no per-position arrays).")
def evaluate(artifact, text, corpus, tokens, context, engine, feed, threads, emulated, serial, runner, timeout_s, keep,
             lock_wait_s, out, as_json):
    """Score ARTIFACT and its PyTorch reference over a corpus: perplexity, KL, top-1 agreement."""
    from slm_edge.quality.evaluate import EvalRequest

    if text and corpus:
        raise BadInput("both --text and --corpus given", "choose one: --text FILE or --corpus NAME")
    if serial and emulated:
        raise BadInput("both --emulated and --device given", "choose one: --emulated (this machine) or --device SERIAL")
    request = EvalRequest(corpus=corpus, text=text, tokens=tokens, context=context, engine=engine, feed=feed,
                          threads=threads)
    if serial or emulated:
        if serial and runner != "python":
            raise BadInput("--runner chooses what runs on the emulated device; on a phone the profiler app always runs",
                           "drop --runner, or use it with --emulated")
        if feed == "prefill":
            raise BadInput("a device scores one token a step", "drop --feed with --device/--emulated")
        from slm_edge.workflows.evaluate import evaluate_on_device

        if serial:
            from slm_edge.device.adb import open_device

            device = open_device(serial)
        else:
            from slm_edge.device.local import LocalDevice

            device = LocalDevice(runner=runner)
        out = out or Path("runs") / f"eval-{Path(artifact).resolve().name}-{time.strftime('%Y%m%d-%H%M%S')}"
        with console.status(f"scoring {artifact} on {serial or 'the emulated device'}…"):
            entry = evaluate_on_device(artifact, device, request, out, timeout_s=timeout_s, keep=keep,
                                       lock_wait_s=lock_wait_s, threads=threads or 2)
    else:
        from slm_edge.quality.evaluate import evaluate_artifact

        with console.status(f"scoring {artifact} and its reference…") as status:
            entry = evaluate_artifact(artifact, request,
                                      progress=lambda i, n: status.update(f"scoring {artifact}: chunk {i + 1}/{n}"))
    emit({k: v for k, v in entry.items() if k != "scores"}, as_json, lambda: _render(entry))
