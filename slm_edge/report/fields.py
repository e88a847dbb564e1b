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


# The headline: a run summed up by its headline row (analysis.compare.headline_row: the longest
# prompt at the fastest thread count) and its run-wide figures. HTML cards, the comparison table,
# Markdown and the terminal all read these definitions.

@dataclass(frozen=True)
class Headline:
    run: LoadedRun
    row: Row | None  # None: nothing decoded

    @classmethod
    def of(cls, run: LoadedRun) -> Headline:
        from slm_edge.analysis.compare import headline_row

        return cls(run, headline_row(run.analysis))


@dataclass(frozen=True)
class Figure:
    """A headline figure: a Stat over repeats (p50, p90 and spread) or a single value."""

    key: str
    label: str
    unit: str
    get: Callable[[Headline], object]  # a Stat, a number, or None where the run lacks it
    text: Callable[[object], str]
    higher_is_better: bool | None  # None: a ratio to a baseline would say nothing good or bad
    note: Callable[[Headline], str | None] = lambda h: None  # a single value's spread or scope, where it has one


def _row_stat(metric: str) -> Callable[[Headline], object]:
    return lambda h: getattr(h.row, metric) if h.row is not None else None


def _quality(h: Headline):
    from slm_edge.analysis.compare import quality_figure

    facts = h.run.trace.artifact_facts
    return quality_figure(facts)[0] if facts else None


def _quality_name(h: Headline) -> str | None:
    from slm_edge.analysis.compare import quality_figure

    facts = h.run.trace.artifact_facts
    return quality_figure(facts)[1] if facts else None


def _energy(h: Headline, phase: str, field: str):
    phase_energy = getattr(h.run.analysis.energy, phase, None) if h.run.analysis.energy else None
    return getattr(phase_energy, field) if phase_energy else None


def _energy_note(h: Headline, phase: str) -> str | None:
    phase_energy = getattr(h.run.analysis.energy, phase, None) if h.run.analysis.energy else None
    if phase_energy is None:
        return None
    error = "" if phase_energy.mj_per_token_error is None else f"± {phase_energy.mj_per_token_error:.2f} mJ, "
    return f"{error}{phase_energy.average_w:.2f} W over {phase_energy.seconds:.1f} s, {phase_energy.tokens} tokens"


def _sustained(h: Headline, field: str):
    return getattr(h.run.analysis.sustained, field) if h.run.analysis.sustained else None


def _signed(digits: int) -> Callable[[object], str]:
    return lambda v: "—" if v is None else f"{v:+.{digits}f}"


HEADLINE_FIGURES: tuple[Figure, ...] = (
    Figure("ttft_ms", "TTFT", "ms", _row_stat("ttft_ms"), fixed(1), False),
    Figure("prefill_tok_s", "prefill", "tok/s", _row_stat("prefill_tok_s"), fixed(1), True),
    Figure("decode_tok_s", "decode", "tok/s", _row_stat("decode_tok_s"), fixed(1), True),
    Figure("decode_step_ms", "decode step", "ms", _row_stat("decode_step_ms"), fixed(2), False),
    Figure("peak_memory_bytes", "peak memory over baseline", "MiB", lambda h: h.run.analysis.peak_increase_bytes,
           lambda v: "—" if v is None else f"{v / 2**20:.1f}", False),
    Figure("peak_rss_bytes", "peak RSS", "MiB", lambda h: h.run.analysis.peak_hwm_bytes,
           lambda v: "—" if v is None else f"{v / 2**20:.1f}", False),
    Figure("quality", "quality", "", _quality, lambda v: "—" if v is None else f"{v:.4g}", None),
    Figure("temperature_rise_c", "temperature rise", "°C", lambda h: h.run.analysis.temperature_rise_c,
           _signed(1), False),
    Figure("frequency_drop", "CPU frequency drop", "", lambda h: h.run.analysis.frequency_drop, percent, False),
    Figure("energy_prefill_mj", "energy per prefill token", "mJ", lambda h: _energy(h, "prefill", "mj_per_token"),
           fixed(2), False, lambda h: _energy_note(h, "prefill")),
    Figure("energy_decode_mj", "energy per decoded token", "mJ", lambda h: _energy(h, "decode", "mj_per_token"),
           fixed(2), False, lambda h: _energy_note(h, "decode")),
    Figure("average_power_w", "average power", "W", lambda h: h.run.analysis.energy.average_w
           if h.run.analysis.energy else None, fixed(2), False,
           lambda h: f"{h.run.analysis.energy.source}, {h.run.analysis.energy.samples} samples"
           if h.run.analysis.energy else None),
    Figure("sustained_first_tok_s", "sustained decode, start", "tok/s", lambda h: _sustained(h, "first_minute_tok_s"),
           fixed(1), True, lambda h: f"over the first {h.run.analysis.sustained.span_s:.0f} s"
           if h.run.analysis.sustained else None),
    Figure("sustained_last_tok_s", "sustained decode, end", "tok/s", lambda h: _sustained(h, "last_minute_tok_s"),
           fixed(1), True, lambda h: f"over the last {h.run.analysis.sustained.span_s:.0f} s of "
           f"{h.run.analysis.sustained.seconds:.0f} s" if h.run.analysis.sustained else None),
    Figure("sustained_steady_tok_s", "sustained steady state", "tok/s", lambda h: _sustained(h, "steady_tok_s"),
           fixed(1), True, lambda h: "median of the last quarter's windows" if h.run.analysis.sustained else None),
    Figure("time_to_10pct_s", "time to −10%", "s", lambda h: _sustained(h, "time_to_10pct_s"), fixed(0), True),
    Figure("time_to_25pct_s", "time to −25%", "s", lambda h: _sustained(h, "time_to_25pct_s"), fixed(0), True),
    Figure("cooldown_waited_s", "cool-down waited", "s", lambda h: (h.run.analysis.cooldown or {}).get("waited_s"),
           fixed(1), False, lambda h: "{gates} gates, {timed_out} timed out".format(**h.run.analysis.cooldown)
           if h.run.analysis.cooldown else None),
)
FIGURES = {f.key: f for f in HEADLINE_FIGURES}


