"""report.html: one self-contained page per profile, per `report RUN...` comparison and per sweep.

Everything is inline (styles, the Vega bundle, the charts' specs and data; system fonts only), so
the page opens from disk, offline, and can be forwarded as one file. Figures come from the same
field definitions as the terminal and Markdown (report/fields.py).
"""

from __future__ import annotations

import datetime
import html
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from slm_edge import __version__
from slm_edge.analysis.compare import quantization_effect, sweep_overview
from slm_edge.analysis.loaded import LoadedRun
from slm_edge.analysis.timeline import placement_text
from slm_edge.quality.verdict import quality_line
from slm_edge.report import charts
from slm_edge.report.bundle import vega_bundle
from slm_edge.report.fields import (CELL_FIELDS, QUANTIZATION_FIELDS, ROW_FIELDS, Column, Field, Headline, columns,
                                    figure_text, headers, headline_grid, mib, present_figures, run_rows, texts)
from slm_edge.report.reproduce import PERFETTO_HOWTO, export_command, profile_command, shell

PAGES = ("run", "comparison", "sweep")
ROW_COLUMNS = columns("run", "threads", "prompt_length", "repeats", "ttft_ms_median", "prefill_tok_s_median",
                      "prefill_tok_s_cv", "decode_tok_s_median", "decode_tok_s_p90", "decode_tok_s_cv",
                      "decode_step_ms_median", "decode_step_ms_p99", "load_ms", "rss_increase_bytes")
SWEEP_COLUMNS = columns("cell", "parameters", "threads", "prefill_ms", "decode_tok_s", "peak_memory_bytes",
                        "quality_named", "pareto")
QUANTIZATION_COLUMNS = columns("model", "backend", "scheme", "threads", "prompt_length", "prefill_speedup",
                               "decode_speedup", "memory_ratio")

e = html.escape


def _sortable(table_id: str, cols: Sequence[Column], fields: Mapping[str, Field], records,
              link: dict[str, str] | None = None) -> str:
    """A table whose header cells sort it (click: ascending, again: descending); each cell carries its
    raw value (data-sort) so numbers sort as numbers, not as their text."""
    head = "".join(f'<th scope="col" tabindex="0">{e(h)}</th>' for h in headers(cols, fields))
    body = []
    for record in records:
        cells = []
        for col, text in zip(cols, texts(cols, fields, record)):
            raw = fields[col.keys[0]].get(record)
            sort = raw if isinstance(raw, (int, float)) and not isinstance(raw, bool) else text
            content = e(text)
            if link and col.keys == ["cell"] and link.get(text):
                content = f'<a href="{e(link[text])}">{content}</a>'
            cells.append(f'<td data-sort="{e(str(sort))}">{content}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<table class="sortable" id="{table_id}"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>')


def _kv_table(rows: Sequence[tuple[str, Sequence[str]]], names: Sequence[str]) -> str:
    head = "<tr><th></th>" + "".join(f'<th scope="col">{e(n)}</th>' for n in names) + "</tr>" if len(names) > 1 else ""
    body = "".join(f'<tr><th scope="row">{e(label)}</th>' + "".join(f"<td>{e(v)}</td>" for v in values) + "</tr>"
                   for label, values in rows if any(v and v != "—" for v in values))
    return f'<table class="facts">{head}{body}</table>'


def _size(n) -> str:
    return "—" if n is None else (f"{n / 2**30:.2f} GiB" if n >= 2**30 else mib(n))


