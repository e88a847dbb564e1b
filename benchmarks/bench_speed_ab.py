"""Prefill and decode speed of two or more artifacts side by side, as ratios to the first one.

For a change that trades speed for quality (a GGUF's grids kept, an accuracy level): each round runs every
artifact once (the order reversed every other round, so drift hits all alike), with the runner's own
prefill and decode loops (benchmarks/timing.py), each artifact on its manifest's first engine unless
`--engine` names one. Ratios are taken per round, then the median and the min–max over rounds are given,
with the machine's copy bandwidth.

    .venv/bin/python benchmarks/bench_speed_ab.py BASELINE_DIR OTHER_DIR [...] [--rounds 6] [--json out.json]
"""

from __future__ import annotations

import timing  # noqa: F401  (first: keeps torch's OpenMP threads off the runtime's cores)

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from bench_peers import _machine, memory_bandwidth_bytes_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("artifacts", nargs="+", type=Path)
    parser.add_argument("--engine", help="engine for every artifact (default: each manifest's first)")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per artifact per round")
    parser.add_argument("--prompt-tokens", type=int, default=128)
    parser.add_argument("--decode-tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if len(args.artifacts) < 2:
        sys.exit("give a baseline artifact and at least one other")

    import torch

    from slm_edge.records.manifest import Manifest
    from slm_edge.runtime.engines import load_engine

    names = [f"{i}:{a.name}" for i, a in enumerate(args.artifacts)]
    loaded = {}
    for name, folder in zip(names, args.artifacts):
        manifest = Manifest.read(folder)
        loaded[name] = load_engine(folder, manifest, args.engine or manifest.engines[0], threads=args.threads)
    vocab = Manifest.read(args.artifacts[0]).architecture.vocab_size
    torch.manual_seed(0)
    prompt = torch.randint(100, vocab - 100, (args.prompt_tokens,)).tolist()
    bandwidth = memory_bandwidth_bytes_s()
    rounds: list[dict] = []
    for index in range(args.rounds):
        order = names if index % 2 == 0 else list(reversed(names))
        rounds.append({name: timing.time_engine(loaded[name], prompt, args.decode_tokens, args.repeats)
                       for name in order})
    base = names[0]
    rows = {}
    for name in names:
        row = {}
        for phase in ("prefill", "decode"):
            speeds = [r[name][f"{phase}_tok_s"] for r in rounds]
            ratios = [r[name][f"{phase}_tok_s"] / r[base][f"{phase}_tok_s"] for r in rounds]
            row[phase] = {"tok_s_median": statistics.median(speeds), "tok_s_rounds": [round(s, 1) for s in speeds],
                          "ratio_median": statistics.median(ratios), "ratio_min": min(ratios), "ratio_max": max(ratios)}
        rows[name] = row
    result = {"when": time.strftime("%Y-%m-%d %H:%M"), "machine": _machine(),
              "memory_bandwidth_gb_s": round(bandwidth / 1e9, 1), "rounds": args.rounds, "repeats": args.repeats,
              "prompt_tokens": args.prompt_tokens, "decode_tokens": args.decode_tokens, "threads": args.threads,
              "artifacts": {n: str(a) for n, a in zip(names, args.artifacts)}, "rows": rows}
    print(f"{_machine()}; copy bandwidth {bandwidth / 1e9:.1f} GB/s; {args.rounds} rounds × {args.repeats} repeats, "
          f"prompt {args.prompt_tokens}, {args.decode_tokens} decode steps, {args.threads} threads")
    print("| artifact | prefill tok/s | × first (min–max) | decode tok/s | × first (min–max) |")
    print("|---|---:|---:|---:|---:|")
    for name, row in rows.items():
        p, d = row["prefill"], row["decode"]
        print(f"| {name} | {p['tok_s_median']:.0f} | {p['ratio_median']:.2f} ({p['ratio_min']:.2f}–{p['ratio_max']:.2f}) | "
              f"{d['tok_s_median']:.1f} | {d['ratio_median']:.2f} ({d['ratio_min']:.2f}–{d['ratio_max']:.2f}) |")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