@dataclass(frozen=True)
class FigureText:
    """How a headline figure reads: its value (p50 for a Stat), p90 and spread (CV, min–max)."""

    value: float | None
    text: str
    p90: str | None
    spread: str | None
    label: str


def figure_text(figure: Figure, headline: Headline) -> FigureText:
    from slm_edge.analysis.run import Stat

    raw = figure.get(headline)
    label = figure.label
    if figure.key == "quality" and raw is not None:
        label = f"quality ({_quality_name(headline).replace('_', ' ')})"
    if isinstance(raw, Stat):
        spread = (f"CV {raw.cv:.1%}, " if raw.cv is not None else "") + \
                 f"{figure.text(raw.min)}–{figure.text(raw.max)} over {raw.n}"
        return FigureText(raw.median, figure.text(raw.median), figure.text(raw.p90), spread, label)
    return FigureText(None if raw is None else float(raw), figure.text(raw), None, figure.note(headline), label)


def present_figures(headlines: Sequence[Headline]) -> list[Figure]:
    """The figures at least one of the runs has (quality, heat: only where measured)."""
    return [f for f in HEADLINE_FIGURES if any(f.get(h) is not None for h in headlines)]


def ratio_text(figure: Figure, value: float | None, baseline: float | None) -> str:
    """value / baseline as '×1.23', marked better (▲) or worse (▼) by the figure's direction."""
    if value is None or not baseline:
        return ""
    ratio = value / baseline
    if figure.higher_is_better is None or abs(ratio - 1) < 0.005:
        return f"×{ratio:.2f}"
    better = (ratio > 1) == figure.higher_is_better
    return f"×{ratio:.2f} {'▲' if better else '▼'}"


def headline_grid(runs: Sequence[LoadedRun], baseline: str | None = None
                  ) -> tuple[list[Headline], list[tuple[Figure, list[tuple[FigureText, str]]]]]:
    """Every present headline figure for every run, with its ratio to the baseline run (the first
    when None; no ratios for a single run): what the terminal, Markdown and HTML tables show."""
    headlines = [Headline.of(run) for run in runs]
    base = next((h for h in headlines if h.run.name == baseline), headlines[0])
    grid = []
    for figure in present_figures(headlines):
        base_value = figure_text(figure, base).value
        grid.append((figure, [(figure_text(figure, h),
                               ratio_text(figure, figure_text(figure, h).value, base_value) if len(runs) > 1 else "")
                              for h in headlines]))
    return headlines, grid


def headline_cell(shown: FigureText, ratio: str) -> str:
    """One figure of one run in a table: 'p50 (p90 …) ×ratio'."""
    return shown.text + (f" (p90 {shown.p90})" if shown.p90 else "") + (f" {ratio}" if ratio else "")
