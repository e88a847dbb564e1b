"""Energy per token from the power the device reported during the run.

Power comes from the samples the runner or app took at a fixed interval (cpu_samples), in order of
preference: a cumulative energy counter (RAPL's energy_uj, differenced), the battery's own power
figure, the battery's |current| × voltage (BatteryManager CURRENT_NOW and EXTRA_VOLTAGE on a phone,
power_supply's current_now and voltage_now on a board), hwmon's power1_input. Each prefill and decode
phase's energy is its mean power × its duration; per token it is divided by the tokens the phase
handled. It is the whole device's draw (screen, radios, the rest of the system), not the model's
alone. While USB powers the device the battery's figures measure the charger: no energy is given.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping
from dataclasses import dataclass

from slm_edge.analysis.timeline import phase_spans
from slm_edge.records.trace import Trace

CHARGING_NOTE = ("the device was powered over USB (plugged) during the run, so battery current measures the "
                 "charger, not the model: no energy figures. Measure unplugged: adb over Wi-Fi (adb tcpip), or a "
                 "detached run whose trace is pulled afterwards (see the README's energy section)")


@dataclass(frozen=True)
class PowerSample:
    t_s: float
    watts: float


def _number(sample: Mapping, key: str) -> float | None:
    value = sample.get(key)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def power_series(trace: Trace) -> tuple[list[PowerSample], str | None]:
    """The run's power over time (watts) and where it came from; ([], None) when the device reported none."""
    samples = sorted((s for s in trace.cpu_samples if isinstance(s.get("t_ms"), (int, float))), key=lambda s: s["t_ms"])
    counters = [(s["t_ms"] / 1000, _number(s, "rapl_energy_uj"), _number(s, "rapl_range_uj")) for s in samples
                if _number(s, "rapl_energy_uj") is not None]
    if len(counters) >= 2:
        out = []
        for (t0, e0, _), (t1, e1, wrap) in zip(counters, counters[1:]):
            if t1 <= t0:
                continue
            delta = e1 - e0 if e1 >= e0 else e1 + (wrap or 0) - e0  # the counter wraps at max_energy_range_uj
            if delta >= 0:
                out.append(PowerSample((t0 + t1) / 2, delta / 1e6 / (t1 - t0)))
        if out:
            return out, "RAPL package energy counter (powercap energy_uj)"
    for key, label, watts in (
            ("battery_power_uw", "battery power_now", lambda s: _number(s, "battery_power_uw") / 1e6),
            ("battery_current_ua", "battery |current| × voltage",
             lambda s: abs(_number(s, "battery_current_ua")) / 1e6 * _number(s, "battery_voltage_mv") / 1e3
             if _number(s, "battery_voltage_mv") is not None else None),
            ("hwmon_power_uw", "hwmon power1_input", lambda s: _number(s, "hwmon_power_uw") / 1e6)):
        out = [PowerSample(s["t_ms"] / 1000, w) for s in samples if _number(s, key) is not None
               for w in [watts(s)] if w is not None and math.isfinite(w)]
        if out:
            return out, label
    return [], None


def unplugged_at_ms(trace: Trace) -> float | None:
    """When a run that waited for battery (run config unplug_wait) saw the device unplugged, on the
    trace's clock; None when it did not wait or was never unplugged. The wait's own samples, plugged
    by design, are not the run's."""
    gate = trace.unplug_wait or {}
    if gate.get("outcome") != "unplugged":
        return None
    ends = [m["t_ms"] for m in trace.phase_markers if m.get("phase") == "unplug_wait" and m.get("event") == "end"]
    return ends[0] - float(gate.get("settle_ms") or 0) if ends else None


def was_plugged(trace: Trace) -> bool:
    """USB or a charger powered the device at some point of the run (the app's, the runner's or the
    host's samples), the wait for battery of a detached run aside."""
    since = unplugged_at_ms(trace) or float("-inf")
    origin = float((trace.clock or {}).get("wall_origin_ms") or 0)
    host = trace.host.context_samples if trace.host and trace.host.context_samples else ()
    return (any(s.get("plugged") is True and s.get("t_ms", since) >= since for s in trace.cpu_samples)
            or any(isinstance(s, Mapping) and s.get("powered") is True
                   and float(s.get("t_wall_ms") or origin) - origin >= since for s in host))


@dataclass(frozen=True)
class PhaseEnergy:
    phase: str  # prefill or decode
    joules: float
    seconds: float
    tokens: int
    mj_per_token: float
    mj_per_token_error: float | None  # one standard error, from the spread of the power samples
    average_w: float
    samples: int  # power samples inside the phase's spans


