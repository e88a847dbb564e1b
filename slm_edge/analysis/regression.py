"""Least squares and its relatives for the survey findings: a line's fit and R², R² of several
columns, each column's Shapley share of R² (LMG: its R² gain averaged over every order of entering
the regression), and Spearman's rank correlation."""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Fit:
    """y = slope · x + intercept over n points."""

    x: str
    y: str
    slope: float
    intercept: float
    r2: float
    n: int


# --- statistics ----------------------------------------------------------------------------------

def linear_fit(xs: Sequence[float], ys: Sequence[float], x: str, y: str) -> Fit | None:
    if len(xs) < 3 or len(set(xs)) < 2:
        return None
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((a - mx) ** 2 for a in xs)
    slope = sum((a - mx) * (b - my) for a, b in zip(xs, ys)) / sxx
    intercept = my - slope * mx
    total = sum((b - my) ** 2 for b in ys)
    residual = sum((b - (slope * a + intercept)) ** 2 for a, b in zip(xs, ys))
    return Fit(x=x, y=y, slope=slope, intercept=intercept, r2=1 - residual / total if total else 1.0, n=len(xs))


def r_squared(columns: Sequence[Sequence[float]], ys: Sequence[float]) -> float:
    """R² of least squares of ys on the columns plus an intercept."""
    import numpy as np

    y = np.asarray(ys, dtype=float)
    design = np.column_stack([np.ones(len(y)), *[np.asarray(c, dtype=float) for c in columns]])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    total = float(((y - y.mean()) ** 2).sum())
    residual = float(((y - design @ coef) ** 2).sum())
    return max(0.0, 1 - residual / total) if total else 1.0


def shapley_r2(columns: Mapping[str, Sequence[float]], ys: Sequence[float]) -> tuple[float, dict[str, float]]:
    """R² of the full regression and each column's Shapley share of it (LMG)."""
    names = list(columns)
    k = len(names)
    r2 = {subset: r_squared([columns[n] for n in subset], ys) if subset else 0.0
          for size in range(k + 1) for subset in itertools.combinations(names, size)}
    shares = {}
    for name in names:
        others = [n for n in names if n != name]
        share = 0.0
        for size in range(k):
            weight = math.factorial(size) * math.factorial(k - size - 1) / math.factorial(k)
            for subset in itertools.combinations(others, size):
                with_name = tuple(n for n in names if n in subset or n == name)
                share += weight * (r2[with_name] - r2[subset])
        shares[name] = share
    return r2[tuple(names)], shares


def rank_correlation(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Spearman's ρ (average ranks for ties); None when either side does not vary."""
    def ranks(values):
        order = sorted(range(len(values)), key=lambda i: values[i])
        out = [0.0] * len(values)
        i = 0
        while i < len(order):
            j = i
            while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
                j += 1
            for k in range(i, j + 1):
                out[order[k]] = (i + j) / 2
            i = j + 1
        return out

    if len(xs) < 3 or len(set(xs)) < 2 or len(set(ys)) < 2:
        return None
    return statistics.correlation(ranks(list(xs)), ranks(list(ys)))
