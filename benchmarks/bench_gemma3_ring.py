"""Gemma 3's sliding-window layers with a ring cache against a cache of every position, side by side.

The same card (random weights, 8da4w g32, 8-bit embedding) exported twice at one long context:
`--prefill-chunk CHUNK` (each window layer keeps window + CHUNK - 1 slots, prompts fed CHUNK tokens a
forward) and `--prefill-chunk CONTEXT` (no ring: every layer keeps every position, the prompt in one
forward). Both are profiled by slm-edge's runner on the emulated device with a prompt long enough that
decode runs past the ring's end, rounds interleaved with the order reversed every other round. Reported:
predicted and measured peak memory, prefill and decode tok/s per round, ratios ring / full in each
round, the copy bandwidth before and after, export times.

    .venv/bin/python benchmarks/bench_gemma3_ring.py [--card gemma-3-270m] [--context 4096] [--chunk 128]
        [--prompt-tokens 1024] [--decode-tokens 64] [--rounds 3] [--ring DIR] [--full DIR]
"""

from __future__ import annotations

import timing  # noqa: F401  (first: keeps torch's OpenMP threads off the runtime's cores)

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from bench_gemma3 import artifact_folder
from bench_peers import _machine, memory_bandwidth_bytes_s, run_slm_edge

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--card", default="gemma-3-270m")
    parser.add_argument("--context", type=int, default=4096)
    parser.add_argument("--chunk", type=int, default=128)
    parser.add_argument("--prompt-tokens", type=int, default=1024)
    parser.add_argument("--decode-tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--ring", type=Path, help="the ring artifact (default: export it)")
    parser.add_argument("--full", type=Path, help="the every-position artifact (default: export it)")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()

    from slm_edge.analysis.run import analyze
    from slm_edge.records.manifest import Manifest

    folders = {"ring": artifact_folder(args.card, args.ring, args.context, prefill_chunk=args.chunk),
               "full": artifact_folder(args.card, args.full, args.context, prefill_chunk=args.context)}
    manifests = {name: Manifest.read(folder) for name, folder in folders.items()}
    slots = (manifests["ring"].runtime.kv_cache or {}).get("sliding_window_slots")
    if not slots or manifests["full"].runtime.kv_cache:
        raise SystemExit("the artifacts are not a ring and an every-position program of one card")
    artifacts = {name: type("Artifact", (), {"folder": folder})() for name, folder in folders.items()}

    bandwidth_before = memory_bandwidth_bytes_s()
    work = Path(tempfile.mkdtemp(prefix="slm-edge-gemma3-ring-"))
    rounds = []
    for index in range(args.rounds):
        measured = {}
        for name in (list(folders) if index % 2 == 0 else list(reversed(folders))):
            trace = run_slm_edge(artifacts[name], "executorch", args.threads, args, work / f"r{index}-{name}")
            analysis = analyze(trace).to_json()
            row, memory = analysis["rows"][0], analysis["memory_breakdown"]
            measured[name] = {"prefill_tok_s": row["prefill_tok_s"]["median"], "decode_tok_s": row["decode_tok_s"]["median"],
                              "predicted_bytes": memory["predicted"]["total_bytes"],
                              "peak_bytes": memory["measured"]["peak_bytes"], "memory_error": memory["prediction_error"]}
        rounds.append(measured)
        print(f"round {index + 1}: " + "; ".join(f"{n} prefill {m['prefill_tok_s']:.0f} decode {m['decode_tok_s']:.1f} "
                                                 f"peak {m['peak_bytes'] / 2**20:.0f} MiB" for n, m in measured.items()),
              flush=True)
    bandwidth_after = memory_bandwidth_bytes_s()

    rows = {}
    for name, manifest in manifests.items():
        series = {key: [r[name][key] for r in rounds] for key in rounds[0][name]}
        rows[name] = {
            "prefill_tok_s_rounds": [round(v, 1) for v in series["prefill_tok_s"]],
            "decode_tok_s_rounds": [round(v, 1) for v in series["decode_tok_s"]],
            "predicted_mib": round(statistics.median(series["predicted_bytes"]) / 2**20, 1),
            "kv_cache_predicted_mib": round(manifest.predicted_memory.kv_cache_bytes / 2**20, 1),
            "peak_mib_rounds": [round(v / 2**20, 1) for v in series["peak_bytes"]],
            "memory_error_rounds": [round(v, 4) for v in series["memory_error"]],
            "export_s": manifest.export.wall_seconds,
            "export_peak_rss_mib": round((manifest.export.peak_rss_bytes or 0) / 2**20),
            "max_chunk": manifest.runtime.metadata.get("get_max_seq_len"),
        }
    ratios = {key: [r["ring"][key] / r["full"][key] for r in rounds] for key in ("prefill_tok_s", "decode_tok_s", "peak_bytes")}
    figures = {"date": time.strftime("%Y-%m-%d %H:%M"), "machine": _machine(), "card": args.card,
               "context": args.context, "chunk": args.chunk, "ring_slots": slots,
               "memory_bandwidth_gb_s": [round(bandwidth_before / 1e9, 1), round(bandwidth_after / 1e9, 1)],
               "rounds": args.rounds, "repeats": args.repeats, "threads": args.threads,
               "prompt_tokens": args.prompt_tokens, "decode_tokens": args.decode_tokens,
               "artifacts": {n: str(f) for n, f in folders.items()}, "rows": rows,
               "ring_over_full": {k: {"median": statistics.median(v), "min": min(v), "max": max(v)} for k, v in ratios.items()}}
    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"gemma3_ring_{args.card}_{args.context}"
    (args.out / f"{stem}.json").write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