@dataclass(frozen=True)
class Energy:
    source: str
    prefill: PhaseEnergy | None
    decode: PhaseEnergy | None
    average_w: float  # over every sample of the run
    samples: int
    note: str = ("the whole device's draw while the phase ran (not the model's alone); error: one standard "
                 "error of the mean power over the samples in the phase")

    @classmethod
    def from_json(cls, data: Mapping | None) -> Energy | None:
        if data is None:
            return None
        return cls(**{**data, **{p: PhaseEnergy(**data[p]) if data.get(p) else None for p in ("prefill", "decode")}})


def _tokens(trace: Trace, phase: str, index: int | None) -> int | None:
    """What a phase span handled: a measured run's prompt or decode steps."""
    if index is None or not isinstance(index, int):
        return None
    if not 0 <= index < len(trace.runs) or trace.runs[index]["warmup"]:
        return None
    run = trace.runs[index]
    return run.get("prompt_tokens_actual", run["prompt_length"]) if phase == "prefill" else len(run["decode_step_us"])


def _spans(trace: Trace, phase: str) -> list[tuple[float, float, int]]:
    """(start s, end s, tokens) of each measured prefill or decode: from the phase markers, or for a
    sustained run from its segments' own times (it marks the run once, not each segment)."""
    if trace.sustained:
        out = []
        for segment in trace.sustained.get("segments") or ():
            start = segment["start_ms"] / 1000
            decode_start = start + segment["prefill_ms"] / 1000
            if phase == "prefill":
                out.append((start, decode_start, trace.sustained["prompt_length"]))
            elif segment["decode_step_us"]:
                out.append((decode_start, decode_start + sum(segment["decode_step_us"]) / 1e6,
                            len(segment["decode_step_us"])))
        return out
    return [(span.start_ms / 1000, span.end_ms / 1000, count) for span in phase_spans(trace)
            if span.phase == phase for count in [_tokens(trace, phase, span.run)] if count]


def _phase(trace: Trace, series: list[PowerSample], phase: str) -> PhaseEnergy | None:
    joules = seconds = 0.0
    tokens = 0
    inside: list[float] = []
    for start, end, count in _spans(trace, phase):
        within = [p.watts for p in series if start <= p.t_s <= end]
        # a phase shorter than the sampling interval: the sample nearest its middle
        watts = statistics.fmean(within) if within else min(series, key=lambda p: abs(p.t_s - (start + end) / 2)).watts
        inside += within
        joules += watts * (end - start)
        seconds += end - start
        tokens += count
    if not tokens or seconds <= 0:
        return None
    average = joules / seconds
    spread = statistics.stdev(inside) if len(inside) >= 2 else None
    error = spread / math.sqrt(len(inside)) * seconds / tokens * 1000 if spread is not None else None
    return PhaseEnergy(phase, joules, seconds, tokens, joules / tokens * 1000, error, average, len(inside))


def energy(trace: Trace) -> Energy | None:
    """Energy per prefill and per decoded token; None without power samples or while plugged."""
    series, source = power_series(trace)
    since = unplugged_at_ms(trace)
    if since is not None:  # a detached run: its power from the moment it ran on battery
        series = [p for p in series if p.t_s * 1000 >= since]
    if not series or was_plugged(trace):
        return None
    return Energy(source=source, prefill=_phase(trace, series, "prefill"), decode=_phase(trace, series, "decode"),
                  average_w=statistics.fmean(p.watts for p in series), samples=len(series))


def power_condition(trace: Trace) -> str | None:
    """What powered the device during the run, in words; None when nothing says."""
    gate = trace.unplug_wait or {}
    waited = float(gate.get("waited_ms") or 0) / 1000
    if gate.get("outcome") == "unplugged":
        return (f"on battery: unplugged {waited:.0f} s after the start; the run began "
                f"{float(gate.get('settle_ms') or 0) / 1000:.0f} s later")
    if gate.get("outcome") == "timed_out":
        return f"plugged in: it waited {waited:.0f} s for the device to run on battery, then ran on USB power"
    if gate.get("outcome") == "no_sensor":
        return "unknown: the device reports no plug state, so the wait for battery could not judge"
    states = [s.get("plugged") for s in trace.cpu_samples if isinstance(s.get("plugged"), bool)]
    if not states:
        return None
    return "plugged in (USB or a charger)" if any(states) else "on battery"
