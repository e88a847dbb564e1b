"""Comparisons across runs: what quantization buys per phase, the survey-style cell points, the
Pareto front and thread scaling (inputs of the combined report)."""

from __future__ import annotations

from collections.abc import Sequence

from slm_edge.analysis.loaded import LoadedRun
from slm_edge.analysis.run import Row, RunAnalysis
from slm_edge.records.trace import ArtifactFacts


def headline_row(analysis: RunAnalysis) -> Row | None:
    """The row a run is summed up by (its headline figures, a sweep cell's point): the longest prompt
    at the thread count that decoded fastest there. None when no row decoded a token."""
    rows = analysis.decoding_rows
    if not rows:
        return None
    longest = max(r.prompt_length for r in rows)
    return max((r for r in rows if r.prompt_length == longest), key=lambda r: r.decode_tok_s.median)


def quantization_effect(runs: Sequence[LoadedRun]) -> list[dict]:
    """The survey's Fig. 8 question for each model and backend: what each scheme buys over fp32 in
    prefill and in decode (ratios of tok/s at the same prompt length and threads), and in memory."""
    by_key: dict[tuple, dict[str, dict]] = {}
    for run in runs:
        artifact = run.trace.artifact_facts or ArtifactFacts()
        for row in run.analysis.rows:
            key = (artifact.name, artifact.backend, row.threads, row.prompt_length)
            by_key.setdefault(key, {})[artifact.scheme] = {
                "prefill": row.prefill_tok_s.median, "decode": row.decode_tok_s.median if row.decode_tok_s else None,
                "memory": run.analysis.peak_increase_bytes}
    table = []
    for (model, backend, threads, prompt), schemes in sorted(by_key.items(), key=lambda kv: tuple(map(str, kv[0]))):
        base = schemes.get("fp32")
        if not base:
            continue
        for scheme, figures in sorted(schemes.items()):
            if scheme == "fp32":
                continue
            table.append({"model": model, "backend": backend, "threads": threads, "prompt_length": prompt,
                          "scheme": scheme, "prefill_speedup": figures["prefill"] / base["prefill"],
                          "decode_speedup": (figures["decode"] / base["decode"]) if figures["decode"] and base["decode"] else None,
                          "memory_ratio": figures["memory"] / base["memory"] if base["memory"] else None})
    return table


QUALITY_KEYS = ("teacher_forced_top1_agreement", "greedy_agreement")  # verify's figures, first found wins
# eval's mean KL(reference ‖ artifact) over a corpus is the quality figure wherever a cell has it; the
# smaller the better (verify's agreements: the larger)
EVAL_QUALITY = "kl_mean"
LOWER_IS_BETTER = {EVAL_QUALITY}


def quality_figure(artifact: ArtifactFacts) -> tuple[float | None, str | None]:
    """The artifact's one quality figure and its name: eval's mean KL where it was evaluated, else
    verify's agreement; (None, None) when neither ran."""
    evaluated = artifact.quality or {}
    if evaluated.get(EVAL_QUALITY) is not None:
        return evaluated[EVAL_QUALITY], EVAL_QUALITY
    verify = artifact.verify or {}
    key = next((k for k in QUALITY_KEYS if verify.get(k) is not None), None)
    return (verify.get(key), key) if key else (None, None)


def cell_points(runs: Sequence[LoadedRun]) -> list[dict]:
    """One point per profiled cell that knows its artifact: figures at the cell's longest prompt and
    its fastest thread count (by median decode tok/s), beside what the artifact is."""
    points = []
    for run in runs:
        artifact, best = run.trace.artifact_facts, headline_row(run.analysis)
        if artifact is None or not artifact.to_json() or best is None:  # no host facts, or an empty section
            continue
        quality, quality_key = quality_figure(artifact)
        points.append({
            "cell": run.name, "model": artifact.name, "backend": artifact.backend,
            "scheme": artifact.scheme, "parameters": artifact.parameters,
            "threads": best.threads, "prompt_length": best.prompt_length,
            "prefill_ms": best.prefill_ms.median, "prefill_tok_s": best.prefill_tok_s.median,
            "decode_tok_s": best.decode_tok_s.median, "peak_memory_bytes": run.analysis.peak_increase_bytes,
            "quality": quality, "quality_metric": quality_key,
            "ppl_ratio": (artifact.quality or {}).get("ppl_ratio"),
        })
    return points


def pareto_front(points: list[dict]) -> tuple[list[bool], list[str]]:
    """Which points no other point dominates (at least as fast in decode, as small in peak memory and,
    when every point has it, as good in quality; better in one). Returns the flags and the
    objectives used: quality joins only when every cell was evaluated (or every cell verified), so a
    cell is never judged on a figure it lacks."""
    objectives = ["decode_tok_s", "peak_memory_bytes"]
    metrics = {p.get("quality_metric") for p in points}
    # quality joins when every cell has the same figure (eval's KL, or else verify's agreement)
    if points and all(p.get("quality") is not None for p in points) and len(metrics) == 1:
        objectives.append("quality")
    # larger is better after the sign
    sign = {"decode_tok_s": 1, "peak_memory_bytes": -1, "quality": -1 if metrics & LOWER_IS_BETTER else 1}

    def score(p: dict) -> list[float]:
        return [sign[o] * p[o] for o in objectives]

    flags = []
    for p in points:
        mine = score(p)
        dominated = any(all(a >= b for a, b in zip(score(q), mine)) and score(q) != mine
                        for q in points if q is not p)
        flags.append(not dominated)
    return flags, objectives


def sweep_overview(runs: Sequence[LoadedRun]) -> tuple[list[dict], list[str]]:
    """The cells of a combined report, each with its Pareto flag, and the objectives judged."""
    points = cell_points(runs)
    flags, objectives = pareto_front(points)
    return [{**p, "pareto": f} for p, f in zip(points, flags)], objectives


def threads_scaling(runs: Sequence[LoadedRun]) -> dict[str, list[dict]]:
    """Per cell measured at more than one thread count: decode and prefill tok/s per thread count
    at the cell's longest prompt."""
    out = {}
    for run in runs:
        rows = run.analysis.decoding_rows
        if len({r.threads for r in rows}) < 2:
            continue
        longest = max(r.prompt_length for r in rows)
        out[run.name] = [{"threads": r.threads, "decode_tok_s": r.decode_tok_s.median,
                          "prefill_tok_s": r.prefill_tok_s.median, "prompt_length": longest}
                         for r in sorted(rows, key=lambda r: r.threads) if r.prompt_length == longest]
    return out
