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
from slm_edge.errors import BadInput
from slm_edge.export.config import MIN_SEQ_LEN, PATH_CHOICES, ExportConfig, ExportRequest
from slm_edge.export.manifest import write_manifest
from slm_edge.export.paths import choose_path, export_path
from slm_edge.model.memory import parameter_count, predict_memory, predict_weight_bytes
from slm_edge.model.quant import check_block_size, check_group_size, scheme_for
from slm_edge.model.sources import ModelSource
from slm_edge.progress import StageTimer, read_status_memory, reset_peak_rss
from slm_edge.contract import MANIFEST
from slm_edge.records.manifest import TOKENIZER_FILES, Architecture, Manifest, library_versions

__all__ = ["ExportConfig", "ExportOutcome", "ExportRequest", "MIN_SEQ_LEN", "PATH_CHOICES", "cache_key", "choose_path",
           "export_model", "validate"]


@dataclass
class ExportOutcome:
    folder: Path
    manifest: Manifest
    from_cache: bool


def as_config(request: ExportConfig | ExportRequest, model_config: dict) -> ExportConfig:
    """The validated sections of a request, with the settings left to the model filled in."""
    config = request if isinstance(request, ExportConfig) else request.config()
    return config.resolved(model_config)


def validate(source: ModelSource, request: ExportConfig | ExportRequest) -> None:
    """The checks that need the model; the settings checked themselves when the config was made."""
    try:
        Architecture.from_hf_config(source.config)
    except KeyError as missing:
        raise BadInput(
            f"the model's config has no {missing}, so it is not a decoder-only transformer slm-edge can export",
            "pass a causal language model (Llama, Qwen2/3, Phi-3, Gemma 3, SmolLM2, ...)",
        ) from None
    config = as_config(request, source.config)
    scheme = scheme_for(config.backend, config.quant)
    if config.backend == "onnx":
        check_block_size(source.config, scheme, config.onnx.block_size)
    else:
        check_group_size(source.config, scheme, config.executorch.group_size)
    limit = source.config.get("max_position_embeddings")
    if limit and config.max_seq_len > limit:
        raise BadInput(f"{{max_seq_len}} {config.max_seq_len} exceeds the model's {limit} positions",
                       f"use at most {limit}")


BACKEND_LIBRARIES = {
    "executorch": ("slm_edge", "torch", "executorch", "torchao", "transformers"),
    "onnx": ("slm_edge", "torch", "transformers", "onnx", "onnxruntime", "onnxruntime-genai"),
}


def cache_key(source: ModelSource, request: ExportConfig | ExportRequest, path: str) -> str:
    """A content hash of everything that shapes the artifact: the source, the settings of the common
    section and of the chosen backend's (the other backend's do not split the cache), the path, the
    library versions and slm-edge's own export code."""
    config = as_config(request, source.config)
    relevant = BACKEND_LIBRARIES[config.backend]
    return cache.sha256_json(
        {
            "source": source.source_hash,
            "request": config.shaping_settings(),
            "path": path,
            "versions": {k: v for k, v in library_versions().items() if k in relevant},
            "code": cache.artifact_code_hash(),
        }
    )


