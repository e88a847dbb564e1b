"""slm-edge's artifacts against the peers on the embedded default (SmolLM2-135M-Instruct), the
very same weights for all, in one run, as ratios.

Rows: slm-edge ExecuTorch 8da4w and fp32, slm-edge ONNX int4 and fp32 (onnxruntime with our
KV-cache loop; int4 also in onnxruntime-genai), all through slm-edge's own runner on the emulated
device; llama.cpp on the original Q4_1 GGUF and PyTorch eager fp32 (the floor), each in its own
process through the same timing loop (benchmarks/peer_worker.py). Prompt 128 tokens, 64 decode
steps, threads 1 and 2, rounds interleaved A B C … A B C … so drift hits every row alike.

Also: the machine's memory bandwidth (measured here) and each row's fraction of the decode
roofline (bandwidth ÷ bytes read per token), export wall times, the profiler's overhead and the
emulated main job's end-to-end time. Writes JSON and Markdown.

    .venv/bin/python benchmarks/bench_peers.py [--rounds 3] [--threads 1,2] [--out benchmarks/results]

llama.cpp comes from llama-cpp-python, built from source once (~7 minutes on 2 cores) into
~/.cache/slm-edge/wheels and installed into .venv only for this benchmark.
"""

from __future__ import annotations

import timing  # noqa: F401  (first: keeps torch's OpenMP threads off the runtime's cores)

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
LLAMA_CPP_VERSION = "0.3.36"
GOALS = {  # DESIGN.md §3 on this 2-core machine
    "executorch 8da4w decode ≥ 1.6× llama.cpp": ("slm-edge executorch 8da4w", "decode_vs_llama_cpp", 1.6),
    "executorch 8da4w prefill ≥ 1.7× llama.cpp": ("slm-edge executorch 8da4w", "prefill_vs_llama_cpp", 1.7),
    "onnx int4 decode ≥ 1.2× llama.cpp": ("slm-edge onnx int4", "decode_vs_llama_cpp", 1.2),
    "executorch 8da4w decode ≥ 55% of roofline": ("slm-edge executorch 8da4w", "roofline_fraction", 0.55),
    "onnx int4 decode ≥ 55% of roofline": ("slm-edge onnx int4", "roofline_fraction", 0.55),
}


def ensure_llama_cpp() -> None:
    try:
        import llama_cpp  # noqa: F401
        return
    except ImportError:
        pass
    wheels = Path.home() / ".cache" / "slm-edge" / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    if not list(wheels.glob(f"llama_cpp_python-{LLAMA_CPP_VERSION}-*.whl")):
        print(f"building llama-cpp-python {LLAMA_CPP_VERSION} from source (once, ~7 minutes)…", file=sys.stderr)
        env = {**os.environ, "CMAKE_BUILD_PARALLEL_LEVEL": str(os.cpu_count() or 2),
               "CMAKE_ARGS": "-DGGML_NATIVE=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF "
                             "-DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF"}
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", f"llama-cpp-python=={LLAMA_CPP_VERSION}",
                        "--no-binary", "llama-cpp-python", "-w", str(wheels)], check=True, env=env)
    subprocess.run([sys.executable, "-m", "pip", "install", "--find-links", str(wheels),
                    f"llama-cpp-python=={LLAMA_CPP_VERSION}"], check=True)


def memory_bandwidth_bytes_s() -> float:
    """Copy bandwidth (bytes read + written per second) of 256 MiB buffers, best of 1 and 2 threads."""
    import numpy as np

    size = 256 * 2**20 // 4
    src, dst = np.ones(size, dtype=np.float32), np.zeros(size, dtype=np.float32)
    best = 0.0
    for workers in (1, 2):
        chunks = np.array_split(np.arange(size), workers)
        bounds = [(int(c[0]), int(c[-1]) + 1) for c in chunks]
        for _ in range(5):
            threads = [threading.Thread(target=lambda a, b: np.copyto(dst[a:b], src[a:b]), args=bound)
                       for bound in bounds]
            t0 = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            best = max(best, 2 * size * 4 / (time.perf_counter() - t0))
    return best


def export_artifacts(source) -> dict:
    from slm_edge.export import ExportRequest, export_model
    from slm_edge.progress import StageTimer

    requests = {
        "slm-edge executorch 8da4w": ExportRequest(quant="8da4w", group_size=32, embedding_quant="8w"),
        "slm-edge executorch fp32": ExportRequest(quant="fp32", embedding_quant="none"),
        "slm-edge onnx int4": ExportRequest(backend="onnx", quant="int4", block_size=32),
        "slm-edge onnx fp32": ExportRequest(backend="onnx", quant="fp32"),
    }
    return {name: export_model(source, request, None, timer=StageTimer()) for name, request in requests.items()}


def run_slm_edge(artifact, engine: str, threads: int, args, work: Path):
    from slm_edge.device.local import LocalDevice
    from slm_edge.workflows.profile import ProfileOptions, profile_artifact

    options = ProfileOptions(prompt_lengths=[args.prompt_tokens], decode_tokens=args.decode_tokens,
                             repeats=args.repeats, warmup=1, threads=[threads], engine=engine)
    return profile_artifact(artifact.folder, LocalDevice(), options, work).trace


