"""`slm-edge export`: a model source → an artifact folder (model, tokenizer, manifest.json).

Artifacts are built in a staging folder of the cache keyed by a content hash of everything that
shapes them, and moved into place only when complete, so a failure never leaves a folder that
looks like a good artifact, and the same inputs are never exported twice.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from slm_edge import __version__, cache
from slm_edge.errors import SlmEdgeError
from slm_edge.export.executorch.hf_to_meta import fast_path_blocker
from slm_edge.export.manifest import write_manifest
from slm_edge.model.architecture import architecture_facts
from slm_edge.records.manifest import MANIFEST, TOKENIZER_FILES, library_versions, read_manifest
from slm_edge.model.memory import parameter_count, predict_memory, predict_weight_bytes
from slm_edge.records.program_format import pte_program_facts
from slm_edge.progress import StageTimer
from slm_edge.model.quant import EMBEDDING_QUANT, check_group_size, check_onnx_options, scheme_for
from slm_edge.model.sources import ModelSource

PATH_CHOICES = ("auto", "fast", "generic")
MIN_SEQ_LEN = 8


@dataclass
class ExportRequest:
    backend: str = "executorch"
    quant: str = "8da4w"
    group_size: int = 32
    embedding_quant: str = "8w"
    max_seq_len: int = 1024
    path: str = "auto"
    # ONNX only
    block_size: int = 32
    accuracy_level: int = 4
    execution_provider: str = "cpu"


@dataclass
class ExportOutcome:
    folder: Path
    manifest: dict
    from_cache: bool


def choose_path(config: dict, requested: str, backend: str = "executorch") -> tuple[str, str]:
    """Which export path builds this model, and why."""
    if requested not in PATH_CHOICES:
        raise SlmEdgeError(f"unknown export path '{requested}'", f"use one of: {', '.join(PATH_CHOICES)}")
    if backend == "onnx":
        blocker, fast_reason, label = _onnx_fast_path(config, requested)
    else:
        blocker, label = fast_path_blocker(config), "fast path"
        fast_reason = "the family is covered by executorch's LLM model (custom SDPA, in-place KV cache)"
    if requested == "generic":
        return "generic", "requested with --path generic"
    if blocker is None:
        return "fast", fast_reason
    if requested == "fast":
        raise SlmEdgeError(f"the {label} cannot export this model: {blocker}", "use --path generic or --path auto")
    return "generic", f"fast path not possible ({blocker})"


def _onnx_fast_path(config: dict, requested: str) -> tuple[str | None, str, str]:
    """What keeps onnxruntime-genai's builder from this model (None: nothing), and why it fits; refuses a
    model neither ONNX path can export when the generic one would be taken."""
    from slm_edge.export.onnx.builder import BUILDER_ARCHITECTURES, builder_blocker, causal_lm_architecture

    architecture = causal_lm_architecture(config)
    if architecture is None:
        families = ", ".join(a.removesuffix("ForCausalLM") for a in BUILDER_ARCHITECTURES)
        raise SlmEdgeError(
            f"no ONNX path supports model type '{config.get('model_type')}' (not a transformers causal LM)",
            f"use a supported family (builder: {families}; generic: any transformers causal LM)",
        )
    blocker = builder_blocker(config)
    if requested != "fast" and (blocker is not None or requested == "generic"):
        from slm_edge.export.onnx.generic import generic_blocker

        generic = generic_blocker(config)
        if generic is not None:
            raise SlmEdgeError(
                f"no ONNX path can export {config.get('model_type')}: "
                + (f"{blocker}; " if blocker else "") + generic,
                "use --backend executorch (its generic path covers sliding-window models such as Gemma 3)",
            )
    return blocker, f"onnxruntime-genai's builder knows {architecture}", "fast ONNX path"


def validate(source: ModelSource, request: ExportRequest) -> None:
    for key in ("num_attention_heads", "hidden_size", "num_hidden_layers", "intermediate_size", "vocab_size"):
        if key not in source.config:
            raise SlmEdgeError(
                f"the model's config has no '{key}', so it is not a decoder-only transformer slm-edge can export",
                "pass a causal language model (Llama, Qwen2/3, Phi-3, Gemma 3, SmolLM2, ...)",
            )
    scheme = scheme_for(request.backend, request.quant)
    if request.backend == "onnx":
        check_onnx_options(source.config, scheme, request.block_size, request.accuracy_level, request.execution_provider)
    if request.embedding_quant not in EMBEDDING_QUANT:
        raise SlmEdgeError(
            f"unknown embedding quantization '{request.embedding_quant}'", f"use one of: {', '.join(EMBEDDING_QUANT)}"
        )
    if request.backend == "executorch":
        check_group_size(source.config, scheme, request.group_size)
    limit = source.config.get("max_position_embeddings")
    if request.max_seq_len < MIN_SEQ_LEN:
        raise SlmEdgeError(f"--max-seq-len {request.max_seq_len} is too small", f"use at least {MIN_SEQ_LEN}")
    if limit and request.max_seq_len > limit:
        raise SlmEdgeError(
            f"--max-seq-len {request.max_seq_len} exceeds the model's {limit} positions", f"use at most {limit}"
        )


BACKEND_LIBRARIES = {
    "executorch": ("slm_edge", "torch", "executorch", "torchao", "transformers"),
    "onnx": ("slm_edge", "torch", "transformers", "onnx", "onnxruntime", "onnxruntime-genai"),
}


# options of the other backend do not shape the artifact, so they do not split the cache
IGNORED_FIELDS = {"executorch": ("block_size", "accuracy_level", "execution_provider"),
                  "onnx": ("group_size", "embedding_quant")}


def cache_key(source: ModelSource, request: ExportRequest, path: str) -> str:
    relevant = BACKEND_LIBRARIES[request.backend]
    return cache.sha256_json(
        {
            "source": source.source_hash,
            "request": {k: v for k, v in request.__dict__.items() if k not in IGNORED_FIELDS[request.backend]},
            "path": path,
            "versions": {k: v for k, v in library_versions().items() if k in relevant},
            "code": cache.artifact_code_hash(),
        }
    )


def check_disk(folder: Path, needed: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise SlmEdgeError(
            f"not enough disk space in {folder}: {free / 2**30:.1f} GiB free, about {needed / 2**30:.1f} GiB needed",
            "free some space or set SLM_EDGE_CACHE (and TMPDIR) to a larger disk",
        )


def export_model(source: ModelSource, request: ExportRequest, out: Path | None, *, force: bool = False,
                 timer: StageTimer | None = None) -> ExportOutcome:
    timer = timer or StageTimer()
    validate(source, request)
    path, path_reason = choose_path(source.config, request.path, request.backend)
    key = cache_key(source, request, path)
    cached = cache.root_for("artifacts") / key
    from_cache = (cached / MANIFEST).is_file() and not force
    if not from_cache:
        fp32_bytes = parameter_count(source.config) * 4
        # converted fp32 checkpoint in TMPDIR, then the artifact itself in the cache
        check_disk(Path(os.environ.get("TMPDIR", "/tmp")), fp32_bytes)
        check_disk(cached.parent, 2 * predict_weight_bytes(source.config, request.quant, _group(request),
                                                           request.embedding_quant))
        _build(source, request, path, path_reason, key, cached, timer)
    manifest = read_manifest(cached)
    folder = _place(cached, out) if out else cached
    return ExportOutcome(folder=folder, manifest=manifest, from_cache=from_cache)


def _group(request: ExportRequest) -> int:
    return request.block_size if request.backend == "onnx" else request.group_size


def _build(source: ModelSource, request: ExportRequest, path: str, path_reason: str, key: str, final: Path,
           timer: StageTimer) -> None:
    started = time.perf_counter()
    with cache.staging_dir(final) as staging:
        with timer.stage(f"load {source.name} ({source.kind})"):
            model = source.load_model()
            parameters = sum(p.numel() for p in model.parameters())
        build = _build_onnx if request.backend == "onnx" else _build_executorch
        built = build(source, model, request, path, staging, timer)
        del model
        tokenizer = _copy_tokenizer(source, staging)
        scheme = scheme_for(request.backend, request.quant)
        write_manifest(
            staging,
            {
                "cache_key": key,
                "source": {**source.describe(), "notes": source.notes},
                "architecture": architecture_facts(source.config, parameters),
                "backend": request.backend,
                "export_path": _path_name(request.backend, path),
                "export_path_reason": path_reason,
                "quantization": {
                    "scheme": scheme.name,
                    "description": scheme.description,
                    "group_size": _group(request) if scheme.grouped else None,
                    "embedding": built["embedding_quant"],
                    **built.get("quantization", {}),
                },
                "max_seq_len": request.max_seq_len,
                "model_file": built["model_file"],
                "tokenizer": tokenizer,
                "runtime": built["runtime"],
                "predicted_memory": predict_memory(
                    source.config,
                    scheme=request.quant,
                    group_size=_group(request) if scheme.grouped else 0,
                    embedding_quant=built["embedding_quant"],
                    max_seq_len=request.max_seq_len,
                    planned_arena_bytes=built["planned_arena_bytes"],
                ),
                "export": {
                    "wall_seconds": round(time.perf_counter() - started, 2),
                    "stage_seconds": {k: round(v, 2) for k, v in timer.seconds.items()},
                    "slm_edge_version": __version__,
                    "slm_edge_code_sha256": cache.artifact_code_hash(),
                },
            },
        )


def _build_executorch(source: ModelSource, model, request: ExportRequest, path: str, staging: Path,
                      timer: StageTimer) -> dict:
    exporter = _exporter(path)
    lowered = exporter(
        model,
        source.config,
        scheme=request.quant,
        group_size=request.group_size,
        embedding_quant=request.embedding_quant,
        max_seq_len=request.max_seq_len,
        workdir=staging,
        timer=timer,
    )
    return {
        "model_file": lowered.pte.name,
        "embedding_quant": request.embedding_quant,
        "planned_arena_bytes": lowered.planned_activation_bytes,
        "runtime": {
            "engine": "executorch",
            "engines": ["executorch"],
            "metadata": lowered.runtime_metadata,
            "inputs": ["tokens [1, n] int64", "start_pos [1] int64" if path == "fast" else "cache_position [n] int64"],
            "outputs": ["logits of the last position [1, vocab] float32" if path == "fast"
                        else "logits of the last position [1, 1, vocab] float32"],
            "delegation": lowered.delegation,
            "program": pte_program_facts(lowered.pte),
        },
    }


def _build_onnx(source: ModelSource, model, request: ExportRequest, path: str, staging: Path,
                timer: StageTimer) -> dict:
    from slm_edge.export.onnx.graph import describe_graph

    options = dict(scheme=request.quant, block_size=request.block_size, accuracy_level=request.accuracy_level)
    if path == "fast":
        from slm_edge.export.onnx.builder import export_builder

        model_file = export_builder(source, model, max_seq_len=request.max_seq_len, staging=staging, timer=timer,
                                    **options).model_file
        engines = ["onnxruntime", "onnxruntime-genai"]
    else:
        from slm_edge.export.onnx.generic import export_generic

        model_file = export_generic(model, source.config, staging=staging, timer=timer, **options)
        engines = ["onnxruntime"]
    graph = describe_graph(staging / model_file)
    facts = architecture_facts(source.config, 0)
    graph["io"]["kv_cache"]["empty_past_shape"] = [1, facts["kv_heads"], 0, facts["head_dim"]]
    if "com.microsoft.GroupQueryAttention" in graph["op_types"]:
        # GroupQueryAttention writes the new K/V in place when past and present are one buffer:
        # no copy of the whole cache per decode step (what genai does; the phone loop should too)
        graph["io"]["kv_cache"]["share_buffer"] = {
            "shape": [1, facts["kv_heads"], request.max_seq_len, facts["head_dim"]],
            "how": "allocate past once at this shape, bind each present output to the same buffer as its "
                   "past input; attention_mask length (past + new) tells the graph how much of it is valid",
        }
    ops = graph["op_types"]
    # The builder quantizes the embedding table too (GatherBlockQuantized) at the same bit width.
    if graph["embedding_shares_lm_head"]:
        embedding = "shared"
    elif "com.microsoft.GatherBlockQuantized" in ops:
        embedding = {"int4": "4w", "int8": "8w"}.get(request.quant, "none")
    else:
        embedding = "none"
    return {
        "model_file": model_file,
        "embedding_quant": embedding,
        # onnxruntime plans activations at run time, not at export: nothing to read here
        "planned_arena_bytes": None,
        "quantization": {"accuracy_level": request.accuracy_level if request.quant in ("int4", "int8") else None},
        "runtime": {
            "engine": "onnxruntime",
            "engines": engines,
            "execution_provider": request.execution_provider,
            "opset": graph["opset"],
            "program": {"format": "onnx", "ir_version": graph["ir_version"], "opset": graph["opset"],
                        "exported_with": {k: library_versions()[k] for k in ("onnx", "onnxruntime")}},
            "op_types": ops,
            "external_data": graph["external_data"],
            "genai_config": "genai_config.json" if (staging / "genai_config.json").is_file() else None,
            "io": graph["io"],
        },
    }


def _exporter(path: str):
    if path == "fast":
        from slm_edge.export.executorch.fast import export_fast

        return export_fast
    from slm_edge.export.executorch.generic import export_generic

    return export_generic


def _path_name(backend: str, path: str) -> str:
    if backend == "onnx":
        from slm_edge.export.onnx import builder as onnx_builder, generic as onnx_generic

        return onnx_builder.PATH_NAME if path == "fast" else onnx_generic.PATH_NAME
    from slm_edge.export.executorch import fast as et_fast, generic as et_generic

    return et_fast.PATH_NAME if path == "fast" else et_generic.PATH_NAME


def _copy_tokenizer(source: ModelSource, staging: Path) -> str | None:
    if source.tokenizer_dir is None:
        return None
    copied = [name for name in TOKENIZER_FILES if (source.tokenizer_dir / name).is_file()]
    for name in copied:
        shutil.copy2(source.tokenizer_dir / name, staging / name)
    return "tokenizer.json" if "tokenizer.json" in copied else (copied[0] if copied else None)


def _place(cached: Path, out: Path) -> Path:
    """Copy a finished artifact to the user's --out folder (hard links when on the same disk)."""
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not (out / MANIFEST).is_file():
        raise SlmEdgeError(
            f"--out {out} exists and is not an slm-edge artifact folder", "choose an empty or new folder for --out"
        )
    with cache.staging_dir(out) as staging:
        for item in cached.iterdir():
            try:
                os.link(item, staging / item.name)
            except OSError:
                shutil.copy2(item, staging / item.name)
    return out
