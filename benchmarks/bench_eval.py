"""How long `slm-edge eval` takes on the default (4,096 scored tokens, context 512, prose) per engine,
and where the time goes; the reference's logits are computed once (timed apart) and read from the
cache after that. Engines interleaved per round so the machine's drift hits all alike.

    .venv/bin/python benchmarks/bench_eval.py [ARTIFACT_DIR ...] [--rounds 3] [--out benchmarks/results]

Without ARTIFACT_DIR the embedded default is exported to ONNX int4 (the main job's recipe, cached) and
evaluated on onnxruntime (our loop; one forward per chunk, and one token a step as the phone does) and
onnxruntime-genai (one append_tokens a chunk; its "logits" output holds every position); an ExecuTorch
artifact given as ARTIFACT_DIR is evaluated on executorch: one forward a chunk when it was exported with
--full-logits, else one token a step.
Goal (issue 14): within 60 s per engine with the reference cached.
"""

from __future__ import annotations

import timing  # noqa: F401  (first: keeps torch's OpenMP threads off the runtime's cores)

import argparse
import json
import statistics
import time
from pathlib import Path

from bench_peers import _machine, memory_bandwidth_bytes_s

HERE = Path(__file__).resolve().parent
GOAL_S = 60.0


def default_artifact() -> Path:
    """The main job's artifact (export_recipes/default-onnx-int4.yaml), exported by the CLI (seconds)."""
    import subprocess
    import sys

    from slm_edge.cache import cache_root

    out = cache_root() / "bench" / "default-onnx-int4"
    subprocess.run([sys.executable, "-m", "slm_edge", "export", "--recipe",
                    str(HERE.parent / "export_recipes" / "default-onnx-int4.yaml"), "--out", str(out)],
                   check=True, capture_output=True)
    return out


def rows_for(folder: Path) -> list[tuple[str, str, str | None]]:
    from slm_edge.records.manifest import Manifest

    manifest = Manifest.read(folder)
    scheme = manifest.quantization.scheme
    if manifest.backend == "executorch":
        feed = "prefill" if manifest.runtime.full_logits else "steps"
        return [(f"{scheme} executorch ({feed}{', --full-logits' if manifest.runtime.full_logits else ''})",
                 "executorch", feed)]
    rows = [(f"{scheme} onnxruntime (prefill)", "onnxruntime", "prefill"),
            (f"{scheme} onnxruntime (steps)", "onnxruntime", "steps")]
    if "onnxruntime-genai" in manifest.engines:
        rows.append((f"{scheme} onnxruntime-genai (prefill)", "onnxruntime-genai", "prefill"))
    return rows


def main() -> None:
    from slm_edge.quality.evaluate import EvalRequest, evaluate_artifact

    parser = argparse.ArgumentParser()
    parser.add_argument("artifacts", nargs="*", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=4096)
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()
    folders = args.artifacts or [default_artifact()]
    rows = [(folder, *row) for folder in folders for row in rows_for(folder)]
    bandwidth = memory_bandwidth_bytes_s()
    first = {}
    for folder, name, engine, feed in rows:  # the reference's logits: computed once per model, then cached
        entry = evaluate_artifact(folder, EvalRequest(tokens=args.tokens, engine=engine, feed=feed, threads=2))
        first[name] = entry["timing"]
    timings: dict[str, list[dict]] = {name: [] for _, name, _, _ in rows}
    summaries = {}
    for round_index in range(args.rounds):
        order = rows if round_index % 2 == 0 else list(reversed(rows))
        for folder, name, engine, feed in order:
            entry = evaluate_artifact(folder, EvalRequest(tokens=args.tokens, engine=engine, feed=feed, threads=2))
            timings[name].append(entry["timing"])
            summaries[name] = entry["summary"]
    table = []
    for _, name, _, _ in rows:
        totals = [t["total_s"] for t in timings[name]]
        parts = {part: statistics.median(t[part] for t in timings[name])
                 for part in ("tokenize_s", "load_s", "artifact_s", "reference_read_s", "figures_s")}
        table.append({"row": name, "total_s_median": statistics.median(totals), "total_s_min": min(totals),
                      "total_s_max": max(totals), "parts_median_s": parts,
                      "first_run_reference_s": first[name]["reference_s"],
                      "scored_tokens": summaries[name]["scored_tokens"], "kl_mean": summaries[name]["kl_mean"],
                      "within_goal": max(totals) <= GOAL_S})
    result = {"when": time.strftime("%Y-%m-%d %H:%M"), "machine": _machine(), "memory_bandwidth_gb_s": bandwidth / 1e9,
              "rounds": args.rounds, "tokens": args.tokens, "goal_s": GOAL_S, "rows": table}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "eval_speed.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"memory bandwidth (copy) {bandwidth / 1e9:.1f} GB/s; {args.rounds} rounds, {args.tokens} scored tokens")
    print("| engine | total s (median, min–max) | artifact s | reference read s | figures s | tokenize s | load s |")
    print("|---|---|---|---|---|---|---|")
    for row in table:
        p = row["parts_median_s"]
        print(f"| {row['row']} | {row['total_s_median']:.1f} ({row['total_s_min']:.1f}–{row['total_s_max']:.1f}) | "
              f"{p['artifact_s']:.1f} | {p['reference_read_s']:.1f} | {p['figures_s']:.1f} | {p['tokenize_s']:.1f} | "
              f"{p['load_s']:.1f} |")
    print("first run's reference computation: " + ", ".join(f"{r['row']} {r['first_run_reference_s']:.1f} s" for r in table))


if __name__ == "__main__":
    main()
