"""The export paths: for each backend a fast path (a runtime's own LLM model form) and a generic one
(any transformers causal LM), each with what keeps it from a model and how it builds an artifact.

A path's heavy modules (torch, executorch, onnxruntime-genai) are imported only when it is asked
about or used, so importing this registry costs nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable

from slm_edge.errors import BadInput
from slm_edge.export.config import PATH_CHOICES, ExportConfig
from slm_edge.progress import StageTimer
from slm_edge.records.manifest import library_versions
from slm_edge.records.program_format import pte_program_facts


@dataclass(frozen=True)
class Built:
    """What a path leaves in the staging folder, as the manifest records it."""

    model_file: str
    embedding_quant: str
    planned_arena_bytes: int | None  # None: the runtime plans activations at run time
    runtime: dict
    quantization: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ExportPath:
    backend: str
    choice: str  # what `path` asks for: "fast" or "generic"
    name: str  # recorded in the manifest
    title: str  # how refusals name it
    blocker: Callable[[dict], str | None]  # why it cannot take a model config, None when it can
    build: Callable[..., Built]  # (source, model, config, staging, timer) → Built
    # why a fast path was chosen for a model it can take (a generic path is taken when asked for,
    # or when the fast one cannot: the reason says which)
    reason: Callable[[dict], str] | None = None


# --- ExecuTorch ------------------------------------------------------------------------------------

def _et_hybrid(config: dict) -> bool:
    """Families mixing sliding-window and full attention take the fast path's hybrid decoder (hybrid.py)."""
    from slm_edge.export.executorch.hybrid import HYBRID_FAMILIES

    return (config.get("text_config") or config).get("model_type") in HYBRID_FAMILIES


def _et_fast_blocker(config: dict) -> str | None:
    from slm_edge.export.executorch.hf_to_meta import fast_path_blocker
    from slm_edge.export.executorch.hybrid import hybrid_blocker

    return hybrid_blocker(config) if _et_hybrid(config) else fast_path_blocker(config)


def _et_fast_reason(config: dict) -> str:
    if _et_hybrid(config):
        return ("sliding-window and full attention on executorch's custom SDPA and in-place KV caches "
                "(ring buffers for the window layers)")
    return "the family is covered by executorch's LLM model (custom SDPA, in-place KV cache)"


def _build_executorch(source, model, config: ExportConfig, staging: Path, timer: StageTimer, *, fast: bool) -> Built:
    extra = {"full_logits": True} if config.executorch.full_logits else {}
    if fast and _et_hybrid(source.config):
        from slm_edge.export.executorch.fast import export_hybrid as exporter
        extra["prefill_chunk"] = config.executorch.prefill_chunk
    elif fast:
        from slm_edge.export.executorch.fast import export_fast as exporter
        extra["random_weights"] = source.random_weights  # no GGUF grid to look for
    else:
        from slm_edge.export.executorch.generic import export_generic as exporter
    lowered = exporter(model, source.config, scheme=config.quant, group_size=config.executorch.group_size,
                       embedding_quant=config.executorch.embedding_quant, max_seq_len=config.max_seq_len,
                       workdir=staging, timer=timer, **extra)
    return Built(
        model_file=lowered.pte.name,
        embedding_quant=config.executorch.embedding_quant,
        planned_arena_bytes=lowered.planned_activation_bytes,
        runtime={
            "engine": "executorch",
            "engines": ["executorch"],
            "metadata": lowered.runtime_metadata,
            "inputs": ["tokens [1, n] int64", "start_pos [1] int64" if fast else "cache_position [n] int64"],
            "outputs": ["logits of every position [1, n, vocab] float32" if config.executorch.full_logits
                        else "logits of the last position [1, vocab] float32" if fast
                        else "logits of the last position [1, 1, vocab] float32"],
            **({"full_logits": True} if config.executorch.full_logits else {}),
            "delegation": lowered.delegation,
            **({"kv_cache": {"sliding_window_slots": lowered.sliding_window_slots,
                             "max_chunk": lowered.runtime_metadata["get_max_seq_len"]}}
               if lowered.sliding_window_slots else {}),
            "program": pte_program_facts(lowered.pte),
        },
        quantization={"source_grids": lowered.source_grids} if lowered.source_grids else {},
    )


# --- ONNX ------------------------------------------------------------------------------------------

def _onnx_builder_blocker(config: dict) -> str | None:
    from slm_edge.export.onnx.builder import builder_blocker

    return builder_blocker(config)


def _onnx_generic_blocker(config: dict) -> str | None:
    from slm_edge.export.onnx.generic import generic_blocker

    return generic_blocker(config)


def _onnx_builder_reason(config: dict) -> str:
    from slm_edge.export.onnx.builder import causal_lm_architecture

    return f"onnxruntime-genai's builder knows {causal_lm_architecture(config)}"


def _refuse_non_causal_lm(config: dict) -> None:
    """Neither ONNX path takes a model transformers has no causal-LM class for."""
    from slm_edge.export.onnx.builder import BUILDER_ARCHITECTURES, causal_lm_architecture

    if causal_lm_architecture(config) is None:
        families = ", ".join(a.removesuffix("ForCausalLM") for a in BUILDER_ARCHITECTURES)
        raise BadInput(
            f"no ONNX path supports model type '{config.get('model_type')}' (not a transformers causal LM)",
            f"use a supported family (builder: {families}; generic: any transformers causal LM)",
        )


