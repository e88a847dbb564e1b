"""Real ONNX exports of tiny real-architecture models through both paths, run by onnxruntime (our
own KV-cache loop, as on the phone) and onnxruntime-genai, checked against PyTorch."""

from __future__ import annotations

import pytest
import torch

from slm_edge.runtime.engines import load_engine
from slm_edge.errors import SlmEdgeError
from slm_edge.export import ExportConfig, ExportRequest, choose_path, export_model, validate
from slm_edge.progress import StageTimer
from slm_edge.model.sources import resolve_source
from slm_edge.quality.verify import verify_artifact
from helpers import run_cli


def _export(folder, out, **request):
    request = ExportRequest(**{"backend": "onnx", "max_seq_len": 64, **request})
    return export_model(resolve_source(str(folder)), request, out, timer=StageTimer(quiet=True))


@pytest.mark.parametrize("fixture", ["tiny_llama", "tiny_qwen2"])
@pytest.mark.parametrize("path", ["fast", "generic"])
def test_fp32_matches_pytorch_exactly(fixture, path, request, tmp_path):
    folder = request.getfixturevalue(fixture)
    outcome = _export(folder, tmp_path / "a", quant="fp32", path=path)
    manifest = outcome.manifest
    manifest.check_files(outcome.folder)
    runtime = manifest.runtime
    assert manifest.backend == "onnx" and manifest.model_file == "model.onnx"
    assert runtime.external_data == ("model.onnx.data",)
    assert runtime.engines == (("onnxruntime", "onnxruntime-genai") if path == "fast" else ("onnxruntime",))
    assert ("com.microsoft.GroupQueryAttention" in runtime.op_types) == (path == "fast")

    # A prefill and a decode step through our own loop agree with PyTorch to float rounding.
    model = resolve_source(str(folder)).load_model()
    llm = load_engine(outcome.folder, manifest, "onnxruntime")
    prompt = [5, 17, 42, 7, 99]
    with torch.no_grad():
        expected = model(torch.tensor([prompt + [11]])).logits[0].float()
    assert torch.allclose(llm.step(prompt, 0), expected[len(prompt) - 1], atol=1e-4)
    assert torch.allclose(llm.step([11], len(prompt)), expected[len(prompt)], atol=1e-4)

    for engine in runtime.engines:
        result = verify_artifact(outcome.folder, steps=24, engine=engine)
        assert result["identical_tokens"], (engine, result)
        assert result["mean_kl"] < 1e-6


