"""The timed steps both the Linux runner's loops use: the fixed prompt, one prefill, greedy decode
steps (the app's ProfileLoop does the same in Java)."""

from __future__ import annotations

import time


def prompt_for(length: int, vocab_size: int, seed: int) -> list[int]:
    """A fixed pseudo-random prompt: latency does not depend on which tokens, only how many."""
    import random

    rng = random.Random(seed * 1_000_003 + length)
    return [rng.randrange(3, vocab_size) for _ in range(length)]


def prefill(llm, prompt: list[int]) -> tuple[int, float, float]:
    """One forward over the prompt: (first generated token, prefill ms, time to first token ms)."""
    import torch

    t0 = time.perf_counter_ns()
    logits = llm.step(prompt, 0)
    t1 = time.perf_counter_ns()
    token = int(torch.argmax(logits))  # the first generated token exists from here: TTFT
    t2 = time.perf_counter_ns()
    return token, (t1 - t0) / 1e6, (t2 - t0) / 1e6


def decode(llm, token: int, position: int, steps: int) -> list[float]:
    """Greedy one-token steps; each step (forward + argmax) timed in microseconds."""
    import torch

    steps_us = []
    for _ in range(steps):
        s0 = time.perf_counter_ns()
        logits = llm.step([token], position)
        token = int(torch.argmax(logits))
        steps_us.append((time.perf_counter_ns() - s0) / 1e3)
        position += 1
    return steps_us
