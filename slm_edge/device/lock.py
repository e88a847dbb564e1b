"""One profile at a time per device: two runs interleaved on one phone would measure each other."""

from __future__ import annotations

from contextlib import contextmanager

from filelock import FileLock, Timeout

from slm_edge import cache
from slm_edge.device.safe_paths import safe_name
from slm_edge.errors import BadInput


class DeviceBusy(BadInput):
    """Another slm-edge command holds the device: nothing is wrong with it, the user waits or queues."""


@contextmanager
def device_lock(serial: str, wait_s: float):
    """Hold the device's lock for the block; wait up to wait_s for another command to release it."""
    path = cache.root_for("locks") / f"{safe_name(serial)}.lock"
    lock = FileLock(str(path))
    try:
        lock.acquire(timeout=wait_s)
    except Timeout:
        raise DeviceBusy(f"another slm-edge command is profiling on {serial} (lock {path})",
                         "wait for it to finish, or pass {lock_wait_s} SECONDS to queue behind it") from None
    try:
        yield
    finally:
        lock.release()
