"""The survey findings of a sweep (analysis/findings.py) as findings.md and as a section of report.html,
with the figures in the survey's forms: latency and memory against parameters with the fits and the
survey's own points (Fig. 7), quantization speed-up per phase (Fig. 8), latency by op category
(Fig. 10), memory by part (Fig. 11)."""

from __future__ import annotations

import html

from slm_edge.analysis.findings import ATTRIBUTES, Findings
from slm_edge.contract import ET_OP_CATEGORIES

VERDICT = {True: "holds", False: "does not hold", None: "not tested"}
MEMORY_PARTS = ("weights", "kv_cache", "activations", "runtime")
FOUR_BIT = ("int4", "8da4w")  # our schemes at the survey's precision


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def findings_markdown(f: Findings) -> str:
    lines = ["# The survey's findings on this device", "",
             f"Survey: arXiv 2409.15790 (llama.cpp on an edge board and a phone). Ours: {len(f.points)} cells on "
             f"{f.device}, each at its longest prompt and fastest thread count.", "", "## Claims", "",
             "| claim | survey | ours | verdict |", "|---|---|---|---|"]
    for c in f.claims:
        lines.append(f"| {c.id} ({c.figure}) | {c.survey} | {c.evidence} | **{VERDICT[c.holds]}** |")
    disagree = [c for c in f.claims if c.holds is False]
    if disagree:
        lines += ["", "**Where we disagree with the survey** (on this device; see the evidence above):", ""]
        lines += [f"- {c.id} ({c.figure}): not borne out here." for c in disagree]
    lines += ["", "## Cells", "", "| cell | parameters | prompt | threads | prefill ms | decode ms/token | peak memory MiB |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    for p in sorted(f.points, key=lambda p: (p.backend, p.scheme, p.parameters)):
        decode = "—" if p.decode_ms_per_token is None else f"{p.decode_ms_per_token:.2f}"
        lines.append(f"| {p.cell} | {p.parameters / 1e6:.0f} M | {p.prompt_length} | {p.threads} | {p.prefill_ms:.1f} | "
                     f"{decode} | {p.peak_memory_bytes / 2**20:.0f} |")
    if f.fits:
        lines += ["", "## Against parameters (least squares, x in millions of parameters)", "",
                  "| group | y | slope | intercept | R² | models |", "|---|---|---:|---:|---:|---:|"]
        for fit in f.fits:
            lines.append(f"| {fit.x.split('(')[1][:-1]} | {fit.y} | {fit.slope:.4g} | {fit.intercept:.4g} | {fit.r2:.3f} | {fit.n} |")
    if f.decompositions:
        lines += ["", "## What explains latency (log of time per token; Shapley shares of R²)", "",
                  "Attributes: " + "; ".join(f"{k}: {v}" for k, v in ATTRIBUTES.items()) + ". With n models at most "
                  "n − 2 attributes enter (in this order), so R² is optimistic with few models: read the adjusted R².", "",
                  "| group | phase | models | R² | adjusted R² | size alone | beyond size | shares |",
                  "|---|---|---:|---:|---:|---:|---:|---|"]
        for group, ds in f.decompositions.items():
            for d in ds:
                shares = ", ".join(f"{a} {d.shares[a]:.2f}" for a in sorted(d.shares, key=d.shares.get, reverse=True))
                adjusted = "—" if d.adjusted_r2 is None else f"{d.adjusted_r2:.2f}"
                lines.append(f"| {group} | {d.phase} | {d.n} | {d.r2:.2f} | {adjusted} | {d.r2_size_only:.2f} | "
                             f"{d.beyond_size:.2f} | {shares} |")
    if f.similar_size_pairs:
        lines += ["", f"## Models of about the same size (within 25%)", "", "| group | phase | slower | faster | × |",
                  "|---|---|---|---|---:|"]
        for pair in sorted(f.similar_size_pairs, key=lambda p: -p["ratio"]):
            lines.append(f"| {pair['backend']} {pair['scheme']} | {pair['phase']} | {pair['slower']} | {pair['faster']} | "
                         f"{pair['ratio']:.2f} |")
    if f.quantization:
        lines += ["", "## What quantization buys per phase (Fig. 8)", "",
                  "| model | backend | scheme | over | prefill × | decode × | memory × |", "|---|---|---|---|---:|---:|---:|"]
        for r in f.quantization:
            decode = "—" if r["decode_speedup"] is None else f"{r['decode_speedup']:.2f}"
            memory = "—" if r["memory_ratio"] is None else f"{r['memory_ratio']:.2f}"
            lines.append(f"| {r['model']} | {r['backend']} | {r['scheme']} | {r['over']} | {r['prefill_speedup']:.2f} | "
                         f"{decode} | {memory} |")
    traced = [p for p in f.points if p.op_shares]
    if traced:
        categories = [c for c in ET_OP_CATEGORIES if any(c in s for p in traced for s in p.op_shares.values())]
        lines += ["", "## Latency by op category (Fig. 10; share of kernel time)", "",
                  "| cell | phase | " + " | ".join(categories) + " |", "|---|---|" + "---:|" * len(categories)]
        for p in traced:
            for phase, shares in p.op_shares.items():
                lines.append(f"| {p.cell} | {phase} | " + " | ".join(_pct(shares.get(c)) for c in categories) + " |")
    parts = [p for p in f.points if p.memory_parts]
    if parts:
        lines += ["", "## Memory by part (Fig. 11; predicted from the artifact, MiB; measured peak beside)", "",
                  "| cell | weights | KV cache | activations | runtime | predicted | measured peak |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for p in parts:
            lines.append(f"| {p.cell} | " + " | ".join(f"{p.memory_parts[k] / 2**20:.0f}" for k in MEMORY_PARTS)
                         + f" | {sum(p.memory_parts.values()) / 2**20:.0f} | {p.peak_memory_bytes / 2**20:.0f} |")
    lines += _beside_markdown(f)
    return "\n".join(lines) + "\n"


def _beside_markdown(f: Findings) -> list[str]:
    """The survey's Fig. 7 points (llama.cpp 4-bit, prompt 50, 50 decoded tokens, context 2048, Jetson
    Orin NX's GPU) beside our 4-bit cells of the same models."""
    fig7 = {}
    for point in f.published:
        if point.get("figure") == "Fig. 7":
            fig7.setdefault(point["card"], {})[point["metric"]] = point["value"]
    ours = [p for p in f.points if p.scheme in FOUR_BIT and p.model in fig7]
    if not ours:
        return []
    lines = ["", "## Beside the survey's own points (Fig. 7: llama.cpp 4-bit on Jetson Orin NX's GPU, context 2048)", "",
             "The survey's values were read from its vector figures (slm_edge/analysis/survey_published.json says how "
             "and where); ours are this device's 4-bit cells at the same prompt and decode lengths.", "",
             "| model | ours | first token ms (survey / ours) | decode ms per token (survey / ours) | memory MB (survey) / MiB (ours) |",
             "|---|---|---:|---:|---:|"]
    for p in sorted(ours, key=lambda p: (p.parameters, p.backend)):
        survey = fig7[p.model]
        lines.append(f"| {p.model} | {p.backend} {p.scheme} | {survey.get('ttft_ms', '—')} / {p.prefill_ms:.1f} | "
                     f"{survey.get('decode_ms_per_token', '—')} / {p.decode_ms_per_token:.2f} | "
                     f"{survey.get('peak_memory_mb', '—')} / {p.peak_memory_bytes / 2**20:.0f} |")
    return lines


def findings_html(f: Findings, figures: dict[str, str]) -> str:
    rows = "".join(f"<tr><td>{html.escape(c.id)} ({html.escape(c.figure)})</td><td>{html.escape(c.survey)}</td>"
                   f"<td>{html.escape(c.evidence)}</td><td class=\"verdict\">{VERDICT[c.holds]}</td></tr>" for c in f.claims)
    plots = "".join(f'<section class="plot" id="{key}">{svg}</section>' for key, svg in figures.items())
    return (f'<section id="findings"><h2>The survey\'s findings on this device</h2>'
            f"<p>arXiv 2409.15790's claims, tested on {len(f.points)} cells ({html.escape(f.device)}).</p>"
            f'<table id="claims"><tr><th>claim</th><th>survey</th><th>ours</th><th>verdict</th></tr>{rows}</table>'
            f"{plots}</section>")


def _svg(figure) -> str:
    import io

    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    return buffer.getvalue()[buffer.getvalue().index("<svg"):]


def findings_plots(f: Findings) -> dict[str, str]:
    """The survey's figure forms, as inline SVG (matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = {}
    if len(f.points) < 2:
        return out
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
        groups = sorted({(p.backend, p.scheme) for p in f.points})
        for i, group in enumerate(groups):
            members = sorted((p for p in f.points if (p.backend, p.scheme) == group), key=lambda p: p.parameters)
            x = [p.parameters / 1e6 for p in members]
            for ax, values in zip(axes, ([p.prefill_ms for p in members], [p.decode_ms_per_token for p in members],
                                         [p.peak_memory_bytes / 2**20 for p in members])):
                ax.scatter(x, values, color=f"C{i}", label=" ".join(group), zorder=2)
            memory_fit = next((fit for fit in f.fits if fit.y == "peak_memory_mib" and fit.x.endswith(f"({' '.join(group)})")), None)
            if memory_fit:
                ends = [min(x), max(x)]
                axes[2].plot(ends, [memory_fit.slope * e + memory_fit.intercept for e in ends], color=f"C{i}", lw=0.8,
                             ls="--", label=f"{' '.join(group)} fit, R² {memory_fit.r2:.2f}")
        # the survey's first-token time is its prefill time (§4.1: the time to process the prompt)
        panels = {"ttft_ms": 0, "prefill_ms": 0, "decode_ms_per_token": 1, "peak_memory_mb": 2}
        published = [p for p in f.published if p.get("figure") == "Fig. 7" and p.get("metric") in panels
                     and p.get("parameters")]
        for p in published:
            ax = axes[panels[p["metric"]]]
            ax.scatter([p["parameters"] / 1e6], [p["value"]], marker="x", color="black", zorder=3,
                       label="survey (llama.cpp)" if not ax.get_legend_handles_labels()[1].count("survey (llama.cpp)") else None)
        for ax, ylabel in zip(axes, ("prefill (ms)", "decode (ms per token)", "peak memory over baseline (MiB)")):
            ax.set(xlabel="parameters (M)", ylabel=ylabel)  # linear, as the survey draws it
            ax.legend(fontsize=6)
        fig.suptitle("Latency and memory against parameters (survey Fig. 7)")
        out["findings_vs_parameters"] = _svg(fig)
        plt.close(fig)

        if f.quantization:
            fig, ax = plt.subplots(figsize=(max(6, 0.5 * len(f.quantization) + 2), 3.6))
            labels = [f"{r['model']}\n{r['backend']} {r['scheme']}" for r in f.quantization]
            xs = range(len(labels))
            ax.bar([x - 0.2 for x in xs], [r["prefill_speedup"] for r in f.quantization], 0.4, label="prefill")
            ax.bar([x + 0.2 for x in xs], [r["decode_speedup"] or 0 for r in f.quantization], 0.4, label="decode")
            ax.axhline(1, color="grey", lw=0.8)
            ax.set_xticks(list(xs), labels, fontsize=6)
            ax.set(ylabel="speed-up over the float cell (×)", title="Quantization speed-up per phase (survey Fig. 8)")
            ax.legend(fontsize=7)
            out["findings_quantization"] = _svg(fig)
            plt.close(fig)

        parts = [p for p in f.points if p.memory_parts]
        if parts:
            fig, ax = plt.subplots(figsize=(7, 0.35 * len(parts) + 1.6))
            left = [0.0] * len(parts)
            for part in MEMORY_PARTS:
                values = [p.memory_parts[part] / 2**20 for p in parts]
                ax.barh([p.cell for p in parts], values, left=left, label=part.replace("_", " "))
                left = [a + b for a, b in zip(left, values)]
            ax.scatter([p.peak_memory_bytes / 2**20 for p in parts], [p.cell for p in parts], marker="|", s=200,
                       color="black", label="measured peak", zorder=3)
            ax.set(xlabel="MiB", title="Memory by part (survey Fig. 11)")
            ax.tick_params(axis="y", labelsize=6)
            ax.legend(fontsize=6, ncol=3)
            out["findings_memory_parts"] = _svg(fig)
            plt.close(fig)

        traced = [(p.cell, phase, shares) for p in f.points if p.op_shares for phase, shares in p.op_shares.items()]
        if traced:
            fig, ax = plt.subplots(figsize=(7, 0.35 * len(traced) + 1.6))
            left = [0.0] * len(traced)
            for category in [c for c in ET_OP_CATEGORIES if any(c in s for _, _, s in traced)]:
                values = [100 * s.get(category, 0.0) for _, _, s in traced]
                ax.barh([f"{cell} {phase}" for cell, phase, _ in traced], values, left=left, label=category)
                left = [a + b for a, b in zip(left, values)]
            ax.set(xlabel="share of kernel time (%)", title="Latency by op category (survey Fig. 10)")
            ax.tick_params(axis="y", labelsize=6)
            ax.legend(fontsize=6, ncol=4)
            out["findings_op_categories"] = _svg(fig)
            plt.close(fig)
    return out
