"""The architecture facts of a Hugging Face config that sizing, memory prediction and the manifest use."""

from __future__ import annotations


def architecture_facts(config: dict, parameter_count: int) -> dict:
    heads = config["num_attention_heads"]
    return {
        "model_type": config.get("model_type"),
        "architectures": config.get("architectures"),
        "parameters": parameter_count,
        "layers": config["num_hidden_layers"],
        "hidden_size": config["hidden_size"],
        "attention_heads": heads,
        "kv_heads": config.get("num_key_value_heads") or heads,
        "head_dim": config.get("head_dim") or config["hidden_size"] // heads,
        "ffn_size": config["intermediate_size"],
        "vocab_size": config["vocab_size"],
        "tied_embeddings": bool(config.get("tie_word_embeddings", False)),
        "max_position_embeddings": config.get("max_position_embeddings"),
    }
