"""The command line end to end: export then verify a tiny model, help and version."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from slm_edge import __version__

from helpers import run_cli


def test_help_and_version():
    help_text = run_cli("--help")
    assert help_text.returncode == 0
    for command in ("export", "verify", "cards"):
        assert command in help_text.stdout
    version = run_cli("--version")
    assert version.returncode == 0 and __version__ in version.stdout
    assert shutil.which("slm-edge", path=str(Path(sys.executable).parent)), "console script not installed"


def test_cards_lists_every_card():
    result = run_cli("cards")
    assert result.returncode == 0, result.stderr
    for name in ("smollm2-135m", "qwen2.5-1.5b", "llama-3.2-1b", "gemma-3-270m", "phi-3-mini"):
        assert name in result.stdout


def test_cards_json_lists_every_card_with_its_facts_paths_and_source():
    from slm_edge.model.cards import card_names

    result = run_cli("cards", "--json")
    assert result.returncode == 0, result.stderr
    cards = {card["name"]: card for card in json.loads(result.stdout)}
    assert set(cards) == set(card_names())
    # facts read from the real configs: what sets latency beyond size
    assert cards["pythia-160m"]["facts"]["positions"] == "RoPE on 25% of each head"
    assert cards["pythia-160m"]["facts"]["parallel_attention_mlp"] is True
    assert cards["bloom-560m"]["facts"]["positions"] == "ALiBi" and cards["bloom-560m"]["facts"]["tied_embeddings"]
    assert cards["qwen2-0.5b"]["facts"]["attention"] == "GQA 14:2" and cards["qwen1.5-0.5b"]["facts"]["attention"] == "MHA"
    assert cards["gemma-3-1b"]["facts"]["sliding_window_layers"] == 22
    assert cards["smollm-135m"]["facts"]["parameters"] == 134_515_008
    # a hub-code family is listed with why no path takes it, not skipped
    openelm = cards["openelm-270m"]
    assert openelm["facts"]["per_layer_widths"] == ["ffn_multipliers", "num_kv_heads", "num_query_heads"]
    for backend in ("executorch", "onnx"):
        assert openelm["paths"][backend]["path"] is None
        assert "trust_remote_code" in openelm["paths"][backend]["reason"]
        assert "same head count and FFN width" in openelm["paths"][backend]["reason"]
    assert cards["qwen-1.8b"]["paths"]["onnx"]["path"] is None
    assert cards["smollm-135m"]["paths"]["onnx"] == {"path": "fast", "reason": cards["smollm-135m"]["paths"]["onnx"]["reason"]}
    assert all(card["source"]["config"].startswith("https://huggingface.co/") for card in cards.values())
    survey = json.loads(run_cli("cards", "--json", "--cohort", "survey").stdout)
    assert len(survey) == 22 and {card["cohort"] for card in survey} == {"survey"}


def test_cards_say_which_path_each_backend_takes():
    from slm_edge.cli.cards import path_choice, path_text
    from slm_edge.model.cards import load_card

    def path_summary(config, backend):
        return path_text(path_choice(config, backend))

    assert path_summary(load_card("gemma-3-270m").config, "executorch") == "fast"
    capped = dict(load_card("gemma-3-270m").config, attn_logit_softcapping=50.0)
    assert path_summary(capped, "executorch").startswith("generic: ")
    assert "soft-capping" in path_summary(capped, "executorch")


def test_export_then_verify_end_to_end(tiny_llama, tmp_path):
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(f"model: {tiny_llama}\nquant: 8da8w\ngroup_size: 0\nembedding_quant: none\nmax_seq_len: 48\n")
    out = tmp_path / "artifact"
    # The recipe supplies the model and scheme; --max-seq-len on the command line wins over it.
    exported = run_cli("export", "--recipe", recipe, "--max-seq-len", "64", "--out", out)
    assert exported.returncode == 0, exported.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["quantization"]["scheme"] == "8da8w" and manifest["max_seq_len"] == 64
    assert (out / "model.pte").stat().st_size == manifest["files"]["model.pte"]["bytes"]
    assert "predicted memory" in exported.stdout

    verified = run_cli("verify", out, "--steps", "8")
    assert verified.returncode == 0, verified.stderr
    result = json.loads((out / "verify.json").read_text())
    assert result["steps"] == 8 and len(result["artifact_tokens"]) == 8
    assert result["teacher_forced_top1_agreement"] >= 0.75
    assert "greedy agreement" in verified.stdout
