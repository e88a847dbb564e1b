"""ONNX generic path: torch.onnx (dynamo) export of any transformers causal LM with an explicit KV
cache, then onnxruntime's own quantizers.

optimum-onnx would do the export, but it pins transformers<4.58 and optimum~=2.1 and cannot be
installed beside transformers 5.x (DESIGN.md §1), so the wrapper below stands in for it: plain
tensors in and out, so the graph's inputs are exactly what an on-device loop feeds.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch

from slm_edge.errors import RuntimeFailure
from slm_edge.records.manifest import Architecture


class KvCacheLM(torch.nn.Module):
    """input_ids, attention_mask, position_ids, past K/V per layer → logits, present K/V per layer."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, position_ids, past: list[torch.Tensor]):
        from transformers import DynamicCache

        cache = DynamicCache(config=self.model.config)
        for layer in range(len(past) // 2):
            cache.update(past[2 * layer], past[2 * layer + 1], layer)
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                         past_key_values=cache, use_cache=True)
        present = []
        for layer in out.past_key_values.layers:
            present += [layer.keys, layer.values]
        return (out.logits, *present)


def generic_blocker(config: dict) -> str | None:
    """Sliding-window layers keep only the last W positions, so their present is not past + new:
    the contract every device loop relies on (and torch.export pins the past length below W)."""
    layer_types = config.get("layer_types") or []
    if "sliding_attention" in layer_types or config.get("model_type") in ("gemma2", "gemma3_text"):
        return "the generic ONNX path keeps a full KV cache per layer and this model has sliding-window layers"
    return None


def _untie_lm_head(model) -> None:
    """A tied LM head exports as MatMul(x, Transpose(embedding)): no constant weight, so the int4
    quantizer skips the largest matrix. Its own copy makes it a plain constant MatMul."""
    head, embedding = model.get_output_embeddings(), model.get_input_embeddings()
    if head is not None and embedding is not None and head.weight is embedding.weight:
        head.weight = torch.nn.Parameter(embedding.weight.detach().clone())


def io_names(layers: int) -> tuple[list[str], list[str]]:
    kv = [f"{{}}.{i}.{part}" for i in range(layers) for part in ("key", "value")]
    return (["input_ids", "attention_mask", "position_ids"] + [n.format("past_key_values") for n in kv],
            ["logits"] + [n.format("present") for n in kv])


def export_generic(model, config: dict, *, scheme: str, block_size: int, accuracy_level: int, staging: Path,
                   timer) -> str:
    facts = Architecture.from_hf_config(config)  # BLOOM and GPT-2 name their sizes their own way
    layers, kv_heads, head_dim = facts.layers, facts.kv_heads, facts.head_dim
    inputs, outputs = io_names(layers)
    _untie_lm_head(model)
    # Example shapes only: 3 new tokens after 5 cached ones; both lengths are dynamic in the graph.
    new, cached = 3, 5
    example = (
        torch.zeros(1, new, dtype=torch.long),
        torch.ones(1, cached + new, dtype=torch.long),
        torch.arange(cached, cached + new).unsqueeze(0),
        [torch.zeros(1, kv_heads, cached, head_dim) for _ in range(2 * layers)],
    )
    sequence = torch.export.Dim("sequence_length", max=65536)
    past = torch.export.Dim("past_sequence_length", max=65536)
    dynamic = ({1: sequence}, {1: torch.export.Dim.AUTO}, {1: sequence}, [{2: past}] * (2 * layers))
    with tempfile.TemporaryDirectory(prefix="slm-edge-onnx-export-") as work:
        fp32_path = Path(work) / "model.onnx"
        with timer.stage("torch.onnx export (dynamo)"):
            try:
                with torch.no_grad():
                    torch.onnx.export(KvCacheLM(model).eval(), example, str(fp32_path), input_names=inputs,
                                      output_names=outputs, dynamic_shapes=dynamic, dynamo=True, external_data=True,
                                      optimize=True, verbose=False)
            except Exception as exc:
                raise RuntimeFailure(
                    f"torch.onnx could not export {config.get('model_type')}: {type(exc).__name__}: "
                    f"{str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ''}",
                    "use {backend} executorch, or a family the builder knows (Llama, Qwen2/3, Gemma, Phi-3, Mistral, ...)",
                ) from exc
        with timer.stage(f"quantize ({scheme}) with onnxruntime"):
            _quantize(fp32_path, staging / "model.onnx", scheme, block_size, accuracy_level)
    return "model.onnx"


def _quantize(source: Path, target: Path, scheme: str, block_size: int, accuracy_level: int) -> None:
    import logging

    import onnx

    logging.getLogger("onnxruntime.quantization").setLevel(logging.WARNING)  # one INFO line per node otherwise
    if scheme == "int8":
        from onnxruntime.quantization import QuantType, quantize_dynamic

        # int8 weights per output channel, activations quantized per call (DynamicQuantizeMatMul)
        quantize_dynamic(source, target, op_types_to_quantize=["MatMul"], per_channel=True,
                         weight_type=QuantType.QInt8, use_external_data_format=True,
                         extra_options={"MatMulConstBOnly": True})
        quantized = onnx.load(str(target), load_external_data=False)
        _carry_scopes(onnx.load(str(source), load_external_data=False), quantized)
        onnx.save_model(quantized, str(target))  # graph only: its external data file is already in place
        return
    model = onnx.load(str(source), load_external_data=True)
    if scheme == "int4":
        from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

        quantizer = MatMulNBitsQuantizer(model, bits=4, block_size=block_size, is_symmetric=True,
                                         accuracy_level=accuracy_level or None)
        quantizer.process()
        _carry_scopes(onnx.load(str(source), load_external_data=False), quantizer.model.model)
        model = quantizer.model.model
    elif scheme == "fp16":
        from onnxruntime.transformers.float16 import convert_float_to_float16

        # fp32 at the graph's edges, so the device loop feeds and reads the same dtypes as fp32
        model = convert_float_to_float16(model, keep_io_types=True)
    onnx.save_model(model, str(target), save_as_external_data=True, all_tensors_to_one_file=True,
                    location=target.name + ".data", size_threshold=1024)


def _carry_scopes(original, quantized) -> None:
    """Quantizers replace nodes (node_linear → node_linear_Q4) without torch.onnx's module-path
    metadata; copy it from the node each new one was named after, so per-op reports can group them."""
    from slm_edge.contract import ONNX_SCOPE_KEY as SCOPE_KEY

    scopes = {n.name: p for n in original.graph.node for p in n.metadata_props if p.key == SCOPE_KEY}
    for node in quantized.graph.node:
        if any(p.key == SCOPE_KEY for p in node.metadata_props):
            continue
        origin = max((name for name in scopes if node.name.startswith(name)), key=len, default=None)
        if origin:
            node.metadata_props.add(key=SCOPE_KEY, value=scopes[origin].value)
