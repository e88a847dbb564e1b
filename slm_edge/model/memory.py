"""Predicted memory of an artifact from the architecture and the quantization scheme alone.

Weights: bytes per element of each tensor kind plus per-group scales. KV cache: K and V for every
layer at the maximum sequence length. Activations: what the backend's memory planner reserved
(ExecuTorch reports it at export; its arena also holds the KV cache, which is subtracted).
"""

from __future__ import annotations

from slm_edge.model.attention import layer_types
from slm_edge.records.manifest import Architecture

_FLOAT_BYTES = {"fp32": 4, "fp16": 2}
_SCALE_BYTES = 4  # fp32 scale per group (or per row for per-channel schemes)


def _linear_bytes_per_element(scheme: str, group_size: int) -> float:
    if scheme in _FLOAT_BYTES:
        return _FLOAT_BYTES[scheme]
    bits = {"8da4w": 4, "8da8w": 8, "int8": 8, "int4": 4}[scheme]
    per_group = _SCALE_BYTES / group_size if group_size else 0.0
    return bits / 8 + per_group


def _embedding_bytes_per_element(embedding_quant: str, scheme: str, hidden: int) -> float:
    if embedding_quant == "8w":
        return 1 + _SCALE_BYTES / hidden  # per-row scale
    if embedding_quant == "shared":
        return 0.0  # the embedding reads the LM head's quantized weights, counted there
    if embedding_quant == "4w":
        return 0.5 + _SCALE_BYTES / 32
    return _FLOAT_BYTES.get(scheme, 4)


def parameter_count(config: dict) -> int:
    """Parameters of a decoder-only transformer, tied embeddings counted once."""
    facts = Architecture.from_hf_config(config)
    hidden, layers = facts.hidden_size, facts.layers
    q = facts.attention_heads * facts.head_dim
    kv = facts.kv_heads * facts.head_dim
    per_layer = hidden * (q + 2 * kv) + q * hidden + facts.mlp_matrices * hidden * facts.ffn_size + 2 * hidden
    if config.get("attention_bias") or config.get("model_type") == "qwen2":
        per_layer += q + 2 * kv
    embedding = facts.vocab_size * hidden
    lm_head = 0 if facts.tied_embeddings else embedding
    return layers * per_layer + embedding + lm_head + hidden


def kv_cache_bytes(config: dict, max_seq_len: int, element_bytes: int = 4, sliding_window_slots: int | None = None) -> int:
    """Every layer's K and V for max_seq_len positions; sliding_window_slots: the window layers keep a
    ring of that many slots instead (ExecuTorch's hybrid fast path, export/executorch/hybrid.py)."""
    facts = Architecture.from_hf_config(config)
    per_position = 2 * facts.kv_heads * facts.head_dim * element_bytes
    sliding = layer_types(config).count("sliding_attention") if sliding_window_slots else 0
    return per_position * ((facts.layers - sliding) * max_seq_len
                           + sliding * min(sliding_window_slots or max_seq_len, max_seq_len))


def ring_slots(window: int | None, max_seq_len: int, chunk: int) -> int | None:
    """The slots a sliding-window layer's ring needs when a forward feeds at most `chunk` tokens: the
    window before the chunk's first query plus the chunk (window + chunk - 1); None when that is no
    smaller than the context, where a plain cache of every position costs no more."""
    if not window:
        return None
    slots = window + chunk - 1
    return slots if slots < max_seq_len else None


def predict_weight_bytes(config: dict, scheme: str, group_size: int, embedding_quant: str) -> int:
    """Weights as the runtime holds them. The LM head is its own quantized linear even when the
    checkpoint ties it to the embedding, so it is counted separately."""
    facts = Architecture.from_hf_config(config)
    hidden, layers = facts.hidden_size, facts.layers
    q = facts.attention_heads * facts.head_dim
    kv = facts.kv_heads * facts.head_dim
    linear_elements = layers * (hidden * (q + 2 * kv) + q * hidden + facts.mlp_matrices * hidden * facts.ffn_size)
    lm_head_elements = facts.vocab_size * hidden
    norm_elements = layers * 2 * hidden + hidden
    linear = _linear_bytes_per_element(scheme, group_size)
    embedding = _embedding_bytes_per_element(embedding_quant, scheme, hidden)
    total = (
        (linear_elements + lm_head_elements) * linear
        + facts.vocab_size * hidden * embedding
        + norm_elements * _FLOAT_BYTES.get(scheme, 4)
    )
    return int(total)


