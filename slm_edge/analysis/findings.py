"""The survey's findings (arXiv 2409.15790, §4) tested on a sweep's cells: each claim stated, with our
measured evidence and whether it holds on the device the cells ran on.

What is measured per cell (its longest prompt, fastest thread count): prefill time, decode time per
token, peak memory, the predicted memory parts and, when profiled with ops, each op category's share.
What is fitted across cells of one backend and scheme:
- memory and latency against parameters (least squares, R²);
- log latency against architecture attributes, each attribute's share of the explained variance
  by Shapley decomposition of R² (LMG: the R² gain an attribute brings, averaged over every order
  of entering the regression), and what the attributes explain beyond size.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import statistics
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from importlib import resources

from slm_edge.analysis.loaded import LoadedRun
from slm_edge.analysis.regression import Fit, linear_fit, rank_correlation, r_squared, shapley_r2

# Architecture attributes the regressions may use, in the order they enter when there are too few
# models for all of them (the survey names depth, FFN width, vocabulary and parameter sharing).
ATTRIBUTES = {
    "log_parameters": "log10 of the parameter count (size)",
    "layers": "number of layers (depth)",
    "vocab_size": "vocabulary size",
    "ffn_width": "FFN width over hidden size",
    "kv_sharing": "attention heads per KV head (GQA/MQA sharing)",
    "tied_embeddings": "embedding shared with the LM head",
}
SIZE = "log_parameters"
PHASES = ("prefill", "decode")
SIMILAR_SIZE = 0.25  # models within 25% of each other's parameter count are "of the same size"
LATENCY_GAP = 0.25  # ...and their latency differs by more than this to show architecture at work
LINEAR_R2 = 0.9  # "grows about linearly": a straight line explains at least 90% of the variance
QUANTIZED_FROM = ("fp32", "fp16")  # the float baseline a scheme's speed-up is over: fp32 first (this CPU's native float)


@dataclass(frozen=True)
class CellPoint:
    """One profiled cell, as the findings use it."""

    cell: str
    model: str
    backend: str
    scheme: str
    parameters: int
    attributes: Mapping[str, float]
    prompt_length: int
    threads: int
    prefill_ms: float
    decode_ms_per_token: float | None
    peak_memory_bytes: int
    memory_parts: Mapping[str, int] | None  # predicted weights / KV cache / activations / runtime
    working_memory_bytes: int | None  # measured peak less measured after load: KV cache and compute buffers
    op_shares: Mapping[str, Mapping[str, float]] | None  # phase → category → share of kernel time


@dataclass(frozen=True)
class Decomposition:
    """What architecture attributes explain of one phase's log latency across one group's models."""

    phase: str
    n: int
    attributes: tuple[str, ...]
    r2: float
    adjusted_r2: float | None
    r2_size_only: float
    shares: Mapping[str, float]  # attribute → its Shapley share of r2 (they sum to r2)

    @property
    def beyond_size(self) -> float:
        return self.r2 - self.r2_size_only


@dataclass(frozen=True)
class Claim:
    id: str
    survey: str  # what the survey says
    evidence: str  # what we measured, in a sentence or two
    holds: bool | None  # None: not testable with these cells (the evidence says why)
    figure: str


@dataclass
class Findings:
    device: str
    points: list[CellPoint]
    fits: list[Fit] = field(default_factory=list)
    decompositions: dict[str, list[Decomposition]] = field(default_factory=dict)  # group → per phase
    similar_size_pairs: list[dict] = field(default_factory=list)
    quantization: list[dict] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)
    published: list[dict] = field(default_factory=list)  # the survey's own points beside ours

    def to_json(self) -> dict:
        return json.loads(json.dumps({
            "device": self.device, "points": [asdict(p) for p in self.points], "fits": [asdict(f) for f in self.fits],
            "decompositions": {g: [{**asdict(d), "beyond_size": d.beyond_size} for d in ds]
                               for g, ds in self.decompositions.items()},
            "similar_size_pairs": self.similar_size_pairs, "quantization": self.quantization,
            "claims": [asdict(c) for c in self.claims], "published": self.published}, default=_plain))


def _plain(value):
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(type(value))


# --- cells ---------------------------------------------------------------------------------------

def _architecture(run: LoadedRun) -> Mapping | None:
    """The manifest's architecture facts the profile recorded, else the card's of the same name."""
    artifact = run.trace.artifact_facts
    if artifact.architecture:
        return artifact.architecture
    from slm_edge.model.cards import card_names, load_card
    from slm_edge.records.manifest import Architecture

    if artifact.name in card_names():
        return Architecture.from_hf_config(load_card(artifact.name).config, artifact.parameters or 0).to_json()
    return None


def attributes_of(architecture: Mapping, parameters: int) -> dict[str, float]:
    heads, kv = architecture["attention_heads"], architecture["kv_heads"] or architecture["attention_heads"]
    return {
        "log_parameters": math.log10(parameters),
        "layers": float(architecture["layers"]),
        "vocab_size": float(architecture["vocab_size"]),
        "ffn_width": architecture["ffn_size"] / architecture["hidden_size"],
        "kv_sharing": heads / kv,
        "tied_embeddings": 1.0 if architecture["tied_embeddings"] else 0.0,
    }


def cell_point(run: LoadedRun) -> CellPoint | None:
    """The cell at its longest prompt and fastest thread count (by median decode time)."""
    artifact, rows = run.trace.artifact_facts, run.analysis.decoding_rows
    if artifact is None or not artifact.parameters or not rows:
        return None
    architecture = _architecture(run)
    if architecture is None:
        return None
    longest = max(r.prompt_length for r in rows)
    best = max((r for r in rows if r.prompt_length == longest), key=lambda r: r.decode_tok_s.median)
    memory = run.analysis.memory_breakdown
    parts = None if memory is None else {
        "weights": memory.predicted.weight_bytes, "kv_cache": memory.predicted.kv_cache_bytes,
        "activations": memory.predicted.activation_bytes, "runtime": memory.predicted.runtime_bytes}
    shares = {}
    for ops in run.analysis.op_breakdown:
        if ops.threads == best.threads:
            for phase in PHASES:
                if phase in ops.phases:
                    shares[phase] = {c: v["share"] for c, v in ops.phases[phase]["categories"].items()}
    return CellPoint(
        cell=run.name, model=artifact.name, backend=artifact.backend, scheme=artifact.scheme,
        parameters=artifact.parameters, attributes=attributes_of(architecture, artifact.parameters),
        prompt_length=longest, threads=best.threads, prefill_ms=best.prefill_ms.median,
        decode_ms_per_token=1000 / best.decode_tok_s.median, peak_memory_bytes=run.analysis.peak_increase_bytes,
        memory_parts=parts, op_shares=shares or None,
        working_memory_bytes=(memory.measured.peak_bytes - memory.measured.after_load_bytes
                              if memory is not None and memory.measured.after_load_bytes is not None else None))


def decompose(points: Sequence[CellPoint], phase: str) -> Decomposition | None:
    """log latency of a phase against the attributes that vary, as many as the models allow (n - 2)."""
    usable = [p for p in points if (p.prefill_ms if phase == "prefill" else p.decode_ms_per_token)]
    if len(usable) < 3:
        return None
    ys = [math.log(p.prefill_ms / p.prompt_length if phase == "prefill" else p.decode_ms_per_token) for p in usable]
    varying = [a for a in ATTRIBUTES if len({p.attributes[a] for p in usable}) > 1]
    if SIZE not in varying:
        return None
    chosen = varying[: max(1, len(usable) - 2)]
    columns = {a: [p.attributes[a] for p in usable] for a in chosen}
    r2, shares = shapley_r2(columns, ys)
    n, k = len(usable), len(chosen)
    adjusted = 1 - (1 - r2) * (n - 1) / (n - k - 1) if n - k - 1 > 0 else None
    return Decomposition(phase=phase, n=n, attributes=tuple(chosen), r2=r2, adjusted_r2=adjusted,
                         r2_size_only=r_squared([columns[SIZE]], ys), shares=shares)


# --- the findings --------------------------------------------------------------------------------

def _groups(points: Sequence[CellPoint]) -> dict[str, list[CellPoint]]:
    groups = defaultdict(list)
    for p in points:
        groups[f"{p.backend} {p.scheme}"].append(p)
    return dict(groups)


def _similar_size_pairs(points: Sequence[CellPoint]) -> list[dict]:
    pairs = []
    for a, b in itertools.combinations(sorted(points, key=lambda p: p.parameters), 2):
        if (a.backend, a.scheme) != (b.backend, b.scheme) or b.parameters > a.parameters * (1 + SIMILAR_SIZE):
            continue
        for phase, of in (("prefill", lambda p: p.prefill_ms / p.prompt_length), ("decode", lambda p: p.decode_ms_per_token)):
            if of(a) and of(b):
                slower, faster = (a, b) if of(a) > of(b) else (b, a)
                pairs.append({"phase": phase, "backend": a.backend, "scheme": a.scheme, "slower": slower.model,
                              "faster": faster.model, "parameters": [slower.parameters, faster.parameters],
                              "ratio": of(slower) / of(faster)})
    return pairs


def quantization_speedups(points: Sequence[CellPoint]) -> list[dict]:
    """Per model and backend, each quantized scheme's speed-up over the float baseline, per phase."""
    rows = []
    by_model = defaultdict(dict)
    for p in points:
        by_model[(p.model, p.backend)][p.scheme] = p
    for (model, backend), schemes in sorted(by_model.items()):
        base_scheme = next((s for s in QUANTIZED_FROM if s in schemes), None)
        if base_scheme is None:
            continue
        base = schemes[base_scheme]
        for scheme, p in sorted(schemes.items()):
            if scheme in QUANTIZED_FROM:
                continue
            rows.append({"model": model, "backend": backend, "scheme": scheme, "over": base_scheme,
                         "prefill_speedup": base.prefill_ms / p.prefill_ms,
                         "decode_speedup": (base.decode_ms_per_token / p.decode_ms_per_token
                                            if base.decode_ms_per_token and p.decode_ms_per_token else None),
                         "memory_ratio": p.peak_memory_bytes / base.peak_memory_bytes if base.peak_memory_bytes else None})
    return rows


