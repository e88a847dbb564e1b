"""Shared timing loop of the benchmarks: prefill N tokens, then greedy one-token decode steps."""

from __future__ import annotations

import os
import statistics
import time

# Import this module before torch. torch only glues here (argmax, small tensors), but its OpenMP
# workers spin-wait after each parallel op and take cores from the runtime's own threads: measured
# on 2 cores, ExecuTorch 8da4w decode 45-140 tok/s with them, ~260 without. A phone app has no torch.
os.environ.setdefault("OMP_NUM_THREADS", "1")


def time_engine(llm, prompt: list[int], decode_tokens: int, repeats: int) -> dict:
    """Median prefill and decode tok/s over `repeats` runs (one extra warm-up run is dropped)."""
    import torch

    prefill_s, decode_s = [], []
    for repeat in range(repeats + 1):
        t0 = time.perf_counter()
        logits = llm.step(prompt, 0)
        t1 = time.perf_counter()
        position = len(prompt)
        for _ in range(decode_tokens):
            logits = llm.step([int(torch.argmax(logits))], position)
            position += 1
        t2 = time.perf_counter()
        if repeat:
            prefill_s.append(t1 - t0)
            decode_s.append(t2 - t1)
    return {
        "prefill_tok_s": len(prompt) / statistics.median(prefill_s),
        "decode_tok_s": decode_tokens / statistics.median(decode_s),
        "prefill_tok_s_all": [round(len(prompt) / s, 1) for s in prefill_s],
        "decode_tok_s_all": [round(decode_tokens / s, 1) for s in decode_s],
    }