def measured_facts(run: LoadedRun) -> list[tuple[str, str]]:
    """What was measured: the device, the runner and its libraries, the artifact and how it was built."""
    trace = run.trace
    device, facts = trace.device, trace.artifact_facts
    provenance = (facts.provenance if facts else None) or {}
    source = provenance.get("source") or {}
    quant = provenance.get("quantization") or {}
    software = dict(trace.software or {})
    exported = provenance.get("versions") or {}
    config = trace.run_config
    return [
        ("device", f"{device.model}" + (" (emulated: this machine, a separate process)" if device.emulated else "")),
        ("SoC / ABI", f"{device.soc or '—'} / {device.abi or '—'}"),
        ("CPU", f"{device.cpu}, {device.cores} cores" + (
            f", max {', '.join(f'{k / 1e6:.2f}' for k in device.cpu_max_freq_khz if k)} GHz"
            if device.cpu_max_freq_khz and any(device.cpu_max_freq_khz) else "")),
        ("RAM", _size(device.ram_bytes)),
        ("OS", device.os),
        ("runner", f"{trace.producer.name} {trace.producer.version}, engine {config.artifact.engine}, mode {config.mode}"),
        ("runtime libraries", ", ".join(f"{k} {v}" for k, v in software.items()
                                        if isinstance(v, str)) or "—"),
        ("model", facts.name if facts and facts.name else "—"),
        ("source", f"{source.get('kind', '—')}: {source.get('origin', '—')}" if source else "—"),
        ("weights", ("random (seed " + str(source.get("seed")) + ")" if source.get("random_weights") else "real")
         if source else "—"),
        ("parameters", f"{facts.parameters / 1e6:.1f} M" if facts and facts.parameters else "—"),
        ("backend / export path", f"{facts.backend} / {provenance.get('export_path', '—')}" if facts else "—"),
        ("quantization", ": ".join(filter(None, (facts.scheme, quant.get("description")))) + (
            f" (group {quant['group_size']})" if quant.get("group_size") else "") if facts else "—"),
        ("artifact size", f"{_size(facts.model_bytes)} model; " + ", ".join(
            f"{name} {_size(size)}" for name, size in (provenance.get("files") or {}).items()) if facts else "—"),
        ("context", f"{facts.max_seq_len} tokens" if facts and facts.max_seq_len else "—"),
        ("exported", f"{provenance.get('created_utc', '—')} in {provenance.get('export_seconds', '—')} s with "
         + ", ".join(f"{k} {v}" for k, v in exported.items()) if provenance else "—"),
        ("manifest", trace.artifact.manifest_sha256[:16] or "—"),
        ("run", (f"sustained: {config.sustained_s:g} s of decoding after a prompt of {(config.prompt_lengths or [0])[0]}, "
                 f"{config.threads[0]} threads" if config.mode == "sustained" else
                 f"prompts {', '.join(map(str, config.prompt_lengths or ()))}; {config.decode_tokens} decoded tokens; "
                 f"{config.repeats} repeats after {config.warmup} warm-up; threads {', '.join(map(str, config.threads))}")
         + (f"; cool-down gate (max {config.cooldown['max_wait_s']:g} s)" if config.cooldown else "")
         + (f"; pinned to cores {', '.join(map(str, config.cpus))}" if config.cpus else "")
         + (f"; waited up to {config.unplug_wait['max_wait_s']:g} s for battery" if config.unplug_wait else "")
         + f"; status {trace.status}"),
        ("power", run.analysis.power or "—"),
        ("threads ran on", placement_text(run.analysis.placement) or "—"),
    ]


DEVICE_FACTS = ("device", "SoC / ABI", "CPU", "RAM", "OS", "runner", "runtime libraries")


def _measured(runs: Sequence[LoadedRun], device_only: bool = False) -> str:
    """A column of facts per run; device_only (a sweep's page): the device and runner, which the cells
    share (each cell's own page has its artifact)."""
    facts = [[(label, value) for label, value in measured_facts(run) if label in DEVICE_FACTS or not device_only]
             for run in runs]
    rows = [(label, [f[i][1] for f in facts]) for i, (label, _) in enumerate(facts[0])]
    return f'<section id="measured"><h2>What was measured</h2>{_kv_table(rows, [r.name for r in runs])}</section>'


