"""Shared fixtures: an isolated cache, tiny models built from the real configs of the cards, tiny
artifacts several modules use, and (slm_edge.testing.pytest_plugin) the emulated phone."""

from __future__ import annotations

import json
import os
from pathlib import Path

# Imported up front: hypothesis' pytest plugin otherwise imports it in the terminal summary of a run
# without test_fuzz.py, where CPython 3.11.7's ast.parse (pytest's assertion rewriting) failed with
# "AST constructor recursion depth mismatch" and crashed pytest after every test had passed.
import hypothesis  # noqa: F401
import pytest
import torch

from slm_edge.model.cards import load_card

pytest_plugins = ["slm_edge.testing.pytest_plugin"]  # adb_server, emulated_phone

# Tiny but structurally faithful: GQA, tied embeddings, the family's own extras stay as in the card.
TINY = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
            intermediate_size=128, vocab_size=320, max_position_embeddings=256,
            # wider than the default 0.02 init, so next-token choices are confident like a trained
            # model's rather than near-ties that flip on rounding
            initializer_range=0.1)


@pytest.fixture(scope="session", autouse=True)
def isolated_cache(tmp_path_factory):
    cache = tmp_path_factory.mktemp("slm-edge-cache")
    os.environ["SLM_EDGE_CACHE"] = str(cache)
    os.environ["HF_HUB_OFFLINE"] = "1"  # tests never need the hub
    return cache


def tiny_config(card: str, **overrides) -> dict:
    config = dict(load_card(card).config)
    config.update(TINY)
    if config["model_type"] == "gemma3_text":
        config.update(head_dim=16, query_pre_attn_scalar=16, sliding_window=32,
                      layer_types=["sliding_attention", "full_attention"])
    if isinstance(config.get("eos_token_id"), list):
        config["eos_token_id"] = [t % TINY["vocab_size"] for t in config["eos_token_id"]]
    for key in ("bos_token_id", "eos_token_id", "pad_token_id"):
        if isinstance(config.get(key), int):
            config[key] = config[key] % TINY["vocab_size"]
    config.update(overrides)
    return config


def save_tiny_model(folder: Path, card: str, seed: int = 0, **overrides) -> Path:
    """A Hugging Face folder (config.json + model.safetensors) of a tiny model with a card's architecture."""
    from transformers import AutoConfig, AutoModelForCausalLM

    config = tiny_config(card, **overrides)
    model_type = config.pop("model_type")
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(AutoConfig.for_model(model_type, **config))
    model.save_pretrained(folder)
    return folder


def _tiny_model_fixture(name: str, card: str, why: str = ""):
    """A session fixture `name`: the tiny model of `card`, saved once."""
    def fixture(tmp_path_factory) -> Path:
        return save_tiny_model(tmp_path_factory.mktemp(name.replace("_", "-")), card)

    fixture.__doc__ = why or f"A tiny model with the architecture of the {card} card."
    return pytest.fixture(scope="session", name=name)(fixture)


tiny_llama = _tiny_model_fixture("tiny_llama", "smollm2-135m")
tiny_qwen2 = _tiny_model_fixture("tiny_qwen2", "qwen2.5-0.5b")
# Llama-3.2 keeps its llama3 RoPE scaling: exercises the q/k permutation into Meta's RoPE
tiny_llama32 = _tiny_model_fixture("tiny_llama32", "llama-3.2-1b")
tiny_gemma3 = _tiny_model_fixture("tiny_gemma3", "gemma-3-270m")


def read_json(path: Path) -> dict:
    return json.loads(Path(path).read_text())


# --- tiny artifacts several modules profile or run, exported once a session with the same settings --
def export_tiny(folder: Path, out: Path, **request) -> Path:
    from slm_edge.export import ExportRequest, export_model
    from slm_edge.model.sources import resolve_source
    from slm_edge.progress import StageTimer

    export_model(resolve_source(str(folder)), ExportRequest(**request), out, timer=StageTimer(quiet=True))
    return out


@pytest.fixture(scope="session")
def tiny_llama_onnx(tiny_llama, tmp_path_factory) -> Path:
    """ONNX fp32 (builder graph), 64 positions."""
    return export_tiny(tiny_llama, tmp_path_factory.mktemp("shared") / "llama-onnx-fp32", backend="onnx",
                       quant="fp32", max_seq_len=64)


@pytest.fixture(scope="session")
def tiny_llama_pte(tiny_llama, tmp_path_factory) -> Path:
    """ExecuTorch fp32 with an fp32 embedding (fast path), 64 positions."""
    return export_tiny(tiny_llama, tmp_path_factory.mktemp("shared") / "llama-pte-fp32", quant="fp32",
                       embedding_quant="none", max_seq_len=64)


@pytest.fixture(scope="session")
def tiny_qwen2_onnx_int4(tiny_qwen2, tmp_path_factory) -> Path:
    """ONNX int4, 128 positions."""
    return export_tiny(tiny_qwen2, tmp_path_factory.mktemp("shared") / "qwen2-onnx-int4", backend="onnx",
                       quant="int4", max_seq_len=128)
