"""Predicted memory of an artifact from the architecture and the quantization scheme alone.

Weights: bytes per element of each tensor kind plus per-group scales. KV cache: K and V for every
layer at the maximum sequence length. Activations: what the backend's memory planner reserved
(ExecuTorch reports it at export; its arena also holds the KV cache, which is subtracted).
"""

from __future__ import annotations

from slm_edge.manifest import architecture_facts

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
    facts = architecture_facts(config, 0)
    hidden, layers = facts["hidden_size"], facts["layers"]
    q = facts["attention_heads"] * facts["head_dim"]
    kv = facts["kv_heads"] * facts["head_dim"]
    per_layer = hidden * (q + 2 * kv) + q * hidden + 3 * hidden * facts["ffn_size"] + 2 * hidden
    if config.get("attention_bias") or config.get("model_type") == "qwen2":
        per_layer += q + 2 * kv
    embedding = facts["vocab_size"] * hidden
    lm_head = 0 if facts["tied_embeddings"] else embedding
    return layers * per_layer + embedding + lm_head + hidden


def kv_cache_bytes(config: dict, max_seq_len: int, element_bytes: int = 4) -> int:
    facts = architecture_facts(config, 0)
    return 2 * facts["layers"] * facts["kv_heads"] * facts["head_dim"] * max_seq_len * element_bytes


def predict_weight_bytes(config: dict, scheme: str, group_size: int, embedding_quant: str) -> int:
    """Weights as the runtime holds them. The LM head is its own quantized linear even when the
    checkpoint ties it to the embedding, so it is counted separately."""
    facts = architecture_facts(config, 0)
    hidden, layers = facts["hidden_size"], facts["layers"]
    q = facts["attention_heads"] * facts["head_dim"]
    kv = facts["kv_heads"] * facts["head_dim"]
    linear_elements = layers * (hidden * (q + 2 * kv) + q * hidden + 3 * hidden * facts["ffn_size"])
    lm_head_elements = facts["vocab_size"] * hidden
    norm_elements = layers * 2 * hidden + hidden
    linear = _linear_bytes_per_element(scheme, group_size)
    embedding = _embedding_bytes_per_element(embedding_quant, scheme, hidden)
    total = (
        (linear_elements + lm_head_elements) * linear
        + facts["vocab_size"] * hidden * embedding
        + norm_elements * _FLOAT_BYTES.get(scheme, 4)
    )
    return int(total)


def per_token_weight_bytes(config: dict, scheme: str, group_size: int, embedding_quant: str) -> int:
    """Weight bytes a decode step reads: every linear and the LM head, but of the embedding table
    (when it is its own tensor) only one row. What the bandwidth roofline divides by."""
    facts = architecture_facts(config, 0)
    table = facts["vocab_size"] * facts["hidden_size"] * _embedding_bytes_per_element(embedding_quant, scheme,
                                                                                      facts["hidden_size"])
    return int(predict_weight_bytes(config, scheme, group_size, embedding_quant) - table)


def predict_memory(config: dict, *, scheme: str, group_size: int, embedding_quant: str, max_seq_len: int,
                   planned_arena_bytes: int | None) -> dict:
    kv_bytes = kv_cache_bytes(config, max_seq_len, _FLOAT_BYTES["fp16"] if scheme == "fp16" else 4)
    weights = predict_weight_bytes(config, scheme, group_size, embedding_quant)
    activations = None
    if planned_arena_bytes is not None:
        activations = max(planned_arena_bytes - kv_bytes, 0)
    total = weights + kv_bytes + (activations or 0)
    return {
        "weight_bytes": weights,
        "kv_cache_bytes": kv_bytes,
        "kv_cache_at_tokens": max_seq_len,
        "planned_arena_bytes": planned_arena_bytes,
        "activation_bytes": activations,
        "total_bytes": total,
        "method": "weights and KV cache from the architecture and scheme; activations = the backend's "
        "planned memory arena minus the KV cache it also holds",
    }