def _warnings(runs: Sequence[LoadedRun], several: bool) -> str:
    items = [(run.name, w) for run in runs for w in run.analysis.warnings]
    if not items:
        return '<aside class="warnings ok" id="warnings"><h3>Warnings</h3><p>none</p></aside>'
    return ('<aside class="warnings" id="warnings"><h3>Warnings</h3><ul>' + "".join(
        f"<li>{e(name + ': ' if several else '')}{e(w)}</li>" for name, w in items) + "</ul></aside>")


def _headline_cards(run: LoadedRun) -> str:
    headline = Headline.of(run)
    sustained = run.trace.sustained
    where = (f"prompt {headline.row.prompt_length}, {headline.row.threads} threads, {headline.row.repeats} repeats"
             if headline.row else f"a sustained run: prompt {sustained['prompt_length']}, {sustained['threads']} "
             f"threads, {sustained['seconds']:.0f} s" if sustained else "nothing decoded")
    cards = []
    for figure in present_figures([headline]):
        shown = figure_text(figure, headline)
        cards.append(
            f'<div class="figure" data-key="{figure.key}" data-run="{e(run.name)}">'
            f'<div class="label">{e(shown.label)}</div>'
            f'<div><span class="value">{e(shown.text)}</span> <span class="unit">{e(figure.unit)}</span></div>'
            + (f'<div class="p90">p90 <span>{e(shown.p90)}</span></div>' if shown.p90 else "")
            + (f'<div class="spread">{e(shown.spread)}</div>' if shown.spread else "") + "</div>")
    return (f'<section id="headline"><h2>Headline figures</h2><p class="where">At the longest prompt and the '
            f'fastest thread count ({e(where)}); p50 over repeats, p90 and the spread beside it.</p>'
            f'<div class="headline">{"".join(cards)}{_warnings([run], False)}</div></section>')


def _comparison(runs: Sequence[LoadedRun], baseline: str) -> str:
    """Runs side by side, each figure with its ratio to the baseline run (a menu changes it)."""
    headlines, grid = headline_grid(runs, baseline)
    head = "".join(f'<th scope="col" data-run="{e(h.run.name)}">{e(h.run.name)}</th>' for h in headlines)
    body = []
    for figure, cells in grid:
        tds = "".join(
            f'<td data-run="{e(h.run.name)}" data-value="{"" if shown.value is None else shown.value}">'
            f'<span class="value">{e(shown.text)}</span>'
            + (f' <span class="p90">p90 {e(shown.p90)}</span>' if shown.p90 else "")
            + f' <span class="ratio">{e(ratio)}</span></td>' for h, (shown, ratio) in zip(headlines, cells))
        better = {True: "higher", False: "lower", None: ""}[figure.higher_is_better]
        label = cells[0][0].label + (f" ({figure.unit})" if figure.unit else "")
        body.append(f'<tr data-key="{figure.key}" data-better="{better}"><th scope="row">{e(label)}</th>{tds}</tr>')
    where = "; ".join(f"{h.run.name}: prompt {h.row.prompt_length}, {h.row.threads} threads" for h in headlines if h.row)
    options = "".join(f'<option value="{e(r.name)}"{" selected" if r.name == baseline else ""}>{e(r.name)}</option>'
                      for r in runs)
    return (f'<section id="headline"><h2>Side by side</h2><p class="where">Each run at its longest prompt and '
            f'fastest thread count ({e(where)}); p50 over repeats and p90. Ratios are to the baseline run '
            f'<select id="baseline" aria-label="baseline run">{options}</select> '
            f'(▲ better, ▼ worse).</p><div class="headline"><table id="comparison"><thead><tr><th></th>{head}'
            f'</tr></thead><tbody>{"".join(body)}</tbody></table>{_warnings(runs, True)}</div></section>')


def _chart(key: str, spec: dict | None, note: str = "") -> str:
    if spec is None:
        return ""
    return f'<figure class="chart" id="{key}"><div class="vega" data-chart="{key}"></div>{note}</figure>'


