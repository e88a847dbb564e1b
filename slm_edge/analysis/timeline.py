"""A run over time, on the trace's clock (ms since the runner started): its phases as spans, and its
heat signals, from the runner's CPU samples (temperature, per-cluster frequency) and the host's
device samples (battery temperature, Android's thermal status)."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from slm_edge.records.trace import Trace


@dataclass(frozen=True)
class PhaseSpan:
    phase: str  # load, prefill, decode, ops
    run: int | None  # the measured run's index; None for loads
    start_ms: float
    end_ms: float


def phase_spans(trace: Trace) -> list[PhaseSpan]:
    """Each start marker paired with the next end marker of the same phase and run; a phase the
    run never closed (a crash) ends at the last sample."""
    last = max([m["t_ms"] for m in trace.phase_markers] + [s["t_ms"] for s in trace.memory_samples] + [0.0])
    open_spans: dict[tuple, float] = {}
    spans = []
    for marker in sorted(trace.phase_markers, key=lambda m: m["t_ms"]):
        key = (marker["phase"], marker.get("run"))
        if marker["event"] == "start":
            open_spans[key] = marker["t_ms"]
        elif key in open_spans:
            spans.append(PhaseSpan(marker["phase"], marker.get("run"), open_spans.pop(key), marker["t_ms"]))
    spans += [PhaseSpan(phase, run, start, last) for (phase, run), start in open_spans.items()]
    return sorted(spans, key=lambda s: s.start_ms)


@dataclass(frozen=True)
class HeatSample:
    t_s: float
    signal: str  # "CPU temperature (°C)", "CPU frequency (MHz)", "battery temperature (°C)", "thermal status"
    series: str  # which sensor or cluster
    value: float


HEAT_SIGNALS = ("CPU temperature (°C)", "CPU frequency (MHz)", "battery temperature (°C)", "thermal status",
                "power (W)")


def clusters(max_freq_khz: Sequence[int | None] | None, cores: int) -> dict[str, list[int]]:
    """Cores grouped by their maximum frequency (big.LITTLE clusters share one), named by their
    range: {'cores 4-7 (2.4 GHz)': [4, 5, 6, 7]}; one group when the maxima are unknown."""
    if not max_freq_khz or not all(max_freq_khz):
        return {"all cores": list(range(cores))}
    by_max: dict[int, list[int]] = {}
    for core, khz in enumerate(max_freq_khz):
        by_max.setdefault(khz, []).append(core)
    return {f"cores {c[0]}-{c[-1]} ({khz / 1e6:.1f} GHz)" if len(c) > 1 else f"core {c[0]} ({khz / 1e6:.1f} GHz)": c
            for khz, c in sorted(by_max.items())}


def heat_samples(trace: Trace) -> list[HeatSample]:
    """Every heat reading the run has; empty when the device exposes none (a VM has no sensors)."""
    out = []
    groups = clusters(trace.device.cpu_max_freq_khz, trace.device.cores)
    for sample in trace.cpu_samples:
        t_s = sample["t_ms"] / 1000
        if sample.get("temp_c") is not None:
            out.append(HeatSample(t_s, HEAT_SIGNALS[0], "CPU", float(sample["temp_c"])))
        freqs = sample.get("freq_khz") or []
        for name, cores in groups.items():
            readings = [freqs[c] for c in cores if c < len(freqs) and freqs[c]]
            if readings:
                out.append(HeatSample(t_s, HEAT_SIGNALS[1], name, statistics.fmean(readings) / 1000))
        # the app's probes (BatteryProbe, ThermalProbe) sample these on the phone itself
        if isinstance(sample.get("battery_temp_c"), (int, float)):
            out.append(HeatSample(t_s, HEAT_SIGNALS[2], "battery", float(sample["battery_temp_c"])))
        if isinstance(sample.get("thermal_status"), int):
            out.append(HeatSample(t_s, HEAT_SIGNALS[3], "thermal status", float(sample["thermal_status"])))
    origin = trace.clock.get("wall_origin_ms")
    for sample in (trace.host.context_samples or ()) if trace.host and origin is not None else ():
        if not isinstance(sample, Mapping) or sample.get("t_wall_ms") is None:
            continue
        t_s = (sample["t_wall_ms"] - origin) / 1000
        if sample.get("battery_temp_c") is not None:
            out.append(HeatSample(t_s, HEAT_SIGNALS[2], "battery", float(sample["battery_temp_c"])))
        if sample.get("thermal_status") is not None:
            out.append(HeatSample(t_s, HEAT_SIGNALS[3], "thermal status", float(sample["thermal_status"])))
    return sorted(out, key=lambda s: (s.signal, s.series, s.t_s))


def thread_placement(trace: Trace) -> dict | None:
    """Where the runtime's threads ran: per cluster (clusters()), the share of the busy-thread
    observations (cpu_samples' thread_cores: per sample, how many threads used CPU on each core) over
    the whole run; with what pinned them. None when the device recorded no placement."""
    counts: dict[int, int] = {}
    # from the first measured phase on: the app pins itself after its sampler started, so earlier
    # samples show where the threads ran before the mask was set
    starts = [m["t_ms"] for m in trace.phase_markers if m.get("event") == "start" and m.get("phase") != "unplug_wait"]
    since = min(starts) if starts else float("-inf")
    for sample in trace.cpu_samples:
        if sample.get("t_ms", since) < since:
            continue
        for core, threads in (sample.get("thread_cores") or {}).items():
            if str(core).isdigit():
                counts[int(core)] = counts.get(int(core), 0) + int(threads)
    total = sum(counts.values())
    if not total:
        return None
    groups = clusters(trace.device.cpu_max_freq_khz, trace.device.cores)
    software = trace.software or {}
    pinning = software.get("cpu_pinning") if isinstance(software.get("cpu_pinning"), Mapping) else None
    return {"clusters": {name: sum(counts.get(c, 0) for c in cores) / total for name, cores in groups.items()},
            "cores": {str(core): n / total for core, n in sorted(counts.items())}, "observations": total,
            "pinned_to": list(pinning["cores"]) if pinning else None, "pinned_scope": pinning["scope"] if pinning else None}


def placement_text(placement: Mapping | None) -> str | None:
    """'core 0 62%, core 1 38% (pinned to 0: the whole process)', for the reports."""
    if not placement:
        return None
    shares = ", ".join(f"core {core} {share:.0%}" for core, share in placement["cores"].items())
    scopes = {"process": "the whole process", "intra_op_threads": "onnxruntime's intra-op threads; the calling thread "
              "is not pinned"}
    pinned = (f" (pinned to {', '.join(map(str, placement['pinned_to']))}: "
              f"{scopes.get(placement['pinned_scope'], placement['pinned_scope'])})" if placement.get("pinned_to") else "")
    return f"{shares}, over {placement['observations']} busy-thread observations{pinned}"
