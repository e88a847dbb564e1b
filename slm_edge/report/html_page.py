"""report.html: the runs' rows, warnings, the sweep overview and the plots (inline SVG)."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

from slm_edge.analysis.compare import sweep_overview
from slm_edge.analysis.loaded import LoadedRun
from slm_edge.report.fields import CELL_FIELDS, ROW_FIELDS, Column, Field, columns, headers, run_rows, texts
from slm_edge.report.plots import plots
from slm_edge.quality.verdict import quality_line

RUN_COLUMNS = columns("run", "threads", "prompt_length", "ttft_ms_median", "prefill_tok_s_median",
                      "decode_tok_s_median", "decode_tok_s_p90", "decode_step_ms_p99", "rss_increase_bytes")
SWEEP_COLUMNS = columns("cell", "parameters", "threads", "prefill_ms", "decode_tok_s", "peak_memory_bytes", "quality",
                        "pareto")


def _head(cols: Sequence[Column], fields: Mapping[str, Field]) -> str:
    return "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in headers(cols, fields)) + "</tr>"


def _rows(cols: Sequence[Column], fields: Mapping[str, Field], records) -> str:
    return "".join("<tr>" + "".join(f"<td>{html.escape(text)}</td>" for text in texts(cols, fields, record)) + "</tr>"
                   for record in records)


def _findings_section(runs: Sequence[LoadedRun]) -> str:
    from slm_edge.analysis.findings import survey_findings
    from slm_edge.report.findings import findings_html, findings_plots

    findings = survey_findings(runs)
    return findings_html(findings, findings_plots(findings)) if findings.points else ""


def render_html(runs: Sequence[LoadedRun]) -> str:
    figures = plots(runs)
    warnings = [w for run in runs for w in run.analysis.warnings]
    sections = "".join(f'<section class="plot" id="{key}">{svg}</section>' for key, svg in figures.items())
    cells, objectives = sweep_overview(runs) if len(runs) > 1 else ([], [])
    overview = "" if len(cells) < 2 else (
        f'<h2>Sweep overview</h2><p>Each cell at its longest prompt and fastest thread count; Pareto-optimal over '
        f'{html.escape(", ".join(objectives))}.</p><table id="sweep_overview">{_head(SWEEP_COLUMNS, CELL_FIELDS)}'
        f'{_rows(SWEEP_COLUMNS, CELL_FIELDS, cells)}</table>')
    evaluated = [(run.name, run.trace.artifact_facts.quality) for run in runs
                 if run.trace.artifact_facts and run.trace.artifact_facts.quality]
    quality = "" if not evaluated else "<h2>Quality (slm-edge eval)</h2><ul>" + "".join(
        f"<li>{html.escape(name)} (corpus {html.escape(q['corpus'])}, {q['scored_tokens']} tokens, {html.escape(q['engine'])}): "
        f"{html.escape(quality_line(q))}</li>" for name, q in evaluated) + "</ul>"
    findings = _findings_section(runs) if len(runs) > 1 else ""
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>slm-edge profile</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}
.plot{{display:inline-block;margin:1em}}</style></head><body>
<h1>slm-edge profile</h1>
<table>{_head(RUN_COLUMNS, ROW_FIELDS)}
{_rows(RUN_COLUMNS, ROW_FIELDS, run_rows(runs))}</table>
{quality}
<h2>Warnings</h2><ul>{''.join(f'<li>{html.escape(w)}</li>' for w in warnings) or '<li>none</li>'}</ul>
{overview}
{findings}
<h2>Plots</h2>{sections}
</body></html>
"""
