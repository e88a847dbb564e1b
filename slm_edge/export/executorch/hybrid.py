"""ExecuTorch fast path for decoders that mix sliding-window and full attention (Gemma 3).

executorch 1.5.1's Llama transformer (examples/models/llama) has no Gemma 3 block: no post-attention
or post-FFN norms in its forward, SiLU only, no embedding scale, one RoPE base for every layer. Its
gemma3 example only converts weights. So the block is written here, in Hugging Face's layout (the
state dict loads unchanged), on executorch's own runtime pieces, as its LLM export uses them:
- `llama::update_cache` writes K/V in place into a [1, S, H, D] cache, and `llama::custom_sdpa` with
  is_causal and start_pos attends over the filled part of the cache only;
- a sliding-window layer keeps a ring of window + chunk - 1 slots (position p in slot p % ring, written
  by `llama::update_cache_with_indices`), where `chunk` is the most tokens one forward takes (export's
  prefill_chunk, the program's get_max_seq_len; runners feed longer prompts in chunks, as executorch's
  own runner does). Attention reads only the slots that hold the chunk's windows: one slice while they
  do not wrap past the ring's end, the whole ring (masked) when they do, with one slice and one mask a
  step shared by every sliding layer. custom_sdpa with a mask attends over every key the mask spans:
  executorch's RingKVCache (examples/models/llama/attention.py, 2 x window slots) made every decode
  step attend over all of them, 43% of a gemma-3-270m decode step at position ~160 (ETDump). Where
  the ring would be no smaller than the context, the layer keeps every position instead, and when the
  whole context fits in the window the layer is a full one (no key ever leaves the window);
- the LM head runs on the last position only (or every position for `--full-logits`).
Quantization (8da4w linears, 8-bit embedding) is executorch's own source transform.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from slm_edge.errors import BadInput
from slm_edge.model.attention import layer_types, text_config
from slm_edge.model.memory import ring_slots

# Hugging Face's activation names → the function (Gemma uses tanh-approximated GELU).
_ACTIVATIONS = {
    "gelu_pytorch_tanh": lambda x: nn.functional.gelu(x, approximate="tanh"),
    "gelu": nn.functional.gelu,
    "silu": nn.functional.silu,
}
HYBRID_FAMILIES = ("gemma3_text", "gemma3")


def _rope_params(config: dict, layer_type: str) -> dict:
    """A layer type's RoPE settings: transformers 5 keeps them per layer type in rope_parameters; older
    configs have rope_theta and rope_scaling (global) and rope_local_base_freq (sliding)."""
    config = text_config(config)
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
    config = text_config(config)
    if config.get("model_type") not in HYBRID_FAMILIES:
        return f"family '{config.get('model_type')}' is not one of {list(HYBRID_FAMILIES)}"
    if config.get("attn_logit_softcapping"):
        return "attention logit soft-capping has no custom_sdpa form"
    if config.get("hidden_activation", config.get("hidden_act")) not in _ACTIVATIONS:
        return f"activation '{config.get('hidden_activation')}' is not supported"
    for layer_type in set(layer_types(config)):
        if layer_type not in ("sliding_attention", "full_attention"):
            return f"layer type '{layer_type}' is not supported"
        rope_type = _rope_type(_rope_params(config, layer_type))
        if rope_type not in ("default", "linear"):
            return f"RoPE type '{rope_type}' is not supported"
    return None


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
    def __init__(self, config: dict, layer_type: str, max_seq_len: int, ring: int | None = None):
        """ring: a sliding layer keeps a ring of that many slots instead of every position (ring_slots())."""
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
        window = int(config.get("sliding_window") or max_seq_len) if layer_type == "sliding_attention" else None
        # a window no shorter than the context never drops a key: such a layer is causal like a full one
        self.window = window if window is not None and window < max_seq_len else None
        self.ring = ring if self.window is not None else None
        shape = (1, self.ring or max_seq_len, self.kv_heads, self.head_dim)
        self.register_buffer("k_cache", torch.zeros(shape), persistent=False)
        self.register_buffer("v_cache", torch.zeros(shape), persistent=False)

    def forward(self, x, cos, sin, start_pos: int, window: tuple | None) -> torch.Tensor:
        """window: (first slot, number of slots, mask [chunk, slots], ring write indices [1, chunk] or
        None), shared by every sliding layer."""
        bsz, seqlen, _ = x.shape
        q = self.q_norm(self.q_proj(x).view(bsz, seqlen, self.heads, self.head_dim))
        k = self.k_norm(self.k_proj(x).view(bsz, seqlen, self.kv_heads, self.head_dim))
        v = self.v_proj(x).view(bsz, seqlen, self.kv_heads, self.head_dim)
        # [B, S, H, D] throughout: the layout update_cache and custom_sdpa take
        cos, sin = cos[None, :, None, :], sin[None, :, None, :]
        q = q * cos + _rotate_half(q) * sin
        k = k * cos + _rotate_half(k) * sin
        if self.ring is not None:  # position p lives in slot p % ring
            torch.ops.llama.update_cache_with_indices(k, self.k_cache, start_pos, window[3])
            torch.ops.llama.update_cache_with_indices(v, self.v_cache, start_pos, window[3])
        else:
            torch.ops.llama.update_cache(k, self.k_cache, start_pos)
            torch.ops.llama.update_cache(v, self.v_cache, start_pos)
        if self.window is not None:
            first, keys, mask = window[:3]
            k_window = self.k_cache.narrow(1, first, keys)
            # v's length is k's (one size symbol for both, which custom_sdpa's check compares)
            v_window = self.v_cache.narrow(1, first, k_window.shape[1])
            out = torch.ops.llama.custom_sdpa(q, k_window, v_window, 0, mask, 0.0, False, self.scale)
        else:
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
    def __init__(self, config: dict, layer_type: str, max_seq_len: int, ring: int | None = None):
        super().__init__()
        hidden, eps = config["hidden_size"], float(config.get("rms_norm_eps", 1e-6))
        self.layer_type = layer_type
        self.self_attn = HybridAttention(config, layer_type, max_seq_len, ring)
        self.mlp = HybridMlp(config)
        self.input_layernorm = GemmaRMSNorm(hidden, eps)
        self.post_attention_layernorm = GemmaRMSNorm(hidden, eps)
        self.pre_feedforward_layernorm = GemmaRMSNorm(hidden, eps)
        self.post_feedforward_layernorm = GemmaRMSNorm(hidden, eps)

    def forward(self, h, cos, sin, start_pos, window):
        h = h + self.post_attention_layernorm(self.self_attn(self.input_layernorm(h), cos, sin, start_pos, window))
        return h + self.post_feedforward_layernorm(self.mlp(self.pre_feedforward_layernorm(h)))


class HybridDecoder(nn.Module):
    """forward(tokens [1, n] int64, input_pos [1] int64) → logits [1, vocab] (the fast path's contract)."""

    def __init__(self, config: dict, max_seq_len: int, full_logits: bool = False, chunk: int | None = None):
        """chunk: the longest a forward may feed; it sizes the sliding layers' rings (ring_slots()), and
        None (or a ring no smaller than the context) keeps every position."""
        super().__init__()
        config = text_config(config)
        hidden = config["hidden_size"]
        self.max_seq_len, self.full_logits = max_seq_len, full_logits
        self.embed_tokens = nn.Embedding(config["vocab_size"], hidden)
        self.embed_scale = math.sqrt(hidden)
        types = layer_types(config)
        window = config.get("sliding_window") if "sliding_attention" in types else None
        self.ring = ring_slots(int(window), max_seq_len, chunk) if window and chunk else None
        self.chunk = chunk if self.ring else None
        self.layers = nn.ModuleList(HybridBlock(config, t, max_seq_len, self.ring) for t in types)
        self.norm = GemmaRMSNorm(hidden, float(config.get("rms_norm_eps", 1e-6)))
        self.lm_head = nn.Linear(hidden, config["vocab_size"], bias=False)
        self.softcap = config.get("final_logit_softcapping")
        head_dim = config.get("head_dim") or hidden // config["num_attention_heads"]
        # every sliding layer has the same window: one slice and one mask a step serve them all
        self.window = next((layer.self_attn.window for layer in self.layers if layer.self_attn.window), None)
        for layer_type in sorted(set(types)):
            cos, sin = _rope_table(head_dim, *_rope(config, layer_type), max_seq_len)
            self.register_buffer(f"cos_{layer_type}", cos, persistent=False)
            self.register_buffer(f"sin_{layer_type}", sin, persistent=False)

    def forward(self, tokens: torch.Tensor, input_pos: torch.Tensor) -> torch.Tensor:
        seqlen = tokens.shape[1]
        start_pos = input_pos[0].item()
        torch._check(start_pos >= 0)
        torch._check(start_pos + seqlen <= self.max_seq_len)
        if self.chunk:
            torch._check(seqlen <= self.chunk)
        h = self.embed_tokens(tokens) * self.embed_scale
        tables = {t: (getattr(self, f"cos_{t}").narrow(0, start_pos, seqlen),
                      getattr(self, f"sin_{t}").narrow(0, start_pos, seqlen))
                  for t in {layer.layer_type for layer in self.layers}}
        window = (None if self.window is None else self._ring_slice(input_pos, seqlen) if self.ring
                  else self._window_slice(start_pos, seqlen))
        for layer in self.layers:
            h = layer(h, *tables[layer.layer_type], start_pos, window if layer.self_attn.window else None)
        if not self.full_logits:
            h = h[:, -1, :]
        logits = self.lm_head(self.norm(h))
        if self.softcap:
            logits = torch.tanh(logits / self.softcap) * self.softcap
        return logits


    def _window_slice(self, start_pos, seqlen: int) -> tuple:
        """The keys a sliding layer reads for this chunk: from the first query's window start through
        the last query, and the mask that gives each query its own window over them."""
        first = torch.sym_max(start_pos - self.window + 1, 0)
        keys = start_pos + seqlen - first
        torch._check(keys >= 1)
        query_pos = torch.arange(seqlen).unsqueeze(1) + start_pos
        key_pos = torch.arange(keys).unsqueeze(0) + first
        seen = (key_pos <= query_pos) & (key_pos > query_pos - self.window)
        mask = torch.zeros(seen.shape).masked_fill(~seen, float("-inf"))
        return first, keys, mask, None

    def _ring_slice(self, input_pos: torch.Tensor, seqlen: int) -> tuple:
        """The ring's slots a sliding layer reads for this chunk, the mask over them and where the chunk's
        keys go. Position p is in slot p % ring; the chunk's keys are written before attention reads.
        The positions the chunk needs (from the first query's window start through the last query,
        fewer than ring) lie in consecutive slots unless they wrap past the ring's end: then every slot
        is read, the mask picking the window (no slot the chunk needs was overwritten: ring_slots()).
        First slot and count are computed as tensors and read once, so both caches' slices share one
        size that torch.export can bound (first + count <= ring)."""
        ring = self.ring
        last = input_pos + (seqlen - 1)
        first_pos = torch.clamp(input_pos - (self.window - 1), min=0)
        span = last - first_pos + 1
        wraps = torch.div(last, ring, rounding_mode="floor") - torch.div(first_pos, ring, rounding_mode="floor")
        first = (torch.remainder(first_pos, ring) * (1 - wraps)).item()
        keys = (span + wraps * (ring - span)).item()
        torch._check_is_size(first)
        torch._check(keys >= 1)
        torch._check(first + keys <= ring)
        slots = torch.arange(keys).unsqueeze(0) + first
        slot_pos = last - torch.remainder(last - slots, ring)  # the newest position each slot holds
        query_pos = torch.arange(seqlen).unsqueeze(1) + input_pos
        seen = (slot_pos >= 0) & (slot_pos <= query_pos) & (slot_pos > query_pos - self.window)
        mask = torch.zeros(seen.shape).masked_fill(~seen, float("-inf"))
        indices = torch.remainder(torch.arange(seqlen) + input_pos, ring).unsqueeze(0)
        return first, keys, mask, indices


def hybrid_decoder_from(model, config: dict, max_seq_len: int, full_logits: bool,
                        chunk: int | None = None) -> HybridDecoder:
    """Our decoder with the weights of a transformers Gemma 3 model (the same names, less 'model.')."""
    decoder = HybridDecoder(config, max_seq_len, full_logits, chunk)
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
    if missing or unexpected:
        raise BadInput(f"the model's weights do not fit the hybrid-attention decoder (missing {missing[:3]}, "
                       f"unexpected {unexpected[:3]})", "use {path} generic for this architecture")
    return decoder.eval()
