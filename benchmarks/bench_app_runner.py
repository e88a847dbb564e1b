"""The profiler app's own Java loop (core + ONNX engine on this machine's JVM, desktop onnxruntime)
against the Linux runner (Python, onnxruntime's Python API) on the same ONNX artifact and settings,
interleaved in one run (A B, B A, A B, ...) so drift hits both alike; figures as ratios app/python
per round, with their spread and the machine's measured memory bandwidth.

    .venv/bin/python benchmarks/bench_app_runner.py [ARTIFACT_DIR] [--rounds 3] [--out benchmarks/results]

Without ARTIFACT_DIR the embedded default (SmolLM2-135M-Instruct) is exported to ONNX int4 (cached).
Goal (issue 13): the Java loop decodes at >= 0.95x the Python loop's tok/s.
"""

from __future__ import annotations

import timing  # noqa: F401  (first: keeps torch's OpenMP threads off the runtime's cores)

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from bench_peers import _machine, memory_bandwidth_bytes_s

HERE = Path(__file__).resolve().parent
GOAL_DECODE_RATIO = 0.95


def default_artifact() -> Path:
    from slm_edge.export import ExportRequest, export_model
    from slm_edge.sources import resolve_source

    return export_model(resolve_source("smollm2-135m"), ExportRequest(backend="onnx", quant="int4", block_size=32),
                        None).folder


def profile_once(artifact: Path, runner: str, args, work: Path) -> dict:
    from slm_edge.device.local import LocalDevice
    from slm_edge.profile import ProfileOptions, profile_artifact

    options = ProfileOptions(prompt_lengths=[args.prompt_tokens], decode_tokens=args.decode_tokens,
                             repeats=args.repeats, warmup=1, threads=[args.threads], engine="onnxruntime")
    outcome = profile_artifact(artifact, LocalDevice(runner=runner), options, work)
    row = outcome.analysis["rows"][-1]
    return {"decode_tok_s": row["decode_tok_s"]["median"], "prefill_tok_s": row["prefill_tok_s"]["median"],
            "producer": outcome.trace["producer"]["name"]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("artifact", type=Path, nargs="?")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--prompt-tokens", type=int, default=128)
    parser.add_argument("--decode-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()

    artifact = args.artifact or default_artifact()
    bandwidth = memory_bandwidth_bytes_s()
    rounds = []
    with tempfile.TemporaryDirectory() as tmp:
        for index in range(args.rounds):
            order = ("python", "app") if index % 2 == 0 else ("app", "python")
            measured = {runner: profile_once(artifact, runner, args, Path(tmp) / f"{index}-{runner}") for runner in order}
            rounds.append({"order": list(order), **measured,
                           "decode_ratio": measured["app"]["decode_tok_s"] / measured["python"]["decode_tok_s"],
                           "prefill_ratio": measured["app"]["prefill_tok_s"] / measured["python"]["prefill_tok_s"]})
            print(f"round {index + 1}: " + ", ".join(
                f"{r} decode {measured[r]['decode_tok_s']:.1f} prefill {measured[r]['prefill_tok_s']:.1f} tok/s"
                for r in order) + f"; app/python decode {rounds[-1]['decode_ratio']:.3f}x "
                                  f"prefill {rounds[-1]['prefill_ratio']:.3f}x")

    def spread(key: str) -> dict:
        values = [r[key] for r in rounds]
        return {"median": statistics.median(values), "min": min(values), "max": max(values)}

    figures = {
        "date": time.strftime("%Y-%m-%d"), "machine": _machine(), "artifact": str(artifact),
        "memory_bandwidth_gb_s": bandwidth / 1e9, "prompt_tokens": args.prompt_tokens,
        "decode_tokens": args.decode_tokens, "repeats": args.repeats, "threads": args.threads, "rounds": rounds,
        "decode_ratio": spread("decode_ratio"), "prefill_ratio": spread("prefill_ratio"),
        "python_decode_tok_s": {"values": [r["python"]["decode_tok_s"] for r in rounds]},
        "app_decode_tok_s": {"values": [r["app"]["decode_tok_s"] for r in rounds]},
        "goal_decode_ratio": GOAL_DECODE_RATIO,
        "goal_met": spread("decode_ratio")["median"] >= GOAL_DECODE_RATIO,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "app_runner.json").write_text(json.dumps(figures, indent=2) + "\n")
    d, p = figures["decode_ratio"], figures["prefill_ratio"]
    summary = (f"# App runner vs Python runner — {figures['date']}\n\nMachine: {figures['machine']}; copy bandwidth "
               f"{figures['memory_bandwidth_gb_s']:.1f} GB/s. Artifact {artifact.name}, prompt {args.prompt_tokens}, "
               f"{args.decode_tokens} decode steps, {args.repeats} repeats, {args.threads} threads, {args.rounds} "
               f"interleaved rounds.\n\n| | median | min | max |\n|---|---|---|---|\n"
               f"| decode app/python | {d['median']:.3f}x | {d['min']:.3f}x | {d['max']:.3f}x |\n"
               f"| prefill app/python | {p['median']:.3f}x | {p['min']:.3f}x | {p['max']:.3f}x |\n\n"
               f"Python decode tok/s per round: {', '.join(f'{v:.1f}' for v in figures['python_decode_tok_s']['values'])}; "
               f"app: {', '.join(f'{v:.1f}' for v in figures['app_decode_tok_s']['values'])}. Goal decode ratio >= "
               f"{GOAL_DECODE_RATIO}: {'met' if figures['goal_met'] else 'missed'}.\n")
    (args.out / "app_runner.md").write_text(summary)
    print(summary)


if __name__ == "__main__":
    main()
