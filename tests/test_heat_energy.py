"""Heat, energy and sustained load: the cool-down gate, energy per token, throttling figures and CPU
placement, each against known answers, and end to end through the emulated device whose /sys follows
a script (slm_edge/testing/scripted_sysfs.py) read by the runner's real sysfs readers."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from slm_edge.analysis.loaded import loaded
from slm_edge.errors import BadInput
from slm_edge.records.trace import Trace
from slm_edge.runner.cooldown import wait_until_cool
from slm_edge.testing.scripted_sysfs import Keyframe, ScriptedSysfs, value_at
from slm_edge.workflows.profile import resolve_cpus

from conftest import export_tiny
from helpers import chart_rows, page_charts, run_cli, synthetic_trace


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def __call__(self) -> float:
        return self.now


def test_cooldown_gate_waits_until_cool_and_gives_up_at_its_limit():
    clock = FakeClock()
    # 50 °C falling 1 °C a second; cool means within 2 °C of the 40 °C start: 42 °C, reached at t = 8 s
    reading = lambda: {"temp_c": 50 - clock.now}  # noqa: E731
    record = wait_until_cool(reading, {"max_wait_s": 60, "within_c": 2.0, "poll_s": 1.0}, 40.0, clock.sleep, clock)
    assert record["outcome"] == "cool" and record["waited_ms"] == pytest.approx(8000)
    assert record["temp_c_before"] == 50 and record["temp_c_after"] == 42 and record["target_c"] == 42

    clock = FakeClock()
    record = wait_until_cool(lambda: {"temp_c": 50.0}, {"max_wait_s": 5, "temp_c": 45.0}, 40.0, clock.sleep, clock)
    assert record["outcome"] == "timed_out" and record["waited_ms"] == pytest.approx(5000)

    # Android's thermal status holds the gate even when the temperature is low enough
    clock = FakeClock()
    reading = lambda: {"temp_c": 30.0, "thermal_status": 2 if clock.now < 3 else 0}  # noqa: E731
    record = wait_until_cool(reading, {"max_wait_s": 60, "temp_c": 45.0, "poll_s": 0.5}, None, clock.sleep, clock)
    assert record["outcome"] == "cool" and record["waited_ms"] == pytest.approx(3000) and record["thermal_status"] == 0

    # nothing to judge: no wait, said so
    record = wait_until_cool(lambda: {"temp_c": None}, {"max_wait_s": 60, "within_c": 2.0}, None, clock.sleep, clock)
    assert record["outcome"] == "no_sensor" and record["waited_ms"] == 0


def _laid_out(trace: dict) -> dict:
    """Phase markers for a synthetic trace's runs, one after another with 5 ms between phases."""
    t, markers = 10.0, []
    for index, run in enumerate(trace["runs"]):
        run["start_ms"] = t
        for phase, ms in (("prefill", run["prefill_ms"]), ("decode", sum(run["decode_step_us"]) / 1000)):
            markers += [{"t_ms": t, "phase": phase, "event": "start", "run": index},
                        {"t_ms": t + ms, "phase": phase, "event": "end", "run": index}]
            t += ms + 5
    trace["phase_markers"] = markers
    return trace


def _trace(**figures) -> dict:
    return _laid_out(synthetic_trace("m", 10**8, "onnx", "int8", decode_tok_s={2: 50}, prefill_ms=40, peak_mib=100,
                                     quality=None, decode_steps=8, repeats=3, warmup=1, **figures))


def _powered(trace: dict, **power) -> dict:
    """cpu_samples every 10 ms over the trace's span with the given power keys."""
    end = max(m["t_ms"] for m in trace["phase_markers"]) + 10
    trace["cpu_samples"] = [{"t_ms": float(t), "freq_khz": None, "temp_c": None, **power} for t in range(0, int(end), 10)]
    return trace


def test_energy_per_token_from_battery_current_and_voltage():
    from slm_edge.analysis.energy import energy

    # 1.25 A at 4.0 V = 5 W; the synthetic runs' prefill and decode spans are known from their markers
    trace = Trace.from_json(_powered(_trace(), battery_current_ua=-1_250_000, battery_voltage_mv=4000.0, plugged=False))
    found = energy(trace)
    assert found.source == "battery |current| × voltage" and found.average_w == pytest.approx(5.0)
    measured = [r for r in trace.runs if not r["warmup"]]
    decode_s = sum(sum(r["decode_step_us"]) for r in measured) / 1e6
    decode_tokens = sum(len(r["decode_step_us"]) for r in measured)
    # 5 W over each decode span (its markers bracket the steps): mJ per token = 5 × seconds / tokens × 1000
    assert found.decode.tokens == decode_tokens
    assert found.decode.mj_per_token == pytest.approx(5 * found.decode.seconds / decode_tokens * 1000)
    assert found.decode.seconds == pytest.approx(decode_s)
    assert found.decode.mj_per_token_error == pytest.approx(0.0, abs=1e-9)  # constant power: no spread
    prompt_tokens = sum(r["prompt_length"] for r in measured)
    assert found.prefill.tokens == prompt_tokens and found.prefill.average_w == pytest.approx(5.0)