def run_peer(engine: str, threads: int, args, work: Path):
    from slm_edge.records.trace import Trace

    work.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([sys.executable, str(HERE / "peer_worker.py"), "--engine", engine, "--threads", str(threads),
                           "--prompt-tokens", str(args.prompt_tokens), "--decode-tokens", str(args.decode_tokens),
                           "--repeats", str(args.repeats), "--out", str(work / "trace.json")],
                          capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{engine} worker failed: {done.stderr.strip().splitlines()[-1:]}")
    return Trace.load(work / "trace.json")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--prompt-tokens", type=int, default=128)
    parser.add_argument("--decode-tokens", type=int, default=64)
    parser.add_argument("--no-main-job", action="store_true", help="skip timing the README's main job")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()
    threads_list = [int(t) for t in args.threads.split(",")]

    ensure_llama_cpp()
    from slm_edge.analysis.run import analyze
    from slm_edge.model.memory import kv_cache_bytes, parameter_count, per_token_weight_bytes
    from slm_edge.model.sources import default_gguf_path, resolve_source

    source = resolve_source("smollm2-135m")
    artifacts = export_artifacts(source)
    rows = {name: ("slm-edge", artifact, "onnxruntime" if "onnx" in name else "executorch")
            for name, artifact in artifacts.items()}
    rows["slm-edge onnx int4 · genai"] = ("slm-edge", artifacts["slm-edge onnx int4"], "onnxruntime-genai")
    rows["llama.cpp Q4_1 (same weights)"] = ("peer", None, "llama.cpp")
    rows["pytorch eager fp32"] = ("peer", None, "torch-eager")

    bandwidth = memory_bandwidth_bytes_s()
    measured: dict[tuple[str, int], list[dict]] = {}
    work = Path(tempfile.mkdtemp(prefix="slm-edge-peers-"))
    for round_index in range(args.rounds):
        for threads in threads_list:
            for name, (kind, artifact, engine) in rows.items():
                cell = work / f"r{round_index}-t{threads}-{len(measured.get((name, threads), []))}-{engine}"
                trace = (run_slm_edge(artifact, engine, threads, args, cell) if kind == "slm-edge"
                         else run_peer(engine, threads, args, cell))
                analysis = analyze(trace).to_json()
                row = analysis["rows"][0]
                measured.setdefault((name, threads), []).append({
                    "prefill_tok_s": row["prefill_tok_s"]["median"], "decode_tok_s": row["decode_tok_s"]["median"],
                    "decode_tok_s_p90": row["decode_tok_s"]["p90"], "ttft_ms": row["ttft_ms"]["median"],
                    "peak_increase_bytes": analysis["peak_increase_bytes"],
                })
                print(f"round {round_index + 1} threads {threads} {name}: prefill {row['prefill_tok_s']['median']:.0f} "
                      f"decode {row['decode_tok_s']['median']:.1f} tok/s", file=sys.stderr)

    # bytes a decode step reads: weights (one embedding row) + the KV cache at the mean position
    mean_position = args.prompt_tokens + args.decode_tokens // 2
    gguf = default_gguf_path()
    bytes_per_token, sizes = {}, {}
    for name, (kind, artifact, engine) in rows.items():
        if kind == "slm-edge":
            m = artifact.manifest
            q = m.quantization
            weights = per_token_weight_bytes(source.config, q.scheme, q.group_size or 0, q.embedding)
            kv = kv_cache_bytes(source.config, mean_position, 2 if q.scheme == "fp16" else 4)
            sizes[name] = m.model_bytes
        elif engine == "llama.cpp":  # tied embeddings: the Q4_1 token table is also the output matrix, read whole
            weights, kv = gguf.stat().st_size, kv_cache_bytes(source.config, mean_position, 2)  # f16 KV cache
            sizes[name] = gguf.stat().st_size
        else:
            weights = parameter_count(source.config) * 4
            kv = kv_cache_bytes(source.config, mean_position, 4)
            sizes[name] = (source.hf_dir / "model.safetensors").stat().st_size
        bytes_per_token[name] = weights + kv

    table = []
    for (name, threads), values in measured.items():
        median = lambda key: statistics.median(v[key] for v in values)  # noqa: E731
        roofline = bandwidth / bytes_per_token[name]
        table.append({"row": name, "threads": threads, "prefill_tok_s": median("prefill_tok_s"),
                      "decode_tok_s": median("decode_tok_s"), "decode_tok_s_p90": median("decode_tok_s_p90"),
                      "ttft_ms": median("ttft_ms"), "peak_rss_increase_mib": median("peak_increase_bytes") / 2**20,
                      "artifact_mib": sizes[name] / 2**20, "bytes_per_token_mib": bytes_per_token[name] / 2**20,
                      "roofline_tok_s": roofline, "roofline_fraction": median("decode_tok_s") / roofline})
    for row in table:
        peer = next(r for r in table if r["row"].startswith("llama.cpp") and r["threads"] == row["threads"])
        row["prefill_vs_llama_cpp"] = row["prefill_tok_s"] / peer["prefill_tok_s"]
        row["decode_vs_llama_cpp"] = row["decode_tok_s"] / peer["decode_tok_s"]

    extras = {"memory_bandwidth_gb_s": bandwidth / 1e9,
              "export_wall_s": {name: a.manifest.export.wall_seconds for name, a in artifacts.items()}}
    overhead = subprocess.run([sys.executable, str(HERE / "bench_profiler_overhead.py"),
                               str(artifacts["slm-edge executorch 8da4w"].folder), "--threads", "2"],
                              capture_output=True, text=True)
    if overhead.returncode == 0:
        extras["profiler_overhead"] = json.loads(overhead.stdout[overhead.stdout.index("{"):])
    if not args.no_main_job:
        env = {**os.environ, "SLM_EDGE_CACHE": tempfile.mkdtemp(prefix="slm-edge-mainjob-")}
        t0 = time.perf_counter()
        job = subprocess.run(["bash", str(ROOT / "tools" / "main_job.sh")], cwd=ROOT, env=env, capture_output=True)
        extras["main_job_s"] = round(time.perf_counter() - t0, 1) if job.returncode == 0 else None

    goals = {}
    for goal, (row_name, key, target) in GOALS.items():
        best = max((r for r in table if r["row"] == row_name), key=lambda r: r["decode_tok_s"], default=None)
        goals[goal] = {"value": best[key] if best else None, "threads": best["threads"] if best else None,
                       "met": bool(best and best[key] >= target)}
    overhead_ratio = extras.get("profiler_overhead", {}).get("decode_overhead_ratio")
    goals["profiler overhead ≤ 1%"] = {"value": overhead_ratio, "met": bool(overhead_ratio and overhead_ratio <= 1.01)}

    figures = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": _machine(),
               "prompt_tokens": args.prompt_tokens, "decode_tokens": args.decode_tokens, "rounds": args.rounds,
               "rows": table, "extras": extras, "goals": goals}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "peers.json").write_text(json.dumps(figures, indent=2) + "\n")
    (args.out / "peers.md").write_text(_markdown(figures))
    print(_markdown(figures))


