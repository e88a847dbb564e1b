"""`slm-edge sweep`: a real matrix of tiny models × ONNX schemes, a failing cell, resume, combined report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from slm_edge.errors import SlmEdgeError
from slm_edge.records.trace import Trace
from slm_edge.workflows.sweep import load_spec
from helpers import MIB, chart_rows, page_charts, run_cli, synthetic_trace


def test_sweep_runs_the_matrix_records_failures_and_resumes(tiny_llama, tiny_qwen2, tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"""
name: tiny
models: [{tiny_llama}, {tiny_qwen2}]
backends:
  onnx: [fp32, int4]
  executorch: [int4]     # not a scheme ExecuTorch builds: these cells must fail and the sweep go on
prompt_lengths: [8, 16]
decode_tokens: 6
threads: [2]
repeats: 2
max_seq_len: 64
verify_steps: 4
""")
    out = tmp_path / "sweep"
    first = run_cli("sweep", spec, "--out", out)
    assert first.returncode == 0, first.stderr
    state = json.loads((out / "sweep.json").read_text())["cells"]
    assert sorted(name for name, cell in state.items() if cell["status"] == "complete") == [
        f"{tiny_llama.name}-onnx-fp32", f"{tiny_llama.name}-onnx-int4", f"{tiny_qwen2.name}-onnx-fp32",
        f"{tiny_qwen2.name}-onnx-int4"]
    failed = [cell for cell in state.values() if cell["status"] == "failed"]
    assert len(failed) == 2 and all("cannot build quantization scheme 'int4'" in c["error"] for c in failed)
    for name in ("report.md", "report.html", "report.json", "quantization.md"):
        assert (out / name).is_file(), name
    effect = json.loads((out / "quantization.json").read_text())
    assert {(r["model"], r["scheme"], r["prompt_length"]) for r in effect} == {
        (m.name, "int4", p) for m in (tiny_llama, tiny_qwen2) for p in (8, 16)}
    assert all(r["prefill_speedup"] > 0 and r["decode_speedup"] > 0 for r in effect)
    # quality figures came along for recommend
    trace = Trace.load(out / "cells" / f"{tiny_qwen2.name}-onnx-int4" / "trace.json")
    assert trace.artifact_facts.verify["steps"] == 4
    # and eval's (a fixed token stream: tiny models have no tokenizer), the Pareto front's quality axis
    assert trace.artifact_facts.quality["scored_tokens"] >= 1024 and trace.artifact_facts.quality["kl_mean"] >= 0
    assert "(kl_mean)" in (out / "report.md").read_text()
    # the survey figures of the combined report, from these real cells (one thread count: no threads plot)
    page = (out / "report.html").read_text()
    assert set(page_charts(page)) == {"latency_memory_vs_parameters", "prefill_decode_by_scheme", "pareto_front"}
    assert "over decode_tok_s, peak_memory_bytes, quality" in (out / "report.md").read_text()  # all evaluated

    # resume: finished cells are kept as they are; a cell whose trace is gone runs again
    kept = out / "cells" / f"{tiny_llama.name}-onnx-int4" / "trace.json"
    stamp = kept.stat().st_mtime_ns
    (out / "cells" / f"{tiny_qwen2.name}-onnx-fp32" / "trace.json").unlink()
    second = run_cli("sweep", spec, "--out", out)
    assert second.returncode == 0, second.stderr
    assert kept.stat().st_mtime_ns == stamp
    assert second.stderr.count("done before, kept") == 3
    assert f"{tiny_qwen2.name}-onnx-fp32: complete" in second.stderr
    assert (out / "cells" / f"{tiny_qwen2.name}-onnx-fp32" / "trace.json").is_file()


@pytest.mark.parametrize(("text", "message"), [
    ("models: [a]\n", "needs 'models'"),
    ("models: [a]\nbackends: {onnx: [int4]}\ncolour: red\n", "unknown keys: colour"),
    ("models: [a]\nbackends: {onnx: [int4]}\nthreads: [two]\n", "a number is not a number"),
    ("- just a list\n", "must be a mapping"),
])
def test_bad_sweep_specs_are_refused(text, message, tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(text)
    with pytest.raises(SlmEdgeError, match=message):
        load_spec(spec)


def test_the_example_sweep_spec_loads():
    from pathlib import Path

    spec = load_spec(Path(__file__).parent.parent / "sweeps" / "quantization-effect.yaml")
    assert len(spec.cells) == 6 and {c.model for c in spec.cells} >= {"smollm2-135m", "llama-3.2-1b", "qwen2.5-0.5b"}


SURVEY_SPEC = Path(__file__).parent.parent / "sweeps" / "slm-survey.yaml"
# the quick subset README and BENCHMARKS.md document (under 15 minutes on 2 cores)
QUICK_SUBSET = ["smollm-135m", "smollm-360m", "qwen2-0.5b", "qwen1.5-0.5b", "qwen3-0.6b"]


def test_the_survey_spec_follows_the_survey_protocol_on_cards_our_paths_take():
    from slm_edge.cli.cards import card_path
    from slm_edge.model.cards import load_card

    spec = load_spec(SURVEY_SPEC)
    published = json.loads((Path(__file__).parent.parent / "slm_edge" / "analysis" / "survey_published.json").read_text())
    assert spec.prompt_lengths == [published["protocol"]["prompt_tokens"]] == [50]
    assert spec.decode_tokens == published["protocol"]["decode_tokens"] == 50
    assert spec.max_seq_len == 2048 and spec.threads == ["device"] and spec.ops
    assert {c.quant for c in spec.cells if c.backend == "onnx"} == {"fp32", "int8", "int4"}
    assert {c.quant for c in spec.cells if c.backend == "executorch"} == {"fp32", "8da8w", "8da4w"}
    for cell in spec.cells:  # every cell is a card some path of its backend takes
        assert cell.random_weights
        assert card_path(load_card(cell.model), cell.backend)["path"] is not None, cell
    assert {load_card(m).cohort for m in {c.model for c in spec.cells}} == {"survey", "today"}
    quick = spec.only(QUICK_SUBSET, ["onnx"])
    assert len(quick.cells) == 15 and {c.backend for c in quick.cells} == {"onnx"}
    assert len(spec.only(None, ["onnx"], ["int4"]).cells) == len({c.model for c in spec.cells})
    with pytest.raises(SlmEdgeError, match="has no model openelm-270m.*use models of the spec"):
        spec.only(["openelm-270m"])


@pytest.mark.slow
def test_the_quick_survey_subset_runs_end_to_end_and_states_the_findings(tmp_path):
    """The documented quick subset: five cards on ONNX at three precisions, the survey's protocol, then
    findings.md with every claim given a verdict or said to be untestable here (about 7 minutes)."""
    out = tmp_path / "survey"
    result = run_cli("sweep", SURVEY_SPEC, "--backends", "onnx", "--models", ",".join(QUICK_SUBSET), "--out", out)
    assert result.returncode == 0, result.stderr
    findings = json.loads((out / "findings.json").read_text())
    assert len(findings["points"]) == 15
    claims = {c["id"]: c for c in findings["claims"]}
    for claim in ("memory_linear_in_parameters", "latency_beyond_size", "architecture_prefill_over_decode",
                  "quantization_decode_over_prefill", "decode_linear_in_size", "memory_vocab_compute_buffer",
                  "layer_breakdown_ffn_width"):
        assert claims[claim]["holds"] in (True, False), claims[claim]
    assert claims["gpu_prefill_over_decode"]["holds"] is None
    # decode is memory-bound on this CPU: 4-bit weights buy it ~3.7x, prefill ~1.3x (2026-12-07)
    assert claims["quantization_decode_over_prefill"]["holds"] is True
    assert all(p["op_shares"] for p in findings["points"])  # ops: true in the spec
    page = (out / "report.html").read_text()
    assert 'id="findings"' in page and 'id="findings_vs_parameters"' in page
    assert "Beside the survey's own points" in (out / "findings.md").read_text()


@pytest.mark.slow
def test_example_sweep_reproduces_the_quantization_finding(tmp_path):
    """Survey Fig. 8 on this machine: int4 weights speed decode up far more than prefill."""
    from pathlib import Path

    spec = Path(__file__).parent.parent / "sweeps" / "quantization-effect.yaml"
    out = tmp_path / "sweep"
    result = run_cli("sweep", spec, "--out", out)
    assert result.returncode == 0, result.stderr
    effect = json.loads((out / "quantization.json").read_text())
    assert {r["model"] for r in effect} == {"smollm2-135m", "llama-3.2-1b", "qwen2.5-0.5b"}
    for row in effect:
        assert row["decode_speedup"] > 1.5, row              # decode is memory-bound: 4-bit weights pay
        assert row["decode_speedup"] > row["prefill_speedup"], row   # prefill is compute-bound: far less


# --- survey-style figures of the combined report: given numbers, real analysis and report code ----

def sweep_of(cells: dict[str, dict]) -> list:
    from slm_edge.analysis.loaded import loaded

    return [loaded(name, Trace.from_json(synthetic_trace(**cell))) for name, cell in cells.items()]


CELLS = {
    # small model: int4 is faster and smaller but a little worse; fp16 is dominated by int8 in speed and memory
    "s-fp32": dict(model="s", params=135_000_000, backend="onnx", scheme="fp32", decode_tok_s={1: 40, 2: 70},
                   prefill_ms=50, peak_mib=600, quality=1.0),
    "s-int8": dict(model="s", params=135_000_000, backend="onnx", scheme="int8", decode_tok_s={1: 70, 2: 120},
                   prefill_ms=60, peak_mib=250, quality=0.97),
    "s-fp16": dict(model="s", params=135_000_000, backend="onnx", scheme="fp16", decode_tok_s={1: 50, 2: 90},
                   prefill_ms=55, peak_mib=320, quality=0.96),
    "s-int4": dict(model="s", params=135_000_000, backend="onnx", scheme="int4", decode_tok_s={1: 90, 2: 150},
                   prefill_ms=70, peak_mib=150, quality=0.9),
    "l-int4": dict(model="l", params=1_200_000_000, backend="onnx", scheme="int4", decode_tok_s={1: 12, 2: 20},
                   prefill_ms=400, peak_mib=900, quality=0.92),
}


def test_pareto_front_on_known_cells():
    from slm_edge.analysis.compare import cell_points, pareto_front

    runs = sweep_of(CELLS)
    points = cell_points(runs)
    flags, objectives = pareto_front(points)
    front = {p["cell"] for p, f in zip(points, flags) if f}
    assert objectives == ["decode_tok_s", "peak_memory_bytes", "quality"]
    # fp32: best quality; int8, int4: faster and smaller at lower quality; fp16 loses to int8 on all
    # three; the large int4 model loses to the small int4 on speed, memory and quality
    assert front == {"s-fp32", "s-int8", "s-int4"}
    by_cell = {p["cell"]: p for p in points}
    assert by_cell["s-int8"]["threads"] == 2 and by_cell["s-int8"]["decode_tok_s"] == pytest.approx(120)
    assert by_cell["s-int8"]["peak_memory_bytes"] == 250 * MIB and by_cell["s-int8"]["quality"] == 0.97

    # an unverified cell: quality leaves the comparison instead of judging a cell on a figure it lacks
    runs = sweep_of({**CELLS, "s-int8": {**CELLS["s-int8"], "quality": None}})
    flags, objectives = pareto_front(cell_points(runs))
    assert objectives == ["decode_tok_s", "peak_memory_bytes"]
    # on speed and memory alone the small int4 cell beats every other
    assert {p["cell"] for p, f in zip(cell_points(runs), flags) if f} == {"s-int4"}


def test_threads_scaling_only_with_several_thread_counts():
    from slm_edge.analysis.compare import threads_scaling

    runs = sweep_of(CELLS)
    scaling = threads_scaling(runs)
    assert set(scaling) == set(CELLS)
    assert [(r["threads"], round(r["decode_tok_s"])) for r in scaling["s-int4"]] == [(1, 90), (2, 150)]
    single = {"s-int4": {**CELLS["s-int4"], "decode_tok_s": {2: 150}}}
    assert threads_scaling(sweep_of(single)) == {}


def test_combined_html_report_has_the_survey_plots(tmp_path):
    from slm_edge.report import SURVEY_TITLES, write_reports

    write_reports(tmp_path, sweep_of(CELLS), ("md", "html"), kind="sweep")
    page = (tmp_path / "report.html").read_text()
    charts = page_charts(page)
    for key, title in SURVEY_TITLES.items():
        assert charts[key]["title"].startswith(title) and f'data-chart="{key}"' in page, key
    # every point names its cell (hover) in the data the chart draws
    plotted = {row["cell"] for row in chart_rows(charts["pareto_front"])}
    assert plotted == set(CELLS)
    assert '<table class="sortable" id="sweep_overview">' in page
    overview = (tmp_path / "report.md").read_text().split("## Sweep overview", 1)[1].split("\n## ", 1)[0]
    starred = {line.split("|")[1].strip() for line in overview.splitlines() if line.endswith("| ★ |")}
    assert starred == {"s-fp32", "s-int8", "s-int4"}

    # one thread count: no threads plot; a single run: no survey plots at all
    one_thread = {name: {**cell, "decode_tok_s": {2: cell["decode_tok_s"][2]}} for name, cell in CELLS.items()}
    write_reports(tmp_path, sweep_of(one_thread), ("html",), kind="sweep")
    page = (tmp_path / "report.html").read_text()
    assert "pareto_front" in page_charts(page) and "threads_scaling" not in page_charts(page)
    write_reports(tmp_path, sweep_of({"s-int4": CELLS["s-int4"]}), ("html",), kind="sweep")
    assert "pareto_front" not in page_charts((tmp_path / "report.html").read_text())
