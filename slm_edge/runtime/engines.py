"""Which engine runs an artifact, and loading it (the engines themselves: executorch_llm, onnx_llm)."""

from __future__ import annotations

from pathlib import Path

from slm_edge.errors import SlmEdgeError
from slm_edge.runtime.step import StepLlm

ENGINES = ("executorch", "onnxruntime", "onnxruntime-genai")


def engines_for(manifest: dict) -> list[str]:
    runtime = manifest["runtime"]
    return list(runtime.get("engines") or [runtime["engine"]])


def resolve_engine(manifest: dict, engine: str | None) -> str:
    """The engine asked for if the artifact runs on it, else its first listed one when none was asked."""
    available = engines_for(manifest)
    engine = engine or available[0]
    if engine not in available:
        raise SlmEdgeError(f"this {manifest['backend']} artifact cannot run on {engine}",
                           f"use --engine {' or '.join(available)}")
    return engine


def load_engine(folder: Path, manifest: dict, engine: str | None = None, threads: int = 0) -> StepLlm:
    """The artifact's engine (its first listed one unless asked for another it supports)."""
    engine = resolve_engine(manifest, engine)
    folder = Path(folder)
    if engine == "executorch":
        from slm_edge.runtime.executorch_llm import EtLlm

        return EtLlm(folder / manifest["model_file"], threads=threads)
    from slm_edge.runtime.onnx_llm import GenaiLlm, OrtLlm

    if engine == "onnxruntime":
        return OrtLlm(folder, manifest, threads=threads)
    return GenaiLlm(folder, manifest, threads=threads)
