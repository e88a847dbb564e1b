"""ExecuTorch fast path for decoders that mix sliding-window and full attention (Gemma 3).

executorch 1.5.1's Llama transformer (examples/models/llama) has no Gemma 3 block: no post-attention
or post-FFN norms in its forward, SiLU only, no embedding scale, one RoPE base for every layer. Its
gemma3 example only converts weights. So the block is written here, in Hugging Face's layout (the
state dict loads unchanged), on executorch's own runtime pieces, as its LLM export uses them:
- `llama::update_cache` writes K/V in place into a [1, S, H, D] cache, and `llama::custom_sdpa` with
  is_causal and start_pos attends over the filled part of the cache only;
- a sliding-window layer's cache is executorch's ring buffer (`CachePositionsManager`, 2 x window
  slots: a chunk of up to `window` tokens still sees the `window` positions before each of its
  tokens, examples/models/llama/attention.py RingKVCache) with the window mask executorch builds
  (`_create_causal_mask_for_ring_buffer`); only when the whole context fits in the window does the
  layer use a plain cache and the causal mask, the same attention since no key ever leaves the window;
- the LM head runs on the last position only (or every position for `--full-logits`).
Quantization (8da4w linears, 8-bit embedding) is executorch's own source transform.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from slm_edge.errors import BadInput

# Hugging Face's activation names → the function (Gemma uses tanh-approximated GELU).
_ACTIVATIONS = {
    "gelu_pytorch_tanh": lambda x: nn.functional.gelu(x, approximate="tanh"),
    "gelu": nn.functional.gelu,
    "silu": nn.functional.silu,
}
HYBRID_FAMILIES = ("gemma3_text", "gemma3")


def _text_config(config: dict) -> dict:
    return config.get("text_config") or config


def _layer_types(config: dict) -> list[str]:
    config = _text_config(config)
    types = config.get("layer_types")
    if types:
        return list(types)
    # Gemma 3 configs before layer_types: every sliding_window_pattern-th layer is global
    pattern = int(config.get("sliding_window_pattern", 6))
    return ["full_attention" if (i + 1) % pattern == 0 else "sliding_attention"
            for i in range(config["num_hidden_layers"])]


def _rope_params(config: dict, layer_type: str) -> dict:
    """A layer type's RoPE settings: transformers 5 keeps them per layer type in rope_parameters; older
    configs have rope_theta and rope_scaling (global) and rope_local_base_freq (sliding)."""
    config = _text_config(config)
    per_type = config.get("rope_parameters") or {}
    if isinstance(per_type.get(layer_type), dict):
        return per_type[layer_type]
    if layer_type == "sliding_attention":
        return {"rope_type": "default", "rope_theta": config.get("rope_local_base_freq", 10000.0)}
    return dict(config.get("rope_scaling") or {}, rope_theta=config.get("rope_theta", 10000.0))


def _rope_type(params: dict) -> str:
    return params.get("rope_type") or params.get("type") or "default"


def _rope(config: dict, layer_type: str) -> tuple[float, float]:
    """(base, linear position factor) of a layer type."""
    params = _rope_params(config, layer_type)
    factor = float(params.get("factor", 1.0)) if _rope_type(params) == "linear" else 1.0
    return float(params.get("rope_theta", 10000.0)), factor


def hybrid_blocker(config: dict) -> str | None:
    """Why this path cannot take the config, or None when it can."""
    config = _text_config(config)
    if config.get("model_type") not in HYBRID_FAMILIES:
        return f"family '{config.get('model_type')}' is not one of {list(HYBRID_FAMILIES)}"
    if config.get("attn_logit_softcapping"):
        return "attention logit soft-capping has no custom_sdpa form"
    if config.get("hidden_activation", config.get("hidden_act")) not in _ACTIVATIONS:
        return f"activation '{config.get('hidden_activation')}' is not supported"
    for layer_type in set(_layer_types(config)):
        if layer_type not in ("sliding_attention", "full_attention"):
            return f"layer type '{layer_type}' is not supported"
        rope_type = _rope_type(_rope_params(config, layer_type))
        if rope_type not in ("default", "linear"):
            return f"RoPE type '{rope_type}' is not supported"
    return None


def check_context(config: dict, max_seq_len: int) -> None:
    """Refuses a context whose prompt could outgrow the ring caches in one forward.

    A ring of 2 x window slots keeps every key a chunk of up to window + 1 tokens needs; a longer chunk
    overwrites keys its first tokens still attend to. Our runners (the Python loop, the app) feed the
    prompt in one forward, so the context stays within 2 x window until they feed it in chunks."""
    window = _text_config(config).get("sliding_window")
    if window and max_seq_len > 2 * int(window):
        raise BadInput(f"{{max_seq_len}} {max_seq_len} is more than twice the sliding window ({window}): the fast "
                       "path feeds the prompt in one forward, which its window caches cannot hold",
                       f"use {{max_seq_len}} {2 * int(window)} or less, or {{path}} generic")


def sliding_cache_slots(config: dict, max_seq_len: int) -> int:
    """Slots of a sliding-window layer's cache."""
    window = int(_text_config(config).get("sliding_window") or max_seq_len)
    return min(max_seq_len, 2 * window)


