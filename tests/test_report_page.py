"""report.html in a real browser: Debian's Chromium (headless) driven by Playwright, from disk, offline.

The three kinds of page come from real runs: a real sweep of a tiny model (ONNX fp32, int8 and int4,
two thread counts, op breakdown, verify and eval), one of its cells' own page (a single run), and
`slm-edge report` comparing two cells. A fourth page is a cell's trace with scripted heat signals
(temperature, per-cluster frequency, battery temperature, thermal status), since this VM has none.
Screenshots of each kind go to docs/screenshots/ (the README shows them).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from helpers import run_cli

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "docs" / "screenshots"
MIB = 2**20
# Chromium as root on a closed network (the machine notes' flags: without them it keeps retrying
# Google's hosts, and as root it needs --no-sandbox)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def chromium_path() -> str | None:
    return os.environ.get("SLM_EDGE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def pages(tiny_llama, tmp_path_factory) -> dict[str, Path]:
    """Real runs → {kind: report.html}: sweep, run (a cell's own page), comparison, heat."""
    root = tmp_path_factory.mktemp("pages")
    spec = root / "spec.yaml"
    spec.write_text(f"""
name: page
models: [{tiny_llama}]
backends:
  onnx: [fp32, int8, int4]
prompt_lengths: [8, 24]
decode_tokens: 12
threads: [1, 2]
repeats: 3
max_seq_len: 64
verify_steps: 4
ops: true
""")
    sweep = root / "sweep"
    done = run_cli("sweep", spec, "--out", sweep)
    assert done.returncode == 0, done.stderr
    cells = sorted(p for p in (sweep / "cells").iterdir() if (p / "trace.json").is_file())
    assert len(cells) == 3
    compare = root / "compare"
    done = run_cli("report", cells[0], cells[1], "--format", "table,html,json,md", "--baseline", cells[1].name,
                   "--out", compare)
    assert done.returncode == 0, done.stderr
    heat = root / "heat-run"
    shutil.copytree(cells[0], heat)
    _script_heat(heat / "trace.json")
    done = run_cli("report", heat, "--format", "html,json")
    assert done.returncode == 0, done.stderr
    return {"run": cells[0] / "report.html", "comparison": compare / "report.html", "sweep": sweep / "report.html",
            "heat": heat / "report.html"}


def _script_heat(trace_path: Path) -> None:
    """Known heat signals on the trace's clock: two clusters (4 little cores at 1.8 GHz, 4 big at
    2.8 GHz) whose big cores throttle from 2.8 to 2.0 GHz while the CPU warms 40 → 52 °C; the host saw
    the battery at 30.5 → 33.0 °C and thermal status 0 → 2; the battery gave 1 A at 4 V (4 W)."""
    trace = json.loads(trace_path.read_text())
    trace["device"]["cores"] = 8
    trace["device"]["cpu_max_freq_khz"] = [1_800_000] * 4 + [2_800_000] * 4
    end = max(s["t_ms"] for s in trace["memory_samples"])
    steps = 10
    trace["cpu_samples"] = [{"t_ms": end * i / steps, "temp_c": 40 + 12 * i / steps,
                             "freq_khz": [1_800_000] * 4 + [int(2_800_000 - 800_000 * i / steps)] * 4,
                             "battery_current_ua": -1_000_000, "battery_voltage_mv": 4000.0, "plugged": False}
                            for i in range(steps + 1)]
    origin = trace["clock"]["wall_origin_ms"]
    trace["host"]["context_samples"] = [
        {"t_wall_ms": origin + end * i / 2, "battery_level": 80, "battery_temp_c": 30.5 + 1.25 * i, "powered": False,
         "thermal_status": i} for i in range(3)]
    trace_path.write_text(json.dumps(trace))


@pytest.fixture(scope="module")
def browser():
    path = chromium_path()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("no Chromium: tools/setup.sh installs Debian's chromium as root; install it (apt-get install "
                        "chromium) or set SLM_EDGE_CHROMIUM")
        pytest.skip("no Chromium here (apt-get install chromium, or set SLM_EDGE_CHROMIUM)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Opened:
    """A page opened from disk with every request outside file:// refused and recorded."""

    def __init__(self, browser, path: Path):
        self.context = browser.new_context(viewport={"width": 1280, "height": 900}, offline=True)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.outside: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))

        def refuse(route):
            if route.request.url.startswith("file://"):
                route.continue_()
            else:
                self.outside.append(route.request.url)
                route.abort()

        self.page.route("**/*", refuse)
        self.page.goto(path.as_uri())
        self.page.wait_for_function("document.documentElement.dataset.charts !== undefined", timeout=60_000)

    def close(self):
        self.context.close()


