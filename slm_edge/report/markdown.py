"""Markdown: report.md (the sweep overview, then each run: its rows, memory, op breakdown, warnings)
and quantization.md."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from slm_edge.analysis.compare import sweep_overview
from slm_edge.analysis.loaded import LoadedRun
from slm_edge.analysis.timeline import placement_text
from slm_edge.analysis.run import OpBreakdown, RunAnalysis
from slm_edge.quality.verdict import quality_line
from slm_edge.report.fields import (CELL_FIELDS, QUANTIZATION_FIELDS, ROW_FIELDS, Column, Field, RunRow, columns,
                                    headers, headline_cell, headline_grid, mib, texts)

RUN_COLUMNS = columns(
    "threads", "prompt_length", "ttft_ms_median", "prefill_tok_s_median", "prefill_tok_s_cv",
    ("decode_tok_s_median", "decode tok/s (median)"), ("decode_tok_s_p90", "p90"), "decode_tok_s_cv",
    "decode_step_ms_median", ("decode_step_ms_p90", "p90"), ("decode_step_ms_p99", "p99"), "load_ms",
    "rss_increase_bytes")
SWEEP_COLUMNS = columns("cell", "parameters", "threads", "prefill_ms", "decode_tok_s", "peak_memory_bytes",
                        "quality_named", "pareto")
QUANTIZATION_COLUMNS = columns("model", "backend", "scheme", "threads", "prompt_length", "prefill_speedup",
                               "decode_speedup", "memory_ratio")
MEMORY_PREDICTED = ("weight_bytes", "kv_cache_bytes", "activation_bytes", "runtime_bytes", "total_bytes")
MEMORY_MEASURED = ("after_load_bytes", "after_prefill_bytes", "peak_bytes")


def table(cols: Sequence[Column], fields: Mapping[str, Field], records) -> list[str]:
    return (["| " + " | ".join(headers(cols, fields)) + " |", "|" + "---|" * len(cols)]
            + ["| " + " | ".join(texts(cols, fields, record)) + " |" for record in records])


def markdown(runs: Sequence[LoadedRun], baseline: str | None = None) -> str:
    lines = ["# slm-edge profile", ""] + headline_markdown(runs, baseline) + sweep_markdown(runs)
    for run in runs:
        lines += _run_markdown(run)
    return "\n".join(lines) + "\n"


def _run_markdown(run: LoadedRun) -> list[str]:
    analysis = run.analysis
    device = analysis.device
    lines = [f"## {run.name}", "",
             f"Device: {device['model']} — {device['cpu']}, {device['cores']} cores, {mib(device['ram_bytes'])} RAM, "
             f"{device['os']}. Status: **{analysis.status}**.", ""]
    if analysis.rows:
        lines += table(RUN_COLUMNS, ROW_FIELDS, [RunRow(run, row) for row in analysis.rows]) + [""]
    lines += [f"Peak RSS (VmHWM) {mib(analysis.peak_hwm_bytes)}, {mib(analysis.peak_increase_bytes)} over "
              f"the baseline of {mib(analysis.baseline_rss_bytes)}. {analysis.note}.", ""]
    lines += _memory_markdown(analysis)
    context = [f"Power: {analysis.power}." if analysis.power else "",
               f"Threads ran on: {placement_text(analysis.placement)}." if analysis.placement else ""]
    if any(context):
        lines += [" ".join(filter(None, context)), ""]
    quality = (run.trace.artifact_facts.quality if run.trace.artifact_facts else None)
    if quality:
        lines += [f"Quality (`slm-edge eval`, corpus {quality['corpus']}, {quality['scored_tokens']} scored tokens, "
                  f"{quality['engine']}): {quality_line(quality)}.", ""]
    for ops in analysis.op_breakdown:
        lines += _op_breakdown_markdown(ops)
    if analysis.warnings:
        lines += ["Warnings:", ""] + [f"- {w}" for w in analysis.warnings] + [""]
    return lines


def _memory_markdown(analysis: RunAnalysis) -> list[str]:
    breakdown = analysis.memory_breakdown
    if not breakdown:
        return []
    error = breakdown.prediction_error
    figures = ([mib(getattr(breakdown.predicted, k)) for k in MEMORY_PREDICTED]
               + [mib(getattr(breakdown.measured, k)) for k in MEMORY_MEASURED]
               + [f"{error:+.1%}" if error is not None else "—"])
    return [f"Memory, predicted from the artifact and the run config (longest prompt "
            f"{breakdown.predicted.longest_prompt}) vs measured:", "",
            "| | weights | KV cache | activations | runtime | total | after load | after prefill | peak | "
            "prediction error |",
            "|---|---|---|---|---|---|---|---|---|---|", "| bytes | " + " | ".join(figures) + " |",
            "", f"Prediction: {breakdown.method}. {breakdown.note}.", ""]


def _op_breakdown_markdown(ops: OpBreakdown) -> list[str]:
    overhead = ops.tracing_overhead
    tracer = "ETDump + ETRecord" if ops.engine == "executorch" else "profiler"
    prefill, decode = ops.phases.get("prefill", {}), ops.phases.get("decode", {})
    delegated = "delegated_us" in next(iter(prefill.get("categories", {}).values()), {})
    lines = [f"Latency by op category ({ops.engine} {tracer}, {ops.threads} threads, prompt "
             f"{ops.prompt_length}; traced runs are separate from the timed ones"
             + (f", tracing cost {overhead:+.1%} per decode step" if overhead is not None else "") + "):", "",
             "| category | prefill ms | share | decode ms/step | share |" + (" of it in XNNPACK ms/step |" if delegated else ""),
             "|---|---|---|---|---|" + ("---|" if delegated else "")]
    for name in prefill.get("categories", {}):
        p, d = prefill["categories"][name], decode.get("categories", {}).get(name, {"us": 0, "share": 0})
        lines.append(f"| {name} | {p['us'] / 1000:.2f} | {p['share']:.1%} | {d['us'] / 1000:.3f} | {d['share']:.1%} |"
                     + (f" {d.get('delegated_us', 0) / 1000:.3f} |" if delegated else ""))
    lines.append("")
    if ops.engine == "executorch":
        for phase_name, phase in (("prefill", prefill), ("decode", decode)):
            if not phase:
                continue
            top = ", ".join(f"{o['op']} ({o['category']}{', XNNPACK' if o['delegated'] else ''}) {o['us'] / 1000:.3f} ms"
                            for o in phase["top_ops"][:4])
            xnn = ", ".join(f"{k} {v / 1000:.3f}" for k, v in list(phase["xnnpack_ops_us"].items())[:4])
            lines.append(f"- {phase_name}: XNNPACK delegate calls {phase['delegated']['share']:.1%} of op time "
                         f"({phase['delegated']['calls_per_step']:.0f} calls per step); interpreter outside ops "
                         f"{(phase['method_us'] - phase['kernel_us']) / 1000:.3f} ms per step; largest: {top}"
                         + (f"; XNNPACK's own op timers (ms): {xnn}" if xnn else ""))
        lines += ["", "Each XNNPACK call is one delegated block, placed by the module paths of the graph nodes it "
                  "runs (ETRecord); a block whose nodes span categories is 'mixed'. executorch's custom SDPA and "
                  "KV-cache ops are placed by name.", ""]
    return lines


def headline_markdown(runs: Sequence[LoadedRun], baseline: str | None = None) -> list[str]:
    """The headline figures (as report.html's cards and comparison table), a column per run."""
    headlines, grid = headline_grid(runs, baseline)
    several = len(runs) > 1
    lines = ["## Headline", "", "Each run at its longest prompt and fastest thread count: p50 over repeats (p90)"
             + (f", × the baseline {baseline or runs[0].name}" if several else "") + ".", "",
             "| figure | " + " | ".join(h.run.name for h in headlines) + " |", "|---|" + "---|" * len(headlines)]
    for figure, cells in grid:
        label = f"{cells[0][0].label} ({figure.unit})" if figure.unit else cells[0][0].label
        lines.append(f"| {label} | " + " | ".join(headline_cell(shown, ratio) for shown, ratio in cells) + " |")
    return lines + [""]


def sweep_markdown(runs: Sequence[LoadedRun]) -> list[str]:
    cells, objectives = sweep_overview(runs)
    if len(cells) < 2:
        return []
    return (["## Sweep overview", "", "Each cell at its longest prompt and its fastest thread count; Pareto-optimal "
             f"over {', '.join(objectives)}.", ""] + table(SWEEP_COLUMNS, CELL_FIELDS, cells) + [""])


def quantization_markdown(effect: list[dict]) -> str:
    lines = ["# What quantization buys, per phase (× fp32 of the same model and backend)", ""]
    return "\n".join(lines + table(QUANTIZATION_COLUMNS, QUANTIZATION_FIELDS, effect)) + "\n"

