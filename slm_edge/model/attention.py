"""Which attention each layer of a config has: sliding-window or full (Gemma 3 mixes them)."""

from __future__ import annotations


def text_config(config: dict) -> dict:
    """A multimodal config's text part (Gemma 3's text_config), or the config itself."""
    return config.get("text_config") or config


def layer_types(config: dict) -> list[str]:
    """Per layer, "sliding_attention" or "full_attention" (or what the config names): its layer_types,
    else Gemma 3's rule before layer_types existed (every sliding_window_pattern-th layer is global),
    else full attention everywhere."""
    config = text_config(config)
    types = config.get("layer_types")
    if types:
        return list(types)
    layers = config.get("num_hidden_layers") or 0
    if config.get("model_type") in ("gemma3_text", "gemma3") or config.get("sliding_window_pattern"):
        pattern = int(config.get("sliding_window_pattern", 6))
        return ["full_attention" if (i + 1) % pattern == 0 else "sliding_attention" for i in range(layers)]
    return ["full_attention"] * layers
