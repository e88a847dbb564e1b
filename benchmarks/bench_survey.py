"""The survey's study (sweeps/slm-survey.yaml) or a part of it, timed: wall time per cell (export and
profile), the copy bandwidth before and after, and the findings it produced.

    .venv/bin/python benchmarks/bench_survey.py                    # the quick subset: 5 cards on ONNX (~7 min)
    .venv/bin/python benchmarks/bench_survey.py --backends onnx --schemes int4 --models all

Writes benchmarks/results/survey_<label>.json and copies the sweep's findings.md beside it. The
sweep folder is kept (runs/bench-survey-<label>) so a rerun resumes instead of starting over; pass
--fresh to start over.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_peers import memory_bandwidth_bytes_s  # noqa: E402
from timing import use_fresh_artifact_cache  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "sweeps" / "slm-survey.yaml"
QUICK = "smollm-135m,smollm-360m,qwen2-0.5b,qwen1.5-0.5b,qwen3-0.6b"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=QUICK, help="comma-separated cards of the spec, or 'all'")
    parser.add_argument("--backends", default="onnx")
    parser.add_argument("--schemes", default=None)
    parser.add_argument("--label", default=None, help="results name [default: from the selection]")
    parser.add_argument("--fresh", action="store_true",
                        help="start the sweep folder over, with an empty artifact cache (exports timed for real)")
    args = parser.parse_args()
    label = args.label or ("quick" if args.models == QUICK and args.backends == "onnx" and not args.schemes
                           else f"{args.backends.replace(',', '-')}-{(args.schemes or 'all').replace(',', '-')}")
    out = ROOT / "runs" / f"bench-survey-{label}"
    fresh_cache = None
    if args.fresh:
        shutil.rmtree(out, ignore_errors=True)
        fresh_cache = use_fresh_artifact_cache()  # the sweep's subprocess inherits SLM_EDGE_CACHE
    command = [str(ROOT / ".venv" / "bin" / "slm-edge"), "sweep", str(SPEC), "--backends", args.backends, "--out", str(out)]
    if args.models != "all":
        command += ["--models", args.models]
    if args.schemes:
        command += ["--schemes", args.schemes]
    bandwidth_before = memory_bandwidth_bytes_s()
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT)
    wall = time.perf_counter() - started
    bandwidth_after = memory_bandwidth_bytes_s()
    state = json.loads((out / "sweep.json").read_text())
    findings = json.loads((out / "findings.json").read_text()) if (out / "findings.json").is_file() else {}
    result = {
        "command": " ".join(command[1:]), "returncode": done.returncode, "wall_s": round(wall, 1),
        "copy_bandwidth_gb_s": [round(bandwidth_before / 1e9, 1), round(bandwidth_after / 1e9, 1)],
        "cells": state["cells"],
        "seconds_per_backend": {backend: round(sum(c.get("seconds", 0) for name, c in state["cells"].items()
                                                   if f"-{backend}-" in name), 1)
                                for backend in args.backends.split(",")},
        "claims": {c["id"]: {"holds": c["holds"], "evidence": c["evidence"]} for c in findings.get("claims", [])},
    }
    results = ROOT / "benchmarks" / "results"
    (results / f"survey_{label}.json").write_text(json.dumps(result, indent=2) + "\n")
    if (out / "findings.md").is_file():
        shutil.copyfile(out / "findings.md", results / f"survey_{label}_findings.md")
    if fresh_cache is not None:
        shutil.rmtree(fresh_cache, ignore_errors=True)  # artifacts of the size of the models swept
    print(f"{label}: {wall / 60:.1f} min, copy bandwidth {result['copy_bandwidth_gb_s']} GB/s; "
          f"results in {results / f'survey_{label}.json'}")


if __name__ == "__main__":
    main()