@pytest.fixture
def opened(browser):
    made = []

    def open_page(path: Path) -> Opened:
        made.append(Opened(browser, path))
        return made[-1]

    yield open_page
    for page in made:
        page.close()


@pytest.mark.parametrize("kind", ["run", "comparison", "sweep", "heat"])
def test_page_loads_offline_renders_every_chart_and_is_screenshotted(pages, opened, kind):
    path = pages[kind]
    size = path.stat().st_size
    assert size <= (8 if kind == "sweep" else 2) * 2**20, f"{kind} page is {size / MIB:.1f} MiB"
    view = opened(path)
    page = view.page
    assert page.evaluate("document.documentElement.dataset.charts") == "ready"
    assert view.errors == [] and view.outside == []
    specs = json.loads(page.locator("#slm-edge-charts").text_content())
    expected = {"run": {"prefill_latency_vs_prompt_length", "decode_latency_over_sequence", "token_latency_distribution",
                        "memory_over_time", "memory_breakdown", "latency_by_op_category"},
                "sweep": {"latency_memory_vs_parameters", "prefill_decode_by_scheme", "threads_scaling", "pareto_front"}}
    expected["comparison"] = expected["run"]
    expected["heat"] = expected["run"] | {"heat_over_time"}
    assert set(specs) == expected[kind]
    for key in specs:
        marks = page.locator(f'[data-chart="{key}"] svg .role-mark > *')
        assert marks.count() > 0, f"{key} drew no marks"
    if kind == "heat":  # the scripted signals, one facet each, and the big cluster's drop stated
        heat = page.locator('[data-chart="heat_over_time"]').text_content()
        for signal in ("CPU temperature (°C)", "CPU frequency (MHz)", "battery temperature (°C)", "thermal status"):
            assert signal in heat
        assert "cores 4-7 (2.8 GHz)" in heat and "cores 0-3 (1.8 GHz)" in heat
        assert page.locator('.figure[data-key="temperature_rise_c"] .value').text_content() == "+12.0"
        assert "power (W)" in heat
        energy = json.loads((path.parent / "report.json").read_text())["energy"]
        assert energy["average_w"] == pytest.approx(4.0)
        card = page.locator('.figure[data-key="energy_decode_mj"] .value').text_content()
        assert float(card) == pytest.approx(energy["decode"]["mj_per_token"], abs=0.006)
        assert page.locator("#energy_table").count() == 1
    else:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        # the page's top 2,400 px as JPEG: what a reader sees first, small enough to keep in the repository
        height = min(page.evaluate("document.documentElement.scrollHeight"), 2400)
        shot = SCREENSHOTS / f"{kind}.jpg"
        page.screenshot(path=str(shot), type="jpeg", quality=70, full_page=True,
                        clip={"x": 0, "y": 0, "width": 1280, "height": height})
        assert shot.stat().st_size > 20_000


def _headline_row(analysis: dict) -> dict:
    """report.json's row the headline shows, chosen here from the JSON alone."""
    rows = [r for r in analysis["rows"] if r["decode_tok_s"]]
    longest = max(r["prompt_length"] for r in rows)
    return max((r for r in rows if r["prompt_length"] == longest), key=lambda r: r["decode_tok_s"]["median"])


def _expected(analysis: dict) -> dict[str, float]:
    row = _headline_row(analysis)
    return {"ttft_ms": row["ttft_ms"]["median"], "prefill_tok_s": row["prefill_tok_s"]["median"],
            "decode_tok_s": row["decode_tok_s"]["median"], "decode_step_ms": row["decode_step_ms"]["median"],
            "peak_memory_bytes": analysis["peak_increase_bytes"] / MIB, "peak_rss_bytes": analysis["peak_hwm_bytes"] / MIB}


