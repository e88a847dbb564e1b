"""Analysis → report files (JSON, CSV, Markdown, HTML with plots, Perfetto trace) and the terminal table."""

from __future__ import annotations

import csv
import html
import io
import json
from pathlib import Path

from rich.table import Table

from slm_edge.cache import atomic_write_text

FORMATS = ("json", "csv", "md", "html", "perfetto")
CSV_COLUMNS = [
    "run", "threads", "prompt_length", "repeats", "ttft_ms_median", "prefill_tok_s_median", "prefill_tok_s_cv",
    "decode_tok_s_median", "decode_tok_s_p90", "decode_tok_s_cv", "decode_step_ms_median", "decode_step_ms_p90",
    "decode_step_ms_p99", "load_ms", "peak_hwm_bytes", "rss_increase_bytes",
]


def _mib(n) -> str:
    return "—" if n is None else f"{n / 2**20:.1f} MiB"


def _fmt(value, digits=1) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _cv(value) -> str:
    return "—" if value is None else f"{value:.1%}"


def flat_rows(name: str, analysis: dict) -> list[dict]:
    rows = []
    for row in analysis["rows"]:
        decode, step = row["decode_tok_s"] or {}, row["decode_step_ms"] or {}
        rows.append({
            "run": name, "threads": row["threads"], "prompt_length": row["prompt_length"], "repeats": row["repeats"],
            "ttft_ms_median": row["ttft_ms"]["median"],
            "prefill_tok_s_median": row["prefill_tok_s"]["median"], "prefill_tok_s_cv": row["prefill_tok_s"]["cv"],
            "decode_tok_s_median": decode.get("median"), "decode_tok_s_p90": decode.get("p90"),
            "decode_tok_s_cv": decode.get("cv"), "decode_step_ms_median": step.get("median"),
            "decode_step_ms_p90": step.get("p90"), "decode_step_ms_p99": step.get("p99"),
            "load_ms": row["load_ms"], "peak_hwm_bytes": analysis["peak_hwm_bytes"],
            "rss_increase_bytes": row["rss_increase_bytes"],
        })
    return rows


def terminal_table(runs: dict[str, dict]) -> Table:
    table = Table(title="slm-edge profile", title_justify="left")
    for column in ("run", "thr", "prompt", "TTFT ms", "prefill tok/s (CV)", "decode tok/s p50/p90 (CV)",
                   "step ms p50/p90/p99", "load ms", "peak RSS (+Δ)"):
        table.add_column(column, justify="right" if column != "run" else "left")
    for name, analysis in runs.items():
        for row in analysis["rows"]:
            decode, step = row["decode_tok_s"] or {}, row["decode_step_ms"] or {}
            table.add_row(
                name, str(row["threads"]), str(row["prompt_length"]), _fmt(row["ttft_ms"]["median"]),
                f"{_fmt(row['prefill_tok_s']['median'])} ({_cv(row['prefill_tok_s']['cv'])})",
                f"{_fmt(decode.get('median'))} / {_fmt(decode.get('p90'))} ({_cv(decode.get('cv'))})",
                f"{_fmt(step.get('median'), 2)}/{_fmt(step.get('p90'), 2)}/{_fmt(step.get('p99'), 2)}",
                _fmt(row["load_ms"]), f"{_mib(analysis['peak_hwm_bytes'])} (+{_mib(analysis['peak_increase_bytes'])})",
            )
    return table


