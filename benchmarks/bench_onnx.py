"""ONNX vs ExecuTorch on the embedded default (SmolLM2-135M-Instruct), side by side in one run.

Exports (into a fresh artifact cache with --fresh, so export times are real): the ONNX int4
artifact through onnxruntime-genai's builder and through the generic torch.onnx path, and takes
the ExecuTorch 8da4w artifact from the cache (exporting it only with --with-executorch-export:
that takes minutes). Then, interleaved round by round so drift hits all alike: prompt of 128
tokens, 64 greedy decode steps, 2 threads, on
  * builder int4 in onnxruntime with our KV-cache loop (what the phone runs),
  * builder int4 in onnxruntime-genai,
  * generic int4 in onnxruntime with our loop,
  * ExecuTorch 8da4w (if available).
Prints tok/s, the ratio to the builder+genai figure, artifact sizes and export times.

    .venv/bin/python benchmarks/bench_onnx.py [--fresh] [--threads 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import timing  # noqa: F401  (first: keeps torch's OpenMP threads off the runtime's cores)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--block-size", type=int, default=32)
    parser.add_argument("--max-seq-len", type=int, default=1024)
    parser.add_argument("--prompt-tokens", type=int, default=128)
    parser.add_argument("--decode-tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per engine per round")
    parser.add_argument("--fresh", action="store_true", help="export ONNX into an empty artifact cache")
    parser.add_argument("--with-executorch-export", action="store_true", help="export ExecuTorch 8da4w if not cached")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    from slm_edge import cache

    executorch_cache = cache.root_for("artifacts")
    if args.fresh:
        timing.use_fresh_artifact_cache()

    import torch

    from slm_edge.runtime.engines import load_engine
    from slm_edge.export import ExportRequest, cache_key, choose_path, export_model
    from slm_edge.progress import StageTimer
    from slm_edge.model.sources import resolve_source

    source = resolve_source(args.model)
    artifacts, exports = {}, {}
    for path in ("fast", "generic"):
        request = ExportRequest(backend="onnx", quant="int4", block_size=args.block_size, max_seq_len=args.max_seq_len,
                                path=path)
        started = time.perf_counter()
        outcome = export_model(source, request, None, timer=StageTimer())
        exports[f"onnx-{path}"] = {"wall_s_this_run": round(time.perf_counter() - started, 1),
                                   "from_cache": outcome.from_cache,
                                   "manifest_wall_s": outcome.manifest.export.wall_seconds,
                                   "bytes": outcome.manifest.model_bytes}
        artifacts[f"onnx-{path}"] = outcome
    et_request = ExportRequest(quant="8da4w", group_size=32, embedding_quant="8w", max_seq_len=args.max_seq_len)
    et_path, _ = choose_path(source.config, "auto")
    et_cached = executorch_cache / cache_key(source, et_request, et_path)
    if (et_cached / "manifest.json").is_file() or args.with_executorch_export:
        os.environ["SLM_EDGE_CACHE"] = str(executorch_cache.parent)
        outcome = export_model(source, et_request, None, timer=StageTimer())
        artifacts["executorch-8da4w"] = outcome
        exports["executorch-8da4w"] = {"from_cache": outcome.from_cache, "manifest_wall_s": outcome.manifest.export.wall_seconds,
                                       "bytes": outcome.manifest.files["model.pte"].bytes}

    engines = {
        "onnx builder int4 · onnxruntime (our loop)": ("onnx-fast", "onnxruntime"),
        "onnx builder int4 · onnxruntime-genai": ("onnx-fast", "onnxruntime-genai"),
        "onnx generic int4 · onnxruntime (our loop)": ("onnx-generic", "onnxruntime"),
        "executorch 8da4w · executorch": ("executorch-8da4w", "executorch"),
    }
    loaded = {label: load_engine(artifacts[a].folder, artifacts[a].manifest, engine, threads=args.threads)
              for label, (a, engine) in engines.items() if a in artifacts}
    torch.manual_seed(0)
    prompt = torch.randint(100, source.config["vocab_size"] - 100, (args.prompt_tokens,)).tolist()
    runs: dict[str, list[dict]] = {label: [] for label in loaded}
    for _ in range(args.rounds):
        for label, llm in loaded.items():
            runs[label].append(timing.time_engine(llm, prompt, args.decode_tokens, args.repeats))
    baseline = "onnx builder int4 · onnxruntime-genai"
    median = lambda values: sorted(values)[len(values) // 2]  # noqa: E731
    table = {}
    for label, measured in runs.items():
        table[label] = {"prefill_tok_s": median([m["prefill_tok_s"] for m in measured]),
                        "decode_tok_s": median([m["decode_tok_s"] for m in measured])}
    for label, row in table.items():
        row["prefill_vs_genai"] = round(row["prefill_tok_s"] / table[baseline]["prefill_tok_s"], 3)
        row["decode_vs_genai"] = round(row["decode_tok_s"] / table[baseline]["decode_tok_s"], 3)
    figures = {"model": args.model, "threads": args.threads, "prompt_tokens": args.prompt_tokens,
               "decode_tokens": args.decode_tokens, "rounds": args.rounds, "engines": table, "exports": exports}
    print(f"{'engine':48} {'prefill tok/s':>14} {'decode tok/s':>13} {'× genai (p/d)':>15}")
    for label, row in table.items():
        print(f"{label:48} {row['prefill_tok_s']:14.1f} {row['decode_tok_s']:13.1f} "
              f"{row['prefill_vs_genai']:7.2f}/{row['decode_vs_genai']:.2f}")
    for name, export in exports.items():
        print(f"export {name:20} {export.get('manifest_wall_s')} s{' (cached)' if export['from_cache'] else ''}, "
              f"{export['bytes'] / 2**20:.1f} MiB")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