class GemmaRMSNorm(nn.Module):
    """RMSNorm scaled by (1 + weight), computed in fp32 (transformers' Gemma3RMSNorm)."""

    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.zeros(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.float()
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)
        return (h * (1.0 + self.weight.float())).type_as(x)


def _rope_table(head_dim: int, base: float, factor: float, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
    positions = torch.arange(length, dtype=torch.float32) / factor
    freqs = torch.outer(positions, inv_freq)
    angles = torch.cat([freqs, freqs], dim=-1)  # rotate-half layout
    return angles.cos(), angles.sin()


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


class HybridAttention(nn.Module):
    def __init__(self, config: dict, layer_type: str, max_seq_len: int):
        super().__init__()
        hidden, heads = config["hidden_size"], config["num_attention_heads"]
        self.heads, self.kv_heads = heads, config.get("num_key_value_heads") or heads
        self.head_dim = config.get("head_dim") or hidden // heads
        bias = bool(config.get("attention_bias", False))
        self.q_proj = nn.Linear(hidden, heads * self.head_dim, bias=bias)
        self.k_proj = nn.Linear(hidden, self.kv_heads * self.head_dim, bias=bias)
        self.v_proj = nn.Linear(hidden, self.kv_heads * self.head_dim, bias=bias)
        self.o_proj = nn.Linear(heads * self.head_dim, hidden, bias=bias)
        eps = float(config.get("rms_norm_eps", 1e-6))
        self.q_norm = GemmaRMSNorm(self.head_dim, eps)
        self.k_norm = GemmaRMSNorm(self.head_dim, eps)
        self.scale = float(config.get("query_pre_attn_scalar") or self.head_dim) ** -0.5
        self.window = int(config.get("sliding_window") or max_seq_len) if layer_type == "sliding_attention" else None
        slots = sliding_cache_slots(config, max_seq_len) if self.window else max_seq_len
        # the window mask wherever a key can leave the window; a context within it needs only the causal one
        self.ring = self.window is not None and max_seq_len > self.window
        shape = (1, slots, self.kv_heads, self.head_dim)
        self.register_buffer("k_cache", torch.zeros(shape), persistent=False)
        self.register_buffer("v_cache", torch.zeros(shape), persistent=False)

    def forward(self, x, cos, sin, start_pos: int, ring: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
        """ring: the slots this chunk writes and the window mask, shared by every sliding layer."""
        bsz, seqlen, _ = x.shape
        q = self.q_norm(self.q_proj(x).view(bsz, seqlen, self.heads, self.head_dim))
        k = self.k_norm(self.k_proj(x).view(bsz, seqlen, self.kv_heads, self.head_dim))
        v = self.v_proj(x).view(bsz, seqlen, self.kv_heads, self.head_dim)
        # [B, S, H, D] throughout: the layout update_cache and custom_sdpa take
        cos, sin = cos[None, :, None, :], sin[None, :, None, :]
        q = q * cos + _rotate_half(q) * sin
        k = k * cos + _rotate_half(k) * sin
        if self.ring:
            indices, mask = ring
            torch.ops.llama.update_cache_with_indices(k, self.k_cache, start_pos, indices)
            torch.ops.llama.update_cache_with_indices(v, self.v_cache, start_pos, indices)
            out = torch.ops.llama.custom_sdpa(q, self.k_cache, self.v_cache, 0, mask, 0.0, False, self.scale)
        else:
            torch.ops.llama.update_cache(k, self.k_cache, start_pos)
            torch.ops.llama.update_cache(v, self.v_cache, start_pos)
            out = torch.ops.llama.custom_sdpa(q, self.k_cache, self.v_cache, start_pos, None, 0.0, True, self.scale)
        return self.o_proj(out.reshape(bsz, seqlen, -1))


class HybridMlp(nn.Module):
    def __init__(self, config: dict):
        super().__init__()
        hidden, ffn = config["hidden_size"], config["intermediate_size"]
        self.gate_proj = nn.Linear(hidden, ffn, bias=False)
        self.up_proj = nn.Linear(hidden, ffn, bias=False)
        self.down_proj = nn.Linear(ffn, hidden, bias=False)
        self.act = _ACTIVATIONS[config.get("hidden_activation", config.get("hidden_act"))]

    def forward(self, x):
        return self.down_proj(self.act(self.gate_proj(x)) * self.up_proj(x))


class HybridBlock(nn.Module):
    def __init__(self, config: dict, layer_type: str, max_seq_len: int):
        super().__init__()
        hidden, eps = config["hidden_size"], float(config.get("rms_norm_eps", 1e-6))
        self.layer_type = layer_type
        self.self_attn = HybridAttention(config, layer_type, max_seq_len)
        self.mlp = HybridMlp(config)
        self.input_layernorm = GemmaRMSNorm(hidden, eps)
        self.post_attention_layernorm = GemmaRMSNorm(hidden, eps)
        self.pre_feedforward_layernorm = GemmaRMSNorm(hidden, eps)
        self.post_feedforward_layernorm = GemmaRMSNorm(hidden, eps)

    def forward(self, h, cos, sin, start_pos, ring):
        h = h + self.post_attention_layernorm(self.self_attn(self.input_layernorm(h), cos, sin, start_pos, ring))
        return h + self.post_feedforward_layernorm(self.mlp(self.pre_feedforward_layernorm(h)))


class HybridDecoder(nn.Module):
    """forward(tokens [1, n] int64, input_pos [1] int64) → logits [1, vocab] (the fast path's contract)."""

    def __init__(self, config: dict, max_seq_len: int, full_logits: bool = False):
        super().__init__()
        config = _text_config(config)
        hidden = config["hidden_size"]
        self.max_seq_len, self.full_logits = max_seq_len, full_logits
        self.embed_tokens = nn.Embedding(config["vocab_size"], hidden)
        self.embed_scale = math.sqrt(hidden)
        types = _layer_types(config)
        self.layers = nn.ModuleList(HybridBlock(config, t, max_seq_len) for t in types)
        self.norm = GemmaRMSNorm(hidden, float(config.get("rms_norm_eps", 1e-6)))
        self.lm_head = nn.Linear(hidden, config["vocab_size"], bias=False)
        self.softcap = config.get("final_logit_softcapping")
        head_dim = config.get("head_dim") or hidden // config["num_attention_heads"]
        # every sliding layer has the same slots and window: one ring bookkeeping and one mask a step
        # serve them all (per layer, these small ops outside the delegates cost ~25% of a decode step)
        rings = [layer.self_attn for layer in self.layers if layer.self_attn.ring]
        self.window = rings[0].window if rings else None
        if rings:
            from executorch.examples.models.llama.attention import CachePositionsManager

            self.ring_positions = CachePositionsManager(rings[0].k_cache.shape[1])
        for layer_type in sorted(set(types)):
            cos, sin = _rope_table(head_dim, *_rope(config, layer_type), max_seq_len)
            self.register_buffer(f"cos_{layer_type}", cos, persistent=False)
            self.register_buffer(f"sin_{layer_type}", sin, persistent=False)

    def forward(self, tokens: torch.Tensor, input_pos: torch.Tensor) -> torch.Tensor:
        seqlen = tokens.shape[1]
        start_pos = input_pos[0].item()
        torch._check(start_pos >= 0)
        torch._check(start_pos + seqlen <= self.max_seq_len)
        h = self.embed_tokens(tokens) * self.embed_scale
        tables = {t: (getattr(self, f"cos_{t}").narrow(0, start_pos, seqlen),
                      getattr(self, f"sin_{t}").narrow(0, start_pos, seqlen))
                  for t in {layer.layer_type for layer in self.layers}}
        ring = None
        if self.window is not None:
            from executorch.examples.models.llama.attention import _create_causal_mask_for_ring_buffer

            indices = self.ring_positions.calculate_positions_and_update_indices(input_pos, seqlen)
            mask = _create_causal_mask_for_ring_buffer(self.ring_positions.cache_positions, self.window, start_pos, seqlen)
            ring = (indices.unsqueeze(0), mask)
        for layer in self.layers:
            h = layer(h, *tables[layer.layer_type], start_pos, ring if layer.self_attn.ring else None)
        if not self.full_logits:
            h = h[:, -1, :]
        logits = self.lm_head(self.norm(h))
        if self.softcap:
            logits = torch.tanh(logits / self.softcap) * self.softcap
        return logits


def hybrid_decoder_from(model, config: dict, max_seq_len: int, full_logits: bool) -> HybridDecoder:
    """Our decoder with the weights of a transformers Gemma 3 model (the same names, less 'model.')."""
    decoder = HybridDecoder(config, max_seq_len, full_logits)
    weights = {}
    for key, value in model.state_dict().items():
        name = key.removeprefix("model.language_model.").removeprefix("model.")
        weights[name] = value
    if "lm_head.weight" not in weights:
        weights["lm_head.weight"] = weights["embed_tokens.weight"]
    # the head gets its own copy: it is quantized as a linear, the table as an embedding
    weights["lm_head.weight"] = weights["lm_head.weight"].clone()
    weights = {k: v for k, v in weights.items() if not k.endswith("embed_scale")}
    missing, unexpected = decoder.load_state_dict(weights, strict=False)
    missing = [name for name in missing if not name.endswith("cache_positions")]  # ring state, not weights
    if missing or unexpected:
        raise BadInput(f"the model's weights do not fit the hybrid-attention decoder (missing {missing[:3]}, "
                       f"unexpected {unexpected[:3]})", "use {path} generic for this architecture")
    return decoder.eval()