def test_builder_fp32_gemma3_matches_pytorch_before_and_beyond_the_window(tiny_gemma3, tmp_path):
    """tiny_gemma3 alternates a sliding (window 32) and a full layer over 64 positions: the builder
    gets its per-layer-type RoPE through patches.py and masks the window in GroupQueryAttention."""
    import onnx

    outcome = _export(tiny_gemma3, tmp_path / "a", quant="fp32")
    manifest = outcome.manifest
    assert manifest.export_path.startswith("onnxruntime-genai model builder")
    graph = onnx.load(str(outcome.folder / "model.onnx"), load_external_data=False).graph
    attention = [{a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
                 for n in graph.node if n.op_type == "GroupQueryAttention"]
    assert [a["local_window_size"] for a in attention] == [32, -1]
    # every layer's cache is max_seq_len long (one shared buffer shape for our loop), the window a mask
    assert not any(a.get("sliding_window_cache") for a in attention)

    model = resolve_source(str(tiny_gemma3)).load_model()
    tokens = torch.randint(3, 320, (64,), generator=torch.Generator().manual_seed(1)).tolist()
    with torch.no_grad():
        expected = model(torch.tensor([tokens])).logits[0].float()
    prompt = 20  # then single-token steps from position 20 to 62
    for engine in manifest.runtime.engines:
        llm = load_engine(outcome.folder, manifest, engine)
        logits = [llm.step(tokens[:prompt], 0)] + [llm.step([t], i) for i, t in enumerate(tokens[prompt:63], prompt)]
        error = (torch.stack(logits) - expected[prompt - 1:63]).abs().amax(-1)  # row k: position prompt - 1 + k
        before, beyond = float(error[:32 - prompt + 1].max()), float(error[32 - prompt + 1:].max())
        # a window off by one (31 or 33) or none at all errs by 0.45 to 2.4 there
        assert before < 1e-4 and beyond < 1e-4, (engine, before, beyond)
    # one prefill of all 64 positions masks the window too
    chunk = load_engine(outcome.folder, manifest, "onnxruntime").chunk_logits(tokens)
    assert float((chunk - expected).abs().max()) < 1e-4
    for engine in manifest.runtime.engines:
        result = verify_artifact(outcome.folder, steps=40, engine=engine)  # 12-token prompt: to position 51
        assert result["identical_tokens"], (engine, result)
        assert result["mean_kl"] < 1e-6


def test_builder_fp32_gemma3_scales_the_embedding_as_transformers(tmp_path):
    """Gemma 3 270M is 640 wide: the builder's own factor, sqrt(640) rounded to 25.3, erred by 3e-4."""
    from conftest import save_tiny_model

    folder = save_tiny_model(tmp_path / "wide", "gemma-3-270m", hidden_size=640, initializer_range=0.02)
    outcome = _export(folder, tmp_path / "a", quant="fp32")
    tokens = torch.randint(3, 320, (48,), generator=torch.Generator().manual_seed(2)).tolist()
    with torch.no_grad():
        expected = resolve_source(str(folder)).load_model()(torch.tensor([tokens])).logits[0].float()
    chunk = load_engine(outcome.folder, outcome.manifest, "onnxruntime").chunk_logits(tokens)
    assert float((chunk - expected).abs().max()) < 3e-5


@pytest.mark.parametrize("fixture", ["tiny_llama", "tiny_qwen2", "tiny_gemma3"])
def test_builder_int4_runs_the_same_in_our_loop_and_in_genai(fixture, request, tmp_path):
    """The phone runs plain onnxruntime with our loop: it must choose exactly what genai chooses
    (prompt + steps run past tiny_gemma3's window of 32)."""
    folder = request.getfixturevalue(fixture)
    outcome = _export(folder, tmp_path / "a", quant="int4", block_size=32)
    manifest = outcome.manifest
    assert "com.microsoft.MatMulNBits" in manifest.runtime.op_types
    assert manifest.quantization.group_size == 32 and manifest.quantization.accuracy_level == 4
    prompt = [3, 14, 15, 92, 65, 35]
    ours, ours_logits = load_engine(outcome.folder, manifest, "onnxruntime").greedy(prompt, 40)
    genai, genai_logits = load_engine(outcome.folder, manifest, "onnxruntime-genai").greedy(prompt, 40)
    assert ours == genai
    assert max(float((a - b).abs().max()) for a, b in zip(ours_logits, genai_logits)) < 1e-3
    result = verify_artifact(outcome.folder, steps=24)
    assert 0 < result["mean_kl"] < 0.5


@pytest.mark.parametrize("quant", ["int4", "int8", "fp16"])
def test_generic_path_quantizes_with_onnxruntime(quant, tiny_qwen2, tmp_path):
    fp32 = _export(tiny_qwen2, tmp_path / "fp32", quant="fp32", path="generic").manifest
    outcome = _export(tiny_qwen2, tmp_path / quant, quant=quant, path="generic", block_size=32)
    manifest = outcome.manifest
    ops = manifest.runtime.op_types
    # every linear, the untied LM head included, is quantized: 7 per layer + 1
    if quant == "int4":
        assert ops["com.microsoft.MatMulNBits"] == 2 * 7 + 1
    if quant == "int8":
        assert ops["MatMulInteger"] == 2 * 7 + 1 and "DynamicQuantizeLinear" in ops
    data = manifest.files["model.onnx.data"].bytes
    assert data < {"int4": 0.45, "int8": 0.6, "fp16": 0.6}[quant] * fp32.files["model.onnx.data"].bytes
    # the prediction from the architecture matches what was written within 15%
    assert abs(manifest.predicted_memory.weight_bytes - data) < 0.15 * data
    result = verify_artifact(outcome.folder, steps=16)
    assert 0 <= result["mean_kl"] < 0.5
    assert result["teacher_forced_top1_agreement"] >= 0.5


def test_manifest_describes_the_graph_for_a_device_loop(tiny_llama, tmp_path):
    manifest = _export(tiny_llama, tmp_path / "a", quant="int4").manifest
    io = manifest.runtime.io
    roles = [(entry["role"], entry.get("layer")) for entry in io["inputs"]]
    assert ("input_ids", None) in roles and ("attention_mask", None) in roles
    assert sorted(layer for role, layer in roles if role == "past_key") == [0, 1]
    assert {entry["role"] for entry in io["outputs"]} == {"logits", "present_key", "present_value"}
    assert all(entry["dtype"] in ("int64", "float32") for entry in io["inputs"])
    assert io["kv_cache"]["empty_past_shape"] == (1, 2, 0, 16) and io["kv_cache"]["sequence_axis"] == 2
    assert manifest.runtime.execution_provider == "cpu"
    assert manifest.runtime.opset["ai.onnx"] >= 17
    assert manifest.runtime.genai_config == "genai_config.json"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (dict(quant="8da4w"), "onnx backend cannot build quantization scheme '8da4w'"),
        (dict(quant="int4", block_size=128), "block size 128 does not divide"),
        (dict(quant="int4", block_size=48), "--block-size 48 is not one MatMulNBits supports"),
        (dict(quant="int4", accuracy_level=7), "--accuracy-level 7"),
        (dict(quant="int4", execution_provider="tpu"), "unknown execution provider 'tpu'"),
    ],
)
def test_bad_onnx_options_are_refused_before_exporting(overrides, message, tiny_llama, tmp_path):
    with pytest.raises(SlmEdgeError) as refused:
        _export(tiny_llama, tmp_path / "a", **overrides)
    assert message in refused.value.one_line(cli=True)
    assert not (tmp_path / "a").exists()


