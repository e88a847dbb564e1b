"""What the runner samples while it works: process memory (/proc/self/status), CPU frequency and
temperature (sysfs, where readable), and the facts of the machine it runs on."""

from __future__ import annotations

import glob
import os
import platform
import threading
import time

from slm_edge.progress import read_status_memory  # noqa: F401  (the runner's memory reader)



def read_pss() -> int | None:
    """Proportional set size (shared pages split between processes); expensive, phase ends only."""
    try:
        with open("/proc/self/smaps_rollup", "rb") as f:
            for line in f:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _read_int(path: str) -> int | None:
    try:
        with open(path) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def cpu_frequencies_khz() -> list[int | None] | None:
    paths = sorted(glob.glob("/sys/devices/system/cpu/cpu[0-9]*/cpufreq/scaling_cur_freq"))
    return [_read_int(p) for p in paths] or None


def cpu_temperature_c() -> float | None:
    """Hottest CPU-ish thermal zone, or None where the kernel exposes none (VMs, locked-down phones)."""
    temps = []
    for zone in glob.glob("/sys/class/thermal/thermal_zone*"):
        value = _read_int(os.path.join(zone, "temp"))
        if value is not None:
            temps.append(value / 1000.0)
    return max(temps) if temps else None


def device_facts(emulated: bool) -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith(("model name", "hardware")):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    ram = 0
    try:
        with open("/proc/meminfo") as f:
            ram = int(f.readline().split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    max_freq = [_read_int(p) for p in sorted(glob.glob("/sys/devices/system/cpu/cpu[0-9]*/cpufreq/cpuinfo_max_freq"))]
    return {
        "model": platform.node() + (" (emulated device)" if emulated else ""),
        "cpu": cpu,
        "soc": None,
        "abi": platform.machine(),
        "cores": os.cpu_count() or 1,
        "cpu_max_freq_khz": max_freq or None,
        "ram_bytes": ram,
        "os": f"{platform.system()} {platform.release()}",
        "emulated": emulated,
    }


DEFAULT_INTERVAL_MS = 50.0


class Sampler:
    """A daemon thread sampling memory every `interval_ms` (and CPU state every CPU_EVERY_S),
    plus synchronous samples at phase boundaries, all tagged with the current phase.

    The 50 ms default keeps the sampler's cost under 1% of a decode step when the runtime's
    threads fill every core (10 ms cost 4% on 2 cores: benchmarks/bench_profiler_overhead.py)."""

    CPU_EVERY_S = 0.5

    def __init__(self, origin_ns: int, interval_ms: float = DEFAULT_INTERVAL_MS, enabled: bool = True):
        self.origin_ns = origin_ns
        self.interval = interval_ms / 1000.0
        self.cpu_every = max(1, round(self.CPU_EVERY_S / self.interval))
        self.enabled = enabled
        self.phase = "idle"
        self.memory: list[dict] = []
        self.cpu: list[dict] = []
        self.markers: list[dict] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="slm-edge-sampler", daemon=True)

    def now_ms(self) -> float:
        return (time.perf_counter_ns() - self.origin_ns) / 1e6

    def sample(self, with_pss: bool = False) -> tuple[int, int]:
        rss, hwm = read_status_memory()
        entry = {"t_ms": self.now_ms(), "rss_bytes": rss, "hwm_bytes": hwm, "phase": self.phase}
        if with_pss:
            entry["pss_bytes"] = read_pss()
        with self._lock:
            self.memory.append(entry)
        return rss, hwm

    def sample_cpu(self) -> None:
        with self._lock:
            self.cpu.append({"t_ms": self.now_ms(), "freq_khz": cpu_frequencies_khz(), "temp_c": cpu_temperature_c()})

    def mark(self, phase: str, event: str, run: int | None = None) -> None:
        """Phase boundary: marker plus an immediate memory sample (so short phases are never missed)."""
        if event == "start":
            self.phase = phase
        self.markers.append({"t_ms": self.now_ms(), "phase": phase, "event": event, "run": run})
        self.sample(with_pss=event == "end")
        if event == "end":
            self.phase = "idle"

    def _loop(self) -> None:
        count = 0
        while not self._stop.wait(self.interval):
            self.sample()
            if count % self.cpu_every == 0:
                self.sample_cpu()
            count += 1

    def start(self) -> None:
        self.sample_cpu()
        if self.enabled:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.sample_cpu()

    def snapshot(self) -> tuple[list, list, list]:
        with self._lock:
            return list(self.memory), list(self.cpu), list(self.markers)
