"""Lowering with and without slm_edge/export/executorch/patches.py's skipped decompositions, side by side:
a tiny model of a card (the tests' TINY sizes) exported with force=True, off and on interleaved per round;
prints the "lower to XNNPACK" seconds and the .pte's sha256 (the patch must not change a byte).

    .venv/bin/python benchmarks/bench_lowering_ab.py [--card smollm2-135m] [--quant 8da4w] [--rounds 2]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--card", default="smollm2-135m")
    parser.add_argument("--quant", default="8da4w")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="slm-edge-lowering-ab-"))
    os.environ["SLM_EDGE_CACHE"] = str(work / "cache")
    sys.path.insert(0, str(HERE.parent / "tests"))
    from conftest import save_tiny_model

    import slm_edge.export.executorch.lower as lower
    from slm_edge.export import ExportRequest, export_model
    from slm_edge.export.executorch.patches import skip_decompositions_that_match_nothing
    from slm_edge.model.sources import resolve_source
    from slm_edge.progress import StageTimer

    source = resolve_source(str(save_tiny_model(work / "model", args.card)))
    request = ExportRequest(max_seq_len=64, quant=args.quant, embedding_quant="none" if args.quant == "fp32" else "8w")
    print("| round | patch | lower to XNNPACK s | export s | decompositions ran/skipped | .pte sha256 |")
    print("|---|---|---|---|---|---|")
    for round_index in range(args.rounds):
        for mode in ("off", "on") if round_index % 2 == 0 else ("on", "off"):
            counts: dict = {}
            lower.skip_decompositions_that_match_nothing = (
                (lambda: skip_decompositions_that_match_nothing(counts)) if mode == "on" else contextlib.nullcontext)
            timer = StageTimer(quiet=True)
            started = time.perf_counter()
            folder = export_model(source, request, work / f"out-{round_index}-{mode}", force=True, timer=timer).folder
            digest = hashlib.sha256((folder / "model.pte").read_bytes()).hexdigest()[:16]
            print(f"| {round_index + 1} | {mode} | {timer.seconds['lower to XNNPACK']:.1f} | "
                  f"{time.perf_counter() - started:.1f} | {counts.get('ran', '–')}/{counts.get('skipped', '–')} | {digest} |",
                  flush=True)


if __name__ == "__main__":
    main()
