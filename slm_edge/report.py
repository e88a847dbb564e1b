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


def markdown(runs: dict[str, dict]) -> str:
    lines = ["# slm-edge profile", ""]
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
            lines += ["Memory, predicted from the artifact vs measured:", "", "| | weights | KV cache (max length) | "
                      "activations | total | after load | after prefill | peak | prediction error |",
                      "|---|---|---|---|---|---|---|---|---|", "| bytes | " + " | ".join(
                          [_mib(breakdown["predicted"][k]) for k in ("weight_bytes", "kv_cache_bytes", "activation_bytes", "total_bytes")]
                          + [_mib(breakdown["measured"][k]) for k in ("after_load_bytes", "after_prefill_bytes", "peak_bytes")]
                          + [f"{breakdown['prediction_error']:+.1%}" if breakdown["prediction_error"] is not None else "—"]) + " |",
                      "", breakdown["note"] + ".", ""]
        for ops in analysis.get("op_breakdown") or []:
            overhead = ops["tracing_overhead"]
            lines += [f"Latency by op category ({ops['engine']} profiler, {ops['threads']} threads, prompt "
                      f"{ops['prompt_length']}; traced runs are separate from the timed ones"
                      + (f", tracing cost {overhead:+.1%} per decode step" if overhead is not None else "") + "):", "",
                      "| category | prefill ms | share | decode ms/step | share |", "|---|---|---|---|---|"]
            prefill, decode = ops["phases"].get("prefill", {}), ops["phases"].get("decode", {})
            for name in prefill.get("categories", {}):
                p, d = prefill["categories"][name], decode.get("categories", {}).get(name, {"us": 0, "share": 0})
                lines.append(f"| {name} | {p['us'] / 1000:.2f} | {p['share']:.1%} | {d['us'] / 1000:.3f} | {d['share']:.1%} |")
            lines.append("")
        if analysis["warnings"]:
            lines += ["Warnings:", ""] + [f"- {w}" for w in analysis["warnings"]] + [""]
    return "\n".join(lines) + "\n"


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
        from slm_edge.op_breakdown import CATEGORIES

        fig, ax = plt.subplots(figsize=(6, 0.6 * len(bars) + 1.5))
        left = [0.0] * len(bars)
        for category in CATEGORIES:
            shares = [100 * categories[category]["share"] for _, categories in bars]
            ax.barh([label for label, _ in bars], shares, left=left, label=category)
            left = [a + b for a, b in zip(left, shares)]
        ax.set(xlabel="share of kernel time (%)", title="Latency by op category")
        ax.legend(fontsize=7, ncol=3)
        out["latency_by_op_category"] = _svg(fig)
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
        atomic_write_text(path, markdown(runs))
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
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>slm-edge profile</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}
.plot{{display:inline-block;margin:1em}}</style></head><body>
<h1>slm-edge profile</h1>
<table><tr><th>run</th><th>threads</th><th>prompt</th><th>TTFT ms</th><th>prefill tok/s</th><th>decode tok/s</th><th>decode p90</th><th>step p99 ms</th><th>RSS increase</th></tr>
{''.join(table_rows)}</table>
<h2>Warnings</h2><ul>{''.join(f'<li>{html.escape(w)}</li>' for w in warnings) or '<li>none</li>'}</ul>
<h2>Plots</h2>{sections}
</body></html>
"""