def test_onnx_settings_do_not_hold_back_an_executorch_export(tiny_llama):
    """The ONNX section is checked for ONNX exports only."""
    onnx_only = dict(block_size=48, accuracy_level=7, execution_provider="tpu")
    validate(resolve_source(str(tiny_llama)), ExportRequest(quant="fp32", max_seq_len=64, **onnx_only))
    assert ExportConfig.from_settings(backend="executorch", **onnx_only).onnx.block_size == 48
    with pytest.raises(SlmEdgeError, match="block_size 48 is not one MatMulNBits supports"):
        ExportConfig.from_settings(backend="onnx", block_size=48)


def test_an_architecture_no_onnx_path_supports_is_named():
    with pytest.raises(SlmEdgeError, match="no ONNX path supports model type 'vit'.*Llama"):
        choose_path({"model_type": "vit"}, "auto", "onnx")
    # a causal LM the builder does not know goes the generic way, and saying so
    path, reason = choose_path({"model_type": "gpt_neox"}, "auto", "onnx")
    assert path == "generic" and "GPTNeoXForCausalLM" in reason
    with pytest.raises(SlmEdgeError, match="fast ONNX path cannot export"):
        choose_path({"model_type": "gpt_neox"}, "fast", "onnx")
    # Gemma 3 takes the builder (patches.py); its sliding-window layers break the generic path's
    # past + new cache contract, and a builder that would scale the sliding layers' RoPE wrongly is refused
    gemma = dict(resolve_source("gemma-3-270m", random_weights=True).config)
    assert choose_path(gemma, "auto", "onnx")[0] == "fast"
    with pytest.raises(SlmEdgeError, match="no ONNX path can export gemma3_text: the generic .*sliding.*path auto"):
        choose_path(gemma, "generic", "onnx")
    scaled = dict(gemma, rope_scaling={"rope_type": "linear", "factor": 8.0})  # full-attention layers only
    with pytest.raises(SlmEdgeError, match="no ONNX path can export gemma3_text: .*RoPE scaling.*generic.*executorch"):
        choose_path(scaled, "auto", "onnx")


def test_builder_patches_are_for_the_installed_onnxruntime_genai():
    from importlib.metadata import version

    from slm_edge.export.onnx.patches import PATCHED_FOR

    installed = {name: version(name).split("+")[0] for name in PATCHED_FOR}
    assert installed == PATCHED_FOR, ("re-check slm_edge/export/onnx/patches.py against the new version "
                                      "(the upstream functions it names), then update PATCHED_FOR")


def test_cli_exports_and_verifies_onnx(tiny_qwen2, tmp_path):
    out = tmp_path / "artifact"
    exported = run_cli("export", tiny_qwen2, "--backend", "onnx", "--quant", "fp32", "--max-seq-len", "64", "--out", out)
    assert exported.returncode == 0, exported.stderr
    assert "GroupQueryAttention" in exported.stdout and "onnxruntime-genai" in exported.stdout
    verified = run_cli("verify", out, "--engine", "onnxruntime-genai", "--steps", "8")
    assert verified.returncode == 0, verified.stderr
    assert "identical" in verified.stdout and "onnxruntime-genai" in verified.stdout
    refused = run_cli("verify", out, "--engine", "executorch")
    assert refused.returncode == 2 and "cannot run on executorch" in refused.stderr
