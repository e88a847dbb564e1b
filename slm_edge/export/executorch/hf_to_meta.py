"""Hugging Face config and weights → the form of executorch's Llama-family transformer.

executorch ships the model (examples/models/llama) and per-family converters, but those pull in
torchtune; the mapping itself is a short table, so it lives here.
"""

from __future__ import annotations

import re

import torch

from slm_edge.errors import BadInput
from slm_edge.records.manifest import rotary_fraction

# model_type → extra ModelArgs for that family. Families missing here take the generic path.
FAST_PATH_FAMILIES = {
    "llama": {},
    "qwen2": {"attention_qkv_bias": True},
    "qwen3": {"use_qk_norm": True, "qk_norm_before_rope": True},
    "phi3": {},
}

_LAYER_KEYS = {
    "self_attn.q_proj": "attention.wq",
    "self_attn.k_proj": "attention.wk",
    "self_attn.v_proj": "attention.wv",
    "self_attn.o_proj": "attention.wo",
    "self_attn.q_norm": "attention.q_norm_fn",
    "self_attn.k_norm": "attention.k_norm_fn",
    "mlp.gate_proj": "feed_forward.w1",
    "mlp.down_proj": "feed_forward.w2",
    "mlp.up_proj": "feed_forward.w3",
    "input_layernorm": "attention_norm",
    "post_attention_layernorm": "ffn_norm",
}
_TOP_KEYS = {
    "model.embed_tokens.weight": "tok_embeddings.weight",
    "model.norm.weight": "norm.weight",
    "lm_head.weight": "output.weight",
}


def fast_path_blocker(config: dict) -> str | None:
    """Why the fast path cannot take this config, or None when it can."""
    model_type = config.get("model_type")
    if model_type not in FAST_PATH_FAMILIES:
        return f"family '{model_type}' is not one of {sorted(FAST_PATH_FAMILIES)}"
    rope_type = _rope_type(config)
    if rope_type not in (None, "default", "llama3", "longrope"):
        return f"RoPE scaling '{rope_type}' is not supported by the fast path"
    if config.get("hidden_act", "silu") != "silu":
        return f"activation '{config.get('hidden_act')}' is not supported by the fast path"
    if config.get("use_sliding_window"):
        return "sliding-window attention is not supported by the fast path"
    return None


def _rope_theta(config: dict) -> float:
    if "rope_theta" in config:
        return float(config["rope_theta"])
    return float((config.get("rope_parameters") or {}).get("rope_theta", 10000.0))


def _rope_scaling(config: dict) -> dict:
    """transformers 4 writes `rope_scaling`, transformers 5 `rope_parameters`."""
    return config.get("rope_scaling") or config.get("rope_parameters") or {}


def _rope_type(config: dict) -> str | None:
    scaling = _rope_scaling(config)
    return scaling.get("rope_type") or scaling.get("type")


def _uses_llama3_rope(config: dict) -> bool:
    return _rope_type(config) == "llama3"