def _number(text: str) -> float:
    return float(re.sub(r"[^0-9.eE+-]", "", text))


def test_headline_numbers_are_report_json_s(pages, opened):
    view = opened(pages["run"])
    analysis = json.loads((pages["run"].parent / "report.json").read_text())
    shown = {key: view.page.locator(f'.figure[data-key="{key}"] .value').text_content() for key in _expected(analysis)}
    for key, value in _expected(analysis).items():
        digits = 2 if key == "decode_step_ms" else 1
        assert _number(shown[key]) == pytest.approx(value, abs=0.51 * 10**-digits), key
    # p90 beside the p50, from the same row
    row = _headline_row(analysis)
    p90 = view.page.locator('.figure[data-key="decode_tok_s"] .p90 span').text_content()
    assert _number(p90) == pytest.approx(row["decode_tok_s"]["p90"], abs=0.051)
    # the quality card is eval's mean KL, as the trace's facts have it
    trace = json.loads((pages["run"].parent / "trace.json").read_text())
    kl = view.page.locator('.figure[data-key="quality"] .value').text_content()
    assert _number(kl) == pytest.approx(trace["host"]["artifact"]["quality"]["kl_mean"], rel=1e-3)

    # the comparison: every run's cell holds its report.json figure; ratios are to the chosen baseline
    compare = opened(pages["comparison"])
    analyses = json.loads((pages["comparison"].parent / "report.json").read_text())
    for run, analysis in analyses.items():
        for key, value in _expected(analysis).items():
            cell = compare.page.locator(f'#comparison tr[data-key="{key}"] td[data-run="{run}"]')
            assert float(cell.get_attribute("data-value")) == pytest.approx(value * (MIB if "bytes" in key else 1))
    baseline = compare.page.locator("#baseline").input_value()
    assert compare.page.locator(f'#comparison tr[data-key="decode_tok_s"] td[data-run="{baseline}"] .ratio'
                                ).text_content() == "×1.00"


def test_sorting_toggles_baseline_and_links_work(pages, opened):
    view = opened(pages["run"])
    page = view.page
    table = page.locator("#run_rows")
    header = table.locator("thead th", has_text="decode tok/s").first
    column = [t.strip() for t in table.locator("thead th").all_text_contents()].index("decode tok/s")

    def column_values() -> list[float]:
        return [float(c.get_attribute("data-sort")) for c in table.locator(f"tbody tr td:nth-child({column + 1})").all()]

    header.click()
    assert header.get_attribute("aria-sort") == "ascending" and column_values() == sorted(column_values())
    header.click()
    assert header.get_attribute("aria-sort") == "descending"
    assert column_values() == sorted(column_values(), reverse=True) and len(column_values()) == 4

    # clicking a legend entry fades the other series (the legend-bound selection)
    chart = page.locator('[data-chart="decode_latency_over_sequence"]')
    lines = chart.locator("svg .mark-line path")
    assert lines.count() == 4 and {lines.nth(i).get_attribute("opacity") for i in range(4)} == {"1"}
    label = chart.locator("svg .role-legend-label text").nth(1)
    picked = label.text_content()
    label.click()
    page.wait_for_function("""() => Array.from(document.querySelectorAll(
        '[data-chart="decode_latency_over_sequence"] svg .mark-line path')).filter(p => p.getAttribute('opacity') !== '1').length === 3""")
    kept = [lines.nth(i).get_attribute("aria-label") for i in range(4) if lines.nth(i).get_attribute("opacity") == "1"]
    assert len(kept) == 1 and f"series: {picked};" in kept[0]

    # the comparison's baseline menu recomputes every ratio
    compare = opened(pages["comparison"]).page
    runs = [o.get_attribute("value") for o in compare.locator("#baseline option").all()]
    other = next(r for r in runs if r != compare.locator("#baseline").input_value())
    compare.locator("#baseline").select_option(other)
    assert compare.locator(f'#comparison tr[data-key="decode_tok_s"] td[data-run="{other}"] .ratio').text_content() == "×1.00"
    values = {r: float(compare.locator(f'#comparison tr[data-key="decode_tok_s"] td[data-run="{r}"]').get_attribute(
        "data-value")) for r in runs}
    first = next(r for r in runs if r != other)
    ratio = compare.locator(f'#comparison tr[data-key="decode_tok_s"] td[data-run="{first}"] .ratio').text_content()
    assert ratio.startswith(f"×{values[first] / values[other]:.2f}")

    # the sweep: every cell links to its own page, relative to the sweep's folder, and it exists
    sweep = opened(pages["sweep"]).page
    links = sweep.locator("#sweep_overview a").all()
    assert len(links) == 3
    for link in links:
        href = link.get_attribute("href")
        assert not href.startswith("/") and (pages["sweep"].parent / href).is_file()
    # a point of the Pareto chart opens its cell (Vega's href channel)
    assert "href" in json.dumps(json.loads(sweep.locator("#slm-edge-charts").text_content())["pareto_front"])


