"""Real exports of tiny real-architecture models, run by the ExecuTorch runtime, checked against PyTorch."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from slm_edge import cache
from slm_edge.export import ExportRequest, export_model
from slm_edge.records.manifest import Manifest
from slm_edge.progress import StageTimer
from slm_edge.runtime.executorch_llm import EtLlm
from slm_edge.model.sources import resolve_source
from slm_edge.quality.verify import verify_artifact


def _export(folder, tmp_path, **request):
    source = resolve_source(str(folder))
    request = ExportRequest(**{"max_seq_len": 64, **request})
    return export_model(source, request, tmp_path / "artifact", timer=StageTimer(quiet=True))


@pytest.mark.parametrize("fixture", ["tiny_llama", "tiny_qwen2", "tiny_llama32"])
def test_fast_path_fp32_matches_pytorch_exactly(fixture, request, tmp_path):
    folder = request.getfixturevalue(fixture)
    outcome = _export(folder, tmp_path, quant="fp32", embedding_quant="none")
    manifest = outcome.manifest
    assert manifest.export_path == "executorch-llm"
    assert manifest.runtime.delegation["backends"] == ("XnnpackBackend",)
    assert "llama::custom_sdpa" in manifest.runtime.delegation["ops_outside_delegates"]
    manifest.check_files(outcome.folder)

    # Logits of a prefill and of a decode step agree with the PyTorch model to float rounding.
    source = resolve_source(str(folder))
    model = source.load_model()
    llm = EtLlm(outcome.folder / "model.pte")
    prompt = [5, 17, 42, 7, 99]
    with torch.no_grad():
        expected = model(torch.tensor([prompt + [11]])).logits[0].float()
    assert torch.allclose(llm.step(prompt, 0), expected[len(prompt) - 1], atol=1e-4)
    assert torch.allclose(llm.step([11], len(prompt)), expected[len(prompt)], atol=1e-4)

    result = verify_artifact(outcome.folder, steps=32)
    assert result["identical_tokens"], result
    assert result["greedy_agreement"] == 1.0
    assert result["mean_kl"] < 1e-6


# tiny_llama at 256 positions is the artifact tests/test_profile.py profiles, tiny_qwen2 at 64 the one
# test_manifest_records_what_was_built reads: the session's artifact cache builds each once
@pytest.mark.parametrize(("fixture", "max_seq_len"), [("tiny_llama", 256), ("tiny_qwen2", 64)])
def test_fast_path_8da4w_is_quantized_and_close(fixture, max_seq_len, request, tmp_path):
    folder = request.getfixturevalue(fixture)
    fp32_bytes = _export(folder, tmp_path / "fp32", quant="fp32", embedding_quant="none").manifest.files["model.pte"].bytes
    outcome = _export(folder, tmp_path / "q", quant="8da4w", group_size=32, embedding_quant="8w", max_seq_len=max_seq_len)
    manifest = outcome.manifest
    assert manifest.quantization.to_json() == {
        "scheme": "8da4w",
        "description": manifest.quantization.description,
        "group_size": 32,
        "embedding": "8w",
    }
    # int4 linears and int8 embedding: well under half the fp32 artifact.
    assert manifest.files["model.pte"].bytes < 0.5 * fp32_bytes
    result = verify_artifact(outcome.folder, steps=32)
    assert 0 < result["mean_kl"] < 0.5
    assert result["teacher_forced_top1_agreement"] >= 0.5


def test_fast_path_for_gemma3_matches_pytorch_across_the_window(tiny_gemma3, tmp_path):
    # tiny_gemma3 alternates sliding (window 32) and full layers; at 96 positions a sliding layer must stop
    # seeing the oldest keys and a full layer keep them, for a prompt within the window and for one whose
    # single forward crosses it (each of its queries gets its own window)
    outcome = _export(tiny_gemma3, tmp_path, quant="fp32", embedding_quant="none", max_seq_len=96)
    manifest = outcome.manifest
    assert manifest.export_path == "executorch-llm"
    assert "sliding-window and full attention" in manifest.export_path_reason
    outside = manifest.runtime.delegation["ops_outside_delegates"]
    assert {"llama::custom_sdpa", "llama::update_cache"} <= set(outside)

    model = resolve_source(str(tiny_gemma3)).load_model()
    llm = EtLlm(outcome.folder / "model.pte")
    tokens = torch.randint(0, 320, (95,), generator=torch.Generator().manual_seed(1)).tolist()
    with torch.no_grad():
        expected = model(torch.tensor([tokens])).logits[0].float()
    for prompt in (20, 45):
        got = [llm.step(tokens[:prompt], 0)] + [llm.step([t], prompt + i) for i, t in enumerate(tokens[prompt:])]
        # XNNPACK's fp32 kernels put ~7e-4 on every position of this model alike (the eager decoder matches
        # transformers to 2e-6); a sliding layer that sees keys beyond its window is off by 0.3 or more
        assert (torch.stack(got) - expected[prompt - 1:]).abs().max() < 2e-3, prompt
    result = verify_artifact(outcome.folder, steps=16)
    assert result["identical_tokens"], result


def test_gemma3_window_layers_keep_a_ring_and_long_prompts_go_in_chunks(tiny_gemma3, tmp_path):
    # chunk 8 with window 32: each sliding layer keeps 39 slots instead of 96, so at 95 positions every
    # slot has been rewritten twice; a prompt longer than the chunk is fed in pieces (EtLlm, as
    # executorch's runner does); both must give transformers' logits before and after the ring wraps
    outcome = _export(tiny_gemma3, tmp_path, quant="fp32", embedding_quant="none", max_seq_len=96, prefill_chunk=8)
    manifest = outcome.manifest
    assert manifest.runtime.kv_cache == {"sliding_window_slots": 39, "max_chunk": 8}
    assert manifest.runtime.metadata["get_max_seq_len"] == 8 and manifest.runtime.metadata["get_max_context_len"] == 96
    assert "llama::update_cache_with_indices" in manifest.runtime.delegation["ops_outside_delegates"]
    # the KV cache prediction counts 39 slots for the sliding layer and 96 for the full one
    per_slot = 2 * manifest.architecture.kv_heads * manifest.architecture.head_dim * 4
    assert manifest.predicted_memory.kv_cache_bytes == per_slot * (39 + 96)
    assert manifest.predicted_memory.kv_cache_sliding_window_slots == 39

    model = resolve_source(str(tiny_gemma3)).load_model()
    llm = EtLlm(outcome.folder / "model.pte")
    assert llm.max_chunk == 8 and llm.max_seq_len == 96
    tokens = torch.randint(0, 320, (95,), generator=torch.Generator().manual_seed(2)).tolist()
    with torch.no_grad():
        expected = model(torch.tensor([tokens])).logits[0].float()
    for prompt in (5, 45):  # within one chunk; six chunks crossing the window and the ring's end
        got = [llm.step(tokens[:prompt], 0)] + [llm.step([t], prompt + i) for i, t in enumerate(tokens[prompt:])]
        assert (torch.stack(got) - expected[prompt - 1:]).abs().max() < 2e-3, prompt
    result = verify_artifact(outcome.folder, steps=16)
    assert result["identical_tokens"], result
    # profile --ops on it: a 20-token prompt is 3 forwards, the traced prefill all three and nothing else
    from slm_edge.device.local import LocalDevice
    from slm_edge.workflows.profile import ProfileOptions, profile_artifact

    options = ProfileOptions(prompt_lengths=[20], decode_tokens=6, repeats=1, warmup=0, threads=[1], ops=True)
    trace = profile_artifact(outcome.folder, LocalDevice(root=tmp_path / "device"), options, tmp_path / "run").trace
    profiled = trace.op_profiles[0]
    assert profiled["warmup_executions"] == 3 + 2  # the warm-up prefill's 3 forwards and 2 decode steps
    assert profiled["phases"]["prefill"]["steps"] == 1
    assert profiled["phases"]["decode"]["steps"] == len(profiled["decode_step_us_traced"]) == 6


def test_fast_path_quantizes_gemma3_with_int8_embedding(tiny_gemma3, tmp_path):
    outcome = _export(tiny_gemma3, tmp_path, quant="8da4w", group_size=32, embedding_quant="8w")
    manifest = outcome.manifest
    assert manifest.export_path == "executorch-llm"
    assert "quantized_decomposed::embedding_byte" in manifest.runtime.delegation["ops_outside_delegates"]
    assert manifest.files["model.pte"].bytes < 0.5 * 4 * manifest.architecture.parameters
    result = verify_artifact(outcome.folder, steps=16)
    assert 0 < result["mean_kl"] < 0.5
    assert result["teacher_forced_top1_agreement"] >= 0.5


def test_generic_path_for_gemma3_matches_pytorch(tiny_gemma3, tmp_path):
    outcome = _export(tiny_gemma3, tmp_path, quant="fp32", embedding_quant="none", path="generic")
    manifest = outcome.manifest
    assert manifest.export_path == "transformers-static-cache"
    assert manifest.export_path_reason == "requested with --path generic"
    result = verify_artifact(outcome.folder, steps=16)
    assert result["identical_tokens"], result


def test_generic_path_quantizes_gemma3_with_int8_embedding(tiny_gemma3, tmp_path):
    # Gemma's embedding has a padding index, which kept ExecuTorch from fusing the int8 table into
    # embedding_byte: the export failed with no kernel for torchao's dequantize (the card's recipe).
    outcome = _export(tiny_gemma3, tmp_path, quant="8da4w", group_size=32, embedding_quant="8w", path="generic")
    manifest = outcome.manifest
    assert manifest.export_path == "transformers-static-cache"
    assert manifest.quantization.embedding == "8w"
    assert "quantized_decomposed::embedding_byte" in manifest.runtime.delegation["ops_outside_delegates"]
    assert manifest.files["model.pte"].bytes < 0.5 * 4 * manifest.architecture.parameters
    result = verify_artifact(outcome.folder, steps=16)
    assert 0 < result["mean_kl"] < 0.5
    assert result["teacher_forced_top1_agreement"] >= 0.5


def test_generic_path_on_request_for_llama(tiny_llama, tmp_path):
    outcome = _export(tiny_llama, tmp_path, quant="fp32", embedding_quant="none", path="generic")
    assert outcome.manifest.export_path == "transformers-static-cache"
    # the LM head runs for the last position only: a prefill returns one row, not one per token
    llm = EtLlm(outcome.folder / "model.pte")
    prefill = llm.forward.execute([torch.tensor([[5, 17, 42, 7, 99]]), torch.arange(5)])[0]
    assert tuple(prefill.shape) == (1, 1, outcome.manifest.architecture.vocab_size)
    result = verify_artifact(outcome.folder, steps=16)
    assert result["identical_tokens"], result


def test_same_inputs_are_not_exported_twice(tiny_llama, tmp_path):
    first = _export(tiny_llama, tmp_path / "a", quant="fp32", embedding_quant="none")
    second = _export(tiny_llama, tmp_path / "b", quant="fp32", embedding_quant="none")
    assert second.from_cache
    assert second.manifest.cache_key == first.manifest.cache_key
    assert (tmp_path / "b" / "artifact" / "model.pte").read_bytes() == (tmp_path / "a" / "artifact" / "model.pte").read_bytes()
    forced = export_model(resolve_source(str(tiny_llama)), ExportRequest(max_seq_len=64, quant="fp32", embedding_quant="none"),
                          tmp_path / "c", force=True, timer=StageTimer(quiet=True))
    assert not forced.from_cache


def test_cache_key_follows_the_code_that_builds_artifacts(tmp_path):
    # a copy of the package: an edit to an exporter splits the cache, an edit to the CLI does not
    package = tmp_path / "slm_edge"
    shutil.copytree(Path(cache.__file__).parent, package, ignore=shutil.ignore_patterns("__pycache__"))
    before = cache.artifact_code_hash(package)
    assert before == cache.artifact_code_hash()
    (package / "cli" / "__init__.py").write_text((package / "cli" / "__init__.py").read_text() + "\n# unrelated\n")
    assert cache.artifact_code_hash(package) == before
    exporter = package / "export" / "executorch" / "generic.py"
    exporter.write_text(exporter.read_text() + "\n# changed\n")
    assert cache.artifact_code_hash(package) != before


def test_manifest_records_what_was_built(tiny_qwen2, tmp_path):
    outcome = _export(tiny_qwen2, tmp_path, quant="8da4w", group_size=32, embedding_quant="8w")
    m = Manifest.read(outcome.folder)
    arch = m.architecture
    assert (arch.layers, arch.hidden_size, arch.attention_heads, arch.kv_heads, arch.ffn_size, arch.vocab_size) == (2, 64, 4, 2, 128, 320)
    assert arch.parameters == sum(p.numel() for p in resolve_source(str(tiny_qwen2)).load_model().parameters())
    assert m.source.kind == "local" and len(m.source.sha256) == 64
    assert m.max_seq_len == 64
    meta = m.runtime.metadata
    assert meta["get_max_seq_len"] == 64 and meta["use_kv_cache"] and meta["get_vocab_size"] == 320
    memory = m.predicted_memory
    # K and V, 2 layers, 2 KV heads of 16, 64 positions, fp32
    assert memory.kv_cache_bytes == 2 * 2 * 2 * 16 * 64 * 4
    assert memory.planned_arena_bytes >= memory.kv_cache_bytes
    assert m.versions["executorch"] and m.versions["torch"].startswith("2.13")
    assert m.export.wall_seconds > 0
    assert m.export.peak_rss_scope == "export" and m.export.peak_rss_bytes > 0
    # The constant methods baked into the .pte are what the manifest says.
    llm = EtLlm(outcome.folder / "model.pte")
    assert llm.metadata["get_max_seq_len"] == 64
    assert llm.metadata["use_sdpa_with_kv_cache"] is True


def test_export_peak_memory_covers_only_what_came_after_the_reset():
    import subprocess
    import sys

    # in a fresh process: a 400 MiB block raises the peak; after the reset the peak is far below it
    code = ("from slm_edge.progress import read_status_memory, reset_peak_rss\n"
            "block = bytearray(400 * 2**20); before = read_status_memory()[1]; del block\n"
            "print(reset_peak_rss(), before, read_status_memory()[1])")
    reset, before, after = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                          check=True).stdout.split()
    assert reset == "True" and int(before) - int(after) > 300 * 2**20


def test_runtime_patches_are_for_the_installed_libraries():
    from importlib.metadata import version

    from slm_edge.export.executorch.patches import PATCHED_FOR

    installed = {name: version(name).split("+")[0] for name in PATCHED_FOR}
    assert installed == PATCHED_FOR, ("re-check slm_edge/export/executorch/patches.py against the new versions "
                                      "(the upstream lines it names), then update PATCHED_FOR")


def test_a_decomposition_that_changes_nothing_is_skipped_and_one_that_does_runs():
    """Dynamic shapes put aten.sym_size.int in the graph; a table whose only match is it is skipped."""
    from slm_edge.export.executorch.patches import skip_decompositions_that_match_nothing

    class Net(torch.nn.Module):
        def forward(self, x):
            return torch.nn.functional.gelu(x).reshape(x.shape[0] * 3)

    batch = torch.export.Dim("batch", min=2, max=8)
    program = torch.export.export(Net(), (torch.randn(2, 3),), dynamic_shapes=({0: batch},)).run_decompositions({})
    targets = {node.target for node in program.graph.nodes if node.op == "call_function"}
    sym_size, gelu = torch.ops.aten.sym_size.int, torch.ops.aten.gelu.default
    assert sym_size in targets and gelu in targets
    from torch._decomp import decomposition_table

    with skip_decompositions_that_match_nothing() as counts:
        assert program.run_decompositions({sym_size: decomposition_table.get(sym_size, lambda *a: None),
                                           torch.ops.aten.hardswish.default: lambda x: x}) is program
        decomposed = program.run_decompositions({gelu: decomposition_table[gelu]})
    assert counts == {"ran": 1, "skipped": 1}
    targets = {node.target for node in decomposed.graph.nodes if node.op == "call_function"}
    assert gelu not in targets and torch.ops.aten.erf.default in targets
    assert program.run_decompositions({gelu: decomposition_table[gelu]}) is not program  # unpatched outside


def test_stable_sort_in_place_moves_only_what_is_out_of_order():
    from slm_edge.export.executorch.patches import stable_sort_in_place

    graph = torch.fx.Graph()
    x = graph.placeholder("x")
    a = graph.call_function(torch.neg, (x,))
    b = graph.call_function(torch.relu, (x,))
    c = graph.call_function(torch.add, (a, b))
    graph.output(c)
    a.append(c)  # c now stands before b, one of its inputs: x, a, c, b, output
    assert [n.name for n in graph.nodes] == ["x", "neg", "add", "relu", "output"]
    assert stable_sort_in_place(graph) == 1
    assert [n.name for n in graph.nodes] == ["x", "neg", "relu", "add", "output"]
    graph.lint()  # raises on a node used before it is defined
    assert stable_sort_in_place(graph) == 0


def test_faster_lowering_gives_the_same_program(tiny_llama, tmp_path, monkeypatch):
    """The lowering patches (patches.faster_lowering) against executorch's own lowering (only the
    decomposition skip, byte-identical by its own test): same delegation, same logits to the bit."""
    import slm_edge.export.executorch.lower as lower
    from slm_edge.export.executorch import patches

    def export(folder):  # force: the artifact cache must not hand back the other lowering's program
        request = ExportRequest(max_seq_len=64, quant="8da4w", group_size=32, embedding_quant="8w")
        return export_model(resolve_source(str(tiny_llama)), request, folder, force=True, timer=StageTimer(quiet=True))

    counts: dict = {}
    monkeypatch.setattr(lower, "faster_lowering", lambda: patches.faster_lowering(counts))
    fast = export(tmp_path / "fast")
    monkeypatch.setattr(lower, "faster_lowering", patches.skip_decompositions_that_match_nothing)
    plain = export(tmp_path / "plain")
    assert counts["retraces_skipped"] > 0 and counts["passes_skipped"] > 0 and counts["rewrites_fused"] == 3
    assert fast.manifest.runtime.delegation == plain.manifest.runtime.delegation
    tokens = [5, 17, 42, 7, 99, 3]
    runs = [EtLlm(outcome.folder / "model.pte") for outcome in (fast, plain)]
    for llm in runs:
        llm.logits = [llm.step(tokens, 0)] + [llm.step([t], len(tokens) + i) for i, t in enumerate((11, 12, 13))]
    assert all(torch.equal(x, y) for x, y in zip(runs[0].logits, runs[1].logits))
