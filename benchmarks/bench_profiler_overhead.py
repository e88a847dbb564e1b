"""Instrumentation overhead: the same decode loop with the memory sampler on and off, interleaved
A B A B in one process so drift cancels; prints the median step time of each and their ratio.

    .venv/bin/python benchmarks/bench_profiler_overhead.py ARTIFACT_DIR [--threads 2] [--rounds 6]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import timing  # noqa: F401  (first: keeps torch's OpenMP threads off the runtime's cores)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("artifact", type=Path)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--prompt-tokens", type=int, default=128)
    parser.add_argument("--decode-tokens", type=int, default=64)
    parser.add_argument("--interval-ms", type=float, default=50.0)
    args = parser.parse_args()

    from slm_edge.records.manifest import Manifest
    from slm_edge.runner.loop import _one_run, prompt_for
    from slm_edge.runtime.executorch_llm import EtLlm
    from slm_edge.runner.samplers import Sampler

    manifest = Manifest.read(args.artifact)
    llm = EtLlm(args.artifact / manifest.model_file, threads=args.threads)
    prompt = prompt_for(args.prompt_tokens, manifest.architecture.vocab_size, 0)
    steps = {"sampling on": [], "sampling off": []}
    prefill = {"sampling on": [], "sampling off": []}
    _one_run(llm, Sampler(time.perf_counter_ns(), enabled=False), prompt, 8, 0)  # warm-up
    for round_index in range(args.rounds):
        for label in ("sampling on", "sampling off") if round_index % 2 == 0 else ("sampling off", "sampling on"):
            sampler = Sampler(time.perf_counter_ns(), args.interval_ms, enabled=label == "sampling on")
            sampler.start()
            record = _one_run(llm, sampler, prompt, args.decode_tokens, round_index)
            sampler.stop()
            steps[label].extend(record["decode_step_us"])
            prefill[label].append(record["prefill_ms"])
    on, off = statistics.median(steps["sampling on"]), statistics.median(steps["sampling off"])
    figures = {
        "artifact": str(args.artifact),
        "threads": args.threads,
        "sample_interval_ms": args.interval_ms,
        "decode_step_us_median_sampling_on": round(on, 1),
        "decode_step_us_median_sampling_off": round(off, 1),
        "decode_overhead_ratio": round(on / off, 4),
        "prefill_ms_median_sampling_on": round(statistics.median(prefill["sampling on"]), 2),
        "prefill_ms_median_sampling_off": round(statistics.median(prefill["sampling off"]), 2),
        "goal": "overhead <= 1% (ratio <= 1.01)",
        "goal_met": on / off <= 1.01,
    }
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