def test_reproduce_commands_are_valid_cli_calls(pages):
    """The page's commands parse with the CLI's own options (click), and name the run's settings."""
    import shlex

    from slm_edge.analysis.loaded import load_run
    from slm_edge.cli import main
    from slm_edge.report.reproduce import export_command, profile_command

    run = load_run(pages["run"].parent)
    for command in (export_command(run), profile_command(run)):
        assert command[0] == "slm-edge"
        main.make_context("slm-edge", command[1:2], resilient_parsing=True)
        main.commands[command[1]].make_context(command[1], list(command[2:]))  # raises on an unknown option
    profile = profile_command(run)
    assert profile[profile.index("--threads") + 1] == "1,2" and profile[profile.index("--prompt-lengths") + 1] == "8,24"
    assert "--ops" in profile and "--emulated" in profile
    export = export_command(run)
    assert export[export.index("--quant") + 1] == run.trace.artifact_facts.scheme
    page = pages["run"].read_text()
    assert shlex.join(profile).replace("'", "&#x27;") in page or shlex.join(profile) in page


def test_markdown_and_terminal_show_the_page_s_headline(pages):
    """The three formats read the same field definitions: the same texts in each."""
    from slm_edge.analysis.loaded import load_runs
    from slm_edge.report import headline_table, markdown
    from slm_edge.report.fields import headline_cell, headline_grid

    runs = load_runs(sorted((pages["sweep"].parent / "cells").iterdir())[:2])
    _, grid = headline_grid(runs, runs[1].name)
    text = markdown(runs, runs[1].name)
    from rich.console import Console

    console = Console(width=400, record=True)
    console.print(headline_table(runs, runs[1].name))
    terminal = console.export_text()
    for figure, cells in grid:
        for shown, ratio in cells:
            assert headline_cell(shown, ratio) in text and headline_cell(shown, ratio) in terminal, figure.key
    html = pages["comparison"].read_text()
    decode = dict(grid)[next(f for f, _ in grid if f.key == "decode_tok_s")]
    assert all(f'<span class="value">{shown.text}</span>' in html for shown, _ in decode)


def test_a_baseline_that_is_no_run_is_refused_in_one_line(pages, tmp_path):
    cells = sorted((pages["sweep"].parent / "cells").iterdir())
    done = run_cli("report", cells[0], cells[1], "--format", "html", "--baseline", "nope", "--out", tmp_path)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "--baseline 'nope' is none of the runs compared" in done.stderr


def test_memory_chart_keeps_peaks_within_the_page_budget():
    """A long run's 12,000 samples become at most 2,000 points, and the highest sample is among them."""
    from slm_edge.report.charts import MAX_POINTS, peak_preserving

    samples = [{"t_ms": i * 50.0, "rss_bytes": 100 + (i % 97)} for i in range(12_000)]
    samples[7_777]["rss_bytes"] = 10**9
    kept = peak_preserving(samples)
    assert len(kept) <= MAX_POINTS and samples[7_777] in kept
    assert [s["t_ms"] for s in kept] == sorted(s["t_ms"] for s in kept)
    assert peak_preserving(samples[:10]) == samples[:10]
