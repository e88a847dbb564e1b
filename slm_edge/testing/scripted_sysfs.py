"""Scripted heat, throttling and battery signals for the emulated device: a thread writes a /sys
tree whose values follow a script over wall-clock time, and the runner reads it through its real
sysfs readers (SLM_EDGE_SYSFS_ROOT, runner/samplers.py). Tests get known answers; nothing in the
runner knows it is being scripted.

The tree's layout and units are the kernel's: thermal_zone*/temp in millidegrees Celsius
(Documentation/ABI/testing/sysfs-class-thermal), cpufreq's scaling_cur_freq and cpuinfo_max_freq in
kHz (Documentation/admin-guide/pm/cpufreq.rst), power_supply's type, status, current_now (µA) and
voltage_now (µV) (Documentation/ABI/testing/sysfs-class-power; type "Battery" / "USB", status
"Charging" / "Discharging" as drivers/power/supply/power_supply_sysfs.c spells them).
"""

from __future__ import annotations

import bisect
import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

SIGNALS = ("temp_c", "freq_khz", "current_ua", "voltage_uv", "charging")


@dataclass(frozen=True)
class Keyframe:
    """The signals at t_s seconds after the script starts; between keyframes numbers are linear, a
    switch (charging) holds its earlier value."""

    t_s: float
    temp_c: float
    freq_khz: Sequence[int]  # one per core
    current_ua: int = -1_000_000  # discharging 1 A
    voltage_uv: int = 4_000_000
    charging: bool = False


def value_at(frames: Sequence[Keyframe], t_s: float) -> Keyframe:
    times = [f.t_s for f in frames]
    i = bisect.bisect_right(times, t_s)
    if i == 0:
        return frames[0]
    if i == len(frames):
        return frames[-1]
    a, b = frames[i - 1], frames[i]
    w = (t_s - a.t_s) / (b.t_s - a.t_s)

    def mix(x, y):
        return x + (y - x) * w

    return Keyframe(t_s, mix(a.temp_c, b.temp_c), [round(mix(x, y)) for x, y in zip(a.freq_khz, b.freq_khz)],
                    round(mix(a.current_ua, b.current_ua)), round(mix(a.voltage_uv, b.voltage_uv)), a.charging)


class ScriptedSysfs:
    """with ScriptedSysfs(root, frames, max_freq_khz) as tree: … (tree.started_wall_s is t = 0);
    set SLM_EDGE_SYSFS_ROOT=root for the runner. Values are rewritten every `period_s`, each file
    atomically (a reader never sees half a number)."""

    def __init__(self, root: Path, frames: Sequence[Keyframe], max_freq_khz: Sequence[int], period_s: float = 0.02):
        self.root = Path(root)
        self.frames = sorted(frames, key=lambda f: f.t_s)
        self.max_freq_khz = list(max_freq_khz)
        self.period_s = period_s
        self.started_wall_s = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="scripted-sysfs", daemon=True)

    @property
    def env(self) -> Mapping[str, str]:
        return {"SLM_EDGE_SYSFS_ROOT": str(self.root)}

    def _write(self, relative: str, value) -> None:
        path = self.root / "sys" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(f"{value}\n")
        os.replace(tmp, path)

    def write(self, now_wall_s: float) -> Keyframe:
        frame = value_at(self.frames, now_wall_s - self.started_wall_s)
        self._write("class/thermal/thermal_zone0/type", "cpu-thermal")
        self._write("class/thermal/thermal_zone0/temp", round(frame.temp_c * 1000))
        for core, (current, top) in enumerate(zip(frame.freq_khz, self.max_freq_khz)):
            self._write(f"devices/system/cpu/cpu{core}/cpufreq/scaling_cur_freq", current)
            self._write(f"devices/system/cpu/cpu{core}/cpufreq/cpuinfo_max_freq", top)
        self._write("class/power_supply/battery/type", "Battery")
        self._write("class/power_supply/battery/status", "Charging" if frame.charging else "Discharging")
        self._write("class/power_supply/battery/current_now", frame.current_ua)
        self._write("class/power_supply/battery/voltage_now", frame.voltage_uv)
        self._write("class/power_supply/usb/type", "USB")
        self._write("class/power_supply/usb/online", 1 if frame.charging else 0)
        return frame

    def _loop(self) -> None:
        while not self._stop.wait(self.period_s):
            self.write(time.time())

    def follow(self, frames: Sequence[Keyframe]) -> float:
        """Switch to another script from now on (t = 0 now), for a change a test makes at a moment it
        chooses (a cable pulled once the runner waits for it); returns the switch's wall time."""
        now = time.time()
        self.frames, self.started_wall_s = list(frames), now
        self.write(now)
        return now

    def __enter__(self) -> ScriptedSysfs:
        self.started_wall_s = time.time()
        self.write(self.started_wall_s)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