def _build_onnx(source, model, config: ExportConfig, staging: Path, timer: StageTimer, *, fast: bool) -> Built:
    from slm_edge.export.onnx.graph import describe_graph
    from slm_edge.records.manifest import Architecture

    onnx = config.onnx
    options = dict(scheme=config.quant, block_size=onnx.block_size, accuracy_level=onnx.accuracy_level)
    if fast:
        from slm_edge.export.onnx.builder import export_builder

        model_file = export_builder(source, model, max_seq_len=config.max_seq_len, staging=staging, timer=timer,
                                    **options).model_file
        engines = ["onnxruntime", "onnxruntime-genai"]
    else:
        from slm_edge.export.onnx.generic import export_generic

        model_file = export_generic(model, source.config, staging=staging, timer=timer, **options)
        engines = ["onnxruntime"]
    graph = describe_graph(staging / model_file)
    facts = Architecture.from_hf_config(source.config)
    graph["io"]["kv_cache"]["empty_past_shape"] = [1, facts.kv_heads, 0, facts.head_dim]
    if "com.microsoft.GroupQueryAttention" in graph["op_types"]:
        # GroupQueryAttention writes the new K/V in place when past and present are one buffer:
        # no copy of the whole cache per decode step (what genai does; the phone loop should too)
        graph["io"]["kv_cache"]["share_buffer"] = {
            "shape": [1, facts.kv_heads, config.max_seq_len, facts.head_dim],
            "how": "allocate past once at this shape, bind each present output to the same buffer as its "
                   "past input; attention_mask length (past + new) tells the graph how much of it is valid",
        }
    ops = graph["op_types"]
    # The builder quantizes the embedding table too (GatherBlockQuantized) at the same bit width.
    if graph["embedding_shares_lm_head"]:
        embedding = "shared"
    elif "com.microsoft.GatherBlockQuantized" in ops:
        embedding = {"int4": "4w", "int8": "8w"}.get(config.quant, "none")
    else:
        embedding = "none"
    return Built(
        model_file=model_file,
        embedding_quant=embedding,
        planned_arena_bytes=None,
        quantization={"accuracy_level": onnx.accuracy_level if config.quant in ("int4", "int8") else None},
        runtime={
            "engine": "onnxruntime",
            "engines": engines,
            "execution_provider": onnx.execution_provider,
            "opset": graph["opset"],
            "program": {"format": "onnx", "ir_version": graph["ir_version"], "opset": graph["opset"],
                        "exported_with": {k: library_versions()[k] for k in ("onnx", "onnxruntime")}},
            "op_types": ops,
            "external_data": graph["external_data"],
            "genai_config": "genai_config.json" if (staging / "genai_config.json").is_file() else None,
            "io": graph["io"],
        },
    )


def _never(config: dict) -> None:
    return None


PATHS = {
    ("executorch", "fast"): ExportPath(
        "executorch", "fast", "executorch-llm", "fast path", _et_fast_blocker, partial(_build_executorch, fast=True),
        _et_fast_reason),
    ("executorch", "generic"): ExportPath(
        "executorch", "generic", "transformers-static-cache", "generic path", _never,
        partial(_build_executorch, fast=False)),
    ("onnx", "fast"): ExportPath(
        "onnx", "fast", "onnxruntime-genai model builder (GroupQueryAttention, MatMulNBits)", "fast ONNX path",
        _onnx_builder_blocker, partial(_build_onnx, fast=True), _onnx_builder_reason),
    ("onnx", "generic"): ExportPath(
        "onnx", "generic", "torch.onnx dynamo export with explicit KV cache + onnxruntime quantizers",
        "generic ONNX path", _onnx_generic_blocker, partial(_build_onnx, fast=False)),
}

# what a backend refuses before any of its paths is asked; and the way out when no path of it fits
BACKEND_REFUSALS: dict[str, Callable[[dict], None]] = {"executorch": _never, "onnx": _refuse_non_causal_lm}
BACKEND_TITLES = {"executorch": "ExecuTorch", "onnx": "ONNX"}
NO_PATH_FIX = {"onnx": "use {path} auto (the builder's fast path takes Gemma 3 and the other families it knows) "
                       "or {backend} executorch (its generic path covers every sliding-window model)",
               "executorch": "use {backend} onnx"}


def export_path(backend: str, choice: str) -> ExportPath:
    return PATHS[(backend, choice)]


def choose_path(config: dict, requested: str, backend: str = "executorch") -> tuple[str, str]:
    """Which path ("fast" or "generic") builds this model config, and why; refuses one that cannot."""
    if requested not in PATH_CHOICES:
        raise BadInput(f"unknown export path '{requested}'", f"use one of: {', '.join(PATH_CHOICES)}")
    BACKEND_REFUSALS[backend](config)
    fast, generic = export_path(backend, "fast"), export_path(backend, "generic")
    blocker = fast.blocker(config)
    if requested == "fast" and blocker is not None:
        raise BadInput(f"the {fast.title} cannot export this model: {blocker}", "use {path} generic or {path} auto")
    if requested == "fast" or (requested == "auto" and blocker is None):
        return "fast", fast.reason(config)
    generic_blocker = generic.blocker(config)
    if generic_blocker is not None:
        raise BadInput(f"no {BACKEND_TITLES[backend]} path can export {config.get('model_type')}: "
                       + (f"{blocker}; " if blocker else "") + generic_blocker, NO_PATH_FIX[backend])
    if requested == "generic":
        return "generic", "requested with --path generic"  # manifest data, unchanged since the first release
    return "generic", f"fast path not possible ({blocker})"
