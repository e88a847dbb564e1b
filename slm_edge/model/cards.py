"""Built-in architecture cards: real model configs shipped as data, usable with random weights.

Each card records where its values come from (`source`) and which cohort it belongs to: "survey"
for the models arXiv 2409.15790 measured, "today" for the ones a mobile engineer compares now.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources

from slm_edge.model.attention import layer_types as attention_layer_types
from slm_edge.errors import BadInput

COHORTS = ("survey", "today")


@dataclass(frozen=True)
class Card:
    name: str
    description: str
    hf_id: str
    family: str
    config: dict
    text: str  # the card file itself, hashed into the source identity
    cohort: str = "today"
    source: dict = field(default_factory=dict)  # where the config's values were read and checked
    # the card's own count (the authors' or one made by hand from the config, its source says which),
    # for a family transformers does not implement: there is nothing to build and count here
    parameters_published: int | None = None


def _card_files():
    return {p.name[: -len(".json")]: p for p in (resources.files("slm_edge.model") / "cards").iterdir() if p.name.endswith(".json")}


def card_names() -> list[str]:
    return sorted(_card_files())


def load_card(name: str) -> Card:
    files = _card_files()
    if name not in files:
        raise BadInput(
            f"no architecture card named '{name}'",
            f"use one of: {', '.join(sorted(files))}",
        )
    text = files[name].read_text()
    data = json.loads(text)
    return Card(
        name=data["name"],
        description=data["description"],
        hf_id=data["hf_id"],
        family=data["family"],
        config=data["config"],
        text=text,
        cohort=data.get("cohort", "today"),
        source=data.get("source") or {},
        parameters_published=data.get("parameters"),
    )


def transformers_implements(config: dict) -> bool:
    """Whether transformers has the config's model type (else only the hub's own code can build it)."""
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

    return config.get("model_type") in CONFIG_MAPPING_NAMES


def unbuildable_reason(card: Card) -> str | None:
    """Why a card cannot be built with random weights here, or None when it can."""
    if transformers_implements(card.config):
        return None
    return (f"transformers has no model type '{card.config.get('model_type')}': {card.hf_id} runs only with its "
            "own code from the hub (trust_remote_code), which a card does not have")


def hf_config(config: dict):
    """A transformers config object for a card's config dict."""
    from transformers import AutoConfig

    rest = dict(config)
    return AutoConfig.for_model(rest.pop("model_type"), **rest)


def counted_parameters(config: dict) -> int:
    """Parameters of the model transformers builds from the config (tied weights once), counted on
    the meta device: no memory, exact for every family transformers implements."""
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(hf_config(config))
    return sum(p.numel() for p in model.parameters())


def _value(config: dict, *keys: str):
    return next((config[k] for k in keys if config.get(k) is not None), None)


def architecture_facts(card: Card) -> dict:
    """What sets a card's latency and memory, read from its config: sizes, attention and position
    kind, MLP form, embedding share. Parameters are counted on the meta device where transformers
    implements the family, else the authors' published count."""
    from slm_edge.records.manifest import UNGATED_MLP_FAMILIES, rotary_fraction

    config = card.config
    known = transformers_implements(config)
    layers = _value(config, "num_hidden_layers", "n_layer", "num_transformer_layers")
    hidden = _value(config, "hidden_size", "n_embed", "n_embd", "model_dim")
    heads = _value(config, "num_attention_heads", "n_head", "num_query_heads")
    kv_heads = _value(config, "num_key_value_heads", "num_kv_heads") or heads
    # per-layer lists (OpenELM's layer-wise scaling): each layer its own head count and FFN width
    per_layer = sorted(k for k, v in config.items() if isinstance(v, list) and layers and len(v) == layers
                       and k not in ("layer_types",) and all(isinstance(x, (int, float)) for x in v))
    uniform = not per_layer
    head_dim = config.get("head_dim") or (hidden // heads if uniform and hidden and heads else None)
    parameters = counted_parameters(config) if known else card.parameters_published
    vocab = _value(config, "vocab_size", "padded_vocab_size")
    # transformers' config class knows each family's default; OpenELM and MobileLLM (hub code) name
    # their tying their own way (MobileLLM's file says tie_word_embeddings false and share_embedding true)
    tied = (bool(getattr(hf_config(config), "tie_word_embeddings", False)) if known
            else any(bool(config.get(k)) for k in ("tie_word_embeddings", "share_input_output_layers", "share_embedding")))
    layer_types = attention_layer_types(config)
    rotary = rotary_fraction(config)
    if config.get("model_type") == "bloom":
        positions = "ALiBi"
    elif rotary < 1:
        positions = f"RoPE on {rotary:.0%} of each head"
    else:
        positions = "RoPE"
    if not uniform:
        attention = "per-layer head counts"
    elif kv_heads == heads:
        attention = "MHA"
    elif kv_heads == 1:
        attention = "MQA"
    else:
        attention = f"GQA {heads}:{kv_heads}"
    embedding_elements = (vocab or 0) * (hidden or 0) * (1 if tied else 2)
    return {
        "transformers_implements": known,
        "parameters": parameters,
        "parameters_source": "counted (transformers, meta device)" if known else "stated in the card (see its source)",
        "layers": layers,
        "hidden_size": hidden,
        "attention_heads": heads if uniform else None,
        "kv_heads": kv_heads if uniform else None,
        "head_dim": head_dim,
        "ffn_size": _value(config, "intermediate_size", "n_inner") or (4 * hidden if config.get("model_type") == "bloom" else None),
        "per_layer_widths": per_layer,
        "vocab_size": vocab,
        "tied_embeddings": tied,
        "embedding_share": embedding_elements / parameters if parameters else None,
        "attention": attention,
        "positions": positions,
        "mlp": None if not known else "ungated (2 matrices)" if config.get("model_type") in UNGATED_MLP_FAMILIES
        else "gated (3 matrices)",
        "parallel_attention_mlp": bool(config.get("use_parallel_residual") or config.get("model_type") == "phi"),
        "activation": _value(config, "hidden_act", "hidden_activation", "activation_function"),
        "sliding_window_layers": sum(1 for t in layer_types if t == "sliding_attention"),
        "max_position_embeddings": _value(config, "max_position_embeddings", "seq_length", "max_context_length"),
        "kv_cache_bytes_per_token_fp16": (2 * layers * kv_heads * head_dim * 2) if uniform and head_dim else None,
    }