def meta_params(config: dict) -> dict:
    """ModelArgs fields (executorch's params.json) for a Hugging Face config."""
    blocker = fast_path_blocker(config)
    if blocker:
        raise BadInput(f"the ExecuTorch fast path cannot export this model: {blocker}", "use {path} generic")
    heads = config["num_attention_heads"]
    head_dim = config.get("head_dim") or config["hidden_size"] // heads
    params = {
        "dim": config["hidden_size"],
        "n_layers": config["num_hidden_layers"],
        "n_heads": heads,
        "n_kv_heads": config.get("num_key_value_heads") or heads,
        "head_dim": head_dim,
        "vocab_size": config["vocab_size"],
        "hidden_dim": config["intermediate_size"],
        "norm_eps": float(config.get("rms_norm_eps", 1e-5)),
        "rope_theta": _rope_theta(config),
        # rotary on the first part of each head only (Phi-4-mini: 0.75); ModelArgs' HF RoPE takes it
        "partial_rotary_factor": rotary_fraction(config),
        **FAST_PATH_FAMILIES[config["model_type"]],
    }
    if _uses_llama3_rope(config) and params["partial_rotary_factor"] != 1.0:
        raise BadInput("the ExecuTorch fast path cannot export this model: llama3 RoPE scaling on part of each head",
                       "use {path} generic")
    scaling = _rope_scaling(config)
    if _rope_type(config) == "longrope":
        # Phi-3/4's LongRoPE: executorch's HF RoPE divides the frequencies by the short factors while
        # its table is no longer than the original context (long factors past it, for every position,
        # where transformers switches per sequence length) and scales cos/sin by the attention factor
        params.update(
            rope_scaling_short_factor=[float(v) for v in scaling["short_factor"]],
            rope_scaling_long_factor=[float(v) for v in scaling["long_factor"]],
            original_max_position_embeddings=int(scaling.get("original_max_position_embeddings")
                                                 or config["original_max_position_embeddings"]),
            max_position_embeddings=int(config["max_position_embeddings"]),
            **({"rope_scaling_attention_factor": float(scaling["attention_factor"])}
               if scaling.get("attention_factor") is not None else {}),
        )
    if _uses_llama3_rope(config):
        # executorch implements llama3 frequency scaling only in Meta's interleaved RoPE, so the
        # q/k weights are permuted into that layout (see convert_state_dict).
        params.update(
            use_hf_rope=False,
            use_scaled_rope=True,
            rope_scale_factor=int(scaling["factor"]),
            high_freq_factor=int(scaling.get("high_freq_factor", 4)),
        )
    else:
        params["use_hf_rope"] = True
    return params


def _hf_to_meta_rotary(weight: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Undo the q/k row permutation HF applies for its rotate-half RoPE (Meta RoPE interleaves)."""
    rows, cols = weight.shape[0], weight.shape[1:]
    return weight.view(n_heads, 2, rows // n_heads // 2, *cols).transpose(1, 2).reshape(rows, *cols)


def convert_state_dict(state_dict: dict[str, torch.Tensor], config: dict) -> dict[str, torch.Tensor]:
    params = meta_params(config)
    out: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        if key in _TOP_KEYS:
            out[_TOP_KEYS[key]] = value
            continue
        match = re.fullmatch(r"model\.layers\.(\d+)\.(.+)\.(weight|bias)", key)
        if not match:
            continue  # rotary caches and other buffers the Meta model recomputes
        layer, module, kind = match.groups()
        prefix = f"layers.{layer}."
        if module == "self_attn.qkv_proj":  # phi3 fuses q, k and v
            q_rows = params["n_heads"] * params["head_dim"]
            kv_rows = params["n_kv_heads"] * params["head_dim"]
            q, k, v = torch.split(value, [q_rows, kv_rows, kv_rows], dim=0)
            out[prefix + f"attention.wq.{kind}"] = q
            out[prefix + f"attention.wk.{kind}"] = k
            out[prefix + f"attention.wv.{kind}"] = v
        elif module == "mlp.gate_up_proj":  # phi3 fuses gate and up
            gate, up = torch.chunk(value, 2, dim=0)
            out[prefix + f"feed_forward.w1.{kind}"] = gate
            out[prefix + f"feed_forward.w3.{kind}"] = up
        elif module in _LAYER_KEYS:
            out[prefix + f"{_LAYER_KEYS[module]}.{kind}"] = value
        else:
            raise BadInput(
                f"weight '{key}' has no place in the fast path's model",
                "use {path} generic for this architecture",
            )
    if "output.weight" not in out:
        out["output.weight"] = out["tok_embeddings.weight"]  # tied embeddings
    if not params["use_hf_rope"]:
        for i in range(params["n_layers"]):
            wq, wk = f"layers.{i}.attention.wq.weight", f"layers.{i}.attention.wk.weight"
            out[wq] = _hf_to_meta_rotary(out[wq], params["n_heads"])
            out[wk] = _hf_to_meta_rotary(out[wk], params["n_kv_heads"])
    return {k: v.contiguous() for k, v in out.items()}