def _memory_table(runs: Sequence[LoadedRun]) -> str:
    rows = []
    for run in runs:
        b = run.analysis.memory_breakdown
        if b is None:
            continue
        error = f"{b.prediction_error:+.1%}" if b.prediction_error is not None else "—"
        rows.append(f"<tr><th scope='row'>{e(run.name)}</th>" + "".join(
            f"<td>{mib(getattr(b.predicted, k))}</td>" for k in ("weight_bytes", "kv_cache_bytes", "activation_bytes",
                                                                 "runtime_bytes", "total_bytes"))
            + "".join(f"<td>{mib(getattr(b.measured, k))}</td>" for k in ("after_load_bytes", "after_prefill_bytes",
                                                                           "peak_bytes"))
            + f"<td>{error}</td></tr>")
    if not rows:
        return ""
    method = next(run.analysis.memory_breakdown for run in runs if run.analysis.memory_breakdown)
    return ('<table id="memory_table"><thead><tr><th></th><th>weights</th><th>KV cache</th><th>activations</th>'
            '<th>runtime</th><th>predicted total</th><th>after load</th><th>after prefill</th><th>peak</th>'
            f'<th>prediction error</th></tr></thead><tbody>{"".join(rows)}</tbody></table>'
            f'<p class="note">Prediction: {e(method.method)}. {e(method.note)}.</p>')


def _quality(runs: Sequence[LoadedRun]) -> str:
    items = []
    for run in runs:
        facts = run.trace.artifact_facts
        if facts and facts.quality:
            q = facts.quality
            items.append(f"<li>{e(run.name)} — <code>slm-edge eval</code> (corpus {e(q['corpus'])}, "
                         f"{q['scored_tokens']} tokens, {e(q['engine'])}): {e(quality_line(q))}</li>")
        if facts and facts.verify:
            v = facts.verify
            figures = ", ".join(f"{k.replace('_', ' ')} {v[k]:.3g}" for k in ("greedy_agreement",
                                "teacher_forced_top1_agreement", "mean_kl") if v.get(k) is not None)
            items.append(f"<li>{e(run.name)} — <code>slm-edge verify</code> ({e(str(v.get('engine')))}, "
                         f"{v.get('steps')} steps): {e(figures)}</li>")
    if not items:
        return ('<section id="quality"><h2>Quality</h2><p class="note">Not measured: run <code>slm-edge eval '
                'ARTIFACT</code> (perplexity, KL, top-1 vs PyTorch) or <code>slm-edge verify ARTIFACT</code> '
                'before profiling, and the figures join this report.</p></section>')
    return f'<section id="quality"><h2>Quality</h2><ul>{"".join(items)}</ul></section>'


def _heat(runs: Sequence[LoadedRun], spec: dict | None) -> str:
    if spec is None:
        return ('<section id="heat"><h2>Heat and frequency</h2><p class="note">Not measured: the device exposed no '
                'temperature, thermal status or CPU frequency readings during the run (a virtual machine has no '
                'thermal zones or cpufreq; a phone reports them).</p></section>')
    drops = "; ".join(f"{run.name}: frequency drop {run.analysis.frequency_drop:.0%}" for run in runs
                      if run.analysis.frequency_drop is not None)
    gates = "; ".join("{name}: the cool-down gate waited {waited_s:.1f} s in all before {gates} repeats "
                      "({timed_out} timed out)".format(name=run.name, **run.analysis.cooldown)
                      for run in runs if run.analysis.cooldown)
    drops = "; ".join(filter(None, (drops, gates)))
    return (f'<section id="heat"><h2>Heat and frequency</h2>{_chart("heat_over_time", spec)}'
            + (f'<p class="note">{e(drops)}</p>' if drops else "") + "</section>")


