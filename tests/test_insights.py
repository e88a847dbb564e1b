"""Memory breakdown (predicted vs measured) in the reports and `slm-edge recommend`, on run folders
with known figures; per-op latency breakdowns (`profile --ops`) on real runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from slm_edge.model.memory import predict_run_memory

from slm_edge.errors import SlmEdgeError
from slm_edge.analysis.recommend import parse_size, recommend

from helpers import MIB, run_cli, synthetic_trace, write_run
from conftest import export_tiny


# tiny-qwen2's fp32 and int4 ONNX cells as `profile --prompt-lengths 8,24 --decode-tokens 8
# --repeats 2 --warmup 1 --threads 2` leaves them; only the int4 one verified
PREDICTED_INT4 = {"weight_bytes": 2 * MIB, "kv_cache_bytes": 16384, "activation_bytes": None, "total_bytes": 2 * MIB + 16384,
                  "onnxruntime": {"weight_bytes": 3 * MIB, "logits_bytes_per_token": 1280, "layer_bytes_per_token": 2048,
                                  "attention_bytes_per_token": 1024, "attention_bytes_per_token_squared": None,
                                  "kv_bytes_per_token": 512, "kv_buffer": "shared max-length", "max_seq_len": 64,
                                  "runtime_bytes": 28 * MIB}}
CELLS = {"fp32": dict(decode_tok_s={2: 40.0}, prefill_ms=50, load_mib=40, peak_mib=60, quality=None),
         "int4": dict(decode_tok_s={2: 90.0}, prefill_ms=30, load_mib=20, peak_mib=30, quality=0.95,
                      predicted_memory=PREDICTED_INT4)}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """Two profile run folders from synthetic traces (what is under test is the analysis, report and
    recommend code; test_memory_prediction and test_sweep check those figures on real runs)."""
    base = tmp_path_factory.mktemp("insights")
    return {quant: write_run(base / f"run-{quant}", synthetic_trace(
                "tiny-qwen2", 1_000_000, "onnx", quant, engine="onnxruntime", prompt_lengths=(8, 24), decode_steps=8,
                repeats=2, warmup=1, **cell)) for quant, cell in CELLS.items()}


def test_report_shows_predicted_beside_measured_memory(runs):
    report = json.loads((runs["int4"] / "report.json").read_text())
    breakdown = report["memory_breakdown"]
    expected = predict_run_memory(PREDICTED_INT4, engine="onnxruntime", prompt_lengths=[8, 24], decode_tokens=8)
    assert breakdown["predicted"]["total_bytes"] == expected["total_bytes"]
    # by hand: weights + the KV buffer's 64 positions (resident in full) + both prompts' logits and the
    # longest prompt's layer and attention intermediates + runtime
    assert expected["total_bytes"] == 3 * MIB + 512 * 64 + 1280 * (8 + 24) + 2048 * 24 + 1024 * 24 + 28 * MIB
    measured = breakdown["measured"]
    assert 0 < measured["after_load_bytes"] <= measured["peak_bytes"]
    assert (measured["after_load_bytes"], measured["peak_bytes"]) == (20 * MIB, 30 * MIB)
    assert breakdown["prediction_error"] == pytest.approx(
        (breakdown["predicted"]["total_bytes"] - measured["peak_bytes"]) / measured["peak_bytes"])
    assert "Memory, predicted from the artifact and the run config" in (runs["int4"] / "report.md").read_text()


def test_recommend_ranks_and_explains(runs):
    everything, rejected = recommend(list(runs.values()))
    assert not rejected and len(everything) == 2
    assert everything[0].decode_tok_s >= everything[1].decode_tok_s
    assert [(c.scheme, c.threads, c.decode_tok_s, c.peak_memory_bytes) for c in everything] == [
        ("int4", 2, pytest.approx(90.0), 30 * MIB), ("fp32", 2, pytest.approx(40.0), 60 * MIB)]
    assert {c.prompt_length for c in everything} == {24}  # judged at the longest profiled length
    assert {c.scheme for c in everything} == {"fp32", "int4"}

    smallest = min(c.peak_memory_bytes for c in everything)
    fits, fails = recommend(list(runs.values()), max_memory=smallest - 1)
    assert not fits and all("exceeds" in c.reasons[0] for c in fails)

    fastest = max(c.decode_tok_s for c in everything)
    fits, fails = recommend(list(runs.values()), min_decode_tps=fastest + 1)
    assert not fits and all("below" in c.reasons[0] for c in fails)

    fits, fails = recommend(list(runs.values()), min_agreement=0.0)
    assert [c.scheme for c in fits] == ["int4"] and fits[0].greedy_agreement is not None
    assert [c.scheme for c in fails] == ["fp32"] and "run `slm-edge verify`" in fails[0].reasons[0]

    fits, _ = recommend(list(runs.values()), prompt_length=8)
    assert {c.prompt_length for c in fits} == {8}
    with pytest.raises(SlmEdgeError, match="no measured run at prompt length 99"):
        recommend(list(runs.values()), prompt_length=99)


def test_recommend_cli(runs, tmp_path):
    verdicts = tmp_path / "verdicts.json"
    result = run_cli("recommend", *runs.values(), "--max-memory", "4GB", "--min-decode-tps", "1", "--json", verdicts)
    assert result.returncode == 0, result.stderr
    assert "fits" in result.stdout
    assert len(json.loads(verdicts.read_text())["fits"]) == 2
    bad = run_cli("recommend", *runs.values(), "--max-memory", "lots")
    assert bad.returncode == 2 and "cannot read the size 'lots'" in bad.stderr
    not_a_run = run_cli("recommend", tmp_path)
    assert not_a_run.returncode == 2 and "not a profile run folder" in not_a_run.stderr


@pytest.mark.parametrize(("text", "expected"), [("1.5GB", 1_500_000_000), ("800MiB", 800 * 2**20), ("512M", 512_000_000),
                                                ("2048", 2048), ("1 gib", 2**30)])
def test_sizes_parse(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("path", ["fast", "generic"])
def test_ops_break_latency_down_by_category(path, tiny_llama, tmp_path):
    artifact = tmp_path / "artifact"
    export_tiny(tiny_llama, artifact, backend="onnx", quant="int4", path=path, max_seq_len=64)
    run = tmp_path / "run"
    result = run_cli("profile", artifact, "--emulated", "--ops", "--prompt-lengths", "16", "--decode-tokens", "6",
                     "--repeats", "2", "--threads", "2", "--out", run)
    assert result.returncode == 0, result.stderr
    ops = json.loads((run / "report.json").read_text())["op_breakdown"][0]
    assert ops["prompt_length"] == 16 and ops["tracing_overhead"] is not None
    prefill, decode = ops["phases"]["prefill"], ops["phases"]["decode"]
    assert decode["steps"] == 6
    for phase in (prefill, decode):
        assert sum(c["share"] for c in phase["categories"].values()) == pytest.approx(1.0)
        # the quantized linears keep their module path (carried over by the export), so they land in
        # attention / FFN / LM head rather than "other"
        for name in ("attention", "ffn", "lm_head", "norm"):
            assert phase["categories"][name]["us"] > 0, (name, phase)
    assert "Latency by op category" in (run / "report.md").read_text()
    assert 'id="latency_by_op_category"' in (run / "report.html").read_text()


def test_ops_is_refused_where_it_is_not_built(tiny_qwen2_onnx_int4, tmp_path):
    refused = run_cli("profile", tiny_qwen2_onnx_int4, "--emulated", "--ops", "--engine", "onnxruntime-genai", "--out", tmp_path / "r")
    assert refused.returncode == 2 and "--ops is built for the onnxruntime and executorch engines" in refused.stderr


@pytest.fixture(scope="module")
def et_artifact(tiny_llama_pte) -> Path:
    """A tiny fp32 ExecuTorch artifact (fast path: custom SDPA and KV-cache ops beside XNNPACK blocks):
    the session's shared one."""
    return tiny_llama_pte


