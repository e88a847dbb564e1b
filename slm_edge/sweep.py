"""`slm-edge sweep SPEC.yaml`: models × backends × quant schemes → export (cached) + verify + profile
on the emulated device, one run folder per cell, then one combined report.

Resumable: a cell whose run folder holds a complete trace is never run again; a failed cell is
recorded with its error (sweep.json) and the sweep goes on.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from slm_edge import cache
from slm_edge.errors import SlmEdgeError

SPEC_KEYS = {"name", "models", "backends", "prompt_lengths", "decode_tokens", "threads", "repeats", "warmup",
             "max_seq_len", "verify", "verify_steps"}
STATE_FILE = "sweep.json"


@dataclass
class Cell:
    model: str
    random_weights: bool
    backend: str
    quant: str

    @property
    def name(self) -> str:
        model = Path(self.model).name if ("/" in self.model or self.model.endswith(".gguf")) else self.model
        return f"{model}-{self.backend}-{self.quant}"


@dataclass
class SweepSpec:
    name: str
    cells: list[Cell]
    prompt_lengths: list[int]
    decode_tokens: int = 32
    threads: list[int] = field(default_factory=lambda: [2])
    repeats: int = 3
    warmup: int = 1
    max_seq_len: int = 512
    verify: bool = True
    verify_steps: int = 16


def load_spec(path: Path) -> SweepSpec:
    from slm_edge.recipes import load_yaml_mapping

    path = Path(path)
    data = load_yaml_mapping(path, "sweep spec", "pass a YAML file such as sweeps/quantization-effect.yaml", sorted(SPEC_KEYS))
    unknown = set(data) - SPEC_KEYS
    if unknown:
        raise SlmEdgeError(f"sweep spec {path} has unknown keys: {', '.join(sorted(unknown))}",
                           f"use keys from: {', '.join(sorted(SPEC_KEYS))}")
    models = data.get("models") or []
    backends = data.get("backends") or {}
    if (not isinstance(models, list) or not models or not isinstance(backends, dict) or not backends
            or not all(isinstance(v, (list, str)) and v for v in backends.values())):
        raise SlmEdgeError(f"sweep spec {path} needs 'models' (a list) and 'backends' (backend: [schemes])",
                           "see sweeps/quantization-effect.yaml")
    cells = []
    for entry in models:
        model = entry if isinstance(entry, str) else entry.get("model") if isinstance(entry, dict) else None
        random_weights = bool(entry.get("random_weights")) if isinstance(entry, dict) else False
        if not isinstance(model, str):
            raise SlmEdgeError(f"sweep spec {path}: model entry {entry!r} names no model",
                               "write `- smollm2-135m` or `- {model: qwen2.5-0.5b, random_weights: true}`")
        for backend, schemes in backends.items():
            for quant in schemes if isinstance(schemes, list) else [schemes]:
                cells.append(Cell(model, random_weights, str(backend), str(quant)))
    try:
        return SweepSpec(name=str(data.get("name", path.stem)), cells=cells,
                         prompt_lengths=[int(v) for v in data.get("prompt_lengths", [32, 128])],
                         decode_tokens=int(data.get("decode_tokens", 32)),
                         threads=[int(v) for v in data.get("threads", [2])],
                         repeats=int(data.get("repeats", 3)), warmup=int(data.get("warmup", 1)),
                         max_seq_len=int(data.get("max_seq_len", 512)), verify=bool(data.get("verify", True)),
                         verify_steps=int(data.get("verify_steps", 16)))
    except (TypeError, ValueError) as exc:
        raise SlmEdgeError(f"sweep spec {path}: a number is not a number ({exc})",
                           "write prompt_lengths/threads as lists of integers") from exc


def _state(out: Path) -> dict:
    path = out / STATE_FILE
    return json.loads(path.read_text()) if path.is_file() else {"cells": {}}


def run_sweep(spec: SweepSpec, out: Path, *, progress=print) -> dict:
    from slm_edge.device.local import LocalDevice
    from slm_edge.export import ExportRequest, export_model
    from slm_edge.profile import ProfileOptions, profile_artifact
    from slm_edge.progress import StageTimer
    from slm_edge.sources import resolve_source
    from slm_edge.trace import load_trace
    from slm_edge.verify import verify_artifact

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    state = _state(out)
    state["spec"] = spec.name
    for cell in spec.cells:
        run_dir = out / "cells" / cell.name
        trace_path = run_dir / "trace.json"
        if trace_path.is_file() and load_trace(trace_path)["status"] == "complete":
            state["cells"][cell.name] = {**state["cells"].get(cell.name, {}), "status": "complete"}
            progress(f"{cell.name}: done before, kept")
            continue
        started = time.perf_counter()
        try:
            source = resolve_source(cell.model, random_weights=cell.random_weights)
            outcome = export_model(source, ExportRequest(backend=cell.backend, quant=cell.quant,
                                                         max_seq_len=min(spec.max_seq_len, source.config.get(
                                                             "max_position_embeddings") or spec.max_seq_len)),
                                   out / "artifacts" / cell.name, timer=StageTimer(quiet=True))
            if spec.verify:
                verify_artifact(outcome.folder, steps=spec.verify_steps)
            options = ProfileOptions(prompt_lengths=spec.prompt_lengths, decode_tokens=spec.decode_tokens,
                                     repeats=spec.repeats, warmup=spec.warmup, threads=spec.threads)
            profile_artifact(outcome.folder, LocalDevice(), options, run_dir)
            state["cells"][cell.name] = {"status": "complete", "seconds": round(time.perf_counter() - started, 1)}
            progress(f"{cell.name}: complete")
        except SlmEdgeError as err:
            state["cells"][cell.name] = {"status": "failed", "error": err.one_line()}
            progress(f"{cell.name}: failed — {err.one_line()}")
        cache.atomic_write_text(out / STATE_FILE, json.dumps(state, indent=2) + "\n")
    return state


def quantization_effect(run_dirs: list[Path]) -> list[dict]:
    """The survey's Fig. 8 question for each model and backend: what each scheme buys over fp32 in
    prefill and in decode (ratios of tok/s at the same prompt length and threads), and in memory."""
    from slm_edge.analysis import analyze
    from slm_edge.trace import load_trace

    by_key: dict[tuple, dict[str, dict]] = {}
    for run_dir in run_dirs:
        trace = load_trace(Path(run_dir) / "trace.json")
        artifact = trace.get("host", {}).get("artifact") or {}
        analysis = analyze(trace)
        for row in analysis["rows"]:
            key = (artifact.get("name"), artifact.get("backend"), row["threads"], row["prompt_length"])
            by_key.setdefault(key, {})[artifact.get("scheme")] = {
                "prefill": row["prefill_tok_s"]["median"], "decode": (row["decode_tok_s"] or {}).get("median"),
                "memory": analysis["peak_increase_bytes"]}
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


# --- the survey-style figures of a combined report (Figs. 7 and 8, threads, Pareto front) -----------

QUALITY_KEYS = ("teacher_forced_top1_agreement", "greedy_agreement")  # verify's figures, first found wins


def cell_points(runs: dict[str, dict], traces: dict[str, dict]) -> list[dict]:
    """One point per profiled cell that knows its artifact: figures at the cell's longest prompt and
    its fastest thread count (by median decode tok/s), beside what the artifact is."""
    points = []
    for name, analysis in runs.items():
        artifact = traces.get(name, {}).get("host", {}).get("artifact")
        rows = [r for r in analysis["rows"] if r["decode_tok_s"]]
        if not artifact or not rows:
            continue
        longest = max(r["prompt_length"] for r in rows)
        best = max((r for r in rows if r["prompt_length"] == longest), key=lambda r: r["decode_tok_s"]["median"])
        verify = artifact.get("verify") or {}
        quality_key = next((k for k in QUALITY_KEYS if verify.get(k) is not None), None)
        points.append({
            "cell": name, "model": artifact.get("name"), "backend": artifact.get("backend"),
            "scheme": artifact.get("scheme"), "parameters": artifact.get("parameters"),
            "threads": best["threads"], "prompt_length": longest,
            "prefill_ms": best["prefill_ms"]["median"], "prefill_tok_s": best["prefill_tok_s"]["median"],
            "decode_tok_s": best["decode_tok_s"]["median"], "peak_memory_bytes": analysis["peak_increase_bytes"],
            "quality": verify.get(quality_key) if quality_key else None, "quality_metric": quality_key,
        })
    return points


def pareto_front(points: list[dict]) -> tuple[list[bool], list[str]]:
    """Which points no other point dominates (at least as fast in decode, as small in peak memory and,
    when every point has it, as good in quality; better in one). Returns the flags and the
    objectives used: quality joins only when every cell was verified, so an unverified cell is never
    judged on a figure it lacks."""
    objectives = ["decode_tok_s", "peak_memory_bytes"]
    if points and all(p.get("quality") is not None for p in points):
        objectives.append("quality")
    sign = {"decode_tok_s": 1, "peak_memory_bytes": -1, "quality": 1}  # larger is better after the sign

    def score(p: dict) -> list[float]:
        return [sign[o] * p[o] for o in objectives]

    flags = []
    for p in points:
        mine = score(p)
        dominated = any(all(a >= b for a, b in zip(score(q), mine)) and score(q) != mine
                        for q in points if q is not p)
        flags.append(not dominated)
    return flags, objectives


def threads_scaling(runs: dict[str, dict]) -> dict[str, list[dict]]:
    """Per cell measured at more than one thread count: decode and prefill tok/s per thread count
    at the cell's longest prompt."""
    out = {}
    for name, analysis in runs.items():
        rows = [r for r in analysis["rows"] if r["decode_tok_s"]]
        if len({r["threads"] for r in rows}) < 2:
            continue
        longest = max(r["prompt_length"] for r in rows)
        out[name] = [{"threads": r["threads"], "decode_tok_s": r["decode_tok_s"]["median"],
                      "prefill_tok_s": r["prefill_tok_s"]["median"], "prompt_length": longest}
                     for r in sorted(rows, key=lambda r: r["threads"]) if r["prompt_length"] == longest]
    return out