def check_disk(folder: Path, needed: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise BadInput(
            f"not enough disk space in {folder}: {free / 2**30:.1f} GiB free, about {needed / 2**30:.1f} GiB needed",
            "free some space or set SLM_EDGE_CACHE (and TMPDIR) to a larger disk",
        )


def export_model(source: ModelSource, request: ExportConfig | ExportRequest, out: Path | None, *, force: bool = False,
                 timer: StageTimer | None = None) -> ExportOutcome:
    timer = timer or StageTimer()
    config = as_config(request, source.config)
    validate(source, config)
    path, path_reason = choose_path(source.config, config.path, config.backend)
    if config.backend == "executorch" and config.executorch.full_logits and path != "fast":
        raise BadInput(f"{{full_logits}} needs ExecuTorch's fast path, and {source.name} takes the {path} one",
                       "drop {full_logits}; eval then feeds this artifact one token a step")
    key = cache_key(source, config, path)
    cached = cache.root_for("artifacts") / key
    from_cache = (cached / MANIFEST).is_file() and not force
    if not from_cache:
        fp32_bytes = parameter_count(source.config) * 4
        # converted fp32 checkpoint in TMPDIR, then the artifact itself in the cache
        check_disk(Path(os.environ.get("TMPDIR", "/tmp")), fp32_bytes)
        check_disk(cached.parent, 2 * predict_weight_bytes(source.config, config.quant, config.group_size,
                                                           config.executorch.embedding_quant))
        _build(source, config, path, path_reason, key, cached, timer)
    manifest = Manifest.read(cached)
    folder = place_artifact(cached, out) if out else cached
    return ExportOutcome(folder=folder, manifest=manifest, from_cache=from_cache)


def _build(source: ModelSource, config: ExportConfig, path: str, path_reason: str, key: str, final: Path,
           timer: StageTimer) -> None:
    started = time.perf_counter()
    peak_scope = "export" if reset_peak_rss() else "process"
    chosen = export_path(config.backend, path)
    with cache.staging_dir(final) as staging:
        with timer.stage(f"load {source.name} ({source.kind})"):
            model = source.load_model()
            parameters = sum(p.numel() for p in model.parameters())
        built = chosen.build(source, model, config, staging, timer)
        del model
        tokenizer = _copy_tokenizer(source, staging)
        scheme = scheme_for(config.backend, config.quant)
        group_size = config.group_size if scheme.grouped else None
        write_manifest(
            staging,
            {
                "cache_key": key,
                "source": {**source.describe(), "notes": source.notes},
                "architecture": Architecture.from_hf_config(source.config, parameters).to_json(),
                "backend": config.backend,
                "export_path": chosen.name,
                "export_path_reason": path_reason,
                "quantization": {
                    "scheme": scheme.name,
                    "description": scheme.description,
                    "group_size": group_size,
                    "embedding": built.embedding_quant,
                    **built.quantization,
                },
                "max_seq_len": config.max_seq_len,
                "model_file": built.model_file,
                "tokenizer": tokenizer,
                "runtime": built.runtime,
                "predicted_memory": predict_memory(
                    source.config,
                    scheme=config.quant,
                    group_size=group_size or 0,
                    embedding_quant=built.embedding_quant,
                    max_seq_len=config.max_seq_len,
                    planned_arena_bytes=built.planned_arena_bytes,
                    extra_weight_bytes=built.quantization.get("source_grids", {}).get("extra_weight_bytes", 0),
                    # a GGUF's Q8_0 head kept on its grid is 8-bit per channel (export/executorch/source_grids.py)
                    head_bits=8 if built.quantization.get("source_grids", {}).get("int8_per_channel") else None,
                    backend=config.backend,
                    sliding_window_slots=(built.runtime.get("kv_cache") or {}).get("sliding_window_slots"),
                ),
                "export": {
                    "wall_seconds": round(time.perf_counter() - started, 2),
                    "stage_seconds": {k: round(v, 2) for k, v in timer.seconds.items()},
                    "peak_rss_bytes": read_status_memory()[1],
                    "peak_rss_scope": peak_scope,
                    "slm_edge_version": __version__,
                    "slm_edge_code_sha256": cache.artifact_code_hash(),
                },
            },
        )


def _copy_tokenizer(source: ModelSource, staging: Path) -> str | None:
    if source.tokenizer_dir is None:
        return None
    copied = [name for name in TOKENIZER_FILES if (source.tokenizer_dir / name).is_file()]
    for name in copied:
        shutil.copy2(source.tokenizer_dir / name, staging / name)
    return "tokenizer.json" if "tokenizer.json" in copied else (copied[0] if copied else None)


def place_artifact(cached: Path, out: Path) -> Path:
    """Copy a finished artifact to the caller's `out` folder (hard links when on the same disk)."""
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not (out / MANIFEST).is_file():
        raise BadInput(f"{{out}} {out} exists and is not an slm-edge artifact folder",
                       "choose an empty or new folder for {out}")
    with cache.staging_dir(out) as staging:
        for item in cached.iterdir():
            try:
                os.link(item, staging / item.name)
            except OSError:
                shutil.copy2(item, staging / item.name)
    return out
