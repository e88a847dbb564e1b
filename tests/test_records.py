"""The typed records between the stages (Manifest, RunConfig, Trace): each checked against its JSON
Schema, each round-trips its document exactly, and a bad document is one line."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import synthetic_trace
from slm_edge.errors import BadInput, SlmEdgeError
from slm_edge.records._json import first_error
from slm_edge.records.manifest import Architecture, Manifest
from slm_edge.records.trace import RunConfig, Trace
from conftest import export_tiny

SHA = "0" * 64
COMMON = {
    "schema": "slm-edge/manifest", "schema_version": 1, "created_utc": "2026-12-01T21:58:23+00:00",
    "cache_key": "a" * 64,
    "source": {"name": "tiny", "kind": "local", "origin": "/tmp/tiny", "sha256": "d" * 64, "random_weights": False,
               "seed": None, "trust_remote_code": False, "notes": []},
    "architecture": {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "parameters": 94528, "layers": 2,
                     "hidden_size": 64, "attention_heads": 4, "kv_heads": 2, "head_dim": 16, "ffn_size": 128,
                     "vocab_size": 320, "tied_embeddings": True, "max_position_embeddings": 256},
    "export_path_reason": "why", "max_seq_len": 128, "tokenizer": None,
    "export": {"wall_seconds": 28.59, "stage_seconds": {"torch.export": 2.91}, "slm_edge_version": "0.1.0",
               "slm_edge_code_sha256": "c" * 64},
    "versions": {"python": "3.11.7", "slm_edge": "0.1.0", "torch": "2.13.0", "executorch": "1.5.1", "onnx": None},
}
# The shapes of real exports (a tiny Llama): the fast ExecuTorch path and onnxruntime-genai's builder.
EXECUTORCH = {
    **COMMON, "backend": "executorch", "export_path": "executorch-llm",
    "quantization": {"scheme": "fp32", "description": "fp32 weights and activations, XNNPACK", "group_size": None,
                     "embedding": "none"},
    "model_file": "model.pte",
    "runtime": {"engine": "executorch", "engines": ["executorch"],
                "metadata": {"get_max_seq_len": 128, "use_sdpa_with_kv_cache": True, "get_eos_ids": [2], "get_bos_id": 1},
                "inputs": ["tokens [1, n] int64", "start_pos [1] int64"],
                "outputs": ["logits of the last position [1, vocab] float32"],
                "delegation": {"delegate_calls": 24, "backends": ["XnnpackBackend"], "ops_outside_delegates": []},
                "program": {"format": "executorch-pte", "flatbuffer_identifier": "ET12", "extended_header": True,
                            "exported_with": {"executorch": "1.5.1"}}},
    "predicted_memory": {"weight_bytes": 460032, "kv_cache_bytes": 65536, "kv_cache_at_tokens": 128,
                         "planned_arena_bytes": 309440, "activation_bytes": 243904, "total_bytes": 769472,
                         "method": "weights and KV cache from the architecture and scheme"},
    "files": {"model.pte": {"bytes": 518784, "sha256": SHA}, "etrecord.bin": {"bytes": 698267, "sha256": SHA}},
}
_KV = [{"name": f"past_key_values.0.{kind}", "dtype": "float32", "shape": ["batch_size", 2, "past_sequence_length", 16],
        "role": f"past_{kind}", "layer": 0} for kind in ("key", "value")]
ONNX = {
    **COMMON, "backend": "onnx", "export_path": "onnxruntime-genai model builder (GroupQueryAttention, MatMulNBits)",
    "quantization": {"scheme": "int4", "description": "int4 weights in blocks", "group_size": 32, "embedding": "shared",
                     "accuracy_level": 4},
    "model_file": "model.onnx", "tokenizer": "tokenizer.json",
    "runtime": {"engine": "onnxruntime", "engines": ["onnxruntime", "onnxruntime-genai"], "execution_provider": "cpu",
                "opset": {"ai.onnx": 22, "com.microsoft": 1},
                "program": {"format": "onnx", "ir_version": 10, "opset": {"ai.onnx": 22, "com.microsoft": 1},
                            "exported_with": {"onnx": "1.23.0", "onnxruntime": "1.32.0"}},
                "op_types": {"com.microsoft.GroupQueryAttention": 2, "com.microsoft.MatMulNBits": 15},
                "external_data": ["model.onnx.data"], "genai_config": "genai_config.json",
                "io": {"inputs": [{"name": "input_ids", "dtype": "int64", "shape": ["batch_size", "sequence_length"],
                                   "role": "input_ids"}, *_KV],
                       "outputs": [{"name": "logits", "dtype": "float32", "shape": ["batch_size", "sequence_length", 320],
                                    "role": "logits"}],
                       "kv_cache": {"layers": 2, "empty_past_shape": [1, 2, 0, 16],
                                    "share_buffer": {"shape": [1, 2, 128, 16], "how": "bind present to past"}},
                       "position_ids": None}},
    "predicted_memory": {"weight_bytes": 84190464, "kv_cache_bytes": 47185920, "kv_cache_at_tokens": 1024,
                         "planned_arena_bytes": None, "activation_bytes": None, "total_bytes": 131376384,
                         "method": "weights and KV cache",
                         "onnxruntime": {"weight_bytes": 1, "logits_bytes_per_token": 1, "layer_bytes_per_token": 1,
                                         "attention_bytes_per_token": 1, "attention_bytes_per_token_squared": None,
                                         "kv_bytes_per_token": 1, "kv_buffer": "shared max-length", "max_seq_len": 128,
                                         "runtime_bytes": 1}},
    "files": {"model.onnx": {"bytes": 1000, "sha256": SHA}, "model.onnx.data": {"bytes": 10, "sha256": SHA}},
}
RUN_CONFIG = {
    "schema": "slm-edge/run-config", "schema_version": 1,
    "artifact": {"dir": "../artifacts/tiny", "model_file": "model.onnx", "engine": "onnxruntime", "manifest_sha256": SHA,
                 "max_seq_len": 128, "vocab_size": 320, "bos_id": None, "tokenizer_file": None},
    "mode": "steps", "prompt_lengths": [8, 16], "decode_tokens": 4, "repeats": 2, "warmup": 1, "threads": [1],
    "sample_interval_ms": 5.0, "memory_sampling": True, "ops": False, "seed": 0, "trace_file": "trace.json",
}


@pytest.mark.parametrize("document", [EXECUTORCH, ONNX], ids=["executorch", "onnx"])
def test_manifest_round_trips_and_is_typed(document):
    manifest = Manifest.from_json(copy.deepcopy(document))
    assert manifest.to_json() == document and list(manifest.to_json()) == list(document)
    assert json.dumps(manifest.to_json()) == json.dumps(document)  # the order of the keys too
    assert manifest.architecture.kv_heads == 2 and manifest.files[document["model_file"]].bytes > 0
    assert manifest.engines == tuple(document["runtime"]["engines"])
    assert manifest.runtime.program.format in ("executorch-pte", "onnx")
    with pytest.raises(dataclasses.FrozenInstanceError):
        manifest.max_seq_len = 1
    with pytest.raises(TypeError):
        manifest.runtime.program.exported_with["onnx"] = "9"  # nested parts are read-only


def test_manifest_keeps_keys_it_does_not_know_and_leaves_out_absent_ones():
    newer = {**EXECUTORCH, "added_later": {"x": [1, 2]}, "runtime": {**EXECUTORCH["runtime"], "extra_fact": 3}}
    assert Manifest.from_json(newer).to_json() == newer
    older = {**EXECUTORCH, "runtime": {"engine": "executorch"}}  # before engines and program facts
    manifest = Manifest.from_json(older)
    assert manifest.engines == ("executorch",) and manifest.runtime.program is None
    assert manifest.to_json() == older


@pytest.mark.parametrize("key", ["runtime", "model_file", "files", "architecture", "max_seq_len"])
def test_manifest_schema_rejects_a_missing_required_key(key):
    broken = {k: v for k, v in EXECUTORCH.items() if k != key}
    assert first_error(broken, "manifest") is not None
    with pytest.raises(BadInput) as raised:
        Manifest.from_json(broken)
    line = raised.value.one_line()
    assert "\n" not in line and "is not an slm-edge manifest" in line and key in line


def test_onnx_manifest_without_the_graph_description_is_refused():
    runtime = {k: v for k, v in ONNX["runtime"].items() if k != "io"}
    with pytest.raises(SlmEdgeError, match="'io' is a required property"):
        Manifest.from_json({**ONNX, "runtime": runtime})


def test_manifest_read_gives_one_line_errors(tmp_path):
    with pytest.raises(SlmEdgeError, match="artifact folder not found"):
        Manifest.read(tmp_path / "nowhere")
    with pytest.raises(SlmEdgeError, match="not an slm-edge artifact"):
        Manifest.read(tmp_path)
    (tmp_path / "manifest.json").write_text("{")
    with pytest.raises(SlmEdgeError, match="not valid JSON"):
        Manifest.read(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({**EXECUTORCH, "schema_version": 99}))
    with pytest.raises(SlmEdgeError, match="newer than this slm-edge reads"):
        Manifest.read(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({**EXECUTORCH, "max_seq_len": "long"}))
    with pytest.raises(BadInput) as raised:
        Manifest.read(tmp_path)
    assert "\n" not in str(raised.value) and "max_seq_len" in str(raised.value)


def test_architecture_from_an_hf_config_and_back():
    config = {"model_type": "llama", "num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 4,
              "num_key_value_heads": 2, "intermediate_size": 128, "vocab_size": 320, "tie_word_embeddings": True}
    facts = Architecture.from_hf_config(config, 10)
    assert facts.head_dim == 16 and facts.kv_heads == 2 and facts.parameters == 10
    assert Architecture.from_hf_config(facts.hf_config(), 10) == dataclasses.replace(
        facts, model_type=None, architectures=None, max_position_embeddings=None)


def test_run_config_round_trips_and_reads_defaults():
    config = RunConfig.from_json(copy.deepcopy(RUN_CONFIG))
    assert config.to_json() == RUN_CONFIG and config.artifact.engine == "onnxruntime"
    assert config.longest_sequence == 20 and config.threads == (1,)
    minimal = {k: v for k, v in RUN_CONFIG.items() if k not in ("mode", "sample_interval_ms", "seed", "trace_file")}
    config = RunConfig.from_json(minimal)
    assert (config.mode, config.sample_interval_ms, config.seed, config.trace_file) == ("steps", 50.0, 0, "trace.json")
    assert config.to_json() == minimal  # the defaults are not written into a document that left them out
    with pytest.raises(SlmEdgeError, match="malformed at artifact"):
        RunConfig.from_json({**RUN_CONFIG, "artifact": {"dir": "x"}})


def test_trace_round_trips_with_host_facts():
    document = synthetic_trace("tiny", 1000, "onnx", "int4", decode_tok_s={1: 50.0, 2: 80.0}, prefill_ms=20,
                               peak_mib=10, quality=0.9)
    trace = Trace.from_json(copy.deepcopy(document))
    assert trace.to_json() == document
    assert trace.artifact.engine == "onnx" and trace.device.cores == 2 and trace.producer.name == "test"
    assert trace.host is not None and trace.artifact_facts.scheme == "int4"
    assert trace.artifact_facts.verify["greedy_agreement"] == 0.9 and trace.artifact_facts.predicted_memory["total_bytes"]
    assert len(trace.measured_runs) == 2
    del document["host"]
    assert Trace.from_json(document).artifact_facts is None and "host" not in Trace.from_json(document).to_json()


def test_trace_errors_are_one_line(tmp_path):
    with pytest.raises(SlmEdgeError, match="not found"):
        Trace.load(tmp_path / "trace.json")
    (tmp_path / "trace.json").write_text(json.dumps({"schema": "slm-edge/trace", "schema_version": 1}))
    with pytest.raises(SlmEdgeError, match="malformed") as raised:
        Trace.load(tmp_path / "trace.json")
    assert "\n" not in raised.value.one_line()


@pytest.fixture(scope="module")
def onnx_export(tiny_llama, tmp_path_factory) -> Path:

    out = tmp_path_factory.mktemp("records") / "artifacts" / "tiny"
    export_tiny(tiny_llama, out, backend="onnx", quant="fp32", max_seq_len=64)
    return out


def test_a_real_export_and_run_round_trip(onnx_export):
    """What the exporter writes passes the schema; the Linux runner reads it and its config and writes a
    trace the Trace record reads back exactly."""
    manifest = Manifest.read(onnx_export)
    document = json.loads((onnx_export / "manifest.json").read_text())
    assert manifest.to_json() == document and manifest.backend == "onnx" and manifest.runtime.io is not None
    manifest.check_files(onnx_export)
    config = copy.deepcopy(RUN_CONFIG)
    config["artifact"].update(dir="../tiny", manifest_sha256=hashlib.sha256((onnx_export / "manifest.json").read_bytes()).hexdigest(),
                              max_seq_len=64, vocab_size=manifest.architecture.vocab_size)
    path = onnx_export.parent / "run" / "run_config.json"
    path.parent.mkdir()
    path.write_text(json.dumps(config))
    done = subprocess.run([sys.executable, "-m", "slm_edge.runner", str(path)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    trace = Trace.load(path.parent / "trace.json")
    assert trace.status == "complete" and trace.run_config.to_json() == config
    assert trace.to_json() == json.loads((path.parent / "trace.json").read_text())
    assert len(trace.measured_runs) == 2 * 2 and trace.artifact.engine == "onnxruntime"