def _fmt_fit(f: Fit, unit: str) -> str:
    return f"{f.slope:.2f} {unit}, R² {f.r2:.3f} over {f.n} models"


def survey_findings(runs: Sequence[LoadedRun], published: Sequence[dict] | None = None) -> Findings:
    points = [p for p in (cell_point(run) for run in runs) if p is not None]
    devices = sorted({str(run.trace.device.to_json().get("model") or "?") for run in runs})
    findings = Findings(device=", ".join(devices), points=points)
    groups = _groups(points)
    for group, members in groups.items():
        params = [p.parameters / 1e6 for p in members]
        for y, values in (("peak_memory_mib", [p.peak_memory_bytes / 2**20 for p in members]),
                          ("prefill_ms", [p.prefill_ms for p in members]),
                          ("decode_ms_per_token", [p.decode_ms_per_token for p in members])):
            fit = linear_fit(params, values, f"parameters_m ({group})", y)
            if fit:
                findings.fits.append(fit)
        found = [d for d in (decompose(members, phase) for phase in PHASES) if d]
        if found:
            findings.decompositions[group] = found
    findings.similar_size_pairs = _similar_size_pairs(points)
    findings.quantization = quantization_speedups(points)
    findings.published = list(published if published is not None else matching_published(points))
    findings.claims = _claims(findings, groups)
    return findings