def markdown(runs: dict[str, dict], traces: dict[str, dict] | None = None) -> str:
    lines = ["# slm-edge profile", ""] + _sweep_markdown(runs, traces or {})
    for name, analysis in runs.items():
        device = analysis["device"]
        lines += [f"## {name}", "",
                  f"Device: {device['model']} — {device['cpu']}, {device['cores']} cores, {_mib(device['ram_bytes'])} RAM, "
                  f"{device['os']}. Status: **{analysis['status']}**.", "",
                  "| threads | prompt | TTFT ms | prefill tok/s | CV | decode tok/s (median) | p90 | CV | step ms p50 | p90 | p99 | load ms | RSS increase |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for row in flat_rows(name, analysis):
            lines.append("| " + " | ".join([
                str(row["threads"]), str(row["prompt_length"]), _fmt(row["ttft_ms_median"]),
                _fmt(row["prefill_tok_s_median"]), _cv(row["prefill_tok_s_cv"]), _fmt(row["decode_tok_s_median"]),
                _fmt(row["decode_tok_s_p90"]), _cv(row["decode_tok_s_cv"]), _fmt(row["decode_step_ms_median"], 2),
                _fmt(row["decode_step_ms_p90"], 2), _fmt(row["decode_step_ms_p99"], 2), _fmt(row["load_ms"]),
                _mib(row["rss_increase_bytes"])]) + " |")
        lines += ["", f"Peak RSS (VmHWM) {_mib(analysis['peak_hwm_bytes'])}, {_mib(analysis['peak_increase_bytes'])} over "
                  f"the baseline of {_mib(analysis['baseline_rss_bytes'])}. {analysis['note']}.", ""]
        breakdown = analysis.get("memory_breakdown")
        if breakdown:
            lines += [f"Memory, predicted from the artifact and the run config (longest prompt "
                      f"{breakdown['predicted']['longest_prompt']}) vs measured:", "",
                      "| | weights | KV cache | activations | runtime | total | after load | after prefill | peak | "
                      "prediction error |",
                      "|---|---|---|---|---|---|---|---|---|---|", "| bytes | " + " | ".join(
                          [_mib(breakdown["predicted"][k]) for k in ("weight_bytes", "kv_cache_bytes", "activation_bytes",
                                                                     "runtime_bytes", "total_bytes")]
                          + [_mib(breakdown["measured"][k]) for k in ("after_load_bytes", "after_prefill_bytes", "peak_bytes")]
                          + [f"{breakdown['prediction_error']:+.1%}" if breakdown["prediction_error"] is not None else "—"]) + " |",
                      "", f"Prediction: {breakdown['method']}. {breakdown['note']}.", ""]
        for ops in analysis.get("op_breakdown") or []:
            lines += _op_breakdown_markdown(ops)
        if analysis["warnings"]:
            lines += ["Warnings:", ""] + [f"- {w}" for w in analysis["warnings"]] + [""]
    return "\n".join(lines) + "\n"


def _op_breakdown_markdown(ops: dict) -> list[str]:
    overhead = ops["tracing_overhead"]
    tracer = "ETDump + ETRecord" if ops["engine"] == "executorch" else "profiler"
    prefill, decode = ops["phases"].get("prefill", {}), ops["phases"].get("decode", {})
    delegated = "delegated_us" in next(iter(prefill.get("categories", {}).values()), {})
    lines = [f"Latency by op category ({ops['engine']} {tracer}, {ops['threads']} threads, prompt "
             f"{ops['prompt_length']}; traced runs are separate from the timed ones"
             + (f", tracing cost {overhead:+.1%} per decode step" if overhead is not None else "") + "):", "",
             "| category | prefill ms | share | decode ms/step | share |" + (" of it in XNNPACK ms/step |" if delegated else ""),
             "|---|---|---|---|---|" + ("---|" if delegated else "")]
    for name in prefill.get("categories", {}):
        p, d = prefill["categories"][name], decode.get("categories", {}).get(name, {"us": 0, "share": 0})
        lines.append(f"| {name} | {p['us'] / 1000:.2f} | {p['share']:.1%} | {d['us'] / 1000:.3f} | {d['share']:.1%} |"
                     + (f" {d.get('delegated_us', 0) / 1000:.3f} |" if delegated else ""))
    lines.append("")
    if ops["engine"] == "executorch":
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


def sweep_overview(runs: dict[str, dict], traces: dict[str, dict]) -> tuple[list[dict], list[str]]:
    """Cells of a combined report with their Pareto flag (see sweep.pareto_front)."""
    from slm_edge.analysis.compare import cell_points, pareto_front

    points = cell_points(runs, traces)
    flags, objectives = pareto_front(points)
    return [{**p, "pareto": f} for p, f in zip(points, flags)], objectives


def _sweep_markdown(runs: dict[str, dict], traces: dict[str, dict]) -> list[str]:
    cells, objectives = sweep_overview(runs, traces)
    if len(cells) < 2:
        return []
    lines = ["## Sweep overview", "", "Each cell at its longest prompt and its fastest thread count; Pareto-optimal "
             f"over {', '.join(objectives)}.", "",
             "| cell | params (M) | threads | prefill ms | decode tok/s | peak memory | quality | Pareto |",
             "|---|---|---|---|---|---|---|---|"]
    for c in cells:
        quality = "—" if c["quality"] is None else f"{c['quality']:.3f} ({c['quality_metric']})"
        lines.append(f"| {c['cell']} | {(c['parameters'] or 0) / 1e6:.1f} | {c['threads']} | {_fmt(c['prefill_ms'])} | "
                     f"{_fmt(c['decode_tok_s'])} | {_mib(c['peak_memory_bytes'])} | {quality} | {'★' if c['pareto'] else ''} |")
    return lines + [""]


def _svg(figure) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    return buffer.getvalue()[buffer.getvalue().index("<svg"):]


def plots(runs: dict[str, dict], traces: dict[str, dict]) -> dict[str, str]:
    """The four plots of the report, as inline SVG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = {}
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, analysis in runs.items():
        for threads in sorted({r["threads"] for r in analysis["rows"]}):
            rows = [r for r in analysis["rows"] if r["threads"] == threads]
            ax.plot([r["prompt_length"] for r in rows], [r["prefill_ms"]["median"] for r in rows], marker="o",
                    label=f"{name} t={threads}")
    ax.set(xlabel="prompt length (tokens)", ylabel="prefill latency (ms, median)", title="Prefill latency vs prompt length")
    ax.legend(fontsize=7)
    out["prefill_latency_vs_prompt_length"] = _svg(fig)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, analysis in runs.items():
        for row in analysis["rows"]:
            ax.plot(range(1, len(row["decode_step_ms_by_position"]) + 1), row["decode_step_ms_by_position"],
                    label=f"{name} t={row['threads']} p={row['prompt_length']}")
    ax.set(xlabel="decode step", ylabel="latency (ms, median over repeats)", title="Per-token decode latency over the sequence")
    ax.legend(fontsize=7)
    out["decode_latency_over_sequence"] = _svg(fig)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, trace in traces.items():
        samples = trace["memory_samples"]
        ax.plot([s["t_ms"] / 1000 for s in samples], [s["rss_bytes"] / 2**20 for s in samples], label=f"{name} RSS", lw=1)
        for marker in trace["phase_markers"]:
            if marker["event"] == "start" and marker["phase"] in ("load", "prefill"):
                ax.axvline(marker["t_ms"] / 1000, color="grey" if marker["phase"] == "prefill" else "red", lw=0.3)
    ax.set(xlabel="time (s)", ylabel="RSS (MiB)", title="Memory over time (red: load, grey: prefill starts)")
    ax.legend(fontsize=7)
    out["memory_over_time"] = _svg(fig)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, trace in traces.items():
        steps = [us / 1000 for r in trace["runs"] if not r["warmup"] for us in r["decode_step_us"]]
        if steps:
            ax.hist(steps, bins=50, alpha=0.6, label=name)
    ax.set(xlabel="decode step latency (ms)", ylabel="steps", title="Distribution of token latencies")
    ax.legend(fontsize=7)
    out["token_latency_distribution"] = _svg(fig)
    plt.close(fig)

    bars = [(f"{name} {phase} t={ops['threads']}", ops["phases"][phase]["categories"])
            for name, analysis in runs.items() for ops in analysis.get("op_breakdown") or []
            for phase in ("prefill", "decode") if phase in ops["phases"]]
    if bars:  # the survey's Fig. 10: where the time goes, per phase
        from slm_edge.contract import ET_OP_CATEGORIES as ET_CATEGORIES

        fig, ax = plt.subplots(figsize=(6, 0.6 * len(bars) + 1.5))
        left = [0.0] * len(bars)
        for category in [c for c in ET_CATEGORIES if any(c in categories for _, categories in bars)]:
            shares = [100 * categories.get(category, {"share": 0.0})["share"] for _, categories in bars]
            ax.barh([label for label, _ in bars], shares, left=left, label=category)
            left = [a + b for a, b in zip(left, shares)]
        ax.set(xlabel="share of kernel time (%)", title="Latency by op category")
        ax.legend(fontsize=7, ncol=3)
        out["latency_by_op_category"] = _svg(fig)
        plt.close(fig)
    if len(runs) > 1:
        with matplotlib.rc_context({"svg.fonttype": "none"}):  # text stays text: titles can be searched
            out.update(survey_plots(runs, traces, plt))
    return out


SURVEY_TITLES = {
    "latency_memory_vs_parameters": "Latency and peak memory vs parameter count",
    "prefill_decode_by_scheme": "Prefill vs decode per quantization scheme",
    "threads_scaling": "Throughput vs threads",
    "pareto_front": "Pareto front: decode speed, peak memory, quality",
}


def _series_label(point: dict) -> str:
    return f"{point['backend']} {point['scheme']}"


def survey_plots(runs: dict[str, dict], traces: dict[str, dict], plt) -> dict[str, str]:
    """A sweep's combined figures, survey style (arXiv 2409.15790 Figs. 7 and 8, plus threads and
    the Pareto front); each cell is taken at its longest prompt and its fastest thread count."""
    from slm_edge.analysis.compare import cell_points, pareto_front, threads_scaling

    points = cell_points(runs, traces)
    out = {}
    if len(points) > 1:
        fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
        for label in sorted({_series_label(p) for p in points}):
            chosen = sorted((p for p in points if _series_label(p) == label), key=lambda p: p["parameters"] or 0)
            x = [(p["parameters"] or 0) / 1e6 for p in chosen]
            for ax, values in zip(axes, ([p["prefill_ms"] for p in chosen], [p["decode_tok_s"] for p in chosen],
                                         [p["peak_memory_bytes"] / 2**20 for p in chosen])):
                ax.plot(x, values, marker="o", label=label)
        for ax, ylabel in zip(axes, ("prefill latency (ms, median)", "decode tok/s (median)",
                                     "peak memory over baseline (MiB)")):
            ax.set(xlabel="parameters (M)", ylabel=ylabel)
            ax.set_xscale("log")
        axes[0].legend(fontsize=7)
        fig.suptitle(SURVEY_TITLES["latency_memory_vs_parameters"])
        out["latency_memory_vs_parameters"] = _svg(fig)
        plt.close(fig)

        groups = sorted({(p["model"], p["backend"]) for p in points}, key=str)
        schemes = sorted({p["scheme"] for p in points}, key=lambda s: (s != "fp32", str(s)))
        width = 0.8 / len(schemes)
        fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
        for ax, metric, ylabel in ((axes[0], "prefill_tok_s", "prefill tok/s (median)"),
                                   (axes[1], "decode_tok_s", "decode tok/s (median)")):
            labelled = set()
            for i, scheme in enumerate(schemes):
                for g, (model, backend) in enumerate(groups):
                    found = [p for p in points if (p["model"], p["backend"], p["scheme"]) == (model, backend, scheme)]
                    if not found:
                        continue
                    base = [p for p in points if (p["model"], p["backend"], p["scheme"]) == (model, backend, "fp32")]
                    x = g + (i - (len(schemes) - 1) / 2) * width
                    ax.bar(x, found[0][metric], width, color=f"C{i}", label=None if scheme in labelled else scheme)
                    labelled.add(scheme)
                    if base and scheme != "fp32":  # what the scheme buys over fp32 in this phase
                        ax.annotate(f"×{found[0][metric] / base[0][metric]:.2f}", (x, found[0][metric]),
                                    ha="center", va="bottom", fontsize=7)
            ax.set_xticks(range(len(groups)), [f"{m}\n{b}" for m, b in groups], fontsize=7)
            ax.set(ylabel=ylabel)
        axes[0].legend(fontsize=7, title="scheme", title_fontsize=7)
        fig.suptitle(SURVEY_TITLES["prefill_decode_by_scheme"] + " (× = over fp32 of the same model and backend)")
        out["prefill_decode_by_scheme"] = _svg(fig)
        plt.close(fig)

    scaling = threads_scaling(runs)
    if scaling:
        fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
        for name, rows in scaling.items():
            threads = [r["threads"] for r in rows]
            axes[0].plot(threads, [r["decode_tok_s"] for r in rows], marker="o", label=name)
            axes[1].plot(threads, [r["prefill_tok_s"] for r in rows], marker="o", label=name)
        for ax, ylabel in zip(axes, ("decode tok/s (median)", "prefill tok/s (median)")):
            ax.set(xlabel="threads", ylabel=ylabel)
            ax.set_xticks(sorted({r["threads"] for rows in scaling.values() for r in rows}))
        axes[0].legend(fontsize=7)
        fig.suptitle(SURVEY_TITLES["threads_scaling"] + " (longest prompt)")
        out["threads_scaling"] = _svg(fig)
        plt.close(fig)

    if len(points) > 1:
        flags, objectives = pareto_front(points)
        fig, ax = plt.subplots(figsize=(7, 4.5))
        memory = [p["peak_memory_bytes"] / 2**20 for p in points]
        speed = [p["decode_tok_s"] for p in points]
        if "quality" in objectives:
            dots = ax.scatter(memory, speed, c=[p["quality"] for p in points], cmap="viridis", s=40, zorder=2)
            fig.colorbar(dots, ax=ax, label=points[0]["quality_metric"].replace("_", " "))
        else:
            ax.scatter(memory, speed, color="grey", s=40, zorder=2)
        front = sorted((m, v) for m, v, f in zip(memory, speed, flags) if f)
        ax.scatter([m for m, _ in front], [v for _, v in front], s=160, facecolors="none", edgecolors="red",
                   linewidths=1.5, zorder=3, label="Pareto-optimal")
        ax.plot([m for m, _ in front], [v for _, v in front], color="red", lw=0.8, ls="--", zorder=1)
        for p, m, v in zip(points, memory, speed):
            ax.annotate(p["cell"], (m, v), fontsize=6, xytext=(4, 4), textcoords="offset points")
        ax.set(xlabel="peak memory over baseline (MiB)", ylabel="decode tok/s (median)")
        ax.legend(fontsize=7)
        note = "" if "quality" in objectives else " (quality left out: not every cell was verified)"
        ax.set_title(SURVEY_TITLES["pareto_front"] + note, fontsize=9)
        out["pareto_front"] = _svg(fig)
        plt.close(fig)
    return out


def perfetto(trace: dict) -> dict:
    """Chrome trace-event JSON (opens in ui.perfetto.dev): load, prefill and every decode step as
    slices on one track, RSS as a counter track."""
    events = [{"ph": "M", "pid": 1, "name": "process_name", "args": {"name": "slm-edge runner"}},
              {"ph": "M", "pid": 1, "tid": 1, "name": "thread_name", "args": {"name": "inference"}}]
    markers = trace["phase_markers"]
    open_starts = {}
    for marker in markers:
        key = (marker["phase"], marker.get("run"))
        if marker["event"] == "start":
            open_starts[key] = marker["t_ms"]
        elif key in open_starts:
            start = open_starts.pop(key)
            name = marker["phase"] if marker.get("run") is None else f"{marker['phase']} #{marker['run']}"
            events.append({"ph": "X", "pid": 1, "tid": 1, "name": name, "ts": start * 1000,
                           "dur": (marker["t_ms"] - start) * 1000})
    for index, run in enumerate(trace["runs"]):
        decode_start = next((m["t_ms"] for m in markers if m["phase"] == "decode" and m["event"] == "start"
                             and m.get("run") == index), None)
        if decode_start is None:
            continue
        t = decode_start * 1000
        for step, us in enumerate(run["decode_step_us"]):
            events.append({"ph": "X", "pid": 1, "tid": 2, "name": "token", "ts": t, "dur": us,
                           "args": {"run": index, "step": step}})
            t += us
    events.append({"ph": "M", "pid": 1, "tid": 2, "name": "thread_name", "args": {"name": "decode steps"}})
    for sample in trace["memory_samples"]:
        events.append({"ph": "C", "pid": 1, "name": "RSS MiB", "ts": sample["t_ms"] * 1000,
                       "args": {"rss": round(sample["rss_bytes"] / 2**20, 2)}})
    return {"traceEvents": events, "displayTimeUnit": "ms"}


def write_reports(run_dir: Path, runs: dict[str, dict], traces: dict[str, dict], formats=FORMATS) -> list[Path]:
    run_dir = Path(run_dir)
    written = []
    if "json" in formats:
        path = run_dir / "report.json"
        atomic_write_text(path, json.dumps(runs if len(runs) > 1 else next(iter(runs.values())), indent=2) + "\n")
        written.append(path)
    if "csv" in formats:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for name, analysis in runs.items():
            writer.writerows(flat_rows(name, analysis))
        path = run_dir / "report.csv"
        atomic_write_text(path, buffer.getvalue())
        written.append(path)
    if "md" in formats:
        path = run_dir / "report.md"
        atomic_write_text(path, markdown(runs, traces))
        written.append(path)
    if "html" in formats:
        path = run_dir / "report.html"
        atomic_write_text(path, render_html(runs, traces))
        written.append(path)
    if "perfetto" in formats:
        for name, trace in traces.items():
            path = run_dir / ("perfetto.json" if len(traces) == 1 else f"perfetto-{name}.json")
            atomic_write_text(path, json.dumps(perfetto(trace)))
            written.append(path)
    return written


def render_html(runs: dict[str, dict], traces: dict[str, dict]) -> str:
    figures = plots(runs, traces)
    table_rows = []
    for name, analysis in runs.items():
        for row in flat_rows(name, analysis):
            table_rows.append("<tr>" + "".join(f"<td>{html.escape(str(v if v is not None else '—'))}</td>"
                                               for v in (row["run"], row["threads"], row["prompt_length"],
                                                         _fmt(row["ttft_ms_median"]), _fmt(row["prefill_tok_s_median"]),
                                                         _fmt(row["decode_tok_s_median"]), _fmt(row["decode_tok_s_p90"]),
                                                         _fmt(row["decode_step_ms_p99"], 2), _mib(row["rss_increase_bytes"])))
                              + "</tr>")
    warnings = [w for a in runs.values() for w in a["warnings"]]
    sections = "".join(f'<section class="plot" id="{key}">{svg}</section>' for key, svg in figures.items())
    cells, objectives = sweep_overview(runs, traces) if len(runs) > 1 else ([], [])
    overview = "" if len(cells) < 2 else (
        f'<h2>Sweep overview</h2><p>Each cell at its longest prompt and fastest thread count; Pareto-optimal over '
        f'{html.escape(", ".join(objectives))}.</p><table id="sweep_overview"><tr><th>cell</th><th>params (M)</th>'
        '<th>threads</th><th>prefill ms</th><th>decode tok/s</th><th>peak memory</th><th>quality</th><th>Pareto</th></tr>'
        + "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in (
            c["cell"], f"{(c['parameters'] or 0) / 1e6:.1f}", c["threads"], _fmt(c["prefill_ms"]), _fmt(c["decode_tok_s"]),
            _mib(c["peak_memory_bytes"]), "—" if c["quality"] is None else f"{c['quality']:.3f}",
            "★" if c["pareto"] else "")) + "</tr>" for c in cells) + "</table>")
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>slm-edge profile</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}
.plot{{display:inline-block;margin:1em}}</style></head><body>
<h1>slm-edge profile</h1>
<table><tr><th>run</th><th>threads</th><th>prompt</th><th>TTFT ms</th><th>prefill tok/s</th><th>decode tok/s</th><th>decode p90</th><th>step p99 ms</th><th>RSS increase</th></tr>
{''.join(table_rows)}</table>
<h2>Warnings</h2><ul>{''.join(f'<li>{html.escape(w)}</li>' for w in warnings) or '<li>none</li>'}</ul>
{overview}
<h2>Plots</h2>{sections}
</body></html>
"""


def quantization_markdown(table: list[dict]) -> str:
    lines = ["# What quantization buys, per phase (× fp32 of the same model and backend)", "",
             "| model | backend | scheme | threads | prompt | prefill × | decode × | peak memory × |",
             "|---|---|---|---|---|---|---|---|"]
    def ratio(value) -> str:
        return "—" if value is None else f"{value:.2f}"

    for r in table:
        lines.append(f"| {r['model']} | {r['backend']} | {r['scheme']} | {r['threads']} | {r['prompt_length']} | "
                     f"{ratio(r['prefill_speedup'])} | {ratio(r['decode_speedup'])} | {ratio(r['memory_ratio'])} |")
    return "\n".join(lines) + "\n"
