"""Which engine runs an artifact, and loading it (the engines themselves: executorch_llm, onnx_llm)."""

from __future__ import annotations

from pathlib import Path

from slm_edge.errors import BadInput
from slm_edge.records.manifest import Manifest
from slm_edge.runtime.step import StepLlm

ENGINES = ("executorch", "onnxruntime", "onnxruntime-genai")


def resolve_engine(manifest: Manifest, engine: str | None) -> str:
    """The engine asked for if the artifact runs on it, else its first listed one when none was asked."""
    available = manifest.engines
    engine = engine or available[0]
    if engine not in available:
        raise BadInput(f"this {manifest.backend} artifact cannot run on {engine}",
                       f"use {{engine}} {' or '.join(available)}")
    return engine


def load_engine(folder: Path, manifest: Manifest, engine: str | None = None, threads: int = 0) -> StepLlm:
    """The artifact's engine (its first listed one unless asked for another it supports)."""
    engine = resolve_engine(manifest, engine)
    folder = Path(folder)
    if engine == "executorch":
        from slm_edge.runtime.executorch_llm import EtLlm

        return EtLlm(folder / manifest.model_file, threads=threads, full_logits=bool(manifest.runtime.full_logits))
    from slm_edge.runtime.onnx_llm import GenaiLlm, OrtLlm

    if engine == "onnxruntime":
        return OrtLlm(folder, manifest, threads=threads)
    return GenaiLlm(folder, manifest, threads=threads)
