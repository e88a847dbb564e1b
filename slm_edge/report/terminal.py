"""The terminal table (rich): one line per run and (threads, prompt length)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table

from slm_edge.analysis.loaded import LoadedRun
from slm_edge.report.fields import ROW_FIELDS, columns, headers, run_rows, texts

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