def _energy(runs: Sequence[LoadedRun]) -> str:
    from slm_edge.analysis.energy import CHARGING_NOTE

    rows, notes = [], []
    for run in runs:
        found = run.analysis.energy
        if found is None:
            if CHARGING_NOTE in run.analysis.warnings:  # the analysis found power, but measured while plugged
                notes.append(f"{run.name}: {CHARGING_NOTE}.")
            continue
        cells = []
        for phase in (found.prefill, found.decode):
            cells.append("—" if phase is None else f"{phase.mj_per_token:.2f}" + (
                f" ± {phase.mj_per_token_error:.2f}" if phase.mj_per_token_error is not None else "")
                + f" ({phase.average_w:.2f} W, {phase.tokens} tokens)")
        rows.append(f"<tr><th scope='row'>{e(run.name)}</th>" + "".join(f"<td>{e(c)}</td>" for c in cells)
                    + f"<td>{found.average_w:.2f}</td><td>{e(found.source)} ({found.samples} samples)</td></tr>")
    if not rows and not notes:
        return ('<section id="energy"><h2>Energy</h2><p class="note">Not measured: the device reported no battery '
                'current and voltage, power figure or energy counter during the run (a virtual machine has none). '
                'On a phone the app samples BatteryManager while the run goes on; run it unplugged (README, '
                '“Energy on a phone”).</p></section>')
    table = "" if not rows else (
        '<table id="energy_table"><thead><tr><th></th><th>prefill mJ/token</th><th>decode mJ/token</th>'
        f'<th>average W</th><th>from</th></tr></thead><tbody>{"".join(rows)}</tbody></table>'
        f'<p class="note">{e(runs[0].analysis.energy.note if runs[0].analysis.energy else "")}</p>')
    return (f'<section id="energy"><h2>Energy</h2>{table}'
            + "".join(f'<p class="warnings">{e(n)}</p>' for n in notes) + "</section>")


def _sustained(runs: Sequence[LoadedRun], spec: dict | None) -> str:
    if spec is None:
        return ""
    lines = []
    for run in runs:
        f = run.analysis.sustained
        if f is None:
            continue
        drop = lambda t: "not reached" if t is None else f"{t:.0f} s"  # noqa: E731
        lines.append(f"<li>{e(run.name)}: {f.seconds:.0f} s of decoding in {f.segments} segments; "
                     f"{f.first_minute_tok_s:.1f} tok/s over the first {f.span_s:.0f} s, {f.last_minute_tok_s:.1f} "
                     f"over the last (−{f.drop:.0%}); steady state {f.steady_tok_s:.1f}; 10% below the start after "
                     f"{drop(f.time_to_10pct_s)}, 25% after {drop(f.time_to_25pct_s)}</li>")
    return (f'<section id="sustained"><h2>Sustained load</h2>{_chart("sustained_throughput", spec)}'
            f'<ul>{"".join(lines)}</ul><p class="note">Temperature, frequency and power over the same time are in '
            f'the heat section below.</p></section>')


def _reproduce(runs: Sequence[LoadedRun], page: str) -> str:
    blocks = []
    for run in runs:
        commands = [c for c in (export_command(run), profile_command(run)) if c]
        text = "\n".join(shell(c) for c in commands)
        perfetto = "perfetto.json" if len(runs) == 1 else f"perfetto-{run.name}.json"
        blocks.append(f'<h3>{e(run.name)}</h3><pre class="command">{e(text)}</pre>'
                      f'<p class="note">{e(PERFETTO_HOWTO.format(file=perfetto if page != "sweep" else "its perfetto.json"))}</p>')
    if len(runs) > 1 and page == "comparison":
        blocks.append("<h3>This comparison</h3><pre class=\"command\">" + e(shell(
            ["slm-edge", "report", *[f"runs/{r.name}" for r in runs], "--format", "html,md", "--baseline",
             runs[0].name, "--out", "runs/compare"])) + "</pre>")
    if page == "sweep":  # a command pair per cell: folded, and the sweep's own command first
        blocks = ['<pre class="command">slm-edge sweep SPEC.yaml --out THIS-FOLDER   # re-runs only the cells whose '
                  'trace is missing</pre><details><summary>Each cell\'s commands</summary>' + "".join(blocks)
                  + "</details>"]
    return ('<section id="reproduce"><h2>Reproduce</h2><p class="note">Rebuilt from each trace: the export from the '
            'artifact\'s manifest (settings it does not record at their defaults), the profile from the run '
            f'config the runner received.</p>{"".join(blocks)}</section>')


