"""Shared timing loop of the benchmarks: prefill N tokens, then greedy one-token decode steps."""

from __future__ import annotations

import os
import statistics
import tempfile
from pathlib import Path

# Import this module before torch. torch only glues here (argmax, small tensors), but its OpenMP
# workers spin-wait after each parallel op and take cores from the runtime's own threads: measured
# on 2 cores, ExecuTorch 8da4w decode 45-140 tok/s with them, ~260 without. A phone app has no torch.
os.environ.setdefault("OMP_NUM_THREADS", "1")


def use_fresh_artifact_cache() -> Path:
    """An empty artifact cache for this process, so exports are timed for real; the converted GGUF
    source stays shared (converting it is not part of export time)."""
    from slm_edge import cache

    fresh = Path(tempfile.mkdtemp(prefix="slm-edge-bench-cache-"))
    (fresh / "sources").symlink_to(cache.root_for("sources"))
    os.environ["SLM_EDGE_CACHE"] = str(fresh)
    return fresh


def time_engine(llm, prompt: list[int], decode_tokens: int, repeats: int) -> dict:
    """Median prefill and decode tok/s over `repeats` runs (one extra warm-up run is dropped), timed
    by the runner's own prefill and decode loops, so benchmarks and profiles measure the same thing."""
    from slm_edge.runner.loop import decode, prefill

    prefill_s, decode_s = [], []
    for repeat in range(repeats + 1):
        token, prefill_ms, _ = prefill(llm, prompt)
        steps_us = decode(llm, token, len(prompt), decode_tokens)
        if repeat:
            prefill_s.append(prefill_ms / 1e3)
            decode_s.append(sum(steps_us) / 1e6)
    return {
        "prefill_tok_s": len(prompt) / statistics.median(prefill_s),
        "decode_tok_s": decode_tokens / statistics.median(decode_s),
        "prefill_tok_s_all": [round(len(prompt) / s, 1) for s in prefill_s],
        "decode_tok_s_all": [round(decode_tokens / s, 1) for s in decode_s],
    }
