"""Profiler core: the emulated device end to end, trace fidelity, statistics, schema, bad input."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

from slm_edge.analysis.run import cv, percentile, summarize
from slm_edge.errors import SlmEdgeError
from slm_edge.model.sources import resolve_source
from slm_edge.records.trace import Trace

from conftest import save_tiny_model
from helpers import chart_rows, page_charts, run_cli
from conftest import export_tiny


@pytest.fixture(scope="module")
def artifact(tiny_llama, tmp_path_factory) -> Path:
    # the settings of test_export_executorch's tiny_llama 8da4w export: one build a session
    out = tmp_path_factory.mktemp("artifact") / "tiny-8da4w"
    export_tiny(tiny_llama, out, quant="8da4w", max_seq_len=256)
    return out


@pytest.fixture(scope="module")
def heavier_artifact(tmp_path_factory) -> Path:
    """Wider than the tiny model, so a decode step takes long enough to time against an outside clock."""
    folder = save_tiny_model(tmp_path_factory.mktemp("heavier"), "smollm2-135m", hidden_size=256, head_dim=64,
                             intermediate_size=768, num_hidden_layers=4, vocab_size=4096,
                             max_position_embeddings=512)
    out = tmp_path_factory.mktemp("artifact") / "heavier-fp32"
    export_tiny(folder, out, quant="fp32", embedding_quant="none", max_seq_len=512)
    return out


def test_profile_emulated_end_to_end(artifact, tmp_path):
    run_dir = tmp_path / "run"
    result = run_cli("profile", artifact, "--emulated", "--prompt-lengths", "8,32", "--decode-tokens", "16",
                     "--repeats", "3", "--warmup", "1", "--threads", "1,2", "--out", run_dir)
    assert result.returncode == 0, result.stderr
    trace = Trace.load(run_dir / "trace.json").to_json()
    assert trace["status"] == "complete"
    assert len(trace["runs"]) == 2 * 2 * (3 + 1)
    assert all(len(r["decode_step_us"]) == 16 and r["prefill_ms"] > 0 for r in trace["runs"])
    assert [l["threads"] for l in trace["loads"]] == [1, 2]
    phases = {m["phase"] for m in trace["phase_markers"]}
    assert phases == {"load", "prefill", "decode"}
    assert trace["memory_samples"] and trace["baseline_memory"]["rss_bytes"] > 50 * 2**20  # runtime loaded first

    report = json.loads((run_dir / "report.json").read_text())
    assert {(r["threads"], r["prompt_length"]) for r in report["rows"]} == {(1, 8), (1, 32), (2, 8), (2, 32)}
    assert all(r["repeats"] == 3 for r in report["rows"])  # warm-up excluded
    csv_lines = (run_dir / "report.csv").read_text().strip().splitlines()
    assert len(csv_lines) == 1 + 4
    html = (run_dir / "report.html").read_text()
    charts = page_charts(html)  # rendered in a browser by tests/test_report_page.py
    for plot in ("prefill_latency_vs_prompt_length", "decode_latency_over_sequence", "memory_over_time",
                 "token_latency_distribution", "memory_breakdown"):
        assert f'data-chart="{plot}"' in html and chart_rows(charts[plot]), plot
    perfetto = json.loads((run_dir / "perfetto.json").read_text())
    tokens = [e for e in perfetto["traceEvents"] if e.get("name") == "token"]
    assert len(tokens) == len(trace["runs"]) * 16
    assert any(e["ph"] == "C" for e in perfetto["traceEvents"])
    assert "decode tok/s" in result.stdout and "TTFT" in result.stdout

    # `report` re-renders from the trace alone, and compares runs side by side.
    again = run_cli("report", run_dir, run_dir, "--format", "table,md,csv", "--out", tmp_path / "cmp")
    assert again.returncode == 0, again.stderr
    assert len((tmp_path / "cmp" / "report.csv").read_text().strip().splitlines()) == 1 + 8


def test_step_timings_agree_with_an_outside_clock(heavier_artifact):
    """The runner's prefill time and the sum of its decode step times agree with CLOCK_MONOTONIC_RAW
    read around the same calls (within 2%)."""
    from slm_edge.records.manifest import Manifest
    from slm_edge.runner.loop import decode, prefill, prompt_for
    from slm_edge.runtime.executorch_llm import EtLlm

    manifest = Manifest.read(heavier_artifact)
    llm = EtLlm(heavier_artifact / "model.pte", threads=1)
    prompt = prompt_for(256, manifest.architecture.vocab_size, 0)
    prefill(llm, prompt)  # warm-up
    raw = time.CLOCK_MONOTONIC_RAW
    prefill_ratios, decode_ratios = [], []
    for _ in range(3):
        start = time.clock_gettime_ns(raw)
        token, _, ttft_ms = prefill(llm, prompt)
        prefill_ratios.append(ttft_ms / ((time.clock_gettime_ns(raw) - start) / 1e6))
        start = time.clock_gettime_ns(raw)
        steps = decode(llm, token, len(prompt), 128)
        decode_ratios.append(sum(steps) / 1e3 / ((time.clock_gettime_ns(raw) - start) / 1e6))
    assert 0.98 <= statistics.median(prefill_ratios) <= 1.001, prefill_ratios
    assert 0.98 <= statistics.median(decode_ratios) <= 1.001, decode_ratios


def test_peak_rss_agrees_with_the_operating_system(artifact, tmp_path):
    """The trace's peak VmHWM matches the kernel's ru_maxrss for the runner process (±5%)."""
    from slm_edge import cache
    from slm_edge.records.manifest import Manifest
    from slm_edge.workflows.profile import ProfileOptions, build_config

    manifest = Manifest.read(artifact)
    config = build_config(manifest, cache.sha256_file(artifact / "manifest.json"), str(artifact),
                          ProfileOptions(prompt_lengths=[64], decode_tokens=32, repeats=2, threads=[2]))
    (tmp_path / "run_config.json").write_text(json.dumps(config.to_json()))
    # Like GNU time: a small helper forks and execs the runner and reads its rusage. (Forking the
    # runner straight from pytest would fold pytest's own peak into ru_maxrss: Linux keeps the
    # pre-exec high-water mark.) The runner leaves with os._exit once its trace is written: the
    # interpreter's teardown is no part of the run and, with PyPI's CUDA build of torch, allocates
    # ~124 MiB (measured: `import torch` alone, VmHWM 501 MiB at the end, ru_maxrss 625 MiB).
    runner = ("import os, sys\n"
              "from slm_edge.runner.loop import main\n"
              "code = main(sys.argv[1:])\n"
              "sys.stdout.flush(); sys.stderr.flush()\n"
              "os._exit(code)\n")
    helper = ("import json, os, sys\n"
              "pid = os.fork()\n"
              "if pid == 0:\n"
              f"    os.execv(sys.executable, [sys.executable, '-c', {runner!r}, sys.argv[1]])\n"
              "_, status, usage = os.wait4(pid, 0)\n"
              "print(json.dumps({'code': os.waitstatus_to_exitcode(status), 'maxrss_kib': usage.ru_maxrss}))\n")
    done = subprocess.run([sys.executable, "-c", helper, str(tmp_path / "run_config.json")], capture_output=True, text=True)
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    assert measured["code"] == 0, done.stderr
    trace = Trace.load(tmp_path / "trace.json").to_json()
    reported = max(s["hwm_bytes"] for s in trace["memory_samples"])
    kernel = measured["maxrss_kib"] * 1024
    assert abs(reported - kernel) / kernel <= 0.05, (reported, kernel)


def test_memory_sampling_costs_under_one_percent():
    """One sample (a /proc/self/status read) every 10 ms must cost < 1% of the time it covers."""
    from slm_edge.runner.samplers import read_status_memory

    n = 2000
    start = time.perf_counter()
    for _ in range(n):
        read_status_memory()
    per_sample_s = (time.perf_counter() - start) / n
    assert per_sample_s / 0.010 < 0.01, per_sample_s


def test_statistics_on_known_inputs():
    values = list(range(1, 11))
    assert percentile(values, 50) == 5.5
    assert percentile(values, 90) == pytest.approx(9.1)
    assert percentile(values, 99) == pytest.approx(9.91)
    assert cv([2, 4, 4, 4, 5, 5, 7, 9]) == pytest.approx(2.138089935 / 5, rel=1e-6)  # sample stdev / mean
    assert cv([3.0]) is None
    s = summarize([10.0, 10.0, 10.0])
    assert s["median"] == 10 and s["cv"] == 0 and s["n"] == 3


def _minimal_trace() -> dict:
    return {
        "schema": "slm-edge/trace", "schema_version": 1, "status": "complete",
        "producer": {"name": "test", "version": "0"},
        "device": {"model": "m", "cpu": "c", "cores": 2, "ram_bytes": 1, "os": "linux"},
        "artifact": {"manifest_sha256": "0" * 64, "model_file": "model.pte", "engine": "executorch"},
        "config": {}, "clock": {"monotonic_origin_ns": 0, "wall_origin_ms": 0},
        "baseline_memory": {"rss_bytes": 1, "hwm_bytes": 1},
        "runs": [], "memory_samples": [], "phase_markers": [], "errors": [],
    }


def test_schema_rejects_malformed_traces(tmp_path):
    Trace.from_json(_minimal_trace())
    broken = _minimal_trace()
    del broken["device"]["cores"]
    with pytest.raises(SlmEdgeError, match="malformed"):
        Trace.from_json(broken)
    broken = _minimal_trace()
    broken["runs"] = [{"threads": 1, "prompt_length": 4, "repeat": 0, "warmup": False, "prefill_ms": -1,
                       "ttft_ms": 1, "decode_step_us": [], "memory": {}}]
    with pytest.raises(SlmEdgeError, match="runs/0"):
        Trace.from_json(broken)
    newer = _minimal_trace()
    newer["schema_version"] = 99
    with pytest.raises(SlmEdgeError, match="version 99"):
        Trace.from_json(newer)
    truncated = tmp_path / "trace.json"
    truncated.write_text(json.dumps(_minimal_trace())[:-20])
    with pytest.raises(SlmEdgeError, match="not valid JSON"):
        Trace.load(truncated)


def test_prompt_longer_than_the_artifact_is_refused(artifact, tmp_path):
    result = run_cli("profile", artifact, "--emulated", "--prompt-lengths", "250", "--decode-tokens", "64",
                     "--out", tmp_path / "r")
    assert result.returncode == 2
    assert "exceeds the artifact's max sequence length 256" in result.stderr and "Fix:" in result.stderr


def test_zero_repeats_is_refused(artifact, tmp_path):
    result = run_cli("profile", artifact, "--emulated", "--repeats", "0")
    assert result.returncode == 2 and "--repeats" in result.stderr


def test_artifact_with_a_missing_file_is_refused(artifact, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(artifact, broken)
    (broken / "model.pte").unlink()
    result = run_cli("profile", broken, "--emulated")
    assert result.returncode == 2 and "artifact file missing" in result.stderr


def test_runner_killed_mid_run_keeps_the_measured_repeats(artifact, tmp_path):
    """A run far longer than its timeout is killed part-way: the repeats finished before are kept,
    the trace is marked incomplete, the reports are still written, and the command fails clearly."""
    run_dir = tmp_path / "killed"
    result = run_cli("profile", artifact, "--emulated", "--prompt-lengths", "64", "--decode-tokens", "64",
                     "--repeats", "1000", "--warmup", "0", "--threads", "1", "--timeout", "12", "--out", run_dir)
    assert result.returncode == 2, result.stderr
    assert "profile incomplete" in result.stderr and "measured repeats kept" in result.stderr
    trace = Trace.load(run_dir / "trace.json").to_json()
    assert trace["status"] == "incomplete"
    assert 0 < len(trace["runs"]) < 1000
    assert trace["errors"][-1]["phase"] == "timeout"
    report = json.loads((run_dir / "report.json").read_text())
    assert report["rows"][0]["repeats"] == len(trace["runs"])
    assert any("incomplete" in w for w in report["warnings"])


@pytest.fixture(scope="module")
def artifact_with_tokenizer(tmp_path_factory) -> Path:
    """A tiny model with SmolLM2's vocabulary and the embedded default's real tokenizer files."""
    import shutil

    from slm_edge.records.manifest import TOKENIZER_FILES

    default = resolve_source("smollm2-135m")  # converts the embedded GGUF once per cache
    folder = save_tiny_model(tmp_path_factory.mktemp("tiny-tok"), "smollm2-135m", vocab_size=49152)
    for name in TOKENIZER_FILES:
        if (default.tokenizer_dir / name).is_file():
            shutil.copy(default.tokenizer_dir / name, folder / name)
    out = tmp_path_factory.mktemp("artifact") / "tiny-tok-fp32"
    export_tiny(folder, out, quant="fp32", embedding_quant="none", max_seq_len=128)
    return out


def test_llm_runner_mode_keeps_textllmrunner_stats(artifact_with_tokenizer, tmp_path):
    run_dir = tmp_path / "llm-runner"
    result = run_cli("profile", artifact_with_tokenizer, "--emulated", "--mode", "llm-runner", "--prompt-lengths", "16",
                     "--decode-tokens", "12", "--repeats", "2", "--warmup", "1", "--threads", "2", "--out", run_dir)
    assert result.returncode == 0, result.stderr
    trace = Trace.load(run_dir / "trace.json").to_json()
    assert trace["config"]["mode"] == "llm_runner" and trace["status"] == "complete"
    assert len(trace["runs"]) == 3
    for run in trace["runs"]:
        stats = run["llm_runner_stats"]
        assert stats["prompt_tokens"] == run["prompt_tokens_actual"] > 0
        # seq_len as the app's LlmModule gets it; the runner resolves the new tokens from it alone
        assert run["llm_runner_seq_len"] == 16 + 12
        # the runner's generated_tokens counts the tokens after prefill's first one: one decode step each
        assert 1 <= stats["generated_tokens"] <= 16 + 12 - stats["prompt_tokens"] - 1
        assert len(run["decode_step_us"]) == stats["generated_tokens"]
        assert run["ttft_ms"] > 0 and all(us > 0 for us in run["decode_step_us"])
    assert trace["loads"] and trace["loads"][0]["load_ms"] > 0


# {prompt_length, decode_tokens, max_seq_len, seq_len}: the cases of the app's LlmRunnerRunsTest
# (android_app/core), so one config means one run on the phone (LlmModule) and here (TextLLMRunner).
LLM_RUNNER_CASES = [(16, 12, 128, 28), (1, 1, 128, 2), (100, 28, 128, 128), (120, 20, 128, 128)]


@pytest.mark.parametrize("prompt_length,decode_tokens,max_seq_len,seq_len", LLM_RUNNER_CASES)
def test_llm_runner_generation_config_is_the_apps(prompt_length, decode_tokens, max_seq_len, seq_len):
    from slm_edge.runner.loop import llm_runner_generation_config

    config = llm_runner_generation_config(prompt_length, decode_tokens, max_seq_len)
    # LlmModule.generate passes seq_len only (its JNI never sets max_new_tokens): the same here
    assert (config.seq_len, config.max_new_tokens) == (seq_len, -1)
    assert config.temperature == 0.0 and config.echo is False and config.num_bos == 0
    # executorch's own resolution (GenerationConfig::resolve_max_new_tokens, the C++ the runner calls)
    # with the KV cache holding the prompt: decode_tokens new tokens when the prompt is its nominal length
    if prompt_length + decode_tokens <= max_seq_len:
        assert config.resolve_max_new_tokens(max_seq_len, prompt_length) == decode_tokens
        # a prompt that tokenizes one shorter gets one more token, on the phone as here
        assert config.resolve_max_new_tokens(max_seq_len, prompt_length - 1) == decode_tokens + 1


def test_llm_runner_mode_needs_a_tokenizer(artifact, tmp_path):
    result = run_cli("profile", artifact, "--emulated", "--mode", "llm-runner", "--out", tmp_path / "r")
    assert result.returncode == 2 and "needs a tokenizer" in result.stderr


@pytest.mark.parametrize("engine", ["onnxruntime", "onnxruntime-genai"])
def test_profile_runs_onnx_artifacts_on_either_engine(engine, tiny_qwen2_onnx_int4, tmp_path):
    run_dir = tmp_path / engine
    result = run_cli("profile", tiny_qwen2_onnx_int4, "--emulated", "--engine", engine, "--prompt-lengths", "8,32",
                     "--decode-tokens", "12", "--repeats", "2", "--warmup", "1", "--threads", "2", "--out", run_dir)
    assert result.returncode == 0, result.stderr
    trace = Trace.load(run_dir / "trace.json").to_json()
    assert trace["status"] == "complete" and trace["artifact"]["engine"] == engine
    assert trace["software"]["onnxruntime"] and trace["loads"][0]["load_ms"] > 0
    assert len(trace["runs"]) == 2 * 3 and all(len(r["decode_step_us"]) == 12 for r in trace["runs"])
    report = json.loads((run_dir / "report.json").read_text())
    assert all(row["decode_tok_s"]["median"] > 0 for row in report["rows"])


def test_profile_refuses_an_engine_the_artifact_cannot_use(tiny_qwen2_onnx_int4, artifact, tmp_path):
    wrong = run_cli("profile", tiny_qwen2_onnx_int4, "--emulated", "--engine", "executorch", "--out", tmp_path / "a")
    assert wrong.returncode == 2 and "cannot run on executorch" in wrong.stderr
    runner_mode = run_cli("profile", tiny_qwen2_onnx_int4, "--emulated", "--mode", "llm-runner", "--out", tmp_path / "b")
    assert runner_mode.returncode == 2 and "use --mode steps for ONNX" in runner_mode.stderr
    genai_for_pte = run_cli("profile", artifact, "--emulated", "--engine", "onnxruntime-genai", "--out", tmp_path / "c")
    assert genai_for_pte.returncode == 2 and "cannot run on onnxruntime-genai" in genai_for_pte.stderr