def per_token_weight_bytes(config: dict, scheme: str, group_size: int, embedding_quant: str) -> int:
    """Weight bytes a decode step reads: every linear and the LM head, but of the embedding table
    (when it is its own tensor) only one row. What the bandwidth roofline divides by."""
    facts = Architecture.from_hf_config(config)
    table = facts.vocab_size * facts.hidden_size * _embedding_bytes_per_element(embedding_quant, scheme,
                                                                                      facts.hidden_size)
    return int(predict_weight_bytes(config, scheme, group_size, embedding_quant) - table)


def xnnpack_packing_bytes(config: dict, scheme: str, group_size: int, head_bits: int | None = None) -> int:
    """The transient buffer XNNPACK fills while it packs the largest quantized linear (the LM head) at
    load, on top of what stays resident. Measured as VmHWM minus VmRSS right after loading (2026-12-07,
    executorch 1.5.1): 90 MiB for gemma-3-270m's 262144 x 640 4-bit head, 73 for Qwen2.5-0.5B's 151936 x
    896, 15 for SmolLM2-135M's 49152 x 576, 27 for the default's 8-bit per-channel head: the packed size,
    4 bits a weight plus a bf16 scale per group, or a byte a weight at 8 bits."""
    if scheme not in ("8da4w", "8da8w"):
        return 0
    facts = Architecture.from_hf_config(config)
    bits = head_bits or (4 if scheme == "8da4w" else 8)
    per_element = 0.5 + 2 / group_size if bits == 4 and group_size else bits / 8
    return int(facts.vocab_size * facts.hidden_size * per_element)


def predict_memory(config: dict, *, scheme: str, group_size: int, embedding_quant: str, max_seq_len: int,
                   planned_arena_bytes: int | None, extra_weight_bytes: int = 0, head_bits: int | None = None,
                   backend: str = "executorch", sliding_window_slots: int | None = None) -> dict:
    """extra_weight_bytes: what the export added beyond the scheme (ExecuTorch's source-grid offsets and
    8-bit head, export/executorch/source_grids.py); head_bits: the LM head's bits where they are not the
    scheme's. The total is the peak: what stays resident plus XNNPACK's packing buffer at load."""
    kv_bytes = kv_cache_bytes(config, max_seq_len, _FLOAT_BYTES["fp16"] if scheme == "fp16" else 4,
                              sliding_window_slots)
    weights = predict_weight_bytes(config, scheme, group_size, embedding_quant) + extra_weight_bytes
    activations = None
    if planned_arena_bytes is not None:
        activations = max(planned_arena_bytes - kv_bytes, 0)
    packing = xnnpack_packing_bytes(config, scheme, group_size, head_bits) if backend == "executorch" else 0
    total = weights + kv_bytes + (activations or 0) + packing
    return {
        "weight_bytes": weights,
        "kv_cache_bytes": kv_bytes,
        "kv_cache_at_tokens": max_seq_len,
        **({"kv_cache_sliding_window_slots": sliding_window_slots} if sliding_window_slots else {}),
        "planned_arena_bytes": planned_arena_bytes,
        "activation_bytes": activations,
        "load_transient_bytes": packing,
        "total_bytes": total,
        "method": "weights and KV cache from the architecture and scheme; activations = the backend's "
        "planned memory arena minus the KV cache it also holds; XNNPACK's buffer for packing the LM head at load",
    }


# --- What onnxruntime holds at run time ---------------------------------------------------------
# Measured on onnxruntime 1.32 (CPU EP, x86-64, 2 threads) with /proc/self/status and smaps:
# - External data is memory-mapped. An initializer a kernel pre-packs (MatMul, MatMulNBits) is
#   copied into the packed layout and the mapping released; one nothing packs (an embedding
#   Gather over an initializer) stays mapped and only the rows a prompt touches become resident.
# - MatMulNBits at accuracy_level 4 (int8 compute) packs, per block, the weights, an fp32 scale and
#   an fp32 block sum (MLAS's CompInt8 layout). The LM head's original blocks end up resident too:
#   at level 4 beside the packed copy (16.7 MiB of model.onnx.data in smaps after load, SmolLM2's
#   49152x576 head), at level 1 instead of one (not packed; read from the mapping each run).
# - Activations live in the CPU arena (BFC), which never returns memory: each longer prompt's logits
#   tensor (prompt x vocab x fp32) is larger than any free chunk and takes a new region, while a
#   layer's intermediates reuse freed chunks.
ORT_RUNTIME_BYTES = 28 * 2**20  # session, kernels, thread pool, code pages: load with prepacking disabled