def _machine() -> str:
    from slm_edge.runner.samplers import device_facts

    facts = device_facts(emulated=True)
    return f"{facts.get('cpu')}, {facts.get('cores')} cores, {facts.get('ram_bytes', 0) / 2**30:.0f} GiB, {facts.get('os')}"


def _markdown(figures: dict) -> str:
    lines = [f"# Peers benchmark — {figures['date']}", "", f"Machine: {figures['machine']}. Prompt "
             f"{figures['prompt_tokens']} tokens, {figures['decode_tokens']} decode steps, {figures['rounds']} "
             "interleaved rounds (median of per-round medians).", "",
             "| row | threads | prefill tok/s | decode tok/s (p50) | p90 | TTFT ms | peak RSS +MiB | size MiB | "
             "× llama.cpp (prefill/decode) | roofline tok/s | of roofline |", "|" + "---|" * 11]
    for r in sorted(figures["rows"], key=lambda r: (r["threads"], r["row"])):
        lines.append(f"| {r['row']} | {r['threads']} | {r['prefill_tok_s']:.0f} | {r['decode_tok_s']:.1f} | "
                     f"{r['decode_tok_s_p90']:.1f} | {r['ttft_ms']:.1f} | {r['peak_rss_increase_mib']:.0f} | "
                     f"{r['artifact_mib']:.1f} | {r['prefill_vs_llama_cpp']:.2f} / {r['decode_vs_llama_cpp']:.2f} | "
                     f"{r['roofline_tok_s']:.0f} | {r['roofline_fraction']:.0%} |")
    extras = figures["extras"]
    lines += ["", f"Memory bandwidth (copy, measured): {extras['memory_bandwidth_gb_s']:.1f} GB/s. Roofline = "
              "bandwidth ÷ bytes a decode step reads (weights with one embedding row, plus the KV cache at the "
              "mean position).", "", "Export wall time: " + ", ".join(
                  f"{k.removeprefix('slm-edge ')} {v:.1f} s" for k, v in extras["export_wall_s"].items()) + "."]
    if "profiler_overhead" in extras:
        o = extras["profiler_overhead"]
        lines.append(f"Profiler overhead (memory sampling at {o['sample_interval_ms']:.0f} ms, decode step): "
                     f"{(o['decode_overhead_ratio'] - 1):+.2%}.")
    if extras.get("main_job_s"):
        lines.append(f"README main job end to end (fresh cache, after install): {extras['main_job_s']:.0f} s.")
    lines += ["", "| goal | value | met |", "|---|---|---|"]
    for goal, g in figures["goals"].items():
        value = "—" if g["value"] is None else f"{g['value']:.2f}"
        lines.append(f"| {goal} | {value}{' @' + str(g['threads']) + ' threads' if g.get('threads') else ''} | "
                     f"{'yes' if g['met'] else '**no**'} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