def test_executorch_ops_from_etdump_and_etrecord(et_artifact, tmp_path):
    manifest = json.loads((et_artifact / "manifest.json").read_text())
    assert manifest["files"]["etrecord.bin"]["bytes"] < manifest["files"]["model.pte"]["bytes"] * 4  # no weights in it
    run = tmp_path / "run"
    result = run_cli("profile", et_artifact, "--emulated", "--ops", "--prompt-lengths", "16", "--decode-tokens", "6",
                     "--repeats", "2", "--threads", "2", "--out", run)
    assert result.returncode == 0, result.stderr
    ops = json.loads((run / "report.json").read_text())["op_breakdown"][0]
    assert ops["engine"] == "executorch" and ops["prompt_length"] == 16 and ops["tracing_overhead"] is not None
    assert len(ops["decode_step_us_traced"]) == 6 and ops["warmup_executions"] >= 1
    prefill, decode = ops["phases"]["prefill"], ops["phases"]["decode"]
    assert prefill["steps"] == 1 and decode["steps"] == 6
    for phase in (prefill, decode):
        categories = phase["categories"]
        assert sum(c["share"] for c in categories.values()) == pytest.approx(1.0)
        assert phase["kernel_us"] == pytest.approx(sum(c["us"] for c in categories.values()))
        assert phase["method_us"] >= phase["kernel_us"]  # Method::execute holds every op call
        # every layer kind ran and was placed by its module path (ETRecord), not left in "other"
        for name in ("embedding", "attention", "ffn", "norm", "lm_head"):
            assert categories[name]["us"] > 0, (name, phase)
        assert categories["other"]["share"] < 0.5
        # the linears run in XNNPACK; custom SDPA / KV-cache update are portable ops inside attention
        assert categories["ffn"]["delegated_us"] == pytest.approx(categories["ffn"]["us"])
        assert categories["attention"]["us"] > categories["attention"]["delegated_us"] > 0
        assert 0 < phase["delegated"]["share"] < 1 and phase["delegated"]["calls_per_step"] >= 1
        assert any(o["op"] == "llama::custom_sdpa" and o["category"] == "attention" for o in phase["top_ops"])
    assert any("Fully Connected" in kind for kind in prefill["xnnpack_ops_us"])  # XNNPACK's own timers
    report = (run / "report.md").read_text()
    assert "executorch ETDump + ETRecord" in report and "XNNPACK delegate calls" in report
    assert 'id="latency_by_op_category"' in (run / "report.html").read_text()


