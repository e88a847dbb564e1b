"""Gemma 3 on the ExecuTorch fast path beside SmolLM2-135M, in one run, as ratios.

Both cards with random weights (speed does not depend on the values), 8da4w linears in groups of 32
and an 8-bit embedding, max_seq_len 1024, each profiled by slm-edge's own runner on the emulated
device (the product's prefill and decode loops and memory sampling). Rounds interleave the artifacts,
the order reversed every other round, so drift hits both alike; the spread over rounds is given with
the machine's copy bandwidth and each row's decode roofline (bandwidth ÷ bytes a decode step reads:
weights, one embedding row, the KV cache at the mean position). Also: each artifact's predicted run
memory against the measured peak RSS increase, and its export wall time and peak.

    .venv/bin/python benchmarks/bench_gemma3.py [--rounds 3] [--gemma DIR] [--baseline DIR] [--out benchmarks/results]

Without --gemma/--baseline the artifacts are exported (or taken from slm-edge's artifact cache).
The issue-15 goals for the gemma-3-270m card (prompt 128, 64 decode steps, 2 threads): decode
≥ 100 tok/s, prefill ≥ 800 tok/s, predicted memory within 10% of the measured peak.
"""

from __future__ import annotations

import timing  # noqa: F401  (first: keeps torch's OpenMP threads off the runtime's cores)

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from bench_peers import _machine, memory_bandwidth_bytes_s, run_slm_edge

HERE = Path(__file__).resolve().parent
GOALS = {"decode_tok_s": 100.0, "prefill_tok_s": 800.0, "memory_error": 0.10}
CARDS = {"gemma-3-270m": "gemma", "smollm2-135m": "baseline"}


def artifact_folder(card: str, given: Path | None, max_seq_len: int = 1024, **settings) -> Path:
    """The card (random weights) exported 8da4w g32 with an 8-bit embedding, or `given`; `settings`: other
    export settings (bench_gemma3_ring.py's prefill_chunk)."""
    if given:
        return given
    from slm_edge.export import ExportRequest, export_model
    from slm_edge.model.sources import resolve_source
    from slm_edge.progress import StageTimer

    request = ExportRequest(quant="8da4w", group_size=32, embedding_quant="8w", max_seq_len=max_seq_len, **settings)
    return export_model(resolve_source(card, random_weights=True), request, None, timer=StageTimer()).folder


