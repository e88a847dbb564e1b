"""Scale-out: a sweep across a real Ray cluster (Ray's own cluster utilities: two nodes on this
machine, each owning one emulated device) and locally across two emulated devices with parallel
exports, against the same sweep run cell after cell."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from slm_edge.records.trace import Trace
from slm_edge.workflows.sweep import load_spec, run_sweep

from helpers import run_cli

CELLS = 4


@pytest.fixture(scope="module")
def spec_file(tiny_llama, tiny_qwen2, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("scale") / "spec.yaml"
    path.write_text(f"""
name: scale
models: [{tiny_llama}, {tiny_qwen2}]
backends:
  onnx: [fp32, int4]
prompt_lengths: [8, 16]
decode_tokens: 8
threads: [1]
repeats: 3
max_seq_len: 64
verify_steps: 4
eval: false
""")
    return path


@pytest.fixture(scope="module")
def local_sweep(spec_file, tmp_path_factory) -> Path:
    """The sweep as it runs without scale-out: one cell after the other, one emulated device."""
    out = tmp_path_factory.mktemp("local") / "sweep"
    state = run_sweep(load_spec(spec_file), out, progress=lambda line: None)
    assert [c["status"] for c in state["cells"].values()] == ["complete"] * CELLS
    return out


def _cells(out: Path) -> dict[str, Trace]:
    return {p.name: Trace.load(p / "trace.json") for p in sorted((out / "cells").iterdir())}


def _windows(traces) -> dict[str, list[tuple[float, float]]]:
    """Per device serial, the wall-clock spans its runner ran (from each trace's clock and samples)."""
    spans: dict[str, list[tuple[float, float]]] = {}
    for trace in traces:
        start = trace.clock["wall_origin_ms"]
        end = start + max([m["t_ms"] for m in trace.phase_markers] + [s["t_ms"] for s in trace.memory_samples])
        spans.setdefault(trace.host.device["serial"], []).append((start, end))
    return spans


def _never_overlapping(spans: list[tuple[float, float]]) -> bool:
    ordered = sorted(spans)
    return all(a_end <= b_start for (_, a_end), (b_start, _) in zip(ordered, ordered[1:]))


def _same_as_local(out: Path, local: Path) -> None:
    """The same cells, the same artifacts and quality figures, decode speed within noise."""
    mine, theirs = _cells(out), _cells(local)
    assert set(mine) == set(theirs) and len(mine) == CELLS
    for name, trace in mine.items():
        other = theirs[name]
        assert trace.status == "complete"
        assert trace.artifact.manifest_sha256 == other.artifact.manifest_sha256  # one export, by content hash
        assert trace.artifact_facts.verify["mean_kl"] == pytest.approx(other.artifact_facts.verify["mean_kl"], abs=1e-6)
        from slm_edge.analysis.run import analyze

        mine_rows, their_rows = analyze(trace).rows, analyze(other).rows
        assert [(r.threads, r.prompt_length, r.repeats) for r in mine_rows] == [
            (r.threads, r.prompt_length, r.repeats) for r in their_rows]
        # a tiny model's decode step is ~0.2 ms: two profiles and another test worker on 2 cores move it
        # several-fold (measured 5x under the full suite), so speed is only checked to the same order
        low, high = sorted(row.decode_tok_s.median for row in (mine_rows[-1], their_rows[-1]))
        assert high / low < 10, name


def test_local_devices_and_jobs_profile_two_devices_at_once(spec_file, local_sweep, tmp_path):
    from slm_edge.workflows.scale import parallel_sweep

    out = tmp_path / "sweep"
    state = parallel_sweep(load_spec(spec_file), out, jobs=2, devices=["emulated-a", "emulated-b"],
                           progress=lambda line: None)
    assert {c["status"] for c in state["cells"].values()} == {"complete"}
    assert {c["device"] for c in state["cells"].values()} == {"emulated-a", "emulated-b"}
    _same_as_local(out, local_sweep)
    spans = _windows(_cells(out).values())
    assert all(_never_overlapping(s) for s in spans.values())
    # the two devices did run at the same time at least once: that is the speed-up
    a, b = spans["emulated-a"], spans["emulated-b"]
    assert any(x0 < y1 and y0 < x1 for x0, x1 in a for y0, y1 in b)


@pytest.fixture
def cluster():
    """A head and one more node, each advertising one emulated device, on this machine."""
    from ray.cluster_utils import Cluster

    made = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "resources": {"slm_edge_devices": 1, "device:emulated-a": 1}, "include_dashboard": False})
    worker = made.add_node(num_cpus=1, resources={"slm_edge_devices": 1, "device:emulated-b": 1})
    made.wait_for_nodes()
    yield made, worker
    made.shutdown()


