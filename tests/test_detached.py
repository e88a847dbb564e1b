"""Detached runs (profile --detach, then collect): the run starts, the host goes away, the device
waits to run on battery, and `collect` pulls the trace later. Through the emulated device with a
scripted power supply (the runner's real sysfs readers), and through the real adb server to the
emulated phone, whose `am instrument` without -w and `pidof` answer as AOSP's do."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from slm_edge.device import Detached
from slm_edge.records.trace import Trace
from slm_edge.runner.cooldown import wait_until_unplugged
from slm_edge.testing.harness import make_test_apk
from slm_edge.testing.scripted_sysfs import Keyframe, ScriptedSysfs

from conftest import export_tiny
from helpers import run_cli

QUICK = ["--prompt-lengths", "8", "--decode-tokens", "8", "--repeats", "2", "--threads", "1"]


class ScriptedPlug:
    """CPU samples whose `plugged` follows a list, one per read (the last repeats); a fake clock."""

    def __init__(self, states):
        self.states, self.now, self.reads = list(states), 0.0, 0

    def read(self) -> dict:
        state = self.states[min(self.reads, len(self.states) - 1)]
        self.reads += 1
        return {} if state is None else {"plugged": state}

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.mark.parametrize("states, outcome, waited_s, settle_s", [
    ([False], "unplugged", 0.0, 5.0),  # on battery already: only the settling
    ([True, True, True, False], "unplugged", 3.0, 5.0),  # unplugged after three 1-s polls
    ([True], "timed_out", 10.0, 0.0),  # never unplugged: runs plugged in after max_wait_s
    ([None], "no_sensor", 0.0, 0.0),  # no plug state to read: runs at once
])
def test_the_unplug_gate_waits_for_battery_settles_and_gives_up(states, outcome, waited_s, settle_s):
    plug = ScriptedPlug(states)
    record = wait_until_unplugged(plug.read, {"max_wait_s": 10.0, "settle_s": 5.0, "poll_s": 1.0}, plug.sleep,
                                  lambda: plug.now)
    assert record["outcome"] == outcome
    assert record["waited_ms"] == pytest.approx(waited_s * 1000) and record["settle_ms"] == pytest.approx(settle_s * 1000)
    assert record["plugged_before"] == (None if states[0] is None else states[0])
    assert plug.now == pytest.approx(waited_s + settle_s)


@pytest.fixture(scope="module")
def artifact(tiny_llama, tmp_path_factory) -> Path:
    return export_tiny(tiny_llama, tmp_path_factory.mktemp("detached") / "tiny-onnx", backend="onnx", quant="fp32",
                       max_seq_len=64)


@pytest.mark.parametrize("runner", ["python", "app"])  # the Linux runner; the app's own Java loop (UnplugGate)
def test_a_detached_run_waits_for_battery_and_is_collected_later(artifact, tmp_path, runner):
    charging = [Keyframe(0, 40.0, [2_000_000, 2_000_000], current_ua=500_000, charging=True)]
    on_battery = [Keyframe(0, 40.0, [2_000_000, 2_000_000], current_ua=-1_500_000)]
    with ScriptedSysfs(tmp_path / "sysfs", charging, [2_000_000, 2_000_000]) as tree:
        env = {**os.environ, **tree.env, "SLM_EDGE_CACHE": str(tmp_path / "cache")}
        started = run_cli("profile", artifact, "--emulated", "--runner", runner, *QUICK, "--detach", "--unplug-wait",
                          "120", "--out", tmp_path / "run", env=env)
        assert started.returncode == 0, started.stderr
        assert f"slm-edge collect {tmp_path / 'run'}" in started.stdout and "Unplug it now" in started.stderr
        assert not (tmp_path / "run" / "trace.json").exists()  # nothing pulled yet
        # the cable is pulled once the runner says it waits for battery (a JVM may take a while to start)
        log = tmp_path / "cache" / "emulated-device" / "emulated" / "slm-edge" / "runs"
        deadline = time.monotonic() + 90
        while not any("phase=unplug_wait" in f.read_text(errors="replace") for f in log.glob("*/runner.log")):
            assert time.monotonic() < deadline, "the runner never reached the wait for battery"
            time.sleep(0.2)
        # still charging: collecting now says how far it got and leaves the run alone
        early = run_cli("collect", tmp_path / "run", env=env)
        assert early.returncode != 0 and "is still going" in early.stderr and "Traceback" not in early.stderr
        # a second profile must not start over it (a new instrumentation would stop it)
        busy = run_cli("profile", artifact, "--emulated", *QUICK, "--out", tmp_path / "other", env=env)
        assert busy.returncode != 0 and "a detached run is still going" in busy.stderr
        pulled_at = tree.follow(on_battery)
        done = run_cli("collect", tmp_path / "run", "--wait", "120", env=env)
    assert done.returncode == 0, done.stderr
    trace = Trace.load(tmp_path / "run" / "trace.json")
    gate = trace.unplug_wait
    assert gate["outcome"] == "unplugged" and gate["plugged_before"] is True and gate["settle_ms"] == 10_000
    end = next(m for m in trace.phase_markers if m["phase"] == "unplug_wait" and m["event"] == "end")
    unplugged_at = trace.clock["wall_origin_ms"] / 1000 + end["t_ms"] / 1000 - gate["settle_ms"] / 1000 - pulled_at
    assert -0.1 <= unplugged_at <= 2.5  # 1-s polls
    # every sample of the measured phases is on battery: 1.5 A at 4.0 V, no charging warning
    assert all(s.get("plugged") is False for s in trace.cpu_samples
               if s["t_ms"] >= end["t_ms"] - gate["settle_ms"] + 1000)
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["energy"]["average_w"] == pytest.approx(6.0) and report["energy"]["decode"]["tokens"] == 16
    assert not any("charging" in w.lower() or "plugged" in w.lower() for w in report.get("warnings", []))
    assert "on battery" in (tmp_path / "run" / "report.md").read_text()
    assert len(trace.measured_runs) == 2 and trace.host.artifact.name
    assert (trace.producer.name == "slm_edge.runner") == (runner == "python")
    device_runs = tmp_path / "cache" / "emulated-device" / "emulated" / "slm-edge" / "runs"
    assert device_runs.is_dir() and not any(device_runs.iterdir())  # the run's files left the device
    again = run_cli("collect", tmp_path / "run", env=env)
    assert again.returncode != 0 and "collected already" in again.stderr


def test_a_detached_run_that_dies_keeps_what_it_measured(artifact, tmp_path):
    env = {**os.environ, "SLM_EDGE_CACHE": str(tmp_path / "cache")}
    started = run_cli("profile", artifact, "--emulated", "--sustained", "60", "--prompt-lengths", "8", "--threads", "1",
                      "--detach", "--out", tmp_path / "run", env=env)
    assert started.returncode == 0, started.stderr
    note = json.loads((tmp_path / "run" / "detached.json").read_text())
    detached = Detached.from_json(note["detached"])
    trace_on_device = Path(note["device"]["root"]) / detached.trace_path
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # until a flushed trace holds sustained segments
        try:
            if json.loads(trace_on_device.read_text()).get("sustained", {}).get("segments"):
                break
        except (OSError, ValueError):
            pass
        time.sleep(0.5)
    waiting = run_cli("collect", tmp_path / "run", "--wait", "1", env=env)
    assert waiting.returncode != 0 and "is still going" in waiting.stderr and "sustained segments" in waiting.stderr
    done = run_cli("collect", tmp_path / "run", "--stop", env=env)  # ended mid-run, as a force-stop or OOM would
    assert done.returncode != 0 and "profile incomplete" in done.stderr and "Traceback" not in done.stderr
    assert "stopped by collect --stop" in done.stderr
    trace = Trace.load(tmp_path / "run" / "trace.json")
    assert trace.status == "incomplete" and trace.sustained["segments"]
    assert trace.errors[-1]["phase"] == "crash" and (tmp_path / "run" / "report.html").is_file()
    # the run's process is gone, and so is the device's note: the device takes a new profile
    stat = Path(f"/proc/{detached.process['pid']}/stat")
    assert not stat.exists() or stat.read_text().rpartition(")")[2].split()[0] == "Z"
    again = run_cli("collect", tmp_path / "run", env=env)
    assert again.returncode != 0 and "collected already" in again.stderr


def test_waiting_for_battery_needs_a_connection_that_survives_unplugging(artifact, tmp_path):
    done = run_cli("profile", artifact, "--device", "0123456789ABCDEF", "--unplug-wait", "60", "--out", tmp_path / "r")
    assert done.returncode != 0 and "add --detach" in done.stderr and "Traceback" not in done.stderr


def test_detach_and_collect_through_adb_on_the_emulated_phone(emulated_phone, artifact, tmp_path):
    env = {**os.environ, "ANDROID_ADB_SERVER_PORT": str(emulated_phone.adb_port),
           "SLM_EDGE_CACHE": str(tmp_path / "cache")}
    installed = run_cli("app", "install", "--device", emulated_phone.serial, "--apk",
                        make_test_apk(tmp_path / "app.apk", abis=("arm64-v8a", "x86_64"), version_code=2), env=env)
    assert installed.returncode == 0, installed.stderr
    started = run_cli("profile", artifact, "--device", emulated_phone.serial, *QUICK, "--detach", "--out",
                      tmp_path / "run", env=env, timeout=300)
    assert started.returncode == 0, started.stderr
    done = run_cli("collect", tmp_path / "run", "--wait", "120", env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    trace = Trace.load(tmp_path / "run" / "trace.json")
    assert trace.status == "complete" and len(trace.measured_runs) == 2
    # this machine has no battery: the app ran at once and says why
    assert trace.unplug_wait["outcome"] == "no_sensor"
    assert "logcat.txt" in {p.name for p in (tmp_path / "run").iterdir()}
    # the run's files were removed from the phone (the artifact stays cached there)
    runs = emulated_phone.host_path("/sdcard/Android/data/dev.slmedge.profiler/files/runs")
    assert not runs.exists() or not any(runs.iterdir())
