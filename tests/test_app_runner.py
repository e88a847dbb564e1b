"""`profile --emulated --runner app` (the app's own Java loop on this JVM) and the program-format
facts that decide, before pushing, whether the app's runtimes can load an artifact."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import onnx
import pytest

from slm_edge.records.manifest import Manifest
from slm_edge.records.program_format import app_cannot_read
from slm_edge.records.trace import Trace

from conftest import export_tiny
from helpers import run_cli

QUICK = ["--prompt-lengths", "8,16", "--decode-tokens", "8", "--repeats", "2", "--warmup", "1", "--threads", "1"]


@pytest.fixture(scope="module")
def generic_onnx(tiny_qwen2, tmp_path_factory) -> Path:
    return export_tiny(tiny_qwen2, tmp_path_factory.mktemp("runner") / "generic", backend="onnx", quant="fp32",
                       path="generic", max_seq_len=64)


def cli(*args) -> subprocess.CompletedProcess:
    return run_cli(*args, timeout=600)


def test_runner_app_profiles_with_the_apps_java_code_and_reports_like_the_python_runner(tiny_llama_onnx, tmp_path):
    app = cli("profile", tiny_llama_onnx, "--emulated", "--runner", "app", *QUICK, "--out", tmp_path / "app")
    assert app.returncode == 0, app.stderr
    python = cli("profile", tiny_llama_onnx, "--emulated", *QUICK, "--out", tmp_path / "python")
    assert python.returncode == 0, python.stderr
    traces = {name: Trace.load(tmp_path / name / "trace.json").to_json() for name in ("app", "python")}
    assert traces["app"]["producer"]["name"] == "slm-edge-profiler-core"  # the app's TraceWriter
    assert traces["python"]["producer"]["name"] == "slm_edge.runner"  # the default
    assert "desktop JVM" in traces["app"]["software"]["runtime"]
    assert "share one max-length buffer" in traces["app"]["software"]["runtime"]  # GroupQueryAttention graph
    for trace in traces.values():
        assert trace["status"] == "complete" and len(trace["runs"]) == 2 * (1 + 2)
        assert all(len(r["decode_step_us"]) == 8 for r in trace["runs"])
    rows = [json.loads((tmp_path / name / "report.json").read_text())["rows"] for name in ("app", "python")]
    assert [(r["prompt_length"], sorted(r)) for r in rows[0]] == [(r["prompt_length"], sorted(r)) for r in rows[1]]


def test_runner_app_refuses_what_it_cannot_run_in_one_line(tiny_llama_pte, tiny_llama_onnx, tmp_path):
    pte = cli("profile", tiny_llama_pte, "--emulated", "--runner", "app", *QUICK, "--out", tmp_path / "pte")
    assert pte.returncode == 2 and "no desktop ExecuTorch Java runtime" in pte.stderr, pte.stderr
    assert "Traceback" not in pte.stderr and not (tmp_path / "pte" / "trace.json").exists()
    device = cli("profile", tiny_llama_onnx, "--device", "SERIAL", "--runner", "app", *QUICK)
    assert device.returncode == 2 and "on a phone the profiler app always runs" in device.stderr, device.stderr


def test_manifest_records_the_program_format_of_each_artifact(tiny_llama_onnx, generic_onnx, tiny_llama_pte):
    for folder in (tiny_llama_onnx, generic_onnx):
        manifest = json.loads((folder / "manifest.json").read_text())
        program = manifest["runtime"]["program"]
        model = onnx.load(str(folder / manifest["model_file"]), load_external_data=False)
        assert program["ir_version"] == model.ir_version
        assert program["opset"]["ai.onnx"] == next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
        assert program["exported_with"]["onnxruntime"]
    manifest = json.loads((tiny_llama_pte / "manifest.json").read_text())
    program = manifest["runtime"]["program"]
    assert program["flatbuffer_identifier"] == (tiny_llama_pte / manifest["model_file"]).read_bytes()[4:8].decode()
    assert program["exported_with"]["executorch"] == manifest["versions"]["executorch"]


def test_which_app_runtimes_can_load_which_artifact(tiny_llama_onnx, generic_onnx, tiny_llama_pte):
    """The limits measured for each onnxruntime release, and ExecuTorch's no-forward-compatibility rule."""
    builder, generic, pte = (Manifest.read(f) for f in (tiny_llama_onnx, generic_onnx, tiny_llama_pte))
    assert app_cannot_read(builder, {"onnxruntime": "1.29.0"}) is None
    assert "1.23 or newer" in app_cannot_read(builder, {"onnxruntime": "1.22.0"})  # GQA inputs, GatherBlockQuantized bits
    assert app_cannot_read(generic, {"onnxruntime": "1.21.1"}) is None  # torch.onnx at opset 20: no contrib ops
    assert f"IR version is {generic.runtime.program.ir_version}" in app_cannot_read(generic, {"onnxruntime": "1.17.0"})
    assert "reads up to" in app_cannot_read(builder, {"onnxruntime": "1.20.0"})
    ours = pte.versions["executorch"]
    assert app_cannot_read(pte, {"executorch": ours}) is None
    older = app_cannot_read(pte, {"executorch": "1.4.1"})
    assert older and ours in older and "1.4.1" in older
    document = pte.to_json()
    document["runtime"]["program"]["flatbuffer_identifier"] = "ET13"
    assert "ET13" in app_cannot_read(Manifest.from_json(document), {"executorch": ours})
