"""Loaded runs → report files (JSON, CSV, Markdown, HTML with plots, Perfetto trace) and the terminal table.

fields.py defines every figure once; each format has one renderer (terminal, markdown, html_page,
perfetto, and json/csv in formats.py), a function of a list of LoadedRun; plots.py draws the figures.
"""

from slm_edge.analysis.loaded import LoadedRun, load_run, load_runs
from slm_edge.report.formats import CSV_COLUMNS, FILE_FORMATS, FORMATS, TERMINAL, choose_formats, write_reports
from slm_edge.report.html_page import render_html
from slm_edge.report.markdown import markdown, quantization_markdown
from slm_edge.report.perfetto import perfetto
from slm_edge.report.plots import SURVEY_TITLES, plots
from slm_edge.report.terminal import terminal_table

__all__ = ["CSV_COLUMNS", "FILE_FORMATS", "FORMATS", "SURVEY_TITLES", "TERMINAL", "LoadedRun", "choose_formats",
           "load_run", "load_runs", "markdown", "perfetto", "plots", "quantization_markdown", "render_html",
           "terminal_table", "write_reports"]
