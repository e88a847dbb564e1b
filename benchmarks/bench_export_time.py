"""ExecuTorch export wall time per model and scheme, with slm-edge's lowering and, for comparison in the
same run, with executorch's own (`--before`): strict torch.export with LLMEdgeManager._export's
functionalization, and to_edge_transform_and_lower with only the decomposition skip that predates
issue 15 (byte-identical to executorch's, see tests/test_export_executorch.py).

Each export is fresh (force=True, own artifact folder) and runs in its own process, so neither its time
nor its memory carries what an earlier row left behind. Per row: wall seconds, seconds per stage, the
exporting process's peak RSS (VmHWM, reset when the export begins), the .pte's size and sha256; the
machine's copy bandwidth is measured before and after the rows (the machine drifts).

    .venv/bin/python benchmarks/bench_export_time.py [--models smollm2-135m,qwen2.5-0.5b] [--schemes 8da4w]
        [--before] [--random-weights] [--out benchmarks/results]

`smollm2-135m` is the embedded default (real weights, GGUF grids kept); with --random-weights every
model is its architecture card with random weights. Rows are appended to export_time.json as they are
measured, so a failing row loses nothing measured before it.
"""

from __future__ import annotations

import timing  # noqa: F401  (first: keeps torch's OpenMP threads off the runtime's cores)

import argparse
import contextlib
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_peers import _machine, memory_bandwidth_bytes_s

HERE = Path(__file__).resolve().parent


@contextlib.contextmanager
def executorch_own_lowering():
    """The export as it was before issue 15's changes: executorch's LLMEdgeManager._export (strict,
    with its functionalization) and no lowering patch but the decomposition skip."""
    import slm_edge.export.executorch.fast as fast
    import slm_edge.export.executorch.lower as lower
    from slm_edge.export.executorch import patches

    saved = fast._export_for_lowering, lower.faster_lowering, lower.decompose_once
    fast._export_for_lowering = lambda manager: manager._export()
    lower.faster_lowering = patches.skip_decompositions_that_match_nothing
    lower.decompose_once = lambda program, partitioners: program
    try:
        yield
    finally:
        fast._export_for_lowering, lower.faster_lowering, lower.decompose_once = saved


def export_once(model: str, scheme: str, random_weights: bool, folder: Path) -> dict:
    from slm_edge.export import ExportRequest, export_model
    from slm_edge.model.sources import resolve_source
    from slm_edge.progress import StageTimer

    source = resolve_source(model, random_weights=random_weights)
    request = ExportRequest(quant=scheme, group_size=32 if scheme == "8da4w" else 0,
                            embedding_quant="8w" if scheme != "fp32" else "none", max_seq_len=1024)
    started = time.perf_counter()
    outcome = export_model(source, request, folder, force=True, timer=StageTimer(quiet=True))
    wall = time.perf_counter() - started
    manifest = outcome.manifest
    return {"wall_s": round(wall, 1), "stage_s": {k: round(v, 1) for k, v in manifest.export.stage_seconds.items()},
            "peak_rss_mib": round((manifest.export.peak_rss_bytes or 0) / 2**20),
            "peak_rss_scope": manifest.export.peak_rss_scope,
            "pte_mib": round(manifest.files["model.pte"].bytes / 2**20, 1),
            "pte_sha256": hashlib.sha256((outcome.folder / "model.pte").read_bytes()).hexdigest()[:16],
            "delegate_calls": manifest.runtime.delegation["delegate_calls"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="smollm2-135m")
    parser.add_argument("--schemes", default="8da4w")
    parser.add_argument("--before", action="store_true", help="also export with executorch's own lowering")
    parser.add_argument("--random-weights", action="store_true")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # a row, measured in this process (the parent's child)
    args = parser.parse_args()
    timing.use_fresh_artifact_cache()
    if args.one:
        row = json.loads(args.one)
        with executorch_own_lowering() if row["lowering"] == "before" else contextlib.nullcontext():
            print(json.dumps(export_once(row["model"], row["scheme"], row["random_weights"], Path(row["folder"]))))
        return
    work = Path(tempfile.mkdtemp(prefix="slm-edge-export-time-"))
    args.out.mkdir(parents=True, exist_ok=True)
    figures = {"date": time.strftime("%Y-%m-%d %H:%M"), "machine": _machine(),
               "copy_bandwidth_gb_s_before": round(memory_bandwidth_bytes_s() / 1e9, 1), "rows": []}
    for model in args.models.split(","):
        for scheme in args.schemes.split(","):
            for lowering in (("before", "after") if args.before else ("after",)):
                row = {"model": model, "random_weights": args.random_weights or model != "smollm2-135m",
                       "scheme": scheme, "lowering": lowering}
                folder = work / f"{model}-{scheme}-{lowering}"
                child = subprocess.run([sys.executable, __file__, "--one", json.dumps({**row, "folder": str(folder)})],
                                       capture_output=True, text=True)
                measured = [line for line in child.stdout.splitlines() if line.startswith("{")]
                if child.returncode == 0 and measured:
                    row.update(json.loads(measured[-1]))
                else:  # a failing row is recorded; the others still run
                    row["error"] = (child.stderr.strip().splitlines() or ["no output"])[-1][:500]
                figures["rows"].append(row)
                print(json.dumps(row), flush=True)
                (args.out / "export_time.json").write_text(json.dumps(figures, indent=2) + "\n")
    figures["copy_bandwidth_gb_s_after"] = round(memory_bandwidth_bytes_s() / 1e9, 1)
    (args.out / "export_time.json").write_text(json.dumps(figures, indent=2) + "\n")
    print(f"copy bandwidth {figures['copy_bandwidth_gb_s_before']} → {figures['copy_bandwidth_gb_s_after']} GB/s")


if __name__ == "__main__":
    main()
