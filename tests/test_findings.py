"""The survey's findings (analysis/findings.py) on synthetic traces whose answers are known by
construction: memory exactly linear in size, decode time set by size alone, prefill time set by depth
as much as by size, quantization buying decode more than prefill (then less, for the verdict to flip)."""

from __future__ import annotations

import json
import math

import pytest

from slm_edge.analysis.findings import decompose, survey_findings
from slm_edge.analysis.regression import linear_fit, shapley_r2
from slm_edge.analysis.loaded import loaded
from slm_edge.records.trace import Trace
from slm_edge.report.findings import findings_markdown
from helpers import synthetic_trace

# (name, parameters in millions, layers): sizes and depths chosen uncorrelated
MODELS = [("m100", 100, 30), ("m110", 110, 8), ("m200", 200, 24), ("m300", 300, 12), ("m400", 400, 40)]
PROMPT = 50
BYTES_PER_PARAMETER = {"fp32": 4.0, "int4": 0.6}


def _architecture(layers: int) -> dict:
    return {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "parameters": 0, "layers": layers,
            "hidden_size": 512, "attention_heads": 8, "kv_heads": 8, "head_dim": 64, "ffn_size": 1536,
            "vocab_size": 32000, "tied_embeddings": True, "max_position_embeddings": 2048}


def _runs(decode_gain: float, prefill_gain: float):
    runs = []
    for scheme in ("fp32", "int4"):
        decode_factor, prefill_factor = (1, 1) if scheme == "fp32" else (decode_gain, prefill_gain)
        for name, millions, layers in MODELS:
            decode_ms = 0.05 * millions / decode_factor  # size alone
            prefill_ms_per_token = 0.001 * millions * layers / prefill_factor  # size and depth
            peak_mib = BYTES_PER_PARAMETER[scheme] * millions * 1e6 / 2**20 + 100
            trace = synthetic_trace(name, millions * 1_000_000, "onnx", scheme, decode_tok_s={2: 1000 / decode_ms},
                                    prefill_ms=prefill_ms_per_token * PROMPT, peak_mib=peak_mib, quality=None,
                                    prompt_lengths=(PROMPT,), decode_steps=8, repeats=2, engine="onnxruntime")
            trace["host"]["artifact"]["architecture"] = _architecture(layers)
            runs.append(loaded(f"{name}-onnx-{scheme}", Trace.from_json(trace)))
    return runs


def test_shapley_shares_sum_to_r2_and_go_to_the_column_that_explains():
    xs = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    noise = [0.3, -0.1, 0.2, 0.5, -0.4, 0.1]
    r2, shares = shapley_r2({"x": xs, "noise": noise}, [2 * x + 1 for x in xs])
    assert r2 == pytest.approx(1.0)
    assert sum(shares.values()) == pytest.approx(r2)
    assert shares["x"] > 0.9 and shares["noise"] < 0.1
    fit = linear_fit(xs, [3 * x - 2 for x in xs], "x", "y")
    assert (fit.slope, fit.intercept, fit.r2) == (pytest.approx(3), pytest.approx(-2), pytest.approx(1))


