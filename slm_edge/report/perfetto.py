"""A run as a Chrome trace-event file (opens in ui.perfetto.dev)."""

from __future__ import annotations

from slm_edge.records.trace import Trace


def perfetto(trace: Trace) -> dict:
    """Load, prefill and every decode step as slices on one track, RSS as a counter track."""
    events = [{"ph": "M", "pid": 1, "name": "process_name", "args": {"name": "slm-edge runner"}},
              {"ph": "M", "pid": 1, "tid": 1, "name": "thread_name", "args": {"name": "inference"}}]
    markers = trace.phase_markers
    open_starts = {}
    for marker in markers:
        key = (marker["phase"], marker.get("run"))
        if marker["event"] == "start":
            open_starts[key] = marker["t_ms"]
        elif key in open_starts:
            start = open_starts.pop(key)
            name = marker["phase"] if marker.get("run") is None else f"{marker['phase']} #{marker['run']}"
            events.append({"ph": "X", "pid": 1, "tid": 1, "name": name, "ts": start * 1000,
                           "dur": (marker["t_ms"] - start) * 1000})
    for index, run in enumerate(trace.runs):
        decode_start = next((m["t_ms"] for m in markers if m["phase"] == "decode" and m["event"] == "start"
                             and m.get("run") == index), None)
        if decode_start is None:
            continue
        t = decode_start * 1000
        for step, us in enumerate(run["decode_step_us"]):
            events.append({"ph": "X", "pid": 1, "tid": 2, "name": "token", "ts": t, "dur": us,
                           "args": {"run": index, "step": step}})
            t += us
    events.append({"ph": "M", "pid": 1, "tid": 2, "name": "thread_name", "args": {"name": "decode steps"}})
    for sample in trace.memory_samples:
        events.append({"ph": "C", "pid": 1, "name": "RSS MiB", "ts": sample["t_ms"] * 1000,
                       "args": {"rss": round(sample["rss_bytes"] / 2**20, 2)}})
    return {"traceEvents": events, "displayTimeUnit": "ms"}
