"""What the runner samples while it works: process memory (/proc/self/status), CPU frequency,
temperature, power and where its threads ran (sysfs and procfs, where readable), and the facts of
the machine it runs on.

sysfs is read under SLM_EDGE_SYSFS_ROOT (default /): a board's real /sys, or the tree the emulated
device's scripted signals write (slm_edge/testing/scripted_sysfs.py), read by the same code.
"""

from __future__ import annotations

import glob
import os
import platform
import re
import threading
import time

from slm_edge.progress import read_status_memory  # noqa: F401  (the runner's memory reader)


def sysfs(*parts: str) -> str:
    """A path under /sys, or under SLM_EDGE_SYSFS_ROOT's sys/ when set (read at each call, so a test
    or the emulated device can point a runner at its own tree)."""
    return os.path.join(os.environ.get("SLM_EDGE_SYSFS_ROOT", "/"), "sys", *parts)


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


def _read_text(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _read_int(path: str) -> int | None:
    text = _read_text(path)
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def _by_core(pattern: str) -> list[str]:
    """cpu0, cpu1, …, cpu10 in core order (a plain sort would put cpu10 before cpu2)."""
    return sorted(glob.glob(pattern), key=lambda p: int(re.search(r"/cpu(\d+)/", p).group(1)))


def cpu_frequencies_khz() -> list[int | None] | None:
    """Each core's current frequency (kHz), from cpufreq's scaling_cur_freq."""
    paths = _by_core(sysfs("devices", "system", "cpu", "cpu[0-9]*", "cpufreq", "scaling_cur_freq"))
    return [_read_int(p) for p in paths] or None


def cpu_max_frequencies_khz() -> list[int | None] | None:
    paths = _by_core(sysfs("devices", "system", "cpu", "cpu[0-9]*", "cpufreq", "cpuinfo_max_freq"))
    return [_read_int(p) for p in paths] or None


def cpu_temperature_c() -> float | None:
    """Hottest thermal zone (temp in millidegrees Celsius, Documentation/ABI/testing/sysfs-class-thermal),
    or None where the kernel exposes none (VMs, locked-down phones)."""
    temps = []
    for zone in glob.glob(sysfs("class", "thermal", "thermal_zone*")):
        value = _read_int(os.path.join(zone, "temp"))
        if value is not None:
            temps.append(value / 1000.0)
    return max(temps) if temps else None


def power_readings() -> dict:
    """The board's power figures, in the keys the app's BatteryProbe writes where the meaning is the
    same. From Documentation/ABI/testing/sysfs-class-power (µA, µV, µW; the sign of current_now differs
    between drivers, so only its size is used), powercap's energy_uj (RAPL, µJ, a counter that wraps at
    max_energy_range_uj) and hwmon's power1_input (µW). Absent files leave their keys out."""
    out: dict = {}
    plugged = None
    for supply in sorted(glob.glob(sysfs("class", "power_supply", "*"))):
        kind = _read_text(os.path.join(supply, "type"))
        if kind == "Battery" and "battery_current_ua" not in out:
            current, voltage = _read_int(os.path.join(supply, "current_now")), _read_int(os.path.join(supply, "voltage_now"))
            power = _read_int(os.path.join(supply, "power_now"))
            status = _read_text(os.path.join(supply, "status"))
            if current is not None:
                out["battery_current_ua"] = current
            if voltage is not None:
                out["battery_voltage_mv"] = voltage / 1000
            if power is not None:
                out["battery_power_uw"] = power
            if status is not None:  # Charging / Discharging / Not charging / Full / Unknown
                plugged = (plugged or False) or status in ("Charging", "Full", "Not charging")
        elif kind in ("Mains", "USB", "USB_PD", "USB_C", "Wireless"):
            online = _read_int(os.path.join(supply, "online"))
            if online is not None:
                plugged = (plugged or False) or online == 1
    if plugged is not None:
        out["plugged"] = plugged
    rapl = _read_int(sysfs("class", "powercap", "intel-rapl:0", "energy_uj"))
    if rapl is not None:
        out["rapl_energy_uj"] = rapl
        out["rapl_range_uj"] = _read_int(sysfs("class", "powercap", "intel-rapl:0", "max_energy_range_uj"))
    for hwmon in sorted(glob.glob(sysfs("class", "hwmon", "hwmon*", "power1_input"))):
        out["hwmon_power_uw"] = _read_int(hwmon)
        break
    return out


class ThreadPlacement:
    """Which cores this process's threads ran on: for each thread that used CPU since the last call,
    the core it last ran on (/proc/PID/task/TID/stat field 39, `processor`; proc(5))."""

    def __init__(self):
        self._cpu_ticks: dict[str, int] = {}

    def cores(self) -> dict[str, int] | None:
        busy: dict[str, int] = {}
        try:
            tasks = os.listdir("/proc/self/task")
        except OSError:
            return None
        for tid in tasks:
            try:
                with open(f"/proc/self/task/{tid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue  # a thread that ended
            # after the ")" ending comm, field 3 (state) is index 0: utime 14, stime 15, processor 39
            ticks, core = int(fields[11]) + int(fields[12]), fields[36]
            if ticks > self._cpu_ticks.get(tid, 0):
                busy[core] = busy.get(core, 0) + 1
            self._cpu_ticks[tid] = ticks
        return busy


def apply_cpu_mask(cpus: list[int] | None) -> list[int]:
    """Pin this process (and the runtime threads it starts later) to `cpus`; returns the cores it may
    run on. Threads inherit the mask, as llama-bench's --cpu-mask pins its workers."""
    if cpus:
        os.sched_setaffinity(0, cpus)
    return sorted(os.sched_getaffinity(0))


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
    max_freq = cpu_max_frequencies_khz()
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
        self._placement = ThreadPlacement()

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

    def sample_cpu(self) -> dict:
        """CPU frequency and temperature, the board's power figures and the cores the threads ran on."""
        entry = {"t_ms": self.now_ms(), "freq_khz": cpu_frequencies_khz(), "temp_c": cpu_temperature_c(),
                 **power_readings()}
        cores = self._placement.cores()
        if cores is not None:
            entry["thread_cores"] = cores
        with self._lock:
            self.cpu.append(entry)
        return entry

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
