"""Trace → figures: latency per phase, per-token distribution, memory, variability, warnings.

`analyze(trace)` (a records.trace.Trace) returns a RunAnalysis: typed, frozen records whose to_json() is the analysis as
reports write it (report.json) and from_json() reads it back.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from slm_edge.analysis.energy import CHARGING_NOTE, Energy, energy, power_condition, power_series, was_plugged
from slm_edge.analysis.timeline import thread_placement
from slm_edge.analysis.sustained import Sustained, sustained
from slm_edge.records._json import thaw
from slm_edge.records.trace import Trace

CV_WARN = 0.05  # coefficient of variation above which a figure is flagged as unstable
FREQ_DROP_WARN = 0.10
TEMP_RISE_WARN_C = 5.0
OUTLIER_MAD = 10.0  # a decode step further than this many MADs above the median is an outlier


def percentile(values, q: float) -> float:
    """Linear-interpolation percentile (numpy's default), q in 0..100."""
    return float(np.percentile(np.asarray(values, dtype=float), q))


def cv(values) -> float | None:
    """Coefficient of variation (sample standard deviation / mean); None with fewer than 2 values."""
    if len(values) < 2:
        return None
    mean = statistics.fmean(values)
    return statistics.stdev(values) / mean if mean else None


def summarize(values) -> dict:
    return {
        "median": float(statistics.median(values)),
        "mean": float(statistics.fmean(values)),
        "p90": percentile(values, 90),
        "p99": percentile(values, 99),
        "min": float(min(values)),
        "max": float(max(values)),
        "cv": cv(values),
        "n": len(values),
    }


def _frequency_drop(cpu_samples: Sequence[Mapping]) -> float | None:
    """Relative drop of the mean core frequency from the first to the last sample."""
    readings = [s["freq_khz"] for s in cpu_samples if s.get("freq_khz") and all(f for f in s["freq_khz"])]
    if len(readings) < 2:
        return None
    first, last = statistics.fmean(readings[0]), statistics.fmean(readings[-1])
    return (first - last) / first if first else None


def _temperature_rise(cpu_samples: Sequence[Mapping]) -> float | None:
    temps = [s["temp_c"] for s in cpu_samples if s.get("temp_c") is not None]
    return temps[-1] - temps[0] if len(temps) >= 2 else None


def _plain(value):
    """Records → the JSON they stand for, in field order (tuples become lists)."""
    if dataclasses.is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class Stat:
    """One figure over the repeats (or decode steps) of a group."""

    median: float
    mean: float
    p90: float
    p99: float
    min: float
    max: float
    cv: float | None
    n: int

    @classmethod
    def of(cls, values) -> Stat:
        return cls(**summarize(values))

    @classmethod
    def from_json(cls, data: Mapping | None) -> Stat | None:
        return None if data is None else cls(**data)

    def to_json(self) -> dict:
        return _plain(self)


@dataclass(frozen=True)
class Row:
    """The measured runs at one (threads, prompt length)."""

    threads: int
    prompt_length: int
    repeats: int
    ttft_ms: Stat
    prefill_ms: Stat
    prefill_tok_s: Stat
    decode_tok_s: Stat | None  # None: no run decoded a token
    decode_step_ms: Stat | None
    decode_step_ms_by_position: tuple[float, ...]
    decode_outlier_steps: int
    load_ms: float | None
    rss_end_bytes: int
    rss_increase_bytes: int

    @classmethod
    def from_json(cls, data: Mapping) -> Row:
        stats = {name: Stat.from_json(data[name]) for name in ("ttft_ms", "prefill_ms", "prefill_tok_s",
                                                               "decode_tok_s", "decode_step_ms")}
        return cls(**{**data, **stats, "decode_step_ms_by_position": tuple(data["decode_step_ms_by_position"])})

    def to_json(self) -> dict:
        return _plain(self)


@dataclass(frozen=True)
class PredictedMemory:
    weight_bytes: int
    kv_cache_bytes: int
    activation_bytes: int
    runtime_bytes: int
    total_bytes: int
    longest_prompt: int


@dataclass(frozen=True)
class MeasuredMemory:
    """RSS increases over the pre-load baseline."""

    after_load_bytes: int | None
    after_prefill_bytes: int | None
    peak_bytes: int


@dataclass(frozen=True)
class MemoryBreakdown:
    predicted: PredictedMemory
    measured: MeasuredMemory
    prediction_error: float | None  # signed: positive when the prediction is above what the process grew by
    method: str
    note: str

    @classmethod
    def from_json(cls, data: Mapping | None) -> MemoryBreakdown | None:
        if data is None:
            return None
        return cls(**{**data, "predicted": PredictedMemory(**data["predicted"]),
                      "measured": MeasuredMemory(**data["measured"])})

    def to_json(self) -> dict:
        return _plain(self)


@dataclass(frozen=True)
class OpBreakdown:
    """One op profile of the trace (its keys kept as the runner wrote them) and what tracing cost."""

    profile: Mapping
    tracing_overhead: float | None  # median traced decode step over median timed one, minus 1

    @property
    def engine(self) -> str:
        return self.profile["engine"]

    @property
    def threads(self) -> int:
        return self.profile["threads"]

    @property
    def prompt_length(self) -> int:
        return self.profile["prompt_length"]

    @property
    def phases(self) -> Mapping:
        return self.profile["phases"]

    @classmethod
    def from_json(cls, data: Mapping) -> OpBreakdown:
        profile = {k: v for k, v in data.items() if k != "tracing_overhead"}
        return cls(profile=profile, tracing_overhead=data.get("tracing_overhead"))

    def to_json(self) -> dict:
        return {**_plain(self.profile), "tracing_overhead": self.tracing_overhead}


RSS_NOTE = ("memory includes the runner's own Python runtime (the baseline, measured before the model was loaded); "
            "increases are over that baseline")


@dataclass(frozen=True)
class RunAnalysis:
    """A run's figures; to_json() is report.json's content for one run."""

    memory_breakdown: MemoryBreakdown | None
    op_breakdown: tuple[OpBreakdown, ...]
    status: str
    device: Mapping  # the trace's device and artifact sections, as written
    artifact: Mapping
    baseline_rss_bytes: int
    peak_hwm_bytes: int
    peak_increase_bytes: int
    frequency_drop: float | None
    temperature_rise_c: float | None
    rows: tuple[Row, ...]
    warnings: tuple[str, ...]
    errors: tuple[Mapping, ...]
    note: str = RSS_NOTE
    energy: Energy | None = None  # per prefill and decoded token, where the device reported power
    sustained: Sustained | None = None  # profile --sustained: throughput over time and throttling figures
    cooldown: Mapping | None = None  # profile --cooldown: gates, seconds waited, how many timed out
    power: str | None = None  # what powered the device: battery, USB, or the detached run's wait for battery
    placement: Mapping | None = None  # which cores the runtime's threads ran on (timeline.thread_placement)

    @property
    def decoding_rows(self) -> list[Row]:
        """The rows that decoded at least one token (the only ones with a decode speed)."""
        return [row for row in self.rows if row.decode_tok_s]

    @classmethod
    def from_json(cls, data: Mapping) -> RunAnalysis:
        return cls(**{**data, "energy": Energy.from_json(data.get("energy")),
                      "sustained": Sustained.from_json(data.get("sustained")),
                      "memory_breakdown": MemoryBreakdown.from_json(data["memory_breakdown"]),
                      "op_breakdown": tuple(OpBreakdown.from_json(o) for o in data["op_breakdown"]),
                      "rows": tuple(Row.from_json(r) for r in data["rows"]),
                      "warnings": tuple(data["warnings"]), "errors": tuple(data["errors"])})

    def to_json(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["op_breakdown"] = [o.to_json() for o in self.op_breakdown]
        return _plain(out)


def memory_breakdown(trace: Trace, peak_increase: int) -> MemoryBreakdown | None:
    """Predicted (from the artifact and the run config: weights, KV cache, activations for the
    longest prompt, runtime) beside measured (RSS over the pre-load baseline: after load, after
    prefill, peak)."""
    from slm_edge.model.memory import predict_run_memory

    artifact = trace.artifact_facts
    if artifact is None or artifact.predicted_memory is None:
        return None  # a trace no host finished, or one whose host knew nothing of the artifact
    config = trace.run_config
    if config.mode != "steps" or not config.prompt_lengths:
        return None  # TextLLMRunner runs tokenize text: the prompt lengths asked for are not the ones run
    predicted = predict_run_memory(artifact.predicted_memory, engine=trace.artifact.engine,
                                   prompt_lengths=config.prompt_lengths, decode_tokens=config.decode_tokens)
    baseline = trace.baseline_memory["rss_bytes"]
    loads = [load["rss_after_bytes"] - baseline for load in trace.loads]
    after_prefill = [r["memory"]["rss_after_prefill_bytes"] - baseline for r in trace.runs]
    return MemoryBreakdown(
        predicted=PredictedMemory(**{f.name: predicted[f.name] for f in dataclasses.fields(PredictedMemory)}),
        measured=MeasuredMemory(after_load_bytes=max(loads) if loads else None,
                                after_prefill_bytes=max(after_prefill) if after_prefill else None,
                                peak_bytes=peak_increase),
        prediction_error=(predicted["total_bytes"] - peak_increase) / peak_increase if peak_increase > 0 else None,
        method=predicted["method"],
        note="measured figures are RSS increases over the runner before the model loaded; the runtime part is "
             "what the engine (and, on the Linux runner, glue imported after the baseline) adds besides the model",
    )


def op_breakdown(trace: Trace) -> list[OpBreakdown]:
    """Per-op category shares from the traced runs, with what tracing cost against the timed runs."""
    out = []
    for profile in trace.op_profiles or ():
        timed = [us for r in trace.measured_runs if r["threads"] == profile["threads"]
                 and r["prompt_length"] == profile["prompt_length"] for us in r["decode_step_us"]]
        traced = profile.get("decode_step_us_traced") or []
        overhead = (statistics.median(traced) / statistics.median(timed) - 1) if timed and traced else None
        out.append(OpBreakdown(profile=thaw(profile), tracing_overhead=overhead))
    return out


def op_windows(trace: Trace) -> list[tuple[float, float]]:
    """The spans of the op-tracing phases (t_ms): a second, traced copy of the model is loaded there,
    so the run's peak memory is taken outside them (the runner resets VmHWM when each closes)."""
    starts = [m["t_ms"] for m in trace.phase_markers if m["phase"] == "ops" and m["event"] == "start"]
    ends = [m["t_ms"] for m in trace.phase_markers if m["phase"] == "ops" and m["event"] == "end"]
    return [(start, min([end for end in ends if end >= start], default=math.inf)) for start in starts]


def analyze(trace: Trace) -> RunAnalysis:
    """Group measured (non-warm-up) runs by (threads, prompt length) and compute the report figures."""
    baseline = trace.baseline_memory["rss_bytes"]
    groups: dict[tuple[int, int], list[Mapping]] = defaultdict(list)
    for run in trace.measured_runs:
        groups[(run["threads"], run["prompt_length"])].append(run)
    loads = {load["threads"]: load for load in trace.loads}
    windows = op_windows(trace)
    peak_hwm = max([s["hwm_bytes"] for s in trace.memory_samples
                    if s.get("phase") != "ops" and not any(a <= s["t_ms"] <= b for a, b in windows)]
                   + [r["memory"]["hwm_end_bytes"] for r in trace.runs] + [0])
    rows = []
    warnings = []
    for (threads, prompt_length), runs in sorted(groups.items()):
        prefill_ms = [r["prefill_ms"] for r in runs]
        # llm_runner runs tokenize text, so their real prompt length can differ from the one asked
        prefill_tps = [r.get("prompt_tokens_actual", prompt_length) / (r["prefill_ms"] / 1000)
                       for r in runs if r["prefill_ms"] > 0]
        if not prefill_tps:
            warnings.append(f"threads {threads}, prompt {prompt_length}: no run produced a token; nothing to report")
            continue
        decode_tps = [len(r["decode_step_us"]) / (sum(r["decode_step_us"]) / 1e6) for r in runs if r["decode_step_us"]]
        steps = [us for r in runs for us in r["decode_step_us"]]
        step_ms = [us / 1000 for us in steps]
        ttft = [r["ttft_ms"] for r in runs]
        # per-position median across repeats: how decode latency grows along the sequence
        per_position = tuple(float(statistics.median(col)) / 1000 for col in zip(*[r["decode_step_us"] for r in runs]))
        median_step = statistics.median(step_ms) if step_ms else 0.0
        mad = statistics.median([abs(s - median_step) for s in step_ms]) if step_ms else 0.0
        outliers = sum(1 for s in step_ms if mad and s > median_step + OUTLIER_MAD * mad)
        rss_end = max(r["memory"]["rss_end_bytes"] for r in runs)
        row = Row(
            threads=threads, prompt_length=prompt_length, repeats=len(runs),
            ttft_ms=Stat.of(ttft), prefill_ms=Stat.of(prefill_ms), prefill_tok_s=Stat.of(prefill_tps),
            decode_tok_s=Stat.of(decode_tps) if decode_tps else None,
            decode_step_ms=Stat.of(step_ms) if step_ms else None,
            decode_step_ms_by_position=per_position, decode_outlier_steps=outliers,
            load_ms=loads.get(threads, {}).get("load_ms"), rss_end_bytes=rss_end, rss_increase_bytes=rss_end - baseline,
        )
        rows.append(row)
        label = f"threads={threads} prompt={prompt_length}"
        for metric in ("prefill_tok_s", "decode_tok_s", "ttft_ms"):
            stat = getattr(row, metric)
            if stat is not None and stat.cv is not None and stat.cv > CV_WARN:
                warnings.append(f"{label}: {metric} varies {stat.cv:.1%} between repeats (CV > {CV_WARN:.0%})")
        if outliers:
            warnings.append(f"{label}: {outliers} decode steps were outliers (> {OUTLIER_MAD:.0f} MADs above the median)")
    drop = _frequency_drop(trace.cpu_samples)
    if drop is not None and drop > FREQ_DROP_WARN:
        warnings.append(f"CPU frequency dropped {drop:.0%} during the run (throttling?)")
    rise = _temperature_rise(trace.cpu_samples)
    if rise is not None and rise > TEMP_RISE_WARN_C:
        warnings.append(f"CPU temperature rose {rise:.1f} °C during the run")
    if trace.artifact_facts is not None and trace.artifact_facts.full_logits:
        warnings.append("the artifact returns every position's logits (exported with --full-logits, for eval): "
                        "its prefill and TTFT include the LM head over every prompt token; profile an export "
                        "without it to measure what ships")
    gates = [r["cooldown"] for r in trace.measured_runs if isinstance(r.get("cooldown"), Mapping)]
    if trace.sustained and isinstance(trace.sustained.get("cooldown"), Mapping):
        gates.append(trace.sustained["cooldown"])
    cooldown = None
    if gates:
        cooldown = {"gates": len(gates), "waited_s": sum(g["waited_ms"] for g in gates) / 1000,
                    "longest_wait_s": max(g["waited_ms"] for g in gates) / 1000,
                    "timed_out": sum(g["outcome"] == "timed_out" for g in gates),
                    "no_sensor": sum(g["outcome"] == "no_sensor" for g in gates)}
        if cooldown["timed_out"]:
            warnings.append(f"the cool-down gate gave up before {cooldown['timed_out']} of {len(gates)} repeats "
                            f"(longest wait {cooldown['longest_wait_s']:.0f} s): they started warm")
        if cooldown["no_sensor"]:
            warnings.append("the cool-down gate had no temperature or thermal status to judge: it did not wait")
    run_energy = energy(trace)
    if power_series(trace)[0] and was_plugged(trace):
        warnings.append(CHARGING_NOTE)
    if (trace.unplug_wait or {}).get("outcome") == "no_sensor":
        warnings.append("the run waited for battery, but the device reports no plug state: it started at once, "
                        "and whether it ran on battery is unknown")
    run_sustained = sustained(trace)
    if run_sustained and run_sustained.drop > FREQ_DROP_WARN:
        warnings.append(f"sustained decode fell {run_sustained.drop:.0%} from the first to the last "
                        f"{run_sustained.span_s:.0f} s ({run_sustained.first_minute_tok_s:.1f} → "
                        f"{run_sustained.last_minute_tok_s:.1f} tok/s): throttling or contention")
    if trace.status != "complete":
        errors = "; ".join(f"{e['phase']}: {e['message']}" for e in trace.errors) or "no error recorded"
        warnings.append(f"trace is {trace.status}: {errors}")
    return RunAnalysis(
        memory_breakdown=memory_breakdown(trace, peak_hwm - baseline),
        op_breakdown=tuple(op_breakdown(trace)),
        status=trace.status, device=trace.device.to_json(), artifact=trace.artifact.to_json(),
        baseline_rss_bytes=baseline, peak_hwm_bytes=peak_hwm, peak_increase_bytes=peak_hwm - baseline,
        frequency_drop=drop, temperature_rise_c=rise,
        rows=tuple(rows), warnings=tuple(warnings), errors=tuple(thaw(trace.errors)),
        energy=run_energy, sustained=run_sustained, cooldown=cooldown, power=power_condition(trace),
        placement=thread_placement(trace),
    )
