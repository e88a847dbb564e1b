"""`slm-edge recommend`: which profiled artifacts fit a budget, best first, and why each other fails."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from slm_edge.analysis.loaded import LoadedRun, load_run
from slm_edge.errors import BadInput
from slm_edge.records.trace import ArtifactFacts

_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "kib": 2**10, "m": 10**6, "mb": 10**6, "mib": 2**20,
          "g": 10**9, "gb": 10**9, "gib": 2**30}


def parse_size(text: str) -> int:
    """'1.5GB', '800MiB', '512M', '2e9' → bytes. Hand-written: ten lines, not worth a dependency."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([a-zA-Z]*)\s*", str(text))
    unit = match.group(2).lower() if match else None
    if not match or unit not in _UNITS:
        raise BadInput(f"cannot read the size {text!r}", "write it like 1.5GB, 800MiB or 512M")
    return int(float(match.group(1)) * _UNITS[unit])


@dataclass
class Candidate:
    run: str
    model: str
    backend: str
    scheme: str
    engine: str
    threads: int
    prompt_length: int
    decode_tok_s: float
    prefill_tok_s: float
    ttft_ms: float
    peak_memory_bytes: int
    model_bytes: int | None
    greedy_agreement: float | None
    kl_mean: float | None = None  # from `slm-edge eval` (eval.json when the artifact was profiled)
    ppl_ratio: float | None = None
    top1_agreement: float | None = None
    reasons: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def _known(value, fallback):
    """A host fact, or what stands for it when the host did not record it."""
    return fallback if value is None else value


def candidates(run: LoadedRun, prompt_length: int | None) -> list[Candidate]:
    if run.trace.run_config.mode == "eval":
        raise BadInput(f"{run.folder or run.name} is an eval run (`slm-edge eval --device/--emulated`), not a profile",
                       "pass folders that `slm-edge profile` wrote")
    analysis = run.analysis
    artifact = run.trace.artifact_facts or ArtifactFacts()
    verify = artifact.verify or {}
    quality = artifact.quality or {}
    lengths = sorted({row.prompt_length for row in analysis.rows})
    # Decode slows as the context grows: without a length asked for, judge at the longest profiled.
    wanted = prompt_length if prompt_length is not None else (lengths[-1] if lengths else None)
    found = []
    for row in analysis.decoding_rows:
        if row.prompt_length != wanted:
            continue
        found.append(Candidate(
            run=run.name, model=_known(artifact.name, analysis.artifact["model_file"]),
            backend=_known(artifact.backend, "?"), scheme=_known(artifact.scheme, "?"),
            engine=analysis.artifact["engine"], threads=row.threads, prompt_length=row.prompt_length,
            decode_tok_s=row.decode_tok_s.median, prefill_tok_s=row.prefill_tok_s.median,
            ttft_ms=row.ttft_ms.median, peak_memory_bytes=analysis.peak_increase_bytes,
            model_bytes=artifact.model_bytes, greedy_agreement=verify.get("greedy_agreement"),
            kl_mean=quality.get("kl_mean"), ppl_ratio=quality.get("ppl_ratio"), top1_agreement=quality.get("top1_agreement")))
    if not found:
        raise BadInput(f"{run.folder or run.name} has no measured run at prompt length {wanted} (it has {lengths})",
                       "pass {prompt_length} with one of the profiled lengths")
    return found


def recommend(run_dirs: list[Path], *, max_memory: int | None = None, min_decode_tps: float | None = None,
              min_agreement: float | None = None, prompt_length: int | None = None, max_kl: float | None = None,
              max_ppl_ratio: float | None = None) -> tuple[list[Candidate], list[Candidate]]:
    if not run_dirs:
        raise BadInput("no run folders given", "pass one or more folders that `slm-edge profile` wrote")
    passing, failing = [], []
    for run_dir in run_dirs:  # loaded one at a time: a folder that is not a run is named before the next loads
        for candidate in candidates(load_run(run_dir), prompt_length):
            if max_memory is not None and candidate.peak_memory_bytes > max_memory:
                candidate.reasons.append(f"peak memory +{candidate.peak_memory_bytes / 2**20:.0f} MiB exceeds "
                                         f"{max_memory / 2**20:.0f} MiB")
            if min_decode_tps is not None and candidate.decode_tok_s < min_decode_tps:
                candidate.reasons.append(f"decode {candidate.decode_tok_s:.1f} tok/s is below {min_decode_tps:g}")
            if min_agreement is not None:
                if candidate.greedy_agreement is None:
                    candidate.reasons.append("no quality figures: run `slm-edge verify` on the artifact, then profile it again")
                elif candidate.greedy_agreement < min_agreement:
                    candidate.reasons.append(f"greedy agreement {candidate.greedy_agreement:.2f} is below {min_agreement:g}")
            _judge_quality(candidate, max_kl, max_ppl_ratio)
            (failing if candidate.reasons else passing).append(candidate)
    passing.sort(key=lambda c: (-c.decode_tok_s, c.peak_memory_bytes))
    return passing, failing


def _judge_quality(candidate: Candidate, max_kl: float | None, max_ppl_ratio: float | None) -> None:
    if max_kl is None and max_ppl_ratio is None:
        return
    if candidate.kl_mean is None:
        candidate.reasons.append("no eval figures: run `slm-edge eval` on the artifact, then profile it again")
        return
    if max_kl is not None and candidate.kl_mean > max_kl:
        candidate.reasons.append(f"mean KL {candidate.kl_mean:.3g} exceeds {max_kl:g}")
    if max_ppl_ratio is not None and candidate.ppl_ratio > max_ppl_ratio:
        candidate.reasons.append(f"perplexity ×{candidate.ppl_ratio:.3f} the reference exceeds ×{max_ppl_ratio:g}")
