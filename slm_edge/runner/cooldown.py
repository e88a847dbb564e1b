"""The cool-down gate: before a measured repeat, wait until the device is cool again, so each repeat
starts from the same thermal state (what llama-bench users and ExecuTorch's benchmark app users do by
hand with sleeps)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

DEFAULT_POLL_S = 1.0
DEFAULT_SETTLE_S = 10.0  # unplug_wait: seconds after unplugging before the run starts


def temperature_of(sample: Mapping) -> float | None:
    """The reading the gate judges: the CPU's hottest zone, else the battery's."""
    for key in ("temp_c", "battery_temp_c"):
        if isinstance(sample.get(key), (int, float)):
            return float(sample[key])
    return None


def is_cool(sample: Mapping, settings: Mapping, start_temp_c: float | None) -> tuple[bool, float | None]:
    """(cool, the temperature it must reach): thermal status 0 where the device reports one, and the
    temperature at or below temp_c, or within within_c of the start; None target: no threshold set."""
    status = sample.get("thermal_status")
    if isinstance(status, int) and status > 0:
        return False, None
    temp = temperature_of(sample)
    targets = []
    if settings.get("temp_c") is not None:
        targets.append(float(settings["temp_c"]))
    if settings.get("within_c") is not None and start_temp_c is not None:
        targets.append(start_temp_c + float(settings["within_c"]))
    target = min(targets) if targets else None
    if temp is None or target is None:
        return True, target
    return temp <= target, target


def wait_until_cool(read: Callable[[], Mapping], settings: Mapping, start_temp_c: float | None,
                    sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic) -> dict:
    """Poll `read` (a CPU sample) until cool or max_wait_s has passed; returns the trace's record:
    waited_ms, outcome (cool, timed_out, or no_sensor when nothing can be judged), temperatures."""
    started = clock()
    first = read()
    before = temperature_of(first)
    if before is None and not isinstance(first.get("thermal_status"), int):
        return {"waited_ms": 0.0, "outcome": "no_sensor", "temp_c_before": None, "temp_c_after": None,
                "target_c": None, "thermal_status": None}
    sample = first
    poll = float(settings.get("poll_s") or DEFAULT_POLL_S)
    while True:
        cool, target = is_cool(sample, settings, start_temp_c)
        waited = clock() - started
        if cool or waited >= float(settings["max_wait_s"]):
            status = sample.get("thermal_status")
            return {"waited_ms": waited * 1000, "outcome": "cool" if cool else "timed_out", "temp_c_before": before,
                    "temp_c_after": temperature_of(sample), "target_c": target,
                    "thermal_status": status if isinstance(status, int) else None}
        sleep(min(poll, max(float(settings["max_wait_s"]) - waited, 0.0)))
        sample = read()


def wait_until_unplugged(read: Callable[[], Mapping], settings: Mapping, sleep: Callable[[float], None] = time.sleep,
                         clock: Callable[[], float] = time.monotonic) -> dict:
    """A detached run's start (run config unplug_wait): poll `read` (a CPU sample, whose `plugged` is
    the battery's or power supply's) until the device runs on battery or max_wait_s has passed, then
    let it settle settle_s (the user puts the phone down). Returns the trace's record: waited_ms,
    outcome (unplugged, timed_out: it ran plugged in, no_sensor: no plug state to read), settle_ms,
    plugged_before. The app's UnplugGate.java judges the same way."""
    started = clock()
    sample = read()
    before = sample.get("plugged")
    if not isinstance(before, bool):
        return {"waited_ms": 0.0, "outcome": "no_sensor", "settle_ms": 0.0, "plugged_before": None}
    poll = float(settings.get("poll_s") or DEFAULT_POLL_S)
    while sample.get("plugged") is not False:
        waited = clock() - started
        if waited >= float(settings["max_wait_s"]):
            return {"waited_ms": waited * 1000, "outcome": "timed_out", "settle_ms": 0.0, "plugged_before": before}
        sleep(min(poll, max(float(settings["max_wait_s"]) - waited, 0.0)))
        sample = read()
    waited = clock() - started
    settle_s = float(settings.get("settle_s", DEFAULT_SETTLE_S))
    sleep(settle_s)
    return {"waited_ms": waited * 1000, "outcome": "unplugged", "settle_ms": settle_s * 1000, "plugged_before": before}