def _claims(f: Findings, groups: Mapping[str, list[CellPoint]]) -> list[Claim]:
    survey = {c["id"]: c for c in published_survey().get("claims", [])}

    def said(claim_id: str, fallback: str) -> str:
        return survey.get(claim_id, {}).get("text", fallback)

    claims = []
    memory = [fit for fit in f.fits if fit.y == "peak_memory_mib"]
    if memory:
        holds = all(fit.r2 >= LINEAR_R2 for fit in memory)
        evidence = "; ".join(f"{fit.x.split('(')[1][:-1]}: {fit.slope * 2**20 / 1e6:.2f} bytes per parameter, "
                             f"R² {fit.r2:.3f} ({fit.n} models)" for fit in memory)
        claims.append(Claim("memory_linear_in_parameters", said(
            "memory_linear_in_parameters", "runtime memory grows about linearly with the parameter count"),
            f"{evidence}. A line explains ≥ {LINEAR_R2:.0%} of the variance in "
            f"{sum(fit.r2 >= LINEAR_R2 for fit in memory)} of {len(memory)} groups.", holds, "Fig. 7"))
    else:
        claims.append(Claim("memory_linear_in_parameters", said("memory_linear_in_parameters", "memory is linear in size"),
                            "needs at least 3 models of one backend and scheme", None, "Fig. 7"))

    gaps = [p for p in f.similar_size_pairs if p["ratio"] > 1 + LATENCY_GAP]
    decomp = [d for ds in f.decompositions.values() for d in ds]
    if f.similar_size_pairs or decomp:
        parts = []
        if gaps:
            top = max(gaps, key=lambda p: p["ratio"])
            parts.append(f"{len(gaps)} pairs of models within {SIMILAR_SIZE:.0%} in size differ by more than "
                         f"{LATENCY_GAP:.0%}; the widest: {top['slower']} is {top['ratio']:.2f}× slower than "
                         f"{top['faster']} in {top['phase']} ({top['backend']} {top['scheme']})")
        elif f.similar_size_pairs:
            parts.append(f"no pair of models within {SIMILAR_SIZE:.0%} in size differs by more than {LATENCY_GAP:.0%}")
        for group, ds in f.decompositions.items():
            parts.append(f"{group}: size alone explains " + ", ".join(
                f"R² {d.r2_size_only:.2f} of {d.phase} ({d.r2:.2f} with architecture)" for d in ds) + f" over {ds[0].n} models")
        holds = bool(gaps) or any(d.beyond_size > 0.05 for d in decomp)
        claims.append(Claim("latency_beyond_size", said(
            "latency_beyond_size", "beyond size, latency depends on architecture (layers, FFN width, vocabulary, "
            "parameter sharing)"), "; ".join(parts) + ".", holds, "Fig. 7"))
    else:
        claims.append(Claim("latency_beyond_size", said("latency_beyond_size", "architecture matters beyond size"),
                            "needs at least two models of similar size or three of one group", None, "Fig. 7"))

    by_group = [(g, {d.phase: d for d in ds}) for g, ds in f.decompositions.items()]
    paired = [(g, ds) for g, ds in by_group if set(PHASES) <= set(ds)]
    if paired:
        more = [g for g, ds in paired if ds["prefill"].beyond_size > ds["decode"].beyond_size]
        evidence = "; ".join(f"{g}: architecture explains {ds['prefill'].beyond_size:.2f} of prefill's variance beyond "
                             f"size, {ds['decode'].beyond_size:.2f} of decode's" for g, ds in paired)
        claims.append(Claim("architecture_prefill_over_decode", said(
            "architecture_prefill_over_decode", "architecture matters more in prefill than in decode"),
            evidence + ".", len(more) * 2 > len(paired), "Fig. 7"))
    else:
        claims.append(Claim("architecture_prefill_over_decode", said(
            "architecture_prefill_over_decode", "architecture matters more in prefill than in decode"),
            "needs at least 3 models of one backend and scheme", None, "Fig. 7"))

    quantized = [r for r in f.quantization if r["decode_speedup"]]
    if quantized:
        lines, verdicts = [], []
        for (backend, scheme), rows in sorted(_by(quantized, "backend", "scheme").items()):
            prefill = statistics.median(r["prefill_speedup"] for r in rows)
            decode = statistics.median(r["decode_speedup"] for r in rows)
            verdicts.append(decode > prefill)
            lines.append(f"{backend} {scheme} over {rows[0]['over']}: decode ×{decode:.2f}, prefill ×{prefill:.2f} "
                         f"(median of {len(rows)} models)")
        claims.append(Claim("quantization_decode_over_prefill", said(
            "quantization_decode_over_prefill", "quantization speeds up decode more than prefill"),
            "; ".join(lines) + ".", sum(verdicts) * 2 > len(verdicts), "Fig. 8"))
    else:
        claims.append(Claim("quantization_decode_over_prefill", said(
            "quantization_decode_over_prefill", "quantization speeds decode more than prefill"),
            "needs a float and a quantized cell of the same model and backend", None, "Fig. 8"))

    linear = {(fit.x, fit.y): fit for fit in f.fits}
    groups_with_both = [g for g in groups if (f"parameters_m ({g})", "decode_ms_per_token") in linear
                        and (f"parameters_m ({g})", "prefill_ms") in linear]
    if groups_with_both:
        verdicts, lines = [], []
        for g in groups_with_both:
            decode, prefill = linear[(f"parameters_m ({g})", "decode_ms_per_token")], linear[(f"parameters_m ({g})", "prefill_ms")]
            verdicts.append(decode.r2 > prefill.r2)
            lines.append(f"{g}: a line in parameters explains R² {decode.r2:.2f} of decode time, {prefill.r2:.2f} of prefill time")
        claims.append(Claim("decode_linear_in_size", said(
            "decode_linear_in_size", "decode latency follows size more linearly than prefill"),
            "; ".join(lines) + ".", sum(verdicts) * 2 > len(verdicts), "Fig. 7"))

    working = [(g, [p for p in members if p.working_memory_bytes is not None]) for g, members in groups.items()]
    correlated = [(g, rank_correlation([p.attributes["vocab_size"] for p in ms], [p.working_memory_bytes for p in ms]), len(ms))
                  for g, ms in working]
    correlated = [(g, rho, n) for g, rho, n in correlated if rho is not None]
    if correlated:
        claims.append(Claim("memory_vocab_compute_buffer", said(
            "memory_vocab_compute_buffer", "larger vocabularies need a larger compute buffer"),
            "; ".join(f"{g}: memory beyond the loaded model (peak less after load) ranks with vocabulary size at "
                      f"Spearman ρ {rho:+.2f} over {n} models" for g, rho, n in correlated) + ".",
            sum(rho > 0.5 for _, rho, _ in correlated) * 2 > len(correlated), "Fig. 11"))

    kv_lines, kv_verdicts = [], []
    for g, members in groups.items():
        measured = [p for p in members if p.working_memory_bytes is not None]
        shared = [p.working_memory_bytes / p.parameters for p in measured if p.attributes["kv_sharing"] > 1]
        full = [p.working_memory_bytes / p.parameters for p in measured if p.attributes["kv_sharing"] == 1]
        if shared and full:
            gqa, mha = statistics.median(shared), statistics.median(full)
            kv_verdicts.append(gqa < mha)
            kv_lines.append(f"{g}: memory beyond the loaded model per parameter, median {gqa:.2f} bytes for the "
                            f"{len(shared)} GQA/MQA models against {mha:.2f} for the {len(full)} MHA ones")
    if kv_lines:
        claims.append(Claim("memory_gqa_kv_cache", said(
            "memory_gqa_kv_cache", "models using GQA have smaller KV caches than those using MHA"),
            "; ".join(kv_lines) + ".", sum(kv_verdicts) * 2 > len(kv_verdicts), "Fig. 11"))

    # the survey compares Qwen2-0.5B with Qwen1.5-0.5B: models of about one size, the wider FFN
    # taking the larger share; here every such pair of traced cells is compared the same way
    pairs = []
    for g, members in groups.items():
        traced_members = [p for p in members if p.op_shares and "prefill" in p.op_shares]
        for a, b in itertools.combinations(traced_members, 2):
            small, large = sorted((a, b), key=lambda p: p.parameters)
            if large.parameters > small.parameters * (1 + SIMILAR_SIZE) or a.attributes["ffn_width"] == b.attributes["ffn_width"]:
                continue
            wide, narrow = sorted((a, b), key=lambda p: -p.attributes["ffn_width"])
            share = {p.model: p.op_shares["prefill"].get("ffn", 0.0) for p in (wide, narrow)}
            pairs.append((g, wide.model, narrow.model, share[wide.model], share[narrow.model]))
    if pairs:
        agree = [pair for pair in pairs if pair[3] > pair[4]]
        claims.append(Claim("layer_breakdown_ffn_width", said(
            "layer_breakdown_ffn_width", "a wider FFN takes a larger share of latency"),
            f"in {len(agree)} of {len(pairs)} pairs of models within {SIMILAR_SIZE:.0%} in size, the one with the wider FFN "
            "(over hidden size) spends the larger share of prefill kernel time in it: " + "; ".join(
                f"{g}: {wide} {ws:.0%} vs {narrow} {ns:.0%}" for g, wide, narrow, ws, ns in pairs) + ".",
            len(agree) * 2 > len(pairs), "Fig. 10"))

    claims.append(Claim("gpu_prefill_over_decode", said(
        "gpu_prefill_over_decode", "GPUs gain more over CPUs in prefill than in decode"),
        "not testable here: slm-edge's backends run on the CPU (ExecuTorch XNNPACK, onnxruntime's CPU provider), "
        "and this device has no GPU path", None, "Fig. 9"))

    traced = [p for p in f.points if p.op_shares]
    if traced:
        lines = []
        for p in traced:
            tops = {phase: max(shares, key=shares.get) for phase, shares in p.op_shares.items() if shares}
            lines.append(f"{p.cell}: " + ", ".join(f"{phase} {cat} {p.op_shares[phase][cat]:.0%}" for phase, cat in tops.items()))
        claims.append(Claim("latency_by_op_category", said(
            "latency_by_op_category", "which operations dominate latency"),
            "largest category per phase — " + "; ".join(lines) + ".", None, "Fig. 10"))
    memory_parts = [p for p in f.points if p.memory_parts]
    if memory_parts:
        lines = []
        for p in memory_parts:
            total = sum(p.memory_parts.values()) or 1
            lines.append(f"{p.cell}: weights {p.memory_parts['weights'] / total:.0%}, KV {p.memory_parts['kv_cache'] / total:.0%}, "
                         f"activations {p.memory_parts['activations'] / total:.0%}")
        claims.append(Claim("memory_composition", said(
            "memory_composition", "what runtime memory is made of: weights, KV cache, compute buffer"),
            "predicted parts — " + "; ".join(lines) + ".", None, "Fig. 11"))
    return claims