def _onnx_embedding_materialized(model_path) -> bool:
    """True when the embedding Gather reads a Transpose of the tied LM head: onnxruntime folds it into
    a new tensor at load, so the whole table is resident (a Reshape, as the builder's int4 graphs
    use, stays a view of the mapped blocks)."""
    import onnx

    graph = onnx.load(str(model_path), load_external_data=False).graph
    producers = {out: node.op_type for node in graph.node for out in node.output}
    for node in graph.node:
        if node.op_type in ("Gather", "GatherBlockQuantized") and len(node.input) > 1 and node.input[1] == "input_ids":
            return producers.get(node.input[0]) == "Transpose"
    return False


def _onnx_source_grid_extras(model_path) -> tuple[int, int | None]:
    """(bytes of block-offset tensors, bits of the LM head) of a builder graph whose GGUF weights were
    kept on their own grids (export/onnx/builder.py): each Q4_1 linear carries an fp32 [K/32, N] offset
    matrix a MatMul keeps resident, and a Q8_0 head is 8-bit (at accuracy level 4). (0, None) for others."""
    import math

    import onnx

    graph = onnx.load(str(model_path), load_external_data=False).graph
    offsets = sum(4 * math.prod(t.dims) for t in graph.initializer if t.name.endswith("_block_offsets"))
    if not offsets:
        return 0, None
    head_bits = next((a.i for node in graph.node if node.op_type == "MatMulNBits" and "lm_head" in node.name
                      for a in node.attribute if a.name == "bits"), None)
    return offsets, head_bits


def onnx_run_model(config: dict, *, scheme: str, group_size: int, accuracy_level: int | None, max_seq_len: int,
                   gqa_shared_buffer: bool, embedding_materialized: bool, offset_bytes: int = 0,
                   head_bits: int | None = None) -> dict:
    """Per-artifact coefficients for onnxruntime's memory; `predict_run_memory` finishes the figure
    with the run's prompt lengths (activations depend on the longest prompt)."""
    facts = Architecture.from_hf_config(config)
    hidden, layers, vocab = facts.hidden_size, facts.layers, facts.vocab_size
    q = facts.attention_heads * facts.head_dim
    kv = facts.kv_heads * facts.head_dim
    linear_elements = layers * (hidden * (q + 2 * kv) + q * hidden + facts.mlp_matrices * hidden * facts.ffn_size)
    head_elements = vocab * hidden
    if scheme in _FLOAT_BYTES:
        packed = original_head = _FLOAT_BYTES[scheme]
        head_kept = 0.0
    else:
        scheme_bits = 4 if scheme == "int4" else 8
        # a head kept on its GGUF grid has its own bits, always at accuracy level 4 (builder.py)
        own_head = head_bits is not None and head_bits != scheme_bits
        original_head = _linear_bytes_per_element(scheme, group_size) + ((head_bits - scheme_bits) / 8 if own_head else 0)
        block_sums = _SCALE_BYTES / group_size if accuracy_level == 4 else 0.0
        packed = _linear_bytes_per_element(scheme, group_size) + block_sums
        head_kept = original_head
    own_head = scheme not in _FLOAT_BYTES and head_bits is not None and head_bits != (4 if scheme == "int4" else 8)
    head_packed = head_elements if scheme in _FLOAT_BYTES or accuracy_level == 4 or own_head else 0
    packed_head = packed if scheme in _FLOAT_BYTES else original_head + (_SCALE_BYTES / group_size if own_head else block_sums)
    weights = (linear_elements * packed + head_packed * packed_head + head_elements * head_kept
               + (2 * layers + 1) * hidden * 4 + offset_bytes)
    if embedding_materialized:
        weights += head_elements * _FLOAT_BYTES.get(scheme, 4)
    element = 4  # fp32 activations and cache on the CPU EP for every scheme slm-edge exports
    return {
        "weight_bytes": int(weights),
        "logits_bytes_per_token": vocab * element,
        # one layer's live intermediates per prompt token: gate, up and their product (3 x ffn) and
        # about four hidden-sized tensors (residual, norm, attention output, projection)
        # (block offsets: every projection's output twice more, its symmetric part and its offsets)
        "layer_bytes_per_token": (facts.mlp_matrices * facts.ffn_size + 4 * hidden + q + 2 * kv
                                  + (2 * (q + 2 * kv + hidden + facts.mlp_matrices * facts.ffn_size) if offset_bytes else 0)) * element,
        # GroupQueryAttention (CPU) allocates heads x new tokens x buffer length of probabilities, the
        # buffer being the max length when past and present share it; graphs built from MatMul/Softmax
        # hold scores over (past + new) in about three live copies (scores, masked, softmax)
        "attention_bytes_per_token": facts.attention_heads * max_seq_len * element if gqa_shared_buffer else None,
        "attention_bytes_per_token_squared": None if gqa_shared_buffer else 3 * facts.attention_heads * element,
        "kv_bytes_per_token": 2 * layers * kv * element,
        # shared: one max-length buffer per layer bound as past and present; else present = past +
        # new tokens is a new arena tensor each step, so past and present are both live
        "kv_buffer": "shared max-length" if gqa_shared_buffer else "past and present",
        "max_seq_len": max_seq_len,
        "runtime_bytes": ORT_RUNTIME_BYTES,
    }


