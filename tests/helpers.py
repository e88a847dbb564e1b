"""Helpers the test modules share: the CLI in a subprocess, and synthetic profile runs with known
figures for the analysis and report code (no export, no runtime)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

MIB = 2**20
BASELINE_BYTES = 100 * MIB  # the runner's RSS before the model loads, in every synthetic trace


def run_cli(*args, cwd=None, env=None, timeout=None) -> subprocess.CompletedProcess:
    """`python -m slm_edge ARGS` (the installed code, as a user runs it), output captured as text."""
    return subprocess.run([sys.executable, "-m", "slm_edge", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=timeout)


def synthetic_trace(model: str, params: int, backend: str, scheme: str, *, decode_tok_s: dict[int, float],
                    prefill_ms: float, peak_mib: float, quality: float | None, prompt_lengths=(32,),
                    decode_steps: int = 4, repeats: int = 1, warmup: int = 0, engine: str | None = None,
                    load_mib: float = 0, predicted_memory: dict | None = None) -> dict:
    """A schema-valid trace with the given figures. Per thread count and prompt length: `warmup`
    warm-up runs then `repeats` measured ones, each `decode_steps` decode steps of 1e6/decode_tok_s µs
    (prefill time grows a little with fewer threads). RSS is BASELINE_BYTES + load_mib after load;
    the peak (VmHWM) is BASELINE_BYTES + peak_mib."""
    from slm_edge.records.trace import Trace

    threads = sorted(decode_tok_s)
    peak, loaded = BASELINE_BYTES + int(peak_mib * MIB), BASELINE_BYTES + int(load_mib * MIB)
    runs = [{"threads": t, "prompt_length": length, "repeat": repeat, "warmup": repeat < warmup,
             "prefill_ms": prefill_ms * max(threads) / t, "ttft_ms": prefill_ms * max(threads) / t + 0.1,
             "decode_step_us": [1e6 / decode_tok_s[t]] * decode_steps,
             "memory": {"rss_after_prefill_bytes": loaded, "rss_end_bytes": loaded, "hwm_end_bytes": peak,
                        "pss_end_bytes": None}}
            for t in threads for length in prompt_lengths for repeat in range(warmup + repeats)]
    weights = int(peak_mib * MIB)
    trace = {
        "schema": "slm-edge/trace", "schema_version": 1, "status": "complete",
        "producer": {"name": "test", "version": "0"},
        "device": {"model": "test", "cpu": "test", "cores": 2, "ram_bytes": 2**33, "os": "linux"},
        "artifact": {"manifest_sha256": "0" * 64, "model_file": "model.pte", "engine": engine or backend},
        "config": {"threads": threads, "prompt_lengths": list(prompt_lengths), "decode_tokens": decode_steps},
        "clock": {"monotonic_origin_ns": 0, "wall_origin_ms": 0},
        "baseline_memory": {"rss_bytes": BASELINE_BYTES, "hwm_bytes": BASELINE_BYTES},
        "loads": [{"threads": t, "load_ms": 10.0, "rss_after_bytes": loaded} for t in threads],
        "runs": runs, "memory_samples": [], "phase_markers": [], "errors": [],
        "host": {"artifact": {"name": model, "backend": backend, "scheme": scheme, "parameters": params,
                              "model_bytes": weights, "max_seq_len": 512,
                              "predicted_memory": predicted_memory or {
                                  "weight_bytes": weights, "kv_cache_bytes": 0, "activation_bytes": 0,
                                  "total_bytes": weights},
                              "verify": None if quality is None else {"teacher_forced_top1_agreement": quality,
                                                                      "greedy_agreement": quality, "steps": 16}}},
    }
    Trace.from_json(trace)  # schema-valid, as promised
    return trace


def write_run(run_dir: Path, trace: dict, formats=("json", "md")) -> Path:
    """A profile run folder as `slm-edge profile --out` leaves it: trace.json and the reports
    (by default not the HTML one: its plots take seconds)."""
    from slm_edge.analysis.loaded import loaded
    from slm_edge.records.trace import Trace
    from slm_edge.report import write_reports

    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "trace.json").write_text(json.dumps(trace))
    write_reports(run_dir, [loaded(run_dir.name, Trace.from_json(trace), run_dir)], formats)
    return run_dir


def page_charts(page: str) -> dict:
    """report.html's charts: {key: Vega-Lite spec}, as the page's JSON block holds them."""
    import re

    found = re.search(r'<script type="application/json" id="slm-edge-charts">(.*?)</script>', page, re.S)
    assert found, "report.html has no chart block"
    return json.loads(found.group(1))


def chart_rows(spec) -> list[dict]:
    """Every data row a Vega-Lite spec carries (inline values in any layer, and named datasets)."""
    rows = []
    if isinstance(spec, dict):
        for key, value in spec.items():
            if key == "values" and isinstance(value, list):
                rows += [v for v in value if isinstance(v, dict)]
            elif key == "datasets":
                rows += [v for dataset in value.values() for v in dataset]
            else:
                rows += chart_rows(value)
    elif isinstance(spec, list):
        for value in spec:
            rows += chart_rows(value)
    return rows
