"""ExecuTorch generic path: any transformers decoder through its exportable static-cache wrapper.

Slower on device than the fast path (the KV cache is updated with index_copy and attention is
plain SDPA), but it covers every architecture transformers can export (Gemma 3, Phi, ...).
Export must be strict: with strict=False the later lowering fails (../shared/DESIGN.md §1).
"""

from __future__ import annotations

import functools
import inspect
from pathlib import Path

import torch

from slm_edge.export.executorch.lower import ETRECORD_FILE, LoweredProgram, lower_to_pte, runtime_metadata_for
from slm_edge.progress import StageTimer


# Our scheme names → executorch's torchao source-transform configs (extension/llm/export/quantize.py).
_LINEAR_CONFIG = {"8da4w": "8da4w", "8da8w": "8da8w", "int8": "8w"}
_EMBEDDING_CONFIG = {"none": None, "8w": "8w", "4w": "4w"}


def export_generic(model, config: dict, *, scheme: str, group_size: int, embedding_quant: str,
                   max_seq_len: int, workdir: Path, timer: StageTimer) -> LoweredProgram:
    from executorch.extension.llm.export.quantize import quantize_model_
    from transformers.integrations.executorch import TorchExportableModuleForDecoderOnlyLM

    with timer.stage(f"quantize ({scheme})"):
        if scheme == "fp16":
            model = model.to(torch.float16)
        if _EMBEDDING_CONFIG[embedding_quant]:
            # ExecuTorch fuses a quantized table into embedding_byte only for lookups without a
            # padding index (Gemma sets one); the index changes gradients only, never the output.
            model.get_input_embeddings().padding_idx = None
        quantize_model_(
            model,
            qlinear_config=_LINEAR_CONFIG.get(scheme),
            qlinear_group_size=group_size if scheme in _LINEAR_CONFIG else None,
            qembedding_config=_EMBEDDING_CONFIG[embedding_quant],
        )
    with timer.stage("torch.export"):
        _keep_last_logits_only(model)
        model.generation_config.cache_implementation = "static"
        model.generation_config.use_cache = True
        wrapper = TorchExportableModuleForDecoderOnlyLM(model, batch_size=1, max_cache_len=max_seq_len)
        seq = torch.export.Dim("seq_len", min=1, max=max_seq_len - 1)
        example = torch.tensor([[1, 2, 3]], dtype=torch.long)
        with torch.no_grad():
            exported = wrapper.export(
                input_ids=example,
                cache_position=torch.arange(3, dtype=torch.long),
                dynamic_shapes={"input_ids": {1: seq}, "cache_position": {0: seq}},
                strict=True,
            )
    metadata = runtime_metadata_for(config, max_seq_len, sdpa_with_kv_cache=False)
    return lower_to_pte(exported, metadata, workdir / "model.pte", timer, etrecord=workdir / ETRECORD_FILE)


def _keep_last_logits_only(model) -> None:
    """Compute the LM head for the last position only, as the fast path does.

    The wrapper would return logits for every prompt position: the LM head over the whole prefill
    (most of prefill's work for a 262k vocabulary) and a planned arena of max_seq_len x vocab floats
    (1 GiB for Gemma 3 270M at 1024). Every consumer reads the last row only.
    """
    if "logits_to_keep" in inspect.signature(model.forward).parameters:
        model.forward = functools.partial(model.forward, logits_to_keep=1)