def finish_manifest_prediction(body: dict, folder) -> None:
    """Add onnxruntime's run model to an ONNX manifest's predicted_memory (needs the graph and the
    accuracy level, which the export-time prediction does not see)."""
    from pathlib import Path

    predicted = body.get("predicted_memory")
    if body.get("backend") != "onnx" or not isinstance(predicted, dict) or "onnxruntime" in predicted:
        return
    runtime, quant = body["runtime"], body["quantization"]
    config = Architecture.from_doc(body["architecture"]).hf_config()
    model_path = Path(folder) / body["model_file"]
    offset_bytes, head_bits = _onnx_source_grid_extras(model_path) if model_path.is_file() else (0, None)
    predicted["onnxruntime"] = onnx_run_model(
        config, scheme=quant["scheme"], group_size=quant.get("group_size") or 0,
        accuracy_level=quant.get("accuracy_level"), max_seq_len=body["max_seq_len"],
        gqa_shared_buffer=bool(runtime["io"]["kv_cache"].get("share_buffer")),
        embedding_materialized=model_path.is_file() and _onnx_embedding_materialized(model_path),
        offset_bytes=offset_bytes, head_bits=head_bits)


def predict_run_memory(predicted: dict, *, engine: str, prompt_lengths: list[int], decode_tokens: int) -> dict:
    """Predicted RSS increase of a profile run over the pre-load baseline, by part, from the
    artifact's predicted_memory and the run config (prompt lengths, decode length, engine)."""
    longest = max(prompt_lengths)
    sequence = longest + decode_tokens
    model = predicted.get("onnxruntime")
    if engine.startswith("onnxruntime") and model:
        if model["kv_buffer"] == "shared max-length":
            # the whole max-length buffer ends up resident for both: genai allocates and clears its own;
            # our loop's np.zeros buffers are not touched by ortvalue_from_numpy (checked), yet after a
            # run they are resident in full: measured 2026-12-07 at max_seq_len 2048, the peaks of
            # SmolLM-135M / SmolLM-360M / Qwen1.5-0.5B int4 stood 99 / 195 / 687 MiB above a prediction
            # counting only the positions written, against full buffers of 90 / 160 / 768 MiB
            kv = model["kv_bytes_per_token"] * model["max_seq_len"]
            attention = model["attention_bytes_per_token"] * longest
        else:
            kv = 2 * model["kv_bytes_per_token"] * sequence
            attention = model["attention_bytes_per_token_squared"] * longest * sequence
        # the longest prompt's logits and layer intermediates, plus the logits region each shorter
        # distinct prompt length left in the arena
        activations = (model["logits_bytes_per_token"] * sum(sorted(set(prompt_lengths)))
                       + model["layer_bytes_per_token"] * longest + attention)
        runtime = model["runtime_bytes"]
        parts = {"weight_bytes": model["weight_bytes"], "kv_cache_bytes": kv, "activation_bytes": activations,
                 "runtime_bytes": runtime}
        method = (f"onnxruntime: weights as packed at load; KV cache ({model['kv_buffer']}); activations for the "
                  f"longest prompt ({longest}) plus earlier prompts' logits left in the arena; runtime (session, "
                  "threads, code)")
    else:
        # ExecuTorch: its planned arena holds the KV cache and activations; the runtime itself is
        # initialised before the baseline. Old ONNX manifests (no run model) fall back to this too.
        # runtime: XNNPACK's transient buffer while it packs the LM head at load (part of the peak)
        parts = {"weight_bytes": predicted["weight_bytes"], "kv_cache_bytes": predicted["kv_cache_bytes"],
                 "activation_bytes": predicted.get("activation_bytes") or 0,
                 "runtime_bytes": predicted.get("load_transient_bytes") or 0}
        method = predicted.get("method", "")
        if engine.startswith("onnxruntime"):
            method = "artifact exported before onnxruntime's run model: weights and KV cache only (re-export for the full figure)"
    return {**parts, "total_bytes": sum(parts.values()), "longest_prompt": longest, "sequence_tokens": sequence,
            "method": method}