def _sweep(runs: Sequence[LoadedRun], folder: Path | None, specs: dict) -> str:
    cells, objectives = sweep_overview(runs)
    links = {run.name: charts.cell_report_link(run, folder) for run in runs}
    effect = quantization_effect(runs)
    parts = [f'<section id="overview"><h2>Cells</h2><p class="note">Each cell at its longest prompt and fastest '
             f'thread count; Pareto-optimal (★) over {e(", ".join(objectives))}. Click a header to sort, a cell to '
             f'open its own report.</p>{_sortable("sweep_overview", SWEEP_COLUMNS, CELL_FIELDS, cells, links)}</section>']
    sweep_charts = charts.sweep_charts(runs, folder)
    specs.update(sweep_charts)
    parts.append('<section id="survey"><h2>Survey-style figures</h2><p class="note">Hover a point for its cell; '
                 'click it to open the cell\'s report; click a legend entry to single out a series.</p>'
                 + "".join(_chart(key, spec) for key, spec in sweep_charts.items()) + "</section>")
    if effect:
        parts.append('<section id="quantization"><h2>What quantization buys, per phase</h2>'
                     + _sortable("quantization_effect", QUANTIZATION_COLUMNS, QUANTIZATION_FIELDS, effect)
                     + "</section>")
    return "".join(parts)


def _findings(runs: Sequence[LoadedRun]) -> str:
    from slm_edge.analysis.findings import survey_findings
    from slm_edge.report.findings import findings_html, findings_plots

    findings = survey_findings(runs)
    return findings_html(findings, findings_plots(findings)) if findings.points else ""


def page_kind(runs: Sequence[LoadedRun], page: str | None) -> str:
    return page or ("run" if len(runs) == 1 else "comparison")


