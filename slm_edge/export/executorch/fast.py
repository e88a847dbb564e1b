"""ExecuTorch fast path: executorch's own LLM model form (custom SDPA, in-place KV cache) → XNNPACK.

The model, its source transforms and quantizers are executorch's (examples/models/llama and
extension/llm/export). The lowering sequence is ours (et_lower), because executorch's
`export_llama` spends most of its time on work we can skip (py-spy on SmolLM2-135M, see
benchmarks/): it exports twice (export → unlift → canonical pass → re-export) where we export
once and run the canonical pass on the exported graph, and its passes deep-copy an ever-growing
provenance chain that we drop.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

import torch

from slm_edge.export.executorch.lower import ETRECORD_FILE, LoweredProgram, lower_to_pte, runtime_metadata_for
from slm_edge.export.executorch.hf_to_meta import convert_state_dict, meta_params
from slm_edge.export.executorch.source_grids import keep_source_grids
from slm_edge.progress import StageTimer
from slm_edge.model.quant import EMBEDDING_QUANT

_LINEAR_SCHEMES = ("8da4w", "8da8w", "int8")  # executorch's qmode names for quantized linears


def _llm_config(weights_dir: Path, params: dict, metadata: dict, scheme: str, group_size: int,
                embedding_quant: str, max_seq_len: int, full_logits: bool):
    from executorch.extension.llm.export.config.llm_config import DtypeOverride, LlmConfig, ModelType

    cfg = LlmConfig()
    cfg.base.model_class = ModelType.llama3
    cfg.base.checkpoint = str(weights_dir / "checkpoint.pth")
    cfg.base.params = str(weights_dir / "params.json")
    cfg.base.metadata = json.dumps(metadata)
    cfg.model.use_kv_cache = True
    cfg.model.use_sdpa_with_kv_cache = True
    cfg.model.enable_dynamic_shape = True
    cfg.model.dtype_override = DtypeOverride.fp16 if scheme == "fp16" else DtypeOverride.fp32
    cfg.export.max_seq_length = max_seq_len
    cfg.export.max_context_length = max_seq_len
    cfg.debug.generate_full_logits = full_logits
    cfg.export.output_dir = str(weights_dir)
    if scheme in _LINEAR_SCHEMES:
        cfg.quantization.qmode = scheme
        cfg.quantization.group_size = group_size
    cfg.quantization.embedding_quantize = EMBEDDING_QUANT[embedding_quant]
    cfg.backend.xnnpack.enabled = True
    cfg.backend.xnnpack.extended_ops = True
    (weights_dir / "params.json").write_text(json.dumps(params))
    return cfg


def _export_for_lowering(manager) -> torch.export.ExportedProgram:
    """executorch's LLMEdgeManager._export (extension/llm/export/builder.py, 1.5.1) less two costs that
    change nothing in the program (the .pte came out byte-identical on the default cut to 4 layers):
    - its closing run_decompositions({}): to_edge_transform_and_lower functionalizes the program again
      first thing (exir/program/_program.py, _gen_edge_manager_for_partitioners);
    - strict=True: tracing through dynamo took twice as long as non-strict export here."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    with sdpa_kernel([SDPBackend.MATH]), torch.no_grad():
        return torch.export.export(manager.model, manager.example_inputs, kwargs=manager.example_kwarg_inputs,
                                   dynamic_shapes=manager._get_dynamic_shape(), strict=False)


