"""Bad input: one line naming the problem and the fix, exit code 2, no traceback, nothing half-written."""

from __future__ import annotations

import json
import shutil
from types import SimpleNamespace

import pytest

from helpers import run_cli


def assert_one_line_error(result, *fragments):
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    text = errors[0]
    assert "Fix:" in text, result.stderr
    for fragment in fragments:
        assert fragment in text, result.stderr


def test_unknown_model_name():
    assert_one_line_error(run_cli("export", "no-such-model"), "unknown model 'no-such-model'", "--random-weights")


def test_unknown_card_with_random_weights():
    assert_one_line_error(run_cli("export", "gpt-17", "--random-weights"), "no architecture card named 'gpt-17'", "smollm2-135m")


def test_card_without_random_weights_names_the_hub_id():
    assert_one_line_error(run_cli("export", "qwen2.5-0.5b"), "architecture card without weights", "Qwen/Qwen2.5-0.5B-Instruct")


def test_missing_gguf_file(tmp_path):
    assert_one_line_error(run_cli("export", tmp_path / "missing.gguf"), "GGUF file not found")


def test_folder_without_config(tmp_path):
    assert_one_line_error(run_cli("export", tmp_path), "no config.json")


def test_pickle_weights_are_refused(tmp_path, tiny_llama):
    folder = tmp_path / "pickled"
    folder.mkdir()
    shutil.copy(tiny_llama / "config.json", folder)
    (folder / "pytorch_model.bin").write_bytes(b"not loaded")
    assert_one_line_error(run_cli("export", folder), "pickle weights", "--allow-pickle")


def test_hub_id_offline_says_how_to_pass_a_local_copy():
    result = run_cli("export", "HuggingFaceTB/SmolLM2-135M-Instruct")
    assert_one_line_error(result, "could not download 'HuggingFaceTB/SmolLM2-135M-Instruct'", "--local-dir")


def test_unsupported_architecture(tmp_path):
    folder = tmp_path / "bert"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "bert", "hidden_size": 64}))
    (folder / "model.safetensors").write_bytes(b"")
    assert_one_line_error(run_cli("export", folder), "not a decoder-only transformer")


def test_scheme_the_backend_cannot_build(tiny_llama):
    assert_one_line_error(run_cli("export", tiny_llama, "--quant", "int3"), "cannot build quantization scheme 'int3'", "8da4w")


def test_group_size_that_does_not_divide_a_layer(tiny_llama):
    # hidden 64 is not a multiple of 48
    assert_one_line_error(run_cli("export", tiny_llama, "--quant", "8da4w", "--group-size", "48"),
                          "group size 48 does not divide", "--group-size 32")


def test_grouped_8da8w_is_refused_before_lowering(tiny_llama):
    # XNNPACK has no grouped 8-bit weights: the lowering's assertion came out as an internal error
    assert_one_line_error(run_cli("export", tiny_llama, "--quant", "8da8w", "--group-size", "32"),
                          "8da8w takes int8 weights per channel only", "--group-size 0")


def test_full_logits_needs_the_fast_path(tiny_llama):
    assert_one_line_error(run_cli("export", tiny_llama, "--path", "generic", "--full-logits"),
                          "--full-logits needs ExecuTorch's fast path", "drop --full-logits")


def test_max_seq_len_beyond_the_model(tiny_llama):
    assert_one_line_error(run_cli("export", tiny_llama, "--max-seq-len", "100000"), "exceeds the model's 256 positions")


def test_fast_path_refused_for_gemma3_with_attention_softcapping(tmp_path):
    from conftest import save_tiny_model

    # Gemma 2's attention soft-capping: custom_sdpa has no such term
    capped = save_tiny_model(tmp_path / "capped", "gemma-3-270m", attn_logit_softcapping=50.0)
    assert_one_line_error(run_cli("export", capped, "--path", "fast"),
                          "fast path cannot export this model: attention logit soft-capping", "--path generic")


def test_out_folder_that_is_not_an_artifact(tiny_llama, tiny_llama_pte, tmp_path):
    out = tmp_path / "precious"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    # tiny_llama_pte's settings: the export comes from the session's cache, the refusal is the same
    assert_one_line_error(run_cli("export", tiny_llama, "--quant", "fp32", "--embedding-quant", "none",
                                  "--max-seq-len", "64", "--out", out),
                          "is not an slm-edge artifact folder")
    assert (out / "notes.txt").read_text() == "mine"


def test_too_small_a_disk_is_refused_before_any_work(tiny_llama, tmp_path, monkeypatch):
    import slm_edge.export as export_module
    from slm_edge import cache
    from slm_edge.errors import SlmEdgeError
    from slm_edge.export import ExportRequest, export_model
    from slm_edge.progress import StageTimer
    from slm_edge.model.sources import resolve_source

    monkeypatch.setattr(export_module.shutil, "disk_usage", lambda p: SimpleNamespace(total=10**6, used=10**6, free=1024))
    with pytest.raises(SlmEdgeError, match="not enough disk space"):
        export_model(resolve_source(str(tiny_llama)), ExportRequest(max_seq_len=64, quant="8da8w", group_size=0), tmp_path / "out",
                     timer=StageTimer(quiet=True))
    assert not (tmp_path / "out").exists()
    assert not any(p.name.endswith(".partial") for p in (cache.cache_root() / "artifacts").iterdir())


def test_failed_export_leaves_no_artifact(tiny_llama, tmp_path, monkeypatch):
    """A crash in the middle of lowering leaves neither a cache entry nor an --out folder."""
    from slm_edge import cache
    from slm_edge.export import ExportRequest, export_model
    from slm_edge.progress import StageTimer
    from slm_edge.model.sources import resolve_source

    def broken(*args, **kwargs):
        raise RuntimeError("lowering crashed")

    monkeypatch.setattr("executorch.exir.to_edge_transform_and_lower", broken)
    with pytest.raises(RuntimeError, match="lowering crashed"):
        export_model(resolve_source(str(tiny_llama)), ExportRequest(max_seq_len=32, quant="8da8w", group_size=0),
                     tmp_path / "out", timer=StageTimer(quiet=True))
    assert not (tmp_path / "out").exists()
    leftovers = [p.name for p in (cache.cache_root() / "artifacts").iterdir() if p.name.endswith(".partial")]
    assert leftovers == []


def test_verify_detects_a_corrupted_artifact(tiny_llama_pte, tmp_path):
    out = tmp_path / "a"
    shutil.copytree(tiny_llama_pte, out)
    pte = out / "model.pte"
    data = bytearray(pte.read_bytes())
    data[-100] ^= 0xFF
    pte.unlink()  # break the hard link to the cache before writing
    pte.write_bytes(bytes(data))
    assert_one_line_error(run_cli("verify", out), "does not match its manifest hash")


def test_verify_of_a_folder_that_is_not_an_artifact(tmp_path):
    assert_one_line_error(run_cli("verify", tmp_path), "not an slm-edge artifact")


def test_bad_recipe(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("model: smollm2-135m\nquantt: 8da4w\n")
    assert_one_line_error(run_cli("export", "--recipe", recipe), "unknown key 'quantt'")
    recipe.write_text("model: smollm2-135m\ngroup_size: thirty-two\n")
    assert_one_line_error(run_cli("export", "--recipe", recipe), "'group_size' must be int")