def bytes_per_decode_step(manifest, position: int) -> int:
    from slm_edge.model.memory import kv_cache_bytes, per_token_weight_bytes

    config = manifest.architecture.hf_config()
    q = manifest.quantization
    return per_token_weight_bytes(config, q.scheme, q.group_size or 0, q.embedding) + kv_cache_bytes(config, position)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--prompt-tokens", type=int, default=128)
    parser.add_argument("--decode-tokens", type=int, default=64)
    parser.add_argument("--gemma", type=Path, help="a gemma-3-270m artifact folder (default: export it)")
    parser.add_argument("--baseline", type=Path, help="a smollm2-135m artifact folder (default: export it)")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()

    from slm_edge.analysis.run import analyze
    from slm_edge.records.manifest import Manifest

    folders = {"gemma-3-270m": artifact_folder("gemma-3-270m", args.gemma),
               "smollm2-135m": artifact_folder("smollm2-135m", args.baseline)}
    manifests = {name: Manifest.read(folder) for name, folder in folders.items()}
    for name, manifest in manifests.items():
        if manifest.export_path != "executorch-llm":
            raise SystemExit(f"{name}: {folders[name]} is not a fast-path ExecuTorch artifact")
    artifacts = {name: type("Artifact", (), {"folder": folder})() for name, folder in folders.items()}

    bandwidth = memory_bandwidth_bytes_s()
    work = Path(tempfile.mkdtemp(prefix="slm-edge-gemma3-"))
    rounds: list[dict] = []
    for index in range(args.rounds):
        order = list(folders) if index % 2 == 0 else list(reversed(folders))
        measured = {}
        for name in order:
            trace = run_slm_edge(artifacts[name], "executorch", args.threads, args, work / f"r{index}-{name}")
            analysis = analyze(trace).to_json()
            row, memory = analysis["rows"][0], analysis["memory_breakdown"]
            measured[name] = {"prefill_tok_s": row["prefill_tok_s"]["median"],
                              "decode_tok_s": row["decode_tok_s"]["median"],
                              "predicted_bytes": memory["predicted"]["total_bytes"],
                              "peak_bytes": memory["measured"]["peak_bytes"],
                              "memory_error": memory["prediction_error"]}
        rounds.append(measured)
        print(f"round {index + 1}: " + "; ".join(f"{n} prefill {m['prefill_tok_s']:.0f} decode {m['decode_tok_s']:.1f}"
                                                 for n, m in measured.items()), flush=True)

    mean_position = args.prompt_tokens + args.decode_tokens // 2
    rows = {}
    for name, manifest in manifests.items():
        series = {key: [r[name][key] for r in rounds] for key in rounds[0][name]}
        roofline = bandwidth / bytes_per_decode_step(manifest, mean_position)
        rows[name] = {
            "prefill_tok_s": statistics.median(series["prefill_tok_s"]),
            "prefill_tok_s_rounds": [round(v, 1) for v in series["prefill_tok_s"]],
            "decode_tok_s": statistics.median(series["decode_tok_s"]),
            "decode_tok_s_rounds": [round(v, 1) for v in series["decode_tok_s"]],
            "roofline_tok_s": roofline,
            "roofline_fraction": statistics.median(series["decode_tok_s"]) / roofline,
            "predicted_mib": statistics.median(series["predicted_bytes"]) / 2**20,
            "peak_mib_rounds": [round(v / 2**20, 1) for v in series["peak_bytes"]],
            "memory_error_rounds": [round(v, 4) for v in series["memory_error"]],
            "export_s": manifest.export.wall_seconds,
            "export_peak_rss_mib": round((manifest.export.peak_rss_bytes or 0) / 2**20),
            "artifact_mib": manifest.model_bytes / 2**20,
        }
    for phase in ("prefill", "decode"):
        ratios = [r["gemma-3-270m"][f"{phase}_tok_s"] / r["smollm2-135m"][f"{phase}_tok_s"] for r in rounds]
        rows["gemma-3-270m"][f"{phase}_vs_smollm2"] = {"median": statistics.median(ratios), "min": min(ratios),
                                                         "max": max(ratios)}
    gemma = rows["gemma-3-270m"]
    goals = {
        f"decode ≥ {GOALS['decode_tok_s']:.0f} tok/s": min(gemma["decode_tok_s_rounds"]) >= GOALS["decode_tok_s"],
        f"prefill ≥ {GOALS['prefill_tok_s']:.0f} tok/s": min(gemma["prefill_tok_s_rounds"]) >= GOALS["prefill_tok_s"],
        "memory prediction within 10% of the peak": max(map(abs, gemma["memory_error_rounds"])) <= GOALS["memory_error"],
    }
    figures = {"date": time.strftime("%Y-%m-%d %H:%M"), "machine": _machine(),
               "memory_bandwidth_gb_s": round(bandwidth / 1e9, 1), "rounds": args.rounds, "repeats": args.repeats,
               "threads": args.threads, "prompt_tokens": args.prompt_tokens, "decode_tokens": args.decode_tokens,
               "artifacts": {n: str(f) for n, f in folders.items()}, "rows": rows,
               "goals_met_in_every_round": goals}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gemma3.json").write_text(json.dumps(figures, indent=2) + "\n")
    (args.out / "gemma3.md").write_text(markdown(figures))
    print(markdown(figures))


def markdown(figures: dict) -> str:
    lines = [f"# Gemma 3 fast path beside SmolLM2-135M — {figures['date']}", "",
             f"Machine: {figures['machine']}; copy bandwidth {figures['memory_bandwidth_gb_s']} GB/s. Prompt "
             f"{figures['prompt_tokens']} tokens, {figures['decode_tokens']} decode steps, {figures['threads']} threads, "
             f"{figures['rounds']} interleaved rounds × {figures['repeats']} repeats (medians; rounds in brackets).", "",
             "| card (8da4w, 8-bit embedding) | prefill tok/s | decode tok/s | of decode roofline | predicted MiB | "
             "measured peak MiB | export s |", "|---|---:|---:|---:|---:|---:|---:|"]
    for name, r in figures["rows"].items():
        lines.append(f"| {name} | {r['prefill_tok_s']:.0f} ({', '.join(f'{v:.0f}' for v in r['prefill_tok_s_rounds'])}) | "
                     f"{r['decode_tok_s']:.1f} ({', '.join(f'{v:.1f}' for v in r['decode_tok_s_rounds'])}) | "
                     f"{r['roofline_fraction']:.0%} of {r['roofline_tok_s']:.0f} | {r['predicted_mib']:.0f} | "
                     f"{', '.join(f'{v:.0f}' for v in r['peak_mib_rounds'])} | "
                     f"{r['export_s'] if r['export_s'] is not None else '–'} |")
    g = figures["rows"]["gemma-3-270m"]
    lines += ["", "gemma-3-270m ÷ smollm2-135m, per round: prefill "
              f"{g['prefill_vs_smollm2']['median']:.2f}× ({g['prefill_vs_smollm2']['min']:.2f}–{g['prefill_vs_smollm2']['max']:.2f}), "
              f"decode {g['decode_vs_smollm2']['median']:.2f}× ({g['decode_vs_smollm2']['min']:.2f}–{g['decode_vs_smollm2']['max']:.2f}).",
              "", "Goals, met in every round: " + "; ".join(f"{k}: {'yes' if v else 'NO'}"
                                                          for k, v in figures["goals_met_in_every_round"].items()), ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