def export_fast(model, config: dict, *, scheme: str, group_size: int, embedding_quant: str,
                max_seq_len: int, workdir: Path, timer: StageTimer, full_logits: bool = False,
                random_weights: bool = False) -> LoweredProgram:
    """random_weights: the weights were drawn, not read, so no GGUF grid can be under them: the scan for
    one (39 s on the llama-3.2-1b card) is skipped."""
    from executorch.examples.models.llama.export_llama_lib import _prepare_for_llama_export
    from executorch.extension.llm.export.export_passes import RemoveRedundantTransposes

    import executorch.extension.llm.custom_ops.custom_ops  # noqa: F401  registers llama::custom_sdpa

    logging.getLogger().setLevel(logging.WARNING)
    metadata = runtime_metadata_for(config, max_seq_len, sdpa_with_kv_cache=True)
    # executorch's loader treats a checkpoint whose *path* contains "8da4w" or "int8" as
    # pre-quantized, so the converted weights go to a temp folder whose path says nothing.
    weights_dir = Path(tempfile.mkdtemp(prefix="slm-edge-weights-"))
    try:
        with timer.stage("convert weights to executorch's model form"):
            floats = convert_state_dict(model.state_dict(), config)
            torch.save(floats, weights_dir / "checkpoint.pth")
            llm_config = _llm_config(
                weights_dir, meta_params(config), metadata, scheme, group_size, embedding_quant, max_seq_len, full_logits
            )
        with timer.stage(f"build and quantize ({scheme})"):
            manager = _prepare_for_llama_export(llm_config)
        kept = {}
        if scheme == "8da4w" and not random_weights:
            with timer.stage("keep the source's quantization grids"):
                kept = keep_source_grids(manager.model, floats, group_size)
        del floats
    finally:
        shutil.rmtree(weights_dir, ignore_errors=True)  # the loader mmaps it; Linux keeps the pages alive
    with timer.stage("torch.export"):
        exported = _export_for_lowering(manager)
        RemoveRedundantTransposes()(exported.graph_module)
    lowered = lower_to_pte(exported, manager.metadata, workdir / "model.pte", timer, etrecord=workdir / ETRECORD_FILE)
    lowered.source_grids = kept
    return lowered


def export_hybrid(model, config: dict, *, scheme: str, group_size: int, embedding_quant: str,
                  max_seq_len: int, workdir: Path, timer: StageTimer, full_logits: bool = False,
                  prefill_chunk: int | None = None) -> LoweredProgram:
    """The fast path for configs mixing sliding-window and full attention (hybrid.py's decoder), with
    executorch's quantizers and our lowering."""
    from executorch.examples.models.llama.source_transformation.quantize import (
        get_quant_embedding_transform, get_quant_weight_transform)
    from executorch.extension.llm.export.builder import DType
    from executorch.extension.llm.export.export_passes import RemoveRedundantTransposes

    import executorch.extension.llm.custom_ops.custom_ops  # noqa: F401  registers llama::custom_sdpa
    from slm_edge.export.executorch.hybrid import hybrid_decoder_from

    logging.getLogger().setLevel(logging.WARNING)
    with timer.stage("build the hybrid-attention decoder"):
        decoder = hybrid_decoder_from(model, config, max_seq_len, full_logits, prefill_chunk)
    with timer.stage(f"quantize ({scheme})"):
        dtype = DType.fp16 if scheme == "fp16" else DType.fp32
        if EMBEDDING_QUANT[embedding_quant]:
            # executorch's LLM export default (quantization.use_hqq), as on the Llama fast path
            decoder = get_quant_embedding_transform(EMBEDDING_QUANT[embedding_quant], quantize_with_hqq=True)(decoder)
        if scheme in _LINEAR_SCHEMES:
            decoder = get_quant_weight_transform(scheme, group_size, computation_dtype=dtype,
                                                 quantize_with_hqq=True)(decoder)
        decoder = decoder.to(dtype=dtype.to_torch_dtype())
    with timer.stage("torch.export"):
        # a ring program takes at most its chunk a forward (executorch's runner reads get_max_seq_len)
        seq = torch.export.Dim("seq_len", min=1, max=decoder.chunk or max_seq_len - 1)
        example = (torch.tensor([[2, 3, 4]], dtype=torch.long), torch.tensor([0], dtype=torch.long))
        with torch.no_grad(), torch.nn.attention.sdpa_kernel([torch.nn.attention.SDPBackend.MATH]):
            exported = torch.export.export(decoder, example, dynamic_shapes=({1: seq}, None), strict=False)  # as _export_for_lowering
        RemoveRedundantTransposes()(exported.graph_module)
    metadata = runtime_metadata_for(config, max_seq_len, sdpa_with_kv_cache=True, max_chunk=decoder.chunk)
    lowered = lower_to_pte(exported, metadata, workdir / "model.pte", timer, etrecord=workdir / ETRECORD_FILE)
    return replace(lowered, sliding_window_slots=decoder.ring)
