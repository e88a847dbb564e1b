"""Loaded runs → report files (JSON, CSV, Markdown, HTML with plots, Perfetto trace) and the terminal table.

fields.py defines every figure once; each format has one renderer (terminal, markdown, html_page,
perfetto, and json/csv in formats.py), a function of a list of LoadedRun; charts.py builds the page's interactive charts (Vega-Lite).
"""

from slm_edge.analysis.loaded import LoadedRun, load_run, load_runs
from slm_edge.report.charts import SURVEY_TITLES
from slm_edge.report.formats import CSV_COLUMNS, FILE_FORMATS, FORMATS, TERMINAL, Page, choose_formats, write_reports
from slm_edge.report.html_page import render_html
from slm_edge.report.markdown import markdown, quantization_markdown
from slm_edge.report.perfetto import perfetto
from slm_edge.report.terminal import headline_table, terminal_table

__all__ = ["CSV_COLUMNS", "FILE_FORMATS", "FORMATS", "SURVEY_TITLES", "TERMINAL", "LoadedRun", "Page", "choose_formats", "headline_table",
           "load_run", "load_runs", "markdown", "perfetto", "quantization_markdown", "render_html",
           "terminal_table", "write_reports"]
