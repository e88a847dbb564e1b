"""report.html's interactive charts, as Vega-Lite specs built with altair (rendered in the page by the
inlined Vega bundle: report/bundle.py). Hover shows values; clicking a legend entry toggles its series.

Why Vega-Lite: a chart is a JSON document (data and encoding), so it can be tested without a browser
and inlined; the Vega stack (UW IDL, since 2014) is well kept; its bundled JavaScript (vega, vega-lite,
vega-embed) is 0.9 MB, where Plotly's is 4.6 MB, over a single run's 2 MB budget. The survey-style
findings figures stay static SVG (report/findings.py): they are read, not explored.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from slm_edge.analysis.compare import LOWER_IS_BETTER, cell_points, pareto_front, threads_scaling
from slm_edge.analysis.energy import power_series
from slm_edge.analysis.loaded import LoadedRun
from slm_edge.analysis.timeline import heat_samples, phase_spans
from slm_edge.contract import ET_OP_CATEGORIES

MIB = 2**20
FADED = 0.12  # opacity of a series toggled off in the legend


def _alt():
    import altair as alt

    alt.data_transformers.disable_max_rows()  # a long run has thousands of samples; the page holds them
    return alt


def _toggle(alt, field: str):
    """A legend-bound selection: click an entry to show only its series, shift-click for several."""
    return alt.selection_point(fields=[field], bind="legend")


def _faded(alt, selection):
    return alt.condition(selection, alt.value(1.0), alt.value(FADED))


def _spec(chart, title: str) -> dict:
    return chart.properties(title=title).to_dict()


def _run_label(run: LoadedRun, several: bool, threads: int, prompt: int | None = None) -> str:
    label = f"t={threads}" + (f" p={prompt}" if prompt is not None else "")
    return f"{run.name} {label}" if several else label


def prefill_latency(runs: Sequence[LoadedRun]) -> dict | None:
    several = len(runs) > 1
    data = [{"series": _run_label(run, several, row.threads), "prompt": row.prompt_length,
             "p50": row.prefill_ms.median, "p90": row.prefill_ms.p90, "min": row.prefill_ms.min,
             "max": row.prefill_ms.max, "repeats": row.repeats}
            for run in runs for row in run.analysis.rows]
    if not data:
        return None
    alt = _alt()
    pick = _toggle(alt, "series")
    base = alt.Chart(alt.Data(values=data)).encode(
        x=alt.X("prompt:Q", title="prompt length (tokens)"), color=alt.Color("series:N", title="run"),
        opacity=_faded(alt, pick))
    tooltip = [alt.Tooltip("series:N"), alt.Tooltip("prompt:Q"), alt.Tooltip("p50:Q", format=".2f", title="p50 ms"),
               alt.Tooltip("p90:Q", format=".2f", title="p90 ms"), alt.Tooltip("min:Q", format=".2f"),
               alt.Tooltip("max:Q", format=".2f"), alt.Tooltip("repeats:Q")]
    line = base.mark_line(point=True).encode(y=alt.Y("p50:Q", title="prefill latency (ms, p50; bars: min–max)"),
                                             tooltip=tooltip).add_params(pick)
    bars = base.mark_rule().encode(y="min:Q", y2="max:Q")
    return _spec(alt.layer(line, bars).properties(width=420, height=260), "Prefill latency vs prompt length")


def decode_over_sequence(runs: Sequence[LoadedRun]) -> dict | None:
    several = len(runs) > 1
    data = [{"series": _run_label(run, several, row.threads, row.prompt_length), "step": i + 1, "ms": ms}
            for run in runs for row in run.analysis.rows for i, ms in enumerate(row.decode_step_ms_by_position)]
    if not data:
        return None
    alt = _alt()
    pick = _toggle(alt, "series")
    chart = alt.Chart(alt.Data(values=data)).mark_line().encode(
        x=alt.X("step:Q", title="decode step"), y=alt.Y("ms:Q", title="latency (ms, median over repeats)"),
        color=alt.Color("series:N", title="run"), opacity=_faded(alt, pick),
        tooltip=["series:N", "step:Q", alt.Tooltip("ms:Q", format=".3f")]).add_params(pick)
    return _spec(chart.properties(width=420, height=260), "Per-token decode latency over the sequence")


def token_distribution(runs: Sequence[LoadedRun], bins: int = 40) -> dict | None:
    """Histograms of every measured decode step, binned here on shared edges (the page carries counts,
    not every step)."""
    steps = {run.name: [us / 1000 for r in run.trace.measured_runs for us in r["decode_step_us"]] for run in runs}
    everything = [ms for values in steps.values() for ms in values]
    if not everything:
        return None
    edges = np.histogram_bin_edges(everything, bins=bins, range=(min(everything), np.percentile(everything, 99.5)))
    data = []
    for name, values in steps.items():
        counts, _ = np.histogram(np.clip(values, edges[0], edges[-1]), bins=edges)
        data += [{"run": name, "from": float(a), "to": float(b), "steps": int(c), "share": float(c) / len(values)}
                 for a, b, c in zip(edges[:-1], edges[1:], counts) if len(values)]
    alt = _alt()
    pick = _toggle(alt, "run")
    chart = alt.Chart(alt.Data(values=data)).mark_bar(opacity=0.6, binSpacing=0).encode(
        x=alt.X("from:Q", title="decode step latency (ms; the last bin holds the slowest 0.5%)"), x2="to:Q",
        y=alt.Y("share:Q", title="share of steps", stack=None, axis=alt.Axis(format="%")), y2=alt.datum(0),
        color=alt.Color("run:N"), opacity=alt.condition(pick, alt.value(0.6), alt.value(0.05)),
        tooltip=["run:N", alt.Tooltip("from:Q", format=".3f"), alt.Tooltip("to:Q", format=".3f"), "steps:Q",
                 alt.Tooltip("share:Q", format=".1%")]).add_params(pick)
    return _spec(chart.properties(width=420, height=260), "Distribution of token latencies")


MAX_POINTS = 2000  # per run and series: a 50 ms sampler over a 10-minute run would be 12,000


def peak_preserving(samples: Sequence, limit: int = MAX_POINTS, size_of=lambda s: s["rss_bytes"]) -> list:
    """At most `limit` samples: the largest (by size_of; memory samples' RSS by default) of each run
    of consecutive samples, so the chart keeps every peak a page's budget would otherwise cost."""
    if len(samples) <= limit:
        return list(samples)
    size = -(-len(samples) // limit)
    return [max(samples[i:i + size], key=size_of) for i in range(0, len(samples), size)]


def memory_over_time(runs: Sequence[LoadedRun]) -> dict | None:
    data = [{"run": run.name, "t": s["t_ms"] / 1000, "rss": s["rss_bytes"] / MIB, "phase": s.get("phase") or ""}
            for run in runs for s in peak_preserving(run.trace.memory_samples)]
    if not data:
        return None
    alt = _alt()
    pick = _toggle(alt, "run")
    line = alt.Chart(alt.Data(values=data)).mark_line(interpolate="step-after").encode(
        x=alt.X("t:Q", title="time since the runner started (s)"), y=alt.Y("rss:Q", title="RSS (MiB)"),
        color=alt.Color("run:N"), opacity=_faded(alt, pick),
        tooltip=["run:N", alt.Tooltip("t:Q", format=".2f"), alt.Tooltip("rss:Q", format=".1f", title="RSS MiB"),
                 "phase:N"]).add_params(pick)
    layers = [line]
    if len(runs) == 1:  # the phases as shaded spans (several runs' spans would hide each other)
        spans = [{"phase": s.phase, "start": s.start_ms / 1000, "end": s.end_ms / 1000,
                  "run": "" if s.run is None else s.run} for s in phase_spans(runs[0].trace)]
        if spans:
            layers.insert(0, alt.Chart(alt.Data(values=spans)).mark_rect(opacity=0.18).encode(
                x="start:Q", x2="end:Q",
                fill=alt.Fill("phase:N", scale=alt.Scale(domain=["load", "prefill", "decode", "ops", "cooldown", "sustained"],
                                                         range=["#d62728", "#ff7f0e", "#2ca02c", "#9467bd", "#1f77b4", "#2ca02c"])),
                tooltip=["phase:N", alt.Tooltip("run:N", title="measured run"), alt.Tooltip("start:Q", format=".3f"),
                         alt.Tooltip("end:Q", format=".3f")]))
    chart = alt.layer(*layers).resolve_scale(color="independent").properties(width=560, height=260)
    return _spec(chart, "Memory over time (shaded: phases)")


PREDICTED_PARTS = (("weight_bytes", "weights"), ("kv_cache_bytes", "KV cache"), ("activation_bytes", "activations"),
                   ("runtime_bytes", "runtime"))


def memory_breakdown(runs: Sequence[LoadedRun]) -> dict | None:
    """Predicted parts stacked beside measured growth (after load, then what prefill and the rest of
    the run added), all over the pre-load baseline."""
    data = []
    for run in runs:
        breakdown = run.analysis.memory_breakdown
        if breakdown is None:
            continue
        for order, (key, part) in enumerate(PREDICTED_PARTS):
            data.append({"bar": f"{run.name} predicted", "part": part, "order": order,
                         "mib": getattr(breakdown.predicted, key) / MIB})
        measured = breakdown.measured
        load = measured.after_load_bytes or 0
        prefill = max((measured.after_prefill_bytes or load) - load, 0)
        rest = max(measured.peak_bytes - load - prefill, 0)
        for order, (part, value) in enumerate((("after load", load), ("prefill added", prefill),
                                               ("rest of the run to the peak", rest))):
            data.append({"bar": f"{run.name} measured", "part": part, "order": 10 + order, "mib": value / MIB})
    if not data:
        return None
    alt = _alt()
    pick = _toggle(alt, "part")
    chart = alt.Chart(alt.Data(values=data)).mark_bar().encode(
        y=alt.Y("bar:N", title=None, sort=None), x=alt.X("mib:Q", title="MiB over the baseline", stack="zero"),
        color=alt.Color("part:N", sort=alt.SortField("order")), order="order:Q", opacity=_faded(alt, pick),
        tooltip=["bar:N", "part:N", alt.Tooltip("mib:Q", format=".1f", title="MiB")]).add_params(pick)
    return _spec(chart.properties(width=520, height=alt.Step(26)), "Memory: predicted parts vs measured growth")


def op_categories(runs: Sequence[LoadedRun]) -> dict | None:
    data = []
    for run in runs:
        for ops in run.analysis.op_breakdown:
            for phase in ("prefill", "decode"):
                for category, figures in ops.phases.get(phase, {}).get("categories", {}).items():
                    data.append({"bar": f"{run.name} {phase} t={ops.threads}", "category": category,
                                 "share": figures["share"], "ms": figures["us"] / 1000,
                                 "order": ET_OP_CATEGORIES.index(category) if category in ET_OP_CATEGORIES else 99})
    if not data:
        return None
    alt = _alt()
    pick = _toggle(alt, "category")
    chart = alt.Chart(alt.Data(values=data)).mark_bar().encode(
        y=alt.Y("bar:N", title=None, sort=None), x=alt.X("share:Q", title="share of kernel time", stack="zero",
                                                          axis=alt.Axis(format="%")),
        color=alt.Color("category:N", sort=alt.SortField("order")), order="order:Q", opacity=_faded(alt, pick),
        tooltip=["bar:N", "category:N", alt.Tooltip("share:Q", format=".1%"),
                 alt.Tooltip("ms:Q", format=".3f", title="ms (prefill: total; decode: per step)")]).add_params(pick)
    return _spec(chart.properties(width=520, height=alt.Step(26)), "Latency by op category, per phase")


def heat_over_time(runs: Sequence[LoadedRun]) -> dict | None:
    several = len(runs) > 1
    data = [{"signal": s.signal, "series": f"{run.name} {s.series}" if several else s.series, "t": s.t_s,
             "value": s.value} for run in runs for s in heat_samples(run.trace)]
    for run in runs:
        series, source = power_series(run.trace)
        data += [{"signal": "power (W)", "series": f"{run.name} {source}" if several else source, "t": p.t_s,
                  "value": p.watts} for p in peak_preserving(series, size_of=lambda p: p.watts)]
    if not data:
        return None
    alt = _alt()
    pick = _toggle(alt, "series")
    chart = alt.Chart(alt.Data(values=data)).mark_line(point=True).encode(
        x=alt.X("t:Q", title="time since the runner started (s)"), y=alt.Y("value:Q", title=None,
                                                                          scale=alt.Scale(zero=False)),
        color=alt.Color("series:N"), opacity=_faded(alt, pick),
        tooltip=["signal:N", "series:N", alt.Tooltip("t:Q", format=".2f"), alt.Tooltip("value:Q", format=".1f")],
    ).add_params(pick).properties(width=520, height=120).facet(row=alt.Row("signal:N", title=None)).resolve_scale(
        y="independent")
    return _spec(chart, "Temperature, thermal status and CPU frequency over time")


def sustained_throughput(runs: Sequence[LoadedRun]) -> dict | None:
    """Decode tok/s over time in a sustained run (windows of analysis.sustained), with each run's
    starting level and the 10% and 25% drop lines."""
    data, rules = [], []
    for run in runs:
        figures = run.analysis.sustained
        if figures is None:
            continue
        data += [{"run": run.name, "t": p.t_s, "tok_s": p.tok_s} for p in figures.points]
        rules += [{"run": run.name, "level": label, "tok_s": figures.initial_tok_s * factor}
                  for label, factor in (("start", 1.0), ("−10%", 0.9), ("−25%", 0.75))]
    if not data:
        return None
    alt = _alt()
    pick = _toggle(alt, "run")
    line = alt.Chart(alt.Data(values=data)).mark_line(point=True).encode(
        x=alt.X("t:Q", title="time since the runner started (s)"), y=alt.Y("tok_s:Q", title="decode tok/s (window)"),
        color="run:N", opacity=_faded(alt, pick),
        tooltip=["run:N", alt.Tooltip("t:Q", format=".1f"), alt.Tooltip("tok_s:Q", format=".1f")]).add_params(pick)
    levels = alt.Chart(alt.Data(values=rules)).mark_rule(strokeDash=[4, 3], color="grey").encode(
        y="tok_s:Q", tooltip=["run:N", "level:N", alt.Tooltip("tok_s:Q", format=".1f")])
    return _spec(alt.layer(levels, line).properties(width=560, height=240),
                 "Sustained decode throughput over time (dashed: start, −10%, −25%)")


RUN_CHARTS = {
    "prefill_latency_vs_prompt_length": prefill_latency,
    "decode_latency_over_sequence": decode_over_sequence,
    "token_latency_distribution": token_distribution,
    "memory_over_time": memory_over_time,
    "memory_breakdown": memory_breakdown,
    "latency_by_op_category": op_categories,
    "heat_over_time": heat_over_time,
    "sustained_throughput": sustained_throughput,
}

SURVEY_TITLES = {
    "latency_memory_vs_parameters": "Latency and peak memory vs parameter count",
    "prefill_decode_by_scheme": "Prefill vs decode per quantization scheme",
    "threads_scaling": "Throughput vs threads",
    "pareto_front": "Pareto front: decode speed, peak memory, quality",
}


def cell_report_link(run: LoadedRun, page_folder: Path | None) -> str | None:
    """The cell's own report.html, relative to the page (so the folder can be moved or zipped)."""
    if run.folder is None or not (run.folder / "report.html").is_file():
        return None
    if page_folder is None:
        return str(run.folder / "report.html")
    return os.path.relpath(run.folder / "report.html", page_folder)


def sweep_charts(runs: Sequence[LoadedRun], page_folder: Path | None = None) -> dict[str, dict]:
    """A sweep's survey-style charts (arXiv 2409.15790 Figs. 7 and 8, threads, the Pareto front), each
    point carrying its cell's name and a link to the cell's own report (click a point to open it)."""
    points = cell_points(runs)
    if len(points) < 2:
        return {}
    alt = _alt()
    links = {run.name: cell_report_link(run, page_folder) for run in runs}
    flags, objectives = pareto_front(points)
    rows = [{**p, "series": f"{p['backend']} {p['scheme']}", "parameters_m": (p["parameters"] or 0) / 1e6,
             "peak_mib": p["peak_memory_bytes"] / MIB, "pareto": bool(flag), "href": links.get(p["cell"])}
            for p, flag in zip(points, flags)]
    out = {}
    pick = _toggle(alt, "series")
    panels = []
    for field, title in (("prefill_ms", "prefill latency (ms, p50)"), ("decode_tok_s", "decode tok/s (p50)"),
                         ("peak_mib", "peak memory over baseline (MiB)")):
        panels.append(alt.Chart(alt.Data(values=rows)).mark_line(point=alt.OverlayMarkDef(size=60)).encode(
            x=alt.X("parameters_m:Q", title="parameters (M)", scale=alt.Scale(type="log")),
            y=alt.Y(f"{field}:Q", title=title), color=alt.Color("series:N", title="backend scheme"),
            opacity=_faded(alt, pick), href="href:N", order="parameters_m:Q",
            tooltip=["cell:N", "model:N", "series:N", alt.Tooltip("parameters_m:Q", format=".1f", title="params (M)"),
                     alt.Tooltip(f"{field}:Q", format=".2f", title=title), "threads:Q", "prompt_length:Q"],
        ).add_params(pick).properties(width=250, height=220))
    with warnings.catch_warnings():  # one legend selection shared by the three panels, as intended
        warnings.filterwarnings("ignore", message="Automatically deduplicated selection parameter")
        out["latency_memory_vs_parameters"] = _spec(alt.hconcat(*panels), SURVEY_TITLES["latency_memory_vs_parameters"])

    base = {(p["model"], p["backend"]): p for p in rows if p["scheme"] == "fp32"}
    bars = [{**p, "group": f"{p['model']} {p['backend']}", "phase": phase, "tok_s": p[metric],
             "over_fp32": (p[metric] / base[(p["model"], p["backend"])][metric])
             if (p["model"], p["backend"]) in base else None}
            for p in rows for phase, metric in (("prefill", "prefill_tok_s"), ("decode", "decode_tok_s"))]
    scheme_pick = _toggle(alt, "scheme")
    out["prefill_decode_by_scheme"] = _spec(alt.Chart(alt.Data(values=bars)).mark_bar().encode(
        x=alt.X("group:N", title=None, axis=alt.Axis(labelAngle=-35, labelLimit=220)), xOffset="scheme:N", y=alt.Y("tok_s:Q", title="tok/s (p50)"),
        color=alt.Color("scheme:N"), opacity=_faded(alt, scheme_pick), href="href:N",
        tooltip=["cell:N", "phase:N", alt.Tooltip("tok_s:Q", format=".1f", title="tok/s"),
                 alt.Tooltip("over_fp32:Q", format=".2f", title="× fp32")],
    ).add_params(scheme_pick).properties(width=260, height=220).facet(
        column=alt.Column("phase:N", title=None, sort=["prefill", "decode"])).resolve_scale(y="independent"),
        SURVEY_TITLES["prefill_decode_by_scheme"] + " (hover: × over fp32 of the same model and backend)")

    scaling = threads_scaling(runs)
    if scaling:
        lines = [{"cell": name, "threads": r["threads"], "phase": phase, "tok_s": r[f"{phase}_tok_s"],
                  "href": links.get(name)} for name, rs in scaling.items() for r in rs for phase in ("prefill", "decode")]
        cell_pick = _toggle(alt, "cell")
        out["threads_scaling"] = _spec(alt.Chart(alt.Data(values=lines)).mark_line(point=True).encode(
            x=alt.X("threads:Q", axis=alt.Axis(tickMinStep=1)), y=alt.Y("tok_s:Q", title="tok/s (p50)"),
            color="cell:N", opacity=_faded(alt, cell_pick), href="href:N",
            tooltip=["cell:N", "phase:N", "threads:Q", alt.Tooltip("tok_s:Q", format=".1f")],
        ).add_params(cell_pick).properties(width=260, height=220).facet(
            column=alt.Column("phase:N", title=None)).resolve_scale(y="independent"),
            SURVEY_TITLES["threads_scaling"] + " (longest prompt)")

    quality = "quality" in objectives
    metric = points[0]["quality_metric"] if quality else None
    color = (alt.Color("quality:Q", title=metric.replace("_", " "),
                       scale=alt.Scale(scheme="viridis", reverse=metric in LOWER_IS_BETTER))
             if quality else alt.value("grey"))
    dots = alt.Chart(alt.Data(values=rows)).mark_circle(size=90, opacity=0.9).encode(
        x=alt.X("peak_mib:Q", title="peak memory over baseline (MiB)"), y=alt.Y("decode_tok_s:Q", title="decode tok/s (p50)"),
        color=color, href="href:N",
        tooltip=["cell:N", "series:N", alt.Tooltip("peak_mib:Q", format=".1f", title="peak MiB"),
                 alt.Tooltip("decode_tok_s:Q", format=".1f"), alt.Tooltip("quality:Q", format=".4g"), "pareto:N"])
    front = sorted((r for r in rows if r["pareto"]), key=lambda r: r["peak_mib"])
    ring = alt.Chart(alt.Data(values=front)).mark_point(size=320, color="red", strokeWidth=1.5).encode(
        x="peak_mib:Q", y="decode_tok_s:Q", tooltip=["cell:N"])
    path = alt.Chart(alt.Data(values=front)).mark_line(color="red", strokeDash=[4, 3], strokeWidth=1).encode(
        x="peak_mib:Q", y="decode_tok_s:Q", order="peak_mib:Q")
    labels = alt.Chart(alt.Data(values=rows)).mark_text(align="left", dx=7, dy=-7, fontSize=9).encode(
        x="peak_mib:Q", y="decode_tok_s:Q", text="cell:N")
    note = "" if quality else " (quality left out: not every cell was evaluated or verified)"
    out["pareto_front"] = _spec(alt.layer(path, dots, ring, labels).properties(width=520, height=340),
                                SURVEY_TITLES["pareto_front"] + " (red rings: Pareto-optimal)" + note)
    return out
