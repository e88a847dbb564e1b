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
import os
import statistics
import tempfile
import time
from pathlib import Path

from bench_peers import _machine, memory_bandwidth_bytes_s

HERE = Path(__file__).resolve().parent
GOAL_DECODE_RATIO = 0.95


def default_artifact() -> Path:
    from slm_edge.export import ExportRequest, export_model
    from slm_edge.model.sources import resolve_source

    return export_model(resolve_source("smollm2-135m"), ExportRequest(backend="onnx", quant="int4", block_size=32),
                        None).folder


# The rows: the app's Java loop (desktop jar of the app's onnxruntime), the Python loop on the same
# onnxruntime release (the like-for-like comparison the goal is about: int4 kernels differ between
# releases), and the Python loop on the venv's own newer onnxruntime (what `--runner python` runs).
RUNNERS = ("app", "python (app's onnxruntime)", "python (venv's onnxruntime)")


def profile_once(artifact: Path, runner: str, args, work: Path) -> dict:
    from slm_edge.device.jvm_app import python_onnxruntime_of_the_app
    from slm_edge.device.local import LocalDevice
    from slm_edge.workflows.profile import ProfileOptions, profile_artifact

    options = ProfileOptions(prompt_lengths=[args.prompt_tokens], decode_tokens=args.decode_tokens,
                             repeats=args.repeats, warmup=1, threads=[args.threads], engine="onnxruntime")
    saved = os.environ.get("PYTHONPATH")
    if runner == RUNNERS[1]:
        side = python_onnxruntime_of_the_app()
        if side is None:
            raise SystemExit("onnxruntime of the app's release is not installed beside the venv: run tools/setup.sh")
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(side), saved]))
    try:
        outcome = profile_artifact(artifact, LocalDevice(runner="app" if runner == "app" else "python"), options, work)
    finally:
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved
    row = outcome.analysis.rows[-1]
    return {"decode_tok_s": row.decode_tok_s.median, "prefill_tok_s": row.prefill_tok_s.median,
            "producer": outcome.trace.producer.name,
            "onnxruntime": outcome.trace.software.get("onnxruntime") or outcome.trace.software.get("runtime")}


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
            order = RUNNERS if index % 2 == 0 else tuple(reversed(RUNNERS))
            measured = {runner: profile_once(artifact, runner, args, Path(tmp) / f"{index}-{n}")
                        for n, runner in enumerate(order)}
            app, same, venv = (measured[r] for r in RUNNERS)
            rounds.append({"order": list(order), **measured,
                           "decode_ratio": app["decode_tok_s"] / same["decode_tok_s"],
                           "prefill_ratio": app["prefill_tok_s"] / same["prefill_tok_s"],
                           "decode_ratio_vs_venv_ort": app["decode_tok_s"] / venv["decode_tok_s"],
                           "prefill_ratio_vs_venv_ort": app["prefill_tok_s"] / venv["prefill_tok_s"]})
            print(f"round {index + 1}: " + "; ".join(
                f"{r}: decode {measured[r]['decode_tok_s']:.1f}, prefill {measured[r]['prefill_tok_s']:.1f} tok/s"
                for r in RUNNERS) + f"; app/python same onnxruntime: decode {rounds[-1]['decode_ratio']:.3f}x, "
                                    f"prefill {rounds[-1]['prefill_ratio']:.3f}x", flush=True)

    def spread(key: str) -> dict:
        values = [r[key] for r in rounds]
        return {"median": statistics.median(values), "min": min(values), "max": max(values)}

    figures = {
        "date": time.strftime("%Y-%m-%d"), "machine": _machine(), "artifact": str(artifact),
        "memory_bandwidth_gb_s": bandwidth / 1e9, "prompt_tokens": args.prompt_tokens,
        "decode_tokens": args.decode_tokens, "repeats": args.repeats, "threads": args.threads, "rounds": rounds,
        **{key: spread(key) for key in ("decode_ratio", "prefill_ratio", "decode_ratio_vs_venv_ort",
                                        "prefill_ratio_vs_venv_ort")},
        "decode_tok_s": {r: [round(x[r]["decode_tok_s"], 1) for x in rounds] for r in RUNNERS},
        "prefill_tok_s": {r: [round(x[r]["prefill_tok_s"], 1) for x in rounds] for r in RUNNERS},
        "onnxruntime": {r: rounds[0][r]["onnxruntime"] for r in RUNNERS},
        "goal_decode_ratio": GOAL_DECODE_RATIO,
    }
    figures["goal_met"] = figures["decode_ratio"]["median"] >= GOAL_DECODE_RATIO
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "app_runner.json").write_text(json.dumps(figures, indent=2) + "\n")
    def row(label: str, key: str) -> str:
        f = figures[key]
        return f"| {label} | {f['median']:.3f}x | {f['min']:.3f}x | {f['max']:.3f}x |\n"

    summary = (f"# App runner vs Python runner — {figures['date']}\n\nMachine: {figures['machine']}; copy bandwidth "
               f"{figures['memory_bandwidth_gb_s']:.1f} GB/s. Artifact {artifact.name}, prompt {args.prompt_tokens}, "
               f"{args.decode_tokens} decode steps, {args.repeats} repeats, {args.threads} threads, {args.rounds} "
               f"interleaved rounds (order reversed every other round).\n\n| app / python | median | min | max |\n"
               f"|---|---|---|---|\n" + row("decode, same onnxruntime", "decode_ratio")
               + row("prefill, same onnxruntime", "prefill_ratio")
               + row("decode, vs the venv's onnxruntime", "decode_ratio_vs_venv_ort")
               + row("prefill, vs the venv's onnxruntime", "prefill_ratio_vs_venv_ort")
               + "\n" + "".join(f"- {r} ({figures['onnxruntime'][r]}): decode {figures['decode_tok_s'][r]}, prefill "
                                 f"{figures['prefill_tok_s'][r]} tok/s per round\n" for r in RUNNERS)
               + f"\nGoal: app decode >= {GOAL_DECODE_RATIO}x the Python loop on the same onnxruntime: "
                 f"{'met' if figures['goal_met'] else 'missed'}.\n")
    (args.out / "app_runner.md").write_text(summary)
    print(summary)


if __name__ == "__main__":
    main()
