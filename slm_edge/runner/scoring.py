"""The runner's eval mode: teacher-forced scoring of the run config's chunks, one token a step (the
app's ProfileLoop does the same in Java). Per fed position p the log-probability of token p+1 and the
argmax are kept, not the logits: that is all the host needs, and a phone's trace stays small."""

from __future__ import annotations

import math
import time

from slm_edge.errors import RuntimeFailure


def log_probability(logits, token: int) -> float:
    """log_softmax(logits)[token] in double precision, as the app computes it (max subtracted)."""
    values = logits.double()
    top = float(values.max())
    return float(values[token]) - top - math.log(float((values - top).exp().sum()))


def score_chunk(llm, chunk: list[int]) -> dict:
    import torch

    logprob, argmax = [], []
    start = time.perf_counter_ns()
    for position, token in enumerate(chunk[:-1]):
        logits = llm.step([token], position)
        value = log_probability(logits, chunk[position + 1])
        if not math.isfinite(value):  # JSON has no NaN: say where, as the app does, rather than write a broken trace
            raise RuntimeFailure(f"eval position {position}: the engine's logits give a non-finite log-probability "
                                 f"({value})", "re-export the artifact; if it persists, report it")
        logprob.append(value)
        argmax.append(int(torch.argmax(logits)))
    return {"tokens": len(chunk), "logprob": logprob, "argmax": argmax, "ms": (time.perf_counter_ns() - start) / 1e6}