def test_ray_cluster_runs_the_sweep_across_both_nodes(cluster, spec_file, local_sweep, tmp_path):
    from slm_edge.workflows.scale import ray_sweep

    made, _ = cluster
    out, store = tmp_path / "sweep", tmp_path / "store"
    state = ray_sweep(load_spec(spec_file), out, address=made.address, store=f"file://{store}",
                      progress=lambda line: None, poll_s=0.5)
    cells = state["cells"].values()
    assert {c["status"] for c in cells} == {"complete"} and len({c["node"] for c in cells}) == 2
    assert {c["device"] for c in cells} == {"emulated-a", "emulated-b"}
    _same_as_local(out, local_sweep)
    assert all(_never_overlapping(s) for s in _windows(_cells(out).values()).values())
    # every artifact is in the store under the local cache's key, once
    keys = {trace.artifact_facts.provenance["cache_key"] for trace in _cells(out).values()}
    assert {p.name for p in store.iterdir()} == keys and all((store / k / "manifest.json").is_file() for k in keys)
    # the combined report comes from the same code as a local sweep's
    done = run_cli("sweep", spec_file, "--out", out)  # resumes: nothing left to run
    assert done.returncode == 0, done.stderr
    assert "done before, kept" in done.stdout + done.stderr and (out / "report.html").is_file()


def test_a_node_lost_mid_sweep_is_recovered_or_resumed(cluster, spec_file, tmp_path):
    from slm_edge.workflows.scale import ray_sweep

    made, worker = cluster
    out = tmp_path / "sweep"
    removed = threading.Event()

    def stop_worker_after_first_cell():
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            state = out / "sweep.json"
            if state.is_file() and any(c["status"] == "complete"
                                       for c in json.loads(state.read_text())["cells"].values()):
                made.remove_node(worker)
                removed.set()
                return
            time.sleep(0.2)

    watcher = threading.Thread(target=stop_worker_after_first_cell, daemon=True)
    watcher.start()
    state = ray_sweep(load_spec(spec_file), out, address=made.address, store=f"file://{tmp_path / 'store'}",
                      progress=lambda line: None, poll_s=0.5)
    watcher.join()
    assert removed.is_set()
    statuses = [c["status"] for c in state["cells"].values()]
    assert len(statuses) == CELLS and set(statuses) <= {"complete", "failed"}
    # what the lost node had not finished ran on the head, or is recorded and resumes
    again = ray_sweep(load_spec(spec_file), out, address=made.address, store=f"file://{tmp_path / 'store'}",
                      progress=lambda line: None, poll_s=0.5)
    assert {c["status"] for c in again["cells"].values()} == {"complete"}
    survivors = {c.get("device") for c in again["cells"].values() if c.get("device")}
    assert survivors <= {"emulated-a", "emulated-b"}


def test_scale_out_flags_are_refused_in_one_line(spec_file, tmp_path):
    done = run_cli("sweep", spec_file, "--ray", "local", "--jobs", "2", "--out", tmp_path / "a")
    assert done.returncode != 0 and "--jobs and --devices are for one machine" in done.stderr
    done = run_cli("sweep", spec_file, "--store", str(tmp_path), "--out", tmp_path / "b")
    assert done.returncode != 0 and "use it with --ray" in done.stderr
    # Ray missing: the extra's install command, not a traceback
    import subprocess
    import sys

    code = ("import sys; sys.modules['ray'] = None; from slm_edge.cli import main; "
            f"main(['sweep', {str(spec_file)!r}, '--ray', 'local', '--out', {str(tmp_path / 'c')!r}])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "pip install 'slm-edge[ray]'" in done.stderr
