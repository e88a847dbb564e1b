"""The phone's ONNX code for real: the app's OrtEngine (android_app/onnx) and core (android_app/core),
built by Maven (android_app/jvm/pom.xml) against com.microsoft.onnxruntime:onnxruntime (the same
ai.onnxruntime Java API as onnxruntime-android), run on this machine's JVM on real artifacts and
compared with the Python loop (slm_edge.runtime.onnx_llm.OrtLlm): the same greedy tokens, the logits
within float rounding, both KV-cache paths (shared max-length buffer, present fed back as past)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from slm_edge.device import jvm_app
from slm_edge.errors import SlmEdgeError
from slm_edge.export import ExportRequest, export_model
from slm_edge.records.manifest import Manifest
from slm_edge.workflows.profile import ProfileOptions, build_config
from slm_edge.progress import StageTimer
from slm_edge.model.sources import resolve_source
from slm_edge.records.trace import Trace

pytestmark = pytest.mark.skipif(shutil.which("java") is None or shutil.which("mvn") is None,
                                reason="needs java and mvn (tools/setup.sh installs openjdk-17-jdk-headless and maven)")

STEPS = 20  # greedy decode steps compared, each one's full logit row
THREADS = 2
PROMPT = [5, 17, 42, 7, 99, 3, 14]
# 20 tokens for tiny_gemma3: its STEPS greedy steps (positions 20 to 39) then cross the sliding window of 32
WINDOW_PROMPT = PROMPT + [200, 11, 58, 33, 71, 9, 150, 260, 88, 19, 47, 120, 301]


@pytest.fixture(scope="module")
def app() -> jvm_app.JvmApp:
    return jvm_app.build()


def _export(folder, out: Path, **request) -> Path:
    request = ExportRequest(**{"backend": "onnx", "max_seq_len": 64, **request})
    return export_model(resolve_source(str(folder)), request, out, timer=StageTimer(quiet=True)).folder


@pytest.fixture(scope="module")
def default_int4(tmp_path_factory) -> Path:
    """The embedded default as export_recipes/default-onnx-int4.yaml builds it (as test_default_model
    asks for it, so one session's artifact cache serves both)."""
    request = ExportRequest(backend="onnx", quant="int4", block_size=32, accuracy_level=4, execution_provider="cpu",
                            max_seq_len=256)
    return export_model(resolve_source("smollm2-135m"), request, tmp_path_factory.mktemp("default") / "int4",
                        timer=StageTimer(quiet=True)).folder


def _java_greedy(app: jvm_app.JvmApp, folder: Path, prompt: list[int], out: Path) -> tuple[dict, np.ndarray]:
    result = subprocess.run(app.command(jvm_app.GREEDY_DUMP_CLASS, str(folder), str(THREADS), str(STEPS), str(out),
                                        *map(str, prompt)), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(Path(f"{out}.json").read_text())
    logits = np.fromfile(f"{out}.f32", dtype="<f4").reshape(STEPS, -1)
    return summary, logits


_PYTHON_LOOP = """
import json, sys
from pathlib import Path
import numpy as np
import onnxruntime
from slm_edge.records.manifest import Manifest
from slm_edge.runtime.onnx_llm import OrtLlm
folder, out, threads, steps, prompt = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5:]
manifest = Manifest.read(folder)
tokens, logits = OrtLlm(folder, manifest, threads=threads).greedy([int(t) for t in prompt], steps)
np.stack([l.numpy() for l in logits]).astype("<f4").tofile(out + ".f32")
Path(out + ".json").write_text(json.dumps({"tokens": tokens, "onnxruntime": onnxruntime.__version__}))
"""


def _app_onnxruntime(version: str) -> Path:
    """onnxruntime==VERSION for Python, beside the venv's own (tools/setup.sh installs it): the Python
    loop on the app's runtime release, since int4 kernels differ between releases."""
    given = os.environ.get("SLM_EDGE_APP_ORT_PYTHONPATH")
    found = Path(given) if given else jvm_app.python_onnxruntime_of_the_app()
    assert found and version == jvm_app.app_version("onnxruntime"), (
        f"onnxruntime {version} for Python is not installed beside the venv; run tools/setup.sh")
    return found


def _python_greedy(folder: Path, prompt: list[int], out: Path, onnxruntime_version: str) -> tuple[list[int], np.ndarray]:
    import onnxruntime

    env = dict(os.environ)
    if onnxruntime.__version__ != onnxruntime_version:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_app_onnxruntime(onnxruntime_version)),
                                                          env.get("PYTHONPATH")]))
    result = subprocess.run([sys.executable, "-c", _PYTHON_LOOP, str(folder), str(out), str(THREADS), str(STEPS),
                             *map(str, prompt)], capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(Path(f"{out}.json").read_text())
    assert summary["onnxruntime"] == onnxruntime_version
    return summary["tokens"], np.fromfile(f"{out}.f32", dtype="<f4").reshape(STEPS, -1)


def _python_greedy_here(folder: Path, prompt: list[int]) -> tuple[list[int], np.ndarray]:
    """The venv's own onnxruntime, in this process."""
    from slm_edge.runtime.onnx_llm import OrtLlm

    tokens, logits = OrtLlm(folder, Manifest.read(folder), threads=THREADS).greedy(prompt, STEPS)
    return tokens, np.stack([row.numpy() for row in logits])


def _check(summary: dict, java_logits: np.ndarray, tokens: list[int], logits: np.ndarray, tolerance: float,
           shared: bool, label: str) -> float:
    diff = float(np.abs(java_logits - logits).max())
    print(f"{label}: {summary['describe']}; max |logit diff| {diff:.3g} over {STEPS} steps")
    assert summary["tokens"] == tokens, f"{label}: greedy tokens differ\njava   {summary['tokens']}\npython {tokens}"
    assert diff <= tolerance, f"{label}: max |logit diff| {diff} > {tolerance}"
    assert summary["shares_buffer"] is shared
    assert ("share one max-length buffer" if shared else "present fed back as past") in summary["describe"]
    assert summary["describe"].startswith(f"onnxruntime {summary['runtime_version']} (desktop JVM")
    return diff


@pytest.mark.parametrize(
    ("fixture", "path", "quant", "shared", "tolerance"),
    [
        # builder graph with GroupQueryAttention: the manifest's kv_cache.share_buffer path
        ("tiny_llama", "fast", "fp32", True, 1e-4),
        # torch.onnx graph: each present fed back as the next past
        ("tiny_qwen2", "generic", "fp32", False, 1e-4),
        ("tiny_qwen2", "fast", "int4", True, 1e-3),
        # Gemma 3 builder graph: a sliding (window 32) and a full layer, both on the shared buffer
        ("tiny_gemma3", "fast", "fp32", True, 1e-4),
        ("tiny_gemma3", "fast", "int4", True, 1e-3),
    ],
)
def test_java_engine_matches_the_python_loop_on_tiny_models(fixture, path, quant, shared, tolerance, app, request,
                                                            tmp_path):
    folder = _export(request.getfixturevalue(fixture), tmp_path / "artifact", quant=quant, path=path)
    assert bool(Manifest.read(folder).runtime.io["kv_cache"].get("share_buffer")) is shared
    prompt = WINDOW_PROMPT if fixture == "tiny_gemma3" else PROMPT
    summary, java_logits = _java_greedy(app, folder, prompt, tmp_path / "java")
    if quant == "fp32":  # fp32 kernels agree across onnxruntime releases: the venv's own will do
        tokens, logits = _python_greedy_here(folder, prompt)
    else:
        tokens, logits = _python_greedy(folder, prompt, tmp_path / "python", summary["runtime_version"])
    _check(summary, java_logits, tokens, logits, tolerance, shared, f"{fixture} {path} {quant}")


def test_java_engine_matches_the_python_loop_on_the_default_int4(default_int4, app, tmp_path):
    prompt = [1, 504, 3458, 282, 4649, 30, 216, 314, 1345, 28]
    summary, java_logits = _java_greedy(app, default_int4, prompt, tmp_path / "java")
    tokens, logits = _python_greedy(default_int4, prompt, tmp_path / "python", summary["runtime_version"])
    _check(summary, java_logits, tokens, logits, 1e-3, True, "default int4")
    assert summary["vocab"] == 49152


def test_desktop_main_profiles_an_onnx_artifact_with_the_apps_engine(tiny_llama, tmp_path):
    folder = _export(tiny_llama, tmp_path / "artifact", quant="fp32", path="fast")
    manifest_bytes = (folder / "manifest.json").read_bytes()
    options = ProfileOptions(prompt_lengths=[8, 16], decode_tokens=8, repeats=2, warmup=1, threads=[THREADS],
                             sample_interval_ms=20.0)
    config = build_config(Manifest.from_json(json.loads(manifest_bytes)), hashlib.sha256(manifest_bytes).hexdigest(), str(folder), options)
    config_path = tmp_path / "run_config.json"
    config_path.write_text(json.dumps(config.to_json()))
    trace_dir = tmp_path / "traces"
    result = subprocess.run(jvm_app.app_runner_command(config_path, trace_dir), capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    lines = result.stdout.splitlines()
    # the status lines the emulated device streams, then the result keys
    assert "slm-edge-status phase=load threads=2" in lines
    assert "status=complete" in lines
    trace_line = next(line for line in lines if line.startswith("trace="))
    trace = Trace.load(Path(trace_line.split("=", 1)[1])).to_json()
    assert trace["status"] == "complete" and not trace["errors"]
    assert trace["producer"]["name"] == "slm-edge-profiler-core"
    runtime = trace["software"]["runtime"]
    assert runtime.startswith("onnxruntime 1.") and "(desktop JVM" in runtime and "share one max-length buffer" in runtime
    assert "the app's OrtEngine on onnxruntime" in trace["software"]["engine_implementation"]
    assert "TinyEngine" not in json.dumps(trace["software"])
    assert len(trace["runs"]) == 2 * 3
    for run in trace["runs"]:
        assert run["prefill_ms"] > 0 and len(run["decode_step_us"]) == 8


def test_desktop_main_keeps_tinyengine_without_the_onnx_classes(tiny_llama, app, tmp_path):
    """Core alone on the classpath (as tests/test_android_core.py compiles it): TinyEngine, said so."""
    folder = _export(tiny_llama, tmp_path / "artifact", quant="fp32", path="fast")
    manifest_bytes = (folder / "manifest.json").read_bytes()
    config = build_config(Manifest.from_json(json.loads(manifest_bytes)), hashlib.sha256(manifest_bytes).hexdigest(), str(folder),
                          ProfileOptions(prompt_lengths=[8], decode_tokens=4, repeats=1, warmup=0, threads=[1]))
    config_path = tmp_path / "run_config.json"
    config_path.write_text(json.dumps(config.to_json()))
    gson = next(jar for jar in app.jars if "gson" in Path(jar).name)
    result = subprocess.run(["java", "-cp", os.pathsep.join([str(app.classes), gson]), jvm_app.MAIN_CLASS,
                             str(config_path), str(tmp_path / "traces")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    trace = Trace.load(tmp_path / "traces" / "trace.json").to_json()
    assert trace["software"]["engine_implementation"].startswith("TinyEngine")


def test_missing_java_or_maven_is_one_line(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: neither java nor mvn
    with pytest.raises(SlmEdgeError, match="needs java.*install openjdk-17-jdk-headless and maven"):
        jvm_app.app_runner_command(tmp_path / "run_config.json", tmp_path / "traces")


def test_unreachable_maven_central_with_an_empty_cache_is_one_line(monkeypatch, tmp_path):
    """A Maven home whose cache is empty and whose only repository refuses connections (port 9,
    discard, closed here): what a machine without Maven Central sees on its first build."""
    home = tmp_path / "home"
    (home / ".m2").mkdir(parents=True)
    (home / ".m2" / "settings.xml").write_text(
        "<settings><mirrors><mirror><id>unreachable</id><mirrorOf>*</mirrorOf>"
        "<url>http://127.0.0.1:9/maven2</url></mirror></mirrors></settings>")
    monkeypatch.setenv("MAVEN_OPTS", f"-Duser.home={home}")
    monkeypatch.setenv("SLM_EDGE_CACHE", str(tmp_path / "cache"))  # nothing built yet
    with pytest.raises(SlmEdgeError, match=r"Maven Central .* cannot be reached .*Fix: connect once") as error:
        jvm_app.build()
    assert "\n" not in str(error.value)
    assert not any((tmp_path / "cache" / "jvm-app").iterdir())  # no half build left to be mistaken for one
