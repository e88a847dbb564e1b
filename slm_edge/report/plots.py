"""The report's plots (matplotlib, as inline SVG): latency per phase and along the sequence, memory
over time, token latency distribution, op categories, and a sweep's survey-style figures."""

from __future__ import annotations

import io
from collections.abc import Sequence

from slm_edge.analysis.compare import LOWER_IS_BETTER, cell_points, pareto_front, threads_scaling
from slm_edge.analysis.loaded import LoadedRun
from slm_edge.contract import ET_OP_CATEGORIES


def _svg(figure) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    return buffer.getvalue()[buffer.getvalue().index("<svg"):]


def _prefill_latency(ax, runs: Sequence[LoadedRun]) -> None:
    for run in runs:
        for threads in sorted({r.threads for r in run.analysis.rows}):
            rows = [r for r in run.analysis.rows if r.threads == threads]
            ax.plot([r.prompt_length for r in rows], [r.prefill_ms.median for r in rows], marker="o",
                    label=f"{run.name} t={threads}")


def _decode_latency(ax, runs: Sequence[LoadedRun]) -> None:
    for run in runs:
        for row in run.analysis.rows:
            ax.plot(range(1, len(row.decode_step_ms_by_position) + 1), row.decode_step_ms_by_position,
                    label=f"{run.name} t={row.threads} p={row.prompt_length}")


def _memory(ax, runs: Sequence[LoadedRun]) -> None:
    for run in runs:
        samples = run.trace.memory_samples
        ax.plot([s["t_ms"] / 1000 for s in samples], [s["rss_bytes"] / 2**20 for s in samples], label=f"{run.name} RSS", lw=1)
        for marker in run.trace.phase_markers:
            if marker["event"] == "start" and marker["phase"] in ("load", "prefill"):
                ax.axvline(marker["t_ms"] / 1000, color="grey" if marker["phase"] == "prefill" else "red", lw=0.3)


def _token_latencies(ax, runs: Sequence[LoadedRun]) -> None:
    for run in runs:
        steps = [us / 1000 for r in run.trace.measured_runs for us in r["decode_step_us"]]
        if steps:
            ax.hist(steps, bins=50, alpha=0.6, label=run.name)


# key: (draw, axis labels and title)
RUN_PLOTS = {
    "prefill_latency_vs_prompt_length": (_prefill_latency, dict(
        xlabel="prompt length (tokens)", ylabel="prefill latency (ms, median)", title="Prefill latency vs prompt length")),
    "decode_latency_over_sequence": (_decode_latency, dict(
        xlabel="decode step", ylabel="latency (ms, median over repeats)", title="Per-token decode latency over the sequence")),
    "memory_over_time": (_memory, dict(
        xlabel="time (s)", ylabel="RSS (MiB)", title="Memory over time (red: load, grey: prefill starts)")),
    "token_latency_distribution": (_token_latencies, dict(
        xlabel="decode step latency (ms)", ylabel="steps", title="Distribution of token latencies")),
}


def plots(runs: Sequence[LoadedRun]) -> dict[str, str]:
    """The report's plots, as inline SVG: the four of every run, op categories when traced, and a
    sweep's survey figures when there are several runs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = {}
    for key, (draw, labels) in RUN_PLOTS.items():
        fig, ax = plt.subplots(figsize=(6, 3.5))
        draw(ax, runs)
        ax.set(**labels)
        ax.legend(fontsize=7)
        out[key] = _svg(fig)
        plt.close(fig)

    bars = [(f"{run.name} {phase} t={ops.threads}", ops.phases[phase]["categories"])
            for run in runs for ops in run.analysis.op_breakdown
            for phase in ("prefill", "decode") if phase in ops.phases]
    if bars:  # the survey's Fig. 10: where the time goes, per phase
        fig, ax = plt.subplots(figsize=(6, 0.6 * len(bars) + 1.5))
        left = [0.0] * len(bars)
        for category in [c for c in ET_OP_CATEGORIES if any(c in categories for _, categories in bars)]:
            shares = [100 * categories.get(category, {"share": 0.0})["share"] for _, categories in bars]
            ax.barh([label for label, _ in bars], shares, left=left, label=category)
            left = [a + b for a, b in zip(left, shares)]
        ax.set(xlabel="share of kernel time (%)", title="Latency by op category")
        ax.legend(fontsize=7, ncol=3)
        out["latency_by_op_category"] = _svg(fig)
        plt.close(fig)
    if len(runs) > 1:
        with matplotlib.rc_context({"svg.fonttype": "none"}):  # text stays text: titles can be searched
            out.update(survey_plots(runs, plt))
    return out


SURVEY_TITLES = {
    "latency_memory_vs_parameters": "Latency and peak memory vs parameter count",
    "prefill_decode_by_scheme": "Prefill vs decode per quantization scheme",
    "threads_scaling": "Throughput vs threads",
    "pareto_front": "Pareto front: decode speed, peak memory, quality",
}


def _series_label(point: dict) -> str:
    return f"{point['backend']} {point['scheme']}"


def survey_plots(runs: Sequence[LoadedRun], plt) -> dict[str, str]:
    """A sweep's combined figures, survey style (arXiv 2409.15790 Figs. 7 and 8, plus threads and
    the Pareto front); each cell is taken at its longest prompt and its fastest thread count."""
    points = cell_points(runs)
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
            lower_better = points[0]["quality_metric"] in LOWER_IS_BETTER  # eval's KL: bright should still mean good
            dots = ax.scatter(memory, speed, c=[p["quality"] for p in points], cmap="viridis_r" if lower_better else "viridis",
                              s=40, zorder=2)
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
        note = "" if "quality" in objectives else " (quality left out: not every cell was evaluated or verified)"
        ax.set_title(SURVEY_TITLES["pareto_front"] + note, fontsize=9)
        out["pareto_front"] = _svg(fig)
        plt.close(fig)
    return out