def test_executorch_ops_needs_the_etrecord(et_artifact, tmp_path):
    """An artifact exported before ETRecords (no etrecord.bin): one clear line, the timed runs kept."""
    from slm_edge.export.manifest import write_manifest

    old = tmp_path / "old-artifact"
    old.mkdir()
    manifest = json.loads((et_artifact / "manifest.json").read_text())
    for name in manifest["files"]:
        if name != "etrecord.bin":
            (old / name).write_bytes((et_artifact / name).read_bytes())
    write_manifest(old, {k: v for k, v in manifest.items()
                         if k not in ("schema", "schema_version", "created_utc", "files", "versions")})
    result = run_cli("profile", old, "--emulated", "--ops", "--prompt-lengths", "8", "--decode-tokens", "2",
                     "--repeats", "1", "--threads", "2", "--out", tmp_path / "run")
    assert result.returncode == 2
    assert "the artifact has no etrecord.bin" in result.stderr and "--force" in result.stderr
    trace = json.loads((tmp_path / "run" / "trace.json").read_text())
    assert trace["errors"][0]["phase"] == "ops" and len(trace["runs"]) == 2  # warm-up + measured, kept


def test_ops_and_the_llm_runner_mode_do_not_mix(et_artifact, tmp_path):
    refused = run_cli("profile", et_artifact, "--emulated", "--ops", "--mode", "llm-runner", "--out", tmp_path / "r")
    assert refused.returncode == 2 and "--ops traces our own prefill/decode steps" in refused.stderr
