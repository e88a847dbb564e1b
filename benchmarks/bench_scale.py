"""Wall time of an 8-cell ONNX sweep three ways, side by side in one run: cell after cell on one
emulated device; `--jobs 2 --devices emulated-a,emulated-b`; a two-node Ray cluster on this machine
(Ray's cluster utilities, one emulated device a node). Each way starts from an empty artifact cache,
so exports are timed for real; copy bandwidth is measured before and after.

    .venv/bin/python benchmarks/bench_scale.py            # 4 cards × onnx fp32/int4 with random weights

Writes benchmarks/results/scale.json.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_peers import memory_bandwidth_bytes_s  # noqa: E402
from timing import use_fresh_artifact_cache  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SPEC = """name: scale-bench
models:
  - {model: smollm-135m, random_weights: true}
  - {model: smollm2-135m, random_weights: true}
  - {model: qwen2.5-0.5b, random_weights: true}
  - {model: qwen3-0.6b, random_weights: true}
backends:
  onnx: [fp32, int4]
prompt_lengths: [64]
decode_tokens: 32
threads: [1]
repeats: 3
max_seq_len: 256
verify_steps: 8
eval: false
"""


def timed(label: str, run) -> dict:
    use_fresh_artifact_cache()
    out = Path(tempfile.mkdtemp(prefix=f"bench-scale-{label}-"))
    started = time.perf_counter()
    state = run(out)
    wall = time.perf_counter() - started
    cells = state["cells"]
    shutil.rmtree(out, ignore_errors=True)
    return {"way": label, "wall_s": round(wall, 1), "complete": sum(c["status"] == "complete" for c in cells.values()),
            "failed": {n: c["error"] for n, c in cells.items() if c["status"] == "failed"},
            "devices": sorted({c.get("device", "emulated") for c in cells.values()})}


def main() -> None:
    from slm_edge.workflows.scale import parallel_sweep, ray_sweep
    from slm_edge.workflows.sweep import load_spec, run_sweep

    spec_path = Path(tempfile.mkdtemp()) / "spec.yaml"
    spec_path.write_text(SPEC)
    spec = load_spec(spec_path)
    quiet = lambda line: print(f"  {line}", flush=True)  # noqa: E731
    bandwidth_before = memory_bandwidth_bytes_s()
    results = [timed("sequential", lambda out: run_sweep(spec, out, progress=quiet)),
               timed("jobs2-devices2", lambda out: parallel_sweep(spec, out, jobs=2, devices=["emulated-a", "emulated-b"],
                                                                  progress=quiet))]
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "resources": {"slm_edge_devices": 1, "device:emulated-a": 1}, "include_dashboard": False})
    cluster.add_node(num_cpus=1, resources={"slm_edge_devices": 1, "device:emulated-b": 1})
    try:
        store = tempfile.mkdtemp(prefix="bench-scale-store-")
        results.append(timed("ray-2-nodes", lambda out: ray_sweep(spec, out, address=cluster.address,
                                                                 store=f"file://{store}", progress=quiet)))
    finally:
        cluster.shutdown()
    bandwidth_after = memory_bandwidth_bytes_s()
    base = results[0]["wall_s"]
    for r in results:
        r["speedup_vs_sequential"] = round(base / r["wall_s"], 2)
    document = {"cells": len(spec.cells), "cores": 2, "copy_bandwidth_gb_s": [round(bandwidth_before / 1e9, 1),
                                                                               round(bandwidth_after / 1e9, 1)],
                "results": results, "date": time.strftime("%Y-%m-%d %H:%M")}
    (ROOT / "benchmarks" / "results" / "scale.json").write_text(json.dumps(document, indent=2) + "\n")
    print(json.dumps(document, indent=2))


if __name__ == "__main__":
    main()
