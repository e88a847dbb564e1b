"""A sustained run (profile --sustained) read as throughput over time, and what throttling cost:
tok/s in the first and last minute, the time until it fell 10% and 25% below its starting level, and
the steady state it settled at."""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping
from dataclasses import dataclass

from slm_edge.records.trace import Trace

MINUTE_S = 60.0
SMOOTHING_S = 30.0  # the starting level and the drops are medians of the windows over this long


@dataclass(frozen=True)
class ThroughputPoint:
    t_s: float  # the window's middle, seconds since the runner started
    tok_s: float


@dataclass(frozen=True)
class Sustained:
    seconds: float  # decoding time covered
    window_s: float
    points: tuple[ThroughputPoint, ...]
    segments: int  # prefills: the first and one each time the context filled
    initial_tok_s: float  # the starting level: median of the windows of the first SMOOTHING_S
    first_minute_tok_s: float  # over the first minute (or the first quarter of a shorter run)
    last_minute_tok_s: float
    span_s: float  # the length the first and last figures cover
    steady_tok_s: float  # median of the windows in the last quarter
    drop: float  # 1 - last / first
    time_to_10pct_s: float | None  # until the median of the trailing SMOOTHING_S first fell 10% below the start
    time_to_25pct_s: float | None

    @classmethod
    def from_json(cls, data: Mapping | None) -> Sustained | None:
        if data is None:
            return None
        return cls(**{**data, "points": tuple(ThroughputPoint(**p) for p in data["points"])})


def decode_steps(trace: Trace) -> list[tuple[float, float]]:
    """(end time s, duration s) of every decode step of the sustained run, on the trace's clock."""
    steps = []
    for segment in (trace.sustained or {}).get("segments") or ():
        t = (segment["start_ms"] + segment["prefill_ms"]) / 1000
        for us in segment["decode_step_us"]:
            t += us / 1e6
            steps.append((t, us / 1e6))
    return steps


def _rate(steps: list[tuple[float, float]]) -> float | None:
    busy = sum(d for _, d in steps)
    return len(steps) / busy if busy > 0 else None


def sustained(trace: Trace) -> Sustained | None:
    steps = decode_steps(trace)
    if len(steps) < 2:
        return None
    start, end = steps[0][0] - steps[0][1], steps[-1][0]
    duration = end - start
    if duration <= 0:
        return None
    window = max(1.0, duration / 60)  # about 60 points, none under a second
    points = []
    edge = start
    while edge < end:
        rate = _rate([s for s in steps if edge < s[0] <= edge + window])
        if rate is not None:
            points.append(ThroughputPoint(edge + window / 2, rate))
        edge += window
    if not points:
        return None
    edge_span = min(MINUTE_S, duration / 4)
    first = _rate([s for s in steps if s[0] <= start + edge_span]) or points[0].tok_s
    last = _rate([s for s in steps if s[0] > end - edge_span]) or points[-1].tok_s
    # judged over SMOOTHING_S, not one window: a 5-second window on a shared machine moves ±15%
    # (benchmarks/results/sustained.json), which is noise, not throttling
    span = max(3, math.ceil(SMOOTHING_S / window))
    initial = statistics.median(p.tok_s for p in points[:span])
    trailing = [statistics.median(p.tok_s for p in points[max(0, i - span + 1):i + 1]) for i in range(len(points))]

    def time_to(fraction: float) -> float | None:
        below = next((p.t_s + window / 2 for p, r in zip(points, trailing) if r <= initial * (1 - fraction)), None)
        return None if below is None else below - start

    tail = [p.tok_s for p in points if p.t_s >= end - duration / 4] or [points[-1].tok_s]
    return Sustained(seconds=duration, window_s=window, points=tuple(points),
                     segments=len((trace.sustained or {}).get("segments") or ()), initial_tok_s=initial,
                     first_minute_tok_s=first, last_minute_tok_s=last, span_s=edge_span,
                     steady_tok_s=statistics.median(tail), drop=1 - last / first if first else 0.0,
                     time_to_10pct_s=time_to(0.10), time_to_25pct_s=time_to(0.25))