def test_findings_recover_what_the_synthetic_sweep_was_built_with():
    findings = survey_findings(_runs(decode_gain=3.0, prefill_gain=1.2), published=[])
    claims = {c.id: c for c in findings.claims}

    memory = {fit.x: fit for fit in findings.fits if fit.y == "peak_memory_mib"}
    for scheme, per_parameter in BYTES_PER_PARAMETER.items():
        fit = memory[f"parameters_m (onnx {scheme})"]
        assert fit.r2 == pytest.approx(1.0) and fit.n == len(MODELS)
        assert fit.slope * 2**20 / 1e6 == pytest.approx(per_parameter, rel=1e-3)  # bytes per parameter
        assert fit.intercept == pytest.approx(100, abs=0.5)
    assert claims["memory_linear_in_parameters"].holds is True

    for group, ds in findings.decompositions.items():
        by_phase = {d.phase: d for d in ds}
        # decode was built from size alone: size explains all of it, architecture nothing more
        assert by_phase["decode"].r2_size_only == pytest.approx(1.0, abs=1e-9)
        assert by_phase["decode"].beyond_size == pytest.approx(0.0, abs=1e-9)
        # prefill was built from size × depth: depth explains much of it, beyond size
        assert by_phase["prefill"].r2_size_only < 0.7 and by_phase["prefill"].r2 > 0.95
        assert by_phase["prefill"].beyond_size > 0.3
        assert by_phase["prefill"].shares["layers"] > by_phase["prefill"].shares["log_parameters"]
        assert sum(by_phase["prefill"].shares.values()) == pytest.approx(by_phase["prefill"].r2)
    assert claims["architecture_prefill_over_decode"].holds is True
    # m100 and m110 are within 25% in size, and m100's 30 layers against m110's 8 make its prefill 3.4x
    pair = max((p for p in findings.similar_size_pairs if p["phase"] == "prefill"), key=lambda p: p["ratio"])
    assert (pair["slower"], pair["faster"]) == ("m100", "m110")
    assert pair["ratio"] == pytest.approx(100 * 30 / (110 * 8), rel=1e-3)
    assert claims["latency_beyond_size"].holds is True

    speedups = {(r["model"], r["scheme"]): r for r in findings.quantization}
    assert len(speedups) == len(MODELS) and all(r["over"] == "fp32" for r in speedups.values())
    assert all(r["decode_speedup"] == pytest.approx(3.0, rel=1e-3) and r["prefill_speedup"] == pytest.approx(1.2, rel=1e-3)
               for r in speedups.values())
    assert claims["quantization_decode_over_prefill"].holds is True
    assert claims["gpu_prefill_over_decode"].holds is None  # no GPU path: said, not guessed

    page = findings_markdown(findings)
    assert "Where we disagree" not in page
    assert "| memory_linear_in_parameters (Fig. 7) |" in page and "**holds**" in page
    json.dumps(findings.to_json())  # findings.json is plain JSON


def test_a_finding_that_fails_on_this_device_is_said_plainly():
    findings = survey_findings(_runs(decode_gain=1.1, prefill_gain=2.5), published=[])
    claim = next(c for c in findings.claims if c.id == "quantization_decode_over_prefill")
    assert claim.holds is False
    assert "decode ×1.10, prefill ×2.50" in claim.evidence
    page = findings_markdown(findings)
    assert "Where we disagree with the survey" in page
    assert "- quantization_decode_over_prefill (Fig. 8): not borne out here." in page


def test_too_few_models_leave_a_claim_untested_not_guessed():
    runs = [run for run in _runs(3.0, 1.2) if run.name.startswith(("m100-", "m400-"))]
    findings = survey_findings(runs, published=[])
    claims = {c.id: c for c in findings.claims}
    assert claims["memory_linear_in_parameters"].holds is None
    assert claims["architecture_prefill_over_decode"].holds is None
    assert decompose([p for p in findings.points if p.scheme == "fp32"], "prefill") is None
    assert claims["quantization_decode_over_prefill"].holds is True  # pairs of one model suffice for that one
    assert math.isfinite(findings.points[0].prefill_ms)


def test_peak_memory_leaves_the_op_tracing_window_out():
    """`--ops` loads a second, traced copy of the model after the timed runs: its memory is not the
    run's (the runner resets VmHWM when the window closes, and analysis skips the window's samples)."""
    from slm_edge.analysis.run import analyze
    from helpers import BASELINE_BYTES, MIB

    trace = synthetic_trace("m", 100_000_000, "onnx", "int4", decode_tok_s={2: 100.0}, prefill_ms=50.0, peak_mib=150,
                            quality=None, engine="onnxruntime")
    timed = {"t_ms": 10.0, "rss_bytes": BASELINE_BYTES + 140 * MIB, "hwm_bytes": BASELINE_BYTES + 150 * MIB, "phase": "decode"}
    traced = {"t_ms": 30.0, "rss_bytes": BASELINE_BYTES + 400 * MIB, "hwm_bytes": BASELINE_BYTES + 400 * MIB, "phase": "ops"}
    trace["memory_samples"] = [timed, traced]
    trace["phase_markers"] = [{"t_ms": 20.0, "phase": "ops", "event": "start", "run": None},
                              {"t_ms": 40.0, "phase": "ops", "event": "end", "run": None}]
    assert analyze(Trace.from_json(trace)).peak_increase_bytes == 150 * MIB
    trace["memory_samples"] = [timed, {**traced, "phase": "decode"}]  # the window alone excludes it too
    assert analyze(Trace.from_json(trace)).peak_increase_bytes == 150 * MIB
    trace["phase_markers"] = []
    assert analyze(Trace.from_json(trace)).peak_increase_bytes == 400 * MIB  # no window: a timed peak
