"""The terminal table (rich): one line per run and (threads, prompt length)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table

from slm_edge.analysis.loaded import LoadedRun
from slm_edge.report.fields import ROW_FIELDS, columns, headers, headline_cell, headline_grid, run_rows, texts

TERMINAL_COLUMNS = columns(
    "run", ("threads", "thr"), "prompt_length", "ttft_ms_median",
    ("{prefill_tok_s_median} ({prefill_tok_s_cv})", "prefill tok/s (CV)"),
    ("{decode_tok_s_median} / {decode_tok_s_p90} ({decode_tok_s_cv})", "decode tok/s p50/p90 (CV)"),
    ("{decode_step_ms_median}/{decode_step_ms_p90}/{decode_step_ms_p99}", "step ms p50/p90/p99"),
    "load_ms", ("{peak_hwm_bytes} (+{peak_increase_bytes})", "peak RSS (+Δ)"))


def terminal_table(runs: Sequence[LoadedRun]) -> Table:
    table = Table(title="slm-edge profile", title_justify="left")
    for column, header in zip(TERMINAL_COLUMNS, headers(TERMINAL_COLUMNS, ROW_FIELDS)):
        table.add_column(header, justify="left" if column.keys == ["run"] else "right")
    for record in run_rows(runs):
        table.add_row(*texts(TERMINAL_COLUMNS, ROW_FIELDS, record))
    return table


def headline_table(runs: Sequence[LoadedRun], baseline: str | None = None) -> Table:
    """The headline figures (report.fields.HEADLINE_FIGURES), a column per run, with ratios to the
    baseline run when there are several."""
    headlines, grid = headline_grid(runs, baseline)
    table = Table(title="headline (longest prompt, fastest threads; p50, p90" + (
        f", × {baseline or runs[0].name})" if len(runs) > 1 else ")"), title_justify="left")
    table.add_column("figure", justify="left")
    for h in headlines:
        table.add_column(h.run.name, justify="right")
    for figure, cells in grid:
        table.add_row(f"{cells[0][0].label} ({figure.unit})" if figure.unit else cells[0][0].label,
                      *(headline_cell(shown, ratio) for shown, ratio in cells))
    return table