def test_energy_from_a_wrapping_rapl_counter_and_none_while_plugged():
    from slm_edge.analysis.energy import power_series

    base = _trace()
    # 3 W: 30,000 µJ every 10 ms, wrapping at 1,000,000 µJ
    trace = _powered(base)
    for i, sample in enumerate(trace["cpu_samples"]):
        sample.update(rapl_energy_uj=(900_000 + 30_000 * i) % 1_000_000, rapl_range_uj=1_000_000)
    series, source = power_series(Trace.from_json(trace))
    assert source.startswith("RAPL") and all(p.watts == pytest.approx(3.0) for p in series)

    plugged = loaded("p", Trace.from_json(_powered(base, battery_current_ua=500_000, battery_voltage_mv=4200.0,
                                                   plugged=True)))
    assert plugged.analysis.energy is None
    assert any("powered over USB" in w and "adb over Wi-Fi" in w for w in plugged.analysis.warnings)


def test_sustained_throughput_and_throttling_figures():
    """Two minutes of decoding: 100 tok/s (10 ms steps) for the first minute, 50 tok/s after it."""
    from slm_edge.analysis.sustained import sustained

    base = _trace()
    base["runs"], base["phase_markers"] = [], []
    fast, slow = [10_000.0] * 6000, [20_000.0] * 3000
    base["sustained"] = {"threads": 2, "prompt_length": 8, "seconds": 120.0,
                         "segments": [{"start_ms": 0.0, "prefill_ms": 0.0, "decode_step_us": fast},
                                      {"start_ms": 60_000.0, "prefill_ms": 0.0, "decode_step_us": slow}]}
    base["config"]["mode"] = "sustained"
    figures = sustained(Trace.from_json(base))
    assert figures.segments == 2 and figures.seconds == pytest.approx(120, rel=1e-3)
    assert figures.first_minute_tok_s == pytest.approx(100) and figures.last_minute_tok_s == pytest.approx(50)
    assert figures.initial_tok_s == pytest.approx(100) and figures.steady_tok_s == pytest.approx(50)
    assert figures.drop == pytest.approx(0.5)
    # 2-second windows, judged by the median of the trailing 30 s (15 windows): it falls from 100 to 50
    # tok/s once 8 of its windows are past the switch at 60 s, so both drops read about 76 s
    assert figures.window_s == pytest.approx(2, rel=1e-3)
    assert figures.time_to_10pct_s == pytest.approx(76, abs=2.5) and figures.time_to_25pct_s == pytest.approx(76, abs=2.5)
    run = loaded("s", Trace.from_json(base))
    assert any("sustained decode fell 50%" in w for w in run.analysis.warnings)


def test_cpus_lists_masks_and_clusters():
    device = {"cores": 8, "cpu_max_freq_khz": [1_800_000] * 4 + [2_400_000] * 3 + [3_000_000]}
    assert resolve_cpus("0,2", device) == [0, 2] and resolve_cpus("4-6", device) == [4, 5, 6]
    assert resolve_cpus("0xf0", device) == [4, 5, 6, 7]
    assert resolve_cpus("little", device) == [0, 1, 2, 3] and resolve_cpus("mid", device) == [4, 5, 6]
    assert resolve_cpus("big", device) == [7]
    for bad, message in (("9", "cores the device does not have"), ("x", "not a core list"),
                         ("mid", "no mid cluster")):
        with pytest.raises(BadInput, match=message):
            resolve_cpus(bad, {"cores": 8, "cpu_max_freq_khz": [1] * 4 + [2] * 4} if bad == "mid" else device)
    with pytest.raises(BadInput, match="reports none"):
        resolve_cpus("big", {"cores": 2, "cpu_max_freq_khz": None})