def render_html(runs: Sequence[LoadedRun], folder: Path | None = None, page: str | None = None,
                baseline: str | None = None) -> str:
    """The page for one run, a comparison (ratios to `baseline`, default the first run) or a sweep."""
    kind = page_kind(runs, page)
    specs: dict[str, dict] = {}
    body = [_measured(runs[:1], device_only=True) if kind == "sweep" else _measured(runs)]
    if kind == "run":
        body.append(_headline_cards(runs[0]))
    elif kind == "comparison":
        body.append(_comparison(runs, baseline or runs[0].name))
    if kind == "sweep":  # the cells table is its side by side; each cell's page has the rest
        body.append(_sweep(runs, folder, specs))
        body.append(_findings(runs))
        body.append(f'<details><summary>Warnings of the cells ({sum(len(r.analysis.warnings) for r in runs)})'
                    f'</summary>{_warnings(runs, True)}</details>')
    else:
        if run_rows(runs):  # a sustained run has none: its figures are over time
            body.append('<section id="rows"><h2>Every measured row</h2><p class="note">Click a header to sort.</p>'
                        + _sortable("run_rows", ROW_COLUMNS, ROW_FIELDS, run_rows(runs)) + "</section>")
        run_specs = {key: build(runs) for key, build in charts.RUN_CHARTS.items()}
        specs.update({k: v for k, v in run_specs.items() if v is not None})
        latency = "".join(_chart(k, run_specs[k]) for k in (
            "prefill_latency_vs_prompt_length", "decode_latency_over_sequence", "token_latency_distribution"))
        if latency:
            body.append(f'<section id="latency"><h2>Latency</h2>{latency}</section>')
        body.append('<section id="memory"><h2>Memory</h2>' + _chart("memory_over_time", run_specs["memory_over_time"])
                    + _chart("memory_breakdown", run_specs["memory_breakdown"]) + _memory_table(runs) + "</section>")
        if run_specs["latency_by_op_category"]:
            overhead = "; ".join(f"{run.name} t={o.threads}: tracing cost {o.tracing_overhead:+.1%} per decode step"
                                 for run in runs for o in run.analysis.op_breakdown if o.tracing_overhead is not None)
            body.append('<section id="ops"><h2>Latency by op category</h2>'
                        + _chart("latency_by_op_category", run_specs["latency_by_op_category"],
                                 f'<figcaption>Traced runs, separate from the timed ones. {e(overhead)}</figcaption>')
                        + "</section>")
        body.append(_sustained(runs, run_specs["sustained_throughput"]))
        body.append(_heat(runs, run_specs["heat_over_time"]))
        body.append(_energy(runs))
        if len(runs) > 1:
            body.append(_findings(runs))
    body.append(_quality(runs))
    body.append(_reproduce(runs, kind))
    title = {"run": f"slm-edge profile: {runs[0].name}", "comparison": f"slm-edge: {len(runs)} runs compared",
             "sweep": f"slm-edge sweep: {len(runs)} cells"}[kind]
    # JSON inside <script>: '</' written as '<\/' (the same string to JSON) so no text can close the tag
    chart_json = json.dumps(specs, separators=(",", ":")).replace("</", "<\\/")
    made = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    nav = "".join(f'<a href="#{anchor}">{label}</a>' for anchor, label in (
        ("measured", "what"), ("headline", "headline"), ("overview", "cells"), ("survey", "figures"),
        ("findings", "findings"), ("rows", "rows"), ("latency", "latency"), ("memory", "memory"), ("ops", "ops"),
        ("sustained", "sustained"), ("heat", "heat"), ("energy", "energy"), ("quality", "quality"),
        ("reproduce", "reproduce"))
        if f'id="{anchor}"' in "".join(body))
    return f"""<!doctype html>
<html lang="en" data-page="{kind}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(title)}</title><style>{STYLE}</style></head><body>
<header><h1>{e(title)}</h1><p class="note">slm-edge {e(__version__)}, page written {made}. Self-contained: opens
offline, sends nothing anywhere.</p><nav>{nav}</nav></header>
<main>{"".join(body)}</main>
<script type="application/json" id="slm-edge-charts">{chart_json}</script>
<script>{vega_bundle()}</script>
<script>{SCRIPT}</script>
</body></html>
"""


