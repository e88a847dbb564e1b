"""A sustained run of the embedded default (SmolLM2-135M, ONNX int4) on the emulated device: decode
tok/s over time and the throttling figures, with copy bandwidth before and after.

    .venv/bin/python benchmarks/bench_sustained.py                 # 300 s at 2 threads
    .venv/bin/python benchmarks/bench_sustained.py --seconds 600 --threads 1

Exports the default first when out/smollm2-135m-onnx-int4 is missing. Writes
benchmarks/results/sustained.json; the run folder (report.html with the time plots) is kept in
runs/bench-sustained.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_peers import memory_bandwidth_bytes_s  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ARTIFACT = ROOT / "out" / "smollm2-135m-onnx-int4"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--threads", default="2")
    args = parser.parse_args()
    cli = str(ROOT / ".venv" / "bin" / "slm-edge")
    if not (ARTIFACT / "manifest.json").is_file():
        subprocess.run([cli, "export", "smollm2-135m", "--backend", "onnx", "--quant", "int4", "--out", str(ARTIFACT)],
                       check=True)
    out = ROOT / "runs" / "bench-sustained"
    command = [cli, "profile", str(ARTIFACT), "--emulated", "--sustained", f"{args.seconds:g}", "--prompt-lengths", "64",
               "--threads", args.threads, "--out", str(out)]
    before = memory_bandwidth_bytes_s()
    started = time.perf_counter()
    subprocess.run(command, check=True)
    wall = time.perf_counter() - started
    after = memory_bandwidth_bytes_s()
    report = json.loads((out / "report.json").read_text())
    figures = {k: v for k, v in report["sustained"].items() if k != "points"}
    document = {"command": " ".join(command[1:]), "wall_s": round(wall, 1), "sustained": figures,
                "tok_s_over_time": [[round(p["t_s"], 1), round(p["tok_s"], 1)] for p in report["sustained"]["points"]],
                "energy": report.get("energy"), "copy_bandwidth_gb_s": [round(before / 1e9, 1), round(after / 1e9, 1)],
                "date": time.strftime("%Y-%m-%d %H:%M")}
    (ROOT / "benchmarks" / "results" / "sustained.json").write_text(json.dumps(document, indent=2) + "\n")
    print(json.dumps({k: v for k, v in document.items() if k != "tok_s_over_time"}, indent=2))


if __name__ == "__main__":
    main()
