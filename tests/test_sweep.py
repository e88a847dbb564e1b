"""`slm-edge sweep`: a real matrix of tiny models × ONNX schemes, a failing cell, resume, combined report."""

from __future__ import annotations

import json

import pytest

from slm_edge.errors import SlmEdgeError
from slm_edge.sweep import load_spec
from test_cli import run_cli


def test_sweep_runs_the_matrix_records_failures_and_resumes(tiny_llama, tiny_qwen2, tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"""
name: tiny
models: [{tiny_llama}, {tiny_qwen2}]
backends:
  onnx: [fp32, int4]
  executorch: [int4]     # not a scheme ExecuTorch builds: these cells must fail and the sweep go on
prompt_lengths: [8, 16]
decode_tokens: 6
threads: [2]
repeats: 2
max_seq_len: 64
verify_steps: 4
""")
    out = tmp_path / "sweep"
    first = run_cli("sweep", spec, "--out", out)
    assert first.returncode == 0, first.stderr
    state = json.loads((out / "sweep.json").read_text())["cells"]
    assert sorted(name for name, cell in state.items() if cell["status"] == "complete") == [
        f"{tiny_llama.name}-onnx-fp32", f"{tiny_llama.name}-onnx-int4", f"{tiny_qwen2.name}-onnx-fp32",
        f"{tiny_qwen2.name}-onnx-int4"]
    failed = [cell for cell in state.values() if cell["status"] == "failed"]
    assert len(failed) == 2 and all("cannot build quantization scheme 'int4'" in c["error"] for c in failed)
    for name in ("report.md", "report.html", "report.json", "quantization.md"):
        assert (out / name).is_file(), name
    effect = json.loads((out / "quantization.json").read_text())
    assert {(r["model"], r["scheme"], r["prompt_length"]) for r in effect} == {
        (m.name, "int4", p) for m in (tiny_llama, tiny_qwen2) for p in (8, 16)}
    assert all(r["prefill_speedup"] > 0 and r["decode_speedup"] > 0 for r in effect)
    # quality figures came along for recommend
    trace = json.loads((out / "cells" / f"{tiny_qwen2.name}-onnx-int4" / "trace.json").read_text())
    assert trace["host"]["artifact"]["verify"]["steps"] == 4

    # resume: finished cells are kept as they are; a cell whose trace is gone runs again
    kept = out / "cells" / f"{tiny_llama.name}-onnx-int4" / "trace.json"
    stamp = kept.stat().st_mtime_ns
    (out / "cells" / f"{tiny_qwen2.name}-onnx-fp32" / "trace.json").unlink()
    second = run_cli("sweep", spec, "--out", out)
    assert second.returncode == 0, second.stderr
    assert kept.stat().st_mtime_ns == stamp
    assert second.stderr.count("done before, kept") == 3
    assert f"{tiny_qwen2.name}-onnx-fp32: complete" in second.stderr
    assert (out / "cells" / f"{tiny_qwen2.name}-onnx-fp32" / "trace.json").is_file()


@pytest.mark.parametrize(("text", "message"), [
    ("models: [a]\n", "needs 'models'"),
    ("models: [a]\nbackends: {onnx: [int4]}\ncolour: red\n", "unknown keys: colour"),
    ("models: [a]\nbackends: {onnx: [int4]}\nthreads: [two]\n", "a number is not a number"),
    ("- just a list\n", "must be a mapping"),
])
def test_bad_sweep_specs_are_refused(text, message, tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(text)
    with pytest.raises(SlmEdgeError, match=message):
        load_spec(spec)


def test_the_example_sweep_spec_loads():
    from pathlib import Path

    spec = load_spec(Path(__file__).parent.parent / "sweeps" / "quantization-effect.yaml")
    assert len(spec.cells) == 6 and {c.model for c in spec.cells} >= {"smollm2-135m", "llama-3.2-1b", "qwen2.5-0.5b"}


@pytest.mark.slow
def test_example_sweep_reproduces_the_quantization_finding(tmp_path):
    """Survey Fig. 8 on this machine: int4 weights speed decode up far more than prefill."""
    from pathlib import Path

    spec = Path(__file__).parent.parent / "sweeps" / "quantization-effect.yaml"
    out = tmp_path / "sweep"
    result = run_cli("sweep", spec, "--out", out)
    assert result.returncode == 0, result.stderr
    effect = json.loads((out / "quantization.json").read_text())
    assert {r["model"] for r in effect} == {"smollm2-135m", "llama-3.2-1b", "qwen2.5-0.5b"}
    for row in effect:
        assert row["decode_speedup"] > 1.5, row              # decode is memory-bound: 4-bit weights pay
        assert row["decode_speedup"] > row["prefill_speedup"], row   # prefill is compute-bound: far less