STYLE = """
:root{--ink:#1d2330;--muted:#5b6475;--line:#d9dde5;--bg:#f7f8fa;--good:#1a7f37;--bad:#c0392b;--accent:#2f6fde}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink);background:#fff}
header{padding:1.2em 2em .6em;background:var(--bg);border-bottom:1px solid var(--line);position:sticky;top:0;z-index:2}
h1{font-size:1.4em;margin:0 0 .2em}h2{font-size:1.15em;margin:1.6em 0 .5em;border-bottom:1px solid var(--line);padding-bottom:.2em}
h3{font-size:1em;margin:1em 0 .3em}nav a{margin-right:1em;color:var(--accent);text-decoration:none}
main{padding:0 2em 3em;max-width:1400px}.note,.where{color:var(--muted);font-size:.92em}
table{border-collapse:collapse;margin:.4em 0}td,th{border:1px solid var(--line);padding:4px 8px;text-align:right;vertical-align:top}
th{background:var(--bg);font-weight:600}table.facts td,table.facts th{text-align:left}
table.sortable th{cursor:pointer;user-select:none}table.sortable th[aria-sort=ascending]::after{content:" ▲"}
table.sortable th[aria-sort=descending]::after{content:" ▼"}
.headline{display:flex;flex-wrap:wrap;gap:.8em;align-items:flex-start}
.figure{border:1px solid var(--line);border-radius:8px;padding:.6em .9em;min-width:150px;background:#fff}
.figure .label{color:var(--muted);font-size:.85em}.figure .value{font-size:1.6em;font-weight:600}
.figure .p90,.figure .spread{color:var(--muted);font-size:.82em}
#comparison .ratio{color:var(--muted);font-size:.85em}#comparison .p90{color:var(--muted);font-size:.8em}
.warnings{border-left:4px solid #e0a800;background:#fffbe6;padding:.4em .9em;max-width:560px;font-size:.9em}
.warnings.ok{border-color:var(--good);background:#f0faf3}.warnings h3{margin:.2em 0}
figure.chart{display:inline-block;margin:.6em 1.2em .6em 0;vertical-align:top}
pre.command{background:var(--bg);border:1px solid var(--line);padding:.6em;white-space:pre-wrap;word-break:break-all}
section.plot{display:inline-block;margin:1em}section.plot svg{max-width:100%;height:auto}
"""

SCRIPT = r"""
(function () {
  // Sortable tables: a header click sorts by each cell's data-sort (numbers as numbers).
  document.querySelectorAll('table.sortable').forEach(function (table) {
    table.querySelectorAll('thead th').forEach(function (th, column) {
      function sort() {
        var ascending = th.getAttribute('aria-sort') !== 'ascending';
        table.querySelectorAll('thead th').forEach(function (other) { other.removeAttribute('aria-sort'); });
        th.setAttribute('aria-sort', ascending ? 'ascending' : 'descending');
        var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = a.cells[column].dataset.sort, y = b.cells[column].dataset.sort;
          var number = /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/;
          var order = (number.test(x) && number.test(y)) ? parseFloat(x) - parseFloat(y)
            : x.localeCompare(y, undefined, {numeric: true});
          return ascending ? order : -order;
        });
        rows.forEach(function (row) { body.appendChild(row); });
      }
      th.addEventListener('click', sort);
      th.addEventListener('keydown', function (event) { if (event.key === 'Enter') sort(); });
    });
  });
  // Comparison: ratios to the baseline the menu names.
  var menu = document.getElementById('baseline');
  if (menu) menu.addEventListener('change', function () {
    document.querySelectorAll('#comparison tbody tr').forEach(function (row) {
      var base = row.querySelector('td[data-run="' + CSS.escape(menu.value) + '"]');
      var baseValue = base ? parseFloat(base.dataset.value) : NaN;
      row.querySelectorAll('td').forEach(function (cell) {
        var value = parseFloat(cell.dataset.value), out = '';
        if (!isNaN(value) && baseValue) {
          var ratio = value / baseValue, better = row.dataset.better;
          out = '×' + ratio.toFixed(2);
          if (better && Math.abs(ratio - 1) >= 0.005) out += ((ratio > 1) === (better === 'higher')) ? ' ▲' : ' ▼';
        }
        cell.querySelector('.ratio').textContent = out;
      });
    });
  });
  // Charts: Vega-Lite specs rendered as SVG by the inlined vega-embed; window.slmEdgeCharts holds the views.
  var specs = JSON.parse(document.getElementById('slm-edge-charts').textContent);
  window.slmEdgeCharts = {};
  Promise.all(Object.keys(specs).map(function (key) {
    var target = document.querySelector('[data-chart="' + key + '"]');
    return vegaEmbed(target, specs[key], {renderer: 'svg', actions: false}).then(function (result) {
      window.slmEdgeCharts[key] = result.view;
    });
  })).then(function () { document.documentElement.dataset.charts = 'ready'; },
           function (error) { document.documentElement.dataset.charts = 'failed'; console.error(error); });
})();
"""
