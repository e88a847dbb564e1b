"""ExecuTorch artifact benchmark on the embedded default (SmolLM2-135M-Instruct).

Exports the model (unless cached; --fresh exports into an empty cache so the export time is real),
then runs a 128-token prefill followed by 64 single-token decode steps, several times, with the
ExecuTorch runtime on N threads, and prints prefill/decode tok/s and the export wall time.

    .venv/bin/python benchmarks/bench_executorch.py --quant 8da4w --threads 2 [--fresh]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import timing  # noqa: F401  (first: keeps torch's OpenMP threads off the runtime's cores)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--quant", default="8da4w")
    parser.add_argument("--group-size", type=int, default=32)
    parser.add_argument("--embedding-quant", default="8w")
    parser.add_argument("--path", default="auto")
    parser.add_argument("--max-seq-len", type=int, default=1024)
    parser.add_argument("--prompt-tokens", type=int, default=128)
    parser.add_argument("--decode-tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--fresh", action="store_true", help="export into an empty artifact cache (times the export)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    if args.fresh:
        timing.use_fresh_artifact_cache()

    import torch

    from slm_edge.export import ExportRequest, export_model
    from slm_edge.progress import StageTimer
    from slm_edge.runtime.executorch_llm import EtLlm
    from slm_edge.model.sources import resolve_source

    source = resolve_source(args.model)
    request = ExportRequest(quant=args.quant, group_size=args.group_size, embedding_quant=args.embedding_quant,
                            max_seq_len=args.max_seq_len, path=args.path)
    started = time.perf_counter()
    outcome = export_model(source, request, None, timer=StageTimer())
    export_seconds = time.perf_counter() - started
    manifest = outcome.manifest

    llm = EtLlm(outcome.folder / manifest.model_file, threads=args.threads)
    torch.manual_seed(0)
    prompt = torch.randint(100, manifest.architecture.vocab_size - 100, (args.prompt_tokens,)).tolist()
    timed = timing.time_engine(llm, prompt, args.decode_tokens, args.repeats)
    figures = {
        "model": args.model,
        "quant": args.quant,
        "export_path": manifest.export_path,
        "threads": args.threads,
        "prompt_tokens": args.prompt_tokens,
        "decode_tokens": args.decode_tokens,
        "repeats": args.repeats,
        **timed,
        "pte_bytes": manifest.files["model.pte"].bytes,
        "export_wall_s_this_run": round(export_seconds, 1),
        "export_from_cache": outcome.from_cache,
        "export_wall_s_manifest": manifest.export.wall_seconds,
        "export_stage_s": dict(manifest.export.stage_seconds),
    }
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