def test_scripted_signals_follow_their_keyframes(tmp_path):
    frames = [Keyframe(0, 40.0, [2_000_000]), Keyframe(10, 60.0, [1_000_000], current_ua=-2_000_000)]
    assert value_at(frames, 5).temp_c == 50 and value_at(frames, 5).freq_khz == [1_500_000]
    assert value_at(frames, 20).current_ua == -2_000_000
    with ScriptedSysfs(tmp_path, frames, [2_000_000]) as tree:
        os.environ.update(tree.env)
        try:
            from slm_edge.runner.samplers import cpu_max_frequencies_khz, cpu_temperature_c, power_readings

            assert 40 <= cpu_temperature_c() <= 41 and cpu_max_frequencies_khz() == [2_000_000]
            power = power_readings()
            assert power["battery_voltage_mv"] == 4000 and power["plugged"] is False
        finally:
            del os.environ["SLM_EDGE_SYSFS_ROOT"]


@pytest.fixture(scope="module")
def artifact(tiny_llama, tmp_path_factory) -> Path:
    return export_tiny(tiny_llama, tmp_path_factory.mktemp("heat") / "tiny-onnx", backend="onnx", quant="fp32",
                       max_seq_len=64)


HOT_UNTIL_S = 12.0  # the scripted CPU stays at 50 °C this long after the script starts, then is 35 °C


def test_cooldown_energy_and_pinning_through_the_emulated_device(artifact, tmp_path):
    frames = [Keyframe(0, 50.0, [2_000_000, 2_000_000], current_ua=-1_500_000),
              Keyframe(HOT_UNTIL_S, 50.0, [2_000_000, 2_000_000], current_ua=-1_500_000),
              Keyframe(HOT_UNTIL_S + 0.01, 35.0, [2_000_000, 2_000_000], current_ua=-1_500_000)]
    with ScriptedSysfs(tmp_path / "sysfs", frames, [2_000_000, 2_000_000]) as tree:
        done = run_cli("profile", artifact, "--emulated", "--prompt-lengths", "8", "--decode-tokens", "8",
                       "--repeats", "2", "--threads", "1", "--cooldown", "--cooldown-temp", "40",
                       "--cooldown-max-wait", "60", "--cpus", "0", "--out", tmp_path / "run",
                       env={**os.environ, **tree.env})
        started = tree.started_wall_s
    assert done.returncode == 0, done.stderr
    trace = json.loads((tmp_path / "run" / "trace.json").read_text())
    gates = [r["cooldown"] for r in trace["runs"] if not r["warmup"]]
    assert [g["outcome"] for g in gates] == ["cool", "cool"] and "cooldown" not in trace["runs"][0]  # warm-up: no gate
    first = next(m for m in trace["phase_markers"] if m["phase"] == "cooldown" and m["event"] == "end")
    cooled_at = trace["clock"]["wall_origin_ms"] / 1000 + first["t_ms"] / 1000 - started
    # the first gate ends once the script has cooled (1 s polls), unless the runner only got there later
    assert cooled_at >= HOT_UNTIL_S - 0.1 and (gates[0]["waited_ms"] == 0 or cooled_at <= HOT_UNTIL_S + 2.5)
    assert gates[0]["temp_c_after"] <= 40 and gates[1]["waited_ms"] < 1500
    # 1.5 A at 4.0 V: 6 W, per token over the decode spans
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["energy"]["average_w"] == pytest.approx(6.0) and report["energy"]["decode"]["tokens"] == 16
    assert report["energy"]["decode"]["mj_per_token"] == pytest.approx(
        6.0 * report["energy"]["decode"]["seconds"] / 16 * 1000)
    assert report["cooldown"]["gates"] == 2 and report["cooldown"]["timed_out"] == 0
    # pinned to core 0: the process may run there only, and its threads were seen there only
    assert trace["software"]["cpus_allowed"] == [0]
    seen = {core for s in trace["cpu_samples"] for core in (s.get("thread_cores") or {})}
    assert seen <= {"0"} and seen
    markdown = (tmp_path / "run" / "report.md").read_text()
    assert "energy per decoded token" in markdown
    assert "Threads ran on: core 0 100%" in markdown and "(pinned to 0: the whole process)" in markdown
    assert "Power: on battery." in markdown


