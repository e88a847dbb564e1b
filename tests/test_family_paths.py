"""The survey's and today's families on the paths `slm-edge cards` says take them: tiny models with each
card's distinctive features, exported and compared with PyTorch (the exports that used to fail or,
worse, run wrong: BLOOM's own config keys, Phi-4-mini's partial rotary and LongRoPE on ExecuTorch)."""

from __future__ import annotations

from pathlib import Path

import pytest

from slm_edge.export import ExportRequest, export_model
from slm_edge.model.sources import resolve_source
from slm_edge.progress import StageTimer
from slm_edge.quality.verify import verify_artifact
from conftest import save_tiny_model, tiny_config


def _export(folder: Path, out: Path, **request):
    return export_model(resolve_source(str(folder)), ExportRequest(max_seq_len=64, **request), out,
                        timer=StageTimer(quiet=True))


def test_bloom_from_its_own_config_keys_exports_on_the_generic_onnx_path(tmp_path):
    # BLOOM's config.json says n_layer and n_head and has no FFN width: the ALiBi model goes through
    # torch.onnx with the sizes read under those names
    folder = save_tiny_model(tmp_path / "bloom", "bloom-560m", num_key_value_heads=4)  # BLOOM is MHA: undo TINY's GQA
    assert "num_hidden_layers" not in (folder / "config.json").read_text()
    outcome = _export(folder, tmp_path / "onnx", backend="onnx", quant="fp32")
    assert outcome.manifest.export_path.startswith("torch.onnx dynamo")
    assert outcome.manifest.architecture.layers == 2 and outcome.manifest.architecture.ffn_size == 4 * 64
    assert outcome.manifest.architecture.mlp_matrices == 2
    result = verify_artifact(outcome.folder, steps=16)
    assert result["greedy_agreement"] == 1.0 and result["mean_kl"] < 1e-5, result


def test_partial_rotary_and_longrope_run_right_on_the_executorch_fast_path(tmp_path):
    # Phi-4-mini rotates 75% of each head with LongRoPE: the fast path ignored both and ran wrong
    # (teacher-forced top-1 0.00); executorch's ModelArgs takes them (HF RoPE, short factors)
    rotary_half = int(16 * 0.75) // 2
    rope = {"rope_type": "longrope", "short_factor": [1.0 + i / 10 for i in range(rotary_half)],
            "long_factor": [2.0 + i for i in range(rotary_half)], "original_max_position_embeddings": 128}
    folder = save_tiny_model(tmp_path / "phi4", "phi-4-mini", rope_scaling=rope, original_max_position_embeddings=128)
    assert tiny_config("phi-4-mini")["partial_rotary_factor"] == 0.75
    outcome = _export(folder, tmp_path / "pte", backend="executorch", quant="fp32", embedding_quant="none")
    assert outcome.manifest.export_path == "executorch-llm"
    result = verify_artifact(outcome.folder, steps=16)
    assert result["greedy_agreement"] == 1.0 and result["mean_kl"] < 1e-5, result


@pytest.mark.parametrize(("card", "head_dim", "refused"), [("phi-2", 80, False), ("phi-2", 16, True),
                                                           ("phi-4-mini", 128, False), ("phi-4-mini", 16, True)])
def test_the_builder_is_refused_rotary_widths_groupqueryattention_rejects(card, head_dim, refused):
    # onnxruntime's GroupQueryAttention wants half the rotary width a multiple of 8, checked only at
    # run time: phi-2 (80 x 0.4 = 32) and Phi-4-mini (128 x 0.75 = 96) pass, tiny heads of 16 do not
    from slm_edge.export.onnx.builder import builder_blocker
    from slm_edge.model.cards import load_card

    config = dict(load_card(card).config, head_dim=head_dim)
    blocker = builder_blocker(config)
    assert (blocker is not None) == refused, blocker
    if refused:
        assert "multiple of 8" in blocker


def test_a_card_that_names_no_end_token_still_builds_on_the_builder(tmp_path):
    # Phi-1.5's config names no eos_token_id (its hub tokenizer does): a card has no tokenizer, and
    # onnxruntime-genai's builder refused the model outright
    folder = save_tiny_model(tmp_path / "phi15", "phi-1.5", num_attention_heads=2, num_key_value_heads=2, head_dim=32)
    assert tiny_config("phi-1.5").get("eos_token_id") is None
    outcome = _export(folder, tmp_path / "onnx", backend="onnx", quant="int4")
    assert outcome.manifest.export_path.startswith("onnxruntime-genai model builder")
