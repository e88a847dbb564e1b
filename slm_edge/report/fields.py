"""Every figure a report table shows, defined once: key, header, unit, how to get it and how it reads.
Each format picks its columns by key (the CSV writes the raw value, the others the text), so a
figure reads the same in the terminal, Markdown and HTML.

Three kinds of table rows: a run's (threads, prompt length) row, a sweep cell (compare.cell_points)
and a quantization comparison (compare.quantization_effect).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from slm_edge.analysis.loaded import LoadedRun
from slm_edge.analysis.run import Row


def mib(n) -> str:
    return "—" if n is None else f"{n / 2**20:.1f} MiB"


def fixed(digits: int) -> Callable[[object], str]:
    return lambda value: "—" if value is None else f"{value:.{digits}f}"


def percent(value) -> str:
    return "—" if value is None else f"{value:.1%}"


@dataclass(frozen=True)
class Field:
    key: str
    header: str
    unit: str  # "" for counts, names and ratios
    get: Callable[[object], object]  # the raw value from a table row
    text: Callable[[object], str] = str  # how the value reads in a table


@dataclass(frozen=True)
class RunRow:
    """A run's row as the tables see it: figures of the row and of its run."""

    run: LoadedRun
    row: Row


def _stat(metric: str, which: str) -> Callable[[RunRow], object]:
    def get(r: RunRow):
        stat = getattr(r.row, metric)
        return getattr(stat, which) if stat is not None else None
    return get


def registry(*fields: Field) -> dict[str, Field]:
    return {f.key: f for f in fields}


ROW_FIELDS = registry(
    Field("run", "run", "", lambda r: r.run.name),
    Field("threads", "threads", "", lambda r: r.row.threads),
    Field("prompt_length", "prompt", "tokens", lambda r: r.row.prompt_length),
    Field("repeats", "repeats", "", lambda r: r.row.repeats),
    Field("ttft_ms_median", "TTFT ms", "ms", _stat("ttft_ms", "median"), fixed(1)),
    Field("prefill_tok_s_median", "prefill tok/s", "tok/s", _stat("prefill_tok_s", "median"), fixed(1)),
    Field("prefill_tok_s_cv", "CV", "", _stat("prefill_tok_s", "cv"), percent),
    Field("decode_tok_s_median", "decode tok/s", "tok/s", _stat("decode_tok_s", "median"), fixed(1)),
    Field("decode_tok_s_p90", "decode p90", "tok/s", _stat("decode_tok_s", "p90"), fixed(1)),
    Field("decode_tok_s_cv", "CV", "", _stat("decode_tok_s", "cv"), percent),
    Field("decode_step_ms_median", "step ms p50", "ms", _stat("decode_step_ms", "median"), fixed(2)),
    Field("decode_step_ms_p90", "step ms p90", "ms", _stat("decode_step_ms", "p90"), fixed(2)),
    Field("decode_step_ms_p99", "step p99 ms", "ms", _stat("decode_step_ms", "p99"), fixed(2)),
    Field("load_ms", "load ms", "ms", lambda r: r.row.load_ms, fixed(1)),
    Field("peak_hwm_bytes", "peak RSS", "bytes", lambda r: r.run.analysis.peak_hwm_bytes, mib),
    Field("peak_increase_bytes", "peak RSS increase", "bytes", lambda r: r.run.analysis.peak_increase_bytes, mib),
    Field("rss_increase_bytes", "RSS increase", "bytes", lambda r: r.row.rss_increase_bytes, mib),
)

CELL_FIELDS = registry(
    Field("cell", "cell", "", lambda c: c["cell"]),
    Field("parameters", "params (M)", "M", lambda c: c["parameters"], lambda p: f"{(p or 0) / 1e6:.1f}"),
    Field("threads", "threads", "", lambda c: c["threads"]),
    Field("prefill_ms", "prefill ms", "ms", lambda c: c["prefill_ms"], fixed(1)),
    Field("decode_tok_s", "decode tok/s", "tok/s", lambda c: c["decode_tok_s"], fixed(1)),
    Field("peak_memory_bytes", "peak memory", "bytes", lambda c: c["peak_memory_bytes"], mib),
    Field("quality", "quality", "", lambda c: c["quality"], lambda q: "—" if q is None else f"{q:.3g}"),
    Field("quality_named", "quality", "", lambda c: (c["quality"], c["quality_metric"]),
          lambda q: "—" if q[0] is None else f"{q[0]:.3g} ({q[1]})"),
    Field("pareto", "Pareto", "", lambda c: c["pareto"], lambda flag: "★" if flag else ""),
)

_ratio = fixed(2)
QUANTIZATION_FIELDS = registry(
    Field("model", "model", "", lambda q: q["model"]),
    Field("backend", "backend", "", lambda q: q["backend"]),
    Field("scheme", "scheme", "", lambda q: q["scheme"]),
    Field("threads", "threads", "", lambda q: q["threads"]),
    Field("prompt_length", "prompt", "tokens", lambda q: q["prompt_length"]),
    Field("prefill_speedup", "prefill ×", "×", lambda q: q["prefill_speedup"], _ratio),
    Field("decode_speedup", "decode ×", "×", lambda q: q["decode_speedup"], _ratio),
    Field("memory_ratio", "peak memory ×", "×", lambda q: q["memory_ratio"], _ratio),
)


@dataclass(frozen=True)
class Column:
    """A table column: one field, or the texts of several in a template such as '{a} / {b} ({c})'."""

    template: str
    header: str | None = None  # None: the field's own header (a template column must name one)

    @property
    def keys(self) -> list[str]:
        return re.findall(r"\{(\w+)\}", self.template)


def columns(*specs: str | tuple[str, str]) -> tuple[Column, ...]:
    """'key' or ('key or template', header) → Columns."""
    out = []
    for spec in specs:
        template, header = (spec, None) if isinstance(spec, str) else spec
        out.append(Column(template if "{" in template else "{" + template + "}", header))
    return tuple(out)


def headers(cols: Sequence[Column], fields: Mapping[str, Field]) -> list[str]:
    return [c.header if c.header is not None else fields[c.keys[0]].header for c in cols]


def texts(cols: Sequence[Column], fields: Mapping[str, Field], record) -> list[str]:
    return [c.template.format(**{k: fields[k].text(fields[k].get(record)) for k in c.keys}) for c in cols]


def run_rows(runs: Sequence[LoadedRun]) -> list[RunRow]:
    return [RunRow(run, row) for run in runs for row in run.analysis.rows]