def _by(rows: Sequence[dict], *keys: str) -> dict[tuple, list[dict]]:
    out = defaultdict(list)
    for r in rows:
        out[tuple(r[k] for k in keys)].append(r)
    return out


# --- the survey's own points ----------------------------------------------------------------------

@functools.cache
def published_survey() -> dict:
    """The survey's protocol, claims and figure points as read from the paper (survey_published.json);
    read once a process (600 kB), treated as read-only."""
    path = resources.files("slm_edge.analysis") / "survey_published.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def _key(name: str) -> str:
    return "".join(ch for ch in name.lower().replace("_", ".") if ch.isalnum() or ch == ".")


DRAWN_BESIDE = ("Fig. 7", "Fig. 10", "Fig. 11")  # per-model figures at the survey's protocol (Figs. 8-9: one model's curves)


def matching_published(points: Sequence[CellPoint]) -> list[dict]:
    """The survey's per-model points for the models these cells measured, matched by card name or hub
    id (Qwen2-0.5B ↔ qwen2-0.5b, Bloom-1B1 ↔ bigscience/bloom-1b1); x is the survey's own parameter count."""
    from slm_edge.model.cards import card_names, load_card

    aliases = {}
    for name in card_names():
        card = load_card(name)
        aliases[_key(name)] = aliases[_key(card.hf_id.split("/")[-1])] = name
    ours = {p.model for p in points}
    out = []
    for point in published_survey().get("points", []):
        card = aliases.get(_key(point.get("model", "")))
        if point.get("figure") in DRAWN_BESIDE and card in ours:
            out.append({**point, "card": card, "parameters": int(point["params_m"] * 1e6) if point.get("params_m") else None})
    return out
