"""Faults that need no phone: two profiles on one device, an interrupted sweep, readers racing
the runner's trace writes, trace schema versions."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from slm_edge.errors import SlmEdgeError
from slm_edge.contract import MANIFEST
from slm_edge.records.manifest import Manifest
from slm_edge.workflows.profile import ProfileOptions, build_config
from slm_edge.contract import TRACE_SCHEMA_VERSION
from slm_edge.records.trace import Trace

from conftest import read_json
from conftest import export_tiny


def cli(*args, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "slm_edge", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


@pytest.fixture(scope="module")
def onnx_tiny(tiny_llama, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("reliability") / "tiny-onnx-fp32"
    export_tiny(tiny_llama, out, backend="onnx", quant="fp32", max_seq_len=128)
    return out


def wait_for(predicate, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_second_profile_on_the_same_device_refuses_or_queues(onnx_tiny, tmp_path):
    long_run = ["--prompt-lengths", "16", "--decode-tokens", "16", "--repeats", "40", "--warmup", "0", "--threads", "1"]
    first = cli("profile", onnx_tiny, "--emulated", *long_run, "--out", tmp_path / "first")
    wait_for(lambda: (tmp_path / "first" / "run_config.json").is_file(), 60, "the first profile to take the device")
    refused = cli("profile", onnx_tiny, "--emulated", "--prompt-lengths", "8", "--repeats", "1", "--out", tmp_path / "refused")
    _, err = refused.communicate(timeout=60)
    assert refused.returncode == 2 and "another slm-edge command is profiling on emulated" in err and "--lock-wait" in err
    queued = cli("profile", onnx_tiny, "--emulated", "--prompt-lengths", "8", "--repeats", "1", "--lock-wait", "300",
                 "--out", tmp_path / "queued")
    assert first.wait(timeout=300) == 0, first.stderr.read()
    _, err = queued.communicate(timeout=300)
    assert queued.returncode == 0, err
    first_trace, queued_trace = Trace.load(tmp_path / "first" / "trace.json"), Trace.load(tmp_path / "queued" / "trace.json")
    first_end = first_trace.clock["wall_origin_ms"] + max(m["t_ms"] for m in first_trace.phase_markers)
    assert queued_trace.clock["wall_origin_ms"] >= first_end  # it waited: the runs never interleaved


def test_readers_never_see_a_half_written_trace(onnx_tiny, tmp_path):
    """The runner rewrites its trace after every repeat; a reader polling it meanwhile always gets
    a whole, valid trace (temp file + rename), never a torn one."""
    manifest = Manifest.read(onnx_tiny)
    from slm_edge import cache

    options = ProfileOptions(prompt_lengths=[8], decode_tokens=8, repeats=60, warmup=0, threads=[1], sample_interval_ms=5)
    config = build_config(manifest, cache.sha256_file(onnx_tiny / MANIFEST), str(onnx_tiny.resolve()), options)
    (tmp_path / "run_config.json").write_text(json.dumps(config.to_json()))
    runner = subprocess.Popen([sys.executable, "-m", "slm_edge.runner", str(tmp_path / "run_config.json"), "--emulated",
                               "--trace-dir", str(tmp_path / "out")], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    trace_path = tmp_path / "out" / "trace.json"
    reads, repeats_seen = 0, set()
    while runner.poll() is None or reads == 0:
        if trace_path.is_file():
            trace = Trace.load(trace_path)  # raises on a torn file
            repeats_seen.add(len(trace.runs))
            reads += 1
    assert runner.returncode == 0, runner.stderr.read()
    assert Trace.load(trace_path).status == "complete"
    assert reads > 10 and len(repeats_seen) > 3  # it really read while the trace grew
    statuses = [line for line in runner.stdout.read().decode().splitlines() if line.startswith("slm-edge-status")]
    assert statuses[0].startswith("slm-edge-status phase=load") and sum("phase=run" in s for s in statuses) == 60


def test_interrupted_sweep_continues_from_the_last_finished_cell(tiny_llama, tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"name: killed\nmodels: [{json.dumps(str(tiny_llama))}]\nbackends: {{onnx: [fp32, int8, int4]}}\n"
                    "prompt_lengths: [8]\ndecode_tokens: 4\nrepeats: 1\nwarmup: 0\nthreads: [1]\nmax_seq_len: 64\n"
                    "verify: false\n")
    out = tmp_path / "sweep"

    def finished() -> list[str]:
        try:
            return [n for n, c in read_json(out / "sweep.json")["cells"].items() if c["status"] == "complete"]
        except (FileNotFoundError, json.JSONDecodeError, KeyError):
            return []

    killed = cli("sweep", spec, "--out", out)
    wait_for(lambda: len(finished()) >= 1, 240, "the first cell")
    killed.send_signal(signal.SIGKILL)  # no chance to clean up, as with the OOM killer
    killed.wait(30)
    done_before = finished()
    kept = {n: (out / "cells" / n / "trace.json").stat().st_mtime_ns for n in done_before}

    interrupted = cli("sweep", spec, "--out", out)
    wait_for(lambda: len(finished()) > len(done_before) or interrupted.poll() is not None, 240, "one more cell")
    interrupted.send_signal(signal.SIGINT)  # Ctrl-C
    _, err = interrupted.communicate(timeout=60)
    assert interrupted.returncode in (0, 130), err
    if interrupted.returncode == 130:
        assert "interrupted" in err and "Traceback" not in err

    final = cli("sweep", spec, "--out", out)
    output, err = final.communicate(timeout=400)
    assert final.returncode == 0, err
    state = read_json(out / "sweep.json")
    assert all(c["status"] == "complete" for c in state["cells"].values()) and len(state["cells"]) == 3
    for name, mtime in kept.items():  # finished cells were never run again
        assert f"{name}: done before, kept" in output + err
        assert (out / "cells" / name / "trace.json").stat().st_mtime_ns == mtime


@pytest.mark.parametrize("version, accepted", [(TRACE_SCHEMA_VERSION, True), (TRACE_SCHEMA_VERSION + 1, False), (0, False)])
def test_trace_schema_versions_are_named(onnx_tiny, tmp_path, version, accepted):
    trace = {"schema": "slm-edge/trace", "schema_version": version, "status": "complete",
             "producer": {"name": "app", "version": "1"},
             "device": {"model": "m", "cpu": "c", "cores": 1, "ram_bytes": 1, "os": "Android 15"},
             "artifact": {"manifest_sha256": "0" * 64, "model_file": "model.pte", "engine": "executorch"},
             "config": {}, "clock": {"monotonic_origin_ns": 0, "wall_origin_ms": 0},
             "baseline_memory": {"rss_bytes": 1, "hwm_bytes": 1},
             "runs": [], "memory_samples": [], "phase_markers": [], "errors": []}
    if accepted:
        Trace.from_json(trace)
        return
    with pytest.raises(SlmEdgeError) as err:
        Trace.from_json(trace)
    assert f"version {version}" in str(err.value) and f"{TRACE_SCHEMA_VERSION}" in str(err.value)
    assert ("upgrade slm-edge" if version > TRACE_SCHEMA_VERSION else "update the profiler app") in str(err.value)