def test_sustained_run_through_the_emulated_device_writes_the_time_plots(artifact, tmp_path):
    frames = [Keyframe(0, 40.0, [2_000_000, 2_000_000]), Keyframe(30, 70.0, [2_000_000, 1_200_000])]
    with ScriptedSysfs(tmp_path / "sysfs", frames, [2_000_000, 2_000_000]) as tree:
        done = run_cli("profile", artifact, "--emulated", "--sustained", "4", "--prompt-lengths", "8",
                       "--threads", "1", "--out", tmp_path / "run", env={**os.environ, **tree.env})
    assert done.returncode == 0, done.stderr
    trace = Trace.load(tmp_path / "run" / "trace.json")
    segments = trace.sustained["segments"]
    # a 64-token context: a prefill of 8, then 55 steps to position 63, again and again for 4 seconds
    assert len(segments) > 1 and all(len(s["decode_step_us"]) == 55 for s in segments[:-1])
    decoding_s = sum(sum(s["decode_step_us"]) for s in segments) / 1e6 + sum(s["prefill_ms"] for s in segments) / 1000
    assert 2.0 < decoding_s <= 4.5  # the rest: a prefill's argmax, phase markers, sampling
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["sustained"]["segments"] == len(segments) and report["sustained"]["first_minute_tok_s"] > 0
    charts = page_charts((tmp_path / "run" / "report.html").read_text())
    assert {"sustained_throughput", "heat_over_time", "memory_over_time"} <= set(charts)
    signals = {row["signal"] for row in chart_rows(charts["heat_over_time"]) if "signal" in row}
    assert {"CPU temperature (°C)", "CPU frequency (MHz)", "power (W)"} <= signals
    assert "--sustained 4" in (tmp_path / "run" / "report.html").read_text()


def test_the_apps_java_loop_runs_sustained_and_gated_with_scripted_signals(artifact, tmp_path):
    """--runner app: the profiler app's own Java loop (core + ONNX engine) on this JVM, reading the same
    scripted /sys through its CpuReader and SysfsPowerProbe: the same trace sections as the Linux runner."""
    frames = [Keyframe(0, 45.0, [2_000_000, 2_000_000], current_ua=-1_000_000)]
    with ScriptedSysfs(tmp_path / "sysfs", frames, [2_000_000, 2_000_000]) as tree:
        done = run_cli("profile", artifact, "--emulated", "--runner", "app", "--sustained", "3", "--prompt-lengths",
                       "8", "--threads", "1", "--cooldown", "--cooldown-temp", "50", "--out", tmp_path / "run",
                       env={**os.environ, **tree.env})
    assert done.returncode == 0, done.stderr
    trace = Trace.load(tmp_path / "run" / "trace.json")
    assert trace.producer.name != "slm_edge.runner"
    segments = trace.sustained["segments"]
    assert len(segments) > 1 and all(len(s["decode_step_us"]) == 55 for s in segments[:-1])
    assert trace.sustained["cooldown"]["outcome"] == "cool" and trace.sustained["cooldown"]["temp_c_before"] == 45
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["energy"]["average_w"] == pytest.approx(4.0) and report["sustained"]["segments"] == len(segments)


def test_the_apps_java_loop_pins_the_whole_process(artifact, tmp_path):
    """--runner app --cpus 1: the app's own code runs taskset on itself before loading (util-linux's here,
    toybox's on a phone): every busy thread is then seen on core 1 only, onnxruntime's pool included."""
    done = run_cli("profile", artifact, "--emulated", "--runner", "app", "--cpus", "1", "--threads", "2",
                   "--prompt-lengths", "8", "--decode-tokens", "8", "--repeats", "2", "--out", tmp_path / "run")
    assert done.returncode == 0, done.stderr
    trace = json.loads((tmp_path / "run" / "trace.json").read_text())
    assert trace["software"]["cpu_pinning"] == {"cores": [1], "scope": "process"}
    # from the load on (the app pins itself once its sampler runs, before anything loads)
    load = next(m["t_ms"] for m in trace["phase_markers"] if m["phase"] == "load")
    seen = {core for s in trace["cpu_samples"] if s["t_ms"] >= load for core in (s.get("thread_cores") or {})}
    assert seen == {"1"}
    assert "Threads ran on: core 1 100%" in (tmp_path / "run" / "report.md").read_text()
    assert "(pinned to 1: the whole process)" in (tmp_path / "run" / "report.md").read_text()


def test_heat_options_are_refused_where_they_cannot_run(artifact, tmp_path):
    done = run_cli("profile", artifact, "--emulated", "--cooldown-temp", "40", "--out", tmp_path / "b")
    assert done.returncode != 0 and "--cooldown-temp/--cooldown-within given without --cooldown" in done.stderr
    done = run_cli("profile", artifact, "--emulated", "--cpus", "7", "--out", tmp_path / "c")
    assert done.returncode != 0 and "names cores the device does not have" in done.stderr
